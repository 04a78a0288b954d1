"""A model file whose values no fit writes is refused at load, naming the file and the field.

The checksum (`sha256`) catches accidental damage only: anyone who edits a file can compute it
again (`content_checksum`), so each file here is rewritten with a fitting checksum, and only
the loader's value checks stand between it and wrong scores or a traceback later."""

import json
import os

import numpy as np
import pytest
from fakes import in_time, refused_in_one_line
from model_files import edit_model_file, stored_contents

from mulde import MULDE
from mulde.estimator.model import OutOfRangeRowsError
from mulde.estimator.persistence import ModelFileError

AGAIN = "; fit and save it again"
TINY = dict(hidden_sizes=(8,), n_members=1, n_levels=4, max_steps=5, random_state=0,
            device="cpu")


def _fit_and_save(folder, name, X, **params):
    model = MULDE(**TINY | params).fit(X)
    return model, model.save(folder / f"{name}.safetensors")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Tiny fitted models of each aggregator family whose file has value checks, their
    files, and the rows they were fitted on."""
    folder = tmp_path_factory.mktemp("values")
    X = np.random.default_rng(0).standard_normal((80, 3))
    out = {"X": X}
    for name, params in {"base": {}, "gmm": dict(aggregator="gmm", n_components=2),
                         "mean_z": dict(aggregator="mean_z"),
                         "stacked": dict(aggregator="stacked"),
                         "cv_level": dict(aggregator="cv_level"),
                         "white": dict(whiten="ledoit_wolf")}.items():
        out[name] = _fit_and_save(folder, name, X, **params)
    return out


def _crafted(source, tmp_path, **edits):
    """A copy of the model file `source` in tmp_path, edited consistently (`edit_model_file`:
    its checksum computed again)."""
    return edit_model_file(source, tmp_path / "crafted.safetensors", **edits)


def _refused(path, said):
    """Load `path`; assert one line naming the file and saying `said`."""
    return refused_in_one_line(lambda: MULDE.load(path), ModelFileError, f"{path}: ", said)


def test_the_legitimate_files_load_and_score_as_saved(files):
    """The checks refuse nothing a fit writes: each aggregator's file loads and scores as the
    fitted model."""
    X = files["X"]
    for name in ("base", "gmm", "mean_z", "stacked", "cv_level", "white"):
        model, path = files[name]
        np.testing.assert_array_equal(MULDE.load(path).score_samples(X),
                                      model.score_samples(X))


@pytest.mark.parametrize("offset", ["NaN", "Infinity"])
def test_an_offset_of_nan_or_plus_infinity_is_refused(files, tmp_path, offset):
    """`mulde info` printed such an offset as invalid JSON, and predict flagged all or none."""
    path = _crafted(files["base"][1], tmp_path, meta={"offset": offset})
    message = _refused(path, f"metadata field 'offset' is '{offset}', not a number")
    assert message.endswith(AGAIN)


def test_an_offset_of_minus_infinity_loads(files, tmp_path):
    """-inf is a fit's own: too few validation rows to flag any (FewValidationRowsWarning)."""
    path = _crafted(files["base"][1], tmp_path, meta={"offset": "-Infinity"})
    assert MULDE.load(path).offset_ == -np.inf


@pytest.mark.parametrize("sigmas", [[-0.5, 0.1, 0.2, 0.3], [0.0, 0.1, 0.2, 0.3],
                                    [0.3, 0.2, 0.1, 0.05]], ids=["negative", "zero", "descending"])
def test_noise_levels_not_positive_and_increasing_are_refused(files, tmp_path, sigmas):
    path = _crafted(files["base"][1], tmp_path,
                    arrays={"sigmas": np.array(sigmas, dtype=np.float32)})
    _refused(path, "array 'sigmas' holds noise levels that are not all > 0 and non-decreasing")


def test_equal_noise_levels_load(files, tmp_path):
    """sigma_low and sigma_high that round alike in float32 give equal levels (a legal grid)."""
    path = _crafted(files["base"][1], tmp_path,
                    arrays={"sigmas": np.full(4, 0.5, dtype=np.float32)})
    assert MULDE.load(path).sigmas_.tolist() == [0.5] * 4


