"""Engine: options, closing, declarative config, upstreams and targets, with
the C suite's exact messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import svc
from conftest import pick_once


# ----- options -----------------------------------------------------------


@pytest.mark.parametrize("options", [None, {}, "", " \n\t ", "{}", b"{}"])
def test_engine_defaults(options: object) -> None:
    with svc.Engine(options) as e:  # type: ignore[arg-type]
        assert not e.closed
        with e.request() as r:
            assert r.scheme == "http"
    assert e.closed


def test_engine_every_option() -> None:
    options = {
        "io_threads": 2, "scheme": "https", "retries": 3,
        "timeouts": {"connect": 1000, "write": 2000, "read": 3000},
        "tls": {"verify": False, "trust": "none", "min_version": "1.3"},
        "keepalive": {"pool_size": 10, "max_requests": 5, "idle_timeout": 1.5},
        "dns": {"servers": ["127.0.0.1:53"], "order": ["LAST", "SRV", "A", "AAAA", "CNAME"],
                "stale_ttl": 4, "not_found_ttl": 30, "error_ttl": 1},
        "limits": {"max_header_bytes": 65536, "max_body_bytes": 67108864},
        "read_spin_us": 0,
        "seed": 42,
    }  # fmt: skip
    with svc.Engine(options) as e:
        with e.request() as r:
            assert r.scheme == "https"
    with svc.Engine(json.dumps(options)) as e:
        pass


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("{", "options: not valid JSON: {"),
        ("[1]", "options: expected a JSON object, given [1]"),
        ({"bogus": 1}, "options: unknown key 'bogus'"),
        ({"timeouts": {"conect": 1}}, "options.timeouts: unknown key 'conect'"),
        ({"io_threads": 0}, "options.io_threads: expected an integer between 1 and 64, given 0"),
        ({"io_threads": "1"}, 'options.io_threads: expected an integer between 1 and 64, given "1"'),
        ({"retries": 32768}, "options.retries: expected an integer between 0 and 32767, given 32768"),
        ({"read_spin_us": -1}, "options.read_spin_us: expected an integer between 0 and 10000, given -1"),
        ({"scheme": "ftp"}, 'options.scheme: expected one of: http, https, tcp, tls, given "ftp"'),
        ({"tls": {"verify": "yes"}}, 'options.tls.verify: expected a boolean, given "yes"'),
        ({"tls": {"trust": "all"}}, 'options.tls.trust: expected one of: system, none, given "all"'),
        ({"seed": -1}, "options.seed: expected an integer between 0 and 9223372036854775807, given -1"),
    ],
)
def test_engine_bad_options(options: object, message: str) -> None:
    with pytest.raises(svc.InvalidArgument) as info:
        svc.Engine(options)  # type: ignore[arg-type]
    assert str(info.value) == message
    assert info.value.code is svc.Code.EINVAL


def test_engine_options_wrong_type() -> None:
    with pytest.raises(TypeError, match="options must be a dict, str or bytes, not int"):
        svc.Engine(7)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not JSON serializable"):
        svc.Engine({"seed": object()})  # type: ignore[dict-item]


def test_engine_defaults_reach_requests() -> None:
    with svc.Engine({"scheme": "https", "retries": 1}) as e:
        e.upsert_upstream({"name": "a"})
        e.add_target("a", "10.0.0.1")
        with e.request() as r:
            assert r.scheme == "https"
            r.set_upstream("a")
            r.pick()
            r.pick()
            assert r.tries == 2
            with pytest.raises(svc.NoPeerError, match=r"^no more tries: 2 tries made and retries is 1$"):
                r.pick()


def test_default_retries_is_five(engine_a: svc.Engine) -> None:
    with engine_a.request() as r:
        r.set_upstream("a")
        for _ in range(6):
            r.pick()
        assert r.tries == 6
        with pytest.raises(svc.NoPeerError) as info:
            r.pick()
        assert str(info.value) == "no more tries: 6 tries made and retries is 5"


# ----- closing -------------------------------------------------------------


def test_close_is_idempotent_and_later_calls_raise_closed() -> None:
    e = svc.Engine()
    e.upsert_upstream({"name": "a"})
    e.close()
    e.close()
    assert e.closed
    calls = [
        lambda: e.load_config({"_format_version": "3.0"}),
        lambda: e.upsert_upstream({"name": "a"}),
        lambda: e.delete_upstream("a"),
        lambda: e.upstream("a"),
        lambda: e.add_target("a", "10.0.0.1"),
        lambda: e.delete_target("a", "10.0.0.1"),
        lambda: e.set_target_health("a", "10.0.0.1", True),
        lambda: e.health("a"),
        lambda: e.on_health(print),
        lambda: e.on_health(None),
        lambda: e.on_log(print),
        lambda: e.request(),
    ]
    for call in calls:
        with pytest.raises(svc.ClosedError) as info:
            call()
        assert str(info.value) == "the engine is closed"
        assert info.value.code is svc.Code.ECLOSED


def test_context_manager_closes_on_error() -> None:
    with pytest.raises(RuntimeError):
        with svc.Engine() as e:
            raise RuntimeError("boom")
    assert e.closed


def test_requests_outlive_a_closed_engine() -> None:
    e = svc.Engine()
    e.upsert_upstream({"name": "a"})
    e.add_target("a", "10.0.0.1")
    r = e.request()
    r2 = e.request()
    r.set_upstream("a")
    r2.set_target("10.0.0.9", 80)
    e.close()
    assert r.phase is svc.Phase.ACCESS
    r.set_retries(2)
    for req in (r, r2):
        with pytest.raises(svc.ClosedError) as info:
            req.pick()
        assert str(info.value) == "the engine is closed"
    with pytest.raises(svc.ClosedError, match="^the engine is closed$"):
        r.set_upstream("a")
    r.set_tls_verify(False)  # setters that need no engine still work
    r.close()
    r2.close()


def test_request_keeps_the_engine_object_alive() -> None:
    import gc

    r = svc.Engine().request()  # the engine object is only referenced by the request
    gc.collect()
    r.set_target("10.0.0.7", 80)
    assert r.pick() == ("10.0.0.7", 80, "10.0.0.7")
    r.close()


# ----- declarative config --------------------------------------------------

DOC = {
    "_format_version": "3.0",
    "upstreams": [
        {"name": "a", "targets": [{"target": "10.0.0.1"}, {"target": "10.0.0.2:9000", "weight": 50}]},
        {"name": "b", "algorithm": "least-connections", "targets": [{"target": "127.0.0.1:8080"}]},
    ],
}

YAML = """_format_version: "3.0"
upstreams:
- name: c
  slots: 100
  targets:
  - target: 10.0.0.3:81
    weight: 10
