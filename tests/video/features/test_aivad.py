"""The AI-VAD per-frame object feature reader, on small generated files and the released file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fakes import data_dir
from hypothesis import given, settings
from hypothesis import strategies as st

from mulde.io.features import FeatureFileError
from mulde.video.features.aivad import (
    ObjectFeatures,
    UntrustedPickleError,
    frames_to_objects,
    read_aivad_features,
)


def object_array(entries: list[np.ndarray]) -> np.ndarray:
    """A 1-D object array with the given per-frame entries (as AI-VAD stores them)."""
    out = np.empty(len(entries), dtype=object)
    for i, e in enumerate(entries):
        out[i] = e
    return out


def save(tmp_path: Path, entries: list[np.ndarray], name: str = "pose.npy") -> Path:
    path = tmp_path / name
    np.save(path, object_array(entries), allow_pickle=True)
    return path


FRAMES = [
    np.arange(8, dtype=np.float64).reshape(2, 4),  # frame 0: two objects
    np.zeros(0),  # frame 1: empty, stored as (0,) like the released Ped2 file
    np.full((1, 4), 7.5),  # frame 2: one object
    np.zeros((0, 4)),  # frame 3: empty, stored as (0, d)
    -np.ones((3, 4), dtype=np.float32),  # frame 4: three objects
]


def test_round_trip(tmp_path):
    rec = read_aivad_features(save(tmp_path, FRAMES), trust_pickle=True)
    assert rec.features.dtype == np.float32 and rec.features.shape == (6, 4)
    np.testing.assert_array_equal(rec.features, np.concatenate([FRAMES[0], FRAMES[2], FRAMES[4]]))
    np.testing.assert_array_equal(rec.frame_index, [0, 0, 2, 4, 4, 4])
    assert rec.n_frames == 5 and rec.n_objects == 6 and rec.dim == 4
    np.testing.assert_array_equal(rec.objects_per_frame(), [2, 0, 1, 0, 3])
    np.testing.assert_array_equal(rec.empty_frames(), [1, 3])


def test_trailing_empty_frames_are_counted(tmp_path):
    rec = read_aivad_features(save(tmp_path, [np.ones((1, 2)), np.zeros(0), np.zeros(0)]),
                              trust_pickle=True)
    assert rec.n_frames == 3
    np.testing.assert_array_equal(rec.empty_frames(), [1, 2])


def test_refuses_pickle_without_trust_flag(tmp_path):
    path = save(tmp_path, FRAMES)
    with pytest.raises(UntrustedPickleError) as err:
        read_aivad_features(path)
    message = str(err.value)
    assert str(path) in message and "trust_pickle=True" in message
    assert "arbitrary code" in message


def test_refuses_a_raw_pickle_even_when_trusted(tmp_path):
    path = tmp_path / "pose.npy"
    path.write_bytes(b"\x80\x04N.")  # pickle of None: never handed to np.load
    with pytest.raises(FeatureFileError, match="not a NumPy .npy file"):
        read_aivad_features(path, trust_pickle=True)


def test_missing_file(tmp_path):
    with pytest.raises(FeatureFileError, match="no such file"):
        read_aivad_features(tmp_path / "absent.npy", trust_pickle=True)


def test_numeric_array_is_not_the_format(tmp_path):
    path = tmp_path / "plain.npy"
    np.save(path, np.ones((3, 4)))
    with pytest.raises(FeatureFileError, match="object array"):
        read_aivad_features(path)


def test_ragged_dimension_names_the_frame(tmp_path):
    path = save(tmp_path, [np.ones((2, 34)), np.zeros(0), np.ones((1, 33))])
    with pytest.raises(FeatureFileError, match=r"frame 2 has objects of dimension 33.* 34"):
        read_aivad_features(path, trust_pickle=True)


def test_empty_entry_of_another_width_is_an_error():
    with pytest.raises(FeatureFileError, match="frame 1 has objects of dimension 3"):
        frames_to_objects(object_array([np.ones((1, 2)), np.zeros((0, 3))]))


@pytest.mark.parametrize("bad", [np.nan, np.inf, 1e300])
def test_non_finite_values_name_the_frame(bad):
    entry = np.ones((2, 3))
    entry[1, 2] = bad
    with pytest.raises(FeatureFileError, match="frame 1 holds NaN, inf"):
        frames_to_objects(object_array([np.ones((1, 3)), entry]), "x.npy")


@pytest.mark.parametrize(
    ("entry", "match"),
    [(np.ones(34), r"frame 0 has shape \(34,\)"),
     (np.ones((1, 2, 3)), r"frame 0 has shape \(1, 2, 3\)"),
     (np.array([["a", "b"]]), "frame 0 has non-numeric dtype"),
     ([[1.0, 2.0]], "frame 0 holds a list")],
)
def test_malformed_entries_name_the_frame(entry, match):
    frames = np.empty(1, dtype=object)
    frames[0] = entry
    with pytest.raises(FeatureFileError, match=match):
        frames_to_objects(frames)


def test_no_object_in_any_frame():
    with pytest.raises(FeatureFileError, match="none of the 2 frames"):
        frames_to_objects(object_array([np.zeros(0), np.zeros((0, 4))]))


def test_not_one_dimensional():
    with pytest.raises(FeatureFileError, match="1-D object array"):
        frames_to_objects(np.empty((2, 2), dtype=object))


def test_split_into_videos_uses_local_frame_indices():
    rec = frames_to_objects(object_array(FRAMES))
    first, second = rec.split([2, 3])
    assert (first.n_frames, second.n_frames) == (2, 3)
    np.testing.assert_array_equal(first.frame_index, [0, 0])
    np.testing.assert_array_equal(second.frame_index, [0, 2, 2, 2])
    np.testing.assert_array_equal(second.empty_frames(), [1])
    np.testing.assert_array_equal(np.concatenate([first.features, second.features]),
                                  rec.features)
    with pytest.raises(FeatureFileError, match="sum to 4"):
        rec.split([2, 2])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=1, max_size=12).filter(any),
       st.integers(1, 5), st.integers(0, 2**31 - 1))
def test_counts_and_order_survive(counts, dim, seed):
    rng = np.random.default_rng(seed)
    entries = [rng.normal(size=(c, dim)) if c else np.zeros(0) for c in counts]
    rec = frames_to_objects(object_array(entries))
    np.testing.assert_array_equal(rec.objects_per_frame(), counts)
    np.testing.assert_array_equal(np.flatnonzero(np.array(counts) == 0), rec.empty_frames())
    np.testing.assert_allclose(rec.features, np.concatenate([e for e in entries if e.size]),
                               rtol=1e-6)
    assert isinstance(rec, ObjectFeatures) and rec.n_frames == len(counts)


def test_released_ped2_pose_files():
    folder = data_dir("features", "aivad_ped2")
    train = read_aivad_features(folder / "train" / "pose.npy", trust_pickle=True)
    test = read_aivad_features(folder / "test" / "pose.npy", trust_pickle=True)
    assert (train.n_frames, test.n_frames) == (2550, 2010)
    assert train.dim == test.dim == 34
    assert (train.n_objects, test.n_objects) == (14776, 14663)
    np.testing.assert_array_equal(train.empty_frames(), [1291, 1362, 1443, 1523])
    assert test.empty_frames().size == 0
    assert np.all(np.diff(train.frame_index) >= 0)


def test_benchmark_aivad_knn_scores_by_hand():
    """benchmarks/aivad_ped2_pose.py's AI-VAD detector: squared L2 to the nearest raw training
    object; training objects against the other videos only."""
    from aivad_ped2_pose import AIVAD_KNN

    train = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [3.0, 4.0]])
    knn = AIVAD_KNN().fit(train, np.array([0, 0, 1, 1]))
    # video 0 vs {(3,0),(3,4)}: 9, 4; video 1 vs {(0,0),(1,0)}: 4, 4 + 16 = 20
    np.testing.assert_allclose(knn.train_scores(), [9.0, 4.0, 4.0, 20.0])
    np.testing.assert_allclose(knn.score(np.array([[1.0, 1.0], [6.0, 4.0]])), [1.0, 9.0])
