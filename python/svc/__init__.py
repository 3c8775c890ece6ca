"""svc: an embeddable upstream-connection engine with the semantics of Kong
Gateway's ``kong.service`` module and balancer, over the stable C ABI of
libsvc (``svc.h``).

Quick start::

    import svc

    with svc.Engine() as engine:
        engine.upsert_upstream({"name": "api"})
        engine.add_target("api", "10.0.0.1:8080", weight=100)
        with engine.request() as req:
            req.set_upstream("api")
            peer = req.pick()              # Peer(ip='10.0.0.1', port=8080, host='10.0.0.1')
            ...                            # do the I/O
            req.report(svc.Outcome.HTTP, http_status=200, latency_us=1500)

Connect mode: svc picks the peer, connects, performs the TLS handshake and
retries; the caller speaks the protocol::

    with engine.request() as req:
        req.set_upstream("api")
        req.set_scheme("https")
        with req.connect() as conn:        # a Connection
            conn.send(b"GET / HTTP/1.1\r\nHost: api\r\n\r\n")
            data = conn.recv(65536)        # b"" at EOF
        # the block ended normally: the connection went back to the keepalive
        # pool (release(True)); had it raised, it would have been closed

* ``Connection.release(reusable=True)`` hands it back to the pool (and reports
  the try as a success); ``close()`` is ``release(False)``, idempotent. After
  either, every method and property raises :class:`ClosedError`, except
  ``close()``, ``cancel()`` and ``closed``. A Connection dropped without
  release is closed, never pooled.
* ``Request.cancel()`` and ``Connection.cancel()`` may be called from any
  thread to interrupt a blocked ``connect()`` / ``send()`` / ``recv()``, which
  then raises :class:`Cancelled`; ``close()`` from another thread does the same.
* ``Request.on_balancer(callback)``: ``callback(request)`` runs on the thread
  that called ``connect()``, once per try, after the pick (``request.peer``,
  ``request.tries``) and before connecting; it may call the TLS setters to set
  that try's policy. If it raises, the connect stops and raises the
  :class:`Error` subclass of the code (an :class:`Error` keeps its code, any
  other exception becomes :class:`InternalError` with its ``repr()``), message
  ``"balancer callback failed on try N: ..."``, with the callback's exception
  as ``__cause__``; ``KeyboardInterrupt`` and ``SystemExit`` propagate as they
  are. It must not call ``connect``, ``send``, ``pick``, ``report``, ``close``
  or ``on_balancer`` of its own request (``RuntimeError``). It runs for
  ``send()`` exactly as for ``connect()``.

Send mode: svc also speaks HTTP/1.1 -- one request, one response, with the
same retries, pooling, TLS policy, passive health and balancer callback::

    with engine.request() as req:
        req.set_upstream("api")
        res = req.send("POST", "/items", {"Content-Type": "application/json"}, b'{"a": 1}')
        res.status                         # 201
        res.headers.get("content-type")    # case-insensitive; res.headers is a list of (name, value)
        res.body                           # bytes, chunked encoding removed
        res.peer                           # Peer(ip, port, host) that answered

* ``headers`` is a mapping or an iterable of ``(name, value)`` pairs of
  ``str``; ``Host`` defaults to the peer's host (with the port unless it is
  the scheme's default); ``Connection``, ``Content-Length`` and
  ``Transfer-Encoding`` are managed by svc and refused (:class:`InvalidArgument`),
  as is a CR, LF or NUL anywhere in a header. ``body`` is bytes-like or ``str``
  (sent as UTF-8).
* A try is retried on another peer when no byte of the response came back:
  after connection failures and timeouts always, after a reset or close only
  for idempotent methods. The response limits are the engine options
  ``limits.max_header_bytes`` / ``limits.max_body_bytes`` (:class:`ProtocolError`).

Argument rules (every function):

* A wrong Python type (``None`` where a value is required, an ``int`` for a
  ``str``, a ``float`` for an ``int``) raises ``TypeError`` before any C call.
  ``None`` is accepted only where the C API takes NULL (``address``,
  ``passphrase``, ``name``, ``value``, engine ``options``) and by ``on_health`` /
  ``on_log`` (unsubscribe).
* A value the binding cannot hand to C (a NUL character in a name, text that
  cannot be encoded as UTF-8, an integer outside the C ``int`` range) raises
  :class:`InvalidArgument`, which is a ``ValueError``.
* Anything the C library rejects raises the :class:`Error` subclass of its
  code, with the C message unchanged (``str(e)``) and ``e.code``.
* Names (upstream, target, host, scheme, address) are ``str``; content (PEM,
  JSON/YAML documents, hash keys, hash input values) is ``str`` or ``bytes``.

Threads: an :class:`Engine` and TLS material may be shared by any number of
threads; a :class:`Request` or :class:`Connection` is used by one thread at a
time (concurrent use is serialised), except ``cancel()`` and ``close()``.
Calls that can block (``connect``, ``send``, ``recv``, ...) release the GIL. Callbacks run on an engine
thread; an exception they raise goes to ``sys.unraisablehook``.
"""

from __future__ import annotations

from . import _svc
from ._errors import (
    AlreadyExists,
    Cancelled,
    ClosedError,
    ConfigError,
    ConnectError,
    DNSError,
    Error,
    InternalError,
    InvalidArgument,
    NoPeerError,
    OutOfMemory,
    PhaseError,
    ProtocolError,
    TLSError,
    Timeout,
    UpstreamNotFound,
)
from ._response import Headers, Response
from ._svc import (
    CertChain,
    Code,
    Connection,
    Engine,
    HashOn,
    Outcome,
    Peer,
    Phase,
    PrivateKey,
    Request,
    TrustStore,
    code_name,
)

try:
    from ._version import __version__
except ImportError:  # pragma: no cover - only without a build (source tree)
    from importlib.metadata import version as _dist_version

    __version__ = _dist_version("svc")

if _svc.version() != __version__:
    raise ImportError(
        f"svc: the loaded libsvc is version {_svc.version()}, "
        f"but this package was built for {__version__}"
    )


def version() -> str:
    """The C library's version (``svc_version()``), equal to ``__version__``."""
    return _svc.version()


__all__ = [
    "__version__",
    "version",
    "code_name",
    # objects
    "Engine",
    "Request",
    "Connection",
    "Response",
    "Headers",
    "Peer",
    "CertChain",
    "PrivateKey",
    "TrustStore",
    # enums
    "Code",
    "Phase",
    "Outcome",
    "HashOn",
    # errors
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
]
