"""Decoding video files and frame folders, and every error policy of `mulde.video.decode`."""

from __future__ import annotations

import errno
import gc
import os
import pathlib
import re
import warnings

import av
import numpy as np
import pytest
from fakes import SMALL, colour, frame_index, solid, write_cut_video, write_frames, write_video
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from mulde.video import unreadable
from mulde.video.decode import (
    DEFAULT_FOLDER_FPS,
    StrayImagesWarning,
    VideoInfo,
    distinct_rates,
    iter_frames,
    list_frame_files,
    natural_key,
    other_rate,
    probe,
    stated_rate,
    stray_images,
    strays_said,
)
from mulde.video.source import Video, VideoReadError, source_checksum


@pytest.mark.parametrize("suffix", [".avi", ".mp4"])
def test_video_file_frames_and_probe(tmp_path, suffix):
    path = write_video(tmp_path / f"clip{suffix}", 12, size=(48, 64), fps=10)
    frames = list(iter_frames(path))
    assert len(frames) == 12
    assert all(f.dtype == np.uint8 and f.shape == (48, 64, 3) for f in frames)
    assert [frame_index(f) for f in frames] == list(range(12))
    assert np.abs(frames[7].mean(axis=(0, 1)) - colour(7)).max() < 8
    assert probe(path) == VideoInfo(n_frames=12, fps=10.0, width=64, height=48)


def test_probe_counts_frames_when_container_has_no_count(tmp_path):
    path = write_video(tmp_path / "clip.mkv", 9)
    with av.open(str(path)) as container:
        assert container.streams.video[0].frames == 0  # Matroska stores no frame count
    assert probe(path).n_frames == 9


def test_frame_folder_gray_and_colour_frames(tmp_path):
    folder = write_frames(tmp_path / "gray", 3, size=(10, 12), gray=True)
    frames = list(iter_frames(folder))
    assert len(frames) == 3 and frames[0].shape == (10, 12, 3) and frames[0].dtype == np.uint8
    expected = np.asarray(Image.fromarray(solid(1, (10, 12))).convert("L"))
    for channel in range(3):
        np.testing.assert_array_equal(frames[1][..., channel], expected)
    folder = write_frames(tmp_path / "rgb", 4, size=(10, 12))
    np.testing.assert_array_equal(next(iter_frames(folder)), solid(0, (10, 12)))


def test_frame_folder_probe_default_and_given_fps(tmp_path):
    folder = write_frames(tmp_path / "v", 5, size=(10, 12), suffix=".jpg")
    assert probe(folder) == VideoInfo(5, DEFAULT_FOLDER_FPS, 12, 10)
    assert probe(folder, fps=10).fps == 10.0


def test_frame_folder_skips_non_images_and_sorts_numbers_by_value(tmp_path):
    folder = write_frames(tmp_path / "v", 3, names=["8.png", "9.png", "10.png"])
    (folder / "notes.txt").write_text("not a frame")
    (folder / ".DS_Store").write_bytes(b"\x00\x01junk")
    (folder / "._8.png").write_bytes(b"AppleDouble junk")
    (folder / "sub").mkdir()
    frames = list(iter_frames(folder))
    assert [frame_index(f) for f in frames] == [0, 1, 2]
    assert [p.name for p in list_frame_files(folder)] == ["8.png", "9.png", "10.png"]
    assert probe(folder).n_frames == 3


@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=30, unique=True))
def test_natural_key_orders_numbered_names_by_value(numbers):
    names = [f"frame_{n}.jpg" for n in numbers]
    assert sorted(names, key=natural_key) == [f"frame_{n}.jpg" for n in sorted(numbers)]


def test_missing_path_is_named(tmp_path):
    missing = tmp_path / "nope.avi"
    for call in (probe, iter_frames):
        with pytest.raises(VideoReadError, match="nope.avi.*no such"):
            call(missing)


