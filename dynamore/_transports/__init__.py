"""HTTP transports: one signed DynamoDB request in, status + headers + body out.

- :mod:`~dynamore._transports.base`: :class:`Response`, the :class:`Transport` protocol, and
  the life cycle (``with``, ``close``, forks) every transport shares;
- :mod:`~dynamore._transports.http11`: HTTP/1.1 framing without I/O (the response parser);
- :mod:`~dynamore._transports.native`: :class:`NativeTransport`, our keep-alive pool;
- :mod:`~dynamore._transports.botocore`: :class:`BotocoreTransport`, the same request through
  botocore's HTTP session, for proxies and client certificates;
- :mod:`~dynamore._transports.aio`: :class:`AioTransport`, the keep-alive pool on asyncio
  (an :class:`AsyncTransport`, built by :func:`make_async_transport`).

:func:`make_transport` picks one. Each implementation is imported when it is chosen, so the
native choice never loads botocore (nor ``urllib.request``).
"""

from __future__ import annotations

import os
import sys

from dynamore._config import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_IDLE_TIME,
    DEFAULT_READ_TIMEOUT,
)
from dynamore._transports.base import Response, Transport
from dynamore.exceptions import ConfigurationError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl
    from typing import Literal, Optional, Protocol, TypeAlias
else:
    Protocol = object  # typing only for the type checker (see base.Response)

__all__ = [
    "AsyncTransport",
    "Response",
    "Transport",
    "TransportKind",
    "make_async_transport",
    "make_transport",
    "proxy_applies",
]

#: The transports :func:`make_transport` (and the Client's ``transport=``) can build by name.
TransportKind: TypeAlias = 'Literal["auto", "native", "botocore"]'


class AsyncTransport(Protocol):
    """What the AsyncClient needs from a transport: :class:`Transport` with an async ``send``."""

    async def send(self, headers: dict[str, str], body: bytes) -> Response:
        """``POST /`` with ``headers`` and ``body``; raise TransportError when it fails."""
        ...

    def close(self) -> None:
        """Close every connection."""
        ...


def proxy_applies(url: str) -> bool:
    """True when an HTTP(S) proxy from the environment applies to ``url``.

    Looks at ``HTTPS_PROXY``/``HTTP_PROXY`` (by the URL's scheme) and ``ALL_PROXY``, any case,
    and honours ``NO_PROXY``; SOCKS proxies don't count (neither transport speaks SOCKS).
    Standard library only, so deciding costs no botocore import.

    >>> proxy_applies("http://127.0.0.1:8000")     # doctest: +SKIP
    False
    """
    if sys.platform not in ("darwin", "win32") and not any(
        name[-6:].lower() == "_proxy" for name in os.environ
    ):
        # The usual case, and Lambda's: no proxy variable at all. Deciding so without
        # importing urllib.request saves ~10 ms of cold start (elsewhere it also reads the
        # system settings, so it must be asked).
        return False
    import urllib.request
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme.lower()) or proxies.get("all")
    if not proxy:
        return False
    proxy_scheme = proxy.split("://", 1)[0].lower() if "://" in proxy else "http"
    if proxy_scheme not in ("http", "https"):
        return False
    try:
        return not urllib.request.proxy_bypass(parts.netloc)
    except Exception:  # a malformed NO_PROXY must not break the choice
        return True


def make_transport(
    url: str,
    *,
    kind: TransportKind = "auto",
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    max_idle_time: float = DEFAULT_MAX_IDLE_TIME,
    ssl_context: Optional[ssl.SSLContext] = None,
) -> Transport:
    """Build the transport for ``url``: ``"native"``, ``"botocore"`` or ``"auto"``.

    ``"auto"`` takes botocore's when a proxy from the environment applies to the endpoint
    (proxies need botocore's HTTP stack), else the native one. Both trust the same
    certificates: the configured CA bundle (``AWS_CA_BUNDLE`` > the profile's ``ca_bundle`` >
    ``REQUESTS_CA_BUNDLE``), else their default store. ``ssl_context`` is for the native
    transport only; the other options mean the same to both.

    >>> make_transport("http://127.0.0.1:8000")     # doctest: +SKIP
    <NativeTransport http://127.0.0.1:8000 idle=0 active=0>
    """
    if kind == "auto":
        kind = "botocore" if proxy_applies(url) else "native"
    if kind == "native":
        from dynamore._transports.native import NativeTransport

        return NativeTransport(
            url,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_connections=max_connections,
            max_idle_time=max_idle_time,
            ssl_context=ssl_context,
        )
    if kind == "botocore":
        if ssl_context is not None:
            raise ConfigurationError(
                "ssl_context applies to the native transport only; botocore's transport "
                "takes verify=/client_cert= (or AWS_CA_BUNDLE) instead"
            )
        from dynamore._transports.botocore import BotocoreTransport

        return BotocoreTransport(
            url,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_connections=max_connections,
            max_idle_time=max_idle_time,
        )
    raise ConfigurationError(f"transport kind must be 'auto', 'native' or 'botocore', not {kind!r}")


def make_async_transport(
    url: str,
    *,
    kind: str = "auto",
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    max_idle_time: float = DEFAULT_MAX_IDLE_TIME,
    ssl_context: Optional[ssl.SSLContext] = None,
) -> AsyncTransport:
    """The asyncio transport for ``url`` (``kind`` ``"auto"`` or ``"native"``: there is one;
    it does not go through proxies). Options as for :func:`make_transport`."""
    if kind not in ("auto", "native"):
        raise ConfigurationError(
            f"transport kind of an AsyncClient must be 'auto' or 'native', not {kind!r} "
            "(botocore's transport blocks)"
        )
    from dynamore._transports.aio import AioTransport

    return AioTransport(
        url,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        max_connections=max_connections,
        max_idle_time=max_idle_time,
        ssl_context=ssl_context,
    )
