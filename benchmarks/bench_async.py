"""AsyncClient CPU per PutItem and GetItem, and throughput, at 64 concurrent tasks: dynamore's
AsyncClient against aiobotocore, aioboto3's resource, aiodynamo and pydynox's async client.

Every implementation writes, then reads, the item of ``bench_ops`` (8 attributes) in one table
of one DynamoDB Local, each set up the way its documentation shows, all on one event loop:

- ``dynamore``: ``AsyncClient(endpoint_url=..., max_connections=64)``, plain Python values;
- ``aiobotocore``: ``session.create_client("dynamodb")`` (pool of 64), low-level ``{"S": ...}``
  dicts built once outside the loop (its users encode items themselves: this favours it);
- ``aioboto3 resource``: ``session.resource("dynamodb")`` and ``await resource.Table(name)``,
  plain values (numbers come back as ``Decimal``);
- ``aiodynamo``: ``Client(AIOHTTP(session), ...)``, ``client.table(name)``, plain values;
- ``pydynox``: ``DynamoDBClient(endpoint_url=...)``'s async ``put_item`` / ``get_item`` (a Rust
  core whose own threads' CPU counts too: ``process_time`` covers every thread).

One measured call is a wave of 64 tasks, each doing one operation; the table shows CPU and wall
time per operation (the wave's divided by 64) and ``ops/s``, the wall-clock throughput. CPU is
this process's (DynamoDB Local runs in its own JVM). A peer that cannot be imported on this
Python is left out with a printed note.

Targets (issue 15): dynamore >= 5x less CPU per operation than aiobotocore, >= 2x less than
aiodynamo.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib.util
import sys
from collections.abc import Awaitable
from typing import Any, Callable

from benchmarks.bench_ops import ITEM, KEY, LOW_LEVEL_ITEM, LOW_LEVEL_KEY, REGION, bench_table
from benchmarks.harness import Context, Result, Suite
from dynamore import AsyncClient

CONCURRENCY = 64

Op = Callable[[], Awaitable[Any]]


def _available(module: str) -> bool:
    if importlib.util.find_spec(module) is not None:
        return True
    print(f"bench_async: {module} is not installed on Python {sys.version.split()[0]}: left out")
    return False


class _Peers:
    """Every implementation's (put, get) coroutines, opened on one event loop."""

    def __init__(self, endpoint: str, table: str, stack: contextlib.AsyncExitStack) -> None:
        self.endpoint = endpoint
        self.table = table
        self.stack = stack
        self.ops: dict[str, tuple[Op, Op]] = {}

    async def open_all(self) -> None:
        db = await self.stack.enter_async_context(
            AsyncClient(endpoint_url=self.endpoint, region=REGION, max_connections=CONCURRENCY)
        )
        table = self.table
        self.ops["dynamore"] = (
            lambda: db.put_item(table, ITEM),
            lambda: db.get_item(table, KEY),
        )
        if _available("aiobotocore"):
            await self._aiobotocore()
        if _available("aioboto3"):
            await self._aioboto3()
        if _available("aiodynamo") and _available("aiohttp"):
            await self._aiodynamo()
        if _available("pydynox"):
            self._pydynox()

    async def _aiobotocore(self) -> None:
        from aiobotocore.config import AioConfig
        from aiobotocore.session import get_session

        low = await self.stack.enter_async_context(
            get_session().create_client(
                "dynamodb",
                endpoint_url=self.endpoint,
                region_name=REGION,
                config=AioConfig(max_pool_connections=CONCURRENCY),
            )
        )
        table = self.table
        self.ops["aiobotocore"] = (
            lambda: low.put_item(TableName=table, Item=LOW_LEVEL_ITEM),
            lambda: low.get_item(TableName=table, Key=LOW_LEVEL_KEY),
        )

    async def _aioboto3(self) -> None:
        import aioboto3
        from botocore.config import Config

        resource = await self.stack.enter_async_context(
            aioboto3.Session().resource(
                "dynamodb",
                endpoint_url=self.endpoint,
                region_name=REGION,
                config=Config(max_pool_connections=CONCURRENCY),
            )
        )
        table = await resource.Table(self.table)
        self.ops["aioboto3 resource"] = (
            lambda: table.put_item(Item=ITEM),
            lambda: table.get_item(Key=KEY),
        )

    async def _aiodynamo(self) -> None:
        import aiohttp
        from aiodynamo.client import Client
        from aiodynamo.credentials import Credentials
        from aiodynamo.http.aiohttp import AIOHTTP
        from yarl import URL

        session = await self.stack.enter_async_context(aiohttp.ClientSession())
        client = Client(AIOHTTP(session), Credentials.auto(), REGION, endpoint=URL(self.endpoint))
        table = client.table(self.table)
        self.ops["aiodynamo"] = (lambda: table.put_item(ITEM), lambda: table.get_item(KEY))

    def _pydynox(self) -> None:
        import logging

        from pydynox import DynamoDBClient

        # pydynox warns of every call over 100 ms, which each one is while 64 tasks queue on
        # the server: the warnings would bury the tables and bill pydynox for its logging.
        logging.getLogger("pydynox").setLevel(logging.ERROR)
        client = DynamoDBClient(region=REGION, endpoint_url=self.endpoint)
        table = self.table
        self.ops["pydynox"] = (
            lambda: client.put_item(table, ITEM),
            lambda: client.get_item(table, KEY),
        )


async def _wave(op: Op) -> None:
    """One measured call: CONCURRENCY tasks, one operation each."""
    await asyncio.gather(*[op() for _ in range(CONCURRENCY)])


def _wave_of(loop: asyncio.AbstractEventLoop, op: Op) -> Callable[[], None]:
    return lambda: loop.run_until_complete(_wave(op))


def run(ctx: Context) -> list[Result]:
    suite = Suite("async", ctx)
    waves = ctx.n(8, 2)
    loop = asyncio.new_event_loop()
    stack = contextlib.AsyncExitStack()
    try:
        with bench_table(ctx, "async") as (_, table):
            peers = _Peers(ctx.endpoint, table, stack)
            loop.run_until_complete(peers.open_all())
            loop.run_until_complete(peers.ops["dynamore"][0]())  # the item readers will find
            for case, index in (("put_item x64", 0), ("get_item x64", 1)):
                for impl, ops in peers.ops.items():
                    op = ops[index]
                    suite.add(
                        case, impl, lambda op=op: loop.run_until_complete(_wave(op)), ops=waves
                    )
            results = suite.run()
            loop.run_until_complete(stack.aclose())
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    return [
        dataclasses.replace(
            r,
            cpu_us=r.cpu_us / CONCURRENCY,
            wall_us=r.wall_us / CONCURRENCY,
            extra={"concurrency": CONCURRENCY, "ops_per_s": round(1e6 * CONCURRENCY / r.wall_us)},
        )
        for r in results
    ]
