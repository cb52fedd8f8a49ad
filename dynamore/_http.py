"""HTTP transports: one signed DynamoDB request in, status + headers + body out.

A transport is one callable (:class:`Transport`): the Client hands it every header already
signed, the transport adds ``Content-Length``, sends ``POST /`` and returns a :class:`Response`.

:class:`NativeTransport` is our own keep-alive HTTP/1.1 client over ``socket``/``ssl``: a
bounded, thread-safe pool of connections, one ``sendall`` per request and, for the usual small
DynamoDB answer, one ``recv`` and one split of the header block. Measured against DynamoDB
Local on a kept-alive connection (GetItem, CPU per request): ~25 µs, against ~95 µs for
``http.client`` and ~220 µs for botocore's session.
:class:`dynamore._botocore_transport.BotocoreTransport` sends the same request through
botocore's HTTP session, for proxies and custom CA bundles; :func:`make_transport` picks one.

Failures become :class:`~dynamore.exceptions.TransportError`, raised ``from`` the ``OSError``
and split by phase, because the phase decides what a retry may assume: no connection (refused,
unreachable, connect or TLS handshake timed out) is a :class:`~dynamore.exceptions.ConnectError`,
and nothing was sent; any failure once the request was on its way may follow its being applied
(a timeout waiting for the answer: :class:`~dynamore.exceptions.ResponseTimeout`). Whether to
try again is the retry policy's decision, with one exception made here: a request on a *reused*
connection that fails before any response byte arrived is resent at once on a new connection,
because that is how a server's close of an idle kept-alive connection shows up.

Connections are never shared across processes and never reused after a long idle time: after
``fork`` a child drops every connection it inherited (an ``os.register_at_fork`` hook, and an
owner-pid check at checkout for forks that skip the hook), closing only its own descriptor, so
the parent's connection and TLS session carry on untouched; a connection idle longer than
``max_idle_time`` is closed rather than reused, since a NAT, a firewall or a frozen Lambda may
have dropped it silently (a request on it would wait the whole read timeout). TCP keepalive is
on, with probes after 15 s of silence.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import ssl
import sys
import threading
import time
import weakref
from types import TracebackType
from typing import Any, Callable, NamedTuple, Optional, Protocol
from urllib.parse import urlsplit

from dynamore._config import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_IDLE_TIME,
    DEFAULT_READ_TIMEOUT,
    Endpoint,
    positive_count,
    positive_seconds,
    resolve_ca_bundle,
)
from dynamore.exceptions import (
    ConfigurationError,
    ConnectError,
    ResponseTimeout,
    TransportError,
    ValidationError,
)

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_MAX_IDLE_TIME",
    "DEFAULT_READ_TIMEOUT",
    "SOCKET_OPTIONS",
    "NativeTransport",
    "Response",
    "Transport",
    "make_transport",
    "proxy_applies",
    "track_forks",
]


# One recv of this size holds any ordinary DynamoDB answer (head + body) whole.
_RECV_SIZE = 65536
_MAX_HEAD = 65536


def _socket_options() -> tuple[tuple[int, int, int], ...]:
    # No Nagle delay: requests and answers are small (botocore does the same). TCP keepalive,
    # probing after 15 s of silence, then every 5 s, 3 unanswered probes ending the
    # connection: a pooled connection whose peer or NAT entry vanished is found out (select()
    # then reports it) within half a minute, and the probes keep NAT entries of pooled
    # connections fresh. The tuning options have other names on macOS and may be refused by
    # an older system: each is kept only if a probe socket accepts it (else the system's
    # default applies), so that no connection ever fails over one.
    options = [
        (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),
        (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1),
    ]
    idle = getattr(socket, "TCP_KEEPIDLE", None) or getattr(socket, "TCP_KEEPALIVE", None)
    tuning = [
        (idle, 15),
        (getattr(socket, "TCP_KEEPINTVL", None), 5),
        (getattr(socket, "TCP_KEEPCNT", None), 3),
    ]
    options += [(socket.IPPROTO_TCP, name, value) for name, value in tuning if name is not None]
    try:
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    except OSError:
        return tuple(options)
    kept = []
    with probe:
        for option in options:
            try:
                probe.setsockopt(*option)
            except OSError:
                continue
            kept.append(option)
    return tuple(kept)


#: ``setsockopt`` arguments of every connection either transport opens: TCP_NODELAY and TCP
#: keepalive (with its timings where the system lets them be set).
SOCKET_OPTIONS: tuple[tuple[int, int, int], ...] = _socket_options()


class _ForkAware(Protocol):
    def _after_fork(self) -> None: ...


# Every live transport, so that a forked child can drop what it inherited. Weak: registering
# must not keep a transport (and its sockets) alive.
_transports: weakref.WeakSet[_ForkAware] = weakref.WeakSet()


def _forget_inherited_connections() -> None:
    for transport in list(_transports):
        transport._after_fork()


def track_forks(transport: _ForkAware) -> None:
    """Have ``transport._after_fork()`` called in the child after every ``os.fork``."""
    _transports.add(transport)


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_forget_inherited_connections)


def _abandon(sock: socket.socket) -> None:
    """Let go of a socket another process also holds: close our descriptor only. No shutdown
    (that would end the other process's connection), no TLS close_notify (``detach`` drops
    the TLS state without a word); the peer sees nothing while the other process keeps it."""
    with contextlib.suppress(OSError):
        fd = sock.detach()
        if fd >= 0:
            os.close(fd)


def _default_ssl_context() -> ssl.SSLContext:
    """A verifying client context trusting the configured CA bundle (``AWS_CA_BUNDLE`` >
    the profile's ``ca_bundle`` > ``REQUESTS_CA_BUNDLE``), else the system's store."""
    bundle = resolve_ca_bundle()
    if bundle is None:
        return ssl.create_default_context()
    path, source = bundle
    try:
        if os.path.isdir(path):
            return ssl.create_default_context(capath=path)
        return ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(f"{source}={path!r} cannot be loaded: {exc}") from exc


class Response(NamedTuple):
    """An HTTP response: status, headers (names lower-cased) and the whole body.

    ``resent`` is True when the request was sent twice because a kept-alive connection died
    before answering: the first copy may have been applied, so a failed condition in this
    answer may be the request meeting its own earlier write.
    """

    status: int
    headers: dict[str, str]
    body: bytes
    resent: bool = False


class Transport(Protocol):
    """What the Client needs from a transport: send one signed request, and close.

    ``headers`` are complete and signed (Host, Content-Type, X-Amz-Target, X-Amz-Date,
    Authorization, maybe X-Amz-Security-Token); the transport adds only ``Content-Length``.
    Tests can hand the Client any object with these two methods.
    """

    def send(self, headers: dict[str, str], body: bytes) -> Response:
        """``POST /`` with ``headers`` and ``body``; raise TransportError when it fails."""
        ...

    def close(self) -> None:
        """Close every connection."""
        ...


def _split_endpoint(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an endpoint URL, validated as :class:`Endpoint` does."""
    endpoint = Endpoint.parse(url)
    return endpoint.scheme, endpoint.host, endpoint.port


def _is_dropped(sock: socket.socket) -> bool:
    """True when an idle kept-alive socket is readable: EOF (the server closed it) or bytes
    nobody asked for. Either way it must not carry the next request."""
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    # select() with a zero timeout works on every platform (poll() is missing on Windows).
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)


