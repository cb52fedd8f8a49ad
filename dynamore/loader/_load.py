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

Create mode agrees with ``DynamoDbProxy.post``: an element that meets an existing item counts as
written only when that item may be this load's own earlier write and equals the element in
DynamoDB's terms (:func:`dynamore.codec.canonical_item`). It may be its own write when an
earlier attempt of the same put may have been applied (its answer was lost: the error is
``ambiguous``), or when the load resumed from a checkpoint (the interrupted run may have
written the element before it stopped). Otherwise, an equal item already in the table, an
exact duplicate of an earlier element, or a put retried only after throttling, it counts as
already existing. The one case this cannot tell apart: in a resumed run, an exact duplicate of
an element also at or after the checkpoint counts as written.

Order. Elements are sharded over the workers by key, so two elements with the same id are
written in input order (the later one wins in upsert mode; in create mode the first one is
created and the later one reported as already existing).

Slow inputs (a pipe, a queue) should yield :data:`IDLE` every tenth of a second or so while
they wait: the loader then saves checkpoints, reports progress, sends partial batches that
waited long enough and notices a stop or a failed worker.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal, Optional

from dynamore._batch import DEFAULT_BATCH_ATTEMPTS, MAX_WRITE_ITEMS, item_key_id
from dynamore._config import DEFAULT_DEADLINE_MARGIN_MS, DEFAULT_KEEP, DEFAULT_LOAD_WORKERS
from dynamore._keyschema import check_table_keys
from dynamore.codec import encode_item_json
from dynamore.exceptions import ValidationError
from dynamore.loader._checkpoint import (
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
from dynamore.loader._workers import MODES, POLL, UPSERT, Pending, Run, utf8

if TYPE_CHECKING:
    from dynamore._client import Client
    from dynamore.entity import Entity

__all__ = [
    "DEFAULT_DEADLINE_MARGIN_MS",
    "DEFAULT_KEEP",
    "DEFAULT_WORKERS",
    "IDLE",
    "SKIP",
    "Mode",
    "load",
]

#: How a load writes: ``"upsert"`` replaces existing items, ``"create"`` reports them.
Mode = Literal["upsert", "create"]

DEFAULT_WORKERS = DEFAULT_LOAD_WORKERS
_BATCH_AGE = 0.25  # seconds an unfilled batch may wait for more input before it is sent
_GRACE = 2.0  # seconds given to requests in flight when the load fails (not on Ctrl-C)

#: Yielded by an input that has nothing yet: not an element (no position), a chance to tick.
IDLE: Any = object()
#: Returned by ``parse`` for an element that holds nothing (a blank line): counted as skipped.
SKIP: Any = object()


class _Reader:
    """The calling thread's side of a load: reads the input, validates and encodes each
    element, fills one batch per worker, settles what the workers report back in the ledger
    and calls the callbacks."""

    def __init__(
        self,
        run: Run,
        entity_class: type[Entity],
        start: Checkpoint,
        *,
        workers: int,
        parse: Optional[Callable[[Any], Any]],
        stop: Optional[threading.Event],
        deadline: Optional[Callable[[], float]],
        deadline_margin_ms: float,
        on_reject: Optional[Callable[[Reject], None]],
        on_progress: Optional[Callable[[Progress], None]],
        progress_interval: float,
        on_checkpoint: Optional[Callable[[Checkpoint], None]],
        checkpoint_every: int,
        checkpoint_interval: float,
        keep: int,
    ) -> None:
        self.run = run
        self.entity_class = entity_class
        self.start = start
        self.workers = workers
        self.parse = parse
        self.stop = stop
        self.deadline = deadline
        self.deadline_margin_ms = deadline_margin_ms
        self.on_reject = on_reject
        self.on_progress = on_progress
        self.progress_interval = progress_interval
        self.on_checkpoint = on_checkpoint
        self.checkpoint_every = checkpoint_every
        self.checkpoint_interval = checkpoint_interval
        self.keep = keep
        self.started = time.monotonic()
        stats = run.stats
        self.retries0, self.throttles0 = stats.retries, stats.throttles
        self.ledger = Ledger(start)
        self.kept: dict[str, list[Any]] = {INVALID: [], FAILED: [], EXISTS: []}
        self.run_pre = entity_class.hook_overridden("pre")
        self.pre_method = "PUT" if run.mode == UPSERT else "POST"
        self.pending: list[list[Pending]] = [[] for _ in range(workers)]
        self.pending_keys: list[set[tuple[Any, ...]]] = [set() for _ in range(workers)]
        self.born: list[Optional[float]] = [None] * workers  # when a tick first saw each batch
        # An unfilled batch holds the checkpoint back: send it once the reader is this far ahead.
        self.max_lag = MAX_WRITE_ITEMS * workers * 4
        self.checkpointed_at = start.position  # the position and time of the last checkpoint
        self.checkpointed_when = self.started
        self.progressed_when = self.started
        self.position = -1  # the last element read
        self.exhausted = False  # the input ran out (rather than the load stopping)

    # -- settling and reporting ------------------------------------------------------------

    def _record(self, rejects: list[Reject]) -> None:
        for reject in rejects:
            kept = self.kept[reject.kind]
            if len(kept) < self.keep:
                kept.append(reject.id if reject.kind == EXISTS else reject)
            if self.on_reject is not None:
                self.on_reject(reject)

    def drain(self) -> None:
        """Settle what the workers sent back and report it in position order."""
        results = self.run.results
        while True:
            try:
                self.ledger.settle_batch(*results.get_nowait())
            except queue.Empty:
                break
        self._record(self.ledger.advance())

    def tick(self, now: float) -> None:
        """Notice the deadline or a stop; call ``on_checkpoint`` and ``on_progress`` when due."""
        run = self.run
        if (
            self.deadline is not None
            and not run.stopping.is_set()
            and self.deadline() <= self.deadline_margin_ms
        ):
            run.stop("deadline")
        if self.stop is not None and self.stop.is_set():
            run.stop("stopped")
        position = self.ledger.position
        moved = position - self.checkpointed_at
        if (
            self.on_checkpoint is not None
            and moved
            and (
                moved >= self.checkpoint_every
                or now - self.checkpointed_when >= self.checkpoint_interval
            )
        ):
            self.checkpointed_at, self.checkpointed_when = position, now
            self.on_checkpoint(self.ledger.checkpoint())
        if self.on_progress is not None and now - self.progressed_when >= self.progress_interval:
            self.progressed_when = now
            self.on_progress(self.snapshot(now))

    def snapshot(self, now: float) -> Progress:
        """Where the load stands, for ``on_progress``."""
        elapsed = now - self.started
        done = self.ledger.position - self.start.position
        stats = self.run.stats
        return Progress(
            read=self.position + 1,
            checkpoint=self.ledger.checkpoint(),
            retries=stats.retries - self.retries0,
            throttles=stats.throttles - self.throttles0,
            elapsed=elapsed,
            rate=done / elapsed if elapsed > 0 else None,
        )

    # -- batches ---------------------------------------------------------------------------

    def flush(self, n: int) -> None:
        """Hand worker ``n``'s batch over (waiting, and ticking, while its queue is full)."""
        batch = self.pending[n]
        if not batch:
            return
        self.pending[n] = []
        self.pending_keys[n] = set()
        self.born[n] = None
        q = self.run.queues[n]
        while not self.run.stopping.is_set():
            try:
                q.put(batch, timeout=POLL)
                return
            except queue.Full:
                self.drain()
                self.tick(time.monotonic())

    def idle(self) -> bool:
        """Settle, tick, send the batches that waited long enough; True when stopping."""
        now = time.monotonic()
        self.drain()
        self.tick(now)
        stopping = self.run.stopping
        for n in range(self.workers):
            if self.pending[n] and not stopping.is_set():
                seen = self.born[n]
                if seen is None:
                    self.born[n] = now
                elif now - seen >= _BATCH_AGE:
                    self.flush(n)
        return stopping.is_set()

    def _flush_lagging(self, position: int) -> None:
        pending = self.pending
        oldest = [b[0].position for b in pending if b]
        if oldest and position - min(oldest) > self.max_lag:
            for n in range(self.workers):
                if pending[n] and position - pending[n][0].position > self.max_lag:
                    self.flush(n)

    # -- the input -------------------------------------------------------------------------

    def read(self, items: Iterable[Any]) -> None:
        """Read ``items`` until they run out or the load stops, then hand over what is left."""
        # Locals: this loop runs once per element.
        entity_class = self.entity_class
        ledger = self.ledger
        parse = self.parse
        skip_below = self.start.position
        key_names = self.run.key_names
        id_attribute = entity_class.ID_ATTRIBUTE
        run_pre, pre_method = self.run_pre, self.pre_method
        workers = self.workers
        pending, pending_keys = self.pending, self.pending_keys
        position = self.position
        for element in items:
            if element is IDLE:
                self.position = position
                if self.idle():
                    return
                continue
            position += 1
            if position < skip_below:
                continue
            if not position % MAX_WRITE_ITEMS:
                self.position = position
                if self.idle():
                    return
                self._flush_lagging(position)
            data = None
            try:
                data = element if parse is None else parse(element)
                if data is SKIP:
                    ledger.settle(position, SKIPPED)
                    continue
                entity_class.check_keys_absent(data)
                item = entity_class(data).data_with_identity()
                if run_pre and entity_class.pre(http_method=pre_method, data=item) is False:
                    raise ValidationError("", f"refused by {entity_class.__name__}.pre")
                # Straight to the wire JSON (no AttributeValue dicts): the key is read from the
                # key attributes alone.
                encoded = utf8(encode_item_json(item))
                key = item_key_id(item, key_names)
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
                self.position = position
                self.flush(n)  # the same id twice in one request is refused: keep them in order
            pending[n].append(Pending(position, key, encoded, element, item.get(id_attribute)))
            pending_keys[n].add(key)
            if len(pending[n]) >= MAX_WRITE_ITEMS:
                self.position = position
                self.flush(n)
        self.position = position
        self.exhausted = True
        self.tick(time.monotonic())
        for n in range(workers):
            self.flush(n)

    def wait_for(self, threads: list[threading.Thread]) -> None:
        """Let the workers finish what they hold, settling and ticking meanwhile."""
        self.run.finished.set()
        while any(thread.is_alive() for thread in threads):
            for thread in threads:
                thread.join(timeout=POLL)
                self.drain()
                self.tick(time.monotonic())

    def report(self) -> LoadReport:
        """The final checkpoint (given to ``on_checkpoint``) and the report."""
        self.drain()
        if self.run.fatal is not None:
            if self.on_checkpoint is not None:
                self.on_checkpoint(self.ledger.checkpoint())
            raise self.run.fatal
        read = self.position + 1
        if self.exhausted and read < self.start.position:
            raise ValidationError(
                "resume",
                f"the input has {read} elements, fewer than the checkpoint's "
                f"{self.start.position}: not the input it was made from",
            )
        checkpoint = self.ledger.checkpoint()
        if self.on_checkpoint is not None:
            self.on_checkpoint(checkpoint)
        complete = self.exhausted and checkpoint.position == read
        if self.on_progress is not None:
            self.on_progress(self.snapshot(time.monotonic()))
        c = self.ledger.counts
        stats = self.run.stats
        return LoadReport(
            written=c[WRITTEN],
            rejected=c[INVALID],
            already_existing=c[EXISTS],
            failed=c[FAILED],
            skipped=c[SKIPPED],
            retries=stats.retries - self.retries0,
            throttles=stats.throttles - self.throttles0,
            elapsed=time.monotonic() - self.started,
            checkpoint=checkpoint,
            complete=complete,
            stopped=None if complete else self.run.reason,
            rejects=self.kept[INVALID],
            failures=self.kept[FAILED],
            existing=self.kept[EXISTS],
        )


def load(
    client: Client,
    table: str,
    entity_class: type[Entity],
    items: Iterable[Any],
    *,
    mode: Mode = "upsert",
    workers: int = DEFAULT_WORKERS,
    check_table: bool = True,
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
    """Validate every element of ``items`` as an ``entity_class`` and write the valid ones
    into ``table`` through ``client``.

    ``mode``: ``"upsert"`` (BatchWriteItem, 25 items a request; an existing item is replaced)
    or ``"create"`` (one conditional PutItem per item; existing ids are reported, not
    replaced). ``workers`` threads send concurrently.

    Stopping early: ``deadline`` returns the milliseconds left (Lambda's
    ``context.get_remaining_time_in_millis``; the workers call it too, to cut their waits
    short); the load stops taking input once fewer than ``deadline_margin_ms`` remain, lets
    the requests in flight finish and returns (``complete=False``). Setting the ``stop``
    event does the same. Pass the report's ``checkpoint`` as ``resume`` with the same input
    to continue (an input shorter than the checkpoint is a ValidationError); across Lambda
    invocations, save ``checkpoint.to_dict()`` and resume from ``Checkpoint.from_dict(...)``.
    See the module docstring. ``complete`` means the input ran out and everything read was
    settled.

    ``parse`` turns each element into entity data first (e.g. a JSON line; a ValueError
    rejects it, :data:`SKIP` skips it). ``on_reject`` sees every element not written, in
    position order; ``on_checkpoint`` every ``checkpoint_every`` settled elements or
    ``checkpoint_interval`` seconds, and at the end; ``on_progress`` every
    ``progress_interval`` seconds. Callbacks run in the calling thread.

    The entity's ``pre`` hook (when overridden) can refuse an element (it is rejected); the
    ``post`` hook is not called. With ``check_table``, the table's keys are checked first, as
    the proxy's verbs do (``DynamoDbProxy.ensure_table``). Raises the first error retrying
    cannot fix (a missing table, denied access) after stopping the workers; the last
    ``on_checkpoint`` stays valid.

    >>> report = load(client, "MyTable", Person, rows, workers=8)   # doctest: +SKIP
    >>> report.written, report.rejected, report.rejects[:1]          # doctest: +SKIP
    """
    if mode not in MODES:
        raise ValidationError("mode", f"must be one of {list(MODES)}, not {mode!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValidationError("workers", "must be a positive integer")
    if check_table:
        check_table_keys(client, table, entity_class)
    run = Run(
        client,
        table,
        tuple(entity_class.pr_keys()),
        mode=mode,
        workers=workers,
        batch_attempts=batch_attempts,
        resumed=resume is not None,
        deadline=deadline,
        deadline_margin_ms=deadline_margin_ms,
    )
    reader = _Reader(
        run,
        entity_class,
        resume if resume is not None else Checkpoint(),
        workers=workers,
        parse=parse,
        stop=stop,
        deadline=deadline,
        deadline_margin_ms=deadline_margin_ms,
        on_reject=on_reject,
        on_progress=on_progress,
        progress_interval=progress_interval,
        on_checkpoint=on_checkpoint,
        checkpoint_every=checkpoint_every,
        checkpoint_interval=checkpoint_interval,
        keep=keep,
    )
    threads = [
        threading.Thread(target=run.work, args=(n,), name=f"dynamore-load-{n}", daemon=True)
        for n in range(workers)
    ]
    for thread in threads:
        thread.start()
    try:
        reader.read(items)
        reader.wait_for(threads)
    except BaseException as exc:
        # A second Ctrl-C returns at once; a failure gives the requests in flight a moment.
        run.stop("error")
        run.finished.set()
        if not isinstance(exc, KeyboardInterrupt):
            end = time.monotonic() + _GRACE
            for thread in threads:
                thread.join(max(0.0, end - time.monotonic()))
        raise
    return reader.report()
