"""Connect mode (Request.connect -> Connection) against real svc-test-backend
processes on loopback: plain, TLS and mTLS, pooling, resumption, retries,
cancellation, timeouts, the balancer callback, threads, and closed
connections."""

from __future__ import annotations

import gc
import json
import re
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, NamedTuple, Optional

import pytest

import svc

from conftest import Backend, BackendFactory, dead_port, tls_args

CANCEL_BOUND = 3.0  # seconds a cancelled connect/recv may take to return


def raises(error: type[BaseException], message: str):  # noqa: ANN201
    return pytest.raises(error, match="^" + re.escape(message) + "$")


class Response(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes

    def info(self) -> dict[str, Any]:
        return json.loads(self.body)


def read_response(conn: svc.Connection) -> Response:
    """Reads one HTTP/1.1 response with a Content-Length body."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = conn.recv(65536)
        assert chunk, f"EOF before the end of the headers: {buf!r}"
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers["content-length"])
    while len(body) < length:
        chunk = conn.recv(length - len(body))
        assert chunk, "EOF inside the body"
        body += chunk
    assert len(body) == length
    return Response(status, headers, body)


def http_get(conn: svc.Connection, path: str = "/", host: str = "localhost", close: bool = False) -> Response:
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n"
    if close:
        request += "Connection: close\r\n"
    conn.send((request + "\r\n").encode())
    return read_response(conn)


def store_of(pki: Path, name: str = "ca.pem") -> svc.TrustStore:
    s = svc.TrustStore()
    s.load_file(pki / name)
    return s


def target_request(
    engine: svc.Engine, backend: Backend, host: str = "127.0.0.1", scheme: Optional[str] = None
) -> svc.Request:
    r = engine.request()
    r.set_target(host, backend.port)
    if scheme is not None:
        r.set_scheme(scheme)
    return r


@pytest.fixture
def tls_engine() -> Any:
    """An engine that trusts nothing by default: verification outcomes do
    not depend on the machine's trust store."""
    e = svc.Engine({"tls": {"trust": "none"}})
    yield e
    e.close()


# ----- plain TCP -----------------------------------------------------------


def test_plain_connect_and_http_get(engine: svc.Engine, plain_backend: Backend) -> None:
    r = target_request(engine, plain_backend)
    conn = r.connect()
    assert isinstance(conn, svc.Connection)
    assert r.phase is svc.Phase.LOG
    assert r.tries == 1
    assert r.peer == svc.Peer("127.0.0.1", plain_backend.port, "127.0.0.1")
    assert conn.peer == svc.Peer("127.0.0.1", plain_backend.port, "127.0.0.1")
    assert isinstance(conn.peer, svc.Peer)
    assert conn.reused is False
    assert conn.tls_resumed is False
    assert conn.tls_version == ""
    assert conn.closed is False
    res = http_get(conn, "/x?y=1")
    assert res.status == 200
    assert res.headers["x-backend"] == "plain"
    assert res.headers["x-connection"] == "1"
    assert res.headers["x-request"] == "1"
    assert res.headers["x-sni"] == ""
    assert res.headers["x-tls-version"] == ""
    info = res.info()
    assert (info["backend"], info["method"], info["target"], info["headers"]["host"]) == (
        "plain",
        "GET",
        "/x?y=1",
        "localhost",
    )
    # a second exchange on the same connection
    res = http_get(conn, "/status/503")
    assert (res.status, res.headers["x-request"]) == (503, "2")
    conn.release()
    assert conn.closed is True
    r.close()


def test_send_accepts_bytes_like_and_recv_reads_to_eof(engine: svc.Engine, plain_backend: Backend) -> None:
    conn = target_request(engine, plain_backend).connect()
    head = b"GET /bytes/100000 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    conn.send(bytearray(head[:10]))
    conn.send(memoryview(head)[10:20])
    conn.send(b"")  # nothing to write
    conn.send(head[20:])
    data = b""
    while True:
        chunk = conn.recv(7000)
        assert len(chunk) <= 7000
        if chunk == b"":
            break  # EOF: the backend closed after the answer
        data += chunk
    head_part, _, body = data.partition(b"\r\n\r\n")
    assert head_part.startswith(b"HTTP/1.1 200 OK\r\n")
    assert body == (b"abcdefghijklmnopqrstuvwxyz" * 4000)[:100000]
    assert conn.recv(10) == b""  # EOF again
    conn.close()


def test_argument_errors(engine: svc.Engine, plain_backend: Backend) -> None:
    conn = target_request(engine, plain_backend).connect()
    with raises(TypeError, "data must be bytes, bytearray or memoryview, not str"):
        conn.send("GET / HTTP/1.1\r\n\r\n")  # type: ignore[arg-type]
    with raises(TypeError, "data must be bytes, bytearray or memoryview, not NoneType"):
        conn.send(None)  # type: ignore[arg-type]
    with raises(TypeError, "n must be int, not float"):
        conn.recv(1.5)  # type: ignore[arg-type]
    with raises(svc.InvalidArgument, "n must be an integer between 1 and 9223372036854775807: given 0"):
        conn.recv(0)
    with raises(svc.InvalidArgument, "read_timeout must be an integer between 1 and 2147483646: given 0"):
        conn.set_timeouts(100, 0)
    with raises(svc.InvalidArgument, "write_timeout must be an integer between 1 and 2147483646: given -1"):
        conn.set_timeouts(-1, 0)
    with raises(TypeError, "reusable must be bool, not str"):
        conn.release("yes")  # type: ignore[arg-type]
    assert http_get(conn).status == 200  # still usable
    conn.release(reusable=True)


def test_connect_errors_before_any_try(engine: svc.Engine, plain_backend: Backend) -> None:
    r = engine.request()
    assert r.peer is None  # no pick yet
    with raises(svc.InvalidArgument, "no upstream or target set: call svc_set_upstream or svc_set_target first"):
        r.connect()
    engine.upsert_upstream({"name": "empty"})
    r.set_upstream("empty")
    with raises(svc.NoPeerError, "failure to get a peer from the ring-balancer"):
        r.connect()
    r2 = target_request(engine, plain_backend)
    r2.connect().release()
    with raises(svc.PhaseError, "function cannot be called in log phase (only in: rewrite, access, balancer)"):
        r2.connect()
    r2.close()
    with raises(svc.ClosedError, "the request is closed"):
        r2.connect()
    r2.cancel()  # a no-op once closed


def test_connect_after_engine_close(plain_backend: Backend) -> None:
    e = svc.Engine()
    r = target_request(e, plain_backend)
    conn = target_request(e, plain_backend).connect()
    e.close()
    with pytest.raises(svc.ClosedError):
        r.connect()
    # a connection outlives its engine
    assert http_get(conn).status == 200
    conn.release()
    r.close()


def test_ipv6_loopback(engine: svc.Engine, backends: BackendFactory) -> None:
    try:
        b = backends("--listen", "[::1]:0", name="v6")
    except RuntimeError as e:  # pragma: no cover - a machine without IPv6 loopback
        pytest.skip(f"no IPv6 loopback: {e}")
    r = engine.request()
    r.set_target("::1", b.port)
    with r.connect() as conn:
        assert conn.peer == svc.Peer("::1", b.port, "::1")
        assert http_get(conn, host="[::1]").headers["x-backend"] == "v6"


# ----- refused peers and retries --------------------------------------------


def test_dead_port_without_retries(engine: svc.Engine) -> None:
    port = dead_port()
    r = engine.request()
    r.set_target("127.0.0.1", port)
    r.set_retries(0)
    msg = f"1 try failed: try 1 (127.0.0.1:{port}): connect to 127.0.0.1:{port} failed: Connection refused"
    with raises(svc.ConnectError, msg) as info:
        r.connect()
    assert isinstance(info.value, ConnectionError)
    assert info.value.code is svc.Code.ECONNECT
    assert r.tries == 1
    assert r.phase is svc.Phase.LOG


def test_dead_port_with_retries_lists_every_try(engine: svc.Engine) -> None:
    port = dead_port()
    r = engine.request()
    r.set_target("127.0.0.1", port)
    r.set_retries(2)
    one = f"(127.0.0.1:{port}): connect to 127.0.0.1:{port} failed: Connection refused"
    with raises(svc.ConnectError, f"3 tries failed: try 1 {one}; try 2 {one}; try 3 {one}"):
        r.connect()
    assert r.tries == 3


def test_retries_across_an_upstream_with_a_dead_port(engine: svc.Engine, plain_backend: Backend) -> None:
    dead = dead_port()
    engine.upsert_upstream({"name": "u"})
    engine.add_target("u", f"127.0.0.1:{dead}")
    engine.add_target("u", plain_backend.address)
    tries = []
    for _ in range(6):
        with engine.request() as r:
            r.set_upstream("u")
            r.set_retries(1)
            with r.connect() as conn:
                assert conn.peer.port == plain_backend.port
                assert http_get(conn).headers["x-backend"] == "plain"
            tries.append(r.tries)
    assert set(tries) <= {1, 2}
    assert 2 in tries  # the dead port was picked and skipped


# ----- TLS --------------------------------------------------------------


def test_tls_with_the_right_ca_store(tls_engine: svc.Engine, tls_backend: Backend, pki: Path) -> None:
    r = target_request(tls_engine, tls_backend, host="localhost", scheme="https")
    r.set_tls_verify_store(store_of(pki))
    with r.connect() as conn:
        assert conn.tls_version == "TLSv1.3"
        assert conn.tls_resumed is False
        assert conn.peer == svc.Peer("127.0.0.1", tls_backend.port, "localhost")
        res = http_get(conn)
        assert res.status == 200
        assert res.headers["x-backend"] == "tls"
        assert res.headers["x-sni"] == "localhost"
        assert res.headers["x-tls-version"] == "TLSv1.3"
        assert res.headers["x-client-subject"] == ""


def test_tls_to_an_ip_sends_no_sni_and_checks_the_ip_san(
    tls_engine: svc.Engine, tls_backend: Backend, pki: Path
) -> None:
    r = target_request(tls_engine, tls_backend, scheme="tls")
    r.set_tls_verify_store(store_of(pki))
    with r.connect() as conn:
        assert http_get(conn).headers["x-sni"] == ""


def test_tls_1_2_version_and_resumption(tls_engine: svc.Engine, backends: BackendFactory, pki: Path) -> None:
    b = backends(*tls_args(pki), "--tls-max", "1.2", name="tls12")
    store = store_of(pki)
    for resumed in (False, True):
        r = target_request(tls_engine, b, host="localhost", scheme="https")
        r.set_tls_verify_store(store)
        conn = r.connect()
        assert (conn.tls_version, conn.tls_resumed) == ("TLSv1.2", resumed)
        res = http_get(conn)
        assert (res.headers["x-tls-version"], res.headers["x-tls-resumed"]) == ("TLSv1.2", str(int(resumed)))
        conn.close()


def test_tls_with_the_wrong_ca(tls_engine: svc.Engine, tls_backend: Backend, pki: Path) -> None:
    r = target_request(tls_engine, tls_backend, scheme="https")
    r.set_tls_verify_store(store_of(pki, "other-ca.pem"))
    r.set_retries(0)
    p = tls_backend.port
    msg = (
        f"1 try failed: try 1 (127.0.0.1:{p}): TLS handshake with 127.0.0.1:{p} failed: "
        "certificate verify failed: unable to get local issuer certificate"
    )
    with raises(svc.TLSError, msg) as info:
        r.connect()
    assert info.value.code is svc.Code.ETLS


def test_tls_verify_off_connects(tls_engine: svc.Engine, tls_backend: Backend) -> None:
    r = target_request(tls_engine, tls_backend, host="localhost", scheme="https")
    r.set_tls_verify(False)
    with r.connect() as conn:
        assert conn.tls_version == "TLSv1.3"
        assert http_get(conn).headers["x-sni"] == "localhost"


def test_mtls_with_a_client_certificate(tls_engine: svc.Engine, mtls_backend: Backend, pki: Path) -> None:
    r = target_request(tls_engine, mtls_backend, host="localhost", scheme="https")
    r.set_tls_verify_store(store_of(pki))
    chain = svc.CertChain.from_pem((pki / "client-chain.pem").read_bytes())
    key = svc.PrivateKey.from_pem((pki / "client.key").read_bytes())
    r.set_tls_cert_key(chain, key)
    with r.connect() as conn:
        res = http_get(conn)
        assert res.headers["x-client-subject"] == "/O=svc test/CN=svc test client"
        assert res.info()["client_subject"] == "/O=svc test/CN=svc test client"


def test_mtls_without_a_client_certificate(tls_engine: svc.Engine, mtls_backend: Backend, pki: Path) -> None:
    r = target_request(tls_engine, mtls_backend, scheme="https")
    r.set_tls_verify_store(store_of(pki))
    conn = r.connect()  # TLS 1.3: the server's refusal shows on the first read
    conn.send(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    p = mtls_backend.port
    with raises(svc.TLSError, f"read from 127.0.0.1:{p} failed: tlsv13 alert certificate required"):
        conn.recv(1000)
    conn.close()


# ----- pooling and resumption -------------------------------------------------


def test_pooled_connection_is_reused(engine: svc.Engine, plain_backend: Backend) -> None:
    with target_request(engine, plain_backend) as r:
        conn = r.connect()
        first = http_get(conn)
        conn.release(True)
    with target_request(engine, plain_backend) as r:
        conn = r.connect()
        assert conn.reused is True
        second = http_get(conn)
        conn.release()
    assert first.headers["x-connection"] == second.headers["x-connection"] == "1"
    assert (first.headers["x-request"], second.headers["x-request"]) == ("1", "2")


def test_closed_connection_is_not_reused(engine: svc.Engine, plain_backend: Backend) -> None:
    conn = target_request(engine, plain_backend).connect()
    http_get(conn)
    conn.release(False)
    conn = target_request(engine, plain_backend).connect()
    assert conn.reused is False
    assert http_get(conn).headers["x-connection"] == "2"
    conn.close()


def test_tls_pool_is_keyed_by_policy(tls_engine: svc.Engine, tls_backend: Backend, pki: Path) -> None:
    store = store_of(pki)
    r = target_request(tls_engine, tls_backend, host="localhost", scheme="https")
    r.set_tls_verify_store(store)
    with r.connect() as conn:
        http_get(conn)
    # same policy: reused
    r = target_request(tls_engine, tls_backend, host="localhost", scheme="https")
    r.set_tls_verify_store(store)
    with r.connect() as conn:
        assert conn.reused is True
        assert http_get(conn).headers["x-connection"] == "1"
    # verification off is another policy: a new connection (Kong #13992)
    r = target_request(tls_engine, tls_backend, host="localhost", scheme="https")
    r.set_tls_verify(False)
    with r.connect() as conn:
        assert conn.reused is False
        assert http_get(conn).headers["x-connection"] == "2"


def test_tls_session_resumed_after_release_false(tls_engine: svc.Engine, tls_backend: Backend, pki: Path) -> None:
    store = store_of(pki)
    r = target_request(tls_engine, tls_backend, host="localhost", scheme="https")
    r.set_tls_verify_store(store)
    conn = r.connect()
    res = http_get(conn)  # reading lets the TLS 1.3 session ticket arrive
    assert res.headers["x-tls-resumed"] == "0"
    conn.release(False)
    r = target_request(tls_engine, tls_backend, host="localhost", scheme="https")
    r.set_tls_verify_store(store)
    conn = r.connect()
    assert conn.reused is False
    assert conn.tls_resumed is True
    res = http_get(conn)
    assert (res.headers["x-tls-resumed"], res.headers["x-connection"]) == ("1", "2")
    conn.close()


# ----- context manager, closed connections, garbage ----------------------------


def test_context_manager_releases_on_success_and_closes_on_error(engine: svc.Engine, plain_backend: Backend) -> None:
    with target_request(engine, plain_backend).connect() as conn:
        http_get(conn)
    assert conn.closed
    with pytest.raises(KeyError):
        with target_request(engine, plain_backend).connect() as conn:
            assert conn.reused is True  # the first one came back to the pool
            raise KeyError("boom")
    assert conn.closed
    with target_request(engine, plain_backend).connect() as conn:
        assert conn.reused is False  # the second one was closed
        assert http_get(conn).headers["x-connection"] == "2"
    # an explicit release inside the block is fine
    with target_request(engine, plain_backend).connect() as conn:
        conn.release(False)


def test_using_a_connection_after_release(engine: svc.Engine, plain_backend: Backend) -> None:
    calls: dict[str, Callable[[svc.Connection], object]] = {
        "send": lambda c: c.send(b"x"),
        "recv": lambda c: c.recv(1),
        "set_timeouts": lambda c: c.set_timeouts(1, 1),
        "release": lambda c: c.release(),
        "release(False)": lambda c: c.release(False),
        "peer": lambda c: c.peer,
        "reused": lambda c: c.reused,
        "tls_resumed": lambda c: c.tls_resumed,
        "tls_version": lambda c: c.tls_version,
    }
    for how in ("release", "release(False)", "close"):
        conn = target_request(engine, plain_backend).connect()
        if how == "close":
            conn.close()
        else:
            calls[how](conn)
        assert conn.closed is True
        for name, call in calls.items():
            with raises(svc.ClosedError, "the connection is closed"):
                call(conn)
            assert name
        conn.close()  # idempotent
        conn.cancel()  # a no-op once released
        conn.__exit__(None, None, None)  # nothing to do
        assert conn.closed is True


def test_dropped_connection_is_closed_not_pooled(engine: svc.Engine, plain_backend: Backend) -> None:
    conn = target_request(engine, plain_backend).connect()
    http_get(conn)
    del conn
    gc.collect()
    with target_request(engine, plain_backend).connect() as conn:
        assert conn.reused is False


def test_connection_and_request_are_independent(engine: svc.Engine, plain_backend: Backend) -> None:
    r = target_request(engine, plain_backend)
    conn = r.connect()
    r.close()
    del r
    gc.collect()
    assert http_get(conn).status == 200
    conn.release()


# ----- cancellation and timeouts ------------------------------------------------


def test_cancel_from_another_thread_during_connect(engine: svc.Engine, backends: BackendFactory) -> None:
    b = backends("--accept", "off", name="off")
    r = target_request(engine, b)
    r.set_timeouts(30000, 1000, 1000)
    r.set_retries(0)
    timer = threading.Timer(0.2, r.cancel)
    started = time.monotonic()
    timer.start()
    try:
        with raises(svc.Cancelled, f"connect to 127.0.0.1:{b.port} cancelled") as info:
            r.connect()
    finally:
        timer.join()
    assert time.monotonic() - started < CANCEL_BOUND
    assert info.value.code is svc.Code.ECANCELED
    assert r.phase is svc.Phase.LOG


def test_connect_releases_the_gil(engine: svc.Engine, backends: BackendFactory) -> None:
    b = backends("--accept", "off", name="off")
    r = target_request(engine, b)
    r.set_timeouts(300, 1000, 1000)
    r.set_retries(0)
    ticks = 0
    stop = threading.Event()

    def spin() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1

    t = threading.Thread(target=spin)
    t.start()
    try:
        with pytest.raises(svc.Timeout, match=r"connect to 127\.0\.0\.1:\d+ timed out after 300 ms$"):
            r.connect()
    finally:
        stop.set()
        t.join()
    assert ticks > 1000


def test_cancel_before_connect(engine: svc.Engine, plain_backend: Backend) -> None:
    r = target_request(engine, plain_backend)
    r.cancel()
    r.cancel()
    with pytest.raises(svc.Cancelled, match="cancelled$"):
        r.connect()
    assert r.tries == 0  # no try was made


def test_close_from_another_thread_interrupts_connect(engine: svc.Engine, backends: BackendFactory) -> None:
    b = backends("--accept", "off", name="off")
    r = target_request(engine, b)
    r.set_timeouts(30000, 1000, 1000)
    timer = threading.Timer(0.2, r.close)
    started = time.monotonic()
    timer.start()
    try:
        with pytest.raises(svc.Cancelled):
            r.connect()
    finally:
        timer.join()
    assert time.monotonic() - started < CANCEL_BOUND
    assert r.closed


def test_recv_timeout(engine: svc.Engine, plain_backend: Backend) -> None:
    conn = target_request(engine, plain_backend).connect()
    conn.set_timeouts(1000, 100)
    conn.send(b"GET /delay/500 HTTP/1.1\r\nHost: localhost\r\n\r\n")
    started = time.monotonic()
    with raises(svc.Timeout, f"read from 127.0.0.1:{plain_backend.port} timed out after 100 ms") as info:
        conn.recv(1000)
    assert time.monotonic() - started > 0.09
    assert isinstance(info.value, TimeoutError)
    conn.release()  # after an I/O error: closed, not pooled
    with target_request(engine, plain_backend).connect() as conn:
        assert conn.reused is False


def test_request_read_timeout_applies_to_the_connection(engine: svc.Engine, plain_backend: Backend) -> None:
    r = target_request(engine, plain_backend)
    r.set_timeouts(1000, 1000, 150)
    conn = r.connect()
    conn.send(b"GET /delay/1000 HTTP/1.1\r\nHost: localhost\r\n\r\n")
    with raises(svc.Timeout, f"read from 127.0.0.1:{plain_backend.port} timed out after 150 ms"):
        conn.recv(1000)
    conn.close()


def test_cancel_a_blocked_recv(engine: svc.Engine, plain_backend: Backend) -> None:
    conn = target_request(engine, plain_backend).connect()
    conn.send(b"GET /delay/20000 HTTP/1.1\r\nHost: localhost\r\n\r\n")
    timer = threading.Timer(0.2, conn.cancel)
    started = time.monotonic()
    timer.start()
    try:
        with raises(svc.Cancelled, f"read from 127.0.0.1:{plain_backend.port} cancelled"):
            conn.recv(1000)
    finally:
        timer.join()
    assert time.monotonic() - started < CANCEL_BOUND
    conn.release(True)  # cancelled: not reusable, closed instead
    with target_request(engine, plain_backend).connect() as conn:
        assert conn.reused is False


def test_close_from_another_thread_interrupts_recv(engine: svc.Engine, plain_backend: Backend) -> None:
    conn = target_request(engine, plain_backend).connect()
    conn.send(b"GET /delay/20000 HTTP/1.1\r\nHost: localhost\r\n\r\n")
    timer = threading.Timer(0.2, conn.close)
    started = time.monotonic()
    timer.start()
    try:
        with pytest.raises(svc.Cancelled):
            conn.recv(1000)
    finally:
        timer.join()
    assert time.monotonic() - started < CANCEL_BOUND
    assert conn.closed


# ----- the balancer callback ------------------------------------------------


def test_balancer_callback_sees_each_try(engine: svc.Engine, plain_backend: Backend) -> None:
    dead = dead_port()
    engine.upsert_upstream({"name": "u"})
    engine.add_target("u", f"127.0.0.1:{dead}")
    engine.add_target("u", plain_backend.address)
    seen: list[tuple[bool, int, Optional[svc.Peer], svc.Phase]] = []
    r = engine.request()
    r.set_upstream("u")
    r.set_retries(3)

    def cb(req: svc.Request) -> None:
        seen.append((req is r, req.tries, req.peer, req.phase))

    r.on_balancer(cb)
    with r.connect() as conn:
        assert conn.peer.port == plain_backend.port
    assert all(same for same, *_ in seen)
    assert [t for _, t, _, _ in seen] == list(range(1, r.tries + 1))
    assert {p.port for _, _, p, _ in seen if p} <= {dead, plain_backend.port}
    assert seen[-1][2] == svc.Peer("127.0.0.1", plain_backend.port, "127.0.0.1")
    assert {ph for *_, ph in seen} == {svc.Phase.BALANCER}
    # None clears it
    r2 = engine.request()
    r2.set_target("127.0.0.1", plain_backend.port)
    r2.on_balancer(cb)
    r2.on_balancer(None)
    n = len(seen)
    r2.connect().release()
    assert len(seen) == n
    with raises(TypeError, "callback must be callable or None, not int"):
        r2.on_balancer(42)  # type: ignore[arg-type]


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
    with r.connect() as conn:
        assert r.tries == 2
        assert conn.peer.port == peers[1]
        res = http_get(conn)
        assert res.headers["x-backend"] == {b1.port: "t1", b2.port: "t2"}[peers[1]]
    assert sorted(peers) == sorted([b1.port, b2.port])


def test_balancer_callback_exceptions_abort_the_connect(engine: svc.Engine, plain_backend: Backend) -> None:
    def connect_with(cb: Callable[[svc.Request], object]) -> BaseException:
        r = target_request(engine, plain_backend)
        r.on_balancer(cb)
        with pytest.raises(BaseException) as info:
            r.connect()
        assert r.phase is svc.Phase.LOG
        assert r.tries == 1
        r.close()
        return info.value

    # an svc.Error keeps its class, code and message
    original = svc.TLSError("no certificate for this peer")

    def raise_tls(req: svc.Request) -> None:
        raise original

    e = connect_with(raise_tls)
    assert type(e) is svc.TLSError
    assert str(e) == "balancer callback failed on try 1: no certificate for this peer"
    assert e.__cause__ is original

    def raise_cancelled(req: svc.Request) -> None:
        raise svc.Cancelled("stop")

    e = connect_with(raise_cancelled)
    assert type(e) is svc.Cancelled and str(e) == "balancer callback failed on try 1: stop"

    # anything else is InternalError with its repr, kept as the cause
    def raise_value(req: svc.Request) -> None:
        raise ValueError("boom")

    e = connect_with(raise_value)
    assert type(e) is svc.InternalError
    assert str(e) == "balancer callback failed on try 1: ValueError('boom')"
    assert isinstance(e.__cause__, ValueError) and str(e.__cause__) == "boom"

    # an svc setter's own error inside the callback
    def bad_depth(req: svc.Request) -> None:
        req.set_tls_verify_depth(-1)

    e = connect_with(bad_depth)
    assert type(e) is svc.InvalidArgument
    assert str(e) == "balancer callback failed on try 1: depth expects a non-negative integer but found -1"

    # setters of the access phase are refused by svc in the balancer phase
    def set_retries(req: svc.Request) -> None:
        req.set_retries(3)

    e = connect_with(set_retries)
    assert type(e) is svc.PhaseError
    assert str(e) == (
        "balancer callback failed on try 1: function cannot be called in balancer phase (only in: access)"
    )

    # calls that would re-enter the connect are refused
    for name, call in (
        ("connect", lambda req: req.connect()),
        ("pick", lambda req: req.pick()),
        ("report", lambda req: req.report(svc.Outcome.OK)),
        ("close", lambda req: req.close()),
        ("on_balancer", lambda req: req.on_balancer(None)),
    ):
        e = connect_with(call)
        assert type(e) is svc.InternalError
        assert isinstance(e.__cause__, RuntimeError)
        assert str(e.__cause__) == f"Request.{name}() must not be called from the request's own balancer callback"

    # KeyboardInterrupt and SystemExit go on as they are
    def interrupt(req: svc.Request) -> None:
        raise KeyboardInterrupt

    assert type(connect_with(interrupt)) is KeyboardInterrupt


def test_balancer_callback_may_cancel(engine: svc.Engine, plain_backend: Backend) -> None:
    r = target_request(engine, plain_backend)
    r.on_balancer(lambda req: req.cancel())
    with pytest.raises(svc.Cancelled):
        r.connect()


def test_balancer_callback_reference_cycle_is_collected(engine: svc.Engine, plain_backend: Backend) -> None:
    collected = threading.Event()

    class Callback:
        def __init__(self, req: svc.Request) -> None:
            self.req = req  # request -> callback -> request

        def __call__(self, req: svc.Request) -> None:
            assert req is self.req

        def __del__(self) -> None:
            collected.set()

    r = target_request(engine, plain_backend)
    r.on_balancer(Callback(r))
    r.connect().release()
    del r
    gc.collect()
    assert collected.is_set()


# ----- threads ------------------------------------------------------------------

THREADS = 8
CYCLES = 200


def test_8_threads_x_200_connect_cycles_exact_round_robin(engine: svc.Engine, backends: BackendFactory) -> None:
    bs = [backends(name=f"b{i}") for i in range(3)]
    engine.upsert_upstream({"name": "rr"})
    for b in bs:
        engine.add_target("rr", b.address)
    counts = [Counter[str]() for _ in range(THREADS)]
    reused = [0] * THREADS
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def work(i: int) -> None:
        try:
            start.wait()
            for _ in range(CYCLES):
                with engine.request() as r:
                    r.set_upstream("rr")
                    r.set_retries(0)
                    conn = r.connect()
                    try:
                        res = http_get(conn)
                        assert res.status == 200
                        assert conn.peer.port == bs[int(res.headers["x-backend"][1:])].port
                        counts[i][res.headers["x-backend"]] += 1
                        reused[i] += conn.reused
                    finally:
                        conn.release()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
        assert not t.is_alive()
    assert errors == []
    total = sum(counts, Counter())
    n = THREADS * CYCLES
    assert sum(total.values()) == n
    # smooth weighted round-robin is exact over each cycle of 3 picks
    assert sorted(total.values()) == [n // 3, n // 3, n // 3 + 1]
    assert all(sum(c.values()) == CYCLES for c in counts)
    assert sum(reused) > 0
    # each backend saw exactly the requests counted for it
    for b in bs:
        r = engine.request()
        r.set_target("127.0.0.1", b.port)
        with r.connect() as conn:
            info = http_get(conn, "/_admin/info").info()
        assert info["admin"]["requests"] == total[b.name] + 1
