"""The PyOD adapter follows PyOD's conventions, checked against PyOD itself, and keeps every
MULDE setting through get_params / set_params / clone (what grid searches and ensembles do)."""

import inspect
import json
import warnings

import numpy as np
import pytest

pytest.importorskip("pyod")

from model_files import edit_model_file, stored_contents  # noqa: E402
from pyod.models.knn import KNN  # noqa: E402
from pyod.utils.utility import check_detector  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.utils import estimator_checks  # noqa: E402

from mulde import MULDE  # noqa: E402
from mulde.estimator.pyod_adapter import PyODMULDE  # noqa: E402

SMALL = {"hidden_sizes": (16, 16), "max_steps": 20, "batch_size": 64, "n_levels": 4,
         "random_state": 0}


def test_pyod_conventions_match_a_pyod_detector():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 3))
    test = np.vstack([rng.standard_normal((20, 3)), rng.standard_normal((5, 3)) + 6])
    det = PyODMULDE(contamination=0.05, hidden_sizes=(32, 32), max_steps=100,
                    batch_size=128, random_state=0).fit(X)
    knn = KNN(contamination=0.05).fit(X)
    for d in (det, knn):
        assert set(np.unique(d.labels_)) <= {0, 1}
        assert d.labels_.mean() == pytest.approx(0.05, abs=0.01)
        assert d.threshold_ == pytest.approx(np.percentile(d.decision_scores_, 95))
        pred = d.predict(test)
        assert pred[-5:].tolist() == [1] * 5  # far points are outliers (label 1)
        assert d.decision_function(test)[-5:].min() > np.median(d.decision_scores_)
    proba = det.predict_proba(test)
    assert proba.shape == (25, 2) and np.allclose(proba.sum(1), 1)


def test_every_mulde_setting_is_a_parameter_with_mulde_default():
    """The adapter's parameters are MULDE's (its own contamination is PyOD's): a setting
    added to MULDE but not to the adapter fails here."""
    mulde = {k: p.default for k, p in inspect.signature(MULDE).parameters.items()}
    adapter = {k: p.default for k, p in inspect.signature(PyODMULDE).parameters.items()}
    assert adapter.pop("contamination") == 0.1
    mulde.pop("contamination")
    assert adapter == mulde
    assert PyODMULDE().get_params() == {"contamination": 0.1, **mulde}


def test_clone_get_params_and_set_params_keep_every_setting():
    m = PyODMULDE(contamination=0.05, hidden_sizes=(32, 32), max_steps=60, sigma_high=2.0)
    params = m.get_params()
    assert params["hidden_sizes"] == (32, 32) and params["max_steps"] == 60
    assert params["sigma_high"] == 2.0 and params["contamination"] == 0.05
    c = clone(m)
    assert c.get_params() == params
    assert c.mulde_params == {k: v for k, v in params.items() if k != "contamination"}
    c.set_params(max_steps=7, beta=0.0, contamination=0.2)
    assert (c.max_steps, c.beta, c.contamination) == (7, 0.0, 0.2)
    assert m.max_steps == 60  # the clone is independent
    with pytest.raises(ValueError, match="Invalid parameter"):
        c.set_params(not_a_setting=1)
    # the fitted network is the configured one, not the default 256 x 256
    X = np.random.default_rng(0).standard_normal((100, 2))
    fitted = clone(PyODMULDE(**SMALL)).fit(X)
    assert fitted.detector_.get_params() == {**MULDE().get_params(), **SMALL}
    assert fitted.detector_.train_result_.steps <= 20


def test_a_grid_search_trains_each_candidate_with_its_settings():
    """GridSearchCV clones the detector and sets each candidate's parameters: every fitted
    copy must carry the fixed settings and the searched one (PyOD's ensembles clone the same
    way)."""
    X = np.random.default_rng(1).standard_normal((120, 4))
    seen = []

    def scorer(est, X_val, y=None):
        seen.append(est.detector_.get_params())
        return float(-est.decision_function(X_val).mean())

    base = PyODMULDE(**SMALL)
    check_detector(base)
    search = GridSearchCV(base, {"beta": [0.0, 0.2]}, scoring=scorer, cv=2).fit(X)
    assert search.best_params_["beta"] in (0.0, 0.2)
    assert sorted({p["beta"] for p in seen}) == [0.0, 0.2]
    for p in seen:
        assert p["hidden_sizes"] == (16, 16) and p["max_steps"] == 20 and p["n_levels"] == 4


