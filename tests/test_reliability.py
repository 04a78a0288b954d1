"""Reliability (issue 6): bad input gets a clear error, faults lose nothing and work resumes.

docs/reliability.md maps every input to its behaviour and test; the cases already covered by
the other test files are referenced there, not repeated here. The fault tests run the real
command line in subprocesses and kill them with SIGKILL.
"""

from __future__ import annotations

import errno
import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import namedtuple
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from fakes import REPO, cell, savemat, write_frames, write_video
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from mulde import MULDE
from mulde.cli import main
from mulde.datasets import DatasetError, load_dataset, ubnormal, ucf_crime, ucsd
from mulde.estimator.persistence import ModelFileError
from mulde.io.atomic import MIN_FREE_BYTES, ensure_writable, write_json
from mulde.io.features import FeatureFileError, check_features, read_features, write_scores
from mulde.pipeline import extract_features, run_pipeline
from mulde.vad.fusion import Calibration, FusionError
from mulde.video.cache import FeatureCache, shard
from mulde.video.decode import iter_frames, probe
from mulde.video.features import ObjectFeatures, Stream, VideoFeatures
from mulde.video.features.base import SceneFree
from mulde.video.source import Video, VideoReadError, source_checksum

SMALL = (16, 16)
FAST = {"hidden_sizes": (16, 16), "max_steps": 40, "batch_size": 64, "random_state": 0,
        "device": "cpu"}
ENV = os.environ | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                    "PYTHONPATH": os.pathsep.join([str(REPO / "src"),
                                                   os.environ.get("PYTHONPATH", "")])}


@dataclass(frozen=True)
class MeanColour(SceneFree):
    """A tiny extractor: one object per frame, its mean RGB colour; records what it extracted."""

    name: str = "mean_colour"
    version: str = "1"
    calls: list = field(default_factory=list, compare=False)

    @property
    def params(self) -> dict:
        return {}

    def extract(self, video: Video, timings=None) -> VideoFeatures:
        self.calls.append(video.name)
        feats = np.array([f.reshape(-1, 3).mean(axis=0) for f in video.frames()], np.float32)
        n = len(feats)
        return VideoFeatures({Stream.APPEARANCE: ObjectFeatures(feats, np.arange(n), n)}, n)


@pytest.fixture(scope="module")
def unit_model() -> MULDE:
    return MULDE(**FAST).fit(np.random.default_rng(4).standard_normal((200, 3)))


@pytest.fixture
def small_folder(tmp_path) -> Path:
    root = tmp_path / "data"
    for split, name, n in (("train", "t0", 4), ("train", "t1", 5), ("test", "a", 6)):
        write_frames(root / split / name, n, size=SMALL)
    return root


# ================================================================ features


def test_huge_magnitudes_give_finite_scores_and_keep_the_ranking():
    base = np.random.default_rng(0).standard_normal((300, 3))
    model = MULDE(**FAST).fit(base * 1e30)
    far = np.array([[8.0, 8.0, 8.0]]) * 1e30
    scores = model.anomaly_score(np.vstack([base * 1e30, far]))
    assert np.isfinite(scores).all()
    assert scores[-1] > np.median(scores[:-1])
    unit = MULDE(**FAST).fit(base)  # a 1e30 input to a unit-scale model: still finite
    assert np.isfinite(unit.anomaly_score(np.full((2, 3), 1e30))).all()


def test_scores_beyond_the_float32_range_are_finite_or_refused_naming_rows():
    # the branch taken: refused, naming the rows (1e39 standardised does not fit in float32)
    base = np.random.default_rng(1).standard_normal((200, 3))
    model = MULDE(**FAST | {"aggregator": "mean_z"}).fit(base)
    inputs = np.vstack([base[:3], np.full((2, 3), 1e39)])
    with pytest.raises(ValueError, match=r"2 row\(s\) lie beyond the float32 range .*rows 3, 4;"):
        model.anomaly_score(inputs)
    assert np.isfinite(model.anomaly_score(inputs[:3])).all()


