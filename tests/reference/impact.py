"""Reference impact and spread estimators: the executable specification of ``ofi._core.impact``.

Two parts:

1. Pure-Python twins of the package functions (lists and ``math``; each window refitted from
   scratch with :func:`reference.rolling.window_ols`): :func:`trade_bars`, :func:`tick_rule`,
   :func:`kyle_lambda`, :func:`hasbrouck_lambda`, :func:`amihud_lambda`, :func:`roll_spread`,
   :func:`corwin_schultz` and the streaming :class:`RefKyleLambda`. Conventions (spec §5.4):
   row 0 has no price change; a row is NaN until ``min_periods`` observations are in the window;
   Roll is ``2 sqrt(max(0, -cov))``; Hasbrouck regresses the *signed* log return; Amihud skips
   bars with zero dollar volume entirely.

2. The mlfinlab conventions (commit 59f1457, spec §5.3), rewritten with numpy only (pandas is not
   a dependency) so the published mlfinlab numbers can be reproduced and set beside ours:
   ``mlfinlab_*`` functions. pandas semantics kept: ``rolling(w)`` needs w valid values (NaN
   otherwise), ``sign.replace(0, method='pad')`` fills a zero sign with the previous sign (NaN
   before the first), rolling covariance with ddof 1.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from reference.rolling import window_ols

NAN = float("nan")


# =============================================================================== package twins
def tick_rule(price, first: int = 0) -> list[int]:
    out, b = [], first
    for i, p in enumerate(price):
        if i > 0 and p != price[i - 1]:
            b = 1 if p > price[i - 1] else -1
        out.append(b)
    return out


@dataclass
class RefBars:
    ts: list
    n_trades: list
    open: list
    high: list
    low: list
    close: list
    volume: list
    dollar_volume: list
    sv: list
    sdv: list
    ssq: list


def _ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


def trade_bars(ts, price, volume, side, *, interval_ns=None, trades_per_bar=None,
               volume_per_bar=None, dollar_per_bar=None) -> RefBars:
    """Bars as lists; time bars are (t_k - interval, t_k], labelled t_k; empty intervals skipped."""
    groups: list[list[int]] = []
    labels: list[int] = []
    cur: list[int] = []
    cur_id = None
    vol = dol = 0.0
    for i in range(len(ts)):
        if interval_ns is not None:
            bid = _ceil_div(int(ts[i]), interval_ns)
            if cur and bid != cur_id:
                groups.append(cur)
                labels.append(cur_id * interval_ns)
                cur = []
            cur_id = bid
            cur.append(i)
            continue
        cur.append(i)
        vol += float(volume[i])
        dol += float(price[i]) * float(volume[i])
        if ((trades_per_bar is not None and len(cur) >= trades_per_bar)
                or (volume_per_bar is not None and vol >= volume_per_bar)
                or (dollar_per_bar is not None and dol >= dollar_per_bar)):
            groups.append(cur)
            labels.append(int(ts[i]))
            cur, vol, dol = [], 0.0, 0.0
    if cur:
        groups.append(cur)
        labels.append(cur_id * interval_ns if interval_ns is not None else int(ts[cur[-1]]))
    bars = RefBars(*([] for _ in range(11)))
    for label, g in zip(labels, groups):
        p = [float(price[j]) for j in g]
        v = [float(volume[j]) for j in g]
        b = [float(side[j]) for j in g]
        bars.ts.append(label)
        bars.n_trades.append(len(g))
        bars.open.append(p[0])
        bars.high.append(max(p))
        bars.low.append(min(p))
        bars.close.append(p[-1])
        bars.volume.append(math.fsum(v))
        bars.dollar_volume.append(math.fsum(pi * vi for pi, vi in zip(p, v)))
        bars.sv.append(math.fsum(bi * vi for bi, vi in zip(b, v)))
        bars.sdv.append(math.fsum(bi * pi * vi for bi, pi, vi in zip(b, p, v)))
        bars.ssq.append(math.fsum(bi * math.sqrt(pi * vi) for bi, pi, vi in zip(b, p, v)))
    return bars


def _changes(close, mode: str, keep=None):
    """Pairs (row, change) for each row with a previous kept price; mode diff / log / abslog."""
    out, prev = [], None
    for i, c in enumerate(close):
        if keep is not None and not keep[i]:
            continue
        level = float(c) if mode == "diff" else math.log(float(c))
        if prev is not None:
            y = level - prev
            out.append((i, abs(y) if mode == "abslog" else y))
        prev = level
    return out


def _rolling_regression(close, x, window, intercept, mode, min_periods, keep=None):
    n = len(close)
    mp = window if min_periods is None else min_periods
    res = np.full((4, n), NAN)
    counts = np.zeros(n, dtype=np.int64)
    pairs = deque(maxlen=window)
    changes = dict(_changes(close, mode, keep))
    for i in range(n):
        if i in changes:
            pairs.append((float(x[i]), changes[i]))
        counts[i] = len(pairs)
        if len(pairs) >= mp:
            res[:, i] = window_ols([p[0] for p in pairs], [p[1] for p in pairs], intercept)
    return res, counts


def kyle_lambda(close, flow, window=20, intercept=True, log=False, min_periods=None):
    """(4, n) slope/intercept/t/r2 and counts: OLS of d close (d ln close) on flow per window."""
    return _rolling_regression(close, flow, window, intercept, "log" if log else "diff", min_periods)


def hasbrouck_lambda(close, ssq, window=20, intercept=True, min_periods=None):
    return _rolling_regression(close, ssq, window, intercept, "log", min_periods)


def amihud_lambda(close, dollar_volume, window=20, method="mean", intercept=True, min_periods=None):
    """Mean form: (mean array, counts); regression form: as kyle_lambda. DV = 0 rows skipped."""
    keep = [float(d) > 0.0 for d in dollar_volume]
    if method == "regression":
        return _rolling_regression(close, dollar_volume, window, intercept, "abslog", min_periods,
                                   keep)
    n = len(close)
    mp = window if min_periods is None else min_periods
    mean = np.full(n, NAN)
    counts = np.zeros(n, dtype=np.int64)
    ratios = deque(maxlen=window)
    changes = dict(_changes(close, "abslog", keep))
    for i in range(n):
        if i in changes:
            ratios.append(changes[i] / float(dollar_volume[i]))
        counts[i] = len(ratios)
        if len(ratios) >= mp:
            mean[i] = math.fsum(ratios) / len(ratios)
    return mean, counts


def roll_autocov(close, window=20, min_periods=None):
    """Sample (ddof 1) covariance of (dp_t, dp_{t-1}) over the last ``window`` pairs, per row."""
    n = len(close)
    mp = window if min_periods is None else min_periods
    out = np.full(n, NAN)
    pairs = deque(maxlen=window)
    for i in range(2, n):
        pairs.append((float(close[i - 1]) - float(close[i - 2]), float(close[i]) - float(close[i - 1])))
        k = len(pairs)
        if k >= mp and k >= 2:
            ma = math.fsum(p[0] for p in pairs) / k
            mb = math.fsum(p[1] for p in pairs) / k
            out[i] = math.fsum((a - ma) * (b - mb) for a, b in pairs) / (k - 1)
    return out


def roll_spread(close, window=20, when_positive="zero", min_periods=None):
    cov = roll_autocov(close, window, min_periods)
    out = np.full(len(close), NAN)
    for i, c in enumerate(cov):
        if c != c:
            continue
        out[i] = 2.0 * math.sqrt(-c) if c <= 0.0 else (0.0 if when_positive == "zero" else NAN)
    return out


def corwin_schultz(high, low, window=20, min_periods=None):
    """(spread, sigma) per row, AFML snippets 19.1 / 19.2 (as spec §5.2)."""
    n = len(high)
    mp = window if min_periods is None else min_periods
    spread, sigma = np.full(n, NAN), np.full(n, NAN)
    betas = deque(maxlen=window)
    den = 3.0 - 2.0 * math.sqrt(2.0)
    k2 = math.sqrt(8.0 / math.pi)
    for i in range(1, n):
        h0, l0, h1, l1 = float(high[i - 1]), float(low[i - 1]), float(high[i]), float(low[i])
        betas.append(math.log(h0 / l0) ** 2 + math.log(h1 / l1) ** 2)
        if len(betas) < mp:
            continue
        beta = math.fsum(betas) / len(betas)
        gamma = math.log(max(h0, h1) / min(l0, l1)) ** 2
        alpha = max(0.0, (math.sqrt(2.0) - 1.0) * math.sqrt(beta) / den - math.sqrt(gamma / den))
        spread[i] = 2.0 * (math.exp(alpha) - 1.0) / (1.0 + math.exp(alpha))
        s = (2 ** -0.5 - 1.0) * math.sqrt(beta) / (k2 * den) + math.sqrt(gamma / (k2 * k2 * den))
        sigma[i] = max(0.0, s)
    return spread, sigma


class RefKyleLambda:
    """Streaming Kyle's lambda, pure Python: per trade, or per time bar with ``interval_ns``.

    The window is a deque refitted from scratch (two passes) on every read — the specification,
    and the pure-Python baseline of the benchmarks."""

    def __init__(self, window=20, intercept=True, *, interval_ns=None, x="sv", log=False,
                 min_periods=None):
        self.window = window
        self.intercept = intercept
        self.interval_ns = interval_ns
        self.x = x
        self.log = log
        self.min_periods = window if min_periods is None else min_periods
        self.pairs: deque = deque(maxlen=window)
        self.prev = None
        self.bar: list = []
        self.bar_id = None

    def _flow(self, price, size, side):
        if self.x == "sv":
            return side * size
        if self.x == "sdv":
            return side * price * size
        return side * math.sqrt(price * size)

    def _push(self, price, x):
        level = math.log(price) if self.log else price
        prev, self.prev = self.prev, level
        if prev is None:
            return None
        self.pairs.append((x, level - prev))
        return self.value

    def _close_bar(self):
        bar, self.bar = self.bar, []
        x = math.fsum(self._flow(p, v, b) for p, v, b in bar)
        return self._push(bar[-1][0], x)

    def add(self, price, size, side, ts_exch=0):
        if self.interval_ns is None:
            return self._push(price, self._flow(price, size, side))
        bid = _ceil_div(ts_exch, self.interval_ns)
        out = None
        if self.bar and bid != self.bar_id:
            out = self._close_bar()
        self.bar_id = bid
        self.bar.append((price, size, side))
        return out

    def add_trade(self, trade):
        return self.add(trade.price, trade.size, trade.side, trade.ts_exch)

    def flush(self):
        return self._close_bar() if self.bar else None

    def fit(self):
        if len(self.pairs) < self.min_periods:
            return (NAN, NAN, NAN, NAN, len(self.pairs))
        xs = [p[0] for p in self.pairs]
        ys = [p[1] for p in self.pairs]
        return (*window_ols(xs, ys, self.intercept), len(self.pairs))

    @property
    def value(self):
        return self.fit()[0]


# =============================================================================== mlfinlab conventions
def _rolling_mean_strict(x: np.ndarray, window: int) -> np.ndarray:
    """pandas ``Series.rolling(window).mean()``: NaN unless all ``window`` values are valid."""
    out = np.full(len(x), np.nan)
    for i in range(window - 1, len(x)):
        w = x[i - window + 1: i + 1]
        if not np.isnan(w).any():
            out[i] = w.mean()
    return out


def _diff(x: np.ndarray) -> np.ndarray:
    return np.concatenate([[np.nan], np.diff(x)])


def _sign_pad(d: np.ndarray) -> np.ndarray:
    """``np.sign(d).replace(0, method='pad')``: a zero sign takes the previous value (NaN included)."""
    s = np.sign(d)
    out = s.copy()
    prev = s[0]
    for i in range(len(s)):
        if s[i] == 0:
            out[i] = prev
        else:
            prev = s[i]
    return out


def mlfinlab_bar_kyle(close, volume, window=20) -> np.ndarray:
    """``get_bar_based_kyle_lambda``: rolling mean of dp / (V sign(dp) padded) = mean |dp| / V."""
    close, volume = np.asarray(close, float), np.asarray(volume, float)
    d = _diff(close)
    return _rolling_mean_strict(d / (volume * _sign_pad(d)), window)


def mlfinlab_bar_amihud(close, dollar_volume, window=20) -> np.ndarray:
    """``get_bar_based_amihud_lambda``: rolling mean of |ln(c_t / c_{t-1})| / DV_t."""
    close, dv = np.asarray(close, float), np.asarray(dollar_volume, float)
    r = np.full(len(close), np.nan)
    r[1:] = np.abs(np.log(close[1:] / close[:-1]))
    return _rolling_mean_strict(r / dv, window)


def mlfinlab_bar_hasbrouck(close, dollar_volume, window=20) -> np.ndarray:
    """``get_bar_based_hasbrouck_lambda``: rolling mean of r / (sign(r) padded sqrt DV) = |r| / sqrt DV."""
    close, dv = np.asarray(close, float), np.asarray(dollar_volume, float)
    r = np.full(len(close), np.nan)
    r[1:] = np.log(close[1:] / close[:-1])
    return _rolling_mean_strict(r / (_sign_pad(r) * np.sqrt(dv)), window)


def mlfinlab_roll_autocov(close, window=20) -> np.ndarray:
    """``diff.rolling(window).cov(diff.shift(1))`` (ddof 1), NaN until ``window`` full pairs."""
    close = np.asarray(close, float)
    d = _diff(close)
    lag = np.concatenate([[np.nan], d[:-1]])
    out = np.full(len(close), np.nan)
    for i in range(window - 1, len(close)):
        a, b = d[i - window + 1: i + 1], lag[i - window + 1: i + 1]
        if np.isnan(a).any() or np.isnan(b).any():
            continue
        out[i] = np.sum((a - a.mean()) * (b - b.mean())) / (window - 1)
    return out


def mlfinlab_roll_measure(close, window=20) -> np.ndarray:
    """``get_roll_measure``: 2 sqrt(abs(autocov)) — a spread even when the autocovariance is > 0."""
    return 2.0 * np.sqrt(np.abs(mlfinlab_roll_autocov(close, window)))


def mlfinlab_roll_impact(close, dollar_volume, window=20) -> np.ndarray:
    return mlfinlab_roll_measure(close, window) / np.asarray(dollar_volume, float)


def _mlfinlab_beta_gamma(high, low, window):
    high, low = np.asarray(high, float), np.asarray(low, float)
    hl2 = np.log(high / low) ** 2
    two = np.full(len(high), np.nan)
    two[1:] = hl2[1:] + hl2[:-1]
    beta = _rolling_mean_strict(two, window)
    gamma = np.full(len(high), np.nan)
    gamma[1:] = np.log(np.maximum(high[1:], high[:-1]) / np.minimum(low[1:], low[:-1])) ** 2
    return beta, gamma


def mlfinlab_corwin_schultz(high, low, window=20) -> np.ndarray:
    beta, gamma = _mlfinlab_beta_gamma(high, low, window)
    den = 3 - 2 * 2 ** 0.5
    alpha = (2 ** 0.5 - 1) * beta ** 0.5 / den - (gamma / den) ** 0.5
    alpha[alpha < 0] = 0
    return 2 * (np.exp(alpha) - 1) / (1 + np.exp(alpha))


def mlfinlab_bekker_parkinson(high, low, window=20) -> np.ndarray:
    beta, gamma = _mlfinlab_beta_gamma(high, low, window)
    k2 = (8 / np.pi) ** 0.5
    den = 3 - 2 * 2 ** 0.5
    sigma = (2 ** -0.5 - 1) * beta ** 0.5 / (k2 * den) + (gamma / (k2 ** 2 * den)) ** 0.5
    sigma[sigma < 0] = 0
    return sigma


def _ols_origin(x, y):
    """mlfinlab ``get_betas`` through the origin: (coef, t)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    xx = x @ x
    coef = (x @ y) / xx
    resid = y - coef * x
    var = resid @ resid / (len(x) - 1) / xx
    return coef, coef / math.sqrt(var) if var > 0 else np.nan


