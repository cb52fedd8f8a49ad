"""Bulk loading: validate entities and write them concurrently, losing nothing.

:func:`load` (``DynamoDbProxy.load``) reads its input lazily in the calling thread, validates
each element with the entity's compiled validator, encodes it, and hands batches to worker
threads through small bounded queues, so memory stays bounded whatever the input size. The
workers share the client (and its kept-alive connections) and one :class:`AdaptiveRate`: when
DynamoDB throttles anyone, everyone slows down.

Positions and checkpoints. Element ``n`` of the input is at position ``n`` (from 0). Every
element ends up *settled* as written, rejected (invalid), already existing (create mode) or
failed (DynamoDB refused it after every retry). A :class:`Checkpoint` holds the lowest position
not yet settled, with the counts of everything below it; outcomes are counted, and rejects
reported, in position order, as that position advances. Resuming from a checkpoint skips that
many elements and carries on: elements above it that had already been written are sent again,
which changes nothing (an upsert rewrites the same item; in create mode, see below), so a run
killed at any moment resumes without loss and without counting anything twice.

Create mode counts an element that meets an existing item equal to it as written only when that
item may be this load's own earlier write: the request was retried (an earlier attempt may have
been applied), or the load resumed from a checkpoint (the interrupted run may have written the
element before it stopped). Otherwise, an equal item already in the table or an exact duplicate
of an earlier element, it counts as already existing. The one case this cannot tell apart: in a
resumed run, an exact duplicate of an element also at or after the checkpoint counts as written.

Order. Elements are sharded over the workers by key, so two elements with the same id are
written in input order (the later one wins in upsert mode; in create mode the first one is
created and the later one reported as already existing).

Slow inputs (a pipe, a queue) should yield :data:`IDLE` every tenth of a second or so while
they wait: the loader then saves checkpoints, reports progress, sends partial batches that
waited long enough and notices a stop or a failed worker.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any, Optional

from dynamore._batch import (
    DEFAULT_BATCH_ATTEMPTS,
    MAX_WRITE_ITEMS,
    AdaptiveRate,
    WriteEntry,
    key_id,
    retry_rounds,
    send_writes,
)
from dynamore._checkpoint import (
    EXISTS,
    FAILED,
    INVALID,
    SKIPPED,
    WRITTEN,
    Checkpoint,
    Ledger,
    LoadReport,
    Progress,
    Reject,
)
from dynamore._protocol import Stats, Wire
from dynamore.codec import encode_item
from dynamore.exceptions import (
    ConditionalCheckFailed,
    ServiceValidationError,
    ValidationError,
)

if TYPE_CHECKING:
    from dynamore.dynamodb_proxy import DynamoDbProxy
    from dynamore.entity import Entity

__all__ = [
    "CREATE",
    "DEFAULT_DEADLINE_MARGIN_MS",
    "DEFAULT_KEEP",
    "DEFAULT_WORKERS",
    "EXISTS",
    "FAILED",
    "IDLE",
    "INVALID",
    "MODES",
    "SKIP",
    "UPSERT",
    "WRITTEN",
    "AdaptiveRate",
    "Checkpoint",
    "LoadReport",
    "Progress",
    "Reject",
    "load",
]

UPSERT = "upsert"
CREATE = "create"
MODES = (UPSERT, CREATE)

DEFAULT_WORKERS = 4
#: Stop when the deadline callable says fewer milliseconds than this remain: time for the
#: requests in flight to finish.
DEFAULT_DEADLINE_MARGIN_MS = 5000
#: Rejects, failures and existing ids kept in the report (the counts are always exact; pass
#: ``on_reject`` to see every one).
DEFAULT_KEEP = 1000
_QUEUE_BATCHES = 2  # per worker: enough to keep it busy while the reader fills the next
_POLL = 0.05  # seconds between looks at the stop conditions while waiting
_BATCH_AGE = 0.25  # seconds an unfilled batch may wait for more input before it is sent
_GRACE = 2.0  # seconds given to requests in flight when the load fails (not on Ctrl-C)


#: Yielded by an input that has nothing yet: not an element (no position), a chance to tick.
IDLE: Any = object()
#: Returned by ``parse`` for an element that holds nothing (a blank line): counted as skipped.
SKIP: Any = object()


class _Pending(WriteEntry):
    """An element on its way to DynamoDB: a batch write entry that knows where it came from;
    ``item`` is the item's wire form as JSON."""

    __slots__ = ("id", "item", "position")

    def __init__(
        self, position: int, key: tuple[Any, ...], item: bytes, source: Any, ident: Any
    ) -> None:
        # Slots set directly (no super().__init__ call): this runs once per item.
        self.key = key
        self.item = item
        self.request = b'{"PutRequest":{"Item":' + item + b"}}"
        self.source = source
        self.position = position
        self.id = ident


