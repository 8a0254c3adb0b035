"""Tests of the ``ofi`` command line (``ofi demo``, ``ofi --version``)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ofi._core.book", reason="the compiled core is not built (python setup.py build_ext --inplace)")

from ofi.cli import build_parser, main  # noqa: E402
from ofi.sim import SimulatedMarket  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def field(out: str, name: str) -> str:
    m = re.search(rf"^  {re.escape(name)}\s+(.*)$", out, re.M)
    assert m, f"no {name!r} line in:\n{out}"
    return m.group(1)


def test_version(capsys):
    import ofi

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"ofi {ofi.__version__}"


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "usage: ofi" in out and "demo" in out


def test_default_demo_replays_without_errors(capsys):
    assert main(["demo", "--no-pipeline"]) == 0
    out = capsys.readouterr().out
    frames = SimulatedMarket(seed=0).generate(duration_s=900)
    n_book = sum(f.kind == "book" for f in frames)
    assert field(out, "messages") == f"{len(frames):,} (book {n_book:,}, trade {len(frames) - n_book:,})"
    levels = sum(f.raw.count('["') for f in frames if f.kind == "book")
    assert field(out, "levels applied") == f"{levels:,}"
    assert field(out, "final book").startswith("200 bids / 200 asks")
    assert field(out, "final book").endswith("matches the simulator's book: yes")
    assert field(out, "errors") == "0"
    mean, median = re.match(r"mean ([\d.]+)\s+median ([\d.]+)", field(out, "spread (ticks)")).groups()
    assert 1.0 <= float(mean) < 4.0 and float(median) == 1.0
    bps = float(re.match(r"mean ([\d.]+)", field(out, "spread (bps)")).group(1))
    assert 0.0 < bps < 1.0  # 1 tick of 0.1 at 60000 is 0.0167 bps
    lo, hi = (float(x.replace(",", "")) for x in re.match(r"([\d,.]+) \.\. ([\d,.]+)", field(out, "mid")).groups())
    assert 59_000 < lo < hi < 61_000
    n_fills = int(field(out, "trades").split()[0].replace(",", ""))
    assert n_fills >= len(frames) - n_book
    assert "msg/s" in field(out, "throughput") and "ns/level" in field(out, "throughput")
    # the order-flow lines: OFI's price impact over 900 one-second intervals, and VPIN
    beta, r2, n_int = re.search(r"impact dmid = ([\d.e+-]+) ticks .*R\^2 ([\d.]+), (\d+) 1-s", field(out, "order flow")).groups()
    assert float(beta) > 0 and 0.0 <= float(r2) <= 1.0 and int(n_int) == 900
    vmean, n_vals, n_buckets = re.match(r"mean ([\d.]+), last [\d.]+ \((\d+) values, (\d+) buckets", field(out, "VPIN")).groups()
    assert 0.0 <= float(vmean) <= 1.0
    assert int(n_vals) == int(n_buckets) - 50 + 1   # VPIN from the 50th bucket on
    assert "pipeline" not in out


def test_demo_runs_the_pipeline_and_writes_the_reports(capsys, tmp_path):
    report_dir = tmp_path / "report"                 # created by the demo
    assert main(["demo", "--seconds", "300", "--report-dir", str(report_dir)]) == 0
    out = capsys.readouterr().out
    assert field(out, "errors") == "0"
    for stage in ("simulate", "replay", "features", "labels+train", "backtest", "report"):
        assert re.search(rf"^  {re.escape(stage)}\s+\d+\.\d\d s  ", out, re.M), f"no {stage} time in:\n{out}"
    acc, loss = re.search(r"holdout [\d,]+: accuracy ([\d.]+) .*log loss ([\d.]+)", out).groups()
    assert 0.0 <= float(acc) <= 1.0 and float(loss) > 0.0
    html = (report_dir / "report.html").read_text(encoding="utf-8")
    assert html.count('src="data:image/png;base64,') == 5       # all five charts had enough data
    doc = json.loads((report_dir / "report.json").read_text(encoding="ascii"))
    assert doc["symbol"] == "BTCUSDT" and doc["metrics"] and len(doc["fills"]["ts_ns"]) > 0
    card = json.loads((report_dir / "model.json").read_text())["card"]
    assert card["validation"]["accuracy"] == pytest.approx(float(acc), abs=5e-4)
    assert card["label"]["kind"] == "forward_move" and card["classes"] == [-1, 0, 1]
    assert (report_dir / "model.npz").is_file()
    # every trained sample's label was known before the first traded moment
    assert card["training_period"]["end_ns"] < card["validation"]["start_ns"]
    assert "Net PnL" in out and str(report_dir / "report.html") in out
    assert out.rstrip().endswith(str((report_dir / "report.html").resolve()))


def test_demo_pipeline_is_skipped_when_the_run_is_too_short(capsys, tmp_path):
    assert main(["demo", "--seconds", "20", "--report-dir", str(tmp_path / "r")]) == 0
    assert "skipped" in field(capsys.readouterr().out, "pipeline")
    assert not (tmp_path / "r").exists()


def test_demo_unwritable_report_dir_fails_before_the_work(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["demo", "--seconds", "150", "--report-dir", str(blocker)]) == 1
    out = capsys.readouterr().out
    assert field(out, "errors") == "0"                 # the replay itself was fine
    assert field(out, "report").startswith("failed: cannot create the folder")
    assert not re.search(r"^  (features|backtest)\s+\d+\.\d\d s  ", out, re.M)   # no stage ran


def test_demo_stage_failure_is_reported_and_exits_1(capsys, tmp_path, monkeypatch):
    from ofi.errors import InvalidInputError
    from ofi.models import GradientBoostingModel

    def broken(self, *args, **kwargs):
        raise InvalidInputError("training failed: boom")

    monkeypatch.setattr(GradientBoostingModel, "fit", broken)
    assert main(["demo", "--seconds", "150", "--report-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert field(out, "labels+train") == "failed: InvalidInputError: training failed: boom"
    assert re.search(r"^  features\s+\d+\.\d\d s  ", out, re.M)        # the stage before it ran
    assert not re.search(r"^  (backtest|report) ", out, re.M)             # the ones after it did not
    assert not (tmp_path / "report.html").exists()


@pytest.mark.parametrize("depth", [1, 50, 1000])
def test_demo_other_depths(capsys, depth):
    assert main(["demo", "--seconds", "8", "--depth", str(depth), "--seed", "3", "--symbol", "ETHUSDT",
                 "--tick-size", "0.01", "--start-price", "3000", "--no-pipeline"]) == 0
    out = capsys.readouterr().out
    assert f"orderbook.{depth}.ETHUSDT" in out
    assert field(out, "final book").startswith(f"{depth} bids / {depth} asks")
    assert field(out, "errors") == "0"


def test_demo_counts_errors_when_the_feed_has_a_gap(capsys, monkeypatch):
    real_frames = SimulatedMarket.frames

    def lossy(self, *args, **kwargs):
        frames = list(real_frames(self, *args, **kwargs))
        book = [i for i, f in enumerate(frames) if f.kind == "book"]
        del frames[book[5]]  # a lost delta: the next one no longer continues u
        return iter(frames)

    monkeypatch.setattr(SimulatedMarket, "frames", lossy)
    assert main(["demo", "--seconds", "5", "--depth", "50", "--no-pipeline"]) == 1
    out = capsys.readouterr().out
    assert int(field(out, "errors")) >= 1
    assert "SequenceGapError" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["demo", "--depth", "7"],
        ["demo", "--seconds", "-1"],
        ["demo", "--seconds", "nan"],
        ["demo", "--seed", "-2"],
        ["bogus"],
    ],
)
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err


def test_invalid_market_arguments_are_reported(capsys):
    assert main(["demo", "--tick-size", "0"]) == 2
    assert "tick_size" in capsys.readouterr().err
    assert main(["demo", "--symbol", "BTC.USDT"]) == 2
    assert "symbol" in capsys.readouterr().err


def test_parser_defaults_match_the_documented_demo():
    args = build_parser().parse_args(["demo"])
    assert (args.seconds, args.depth, args.seed, args.symbol) == (900.0, 200, 0, "BTCUSDT")
    assert (args.report_dir, args.no_pipeline) == ("ofi-report", False)


def test_module_entry_point_runs():
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = subprocess.run(
        [sys.executable, "-m", "ofi.cli", "demo", "--seconds", "3", "--depth", "50", "--no-pipeline"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert "errors          0" in res.stdout
