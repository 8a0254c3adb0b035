"""Validation (``ofi.models.validation``): purging and embargo on a hand-checked case, the folds
against their definitions on random samples, per-fold scoring with hand-derived metrics, the
point-in-time checks refusing a planted leak, and purged CV scoring below shuffled CV on a market
whose labels overlap."""
from __future__ import annotations

import math

import numpy as np
import pytest

from ofi.errors import InvalidInputError, LeakageError, OfiError
from ofi.models.labels import forward_move_labels
from ofi.models.validation import (DEFAULT_METRICS, Fold, PurgedKFold, PurgedWalkForward, check_label_times,
                                   check_point_in_time, cross_validate)


def same(a, b):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


# ================================================================================ hand-checked case
# Ten samples 10 ns apart; most labels last 15 ns, sample 1's lasts 32 ns (until 42).
T0 = [0, 10, 20, 30, 40, 50, 60, 70, 80, 90]
T1 = [15, 42, 35, 45, 55, 65, 75, 85, 95, 105]


def test_purged_kfold_by_hand():
    folds = PurgedKFold(5, embargo_ns=20).folds(T0, T1)
    assert [f.fold for f in folds] == [0, 1, 2, 3, 4]
    f = folds[2]
    # test = samples 4, 5 (the third group of two); test window [min t0, max t1] = [40, 65]
    same(f.test, [4, 5])
    assert (f.test_start_ns, f.test_end_ns) == (40, 65)
    # purged (label window overlaps [40, 65]):
    #   before the test: 1 ([10, 42] reaches 40: the long label), 3 ([30, 45]); not 0 ([0, 15]),
    #   not 2 ([20, 35] ends before 40);  after the test: 6 ([60, 75] starts before 65)
    same(f.purged, [1, 3, 6])
    # embargoed (not purged, 65 < t0 <= 65 + 20): 7 (t0 70), 8 (t0 80); 9 (t0 90) is past it
    same(f.embargoed, [7, 8])
    same(f.train, [0, 2, 9])
    assert (f.n_train, f.n_test, f.n_purged, f.n_embargoed) == (3, 2, 3, 2)
    # fold 0: test 0, 1 window [0, 42]: purged 2 ([20, 35]), 3 ([30, 45]), 4 ([40, 55]);
    # embargo (42, 62]: 5 (50), 6 (60)
    same(folds[0].purged, [2, 3, 4])
    same(folds[0].embargoed, [5, 6])
    same(folds[0].train, [7, 8, 9])
    # the last fold has nothing after it to embargo: test 8, 9 window [80, 105], purged 7 ([70, 85])
    same(folds[4].purged, [7])
    same(folds[4].embargoed, [])
    # no embargo: the same purge, nothing embargoed
    f0 = PurgedKFold(5).folds(T0, T1)[2]
    same(f0.purged, [1, 3, 6])
    same(f0.embargoed, [])
    same(f0.train, [0, 2, 7, 8, 9])


def test_purged_walk_forward_by_hand():
    folds = PurgedWalkForward(4, embargo_ns=10).folds(T0, T1)
    # 5 groups of 2. Fold 0 tests 2, 3 (window [20, 45]) and could train on 0, 1:
    # 1 ([10, 42]) is purged, 0 (t1 = 15 in [20 - 10, 20)) is embargoed -> no training sample, skipped
    assert [f.fold for f in folds] == [1, 2, 3]
    f = folds[0]
    # fold 1 tests 4, 5 (window [40, 65]), candidates 0..3:
    #   purged (t1 >= 40): 1 (42), 3 (45);  embargoed (30 <= t1 < 40): 2 (35);  kept: 0 (15)
    same(f.test, [4, 5])
    same(f.purged, [1, 3])
    same(f.embargoed, [2])
    same(f.train, [0])
    # fold 2 tests 6, 7 (window [60, 85]): purged 5 (65 >= 60), embargoed 4 (55 in [50, 60))
    same(folds[1].purged, [5])
    same(folds[1].embargoed, [4])
    same(folds[1].train, [0, 1, 2, 3])
    # fold 3 tests 8, 9: purged 7 (85 >= 80), embargoed 6 (75 in [70, 80))
    same(folds[2].train, [0, 1, 2, 3, 4, 5])
    # min_train_size drops fold 1 as well; embargo 0 keeps fold 0 (sample 0) and embargoes nothing
    assert [f.fold for f in PurgedWalkForward(4, embargo_ns=10, min_train_size=2).folds(T0, T1)] == [2, 3]
    folds = PurgedWalkForward(4).folds(T0, T1)
    assert [f.fold for f in folds] == [0, 1, 2, 3]
    same(folds[0].train, [0])
    same(folds[0].purged, [1])
    assert all(f.n_embargoed == 0 for f in folds)


