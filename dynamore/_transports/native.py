"""The native transport: our own keep-alive HTTP/1.1 client over TCP and TLS, on the C modules
``_socket`` and ``_ssl`` (:mod:`dynamore._transports.tls`) without the import cost of
``socket.py`` and ``ssl.py`` (their enums, ``selectors``, ``array``: ~2 ms and ~0.4 MB of a
cold start).

A bounded, thread-safe pool of connections; one ``sendall`` per request and, for the usual small
DynamoDB answer, one ``recv`` and one :meth:`~dynamore._transports.http11.ResponseParser.feed`.
Measured against DynamoDB Local on a kept-alive connection (GetItem, CPU per request): ~25 µs,
against ~95 µs for ``http.client`` and ~220 µs for botocore's session. The bytes are parsed by
the sans-I/O :class:`~dynamore._transports.http11.ResponseParser`; this module only moves them.

Whether to try again after a failure is the retry policy's decision, with one exception made
here: a request on a *reused* connection that fails before any response byte arrived is resent
at once on a new connection, because that is how a server's close of an idle kept-alive
connection shows up.

Connections are never reused after a long idle time: a connection idle longer than
``max_idle_time`` is closed rather than reused, since a NAT, a firewall or a frozen Lambda may
have dropped it silently (a request on it would wait the whole read timeout). TCP keepalive is
on, with probes after 15 s of silence. After ``fork`` a child closes only its own descriptor of
each inherited connection, so the parent's connection and TLS session carry on untouched.
"""

from __future__ import annotations

import _socket
import os
import select
import threading
import time

from dynamore._config import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_IDLE_TIME,
    DEFAULT_READ_TIMEOUT,
    positive_count,
)
from dynamore._log import debug
from dynamore._observe import TTFB_SINK
from dynamore._transports.base import (
    SOCKET_OPTIONS,
    BaseTransport,
    Response,
    certificate_refused,
)
from dynamore._transports.http11 import ResponseParser, request_head
from dynamore._transports.tls import SSLCertVerificationError, client_context, wrap_tls
from dynamore.exceptions import (
    ConfigurationError,
    ConnectError,
    ResponseTimeout,
    TransportError,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl
    from typing import Any, Callable, Optional, Union

    from dynamore._transports.tls import TLSSocket

    # What the pool holds: a TCP socket (http) or TLS over one (https).
    Connection = Union["TCPSocket", TLSSocket, ssl.SSLSocket]

__all__ = ["NativeTransport", "TCPSocket", "open_tcp"]


# One recv of this size holds any ordinary DynamoDB answer (head + body) whole.
_RECV_SIZE = 65536
_new_tuple = tuple.__new__


def _abandon(sock: Connection) -> None:
    """Let go of a socket another process also holds: close our descriptor only. No shutdown
    (that would end the other process's connection), no TLS close_notify (``detach`` drops
    the TLS state without a word); the peer sees nothing while the other process keeps it."""
    # try/except rather than contextlib.suppress: contextlib is not on the cold path.
    try:
        fd = sock.detach()
        if fd >= 0:
            os.close(fd)
    except OSError:
        pass


def _is_dropped(sock: Connection) -> bool:
    """True when an idle kept-alive socket is readable: EOF (the server closed it) or bytes
    nobody asked for. Either way it must not carry the next request."""
    pending = getattr(sock, "pending", None)  # TLS: decrypted bytes already read
    if pending is not None and pending():
        return True
    # select() with a zero timeout works on every platform (poll() is missing on Windows).
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)


def _recv_exactly(sock: Connection, n: int) -> bytearray:
    """Up to ``n`` bytes read straight into one buffer (fewer only when the peer closed)."""
    out = bytearray(n)
    view = memoryview(out)
    pos = 0
    try:
        while pos < n:
            got = sock.recv_into(view[pos:], n - pos)
            if not got:
                break
            pos += got
    finally:
        view.release()
    if pos < n:
        del out[pos:]
    return out


class TCPSocket(_socket.socket):
    """The C socket type, made weakly referable: ``_ssl`` holds the socket it wraps by a weak
    reference (``socket.socket`` has the same slot)."""

    __slots__ = ("__weakref__",)


