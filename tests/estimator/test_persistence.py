"""save -> load: bitwise identical scores, and clear errors for bad files (never pickle)."""

import json
import pickle
import re
import time

import numpy as np
import pytest
import torch
from fakes import _Payload
from model_files import edit_model_file, stored_contents
from safetensors.numpy import save_file

from mulde import MULDE
from mulde.estimator.model import DeviceFallbackWarning
from mulde.estimator.persistence import CHECKSUM, ModelFileError
from mulde.io.features import FeatureFileError, read_features


@pytest.fixture(scope="module")
def fitted():
    X = np.random.default_rng(0).standard_normal((300, 5))
    model = MULDE(hidden_sizes=(32, 32), max_steps=40, batch_size=128, random_state=0,
                  n_components=2, device="cpu").fit(X)
    return model, X


def test_save_load_gives_bitwise_identical_scores(fitted, tmp_path):
    model, X = fitted
    path = model.save(tmp_path / "m.safetensors")
    loaded = MULDE.load(path)
    np.testing.assert_array_equal(loaded.score_samples(X), model.score_samples(X))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert loaded.get_params() == model.get_params()
    assert loaded.summary()["n_features_in"] == 5


def test_load_keeps_the_saved_device_setting_and_places_the_network_where_asked(
        fitted, tmp_path, monkeypatch):
    """A model fitted with device="auto" loaded as MULDE(device='cpu'), so that
    `clone(loaded).fit` trained on the CPU of a GPU machine. The saved setting now stays the
    parameter, while the network goes, and scores, where `load(device=...)` says
    (`device_`); a saved "cuda" that this machine cannot use (CPU-only torch here) becomes
    "auto", with one warning naming the file and the saved device, so that a refit runs
    here (it was refused: "device='cuda': this PyTorch sees no CUDA GPU"); a saved device
    that is no device name is refused."""
    import warnings

    from sklearn.base import clone

    model, X = fitted
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # a CPU-only torch
    for setting, loaded_as in (("auto", "auto"), ("cuda", "auto"), ("cpu", "cpu")):
        model.set_params(device=setting)  # what a fit with that setting saves
        try:
            path = model.save(tmp_path / f"{setting}.safetensors")
        finally:
            model.set_params(device="cpu")
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            loaded = MULDE.load(path, device="cpu")
        assert [str(w.message) for w in said] == ([] if setting == loaded_as else [
            f"{path}: saved with device='cuda', which this machine cannot use: its device "
            "setting is 'auto' here (this machine's GPU if it has one, else its CPU)"])
        assert all(w.category is DeviceFallbackWarning for w in said)
        assert all(w.filename == __file__ for w in said)  # said where load was called
        assert loaded.get_params()["device"] == loaded_as
        assert clone(loaded).get_params()["device"] == loaded_as
        assert loaded.device_ == "cpu"
        assert {p.device.type for p in loaded.network_.parameters()} == {"cpu"}
        np.testing.assert_array_equal(loaded.score_samples(X), model.score_samples(X))
    assert MULDE.load(tmp_path / "auto.safetensors", device="auto").device_ == "cpu"
    with pytest.warns(DeviceFallbackWarning, match="saved with device='cuda'"):
        refit = clone(MULDE.load(tmp_path / "cuda.safetensors")).set_params(max_steps=2)
    assert refit.fit(X).device_ == "cpu"
    model.set_params(device="banana")
    try:
        path = model.save(tmp_path / "banana.safetensors")
    finally:
        model.set_params(device="cpu")
    with pytest.raises(ModelFileError, match="banana.safetensors: inconsistent MULDE model "
                                             "file: its stored parameters are not valid: "
                                             "device='banana' is not a device"):
        MULDE.load(path)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_model_fitted_on_a_gpu_loads_and_scores_on_the_cpu(tmp_path):
    """Fitted on CUDA, saved, loaded onto the CPU: the same scores up to the two devices'
    float32 rounding, and the same threshold decisions away from it."""
    X = np.random.default_rng(2).standard_normal((300, 5))
    model = MULDE(hidden_sizes=(32, 32), max_steps=40, random_state=0, device="cuda").fit(X)
    assert model.device_.startswith("cuda")
    loaded = MULDE.load(model.save(tmp_path / "g.safetensors"), device="cpu")
    assert next(loaded.network_.parameters()).device.type == "cpu"
    np.testing.assert_allclose(loaded.score_samples(X), model.score_samples(X), rtol=1e-4,
                               atol=1e-4)


def test_a_device_this_machine_cannot_use_is_refused_before_the_file_is_read(
        fitted, tmp_path, monkeypatch):
    """load refuses a device as fit does (`device_problem`), with fit's ValueError, before it
    reads the file: it gave torch's "AssertionError: Torch not compiled with CUDA enabled"
    for 'cuda' on a CPU-only torch, and a raw RuntimeError for 'banana'."""
    import mulde.estimator.model as model_module

    path = fitted[0].save(tmp_path / "m.safetensors")
    read = []
    monkeypatch.setattr(model_module, "read_model_file", lambda p: read.append(p))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # a CPU-only torch
    with pytest.raises(ValueError) as err:
        MULDE.load(path, device="cuda")
    assert str(err.value) == ("device='cuda': this PyTorch sees no CUDA GPU "
                              "(torch.cuda.is_available() is False); use cpu or auto")
    assert not isinstance(err.value, ModelFileError)
    with pytest.raises(ValueError) as err:
        MULDE.load(tmp_path / "missing.safetensors", device="banana")
    assert str(err.value) == ("device='banana' is not a device; use auto, cpu, cuda, cuda:N "
                              "or mps")
    with pytest.raises(ValueError, match="^device='banana' is not a device"):
        MULDE(device="banana").fit(np.zeros((10, 2)))  # the same words as fit's
    assert read == []


