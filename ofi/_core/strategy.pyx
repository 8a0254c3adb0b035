"""The built-in model-driven strategy in compiled code: features -> model -> signal -> position.

``StrategyKernel`` runs, for one book message, what ``ofi.backtest.ModelStrategy`` does in
Python with ``FeatureEngine``, the model's ``predict_proba``, ``SignalGenerator.generate`` and
``PositionManager`` (exits, ``can_open``, ``target_qty``, ``round_qty``), in the same order and
with the same float operations, so the two give the same orders bit for bit (the Python classes
are the reference: ``tests/parity/test_strategy_parity.py``). The feature kernel, the tree
ensemble and the linear model are called through their C entry points (``features.pxd``,
``trees.pxd``, ``linear.pxd``); nothing here allocates per message.

Quantities on the order grid are ``n * step`` with ``step = m * 10**e`` (``m`` an integer): the
product ``n * m`` is exact below 2**53 and one division (or multiplication) by the exact power of
ten rounds it once, which is what ``float(Decimal(n) * step)`` gives. Larger products take the
Decimal route.
"""
cimport cython
from libc.stdint cimport int64_t
from libc.math cimport NAN, INFINITY, floor, rint, fabs, sqrt, isnan, isfinite

from decimal import Decimal

import numpy as np
cimport numpy as cnp

from ofi._core.book cimport OrderBook
from ofi._core.events cimport Trade
from ofi._core.features cimport feature_step_book, feature_step_trade
from ofi._core.trees cimport forest_proba
from ofi._core.linear cimport linear_proba
from ofi._core.limits cimport MAX_CLASSES, ns_per_day
from ofi._core.features import N_FEATURE_SLOTS, FeatureKernel
from ofi._core.trees import Forest
from ofi._core.linear import Linear
from ofi.errors import InvalidInputError

cnp.import_array()

cdef int64_t NS_PER_DAY = ns_per_day()

DEF MAX_REQUIRED = 64
DEF MAX_REASONS = 80
DEF GRID_TOL = 1e-9
DEF BARRIER_TOL = 1e-12
DEF EXACT = 9007199254740992.0       # 2**53

# models
DEF M_NONE = 0
DEF M_FOREST = 1
DEF M_LINEAR = 2
# sizing
DEF S_FIXED = 0
DEF S_FRACTION = 1
DEF S_VOL = 2
# close_on
DEF C_REVERSAL = 0
DEF C_BAND = 1
DEF C_NONE = 2

# signals (ofi.strategy.Signal's values)
DEF SIG_SHORT = -1
DEF SIG_HOLD = 0
DEF SIG_LONG = 1
DEF SIG_CLOSE = 2

# reasons, in SignalGenerator's words; a required feature j is R_REQUIRED + j
R_NAN_SPREAD = 2
R_NAN_OFI = 3
R_NAN_PROB = 4
R_WIDE = 5
R_COOLDOWN = 6
R_PROB_LONG = 7
R_PROB_SHORT = 8
R_PROB_NEUTRAL = 9
R_OFI_VETO = 10
R_OFI_LONG = 11
R_OFI_SHORT = 12
R_OFI_NEUTRAL = 13
R_IN_POSITION = 14
R_REVERSAL = 15
R_BAND_EXIT = 16
R_REQUIRED = 100
REASON_CODES = {R_NAN_SPREAD: "nan:spread_bps", R_NAN_PROB: "nan:probability",
                R_WIDE: "wide_spread", R_COOLDOWN: "cooldown", R_PROB_LONG: "prob_long",
                R_PROB_SHORT: "prob_short", R_PROB_NEUTRAL: "prob_neutral", R_OFI_VETO: "ofi_veto",
                R_OFI_LONG: "ofi_long", R_OFI_SHORT: "ofi_short", R_OFI_NEUTRAL: "ofi_neutral",
                R_IN_POSITION: "in_position", R_REVERSAL: "reversal", R_BAND_EXIT: "band_exit"}



cdef inline int64_t day_of(int64_t t) noexcept nogil:
    cdef int64_t q = t // NS_PER_DAY
    if t % NS_PER_DAY != 0 and t < 0:
        q -= 1
    return q


