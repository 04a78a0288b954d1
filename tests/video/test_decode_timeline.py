"""Video timelines as players and ffmpeg count them: dropped frames, duplicate and jumping
timestamps, display rotation, odd sizes and resolution changes (`mulde.video.decode`)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from fractions import Fraction

import cv2
import numpy as np
import pytest
from fakes import frame_index, solid, write_cut_matroska, write_timed_video, write_video

from mulde.video.decode import FrameTimelineWarning, VideoInfo, iter_frames, probe
from mulde.video.source import VideoReadError


def _decode(path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frames = list(iter_frames(path))
    timeline = [str(w.message) for w in caught if w.category is FrameTimelineWarning]
    return [frame_index(f) for f in frames], timeline


@pytest.mark.parametrize("suffix", [".avi", ".mp4", ".mkv"])
def test_dropped_frames_repeat_the_previous_frame_on_the_container_timeline(tmp_path, suffix):
    """The camera dropped frames 20..24: the AVI muxer writes empty chunks (45 declared), the
    MP4/MKV timestamps jump 19 -> 25. Frames 20..24 repeat frame 19, as ffmpeg's
    constant-frame-rate extraction does, so labels indexed on the timeline stay aligned."""
    path = write_timed_video(tmp_path / f"cam{suffix}", [*range(20), *range(25, 45)])
    assert probe(path).n_frames == 45
    indices, timeline = _decode(path)
    assert indices == [*range(20), 19, 19, 19, 19, 19, *range(20, 40)]
    assert len(timeline) == 1
    assert f"cam{suffix}: 5 frame(s) missing from the timeline" in timeline[0]
    assert "first at frame 20" in timeline[0]


def test_duplicate_and_crowded_timestamps_are_dropped_and_reported(tmp_path):
    """Timestamps in ms at 25 fps: 80 ms twice (a duplicate), 90 ms (closer than one frame
    interval), then a 120 ms gap: the extra frames are dropped, the gap filled."""
    ms = Fraction(1, 1000)
    path = write_timed_video(tmp_path / "vfr.mkv", [0, 40, 80, 90, 120, 160, 280, 320],
                             time_base=ms)
    indices, timeline = _decode(path)
    assert indices == [0, 1, 2, 4, 5, 5, 5, 6, 7]
    assert probe(path).n_frames == 9
    assert "1 frame(s) closer than one frame interval" in timeline[0]
    assert "2 frame(s) missing from the timeline" in timeline[0]


def test_exact_duplicate_timestamps_keep_the_first_frame(tmp_path):
    """Packets muxed with a repeated timestamp (0, 1, 1, 2): the later frame is dropped."""
    import av

    path = tmp_path / "dup.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.height, stream.width, stream.pix_fmt = 48, 64, "yuv420p"
        stream.max_b_frames = 0
        packets = []
        for i in range(4):
            packets += stream.encode(av.VideoFrame.from_ndarray(solid(i), format="rgb24"))
        packets += stream.encode()
        for packet, pts in zip(packets, [0, 1, 1, 2], strict=True):
            packet.pts = packet.dts = pts
            container.mux(packet)
    indices, timeline = _decode(path)
    assert indices == [0, 1, 3]
    assert "1 frame(s) with the timestamp of the frame before, dropped" in timeline[0]
    assert probe(path).n_frames == 3


def test_timestamps_that_restart_start_a_new_segment(tmp_path):
    """Two MPEG-TS recordings of one size joined byte for byte: the second restarts at 0.
    Its frames follow the first's instead of being dropped as duplicates."""
    first = write_timed_video(tmp_path / "a.ts", list(range(10)), container_format="mpegts")
    second = write_timed_video(tmp_path / "b.ts", list(range(10)), container_format="mpegts")
    joined = tmp_path / "joined.ts"
    joined.write_bytes(first.read_bytes() + second.read_bytes())
    indices, timeline = _decode(joined)
    assert len(indices) == 20 and indices[:10] == list(range(10))
    assert "jumps back" in timeline[0] and "first at frame 10" in timeline[0]
    assert probe(joined).n_frames == 20