def test_indices_refer_to_the_callers_order():
    # the same ten samples handed over in a shuffled order: the folds name the same samples
    perm = np.array([7, 2, 9, 0, 4, 1, 8, 3, 6, 5])
    t0, t1 = np.array(T0)[perm], np.array(T1)[perm]
    f = PurgedKFold(5, embargo_ns=20).folds(t0, t1)[2]
    same(perm[f.test], [4, 5])          # perm[position] = original sample
    same(np.sort(perm[f.purged]), [1, 3, 6])
    same(np.sort(perm[f.embargoed]), [7, 8])
    same(np.sort(perm[f.train]), [0, 2, 9])
    assert np.all(np.diff(f.train) > 0)


def test_split_yields_train_and_test_of_each_fold():
    cv = PurgedKFold(5, embargo_ns=20)
    pairs = list(cv.split(T0, T1))
    folds = cv.folds(T0, T1)
    assert len(pairs) == len(folds) == cv.get_n_splits() == 5
    for (tr, te), f in zip(pairs, folds):
        same(tr, f.train)
        same(te, f.test)
        assert tr.dtype == te.dtype == np.int64


# ================================================================================ against the definitions
def random_samples(rng, n):
    t0 = np.sort(rng.integers(0, 10_000, n))
    t1 = t0 + rng.integers(0, 400, n)
    perm = rng.permutation(n)
    return t0[perm], t1[perm]


@pytest.mark.parametrize("seed", range(5))
def test_kfold_matches_its_definition(seed):
    rng = np.random.default_rng(seed)
    t0, t1 = random_samples(rng, 120)
    emb = int(rng.integers(0, 300))
    folds = PurgedKFold(4, embargo_ns=emb).folds(t0, t1)
    tested = np.concatenate([f.test for f in folds])
    same(np.sort(tested), np.arange(120))                  # every sample is tested exactly once
    for f in folds:
        a, b = t0[f.test].min(), t1[f.test].max()
        assert len(f.test) == 30 and np.ptp(np.argsort(np.argsort(t0, kind="stable"))[f.test]) == 29
        for i in range(120):
            if i in f.test:
                continue
            overlaps = t0[i] <= b and t1[i] >= a
            embargoed = not overlaps and b < t0[i] <= b + emb
            where = "purged" if overlaps else ("embargoed" if embargoed else "train")
            assert i in getattr(f, where), (f.fold, i, where)
        assert len(f.train) + len(f.purged) + len(f.embargoed) + len(f.test) == 120


@pytest.mark.parametrize("seed", range(5))
def test_walk_forward_matches_its_definition(seed):
    rng = np.random.default_rng(50 + seed)
    t0, t1 = random_samples(rng, 100)
    emb = int(rng.integers(0, 300))
    rank = np.argsort(np.argsort(t0, kind="stable"))       # position of each sample in t0 order
    for f in PurgedWalkForward(4, embargo_ns=emb).folds(t0, t1):
        k = f.fold
        same(np.sort(rank[f.test]), np.arange(20 * (k + 1), 20 * (k + 2)))
        start = t0[f.test].min()
        for i in np.flatnonzero(rank < 20 * (k + 1)):
            where = "purged" if t1[i] >= start else ("embargoed" if t1[i] >= start - emb else "train")
            assert i in getattr(f, where), (k, i, where)
        assert len(f.train) + len(f.purged) + len(f.embargoed) == 20 * (k + 1)
        assert (t1[f.train] < start - emb).all()           # every training label known before the gap


# ================================================================================ bad input
@pytest.mark.parametrize("make,match", [
    (lambda: PurgedKFold(1), "n_splits must be >= 2, got 1"),
    (lambda: PurgedWalkForward(0), "n_splits must be >= 2, got 0"),
    (lambda: PurgedKFold(2.5), "n_splits must be an integer"),
    (lambda: PurgedKFold(3, embargo_ns=-1), "embargo_ns must be an integer >= 0.*-1"),
    (lambda: PurgedWalkForward(3, embargo_ns=1.5), "embargo_ns must be an integer >= 0"),
    (lambda: PurgedWalkForward(3, min_train_size=0), "min_train_size must be >= 1, got 0"),
])
def test_bad_splitter_configuration(make, match):
    with pytest.raises(InvalidInputError, match=match):
        make()