def test_numpy_scalar_parameters_save_and_checkpoint_as_python_numbers(tmp_path):
    """Parameters taken from NumPy (a grid's np.arange gives np.int64; a float32 array gives
    np.float32): fit, checkpoint, resume and save work, and the file holds plain numbers
    (json refused them after the whole training)."""
    X = np.random.default_rng(1).standard_normal((120, 3))
    params = dict(hidden_sizes=(8,), max_steps=np.int64(10), time_score=np.float32(0.5),
                  lr=np.float32(1e-3), n_levels=np.int32(4), random_state=0, device="cpu",
                  checkpoint_dir=str(tmp_path / "ckpt"), checkpoint_every=5)
    model = MULDE(**params).fit(X)
    loaded = MULDE.load(model.save(tmp_path / "m.safetensors"))
    np.testing.assert_array_equal(loaded.score_samples(X), model.score_samples(X))
    assert loaded.max_steps == 10 and type(loaded.max_steps) is int
    assert loaded.time_score == 0.5 and type(loaded.time_score) is float
    resumed = MULDE(**params).fit(X)  # the finished checkpoint matches the same numbers
    np.testing.assert_array_equal(resumed.score_samples(X), model.score_samples(X))


def test_save_into_a_folder(fitted, tmp_path):
    model, X = fitted
    path = model.save(tmp_path)
    assert path.name == "model.safetensors"
    np.testing.assert_array_equal(MULDE.load(tmp_path).score_samples(X), model.score_samples(X))


def test_a_new_folder_named_with_a_trailing_separator_gets_the_model_file(fitted, tmp_path):
    """`mulde fit --out new_dir/` wrote a file called new_dir: the separator marks a folder."""
    model, X = fitted
    path = model.save(f"{tmp_path / 'new_dir'}/")
    assert path == tmp_path / "new_dir" / "model.safetensors" and path.is_file()
    np.testing.assert_array_equal(MULDE.load(tmp_path / "new_dir").score_samples(X),
                                  model.score_samples(X))


@pytest.mark.parametrize(("name", "said"), [
    ("x.pt", "not a .pt pickle \\(safe to load: no code runs\\); give a name such as "
             "model.safetensors$"),
    ("x.JOBLIB", "not a .joblib pickle"), ("x.ckpt", "not a .ckpt pickle"),
    ("x.npy", "give a name such as model.safetensors \\(this name looks like a features or "
              "scores file, which it would overwrite\\)$"),
    ("x.onnx", "then `mulde export model.safetensors` writes its ONNX graph"),
    ("x.json", "one binary .safetensors file, not .json text; give a name such as model."
               "safetensors \\(`mulde info` describes it as text\\)$"),
    ("x.YAML", "not .yaml text")])
def test_save_refuses_a_name_of_another_kind_of_file(fitted, tmp_path, name, said):
    """`save("x.pt")`, ... wrote safetensors under a name that says otherwise, while `mulde
    fit --out x.pt` refused it: one rule (`save_path`) for both, and nothing is written. A
    name without a suffix (a temporary file's) is written as it is, as before."""
    import re

    with pytest.raises(ValueError, match=f"^{re.escape(str(tmp_path / name))}: .*{said}"):
        fitted[0].save(tmp_path / name)
    assert list(tmp_path.iterdir()) == []
    assert fitted[0].save(tmp_path / "x.bin").is_file()  # another suffix is a model file's
    assert fitted[0].save(tmp_path / "noext").is_file()  # a temporary file's name, as before


def test_save_refuses_an_empty_name(fitted, tmp_path, monkeypatch):
    """`save("")` wrote ./model.safetensors (Path("") is the working folder): refused."""
    monkeypatch.chdir(tmp_path)
    for name in ("", "  "):
        with pytest.raises(ValueError, match="names no file; give the model's file name, "
                                             "such as model.safetensors"):
            fitted[0].save(name)
    assert list(tmp_path.iterdir()) == []


def test_a_leading_tilde_is_the_home_folder(fitted, tmp_path, monkeypatch):
    """A newcomer's trial: `save("~/m.safetensors")` made a folder named "~" in the working
    folder. Save and load read ~ as the home folder, as a shell does."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    assert fitted[0].save("~/m.safetensors") == home / "m.safetensors"
    assert list(work.iterdir()) == [] and (home / "m.safetensors").is_file()
    # a name that starts with ~ but names no user is a file here, as a shell leaves it
    # (Path.expanduser had raised RuntimeError: "Could not determine home directory.")
    assert fitted[0].save("~draft.safetensors").samefile(work / "~draft.safetensors")
    assert [p.name for p in work.iterdir()] == ["~draft.safetensors"]
    assert MULDE.load("~draft.safetensors").n_features_in_ == fitted[0].n_features_in_
    assert MULDE.load("~/m.safetensors").n_features_in_ == fitted[0].n_features_in_


def test_save_refuses_to_overwrite_an_existing_file_that_is_not_a_model(fitted, tmp_path):
    """`save("my.cfg")`, `save("script.sh")` or a suffix-less text file replaced the user's
    file with the model: the suffix rule missed them. Any existing file that is not a MULDE
    model file is refused, left as it was; a model file (refitting to the same path), an
    empty file (a temporary file made for the name) and a new name are written."""
    import re

    model = fitted[0]
    save_file({"w": np.zeros(3, dtype=np.float32)}, str(tmp_path / "other.safetensors"))
    for name, content in (("my.cfg", b"lr: 0.1\n"), ("script.sh", b"echo 1\n"),
                          ("afile", b"notes\n"), ("other.safetensors", None)):
        path = tmp_path / name
        before = path.read_bytes() if content is None else content
        path.write_bytes(before)
        kind = "a safetensors file" if content is None else "a text file"
        with pytest.raises(ValueError, match=f"^{re.escape(str(path))}: exists and is {kind}, "
                                             "not a MULDE model, so saving would overwrite "
                                             "it; give another name \\(such as model."
                                             "safetensors\\) or delete the file first$"):
            model.save(path)
        assert path.read_bytes() == before
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "model.safetensors").write_text("mine")  # a folder's model file too
    with pytest.raises(ValueError, match="model.safetensors: exists and is a text file"):
        model.save(tmp_path / "sub")
    again = model.save(model.save(tmp_path / "m.safetensors"))  # refitted to the same path
    (tmp_path / "empty").touch()
    for path in (again, model.save(tmp_path / "empty")):
        np.testing.assert_array_equal(MULDE.load(path).score_samples(fitted[1]),
                                      model.score_samples(fitted[1]))


def test_save_into_a_folder_that_is_a_file_names_that_file(fitted, tmp_path):
    """`save("notes.txt/m.safetensors")`, its folder a file, raised mkdir's "[Errno 17] File
    exists: 'notes.txt'", which reads as a refusal to overwrite notes.txt: the error names
    the file in the way and says to give a folder (`mulde.io.atomic.check_folder`), and the
    file is left as it was, also where it lies further up."""
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    for path in (notes / "m.safetensors", notes / "sub" / "m.safetensors"):
        with pytest.raises(OSError, match=f"^{re.escape(str(notes))}: a file, not a folder; "
                                          "give a folder for the outputs$"):
            fitted[0].save(path)
    assert notes.read_text() == "mine" and sorted(tmp_path.iterdir()) == [notes]


def test_save_refuses_a_folder_whose_model_file_is_a_folder(fitted, tmp_path):
    """`save("dd")` where dd/model.safetensors is a folder wrote
    dd/model.safetensors/model.safetensors, which `mulde info dd` and `mulde score dd` then
    did not find (a newcomer's): refused naming that folder, nothing written."""
    (tmp_path / "dd" / "model.safetensors").mkdir(parents=True)
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "dd" / "model.safetensors"))
                       + ": a folder, where the model file would be written; remove it or "
                         "give another name$"):
        fitted[0].save(tmp_path / "dd")
    with pytest.raises(ValueError, match="model.safetensors: a folder, where the model file "):
        fitted[0].save(tmp_path / "dd" / "model.safetensors")  # that folder named itself
    assert list((tmp_path / "dd" / "model.safetensors").iterdir()) == []


