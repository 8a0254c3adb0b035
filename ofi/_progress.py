"""Progress of long work (downloads, archive conversion, feature transforms): silent, one rewritten
line on stderr, or a user callable."""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, Union

from ofi.errors import InvalidInputError

#: A progress argument: None/False (silent), True (a text line on stderr) or a callable
#: ``progress(done, total_or_None)`` called after each chunk (bytes for files, events for transforms).
Progress = Union[None, bool, Callable[[int, Union[int, None]], Any]]


class Reporter:
    """Progress to a callable or as one rewritten line on stderr (at most 5 updates a second).

    ``unit`` and ``scale`` format the line: bytes as ``MB`` (1e6), events as ``M events`` (1e6)."""

    def __init__(self, progress: Progress, label: str, *, unit: str = "MB", scale: float = 1e6):
        if progress is None or progress is False:
            self._cb = None
        elif progress is True:
            self._cb = self._text
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

    def start(self, total: int | None) -> None:
        self._total = total
        self._t0 = time.monotonic()

    def update(self, done: int) -> None:
        self._done = done
        if self._cb is not None:
            self._cb(done, self._total)

    def _text(self, done: int, total: int | None, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._last < 0.2:
            return
        self._last = now
        k, u = self._scale, self._unit
        rate = done / max(now - self._t0, 1e-9) / k
        if total:
            msg = (f"{self._label}: {done / k:8.1f} / {total / k:.1f} {u} {100.0 * done / total:5.1f}% "
                   f"{rate:6.1f} {u}/s")
        else:
            msg = f"{self._label}: {done / k:8.1f} {u} {rate:6.1f} {u}/s"
        sys.stderr.write("\r" + msg + ("\n" if final else ""))
        sys.stderr.flush()

    def close(self) -> None:
        if self._cb == self._text:
            self._text(self._done, self._total, final=True)
