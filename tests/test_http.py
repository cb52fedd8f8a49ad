"""The HTTP transports: NativeTransport against DynamoDB Local, through the fault proxy, and
against tiny scripted servers for the response shapes DynamoDB Local never sends; the
botocore fallback; proxy detection and the transport choice.

DynamoDB Local ignores signature values, so requests here carry a SigV4-shaped Authorization
header with a dummy signature (the signer has its own tests).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path
from types import TracebackType
from typing import Any, Callable, Optional

import pytest

from dynamore._botocore_transport import BotocoreTransport
from dynamore._http import (
    SOCKET_OPTIONS,
    NativeTransport,
    Response,
    make_transport,
    proxy_applies,
)
from dynamore.exceptions import (
    ConfigurationError,
    ConnectError,
    ResponseTimeout,
    TransportError,
    ValidationError,
)
from tests import ddb_admin
from tests.conftest import ROOT
from tests.faultproxy import FaultProxy

PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def headers_for(url: str, operation: str) -> dict[str, str]:
    """Headers as the Client sends them, with a dummy signature (DynamoDB Local checks shape,
    and keys tables by the access key and region in the credential scope)."""
    return {
        "Host": url.split("://", 1)[1].rstrip("/"),
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": f"DynamoDB_20120810.{operation}",
        "X-Amz-Date": "20240101T000000Z",
        "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/dynamodb/"
        "aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
        "Signature=" + "0" * 64,
    }


def call(transport: Any, url: str, operation: str, payload: dict[str, Any]) -> Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return transport.send(headers_for(url, operation), body)


def list_tables(transport: Any, url: str) -> Response:
    response = call(transport, url, "ListTables", {})
    assert response.status == 200, response
    return response


# -- a tiny scripted server, for response shapes DynamoDB Local does not produce ---------------


class Peer:
    """One accepted connection, as a scripted handler sees it."""

    def __init__(self, sock: socket.socket, record: Callable[[bytes], None]) -> None:
        self.sock = sock
        self.buf = b""
        self._record = record

    def read_request(self) -> Optional[bytes]:
        """One whole request (Content-Length body), or None when the client closed."""
        while b"\r\n\r\n" not in self.buf:
            more = self.sock.recv(65536)
            if not more:
                return None
            self.buf += more
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            more = self.sock.recv(65536)
            if not more:
                return None
            rest += more
        self.buf = rest[length:]
        request = head + b"\r\n\r\n" + rest[:length]
        self._record(request)
        return request

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)


Handler = Callable[[Peer, int], None]


class TinyServer:
    """A loopback server running ``handler(peer, connection_index)`` per connection."""

    def __init__(self, handler: Handler, *, tls: Optional[ssl.SSLContext] = None) -> None:
        self.handler = handler
        self.tls = tls
        self.connections = 0
        self.requests: list[bytes] = []
        self.errors: list[BaseException] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> TinyServer:
        thread = threading.Thread(target=self._accept, daemon=True)
        self._threads.append(thread)
        thread.start()
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self._stop.set()
        with self._lock:
            for sock in self._socks:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(10)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                continue
            with self._lock:
                index = self.connections
                self.connections += 1
                self._socks.append(sock)
                thread = threading.Thread(target=self._run, args=(sock, index), daemon=True)
                self._threads.append(thread)
                thread.start()

    def _record(self, request: bytes) -> None:
        with self._lock:
            self.requests.append(request)

    def _run(self, sock: socket.socket, index: int) -> None:
        try:
            sock.settimeout(10)
            if self.tls is not None:
                try:
                    tls_sock = self.tls.wrap_socket(sock, server_side=True)
                except (OSError, ssl.SSLError):
                    return  # the client refused the certificate: that is what some tests want
                sock = tls_sock
            peer = Peer(sock, self._record)
            self.handler(peer, index)
        except OSError:
            pass
        except BaseException as exc:  # surfaced by the test through .errors
            self.errors.append(exc)
        finally:
            sock.close()


def answer(
    body: bytes = b"{}", *, status: str = "200 OK", extra: str = "", version: str = "HTTP/1.1"
) -> bytes:
    return (
        f"{version} {status}\r\nContent-Type: application/x-amz-json-1.0\r\n"
        f"x-amz-crc32: {zlib.crc32(body)}\r\n{extra}Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def serve_forever(reply: Callable[[int], bytes]) -> Handler:
    """A handler answering every request on the connection with ``reply(request_number)``."""

    def handler(peer: Peer, index: int) -> None:
        n = 0
        while peer.read_request() is not None:
            peer.send(reply(n))
            n += 1

    return handler


def wait_until(condition: Callable[[], bool], limit: float = 10.0) -> None:
    """Poll until ``condition()`` holds (a deadlock-safe wait; no timing is asserted)."""
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.002)


SIMPLE_HEADERS = {"Host": "x", "X-Amz-Target": "DynamoDB_20120810.ListTables"}


class FakeClock:
    """A monotonic clock that moves only when told to: idle times without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# -- NativeTransport against DynamoDB Local -----------------------------------------------------


