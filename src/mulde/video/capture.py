"""Live frame sources for `mulde watch`: a video file, a folder of frames, a webcam or a
network stream, as one iterator of RGB uint8 (H, W, 3) frames.

- Video files and frame folders are decoded by `mulde.video.decode` (the same frames, in
  the same order, as the offline pipeline gets); `realtime=True` paces them at their frame
  rate (a recording replayed as a camera would send it), else as fast as they decode.
- A webcam is a device index (`0` is /dev/video0 through video4linux2 on Linux, the first
  AVFoundation camera on macOS); a network stream an URL whose scheme PyAV/FFmpeg reads
  (`NETWORK_SCHEMES`: RTSP, HTTP(S), UDP, TCP, RTMP, SRT). Live frames are taken in decoding
  order, as they come (no constant-rate timeline: a live stream has no end to fill up to).
- A network stream that fails or ends is reopened with exponential back-off (`backoff_s`,
  doubling, at most `backoff_max_s`), up to `reconnect_tries` times in a row; the count
  starts again after each frame received. A recording served whole (its container states
  a duration, or an HTTP(S) server its length; `_is_recording`) ends at its end instead, as
  a file does: reopening it would replay it from the start. An MP4 recording over HTTP(S)
  that fails with an input/output error before its first frame (its index at the end of the
  file, and a server without Range requests) is not retried: the error says how to remux or
  serve it (`_index_out_of_reach`); nor is a server's answer that the request is wrong
  (401, 403, 404, 400 over HTTP(S) or RTSP: `CLIENT_ERROR_HINTS`). When the tries (one or more)
  are spent the frames end and `Capture.lost` says why, so the watcher writes its outputs
  and reports the stream lost; with none asked for, a stream's end is its end. A stream
  that never delivered a frame is a `VideoReadError` (a wrong URL, nothing listening)
  instead.

Errors naming the source (a path that does not exist, an unknown scheme, a device that
cannot be opened) are `VideoReadError`s, raised by `open_capture` before any frame. A URL is
named without its password (`redact_url`), in messages and in `Capture.name`.

`Prefetched` decodes ahead in a background thread (a bounded queue, every frame kept, in
order): decoding and the features of earlier frames then share two cores.
"""

from __future__ import annotations

import errno
import queue
import re
import socket
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import av
import numpy as np

from mulde.video import decode
from mulde.video.decode import VideoReadError

NETWORK_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt", "rtp")
"""URL schemes `open_capture` treats as network streams."""

PLAYLIST_FORMATS = frozenset({"hls", "applehttp", "dash"})
"""FFmpeg's demuxers of playlists (HLS, MPEG-DASH): a live one states no duration, and the
size FFmpeg knows is the playlist's, not the stream's (`_is_recording`)."""

_URL = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")
_PASSWORD = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://[^/?#@:]*:)([^/?#]*)@")
_QUERY_FIELD = re.compile(r"([?&;#])([^=&;#]*)=([^&;#]*)")
SECRET_FIELDS = ("pass", "pw", "token", "key", "secret", "auth", "sig", "credential")
"""What query parameters whose values `redact_url` hides have in their names (case-insensitive:
password, passwd, pwd, pw, access_token, api_key, client_secret, auth, and the signatures
of signed URLs: sig, Signature, X-Amz-Signature, ..., and their key ids: X-Amz-Credential,
X-Goog-Credential). A secret inside the path (/live/<token>/) cannot be told from a name and
is shown."""


def redact_url(source: str) -> str:
    """`source` to show or store: a URL's password (user:PASSWORD@host) and the values of its
    query or fragment parameters named like a secret (`SECRET_FIELDS`) replaced by "***",
    the user name
    and the rest kept as written (percent-encoding included). A camera's URL often carries
    its credentials, and the URL is said in every message and log line about the stream and
    kept in watch.json, which are pasted into issues and shared; the password is what a
    reader must not learn, the user name is what tells two cameras' accounts apart.
    Anything that is not a URL (a path, a Windows path, a webcam index) is returned as is."""
    if not _URL.match(source):
        return source
    shown = _PASSWORD.sub(lambda m: f"{m.group(1)}***@" if m.group(2) else m.group(0), source)

    def field(match: re.Match) -> str:
        name = urllib.parse.unquote(match.group(2)).lower()
        if match.group(3) and any(word in name for word in SECRET_FIELDS):
            return f"{match.group(1)}{match.group(2)}=***"
        return match.group(0)

    # the query and the fragment (#access_token=... of some sign-in flows) alike
    cut = min((i for i in (shown.find("?"), shown.find("#")) if i >= 0), default=len(shown))
    return shown[:cut] + _QUERY_FIELD.sub(field, shown[cut:])


