"""The files of a command-line load: its JSON Lines input lines, its checkpoint file and its
rejects file, shared by ``dynamore load`` and its parts (:mod:`dynamore.loader._partload`).

The checkpoint file is JSON replaced atomically (written beside, synced, renamed), and records
how much of the rejects file it covers, so that a resumed load cuts the rejects file back to
that length and no line is reported twice.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from typing import IO, Any, Optional

from dynamore.exceptions import ValidationError
from dynamore.loader._checkpoint import Checkpoint, Reject
from dynamore.loader._load import SKIP

__all__ = [
    "CHECKPOINT_VERSION",
    "CheckpointFile",
    "LoadError",
    "SetupError",
    "import_entity",
    "open_rejects",
    "parse_line",
    "reject_line",
    "saved_state",
]

CHECKPOINT_VERSION = 1


class SetupError(Exception):
    """The load cannot start (see :mod:`dynamore.loader.cli`): one ``dynamore: error:`` line,
    exit status 2, before any line is sent."""


class LoadError(Exception):
    """The input, the checkpoint or the rejects file failed mid-run: one line, exit status 1."""


def import_entity(spec: str) -> Any:
    """The Entity class ``spec`` (``package.module:Class``) names; SetupError when it does not."""
    from dynamore.entity import Entity

    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise SetupError(f"--entity must look like package.module:Class, not {spec!r}")
    # Like `python -m`: modules in the working directory can be named.
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except Exception as exc:  # any failure of user code at import is a usage error here
        raise SetupError(f"cannot import {spec}: {type(exc).__name__}: {exc}") from None
    if not (isinstance(target, type) and issubclass(target, Entity)):
        raise SetupError(f"{spec} is not an Entity subclass")
    return target


def parse_line(line: bytes) -> Any:
    """One input line as entity data: :data:`SKIP` when blank, ValueError when not JSON."""
    if not line.strip():
        return SKIP
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc.msg} (at character {exc.pos + 1})") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"invalid UTF-8 at byte {exc.start}") from None
    except RecursionError:
        raise ValueError("invalid JSON: nested too deeply") from None


class CheckpointFile:
    """The checkpoint file: JSON, replaced atomically; it also records how much of the rejects
    file it covers."""

    def __init__(self, path: str, header: dict[str, Any]) -> None:
        self.path = path
        self.header = header
        directory = os.path.dirname(os.path.abspath(path))
        if not os.access(directory, os.W_OK | os.X_OK):  # False too when it does not exist
            raise SetupError(f"cannot write checkpoint {path}: no writable directory {directory}")

    def read(self) -> Optional[dict[str, Any]]:
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise SetupError(f"cannot read checkpoint {self.path}: {exc}") from None
        if not isinstance(data, dict) or data.get("version") != CHECKPOINT_VERSION:
            raise SetupError(f"{self.path} is not a dynamore load checkpoint")
        return data

    def write(self, checkpoint: Checkpoint, rejects_offset: int, complete: bool) -> None:
        data = dict(
            self.header,
            version=CHECKPOINT_VERSION,
            checkpoint=checkpoint.to_dict(),
            rejects_offset=rejects_offset,
            complete=complete,
            updated=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        )
        tmp = f"{self.path}.tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            raise LoadError(f"cannot write checkpoint {self.path}: {exc.strerror}") from None


def reject_line(reject: Reject) -> bytes:
    """The rejects-file record of ``reject`` (``line`` numbered from 1), one JSON line."""
    source = reject.source
    text = source.decode("utf-8", "replace") if isinstance(source, bytes) else str(source)
    record = {
        "line": reject.position + 1,
        "kind": reject.kind,
        "reason": reject.reason,
        "input": text.rstrip("\r\n"),
    }
    return (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")


def open_rejects(path: Optional[str], offset: int) -> Optional[IO[bytes]]:
    """The rejects file for writing, cut back to ``offset`` bytes (a resumed load), or None."""
    if path is None:
        return None
    try:
        if offset:
            f = open(path, "r+b")  # noqa: SIM115 - closed by the caller
            if os.fstat(f.fileno()).st_size < offset:
                f.close()
                raise SetupError(f"{path} is shorter than the checkpoint says: not the same run")
            f.truncate(offset)
            f.seek(offset)
            return f
        return open(path, "wb")  # noqa: SIM115 - closed by the caller
    except OSError as exc:
        raise SetupError(f"cannot open rejects file: {exc}") from None


def saved_state(path: str, saved: dict[str, Any]) -> tuple[Checkpoint, int, Optional[str]]:
    """The checkpoint, rejects offset and rejects file a checkpoint file holds, checked."""
    counts, rejects = saved.get("checkpoint"), saved.get("rejects")
    offset = saved.get("rejects_offset", 0)
    if not isinstance(counts, dict):
        raise SetupError(f"checkpoint {path}: 'checkpoint' must be an object, not {counts!r}")
    try:
        start = Checkpoint.from_dict(counts)
    except ValidationError as exc:
        raise SetupError(f"checkpoint {path}: {exc}") from None
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise SetupError(f"checkpoint {path}: 'rejects_offset' must be a count, not {offset!r}")
    if rejects is not None and not isinstance(rejects, str):
        raise SetupError(f"checkpoint {path}: 'rejects' must be a file name, not {rejects!r}")
    return start, offset, rejects