def test_truncated_file_is_refused(fitted, tmp_path):
    path = fitted[0].save(tmp_path / "m.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="m.safetensors.*truncated or corrupt.*; copy the "
                                             "file again from where it was saved, or fit and "
                                             "save the model again$"):
        MULDE.load(path)


def test_foreign_safetensors_and_non_safetensors_are_refused(tmp_path):
    save_file({"w": np.zeros(3, dtype=np.float32)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ModelFileError, match="not a MULDE model"):
        MULDE.load(tmp_path / "other.safetensors")
    (tmp_path / "x.pkl").write_bytes(b"\x80\x04\x95garbage")
    with pytest.raises(ModelFileError, match="x.pkl"):
        MULDE.load(tmp_path / "x.pkl")
    with pytest.raises(ModelFileError, match="no such model file"):
        MULDE.load(tmp_path / "missing.safetensors")


def test_an_onnx_graph_or_a_folder_without_a_model_is_named_as_such(tmp_path):
    """`mulde score model.onnx` said "not a readable safetensors file (truncated or
    corrupt?)" of a graph `mulde export` wrote, and `mulde export DATASET_FOLDER` named a
    model.safetensors inside it that the user never gave."""
    onnx_head = b"\x08\x08\x12\x07pytorch\x1a\x052.6.0"  # ir_version 8, producer_name
    for name in ("model.onnx", "graph.bin"):
        (tmp_path / name).write_bytes(onnx_head + bytes(200))
        with pytest.raises(ModelFileError, match=rf"{name}: an ONNX graph \(what `mulde "
                                                 r"export` writes: run it with ONNX Runtime"):
            MULDE.load(tmp_path / name)
    (tmp_path / "videos").mkdir()
    with pytest.raises(ModelFileError, match=r"videos: a folder without model.safetensors, "
                                             r"so no MULDE model"):
        MULDE.load(tmp_path / "videos")


def test_an_empty_file_and_non_ascii_text_are_named_as_such(tmp_path):
    """Both were "not a readable safetensors file (truncated or corrupt?)": the model
    reader's text rule took printable ASCII only, so a UTF-8 CSV (Excel's byte-order mark,
    a unit in a column name) was unknown, and an empty file was said to be damaged."""
    (tmp_path / "empty.safetensors").write_bytes(b"")
    (tmp_path / "features.safetensors").write_text("\ufefftemp °C,size\n1,2\n", "utf-8")
    for name, what in (("empty", "an empty file (0 bytes)"), ("features", "a text file")):
        path = tmp_path / f"{name}.safetensors"
        with pytest.raises(ModelFileError) as err:
            MULDE.load(path)
        assert str(err.value) == (f"{path}: {what}, not a MULDE model (a .safetensors file "
                                  "written by `mulde fit` or MULDE.save)")


@pytest.mark.parametrize("how", ["joblib", "pickle"])
def test_a_pickle_or_joblib_file_is_named_as_one_and_never_unpickled(fitted, tmp_path, how):
    """MULDE.load('m.joblib') said "not a readable safetensors file (truncated or
    corrupt?): ... header too large"; it is a pickle, which MULDE does not load, and the
    message says what to do instead."""
    joblib = pytest.importorskip("joblib")
    path = tmp_path / f"m.{how}"
    if how == "joblib":
        joblib.dump(fitted[0], path)
    else:
        path.write_bytes(pickle.dumps(fitted[0], protocol=2))
    with pytest.raises(ModelFileError) as err:
        MULDE.load(path)
    assert str(err.value) == (f"{path}: a pickle (or joblib) file, which MULDE does not load, "
                              "since unpickling can run code the file holds; if you trust it, "
                              "read it with joblib.load or pickle.load, and save a MULDE "
                              "model with model.save (a .safetensors file)")


def test_newer_format_and_unknown_fields_are_refused(fitted, tmp_path):
    path = fitted[0].save(tmp_path / "m.safetensors")
    edit_model_file(path, meta={"format_version": "99"})
    with pytest.raises(ModelFileError, match="newer mulde"):
        MULDE.load(path)
    path = fitted[0].save(tmp_path / "m.safetensors")
    edit_model_file(path, params={"surprise": 1})
    with pytest.raises(ModelFileError, match="unknown parameter.*surprise"):
        MULDE.load(path)


@pytest.mark.parametrize("version", ["1.0", "one", ""])
def test_a_format_version_that_is_not_a_whole_number_is_refused_by_name(fitted, tmp_path,
                                                                        version):
    """It gave `ValueError: invalid literal for int()` without the file's name (and a
    traceback from `mulde score`)."""
    path = fitted[0].save(tmp_path / "m.safetensors")
    edit_model_file(path, meta={"format_version": version})
    with pytest.raises(ModelFileError) as err:
        MULDE.load(path)
    assert str(err.value) == (f"{path}: metadata field 'format_version' is {version!r}, not a "
                              "whole number: the file was changed or damaged; fit and save "
                              "it again")


@pytest.mark.parametrize("version", ["0", "-1"])
def test_a_format_version_below_the_first_is_refused_by_name(fitted, tmp_path, version):
    path = fitted[0].save(tmp_path / "m.safetensors")
    edit_model_file(path, meta={"format_version": version})
    with pytest.raises(ModelFileError, match=rf"'format_version' is '{version}', below the "
                       "first format 1: the file was changed or damaged"):
        MULDE.load(path)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny model (one network, 16 levels, mean_energy), its file, its data."""
    X = np.random.default_rng(3).standard_normal((60, 3))
    model = MULDE(hidden_sizes=(8,), n_members=1, max_steps=5, random_state=0,
                  device="cpu").fit(X)
    return model, model.save(tmp_path_factory.mktemp("tiny") / "m.safetensors"), X


def _edited(tiny, tmp_path, old=False, **edits):
    """A copy of the tiny model's file, edited consistently (`edit_model_file`: the checksum
    of what it stores); `old`: without the checksum, as a file saved before it existed
    (format 1)."""
    _, saved, _ = tiny
    path = edit_model_file(saved, tmp_path / "e.safetensors", **edits)
    if old:
        meta, arrays = stored_contents(path)
        del meta[CHECKSUM]
        save_file(arrays, str(path), metadata=meta | {"format_version": "1"})
    return path


E = "e.safetensors: inconsistent MULDE model file: "
AGAIN = "; fit and save it again$"


@pytest.mark.parametrize("old", [False, True], ids=["recomputed_checksum", "no_checksum"])
@pytest.mark.parametrize("edit, said", [
    (dict(arrays={"sigmas": np.geomspace(1e-3, 1, 4).astype(np.float32)}),
     r"array 'sigmas' has shape \(4,\), expected \(16,\) \(n_levels=16\)"),
    (dict(drop_arrays=("aggregator.mean",)),
     r"array 'aggregator.mean' is missing \(n_levels=16, aggregator='mean_energy'\)"),
    (dict(arrays={"aggregator.mean": np.arange(16)}),
     r"array 'aggregator.mean' holds int64 values, not floating-point numbers"),
    (dict(arrays={"mean": np.array([0.0, np.nan, 0.0])}),
     r"array 'mean' holds non-finite values \(NaN or infinite\)"),
    (dict(arrays={"scale": np.ones(2)}),
     r"array 'scale' has shape \(2,\), expected \(3,\) \(n_features_in=3\)"),
    (dict(drop_arrays=("sigmas",)), r"array 'sigmas' is missing \(n_levels=16\)"),
    (dict(arrays={"whitening": np.eye(3)}),
     r"array 'whitening' is stored, but the config says whiten=None"),
    (dict(params={"whiten": "ledoit_wolf"}),
     r"array 'whitening' is missing \(whiten='ledoit_wolf', n_features_in=3\)"),
    (dict(params={"aggregator": "mean_energy_validated"}),
     r"array 'aggregator.levels' is missing \(aggregator='mean_energy_validated'\)"),
    (dict(params={"aggregator": "mean_energy_validated"},
          arrays={"aggregator.levels": np.array([15, 16])}),
     r"array 'aggregator.levels' holds level indices outside 0 to 15 \(n_levels=16\)"),
    (dict(params={"aggregator": "gmm", "n_components": 2}),
     r"array 'aggregator.weights' is missing \(n_levels=16, n_components=2, "
     r"covariance_type='full'\)"),
    (dict(arrays={"network.first.weight": np.zeros((8, 4), dtype=np.int64)}),
     r"array 'network.first.weight' holds int64 values, not float32"),
    (dict(arrays={"network.first.weight": np.zeros((8, 5), dtype=np.float32)}),
     r"array 'network.first.weight' has shape \(8, 5\), the network the config describes "
     r"\(8, 4\)"),
    (dict(drop_arrays=("network.first.bias",)),
     r"array 'network.first.bias' is missing \(the network the config describes has it\)"),
    (dict(params={"n_levels": "x"}),
     r"its stored parameters are not valid: the 'n_levels' parameter of MULDE must be an int "
     r"in the range \[1, inf\)\. Got 'x' instead"),
    (dict(params={"max_steps": -3}),
     r"its stored parameters are not valid: the 'max_steps' parameter of MULDE must be .*"
     r"Got -3 instead"),
    (dict(params={"sigma_low": 2.0}),
     r"its stored parameters are not valid: sigma_high \(1\.0\) must be above sigma_low "
     r"\(2\.0\)"),
    (dict(meta={"n_features_in": "x"}),
     r"metadata field 'n_features_in' is 'x', not a whole number of at least 1"),
])
def test_arrays_and_parameters_that_do_not_fit_the_configuration_are_refused_by_name(
        tiny, tmp_path, edit, said, old):
    """A file whose arrays or parameters do not fit its configuration loaded and failed later
    without the file's name (numpy's broadcast error for 4 sigmas against the aggregator's
    16 means, KeyError 'mean'), or loaded and scored differently (an int64 mean) or not at
    all (n_levels 'x', max_steps -3). Refused at load, naming the file and the array or
    field, whether its checksum fits (rewritten consistently) or it has none (saved before
    the checksum)."""
    path = _edited(tiny, tmp_path, old=old, **edit)
    with pytest.raises(ModelFileError, match=E + said + AGAIN) as err:
        MULDE.load(path)
    assert "\n" not in str(err.value)


def test_consistent_edits_and_old_files_still_load(tiny, tmp_path):
    """The checks refuse what does not fit, nothing else: a file rewritten with the same
    contents, with or without its checksum, loads and scores as the model."""
    model, _, X = tiny
    for old in (False, True):
        loaded = MULDE.load(_edited(tiny, tmp_path, old=old))
        np.testing.assert_array_equal(loaded.score_samples(X), model.score_samples(X))


def test_an_ensemble_round_trips_with_identical_scores(tmp_path):
    """A deep ensemble (n_members 2; bagged, max_samples 0.5, as well) is saved as its
    members' weights and rebuilt as an ensemble of the stored size, scoring bit for bit as
    before, with its settings."""
    X = np.random.default_rng(1).standard_normal((200, 3))
    for max_samples in (1.0, 0.5):
        model = MULDE(hidden_sizes=(8,), n_members=2, max_samples=max_samples, max_steps=10,
                      random_state=0, device="cpu").fit(X)
        loaded = MULDE.load(model.save(tmp_path / "e.safetensors"))
        assert len(loaded.network_.members) == 2 and loaded.max_samples == max_samples
        np.testing.assert_array_equal(loaded.score_samples(X), model.score_samples(X))
    # the default ("auto"): 4 networks for 200 rows, each on half of them, as recorded
    model = MULDE(hidden_sizes=(8,), max_steps=10, random_state=0, device="cpu").fit(X)
    loaded = MULDE.load(model.save(tmp_path / "a.safetensors"))
    assert loaded.n_members == "auto" and len(loaded.network_.members) == 4
    assert (loaded.train_result_.n_members, loaded.train_result_.max_samples) == (4, 0.5)
    np.testing.assert_array_equal(loaded.score_samples(X), model.score_samples(X))


@pytest.mark.parametrize("n_members", [1, 3, 10**9, "2"])
def test_an_ensemble_size_other_than_the_stored_networks_is_refused_before_building(
        tmp_path, n_members):
    """A file of 2 members whose config claims another count (10**9 would take hours to
    build, even without memory) is refused at once, naming both counts."""
    X = np.random.default_rng(1).standard_normal((200, 3))
    path = MULDE(hidden_sizes=(8,), n_members=2, max_steps=5, random_state=0,
                 device="cpu").fit(X).save(tmp_path / "e.safetensors")
    edit_model_file(path, params={"n_members": n_members})
    with pytest.raises(ModelFileError, match=f"n_members={n_members!r}, the file holds 2"):
        MULDE.load(path)


def test_a_file_from_before_the_ensemble_and_lr_schedule_options_loads_as_one_network(
        fitted, tmp_path):
    """Models saved before n_members / max_samples / lr_schedule / antithetic / base /
    precondition / time_score / adam_betas existed were one network on every fitted row,
    without a Gaussian base, that read the noisy rows as they are, trained at a constant
    learning rate with Adam's betas (0.5, 0.9), single noise draws and no time-score term;
    they load as that and score as they did."""
    _, X = fitted
    model = MULDE(hidden_sizes=(32, 32), max_steps=40, batch_size=128, random_state=0,
                  n_components=2, device="cpu", n_members=1, max_samples=1.0).fit(X)
    path = model.save(tmp_path / "m.safetensors")
    edit_model_file(path, drop_params=["n_members", "max_samples", "lr_schedule", "antithetic",
                                       "base", "precondition", "time_score", "adam_betas"])
    loaded = MULDE.load(path)
    assert loaded.n_members == 1 and loaded.lr_schedule == "constant"
    assert loaded.max_samples == 1.0
    assert loaded.antithetic is False and loaded.base is None and loaded.precondition is None
    assert loaded.network_.scaling is None and loaded.time_score == 0.0
    assert loaded.adam_betas == (0.5, 0.9)
    np.testing.assert_array_equal(loaded.score_samples(X), model.score_samples(X))


def test_a_file_from_before_the_regulariser_option_loads_as_the_constant_form(fitted, tmp_path):
    """Models saved before issue 15 have no `regulariser` parameter; they were trained with
    the constant form (the default is now sigma2), and score as they did."""
    model, X = fitted
    path = model.save(tmp_path / "m.safetensors")
    edit_model_file(path, drop_params=["regulariser"])
    loaded = MULDE.load(path)
    assert loaded.regulariser == "constant" and model.regulariser == "sigma2"
    np.testing.assert_array_equal(loaded.score_samples(X), model.score_samples(X))


def test_a_file_from_before_noise_input_and_scaling_loads_as_it_was_fitted(fitted, tmp_path):
    """Models saved before `noise_input` and `scaling` existed fed the raw sigma to the network
    and scaled per column; they load as that and score as they did, and a 'log' model
    round-trips with its setting."""
    model, X = fitted
    path = model.save(tmp_path / "m.safetensors")
    edit_model_file(path, drop_params=["noise_input", "scaling"])
    loaded = MULDE.load(path)
    assert loaded.noise_input == "sigma" and loaded.network_.noise_input == "sigma"
    assert loaded.scaling == "column"
    np.testing.assert_array_equal(loaded.score_samples(X), model.score_samples(X))
    log_model = MULDE(hidden_sizes=(16,), max_steps=20, batch_size=128, random_state=0,
                      noise_input="log", device="cpu").fit(X)
    back = MULDE.load(log_model.save(tmp_path / "log.safetensors"))
    assert back.network_.noise_input == "log"
    np.testing.assert_array_equal(back.score_samples(X), log_model.score_samples(X))


def test_tampered_tensor_shape_is_refused(fitted, tmp_path):
    """An array of another shape is refused by the checksum stored at saving, and by its
    shape in a file whose checksum fits (recomputed, or a file saved before it existed)."""
    path = fitted[0].save(tmp_path / "m.safetensors")
    meta, arrays = stored_contents(path)
    name = next(k for k in arrays if k.endswith("first.weight"))
    arrays[name] = np.zeros((3, 3), dtype=np.float32)
    save_file(arrays, str(path), metadata=meta)
    with pytest.raises(ModelFileError, match="m.safetensors: its weights or settings do not match"):
        MULDE.load(path)
    old = {k: v for k, v in meta.items() if k != CHECKSUM} | {"format_version": "1"}
    save_file(arrays, str(path), metadata=old)  # as a file saved before the checksum
    with pytest.raises(ModelFileError, match="m.safetensors: inconsistent"):
        MULDE.load(path)


def test_corrupted_weight_bytes_are_refused_by_the_stored_checksum(fitted, tmp_path):
    """100 bytes overwritten inside the tensor data: the file still parses, and loaded and
    scored as if nothing had happened (scores off by 1e36); the SHA-256 of the arrays stored
    at saving refuses it, naming the file."""
    path = fitted[0].save(tmp_path / "m.safetensors")
    data = bytearray(path.read_bytes())
    data[-1000:-900] = bytes(range(100))
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError) as err:
        MULDE.load(path)
    assert str(err.value) == (f"{path}: its weights or settings do not match the checksum "
                              "stored when it was saved: the file was changed or damaged; fit "
                              "and save it again")


def test_the_checksum_covers_arrays_and_settings_in_any_order():
    """Names, dtypes, shapes and bytes of the arrays, and the caller's metadata fields (not
    the format's own), each in any order given."""
    from mulde.estimator.persistence import content_checksum

    a = {"x": np.arange(6, dtype=np.float32).reshape(2, 3), "y": np.array(1.5)}
    meta = {"offset": "1.25", "params": "{}"}
    same = content_checksum(a, meta)
    assert content_checksum(dict(reversed(a.items())), dict(reversed(meta.items()))) == same
    assert content_checksum(a | {"x": a["x"].astype(">f4")}, meta) == same  # little-endian
    assert content_checksum(a | {"x": np.asfortranarray(a["x"])}, meta) == same  # C order
    assert content_checksum(a, meta | {"format_version": "1", "sha256": "x"}) == same
    for other in ({"x": a["x"].reshape(3, 2)}, {"x": a["x"].astype(np.int32)},
                  {"x": a["x"] + 1}, {"z": a["x"], "x": None}):
        changed = {k: v for k, v in (a | other).items() if v is not None}
        assert content_checksum(changed, meta) != same, other
    for other in ({"offset": "1.26"}, {"note": "x"}):
        assert content_checksum(a, meta | other) != same, other


