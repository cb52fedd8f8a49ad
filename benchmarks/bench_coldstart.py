"""Cold start as a Lambda sees it: a new Python process imports the library, builds a client
and does its first GetItem, over https.

Each measurement runs one child process and waits for it:

- ``wall µs/op``: the whole child, from spawn to exit (interpreter start-up included);
- ``CPU µs/op``: the child's user + system CPU (``RUSAGE_CHILDREN`` before and after the wait);
- ``Result.extra``: the child's own peak RSS (``VmHWM`` of ``/proc/self/status``, read by the
  child just before it exits), its own timings of the three phases (import, build the client,
  first GetItem), and which of ``botocore``/``boto3``/``urllib3`` it had imported by then.

Implementations: ``dynamore`` (``Client(endpoint_url=...)``, credentials from the environment,
so the child must not import botocore: it reports whether it did, and the run fails if it
did), ``boto3 resource`` (``boto3.resource("dynamodb").Table(name).get_item``), ``botocore
client`` (``botocore.session.get_session().create_client("dynamodb")``), ``pydynox`` (its
``DynamoDBClient``, a Rust core, ``sync_get_item``; Python >= 3.11) and ``aiodynamo`` (its
``Client`` on an ``aiohttp`` session inside ``asyncio.run``; Python >= 3.10). A peer that is
not installed for this Python is left out with a printed note. The ``python (no client)`` row
is the floor: the same interpreter starting and exiting, which every implementation pays.

As a Lambda has it:

- https: the children talk to a :class:`~dynamore.testing.TLSProxy` in front of DynamoDB
  Local, in a process of its own, with a throw-away CA made for the run. Every child trusts
  it through ``AWS_CA_BUNDLE``; ``SSL_CERT_FILE`` points at the same file for the two peers
  that do not read ``AWS_CA_BUNDLE`` (pydynox's Rust TLS stack, aiohttp's default context).
  The first call thus pays DNS (``localhost``), TCP and a full TLS handshake with an RSA 2048
  certificate, as against ``dynamodb.<region>.amazonaws.com``.
- dynamore as a deployment package holds it: the files a wheel installs (the ``dynamore``
  package), copied into a folder of their own and byte-compiled there (``compileall``, as pip
  does), first on ``PYTHONPATH``; not the editable install of the working tree, whose import
  finder alone costs ~10 ms. The children run the interpreter of a fresh virtualenv without
  packages, so no ``.pth`` file of the development virtualenv runs either; that virtualenv's
  ``site-packages`` (boto3, the peers, with the bytecode pip wrote at install time) follows on
  ``PYTHONPATH``, as Lambda's runtime folder holds boto3.
- Lambda's environment: credentials and region in ``AWS_*`` variables.

Why not ``ru_maxrss``: Linux carries the high-water mark of the forking parent's memory over
``exec`` (``subprocess`` forks with ``vfork``), so a bare interpreter started from this
benchmark process "peaks" at the parent's size; ``VmHWM`` belongs to the new address space
alone. (``ru_maxrss`` is the fallback where ``/proc`` is missing.)

Targets (issue 14): cold start >= 5x faster than ``boto3 resource``; peak RSS <= 40% of it.
"""

from __future__ import annotations

import compileall
import importlib.util
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import venv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

from benchmarks.bench_ops import ITEM, KEY, REGION, bench_table
from benchmarks.harness import Context, Result
from dynamore.testing import TLSProxy

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
    db = Client(endpoint_url=endpoint)
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
elif impl == "pydynox":
    from pydynox import DynamoDBClient
    t1 = time.perf_counter()
    rust = DynamoDBClient(endpoint_url=endpoint)
    t2 = time.perf_counter()
    item = rust.sync_get_item(table, key)
elif impl == "aiodynamo":
    import asyncio, os
    import aiohttp
    from aiodynamo.client import Client as AioClient
    from aiodynamo.credentials import Credentials
    from aiodynamo.http.aiohttp import AIOHTTP
    from yarl import URL
    t1 = time.perf_counter()

    async def first_get():
        global t2
        async with aiohttp.ClientSession() as session:
            aio = AioClient(
                AIOHTTP(session), Credentials.auto(), os.environ["AWS_REGION"], URL(endpoint)
            )
            t2 = time.perf_counter()
            return await aio.get_item(table, key)

    item = asyncio.run(first_get())
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

