"""Ledoit-Wolf whitening of standardised rows (mulde.estimator.whitening) and MULDE(whiten=)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from model_files import edit_model_file, stored_contents
from sklearn.covariance import LedoitWolf

from mulde import MULDE
from mulde.estimator.whitening import ledoit_wolf_whitening


def test_an_isotropic_sample_whitens_by_one_over_its_standard_deviation():
    """Rows +-e1, +-e2: sample covariance (divided by n = 4) is 0.5 I, already a multiple of
    the identity, so any shrinkage leaves it; C^(-1/2) = sqrt(2) I by hand."""
    Z = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    np.testing.assert_allclose(ledoit_wolf_whitening(Z), np.sqrt(2.0) * np.eye(2), atol=1e-12)


def test_rows_without_spread_have_nothing_to_whiten():
    assert ledoit_wolf_whitening(np.zeros((5, 3))) is None


def test_a_single_row_is_refused():
    with pytest.raises(ValueError, match="n >= 2"):
        ledoit_wolf_whitening(np.ones((1, 3)))


@settings(max_examples=30, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(3, 30), st.integers(1, 6)),
              elements=st.floats(-100, 100, allow_subnormal=False)))
def test_the_matrix_is_symmetric_and_inverts_the_shrunk_covariance(Z):
    """W is symmetric and W C W = I for C the Ledoit-Wolf covariance of the columns that
    vary, whenever Z has spread; the constant columns get the identity. (A spread whose
    squares underflow, values near 1e-288 as hypothesis found, is no spread.)"""
    Z = Z - Z.mean(axis=0)
    W = ledoit_wolf_whitening(Z)
    varying = (Z != Z[0]).any(axis=0)
    if not varying.any() or not LedoitWolf(assume_centered=True).fit(
            Z[:, varying]).covariance_.any():  # no spread, or its squares underflow
        assert W is None
        return
    assert W is not None
    np.testing.assert_allclose(W, W.T, atol=1e-9 * np.abs(W).max())
    still = ~varying
    np.testing.assert_array_equal(W[np.ix_(still, still)], np.eye(int(still.sum())))
    assert not W[np.ix_(still, varying)].any()
    C = LedoitWolf(assume_centered=True).fit(Z[:, varying]).covariance_
    Wv = W[np.ix_(varying, varying)]
    if np.abs(Z).max() >= 1e-6 and np.linalg.cond(C) < 1e8:
        np.testing.assert_allclose(Wv @ C @ Wv, np.eye(len(C)), atol=1e-6)


def test_a_rotated_anisotropic_gaussian_comes_out_isotropic():
    """Standard deviations 1 and 3 along rotated axes: with 20,000 rows the shrinkage is
    near 0 (3e-4 here), so the whitened covariance is near the identity. (At 0.1 and 10 the
    same shrinkage lifts the thin direction's variance 0.01 by a * mean eigenvalue = 0.01:
    shrinkage towards a multiple of the identity whitens extreme spreads only partly.)"""
    rng = np.random.default_rng(0)
    angle = 0.6
    Q = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    Z = (rng.standard_normal((20000, 2)) * [1.0, 3.0]) @ Q.T
    Z -= Z.mean(axis=0)
    white = Z @ ledoit_wolf_whitening(Z)
    np.testing.assert_allclose(np.cov(white.T), np.eye(2), atol=0.02)


@pytest.fixture(scope="module")
def whitened():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((400, 4)) @ rng.standard_normal((4, 4)) + 2.0
    return MULDE(hidden_sizes=(16, 16), max_steps=30, batch_size=64, random_state=0,
                 whiten="ledoit_wolf", device="cpu").fit(X), X


def test_the_network_sees_the_whitened_rows(whitened):
    """The energies are those of the network on ((X - mean) / scale) @ W."""
    import torch

    from mulde.core import multiscale_energy

    model, X = whitened
    assert model.whitening_.shape == (4, 4)
    z = ((X - model.mean_) / model.scale_) @ model.whitening_
    expected = multiscale_energy(model.network_, torch.from_numpy(z.astype(np.float32)),
                                 torch.as_tensor(model.sigmas_)).numpy()
    np.testing.assert_allclose(model.score_samples_multiscale(X), expected, rtol=1e-6,
                               atol=1e-6)


def test_without_whitening_there_is_no_matrix():
    X = np.random.default_rng(0).standard_normal((100, 3))
    assert MULDE(hidden_sizes=(8,), max_steps=5, random_state=0).fit(X).whitening_ is None
    assert MULDE.from_preset("paper").whiten is None


def test_a_whitened_model_of_constant_rows_whitens_by_the_identity_and_loads(tmp_path):
    """Rows without spread have nothing to whiten: the fit had kept None while the file
    format asks for the matrix whenever whiten is set, so such a model saved but did not
    load ("array 'whitening' is missing"). It whitens by the identity."""
    import warnings

    X = np.ones((40, 3))
    with warnings.catch_warnings():  # every column constant: said, and fitted
        warnings.simplefilter("ignore")
        model = MULDE(whiten="ledoit_wolf", hidden_sizes=(8,), max_steps=5,
                      random_state=0).fit(X)
    np.testing.assert_array_equal(model.whitening_, np.eye(3))
    loaded = MULDE.load(model.save(tmp_path / "m.safetensors"))
    np.testing.assert_array_equal(loaded.anomaly_score(X[:4]), model.anomaly_score(X[:4]))


def test_a_whitened_model_round_trips_and_a_wrong_matrix_is_refused(whitened, tmp_path):
    import json

    from mulde.estimator.persistence import ModelFileError

    model, X = whitened
    path = model.save(tmp_path / "w.safetensors")
    loaded = MULDE.load(path)
    np.testing.assert_array_equal(loaded.whitening_, model.whitening_)
    np.testing.assert_array_equal(loaded.score_samples(X), model.score_samples(X))
    assert json.loads(stored_contents(path)[0]["params"])["whiten"] == "ledoit_wolf"
    edit_model_file(path, arrays={"whitening": np.eye(3)})  # checksum fits: consistent
    with pytest.raises(ModelFileError, match=r"w\.safetensors: inconsistent MULDE model file: "
                       r"array 'whitening' has shape \(3, 3\), expected \(4, 4\)"):
        MULDE.load(path)


def test_a_whitened_model_exports_with_the_library_scores(whitened, tmp_path):
    pytest.importorskip("onnxscript", reason="PyTorch's ONNX exporter needs onnxscript")
    ort = pytest.importorskip("onnxruntime", reason="the round trip needs onnxruntime")
    from mulde.estimator.export import export_onnx

    model, X = whitened
    session = ort.InferenceSession(str(export_onnx(model, tmp_path / "w.onnx")),
                                   providers=["CPUExecutionProvider"])
    score, energies = session.run(["anomaly_score", "energies"], {"x": X.astype(np.float32)})
    np.testing.assert_allclose(energies, model.score_samples_multiscale(X), rtol=1e-4,
                               atol=1e-4)
    np.testing.assert_allclose(score, model.anomaly_score(X), rtol=1e-4, atol=1e-4)


def test_a_constant_column_is_left_as_it_is():
    """A column without spread gets the identity: the shrunk covariance would give it the
    variance a * mu alone (here a ~ 8e-4 and mu ~ 0.5: W 51 there), and a new row moving in
    that column would be blown up 51-fold. The other column is whitened on its own (1 / its
    standard deviation, up to its tiny shrinkage)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(5000)
    x -= x.mean()
    W = ledoit_wolf_whitening(np.c_[x, np.zeros(5000)])
    assert W[1, 1] == 1.0 and W[0, 1] == W[1, 0] == 0.0
    np.testing.assert_allclose(W[0, 0], ledoit_wolf_whitening(x[:, None])[0, 0], rtol=1e-12)
    assert W[0, 0] == pytest.approx(1 / x.std(), rel=1e-3)