class _Tally(Stats):
    """One worker's retries (to tell whether its own request was retried), also counted in
    the client's stats."""

    def __init__(self, shared: Stats) -> None:
        super().__init__()
        self._shared = shared

    def record(self, kind: str) -> None:
        super().record(kind)
        self._shared.record(kind)


# (position, kind, reason) for everything a worker settled that was not written; None when
# the whole batch was written (the common case, kept cheap).
_Outcomes = Optional[list[tuple[int, str, str]]]


class _Run:
    """The shared state of one load: the workers' side of it."""

    def __init__(
        self,
        proxy: DynamoDbProxy,
        entity_class: type[Entity],
        mode: str,
        workers: int,
        batch_attempts: int,
        resumed: bool,
        deadline: tuple[Optional[Callable[[], float]], float],  # the callable and its margin
    ) -> None:
        self.client = proxy.client
        # Pre-encoded batches go straight through the client's wire: nothing is encoded twice.
        self.wire = self.client._wire
        self.table = proxy.table_name
        self.key_names = tuple(entity_class.pr_keys())
        self.mode = mode
        self.batch_attempts = batch_attempts
        self.resumed = resumed
        self._deadline, self._margin = deadline
        self.rate = AdaptiveRate(sleep=self.wait)
        self.stopping = threading.Event()
        self.finished = threading.Event()
        self.reason: Optional[str] = None
        self._reason_lock = threading.Lock()
        self.queues: list[queue.Queue[list[_Pending]]] = [
            queue.Queue(maxsize=_QUEUE_BATCHES) for _ in range(workers)
        ]
        self.results: queue.Queue[tuple[list[_Pending], _Outcomes]] = queue.Queue()
        self.fatal: Optional[BaseException] = None
        # A conditional PutItem around each item's JSON: attribute_not_exists(PK).
        encode = self.wire.encode
        self._create_head = encode({"TableName": self.table})[:-1] + b',"Item":'
        condition = {
            "ConditionExpression": "attribute_not_exists(#pk)",
            "ExpressionAttributeNames": {"#pk": self.key_names[0]},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        self._create_tail = b"," + encode(condition)[1:]

    def stop(self, reason: str) -> None:
        """Stop taking work; the first reason given is the one reported."""
        with self._reason_lock:
            if self.reason is None:
                self.reason = reason
        self.stopping.set()

    def wait(self, seconds: float) -> None:
        """The workers' sleep (backoff, rate limit, the client's retries): it ends as soon as
        the load stops, and never runs past the deadline's margin."""
        if self._deadline is not None:
            left = (self._deadline() - self._margin) / 1000
            if left < seconds:
                if left > 0:
                    self.stopping.wait(left)
                self.stop("deadline")
                return
        self.stopping.wait(seconds)

    # -- worker threads ------------------------------------------------------------------------

    def _worker_wire(self) -> Wire:
        # The client's wire (same connections, signer, credentials and retry policy) with this
        # worker's sleep and its own count of retries.
        return self.wire.derive(sleep=self.wait, stats=_Tally(self.wire.stats))

    def work(self, n: int) -> None:
        q = self.queues[n]
        try:
            wire = self._worker_wire()
            stats = wire.stats
            send = self._upsert if self.mode == UPSERT else self._create
            while True:
                try:
                    batch = q.get(timeout=_POLL)
                except queue.Empty:
                    if self.stopping.is_set() or self.finished.is_set():
                        return
                    continue
                if self.stopping.is_set():
                    continue  # dropped: above the checkpoint, sent again on resume
                self.rate.acquire(len(batch))
                if self.stopping.is_set():
                    continue  # stopped while waiting for the rate limit: dropped as well
                throttles = stats.throttles
                outcomes = send(wire, batch)
                if stats.throttles != throttles:
                    self.rate.throttled()
                else:
                    self.rate.succeeded()
                self.results.put((batch, outcomes))
        except BaseException as exc:  # a bug or a fatal error: the main thread re-raises it
            self.fatal = exc
            self.stop("error")

    def _upsert(self, wire: Wire, batch: list[_Pending]) -> _Outcomes:
        try:
            left, error = send_writes(
                wire,
                self.table,
                batch,
                key_names=self.key_names,
                attempts=self.batch_attempts,
                sleep=self.wait,
                give_up=self.stopping.is_set,
                throttled=self.rate.throttled,
            )
        except ServiceValidationError as exc:
            if len(batch) == 1:
                return [(batch[0].position, FAILED, str(exc))]
            # One item DynamoDB refuses sinks the whole request: find it by sending each alone.
            out: list[tuple[int, str, str]] = []
            for p in batch:
                alone = self._upsert(wire, [p])
                out.extend(alone if alone is not None else [(p.position, WRITTEN, "")])
            return out
        if not left:
            return None
        left_positions = {e.position for e in left if isinstance(e, _Pending)}
        out = [(p.position, WRITTEN, "") for p in batch if p.position not in left_positions]
        if not self.stopping.is_set():  # when stopping, they stay unsettled: resent on resume
            reason = (
                str(error)
                if error is not None
                else f"still unprocessed after {self.batch_attempts} rounds without progress"
            )
            out.extend((p, FAILED, reason) for p in sorted(left_positions))
        return out

    def _create(self, wire: Wire, batch: list[_Pending]) -> _Outcomes:
        out: list[tuple[int, str, str]] = []
        stats = wire.stats
        for p in batch:
            if self.stopping.is_set():
                break
            retries = stats.retries
            conflict: list[ConditionalCheckFailed] = []
            try:
                left, error = retry_rounds(
                    wire,
                    [p],
                    partial(self._put, wire, p, conflict),
                    attempts=self.batch_attempts,
                    sleep=self.wait,
                    give_up=self.stopping.is_set,
                    throttled=self.rate.throttled,
                )
            except ServiceValidationError as exc:
                out.append((p.position, FAILED, str(exc)))
                continue
            if left and self.stopping.is_set():
                break  # unsettled: sent again on resume
            if left:
                out.append((p.position, FAILED, str(error)))
            elif conflict and not self._own_write(
                wire, p, conflict[0], conflict[0].ambiguous or stats.retries != retries
            ):
                out.append((p.position, EXISTS, "already exists"))
            else:
                out.append((p.position, WRITTEN, ""))
        return out

    def _put(
        self, wire: Wire, p: _Pending, conflict: list[ConditionalCheckFailed], _: object
    ) -> list[_Pending]:
        try:
            wire.send("PutItem", b"".join((self._create_head, p.item, self._create_tail)))
        except ConditionalCheckFailed as exc:
            conflict.append(exc)
        return []

    def _own_write(
        self, wire: Wire, p: _Pending, exc: ConditionalCheckFailed, retried: bool
    ) -> bool:
        # The stored item is equal to ours and may be our own earlier write (see the module
        # docstring): a retried request, or a run resumed from a checkpoint below it.
        if not (retried or self.resumed) or exc.item is None:
            return False
        sent = wire.decode_item(json.loads(p.item))
        return bool(exc.item == sent)


def load(
    proxy: DynamoDbProxy,
    entity_class: type[Entity],
    items: Iterable[Any],
    *,
    mode: str = UPSERT,
    workers: int = DEFAULT_WORKERS,
    resume: Optional[Checkpoint] = None,
    deadline: Optional[Callable[[], float]] = None,
    deadline_margin_ms: float = DEFAULT_DEADLINE_MARGIN_MS,
    stop: Optional[threading.Event] = None,
    parse: Optional[Callable[[Any], Any]] = None,
    on_reject: Optional[Callable[[Reject], None]] = None,
    on_progress: Optional[Callable[[Progress], None]] = None,
    progress_interval: float = 1.0,
    on_checkpoint: Optional[Callable[[Checkpoint], None]] = None,
    checkpoint_every: int = 1000,
    checkpoint_interval: float = 1.0,
    keep: int = DEFAULT_KEEP,
    batch_attempts: int = DEFAULT_BATCH_ATTEMPTS,
) -> LoadReport:
    """Validate every element of ``items`` as an ``entity_class`` and write the valid ones.

    ``mode``: ``"upsert"`` (BatchWriteItem, 25 items a request; an existing item is replaced)
    or ``"create"`` (one conditional PutItem per item; existing ids are reported, not
    replaced). ``workers`` threads send concurrently.

    Stopping early: ``deadline`` returns the milliseconds left (Lambda's
    ``context.get_remaining_time_in_millis``; the workers call it too, to cut their waits
    short); the load stops taking input once fewer than ``deadline_margin_ms`` remain, lets
    the requests in flight finish and returns (``complete=False``). Setting the ``stop``
    event does the same. Pass the report's ``checkpoint`` as ``resume`` with the same input
    to continue (an input shorter than the checkpoint is a ValidationError); see the module
    docstring. ``complete`` means the input ran out and everything read was settled.

    ``parse`` turns each element into entity data first (e.g. a JSON line; a ValueError
    rejects it, :data:`SKIP` skips it). ``on_reject`` sees every element not written, in
    position order; ``on_checkpoint`` every ``checkpoint_every`` settled elements or
    ``checkpoint_interval`` seconds, and at the end; ``on_progress`` every
    ``progress_interval`` seconds. Callbacks run in the calling thread.

    The entity's ``pre`` hook (when overridden) can refuse an element (it is rejected); the
    ``post`` hook is not called. Raises the first error retrying cannot fix (a missing table,
    denied access) after stopping the workers; the last ``on_checkpoint`` stays valid.

    >>> report = db.load(Person, rows, workers=8)   # doctest: +SKIP
    >>> report.written, report.rejected, report.rejects[:1]   # doctest: +SKIP
    """
    if mode not in MODES:
        raise ValidationError("mode", f"must be one of {list(MODES)}, not {mode!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValidationError("workers", "must be a positive integer")
    started = time.monotonic()
    start = resume if resume is not None else Checkpoint()
    budget = (deadline, deadline_margin_ms)
    run = _Run(proxy, entity_class, mode, workers, batch_attempts, resume is not None, budget)
    stats = run.wire.stats
    retries0, throttles0 = stats.retries, stats.throttles
    ledger = Ledger(start)
    report_lists: dict[str, list[Any]] = {INVALID: [], FAILED: [], EXISTS: []}
    run_pre = entity_class.hook_overridden("pre")
    pre_method = "PUT" if mode == UPSERT else "POST"
    key_names = run.key_names
    id_attribute = entity_class.ID_ATTRIBUTE
    encode = run.wire.encode
    pending: list[list[_Pending]] = [[] for _ in range(workers)]
    pending_keys: list[set[tuple[Any, ...]]] = [set() for _ in range(workers)]
    born: list[Optional[float]] = [None] * workers  # when a tick first saw each batch
    # An unfilled batch holds the checkpoint back: send it once the reader is this far ahead.
    max_lag = MAX_WRITE_ITEMS * workers * 4
    last_checkpoint = [start.position, started]
    last_progress = [started]
    position = -1

    threads = [
        threading.Thread(target=run.work, args=(n,), name=f"dynamore-load-{n}", daemon=True)
        for n in range(workers)
    ]
    for thread in threads:
        thread.start()

    def record(rejects: list[Reject]) -> None:
        for reject in rejects:
            kept = report_lists[reject.kind]
            if len(kept) < keep:
                kept.append(reject.id if reject.kind == EXISTS else reject)
            if on_reject is not None:
                on_reject(reject)

    def drain() -> None:
        while True:
            try:
                ledger.settle_batch(*run.results.get_nowait())
            except queue.Empty:
                break
        record(ledger.advance())

    def tick(now: float) -> None:
        if deadline is not None and not run.stopping.is_set() and deadline() <= deadline_margin_ms:
            run.stop("deadline")
        if stop is not None and stop.is_set():
            run.stop("stopped")
        moved = ledger.position - last_checkpoint[0]
        if (
            on_checkpoint is not None
            and moved
            and (moved >= checkpoint_every or now - last_checkpoint[1] >= checkpoint_interval)
        ):
            last_checkpoint[0], last_checkpoint[1] = ledger.position, now
            on_checkpoint(ledger.checkpoint())
        if on_progress is not None and now - last_progress[0] >= progress_interval:
            last_progress[0] = now
            on_progress(snapshot(now))

    def snapshot(now: float) -> Progress:
        elapsed = now - started
        done = ledger.position - start.position
        return Progress(
            read=position + 1,
            checkpoint=ledger.checkpoint(),
            retries=stats.retries - retries0,
            throttles=stats.throttles - throttles0,
            elapsed=elapsed,
            rate=done / elapsed if elapsed > 0 else None,
        )

    def flush(n: int) -> None:
        batch = pending[n]
        if not batch:
            return
        pending[n] = []
        pending_keys[n] = set()
        born[n] = None
        q = run.queues[n]
        while not run.stopping.is_set():
            try:
                q.put(batch, timeout=_POLL)
                return
            except queue.Full:
                drain()
                tick(time.monotonic())

    def idle() -> bool:
        # Settle, tick, send the batches that waited long enough; True when stopping.
        now = time.monotonic()
        drain()
        tick(now)
        for n in range(workers):
            if pending[n] and not run.stopping.is_set():
                seen = born[n]
                if seen is None:
                    born[n] = now
                elif now - seen >= _BATCH_AGE:
                    flush(n)
        return run.stopping.is_set()

    exhausted = False
    try:
        for element in items:
            if element is IDLE:
                if idle():
                    break
                continue
            position += 1
            if position < start.position:
                continue
            if not position % MAX_WRITE_ITEMS:
                if idle():
                    break
                oldest = [b[0].position for b in pending if b]
                if oldest and position - min(oldest) > max_lag:
                    for n in range(workers):
                        if pending[n] and position - pending[n][0].position > max_lag:
                            flush(n)
            data = None
            try:
                data = element if parse is None else parse(element)
                if data is SKIP:
                    ledger.settle(position, SKIPPED)
                    continue
                instance = entity_class(data)
                item = instance.data_with_identity()
                if run_pre and entity_class.pre(pre_method, item) is False:
                    raise ValidationError("", f"refused by {entity_class.__name__}.pre")
                wire_item = encode_item(item)
                encoded = encode(wire_item)
                key = key_id(wire_item, key_names)
                if key is None:
                    raise ValidationError(key_names[0], "a key attribute is missing")
            except (ValueError, TypeError, RecursionError) as exc:
                ident = data.get(id_attribute) if isinstance(data, dict) else None
                deep = isinstance(exc, RecursionError)
                reason = "nested too deeply" if deep else str(exc) or type(exc).__name__
                ledger.settle(position, INVALID, Reject(position, INVALID, reason, element, ident))
                continue
            n = hash(key) % workers
            if key in pending_keys[n]:
                flush(n)  # the same id twice in one request is refused: keep them in order
            pending[n].append(_Pending(position, key, encoded, element, item.get(id_attribute)))
            pending_keys[n].add(key)
            if len(pending[n]) >= MAX_WRITE_ITEMS:
                flush(n)
        else:
            exhausted = True
            tick(time.monotonic())
            for n in range(workers):
                flush(n)
        run.finished.set()
        while any(thread.is_alive() for thread in threads):
            for thread in threads:
                thread.join(timeout=_POLL)
                drain()
                tick(time.monotonic())
    except BaseException as exc:
        # A second Ctrl-C returns at once; a failure gives the requests in flight a moment.
        run.stop("error")
        run.finished.set()
        if not isinstance(exc, KeyboardInterrupt):
            end = time.monotonic() + _GRACE
            for thread in threads:
                thread.join(max(0.0, end - time.monotonic()))
        raise
    drain()
    if run.fatal is not None:
        if on_checkpoint is not None:
            on_checkpoint(ledger.checkpoint())
        raise run.fatal
    read = position + 1
    if exhausted and read < start.position:
        raise ValidationError(
            "resume",
            f"the input has {read} elements, fewer than the checkpoint's {start.position}: "
            "not the input it was made from",
        )
    checkpoint = ledger.checkpoint()
    if on_checkpoint is not None:
        on_checkpoint(checkpoint)
    complete = exhausted and checkpoint.position == read
    if on_progress is not None:
        on_progress(snapshot(time.monotonic()))
    c = ledger.counts
    return LoadReport(
        written=c[WRITTEN],
        rejected=c[INVALID],
        already_existing=c[EXISTS],
        failed=c[FAILED],
        skipped=c[SKIPPED],
        retries=stats.retries - retries0,
        throttles=stats.throttles - throttles0,
        elapsed=time.monotonic() - started,
        checkpoint=checkpoint,
        complete=complete,
        stopped=None if complete else run.reason,
        rejects=report_lists[INVALID],
        failures=report_lists[FAILED],
        existing=report_lists[EXISTS],
    )
