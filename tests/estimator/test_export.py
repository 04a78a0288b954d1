"""ONNX export of a fitted MULDE (mulde.estimator.export): onnxruntime gives the library's
scores, for every aggregate and GMM covariance type."""

import numpy as np
import pytest
import torch

from mulde import MULDE
from mulde.cli import main
from mulde.estimator.aggregation import Aggregation
from mulde.estimator.atoms import atom_index
from mulde.estimator.export import ExportError, _gmm_full, _Scorer, export_onnx

ort = pytest.importorskip("onnxruntime", reason="the round trip needs onnxruntime")
pytest.importorskip("onnxscript", reason="PyTorch's ONNX exporter needs onnxscript")

SMALL = {"hidden_sizes": (16, 16), "max_steps": 30, "batch_size": 64, "random_state": 0}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X_test = (rng.standard_normal((50, 4)) * 6).astype(np.float32)  # what the graph takes
    return rng.standard_normal((300, 4)) * [1, 2, 3, 4] + 5, X_test.astype(np.float64)


def _run(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["anomaly_score", "energies"], {"x": x.astype(np.float32)})


@pytest.mark.parametrize("kind", list(Aggregation))
def test_onnxruntime_scores_equal_the_library_for_every_aggregate(kind, data, tmp_path):
    X, X_test = data
    model = MULDE(aggregator=kind.value, n_components=2, **SMALL).fit(X)
    score, energies = _run(export_onnx(model, tmp_path / "m.onnx"), X_test)
    assert score.shape == (50,) and energies.shape == (50, model.n_levels)
    np.testing.assert_allclose(energies, model.score_samples_multiscale(X_test),
                               rtol=1e-5, atol=1e-5)
    # onnxruntime's float32 kernels round differently from PyTorch's; the GMM's precisions
    # amplify that (to ~1e-5 relative here; test_a_gmm_graph_scores_its_energies_...)
    np.testing.assert_allclose(score, model.anomaly_score(X_test), rtol=1e-4, atol=1e-4)


def test_a_gmm_graph_scores_its_energies_as_the_library_does_in_float64(tmp_path):
    """The paper's aggregate (aggregator="gmm") of a short fit: its levels' energies are
    nearly collinear, so most eigenvalues of the 16 x 16 covariance sit at reg_covar (1e-6)
    and its precisions turn the energies' float32 round-off into score differences (up to
    0.02 on scores of ~80 for a 20-step fit of the default widths on 3,000 rows of 16
    features, where one unit in the last place of the library's own energies moves its
    score by 0.014: no float32 network in another runtime can do better; docs/cli.md, "ONNX
    export"). What the graph must get right is everything else:
    its energies are the library's to float32 round-off (onnxruntime's kernels and
    PyTorch's round differently), and its score is the library's aggregate of *those*
    energies to float64 precision, 1e-9 of the score scale (a GMM computed in float32 in
    the graph misses by ~3e-6 of it)."""
    from mulde.estimator.aggregation import aggregate

    rng = np.random.default_rng(0)
    X = rng.standard_normal((1000, 16))
    X_test = (rng.standard_normal((200, 16)) * 2).astype(np.float32).astype(np.float64)
    model = MULDE(aggregator="gmm", hidden_sizes=(64, 64), max_steps=20, batch_size=256,
                  random_state=0).fit(X)
    eigenvalues = np.linalg.eigvalsh(model.aggregator_state_["covariances"][0])
    assert (eigenvalues < 2e-6).sum() >= 8  # the hard case: precisions of 1e6 and more
    score, energies = _run(export_onnx(model, tmp_path / "gmm.onnx"), X_test)
    library = model.score_samples_multiscale(X_test)
    ulp = np.spacing(np.abs(library).max(axis=1, keepdims=True).astype(np.float32))
    assert (np.abs(energies - library) <= 32 * ulp).all()
    scale = np.abs(model.anomaly_score(X_test)).max()
    again = aggregate("gmm", model.aggregator_state_, energies.astype(np.float64))
    np.testing.assert_allclose(score, again, rtol=0, atol=1e-9 * scale)


