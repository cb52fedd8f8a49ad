"""What AsyncClient adds to the behaviours it shares with Client (tests/test_client.py runs
those against both): many tasks on one bounded pool, cancellation at random points, credentials
that never block the event loop, one client used from successive event loops, and prewarm."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Coroutine
from typing import Any, Optional, TypeVar

import pytest

from dynamore import AsyncClient, Credentials, Response, _signing
from dynamore._async_client import AsyncCredentials
from dynamore._credentials import CredentialProvider
from dynamore.dynamodb_proxy import AsyncDynamoDbProxy
from dynamore.entity import Entity
from dynamore.exceptions import ConfigurationError, ExpiredCredentials, ResourceNotFound
from tests.faultproxy import FaultProxy
from tests.http_kit import FakeClock

_T = TypeVar("_T")


def run(coro: Coroutine[Any, Any, _T]) -> _T:
    return asyncio.run(coro)


def key(n: int) -> dict[str, str]:
    return {"PK": "K", "SK": f"{n:04d}"}


async def fill(db: AsyncClient, table: str, n: int) -> None:
    await db.batch_write(table, [{**key(i), "n": i} for i in range(n)])


def test_a_hundred_concurrent_gets_on_ten_connections(ddb_endpoint: str, table: str) -> None:
    async def main() -> None:
        async with AsyncClient(endpoint_url=ddb_endpoint, max_connections=10) as db:
            await fill(db, table, 100)
            got = await asyncio.gather(*[db.get_item(table, key(n)) for n in range(100)])
            assert got == [{**key(n), "n": n} for n in range(100)]
            assert db.transport.opened <= 10  # type: ignore[attr-defined]
            assert (db.transport.active, db.transport.waiting) == (0, 0)  # type: ignore[attr-defined]

    run(main())


def test_tasks_cancelled_at_random_points_leave_the_pool_answering_right(
    ddb_endpoint: str, table: str
) -> None:
    chance = random.Random(1234)

    async def get(db: AsyncClient, n: int) -> Optional[dict[str, Any]]:
        return await db.get_item(table, key(n))

    async def main() -> None:
        async with AsyncClient(endpoint_url=ddb_endpoint, max_connections=4) as db:
            await fill(db, table, 50)
            for _ in range(5):
                tasks = [asyncio.ensure_future(get(db, n % 50)) for n in range(60)]
                # Cancel two in three, each after a random number of loop turns: waiting for
                # a slot, connecting, with the request sent, or with half an answer read.
                for n, task in enumerate(tasks):
                    if n % 3:
                        for _ in range(chance.randrange(12)):
                            await asyncio.sleep(0)
                        task.cancel()
                results = await asyncio.gather(*tasks, return_exceptions=True)
                for n, result in enumerate(results):
                    if not isinstance(result, asyncio.CancelledError):
                        assert result == {**key(n % 50), "n": n % 50}
                pool = db.transport
                assert (pool.active, pool.waiting) == (0, 0)  # type: ignore[attr-defined]
                assert pool.idle <= 4  # type: ignore[attr-defined]
            # Whatever was cut short, every answer now is the right one.
            got = await asyncio.gather(*[db.get_item(table, key(n)) for n in range(50)])
            assert got == [{**key(n), "n": n} for n in range(50)]

    run(main())


def test_one_client_used_from_successive_event_loops(ddb_endpoint: str, table: str) -> None:
    db = AsyncClient(endpoint_url=ddb_endpoint)
    run(db.put_item(table, {**key(1), "n": 1}))
    assert run(db.get_item(table, key(1))) == {**key(1), "n": 1}
    assert db.transport.opened == 2  # type: ignore[attr-defined]
    db.close()


def test_batches_run_in_a_thread_and_send_through_the_loop(ddb_endpoint: str, table: str) -> None:
    async def main() -> None:
        async with AsyncClient(endpoint_url=ddb_endpoint) as db:
            await db.batch_write(table, [{**key(i), "n": i} for i in range(60)])
            keys = [key(i) for i in range(59, -1, -1)]
            assert await db.batch_get(table, keys) == [{**k, "n": int(k["SK"])} for k in keys]
            await db.batch_write(table, deletes=keys[:30])
            assert len(await db.batch_get(table, keys)) == 30
            assert db.transport.opened == 1  # type: ignore[attr-defined]
            # Errors come out as from Client.batch_get: a missing table is not retried.
            with pytest.raises(ResourceNotFound):
                await db.batch_get("no-such-table", [key(1)])

    run(main())


def test_options_are_the_clients() -> None:
    with pytest.raises(ConfigurationError, match="read_timeout"):
        AsyncClient(endpoint_url="http://127.0.0.1:1", read_timeout=0)
    with pytest.raises(ConfigurationError, match="retry must be"):
        AsyncClient(endpoint_url="http://127.0.0.1:1", retry="3")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="'auto' or 'native'"):
        AsyncClient(endpoint_url="http://127.0.0.1:1", transport="botocore")
    db = AsyncClient(endpoint_url="http://127.0.0.1:1", region="eu-west-1", retry=5)
    assert repr(db) == "<AsyncClient http://127.0.0.1:1 region=eu-west-1>"
    assert db.retry.max_attempts == 5


# -- credentials --------------------------------------------------------------------------------


class SlowSource:
    """A credential source that blocks until released, noting the threads it ran in."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.release = threading.Event()
        self.threads: list[threading.Thread] = []

    def __call__(self) -> Credentials:
        self.threads.append(threading.current_thread())
        assert self.release.wait(10)
        n = len(self.threads)
        # Epoch seconds: the provider's clock is the fake one (which starts at 1000).
        return Credentials(f"AKID{n}", "secret", "token", expiry=self.clock.now + 3600)


