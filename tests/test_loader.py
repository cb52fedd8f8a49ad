"""DynamoDbProxy.load against DynamoDB Local: every valid item stored once, every invalid one
reported, deadlines and stops resumable without loss, throttling and unprocessed items (through
the fault proxy) losing nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, Optional

import pytest

from dynamore import Client
from dynamore._batch import AdaptiveRate
from dynamore._retry import RetryPolicy
from dynamore.dynamodb_proxy import DynamoDbProxy
from dynamore.entity import Entity
from dynamore.exceptions import ConfigurationError, ResourceNotFound, ValidationError
from dynamore.loader import IDLE, SKIP, Checkpoint, LoadReport, Reject, _workers, load
from tests import ddb_admin
from tests.faultproxy import FaultProxy
from tests.kit import as_python, leave_unprocessed, stored


class Person(Entity):
    SCHEMA = {
        "title": "PERSON",
        "type": "object",
        "required": ["id_number", "name"],
        "properties": {
            "id_number": {"type": "string"},
            "name": {"type": "string"},
            "age": {"type": "integer", "minimum": 0},
            "score": {"type": "number"},
            "tags": {"type": "array"},
            "address": {"type": "object"},
        },
        "additionalProperties": False,
    }
    ID_ATTRIBUTE = "id_number"


def row(i: int, **changes: Any) -> dict[str, Any]:
    data = {
        "id_number": f"{i:06d}",
        "name": f"person {i}",
        "age": i % 90,
        "score": i / 8,
        "tags": ["a", i],
        "address": {"city": "Lyon", "zip": None},
    }
    data.update(changes)
    return data


# Invalid rows, one of each kind, with a fragment of the reason each must be rejected for.
INVALID: list[tuple[Any, str]] = [
    (row(0, age=-1), "age: must be bigger than or equal to 0"),
    (dict(row(0), PK="X"), "PK: is a key attribute"),
    ("not an object", "entity data must be a dict"),
    (row(0, score=float("nan")), "score: NaN is not a DynamoDB number"),
    ({"id_number": "x"}, "must contain ['name']"),
    (row(0, extra=1), "must not contain {'extra'}"),
    (row(0, id_number="x" * 1025), "SK: the sort key (id_number) value is 1025 bytes, over"),
    (row(0, id_number=7), "id_number: must be string"),
    (row(0, name="lone \ud800"), "lone surrogate cannot be sent"),
]


def mixed(n: int, every: int = 97) -> tuple[list[Any], dict[int, str]]:
    """``n`` rows, every ``every``-th one invalid; returns them and {position: reason part}."""
    rows: list[Any] = []
    bad: dict[int, str] = {}
    for i in range(n):
        if i % every == every - 1:
            value, reason = INVALID[len(bad) % len(INVALID)]
            rows.append(value)
            bad[i] = reason
        else:
            rows.append(row(i))
    return rows, bad


def stored_rows(endpoint: str, table: str) -> dict[str, dict[str, Any]]:
    """The table's PERSON items as entity data (keys stripped), by id."""
    out = {}
    for sk, item in stored(endpoint, table).items():
        assert item.pop("PK") == "PERSON"
        item.pop("SK")
        out[sk] = as_python(item)
    return out


def valid_rows(rows: list[Any], bad: dict[int, str]) -> dict[str, dict[str, Any]]:
    return {r["id_number"]: r for i, r in enumerate(rows) if i not in bad}


def assert_adds_up(report: LoadReport, n: int) -> None:
    total = report.written + report.rejected + report.already_existing + report.failed
    assert total + report.skipped == n == report.checkpoint.position


@pytest.fixture
def db(client: Client, table: str) -> DynamoDbProxy:
    return DynamoDbProxy(table_name=table, client=client)


# -- the whole path ----------------------------------------------------------------------------


