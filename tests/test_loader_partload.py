"""``dynamore load FILE --parts N --checkpoint DIR``: parts loaded independently (threads of one
process, or tasks on a local Dask cluster), killed with SIGKILL at random moments and resumed
until done; the table ends up equal to the input's valid lines, every bad line is reported once
with its line number in the whole file, and the counts are exact."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from dynamore.loader import cli as _cli
from tests.kit import ROOT
from tests.loader_kit import command, jsonl, read_rejects, stored_rows


@pytest.fixture
def env(ddb_endpoint: str) -> dict[str, str]:
    out = dict(os.environ, DDB_ENDPOINT=ddb_endpoint, PYTHONPATH=str(ROOT))
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        out.pop(name, None)
    return out


def write_input(path: Path, n: int, every: int = 37) -> tuple[list[str], dict[int, str], Any]:
    lines, bad, valid = jsonl(n, every=every)
    # Windows line endings on some lines: the parser strips the \r, the split ignores it.
    lines = [
        line[:-1] + "\r\n" if i % 5 == 0 and line.strip() else line for i, line in enumerate(lines)
    ]
    path.write_bytes("".join(lines).encode("utf-8"))
    return lines, bad, valid


def assert_loaded(
    done: subprocess.CompletedProcess[str],
    rejects: Path,
    lines: list[str],
    bad: dict[int, str],
    valid: dict[str, Any],
    endpoint: str,
    table: str,
) -> None:
    assert done.returncode == 1, done.stdout + done.stderr  # bad lines were rejected
    first = done.stdout.splitlines()[0]
    assert first.startswith(
        f"{len(lines):,} lines in 8 of 8 parts: {len(valid):,} written, {len(bad)} rejected, "
        "0 already existing, 0 failed, 1 blank"
    ), first
    got = read_rejects(rejects)
    assert [r["line"] for r in got] == sorted(bad)  # each bad line once, in input order
    for r in got:
        assert bad[r["line"]] in r["reason"]
        assert r["input"] == lines[r["line"] - 1].rstrip("\r\n")
    assert stored_rows(endpoint, table) == valid


def kill_and_resume(
    args: list[str], env: dict[str, str], directory: Path, kills: int
) -> subprocess.CompletedProcess[str]:
    """Start the load, SIGKILL it at random moments ``kills`` times (resuming each time), then
    let a last ``--resume`` finish."""
    rng = random.Random(os.getpid())
    parts = int(args[args.index("--parts") + 1])
    resume: list[str] = []
    for _ in range(kills):
        proc = subprocess.Popen(
            [*args, *resume],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Wait until some part has saved progress past its start, then a little more.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if any(progress(p) > 0 for p in directory.glob("part-*.json")):
                break
            time.sleep(0.01)
        if resume:  # the first kill lands at the first progress: a loaded machine may
            time.sleep(rng.uniform(0.0, 0.5))  # finish a small load within half a second
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        if not resume:  # the first kill at least must have cut the load short: some part
            assert proc.returncode == -signal.SIGKILL  # unfinished, or not even started (on
            files = list(directory.glob("part-*.json"))  # Dask, parts start as workers free up)
            assert len(files) < parts or not all(complete(p) for p in files)
        resume = ["--resume"]
    return subprocess.run(
        [*args, *resume], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


def complete(path: Path) -> bool:
    try:
        return json.loads(path.read_text())["complete"] is True
    except (OSError, ValueError, KeyError):
        return False


def progress(path: Path) -> int:
    try:
        position: int = json.loads(path.read_text())["checkpoint"]["position"]
    except (OSError, ValueError, KeyError):
        return 0
    return position


def test_eight_parts_killed_at_random_and_resumed_load_everything_once(
    tmp_path: Path, env: dict[str, str], ddb_endpoint: str, table: str
) -> None:
    source, directory, rejects = (
        tmp_path / "in.jsonl",
        tmp_path / "ckpt",
        tmp_path / "rejects.jsonl",
    )
    directory.mkdir()
    lines, bad, valid = write_input(source, 8000)
    args = command(
        str(source),
        "--table",
        table,
        "--parts",
        "8",
        "--checkpoint",
        str(directory),
        "--rejects",
        str(rejects),
        "--workers",
        "2",
        "--checkpoint-every",
        "50",
    )
    done = kill_and_resume(args, env, directory, kills=3)
    assert_loaded(done, rejects, lines, bad, valid, ddb_endpoint, table)
    # Done means done: resuming a finished load reads nothing and reports the same.
    again = subprocess.run(
        [*args, "--resume"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert again.stdout.splitlines()[0].split(" (")[0] == done.stdout.splitlines()[0].split(" (")[0]


def test_the_same_parts_on_a_local_dask_cluster(
    tmp_path: Path, env: dict[str, str], ddb_endpoint: str, table: str
) -> None:
    source, directory, rejects = (
        tmp_path / "in.jsonl",
        tmp_path / "ckpt",
        tmp_path / "rejects.jsonl",
    )
    directory.mkdir()
    lines, bad, valid = write_input(source, 3000)
    args = command(
        str(source),
        "--table",
        table,
        "--parts",
        "8",
        "--engine",
        "dask",
        "--checkpoint",
        str(directory),
        "--rejects",
        str(rejects),
        "--checkpoint-every",
        "50",
    )
    done = kill_and_resume(args, env, directory, kills=1)
    assert_loaded(done, rejects, lines, bad, valid, ddb_endpoint, table)
    assert sorted(p.name for p in directory.glob("part-*.json")) == [
        f"part-{i:04d}-of-0008.json" for i in range(8)
    ]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--parts", "2"], "--parts needs an input file (not stdin) and --checkpoint DIR"),
        (["--engine", "dask"], "--engine and --scheduler go with --parts N"),
        (
            ["--parts", "2", "--checkpoint", "FILE", "--scheduler", "x:1"],
            "--scheduler goes with --engine dask",
        ),
        (["--parts", "2", "--checkpoint", "FILE"], "with --parts it must be a directory"),
        (["--parts", "2", "--checkpoint", "DIR"], "already exists: add --resume"),
    ],
)
def test_setup_errors_are_one_line_and_start_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"id_number": "1", "name": "a"}\n')
    (tmp_path / "FILE").write_text("")
    (tmp_path / "DIR").mkdir()
    (tmp_path / "DIR" / "part-0001-of-0002.json").write_text("{}")
    extra = [str(tmp_path / e) if e in ("FILE", "DIR") else e for e in extra]
    where = "-" if extra[:2] == ["--parts", "2"] and len(extra) == 2 else str(source)
    argv = ["load", where, "--entity", "tests.loader_kit:Person", "--table", "T", *extra]
    assert _cli.main(argv) == _cli.EXIT_SETUP
    err = capsys.readouterr().err
    assert err.startswith("dynamore: error: ") and message in err and err.count("\n") == 1