@pytest.mark.parametrize("scale, said", [
    (np.array([1.0, 0.0, 1.0]), "array 'scale' holds column scales that are not all > 0"),
    (np.array([1.0, -2.0, 1.0]), "array 'scale' holds column scales that are not all > 0"),
    (np.ones(3, dtype=np.float16), "array 'scale' holds float16 values, not float32 or "
                                   "float64"),
], ids=["zero", "negative", "float16"])
def test_column_scales_not_positive_or_of_a_narrow_float_are_refused(files, tmp_path, scale,
                                                                     said):
    path = _crafted(files["base"][1], tmp_path, arrays={"scale": scale})
    _refused(path, said)


def test_a_singular_whitening_is_refused(files, tmp_path):
    path = _crafted(files["white"][1], tmp_path, arrays={"whitening": np.zeros((3, 3))})
    _refused(path, "array 'whitening' is a singular matrix")


def test_a_gmm_aggregator_no_fit_gives_is_refused(files, tmp_path):
    source = files["gmm"][1]
    _, arrays = stored_contents(source)
    weights = arrays["aggregator.weights"]
    prec = arrays["aggregator.precisions_cholesky"]
    lower = prec.copy()
    lower[0, 2, 0] = 0.5  # below the diagonal of an upper-triangular factor
    flipped = prec.copy()
    flipped[1, 1, 1] = -flipped[1, 1, 1]
    cases = [({"aggregator.weights": np.array([-1.0, 2.0])}, "'aggregator.weights' holds "
              "mixture weights that are not all > 0 summing to 1"),
             ({"aggregator.weights": weights * 2}, "'aggregator.weights' holds mixture "
              "weights that are not all > 0 summing to 1"),
             ({"aggregator.precisions_cholesky": lower}, "'aggregator.precisions_cholesky' "
              "holds factors that are not upper triangular"),
             ({"aggregator.precisions_cholesky": flipped}, "'aggregator.precisions_cholesky' "
              "holds variances or factors whose diagonal is not all > 0"),
             ({"aggregator.covariances": np.zeros_like(arrays["aggregator.covariances"])},
              "'aggregator.covariances' holds variances or factors whose diagonal")]
    for changed, said in cases:
        _refused(_crafted(source, tmp_path, arrays=changed), said)


def test_z_score_deviations_not_positive_are_refused(files, tmp_path):
    path = _crafted(files["mean_z"][1], tmp_path, arrays={"aggregator.std": np.zeros(4)})
    _refused(path, "array 'aggregator.std' holds deviations that are not all > 0")


@pytest.mark.parametrize("weights", [[-0.5, 0.5, 0.5, 0.5], [0.0, 0.0, 0.0, 0.0]],
                         ids=["negative", "all_zero"])
def test_stacked_weights_no_fit_gives_are_refused(files, tmp_path, weights):
    source = files["stacked"][1]
    assert "aggregator.weights" in stored_contents(source)[1]  # fitted with validation rows
    path = _crafted(source, tmp_path, arrays={"aggregator.weights": np.array(weights)})
    _refused(path, "array 'aggregator.weights' holds mixture weights that are not all >= 0 "
                   "summing to 1")


def test_kept_levels_given_twice_are_refused(files, tmp_path):
    path = _crafted(files["cv_level"][1], tmp_path,
                    arrays={"aggregator.levels": np.array([1, 1])})
    _refused(path, "array 'aggregator.levels' holds level indices that are not strictly "
                   "increasing")


def test_non_finite_network_weights_are_refused_by_tensor(files, tmp_path):
    _, arrays = stored_contents(files["base"][1])
    weight = arrays["network.first.weight"].copy()
    weight[0, 0] = np.nan
    path = _crafted(files["base"][1], tmp_path, arrays={"network.first.weight": weight})
    _refused(path, "array 'network.first.weight' holds non-finite values (NaN or infinite)")