def test_put_and_get_item_on_one_kept_alive_connection(ddb_endpoint: str, table: str) -> None:
    with FaultProxy(ddb_endpoint) as proxy, NativeTransport(proxy.url) as transport:
        item = {"PK": {"S": "p"}, "SK": {"S": "s"}, "n": {"N": "7"}, "text": {"S": "héllo"}}
        put = call(transport, proxy.url, "PutItem", {"TableName": table, "Item": item})
        assert put.status == 200, put
        got = call(
            transport,
            proxy.url,
            "GetItem",
            {"TableName": table, "Key": {"PK": {"S": "p"}, "SK": {"S": "s"}}},
        )
        assert got.status == 200
        assert json.loads(got.body)["Item"] == item
        assert got.headers["x-amz-crc32"] == str(zlib.crc32(got.body))
        assert got.headers["content-type"] == "application/x-amz-json-1.0"
        assert all(name == name.lower() for name in got.headers)
        for _ in range(5):
            list_tables(transport, proxy.url)
        assert proxy.connections == 1
        assert (transport.idle, transport.active) == (1, 0)
        assert repr(transport) == f"<NativeTransport {proxy.url} idle=1 active=0>"
    assert transport.idle == 0


def test_error_answers_come_back_as_responses(ddb_endpoint: str) -> None:
    with NativeTransport(ddb_endpoint) as transport:
        response = call(transport, ddb_endpoint, "DescribeTable", {"TableName": "no-such-table"})
    assert response.status == 400
    assert json.loads(response.body)["__type"].endswith("#ResourceNotFoundException")
    assert response.headers["x-amzn-requestid"]


def test_bodies_larger_than_one_read_both_ways(ddb_endpoint: str, table: str) -> None:
    big = "x" * 350_000  # a request and an answer far beyond one 64 KiB recv
    key = {"PK": {"S": "big"}, "SK": {"S": "1"}}
    with NativeTransport(ddb_endpoint) as transport:
        put = call(
            transport,
            ddb_endpoint,
            "PutItem",
            {"TableName": table, "Item": {**key, "v": {"S": big}}},
        )
        assert put.status == 200, put
        got = call(transport, ddb_endpoint, "GetItem", {"TableName": table, "Key": key})
        assert got.status == 200
        assert json.loads(got.body)["Item"]["v"]["S"] == big
        assert got.headers["x-amz-crc32"] == str(zlib.crc32(got.body))
        assert transport.idle == 1


def test_pool_is_bounded_and_shared_by_threads(ddb_endpoint: str) -> None:
    errors: list[BaseException] = []
    with FaultProxy(ddb_endpoint) as proxy, NativeTransport(proxy.url, max_connections=2) as t:

        def work() -> None:
            try:
                for _ in range(15):
                    list_tables(t, proxy.url)
                    assert t.active + t.idle <= 2
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert 1 <= proxy.connections <= 2
        assert proxy.forwarded["ListTables"] == 90
        assert t.active == 0 and 1 <= t.idle <= 2


def test_callers_beyond_the_bound_wait_for_a_free_connection() -> None:
    first_arrived = threading.Event()
    release = threading.Event()

    def reply(n: int) -> bytes:
        if n == 0:
            first_arrived.set()
            release.wait(10)
        return answer(b'{"n":%d}' % n)

    results: list[bytes] = []
    with (
        TinyServer(serve_forever(reply)) as server,
        NativeTransport(server.url, max_connections=1) as transport,
    ):
        first = threading.Thread(
            target=lambda: results.append(transport.send(SIMPLE_HEADERS, b"{}").body)
        )
        first.start()
        assert first_arrived.wait(10)
        assert (transport.active, transport.idle) == (1, 0)
        second = threading.Thread(
            target=lambda: results.append(transport.send(SIMPLE_HEADERS, b"{}").body)
        )
        second.start()
        wait_until(lambda: transport.waiting == 1)
        assert server.connections == 1
        release.set()
        first.join()
        second.join()
        assert sorted(results) == [b'{"n":0}', b'{"n":1}']
        assert server.connections == 1  # the second caller waited, then reused the socket
        assert (transport.active, transport.idle, transport.waiting) == (0, 1, 0)


# -- failures: resend on a dead reused connection, resets, stalls ------------------------------


def test_server_closing_an_idle_connection_is_transparent(ddb_endpoint: str) -> None:
    with (
        FaultProxy(ddb_endpoint, idle_close_seconds=0.01) as proxy,
        NativeTransport(proxy.url) as transport,
    ):
        proxy.inject("close_idle")
        list_tables(transport, proxy.url)
        time.sleep(0.2)  # let the proxy drop the idle connection (no timing is asserted)
        list_tables(transport, proxy.url)
        assert proxy.connections == 2
        assert proxy.forwarded["ListTables"] == 2


def test_reused_connection_dead_before_any_response_byte_is_resent_once() -> None:
    def handler(peer: Peer, index: int) -> None:
        if index == 0:
            peer.read_request()
            peer.send(answer(b'{"first":1}'))
            peer.read_request()  # the server drops it after reading: a race with its idle close
            return
        serve_forever(lambda n: answer(b'{"again":1}'))(peer, index)

    with TinyServer(handler) as server, NativeTransport(server.url) as transport:
        assert transport.send(SIMPLE_HEADERS, b"{}").body == b'{"first":1}'
        assert transport.send(SIMPLE_HEADERS, b"{}").body == b'{"again":1}'
        assert server.connections == 2
        assert len(server.requests) == 3
        assert server.errors == []


