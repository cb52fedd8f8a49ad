"""How client CPU grows with the data: per item against item size, per item against page size.

Two sweeps, dynamore's ``Client`` against boto3's ``Table`` resource, in one table of DynamoDB
Local, rounds interleaved:

- ``put <size>``: one ``PutItem`` of an item of that size, from a single attribute up to
  350 KB (string, number, list and map attributes of about 40 bytes each, DynamoDB's own
  size rules, :func:`dynamore.codec.item_size`);
- ``query <n> items``: one ``Query`` page of ``n`` items of about 1 KB each, up to the 1 MB a
  page holds; the chart divides by ``n`` (CPU per item read: request, JSON, decoding).

The figures are client CPU (``time.process_time``: the server runs in its own JVM). The values
hold no floats, so boto3 (which refuses them) writes exactly the same items. ``make bench``
writes the results to JSON with every other module's and draws :func:`charts`
(``growth-item-size.png``, ``growth-page-size.png``), which README.rst shows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.bench_ops import REGION, bench_table
from benchmarks.harness import BASELINE, Context, Result, Suite
from dynamore import Client
from dynamore.codec import item_size

__all__ = ["charts", "grown_item", "run"]

MODULE = "growth"
PAGE_PARTITION = "PAGE"
_BOTO3 = "boto3 resource"


def _attribute(i: int) -> Any:
    """The ``i``-th attribute value of a grown item: about 40 bytes of one of four kinds."""
    kind = i % 4
    if kind == 0:
        return f"value {i:06d} " + "x" * 26
    if kind == 1:
        return 1_000_000_007 * i
    if kind == 2:
        return [f"e{i}a", f"e{i}b", i]
    return {"city": f"Town {i}", "zip": f"{i % 100_000:05d}", "n": i}


def grown_item(pk: str, sk: str, target: int) -> dict[str, Any]:
    """An item of ``target`` bytes or just above (DynamoDB's rules), or of one attribute
    besides its keys when ``target`` is 0."""
    item: dict[str, Any] = {"PK": pk, "SK": sk, "a000000": _attribute(0)}
    size = item_size(item)
    i = 1
    while size < target:
        name = f"a{i:06d}"
        value = _attribute(i)
        size += item_size({name: value})
        item[name] = value
        i += 1
    return item


def _label(size: int) -> str:
    return f"{size} B" if size < 1024 else f"{size / 1024:.0f} KB"


def run(ctx: Context) -> list[Result]:
    import boto3

    targets = [0, 1024, 8 * 1024] if ctx.quick else [0, 1024, 10240, 100 * 1024, 350 * 1024]
    pages = [10, 50] if ctx.quick else [10, 100, 400, 1000]
    suite = Suite(MODULE, ctx, rounds=5)
    with bench_table(ctx, "growth") as (_, table):
        db = Client(endpoint_url=ctx.endpoint, region=REGION, transport="native")
        resource_table = boto3.resource(
            "dynamodb", endpoint_url=ctx.endpoint, region_name=REGION
        ).Table(table)
        meta: dict[str, dict[str, Any]] = {}
        try:
            for n, target in enumerate(targets):
                item = grown_item("ITEM", f"{n:03d}", target)
                size = item_size(item)
                case = f"put {_label(size)}"
                meta[case] = {"sweep": "item size", "bytes": size, "attributes": len(item) - 2}
                ops = ctx.n(max(5, min(300, 2_000_000 // max(size, 1))), 3)
                suite.add(case, BASELINE, lambda item=item: db.put_item(table, item), ops=ops)
                suite.add(
                    case, _BOTO3, lambda item=item: resource_table.put_item(Item=item), ops=ops
                )
            page_items = [grown_item(PAGE_PARTITION, f"{i:06d}", 1000) for i in range(max(pages))]
            db.batch_write(table, puts=page_items, key_names=("PK", "SK"))
            values = {":pk": PAGE_PARTITION}
            for n in pages:
                case = f"query {n} items"
                page_bytes = sum(item_size(i) for i in page_items[:n])
                meta[case] = {"sweep": "page size", "bytes": page_bytes, "items": n}
                ops = ctx.n(max(3, 2000 // n), 2)
                suite.add(
                    case,
                    BASELINE,
                    lambda n=n: db.query(table, "PK = :pk", values=values, limit=n),
                    ops=ops,
                )
                suite.add(
                    case,
                    _BOTO3,
                    lambda n=n: resource_table.query(
                        KeyConditionExpression="PK = :pk",
                        ExpressionAttributeValues=values,
                        Limit=n,
                    ),
                    ops=ops,
                )
            results = suite.run()
        finally:
            db.close()
    return [
        Result(r.module, r.case, r.impl, r.ops, r.rounds, r.cpu_us, r.wall_us, dict(meta[r.case]))
        for r in results
    ]


def _series(results: list[Result], sweep: str) -> dict[str, list[tuple[float, float]]]:
    """impl -> [(x in KB, CPU µs per item)], for one sweep."""
    out: dict[str, list[tuple[float, float]]] = {}
    for r in results:
        if r.extra.get("sweep") != sweep:
            continue
        per_item = r.cpu_us / r.extra.get("items", 1)
        out.setdefault(r.impl, []).append((r.extra["bytes"] / 1024, per_item))
    return {impl: sorted(points) for impl, points in out.items()}


def _minor_label(value: float, _: Any) -> str:
    # 2 and 5 between the powers of ten: enough to read a log axis, not crowded
    text = f"{value:g}"
    return text if text[0] in "25" else ""


def charts(results: list[Result], out_dir: Path) -> list[Path]:
    """Draw the two sweeps as PNG charts in ``out_dir`` (log-log, one line per client, the
    ratio written at each point); returns the files written, none without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter
    except ImportError:
        print("matplotlib is not installed: no charts (pip install -e '.[dev]')")
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for sweep, name, xlabel, ylabel in (
        ("item size", "growth-item-size.png", "item size (KB)", "client CPU per PutItem (µs)"),
        ("page size", "growth-page-size.png", "Query page size (KB)", "client CPU per item (µs)"),
    ):
        series = _series(results, sweep)
        if not series:
            continue
        fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
        for impl, points in series.items():
            ax.plot([x for x, _ in points], [y for _, y in points], marker="o", label=impl)
        base = dict(series.get(BASELINE, []))
        for x, y in series.get(_BOTO3, []):
            if base.get(x):
                ax.annotate(
                    f"{y / base[x]:.1f}x",
                    (x, y),
                    textcoords="offset points",
                    xytext=(0, 6),
                    ha="center",
                    fontsize=8,
                )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.margins(x=0.08, y=0.15)
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            axis.set_minor_formatter(FuncFormatter(_minor_label))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(f"Client CPU against {sweep} (labels: boto3 / dynamore)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        path = out_dir / name
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written