def open_tcp(address: tuple[bytes, int], timeout: Optional[float]) -> TCPSocket:
    """A TCP connection to ``(host, port)``, made as ``socket.create_connection`` makes one:
    each address ``getaddrinfo`` gives, in its order, until one connects (within ``timeout``
    each); the last one's error when none does."""
    host, port = address
    error: Optional[OSError] = None
    for family, kind, proto, _, where in _socket.getaddrinfo(host, port, 0, _socket.SOCK_STREAM):
        sock = TCPSocket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(where)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        return sock
    if error is None:
        raise OSError(f"no address found for {host!r}")
    try:
        raise error
    finally:
        error = None  # no reference cycle through the traceback


class NativeTransport(BaseTransport):
    """Keep-alive HTTP/1.1 over TCP and TLS, with a bounded, thread-safe pool.

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
        super().__init__(
            url,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_connections=max_connections,
            max_idle_time=max_idle_time,
        )
        endpoint = self.endpoint
        if ssl_context is not None and endpoint.scheme != "https":
            raise ConfigurationError(f"ssl_context given for a plain http endpoint {url!r}")
        # The host name as bytes: a str goes through the "idna" codec in getaddrinfo and in
        # ssl, whose import (encodings.idna, stringprep, unicodedata) cost every cold start
        # ~0.3 MB and over a millisecond. An ASCII name is its own IDNA form.
        host = endpoint.host
        self._host = host.encode("ascii") if host.isascii() else host.encode("idna")
        self._address = (self._host, endpoint.port)
        # An _ssl context of ours (client_context), or the caller's ssl.SSLContext.
        self._ssl_context: Optional[Any] = None
        self._trust = "the given ssl_context"
        if endpoint.scheme == "https":
            if ssl_context is None:
                ssl_context, self._trust = client_context()
            self._ssl_context = ssl_context
        self._clock = clock
        self._reset_pool()
        # Bumped by close(): a busy socket from an older generation is closed on return.
        self._generation = 0

    def _reset_pool(self) -> None:
        """A new, empty pool (construction, and after a fork)."""
        self._cond = threading.Condition(threading.Lock())
        # (socket, clock() when it was returned), oldest first.
        self._idle: list[tuple[Connection, float]] = []
        # Every socket this transport has open, idle or busy: what a forked child must drop.
        self._open: set[Connection] = set()
        self._active = 0
        self._waiting = 0

    def _forget_connections(self) -> None:
        # Every socket here is the parent's too. The lock may have been held by a parent
        # thread that does not exist here, so it is replaced, not taken; busy sockets belong
        # to such threads and will never be returned.
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

    def prewarm(self, connections: int = 1) -> None:
        """Open connections ahead of the first requests (DNS, TCP, TLS handshake), up to
        ``connections`` idle ones in the pool; pooled ones found dead are replaced. For a
        Lambda's INIT phase, through :meth:`dynamore.Client.prewarm`."""
        wanted = min(positive_count("connections", connections), self.max_connections)
        held = []
        try:
            for _ in range(wanted):
                held.append(self._acquire()[:2])
        finally:
            for sock, generation in held:
                self._release(sock, generation, True)

    def _close_connections(self) -> None:
        with self._cond:
            idle, self._idle = self._idle, []
            self._generation += 1
            self._cond.notify_all()
        for sock, _ in idle:
            self._close(sock)

    def send(self, headers: dict[str, str], body: bytes) -> Response:
        """``POST /`` with the signed ``headers`` (plus ``Content-Length``) and ``body``."""
        head = request_head(headers, len(body))
        # One sendall of head + body: with TCP_NODELAY, two writes would mean two segments.
        data = head + body if len(body) < _RECV_SIZE else None

        sock, generation, reused = self._acquire()
        keep = False
        resent = False
        # Set when Client(on_request=...) records this call: only then is the clock read.
        sink = TTFB_SINK.get()
        try:
            sent_at = time.perf_counter() if sink is not None else 0.0
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
                if sink is not None:
                    sent_at = time.perf_counter()
                first = self._start(sock, data, head, body, False)
            if sink is not None:
                sink(time.perf_counter() - sent_at)
            parser = ResponseParser()
            if not parser.feed(first):
                self._read_rest(sock, parser)
            keep = parser.keep_alive
        finally:
            self._release(sock, generation, keep)
        # tuple.__new__ straight: the NamedTuple's own __new__ is one more Python call, ~1100
        # instructions (callgrind) of a send's ~80000 that buy nothing here.
        return _new_tuple(Response, (parser.status, parser.headers, parser.body, resent))

    def _read_rest(self, sock: Connection, parser: ResponseParser) -> None:
        """Feed ``parser`` until its response is complete: the rare answers that do not come
        whole with the first read (large bodies, chunked, slow servers)."""
        try:
            while True:
                due = parser.expected
                # A body of known length goes into one buffer: no piecewise growing and
                # copying, however many reads it takes.
                data = _recv_exactly(sock, due) if due else sock.recv(_RECV_SIZE)
                if not data:
                    parser.feed_eof()  # the end, when the body runs to EOF; else it raises
                    return
                if parser.feed(data):
                    return
        except OSError as exc:
            raise self._failure(exc, "mid-response") from exc

    def _failure(self, exc: OSError, during: str) -> TransportError:
        """The error for a socket failure once the request was on its way: a timeout is a
        ResponseTimeout (the socket's timeout is the read timeout by then)."""
        # _socket.timeout is TimeoutError from Python 3.10 on, a separate OSError before.
        if isinstance(exc, _socket.timeout):
            return ResponseTimeout(
                f"no complete response from {self.url} within {self.read_timeout} s"
            )
        return TransportError(f"connection to {self.url} failed {during}: {exc}")

    def _start(
        self, sock: Connection, data: Optional[bytes], head: bytes, body: bytes, reused: bool
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
        except OSError as exc:
            # A timeout is never resent: the server may be slow at the request, not gone.
            if reused and not isinstance(exc, _socket.timeout):
                debug(
                    "%s: kept-alive connection failed before answering (%r); resending",
                    self.url,
                    exc,
                )
                return b""
            raise self._failure(exc, "before answering") from exc
        if not first:
            if reused:
                debug("%s: kept-alive connection closed before answering; resending", self.url)
            else:
                raise TransportError(f"{self.url} closed the connection without answering")
        return first

    def _acquire(self) -> tuple[Connection, int, bool]:
        """A connection for one request: an idle one (reused=True) or a new one."""
        if self._pid != os.getpid():
            self._after_fork()  # forked without the at-fork hook (a fork from C code)
        stale: Optional[list[tuple[Connection, float]]] = None
        with self._cond:
            if not self._idle and self._active >= self.max_connections:
                self._waiting += 1
                try:
                    while not self._idle and self._active >= self.max_connections:
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
                debug(
                    "%s: closing %d pooled connection(s) idle for %s s or more",
                    self.url,
                    len(stale),
                    self.max_idle_time,
                )
                for old, _ in stale:
                    self._close(old)
            if sock is not None:
                if not _is_dropped(sock):
                    return sock, generation, True
                debug("%s: dropping a pooled connection the server closed while idle", self.url)
                self._close(sock)
            return self._connect(), generation, False
        except BaseException:
            if sock is not None:
                self._close(sock)
            with self._cond:
                self._active -= 1
                self._cond.notify()
            raise

    def _release(self, sock: Connection, generation: int, keep: bool) -> None:
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

    def _close(self, sock: Connection) -> None:
        self._open.discard(sock)
        sock.close()

    def _connect(self) -> Connection:
        """A new connection, TLS handshake done; ConnectError when there is none (nothing
        of the request has been sent then)."""
        try:
            tcp = open_tcp(self._address, self.connect_timeout)
        except _socket.timeout as exc:
            raise ConnectError(
                f"cannot connect to {self.url} within {self.connect_timeout} s"
            ) from exc
        except OSError as exc:
            raise ConnectError(f"cannot connect to {self.url}: {exc}") from exc
        sock: Connection = tcp
        try:
            for option in SOCKET_OPTIONS:
                tcp.setsockopt(*option)
            if self._ssl_context is not None:
                sock = wrap_tls(self._ssl_context, tcp, self._host)
            sock.settimeout(self.read_timeout)
        except _socket.timeout as exc:
            sock.close()
            raise ConnectError(
                f"TLS handshake with {self.url} took more than {self.connect_timeout} s"
            ) from exc
        except SSLCertVerificationError as exc:
            sock.close()
            raise certificate_refused(self.url, exc, self._trust) from exc
        except OSError as exc:
            sock.close()
            raise ConnectError(f"cannot connect to {self.url}: {exc}") from exc
        self._open.add(sock)
        return sock