def test_reset_before_on_a_fresh_connection_raises(ddb_endpoint: str) -> None:
    with FaultProxy(ddb_endpoint) as proxy, NativeTransport(proxy.url) as transport:
        proxy.inject("reset_before")
        with pytest.raises(TransportError) as caught:
            list_tables(transport, proxy.url)
        assert isinstance(caught.value.__cause__, OSError)
        assert not isinstance(caught.value, ResponseTimeout)
        # Connected, request sent, then reset: for all the client knows it was applied.
        assert not isinstance(caught.value, ConnectError)
        assert proxy.forwarded["ListTables"] == 0
        assert (transport.idle, transport.active) == (0, 0)
        list_tables(transport, proxy.url)  # the next call just works


def test_reset_on_a_reused_connection_is_resent_once_only(ddb_endpoint: str) -> None:
    with FaultProxy(ddb_endpoint) as proxy, NativeTransport(proxy.url) as transport:
        list_tables(transport, proxy.url)
        proxy.inject("reset_before", times=2)
        with pytest.raises(TransportError):
            list_tables(transport, proxy.url)
        assert proxy.connections == 2  # the first try on the reused one, one resend: no more
        assert proxy.received["ListTables"] == 3
        assert proxy.forwarded["ListTables"] == 1
        assert (transport.idle, transport.active) == (0, 0)


def test_reset_after_forwarding_raises_and_the_write_was_applied(
    ddb_endpoint: str, table: str
) -> None:
    item = {"PK": {"S": "r"}, "SK": {"S": "1"}}
    with FaultProxy(ddb_endpoint) as proxy, NativeTransport(proxy.url) as transport:
        proxy.inject("reset_after", operation="PutItem")
        with pytest.raises(TransportError):
            call(transport, proxy.url, "PutItem", {"TableName": table, "Item": item})
        assert proxy.forwarded["PutItem"] == 1
    stored = ddb_admin.botocore_client(ddb_endpoint).get_item(TableName=table, Key=item)
    assert stored["Item"] == item


def test_reset_after_on_a_reused_connection_is_resent_so_writes_must_be_idempotent(
    ddb_endpoint: str, table: str
) -> None:
    # A reset with no response byte looks exactly like an idle close, so the request goes
    # again: the Client must make writes safe to repeat (conditions, ALL_OLD on failure).
    with FaultProxy(ddb_endpoint) as proxy, NativeTransport(proxy.url) as transport:
        list_tables(transport, proxy.url)
        proxy.inject("reset_after", operation="PutItem")
        item = {"PK": {"S": "twice"}, "SK": {"S": "1"}}
        response = call(transport, proxy.url, "PutItem", {"TableName": table, "Item": item})
        assert response.status == 200
        assert proxy.forwarded["PutItem"] == 2


def test_stall_past_the_read_timeout_raises_response_timeout(ddb_endpoint: str) -> None:
    with (
        FaultProxy(ddb_endpoint, stall_seconds=5) as proxy,
        NativeTransport(proxy.url, read_timeout=0.3) as transport,
    ):
        list_tables(transport, proxy.url)
        proxy.inject("stall")
        with pytest.raises(ResponseTimeout) as caught:
            list_tables(transport, proxy.url)
        assert isinstance(caught.value.__cause__, OSError)
        assert proxy.received["ListTables"] == 2  # a timeout is never resent here
        assert (transport.idle, transport.active) == (0, 0)  # the socket was discarded
        list_tables(transport, proxy.url)
        assert proxy.connections == 2


def test_timeout_in_the_middle_of_a_body_raises_response_timeout() -> None:
    def handler(peer: Peer, index: int) -> None:
        peer.read_request()
        peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345")
        peer.read_request()  # hold the connection open until the client gives up

    with TinyServer(handler) as server, NativeTransport(server.url, read_timeout=0.3) as t:
        with pytest.raises(ResponseTimeout):
            t.send(SIMPLE_HEADERS, b"{}")
        assert (t.idle, t.active) == (0, 0)


def test_failure_after_response_bytes_on_a_reused_connection_is_not_resent() -> None:
    def handler(peer: Peer, index: int) -> None:
        peer.read_request()
        peer.send(answer())
        peer.read_request()
        peer.send(b"HTTP/1.1 200 OK\r\nContent-Le")  # then the connection dies

    with TinyServer(handler) as server, NativeTransport(server.url) as transport:
        transport.send(SIMPLE_HEADERS, b"{}")
        with pytest.raises(TransportError, match="response head"):
            transport.send(SIMPLE_HEADERS, b"{}")
        assert server.connections == 1
        assert len(server.requests) == 2


def test_connect_failure_raises_and_frees_the_slot() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connection refused
        with NativeTransport(f"http://127.0.0.1:{port}", max_connections=1) as transport:
            for _ in range(2):  # a leaked slot would make the second call wait forever
                with pytest.raises(ConnectError, match="cannot connect") as caught:
                    transport.send(SIMPLE_HEADERS, b"{}")
                assert isinstance(caught.value.__cause__, ConnectionRefusedError)
            assert transport.active == 0


