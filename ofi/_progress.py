"""Progress of long work: the package's one implementation, drawn with ``rich.progress``.

Two shapes of work report here:

* a counted job (a download in bytes, a file conversion or a feature transform in rows,
  cross-validation in folds): :class:`Reporter`, driven by a user's ``progress`` argument
  (:data:`Progress`: silent, text on stderr, or a callable);
* a run of named stages (the demo pipeline): :class:`StageProgress`.

On a terminal both draw a ``rich`` bar. Elsewhere (a pipe, a CI log, a captured stream) they write
plain text that reads well in a log: a Reporter one rewritten line ending in a newline, a
StageProgress one line as each stage starts.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO, Union

from ofi.errors import InvalidInputError

__all__ = ["Progress", "Reporter", "StageProgress"]

#: A progress argument: None/False (silent), True (progress on stderr: a bar on a terminal, else a
#: text line) or a callable ``progress(done, total_or_None)`` called after each chunk (bytes for
#: files, events for transforms).
Progress = Union[None, bool, Callable[[int, Union[int, None]], Any]]


def _is_terminal(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty()) if callable(isatty) else False


def _rich_progress(stream: TextIO, *columns: Any, transient: bool) -> Any:
    """A started ``rich.progress.Progress`` drawing on ``stream`` (a terminal)."""
    # Imported here, not at the top: importing rich.progress takes about 0.1 s, and most
    # imports of ofi (and all runs without a terminal) never draw a bar.
    from rich.console import Console
    from rich.progress import Progress as RichProgress

    # The caller's stdout is not redirected: the demo prints its results there between stages.
    bar = RichProgress(*columns, console=Console(file=stream), transient=transient,
                       redirect_stdout=False, redirect_stderr=False, refresh_per_second=10)
    bar.start()
    return bar


class Reporter:
    """Progress of one counted job: to a callable, or on stderr (a bar on a terminal, else a text line).

    Parameters
    ----------
    progress : Progress
        None or False: silent. True: on ``sys.stderr`` (as it is when :meth:`start` runs); a
        ``rich`` bar on a terminal, else one line rewritten at most 5 times a second and ended
        with a newline by :meth:`close`. A callable: called as ``progress(done, total)`` after
        each chunk.
    label : str
        What is counted, shown before the numbers (a file name, ``"features"``).
    unit, scale : str, float
        Format of the numbers: bytes as ``MB`` (1e6, the default), events as ``M events`` (1e6),
        folds as ``folds`` (1).

    Raises
    ------
    InvalidInputError
        If ``progress`` is none of the above.
    """

    def __init__(self, progress: Progress, label: str, *, unit: str = "MB", scale: float = 1e6):
        if progress is None or progress is False:
            self._cb: Callable[[int, int | None], Any] | None = None
        elif progress is True:
            self._cb = self._draw
        elif callable(progress):
            self._cb = progress
        else:
            raise InvalidInputError(f"progress must be True, False, None or a callable, got {progress!r}")
        self._label = label
        self._unit = unit
        self._scale = scale
        self._total: int | None = None
        self._done = 0
        self._t0 = self._last = 0.0
        self._bar: Any = None          # a rich Progress while one is drawn
        self._task: Any = None

    def start(self, total: int | None) -> None:
        """Begin counting towards ``total`` (None when unknown)."""
        self._total = total
        self._t0 = time.monotonic()
        if self._cb == self._draw and _is_terminal(sys.stderr):
            from rich.progress import BarColumn, TextColumn

            self._bar = _rich_progress(
                sys.stderr, TextColumn("{task.description}", markup=False), BarColumn(),
                TextColumn("{task.fields[stats]}", markup=False), transient=False)
            self._task = self._bar.add_task(self._label, total=total, stats=self._stats(0, 0.0))

    def update(self, done: int) -> None:
        """``done`` units of the total are done."""
        self._done = done
        if self._cb is not None:
            self._cb(done, self._total)

    def close(self) -> None:
        """End the job: the final numbers stay on stderr (when drawing there)."""
        if self._bar is not None:
            self._draw(self._done, self._total)
            self._bar.stop()
            self._bar = None
        elif self._cb == self._draw:
            self._draw(self._done, self._total, final=True)

    def _stats(self, done: int, elapsed: float) -> str:
        k, u, total = self._scale, self._unit, self._total
        rate = done / max(elapsed, 1e-9) / k
        if total:
            return f"{done / k:8.1f} / {total / k:.1f} {u} {100.0 * done / total:5.1f}% {rate:6.1f} {u}/s"
        return f"{done / k:8.1f} {u} {rate:6.1f} {u}/s"

    def _draw(self, done: int, total: int | None, final: bool = False) -> None:
        now = time.monotonic()
        if self._bar is not None:          # rich redraws by itself; this only hands it the numbers
            self._bar.update(self._task, completed=done, stats=self._stats(done, now - self._t0))
            return
        if not final and now - self._last < 0.2:
            return
        self._last = now
        sys.stderr.write(f"\r{self._label}: {self._stats(done, now - self._t0)}" + ("\n" if final else ""))
        sys.stderr.flush()


class StageProgress:
    """Progress of a run of named stages (simulate, replay, features, ...), one stage at a time.

    On a terminal each stage draws a ``rich`` bar (or, for a stage without a measure of its
    progress, a spinner) with its elapsed time, and the bar is cleared when the stage stops, so
    the lines a pipeline prints between stages stay clean. Elsewhere each stage writes one plain
    line as it starts, ``"{prefix}: {label}: {note} ..."``, and :meth:`update` is silent.

    Parameters
    ----------
    stream : text stream or None
        Where to draw (the CLI passes ``sys.stderr``); None draws nothing (the timings still work).
    prefix : str
        Start of the plain lines, e.g. ``"ofi demo"``.

    Examples
    --------
    >>> import io
    >>> log = io.StringIO()
    >>> with StageProgress(log, prefix="job") as stages:
    ...     stages.start("load", "3 files")
    ...     seconds = stages.stop()
    >>> log.getvalue()
    'job: load: 3 files ...\\n'
    """

    _BAR_WIDTH = 30

    def __init__(self, stream: TextIO | None, *, prefix: str = "ofi"):
        self._stream = stream
        self._prefix = prefix
        #: True when stages draw bars (a terminal): only then does :meth:`update` show anything.
        self.tty = stream is not None and _is_terminal(stream)
        self._bar: Any = None
        self._task: Any = None
        self._t0 = time.perf_counter()

    def start(self, label: str, note: str = "", *, bar: bool = True) -> None:
        """Start a stage; ``bar=False`` for one whose progress is not measured (a spinner instead)."""
        self._end_bar()
        self._t0 = time.perf_counter()
        if self.tty:
            from rich.progress import BarColumn, SpinnerColumn, TaskProgressColumn, TextColumn

            label_col = TextColumn("{task.description:<13}", markup=False)
            elapsed = TextColumn("{task.elapsed:.1f} s")
            columns = ((label_col, BarColumn(bar_width=self._BAR_WIDTH), TaskProgressColumn(), elapsed) if bar
                       else (label_col, SpinnerColumn(), elapsed))
            self._bar = _rich_progress(self._stream, *columns, transient=True)  # type: ignore[arg-type]
            self._task = self._bar.add_task(label, total=1.0 if bar else None)
        elif self._stream is not None:
            print(f"{self._prefix}: {label}{': ' + note if note else ''} ...", file=self._stream, flush=True)

    def update(self, fraction: float) -> None:
        """The running stage is ``fraction`` (0..1) done."""
        if self._bar is not None:
            self._bar.update(self._task, completed=min(max(fraction, 0.0), 1.0))

    def as_progress(self) -> Progress:
        """A :data:`Progress` argument that moves the running stage's bar: a callable on a
        terminal, False elsewhere (so a counted job inside the stage stays quiet)."""
        if not self.tty:
            return False
        return lambda done, total: self.update(done / total if total else 0.0)

    def stop(self) -> float:
        """Seconds since :meth:`start`; clears the stage's bar."""
        self._end_bar()
        return time.perf_counter() - self._t0

    def close(self) -> None:
        """Clear a bar still drawn (after an error or Ctrl-C in a stage)."""
        self._end_bar()

    def __enter__(self) -> StageProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _end_bar(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
