"""Price impact and spread estimators (spec §5; López de Prado, *AFML* ch. 19).

From trades to lambdas in two calls::

    bars = trade_bars(ts_ns, price, size, side, interval_ns=60_000_000_000)   # 1-minute bars
    kyle = kyle_lambda(bars, window=30)            # rolling OLS of d(close) on sum(b v)
    kyle.value, kyle.t_stat, kyle.r2, kyle.n

* :func:`trade_bars` groups trades (with aggressor flags ``side`` = +1 taker buy / -1 taker sell)
  into time, tick, volume or dollar bars and returns the per-bar aggregates the estimators take:
  ``SV = sum b v``, ``SDV = sum b p v``, ``SSQ = sum b sqrt(p v)``, ``DV = sum p v``, OHLC.
* :func:`kyle_lambda` — rolling OLS of ``dp_k`` (or ``d ln p_k``) on SV / SDV / SSQ, with or
  without intercept; :class:`KyleLambda` is the streaming twin (per trade or per time bar).
* :func:`amihud_lambda` — rolling mean of ``|d ln p_k| / DV_k``, or the regression form.
* :func:`hasbrouck_lambda` — rolling OLS of the *signed* ``d ln p_k`` on SSQ.
* :func:`roll_spread` — ``2 sqrt(max(0, -cov(dp_t, dp_{t-1})))``.
* :func:`corwin_schultz` — high-low spread estimator and Beckers-Parkinson sigma.
* :func:`tick_rule` — trade signs from price changes, when no aggressor flag exists.

Where these differ from mlfinlab (no ``abs`` in Roll, signed returns in Hasbrouck, a regression
rather than ``mean |dp| / V`` for Kyle) see ``docs/impact.md``.

Conventions: every function returns one row per input row; row 0 has no price change. A row is
NaN until ``min_periods`` observations (default: a full ``window``) are in the window, and NaN,
never inf, when the estimate is undefined (constant regressor, zero variance). Batch and
streaming run the same compiled kernels, so they agree bit for bit.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from ofi._core import impact as _k
from ofi._core.impact import (
    AmihudLambda,
    CorwinSchultzSpread,
    HasbrouckLambda,
    KyleLambda,
    RollSpread,
    TickRule,
)
from ofi.errors import InvalidInputError
from ofi.validation import (
    min_periods as _min_periods,
    duration_ns,
    float_array,
    int_array,
    positive_float,
    positive_int,
    same_length,
    timestamps,
)

__all__ = [
    "KyleLambda",
    "HasbrouckLambda",
    "AmihudLambda",
    "RollSpread",
    "CorwinSchultzSpread",
    "TickRule",
    "TradeBars",
    "LambdaResult",
    "CorwinSchultzResult",
    "trade_bars",
    "kyle_lambda",
    "amihud_lambda",
    "hasbrouck_lambda",
    "roll_spread",
    "corwin_schultz",
    "tick_rule",
]

# y modes of the regression kernel (impact.pyx)
_Y_DIFF, _Y_LOGDIFF, _Y_ABSLOGDIFF = 0, 1, 2
_BAR_TIME, _BAR_TICKS, _BAR_VOLUME, _BAR_DOLLAR = 0, 1, 2, 3
_FLOWS = ("sv", "sdv", "ssq")

@dataclass(frozen=True)
class TradeBars:
    """Per-bar aggregates of trades (spec §5.4), one row per non-empty bar.

    Attributes
    ----------
    ts : numpy.ndarray, int64 ns
        Time bars: the bar's end ``t_k`` (bar = ``(t_k - interval, t_k]``); other kinds: the time
        of the bar's last trade.
    n_trades : numpy.ndarray, int64
    open, high, low, close : numpy.ndarray, float64
        First, highest, lowest and last trade price.
    volume : numpy.ndarray, float64
        ``sum v``.
    dollar_volume : numpy.ndarray, float64
        ``DV = sum p v``.
    sv, sdv, ssq : numpy.ndarray, float64
        ``sum b v``, ``sum b p v``, ``sum b sqrt(p v)`` with ``b`` the aggressor sign.
    """

    ts: np.ndarray
    n_trades: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    dollar_volume: np.ndarray
    sv: np.ndarray
    sdv: np.ndarray
    ssq: np.ndarray

    def __len__(self) -> int:
        return len(self.ts)


@dataclass(frozen=True)
class LambdaResult:
    """A rolling lambda estimate, one row per input row.

    Attributes
    ----------
    value : numpy.ndarray, float64
        lambda (the regression slope, or Amihud's mean ratio).
    intercept : numpy.ndarray, float64
        Regression intercept (0 through the origin; NaN for Amihud's mean form).
    t_stat : numpy.ndarray, float64
        lambda over its classical OLS standard error (NaN for an exact fit and for the mean form).
    r2 : numpy.ndarray, float64
        R^2 (centred with an intercept, uncentred through the origin; NaN when y is constant and
        for the mean form).
    n : numpy.ndarray, int64
        Observations in the window.
    """

    value: np.ndarray
    intercept: np.ndarray
    t_stat: np.ndarray
    r2: np.ndarray
    n: np.ndarray

    def __len__(self) -> int:
        return len(self.value)


@dataclass(frozen=True)
class CorwinSchultzResult:
    """Corwin-Schultz spread (a fraction of price) and Beckers-Parkinson sigma, per row."""

    spread: np.ndarray
    sigma: np.ndarray

    def __len__(self) -> int:
        return len(self.spread)


# ----------------------------------------------------------------------------------- helpers
def _window(window, *, minimum: int) -> int:
    return positive_int("window", window, minimum=minimum)


def _prices(name: str, x, *, positive: bool) -> np.ndarray:
    arr = float_array(name, x)
    if positive and arr.size and not (arr > 0).all():
        i = int(np.flatnonzero(~(arr > 0))[0])
        raise InvalidInputError(f"{name} must be > 0, got {arr[i]!r} at index {i}")
    return arr


def _bool(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidInputError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _regression(price, x, window, intercept, ymode, min_periods, skip_zero_x=False) -> LambdaResult:
    out, n = _k.regression_lambda(price, x, window, intercept, ymode, min_periods, skip_zero_x)
    return LambdaResult(out[0].copy(), out[1].copy(), out[2].copy(), out[3].copy(), n)


def _unpack(data, second, second_name: str, column: str):
    """(close, other column) from either a TradeBars or two arrays."""
    if isinstance(data, TradeBars):
        if second is not None:
            raise InvalidInputError(f"pass either TradeBars or close and {second_name}, not both")
        return data.close, getattr(data, column)
    if second is None:
        raise InvalidInputError(f"{second_name} is required unless the first argument is TradeBars")
    return data, second


# ----------------------------------------------------------------------------------- bars
def trade_bars(ts, price, volume, side, *, interval_ns=None, trades_per_bar: int | None = None,
               volume_per_bar: float | None = None,
               dollar_per_bar: float | None = None) -> TradeBars:
    """Aggregate trades into bars carrying the signed flows the lambdas regress on (spec §5.4).

    Give exactly one bar rule:

    * ``interval_ns`` — time bars ``(t_k - interval_ns, t_k]`` of exchange time, ``t_k`` a multiple
      of ``interval_ns`` (right-closed, spec §0). Intervals without trades produce no bar, so a
      price change is always between two bars that traded.
    * ``trades_per_bar`` — a bar every N trades.
    * ``volume_per_bar`` / ``dollar_per_bar`` — a bar closes with the trade that brings its volume
      (``sum v``) / dollar volume (``sum p v``) to the threshold or beyond (trades are not split,
      as mlfinlab's standard bars).

    The last bar is returned even if incomplete.

    Parameters
    ----------
    ts : array_like of int64 ns (or datetime64), shape (n,)
        Trade times, non-decreasing (feed order is kept for equal times).
    price : array_like, shape (n,)
        Trade prices, finite and > 0.
    volume : array_like, shape (n,)
        Trade sizes, finite and >= 0.
    side : array_like of int, shape (n,)
        Aggressor sign: +1 taker buy, -1 taker sell (Bybit ``S``), 0 unknown (adds to volume and
        DV, not to the signed sums). See :func:`tick_rule` when there is no aggressor flag.

    Returns
    -------
    TradeBars

    Raises
    ------
    InvalidInputError
        Mismatched lengths, NaN / inf, non-positive price, negative volume, unsorted times, a side
        outside {-1, 0, +1}, not exactly one bar rule, or a non-positive bar size.
    """
    t = timestamps("ts", ts)
    p = _prices("price", price, positive=True)
    v = float_array("volume", volume, nonnegative=True)
    s = int_array("side", side)
    same_length(ts=t, price=p, volume=v, side=s)
    if s.size and ((s < -1) | (s > 1)).any():
        i = int(np.flatnonzero((s < -1) | (s > 1))[0])
        raise InvalidInputError(f"side must be +1, -1 or 0, got {s[i]} at index {i}")
    rules = {k: val for k, val in (("interval_ns", interval_ns), ("trades_per_bar", trades_per_bar),
                                   ("volume_per_bar", volume_per_bar),
                                   ("dollar_per_bar", dollar_per_bar)) if val is not None}
    if len(rules) != 1:
        raise InvalidInputError("give exactly one of interval_ns, trades_per_bar, volume_per_bar, "
                                "dollar_per_bar; got " + (", ".join(rules) or "none"))
    mode, interval, threshold = _BAR_TIME, 1, 0.0
    if interval_ns is not None:
        interval = duration_ns("interval_ns", interval_ns)
    elif trades_per_bar is not None:
        mode, interval = _BAR_TICKS, positive_int("trades_per_bar", trades_per_bar)
    elif volume_per_bar is not None:
        mode, threshold = _BAR_VOLUME, positive_float("volume_per_bar", volume_per_bar)
    else:
        mode, threshold = _BAR_DOLLAR, positive_float("dollar_per_bar", dollar_per_bar)
    out_ts, out_n, f = _k.trade_bars(t, p, v, s, mode, interval, threshold)
    return TradeBars(out_ts, out_n, *(f[i].copy() for i in range(9)))


# ----------------------------------------------------------------------------------- lambdas
def kyle_lambda(close, flow=None, *, x: str = "sv", window: int = 20, intercept: bool = True,
                log: bool = False, min_periods: int | None = None) -> LambdaResult:
    """Kyle's lambda: rolling OLS ``dp_k = alpha + lambda X_k + e_k`` over the last ``window`` rows.

    AFML eq. 19.4.1 (Kyle 1985) estimated as a regression, with ``dp_k = close_k - close_{k-1}``
    (``ln close_k - ln close_{k-1}`` with ``log=True``) and X the signed order flow of row k.
    Row 0 has no price change and is not a pair.

    Parameters
    ----------
    close : TradeBars or array_like, shape (n,)
        Bars from :func:`trade_bars` (then ``x`` picks the regressor), or close prices
        (per trade: trade prices), finite (and > 0 with ``log=True``).
    flow : array_like, shape (n,), optional
        The regressor when ``close`` is an array, e.g. ``side * size`` per trade or a bar's signed
        volume. Must be None with TradeBars.
    x : {"sv", "sdv", "ssq"}, default "sv"
        With TradeBars: signed volume, signed dollar volume or signed sqrt dollar volume.
    window : int, default 20
        Pairs per regression; >= 3 with an intercept, >= 2 without.
    intercept : bool, default True
        False fits through the origin (AFML's form; mlfinlab's trade-based lambda).
    log : bool, default False
        Regress log-price changes (scale-free).
    min_periods : int, optional
        Pairs needed for a defined row; default ``window``.

    Returns
    -------
    LambdaResult
        ``value`` = lambda (price units per unit of X), ``t_stat``, ``r2``, ``n`` per row.

    Raises
    ------
    InvalidInputError
        NaN / inf, mismatched lengths, window too small, unknown ``x``, non-positive prices with
        ``log=True``.

    See Also
    --------
    KyleLambda : the streaming twin.
    """
    if x not in _FLOWS:
        raise InvalidInputError(f"x must be one of {_FLOWS}, got {x!r}")
    c, f = _unpack(close, flow, "flow", x)
    log = _bool("log", log)
    intercept = _bool("intercept", intercept)
    c = _prices("close", c, positive=log)
    f = float_array("flow", f)
    same_length(close=c, flow=f)
    w = _window(window, minimum=3 if intercept else 2)
    mp = _min_periods(min_periods, w)
    return _regression(c, f, w, intercept, _Y_LOGDIFF if log else _Y_DIFF, mp)


def hasbrouck_lambda(close, ssq=None, *, window: int = 20, intercept: bool = True,
                     min_periods: int | None = None) -> LambdaResult:
    """Hasbrouck's lambda: rolling OLS ``ln p_k - ln p_{k-1} = alpha + lambda SSQ_k + e_k``.

    AFML eq. 19.4.3 (Hasbrouck 2009), with the *signed* log return as y and
    ``SSQ_k = sum b sqrt(p v)`` over the trades of bar k. (mlfinlab regresses ``abs(r)``, which
    makes lambda the correlation of the sign of flow with the size of the move; see docs/impact.md.)

    Parameters
    ----------
    close : TradeBars or array_like, shape (n,)
        Bars (then SSQ is ``bars.ssq``) or close prices, finite and > 0.
    ssq : array_like, shape (n,), optional
        Signed sqrt dollar volume per row when ``close`` is an array.
    window, intercept, min_periods
        As :func:`kyle_lambda`.

    Returns
    -------
    LambdaResult

    Raises
    ------
    InvalidInputError
        As :func:`kyle_lambda`; prices must be > 0.
    """
    c, q = _unpack(close, ssq, "ssq", "ssq")
    intercept = _bool("intercept", intercept)
    c = _prices("close", c, positive=True)
    q = float_array("ssq", q)
    same_length(close=c, ssq=q)
    w = _window(window, minimum=3 if intercept else 2)
    mp = _min_periods(min_periods, w)
    return _regression(c, q, w, intercept, _Y_LOGDIFF, mp)


def amihud_lambda(close, dollar_volume=None, *, window: int = 20, method: str = "mean",
                  intercept: bool = True, min_periods: int | None = None) -> LambdaResult:
    """Amihud's lambda (illiquidity): price move per dollar traded.

    * ``method="mean"`` (default; Amihud 2002, mlfinlab's bar-based form): the mean of
      ``|ln p_k - ln p_{k-1}| / DV_k`` over the last ``window`` bars.
    * ``method="regression"`` (AFML eq. 19.4.2): rolling OLS ``|d ln p_k| = alpha + lambda DV_k + e``.

    Bars with ``DV_k = 0`` (no trade, stale price) are skipped entirely: they are not in the
    window, and the next return is measured from the last bar that traded. Their rows repeat the
    current estimate (``n`` does not grow).

    Parameters
    ----------
    close : TradeBars or array_like, shape (n,)
        Bars (then DV is ``bars.dollar_volume``) or close prices, finite and > 0.
    dollar_volume : array_like, shape (n,), optional
        ``sum p v`` per row, finite and >= 0, when ``close`` is an array.
    window : int, default 20
        Bars per window (>= 2; >= 3 for the regression with an intercept).
    method : {"mean", "regression"}
    intercept : bool, default True
        Regression form only.
    min_periods : int, optional
        Default ``window``.

    Returns
    -------
    LambdaResult
        Mean form: ``value`` = the mean ratio, ``n`` = bars in the window, other fields NaN.

    Raises
    ------
    InvalidInputError
        NaN / inf, mismatched lengths, non-positive prices, negative dollar volume, bad window
        or method.
    """
    c, dv = _unpack(close, dollar_volume, "dollar_volume", "dollar_volume")
    c = _prices("close", c, positive=True)
    dv = float_array("dollar_volume", dv, nonnegative=True)
    same_length(close=c, dollar_volume=dv)
    if method == "mean":
        w = _window(window, minimum=2)
        mp = _min_periods(min_periods, w)
        value, n = _k.amihud_mean(c, dv, w, mp)
        nan = np.full(len(c), np.nan)
        return LambdaResult(value, nan, nan.copy(), nan.copy(), n)
    if method == "regression":
        intercept = _bool("intercept", intercept)
        w = _window(window, minimum=3 if intercept else 2)
        mp = _min_periods(min_periods, w)
        return _regression(c, dv, w, intercept, _Y_ABSLOGDIFF, mp, skip_zero_x=True)
    raise InvalidInputError(f"method must be 'mean' or 'regression', got {method!r}")


# ----------------------------------------------------------------------------------- spreads
def roll_spread(close, *, window: int = 20, when_positive: str = "zero",
                min_periods: int | None = None) -> np.ndarray:
    """Roll's (1984) effective spread ``2 sqrt(max(0, -cov(dp_t, dp_{t-1})))``.

    ``cov`` is the sample (ddof 1) covariance of the last ``window`` pairs of consecutive price
    changes; the first pair is complete at row 2. When the autocovariance is positive the model
    has no solution: the spread is 0 (``when_positive="zero"``, default) or NaN (``"nan"``) —
    never ``2 sqrt(abs(cov))`` as mlfinlab computes.

    Parameters
    ----------
    close : TradeBars or array_like, shape (n,)
        Close (or trade) prices, finite; in price units.
    window : int, default 20
        Pairs per window, >= 2.
    when_positive : {"zero", "nan"}
    min_periods : int, optional
        Pairs needed, >= 2; default ``window``.

    Returns
    -------
    numpy.ndarray, float64, shape (n,)
        The spread in price units (NaN while warming up).

    Raises
    ------
    InvalidInputError
        NaN / inf, bad window or ``when_positive``.
    """
    c = close.close if isinstance(close, TradeBars) else close
    c = float_array("close", c)
    w = _window(window, minimum=2)
    mp = _min_periods(min_periods, w, minimum=2)
    if when_positive not in ("zero", "nan"):
        raise InvalidInputError(f"when_positive must be 'zero' or 'nan', got {when_positive!r}")
    return _k.roll_spread(c, w, mp, when_positive == "nan")


def corwin_schultz(high, low=None, *, window: int = 20,
                   min_periods: int | None = None) -> CorwinSchultzResult:
    """Corwin-Schultz (2012) high-low spread estimator and Beckers-Parkinson volatility
    (AFML snippets 19.1 and 19.2)::

        beta_t  = mean over the last `window` rows of  ln(H_t/L_t)**2 + ln(H_{t-1}/L_{t-1})**2
        gamma_t = ln(max(H_t, H_{t-1}) / min(L_t, L_{t-1}))**2
        alpha_t = (sqrt 2 - 1) sqrt(beta_t) / (3 - 2 sqrt 2) - sqrt(gamma_t / (3 - 2 sqrt 2)),  < 0 -> 0
        S_t     = 2 (exp(alpha_t) - 1) / (1 + exp(alpha_t))
        sigma_t = (2**-0.5 - 1) sqrt(beta_t) / (k2 (3 - 2 sqrt 2)) + sqrt(gamma_t / (k2**2 (3 - 2 sqrt 2))),
                  k2 = sqrt(8 / pi), < 0 -> 0

    Parameters
    ----------
    high : TradeBars or array_like, shape (n,)
        Bars (then ``low`` is ``bars.low``) or bar highs, finite and > 0.
    low : array_like, shape (n,), optional
        Bar lows, finite, > 0 and <= high.
    window : int, default 20
        Two-bar sums averaged in beta, >= 2. The first defined row is ``window`` (row 0 has no
        previous bar).
    min_periods : int, optional
        Default ``window``.

    Returns
    -------
    CorwinSchultzResult
        ``spread`` as a fraction of price; ``sigma`` per bar.

    Raises
    ------
    InvalidInputError
        NaN / inf, non-positive prices, ``low > high``, mismatched lengths, bad window.
    """
    if isinstance(high, TradeBars):
        if low is not None:
            raise InvalidInputError("pass either TradeBars or high and low, not both")
        high, low = high.high, high.low
    elif low is None:
        raise InvalidInputError("low is required unless the first argument is TradeBars")
    h = _prices("high", high, positive=True)
    lo = _prices("low", low, positive=True)
    same_length(high=h, low=lo)
    if (lo > h).any():
        i = int(np.flatnonzero(lo > h)[0])
        raise InvalidInputError(f"low must be <= high, got low={lo[i]!r} > high={h[i]!r} at index {i}")
    w = _window(window, minimum=2)
    mp = _min_periods(min_periods, w)
    spread, sigma = _k.corwin_schultz(h, lo, w, mp)
    return CorwinSchultzResult(spread, sigma)


def tick_rule(price, *, first: int = 0) -> np.ndarray:
    """Trade signs by the tick rule (AFML §19.3.1): ``b_t = sign(p_t - p_{t-1})`` when the price
    moved, else ``b_{t-1}``.

    Parameters
    ----------
    price : array_like, shape (n,)
        Trade prices in feed order, finite.
    first : {0, 1, -1}, default 0
        The sign given to trades before the first price change (mlfinlab: 0, "unknown"; these
        trades then add nothing to signed sums).

    Returns
    -------
    numpy.ndarray, int8, shape (n,)
        Values in {-1, 0, +1} (0 only before the first move, with ``first=0``).

    Raises
    ------
    InvalidInputError
        NaN / inf, ``first`` not in {-1, 0, 1}.
    """
    p = float_array("price", price)
    if isinstance(first, bool) or not isinstance(first, numbers.Integral) or first not in (-1, 0, 1):
        raise InvalidInputError(f"first must be -1, 0 or 1, got {first!r}")
    return _k.tick_rule(p, int(first))
