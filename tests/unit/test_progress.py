"""Tests of ``ofi._progress``: the one progress implementation (Reporter for counted jobs,
StageProgress for a run of stages), plain text off a terminal, a rich bar on one."""
from __future__ import annotations

import io
import sys

import pytest

from ofi._progress import Reporter, StageProgress
from ofi.errors import InvalidInputError


class FakeTerminal(io.StringIO):
    """A text stream that says it is a terminal (rich then draws its live bar on it)."""

    def isatty(self) -> bool:
        return True


# ---- Reporter -----------------------------------------------------------------------------------

def test_reporter_calls_a_callable_with_done_and_total():
    calls = []
    rep = Reporter(lambda done, total: calls.append((done, total)), "f.csv")
    rep.start(300)
    rep.update(100)
    rep.update(300)
    rep.close()
    assert calls == [(100, 300), (300, 300)]


@pytest.mark.parametrize("progress", [None, False])
def test_reporter_silent(progress, capsys):
    rep = Reporter(progress, "f.csv")
    rep.start(10)
    rep.update(10)
    rep.close()
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("progress", ["yes", 1, 0.5])
def test_reporter_rejects_other_progress_values(progress):
    with pytest.raises(InvalidInputError, match="progress must be True, False, None or a callable"):
        Reporter(progress, "f.csv")


def test_reporter_text_line_off_a_terminal(capsys):
    rep = Reporter(True, "features", unit="M rows", scale=1e6)
    rep.start(2_000_000)
    rep.update(2_000_000)
    rep.close()
    err = capsys.readouterr().err
    assert err.startswith("\rfeatures: ") and err.endswith("\n")
    assert "2.0 / 2.0 M rows 100.0%" in err and "M rows/s" in err
    assert "\x1b[" not in err                       # plain text, no terminal control


def test_reporter_text_line_without_a_total(capsys):
    rep = Reporter(True, "download", unit="MB", scale=1e6)
    rep.start(None)
    rep.update(3_000_000)
    rep.close()
    err = capsys.readouterr().err
    assert "download:      3.0 MB" in err and "%" not in err and err.endswith("\n")


def test_reporter_draws_a_rich_bar_on_a_terminal(monkeypatch):
    term = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", term)
    rep = Reporter(True, "t.csv", unit="MB", scale=1e6)
    rep.start(4_000_000)
    rep.update(1_000_000)
    rep.update(4_000_000)
    rep.close()
    text = term.getvalue()
    assert "━" in text and "t.csv" in text           # rich's bar, with the label
    assert "4.0 / 4.0 MB 100.0%" in text              # the final numbers stay, on their own line
    assert text.endswith("\n\x1b[?25h")               # and the cursor is shown again


# ---- StageProgress ------------------------------------------------------------------------------

def test_stages_write_one_plain_line_as_each_starts():
    log = io.StringIO()
    with StageProgress(log, prefix="ofi demo") as stages:
        assert not stages.tty and stages.as_progress() is False
        stages.start("simulate", "30 s of BTCUSDT")
        stages.update(0.5)                            # silent off a terminal
        assert stages.stop() >= 0.0
        stages.start("labels+train", bar=False)
        stages.stop()
    assert log.getvalue() == "ofi demo: simulate: 30 s of BTCUSDT ...\nofi demo: labels+train ...\n"


def test_stages_without_a_stream_draw_nothing_but_time(capsys):
    stages = StageProgress(None)
    stages.start("replay")
    stages.update(1.0)
    assert stages.stop() >= 0.0
    assert capsys.readouterr() == ("", "")


def test_stages_draw_a_bar_on_a_terminal_and_clear_it():
    term = FakeTerminal()
    stages = StageProgress(term, prefix="ofi demo")
    assert stages.tty
    stages.start("features", "ignored on a terminal")
    feed = stages.as_progress()
    feed(50, 100)                                     # a counted job inside the stage moves the bar
    assert stages.stop() >= 0.0
    text = term.getvalue()
    assert "features" in text and "━" in text and "ofi demo:" not in text
    assert text.endswith("\x1b[2K")                  # transient: the bar line is erased
    n = len(text)
    stages.start("labels+train", bar=False)           # a spinner and the time, no bar
    stages.stop()
    assert "labels+train" in term.getvalue()[n:]


def test_stages_restore_the_terminal_when_a_stage_raises():
    term = FakeTerminal()
    with pytest.raises(KeyboardInterrupt):
        with StageProgress(term) as stages:
            stages.start("backtest")
            raise KeyboardInterrupt
    text = term.getvalue()
    assert text.rfind("\x1b[?25h") > text.rfind("\x1b[?25l")   # the cursor is shown again
