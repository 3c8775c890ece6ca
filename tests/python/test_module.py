"""The package surface: version, enums with the C values, code names, the
error hierarchy."""

from __future__ import annotations

import pickle

import pytest

import svc
from svc import _svc


def test_version_matches_the_c_library() -> None:
    assert svc.__version__ == _svc.version() == svc.version()
    major, minor, patch = svc.__version__.split(".")
    assert all(part.isdigit() for part in (major, minor, patch))


def test_import_fails_on_a_version_mismatch(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    monkeypatch.setattr(_svc, "version", lambda: "99.0.0")
    with pytest.raises(ImportError, match=r"^svc: the loaded libsvc is version 99\.0\.0, but this package was built for "):
        importlib.reload(svc)
    monkeypatch.undo()
    importlib.reload(svc)
    assert svc.version() == svc.__version__


def test_all_names_exist() -> None:
    for name in svc.__all__:
        assert hasattr(svc, name), name
    assert len(set(svc.__all__)) == len(svc.__all__)


def test_code_values_are_the_c_values() -> None:
    assert [(c.name, int(c)) for c in svc.Code] == [
        ("OK", 0), ("EINVAL", 1), ("EPHASE", 2), ("ENOTFOUND", 3), ("EEXIST", 4), ("ECONFIG", 5),
        ("ENOPEER", 6), ("EDNS", 7), ("ECONNECT", 8), ("ETIMEOUT", 9), ("ETLS", 10), ("EPROTO", 11),
        ("ECLOSED", 12), ("ENOMEM", 13), ("EINTERNAL", 14), ("ECANCELED", 15),
    ]  # fmt: skip
    for c in svc.Code:
        assert svc.code_name(c) == "SVC_" + c.name
    assert svc.code_name(16) == "SVC_UNKNOWN"
    assert svc.code_name(-1) == "SVC_UNKNOWN"


def test_enum_values_are_the_c_values() -> None:
    assert {p.name: int(p) for p in svc.Phase} == {"REWRITE": 1, "ACCESS": 2, "BALANCER": 3, "LOG": 4}
    assert {o.name: int(o) for o in svc.Outcome} == {"OK": 0, "HTTP": 1, "TCP_FAILURE": 2, "TIMEOUT": 3}
    assert {h.name: int(h) for h in svc.HashOn} == {
        "CONSUMER": 1, "IP": 2, "HEADER": 3, "COOKIE": 4, "PATH": 5, "QUERY_ARG": 6, "URI_CAPTURE": 7,
    }  # fmt: skip
    import enum

    for e in (svc.Code, svc.Phase, svc.Outcome, svc.HashOn):
        assert issubclass(e, enum.IntEnum)
        assert e.__module__ == "svc"
        assert pickle.loads(pickle.dumps(list(e))) == list(e)


ERRORS = [
    (svc.InvalidArgument, svc.Code.EINVAL, ValueError),
    (svc.PhaseError, svc.Code.EPHASE, None),
    (svc.UpstreamNotFound, svc.Code.ENOTFOUND, LookupError),
    (svc.AlreadyExists, svc.Code.EEXIST, None),
    (svc.ConfigError, svc.Code.ECONFIG, ValueError),
    (svc.NoPeerError, svc.Code.ENOPEER, None),
    (svc.DNSError, svc.Code.EDNS, None),
    (svc.ConnectError, svc.Code.ECONNECT, ConnectionError),
    (svc.Timeout, svc.Code.ETIMEOUT, TimeoutError),
    (svc.TLSError, svc.Code.ETLS, None),
    (svc.ProtocolError, svc.Code.EPROTO, None),
    (svc.ClosedError, svc.Code.ECLOSED, None),
    (svc.OutOfMemory, svc.Code.ENOMEM, MemoryError),
    (svc.InternalError, svc.Code.EINTERNAL, None),
    (svc.Cancelled, svc.Code.ECANCELED, None),
]


@pytest.mark.parametrize(("cls", "code", "builtin"), ERRORS)
def test_error_classes(cls: type[svc.Error], code: svc.Code, builtin: type[BaseException] | None) -> None:
    assert issubclass(cls, svc.Error)
    assert issubclass(cls, Exception)
    if builtin is not None:
        assert issubclass(cls, builtin)
    e = cls("the message")
    assert e.code is code
    assert str(e) == "the message"
    assert e.message == "the message"
    again = pickle.loads(pickle.dumps(e))
    assert type(again) is cls and str(again) == "the message" and again.code is code


def test_every_error_code_has_a_class() -> None:
    from svc._errors import error_class

    codes = {code for _, code, _ in ERRORS}
    assert codes == set(svc.Code) - {svc.Code.OK}
    for cls, code, _ in ERRORS:
        assert error_class(code) is cls
    assert error_class(999) is svc.InternalError


def test_error_raised_from_c_keeps_code_and_message(engine: svc.Engine) -> None:
    with pytest.raises(svc.UpstreamNotFound) as info:
        engine.delete_upstream("nope")
    assert type(info.value) is svc.UpstreamNotFound
    assert info.value.code is svc.Code.ENOTFOUND
    assert str(info.value) == "could not find an Upstream named 'nope'"
    assert isinstance(info.value, LookupError)


def test_peer_is_a_named_tuple() -> None:
    p = svc.Peer("10.0.0.1", 80, "h")
    assert p == ("10.0.0.1", 80, "h")
    assert (p.ip, p.port, p.host) == ("10.0.0.1", 80, "h")
    assert svc.Peer._fields == ("ip", "port", "host")
    assert pickle.loads(pickle.dumps(p)) == p


def test_objects_are_not_constructible_directly() -> None:
    with pytest.raises(TypeError):
        svc.Request()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        svc.CertChain()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        svc.PrivateKey()  # type: ignore[call-arg]


def test_package_is_typed() -> None:
    from importlib import resources

    files = resources.files("svc")
    assert files.joinpath("py.typed").is_file()
    assert files.joinpath("_svc.pyi").is_file()