def test_ten_thousand_items_each_valid_one_stored_once(
    db: DynamoDbProxy, ddb_endpoint: str, table: str
) -> None:
    rows, bad = mixed(10_000)
    rejected: list[Reject] = []
    report = db.load(Person, rows, workers=4, keep=10_000, on_reject=rejected.append)
    assert report.complete and report.stopped is None
    assert (report.written, report.rejected, report.failed) == (10_000 - len(bad), len(bad), 0)
    assert_adds_up(report, 10_000)
    assert stored_rows(ddb_endpoint, table) == valid_rows(rows, bad)
    # Every invalid row, in order, with its position, reason and the row itself.
    assert rejected == report.rejects
    assert [r.position for r in rejected] == sorted(bad)
    for reject in rejected:
        assert reject.kind == "invalid"
        assert bad[reject.position] in reject.reason
        assert reject.source is rows[reject.position]
    assert not report.ok


def test_create_mode_reports_existing_ids_and_accepts_its_own_writes(
    db: DynamoDbProxy, client: Client, ddb_endpoint: str, table: str
) -> None:
    rows = [row(i) for i in range(40)]
    client.put_item(table, Person(rows[3]).data_with_identity())  # equal, but not this load's
    client.put_item(table, Person(row(5, name="someone else")).data_with_identity())
    report = db.load(Person, rows, mode="create", workers=3)
    assert (report.written, report.already_existing, report.rejected) == (38, 2, 0)
    assert sorted(report.existing) == ["000003", "000005"]
    assert report.ok
    expected = {r["id_number"]: r for r in rows}
    expected["000005"] = row(5, name="someone else")  # not replaced
    assert stored_rows(ddb_endpoint, table) == expected
    # Resumed from a checkpoint, an equal item may be the interrupted run's own write.
    again = db.load(Person, rows, mode="create", workers=3, resume=Checkpoint())
    assert (again.written, again.already_existing, again.existing) == (39, 1, ["000005"])


@pytest.mark.parametrize("mode, kept", [("upsert", "third"), ("create", "person 7")])
def test_the_same_id_twice_is_written_in_input_order(
    db: DynamoDbProxy, ddb_endpoint: str, mode: str, kept: str, table: str
) -> None:
    rows = [row(i) for i in range(300)] + [row(8)]  # with an exact duplicate of row 8 last
    for at, name in ((10, "first"), (150, "second"), (151, "third")):
        rows.insert(at, row(7, name=name))
    report = db.load(Person, rows, mode=mode, workers=4)
    assert report.written + report.already_existing == len(rows)
    assert stored_rows(ddb_endpoint, table)["000007"]["name"] == kept
    if mode == "create":  # row 7 itself came first; the duplicate met row 8, not its own write
        assert report.existing == ["000007"] * 3 + ["000008"]


def test_parse_skips_blank_and_rejects_what_it_cannot_read(
    db: DynamoDbProxy, ddb_endpoint: str, table: str
) -> None:
    lines = [json.dumps(row(i)) for i in range(30)]
    lines[4] = "{not json"
    lines[9] = "   "
    lines[12] = "null"  # not blank: an element, and not an entity
    lines[20] = "[" * 100_000

    def parse(line: str) -> Any:
        return json.loads(line) if line.strip() else SKIP

    report = db.load(Person, lines, parse=parse)
    assert (report.written, report.rejected, report.skipped) == (26, 3, 1)
    assert report.rejects[0].position == 4 and report.rejects[0].source == "{not json"
    assert [(r.position, r.reason) for r in report.rejects[1:]] == [
        (12, "entity data must be a dict, not NoneType"),
        (20, "nested too deeply"),
    ]
    assert len(stored_rows(ddb_endpoint, table)) == 26
    assert_adds_up(report, 30)
    report = db.load(Person, [row(1), None])  # without parse, None is an element too
    assert (report.written, report.rejected, report.skipped) == (1, 1, 0)


def test_a_refusing_pre_hook_rejects(client: Client, table: str) -> None:
    class Picky(Person):
        @classmethod
        def pre(cls, http_method: str, data: dict[str, Any], existing_item: Any = None) -> bool:
            assert http_method == "PUT"
            return bool(data["age"] % 2)

    report = DynamoDbProxy(table_name=table, client=client).load(Picky, [row(i) for i in range(10)])
    assert (report.written, report.rejected) == (5, 5)
    assert all("refused by Picky.pre" in r.reason for r in report.rejects)


