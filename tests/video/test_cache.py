"""The feature cache: shards, one entry per video whatever its name, damaged entries."""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest
from fakes import SMALL, MeanColour, _Payload, unlistable, write_frames
from hypothesis import given
from hypothesis import strategies as st

from mulde.datasets import load_dataset
from mulde.pipeline import extract_features
from mulde.video.cache import KNOWN_FAILURE, DamagedCacheEntryWarning, FeatureCache, shard
from mulde.video.features.records import ObjectFeatures, Stream, VideoFeatures


@given(st.integers(0, 60), st.integers(1, 9))
def test_shards_partition_the_videos(n_items, n_shards):
    items = list(range(n_items))
    parts = [shard(items, f"{i}/{n_shards}") for i in range(n_shards)]
    assert sorted(x for p in parts for x in p) == items
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


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


def test_two_folders_sharing_a_cache_keep_their_own_entries(tmp_path):
    """Two user folders with videos of the same names, extracted into one cache, replaced
    each other's entries (both at folder/<split>/<video>): the source checksums kept the
    wrong features out, but every rerun extracted each folder's videos again. Each root has
    its own entries now (`Dataset.cache_name`)."""
    roots = [tmp_path / "lobby", tmp_path / "yard"]
    for i, root in enumerate(roots):  # the same names, other frames
        write_frames(root / "train" / "t0", 3 + i, size=SMALL)
        write_frames(root / "test" / "a", 5 + i, size=SMALL)
    cache = FeatureCache(tmp_path / "cache")
    for root in roots:
        extract_features(load_dataset("folder", root), MeanColour(), cache, progress=False)
    for i, root in enumerate(roots):
        ex = MeanColour()
        again = extract_features(load_dataset("folder", root), ex, cache, progress=False)
        assert ex.calls == [] and again.n_cached == 2, root.name
        assert again.features["test"]["a"].n_frames == 5 + i
    lobby, yard = (load_dataset("folder", root).cache_name for root in roots)
    assert lobby != yard and lobby.startswith("folder/")
    assert len(list((tmp_path / "cache").rglob("*.json"))) == 4


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
    named = npz.with_suffix(".json") if damage == "bad sidecar" else npz
    with pytest.warns(DamagedCacheEntryWarning, match=f"^{re.escape(str(named))}: a damaged "
                      "feature cache entry .*; the video's features are extracted again$"):
        again = extract_features(dataset, ex, cache, progress=False)
    assert ex.calls == ["a"] and again.features["test"]["a"].n_frames == 6
    assert not marker.exists()


@pytest.mark.parametrize(("n_frames", "seen", "why"), [
    (None, True, "no n_frames"), ("6", True, 'n_frames "6", not a whole number >= 1'),
    (0, True, "n_frames 0, not a whole number >= 1"),
    (3, False, "n_frames 3, but the appearance stream has objects in frame 6 (counted from 1)")])
def test_a_sidecar_whose_frame_count_is_wrong_is_named_and_its_entry_extracted_again(
        small_folder, tmp_path, n_frames, seen, why):
    """A sidecar without a whole-number n_frames was counted as cached by the note, then
    named the .npz as damaged (n_frames 3 of 6 frames: the .npz twice, in its message too).
    The sidecar is named, once, and the entry extracted again; the note counts a sidecar it
    can tell is damaged without reading the arrays (`seen`) as one to extract."""
    dataset = load_dataset("folder", small_folder)
    cache = FeatureCache(tmp_path / "cache")
    extract_features(dataset, MeanColour(), cache, progress=False)
    side = next((tmp_path / "cache").rglob("a.*.json"))
    meta = json.loads(side.read_text())
    meta.pop("n_frames")
    side.write_text(json.dumps(meta if n_frames is None else meta | {"n_frames": n_frames}))
    ex, counts = MeanColour(), []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = extract_features(dataset, ex, cache, progress=False,
                                 note=lambda *n: counts.append(n))
    said = [str(w.message) for w in caught if w.category is DamagedCacheEntryWarning]
    assert said == [f"{side}: a damaged feature cache entry (ValueError: {why}); the video's "
                    "features are extracted again"]
    assert counts == [(1, 2) if seen else (0, 3)] and ex.calls == ["a"]
    assert again.features["test"]["a"].n_frames == 6
    assert json.loads(side.read_text())["n_frames"] == 6  # the entry written again


