"""Every benchmark module runs in quick mode, so benchmarks cannot rot; the harness itself.

Nothing here looks at how fast anything was: only that each module measured what it claims.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import __main__ as bench_main
from benchmarks.harness import BASELINE, Context, Result, Suite, format_table, measure


@pytest.mark.parametrize("name", bench_main.module_names())
def test_module_runs_in_quick_mode(name: str, ddb_endpoint: str) -> None:
    ctx = Context(endpoint=ddb_endpoint, quick=True, smoke=True)
    results = bench_main.run_module(name, ctx)
    assert results, f"{name} measured nothing"
    cases = {r.case for r in results}
    for case in cases:
        impls = [r.impl for r in results if r.case == case]
        assert BASELINE in impls, f"{name}/{case} has no dynamore row"
        assert len(impls) >= 2, f"{name}/{case} compares dynamore with no peer"
    assert all(r.cpu_us >= 0 and r.wall_us > 0 for r in results)
    table = format_table(results)
    assert all(case in table for case in cases)


def test_main_writes_json(
    tmp_path: Path, ddb_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DDB_ENDPOINT", ddb_endpoint)
    out = tmp_path / "r.json"
    assert bench_main.main(["--quick", "--only", "bench_harness", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["meta"]["quick"] is True
    assert {r["impl"] for r in data["results"]} == {"dynamore", "json.dumps defaults"}


def test_measure_counts_calls_and_returns_per_call_medians() -> None:
    calls = []
    cpu, wall = measure(lambda: calls.append(1), ops=50, rounds=3, warmup=5)
    assert len(calls) == 5 + 50 * 3
    assert cpu >= 0 and wall > 0


def test_suite_interleaves_and_ratio_is_peer_over_dynamore() -> None:
    order: list[str] = []
    suite = Suite("t", Context("http://unused", quick=True), warmup=1)
    suite.add("c", "dynamore", lambda: order.append("d"), ops=1)
    suite.add("c", "peer", lambda: order.append("p"), ops=1)
    results = suite.run()
    assert order == ["d", "p"] + ["d", "p"] * 3  # one warm-up each, then 3 alternating rounds
    fake = [
        Result("t", "c", "dynamore", 1, 1, cpu_us=10.0, wall_us=20.0),
        Result("t", "c", "peer", 1, 1, cpu_us=80.0, wall_us=40.0),
    ]
    peer_line = format_table(fake).splitlines()[-1]
    assert peer_line.split()[-2:] == ["8.0x", "2.0x"]
    assert [r.impl for r in results] == ["dynamore", "peer"]


def test_smoke_mode_measures_one_round() -> None:
    order: list[str] = []
    suite = Suite("t", Context("http://unused", quick=True, smoke=True), warmup=1)
    suite.add("c", "dynamore", lambda: order.append("d"), ops=1)
    suite.add("c", "peer", lambda: order.append("p"), ops=1)
    assert [r.rounds for r in suite.run()] == [1, 1]
    assert order == ["d", "p", "d", "p"]  # one warm-up each, then one round


def test_growth_charts_are_png_files_of_both_sweeps(tmp_path: Path) -> None:
    from benchmarks.bench_growth import charts

    results = [
        Result("growth", f"put {kb} KB", impl, 1, 1, cpu, cpu, {"sweep": "item size", "bytes": kb})
        for kb, impl, cpu in ((1, "dynamore", 10.0), (1, "boto3 resource", 70.0))
    ] + [
        Result("growth", "query 10 items", impl, 1, 1, cpu, cpu, extra)
        for impl, cpu in (("dynamore", 100.0), ("boto3 resource", 900.0))
        for extra in [{"sweep": "page size", "bytes": 10240, "items": 10}]
    ]
    written = charts(results, tmp_path / "charts")
    assert sorted(p.name for p in written) == ["growth-item-size.png", "growth-page-size.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in written)


def test_main_draws_the_charts_of_modules_that_have_them(
    tmp_path: Path, ddb_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import benchmarks.bench_harness as module

    drawn: list[tuple[list[str], Path]] = []

    def charts(results: list[Result], out_dir: Path) -> list[Path]:
        drawn.append(([r.impl for r in results], out_dir))
        return []

    monkeypatch.setattr(module, "charts", charts, raising=False)
    monkeypatch.setenv("DDB_ENDPOINT", ddb_endpoint)
    out = tmp_path / "r.json"
    argv = ["--quick", "--only", "bench_harness", "--json", str(out), "--charts", str(tmp_path)]
    assert bench_main.main(argv) == 0
    assert drawn == [(["dynamore", "json.dumps defaults"], tmp_path)]
    assert len(json.loads(out.read_text())["meta"]["load_average"]) == 3
