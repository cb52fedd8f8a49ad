"""``dynamore load`` (``python -m dynamore load``): real subprocesses against DynamoDB Local,
killed with SIGKILL or stopped with Ctrl-C mid-run and resumed; setup errors in-process."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Optional

import pytest

from dynamore import Client
from dynamore.loader import Checkpoint, Progress
from dynamore.loader import cli as _cli
from tests import ddb_admin
from tests.kit import ROOT
from tests.loader_kit import (
    ENTITY,
    Person,
    command,
    jsonl,
    read_rejects,
    row,
    stored_rows,
)


class OtherKeys(Person):
    @classmethod
    def pr_keys(cls) -> list[str]:
        return ["pk", "sk"]


def read_checkpoint(path: Path) -> Optional[dict[str, Any]]:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return data


def wait_for_position(path: Path, at_least: int, proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        data = read_checkpoint(path)
        if data is not None and data["checkpoint"]["position"] >= at_least:
            return data
        assert proc.poll() is None, f"the load ended early with status {proc.returncode}"
        time.sleep(0.01)
    raise AssertionError(f"the checkpoint never reached {at_least}")


def assert_rejects_match(path: Path, bad: dict[int, str], lines: list[str]) -> None:
    rejects = read_rejects(path)
    assert [r["line"] for r in rejects] == sorted(bad)  # each bad line once, in order
    for r in rejects:
        assert r["kind"] == "invalid"
        assert bad[r["line"]] in r["reason"]
        assert r["input"] == lines[r["line"] - 1].rstrip("\n")


@pytest.fixture
def env(ddb_endpoint: str) -> dict[str, str]:
    """The subprocess environment: DynamoDB Local through DDB_ENDPOINT, as a user sets it."""
    out = dict(os.environ, DDB_ENDPOINT=ddb_endpoint, PYTHONPATH=str(ROOT))
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        out.pop(name, None)
    return out


# -- real subprocesses -------------------------------------------------------------------------


def test_ten_thousand_lines_each_valid_one_stored_once_every_bad_one_reported(
    tmp_path: Path, env: dict[str, str], ddb_endpoint: str, table: str
) -> None:
    lines, bad, valid = jsonl(10_000, every=101)
    source = tmp_path / "in.jsonl"
    source.write_text("".join(lines), encoding="utf-8")
    rejects = tmp_path / "rejects.jsonl"
    done = subprocess.run(
        command(str(source), "--table", table, "--rejects", str(rejects), "--workers", "4"),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr  # some lines were rejected
    assert done.stdout.splitlines()[0] == (
        f"10,000 lines: {len(valid):,} written, {len(bad)} rejected, 0 already existing, "
        "0 failed, 1 blank"
    )
    assert "Traceback" not in done.stderr
    assert_rejects_match(rejects, bad, lines)
    assert stored_rows(ddb_endpoint, table) == valid


def test_killed_mid_run_then_resumed_stores_everything_once(
    tmp_path: Path, env: dict[str, str], ddb_endpoint: str, table: str
) -> None:
    lines, bad, valid = jsonl(10_000, every=97)
    checkpoint, rejects = tmp_path / "load.ckpt", tmp_path / "rejects.jsonl"
    args = command(
        "-",
        "--table",
        table,
        "--rejects",
        str(rejects),
        "--checkpoint",
        str(checkpoint),
        "--checkpoint-every",
        "100",
        "--progress",
        "none",
    )
    with open(tmp_path / "out1", "wb") as out:
        proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=out, stderr=out
        )
        assert proc.stdin is not None
        # Feed part of the input; the pipe stays open, so the load cannot finish on its own.
        proc.stdin.write("".join(lines[:6000]).encode())
        proc.stdin.flush()
        seen = wait_for_position(checkpoint, 3000, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdin.close()
    assert proc.returncode == -signal.SIGKILL
    killed = read_checkpoint(checkpoint)
    assert killed is not None and not killed["complete"]
    assert 3000 <= seen["checkpoint"]["position"] <= killed["checkpoint"]["position"] <= 6000

    done = subprocess.run(
        [*args, "--resume"],
        cwd=ROOT,
        env=env,
        input="".join(lines),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    final = read_checkpoint(checkpoint)
    assert final is not None and final["complete"]
    counts = Checkpoint.from_dict(final["checkpoint"])
    assert counts == Checkpoint(10_000, len(valid), len(bad), 0, 0, 1)  # the counts add up
    assert done.stdout.startswith(f"10,000 lines: {len(valid):,} written, {len(bad)} rejected")
    assert_rejects_match(rejects, bad, lines)
    assert stored_rows(ddb_endpoint, table) == valid


def test_ctrl_c_stops_cleanly_with_a_checkpoint_and_resume_finishes(
    tmp_path: Path, env: dict[str, str], ddb_endpoint: str, table: str
) -> None:
    lines, _, valid = jsonl(5000)
    checkpoint = tmp_path / "load.ckpt"
    args = command(
        "-",
        "--table",
        table,
        "--checkpoint",
        str(checkpoint),
        "--mode",
        "create",
        "--progress",
        "lines",
        "--progress-interval",
        "0.05",
    )
    proc = subprocess.Popen(
        args,
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None
    proc.stdin.write("".join(lines[:3000]).encode())
    proc.stdin.flush()
    seen = wait_for_position(checkpoint, 1000, proc)["checkpoint"]["position"]
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert b"Traceback" not in err
    assert b"dynamore load: line " in err  # periodic progress lines
    assert b"stopped before the end; continue with --resume" in out
    stopped = read_checkpoint(checkpoint)
    assert stopped is not None and not stopped["complete"]
    # Requests in flight were finished, batches not yet sent were dropped (sent on resume).
    position = stopped["checkpoint"]["position"]
    assert seen <= position <= 3000
    assert Checkpoint.from_dict(stopped["checkpoint"]) == Checkpoint(position, written=position)

    done = subprocess.run(
        [*args, "--resume"],
        cwd=ROOT,
        env=env,
        input="".join(lines),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("5,000 lines: 5,000 written, 0 rejected, 0 already existing")
    assert stored_rows(ddb_endpoint, table) == valid


def test_a_slow_pipe_is_loaded_as_it_arrives(
    tmp_path: Path, env: dict[str, str], ddb_endpoint: str, table: str
) -> None:
    lines, _, valid = jsonl(11)
    checkpoint = tmp_path / "load.ckpt"
    args = command("-", "--table", table, "--checkpoint", str(checkpoint), "--progress", "none")
    proc = subprocess.Popen(
        args,
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None
    # Ten lines and the start of an eleventh, far less than a read chunk, and the writer is
    # slow to send more: the ten are written and checkpointed meanwhile.
    head, tail = lines[10][:20], lines[10][20:]
    proc.stdin.write(("".join(lines[:10]) + head).encode())
    proc.stdin.flush()
    assert wait_for_position(checkpoint, 10, proc)["checkpoint"]["position"] == 10
    # The rest of the eleventh: its start was kept, not read as a line of its own.
    out, err = proc.communicate(tail.encode(), timeout=60)
    assert proc.returncode == 0, err
    assert out.startswith(b"11 lines: 11 written, 0 rejected")
    assert stored_rows(ddb_endpoint, table) == valid


def test_version_through_module_and_console_script(env: dict[str, str]) -> None:
    from dynamore import __version__

    script = shutil.which("dynamore", path=str(Path(sys.executable).parent))
    assert script is not None, "the dynamore console script is not installed"
    for argv in ([sys.executable, "-m", "dynamore", "--version"], [script, "--version"]):
        done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert (done.returncode, done.stdout.strip()) == (0, f"dynamore {__version__}")


# -- in-process ----------------------------------------------------------------------------------


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = _cli.main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_create_mode_reports_existing_lines_and_exits_zero(
    tmp_path: Path,
    ddb_endpoint: str,
    table: str,
    client: Client,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lines, _, valid = jsonl(50)
    client.put_item(table, Person(dict(row(7), name="other")).data_with_identity())
    source, rejects = tmp_path / "in.jsonl", tmp_path / "rejects.jsonl"
    source.write_text("".join(lines))
    status, out, _ = run_cli(
        [
            "load",
            str(source),
            "--entity",
            ENTITY,
            "--table",
            table,
            "--endpoint",
            ddb_endpoint,
            "--mode",
            "create",
            "--rejects",
            str(rejects),
            "--progress",
            "none",
        ],
        capsys,
    )
    assert status == 0
    assert out.startswith("50 lines: 49 written, 0 rejected, 1 already existing, 0 failed")
    assert [(r["line"], r["kind"]) for r in read_rejects(rejects)] == [(8, "exists")]
    assert stored_rows(ddb_endpoint, table)["000007"]["name"] == "other"


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "a command is needed"),
        (["load", "--entity", ENTITY], "the following arguments are required: --table"),
        (["load", "--entity", "tests.test_cli", "--table", "{table}"], "package.module:Class"),
        (["load", "--entity", "no_such_module:X", "--table", "{table}"], "No module named"),
        (["load", "--entity", "tests.loader_kit:row", "--table", "{table}"], "not an Entity"),
        (["load", "--entity", ENTITY, "--table", "{table}", "--workers", "0"], "at least 1"),
        (["load", "--entity", ENTITY, "--table", "{table}", "--mode", "x"], "invalid choice"),
        (["load", "/no/such/file", "--entity", ENTITY, "--table", "{table}"], "cannot read"),
        (["load", "{input}", "--entity", ENTITY, "--table", "no-such-table"], "no table"),
        (
            ["load", "{input}", "--entity", "tests.test_cli:OtherKeys", "--table", "{table}"],
            "has hash key 'PK' and range key 'SK', but OtherKeys.pr_keys() is ['pk', 'sk']",
        ),
        (
            ["load", "{input}", "--entity", ENTITY, "--table", "{table}", "--resume"],
            "--resume needs --checkpoint",
        ),
        (
            ["load", "{input}", "--entity", ENTITY, "--table", "{table}", "--endpoint", "ftp://x"],
            "ftp",
        ),
        (
            ["load", "{input}", "--entity", ENTITY, "--table", "{table}", "--checkpoint", "/no/c"],
            "cannot write checkpoint /no/c: no writable directory /no",
        ),
    ],
)
def test_bad_command_lines_get_one_line_and_status_2(
    argv: list[str],
    message: str,
    tmp_path: Path,
    ddb_endpoint: str,
    table: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(row(1)) + "\n")
    argv = [a.format(table=table, input=source) for a in argv]
    if "--endpoint" not in argv and len(argv) > 1:
        argv += ["--endpoint", ddb_endpoint]
    status, out, err = run_cli(argv, capsys)
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("dynamore: error: "), err
    assert message in err
    assert out == ""


@pytest.mark.parametrize("complete", [True, False])
def test_an_existing_checkpoint_without_resume_is_refused_not_overwritten(
    complete: bool,
    tmp_path: Path,
    ddb_endpoint: str,
    table: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source, checkpoint = tmp_path / "in.jsonl", tmp_path / "c.ckpt"
    source.write_text("".join(jsonl(30)[0]))
    header = {"entity": ENTITY, "table": table, "mode": "upsert", "input": str(source)}
    _cli._CheckpointFile(str(checkpoint), header).write(Checkpoint(30, written=30), 0, complete)
    saved = checkpoint.read_bytes()
    argv = ["load", str(source), "--entity", ENTITY, "--table", table]
    argv += ["--endpoint", ddb_endpoint, "--checkpoint", str(checkpoint), "--progress", "none"]
    status, out, err = run_cli(argv, capsys)
    assert (status, out) == (2, "")
    assert err == (
        f"dynamore: error: checkpoint {checkpoint} already exists: add --resume to continue "
        "its load, or remove the file\n"
    )
    assert checkpoint.read_bytes() == saved
    assert stored_rows(ddb_endpoint, table) == {}


def test_a_data_file_named_as_checkpoint_is_neither_read_nor_overwritten(
    tmp_path: Path, ddb_endpoint: str, table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("".join(jsonl(30)[0]))
    data = source.read_bytes()
    # The input named twice by mistake: the second time as the checkpoint.
    argv = ["load", str(source), "--entity", ENTITY, "--table", table]
    argv += ["--endpoint", ddb_endpoint, "--checkpoint", str(source)]
    status, _, err = run_cli(argv, capsys)
    assert status == 2 and err.count("\n") == 1 and "already exists" in err, err
    assert source.read_bytes() == data


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port bound by the test but never listening: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_setup_errors_share_one_prefix_and_status_2(
    tmp_path: Path,
    ddb_endpoint: str,
    table: str,
    closed_port: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source, checkpoint = tmp_path / "in.jsonl", tmp_path / "c.ckpt"
    source.write_text("".join(jsonl(5)[0]))
    base = ["load", str(source), "--entity", ENTITY, "--table", table, "--progress", "none"]
    base += ["--checkpoint", str(checkpoint)]
    # Nothing answers at the endpoint: not a load that failed and could be resumed.
    status, out, err = run_cli([*base, "--endpoint", f"http://127.0.0.1:{closed_port}"], capsys)
    assert (status, out) == (2, ""), err
    assert err.count("\n") == 1 and err.startswith("dynamore: error: cannot connect"), err
    assert "--resume" not in err and not checkpoint.exists()
    # The first checkpoint cannot be saved (its temporary name is taken by a folder).
    (tmp_path / "c.ckpt.tmp").mkdir()
    status, out, err = run_cli([*base, "--endpoint", ddb_endpoint], capsys)
    assert (status, out) == (2, ""), err
    assert err.count("\n") == 1 and err.startswith("dynamore: error: cannot write checkpoint")
    assert "--resume" not in err and stored_rows(ddb_endpoint, table) == {}


def test_checkpoints_are_guarded_against_mixups(
    tmp_path: Path, ddb_endpoint: str, table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source, checkpoint = tmp_path / "in.jsonl", tmp_path / "c.ckpt"
    source.write_text("".join(jsonl(30)[0]))
    base = [
        "load",
        str(source),
        "--entity",
        ENTITY,
        "--endpoint",
        ddb_endpoint,
        "--checkpoint",
        str(checkpoint),
        "--progress",
        "none",
    ]
    saved = _cli._CheckpointFile(
        str(checkpoint),
        {"entity": ENTITY, "table": table, "mode": "upsert", "input": str(source)},
    )
    saved.write(Checkpoint(10, written=10), 0, complete=False)

    status, _, err = run_cli([*base, "--table", table], capsys)
    assert status == 2 and "already exists: add --resume" in err
    status, _, err = run_cli([*base, "--table", "another-table", "--resume"], capsys)
    assert status == 2 and f"is for table '{table}', not 'another-table'" in err
    checkpoint.write_text("{}")
    status, _, err = run_cli([*base, "--table", table, "--resume"], capsys)
    assert status == 2 and "is not a dynamore load checkpoint" in err
    # Fields of the wrong type: one line each, not a traceback.
    saved.write(Checkpoint(10, written=10), 0, complete=False)
    good = json.loads(checkpoint.read_text())
    for field, value, message in [
        ("checkpoint", [1], "'checkpoint' must be an object, not [1]"),
        ("checkpoint", {"position": "9"}, "checkpoint.position: must be a non-negative integer"),
        ("rejects_offset", "x", "'rejects_offset' must be a count, not 'x'"),
        ("rejects", 5, "'rejects' must be a file name, not 5"),
    ]:
        checkpoint.write_text(json.dumps(dict(good, **{field: value})))
        status, _, err = run_cli([*base, "--table", table, "--resume"], capsys)
        assert status == 2 and err.count("\n") == 1 and message in err, err

    # An input shorter than the checkpoint is not the input it was made from.
    saved.write(Checkpoint(50, written=50), 0, complete=False)
    status, out, err = run_cli([*base, "--table", table, "--resume"], capsys)
    assert status == 2 and err.count("\n") == 1, err
    assert "the input has 30 elements, fewer than the checkpoint's 50" in err and out == ""

    # A sound one resumes at its position: only lines 11-30 are sent.
    saved.write(Checkpoint(10, written=10), 0, complete=False)
    status, out, _ = run_cli([*base, "--table", table, "--resume"], capsys)
    assert status == 0 and out.startswith("30 lines: 30 written")
    assert sorted(stored_rows(ddb_endpoint, table)) == [f"{i:06d}" for i in range(10, 30)]


def test_rejects_file_of_a_resumed_run_must_be_the_saved_one(
    tmp_path: Path, ddb_endpoint: str, table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source, checkpoint = tmp_path / "in.jsonl", tmp_path / "c.ckpt"
    first, other = tmp_path / "rejects.jsonl", tmp_path / "other.jsonl"
    source.write_text("".join(jsonl(30)[0]))
    first.write_text("")
    other.write_text("keep me\n")
    header = {"entity": ENTITY, "table": table, "mode": "upsert", "input": str(source)}
    base = ["load", str(source), "--entity", ENTITY, "--table", table, "--endpoint", ddb_endpoint]
    base += ["--checkpoint", str(checkpoint), "--progress", "none", "--resume"]
    for kept in (None, str(first)):  # a run without --rejects, or with another file
        saved = _cli._CheckpointFile(str(checkpoint), dict(header, rejects=kept))
        saved.write(Checkpoint(10, written=10), 0, complete=False)
        status, _, err = run_cli([*base, "--rejects", str(other)], capsys)
        assert status == 2 and f"is for rejects file {kept!r}, not '{other}'" in err
    assert other.read_text() == "keep me\n"  # never truncated
    status, out, _ = run_cli([*base, "--rejects", str(first)], capsys)  # the same: fine
    assert status == 0 and out.startswith("30 lines: 30 written")


class BrokenStdin:
    """A pipe that hands over some lines, then fails (EIO)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def fileno(self) -> int:
        raise io.UnsupportedOperation("fileno")

    def read1(self, size: int) -> bytes:
        if self.data:
            data, self.data = self.data, b""
            return data
        raise OSError(5, "Input/output error")