def test_fit_on_magnitudes_near_the_float64_limit_ranks_or_refuses():
    # the branch taken: fitted (the column statistics are computed without overflow) and
    # ranking as the unit-scale data does
    base = np.random.default_rng(2).standard_normal((200, 3))
    model = MULDE(**FAST).fit(base * 1e200)
    np.testing.assert_allclose(model.mean_ / 1e200, base.mean(axis=0), rtol=1e-9)
    np.testing.assert_allclose(model.scale_ / 1e200, base.std(axis=0, ddof=1), rtol=1e-9)
    scores = model.anomaly_score(np.vstack([base, [[8.0, 8.0, 8.0]]]) * 1e200)
    assert np.isfinite(scores).all() and scores[-1] > scores[:-1].max()


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.int16, np.uint8, np.bool_])
def test_feature_dtypes_are_read_as_float64_and_score_like_float64(tmp_path, dtype,
                                                                   unit_model):
    X = (np.random.default_rng(3).standard_normal((50, 3)) * 4).astype(dtype)
    np.save(tmp_path / "x.npy", X)
    got = read_features(tmp_path / "x.npy")
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, X.astype(np.float64))
    np.testing.assert_array_equal(unit_model.score_samples(X),
                                  unit_model.score_samples(X.astype(float)))


def test_complex_features_are_refused_not_silently_truncated(tmp_path):
    np.save(tmp_path / "c.npy", np.ones((3, 2)) * (1 + 2j))
    with pytest.raises(FeatureFileError, match="c.npy: .*complex"):
        read_features(tmp_path / "c.npy")


def test_a_csv_first_row_with_a_typo_is_an_error_not_a_header(tmp_path):
    (tmp_path / "x.csv").write_text("1.0,2.O,3.0\n4,5,6\n")
    with pytest.raises(FeatureFileError, match=r"x.csv: line 1, column 2: '2.O' is not a number"):
        read_features(tmp_path / "x.csv")
    (tmp_path / "h.csv").write_text("speed,size,angle\n4,5,6\n")
    np.testing.assert_array_equal(read_features(tmp_path / "h.csv"), [[4, 5, 6]])


FINITE = st.floats(allow_nan=False, allow_infinity=False)  # the whole float64 range
MATRICES = arrays(np.float64, st.tuples(st.integers(1, 12), st.integers(1, 5)), elements=FINITE)


def _write(path: Path, X: np.ndarray) -> Path:
    if path.suffix == ".npy":
        np.save(path, X)
    elif path.suffix == ".npz":
        np.savez(path, X=X, other=np.zeros(1))
    else:
        header = ",".join(f"f{j}" for j in range(X.shape[1]))
        np.savetxt(path, X, delimiter=",", fmt="%.17g", header=header, comments="")
    return path


@given(MATRICES)
@settings(max_examples=40, deadline=None)
def test_feature_readers_round_trip_any_finite_float64_matrix(X):
    with tempfile.TemporaryDirectory() as d:
        for name in ("x.npy", "x.npz", "x.csv"):
            got = read_features(_write(Path(d) / name, X))
            assert got.dtype == np.float64 and got.shape == X.shape
            np.testing.assert_array_equal(got, X, err_msg=name)


@given(MATRICES, st.data())
@settings(max_examples=40, deadline=None)
def test_feature_readers_refuse_any_non_finite_value_naming_its_rows(X, data):
    n, d = X.shape
    cells = data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, d - 1)),
                               min_size=1, max_size=4))
    X = X.copy()
    for i, j in cells:
        X[i, j] = data.draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    rows = sorted({i for i, _ in cells})
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("x.npy", "x.npz", "x.csv"):
            path = _write(Path(tmp) / name, X)
            with pytest.raises(FeatureFileError) as raised:
                read_features(path)
            message = str(raised.value)
            assert name in message and f"{len(rows)} row(s)" in message
            assert f"rows {', '.join(map(str, rows[:5]))}" in message


@given(arrays(np.float64, st.integers(1, 30), elements=FINITE))
@settings(max_examples=30, deadline=None)
def test_written_scores_read_back_exactly(scores):
    with tempfile.TemporaryDirectory() as d:
        np.testing.assert_array_equal(np.load(write_scores(Path(d) / "s.npy", scores)), scores)
        back = read_features(write_scores(Path(d) / "s.csv", scores))
        np.testing.assert_array_equal(back[:, 0], scores)


@given(st.sampled_from([np.int8, np.int64, np.uint16, np.float16, np.float32, np.bool_]),
       st.data())
