"""Small on-disk fakes for decoding and dataset-loader tests, and the real-data location.

Frames are solid colours, so a frame's identity survives lossy coding: `colour(i)` is the
colour of frame i, and `frame_index(frame)` recovers i from a decoded frame.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import namedtuple
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import scipy.io
from PIL import Image

from mulde.video.features import ObjectFeatures, Stream, VideoFeatures
from mulde.video.features.base import SceneFree
from mulde.video.source import Video

REPO = Path(__file__).resolve().parents[1]
_STEP = 40


REQUIRE_DATA = "MULDE_REQUIRE_DATA"
"""Environment variable: when set (to anything but "" or "0"), a missing real-data folder fails
the test instead of skipping it. `.ci/run` sets it, so CI cannot go green without the data."""


def data_root() -> Path:
    """The root of the real evaluation data: `$MULDE_DATA` (a relative path is taken from the
    repository root), by default `../shared/data`."""
    root = Path(os.environ.get("MULDE_DATA", "../shared/data"))
    return root if root.is_absolute() else REPO / root


def data_required() -> bool:
    """Whether missing real data is an error (`$MULDE_REQUIRE_DATA` set) rather than a skip."""
    return os.environ.get(REQUIRE_DATA, "") not in ("", "0")


def data_dir(*parts: str) -> Path:
    """Return a file or folder of the real evaluation data, or skip the test when it is absent.

    The one gate of every real-data test. With `$MULDE_REQUIRE_DATA` set (as in CI) an absent
    path fails the test instead, naming the path.
    """
    path = data_root().joinpath(*parts)
    if not path.exists():
        reason = f"real data not available: {path} (set MULDE_DATA to its folder)"
        if data_required():
            pytest.fail(f"{reason}; {REQUIRE_DATA} is set, so missing data is an error",
                        pytrace=False)
        pytest.skip(reason)
    return path


def colour(index: int) -> tuple[int, int, int]:
    """The RGB colour of frame `index` in every fake video (distinct for 0..215)."""
    return (20 + _STEP * (index % 6), 20 + _STEP * (index // 6 % 6), 20 + _STEP * (index // 36 % 6))


def frame_index(frame: np.ndarray) -> int:
    """Recover the frame index from a decoded solid-colour frame (inverse of `colour`)."""
    r, g, b = (int(round((c - 20) / _STEP)) for c in frame.reshape(-1, 3).mean(axis=0))
    return r + 6 * g + 36 * b


def solid(index: int, size: tuple[int, int] = (48, 64)) -> np.ndarray:
    """An (H, W, 3) uint8 frame of `colour(index)`."""
    return np.broadcast_to(np.array(colour(index), np.uint8), (*size, 3)).copy()


def write_video(
    path: Path, n_frames: int, *, size: tuple[int, int] = (48, 64), fps: int = 25
) -> Path:
    """Write an MPEG-4 part 2 video of `n_frames` solid frames (container from the suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.height, stream.width = size
        stream.pix_fmt = "yuv420p"
        if n_frames == 0:
            container.start_encoding()
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(solid(i, size), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_cut_video(path: Path, n_frames: int, cut: int, *,
                    size: tuple[int, int] = (48, 64), whole: Path | None = None) -> Path:
    """Write an AVI of `n_frames` noise frames (every frame's packet large) cut inside the
    data of frame `cut`: the demuxer marks that packet corrupt, the decoder conceals it with
    garbage (`decoded_frames` drops it), and the frames before it decode whole. `whole`: where
    to keep the file before the cut (None: not kept)."""
    noise = np.random.default_rng(0).integers(0, 256, (n_frames, *size, 3), dtype=np.uint8)
    keep = whole is not None
    whole = whole or path.with_name(f"{path.stem}_whole{path.suffix}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(whole), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.height, stream.width = size
        stream.pix_fmt = "yuv420p"
        for image in noise:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    with av.open(str(whole)) as container:
        packets = [p for p in container.demux(container.streams.video[0]) if p.size]
    data = whole.read_bytes()
    if not keep:
        whole.unlink()
    path.write_bytes(data[:packets[cut].pos + packets[cut].size // 2])
    return path


def write_cut_matroska(path: Path, n_frames: int, keep: int, *,
                       size: tuple[int, int] = (48, 64), fps: int = 25) -> Path:
    """Write a Matroska file of `n_frames` solid frames (its header stating their duration,
    no frame count, as ffmpeg writes it) cut at the start of frame `keep`'s packet: the
    frames before it decode whole and decoding then stops without an error, as for a copy
    stopped early (`CutShortWarning`)."""
    whole = write_video(path.with_name(f"{path.stem}_whole.mkv"), n_frames, size=size,
                        fps=fps)
    with av.open(str(whole)) as container:
        packets = [p for p in container.demux(container.streams.video[0]) if p.size]
    data = whole.read_bytes()
    whole.unlink()
    path.write_bytes(data[:packets[keep].pos])
    return path


def write_frames(
    folder: Path,
    n_frames: int,
    *,
    size: tuple[int, int] = (48, 64),
    suffix: str = ".png",
    names: Sequence[str] | None = None,
    gray: bool = False,
) -> Path:
    """Write a frame folder: `000.png`, `001.png`, ... (or `names`), solid colours."""
    folder.mkdir(parents=True, exist_ok=True)
    names = names if names is not None else [f"{i:03d}{suffix}" for i in range(n_frames)]
    for i, name in enumerate(names):
        image = Image.fromarray(solid(i, size))
        (image.convert("L") if gray else image).save(folder / name)
    return folder


def unlistable(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Make `folder` unlistable, as one without read permission is to a user (simulated:
    root lists any folder), whichever of os.listdir and os.scandir lists it."""
    for real in (os.listdir, os.scandir):
        def denied(path=".", real=real):
            if os.fspath(path) == str(folder):
                raise PermissionError(13, "Permission denied", str(path))
            return real(path)
        monkeypatch.setattr(os, real.__name__, denied)


def savemat(path: Path, variables: dict[str, object], *, compress: bool = True) -> Path:
    """Write a MATLAB v5 file (a cell array is a 1-row object ndarray)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(str(path), variables, do_compression=compress)
    return path


def cell(items: Sequence[np.ndarray]) -> np.ndarray:
    """A (1, N) MATLAB cell array holding `items`."""
    array = np.empty((1, len(items)), dtype=object)
    for i, item in enumerate(items):
        array[0, i] = item
    return array


def write_square_frames(folder: Path, speeds: Sequence[float], size: tuple[int, int] = (40, 120)
                        ) -> None:
    """A frame folder with a bright square moving right at the given per-frame speeds."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(len(speeds) + int(1000 * speeds[0]))
    x = 2.0
    for i, v in enumerate(speeds):
        img = np.full((*size, 3), rng.integers(20, 60), np.uint8)
        c = int(x)
        img[15:23, c:c + 8] = 220
        Image.fromarray(img).save(folder / f"{i:03d}.png")
        x += v


def shanghaitech_fake(root: Path, size: tuple[int, int] = (16, 16)) -> Path:
    """Write a tiny ShanghaiTech layout: 3 training videos of scenes 01/02, 2 test frame folders
    and 3 label masks (one without frames); return root."""
    for name in ("01_001", "01_002", "02_001"):
        write_video(root / "training" / "videos" / f"{name}.avi", 3, size=size)
    for name, n in (("01_0014", 5), ("02_0128", 4)):
        write_frames(root / "testing" / "frames" / name, n, size=size, suffix=".jpg")
    masks = root / "testing" / "test_frame_mask"
    masks.mkdir(parents=True)
    np.save(masks / "01_0014.npy", np.array([0, 0, 1, 1, 0], np.uint8))
    np.save(masks / "02_0128.npy", np.array([1, 0, 0, 0], np.uint8))
    np.save(masks / "03_0031.npy", np.array([1, 1], np.uint8))
    return root


def write_timed_video(
    path: Path,
    pts: Sequence[int],
    *,
    size: tuple[int, int] = (48, 64),
    fps: int = 25,
    time_base: Fraction | None = None,
    rotation: int | None = None,
    hflip: bool = False,
    container_format: str | None = None,
) -> Path:
    """Write an MPEG-4 part 2 video whose frame i is `solid(i)` at timestamp `pts[i]`.

    Timestamps count in `time_base` (default 1 / fps); `rotation` / `hflip` set the display
    matrix (degrees counter-clockwise, PyAV's convention). The container comes from the
    suffix unless `container_format` names one (e.g. "mpegts").
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tb = time_base or Fraction(1, fps)
    with av.open(str(path), "w", format=container_format) as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.height, stream.width = size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = tb
        if rotation is not None or hflip:
            stream.set_display_rotation(rotation or 0, hflip=hflip)
        for i, t in enumerate(pts):
            frame = av.VideoFrame.from_ndarray(solid(i, size), format="rgb24")
            frame.pts, frame.time_base = t, tb
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_resolution_switch(path: Path, sizes: Sequence[tuple[int, int]] = ((120, 160),
                                                                           (144, 176)),
                            n_each: int = 10) -> Path:
    """Two MPEG-TS segments of `n_each` frames at two (H, W) sizes joined byte for byte (a
    recorder switching resolution midway); timestamps run on across the join."""
    parts = [write_timed_video(path.with_name(f"{path.stem}.part{k}.ts"),
                               list(range(k * n_each, (k + 1) * n_each)), size=size,
                               container_format="mpegts") for k, size in enumerate(sizes)]
    path.write_bytes(b"".join(p.read_bytes() for p in parts))
    for p in parts:
        p.unlink()
    return path


class MeanBackbone:
    """A backbone whose 1-d embedding is the image's mean pixel value."""

    name, dim = "mean", 1

    def __init__(self, weights_path=None):
        pass

    def embed(self, images):
        return images.reshape(len(images), -1).mean(axis=1, keepdims=True).astype(np.float32)


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


class _Payload:
    """Unpickling this object creates `marker` (it runs `open(marker, 'w')`)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _disk_with(monkeypatch, free: int) -> None:
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**12, 10**12 - free, free))


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


def cache_entries(root: Path) -> tuple[dict[str, object], list[str]]:
    """A feature cache's complete entries {relative path: sidecar dict, arrays of the .npz
    whose sidecar exists, or the bytes of a scene background PNG} and every other file
    (temporary or half-written ones) by relative path."""
    entries: dict[str, object] = {}
    others = []
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
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


def assert_same_entries(got: dict, expected: dict) -> None:
    """Equal `cache_entries`: the same files, sidecars and PNGs, arrays equal in value and
    dtype."""
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        if isinstance(value, dict) and key.endswith(".npz"):
            assert sorted(got[key]) == sorted(value), key
            for name, array in value.items():
                np.testing.assert_array_equal(got[key][name], array, err_msg=f"{key} {name}")
                assert got[key][name].dtype == array.dtype, f"{key} {name}"
        else:
            assert got[key] == value, key


def serve_mpegts(url: str, video: str, cuts: Sequence[int] = (), stop: int | None = None,
                 fps: int = 10) -> None:
    """Serve the frames of `video` (up to frame `stop`) as MPEG-TS at `url` (e.g.
    tcp://127.0.0.1:PORT?listen=1: the writer waits for one reader), one connection per
    segment between `cuts` (frame indices), so the stream drops at each cut and comes back.
    Prints "ready" before it listens for each segment. Run it in its own process (PyAV
    holds the GIL while it waits for the reader)."""
    from mulde.video.decode import iter_frames

    frames = list(iter_frames(video))[:stop]
    bounds = [0, *cuts, len(frames)]
    for a, b in zip(bounds, bounds[1:], strict=False):
        print("ready", flush=True)
        with av.open(url, "w", format="mpegts") as container:
            stream = container.add_stream("mpeg4", rate=fps)
            stream.height, stream.width = frames[0].shape[:2]
            stream.pix_fmt = "yuv420p"
            for frame in frames[a:b]:
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (now)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
"""A test of a named pipe where a file is read or written (os.mkfifo: POSIX)."""


def in_time(call, seconds: float = 60.0):
    """call(), in a thread that a blocked open or read cannot hold: a test of a named pipe
    fails instead of hanging when the code under test regresses; what call raises is raised
    here."""
    result = {}

    def run():
        try:
            result["value"] = call()
        except BaseException as err:  # noqa: BLE001 - raised again in the test's thread
            result["error"] = err

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "blocked on the pipe"
    if "error" in result:
        raise result["error"]
    return result.get("value")


def refused_in_one_line(call, error: type[BaseException], start: str, said: str) -> str:
    """Assert that call() raises `error` in one line that starts with `start` (the file it
    names) and says `said`; return the message."""
    with pytest.raises(error) as err:
        call()
    message = str(err.value)
    assert message.startswith(start), message
    assert said in message and "\n" not in message, message
    return message
