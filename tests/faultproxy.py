"""A fault-injecting HTTP proxy on loopback, between a client under test and DynamoDB Local.

It understands just enough HTTP/1.1 (Content-Length requests; Content-Length or chunked
answers) to see each request's ``X-Amz-Target`` operation, forward it on a kept-alive upstream
connection, and misbehave on demand::

    with FaultProxy(ddb_endpoint) as proxy:
        proxy.inject("reset_after", operation="PutItem")    # applied, answer lost
        client = Client(endpoint_url=proxy.url, ...)
        ...
        assert proxy.forwarded["PutItem"] == 2

Faults wait in a queue, first in first out; each request takes the first one whose operation
matches (``operation=None`` matches any) and uses it up once (``times``):

- ``reset_before``: reset the client connection without forwarding (nothing applied);
- ``reset_after``: forward, then reset the client connection (applied, answer lost);
- ``status_500`` / ``status_503``: answer that status with a DynamoDB-style JSON error body,
  without forwarding;
- ``throttle``: answer 400 ``ThrottlingException`` without forwarding;
- ``bad_crc``: forward, then answer with a wrong ``x-amz-crc32``;
- ``stall``: forward, then hold the answer for ``stall_seconds`` before sending it;
- ``close_idle``: answer, then close the client connection ``idle_close_seconds`` later, as
  a server dropping idle keep-alive connections does;
- ``drop_silently``: answer, then let the client connection go dark: later requests on it are
  neither read nor answered, and it is never closed, as when a NAT or firewall forgets an idle
  connection (or a frozen Lambda wakes up to one).

``refuse_connections()`` stops listening (the port stays reserved, so connection attempts are
refused: nothing can be sent) until ``accept_connections()``.

``inject_rewrite(fn)`` rewrites a forwarded answer: ``fn(request_json, response_json)``
returns ``(status, new_response_json)``; the proxy recomputes ``x-amz-crc32`` and
``Content-Length``.
"""

from __future__ import annotations

import collections
import contextlib
import json
import socket
import struct
import threading
import uuid
import zlib
from types import TracebackType
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

__all__ = ["FAULTS", "FaultProxy", "Rewrite"]

FAULTS = frozenset(
    {
        "reset_before",
        "reset_after",
        "status_500",
        "status_503",
        "throttle",
        "bad_crc",
        "stall",
        "close_idle",
        "drop_silently",
    }
)

Rewrite = Callable[[dict[str, Any], dict[str, Any]], tuple[int, dict[str, Any]]]

_PREFIX = "com.amazonaws.dynamodb.v20120810#"
_CANNED = {
    "status_500": (500, "Internal Server Error", "InternalServerError", "Internal server error"),
    "status_503": (503, "Service Unavailable", "ServiceUnavailable", "Service unavailable"),
    "throttle": (400, "Bad Request", "ThrottlingException", "Rate exceeded"),
}
_REASONS = {200: "OK", 400: "Bad Request", 500: "Internal Server Error", 503: "Service Unavailable"}


class _Fault:
    __slots__ = ("kind", "operation", "rewrite", "times")

    def __init__(
        self, kind: str, operation: Optional[str], times: int, rewrite: Optional[Rewrite] = None
    ) -> None:
        self.kind = kind
        self.operation = operation
        self.times = times
        self.rewrite = rewrite


class _Closed(Exception):
    """The peer closed the connection between messages."""


class _Message:
    __slots__ = ("body", "headers", "start")

    def __init__(self, start: str, headers: list[tuple[str, str]], body: bytes) -> None:
        self.start = start
        self.headers = headers
        self.body = body

    def header(self, name: str) -> Optional[str]:
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    def encode(self) -> bytes:
        lines = [self.start]
        for key, value in self.headers:
            if key.lower() not in ("content-length", "transfer-encoding"):
                lines.append(f"{key}: {value}")
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