def test_joined_segments_of_two_sizes_are_refused(tmp_path):
    """The issue's case: two .ts segments of 160x120 and 176x144 concatenated."""
    a = write_timed_video(tmp_path / "a.ts", list(range(10)), size=(120, 160),
                          container_format="mpegts")
    b = write_timed_video(tmp_path / "b.ts", list(range(10, 20)), size=(144, 176),
                          container_format="mpegts")
    joined = tmp_path / "joined.ts"
    joined.write_bytes(a.read_bytes() + b.read_bytes())
    with pytest.raises(VideoReadError, match=r"joined.ts: frame size changes at frame 10"):
        list(iter_frames(joined))
    with pytest.raises(VideoReadError, match="joined.ts"):
        probe(joined)  # MPEG-TS declares no count: probing decodes, and meets the change


def _opencv_frames(path):
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            return frames
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_display_rotation_is_applied_as_players_and_opencv_do(tmp_path, rotation):
    """A phone video stored 64x48 with a display rotation: decoded frames (and probe) are
    the displayed ones, pixel for pixel OpenCV's, which applies the rotation too."""
    marked = np.zeros((48, 64, 3), np.uint8)
    marked[:12, :16] = 255  # a marker in the stored top-left corner
    path = tmp_path / f"phone{rotation}.mp4"
    write_timed_video(path, [0, 1, 2], rotation=rotation)
    ours = list(iter_frames(path))
    theirs = _opencv_frames(path)
    assert len(ours) == len(theirs) == 3
    for a, b in zip(ours, theirs, strict=True):
        assert a.shape == b.shape
        assert np.abs(a.astype(int) - b).mean() < 2
    shape = (64, 48) if rotation in (90, -90) else (48, 64)
    assert ours[0].shape[:2] == shape
    assert probe(path) == VideoInfo(3, 25.0, shape[1], shape[0])


def test_decoded_frames_are_freed_without_the_garbage_collector(tmp_path):
    """Reading a frame's side data ties the frame and its side data in a cycle that only
    the garbage collector breaks: read on every frame, each frame's picture waited for it
    (122 frames of a 640x360 video at once). The display matrix is read once a video."""
    import gc

    path = write_timed_video(tmp_path / "phone.mp4", list(range(40)), rotation=90)

    def frames_alive():
        return sum(type(o).__name__ == "VideoFrame" for o in gc.get_objects())

    gc.collect()
    before, alive, n = frames_alive(), [], 0
    gc.disable()
    try:  # counted every 8th frame: a scan of the heap takes a while, and a leak only grows
        for n, _ in enumerate(iter_frames(path), 1):
            if n % 8 == 0:
                alive.append(frames_alive() - before)
    finally:
        gc.enable()
    assert n == 40 and len(alive) == 5 and max(alive) <= 5, alive


def test_an_orientation_set_on_a_later_frame_is_not_applied_as_opencv_does(tmp_path):
    """An H.264 stream whose display-orientation messages turn frames 14 and 19 by 90
    degrees (FFmpeg's h264_metadata filter): read once from the first frame, the rotation
    is none for every frame, as OpenCV decodes them (read per frame, the file had been
    refused for a size change at frame 14)."""
    import av

    try:
        encoder = av.CodecContext.create("libx264", "w")
        from av.bitstream import BitStreamFilterContext
    except (av.FFmpegError, ImportError, ValueError) as err:
        pytest.skip(f"this PyAV has no H.264 encoder or bitstream filters: {err}")
    encoder.width, encoder.height, encoder.pix_fmt = 64, 32, "yuv420p"
    encoder.time_base, encoder.framerate = Fraction(1, 25), 25
    encoder.options = {"bframes": "0", "g": "5"}
    packets = []
    for i in range(20):
        frame = av.VideoFrame.from_ndarray(solid(i, (32, 64)), format="rgb24")
        frame = frame.reformat(format="yuv420p")
        frame.pts = i
        packets += encoder.encode(frame)
    packets += encoder.encode(None)
    plain = tmp_path / "plain.h264"
    plain.write_bytes(b"".join(bytes(p) for p in packets))
    turned = tmp_path / "turned.h264"
    with av.open(str(plain)) as container, open(turned, "wb") as out:
        stream = container.streams.video[0]
        orient = BitStreamFilterContext("h264_metadata=display_orientation=insert:rotate=90",
                                        stream)
        for k, packet in enumerate(p for p in container.demux(stream) if p.size):
            out.write(b"".join(bytes(q) for q in orient.filter(packet)) if k >= 10
                      else bytes(packet))
    with av.open(str(turned)) as container:
        assert 90 in [f.rotation for f in container.decode(video=0)]  # what PyAV reports
    ours = list(iter_frames(turned))
    assert len(ours) == 20 and {f.shape for f in ours} == {(32, 64, 3)}
    assert [f.shape for f in _opencv_frames(turned)] == [f.shape for f in ours]


