"""The ``dynamore`` command line (``python -m dynamore``): ``dynamore load`` for now.

``dynamore load FILE --entity package.module:Class --table TABLE`` loads a JSON Lines file (or
stdin, ``-``) of entity data through :func:`dynamore.loader.load`. Lines are numbered from 1;
every line not written goes to ``--rejects FILE`` as one JSON object (``line``, ``kind``,
``reason``, ``input``), in line order. With ``--checkpoint FILE`` the position below which every
line is settled is saved (atomically) as the load goes, and ``--resume`` continues from it, also
after the process was killed: the rejects file is cut back to what the checkpoint covers, so
no line is reported twice. Ctrl-C (or SIGTERM) stops cleanly and saves the checkpoint; a second
Ctrl-C stops at once (the last saved checkpoint stays valid).

A blank line is skipped; any other line (``null`` too) is validated, and rejected with its
reason when it is not an entity. Input from a pipe is handed over as it arrives, so a slow
writer does not hold back checkpoints, progress or the lines already read.

Exit status: 0 when every line was written (or, in create mode, already existed), 1 when some
line was rejected or failed or the load failed once started (the input or a file could not be
read or written, DynamoDB stopped answering), 2 when the load could not start, 130 when
interrupted. The load cannot start on bad command-line input, or when something it names does
not fit: a file that cannot be opened, an existing ``--checkpoint`` file without ``--resume``
(never overwritten), a checkpoint of another load, an endpoint that does not answer, a missing
table or one with other keys; each such error is one ``dynamore: error:`` line. The endpoint
and region come from the environment (``AWS_ENDPOINT_URL_DYNAMODB``, ``DDB_ENDPOINT``,
``AWS_REGION`` ...) unless ``--endpoint`` / ``--region`` say otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import queue
import signal
import stat
import sys
import threading
import time
from collections.abc import Iterator
from types import FrameType
from typing import IO, TYPE_CHECKING, Any, NoReturn, Optional

from dynamore._keyschema import check_table_keys
from dynamore._version import __version__
from dynamore.exceptions import DynamoreError, ResourceNotFound, ValidationError
from dynamore.loader._checkpoint import Checkpoint, LoadReport, Progress, Reject
from dynamore.loader._files import CHECKPOINT_VERSION, LoadError, SetupError
from dynamore.loader._files import CheckpointFile as _CheckpointFile
from dynamore.loader._files import import_entity as _import_entity
from dynamore.loader._files import open_rejects as _open_rejects
from dynamore.loader._files import parse_line as _parse_line
from dynamore.loader._files import reject_line as _reject_line
from dynamore.loader._files import saved_state as _saved_state
from dynamore.loader._load import (
    DEFAULT_WORKERS,
    IDLE,
    load,
)
from dynamore.loader._partload import ENGINES, merge, plan_parts, run_parts
from dynamore.loader._workers import MODES, UPSERT

if TYPE_CHECKING:
    from dynamore._client import Client
    from dynamore.entity import Entity

__all__ = ["CHECKPOINT_VERSION", "EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_SETUP", "main"]

EXIT_FAILED = 1
EXIT_SETUP = 2
EXIT_INTERRUPTED = 130
_BAR_REFRESH = 0.2  # seconds between redraws of the terminal progress line
_READ_CHUNK = 1 << 16  # at most this many bytes read from a pipe at a time
_IDLE_AFTER = 0.1  # seconds without input (or between hand-overs) before the loader ticks


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise SetupError(f"{message} (see {self.prog} --help)")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
    return value


def _parser() -> _Parser:
    parser = _Parser(
        prog="dynamore",
        description="dynamore command line tools",
        # `serve` and `load-plan` are dispatched before this parser runs (dynamore.cli); they
        # are listed for --help.
        epilog="serve: serve a REST API over entity types on loopback (dynamore serve --help); "
        "load-plan: print the Step Functions state machine of a load from S3 "
        "(dynamore load-plan --help)",
    )
    parser.add_argument("--version", action="version", version=f"dynamore {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub = commands.add_parser(
        "load",
        help="load a JSON Lines file of entities into a table",
        description="Validate each line of a JSON Lines file as an entity and write it.",
    )
    sub.add_argument("input", nargs="?", default="-", help="JSON Lines file; - for stdin")
    sub.add_argument(
        "--entity",
        required=True,
        metavar="MODULE:CLASS",
        help="the Entity class, e.g. myapp.models:Person",
    )
    sub.add_argument("--table", required=True, help="the DynamoDB table")
    sub.add_argument(
        "--mode",
        choices=MODES,
        default=UPSERT,
        help="upsert (batch writes, default) or create (existing ids are reported)",
    )
    sub.add_argument(
        "--workers",
        type=_positive,
        default=DEFAULT_WORKERS,
        help=f"concurrent writers (default {DEFAULT_WORKERS})",
    )
    sub.add_argument("--rejects", metavar="FILE", help="write every line not written here")
    sub.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="save progress here as it goes (with --parts: a directory, one file per part)",
    )
    sub.add_argument(
        "--parts",
        type=_positive,
        metavar="N",
        help="split the file into N parts loaded independently (needs --checkpoint DIR)",
    )
    sub.add_argument(
        "--engine",
        choices=ENGINES,
        default="local",
        help="what runs the parts: threads of this process (default) or a Dask cluster",
    )
    sub.add_argument(
        "--scheduler", metavar="ADDRESS", help="the Dask scheduler (default: a local cluster)"
    )
    sub.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    sub.add_argument("--endpoint", help="DynamoDB endpoint URL (default: from the environment)")
    sub.add_argument("--region", help="AWS region (default: from the environment)")
    sub.add_argument(
        "--progress",
        choices=("auto", "bar", "lines", "none"),
        default="auto",
        help="stderr display: a live line on a terminal, else periodic lines",
    )
    sub.add_argument(
        "--progress-interval",
        type=_seconds,
        default=10.0,
        metavar="SECONDS",
        help="seconds between progress lines when not a terminal (default 10)",
    )
    sub.add_argument(
        "--checkpoint-every",
        type=_positive,
        default=1000,
        metavar="N",
        help="save the checkpoint every N settled lines, or each second",
    )
    return parser


class _Input:
    """The lines of the input, counting the bytes read (for the ETA). A read error: LoadError.

    A pipe or terminal is read by a helper thread that hands over whatever has arrived (a
    partial last line waits for its end); while it waits, and at least every ``_IDLE_AFTER``
    seconds, :data:`~dynamore._loader.IDLE` comes in between, so the loader keeps ticking.
    """

    def __init__(self, stream: IO[bytes], name: str) -> None:
        self.stream = stream
        self.name = name
        self.bytes_read = 0
        self.size: Optional[int] = None
        self.regular = False
        try:
            mode = os.fstat(stream.fileno()).st_mode
            self.regular = stat.S_ISREG(mode)
            if self.regular:
                self.size = os.fstat(stream.fileno()).st_size
        except (OSError, ValueError, io.UnsupportedOperation):
            pass

    def __iter__(self) -> Iterator[Any]:
        if self.regular:
            try:
                for line in self.stream:
                    self.bytes_read += len(line)
                    yield line
            except (OSError, ValueError) as exc:
                raise LoadError(f"cannot read {self.name}: {exc}") from exc
            return
        # (lines, bytes), the read error, or None at the end.
        chunks: queue.Queue[Any] = queue.Queue(maxsize=4)
        threading.Thread(target=self._read, args=(chunks,), daemon=True).start()
        ticked = time.monotonic()
        while True:
            try:
                got = chunks.get(timeout=_IDLE_AFTER)
            except queue.Empty:
                ticked = time.monotonic()
                yield IDLE
                continue
            if got is None:
                return
            if isinstance(got, BaseException):
                raise LoadError(f"cannot read {self.name}: {got}") from got
            lines, size = got
            self.bytes_read += size
            yield from lines
            now = time.monotonic()
            if now - ticked >= _IDLE_AFTER:
                ticked = now
                yield IDLE

    def _read(self, chunks: queue.Queue[Any]) -> None:
        rest = b""
        try:
            # Whatever the pipe holds now (up to a chunk), not a wait for a full chunk. From the
            # file descriptor when there is one: a buffered read holds the buffer's lock while
            # it waits, and an interpreter exiting (Ctrl-C) while this daemon thread waits
            # aborts on that lock (Python 3.9: "could not acquire lock ... at interpreter
            # shutdown"). Nothing else reads this stream, so its buffer is empty.
            try:
                fd = self.stream.fileno()
            except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
                read = getattr(self.stream, "read1", None) or self.stream.read
            else:

                def read(size: int) -> bytes:
                    return os.read(fd, size)

            while True:
                data = read(_READ_CHUNK)
                if not data:
                    if rest:
                        chunks.put(([rest], len(rest)))
                    chunks.put(None)
                    return
                lines = (rest + data).split(b"\n")
                size = len(rest) + len(data)
                rest = lines.pop()
                if lines:
                    chunks.put((lines, size - len(rest)))
        except BaseException as exc:  # handed to the loader's thread, which raises it
            chunks.put(exc)


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class _Display:
    """Progress on stderr: one redrawn line on a terminal, plain lines otherwise."""

    def __init__(self, mode: str, interval: float, source: _Input, stream: IO[str]) -> None:
        if mode == "auto":
            mode = "bar" if stream.isatty() else "lines"
        self.mode = mode
        self.interval = _BAR_REFRESH if mode == "bar" else interval
        self.source = source
        self.stream = stream
        self._bytes0: Optional[int] = None
        self._drawn = False

    def __call__(self, progress: Progress) -> None:
        if self.mode == "none":
            return
        c = progress.checkpoint
        if self._bytes0 is None:
            self._bytes0 = self.source.bytes_read
        rate = f"{progress.rate:,.0f}/s" if progress.rate else "-/s"
        text = (
            f"line {c.position:,}: {c.written:,} written, {c.rejected:,} rejected, "
            f"{c.failed:,} failed, {c.already_existing:,} existing, {progress.retries:,} "
            f"retries ({progress.throttles:,} throttled), {rate}"
        )
        size, done = self.source.size, self.source.bytes_read
        if size and done > self._bytes0 and progress.elapsed > 0:
            per_byte = progress.elapsed / (done - self._bytes0)
            text += f", {100 * done / size:.0f}%, ETA {_clock(per_byte * max(0, size - done))}"
        if self.mode == "bar":
            self.stream.write("\r\x1b[K" + text)
            self._drawn = True
        else:
            self.stream.write(f"dynamore load: {text}\n")
        self.stream.flush()

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()


def _resume_state(
    args: argparse.Namespace, header: dict[str, Any], err: IO[str]
) -> tuple[Optional[_CheckpointFile], Optional[Checkpoint], Optional[str], int]:
    """The checkpoint file, the checkpoint to resume from (None: start afresh), the rejects
    file and how much of it to keep. Sets ``header["rejects"]``, the rejects file saved."""
    rejects_path = os.path.abspath(args.rejects) if args.rejects else None
    if not args.checkpoint:
        if args.resume:
            raise SetupError("--resume needs --checkpoint FILE")
        return None, None, rejects_path, 0
    saver = _CheckpointFile(args.checkpoint, header)
    if not args.resume:
        # Whatever the file is (a finished load's checkpoint, or a data file named by mistake),
        # it is not ours to overwrite; it is not even read.
        if os.path.lexists(args.checkpoint):
            raise SetupError(
                f"checkpoint {args.checkpoint} already exists: add --resume to continue its "
                "load, or remove the file"
            )
        header["rejects"] = rejects_path
        return saver, None, rejects_path, 0
    saved = saver.read()
    if saved is None:
        err.write(f"dynamore load: no checkpoint at {args.checkpoint}; starting at line 1\n")
        header["rejects"] = rejects_path
        return saver, None, rejects_path, 0
    for name, value in header.items():
        if saved.get(name) != value:
            raise SetupError(
                f"checkpoint {args.checkpoint} is for {name} {saved.get(name)!r}, not {value!r}"
            )
    start, rejects_offset, saved_rejects = _saved_state(args.checkpoint, saved)
    if args.rejects and rejects_path != saved_rejects:
        # Never truncate a file the checkpoint does not know.
        raise SetupError(
            f"checkpoint {args.checkpoint} is for rejects file {saved_rejects!r}, "
            f"not {rejects_path!r}"
        )
    header["rejects"] = saved_rejects
    return saver, start, saved_rejects, rejects_offset


def _load(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    from dynamore._client import Client

    entity_class = _import_entity(args.entity)
    input_name = "-" if args.input == "-" else os.path.abspath(args.input)
    header = {"entity": args.entity, "table": args.table, "mode": args.mode, "input": input_name}
    saver, resume, rejects_path, rejects_offset = _resume_state(args, header, err)
    start = resume if resume is not None else Checkpoint()
    with contextlib.ExitStack() as cleanup:
        try:
            client = Client(
                endpoint_url=args.endpoint, region=args.region, max_connections=args.workers
            )
        except DynamoreError as exc:
            raise SetupError(str(exc)) from None
        cleanup.callback(client.close)
        if args.input == "-":
            stream: IO[bytes] = sys.stdin.buffer
        else:
            try:
                stream = cleanup.enter_context(open(args.input, "rb"))
            except OSError as exc:
                raise SetupError(f"cannot read {args.input}: {exc.strerror}") from None
        rejects = _open_rejects(rejects_path, rejects_offset)
        if rejects is not None:
            cleanup.callback(rejects.close)
        stop = threading.Event()
        source = _Input(stream, "stdin" if args.input == "-" else args.input)
        display = _Display(args.progress, args.progress_interval, source, err)
        cleanup.callback(_restore_handlers, _install_stop_handlers(stop))

        def on_reject(reject: Reject) -> None:
            if rejects is not None:
                try:
                    rejects.write(_reject_line(reject))
                except OSError as exc:
                    raise LoadError(f"cannot write {rejects_path}: {exc.strerror}") from None

        def on_checkpoint(checkpoint: Checkpoint, complete: bool = False) -> None:
            offset = 0
            if rejects is not None:
                try:
                    rejects.flush()
                    os.fsync(rejects.fileno())
                except OSError as exc:
                    raise LoadError(f"cannot write {rejects_path}: {exc.strerror}") from None
                offset = rejects.tell()
            if saver is not None:
                saver.write(checkpoint, offset, complete)

        try:
            # Until the first checkpoint is saved the load has not started: no resume hint.
            _check_table(client, args.table, entity_class)
            on_checkpoint(start)
        except (DynamoreError, LoadError) as exc:
            raise SetupError(str(exc)) from None
        try:
            try:
                report = load(
                    client,
                    args.table,
                    entity_class,
                    source,
                    mode=args.mode,
                    workers=args.workers,
                    resume=resume,
                    stop=stop,
                    parse=_parse_line,
                    on_reject=on_reject,
                    on_progress=display,
                    progress_interval=display.interval,
                    on_checkpoint=on_checkpoint,
                    checkpoint_every=args.checkpoint_every,
                )
            except ValidationError as exc:  # the load's own options: here, a checkpoint too far
                raise SetupError(f"checkpoint {args.checkpoint}: {exc}") from None
            finally:
                display.close()
            on_checkpoint(report.checkpoint, report.complete)
        except (DynamoreError, LoadError) as exc:
            hint = f" (continue with --resume --checkpoint {args.checkpoint})" if saver else ""
            err.write(f"dynamore load: error: {exc}{hint}\n")
            return EXIT_FAILED
    return _summary(args, report, start, rejects_path, out)


def _load_parts(args: argparse.Namespace, out: IO[str]) -> int:
    from dynamore._client import Client

    if args.parts is None:
        raise SetupError("--engine and --scheduler go with --parts N")
    if args.input == "-" or not args.checkpoint:
        raise SetupError("--parts needs an input file (not stdin) and --checkpoint DIR")
    if args.scheduler is not None and args.engine != "dask":
        raise SetupError("--scheduler goes with --engine dask")
    entity_class = _import_entity(args.entity)
    jobs = plan_parts(
        args.input,
        args.parts,
        args.checkpoint,
        resume=args.resume,
        entity=args.entity,
        table=args.table,
        mode=args.mode,
        workers=args.workers,
        endpoint=args.endpoint,
        region=args.region,
    )
    rejects_path = os.path.abspath(args.rejects or os.path.join(args.checkpoint, "rejects.jsonl"))
    try:
        with Client(endpoint_url=args.endpoint, region=args.region) as client:
            _check_table(client, args.table, entity_class)
    except DynamoreError as exc:
        raise SetupError(str(exc)) from None
    stop = threading.Event()
    previous = _install_stop_handlers(stop)
    started = time.monotonic()
    try:
        results = run_parts(jobs, engine=args.engine, scheduler=args.scheduler, stop=stop)
        totals = merge(results, rejects_path)
    except LoadError as exc:
        sys.stderr.write(
            f"dynamore load: error: {exc} (continue with --resume --checkpoint {args.checkpoint})\n"
        )
        return EXIT_FAILED
    finally:
        _restore_handlers(previous)
    elapsed = time.monotonic() - started
    done = sum(r.complete for r in results)
    out.write(
        f"{totals['lines']:,} lines in {done} of {len(results)} parts: "
        f"{totals['written']:,} written, {totals['rejected']:,} rejected, "
        f"{totals['already_existing']:,} already existing, {totals['failed']:,} failed"
        + (f", {totals['skipped']:,} blank" if totals["skipped"] else "")
        + f" ({elapsed:.1f} s)\n"
    )
    if not totals["complete"]:
        out.write(
            f"stopped before the end; continue with --resume --checkpoint {args.checkpoint}\n"
        )
        return EXIT_INTERRUPTED
    if totals["rejected"] or totals["failed"] or totals["already_existing"]:
        out.write(f"lines not written: {rejects_path}\n")
    return EXIT_FAILED if totals["rejected"] or totals["failed"] else 0


def _summary(
    args: argparse.Namespace,
    report: LoadReport,
    start: Checkpoint,
    rejects_path: Optional[str],
    out: IO[str],
) -> int:
    c = report.checkpoint
    rate = (c.position - start.position) / report.elapsed if report.elapsed > 0 else 0.0
    out.write(
        f"{c.position:,} lines: {report.written:,} written, {report.rejected:,} rejected, "
        f"{report.already_existing:,} already existing, {report.failed:,} failed"
        + (f", {report.skipped:,} blank" if report.skipped else "")
        + "\n"
    )
    out.write(
        f"{report.elapsed:.1f} s, {rate:,.0f} lines/s, {report.retries:,} retries "
        f"({report.throttles:,} throttled)\n"
    )
    if rejects_path and (report.rejected or report.failed or report.already_existing):
        out.write(f"lines not written: {rejects_path}\n")
    else:
        for reject in (report.rejects + report.failures)[:5]:
            out.write(f"line {reject.position + 1}: {reject.kind}: {reject.reason}\n")
    if not report.complete:
        where = f" --checkpoint {args.checkpoint}" if args.checkpoint else ""
        out.write(f"stopped before the end; continue with --resume{where}\n")
        return EXIT_INTERRUPTED
    return EXIT_FAILED if report.rejected or report.failed else 0


def _check_table(client: Client, table: str, entity_class: type[Entity]) -> None:
    # The check the load itself makes (cached: it costs one DescribeTable), run before the
    # first checkpoint is saved so that a wrong table is a setup error.
    try:
        check_table_keys(client, table, entity_class)
    except ResourceNotFound:
        raise SetupError(f"no table {table!r} at {client.endpoint.url}") from None


def _install_stop_handlers(stop: threading.Event) -> dict[int, Any]:
    if threading.current_thread() is not threading.main_thread():
        return {}

    def handler(signum: int, frame: Optional[FrameType]) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous: dict[int, Any] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, handler)
    return previous


def _restore_handlers(previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def main(argv: Optional[list[str]] = None) -> int:
    """Run the command line; returns the exit status (see the module docstring)."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            raise SetupError("a command is needed: load, serve or load-plan (see dynamore --help)")
        if args.parts is not None or args.engine != "local" or args.scheduler is not None:
            return _load_parts(args, sys.stdout)
        return _load(args, sys.stdout, sys.stderr)
    except SetupError as exc:
        sys.stderr.write(f"dynamore: error: {exc}\n")
        return EXIT_SETUP
    except KeyboardInterrupt:
        sys.stderr.write("dynamore: interrupted\n")
        return EXIT_INTERRUPTED
