"""GradientBoostingModel / LogisticModel: training, the compiled predict's contract, model files
(round trip, tampering, mismatches, no pickle), importance, boundaries."""
from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest

from ofi.errors import InvalidInputError, ModelFileError
from ofi.models import GradientBoostingModel, LogisticModel, load_model

ROOT = Path(__file__).resolve().parents[2]


def data(seed=0, n=3000, f=6, classes=2):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, f))
    z = X[:, 0] + 0.1 * rng.normal(size=n)
    X[rng.random(X.shape) < 0.05] = np.nan
    y = (z > 0).astype(int) if classes == 2 else np.digitize(z, [-0.5, 0.5]) - 1
    return X, y


@pytest.fixture(scope="module")
def gbm():
    X, y = data()
    return GradientBoostingModel(random_state=1).train(X, y, n_trees=30, max_depth=4,
                                                       feature_names=[f"x{i}" for i in range(6)],
                                                       feature_config_hash="abcd" * 4,
                                                       label={"kind": "forward_move", "horizon_ns": 10**9})


def test_training_is_seeded_and_predict_has_the_contract_shapes(gbm):
    X, y = data()
    again = GradientBoostingModel(random_state=1).train(X, y, n_trees=30, max_depth=4,
                                                        feature_names=[f"x{i}" for i in range(6)])
    np.testing.assert_array_equal(again._forest.leaves, gbm._forest.leaves)
    p1 = gbm.predict_proba(X[0])
    assert p1.shape == (2,) and abs(p1.sum() - 1.0) < 1e-15
    P = gbm.predict_proba(X)
    assert P.shape == (len(X), 2)
    np.testing.assert_array_equal(gbm.predict_proba(X, n_threads=2), P)      # threads change nothing
    np.testing.assert_array_equal(gbm.predict_proba(list(X[0])), p1)          # lists are accepted
    assert gbm.predict(X[0]) == gbm.classes_[int(np.argmax(p1))]
    # the labels follow x0: the model learned it (accuracy well above chance)
    assert (gbm.predict(X) == y).mean() > 0.9


def test_three_classes_keep_their_labels():
    X, y = data(classes=3)
    m = GradientBoostingModel().train(X, y, n_trees=20, max_depth=3)
    assert list(m.classes_) == [-1, 0, 1]
    assert set(np.unique(m.predict(X))) <= {-1, 0, 1}
    assert m.predict_proba(X).shape == (len(X), 3)


def test_top_features_gain_and_permutation_rank_the_informative_feature_first(gbm):
    X, y = data()
    top = gbm.top_features(6)
    assert top[0][0] == "x0" and abs(sum(v for _, v in top) - 1.0) < 1e-12
    assert [v for _, v in top] == sorted((v for _, v in top), reverse=True)
    perm = gbm.top_features(2, method="permutation", X=X[:800], y=y[:800], n_repeats=2)
    assert perm[0][0] == "x0" and perm[0][1] > 0.1
    with pytest.raises(InvalidInputError):
        gbm.top_features(3, method="shap")


def test_logistic_coefficients_and_nan_means_training_mean():
    X, y = data(seed=3)
    m = LogisticModel(C=1.0).fit(X, y)
    assert m.top_features(1)[0][0] == "f0"
    # a NaN feature contributes like its training mean: same probability as the imputed row
    row = X[10].copy()
    row[1] = np.nan
    filled = row.copy()
    filled[1] = np.nanmean(X[:, 1])
    np.testing.assert_allclose(m.predict_proba(row), m.predict_proba(filled), rtol=0, atol=1e-15)