# scikit-learn's checks of the parameter protocol (the prediction checks assume scikit-learn's
# +1/-1 outlier labels, which PyOD replaces by 0/1)
@pytest.mark.parametrize("check", [
    "check_parameters_default_constructible",
    "check_get_params_invariance",
    "check_set_params",
    "check_no_attributes_set_in_init",
    "check_dont_overwrite_parameters",
    "check_estimators_overwrite_params",
    "check_estimators_unfitted",
    "check_fit_idempotent",
])
def test_sklearn_parameter_checks(check):
    getattr(estimator_checks, check)("PyODMULDE", PyODMULDE(**SMALL))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A fitted detector, its saved file and rows it never saw."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((150, 3))
    det = PyODMULDE(contamination=0.07, **SMALL).fit(X)
    path = det.save(tmp_path_factory.mktemp("pyod") / "d.safetensors")
    new = np.vstack([rng.standard_normal((10, 3)), rng.standard_normal((3, 3)) + 5])
    return det, path, new


def test_save_load_round_trips_scores_threshold_labels_and_contamination(saved):
    det, path, new = saved
    loaded = PyODMULDE.load(path)
    np.testing.assert_array_equal(loaded.decision_function(new), det.decision_function(new))
    np.testing.assert_array_equal(loaded.decision_scores_, det.decision_scores_)
    np.testing.assert_array_equal(loaded.labels_, det.labels_)
    assert loaded.threshold_ == det.threshold_ and loaded.contamination == 0.07
    np.testing.assert_array_equal(loaded.predict(new), det.predict(new))
    np.testing.assert_array_equal(loaded.predict_proba(new), det.predict_proba(new))
    np.testing.assert_array_equal(loaded.predict_proba(new, method="unify"),
                                  det.predict_proba(new, method="unify"))
    # the saved device setting ("auto"), the network on load's device
    assert loaded.get_params() == det.get_params() and det.get_params()["device"] == "auto"
    assert loaded.detector_.device_ == "cpu"
    # one MULDE model file: MULDE.load reads the wrapped model from it
    np.testing.assert_array_equal(MULDE.load(path).anomaly_score(new),
                                  det.decision_function(new))


def test_save_into_a_folder_and_load_from_it(saved, tmp_path):
    det, _, new = saved
    assert det.save(tmp_path).name == "model.safetensors"
    np.testing.assert_array_equal(PyODMULDE.load(tmp_path).decision_function(new),
                                  det.decision_function(new))


def test_save_refuses_the_names_mulde_save_refuses(saved, tmp_path):
    """A pickle's or a features file's name: refused as by `MULDE.save` (one rule), nothing
    written."""
    det = saved[0]
    for name, said in (("d.pkl", "not a .pkl pickle"), ("d.csv", "a features or scores file")):
        with pytest.raises(ValueError, match=said):
            det.save(tmp_path / name)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "notes").write_text("mine")  # an existing file that is no model: kept
    with pytest.raises(ValueError, match="notes: exists and is a text file, not a MULDE model"):
        det.save(tmp_path / "notes")
    assert (tmp_path / "notes").read_text() == "mine"


def test_loading_a_wrong_or_damaged_file_names_it_in_one_line(saved, tmp_path):
    from mulde.estimator.persistence import ModelFileError

    det, path, _ = saved
    with pytest.raises(ModelFileError, match=r"m\.safetensors: no such model file"):
        PyODMULDE.load(tmp_path / "m.safetensors")
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ModelFileError, match=r"cut\.safetensors: not a readable safetensors"):
        PyODMULDE.load(cut)
    plain = det.detector_.save(tmp_path / "plain.safetensors")  # MULDE.save: no PyOD fields
    with pytest.raises(ModelFileError, match=r"plain\.safetensors: a MULDE model without the "
                       r"PyOD adapter's fields .*load it with MULDE\.load$"):
        PyODMULDE.load(plain)
    labels = stored_contents(path)[1]["pyod.labels"]
    bad = tmp_path / "bad.safetensors"
    for changed_meta, changed in (({"pyod": json.dumps({"contamination": 0.9, "threshold": 1.0,
                                                         "n_classes": 2})}, {}),
                                  ({"pyod": "{"}, {}),
                                  ({}, {"pyod.labels": labels[:5]})):
        edit_model_file(path, bad, meta=changed_meta, arrays=changed)  # consistent, but wrong
        with pytest.raises(ModelFileError, match=r"bad\.safetensors: inconsistent PyODMULDE") as e:
            PyODMULDE.load(bad)
        assert "\n" not in str(e.value)


