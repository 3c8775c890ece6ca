"""TLS material: chains, keys (plain, encrypted, wrong passphrase), trust
stores (PEM, file, system), the TLS setters and freezing, with the throwaway
PKI of svc-test-pki."""

from __future__ import annotations

import gc
import re
from pathlib import Path

import pytest

import svc


def raises(error: type[svc.Error], message: str):  # noqa: ANN201
    return pytest.raises(error, match="^" + re.escape(message) + "$")


def read(pki: Path, name: str) -> bytes:
    return (pki / name).read_bytes()


def test_cert_chain(pki: Path) -> None:
    for name in ("client-chain.pem", "client.pem", "bundle.pem"):
        assert isinstance(svc.CertChain.from_pem(read(pki, name)), svc.CertChain)
    assert isinstance(svc.CertChain.from_pem(read(pki, "client.pem").decode()), svc.CertChain)  # str too
    pem = read(pki, "client.pem")
    for bad in (b"", "", pem[:0], "hello, not a certificate", read(pki, "client.key")):
        with raises(svc.InvalidArgument, "chain: no certificate found in PEM"):
            svc.CertChain.from_pem(bad)
    for broken in (pem[: len(pem) // 2], b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"):
        with pytest.raises(svc.InvalidArgument, match="^chain: "):
            svc.CertChain.from_pem(broken)  # cut short, bad base64
    with raises(svc.InvalidArgument, "chain: unexpected data after the last PEM block"):
        svc.CertChain.from_pem(pem + b"trailing junk\n")


def test_private_key(pki: Path) -> None:
    key = read(pki, "client.key")
    assert isinstance(svc.PrivateKey.from_pem(key), svc.PrivateKey)
    svc.PrivateKey.from_pem(key, "ignored")  # a passphrase for a plain key is unused
    for bad in (b"", "junk", read(pki, "client.pem")):
        with raises(svc.InvalidArgument, "key: no private key found in PEM"):
            svc.PrivateKey.from_pem(bad)
    enc = read(pki, "client-encrypted.key")
    svc.PrivateKey.from_pem(enc, "s3cret")
    svc.PrivateKey.from_pem(enc.decode(), passphrase=b"s3cret")
    with raises(svc.InvalidArgument, "key: the key is encrypted and no passphrase was given"):
        svc.PrivateKey.from_pem(enc)
    for wrong in ("wrong", ""):
        with raises(svc.InvalidArgument, "key: bad decrypt"):
            svc.PrivateKey.from_pem(enc, wrong)
    with raises(svc.InvalidArgument, "passphrase must not contain NUL characters"):
        svc.PrivateKey.from_pem(enc, "s3\x00cret")


def test_set_tls_cert_key(engine: svc.Engine, pki: Path) -> None:
    chain = svc.CertChain.from_pem(read(pki, "client-chain.pem"))
    leaf = svc.CertChain.from_pem(read(pki, "client.pem"))
    key = svc.PrivateKey.from_pem(read(pki, "client.key"))
    enc = svc.PrivateKey.from_pem(read(pki, "client-encrypted.key"), "s3cret")
    other = svc.PrivateKey.from_pem(read(pki, "client-other.key"))
    server_key = svc.PrivateKey.from_pem(read(pki, "server.key"))
    r = engine.request()
    r.set_tls_cert_key(chain, key)
    r.set_tls_cert_key(leaf, key)
    r.set_tls_cert_key(chain, enc)  # the decrypted key is the same key
    mismatch = "key does not match the certificate 'CN=svc test client,O=svc test'"
    with raises(svc.InvalidArgument, mismatch):
        r.set_tls_cert_key(chain, other)
    with raises(svc.InvalidArgument, mismatch):
        r.set_tls_cert_key(leaf, server_key)
    with pytest.raises(TypeError, match="^chain must be a CertChain, not NoneType$"):
        r.set_tls_cert_key(None, key)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="^key must be a PrivateKey, not CertChain$"):
        r.set_tls_cert_key(chain, chain)  # type: ignore[arg-type]
    # phases: rewrite, access and balancer
    r.set_phase(svc.Phase.REWRITE)
    r.set_tls_cert_key(chain, key)
    r.set_phase(svc.Phase.ACCESS)
    r.set_target("localhost", 8443)
    r.pick()
    assert r.phase is svc.Phase.BALANCER
    r.set_tls_cert_key(leaf, enc)
    with raises(svc.InvalidArgument, mismatch):
        r.set_tls_cert_key(leaf, other)
    # the Python objects may go away while the request uses them
    del chain, leaf, key, enc, other, server_key
    gc.collect()
    r.report(svc.Outcome.TCP_FAILURE)
    assert r.pick().host == "localhost"
    r.close()


def test_trust_store(engine: svc.Engine, pki: Path) -> None:
    ca = read(pki, "ca.pem")
    s = svc.TrustStore()
    s.add_pem(ca)
    s.add_pem(ca.decode())  # a duplicate is fine
    s.add_pem(read(pki, "bundle.pem"))
    for bad in (b"", "junk"):
        with raises(svc.InvalidArgument, "store: no certificate found in PEM"):
            s.add_pem(bad)
    s.load_file(str(pki / "ca.pem"))
    s.load_file(pki / "bundle.pem")  # os.PathLike
    s.load_file(bytes(pki / "ca.pem"))
    with raises(svc.InvalidArgument, "store: cannot open '/nonexistent/ca.pem': No such file or directory"):
        s.load_file("/nonexistent/ca.pem")
    with raises(svc.InvalidArgument, "store: no certificate found in PEM"):
        s.load_file(pki / "client.key")
    with pytest.raises(TypeError, match="^path must be str, bytes or os.PathLike, not NoneType$"):
        s.load_file(None)  # type: ignore[arg-type]

    s2 = svc.TrustStore()
    try:
        s2.load_system()
    except svc.InvalidArgument as e:  # a machine without a system bundle: the one documented failure
        assert str(e) == "store: no system trust store found"

    # frozen once a request uses it
    r = engine.request()
    r.set_tls_verify_store(s)
    frozen = "store: trust store is in use and can no longer change"
    for call in (lambda: s.add_pem(ca), lambda: s.load_file(pki / "ca.pem"), lambda: s.load_system()):
        with raises(svc.InvalidArgument, frozen):
            call()
    r2 = engine.request()
    r2.set_phase(svc.Phase.REWRITE)
    r2.set_tls_verify_store(s)
    r2.set_phase(svc.Phase.ACCESS)
    r2.set_tls_verify_store(s2)
    s3 = svc.TrustStore()
    s3.add_pem(ca)  # another store is unaffected until used
    with pytest.raises(TypeError, match="^store must be a TrustStore, not str$"):
        r.set_tls_verify_store("ca.pem")  # type: ignore[arg-type]

    del s
    gc.collect()  # the store's handle is gone; the request keeps its reference
    r.set_target("127.0.0.1", 8443)
    r.set_tls_verify(True)
    r.set_tls_verify_depth(4)
    assert r.pick().ip == "127.0.0.1"
    r.set_tls_verify_store(s3)  # balancer phase: allowed, freezes s3
    with raises(svc.InvalidArgument, frozen):
        s3.add_pem(ca)
    r.report(svc.Outcome.OK)
    r.close()
    r2.close()


def test_material_outlives_the_engine(pki: Path) -> None:
    e = svc.Engine()
    r = e.request()
    chain = svc.CertChain.from_pem(read(pki, "client-chain.pem"))
    key = svc.PrivateKey.from_pem(read(pki, "client.key"))
    s = svc.TrustStore()
    s.load_file(pki / "ca.pem")
    r.set_tls_cert_key(chain, key)
    r.set_tls_verify_store(s)
    e.close()
    del s, chain, key
    gc.collect()
    r.set_tls_verify(False)  # setters still work on a request of a closed engine
    r.close()


def test_material_is_shareable_across_engines(pki: Path) -> None:
    chain = svc.CertChain.from_pem(read(pki, "client-chain.pem"))
    key = svc.PrivateKey.from_pem(read(pki, "client.key"))
    with svc.Engine() as a, svc.Engine() as b:
        for e in (a, b):
            with e.request() as r:
                r.set_tls_cert_key(chain, key)
