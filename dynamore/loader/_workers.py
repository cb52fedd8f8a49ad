"""The workers' side of a load: threads that take batches of encoded items from their queue
and send them (BatchWriteItem in upsert mode, a conditional PutItem per item in create mode)
through the client's :meth:`~dynamore.Client.send_encoded`, sharing one :class:`AdaptiveRate`.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Optional

from dynamore._batch import (
    AdaptiveRate,
    Sender,
    WriteEntry,
    retry_rounds,
    send_writes,
)
from dynamore._protocol import Stats, _may_have_applied, dumps, utf8
from dynamore._retry import RetryPolicy
from dynamore.codec import canonical_item
from dynamore.exceptions import (
    ConditionalCheckFailed,
    ServiceError,
    ServiceValidationError,
    TransportError,
)
from dynamore.loader._checkpoint import EXISTS, FAILED, WRITTEN

if TYPE_CHECKING:
    from dynamore._client import Client

__all__ = ["CREATE", "MODES", "POLL", "UPSERT", "Outcomes", "Pending", "Run", "encode_json", "utf8"]

UPSERT = "upsert"
CREATE = "create"
MODES = (UPSERT, CREATE)

_QUEUE_BATCHES = 2  # per worker: enough to keep it busy while the reader fills the next
POLL = 0.05  # seconds between looks at the stop conditions while waiting


def encode_json(payload: dict[str, Any]) -> bytes:
    """The request body for ``payload``, by the client's own encoder (see :func:`utf8`)."""
    return utf8(dumps(payload))


class _WorkerSender:
    """One worker's way to the client: its interruptible sleep and its own retry counts."""

    __slots__ = ("_client", "_sleep", "retry", "stats")

    def __init__(self, client: Client, sleep: Callable[[float], None], stats: Stats) -> None:
        self._client = client
        self._sleep = sleep
        self.retry: RetryPolicy = client.retry
        self.stats: Stats = stats

    def send(self, operation: str, body: bytes) -> dict[str, Any]:
        return self._client.send_encoded(operation, body, sleep=self._sleep, stats=self.stats)

    def encode(self, payload: dict[str, Any]) -> bytes:
        return encode_json(payload)


class Pending(WriteEntry):
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
Outcomes = Optional[list[tuple[int, str, str]]]


class Run:
    """The shared state of one load: the workers' side of it."""

    def __init__(
        self,
        client: Client,
        table: str,
        key_names: tuple[str, ...],
        *,
        mode: str,
        workers: int,
        batch_attempts: int,
        resumed: bool,
        deadline: Optional[Callable[[], float]],
        deadline_margin_ms: float,
    ) -> None:
        self.client = client
        self.stats = client.stats
        self.table = table
        self.key_names = key_names
        self.mode = mode
        self.batch_attempts = batch_attempts
        self.resumed = resumed
        self._deadline = deadline
        self._margin = deadline_margin_ms
        self.rate = AdaptiveRate(sleep=self.wait)
        self.stopping = threading.Event()
        self.finished = threading.Event()
        self.reason: Optional[str] = None
        self._reason_lock = threading.Lock()
        self.queues: list[queue.Queue[list[Pending]]] = [
            queue.Queue(maxsize=_QUEUE_BATCHES) for _ in range(workers)
        ]
        self.results: queue.Queue[tuple[list[Pending], Outcomes]] = queue.Queue()
        self.fatal: Optional[BaseException] = None
        # A conditional PutItem around each item's JSON: attribute_not_exists(PK).
        self._create_head = encode_json({"TableName": table})[:-1] + b',"Item":'
        condition = {
            "ConditionExpression": "attribute_not_exists(#pk)",
            "ExpressionAttributeNames": {"#pk": key_names[0]},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        self._create_tail = b"," + encode_json(condition)[1:]

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

    def _sender(self) -> Sender:
        # The client's connections, signer, credentials and retry policy, with this worker's
        # sleep and its own count of retries (also counted in the client's stats).
        return _WorkerSender(self.client, self.wait, _Tally(self.stats))

    def work(self, n: int) -> None:
        """Worker thread ``n``: send the batches of its queue until the load finishes or stops."""
        q = self.queues[n]
        try:
            wire = self._sender()
            stats = wire.stats
            send = self._upsert if self.mode == UPSERT else self._create
            while True:
                try:
                    batch = q.get(timeout=POLL)
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

    def _upsert(self, wire: Sender, batch: list[Pending]) -> Outcomes:
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
        left_positions = {e.position for e in left if isinstance(e, Pending)}
        out = [(p.position, WRITTEN, "") for p in batch if p.position not in left_positions]
        if not self.stopping.is_set():  # when stopping, they stay unsettled: resent on resume
            reason = (
                str(error)
                if error is not None
                else f"still unprocessed after {self.batch_attempts} rounds without progress"
            )
            out.extend((p, FAILED, reason) for p in sorted(left_positions))
        return out

    def _create(self, wire: Sender, batch: list[Pending]) -> Outcomes:
        out: list[tuple[int, str, str]] = []
        for p in batch:
            if self.stopping.is_set():
                break
            attempt = _CreateAttempt(wire, self._create_head + p.item + self._create_tail)
            try:
                left, error = retry_rounds(
                    wire,
                    [p],
                    attempt.send,
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
            elif attempt.conflict is not None and not self._own_write(p, attempt):
                out.append((p.position, EXISTS, "already exists"))
            else:
                out.append((p.position, WRITTEN, ""))
        return out

    def _own_write(self, p: Pending, attempt: _CreateAttempt) -> bool:
        # The stored item may be our own earlier write (see the module docstring) and is
        # equal to ours.
        conflict = attempt.conflict
        if conflict is None or not (attempt.ambiguous or conflict.ambiguous or self.resumed):
            return False
        stored = conflict.body.get("Item")
        return isinstance(stored, dict) and canonical_item(stored) == canonical_item(
            json.loads(p.item)
        )


class _CreateAttempt:
    """One conditional put of a create-mode load, through the rounds of ``retry_rounds``:
    remembers the failed condition, and whether an earlier round may have been applied."""

    __slots__ = ("ambiguous", "body", "conflict", "wire")

    def __init__(self, wire: Sender, body: bytes) -> None:
        self.wire = wire
        self.body = body
        self.conflict: Optional[ConditionalCheckFailed] = None
        self.ambiguous = False

    def send(self, pending: list[Pending]) -> list[Pending]:
        try:
            self.wire.send("PutItem", self.body)
        except ConditionalCheckFailed as exc:
            self.conflict = exc
        except (ServiceError, TransportError) as exc:
            # retry_rounds may send it again: a failed condition then may be this put's own.
            if getattr(exc, "ambiguous", False) or _may_have_applied(exc):
                self.ambiguous = True
            raise
        return []
