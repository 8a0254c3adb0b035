"""Classification metrics (``ofi.metrics``): hand-derived small cases, randomized comparisons with
scikit-learn (the oracle; ``ofi.metrics`` does not import it), the documented NaN where sklearn
substitutes 0, and bad input.

Documented deviations checked here: precision / recall / F1 return NaN for 0/0 (sklearn's
``zero_division=np.nan`` semantics, not its default 0 + warning), and a "weighted" mean whose
defined labels all have zero support is NaN; a normalized confusion matrix has NaN (sklearn 0) in a
row / column without samples.
"""
from __future__ import annotations

import ast
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

import ofi.metrics as M
from ofi.errors import InvalidInputError

try:
    import sklearn.metrics as skm
    from sklearn.calibration import calibration_curve
    from sklearn.exceptions import UndefinedMetricWarning
except ImportError:  # pragma: no cover - sklearn is only the oracle
    skm = None

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # sklearn's own warnings (the oracle)
needs_sklearn = pytest.mark.skipif(skm is None, reason="scikit-learn (the test oracle) is not installed")
NAN = math.nan
EPS = 2.0 ** -52  # float64 machine epsilon, log_loss clipping
SEEDS = range(20)


def close_to(got, want, tol=1e-12):
    """Element-wise: NaN exactly where want is NaN, else equal within tol (absolute and relative)."""
    got = np.asarray(got, dtype=float)
    want = np.asarray(want, dtype=float)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert np.array_equal(np.isnan(got), np.isnan(want)), (got, want)
    ok = ~np.isnan(want)
    np.testing.assert_allclose(got[ok], want[ok], rtol=tol, atol=tol)


# ================================================================================ hand-derived
def test_accuracy_by_hand():
    yt = [0, 1, 1, 0, 2]
    yp = [0, 1, 0, 0, 1]
    # correct at indices 0, 1, 3 -> 3/5
    assert M.accuracy(yt, yp) == pytest.approx(3 / 5, abs=1e-15)
    # weights 1..5: correct weight 1 + 2 + 4 = 7 of 15
    assert M.accuracy(yt, yp, sample_weight=[1, 2, 3, 4, 5]) == pytest.approx(7 / 15, abs=1e-15)
    assert M.accuracy(["up", "down"], ["up", "up"]) == 0.5
    assert isinstance(M.accuracy(yt, yp), float)


def test_precision_recall_f1_binary_by_hand():
    yt = [1, 1, 1, 1, 0, 0]
    yp = [1, 1, 0, 0, 1, 0]
    # class 1: tp = 2 (idx 0, 1), fp = 1 (idx 4), fn = 2 (idx 2, 3)
    # P = 2/3, R = 2/4, F1 = 2*2 / (2*2 + 1 + 2) = 4/7
    assert M.precision(yt, yp) == pytest.approx(2 / 3, abs=1e-15)
    assert M.recall(yt, yp) == pytest.approx(1 / 2, abs=1e-15)
    assert M.f1(yt, yp) == pytest.approx(4 / 7, abs=1e-15)
    # pos_label=0: tp = 1 (idx 5), fp = 2 (idx 2, 3), fn = 1 (idx 4): P = 1/3, R = 1/2, F1 = 2/(2+2+1)
    assert M.precision(yt, yp, pos_label=0) == pytest.approx(1 / 3, abs=1e-15)
    assert M.recall(yt, yp, pos_label=0) == pytest.approx(1 / 2, abs=1e-15)
    assert M.f1(yt, yp, pos_label=0) == pytest.approx(2 / 5, abs=1e-15)
    # -1/+1 labels, weights: w = [2, 1, 1, 1, 3, 1] -> tp = 2 + 1 = 3, fp = 3, fn = 2
    yt2 = [1, 1, 1, 1, -1, -1]
    yp2 = [1, 1, -1, -1, 1, -1]
    w = [2, 1, 1, 1, 3, 1]
    assert M.precision(yt2, yp2, sample_weight=w) == pytest.approx(3 / 6, abs=1e-15)
    assert M.recall(yt2, yp2, sample_weight=w) == pytest.approx(3 / 5, abs=1e-15)
    assert M.f1(yt2, yp2, sample_weight=w) == pytest.approx(6 / 11, abs=1e-15)