# -- connections idle too long, keepalive, what a connect error means --------------------------


def test_connections_idle_too_long_are_closed_not_reused() -> None:
    both_arrived = threading.Barrier(2)

    def handler(peer: Peer, index: int) -> None:
        n = 0
        while peer.read_request() is not None:
            if index < 2 and n == 0:
                both_arrived.wait(10)  # two requests at once: two pooled connections
            peer.send(answer(b'{"connection":%d,"n":%d}' % (index, n)))
            n += 1

    clock = FakeClock()
    with (
        TinyServer(handler) as server,
        NativeTransport(server.url, max_idle_time=30, clock=clock) as transport,
    ):
        threads = [
            threading.Thread(target=transport.send, args=(SIMPLE_HEADERS, b"{}")) for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert (transport.idle, server.connections) == (2, 2)
        clock.advance(29.9)
        body = json.loads(transport.send(SIMPLE_HEADERS, b"{}").body)
        assert body["n"] == 1  # reused: idle for less than max_idle_time
        clock.advance(30)
        # The newest idle connection is 30 s old and the other older still: both are closed,
        # and the request goes out on a new connection.
        assert json.loads(transport.send(SIMPLE_HEADERS, b"{}").body) == {"connection": 2, "n": 0}
        assert (transport.idle, transport.active, server.connections) == (1, 0, 3)
        assert transport.max_idle_time == 30.0


def test_every_connection_has_tcp_keepalive() -> None:
    assert (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1) in SOCKET_OPTIONS
    with (
        TinyServer(serve_forever(lambda n: answer())) as server,
        NativeTransport(server.url) as transport,
    ):
        transport.send(SIMPLE_HEADERS, b"{}")
        ((sock, _),) = transport._idle
        for level, option, value in SOCKET_OPTIONS:
            got = sock.getsockopt(level, option)
            assert got == value if value > 1 else got != 0  # macOS reports flags as bits
    with BotocoreTransport("http://127.0.0.1:9", proxies={}) as botocore_transport:
        assert botocore_transport._settings["socket_options"] == list(SOCKET_OPTIONS)


def test_refused_reconnect_to_resend_is_not_a_connect_error(ddb_endpoint: str) -> None:
    with FaultProxy(ddb_endpoint) as proxy, NativeTransport(proxy.url) as transport:
        list_tables(transport, proxy.url)
        proxy.inject("reset_before")
        proxy.refuse_connections()
        with pytest.raises(TransportError) as caught:
            list_tables(transport, proxy.url)
        # The request went out on the kept-alive connection before it failed: it may have been
        # applied, however the resend then failed.
        assert not isinstance(caught.value, ConnectError)
        assert isinstance(caught.value.__cause__, ConnectError)
        assert proxy.received["ListTables"] == 2
        assert (transport.idle, transport.active) == (0, 0)


# -- response shapes ----------------------------------------------------------------------------


def test_chunked_answer_with_extensions_and_trailer_keeps_the_connection() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Amz-Crc32: 1\r\n\r\n"
        b'7;name=value\r\n{"a":"b\r\n'
        b'3\r\ncd"\r\n'
        b"1\r\n}\r\n"
        b"0\r\nX-Trailer: yes\r\n\r\n"
    )
    with (
        TinyServer(serve_forever(lambda n: chunked)) as server,
        NativeTransport(server.url) as transport,
    ):
        for _ in range(2):
            response = transport.send(SIMPLE_HEADERS, b"{}")
            assert response.body == b'{"a":"bcd"}'
            assert response.headers["transfer-encoding"] == "chunked"
            assert response.headers["x-amz-crc32"] == "1"
        assert server.connections == 1
        assert transport.idle == 1


def test_connection_close_answer_is_not_reused() -> None:
    reply = answer(extra="Connection: close\r\n")
    with TinyServer(serve_forever(lambda n: reply)) as server, NativeTransport(server.url) as t:
        for _ in range(2):
            assert t.send(SIMPLE_HEADERS, b"{}").body == b"{}"
            assert (t.idle, t.active) == (0, 0)
        assert server.connections == 2