@dataclass
class Capture:
    """An open frame source. `name`: the source as given, a URL without its password
    (`redact_url`: what messages and watch.json say); `kind`: "file", "folder", "webcam" or
    "network"; `fps` its frame
    rate (frames/s: the container's, a folder's `fps`, or a live stream's nominal rate, 25
    when it states none); `frames()` the frame iterator (call once); `reconnects` how many
    times a network stream was reopened, `drops` why (one line each, "after frame i at
    TIME: why", i the 0-based index of the last frame before the drop, TIME the clock time
    it was given up, UTC in ISO 8601 to the millisecond; the last line of a drop after
    which frames came again ends "; frames again S s after the last one", the outage as
    the reader saw it); `lost` why the frames ended when a
    network stream's reconnection tries (one or more) ran out (None otherwise: with none
    asked for, a stream's end is its end). `live`: frames come
    at the source's pace whatever the reader does (a webcam, a network stream, a file read
    with `realtime`), so a reader slower than `fps` falls behind it. `closed`: set by the
    reader when it stops reading (`mulde.watch`), so that a network stream ends at its next
    try instead of reconnecting behind it."""

    name: str
    kind: str
    fps: float
    _frames: Callable[[], Iterator[np.ndarray]] = field(repr=False)
    reconnects: int = 0
    drops: list[str] = field(default_factory=list)
    live: bool = False
    lost: str | None = None
    closed: threading.Event = field(default_factory=threading.Event, repr=False)

    def frames(self) -> Iterator[np.ndarray]:
        return self._frames()


_DONE = object()


class Gap:
    """Yielded by a network stream's frames between a dropped connection's last frame and the
    reconnected stream's first: the frames on either side are not consecutive."""

    def __repr__(self) -> str:
        return "GAP"


GAP = Gap()


class Prefetched:
    """The frames of `frames`, in order and all of them, read by a background thread that
    stays at most `size` frames ahead: PyAV decodes (and a file's `realtime` pacing sleeps)
    with the interpreter lock released, so on two cores the next frames decode while the
    caller computes features. Iterate once; an error of the source is raised there, after
    the frames before it; the iteration ends early once `until` is set (checked between
    frames and every 0.1 s while waiting); `arrived` is when the frame last yielded was read
    from the source. `drain()` stops the reader and returns the frames it had already
    decoded (after Ctrl-C: they are scored too); `close()` stops it, waiting at most
    `CLOSE_WAIT_S` for the reader: one blocked in a network read (up to the capture's
    `timeout_s`, which nothing can cut short) is left to end on its own, so Ctrl-C while a
    stream is opening stops the watch at once. `on_wait`, when given, is called in the
    iterating thread about every 0.1 s while no frame is there (a stream reconnecting, a
    quiet camera): a caller that must do something on a clock (a health record) does it
    while the source is silent too.
    The source iterator is closed by the reader thread that owns it. Memory: `size` decoded
    frames."""

    CLOSE_WAIT_S = 1.0

    def __init__(self, frames: Iterator[np.ndarray], size: int = 8,
                 until: threading.Event | None = None,
                 on_wait: Callable[[], None] | None = None) -> None:
        if size < 1:
            raise ValueError(f"size must be >= 1 frame, got {size}")
        self._frames = frames
        self._until = until or threading.Event()
        self._on_wait = on_wait
        self._buffer: queue.Queue = queue.Queue(maxsize=size)
        self._stop = threading.Event()
        self._held: object = None  # taken from the queue after `until` was set
        self.arrived = 0.0  # time.perf_counter() when the frame last yielded was read
        self._reader = threading.Thread(target=self._read, name="mulde-capture", daemon=True)
        self._reader.start()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _read(self) -> None:
        try:
            for frame in self._frames:
                if not self._put((time.perf_counter(), frame)):
                    break
            self._put(_DONE)
        except BaseException as err:  # handed to the consumer, raised there
            self._put(err)
        finally:
            close = getattr(self._frames, "close", None)
            if close is not None:
                close()

    def __iter__(self) -> Iterator[np.ndarray]:
        while True:
            try:
                item = self._buffer.get(timeout=0.1)
            except queue.Empty:
                if self._until.is_set():
                    return
                if self._on_wait is not None:
                    self._on_wait()
                continue
            if self._until.is_set():  # asked to stop: the rest is for `drain`
                self._held = item
                return
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            self.arrived, frame = item
            yield frame

    def drain(self) -> list[tuple[float, Any]]:
        """Stop reading; return (arrival time, frame) of the frames decoded but not yet
        taken, in order."""
        self.close()
        held, self._held = self._held, None
        out = [held] if isinstance(held, tuple) else []
        while True:
            try:
                item = self._buffer.get_nowait()
            except queue.Empty:
                return out
            if isinstance(item, tuple):
                out.append(item)

    def close(self) -> None:
        if self._stop.is_set():  # closed already (`drain`): waited for once
            return
        self._stop.set()
        self._reader.join(timeout=self.CLOSE_WAIT_S)


