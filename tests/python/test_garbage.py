"""Garbage inputs of every type to every function: never a crash, always the
documented outcome (see the svc package docstring):

* a wrong Python type -> TypeError "<param> must be <type>, not <type>";
* a value the binding cannot hand to C (NUL in a NUL-terminated parameter,
  text that cannot be UTF-8 encoded, an int outside the C range)
  -> svc.InvalidArgument (a ValueError) naming the parameter;
* anything else reaches C and either works or raises an svc.Error.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any, Callable

import pytest

import svc

HUGE = "x" * 5_000_000
GARBAGE: dict[str, Any] = {
    "None": None,
    "int": 7,
    "float": 1.5,
    "nan": float("nan"),
    "bool": True,
    "bigint": 2**70,
    "negbigint": -(2**70),
    "nul": "a\x00b",
    "surrogate": "\udcff",
    "badutf8": b"\xff\xfe\x00",
    "huge": HUGE,
    "object": object(),
    "list": [1, 2],
    "dict": {},
    "bytearray": bytearray(b"abc"),
}

OK = "ok"  # returns, or raises an svc.Error from C

# kind -> garbage name -> expected (a type, or OK); missing names -> TypeError
RULES: dict[str, dict[str, Any]] = {
    "name": {"nul": svc.InvalidArgument, "surrogate": svc.InvalidArgument, "huge": OK},
    "name?": {"None": OK, "nul": svc.InvalidArgument, "surrogate": svc.InvalidArgument, "huge": OK},
    # str or bytes-like passed with a length: NUL is fine
    "content": {"nul": OK, "surrogate": svc.InvalidArgument, "badutf8": OK, "huge": OK, "bytearray": OK},
    # str or bytes-like passed NUL-terminated
    "cstring?": {"None": OK, "nul": svc.InvalidArgument, "surrogate": svc.InvalidArgument,
                 "badutf8": svc.InvalidArgument, "huge": OK, "bytearray": OK},  # fmt: skip
    "json": {"nul": svc.InvalidArgument, "surrogate": svc.InvalidArgument, "badutf8": svc.InvalidArgument,
             "huge": OK, "dict": OK, "bytearray": OK},  # fmt: skip
    "json?": {"None": OK, "nul": svc.InvalidArgument, "surrogate": svc.InvalidArgument,
              "badutf8": svc.InvalidArgument, "huge": OK, "dict": OK, "bytearray": OK},  # fmt: skip
    "config": {"nul": OK, "surrogate": svc.InvalidArgument, "badutf8": OK, "huge": OK, "dict": OK, "bytearray": OK},
    "path": {"nul": svc.InvalidArgument, "surrogate": OK, "badutf8": svc.InvalidArgument, "huge": OK},
    "int": {"int": OK, "bool": OK, "bigint": svc.InvalidArgument, "negbigint": svc.InvalidArgument},
    "bool": {"int": OK, "bool": OK, "bigint": OK, "negbigint": OK},
    "callable?": {"None": OK},
    "object": {},
}


def expected(kind: str, garbage: str) -> Any:
    return RULES[kind].get(garbage, TypeError)


def check(call: Callable[[], Any], want: Any, where: str) -> None:
    try:
        call()
    except svc.Error as e:
        if want is OK or (isinstance(want, type) and isinstance(e, want)):
            return
        raise AssertionError(f"{where}: expected {want}, got {type(e).__name__}: {e}") from e
    except TypeError as e:
        assert want is TypeError, f"{where}: expected {want}, got TypeError: {e}"
        assert " must be " in str(e) and ", not " in str(e), f"{where}: {e}"
        return
    except OSError as e:  # only load_config reads files
        assert "load_config" in where, f"{where}: {e!r}"
        return
    assert want is OK, f"{where}: expected {want}, nothing raised"


@pytest.fixture
def world(engine: svc.Engine, pki: Path) -> dict[str, Any]:
    engine.upsert_upstream({"name": "a", "healthchecks": {"passive": {"unhealthy": {"tcp_failures": 1}}}})
    engine.add_target("a", "10.0.0.1")
    return {
        "engine": engine,
        "chain": svc.CertChain.from_pem((pki / "client-chain.pem").read_bytes()),
        "key": svc.PrivateKey.from_pem((pki / "client.key").read_bytes()),
        "store": svc.TrustStore(),
    }


def _picked(w: dict[str, Any]) -> svc.Request:
    r = w["engine"].request()
    r.set_upstream("a")
    r.pick()
    return r


# name -> (params as (kind, valid value), how to call with a list of arguments)
FUNCTIONS: dict[str, tuple[list[tuple[str, Any]], Callable[[dict[str, Any], list[Any]], Any]]] = {
    "Engine": ([("json?", {})], lambda w, a: svc.Engine(*a).close()),
    "Engine.load_config": ([("config", {"_format_version": "3.0", "upstreams": [{"name": "a"}]})],
                           lambda w, a: w["engine"].load_config(*a)),
    "Engine.upsert_upstream": ([("json", {"name": "a"})], lambda w, a: w["engine"].upsert_upstream(*a)),
    "Engine.delete_upstream": ([("name", "zz")], lambda w, a: w["engine"].delete_upstream(*a)),
    "Engine.upstream": ([("name", "a")], lambda w, a: w["engine"].upstream(*a)),
    "Engine.add_target": ([("name", "a"), ("name", "10.0.0.5"), ("int", 100)],
                          lambda w, a: w["engine"].add_target(*a)),
    "Engine.delete_target": ([("name", "a"), ("name", "10.0.0.9")], lambda w, a: w["engine"].delete_target(*a)),
    "Engine.set_target_health": ([("name", "a"), ("name", "10.0.0.1"), ("bool", True), ("name?", None)],
                                 lambda w, a: w["engine"].set_target_health(*a)),
    "Engine.health": ([("name", "a")], lambda w, a: w["engine"].health(*a)),
    "Engine.on_health": ([("callable?", print)], lambda w, a: w["engine"].on_health(*a)),
    "Engine.on_log": ([("callable?", print)], lambda w, a: w["engine"].on_log(*a)),
    "Request.set_upstream": ([("name", "a")], lambda w, a: w["engine"].request().set_upstream(*a)),
    "Request.set_target": ([("name", "10.0.0.1"), ("int", 80)], lambda w, a: w["engine"].request().set_target(*a)),
    "Request.set_tls_cert_key": ([("object", "chain"), ("object", "key")],
                                 lambda w, a: w["engine"].request().set_tls_cert_key(
                                     *[w[x] if x in ("chain", "key") else x for x in a])),
    "Request.set_tls_verify": ([("bool", True)], lambda w, a: w["engine"].request().set_tls_verify(*a)),
    "Request.set_tls_verify_depth": ([("int", 1)], lambda w, a: w["engine"].request().set_tls_verify_depth(*a)),
    "Request.set_tls_verify_store": ([("object", "store")],
                                     lambda w, a: w["engine"].request().set_tls_verify_store(
                                         *[w[x] if x == "store" else x for x in a])),
    "Request.set_retries": ([("int", 1)], lambda w, a: w["engine"].request().set_retries(*a)),
    "Request.set_timeouts": ([("int", 1), ("int", 2), ("int", 3)],
                             lambda w, a: w["engine"].request().set_timeouts(*a)),
    "Request.set_hash_key": ([("content", "k")], lambda w, a: w["engine"].request().set_hash_key(*a)),
    "Request.set_scheme": ([("name", "https")], lambda w, a: w["engine"].request().set_scheme(*a)),
    "Request.set_hash_input": ([("int", svc.HashOn.HEADER), ("cstring?", "v"), ("name?", "x-user")],
                               lambda w, a: w["engine"].request().set_hash_input(*a)),
    "Request.set_phase": ([("int", svc.Phase.REWRITE)], lambda w, a: w["engine"].request().set_phase(*a)),
    "Request.report": ([("int", svc.Outcome.HTTP), ("int", 200), ("int", 5)], lambda w, a: _picked(w).report(*a)),
    "CertChain.from_pem": ([("content", "x")], lambda w, a: svc.CertChain.from_pem(*a)),
    "PrivateKey.from_pem": ([("content", "x"), ("cstring?", None)], lambda w, a: svc.PrivateKey.from_pem(*a)),
    "TrustStore.add_pem": ([("content", "x")], lambda w, a: w["store"].add_pem(*a)),
    "TrustStore.load_file": ([("path", "/nonexistent")], lambda w, a: w["store"].load_file(*a)),
    "code_name": ([("int", 1)], lambda w, a: svc.code_name(*a)),
}  # fmt: skip


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_garbage_every_parameter(world: dict[str, Any], function: str) -> None:
    params, call = FUNCTIONS[function]
    valid = [v for _, v in params]
    check(lambda: call(world, valid), OK, f"{function} valid")  # works, or raises an svc.Error
    for i, (kind, _) in enumerate(params):
        for gname, garbage in GARBAGE.items():
            args = list(valid)
            args[i] = garbage
            check(lambda: call(world, args), expected(kind, gname), f"{function} arg {i} = {gname}")
    gc.collect()
    assert world["engine"].health("a")["name"] == "a"  # the engine is intact


def test_binding_messages(engine_a: svc.Engine) -> None:
    r = engine_a.request()
    with pytest.raises(TypeError, match="^host must be str, not NoneType$"):
        r.set_upstream(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="^host must be str, not bytes$"):
        r.set_upstream(b"a")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="^port must be int, not float$"):
        r.set_target("10.0.0.1", 80.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="^port must be int, not str$"):
        r.set_target("10.0.0.1", "80")  # type: ignore[arg-type]
    with pytest.raises(svc.InvalidArgument) as info:
        r.set_target("10.0.0.1", 2**40)
    assert str(info.value) == "port must be an integer between -2147483648 and 2147483647: given 1099511627776"
    assert isinstance(info.value, ValueError)
    with pytest.raises(svc.InvalidArgument, match="^host must not contain NUL characters$"):
        r.set_upstream("a\x00b")
    with pytest.raises(svc.InvalidArgument, match="^host must be text that can be encoded as UTF-8$"):
        r.set_upstream("\udcff")
    with pytest.raises(TypeError, match="^on must be bool, not str$"):
        r.set_tls_verify("yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="^key must be str or bytes, not int$"):
        r.set_hash_key(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="^entity must be a dict, str or bytes, not list$"):
        engine_a.upsert_upstream([{"name": "a"}])  # type: ignore[arg-type]
    r.set_upstream("a")
    r.pick()
    with pytest.raises(svc.InvalidArgument, match="^latency_us must be an integer between 0 and 4294967295: given -1$"):
        r.report(svc.Outcome.OK, 0, -1)
    with pytest.raises(TypeError, match="^outcome must be int, not str$"):
        r.report("OK")  # type: ignore[arg-type]
    r.report(svc.Outcome.OK, 0, 2**32 - 1)
    # unknown keyword arguments are pybind11's TypeError
    with pytest.raises(TypeError):
        r.set_retries(retry=1)  # type: ignore[call-arg]
    r.close()


def test_huge_names_reach_c(engine_a: svc.Engine) -> None:
    with engine_a.request() as r:
        with pytest.raises(svc.UpstreamNotFound) as info:
            r.set_upstream(HUGE)
        assert str(info.value) == f"could not find an Upstream named '{HUGE}'"
    # a 5 MB hostname target: the C library accepts it (Kong checks no length either)
    try:
        engine_a.add_target("a", HUGE)
    except svc.ConfigError:
        pass
