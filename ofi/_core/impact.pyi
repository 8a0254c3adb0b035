# Stub for ofi/_core/impact.pyx: price-impact and spread kernels and the streaming KyleLambda.
# The batch functions trust dtypes and windows (validated wrappers: ofi.orderflow.impact) but
# check equal lengths themselves (InvalidInputError).
import numpy as np
import numpy.typing as npt

from ofi._core.events import Trade

def trade_bars(
    ts: npt.NDArray[np.int64],  # const int64_t[::1] ns, non-decreasing
    price: npt.NDArray[np.float64],  # const double[::1], > 0
    size: npt.NDArray[np.float64],  # const double[::1], >= 0
    side: npt.NDArray[np.int64],  # const int64_t[::1] in {-1, 0, +1}
    mode: int,  # int: 0 time, 1 trades, 2 volume, 3 dollar
    interval: int,  # int64_t: ns (time) or trades per bar
    threshold: float,  # double: volume / dollar per bar
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]: ...
    # (ts, n_trades, fields float64[9, n_bars]: open high low close volume dollar sv sdv ssq)
def regression_lambda(
    price: npt.NDArray[np.float64],  # const double[::1]
    x: npt.NDArray[np.float64],  # const double[::1]
    window: int,  # Py_ssize_t
    intercept: bool,  # bint
    ymode: int,  # int: 0 dp, 1 d ln p, 2 |d ln p|
    min_periods: int,  # Py_ssize_t
    skip_zero_x: bool,  # bint
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]: ...
    # (float64[4, n]: slope, intercept, t_stat, r2; int64[n] pairs in the window)
def amihud_mean(
    price: npt.NDArray[np.float64],  # const double[::1], > 0
    dollar_volume: npt.NDArray[np.float64],  # const double[::1], >= 0
    window: int,  # Py_ssize_t
    min_periods: int,  # Py_ssize_t
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]: ...  # (mean, n)
def roll_spread(
    price: npt.NDArray[np.float64],  # const double[::1]
    window: int,  # Py_ssize_t >= 2
    min_periods: int,  # Py_ssize_t >= 2
    positive_nan: bool,  # bint: NaN (True) or 0 (False) when the autocovariance is > 0
) -> npt.NDArray[np.float64]: ...
def corwin_schultz(
    high: npt.NDArray[np.float64],  # const double[::1], > 0
    low: npt.NDArray[np.float64],  # const double[::1], > 0, <= high
    window: int,  # Py_ssize_t
    min_periods: int,  # Py_ssize_t
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...  # (spread, sigma)
def tick_rule(
    price: npt.NDArray[np.float64],  # const double[::1]
    first: int,  # int in {-1, 0, 1}
) -> npt.NDArray[np.int8]: ...

class KyleLambda:
    window: int  # Py_ssize_t, readonly
    min_periods: int  # Py_ssize_t, readonly
    intercept: bool  # bint, readonly
    log: bool  # bint, readonly
    x: str  # "sv" | "sdv" | "ssq", readonly
    interval_ns: int | None  # readonly
    n_trades: int  # int64_t, readonly
    n_bars: int  # int64_t, readonly
    def __init__(self, window: int = ..., intercept: bool = ..., *, interval_ns: int | None = ...,
                 x: str = ..., log: bool = ..., min_periods: int | None = ...) -> None: ...
    def add_trade(self, trade: Trade) -> float | None: ...
    def add(self, price: float, size: float, side: int, ts_exch: int = ...) -> float | None: ...
        # double, double, int, int64_t ns
    def update(self, price_change: float, signed_volume: float) -> float: ...
    def update_many(self, price_change: npt.NDArray[np.float64],  # const double[::1]
                    signed_volume: npt.NDArray[np.float64],  # const double[::1]
                    ) -> float: ...
    def flush(self) -> float | None: ...
    def advance(self, now_ns: int) -> float | None: ...  # int64_t ns
    def reset(self) -> None: ...
    @property
    def value(self) -> float: ...
    @property
    def count(self) -> int: ...  # Py_ssize_t
    def fit(self) -> tuple[float, float, float, float, int]: ...  # lambda, intercept, t, r2, n

class HasbrouckLambda:
    window: int  # Py_ssize_t, readonly
    min_periods: int  # Py_ssize_t, readonly
    intercept: bool  # bint, readonly
    def __init__(self, window: int = ..., intercept: bool = ..., *, min_periods: int | None = ...) -> None: ...
    def update(self, close: float, ssq: float) -> float | None: ...  # double, double
    @property
    def value(self) -> float: ...
    def fit(self) -> tuple[float, float, float, float, int]: ...

class AmihudLambda:
    window: int  # Py_ssize_t, readonly
    min_periods: int  # Py_ssize_t, readonly
    def __init__(self, window: int = ..., *, min_periods: int | None = ...) -> None: ...
    def update(self, close: float, dollar_volume: float) -> float: ...  # double, double
    @property
    def value(self) -> float: ...

class RollSpread:
    window: int  # Py_ssize_t, readonly
    min_periods: int  # Py_ssize_t, readonly
    def __init__(self, window: int = ..., *, when_positive: str = ..., min_periods: int | None = ...) -> None: ...
    def update(self, price: float) -> float: ...  # double
    @property
    def value(self) -> float: ...

class CorwinSchultzSpread:
    window: int  # Py_ssize_t, readonly
    min_periods: int  # Py_ssize_t, readonly
    def __init__(self, window: int = ..., *, min_periods: int | None = ...) -> None: ...
    def update(self, high: float, low: float) -> tuple[float, float]: ...  # spread, sigma

class TickRule:
    def __init__(self, first: int = ...) -> None: ...
    def update(self, price: float) -> int: ...  # double -> -1 / 0 / +1