@pytest.mark.parametrize("field, value, said", [
    ("steps", "x", 'steps="x", not a whole number >= 0'),
    ("best_step", [1], "best_step=[1], not a whole number >= 0"),
    ("best_val_loss", {"a": 1}, 'best_val_loss={"a": 1}, not a number or null'),
    ("stopped_early", "no", 'stopped_early="no", not true or false'),
    ("history", [{"step": "1"}], "history=[{\"step\": \"1\"}], not a list of objects of "
                                 "numbers"),
    ("lr", "fast", 'lr="fast", not a number or null'),
    ("resumed_from", 2.5, "resumed_from=2.5, not a whole number >= 0 or null"),
    # the rows given to fit: `mulde info` counted n_members "auto"'s reason from 0 rows and
    # failed with a ValueError traceback
    ("n_rows", 0, "n_rows=0, not a whole number >= 1 or null"),
    ("n_rows", "600", 'n_rows="600", not a whole number >= 1 or null'),
])
def test_a_training_record_of_wrong_types_is_refused_by_field(files, tmp_path, field, value,
                                                              said):
    """`mulde info` formatted these fields and failed with a TypeError traceback."""
    path = _crafted(files["base"][1], tmp_path, record={field: value})
    _refused(path, f"metadata field 'train_result' has {said}")


def test_a_training_record_of_an_older_file_still_loads(files, tmp_path):
    """Optional fields stored as null (files from before they were recorded) load."""
    path = _crafted(files["base"][1], tmp_path,
                    record=dict(lr=None, n_members=None, max_samples=None, resumed_from=None,
                                validation_fraction=None, best_val_loss=None, n_rows=None))
    assert MULDE.load(path).train_result_.lr is None


def test_a_training_record_field_of_a_later_mulde_is_left_out(files, tmp_path):
    """A field this mulde does not know (a later one's record, as n_rows was new once) is
    dropped and the file loads; it was refused as "does not describe a training run"."""
    path = _crafted(files["base"][1], tmp_path, record={"n_restarts": 3})
    loaded = MULDE.load(path)
    assert loaded.train_result_.steps == files["base"][0].train_result_.steps
    assert not hasattr(loaded.train_result_, "n_restarts")


@pytest.mark.parametrize("count", ["2", "4"])
def test_a_feature_count_other_than_the_means_is_named(files, tmp_path, count):
    """It was said as a length error of quantisation_steps, the first field checked."""
    path = _crafted(files["base"][1], tmp_path, meta={"n_features_in": count})
    _refused(path, f"metadata field 'n_features_in' is {count}, but array 'mean' has shape "
                   "(3,)")


@pytest.mark.parametrize("field", ["n_features_in", "format_version"])
@pytest.mark.parametrize("raw", [" 3 ", "\u0663", "+3", "3_0"])
def test_whole_numbers_in_other_than_ascii_digits_are_refused(files, tmp_path, field, raw):
    """int() takes spaces, a sign, underscores and other scripts' digits."""
    path = _crafted(files["base"][1], tmp_path, meta={field: raw})
    _refused(path, f"metadata field '{field}' is {raw!r}, not a whole number")


def test_a_long_field_is_cut_in_the_message(files, tmp_path):
    path = _crafted(files["base"][1], tmp_path, meta={"n_features_in": "9" * 5000})
    message = _refused(path, "metadata field 'n_features_in' is '" + "9" * 40 + "'…")
    assert len(message) < 300


@pytest.mark.parametrize("name, value, said", [
    ("hidden_sizes", 16, "'hidden_sizes' parameter of MULDE must be an array-like"),
    ("adam_betas", 5, "adam_betas must be two numbers in [0, 1)"),
])
def test_a_parameter_of_the_wrong_shape_is_named(files, tmp_path, name, value, said):
    """They gave "'int' object is not iterable", naming neither."""
    path = _crafted(files["base"][1], tmp_path, params={name: value})
    _refused(path, said)


