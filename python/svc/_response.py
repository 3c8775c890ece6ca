"""The response of send mode (``Request.send``): :class:`Response` and its
:class:`Headers`.

Both are built by the extension (``svc._svc``) from an ``svc_response`` and
hold plain Python values: nothing refers back to C memory.
"""

from __future__ import annotations

from typing import NamedTuple, Optional, TypeVar, Union, overload

from ._svc import Peer

__all__ = ["Headers", "Response"]

_T = TypeVar("_T")


class Headers(list):  # type: ignore[type-arg]  # list[tuple[str, str]] (3.9: no generic subclass)
    """The response headers: a ``list`` of ``(name, value)`` tuples in the
    order received (names as the server spelled them, repeats kept), with
    case-insensitive look-ups. Values are decoded as UTF-8, or as Latin-1
    when they are not valid UTF-8."""

    __slots__ = ()

    @overload
    def get(self, name: str) -> Optional[str]: ...
    @overload
    def get(self, name: str, default: _T) -> Union[str, _T]: ...

    def get(self, name: str, default: object = None) -> object:
        """The first value of header ``name`` (any case), else ``default``."""
        lower = name.lower()
        for n, v in self:
            if n.lower() == lower:
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        """Every value of header ``name`` (any case), in order."""
        lower = name.lower()
        return [v for n, v in self if n.lower() == lower]

    def __repr__(self) -> str:
        return f"Headers({list.__repr__(self)})"


class Response(NamedTuple):
    """One HTTP/1.1 response from :meth:`Request.send`.

    * ``status``: the status code (``int``).
    * ``headers``: :class:`Headers`, the ``(name, value)`` pairs in order;
      ``headers.get("content-type")`` looks one up in any case.
    * ``body``: the body (``bytes``), chunked encoding removed.
    * ``peer``: the :class:`Peer` that answered (``ip``, ``port`` of the try
      that succeeded, ``host`` as sent in the Host header and SNI).
    """

    status: int
    headers: Headers
    body: bytes
    peer: Peer
