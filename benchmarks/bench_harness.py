"""A self-check of the harness: two ways to build the same JSON request body.

It needs no server and shows how to read the table: ``json.dumps`` with default separators is
the "peer", the compact form dynamore sends is the baseline.
"""

from __future__ import annotations

import json

from benchmarks.harness import Context, Result, Suite

_PAYLOAD = {
    "TableName": "bench",
    "Item": {f"attr{i}": {"S": f"value {i}"} for i in range(10)},
}


def run(ctx: Context) -> list[Result]:
    suite = Suite("harness", ctx)
    ops = ctx.n(20_000, 500)
    compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    suite.add("json body", "dynamore", lambda: compact(_PAYLOAD), ops=ops)
    suite.add("json body", "json.dumps defaults", lambda: json.dumps(_PAYLOAD), ops=ops)
    return suite.run()
