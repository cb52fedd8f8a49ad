"""Client.batch_write / batch_get against DynamoDB Local, and through the fault proxy for what
DynamoDB Local never does: unprocessed items and keys, throttled batches."""

from __future__ import annotations

import random
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from dynamore import Client
from dynamore._batch import (
    MAX_GET_KEYS,
    AdaptiveRate,
    _projection_payload,
    item_key_id,
    key_id,
)
from dynamore._retry import RetryPolicy
from dynamore.codec import encode_item
from dynamore.exceptions import (
    BatchIncomplete,
    ResourceNotFound,
    ThrottlingError,
    ValidationError,
)
from tests import ddb_admin
from tests.faultproxy import FaultProxy
from tests.kit import as_python, leave_unprocessed, stored

# Tiny backoff bases: the tests wait for nothing, the rules stay the same.
FAST = RetryPolicy(max_attempts=3, throttle_base=0.001, transient_base=0.001)


def items(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {"PK": "B", "SK": f"{i:05d}", "n": i, "f": i / 3, "tags": ["x", i], "m": {"k": None}}
        for i in range(start, start + n)
    ]


def key(item: dict[str, Any]) -> dict[str, Any]:
    return {"PK": item["PK"], "SK": item["SK"]}


def no_sleep(seconds: float) -> None:
    pass


@pytest.fixture
def proxy(ddb_endpoint: str) -> Iterator[FaultProxy]:
    with FaultProxy(ddb_endpoint) as p:
        yield p


@pytest.fixture
def faulty(proxy: FaultProxy) -> Iterator[Client]:
    with Client(endpoint_url=proxy.url, retry=FAST) as c:
        yield c


# -- plain behaviour -------------------------------------------------------------------------


def test_write_splits_into_requests_and_everything_lands(
    proxy: FaultProxy, faulty: Client, ddb_endpoint: str, table: str
) -> None:
    written = items(60)
    faulty.batch_write(table, puts=written, key_names=("PK", "SK"))
    assert proxy.forwarded["BatchWriteItem"] == 3  # 25 + 25 + 10
    assert {sk: as_python(v) for sk, v in stored(ddb_endpoint, table).items()} == {
        i["SK"]: i for i in written
    }
    faulty.batch_write(
        table,
        puts=items(5, start=100),
        deletes=[key(i) for i in written[:30]],
        key_names=["PK", "SK"],
    )
    assert sorted(stored(ddb_endpoint, table)) == sorted(
        [i["SK"] for i in written[30:]] + [i["SK"] for i in items(5, start=100)]
    )


def test_key_names_are_learned_once_per_table(
    proxy: FaultProxy, faulty: Client, ddb_endpoint: str, table: str
) -> None:
    faulty.batch_write(table, puts=items(3))
    faulty.batch_write(table, puts=items(3, start=3), deletes=[key(items(1)[0])])
    assert proxy.forwarded["DescribeTable"] == 1
    assert sorted(stored(ddb_endpoint, table)) == [f"{i:05d}" for i in range(1, 6)]


def test_get_returns_found_items_in_the_order_of_the_keys(client: Client, table: str) -> None:
    written = items(250)
    client.batch_write(table, puts=written, key_names=("PK", "SK"))
    wanted = [key(i) for i in written] + [{"PK": "B", "SK": "missing"}]
    random.Random(6).shuffle(wanted)
    got = client.batch_get(table, wanted, consistent=True)
    by_sk = {i["SK"]: i for i in written}
    assert got == [by_sk[k["SK"]] for k in wanted if k["SK"] in by_sk]
    assert len(wanted) > 2 * MAX_GET_KEYS


def test_get_projection_strips_the_keys_it_added(client: Client, table: str) -> None:
    written = items(3)
    client.batch_write(table, puts=written, key_names=("PK", "SK"))
    keys = [key(i) for i in reversed(written)]
    assert client.batch_get(table, keys, projection=["n"]) == [{"n": 2}, {"n": 1}, {"n": 0}]
    assert client.batch_get(table, keys, projection=["SK", "n"]) == [
        {"SK": i["SK"], "n": i["n"]} for i in reversed(written)
    ]
    assert client.batch_get(table, keys, projection="n, f") == [
        {"n": i["n"], "f": i["f"]} for i in reversed(written)
    ]
    assert client.batch_get(table, []) == []