def test_the_botocore_chain_runs_in_a_thread_once_for_all_waiting_tasks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    clock = FakeClock()
    source = SlowSource(clock)
    resolved: list[object] = []

    def fake_resolve(explicit: object = None) -> CredentialProvider:
        resolved.append(explicit)
        return CredentialProvider(source, clock=clock, name="fake chain")

    monkeypatch.setattr("dynamore._async_client.resolve_credentials", fake_resolve)

    async def main() -> None:
        creds = AsyncCredentials()
        assert resolved == [] and creds.current() is None  # nothing resolved at construction
        loop_turns = 0
        waiting = [asyncio.ensure_future(creds.fetch()) for _ in range(20)]
        while loop_turns < 50:  # the loop keeps turning while the chain blocks its thread
            loop_turns += 1
            await asyncio.sleep(0)
        source.release.set()
        got = await asyncio.gather(*waiting)
        assert {c.access_key for c in got} == {"AKID1"}
        assert len(resolved) == 1 and len(source.threads) == 1
        assert source.threads[0] is not threading.main_thread()
        first = creds.current()
        assert first is not None and first.access_key == "AKID1"  # at hand: no thread now
        clock.advance(3600)  # expired: refreshed once, in a thread, for everyone
        assert creds.current() is None
        again = await asyncio.gather(*[creds.fetch() for _ in range(10)])
        assert {c.access_key for c in again} == {"AKID2"}
        assert len(source.threads) == 2 and source.threads[1] is not threading.main_thread()

    run(main())


class ExpiringOnce:
    """An async transport answering ExpiredTokenException to the first request."""

    def __init__(self) -> None:
        self.tokens: list[Optional[str]] = []

    async def send(self, headers: dict[str, str], body: bytes) -> Response:
        self.tokens.append(headers.get("X-Amz-Security-Token"))
        if len(self.tokens) == 1:
            error = b'{"__type":"com.amazon.coral.service#ExpiredTokenException","message":"x"}'
            return Response(400, {}, error)
        return Response(200, {}, b"{}")

    def close(self) -> None:
        pass


def test_an_expired_token_refreshes_the_credentials_and_retries_once() -> None:
    issued = iter(["t1", "t2", "t3"])

    class Frozen:
        def get_frozen_credentials(self) -> Any:
            return Credentials("AKID", "secret", next(issued))

    async def main() -> None:
        transport = ExpiringOnce()
        db = AsyncClient(
            endpoint_url="http://127.0.0.1:1", credentials=Frozen(), transport=transport
        )
        assert await db.call("ListTables", {}) == {}
        assert transport.tokens == ["t1", "t2"]
        assert db.stats.retries == 0  # a refresh, not a retry

        fixed = AsyncClient(
            endpoint_url="http://127.0.0.1:1", credentials=("A", "s", "t"), transport=ExpiringOnce()
        )
        with pytest.raises(ExpiredCredentials):  # fixed credentials cannot be refreshed
            await fixed.call("ListTables", {})

    run(main())


def test_environment_credentials_are_read_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    creds = AsyncCredentials()
    now = creds.current()
    assert now is not None and now.access_key == "AKIDENV"
    assert not creds.refreshable
    assert creds.current() is now


class Thing(Entity):
    SCHEMA = {"title": "THING", "properties": {"id": {"type": "string"}}}
    ID_ATTRIBUTE = "id"


def test_after_prewarm_the_first_request_opens_no_connection_and_derives_no_key(
    ddb_endpoint: str, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    derived: list[str] = []
    real = _signing.signing_key
    monkeypatch.setattr(
        _signing, "signing_key", lambda *args: derived.append(args[1]) or real(*args)
    )

    async def main() -> None:
        async with AsyncClient(endpoint_url=ddb_endpoint, max_connections=2) as db:
            transport: Any = db.transport
            assert transport.opened == 0 and not derived  # building it connects nowhere
            await db.prewarm()
            assert (transport.opened, transport.idle, len(derived)) == (1, 1, 1)
            assert await db.get_item(table, key(0)) is None
            assert (transport.opened, len(derived)) == (1, 1)  # the warm connection, the key
            await db.prewarm()  # a pooled live connection is kept, not doubled
            assert (transport.opened, transport.idle) == (1, 1)
            await transport.prewarm(5)  # up to the pool's bound
            assert (transport.opened, transport.idle) == (2, 2)

    run(main())


def test_prewarm_a_proxy_checks_the_table_and_opens_the_connection(
    ddb_endpoint: str, table: str
) -> None:
    async def main(url: str) -> None:
        async with AsyncClient(endpoint_url=url) as client:
            db = AsyncDynamoDbProxy(table_name=table, client=client)
            await db.prewarm(Thing)
            assert faults.forwarded["DescribeTable"] == 1
            opened = faults.connections
            await db.post(entity_class=Thing, data={"id": "1"})
            assert faults.connections == opened  # the first verb reuses the warm connection
            assert faults.forwarded["DescribeTable"] == 1  # and checks the table no more
            with pytest.raises(ConfigurationError, match="key"):
                await AsyncDynamoDbProxy(table_name=table, client=client).prewarm(Other)

    with FaultProxy(ddb_endpoint) as faults:
        run(main(faults.url))


class Other(Entity):
    """Keys the table does not have: its check fails at prewarm, not at the first verb."""

    SCHEMA = {"title": "OTHER", "properties": {"id": {"type": "string"}}}
    ID_ATTRIBUTE = "id"

    @classmethod
    def pr_keys(cls) -> list[str]:
        return ["pk", "sk"]