def test_an_edited_setting_is_refused_as_edited_weights_are(fitted, tmp_path):
    """The threshold offset changed in the file's metadata (a plausible value that no other
    check would catch): refused by the checksum."""
    path = fitted[0].save(tmp_path / "m.safetensors")
    meta, arrays = stored_contents(path)
    assert "offset" in meta
    save_file(arrays, str(path), metadata=meta | {"offset": str(float(meta["offset"]) + 1)})
    with pytest.raises(ModelFileError, match="its weights or settings do not match"):
        MULDE.load(path)


def test_a_file_saved_before_the_checksum_loads_and_scores_as_before(fitted, tmp_path):
    """Files of earlier mulde versions (format 1) have no checksum: they load unchecked, and
    score as the model did."""
    model, X = fitted
    arrays, meta = model._file_contents()
    path = tmp_path / "old.safetensors"
    save_file(arrays, str(path), metadata=meta | {"format": "mulde", "format_version": "1",
                                                  "mulde_version": "0.1.0"})
    loaded = MULDE.load(path)
    np.testing.assert_array_equal(loaded.score_samples(X), model.score_samples(X))
    from mulde.estimator.persistence import read_model_file

    assert CHECKSUM not in read_model_file(path)[0]
    assert CHECKSUM in read_model_file(model.save(tmp_path / "new.safetensors"))[0]