@settings(max_examples=30, deadline=None)
def test_check_features_equals_a_float64_cast_for_any_real_dtype(dtype, data):
    width = {np.float16: 16, np.float32: 32}.get(dtype)
    elements = None if width is None else st.floats(width=width, allow_nan=False,
                                                    allow_infinity=False)
    X = data.draw(arrays(dtype, st.tuples(st.integers(1, 8), st.integers(1, 4)),
                         elements=elements))
    out = check_features(X)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, X.astype(np.float64))


@given(st.lists(st.floats(-1e9, 1e9), min_size=2, max_size=200),
       st.lists(st.floats(-1e10, 1e10), min_size=1, max_size=20))
@settings(max_examples=50, deadline=None)
def test_calibration_is_monotone_and_maps_min_to_0_and_percentile_to_1(train, test):
    try:
        cal = Calibration.fit(train)
    except FusionError:
        assume(False)  # constant up to the percentile: refused, tested in test_protocol
    ordered = np.sort(test)
    assert np.all(np.diff(cal.transform(ordered)) >= 0)
    assert cal.transform(min(train)) == 0.0
    assert cal.transform(cal.high) == pytest.approx(1.0)
    assert cal.transform(train).min() == 0.0


def test_calibration_of_a_subnormal_spread_is_refused_or_finite():
    # the branch taken: refused (a spread below rounding would map scores to inf), while a
    # spread just above the rounding threshold is finite
    with pytest.raises(FusionError, match="constant up to the 99.9th percentile"):
        Calibration.fit([0.0, 2.2250738585e-313])
    cal = Calibration.fit([0.0, 1e-11], percentile=100)
    assert cal.transform([1e-11]) == 1.0 and np.isfinite(cal.transform([1.0])).all()


@given(st.integers(0, 60), st.integers(1, 9))
def test_shards_partition_the_videos(n_items, n_shards):
    items = list(range(n_items))
    parts = [shard(items, f"{i}/{n_shards}") for i in range(n_shards)]
    assert sorted(x for p in parts for x in p) == items
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


# ================================================================ videos


def test_frame_folder_junk_files_are_ignored_and_do_not_invalidate_the_cache(tmp_path):
    folder = write_frames(tmp_path / "v", 5, size=SMALL, suffix=".jpg")
    before = source_checksum(folder)
    (folder / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0junk")
    (folder / "desktop.ini").write_text("[.ShellClassInfo]\n")
    (folder / "readme.txt").write_text("frames of camera 1")
    assert probe(folder).n_frames == 5 and len(list(iter_frames(folder))) == 5
    assert source_checksum(folder) == before
    (folder / "005.jpg").write_text("a text file with an image suffix")
    with pytest.raises(VideoReadError, match="005.jpg: cannot read image"):
        list(iter_frames(folder))


def test_a_video_that_vanished_after_listing_is_skipped_and_named(small_folder, tmp_path):
    dataset = load_dataset("folder", small_folder)
    shutil.rmtree(small_folder / "train" / "t1")
    ex = MeanColour()
    result = extract_features(dataset, ex, FeatureCache(tmp_path / "cache"), progress=False)
    assert sorted(result.features["train"]) == ["t0"] and list(result.features["test"]) == ["a"]
    assert [f["video"] for f in result.failed] == ["t1"]
    assert "t1: no such video file or frame folder" in result.failed[0]["error"]


def test_permission_denied_video_is_a_read_error_naming_it(tmp_path, monkeypatch):
    # what FFmpeg reports for a file without read permission (EACCES) to a non-root user,
    # simulated so that it runs as root too (root reads files whatever their permissions)
    import av

    video = write_video(tmp_path / "locked.avi", 3, size=SMALL)

    def denied(path, *args, **kwargs):
        raise av.error.PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(av, "open", denied)
    with pytest.raises(VideoReadError, match="locked.avi: cannot read video"):
        probe(video)
    with pytest.raises(VideoReadError, match="locked.avi"):
        list(iter_frames(video))


def test_unlistable_frame_folder_is_a_read_error_naming_it(tmp_path, monkeypatch):
    # what a folder without read permission does for a non-root user, simulated for root
    folder = write_frames(tmp_path / "locked", 3, size=SMALL)
    import mulde.video.decode as decode

    def denied(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(decode.os, "scandir", denied)
    with pytest.raises(VideoReadError, match="locked: cannot list the frame folder"):
        decode.list_frame_files(folder)


def test_non_ascii_and_colliding_names_get_their_own_cache_entries(tmp_path):
    root = tmp_path / "data"
    write_frames(root / "train" / "vidéo 1", 3, size=SMALL)
    write_frames(root / "train" / "vidéo_1", 4, size=SMALL)  # 'a b' and 'a_b': one safe name
    write_frames(root / "test" / "測試", 2, size=SMALL)
    dataset = load_dataset("folder", root)
    cache = FeatureCache(tmp_path / "cache")
    first = extract_features(dataset, MeanColour(), cache, progress=False)
    ex = MeanColour()
    again = extract_features(dataset, ex, cache, progress=False)
    assert ex.calls == [] and again.n_cached == 3
    lengths = {name: vf.n_frames for name, vf in again.features["train"].items()}
    assert lengths == {"vidéo 1": 3, "vidéo_1": 4}
    assert again.features["test"]["測試"].n_frames == first.features["test"]["測試"].n_frames
    assert len(list((tmp_path / "cache").rglob("*.json"))) == 3


# ================================================================ ground truth


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[90:5]", "line 2: range 90..5 ends before it starts"),
        ("[0:5]", r"line 2: frame 0 in range 0..5 \(frames count from 1\)"),
        ("[-5:10]", "line 2: bad frame range text '-'"),
        ("[5:x]", "line 2: bad frame range text ':x'"),
    ],
)
def test_ucsd_m_malformed_ranges_name_file_and_line(tmp_path, body, message):
    path = tmp_path / "UCSDped2.m"
    path.write_text(f"TestVideoFile{{end+1}}.gt_frame = [1:3];\n"
                    f"TestVideoFile{{end+1}}.gt_frame = {body};\n")
    with pytest.raises(DatasetError, match=f"UCSDped2.m, {message}"):
        ucsd.parse_gt_m(path)


