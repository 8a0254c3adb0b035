"""Tests of the ``ofi`` command line (``ofi demo``, ``ofi --version``)."""
from __future__ import annotations

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
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    frames = SimulatedMarket(seed=0).generate(duration_s=180)
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
    # the order-flow lines: OFI's price impact over 180 one-second intervals, and VPIN
    beta, r2, n_int = re.search(r"impact dmid = ([\d.e+-]+) ticks .*R\^2 ([\d.]+), (\d+) 1-s", field(out, "order flow")).groups()
    assert float(beta) > 0 and 0.0 <= float(r2) <= 1.0 and int(n_int) == 180
    vmean, n_vals, n_buckets = re.match(r"mean ([\d.]+), last [\d.]+ \((\d+) values, (\d+) buckets", field(out, "VPIN")).groups()
    assert 0.0 <= float(vmean) <= 1.0
    assert int(n_vals) == int(n_buckets) - 50 + 1   # VPIN from the 50th bucket on


@pytest.mark.parametrize("depth", [1, 50, 1000])
def test_demo_other_depths(capsys, depth):
    assert main(["demo", "--seconds", "8", "--depth", str(depth), "--seed", "3", "--symbol", "ETHUSDT",
                 "--tick-size", "0.01", "--start-price", "3000"]) == 0
    out = capsys.readouterr().out
    assert f"orderbook.{depth}.ETHUSDT" in out
    assert field(out, "final book").startswith(f"{depth} bids / {depth} asks")
    assert field(out, "errors") == "0"


def test_demo_counts_errors_when_the_feed_has_a_gap(capsys, monkeypatch):
    real_generate = SimulatedMarket.generate

    def lossy(self, *args, **kwargs):
        frames = real_generate(self, *args, **kwargs)
        book = [i for i, f in enumerate(frames) if f.kind == "book"]
        del frames[book[5]]  # a lost delta: the next one no longer continues u
        return frames

    monkeypatch.setattr(SimulatedMarket, "generate", lossy)
    assert main(["demo", "--seconds", "5", "--depth", "50"]) == 1
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
    assert (args.seconds, args.depth, args.seed, args.symbol) == (180.0, 200, 0, "BTCUSDT")


def test_module_entry_point_runs():
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = subprocess.run(
        [sys.executable, "-m", "ofi.cli", "demo", "--seconds", "3", "--depth", "50"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert "errors          0" in res.stdout
