"""Frame sources of `mulde watch` (mulde.video.capture): files and folders decode as offline,
`realtime` paces them, and sources that cannot be opened are errors naming them."""

import re
import time

import numpy as np
import pytest
from fakes import frame_index, write_frames, write_video

from mulde.video.capture import Prefetched, open_capture, redact_url
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


def test_fps_sets_a_folders_and_a_network_streams_rate_not_a_files(tmp_path):
    """What docs/live.md and `mulde watch --help` say of --fps: a video file keeps its own rate; a
    network stream takes the rate given (its stated one fills in only when none is)."""
    video = write_video(tmp_path / "v.mp4", 3, fps=10)
    assert open_capture(str(video), fps=30).fps == 10.0
    stream = open_capture("rtsp://127.0.0.1:9/x", fps=12)  # nothing is opened before a read
    assert (stream.kind, stream.fps) == ("network", 12.0)
    assert open_capture("rtsp://127.0.0.1:9/x").fps == 0  # the stream's, once it is read


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
    with pytest.raises(VideoReadError, match="webcam 97") as said:
        open_capture("97")  # no such camera here
    assert "[Errno" not in str(said.value)  # FFmpeg's reason, not str(error) quoting the device
    # and what to do (a newcomer's error said none)
    assert str(said.value).endswith("; check that the camera is connected and not in use by "
                                    "another program, that this user may read it, or give "
                                    "another index (0, 1, ...), a stream URL or a video file")


def test_a_network_error_names_the_url_once():
    """A refused connection (nothing listening; real FFmpeg) is said as FFmpeg's reason
    after the URL, in the error and in each reconnection line: str() of PyAV's error, which
    quotes the URL again after an error number, had the URL twice."""
    from fakes import free_port

    port = free_port()
    for url in (f"http://127.0.0.1:{port}/clip.mp4", f"rtsp://127.0.0.1:{port}/live"):
        lines = []
        capture = open_capture(url, reconnect_tries=1, backoff_s=0.001, log=lines.append)
        with pytest.raises(VideoReadError) as said:
            list(capture.frames())
        assert str(said.value) == (f"{url}: cannot read the stream (Connection refused; the "
                                   "first try and 1 reconnection attempt(s)): nothing accepts "
                                   "connections at that host and port: check the port, and "
                                   "that the camera or server is running")
        assert lines == [f"{url}: Connection refused; reconnecting in 0.001 s (attempt 1 of 1)"]


def test_redact_url_hides_passwords_and_secret_query_values_only():
    assert redact_url("rtsp://admin:S3cretPw@10.0.0.7:554/stream1") == (
        "rtsp://admin:***@10.0.0.7:554/stream1")
    assert redact_url("rtsp://admin@10.0.0.7/stream1") == "rtsp://admin@10.0.0.7/stream1"
    assert redact_url("rtsp://10.0.0.7:554/stream1") == "rtsp://10.0.0.7:554/stream1"
    assert redact_url("rtsp://admin:@cam/live") == "rtsp://admin:@cam/live"  # none to hide
    # percent-encoded, or an "@" left in (FFmpeg takes the host after the last "@")
    assert redact_url("http://us%40er:p%40ss%3Aw@cam/a.mp4") == "http://us%40er:***@cam/a.mp4"
    assert redact_url("http://viewer:p@ss@cam/a.mp4") == "http://viewer:***@cam/a.mp4"
    assert redact_url("rtsp://a:b@[::1]:8554/x") == "rtsp://a:***@[::1]:8554/x"
    # a fragment's parameters too (a newcomer's #token=...), a plain fragment kept
    assert redact_url("http://u:p@cam/a.mp4#token=Secret1&t=5") == (
        "http://u:***@cam/a.mp4#token=***&t=5")
    assert redact_url("http://cam/a.mp4?ch=1#access_token=x9") == (
        "http://cam/a.mp4?ch=1#access_token=***")
    assert redact_url("http://cam/cgi?user=admin&pwd=x1&Password=x2;access_token=x3&"
                      "api_key=x4&passwd=&auth%5Fkey=x5&ch=1#top") == (
        "http://cam/cgi?user=admin&pwd=***&Password=***;access_token=***&api_key=***&"
        "passwd=&auth%5Fkey=***&ch=1#top")
    # a camera's pw=, and a signed URL's signature (S3, Azure, a CDN): access until it expires
    assert redact_url("rtsp://cam/live?user=admin&pw=x1") == "rtsp://cam/live?user=admin&pw=***"
    assert redact_url("https://b.s3.amazonaws.com/a.mp4?X-Amz-Expires=600&X-Amz-Signature=x2"
                      "&sig=x3") == ("https://b.s3.amazonaws.com/a.mp4?X-Amz-Expires=600&"
                                     "X-Amz-Signature=***&sig=***")
    # and its access key id (AKIA...: a half of the credential, and whose account it is)
    assert redact_url("https://b.s3.amazonaws.com/a.mp4?X-Amz-Credential=AKIA1%2F2026&"
                      "X-Goog-Credential=g1") == ("https://b.s3.amazonaws.com/a.mp4?"
                                                  "X-Amz-Credential=***&X-Goog-Credential=***")
    assert redact_url("rtps://admin:pw@cam/live") == "rtps://admin:***@cam/live"  # a typo
    for path in ("cam/train/12.avi", "/data/a:b@c.mp4", r"C:\videos\a:b@c.mp4",
                 "C:/videos/clip.mp4", "0", r"\\nas\share\user:pw@cam.mp4"):
        assert redact_url(path) == path


