"""One bad video never stops a run: a resolution switch midway, or a video of another size
than the scene background, is skipped and listed in skipped_videos, in training and test
videos alike, for every stream of the object-centric extractor."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from fakes import MeanBackbone, write_resolution_switch, write_square_frames

from mulde.datasets import DatasetError, load_dataset
from mulde.pipeline import extract_features, run_pipeline
from mulde.video import backbones as appearance_module
from mulde.video.cache import FeatureCache
from mulde.video.features import FrameCentricExtractor, ObjectCentricExtractor
from mulde.video.features.objects import SceneBackgroundWarning


def _scene(root, *, bad_train=None, bad_test=None, n_train=2):
    rng = np.random.default_rng(0)
    for i in range(n_train):
        write_square_frames(root / "train" / f"t{i}", 1.0 + 0.1 * rng.standard_normal(24))
    write_square_frames(root / "test" / "ok", 2.0 + 0.1 * rng.standard_normal(24))
    if bad_train:
        bad_train(root / "train")
    if bad_test:
        bad_test(root / "test")
    return root


@pytest.mark.parametrize("streams", [("velocity",), ("velocity", "static"), ("geometry",),
                                     ("static",), "frames"])
def test_a_resolution_switch_midway_skips_that_video_in_training_and_test(tmp_path, streams,
                                                                         monkeypatch, request):
    """Every extractor: the object-centric streams, and the frame-centric windows (with a
    parameter-free backbone, each image's mean)."""
    def switch(folder):
        folder.mkdir(parents=True, exist_ok=True)
        write_resolution_switch(folder / "switch.ts", sizes=((40, 120), (48, 128)))

    root = _scene(tmp_path / "data", bad_train=switch, bad_test=switch)
    ds = load_dataset("folder", root)
    if streams == "frames":
        monkeypatch.setitem(appearance_module.BACKBONES, "mean", MeanBackbone)
        appearance_module.load_backbone.cache_clear()
        request.addfinalizer(appearance_module.load_backbone.cache_clear)
        extractor = FrameCentricExtractor(backbone="mean", length=4, size=8)
    else:
        extractor = ObjectCentricExtractor(streams=streams, blur=1)
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        result = extract_features(ds, extractor, FeatureCache(tmp_path / "c"), progress=False)
    # the static stream's scene background leaves the training switch.ts out too, but only
    # the extraction names it (once, as skipped)
    assert not [w for w in shown if "scene background" in str(w.message)]
    failed = {(f["split"], f["video"]): f["error"] for f in result.failed}
    assert set(failed) == {("train", "switch"), ("test", "switch")}
    for error in failed.values():
        assert "switch.ts: frame size changes at frame 10" in error
        assert "128x48, but frame 0 is 120x40" in error
    assert sorted(result.features["train"]) == ["t0", "t1"]
    assert sorted(result.features["test"]) == ["ok"]


def _other_size(folder):
    write_square_frames(folder / "small", np.ones(24), size=(32, 96))


def test_a_test_video_of_another_size_than_the_scene_background_is_skipped_not_fatal(tmp_path):
    root = _scene(tmp_path / "data", bad_test=_other_size)
    out = tmp_path / "out"
    metrics = run_pipeline(load_dataset("folder", root),
                           ObjectCentricExtractor(streams=("velocity", "static"), blur=1), out,
                           mulde_params={"hidden_sizes": (16, 16), "max_steps": 30,
                                         "batch_size": 64}, progress=False)
    skipped = metrics["config"]["skipped_videos"]
    assert [(s["split"], s["video"]) for s in skipped] == [("test", "small")]
    assert "small: frames are 96x32, but the model works on 120x40 frames (its training " \
        "videos' size, not downscaled) and takes video of that size alone" in skipped[0]["error"]
    scores = json.loads((out / "metrics.json").read_text())
    assert scores["config"]["skipped_videos"] == skipped
    assert scores["config"]["engine"] == "local"
    assert [w for w in scores["warnings"] if w.startswith("skipped test/small: frames are "
                                                          "96x32, but the model works on")]
    assert "Warning:</b> skipped test/small: frames are" in (out / "report.html").read_text()


def test_a_training_video_of_another_size_is_left_out_of_the_background_and_skipped(tmp_path):
    root = _scene(tmp_path / "data", bad_train=_other_size)
    ds = load_dataset("folder", root)
    extractor = ObjectCentricExtractor(streams=("static",), blur=1)
    with pytest.warns(SceneBackgroundWarning, match=r"left out of the scene background: .*small "
                      r"\(frames 96x32, the other training videos 120x40"):
        extractor.with_scene(ds.train, tmp_path / "scene")  # called alone, it says so
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        result = extract_features(ds, extractor, FeatureCache(tmp_path / "c"), progress=False)
    assert not shown  # in a run, the extraction names it once, as skipped
    assert [(f["split"], f["video"]) for f in result.failed] == [("train", "small")]
    assert "frames are 96x32, but the model works on 120x40 frames" in result.failed[0]["error"]
    assert sorted(result.features["train"]) == ["t0", "t1"]


def test_no_readable_training_video_is_a_dataset_error_naming_the_cause(tmp_path):
    root = tmp_path / "data"
    (root / "train").mkdir(parents=True)
    (root / "train" / "broken.avi").write_bytes(b"not a video")
    write_square_frames(root / "test" / "ok", np.ones(10))
    ds = load_dataset("folder", root)
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        with pytest.raises(DatasetError, match=r"no readable training video; left out of the "
                           r"scene background: .*broken.avi: cannot read video"):
            extract_features(ds, ObjectCentricExtractor(streams=("static",)),
                             FeatureCache(tmp_path / "c"), progress=False)
    assert not shown  # named in the error alone