def open_capture(source: str, *, realtime: bool = False, fps: float | None = None,
                 reconnect_tries: int = 5, backoff_s: float = 1.0, backoff_max_s: float = 30.0,
                 timeout_s: float = 10.0, log: Callable[[str], None] | None = None) -> Capture:
    """Return the `Capture` of `source`: a path (video file or frame folder), a webcam index
    (digits) or a network URL (module docstring). `fps` overrides a frame folder's rate
    (default `decode.DEFAULT_FOLDER_FPS`) and a network stream's stated one (default: that,
    else 25), and is a webcam's rate where it states none; a video file keeps its own.
    `timeout_s` bounds
    how long a network read may block; `log` receives one line per drop and reconnection.
    Raises VideoReadError naming the source when it is none of these or cannot be opened."""
    log = log or (lambda line: None)
    match = _URL.match(source)
    if match:
        scheme = match.group(1).lower()
        if scheme not in NETWORK_SCHEMES:
            raise VideoReadError(f"{redact_url(source)}: unknown stream scheme {scheme!r}; use "
                                 f"one of {', '.join(s + '://' for s in NETWORK_SCHEMES)}, a "
                                 "video file, a frame folder or a webcam index")
        capture = Capture(redact_url(source), "network", float(fps or 0), lambda: iter(()),
                          live=True)
        capture._frames = lambda: _network_frames(capture, source, reconnect_tries, backoff_s,
                                                  backoff_max_s, timeout_s, log)
        return capture
    if source.isdigit() and not Path(source).exists():
        device, fmt = _webcam(int(source))
        try:
            container = av.open(device, format=fmt, timeout=timeout_s)
        except (av.FFmpegError, OSError) as err:
            raise VideoReadError(f"webcam {source} ({device}): cannot open it "
                                 f"({decode.ffmpeg_reason(err)}); check that the camera is "
                                 "connected and not in use by another program, that this "
                                 "user may read it, or give another index (0, 1, ...), a "
                                 "stream URL or a video file") from err
        stream = container.streams.video[0] if container.streams.video else None
        if stream is None:
            container.close()
            raise VideoReadError(f"webcam {source} ({device}): no video stream; give another "
                                 "index (0, 1, ...), a stream URL or a video file")
        rate = float(stream.guessed_rate or stream.average_rate or fps or 25.0)
        return Capture(source, "webcam", rate, lambda: _live_frames(container, stream),
                       live=True)
    path = Path(source)
    info = decode.probe(path, fps=fps)  # VideoReadError: no such file or folder, no frames
    frames = lambda: decode.iter_frames(path)  # noqa: E731
    if realtime:
        frames = lambda: _paced(decode.iter_frames(path), info.fps)  # noqa: E731
    return Capture(source, "folder" if path.is_dir() else "file", info.fps, frames,
                   live=realtime)


def _webcam(index: int) -> tuple[str, str]:
    if sys.platform.startswith("linux"):
        return f"/dev/video{index}", "v4l2"
    if sys.platform == "darwin":
        return str(index), "avfoundation"
    raise VideoReadError(f"webcam {index}: device indices are supported on Linux and macOS; "
                         "on this system give the camera's stream URL instead")


def _paced(frames: Iterator[np.ndarray], fps: float) -> Iterator[np.ndarray]:
    """Yield frame t no earlier than t / fps seconds after the first."""
    start = time.monotonic()
    for t, frame in enumerate(frames):
        wait = start + t / fps - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        yield frame


def _live_frames(container: av.container.InputContainer, stream: av.VideoStream
                 ) -> Iterator[np.ndarray]:
    try:
        for frame in container.decode(stream):
            yield frame.to_ndarray(format="rgb24")
    finally:
        container.close()


