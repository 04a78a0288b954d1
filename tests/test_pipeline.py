"""The video pipeline end to end on small on-disk videos with a simple motion extractor."""

import json
import re
import shutil
import subprocess
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pytest
from fakes import (
    ENV,
    REPO,
    MeanColour,
    _cli,
    _kill_when,
    assert_same_entries,
    cache_entries,
    write_frames,
    write_square_frames,
    write_video,
)
from PIL import Image

from mulde.datasets import load_dataset
from mulde.pipeline import extract_features, run_pipeline
from mulde.recorded import held_warnings
from mulde.video.cache import FeatureCache, shard
from mulde.video.features import ObjectFeatures, Stream, VideoFeatures
from mulde.video.features.base import SceneFree


@dataclass(frozen=True)
class SpeedExtractor(SceneFree):
    """One object per frame: the speed of the bright square's centroid and the background."""

    name: str = "speed"
    version: str = "1"
    calls: list = field(default_factory=list, compare=False)

    @property
    def params(self):
        return {"threshold": 128}

    def extract(self, video, timings=None):
        self.calls.append(video.name)
        xs, background = [], []
        for frame in video.frames():
            cols = np.flatnonzero((frame[..., 0] > 128).any(axis=0))
            xs.append(cols.mean() if cols.size else 0.0)
            background.append(float(frame[0, 0, 0]) / 100)
        speed = np.abs(np.diff(xs, prepend=xs[0]))
        feats = np.c_[speed, background].astype(np.float32)
        n = len(xs)
        return VideoFeatures({Stream.VELOCITY: ObjectFeatures(feats, np.arange(n), n)}, n)