def test_a_stdin_read_error_is_an_error_not_the_end_of_the_input(
    ddb_endpoint: str,
    table: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stdin = types.SimpleNamespace(buffer=BrokenStdin("".join(jsonl(5)[0]).encode()))
    monkeypatch.setattr(sys, "stdin", stdin)
    status, out, err = run_cli(
        ["load", "-", "--entity", ENTITY, "--table", table, "--endpoint", ddb_endpoint], capsys
    )
    assert status == 1 and out == ""
    assert err.count("\n") == 1 and "error: cannot read stdin: [Errno 5] Input/output error" in err


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_progress_redraws_one_line_with_an_eta(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"x\n" * 100)
    screen = FakeTerminal()
    with open(path, "rb") as f:
        source = _cli._Input(f, "in.jsonl")
        lines = iter(source)
        display = _cli._Display("auto", 10.0, source, screen)
        assert display.mode == "bar" and display.interval == _cli._BAR_REFRESH
        display(progress(0, 0.0))
        for _ in range(50):
            next(lines)
        display(progress(50, 5.0))
        display.close()
    text = screen.getvalue()
    assert text.count("\r\x1b[K") == 2 and text.endswith("\n")
    assert "line 50: 50 written" in text and "50%, ETA 0:00:05" in text


def progress(position: int, elapsed: float) -> Progress:
    return Progress(
        read=position,
        checkpoint=Checkpoint(position, written=position),
        retries=0,
        throttles=0,
        elapsed=elapsed,
        rate=position / elapsed if elapsed else None,
    )


def test_rejects_file_is_cut_back_to_the_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"line": 1}\n{"line": 9}\n')
    f: Optional[IO[bytes]] = _cli._open_rejects(str(path), offset=12)
    assert f is not None
    f.write(b'{"line": 5}\n')
    f.close()
    assert path.read_bytes() == b'{"line": 1}\n{"line": 5}\n'
    with pytest.raises(_cli.SetupError, match="shorter than the checkpoint"):
        _cli._open_rejects(str(path), offset=1000)


def test_uncreated_table_names_the_endpoint(
    tmp_path: Path, ddb_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "no-such-table" not in ddb_admin.list_tables(ddb_endpoint)
    source = tmp_path / "in.jsonl"
    source.write_text("{}\n")
    status, _, err = run_cli(
        [
            "load",
            str(source),
            "--entity",
            ENTITY,
            "--table",
            "no-such-table",
            "--endpoint",
            ddb_endpoint,
        ],
        capsys,
    )
    assert status == 2 and ddb_endpoint in err