@cython.final
cdef class StrategyKernel:
    """One symbol's model-driven strategy state (built by ``ofi.backtest.ModelStrategy``).

    ``on_book`` returns the signed quantity of the market order to send (0.0 for none);
    ``on_trade`` and ``on_fill`` keep the features and the position up to date.
    """
    cdef object fk
    cdef object model
    cdef int model_kind
    cdef int i_up
    cdef int i_down
    cdef readonly object values           # the feature vector of the last book message
    cdef double* x
    cdef double proba[MAX_CLASSES]
    # feature slots
    cdef Py_ssize_t i_mid, i_spread, i_vol, i_ofi
    cdef int n_req
    cdef Py_ssize_t req[MAX_REQUIRED]
    # signal config
    cdef double p_long, p_short, ofi_t, max_spread
    cdef int64_t cooldown
    cdef int close_on
    # position config
    cdef int sizing
    cdef double qty, fraction, target_vol, vol_scale
    cdef bint has_cap
    cdef double max_notional
    cdef double step, min_qty, pow10
    cdef int64_t step_m
    cdef bint pow_div
    cdef object step_d
    cdef bint has_sl, has_tp, has_mh, has_loss
    cdef double sl_long, sl_short, tp_long, tp_short, max_loss
    cdef int64_t mh
    cdef bint has_after
    cdef int64_t after
    # state: signal
    cdef bint has_last
    cdef int64_t last_ns
    # state: position (PositionManager for one symbol)
    cdef double pqty, avg, realized, fees
    cdef bint has_entry
    cdef int64_t entry
    cdef double mark
    cdef bint has_day
    cdef int64_t day
    cdef double day_start
    cdef bint halted
    cdef readonly int64_t n_books
    # the last decision
    cdef readonly bint has_signal
    cdef readonly int signal
    cdef readonly double probability, ofi_zscore, signal_mid, signal_spread
    cdef readonly int64_t signal_ts
    cdef int _reasons[MAX_REASONS]
    cdef int n_reasons

    def __cinit__(self, feature_kernel, model, int i_up, int i_down, int n_classes, dict slots,
                  tuple required, double prob_threshold_long, double prob_threshold_short,
                  double ofi_threshold, double max_spread_bps, int64_t cooldown_ns, str close_on,
                  str sizing, qty, double fraction, double target_vol_bps, int64_t vol_window_ns,
                  max_notional, qty_step, min_qty, stop_loss_bps, take_profit_bps, max_holding_ns,
                  max_daily_loss, trade_after_ns):
        cdef int j
        if not isinstance(feature_kernel, FeatureKernel):
            raise InvalidInputError("feature_kernel must be a FeatureKernel")
        self.fk = feature_kernel
        if model is None:
            self.model_kind = M_NONE
        elif isinstance(model, Forest):
            self.model_kind = M_FOREST
        elif isinstance(model, Linear):
            self.model_kind = M_LINEAR
        else:
            raise InvalidInputError(f"the compiled strategy runs ofi's compiled models, got {type(model).__name__}")
        self.model = model
        if model is not None:
            if model.n_features != N_FEATURE_SLOTS or model.n_classes != n_classes or not 2 <= n_classes <= MAX_CLASSES:
                raise InvalidInputError("the model does not read the feature vector or has other classes")
            if not (0 <= i_up < n_classes and -1 <= i_down < n_classes):
                raise InvalidInputError("class indexes out of range")
        self.i_up, self.i_down = i_up, i_down
        self.values = np.full(N_FEATURE_SLOTS, NAN)
        self.x = <double*>cnp.PyArray_DATA(self.values)
        self.i_mid, self.i_spread = slots["mid_price"], slots["spread_bps"]
        self.i_vol, self.i_ofi = slots["realized_vol_1m"], slots["ofi"]
        if len(required) > MAX_REQUIRED:
            raise InvalidInputError(f"at most {MAX_REQUIRED} required features in the compiled strategy")
        self.n_req = len(required)
        for j in range(self.n_req):
            self.req[j] = required[j]
        for s in (self.i_mid, self.i_spread, self.i_vol, self.i_ofi) + required:
            if not 0 <= s < N_FEATURE_SLOTS:
                raise InvalidInputError("feature slot out of range")
        self.p_long, self.p_short, self.ofi_t = prob_threshold_long, prob_threshold_short, ofi_threshold
        self.max_spread, self.cooldown = max_spread_bps, cooldown_ns
        self.close_on = {"reversal": C_REVERSAL, "band": C_BAND, "none": C_NONE}[close_on]
        self.sizing = {"fixed": S_FIXED, "fraction": S_FRACTION, "vol_target": S_VOL}[sizing]
        self.qty = NAN if qty is None else qty
        self.fraction, self.target_vol = fraction, target_vol_bps
        self.vol_scale = sqrt(NS_PER_DAY / <double>vol_window_ns)     # both exact: int / int in Python
        self.has_cap = max_notional is not None
        self.max_notional = max_notional if self.has_cap else INFINITY
        self.step_d = qty_step
        self.step = float(qty_step)
        self.min_qty = float(min_qty)
        sign, digits, exponent = qty_step.as_tuple()
        self.step_m = int("".join(map(str, digits)))
        self.pow_div = exponent < 0
        self.pow10 = float(10 ** abs(exponent))
        if self.step_m >= EXACT or abs(exponent) > 22:
            raise InvalidInputError("qty_step has too many digits for the compiled strategy")
        up, down = 1.0 + BARRIER_TOL, 1.0 - BARRIER_TOL
        self.has_sl = stop_loss_bps is not None
        if self.has_sl:
            self.sl_long, self.sl_short = (1e4 - stop_loss_bps) * up, (1e4 + stop_loss_bps) * down
        self.has_tp = take_profit_bps is not None
        if self.has_tp:
            self.tp_long, self.tp_short = (1e4 + take_profit_bps) * down, (1e4 - take_profit_bps) * up
        self.has_mh = max_holding_ns is not None
        self.mh = max_holding_ns if self.has_mh else 0
        self.has_loss = max_daily_loss is not None
        self.max_loss = max_daily_loss if self.has_loss else 0.0
        self.has_after = trade_after_ns is not None
        self.after = trade_after_ns if self.has_after else 0
        self.avg = NAN
        self.mark = NAN

    # ---------------------------------------------------------------- events
    def on_book(self, OrderBook book not None, int64_t now_ns, double position, double cash, bint busy):
        """Features, model, signal and position rules after one book message (the strategy's
        book ``book`` at its clock ``now_ns``; ``position`` and ``cash`` as reported to it;
        ``busy`` when an order is still open). Returns the signed order quantity, 0.0 for none."""
        return self._on_book(book, now_ns, position, cash, busy)

    cdef double _on_book(self, OrderBook book, int64_t now_ns, double position, double cash,
                         bint busy) except? -1.0:
        cdef double* x = self.x
        cdef double mid, spread, vol, equity, target, d
        cdef int sig
        feature_step_book(self.fk, book, x)
        self.n_books += 1
        if busy:
            return 0.0                  # an order is on its way: wait for it before the next one
        mid = x[self.i_mid]
        if mid != mid:
            return 0.0
        if self.has_after and now_ns < self.after:
            return 0.0
        if position == 0.0:
            self._mark(mid, now_ns)
        else:
            if self._exit_reason(mid, now_ns):
                return -position
        spread = x[self.i_spread]
        sig = self._generate(mid, spread, position, now_ns)
        if sig == SIG_HOLD:
            return 0.0
        if sig == SIG_CLOSE:
            return -position if position != 0.0 else 0.0
        if not self._can_open(now_ns):
            return 0.0
        vol = x[self.i_vol]
        equity = cash + position * mid
        target = self._target_qty(sig, mid, equity, vol)
        d = self._round_qty(fabs(target - position))
        return d if target > position else -d

    def on_trade(self, Trade trade not None):
        """One public trade into the features."""
        feature_step_trade(self.fk, trade.price_ticks, trade.size, trade.side, trade.ts_exch, trade.ts_local)

    def on_fill(self, int side, double qty, double price, double fee, int64_t ts_ns):
        """Net one fill into the position (``PositionManager.on_fill``)."""
        cdef double old, new, realized = 0.0, a
        if not (qty > 0.0 and isfinite(qty)) or not (price > 0.0 and isfinite(price)) or not isfinite(fee) \
                or side not in (1, -1):
            raise InvalidInputError(f"fill side={side}, qty={qty!r}, price={price!r}, fee={fee!r} is not valid")
        self._roll(ts_ns)
        old = self.pqty
        new = self._snap(old + side * qty)
        if old == 0.0:
            self.avg, self.entry, self.has_entry = price, ts_ns, True
        elif (old > 0.0) == (side > 0):
            a = fabs(old)
            self.avg = (a * self.avg + qty * price) / (a + qty)
        else:
            realized = min(qty, fabs(old)) * (price - self.avg) * (1.0 if old > 0.0 else -1.0)
            if new != 0.0 and (new > 0.0) != (old > 0.0):
                self.avg, self.entry, self.has_entry = price, ts_ns, True
        if new == 0.0:
            self.avg, self.has_entry = NAN, False
        self.pqty = new
        self.realized += realized
        self.fees += fee
        self.mark = price
        self._check_loss()
        return realized

    # ---------------------------------------------------------------- state
    @property
    def reasons(self):
        return tuple(self._reasons[j] for j in range(self.n_reasons))

    @property
    def position_state(self):
        """(qty, avg_price, realized_pnl, fees, entry_ts_ns or None, halted)."""
        return (self.pqty, self.avg, self.realized, self.fees, self.entry if self.has_entry else None,
                self.halted)

    def round_qty(self, double q):
        """``PositionManager.round_qty`` as the kernel computes it (for the parity tests)."""
        if not q >= 0.0:
            raise InvalidInputError(f"qty must be >= 0, got {q!r}")
        return self._round_qty(q)

    def snap(self, double q):
        """The position after a fill, snapped to the quantity grid as ``PositionManager`` does."""
        return self._snap(q)

    # ---------------------------------------------------------------- the signal
    cdef inline void _reason(self, int code) noexcept:
        if self.n_reasons < MAX_REASONS:
            self._reasons[self.n_reasons] = code
            self.n_reasons += 1

    cdef int _generate(self, double mid, double spread, double pos, int64_t ts) except -9:
        """SignalGenerator.generate (ts given, mid known)."""
        cdef double* x = self.x
        cdef double z = x[self.i_ofi], p = NAN, up, den
        cdef int j, side, sig = SIG_HOLD, held
        cdef bint vetoed = False, has_model = self.model_kind != M_NONE
        if spread < 0.0:
            raise InvalidInputError(f"spread_bps must be >= 0 (or NaN when unknown), got {spread!r}")
        if has_model:
            if self.model_kind == M_FOREST:
                forest_proba(self.model, x, self.proba)
            else:
                linear_proba(self.model, x, self.proba)
            up = self.proba[self.i_up]
            if self.i_down < 0:
                p = up
            else:
                den = up + self.proba[self.i_down]
                p = up / den if den > 0.0 else NAN
        self.has_signal = True
        self.probability, self.ofi_zscore, self.signal_mid, self.signal_spread, self.signal_ts = p, z, mid, spread, ts
        self.n_reasons = 0
        # 1. gates
        if spread != spread:
            self._reason(R_NAN_SPREAD)
        if z != z:
            self._reason(R_NAN_OFI)
        for j in range(self.n_req):
            if x[self.req[j]] != x[self.req[j]]:
                self._reason(R_REQUIRED + j)
        if has_model and p != p:
            self._reason(R_NAN_PROB)
        if spread > self.max_spread:
            self._reason(R_WIDE)
        if self.has_last:
            if ts < self.last_ns:
                raise InvalidInputError(f"ts_ns={ts} is earlier than the last signal at {self.last_ns}: time must "
                                        f"not go backwards (reset() to start over)")
            if ts - self.last_ns < self.cooldown:
                self._reason(R_COOLDOWN)
        if self.n_reasons:
            self.signal = SIG_HOLD
            return SIG_HOLD
        # 2. side
        if has_model:
            if p >= self.p_long:
                side, vetoed = 1, z < -self.ofi_t
                self._reason(R_PROB_LONG)
            elif p <= self.p_short:
                side, vetoed = -1, z > self.ofi_t
                self._reason(R_PROB_SHORT)
            else:
                side = 0
                self._reason(R_PROB_NEUTRAL)
            if vetoed:
                self._reason(R_OFI_VETO)
        elif z >= self.ofi_t:
            side = 1
            self._reason(R_OFI_LONG)
        elif z <= -self.ofi_t:
            side = -1
            self._reason(R_OFI_SHORT)
        else:
            side = 0
            self._reason(R_OFI_NEUTRAL)
        # 3-4. entries and exits
        if pos == 0.0:
            if side != 0 and not vetoed:
                sig = SIG_LONG if side > 0 else SIG_SHORT
        else:
            held = 1 if pos > 0.0 else -1
            if side == held:
                self._reason(R_IN_POSITION)
            elif self.close_on != C_NONE and side == -held:
                sig = SIG_CLOSE
                self._reason(R_REVERSAL)
            elif self.close_on == C_BAND and side == 0:
                sig = SIG_CLOSE
                self._reason(R_BAND_EXIT)
        if sig != SIG_HOLD:
            self.last_ns, self.has_last = ts, True
        self.signal = sig
        return sig

    # ---------------------------------------------------------------- the position manager
    cdef double _total_pnl(self) noexcept:
        return (self.realized - self.fees) + (self.pqty * (self.mark - self.avg) if self.pqty != 0.0 else 0.0)

    cdef int _roll(self, int64_t ts) except -1:
        cdef int64_t day = day_of(ts)
        if not self.has_day or day > self.day:
            self.day, self.has_day = day, True
            self.day_start = self._total_pnl()
            self.halted = False
        elif day < self.day:
            raise InvalidInputError(f"ts_ns={ts} is in an earlier UTC day than a previous call (day "
                                    f"{self.day} since the epoch): time must not go backwards")
        return 0

    cdef void _check_loss(self) noexcept:
        if self.has_loss and not self.halted and \
                self._total_pnl() - self.day_start < -self.max_loss * (1.0 + BARRIER_TOL):
            self.halted = True

    cdef int _mark(self, double price, int64_t ts) except -1:
        self._roll(ts)
        self.mark = price
        self._check_loss()
        return 0

    cdef int _exit_reason(self, double price, int64_t ts) except -1:
        """0: none; else 1 daily_loss, 2 stop_loss, 3 take_profit, 4 max_holding_time (the order
        of PositionManager.exit_reason)."""
        cdef double px, a
        cdef bint long_
        self._mark(price, ts)
        if self.pqty == 0.0:
            return 0
        if self.halted:
            return 1
        px, a, long_ = price * 1e4, self.avg, self.pqty > 0.0
        if self.has_sl and (px <= a * self.sl_long if long_ else px >= a * self.sl_short):
            return 2
        if self.has_tp and (px >= a * self.tp_long if long_ else px <= a * self.tp_short):
            return 3
        if self.has_mh and self.has_entry and ts - self.entry >= self.mh:
            return 4
        return 0

    cdef bint _can_open(self, int64_t ts) except -1:
        self._roll(ts)
        self._check_loss()
        return not self.halted

    cdef double _target_qty(self, int sig, double price, double equity, double vol) except? -1.0:
        cdef double size, daily
        if not isfinite(equity):
            raise InvalidInputError(f"equity must be a finite number, got {equity!r}")
        if self.sizing == S_FIXED:
            size = self.qty
        elif self.sizing == S_FRACTION:
            size = self.fraction * equity / price if equity > 0.0 else 0.0
        else:
            if vol < 0.0:
                raise InvalidInputError(f"vol_bps must be >= 0 (or NaN when not warm), got {vol!r}")
            if vol != vol or equity <= 0.0:
                size = 0.0
            else:
                daily = vol * self.vol_scale
                size = equity * self.target_vol / daily / price if daily > 0.0 else INFINITY
        if self.has_cap and self.max_notional / price < size:
            size = self.max_notional / price
        size = self._round_qty(size)
        if sig == SIG_LONG:
            return size
        return -size if size != 0.0 else 0.0

    cdef double _grid(self, double n) except? -1.0:
        """float(Decimal(n) * qty_step) for an integral n >= 0."""
        cdef double nm = n * <double>self.step_m
        if nm < EXACT:
            return nm / self.pow10 if self.pow_div else nm * self.pow10
        return float(Decimal(int(n)) * self.step_d)

    cdef double _round_qty(self, double q) except? -1.0:
        cdef double out
        if q == INFINITY:
            raise InvalidInputError("qty is infinite: set max_notional to cap the size")
        out = self._grid(floor(q / self.step + GRID_TOL))
        return out if out >= self.min_qty and out > 0.0 else 0.0

    cdef double _snap(self, double q) except? -1.0:
        cdef double r = q / self.step, n = rint(r)
        if fabs(r - n) <= GRID_TOL:
            if n == 0.0:
                return 0.0
            return self._grid(n) if n > 0.0 else -self._grid(-n)
        return q


cdef double strategy_step_book(object kernel, OrderBook book, int64_t now_ns, double position, double cash,
                               bint busy) except? -1.0:
    return (<StrategyKernel>kernel)._on_book(book, now_ns, position, cash, busy)


cdef int strategy_step_trade(object kernel, int64_t price_ticks, double size, int side, int64_t ts_exch,
                             int64_t ts_local) except -1:
    return feature_step_trade((<StrategyKernel>kernel).fk, price_ticks, size, side, ts_exch, ts_local)


cdef int64_t strategy_n_books(object kernel) noexcept:
    return (<StrategyKernel>kernel).n_books


#: The core's copies of shared constants (``ofi.validation`` holds them for Python; a parity test pins them).
KERNEL_CONSTANTS = {"NS_PER_DAY": NS_PER_DAY, "MAX_CLASSES": MAX_CLASSES}