@pytest.mark.parametrize("rotation,corner", [(90, (-1, 0)), (-90, (0, -1)), (180, (-1, -1))])
def test_rotation_direction_moves_the_top_left_corner_where_players_show_it(
        tmp_path, rotation, corner):
    """PyAV's rotation is counter-clockwise: +90 shows the stored top-left corner at the
    bottom left, -90 at the top right, 180 at the bottom right."""
    import av

    path = tmp_path / f"corner{rotation}.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.height, stream.width, stream.pix_fmt = 48, 64, "yuv420p"
        stream.set_display_rotation(rotation)
        image = np.zeros((48, 64, 3), np.uint8)
        image[:12, :16] = 255
        for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    frame = next(iter_frames(path))
    rows, cols = np.nonzero(frame[..., 0] > 128)
    h, w = frame.shape[:2]
    centre = (rows.mean(), cols.mean())
    expected = tuple((h - 1 if corner[0] else 0, w - 1 if corner[1] else 0))
    assert abs(centre[0] - expected[0]) < 12 and abs(centre[1] - expected[1]) < 12


@pytest.mark.parametrize("rotation, hflip, message", [
    (0, True, "the display matrix mirrors the picture"),
    (45, False, "display rotation of 45.0 degrees is not a multiple of 90"),
])
def test_display_matrices_that_are_not_quarter_turns_are_refused(tmp_path, rotation, hflip,
                                                                  message):
    path = write_timed_video(tmp_path / "selfie.mp4", [0, 1], rotation=rotation, hflip=hflip)
    for call in (lambda: list(iter_frames(path)), lambda: probe(path)):
        with pytest.raises(VideoReadError, match=f"selfie.mp4: {message}.*re-encode"):
            call()


class _Entry:
    """A side-data entry: its type (an enum member with a name) and its bytes."""

    def __init__(self, name, payload=b""):
        self.type = type("Type", (), {"name": name})()
        self.payload = payload

    def __bytes__(self):
        return self.payload


class _SideData18(Mapping):
    """PyAV 13-18's frame.side_data: a Mapping that iterates (and counts) its entries."""

    def __init__(self, entries):
        self.entries, self.by_type = entries, {e.type.name: e for e in entries}

    def __len__(self):
        return len(self.entries)

    def __iter__(self):
        return iter(self.entries)

    def __getitem__(self, key):
        return self.entries[key] if isinstance(key, int) else self.by_type[key]


class _SideData19(_SideData18):
    """PyAV 19's: iterates its type keys and counts distinct types (commit 939d06cb)."""

    def __len__(self):
        return len(self.by_type)

    def __iter__(self):
        return iter(self.by_type)


