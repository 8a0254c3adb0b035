from typing import Final

import numpy as np
import numpy.typing as npt

LINK_IDENTITY: Final[int]
LINK_LOGISTIC: Final[int]
LINK_SOFTMAX: Final[int]

class Forest:
    """A flattened tree ensemble: perfect trees of one depth, evaluated without branches."""
    depth: int  # int, D (every tree padded to 2^D leaves)
    n_trees: int  # Py_ssize_t
    n_outputs: int  # int, raw scores per row (1 for a binary logistic model)
    n_features: int  # Py_ssize_t
    link: int  # LINK_*
    f32: bool  # bint: inputs rounded to float32 before comparing (XGBoost)
    acc32: bool  # bint: leaves summed and linked in float32 (XGBoost)
    def __init__(self, thr: npt.NDArray[np.float64],  # (n_trees, 2^D - 1)
                 feat: npt.NDArray[np.int32], nan_right: npt.NDArray[np.int32],
                 leaves: npt.NDArray[np.float64],  # (n_trees, 2^D)
                 tree_out: npt.NDArray[np.int32], base: npt.NDArray[np.float64], depth: int,
                 n_features: int, link: int, f32: bool = ..., acc32: bool = ...) -> None: ...
    @property
    def n_classes(self) -> int: ...
    def proba_one(self, x: npt.NDArray[np.float64], out: npt.NDArray[np.float64]) -> None: ...
    def proba_batch(self, X: npt.NDArray[np.float64], out: npt.NDArray[np.float64],  # double[:, ::1]
                    n_threads: int = ..., raw: bool = ...) -> None: ...
    def raw_one(self, x: npt.NDArray[np.float64], out: npt.NDArray[np.float64]) -> None: ...
