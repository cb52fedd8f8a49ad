"""``python -m dynamore.demo`` (what ``make demo`` runs) works and shows what README.rst says."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.kit import ROOT


def run_demo(endpoint: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DDB_ENDPOINT=endpoint, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "dynamore.demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_demo_runs_the_quick_start_twice(ddb_endpoint: str) -> None:
    for _ in range(2):  # a second run against the same server works too
        done = run_demo(ddb_endpoint)
        assert done.returncode == 0, done.stderr
        out = done.stdout
        assert "db.post created PERSON 123456" in out and "'name': 'Jeanne'" in out
        assert "db.get (all PERSON items) returned:" in out
        assert "{'PK': 'PERSON',\n     'SK': '123456'," in out
        assert "gender: must be one of ['male', 'female']" in out
        # The REST round trip through the local server ends the demo.
        assert "HTTP 201, Location: /person/777777" in out
        assert '    {"name":"Louis","id_number":"777777","gender":"male","age":42}' in out
        assert out.rstrip().endswith("HTTP 204")
        assert "'min' is not a JSON Schema keyword" in done.stderr
        assert "ResourceWarning" not in done.stderr


def test_demo_without_an_endpoint_says_what_to_do() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DDB_ENDPOINT"}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-m", "dynamore.demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "make demo" in done.stderr