@pytest.fixture
def dataset_root(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    for i in range(3):
        write_square_frames(root / "train" / f"t{i}", 1.0 + 0.1 * rng.standard_normal(40))
    fast = np.r_[np.ones(15), np.full(10, 3.0), np.ones(15)]
    write_square_frames(root / "test" / "a", fast + 0.1 * rng.standard_normal(40))
    write_square_frames(root / "test" / "b", 1.0 + 0.1 * rng.standard_normal(40))
    (root / "labels.csv").write_text("video,start,end\na,15,24\n")
    return root


PARAMS = {"hidden_sizes": (32, 32), "max_steps": 150, "batch_size": 64}


@pytest.mark.parametrize("detector", ["mulde", "knn", "gmm"])
def test_run_writes_report_and_detects_the_fast_mover(dataset_root, tmp_path, detector):
    ds = load_dataset("folder", dataset_root)
    out = tmp_path / "out"
    metrics = run_pipeline(ds, SpeedExtractor(), out, detector=detector, mulde_params=PARAMS,
                           progress=False)
    assert metrics["micro_auc"] > 0.9
    for name in ("frame_scores.csv", "metrics.json", "report.html", "plots/roc.png"):
        assert (out / name).exists(), name
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["config"]["detector"] == detector
    manifest = json.loads((out / "model" / "pipeline.json").read_text())
    assert manifest["streams"]["velocity"]["model"]["kind"] == detector
    # the training videos' own frame size (width, height), for watch to name a mismatch
    assert manifest["training"]["frame_sizes"] == {"": [120, 40]}
    assert (out / "model" / "streams" / "velocity.safetensors").exists()
    threshold = saved["config"]["threshold"]
    assert threshold == manifest["threshold"] and threshold["rule"] == "events_per_hour"
    # the calibration and threshold saw out-of-fold training scores (kNN: leave-one-video-out)
    assert saved["config"]["calibration_folds"] == (None if detector == "knn" else 3)
    assert threshold["out_of_sample"] and threshold["held_out"]["folds"] == 3
    # the training stage's time is the ensemble's wall time (fits one after another here)
    assert saved["config"]["fit_jobs"] == 1 and saved["timings"]["train"] > 0


def test_a_reduced_stream_is_recorded_in_the_metrics_and_the_model(dataset_root, tmp_path):
    """--pca velocity=1: the run's config names it with the share of the training variance
    kept (of the 2-d speed and background: less than all), and the saved model holds the
    projection beside the stream's model."""
    ds = load_dataset("folder", dataset_root)
    out = tmp_path / "out"
    metrics = run_pipeline(ds, SpeedExtractor(), out, detector="knn", progress=False,
                           pca={"velocity": 1})
    assert metrics["micro_auc"] > 0.9
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["config"]["pca"]["velocity"]["n_components"] == 1
    assert saved["config"]["pca"]["velocity"]["kept"] == 1
    assert 0.5 < saved["config"]["pca"]["velocity"]["explained_variance"] < 1.0
    assert (out / "model" / "streams" / "velocity.pca.safetensors").exists()


def test_a_reduction_asking_more_than_the_stream_has_records_what_was_kept(dataset_root,
                                                                           tmp_path):
    """--pca velocity=5 on the 2-d speed stream: the config keeps the 5 asked under
    `n_components` (the key earlier runs wrote) and records the 2 kept beside it, all of the
    variance, as the run's warning says."""
    ds = load_dataset("folder", dataset_root)
    with pytest.warns(UserWarning, match="fewer than the 5 principal components asked"):
        run_pipeline(ds, SpeedExtractor(), tmp_path / "out", detector="knn", progress=False,
                     pca={"velocity": 5})
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    record = saved["config"]["pca"]["velocity"]
    assert record["n_components"] == 5 and record["kept"] == 2
    assert record["explained_variance"] == pytest.approx(1.0)
    assert any("it keeps at most its 2" in w for w in saved["warnings"])


def test_a_sidak_stream_is_recorded_in_the_metrics(dataset_root, tmp_path):
    """--frame-score velocity=sidak: the run's config says which streams took the Sidak
    frame score (what tells two runs of a comparison apart); without it, no entry."""
    ds = load_dataset("folder", dataset_root)
    run_pipeline(ds, SpeedExtractor(), tmp_path / "a", detector="knn", progress=False,
                 sidak=["velocity"])
    saved = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert saved["config"]["frame_score"] == {"velocity": "sidak"}
    run_pipeline(ds, SpeedExtractor(), tmp_path / "b", detector="knn", progress=False)
    assert "frame_score" not in json.loads((tmp_path / "b" / "metrics.json").read_text())[
        "config"]


def test_a_threshold_on_too_little_training_video_is_flagged_in_the_output_and_report(
        dataset_root, tmp_path):
    """4.8 s of training video (3 x 40 frames at 25 frames/s): one false alarm there is 750
    per hour, so the 1-per-hour target cannot be checked; the run warns when it happens and
    the report says so where it states the threshold (once: not also among its warnings)."""
    out = tmp_path / "out"
    with pytest.warns(UserWarning, match=r"^alert threshold: the training videos last 5 s "
                      r"in all: one false alarm there is already 750 per hour, above the "
                      r"target of 1, so the rate cannot be checked; train on at least 60 min"):
        metrics = run_pipeline(load_dataset("folder", dataset_root), SpeedExtractor(), out,
                               detector="knn", progress=False)
    note = metrics["threshold"]["note"]
    assert note.startswith("the training videos last ") and " 5 s in all: " in note
    assert not [w for w in metrics["warnings"] if "training videos last" in w]
    html = (out / "report.html").read_text()
    assert html.count("the training videos last 5 s in all") == 1
    assert re.search(r"<b>Alert threshold:</b> [^<]*<b>Warning:</b> the training videos last",
                     html)


def test_report_shows_the_peak_frame_with_the_fast_mover_boxed(dataset_root, tmp_path):
    from mulde.video.features.registry import build_extractor

    ds = load_dataset("folder", dataset_root)
    out = tmp_path / "out"
    # the GMM aggregate: with the default (mean_energy) this 150-step model's smoothed peak
    # is frame 22 (AUC 1.0), whose top object is the whole frame, drawn without a box (see
    # evaluation/snapshots.py); this test is about the box, so it needs a region on top
    metrics = run_pipeline(ds, build_extractor("objects:ped2"), out,
                           mulde_params=PARAMS | {"aggregator": "gmm"}, progress=False)
    snap = metrics["snapshots"]["a"]
    assert list(metrics["snapshots"])[0] == "a"  # the highest peak is shown first
    assert 15 <= snap["frame"] <= 24 and snap["ground truth"] == "anomalous"
    assert snap["top object"] == "velocity"
    frame = np.asarray(Image.open(sorted((dataset_root / "test" / "a").iterdir())[
        snap["frame"]]))
    rows, cols = np.nonzero(frame[..., 0] > 128)  # the bright square
    x0, y0, x1, y1 = snap["box"]
    assert x0 <= cols.mean() < x1 and y0 <= rows.mean() < y1
    drawn = np.asarray(Image.open(out / "plots" / "snapshot_001_a.png"))
    assert (drawn[y0, x0:x1, 0] > 200).mean() > 0.9  # the red box
    assert "Most anomalous moments" in (out / "report.html").read_text()
    # the scores split by stream: a second panel under each video's curve
    with Image.open(out / "plots" / "video_001_a.png") as curve:
        assert curve.height > 300
    # the model's alert threshold (fitted on training videos) is the report's line and events
    fitted = metrics["config"]["threshold"]
    assert metrics["threshold"]["value"] == fitted["value"]
    assert metrics["threshold"]["patience"] == fitted["patience"]
    assert sorted(metrics["events"]) == ["a", "b"]


def test_own_videos_without_labels_get_scores_and_plots_but_no_metrics(dataset_root, tmp_path):
    (dataset_root / "labels.csv").unlink()  # a user's own videos: nothing labelled
    ds = load_dataset("folder", dataset_root)
    out = tmp_path / "out"
    with pytest.warns(UserWarning, match="frame folders, which record no frame rate: 25 "
                      "frames/s assumed .* give the real rate with --fps"):
        metrics = run_pipeline(ds, SpeedExtractor(), out, detector="gmm", progress=False)
    assert "micro_auc" not in metrics and metrics["labelled"] is False
    # the run's own warning reaches metrics.json and the report, not only the console
    assumed = [w for w in metrics["warnings"] if "which record no frame rate" in w]
    assert len(assumed) == 1
    assert json.loads((out / "metrics.json").read_text())["warnings"] == metrics["warnings"]
    assert "which record no frame rate" in (out / "report.html").read_text()
    rows = (out / "frame_scores.csv").read_text().splitlines()
    assert len(rows) == 1 + 80  # header + every frame of the two test videos
    assert sorted(p.name for p in (out / "plots").glob("video_*.png")) == [
        "video_001_a.png", "video_002_b.png"]  # 1-based, as in the report
    html = (out / "report.html").read_text()
    assert "no labels were given, so no AUC is computed" in html and "Micro AUC" not in html


def test_labels_of_one_class_give_the_report_without_metrics_not_an_error(dataset_root,
                                                                         tmp_path):
    """A labels.csv of its header alone ("test videos without a row are all normal"), or
    whose labelled videos were all skipped: no AUC can be computed, and the run wrote its
    model and scores first; it ends with the report of scores and events and says why it
    has no metrics (it had exited 2 with no report)."""
    (dataset_root / "labels.csv").write_text("video,start,end\n")
    ds = load_dataset("folder", dataset_root)
    out = tmp_path / "out"
    with pytest.warns(UserWarning, match="mark every frame normal, and the AUCs need both "
                      "classes"):
        metrics = run_pipeline(ds, SpeedExtractor(), out, detector="gmm", progress=False)
    assert "micro_auc" not in metrics and metrics["labelled"] is False
    said = [w for w in metrics["warnings"] if "AUCs need both classes" in w]
    assert len(said) == 1 and "the 2 scored test video(s)" in said[0]
    html = (out / "report.html").read_text()
    assert "AUCs need both classes" in html and "no labels were given" not in html
    assert metrics["note"].startswith("the labels of the 2 scored test video(s) mark every "
                                      "frame normal") and "no metrics" in metrics["note"]
    assert "skipped" not in said[0]  # none was: the advice is about labelling alone
    assert (out / "model" / "pipeline.json").exists()
    # the labels are kept where they mean something without an AUC: every frame's row says
    # 0, not an empty label, and the events count as false alarms in normal videos
    rows = (out / "frame_scores.csv").read_text().splitlines()
    label = rows[0].split(",").index("label")
    assert {r.split(",")[label] for r in rows[1:]} == {"0"}
    assert not (out / "plots" / "roc.png").exists()
    if metrics["events"] is not None:
        assert metrics["false_alarms_in_normal_videos"] == {
            n: len(v) for n, v in metrics["events"].items()}


def test_one_class_advice_names_the_skipped_test_videos_whose_labels_went_with_them():
    """Where test videos were skipped, the advice names them as well (their labels, if any,
    are lost with them: a corrupt file cannot even be probed for its length, so whether
    labels.csv marked it is not known here), besides labelling the scored ones."""
    from mulde.pipeline import _one_class_labels

    normal = {"a": np.zeros(5), "b": np.zeros(4), "c": None}
    said = _one_class_labels(normal, ["bad"])
    assert said.cause == ("the labels of the 2 scored test video(s) mark every frame normal, "
                          "and the AUCs need both classes")
    assert said.warning.endswith(
        "test videos need anomalous frames too (labels.csv: video,start,end marks the "
        "anomalous ones); the skipped test video(s) bad are not scored: where their labels "
        "hold anomalous frames, repair or re-encode them (the skip lines above say why) and "
        "rerun")
    many = _one_class_labels(normal, ["v1", "v2", "v3", "v4", "v5"]).warning
    assert "v1, v2, v3 and 2 more" in many
    assert "labels.csv: video,start,end" in _one_class_labels(normal, []).warning
    assert _one_class_labels({"a": np.array([0, 1])}, ["bad"]) is None


def test_stray_files_are_recorded_in_the_metrics_and_the_report(dataset_root, tmp_path):
    """What the loader left out of train/ and test/ (its IgnoredFilesWarning on the console)
    is kept with the run: listed in metrics.json and said in the report's warnings, where
    skipped videos are."""
    (dataset_root / "train" / "notes.txt").write_text("not a video")
    (dataset_root / "test" / "empty").mkdir()
    with pytest.warns(UserWarning, match="ignored 1 empty folder: test/empty"):
        ds = load_dataset("folder", dataset_root)
    out = tmp_path / "out"
    metrics = run_pipeline(ds, SpeedExtractor(), out, detector="gmm", progress=False)
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["config"]["ignored_files"] == ["test/empty", "train/notes.txt"]
    lines = ["ignored 1 empty folder: test/empty",
             "ignored 1 file that is not a video: train/notes.txt"]
    assert saved["warnings"][:2] == metrics["warnings"][:2] == lines
    html = (out / "report.html").read_text()
    assert all(html.count(f"Warning:</b> {line}</p>") == 1 for line in lines)
    clean = tmp_path / "clean"
    (dataset_root / "train" / "notes.txt").unlink()
    (dataset_root / "test" / "empty").rmdir()
    metrics = run_pipeline(load_dataset("folder", dataset_root), SpeedExtractor(), clean,
                           detector="gmm", progress=False)
    assert metrics["config"]["ignored_files"] == []
    assert not [w for w in metrics["warnings"] if w.startswith("ignored")]


def test_strays_the_loader_said_are_not_said_again_by_each_run(dataset_root):
    """A cover image in a frame folder is said by the folder loader (its ignored line); a run
    of the dataset, loaded before it (a Python session), does not name it again in its
    decoding's warning, run after run; a dataset whose loader lists no strays gets that
    warning once in each run."""
    cover = dataset_root / "test" / "a" / "cover.png"
    cover.write_bytes((dataset_root / "test" / "a" / "000.png").read_bytes())
    with pytest.warns(UserWarning, match="ignored 1 image without a frame number"):
        ds = load_dataset("folder", dataset_root)
    assert ds.ignored == (cover,)
    for dataset, said in ((ds, []), (replace(ds, ignored=()), [str(cover.parent)])):
        for _ in range(2):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                extract_features(dataset, SpeedExtractor(), None, progress=False)
            assert [str(w.message).split(": ")[0] for w in caught
                    if "cover.png" in str(w.message)] == said


def test_warnings_of_the_entry_points_are_shown_at_the_callers_line(dataset_root, tmp_path):
    """load_dataset's, train_pipeline's and run_pipeline's warnings point at this file, the
    line that called them (they pointed at datasets/__init__.py, where the loader is called,
    and at contextlib.py, of run_pipeline's decorator); the run's report still keeps them."""
    from mulde.pipeline import train_pipeline

    (dataset_root / "test" / "notes.txt").write_text("not a video")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = load_dataset("folder", dataset_root)
        train_pipeline(ds, SpeedExtractor(), tmp_path / "train", detector="gmm",
                       progress=False)
        metrics = run_pipeline(ds, SpeedExtractor(), tmp_path / "run", detector="knn",
                               progress=False)
    said = {(str(w.message).split(":")[0], w.filename) for w in caught}
    assert {("ignored 1 file that is not a video", __file__),
            ("the training videos are frame folders, which record no frame rate", __file__),
            ("alert threshold", __file__)} <= said, said
    assert not [w for w in caught if "mulde" in Path(w.filename).parts
                or w.filename.endswith("contextlib.py")]
    assert any("frame folders, which record no frame rate" in w for w in metrics["warnings"])


def test_videos_left_out_of_a_partial_dataset_are_recorded_with_the_run(dataset_root,
                                                                        tmp_path):
    """A loader's missing videos (`Dataset.left_out`: a partial copy of a benchmark) are kept
    in metrics.json and said among the report's warnings, with why the metrics then do not
    compare with published ones; a complete dataset records none."""
    import dataclasses

    line = "gt: 2 test video(s) with ground truth are missing and left out: 03, 04"
    ds = dataclasses.replace(load_dataset("folder", dataset_root), left_out=(line,))
    out = tmp_path / "out"
    metrics = run_pipeline(ds, SpeedExtractor(), out, detector="gmm", progress=False)
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["config"]["left_out"] == [line]
    said = (f"{line}; the metrics cover the videos present and do not compare with results "
            "on the complete dataset")
    assert said in saved["warnings"] and said in metrics["warnings"]
    assert (out / "report.html").read_text().count(f"Warning:</b> {said}</p>") == 1
    # and beside the numbers (metrics.json's notes, which `mulde run` prints with them): the
    # loader's warning came before minutes of extraction
    note = f"partial evaluation: {line}: the numbers are not the benchmark's"
    assert note in saved["notes"] and note in metrics["notes"]
    whole = run_pipeline(load_dataset("folder", dataset_root), SpeedExtractor(),
                         tmp_path / "whole", detector="gmm", progress=False)
    assert whole["config"]["left_out"] == []
    assert not any(n.startswith("partial evaluation") for n in whole.get("notes", []))


def test_test_videos_of_another_frame_size_are_named_in_one_warning(dataset_root, tmp_path):
    """An object extractor without a scene background scores a test video of another frame
    size (its speeds in pixels do not compare), so the run says so, naming the video and both
    sizes as stored, in the console and the report; a video of twice the size that
    `max_height` brings back to the training size passes."""
    from mulde.pipeline import warn_other_sizes
    from mulde.video.features.registry import build_extractor

    shutil.rmtree(dataset_root / "test" / "b")
    write_square_frames(dataset_root / "test" / "b", np.ones(40), size=(30, 90))
    write_square_frames(dataset_root / "test" / "c", np.ones(40), size=(80, 240))
    write_square_frames(dataset_root / "test" / "e", np.ones(40), size=(60, 120))
    (dataset_root / "labels.csv").write_text("video,start,end\na,15,24\n")
    ds = load_dataset("folder", dataset_root)
    extractor = build_extractor("objects:velocity", settings={"max_height": 40})
    out = tmp_path / "out"
    # e is named by its size as stored (120x60), not as downscaled to max_height (80x40)
    with pytest.warns(UserWarning, match=r"^2 test videos of another frame size than the "
                      r"training videos \(120x40\): b \(90x30\), e \(120x60\); the model "
                      r"works on 120x40 frames \(its training videos downscaled to 40 rows\) "
                      r"and takes video of that aspect ratio at 40 rows or more, downscaled "
                      r"to that size \(e.g. 120x40 or 240x80\), but .* their objects' sizes"):
        metrics = run_pipeline(ds, extractor, out, detector="knn", progress=False)
    assert [w for w in metrics["warnings"] if "b (90x30)" in w]
    assert "b (90x30)" in (out / "report.html").read_text()
    # a scene-free extractor that is not object-centric, or one size everywhere: no warning
    extraction = extract_features(ds, SpeedExtractor(), FeatureCache(tmp_path / "c2"),
                                  progress=False)
    assert warn_other_sizes(ds, extraction) == []


def test_extract_features_draws_its_bar_on_a_terminal_alone_unless_told(dataset_root,
                                                                       monkeypatch):
    """The library's default is the command line's: a progress bar on a terminal, none in
    a log (where its carriage-return updates piled up); progress=True or False as given."""
    import io
    import sys

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    ds = load_dataset("folder", dataset_root)

    def drawn(stderr, **progress):
        monkeypatch.setattr(sys, "stderr", stderr)
        extract_features(ds, SpeedExtractor(), **progress)
        return "features folder" in stderr.getvalue()

    assert not drawn(io.StringIO())  # a log
    assert drawn(Terminal())
    assert drawn(io.StringIO(), progress=True)
    assert not drawn(Terminal(), progress=False)


def test_test_videos_of_one_or_two_frames_are_named_in_one_warning(dataset_root, tmp_path):
    """Motion needs frames to be measured between: a one- or two-frame test video is scored
    as it is (a one-frame clip raised an event), and one line names each such video."""
    from mulde.pipeline import warn_short_test_videos

    ds = load_dataset("folder", dataset_root)
    extraction = extract_features(ds, SpeedExtractor(), progress=False)
    assert warn_short_test_videos(ds, extraction) == []  # 40 frames each: nothing to say
    write_square_frames(dataset_root / "test" / "one", [5.0])
    write_square_frames(dataset_root / "test" / "two", [5.0, 5.0])
    ds = load_dataset("folder", dataset_root)
    extraction = extract_features(ds, SpeedExtractor(), progress=False)
    with pytest.warns(UserWarning, match=r"^2 test videos of fewer than 3 frames: one \(1 "
                      r"frame\), two \(2 frames\); motion is measured between frames, so "
                      r"their scores and events rest on next to nothing: score longer clips$"):
        assert warn_short_test_videos(ds, extraction) == ["one (1 frame)", "two (2 frames)"]
    # a run says it (console, metrics.json, report) and scores them all the same
    with pytest.warns(UserWarning, match="^2 test videos of fewer than 3 frames"):
        metrics = run_pipeline(ds, SpeedExtractor(), tmp_path / "out", detector="knn",
                               progress=False)
    assert [w for w in metrics["warnings"] if w.startswith("2 test videos of fewer than 3")]
    assert {"one", "two"} <= set(metrics["events"])  # scored: their events are listed


def test_cache_is_reused_and_corrupt_videos_are_skipped(dataset_root, tmp_path):
    (dataset_root / "test" / "broken.avi").write_bytes(b"not a video at all")
    ds = load_dataset("folder", dataset_root)
    cache = FeatureCache(tmp_path / "cache")
    ex = SpeedExtractor()
    first = extract_features(ds, ex, cache, progress=False)
    assert first.n_extracted == 5 and [f["video"] for f in first.failed] == ["broken"]
    assert "broken.avi" in first.failed[0]["error"]
    again = extract_features(ds, ex, cache, progress=False)
    assert again.n_cached == 5 and again.n_extracted == 0
    a = first.features["test"]["a"]["velocity"].features
    np.testing.assert_array_equal(again.features["test"]["a"]["velocity"].features, a)


def test_a_corrupt_video_is_named_once_in_plain_words(dataset_root, tmp_path, capsys):
    """A corrupt training and test file (random bytes): each is named in one printed line
    (not also by the loader's probe for labels.csv, nor by the static stream's scene
    background) that says it was skipped and what to do, without FFmpeg's error number, and
    in one warning of the report; the run goes on without them."""
    from mulde.video.features.registry import build_extractor

    rng = np.random.default_rng(1)
    for split in ("train", "test"):
        (dataset_root / split / "broken.mp4").write_bytes(
            rng.integers(0, 256, 3000, dtype=np.uint8).tobytes())
    out = tmp_path / "out"
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        ds = load_dataset("folder", dataset_root)  # labels.csv: the test videos are probed
        metrics = run_pipeline(ds, build_extractor("objects", settings={"blur": 1}), out,
                               detector="knn", progress=False)
    assert not [w for w in shown if "broken" in str(w.message)]
    printed = capsys.readouterr()
    assert "broken" not in printed.out  # a skip is said on stderr, not among the results
    lines = [line for line in printed.err.splitlines() if "broken" in line]
    what = ("cannot read video, the file is damaged, incomplete or not a video; re-encode it "
            "(ffmpeg -i IN OUT.mp4) or remove it (Invalid data found when processing input)")
    skipped = [f"skipped train/broken.mp4: {what}", f"skipped test/broken.mp4: {what}"]
    assert lines == [f"mulde: warning: {line}" for line in skipped]
    assert [w for w in metrics["warnings"] if "broken" in w] == skipped
    html = (out / "report.html").read_text()
    assert html.count("Warning:</b> skipped train/broken.mp4") == 1
    assert html.count("Warning:</b> skipped test/broken.mp4") == 1
    assert "Errno" not in html and sorted(metrics["per_video_auc"]) == ["a", "b"]
    # the AUCs are over 2 of the 3 labelled test videos: said as `mulde evaluate --partial`
    # says it (a note, the headline), not only by the skip warning
    note = ("partial evaluation: 2 of the 3 test videos of the folder data evaluated (1 "
            "skipped, not scored: the report's warnings say which and why): the numbers are "
            "not over all of them")
    assert metrics["notes"][-1] == note  # after the metrics' own (on the macro AUC)
    assert metrics["config"]["videos_without_scores"] == ["broken"]
    assert ("2 labelled test videos, 80 frames, 10 anomalous; <b>partial: 2 of 3 test videos "
            "evaluated: the numbers are not over all of them</b>") in html
    # the title names the extractor as --extractor does, and a setting changed from it
    assert "<h1>MULDE on data with objects (blur changed)</h1>" in html  # the folder's name
    assert "<title>MULDE on data with objects (blur changed)</title>" in html


def test_a_truncated_video_is_skipped_in_one_line_without_a_note_of_its_cut_frame(
        dataset_root, tmp_path, capsys):
    """A training and a test file cut inside a frame's data: the run skips each (its frame
    labels index the whole video) in one line that says how far it decodes and that the cut
    frame was dropped; no timeline note, which read as if the video were used, is said
    beside it. A readable video's timeline notes are still said."""
    from fakes import write_cut_video, write_timed_video

    from mulde.video.decode import FrameTimelineWarning
    from mulde.video.features.registry import build_extractor

    for split in ("train", "test"):
        write_cut_video(dataset_root / split / "cut.avi", 30, 20, size=(40, 120))
    # a camera that dropped frames 20-24: scored, its frames 19 repeated, and said
    write_timed_video(dataset_root / "test" / "gap.mkv", [*range(20), *range(25, 40)],
                      size=(40, 120))
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        metrics = run_pipeline(load_dataset("folder", dataset_root),
                               build_extractor("objects", settings={"blur": 1}),
                               tmp_path / "out", detector="knn", progress=False)
    timeline = [str(w.message) for w in shown if w.category is FrameTimelineWarning]
    assert len(timeline) == 1 and "gap.mkv: 5 frame(s) missing from the timeline" in timeline[0]
    lines = [line for line in capsys.readouterr().err.splitlines() if "cut.avi" in line]
    what = ("truncated or corrupt video, decoded 20 of the 30 frames its container declares "
            "(none after frame 19; the next cut off mid-frame, dropped); if the file was cut "
            "short (a copy or download stopped early), copy it again whole; else re-encode it "
            "(ffmpeg -i IN OUT.mp4) or remove it")
    assert lines == [f"mulde: warning: skipped train/cut.avi: {what}",
                     f"mulde: warning: skipped test/cut.avi: {what}"]
    assert [f["video"] for f in metrics["config"]["skipped_videos"]] == ["cut", "cut"]


def test_the_report_title_names_the_dataset_folder(tmp_path):
    """A user's folder by its name, a benchmark by its name and its folder's when they
    differ."""
    from mulde.datasets.base import Dataset
    from mulde.pipeline import dataset_label

    assert dataset_label(Dataset("folder", tmp_path / "lobby", (), ())) == "lobby"
    assert dataset_label(Dataset("ucsd_ped2", tmp_path / "ucsd_ped2", (), ())) == "ucsd_ped2"
    assert dataset_label(Dataset("ucsd_ped2", tmp_path / "UCSDped2", (), ())
                         ) == "ucsd_ped2 (UCSDped2)"


def test_the_report_title_names_the_extractor_preset(tmp_path):
    """The preset a run's extractor came from, whatever the run filled in (weights, scene,
    a benchmark protocol's velocity bins); else the nearest preset and what differs."""
    from mulde.pipeline import extractor_label
    from mulde.video.features.registry import build_extractor, for_dataset

    detector = build_extractor("objects:detector", weights_path=str(tmp_path / "w.tflite"))
    assert extractor_label(detector) == "objects:detector"
    assert extractor_label(for_dataset("objects:detector", detector, 1)) == "objects:detector"
    assert extractor_label(build_extractor("objects")) == "objects"
    assert extractor_label(build_extractor("objects:ped2")) == "objects:ped2"
    assert extractor_label(build_extractor("objects:ped2", settings={"cell": 24, "blur": 3})
                           ) == "objects:ped2 (cell, blur changed)"
    assert extractor_label(build_extractor("objects:ped2", boxes_dir=str(tmp_path))
                           ) == "objects:ped2 + boxes"
    assert extractor_label(build_extractor("frames:hiera")) == "frames:hiera"
    assert extractor_label(SpeedExtractor()) == "speed"


def test_shards_partition_the_videos_and_fill_one_cache(dataset_root, tmp_path):
    ds = load_dataset("folder", dataset_root)
    cache = FeatureCache(tmp_path / "cache")
    done = [extract_features(ds, SpeedExtractor(), cache, shard_spec=f"{i}/2", progress=False)
            for i in range(2)]
    assert sum(d.n_extracted for d in done) == 5
    assert extract_features(ds, SpeedExtractor(), cache, progress=False).n_cached == 5
    assert shard(range(5), "1/2") == [1, 3]
    with pytest.raises(ValueError, match="i/n"):
        shard(range(5), "2/2")


def test_stale_cache_entries_are_recomputed(dataset_root, tmp_path):
    ds = load_dataset("folder", dataset_root)
    cache = FeatureCache(tmp_path / "cache")
    extract_features(ds, SpeedExtractor(), cache, progress=False)
    # a half-written entry (arrays without sidecar) is not read as complete
    side = next((tmp_path / "cache").rglob("a.*.json"))
    side.unlink()
    # a changed source invalidates its entry through the checksum
    Image.fromarray(np.zeros((40, 120, 3), np.uint8)).save(dataset_root / "test/b/000.png")
    ex = SpeedExtractor()
    again = extract_features(ds, ex, cache, progress=False)
    assert sorted(ex.calls) == ["a", "b"] and again.n_extracted == 2 and again.n_cached == 3


def test_unwritable_output_is_refused_before_any_work(dataset_root, tmp_path):
    import os

    if os.geteuid() == 0:
        blocker = tmp_path / "file"  # root ignores permissions: use a file in the way
        blocker.write_text("x")
        out = blocker / "out"
        said = f"^{blocker}: a file, not a folder; give a folder for the outputs$"
    else:
        out = tmp_path / "ro"
        out.mkdir()
        out.chmod(0o500)
        said = "not writable"
    ex = SpeedExtractor()
    with pytest.raises(OSError, match=said):
        run_pipeline(load_dataset("folder", dataset_root), ex, out, progress=False)
    assert ex.calls == []  # nothing was extracted


def test_a_user_s_files_where_the_model_or_report_go_are_refused_before_any_work(
        dataset_root, tmp_path):
    """out/model holding a user's file was refused only once the features were extracted and
    the models fitted (minutes), and a user's report.html and metrics.json were overwritten
    as "an earlier run's report": both are refused before anything is extracted."""
    from mulde.evaluation import EvaluationError
    from mulde.pipeline import train_pipeline
    from mulde.vad.artifact import ArtifactError

    ds = load_dataset("folder", dataset_root)
    taken = tmp_path / "taken"
    (taken / "model").mkdir(parents=True)
    (taken / "model" / "notes.txt").write_text("mine")
    ex = SpeedExtractor()
    for pipeline in (run_pipeline, train_pipeline):
        with pytest.raises(ArtifactError, match="model: exists and is not a mulde model folder"):
            pipeline(ds, ex, taken, detector="gmm", progress=False)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "report.html").write_text("<p>my report</p>")
    (mine / "metrics.json").write_text("accuracy: 0.9")
    with pytest.raises(EvaluationError, match="metrics.json: not a mulde report's metrics.json"):
        run_pipeline(ds, ex, mine, detector="gmm", progress=False)
    assert ex.calls == []  # nothing was extracted
    assert (taken / "model" / "notes.txt").read_text() == "mine"
    assert (mine / "report.html").read_text() == "<p>my report</p>"
    assert sorted(p.name for p in mine.iterdir()) == ["metrics.json", "report.html"]