@pytest.mark.parametrize("stream", [Stream.POSE, Stream.VELOCITY])
def test_a_stream_without_objects_in_the_last_frames_is_read_back(small_folder, tmp_path,
                                                                  stream):
    """Any stream may leave frames without objects (the pose stream's frames without persons,
    or another extractor's): an entry whose last objects are before the video's last frame
    is current, not damaged (it was, for all but pose and static, re-extracted every run)."""
    dataset = load_dataset("folder", small_folder)
    cache, ex, video = FeatureCache(tmp_path / "cache"), MeanColour(), dataset.test[0]
    part = ObjectFeatures(np.zeros((2, 34), np.float32), np.array([0, 2]), 6)
    cache.store(dataset.cache_name, "test", video, ex, VideoFeatures({stream: part}, 6))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        back = cache.load(dataset.cache_name, "test", video, ex)
    assert back.n_frames == 6 and back[stream].frame_index.tolist() == [0, 2]


@pytest.mark.parametrize("text", ["", '{"format": 2, "vid', "[]"])
def test_a_damaged_sidecar_is_said_once_and_its_entry_extracted_again(small_folder, tmp_path,
                                                                      text):
    """A sidecar that is no JSON object (emptied, cut short by an interrupted copy) read as
    no entry and was redone without a word, where damaged arrays are named: it is named too,
    once, although the note before the videos (`has`) and the loader both read it."""
    dataset = load_dataset("folder", small_folder)
    cache = FeatureCache(tmp_path / "cache")
    extract_features(dataset, MeanColour(), cache, progress=False)
    side = next((tmp_path / "cache").rglob("a.*.json"))
    side.write_text(text)
    ex, counts = MeanColour(), []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # a repeated warning is kept, not filtered out
        again = extract_features(dataset, ex, cache, progress=False,
                                 note=lambda *n: counts.append(n))
    said = [str(w.message) for w in caught if w.category is DamagedCacheEntryWarning]
    assert len(said) == 1, said
    assert re.fullmatch(f"{re.escape(str(side))}: a damaged feature cache entry \\(.+\\); "
                        "the video's features are extracted again", said[0]), said[0]
    assert counts == [(1, 2)] and ex.calls == ["a"] and again.n_cached == 2
    assert json.loads(side.read_text())["video"] == "a"  # the entry written again


def test_an_undecodable_video_is_skipped_on_a_rerun_without_decoding_it_again(small_folder,
                                                                             tmp_path):
    """A damaged file leaves a failure record beside the cache entries: a rerun skips it
    with the same error (and says why it did not try) without decoding it; once the file
    changes it is decoded again, and a stored entry replaces the record."""

    broken = small_folder / "test" / "broken.avi"
    broken.write_bytes(b"not a video at all")
    dataset = load_dataset("folder", small_folder)
    cache = FeatureCache(tmp_path / "cache")
    first = extract_features(dataset, MeanColour(), cache, progress=False)
    assert [f["video"] for f in first.failed] == ["broken"]
    error = first.failed[0]["error"]
    assert "broken.avi" in error and not error.endswith(KNOWN_FAILURE)
    ex = MeanColour()
    again = extract_features(dataset, ex, cache, progress=False)
    assert ex.calls == [] and again.n_cached == 3
    assert again.failed == [{"split": "test", "video": "broken", "error": error + KNOWN_FAILURE}]
    broken.write_bytes(b"still not a video, but another file")
    ex = MeanColour()
    third = extract_features(dataset, ex, cache, progress=False)
    assert [f["video"] for f in third.failed] == ["broken"]
    assert not third.failed[0]["error"].endswith(KNOWN_FAILURE)
    video = next(v for v in dataset.test if v.name == "broken")
    assert cache.failure(dataset.cache_name, "test", video, ex) is not None
    cache.store(dataset.cache_name, "test", video, ex, first.features["test"]["a"])
    assert cache.failure(dataset.cache_name, "test", video, ex) is None