def test_a_missing_path_names_the_video_beside_it_that_it_may_mean(tmp_path):
    """cam/train/12 given for cam/train/12.avi (or with another video suffix) is asked about;
    a name with no such video beside it, or in no folder, is said as before."""
    train = tmp_path / "cam" / "train"
    train.mkdir(parents=True)
    for name in ("12.avi", "12.txt", "120.avi"):
        (train / name).write_bytes(b"x")
    for asked in ("12", "12.mp4"):
        with pytest.raises(VideoReadError) as said:
            probe(train / asked)
        assert str(said.value) == (f"{train / asked}: no such video file or frame folder; did "
                                   f"you mean {train / '12.avi'}?")
    for missing in (train / "13", tmp_path / "nowhere" / "12"):
        with pytest.raises(VideoReadError) as said:
            list(iter_frames(missing))
        assert str(said.value) == f"{missing}: no such video file or frame folder"


def test_an_empty_video_file_is_said_to_be_empty(tmp_path):
    """A 0-byte file (a copy or recording that stopped before its first byte) had been said
    as FFmpeg's invalid data: "damaged, incomplete or not a video"."""
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    for call in (probe, lambda p: list(iter_frames(p))):
        with pytest.raises(VideoReadError) as said:
            call(path)
        assert str(said.value) == (f"{path}: the file is empty (0 bytes), not a video: copy or "
                                   "record it again, or remove it")


def test_garbage_file_is_a_read_error(tmp_path):
    path = tmp_path / "garbage.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, np.uint8).tobytes())
    # what to do, then FFmpeg's reason in words, without its error number or the path again
    said = (f"{path}: cannot read video, the file is damaged, incomplete or not a video; "
            "re-encode it (ffmpeg -i IN OUT.mp4) or remove it (Invalid data found when "
            "processing input)")
    with pytest.raises(VideoReadError) as probed:
        probe(path)
    with pytest.raises(VideoReadError) as decoded:
        list(iter_frames(path))
    assert str(probed.value) == str(decoded.value) == said


def test_a_decoders_refusal_of_any_errno_is_a_damaged_file(tmp_path):
    """Random bytes that FFmpeg probes as raw H.263 are refused by the decoder with EPERM
    (a newcomer's 20 kB of /dev/urandom, stop 86): that said "cannot read video (Operation
    not permitted)", a permissions problem the readable file did not have. An error of a
    codec call (its filename is the function) is the file's content; one of the file
    itself keeps its own reason."""
    from mulde.video.decode import _unreadable

    path = tmp_path / "garbage.mp4"
    refused = av.error.PermissionError(1, "Operation not permitted", "avcodec_send_packet()")
    assert str(_unreadable(path, refused)) == (
        f"{path}: cannot read video, the file is damaged, incomplete or not a video; "
        "re-encode it (ffmpeg -i IN OUT.mp4) or remove it (Operation not permitted)")
    denied = av.error.PermissionError(1, "Operation not permitted", str(path))
    assert str(_unreadable(path, denied)) == f"{path}: cannot read video (Operation not permitted)"
    # a decoder short of memory is the machine's, not the file's (a damaged file was said
    # of it); a path that looks like a function is still the file's
    short = av.error.MemoryError(errno.ENOMEM, "Cannot allocate memory", "avcodec_send_packet()")
    assert str(_unreadable(path, short)) == f"{path}: cannot read video (Cannot allocate memory)"
    odd = pathlib.Path("avcodec_x()")  # a path, relative, that looks like a function
    denied = av.error.PermissionError(errno.EACCES, "Permission denied", str(odd))
    assert str(_unreadable(odd, denied)) == "avcodec_x(): cannot read video (Permission denied)"
    # 16 of those bytes: an H.263 picture start code (0x000081) and noise, probed as raw
    # H.263 and refused by its decoder with EPERM
    path.write_bytes(bytes.fromhex("000081ced1c38d7c95325ac3f58a2d5f"))
    for call in (probe, lambda p: list(iter_frames(p))):
        with pytest.raises(VideoReadError) as said:
            call(path)
        assert str(said.value) == str(_unreadable(path, refused))


