"""Compiled tree and linear inference against the libraries' own predictions.

Acceptance (issue 6): ``predict_proba`` equals scikit-learn's within 1e-12 on 100k rows with NaNs,
binary and three-class; LightGBM and XGBoost imports equal their own ``predict`` within 1e-9.
Inputs include NaN, +-inf, values exactly on thresholds and a constant column.
"""
from __future__ import annotations

import numpy as np
import pytest

from ofi.models import GradientBoostingModel, LogisticModel

N_TEST = 100_000


def market(seed, n, n_features=12, classes=2):
    """Rows with NaN (10%), a few +-inf, a constant column; labels from a noisy rule."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features))
    z = np.nan_to_num(X[:, 0]) + 0.5 * np.nan_to_num(X[:, 1]) - 0.3 * np.nan_to_num(X[:, 2]) \
        + rng.normal(size=n) * 0.7
    X[rng.random(X.shape) < 0.10] = np.nan
    X[:, 3] = 1.0
    y = (z > 0).astype(int) if classes == 2 else np.digitize(z, [-0.6, 0.6]) - 1
    return X, y


def probe_rows(seed=99, n=N_TEST, n_features=12):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features))
    X[rng.random(X.shape) < 0.10] = np.nan
    X[:50] = np.inf
    X[50:100] = -np.inf
    X[100:150, 3] = 2.0
    return X


@pytest.fixture(scope="module")
def rows():
    X = probe_rows()
    return X


@pytest.mark.parametrize("classes", [2, 3])
def test_sklearn_hgb_equal_within_1e12_on_100k_rows_with_nan(classes, rows):
    X, y = market(1, 20_000, classes=classes)
    m = GradientBoostingModel(learning_rate=0.1, random_state=0).train(X, y, n_trees=60, max_depth=6)
    want = m.estimator_.predict_proba(rows)
    got = m.predict_proba(rows, n_threads=2)
    assert got.shape == want.shape == (N_TEST, classes)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    # values exactly on a split threshold go left, as in scikit-learn: probe every threshold
    thr = m._forest.thr[np.isfinite(m._forest.thr)]
    feat = m._forest.feat.reshape(-1)[np.isfinite(m._forest.thr.reshape(-1))]
    probe = np.tile(np.nan_to_num(rows[:1]), (len(thr), 1))
    probe[np.arange(len(thr)), feat] = thr
    np.testing.assert_allclose(m.predict_proba(probe), m.estimator_.predict_proba(probe), rtol=0, atol=1e-12)
    # one row at a time (the live path) equals the batch
    for i in (0, 60, 120, 5000):
        np.testing.assert_array_equal(m.predict_proba(rows[i]), got[i])
    assert list(m.predict(rows[:5])) == list(m.estimator_.predict(rows[:5]))


@pytest.mark.parametrize("classes", [2, 3])
def test_logistic_equal_within_1e12(classes, rows):
    X, y = market(2, 5_000, classes=classes)
    m = LogisticModel(C=0.5).fit(X, y)
    R = np.where(np.isinf(rows), 0.0, rows)          # a linear model cannot take +-inf
    np.testing.assert_allclose(m.predict_proba(R), m.estimator_.predict_proba(R), rtol=0, atol=1e-12)


@pytest.mark.parametrize("classes", [2, 3])
def test_lightgbm_import_equals_its_predict(classes, rows):
    lgb = pytest.importorskip("lightgbm")
    X, y = market(3, 20_000, classes=classes)
    clf = lgb.LGBMClassifier(n_estimators=80, max_depth=6, num_leaves=40, learning_rate=0.1, verbose=-1,
                             n_jobs=1, random_state=0).fit(X, y)
    m = GradientBoostingModel.from_lightgbm(clf)
    want = clf.predict_proba(rows)
    np.testing.assert_allclose(m.predict_proba(rows), want, rtol=0, atol=1e-9)
    assert list(m.classes_) == list(clf.classes_)
    # a model whose features never had NaN in training (missing type None: NaN compared as 0)
    clean = np.nan_to_num(X)
    clf2 = lgb.LGBMClassifier(n_estimators=30, verbose=-1, n_jobs=1).fit(clean, y)
    np.testing.assert_allclose(GradientBoostingModel.from_lightgbm(clf2).predict_proba(rows),
                               clf2.predict_proba(rows), rtol=0, atol=1e-9)


@pytest.mark.parametrize("classes", [2, 3])
def test_xgboost_import_equals_its_predict(classes, rows):
    xgb = pytest.importorskip("xgboost")
    X, y = market(4, 20_000, classes=classes)
    yy = y if classes == 2 else y + 1
    clf = xgb.XGBClassifier(n_estimators=80, max_depth=6, learning_rate=0.1, n_jobs=1, random_state=0).fit(X, yy)
    m = GradientBoostingModel.from_xgboost(clf)
    np.testing.assert_allclose(m.predict_proba(rows), clf.predict_proba(rows), rtol=0, atol=1e-9)


def test_lightgbm_zero_as_missing_is_refused():
    lgb = pytest.importorskip("lightgbm")
    from ofi.errors import InvalidInputError
    X, y = market(5, 3_000)
    clf = lgb.LGBMClassifier(n_estimators=5, zero_as_missing=True, verbose=-1, n_jobs=1).fit(X, y)
    with pytest.raises(InvalidInputError, match="zero_as_missing"):
        GradientBoostingModel.from_lightgbm(clf)