@pytest.mark.parametrize("noise_input", ["sigma", "log"])
def test_an_ensemble_exports_with_the_library_energies(noise_input, data, tmp_path):
    """The exported graph of a deep ensemble (n_members 3) holds every member: its energies
    are the library's mean of the members', with either noise input (ln(sigma) / 4 is
    computed in the graph)."""
    X, X_test = data
    model = MULDE(n_members=3, noise_input=noise_input, **SMALL).fit(X)
    score, energies = _run(export_onnx(model, tmp_path / "e.onnx"), X_test)
    np.testing.assert_allclose(energies, model.score_samples_multiscale(X_test),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(score, model.anomaly_score(X_test), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(("n_members", "rank"), [(1, 4), (2, 2)])
@pytest.mark.parametrize("option", [{"base": "gaussian"}, {"precondition": "covariance"}])
def test_a_gaussian_base_or_input_scaling_exports_with_the_library_energies(
        n_members, rank, option, data, tmp_path, monkeypatch):
    """The graph holds the base's quadratic under the network, or the input scaling before
    it, alone and in an ensemble: at full rank, and with a rank below d (rank 2 of 4 here, as
    the cap of 64 makes it for d > 64), whose other directions share one variance; far rows
    (6 times the spread) make the quadratic the larger part."""
    import mulde.estimator.model as model_module

    monkeypatch.setattr(model_module, "base_rank", lambda d: min(d, rank))
    X, X_test = data
    model = MULDE(n_members=n_members, **option, **SMALL).fit(X)
    first = model.network_.members[0] if n_members > 1 else model.network_
    part = first.base if "base" in option else first.scaling
    assert part.vectors.shape == (4, rank)
    score, energies = _run(export_onnx(model, tmp_path / "b.onnx"), X_test)
    np.testing.assert_allclose(energies, model.score_samples_multiscale(X_test),
                               rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(score, model.anomaly_score(X_test), rtol=1e-4, atol=1e-4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_exporting_a_gpu_model_leaves_it_on_the_gpu(data, tmp_path):
    """The export runs on a CPU copy of the network: the fitted model stays on its GPU and
    scores there afterwards, and the file gives its scores."""
    X, X_test = data
    model = MULDE(device="cuda", **SMALL).fit(X)
    before = model.anomaly_score(X_test)
    score, _ = _run(export_onnx(model, tmp_path / "g.onnx"), X_test)
    assert next(model.network_.parameters()).device.type == "cuda"
    np.testing.assert_array_equal(model.anomaly_score(X_test), before)
    np.testing.assert_allclose(score, before, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("covariance_type", ["tied", "diag", "spherical"])
def test_every_gmm_covariance_type_gives_the_library_score_in_the_exported_module(
        covariance_type, data):
    X, X_test = data  # the traced module itself: the ONNX round trip is the test above
    model = MULDE(n_components=2, covariance_type=covariance_type, **SMALL).fit(X)
    with torch.no_grad():
        score, _ = _Scorer(model)(torch.as_tensor(X_test, dtype=torch.float32))
    np.testing.assert_allclose(score.numpy(), model.anomaly_score(X_test), rtol=1e-5, atol=1e-4)


def test_gmm_factors_as_full_matrices_by_hand():
    state = {"weights": np.array([0.5, 0.5]), "precisions_cholesky": np.array([2.0, 0.5])}
    full, log_det = _gmm_full(state, "spherical", 3)
    np.testing.assert_array_equal(full[0], 2 * np.eye(3))
    np.testing.assert_allclose(log_det, [3 * np.log(2), 3 * np.log(0.5)])
    state = {"weights": np.ones(1), "precisions_cholesky": np.array([[1.0, 4.0]])}
    diag, log_det = _gmm_full(state, "diag", 2)
    np.testing.assert_array_equal(diag[0], [[1, 0], [0, 4]])
    np.testing.assert_allclose(log_det, [np.log(4)])


def test_the_cli_exports_a_fitted_model_file(data, tmp_path, capsys):
    X, X_test = data
    model = MULDE(**SMALL).fit(X)
    model.save(tmp_path / "m.safetensors")
    assert main(["export", str(tmp_path / "m.safetensors")]) == 0
    assert "wrote " in capsys.readouterr().out
    score, _ = _run(tmp_path / "m.onnx", X_test)
    np.testing.assert_allclose(score, model.anomaly_score(X_test), rtol=1e-5, atol=1e-4)
    # an earlier graph (perhaps another model's) is replaced only when asked, as fit's model
    assert main(["export", str(tmp_path / "m.safetensors")]) == 2
    assert "a graph is already there" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "m.safetensors"), "--overwrite"]) == 0
    # a folder of `mulde fit --out DIR/` exports inside it, not beside it as DIR.onnx
    model.save(tmp_path / "fitdir" / "model.safetensors")
    assert main(["export", str(tmp_path / "fitdir")]) == 0
    assert (tmp_path / "fitdir" / "model.onnx").is_file()
    assert not (tmp_path / "fitdir.onnx").exists()


def test_a_model_of_named_columns_stores_their_names_in_the_graph(data, tmp_path):
    """A model fitted on a DataFrame (or a CSV with a header) keeps its column names; the
    graph carries them as metadata "feature_names", which ONNX Runtime shows, so that its
    user can check the columns `mulde score` would check (they were lost on export)."""
    import json

    pd = pytest.importorskip("pandas")
    X, _ = data
    names = [f"f{i}" for i in range(X.shape[1])]
    model = MULDE(**SMALL).fit(pd.DataFrame(X, columns=names))
    export_onnx(model, tmp_path / "named.onnx")
    meta = ort.InferenceSession(str(tmp_path / "named.onnx")).get_modelmeta()
    assert json.loads(meta.custom_metadata_map["feature_names"]) == names
    export_onnx(MULDE(**SMALL).fit(X), tmp_path / "plain.onnx")  # no names: no metadata
    assert "feature_names" not in ort.InferenceSession(
        str(tmp_path / "plain.onnx")).get_modelmeta().custom_metadata_map


def _metadata(path):
    return ort.InferenceSession(str(path)).get_modelmeta().custom_metadata_map


def test_the_graph_carries_the_threshold_predict_applies_and_its_contamination(data, tmp_path):
    """Someone deploying the .onnx alone can flag outliers as MULDE.predict does: metadata
    "threshold" is the anomaly score above which predict says -1 (exactly -offset_, which
    `mulde info` prints), with the "contamination" and "threshold_on" that set it; "inf"
    where the validation rows were too few to flag any."""
    X, X_test = data
    X_test = np.vstack([X_test[:10], X[:20]])  # normal rows and far ones
    model = MULDE(contamination=0.05, **SMALL).fit(X)
    meta = _metadata(export_onnx(model, tmp_path / "t.onnx"))
    assert float(meta["threshold"]) == -model.offset_
    assert (meta["contamination"], meta["threshold_on"], meta["threshold_scores"]) == (
        "0.05", "training", "training")
    assert "pyod_threshold" not in meta
    score, _ = _run(tmp_path / "t.onnx", X_test)
    flags = np.where(score > float(meta["threshold"]), -1, 1)
    np.testing.assert_array_equal(flags, model.predict(X_test))
    assert 0 < (flags == -1).sum() < len(flags)
    with pytest.warns(UserWarning, match="too few"):  # 30 validation rows cannot promise 1 %
        none = MULDE(threshold_on="validation", **SMALL).fit(X)
    meta = _metadata(export_onnx(none, tmp_path / "n.onnx"))
    assert (meta["threshold"], meta["contamination"], meta["threshold_on"]) == (
        "inf", "0.01", "validation")
    # "out_of_bag" with nothing out of a bag: set on the training samples, and it says so
    with pytest.warns(UserWarning, match="out of a bag"):
        bare = MULDE(threshold_on="out_of_bag", validation_fraction=0.0, n_members=1,
                     **SMALL).fit(X)
    meta = _metadata(export_onnx(bare, tmp_path / "b.onnx"))
    assert (meta["threshold_on"], meta["threshold_scores"]) == ("out_of_bag", "training")


def test_a_pyod_detector_or_its_saved_file_exports_pyods_threshold_too(data, tmp_path,
                                                                        capsys):
    """A PyODMULDE labels with its own threshold_ (PyOD's contamination, 0.1 by default),
    not MULDE's: its graph carries both, given the detector or (`mulde export`) its file."""
    pytest.importorskip("pyod")
    from mulde.estimator.pyod_adapter import PyODMULDE

    X, X_test = data
    det = PyODMULDE(contamination=0.07, **SMALL).fit(X)
    meta = _metadata(export_onnx(det, tmp_path / "p.onnx"))
    assert float(meta["pyod_threshold"]) == det.threshold_
    assert meta["pyod_contamination"] == "0.07"
    assert float(meta["threshold"]) == -det.detector_.offset_  # MULDE.load's predict: 1 %
    assert meta["contamination"] == "0.01"
    score, _ = _run(tmp_path / "p.onnx", X_test)
    np.testing.assert_array_equal(score > float(meta["pyod_threshold"]), det.predict(X_test))
    det.save(tmp_path / "p.safetensors")
    # p.onnx, the library's export above, is replaced
    assert main(["export", str(tmp_path / "p.safetensors"), "--overwrite"]) == 0
    assert "PyOD's threshold_" in capsys.readouterr().out
    assert _metadata(tmp_path / "p.onnx") == meta
    with pytest.raises(ValueError, match="leave pyod out"):
        export_onnx(det, tmp_path / "x.onnx", pyod={"contamination": 0.1, "threshold": 1.0})


def test_export_refuses_a_name_that_is_not_an_onnx_file_as_mulde_export_does(data, tmp_path,
                                                                             capsys):
    """`export_onnx(m, "oops.safetensors")` wrote a graph under a model file's name, which
    `mulde export --out` refuses: one rule (`graph_path`), said alike, nothing written; and a
    path whose folder is a file names that file (mkdir said "[Errno 17] File exists"),
    before the graph is traced."""
    import re

    model = MULDE(**SMALL | {"max_steps": 2}).fit(data[0])
    model.save(tmp_path / "m.safetensors")
    (tmp_path / "graphs.onnx").mkdir()
    for name in ("oops.safetensors", "scores.npy", "graph", "graphs.onnx"):
        said = (f"{tmp_path / name}: a model's graph is written as one .onnx file; give a "
                "name such as model.onnx")
        with pytest.raises(ValueError, match=f"^{re.escape(said)}$"):
            export_onnx(model, tmp_path / name)
        assert main(["export", str(tmp_path / "m.safetensors"), "--out",
                     str(tmp_path / name)]) == 2
        assert capsys.readouterr().err == f"mulde: error: --out {said}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["graphs.onnx", "m.safetensors"]
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")

    def traced(*args, **kwargs):
        raise AssertionError("traced")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("torch.onnx.export", traced)
        with pytest.raises(OSError, match=f"^{re.escape(str(notes))}: a file, not a folder"):
            export_onnx(model, notes / "m.onnx")
    assert notes.read_text() == "mine"


def test_an_unfitted_model_and_a_missing_exporter_are_refused(data, tmp_path, monkeypatch):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        export_onnx(MULDE(), tmp_path / "m.onnx")
    model = MULDE(**SMALL).fit(data[0])

    def missing(*args, **kwargs):
        raise ImportError("No module named 'onnxscript'")

    monkeypatch.setattr("torch.onnx.export", missing)
    with pytest.raises(ExportError, match=r"pip install 'mulde\[export\]'"):
        export_onnx(model, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_the_validated_aggregate_exports_the_mean_over_its_kept_levels_only(data, tmp_path):
    """The exported mean_energy_validated averages only the levels the fit kept: with the top
    three of the levels kept (a small fit keeps them all, so the subset is set here), the
    graph's score is the library's, and differs from the mean over every level."""
    X, X_test = data
    model = MULDE(aggregator="mean_energy_validated", **SMALL).fit(X)
    top = np.arange(model.n_levels - 3, model.n_levels)
    model.aggregator_state_["levels"] = top
    score, _ = _run(export_onnx(model, tmp_path / "m.onnx"), X_test)
    want = model.anomaly_score(X_test)
    e = model.score_samples_multiscale(X_test)
    mean = model.aggregator_state_["mean"]
    np.testing.assert_allclose(want, (e[:, top] - mean[top]).mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(score, want, rtol=1e-4, atol=1e-4)
    assert np.abs(score - (e - mean).mean(axis=1)).max() > 1e-2  # not every level's mean


def test_a_stacked_model_with_a_zero_weight_exports_its_scores(data, tmp_path):
    """EM can drive a level's weight to exactly 0 (log 0 = -inf): the graph scores as the
    library does, without NaN."""
    X, X_test = data
    model = MULDE(aggregator="stacked", **SMALL).fit(X)
    weights = np.zeros(model.n_levels)
    weights[[0, -1]] = [0.25, 0.75]
    model.aggregator_state_["weights"] = weights
    score, _ = _run(export_onnx(model, tmp_path / "s.onnx"), X_test)
    assert np.isfinite(score).all()
    np.testing.assert_allclose(score, model.anomaly_score(X_test), rtol=1e-4, atol=1e-4)


def test_a_column_float32_rounds_coarsely_is_warned_of_at_export(tmp_path):
    """The graph takes float32: a column of epoch seconds (1.7e9, steps of 128) with a spread
    of half a second lost its values (ONNX scores off by up to 3.4, a newcomer's trial). The
    export warns, naming the column, its step and the remedy; standardised columns do not."""
    import warnings

    from mulde.estimator.export import Float32InputWarning, float32_input_loss

    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3))
    X[:, 1] = X[:, 1] * 0.5 + 1.7e9
    model = MULDE(**SMALL).fit(X)
    with pytest.warns(Float32InputWarning) as said:
        export_onnx(model, tmp_path / "m.onnx")
    (message,) = [str(w.message) for w in said]
    assert message.startswith("column 1 (counting from 0): its values (around 1.7e+09, a "
                              "spread of 0.5")
    assert "rounded to steps of 128 as the graph's float32 input, 2" in message
    assert "times the spread" in message
    assert "subtract an offset from that column" in message
    [(column, step, _, _)] = float32_input_loss(np.array([0.0, 1e5, 128.0]),
                                                 np.array([1.0, 3.0, 50.0]))
    assert column == 1 and step == 2 ** -7  # float32 near 1e5 + 12 (below 2 ** 17): 1/128
    with warnings.catch_warnings():
        warnings.simplefilter("error", Float32InputWarning)
        export_onnx(MULDE(**SMALL).fit(rng.standard_normal((200, 3)) * 50 + 128),
                    tmp_path / "ok.onnx")


def test_repeated_training_rows_get_their_scores_in_the_graph(tmp_path):
    """A model whose training rows repeat (`atoms_`, round 60) exports them: a row equal to
    one scores as in the library, the others by the network; -0.0 equals 0.0."""
    rng = np.random.default_rng(3)
    X = np.c_[rng.integers(0, 2, (300, 3)), np.round(rng.standard_normal(300))]
    model = MULDE(**SMALL).fit(X)
    assert len(model.atoms_) > 0
    test = np.r_[X[:30], -0.0 * X[:2], rng.standard_normal((20, 4))]
    score, _ = _run(export_onnx(model, tmp_path / "m.onnx"), test)
    np.testing.assert_allclose(score, model.anomaly_score(test), rtol=1e-4, atol=1e-4)
    held = atom_index(test, model.atoms_) >= 0
    assert held[:32].sum() >= 20 and not held[32:].any()
    np.testing.assert_array_equal(score[held], model.atom_scores_[atom_index(test[held],
                                                                             model.atoms_)])


@pytest.mark.parametrize(("reweight", "gain", "share"), [
    ("modes", None, None), ("separated_modes", None, None), ("separated_modes", 3.0, None),
    ("separated_modes", 3.0, 0.5)])
def test_a_mode_reweighted_model_exports_its_mixture_term(tmp_path, reweight, gain, share):
    """reweight="modes" or "separated_modes" (two apart modes, one rare), the latter also
    with its shares bounded (max_mode_gain 3: the rare mode's share 3 x its mass), and on
    the rows' leading principal direction (mode_variance_share 0.5: one of the 3): the graph
    adds the mixture's -log r (over the equal twin, or the separated modes' twin) to every
    level's energy as the library does."""
    rng = np.random.default_rng(4)
    X = np.r_[rng.standard_normal((1000, 3)), rng.standard_normal((100, 3)) + 10.0]
    model = MULDE(reweight=reweight, max_mode_gain=gain, mode_variance_share=share,
                  **SMALL).fit(X)
    assert model.mode_mixture_ is not None
    assert (model.mode_mixture_.basis is None) == (share is None)
    assert (model.mode_mixture_.targets is not None) == (reweight == "separated_modes")
    test = np.r_[X[::25], rng.standard_normal((20, 3)) * 4]
    score, energies = _run(export_onnx(model, tmp_path / "m.onnx"), test)
    np.testing.assert_allclose(energies, model.score_samples_multiscale(test),
                               rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(score, model.anomaly_score(test), rtol=1e-4, atol=1e-4)