def test_precision_recall_f1_multiclass_by_hand():
    yt = ["a", "a", "b", "b", "c", "c"]
    yp = ["a", "b", "b", "b", "a", "c"]
    # a: tp 1, predicted 2 (idx 0, 4), true 2 -> P 1/2, R 1/2, F1 2/(2+2) = 1/2
    # b: tp 2, predicted 3 (idx 1, 2, 3), true 2 -> P 2/3, R 1,  F1 4/(2+3) = 4/5
    # c: tp 1, predicted 1, true 2 -> P 1, R 1/2, F1 2/(2+1) = 2/3
    close_to(M.precision(yt, yp, average=None), [1 / 2, 2 / 3, 1])
    close_to(M.recall(yt, yp, average=None), [1 / 2, 1, 1 / 2])
    close_to(M.f1(yt, yp, average=None), [1 / 2, 4 / 5, 2 / 3])
    assert M.precision(yt, yp, average="macro") == pytest.approx((1 / 2 + 2 / 3 + 1) / 3, abs=1e-15)
    assert M.f1(yt, yp, average="macro") == pytest.approx((1 / 2 + 4 / 5 + 2 / 3) / 3, abs=1e-15)
    # micro over all labels: 4 correct of 6 for P, R and F1 alike
    for fn in (M.precision, M.recall, M.f1):
        assert fn(yt, yp, average="micro") == pytest.approx(4 / 6, abs=1e-15)
    # equal supports (2, 2, 2): weighted = macro
    assert M.recall(yt, yp, average="weighted") == pytest.approx((1 / 2 + 1 + 1 / 2) / 3, abs=1e-15)
    # labels choose and order the scored classes: [c, a] -> per label [1, 1/2]; micro over c and a:
    # tp = 1 + 1, predicted = 1 + 2 -> 2/3
    close_to(M.precision(yt, yp, average=None, labels=["c", "a"]), [1, 1 / 2])
    assert M.precision(yt, yp, average="micro", labels=["c", "a"]) == pytest.approx(2 / 3, abs=1e-15)


def test_undefined_ratios_are_nan_not_zero():
    yt = [0, 0, 1, 1]
    yp = [0, 0, 0, 0]
    # class 1 never predicted: precision 0/0 -> NaN; recall 0/2 = 0; F1 = 0/(0 + 0 + 2) = 0
    assert math.isnan(M.precision(yt, yp))
    assert M.recall(yt, yp) == 0.0
    assert M.f1(yt, yp) == 0.0
    # macro precision leaves the undefined label out: class 0 P = 2/4 -> 1/2
    close_to(M.precision(yt, yp, average=None), [0.5, NAN])
    assert M.precision(yt, yp, average="macro") == 0.5
    assert M.precision(yt, yp, average="weighted") == 0.5
    # nothing positive anywhere: precision, recall and F1 of class 1 are all 0/0
    for fn in (M.precision, M.recall, M.f1):
        assert math.isnan(fn([0, 0], [0, 0]))
    # a label only predicted, never true: precision 0/1 = 0 but its support is 0, so the
    # weighted mean 0 * 0 / 0 is undefined (sklearn falls back to the unweighted mean, 0)
    assert M.precision([0, 1], [2, 1], average=None, labels=[2]).tolist() == [0.0]
    assert math.isnan(M.precision([0, 1], [2, 1], average="weighted", labels=[2]))
    assert M.precision([0, 1], [2, 1], average="macro", labels=[2]) == 0.0
    # a listed label absent from both arrays: NaN for all three
    close_to(M.recall([0, 1], [0, 1], average=None, labels=[0, 7]), [1.0, NAN])


def test_confusion_matrix_by_hand():
    yt = [0, 1, 2, 2, 1]
    yp = [0, 2, 2, 1, 1]
    want = [[1, 0, 0],   # true 0: predicted 0 once
            [0, 1, 1],   # true 1: idx 1 -> 2, idx 4 -> 1
            [0, 1, 1]]   # true 2: idx 2 -> 2, idx 3 -> 1
    cm = M.confusion_matrix(yt, yp)
    assert cm.dtype == np.int64
    np.testing.assert_array_equal(cm, want)
    close_to(M.confusion_matrix(yt, yp, normalize="true"), [[1, 0, 0], [0, .5, .5], [0, .5, .5]])
    close_to(M.confusion_matrix(yt, yp, normalize="pred"), [[1, 0, 0], [0, .5, .5], [0, .5, .5]])
    close_to(M.confusion_matrix(yt, yp, normalize="all"), np.array(want) / 5)
    # labels [2, 0, 5]: samples with a 1 are left out (idx 1, 3, 4); label 5 has no samples
    cm = M.confusion_matrix(yt, yp, labels=[2, 0, 5])
    np.testing.assert_array_equal(cm, [[1, 0, 0], [0, 1, 0], [0, 0, 0]])
    close_to(M.confusion_matrix(yt, yp, labels=[2, 0, 5], normalize="true"),
             [[1, 0, 0], [0, 1, 0], [NAN, NAN, NAN]])
    # float weights: true 1 -> pred 2 weighs 0.5, true 1 -> pred 1 weighs 2.0
    cm = M.confusion_matrix(yt, yp, sample_weight=[1.0, 0.5, 1.0, 1.0, 2.0])
    assert cm.dtype == np.float64
    close_to(cm, [[1, 0, 0], [0, 2.0, 0.5], [0, 1, 1]])
    np.testing.assert_array_equal(M.confusion_matrix(["b", "a"], ["b", "b"]), [[0, 1], [0, 1]])