class _Reader:
    """Buffered reads of whole HTTP messages from one socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def _fill(self, what: str) -> None:
        more = self.sock.recv(65536)
        if not more:
            raise _Closed(what)
        self.buf += more

    def _until(self, marker: bytes, what: str) -> bytes:
        while True:
            end = self.buf.find(marker)
            if end >= 0:
                data, self.buf = self.buf[:end], self.buf[end + len(marker) :]
                return data
            self._fill(what)

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill("body")
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def message(self) -> _Message:
        lines = self._until(b"\r\n\r\n", "head").decode("latin-1").split("\r\n")
        headers = []
        for line in lines[1:]:
            key, _, value = line.partition(":")
            headers.append((key.strip(), value.strip()))
        msg = _Message(lines[0], headers, b"")
        if "chunked" in (msg.header("transfer-encoding") or "").lower():
            parts = []
            while True:
                size = int(self._until(b"\r\n", "chunk").split(b";")[0], 16)
                if size == 0:
                    while self._until(b"\r\n", "trailer"):
                        pass
                    break
                parts.append(self._exact(size))
                self._exact(2)
            msg.body = b"".join(parts)
        else:
            msg.body = self._exact(int(msg.header("content-length") or 0))
        return msg


def _reset(sock: socket.socket) -> None:
    """Close with RST rather than FIN, as a crashed peer or a middlebox would."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _with_crc(msg: _Message, crc: int) -> None:
    msg.headers = [(k, v) for k, v in msg.headers if k.lower() != "x-amz-crc32"]
    msg.headers.append(("x-amz-crc32", str(crc)))