def test_a_password_in_the_url_is_never_said():
    """Every line about a stream names its URL: with the camera's password in clear they
    leaked it to whoever reads the log or watch.json (`Capture.name`)."""
    from fakes import free_port

    url = f"rtsp://admin:S3cretPw@127.0.0.1:{free_port()}/stream1?token=T0ken"
    shown = url.replace("S3cretPw", "***").replace("T0ken", "***")
    lines = []
    capture = open_capture(url, reconnect_tries=1, backoff_s=0.001, log=lines.append)
    with pytest.raises(VideoReadError) as said:
        list(capture.frames())
    assert capture.name == shown and str(said.value).startswith(f"{shown}: cannot read")
    assert len(lines) == 1 and lines[0].startswith(f"{shown}: Connection refused")
    with pytest.raises(VideoReadError) as said:
        open_capture("rtps://admin:S3cretPw@127.0.0.1/stream1")
    assert str(said.value).startswith("rtps://admin:***@127.0.0.1/stream1: unknown stream")


def test_a_host_name_that_does_not_resolve_is_said_so_not_as_an_mp4_index():
    """FFmpeg says a failed name lookup as a bare input/output error, which for an MP4 over
    HTTP had given the advice about its index (the moov atom); a name no name server knows
    (.invalid never resolves: RFC 2606) is said so before a first frame, at once: a newcomer's
    mistyped host had been retried 5 times over 34 s, each line saying to check the URL."""
    for url in ("http://camera.invalid/x.mp4", "rtsp://camera.invalid/live"):
        lines = []
        capture = open_capture(url, reconnect_tries=5, backoff_s=60.0, log=lines.append)
        with pytest.raises(VideoReadError) as said:
            list(capture.frames())
        assert str(said.value) == (
            f"{url}: cannot read the stream (the host name camera.invalid was not found: "
            "check the URL; not tried again, as a name no name server knows fails alike each "
            "time)")
        assert lines == [] and capture.reconnects == 0


def test_a_host_lookup_tells_a_name_not_found_from_no_answer(monkeypatch):
    """A name no name server knows (a mistyped host) is told from no name server answering
    (EAI_AGAIN, which a retry may mend); a URL whose host cannot be parsed leaves FFmpeg's
    own error (no traceback of ours)."""
    import socket

    import mulde.video.capture as capture_module

    assert capture_module._host_lookup("rtsp://camera.invalid/live") == (
        "the host name camera.invalid was not found", True)
    assert capture_module._host_lookup("http://[abc/x.mp4") is None
    assert capture_module._index_out_of_reach("http://[abc/x.mp4", OSError()) is False
    assert capture_module._host_lookup("rtsp://127.0.0.1/live") is None

    def no_answer(host, port):
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(capture_module.socket, "getaddrinfo", no_answer)
    assert capture_module._host_lookup("rtsp://camera.example/live") == (
        "the host name camera.example could not be looked up now (Temporary failure in name "
        "resolution)", False)


def test_a_webcam_index_that_is_a_path_is_the_path(tmp_path, monkeypatch):
    write_frames(tmp_path / "0", 2)
    monkeypatch.chdir(tmp_path)
    capture = open_capture("0")
    assert capture.kind == "folder" and len(list(capture.frames())) == 2
    assert np.asarray(next(iter(open_capture("0").frames()))).dtype == np.uint8


