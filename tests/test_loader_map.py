"""map_handler against DynamoDB Local: Distributed Map batches whose bad rows are reported and
whose unsettled items (throttling through the fault proxy, a shrinking remaining time) raise the
retryable BatchNotSettled; replaying any batch leaves the table and the result the same."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dynamore import Client
from dynamore._retry import RetryPolicy
from dynamore.exceptions import BatchNotSettled, ValidationError
from dynamore.loader import map_handler
from tests.faultproxy import FaultProxy
from tests.loader_kit import Person, row, stored_rows

# Invalid values, with a fragment of the reason each must be rejected for.
INVALID: list[tuple[Any, str]] = [
    (dict(row(0), age=-1), "age: must be bigger than or equal to 0"),
    (dict(row(0), SK="X"), "SK: is a key attribute"),
    ("not an object", "entity data must be a dict"),
]


class Context:
    """The part of a Lambda context the handler reads: the milliseconds left."""

    def __init__(self, remaining_ms: float) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> float:
        return self.remaining_ms


def batch(values: list[Any], first: int = 0) -> dict[str, Any]:
    """A batch as the ItemSelector of ``dynamore load-plan`` shapes it."""
    items = [{"index": first + i, "value": v} for i, v in enumerate(values)]
    return {"Items": items, "BatchInput": {"source": "s3://bucket/people.jsonl"}}


@pytest.fixture
def proxy(ddb_endpoint: str) -> Iterator[FaultProxy]:
    with FaultProxy(ddb_endpoint) as p:
        yield p


def test_bad_rows_are_reported_by_index_and_the_batch_succeeds(
    client: Client, ddb_endpoint: str, table: str
) -> None:
    values: list[Any] = [row(i) for i in range(60)]
    for at, (bad, _) in zip((3, 17, 41), INVALID):
        values[at] = bad
    event = batch(values, first=1000)
    event["Items"].insert(5, {"value": row(99)})  # shaped without its index
    handler = map_handler(Person, table, client=client)
    result = handler(event, Context(60_000))
    assert (result["items"], result["written"], result["invalid"]) == (61, 57, 4)
    assert [r["index"] for r in result["rejects"]] == [1003, None, 1017, 1041]
    assert "ItemSelector" in result["rejects"][1]["reason"]
    reasons = [r["reason"] for r in result["rejects"]]
    for got, (_, reason) in zip(reasons[:1] + reasons[2:], INVALID):
        assert reason in got
    stored = stored_rows(ddb_endpoint, table)
    good = [v for i, v in enumerate(values) if i not in (3, 17, 41)]
    assert stored == {v["id_number"]: v for v in good}
    # A replay (the state machine retried a batch whose answer was lost) changes nothing.
    assert handler(event, Context(60_000)) == result
    assert stored_rows(ddb_endpoint, table) == stored


def test_create_mode_replays_count_their_own_writes_and_report_other_data(
    client: Client, ddb_endpoint: str, table: str
) -> None:
    values = [row(i) for i in range(30)]
    client.put_item(table, Person(dict(row(7), name="someone else")).data_with_identity())
    handler = map_handler(Person, table, client=client, mode="create")
    first = handler(batch(values), None)
    assert (first["written"], first["exists"], first["existing"]) == (29, 1, ["000007"])
    assert handler(batch(values), None) == first
    assert stored_rows(ddb_endpoint, table)["000007"]["name"] == "someone else"


def test_too_little_time_left_raises_and_a_replay_with_time_settles(
    client: Client, ddb_endpoint: str, table: str
) -> None:
    values = [row(i) for i in range(200)]
    handler = map_handler(Person, table, client=client, margin_ms=5_000)
    with pytest.raises(BatchNotSettled, match="out of time") as caught:
        handler(batch(values), Context(4_000))
    assert caught.value.unsettled == 200
    assert handler(batch(values), Context(60_000))["written"] == 200
    assert len(stored_rows(ddb_endpoint, table)) == 200


def test_throttling_past_the_retries_raises_and_the_replay_writes_each_item_once(
    proxy: FaultProxy, ddb_endpoint: str, table: str
) -> None:
    values = [row(i) for i in range(120)]
    retry = RetryPolicy(max_attempts=2, throttle_base=0.001, transient_base=0.001)
    with Client(endpoint_url=proxy.url, retry=retry) as client:
        handler = map_handler(Person, table, client=client, batch_attempts=2, workers=2)
        proxy.inject("throttle", operation="BatchWriteItem", times=10_000)
        with pytest.raises(BatchNotSettled, match="throttled past its retries") as caught:
            handler(batch(values), None)
        assert caught.value.unsettled > 0
        proxy.clear()
        result = handler(batch(values), None)
    assert (result["written"], result["invalid"], result["rejects"]) == (120, 0, [])
    assert stored_rows(ddb_endpoint, table) == {v["id_number"]: v for v in values}


@pytest.mark.parametrize("event", [{}, {"Items": "x"}, []])
def test_an_event_that_is_not_a_map_batch_is_refused(
    client: Client, table: str, event: Any
) -> None:
    handler = map_handler(Person, table, client=client)
    with pytest.raises(ValidationError, match="Items"):
        handler(event, None)


def test_batch_not_settled_is_named_for_the_state_machine_retry() -> None:
    # Step Functions matches Lambda errors by the exception's class name.
    assert BatchNotSettled.__name__ == "BatchNotSettled"
    assert BatchNotSettled("batch of 3 out of time", 2).unsettled == 2
