"""The shared benchmark harness: warm-up, rounds, medians, CPU and wall time, ratio tables.

A benchmark module (``benchmarks/bench_*.py``) defines ``run(ctx: Context) -> list[Result]``.
Inside, it builds a :class:`Suite`, adds one callable per (case, implementation) and calls
:meth:`Suite.run`. Every implementation of a case does the same work; the table prints each
peer's cost divided by dynamore's, so "8.0x" means dynamore is eight times cheaper.

CPU time (``time.process_time``) is the headline: it is what a Lambda pays for and what a noisy
machine disturbs least. Wall time is printed beside it. Nothing here asserts a timing.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

__all__ = ["BASELINE", "Context", "Result", "Suite", "format_table", "measure"]

BASELINE = "dynamore"


@dataclass(frozen=True)
class Context:
    """What a benchmark module gets: the DynamoDB Local endpoint and the size mode.

    ``smoke`` (the test suite's mode, with ``quick``): one round per case instead of three,
    enough to prove a module runs and compares, not to rank anything."""

    endpoint: str
    quick: bool = False
    smoke: bool = False

    def n(self, full: int, quick: int) -> int:
        """Pick an operation count for the current mode."""
        return quick if self.quick else full


@dataclass(frozen=True)
class Result:
    """Medians over the rounds of one (case, implementation) pair, per operation."""

    module: str
    case: str
    impl: str
    ops: int
    rounds: int
    cpu_us: float
    wall_us: float
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _one_round(fn: Callable[[], Any], ops: int) -> tuple[float, float]:
    gc.collect()
    gc.disable()
    try:
        c0, w0 = time.process_time(), time.perf_counter()
        for _ in range(ops):
            fn()
        c1, w1 = time.process_time(), time.perf_counter()
    finally:
        gc.enable()
    return (c1 - c0) / ops * 1e6, (w1 - w0) / ops * 1e6


def measure(fn: Callable[[], Any], *, ops: int, rounds: int, warmup: int) -> tuple[float, float]:
    """Run ``fn`` ``warmup`` times, then ``rounds`` rounds of ``ops`` calls; return the median
    CPU and wall microseconds per call. The garbage collector is paused inside a round, as in
    ``timeit``, and collected between rounds."""
    for _ in range(warmup):
        fn()
    samples = [_one_round(fn, ops) for _ in range(rounds)]
    return statistics.median(c for c, _ in samples), statistics.median(w for _, w in samples)


class Suite:
    """A set of cases, each run by several implementations side by side in one process.

    >>> suite = Suite("codec", Context("http://127.0.0.1:8000", quick=True))
    >>> suite.add("flat", "dynamore", lambda: None, ops=10)
    >>> [r.impl for r in suite.run()]
    ['dynamore']
    """

    def __init__(self, module: str, ctx: Context, *, rounds: int = 7, warmup: int = 0) -> None:
        self.module = module
        self.ctx = ctx
        self.rounds = 1 if ctx.smoke else 3 if ctx.quick else rounds
        self.warmup = warmup
        self._cases: list[tuple[str, str, Callable[[], Any], int]] = []

    def add(self, case: str, impl: str, fn: Callable[[], Any], *, ops: int) -> None:
        """Register ``fn`` (one operation) as ``impl``'s way of doing ``case``."""
        self._cases.append((case, impl, fn, ops))

    def run(self) -> list[Result]:
        """Measure every registered pair. Rounds are interleaved (round 1 of every pair, then
        round 2 ...), so a slow phase of a noisy machine hits all implementations alike."""
        for _, _, fn, ops in self._cases:
            for _ in range(self.warmup or max(1, ops // 10)):
                fn()
        samples: list[list[tuple[float, float]]] = [[] for _ in self._cases]
        for _ in range(self.rounds):
            for i, (_, _, fn, ops) in enumerate(self._cases):
                samples[i].append(_one_round(fn, ops))
        return [
            Result(
                self.module,
                case,
                impl,
                ops,
                self.rounds,
                statistics.median(c for c, _ in samples[i]),
                statistics.median(w for _, w in samples[i]),
            )
            for i, (case, impl, _, ops) in enumerate(self._cases)
        ]


def _ratio(peer: float, base: Optional[float]) -> str:
    if not base:
        return "-"
    return f"{peer / base:.1f}x"


def format_table(results: list[Result]) -> str:
    """A plain-text table: per case, each implementation's CPU and wall µs per operation and
    its ratio to dynamore's (peer / dynamore: higher means dynamore is cheaper)."""
    header = ("case", "implementation", "CPU µs/op", "wall µs/op", "CPU ratio", "wall ratio")
    rows: list[tuple[str, ...]] = [header]
    base: dict[tuple[str, str], Result] = {
        (r.module, r.case): r for r in results if r.impl == BASELINE
    }
    for r in results:
        b = base.get((r.module, r.case))
        rows.append(
            (
                r.case,
                r.impl,
                f"{r.cpu_us:,.1f}",
                f"{r.wall_us:,.1f}",
                _ratio(r.cpu_us, b.cpu_us if b else None),
                _ratio(r.wall_us, b.wall_us if b else None),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for n, row in enumerate(rows):
        cells = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