def test_loading_onto_a_device_that_is_not_there_is_refused_as_fit_does(saved):
    with pytest.raises(ValueError, match="^device='banana' is not a device; use auto, cpu"):
        PyODMULDE.load(saved[1], device="banana")


def test_a_saved_device_this_machine_lacks_loads_as_auto_as_mulde_load_does(saved, tmp_path,
                                                                          monkeypatch):
    """A detector saved with device="cuda", loaded on a CPU-only torch: its parameter is
    "auto" (with MULDE.load's warning), so that clone(loaded).fit runs here."""
    import torch
    from sklearn.base import clone

    det, _, new = saved
    det.detector_.set_params(device="cuda")  # what a fit with device="cuda" saves
    try:
        path = det.save(tmp_path / "cuda.safetensors")
    finally:
        det.detector_.set_params(device="auto")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(UserWarning, match=r"cuda\.safetensors: saved with device='cuda', which "
                                         "this machine cannot use: its device setting is "
                                         "'auto' here"):
        loaded = PyODMULDE.load(path)
    assert loaded.get_params()["device"] == "auto" and loaded.detector_.device == "auto"
    np.testing.assert_array_equal(loaded.decision_function(new), det.decision_function(new))
    assert clone(loaded).get_params()["device"] == "auto"


def test_save_refuses_an_unfitted_detector_and_a_thresholder_object(saved, tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        PyODMULDE(**SMALL).save(tmp_path / "u.safetensors")
    det = clone(saved[0])
    det.__dict__.update(saved[0].__dict__)
    det.contamination = object()  # a PyThresh thresholder stands here
    with pytest.raises(ValueError, match="numeric contamination"):
        det.save(tmp_path / "t.safetensors")
    assert not (tmp_path / "t.safetensors").exists()


def test_check_params_refuses_a_bad_mulde_setting_before_any_data():
    PyODMULDE().check_params()
    with pytest.raises(ValueError, match=r"sigma_high \(0.5\) must be above sigma_low"):
        PyODMULDE(sigma_low=1.0, sigma_high=0.5).check_params()
    with pytest.raises(ValueError, match="^lr must be a number or 'auto', not True; give its "
                       r"value \(PyODMULDE\(\).lr is the default, 'auto'\)$"):
        PyODMULDE(lr=True).check_params()


def test_a_bad_setting_names_the_adapter_not_mulde():
    """scikit-learn's message names the class validated, MULDE inside the adapter: fit and
    check_params name PyODMULDE, the class the user made, and keep the error's type."""
    from sklearn.utils._param_validation import InvalidParameterError

    X = np.random.default_rng(0).standard_normal((20, 2))
    for call in (lambda d: d.fit(X), lambda d: d.check_params()):
        with pytest.raises(InvalidParameterError, match=r"^The 'max_steps' parameter of "
                           r"PyODMULDE must be an int in the range \[1, inf\) or None\. "
                           r"Got -1 instead\.$"):
            call(PyODMULDE(max_steps=-1))
        with pytest.raises(InvalidParameterError, match=r"^The 'patience' parameter of "
                           r"PyODMULDE must be an int in the range \[1, inf\) or None\. "
                           r"Got 0 instead\.$"):
            call(PyODMULDE(patience=0))
        with pytest.raises(InvalidParameterError, match=r"^The 'aggregator' parameter of "
                           r"PyODMULDE must be .* Got 'mean_energie' instead\. Did you mean "
                           r"'mean_energy'\?$"):  # MULDE's check names the word meant
            call(PyODMULDE(aggregator="mean_energie"))


def test_decision_function_raises_what_its_docstring_lists():
    """NotFittedError before fit, ValueError for rows of another width, TypeError for a
    sparse matrix."""
    import scipy.sparse
    from sklearn.exceptions import NotFittedError

    X = np.random.default_rng(0).standard_normal((20, 2))
    with pytest.raises(NotFittedError):
        PyODMULDE().decision_function(X)
    det = PyODMULDE(hidden_sizes=[8], max_steps=1, random_state=0).fit(X)
    with pytest.raises(ValueError, match="^X has 3 features, but PyODMULDE is expecting 2"):
        det.decision_function(np.ones((2, 3)))
    with pytest.raises(TypeError, match="^Sparse data was passed"):
        det.decision_function(scipy.sparse.csr_matrix(X))
    said = PyODMULDE.decision_function.__doc__
    assert "NotFittedError" in said and "ValueError" in said and "TypeError" in said


def test_a_detector_fitted_on_named_columns_exposes_them_as_scikit_learn_does(tmp_path):
    """The error for columns in another order says to pass X[model.feature_names_in_]: the
    adapter has that attribute (and n_features_in_), its wrapped MULDE's, and a saved file
    keeps it; fitted on an array it has n_features_in_ only, and before fit neither."""
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(np.random.default_rng(0).standard_normal((60, 3)), columns=["a", "b", "c"])
    det = PyODMULDE(**SMALL)
    assert not hasattr(det, "n_features_in_") and not hasattr(det, "feature_names_in_")
    det.fit(X)
    assert det.n_features_in_ == 3
    assert det.feature_names_in_.tolist() == ["a", "b", "c"]
    reordered = X[["c", "b", "a"]]
    with pytest.raises(ValueError, match=r"pass X\[model\.feature_names_in_\]"):
        det.decision_function(reordered)
    np.testing.assert_array_equal(det.decision_function(reordered[det.feature_names_in_]),
                                  det.decision_scores_)
    loaded = PyODMULDE.load(det.save(tmp_path / "named.safetensors"))
    assert loaded.feature_names_in_.tolist() == ["a", "b", "c"] and loaded.n_features_in_ == 3
    det.fit(X.to_numpy())  # a refit on an array: no names any more
    assert det.n_features_in_ == 3 and not hasattr(det, "feature_names_in_")
    with pytest.raises(AttributeError, match="fitted on columns without names"):
        det.feature_names_in_  # noqa: B018


def test_input_checks_name_the_adapter_not_the_mulde_it_wraps():
    """scikit-learn's checks name the class they validate, the wrapped MULDE: through the
    adapter its warnings and errors name PyODMULDE, keep their type and pass the caller's
    filters; MULDE's own warnings keep their class and fields."""
    pd = pytest.importorskip("pandas")
    from mulde.estimator.model import ConstantFeaturesWarning

    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.standard_normal((60, 3)), columns=["a", "b", "c"])
    det = PyODMULDE(**SMALL).fit(X)
    with pytest.warns(UserWarning) as said:
        det.decision_function(X.to_numpy())
    assert [str(w.message) for w in said] == [
        "X does not have valid feature names, but PyODMULDE was fitted with feature names"]
    assert said[0].filename == __file__  # said of the caller's line
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the caller's filters apply to the warning given again
        with pytest.raises(UserWarning, match="but PyODMULDE was fitted with feature names"):
            det.predict(X.to_numpy())
    with pytest.warns(UserWarning, match="^X has feature names, but PyODMULDE was fitted "
                      "without"):
        PyODMULDE(**SMALL).fit(X.to_numpy()).decision_function(X)
    with pytest.raises(ValueError, match=r"^X is a 1-D array of 3 values; PyODMULDE takes"):
        det.decision_function(np.ones(3))
    with pytest.raises(ValueError, match="minimum of 2 is required by PyODMULDE.$"):
        PyODMULDE(**SMALL).fit(np.ones((1, 3)))
    constant = X.assign(b=1.0)
    with pytest.warns(ConstantFeaturesWarning) as said:
        PyODMULDE(**SMALL).fit(constant)
    assert [(w.message.n_constant, w.message.name) for w in said
            if w.category is ConstantFeaturesWarning] == [(1, "b")]


