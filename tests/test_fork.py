"""Connections after ``fork``: a module-level DynamoDbProxy that has already made a request,
then a ``multiprocessing`` pool with the fork start method. No child may use a connection the
parent (or a sibling) opened, or answers end up with the wrong caller; and a child must not
disturb the parent's connections either.

Both transports are tested; the fault proxy in between (forwarding only) counts the requests
each connection carried."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any, Optional

import pytest

from dynamore import Client
from dynamore._transports.base import BaseTransport, Response
from dynamore._transports.native import NativeTransport
from dynamore.dynamodb_proxy import DynamoDbProxy
from tests.faultproxy import FaultProxy
from tests.http_kit import SIMPLE_HEADERS, TinyServer, answer, serve_forever
from tests.kit import Person

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="no fork on Windows")

PROCESSES = 4
GETS_PER_PROCESS = 200

#: The proxy the pool's children use: module-level, built (and used) before the fork, as in
#: an application that creates it at import and later forks workers.
PROXY: Optional[DynamoDbProxy] = None
#: Lines the children up so that their first requests overlap (no timing is asserted).
START: Optional[Any] = None


def person(n: int) -> dict[str, Any]:
    return {"name": f"person {n}", "age": n % 100, "gender": "female", "id_number": str(n)}


def get_many(ids: list[str]) -> list[tuple[str, str]]:
    """In a child: read each id and say which id the answer was for (or what went wrong)."""
    assert PROXY is not None and START is not None
    START.wait(60)
    out = []
    for ident in ids:
        try:
            data = PROXY.get(entity_class=Person, data={"id_number": ident})
            got = "missing" if data is None else str(data["id_number"])
        except Exception as exc:  # reported to the parent, which shows it
            got = f"{type(exc).__name__}: {exc}"[:80]
        out.append((ident, got))
    return out


@contextlib.contextmanager
def fork_allowed() -> Iterator[None]:
    """Python 3.12+ warns when a process with threads forks (the fault proxy's are running
    here); forking under threads is what this file tests."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", r".*use of fork\(\) may lead to deadlocks", DeprecationWarning
        )
        yield


@pytest.mark.parametrize("kind", ["native", "botocore"])
def test_forked_pool_gets_every_answer_for_its_own_key(
    kind: str, ddb_endpoint: str, client: Client, table: str
) -> None:
    global PROXY, START
    count = PROCESSES * GETS_PER_PROCESS
    client.batch_write(table, [Person(person(n)).data_with_identity() for n in range(count)])
    chunks = [[str(n) for n in range(p, count, PROCESSES)] for p in range(PROCESSES)]
    context = multiprocessing.get_context("fork")
    with FaultProxy(ddb_endpoint) as proxy, Client(endpoint_url=proxy.url, transport=kind) as db:
        PROXY = DynamoDbProxy(table_name=table, client=db)
        START = context.Barrier(PROCESSES)
        try:
            # The parent's request leaves a kept-alive connection in the pool before the fork.
            assert PROXY.get(entity_class=Person, data={"id_number": "0"}) == person(0)
            with fork_allowed(), context.Pool(PROCESSES) as pool:
                results = pool.map(get_many, chunks, chunksize=1)
            # The parent's connection survived the children, and still answers for itself.
            assert PROXY.get(entity_class=Person, data={"id_number": "1"}) == person(1)
        finally:
            PROXY = START = None
        per_connection = list(proxy.requests_per_connection)
    pairs = [pair for chunk in results for pair in chunk]
    assert len(pairs) == count
    assert [(asked, got) for asked, got in pairs if asked != got] == []
    # Connection 0 is the parent's: its two gets, nothing from a child. Each child opened its
    # own (one each: nothing failed, so nothing reconnected).
    assert per_connection == [2] + [GETS_PER_PROCESS] * PROCESSES


def run_in_child(check: Any) -> int:
    """Fork; in the child run ``check()`` (True: exit 0) and leave at once; return the child's
    exit status. A child stuck for a minute (a deadlock) is killed and counts as failed."""
    with fork_allowed():
        pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            code = 0 if check() else 1
        except BaseException:
            code = 2
        finally:
            os._exit(code)
    deadline = time.monotonic() + 60
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return -1
        time.sleep(0.01)


def test_child_forked_while_a_thread_holds_the_pool_lock_uses_its_own_connection() -> None:
    reply = serve_forever(lambda n: answer(b'{"n":%d}' % n))
    with TinyServer(reply) as server, NativeTransport(server.url) as transport:
        assert transport.send(SIMPLE_HEADERS, b"{}").body == b'{"n":0}'
        holding, release = threading.Event(), threading.Event()

        def hold_the_lock() -> None:
            with transport._cond:
                holding.set()
                release.wait(60)

        holder = threading.Thread(target=hold_the_lock)
        holder.start()
        assert holding.wait(10)
        try:

            def child() -> bool:
                # Nothing inherited in the pool, and a new connection (its first answer).
                fresh = transport.idle == 0 and transport.active == 0
                return fresh and transport.send(SIMPLE_HEADERS, b"{}").body == b'{"n":0}'

            status = run_in_child(child)
        finally:
            release.set()
            holder.join()
        assert status == 0
        # The parent's connection is untouched by the child: its second answer, same socket.
        assert transport.send(SIMPLE_HEADERS, b"{}").body == b'{"n":1}'
        assert server.connections == 2


def test_the_at_fork_hook_reaches_every_live_transport() -> None:
    class Recorder(BaseTransport):
        forgotten = 0

        def send(self, headers: dict[str, str], body: bytes) -> Response:
            raise NotImplementedError

        def _close_connections(self) -> None:
            raise AssertionError("a child must never close the parent's connections")

        def _forget_connections(self) -> None:
            self.forgotten += 1

    transports = [Recorder("http://h:1"), Recorder("http://h:2")]
    # In the child, before any use: the hook ran once for each, and the pid is the child's.
    status = run_in_child(
        lambda: (
            [t.forgotten for t in transports] == [1, 1]
            and all(t._pid == os.getpid() for t in transports)
        )
    )
    assert status == 0
    assert [t.forgotten for t in transports] == [0, 0]  # the parent's are untouched
