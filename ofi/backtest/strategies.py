"""The built-in model-driven strategy: features -> model -> signal -> position, on every book message."""
from __future__ import annotations

import math

from ofi.backtest.engine import Context, Fill, Strategy
from ofi.errors import InvalidInputError
from ofi.features import FeatureConfig, FeatureEngine
from ofi.orderflow._validate import positive_int
from ofi.strategy import PositionConfig, PositionManager, Signal, SignalConfig, SignalGenerator

__all__ = ["ModelStrategy"]


class ModelStrategy(Strategy):
    """Trade a model's signal with market orders.

    On every book message: update the feature engine, extract the vector, ask the
    ``SignalGenerator`` (with the model) for a signal, check the ``PositionManager``'s exits
    (stop-loss, take-profit, holding time, daily loss), and send the market order that moves the
    position to its target. Trades feed the feature engine. The same object runs in paper mode.

    Parameters
    ----------
    model : GradientBoostingModel or LogisticModel, optional
        Without a model the signal is the OFI z-score alone (see ``SignalGenerator``).
    feature_config : FeatureConfig, optional
        Must match the model's ``card.feature_config_hash`` when the model carries one.
    signal, position : SignalConfig, PositionConfig
    record_every : int
        Record mid, OFI (10 s) and VPIN for the report every this many book messages.
    trade_after_ns : int, optional
        Only watch (features warm up) until this strategy time, then trade: a backtest can start
        at the beginning of a stream and trade only the part the model was not trained on.
    """

    def __init__(self, model=None, *, feature_config: FeatureConfig | None = None,
                 signal: SignalConfig | None = None, position: PositionConfig | None = None,
                 record_every: int = 10, trade_after_ns: int | None = None):
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
        self.record_every = positive_int("record_every", record_every)
        self.trade_after_ns = trade_after_ns
        self._k = 0
        self.last_signal = None
        ix = {n: i for i, n in enumerate(self.features.names)}
        self._i_mid, self._i_ofi, self._i_vpin = ix["mid_price"], ix["ofi_10s"], ix["vpin"]
        self._i_spread, self._i_vol = ix["spread_bps"], ix["realized_vol_1m"]

    def on_start(self, ctx: Context) -> None:
        self._symbol = ctx.book.symbol

    def on_trade(self, ctx: Context, trade) -> None:
        self.features.update_trade(trade)

    def on_fill(self, ctx: Context, fill: Fill) -> None:
        self.positions.on_fill(self._symbol, fill.side, fill.qty, fill.price, fill.fee, fill.ts_ns)

    def on_book(self, ctx: Context, book) -> None:
        self.features.update_orderbook(book)
        fv = self.features.extract_features(book)
        x = fv.values
        self._k += 1
        mid = x[self._i_mid]
        if self._k % self.record_every == 0 and mid == mid:
            ctx.record(mid=mid, ofi=x[self._i_ofi], vpin=x[self._i_vpin])
        if ctx.open_orders:             # an order is on its way: wait for it before the next one
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
        self.last_signal = sig
        if sig.signal == Signal.HOLD:
            return
        if sig.signal == Signal.CLOSE:
            if pos != 0.0:
                self._order(ctx, -pos)
            return
        if not self.positions.can_open(t):
            return
        vol = x[self._i_vol]
        target = self.positions.target_qty(sig.signal, mid, ctx.equity, None if math.isnan(vol) else vol)
        if target is None:
            return
        delta = self.positions.round_qty(abs(target - pos)) * (1 if target > pos else -1)
        if delta != 0.0:
            self._order(ctx, delta)

    def _order(self, ctx: Context, delta: float) -> None:
        if delta > 0:
            ctx.buy(abs(delta))
        else:
            ctx.sell(abs(delta))