class FaultProxy:
    """A threaded fault-injecting proxy to ``upstream`` (an ``http://host:port`` endpoint).

    Use as a context manager (or ``start()``/``stop()``); ``url`` is the address to give the
    client. Counters: ``forwarded`` (operation -> requests that reached upstream),
    ``received`` (operation -> requests the proxy read), ``connections`` (client connections
    accepted), ``requests_per_connection`` (requests read on each client connection, in the
    order they were accepted). ``pending`` is the number of injected faults not used up yet.
    """

    def __init__(
        self, upstream: str, *, stall_seconds: float = 2.0, idle_close_seconds: float = 0.05
    ) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream must be http://host:port, not {upstream!r}")
        self._upstream = (parts.hostname, parts.port or 80)
        self.stall_seconds = stall_seconds
        self.idle_close_seconds = idle_close_seconds
        self.forwarded: collections.Counter[str] = collections.Counter()
        self.received: collections.Counter[str] = collections.Counter()
        self.connections = 0
        self.requests_per_connection: list[int] = []
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener: Optional[socket.socket] = None
        self._accepting = threading.Event()
        self._refusing = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: set[socket.socket] = set()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` of the running proxy."""
        if self._listener is None:
            raise RuntimeError("the proxy is not running")
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    @property
    def pending(self) -> int:
        """Injected faults (counting ``times``) that no request has used yet."""
        with self._lock:
            return sum(f.times for f in self._faults)

    def inject(self, fault: str, *, operation: Optional[str] = None, times: int = 1) -> None:
        """Queue ``fault`` (one of :data:`FAULTS`) for the next ``times`` matching requests."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; one of {sorted(FAULTS)}")
        with self._lock:
            self._faults.append(_Fault(fault, operation, times))

    def inject_rewrite(
        self, fn: Rewrite, *, operation: Optional[str] = None, times: int = 1
    ) -> None:
        """Queue a rewrite of the next ``times`` matching forwarded answers:
        ``fn(request_json, response_json) -> (status, new_response_json)``."""
        with self._lock:
            self._faults.append(_Fault("rewrite", operation, times, fn))

    def clear(self) -> None:
        """Drop every fault still queued."""
        with self._lock:
            self._faults.clear()

    def _take(self, operation: str) -> Optional[_Fault]:
        with self._lock:
            for fault in self._faults:
                if fault.operation is None or fault.operation == operation:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    @staticmethod
    def _bind(port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        # A short accept timeout lets stop() end the accept loop without platform tricks.
        sock.settimeout(0.05)
        return sock

    def refuse_connections(self) -> None:
        """Stop listening: connection attempts are refused until :meth:`accept_connections`.
        Connections already open are served as before."""
        if self._listener is None or not self._accepting.is_set():
            return
        self._refusing.clear()
        self._accepting.clear()
        # The accept thread swaps the listener itself: closed under its accept(), the socket
        # would keep listening until that call returned.
        if not self._refusing.wait(10):
            raise RuntimeError("the accept thread did not stop listening")

    def accept_connections(self) -> None:
        """Listen again after :meth:`refuse_connections`, on the same port."""
        if self._listener is None or self._accepting.is_set():
            return
        self._listener.listen(64)
        self._accepting.set()

    def _stop_listening(self) -> None:
        assert self._listener is not None
        port = self._listener.getsockname()[1]
        self._listener.close()
        # Bound but not listening: the port stays ours, and the kernel refuses connects.
        self._listener = self._bind(port)
        self._refusing.set()

    def start(self) -> FaultProxy:
        """Listen on a free loopback port and start accepting."""
        if self._listener is not None:
            return self
        self._stop.clear()
        listener = self._bind(0)
        listener.listen(64)
        self._listener = listener
        self._accepting.set()
        thread = threading.Thread(target=self._accept_loop, name="faultproxy-accept", daemon=True)
        self._threads.append(thread)
        thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, wake and join every thread, close every socket."""
        self._stop.set()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(10)
        self._threads.clear()
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = self.url if self._listener is not None else "stopped"
        return f"<FaultProxy {state} connections={self.connections} pending={self.pending}>"

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def _untrack_close(self, sock: Optional[socket.socket]) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.discard(sock)
        sock.close()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            if not self._accepting.is_set():
                if not self._refusing.is_set():
                    self._stop_listening()
                self._accepting.wait(0.05)
                continue
            try:
                client, _ = self._listener.accept()
            except (socket.timeout, OSError):
                continue
            client.settimeout(None)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                index = self.connections
                self.connections += 1
                self.requests_per_connection.append(0)
                self._sockets.add(client)
                if self._stop.is_set():
                    self._sockets.discard(client)
                    client.close()
                    continue
                thread = threading.Thread(
                    target=self._serve, args=(client, index), name="faultproxy-conn", daemon=True
                )
                self._threads.append(thread)
                thread.start()  # under the lock, so stop() never joins a thread not started

    def _exchange(
        self, upstream: Optional[socket.socket], request: bytes
    ) -> tuple[socket.socket, _Message]:
        """Forward one request on the kept-alive upstream connection (reconnecting once if
        upstream had dropped it) and read the whole answer."""
        for attempt in (1, 2):
            if upstream is None:
                upstream = socket.create_connection(self._upstream, timeout=30)
                upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._track(upstream)
                fresh = True
            else:
                fresh = False
            try:
                upstream.sendall(request)
                return upstream, _Reader(upstream).message()
            except (OSError, _Closed):
                self._untrack_close(upstream)
                upstream = None
                if fresh or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _serve(self, client: socket.socket, index: int) -> None:
        upstream: Optional[socket.socket] = None
        reader = _Reader(client)
        try:
            while not self._stop.is_set():
                try:
                    request = reader.message()
                except _Closed:
                    return
                target = request.header("x-amz-target") or ""
                operation = target.rsplit(".", 1)[-1]
                with self._lock:
                    self.received[operation] += 1
                    self.requests_per_connection[index] += 1
                fault = self._take(operation)
                kind = fault.kind if fault is not None else None

                if kind == "reset_before":
                    with self._lock:
                        self._sockets.discard(client)
                    _reset(client)
                    return
                if kind in _CANNED:
                    client.sendall(self._canned(kind).encode())
                    continue

                upstream, answer = self._exchange(upstream, request.encode())
                with self._lock:
                    self.forwarded[operation] += 1
                if kind == "reset_after":
                    with self._lock:
                        self._sockets.discard(client)
                    _reset(client)
                    return
                if kind == "bad_crc":
                    _with_crc(answer, (zlib.crc32(answer.body) + 1) & 0xFFFFFFFF)
                elif kind == "rewrite":
                    assert fault is not None and fault.rewrite is not None
                    status, new_json = fault.rewrite(
                        json.loads(request.body or b"{}"), json.loads(answer.body or b"{}")
                    )
                    answer.body = json.dumps(new_json, separators=(",", ":")).encode()
                    answer.start = f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"
                    _with_crc(answer, zlib.crc32(answer.body))
                elif kind == "stall" and self._stop.wait(self.stall_seconds):
                    return
                client.sendall(answer.encode())
                if kind == "close_idle":
                    self._stop.wait(self.idle_close_seconds)
                    return
                if kind == "drop_silently":
                    self._stop.wait()  # held open, never read again, until the proxy stops
                    return
        except (OSError, _Closed):
            return  # the client went away (or stop() shut the sockets): nothing to answer
        finally:
            self._untrack_close(client)
            self._untrack_close(upstream)

    @staticmethod
    def _canned(kind: str) -> _Message:
        status, reason, code, message = _CANNED[kind]
        body = json.dumps(
            {"__type": _PREFIX + code, "message": message}, separators=(",", ":")
        ).encode()
        return _Message(
            f"HTTP/1.1 {status} {reason}",
            [
                ("Content-Type", "application/x-amz-json-1.0"),
                ("x-amzn-RequestId", f"fault-{uuid.uuid4()}"),
                ("x-amz-crc32", str(zlib.crc32(body))),
            ],
            body,
        )