"""


def _targets(engine: svc.Engine, name: str) -> dict[str, int]:
    return {t["target"]: t["weight"] for t in engine.upstream(name)["targets"]}


def test_load_config_dict(engine: svc.Engine) -> None:
    engine.load_config(DOC)
    a = engine.upstream("a")
    assert a["name"] == "a"
    assert a["algorithm"] == "round-robin"
    assert a["slots"] == 10000
    assert _targets(engine, "a") == {"10.0.0.1:8000": 100, "10.0.0.2:9000": 50}
    assert engine.upstream("b")["algorithm"] == "least-connections"
    assert pick_once(engine, "b") == "127.0.0.1:8080"


@pytest.mark.parametrize("kind", ["str-json", "bytes-json", "str-yaml", "bytes-yaml", "path-str", "pathlib"])
def test_load_config_sources(engine: svc.Engine, tmp_path: Path, kind: str) -> None:
    if kind == "str-json":
        source: object = json.dumps(DOC)
    elif kind == "bytes-json":
        source = json.dumps(DOC).encode()
    elif kind == "str-yaml":
        source = YAML
    elif kind == "bytes-yaml":
        source = YAML.encode()
    else:
        f = tmp_path / "kong.yaml"
        f.write_text(YAML)
        source = str(f) if kind == "path-str" else f
    engine.load_config(source)  # type: ignore[arg-type]
    if "yaml" in kind or "path" in kind:
        assert _targets(engine, "c") == {"10.0.0.3:81": 10}
        assert engine.upstream("c")["slots"] == 100
    else:
        assert set(_targets(engine, "a")) == {"10.0.0.1:8000", "10.0.0.2:9000"}


def test_load_config_replaces_everything(engine: svc.Engine) -> None:
    engine.load_config(DOC)
    engine.load_config(YAML)
    for name in ("a", "b"):
        with pytest.raises(svc.UpstreamNotFound, match=f"^could not find an Upstream named '{name}'$"):
            engine.upstream(name)
    assert set(_targets(engine, "c")) == {"10.0.0.3:81"}


def test_load_config_missing_path(engine: svc.Engine, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        engine.load_config(tmp_path / "missing.yaml")
    # a str that names no file is a document, here a YAML scalar
    with pytest.raises(svc.ConfigError) as info:
        engine.load_config(str(tmp_path / "missing.yaml"))
    assert str(info.value) == "declarative config must be a map of entity lists, got a scalar"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("", "declarative config is empty"),
        (b"", "declarative config is empty"),
        ("- 1\n- 2\n", "declarative config must be a map of entity lists, got a list"),
        ({"upstreams": []}, "_format_version: required field missing"),
        ({"_format_version": "9.9"}, "_format_version: expected one of: 1.1, 2.1, 3.0"),
        ({"_format_version": "3.0", "bogus": []}, "bogus: unknown field"),
        (
            {"_format_version": "3.0", "upstreams": [{"name": "ok"}, {"name": "a", "slots": 5}]},
            "upstreams[1] (name 'a'): slots: value should be between 10 and 65536",
        ),
        (
            {"_format_version": "3.0", "upstreams": [{"name": "a", "targets": [{"target": "10.0.0.1:99999"}]}]},
            "upstreams[0] (name 'a'): targets[0]: target: Invalid target ('10.0.0.1:99999'); "
            "not a valid hostname or ip address",
        ),
    ],
)
def test_load_config_invalid_changes_nothing(engine: svc.Engine, source: object, message: str) -> None:
    engine.load_config(DOC)
    with pytest.raises(svc.ConfigError) as info:
        engine.load_config(source)  # type: ignore[arg-type]
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)
    assert set(_targets(engine, "a")) == {"10.0.0.1:8000", "10.0.0.2:9000"}
    assert pick_once(engine, "b") == "127.0.0.1:8080"


def test_load_config_malformed_prefixes(engine: svc.Engine) -> None:
    with pytest.raises(svc.ConfigError, match=r"^invalid JSON at line 1, column "):
        engine.load_config('{"_format_version": ')
    with pytest.raises(svc.ConfigError, match=r"^invalid YAML at line 1, column "):
        engine.load_config("a: b: c\n")
    with pytest.raises(svc.ConfigError):
        engine.load_config(b"\xff\xfe\x00garbage")


def test_on_log_receives_configuration_loaded(engine: svc.Engine) -> None:
    from conftest import Recorder

    logs = Recorder()
    engine.on_log(logs)
    engine.load_config({"_format_version": "3.0", "upstreams": [{"name": "a"}]})
    assert logs.wait_until(lambda calls: (1, "configuration loaded: 1 upstream(s)") in calls)
    for level, message in logs.snapshot():
        assert type(level) is int and type(message) is str
    engine.on_log(None)


# ----- upstreams -----------------------------------------------------------


def test_upsert_defaults_and_replace_keeps_id_and_targets(engine: svc.Engine) -> None:
    engine.upsert_upstream({"name": "a"})
    a = engine.upstream("a")
    assert (a["algorithm"], a["hash_on"], a["hash_fallback"], a["slots"]) == ("round-robin", "none", "none", 10000)
    assert a["targets"] == []
    engine.add_target("a", "10.0.0.1")
    engine.upsert_upstream('{"name": "a", "algorithm": "least-connections"}')  # JSON text works too
    b = engine.upstream("a")
    assert b["id"] == a["id"]
    assert b["algorithm"] == "least-connections"
    assert _targets(engine, "a") == {"10.0.0.1:8000": 100}
    engine.upsert_upstream({"name": "h", "hash_on": "ip"})
    assert engine.upstream("h")["algorithm"] == "consistent-hashing"


@pytest.mark.parametrize(
    ("entity", "error", "message"),
    [
        ("{", svc.InvalidArgument, "upstream entity is not valid JSON: {"),
        ("", svc.InvalidArgument, "upstream entity is not valid JSON: "),
        ("[1]", svc.ConfigError, "expected a record"),
        ({}, svc.ConfigError, "name: required field missing"),
        ({"name": "a", "bogus": 1}, svc.ConfigError, "bogus: unknown field"),
        ({"name": "a", "slots": 5}, svc.ConfigError, "slots: value should be between 10 and 65536"),
        ({"name": "a:80"}, svc.ConfigError, "name: Invalid name ('a:80'); no port allowed"),
        ({"name": "10.0.0.1"}, svc.ConfigError, "name: Invalid name ('10.0.0.1'); no ip addresses allowed"),
        ({"name": 5}, svc.ConfigError, "name: expected a string"),
        (
            {"name": "a", "hash_on": "header"},
            svc.ConfigError,
            "failed conditional validation given value of field 'hash_on'; hash_on_header: required field missing",
        ),
        (
            {"name": "a", "healthchecks": {"threshold": 101}},
            svc.ConfigError,
            "healthchecks.threshold: value should be between 0 and 100",
        ),
    ],
)
def test_upsert_errors(engine: svc.Engine, entity: object, error: type[svc.Error], message: str) -> None:
    with pytest.raises(error) as info:
        engine.upsert_upstream(entity)  # type: ignore[arg-type]
    assert type(info.value) is error
    assert str(info.value) == message
    with pytest.raises(svc.UpstreamNotFound):
        engine.upstream("a")


def test_delete_upstream(engine: svc.Engine) -> None:
    engine.upsert_upstream({"name": "a"})
    engine.delete_upstream("a")
    with pytest.raises(svc.UpstreamNotFound, match="^could not find an Upstream named 'a'$"):
        engine.delete_upstream("a")
    engine.upsert_upstream({"name": "a"})
    assert engine.upstream("a")["targets"] == []


def test_unknown_upstream_every_function(engine: svc.Engine) -> None:
    message = "could not find an Upstream named 'nope'"
    calls = [
        lambda: engine.delete_upstream("nope"),
        lambda: engine.upstream("nope"),
        lambda: engine.add_target("nope", "10.0.0.1"),
        lambda: engine.delete_target("nope", "10.0.0.1"),
        lambda: engine.set_target_health("nope", "10.0.0.1", False),
        lambda: engine.health("nope"),
    ]
    for call in calls:
        with pytest.raises(svc.UpstreamNotFound) as info:
            call()
        assert str(info.value) == message


# ----- targets -------------------------------------------------------------


def test_targets(engine: svc.Engine) -> None:
    engine.upsert_upstream({"name": "a"})
    engine.add_target("a", "10.0.0.1")
    engine.add_target("a", "10.0.0.2:9000", 0)
    engine.add_target("a", "10.0.0.3:1", weight=65535)
    engine.add_target("a", "[::1]:8080", 1)
    engine.add_target("a", "localhost:8081", 1)
    assert _targets(engine, "a") == {
        "10.0.0.1:8000": 100,
        "10.0.0.2:9000": 0,
        "10.0.0.3:1": 65535,
        "[0000:0000:0000:0000:0000:0000:0000:0001]:8080": 1,
        "localhost:8081": 1,
    }
    with pytest.raises(svc.AlreadyExists, match=r"^target '10\.0\.0\.1:8000' already exists in upstream 'a'$"):
        engine.add_target("a", "10.0.0.1:8000", 5)
    with pytest.raises(svc.UpstreamNotFound, match=r"^could not find a Target '10\.0\.0\.9:8000' in Upstream 'a'$"):
        engine.delete_target("a", "10.0.0.9")
    for t in ("10.0.0.3:1", "[::1]:8080", "localhost:8081"):
        engine.delete_target("a", t)
    assert set(_targets(engine, "a")) == {"10.0.0.1:8000", "10.0.0.2:9000"}
    for _ in range(20):
        assert pick_once(engine, "a") == "10.0.0.1:8000"  # weight 0 is never picked


@pytest.mark.parametrize(
    ("target", "weight", "message"),
    [
        ("10.0.0.1:99999", 100, "target: Invalid target ('10.0.0.1:99999'); not a valid hostname or ip address"),
        ("", 100, "target: Invalid target (''); not a valid hostname or ip address"),
        ("10.0.0.1", -1, "weight: value should be between 0 and 65535"),
        ("10.0.0.1", 65536, "weight: value should be between 0 and 65535"),
    ],
)
def test_add_target_validation(engine: svc.Engine, target: str, weight: int, message: str) -> None:
    engine.upsert_upstream({"name": "a"})
    with pytest.raises(svc.ConfigError) as info:
        engine.add_target("a", target, weight)
    assert str(info.value) == message
    assert engine.upstream("a")["targets"] == []
