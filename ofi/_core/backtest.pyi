from typing import Any, Callable

import numpy as np
import numpy.typing as npt

from ofi._core.book import OrderBook

class EventLoop:
    """The backtester's event loop (ofi.backtest.engine.BacktestEngine drives it)."""
    n: int  # Py_ssize_t: events loaded
    xi: int  # Py_ssize_t: next event for the exchange
    si: int  # Py_ssize_t: next event for the strategy
    now_x: int  # int64: exchange clock, ns
    now_s: int  # int64: strategy clock, ns
    has_sdue: bool
    sdue: int  # int64: when event si reaches the strategy
    n_delivered: int  # int64
    def __init__(self, eng: Any, xbook: OrderBook, sbook: OrderBook, heap: list, resting: list, fills: list,
                 taken: dict, open_orders: dict, feed_latency: Any, rng: np.random.Generator,
                 record_every: int) -> None: ...
    def bind_strategy(self, strategy: Any, ctx: Any, wants_trades: bool, risk_limits: bool, kernel: Any = ...,
                      kernel_every: int = ...) -> None: ...
    def set_events(self, tape: npt.NDArray[Any], ev: npt.NDArray[np.int64], tx: npt.NDArray[np.int64],
                   tl: npt.NDArray[np.int64], kind: npt.NDArray[np.int8]) -> None: ...
    def run(self) -> None: ...
    def drain_exchange(self) -> None: ...
    def record(self, t: int) -> None: ...
    def equity_rows(self) -> npt.NDArray[Any]: ...
    def fills_at_rows(self) -> npt.NDArray[np.int64]: ...
    def mid_series(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]: ...