def test_http10_answer_without_length_runs_to_eof() -> None:
    def handler(peer: Peer, index: int) -> None:
        peer.read_request()
        peer.send(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of ")
        peer.send(b"the body")

    with TinyServer(handler) as server, NativeTransport(server.url) as transport:
        for _ in range(2):
            response = transport.send(SIMPLE_HEADERS, b"{}")
            assert (response.status, response.body) == (200, b"all of the body")
            assert transport.idle == 0
        assert server.connections == 2


def test_http10_keep_alive_answer_is_reused() -> None:
    reply = answer(version="HTTP/1.0", extra="Connection: Keep-Alive\r\n")
    with TinyServer(serve_forever(lambda n: reply)) as server, NativeTransport(server.url) as t:
        for _ in range(3):
            assert t.send(SIMPLE_HEADERS, b"{}").status == 200
        assert server.connections == 1


def test_interim_100_continue_is_skipped_and_repeated_headers_are_joined() -> None:
    reply = b"HTTP/1.1 100 Continue\r\n\r\n" + answer(b"[1]", extra="Via: a\r\nVia: b\r\n")
    with TinyServer(serve_forever(lambda n: reply)) as server, NativeTransport(server.url) as t:
        response = t.send(SIMPLE_HEADERS, b"{}")
        assert (response.status, response.body) == (200, b"[1]")
        assert response.headers["via"] == "a, b"
        assert t.send(SIMPLE_HEADERS, b"{}").body == b"[1]"
        assert server.connections == 1


def test_head_split_across_many_reads_and_body_across_more() -> None:
    body = json.dumps({"k": "v" * 200_000}).encode()
    whole = answer(body)

    def handler(peer: Peer, index: int) -> None:
        peer.read_request()
        for i in range(0, 40, 3):  # the head a few bytes at a time
            peer.send(whole[i : i + 3])
            time.sleep(0.001)
        peer.send(whole[39:])
        serve_forever(lambda n: whole)(peer, index)

    with TinyServer(handler) as server, NativeTransport(server.url) as transport:
        for _ in range(2):
            assert transport.send(SIMPLE_HEADERS, b"{}").body == body
        assert server.connections == 1


def test_extra_bytes_after_the_body_mean_the_connection_is_not_reused() -> None:
    reply = answer() + b"garbage"
    with TinyServer(serve_forever(lambda n: reply)) as server, NativeTransport(server.url) as t:
        assert t.send(SIMPLE_HEADERS, b"{}").body == b"{}"
        assert t.idle == 0


@pytest.mark.parametrize(
    "reply, message",
    [
        (b"SMTP ready\r\n\r\n", "malformed status line"),
        (b"HTTP/1.1 abc OK\r\n\r\n", "malformed status line"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "malformed header line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\n", "malformed content-length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", "closed after 3 of 9"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "unsupported transfer-encoding"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "malformed chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "chunked"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\n", "malformed content-length"),
        (b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70_000, "response head larger than 64 KiB"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY", "no CRLF"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1", "middle of a chunked"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"f" * 70_000, "too long"),
        (b"HTTP/1.1 200 OK\r\n", "middle of the response head"),
    ],
)
def test_malformed_answers_raise_transport_error(reply: bytes, message: str) -> None:
    def handler(peer: Peer, index: int) -> None:
        peer.read_request()
        peer.send(reply)

    with TinyServer(handler) as server, NativeTransport(server.url) as transport:
        with pytest.raises(TransportError, match=message):
            transport.send(SIMPLE_HEADERS, b"{}")
        assert (transport.idle, transport.active) == (0, 0)


def test_no_content_answer_has_an_empty_body_and_keeps_the_connection() -> None:
    reply = b"HTTP/1.1 204 No Content\r\nx-amzn-RequestId: r1\r\n\r\n"
    with TinyServer(serve_forever(lambda n: reply)) as server, NativeTransport(server.url) as t:
        for _ in range(2):
            assert t.send(SIMPLE_HEADERS, b"{}") == Response(204, {"x-amzn-requestid": "r1"}, b"")
        assert server.connections == 1


def test_big_chunked_answer_in_many_pieces() -> None:
    pieces = [bytes([65 + i % 26]) * 5000 for i in range(60)]
    reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    reply += b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    with TinyServer(serve_forever(lambda n: reply)) as server, NativeTransport(server.url) as t:
        assert t.send(SIMPLE_HEADERS, b"{}").body == b"".join(pieces)
        assert t.send(SIMPLE_HEADERS, b"{}").body == b"".join(pieces)
        assert server.connections == 1


def test_fresh_connection_closed_without_an_answer_raises() -> None:
    def handler(peer: Peer, index: int) -> None:
        peer.read_request()  # and close: no answer at all

    with TinyServer(handler) as server, NativeTransport(server.url) as transport:
        with pytest.raises(TransportError, match="without answering"):
            transport.send(SIMPLE_HEADERS, b"{}")
        assert server.connections == 1  # a fresh connection is never resent on
        assert (transport.idle, transport.active) == (0, 0)


def test_reset_in_the_middle_of_a_body_raises_transport_error() -> None:
    def handler_reset(peer: Peer, index: int) -> None:
        peer.read_request()
        peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)
        time.sleep(0.05)  # let the first bytes be read before the reset
        peer.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    with TinyServer(handler_reset) as server, NativeTransport(server.url) as transport:
        with pytest.raises(TransportError) as caught:
            transport.send(SIMPLE_HEADERS, b"{}")
        assert not isinstance(caught.value, ResponseTimeout)
        assert (transport.idle, transport.active) == (0, 0)


def test_tls_handshake_that_never_happens_is_a_connect_failure() -> None:
    def handler(peer: Peer, index: int) -> None:
        peer.read_request()  # a TCP server that never answers the TLS hello

    with TinyServer(handler) as server:
        url = f"https://localhost:{server.port}"
        with NativeTransport(url, connect_timeout=0.3, read_timeout=30) as transport:
            with pytest.raises(ConnectError, match="TLS handshake") as caught:
                transport.send(SIMPLE_HEADERS, b"{}")
            assert not isinstance(caught.value, ResponseTimeout)
            assert transport.active == 0