@pytest.mark.parametrize("cv,t0,t1,match", [
    (PurgedKFold(3), [0, 1, 2], [0, 1], "same length, got t0=3, t1=2"),
    (PurgedKFold(3), [0, 5, 9], [3, 4, 9], "t1 must be >= t0.*t1\\[1\\] = 4 < t0\\[1\\] = 5"),
    (PurgedKFold(3), [0, 1], [0, 1], "t0 has 2 samples.*needs at least 3"),
    (PurgedWalkForward(3), [0, 1, 2], [0, 1, 2], "t0 has 3 samples.*needs at least 4"),
    (PurgedWalkForward(3), [0, 1, 2, 3], [9, 9, 9, 9], "no fold .* keeps min_train_size=1"),
    (PurgedKFold(2), [0.5, 1, 2], [1, 1, 2], "t0 must hold whole numbers"),
    (PurgedKFold(2), [[0, 1]], [[0, 1]], "t0 must be 1-D"),
])
def test_bad_sample_times(cv, t0, t1, match):
    with pytest.raises(InvalidInputError, match=match):
        cv.folds(t0, t1)


# ================================================================================ cross_validate
class PriorModel:
    """Predicts the training class frequencies for every sample; records the weights it was given."""

    def fit(self, X, y, sample_weight=None):
        self.classes_ = np.unique(y)
        self.weights = sample_weight
        w = np.ones(len(y)) if sample_weight is None else sample_weight
        self.p = np.array([w[y == c].sum() for c in self.classes_]) / w.sum()
        return self

    def predict_proba(self, X):
        return np.tile(self.p, (len(X), 1))


def test_cross_validate_by_hand():
    X = np.zeros((6, 1))
    y = np.array([0, 1, 1, 1, 0, 1], dtype=np.int8)
    t = np.arange(6) * 10
    rows = cross_validate(PriorModel, X, y, t, t, PurgedWalkForward(2))
    assert [r["fold"] for r in rows] == [0, 1]
    r0, r1 = rows
    # fold 0: train 0, 1 -> p = (1/2, 1/2); test 2, 3 (both 1). argmax picks the first column, class 0:
    # accuracy 0; log loss ln 2; AUC undefined (one class only) -> NaN
    assert (r0["n_train"], r0["n_test"], r0["n_purged"], r0["n_embargoed"]) == (2, 2, 0, 0)
    assert (r0["train_start_ns"], r0["train_end_ns"], r0["test_start_ns"], r0["test_end_ns"]) == (0, 10, 20, 30)
    assert r0["accuracy"] == 0.0
    assert r0["log_loss"] == pytest.approx(math.log(2), rel=1e-12)
    assert math.isnan(r0["roc_auc"])
    # fold 1: train 0..3 -> p = (1/4, 3/4); test 4 (0), 5 (1): predicts 1 -> accuracy 1/2;
    # log loss -(ln 1/4 + ln 3/4) / 2; constant scores -> AUC 1/2
    assert r1["n_train"] == 4 and r1["accuracy"] == 0.5
    assert r1["log_loss"] == pytest.approx((math.log(4) + math.log(4 / 3)) / 2, rel=1e-12)
    assert r1["roc_auc"] == 0.5


def test_cross_validate_reports_purging_and_passes_weights():
    X = np.arange(10.0)[:, None]
    y = np.array([0, 1] * 5)
    w = np.arange(1.0, 11.0)
    seen = []

    class Recorder(PriorModel):
        def fit(self, X, y, sample_weight=None):
            seen.append(sample_weight.copy())
            return super().fit(X, y, sample_weight)

    rows = cross_validate(Recorder, X, y, T0, T1, PurgedKFold(5, embargo_ns=20), sample_weight=w,
                          metrics={"n_up": lambda yt, p, c: float((yt == 1).sum())})
    r = rows[2]
    assert (r["n_train"], r["n_test"], r["n_purged"], r["n_embargoed"]) == (3, 2, 3, 2)
    assert (r["test_start_ns"], r["test_end_ns"], r["train_start_ns"], r["train_end_ns"]) == (40, 65, 0, 105)
    same(seen[2], [1.0, 3.0, 10.0])                       # the weights of samples 0, 2, 9
    assert r["n_up"] == 1.0                                # test samples 4 (y 0), 5 (y 1)
    assert set(DEFAULT_METRICS) <= set(r)


