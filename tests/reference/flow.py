"""Pure-Python twin of the OFI kernels (ofi/_core/flow.pyx), written from the spec
(../shared/reference/microstructure.md §1-3, §7) with explicit case tables, not branch-free
arithmetic. Lists and floats only; slow on purpose.
"""
from __future__ import annotations

import math

INF = math.inf


def bid_flow(p, q, pp, pq, variant="cks"):
    if p > pp:
        return q
    if p == pp:
        return q - pq
    return -pq if variant == "cks" else -q


def ask_flow(p, q, pp, pq, variant="cks"):
    if p < pp:
        return q
    if p == pp:
        return q - pq
    return -pq if variant == "cks" else -q


def level_ofi(cur, prev, variant="cks"):
    """cur/prev = (bid_px, bid_qty, ask_px, ask_qty)."""
    return bid_flow(cur[0], cur[1], prev[0], prev[1], variant) - ask_flow(cur[2], cur[3], prev[2], prev[3], variant)


def _valid_l1(bp, bq, ap, aq):
    return (not math.isnan(bp) and not math.isnan(ap) and bp < ap and bq > 0 and aq > 0)


def ofi_events(bp, bq, ap, aq, variant="cks", reset=None):
    """Best-level e_n; NaN for chain starts and skipped (invalid) states."""
    out, prev = [], None
    for i in range(len(bp)):
        if reset is not None and reset[i]:
            prev = None
        cur = (float(bp[i]), float(bq[i]), float(ap[i]), float(aq[i]))
        if not _valid_l1(*cur):
            out.append(math.nan)
            continue
        out.append(math.nan if prev is None else level_ofi(cur, prev, variant))
        prev = cur
    return out


def _levels(bp, bq, ap, aq):
    """One state's M levels with the missing-level convention: [(bpx, bq, apx, aq), ...]."""
    lv = []
    for m in range(len(bp)):
        b_missing = math.isnan(bp[m]) or bq[m] == 0
        a_missing = math.isnan(ap[m]) or aq[m] == 0
        lv.append((-INF if b_missing else float(bp[m]), 0.0 if b_missing else float(bq[m]),
                   INF if a_missing else float(ap[m]), 0.0 if a_missing else float(aq[m])))
    return lv


def mlofi_events(bp, bq, ap, aq, variant="cks", reset=None):
    """(n, M) nested lists -> per-level e^m_n; rows NaN for chain starts and crossed states."""
    n, M = len(bp), len(bp[0])
    out, prev = [], None
    for i in range(n):
        if reset is not None and reset[i]:
            prev = None
        cur = _levels(bp[i], bq[i], ap[i], aq[i])
        if not cur[0][0] < cur[0][2]:
            out.append([math.nan] * M)
            continue
        out.append([math.nan] * M if prev is None else [level_ofi(cur[m], prev[m], variant) for m in range(M)])
        prev = cur
    return out


def _ceil_grid(t, width):
    return -(-t // width) * width


def intervals(ts, bp, bq, ap, aq, width, variant="cks", reset=None):
    """Fixed-interval aggregation. bp etc. are (n, M) nested lists; M == 1 uses the strict
    best-level validity. Returns a list of (end, [OFI^m], dmid, depth, n_events)."""
    n, M = len(bp), len(bp[0])
    strict = M == 1
    # valid states with their chain starts
    states = []
    prev_ok = False
    for i in range(n):
        if reset is not None and reset[i]:
            prev_ok = False
        cur = _levels(bp[i], bq[i], ap[i], aq[i])
        if strict:
            ok = _valid_l1(bp[i][0], bq[i][0], ap[i][0], aq[i][0])
            cur = [(float(bp[i][0]), float(bq[i][0]), float(ap[i][0]), float(aq[i][0]))] if ok else cur
        else:
            ok = cur[0][0] < cur[0][2]
        if not ok:
            continue
        states.append((int(ts[i]), cur, not prev_ok))
        prev_ok = True
    if not states:
        return []
    first_end = _ceil_grid(states[0][0], width)
    last_end = _ceil_grid(states[-1][0], width)
    out = []
    prev = None
    seg_mid = None   # mid at the start of the current chain segment inside the interval
    last_mid = None
    done = 0.0
    j = 0
    end = first_end
    while end <= last_end:
        ofi = [0.0] * M
        depth, cnt = 0.0, 0
        while j < len(states) and states[j][0] <= end:
            t, cur, start = states[j]
            mid = 0.5 * (cur[0][0] + cur[0][2])
            if start:
                if last_mid is not None:
                    done += last_mid - seg_mid
                seg_mid = mid
            else:
                for m in range(M):
                    ofi[m] += level_ofi(cur[m], prev[m], variant)
                depth += sum(cur[m][1] + cur[m][3] for m in range(M)) / (2.0 * M)
                cnt += 1
            last_mid = mid
            prev = cur
            j += 1
        dmid = done + (last_mid - seg_mid)
        out.append((end, ofi, dmid, depth / cnt if cnt else math.nan, cnt))
        done = 0.0
        seg_mid = last_mid
        end += width
    return out


class RefCalculator:
    """Best-level streaming twin of ``OrderFlowCalculator`` fed (ts, bp, bq, ap, aq, reset)."""

    def __init__(self, interval, windows=(), zscore_window=100, variant="cks"):
        self.interval = interval
        self.windows = tuple(windows)
        self.zscore_window = zscore_window
        self.variant = variant
        self.prev = None
        self.events = []            # (ts, e) of the current chain (windows reset at a break)
        self.all_e = []
        self.closed = []            # closed interval OFIs
        self.end = None
        self.acc = 0.0
        self.last_ts = None

    def update(self, ts, bp, bq, ap, aq, reset=False):
        if not _valid_l1(bp, bq, ap, aq):
            return None
        if self.last_ts is not None and ts < self.last_ts:
            ts = self.last_ts
        self.last_ts = ts
        if self.end is None:
            self.end = _ceil_grid(ts, self.interval)
        while ts > self.end:
            self.closed.append(self.acc)
            self.acc = 0.0
            self.end += self.interval
        cur = (bp, bq, ap, aq)
        if reset or self.prev is None:
            if self.prev is not None:
                self.events = []
            self.prev = cur
            return None
        e = level_ofi(cur, self.prev, self.variant)
        self.prev = cur
        self.acc += e
        self.events.append((ts, e))
        self.all_e.append(e)
        return e

    def window(self, width):
        if not self.events:
            return None
        t = self.last_ts
        return math.fsum(e for s, e in self.events if s > t - width)

    def cumulative(self):
        return math.fsum(self.all_e) if self.all_e else None

    def z_score(self, n):
        if len(self.closed) < n:
            return None
        w = self.closed[-n:]
        mean = math.fsum(w) / n
        var = math.fsum((x - mean) ** 2 for x in w) / (n - 1)
        if var <= 1e-24 * mean * mean or var == 0:
            return None
        return (w[-1] - mean) / math.sqrt(var)