def test_bad_options_are_refused(db: DynamoDbProxy) -> None:
    with pytest.raises(ValidationError, match="mode"):
        db.load(Person, [], mode="replace")
    with pytest.raises(ValidationError, match="workers"):
        db.load(Person, [], workers=0)


def test_a_missing_table_raises_after_stopping_the_workers(client: Client) -> None:
    saved: list[Checkpoint] = []
    with pytest.raises(ResourceNotFound):  # the table check finds out before reading anything
        DynamoDbProxy(table_name="no-such-table", client=client).load(Person, [row(0)])
    db = DynamoDbProxy(table_name="no-such-table", client=client, check_table=False)
    with pytest.raises(ResourceNotFound):  # the workers find out
        db.load(Person, [row(i) for i in range(200)], on_checkpoint=saved.append)
    assert saved[-1].position == 0
    assert not [t for t in threading.enumerate() if t.name.startswith("dynamore-load-")]


# -- streaming, stopping and resuming ------------------------------------------------------------


def test_input_is_read_lazily_with_bounded_lag(db: DynamoDbProxy) -> None:
    read = [0]
    lag = [0]

    def source() -> Iterator[dict[str, Any]]:
        for i in range(5000):
            read[0] += 1
            yield row(i)

    def watch(checkpoint: Checkpoint) -> None:
        lag[0] = max(lag[0], read[0] - checkpoint.position)

    report = db.load(Person, source(), workers=4, on_checkpoint=watch, checkpoint_every=1)
    assert report.written == 5000
    # In flight at most: per worker a batch being sent, two queued and one filling, plus the
    # batches the reader may run ahead of one slow shard; far below the 5000 of the input.
    assert 0 < lag[0] <= 4 * 4 * 25 + 4 * 4 * 25 + 25


def test_deadline_stops_cleanly_and_the_checkpoint_resumes(
    db: DynamoDbProxy, ddb_endpoint: str, table: str
) -> None:
    rows, bad = mixed(3000, every=50)
    calls = [0]

    def remaining_ms() -> float:  # like Lambda's context.get_remaining_time_in_millis
        calls[0] += 1
        return 60_000.0 if calls[0] < 40 else 1_000.0

    first = db.load(Person, rows, deadline=remaining_ms, workers=4)
    assert (first.complete, first.stopped) == (False, "deadline")
    position = first.checkpoint.position
    assert 0 < position < 3000
    assert first.written + first.rejected == position
    # Below the checkpoint everything is settled: each valid row is in the table.
    now = stored_rows(ddb_endpoint, table)
    assert all(r["id_number"] in now for i, r in enumerate(rows[:position]) if i not in bad)

    second = db.load(Person, rows, resume=first.checkpoint, workers=4)
    assert second.complete and second.stopped is None
    assert (second.written, second.rejected) == (3000 - len(bad), len(bad))
    assert_adds_up(second, 3000)
    assert [r.position for r in second.rejects] == [p for p in sorted(bad) if p >= position]
    assert stored_rows(ddb_endpoint, table) == valid_rows(rows, bad)


def test_stop_event_then_resume_in_create_mode_counts_each_item_once(
    db: DynamoDbProxy, ddb_endpoint: str, table: str
) -> None:
    rows, bad = mixed(2000, every=40)
    stop = threading.Event()
    saved: list[Checkpoint] = []
    rejects: list[int] = []

    def on_checkpoint(checkpoint: Checkpoint) -> None:
        saved.append(checkpoint)
        if checkpoint.position >= 500:
            stop.set()

    first = db.load(
        Person,
        rows,
        mode="create",
        stop=stop,
        on_checkpoint=on_checkpoint,
        checkpoint_every=100,
        on_reject=lambda r: rejects.append(r.position),
    )
    assert (first.complete, first.stopped) == (False, "stopped")
    assert saved[-1] == first.checkpoint
    assert [c.position for c in saved] == sorted(c.position for c in saved)
    # Items above the checkpoint may have been written already: the resumed run meets them
    # as its own writes (equal items), not as existing ids.
    second = db.load(
        Person,
        rows,
        mode="create",
        resume=first.checkpoint,
        on_reject=lambda r: rejects.append(r.position),
    )
    assert second.complete
    assert (second.written, second.rejected, second.already_existing) == (
        2000 - len(bad),
        len(bad),
        0,
    )
    assert rejects == sorted(bad)  # each once, in order, across both runs
    assert stored_rows(ddb_endpoint, table) == valid_rows(rows, bad)