@pytest.mark.parametrize(
    ("element", "message"),
    [
        (np.array([[5], [2]]), r"gt\{2\}: range 5..2 ends before it starts"),
        (np.array([[0], [3]]), r"gt\{2\}: frame 0 in range 0..3"),
        (np.array([[-4], [3]]), r"gt\{2\}: frame -4"),
        (np.array([[1.5], [3.0]]), r"gt\{2\} holds frame numbers that are not whole"),
        (np.array(["61:180"]), r"gt\{2\} must hold frame numbers, got dtype <U6"),
    ],
)
def test_ucsd_mat_malformed_ranges_name_file_and_element(tmp_path, element, message):
    path = savemat(tmp_path / "ped2.mat", {"gt": cell([np.array([[1], [2]]), element])})
    with pytest.raises(DatasetError, match=f"ped2.mat: {message}"):
        ucsd.read_gt(path)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("2,-3,5", "line 2, field start: negative frame -3"),
        ("2,9,4", "line 2, field end: end 4 is before start 9"),
        ("2,x,4", "line 2, field start: not a whole number"),
    ],
)
def test_ubnormal_malformed_tracks_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "v_tracks.txt"
    path.write_text(f"1,0,2\n{line}\n")
    with pytest.raises(DatasetError, match=f"v_tracks.txt, {message}"):
        ubnormal.parse_tracks(path)


def test_ubnormal_track_beyond_the_video_names_the_file(tmp_path):
    path = tmp_path / "v_tracks.txt"
    path.write_text("1,2,9\n")
    with pytest.raises(DatasetError, match="v_tracks.txt: range 2..9 lies outside the 5 frames"):
        ubnormal.read_labels(path, 5)


def test_ucf_crime_range_starting_after_the_video_names_file_and_video(tmp_path):
    write_video(tmp_path / "Abuse" / "Abuse001_x264.mp4", 4, size=SMALL)
    (tmp_path / ucf_crime.ANNOTATION_NAME).write_text("Abuse001_x264.mp4 Abuse 6 9 -1 -1\n")
    with pytest.raises(DatasetError, match=r"Annotation_for_Testing_Videos.txt \(Abuse001_x264"
                       r".mp4\): range 6..9 starts after the video's last frame 4"):
        load_dataset("ucf_crime", tmp_path)


def _ucsd_without_gt(root: Path) -> tuple[str, dict, str]:
    write_frames(root / "UCSDped2" / "Train" / "Train001", 3, size=SMALL)
    write_frames(root / "UCSDped2" / "Test" / "Test001", 3, size=SMALL)
    return "ucsd_ped2", {}, "ground truth not found .*UCSDped2.m"


