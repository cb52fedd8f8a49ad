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
which changes nothing (an upsert rewrites the same item; in create mode an item that meets its
own earlier write counts as written), so a run killed at any moment resumes without loss and
without counting anything twice.

Order. Elements are sharded over the workers by key, so two elements with the same id are
written in input order (the later one wins in upsert mode; in create mode the first one is
created and the later one reported as already existing, unless it is equal).
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Optional

from dynamore._batch import (
    DEFAULT_BATCH_ATTEMPTS,
    MAX_WRITE_ITEMS,
    WriteEntry,
    send_writes,
    to_json,
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
from dynamore._retry import classify
from dynamore.codec import decode_item, encode_item
from dynamore.exceptions import (
    ConditionalCheckFailed,
    ServiceError,
    ServiceValidationError,
    TransportError,
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
    "INVALID",
    "MODES",
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
#: requests in flight (and their retries) to finish.
DEFAULT_DEADLINE_MARGIN_MS = 5000
#: Rejects, failures and existing ids kept in the report (the counts are always exact; pass
#: ``on_reject`` to see every one).
DEFAULT_KEEP = 1000
_QUEUE_BATCHES = 2  # per worker: enough to keep it busy while the reader fills the next
_POLL = 0.05  # seconds between looks at the stop conditions while waiting


class AdaptiveRate:
    """A rate limit shared by the workers: additive increase, multiplicative decrease.

    Unlimited until the first throttling event. Then the rate (items per second) becomes half
    the throughput measured over the last ``window`` seconds, grows by a tenth of the cut rate
    after each request that met no throttling, is halved again on the next throttling event (at
    most once per ``cooldown``, so one burst of throttled workers counts once), and is lifted
    altogether once it is back to twice the throughput that was first throttled. It never goes
    below ``floor``. The clock and sleep are injectable.
    """

    def __init__(
        self,
        *,
        floor: float = float(MAX_WRITE_ITEMS),
        window: float = 2.0,
        cooldown: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate: Optional[float] = None
        self.floor = floor
        self._window = window
        self._cooldown = cooldown
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._sent: deque[tuple[float, int]] = deque()
        self._next = 0.0
        self._step = 0.0
        self._ceiling = 0.0
        self._last_cut = float("-inf")

    def _throughput(self, now: float) -> float:
        sent = self._sent
        while sent and sent[0][0] < now - self._window:
            sent.popleft()
        if not sent:
            return 0.0
        # Over the time actually covered: right after the start, the window is not full yet.
        span = max(now - sent[0][0], self._window / 20)
        return sum(n for _, n in sent) / span

    def acquire(self, n: int) -> None:
        """Wait until ``n`` more items may be sent."""
        with self._lock:
            now = self._clock()
            self._sent.append((now, n))
            if self.rate is None:
                return
            start = max(now, self._next)
            self._next = start + n / self.rate
            wait = start - now
        if wait > 0:
            self._sleep(wait)

    def throttled(self) -> None:
        """DynamoDB throttled a request: halve the rate."""
        with self._lock:
            now = self._clock()
            if now - self._last_cut < self._cooldown:
                return
            self._last_cut = now
            if self.rate is None:
                current = self._throughput(now)
                self._ceiling = 2 * max(current, self.floor)
            else:
                current = self.rate
            self.rate = max(self.floor, current / 2)
            self._step = max(1.0, self.rate / 10)
            self._next = max(self._next, now)

    def succeeded(self) -> None:
        """A request met no throttling: raise the rate a step."""
        with self._lock:
            if self.rate is None:
                return
            self.rate += self._step
            if self.rate >= self._ceiling:
                self.rate = None


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


# (position, kind, reason) for everything a worker settled that was not written; None when
# the whole batch was written (the common case, kept cheap).
_Outcomes = Optional[list[tuple[int, str, str]]]


class _Run:
    """The shared state of one load: the workers' side of it."""

    def __init__(
        self,
        proxy: DynamoDbProxy,
        entity_class: type[Entity],
        *,
        mode: str,
        workers: int,
        batch_attempts: int,
    ) -> None:
        self.client = proxy.client
        # The loader is part of the package: it sends pre-encoded batches straight through
        # the client's wire, so nothing is encoded twice.
        self.wire = self.client._wire
        self.table = proxy.table_name
        self.key_names = tuple(entity_class.pr_keys())
        self.mode = mode
        self.batch_attempts = batch_attempts
        self.rate = AdaptiveRate()
        self.stopping = threading.Event()
        self.finished = threading.Event()
        self.queues: list[queue.Queue[list[_Pending]]] = [
            queue.Queue(maxsize=_QUEUE_BATCHES) for _ in range(workers)
        ]
        self.results: queue.Queue[tuple[list[_Pending], _Outcomes]] = queue.Queue()
        self.fatal: Optional[BaseException] = None
        # A conditional PutItem around each item's JSON: attribute_not_exists(PK).
        self._create_head = b'{"TableName":' + to_json(self.table) + b',"Item":'
        self._create_tail = (
            b',"ConditionExpression":"attribute_not_exists(#pk)","ExpressionAttributeNames":'
            + to_json({"#pk": self.key_names[0]})
            + b',"ReturnValuesOnConditionCheckFailure":"ALL_OLD"}'
        )

    # -- worker threads ------------------------------------------------------------------------

    def work(self, n: int) -> None:
        q = self.queues[n]
        try:
            while True:
                try:
                    batch = q.get(timeout=_POLL)
                except queue.Empty:
                    if self.stopping.is_set() or self.finished.is_set():
                        return
                    continue
                if self.stopping.is_set():
                    continue  # dropped: above the checkpoint, sent again on resume
                stats = self.wire.stats
                throttles = stats.throttles
                self.rate.acquire(len(batch))
                send = self._upsert if self.mode == UPSERT else self._create
                outcomes = send(batch)
                if stats.throttles != throttles:
                    self.rate.throttled()
                else:
                    self.rate.succeeded()
                self.results.put((batch, outcomes))
        except BaseException as exc:  # a bug or a fatal error: the main thread re-raises it
            self.fatal = exc
            self.stopping.set()

    def _upsert(self, batch: list[_Pending]) -> _Outcomes:
        try:
            left, error = send_writes(
                self.wire,
                self.table,
                batch,
                key_names=self.key_names,
                attempts=self.batch_attempts,
                give_up=self.stopping.is_set,
            )
        except ServiceValidationError as exc:
            if len(batch) == 1:
                return [(batch[0].position, FAILED, str(exc))]
            # One item DynamoDB refuses sinks the whole request: find it by sending each alone.
            out: list[tuple[int, str, str]] = []
            for p in batch:
                alone = self._upsert([p])
                out.extend(alone if alone is not None else [(p.position, WRITTEN, "")])
            return out
        if not left:
            return None
        left_positions = {e.position for e in left if isinstance(e, _Pending)}
        out = [(p.position, WRITTEN, "") for p in batch if p.position not in left_positions]
        if not (error is None and self.stopping.is_set()):
            reason = (
                str(error)
                if error is not None
                else f"still unprocessed after {self.batch_attempts} rounds without progress"
            )
            out.extend((p, FAILED, reason) for p in sorted(left_positions))
        return out

    def _create(self, batch: list[_Pending]) -> _Outcomes:
        out: list[tuple[int, str, str]] = []
        wire = self.wire
        for p in batch:
            if self.stopping.is_set():
                break
            try:
                wire.send("PutItem", b"".join((self._create_head, p.item, self._create_tail)))
            except ConditionalCheckFailed as exc:
                # The stored item equal to ours: our own earlier write (a retried request, or
                # a run resumed from a checkpoint below it).
                sent = decode_item(json.loads(p.item))
                if exc.item is not None and exc.item == sent:
                    out.append((p.position, WRITTEN, ""))
                else:
                    out.append((p.position, EXISTS, "already exists"))
                continue
            except (ServiceError, TransportError) as exc:
                if classify(exc) is None and not isinstance(exc, ServiceValidationError):
                    raise
                out.append((p.position, FAILED, str(exc)))
                continue
            out.append((p.position, WRITTEN, ""))
        return out


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
    ``context.get_remaining_time_in_millis``); the load stops taking input once fewer than
    ``deadline_margin_ms`` remain, lets the requests in flight finish and returns
    (``complete=False``). Setting the ``stop`` event does the same. Pass the report's
    ``checkpoint`` as ``resume`` with the same input to continue; see the module docstring.

    ``parse`` turns each element into entity data first (e.g. a JSON line; a ValueError
    rejects it, None skips it). ``on_reject`` sees every element not written, in position
    order; ``on_checkpoint`` every ``checkpoint_every`` settled elements or
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
    run = _Run(proxy, entity_class, mode=mode, workers=workers, batch_attempts=batch_attempts)
    stats = run.wire.stats
    retries0, throttles0 = stats.retries, stats.throttles
    ledger = Ledger(start)
    report_lists: dict[str, list[Any]] = {INVALID: [], FAILED: [], EXISTS: []}
    stopped: list[str] = []
    validate = entity_class
    run_pre = entity_class.hook_overridden("pre")
    pre_method = "PUT" if mode == UPSERT else "POST"
    pk_name, sk_name = run.key_names
    id_attribute = entity_class.ID_ATTRIBUTE
    n_workers = workers
    pending: list[list[_Pending]] = [[] for _ in range(n_workers)]
    pending_keys: list[set[tuple[Any, ...]]] = [set() for _ in range(n_workers)]
    # An unfilled batch holds the checkpoint back: send it once the reader is this far ahead.
    max_lag = MAX_WRITE_ITEMS * n_workers * 4
    last_checkpoint = [start.position, started]
    last_progress = [started]
    read = 0

    threads = [
        threading.Thread(target=run.work, args=(n,), name=f"dynamore-load-{n}", daemon=True)
        for n in range(n_workers)
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
                batch, outcomes = run.results.get_nowait()
            except queue.Empty:
                break
            if outcomes is None:
                ledger.settle_written([p.position for p in batch])
                continue
            by_position = {p.position: p for p in batch}
            for position, kind, reason in outcomes:
                if kind == WRITTEN:
                    ledger.settle(position, kind)
                else:
                    p = by_position[position]
                    ledger.settle(position, kind, Reject(position, kind, reason, p.source, p.id))
        record(ledger.advance())

    def tick(now: float) -> None:
        if deadline is not None and not run.stopping.is_set() and deadline() <= deadline_margin_ms:
            stopped.append("deadline")
            run.stopping.set()
        if stop is not None and stop.is_set() and not run.stopping.is_set():
            stopped.append("stopped")
            run.stopping.set()
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
            read=read,
            checkpoint=ledger.checkpoint(),
            started_at=start.position,
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
        q = run.queues[n]
        while not run.stopping.is_set():
            try:
                q.put(batch, timeout=_POLL)
                return
            except queue.Full:
                drain()
                tick(time.monotonic())

    try:
        iterator = iter(items)
        position = -1
        for element in iterator:
            position += 1
            read += 1
            if position < start.position:
                continue
            if not position % MAX_WRITE_ITEMS:
                drain()
                tick(time.monotonic())
                if run.stopping.is_set():
                    break
                oldest = [b[0].position for b in pending if b]
                if oldest and position - min(oldest) > max_lag:
                    for n in range(n_workers):
                        if pending[n] and position - pending[n][0].position > max_lag:
                            flush(n)
            data = None
            try:
                data = element if parse is None else parse(element)
                if data is None:
                    ledger.settle(position, SKIPPED)
                    continue
                instance = validate(data)
                item = instance.data_with_identity()
                if run_pre and entity_class.pre(pre_method, item) is False:
                    raise ValidationError("", f"refused by {entity_class.__name__}.pre")
                encoded = to_json(encode_item(item))
            except (ValueError, TypeError) as exc:
                ident = data.get(id_attribute) if isinstance(data, dict) else None
                reason = str(exc) or type(exc).__name__
                ledger.settle(position, INVALID, Reject(position, INVALID, reason, element, ident))
                continue
            key = (item[pk_name], item[sk_name])
            n = hash(key) % n_workers
            if key in pending_keys[n]:
                flush(n)  # the same id twice in one request is refused: keep them in order
            pending[n].append(_Pending(position, key, encoded, element, item.get(id_attribute)))
            pending_keys[n].add(key)
            if len(pending[n]) >= MAX_WRITE_ITEMS:
                flush(n)
        else:
            # An input that ends because it was told to stop (a reader watching ``stop``) must
            # not pass for a complete one.
            tick(time.monotonic())
            for n in range(n_workers):
                flush(n)
        run.finished.set()
        while any(thread.is_alive() for thread in threads):
            for thread in threads:
                thread.join(timeout=_POLL)
                drain()
                tick(time.monotonic())
    except BaseException:
        # Interrupted (KeyboardInterrupt) or the input failed: let the requests in flight end.
        run.stopping.set()
        run.finished.set()
        for thread in threads:
            thread.join()
        raise
    drain()
    if run.fatal is not None:
        if on_checkpoint is not None:
            on_checkpoint(ledger.checkpoint())
        raise run.fatal
    checkpoint = ledger.checkpoint()
    if on_checkpoint is not None:
        on_checkpoint(checkpoint)
    complete = not stopped and checkpoint.position == read
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
        stopped=stopped[0] if stopped else None,
        rejects=report_lists[INVALID],
        failures=report_lists[FAILED],
        existing=report_lists[EXISTS],
    )