def test_duplicates_are_refused_before_anything_is_sent(
    proxy: FaultProxy, faulty: Client, ddb_endpoint: str, table: str
) -> None:
    written = items(40)
    with pytest.raises(ValueError, match=r"puts\[30\]: duplicate key"):
        faulty.batch_write(table, puts=written[:30] + [written[0]], key_names=("PK", "SK"))
    with pytest.raises(ValidationError, match=r"deletes\[0\]: duplicate key .*puts\[1\]"):
        faulty.batch_write(
            table, puts=written[:2], deletes=[key(written[1])], key_names=("PK", "SK")
        )
    with pytest.raises(ValueError, match=r"keys\[2\]: duplicate key"):
        faulty.batch_get(table, [key(written[0]), key(written[1]), key(written[0])])
    assert proxy.received["BatchWriteItem"] == proxy.received["BatchGetItem"] == 0
    assert stored(ddb_endpoint, table) == {}


def test_bad_input_names_the_entry(faulty: Client, proxy: FaultProxy, table: str) -> None:
    names = ("PK", "SK")
    with pytest.raises(ValidationError, match=r"puts\[1\]: key attribute 'SK' is missing"):
        faulty.batch_write(table, puts=[items(1)[0], {"PK": "B", "x": 1}], key_names=names)
    with pytest.raises(ValidationError, match=r"deletes\[0\]: 'f' is not a key attribute"):
        faulty.batch_write(table, deletes=[items(1)[0]], key_names=names)
    with pytest.raises(ValidationError, match=r"puts\[0\]\.f"):
        faulty.batch_write(table, puts=[{"PK": "B", "SK": "1", "f": float("nan")}], key_names=names)
    with pytest.raises(ValidationError, match=r"keys\[1\]: has attributes"):
        faulty.batch_get(table, [{"PK": "B", "SK": "1"}, {"PK": "B"}])
    with pytest.raises(ValidationError, match=r"puts\[1\]: strings must be valid Unicode"):
        faulty.batch_write(table, puts=[items(1)[0], {"PK": "B", "SK": "\ud800"}], key_names=names)
    assert proxy.received["BatchWriteItem"] == proxy.received["BatchGetItem"] == 0


def test_errors_retrying_cannot_fix_propagate(client: Client) -> None:
    with pytest.raises(ResourceNotFound):
        client.batch_write("no-such-table", puts=items(2), key_names=("PK", "SK"))
    with pytest.raises(ResourceNotFound):
        client.batch_write("no-such-table", puts=items(2))  # from DescribeTable
    with pytest.raises(ResourceNotFound):
        client.batch_get("no-such-table", [key(items(1)[0])])


# -- unprocessed items and throttling (fault proxy) ---------------------------------------------


def test_unprocessed_items_are_resent_until_written(
    proxy: FaultProxy, faulty: Client, ddb_endpoint: str, table: str
) -> None:
    written = items(50)
    # Each of these is left behind once: two in each chunk of 25.
    proxy.inject_rewrite(
        leave_unprocessed(ddb_endpoint, table, {"00003", "00007", "00030", "00031"}, once=True),
        operation="BatchWriteItem",
        times=100,
    )
    throttles = faulty.stats.throttles
    sleeps: list[float] = []
    faulty.batch_write(table, puts=written, key_names=("PK", "SK"), sleep=sleeps.append)
    assert {sk: as_python(v) for sk, v in stored(ddb_endpoint, table).items()} == {
        i["SK"]: i for i in written
    }
    # Per chunk: 25 sent, 2 left over; those 2 resent alone.
    assert proxy.forwarded["BatchWriteItem"] == 4
    assert faulty.stats.throttles - throttles == 2
    assert len(sleeps) == 2 and all(0 <= s <= 0.01 for s in sleeps)


def test_exhausted_retries_report_exactly_what_was_not_written(
    proxy: FaultProxy, faulty: Client, ddb_endpoint: str, table: str
) -> None:
    written = items(60)
    stuck = {"00004", "00011"}
    proxy.inject_rewrite(
        leave_unprocessed(ddb_endpoint, table, stuck), operation="BatchWriteItem", times=100
    )
    with pytest.raises(BatchIncomplete) as caught:
        faulty.batch_write(
            table, puts=written, key_names=("PK", "SK"), attempts=3, sleep=lambda s: None
        )
    left = caught.value.unprocessed
    # The stuck items of the first chunk, then the two chunks never sent, in order.
    assert left == [("put", i) for i in written if i["SK"] in stuck or int(i["SK"]) >= 25]
    assert sorted(stored(ddb_endpoint, table)) == [
        i["SK"] for i in written[:25] if i["SK"] not in stuck
    ]
    assert proxy.forwarded["BatchWriteItem"] == 1 + 3  # the first round, then 3 without progress