def test_a_deleted_checksum_is_refused_when_the_format_requires_it(fitted, tmp_path):
    """Format 2 requires the checksum: deleting the field (with the weights edited or not)
    passed every check while format 1 stood for both old and new files."""
    path = fitted[0].save(tmp_path / "m.safetensors")
    meta, arrays = stored_contents(path)
    assert meta["format_version"] == "2"
    del meta["sha256"]
    save_file(arrays, str(path), metadata=meta)
    with pytest.raises(ModelFileError) as err:
        MULDE.load(path)
    assert str(err.value) == (f"{path}: metadata field 'sha256', which format 2 requires, is "
                              "missing: the file was changed or damaged; fit and save it again")


def test_the_edit_helper_always_writes_the_checksum_of_what_it_stores(fitted, tmp_path):
    """tests/model_files.edit_model_file: its file's checksum fits its contents, even where
    it set format 1 (whose files load unchecked only without one: this one is checked, and
    a later edit of the weights refused); asked to set or drop the checksum, which it would
    write again, it refuses."""
    model, X = fitted
    path = edit_model_file(model.save(tmp_path / "m.safetensors"),
                           meta={"format_version": "1", "offset": str(model.offset_ + 1)})
    meta, arrays = stored_contents(path)
    assert meta["format_version"] == "1" and CHECKSUM in meta
    assert MULDE.load(path).offset_ == model.offset_ + 1
    name = next(k for k in arrays if k.endswith("first.weight"))
    save_file(arrays | {name: arrays[name] + 1}, str(path), metadata=meta)
    with pytest.raises(ModelFileError, match="its weights or settings do not match"):
        MULDE.load(path)
    for edit in (dict(drop_meta=iter([CHECKSUM])), dict(meta={CHECKSUM: "0"})):
        with pytest.raises(ValueError, match="edit_model_file writes 'sha256' itself"):
            edit_model_file(path, **edit)