def test_roc_auc_binary_by_hand():
    y = [0, 1, 1, 0]
    s = [0.1, 0.9, 0.5, 0.5]
    # positives {.9, .5}, negatives {.1, .5}: (.9,.1) 1, (.9,.5) 1, (.5,.1) 1, (.5,.5) tie 1/2 -> 3.5/4
    assert M.roc_auc(y, s) == pytest.approx(0.875, abs=1e-15)
    # pair weights w_p w_n, w = [1, 1, 2, 3]: (.9,.1) 1*1, (.9,.5) 1*3, (.5,.1) 2*1, (.5,.5) 2*3/2
    # = 9 of W_pos W_neg = 3 * 4 = 12
    assert M.roc_auc(y, s, sample_weight=[1, 1, 2, 3]) == pytest.approx(9 / 12, abs=1e-15)
    # scores need not be probabilities; string classes: "up" (the greater) is positive
    assert M.roc_auc(["dn", "up", "up", "dn"], [-3.0, 7.0, 0.0, 0.0]) == pytest.approx(0.875, abs=1e-15)
    # labels name the positive class: labels[1] = "dn" flips the problem -> 1 - 0.875
    assert M.roc_auc(["dn", "up", "up", "dn"], [-3.0, 7.0, 0.0, 0.0], labels=["up", "dn"]) == \
        pytest.approx(0.125, abs=1e-15)
    # an (n, 2) probability matrix uses column 1
    assert M.roc_auc(y, np.column_stack([1 - np.array(s), s])) == pytest.approx(0.875, abs=1e-15)
    # a single class has no ROC curve
    assert math.isnan(M.roc_auc([1, 1, 1], [0.2, 0.4, 0.9]))
    assert math.isnan(M.roc_auc(["a", "a"], [0.2, 0.4]))


# rows sum to 1; y = [0, 0, 1, 1, 2, 2]
P3 = np.array([[.6, .3, .1],
               [.3, .4, .3],
               [.2, .5, .3],
               [.4, .4, .2],
               [.1, .2, .7],
               [.3, .3, .4]])
Y3 = np.array([0, 0, 1, 1, 2, 2])


def test_roc_auc_multiclass_by_hand():
    # one-vs-rest:
    # class 0: pos {.6, .3} vs neg {.2, .4, .1, .3}: .6 beats 4; .3 beats .2 .1, ties .3 -> 2.5: 6.5/8
    # class 1: pos {.5, .4} vs neg {.3, .4, .2, .3}: .5 beats 4; .4 beats 3, ties 1 -> 3.5: 7.5/8
    # class 2: pos {.7, .4} vs neg {.1, .3, .3, .2}: 8/8
    close_to(M.roc_auc(Y3, P3, average=None), [6.5 / 8, 7.5 / 8, 1.0])
    assert M.roc_auc(Y3, P3) == pytest.approx((6.5 / 8 + 7.5 / 8 + 1) / 3, abs=1e-15)
    assert M.roc_auc(Y3, P3, average="weighted") == pytest.approx((6.5 / 8 + 7.5 / 8 + 1) / 3, abs=1e-15)
    # one-vs-one (Hand & Till):
    # (0,1), rows 0-3: A(0|1) col 0 {.6,.3} vs {.2,.4}: 2 + 1 = 3/4; A(1|0) col 1 {.5,.4} vs {.3,.4}:
    #        2 + 1.5 = 3.5/4 -> pair (3/4 + 7/8)/2 = 13/16
    # (0,2), rows 0,1,4,5: A(0|2) col 0 {.6,.3} vs {.1,.3}: 2 + 1.5 -> 7/8; A(2|0) col 2 {.7,.4}
    #        vs {.1,.3}: 1 -> pair 15/16
    # (1,2), rows 2-5: A(1|2) col 1 {.5,.4} vs {.2,.3}: 1; A(2|1) col 2 {.7,.4} vs {.3,.2}: 1 -> 1
    assert M.roc_auc(Y3, P3, multi_class="ovo") == pytest.approx((13 / 16 + 15 / 16 + 1) / 3, abs=1e-15)
    # weighted ovo: every pair covers 4 of 6 samples -> same weights -> same mean
    assert M.roc_auc(Y3, P3, multi_class="ovo", average="weighted") == \
        pytest.approx((13 / 16 + 15 / 16 + 1) / 3, abs=1e-15)
    # a class of labels absent from y_true: its one-vs-rest AUC is NaN, so is the macro mean;
    # weighted gives it no weight. y = [0, 0, 1, 1] over labels [0, 1, 2] (rows 0-3):
    # class 0: {.6,.3} vs {.2,.4} -> 3/4; class 1: {.5,.4} vs {.3,.4} -> 3.5/4
    y4, p4 = Y3[:4], P3[:4]
    close_to(M.roc_auc(y4, p4, labels=[0, 1, 2], average=None), [3 / 4, 3.5 / 4, NAN])
    assert math.isnan(M.roc_auc(y4, p4, labels=[0, 1, 2]))
    assert M.roc_auc(y4, p4, labels=[0, 1, 2], average="weighted") == pytest.approx((3 / 4 + 7 / 8) / 2)
    # only one class present
    assert math.isnan(M.roc_auc([1, 1], P3[:2], labels=[0, 1, 2]))


