"""Send mode (Request.send -> Response) against real svc-test-backend
processes on loopback: the response object, round-robin and keepalive,
headers and bodies, chunked responses, passive health, retries and their
exact messages, limits, header injection, TLS and mTLS, the balancer
callback, cancellation and threads."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import pytest

import svc

from conftest import Backend, BackendFactory, dead_port, tls_args


def raises(error: type[BaseException], message: str):  # noqa: ANN201
    return pytest.raises(error, match="^" + re.escape(message) + "$")


def info(res: svc.Response) -> dict[str, Any]:
    """The backend's JSON info (its default body)."""
    return json.loads(res.body)


def to(engine: svc.Engine, backend: Backend, host: str = "127.0.0.1", scheme: Optional[str] = None) -> svc.Request:
    r = engine.request()
    r.set_target(host, backend.port)
    if scheme is not None:
        r.set_scheme(scheme)
    return r


def send_to(engine: svc.Engine, backend: Backend, *args: Any, **kwargs: Any) -> svc.Response:
    with to(engine, backend) as r:
        return r.send(*args, **kwargs)


def store_of(pki: Path, name: str = "ca.pem") -> svc.TrustStore:
    s = svc.TrustStore()
    s.load_file(pki / name)
    return s


def alphabet(n: int) -> bytes:
    """The body of /bytes/N: abc...zabc..."""
    return (b"abcdefghijklmnopqrstuvwxyz" * (n // 26 + 1))[:n]


@pytest.fixture
def tls_engine() -> Iterator[svc.Engine]:
    """An engine that trusts nothing by default."""
    e = svc.Engine({"tls": {"trust": "none"}})
    yield e
    e.close()


@pytest.fixture
def three(engine: svc.Engine, backends: BackendFactory) -> list[Backend]:
    """Upstream "rr" over three plain backends b0, b1, b2 (equal weights)."""
    bs = [backends(name=f"b{i}") for i in range(3)]
    engine.upsert_upstream({"name": "rr"})
    for b in bs:
        engine.add_target("rr", b.address)
    return bs


# ----- the response ---------------------------------------------------------


def test_response_fields_and_headers(engine: svc.Engine, plain_backend: Backend) -> None:
    r = to(engine, plain_backend)
    res = r.send("GET", "/x?y=1")
    assert isinstance(res, svc.Response)
    assert r.phase is svc.Phase.LOG
    assert r.tries == 1
    assert res.status == 200
    assert res.peer == svc.Peer("127.0.0.1", plain_backend.port, "127.0.0.1")
    assert isinstance(res.peer, svc.Peer)
    assert isinstance(res.body, bytes)
    # headers: (name, value) tuples in the order received, with case-insensitive look-ups
    assert isinstance(res.headers, svc.Headers) and isinstance(res.headers, list)
    assert all(isinstance(h, tuple) and len(h) == 2 for h in res.headers)
    names = [n for n, _ in res.headers]
    assert names[:8] == [
        "Server",
        "X-Backend",
        "X-Connection",
        "X-Request",
        "X-SNI",
        "X-Client-Subject",
        "X-TLS-Resumed",
        "X-TLS-Version",
    ]
    assert ("X-Backend", "plain") in res.headers
    assert res.headers.get("x-backend") == res.headers.get("X-BACKEND") == "plain"
    assert res.headers.get("content-type") == "application/json"
    assert res.headers.get("content-length") == str(len(res.body))
    assert res.headers.get("x-missing") is None
    assert res.headers.get("x-missing", "d") == "d"
    assert res.headers.get_all("x-request") == ["1"]
    assert res.headers.get_all("x-missing") == []
    # the Response is a NamedTuple: immutable, unpackable, with a repr
    status, headers, body, peer = res
    assert (status, headers, body, peer) == (res.status, res.headers, res.body, res.peer)
    assert svc.Response._fields == ("status", "headers", "body", "peer")
    with pytest.raises(AttributeError):
        res.status = 500  # type: ignore[misc]
    assert repr(res).startswith("Response(status=200, headers=Headers([('Server', 'svc-test-backend'), ")
    i = info(res)
    assert (i["method"], i["target"], i["http_version"], i["body_size"]) == ("GET", "/x?y=1", "1.1", 0)
    r.close()


def test_host_header_is_the_peer_with_its_port(engine: svc.Engine, plain_backend: Backend) -> None:
    res = send_to(engine, plain_backend, "GET", "/")
    assert info(res)["headers"] == {"host": f"127.0.0.1:{plain_backend.port}"}
    res = send_to(engine, plain_backend, "GET", "/", {"Host": "api.example"})  # given: kept as is
    assert info(res)["headers"] == {"host": "api.example"}


def test_custom_headers(engine: svc.Engine, plain_backend: Backend) -> None:
    class Headers(dict):  # type: ignore[type-arg]  # a Mapping that is not exactly a dict
        pass

    from collections import OrderedDict
    from types import MappingProxyType

    for given in (
        {"X-One": "1", "x-two": "two words", "User-Agent": "svc-test"},
        [("X-One", "1"), ("x-two", "two words"), ("User-Agent", "svc-test")],
        (["X-One", "1"], ["x-two", "two words"], ["User-Agent", "svc-test"]),
        iter([("X-One", "1"), ("x-two", "two words"), ("User-Agent", "svc-test")]),
        MappingProxyType({"X-One": "1", "x-two": "two words", "User-Agent": "svc-test"}),
        OrderedDict([("X-One", "1"), ("x-two", "two words"), ("User-Agent", "svc-test")]),
        Headers({"X-One": "1", "x-two": "two words", "User-Agent": "svc-test"}),
    ):
        got = info(send_to(engine, plain_backend, "GET", "/", given))["headers"]
        assert got == {
            "host": f"127.0.0.1:{plain_backend.port}",
            "x-one": "1",
            "x-two": "two words",
            "user-agent": "svc-test",
        }, given
    # repeated names are all sent (the backend joins them), empty values and UTF-8 pass
    got = info(send_to(engine, plain_backend, "GET", "/", [("X-R", "a"), ("X-R", "b"), ("X-E", ""), ("X-U", "é")]))
    assert (got["headers"]["x-r"], got["headers"]["x-e"]) == ("a, b", "")
    assert got["headers"]["x-u"] == "é"
    # None and empty are no headers
    for none in (None, {}, []):
        assert info(send_to(engine, plain_backend, "GET", "/", none))["headers"] == {
            "host": f"127.0.0.1:{plain_backend.port}"
        }


def test_post_echo_bodies(engine: svc.Engine, plain_backend: Backend) -> None:
    payload = bytes(range(256)) * 100
    for body, expected in (
        (payload, payload),
        (bytearray(payload), payload),
        (memoryview(payload)[10:5000], payload[10:5000]),
        ("héllo wörld", "héllo wörld".encode()),
        (b"", b""),
    ):
        res = send_to(engine, plain_backend, "POST", "/echo", {"Content-Type": "application/x-test"}, body)
        assert res.status == 200
        assert res.body == expected
        assert res.headers.get("content-type") == "application/x-test"
        assert res.headers.get("content-length") == str(len(expected))
    # keyword arguments, PUT, and the JSON info's body size
    res = send_to(engine, plain_backend, method="PUT", path="/", body=b"12345")
    assert (info(res)["method"], info(res)["body_size"]) == ("PUT", 5)


def test_chunked_response_is_decoded(engine: svc.Engine, plain_backend: Backend) -> None:
    for n in (0, 1, 100, 100_000):
        res = send_to(engine, plain_backend, "GET", f"/bytes/{n}/chunked")
        assert res.status == 200
        assert res.headers.get("transfer-encoding") == "chunked"
        assert res.headers.get("content-length") is None
        assert res.body == alphabet(n)


def test_head_204_and_error_statuses(engine: svc.Engine, plain_backend: Backend) -> None:
    res = send_to(engine, plain_backend, "HEAD", "/bytes/10")
    assert (res.status, res.headers.get("content-length"), res.body) == (200, "10", b"")
    res = send_to(engine, plain_backend, "GET", "/status/204")
    assert (res.status, res.body) == (204, b"")
    for status in (404, 500, 503):  # a response is a response: no exception, no retry
        r = to(engine, plain_backend)
        r.set_retries(3)
        res = r.send("GET", f"/status/{status}")
        assert (res.status, r.tries) == (status, 1)


def test_large_body(engine: svc.Engine, plain_backend: Backend) -> None:
    res = send_to(engine, plain_backend, "GET", "/bytes/5000000")
    assert res.body == alphabet(5_000_000)
    big = b"x" * 3_000_000
    assert send_to(engine, plain_backend, "POST", "/echo", body=big).body == big


# ----- balancing and keepalive ---------------------------------------------------


def test_round_robin_and_keepalive_over_three_backends(engine: svc.Engine, three: list[Backend]) -> None:
    by_name = {b.name: b for b in three}
    counts: Counter[str] = Counter()
    for i in range(30):
        with engine.request() as r:
            r.set_upstream("rr")
            res = r.send("GET", "/")
        name = res.headers.get("x-backend")
        assert name is not None
        b = by_name[name]
        counts[name] += 1
        assert res.peer == svc.Peer("127.0.0.1", b.port, "127.0.0.1")
        # keepalive: one connection per backend, its requests counted on it
        assert res.headers.get("x-connection") == "1"
        assert res.headers.get("x-request") == str(counts[name])
        assert info(res)["headers"]["host"] == f"127.0.0.1:{b.port}"
    assert counts == {"b0": 10, "b1": 10, "b2": 10}


def test_passive_http_failures_turn_a_backend_unhealthy(engine: svc.Engine, backends: BackendFactory) -> None:
    bad = backends("--status", "503", name="bad")
    good = backends(name="good")
    engine.upsert_upstream(
        {"name": "hc", "healthchecks": {"passive": {"unhealthy": {"http_failures": 2}}}}
    )
    engine.add_target("hc", bad.address)
    engine.add_target("hc", good.address)

    def health() -> dict[str, str]:
        return {e["target"]: e["health"] for e in engine.health("hc")["data"]}

    statuses: Counter[int] = Counter()
    for _ in range(4):  # round-robin: bad, good, bad, good in some order
        with engine.request() as r:
            r.set_upstream("hc")
            res = r.send("GET", "/")
            statuses[res.status] += 1
            assert res.headers.get("x-backend") == ("bad" if res.status == 503 else "good")
    assert statuses == {503: 2, 200: 2}
    assert health() == {bad.address: "UNHEALTHY", good.address: "HEALTHY"}
    assert engine.health("hc")["weight"] == {"total": 200, "available": 100, "unavailable": 100}
    # from now on only the healthy backend is picked
    for _ in range(6):
        with engine.request() as r:
            r.set_upstream("hc")
            assert r.send("GET", "/").headers.get("x-backend") == "good"


def test_retries_on_a_dead_port(engine: svc.Engine, plain_backend: Backend) -> None:
    port = dead_port()
    r = engine.request()
    r.set_target("127.0.0.1", port)
    r.set_retries(2)
    one = f"(127.0.0.1:{port}): connect to 127.0.0.1:{port} failed: Connection refused"
    with raises(svc.ConnectError, f"3 tries failed: try 1 {one}; try 2 {one}; try 3 {one}") as e:
        r.send("GET", "/")
    assert e.value.code is svc.Code.ECONNECT
    assert (r.tries, r.phase) == (3, svc.Phase.LOG)
    # in an upstream, the dead port is skipped on the next try
    engine.upsert_upstream({"name": "u"})
    engine.add_target("u", f"127.0.0.1:{port}")
    engine.add_target("u", plain_backend.address)
    tries = []
    for _ in range(6):
        with engine.request() as r:
            r.set_upstream("u")
            r.set_retries(1)
            res = r.send("POST", "/echo", body=b"once")  # connect failures are retried for any method
            assert (res.status, res.body, res.peer.port) == (200, b"once", plain_backend.port)
            tries.append(r.tries)
    assert set(tries) <= {1, 2}
    assert 2 in tries  # the dead port was picked and skipped


def test_reset_after_the_request_is_retried_only_when_idempotent(
    engine: svc.Engine, plain_backend: Backend
) -> None:
    p = plain_backend.port
    reset = f"(127.0.0.1:{p}): read from 127.0.0.1:{p} failed: Connection reset by peer"
    r = to(engine, plain_backend)
    r.set_retries(3)
    with raises(svc.ConnectError, f"1 try failed: try 1 {reset}"):
        r.send("POST", "/close")
    assert r.tries == 1
    r = to(engine, plain_backend)
    r.set_retries(1)
    with raises(svc.ConnectError, f"2 tries failed: try 1 {reset}; try 2 {reset}"):
        r.send("GET", "/close")
    assert r.tries == 2
    # once the response started, never retried
    r = to(engine, plain_backend)
    r.set_retries(3)
    msg = f"1 try failed: try 1 (127.0.0.1:{p}): the connection to 127.0.0.1:{p} closed in the middle of the response"
    with raises(svc.ConnectError, msg):
        r.send("GET", "/close-after-headers")
    assert r.tries == 1


def test_read_timeout_is_retried(engine: svc.Engine, plain_backend: Backend) -> None:
    p = plain_backend.port
    one = f"(127.0.0.1:{p}): read from 127.0.0.1:{p} timed out after 200 ms"
    for method in ("GET", "POST"):  # timeouts are retried for every method
        r = to(engine, plain_backend)
        r.set_retries(1)
        r.set_timeouts(1000, 1000, 200)
        started = time.monotonic()
        with raises(svc.Timeout, f"2 tries failed: try 1 {one}; try 2 {one}") as e:
            r.send(method, "/delay/1000")
        assert isinstance(e.value, TimeoutError)
        assert r.tries == 2
        assert time.monotonic() - started < 1.5


def test_body_limit(plain_backend: Backend) -> None:
    with svc.Engine({"limits": {"max_body_bytes": 4096}}) as e:
        p = plain_backend.port
        msg = f"1 try failed: try 1 (127.0.0.1:{p}): response body from 127.0.0.1:{p} exceeds 4096 bytes"
        for path in ("/bytes/4097", "/bytes/5000/chunked"):
            r = to(e, plain_backend)
            r.set_retries(2)  # a protocol error is never retried
            with raises(svc.ProtocolError, msg) as info_:
                r.send("GET", path)
            assert info_.value.code is svc.Code.EPROTO
            assert r.tries == 1
        assert send_to(e, plain_backend, "GET", "/bytes/4096").body == alphabet(4096)
        assert send_to(e, plain_backend, "GET", "/bytes/4096/chunked").body == alphabet(4096)


# ----- argument errors ---------------------------------------------------------


def test_header_injection_and_managed_headers(engine: svc.Engine, plain_backend: Backend) -> None:
    def send(headers: Any) -> None:
        with to(engine, plain_backend) as r:
            r.send("GET", "/", headers)

    with raises(svc.InvalidArgument, "header 'X-A: b\r\nX-Evil: 1' contains CR, LF or NUL") as e:
        send({"X-A": "b\r\nX-Evil: 1"})
    assert isinstance(e.value, ValueError)
    with raises(svc.InvalidArgument, "a TRACE request cannot have a body"), to(engine, plain_backend) as r:
        r.send("TRACE", "/", None, b"x")
    with raises(svc.InvalidArgument, "header 'X-A: b\nc' contains CR, LF or NUL"):
        send({"X-A": "b\nc"})
    with raises(svc.InvalidArgument, "header 'X-A: b\x00c' contains CR, LF or NUL"):
        send({"X-A": "b\x00c"})  # refused by the binding, with C's message
    with raises(svc.InvalidArgument, "header 'X\x00A: b' contains CR, LF or NUL"):
        send([("X\x00A", "b")])
    with raises(svc.InvalidArgument, "header name 'X A' is not an HTTP token"):
        send({"X A": "b"})
    with raises(svc.InvalidArgument, "header 'X-A\r\nX-Evil: 1' contains CR, LF or NUL"):
        send({"X-A\r\nX-Evil": "1"})
    with raises(svc.InvalidArgument, "header ': b' is not 'Name: value'"):
        send({"": "b"})
    for name in ("Connection", "connection", "Content-Length", "TRANSFER-ENCODING"):
        with raises(svc.InvalidArgument, f"header '{name}' is managed by svc and cannot be set"):
            send({name: "close"})
    with raises(svc.InvalidArgument, "header value must be text that can be encoded as UTF-8"):
        send({"X-A": "\udc80"})
    # nothing was sent
    assert info(send_to(engine, plain_backend, "GET", "/_admin/info"))["admin"]["requests"] == 1


def test_argument_errors(engine: svc.Engine, plain_backend: Backend) -> None:
    def send(*args: Any, **kwargs: Any) -> None:
        with to(engine, plain_backend) as r:
            r.send(*args, **kwargs)

    with raises(TypeError, "method must be str, not NoneType"):
        send(None, "/")
    with raises(TypeError, "path must be str, not bytes"):
        send("GET", b"/")
    with raises(TypeError, "headers must be a mapping or an iterable of (name, value) pairs, not int"):
        send("GET", "/", 42)
    with raises(TypeError, "headers must be a mapping or an iterable of (name, value) pairs, not str"):
        send("GET", "/", "X-A: b")
    with raises(TypeError, "headers must be a mapping or an iterable of (name, value) pairs: an item is str"):
        send("GET", "/", ["X-A: b"])
    with raises(
        TypeError, "headers must be a mapping or an iterable of (name, value) pairs: an item is a tuple of length 3"
    ):
        send("GET", "/", [("X-A", "b", "c")])
    with raises(TypeError, "header name must be str, not bytes"):
        send("GET", "/", {b"X-A": "b"})
    with raises(TypeError, "header value must be str, not int"):
        send("GET", "/", {"X-A": 1})
    with raises(TypeError, "body must be bytes, bytearray, memoryview or str, not int"):
        send("GET", "/", None, 1)
    with raises(TypeError, "body must be bytes, bytearray, memoryview or str, not NoneType"):
        send("GET", "/", body=None)
    with raises(svc.InvalidArgument, "method must not contain NUL characters"):
        send("GE\x00T", "/")
    with raises(svc.InvalidArgument, "body must be text that can be encoded as UTF-8"):
        send("POST", "/", body="\udc80")
    # the C library's own checks
    with raises(svc.InvalidArgument, "method must be an HTTP token: given 'G T'"):
        send("G T", "/")
    with raises(svc.InvalidArgument, "method must be an HTTP token: given ''"):
        send("", "/")
    with raises(svc.InvalidArgument, "path must start with '/' and hold no spaces or line breaks: given 'x'"):
        send("GET", "x")
    with raises(svc.InvalidArgument, "path must start with '/' and hold no spaces or line breaks: given '/a b'"):
        send("GET", "/a b")
    with engine.request() as r:
        with raises(svc.InvalidArgument, "no upstream or target set: call svc_set_upstream or svc_set_target first"):
            r.send("GET", "/")
    assert info(send_to(engine, plain_backend, "GET", "/_admin/info"))["admin"]["requests"] == 1


def test_state_errors(plain_backend: Backend) -> None:
    e = svc.Engine()
    r = to(e, plain_backend)
    assert r.send("GET", "/").status == 200
    with raises(svc.PhaseError, "function cannot be called in log phase (only in: rewrite, access, balancer)"):
        r.send("GET", "/")  # one send (or connect) per request
    r.close()
    with raises(svc.ClosedError, "the request is closed"):
        r.send("GET", "/")
    r = to(e, plain_backend)
    e.close()
    with raises(svc.ClosedError, "the engine is closed"):
        r.send("GET", "/")


# ----- TLS ---------------------------------------------------------------------------


def test_https_with_a_ca_store_and_keepalive(tls_engine: svc.Engine, tls_backend: Backend, pki: Path) -> None:
    store = store_of(pki)
    for n in (1, 2):
        r = to(tls_engine, tls_backend, host="localhost", scheme="https")
        r.set_tls_verify_store(store)
        res = r.send("GET", "/")
        assert res.status == 200
        assert res.peer == svc.Peer("127.0.0.1", tls_backend.port, "localhost")
        assert res.headers.get("x-sni") == "localhost"
        assert res.headers.get("x-tls-version") == "TLSv1.3"
        assert (res.headers.get("x-connection"), res.headers.get("x-request")) == ("1", str(n))
        assert info(res)["headers"]["host"] == f"localhost:{tls_backend.port}"
        r.close()
    # the wrong CA: a TLS error, not retried into success
    r = to(tls_engine, tls_backend, scheme="https")
    r.set_tls_verify_store(store_of(pki, "other-ca.pem"))
    r.set_retries(0)
    p = tls_backend.port
    msg = (
        f"1 try failed: try 1 (127.0.0.1:{p}): TLS handshake with 127.0.0.1:{p} failed: "
        "certificate verify failed: unable to get local issuer certificate"
    )
    with raises(svc.TLSError, msg):
        r.send("GET", "/")


def test_mtls_via_send(tls_engine: svc.Engine, mtls_backend: Backend, pki: Path) -> None:
    chain = svc.CertChain.from_pem((pki / "client-chain.pem").read_bytes())
    key = svc.PrivateKey.from_pem((pki / "client.key").read_bytes())
    r = to(tls_engine, mtls_backend, host="localhost", scheme="https")
    r.set_tls_verify_store(store_of(pki))
    r.set_tls_cert_key(chain, key)
    res = r.send("POST", "/echo", {"Content-Type": "text/plain"}, "over mTLS")
    assert (res.status, res.body) == (200, b"over mTLS")
    assert res.headers.get("x-client-subject") == "/O=svc test/CN=svc test client"
    # without a client certificate the server refuses (TLS 1.3: on the first read)
    r = to(tls_engine, mtls_backend, scheme="https")
    r.set_tls_verify_store(store_of(pki))
    r.set_retries(0)
    with pytest.raises(svc.TLSError, match="certificate required"):
        r.send("GET", "/")


# ----- the balancer callback -----------------------------------------------------------


def test_balancer_callback_sees_each_try(engine: svc.Engine, plain_backend: Backend) -> None:
    dead = dead_port()
    engine.upsert_upstream({"name": "u"})
    engine.add_target("u", f"127.0.0.1:{dead}")
    engine.add_target("u", plain_backend.address)
    all_tries = []
    for _ in range(4):
        seen: list[tuple[bool, int, Optional[svc.Peer], svc.Phase]] = []
        r = engine.request()
        r.set_upstream("u")
        r.set_retries(3)

        def cb(req: svc.Request) -> None:
            seen.append((req is r, req.tries, req.peer, req.phase))  # noqa: B023

        r.on_balancer(cb)
        res = r.send("GET", "/")
        assert res.peer.port == plain_backend.port
        assert all(same for same, *_ in seen)
        assert [t for _, t, _, _ in seen] == list(range(1, r.tries + 1))
        assert seen[-1][2] == svc.Peer("127.0.0.1", plain_backend.port, "127.0.0.1")
        assert {ph for *_, ph in seen} == {svc.Phase.BALANCER}
        all_tries.append(r.tries)
        r.close()
    assert 2 in all_tries  # the dead port was picked, then skipped


def test_balancer_callback_changes_tls_policy_per_try(
    tls_engine: svc.Engine, backends: BackendFactory, pki: Path
) -> None:
    b1 = backends(*tls_args(pki), name="t1")
    b2 = backends(*tls_args(pki), name="t2")
    tls_engine.upsert_upstream({"name": "u"})
    tls_engine.add_target("u", b1.address)
    tls_engine.add_target("u", b2.address)
    good = store_of(pki)
    r = tls_engine.request()
    r.set_upstream("u")
    r.set_scheme("https")
    r.set_retries(1)
    peers = []

    def cb(req: svc.Request) -> None:
        assert req.peer is not None
        peers.append(req.peer.port)
        if req.tries == 2:
            req.set_tls_verify_store(good)  # the first try verifies against nothing and fails

    r.on_balancer(cb)
    res = r.send("GET", "/")
    assert r.tries == 2
    assert res.peer.port == peers[1]
    assert res.headers.get("x-backend") == {b1.port: "t1", b2.port: "t2"}[peers[1]]
    assert sorted(peers) == sorted([b1.port, b2.port])


def test_balancer_callback_exceptions_abort_the_send(engine: svc.Engine, plain_backend: Backend) -> None:
    def send_with(cb: Callable[[svc.Request], object]) -> BaseException:
        r = to(engine, plain_backend)
        r.on_balancer(cb)
        with pytest.raises(BaseException) as e:
            r.send("GET", "/")
        assert (r.phase, r.tries) == (svc.Phase.LOG, 1)
        r.close()
        return e.value

    original = svc.TLSError("no certificate for this peer")

    def raise_tls(req: svc.Request) -> None:
        raise original

    e = send_with(raise_tls)
    assert type(e) is svc.TLSError
    assert str(e) == "balancer callback failed on try 1: no certificate for this peer"
    assert e.__cause__ is original

    def raise_value(req: svc.Request) -> None:
        raise ValueError("boom")

    e = send_with(raise_value)
    assert type(e) is svc.InternalError
    assert str(e) == "balancer callback failed on try 1: ValueError('boom')"
    assert isinstance(e.__cause__, ValueError) and str(e.__cause__) == "boom"

    for name, call in (
        ("send", lambda req: req.send("GET", "/")),
        ("connect", lambda req: req.connect()),
        ("pick", lambda req: req.pick()),
        ("close", lambda req: req.close()),
    ):
        e = send_with(call)
        assert type(e) is svc.InternalError
        assert isinstance(e.__cause__, RuntimeError)
        assert str(e.__cause__) == f"Request.{name}() must not be called from the request's own balancer callback"

    def interrupt(req: svc.Request) -> None:
        raise KeyboardInterrupt

    assert type(send_with(interrupt)) is KeyboardInterrupt
    # the backend never saw a request
    assert info(send_to(engine, plain_backend, "GET", "/_admin/info"))["admin"]["requests"] == 1


# ----- the GIL, cancellation, threads ----------------------------------------------------


def test_send_releases_the_gil(engine: svc.Engine, plain_backend: Backend) -> None:
    results: list[int] = []

    def one() -> None:
        results.append(send_to(engine, plain_backend, "GET", "/delay/400").status)

    threads = [threading.Thread(target=one) for _ in range(3)]
    started = time.monotonic()
    for t in threads:
        t.start()
    ticks = 0
    while any(t.is_alive() for t in threads):
        ticks += 1
        time.sleep(0.001)
    elapsed = time.monotonic() - started
    assert results == [200, 200, 200]
    assert elapsed < 1.0  # the three exchanges overlapped
    assert ticks > 50  # and this thread ran meanwhile


def test_cancel_before_send(engine: svc.Engine, plain_backend: Backend) -> None:
    r = to(engine, plain_backend)
    r.cancel()
    with raises(svc.Cancelled, "connect cancelled"):
        r.send("GET", "/")


def test_cancel_from_another_thread_during_send(engine: svc.Engine, plain_backend: Backend) -> None:
    r = to(engine, plain_backend)
    threading.Timer(0.2, r.cancel).start()
    started = time.monotonic()
    with pytest.raises(svc.Cancelled, match=rf"^send to 127\.0\.0\.1:{plain_backend.port} cancelled$"):
        r.send("GET", "/delay/1500")
    assert time.monotonic() - started < 1.0


THREADS = 8
SENDS = 1000


def test_8_threads_x_1000_sends_exact_round_robin(engine: svc.Engine, three: list[Backend]) -> None:
    counts = [Counter[str]() for _ in range(THREADS)]
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def work(i: int) -> None:
        try:
            start.wait()
            for _ in range(SENDS):
                with engine.request() as r:
                    r.set_upstream("rr")
                    r.set_retries(0)
                    res = r.send("GET", "/")
                    assert res.status == 200
                    name = res.headers.get("x-backend")
                    assert name is not None
                    assert res.peer.port == three[int(name[1:])].port
                    counts[i][name] += 1
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
        assert not t.is_alive()
    assert errors == []
    total = sum(counts, Counter())
    n = THREADS * SENDS
    assert sum(total.values()) == n
    assert set(total) == {"b0", "b1", "b2"}
    assert max(total.values()) - min(total.values()) <= 1  # 2667/2667/2666
    assert all(sum(c.values()) == SENDS for c in counts)
    # each backend saw exactly the requests counted for it, on few connections
    for b in three:
        admin = info(send_to(engine, b, "GET", "/_admin/info"))["admin"]
        assert admin["requests"] == total[b.name] + 1
        assert admin["connections"] < 100
