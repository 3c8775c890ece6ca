"""The TLS matrix of the C suite (tests/capi/test_connect_tls.c) through the
Python binding, in both connect mode (Request.connect -> Connection) and
send mode (Request.send -> Response), against real svc-test-backend
processes: verification (trust, depth, host and IP names, expiry,
self-signed, verification off), SNI, client certificates (mTLS under TLS 1.3
and 1.2, encrypted keys, mismatched keys), TLS policy set in the balancer
callback, pool separation by policy and session resumption. Every failure
asserts the exact error class, code and message of the C suite."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple, Optional

import pytest

import svc

from conftest import Backend

MODES = ("connect", "send")
SUBJECT = "/O=svc test/CN=svc test client"
MISMATCH = "key does not match the certificate 'CN=svc test client,O=svc test'"


def raises(error: type[BaseException], message: str):  # noqa: ANN201
    return pytest.raises(error, match="^" + re.escape(message) + "$")


def verify_failure(port: int, reason: str) -> str:
    """The one-try verification failure message."""
    return (
        f"1 try failed: try 1 (127.0.0.1:{port}): TLS handshake with 127.0.0.1:{port} failed: "
        f"certificate verify failed: {reason}"
    )


def handshake_failure(port: int, reason: str) -> str:
    return f"1 try failed: try 1 (127.0.0.1:{port}): TLS handshake with 127.0.0.1:{port} failed: {reason}"


# ----- fixtures -----------------------------------------------------------------


class Backends(NamedTuple):
    ok: Backend
    tls12: Backend
    wrong: Backend
    expired: Backend
    self: Backend
    mtls: Backend
    mtls12: Backend


class Material(NamedTuple):
    ca: svc.TrustStore
    other: svc.TrustStore
    ca_inter: svc.TrustStore
    self: svc.TrustStore
    client: svc.CertChain
    client_chain: svc.CertChain
    key: svc.PrivateKey
    enc: svc.PrivateKey
    other_key: svc.PrivateKey


@pytest.fixture(scope="module")
def b(pki: Path, self_signed: Path) -> Iterator[Backends]:
    """The seven backends of the C suite, one I/O thread each."""
    server = f"{pki / 'server-chain.pem'},{pki / 'server.key'}"
    specs: list[tuple[str, list[str]]] = [
        ("ok", ["--tls", server]),
        ("tls12", ["--tls", server, "--tls-max", "1.2"]),
        ("wrong", ["--tls", f"{pki / 'wrong-host.pem'},{pki / 'wrong-host.key'}"]),
        ("expired", ["--tls", f"{pki / 'expired.pem'},{pki / 'expired.key'}"]),
        ("self", ["--tls", f"{self_signed / 'self-signed.pem'},{self_signed / 'self-signed.key'}"]),
        ("mtls", ["--tls", server, "--client-ca", str(pki / "ca.pem")]),
        ("mtls12", ["--tls", server, "--client-ca", str(pki / "ca.pem"), "--tls-max", "1.2"]),
    ]
    started: list[Backend] = []
    try:
        for name, args in specs:
            started.append(Backend(name, ["--threads", "1", *args]))
        yield Backends(*started)
    finally:
        for backend in started:
            backend.stop()
    for backend in started:
        assert backend.proc.returncode == 0, f"backend {backend.name} exited with {backend.proc.returncode}"


def _store(*paths: Path) -> svc.TrustStore:
    s = svc.TrustStore()
    for p in paths:
        s.load_file(p)
    return s


@pytest.fixture(scope="module")
def m(pki: Path, self_signed: Path) -> Material:
    def chain(name: str) -> svc.CertChain:
        return svc.CertChain.from_pem((pki / name).read_bytes())

    def key(name: str, passphrase: Optional[str] = None) -> svc.PrivateKey:
        return svc.PrivateKey.from_pem((pki / name).read_bytes(), passphrase)

    return Material(
        ca=_store(pki / "ca.pem"),
        other=_store(pki / "other-ca.pem"),
        ca_inter=_store(pki / "ca.pem", pki / "inter.pem"),
        self=_store(self_signed / "self-signed.pem"),
        client=chain("client.pem"),
        client_chain=chain("client-chain.pem"),
        key=key("client.key"),
        enc=key("client-encrypted.key", "s3cret"),
        other_key=key("client-other.key"),
    )


ENGINE_OPTIONS = {"retries": 0, "tls": {"trust": "none"}, "timeouts": {"connect": 5000, "write": 5000, "read": 5000}}


@pytest.fixture
def e() -> Iterator[svc.Engine]:
    """The C suite's engine: no retries, no trust by default."""
    engine = svc.Engine(ENGINE_OPTIONS)
    yield engine
    engine.close()


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# ----- helpers ------------------------------------------------------------------


