"""The Client through a fault-injecting proxy in front of DynamoDB Local: each fault is retried
or reported as the retry rules say (only errors after sending are ambiguous), and a retried
write never changes the result twice. The client's own behaviours run against both clients
(``Client`` and ``AsyncClient``, through tests/client_kit.py); those of the entity proxy, which
sits on the blocking client, against ``Client``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Union

import pytest

from dynamore import Client
from dynamore._config import DEFAULT_MAX_IDLE_TIME
from dynamore._retry import RetryPolicy
from dynamore._transports.aio import AioTransport
from dynamore._transports.botocore import BotocoreTransport
from dynamore._transports.native import NativeTransport
from dynamore.dynamodb_proxy import AlreadyExists, DynamoDbProxy, NotFound
from dynamore.exceptions import (
    ConditionalCheckFailed,
    ResponseTimeout,
    ServiceError,
    ThrottlingError,
    TransportError,
    UnexpectedResponse,
)
from tests.client_kit import KINDS, make_client
from tests.faultproxy import FaultProxy
from tests.http_kit import FakeClock, TinyServer, serve_forever
from tests.kit import JEANNE, Person

KEY = {"PK": "F", "SK": "1"}


@pytest.fixture
def proxy(ddb_endpoint: str) -> Iterator[FaultProxy]:
    with FaultProxy(ddb_endpoint, stall_seconds=1.5) as p:
        yield p


@pytest.fixture(params=KINDS)
def faulty(request: pytest.FixtureRequest, proxy: FaultProxy) -> Iterator[Client]:
    """A client of either kind that talks to DynamoDB Local through the proxy, with short
    timeouts."""
    options: dict[str, Any] = {"transport": "native", "read_timeout": 0.5, "retry": 3}
    with make_client(request.param, endpoint_url=proxy.url, **options) as c:
        yield c


@pytest.fixture
def sync_faulty(proxy: FaultProxy) -> Iterator[Client]:
    """The blocking ``faulty``, for the entity proxy."""
    with Client(endpoint_url=proxy.url, transport="native", read_timeout=0.5, retry=3) as c:
        yield c


@pytest.mark.parametrize("fault", ["reset_before", "status_500", "status_503", "throttle"])
def test_unapplied_failures_are_retried(
    fault: str, proxy: FaultProxy, faulty: Client, client: Client, table: str
) -> None:
    proxy.inject(fault, operation="PutItem")
    faulty.put_item(table, {**KEY, "v": 1})
    assert client.get_item(table, KEY) == {**KEY, "v": 1}
    assert proxy.forwarded["PutItem"] == 1
    assert faulty.stats.retries == 1
    assert faulty.stats.throttles == (1 if fault == "throttle" else 0)


def test_exhausted_retries_raise_the_last_error(
    proxy: FaultProxy, faulty: Client, table: str
) -> None:
    proxy.inject("throttle", operation="GetItem", times=3)
    with pytest.raises(ThrottlingError):
        faulty.get_item(table, KEY)
    proxy.inject("status_503", operation="GetItem", times=3)
    with pytest.raises(ServiceError) as info:
        faulty.get_item(table, KEY)
    assert info.value.status == 503
    # More resets than attempts (a reset on a reused connection is also resent at once).
    proxy.inject("reset_before", operation="GetItem", times=10)
    with pytest.raises(TransportError):
        faulty.get_item(table, KEY)
    proxy.clear()
    assert proxy.forwarded["GetItem"] == 0


def test_bad_crc_is_retried(proxy: FaultProxy, faulty: Client, client: Client, table: str) -> None:
    client.put_item(table, {**KEY, "v": 1})
    proxy.inject("bad_crc", operation="GetItem")
    assert faulty.get_item(table, KEY) == {**KEY, "v": 1}
    assert proxy.forwarded["GetItem"] == 2


def test_stall_past_the_read_timeout(
    proxy: FaultProxy, faulty: Client, client: Client, table: str
) -> None:
    client.put_item(table, {**KEY, "v": 1})
    proxy.inject("stall", operation="GetItem")
    assert faulty.get_item(table, KEY) == {**KEY, "v": 1}  # the retry got through
    proxy.inject("stall", operation="GetItem", times=3)
    with pytest.raises(ResponseTimeout):
        faulty.get_item(table, KEY)


def test_server_closing_idle_connections_is_invisible(
    proxy: FaultProxy, faulty: Client, client: Client, table: str
) -> None:
    import time

    proxy.inject("close_idle", operation="PutItem")
    faulty.put_item(table, {**KEY, "v": 1})
    time.sleep(0.3)  # let the proxy drop the idle kept-alive connection
    faulty.put_item(table, {**KEY, "v": 2})
    assert client.get_item(table, KEY) == {**KEY, "v": 2}
    assert proxy.forwarded["PutItem"] == 2  # each write reached the server once
    assert proxy.connections == 2
    assert faulty.stats.retries == 0  # a resend on a fresh connection, not a retry


def test_lost_answer_to_a_guarded_increment_never_applies_twice(
    proxy: FaultProxy, faulty: Client, client: Client, table: str
) -> None:
    client.put_item(table, {**KEY, "n": 0, "version": 0})
    proxy.inject("reset_after", operation="UpdateItem")
    # The write lands, its answer is lost, the retry meets its own write: the version
    # condition fails instead of counting twice.
    with pytest.raises(ConditionalCheckFailed) as info:
        faulty.update_item(
            table,
            KEY,
            update="SET n = n + :one, version = :new",
            condition="version = :old",
            values={":one": 1, ":new": 1, ":old": 0},
            return_values_on_failure="ALL_OLD",
        )
    assert info.value.item == {**KEY, "n": 1, "version": 1}
    assert client.get_item(table, KEY) == {**KEY, "n": 1, "version": 1}
    assert proxy.forwarded["UpdateItem"] == 2


def test_lost_answer_to_a_transaction_is_applied_once(
    proxy: FaultProxy, faulty: Client, client: Client, table: str
) -> None:
    client.put_item(table, {**KEY, "n": 0})
    proxy.inject("reset_after", operation="TransactWriteItems")
    # The client gives every transaction an idempotency token, so DynamoDB recognises the
    # retry and does not apply the increment again.
    faulty.transact_write(
        [
            {
                "Update": {
                    "table": table,
                    "key": KEY,
                    "update": "SET n = n + :one",
                    "values": {":one": 1},
                }
            }
        ]
    )
    assert proxy.forwarded["TransactWriteItems"] == 2
    assert client.get_item(table, KEY) == {**KEY, "n": 1}


def test_post_whose_answer_was_lost_succeeds_exactly_once(
    proxy: FaultProxy, sync_faulty: Client, client: Client, table: str
) -> None:
    db = DynamoDbProxy(table_name=table, client=sync_faulty)
    proxy.inject("reset_after", operation="PutItem")
    assert db.post(entity_class=Person, data=JEANNE) == JEANNE
    assert proxy.forwarded["PutItem"] == 2
    assert client.scan(table).items == [{**JEANNE, "PK": "PERSON", "SK": "123456"}]
    with pytest.raises(AlreadyExists):
        db.post(entity_class=Person, data={**JEANNE, "name": "someone else"})


@pytest.mark.parametrize("hooked", [False, True])
def test_delete_whose_answer_was_lost_still_succeeds(
    hooked: bool, proxy: FaultProxy, sync_faulty: Client, client: Client, table: str
) -> None:
    class Guarded(Person):
        @classmethod
        def pre(cls, http_method: str, data: dict, existing_item: object = None) -> bool:
            return True

    entity = Guarded if hooked else Person
    db = DynamoDbProxy(table_name=table, client=sync_faulty)
    db.post(entity_class=entity, data=JEANNE)
    proxy.inject("reset_after", operation="DeleteItem")
    deleted = db.delete(entity_class=entity, data={"id_number": "123456"})
    assert deleted == (JEANNE if hooked else {"id_number": "123456"})
    assert proxy.forwarded["DeleteItem"] == 2
    assert client.scan(table).items == []


@pytest.mark.parametrize("kind", ["native", "botocore"])
def test_delete_of_an_absent_item_whose_first_attempt_could_not_connect_is_not_found(
    kind: str, proxy: FaultProxy, client: Client, table: str
) -> None:
    # A refused connection sent nothing, so the failed condition on the retry is no echo of
    # an earlier attempt: the item was never there.
    def listen_again_before_the_retry() -> float:  # the policy asks between the two attempts
        proxy.accept_connections()
        return 0.0

    retry = RetryPolicy(max_attempts=3, jitter=listen_again_before_the_retry)
    with Client(endpoint_url=proxy.url, transport=kind, retry=retry) as fresh:
        db = DynamoDbProxy(table_name=table, client=fresh)
        proxy.refuse_connections()
        with pytest.raises(NotFound):
            db.delete(entity_class=Person, data={"id_number": "404"})
        assert fresh.stats.retries == 1
    assert proxy.forwarded["DeleteItem"] == 1
    assert client.scan(table).items == []


@pytest.mark.parametrize("kind", KINDS)
def test_a_failed_condition_is_ambiguous_only_after_a_lost_answer(
    kind: str, proxy: FaultProxy, client: Client, table: str
) -> None:
    def listen_again_before_the_retry() -> float:  # the policy asks between the two attempts
        proxy.accept_connections()
        return 0.0

    retry = RetryPolicy(max_attempts=3, jitter=listen_again_before_the_retry)
    guarded = {"condition": "attribute_not_exists(PK)"}
    with make_client(kind, endpoint_url=proxy.url, transport="native", retry=retry) as c:
        client.put_item(table, {**KEY, "v": 0})
        proxy.refuse_connections()  # nothing sent: the failed condition is no echo
        with pytest.raises(ConditionalCheckFailed) as info:
            c.put_item(table, {**KEY, "v": 1}, **guarded)
        assert info.value.ambiguous is False
        client.delete_item(table, KEY)
        proxy.inject("reset_after", operation="PutItem")  # applied, answer lost
        with pytest.raises(ConditionalCheckFailed) as info:
            c.put_item(table, {**KEY, "v": 2}, **guarded)
        assert info.value.ambiguous is True  # the resent copy met its own write
        # Lost on a kept-alive connection, the request was resent at once: no retry.
        assert c.stats.retries == 1
    assert client.get_item(table, KEY) == {**KEY, "v": 2}


@pytest.mark.parametrize("kind", ["native", "botocore", "async"])
def test_a_connection_that_went_dark_while_idle_is_not_reused(
    kind: str, proxy: FaultProxy, client: Client, table: str
) -> None:
    clock = FakeClock()
    transport: Union[NativeTransport, BotocoreTransport, AioTransport]
    if kind == "native":
        transport = NativeTransport(proxy.url, read_timeout=0.5, clock=clock)
    elif kind == "botocore":
        transport = BotocoreTransport(proxy.url, read_timeout=0.5, proxies={}, clock=clock)
    else:
        transport = AioTransport(proxy.url, read_timeout=0.5, clock=clock)
    client_kind = "async" if kind == "async" else "sync"
    with make_client(client_kind, endpoint_url=proxy.url, transport=transport) as idle:
        proxy.inject("drop_silently", operation="PutItem")
        idle.put_item(table, {**KEY, "v": 1})  # answered, then the connection goes dark
        clock.advance(DEFAULT_MAX_IDLE_TIME)
        assert idle.get_item(table, KEY) == {**KEY, "v": 1}
        assert idle.stats.retries == 0  # no read timeout on the dark connection, no retry
    # The get went out on a new connection; the dark one never saw it.
    assert proxy.requests_per_connection == [1, 1]


@pytest.mark.parametrize("kind", KINDS)
def test_an_endpoint_that_is_not_dynamodb_gets_a_short_error_not_its_page(kind: str) -> None:
    page = b"<!DOCTYPE html><html><body><h1>It works!</h1>" + b"<p>filler</p>" * 400 + b"</html>"
    reply = b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s" % (
        len(page),
        page,
    )
    with TinyServer(serve_forever(lambda n: reply)) as server:
        wrong = make_client(kind, endpoint_url=server.url, transport="native")
        with wrong, pytest.raises(UnexpectedResponse) as info:
            wrong.get_item("t", KEY)
        assert len(server.requests) == 1  # not retried: a wrong endpoint answers the same
    message = str(info.value)
    assert "HTTP 404" in message and "text/html" in message and "not a DynamoDB" in message
    assert "<" not in message and len(message) < 200