def test_log_loss_by_hand():
    # -(ln .8 + ln .7 + ln(1 - eps)) / 3: p = 1 for a true positive is clipped to 1 - eps
    want = -(math.log(0.8) + math.log(0.7) + math.log1p(-EPS)) / 3
    assert M.log_loss([0, 1, 1], [0.2, 0.7, 1.0]) == pytest.approx(want, rel=1e-15)
    # probability 0 for the true class is clipped to eps: -ln(2^-52) = 52 ln 2 = 36.04...
    assert M.log_loss([1, 0], [0.0, 0.0]) == pytest.approx((52 * math.log(2) - math.log1p(-0.0)) / 2,
                                                           rel=1e-15)
    # multiclass with strings; column order = sorted classes a, b, c unless labels say otherwise
    p = [[.5, .3, .2], [.1, .1, .8]]
    assert M.log_loss(["a", "c"], p, labels=["a", "b", "c"]) == \
        pytest.approx(-(math.log(.5) + math.log(.8)) / 2, rel=1e-15)
    assert M.log_loss(["a", "c"], p, labels=["c", "b", "a"]) == \
        pytest.approx(-(math.log(.2) + math.log(.1)) / 2, rel=1e-15)
    # weights 1 and 3: -(1 ln .5 + 3 ln .8) / 4
    assert M.log_loss(["a", "c"], p, labels=["a", "b", "c"], sample_weight=[1, 3]) == \
        pytest.approx(-(math.log(.5) + 3 * math.log(.8)) / 4, rel=1e-15)
    # single class 0 with a 1-D proba: the positive class is 1 -> -(ln .9 + ln .6)/2
    assert M.log_loss([0, 0], [0.1, 0.4]) == pytest.approx(-(math.log(.9) + math.log(.6)) / 2, rel=1e-15)


def test_brier_score_by_hand():
    # (.1² + .1² + .2² + .3²) / 4 = .15 / 4
    assert M.brier_score([0, 1, 1, 0], [0.1, 0.9, 0.8, 0.3]) == pytest.approx(0.0375, abs=1e-15)
    # pos_label=0 with p of class 0 = 1 - p: same errors
    assert M.brier_score([0, 1, 1, 0], [0.9, 0.1, 0.2, 0.7], pos_label=0) == pytest.approx(0.0375, abs=1e-15)
    # strings, weights [1, 1, 1, 5]: (.01 + .01 + .04 + 5 * .09) / 8
    assert M.brier_score(["dn", "up", "up", "dn"], [0.1, 0.9, 0.8, 0.3], sample_weight=[1, 1, 1, 5]) == \
        pytest.approx(0.51 / 8, abs=1e-15)
    # multiclass, not halved: rows (.2² + .1² + .1²) = .06, (.2² + .3² + .1²) = .14,
    # (.2² + .2² + .4²) = .24 -> .44 / 3
    p = [[.8, .1, .1], [.2, .7, .1], [.2, .2, .6]]
    assert M.brier_score(["eggs", "ham", "spam"], p) == pytest.approx(0.44 / 3, abs=1e-15)
    # an (n, 2) matrix is binary: halved sum of both columns = the positive column's error
    assert M.brier_score([0, 1], [[.7, .3], [.4, .6]]) == pytest.approx((.3 ** 2 + .4 ** 2) / 2, abs=1e-15)


def test_calibration_table_by_hand():
    y = [0, 0, 0, 0, 1, 1, 1, 1, 1]
    p = [.1, .2, .3, .4, .65, .7, .8, .9, 1.]
    t = M.calibration_table(y, p, n_bins=3)
    # edges 0, 1/3, 2/3, 1: bin 0 {.1 .2 .3} mean .2, 0 of 3 positive; bin 1 {.4 .65} mean .525,
    # 1 of 2; bin 2 {.7 .8 .9 1} mean .85, 4 of 4
    close_to(t.lower, [0, 1 / 3, 2 / 3])
    close_to(t.upper, [1 / 3, 2 / 3, 1])
    np.testing.assert_array_equal(t.count, [3, 2, 4])
    close_to(t.mean_predicted, [.2, .525, .85])
    close_to(t.observed_frequency, [0, .5, 1])
    # bins are right-closed: 0.5 falls in [0, .5], 0 too; an empty bin is NaN, and left out of prob_*
    t = M.calibration_table([0, 1, 1], [0.0, 0.5, 0.5], n_bins=4)
    np.testing.assert_array_equal(t.count, [1, 2, 0, 0])
    close_to(t.mean_predicted, [0, .5, NAN, NAN])
    close_to(t.prob_true, [0, 1])
    close_to(t.prob_pred, [0, .5])
    d = t.to_dict()
    assert d["observed_frequency"] == [0.0, 1.0, None, None]
    json.dumps(d, allow_nan=False)
    # quantile edges: percentiles 0, 50, 100 of {.1 .2 .3 .4} = .1, .25, .4 -> {.1 .2} and {.3 .4}
    t = M.calibration_table([0, 1, 0, 1], [.1, .2, .3, .4], n_bins=2, strategy="quantile")
    close_to(t.lower, [.1, .25])
    np.testing.assert_array_equal(t.count, [2, 2])
    close_to(t.observed_frequency, [.5, .5])