def test_the_extraction_note_counts_what_is_extracted_and_what_is_read_back(small_folder,
                                                                           tmp_path):
    """The note before the videos says how many are extracted and how many read back (the
    cache's entries, `has`, which agrees with `load`); a video the cache knows unreadable is
    in neither: `mulde run` said "extracting 5 videos ... can take minutes" of 5 cached."""
    (small_folder / "test" / "broken.avi").write_bytes(b"not a video at all")
    dataset = load_dataset("folder", small_folder)
    cache = FeatureCache(tmp_path / "cache")
    said = []
    count = lambda extract, cached: said.append((extract, cached))  # noqa: E731
    extract_features(dataset, MeanColour(), cache, progress=False, note=count)
    ex = MeanColour()
    extract_features(dataset, ex, cache, progress=False, note=count)
    t0 = dataset.train[0]
    assert cache.has(dataset.cache_name, "train", t0, ex)
    write_frames(small_folder / "train" / "t0", 1, size=SMALL, names=["004.png"])  # one more
    assert not cache.has(dataset.cache_name, "train", t0, ex)
    assert cache.load(dataset.cache_name, "train", t0, ex) is None
    extract_features(dataset, ex, cache, progress=False, note=count)
    assert said == [(4, 0), (0, 3), (1, 2)]
    broken = next(v for v in dataset.test if v.name == "broken")
    assert not cache.has(dataset.cache_name, "test", broken, ex)


def test_a_failure_record_of_another_extractor_setting_or_damaged_is_not_trusted(small_folder,
                                                                               tmp_path):
    from dataclasses import replace

    dataset = load_dataset("folder", small_folder)
    video = dataset.test[0]
    cache = FeatureCache(tmp_path / "cache")
    cache.store_failure(dataset.name, "test", video, MeanColour(), "cannot read it")
    assert cache.failure(dataset.name, "test", video, MeanColour()) == "cannot read it"
    assert cache.failure(dataset.name, "test", video, replace(MeanColour(), version="2")) is None
    [record] = (tmp_path / "cache").rglob("*.failed.json")
    meta = json.loads(record.read_text())
    record.write_text(json.dumps({**meta, "av_version": "0.0"}))
    assert cache.failure(dataset.name, "test", video, MeanColour()) is None
    record.write_text("{not json")
    assert cache.failure(dataset.name, "test", video, MeanColour()) is None


def test_a_failure_record_read_through_a_moved_root_names_the_file_where_it_is(small_folder,
                                                                             tmp_path):
    """The record keys the file by its bytes, not its path: a benchmark moved (its entries
    found by its name wherever its root is) gets the error with the file's path there, not
    the old one. A user's folder moved is another root (`Dataset.cache_name`): its entries
    and records are its own, so the file is decoded again and named where it is."""
    import shutil
    from dataclasses import replace

    (small_folder / "test" / "broken.avi").write_bytes(b"not a video at all")
    cache = FeatureCache(tmp_path / "cache")
    as_benchmark = lambda root: replace(load_dataset("folder", root), name="ucsd_ped2")  # noqa: E731
    first = extract_features(as_benchmark(small_folder), MeanColour(), cache, progress=False)
    old = str(small_folder / "test" / "broken.avi")
    assert old in first.failed[0]["error"]
    moved = tmp_path / "moved"
    shutil.move(small_folder, moved)
    folder = extract_features(load_dataset("folder", moved), MeanColour(), cache,
                              progress=False)
    assert folder.failed[0]["error"] == first.failed[0]["error"].replace(
        old, str(moved / "test" / "broken.avi"))  # decoded again: no KNOWN_FAILURE
    again = extract_features(as_benchmark(moved), MeanColour(), cache, progress=False)
    error = again.failed[0]["error"]
    assert str(moved / "test" / "broken.avi") in error and old not in error
    assert error == first.failed[0]["error"].replace(old, str(moved / "test" / "broken.avi")) \
        + KNOWN_FAILURE


