"""Connections after ``fork``: a module-level DynamoDbProxy that has already made a request,
then children forked from it. No child may use a connection the parent (or a sibling) opened,
or answers end up with the wrong caller; and a child must not disturb the parent's connections
either.

Both transports are tested; the fault proxy in between (forwarding only) counts the requests
each connection carried."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
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

#: The proxy the children use: module-level, built (and used) before the fork, as in
#: an application that creates it at import and later forks workers.
PROXY: Optional[DynamoDbProxy] = None


def person(n: int) -> dict[str, Any]:
    return {"name": f"person {n}", "age": n % 100, "gender": "female", "id_number": str(n)}


def get_many(ids: list[str]) -> list[tuple[str, str]]:
    """In a child: read each id and say which id the answer was for (or what went wrong)."""
    assert PROXY is not None
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
def test_forked_children_get_every_answer_for_their_own_key(
    kind: str, ddb_endpoint: str, client: Client, table: str
) -> None:
    global PROXY
    count = PROCESSES * GETS_PER_PROCESS
    client.batch_write(table, [Person(person(n)).data_with_identity() for n in range(count)])
    chunks = [[str(n) for n in range(p, count, PROCESSES)] for p in range(PROCESSES)]
    with FaultProxy(ddb_endpoint) as proxy, Client(endpoint_url=proxy.url, transport=kind) as db:
        PROXY = DynamoDbProxy(table_name=table, client=db)
        try:
            # The parent's request leaves a kept-alive connection in the pool before the fork.
            assert PROXY.get(entity_class=Person, data={"id_number": "0"}) == person(0)
            ran = fork_each([lambda chunk=chunk: json.dumps(get_many(chunk)) for chunk in chunks])
            # The parent's connection survived the children, and still answers for itself.
            assert PROXY.get(entity_class=Person, data={"id_number": "1"}) == person(1)
        finally:
            PROXY = None
        per_connection = list(proxy.requests_per_connection)
    assert [status for status, _ in ran] == [0] * PROCESSES, ran
    pairs = [tuple(pair) for _, out in ran for pair in json.loads(out)]
    assert len(pairs) == count
    assert [(asked, got) for asked, got in pairs if asked != got] == []
    # Connection 0 is the parent's: its two gets, nothing from a child. Each child opened its
    # own (one each: nothing failed, so nothing reconnected).
    assert per_connection == [2] + [GETS_PER_PROCESS] * PROCESSES


def fork_each(jobs: list[Callable[[], str]], timeout: float = 60) -> list[tuple[int, str]]:
    """Fork one child per job and return each child's (exit status, text it returned).

    The children start their jobs together, once all of them exist (so their first requests
    overlap; no timing is asserted), and leave at once with ``os._exit``, never returning into
    pytest. Plain ``os.fork`` rather than a ``multiprocessing`` pool: a pool's own threads and
    locks add deadlocks of their own to a process that forks under threads. A child still
    running after ``timeout`` seconds (a deadlock) is killed and reported with status -9."""
    go_read, go_write = os.pipe()
    children: list[tuple[int, int]] = []  # (pid, read end of the child's answer pipe)
    try:
        for job in jobs:
            out_read, out_write = os.pipe()
            with fork_allowed():
                pid = os.fork()
            if pid == 0:  # the child
                code = 1
                try:
                    os.close(go_write)
                    os.read(go_read, 1)  # end of file once the parent has forked them all
                    answer = job().encode()
                    while answer:
                        answer = answer[os.write(out_write, answer) :]
                    code = 0
                except BaseException:
                    code = 2
                finally:
                    os._exit(code)
            os.close(out_write)
            children.append((pid, out_read))
    finally:
        os.close(go_write)
        os.close(go_read)
    deadline = time.monotonic() + timeout
    ran = []
    for pid, out_read in children:
        chunks = []
        with os.fdopen(out_read, "rb", buffering=0) as answers:
            while True:
                ready, _, _ = select.select(
                    [answers], [], [], max(0.0, deadline - time.monotonic())
                )
                chunk = answers.read(65536) if ready else b""
                if not chunk:
                    break
                chunks.append(chunk)
        if not ready:
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        ran.append((os.waitstatus_to_exitcode(status), b"".join(chunks).decode()))
    return ran


def run_in_child(check: Callable[[], bool]) -> int:
    """Fork; in the child run ``check()``; return the child's exit status: 0 when it returned
    True, 1 when False, 2 when it raised, -9 when it was stuck for a minute (a deadlock)."""
    status, said = fork_each([lambda: "yes" if check() else "no"])[0]
    return 1 if status == 0 and said != "yes" else status


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
