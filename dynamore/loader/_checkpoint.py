"""What a load reports and how it keeps count: rejects, checkpoints, progress, the ledger.

A position is settled when its element was written, rejected, found already existing or failed
for good. The :class:`Ledger` counts settled positions in position order, so that a
:class:`Checkpoint` (the lowest unsettled position, with the counts below it) is always a
point a load can resume from without loss and without counting anything twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from dynamore.exceptions import ValidationError

__all__ = [
    "EXISTS",
    "FAILED",
    "INVALID",
    "SKIPPED",
    "WRITTEN",
    "Checkpoint",
    "Ledger",
    "LoadReport",
    "Progress",
    "Reject",
]

#: How an element was settled.
WRITTEN = "written"
INVALID = "invalid"
EXISTS = "exists"
FAILED = "failed"
SKIPPED = "skipped"  # ``parse`` said there is nothing there (a blank line)


@dataclass(frozen=True)
class Reject:
    """An element that was not written: ``kind`` is ``"invalid"``, ``"exists"`` (create mode)
    or ``"failed"``; ``source`` is the input element as given, ``id`` its id when known."""

    position: int
    kind: str
    reason: str
    source: Any
    id: Any = None


@dataclass(frozen=True)
class Checkpoint:
    """Everything before ``position`` is settled, with these counts. Pass it as ``resume`` to
    continue a load (the same input again: its first ``position`` elements are skipped)."""

    position: int = 0
    written: int = 0
    rejected: int = 0
    already_existing: int = 0
    failed: int = 0
    skipped: int = 0

    def to_dict(self) -> dict[str, int]:
        """The checkpoint as plain JSON-serialisable data (to keep between Lambda invocations,
        in a file, a queue message ...); :meth:`from_dict` reads it back.

        >>> Checkpoint.from_dict(Checkpoint(5, written=5).to_dict()) == Checkpoint(5, written=5)
        True
        """
        return {
            "position": self.position,
            "written": self.written,
            "rejected": self.rejected,
            "already_existing": self.already_existing,
            "failed": self.failed,
            "skipped": self.skipped,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Checkpoint:
        """The inverse of :meth:`to_dict`; ValidationError when a field is not a count."""
        values = {}
        for name in cls().to_dict():
            value = data.get(name, 0)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValidationError(f"checkpoint.{name}", "must be a non-negative integer")
            values[name] = value
        return cls(**values)


@dataclass(frozen=True)
class Progress:
    """A snapshot for ``on_progress``: ``read`` elements taken from the input so far (skipped
    ones included), the settled ``checkpoint``, this run's retries and throttling events and
    seconds since it started."""

    read: int
    checkpoint: Checkpoint
    retries: int
    throttles: int
    elapsed: float
    rate: Optional[float]


@dataclass
class LoadReport:
    """What :func:`dynamore.loader.load` did. Counts include those of the checkpoint it
    resumed from; ``rejects``, ``failures`` and ``existing`` (ids) hold this run's first
    ``keep`` of each. ``complete`` is False when it stopped early (``stopped`` says why:
    ``"deadline"`` or ``"stopped"``); then ``checkpoint`` is where the next run continues."""

    written: int
    rejected: int
    already_existing: int
    failed: int
    skipped: int
    retries: int
    throttles: int
    elapsed: float
    checkpoint: Checkpoint
    complete: bool
    stopped: Optional[str] = None
    rejects: list[Reject] = field(default_factory=list)
    failures: list[Reject] = field(default_factory=list)
    existing: list[Any] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the load is complete and nothing was rejected or failed."""
        return self.complete and not self.rejected and not self.failed


_KINDS = (WRITTEN, INVALID, EXISTS, FAILED, SKIPPED)
_CODE = {kind: code for code, kind in enumerate(_KINDS, 1)}  # 0: not settled yet
_WRITTEN_CODE = _CODE[WRITTEN]
_COMPACT = 1 << 16


class Ledger:
    """Settled positions, counted in position order (main thread only).

    One status byte per position from ``base`` on, so that settling costs a byte store and
    advancing is a C-speed scan (``bytearray.find``/``count``) rather than per-item work.
    """

    def __init__(self, start: Checkpoint) -> None:
        self.position = start.position
        self._base = start.position
        self._status = bytearray(4096)
        self._rejects: dict[int, Reject] = {}
        self.counts = {
            WRITTEN: start.written,
            INVALID: start.rejected,
            EXISTS: start.already_existing,
            FAILED: start.failed,
            SKIPPED: start.skipped,
        }

    def _room(self, index: int) -> None:
        status = self._status
        if index >= len(status):
            status.extend(bytes(max(len(status), index + 1 - len(status))))

    def settle(self, position: int, kind: str, reject: Optional[Reject] = None) -> None:
        """Record how ``position`` ended (``reject``: what to report once it is counted)."""
        index = position - self._base
        self._room(index)
        self._status[index] = _CODE[kind]
        if reject is not None:
            self._rejects[position] = reject

    def settle_written(self, positions: list[int]) -> None:
        """Record ``positions`` (a written batch) as written."""
        base = self._base
        self._room(max(positions) - base)
        status = self._status
        for position in positions:
            status[position - base] = _WRITTEN_CODE

    def settle_batch(
        self, batch: Sequence[Any], outcomes: Optional[list[tuple[int, str, str]]]
    ) -> None:
        """Record how a batch of elements (each with ``position``, ``source`` and ``id``)
        ended: ``outcomes`` holds ``(position, kind, reason)``; None means all written."""
        if outcomes is None:
            self.settle_written([p.position for p in batch])
            return
        by_position = {p.position: p for p in batch}
        for position, kind, reason in outcomes:
            if kind == WRITTEN:
                self.settle(position, kind)
            else:
                p = by_position[position]
                self.settle(position, kind, Reject(position, kind, reason, p.source, p.id))

    def advance(self) -> list[Reject]:
        """Count every settled position from the current one on, up to the first unsettled
        one; return their rejects in position order."""
        status = self._status
        first = self.position - self._base
        end = status.find(0, first)
        if end < 0:
            end = len(status)
        if end == first:
            return []
        counts = self.counts
        for kind, code in _CODE.items():
            counts[kind] += status.count(code, first, end)
        self.position = self._base + end
        out = []
        if self._rejects:
            done = sorted(p for p in self._rejects if p < self.position)
            out = [self._rejects.pop(p) for p in done]
        if end >= _COMPACT:
            del status[:end]
            self._base += end
        return out

    def checkpoint(self) -> Checkpoint:
        """The current position and counts."""
        c = self.counts
        return Checkpoint(self.position, c[WRITTEN], c[INVALID], c[EXISTS], c[FAILED], c[SKIPPED])