def test_classification_report_by_hand():
    y = ["dn", "up", "up", "dn"]
    p = [0.2, 0.8, 0.4, 0.6]
    r = M.classification_report(y, p)
    # threshold .5 -> predicted dn, up, dn, up: 2 of 4 right; each class P = R = F1 = 1/2
    assert r["n"] == 4 and r["labels"] == ["dn", "up"] and r["threshold"] == 0.5
    assert r["accuracy"] == 0.5 and r["precision_macro"] == 0.5 and r["f1_macro"] == 0.5
    assert r["confusion_matrix"] == [[1, 1], [1, 1]]
    # AUC: pos {.8, .4} vs neg {.2, .6}: .8 beats 2, .4 beats 1 -> 3/4
    assert r["roc_auc"] == pytest.approx(0.75, abs=1e-15)
    assert r["log_loss"] == pytest.approx(-(2 * math.log(.8) + 2 * math.log(.4)) / 4, rel=1e-15)
    assert r["brier"] == pytest.approx((.04 + .04 + .36 + .36) / 4, abs=1e-15)
    json.dumps(r, allow_nan=False)
    # threshold 0.3: predicted dn, up, up, up -> 3 of 4
    assert M.classification_report(y, p, threshold=0.3)["accuracy"] == 0.75
    # multiclass: argmax of P3 rows -> 0, 1, 1, 0 (first max on the .4/.4 tie), 2, 2 against
    # y = 0, 0, 1, 1, 2, 2: right at rows 0, 2, 4, 5 -> 4 of 6
    r = M.classification_report(Y3, P3)
    assert r["threshold"] is None and r["accuracy"] == pytest.approx(4 / 6, abs=1e-15)
    assert r["confusion_matrix"] == [[1, 1, 0], [1, 1, 0], [0, 0, 2]]
    assert r["roc_auc"] == pytest.approx((6.5 / 8 + 7.5 / 8 + 1) / 3, abs=1e-15)
    # single-class y_true (labels given): ROC AUC undefined -> None, still strict JSON
    r = M.classification_report([1, 1], [0.7, 0.2], labels=[0, 1])
    assert r["roc_auc"] is None and r["accuracy"] == 0.5
    json.dumps(r, allow_nan=False)


def test_metrics_module_does_not_import_sklearn():
    pkg = Path(M.__file__).parent
    for path in pkg.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(n.split(".")[0] == "sklearn" for n in names), (path, names)


def test_public_names():
    assert set(M.classification.__all__) == {"accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "brier_score",
                              "confusion_matrix", "CalibrationTable", "calibration_table",
                              "classification_report"}
    for name in M.classification.__all__:
        assert getattr(M, name).__doc__


# ================================================================================ against sklearn
LABEL_SETS = {
    "01": [0, 1],
    "pm1": [-1, 1],
    "str2": ["no", "yes"],
    "3int": [-1, 0, 1],
    "012": [0, 1, 2],
    "str3": ["down", "flat", "up"],
}


def random_labels(rng, classes, n):
    return np.asarray(classes)[rng.integers(0, len(classes), n)]


def random_weights(rng, n, use):
    if not use:
        return None
    w = rng.uniform(0.0, 3.0, n)
    w[rng.random(n) < 0.1] = 0.0  # some zero weights
    w[0] = max(w[0], 0.5)  # positive sum
    return w


def random_proba(rng, n, k, ties):
    """(n, k) rows on the simplex; with ties, rows drawn from a pool of 4 so scores repeat."""
    p = rng.dirichlet(np.ones(k), size=4 if ties else n)
    if ties:
        p = p[rng.integers(0, 4, n)]
    return p


