"""Cold start as a Lambda sees it: a new Python process imports the library, builds a client
and does its first GetItem.

Each measurement runs one child process (``sys.executable -c <script>``) and waits for it:

- ``wall µs/op``: the whole child, from spawn to exit (interpreter start-up included);
- ``CPU µs/op``: the child's user + system CPU (``RUSAGE_CHILDREN`` before and after the wait);
- ``Result.extra``: the child's own peak RSS (``VmHWM`` of ``/proc/self/status``, read by the
  child just before it exits), its own timings of the three phases (import, build the client,
  first GetItem), and which of ``botocore``/``boto3``/``urllib3`` it had imported by then.

Implementations: ``dynamore`` (``Client(endpoint_url=..., transport="native")``, credentials
from the environment, so the child must not import botocore: it reports whether it did, and the
run fails if it did), ``boto3 resource`` (``boto3.resource("dynamodb").Table(name).get_item``)
and ``botocore client`` (``botocore.session.get_session().create_client("dynamodb")``, the
low-level client without boto3's own import). The ``python (no client)`` row is the floor: the
same interpreter starting and exiting, which every implementation pays.

Why not ``ru_maxrss``: Linux carries the high-water mark of the forking parent's memory over
``exec`` (``subprocess`` forks with ``vfork``), so a bare interpreter started from this
benchmark process "peaks" at the parent's size; ``VmHWM`` belongs to the new address space
alone. (``ru_maxrss`` is the fallback where ``/proc`` is missing.)

Children get the credentials and region a Lambda has in its environment and not
``AWS_CA_BUNDLE`` (Lambda sets none; the endpoint is plain http anyway). Their bytecode is
cached, as in a package built by ``pip install`` (which compiles ``.pyc`` files): the warm-up
child of each implementation writes it into a private ``PYTHONPYCACHEPREFIX`` folder and the
measured children read it. Without that, ``PYTHONDONTWRITEBYTECODE=1`` (set on some machines,
including this project's) would make every child compile dynamore's source from the working
tree (~15 ms) while boto3 and botocore load the ``.pyc`` files pip wrote at install time.
Every implementation's first call reads the same item from the same table.

Targets (issue 4): cold start >= 4x faster than ``boto3 resource``; peak RSS <= half of it.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_ops import ITEM, KEY, REGION, bench_table
from benchmarks.harness import Context, Result

MODULE = "coldstart"
CASE = "first get_item"
ROOT = Path(__file__).resolve().parent.parent

# The child: argv = implementation, endpoint, table, key (JSON). It prints one JSON line.
_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
impl, endpoint, table, key = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
item = None
t1 = t2 = t0
if impl == "dynamore":
    from dynamore import Client
    t1 = time.perf_counter()
    db = Client(endpoint_url=endpoint, transport="native")
    t2 = time.perf_counter()
    item = db.get_item(table, key)
elif impl == "boto3 resource":
    import boto3
    t1 = time.perf_counter()
    tbl = boto3.resource("dynamodb", endpoint_url=endpoint).Table(table)
    t2 = time.perf_counter()
    item = tbl.get_item(Key=key).get("Item")
elif impl == "botocore client":
    import botocore.session
    t1 = time.perf_counter()
    low = botocore.session.get_session().create_client("dynamodb", endpoint_url=endpoint)
    t2 = time.perf_counter()
    item = low.get_item(TableName=table, Key={k: {"S": v} for k, v in key.items()}).get("Item")
t3 = time.perf_counter()
try:
    with open("/proc/self/status") as status:
        peak_kb = next(int(l.split()[1]) for l in status if l.startswith("VmHWM:"))
except (OSError, StopIteration):
    import resource
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({
    "found": item is not None or impl == "python (no client)",
    "import_ms": (t1 - t0) * 1e3,
    "client_ms": (t2 - t1) * 1e3,
    "first_get_ms": (t3 - t2) * 1e3,
    "in_process_ms": (t3 - t0) * 1e3,
    "peak_rss_kb": peak_kb,
    "modules": sorted(m for m in ("botocore", "boto3", "urllib3") if m in sys.modules),
}))
"""

IMPLEMENTATIONS = ("dynamore", "boto3 resource", "botocore client", "python (no client)")