def test_threshold_on_validation_sets_pyod_threshold_on_the_held_out_rows(tmp_path):
    """threshold_ is the wrapped MULDE's split-conformal offset at PyOD's contamination, the
    labels and predict follow it, and a saved file keeps it (MULDE.load predicts alike)."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((400, 3))
    new = np.vstack([rng.standard_normal((30, 3)), rng.standard_normal((3, 3)) + 6])
    det = PyODMULDE(contamination=0.05, threshold_on="validation", **SMALL).fit(X)
    alone = MULDE(contamination=0.05, threshold_on="validation", **SMALL).fit(X)
    assert det.detector_.contamination == 0.05
    assert det.threshold_ == -det.detector_.offset_
    assert det.threshold_ == pytest.approx(-alone.offset_)  # the same seeded fit
    # split conformal: one held-out row's score, not the training scores' 95th percentile
    assert det.threshold_ in set(det.decision_scores_.tolist())
    assert det.threshold_ != pytest.approx(np.percentile(det.decision_scores_, 95))
    np.testing.assert_array_equal(det.labels_, (det.decision_scores_ > det.threshold_))
    np.testing.assert_array_equal(det.predict(new), alone.predict(new) == -1)
    assert det.predict(new)[-3:].tolist() == [1, 1, 1]
    path = det.save(tmp_path / "v.safetensors")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a file of this version loads without a warning
        loaded = PyODMULDE.load(path)
    assert loaded.threshold_ == det.threshold_ and loaded.threshold_on == "validation"
    assert loaded.get_params() == det.get_params()
    np.testing.assert_array_equal(MULDE.load(path).predict(new) == -1, det.predict(new))


def test_a_validation_file_saved_before_the_threshold_reached_pyod_warns(saved, tmp_path,
                                                                          capsys):
    """A file saved when threshold_on="validation" moved only MULDE's offset_ (its MULDE
    contamination 'auto', threshold_ the training quantile) loads as saved, with a warning."""
    det = clone(saved[0])
    det.__dict__.update(saved[0].__dict__)
    det.threshold_on = "validation"  # as an earlier mulde saved it: MULDE's own left 'auto'
    det.detector_ = clone(saved[0].detector_)
    det.detector_.__dict__.update(saved[0].detector_.__dict__)
    det.detector_.threshold_on = "validation"
    del det.detector_.threshold_scores_  # not recorded then: inferred from the settings
    path = det.save(tmp_path / "old.safetensors")
    with pytest.warns(UserWarning, match=r"old\.safetensors: saved by an earlier mulde, in "
                      "which threshold_on='validation' did not reach PyOD"):
        loaded = PyODMULDE.load(path)
    assert loaded.threshold_ == det.threshold_
    from mulde.cli import main

    assert main(["info", str(path)]) == 0  # it reads the file, not PyODMULDE.load
    out = capsys.readouterr().out
    assert ("labelled 1 (contamination 0.07 of the training samples; saved before threshold_on "
            "reached PyOD's threshold: refit)\n") in out, out


def test_threshold_on_out_of_bag_sets_pyod_threshold_as_mulde_sets_its_offset(tmp_path,
                                                                              capsys):
    """threshold_ is the wrapped MULDE's out-of-bag offset at PyOD's contamination (round 47),
    labels follow it, a saved file keeps it, and `mulde info` says what it was set on; a
    thresholder object is refused by name."""
    from mulde.cli import main

    X = np.random.default_rng(5).standard_normal((400, 3))
    settings = SMALL | {"n_members": 3, "max_samples": 0.5}
    det = PyODMULDE(contamination=0.05, threshold_on="out_of_bag", **settings).fit(X)
    alone = MULDE(contamination=0.05, threshold_on="out_of_bag", **settings).fit(X)
    assert det.detector_.threshold_scores_ == "out_of_bag"
    assert det.threshold_ == -det.detector_.offset_ == pytest.approx(-alone.offset_)
    np.testing.assert_array_equal(det.labels_, (det.decision_scores_ > det.threshold_))
    path = det.save(tmp_path / "o.safetensors")
    assert PyODMULDE.load(path).threshold_ == det.threshold_
    assert main(["info", str(path)]) == 0
    said = ("contamination 0.05: about that share of new normal samples, set on the training "
            "samples' out-of-bag scores (each by the networks that did not fit it)")
    out = capsys.readouterr().out
    assert f"(+1); {said}\n" in out and f"is labelled 1 ({said})\n" in out, out
    det.contamination = object()  # a PyThresh thresholder stands here
    with pytest.raises(ValueError, match="^threshold_on='out_of_bag' sets threshold_ on the "
                       "out-of-bag rows at a fraction"):
        det.check_params()


def test_threshold_on_training_leaves_mulde_contamination_auto():
    det = PyODMULDE(contamination=0.05, **SMALL)
    assert "contamination" not in det.mulde_params
    assert PyODMULDE(contamination=0.05, threshold_on="validation",
                     **SMALL).mulde_params["contamination"] == 0.05


def test_threshold_on_validation_refuses_a_thresholder_object():
    det = PyODMULDE(**SMALL, threshold_on="validation")
    det.contamination = object()  # a PyThresh thresholder stands here
    with pytest.raises(ValueError, match="^threshold_on='validation' sets threshold_ on the "
                       "held-out rows at a fraction: give contamination as a number"):
        det.check_params()


def test_a_string_contamination_is_refused_in_one_line():
    """PyOD takes any non-number for a PyThresh object and failed later with AttributeError;
    MULDE's own 'auto' is the string a user tries first."""
    for bad in ("auto", "0.05"):
        with pytest.raises(ValueError, match=r"^contamination must be a number in \(0, 0.5\]"
                           r".*not '" + bad + r"' \(MULDE's 'auto' is 0.01\)$"):
            PyODMULDE(contamination=bad, **SMALL).check_params()


