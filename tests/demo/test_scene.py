"""The synthetic surveillance scene: layout, labels, ground truth, rendering, determinism."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import av
import numpy as np
import pytest

import mulde.demo.scene as scene_module
from mulde.datasets import folder
from mulde.datasets.labels import labels_to_ranges
from mulde.demo.scene import FAST_FACTOR, TEST_PLANS, generate_scene

N_FRAMES = 120


def _decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def _rows(root: Path) -> list[dict[str, str]]:
    with open(root / "labels.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = generate_scene(tmp_path_factory.mktemp("scene") / "demo", seed=0)
    return root, json.loads((root / "scene.json").read_text())


def test_layout_and_label_csv(scene: tuple[Path, dict]) -> None:
    root, meta = scene
    assert sorted(p.name for p in (root / "train").iterdir()) == [
        f"train_{k:02d}.mp4" for k in range(1, 5)]
    tests = sorted(p.stem for p in (root / "test").iterdir())
    assert tests == [f"test_{k:02d}" for k in range(1, 5)]
    assert (root / "labels.csv").read_text().splitlines()[0] == "video,start,end"
    rows = _rows(root)
    by_video: dict[str, list[tuple[int, int]]] = {}
    for row in rows:
        start, end = int(row["start"]), int(row["end"])
        assert row["video"] in tests
        assert 0 <= start <= end < N_FRAMES
        by_video.setdefault(row["video"], []).append((start, end))
    for ranges in by_video.values():  # sorted, disjoint, not touching (merged)
        assert all(a[1] + 1 < b[0] for a, b in zip(ranges, ranges[1:], strict=False))
    # plans: two events, one, none (the padded-macro-AUC case), two
    assert [len(TEST_PLANS[k]) for k in range(4)] == [2, 1, 0, 2]
    assert "test_03" not in by_video
    for name in ("test_01", "test_02", "test_04"):
        n_anomalous = sum(b - a + 1 for a, b in by_video[name])
        assert 0.15 * N_FRAMES < n_anomalous < 0.85 * N_FRAMES  # events and normal stretches
        assert by_video[name][0][0] > 0  # each video starts normal
    assert {v["name"]: v["anomalous_intervals"] for v in meta["videos"]
            if v["split"] == "test" and v["anomalous_intervals"]} == {
        k: [list(r) for r in v] for k, v in by_video.items()}


def test_the_folder_loader_reads_it(scene: tuple[Path, dict]) -> None:
    root, meta = scene
    dataset = folder.load(root)
    assert [v.name for v in dataset.train] == [f"train_{k:02d}" for k in range(1, 5)]
    truth = {v["name"]: v["anomalous_intervals"] for v in meta["videos"] if v["split"] == "test"}
    assert [v.name for v in dataset.test] == sorted(truth)
    for video in dataset.test:
        assert video.labels is not None and len(video.labels) == N_FRAMES
        assert [list(r) for r in labels_to_ranges(video.labels)] == truth[video.name]
    assert not dataset.test[2].labels.any()  # test_03: normal throughout


def test_videos_read_back(scene: tuple[Path, dict]) -> None:
    root, meta = scene
    for video in meta["videos"]:
        with av.open(str(root / video["file"])) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name in {"h264", "mpeg4"}
            assert float(stream.average_rate) == meta["config"]["fps"] == 10
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        assert len(frames) == N_FRAMES == video["n_frames"]
        assert frames[0].shape == (160, 240, 3) and frames[0].dtype == np.uint8


def test_train_has_only_normal_behaviour(scene: tuple[Path, dict]) -> None:
    _, meta = scene
    train = [v for v in meta["videos"] if v["split"] == "train"]
    assert len(train) == 4
    for video in train:
        assert video["plan"] == [] and video["anomalous_intervals"] == []
        assert video["tracks"] and all(t["anomaly"] is None for t in video["tracks"])
        assert {t["kind"] for t in video["tracks"]} == {"walker"}
        assert {t["path"] for t in video["tracks"]} <= {"A", "B"}


def test_labels_are_the_union_of_anomalous_tracks(scene: tuple[Path, dict]) -> None:
    _, meta = scene
    wanted = {"fast": "fast", "wrong_way": "wrong_way", "vehicle": "object", "bag": "object"}
    for k, video in enumerate(v for v in meta["videos"] if v["split"] == "test"):
        anomalous = [t for t in video["tracks"] if t["anomaly"] is not None]
        assert sorted(t["anomaly"] for t in anomalous) == sorted(wanted[e] for e in TEST_PLANS[k])
        flags = np.zeros(N_FRAMES, bool)
        for t in anomalous:
            flags[t["start"]:t["end"] + 1] = True
            assert len(t["box"]) == len(t["world_xz"]) == t["end"] - t["start"] + 1
            for x0, y0, x1, y1 in t["box"]:  # visible: overlaps the image by >= 2x2 px
                assert min(x1, 240) - max(x0, 0) >= 2 and min(y1, 160) - max(y0, 0) >= 2
        assert [list(r) for r in labels_to_ranges(flags)] == video["anomalous_intervals"]


def _step_lengths(track: dict) -> np.ndarray:
    return np.linalg.norm(np.diff(np.asarray(track["world_xz"]), axis=0), axis=1)


def test_fast_mover_is_at_least_three_times_normal_speed(scene: tuple[Path, dict]) -> None:
    _, meta = scene
    tracks = [t for v in meta["videos"] for t in v["tracks"]]
    normal = np.concatenate([_step_lengths(t) for t in tracks if t["kind"] == "walker"])
    fast = [t for t in tracks if t["anomaly"] == "fast"]
    assert len(fast) == 2  # test_01 and test_04
    median = np.median(normal)
    assert 1.1 / 10 < median < 1.6 / 10  # m per frame at 10 fps: walking speed
    for t in fast:
        assert t["kind"] in {"runner", "cyclist"}
        assert np.median(_step_lengths(t)) >= 3 * median
        assert np.median(_step_lengths(t)) <= FAST_FACTOR[1] * 1.6 / 10


def test_directions_and_perspective(scene: tuple[Path, dict]) -> None:
    _, meta = scene
    tracks = [t for v in meta["videos"] for t in v["tracks"] if t["kind"] != "bag"]
    for t in tracks:
        xz = np.asarray(t["world_xz"])
        if len(xz) < 2 or t["path"] == "lawn":
            continue
        axis = 0 if t["path"] == "A" else 1  # A is walked towards +X, B towards +Z
        sign = np.sign(xz[-1, axis] - xz[0, axis])
        assert sign == (-1 if t["anomaly"] == "wrong_way" else 1)
    assert any(t["anomaly"] == "wrong_way" for t in tracks)
    # perspective: on walkway B, a walker high in the image (far) is drawn smaller and moves
    # fewer pixels per frame than near the bottom
    b = max((t for t in tracks if t["path"] == "B" and t["kind"] == "walker"),
            key=lambda t: np.ptp(np.asarray(t["foot_xy"])[:, 1]))
    foot, box = np.asarray(b["foot_xy"]), np.asarray(b["box"])
    height = box[:, 3] - box[:, 1]
    near, far = np.argmax(foot[:, 1]), np.argmin(foot[:, 1])
    assert foot[near, 1] - foot[far, 1] > 40
    assert height[far] < 0.8 * height[near]
    speed = np.linalg.norm(np.diff(foot, axis=0), axis=1)
    assert speed[min(far, len(speed) - 1)] < 0.8 * speed[min(near, len(speed) - 1)]


def test_objects_are_drawn_where_the_ground_truth_says(scene: tuple[Path, dict]) -> None:
    root, meta = scene
    background = np.median(_decode(root / "train" / "train_01.mp4")[::4], axis=0)
    for video in (v for v in meta["videos"] if v["anomalous_intervals"]):
        frames = _decode(root / video["file"]).astype(np.float32)
        for t in (t for t in video["tracks"] if t["anomaly"] is not None):
            k = (t["end"] - t["start"]) // 2
            x0, y0, x1, y1 = (int(round(v)) for v in t["box"][k])
            x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, 240), min(y1, 160)
            diff = np.abs(frames[t["start"] + k] - background)
            assert diff[y0:y1, x0:x1].mean() > 12, (video["name"], t["kind"])
    # an empty stretch of lawn differs from the background only by noise, flicker, coding
    frames = _decode(root / "test" / "test_03.mp4").astype(np.float32)
    assert np.abs(frames[:, 130:158, 5:60] - background[130:158, 5:60]).mean() < 6
    brightness = frames.mean(axis=(1, 2, 3))  # flicker: mild but present
    assert 0.2 < np.ptp(brightness) < 12


@pytest.mark.parametrize("codec", ["default", "mpeg4"])
def test_same_seed_same_output_other_seed_other_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, codec: str
) -> None:
    if codec != "default":  # the fallback encoder where PyAV lacks libx264
        monkeypatch.setattr(scene_module, "video_codec", lambda: codec)
    kwargs = {"n_train": 1, "n_test": 1, "n_frames": 30, "size": (96, 64)}
    rels = ("train/train_01.mp4", "test/test_01.mp4")
    decoded = {}
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        root = generate_scene(tmp_path / name, seed=seed, **kwargs)
        # decoding between encodes once exposed x264 output varying from run to run
        decoded[name] = [_decode(root / rel) for rel in rels]
    a, b = tmp_path / "a", tmp_path / "b"
    assert (a / "labels.csv").read_bytes() == (b / "labels.csv").read_bytes()
    assert (a / "scene.json").read_bytes() == (b / "scene.json").read_bytes()
    for fa, fb, fc in zip(decoded["a"], decoded["b"], decoded["c"], strict=True):
        assert fa.shape == (30, 64, 96, 3)
        np.testing.assert_array_equal(fa, fb)
        assert np.abs(fa.astype(int) - fc).mean() > 1
    with av.open(str(a / rels[0])) as container:
        expected = {"default": {"h264", "mpeg4"}, "mpeg4": {"mpeg4"}}[codec]
        assert container.streams.video[0].codec_context.name in expected


def test_regenerating_with_fewer_videos_removes_stale_ones(tmp_path: Path) -> None:
    kwargs = {"n_frames": 12, "size": (96, 64)}
    root = generate_scene(tmp_path, n_train=2, n_test=2, **kwargs)
    generate_scene(tmp_path, n_train=1, n_test=1, **kwargs)
    assert sorted(p.name for p in (root / "train").iterdir()) == ["train_01.mp4"]
    assert sorted(p.name for p in (root / "test").iterdir()) == ["test_01.mp4"]
    assert not list(root.rglob(".*.tmp"))


def test_a_folder_of_a_user_s_files_is_refused_before_anything_is_written(
        tmp_path: Path) -> None:
    """A newcomer's trial: `mulde demo --out DIR` overwrote DIR/scene/labels.csv of theirs and
    took their train/holiday.mp4 for a training video. A folder holding anything but an
    earlier scene is refused in one line, its files as they were; an earlier scene (and a
    killed writer's temp file in it) is regenerated."""
    kwargs = {"n_frames": 12, "size": (96, 64), "n_train": 1, "n_test": 1}
    mine = tmp_path / "mine"
    (mine / "train").mkdir(parents=True)
    (mine / "labels.csv").write_text("mine")
    (mine / "train" / "holiday.mp4").write_text("my video")
    with pytest.raises(ValueError, match=f"^{mine / 'labels.csv'}: in a folder without the "
                                         "demo's scene.json, so not an earlier demo's; writing "
                                         "the scene would overwrite it"):
        generate_scene(mine, **kwargs)
    assert (mine / "labels.csv").read_text() == "mine" and not (mine / "scene.json").exists()
    root = generate_scene(tmp_path / "demo", **kwargs)
    (root / "test" / ".test_01.mp4.12.0a1b2c3d.tmp").write_text("half")  # a killed write's
    generate_scene(root, **kwargs)
    (root / "train" / "holiday.mp4").write_text("my video")
    with pytest.raises(ValueError, match="holiday.mp4: not a file of the demo's scene"):
        generate_scene(root, **kwargs)
    assert (root / "train" / "holiday.mp4").read_text() == "my video"
    (tmp_path / "afile").write_text("mine")
    with pytest.raises(ValueError, match="afile: a file, not a folder"):
        generate_scene(tmp_path / "afile", **kwargs)


def test_a_scene_file_edited_since_the_demo_wrote_it_is_refused(tmp_path: Path) -> None:
    """The demo rewrote a user's edited labels.csv (and a replaced test video) of its own
    scene without a word (a newcomer's trial): a scene file whose SHA-256 is not the one
    written beside it is refused in one line, the file as it was; the scene as written, or
    with a file deleted, is regenerated."""
    kwargs = {"n_frames": 12, "size": (96, 64), "n_train": 1, "n_test": 1}
    root = generate_scene(tmp_path / "demo", **kwargs)
    generate_scene(root, **kwargs)  # unchanged: written again
    (root / "test" / "test_01.mp4").unlink()
    generate_scene(root, **kwargs)  # a file gone: written again
    labels = root / "labels.csv"
    labels.write_text(labels.read_text() + "test_01,0,3\n")
    edited = labels.read_text()
    with pytest.raises(ValueError, match=f"^{labels}: changed since the demo wrote it; "
                                         "writing the scene would overwrite your changes"):
        generate_scene(root, **kwargs)
    assert labels.read_text() == edited


@pytest.mark.parametrize("size", [(241, 160), (240, 161), (32, 32)])
def test_bad_size_is_rejected(tmp_path: Path, size: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="size"):
        generate_scene(tmp_path, size=size)