class _Buffered:
    """A read buffer over a socket, for the rare response shapes (chunked, until-EOF)."""

    __slots__ = ("buf", "pos", "sock")

    def __init__(self, sock: socket.socket, data: bytes) -> None:
        self.sock = sock
        self.buf = bytearray(data)
        self.pos = 0

    def _fill(self) -> bool:
        more = self.sock.recv(_RECV_SIZE)
        if not more:
            return False
        if self.pos > _RECV_SIZE:
            del self.buf[: self.pos]
            self.pos = 0
        self.buf += more
        return True

    def line(self) -> bytes:
        while True:
            end = self.buf.find(b"\r\n", self.pos)
            if end >= 0:
                line = bytes(self.buf[self.pos : end])
                self.pos = end + 2
                return line
            if len(self.buf) - self.pos > _MAX_HEAD:
                raise TransportError("malformed chunked response: line too long")
            if not self._fill():
                raise TransportError("connection closed in the middle of a chunked response")

    def exact(self, n: int) -> bytes:
        while len(self.buf) - self.pos < n:
            if not self._fill():
                raise TransportError("connection closed in the middle of a chunked response")
        data = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        return data

    def rest(self) -> bytes:
        while self._fill():
            pass
        data = bytes(self.buf[self.pos :])
        self.pos = len(self.buf)
        return data

    def leftover(self) -> int:
        return len(self.buf) - self.pos