def test_principal_directions_above_the_feature_count_are_refused(files, tmp_path):
    path = _crafted(files["base"][1], tmp_path, meta={"principal_directions": "10000000000"})
    _refused(path, "principal_directions 10000000000 is not a whole number from 0 to "
                   "n_features_in (3)")


def test_a_loaded_model_writes_no_checkpoints_where_its_file_says(files, tmp_path):
    """A file naming a checkpoint folder (any folder: /etc) would have a refit of
    clone(model) write there; the loaded model has none."""
    path = _crafted(files["base"][1], tmp_path, params={"checkpoint_dir": str(tmp_path)})
    assert MULDE.load(path).checkpoint_dir is None


def test_a_folder_or_pipe_named_as_the_model_file_is_refused_at_once(tmp_path):
    """A FIFO blocked the load forever; a folder gave "No such device (os error 19)"."""
    folder = tmp_path / "a" / "model.safetensors"
    folder.mkdir(parents=True)
    with pytest.raises(ModelFileError, match=f"^{folder}: a pipe, device or folder, not a "
                                             "model file; give the model file"):
        MULDE.load(tmp_path / "a")  # a model folder, whose model file is a folder
    with pytest.raises(ModelFileError, match="a folder without model.safetensors"):
        MULDE.load(folder)  # the folder itself, as any folder without a model file
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "fifo.safetensors"
        os.mkfifo(fifo)
        with pytest.raises(ModelFileError, match=f"^{fifo}: a pipe, device or folder"):
            in_time(lambda: MULDE.load(fifo))


def test_aggregated_scores_that_are_not_finite_are_refused_by_row(files):
    """A guard behind the load checks: an aggregator state that gives inf (a deviation of 0
    set on a fitted model) names the rows as non-finite energies do, instead of scoring
    inf."""
    loaded = MULDE.load(files["mean_z"][1])
    loaded.aggregator_state_ = dict(loaded.aggregator_state_, std=np.zeros(4))
    with np.errstate(divide="ignore", invalid="ignore"), pytest.raises(
            OutOfRangeRowsError, match="get non-finite anomaly scores from the mean_z "
                                       "aggregator"):
        loaded.score_samples(files["X"][:3])


def test_a_pyod_threshold_of_nan_is_refused(tmp_path):
    pytest.importorskip("pyod")
    from mulde.estimator.persistence import PYOD_META
    from mulde.estimator.pyod_adapter import PyODMULDE

    X = np.random.default_rng(0).standard_normal((80, 3))
    path = PyODMULDE(**TINY).fit(X).save(tmp_path / "p.safetensors")
    meta, _ = stored_contents(path)
    for threshold, loads in ((float("nan"), False), (float("-inf"), False),
                             (float("inf"), True)):
        extra = json.loads(meta[PYOD_META]) | {"threshold": threshold}
        crafted = _crafted(path, tmp_path, meta={PYOD_META: json.dumps(extra)})
        if loads:
            assert PyODMULDE.load(crafted).threshold_ == np.inf
            continue
        with pytest.raises(ModelFileError, match=f"has threshold {threshold}, not a finite "
                                                 r"number or \+inf"):
            PyODMULDE.load(crafted)


@pytest.fixture(scope="module")
def repeated_files(tmp_path_factory):
    """A model whose rows repeat five flag patterns 20-40 times (their atoms stored), and the
    same fitted without atoms (atom_min_count None), with their files and rows."""
    folder = tmp_path_factory.mktemp("atoms")
    patterns = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]], dtype=float)
    X = np.r_[np.repeat(patterns, [40, 40, 40, 20, 20], axis=0),
              np.random.default_rng(0).standard_normal((40, 3))]
    return (X, _fit_and_save(folder, "atoms", X),
            _fit_and_save(folder, "plain", X, atom_min_count=None))