def test_a_numpy_number_as_contamination_is_taken_as_the_float_it_holds():
    """PyOD takes any contamination that is no Python float or int for a PyThresh object:
    np.float32(0.1) (np.float64 is a float) failed inside PyOD's fit with AttributeError
    ('numpy.float32' object has no attribute 'fit'). It is the number it holds, checked as
    PyOD checks a float, and so refused in one line out of (0, 0.5]."""
    X = np.random.default_rng(3).standard_normal((100, 3))
    for number in (np.float32(0.1), np.float16(0.1)):
        det = PyODMULDE(contamination=number, **SMALL).fit(X)
        assert type(det.contamination) is float and det.contamination == number
        expected = PyODMULDE(contamination=float(number), **SMALL).fit(X)
        assert det.threshold_ == expected.threshold_ and det.labels_.sum() == 10
    for bad in (np.float32(0.7), np.int64(1), np.float32("nan")):
        with pytest.raises(ValueError, match=r"^contamination must be in \(0, 0.5\], got "):
            PyODMULDE(contamination=bad, **SMALL).fit(X)


def test_a_column_that_looks_like_a_row_index_is_said_as_mulde_says_it(tmp_path):
    """PyODMULDE.fit of a CSV read back with its index as a column warns as MULDE.fit does
    (`IndexColumnWarning`), naming the column."""
    pd = pytest.importorskip("pandas")
    from mulde.estimator.model import IndexColumnWarning

    pd.DataFrame(np.random.default_rng(4).standard_normal((60, 2))).to_csv(tmp_path / "a.csv")
    with pytest.warns(IndexColumnWarning, match="^X: column 'Unnamed: 0' counts the rows"):
        PyODMULDE(**SMALL).fit(pd.read_csv(tmp_path / "a.csv"))