def test_request_bytes_are_exactly_what_the_signer_signed() -> None:
    with (
        TinyServer(serve_forever(lambda n: answer())) as server,
        NativeTransport(server.url) as transport,
    ):
        transport.send({"Host": "h:1", "X-Amz-Target": "T.Op", "Authorization": "a"}, b"xyz")
    assert server.requests == [
        b"POST / HTTP/1.1\r\nHost: h:1\r\nX-Amz-Target: T.Op\r\nAuthorization: a\r\n"
        b"Content-Length: 3\r\n\r\nxyz"
    ]


@pytest.mark.parametrize(
    "headers",
    [{"Host": "h", "X-Bad": "a\r\nX-Injected: 1"}, {"Host": "h\n"}, {"Host": "h", "X": "€"}],
)
def test_unsendable_headers_are_refused_before_connecting(headers: dict[str, str]) -> None:
    with NativeTransport("http://127.0.0.1:9") as transport:  # nothing is ever sent
        with pytest.raises(ValidationError):
            transport.send(headers, b"{}")
        assert transport.active == 0


@pytest.mark.parametrize(
    "url",
    ["ftp://h", "http://", "http://h/path", "http://h/?q=1", "http://h:notaport", "h:8000"],
)
def test_unusable_endpoints_are_configuration_errors(url: str) -> None:
    with pytest.raises(ConfigurationError):
        NativeTransport(url)


@pytest.mark.parametrize("cls", [NativeTransport, BotocoreTransport])
@pytest.mark.parametrize(
    "option",
    [
        {"max_connections": 0},
        {"max_connections": 2.0},
        {"connect_timeout": 0},
        {"read_timeout": -1},
        {"read_timeout": "10"},
        {"max_idle_time": 0},
        {"max_idle_time": float("nan")},
    ],
)
def test_numeric_options_are_checked(cls: type, option: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match=f"^{next(iter(option))} must be"):
        cls("http://h", **option)


def test_options_are_checked() -> None:
    with pytest.raises(ConfigurationError):
        NativeTransport("http://h", ssl_context=ssl.create_default_context())
    assert (
        repr(NativeTransport("https://h.example/"))
        == "<NativeTransport https://h.example idle=0 active=0>"
    )


def test_close_shuts_idle_sockets_now_and_busy_ones_when_they_return() -> None:
    arrived = threading.Event()
    release = threading.Event()

    def handler(peer: Peer, index: int) -> None:
        if index == 0:  # the first connection holds its first answer until released
            peer.read_request()
            arrived.set()
            release.wait(10)
            peer.send(answer())
        serve_forever(lambda n: answer())(peer, index)

    with TinyServer(handler) as server:
        transport = NativeTransport(server.url)
        busy = threading.Thread(target=lambda: transport.send(SIMPLE_HEADERS, b"{}"))
        busy.start()
        assert arrived.wait(10)
        idle = NativeTransport(server.url)
        idle.send(SIMPLE_HEADERS, b"{}")
        assert idle.idle == 1
        idle.close()
        assert idle.idle == 0
        transport.close()
        release.set()
        busy.join()
        assert (transport.idle, transport.active) == (0, 0)  # closed on return, not pooled
        transport.send(SIMPLE_HEADERS, b"{}")  # still usable: a new connection
        assert transport.idle == 1
        transport.close()
        assert server.connections == 3


def test_no_socket_outlives_close(ddb_endpoint: str) -> None:
    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    if not Path("/proc/self/fd").is_dir():
        pytest.skip("counting descriptors needs /proc")
    before = open_fds()
    with FaultProxy(ddb_endpoint, stall_seconds=5) as proxy:
        transport = NativeTransport(proxy.url, read_timeout=0.3, max_connections=3)
        for fault in ("reset_before", "stall", "close_idle", "status_500", "reset_after"):
            list_tables(transport, proxy.url)
            proxy.inject(fault)
            with contextlib.suppress(TransportError):
                call(transport, proxy.url, "ListTables", {})
        transport.close()
    assert open_fds() == before


# -- https ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A throw-away CA and a server certificate for ``localhost`` signed by it (openssl CLI)."""
    folder = tmp_path_factory.mktemp("certs")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=dynamore test CA",
        # Python 3.13 verifies strictly (VERIFY_X509_STRICT): a CA must say it signs certificates.
        "-addext",
        "keyUsage=critical,keyCertSign",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    )
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    )
    (folder / "san.ext").write_text("subjectAltName=DNS:localhost\n")
    openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "server.pem",
    )
    return {name: folder / name for name in ("ca.pem", "server.pem", "server.key")}


def _tls_server(certs: dict[str, Path], seen_names: list[Optional[str]]) -> TinyServer:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs["server.pem"], certs["server.key"])

    def remember(sock: Any, name: Optional[str], ctx: Any) -> None:
        seen_names.append(name)

    context.sni_callback = remember
    return TinyServer(serve_forever(lambda n: answer(b'{"tls":true}')), tls=context)