@pytest.mark.parametrize("compress", ["zlib", "gzip", "bz2", "xz", "lzma"])
def test_a_compressed_joblib_dump_is_named_as_such(tmp_path, compress):
    """joblib.dump(..., compress=...) files are compressed streams, not pickles at byte 0:
    they were called 'not a readable safetensors file (truncated or corrupt?)'."""
    joblib = pytest.importorskip("joblib")
    path = tmp_path / "model.joblib"
    joblib.dump({"weights": np.arange(3)}, path, compress=compress)
    with pytest.raises(ModelFileError) as err:
        MULDE.load(path)
    assert str(err.value) == (f"{path}: a compressed file (gzip, zlib, bz2, xz or lzma: e.g. a "
                              "joblib dump with compress=), not a MULDE model (a .safetensors "
                              "file written by `mulde fit` or MULDE.save)")


def test_the_file_layer_round_trips_arrays_and_metadata_without_an_estimator(tmp_path):
    from mulde import __version__
    from mulde.estimator.persistence import content_checksum, read_model_file, save_arrays

    arrays = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b.c": np.array([7])}
    path = save_arrays(tmp_path, arrays, {"note": "x"})
    assert path == tmp_path / "model.safetensors"
    meta, back = read_model_file(tmp_path)
    assert meta == {"format": "mulde", "format_version": "2", "mulde_version": __version__,
                    "sha256": content_checksum(arrays, {"note": "x"}), "note": "x"}
    assert back.keys() == arrays.keys()
    for k in arrays:
        np.testing.assert_array_equal(back[k], arrays[k])
        assert back[k].dtype == arrays[k].dtype
    for field in ("format", "sha256"):
        with pytest.raises(ValueError, match="reserved"):
            save_arrays(tmp_path / "x.safetensors", arrays, {field: "other"})


def test_loading_never_unpickles_a_crafted_payload(tmp_path):
    probe_marker = tmp_path / "proof"
    pickle.loads(pickle.dumps(_Payload(probe_marker))).close()
    assert probe_marker.exists()  # the payload is live: unpickling it would leave a marker
    marker = tmp_path / "executed"
    payload = pickle.dumps({"network": _Payload(marker)})
    (tmp_path / "model.pkl").write_bytes(payload)
    (tmp_path / "renamed.safetensors").write_bytes(payload)
    torch.save({"state": _Payload(marker)}, tmp_path / "model.pt")
    for name in ("model.pkl", "renamed.safetensors", "model.pt"):
        with pytest.raises(ModelFileError, match=name):
            MULDE.load(tmp_path / name)
    np.save(tmp_path / "feats.npy", np.array([_Payload(marker)], dtype=object),
            allow_pickle=True)
    with pytest.raises(FeatureFileError, match="feats.npy"):
        read_features(tmp_path / "feats.npy")
    assert not marker.exists()


