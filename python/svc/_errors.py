"""svc's exceptions: one class per svc_code, each also deriving from the
matching built-in exception where there is one.

The message of the C error is the exception's ``str()``; ``.code`` is its
:class:`svc.Code`.
"""

from __future__ import annotations

from ._svc import Code

__all__ = [
    "Error",
    "InvalidArgument",
    "PhaseError",
    "UpstreamNotFound",
    "AlreadyExists",
    "ConfigError",
    "NoPeerError",
    "DNSError",
    "ConnectError",
    "Timeout",
    "TLSError",
    "ProtocolError",
    "ClosedError",
    "OutOfMemory",
    "InternalError",
    "Cancelled",
    "error_class",
]


class Error(Exception):
    """An error reported by svc (an ``svc_error``): ``str(e)`` is its message."""

    code: Code = Code.EINTERNAL

    def __init__(self, message: str = "", code: Code | int | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = Code(code)

    @property
    def message(self) -> str:
        """The C error's message."""
        return str(self.args[0]) if self.args else ""

    def __str__(self) -> str:
        return self.message


class InvalidArgument(Error, ValueError):
    """SVC_EINVAL: a bad argument (NULL, empty, out of range, malformed)."""

    code = Code.EINVAL


class PhaseError(Error):
    """SVC_EPHASE: the function is not allowed in the request's phase."""

    code = Code.EPHASE


class UpstreamNotFound(Error, LookupError):
    """SVC_ENOTFOUND: no such upstream, target or address."""

    code = Code.ENOTFOUND


class AlreadyExists(Error):
    """SVC_EEXIST: the target already exists in the upstream."""

    code = Code.EEXIST


class ConfigError(Error, ValueError):
    """SVC_ECONFIG: an entity or declarative document failed validation."""

    code = Code.ECONFIG


class NoPeerError(Error):
    """SVC_ENOPEER: the balancer has no available peer (or the tries are used up)."""

    code = Code.ENOPEER


class DNSError(Error):
    """SVC_EDNS: name resolution failed."""

    code = Code.EDNS


class ConnectError(Error, ConnectionError):
    """SVC_ECONNECT: connecting to the peer failed."""

    code = Code.ECONNECT


class Timeout(Error, TimeoutError):
    """SVC_ETIMEOUT: a timeout expired."""

    code = Code.ETIMEOUT


class TLSError(Error):
    """SVC_ETLS: TLS handshake or verification failed."""

    code = Code.ETLS


class ProtocolError(Error):
    """SVC_EPROTO: the peer broke the protocol."""

    code = Code.EPROTO


class ClosedError(Error):
    """SVC_ECLOSED: the object (engine, request) was closed."""

    code = Code.ECLOSED


class OutOfMemory(Error, MemoryError):
    """SVC_ENOMEM: out of memory."""

    code = Code.ENOMEM


class InternalError(Error):
    """SVC_EINTERNAL: a bug in svc; the message says where."""

    code = Code.EINTERNAL


class Cancelled(Error):
    """SVC_ECANCELED: the operation was cancelled."""

    code = Code.ECANCELED


_BY_CODE: dict[int, type[Error]] = {
    cls.code: cls
    for cls in (
        InvalidArgument,
        PhaseError,
        UpstreamNotFound,
        AlreadyExists,
        ConfigError,
        NoPeerError,
        DNSError,
        ConnectError,
        Timeout,
        TLSError,
        ProtocolError,
        ClosedError,
        OutOfMemory,
        InternalError,
        Cancelled,
    )
}


def error_class(code: int) -> type[Error]:
    """The exception class for an svc_code (InternalError for an unknown one)."""
    return _BY_CODE.get(int(code), InternalError)