# ------------------------------------------------------------------------------------ files
@pytest.mark.parametrize("make", ["gbm", "logistic"])
def test_model_file_round_trips_exactly(tmp_path, gbm, make):
    X, y = data()
    m = gbm if make == "gbm" else LogisticModel().fit(X, y, feature_names=[f"x{i}" for i in range(6)])
    m.save(tmp_path / "model")
    assert (tmp_path / "model.json").exists() and (tmp_path / "model.npz").exists()
    back = load_model(tmp_path / "model.json")
    assert type(back) is type(m)
    np.testing.assert_array_equal(back.predict_proba(X), m.predict_proba(X))
    assert back.card == m.card
    assert back.feature_names == m.feature_names and list(back.classes_) == list(m.classes_)
    # saving the loaded model writes the same bytes (nothing is lost or reordered)
    back.save(tmp_path / "again")
    a = json.loads((tmp_path / "model.json").read_text())
    b = json.loads((tmp_path / "again.json").read_text())
    a["arrays"].pop("file"), b["arrays"].pop("file"), a.pop("checksum"), b.pop("checksum")
    assert a == b
    assert (tmp_path / "model.npz").read_bytes() == (tmp_path / "again.npz").read_bytes()


def test_the_card_carries_what_is_needed_to_trust_the_model(tmp_path, gbm):
    gbm.save(tmp_path / "m")
    card = json.loads((tmp_path / "m.json").read_text())["card"]
    assert card["feature_names"] == [f"x{i}" for i in range(6)]
    assert card["feature_config_hash"] == "abcd" * 4
    assert card["label"] == {"kind": "forward_move", "horizon_ns": 10**9}
    assert {"sklearn", "numpy", "ofi", "python"} <= set(card["versions"])
    assert card["params"]["n_trees_trained"] == 30 and card["source"] == "scikit-learn"


def _rewrite(path: Path, edit):
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))


def test_tampered_files_are_refused(tmp_path, gbm):
    gbm.save(tmp_path / "m")
    j, z = tmp_path / "m.json", tmp_path / "m.npz"
    good_j, good_z = j.read_bytes(), z.read_bytes()
    # an edited card (checksum no longer matches)
    _rewrite(j, lambda d: d["card"].__setitem__("classes", [1, 0]))
    with pytest.raises(ModelFileError, match="checksum"):
        load_model(j)
    j.write_bytes(good_j)
    # one flipped byte in the arrays
    bad = bytearray(good_z)
    bad[len(bad) // 2] ^= 0x01
    z.write_bytes(bytes(bad))
    with pytest.raises(ModelFileError, match="checksum"):
        load_model(j)
    # truncated arrays
    z.write_bytes(good_z[:100])
    with pytest.raises(ModelFileError):
        load_model(j)
    z.write_bytes(good_z)
    assert load_model(j).is_fitted


def _replace_arrays(tmp_path, gbm, edit):
    """Save gbm, change its arrays with edit(dict), and re-seal both checksums (as a forger would)."""
    gbm.save(tmp_path / "m")
    j, z = tmp_path / "m.json", tmp_path / "m.npz"
    with np.load(z) as f:
        arrays = {k: f[k] for k in f.files}
    edit(arrays)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    z.write_bytes(buf.getvalue())

    def fix(d):
        d["arrays"]["sha256"] = hashlib.sha256(buf.getvalue()).hexdigest()
        body = {k: v for k, v in d.items() if k != "checksum"}
        d["checksum"] = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    _rewrite(j, fix)
    return j


def test_a_pickled_array_is_never_loaded_even_with_valid_checksums(tmp_path, gbm):
    j = _replace_arrays(tmp_path, gbm, lambda a: a.__setitem__("thr", np.array([object()], dtype=object)))
    with pytest.raises(ModelFileError):
        load_model(j)


def test_invalid_structures_with_valid_checksums_are_refused(tmp_path, gbm):
    # a split on a feature that does not exist
    j = _replace_arrays(tmp_path, gbm, lambda a: a.__setitem__("feat", a["feat"] + 1000))
    with pytest.raises(ModelFileError, match="feature"):
        load_model(j)


def test_unknown_format_version_and_escaping_paths_are_refused(tmp_path, gbm):
    gbm.save(tmp_path / "m")
    j = tmp_path / "m.json"
    good = j.read_text()
    for edit, match in ((lambda d: d.__setitem__("format", "other"), "not an ofi-model"),
                        (lambda d: d.__setitem__("format_version", 99), "version"),
                        (lambda d: d["arrays"].__setitem__("file", "../m.npz"), "checksum|file name")):
        j.write_text(good)
        _rewrite(j, edit)
        with pytest.raises(ModelFileError, match=match):
            load_model(j)
    j.write_text("{not json")
    with pytest.raises(ModelFileError, match="JSON"):
        load_model(j)
    with pytest.raises(ModelFileError):
        load_model(tmp_path / "missing.json")


def test_a_model_for_other_features_or_settings_is_refused(tmp_path, gbm):
    gbm.save(tmp_path / "m")
    names = [f"x{i}" for i in range(6)]
    assert load_model(tmp_path / "m.json", feature_names=names, feature_config_hash="abcd" * 4).is_fitted
    with pytest.raises(ModelFileError, match="features"):
        load_model(tmp_path / "m.json", feature_names=names[::-1])
    with pytest.raises(ModelFileError, match="hash"):
        load_model(tmp_path / "m.json", feature_config_hash="0" * 16)


def test_a_model_is_refused_by_an_engine_with_other_settings(tmp_path):
    from ofi.features import FeatureConfig, FeatureEngine
    eng = FeatureEngine()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, eng.n_features))
    y = (X[:, 1] > 0).astype(int)
    m = GradientBoostingModel().train(X, y, n_trees=5, max_depth=2, feature_names=eng.names,
                                      feature_config_hash=eng.config_hash)
    m.save(tmp_path / "m")
    assert load_model(tmp_path / "m.json", engine=eng).is_fitted
    with pytest.raises(ModelFileError, match="hash"):
        load_model(tmp_path / "m.json", engine=FeatureEngine(FeatureConfig(spread_window=50)))
    with pytest.raises(ModelFileError, match="features"):
        load_model(tmp_path / "m.json", engine=FeatureEngine(FeatureConfig(orderbook_levels=5)))


