"""AioTransport: the asyncio keep-alive pool, against DynamoDB Local, the fault proxy and tiny
scripted servers; the same rules as NativeTransport (tests/test_native.py), plus what asyncio
adds: cancellation at any await, and one pool used from successive event loops."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, Optional, TypeVar

import pytest

from dynamore._transports import make_async_transport
from dynamore._transports.aio import AioTransport
from dynamore._transports.base import Response
from dynamore.exceptions import (
    ConfigurationError,
    ConnectError,
    ResponseTimeout,
    TransportError,
)
from tests.faultproxy import FaultProxy
from tests.http_kit import (
    SIMPLE_HEADERS,
    FakeClock,
    Peer,
    TinyServer,
    answer,
    headers_for,
    make_certs,
    serve_forever,
    tls_server,
)

_T = TypeVar("_T")


def run(coro: Coroutine[Any, Any, _T]) -> _T:
    return asyncio.run(coro)


async def list_tables(transport: AioTransport, url: str) -> Response:
    response = await transport.send(headers_for(url, "ListTables"), b"{}")
    assert response.status == 200, response
    return response


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_certs(tmp_path_factory.mktemp("certs"))


def test_requests_share_one_kept_alive_connection(ddb_endpoint: str) -> None:
    async def main() -> None:
        with AioTransport(ddb_endpoint) as transport:
            for _ in range(3):
                assert "TableNames" in json.loads((await list_tables(transport, ddb_endpoint)).body)
            assert (transport.opened, transport.idle, transport.active) == (1, 1, 0)
            assert repr(transport) == f"<AioTransport {ddb_endpoint} idle=1 active=0>"

    run(main())


def test_the_pool_is_bounded_and_every_answer_is_its_own() -> None:
    def handler(peer: Peer, index: int) -> None:
        while (request := peer.read_request()) is not None:
            peer.send(answer(request.partition(b"\r\n\r\n")[2]))  # echo the body

    async def main() -> None:
        with TinyServer(handler) as server, AioTransport(server.url, max_connections=3) as t:
            bodies = [b'{"n":%d}' % n for n in range(40)]
            answers = await asyncio.gather(*[t.send(SIMPLE_HEADERS, b) for b in bodies])
            assert [a.body for a in answers] == bodies
            assert t.opened == server.connections <= 3
            assert (t.active, t.waiting) == (0, 0)

    run(main())


def test_reused_connection_dead_before_any_answer_byte_is_resent_once() -> None:
    def handler(peer: Peer, index: int) -> None:
        if index == 0:
            peer.read_request()
            peer.send(answer(b'{"first":1}'))
            peer.read_request()  # dropped after reading: a race with the server's idle close
            return
        serve_forever(lambda n: answer(b'{"again":1}'))(peer, index)

    async def main() -> None:
        with TinyServer(handler) as server, AioTransport(server.url) as transport:
            assert (await transport.send(SIMPLE_HEADERS, b"{}")).body == b'{"first":1}'
            second = await transport.send(SIMPLE_HEADERS, b"{}")
            assert (second.body, second.resent) == (b'{"again":1}', True)
            assert (server.connections, len(server.requests)) == (2, 3)

    run(main())


def test_reset_on_a_reused_connection_is_resent_once_only(ddb_endpoint: str) -> None:
    async def main() -> None:
        with FaultProxy(ddb_endpoint) as proxy, AioTransport(proxy.url) as transport:
            await list_tables(transport, proxy.url)
            proxy.inject("reset_before", times=2)
            with pytest.raises(TransportError) as caught:
                await list_tables(transport, proxy.url)
            assert not isinstance(caught.value, ConnectError)  # the request did go out
            assert (transport.idle, transport.active) == (0, 0)
            await list_tables(transport, proxy.url)  # the next call just works

    run(main())


def test_fresh_connection_closed_without_an_answer_is_not_a_connect_error() -> None:
    def handler(peer: Peer, index: int) -> None:
        peer.read_request()

    async def main() -> None:
        with TinyServer(handler) as server, AioTransport(server.url) as transport:
            with pytest.raises(TransportError, match="without answering") as caught:
                await transport.send(SIMPLE_HEADERS, b"{}")
            assert not isinstance(caught.value, ConnectError)
            assert server.connections == 1  # not resent: the connection was new

    run(main())


def test_connect_failure_is_a_connect_error_and_frees_the_slot() -> None:
    async def main(port: int) -> None:
        with AioTransport(f"http://127.0.0.1:{port}", max_connections=1) as transport:
            for _ in range(2):  # a leaked slot would make the second call wait forever
                with pytest.raises(ConnectError, match="cannot connect") as caught:
                    await transport.send(SIMPLE_HEADERS, b"{}")
                assert isinstance(caught.value.__cause__, ConnectionRefusedError)
            assert transport.active == 0

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound but not listening: connection refused
        run(main(sock.getsockname()[1]))


def test_tls_handshake_that_never_happens_is_a_connect_error() -> None:
    def handler(peer: Peer, index: int) -> None:
        peer.read_request()  # a TCP server that never answers the TLS hello

    async def main() -> None:
        with TinyServer(handler) as server:
            url = f"https://localhost:{server.port}"
            with AioTransport(url, connect_timeout=0.3, read_timeout=30) as transport:
                with pytest.raises(ConnectError):
                    await transport.send(SIMPLE_HEADERS, b"{}")
                assert transport.active == 0

    run(main())


def test_a_wait_past_the_read_timeout_is_a_response_timeout_and_spends_the_connection() -> None:
    def handler(peer: Peer, index: int) -> None:
        peer.read_request()
        peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345")
        peer.read_request()  # hold the connection open until the client gives up

    async def main() -> None:
        with TinyServer(handler) as server, AioTransport(server.url, read_timeout=0.3) as t:
            with pytest.raises(ResponseTimeout):
                await t.send(SIMPLE_HEADERS, b"{}")
            assert (t.idle, t.active) == (0, 0)

    run(main())


def test_connections_idle_too_long_are_closed_not_reused() -> None:
    def handler(peer: Peer, index: int) -> None:
        n = 0
        while peer.read_request() is not None:
            peer.send(answer(b'{"connection":%d,"n":%d}' % (index, n)))
            n += 1

    async def main() -> None:
        clock = FakeClock()
        with (
            TinyServer(handler) as server,
            AioTransport(server.url, max_idle_time=30, clock=clock) as transport,
        ):
            await asyncio.gather(*[transport.send(SIMPLE_HEADERS, b"{}") for _ in range(2)])
            assert transport.idle == server.connections == 2
            clock.advance(29.9)
            assert json.loads((await transport.send(SIMPLE_HEADERS, b"{}")).body)["n"] == 1
            clock.advance(30)
            body = json.loads((await transport.send(SIMPLE_HEADERS, b"{}")).body)
            assert body == {"connection": 2, "n": 0}
            assert (transport.idle, transport.active, server.connections) == (1, 0, 3)

    run(main())


def test_unasked_bytes_on_an_idle_connection_mean_it_is_not_reused() -> None:
    def handler(peer: Peer, index: int) -> None:
        peer.read_request()
        peer.send(answer(b'{"c":%d}' % index) + b"HTTP/1.1 200 OK\r\n")  # one answer too many
        serve_forever(lambda n: answer(b'{"c":%d}' % index))(peer, index)

    async def main() -> None:
        with TinyServer(handler) as server, AioTransport(server.url) as transport:
            assert (await transport.send(SIMPLE_HEADERS, b"{}")).body == b'{"c":0}'
            assert (await transport.send(SIMPLE_HEADERS, b"{}")).body == b'{"c":1}'
            assert server.connections == 2

    run(main())


def test_large_and_chunked_answers_in_many_pieces() -> None:
    big = json.dumps({"x": "y" * 300_000}).encode()

    def handler(peer: Peer, index: int) -> None:
        peer.read_request()
        head = answer(big)
        for start in range(0, len(head), 7000):
            peer.send(head[start : start + 7000])
        peer.read_request()
        peer.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        peer.send(b'3\r\n{"a\r\n4\r\n":1}\r\n0\r\n\r\n')
        serve_forever(lambda n: answer())(peer, index)

    async def main() -> None:
        with TinyServer(handler) as server, AioTransport(server.url) as transport:
            assert (await transport.send(SIMPLE_HEADERS, b"{}")).body == big
            assert (await transport.send(SIMPLE_HEADERS, b"{}")).body == b'{"a":1}'
            assert (await transport.send(SIMPLE_HEADERS, b"{}")).body == b"{}"
            assert server.connections == 1

    run(main())


def test_a_request_cancelled_mid_answer_never_returns_its_connection_to_the_pool() -> None:
    half_sent = threading.Event()

    def handler(peer: Peer, index: int) -> None:
        peer.read_request()
        if index == 0:
            # Half an answer, and the rest only after the client gave up on it: were the
            # connection pooled, the next request would read this tail as its answer.
            peer.send(b'HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n{"stale"')
            half_sent.set()
            peer.read_request()
            peer.send(b":true}" + answer(b'{"stale":2}'))
            return
        peer.send(answer(b'{"fresh":true}'))
        serve_forever(lambda n: answer(b'{"fresh":true}'))(peer, index)

    async def main() -> None:
        with TinyServer(handler) as server, AioTransport(server.url) as transport:
            task = asyncio.ensure_future(transport.send(SIMPLE_HEADERS, b"{}"))
            while not half_sent.is_set():
                await asyncio.sleep(0.001)
            await asyncio.sleep(0.05)  # the half answer is read by now
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert (transport.idle, transport.active) == (0, 0)
            for _ in range(2):
                assert (await transport.send(SIMPLE_HEADERS, b"{}")).body == b'{"fresh":true}'
            assert server.connections == 2

    run(main())


def test_a_task_cancelled_while_waiting_for_a_slot_gives_its_turn_away() -> None:
    release = threading.Event()

    def handler(peer: Peer, index: int) -> None:
        n = 0
        while peer.read_request() is not None:
            if n == 0:
                release.wait(10)
            peer.send(answer(b'{"n":%d}' % n))
            n += 1

    async def main() -> None:
        with TinyServer(handler) as server, AioTransport(server.url, max_connections=1) as t:
            first = asyncio.ensure_future(t.send(SIMPLE_HEADERS, b"{}"))
            waiting = [asyncio.ensure_future(t.send(SIMPLE_HEADERS, b"{}")) for _ in range(3)]
            while t.waiting < 3:
                await asyncio.sleep(0.001)
            waiting[0].cancel()
            waiting[1].cancel()
            await asyncio.sleep(0)
            assert t.waiting == 1
            release.set()
            assert (await first).body == b'{"n":0}'
            assert (await waiting[2]).body == b'{"n":1}'
            assert (t.active, t.waiting, t.idle, server.connections) == (0, 0, 1, 1)

    run(main())


def test_one_transport_used_from_successive_event_loops(ddb_endpoint: str) -> None:
    transport = AioTransport(ddb_endpoint)
    with transport:
        for _ in range(2):
            run(list_tables(transport, ddb_endpoint))
        assert transport.opened == 2  # the first loop's connection stayed with it


def test_a_forked_copy_forgets_its_connections(ddb_endpoint: str) -> None:
    async def main() -> None:
        with AioTransport(ddb_endpoint) as transport:
            await list_tables(transport, ddb_endpoint)
            transport._after_fork()  # what the at-fork hook does in a child
            assert transport.idle == 0
            await list_tables(transport, ddb_endpoint)
            assert transport.opened == 2
            # Let go of, not closed: in a real child they are the parent's to close.
            (inherited,) = transport._inherited
            assert inherited.transport is not None and not inherited.transport.is_closing()
            inherited.close()  # here the "parent" is this process

    run(main())


def test_https_verifies_the_certificate_and_sends_sni(certs: dict[str, Path]) -> None:
    names: list[Optional[str]] = []

    async def main(port: int) -> None:
        url = f"https://localhost:{port}"
        with AioTransport(url) as transport:  # the system store doesn't know our CA
            with pytest.raises(ConnectError) as caught:
                await transport.send(SIMPLE_HEADERS, b"{}")
            assert isinstance(caught.value.__cause__, ssl.SSLCertVerificationError)
        trusting = ssl.create_default_context(cafile=str(certs["ca.pem"]))
        with AioTransport(url, ssl_context=trusting) as transport:
            for _ in range(3):
                assert (await transport.send(SIMPLE_HEADERS, b"{}")).body == b'{"tls":true}'
            assert (transport.idle, transport.opened) == (1, 1)
        with AioTransport(f"https://127.0.0.1:{port}", ssl_context=trusting) as transport:
            with pytest.raises(ConnectError) as caught:
                await transport.send(SIMPLE_HEADERS, b"{}")
            assert isinstance(caught.value.__cause__, ssl.SSLCertVerificationError)

    with tls_server(certs, names) as server:
        run(main(server.port))
    assert "localhost" in names


def test_options_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="max_connections"):
        AioTransport("http://127.0.0.1:1", max_connections=0)
    with pytest.raises(ConfigurationError, match="ssl_context"):
        AioTransport("http://127.0.0.1:1", ssl_context=ssl.create_default_context())
    with pytest.raises(ConfigurationError, match="'auto' or 'native'"):
        make_async_transport("http://127.0.0.1:1", kind="botocore")
    assert isinstance(make_async_transport("http://127.0.0.1:1"), AioTransport)
