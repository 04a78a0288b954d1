"""A pipeline model folder whose pipeline.json holds values no fit writes, or reads files
outside the folder or outside its `files` list, is refused at load with one line naming the
manifest and the field. Each manifest here is signed again (`manifest_digest`), as whoever
edits it can: its SHA-256 only catches damage."""

import json
import shutil

import numpy as np
import pytest
from fakes import refused_in_one_line

from mulde.vad import StreamEnsemble
from mulde.vad.artifact import MANIFEST, SELF_DIGEST, ArtifactError, PipelineModel, manifest_digest
from mulde.video.features import ObjectFeatures, Stream, VideoFeatures
from mulde.video.features.objects import ObjectCentricExtractor


def _features(rng, n_frames):
    idx = np.repeat(np.arange(n_frames), 2)
    boxes = np.tile([1.0, 1.0, 5.0, 5.0], (len(idx), 1))
    return VideoFeatures.of({Stream("velocity"): ObjectFeatures.build(
        rng.normal(size=(len(idx), 3)), idx, boxes, n_frames, 3)})


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A kNN pipeline of one 3-d stream, saved; each test edits a copy."""
    rng = np.random.default_rng(0)
    train = {f"t{i}": _features(rng, 30) for i in range(3)}
    model = PipelineModel.fit(ObjectCentricExtractor(streams=("velocity",)), train,
                              StreamEnsemble("knn"), fps=10.0, smoothing_sigma=1.0)
    return model.save(tmp_path_factory.mktemp("pipe") / "model")


def _edited(saved, tmp_path, change):
    folder = tmp_path / "model"
    shutil.copytree(saved, folder)
    m = json.loads((folder / MANIFEST).read_text())
    change(m)
    m[SELF_DIGEST] = manifest_digest(m)
    (folder / MANIFEST).write_text(json.dumps(m))  # NaN written as JSON's NaN, as read
    return folder


def _refused(folder, said):
    message = refused_in_one_line(lambda: PipelineModel.load(folder), ArtifactError,
                                  f"{folder / MANIFEST}: ", said)
    assert message.endswith("restore the model folder, or train the model again")


def _stream(m):
    return m["streams"]["velocity"]


@pytest.mark.parametrize("change, said", [
    (lambda m: m.__setitem__("fps", -5), "fps is -5, not a finite frame rate > 0"),
    (lambda m: m.__setitem__("fps", 0), "fps is 0, not a finite frame rate > 0"),
    (lambda m: m.__setitem__("fps", float("nan")), "fps is nan, not a finite frame rate"),
    (lambda m: m.__setitem__("fps", None), "fps is None, not a finite frame rate"),
    (lambda m: m["smoothing"].__setitem__("sigma", -3), "smoothing.sigma is -3, not a "
                                                        "finite number >= 0"),
    (lambda m: m["smoothing"].__setitem__("sigma", float("inf")), "smoothing.sigma is inf"),
    (lambda m: m["threshold"].__setitem__("value", float("nan")), "threshold.value is nan, "
                                                                  "not a number"),
    (lambda m: (m.__setitem__("fps", 1e300), m["smoothing"].__setitem__("sigma", 2e6)),
     "smoothing.sigma is 2000000.0, not a finite number >= 0 and at most 1e+06 frames"),
    (lambda m: m["smoothing"].__setitem__("sigma", 1e9), "smoothing.sigma is 1000000000.0, "
                                                         "not a finite number >= 0 and at most "
                                                         "36000 frames (an hour at fps 10"),
    (lambda m: m["threshold"].__setitem__("patience", -5), "threshold.patience is -5, not a "
                                                           "whole number of frames >= 1"),
    (lambda m: m["threshold"].__setitem__("patience", 0), "threshold.patience is 0, not a "),
    (lambda m: m["threshold"].__setitem__("patience", 2.5), "threshold.patience is 2.5, not a "
                                                            "whole number"),
    (lambda m: m["threshold"].__setitem__("patience", True), "threshold.patience is True"),
    (lambda m: m["threshold"].__setitem__("patience", 1e300), "threshold.patience is 1e+300, "
                                                              "not a whole number of frames >= 1 "
                                                              "and at most 864000 (a day at fps "
                                                              "10)"),
    (lambda m: m["threshold"].__setitem__("patience", 864001), "threshold.patience is 864001"),
    (lambda m: _stream(m).__setitem__("fill", float("nan")), "streams.velocity.fill is nan, "
                                                             "not a finite number"),
    (lambda m: _stream(m).__setitem__("dim", 99), "streams.velocity.dim is 99, but its model "
                                                  "takes 3 features"),
], ids=["fps_negative", "fps_zero", "fps_nan", "fps_null", "sigma_negative", "sigma_inf",
        "threshold_nan", "sigma_huge_at_any_fps", "sigma_huge", "patience_negative",
        "patience_zero", "patience_fraction", "patience_flag", "patience_huge",
        "patience_over_a_day", "fill_nan", "dim_wrong"])
def test_values_no_fit_writes_are_refused_by_field(saved, tmp_path, change, said):
    """They loaded: a NaN threshold never alerts, a negative fps or sigma fails later, a
    negative patience failed `mulde export` and `info` with a traceback (fit_threshold's
    ValueError), a patience of 2.5 or 1e300 ran silently, a sigma of 1e9 asked for 30 GiB
    of filter weights."""
    _refused(_edited(saved, tmp_path, change), said)


def test_no_smoothing_loads(saved, tmp_path):
    """sigma 0 is no smoothing (`smooth_scores`), a legal setting."""
    folder = _edited(saved, tmp_path, lambda m: m["smoothing"].__setitem__("sigma", 0))
    assert PipelineModel.load(folder).smoothing_sigma == 0.0


def _file_elsewhere(m, where):
    """The stream's file moved to `where`, listed there with its digest."""
    rel = _stream(m)["file"]
    m["files"][where] = m["files"].pop(rel)
    _stream(m)["file"] = where