def test_a_frame_folder_that_cannot_be_listed_is_skipped_not_a_crash(small_folder, tmp_path,
                                                                     monkeypatch):
    """The cache's key of a frame folder now raises decoding's VideoReadError where it
    cannot list the folder (it raised an OSError): a cached video whose folder has become
    unlistable is still skipped and reported with that one line, and no failure is recorded
    for a source without a checksum."""
    dataset = load_dataset("folder", small_folder)
    cache = FeatureCache(tmp_path / "cache")
    extract_features(dataset, MeanColour(), cache, progress=False)
    folder = small_folder / "test" / "a"
    unlistable(monkeypatch, folder)
    (video,) = dataset.test
    assert not cache.has(dataset.cache_name, "test", video, MeanColour())
    again = extract_features(dataset, MeanColour(), cache, progress=False)
    assert again.failed == [{"split": "test", "video": "a", "error": (
        f"{folder}: cannot list the frame folder (Permission denied)")}]
    assert cache.failure(dataset.cache_name, "test", video, MeanColour()) is None
    assert not list((tmp_path / "cache").rglob("*.failed.json"))


def _video_warnings(caught) -> list[tuple[str, str]]:
    """(class name, words) of the kept kinds of warnings among `caught`, in order."""
    from mulde.video.cache import VIDEO_WARNINGS

    return [(w.category.__name__, str(w.message)) for w in caught
            if issubclass(w.category, VIDEO_WARNINGS)]


def _extract_warned(dataset, cache, extractor=None):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = extract_features(dataset, extractor or MeanColour(), cache, progress=False)
    return result, _video_warnings(caught), caught


def test_a_video_s_warnings_are_kept_in_its_entry_and_said_again_when_read_back(small_folder,
                                                                               tmp_path):
    """A rerun that read a video's features from the cache said nothing of its timeline or
    of a file cut short, and its report lost them: the entry keeps them (by class, the
    video's path written as <source>) and loading it says them again, same class, same
    words, once each, whatever was said before in this process."""
    from fakes import write_cut_matroska, write_timed_video

    write_timed_video(small_folder / "test" / "gap.mkv", [*range(20), *range(25, 40)],
                      size=SMALL)
    write_cut_matroska(small_folder / "test" / "cut.mkv", 100, 60, size=SMALL)
    dataset, cache = load_dataset("folder", small_folder), FeatureCache(tmp_path / "cache")
    first, fresh, _ = _extract_warned(dataset, cache)
    assert first.n_extracted == 5
    gap, cut = small_folder / "test" / "gap.mkv", small_folder / "test" / "cut.mkv"
    assert [c for c, _ in fresh] == ["CutShortWarning", "FrameTimelineWarning"]  # by name
    assert fresh[0][1].startswith(f"{cut}: decoded 60 of the 100 frames its container states")
    assert fresh[1][1].startswith(f"{gap}: 5 frame(s) missing from the timeline")
    kept = json.loads(next((tmp_path / "cache").rglob("cut.*.json")).read_text())["warnings"]
    assert kept == [{"category": "CutShortWarning",
                     "message": fresh[0][1].replace(str(cut), "<source>")}]
    for _ in range(2):  # a repeat in one process is said again, as a fresh extraction's
        again, cached, caught = _extract_warned(dataset, cache, ex := MeanColour())
        assert ex.calls == [] and again.n_cached == 5
        assert cached == fresh
        back = [w.message for w in caught if w.category.__name__ == "CutShortWarning"]
        assert back[0].path == cut  # a FrameTimelineWarning's path, for who leaves it unsaid


def test_an_entry_read_through_a_moved_root_names_the_video_where_it_is(small_folder,
                                                                       tmp_path):
    """A benchmark's entries are found by its name wherever its root is: the warnings said
    again name the file where it is now, as a fresh extraction there would."""
    import shutil
    from dataclasses import replace

    from fakes import write_cut_matroska

    write_cut_matroska(small_folder / "test" / "cut.mkv", 100, 60, size=SMALL)
    cache = FeatureCache(tmp_path / "cache")
    as_benchmark = lambda root: replace(load_dataset("folder", root), name="ucsd_ped2")  # noqa: E731
    _, fresh, _ = _extract_warned(as_benchmark(small_folder), cache)
    moved = tmp_path / "moved"
    shutil.move(small_folder, moved)
    again, cached, _ = _extract_warned(as_benchmark(moved), cache)
    assert again.n_cached == 4
    assert cached == [(c, t.replace(str(small_folder), str(moved))) for c, t in fresh]
    assert str(moved / "test" / "cut.mkv") in cached[0][1]