def child_env(pycache: str) -> dict[str, str]:
    """The environment of a cold-start child: Lambda's variables, bytecode cached in
    ``pycache`` (see the module docstring)."""
    env = dict(os.environ)
    env.pop("AWS_CA_BUNDLE", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = pycache
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "bench"),
        ("AWS_SECRET_ACCESS_KEY", "bench"),
        ("AWS_REGION", REGION),
        ("AWS_DEFAULT_REGION", REGION),
    ):
        env.setdefault(name, value)
    return env


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cold_start(impl: str, endpoint: str, table: str, env: dict[str, str]) -> dict[str, Any]:
    """Run one child for ``impl``; its report plus the parent's wall and CPU figures (µs)."""
    cmd = [sys.executable, "-c", _CHILD, impl, endpoint, table, json.dumps(KEY)]
    cpu0, wall0 = _children_cpu(), time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    wall, cpu = time.perf_counter() - wall0, _children_cpu() - cpu0
    if done.returncode != 0:
        raise RuntimeError(f"cold start child for {impl} failed:\n{done.stderr}")
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if not report["found"]:
        raise RuntimeError(f"{impl}: the first get_item found no item")
    report["wall_us"] = wall * 1e6
    report["cpu_us"] = cpu * 1e6
    return report


def run(ctx: Context) -> list[Result]:
    ops, rounds, warmup = (2, 1, 1) if ctx.quick else (5, 5, 1)
    samples: dict[str, list[dict[str, Any]]] = {impl: [] for impl in IMPLEMENTATIONS}
    with tempfile.TemporaryDirectory(prefix="coldstart-pyc-") as pycache:
        env = child_env(pycache)
        with bench_table(ctx, "coldstart") as (client, table):
            client.put_item(table, ITEM)
            for impl in IMPLEMENTATIONS:
                for _ in range(warmup):  # page cache and .pyc files, as a deployed package has
                    cold_start(impl, ctx.endpoint, table, env)
            # Rounds interleave the implementations, as Suite.run does, so a slow phase of the
            # machine hits them all alike.
            for _ in range(rounds):
                for impl in IMPLEMENTATIONS:
                    for _ in range(ops):
                        samples[impl].append(cold_start(impl, ctx.endpoint, table, env))
    results = [_result(impl, runs, ops, rounds) for impl, runs in samples.items()]
    ours = next(r for r in results if r.impl == "dynamore")
    if ours.extra["modules_imported"]:
        # Credentials come from the environment: botocore must stay out of the process.
        raise RuntimeError(f"dynamore's cold start imported {ours.extra['modules_imported']}")
    print(format_extra(results))
    return results


def _result(impl: str, runs: list[dict[str, Any]], ops: int, rounds: int) -> Result:
    def med(name: str) -> float:
        return float(statistics.median(r[name] for r in runs))

    modules = sorted({m for r in runs for m in r["modules"]})
    extra = {
        "peak_rss_mb": round(med("peak_rss_kb") / 1024, 1),
        "in_process_ms": round(med("in_process_ms"), 1),
        "import_ms": round(med("import_ms"), 1),
        "client_ms": round(med("client_ms"), 1),
        "first_get_ms": round(med("first_get_ms"), 1),
        "modules_imported": modules,
        "botocore_imported": "botocore" in modules,
    }
    return Result(MODULE, CASE, impl, ops, rounds, med("cpu_us"), med("wall_us"), extra)


def format_extra(results: list[Result]) -> str:
    """The figures the ratio table has no column for: peak RSS (with its ratio to dynamore's),
    the in-process phases, and whether botocore was imported."""
    base = next(r for r in results if r.impl == "dynamore").extra
    header = (
        "implementation",
        "peak RSS MB",
        "RSS ratio",
        "import ms",
        "client ms",
        "1st get ms",
        "in-process ms",
        "in-process ratio",
        "botocore imported",
    )
    rows = [header]
    for r in results:
        e = r.extra
        rows.append(
            (
                r.impl,
                f"{e['peak_rss_mb']:.1f}",
                f"{e['peak_rss_mb'] / base['peak_rss_mb']:.1f}x",
                f"{e['import_ms']:.1f}",
                f"{e['client_ms']:.1f}",
                f"{e['first_get_ms']:.1f}",
                f"{e['in_process_ms']:.1f}",
                f"{e['in_process_ms'] / base['in_process_ms']:.1f}x",
                "yes" if e["botocore_imported"] else "no",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    runs = results[0].ops * results[0].rounds
    return f"(medians of {runs} children each; in-process = import + client + first call)\n" + (
        "\n".join(lines)
    )