def test_no_pickle_anywhere_in_the_package():
    pat = re.compile(r"\bimport pickle\b|\bfrom pickle\b|pickle\.load|allow_pickle\s*=\s*True|\bjoblib\b|cloudpickle")
    hits = [str(p) for p in (ROOT / "ofi").rglob("*.py*") if pat.search(p.read_text(errors="ignore"))]
    assert hits == []


# ------------------------------------------------------------------------------------ feature vectors
def test_predict_from_a_feature_vector_checks_its_names():
    from ofi import OrderBook
    from ofi.features import FeatureEngine
    eng = FeatureEngine()
    book = OrderBook("BTCUSDT", "0.1")
    book.apply_snapshot(1, [600000, 599999], [1.0, 2.0], [600001, 600002], [1.5, 1.0])
    eng.update_orderbook(book)
    fv = eng.extract_features(book)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, eng.n_features))
    y = (X[:, 2] > 0).astype(int)
    m = GradientBoostingModel().train(X, y, n_trees=5, max_depth=2, feature_names=eng.names)
    np.testing.assert_array_equal(m.predict_proba(fv), m.predict_proba(fv.values))
    other = GradientBoostingModel().train(X, y, n_trees=5, max_depth=2)      # names f0..f74
    with pytest.raises(InvalidInputError, match="do not match"):
        other.predict_proba(fv)


# ------------------------------------------------------------------------------------ boundaries
def test_boundaries():
    X, y = data()
    m = GradientBoostingModel()
    with pytest.raises(InvalidInputError, match="not trained"):
        m.predict_proba(X[0])
    with pytest.raises(InvalidInputError, match="2 classes"):
        m.fit(X, np.zeros(len(X)))
    with pytest.raises(InvalidInputError, match="NaN"):
        m.fit(X, np.where(np.arange(len(X)) == 3, np.nan, 1.0))
    with pytest.raises(InvalidInputError, match="max_depth"):
        m.train(X, y, n_trees=3, max_depth=17)
    with pytest.raises(InvalidInputError, match="n_trees"):
        m.train(X, y, n_trees=0)
    with pytest.raises(InvalidInputError, match="2-D"):
        m.fit(X[0], y[:1])
    with pytest.raises(InvalidInputError, match="labels"):
        m.fit(X, y[:-1])
    with pytest.raises(InvalidInputError):
        GradientBoostingModel(learning_rate=0)
    m.train(X, y, n_trees=3, max_depth=2)
    with pytest.raises(InvalidInputError, match="features"):
        m.predict_proba(X[:, :5])
    with pytest.raises(InvalidInputError):
        m.predict_proba(X[0, :5])
    with pytest.raises(InvalidInputError, match="n_threads"):
        m.predict_proba(X, n_threads=0)
    with pytest.raises(InvalidInputError, match="inf"):
        LogisticModel().fit(np.where(X == X, X, np.inf), y)


