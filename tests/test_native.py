"""NativeTransport: against DynamoDB Local, through the fault proxy, and against tiny scripted
servers for the response shapes DynamoDB Local never sends (the parsing itself is
tests/test_http11.py's, fed without sockets; here the socket loop around it)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import ssl
import struct
import threading
import time
import weakref
import zlib
from pathlib import Path
from typing import Optional

import pytest

from dynamore._transports.base import SOCKET_OPTIONS, Response
from dynamore._transports.native import NativeTransport, TCPSocket, open_tcp
from dynamore.exceptions import (
    ConfigurationError,
    ConnectError,
    ResponseTimeout,
    TransportError,
    ValidationError,
)
from tests import ddb_admin
from tests.faultproxy import FaultProxy
from tests.http_kit import (
    SIMPLE_HEADERS,
    FakeClock,
    Peer,
    TinyServer,
    answer,
    call,
    list_tables,
    make_certs,
    serve_forever,
    tls_server,
    wait_until,
)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_certs(tmp_path_factory.mktemp("certs"))


# -- against DynamoDB Local -----------------------------------------------------------------------


def test_put_and_get_item_on_one_kept_alive_connection(
    ddb_endpoint: str, table: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="dynamore")
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
    assert caplog.records == []  # the success path leaves no record


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


def test_server_closing_an_idle_connection_is_transparent(
    ddb_endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="dynamore")
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
        url = proxy.url
    # select() saw the close before the request went out (else it was resent): either way,
    # one record says why a new connection was opened.
    assert [r.getMessage() for r in caplog.records] in (
        [f"{url}: dropping a pooled connection the server closed while idle"],
        [f"{url}: kept-alive connection closed before answering; resending"],
    )


def test_reused_connection_dead_before_any_response_byte_is_resent_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="dynamore")

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
        url = server.url
    assert [r.getMessage() for r in caplog.records] == [
        f"{url}: kept-alive connection closed before answering; resending"
    ]
    assert caplog.records[0].funcName == "_start"  # the record names its place, not the helper


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


def test_connections_idle_too_long_are_closed_not_reused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="dynamore")
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
        url = server.url
    assert [r.getMessage() for r in caplog.records] == [
        f"{url}: closing 2 pooled connection(s) idle for 30.0 s or more"
    ]


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


def test_https_verifies_the_certificate_and_sends_sni(certs: dict[str, Path]) -> None:
    names: list[Optional[str]] = []
    with tls_server(certs, names) as server:
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


def test_open_tcp_tries_each_address_and_reports_the_last_failure() -> None:
    """``open_tcp`` (socket.create_connection's loop on the C socket type): a listener on one
    family is reached whichever address comes first, a closed port is the OS's refusal, and
    the socket is weakly referable, as ``_ssl`` needs it."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    with listener:
        # localhost may resolve to ::1 first: refused there, it must go on to 127.0.0.1.
        for host in (b"127.0.0.1", b"localhost"):
            sock = open_tcp((host, port), 5.0)
            try:
                assert isinstance(sock, TCPSocket) and weakref.ref(sock)() is sock
                assert sock.getpeername()[1] == port and sock.gettimeout() == 5.0
            finally:
                sock.close()
    with pytest.raises(ConnectionRefusedError):
        open_tcp((b"127.0.0.1", port), 5.0)  # the listener is closed now
