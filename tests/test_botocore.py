"""BotocoreTransport, the fallback: the same signed request through botocore's HTTP session,
against DynamoDB Local, through the fault proxy, and as an HTTP proxy's client."""

from __future__ import annotations

import json
import logging
import socket
import zlib

import pytest

from dynamore._transports import make_transport, proxy_applies
from dynamore._transports.base import SOCKET_OPTIONS
from dynamore._transports.botocore import BotocoreTransport
from dynamore.exceptions import ConnectError, ResponseTimeout, TransportError
from tests.faultproxy import FaultProxy
from tests.http_kit import (
    SIMPLE_HEADERS,
    FakeClock,
    TinyServer,
    answer,
    call,
    clear_proxy_env,
    list_tables,
    serve_forever,
)


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    return clear_proxy_env(monkeypatch)


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


def test_connections_get_the_same_socket_options_as_native_ones() -> None:
    with BotocoreTransport("http://127.0.0.1:9", proxies={}) as transport:
        assert transport._settings["socket_options"] == list(SOCKET_OPTIONS)


def test_a_pool_idle_too_long_is_closed_with_a_debug_record(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="dynamore")
    clock = FakeClock()
    with TinyServer(serve_forever(lambda n: answer())) as server:
        url = server.url
        transport = BotocoreTransport(url, proxies={}, max_idle_time=30, clock=clock)
        with transport:
            transport.send(SIMPLE_HEADERS, b"{}")
            clock.advance(29.9)
            transport.send(SIMPLE_HEADERS, b"{}")  # reused
            assert server.connections == 1
            clock.advance(30)
            transport.send(SIMPLE_HEADERS, b"{}")  # on a new connection
            assert server.connections == 2
    mine = [r.getMessage() for r in caplog.records if r.name == "dynamore"]
    assert mine == [f"{url}: closing the pool, idle for 30.0 s (max_idle_time 30.0 s)"]