def test_a_model_folder_taken_during_the_run_says_the_features_are_kept(dataset_root,
                                                                        tmp_path):
    """A file put into out/model while the run extracts is still refused when the model is
    saved; the error says where the features and fits are kept, and a run given that cache
    reads them back instead of extracting again."""
    from mulde.vad.artifact import ArtifactError

    ds = load_dataset("folder", dataset_root)
    out = tmp_path / "out"

    def meanwhile(*counts):
        (out / "model").mkdir()
        (out / "model" / "notes.txt").write_text("mine")

    with pytest.raises(ArtifactError, match=re.escape(
            f"{out / 'model'}: exists and is not a mulde model folder; give a new or empty "
            f"folder (or a model folder to replace); the extracted features and the fits are "
            f"kept in {out / 'cache'}: --cache {out / 'cache'} reads them back")):
        run_pipeline(ds, SpeedExtractor(), out, detector="gmm", progress=False,
                     extract_note=meanwhile)
    assert (out / "model" / "notes.txt").read_text() == "mine"
    again = SpeedExtractor()
    run_pipeline(ds, again, tmp_path / "next", cache_dir=out / "cache", detector="gmm",
                 progress=False)
    assert again.calls == []  # every feature read back


def test_an_interrupted_rerun_leaves_the_earlier_model_with_its_report(dataset_root,
                                                                         tmp_path,
                                                                         monkeypatch):
    """A newcomer's trial: Ctrl-C while a rerun wrote its report left the new model/ beside
    the earlier run's report. The model is written before the report and put in place with
    it: an interrupt before then leaves the earlier model and report, byte for byte."""
    import mulde.pipeline as pipeline_module

    ds = load_dataset("folder", dataset_root)
    out = tmp_path / "out"
    run_pipeline(ds, SpeedExtractor(), out, detector="gmm", progress=False, seed=1)
    before = {p: p.read_bytes() for p in out.rglob("*")
              if p.is_file() and "cache" not in p.parts}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline_module, "write_report", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(ds, SpeedExtractor(), out, detector="gmm", progress=False, seed=0)
    assert {p: p.read_bytes() for p in out.rglob("*")
            if p.is_file() and "cache" not in p.parts} == before  # no temp folder either
    monkeypatch.undo()
    run_pipeline(ds, SpeedExtractor(), out, detector="gmm", progress=False, seed=0)
    manifest = json.loads((out / "model" / "pipeline.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    assert manifest["ensemble"]["seed"] == metrics["seed"] == 0


def test_training_into_a_run_folder_is_refused_before_any_work(dataset_root, tmp_path,
                                                                capsys):
    """A newcomer's trial: `mulde train --out` of a run's folder replaced the model its report
    was made with. Refused before any extraction, by the library and the CLI alike."""
    from mulde.cli import main
    from mulde.pipeline import train_pipeline
    from mulde.vad.artifact import ArtifactError

    ds = load_dataset("folder", dataset_root)
    out = tmp_path / "run"
    run_pipeline(ds, SpeedExtractor(), out, detector="gmm", progress=False)
    before = (out / "model" / "pipeline.json").read_bytes()
    ex = SpeedExtractor()
    with pytest.raises(ArtifactError, match=f"^{re.escape(str(out))}: holds a mulde run's "
                                            "report .*; training into it would leave that "
                                            "report beside another model"):
        train_pipeline(ds, ex, out, detector="gmm", progress=False)
    assert ex.calls == []
    capsys.readouterr()
    assert main(["train", str(dataset_root / "train"), "--out", str(out)]) == 2
    said = capsys.readouterr()
    assert said.err.startswith(f"mulde: error: {out}: holds a mulde run's report")
    assert said.err.count("\n") == 1 and "note" not in said.err
    assert (out / "model" / "pipeline.json").read_bytes() == before


def test_a_run_into_a_trained_model_s_folder_is_refused_before_any_work(dataset_root,
                                                                          tmp_path, capsys):
    """A newcomer's trial: `mulde run` (and `mulde demo`) into a folder of `mulde train`'s
    model replaced it quietly; the demo also replaced a run's model and report. Refused
    before any extraction; a rerun into a run's own folder still passes."""
    from mulde.cli import main
    from mulde.pipeline import train_pipeline
    from mulde.vad.artifact import ArtifactError

    ds = load_dataset("folder", dataset_root)
    trained = tmp_path / "trained"
    train_pipeline(ds, SpeedExtractor(), trained, detector="gmm", progress=False)
    before = (trained / "model" / "pipeline.json").read_bytes()
    ex = SpeedExtractor()
    with pytest.raises(ArtifactError, match=f"^{re.escape(str(trained))}: holds a model "
                                            "`mulde train` wrote"):
        run_pipeline(ds, ex, trained, detector="gmm", progress=False)
    assert ex.calls == [] and (trained / "model" / "pipeline.json").read_bytes() == before
    run = tmp_path / "run"
    run_pipeline(ds, SpeedExtractor(), run, detector="gmm", progress=False)
    run_pipeline(ds, SpeedExtractor(), run, detector="gmm", progress=False)  # a rerun
    capsys.readouterr()
    for out in (trained, run):  # the demo's scene is another root
        assert main(["demo", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"mulde: error: {out}: holds a model ") and err.count("\n") == 1
    assert not (run / "scene").exists() and not (trained / "scene").exists()


def test_report_draws_a_run_detectors_boxes_with_class_names(dataset_root, tmp_path,
                                                              monkeypatch):
    from mulde.video.detection import DetectionSettings, FrameDetections
    from mulde.video.features import objects as objects_module
    from mulde.video.features.objects import ObjectCentricExtractor

    class BrightSquareDetector:  # a fake detector: the bright square of each frame, a bicycle
        settings, sha256, name = DetectionSettings(), "d" * 64, "bright-square"

        def detect(self, frames):
            out = []
            for f in frames:
                rows, cols = np.nonzero(f[..., 0] > 128)
                box = ([[cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]]
                       if len(rows) else np.zeros((0, 4)))
                out.append(FrameDetections(np.array(box, np.float32).reshape(-1, 4),
                                           np.full(len(box), 2), np.ones(len(box), np.float32)))
            return out

    monkeypatch.setattr(objects_module, "_detector", lambda *a: BrightSquareDetector())
    ds = load_dataset("folder", dataset_root)
    out = tmp_path / "out"
    metrics = run_pipeline(ds, ObjectCentricExtractor(regions="detector", n_bins=1,
                                                      skip_edges=False),
                           out, mulde_params=PARAMS, progress=False)
    snap = metrics["snapshots"]["a"]
    assert snap["detections"] == "bicycle"
    assert (out / "cache" / "folder" / "boxes").is_dir()  # the box cache beside the features
    frame = np.asarray(Image.open(sorted((dataset_root / "test" / "a").iterdir())[
        snap["frame"]]))
    rows, cols = np.nonzero(frame[..., 0] > 128)
    drawn = np.asarray(Image.open(out / "plots" / "snapshot_001_a.png"))
    green = (drawn[..., 1] > 150) & (drawn[..., 0] < 120)
    # the class name is written in green just above the box (the red top-object box covers
    # the green one: the detector's box is the top object here)
    assert green[max(0, rows.min() - 12):rows.min(), cols.min():].any()
    assert not green[rows.max() + 2:].any()


def test_a_video_that_vanished_after_listing_is_skipped_and_named(small_folder, tmp_path):
    dataset = load_dataset("folder", small_folder)
    shutil.rmtree(small_folder / "train" / "t1")
    ex = MeanColour()
    result = extract_features(dataset, ex, FeatureCache(tmp_path / "cache"), progress=False)
    assert sorted(result.features["train"]) == ["t0"] and list(result.features["test"]) == ["a"]
    assert [f["video"] for f in result.failed] == ["t1"]
    assert "t1: no such video file or frame folder" in result.failed[0]["error"]


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> tuple[Path, dict]:
    """Six frame-folder videos (a short first one, then 150-frame ones, 64x48) and the cache an
    uninterrupted in-process extraction writes for them."""
    from mulde.video.features.registry import build_extractor

    base = tmp_path_factory.mktemp("scene")
    root = base / "data"
    for k, (split, name) in enumerate([("train", f"train{i}") for i in range(3)]
                                      + [("test", f"test{i}") for i in range(3)]):
        folder = root / split / name
        folder.mkdir(parents=True)
        for i in range(12 if k == 0 else 150):
            img = np.full((48, 64, 3), 40 + 10 * k, np.uint8)
            x = int(4 + (1.5 + k) * i) % 52
            img[18:30, x:x + 10] = 220
            Image.fromarray(img).save(folder / f"{i:03d}.png")
    reference = base / "reference"
    dataset = load_dataset("folder", root)
    extract_features(dataset, build_extractor("objects"), FeatureCache(reference), progress=False)
    entries, others = cache_entries(reference)
    assert len(entries) == 13 and others == []  # 6 videos x (arrays, sidecar) + the scene
    return root, entries


def test_extraction_killed_with_sigkill_resumes_to_exactly_the_uninterrupted_cache(scene,
                                                                                  tmp_path):
    root, reference = scene
    cache = tmp_path / "cache"
    cmd = _cli("extract", "folder", "--root", str(root), "--cache", str(cache))
    proc = subprocess.Popen(cmd, env=ENV, cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    _kill_when(proc, lambda: any(cache.rglob("*.json")))
    done, others = cache_entries(cache)
    n_done = sum(k.endswith(".json") for k in done)
    assert 1 <= n_done < 6  # killed mid-run
    # what a kill during an array write leaves: a hidden temp file, never a complete entry
    first = sorted(k for k in reference if k.endswith(".npz"))[-1]
    stale = cache / Path(first).parent / f".{Path(first).name}.999999.deadbeef.tmp"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"PK\x03\x04 truncated")
    from mulde.video.features.registry import (
        build_extractor,  # re-run (in-process: no second start-up)
    )

    resumed = extract_features(load_dataset("folder", root), build_extractor("objects"),
                               FeatureCache(cache), progress=False)
    assert (resumed.n_cached, resumed.n_extracted) == (n_done, 6 - n_done)  # nothing redone
    entries, others = cache_entries(cache)
    assert_same_entries(entries, reference)
    assert all(Path(o).name.startswith(".") and o.endswith(".tmp") for o in others), others


def test_two_shards_at_once_fill_one_complete_consistent_cache(scene, tmp_path):
    root, reference = scene
    cache = tmp_path / "cache"
    procs = [subprocess.Popen(_cli("extract", "folder", "--root", str(root), "--cache",
                                   str(cache), "--shard", f"{i}/2"),
                              env=ENV, cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outputs]
    assert all("3 videos extracted" in out for out, _ in outputs)
    entries, others = cache_entries(cache)
    assert others == []
    assert_same_entries(entries, reference)
    from mulde.video.features.registry import (
        build_extractor,  # every entry loads as complete and current
    )

    dataset, cached = load_dataset("folder", root), FeatureCache(cache)
    objects = build_extractor("objects").with_scene(dataset.train, cache / "folder")
    for split, videos in (("train", dataset.train), ("test", dataset.test)):
        for video in videos:
            assert cached.load(dataset.cache_name, split, video, objects) is not None, video.name


def test_event_times_use_a_video_files_frame_rate_and_none_for_frame_folders(tmp_path):
    """A frame folder gets no seconds unless the user gives its rate (--fps); a file keeps
    its own rate whatever is given."""
    from fakes import write_video

    from mulde.pipeline import _frame_rates

    write_square_frames(tmp_path / "train" / "t", np.ones(5))
    write_square_frames(tmp_path / "test" / "folder", np.ones(5))
    write_video(tmp_path / "test" / "clip.avi", 5, fps=12)
    ds = load_dataset("folder", tmp_path)
    assert _frame_rates(ds, {"folder", "clip"}) == {"folder": None, "clip": 12.0}
    assert _frame_rates(ds, {"folder", "clip"}, 10.0) == {"folder": 10.0, "clip": 12.0}


def test_more_calibration_folds_than_readable_training_videos_fall_back_with_a_warning():
    """A fold count the readable training videos cannot fill (a preset's 2 when one of two
    listed videos was skipped) costs folds, never the run: fewer folds, or in-sample
    calibration for a single video, with a warning naming both numbers."""
    from mulde.pipeline import fit_ensemble

    rng = np.random.default_rng(0)

    def video():
        x = rng.normal(size=(40, 2))
        return VideoFeatures.of({Stream.VELOCITY: ObjectFeatures.build(
            x, np.arange(40), np.ones((40, 4)), 40, 2)})

    with pytest.warns(UserWarning, match="2 calibration folds need 2 readable training "
                      "videos, 1 were read: calibrating on the models' own"):
        ens = fit_ensemble({"a": video()}, "gmm", calibration_folds=2, progress=False)
    assert ens.calibration_folds is None
    with pytest.warns(UserWarning, match="3 calibration folds need 3 .* 2 were read: "
                      "calibrating on 2 folds"):
        ens = fit_ensemble({"a": video(), "b": video()}, "gmm", calibration_folds=3,
                           progress=False)
    assert ens.calibration_folds == 2


def test_one_training_video_says_its_calibration_is_in_sample(capsys):
    """"auto" folds with one training video calibrate on its in-sample scores: said on
    stderr (a newcomer's run switched silently); kNN, whose scores are leave-one-video-out
    anyway, says nothing."""
    from mulde.pipeline import fit_ensemble

    rng = np.random.default_rng(0)
    video = VideoFeatures.of({Stream.VELOCITY: ObjectFeatures.build(
        rng.normal(size=(40, 2)), np.arange(40), np.ones((40, 4)), 40, 2)})
    assert fit_ensemble({"a": video}, "gmm", progress=False).calibration_folds is None
    assert ("mulde: note: one readable training video: the calibration and the alert "
            "threshold are set on its in-sample scores") in capsys.readouterr().err
    fit_ensemble({"a": video}, "knn", progress=False)
    assert "in-sample" not in capsys.readouterr().err


def test_the_fit_note_is_printed_once_before_the_model_fits(dataset_root, tmp_path, capsys,
                                                             monkeypatch):
    """`fit_note` (the command line's hint on making the fits faster) is printed once to
    stderr by run and train, after the features and before the first fit."""
    import mulde.pipeline as pipeline
    from mulde.pipeline import train_pipeline

    seen: list[str] = []
    fit = pipeline.StreamEnsemble.fit

    def spy(*args, **kwargs):
        seen.append(capsys.readouterr().err)  # what was printed when the fits start
        return fit(*args, **kwargs)

    monkeypatch.setattr(pipeline.StreamEnsemble, "fit", spy)
    ds = load_dataset("folder", dataset_root)
    note = "mulde: note: the fits take long"
    run_pipeline(ds, SpeedExtractor(), tmp_path / "run", detector="gmm", progress=False,
                 fit_note=note)
    train_pipeline(ds, SpeedExtractor(), tmp_path / "train", detector="gmm", progress=False,
                   fit_note=note)
    assert [s.count(note) for s in seen] == [1, 1]
    assert note not in capsys.readouterr().err  # not again after the fits
    run_pipeline(ds, SpeedExtractor(), tmp_path / "quiet", detector="gmm", progress=False)
    assert seen[-1].strip() == ""  # no note given: nothing printed


def test_held_back_warnings_reach_the_error_even_when_ignored_or_repeated():
    """The scene background's skipped videos are held back for the error that follows; under
    -W ignore, or when the same text was warned before in the process, they were lost and
    the error said no more than "no readable training video" (a test failed on that)."""
    import warnings

    from mulde.video.features.objects import SceneBackgroundWarning

    def warn() -> None:
        warnings.warn("left out: train/broken.avi", SceneBackgroundWarning, stacklevel=1)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(2):
            with held_warnings(SceneBackgroundWarning) as held:
                warn()
            assert [str(w) for w in held] == ["left out: train/broken.avi"]


def test_the_scratch_folder_of_a_run_without_a_cache_is_removed_at_exit(monkeypatch):
    """Without a cache the scene background goes to a temporary folder; the process's exit
    removes it (it used to stay in the temp directory after every such run)."""
    import mulde.pipeline

    at_exit = []
    monkeypatch.setattr(mulde.pipeline.atexit, "register",
                        lambda f, *a, **k: at_exit.append((f, a, k)))
    folder = mulde.pipeline.scratch_folder()
    (folder / "scene_background.png").write_bytes(b"png")
    assert folder.is_dir() and folder.name.startswith("mulde_scene_") and len(at_exit) == 1
    f, args, kwargs = at_exit[0]
    f(*args, **kwargs)
    assert not folder.exists()


def test_test_videos_at_another_frame_rate_are_named_in_one_warning(tmp_path):
    """Speeds are per frame, so a test video file at another rate than the training files is
    named with both rates (a newcomer's 8 frames/s copy of normal video raised an alert); a
    frame folder records no rate and training files at several rates (several cameras) leave
    nothing to compare with."""
    from mulde.pipeline import Extraction, warn_other_rates

    root = tmp_path / "data"
    for name in ("t0", "t1"):
        write_video(root / "train" / f"{name}.mp4", 4, fps=25)
    write_video(root / "test" / "same.mp4", 4, fps=25)
    write_video(root / "test" / "slow.mp4", 4, fps=8)
    write_frames(root / "test" / "frames", 4)
    ds = load_dataset("folder", root)
    scored = {"train": {"t0": None, "t1": None},
              "test": {"same": None, "slow": None, "frames": None}}
    with pytest.warns(UserWarning) as shown:
        assert warn_other_rates(ds, Extraction(features=scored)) == ["slow (8 frames/s)"]
    assert [str(w.message) for w in shown] == [
        "1 test video at another frame rate than the training videos (25 frames/s): slow (8 "
        "frames/s); speeds and time windows are counted in frames, so they do not compare "
        "with the training ones and normal motion can look anomalous: score video at the "
        "training rate, or train on such video"]
    # a test video that was not scored (skipped) is not named
    assert warn_other_rates(ds, Extraction(features={**scored, "test": {"same": None}})) == []
    # no trained file that states a rate: nothing to compare with
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert warn_other_rates(ds, Extraction(features={**scored, "train": {}})) == []


def test_a_test_video_at_none_of_several_training_rates_is_named(tmp_path):
    """Training files at 25 and 30 frames/s (two cameras): a 10 frames/s test video is named
    with all the training rates (`mulde run` said nothing where `mulde watch` of the same
    file warned, a newcomer's trial); test videos at either rate, or within 1 % of one
    (29.97), and a frame folder are not."""
    from fractions import Fraction

    from mulde.pipeline import Extraction, warn_other_rates

    root = tmp_path / "data"
    write_video(root / "train" / "day.mp4", 4, fps=25)
    write_video(root / "train" / "other_camera.mp4", 4, fps=30)
    write_frames(root / "train" / "frames", 4)
    for name, fps in (("same", 25), ("ntsc", Fraction(30000, 1001)), ("thirty", 30),
                      ("slow", 10)):
        write_video(root / "test" / f"{name}.mp4", 4, fps=fps)
    write_frames(root / "test" / "frames", 4)
    ds = load_dataset("folder", root)
    scored = {"train": {"day": None, "other_camera": None, "frames": None},
              "test": {n: None for n in ("same", "ntsc", "thirty", "slow", "frames")}}
    with pytest.warns(UserWarning) as shown:
        assert warn_other_rates(ds, Extraction(features=scored)) == ["slow (10 frames/s)"]
    assert [str(w.message) for w in shown] == [
        "1 test video at another frame rate than any of the training videos (25, 30 frames/s): "
        "slow (10 frames/s); speeds and time windows are counted in frames, so they do not "
        "compare with the training ones and normal motion can look anomalous: score video at "
        "the training rate, or train on such video"]
    # only the trained files count: without the 30 frames/s one, 30 is another rate
    with pytest.warns(UserWarning, match=r"3 test videos .* than the training videos \(25 "):
        assert warn_other_rates(ds, Extraction(features={**scored, "train": {"day": None}})) \
            == ["ntsc (29.97 frames/s)", "slow (10 frames/s)", "thirty (30 frames/s)"]


def test_a_model_records_each_training_rate_once(tmp_path):
    """`mulde watch` compares a source with every rate the trained video files state: each
    distinct rate once (within 1 %), ascending; frame folders and untrained files add none."""
    from mulde.pipeline import _training_rates

    root = tmp_path / "data"
    for name, fps in (("a", 30), ("b", 25), ("c", 25), ("skipped", 8)):
        write_video(root / "train" / f"{name}.mp4", 4, fps=fps)
    write_frames(root / "train" / "frames", 4)
    write_video(root / "test" / "t.mp4", 4, fps=25)
    ds = load_dataset("folder", root)
    assert _training_rates(ds, {"a": None, "b": None, "c": None, "frames": None}) == [25.0, 30.0]
    assert _training_rates(ds, {"frames": None}) == []


def test_training_videos_at_several_rates_are_warned_of_and_timed_by_their_mean(tmp_path):
    """Training files at 10 and 25 frames/s: one warning names both rates, and the model's
    rate is their frames over their seconds (what the threshold's events per hour need),
    whatever order the names give (the first video's rate made 20 s last 14 s or 35 s, a
    newcomer's trial); one rate, or frame folders only: None (the first video's, as before)."""
    from types import SimpleNamespace

    from mulde.pipeline import _mixed_training_rate

    root = tmp_path / "data"
    write_video(root / "train" / "a_slow.mp4", 10, fps=10)
    write_video(root / "train" / "day.mp4", 25, fps=25)
    write_frames(root / "train" / "frames", 7)  # states no rate: left out of the mean
    write_video(root / "test" / "t.mp4", 4, fps=25)
    ds = load_dataset("folder", root)
    train = {n: SimpleNamespace(n_frames=k) for n, k in (("a_slow", 10), ("day", 25),
                                                       ("frames", 7))}
    with pytest.warns(UserWarning) as shown:
        assert _mixed_training_rate(ds, train) == pytest.approx(35 / 2.0)
    assert [str(w.message) for w in shown] == [
        "the training videos run at 2 frame rates (10, 25 frames/s): speeds and time windows "
        "are counted in frames, so the same motion differs between them; train on video of "
        "one rate (re-encode it) unless these are cameras that differ. The alert threshold "
        "and its patience use their mean rate, 17.5 frames/s (35 frames in 2.0 s of the 2 "
        "files that state a rate; the 7 frames of 1 frame folder that states none are timed "
        "at it too: 2 s in all)"]
    # the frame folder, left out of the mean, is said with the length of all the training
    # video at it, as the threshold counts it (42 frames: 2.4 s; a newcomer read 46 s here
    # and 52 s in the threshold's warning); without one, the files' frames and seconds alone
    with pytest.warns(UserWarning) as shown:
        _mixed_training_rate(ds, {"a_slow": train["a_slow"], "day": train["day"]})
    assert str(shown[0].message).endswith("use their mean rate, 17.5 frames/s (35 frames in "
                                          "2.0 s)")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _mixed_training_rate(ds, {"day": train["day"], "frames": train["frames"]}) is None
        assert _mixed_training_rate(ds, {"frames": train["frames"]}) is None


def test_a_test_video_copied_from_training_is_named_in_one_warning(tmp_path):
    """A scored test file with a training file's bytes is named with its twin; a file of
    the same size but other bytes, a skipped copy and frame folders are not."""
    import shutil
    import warnings

    from mulde.pipeline import Extraction, warn_training_copies

    root = tmp_path / "videos"
    write_video(root / "train" / "t0.mp4", 4, fps=25)
    write_video(root / "train" / "t1.mp4", 6, fps=25)
    write_frames(root / "train" / "f0", 4)
    (root / "test").mkdir()
    shutil.copy(root / "train" / "t1.mp4", root / "test" / "copy.mp4")
    shutil.copy(root / "train" / "t1.mp4", root / "test" / "skipped.mp4")
    other = bytearray((root / "train" / "t0.mp4").read_bytes())
    other[-1] ^= 1  # same size, other bytes
    (root / "test" / "edited.mp4").write_bytes(bytes(other))
    write_frames(root / "test" / "f1", 4)
    shutil.copytree(root / "train" / "f0", root / "test" / "f0copy")
    ds = load_dataset("folder", root)
    scored = {"train": {"t0": None, "t1": None, "f0": None},
              "test": {"copy": None, "edited": None, "f1": None, "f0copy": None}}
    with pytest.warns(UserWarning) as shown:
        assert warn_training_copies(ds, Extraction(features=scored)) == [
            "test/copy.mp4 (= train/t1.mp4)"]
    assert [str(w.message) for w in shown] == [
        "1 test video is a copy of a training video: test/copy.mp4 (= train/t1.mp4); its "
        "scores measure what the model remembers, not detection in unseen video: take it out "
        "of the test videos (or the training ones)"]
    scored["test"]["skipped"] = None
    with pytest.warns(UserWarning, match=r"^2 test videos are copies of training videos: "
                      r"test/copy.mp4 \(= train/t1.mp4\), test/skipped.mp4 \(= train/t1.mp4\); "
                      r"their scores .* take them out"):
        warn_training_copies(ds, Extraction(features=scored))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # t1 not trained on (skipped): no twin to name
        assert warn_training_copies(ds, Extraction(features={**scored, "train": {"t0": None}})
                                    ) == []


def test_a_training_video_copied_from_another_is_named_in_one_warning(tmp_path):
    """A training file trained on with the bytes of an earlier one is named with it (three
    copies: the later two, each with the first); a file of the same size but other bytes, a
    copy not trained on (skipped) and a copied frame folder are not."""
    import shutil
    import warnings

    from mulde.pipeline import Extraction, warn_repeated_training_videos

    root = tmp_path / "videos"
    train = root / "train"
    write_video(train / "a.mp4", 6, fps=25)
    write_video(train / "b.mp4", 4, fps=25)
    for name in ("c.mp4", "d.mp4", "skipped.mp4"):
        shutil.copy(train / "a.mp4", train / name)
    other = bytearray((train / "b.mp4").read_bytes())
    other[-1] ^= 1  # same size, other bytes
    (train / "edited.mp4").write_bytes(bytes(other))
    write_frames(train / "f0", 4)
    shutil.copytree(train / "f0", train / "f1")
    write_video(root / "test" / "t.mp4", 4, fps=25)
    ds = load_dataset("folder", root)
    trained = {"train": {name: None for name in ("a", "b", "c", "d", "edited", "f0", "f1")}}
    with pytest.warns(UserWarning) as shown:
        assert warn_repeated_training_videos(ds, Extraction(features=trained)) == [
            "train/c.mp4 (= train/a.mp4)", "train/d.mp4 (= train/a.mp4)"]
    assert [str(w.message) for w in shown] == [
        "2 training videos are copies of another: train/c.mp4 (= train/a.mp4), train/d.mp4 "
        "(= train/a.mp4); their frames are trained on again, as if that footage were more "
        "common: keep one copy"]
    del trained["train"]["d"]
    with pytest.warns(UserWarning, match=r"^1 training video is a copy of another: "
                      r"train/c.mp4 \(= train/a.mp4\); its frames"):
        warn_repeated_training_videos(ds, Extraction(features=trained))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a skipped (not trained on): c has no twin to name
        del trained["train"]["a"]
        assert warn_repeated_training_videos(ds, Extraction(features=trained)) == []


def test_a_rerun_reads_its_finished_model_fits_back(dataset_root, tmp_path, capsys):
    """The fits are most of a run: a rerun on the same cache reads each finished fit back
    (fits/ in the cache), says so, and reports exactly what the first run did."""
    ds = load_dataset("folder", dataset_root)
    QUICK = {**PARAMS, "max_steps": 30}  # what is read back, not how well: short fits
    cache = tmp_path / "cache"
    first = run_pipeline(ds, SpeedExtractor(), tmp_path / "a", cache_dir=cache,
                         mulde_params=QUICK, progress=False)
    assert first["config"]["fits_reused"] == 0
    assert len(list((cache / "fits").glob("*.json"))) == 4  # the model and 3 refits
    capsys.readouterr()
    note = "mulde: note: the fits take long"
    second = run_pipeline(ds, SpeedExtractor(), tmp_path / "b", cache_dir=cache,
                          mulde_params=QUICK, progress=False, fit_note=note)
    assert second["config"]["fits_reused"] == 4
    said = capsys.readouterr().err
    assert re.search(rf"all 4 model fits were finished by an earlier run: read back from "
                     rf"{re.escape(str(cache))}/fits, not run again \(it holds \d+\.\d MB of "
                     r"fits; those no run used for 7 days go once a run's fits are done; "
                     r"delete it to reclaim them all\)", said)
    assert note not in said  # nothing is fitted: no hint on fitting faster
    for key in ("micro_auc", "macro_auc", "threshold"):
        assert second[key] == first[key]
    files = [json.loads((tmp_path / run / "model" / "pipeline.json").read_text())["files"]
             for run in ("a", "b")]
    assert files[0] == files[1]  # the same model files, byte for byte, from another process
    sorted((cache / "fits").glob("*.json"))[0].unlink()  # one fit lost: it runs again
    third = run_pipeline(ds, SpeedExtractor(), tmp_path / "b2", cache_dir=cache,
                         mulde_params=QUICK, progress=False, fit_note=note)
    said = capsys.readouterr().err
    assert third["config"]["fits_reused"] == 3 and third["micro_auc"] == first["micro_auc"]
    assert note in said
    assert "\nmulde: note: 3 of 4 model fits were finished by an earlier run" in said
    assert "could not be read back" not in said
    model = next(p for p in (cache / "fits").glob("*.safetensors")
                 if not p.name.endswith(".scores.safetensors"))
    model.write_bytes(b"damaged")  # its JSON entry is whole: counted, then fitted again
    fourth = run_pipeline(ds, SpeedExtractor(), tmp_path / "b3", cache_dir=cache,
                          mulde_params=QUICK, progress=False)
    said = capsys.readouterr().err
    assert fourth["config"]["fits_reused"] == 3 and fourth["micro_auc"] == first["micro_auc"]
    assert "all 4 model fits were finished" in said
    assert ("\nmulde: note: 1 of the fits found could not be read back (damaged files) and "
            "was fitted again" in said)
    other = run_pipeline(ds, SpeedExtractor(), tmp_path / "c", cache_dir=cache,
                         mulde_params={**QUICK, "max_steps": 20}, progress=False)
    assert other["config"]["fits_reused"] == 0  # another setting: other fits


def test_test_frames_below_the_calibration_are_warned_per_stream():
    """The pipeline counts each stream's calibrated test frames below 0 over every test video
    and hands them, with the training frames the calibration saw, to the shared rule; the
    frames of an empty scene (only the whole-frame object: 100 such frames of the learned
    scene made every stream of a newcomer's run warn) are counted apart, among the test
    frames and among the training frames of the rate expected (39 training frames, 5 of
    them an empty scene: about 1 in 35, not 1 in 40)."""
    from types import SimpleNamespace

    from mulde.pipeline import warn_test_frames_below_calibration
    from mulde.vad.ensemble import VideoScores
    from mulde.vad.fusion import CalibrationWarning
    from mulde.video.features import ObjectFeatures, VideoFeatures
    from mulde.video.features.records import frames_with_objects

    fit = SimpleNamespace(model=SimpleNamespace(), dim=8, train_objects=30,
                          train_frames=[np.zeros(20), np.zeros(19)])
    ensemble = SimpleNamespace(fits_={Stream.VELOCITY: fit, Stream.STATIC: fit},
                               calibration_folds=2)
    scores = {name: VideoScores(np.zeros(len(v)), {Stream.VELOCITY: np.array(v),
                                                   Stream.STATIC: np.ones(len(v))}, None)
              for name, v in (("a", [-1.0, -0.5, 0.2]), ("b", [-0.1, 0.0]))}

    def objects(boxes):  # one object per frame, in a 40 x 30 frame
        return ObjectFeatures.build(np.zeros((len(boxes), 1)), range(len(boxes)), boxes,
                                    len(boxes), 1)

    person, whole = (5, 5, 9, 20), (0, 0, 40, 30)
    people = {name: VideoFeatures.of({s: objects([person] * len(v.fused))
                                      for s in (Stream.VELOCITY, Stream.STATIC)})
              for name, v in scores.items()}
    train = {name: VideoFeatures.of({s: objects([whole] * empty + [person] * (n - empty))
                                     for s in (Stream.VELOCITY, Stream.STATIC)})
             for name, n, empty in (("t0", 20, 5), ("t1", 19, 0))}
    trained = frames_with_objects(train.values())  # as the model records them
    with pytest.warns(CalibrationWarning, match=r"^stream velocity: 60% of the 5 test frames "
                      r"score .*expected about 1 in 35\)"):
        assert warn_test_frames_below_calibration(ensemble, scores, people, trained) == [
            "velocity (60% of 5 frames)"]
    # a's first two frames are the empty scene: of the 3 frames with objects one is below 0
    empty = dict(people, a=VideoFeatures.of({s: objects([whole, whole, person])
                                             for s in (Stream.VELOCITY, Stream.STATIC)}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert warn_test_frames_below_calibration(ensemble, scores, empty, trained) == []


def test_a_resumed_runs_timings_say_they_are_its_own_and_what_it_read_back(dataset_root,
                                                                             tmp_path):
    """A run resumed after an interruption recorded only the resumed invocation's seconds, as
    if they were the whole run's: its timings say they are this invocation's and name what
    was read back from the cache, in metrics.json and the report."""
    ds = load_dataset("folder", dataset_root)
    cache = tmp_path / "cache"
    first = run_pipeline(ds, SpeedExtractor(), tmp_path / "a", cache_dir=cache,
                         detector="gmm", progress=False)
    assert "timings_note" not in first  # everything computed now
    sidecar = next((cache / ds.cache_name / "test").glob("a.*.json"))
    sidecar.unlink()  # video a's features were not finished: extracted again
    second = run_pipeline(ds, SpeedExtractor(), tmp_path / "b", cache_dir=cache,
                          detector="gmm", progress=False)
    saved = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert saved["config"]["fits_reused"] == 4 and saved["config"]["videos_cached"] == 4
    assert saved["timings_note"] == second["timings_note"] == (
        "seconds of this invocation only: the features of 4 of 5 videos and 4 model fits were "
        "read back from the cache, finished by an earlier run (an interrupted one this run "
        "resumes, or another on the same cache), whose seconds are not counted; the "
        "extraction stages' seconds cover the 1 extracted now (40 frames)")
    assert '"timings_note": "seconds of this invocation only' in (
        tmp_path / "b" / "report.html").read_text()


def test_a_run_counts_the_training_frames_with_objects_once(dataset_root, tmp_path,
                                                            monkeypatch):
    """The training frames with objects of their own were counted for the test frames'
    calibration warning and again for the model: once now, the model's count serving the
    warning (the same count: the model's is what `mulde watch` warns against)."""
    import mulde.pipeline
    import mulde.vad.artifact
    from mulde.video.features.records import frames_with_objects

    counted, given = [], []

    def counting(videos):
        counted.append(1)
        return frames_with_objects(videos)

    def warn(ensemble, counts, trained, what):
        given.append(trained)
        return []

    for module in (mulde.pipeline, mulde.vad.artifact):  # wherever it is called from
        monkeypatch.setattr(module, "frames_with_objects", counting, raising=False)
    monkeypatch.setattr(mulde.pipeline, "warn_below_calibration", warn)
    run_pipeline(load_dataset("folder", dataset_root), SpeedExtractor(), tmp_path / "out",
                 detector="knn", progress=False)
    manifest = json.loads((tmp_path / "out" / "model" / "pipeline.json").read_text())
    assert len(counted) == 1
    assert given == [manifest["training"]["frames_with_objects"]] == [{"velocity": 120}]


def test_fit_ensemble_draws_its_bars_on_a_terminal_alone_unless_told(monkeypatch):
    """progress None (the library's default): bars only where stderr is a terminal, as the
    extraction's, so a library run in a log does not fill it; True or False as told."""
    import mulde.pipeline as pipeline

    seen = []

    class Recording:
        def __init__(self, detector, seed, params, progress, *args, **kwargs):
            seen.append(progress)
            raise RuntimeError("stop")

    monkeypatch.setattr(pipeline, "StreamEnsemble", Recording)
    train = {"a": None}
    for told, terminal, expected in ((None, False, False), (None, True, True),
                                     (True, False, True), (False, True, False)):
        monkeypatch.setattr(pipeline.sys.stderr, "isatty", lambda t=terminal: t)
        with pytest.raises(RuntimeError, match="stop"):
            pipeline.fit_ensemble(train, detector="knn", progress=told, calibration_folds=None)
        assert seen[-1] is expected


def test_a_rerun_from_the_cache_reports_the_videos_warnings_as_the_first_run(dataset_root,
                                                                          tmp_path):
    """A newcomer's rerun (features read from the cache) dropped a video's timeline note
    from stderr and from metrics.json's warnings, so the regenerated report lost it: the
    entries keep them, and a rerun says and reports the same ones (a file cut short too)."""
    from fakes import write_cut_matroska, write_timed_video

    from mulde.video.features.registry import build_extractor

    write_timed_video(dataset_root / "test" / "gap.mkv", [*range(20), *range(25, 40)],
                      size=(40, 120))
    write_cut_matroska(dataset_root / "test" / "cut.mkv", 100, 60, size=(40, 120))
    said, reported = [], []
    for _ in range(2):
        with warnings.catch_warnings(record=True) as shown:
            warnings.simplefilter("always")
            metrics = run_pipeline(load_dataset("folder", dataset_root),
                                   build_extractor("objects", settings={"blur": 1}),
                                   tmp_path / "out", detector="knn", progress=False)
        said.append([(w.category.__name__, str(w.message)) for w in shown
                     if "gap.mkv" in str(w.message) or "cut.mkv" in str(w.message)])
        reported.append([w for w in metrics["warnings"] if ".mkv" in w])
    assert metrics["config"]["videos_cached"] == 7 and metrics["config"]["videos_extracted"] == 0
    assert said[1] == said[0] and [c for c, _ in said[0]] == ["CutShortWarning",
                                                              "FrameTimelineWarning"]
    assert reported[1] == reported[0] == [t for _, t in said[0]]
