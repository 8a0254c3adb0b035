# Stub for ofi/_core/rolling.pyx: rolling statistics over the inline kernels of rolling.pxd.
# The batch functions trust their arguments (C-contiguous float64 / int64, equal lengths, valid
# windows); the validated public wrappers are in ofi.orderflow.rolling.
import datetime

import numpy as np
import numpy.typing as npt

def duration_ns(name: str, value: int | datetime.timedelta | np.timedelta64) -> int: ...  # int64 ns > 0
def rolling_moments(
    x: npt.NDArray[np.float64],  # const double[::1]
    window: int,  # Py_ssize_t >= 1
    ddof: int,  # int
    min_periods: int,  # Py_ssize_t
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
    # (mean, var, zscore), each float64[n]
def ewm_moments(
    x: npt.NDArray[np.float64],  # const double[::1]
    alpha: float,  # double in (0, 1]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...  # (mean, var)
def rolling_ols(
    x: npt.NDArray[np.float64],  # const double[::1]
    y: npt.NDArray[np.float64],  # const double[::1]
    window: int,  # Py_ssize_t >= 2
    intercept: bool,  # bint
    min_periods: int,  # Py_ssize_t
) -> npt.NDArray[np.float64]: ...  # float64[4, n]: slope, intercept, t_stat, r2
def time_window_sum(
    ts: npt.NDArray[np.int64],  # const int64_t[::1] ns, non-decreasing
    x: npt.NDArray[np.float64],  # const double[::1]
    width: int,  # int64_t ns > 0
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]: ...  # (total, count)

class RollingMoments:
    window: int  # Py_ssize_t, readonly
    ddof: int  # int, readonly
    def __init__(self, window: int, ddof: int = ...) -> None: ...
    def push(self, x: float) -> None: ...  # double; NaN or inf raises InvalidInputError
    def reset(self) -> None: ...
    @property
    def count(self) -> int: ...  # Py_ssize_t
    @property
    def full(self) -> bool: ...
    @property
    def mean(self) -> float: ...
    @property
    def var(self) -> float: ...
    @property
    def std(self) -> float: ...
    def zscore(self, x: float) -> float: ...

class RollingOLS:
    window: int  # Py_ssize_t, readonly
    intercept: bool  # bint, readonly
    def __init__(self, window: int, intercept: bool = ...) -> None: ...
    def push(self, x: float, y: float) -> None: ...  # doubles; NaN or inf raises InvalidInputError
    def reset(self) -> None: ...
    @property
    def count(self) -> int: ...  # Py_ssize_t
    def fit(self) -> tuple[float, float, float, float, int]: ...  # slope, intercept, t_stat, r2, n

class EwmMoments:
    def __init__(self, alpha: float) -> None: ...  # double in (0, 1]
    def push(self, x: float) -> None: ...
    @property
    def alpha(self) -> float: ...
    @property
    def count(self) -> int: ...  # int64_t
    @property
    def mean(self) -> float: ...
    @property
    def var(self) -> float: ...

class TimeWindowSum:
    def __init__(self, width: int) -> None: ...  # int64_t ns > 0
    def push(self, ts: int, v: float) -> None: ...  # int64_t ns (non-decreasing), double
    def advance(self, now: int) -> None: ...  # int64_t ns
    def reset(self) -> None: ...
    @property
    def width(self) -> int: ...  # int64_t ns
    @property
    def total(self) -> float: ...
    @property
    def count(self) -> int: ...  # Py_ssize_t