def _is_recording(container: Any, url: str) -> bool:
    """Whether an opened network source is a recording served whole, which ends at its end:
    its container states a duration (an MP4 over HTTP, a finished playlist), or an HTTP(S)
    server stated its length (an MPEG-TS file). A live stream states neither; a live
    playlist's size is the playlist file's, so for HLS and DASH only the duration counts."""
    if container.duration is not None and container.duration > 0:
        return True
    names = set(str(getattr(container.format, "name", "")).split(","))
    if names & PLAYLIST_FORMATS:
        return False
    try:
        size = int(container.size)
    except Exception:  # noqa: BLE001 (a protocol without a size)
        return False
    return url.split(":", 1)[0].lower() in ("http", "https") and size > 0


MP4_SUFFIXES = (".mp4", ".mov", ".m4v")
"""URL paths of MP4-family recordings (`_index_out_of_reach`)."""

FASTSTART_HINT = ("as an MP4 whose index (the moov atom) is at the end of the file fails "
                  "from a server without HTTP Range requests: remux it with the index first "
                  "(ffmpeg -i in.mp4 -c copy -movflags +faststart out.mp4), or serve it with "
                  "Range support")
"""What to do about an MP4 recording that fails to open over HTTP (`_index_out_of_reach`)."""


def _index_out_of_reach(url: str, err: BaseException) -> bool:
    """Whether `err`, raised before the first frame of `url`, is that of an MP4-family
    recording served over HTTP(S) whose index the reader cannot reach: FFmpeg's
    input/output error (EIO), which a server that ignores Range requests gives for an MP4
    with its moov atom at the end, at the opening or at the first read (its seek back to the
    frames; a newcomer's `python -m http.server`: six tries over 31 s, then the bare error).
    Opening it again fails alike, so it is not retried."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:  # e.g. an unclosed "[" of an IPv6 address: no recording's URL
        return False
    return (parts.scheme.lower() in ("http", "https")
            and parts.path.lower().endswith(MP4_SUFFIXES)
            and getattr(err, "errno", None) == errno.EIO)


def _host_lookup(url: str) -> tuple[str, bool] | None:
    """Why the host name of `url` does not resolve (`socket.getaddrinfo`), and whether no name
    server knows it (True: a mistyped or unknown name) rather than none answering now (False);
    None where it resolves or names no host. FFmpeg says a failed name lookup as its bare
    input/output error (EIO), as it does a recording's unreachable index
    (`_index_out_of_reach`), so it is told apart here, on the failure path only."""
    try:
        host = urllib.parse.urlsplit(url).hostname
    except ValueError:  # e.g. an unclosed "[" of an IPv6 address: FFmpeg's error says it
        return None
    if not host:
        return None
    try:
        socket.getaddrinfo(host, None)
    except UnicodeError:
        return f"the host name {host} is not a valid name", True
    except socket.gaierror as err:
        if err.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)):
            return f"the host name {host} was not found", True
        return f"the host name {host} could not be looked up now ({err.strerror or err})", False
    return None


def _client_error_hint(err: BaseException) -> str | None:
    """What to check about `err` when it is a server's answer that the request is wrong
    (`CLIENT_ERROR_HINTS`); None for any other error."""
    return next((hint for kind, hint in CLIENT_ERROR_HINTS if isinstance(err, kind)), None)


def _unanswered_rtsp(url: str, err: BaseException, waited_s: float, timeout_s: float) -> bool:
    """Whether `err`, raised `waited_s` seconds after the opening of the RTSP(S) stream `url`
    or its last frame, is the time-out (`timeout_s`) of a server that stays silent (it accepts
    the connection and never answers). FFmpeg's RTSP demuxer ignores why a request got no
    reply, its time-out included, and says the missing reply as invalid data
    (AVERROR_INVALIDDATA: "Invalid data found when processing input"), as it does a reply it
    cannot parse; its own `timeout` option (socket I/O) ends alike. Only the wait tells them
    apart: a reply that is not RTSP fails at once, the silence at the time-out."""
    return (url.lower().startswith(("rtsp:", "rtsps:")) and isinstance(err, av.InvalidDataError)
            and waited_s >= timeout_s)


CLIENT_ERROR_HINTS = (
    (av.error.HTTPUnauthorizedError, "check the user name and password in the URL"),
    (av.error.HTTPForbiddenError, "check the user name and password in the URL"),
    (av.error.HTTPNotFoundError, "check the path"),
    (av.error.HTTPBadRequestError, "check the URL"),
)
"""The answers of an HTTP or RTSP server (FFmpeg's errors of its 401, 403, 404 and 400) that
say the request itself is wrong, and what to check: asked again, the server answers alike, so
they are not retried before a first frame. 429 (too many requests) and FFmpeg's "other 4xx"
(among them 408, the server's own time-out) may pass, and are retried as before."""


REFUSED_HINT = ("nothing accepts connections at that host and port: check the port, and that "
                "the camera or server is running")
"""What to do about a stream whose every connection was refused before its first frame."""


def _network_frames(capture: Capture, url: str, tries: int, backoff_s: float,
                    backoff_max_s: float, timeout_s: float, log: Callable[[str], None]
                    ) -> Iterator[np.ndarray]:
    name = capture.name  # the URL as shown (`redact_url`); `url` is only opened
    failed = 0  # failures in a row since the last frame
    received = 0
    last_frame = 0.0  # time.monotonic() when the last frame came
    outage: float | None = None  # the last frame's time, while frames have stopped
    while True:
        finite, refused = False, False
        waiting = time.monotonic()  # since the last data: the opening, then each frame
        try:
            with av.open(url, timeout=timeout_s) as container:
                if not container.streams.video:
                    raise VideoReadError(f"{name}: no video stream")
                stream = container.streams.video[0]
                if not capture.fps:
                    capture.fps = float(stream.guessed_rate or stream.average_rate or 25.0)
                finite = _is_recording(container, url)
                for frame in container.decode(stream):
                    if outage is not None:  # frames again: the drop's length, in its line
                        capture.drops[-1] += (f"; frames again {time.monotonic() - outage:.1f} "
                                              "s after the last one")
                        outage = None
                    failed = 0
                    received += 1
                    yield frame.to_ndarray(format="rgb24")
                    waiting = last_frame = time.monotonic()
            if finite and received:
                return  # the recording's end: no reconnection would add to it
            reason = "the stream ended"
        except av.ExitError:  # FFmpeg gave up waiting: its message is "Immediate exit requested"
            reason = f"no data arrived within {timeout_s:g} s"
        except (av.FFmpegError, OSError) as err:
            lookup = _host_lookup(url) if getattr(err, "errno", None) == errno.EIO else None
            if lookup is not None and lookup[1] and not received:  # a name nobody knows
                raise VideoReadError(
                    f"{name}: cannot read the stream ({lookup[0]}: check the URL; not tried "
                    "again, as a name no name server knows fails alike each time)") from err
            if lookup is not None:  # a name server down, or a name gone while streaming
                reason = lookup[0]
            elif not received and (hint := _client_error_hint(err)):
                raise VideoReadError(
                    f"{name}: cannot read the stream ({decode.ffmpeg_reason(err)}: {hint}; not "
                    "tried again, as the server answers alike each time)") from err
            elif not received and _index_out_of_reach(url, err):
                raise VideoReadError(
                    f"{name}: cannot read the stream ({decode.ffmpeg_reason(err)}, before its "
                    "first frame; not tried again, as a recording fails alike each time): "
                    f"{FASTSTART_HINT}") from err
            elif _unanswered_rtsp(url, err, time.monotonic() - waiting, timeout_s):
                reason = f"no data arrived within {timeout_s:g} s"
            else:
                reason = decode.ffmpeg_reason(err)  # the URL is said before it, once
                refused = getattr(err, "errno", None) == errno.ECONNREFUSED
        if capture.closed.is_set():  # nobody reads any more (Ctrl-C while it opened)
            return
        if received and failed == 0:
            yield GAP  # what follows, if anything, is not the next frame of what came before
        if failed >= tries:
            if received == 0:
                again = (f"; the first try and {tries} reconnection attempt(s)" if tries
                         else "")
                raise VideoReadError(f"{name}: cannot read the stream ({reason}{again})"
                                     + (f": {REFUSED_HINT}" if refused else ""))
            if tries:  # reconnection was asked for, and failed: lost, not finished
                silent = time.monotonic() - (outage if outage is not None else last_frame)
                capture.lost = (f"{reason}; gave up after {tries} reconnection attempt(s), "
                                f"{silent:.1f} s after the last frame")
                log(f"{name}: {capture.lost}")
            return
        wait = min(backoff_s * 2 ** failed, backoff_max_s)
        if received and failed == 0:
            outage = last_frame
        failed += 1
        # when, in the day (to the millisecond, as a watch's clock times)
        at = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        capture.drops.append(f"after frame {received - 1} at {at}: {reason}" if received
                             else f"before the first frame at {at}: {reason}")
        log(f"{name}: {reason}; reconnecting in {wait:g} s (attempt {failed} of {tries})")
        if capture.closed.wait(wait):
            return
        capture.reconnects += 1
