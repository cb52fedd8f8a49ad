"""Loading a file as independent parts (``dynamore load FILE --parts N --checkpoint DIR``).

The file is split into ``N`` line-aligned byte ranges (:mod:`dynamore.loader._parts`); each part
is one :func:`dynamore.loader.load` of the lines it owns, with its own checkpoint file and
rejects file in ``DIR`` (``part-0003-of-0008.json`` / ``.rejects.jsonl``), written as the CLI
writes them: atomically, the checkpoint recording how much of the rejects file it covers. A part
is a plain picklable job (:class:`PartJob`) run by :func:`run_part`, so any engine can run it:

- ``local``: every part in a thread of this process (each with its own ``workers``);
- ``dask``: every part as a task on a Dask distributed cluster (``scheduler`` address, or a
  local cluster of processes when none is given). Dask is imported only then.

``resume`` skips finished parts and continues the others from their checkpoints. When every
part has finished, :func:`merge` adds up their counts and writes one rejects file in input
order, each reject once, with its line number in the whole file: a part's lines are numbered
within the part, and the line counts of the parts before it (known once they finished) give
the offset, so no part ever reads another's range.
"""

from __future__ import annotations

import importlib
import json
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Optional

from dynamore.exceptions import DynamoreError
from dynamore.loader._checkpoint import Checkpoint, Reject
from dynamore.loader._files import (
    CheckpointFile,
    LoadError,
    SetupError,
    import_entity,
    open_rejects,
    parse_line,
    reject_line,
    saved_state,
)
from dynamore.loader._load import load
from dynamore.loader._parts import Part, part_lines, split

__all__ = ["ENGINES", "PartJob", "PartResult", "merge", "plan_parts", "run_part", "run_parts"]

ENGINES = ("local", "dask")
_COUNTS = ("written", "rejected", "already_existing", "failed", "skipped")


@dataclass(frozen=True)
class PartJob:
    """Everything one part's load needs (picklable: it travels to Dask workers)."""

    input: str
    size: int
    part: Part
    directory: str
    entity: str
    table: str
    mode: str
    workers: int
    endpoint: Optional[str] = None
    region: Optional[str] = None

    @property
    def name(self) -> str:
        return f"part-{self.part.index:04d}-of-{self.part.count:04d}"

    @property
    def checkpoint_path(self) -> str:
        return os.path.join(self.directory, f"{self.name}.json")

    @property
    def rejects_path(self) -> str:
        return os.path.join(self.directory, f"{self.name}.rejects.jsonl")

    def header(self) -> dict[str, Any]:
        """What a part's checkpoint must match to be resumed by this job."""
        return {
            "entity": self.entity,
            "table": self.table,
            "mode": self.mode,
            "input": self.input,
            "size": self.size,
            "part": self.part.index,
            "parts": self.part.count,
            "start": self.part.start,
            "end": self.part.end,
        }


@dataclass(frozen=True)
class PartResult:
    """Where a part stands: its checkpoint (``position`` = lines it owns, once complete)."""

    index: int
    checkpoint: Checkpoint
    complete: bool
    rejects_path: str


def plan_parts(
    input_path: str, count: int, directory: str, *, resume: bool, **options: Any
) -> list[PartJob]:
    """The jobs of a parted load of ``input_path``; ``options`` are :class:`PartJob`'s fields
    from ``entity`` on. SetupError when a part's checkpoint exists without ``resume`` (never
    overwritten), or belongs to another load."""
    path = os.path.abspath(input_path)
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        raise SetupError(f"cannot read {input_path}: {exc.strerror}") from None
    if not os.path.isdir(directory):
        raise SetupError(f"--checkpoint {directory}: with --parts it must be a directory")
    directory = os.path.abspath(directory)
    jobs = [PartJob(path, size, part, directory, **options) for part in split(size, count)]
    for job in jobs:
        if not os.path.lexists(job.checkpoint_path):
            continue
        if not resume:
            raise SetupError(
                f"checkpoint {job.checkpoint_path} already exists: add --resume to continue "
                "its load, or empty the directory"
            )
        saved = CheckpointFile(job.checkpoint_path, job.header()).read()
        for name, value in job.header().items():
            if saved is not None and saved.get(name) != value:
                raise SetupError(
                    f"checkpoint {job.checkpoint_path} is for {name} {saved.get(name)!r}, "
                    f"not {value!r}"
                )
    return jobs