def _read_chunked(sock: socket.socket, data: bytes) -> tuple[bytes, bool]:
    """Body of a chunked response, and whether nothing followed it (so the socket is clean)."""
    reader = _Buffered(sock, data)
    out = bytearray()
    while True:
        size_text = reader.line().split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise TransportError(f"malformed chunk size {size_text[:20]!r}") from None
        if size == 0:
            break
        out += reader.exact(size)
        if reader.exact(2) != b"\r\n":
            raise TransportError("malformed chunked response: no CRLF after a chunk")
    while reader.line():  # trailer fields, ended by an empty line
        pass
    return bytes(out), reader.leftover() == 0


def _read_exact(sock: socket.socket, part: bytes, n: int) -> bytes:
    """``n`` body bytes: ``part`` already received, the rest read straight into one buffer."""
    out = bytearray(n)
    pos = len(part)
    out[:pos] = part
    view = memoryview(out)
    try:
        while pos < n:
            got = sock.recv_into(view[pos:], n - pos)
            if not got:
                raise TransportError(f"connection closed after {pos} of {n} body bytes")
            pos += got
    finally:
        view.release()
    return bytes(out)


def _read_response(sock: socket.socket, buf: bytes) -> tuple[Response, bool]:
    """Parse the response whose first bytes are ``buf``; read the rest from ``sock``.

    Returns the response and whether the connection may carry another request.
    """
    while True:
        end = buf.find(b"\r\n\r\n")
        while end < 0:
            if len(buf) > _MAX_HEAD:
                raise TransportError("response head larger than 64 KiB")
            more = sock.recv(_RECV_SIZE)
            if not more:
                raise TransportError("connection closed in the middle of the response head")
            start = len(buf) - 3
            buf += more
            end = buf.find(b"\r\n\r\n", start if start > 0 else 0)
        # One decode and one split for the whole head: far cheaper than line-by-line reads.
        lines = buf[:end].decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        try:
            status = int(rest[:3])
        except ValueError:
            status = 0
        if not version.startswith("HTTP/1.") or status < 100:
            raise TransportError(f"malformed status line {lines[0][:80]!r}")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise TransportError(f"malformed header line {line[:80]!r}")
            name = name.lower()
            value = value.strip()
            if name in headers:
                headers[name] += ", " + value
            else:
                headers[name] = value
        buf = buf[end + 4 :]
        if status >= 200 or status == 101:
            break
        # 1xx interim answer (100 Continue, 103 Early Hints): the real one follows.

    connection = headers.get("connection")
    if version == "HTTP/1.1":
        keep = connection is None or "close" not in connection.lower()
    else:
        keep = connection is not None and "keep-alive" in connection.lower()

    if status in (204, 304):
        return Response(status, headers, b""), keep and not buf
    encoding = headers.get("transfer-encoding")
    if encoding is not None:
        if "chunked" not in encoding.lower():
            raise TransportError(f"unsupported transfer-encoding {encoding!r}")
        body, clean = _read_chunked(sock, buf)
        return Response(status, headers, body), keep and clean
    length_text = headers.get("content-length")
    if length_text is None:
        # No length: the body runs to EOF (HTTP/1.0 style), and the connection is spent.
        return Response(status, headers, _Buffered(sock, buf).rest()), False
    try:
        length = int(length_text)
    except ValueError:
        length = -1
    if length < 0:
        raise TransportError(f"malformed content-length {length_text[:40]!r}")
    have = len(buf)
    if have == length:
        return Response(status, headers, buf), keep
    if have > length:
        # Bytes beyond the body: the stream is out of step, so never reuse it.
        return Response(status, headers, buf[:length]), False
    return Response(status, headers, _read_exact(sock, buf, length)), keep