def tls_request(
    engine: svc.Engine, host: str, backend: Backend, store: Optional[svc.TrustStore] = None
) -> svc.Request:
    r = engine.request()
    r.set_target(host, backend.port)
    r.set_scheme("https")
    if store is not None:
        r.set_tls_verify_store(store)
    return r


class Result(NamedTuple):
    status: int
    headers: dict[str, str]  # lower-cased names
    info: dict[str, Any]
    peer: svc.Peer
    tls_version: str  # Connection.tls_version (connect), X-TLS-Version (send)
    reused: Optional[bool]  # connect mode only
    tls_resumed: Optional[bool]  # connect mode only


def _read_response(conn: svc.Connection) -> tuple[int, dict[str, str], bytes]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = conn.recv(65536)
        assert chunk, f"EOF before the end of the headers: {buf!r}"
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers["content-length"])
    while len(body) < length:
        chunk = conn.recv(length - len(body))
        assert chunk, "EOF inside the body"
        body += chunk
    return int(lines[0].split()[1]), headers, body


def exchange(r: svc.Request, mode: str, host: str, path: str = "/", release: Optional[bool] = True) -> Result:
    """Connects r and GETs path (connect mode: by hand, Host: host; then the
    connection is released reusable, or not, or closed when release is None),
    or sends it (send mode). Returns what both modes can tell."""
    if mode == "connect":
        conn = r.connect()
        assert r.phase is svc.Phase.LOG
        conn.send(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        status, headers, body = _read_response(conn)
        out = Result(status, headers, json.loads(body), conn.peer, conn.tls_version, conn.reused, conn.tls_resumed)
        if release is None:
            conn.close()
        else:
            conn.release(release)
        return out
    res = r.send("GET", path)
    assert r.phase is svc.Phase.LOG
    headers = {name.lower(): value for name, value in res.headers}
    return Result(res.status, headers, json.loads(res.body), res.peer, headers["x-tls-version"], None, None)


def attempt(r: svc.Request, mode: str) -> None:
    if mode == "connect":
        r.connect().close()  # not expected to return
    else:
        r.send("GET", "/")


def expect_failure(r: svc.Request, mode: str, message: str) -> None:
    with raises(svc.TLSError, message) as info:
        attempt(r, mode)
    assert info.value.code is svc.Code.ETLS
    assert r.phase is svc.Phase.LOG
    assert r.tries == 1


def expect_verify_failure(r: svc.Request, mode: str, port: int, reason: str) -> None:
    expect_failure(r, mode, verify_failure(port, reason))


# ----- verification -------------------------------------------------------------


def test_right_ca_by_ip_literal_sends_no_sni(e: svc.Engine, b: Backends, m: Material, mode: str) -> None:
    r = tls_request(e, "127.0.0.1", b.ok, m.ca)
    res = exchange(r, mode, "127.0.0.1")
    assert res.status == 200
    assert res.tls_version == "TLSv1.3"
    if mode == "connect":
        assert (res.reused, res.tls_resumed) == (False, False)
    assert res.peer == svc.Peer("127.0.0.1", b.ok.port, "127.0.0.1")
    assert r.peer == res.peer
    assert res.headers["x-backend"] == "ok"
    assert res.headers["x-tls-version"] == "TLSv1.3"
    assert res.headers["x-sni"] == ""
    assert res.info["sni"] == ""
    assert res.info["tls_version"] == "TLSv1.3"
    assert res.headers["x-client-subject"] == ""
    assert r.tries == 1
    r.close()


def test_right_ca_by_hostname_sends_sni(e: svc.Engine, b: Backends, m: Material, mode: str) -> None:
    r = tls_request(e, "localhost", b.ok, m.ca)
    res = exchange(r, mode, "localhost")
    assert res.status == 200
    assert res.tls_version == "TLSv1.3"
    assert res.peer == svc.Peer("127.0.0.1", b.ok.port, "localhost")
    assert res.headers["x-sni"] == "localhost"
    assert res.info["sni"] == "localhost"
    want_host = "localhost" if mode == "connect" else f"localhost:{b.ok.port}"
    assert res.info["headers"]["host"] == want_host
    r.close()


def test_sni_without_trailing_dot(e: svc.Engine, b: Backends, m: Material, mode: str) -> None:
    r = tls_request(e, "localhost.", b.ok, m.ca)
    res = exchange(r, mode, "localhost.")
    assert res.headers["x-sni"] == "localhost"
    # the peer host is stored without the dot (Host header too)
    assert res.peer.host == "localhost"
    assert r.peer is not None and r.peer.host == "localhost"
    if mode == "send":
        assert res.info["headers"]["host"] == f"localhost:{b.ok.port}"
    r.close()


def test_tls12_negotiated(e: svc.Engine, b: Backends, m: Material, mode: str) -> None:
    r = tls_request(e, "localhost", b.tls12, m.ca)
    res = exchange(r, mode, "localhost")
    assert res.tls_version == "TLSv1.2"
    assert res.headers["x-tls-version"] == "TLSv1.2"
    assert res.headers["x-sni"] == "localhost"
    r.close()


def test_tls_scheme_also_handshakes(e: svc.Engine, b: Backends, m: Material) -> None:
    r = tls_request(e, "localhost", b.ok, m.ca)
    r.set_scheme("tls")
    conn = r.connect()
    assert conn.tls_version == "TLSv1.3"
    conn.release(False)
    r.close()


def test_http_scheme_to_a_tls_port_is_plain_tcp(e: svc.Engine, b: Backends) -> None:
    r = e.request()
    r.set_target("127.0.0.1", b.ok.port)
    conn = r.connect()
    assert conn.tls_version == ""
    conn.release(False)
    r.close()


# (id, backend, host, store, depth, reason)
FAILURES = [
    ("no-store-trust-none", "ok", "localhost", None, None, "unable to get local issuer certificate"),
    ("wrong-ca", "ok", "localhost", "other", None, "unable to get local issuer certificate"),
    ("depth-0", "ok", "localhost", "ca", 0, "certificate chain too long"),
    (
        "wrong-host-by-name",
        "wrong",
        "localhost",
        "ca_inter",
        None,
        "certificate does not match 'localhost' (it is for DNS:other.test)",
    ),
    (
        "wrong-host-by-ip",
        "wrong",
        "127.0.0.1",
        "ca_inter",
        None,
        "certificate does not match '127.0.0.1' (it is for DNS:other.test)",
    ),
    (
        "wrong-host-trailing-dot",
        "wrong",
        "localhost.",
        "ca_inter",
        None,
        "certificate does not match 'localhost' (it is for DNS:other.test)",
    ),
    ("expired", "expired", "localhost", "ca_inter", None, "certificate has expired"),
    ("self-signed-ca-store", "self", "localhost", "ca", None, "self-signed certificate"),
    ("self-signed-no-store", "self", "localhost", None, None, "self-signed certificate"),
]


@pytest.mark.parametrize(
    "backend, host, store, depth, reason", [pytest.param(*f[1:], id=f[0]) for f in FAILURES]
)
def test_verify_failure(
    e: svc.Engine,
    b: Backends,
    m: Material,
    mode: str,
    backend: str,
    host: str,
    store: Optional[str],
    depth: Optional[int],
    reason: str,
) -> None:
    target: Backend = getattr(b, backend)
    r = tls_request(e, host, target, None if store is None else getattr(m, store))
    if depth is not None:
        r.set_tls_verify_depth(depth)
    expect_verify_failure(r, mode, target.port, reason)
    r.close()


@pytest.mark.parametrize(
    "backend, host, store, depth, reason", [pytest.param(*f[1:], id=f[0]) for f in FAILURES]
)
def test_verify_off_connects_in_every_failure_case(
    e: svc.Engine,
    b: Backends,
    m: Material,
    mode: str,
    backend: str,
    host: str,
    store: Optional[str],
    depth: Optional[int],
    reason: str,
) -> None:
    target: Backend = getattr(b, backend)
    r = tls_request(e, host, target, None if store is None else getattr(m, store))
    if depth is not None:
        r.set_tls_verify_depth(depth)
    r.set_tls_verify(False)
    res = exchange(r, mode, host)
    assert res.status == 200
    assert res.headers["x-backend"] == backend
    assert res.tls_version == "TLSv1.3"
    # SNI is still sent with verification off
    assert res.headers["x-sni"] == ("" if host == "127.0.0.1" else "localhost")
    r.close()


@pytest.mark.parametrize("depth", [1, 2])
def test_depth_one_and_two_are_enough(e: svc.Engine, b: Backends, m: Material, mode: str, depth: int) -> None:
    r = tls_request(e, "localhost", b.ok, m.ca)
    r.set_tls_verify_depth(depth)
    assert exchange(r, mode, "localhost").status == 200
    r.close()


def test_ip_san_checked(e: svc.Engine, b: Backends, m: Material, mode: str) -> None:
    # server.pem carries IP:127.0.0.1: verified by IP, no SNI
    r = tls_request(e, "127.0.0.1", b.ok, m.ca)
    res = exchange(r, mode, "127.0.0.1")
    assert (res.status, res.headers["x-sni"]) == (200, "")
    r.close()


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_self_signed_trusted_by_its_own_store(
    e: svc.Engine, b: Backends, m: Material, mode: str, host: str
) -> None:
    r = tls_request(e, host, b.self, m.self)
    res = exchange(r, mode, host)
    assert (res.status, res.headers["x-backend"]) == (200, "self")
    r.close()


def test_verify_on_again_after_off(e: svc.Engine, b: Backends, mode: str) -> None:
    r = tls_request(e, "localhost", b.self)
    r.set_tls_verify(False)
    r.set_tls_verify(True)
    expect_verify_failure(r, mode, b.self.port, "self-signed certificate")
    r.close()


def test_system_trust_does_not_know_the_test_ca(b: Backends, m: Material, mode: str) -> None:
    with svc.Engine({"retries": 0, "tls": {"trust": "system"}}) as system:
        r = tls_request(system, "localhost", b.ok)
        expect_verify_failure(r, mode, b.ok.port, "unable to get local issuer certificate")
        r.close()
        # a store replaces the system trust
        r = tls_request(system, "localhost", b.ok, m.ca)
        assert exchange(r, mode, "localhost").status == 200
        r.close()


# ----- client certificates ------------------------------------------------------


def test_mtls_tls13_without_client_cert_fails_on_first_read(e: svc.Engine, b: Backends, m: Material) -> None:
    # TLS 1.3: the client's handshake completes before the server checks the
    # (empty) Certificate; its alert arrives on the first read.
    r = tls_request(e, "localhost", b.mtls, m.ca)
    conn = r.connect()
    assert conn.tls_version == "TLSv1.3"
    with raises(svc.TLSError, f"read from 127.0.0.1:{b.mtls.port} failed: tlsv13 alert certificate required") as info:
        conn.recv(64)
    assert info.value.code is svc.Code.ETLS
    conn.release(True)  # the I/O error keeps it out of the pool
    r.close()
    # nothing was pooled: the next connect is a new connection
    r = tls_request(e, "localhost", b.mtls, m.ca)
    r.set_tls_cert_key(m.client, m.key)
    res = exchange(r, "connect", "localhost")
    assert res.reused is False
    r.close()


def test_mtls_tls13_without_client_cert_send(e: svc.Engine, b: Backends, m: Material) -> None:
    # send mode: the request is written, the alert arrives on the response read
    p = b.mtls.port
    r = tls_request(e, "localhost", b.mtls, m.ca)
    msg = f"1 try failed: try 1 (127.0.0.1:{p}): read from 127.0.0.1:{p} failed: tlsv13 alert certificate required"
    expect_failure(r, "send", msg)
    r.close()


def test_mtls_tls12_without_client_cert_fails_the_handshake(
    e: svc.Engine, b: Backends, m: Material, mode: str
) -> None:
    r = tls_request(e, "localhost", b.mtls12, m.ca)
    expect_failure(r, mode, handshake_failure(b.mtls12.port, "sslv3 alert handshake failure"))
    r.close()


@pytest.mark.parametrize("backend, version", [("mtls", "TLSv1.3"), ("mtls12", "TLSv1.2")])
def test_mtls_client_cert_accepted(
    e: svc.Engine, b: Backends, m: Material, mode: str, backend: str, version: str
) -> None:
    r = tls_request(e, "localhost", getattr(b, backend), m.ca)
    r.set_tls_cert_key(m.client, m.key)
    res = exchange(r, mode, "localhost")
    assert res.status == 200
    assert res.tls_version == version
    assert res.headers["x-client-subject"] == SUBJECT
    assert res.info["client_subject"] == SUBJECT
    r.close()


def test_mtls_chain_and_encrypted_key(e: svc.Engine, b: Backends, m: Material, mode: str) -> None:
    r = tls_request(e, "localhost", b.mtls, m.ca)
    r.set_tls_cert_key(m.client_chain, m.enc)
    assert exchange(r, mode, "localhost").headers["x-client-subject"] == SUBJECT
    r.close()


def test_client_cert_to_a_server_that_does_not_ask(e: svc.Engine, b: Backends, m: Material, mode: str) -> None:
    r = tls_request(e, "localhost", b.ok, m.ca)
    r.set_tls_cert_key(m.client, m.key)
    assert exchange(r, mode, "localhost").headers["x-client-subject"] == ""
    r.close()


def test_mismatched_key_rejected(e: svc.Engine, b: Backends, m: Material, mode: str) -> None:
    p = b.mtls.port
    r = tls_request(e, "localhost", b.mtls, m.ca)
    for chain in (m.client, m.client_chain):
        with raises(svc.InvalidArgument, MISMATCH) as info:
            r.set_tls_cert_key(chain, m.other_key)
        assert info.value.code is svc.Code.EINVAL
    # the rejected pair left no certificate behind: TLS 1.3 fails on read
    read_failure = f"read from 127.0.0.1:{p} failed: tlsv13 alert certificate required"
    if mode == "connect":
        conn = r.connect()
        with raises(svc.TLSError, read_failure):
            conn.recv(64)
        conn.release()
    else:
        expect_failure(r, mode, f"1 try failed: try 1 (127.0.0.1:{p}): {read_failure}")
    r.close()


# ----- policy set in the balancer callback --------------------------------------


def test_balancer_store_set_on_try_2_only(e: svc.Engine, b: Backends, m: Material, mode: str) -> None:
    seen: list[tuple[int, svc.Phase, int]] = []

    def cb(req: svc.Request) -> None:
        assert req.peer is not None
        seen.append((req.tries, req.phase, req.peer.port))
        if req.tries == 2:
            req.set_tls_verify_store(m.ca)

    r = tls_request(e, "localhost", b.ok)
    r.set_retries(1)
    r.on_balancer(cb)
    assert exchange(r, mode, "localhost").headers["x-sni"] == "localhost"
    assert r.tries == 2
    assert seen == [(1, svc.Phase.BALANCER, b.ok.port), (2, svc.Phase.BALANCER, b.ok.port)]
    r.close()


def test_balancer_store_not_set_fails_both_tries(e: svc.Engine, b: Backends, m: Material, mode: str) -> None:
    calls: list[int] = []

    def cb(req: svc.Request) -> None:
        calls.append(req.tries)
        if req.tries == 3:  # never reached
            req.set_tls_verify_store(m.ca)

    p = b.ok.port
    r = tls_request(e, "localhost", b.ok)
    r.set_retries(1)
    r.on_balancer(cb)
    reason = "certificate verify failed: unable to get local issuer certificate"
    msg = (
        f"2 tries failed: try 1 (127.0.0.1:{p}): TLS handshake with 127.0.0.1:{p} failed: {reason}; "
        f"try 2 (127.0.0.1:{p}): TLS handshake with 127.0.0.1:{p} failed: {reason}"
    )
    with raises(svc.TLSError, msg) as info:
        attempt(r, mode)
    assert info.value.code is svc.Code.ETLS
    assert calls == [1, 2]
    r.close()


def test_balancer_verify_off_on_try_1(e: svc.Engine, b: Backends, mode: str) -> None:
    calls: list[int] = []

    def cb(req: svc.Request) -> None:
        calls.append(req.tries)
        if req.tries == 1:
            req.set_tls_verify(False)

    r = tls_request(e, "localhost", b.self)
    r.on_balancer(cb)
    assert exchange(r, mode, "localhost").headers["x-backend"] == "self"
    assert (r.tries, calls) == (1, [1])
    r.close()


def test_balancer_depth_overrides_the_access_policy(e: svc.Engine, b: Backends, m: Material, mode: str) -> None:
    def cb(req: svc.Request) -> None:
        if req.tries == 1:
            req.set_tls_verify_depth(0)

    r = tls_request(e, "localhost", b.ok, m.ca)
    r.set_tls_verify_depth(5)
    r.on_balancer(cb)
    expect_verify_failure(r, mode, b.ok.port, "certificate chain too long")
    r.close()


def test_balancer_client_cert(e: svc.Engine, b: Backends, m: Material, mode: str) -> None:
    r = tls_request(e, "localhost", b.mtls, m.ca)
    r.on_balancer(lambda req: req.set_tls_cert_key(m.client, m.key))
    assert exchange(r, mode, "localhost").headers["x-client-subject"] == SUBJECT
    r.close()


def test_balancer_scheme(e: svc.Engine, b: Backends, m: Material, mode: str) -> None:
    r = e.request()
    r.set_target("localhost", b.ok.port)
    r.set_tls_verify_store(m.ca)
    r.on_balancer(lambda req: req.set_scheme("https"))
    res = exchange(r, mode, "localhost")
    assert res.tls_version == "TLSv1.3"
    assert res.headers["x-sni"] == "localhost"
    assert r.scheme == "https"
    r.close()


# ----- pool separation and session resumption -----------------------------------


def test_pool_is_separated_by_verify_policy(e: svc.Engine, b: Backends, m: Material, mode: str) -> None:
    def run(verify: bool) -> Result:
        r = tls_request(e, "localhost", b.ok, m.ca)
        r.set_tls_verify(verify)
        res = exchange(r, mode, "localhost")
        r.close()
        return res

    on = run(True)
    off = run(False)
    assert off.headers["x-connection"] != on.headers["x-connection"]
    assert off.headers["x-request"] == "1"
    if mode == "connect":
        assert off.reused is False
    # each policy finds its own pooled connection again
    on2, off2 = run(True), run(False)
    assert (on2.headers["x-connection"], on2.headers["x-request"]) == (on.headers["x-connection"], "2")
    assert (off2.headers["x-connection"], off2.headers["x-request"]) == (off.headers["x-connection"], "2")
    if mode == "connect":
        assert (on2.reused, off2.reused) == (True, True)


@pytest.mark.parametrize("backend, version", [("ok", "TLSv1.3"), ("tls12", "TLSv1.2")])
def test_session_resumed_after_release_false(
    e: svc.Engine, b: Backends, m: Material, mode: str, backend: str, version: str
) -> None:
    target: Backend = getattr(b, backend)
    r = tls_request(e, "localhost", target, m.ca)
    # reading the answer lets the TLS 1.3 session ticket arrive
    first = exchange(r, "connect", "localhost", release=False)
    r.close()
    assert (first.tls_version, first.tls_resumed, first.headers["x-tls-resumed"]) == (version, False, "0")
    r = tls_request(e, "localhost", target, m.ca)
    res = exchange(r, mode, "localhost")
    r.close()
    assert res.headers["x-tls-resumed"] == "1"
    assert res.tls_version == version
    assert int(res.headers["x-connection"]) > int(first.headers["x-connection"])
    if mode == "connect":
        assert (res.reused, res.tls_resumed) == (False, True)


def test_no_resumption_across_policies(e: svc.Engine, b: Backends, m: Material, mode: str) -> None:
    """A session of a verified connection is not offered to an unverified one."""
    r = tls_request(e, "localhost", b.ok, m.ca)
    exchange(r, "connect", "localhost", release=False)
    r.close()
    r = tls_request(e, "localhost", b.ok, m.ca)
    r.set_tls_verify(False)
    res = exchange(r, mode, "localhost")
    r.close()
    assert res.headers["x-tls-resumed"] == "0"