def _avenue_without_mask_file(root: Path) -> tuple[str, dict, str]:
    write_video(root / "training_videos" / "01.avi", 3, size=SMALL)
    for name in ("01", "02"):
        write_video(root / "testing_videos" / f"{name}.avi", 3, size=SMALL)
    savemat(root / "testing_label_mask" / "1_label.mat", {"volLabel": cell([np.zeros((2, 2))])})
    return "avenue", {}, "testing_label_mask: no ground truth for test videos 02"


def _shanghaitech_without_masks(root: Path) -> tuple[str, dict, str]:
    write_video(root / "training" / "videos" / "01_001.avi", 3, size=SMALL)
    write_frames(root / "testing" / "frames" / "01_0014", 3, size=SMALL)
    return "shanghaitech", {}, r"ground truth not found \(looked for .*test_frame_mask"


def _ubnormal_without_tracks(root: Path) -> tuple[str, dict, str]:
    for name in ("normal_scene_1_scenario_1", "abnormal_scene_1_scenario_2"):
        write_video(root / "Scene1" / f"{name}.mp4", 3, size=SMALL)
    lists = {"normal_training": "normal_scene_1_scenario_1", "normal_test": "",
             "abnormal_test": "abnormal_scene_1_scenario_2"}
    for key, names in lists.items():
        (root / f"{key}_video_names.txt").write_text(names)
    return "ubnormal", {}, r"no ground truth \(_tracks.txt\) for abnormal_scene_1_scenario_2"


def _ucf_crime_without_annotation(root: Path) -> tuple[str, dict, str]:
    write_video(root / "Abuse" / "Abuse001_x264.mp4", 3, size=SMALL)
    return "ucf_crime", {}, (r"Temporal_Anomaly_Annotation_for_Testing_Videos.txt \(the "
                             r"official .*\) not found")


def _folder_with_missing_labels_file(root: Path) -> tuple[str, dict, str]:
    write_frames(root / "test" / "a", 3, size=SMALL)
    return "folder", {"labels": root / "gone.csv"}, "gone.csv: file not found"


@pytest.mark.parametrize("build", [_ucsd_without_gt, _avenue_without_mask_file,
                                   _shanghaitech_without_masks, _ubnormal_without_tracks,
                                   _ucf_crime_without_annotation,
                                   _folder_with_missing_labels_file])
def test_missing_ground_truth_is_an_error_naming_what_is_missing(tmp_path, build):
    name, options, message = build(tmp_path)
    with pytest.raises(DatasetError, match=message):
        load_dataset(name, tmp_path, **options)


# ================================================================ models