def test_a_tampered_config_cannot_make_loading_allocate_a_huge_network(tmp_path, unit_model):
    path = unit_model.save(tmp_path / "m.safetensors")
    meta, tensors = stored_contents(path)
    del meta["sha256"]  # as a file saved before the checksum: the configuration's own checks
    meta["format_version"] = "1"
    params = json.loads(meta["params"]) | {"hidden_sizes": [2**20, 2**20]}  # 4 TB of weights
    huge = json.dumps([2**20, 2**20])
    for tampered in ({"params": json.dumps(params)},  # the config alone
                     {"params": json.dumps(params), "hidden_sizes": huge},  # and the widths
                     {"hidden_sizes": huge}):  # the widths alone
        save_file(tensors, str(path), metadata=meta | tampered)
        start = time.perf_counter()
        with pytest.raises(ModelFileError, match="m.safetensors: inconsistent"):
            MULDE.load(path)
        assert time.perf_counter() - start < 5


@pytest.mark.parametrize("n_members", [1, 2])
@pytest.mark.parametrize("option", [{"base": "gaussian"}, {"precondition": "covariance"}])
def test_a_model_with_a_gaussian_base_or_input_scaling_round_trips(tmp_path, n_members, option):
    """The covariance of the base or of the input scaling is saved with the network, and the
    loaded model scores exactly as before."""
    X = np.random.default_rng(5).standard_normal((300, 4)) * [3.0, 1.0, 0.2, 1.0]
    model = MULDE(hidden_sizes=(8,), n_members=n_members, max_steps=10, random_state=0,
                  device="cpu", **option).fit(X)
    loaded = MULDE.load(model.save(tmp_path / "b.safetensors"))
    assert {k: loaded.get_params()[k] for k in option} == option
    np.testing.assert_array_equal(loaded.score_samples(X), model.score_samples(X))


def test_a_model_fitted_on_a_dataframe_keeps_its_column_names(tmp_path):
    """The column names of a DataFrame fitted on survive save -> load: they were dropped, so
    the loaded model scored a DataFrame with its columns in another order without a word
    (the fitted one refuses it), and warned about none of scikit-learn's name checks."""
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.standard_normal((200, 3)) * [1.0, 10.0, 100.0],
                     columns=["speed", "size", "angle"])
    model = MULDE(hidden_sizes=(16, 16), max_steps=20, batch_size=64, random_state=0,
                  device="cpu").fit(X)
    loaded = MULDE.load(model.save(tmp_path / "m.safetensors"))
    assert list(loaded.feature_names_in_) == ["speed", "size", "angle"]
    np.testing.assert_array_equal(loaded.anomaly_score(X), model.anomaly_score(X))
    with pytest.raises(ValueError, match="the model's columns in another order"):
        loaded.anomaly_score(X[["angle", "size", "speed"]])
    # a file without the field (an array fitted on, or an older mulde's file) has no names
    plain = MULDE.load(MULDE(hidden_sizes=(16, 16), max_steps=5, device="cpu").fit(
        X.to_numpy()).save(tmp_path / "p.safetensors"))
    assert not hasattr(plain, "feature_names_in_")
    path = tmp_path / "bad.safetensors"
    arrays, meta = model._file_contents()
    save_file(arrays, str(path), metadata=meta | {"format": "mulde", "format_version": "1",
                                                  "feature_names": '["speed"]'})
    with pytest.raises(ModelFileError, match="bad.safetensors: feature_names is not a list of "
                                             "3 column names"):
        MULDE.load(path)


def test_the_auto_widths_are_rebuilt_from_the_stored_feature_count(tmp_path):
    """hidden_sizes "auto" (the default) is stored as "auto" and the loaded network has the
    widths the fit built from its d (here 300 features: a first layer wider than 256), so it
    scores bit for bit as before; `summary()` says the widths."""
    from mulde.core.network import widths_for_features

    X = np.random.default_rng(2).standard_normal((40, 300))
    model = MULDE(max_steps=2, random_state=0, device="cpu").fit(X)
    assert model.network_.members[0].first.out_features == widths_for_features(300, 40)[0]
    loaded = MULDE.load(model.save(tmp_path / "w.safetensors"))
    assert loaded.hidden_sizes == "auto"
    assert loaded.summary()["hidden_sizes"] == list(widths_for_features(300, 40))
    np.testing.assert_array_equal(loaded.score_samples(X), model.score_samples(X))

    # the widths built are stored: a later "auto" rule does not change the network a file
    # holds, and a file whose widths are not whole numbers is refused in one line
    import mulde.core.network as network
    from mulde.estimator.persistence import read_model_file, save_arrays

    monkey = pytest.MonkeyPatch()
    monkey.setattr(network, "WIDTH_PER_FEATURE", 2)
    try:
        again = MULDE.load(tmp_path / "w.safetensors")
    finally:
        monkey.undo()
    np.testing.assert_array_equal(again.score_samples(X), model.score_samples(X))
    meta, arrays = read_model_file(tmp_path / "w.safetensors")
    own = {k: v for k, v in meta.items()
           if k not in ("format", "format_version", "mulde_version", "sha256")}
    save_arrays(tmp_path / "bad.safetensors", arrays, own | {"hidden_sizes": '["300", 256]'})
    with pytest.raises(ModelFileError, match="widths .* are not a list of positive whole"):
        MULDE.load(tmp_path / "bad.safetensors")


def test_an_auto_file_keeps_the_networks_it_holds_whatever_the_rule_now_says(tmp_path):
    """A file saved with n_members "auto" before round 30 (one network on 600 rows of 100
    features, which the rule now gives 8: fewer than ten rows per feature) loads as the one
    network it holds and scores as before: the rule decides fits, never loads."""
    from mulde.core import EnergyEnsemble

    X = np.random.default_rng(2).standard_normal((600, 100))
    model = MULDE(hidden_sizes=(8,), n_members=1, max_steps=10, random_state=0,
                  device="cpu").fit(X)
    path = model.save(tmp_path / "m.safetensors")
    edit_model_file(path, params={"n_members": "auto", "max_samples": "auto"})
    loaded = MULDE.load(path)
    assert loaded.n_members == "auto" and not isinstance(loaded.network_, EnergyEnsemble)
    np.testing.assert_array_equal(loaded.score_samples(X), model.score_samples(X))
    assert MULDE(hidden_sizes=(8,), max_steps=10, random_state=0, device="cpu").fit(
        X).train_result_.n_members == 8


