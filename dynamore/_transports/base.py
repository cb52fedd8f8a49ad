"""What every transport shares: :class:`Response`, the :class:`Transport` protocol, and
:class:`BaseTransport`, which owns the life cycle (``with``, ``close``, forks) once for all.

A transport is one callable: the Client hands it every header already signed, the transport adds
``Content-Length``, sends ``POST /`` and returns a :class:`Response`. Failures become
:class:`~dynamore.exceptions.TransportError`, raised ``from`` the underlying error and split by
phase, because the phase decides what a retry may assume: no connection (refused, unreachable,
connect or TLS handshake timed out) is a :class:`~dynamore.exceptions.ConnectError`, and nothing
was sent; any failure once the request was on its way may follow its being applied (a timeout
waiting for the answer: :class:`~dynamore.exceptions.ResponseTimeout`).

Connections are never shared across processes: after ``fork`` a child drops every connection it
inherited, through an ``os.register_at_fork`` hook, and through an owner-pid check at the next
use for forks that skip the hook (a fork from C code).
"""

from __future__ import annotations

import _socket  # the C module: socket.py is not needed here (see native's docstring)
import abc
import os
from _weakrefset import WeakSet  # weakref.py's own source of WeakSet, without the rest of it
from collections import namedtuple

from dynamore._config import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_IDLE_TIME,
    DEFAULT_READ_TIMEOUT,
    Endpoint,
    positive_count,
    positive_seconds,
)
from dynamore.exceptions import ConnectError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NamedTuple, Protocol, TypeVar

__all__ = ["SOCKET_OPTIONS", "BaseTransport", "Response", "Transport", "certificate_refused"]


if TYPE_CHECKING:

    class _Response(NamedTuple):
        status: int
        headers: dict[str, str]
        body: bytes
        resent: bool = False

else:
    # collections.namedtuple at run time: typing.NamedTuple would import typing, which cost
    # every Lambda cold start ~4 ms; the type checker sees the same fields above.
    _Response = namedtuple("_Response", ["status", "headers", "body", "resent"], defaults=[False])
    Protocol = object


class Response(_Response):
    """An HTTP response: status, headers (names lower-cased) and the whole body; a named
    tuple ``(status, headers, body, resent)``.

    ``resent`` is True when the request was sent twice because a kept-alive connection died
    before answering: the first copy may have been applied, so a failed condition in this
    answer may be the request meeting its own earlier write.

    >>> Response(200, {"content-length": "2"}, b"{}").status
    200
    """

    __slots__ = ()


class Transport(Protocol):
    """What the Client needs from a transport: send one signed request, and close.

    ``headers`` are complete and signed (Host, Content-Type, X-Amz-Target, X-Amz-Date,
    Authorization, maybe X-Amz-Security-Token); the transport adds only ``Content-Length``.
    Tests can hand the Client any object with these two methods.

    >>> class Canned:
    ...     def send(self, headers, body):
    ...         return Response(200, {}, b"{}")
    ...     def close(self):
    ...         pass
    >>> Client(endpoint_url="http://127.0.0.1:8000", transport=Canned())  # doctest: +SKIP
    """

    def send(self, headers: dict[str, str], body: bytes) -> Response:
        """``POST /`` with ``headers`` and ``body``; raise TransportError when it fails."""
        ...

    def close(self) -> None:
        """Close every connection."""
        ...


def _socket_options() -> tuple[tuple[int, int, int], ...]:
    # No Nagle delay: requests and answers are small (botocore does the same). TCP keepalive,
    # probing after 15 s of silence, then every 5 s, 3 unanswered probes ending the
    # connection: a pooled connection whose peer or NAT entry vanished is found out (select()
    # then reports it) within half a minute, and the probes keep NAT entries of pooled
    # connections fresh. The tuning options have other names on macOS and may be refused by
    # an older system: each is kept only if a probe socket accepts it (else the system's
    # default applies), so that no connection ever fails over one.
    options = [
        (_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1),
        (_socket.SOL_SOCKET, _socket.SO_KEEPALIVE, 1),
    ]
    idle = getattr(_socket, "TCP_KEEPIDLE", None) or getattr(_socket, "TCP_KEEPALIVE", None)
    tuning = [
        (idle, 15),
        (getattr(_socket, "TCP_KEEPINTVL", None), 5),
        (getattr(_socket, "TCP_KEEPCNT", None), 3),
    ]
    options += [(_socket.IPPROTO_TCP, name, value) for name, value in tuning if name is not None]
    try:
        probe = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    except OSError:
        return tuple(options)
    kept = []
    try:
        for option in options:
            try:
                probe.setsockopt(*option)
            except OSError:
                continue
            kept.append(option)
    finally:
        probe.close()
    return tuple(kept)


