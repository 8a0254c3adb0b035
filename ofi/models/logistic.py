"""Logistic regression: scikit-learn's LogisticRegression behind mean imputation and
standardisation, answered by a compiled predict (``ofi._core.linear``)."""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from ofi._core.linear import Linear
from ofi.errors import InvalidInputError
from ofi.models._inputs import as_matrix, card_inputs, class_labels
from ofi.models.base import CompiledModel, ModelCard

__all__ = ["LogisticModel"]


class LogisticModel(CompiledModel):
    """Binary or multinomial logistic regression on standardised features.

    Parameters
    ----------
    C : float
        Inverse L2 regularisation strength (scikit-learn's ``C``).
    max_iter, class_weight, random_state : as in ``sklearn.linear_model.LogisticRegression``.

    Notes
    -----
    Training fits ``SimpleImputer(mean) -> StandardScaler -> LogisticRegression``; a NaN feature
    (not yet warm) is replaced by its training mean, i.e. contributes 0 after standardisation.
    The compiled predict applies the same three steps to a row.
    """

    kind = "logistic"
    _FILE_ARRAYS = {"fill": np.float64, "mean": np.float64, "scale": np.float64, "coef": np.float64,
                    "intercept": np.float64}

    def __init__(self, C: float = 1.0, *, max_iter: int = 1000, class_weight: Any = None, random_state: int = 0):
        super().__init__()
        if isinstance(C, bool) or not isinstance(C, numbers.Real) or not C > 0:
            raise InvalidInputError(f"C must be > 0, got {C!r}")
        self.C = float(C)
        self.max_iter = max_iter
        self.class_weight = class_weight
        self.random_state = random_state
        self.estimator_ = None
        self._arrays: dict[str, np.ndarray] | None = None

    def get_params(self) -> dict[str, Any]:
        return {"C": self.C, "max_iter": self.max_iter, "class_weight": self.class_weight,
                "random_state": self.random_state}

    def fit(self, X, y, *, sample_weight=None, feature_names=None, feature_config_hash: str | None = None,
            label: dict | None = None, validation: dict | None = None) -> "LogisticModel":
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        arr = as_matrix(X, None)
        y, classes = class_labels(y, arr.shape[0])
        names, period = card_inputs(X, feature_names, arr.shape[1])
        if np.isinf(arr).any():
            raise InvalidInputError("X contains +-inf, which a linear model cannot use")
        pipe = make_pipeline(SimpleImputer(strategy="mean", keep_empty_features=True), StandardScaler(),
                             LogisticRegression(C=self.C, max_iter=self.max_iter, class_weight=self.class_weight,
                                                random_state=self.random_state))
        try:
            pipe.fit(arr, y, logisticregression__sample_weight=sample_weight)
        except ValueError as exc:
            raise InvalidInputError(f"training failed: {exc}") from None
        imp, sc, lr = pipe.steps[0][1], pipe.steps[1][1], pipe.steps[2][1]
        fill = np.nan_to_num(np.asarray(imp.statistics_, dtype=np.float64), nan=0.0)
        self.estimator_ = pipe
        self._set_arrays({"fill": fill, "mean": sc.mean_.astype(np.float64), "scale": sc.scale_.astype(np.float64),
                          "coef": lr.coef_.astype(np.float64), "intercept": lr.intercept_.astype(np.float64)},
                         ModelCard(feature_names=names, classes=classes.tolist(), feature_config_hash=feature_config_hash,
                                   label=dict(label or {}), training_period=period, validation=dict(validation or {}),
                                   params=self.get_params(), source="scikit-learn"))
        return self

    def train(self, X, y, **kw) -> "LogisticModel":
        return self.fit(X, y, **kw)

    def _set_arrays(self, arrays: dict[str, np.ndarray], card: ModelCard) -> None:
        c = Linear(arrays["fill"], arrays["mean"], arrays["scale"], arrays["coef"], arrays["intercept"])
        if len(card.classes) != c.n_classes or len(card.feature_names) != c.n_features:
            raise InvalidInputError("model card does not match the coefficients")
        self._arrays = arrays
        self._bind(c, card)

    # ---- model files
    def _file_parts(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return dict(self._arrays), {}

    @classmethod
    def _from_file(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any], card: ModelCard) -> "LogisticModel":
        model = cls()
        model._set_arrays(arrays, card)
        return model

    @property
    def coef_(self) -> np.ndarray:
        self._need_fitted()
        return self._arrays["coef"]

    def top_features(self, n: int = 10) -> list[tuple[str, float]]:
        """Features by the largest |coefficient| on the standardised scale (summed over classes)."""
        self._need_fitted()
        w = np.abs(self._arrays["coef"]).sum(axis=0)
        order = np.argsort(-w, kind="stable")[:max(0, int(n))]
        return [(self.card.feature_names[i], float(w[i])) for i in order]