def skm_nan(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


@needs_sklearn
@pytest.mark.parametrize("key", list(LABEL_SETS))
def test_accuracy_and_confusion_matrix_match_sklearn(key):
    classes = LABEL_SETS[key]
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        n = int(rng.integers(1, 30))
        yt, yp = random_labels(rng, classes, n), random_labels(rng, classes, n)
        for use_w in (False, True):
            w = random_weights(rng, n, use_w)
            assert M.accuracy(yt, yp, sample_weight=w) == pytest.approx(
                skm.accuracy_score(yt, yp, sample_weight=w), rel=1e-12, abs=1e-12)
            labels = None if seed % 3 else list(rng.permutation(classes))[: max(1, len(classes) - 1)]
            if labels is not None and not np.isin(yt, labels).any():
                labels = None
            cm_sk = skm.confusion_matrix(yt, yp, labels=labels, sample_weight=w)
            cm = M.confusion_matrix(yt, yp, labels=labels, sample_weight=w)
            assert cm.dtype == cm_sk.dtype
            close_to(cm, cm_sk)
            for norm, axis in (("true", 1), ("pred", 0), ("all", None)):
                want = skm_nan(skm.confusion_matrix, yt, yp, labels=labels, sample_weight=w, normalize=norm)
                # sklearn writes 0 where a row (column) has no samples; ofi writes NaN
                empty = cm_sk.sum(axis=axis, keepdims=True) == 0 if axis is not None else cm_sk.sum() == 0
                want = np.where(np.broadcast_to(empty, want.shape), NAN, want)
                close_to(M.confusion_matrix(yt, yp, labels=labels, sample_weight=w, normalize=norm), want)


@needs_sklearn
@pytest.mark.parametrize("key,average", [(k, a) for k in LABEL_SETS
                                         for a in ("binary", "micro", "macro", "weighted", None)
                                         if a != "binary" or len(LABEL_SETS[k]) == 2])
def test_precision_recall_f1_match_sklearn_zero_division_nan(key, average):
    classes = LABEL_SETS[key]
    pos_label = classes[-1]
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        n = int(rng.integers(1, 12))  # small: undefined ratios happen often
        yt, yp = random_labels(rng, classes, n), random_labels(rng, classes, n)
        labels = None
        if average != "binary" and seed % 4 == 0:
            labels = list(rng.permutation(classes))[: int(rng.integers(1, len(classes) + 1))]
        for use_w in (False, True):
            w = random_weights(rng, n, use_w)
            kw = dict(average=average, pos_label=pos_label, labels=labels, sample_weight=w)
            want = skm_nan(skm.precision_recall_fscore_support, yt, yp, zero_division=np.nan, **kw)[:3]
            if average == "weighted":
                # documented deviation: a weighted mean whose defined labels have zero total support
                # is NaN (sklearn: their unweighted mean)
                *per_label, support = skm_nan(skm.precision_recall_fscore_support, yt, yp,
                                              zero_division=np.nan, **{**kw, "average": None})
                want = tuple(NAN if (~np.isnan(v)).any() and not support[~np.isnan(v)].sum() > 0 else m
                             for v, m in zip(per_label, want))
            got = (M.precision(yt, yp, **kw), M.recall(yt, yp, **kw), M.f1(yt, yp, **kw))
            for g, wnt in zip(got, want):
                close_to(g, wnt)


@needs_sklearn
@pytest.mark.parametrize("key", ["01", "pm1", "str2"])
def test_binary_prf_nan_exactly_where_sklearn_warns(key):
    classes = LABEL_SETS[key]
    pairs = ((M.precision, skm.precision_score), (M.recall, skm.recall_score), (M.f1, skm.f1_score))
    n_warned = 0
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        n = int(rng.integers(1, 6))
        yt, yp = random_labels(rng, classes, n), random_labels(rng, classes, n)
        for ours, theirs in pairs:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                want = theirs(yt, yp, pos_label=classes[-1])
            warned = any(issubclass(c.category, UndefinedMetricWarning) for c in caught)
            got = ours(yt, yp, pos_label=classes[-1])
            if warned:
                n_warned += 1
                assert want == 0.0 and math.isnan(got)
            else:
                assert got == pytest.approx(want, rel=1e-12, abs=1e-12)
    assert n_warned > 0  # the random cases did reach the undefined branch


@needs_sklearn
@pytest.mark.parametrize("key", ["01", "pm1", "str2"])
def test_roc_auc_binary_matches_sklearn(key):
    classes = LABEL_SETS[key]
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        n = int(rng.integers(2, 60))
        yt = random_labels(rng, classes, n)
        yt[:2] = classes  # both classes present
        score = rng.normal(size=n)
        if seed % 2:
            score = np.round(score, 1)  # many ties
        for use_w in (False, True):
            w = random_weights(rng, n, use_w)
            if w is not None and (w[yt == classes[0]].sum() == 0 or w[yt == classes[1]].sum() == 0):
                continue
            want = skm.roc_auc_score(yt, score, sample_weight=w)
            assert M.roc_auc(yt, score, sample_weight=w) == pytest.approx(want, rel=1e-12, abs=1e-12)


@needs_sklearn
@pytest.mark.parametrize("key", ["3int", "012", "str3"])
def test_roc_auc_multiclass_matches_sklearn(key):
    classes = LABEL_SETS[key]
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        n = int(rng.integers(3, 60))
        yt = random_labels(rng, classes, n)
        yt[:3] = classes
        p = random_proba(rng, n, 3, ties=bool(seed % 2))
        for average in ("macro", "weighted", "micro", None):
            for use_w in (False, True):
                w = random_weights(rng, n, use_w)
                want = skm.roc_auc_score(yt, p, multi_class="ovr", average=average, sample_weight=w)
                close_to(M.roc_auc(yt, p, multi_class="ovr", average=average, sample_weight=w), want)
        for average in ("macro", "weighted"):
            want = skm.roc_auc_score(yt, p, multi_class="ovo", average=average)
            close_to(M.roc_auc(yt, p, multi_class="ovo", average=average), want)


@needs_sklearn
def test_roc_auc_class_absent_matches_sklearn_nan():
    rng = np.random.default_rng(7)
    p = random_proba(rng, 20, 3, ties=False)
    yt = np.array([0, 1] * 10)
    for average in ("macro", "weighted", None):
        want = skm_nan(skm.roc_auc_score, yt, p, multi_class="ovr", average=average, labels=[0, 1, 2])
        close_to(M.roc_auc(yt, p, average=average, labels=[0, 1, 2]), want)
    assert math.isnan(skm_nan(skm.roc_auc_score, [1, 1, 1], [0.1, 0.2, 0.3]))


@needs_sklearn
@pytest.mark.parametrize("key", list(LABEL_SETS))
def test_log_loss_and_brier_match_sklearn(key):
    classes = LABEL_SETS[key]
    k = len(classes)
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        n = int(rng.integers(k, 40))
        yt = random_labels(rng, classes, n)
        yt[:k] = classes
        p = random_proba(rng, n, k, ties=bool(seed % 2))
        if seed % 5 == 0:  # exact 0 and 1 exercise the clipping
            p[0] = np.eye(k)[0]
            p[1] = np.eye(k)[(1 + 1) % k]
        for use_w in (False, True):
            w = random_weights(rng, n, use_w)
            assert M.log_loss(yt, p, sample_weight=w) == pytest.approx(
                skm.log_loss(yt, p, sample_weight=w), rel=1e-12, abs=1e-12)
            assert M.brier_score(yt, p, sample_weight=w) == pytest.approx(
                skm.brier_score_loss(yt, p, sample_weight=w), rel=1e-12, abs=1e-12)
            assert M.log_loss(yt, p, labels=sorted(classes), sample_weight=w) == pytest.approx(
                skm.log_loss(yt, p, labels=sorted(classes), sample_weight=w), rel=1e-12, abs=1e-12)
            if k == 2:  # 1-D probability of the greater class
                p1 = p[:, 1]
                assert M.log_loss(yt, p1, sample_weight=w) == pytest.approx(
                    skm.log_loss(yt, p1, sample_weight=w), rel=1e-12, abs=1e-12)
                assert M.brier_score(yt, p1, pos_label=classes[1], sample_weight=w) == pytest.approx(
                    skm.brier_score_loss(yt, p1, pos_label=classes[1], sample_weight=w), rel=1e-12, abs=1e-12)
                assert M.brier_score(yt, p[:, 0], pos_label=classes[0], sample_weight=w) == pytest.approx(
                    skm.brier_score_loss(yt, p[:, 0], pos_label=classes[0], sample_weight=w),
                    rel=1e-12, abs=1e-12)


@needs_sklearn
@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
@pytest.mark.parametrize("key", ["01", "pm1", "str2"])
def test_calibration_table_matches_calibration_curve(strategy, key):
    classes = LABEL_SETS[key]
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        n = int(rng.integers(2, 80))
        yt = random_labels(rng, classes, n)
        yt[:2] = classes
        p = rng.beta(0.7, 0.7, n)
        if seed % 2:
            p = np.round(p, 1)  # values on bin edges, repeated quantile edges
        for n_bins in (1, 3, 5, 10):
            t = M.calibration_table(yt, p, n_bins=n_bins, strategy=strategy, pos_label=classes[1])
            prob_true, prob_pred = calibration_curve(yt, p, n_bins=n_bins, strategy=strategy,
                                                     pos_label=classes[1])
            close_to(t.prob_true, prob_true)
            close_to(t.prob_pred, prob_pred)
            assert t.count.sum() == n and t.n_bins == n_bins
            assert np.isnan(t.mean_predicted[t.count == 0]).all()


@needs_sklearn
@pytest.mark.parametrize("key", ["01", "str2", "012", "str3"])
def test_classification_report_matches_sklearn(key):
    classes = LABEL_SETS[key]
    k = len(classes)
    for seed in range(10):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(k, 40))
        yt = random_labels(rng, classes, n)
        yt[:k] = classes
        p = random_proba(rng, n, k, ties=False)
        proba = p[:, 1] if k == 2 else p
        r = M.classification_report(yt, proba)
        json.dumps(r, allow_nan=False)
        y_pred = np.asarray(classes)[(p[:, 1] >= 0.5).astype(int) if k == 2 else p.argmax(axis=1)]
        assert r["accuracy"] == pytest.approx(skm.accuracy_score(yt, y_pred), abs=1e-12)
        for name, fn in (("precision_macro", skm.precision_score), ("recall_macro", skm.recall_score),
                         ("f1_macro", skm.f1_score)):
            want = skm_nan(fn, yt, y_pred, average="macro", labels=classes, zero_division=np.nan)
            assert (r[name] is None) if math.isnan(want) else r[name] == pytest.approx(want, abs=1e-12)
        auc = skm.roc_auc_score(yt, proba, multi_class="ovr")
        assert r["roc_auc"] == pytest.approx(auc, abs=1e-12)
        assert r["log_loss"] == pytest.approx(skm.log_loss(yt, proba), abs=1e-12)
        pos = {"pos_label": classes[1]} if k == 2 else {}  # sklearn's binary brier wants it for strings
        assert r["brier"] == pytest.approx(skm.brier_score_loss(yt, proba, **pos), abs=1e-12)
        assert r["confusion_matrix"] == skm.confusion_matrix(yt, y_pred, labels=classes).tolist()


