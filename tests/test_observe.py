"""``Client(on_request=...)`` and ``AsyncClient(on_request=...)``: one record per operation,
with its attempts, status, request id, bytes, timings and ConsumedCapacity when asked for."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from dynamore import Client, RequestRecord
from dynamore.exceptions import ConfigurationError, ResourceNotFound, ValidationError
from tests.client_kit import KINDS, make_client
from tests.faultproxy import FaultProxy

KEY = {"PK": "O", "SK": "1"}


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def proxy(ddb_endpoint: str) -> Iterator[FaultProxy]:
    with FaultProxy(ddb_endpoint) as p:
        yield p


def test_one_record_per_operation_with_capacity_when_asked(
    kind: str, ddb_endpoint: str, table: str
) -> None:
    records: list[RequestRecord] = []
    with make_client(kind, endpoint_url=ddb_endpoint, on_request=records.append) as db:
        db.put_item(table, {**KEY, "v": 1}, return_consumed_capacity="TOTAL")
        assert db.get_item(table, KEY) == {**KEY, "v": 1}
        page = db.query(table, "PK = :p", values={":p": "O"}, return_consumed_capacity="INDEXES")
        assert len(page.items) == 1
    put, get, query = records
    assert [r.operation for r in records] == ["PutItem", "GetItem", "Query"]
    assert put.consumed_capacity == {"TableName": table, "CapacityUnits": 1.0}
    assert get.consumed_capacity is None  # not asked for
    assert query.consumed_capacity["TableName"] == table
    assert "Table" in query.consumed_capacity  # INDEXES: the table's share named apart
    for record in records:
        assert record.status == 200 and record.error is None and record.request_id
        (attempt,) = record.attempts
        assert (attempt.status, attempt.error) == (200, None)
        assert record.bytes_sent == attempt.bytes_sent > 0
        assert record.bytes_received == attempt.bytes_received > 0
        assert attempt.total > 0
        # The native and asyncio transports both tell the time to the first byte.
        assert attempt.ttfb is not None and 0 < attempt.ttfb <= attempt.total
    body = {"TableName": table, "Key": {"PK": {"S": "O"}, "SK": {"S": "1"}}}
    assert get.bytes_sent == len(json.dumps(body, separators=(",", ":")))


def test_retries_and_errors_are_in_the_record(
    kind: str, proxy: FaultProxy, table: str, client: Client
) -> None:
    client.put_item(table, {**KEY, "v": 1})
    records: list[RequestRecord] = []
    with make_client(
        kind, endpoint_url=proxy.url, transport="native", on_request=records.append
    ) as db:
        proxy.inject("throttle", operation="GetItem")
        assert db.get_item(table, KEY) == {**KEY, "v": 1}
        with pytest.raises(ResourceNotFound):
            db.get_item("no-such-table", KEY)
    throttled, missing = records
    assert [(a.status, a.error) for a in throttled.attempts] == [(400, "HTTP400"), (200, None)]
    assert throttled.status == 200 and throttled.error is None
    assert throttled.bytes_sent == 2 * throttled.attempts[0].bytes_sent
    assert all(a.ttfb is not None and 0 < a.ttfb <= a.total for a in throttled.attempts)
    assert isinstance(missing.error, ResourceNotFound) and missing.status == 400
    assert [(a.status, a.error) for a in missing.attempts] == [(400, "ResourceNotFoundException")]
    assert missing.request_id == missing.error.request_id


def test_a_request_that_never_got_an_answer_has_no_status(kind: str) -> None:
    import socket

    records: list[RequestRecord] = []
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound but not listening: refused
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        with (
            make_client(
                kind, endpoint_url=url, transport="native", retry=2, on_request=records.append
            ) as db,
            pytest.raises(Exception, match="cannot connect"),
        ):
            db.get_item("t", KEY)
    (record,) = records
    assert record.status is None and record.request_id is None
    assert [(a.status, a.error) for a in record.attempts] == [(None, "ConnectError")] * 2
    assert [a.ttfb for a in record.attempts] == [None, None]


def test_options_are_checked_before_anything_is_sent(kind: str) -> None:
    records: list[Any] = []
    with pytest.raises(ConfigurationError, match="on_request"):
        make_client(kind, endpoint_url="http://127.0.0.1:1", on_request="print")
    db = make_client(kind, endpoint_url="http://127.0.0.1:1", on_request=records.append)
    with db, pytest.raises(ValidationError, match="return_consumed_capacity"):
        db.get_item("t", KEY, return_consumed_capacity="ALL")
    assert records == []