def test_the_cut_last_frame_of_a_truncated_file_is_dropped_not_scored(tmp_path):
    """A file cut inside its last frame's data: the demuxer marks that packet corrupt and
    the decoder conceals it with garbage (a newcomer's truncated AVI decoded its last frame
    mostly green, and `mulde watch` raised an alert on it). That frame is dropped and the
    file is still refused as truncated, in an error that names the cut frame, once: no
    timeline warning says it again (`mulde watch` said both); the frames before it are the
    intact file's."""
    whole = tmp_path / "whole.avi"  # cut inside the 7th frame's data
    truncated = write_cut_video(tmp_path / "cut.avi", 10, 6, whole=whole)
    intact = list(iter_frames(whole))
    got = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(VideoReadError, match=r"truncated or corrupt video, decoded 6 of the "
                           r"10 frames its container declares \(none after frame 5; the next "
                           r"cut off mid-frame, dropped\)"):
            for frame in iter_frames(truncated):
                got.append(frame)
    assert len(got) == 6
    for a, b in zip(got, intact, strict=False):
        np.testing.assert_array_equal(a, b)


def test_a_decoding_error_midway_says_after_which_frame_and_what_to_do(tmp_path, monkeypatch):
    video = write_video(tmp_path / "clip.mp4", 6, size=SMALL)
    real_open = av.open

    class FailsAtFrame4:  # the container, whose reading fails after 4 packets
        def __init__(self, container):
            self.container = container

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.container.__exit__(*exc)

        def __getattr__(self, name):
            return getattr(self.container, name)

        def demux(self, stream):  # one frame a packet here (no B-frames)
            for i, packet in enumerate(self.container.demux(stream)):
                if i == 4:
                    raise av.error.InvalidDataError(1094995529, "Invalid data found when "
                                                    "processing input", str(video))
                yield packet

    monkeypatch.setattr(av, "open", lambda *a, **k: FailsAtFrame4(real_open(*a, **k)))
    got = []
    with pytest.raises(VideoReadError) as failed:
        for frame in iter_frames(video):
            got.append(frame)
    # the frames out of a threaded decoder by then (fewer than the packets read): the count
    # is the frames the caller got
    assert 1 <= len(got) <= 4
    assert str(failed.value) == (f"{video}: corrupt video, decoding failed after {len(got)} "
                                 "frames; re-encode it (ffmpeg -i IN OUT.mp4) or remove it "
                                 "(Invalid data found when processing input)")


def test_truncated_avi_fails_after_the_decodable_frames(tmp_path):
    path = write_video(tmp_path / "clip.avi", 30, size=(96, 128))
    data = path.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) * 6 // 10])
    assert probe(cut).n_frames == 30  # the header still declares all frames
    decoded = []
    with pytest.raises(VideoReadError, match=r"cut.avi: truncated.* of the 30 frames"):
        for frame in iter_frames(cut):
            decoded.append(frame)
    assert 0 < len(decoded) < 30


def test_truncated_mp4_is_a_read_error(tmp_path):
    data = write_video(tmp_path / "clip.mp4", 20).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])  # the index (moov atom) is at the end
    with pytest.raises(VideoReadError, match="cut.mp4"):
        probe(cut)
    with pytest.raises(VideoReadError, match="cut.mp4"):
        list(iter_frames(cut))


def test_zero_frame_video_is_a_read_error(tmp_path):
    path = write_video(tmp_path / "empty.avi", 0)
    assert path.stat().st_size > 0
    with pytest.raises(VideoReadError, match="empty.avi: video has no frames"):
        probe(path)
    with pytest.raises(VideoReadError, match="empty.avi: video has no frames"):
        list(iter_frames(path))


