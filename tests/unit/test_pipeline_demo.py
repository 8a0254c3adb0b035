"""Tests of ``ofi.pipelines.demo.run_demo``: the demo as a library call that returns what it measured.

The printed text is ``ofi demo``'s and is checked in test_cli.py; these tests read the result.
"""
from __future__ import annotations

import io
import json

import numpy as np
import pytest

pytest.importorskip("ofi._core.book", reason="the compiled core is not built (python setup.py build_ext --inplace)")

from ofi._progress import StageProgress  # noqa: E402
from ofi.errors import InvalidInputError  # noqa: E402
from ofi.pipelines.demo import PIPELINE_MIN_SECONDS, DemoConfig, run_demo  # noqa: E402
from ofi.sim import SimulatedMarket  # noqa: E402


def test_replay_only_returns_the_measures_quietly(capsys):
    result = run_demo(DemoConfig(seconds=20, depth=50, pipeline=False), progress=False)
    assert capsys.readouterr() == ("", "")          # no out, no progress: nothing printed
    frames = SimulatedMarket(depth=50).generate(duration_s=20)
    r = result.replay
    assert r.n_frames == len(frames) and r.n_book_frames == sum(f.kind == "book" for f in frames)
    assert r.levels_applied == sum(f.raw.count('["') for f in frames if f.kind == "book")
    assert r.matches_simulator and r.errors == () and (r.n_bids, r.n_asks) == (50, 50)
    assert r.spread_ticks.size == r.mid.size > 0 and np.all(r.spread_ticks >= 1)
    assert r.n_fills >= r.n_trade_frames and r.volume_buy > 0 and r.volume_sell > 0
    assert r.impact[4] == 20                         # 1-second OFI intervals
    assert result.pipeline == "off" and result.ok
    assert [s.name for s in result.stages] == ["simulate", "replay"]
    assert result.model is None and result.backtest is None and result.report_html is None


def test_the_whole_pipeline_returns_its_model_backtest_and_reports(tmp_path):
    out = io.StringIO()
    log = io.StringIO()
    result = run_demo(DemoConfig(seconds=150, report_dir=tmp_path / "r"), progress=StageProgress(log), out=out)
    assert result.ok and result.pipeline == "done"
    assert [s.name for s in result.stages] == ["simulate", "replay", "features", "labels+train", "backtest",
                                               "report"]
    assert all(s.seconds >= 0 and not s.failed for s in result.stages)
    # what was printed is what was returned
    for s in result.stages:
        assert s.line() + "\n" in out.getvalue()
    assert out.getvalue().rstrip().endswith(str(result.report_html.resolve()))
    assert [p.name for p in result.reports] == ["report.html", "report.json", "model.json"]
    assert all(p.is_file() for p in result.reports)
    card = json.loads(result.reports[2].read_text())["card"]
    assert card["validation"]["accuracy"] == pytest.approx(result.model.card.validation["accuracy"])
    assert result.backtest.symbol == "BTCUSDT" and len(result.backtest.fills) > 0
    assert log.getvalue().splitlines()[0] == "ofi: simulate: 150 s of BTCUSDT ..."


def test_a_short_run_skips_the_pipeline(tmp_path):
    result = run_demo(DemoConfig(seconds=10, report_dir=tmp_path / "r"), progress=False)
    assert result.pipeline == "skipped" and result.ok and 10 < PIPELINE_MIN_SECONDS
    assert not (tmp_path / "r").exists()


def test_an_unwritable_report_dir_fails_the_run_without_raising(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = run_demo(DemoConfig(seconds=PIPELINE_MIN_SECONDS, report_dir=blocker), progress=False)
    assert not result.ok and result.pipeline == "failed"
    last = result.stages[-1]
    assert last.name == "report" and last.failed and last.detail.startswith("cannot create the folder")
    assert not result.replay.errors                   # the replay itself was fine


@pytest.mark.parametrize(("kwargs", "what"), [
    (dict(seconds=0), "seconds must be a finite number > 0"),
    (dict(seconds=float("nan")), "seconds must be a finite number > 0"),
    (dict(report_dir=3), "report_dir must be a folder path"),
    (dict(depth=7), "depth must be one of"),
    (dict(tick_size="0"), "tick_size"),
    (dict(symbol="BTC.USDT"), "symbol"),
])
def test_a_bad_config_raises_before_any_work(kwargs, what, capsys):
    with pytest.raises(InvalidInputError, match=what):
        run_demo(DemoConfig(**kwargs), out=io.StringIO())
    assert capsys.readouterr() == ("", "")           # not even the first stage's line


@pytest.mark.parametrize("progress", ["yes", 1, io.StringIO()])
def test_progress_must_be_a_bool_or_stage_progress(progress):
    with pytest.raises(InvalidInputError, match="progress must be True, False, None or a StageProgress"):
        run_demo(DemoConfig(seconds=1), progress=progress)


def test_config_must_be_a_demo_config():
    with pytest.raises(InvalidInputError, match="config must be a DemoConfig, got dict"):
        run_demo({"seconds": 1})
