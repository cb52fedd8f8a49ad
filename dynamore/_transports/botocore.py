"""The fallback transport: the same signed request sent through botocore's HTTP session.

Chosen by :func:`dynamore._transports.make_transport` when the native transport would fall short:
an HTTP(S) proxy from the environment (with botocore's ``proxies_config`` settings: proxy CA
bundle, proxy client certificate, forwarding for https), client certificates. botocore (and
urllib3) are imported when this transport is built, never by ``import dynamore``.

It keeps the native transport's rules where urllib3 lets it: the same CA bundle settings, TCP
keepalive, connect failures as :class:`~dynamore.exceptions.ConnectError`, no connection used
across a fork (the child starts a new session and leaves the inherited one alone). urllib3
keeps no idle time per connection, so the idle limit applies to the pool as a whole: after
``max_idle_time`` without any request, every pooled connection is closed before the next one.
"""

from __future__ import annotations

import os
import ssl
import time
from typing import Any, Callable, Optional, Union

from dynamore._config import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_IDLE_TIME,
    DEFAULT_READ_TIMEOUT,
    resolve_ca_bundle,
)
from dynamore._log import debug
from dynamore._transports.base import (
    SOCKET_OPTIONS,
    BaseTransport,
    Response,
    certificate_refused,
)
from dynamore.exceptions import (
    ConfigurationError,
    ConnectError,
    ResponseTimeout,
    TransportError,
)

__all__ = ["BotocoreTransport"]


def _certificate_error(error: BaseException) -> Optional[BaseException]:
    """The certificate verification failure behind a botocore error, if that is what it is:
    ``ssl.SSLCertVerificationError`` (an unknown CA ...) or urllib3's own ``CertificateError``
    (the host name of an IP address endpoint), found through the causes and arguments."""
    seen: list[BaseException] = [error]
    for current in seen:
        if isinstance(current, ssl.SSLCertVerificationError) or (
            type(current).__name__ == "CertificateError"
        ):
            return current
        nested = [current.__cause__, current.__context__, *current.args]
        nested.append(getattr(current, "kwargs", {}).get("error"))
        seen.extend(e for e in nested if isinstance(e, BaseException) and e not in seen)
    return None