class _Payload:
    """Unpickling this object creates `marker` (it runs `open(marker, 'w')`)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


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


@pytest.mark.parametrize("damage", ["pickle", "truncated", "bad sidecar"])
def test_a_damaged_cache_entry_is_recomputed_never_unpickled(small_folder, tmp_path, damage):
    dataset = load_dataset("folder", small_folder)
    cache = FeatureCache(tmp_path / "cache")
    extract_features(dataset, MeanColour(), cache, progress=False)
    npz = next((tmp_path / "cache").rglob("a.*.npz"))
    marker = tmp_path / "executed"
    if damage == "pickle":
        with open(npz, "wb") as fh:
            np.savez(fh, **{"colour/features": np.array([_Payload(marker)], dtype=object)})
    elif damage == "truncated":  # e.g. an interrupted copy of the cache folder
        npz.write_bytes(npz.read_bytes()[:100])
    else:
        side = npz.with_suffix(".json")
        side.write_text(json.dumps(json.loads(side.read_text()) | {"n_frames": None}))
    ex = MeanColour()
    again = extract_features(dataset, ex, cache, progress=False)
    assert ex.calls == ["a"] and again.features["test"]["a"].n_frames == 6
    assert not marker.exists()


def test_no_code_path_unpickles_except_behind_the_trust_flag():
    import inspect

    from mulde.video.features.aivad import read_aivad_features

    risky = re.compile(r"allow_pickle\s*=\s*True|\bpickle\.loads?\(|\btorch\.load\("
                       r"(?![^)]*weights_only\s*=\s*True)")
    hits = sorted(p.relative_to(REPO / "src").as_posix()
                  for p in (REPO / "src" / "mulde").rglob("*.py") if risky.search(p.read_text()))
    assert hits == ["mulde/video/features/aivad.py"]
    assert inspect.signature(read_aivad_features).parameters["trust_pickle"].default is False


def test_a_tampered_config_cannot_make_loading_allocate_a_huge_network(tmp_path, unit_model):
    from safetensors import safe_open
    from safetensors.numpy import save_file

    path = unit_model.save(tmp_path / "m.safetensors")
    with safe_open(str(path), framework="numpy") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    params = json.loads(meta["params"]) | {"hidden_sizes": [2**20, 2**20]}  # 4 TB of weights
    save_file(tensors, str(path), metadata=meta | {"params": json.dumps(params)})
    start = time.perf_counter()
    with pytest.raises(ModelFileError, match="m.safetensors: inconsistent"):
        MULDE.load(path)
    assert time.perf_counter() - start < 5


# ================================================================ faults: disk and folders


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_disk_full_during_an_atomic_write_leaves_nothing_and_names_the_path(tmp_path,
                                                                           monkeypatch):
    old = write_json(tmp_path / "old.json", {"v": 1})
    real = Path.write_bytes

    def half_then_full(self, data):
        real(self, data[: len(data) // 2])
        _enospc()

    monkeypatch.setattr(Path, "write_bytes", half_then_full)
    for target in (tmp_path / "new.json", old):
        with pytest.raises(OSError, match=f"cannot write {re.escape(str(target))}") as raised:
            write_json(target, {"v": 2, "pad": "x" * 1000})
        assert raised.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.json"]
    assert json.loads(old.read_text()) == {"v": 1}


def test_disk_full_while_caching_leaves_no_entry_and_the_next_run_completes(small_folder,
                                                                           tmp_path,
                                                                           monkeypatch):
    dataset = load_dataset("folder", small_folder)
    cache = FeatureCache(tmp_path / "cache")

    def partial(fh, **arrays):
        fh.write(b"PK\x03\x04 half a zip")
        _enospc()

    monkeypatch.setattr(np, "savez_compressed", partial)
    with pytest.raises(OSError, match=r"cannot write .*t0\.mean_colour-\w+\.npz") as raised:
        extract_features(dataset, MeanColour(), cache, progress=False)
    assert raised.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert [p for p in (tmp_path / "cache").rglob("*") if p.is_file()] == []
    ex = MeanColour()
    assert extract_features(dataset, ex, cache, progress=False).n_extracted == 3
    assert ex.calls == ["t0", "t1", "a"]


def _disk_with(monkeypatch, free: int) -> None:
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**12, 10**12 - free, free))


def test_low_free_space_is_refused_before_any_work(small_folder, tmp_path, monkeypatch):
    _disk_with(monkeypatch, 10_000_000)
    dataset = load_dataset("folder", small_folder)
    ex = MeanColour()
    message = (rf"{re.escape(str(tmp_path / 'cache'))}: only 10,000,000 bytes \(10.0 MB\) free, "
               rf"but at least {MIN_FREE_BYTES:,} bytes \(100 MB\) are needed")
    with pytest.raises(OSError, match=message) as raised:
        extract_features(dataset, ex, FeatureCache(tmp_path / "cache"), progress=False)
    assert raised.value.errno == errno.ENOSPC
    with pytest.raises(OSError, match="only 10,000,000 bytes"):
        run_pipeline(dataset, ex, tmp_path / "out", progress=False)
    assert ex.calls == []
    assert ensure_writable(tmp_path / "x", min_free=5_000_000) == tmp_path / "x"
    monkeypatch.setenv("MULDE_MIN_FREE_MB", "0")  # the override: no space check
    assert extract_features(dataset, ex, FeatureCache(tmp_path / "cache"),
                            progress=False).n_extracted == 3


def test_cli_fit_refuses_a_full_or_unwritable_output_before_training(tmp_path, monkeypatch,
                                                                    capsys):
    np.save(tmp_path / "x.npy", np.random.default_rng(5).standard_normal((50, 2)))
    params = json.dumps({"hidden_sizes": [8], "max_steps": 100000})  # would take minutes
    _disk_with(monkeypatch, 1_000)
    start = time.perf_counter()
    assert main(["fit", str(tmp_path / "x.npy"), "--out", str(tmp_path / "m.safetensors"),
                 "--params", params, "--quiet"]) == 2
    assert time.perf_counter() - start < 5 and not (tmp_path / "m.safetensors").exists()
    assert "only 1,000 bytes" in capsys.readouterr().err
    monkeypatch.undo()
    blocker = tmp_path / "file"
    blocker.write_text("x")  # a file where the output folder should be
    assert main(["fit", str(tmp_path / "x.npy"), "--out", str(blocker / "m.safetensors"),
                 "--params", params, "--quiet"]) == 2
    assert "file: a file, not a folder; give a folder for the outputs" in \
        capsys.readouterr().err


# ================================================================ faults: killed processes


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "mulde.cli", *args]


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 60.0) -> None:
    """SIGKILL proc as soon as ready() holds; fail if proc ends first."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"the process ended (rc {proc.returncode}) before it could be killed")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("timed out waiting for the process")
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL


