"""``python -m benchmarks [--quick] [--only NAME ...] [--json PATH] [--charts DIR]``: run every
benchmark module.

Uses ``$DDB_ENDPOINT`` when set (``make bench`` sets it), else starts DynamoDB Local itself.
Prints one ratio table per module, writes every result to a JSON file and, for each module that
defines ``charts(results, out_dir)``, its charts (PNG) into the charts folder.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import platform
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

from benchmarks.harness import Context, Result, format_table

HERE = Path(__file__).resolve().parent


def module_names() -> list[str]:
    """Every benchmark module, ``bench_*.py`` in this folder, in name order."""
    return sorted(p.stem for p in HERE.glob("bench_*.py"))


@contextlib.contextmanager
def _endpoint() -> Iterator[str]:
    given = os.environ.get("DDB_ENDPOINT")
    if given:
        yield given
        return
    from dynamore._ddblocal import DynamoDBLocal

    with DynamoDBLocal() as server:
        yield server.endpoint


def run_module(name: str, ctx: Context) -> list[Result]:
    """Import ``benchmarks.<name>`` and run it."""
    module = importlib.import_module(f"benchmarks.{name}")
    results: list[Result] = module.run(ctx)
    return results


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small N: a smoke run")
    parser.add_argument("--only", nargs="*", default=None, help="module names, e.g. bench_codec")
    parser.add_argument("--json", type=Path, default=Path("bench-results/results.json"))
    parser.add_argument("--charts", type=Path, default=Path("bench-results"), help="PNG folder")
    args = parser.parse_args(argv)
    names = args.only or module_names()
    for var, value in (
        ("AWS_ACCESS_KEY_ID", "bench"),
        ("AWS_SECRET_ACCESS_KEY", "bench"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        os.environ.setdefault(var, value)
    all_results: list[Result] = []
    with _endpoint() as endpoint:
        ctx = Context(endpoint=endpoint, quick=args.quick)
        for name in names:
            print(f"\n== {name} ==", flush=True)
            results = run_module(name, ctx)
            print(format_table(results), flush=True)
            all_results.extend(results)
            draw = getattr(importlib.import_module(f"benchmarks.{name}"), "charts", None)
            if draw is not None:
                for path in draw(results, args.charts):
                    print(f"chart written to {path}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "python": sys.version.split()[0],
        "quick": args.quick,
        "load_average": [round(x, 2) for x in os.getloadavg()],  # a busy machine skews figures
    }
    args.json.write_text(
        json.dumps({"meta": meta, "results": [r.as_dict() for r in all_results]}, indent=2)
    )
    print(f"\nresults written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