def test_cross_validate_aligns_classes_a_fold_never_saw():
    # three classes, but the first training set holds only -1 and 0: the +1 column is filled with 0
    X = np.zeros((6, 1))
    y = np.array([-1, 0, 1, 1, 0, -1])
    t = np.arange(6)
    rows = cross_validate(PriorModel, X, y, t, t, PurgedWalkForward(2))
    # fold 0: p = (1/2, 1/2, 0); test 2, 3 are both +1 -> accuracy 0, log loss clipped but finite
    assert rows[0]["accuracy"] == 0.0 and math.isfinite(rows[0]["log_loss"]) and rows[0]["log_loss"] > 30
    # fold 1: train 0..3 -> p = (1/4, 1/4, 1/2); test 4 (0), 5 (-1); macro one-vs-rest over the two present
    # classes of constant scores = 1/2; log loss = ln 4
    assert rows[1]["log_loss"] == pytest.approx(math.log(4), rel=1e-12)
    assert rows[1]["roc_auc"] == 0.5


def test_cross_validate_bad_input():
    X, y, t = np.zeros((6, 2)), np.array([0, 1] * 3), np.arange(6)
    cv = PurgedWalkForward(2)
    with pytest.raises(InvalidInputError, match="same length, got X=5"):
        cross_validate(PriorModel, X[:5], y, t, t, cv)
    with pytest.raises(InvalidInputError, match="at least two classes, got \\[1\\]"):
        cross_validate(PriorModel, X, np.ones(6, dtype=int), t, t, cv)
    with pytest.raises(InvalidInputError, match="y must be a 1-D array of integer labels"):
        cross_validate(PriorModel, X, y + 0.5, t, t, cv)
    with pytest.raises(InvalidInputError, match="X must be 2-D"):
        cross_validate(PriorModel, np.zeros(6), y, t, t, cv)
    with pytest.raises(InvalidInputError, match="sample_weight must be >= 0"):
        cross_validate(PriorModel, X, y, t, t, cv, sample_weight=-np.ones(6))
    with pytest.raises(InvalidInputError, match="cv must have folds"):
        cross_validate(PriorModel, X, y, t, t, cv=5)
    with pytest.raises(InvalidInputError, match="metrics must map names to callables"):
        cross_validate(PriorModel, X, y, t, t, cv, metrics={"x": 1})

    class Wrong(PriorModel):
        def predict_proba(self, X):
            return np.ones((len(X), 5))

    with pytest.raises(InvalidInputError, match="fold 0: predict_proba returned shape \\(2, 5\\)"):
        cross_validate(Wrong, X, y, t, t, cv)


# ================================================================================ purged vs shuffled CV
def overlapping_market(seed, n=3000, horizon=50):
    """A random walk (nothing is predictable) labelled by the sign of the next 50-step move, with
    features from the past only (50- and 200-step returns). Labels of neighbours share up to 49 of
    their 50 steps, and so do the features: a shuffled split puts near-copies of each test sample,
    with nearly the same label, into the training set."""
    rng = np.random.default_rng(seed)
    ts = np.arange(n, dtype=np.int64) * 1_000_000_000
    mid = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 1e-3, n)))
    lab = forward_move_labels(ts, mid, horizon_events=horizon, classes=2)
    r = np.log(mid)
    past = [np.r_[np.full(k, np.nan), r[k:] - r[:-k]] for k in (horizon, 4 * horizon)]
    X = np.column_stack(past)
    ok = lab.valid & np.isfinite(X).all(axis=1)
    return X[ok], lab.y[ok], lab.t0[ok], lab.t1[ok]


def test_purged_cv_scores_below_shuffled_cv_when_labels_overlap():
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import KFold

    X, y, t0, t1 = overlapping_market(0)

    def make():
        return HistGradientBoostingClassifier(max_iter=50, random_state=0)

    def mean_auc(cv):
        return float(np.mean([r["roc_auc"] for r in cross_validate(make, X, y, t0, t1, cv)]))

    shuffled = mean_auc(KFold(5, shuffle=True, random_state=0))
    walk = mean_auc(PurgedWalkForward(5))
    kfold = mean_auc(PurgedKFold(5, embargo_ns=200 * 1_000_000_000))
    # the walk has no edge (AUC 1/2); shuffled CV finds one in the overlap (0.78 when written)
    assert shuffled > 0.68
    assert walk < shuffled - 0.15 and kfold < shuffled - 0.15
    assert abs(walk - 0.5) < 0.08 and abs(kfold - 0.5) < 0.08


