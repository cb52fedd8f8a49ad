"""Loading past one process: parts as processes, and the Step Functions map handler.

- ``load N lines``: one JSON Lines file loaded by ``dynamore load --parts P`` jobs
  (:func:`dynamore.loader._partload.run_part`) run as P processes (a process pool here, a Dask
  cluster or Step Functions in production), for P = 1, 2, 4. CPU is this process's plus the
  parts' (``RUSAGE_CHILDREN``), per line; wall time per line is the inverse of throughput. On
  one 2-core machine DynamoDB Local shares the cores, so the wall ratio shows what parts buy
  when the client is the bottleneck, not what a real table would take.
- ``map batch``: one Distributed Map batch of 1,000 items through
  :func:`dynamore.loader.map_handler` (validated, upserted 25 a request by 4 threads) against
  the way AWS's sample Lambda loads such a batch: boto3's ``batch_write_item`` per 25 items,
  serialized with ``TypeSerializer``, one thread, no validation, unprocessed items never resent.
  Client CPU per item.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from decimal import Decimal

from benchmarks.bench_load import Person, rows
from benchmarks.bench_ops import bench_table
from benchmarks.harness import Context, Result, Suite
from dynamore import Client
from dynamore.loader import map_handler
from dynamore.loader._partload import plan_parts, run_part

__all__ = ["run"]

MODULE = "bench_parts"
ENTITY = "benchmarks.bench_load:Person"
BATCH = 1000


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _load_in_parts(ctx: Context, path: str, parts: int, lines: int) -> tuple[float, float]:
    """CPU and wall µs per line of one parted load into a fresh table."""
    with bench_table(ctx, "parts") as (_, table), tempfile.TemporaryDirectory() as directory:
        jobs = plan_parts(
            path,
            parts,
            directory,
            resume=False,
            entity=ENTITY,
            table=table,
            mode="upsert",
            workers=4,
            endpoint=ctx.endpoint,
            region="us-east-1",
        )
        c0, k0, w0 = time.process_time(), _children_cpu(), time.perf_counter()
        with ProcessPoolExecutor(parts) as pool:
            results = list(pool.map(run_part, jobs))
        w1 = time.perf_counter()
        cpu = time.process_time() - c0 + _children_cpu() - k0
    assert sum(r.checkpoint.written for r in results) == lines, results
    return cpu / lines * 1e6, (w1 - w0) / lines * 1e6


def _parts(ctx: Context) -> list[Result]:
    n = ctx.n(40_000, 400)
    rounds = 1 if ctx.quick else 3
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        f.writelines(json.dumps(r) + "\n" for r in rows(n))
    samples: dict[int, list[tuple[float, float]]] = {1: [], 2: [], 4: []}
    try:
        for _ in range(rounds):
            for parts in samples:
                samples[parts].append(_load_in_parts(ctx, f.name, parts, n))
    finally:
        os.unlink(f.name)
    out = []
    for parts, got in samples.items():
        cpu = statistics.median(c for c, _ in got)
        wall = statistics.median(w for _, w in got)
        impl = "dynamore" if parts == 1 else f"dynamore {parts} parts"
        out.append(
            Result(
                MODULE,
                f"load {n} lines",
                impl,
                n,
                rounds,
                cpu,
                wall,
                {"lines_per_s": round(1e6 / wall)},
            )
        )
    return out


def _map_batch(ctx: Context) -> list[Result]:
    import boto3
    from boto3.dynamodb.types import TypeSerializer

    size = ctx.n(BATCH, 100)
    data = rows(size)
    event = {"Items": [{"index": i, "value": r} for i, r in enumerate(data)], "BatchInput": {}}
    serializer = TypeSerializer()
    low = boto3.client(
        "dynamodb",
        endpoint_url=ctx.endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )
    # The sample's items arrive as JSON: floats become Decimals for boto3, before timing.
    boto_rows = [json.loads(json.dumps(r), parse_float=Decimal) for r in data]
    with (
        bench_table(ctx, "map") as (_, table),
        Client(
            endpoint_url=ctx.endpoint, region="us-east-1", credentials=("bench", "bench")
        ) as client,
    ):
        handler = map_handler(Person, table, client=client, workers=4)

        def dynamore_batch() -> None:
            assert handler(event, None)["written"] == size

        def aws_sample() -> None:
            for i in range(0, size, 25):
                requests = [
                    {
                        "PutRequest": {
                            "Item": {
                                k: serializer.serialize(v)
                                for k, v in {"PK": "PERSON", "SK": r["id_number"], **r}.items()
                            }
                        }
                    }
                    for r in boto_rows[i : i + 25]
                ]
                low.batch_write_item(RequestItems={table: requests})

        suite = Suite(MODULE, ctx, rounds=5, warmup=1)
        case = f"map batch of {size} items"
        suite.add(case, "dynamore", dynamore_batch, ops=1)
        suite.add(case, "AWS sample (boto3 batch_write_item)", aws_sample, ops=1)
        results = suite.run()
    # Per item, not per batch.
    return [replace(r, cpu_us=r.cpu_us / size, wall_us=r.wall_us / size, ops=size) for r in results]


def run(ctx: Context) -> list[Result]:
    return _parts(ctx) + _map_batch(ctx)
