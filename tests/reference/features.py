"""Reference feature engine: the executable specification of ``ofi.features.FeatureEngine``.

Written from ``ofi/features/registry.py`` (its module docstring and ``feature_specs``) and the
processing details fixed for the kernel (event time, clock, bar grid, warm-up, resets). Plain
Python on lists: every time window is summed afresh with ``math.fsum`` over the entries it holds
at read time and every bar window is recomputed from its values when it is read, so the kernel's
running sums and rings are checked independently. Only the EMAs, Wilder's RSI and the cumulative
OFI are recurrences, as defined. numpy serves the trade-size quantile (``np.quantile``, linear
interpolation) and the L x L covariance and power iteration of the integrated-OFI weights. VPIN
comes from the VPIN twin (``reference.vpin.RefVpinCalculator``).

* :class:`ReferenceFeatureEngine` - ``update_orderbook(book)``, ``update_trade(trade)``,
  ``extract(book)`` (75 floats in ``feature_names(config)`` order) and ``run_tape(tape, tick_size)``.
* Prices inside are ticks (floats), sizes base units, times int ns; ``mid_price`` alone is in
  price units (ticks * tick size). Trade prices are ``trade.price_ticks``.

Readings of the registry this twin fixes (the kernel agrees):

* Entries (states, trades, activity) are stamped with the clock after their event, ``now``.
* While the last book message left the book invalid, every feature read from book states is NaN:
  the order-flow, volatility and spread families, and also Kyle's lambda and its t, Amihud and the
  indicators (bar statistics of the mid); VWAP deviation and last-trade offset need the mid too.
  Trade-only features (VPIN, Roll, trade flow) and activity are not affected.
* The L-level book-shape features (slopes, VAMP, weighted mid, level gaps) are NaN when a side
  holds fewer than L levels, like ``depth_*_L``.
* The integrated-OFI weights are recomputed at every bar close once ``pca_min_bars`` vectors
  exist, empty bars of a multi-bar step included.
* Kyle's t is NaN when the residuals are exactly 0 (an exact fit), the slope when x is constant;
  the Roll covariance is computed exactly on the integer tick changes.
"""
from __future__ import annotations

import math
from bisect import bisect_right
from collections import deque

import numpy as np

from ofi.features.config import FeatureConfig
from ofi.features.registry import feature_names, horizon_label
from reference.vpin import RefVpinCalculator

__all__ = ["ReferenceFeatureEngine", "TOXICITY_WEIGHTS", "book_event_time", "trade_event_time"]

NAN = math.nan
INF = math.inf
NS = 1_000_000_000
TOXICITY_WEIGHTS = (0.30, 0.20, 0.15, 0.10, 0.15, 0.10)
POWER_ITERATIONS = 20
MIN_LARGE_HISTORY = 20      # earlier sizes before a trade is judged large
MIN_CDF_VALUES = 20         # VPIN values before vpin_cdf is defined


def book_event_time(book) -> int:
    return book.ts_local if book.ts_local != 0 else book.ts_exch


def trade_event_time(trade) -> int:
    return trade.ts_local if trade.ts_local != 0 else trade.ts_exch


def latency_ms(ts_local: int, ts_exch: int) -> float:
    """ts_local - ts_exch in ms, NaN unless both are known."""
    if ts_local != 0 and ts_exch != 0:
        return (ts_local - ts_exch) / 1e6
    return NAN


def book_is_valid(book) -> bool:
    return bool(book.ready and book.n_bids > 0 and book.n_asks > 0)


def padded_levels(book, L):
    """The top L levels as float lists, a missing bid -inf / ask +inf with size 0."""
    bt, bs, at, as_ = book.top_levels(L)
    bp = [float(x) for x in bt] + [-INF] * (L - len(bt))
    bq = [float(x) for x in bs] + [0.0] * (L - len(bs))
    ap = [float(x) for x in at] + [INF] * (L - len(at))
    aq = [float(x) for x in as_] + [0.0] * (L - len(as_))
    return bp, bq, ap, aq, len(bt), len(at)