# ================================================================================ bad input
Y = [0, 1, 1, 0]
Q = [0.1, 0.9, 0.8, 0.3]

BAD = [
    # (call, words the message must contain)
    (lambda: M.accuracy(None, Y), "y_true"),
    (lambda: M.accuracy(Y, None), "y_pred"),
    (lambda: M.accuracy([], []), "y_true"),
    (lambda: M.accuracy(Y, [0, 1, 1]), "same length"),
    (lambda: M.accuracy([[0, 1], [1, 0]], [[0, 1], [1, 0]]), "1-D"),
    (lambda: M.accuracy([0, 1, NAN], [0, 1, 1]), "nan"),
    (lambda: M.accuracy([0, 1, None], [0, 1, 1]), "None"),
    (lambda: M.accuracy([0, "a"], [0, 1]), "numbers or all strings"),
    (lambda: M.accuracy(Y, Q), "not probabilities"),
    (lambda: M.accuracy(["a", "b"], [0, 1]), "both be strings or both be numbers"),
    (lambda: M.accuracy(Y, Y, sample_weight=[1, 1, 1]), "sample_weight"),
    (lambda: M.accuracy(Y, Y, sample_weight=[1, -1, 1, 1]), "sample_weight"),
    (lambda: M.accuracy(Y, Y, sample_weight=[0, 0, 0, 0]), "sample_weight"),
    (lambda: M.accuracy(Y, Y, sample_weight=[1, NAN, 1, 1]), "sample_weight"),
    (lambda: M.precision(Y, Y, average="samples"), "average"),
    (lambda: M.precision([0, 1, 2], [0, 1, 2]), "average='binary'"),
    (lambda: M.precision(["a", "b"], ["a", "b"]), "pos_label"),
    (lambda: M.recall(Y, Y, pos_label=2), "pos_label=2"),
    (lambda: M.f1(Y, Y, average="macro", labels=[0, 0]), "labels"),
    (lambda: M.f1(Y, Y, average="macro", labels=["a"]), "labels"),
    (lambda: M.confusion_matrix(Y, Y, labels=[5]), "labels"),
    (lambda: M.confusion_matrix(Y, Y, normalize="rows"), "normalize"),
    (lambda: M.roc_auc(Y, None), "y_score"),
    (lambda: M.roc_auc(Y, [0.1, 0.2]), "y_score"),
    (lambda: M.roc_auc(Y, [0.1, NAN, 0.2, 0.3]), "finite"),
    (lambda: M.roc_auc(Y, np.zeros((4, 2, 1))), "y_score"),
    (lambda: M.roc_auc([0, 1, 2, 0], Q), "1-D"),
    (lambda: M.roc_auc([0, 1, 2, 0, 1, 2], P3, multi_class="ova"), "multi_class"),
    (lambda: M.roc_auc(Y3, P3, multi_class="ovo", average="micro"), "average"),
    (lambda: M.roc_auc(Y3, P3, multi_class="ovo", sample_weight=np.ones(6)), "sample_weight"),
    (lambda: M.roc_auc(Y3, P3 * 1.1), "sum to 1"),
    (lambda: M.roc_auc(Y3[:4], P3[:4]), "labels="),
    (lambda: M.roc_auc(Y3, P3, labels=[0, 1, 5]), "labels"),
    (lambda: M.log_loss(Y, [0.1, 0.9, 1.2, 0.3]), "[0, 1]"),
    (lambda: M.log_loss(Y, [0.1, 0.9, -0.1, 0.3]), "[0, 1]"),
    (lambda: M.log_loss(Y, [0.1, 0.9, np.inf, 0.3]), "finite"),
    (lambda: M.log_loss(Y, [[0.5, 0.4]] * 4), "sum to 1"),
    (lambda: M.log_loss(Y, [[1.0]] * 4), "2 columns"),
    (lambda: M.log_loss([0, 1, 2], [0.1, 0.2, 0.3]), "3 classes"),
    (lambda: M.log_loss(["a", "a"], [0.1, 0.2]), "ambiguous"),
    (lambda: M.log_loss([2, 2], [0.1, 0.2]), "ambiguous"),
    (lambda: M.log_loss([0, 1, 1], P3[:3]), "labels="),
    (lambda: M.log_loss([0, 1, 2], P3[:3], labels=[0, 1, 3]), "not in labels"),
    (lambda: M.log_loss(Y, Q, labels=[0, 1, 2]), "2 classes"),
    (lambda: M.brier_score(Y, Q, pos_label=5), "pos_label=5"),
    (lambda: M.brier_score(Y, Q, pos_label="a"), "pos_label"),
    (lambda: M.brier_score(Y3, P3, pos_label=1), "pos_label"),
    (lambda: M.calibration_table(Y, Q, n_bins=0), "n_bins"),
    (lambda: M.calibration_table(Y, Q, n_bins=2.5), "n_bins"),
    (lambda: M.calibration_table(Y, Q, strategy="kmeans"), "strategy"),
    (lambda: M.calibration_table(Y3, P3), "1-D"),
    (lambda: M.calibration_table([0, 1, 2, 0], Q), "3 classes"),
    (lambda: M.classification_report(Y3, P3, threshold=0.5), "threshold"),
    (lambda: M.classification_report(Y, Q, threshold=1.5), "threshold"),
    (lambda: M.classification_report([1, 1], [0.2, 0.3]), "labels="),
]