#: ``setsockopt`` arguments of every connection either transport opens: TCP_NODELAY and TCP
#: keepalive (with its timings where the system lets them be set).
SOCKET_OPTIONS: tuple[tuple[int, int, int], ...] = _socket_options()


def certificate_refused(url: str, error: BaseException, trust: str) -> ConnectError:
    """The error for a TLS certificate that failed verification (``error`` is the
    ``ssl.SSLCertVerificationError``): nothing was sent; the message names the reason (an
    unknown CA, a host name the certificate does not cover, an expired certificate ...) and
    the CAs that were trusted, since that is what usually needs fixing."""
    reason = getattr(error, "verify_message", None) or str(error)
    return ConnectError(
        f"cannot connect to {url}: its TLS certificate was refused ({reason}); trusted CAs: {trust}"
    )


if TYPE_CHECKING:
    _T = TypeVar("_T", bound="BaseTransport")


class _Registered(abc.ABCMeta):
    """Registers each transport for the at-fork hook once its ``__init__`` has returned, the
    subclass's included: a fork during construction must not run the hooks of a half-built
    transport (they use state the subclass has not set yet)."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        transport = super().__call__(*args, **kwargs)
        _live.add(transport)
        return transport


class BaseTransport(metaclass=_Registered):
    """The life cycle every transport shares; subclasses write :meth:`send` and two hooks.

    The options every transport takes are checked here (each a number > 0, else
    ConfigurationError naming it) and kept as attributes: ``connect_timeout``,
    ``read_timeout`` (seconds), ``max_connections``, ``max_idle_time`` (seconds), with the
    parsed :class:`~dynamore._config.Endpoint` of ``url``. A subclass calls
    ``super().__init__`` first, then builds its own state.

    A transport is a context manager; :meth:`close` closes its connections, and a transport
    may still be used afterwards (it opens new ones). After ``fork``, the child's copy forgets
    the connections it inherited without touching them (they are the parent's), once: through
    the at-fork hook, or at its next use when a fork skipped the hook.
    """

    url: str

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_idle_time: float = DEFAULT_MAX_IDLE_TIME,
    ) -> None:
        self.endpoint = Endpoint.parse(url)
        self.url = url.rstrip("/")
        self.connect_timeout = positive_seconds("connect_timeout", connect_timeout)
        self.read_timeout = positive_seconds("read_timeout", read_timeout)
        self.max_connections = positive_count("max_connections", max_connections)
        self.max_idle_time = positive_seconds("max_idle_time", max_idle_time)
        self._pid = os.getpid()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"

    def __enter__(self: _T) -> _T:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @abc.abstractmethod
    def send(self, headers: dict[str, str], body: bytes) -> Response:
        """``POST /`` with the signed ``headers`` (plus ``Content-Length``) and ``body``."""

    def close(self) -> None:
        """Close every connection (a busy one as soon as its request ends)."""
        if self._pid != os.getpid():
            self._after_fork()  # nothing inherited is ours to close
            return
        self._close_connections()

    def _check_owner(self) -> None:
        """Before every use: a child forked without the at-fork hook drops what it inherited."""
        if self._pid != os.getpid():
            self._after_fork()

    def _after_fork(self) -> None:
        self._pid = os.getpid()
        self._forget_connections()

    @abc.abstractmethod
    def _close_connections(self) -> None:
        """Close this process's connections."""

    @abc.abstractmethod
    def _forget_connections(self) -> None:
        """In a forked child: start afresh without closing what the parent still uses (its
        locks may be held by parent threads that do not exist here)."""


# Every live transport, so that a forked child can drop what it inherited. Weak: registering
# must not keep a transport (and its sockets) alive.
_live: WeakSet[BaseTransport] = WeakSet()


def _forget_inherited_connections() -> None:
    for transport in list(_live):
        transport._after_fork()


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_forget_inherited_connections)