def test_a_model_with_a_constant_column_scores_it_unscaled():
    """MULDE's constant training columns are centred but not scaled (its warning says so);
    with whiten they stay that way: one unit off in that column is one unit to the network."""
    rng = np.random.default_rng(1)
    X = np.c_[rng.standard_normal((300, 2)), np.full(300, 7.0)]
    with pytest.warns(UserWarning, match="same value in every training sample"):
        model = MULDE(hidden_sizes=(8,), max_steps=3, random_state=0, whiten="ledoit_wolf",
                      device="cpu").fit(X)
    z = model._to_tensor(np.array([[model.mean_[0], model.mean_[1], 8.0]])).numpy()
    np.testing.assert_allclose(z, [[0.0, 0.0, 1.0]], atol=1e-6)


def test_a_model_pickled_before_the_option_still_scores_and_saves(tmp_path):
    """A MULDE pickled by a version without `whiten` has no whitening_ attribute: scoring
    already read it with getattr; saving must too (it raised AttributeError)."""
    import pickle

    X = np.random.default_rng(0).standard_normal((100, 3))
    model = MULDE(hidden_sizes=(8,), max_steps=3, random_state=0, device="cpu").fit(X)
    old = pickle.loads(pickle.dumps(model))
    del old.whitening_
    np.testing.assert_array_equal(old.score_samples(X), model.score_samples(X))
    loaded = MULDE.load(old.save(tmp_path / "old.safetensors"))
    assert loaded.whitening_ is None
    np.testing.assert_array_equal(loaded.score_samples(X), model.score_samples(X))


def test_a_spread_that_underflows_is_no_spread_even_beside_a_constant_column():
    """Found by hypothesis: one column of 8e-302 beside a constant one came back as a matrix
    holding NaN (the inner call's None written into it); it is None, as with no spread."""
    Z = np.array([[8.26727226e-302, 0.0], [0.0, 0.0], [0.0, 0.0]])
    assert ledoit_wolf_whitening(Z - Z.mean(axis=0)) is None