def test_an_entry_written_before_warnings_were_kept_reads_as_one_without(small_folder,
                                                                         tmp_path):
    """A sidecar without the `warnings` field (an older mulde's) is current, said nothing."""
    dataset, cache = load_dataset("folder", small_folder), FeatureCache(tmp_path / "cache")
    extract_features(dataset, MeanColour(), cache, progress=False)
    side = next((tmp_path / "cache").rglob("a.*.json"))
    meta = json.loads(side.read_text())
    assert meta.pop("warnings") == []
    side.write_text(json.dumps(meta))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = extract_features(dataset, ex := MeanColour(), cache, progress=False)
    assert ex.calls == [] and again.n_cached == 3


@pytest.mark.parametrize("kept", ["none", {"category": "FrameTimelineWarning"}, [1],
                                  [{"category": 1, "message": "m"}],
                                  [{"category": "FrameTimelineWarning", "message": None}]])
def test_a_sidecar_whose_warnings_are_damaged_is_named_and_its_entry_extracted_again(
        small_folder, tmp_path, kept):
    """A `warnings` field that is not a list of {category, message} strings is a damaged
    sidecar: named once, no crash, the video extracted again (what it warns comes back)."""
    dataset, cache = load_dataset("folder", small_folder), FeatureCache(tmp_path / "cache")
    extract_features(dataset, MeanColour(), cache, progress=False)
    side = next((tmp_path / "cache").rglob("a.*.json"))
    side.write_text(json.dumps(json.loads(side.read_text()) | {"warnings": kept}))
    again, _, caught = _extract_warned(dataset, cache, ex := MeanColour())
    said = [str(w.message) for w in caught if w.category is DamagedCacheEntryWarning]
    assert len(said) == 1 and said[0].startswith(
        f"{side}: a damaged feature cache entry (ValueError: warnings ")
    assert said[0].endswith('not a list of {"category", "message"} strings); the video\'s '
                            "features are extracted again")
    assert ex.calls == ["a"] and again.n_cached == 2
    assert json.loads(side.read_text())["warnings"] == []


def test_kept_warnings_of_a_class_this_mulde_does_not_know_are_said_in_their_words(
        small_folder, tmp_path):
    """A class name not among `VIDEO_WARNINGS` (written by another mulde) is said as a
    UserWarning with its words, the video's path read in; the entry stays current."""
    dataset, cache = load_dataset("folder", small_folder), FeatureCache(tmp_path / "cache")
    extract_features(dataset, MeanColour(), cache, progress=False)
    side = next((tmp_path / "cache").rglob("a.*.json"))
    side.write_text(json.dumps(json.loads(side.read_text()) | {"warnings": [
        {"category": "NewerWarning", "message": "<source>: something new"}]}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = extract_features(dataset, ex := MeanColour(), cache, progress=False)
    assert ex.calls == [] and again.n_cached == 3
    assert [(w.category, str(w.message)) for w in caught] == [
        (UserWarning, f"{small_folder / 'test' / 'a'}: something new")]


def test_only_the_kept_kinds_of_warnings_go_into_an_entry(small_folder, tmp_path):
    """Boxes clipped to the frame (read from a detections file, not read again from the
    cache) are kept; another warning of the extraction is said once, when raised, and not
    kept (a note on the run, not on the video)."""
    from mulde.video.features.detections import BoxesOutsideFrameWarning

    class Warns(MeanColour):
        def extract(self, video, timings=None):
            warnings.warn(f"{video.path}: 1 box(es) reach past the edges",
                          BoxesOutsideFrameWarning, stacklevel=2)
            warnings.warn("a note on the run", UserWarning, stacklevel=2)
            return super().extract(video, timings)

    dataset, cache = load_dataset("folder", small_folder), FeatureCache(tmp_path / "cache")
    _, fresh, caught = _extract_warned(dataset, cache, Warns())
    assert [str(w.message) for w in caught if w.category is UserWarning] == [
        "a note on the run"] * 3
    _, cached, caught = _extract_warned(dataset, cache, Warns())
    assert cached == fresh and len(fresh) == 3 and all(
        c == "BoxesOutsideFrameWarning" for c, _ in cached)
    assert not [w for w in caught if w.category is UserWarning]
