"""``ofi demo`` in a pseudo-terminal: what a person sees (the stage bars), not what a pipe gets."""
from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("ofi._core.book", reason="the compiled core is not built (python setup.py build_ext --inplace)")
pty = pytest.importorskip("pty", reason="needs a POSIX pseudo-terminal")   # noqa: F841 (os.openpty needs it too)

REPO = Path(__file__).resolve().parents[2]
_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_TOKEN = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])|\r\n|\r|\n|[^\x1b\r\n]+")


def _screen(raw: str) -> list[str]:
    """The lines a terminal shows at the end: carriage returns, line feeds, cursor-up and
    erase-line applied (colours and cursor visibility ignored; lines assumed shorter than the width)."""
    lines, row, col = [""], 0, 0
    for m in _TOKEN.finditer(raw):
        tok, (arg, cmd) = m.group(0), m.group(1, 2)
        if cmd == "A":                                       # cursor up
            row = max(0, row - int(arg or 1))
        elif cmd == "K":                                     # erase (part of) the line
            lines[row] = "" if arg == "2" else lines[row][:col]
        elif cmd:
            continue
        elif tok in ("\r\n", "\n"):
            row, col = row + 1, 0
            if row == len(lines):
                lines.append("")
        elif tok == "\r":
            col = 0
        else:
            lines[row] = lines[row][:col].ljust(col) + tok + lines[row][col + len(tok):]
            col += len(tok)
    return lines


def _run_in_pty(argv: list[str], timeout: float = 240.0) -> tuple[int, str]:
    """Run ``python -m ofi.cli argv`` with stdin, stdout and stderr on one pty; (status, output)."""
    import fcntl
    import struct
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = dict(os.environ, TERM="xterm-256color", COLUMNS="120",
               PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for name in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        env.pop(name, None)
    proc = subprocess.Popen([sys.executable, "-m", "ofi.cli", *argv], stdin=slave, stdout=slave, stderr=slave,
                            env=env, close_fds=True)
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:                   # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        else:
            proc.kill()
            pytest.fail(f"ofi {' '.join(argv)} did not finish in {timeout:g} s")
        status = proc.wait(timeout=30)
    finally:
        os.close(master)
    return status, b"".join(chunks).decode("utf-8", "replace")


def test_demo_draws_stage_bars_on_a_terminal_and_completes(tmp_path):
    report_dir = tmp_path / "report"
    status, raw = _run_in_pty(["demo", "--seconds", "150", "--report-dir", str(report_dir)])
    text = _ESCAPE.sub("", raw)
    assert status == 0, text
    # each stage drew its bar (or, while training, a spinner) with its elapsed time ...
    for stage in ("simulate", "replay", "features", "backtest"):
        assert re.search(rf"{re.escape(stage)}\s+━+.*\d+%\s+\d+\.\d s", text), f"no {stage} bar in:\n{text}"
    assert re.search(r"labels\+train\s+\S\s+\d+\.\d s", text), text
    # ... instead of the plain lines a pipe gets, and the bars were erased before the results
    assert "ofi demo: simulate:" not in text
    assert "\x1b[2K" in raw and raw.rfind("\x1b[?25h") > raw.rfind("\x1b[?25l")   # the cursor is back
    # the screen at the end: the summary, the stage times and the report, and no bar left behind
    screen = "\n".join(_screen(raw)).strip()
    assert screen.startswith("ofi demo: simulated BTCUSDT"), screen
    assert re.search(r"^  errors          0$", screen, re.M), screen
    for stage in ("simulate", "replay", "features", "labels+train", "backtest", "report"):
        assert re.search(rf"^  {re.escape(stage)}\s+\d+\.\d\d s  ", screen, re.M), f"no {stage} time in:\n{screen}"
        assert not re.search(rf"^{re.escape(stage)} ", screen, re.M), screen
    assert screen.endswith(f"ofi demo: the report is {(report_dir / 'report.html').resolve()}"), screen
    assert (report_dir / "report.html").is_file()
