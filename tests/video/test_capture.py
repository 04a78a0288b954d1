"""Frame sources of `mulde watch` (mulde.video.capture): files and folders decode as offline,
`realtime` paces them, and sources that cannot be opened are errors naming them."""

import time

import numpy as np
import pytest
from fakes import frame_index, write_frames, write_video

from mulde.video.capture import open_capture
from mulde.video.decode import VideoReadError


def test_a_folder_and_a_file_give_their_frames_in_order(tmp_path):
    folder = write_frames(tmp_path / "f", 5)
    capture = open_capture(str(folder), fps=12.5)
    assert (capture.kind, capture.fps) == ("folder", 12.5)
    assert [frame_index(f) for f in capture.frames()] == [0, 1, 2, 3, 4]
    video = write_video(tmp_path / "v.mp4", 6, fps=10)
    capture = open_capture(str(video))
    assert (capture.kind, capture.fps) == ("file", 10.0)
    assert [frame_index(f) for f in capture.frames()] == list(range(6))


def test_realtime_paces_a_file_at_its_frame_rate(tmp_path):
    video = write_video(tmp_path / "v.mp4", 6, fps=50)
    start = time.monotonic()
    frames = list(open_capture(str(video), realtime=True).frames())
    assert len(frames) == 6 and time.monotonic() - start >= 5 / 50 - 1e-3


def test_sources_that_cannot_be_opened_are_named(tmp_path):
    with pytest.raises(VideoReadError, match="missing.mp4: no such video file"):
        open_capture(str(tmp_path / "missing.mp4"))
    with pytest.raises(VideoReadError, match="unknown stream scheme 'gopher'"):
        open_capture("gopher://127.0.0.1/x")
    with pytest.raises(VideoReadError, match="webcam 97"):
        open_capture("97")  # no such camera here


def test_a_webcam_index_that_is_a_path_is_the_path(tmp_path, monkeypatch):
    write_frames(tmp_path / "0", 2)
    monkeypatch.chdir(tmp_path)
    capture = open_capture("0")
    assert capture.kind == "folder" and len(list(capture.frames())) == 2
    assert np.asarray(next(iter(open_capture("0").frames()))).dtype == np.uint8