@pytest.mark.parametrize(("change", "said"), [
    (dict(arrays={"atom_counts": np.full(5, 2)}),
     "array 'atom_counts' holds a count below atom_min_count=5"),
    (dict(arrays={"atom_scores": np.zeros(6)}),
     "array 'atom_scores' has shape (6,) (float64), expected 5 floating-point numbers"),
    (dict(arrays={"atoms": np.zeros((5, 2))}),
     "array 'atoms' has shape (5, 2) (float64), expected rows of 3 floating-point numbers"),
    (dict(arrays={"atom_scores": np.full(5, np.nan)}), "holds non-finite values"),
    (dict(params={"atom_min_count": None}),
     "array 'atoms' is stored, but the config says atom_min_count=None"),
])
def test_a_file_with_broken_atoms_is_refused_naming_the_array(repeated_files, tmp_path,
                                                              change, said):
    _, (model, source), _ = repeated_files
    assert len(model.atoms_) == 5
    assert _refused(_crafted(source, tmp_path, **change), said).endswith(AGAIN)


def test_a_file_with_some_of_the_atom_arrays_is_refused(repeated_files, tmp_path):
    _, (_, source), _ = repeated_files
    path = _crafted(source, tmp_path, drop_arrays=["atom_scores"])
    _refused(path, "array 'atom_scores' is missing beside 'atoms'" + AGAIN)


def test_atoms_survive_save_and_load_and_a_file_from_before_them_has_none(repeated_files,
                                                                          tmp_path):
    """A file whose parameters name no atom_min_count (written before round 60) was fitted
    without: it loads with None, and scores as saved."""
    X, (model, source), (plain, plain_source) = repeated_files
    loaded = MULDE.load(source)
    np.testing.assert_array_equal(loaded.anomaly_score(X), model.anomaly_score(X))
    np.testing.assert_array_equal(loaded.atom_counts_, model.atom_counts_)
    assert loaded.offset_ == model.offset_ and len(MULDE.load(plain_source).atoms_) == 0
    older = MULDE.load(_crafted(plain_source, tmp_path, drop_params=["atom_min_count"]))
    assert older.atom_min_count is None and len(older.atoms_) == 0
    np.testing.assert_array_equal(older.anomaly_score(X), plain.anomaly_score(X))


def _two_apart_modes_fit(tmp_path_factory, reweight):
    """(X, model, path): a model fitted with `reweight` on two apart modes, 1,000 and 100
    rows of 3 features (a mixture stored), and its file; separated modes' shares unbounded
    (max_mode_gain None: no 'modes.max_gain', which `bounded_file` has)."""
    rng = np.random.default_rng(5)
    X = np.r_[rng.standard_normal((1000, 3)), rng.standard_normal((100, 3)) + 10.0]
    model, path = _fit_and_save(tmp_path_factory.mktemp(reweight), reweight, X,
                                reweight=reweight, max_mode_gain=None)
    assert model.mode_mixture_ is not None
    return X, model, path


@pytest.fixture(scope="module")
def reweighted_file(tmp_path_factory):
    """A model fitted with reweight="modes" on two apart modes (a mixture stored)."""
    return _two_apart_modes_fit(tmp_path_factory, "modes")


@pytest.mark.parametrize("arrays, said", [
    (None, "array 'modes.means' is stored, but the config says reweight=None"),
    (lambda k: {"modes.variances": np.zeros((k, 3))}, "not a mixture of two or more"),
    (lambda k: {"modes.means": np.zeros((k, 4))}, "array 'modes.means' has shape ({k}, 4)"),
    (lambda k: {"modes.weights": np.r_[np.full(k - 1, 1.0 / k), np.nan]},
     "non-finite values"),
    # a scalar: "len() of unsized object", as the file's one line, before
    (lambda k: {"modes.weights": np.array(1.0)},
     "array 'modes.weights' has shape (), expected (K,)"),
    # float16: no dtype save writes, refused by the other arrays' check too
    (lambda k: {"modes.means": np.zeros((k, 3), dtype=np.float16)},
     "expected ({k}, 3) float32 or float64 numbers"),
])
def test_a_file_with_a_broken_mode_mixture_is_refused(reweighted_file, tmp_path, arrays, said):
    """arrays: the arrays replaced, given the stored mixture's K (None: the config's
    reweight set to None instead)."""
    _, model, source = reweighted_file
    k = model.mode_mixture_.n_components
    change = {"params": {"reweight": None}} if arrays is None else {"arrays": arrays(k)}
    path = _crafted(source, tmp_path, **change)
    assert _refused(path, said.replace("{k}", str(k))).endswith(AGAIN)