# ================================================================================ point in time
def leak_case():
    ts = np.arange(0, 200, 2, dtype=np.int64)             # 100 samples, 2 ns apart
    mid = 100.0 + np.cumsum(np.random.default_rng(7).choice([-0.5, 0.5], 100))
    lab = forward_move_labels(ts, mid, horizon_events=3)
    v = lab.valid
    clean = ts[v]                                         # features stamped at the sample (the engine clock)
    return lab.y[v], lab.t0[v], lab.t1[v], clean


def test_point_in_time_refuses_a_planted_leak():
    y, t0, t1, clean = leak_case()
    n = len(y)
    assert check_point_in_time(t0, clean) is None
    # two honest columns (one stamped earlier, e.g. a bar feature), then a column that copies the
    # label and is stamped when the label becomes known
    stamps = np.column_stack([clean, clean - 1, t1])
    names = ["ofi_1", "bar_rsi", "future_move"]
    with pytest.raises(LeakageError, match="feature 'future_move' \\(column 2\\) of sample 0 is stamped "
                                           "feature_ts=6 ns, 6 ns after sample_ts=0; 97 of 291") as e:
        check_point_in_time(t0, stamps, names=names)
    assert (e.value.sample, e.value.feature, e.value.count) == (0, 2, n)
    assert isinstance(e.value, InvalidInputError) and isinstance(e.value, OfiError)
    # without the leaking column it passes; one late row stamp is caught in the 1-D form too
    assert check_point_in_time(t0, stamps[:, :2], names=names[:2]) is None
    late = clean.copy()
    late[40] += 1
    with pytest.raises(LeakageError, match="feature column 0 of sample 40 .* 1 ns after .* 1 of 97") as e:
        check_point_in_time(t0, late)
    assert (e.value.sample, e.value.feature, e.value.count) == (40, 0, 1)


def test_the_planted_leak_is_what_cv_would_reward():
    # why the check matters: the copied label scores perfectly even under purged CV
    from sklearn.linear_model import LogisticRegression
    y, t0, t1, _ = leak_case()
    X = y[:, None].astype(float)
    rows = cross_validate(lambda: LogisticRegression(), X, y, t0, t1, PurgedKFold(3))
    assert all(r["accuracy"] == 1.0 for r in rows)


def test_point_in_time_bad_input():
    with pytest.raises(InvalidInputError, match="same length, got sample_ts=3, feature_ts=2"):
        check_point_in_time([0, 1, 2], [0, 1])
    with pytest.raises(InvalidInputError, match="one name per feature column \\(2\\), got 1"):
        check_point_in_time([0, 1], [[0, 0], [1, 1]], names=["a"])
    with pytest.raises(InvalidInputError, match="feature_ts must be 1-D \\(n,\\) or 2-D"):
        check_point_in_time([0, 1], np.zeros((2, 1, 1), dtype=np.int64))
    with pytest.raises(InvalidInputError, match="feature_ts\\[:, 1\\] must hold whole numbers"):
        check_point_in_time([0, 1], [[0, 0.5], [1, 1]])
    # datetime64 stamps are read as ns
    assert check_point_in_time(np.array([5, 9], dtype="datetime64[ns]"), [5, 9]) is None


def test_label_times_check():
    assert check_label_times([0, 5, 9], [0, 7, 20]) is None
    with pytest.raises(LeakageError, match="label of sample 1 ends at t1=4 ns, 1 ns before its sample time "
                                           "t0=5; 2 of 3") as e:
        check_label_times([0, 5, 9], [0, 4, 8])
    assert (e.value.sample, e.value.feature, e.value.count) == (1, None, 2)
    with pytest.raises(LeakageError, match="column 1 of sample 2"):
        check_label_times([0, 5, 9], [1, 6, 10], feature_ts=[[0, 0], [5, 5], [9, 10]])
    with pytest.raises(InvalidInputError, match="same length, got t0=3, t1=2"):
        check_label_times([0, 5, 9], [0, 7])


def test_fold_repr_and_counts():
    f = PurgedKFold(5, embargo_ns=20).folds(T0, T1)[2]
    assert isinstance(f, Fold)
    assert repr(f) == "Fold(2, n_train=3, n_test=2, n_purged=3, n_embargoed=2, test=[40, 65] ns)"