def test_undecodable_image_is_named(tmp_path):
    folder = write_frames(tmp_path / "v", 4)
    (folder / "002.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    frames = iter_frames(folder)
    assert frame_index(next(frames)) == 0
    assert frame_index(next(frames)) == 1
    with pytest.raises(VideoReadError, match="002.png: cannot read image"):
        next(frames)
    (folder / "000.png").write_bytes(b"not an image")
    with pytest.raises(VideoReadError, match="000.png") as caught:
        probe(folder)
    # the file is named once, and Pillow's "cannot identify image file '<path>'" in words
    assert str(caught.value) == (f"{folder / '000.png'}: cannot read image (not an image "
                                 "format Pillow reads, or a damaged file)")


def test_folder_without_images_is_a_read_error(tmp_path):
    folder = tmp_path / "v"
    folder.mkdir()
    (folder / "readme.txt").write_text("x")
    with pytest.raises(VideoReadError, match=r"no image files \(suffixes [^)]*\)$"):
        probe(folder)


def test_a_folder_of_videos_given_as_one_video_names_one_of_them(tmp_path):
    """The example is a video that holds bytes: an empty one (a.AVI here) had been given as
    the one to watch; with no such video there is no example."""
    folder = tmp_path / "videos"
    folder.mkdir()
    (folder / "a.AVI").write_bytes(b"")
    (folder / "b.mp4").write_bytes(b"x")
    with pytest.raises(VideoReadError, match=r"it holds 2 video file\(s\): give one of them "
                       rf"\(e.g. {re.escape(str(folder / 'b.mp4'))}\), not the folder$"):
        probe(folder)
    (folder / "b.mp4").write_bytes(b"")
    with pytest.raises(VideoReadError, match=r"it holds 2 video file\(s\): give one of them, "
                       "not the folder$"):
        probe(folder)


def test_mixed_resolutions_name_the_first_offending_frame(tmp_path):
    folder = write_frames(tmp_path / "v", 4, size=(10, 12))
    Image.fromarray(solid(2, (11, 12))).save(folder / "002.png")
    Image.fromarray(solid(3, (9, 12))).save(folder / "003.png")
    assert probe(folder).n_frames == 4  # probing reads only the first header
    with pytest.raises(VideoReadError, match=r"mixed resolutions, frame 002.png is 12x11"):
        list(iter_frames(folder))


def test_gap_in_numbered_frames_is_an_error(tmp_path):
    folder = write_frames(tmp_path / "v", 3, names=["img_000.jpg", "img_001.jpg", "img_003.jpg"])
    for call in (probe, iter_frames):
        with pytest.raises(VideoReadError, match=r"the image numbered 2 is missing \(next "
                           r"present: img_003.jpg\); add it, or renumber"):
            call(folder)
    write_frames(tmp_path / "d", 2, names=["1.png", "01.png"])
    with pytest.raises(VideoReadError, match="duplicate frame number 1"):
        probe(tmp_path / "d")
    # names that are not all numbered the same way are not checked
    write_frames(tmp_path / "free", 3, names=["a.png", "b.png", "c7.png"])
    assert probe(tmp_path / "free").n_frames == 3
    write_frames(tmp_path / "start", 2, names=["0005.png", "0006.png"])
    assert probe(tmp_path / "start").n_frames == 2


def test_an_unnumbered_image_among_numbered_frames_is_left_out_and_named(tmp_path):
    # a newcomer's folder: frames 1.jpg ... 12.jpg and a cover image; it was taken in as the
    # last frame, and its name switched the gap check off
    names = [f"{i}.jpg" for i in range(1, 13)]
    folder = write_frames(tmp_path / "v", 13, size=SMALL, names=[*names, "cover.jpg"])
    with pytest.warns(StrayImagesWarning, match=r"left out 1 image.*: cover\.jpg") as said:
        assert [p.name for p in list_frame_files(folder)] == names
    assert str(folder) in str(said[0].message)
    with warnings.catch_warnings():  # said once: a run lists a folder several times
        warnings.simplefilter("error")
        assert probe(folder).n_frames == 12
        assert [frame_index(f) for f in iter_frames(folder)] == list(range(12))
    assert stray_images(folder) == [folder / "cover.jpg"]
    left_out: list = []  # a caller that says them itself: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(list_frame_files(folder, left_out)) == 12
    assert left_out == [folder / "cover.jpg"]


def test_each_run_of_a_long_lived_process_names_the_strays_once(tmp_path):
    """Said once a run, not once a process: a second run (a Python session calling
    run_pipeline again) names them again; strays a loader said (`strays_said`: a dataset's
    `ignored`) are not named by decoding in that run, unless one was added since."""
    names = [f"{i}.jpg" for i in range(1, 13)]
    folder = write_frames(tmp_path / "v", 13, size=SMALL, names=[*names, "cover.jpg"])
    for _ in range(2):
        with unreadable.remembered(), warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            probe(folder)
            list(iter_frames(folder))
        assert [str(w.message).split(": ")[0] for w in said] == [str(folder)]
    with unreadable.remembered(), warnings.catch_warnings():
        warnings.simplefilter("error")
        strays_said([folder / "cover.jpg", tmp_path / "notes.txt"])
        probe(folder)
    (folder / "thumbnail.png").write_bytes((folder / "1.jpg").read_bytes())
    with unreadable.remembered(), pytest.warns(StrayImagesWarning, match="cover.*thumbnail"):
        strays_said([folder / "cover.jpg"])
        probe(folder)


def test_an_unnumbered_image_leaves_the_gap_check_on(tmp_path):
    names = [f"{i}.jpg" for i in range(1, 13) if i != 5]
    folder = write_frames(tmp_path / "v", 12, size=SMALL, names=[*names, "cover.jpg"])
    left_out: list = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the gap's error comes alone
        for call in (probe, iter_frames, lambda f: list_frame_files(f, left_out)):
            with pytest.raises(VideoReadError, match="the image numbered 5 is missing"):
                call(folder)
    assert left_out == [folder / "cover.jpg"]  # a caller's list gets them all the same


def test_unnumbered_names_that_are_not_outnumbered_are_frames(tmp_path):
    folder = write_frames(tmp_path / "v", 4, size=SMALL,
                          names=["a.png", "b.png", "1.png", "2.png"])
    assert stray_images(folder) == []
    assert [p.name for p in list_frame_files(folder)] == ["1.png", "2.png", "a.png", "b.png"]
    # numbered with two prefixes: no numbered order to leave anything out of
    folder = write_frames(tmp_path / "w", 4, size=SMALL,
                          names=["x1.png", "x2.png", "y3.png", "cover.png"])
    assert stray_images(folder) == [] and probe(folder).n_frames == 4


def test_non_ascii_names(tmp_path):
    video = write_video(tmp_path / "vidéo_測試" / "séquence_01.avi", 5)
    assert probe(video).n_frames == 5
    assert len(list(iter_frames(video))) == 5
    folder = write_frames(tmp_path / "кадры", 3, names=["кадр_0.png", "кадр_1.png", "кадр_2.png"])
    assert [frame_index(f) for f in iter_frames(folder)] == [0, 1, 2]


def test_video_type_reads_through_decode(tmp_path):
    folder = write_frames(tmp_path / "v", 4)
    video = Video("v", folder)
    assert video.n_frames == 4 and video.fps == DEFAULT_FOLDER_FPS
    assert len(list(video.frames())) == 4
    labelled = Video("v", folder, labels=np.zeros(4, np.int8))
    assert labelled.n_frames == 4


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


def test_permission_denied_video_is_a_read_error_naming_it(tmp_path, monkeypatch):
    # what FFmpeg reports for a file without read permission (EACCES) to a non-root user,
    # simulated so that it runs as root too (root reads files whatever their permissions)
    import av

    video = write_video(tmp_path / "locked.avi", 3, size=SMALL)

    def denied(path, *args, **kwargs):
        raise av.error.PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(av, "open", denied)
    with pytest.raises(VideoReadError, match=r"locked.avi: cannot read video \(Permission "
                       r"denied\)$"):
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
    with pytest.raises(VideoReadError, match="locked: cannot list the frame folder") as caught:
        decode.list_frame_files(folder)
    assert str(caught.value) == f"{folder}: cannot list the frame folder (Permission denied)"


@pytest.mark.parametrize(("rate", "trained", "other"), [
    (25.0, 25.0, False),
    (29.97, 30.0, False),  # a container's rounding is one rate
    (8.333, 25.0, True),
    (30.0, 25.0, True),
    (25.0, 25.25, False),  # within 1 %
    (25.0, 25.3, True),
    (None, 25.0, False),  # unknown: nothing to say
    (25.0, None, False),
    (0.0, 25.0, False),
])
def test_other_rate_lets_one_percent_pass(rate, trained, other):
    assert other_rate(rate, trained) is other


def test_distinct_rates_keeps_each_rate_once_within_one_percent():
    """30 and 29.97 are one rate (the first kept); unknown rates (None, 0) are left out."""
    assert distinct_rates([30, None, 25, 29.97, 0, 12.5, 25.1]) == [12.5, 25.0, 30.0]
    assert distinct_rates([29.97, 30]) == [29.97]
    assert distinct_rates([None]) == []


def test_stated_rate_reads_the_header_only(tmp_path):
    """The container's rate without decoding (an .mkv states no frame count, so `probe`
    decodes it all); None for a frame folder, a file that is no video, or no file."""
    for suffix, fps in ((".mp4", 8), (".mkv", 30)):
        assert stated_rate(write_video(tmp_path / f"v{suffix}", 3, fps=fps)) == fps
    assert stated_rate(write_frames(tmp_path / "frames", 2)) is None
    (tmp_path / "notes.avi").write_text("not a video")
    assert stated_rate(tmp_path / "notes.avi") is None
    assert stated_rate(tmp_path / "missing.mp4") is None


def test_a_stray_image_is_not_part_of_the_folders_cache_key(tmp_path):
    """The key of a frame folder is its frames': a cover.jpg among numbered frames, left out
    of the frames, is left out of the key, so a folder cached when the stray was read as its
    last frame (an older mulde's entry, keyed with it) is not read back (a reviewer's find);
    a real frame added changes the key."""
    import hashlib

    folder = write_frames(tmp_path / "v", 5, size=SMALL, suffix=".jpg")
    frames_only = source_checksum(folder)
    (folder / "cover.jpg").write_bytes((folder / "000.jpg").read_bytes())
    assert source_checksum(folder) == frames_only  # nothing warned: the key lists no frames
    older = hashlib.sha256()  # the key an older mulde gave it: every image file
    for f in sorted(folder.iterdir()):
        older.update(f"{f.name}\0{f.stat().st_size}\n".encode())
    assert older.hexdigest() != frames_only
    write_frames(tmp_path / "v", 6, size=SMALL, suffix=".jpg")
    assert source_checksum(folder) != frames_only


def test_a_frame_folders_cache_key_lists_the_folder_once_and_keeps_its_value(tmp_path,
                                                                           monkeypatch):
    """`source_checksum` of a frame folder lists it once (it listed it twice: for its strays,
    then for the key), and its value is still the SHA-256 of its frames' names and sizes in
    name order, the key that feature, box and failure caches were written under."""
    import hashlib
    import os

    folder = write_frames(tmp_path / "v", 5, size=SMALL, suffix=".jpg")
    frames = sorted(folder.iterdir())
    (folder / "cover.jpg").write_bytes(b"a stray")
    (folder / "Thumbs.db").write_bytes(b"not an image")
    expected = hashlib.sha256()
    for f in frames:
        expected.update(f"{f.name}\0{f.stat().st_size}\n".encode())
    listed = []
    for real in (os.listdir, os.scandir):  # what Path.iterdir and os.scandir list with
        def listing(p=".", real=real):
            listed.append(os.fspath(p))
            return real(p)
        monkeypatch.setattr(os, real.__name__, listing)
    assert source_checksum(folder) == expected.hexdigest()
    assert listed == [str(folder)]


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc")
def test_decoding_holds_a_few_threads_whatever_the_number_of_frames(tmp_path):
    """Every frame converted with a colour converter of its own started FFmpeg's scaler
    threads (one per core), held until the frame was collected, which reading its side data
    delays to the garbage collector's next pass (a frame and its side data refer to each
    other): 248 frames of an Avenue video peaked at 351 threads. One converter per video
    holds them once. The collector is paused, as between its passes."""
    path = write_video(tmp_path / "v.avi", 60, size=(96, 128))

    def threads() -> int:
        return len(os.listdir("/proc/self/task"))

    before = threads()
    gc.disable()
    try:
        most = max(threads() for _ in iter_frames(path))
    finally:
        gc.enable()
    assert most - before <= 3 * (os.cpu_count() or 1) + 8, (before, most)  # (60 frames: 128)
