"""Reference VPIN: the executable specification of ``ofi._core.vpin`` / ``ofi.orderflow.vpin``.

Written from /work/shared/reference/microstructure.md section 4 (normative edge cases in 4.6) and
the clean-room code of section 7 (``tick_rule``, ``vpin_elo``, ``empirical_cdf``), with scipy's
``norm`` / ``t`` CDFs. Plain Python loops and lists, no running sums: every VPIN value is a fresh
sum over its window, so the compiled kernel's ring and its periodic recomputation are checked
independently.

* :func:`vpin_elo` - section 7's function for time bars, with the section 4.6 rules made explicit
  (empty bars dropped before dP, eps = 1e-9 V for float volumes, sigma undefined with < 2 changes);
  returns the original row index of the bar completing each bucket.
* :func:`bucketize` - the same bucketing for any rows with a buy fraction each (aggressor, tick).
* :func:`tick_fractions`, :func:`bvc_fractions` - the classifiers.
* :func:`empirical_cdf` (section 7, whole sample) and :func:`expanding_cdf` (past values only).
* :class:`RefVpinCalculator` - a streaming twin, the pure-Python benchmark baseline.
* :func:`vpin_numpy` - a vectorised numpy formulation (cumulative volume + interpolation at the
  bucket boundaries), the numpy benchmark baseline.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm, t as student_t

__all__ = [
    "EPS_REL",
    "tick_rule",
    "tick_fractions",
    "bvc_fractions",
    "bucketize",
    "vpin_elo",
    "empirical_cdf",
    "expanding_cdf",
    "RefVpinCalculator",
    "vpin_numpy",
]

EPS_REL = 1e-9  # a bucket within 1e-9 V of V is complete (float volumes, section 4.6)


# ---------------------------------------------------------------------------- classification
def tick_rule(p, b0=0.0):
    """Section 7: b_t = sign(p_t - p_{t-1}) if nonzero, else b_{t-1}; b before any change = b0."""
    b = np.empty(len(p))
    prev = b0
    for i in range(len(p)):
        if i > 0 and p[i] != p[i - 1]:
            prev = 1.0 if p[i] > p[i - 1] else -1.0
        b[i] = prev
    return b


def tick_fractions(p):
    """Buy fraction (b + 1) / 2 by the tick rule; 0.5 before the first price change."""
    return (tick_rule(p, 0.0) + 1.0) / 2.0


def bvc_fractions(price, volume, sigma=None, sigma_window=None, df=None):
    """Bulk volume classification of time bars (eq. 7).

    Returns ``(rows, frac, sigma_used)``: the original indices of the classified bars and their buy
    fractions. Empty bars are dropped before dP (their price is stale); the first non-empty bar has
    no dP. ``sigma=None`` and no window: full-sample std of dP, ddof=1 (NaN with < 2 changes: no
    bar is classified). ``sigma_window=w``: std (ddof=1) of the w changes before each bar; bars
    before w changes exist are not classified. dP = 0 -> 0.5; dP != 0 with sigma = 0 -> 1 or 0.
    """
    price = np.asarray(price, float)
    volume = np.asarray(volume, float)
    kept = [i for i in range(len(volume)) if volume[i] > 0]
    dps = [(kept[j], price[kept[j]] - price[kept[j - 1]]) for j in range(1, len(kept))]
    cdf = norm.cdf if df is None else (lambda z: student_t.cdf(z, df))
    sigma_used = math.nan
    rows, frac = [], []
    if sigma_window is None:
        if sigma is None:
            d = np.array([dp for _, dp in dps])
            sigma = float(np.std(d, ddof=1)) if len(d) >= 2 else math.nan
        sigma_used = sigma
        if math.isnan(sigma):
            return np.array(rows, dtype=np.int64), np.array(frac), sigma_used
        sig = [sigma] * len(dps)
        first = 0
    else:
        w = sigma_window
        d = [dp for _, dp in dps]
        sig = [None] * w + [float(np.std(d[j - w:j], ddof=1)) for j in range(w, len(d))]
        first = w
    for j in range(first, len(dps)):
        i, dp = dps[j]
        s = sig[j]
        if dp == 0:
            f = 0.5                       # Z(0/0) := 0.5
        elif s > 0:
            f = float(cdf(dp / s))
        else:
            f = 1.0 if dp > 0 else 0.0
        rows.append(i)
        frac.append(f)
    return np.array(rows, dtype=np.int64), np.array(frac, dtype=float), sigma_used


# ---------------------------------------------------------------------------- buckets
def bucketize(volumes, fractions, V, n, rows=None):
    """Fill buckets of volume V with rows (volume, buy fraction); overflow carried to the next
    bucket(s). Returns a dict of lists: buy, sell, imbalance, vpin, end_index, and progress.

    VPIN of bucket k >= n-1 = sum(imbalance[k-n+1..k]) / sum(bucket volume[k-n+1..k]), summed
    afresh; NaN before. The last incomplete bucket is excluded.
    """
    eps = EPS_REL * V
    buy, sell, vol, end = [], [], [], []
    cur_v = cur_b = 0.0
    for i, (v, f) in enumerate(zip(volumes, fractions)):
        rem = float(v)
        f = float(f)
        while rem > 0:
            take = min(rem, V - cur_v)
            cur_v += take
            cur_b += f * take
            rem -= take
            if cur_v >= V - eps:
                buy.append(cur_b)
                sell.append(cur_v - cur_b)
                vol.append(cur_v)
                end.append(i if rows is None else int(rows[i]))
                cur_v = cur_b = 0.0
    imb = [abs(s - b) for s, b in zip(sell, buy)]
    vpin = []
    for k in range(len(imb)):
        if k + 1 < n:
            vpin.append(math.nan)
        else:
            r = sum(imb[k - n + 1:k + 1]) / sum(vol[k - n + 1:k + 1])
            vpin.append(min(max(r, 0.0), 1.0))
    return {"buy": buy, "sell": sell, "imbalance": imb, "vpin": vpin, "end_index": end,
            "volume": vol, "progress": cur_v / V}


def vpin_elo(prices, volumes, V, n, sigma=None, df=None):
    """Section 7's ``vpin_elo`` (time bars -> completed buckets) with the 4.6 rules: empty bars are
    dropped before dP, bar 0 has no dP, overflow is carried, a bucket closes at V - eps.

    Returns ``(end_row, VB, VS, vpin)`` with ``end_row`` the original index of the completing bar.
    The denominator is n V as printed in eq. (9).
    """
    prices = np.asarray(prices, float)
    volumes = np.asarray(volumes, float)
    keep = np.flatnonzero(volumes > 0)
    p, vv_all = prices[keep], volumes[keep]
    dp = np.diff(p)
    vv = vv_all[1:]
    if sigma is None:
        sigma = np.std(dp, ddof=1)
    z = dp / sigma if sigma > 0 else np.zeros_like(dp)
    frac = norm.cdf(z) if df is None else student_t.cdf(z, df)
    eps = EPS_REL * V
    VB, VS, end_bar = [], [], []
    cur_v = cur_b = 0.0
    for i in range(len(dp)):
        rem = vv[i]
        while rem > 0:
            take = min(rem, V - cur_v)
            cur_v += take
            cur_b += frac[i] * take
            rem -= take
            if cur_v >= V - eps:
                VB.append(cur_b)
                VS.append(V - cur_b)
                end_bar.append(keep[i + 1])
                cur_v = cur_b = 0.0
    OI = np.abs(np.array(VS) - np.array(VB))
    vpin = np.full(len(OI), np.nan)
    if len(OI) >= n:
        cs = np.concatenate([[0.0], np.cumsum(OI)])
        vpin[n - 1:] = (cs[n:] - cs[:-n]) / (n * V)
    return np.array(end_bar, dtype=np.int64), np.array(VB), np.array(VS), vpin


# ---------------------------------------------------------------------------- CDF
def empirical_cdf(x):
    """Section 7: ELO's CDF(VPIN) over the whole sample (look-ahead)."""
    x = np.asarray(x, float)
    ok = ~np.isnan(x)
    s = np.sort(x[ok])
    out = np.full(len(x), np.nan)
    out[ok] = np.searchsorted(s, x[ok], side="right") / len(s)
    return out