class BotocoreTransport(BaseTransport):
    """Send signed requests with ``botocore.httpsession.URLLib3Session``.

    Options left as ``None`` are resolved the way a botocore client resolves them:
    ``verify`` from ``AWS_CA_BUNDLE`` or the profile's ``ca_bundle``, then
    ``REQUESTS_CA_BUNDLE``, else botocore's default bundle; ``proxies`` from the environment
    (``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY``, honouring ``NO_PROXY``);
    ``proxies_config`` from the profile's ``proxies_config`` section. ``client_cert`` is a
    path, or a (certificate, key) pair of paths. ``session`` is the botocore session to read
    that configuration from (a new one when needed).

    >>> transport = BotocoreTransport("https://dynamodb.eu-west-1.amazonaws.com")  # doctest: +SKIP
    >>> transport.send(signed_headers, body).status                                # doctest: +SKIP
    200
    """

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_idle_time: float = DEFAULT_MAX_IDLE_TIME,
        verify: Union[bool, str, None] = None,
        client_cert: Union[str, tuple[str, str], None] = None,
        proxies: Optional[dict[str, str]] = None,
        proxies_config: Optional[dict[str, Any]] = None,
        session: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            url,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_connections=max_connections,
            max_idle_time=max_idle_time,
        )
        scheme = self.endpoint.scheme
        timeout = (self.connect_timeout, self.read_timeout)
        import botocore.exceptions
        from botocore.awsrequest import AWSPreparedRequest
        from botocore.httpsession import URLLib3Session
        from botocore.utils import get_environ_proxies

        self._target = self.url + "/"
        self._request_cls = AWSPreparedRequest
        self._read_timeout_error = botocore.exceptions.ReadTimeoutError
        # No connection was made: nothing of the request was sent. (An SSLError is not among
        # them: urllib3 raises it for a failed handshake and a broken stream alike.)
        self._connect_errors = (
            botocore.exceptions.EndpointConnectionError,
            botocore.exceptions.ConnectTimeoutError,
            botocore.exceptions.ProxyConnectionError,
        )
        # HTTPClientError: failures mid-exchange; ConnectionError: the rest (TLS ...).
        self._client_error = (
            botocore.exceptions.HTTPClientError,
            botocore.exceptions.ConnectionError,
        )
        self._config_error = botocore.exceptions.InvalidProxiesConfigError

        self._trust = "botocore's CA bundle" if verify in (None, True) else f"verify={verify}"
        if verify is None and scheme == "https":
            bundle = resolve_ca_bundle(session)
            if bundle is not None:
                path, source = bundle
                if not os.path.exists(path):
                    raise ConfigurationError(f"{source}={path!r} cannot be loaded: no such file")
                verify = path
                self._trust = f"{source}={path}"
        if proxies is None:
            proxies = dict(get_environ_proxies(url))
            # botocore looks up the proxy by scheme only; honour ALL_PROXY as the stdlib does.
            if scheme not in proxies and proxies.get("all"):
                proxies[scheme] = proxies["all"]
        if proxies_config is None and proxies.get(scheme):
            if session is None:
                import botocore.session

                session = botocore.session.Session()
            proxies_config = session.get_config_variable("proxies_config")
        self._session_cls = URLLib3Session
        self._settings: dict[str, Any] = {
            "verify": True if verify is None else verify,
            "proxies": proxies,
            "timeout": timeout,
            "max_pool_connections": max_connections,
            "client_cert": client_cert,
            "proxies_config": proxies_config,
            # As botocore's clients do: without TCP_NODELAY, headers and body go out as two
            # writes and Nagle + delayed ACK add ~40 ms to every request. Keepalive as ours.
            "socket_options": list(SOCKET_OPTIONS),
        }
        self._session = URLLib3Session(**self._settings)
        self._clock = clock
        self._last_used = clock()

    def _forget_connections(self) -> None:
        # The session's pooled sockets are the parent's too, and its locks may be held by
        # parent threads that do not exist here. Leave it alone (neither closed nor used:
        # closing could block on such a lock) and start a new one.
        self._session = self._session_cls(**self._settings)

    def send(self, headers: dict[str, str], body: bytes) -> Response:
        """``POST /`` with the signed ``headers`` (plus ``Content-Length``) and ``body``."""
        self._check_owner()
        idle = self._clock() - self._last_used
        if idle >= self.max_idle_time:
            debug(
                "%s: closing the pool, idle for %.1f s (max_idle_time %s s)",
                self.url,
                idle,
                self.max_idle_time,
            )
            self._session.close()  # every pooled connection has been idle that long
        all_headers = dict(headers)
        all_headers["Content-Length"] = str(len(body))
        request = self._request_cls(
            method="POST", url=self._target, headers=all_headers, body=body, stream_output=False
        )
        try:
            answer = self._session.send(request)
        except self._read_timeout_error as exc:
            raise ResponseTimeout(f"no complete response from {self.url}: {exc}") from exc
        except self._connect_errors as exc:
            raise ConnectError(f"cannot connect to {self.url}: {exc}") from exc
        except self._client_error as exc:
            refused = _certificate_error(exc)
            if refused is not None:
                raise certificate_refused(self.url, refused, self._trust) from exc
            raise TransportError(f"connection to {self.url} failed: {exc}") from exc
        except self._config_error as exc:
            raise ConfigurationError(f"bad proxy configuration: {exc}") from exc
        finally:
            self._last_used = self._clock()
        out: dict[str, str] = {}
        for name, value in answer.headers.items():
            name = name.lower()
            out[name] = f"{out[name]}, {value}" if name in out else value
        return Response(answer.status_code, out, answer.content)

    def _close_connections(self) -> None:
        self._session.close()
