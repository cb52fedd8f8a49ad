"""The asyncio transport: our keep-alive HTTP/1.1 pool on an event loop.

The same rules as the blocking :class:`~dynamore._transports.native.NativeTransport`, with the
bytes moved by an :class:`asyncio.Protocol` that feeds the sans-I/O
:class:`~dynamore._transports.http11.ResponseParser` straight from ``data_received`` (no stream
reader, no extra buffer): at most ``max_connections`` connections, the newest idle one reused
unless it has been idle ``max_idle_time`` or longer (then all idle ones are closed), a reused
connection that dies before the first response byte resent once on a new one, connect failures
raised as :class:`~dynamore.exceptions.ConnectError`, TLS with the same context rules, and a
forked child forgetting what it inherited.

Cancellation: a request cancelled at any ``await`` (waiting for a slot, connecting, waiting for
the answer) gives its slot back, and a connection whose answer was not read to its end is closed,
never pooled, so the next request on the pool never reads the tail of another's answer.

A pool belongs to one event loop; used from another (a new ``asyncio.run``), it forgets the
connections of the old loop and starts afresh.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import ssl
import time
from collections.abc import AsyncIterator
from typing import Any, Callable, Optional

from dynamore._config import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_IDLE_TIME,
    DEFAULT_READ_TIMEOUT,
    positive_count,
)
from dynamore._log import debug
from dynamore._observe import TTFB_SINK
from dynamore._transports.base import SOCKET_OPTIONS, BaseTransport, Response
from dynamore._transports.http11 import ResponseParser, request_head
from dynamore._transports.tls import ssl_context as default_ssl_context
from dynamore.exceptions import ConfigurationError, ConnectError, ResponseTimeout, TransportError

__all__ = ["AioTransport"]

_new_tuple = tuple.__new__


class _NoAnswer(TransportError):
    """The connection ended (closed or reset) before any byte of the answer arrived."""


class _Connection(asyncio.Protocol):
    """One kept-alive connection: feeds the bytes of the current answer to its parser and
    completes the waiting request's future when the answer is whole (or the connection fails).

    ``dead`` is set once the connection may not carry another request: it was lost, it sent
    bytes nobody asked for, or an answer was left unread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, url: str, read_timeout: float) -> None:
        self.loop = loop
        self.url = url
        self.read_timeout = read_timeout
        self.transport: Optional[asyncio.Transport] = None
        self.parser: Optional[ResponseParser] = None
        self.waiter: Optional[asyncio.Future[ResponseParser]] = None
        self.timer: Optional[asyncio.TimerHandle] = None
        self.dead = False
        self.got_bytes = False
        self.last_read = 0.0
        self.sent_at = 0.0
        self.first_byte_at = 0.0
        self.idle_since = 0.0

    # -- asyncio callbacks ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        parser = self.parser
        if parser is None:  # bytes while idle: the stream is out of step
            self._kill()
            return
        now = self.last_read = self.loop.time()
        if not self.got_bytes:
            self.got_bytes = True
            self.first_byte_at = now
        try:
            done = parser.feed(data)
        except TransportError as exc:
            self._fail(exc)
            return
        if done:
            self.parser = None
            waiter = self.waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(parser)

    def eof_received(self) -> Optional[bool]:
        parser = self.parser
        if parser is not None:
            if not self.got_bytes:
                self._fail(_NoAnswer(f"{self.url} closed the connection without answering"))
            else:
                try:
                    parser.feed_eof()
                except TransportError as exc:
                    self._fail(exc)
                else:  # a body that ran until the close: complete, never reusable
                    self.parser = None
                    if self.waiter is not None and not self.waiter.done():
                        self.waiter.set_result(parser)
        self.dead = True
        return False  # close the transport

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.dead = True
        if self.parser is not None:
            if not self.got_bytes:
                error: TransportError = _NoAnswer(f"connection to {self.url} lost: {exc}")
            else:
                error = TransportError(f"connection to {self.url} failed mid-response: {exc}")
            self._fail(error)

    # -- requests ---------------------------------------------------------------------------

    async def exchange(self, data: bytes) -> ResponseParser:
        """Send one request; its parsed answer. Raises TransportError (``_NoAnswer`` when
        the connection ended before any answer byte)."""
        assert self.transport is not None
        parser = self.parser = ResponseParser()
        self.got_bytes = False
        waiter: asyncio.Future[ResponseParser] = self.loop.create_future()
        self.waiter = waiter
        self.sent_at = self.last_read = self.loop.time()
        self.transport.write(data)
        self.timer = self.loop.call_later(self.read_timeout, self._check_timeout)
        try:
            return await waiter
        finally:
            self.timer.cancel()
            self.waiter = None
            if self.parser is parser:  # not read to its end (cancelled, failed): spent
                self.parser = None
                self._kill()

    def _check_timeout(self) -> None:
        # Like the blocking socket's timeout, the limit is on each wait for bytes, not on the
        # whole answer: a large answer arriving steadily is not cut off.
        if self.parser is None:
            return
        late = self.loop.time() - self.last_read
        if late < self.read_timeout:
            self.timer = self.loop.call_later(self.read_timeout - late, self._check_timeout)
            return
        self._fail(
            ResponseTimeout(f"no complete response from {self.url} within {self.read_timeout} s")
        )
        self._kill()

    def _fail(self, error: TransportError) -> None:
        self.parser = None
        self.dead = True
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        self._kill()

    def _kill(self) -> None:
        self.dead = True
        if self.transport is not None:
            # abort: no lingering on unread or unsent bytes of a stream that is out of step.
            with contextlib.suppress(RuntimeError):  # its event loop is closed already
                self.transport.abort()

    def close(self) -> None:
        self.dead = True
        if self.transport is not None:
            with contextlib.suppress(RuntimeError):  # its event loop is closed already
                self.transport.close()