@pytest.fixture(scope="module")
def separated_file(tmp_path_factory):
    """A model fitted with reweight="separated_modes" on two apart modes (labels stored)."""
    X, model, path = _two_apart_modes_fit(tmp_path_factory, "separated_modes")
    assert model.mode_mixture_.labels is not None
    return X, model, path


def _labels(k, *head):
    """K labels (int64) starting with `head`, the rest 0 and 1 alternating."""
    return np.array([*head, *[i % 2 for i in range(k - len(head))]], dtype=np.int64)


@pytest.mark.parametrize("change, said", [
    (dict(params={"reweight": "modes"}),
     "array 'modes.labels' is stored, but the config says reweight='modes'"),
    (dict(drop_arrays=["modes.labels"]),
     "array 'modes.labels' is missing, but the config says reweight='separated_modes'"),
    (dict(drop_arrays=["modes.means"]), "array 'modes.means' is missing beside 'modes.variances'"),
    (dict(arrays=lambda k: {"modes.labels": _labels(k).astype(np.float64)}),
     "array 'modes.labels' has shape"),
    (dict(arrays=lambda k: {"modes.labels": _labels(k + 1)}),
     "array 'modes.labels' has shape"),
    (dict(arrays=lambda k: {"modes.labels": _labels(k).astype(bool)}),
     "array 'modes.labels' has shape"),
    (dict(arrays=lambda k: {"modes.labels": _labels(k, -1)}),
     "not modes numbered 0, 1, ... G-1"),
    (dict(arrays=lambda k: {"modes.labels": _labels(k, 10**12)}),  # no 1e12 allocation
     "not modes numbered 0, 1, ... G-1"),
    (dict(arrays=lambda k: {"modes.labels": _labels(k) * 2}),  # modes 0 and 2: 1 unused
     "not modes numbered 0, 1, ... G-1"),
    (dict(arrays=lambda k: {"modes.labels": np.zeros(k, dtype=np.int32)}),
     "puts every component in one mode"),
])
def test_a_file_with_broken_mode_labels_is_refused(separated_file, tmp_path, change, said):
    """change: the config's params updated, an array dropped, or arrays replaced (given K)."""
    _, model, source = separated_file
    if "arrays" in change:
        change = {"arrays": change["arrays"](model.mode_mixture_.n_components)}
    path = _crafted(source, tmp_path, **change)
    assert _refused(path, said).endswith(AGAIN)


def test_a_file_of_labels_without_a_mixture_is_refused(separated_file, tmp_path):
    path = _crafted(separated_file[2], tmp_path,
                    drop_arrays=["modes.means", "modes.variances", "modes.weights"])
    assert _refused(path, "array 'modes.labels' is stored without the mixture's "
                          "'modes.means'").endswith(AGAIN)


@pytest.fixture(scope="module")
def bounded_file(tmp_path_factory):
    """A model fitted with reweight="separated_modes" and max_mode_gain 3 on two apart modes
    (the rare one's share bounded: 'modes.max_gain' stored)."""
    rng = np.random.default_rng(5)
    X = np.r_[rng.standard_normal((1000, 3)), rng.standard_normal((100, 3)) + 10.0]
    model, path = _fit_and_save(tmp_path_factory.mktemp("bounded"), "bounded", X,
                                reweight="separated_modes", max_mode_gain=3.0)
    assert model.mode_mixture_.max_gain == 3.0 and "modes.max_gain" in stored_contents(path)[1]
    return X, model, path