def test_a_loaded_model_keeps_the_principal_directions_it_counted(tmp_path):
    """n_members "auto"'s count (round 33) is saved with the model; a file from before it
    loads with None, and a count that is not a whole number >= 0 is refused by name."""
    X = np.random.default_rng(0).normal(size=(600, 32))  # 18.75 rows per feature
    model = MULDE(max_steps=2, eval_every=1, random_state=0, device="cpu").fit(X)
    path = model.save(tmp_path / "m.safetensors")
    assert MULDE.load(path).principal_directions_ == model.principal_directions_ == 28
    edit_model_file(path, meta={"principal_directions": "null"})
    assert MULDE.load(path).principal_directions_ is None
    for bad in ("-3", "2.5", "true"):
        edit_model_file(path, meta={"principal_directions": bad})
        with pytest.raises(ModelFileError, match=f"principal_directions {json.loads(bad)!r}"):
            MULDE.load(path)


def test_a_loaded_model_keeps_the_lattice_columns_auto_counted(tmp_path):
    """reweight "auto"'s count of lattice columns (round 64) is saved with the model; a file
    from before it (no field) loads with None, and a count that is not a whole number from
    0 to n_features_in is refused by name."""
    rng = np.random.default_rng(0)
    X = np.c_[np.round(rng.normal(0, 3, (200, 2))), rng.standard_normal(200)]
    path = MULDE(max_steps=2, random_state=0, device="cpu").fit(X).save(tmp_path / "m.st")
    assert MULDE.load(path).lattice_columns_ == 2
    edit_model_file(path, drop_meta=["lattice_columns"])
    assert MULDE.load(path).lattice_columns_ is None
    for bad in ("-1", "4", "1.5", "true"):
        edit_model_file(path, meta={"lattice_columns": bad})
        with pytest.raises(ModelFileError, match=f"lattice_columns {json.loads(bad)!r} is not"):
            MULDE.load(path)


@pytest.mark.parametrize(("field", "value", "said"), [
    ("params", "{not json", "metadata field 'params' is not valid JSON ('{not json')"),
    ("params", "[1, 2]", "metadata field 'params' is not a JSON object ('[1, 2]')"),
    ("offset", "abc", "metadata field 'offset' is not valid JSON ('abc')"),
    ("offset", '"1"', "metadata field 'offset' is '\"1\"', not a number"),
    ("train_result", "{}", "metadata field 'train_result' does not describe a training run"),
    ("hidden_sizes", "x", "metadata field 'hidden_sizes' is not valid JSON ('x')"),
    ("principal_directions", "{", "metadata field 'principal_directions' is not valid JSON"),
])
def test_a_metadata_field_that_is_not_what_it_should_be_is_named(tiny, tmp_path, field, value,
                                                                 said):
    """A field rewritten consistently (its checksum fits) but not valid JSON, or not of its
    kind, was reported by the JSON parser's own words ("Expecting value: line 1 column 1")
    without the field's name."""
    path = _edited(tiny, tmp_path)
    edit_model_file(path, meta={field: value})
    with pytest.raises(ModelFileError) as err:
        MULDE.load(path)
    assert str(err.value).startswith(f"{path}: inconsistent MULDE model file: {said}")
    assert str(err.value).endswith("; fit and save it again")


def test_a_loaded_model_says_what_its_threshold_was_set_on(tmp_path):
    """threshold_scores_ (round 47) is saved and loaded, and in the summary; a file from
    before it loads with what its settings imply ("validation" where threshold_on
    "validation" held rows out, else "training"); another value is refused by name."""
    X = np.random.default_rng(0).normal(size=(200, 3))
    settings = {"hidden_sizes": (8,), "max_steps": 3, "random_state": 0, "device": "cpu"}
    for threshold_on in ("training", "out_of_bag", "validation"):
        model = MULDE(**settings, threshold_on=threshold_on, contamination=0.1).fit(X)
        path = model.save(tmp_path / f"{threshold_on}.safetensors")
        loaded = MULDE.load(path)
        assert loaded.threshold_scores_ == model.threshold_scores_ == threshold_on
        assert loaded.summary()["threshold_scores"] == threshold_on
        edit_model_file(path, drop_meta=["threshold_scores"])
        older = "validation" if threshold_on == "validation" else "training"
        assert MULDE.load(path).threshold_scores_ == older
    edit_model_file(path, meta={"threshold_scores": json.dumps("elsewhere")})
    with pytest.raises(ModelFileError, match="'threshold_scores' is 'elsewhere'"):
        MULDE.load(path)


def test_a_stored_dequantise_list_the_columns_do_not_bear_out_is_refused(tmp_path):
    """A rewritten file whose dequantise list names a column the model lacks, or whose
    cells lie outside the columns it names, loaded (the list was checked only by a refit);
    no fit writes either, and the message names the file and the entry."""
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"count": rng.poisson(0.3, 60).astype(float),
                          "x": rng.standard_normal(60)})
    model = MULDE(hidden_sizes=(8,), n_members=1, max_steps=5, random_state=0, device="cpu",
                  dequantise=["count"]).fit(frame)
    saved = model.save(tmp_path / "m.safetensors")
    assert MULDE.load(saved).dequantise == ["count"]
    start = f"{tmp_path / 'e.safetensors'}: inconsistent MULDE model file: "
    for dequantise, said in [
            (["cnt"], "dequantise names column 'cnt', which the training data do not have "
                      "(its columns are 'count', 'x'; did you mean 'count'?)"),
            ([2], "dequantise names column 2, which the training data do not have"),
            (["x"], "'quantisation_steps' holds a cell for column 'count', which "
                    "dequantise=['x'] does not name"),
            ([], "'quantisation_steps' is stored, but the config says dequantise=[]")]:
        path = edit_model_file(saved, tmp_path / "e.safetensors",
                               params={"dequantise": dequantise})
        with pytest.raises(ModelFileError) as err:
            MULDE.load(path)
        assert str(err.value).startswith(start + said), err.value
        assert str(err.value).endswith("; fit and save it again")