# ---------------------------------------------------------------- decoding ahead
def _numbered(n: int, closed: list, fail_at: int | None = None):
    try:
        for i in range(n):
            if i == fail_at:
                raise VideoReadError(f"frame {i} is corrupt")
            yield np.full((2, 2, 3), i, np.uint8)
    finally:
        closed.append(True)


def test_prefetched_frames_come_in_order_all_of_them_and_the_source_is_closed():
    closed: list = []
    got = [int(f[0, 0, 0]) for f in Prefetched(_numbered(50, closed), size=3)]
    assert got == list(range(50)) and closed == [True]


def test_on_wait_is_called_in_the_iterating_thread_while_the_source_is_silent():
    """A watch's health record must be kept while a stream reconnects: `on_wait` is called
    in the iterating thread (the watch's own, where its page is drawn: no second thread
    touches the watcher), again and again while no frame is there; the source here stays
    silent until it has been called three times."""
    import threading

    calls, heard = [], threading.Event()

    def silent_then_one():
        yield np.zeros((2, 2, 3), np.uint8)
        assert heard.wait(timeout=60)  # a drop, a back-off: silent until waited on
        yield np.ones((2, 2, 3), np.uint8)

    def on_wait():
        calls.append(threading.current_thread())
        if len(calls) == 3:
            heard.set()

    frames = Prefetched(silent_then_one(), size=2, on_wait=on_wait)
    got = [int(f[0, 0, 0]) for f in frames]
    assert got == [0, 1]
    assert len(calls) >= 3 and set(calls) == {threading.current_thread()}


def test_an_error_of_the_source_comes_after_the_frames_before_it():
    closed: list = []
    got = []
    with pytest.raises(VideoReadError, match="frame 7 is corrupt"):
        for f in Prefetched(_numbered(20, closed, fail_at=7), size=4):
            got.append(int(f[0, 0, 0]))
    assert got == list(range(7)) and closed == [True]


def test_a_stop_ends_the_iteration_and_drain_returns_what_was_decoded(monkeypatch):
    import threading
    import time

    # the reader ends at once after the stop; a loaded machine (CI) may not run it within
    # the 1 s a drain waits before leaving it, so the wait is long here (a join returns as
    # the reader ends: no slower when it does)
    monkeypatch.setattr(Prefetched, "CLOSE_WAIT_S", 60.0)
    stop = threading.Event()
    closed: list = []
    frames = Prefetched(_numbered(1000, closed), size=5, until=stop)
    got = []
    for f in frames:
        got.append(int(f[0, 0, 0]))
        if len(got) == 3:
            time.sleep(0.3)  # the reader fills its 5 places
            stop.set()
    rest = [int(f[0, 0, 0]) for _, f in frames.drain()]
    assert got + rest == list(range(len(got) + len(rest)))  # nothing lost, nothing repeated
    assert 3 <= len(got) <= 4 and 1 <= len(rest) <= 6 and closed == [True]
    with pytest.raises(ValueError, match="size must be >= 1"):
        Prefetched(iter([]), size=0)


def test_a_silent_udp_source_says_no_data_arrived():
    from fakes import free_port

    capture = open_capture(f"udp://127.0.0.1:{free_port()}", timeout_s=1.0, reconnect_tries=0)
    with pytest.raises(VideoReadError, match=r"no data arrived within 1 s"):
        list(capture.frames())


class _TcpServer:
    """A TCP server on 127.0.0.1 that accepts every connection and answers its first request
    with `reply`, then closes it (b"": never answers, the connection left open), in a thread;
    a context manager."""

    def __init__(self, reply: bytes = b"") -> None:
        import socket
        import threading

        self.reply, self.accepted = reply, []
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:  # closed
                return
            self.accepted.append(connection)
            if self.reply:
                connection.recv(4096)
                connection.sendall(self.reply)
                connection.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.socket.close()
        for connection in self.accepted:
            connection.close()
        return False


def test_a_silent_rtsp_server_says_no_data_arrived():
    """An RTSP server (a camera's port) that accepts the connection and never answers had
    been said as FFmpeg's "Invalid data found when processing input" (its RTSP demuxer says
    a missing reply so), where the same silence over HTTP says the time-out; a reply that is
    no RTSP, at once, is still invalid data."""
    with _TcpServer() as silent:
        capture = open_capture(f"rtsp://127.0.0.1:{silent.port}/live", timeout_s=1.0,
                               reconnect_tries=0)
        with pytest.raises(VideoReadError) as said:
            list(capture.frames())
        assert str(said.value) == (f"rtsp://127.0.0.1:{silent.port}/live: cannot read the "
                                   "stream (no data arrived within 1 s)")
    with _TcpServer(b"SSH-2.0-OpenSSH_9.6\r\n") as other:  # another service at that port
        capture = open_capture(f"rtsp://127.0.0.1:{other.port}/live", timeout_s=30.0,
                               reconnect_tries=0)
        with pytest.raises(VideoReadError, match=r"\(Invalid data found when processing"):
            list(capture.frames())