def level_ofi(p_b, q_b, pp_b, pq_b, p_a, q_a, pp_a, pq_a):
    """Cont, Kukanov & Stoikov's e between two states at one level (prices in ticks)."""
    w = (q_b if p_b >= pp_b else 0.0) - (pq_b if p_b <= pp_b else 0.0)
    v = (q_a if p_a <= pp_a else 0.0) - (pq_a if p_a >= pp_a else 0.0)
    return w - v


def mean(xs):
    return math.fsum(xs) / len(xs)


def sample_sd(xs):
    """Standard deviation, ddof 1 (two passes)."""
    m = mean(xs)
    return math.sqrt(math.fsum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def zscore_of_last(xs):
    """(x_last - mean) / sd (ddof 1) of a window, NaN when sd is 0. Computed on x - x_0: prices of
    ~1e6 ticks would otherwise lose ~1e-10 in the rounded mean; half ticks stay exact."""
    x0 = xs[0]
    d = [x - x0 for x in xs]
    sd = sample_sd(d)
    return (d[-1] - mean(d)) / sd if sd > 0 else NAN


def ratio(num, den):
    """num / den, NaN when den is 0 or either is NaN."""
    if den == 0 or math.isnan(den) or math.isnan(num):
        return NAN
    return num / den


class _State:
    """One valid book state: what the book-history windows and bars read."""

    __slots__ = ("ts", "mid", "spread", "e", "r", "depth1", "Q")

    def __init__(self, ts, mid, spread, e, r, depth1, Q):
        self.ts = ts
        self.mid = mid          # ticks
        self.spread = spread    # ticks
        self.e = e              # level OFIs e^1..e^L
        self.r = r              # bps, 1e4 ln(m / m_prev)
        self.depth1 = depth1    # (q^b_1 + q^a_1) / 2
        self.Q = Q              # sum_i (q^b_i + q^a_i) / (2 L)


class ReferenceFeatureEngine:
    """Streaming feature engine in plain Python (see the module docstring).

    Parameters
    ----------
    config : ofi.features.config.FeatureConfig, optional
        Default ``FeatureConfig()``.
    """

    def __init__(self, config=None):
        c = config or FeatureConfig()
        self.config = c
        self.names = feature_names(c)
        hl = [horizon_label(x) for x in c.horizons]
        self.tox_names = (f"ofi_zscore_{hl[1]}", f"depth_imbalance_{c.depth_levels[1]}", f"trade_imbalance_{hl[2]}")
        self.L = c.orderbook_levels
        self.depth_levels = c.depth_levels
        self.h_ns = c.horizons_ns
        self.h_s = tuple(h / NS for h in self.h_ns)
        self.bar_ns = c.bar_ns
        self.max_bar_closes = max(1000, 2 * max(c.zscore_bars, c.impact_bars, c.vol_bars, c.ema_slow,
                                                c.rsi_period + 1, c.bollinger_period, c.momentum_long + 1))
        # clock
        self.start = None           # first event time (any kind)
        self.now = None
        self.bar_end = None
        # book history (current epoch)
        self.book_valid = False
        self.epoch = None
        self.states: list[_State] = []
        self.state_ts: list[int] = []
        self.hist_start = None
        self.prev_levels = None     # padded levels of the previous state
        self.ofi_cumulative = 0.0
        self.last_book_time = None
        self.levels_seen = 0        # book.levels_applied at the previous book event
        # open bar
        self.bar_states: list[_State] = []
        self.bar_volume = 0.0
        self.bar_signed = 0.0
        # bar statistics that read the mid (reset with the history)
        self._reset_bar_statistics()
        # integrated-OFI weights (kept across history restarts)
        self.pca_vectors: list[list[float]] = []
        self.pca_start = np.ones(self.L)
        self.pca_cov = None
        self.pca_cov_n = 0
        self.pca_weights = None     # None before pca_min_bars vectors; NaN array when C w vanished
        # trades
        self.trades: list[tuple[int, float, int, float]] = []   # (ts, size, side, price ticks)
        self.trade_ts: list[int] = []
        self.last_trade_price = None
        self.last_trade_time = None
        self.sizes = deque(maxlen=c.history_window)
        self.large = deque(maxlen=c.large_trade_horizon)
        self.large_evaluated = False
        self.vpin = RefVpinCalculator(c.vpin_bucket_size, c.vpin_num_buckets)
        self.vpin_history = deque(maxlen=c.history_window)
        self.prev_trade_price = None
        self.prev_dp = None
        self.roll_pairs = deque(maxlen=c.roll_window)
        # activity: (ts, is_book, levels, latency ms)
        self.activity: list[tuple[int, bool, int, float]] = []
        self.activity_ts: list[int] = []
        self.last_latency = NAN

    def _reset_bar_statistics(self):
        c = self.config
        self.prev_close = None
        self.bar_ofis = deque(maxlen=c.zscore_bars)
        self.kyle_pairs = deque(maxlen=c.impact_bars)
        self.amihud_values = deque(maxlen=c.impact_bars)
        self.parkinson_values = deque(maxlen=c.vol_bars)
        self.closes: list[float] = []           # every close of the history (Bollinger, momentum)
        self.ema_fast = None                    # EMAs seeded with the first close
        self.ema_slow = None
        self.rsi_changes = 0                    # close changes seen, and Wilder's smoothed gain / loss
        self.rsi_gains: list[float] = []
        self.rsi_losses: list[float] = []
        self.rsi_gain = NAN
        self.rsi_loss = NAN

    # ------------------------------------------------------------------ clock and bars
    def _advance(self, t):
        """Move the clock to t and close the bars that ended before it."""
        if self.start is None:
            if t == 0:                  # an event with neither time does not start the clock
                self.now = 0
                return
            self.start = t
            self.now = t
            self.bar_end = -(-t // self.bar_ns) * self.bar_ns
            if self.hist_start is not None:
                self.hist_start = t     # a history begun by such an event starts with the clock
        self.now = max(self.now, t)
        if self.now > self.bar_end:
            k = (self.now - self.bar_end - 1) // self.bar_ns + 1
            for j in range(min(k, self.max_bar_closes)):
                self._close_bar(first=(j == 0))
            self.bar_end += k * self.bar_ns

    def _close_bar(self, first):
        bar_states = self.bar_states if first else []
        volume = self.bar_volume if first else 0.0
        signed = self.bar_signed if first else 0.0
        if self.states:
            L = self.L
            close = self.states[-1].mid
            bar_ofi_levels = [math.fsum(s.e[i] for s in bar_states) for i in range(L)]
            self.bar_ofis.append(bar_ofi_levels[0])
            if bar_states:
                Q_bar = mean([s.Q for s in bar_states])
                if Q_bar > 0:
                    self.pca_vectors.append([x / Q_bar for x in bar_ofi_levels])
            if self.prev_close is not None:
                R = 1e4 * math.log(close / self.prev_close)
                self.kyle_pairs.append((signed, R))
                if volume > 0:
                    self.amihud_values.append(abs(R) / volume)
                self._rsi_push(close - self.prev_close)
                mids = [self.prev_close] + [s.mid for s in bar_states]
                self.parkinson_values.append(math.log(max(mids) / min(mids)) ** 2)
            self.closes.append(close)
            self.ema_fast = ema_push(self.ema_fast, close, self.config.ema_fast)
            self.ema_slow = ema_push(self.ema_slow, close, self.config.ema_slow)
            self.prev_close = close
        self.bar_volume = 0.0
        self.bar_signed = 0.0
        self.bar_states = []
        if len(self.pca_vectors) >= self.config.pca_min_bars:
            self._update_pca_weights()

    def _rsi_push(self, d):
        """Wilder: a plain mean of the first ``period`` gains / losses, then (x + (P - 1) avg) / P."""
        P = self.config.rsi_period
        gain, loss = max(d, 0.0), max(-d, 0.0)
        self.rsi_changes += 1
        if self.rsi_changes <= P:
            self.rsi_gains.append(gain)
            self.rsi_losses.append(loss)
            if self.rsi_changes == P:
                self.rsi_gain = mean(self.rsi_gains)
                self.rsi_loss = mean(self.rsi_losses)
        else:
            self.rsi_gain = (gain + (P - 1) * self.rsi_gain) / P
            self.rsi_loss = (loss + (P - 1) * self.rsi_loss) / P

    def _update_pca_weights(self):
        if self.pca_cov_n != len(self.pca_vectors):     # the covariance changes only with a new vector
            X = np.array(self.pca_vectors)
            self.pca_cov = np.cov(X, rowvar=False, ddof=1)
            self.pca_cov_n = len(self.pca_vectors)
        C = self.pca_cov
        w = self.pca_start.copy()
        for _ in range(POWER_ITERATIONS):
            v = C @ w
            m = np.max(np.abs(v))
            if not m > 0:
                self.pca_weights = np.full(self.L, NAN)
                return
            w = v / m
        if w.sum() < 0:
            w = -w
        w = w / np.abs(w).sum()
        self.pca_start = w
        self.pca_weights = w

    def _push_activity(self, is_book, levels, lat):
        self.activity.append((self.now, is_book, levels, lat))
        self.activity_ts.append(self.now)
        self.last_latency = lat
        self._forget()

    def _forget(self, slack=4096):
        """Drop entries no window can read any more (in blocks of ``slack``, to keep long replays
        in bounded memory): states before the one at or before now - h3 and outside the spread
        window, trades older than h2, activity older than max(h1, h2)."""
        h = self.h_ns
        i = min(bisect_right(self.state_ts, self.now - h[3]) - 1, len(self.states) - self.config.spread_window,
                len(self.states) - 2)
        if i > slack:
            del self.states[:i]
            del self.state_ts[:i]
        i = bisect_right(self.trade_ts, self.now - max(h[:3]))
        if i > slack:
            del self.trades[:i]
            del self.trade_ts[:i]
        i = bisect_right(self.activity_ts, self.now - max(h[1], h[2]))
        if i > slack:
            del self.activity[:i]
            del self.activity_ts[:i]

    # ------------------------------------------------------------------ events
    def update_orderbook(self, book):
        """Take the book after a book message (applied or not)."""
        self._advance(book_event_time(book))
        valid = book_is_valid(book)
        if valid:
            if book.epoch != self.epoch:
                self._restart_history(book.epoch)
            self._push_state(book)
        self.book_valid = valid
        if self.start is not None:           # a book message without any time has no "when"
            self.last_book_time = self.now
        levels = book.levels_applied - self.levels_seen
        self.levels_seen = book.levels_applied
        self._push_activity(True, levels, latency_ms(book.ts_local, book.ts_exch))

    def _restart_history(self, epoch):
        self.epoch = epoch
        self.states = []
        self.state_ts = []
        self.hist_start = self.now
        self.prev_levels = None
        self.ofi_cumulative = 0.0
        self.bar_states = []
        self._reset_bar_statistics()

    def _push_state(self, book):
        L = self.L
        bp, bq, ap, aq, _, _ = padded_levels(book, L)
        mid = (bp[0] + ap[0]) / 2.0
        prev = self.prev_levels
        if prev is None:
            e = [0.0] * L
            r = 0.0
        else:
            pbp, pbq, pap, paq = prev
            e = [level_ofi(bp[i], bq[i], pbp[i], pbq[i], ap[i], aq[i], pap[i], paq[i]) for i in range(L)]
            r = 1e4 * math.log(mid / self.states[-1].mid)
        Q = math.fsum(bq[i] + aq[i] for i in range(L)) / (2 * L)
        s = _State(self.now, mid, ap[0] - bp[0], e, r, (bq[0] + aq[0]) / 2.0, Q)
        self.states.append(s)
        self.state_ts.append(self.now)
        self.bar_states.append(s)
        self.prev_levels = (bp, bq, ap, aq)
        self.ofi_cumulative += e[0]

    def update_trade(self, trade):
        """Take one public trade."""
        self._advance(trade_event_time(trade))
        c = self.config
        size = float(trade.size)
        side = 1 if trade.side > 0 else -1
        price = int(trade.price_ticks)
        self.trades.append((self.now, size, side, float(price)))
        self.trade_ts.append(self.now)
        self.bar_volume += size
        self.bar_signed += side * size
        if len(self.sizes) >= MIN_LARGE_HISTORY:
            q = float(np.quantile(np.array(self.sizes), c.large_trade_quantile))
            self.large.append(size > q)
            self.large_evaluated = True
        self.sizes.append(size)
        v = self.vpin.add(size, 1.0 if side > 0 else 0.0)
        if v is not None and not math.isnan(v):
            self.vpin_history.append(v)
        if self.prev_trade_price is not None:
            dp = price - self.prev_trade_price
            if self.prev_dp is not None:
                self.roll_pairs.append((self.prev_dp, dp))
            self.prev_dp = dp
        self.prev_trade_price = price
        self.last_trade_price = float(price)
        self.last_trade_time = self.now
        self._push_activity(False, 0, latency_ms(trade.ts_local, trade.ts_exch))

    # ------------------------------------------------------------------ windows
    def _window(self, ts_list, items, h_ns):
        """Entries stamped in (now - h, now]."""
        return items[bisect_right(ts_list, self.now - h_ns):]

    def _history_warm(self, h_ns):
        return self.book_valid and self.now - self.hist_start >= h_ns

    def _engine_warm(self, h_ns):
        return self.start is not None and self.now - self.start >= h_ns

    def _state_at(self, ts):
        """The last state stamped at or before ts."""
        i = bisect_right(self.state_ts, ts)
        return self.states[i - 1] if i > 0 else None

    # ------------------------------------------------------------------ features
    def extract(self, book):
        """The feature vector after the events so far (float64, ``feature_names`` order)."""
        out = self._book_shape(book)
        out += self._order_flow()
        out += self._trade_flow()
        out += self._toxicity(out)
        out += self._volatility()
        out += self._spread_dynamics()
        out += self._indicators()
        out += self._activity()
        assert len(out) == len(self.names), (len(out), len(self.names))
        return np.array(out, dtype=np.float64)

    def _book_shape(self, book):
        L = self.L
        n_out = 4 + 6 + 3 + 7
        if not book_is_valid(book):
            return [NAN] * n_out
        bp, bq, ap, aq, nb, na = padded_levels(book, L)
        m = (bp[0] + ap[0]) / 2.0
        spread = ap[0] - bp[0]
        out = [m * book.tick_size, spread, 1e4 * spread / m]
        mp = (bp[0] * aq[0] + ap[0] * bq[0]) / (bq[0] + aq[0])
        out.append(1e4 * (mp - m) / m)

        def depth(q, n, k):
            return math.fsum(q[:k]) if n >= k else NAN

        for k in self.depth_levels:
            out += [depth(bq, nb, k), depth(aq, na, k)]
        for k in self.depth_levels:
            db, da = depth(bq, nb, k), depth(aq, na, k)
            out.append(ratio(db - da, db + da))
        full = nb >= L and na >= L
        if full:
            db, da = math.fsum(bq), math.fsum(aq)
            slope_b = ratio(db, 1e4 * (m - bp[L - 1]) / m)
            slope_a = ratio(da, 1e4 * (ap[L - 1] - m) / m)
            log_ratio = math.log(slope_b / slope_a) if slope_b > 0 and slope_a > 0 else NAN
            vamp = (math.fsum(bp[i] * aq[i] for i in range(L)) + math.fsum(ap[i] * bq[i] for i in range(L))) / (da + db)
            vwap_b = math.fsum(bp[i] * bq[i] for i in range(L)) / db
            vwap_a = math.fsum(ap[i] * aq[i] for i in range(L)) / da
            wmid = (vwap_b + vwap_a) / 2.0
            out += [slope_b, slope_a, log_ratio, 1e4 * (vamp - m) / m, 1e4 * (wmid - m) / m,
                    (bp[0] - bp[L - 1]) / (L - 1), (ap[L - 1] - ap[0]) / (L - 1)]
        else:
            out += [NAN] * 7
        return out

    def _order_flow(self):
        c = self.config
        L = self.L
        h = self.h_ns
        out = []
        ofi_h = []
        for hk in h:
            if self._history_warm(hk):
                ofi_h.append(math.fsum(s.e[0] for s in self._window(self.state_ts, self.states, hk)))
            else:
                ofi_h.append(NAN)
        out += ofi_h
        valid = self.book_valid
        out.append(self.states[-1].e[0] if valid and len(self.states) >= 2 else NAN)
        out.append(self.ofi_cumulative if valid else NAN)
        # OFI z-scores from the bar OFIs
        for j in (0, 1):
            z = NAN
            if not math.isnan(ofi_h[j]) and len(self.bar_ofis) == c.zscore_bars:
                mu = mean(self.bar_ofis)
                sigma = sample_sd(self.bar_ofis)
                n = h[j] / self.bar_ns
                if sigma > 0:
                    z = (ofi_h[j] - n * mu) / (sigma * math.sqrt(n))
            out.append(z)
        # level-normalised flows over h1
        if self._history_warm(h[1]):
            win = self._window(self.state_ts, self.states, h[1])
            levels = [math.fsum(s.e[i] for s in win) for i in range(L)]
            depth1 = mean([s.depth1 for s in win]) if win else NAN
            Q = mean([s.Q for s in win]) if win else NAN
            mlofi = math.fsum(levels)
            w = self.pca_weights
            if w is None or math.isnan(Q):
                integrated = NAN
            else:
                integrated = ratio(math.fsum(float(w[i]) * levels[i] for i in range(L)), Q)
            out += [ratio(ofi_h[1], depth1), mlofi, ratio(mlofi, L * Q), integrated]
        else:
            out += [NAN] * 4
        return out

    def _trade_window(self, hk):
        return self._window(self.trade_ts, self.trades, hk)

    def _current_mid(self):
        return self.states[-1].mid if self.book_valid else NAN

    def _trade_flow(self):
        h = self.h_ns
        out = []
        for hk in (h[0], h[1], h[2]):
            if self._engine_warm(hk):
                out.append(math.fsum(side * size for _, size, side, _ in self._trade_window(hk)))
            else:
                out.append(NAN)
        for hk in (h[1], h[2]):
            if self._engine_warm(hk):
                win = self._trade_window(hk)
                signed = math.fsum(side * size for _, size, side, _ in win)
                volume = math.fsum(size for _, size, _, _ in win)
                out.append(ratio(signed, volume))
            else:
                out.append(NAN)
        for hk in (h[1], h[2]):
            out.append(float(len(self._trade_window(hk))) if self._engine_warm(hk) else NAN)
        out.append(len(self._trade_window(h[1])) / self.h_s[1] if self._engine_warm(h[1]) else NAN)
        if self._engine_warm(h[2]):
            win = self._trade_window(h[2])
            out.append(ratio(math.fsum(size for _, size, _, _ in win), len(win)))
        else:
            out.append(NAN)
        if self.large_evaluated:
            out.append(1.0 if any(self.large) else 0.0)
        else:
            out.append(NAN)
        m = self._current_mid()
        if self._engine_warm(h[2]):
            win = self._trade_window(h[2])
            vwap = ratio(math.fsum(p * size for _, size, _, p in win), math.fsum(size for _, size, _, _ in win))
            out.append(1e4 * (m - vwap) / vwap)
        else:
            out.append(NAN)
        if self.last_trade_price is not None:
            out.append(1e4 * (self.last_trade_price - m) / m)
            out.append((self.now - self.last_trade_time) / NS)
        else:
            out += [NAN, NAN]
        return out

    def _toxicity(self, so_far):
        c = self.config
        names = self.names
        vpin = self.vpin.vpin
        if len(self.vpin_history) >= MIN_CDF_VALUES:
            cdf = sum(1 for v in self.vpin_history if v <= vpin) / len(self.vpin_history)
        else:
            cdf = NAN
        kyle, kyle_t = self._kyle()
        if self.book_valid and len(self.amihud_values) == c.impact_bars:
            amihud = mean(self.amihud_values)
        else:
            amihud = NAN
        if len(self.roll_pairs) == c.roll_window and all(abs(a) < 2**18 and abs(b) < 2**18
                                                        for a, b in self.roll_pairs):
            # price changes are whole ticks: the covariance in exact integer arithmetic, rounded once
            # (the square root would blow a rounding residue of a zero covariance up to ~1e-8)
            n = len(self.roll_pairs)
            sx = sum(a for a, _ in self.roll_pairs)
            sy = sum(b for _, b in self.roll_pairs)
            sxy = sum(a * b for a, b in self.roll_pairs)
            cov = (n * sxy - sx * sy) / (n * (n - 1))
            roll = 2.0 * math.sqrt(max(0.0, -cov))
        else:
            roll = NAN
        # the toxicity index reads features computed above
        value = dict(zip(names, so_far))
        z1 = value[self.tox_names[0]]
        spread_z = self._spread_zscore()
        di = value[self.tox_names[1]]
        ti = value[self.tox_names[2]]
        flag = value["large_trade_flag"]
        comps = [vpin, min(abs(z1) / 3.0, 1.0), min(max(spread_z, 0.0) / 3.0, 1.0), abs(di), abs(ti), flag]
        if any(math.isnan(x) for x in comps):
            tox = NAN
        else:
            tox = math.fsum(w * x for w, x in zip(TOXICITY_WEIGHTS, comps)) / math.fsum(TOXICITY_WEIGHTS)
        return [vpin, cdf, kyle, kyle_t, amihud, roll, tox]

    def _kyle(self):
        """OLS (with intercept) of the bar return on the bar signed volume, two-pass; the slope is
        NaN when x is constant, the t statistic also when the fit is exact (zero residuals)."""
        n = len(self.kyle_pairs)
        if not self.book_valid or n < self.config.impact_bars:
            return NAN, NAN
        xs = [x for x, _ in self.kyle_pairs]
        ys = [y for _, y in self.kyle_pairs]
        if min(xs) == max(xs):
            return NAN, NAN
        mx, my = mean(xs), mean(ys)
        sxx = math.fsum((x - mx) ** 2 for x in xs)
        sxy = math.fsum((x - mx) * (y - my) for x, y in zip(xs, ys))
        slope = sxy / sxx
        intercept = my - slope * mx
        ssr = math.fsum((y - intercept - slope * x) ** 2 for x, y in zip(xs, ys))
        se = math.sqrt(ssr / (n - 2) / sxx)
        return slope, ratio(slope, se)

    def _spread_zscore(self):
        w = self.config.spread_window
        if not self.book_valid or len(self.states) < w:
            return NAN
        return zscore_of_last([s.spread for s in self.states[-w:]])

    def _volatility(self):
        c = self.config
        h = self.h_ns
        out = []
        for hk in (h[1], h[2], h[3]):
            if self._history_warm(hk):
                out.append(math.sqrt(math.fsum(s.r * s.r for s in self._window(self.state_ts, self.states, hk))))
            else:
                out.append(NAN)
        if self.book_valid and len(self.parkinson_values) == c.vol_bars:
            out.append(math.sqrt(mean(self.parkinson_values) / (4.0 * math.log(2.0))) * 1e4)
        else:
            out.append(NAN)
        for hk in h:
            if self._history_warm(hk):
                then = self._state_at(self.now - hk)
                out.append(1e4 * math.log(self.states[-1].mid / then.mid))
            else:
                out.append(NAN)
        return out

    def _spread_dynamics(self):
        c = self.config
        w = c.spread_window
        if not self.book_valid:
            return [NAN] * 4
        spread = self.states[-1].spread
        change = spread - self.states[-2].spread if len(self.states) >= 2 else NAN
        if self._history_warm(self.h_ns[1]):
            change_h = spread - self._state_at(self.now - self.h_ns[1]).spread
        else:
            change_h = NAN
        if len(self.states) >= w:
            mean_ratio = ratio(spread, mean([s.spread for s in self.states[-w:]]))
        else:
            mean_ratio = NAN
        return [self._spread_zscore(), change, change_h, mean_ratio]

    def _indicators(self):
        c = self.config
        if not self.book_valid:
            return [NAN] * 5
        closes = self.closes
        n = len(closes)
        if n >= c.ema_slow:
            crossover = 1e4 * (self.ema_fast - self.ema_slow) / self.ema_slow
        else:
            crossover = NAN
        if self.rsi_changes >= c.rsi_period:
            rsi = ratio(100.0 * self.rsi_gain, self.rsi_gain + self.rsi_loss)
        else:
            rsi = NAN
        if n >= c.bollinger_period:
            boll = zscore_of_last(closes[-c.bollinger_period:]) / 2.0
        else:
            boll = NAN
        mom = []
        for k in (c.momentum_short, c.momentum_long):
            mom.append(1e4 * math.log(closes[-1] / closes[-1 - k]) if n >= k + 1 else NAN)
        return [crossover, rsi, boll] + mom

    def _activity(self):
        h1, h2 = self.h_ns[1], self.h_ns[2]
        out = []
        if self._engine_warm(h1):
            win = self._window(self.activity_ts, self.activity, h1)
            out.append(len(win) / self.h_s[1])
            out.append(sum(1 for a in win if a[1]) / self.h_s[1])
            out.append(sum(a[2] for a in win) / self.h_s[1])
        else:
            out += [NAN] * 3
        out.append(self.last_latency)
        if self._engine_warm(h2):
            lats = [a[3] for a in self._window(self.activity_ts, self.activity, h2) if not math.isnan(a[3])]
            out.append(mean(lats) if lats else NAN)
        else:
            out.append(NAN)
        out.append((self.now - self.last_book_time) / NS if self.last_book_time is not None else NAN)
        return out

    # ------------------------------------------------------------------ tapes
    def run_tape(self, tape, tick_size, symbol="SIM", book=None):
        """Replay a tape through an ``ofi.OrderBook`` and this engine.

        Returns ``(ts, X, kind)``: the clock after each event (int64), the features after it
        (n_events x 75) and the event kind (1 book message, 2 trade). A message that raises
        ``SequenceGapError`` / ``BookIntegrityError`` still counts as an event (the book is stale).
        """
        from ofi import OrderBook, Trade
        from ofi.data.tape import FLAG_BEGIN, FLAG_BLOCK, FLAG_RPI, KIND_BOOK, KIND_TRADE
        from ofi.errors import BookIntegrityError, SequenceGapError

        if book is None:
            book = OrderBook(symbol, tick_size=tick_size)
        tick = book.tick_size
        kinds = tape["kind"]
        starts = np.flatnonzero((kinds == KIND_TRADE) | ((kinds == KIND_BOOK) & ((tape["flags"] & FLAG_BEGIN) != 0)))
        ts, X, kind = [], [], []
        for i in starts.tolist():
            row = tape[i]
            if row["kind"] == KIND_TRADE:
                f = int(row["flags"])
                p = int(row["price_ticks"])
                trade = Trade(symbol, p * tick, float(row["size"]), int(row["side"]), int(row["ts_exch"]),
                              "", p, int(row["seq"]), bool(f & FLAG_BLOCK), bool(f & FLAG_RPI),
                              int(row["ts_local"]))
                self.update_trade(trade)
                kind.append(2)
            else:
                try:
                    book.apply_tape(tape, i)
                except (SequenceGapError, BookIntegrityError):
                    pass
                self.update_orderbook(book)
                kind.append(1)
            ts.append(self.now)
            X.append(self.extract(book))
        return (np.array(ts, dtype=np.int64), np.array(X, dtype=np.float64).reshape(len(X), len(self.names)),
                np.array(kind, dtype=np.int8))


def ema_push(value, x, span):
    """One step of the exponential moving average, alpha = 2 / (span + 1), seeded with the first x."""
    if value is None:
        return x
    a = 2.0 / (span + 1.0)
    return a * x + (1.0 - a) * value
