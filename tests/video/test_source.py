"""`mulde.video.source`: a frame folder's cache key lists it as decoding does, and one that
cannot be listed gives the error decoding gives."""

from __future__ import annotations

import pytest
from fakes import SMALL, unlistable, write_frames

from mulde.video.decode import list_frame_files
from mulde.video.source import VideoReadError, source_checksum


def test_an_unlistable_frame_folder_is_decodings_read_error(tmp_path, monkeypatch):
    """`source_checksum` listed a frame folder its own way and raised a PermissionError
    ("[Errno 13] Permission denied: '...'") where decoding raises a VideoReadError naming the
    folder: it now lists it with decoding's listing, so both say the same line."""
    folder = write_frames(tmp_path / "locked", 3, size=SMALL)
    unlistable(monkeypatch, folder)
    with pytest.raises(VideoReadError) as decoding:
        list_frame_files(folder)
    with pytest.raises(VideoReadError) as checksum:
        source_checksum(folder)
    assert str(checksum.value) == str(decoding.value) == (
        f"{folder}: cannot list the frame folder (Permission denied)")


def test_a_missing_video_file_is_still_an_os_error(tmp_path):
    """A path that is no folder is a file to read: its OSError is the caller's, as before."""
    with pytest.raises(FileNotFoundError):
        source_checksum(tmp_path / "gone.mp4")
