"""The built-in model-driven strategy: features -> model -> signal -> position, on every book message."""
from __future__ import annotations

import numbers

from ofi._core.linear import Linear
from ofi._core.strategy import R_NAN_OFI, R_REQUIRED, REASON_CODES, StrategyKernel
from ofi._core.trees import Forest
from ofi.backtest.engine import Context, Fill, Strategy
from ofi.errors import InvalidInputError
from ofi.features import FeatureConfig, FeatureEngine
from ofi.validation import positive_int
from ofi.strategy import PositionConfig, PositionManager, Signal, SignalConfig, SignalGenerator
from ofi.strategy.position import Position
from ofi.strategy.signals import SignalResult

__all__ = ["ModelStrategy"]


class ModelStrategy(Strategy):
    """Trade a model's signal with market orders.

    On every book message: update the feature engine, extract the vector, ask the
    ``SignalGenerator`` (with the model) for a signal, check the ``PositionManager``'s exits
    (stop-loss, take-profit, holding time, daily loss), and send the market order that moves the
    position to its target. Trades feed the feature engine. The same object runs in paper mode.

    By default all of that runs in compiled code (``ofi._core.strategy.StrategyKernel``): the
    feature kernel, the model's compiled inference and a C port of the signal and position rules,
    one call per book message. The Python path (``compiled=False``) runs the public classes
    themselves; both send the same orders (tests/parity/test_strategy_parity.py).

    Parameters
    ----------
    model : GradientBoostingModel or LogisticModel, optional
        Without a model the signal is the OFI z-score alone (see ``SignalGenerator``). Any other
        object with ``predict_proba`` and ``classes_`` runs on the Python path.
    feature_config : FeatureConfig, optional
        Must match the model's ``card.feature_config_hash`` when the model carries one.
    signal, position : SignalConfig, PositionConfig
    record_every : int
        Record mid, OFI (10 s) and VPIN for the report every this many book messages.
    trade_after_ns : int, optional
        Only watch (features warm up) until this strategy time, then trade: a backtest can start
        at the beginning of a stream and trade only the part the model was not trained on.
    compiled : bool, optional
        None (default): compiled when the model is one of ofi's (or None); True: compiled or an
        ``InvalidInputError``; False: the Python path.

    Notes
    -----
    Fills reach the position manager stamped with the strategy's clock when it learns of them
    (``ctx.now_ns``), the clock of every other call it gets. In compiled mode the position and
    cooldown state live in the kernel: ``positions`` then follows the fills (quantity, average
    price, PnL, fees) but not the marks or the daily-loss halt, which ``position_state`` reports.
    """

    def __init__(self, model=None, *, feature_config: FeatureConfig | None = None,
                 signal: SignalConfig | None = None, position: PositionConfig | None = None,
                 record_every: int = 10, trade_after_ns: int | None = None, compiled: bool | None = None):
        self.features = FeatureEngine(feature_config)
        card = getattr(model, "card", None)
        if card is not None:
            if card.feature_config_hash is not None and card.feature_config_hash != self.features.config_hash:
                raise InvalidInputError("the model was trained on features with another FeatureConfig "
                                        f"(hash {card.feature_config_hash} != {self.features.config_hash})")
            if list(card.feature_names) != list(self.features.names):
                raise InvalidInputError("the model does not read the feature engine's features")
        self.model = model
        self.signals = SignalGenerator(signal or SignalConfig())
        if model is not None:
            self.signals.set_model(model)
        self.positions = PositionManager(position or PositionConfig())
        self.flat_at_end = self.positions.flat_at_end          # PositionConfig.flat_at_end reaches the engine
        self.record_every = positive_int("record_every", record_every)
        if trade_after_ns is not None and (isinstance(trade_after_ns, bool)
                                           or not isinstance(trade_after_ns, numbers.Integral)):
            raise InvalidInputError(f"trade_after_ns must be an integer (ns) or None, got {trade_after_ns!r}")
        self.trade_after_ns = trade_after_ns
        self._symbol = None                     # set by on_start
        self._k = 0
        self._last_signal = None
        ix = {n: i for i, n in enumerate(self.features.names)}
        self._i_mid, self._i_ofi, self._i_vpin = ix["mid_price"], ix["ofi_10s"], ix["vpin"]
        self._i_spread, self._i_vol = ix["spread_bps"], ix["realized_vol_1m"]
        if compiled not in (None, True, False):
            raise InvalidInputError(f"compiled must be None, True or False, got {compiled!r}")
        self._kernel = None
        core = getattr(model, "_c", None)
        if compiled is not False and (model is None or isinstance(core, (Forest, Linear))):
            self._kernel = self._build_kernel(core, ix)
        elif compiled:
            raise InvalidInputError(f"the compiled strategy runs ofi's own models (GradientBoostingModel, "
                                    f"LogisticModel) or none, got {type(model).__name__}")

    def _build_kernel(self, core, ix):
        sc, pc, g = self.signals.config, self.positions.config, self.signals
        missing = [n for n in (sc.ofi_feature, *sc.required_features) if n not in ix]
        if missing:
            raise InvalidInputError(f"features have no {missing[0]!r} (a FeatureEngine feature name)")
        return StrategyKernel(
            self.features._k, core, g._i_up, g._i_down, g._n_classes,
            {"mid_price": self._i_mid, "spread_bps": self._i_spread, "realized_vol_1m": self._i_vol,
             "ofi": ix[sc.ofi_feature]}, tuple(ix[n] for n in sc.required_features),
            sc.prob_threshold_long, sc.prob_threshold_short, sc.ofi_threshold, sc.max_spread_bps, sc.cooldown_ns,
            sc.close_on, pc.sizing, pc.qty, pc.fraction, pc.target_vol_bps, pc.vol_window_ns, pc.max_notional,
            pc.qty_step, pc.min_qty, pc.stop_loss_bps, pc.take_profit_bps, pc.max_holding_ns, pc.max_daily_loss,
            self.trade_after_ns)

    # ---- state
    @property
    def compiled(self) -> bool:
        """Whether the decisions run in compiled code."""
        return self._kernel is not None

    @property
    def n_book_messages(self) -> int:
        """Book messages seen (features, model and signal ran on each)."""
        return self._kernel.n_books if self._kernel is not None else self._k

    @property
    def last_signal(self) -> SignalResult | None:
        """The last ``SignalGenerator`` decision (None before the first)."""
        k = self._kernel
        if k is None:
            return self._last_signal
        if not k.has_signal:
            return None
        sc = self.signals.config
        names = []
        for code in k.reasons:
            if code >= R_REQUIRED:
                names.append(f"nan:{sc.required_features[code - R_REQUIRED]}")
            elif code == R_NAN_OFI:
                names.append(f"nan:{sc.ofi_feature}")
            else:
                names.append(REASON_CODES[code])
        return SignalResult(Signal(k.signal), k.probability, k.ofi_zscore, k.signal_mid, k.signal_spread,
                            k.signal_ts, tuple(names))

    @property
    def position_state(self) -> dict:
        """The position the strategy manages: qty, avg_price, realized_pnl, fees, entry_ts_ns, halted."""
        if self._kernel is not None:
            qty, avg, realized, fees, entry, halted = self._kernel.position_state
        else:
            p = self.positions.position(self._symbol) if self._symbol is not None else Position("-")
            qty, avg, realized, fees, entry, halted = (p.qty, p.avg_price, p.realized_pnl, p.fees, p.entry_ts_ns,
                                                       self.positions.halted)
        return {"qty": qty, "avg_price": avg, "realized_pnl": realized, "fees": fees, "entry_ts_ns": entry,
                "halted": halted}

    # ---- callbacks
    def on_start(self, ctx: Context) -> None:
        self._symbol = ctx.book.symbol
        if self._kernel is not None:
            self._values = self._kernel.values

    def on_trade(self, ctx: Context, trade) -> None:
        if self._kernel is not None:
            self._kernel.on_trade(trade)
        else:
            self.features.update_trade(trade)

    def on_fill(self, ctx: Context, fill: Fill) -> None:
        t = ctx.now_ns
        if self._kernel is not None:
            self._kernel.on_fill(fill.side, fill.qty, fill.price, fill.fee, t)
        self.positions.on_fill(self._symbol, fill.side, fill.qty, fill.price, fill.fee, t)

    def _compiled_kernel(self):
        # The event loop calls the kernel itself unless a subclass changed what a book message or
        # a trade does (it then gets its on_book / on_trade, which call the kernel in turn).
        cls = type(self)
        if self._kernel is not None and cls.on_book is ModelStrategy.on_book \
                and cls.on_trade is ModelStrategy.on_trade:
            return self._kernel, self.record_every
        return None, 1

    def _after_kernel(self, ctx: Context, qty: float) -> None:
        """After the kernel's decision on a book message: record the report's series every
        ``record_every`` messages, send the order (signed ``qty``, 0.0 for none)."""
        if self._kernel.n_books % self.record_every == 0:
            x = self._values
            mid = x[self._i_mid]
            if mid == mid:
                ctx.record(mid=mid, ofi=x[self._i_ofi], vpin=x[self._i_vpin])
        if qty != 0.0:
            self._order(ctx, qty)

    def on_book(self, ctx: Context, book) -> None:
        k = self._kernel
        if k is not None:
            self._after_kernel(ctx, k.on_book(book, ctx.now_ns, ctx.position, ctx.cash, ctx.has_open_orders))
            return
        self.features.update_orderbook(book)
        fv = self.features.extract_features(book)
        x = fv.values
        self._k += 1
        mid = x[self._i_mid]
        if self._k % self.record_every == 0 and mid == mid:
            ctx.record(mid=mid, ofi=x[self._i_ofi], vpin=x[self._i_vpin])
        if ctx.has_open_orders:         # an order is on its way: wait for it before the next one
            return
        if mid != mid:
            return
        t = ctx.now_ns
        if self.trade_after_ns is not None and t < self.trade_after_ns:
            return
        pos = ctx.position
        if pos == 0.0:
            self.positions.mark(self._symbol, mid, t)
        elif self.positions.exit_reason(self._symbol, mid, t) is not None:       # (it marks too)
            self._order(ctx, -pos)
            return
        sig = self.signals.generate(fv, mid, x[self._i_spread], position=pos, ts_ns=t)
        self._last_signal = sig
        if sig.signal == Signal.HOLD:
            return
        if sig.signal == Signal.CLOSE:
            if pos != 0.0:
                self._order(ctx, -pos)
            return
        if not self.positions.can_open(t):
            return
        target = self.positions.target_qty(sig.signal, mid, ctx.equity, x[self._i_vol])
        delta = self.positions.round_qty(abs(target - pos)) * (1 if target > pos else -1)
        if delta != 0.0:
            self._order(ctx, delta)

    def _order(self, ctx: Context, delta: float) -> None:
        if delta > 0:
            ctx.buy(abs(delta))
        else:
            ctx.sell(abs(delta))
