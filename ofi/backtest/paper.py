"""Paper trading: a Strategy on live frames with the backtester's fill model.

A :class:`PaperTrader` is a backtest fed one frame at a time. The frames can come from a live
``BybitStream`` (``on_frame=trader.on_frame``), from the simulator, or from a recording. Given the
same frames it produces exactly the backtest's result, so paper and backtest runs over the same
period can be compared line for line.
"""
from __future__ import annotations

from typing import Any, Iterable

from ofi._core.decoder import default_decoder
from ofi.backtest.engine import BacktestConfig, BacktestEngine, Strategy
from ofi.errors import InvalidInputError, OfiError

__all__ = ["PaperTrader"]


class PaperTrader:
    """Run ``strategy`` on frames as they arrive.

    Parameters
    ----------
    strategy : Strategy
    config : BacktestConfig, optional
        The fill model: latencies, fees, slippage, risk limits.
    tick_size : str, float or Decimal
        The instrument's tick size.
    symbol : str
        Frames of other symbols are ignored. Control frames and other topics are skipped too.

    Examples
    --------
    >>> from ofi.api import BybitStream                                  # doctest: +SKIP
    >>> trader = PaperTrader(MyStrategy(), tick_size="0.1", symbol="BTCUSDT")   # doctest: +SKIP
    >>> with BybitStream(["BTCUSDT"], depth=50, on_frame=trader.on_frame) as s:  # doctest: +SKIP
    ...     s.run(duration_s=3600)
    >>> result = trader.finish()                                         # doctest: +SKIP
    """

    def __init__(self, strategy: Strategy, config: BacktestConfig | None = None, *, tick_size: Any,
                 symbol: str):
        if not isinstance(symbol, str) or not symbol:
            raise InvalidInputError(f"symbol must be a non-empty string, got {symbol!r}")
        self.engine = BacktestEngine(config)
        self.symbol = symbol
        self._dec = default_decoder(tick_size)
        self.engine._begin(strategy, tick_size, symbol, 1)
        self.frames = 0
        self.skipped = 0
        self._done = None

    def on_frame(self, ts_local: int, raw: str | bytes) -> None:
        """Take one raw websocket frame received at ``ts_local`` (ns)."""
        if self._done is not None:
            raise InvalidInputError("this PaperTrader has finished")
        try:
            tape = self._dec.to_tape([(ts_local, raw)], symbol=self.symbol)
        except OfiError:
            self.skipped += 1                   # another symbol's or an unsupported frame
            return
        self.frames += 1
        if len(tape):
            self.engine._feed(tape)

    def run_frames(self, frames: Iterable[Any]) -> "PaperTrader":
        """Feed ``(ts_local, raw)`` pairs or objects with ``ts_local`` and ``raw`` (simulator frames,
        recordings)."""
        for f in frames:
            if isinstance(f, tuple):
                self.on_frame(f[0], f[1])
            else:
                self.on_frame(f.ts_local, f.raw)
        return self

    def finish(self):
        """End the session: close the position if the config says so; returns the result."""
        if self._done is None:
            self._done = self.engine._end()
        return self._done