@pytest.mark.parametrize("change, said", [
    (lambda m: _stream(m).__setitem__("file", "/tmp/x.safetensors"), "streams.velocity.file "
     "is '/tmp/x.safetensors', not a path relative to the model folder"),
    (lambda m: _file_elsewhere(m, "/tmp/x.safetensors"), "a 'files' entry is "
     "'/tmp/x.safetensors', not a path relative to the model folder"),
    (lambda m: _file_elsewhere(m, "../x.safetensors"), "a 'files' entry is "
     "'../x.safetensors', which leads out of the model folder"),
    (lambda m: m["files"].__setitem__("../../../../etc/hostname", "0" * 64),
     "a 'files' entry is '../../../../etc/hostname', which leads out"),
    (lambda m: m["files"].__setitem__("/dev/zero", "0" * 64), "a 'files' entry is "
     "'/dev/zero', not a path relative to the model folder"),
    (lambda m: m["scene_backgrounds"].__setitem__("", "/etc/passwd"),
     "scene_backgrounds[''] is '/etc/passwd', not a path relative"),
    (lambda m: m["files"].pop(_stream(m)["file"]), "streams.velocity.file "
     "'streams/velocity.safetensors' is not among its 'files'"),
], ids=["stream_absolute", "listed_absolute", "stream_dotdot", "files_dotdot", "files_device",
        "scene_absolute", "stream_unlisted"])
def test_paths_outside_the_folder_or_its_file_list_are_refused(saved, tmp_path, change, said):
    """A stream file outside the folder, or not listed (its SHA-256 never checked), was read;
    a listed /dev/zero was hashed for ever."""
    _refused(_edited(saved, tmp_path, change), said)


def test_a_link_out_of_the_folder_is_refused(saved, tmp_path):
    """A file of the folder that is a symbolic link to elsewhere resolves outside it."""
    folder = _edited(saved, tmp_path, lambda m: None)
    target = folder / "streams" / "velocity.safetensors"
    outside = tmp_path / "outside.safetensors"
    shutil.move(target, outside)
    target.symlink_to(outside)
    _refused(folder, "which leads out of the model folder")


def test_the_bounds_hold_a_days_patience_and_an_hours_sigma(saved, tmp_path):
    """The bounds are inclusive: a day of patience and an hour of sigma at fps 10 load."""
    def change(m):
        m["threshold"]["patience"] = 864000
        m["smoothing"]["sigma"] = 36000.0

    model = PipelineModel.load(_edited(saved, tmp_path, change))
    assert model.threshold.patience == 864000 and model.smoothing_sigma == 36000.0


def test_fit_refuses_what_load_would_refuse_before_fitting():
    """A fit whose sigma load would refuse would save a folder that does not load; it is
    refused before the streams are fitted (a reviewer: after them, the work was lost). A
    variable-rate file's 90,000 frames/s fits (the rate is not bounded)."""
    rng = np.random.default_rng(0)
    train = {f"t{i}": _features(rng, 30) for i in range(2)}

    class Unfitted(StreamEnsemble):
        def fit(self, *args, **kwargs):
            raise AssertionError("fitted")

    with pytest.raises(ValueError, match=r"the smoothing sigma 2e\+06 at most an hour"):
        PipelineModel.fit(ObjectCentricExtractor(streams=("velocity",)), train,
                          Unfitted("knn"), fps=90000.0, smoothing_sigma=2e6)
    model = PipelineModel.fit(ObjectCentricExtractor(streams=("velocity",)), train,
                              StreamEnsemble("knn"), fps=90000.0)
    assert model.fps == 90000.0
