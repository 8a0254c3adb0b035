"""Trading metrics for backtests and live books: PnL, trade statistics, Sharpe and Sortino ratios,
drawdown, Calmar, exposure, turnover and fill markouts.

Two ways in, one arithmetic:

- :class:`TradingMetrics` is the streaming accumulator a backtester (or a live loop) feeds event by
  event: ``on_equity`` per mark-to-market, ``on_fill`` per execution, ``on_round_trip`` per closed
  trade; ``summary(initial_capital)`` returns a JSON-ready dict. Its drawdown is a
  :class:`DrawdownTracker` (O(1) per update); its ratios call the batch functions below on the
  series it collected, so the streaming and the batch numbers are the same floats.
- The batch functions (:func:`max_drawdown`, :func:`sharpe`, :func:`sortino`, :func:`profit_factor`,
  :func:`daily_returns`, :func:`markouts`) take numpy arrays.

Units and conventions shared by every function:

- Times are int64 nanoseconds since the Unix epoch, UTC (``ts_ns``); float times are refused.
- Money (equity, PnL, fees, notional, turnover) is in the quote currency (USDT); quantities are in
  base units (> 0); prices are quote per base unit (> 0).
- ``side`` is +1 (buy / long) or -1 (sell / short); the strings ``"Buy"`` / ``"Sell"`` (Bybit's
  spelling, any case, also ``"long"`` / ``"short"``) are accepted too.
- A fee is what was paid: positive is a cost, negative a rebate.
- Keys and attributes ending in ``_pct`` are *fractions* (0.05 is 5 %), not percentages.
- Undefined values (0/0, a ratio without variance, fewer than two periods) are NaN in the batch
  functions and None in ``summary()``, which also maps +-inf to None so the dict passes
  ``json.dumps(..., allow_nan=False)``.

The formulas and the annualisation conventions are in docs/metrics.md, "Trading metrics".
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ofi.errors import InvalidInputError
from ofi.validation import MARKOUT_HORIZONS_NS, NS_PER_DAY, float_array, same_length

__all__ = [
    "NS_PER_DAY",
    "DAYS_PER_YEAR",
    "DEFAULT_MARKOUT_HORIZONS_NS",
    "DrawdownTracker",
    "TradingMetrics",
    "max_drawdown",
    "sharpe",
    "sortino",
    "profit_factor",
    "daily_returns",
    "markouts",
]

#: Crypto trades every calendar day, so a year is 365 daily periods (not the equity-market 252).
DAYS_PER_YEAR = 365
#: 100 ms, 1 s and 10 s in nanoseconds (``ofi.validation.MARKOUT_HORIZONS_NS``).
DEFAULT_MARKOUT_HORIZONS_NS = MARKOUT_HORIZONS_NS
_NS_PER_YEAR = DAYS_PER_YEAR * NS_PER_DAY
_INT64_MAX = int(np.iinfo(np.int64).max)
_SIDES = {"buy": 1, "long": 1, "sell": -1, "short": -1}


# ============================================================================ input checks
def _r(v) -> str:
    """repr of a value for an error message (numpy scalars as plain Python values)."""
    return repr(v.item() if isinstance(v, np.generic) else v)


def _ts(name: str, v) -> int:
    """A scalar time in ns: an integer (float times would lose the nanoseconds)."""
    if type(v) is int:
        return v
    if isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)):
        return int(v)
    raise InvalidInputError(f"{name} must be an integer time in ns since the epoch, got {_r(v)}")


def _finite(name: str, v) -> float:
    if type(v) is float and math.isfinite(v):
        return v                                        # the per-event path
    if isinstance(v, (str, bytes)):
        raise InvalidInputError(f"{name} must be a finite number, got {v!r}")
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be a finite number, got {v!r}") from None
    if not math.isfinite(x) or isinstance(v, (bool, np.bool_)):
        raise InvalidInputError(f"{name} must be a finite number, got {_r(v)}")
    return x


def _positive(name: str, v) -> float:
    x = _finite(name, v)
    if not x > 0.0:
        raise InvalidInputError(f"{name} must be > 0, got {_r(v)}")
    return x


def _side(name: str, v) -> int:
    if isinstance(v, str):
        s = _SIDES.get(v.strip().lower())
        if s is not None:
            return s
    elif isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) and v in (1, -1):
        return int(v)
    raise InvalidInputError(f"{name} must be +1 / -1 or 'Buy' / 'Sell', got {_r(v)}")


def _ts_array(name: str, x) -> np.ndarray:
    """A 1-D array of integer ns times as int64."""
    if x is None:
        raise InvalidInputError(f"{name} must be a 1-D array of int64 ns times, got None")
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidInputError(f"{name} must be a 1-D array of int64 ns times: {exc}") from None
    if arr.ndim != 1:
        raise InvalidInputError(f"{name} must be a 1-D array of int64 ns times, got shape {arr.shape}")
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype.kind not in "iu":
        raise InvalidInputError(
            f"{name} must hold integer ns since the epoch (int64), got dtype {arr.dtype}")
    if arr.dtype.kind == "u" and int(arr.max()) > _INT64_MAX:
        raise InvalidInputError(f"{name} holds {int(arr.max())}, beyond the int64 range of ns times")
    return np.ascontiguousarray(arr, dtype=np.int64)


def _float_array(name: str, x, *, positive: bool = False) -> np.ndarray:
    """A 1-D float64 array, finite (and > 0 when ``positive``)."""
    arr = float_array(name, x)
    if positive and arr.size and not (arr > 0.0).all():
        i = int(np.flatnonzero(~(arr > 0.0))[0])
        raise InvalidInputError(f"{name} must be finite and > 0, got {_r(arr[i])} at index {i}")
    return arr


def _side_array(name: str, x) -> np.ndarray:
    """Sides as int64 +1 / -1 from numbers or 'Buy' / 'Sell' strings."""
    if x is None:
        raise InvalidInputError(f"{name} must be a 1-D array of +1 / -1 or 'Buy' / 'Sell', got None")
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise InvalidInputError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.dtype.kind == "U" and not isinstance(x, np.ndarray):
        arr = np.asarray(x, dtype=object)  # numpy turns [1, "Sell"] into ["1", "Sell"]
    if arr.dtype.kind in "UO":
        return np.array([_side(f"{name}[{i}]", v) for i, v in enumerate(arr.tolist())], dtype=np.int64)
    if arr.dtype.kind not in "iuf":
        raise InvalidInputError(f"{name} must hold +1 / -1 or 'Buy' / 'Sell', got dtype {arr.dtype}")
    bad = (arr != 1) & (arr != -1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidInputError(f"{name} must hold +1 / -1, got {_r(arr[i])} at index {i}")
    return arr.astype(np.int64)


def _sorted(name: str, ts: np.ndarray) -> None:
    if ts.size > 1:
        back = np.diff(ts) < 0
        if back.any():
            i = int(np.flatnonzero(back)[0]) + 1
            raise InvalidInputError(
                f"{name} must be non-decreasing, got {int(ts[i])} at index {i} after {int(ts[i - 1])}")


def _periods(periods_per_year) -> float | None:
    if periods_per_year is None:
        return None
    return _positive("periods_per_year", periods_per_year)


def _json(v):
    """A summary value: NaN and +-inf become None, numpy scalars plain Python."""
    if v is None:
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, numbers.Integral):
        return int(v)
    v = float(v)
    return v if math.isfinite(v) else None


# ============================================================================ drawdown
class DrawdownTracker:
    """Running peak, current and maximum drawdown of an equity curve, O(1) per update.

    Call ``update(equity)`` or ``update(ts_ns, equity)``; the first call fixes the form (with times,
    the tracker also reports when the maximum drawdown's peak and trough happened).

    Definitions, after update k (equity e_0 .. e_k, any finite numbers):

    - ``peak`` = max(e_0 .. e_k);
    - ``drawdown`` = peak - e_k (>= 0, quote currency);
    - ``drawdown_pct`` = drawdown / peak, a fraction; NaN while peak <= 0;
    - ``max_drawdown`` = the largest ``drawdown`` so far, ``max_drawdown_pct`` the largest defined
      ``drawdown_pct`` so far (NaN if none). The two maxima may fall at different points: a 30 USDT
      drop from 200 is a larger amount but a smaller fraction than a 22 USDT drop from 110.
    - ``peak_index`` / ``trough_index`` (and ``peak_ts_ns`` / ``trough_ts_ns``) locate the largest
      *absolute* drawdown: the trough is its first occurrence, the peak the last update at or before
      the trough whose equity equals the running peak (so an equal high resets the peak's time).
      Both are 0 (the first update) when the curve never falls.

    These are exactly the numbers :func:`max_drawdown` computes on the whole array.

    Examples
    --------
    >>> dd = DrawdownTracker()
    >>> for e in (100.0, 120.0, 90.0, 130.0, 104.0):
    ...     _ = dd.update(e)
    >>> dd.max_drawdown, dd.max_drawdown_pct, dd.peak_index, dd.trough_index
    (30.0, 0.25, 1, 2)
    """

    __slots__ = ("_n", "_timed", "peak", "peak_ts_ns", "_peak_i", "drawdown", "drawdown_pct",
                 "max_drawdown", "max_drawdown_pct", "peak_index", "trough_index",
                 "max_drawdown_peak_ts_ns", "max_drawdown_trough_ts_ns", "last_ts_ns", "equity")

    def __init__(self) -> None:
        self._n = 0
        self._timed: bool | None = None
        self.peak = math.nan
        self.peak_ts_ns: int | None = None
        self._peak_i = -1
        self.equity = math.nan
        self.drawdown = math.nan
        self.drawdown_pct = math.nan
        self.max_drawdown = math.nan
        self.max_drawdown_pct = math.nan
        self.peak_index = -1
        self.trough_index = -1
        self.max_drawdown_peak_ts_ns: int | None = None
        self.max_drawdown_trough_ts_ns: int | None = None
        self.last_ts_ns: int | None = None

    @property
    def n_updates(self) -> int:
        """How many equity values were seen."""
        return self._n

    def update(self, *args) -> float:
        """Add one equity value; return the current drawdown (peak - equity, quote currency).

        Parameters
        ----------
        ts_ns : int, optional
            Time of the value, ns since the epoch; non-decreasing. Give it on every call or never.
        equity : float
            Finite equity (quote currency).

        Raises
        ------
        InvalidInputError
            Non-finite equity, a non-integer or decreasing time, or a call whose form (with or
            without time) differs from the first call.
        """
        if len(args) == 1:
            timed, ts, e = False, None, args[0]
        elif len(args) == 2:
            timed, ts, e = True, args[0], args[1]
        else:
            raise InvalidInputError(
                f"update takes (equity) or (ts_ns, equity), got {len(args)} arguments")
        e = _finite("equity", e)
        if self._timed is None:
            self._timed = timed
        elif timed != self._timed:
            raise InvalidInputError(
                "update must be called the same way every time: this tracker was started "
                + ("with (ts_ns, equity)" if self._timed else "with (equity) only"))
        if timed:
            ts = _ts("ts_ns", ts)
            if self.last_ts_ns is not None and ts < self.last_ts_ns:
                raise InvalidInputError(
                    f"ts_ns must be non-decreasing, got {ts} after {self.last_ts_ns}")
            self.last_ts_ns = ts
        i = self._n
        self._n = i + 1
        self.equity = e
        if not e < self.peak:  # first value, a new high or an equal high (peak is NaN at first)
            self.peak = e
            self._peak_i = i
            self.peak_ts_ns = ts
        dd = self.peak - e
        self.drawdown = dd
        if i == 0 or dd > self.max_drawdown:
            self.max_drawdown = dd
            self.peak_index = self._peak_i
            self.trough_index = i
            self.max_drawdown_peak_ts_ns = self.peak_ts_ns
            self.max_drawdown_trough_ts_ns = ts
        if self.peak > 0.0:
            pct = dd / self.peak
            self.drawdown_pct = pct
            if not pct <= self.max_drawdown_pct:  # also when max_drawdown_pct is still NaN
                self.max_drawdown_pct = pct
        else:
            self.drawdown_pct = math.nan
        return dd

    def _push_batch(self, ts: np.ndarray, e: np.ndarray) -> None:
        """``update(ts, e)`` for each value in turn, in array operations (same results to the bit)."""
        n0, n = self._n, len(e)
        if n == 0:
            return
        prev_peak = self.peak if n0 else -math.inf
        run = np.maximum.accumulate(np.concatenate(([prev_peak], e)))
        peak, before = run[1:], run[:-1]
        new_peak = ~(e < before)     # the update rule: not e < peak (the first value: not e < -inf)
        at = np.where(new_peak, np.arange(n), -1)
        at = np.maximum.accumulate(at)                   # the last new peak at or before each row
        dd = peak - e
        k = int(np.argmax(dd))                           # the first largest drawdown of the batch
        if n0 == 0 or dd[k] > self.max_drawdown:
            self.max_drawdown = float(dd[k])
            j = int(at[k])
            self.peak_index = n0 + j if j >= 0 else self._peak_i
            self.trough_index = n0 + k
            self.max_drawdown_peak_ts_ns = int(ts[j]) if j >= 0 else self.peak_ts_ns
            self.max_drawdown_trough_ts_ns = int(ts[k])
        j = int(at[-1])
        if j >= 0:
            self._peak_i = n0 + j
            self.peak_ts_ns = int(ts[j])
        self.peak = float(peak[-1])
        pos = peak > 0.0
        if pos.any():
            m = float(np.max(dd[pos] / peak[pos]))
            if not m <= self.max_drawdown_pct:
                self.max_drawdown_pct = m
        self.drawdown_pct = float(dd[-1] / peak[-1]) if peak[-1] > 0.0 else math.nan
        self.drawdown = float(dd[-1])
        self.equity = float(e[-1])
        self._n = n0 + n
        self.last_ts_ns = int(ts[-1])

    def __repr__(self) -> str:
        return (f"DrawdownTracker(n_updates={self._n}, peak={self.peak!r}, drawdown={self.drawdown!r}, "
                f"max_drawdown={self.max_drawdown!r}, max_drawdown_pct={self.max_drawdown_pct!r})")


def max_drawdown(equity) -> tuple[float, float, int, int]:
    """Maximum drawdown of an equity curve.

    Parameters
    ----------
    equity : array_like of float, shape (n,), n >= 1
        Equity in quote currency, finite (any sign: a cumulative-PnL curve starting at 0 works too).

    Returns
    -------
    max_dd : float
        max_k (P_k - e_k) with P_k = max(e_0 .. e_k); >= 0, quote currency.
    max_dd_pct : float
        max over k with P_k > 0 of (P_k - e_k) / P_k, a fraction; NaN when P_k <= 0 throughout.
        It may come from another point than ``max_dd``.
    peak_index : int
        Index of the peak of the largest absolute drawdown: the last j <= ``trough_index`` with
        e_j = P_trough.
    trough_index : int
        First index where the absolute drawdown reaches ``max_dd`` (0 when the curve never falls).

    Raises
    ------
    InvalidInputError
        ``equity`` empty, not 1-D, or with a non-finite value.

    Notes
    -----
    Same numbers, bit for bit, as feeding the values one by one to :class:`DrawdownTracker`.
    O(n) time.
    """
    e = _float_array("equity", equity)
    if e.size == 0:
        raise InvalidInputError("equity must hold at least one value, got an empty array")
    peak = np.maximum.accumulate(e)
    dd = peak - e
    trough = int(np.argmax(dd))
    # last index <= trough at the running peak: first hit scanning backwards from the trough
    peak_i = trough - int(np.argmax(e[trough::-1] == peak[trough]))
    pos = peak > 0.0
    if pos.any():
        max_pct = float(np.max(dd[pos] / peak[pos]))
    else:
        max_pct = math.nan
    return float(dd[trough]), max_pct, peak_i, trough


# ============================================================================ ratios
def _returns(name: str, x) -> np.ndarray:
    return _float_array(name, x)


def sharpe(returns, periods_per_year=None, ddof: int = 1) -> float:
    """Sharpe ratio of a series of period returns, risk-free rate 0.

    S = mean(r) / std(r, ddof) * sqrt(periods_per_year)   (Sharpe 1994, ex-post, no risk-free
    rate: subtract one from ``returns`` first if needed).

    Parameters
    ----------
    returns : array_like of float, shape (n,)
        Simple period returns (fractions), finite.
    periods_per_year : float, optional
        Annualisation: 365 for daily crypto returns (every calendar day trades), 365 * 24 for
        hourly. None leaves the ratio per period (as for per-trade returns).
    ddof : int, default 1
        Delta degrees of freedom of the standard deviation (1: sample std).

    Returns
    -------
    float
        NaN when n - ddof <= 0 or all returns are equal (zero variance; checked on the values, as a
        computed std of equal floats need not be exactly 0).

    Raises
    ------
    InvalidInputError
        Non-finite returns, ``periods_per_year`` <= 0, ``ddof`` not an integer >= 0.
    """
    r = _returns("returns", returns)
    ppy = _periods(periods_per_year)
    if not isinstance(ddof, numbers.Integral) or isinstance(ddof, (bool, np.bool_)) or ddof < 0:
        raise InvalidInputError(f"ddof must be an integer >= 0, got {_r(ddof)}")
    if r.size - int(ddof) <= 0 or r.size == 0 or np.all(r == r[0]):
        return math.nan
    sd = float(np.std(r, ddof=int(ddof)))
    if not sd > 0.0:  # distinct values whose spread underflows
        return math.nan
    s = float(np.mean(r)) / sd
    return s * math.sqrt(ppy) if ppy is not None else s


def sortino(returns, periods_per_year=None, target: float = 0.0) -> float:
    """Sortino ratio of a series of period returns.

    So = (mean(r) - T) / DD * sqrt(periods_per_year),  DD = sqrt(mean(min(r - T, 0)^2))

    The downside deviation DD averages over *all* n periods (periods above the target count as 0),
    the target-downside-deviation convention of Sortino & Price (1994); it is not the std of the
    losing periods only.

    Parameters
    ----------
    returns : array_like of float, shape (n,)
        Simple period returns (fractions), finite.
    periods_per_year : float, optional
        As in :func:`sharpe`; None leaves the ratio per period.
    target : float, default 0.0
        Minimum acceptable return T per period.

    Returns
    -------
    float
        NaN when ``returns`` is empty or no return is below ``target`` (DD = 0).

    Raises
    ------
    InvalidInputError
        Non-finite returns or target, ``periods_per_year`` <= 0.
    """
    r = _returns("returns", returns)
    ppy = _periods(periods_per_year)
    t = _finite("target", target)
    if r.size == 0:
        return math.nan
    down = np.minimum(r - t, 0.0)
    dd = math.sqrt(float(np.mean(down * down)))
    if not dd > 0.0:
        return math.nan
    s = (float(np.mean(r)) - t) / dd
    return s * math.sqrt(ppy) if ppy is not None else s


def profit_factor(pnl) -> float:
    """Profit factor: gross wins over gross losses.

    PF = sum(p for p > 0) / |sum(p for p < 0)|

    Parameters
    ----------
    pnl : array_like of float, shape (n,)
        Net PnL per trade (quote currency), finite. Zero-PnL trades count on neither side.

    Returns
    -------
    float
        +inf when there are wins and no losses; NaN with neither (0 / 0).

    Raises
    ------
    InvalidInputError
        Non-finite or non-1-D ``pnl``.
    """
    p = _float_array("pnl", pnl)
    wins = float(np.sum(p[p > 0.0]))
    losses = -float(np.sum(p[p < 0.0]))
    if losses > 0.0:
        return wins / losses
    return math.inf if wins > 0.0 else math.nan


# ============================================================================ daily returns
def _daily_from_closes(day: np.ndarray, close: np.ndarray, base: float) -> tuple[np.ndarray, np.ndarray]:
    """Daily returns from the close of each observed UTC day (day numbers strictly increasing).

    Days without an observation between the first and the last keep the previous close (return 0).
    Shared by :func:`daily_returns` and :class:`TradingMetrics` so both give the same floats.
    """
    if day.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    all_days = np.arange(day[0], day[-1] + 1, dtype=np.int64)
    filled = close[np.searchsorted(day, all_days, side="right") - 1]
    prev = np.empty_like(filled)
    prev[0] = base
    prev[1:] = filled[:-1]
    return all_days * NS_PER_DAY, filled / prev - 1.0


def daily_returns(ts_ns, equity, initial=None) -> tuple[np.ndarray, np.ndarray]:
    """Simple returns per UTC calendar day from an equity curve.

    Each day's close is the last equity observed in [00:00, 24:00) UTC of that day;
    r_d = close_d / close_{d-1} - 1. The first day is measured against ``initial`` (the capital at
    the start) or, without it, against the first equity value. Days with no observation between the
    first and the last day keep the previous close, i.e. return 0: crypto trades every day, so a
    quiet day is a flat day, and annualising with 365 periods stays right.

    Parameters
    ----------
    ts_ns : array_like of int64, shape (n,)
        Times of the equity values, ns since the epoch (UTC), non-decreasing.
    equity : array_like of float, shape (n,)
        Equity in quote currency, finite and > 0.
    initial : float, optional
        Equity before the first day (> 0); default ``equity[0]``.

    Returns
    -------
    day_ns : ndarray of int64, shape (d,)
        UTC midnight opening each day, ns; one per calendar day from the first to the last.
    returns : ndarray of float64, shape (d,)
        Simple return of each day (fraction). Both are empty when ``equity`` is.

    Raises
    ------
    InvalidInputError
        Mismatched lengths, float or decreasing times, non-finite or non-positive equity or
        ``initial``.
    """
    ts = _ts_array("ts_ns", ts_ns)
    e = _float_array("equity", equity, positive=True)
    n = same_length(ts_ns=ts, equity=e)
    _sorted("ts_ns", ts)
    base = _positive("initial", initial) if initial is not None else (float(e[0]) if n else 1.0)
    if n == 0:
        return _daily_from_closes(ts, e, base)
    day = ts // NS_PER_DAY
    last = np.flatnonzero(np.append(day[1:] != day[:-1], True))
    return _daily_from_closes(day[last], e[last], base)


# ============================================================================ markouts
def markouts(fill_ts, fill_side, fill_price, mid_ts, mid,
             horizons_ns=DEFAULT_MARKOUT_HORIZONS_NS, in_bps: bool = True) -> np.ndarray:
    """Markouts of fills: how far the mid moved in the fill's favour after h.

    m[i, k] = side_i * (mid(t_i + h_k) - p_i), in bps of p_i (x 1e4 / p_i) when ``in_bps``,

    where mid(t) is the last mid at or before t (the latest of equal times). Positive is good for
    the fill's owner (a buy followed by a rise); persistently negative markouts of passive fills
    are adverse selection. m[i, k] is NaN when the mid series ends before t_i + h_k
    (``mid_ts[-1] < t_i + h_k``) or starts after it.

    Parameters
    ----------
    fill_ts : array_like of int64, shape (n,)
        Fill times, ns since the epoch; any order.
    fill_side : array_like, shape (n,)
        +1 / -1 (buy / sell) or ``"Buy"`` / ``"Sell"``.
    fill_price : array_like of float, shape (n,)
        Fill prices (quote per base unit), finite and > 0.
    mid_ts : array_like of int64, shape (m,)
        Times of the mid prices, ns, non-decreasing.
    mid : array_like of float, shape (m,)
        Mid prices, finite and > 0.
    horizons_ns : sequence of int, default (100 ms, 1 s, 10 s)
        Horizons h_k >= 0 in ns.
    in_bps : bool, default True
        Basis points of the fill price; False gives quote currency per base unit.

    Returns
    -------
    ndarray of float64, shape (n, len(horizons_ns))

    Raises
    ------
    InvalidInputError
        Mismatched lengths, float or unsorted ``mid_ts``, non-finite or non-positive prices, sides
        other than +-1, negative horizons, or fill_ts + h beyond the int64 range.

    Notes
    -----
    One ``np.searchsorted`` per horizon: O((n + m) log m) time, O(n * len(horizons_ns)) memory.
    """
    fts = _ts_array("fill_ts", fill_ts)
    side = _side_array("fill_side", fill_side)
    price = _float_array("fill_price", fill_price, positive=True)
    n = same_length(fill_ts=fts, fill_side=side, fill_price=price)
    mts = _ts_array("mid_ts", mid_ts)
    m = _float_array("mid", mid, positive=True)
    same_length(mid_ts=mts, mid=m)
    _sorted("mid_ts", mts)
    h = np.asarray(horizons_ns)
    if h.ndim != 1 or h.size == 0 or h.dtype.kind not in "iu":
        raise InvalidInputError(
            f"horizons_ns must be a non-empty 1-D sequence of integer ns, got {horizons_ns!r}")
    h = h.astype(np.int64)
    if (h < 0).any():
        raise InvalidInputError(f"horizons_ns must be >= 0, got {_r(h[h < 0][0])}")
    out = np.full((n, h.size), np.nan)
    if n == 0 or mts.size == 0:
        return out
    if int(fts.max()) > _INT64_MAX - int(h.max()):
        raise InvalidInputError(
            f"fill_ts + horizons_ns overflows int64: {int(fts.max())} + {int(h.max())}")
    scale = 1e4 / price if in_bps else None
    for k in range(h.size):
        t = fts + h[k]
        j = np.searchsorted(mts, t, side="right") - 1
        ok = (j >= 0) & (t <= mts[-1])
        diff = side[ok] * (m[j[ok]] - price[ok])
        out[ok, k] = diff * scale[ok] if in_bps else diff
    return out


# ============================================================================ streaming accumulator
class TradingMetrics:
    """Streaming accumulator of trading metrics; feed it from a backtest or live loop.

    - :meth:`on_equity` per mark-to-market (O(1)): drawdown, exposure and the daily closes.
    - :meth:`on_fill` per execution (O(1)): turnover, fees, maker / taker counts.
    - :meth:`on_round_trip` per closed trade (O(1)): trade PnL statistics.
    - :meth:`summary` once at the end (O(days + trades)): a JSON-ready dict.

    Memory is O(1) per equity update plus one float per UTC day and two per trade.
    Report the starting equity (the capital) with an ``on_equity`` call at the start time: the
    drawdown, the exposure window and the elapsed time all start at the first ``on_equity``.

    Attributes
    ----------
    drawdown : DrawdownTracker
        The live drawdown of the reported equity (with times).
    """

    def __init__(self) -> None:
        self.drawdown = DrawdownTracker()
        # equity / exposure
        self._start_ts: int | None = None
        self._last_ts: int | None = None
        self._last_equity = math.nan
        self._last_exposed = False
        self._exposed_ns = 0
        self._day = None
        self._days: list[int] = []
        self._closes: list[float] = []
        # fills
        self._n_fills = 0
        self._n_maker = 0
        self._turnover = 0.0
        self._fill_fees = 0.0
        self._fill_qty = 0.0
        # round trips
        self._trade_net: list[float] = []
        self._trade_ret: list[float] = []
        self._gross = 0.0
        self._fees = 0.0

    # ------------------------------------------------------------------ events
    def on_equity(self, ts_ns: int, equity: float, position_notional: float = 0.0) -> None:
        """Record the marked-to-market equity at ``ts_ns``.

        Parameters
        ----------
        ts_ns : int
            ns since the epoch, non-decreasing across calls (equal times allowed).
        equity : float
            Account equity including open PnL, quote currency, finite.
        position_notional : float, default 0.0
            Signed notional of the open position after this event (quote currency); only whether it
            is 0 matters (exposure). It holds until the next ``on_equity``.

        Raises
        ------
        InvalidInputError
            Non-integer or decreasing ``ts_ns``, non-finite ``equity`` or ``position_notional``.
        """
        ts = _ts("ts_ns", ts_ns)
        e = _finite("equity", equity)
        pos = _finite("position_notional", position_notional)
        last = self._last_ts
        if last is not None and ts < last:
            raise InvalidInputError(f"ts_ns must be non-decreasing, got {ts} after {last}")
        self.drawdown.update(ts, e)         # first: it checks its own form and times, then records
        if last is None:
            self._start_ts = ts
        elif self._last_exposed:
            self._exposed_ns += ts - last
        day = ts // NS_PER_DAY
        if day != self._day:
            self._day = day
            self._days.append(day)
            self._closes.append(e)
        else:
            self._closes[-1] = e
        self._last_ts = ts
        self._last_equity = e
        self._last_exposed = pos != 0.0

    def _equity_batch(self, ts: np.ndarray, e: np.ndarray, pos: np.ndarray) -> None:
        """``on_equity`` for each row in turn, in array operations (same results to the bit): int64
        ``ts`` non-decreasing and not before the last time seen, finite ``e`` and ``pos``."""
        n = len(ts)
        if n == 0:
            return
        ts = np.asarray(ts, dtype=np.int64)
        e = np.asarray(e, dtype=np.float64)
        exposed = np.asarray(pos, dtype=np.float64) != 0.0
        last = self._last_ts
        if last is None:
            self._start_ts = int(ts[0])
            self.drawdown._timed = True
            gaps = np.diff(ts)[exposed[:-1]]
        else:
            gaps = np.diff(ts, prepend=last)[np.concatenate(([self._last_exposed], exposed[:-1]))]
        self._exposed_ns += int(gaps.sum(dtype=np.int64))
        self.drawdown._push_batch(ts, e)
        day = ts // NS_PER_DAY
        ends = np.flatnonzero(np.append(day[1:] != day[:-1], True))
        days, closes = day[ends].tolist(), e[ends].tolist()
        if days[0] == self._day:
            self._closes[-1] = closes[0]
            days, closes = days[1:], closes[1:]
        self._days.extend(days)
        self._closes.extend(closes)
        if days:
            self._day = days[-1]
        self._last_ts = int(ts[-1])
        self._last_equity = float(e[-1])
        self._last_exposed = bool(exposed[-1])

    def on_fill(self, ts_ns: int, side, qty: float, price: float, fee: float = 0.0,
                maker: bool = False) -> None:
        """Record one execution.

        Parameters
        ----------
        ts_ns : int
            ns since the epoch (checked to be an integer; fills need not be in time order).
        side : {+1, -1, "Buy", "Sell"}
        qty : float
            Executed quantity in base units, > 0.
        price : float
            Execution price, > 0.
        fee : float, default 0.0
            Fee paid, quote currency (negative for a rebate).
        maker : bool, default False
            True for a passive (maker) fill.

        Raises
        ------
        InvalidInputError
            Bad time, side, non-positive qty or price, non-finite fee.
        """
        _ts("ts_ns", ts_ns)
        _side("side", side)
        self._fill(_positive("qty", qty), _positive("price", price), _finite("fee", fee), maker)

    def _fill(self, q: float, p: float, f: float, maker) -> None:
        """``on_fill`` for a caller that guarantees q > 0, p > 0 and a finite f (the backtest engine)."""
        self._n_fills += 1
        self._n_maker += bool(maker)
        self._turnover += q * p
        self._fill_fees += f
        self._fill_qty += q

    def on_round_trip(self, entry_ts: int, exit_ts: int, side, qty: float, entry_price: float,
                      exit_price: float, gross_pnl: float | None = None, fees: float = 0.0) -> None:
        """Record one closed trade (entry to exit of ``qty``).

        Parameters
        ----------
        entry_ts, exit_ts : int
            ns since the epoch, ``entry_ts <= exit_ts``.
        side : {+1, -1, "Buy", "Sell"}
            Direction of the entry: +1 long, -1 short.
        qty : float
            Base units, > 0.
        entry_price, exit_price : float
            Average prices, > 0.
        gross_pnl : float, optional
            PnL before fees, quote currency; default side * qty * (exit_price - entry_price) (linear
            contracts). Pass it for inverse contracts or to include funding.
        fees : float, default 0.0
            All fees of the trade's fills (negative for a net rebate).

        Raises
        ------
        InvalidInputError
            Bad times or side, non-positive qty or prices, non-finite PnL or fees.
        """
        t0 = _ts("entry_ts", entry_ts)
        t1 = _ts("exit_ts", exit_ts)
        if t1 < t0:
            raise InvalidInputError(f"exit_ts must be >= entry_ts ({t0}), got {t1}")
        s = _side("side", side)
        q = _positive("qty", qty)
        p0 = _positive("entry_price", entry_price)
        p1 = _positive("exit_price", exit_price)
        g = s * q * (p1 - p0) if gross_pnl is None else _finite("gross_pnl", gross_pnl)
        f = _finite("fees", fees)
        net = g - f
        self._gross += g
        self._fees += f
        self._trade_net.append(net)
        self._trade_ret.append(net / (q * p0))

    # ------------------------------------------------------------------ results
    def daily_returns(self, initial_capital: float) -> tuple[np.ndarray, np.ndarray]:
        """Daily returns of the equity reported so far: the same arrays as
        ``daily_returns(ts, equity, initial=initial_capital)`` over every ``on_equity`` call.

        Returns
        -------
        day_ns : ndarray of int64, shape (d,)
        returns : ndarray of float64, shape (d,)

        Raises
        ------
        InvalidInputError
            ``initial_capital`` not finite and > 0, or a day closed at equity <= 0 (simple returns
            are undefined there).
        """
        base = _positive("initial_capital", initial_capital)
        if self._closes and not min(self._closes) > 0.0:
            raise InvalidInputError(
                f"daily returns need equity > 0 at every UTC day's close, got {min(self._closes)!r}")
        return _daily_from_closes(np.asarray(self._days, dtype=np.int64),
                                  np.asarray(self._closes, dtype=np.float64), base)

    def summary(self, initial_capital: float) -> dict:
        """All metrics as a JSON-ready dict (NaN and +-inf as None).

        Parameters
        ----------
        initial_capital : float
            Capital at the start, quote currency, > 0.

        Returns
        -------
        dict
            Trade statistics, from the round trips (closed trades only):

            - ``net_pnl`` = ``gross_pnl`` - ``fees`` = sum of each trade's net PnL;
            - ``n_trades``, ``n_wins`` (net > 0), ``n_losses`` (net < 0);
            - ``win_rate`` = n_wins / n_trades;
            - ``avg_win``, ``avg_loss``: mean net PnL of the winning / losing trades (``avg_loss``
              is negative);
            - ``profit_factor``: :func:`profit_factor` of the net trade PnL (None with no losing
              trade or no trade);
            - ``sharpe_per_trade``, ``sortino_per_trade``: of per-trade returns
              net / (qty * entry_price), not annualised.

            Equity statistics, from ``on_equity``:

            - ``start_ts``, ``end_ts`` (ns), ``final_equity``, ``equity_pnl`` = final - initial
              (includes open positions), ``return_pct`` = final / initial - 1;
            - ``n_days``, ``sharpe_daily`` = :func:`sharpe` (ddof 1) of the daily returns x
              sqrt(365), ``sortino_daily`` = :func:`sortino` (target 0) x sqrt(365);
            - ``max_drawdown`` (quote currency), ``max_drawdown_pct`` (fraction of the peak),
              ``max_drawdown_peak_ts``, ``max_drawdown_trough_ts``;
            - ``annualized_return`` = (final / initial) ^ (365 days / (end_ts - start_ts)) - 1
              (-1 when final <= 0), ``calmar`` = annualized_return / max_drawdown_pct;
            - ``exposure``: share of [start_ts, end_ts] with a non-zero position.

            Fill statistics, from ``on_fill``: ``n_fills``, ``n_maker_fills``, ``maker_share``,
            ``turnover`` = sum |qty * price| (quote currency), ``fill_fees`` (sum of fill fees;
            equals ``fees`` once every fill belongs to a closed trade), ``fill_qty``.

        Raises
        ------
        InvalidInputError
            ``initial_capital`` not finite and > 0.
        """
        cap = _positive("initial_capital", initial_capital)
        out: dict = {"initial_capital": cap}

        # --- trades
        net = np.asarray(self._trade_net, dtype=np.float64)
        n_tr = int(net.size)
        wins, losses = net[net > 0.0], net[net < 0.0]
        out.update(
            net_pnl=self._gross - self._fees,
            gross_pnl=self._gross,
            fees=self._fees,
            n_trades=n_tr,
            n_wins=int(wins.size),
            n_losses=int(losses.size),
            win_rate=wins.size / n_tr if n_tr else None,
            avg_win=float(np.mean(wins)) if wins.size else None,
            avg_loss=float(np.mean(losses)) if losses.size else None,
            profit_factor=profit_factor(net),
            sharpe_per_trade=sharpe(self._trade_ret),
            sortino_per_trade=sortino(self._trade_ret),
        )

        # --- equity
        dd = self.drawdown
        have = self._last_ts is not None
        final = self._last_equity
        elapsed = (self._last_ts - self._start_ts) if have else 0
        ok = bool(self._closes) and min(self._closes) > 0.0
        rets = self.daily_returns(cap)[1] if ok else np.zeros(0)
        ann = math.nan
        if have and elapsed > 0:
            ratio = final / cap
            if ratio <= 0.0:
                ann = -1.0
            else:
                try:
                    ann = ratio ** (_NS_PER_YEAR / elapsed) - 1.0
                except OverflowError:
                    ann = math.inf
        mdd_pct = dd.max_drawdown_pct
        out.update(
            start_ts=self._start_ts,
            end_ts=self._last_ts,
            final_equity=final if have else None,
            equity_pnl=final - cap if have else None,
            return_pct=final / cap - 1.0 if have else None,
            n_days=self._days[-1] - self._days[0] + 1 if self._days else 0,
            sharpe_daily=sharpe(rets, DAYS_PER_YEAR) if ok else None,
            sortino_daily=sortino(rets, DAYS_PER_YEAR) if ok else None,
            max_drawdown=dd.max_drawdown,
            max_drawdown_pct=mdd_pct,
            max_drawdown_peak_ts=dd.max_drawdown_peak_ts_ns,
            max_drawdown_trough_ts=dd.max_drawdown_trough_ts_ns,
            annualized_return=ann,
            calmar=ann / mdd_pct if math.isfinite(ann) and mdd_pct > 0.0 else None,
            exposure=self._exposed_ns / elapsed if elapsed > 0 else None,
        )

        # --- fills
        out.update(
            n_fills=self._n_fills,
            n_maker_fills=self._n_maker,
            maker_share=self._n_maker / self._n_fills if self._n_fills else None,
            turnover=self._turnover,
            fill_fees=self._fill_fees,
            fill_qty=self._fill_qty,
        )
        return {k: _json(v) for k, v in out.items()}

    def __repr__(self) -> str:
        return (f"TradingMetrics(equity_updates={self.drawdown.n_updates}, fills={self._n_fills}, "
                f"round_trips={len(self._trade_net)})")