class NativeTransport:
    """Keep-alive HTTP/1.1 over ``socket``/``ssl``, with a bounded, thread-safe pool.

    At most ``max_connections`` sockets exist at once; callers beyond that wait until one is
    returned. ``https`` endpoints verify certificates and send SNI, against ``ssl_context``
    when given, else the configured CA bundle (``AWS_CA_BUNDLE`` > the profile's ``ca_bundle``
    > ``REQUESTS_CA_BUNDLE``, as botocore's transport) or the system's store.
    ``read_timeout`` bounds each wait for response bytes (as botocore's ``read_timeout``
    does); when it passes, :class:`~dynamore.exceptions.ResponseTimeout` is raised and the
    socket is discarded. A connection unused for ``max_idle_time`` seconds (by ``clock``) is
    closed instead of reused. ``close()`` closes every idle socket at once and every busy one
    as it is returned; a transport may still be used afterwards (it opens new connections).

    >>> transport = NativeTransport("http://127.0.0.1:8000")     # doctest: +SKIP
    >>> transport.send(signed_headers, b"{}").status              # doctest: +SKIP
    200
    >>> transport                                                 # doctest: +SKIP
    <NativeTransport http://127.0.0.1:8000 idle=1 active=0>
    """

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_idle_time: float = DEFAULT_MAX_IDLE_TIME,
        ssl_context: Optional[ssl.SSLContext] = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        scheme, host, port = _split_endpoint(url)
        self._connect_timeout = positive_seconds("connect_timeout", connect_timeout)
        self._read_timeout = positive_seconds("read_timeout", read_timeout)
        self._max = positive_count("max_connections", max_connections)
        self.max_idle_time = positive_seconds("max_idle_time", max_idle_time)
        if ssl_context is not None and scheme != "https":
            raise ConfigurationError(f"ssl_context given for a plain http endpoint {url!r}")
        self.url = url.rstrip("/")
        self._address = (host, port)
        self._host = host
        self._ssl_context: Optional[ssl.SSLContext] = None
        if scheme == "https":
            self._ssl_context = ssl_context or _default_ssl_context()
        self._clock = clock
        self._reset_pool()
        # Bumped by close(): a busy socket from an older generation is closed on return.
        self._generation = 0
        track_forks(self)

    def _reset_pool(self) -> None:
        """A new, empty pool, owned by this process (construction, and after a fork)."""
        self._pid = os.getpid()
        self._cond = threading.Condition(threading.Lock())
        # (socket, clock() when it was returned), oldest first.
        self._idle: list[tuple[socket.socket, float]] = []
        # Every socket this transport has open, idle or busy: what a forked child must drop.
        self._open: set[socket.socket] = set()
        self._active = 0
        self._waiting = 0

    def _after_fork(self) -> None:
        # In a new child: every socket here is the parent's too. The lock may have been held
        # by a parent thread that does not exist here, so it is replaced, not taken; busy
        # sockets belong to such threads and will never be returned.
        inherited = list(self._open)
        self._reset_pool()
        self._generation += 1
        for sock in inherited:
            _abandon(sock)

    @property
    def idle(self) -> int:
        """Number of open connections waiting in the pool."""
        return len(self._idle)

    @property
    def active(self) -> int:
        """Number of connections carrying a request right now."""
        return self._active

    @property
    def waiting(self) -> int:
        """Number of callers blocked until a connection is free (the pool is at its bound)."""
        return self._waiting

    def __repr__(self) -> str:
        return f"<NativeTransport {self.url} idle={self.idle} active={self.active}>"

    def __enter__(self) -> NativeTransport:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close every idle connection now, and every busy one when its request ends."""
        if self._pid != os.getpid():
            self._after_fork()  # nothing here is ours to close
            return
        with self._cond:
            idle, self._idle = self._idle, []
            self._generation += 1
            self._cond.notify_all()
        for sock, _ in idle:
            self._close(sock)

    def send(self, headers: dict[str, str], body: bytes) -> Response:
        """``POST /`` with the signed ``headers`` (plus ``Content-Length``) and ``body``."""
        lines = "".join([f"{name}: {value}\r\n" for name, value in headers.items()])
        if lines.count("\n") != len(headers) or lines.count("\r") != len(headers):
            raise ValidationError("headers", "a header name or value contains CR or LF")
        try:
            head = f"POST / HTTP/1.1\r\n{lines}Content-Length: {len(body)}\r\n\r\n".encode(
                "latin-1"
            )
        except UnicodeEncodeError:
            raise ValidationError("headers", "a header is not latin-1 text") from None
        # One sendall of head + body: with TCP_NODELAY, two writes would mean two segments.
        data = head + body if len(body) < _RECV_SIZE else None

        sock, generation, reused = self._acquire()
        keep = False
        resent = False
        try:
            first = self._start(sock, data, head, body, reused)
            if not first:
                resent = True
                # The reused connection was dead before it answered: the server closed it
                # while idle. Resend once on a fresh connection (the slot stays ours).
                self._close(sock)
                try:
                    sock = self._connect()
                except ConnectError as exc:
                    # Not "nothing sent": the first copy left on the dead connection.
                    raise TransportError(
                        f"{exc} (resending after the kept-alive connection failed)"
                    ) from exc
                first = self._start(sock, data, head, body, False)
            try:
                response, keep = _read_response(sock, first)
            except socket.timeout as exc:
                raise ResponseTimeout(
                    f"no complete response from {self.url} within {self._read_timeout} s"
                ) from exc
            except OSError as exc:
                raise TransportError(
                    f"connection to {self.url} failed mid-response: {exc}"
                ) from exc
        finally:
            self._release(sock, generation, keep)
        return response._replace(resent=True) if resent else response

    def _start(
        self, sock: socket.socket, data: Optional[bytes], head: bytes, body: bytes, reused: bool
    ) -> bytes:
        """Send the request and return the first response bytes; b"" when a reused
        connection turned out dead before any response byte (the caller resends)."""
        try:
            if data is not None:
                sock.sendall(data)
            else:
                sock.sendall(head)
                sock.sendall(body)
            first = sock.recv(_RECV_SIZE)
        # socket.timeout is TimeoutError from Python 3.10 on, a separate OSError before.
        except socket.timeout as exc:
            raise ResponseTimeout(
                f"no response from {self.url} within {self._read_timeout} s"
            ) from exc
        except OSError as exc:
            if reused:
                return b""
            raise TransportError(f"connection to {self.url} failed: {exc}") from exc
        if not first and not reused:
            raise TransportError(f"{self.url} closed the connection without answering")
        return first

    def _acquire(self) -> tuple[socket.socket, int, bool]:
        """A connection for one request: an idle one (reused=True) or a new one."""
        if self._pid != os.getpid():
            self._after_fork()  # forked without the at-fork hook (a fork from C code)
        stale: Optional[list[tuple[socket.socket, float]]] = None
        with self._cond:
            if not self._idle and self._active >= self._max:
                self._waiting += 1
                try:
                    while not self._idle and self._active >= self._max:
                        self._cond.wait()
                finally:
                    self._waiting -= 1
            self._active += 1
            generation = self._generation
            sock = None
            if self._idle:
                # Newest first: the last socket returned is the least likely to have timed
                # out. When even it has been idle too long, so have all the others.
                sock, since = self._idle.pop()
                if self._clock() - since >= self.max_idle_time:
                    stale, self._idle = [*self._idle, (sock, since)], []
                    sock = None
        try:
            if stale is not None:
                for old, _ in stale:
                    self._close(old)
            if sock is not None:
                if not _is_dropped(sock):
                    return sock, generation, True
                self._close(sock)
            return self._connect(), generation, False
        except BaseException:
            if sock is not None:
                self._close(sock)
            with self._cond:
                self._active -= 1
                self._cond.notify()
            raise

    def _release(self, sock: socket.socket, generation: int, keep: bool) -> None:
        with self._cond:
            self._active -= 1
            if keep and generation == self._generation:
                self._idle.append((sock, self._clock()))
                keep_open = True
            else:
                keep_open = False
            self._cond.notify()
        if not keep_open:
            self._close(sock)

    def _close(self, sock: socket.socket) -> None:
        self._open.discard(sock)
        sock.close()

    def _connect(self) -> socket.socket:
        """A new connection, TLS handshake done; ConnectError when there is none (nothing
        of the request has been sent then)."""
        try:
            sock = socket.create_connection(self._address, timeout=self._connect_timeout)
        except socket.timeout as exc:
            raise ConnectError(
                f"cannot connect to {self.url} within {self._connect_timeout} s"
            ) from exc
        except OSError as exc:
            raise ConnectError(f"cannot connect to {self.url}: {exc}") from exc
        try:
            for option in SOCKET_OPTIONS:
                sock.setsockopt(*option)
            if self._ssl_context is not None:
                tls = self._ssl_context.wrap_socket(sock, server_hostname=self._host)
                sock.close()  # detached by wrap_socket: this only drops the husk
                sock = tls
            sock.settimeout(self._read_timeout)
        except socket.timeout as exc:
            sock.close()
            raise ConnectError(
                f"TLS handshake with {self.url} took more than {self._connect_timeout} s"
            ) from exc
        except OSError as exc:
            sock.close()
            raise ConnectError(f"cannot connect to {self.url}: {exc}") from exc
        self._open.add(sock)
        return sock


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


def make_transport(url: str, *, kind: str = "auto", **options: Any) -> Transport:
    """Build the transport for ``url``: ``"native"``, ``"botocore"`` or ``"auto"``.

    ``"auto"`` takes botocore's when a proxy from the environment applies to the endpoint
    (proxies need botocore's HTTP stack), else the native one. Both trust the same
    certificates: the configured CA bundle (``AWS_CA_BUNDLE`` > the profile's ``ca_bundle`` >
    ``REQUESTS_CA_BUNDLE``), else their default store. ``options`` go to the constructor
    (``connect_timeout``, ``read_timeout``, ``max_connections``, ``max_idle_time``;
    ``ssl_context`` for the native transport only).

    >>> make_transport("http://127.0.0.1:8000")     # doctest: +SKIP
    <NativeTransport http://127.0.0.1:8000 idle=0 active=0>
    """
    if kind == "auto":
        kind = "botocore" if proxy_applies(url) else "native"
    if kind == "native":
        return NativeTransport(url, **options)
    if kind == "botocore":
        if options.get("ssl_context") is not None:
            raise ConfigurationError(
                "ssl_context applies to the native transport only; botocore's transport "
                "takes verify=/client_cert= (or AWS_CA_BUNDLE) instead"
            )
        options.pop("ssl_context", None)
        from dynamore._botocore_transport import BotocoreTransport

        return BotocoreTransport(url, **options)
    raise ConfigurationError(f"transport kind must be 'auto', 'native' or 'botocore', not {kind!r}")
