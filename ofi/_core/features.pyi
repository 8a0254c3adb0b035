from typing import Final, Sequence

import numpy as np
import numpy.typing as npt

from ofi._core.book import OrderBook
from ofi._core.events import Trade

N_FEATURE_SLOTS: Final[int]  # 75: N_FEATURES of feature_slots.pxd (generated from the registry)

class FeatureKernel:
    """State of ofi.features.FeatureEngine; arguments come checked from a FeatureConfig."""
    L: int  # int, orderbook_levels
    now: int  # int64_t, engine clock (ns)
    def __init__(self, orderbook_levels: int, vpin_bucket_size: float, vpin_num_buckets: int,
                 history_window: int, spread_window: int, horizons_ns: Sequence[int],  # 4 x int64_t
                 bar_ns: int, zscore_bars: int, impact_bars: int, vol_bars: int, roll_window: int,
                 large_trade_quantile: float, large_trade_horizon: int, ema_fast: int, ema_slow: int,
                 rsi_period: int, bollinger_period: int, momentum_short: int, momentum_long: int,
                 pca_min_bars: int, toxicity_weights: Sequence[float]) -> None: ...
    def reset(self) -> None: ...
    def update_book(self, book: OrderBook) -> None: ...
    def update_trade(self, trade: Trade) -> None: ...
    def extract_into(self, book: OrderBook, out: npt.NDArray[np.float64]) -> None: ...  # double[::1]
    def slots_written(self) -> int: ...
    def transform_into(self, book: OrderBook, tape: npt.NDArray[np.void], start: int, stop: int,
                       out: npt.NDArray[np.float64],  # double[:, ::1], (rows, N_FEATURE_SLOTS)
                       ts_out: npt.NDArray[np.int64], kind_out: npt.NDArray[np.int8],
                       row: int) -> tuple[int, int]: ...  # (next tape row, next output row)

# ---- indicator series (ofi.features.indicators checks the arguments)
def ema_series(x: npt.NDArray[np.float64], span: int) -> npt.NDArray[np.float64]: ...
def ema_crossover_series(x: npt.NDArray[np.float64], fast: int, slow: int) -> npt.NDArray[np.float64]: ...
def rsi_series(x: npt.NDArray[np.float64], period: int) -> npt.NDArray[np.float64]: ...
def bollinger_series(x: npt.NDArray[np.float64], period: int) -> npt.NDArray[np.float64]: ...