@pytest.mark.parametrize("change, said", [
    (dict(arrays={"modes.max_gain": np.array([0.5])}),
     "array 'modes.max_gain' holds 0.5, not a finite bound >= 1"),
    (dict(arrays={"modes.max_gain": np.array([np.nan])}),
     "array 'modes.max_gain' holds nan, not a finite bound >= 1"),
    (dict(arrays={"modes.max_gain": np.array([np.inf])}),
     "array 'modes.max_gain' holds inf, not a finite bound >= 1"),
    (dict(arrays={"modes.max_gain": np.array(3.0)}),
     "array 'modes.max_gain' has shape () (float64), expected (1,)"),
    (dict(arrays={"modes.max_gain": np.array([3], dtype=np.int64)}),
     "array 'modes.max_gain' has shape (1,) (int64), expected (1,)"),
    (dict(drop_arrays=["modes.labels"], params={"reweight": "modes"}),
     "array 'modes.max_gain' is stored without 'modes.labels'"),
])
def test_a_file_with_a_broken_mode_bound_is_refused(bounded_file, tmp_path, change, said):
    """'modes.max_gain' (the bound the mixture was fitted with) that no fit writes: below 1,
    not finite, of another shape or kind, or beside no labels."""
    _, _, source = bounded_file
    path = _crafted(source, tmp_path, **change)
    assert _refused(path, said).endswith(AGAIN)


def test_an_unbounded_fit_saved_after_set_params_loads_unbounded(tmp_path):
    """Equal shares fitted (max_mode_gain None: no 'modes.max_gain' stored), then
    max_mode_gain set to 3 before saving: the file loads with the equal shares it was
    fitted with (the config's 3 is for the next fit), and scores as fitted."""
    rng = np.random.default_rng(5)
    X = np.r_[rng.standard_normal((1000, 3)), rng.standard_normal((100, 3)) + 10.0]
    model, _ = _fit_and_save(tmp_path, "unbounded", X, reweight="separated_modes",
                             max_mode_gain=None)
    model.set_params(max_mode_gain=3.0)
    loaded = MULDE.load(model.save(tmp_path / "later.safetensors"))
    assert loaded.max_mode_gain == 3.0 and loaded.mode_mixture_.max_gain is None
    np.testing.assert_array_equal(loaded.anomaly_score(X), model.anomaly_score(X))


def test_a_separated_model_loads_and_scores_as_saved(separated_file, tmp_path):
    """The twin's weights follow from the stored labels and weights: the loaded model's are
    the fitted one's to the bit, and so are its scores; int32 labels load too."""
    X, model, source = separated_file
    labels = model.mode_mixture_.labels
    narrow = _crafted(source, tmp_path, arrays={"modes.labels": labels.astype(np.int32)})
    for path in (source, narrow):
        loaded = MULDE.load(path)
        assert loaded.mode_mixture_.labels.dtype == np.int64
        np.testing.assert_array_equal(loaded.mode_mixture_.labels, labels)
        np.testing.assert_array_equal(loaded.mode_mixture_.targets,
                                      model.mode_mixture_.targets)
        np.testing.assert_array_equal(loaded.anomaly_score(X), model.anomaly_score(X))


def test_a_reweighted_model_loads_and_scores_as_saved(reweighted_file):
    X, model, source = reweighted_file
    loaded = MULDE.load(source)
    np.testing.assert_array_equal(loaded.anomaly_score(X), model.anomaly_score(X))
    assert loaded.offset_ == model.offset_


@pytest.fixture(scope="module")
def projected_file(tmp_path_factory):
    """A model fitted with reweight="separated_modes" on two apart modes along one line of 3
    columns, its mixture on the leading principal direction (mode_variance_share 0.6:
    'modes.basis' (3, 1) stored)."""
    rng = np.random.default_rng(5)
    t = np.r_[rng.standard_normal(1000), rng.standard_normal(100) + 10.0]
    X = np.c_[t, 0.5 * t, 0.1 * rng.standard_normal(1100)]
    model, path = _fit_and_save(tmp_path_factory.mktemp("projected"), "projected", X,
                                reweight="separated_modes", mode_variance_share=0.6)
    assert model.mode_mixture_.basis.shape == (3, 1) and "modes.basis" in stored_contents(path)[1]
    return X, model, path


