"""The fallback transport: the same signed request sent through botocore's HTTP session.

Chosen by :func:`dynamore._http.make_transport` when the native transport would fall short:
an HTTP(S) proxy from the environment (with botocore's ``proxies_config`` settings: proxy CA
bundle, proxy client certificate, forwarding for https), a custom CA bundle
(``AWS_CA_BUNDLE``, the profile's ``ca_bundle``), client certificates. botocore (and urllib3)
are imported when this transport is built, never by ``import dynamore``.
"""

from __future__ import annotations

import os
import socket
from typing import Any, Optional, Union

from dynamore._http import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_READ_TIMEOUT,
    Response,
    _split_endpoint,
)
from dynamore.exceptions import ConfigurationError, ResponseTimeout, TransportError

__all__ = ["BotocoreTransport"]


class BotocoreTransport:
    """Send signed requests with ``botocore.httpsession.URLLib3Session``.

    Options left as ``None`` are resolved the way a botocore client resolves them:
    ``verify`` from ``AWS_CA_BUNDLE`` or the profile's ``ca_bundle``, then
    ``REQUESTS_CA_BUNDLE``, else the system store; ``proxies`` from the environment
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
        verify: Union[bool, str, None] = None,
        client_cert: Union[str, tuple[str, str], None] = None,
        proxies: Optional[dict[str, str]] = None,
        proxies_config: Optional[dict[str, Any]] = None,
        session: Any = None,
    ) -> None:
        scheme, _, _ = _split_endpoint(url)
        if max_connections < 1:
            raise ConfigurationError(f"max_connections must be at least 1, not {max_connections}")
        import botocore.exceptions
        from botocore.awsrequest import AWSPreparedRequest
        from botocore.httpsession import URLLib3Session
        from botocore.utils import get_environ_proxies

        self.url = url.rstrip("/")
        self._target = self.url + "/"
        self._request_cls = AWSPreparedRequest
        self._read_timeout_error = botocore.exceptions.ReadTimeoutError
        # HTTPClientError: failures mid-exchange; ConnectionError: connect, TLS, proxy failures.
        self._client_error = (
            botocore.exceptions.HTTPClientError,
            botocore.exceptions.ConnectionError,
        )
        self._config_error = botocore.exceptions.InvalidProxiesConfigError

        def config(name: str) -> Any:
            nonlocal session
            if session is None:
                import botocore.session

                session = botocore.session.Session()
            return session.get_config_variable(name)

        if verify is None and scheme == "https":
            verify = config("ca_bundle") or os.environ.get("REQUESTS_CA_BUNDLE") or True
        if proxies is None:
            proxies = dict(get_environ_proxies(url))
            # botocore looks up the proxy by scheme only; honour ALL_PROXY as the stdlib does.
            if scheme not in proxies and proxies.get("all"):
                proxies[scheme] = proxies["all"]
        if proxies_config is None and proxies.get(scheme):
            proxies_config = config("proxies_config")
        self._session = URLLib3Session(
            verify=True if verify is None else verify,
            proxies=proxies,
            timeout=(connect_timeout, read_timeout),
            max_pool_connections=max_connections,
            client_cert=client_cert,
            proxies_config=proxies_config,
            # As botocore's clients do: without TCP_NODELAY, headers and body go out as two
            # writes and Nagle + delayed ACK add ~40 ms to every request.
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        )

    def __repr__(self) -> str:
        return f"<BotocoreTransport {self.url}>"

    def __enter__(self) -> BotocoreTransport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def send(self, headers: dict[str, str], body: bytes) -> Response:
        """``POST /`` with the signed ``headers`` (plus ``Content-Length``) and ``body``."""
        all_headers = dict(headers)
        all_headers["Content-Length"] = str(len(body))
        request = self._request_cls(
            method="POST", url=self._target, headers=all_headers, body=body, stream_output=False
        )
        try:
            answer = self._session.send(request)
        except self._read_timeout_error as exc:
            raise ResponseTimeout(f"no complete response from {self.url}: {exc}") from exc
        except self._client_error as exc:
            raise TransportError(f"connection to {self.url} failed: {exc}") from exc
        except self._config_error as exc:
            raise ConfigurationError(f"bad proxy configuration: {exc}") from exc
        out: dict[str, str] = {}
        for name, value in answer.headers.items():
            name = name.lower()
            out[name] = f"{out[name]}, {value}" if name in out else value
        return Response(answer.status_code, out, answer.content)

    def close(self) -> None:
        """Close every pooled connection."""
        self._session.close()