def run_part(job: PartJob, stop: Optional[threading.Event] = None) -> PartResult:
    """Load the lines ``job``'s part owns, resuming from its checkpoint file when there is one
    (a finished part is not read again)."""
    from dynamore._client import Client

    saver = CheckpointFile(job.checkpoint_path, job.header())
    saved = saver.read()
    resume: Optional[Checkpoint] = None
    offset = 0
    if saved is not None:
        resume, offset, _ = saved_state(job.checkpoint_path, saved)
        if saved.get("complete") is True:
            return PartResult(job.part.index, resume, True, job.rejects_path)
    entity_class = import_entity(job.entity)
    rejects = open_rejects(job.rejects_path, offset)
    assert rejects is not None  # a path was given
    with (
        rejects,
        Client(endpoint_url=job.endpoint, region=job.region, max_connections=job.workers) as client,
    ):

        def on_reject(reject: Reject) -> None:
            rejects.write(reject_line(reject))

        def on_checkpoint(checkpoint: Checkpoint, complete: bool = False) -> None:
            try:
                rejects.flush()
                os.fsync(rejects.fileno())
            except OSError as exc:
                raise LoadError(f"cannot write {job.rejects_path}: {exc.strerror}") from None
            saver.write(checkpoint, rejects.tell(), complete)

        on_checkpoint(resume if resume is not None else Checkpoint())
        with open(job.input, "rb") as stream:
            report = load(
                client,
                job.table,
                entity_class,
                (line for _, line in part_lines(stream, job.part)),
                mode=job.mode,  # type: ignore[arg-type]  # checked by the command line
                workers=job.workers,
                resume=resume,
                stop=stop,
                parse=parse_line,
                on_reject=on_reject,
                on_checkpoint=on_checkpoint,
            )
        on_checkpoint(report.checkpoint, report.complete)
    return PartResult(job.part.index, report.checkpoint, report.complete, job.rejects_path)


def _run_local(jobs: Sequence[PartJob], stop: Optional[threading.Event]) -> list[PartResult]:
    if not jobs:
        return []
    with ThreadPoolExecutor(len(jobs), thread_name_prefix="dynamore-part") as pool:
        futures = [pool.submit(run_part, job, stop) for job in jobs]
        try:
            return [future.result() for future in futures]
        except BaseException:
            # One part failed: the others stop at their next checkpoint, resumable.
            if stop is not None:
                stop.set()
            raise


def _run_dask(jobs: Sequence[PartJob], scheduler: Optional[str]) -> list[PartResult]:
    try:
        # Imported by name: Dask is an optional extra (and untyped).
        distributed: Any = importlib.import_module("dask.distributed")
    except ImportError:
        raise SetupError("--engine dask needs Dask: pip install 'dask[distributed]'") from None
    if scheduler is not None:
        with distributed.Client(scheduler) as dask:
            return list(dask.gather(dask.map(run_part, jobs, pure=False)))
    workers = max(1, min(len(jobs), os.cpu_count() or 1))
    cluster = distributed.LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with cluster, distributed.Client(cluster) as dask:
        return list(dask.gather(dask.map(run_part, jobs, pure=False)))


def run_parts(
    jobs: Sequence[PartJob],
    *,
    engine: str = "local",
    scheduler: Optional[str] = None,
    stop: Optional[threading.Event] = None,
) -> list[PartResult]:
    """Run every job on ``engine`` (see the module docstring), in part order."""
    if engine not in ENGINES:
        raise SetupError(f"--engine must be one of {list(ENGINES)}, not {engine!r}")
    try:
        if engine == "dask":
            return _run_dask(jobs, scheduler)
        return _run_local(jobs, stop)
    except DynamoreError as exc:
        raise LoadError(str(exc)) from exc


def merge(results: Sequence[PartResult], rejects_path: Optional[str]) -> dict[str, Any]:
    """The parts' counts added up (``lines``: the lines settled) and, when every part is
    complete and ``rejects_path`` is given, their rejects in one file, renumbered by line of
    the whole input (written atomically)."""
    totals: dict[str, Any] = {name: 0 for name in _COUNTS}
    totals["lines"] = 0
    for result in results:
        totals["lines"] += result.checkpoint.position
        for name in _COUNTS:
            totals[name] += getattr(result.checkpoint, name)
    totals["complete"] = all(r.complete for r in results)
    if totals["complete"] and rejects_path is not None:
        _merge_rejects(results, rejects_path)
    return totals


def _merge_rejects(results: Sequence[PartResult], path: str) -> None:
    tmp = f"{path}.tmp"
    first_line = 0  # lines owned by the parts before this one
    try:
        with open(tmp, "wb") as out:
            for result in sorted(results, key=lambda r: r.index):
                with open(result.rejects_path, "rb") as part_rejects:
                    for raw in part_rejects:
                        record = json.loads(raw)
                        record["line"] += first_line
                        out.write(json.dumps(record, ensure_ascii=False).encode() + b"\n")
                first_line += result.checkpoint.position
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise LoadError(f"cannot write {path}: {exc.strerror}") from None