def mlfinlab_trades_kyle(price_diff, volume, aggressor_flags):
    """``get_trades_based_kyle_lambda``: OLS through the origin of dp on b v -> (lambda, t)."""
    return _ols_origin(np.asarray(volume, float) * np.asarray(aggressor_flags, float), price_diff)


def mlfinlab_trades_hasbrouck(log_ret, dollar_volume, aggressor_flags):
    """``get_trades_based_hasbrouck_lambda``: OLS through the origin of **abs(r)** on b sqrt(DV)."""
    x = np.sqrt(np.asarray(dollar_volume, float)) * np.asarray(aggressor_flags, float)
    return _ols_origin(x, np.abs(np.asarray(log_ret, float)))


# Published values: mlfinlab tests/test_microstructural_features.py @ 59f1457, dollar_bar_sample.csv,
# window 20 (close, cum_vol, cum_dollar, high, low). (value, tolerance used upstream)
MLFINLAB_PUBLISHED = {
    "roll_measure": {"max": (7.1584, 1e-4), "mean": (2.341, 1e-3), "at25": (1.176, 1e-3)},
    "roll_impact": {"max": (1.022e-7, 1e-7), "mean": (3.3445e-8, 1e-7), "at25": (1.6807e-8, 1e-4)},
    "corwin_schultz": {"max": (0.01652, 1e-4), "mean": (0.00151602, 1e-4), "at25": (0.00139617, 1e-4)},
    "bekker_parkinson": {"max": (0.018773, 1e-4), "mean": (0.001456, 1e-4), "at25": (0.000517, 1e-4)},
    "kyle": {"max": (0.000163423, 1e-6), "mean": (7.02e-5, 1e-6), "at25": (7.76e-5, 1e-6)},
    "amihud": {"max": (4.057838e-11, 1e-13), "mean": (1.7213e-11, 1e-13), "at25": (1.8439e-11, 1e-13)},
    "hasbrouck": {"max": (3.39527e-7, 1e-10), "mean": (1.44037e-7, 1e-10), "at25": (1.5433e-7, 1e-10)},
}
