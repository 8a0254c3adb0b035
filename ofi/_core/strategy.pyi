from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from ofi._core.book import OrderBook
from ofi._core.events import Trade

R_NAN_SPREAD: int
R_NAN_OFI: int
R_NAN_PROB: int
R_WIDE: int
R_COOLDOWN: int
R_PROB_LONG: int
R_PROB_SHORT: int
R_PROB_NEUTRAL: int
R_OFI_VETO: int
R_OFI_LONG: int
R_OFI_SHORT: int
R_OFI_NEUTRAL: int
R_IN_POSITION: int
R_REVERSAL: int
R_BAND_EXIT: int
R_REQUIRED: int  # + j: required feature j is NaN
REASON_CODES: dict[int, str]

class StrategyKernel:
    """ModelStrategy's decisions in compiled code (features -> model -> signal -> position)."""
    values: npt.NDArray[np.float64]  # the feature vector after the last book message (N_FEATURE_SLOTS)
    n_books: int  # int64: book messages seen
    has_signal: bool
    signal: int  # ofi.strategy.Signal value of the last decision
    probability: float
    ofi_zscore: float
    signal_mid: float
    signal_spread: float
    signal_ts: int
    def __init__(self, feature_kernel: Any, model: Any, i_up: int, i_down: int, n_classes: int,
                 slots: dict[str, int], required: tuple[int, ...], prob_threshold_long: float,
                 prob_threshold_short: float, ofi_threshold: float, max_spread_bps: float, cooldown_ns: int,
                 close_on: str, sizing: str, qty: float | None, fraction: float, target_vol_bps: float,
                 vol_window_ns: int, max_notional: float | None, qty_step: Decimal, min_qty: Decimal,
                 stop_loss_bps: float | None, take_profit_bps: float | None, max_holding_ns: int | None,
                 max_daily_loss: float | None, trade_after_ns: int | None) -> None: ...
    def on_book(self, book: OrderBook, now_ns: int, position: float, cash: float, busy: bool) -> float: ...
    def on_trade(self, trade: Trade) -> None: ...
    def on_fill(self, side: int, qty: float, price: float, fee: float, ts_ns: int) -> float: ...
    def round_qty(self, q: float) -> float: ...
    def snap(self, q: float) -> float: ...
    @property
    def reasons(self) -> tuple[int, ...]: ...
    @property
    def position_state(self) -> tuple[float, float, float, float, int | None, bool]: ...

KERNEL_CONSTANTS: dict[str, int]   # the core's NS_PER_DAY and MAX_CLASSES (pinned to ofi.validation by a test)