def test_a_server_that_refuses_the_request_is_not_retried_and_says_what_to_check():
    """A wrong password (401, 403) or path (404), over HTTP or RTSP, had been tried again
    with back-off (six tries over 31 s by default), each answered alike; it is said at once,
    with what to check."""
    import http.server
    import threading

    class Refusing(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response({"/cam": 401, "/forbidden": 403}.get(self.path, 404))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host = f"127.0.0.1:{server.server_address[1]}"
    again = "; not tried again, as the server answers alike each time)"
    try:
        for path, said in (
                ("cam", "Server returned 401 Unauthorized (authorization failed): check the "
                        "user name and password in the URL"),
                ("forbidden", "Server returned 403 Forbidden (access denied): check the user "
                              "name and password in the URL"),
                ("clip.mp4", "Server returned 404 Not Found: check the path")):
            lines = []
            capture = open_capture(f"http://admin:S3cretPw@{host}/{path}", reconnect_tries=5,
                                   backoff_s=60.0, log=lines.append)
            with pytest.raises(VideoReadError) as error:
                list(capture.frames())
            assert str(error.value) == (f"http://admin:***@{host}/{path}: cannot read the "
                                        f"stream ({said}{again}")
            assert lines == [] and capture.reconnects == 0
    finally:
        server.shutdown()
        server.server_close()
    with _TcpServer(b"RTSP/1.0 401 Unauthorized\r\nCSeq: 1\r\n\r\n") as camera:
        capture = open_capture(f"rtsp://admin:pw@127.0.0.1:{camera.port}/live",
                               reconnect_tries=5, backoff_s=60.0)
        with pytest.raises(VideoReadError) as error:
            list(capture.frames())
        assert str(error.value) == (
            f"rtsp://admin:***@127.0.0.1:{camera.port}/live: cannot read the stream (Server "
            "returned 401 Unauthorized (authorization failed): check the user name and "
            f"password in the URL{again}")
        assert len(camera.accepted) == 1


def test_a_recording_is_told_from_a_live_stream_by_its_duration_or_served_length():
    """A stated duration, or an HTTP(S) length, is a recording that ends at its end; a live
    HLS or DASH playlist served with a Content-Length (its size is the playlist file's) and a
    TCP stream without a duration are live, reopened when they drop."""
    from types import SimpleNamespace

    from mulde.video.capture import _is_recording

    def opened(duration, size, fmt):
        return SimpleNamespace(duration=duration, size=size,
                               format=SimpleNamespace(name=fmt))

    assert _is_recording(opened(5_000_000, 4409, "mov,mp4,m4a,3gp,3g2,mj2"), "http://h/a.mp4")
    assert _is_recording(opened(None, 30080, "mpegts"), "https://h/a.ts")
    assert _is_recording(opened(9_000_000, 136, "hls"), "http://h/vod.m3u8")  # ENDLIST: a VOD
    assert not _is_recording(opened(None, 136, "hls"), "http://h/live.m3u8")
    assert not _is_recording(opened(None, 900, "dash"), "http://h/live.mpd")
    assert not _is_recording(opened(None, 30080, "mpegts"), "tcp://h:5000")
    assert not _is_recording(opened(None, -38, "mpegts"), "http://h/live.ts")  # no length


class _Opened:
    """What `av.open` gives as a context manager, for the fake containers below."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_a_live_stream_that_ends_with_no_reconnection_asked_for_is_not_lost(monkeypatch):
    """--reconnect-tries 0: a live stream's end is its end (`lost` None, no drop logged);
    with tries, the same end after failed reconnections is a lost stream."""
    from types import SimpleNamespace

    import mulde.video.capture as capture_module

    class Live(_Opened):  # an opened live MPEG-TS stream of 3 frames: no duration, no size
        duration, format = None, SimpleNamespace(name="mpegts")
        streams = SimpleNamespace(video=[SimpleNamespace(guessed_rate=10, average_rate=10)])

        @property
        def size(self):
            raise OSError("no size")

        def decode(self, stream):
            return (SimpleNamespace(to_ndarray=lambda format: np.zeros((4, 4, 3), np.uint8))
                    for _ in range(3))

    opened = []

    def fake_open(url, timeout=None):
        opened.append(url)
        if len(opened) > 1:
            raise OSError("Connection refused")
        return Live()

    monkeypatch.setattr(capture_module.av, "open", fake_open)
    for tries, lost in ((0, None), (1, r"Connection refused; gave up after 1 reconnection "
                                         r"attempt\(s\), \d+\.\d s after the last frame")):
        opened.clear()
        capture = open_capture("tcp://127.0.0.1:9", reconnect_tries=tries, backoff_s=0.01)
        frames = [f for f in capture.frames() if isinstance(f, np.ndarray)]
        assert len(frames) == 3
        assert capture.lost is None if lost is None else re.fullmatch(lost, capture.lost)
        assert len(opened) == tries + 1


def test_an_mp4_whose_index_is_out_of_reach_is_not_retried_and_says_how_to_serve_it(
        monkeypatch):
    """An MP4 with its moov atom at the end, from a server that ignores Range requests
    (`python -m http.server`): FFmpeg's input/output error at the first read, measured.
    Opening it again fails alike, so it is said at once with the remedy, not after six tries
    over 31 s; the same error of a live MPEG-TS URL, and a refused connection to an MP4 URL,
    are tried again as before."""
    import errno
    from types import SimpleNamespace

    import av

    import mulde.video.capture as capture_module

    class Unseekable(_Opened):  # opens, then fails where FFmpeg seeks back to the frames
        streams = SimpleNamespace(video=[SimpleNamespace(guessed_rate=25, average_rate=25)])
        duration, size, format = 12_000_000, 4_635_099, SimpleNamespace(name="mov,mp4")

        def decode(self, stream):
            raise av.error.OSError(errno.EIO, "Input/output error", self.url)

    opened = []

    def fake_open(url, timeout=None):
        opened.append(url)
        if url.endswith("refused.mp4"):
            raise av.error.ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused", url)
        container = Unseekable()
        container.url = url
        return container

    monkeypatch.setattr(capture_module.av, "open", fake_open)
    capture = open_capture("http://localhost/clip.mp4", reconnect_tries=5, backoff_s=60.0)
    with pytest.raises(VideoReadError) as said:
        list(capture.frames())
    assert opened == ["http://localhost/clip.mp4"] and capture.reconnects == 0
    assert str(said.value) == (
        "http://localhost/clip.mp4: cannot read the stream (Input/output error, before its first "
        "frame; not tried again, as a recording fails alike each time): as an MP4 whose index "
        "(the moov atom) is at the end of the file fails from a server without HTTP Range "
        "requests: remux it with the index first (ffmpeg -i in.mp4 -c copy -movflags "
        "+faststart out.mp4), or serve it with Range support")
    for url in ("http://localhost/live.ts", "http://localhost/refused.mp4"):
        opened.clear()
        with pytest.raises(VideoReadError, match=r"cannot read the stream \(.*; the first try "
                                                 r"and 2 reconnection attempt"):
            list(open_capture(url, reconnect_tries=2, backoff_s=0.001).frames())
        assert len(opened) == 3


def test_a_closed_capture_stops_reconnecting_and_drops_no_error(monkeypatch):
    """Ctrl-C while a stream opened: the reader, left to its open's time-out, ended then with
    nothing (no reconnecting behind the stopped watch, nor its "cannot read" error); one
    closed during a back-off ends there too."""
    import mulde.video.capture as capture_module

    opened = []
    capture = open_capture("tcp://127.0.0.1:9", reconnect_tries=5, backoff_s=60.0)

    def fake_open(url, timeout=None):  # an open that times out, the watch stopped meanwhile
        opened.append(url)
        capture.closed.set()
        raise OSError("Connection timed out")

    monkeypatch.setattr(capture_module.av, "open", fake_open)
    assert list(capture.frames()) == [] and len(opened) == 1
    assert capture.reconnects == 0 and capture.lost is None

    said = []
    capture = open_capture("tcp://127.0.0.1:9", reconnect_tries=5, backoff_s=20.0,
                           log=lambda line: (said.append(line), capture.closed.set()))

    def refused(url, timeout=None):  # closed during the back-off after it
        opened.append(url)
        raise OSError("Connection refused")

    monkeypatch.setattr(capture_module.av, "open", refused)
    opened.clear()
    assert list(capture.frames()) == [] and len(opened) == 1  # not after the 20 s back-off
    assert len(said) == 1 and "reconnecting in 20 s" in said[0]