# -- throttling and unprocessed items (fault proxy) ---------------------------------------------


@pytest.fixture
def proxy(ddb_endpoint: str) -> Iterator[FaultProxy]:
    with FaultProxy(ddb_endpoint) as p:
        yield p


def proxied(proxy: FaultProxy, attempts: int) -> Client:
    retry = RetryPolicy(max_attempts=attempts, throttle_base=0.001, transient_base=0.001)
    return Client(endpoint_url=proxy.url, retry=retry)


def test_throttling_and_unprocessed_items_lose_nothing(
    proxy: FaultProxy, ddb_endpoint: str, table: str
) -> None:
    rows = [row(i) for i in range(1000)]
    left_once = {f"{i:06d}" for i in range(0, 1000, 37)}
    proxy.inject("throttle", operation="BatchWriteItem", times=6)
    proxy.inject_rewrite(
        leave_unprocessed(ddb_endpoint, table, left_once, once=True),
        operation="BatchWriteItem",
        times=10_000,
    )
    # Two attempts of the client's own: some requests stay throttled past them, and are sent
    # again as a round without progress, not failed.
    with proxied(proxy, attempts=2) as client:
        report = DynamoDbProxy(table_name=table, client=client).load(Person, rows, workers=4)
    assert report.ok and report.written == 1000
    # 6 throttled requests, and at least one leftover round per request that had left-overs;
    # each counted once, and every retry here was for throttling.
    assert report.throttles >= 6 + 1
    assert report.retries == report.throttles
    assert stored_rows(ddb_endpoint, table) == {r["id_number"]: r for r in rows}


def test_create_mode_retries_a_put_throttled_past_the_clients_attempts(
    proxy: FaultProxy, ddb_endpoint: str, table: str
) -> None:
    rows = [row(i) for i in range(20)]
    proxy.inject("throttle", operation="PutItem", times=5)
    with proxied(proxy, attempts=2) as client:
        db = DynamoDbProxy(table_name=table, client=client)
        report = db.load(Person, rows, mode="create", workers=1)
    assert (report.written, report.failed, report.already_existing) == (20, 0, 0)
    assert report.throttles == 5
    assert stored_rows(ddb_endpoint, table) == {r["id_number"]: r for r in rows}


class RecordingRate(AdaptiveRate):
    """The loader's real rate, recording what it decides."""

    def __init__(self, *, sleep: Callable[[float], object]) -> None:
        super().__init__(sleep=lambda seconds: (self.waits.append(seconds), sleep(seconds)))
        self.events: list[tuple[str, Optional[float]]] = []
        self.waits: list[float] = []

    def throttled(self) -> None:
        super().throttled()
        self.events.append(("throttled", self.rate))

    def succeeded(self) -> None:
        before = self.rate
        super().succeeded()
        if before is not None:
            self.events.append(("succeeded", self.rate))