@pytest.mark.parametrize("case", range(len(BAD)))
def test_bad_input_raises_invalid_input(case):
    call, words = BAD[case]
    with pytest.raises(InvalidInputError) as info:
        call()
    assert words.lower() in str(info.value).lower(), str(info.value)
    assert isinstance(info.value, ValueError)  # InvalidInputError refines ValueError


def test_documented_nan_boundaries():
    # single class: ROC AUC undefined (binary 1-D, (n, 2) with labels, multiclass with labels)
    assert math.isnan(M.roc_auc([0, 0, 0], [0.1, 0.5, 0.9]))
    assert math.isnan(M.roc_auc([0, 0], [[.5, .5], [.2, .8]], labels=[0, 1]))
    assert math.isnan(M.roc_auc([2, 2], P3[:2], labels=[0, 1, 2], average="weighted"))
    # zero-weight samples do not count: all positives weigh 0 -> no positives -> NaN
    assert math.isnan(M.roc_auc([0, 1, 0, 1], [.1, .2, .3, .4], sample_weight=[1, 0, 1, 0]))
    # but the other metrics stay defined on a single class
    assert M.brier_score([1, 1], [1.0, 0.5]) == pytest.approx(0.125)
    assert M.accuracy([3, 3], [3, 3]) == 1.0
