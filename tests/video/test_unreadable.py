"""A video found unreadable is opened once in a run (`mulde.video.unreadable`): later probes
and decodes of it give the same error without opening it, while it is unchanged."""

from __future__ import annotations

import collections
from pathlib import Path

import av
import pytest
from fakes import write_frames, write_video

from mulde.video import unreadable
from mulde.video.decode import probe
from mulde.video.source import Video, VideoReadError


@pytest.fixture
def opened(monkeypatch):
    """How many times each file name was opened by PyAV."""
    counts: collections.Counter[str] = collections.Counter()
    real = av.open

    def counting(path, *args, **kwargs):
        counts[Path(str(path)).name] += 1
        return real(path, *args, **kwargs)

    monkeypatch.setattr(av, "open", counting)
    return counts


@pytest.fixture
def clips(tmp_path):
    """A file cut in its header (cannot be opened) and one cut in its frames (its header
    reads, its decoding fails part-way)."""
    data = write_video(tmp_path / "whole.avi", 30, size=(96, 128)).read_bytes()
    (tmp_path / "header.avi").write_bytes(data[:len(data) // 3])
    (tmp_path / "frames.avi").write_bytes(data[:len(data) * 6 // 10])
    return tmp_path / "header.avi", tmp_path / "frames.avi"


def _error(call) -> str:
    with pytest.raises(VideoReadError) as caught:
        call()
    return str(caught.value)


def test_in_a_run_an_unreadable_file_is_opened_once(clips, opened):
    header, frames = clips
    with unreadable.remembered():
        said = _error(lambda: probe(header))
        assert _error(lambda: list(Video("h", header).frames())) == said
        assert _error(lambda: Video("h", header).n_frames) == said
        assert opened["header.avi"] == 1
        assert probe(frames).n_frames == 30  # its header reads: nothing to keep
        said = _error(lambda: list(Video("f", frames).frames()))
        assert "truncated or corrupt video, decoded " in said and "cut off mid-frame" in said
        assert _error(lambda: list(Video("f", frames).frames())) == said
        assert _error(lambda: probe(frames)) == said  # the run knows it cannot be read
        assert opened["frames.avi"] == 2  # the probe, then the decode that failed


def test_outside_a_run_or_once_changed_a_file_is_read_again(clips, opened, tmp_path):
    """Outside `remembered()` nothing is kept (a library user's retry reads again); inside,
    a file repaired or replaced is read again, a missing path is never kept, and a block
    inside another shares its record, which ends with the outer block."""
    header, _ = clips
    for _ in range(2):
        _error(lambda: probe(header))
    assert opened["header.avi"] == 2
    with unreadable.remembered():
        _error(lambda: probe(header))
        with unreadable.remembered():
            _error(lambda: probe(header))
        assert opened["header.avi"] == 3
        header.write_bytes((tmp_path / "whole.avi").read_bytes())  # repaired
        assert probe(header).n_frames == 30
        missing = tmp_path / "later.avi"
        assert "no such video file" in _error(lambda: probe(missing))
        write_video(missing, 3)
        assert probe(missing).n_frames == 3
    header.write_bytes(b"broken again")
    with unreadable.remembered():
        _error(lambda: probe(header))
    assert unreadable.known(header) is None  # the block is over


def test_a_frame_folder_with_a_bad_image_is_decoded_once(tmp_path, monkeypatch):
    folder = write_frames(tmp_path / "clip", 4)
    (folder / "002.png").write_bytes(b"not a png")
    import mulde.video.decode as decode

    reads = collections.Counter()
    real = decode._read_image

    def counting(path):
        reads[path.name] += 1
        return real(path)

    monkeypatch.setattr(decode, "_read_image", counting)
    with unreadable.remembered():
        said = _error(lambda: list(Video("c", folder).frames()))
        assert "002.png: cannot read image" in said
        assert _error(lambda: list(Video("c", folder).frames())) == said
    assert reads == {"000.png": 1, "001.png": 1, "002.png": 1}


def test_a_file_still_being_written_when_its_read_failed_is_read_again(clips, monkeypatch):
    """The path's identity is taken before the read: a file that its copy finished writing
    between the failed open and the record is not kept as unreadable (a reviewer's race);
    what is kept is the error's class and words, not its traceback."""
    import mulde.video.decode as decode

    header, _ = clips
    whole = header.with_name("whole.avi")
    real = decode._probe

    def finished_meanwhile(path, fps):
        try:
            return real(path, fps)
        finally:  # the copy completes while the failed open is being reported
            path.write_bytes(whole.read_bytes())

    monkeypatch.setattr(decode, "_probe", finished_meanwhile)
    with unreadable.remembered():
        with pytest.raises(VideoReadError):
            probe(header)
        monkeypatch.setattr(decode, "_probe", real)
        assert probe(header).n_frames == 30
    with unreadable.remembered():
        _error(lambda: probe(clips[1].with_name("missing.avi")))  # never kept: missing
        unreadable.remember(unreadable.identity(whole), VideoReadError("said"))
        kept = unreadable.known(whole)
        assert type(kept) is VideoReadError and str(kept) == "said"
        assert kept.__traceback__ is None
