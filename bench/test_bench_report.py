"""Backtest report benchmarks: ``ofi.backtest.report`` on a day of trading.

Data: ``make_day_result`` from ``tests/unit/test_report.py`` (seed fixed): a synthetic BTCUSDT day
with ``OFI_BENCH_REPORT_ROWS`` equity rows (default 1,000,000, the top of a day's book events),
2000 fills (1000 round trips), one-second mid / OFI / VPIN series (86,400 rows) and markouts.
Built once, untimed.

* ``report-html``: ``write_html`` (five matplotlib PNG charts, min/max downsampled to 2400 points
  a line), target < 2 s a report; beside it the same page drawn at full resolution (every row
  plotted: ``PLOT_MAX_POINTS`` raised past the row count), the naive way.
* ``report-json``: ``to_json`` (equity cut to 2000 rows); beside it ``json.dumps`` of every row.

Every round asserts the output (five embedded PNGs; the JSON parses and counts the rows).
Knobs: ``OFI_BENCH_REPORT_ROWS``, ``OFI_BENCH_SEED``.
Run: ``pytest bench/test_bench_report.py --benchmark-only -p no:cacheprovider``.
"""
from __future__ import annotations

import json
import os

import pytest
from conftest import SEED, record

N_ROWS = int(os.environ.get("OFI_BENCH_REPORT_ROWS", "1000000"))
N_FILLS = 2000
ROUNDS = 5
ROUNDS_NAIVE = 2

GROUP_HTML = "report-html"
TARGET_HTML_NS = 2e9          # "under 2 s for a day of trading"
TARGET_HTML_SPEEDUP = {"naive": 2.0}
GROUP_JSON = "report-json"


@pytest.fixture(scope="module")
def day():
    try:
        from unit.test_report import make_day_result
    except ImportError as exc:  # pragma: no cover - depends on the install
        pytest.skip(f"ofi.backtest.report is not importable ({exc})")
    r = make_day_result(n_equity=N_ROWS, n_fills=N_FILLS, seed=SEED + 7)
    r.validate()
    return r


def _check_html(path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count('src="data:image/png;base64,') == 5
    assert "not enough data" not in text


def _record(benchmark, day, impl, label, **extra):
    record(benchmark, impl=impl, label=label, unit="report", n_units=1, messages=len(day.equity),
           levels=0, equity_rows=len(day.equity), fills=len(day.fills), trades=len(day.trades),
           series_rows=len(day.series["ts_ns"]), **extra)


# ============================================================================================
# 1. report-html
# ============================================================================================
@pytest.mark.benchmark(group=GROUP_HTML)
def test_html_ours(benchmark, day, tmp_path):
    from ofi.backtest.report import PLOT_MAX_POINTS, write_html

    out = tmp_path / "report.html"
    benchmark.pedantic(write_html, args=(day, out), rounds=ROUNDS, warmup_rounds=1)
    _check_html(out)
    _record(benchmark, day, "ours", f"ofi write_html (min/max downsampled to {PLOT_MAX_POINTS} points)",
            target_ns=TARGET_HTML_NS, target_speedup=TARGET_HTML_SPEEDUP,
            html_bytes=out.stat().st_size)


@pytest.mark.benchmark(group=GROUP_HTML)
def test_html_naive(benchmark, day, tmp_path, monkeypatch):
    from ofi.backtest.report import charts, write_html

    monkeypatch.setattr(charts, "PLOT_MAX_POINTS", 10 * len(day.equity))      # where the charts read it
    out = tmp_path / "report.html"
    benchmark.pedantic(write_html, args=(day, out), rounds=ROUNDS_NAIVE, warmup_rounds=0)
    _check_html(out)
    _record(benchmark, day, "naive", "same page, every row plotted (no downsampling)",
            html_bytes=out.stat().st_size)


# ============================================================================================
# 2. report-json
# ============================================================================================
@pytest.mark.benchmark(group=GROUP_JSON)
def test_json_ours(benchmark, day):
    from ofi.backtest.report import JSON_MAX_POINTS, to_json

    text = benchmark.pedantic(to_json, args=(day,), rounds=ROUNDS, warmup_rounds=1)
    doc = json.loads(text)
    assert doc["counts"]["equity_rows"] == len(day.equity)
    assert len(doc["equity"]["ts_ns"]) <= JSON_MAX_POINTS
    assert to_json(day) == text
    _record(benchmark, day, "ours", f"ofi to_json (equity cut to {JSON_MAX_POINTS} rows)",
            json_bytes=len(text))


@pytest.mark.benchmark(group=GROUP_JSON)
def test_json_naive(benchmark, day):
    def run():
        doc = {name: {c: getattr(day, name)[c].tolist() for c in getattr(day, name).dtype.names}
               for name in ("equity", "fills", "trades")}
        doc["metrics"] = day.metrics
        return json.dumps(doc, sort_keys=True)

    text = benchmark.pedantic(run, rounds=ROUNDS_NAIVE, warmup_rounds=0)
    assert len(json.loads(text)["equity"]["ts_ns"]) == len(day.equity)
    _record(benchmark, day, "naive", "json.dumps of every row (stdlib, no downsampling)",
            json_bytes=len(text))
