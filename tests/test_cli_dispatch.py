"""dynamore.cli: the ``dynamore`` command dispatches ``serve`` to the REST server and every
other form to the loader's command line, so each ``dynamore load ...`` works as before."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dynamore.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parent.parent


def test_no_command_names_both(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "a command is needed: load, serve or load-plan" in capsys.readouterr().err


def test_load_goes_to_the_loader(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["load", "--entity", "x:Y"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dynamore: error: ") and "--table" in err


def test_serve_goes_to_the_server(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--table", "t", "--entity", "tests.test_cli_dispatch:main"]) == 2
    assert "is not an Entity subclass" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stopped:
        main(["serve", "--help"])
    assert stopped.value.code == 0
    assert "--entity MODULE:CLASS" in capsys.readouterr().out


def test_the_console_script_and_python_m_list_every_command() -> None:
    script = shutil.which("dynamore", path=str(Path(sys.executable).parent))
    assert script is not None
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for argv in ([sys.executable, "-m", "dynamore", "--help"], [script, "--help"]):
        done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0
        assert all(command in done.stdout for command in COMMANDS), done.stdout