def test_throttled_batches_are_retried_then_reported_whole(
    proxy: FaultProxy, faulty: Client, ddb_endpoint: str, table: str
) -> None:
    proxy.inject("throttle", operation="BatchWriteItem", times=2)
    faulty.batch_write(table, puts=items(10), key_names=("PK", "SK"))
    assert len(stored(ddb_endpoint, table)) == 10

    # Every attempt of the client (3) in each of the two rounds the call may make.
    proxy.inject("throttle", operation="BatchWriteItem", times=6)
    later = items(30, start=100)
    deletes = [key(i) for i in items(2)]
    with pytest.raises(BatchIncomplete, match="ThrottlingException") as caught:
        faulty.batch_write(
            table, puts=later, deletes=deletes, key_names=("PK", "SK"), attempts=2, sleep=no_sleep
        )
    assert isinstance(caught.value.__cause__, ThrottlingError)
    assert caught.value.unprocessed == [("put", i) for i in later] + [
        ("delete", k) for k in deletes
    ]
    assert len(stored(ddb_endpoint, table)) == 10  # the throttled request was not applied


def test_a_request_throttled_past_the_clients_attempts_is_one_more_round(
    proxy: FaultProxy, faulty: Client, client: Client, ddb_endpoint: str, table: str
) -> None:
    # Every attempt the client makes on its own (3) is throttled: the batch backs off and
    # sends again, as it does with unprocessed items, instead of giving up on all of them.
    proxy.inject("throttle", operation="BatchWriteItem", times=3)
    throttles = faulty.stats.throttles
    sleeps: list[float] = []
    faulty.batch_write(table, puts=items(30), key_names=("PK", "SK"), sleep=sleeps.append)
    assert len(stored(ddb_endpoint, table)) == 30
    assert proxy.received["BatchWriteItem"] == 3 + 2  # 3 throttled, then both chunks
    assert len(sleeps) == 1 and faulty.stats.throttles - throttles == 3

    proxy.inject("throttle", operation="BatchGetItem", times=3)
    got = faulty.batch_get(table, [key(i) for i in items(30)], sleep=sleeps.append)
    assert got == items(30) and len(sleeps) == 2