def test_throttling_slows_every_worker_down_and_successes_speed_them_up_again(
    proxy: FaultProxy, ddb_endpoint: str, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rates: list[RecordingRate] = []

    def make(**options: Any) -> RecordingRate:  # the one rate the load shares
        rates.append(RecordingRate(**options))
        return rates[-1]

    monkeypatch.setattr(_workers, "AdaptiveRate", make)
    rows = [row(i) for i in range(1000)]
    proxy.inject("throttle", operation="BatchWriteItem", times=4)
    with proxied(proxy, attempts=10) as client:
        report = DynamoDbProxy(table_name=table, client=client).load(Person, rows, workers=4)
    assert report.ok and report.throttles == 4
    (rate,) = rates
    kinds = [kind for kind, _ in rate.events]
    assert kinds[0] == "throttled" and "succeeded" in kinds
    cut = rate.events[0][1]
    assert cut is not None  # unlimited until then, limited from then on
    # Throttling never raises the rate; each success after it raises it a step (or lifts it).
    previous: Optional[float] = cut
    for kind, value in rate.events[1:]:
        if kind == "throttled":
            assert value is not None and (previous is None or value <= previous)
        else:
            assert value is None or (previous is not None and value > previous)
        previous = value
    assert previous is None or previous > cut
    assert rate.waits  # and the workers really were held back


def test_exhausted_retries_fail_exactly_the_items_not_written(
    proxy: FaultProxy, ddb_endpoint: str, table: str
) -> None:
    rows = [row(i) for i in range(300)]
    stuck = {"000010", "000123", "000124", "000299"}
    proxy.inject_rewrite(
        leave_unprocessed(ddb_endpoint, table, stuck), operation="BatchWriteItem", times=10_000
    )
    with proxied(proxy, attempts=3) as client:
        report = DynamoDbProxy(table_name=table, client=client).load(
            Person, rows, workers=2, batch_attempts=2
        )
    assert report.complete and not report.ok
    assert (report.written, report.failed) == (296, 4)
    assert [f.position for f in report.failures] == [10, 123, 124, 299]
    assert all("unprocessed" in f.reason and f.kind == "failed" for f in report.failures)
    assert [f.source for f in report.failures] == [rows[p] for p in (10, 123, 124, 299)]
    assert sorted(stored_rows(ddb_endpoint, table)) == sorted(
        r["id_number"] for r in rows if r["id_number"] not in stuck
    )


def test_an_item_dynamodb_refuses_fails_alone(client: Client, ddb_endpoint: str) -> None:
    # An empty string is valid for the schema, but not as a secondary index key: only
    # DynamoDB can refuse it, and it sinks the whole batch request it is in.
    name = f"t-gsi-{uuid.uuid4().hex[:8]}"
    client.create_table(name, indexes=[{"name": "by-name", "pk": "name"}])
    try:
        rows = [row(i) for i in range(30)]
        rows[7] = row(7, name="")
        report = DynamoDbProxy(table_name=name, client=client).load(Person, rows, workers=1)
        assert (report.written, report.failed) == (29, 1)
        assert report.failures[0].position == 7
        assert "ValidationException" in report.failures[0].reason
        assert len(stored_rows(ddb_endpoint, name)) == 29
    finally:
        ddb_admin.delete_table(ddb_endpoint, name)


def test_ledger_counts_in_position_order_across_compactions() -> None:
    from dynamore.loader._checkpoint import Ledger as _Ledger

    ledger = _Ledger(Checkpoint(5, written=5))
    n = 200_000  # past the compaction threshold, several times
    kinds = ["written", "invalid", "exists", "failed", "skipped"]
    rejects: list[Reject] = []
    order = list(range(5, 5 + n))
    # Settle in blocks, each block backwards: nothing advances until its first position is in.
    for block in range(0, n, 1000):
        for position in reversed(order[block : block + 1000]):
            kind = kinds[position % 5]
            if kind == "written":
                ledger.settle_written([position])
            elif kind == "skipped":
                ledger.settle(position, kind)
            else:
                ledger.settle(position, kind, Reject(position, kind, "r", None))
        rejects.extend(ledger.advance())
        assert ledger.position == 5 + block + 1000
    assert ledger.checkpoint() == Checkpoint(
        5 + n,
        written=5 + n // 5,
        rejected=n // 5,
        already_existing=n // 5,
        failed=n // 5,
        skipped=n // 5,
    )
    assert [r.position for r in rejects] == [p for p in order if p % 5 not in (0, 4)]


# -- time budgets, slow inputs, what complete means -----------------------------------------------


def slow_backoff(proxy: FaultProxy) -> Client:
    """A client whose leftover rounds back off 9.9 s each: far past the budgets below."""
    retry = RetryPolicy(max_attempts=3, throttle_base=10.0, jitter=lambda: 0.99)
    return Client(endpoint_url=proxy.url, retry=retry)


def test_a_deadline_cuts_long_backoffs_short_and_the_checkpoint_resumes(
    proxy: FaultProxy, ddb_endpoint: str, table: str
) -> None:
    rows = [row(i) for i in range(300)]
    stuck = {r["id_number"] for r in rows[150:]}  # every batch write of these: unprocessed
    proxy.inject_rewrite(
        leave_unprocessed(ddb_endpoint, table, stuck), operation="BatchWriteItem", times=10_000
    )
    budget = 6.0  # seconds; the load is to stop with 5 s left, and must return in time
    started = time.monotonic()

    def remaining_ms() -> float:
        return (started + budget - time.monotonic()) * 1000

    with slow_backoff(proxy) as client:
        db = DynamoDbProxy(table_name=table, client=client)
        first = db.load(Person, rows, workers=2, deadline=remaining_ms)
        assert time.monotonic() - started < budget
        assert (first.complete, first.stopped, first.failed) == (False, "deadline", 0)
        position = first.checkpoint.position
        assert 0 < position <= 150 and first.written == position
        proxy.clear()
        second = db.load(Person, rows, workers=2, resume=first.checkpoint)
    assert second.complete and (second.written, second.failed) == (300, 0)
    assert_adds_up(second, 300)
    assert stored_rows(ddb_endpoint, table) == {r["id_number"]: r for r in rows}


def test_ctrl_c_returns_at_once_while_workers_back_off(
    proxy: FaultProxy, ddb_endpoint: str, table: str
) -> None:
    rows = [row(i) for i in range(100)]
    everything = {r["id_number"] for r in rows}
    proxy.inject_rewrite(
        leave_unprocessed(ddb_endpoint, table, everything), operation="BatchWriteItem", times=100
    )
    with slow_backoff(proxy) as client:

        def source() -> Iterator[Any]:
            yield from rows
            deadline = time.monotonic() + 30
            while not client.stats.throttles and time.monotonic() < deadline:
                time.sleep(0.01)  # until a leftover round is counted: its backoff follows
            time.sleep(0.2)
            raise KeyboardInterrupt  # the second Ctrl-C of the command line

        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            DynamoDbProxy(table_name=table, client=client).load(Person, source(), workers=2)
        assert time.monotonic() - started < 6.0  # not the 9.9 s of the backoff
        workers = [t for t in threading.enumerate() if t.name.startswith("dynamore-load-")]
        for thread in workers:  # woken from their backoff, they end soon after
            thread.join(5.0)
            assert not thread.is_alive()


def test_a_slow_input_is_not_held_back_while_it_waits(
    db: DynamoDbProxy, client: Client, table: str
) -> None:
    saved: list[Checkpoint] = []
    ended = [False]

    def source() -> Iterator[Any]:
        yield from (row(i) for i in range(10))  # not a full batch
        for _ in range(3000):  # then nothing for a while, as a pipe with no writer
            if saved and saved[-1].position == 10:
                break
            time.sleep(0.01)
            yield IDLE
        ended[0] = True

    report = db.load(Person, source(), on_checkpoint=saved.append)
    assert report.complete and report.written == 10
    assert any(c.position == 10 for c in saved[:-1])  # saved while the input still waited
    assert ended[0]

    # A worker's failure is noticed while the input waits, not when it ends.
    lost = DynamoDbProxy(table_name="no-such-table", client=client)

    def waiting() -> Iterator[Any]:
        yield from (row(i) for i in range(10))
        for _ in range(3000):
            time.sleep(0.01)
            yield IDLE
        raise AssertionError("the load read on after its workers failed")

    with pytest.raises(ResourceNotFound):
        lost.load(Person, waiting())


def test_complete_means_the_input_ran_out_and_everything_read_is_settled(
    db: DynamoDbProxy, ddb_endpoint: str, table: str
) -> None:
    rows = [row(i) for i in range(50)]
    stop = threading.Event()

    def source() -> Iterator[Any]:
        yield from rows
        while len(stored_rows(ddb_endpoint, table)) < 50:
            time.sleep(0.01)
        stop.set()  # a Ctrl-C after everything was written: nothing was cut short

    report = db.load(Person, source(), workers=1, stop=stop)
    assert (report.complete, report.stopped, report.written) == (True, None, 50)

    # Resuming with an input shorter than the checkpoint: not the input it was made from.
    with pytest.raises(ValidationError, match="fewer than the checkpoint's 50"):
        db.load(Person, rows[:30], resume=report.checkpoint)


# -- the package's public face -------------------------------------------------------------------


def test_checkpoint_round_trips_through_json() -> None:
    checkpoint = Checkpoint(120, written=100, rejected=9, already_existing=5, failed=4, skipped=2)
    text = json.dumps(checkpoint.to_dict())
    assert Checkpoint.from_dict(json.loads(text)) == checkpoint
    assert Checkpoint.from_dict({}) == Checkpoint()
    with pytest.raises(ValidationError, match=r"checkpoint\.written: must be a non-negative"):
        Checkpoint.from_dict({"position": 3, "written": "3"})


class StopAt:
    """An ``on_checkpoint`` that sets its ``event`` once the checkpoint reaches ``position``."""

    def __init__(self, position: int) -> None:
        self.position = position
        self.event = threading.Event()

    def __call__(self, checkpoint: Checkpoint) -> None:
        if checkpoint.position >= self.position:
            self.event.set()


def test_a_load_resumes_from_a_checkpoint_kept_as_json_between_invocations(
    client: Client, ddb_endpoint: str, table: str
) -> None:
    # As across Lambda invocations: each run gets a fresh stop, and only the JSON survives.
    rows, bad = mixed(1500, every=60)
    saved: Optional[str] = None
    runs = 0
    while True:
        runs += 1
        stopper = StopAt(runs * 500)
        resume = None if saved is None else Checkpoint.from_dict(json.loads(saved))
        report = load(
            client,
            table,
            Person,
            rows,
            resume=resume,
            stop=stopper.event,
            on_checkpoint=stopper,
            checkpoint_every=50,
        )
        saved = json.dumps(report.checkpoint.to_dict())
        if report.complete:
            break
        assert report.stopped == "stopped" and runs < 10
    assert runs >= 2
    assert (report.written, report.rejected) == (1500 - len(bad), len(bad))
    assert_adds_up(report, 1500)
    assert stored_rows(ddb_endpoint, table) == valid_rows(rows, bad)


def test_load_checks_the_table_keys_as_the_proxy_does(client: Client, table: str) -> None:
    class OtherKeys(Person):
        @classmethod
        def pr_keys(cls) -> list[str]:
            return ["pk", "sk"]

    with pytest.raises(ConfigurationError, match=r"OtherKeys\.pr_keys\(\) is \['pk', 'sk'\]"):
        load(client, table, OtherKeys, [row(1)])
    with pytest.raises(ConfigurationError, match="OtherKeys"):
        DynamoDbProxy(table_name=table, client=client).ensure_table(OtherKeys)


def test_the_loader_is_exported_lazily_by_the_package() -> None:
    code = (
        "import sys, dynamore\n"
        "assert 'dynamore.loader' not in sys.modules, 'imported eagerly'\n"
        "from dynamore import IDLE, SKIP, Checkpoint, LoadReport, Progress, Reject, load\n"
        "import dynamore.loader as loader\n"
        "assert (load, Checkpoint, LoadReport, IDLE) == "
        "(loader.load, loader.Checkpoint, loader.LoadReport, loader.IDLE)\n"
        "assert 'load' in dir(dynamore)\n"
        "try:\n"
        "    dynamore.nothing_here\n"
        "except AttributeError as exc:\n"
        "    assert 'nothing_here' in str(exc)\n"
        "else:\n"
        "    raise SystemExit('no AttributeError')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_loader_bodies_use_the_clients_request_encoder() -> None:
    # One request encoder (compact, UTF-8) for the client and the loader: no copy to drift.
    from dynamore import _protocol

    assert _workers.dumps is _protocol.dumps
    payload = {"Item": {"name": {"S": "Zoë"}}}
    assert _workers.encode_json(payload) == _protocol.dumps(payload).encode("utf-8")
