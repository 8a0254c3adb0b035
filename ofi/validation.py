"""The one validation module: argument checks, the symbol rule and the shared constants.

Every layer above the core checks its arguments here, in Python, and then makes one call into a
kernel that trusts them. Messages name the argument, the value and what was expected. The compiled
core cannot import this module (it sits below it); where the core needs the same rule or constant it
keeps a Cython twin (``ofi/_core/rolling.pxd``'s ``count_arg`` / ``min_periods_arg``,
``NS_PER_DAY`` and the class limits in ``ofi/_core``), and ``tests/parity/test_validation_twins.py``
pins each twin to this module.
"""
from __future__ import annotations

import json
import math
import numbers
import re

import numpy as np

from ofi._core.events import TAPE_DTYPE
from ofi._core.rolling import duration_ns  # noqa: F401  (re-exported: one definition)
from ofi.errors import InvalidInputError

__all__ = [
    "NS_PER_SECOND", "NS_PER_DAY", "MARKOUT_HORIZONS_NS", "MARKOUT_LABELS", "MAX_CLASSES", "SYMBOL_RE",
    "is_symbol", "float_array", "int_array", "timestamps", "same_length", "positive_int", "positive_float",
    "min_periods", "duration_ns", "check_tape", "json_loads", "JSONLimitError",
]

# ---------------------------------------------------------------- shared constants
NS_PER_SECOND = 1_000_000_000
NS_PER_DAY = 86_400 * NS_PER_SECOND            # a UTC day; daily returns and the daily-loss limit use it
# Fill markouts: mid move after each fill at these horizons (backtest results, reports, trading metrics).
MARKOUT_HORIZONS_NS = (100_000_000, 1_000_000_000, 10_000_000_000)
MARKOUT_LABELS = ("100ms", "1s", "10s")
MAX_CLASSES = 64                               # the compiled forests and linear models hold at most this many

# ---------------------------------------------------------------- the symbol rule
# A symbol is a path component and a topic suffix: letters, digits, '-' or '_', at most 64 characters.
# A venue may narrow it (Bybit's symbols are upper case: ``ofi.venues.bybit.symbols``).
SYMBOL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def is_symbol(value, *, upper: bool = False) -> bool:
    """True when ``value`` is a string that follows the symbol rule (and is upper case if ``upper``)."""
    return (isinstance(value, str) and SYMBOL_RE.match(value) is not None
            and (not upper or value == value.upper()))


def float_array(name: str, x, *, ndim: int | tuple[int, ...] = 1, finite: bool = True,
                nonnegative: bool = False, allow_nan: bool = False) -> np.ndarray:
    """``x`` as a C-contiguous float64 array of the given dimension(s), checked."""
    if x is None:
        raise InvalidInputError(f"{name} must be an array of numbers, got None")
    try:
        # asarray first: ascontiguousarray would turn a scalar into a 1-element array
        arr = np.ascontiguousarray(np.asarray(x, dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name} must be an array of numbers: {exc}") from None
    if np.ndim(x) == 0:
        arr = arr.reshape(())
    dims = (ndim,) if isinstance(ndim, int) else ndim
    if arr.ndim not in dims:
        raise InvalidInputError(f"{name} must be {' or '.join(f'{d}-D' for d in dims)}, "
                                f"got shape {arr.shape}")
    if finite:
        bad = ~np.isfinite(arr)
        if allow_nan:
            bad &= ~np.isnan(arr)
        if bad.any():
            i = int(np.flatnonzero(bad.ravel())[0])
            raise InvalidInputError(f"{name} must be finite, got {float(arr.ravel()[i])!r} at index {i}")
    if nonnegative and arr.size and (arr < 0).any():
        i = int(np.flatnonzero((arr < 0).ravel())[0])
        raise InvalidInputError(f"{name} must be >= 0, got {float(arr.ravel()[i])!r} at index {i}")
    return arr


def int_array(name: str, x) -> np.ndarray:
    """``x`` as a C-contiguous 1-D int64 array (whole numbers only)."""
    if x is None:
        raise InvalidInputError(f"{name} must be an array of integers, got None")
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise InvalidInputError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.dtype.kind == "M":
        arr = arr.astype("datetime64[ns]").view(np.int64)
    elif arr.dtype.kind == "f":
        if not np.isfinite(arr).all() or (arr != np.round(arr)).any():
            raise InvalidInputError(f"{name} must hold whole numbers")
    elif arr.dtype.kind not in "iu" and arr.size:
        raise InvalidInputError(f"{name} must be integers, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.int64)


def timestamps(name: str, ts) -> np.ndarray:
    """Non-decreasing int64 nanosecond timestamps (datetime64 arrays are accepted)."""
    arr = int_array(name, ts)
    if arr.size > 1:
        d = np.diff(arr)
        if (d < 0).any():
            i = int(np.flatnonzero(d < 0)[0]) + 1
            raise InvalidInputError(f"{name} must be non-decreasing; {name}[{i}] = {arr[i]} is before "
                                    f"{name}[{i - 1}] = {arr[i - 1]}")
    return arr


def same_length(**arrays: np.ndarray) -> int:
    """The common length of the arrays (first axis); raise if they differ."""
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise InvalidInputError("arrays must have the same length, got "
                                + ", ".join(f"{k}={n}" for k, n in lengths.items()))
    return next(iter(lengths.values()), 0)


def positive_int(name: str, value, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidInputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise InvalidInputError(f"{name} must be >= {minimum}, got {value!r}")
    return int(value)


def positive_float(name: str, value, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInputError(f"{name} must be a number > 0, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise InvalidInputError(f"{name} must be a finite number {'>=' if allow_zero else '>'} 0, "
                                f"got {value!r}")
    return v


def min_periods(value, window: int, *, minimum: int = 1) -> int:
    """``min_periods`` of a rolling function: ``window`` when None, else an int in [minimum, window]."""
    if value is None:
        return window
    mp = positive_int("min_periods", value, minimum=minimum)
    if mp > window:
        raise InvalidInputError(f"min_periods must be <= window={window}, got {value!r}")
    return mp


def check_tape(tape) -> np.ndarray:
    """``tape`` as a C-contiguous 1-D array of the core's ``TAPE_DTYPE`` (``ofi.data.tape``), checked."""
    if not isinstance(tape, np.ndarray) or tape.dtype != TAPE_DTYPE:
        raise InvalidInputError(
            f"tape must be a numpy array of ofi.data.tape.TAPE_DTYPE, got "
            f"{type(tape).__name__}{'' if not isinstance(tape, np.ndarray) else ' of ' + str(tape.dtype)}")
    if tape.ndim != 1:
        raise InvalidInputError(f"tape must be 1-D, got shape {tape.shape}")
    return np.ascontiguousarray(tape)


class JSONLimitError(ValueError):
    """Valid-looking JSON that the parser cannot hold: nested too deeply or too large."""


def json_loads(data):
    """``json.loads`` for untrusted bytes: too deep a nesting or too big a document is a ``ValueError``.

    ``json.loads`` raises ``RecursionError`` on deeply nested arrays (``'[' * 100_000``) and may raise
    ``MemoryError`` on a huge one; callers already turn ``ValueError`` into their own ``OfiError``
    (``ExchangeError``, ``ModelFileError``, ``InvalidInputError``), so both become one: a
    :class:`JSONLimitError`, for a caller that words that case apart from "not JSON".
    """
    try:
        return json.loads(data)
    except RecursionError:
        raise JSONLimitError("JSON nested too deeply") from None
    except MemoryError:
        raise JSONLimitError("JSON document too large to parse") from None