def _entries(root: Path) -> tuple[dict[str, object], list[str]]:
    """Complete cache entries {relative path: sidecar dict or arrays} and every other file."""
    entries: dict[str, object] = {}
    others = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if path.suffix == ".json" and not path.name.startswith("."):
            entries[rel] = json.loads(path.read_text())
        elif path.name.startswith("scene_background.") and path.suffix == ".png":
            entries[rel] = path.read_bytes()  # the static stream's scene, shared by the entries
        elif path.suffix == ".npz" and path.with_suffix(".json").exists():
            with np.load(path, allow_pickle=False) as data:
                entries[rel] = {k: data[k] for k in data.files}
        else:
            others.append(rel)
    return entries, others


def _assert_same_entries(got: dict, expected: dict) -> None:
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        if key.endswith((".json", ".png")):
            assert got[key] == value, key
        else:
            assert sorted(got[key]) == sorted(value), key
            for name, array in value.items():
                np.testing.assert_array_equal(got[key][name], array, err_msg=f"{key} {name}")


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
    entries, others = _entries(reference)
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
    done, others = _entries(cache)
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
    entries, others = _entries(cache)
    _assert_same_entries(entries, reference)
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
    entries, others = _entries(cache)
    assert others == []
    _assert_same_entries(entries, reference)
    from mulde.video.features.registry import (
        build_extractor,  # every entry loads as complete and current
    )

    dataset, cached = load_dataset("folder", root), FeatureCache(cache)
    objects = build_extractor("objects").with_scene(dataset.train, cache / "folder")
    for split, videos in (("train", dataset.train), ("test", dataset.test)):
        for video in videos:
            assert cached.load("folder", split, video, objects) is not None, video.name


def test_training_killed_with_sigkill_resumes_from_its_checkpoint(tmp_path):
    from safetensors import safe_open

    from mulde.core.training import CHECKPOINT_NAME

    X = np.random.default_rng(6).standard_normal((400, 4))
    np.save(tmp_path / "x.npy", X)
    params = {"hidden_sizes": [8], "max_steps": 800, "batch_size": 32, "patience": None}
    checkpoint = tmp_path / "ckpt"
    out = tmp_path / "m.safetensors"
    cmd = _cli("fit", str(tmp_path / "x.npy"), "--out", str(out), "--device", "cpu", "--quiet",
               "--seed", "0", "--params", json.dumps(params | {"checkpoint_dir": str(checkpoint)}))
    proc = subprocess.Popen(cmd, env=ENV, cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    _kill_when(proc, (checkpoint / CHECKPOINT_NAME).exists)  # written after step 500 of 800
    assert not out.exists()
    with safe_open(str(checkpoint / CHECKPOINT_NAME), framework="pt") as f:
        assert json.loads(f.metadata()["state"])["step"] == 500
    # resume as `mulde fit` would (in-process: no second start-up), then an uninterrupted run
    model = MULDE.from_preset("default", random_state=0, device="cpu", verbose=False,
                              **params | {"checkpoint_dir": str(checkpoint)}).fit(X)
    assert model.train_result_.steps == 800
    assert [h["step"] for h in model.train_result_.history] == list(range(100, 801, 100))
    reference = MULDE.from_preset("default", random_state=0, device="cpu", **params).fit(X)
    for (name, a), b in zip(reference.network_.state_dict().items(),
                            model.network_.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    np.testing.assert_array_equal(model.score_samples(X), reference.score_samples(X))