def expanding_cdf(x):
    """CDF of x[i] among the non-NaN x[0..i] (itself included): no look-ahead."""
    out = []
    seen = []
    for v in x:
        if math.isnan(v):
            out.append(math.nan)
            continue
        seen.append(v)
        out.append(sum(1 for s in seen if s <= v) / len(seen))
    return np.array(out, dtype=float)


# ---------------------------------------------------------------------------- streaming twin
class RefVpinCalculator:
    """Streaming VPIN in plain Python: what a user would write without ofi.

    ``add_trade(trade)`` reads ``trade.size`` and ``trade.side`` (aggressor classification) and
    returns the new VPIN once a bucket completes and n buckets exist, else None. A list is the
    ring of imbalances; the VPIN is a fresh ``sum`` over it.
    """

    def __init__(self, bucket_volume, n_buckets):
        self.V = float(bucket_volume)
        self.n = int(n_buckets)
        self.eps = EPS_REL * self.V
        self.cur_v = 0.0
        self.cur_b = 0.0
        self.imb = []
        self.vol = []
        self.buckets = 0
        self.vpin = math.nan

    def add(self, volume, buy_fraction):
        rem = volume
        done = False
        while rem > 0:
            take = min(rem, self.V - self.cur_v)
            self.cur_v += take
            self.cur_b += buy_fraction * take
            rem -= take
            if self.cur_v >= self.V - self.eps:
                self.imb.append(abs(self.cur_v - 2.0 * self.cur_b))
                self.vol.append(self.cur_v)
                if len(self.imb) > self.n:
                    del self.imb[0]
                    del self.vol[0]
                self.buckets += 1
                self.cur_v = self.cur_b = 0.0
                done = True
        if done and self.buckets >= self.n:
            self.vpin = min(1.0, sum(self.imb) / sum(self.vol))
            return self.vpin
        return None

    def add_trade(self, trade):
        return self.add(trade.size, 1.0 if trade.side > 0 else 0.0)