@pytest.mark.parametrize("arrays, said", [
    (lambda k: {"modes.basis": np.ones((4, 1))},
     "array 'modes.basis' has shape (4, 1), expected (n_features_in, r) = (3, r)"),
    (lambda k: {"modes.basis": np.ones((3, 4))}, "with 1 <= r <= 3"),
    (lambda k: {"modes.basis": np.ones(3)}, "array 'modes.basis' has shape (3,)"),
    (lambda k: {"modes.basis": np.full((3, 1), np.nan)}, "'modes.basis' holds non-finite"),
    (lambda k: {"modes.basis": np.ones((3, 1), np.float16)},
     "array 'modes.basis' has shape (3, 1) (float16), expected (3, 1) float32 or float64"),
    # the right shape, but no orthonormal columns: log r would be read at other coordinates
    (lambda k: {"modes.basis": np.ones((3, 1))},
     "array 'modes.basis' holds no principal directions: its columns are not orthonormal "
     "(basis^T basis differs from the identity by up to 2)"),
    # the mixture fitted on one direction, the basis claiming two
    (lambda k: {"modes.basis": np.ones((3, 2))},
     "array 'modes.means' has shape ({k}, 1) (float64), expected ({k}, 2) float32 or "
     "float64 numbers (n_features_in=3, {k} components on 2 principal directions)"),
])
def test_a_file_with_a_broken_mode_basis_is_refused(projected_file, tmp_path, arrays, said):
    """arrays: the arrays replaced, given the stored mixture's K; a basis without the
    mixture is refused too, by name."""
    X, model, source = projected_file
    np.testing.assert_array_equal(MULDE.load(source).anomaly_score(X), model.anomaly_score(X))
    k = model.mode_mixture_.n_components
    path = _crafted(source, tmp_path, arrays=arrays(k))
    assert _refused(path, said.replace("{k}", str(k))).endswith(AGAIN)


def test_a_file_of_a_basis_without_a_mixture_is_refused(projected_file, tmp_path):
    path = _crafted(projected_file[2], tmp_path,
                    drop_arrays=["modes.means", "modes.variances", "modes.weights",
                                 "modes.labels", "modes.max_gain"])
    assert _refused(path, "array 'modes.basis' is stored without the mixture's "
                          "'modes.means'").endswith(AGAIN)


def test_a_basis_stored_as_float32_or_scaled_is_checked_for_orthonormal_columns(
        projected_file, tmp_path):
    """A fit's basis stored as float32 (a dtype the file may hold) still loads, its scores
    within float32's rounding; the same basis times 1.001 (columns not of unit length,
    log r read at coordinates 0.1 % off) is refused."""
    X, model, source = projected_file
    basis = model.mode_mixture_.basis
    path = _crafted(source, tmp_path, arrays={"modes.basis": basis.astype(np.float32)})
    np.testing.assert_allclose(MULDE.load(path).anomaly_score(X), model.anomaly_score(X),
                               rtol=1e-5, atol=1e-5)
    path = _crafted(source, tmp_path, arrays={"modes.basis": 1.001 * basis})
    assert _refused(path, "array 'modes.basis' holds no principal directions").endswith(AGAIN)


def test_a_file_of_lattice_columns_beside_a_mixture_is_refused(projected_file, tmp_path):
    """reweight "auto" that counts a lattice column fits no mixture, and no other fit
    records a count (set_params after a fit included): a file holding both is refused by
    name; a count of 0 beside the mixture is what "auto" writes on continuous rows."""
    X, model, source = projected_file
    path = _crafted(source, tmp_path, meta={"lattice_columns": "0"})
    np.testing.assert_array_equal(MULDE.load(path).anomaly_score(X), model.anomaly_score(X))
    path = _crafted(source, tmp_path, meta={"lattice_columns": "2"})
    assert _refused(path, "lattice_columns 2 says reweight \"auto\" fitted unweighted "
                          "(columns on a lattice), but the mixture's 'modes.means' is "
                          "stored").endswith(AGAIN)