def test_https_verifies_the_certificate_and_sends_sni(certs: dict[str, Path]) -> None:
    names: list[Optional[str]] = []
    with _tls_server(certs, names) as server:
        url = f"https://localhost:{server.port}"
        with NativeTransport(url) as transport:  # the system store doesn't know our CA
            with pytest.raises(TransportError) as caught:
                transport.send(SIMPLE_HEADERS, b"{}")
            assert isinstance(caught.value.__cause__, ssl.SSLCertVerificationError)
            assert transport.active == 0

        trusting = ssl.create_default_context(cafile=str(certs["ca.pem"]))
        with NativeTransport(url, ssl_context=trusting) as transport:
            for _ in range(3):
                assert transport.send(SIMPLE_HEADERS, b"{}").body == b'{"tls":true}'
            assert transport.idle == 1
        assert "localhost" in names

        # Same CA, but the name in the URL is not the one in the certificate.
        with NativeTransport(f"https://127.0.0.1:{server.port}", ssl_context=trusting) as t:
            with pytest.raises(TransportError) as caught:
                t.send(SIMPLE_HEADERS, b"{}")
            assert isinstance(caught.value.__cause__, ssl.SSLCertVerificationError)


def test_both_transports_honour_a_custom_ca_bundle(
    certs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("AWS_CA_BUNDLE", str(certs["ca.pem"]))
    with _tls_server(certs, []) as server:
        url = f"https://localhost:{server.port}"
        for kind, cls in (("auto", NativeTransport), ("botocore", BotocoreTransport)):
            transport = make_transport(url, kind=kind)
            try:
                assert isinstance(transport, cls)
                assert transport.send(SIMPLE_HEADERS, b"{}").body == b'{"tls":true}'
            finally:
                transport.close()
        strict = BotocoreTransport(url, verify=True)  # the system store only
        with strict, pytest.raises(TransportError):
            strict.send(SIMPLE_HEADERS, b"{}")


@pytest.mark.parametrize("kind", ["auto", "native", "botocore"])
@pytest.mark.parametrize("setting", ["AWS_CA_BUNDLE", "ca_bundle", "REQUESTS_CA_BUNDLE"])
def test_every_transport_trusts_the_configured_ca_bundle(
    setting: str,
    kind: str,
    certs: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in (*PROXY_VARS, "AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    config = tmp_path / "config"
    config.write_text("[default]\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    if setting == "ca_bundle":
        config.write_text(f"[default]\nca_bundle = {certs['ca.pem']}\n")
    else:
        monkeypatch.setenv(setting, str(certs["ca.pem"]))
    with _tls_server(certs, []) as server:
        transport = make_transport(f"https://localhost:{server.port}", kind=kind)
        with contextlib.closing(transport):
            assert transport.send(SIMPLE_HEADERS, b"{}").body == b'{"tls":true}'


@pytest.mark.parametrize("kind", ["native", "botocore"])
def test_aws_ca_bundle_wins_over_requests_ca_bundle(
    kind: str, certs: dict[str, Path], no_proxy_env: pytest.MonkeyPatch
) -> None:
    no_proxy_env.setenv("REQUESTS_CA_BUNDLE", str(certs["ca.pem"]))
    no_proxy_env.setenv("AWS_CA_BUNDLE", str(certs["server.pem"]))  # not the server's issuer
    with _tls_server(certs, []) as server:
        transport = make_transport(f"https://localhost:{server.port}", kind=kind)
        with contextlib.closing(transport), pytest.raises(TransportError):
            transport.send(SIMPLE_HEADERS, b"{}")
    no_proxy_env.setenv("AWS_CA_BUNDLE", "/nonexistent/ca.pem")
    with pytest.raises(ConfigurationError, match="AWS_CA_BUNDLE='/nonexistent/ca.pem'"):
        make_transport("https://localhost:1", kind=kind)


# -- proxy detection and the transport choice -------------------------------------------------


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (*PROXY_VARS, "AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "REQUEST_METHOD"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


def test_proxy_applies_by_scheme_and_honours_no_proxy(no_proxy_env: pytest.MonkeyPatch) -> None:
    env = no_proxy_env
    assert not proxy_applies("https://dynamodb.eu-west-1.amazonaws.com")
    env.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    assert proxy_applies("https://dynamodb.eu-west-1.amazonaws.com")
    assert not proxy_applies("http://127.0.0.1:8000")
    env.setenv("NO_PROXY", "localhost,.amazonaws.com")
    assert not proxy_applies("https://dynamodb.eu-west-1.amazonaws.com")
    assert proxy_applies("https://dynamodb.example.net")
    env.setenv("NO_PROXY", "*")
    assert not proxy_applies("https://dynamodb.example.net")
    env.delenv("NO_PROXY")
    env.delenv("HTTPS_PROXY")
    env.setenv("http_proxy", "proxy.corp:3128")  # no scheme: an http proxy
    assert proxy_applies("http://10.0.0.5:8000")
    env.setenv("no_proxy", "10.0.0.5")
    assert not proxy_applies("http://10.0.0.5:8000")
    env.delenv("http_proxy")
    env.delenv("no_proxy")
    env.setenv("ALL_PROXY", "http://proxy.corp:3128")
    assert proxy_applies("https://dynamodb.example.net")
    env.setenv("ALL_PROXY", "socks5://proxy.corp:1080")  # neither transport speaks SOCKS
    assert not proxy_applies("https://dynamodb.example.net")


def test_make_transport_choice(no_proxy_env: pytest.MonkeyPatch) -> None:
    env = no_proxy_env
    aws = "https://dynamodb.eu-west-1.amazonaws.com"
    chosen = [make_transport(aws), make_transport(aws, kind="botocore")]
    env.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    chosen += [make_transport(aws), make_transport(aws, kind="native")]
    env.delenv("HTTPS_PROXY")
    env.setenv("AWS_CA_BUNDLE", "/nonexistent/ca.pem")
    with pytest.raises(ConfigurationError, match="AWS_CA_BUNDLE"):
        make_transport(aws)
    chosen += [make_transport("http://127.0.0.1:8000")]
    try:
        kinds = [type(t).__name__ for t in chosen]
        assert kinds == [
            "NativeTransport",
            "BotocoreTransport",
            "BotocoreTransport",
            "NativeTransport",
            "NativeTransport",  # a CA bundle means nothing to plain http
        ]
    finally:
        for transport in chosen:
            transport.close()
    native = make_transport(
        "http://127.0.0.1:8000", kind="native", read_timeout=0.5, max_connections=3
    )
    assert isinstance(native, NativeTransport)
    native.close()
    with pytest.raises(ConfigurationError):
        make_transport(aws, kind="curl")
    with pytest.raises(ConfigurationError):
        make_transport(aws, kind="botocore", ssl_context=ssl.create_default_context())


def test_choosing_the_native_transport_imports_no_botocore_nor_urllib_request() -> None:
    code = (
        "import sys, dynamore._http as h; t = h.make_transport('http://127.0.0.1:1'); t.close();"
        "heavy = ('botocore', 'boto3', 'urllib3', 'urllib.request', 'http.client');"
        "print(type(t).__name__, [m for m in sys.modules if m.startswith(heavy)])"
    )
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.lower().endswith("_proxy") and name != "AWS_CA_BUNDLE"
    }
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "NativeTransport []"


# -- BotocoreTransport against DynamoDB Local ---------------------------------------------------


def test_botocore_transport_against_dynamodb_local(
    ddb_endpoint: str, table: str, no_proxy_env: pytest.MonkeyPatch
) -> None:
    with BotocoreTransport(ddb_endpoint) as transport:
        item = {"PK": {"S": "b"}, "SK": {"S": "1"}, "v": {"L": [{"N": "1"}]}}
        assert (
            call(transport, ddb_endpoint, "PutItem", {"TableName": table, "Item": item}).status
            == 200
        )
        got = call(
            transport,
            ddb_endpoint,
            "GetItem",
            {"TableName": table, "Key": {"PK": {"S": "b"}, "SK": {"S": "1"}}},
        )
        assert got.status == 200
        assert json.loads(got.body)["Item"] == item
        assert got.headers["x-amz-crc32"] == str(zlib.crc32(got.body))
        missing = call(transport, ddb_endpoint, "DescribeTable", {"TableName": "nope"})
        assert missing.status == 400
        assert repr(transport) == f"<BotocoreTransport {ddb_endpoint}>"


def test_botocore_transport_maps_failures(
    ddb_endpoint: str, no_proxy_env: pytest.MonkeyPatch
) -> None:
    with (
        FaultProxy(ddb_endpoint, stall_seconds=5) as proxy,
        BotocoreTransport(proxy.url, read_timeout=0.3) as transport,
    ):
        proxy.inject("stall")
        with pytest.raises(ResponseTimeout):
            list_tables(transport, proxy.url)
        proxy.inject("reset_before", times=5)
        with pytest.raises(TransportError) as caught:
            list_tables(transport, proxy.url)
        assert not isinstance(caught.value, (ResponseTimeout, ConnectError))
        assert caught.value.__cause__ is not None
        proxy.clear()
        list_tables(transport, proxy.url)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        refused = BotocoreTransport(f"http://127.0.0.1:{sock.getsockname()[1]}")
        with refused, pytest.raises(ConnectError):  # nothing was sent
            refused.send(SIMPLE_HEADERS, b"{}")


def test_botocore_transport_goes_through_the_proxy_from_the_environment(
    ddb_endpoint: str, no_proxy_env: pytest.MonkeyPatch
) -> None:
    # The fault proxy forwards what it gets; DynamoDB Local accepts the absolute-form
    # request line an HTTP proxy receives, so this is a working forward proxy for http.
    with FaultProxy(ddb_endpoint) as proxy:
        no_proxy_env.setenv("HTTP_PROXY", proxy.url)
        assert proxy_applies(ddb_endpoint)
        transport = make_transport(ddb_endpoint)
        try:
            assert isinstance(transport, BotocoreTransport)
            list_tables(transport, ddb_endpoint)
            list_tables(transport, ddb_endpoint)
        finally:
            transport.close()
        assert proxy.forwarded["ListTables"] == 2