@pytest.mark.parametrize("container", [_SideData18, _SideData19])
def test_the_display_matrix_is_found_behind_repeated_side_data_in_pyav_18_and_19(container):
    """Two entries of one type (SEI user data, say) before a quarter-turn display matrix:
    found with both PyAV's containers, whose iteration and len differ (19's len counts the
    types, 2, so reading positions 0..len-1 never reaches the matrix at position 2)."""
    from mulde.video.decode import _display_turns

    matrix = (np.array([0, -1, 0, 1, 0, 0, 0, 0, 1]) * 65536).astype(np.int32).tobytes()
    side = container([_Entry("SEI_UNREGISTERED"), _Entry("SEI_UNREGISTERED"),
                      _Entry("DISPLAYMATRIX", matrix)])
    frame = type("Frame", (), {"side_data": side})()
    assert _display_turns(frame, "v.mp4") == 1
    assert _display_turns(type("Frame", (), {"side_data": container([])})(), "v.mp4") == 0


@pytest.mark.parametrize("size", [(121, 161), (17, 33)])
def test_odd_frame_sizes_decode_at_their_size(tmp_path, size):
    path = write_timed_video(tmp_path / "odd.avi", [0, 1, 2], size=size)
    frames = list(iter_frames(path))
    assert [f.shape for f in frames] == [(*size, 3)] * 3
    assert [frame_index(f) for f in frames] == [0, 1, 2]
    assert probe(path) == VideoInfo(3, 25.0, size[1], size[0])
    assert np.abs(frames[1].astype(int) - solid(1, size)).mean() < 4


def test_a_matroska_file_cut_short_of_its_stated_duration_is_warned_and_its_frames_used(
        tmp_path):
    """Matroska states no frame count, only a duration (4 s at 25 fps: 100 frames); a file
    cut after 60 frames decodes them and stops without an error. One `CutShortWarning`, a
    `FrameTimelineWarning`, says so in one line; the frames are used; probing says nothing."""
    from mulde.video.decode import CutShortWarning

    path = write_cut_matroska(tmp_path / "cut.mkv", 100, 60)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert probe(path).n_frames == 60
    assert caught == []
    indices, timeline = _decode(path)  # the subclass is not counted there
    assert indices == list(range(60)) and timeline == []
    with pytest.warns(CutShortWarning) as said:
        list(iter_frames(path))
    assert [str(w.message) for w in said] == [
        f"{path}: decoded 60 of the 100 frames its container states (4 s at 25 fps), so it "
        "may be cut short or damaged; the 60 frames decoded are used; if the file was cut "
        "short (a copy or download stopped early), copy it again whole, and if it is whole, "
        "re-encode it (ffmpeg -i IN OUT.mp4) so that its container states its true length"]
    assert issubclass(CutShortWarning, FrameTimelineWarning) and said[0].message.path == path


@pytest.mark.parametrize(("n_frames", "keep"), [(100, 100), (100, 92), (12, 5)])
def test_a_file_near_its_stated_duration_or_a_few_frames_short_is_not_warned(
        tmp_path, n_frames, keep):
    """Whole; 8 % short (within `CUT_SHORT_SHARE`: a duration is no frame count); 7 frames
    short of a 12-frame clip (fewer than `CUT_SHORT_FRAMES`): no warning."""
    path = (write_video(tmp_path / "whole.mkv", n_frames) if keep == n_frames
            else write_cut_matroska(tmp_path / "cut.mkv", n_frames, keep))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert len(list(iter_frames(path))) == keep
    assert caught == []


def test_a_recording_that_states_no_duration_is_not_warned_when_it_ends(tmp_path):
    """A Matroska recording written as a stream (no seeking back: no duration in its header,
    as a recorder's file still being written, or a live stream's) states nothing to fall
    short of: its frames end without a word."""
    import io

    import av

    class Unseekable(io.RawIOBase):
        def __init__(self):
            self.data = bytearray()

        def writable(self):
            return True

        def write(self, b):
            self.data += bytes(b)
            return len(b)

    out = Unseekable()
    with av.open(out, "w", format="matroska") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.height, stream.width = 48, 64
        stream.pix_fmt = "yuv420p"
        for i in range(100):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(solid(i), format="rgb24")))
        container.mux(stream.encode(None))
    path = tmp_path / "recording.mkv"
    path.write_bytes(bytes(out.data[: len(out.data) * 6 // 10]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert 40 < len(list(iter_frames(path))) < 100
    assert caught == []