def test_a_feature_never_defined_in_training_does_not_break_it():
    # e.g. ofi_5m in a training window shorter than 5 minutes: all NaN; scikit-learn's binning
    # cannot handle such a column, the model trains with it constant and never splits on it
    X, y = data(n=500)
    X[:, 4] = np.nan
    m = GradientBoostingModel().train(X, y, n_trees=10, max_depth=3)
    assert 4 not in set(m._forest.feat[np.isfinite(m._forest.thr)].tolist())
    row = X[0].copy()
    row[4] = 123.0
    np.testing.assert_array_equal(m.predict_proba(row), m.predict_proba(X[0]))


def test_a_threshold_at_the_largest_double_is_refused():
    from ofi._core.trees import LINK_LOGISTIC, Forest
    thr = np.array([[np.finfo(np.float64).max]])
    with pytest.raises(InvalidInputError, match="largest double"):
        Forest(thr, np.zeros((1, 1), np.int32), np.zeros((1, 1), np.int32), np.zeros((1, 2)),
               np.zeros(1, np.int32), np.zeros(1), 1, 1, LINK_LOGISTIC)


def test_deeply_nested_model_json_is_a_model_file_error(tmp_path):
    # D4: json.loads raised RecursionError on a deeply nested document; it must be ModelFileError.
    j = tmp_path / "m.json"
    j.write_bytes(b"[" * 100_000)
    with pytest.raises(ModelFileError, match="not JSON"):
        load_model(j)
    j.write_bytes(b'{"format":"ofi-model","card":' + b"[" * 100_000 + b"}")
    with pytest.raises(ModelFileError, match="not JSON"):
        load_model(j)


def _npy_with_header(shape, descr="<f8", data=b"\0" * 8) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue() + data


def _swap_member(tmp_path, gbm, member: str, payload: bytes) -> Path:
    """Save gbm, replace one .npz member's bytes with payload and re-seal both checksums."""
    import zipfile
    gbm.save(tmp_path / "m")
    j, z = tmp_path / "m.json", tmp_path / "m.npz"
    buf = io.BytesIO()
    with zipfile.ZipFile(z) as src, zipfile.ZipFile(buf, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, payload if info.filename == member else src.read(info))
    z.write_bytes(buf.getvalue())

    def fix(d):
        d["arrays"]["sha256"] = hashlib.sha256(buf.getvalue()).hexdigest()
        body = {k: v for k, v in d.items() if k != "checksum"}
        d["checksum"] = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    _rewrite(j, fix)
    return j


def test_an_array_header_declaring_more_than_the_file_holds_is_refused_before_allocating(tmp_path, gbm):
    # D4: a .npy header inside the .npz that declares 2**40 elements made numpy allocate 8 TiB
    # (MemoryError) before reading; the declared size is now checked against the member's bytes.
    j = _swap_member(tmp_path, gbm, "base.npy", _npy_with_header((2**40,)))
    with pytest.raises(ModelFileError, match="base"):
        load_model(j)
    j = _swap_member(tmp_path, gbm, "thr.npy", _npy_with_header((2**20, 2**20)))
    with pytest.raises(ModelFileError, match="thr"):
        load_model(j)
    # a member that is not an .npy array at all
    j = _swap_member(tmp_path, gbm, "base.npy", b"not an array")
    with pytest.raises(ModelFileError, match="base"):
        load_model(j)
