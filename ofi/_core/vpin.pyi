from typing import Final

import numpy as np
import numpy.typing as npt

from ofi._core.events import Trade

CLASSIFICATIONS: Final[tuple[str, ...]]
MAX_BUCKETS_PER_ROW: Final[float]

# ---- batch helpers (trust their arguments; ofi.orderflow.vpin.vpin_series checks them)
def normal_cdf(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]: ...  # const double[::1]
def tick_fractions(price: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]: ...
def bvc_z(price: npt.NDArray[np.float64], volume: npt.NDArray[np.float64], sigma: float,  # double
          window: int,  # Py_ssize_t; > 0: rolling sigma of the previous `window` changes
          ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]: ...  # (rows, z)
def vpin_buckets(volume: npt.NDArray[np.float64], frac: npt.NDArray[np.float64],
                 rows: npt.NDArray[np.int64] | None, bucket_volume: float,  # double
                 n_buckets: int,  # Py_ssize_t
                 cap: int,  # Py_ssize_t: upper bound on completed buckets
                 ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64],
                            npt.NDArray[np.float64], npt.NDArray[np.int64], float]: ...
                 # (buy, sell, imbalance, vpin, end_index, progress)
def expanding_ecdf(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]: ...

# ---- streaming
class VpinCalculator:
    bucket_volume: float  # double, V
    n_buckets: int  # Py_ssize_t, n
    classification: str  # "aggressor" | "tick" | "bvc" | "bvc_t"
    sigma: float | None  # fixed sigma of bar price changes (bvc)
    sigma_window: int | None  # rolling sigma window in bars (bvc)
    df: float | None  # Student-t degrees of freedom (bvc_t)
    def __init__(self, bucket_volume: float, n_buckets: int, classification: str = ..., *,
                 sigma: float | None = ..., sigma_window: int | None = ...,
                 df: float | None = ...) -> None: ...
    def add_trade(self, trade: Trade) -> float | None: ...  # reads Trade's C fields size/side/price
    def add(self, volume: float, buy_fraction: float) -> float | None: ...
    def add_bar(self, price: float, volume: float) -> float | None: ...
    def add_trades(self, size: npt.ArrayLike, side: npt.ArrayLike | None = ...,
                   price: npt.ArrayLike | None = ...) -> npt.NDArray[np.float64]: ...  # per row, NaN = no value
    def add_bars(self, price: npt.ArrayLike, volume: npt.ArrayLike) -> npt.NDArray[np.float64]: ...
    def reset(self) -> None: ...
    @property
    def vpin(self) -> float: ...  # NaN until n buckets are complete
    @property
    def ready(self) -> bool: ...
    @property
    def buckets(self) -> int: ...  # int64_t, completed buckets
    @property
    def progress(self) -> float: ...  # fill of the open bucket / V, in [0, 1)
    @property
    def rows(self) -> int: ...  # int64_t, rows fed so far
    @property
    def last_buy_volume(self) -> float: ...
    @property
    def last_sell_volume(self) -> float: ...
