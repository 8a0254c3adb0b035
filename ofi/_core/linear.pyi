import numpy as np
import numpy.typing as npt

class Linear:
    """Mean imputation, standardisation, logistic / softmax link (ofi.models.LogisticModel)."""
    n_features: int  # Py_ssize_t
    n_outputs: int  # int: 1 (binary) or n_classes
    def __init__(self, fill: npt.NDArray[np.float64], mean: npt.NDArray[np.float64],
                 scale: npt.NDArray[np.float64], coef: npt.NDArray[np.float64],  # (n_outputs, n_features)
                 intercept: npt.NDArray[np.float64]) -> None: ...
    @property
    def n_classes(self) -> int: ...
    def proba_one(self, x: npt.NDArray[np.float64], out: npt.NDArray[np.float64]) -> None: ...
    def proba_batch(self, X: npt.NDArray[np.float64], out: npt.NDArray[np.float64], n_threads: int = ...) -> None: ...