def test_predict_warns_again_when_validation_rows_flag_nothing():
    """Too few validation rows for 1 %: threshold_ is +inf, nothing is flagged, and predict
    says so again, as MULDE.predict does."""
    from mulde.estimator.model import FewValidationRowsWarning

    X = np.random.default_rng(2).standard_normal((100, 3))
    with pytest.warns(FewValidationRowsWarning):
        det = PyODMULDE(contamination=0.01, threshold_on="validation", **SMALL).fit(X)
    assert det.threshold_ == np.inf and not det.labels_.any()
    with pytest.warns(FewValidationRowsWarning, match="too few to flag at most 0.01"):
        assert not det.predict(np.full((2, 3), 50.0)).any()
    # "out_of_bag" with every network on every row: the validation rows alike
    with pytest.warns(FewValidationRowsWarning, match="threshold_on='out_of_bag'"):
        det = PyODMULDE(contamination=0.01, threshold_on="out_of_bag", n_members=1,
                        **SMALL).fit(X)
    assert det.threshold_ == np.inf
    with pytest.warns(FewValidationRowsWarning):
        assert not det.predict(np.full((2, 3), 50.0)).any()


def test_the_adapter_takes_reweight_and_scores_as_mulde():
    """reweight="modes" through the adapter: the same fit as MULDE's, PyOD's scores equal."""
    rng = np.random.default_rng(2)
    X = np.r_[rng.standard_normal((1000, 2)), rng.standard_normal((100, 2)) + 10.0]
    det = PyODMULDE(reweight="modes", **SMALL).fit(X)
    model = MULDE(reweight="modes", **SMALL).fit(X)
    assert det.get_params()["reweight"] == "modes"
    np.testing.assert_array_equal(det.decision_scores_, model.anomaly_score(X))