def test_an_unprocessed_item_that_matches_no_entry_is_never_counted_written(
    proxy: FaultProxy, faulty: Client, ddb_endpoint: str, table: str
) -> None:
    def misreport(request: dict[str, Any], response: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        # 00003 was not written (deleted again), and DynamoDB's answer names it by a key no
        # entry has: which entry is left cannot be told, so none may pass for written.
        puts = request["RequestItems"][table]
        left = next(r for r in puts if r["PutRequest"]["Item"]["SK"]["S"] == "00003")
        ddb_admin.botocore_client(ddb_endpoint).delete_item(
            TableName=table, Key={"PK": {"S": "B"}, "SK": {"S": "00003"}}
        )
        odd = {"PutRequest": {"Item": dict(left["PutRequest"]["Item"], SK={"S": "zz"})}}
        response["UnprocessedItems"] = {table: [odd]}
        return 200, response

    proxy.inject_rewrite(misreport, operation="BatchWriteItem")
    faulty.batch_write(table, puts=items(10), key_names=("PK", "SK"), sleep=no_sleep)
    assert sorted(stored(ddb_endpoint, table)) == [i["SK"] for i in items(10)]
    assert proxy.forwarded["BatchWriteItem"] == 2  # all ten sent again

    def misreport_keys(
        request: dict[str, Any], response: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        found = response["Responses"][table]
        response["Responses"][table] = [i for i in found if i["SK"]["S"] != "00003"]
        response["UnprocessedKeys"] = {table: {"Keys": [{"PK": {"S": "B"}, "SK": {"S": "zz"}}]}}
        return 200, response

    proxy.inject_rewrite(misreport_keys, operation="BatchGetItem")
    got = faulty.batch_get(table, [key(i) for i in items(10)], sleep=no_sleep)
    assert got == items(10)


def test_unprocessed_keys_are_reread_and_exhaustion_reports_them(
    proxy: FaultProxy, faulty: Client, client: Client, table: str
) -> None:
    written = items(120)
    client.batch_write(table, puts=written, key_names=("PK", "SK"))
    stuck = {"00005", "00006"}

    def hold_back(request: dict[str, Any], response: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        found = response["Responses"][table]
        response["Responses"][table] = [i for i in found if i["SK"]["S"] not in stuck]
        left = [k for k in request["RequestItems"][table]["Keys"] if k["SK"]["S"] in stuck]
        if left:
            response["UnprocessedKeys"] = {table: dict(request["RequestItems"][table], Keys=left)}
        return 200, response

    keys = [key(i) for i in written]
    proxy.inject_rewrite(hold_back, operation="BatchGetItem", times=2)
    got = faulty.batch_get(table, keys, sleep=lambda s: None)
    assert got == written
    assert proxy.forwarded["BatchGetItem"] == 2 + 1 + 1  # two held back, the rest, chunk 2

    proxy.inject_rewrite(hold_back, operation="BatchGetItem", times=100)
    with pytest.raises(BatchIncomplete) as caught:
        faulty.batch_get(table, keys, attempts=2, sleep=lambda s: None, projection=["n"])
    assert caught.value.unprocessed == [k for k in keys if k["SK"] in stuck or int(k["SK"]) >= 100]


# -- pure units ---------------------------------------------------------------------------------


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_adaptive_rate_halves_on_throttling_and_grows_back_additively() -> None:
    t = FakeTime()
    rate = AdaptiveRate(floor=10.0, window=2.0, cooldown=1.0, clock=t.clock, sleep=t.sleep)
    for _ in range(8):  # 200 items in the last 2 s: 100 items/s, unlimited so far
        rate.acquire(25)
        t.now += 0.25
    assert rate.rate is None and t.slept == []
    rate.throttled()
    assert rate.rate == 50.0  # half of what went through
    rate.throttled()  # the same burst, seen by another worker: no second cut
    assert rate.rate == 50.0
    rate.acquire(25)
    rate.acquire(25)
    assert t.slept == [0.5]  # 25 items at 50/s
    for _ in range(3):
        rate.succeeded()
    assert rate.rate == 65.0  # + a tenth of the cut rate per success
    t.now += 1.5
    rate.throttled()
    assert rate.rate == pytest.approx(32.5)
    while rate.rate is not None:  # back to twice the throttled throughput: limit lifted
        rate.succeeded()
    rate.acquire(1000)
    assert t.slept == [0.5]


def test_adaptive_rate_never_drops_below_its_floor() -> None:
    t = FakeTime()
    rate = AdaptiveRate(floor=25.0, clock=t.clock, sleep=t.sleep)
    rate.throttled()  # nothing measured yet
    assert rate.rate == 25.0


def test_adaptive_rate_keeps_only_its_window_of_history() -> None:
    t = FakeTime()
    rate = AdaptiveRate(floor=1.0, window=2.0, clock=t.clock, sleep=t.sleep)
    for _ in range(10_000):  # hours of a long load, unthrottled
        rate.acquire(25)
        t.now += 0.5
    assert len(rate._sent) <= 5
    rate.throttled()
    assert rate.rate == pytest.approx(25 * 4 / 2 / 2)  # half of 4 sends over the last 2 s


def test_key_identity_compares_numbers_by_value() -> None:
    assert key_id({"a": {"N": "1.0"}, "b": {"S": "x"}}, ("a", "b")) == key_id(
        {"a": {"N": "1"}, "b": {"S": "x"}}, ("a", "b")
    )
    assert key_id({"a": {"B": "AA=="}}, ("a",)) != key_id({"a": {"S": "AA=="}}, ("a",))
    assert key_id({"a": {"S": "x"}}, ("a", "b")) is None


def test_the_key_identity_of_a_python_item_is_that_of_its_wire_form() -> None:
    names = ("PK", "SK")
    for item in (
        {"PK": "a", "SK": "b", "x": [1]},
        {"PK": "a", "SK": 1.0},
        {"PK": "a", "SK": Decimal("1")},
        {"PK": b"\x00", "SK": "b"},
        {"PK": 7, "SK": "b"},
    ):
        assert item_key_id(item, names) == key_id(encode_item(item), names), item
    assert item_key_id({"PK": "a", "SK": 1}, names) == item_key_id({"PK": "a", "SK": 1.0}, names)
    assert item_key_id({"PK": "a"}, names) is None
    assert item_key_id({"PK": "a", "SK": None}, names) is not None  # DynamoDB's to refuse


def test_projection_always_includes_the_keys() -> None:
    payload, strip = _projection_payload(["name", "SK"], ("PK", "SK"))
    assert payload == {
        "ProjectionExpression": "#p0, #p1, #k0",
        "ExpressionAttributeNames": {"#p0": "name", "#p1": "SK", "#k0": "PK"},
    }
    assert strip == {"PK"}
    payload, strip = _projection_payload("a, PK", ("PK", "SK"))
    assert payload["ProjectionExpression"] == "a, PK, #k1"
    assert strip == {"SK"}
