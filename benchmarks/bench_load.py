"""Bulk loading: dynamore's ``DynamoDbProxy.load`` against boto3's two usual ways.

Every implementation writes the same items (8 attributes: strings, an int, a float, a bool, a
list and a map, plus the ``PK``/``SK`` keys) into a fresh on-demand table of DynamoDB Local:

- ``dynamore``: ``DynamoDbProxy.load(Person, rows, workers=4)`` in upsert mode: each row is
  validated against the entity's JSON Schema, given its keys and written 25 to a request by 4
  worker threads;
- ``boto3 batch_writer``: ``Table.batch_writer()``, boto3's documented way (no validation);
- ``boto3 batch_write_item x4``: the low-level client's ``batch_write_item`` from a pool of 4
  threads, items serialized with ``TypeSerializer``, unprocessed items resent (no validation).

boto3 gets floats as ``Decimal`` (it refuses floats), built before timing, as its users write
them. Figures are per item: client CPU (``time.process_time``: DynamoDB Local runs in another
process, so this is exactly the client's CPU, all threads included) and wall time, the inverse
of throughput. Rounds are interleaved; the table shows the median round.

Targets (issue 6), same run: CPU per item >= 5x lower than ``batch_writer``, wall throughput
>= 2x ``batch_writer``'s.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from benchmarks.bench_ops import bench_table
from benchmarks.harness import Context, Result
from dynamore import Client
from dynamore.dynamodb_proxy import DynamoDbProxy
from dynamore.entity import Entity

__all__ = ["Person", "rows", "run"]

MODULE = "bench_load"
WORKERS = 4


class Person(Entity):
    """The loaded entity: 8 attributes of the usual kinds."""

    SCHEMA = {
        "title": "PERSON",
        "type": "object",
        "required": ["id_number", "name", "age"],
        "properties": {
            "id_number": {"type": "string"},
            "name": {"type": "string"},
            "age": {"type": "integer", "minimum": 0, "maximum": 150},
            "email": {"type": "string"},
            "score": {"type": "number"},
            "active": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "address": {"type": "object"},
        },
        "additionalProperties": False,
    }
    ID_ATTRIBUTE = "id_number"


def rows(n: int) -> list[dict[str, Any]]:
    """``n`` valid rows of entity data (no key attributes)."""
    return [
        {
            "id_number": f"{i:08d}",
            "name": f"Person number {i}",
            "age": i % 100,
            "email": f"person{i}@example.com",
            "score": i / 7,
            "active": i % 3 == 0,
            "tags": ["alpha", "beta"] if i % 2 else ["gamma"],
            "address": {"street": f"{i} Main Street", "city": "Springfield", "zip": "12345"},
        }
        for i in range(n)
    ]


def _decimals(v: Any) -> Any:
    if isinstance(v, float):
        return Decimal(repr(v))
    if isinstance(v, dict):
        return {k: _decimals(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_decimals(x) for x in v]
    return v


def run(ctx: Context) -> list[Result]:
    import boto3
    from boto3.dynamodb.types import TypeSerializer

    n = ctx.n(20_000, 300)
    rounds = 1 if ctx.quick else 3
    data = rows(n)
    boto_rows = [_decimals(r) for r in data]
    options = {
        "endpoint_url": ctx.endpoint,
        "region_name": "us-east-1",
        "aws_access_key_id": "bench",
        "aws_secret_access_key": "bench",
    }
    low = boto3.client("dynamodb", **options)
    resource = boto3.resource("dynamodb", **options)
    dyn = Client(
        endpoint_url=ctx.endpoint,
        region="us-east-1",
        credentials=("bench", "bench"),
        max_connections=WORKERS,
    )
    serializer = TypeSerializer()

    Load = Callable[[str, list[dict[str, Any]], list[dict[str, Any]]], None]

    def dynamore_load(table: str, data: list[dict[str, Any]], _: list[dict[str, Any]]) -> None:
        report = DynamoDbProxy(table_name=table, client=dyn).load(Person, data, workers=WORKERS)
        assert report.written == len(data), report

    def batch_writer(table: str, _: list[dict[str, Any]], boto_rows: list[dict[str, Any]]) -> None:
        with resource.Table(table).batch_writer() as writer:
            for row in boto_rows:
                writer.put_item(Item={"PK": "PERSON", "SK": row["id_number"], **row})

    def thread_pool(table: str, _: list[dict[str, Any]], boto_rows: list[dict[str, Any]]) -> None:
        def send(chunk: list[dict[str, Any]]) -> None:
            requests = [
                {
                    "PutRequest": {
                        "Item": {
                            k: serializer.serialize(v)
                            for k, v in {"PK": "PERSON", "SK": row["id_number"], **row}.items()
                        }
                    }
                }
                for row in chunk
            ]
            while requests:
                answer = low.batch_write_item(RequestItems={table: requests})
                requests = answer.get("UnprocessedItems", {}).get(table, [])
                if requests:
                    time.sleep(0.05)

        chunks = [boto_rows[i : i + 25] for i in range(0, len(boto_rows), 25)]
        with ThreadPoolExecutor(WORKERS) as pool:
            list(pool.map(send, chunks))

    impls: list[tuple[str, Load]] = [
        ("dynamore", dynamore_load),
        ("boto3 batch_writer", batch_writer),
        (f"boto3 batch_write_item x{WORKERS}", thread_pool),
    ]
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in impls}
    try:
        # Warm-up: imports, connections, the boto3 models (one small load each).
        for _, fn in impls:
            with bench_table(ctx, "load") as (_, table):
                fn(table, data[:50], boto_rows[:50])
        for _ in range(rounds):
            for name, fn in impls:
                with bench_table(ctx, "load") as (_, table):
                    gc.collect()
                    c0, w0 = time.process_time(), time.perf_counter()
                    fn(table, data, boto_rows)
                    c1, w1 = time.process_time(), time.perf_counter()
                    samples[name].append(((c1 - c0) / n * 1e6, (w1 - w0) / n * 1e6))
    finally:
        dyn.close()
    results = []
    for name, _ in impls:
        cpu = statistics.median(c for c, _ in samples[name])
        wall = statistics.median(w for _, w in samples[name])
        results.append(
            Result(
                MODULE,
                f"load {n} items",
                name,
                n,
                rounds,
                cpu,
                wall,
                {"items_per_s": round(1e6 / wall)},
            )
        )
    return results