# ---------------------------------------------------------------------------- numpy baseline
def vpin_numpy(volume, buy_fraction, V, n):
    """Vectorised VPIN: buy volume at each bucket boundary k V by linear interpolation of the
    cumulative buy volume within the row that crosses it. Returns (buy, sell, vpin, end_index).
    Equal to :func:`bucketize` up to rounding of the cumulative sums (about 1e-16 of the total)."""
    volume = np.asarray(volume, float)
    frac = np.asarray(buy_fraction, float)
    cv = np.cumsum(volume)
    cb = np.cumsum(volume * frac)
    eps = EPS_REL * V
    total = cv[-1] if cv.size else 0.0
    k = int((total + eps) // V)
    bounds = V * np.arange(1, k + 1)
    j = np.searchsorted(cv, bounds - eps, side="left")
    j = np.minimum(j, len(cv) - 1)
    prev_v = np.where(j > 0, cv[j - 1], 0.0)
    prev_b = np.where(j > 0, cb[j - 1], 0.0)
    b_at = prev_b + frac[j] * np.clip(bounds - prev_v, 0.0, None)
    buy = np.diff(b_at, prepend=0.0)
    sell = V - buy
    oi = np.abs(sell - buy)
    vp = np.full(k, np.nan)
    if k >= n:
        cs = np.concatenate([[0.0], np.cumsum(oi)])
        vp[n - 1:] = (cs[n:] - cs[:-n]) / (n * V)
    return buy, sell, vp, j
