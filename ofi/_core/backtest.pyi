from typing import Any, Callable

import numpy as np
import numpy.typing as npt

from ofi._core.book import OrderBook

EQUITY_DTYPE: np.dtype  # ts_ns i8, equity f8, cash f8, position f8, mid f8 (the C EquityRow)

class LoopHost:
    """What the event loop needs from the rest of a backtest (subclass it; keep the fields current)."""
    has_due: bool  # bint: the host's queue holds an entry
    next_due_ns: int  # int64: when the earliest entry is due
    has_resting: bool  # bint: limit orders rest on the exchange book
    has_open: bool  # bint: orders are pending or resting
    risk_limits: bool  # bint: call check_risk() after every exchange event
    cash: float  # double: the exchange's account
    position: float  # double
    cash_seen: float  # double: the account as the strategy knows it
    position_seen: float  # double
    n_fills: int  # int64: fills made so far
    def pop_due(self) -> None: ...
    def check_resting(self) -> None: ...
    def trade_against_resting(self, price_ticks: int, size: float, aggressor: int) -> None: ...
    def check_risk(self) -> None: ...

class EventLoop:
    """The backtester's event loop (ofi.backtest.engine.BacktestEngine drives it)."""
    n: int  # Py_ssize_t, read-only: events loaded
    xi: int  # Py_ssize_t: next event for the exchange
    si: int  # Py_ssize_t: next event for the strategy
    now_x: int  # int64: exchange clock, ns
    now_s: int  # int64: strategy clock, ns
    exchange_books: int  # int64, read-only: book messages given to the exchange book so far
    def __init__(self, host: LoopHost, xbook: OrderBook, sbook: OrderBook, feed_latency: Any,
                 rng: np.random.Generator, record_every: int) -> None: ...
    def bind_strategy(self, ctx: Any, on_book: Callable[[Any, OrderBook], Any], on_trade: Callable[[Any, Any], Any],
                      wants_trades: bool, kernel: Any = ..., after_kernel: Callable[[Any, float], Any] | None = ...,
                      kernel_every: int = ...) -> None: ...
    def set_events(self, tape: npt.NDArray[Any], ev: npt.NDArray[np.int64], tx: npt.NDArray[np.int64],
                   tl: npt.NDArray[np.int64], kind: npt.NDArray[np.int8]) -> None: ...
    def run(self) -> None: ...
    def drain_exchange(self) -> None: ...
    def record(self, t: int) -> None: ...
    def equity_rows(self) -> npt.NDArray[Any]: ...
    def fills_at_rows(self) -> npt.NDArray[np.int64]: ...
    def mid_series(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]: ...