class AioTransport(BaseTransport):
    """Keep-alive HTTP/1.1 on asyncio with a bounded pool; ``await transport.send(...)``.

    The options mean what they mean for :class:`~dynamore._transports.native.NativeTransport`.
    ``close()`` closes the idle connections at once and the busy ones as they come back.

    >>> transport = AioTransport("http://127.0.0.1:8000")         # doctest: +SKIP
    >>> (await transport.send(signed_headers, b"{}")).status       # doctest: +SKIP
    200
    >>> transport                                                 # doctest: +SKIP
    <AioTransport http://127.0.0.1:8000 idle=1 active=0>
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
        self._host = endpoint.host
        self._port = endpoint.port
        self._ssl_context: Optional[ssl.SSLContext] = None
        if endpoint.scheme == "https":
            self._ssl_context = ssl_context or default_ssl_context()[0]
        self._clock = clock
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._watch: Optional[AsyncIterator[None]] = None
        self._inherited: list[_Connection] = []
        self._generation = 0
        self._reset_pool()
        #: Connections opened so far (tests and benchmarks read it).
        self.opened = 0

    def _reset_pool(self) -> None:
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()
        self._active = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

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
        """Number of tasks waiting for a free connection (the pool is at its bound)."""
        return len(self._waiters)

    def __repr__(self) -> str:
        return f"<AioTransport {self.url} idle={self.idle} active={self.active}>"

    # -- life cycle -------------------------------------------------------------------------

    def _close_connections(self) -> None:
        idle, self._idle = self._idle, []
        self._generation += 1
        for conn in idle:
            self._close(conn)

    def _forget_connections(self) -> None:
        # In a forked child: the sockets are the parent's too. They are let go of without a
        # word (a close could send the parent's TLS session a close_notify) and kept
        # referenced, so that no garbage collection closes them either; a forked event loop
        # is not usable anyway, so the next use starts on a new one.
        self._inherited.extend(self._open)
        self._reset_pool()
        self._generation += 1
        self._loop = None

    async def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Adopt ``loop``, the running one: connections of an earlier loop are dropped (they
        cannot be used from this one), and this loop's are closed when it shuts down."""
        if self._loop is not None:
            for conn in list(self._open):
                conn._kill()
            self._reset_pool()
            self._generation += 1
        self._loop = loop
        # An async generator first iterated in this loop: asyncio.run() (and anyone calling
        # loop.shutdown_asyncgens()) closes it as the loop ends, which closes our connections
        # while the loop can still do it, instead of leaving their sockets to the collector.
        watch = self._watch = self._close_at_loop_end()
        await watch.__anext__()

    async def _close_at_loop_end(self) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if asyncio.get_running_loop() is self._loop:
                self._close_connections()
                await asyncio.sleep(0)  # let the transports finish closing

    def _close(self, conn: _Connection) -> None:
        self._open.discard(conn)
        conn.close()

    # -- requests ---------------------------------------------------------------------------

    async def send(self, headers: dict[str, str], body: bytes) -> Response:  # type: ignore[override]
        """``POST /`` with the signed ``headers`` (plus ``Content-Length``) and ``body``."""
        data = request_head(headers, len(body)) + body
        conn, generation, reused = await self._acquire()
        keep = False
        resent = False
        try:
            try:
                parser = await conn.exchange(data)
            except _NoAnswer as exc:
                if not reused:
                    raise TransportError(str(exc)) from exc
                # The reused connection was dead before it answered: the server closed it
                # while idle. Resend once on a new connection (the slot stays ours).
                debug("%s: kept-alive connection failed before answering; resending", self.url)
                resent = True
                self._close(conn)
                try:
                    conn = await self._connect()
                except ConnectError as error:
                    # Not "nothing sent": the first copy left on the dead connection.
                    raise TransportError(
                        f"{error} (resending after the kept-alive connection failed)"
                    ) from error
                try:
                    parser = await conn.exchange(data)
                except _NoAnswer as again:
                    raise TransportError(str(again)) from again
            keep = parser.keep_alive and not conn.dead
            sink = TTFB_SINK.get()
            if sink is not None:  # Client(on_request=...) is recording this call
                sink(conn.first_byte_at - conn.sent_at)
        finally:
            self._release(conn, generation, keep)
        return _new_tuple(Response, (parser.status, parser.headers, parser.body, resent))

    async def prewarm(self, connections: int = 1) -> None:
        """Open connections ahead of the first requests (DNS, TCP, TLS handshake), up to
        ``connections`` idle ones in the pool, in the running event loop (connections belong
        to one loop); pooled ones found dead are replaced."""
        wanted = min(positive_count("connections", connections), self.max_connections)
        held = []
        try:
            for _ in range(wanted):
                held.append((await self._acquire())[:2])
        finally:
            for conn, generation in held:
                self._release(conn, generation, True)

    async def _acquire(self) -> tuple[_Connection, int, bool]:
        """A connection for one request: an idle one (reused=True) or a new one."""
        if self._pid != os.getpid():
            self._after_fork()
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            await self._bind(loop)
        if not self._idle and self._active >= self.max_connections:
            await self._wait_for_slot(loop)
        self._active += 1
        generation = self._generation
        try:
            while self._idle:
                conn = self._idle.pop()
                if self._clock() - conn.idle_since >= self.max_idle_time:
                    stale, self._idle = [*self._idle, conn], []
                    debug(
                        "%s: closing %d pooled connection(s) idle for %s s or more",
                        self.url,
                        len(stale),
                        self.max_idle_time,
                    )
                    for old in stale:
                        self._close(old)
                    break
                if not conn.dead:
                    return conn, generation, True
                debug("%s: dropping a pooled connection the server closed while idle", self.url)
                self._close(conn)
            return await self._connect(), generation, False
        except BaseException:  # CancelledError included: the slot goes back
            self._give_back_slot()
            raise

    async def _wait_for_slot(self, loop: asyncio.AbstractEventLoop) -> None:
        while not self._idle and self._active >= self.max_connections:
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                elif waiter.done() and not waiter.cancelled():
                    self._wake_one()  # woken and cancelled at once: pass the turn on
                raise

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _give_back_slot(self) -> None:
        self._active -= 1
        self._wake_one()

    def _release(self, conn: _Connection, generation: int, keep: bool) -> None:
        if keep and generation == self._generation and not conn.dead:
            conn.idle_since = self._clock()
            self._idle.append(conn)
        else:
            self._close(conn)
        self._give_back_slot()

    async def _connect(self) -> _Connection:
        """A new connection, TLS handshake done; ConnectError when there is none (nothing
        of the request has been sent then)."""
        loop = asyncio.get_running_loop()
        conn = _Connection(loop, self.url, self.read_timeout)
        extra: dict[str, Any] = {}
        if self._ssl_context is not None:
            extra = {"ssl": self._ssl_context, "server_hostname": self._host}
        try:
            await asyncio.wait_for(
                loop.create_connection(lambda: conn, self._host, self._port, **extra),
                self.connect_timeout,
            )
        except asyncio.TimeoutError as exc:
            raise ConnectError(
                f"cannot connect to {self.url} within {self.connect_timeout} s"
            ) from exc
        except (OSError, ssl.SSLError) as exc:  # SSLError is an OSError; named for clarity
            raise ConnectError(f"cannot connect to {self.url}: {exc}") from exc
        assert conn.transport is not None
        sock = conn.transport.get_extra_info("socket")
        if sock is not None:
            for option in SOCKET_OPTIONS:
                try:
                    sock.setsockopt(*option)
                except OSError:
                    continue
        self.opened += 1
        self._open.add(conn)
        return conn