#: Every implementation, and the module each needs (None: always there).
PEERS: dict[str, Any] = {
    "dynamore": None,
    "boto3 resource": "boto3",
    "botocore client": "botocore",
    "pydynox": "pydynox",
    "aiodynamo": "aiodynamo",
    "python (no client)": None,
}


def implementations() -> list[str]:
    """The implementations this Python has (a note for each one left out)."""
    found = []
    for impl, module in PEERS.items():
        if module is not None and importlib.util.find_spec(module) is None:
            print(f"note: {impl} is not installed for Python {sys.version.split()[0]}: left out")
            continue
        found.append(impl)
    return found


@contextmanager
def lambda_layout(folder: Path) -> Iterator[tuple[str, str]]:
    """dynamore laid out as a deployment package has it, and an interpreter without the
    development virtualenv's ``.pth`` files (see the module docstring): yields the
    interpreter's path and the ``PYTHONPATH`` for the children."""
    task = folder / "task"
    shutil.copytree(
        ROOT / "dynamore", task / "dynamore", ignore=shutil.ignore_patterns("__pycache__")
    )
    # PYTHONDONTWRITEBYTECODE (set on some machines) must not stop the compile: pip writes
    # bytecode at install time whatever it says.
    compileall.compile_dir(str(task), quiet=1, force=True)
    bare = folder / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(bare)
    python = bare / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    paths = [str(task)]
    for key in ("purelib", "platlib"):
        where = sysconfig.get_paths()[key]
        if where not in paths:
            paths.append(where)
    yield str(python), os.pathsep.join(paths)


def child_env(
    ca_bundle: Optional[Path] = None,
    pythonpath: Optional[str] = None,
    *,
    pycache: Optional[str] = None,
) -> dict[str, str]:
    """The environment of a cold-start child: Lambda's variables; trust in the run's CA when
    ``ca_bundle`` is given; the package from ``pythonpath``; bytecode cached in ``pycache``."""
    env = dict(os.environ)
    for name in ("PYTHONPYCACHEPREFIX", "PYTHONHOME", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        env.pop(name, None)
    env.pop("AWS_CA_BUNDLE", None)
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    if ca_bundle is not None:
        env["AWS_CA_BUNDLE"] = str(ca_bundle)
        env["SSL_CERT_FILE"] = str(ca_bundle)  # for pydynox and aiohttp (see the docstring)
    if pycache is not None:
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


def cold_start(
    impl: str, python: str, endpoint: str, table: str, env: dict[str, str]
) -> dict[str, Any]:
    """Run one child for ``impl``; its report plus the parent's wall and CPU figures (µs)."""
    cmd = [python, "-c", _CHILD, impl, endpoint, table, json.dumps(KEY)]
    cpu0, wall0 = _children_cpu(), time.perf_counter()
    # cwd: a folder without a dynamore/ in it, so that only the deployed copy can be found.
    done = subprocess.run(
        cmd, cwd=tempfile.gettempdir(), env=env, capture_output=True, text=True, timeout=120
    )
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
    ops, rounds, warmup = (1, 1, 1) if ctx.quick else (5, 5, 1)
    impls = implementations()
    samples: dict[str, list[dict[str, Any]]] = {impl: [] for impl in impls}
    with (
        tempfile.TemporaryDirectory(prefix="coldstart-") as folder,
        lambda_layout(Path(folder)) as (python, pythonpath),
        TLSProxy(ctx.endpoint, process=True) as proxy,
    ):
        env = child_env(proxy.ca_bundle, pythonpath)
        with bench_table(ctx, "coldstart") as (client, table):
            client.put_item(table, ITEM)
            for impl in impls:
                for _ in range(warmup):  # the page cache, as a warm Lambda host has it
                    cold_start(impl, python, proxy.url, table, env)
            # Rounds interleave the implementations, as Suite.run does, so a slow phase of the
            # machine hits them all alike.
            for _ in range(rounds):
                for impl in impls:
                    for _ in range(ops):
                        samples[impl].append(cold_start(impl, python, proxy.url, table, env))
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
