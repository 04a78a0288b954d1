"""`mulde watch` (mulde.watch, mulde.video.capture): a stream served on 127.0.0.1 by the test
itself is watched to the end, through a drop; the events of a synthetic scene with a known
anomaly are found with their snapshot and clip; Ctrl-C and a stream that never comes back
end with every output written; bad sources and models are one-line errors."""

import csv
import io
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from fakes import ENV, FAST, REPO, free_port, in_time, needs_fifo, write_video
from PIL import Image

from mulde.cli import main
from mulde.demo.scene import generate_scene
from mulde.terminated import Terminated
from mulde.vad.artifact import PipelineModel
from mulde.vad.ensemble import StreamEnsemble
from mulde.vad.events import leading_stream
from mulde.vad.live import LiveScorer, causal_smooth
from mulde.video.capture import Capture, open_capture
from mulde.video.decode import VideoReadError
from mulde.video.features.registry import build_extractor
from mulde.video.source import Video
from mulde.watch import (
    STASH,
    Watcher,
    WatchOptions,
    foreign_outputs,
    keep_earlier_outputs,
    load_model,
    restore_earlier_outputs,
    snapshot_label,
    snapshot_time,
    stash_earlier_outputs,
    watch_source,
)
from mulde.watch_page import UNFINISHED_NOTE

ANOMALY = (8, 45)  # test_01 of the scene below: a runner and a wrong-way walker (labels.csv)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A saved model (kNN, the default extractor with the scene as region background) of the
    demo scene's normal videos, and its test video with a known anomaly."""
    folder = tmp_path_factory.mktemp("watch")
    root = generate_scene(folder / "scene", n_train=2, n_test=1, n_frames=60, seed=1)
    rows = list(csv.reader((root / "labels.csv").open()))
    assert rows[1] == ["test_01", str(ANOMALY[0]), str(ANOMALY[1])]
    train = [Video(p.stem, p) for p in sorted((root / "train").glob("*.mp4"))]
    extractor = build_extractor("objects", settings={"region_background": "scene"})
    extractor = extractor.with_scene(train, folder)
    model = PipelineModel.fit(extractor, {v.name: extractor.extract(v) for v in train},
                              StreamEnsemble("knn"), fps=10.0)
    model.save(folder / "model")
    return folder / "model", root / "test" / "test_01.mp4"


@pytest.fixture
def last_page_only(monkeypatch):
    """The overview page written at a watch's end only, not at each running record: tests
    that record at every frame (RECORD_EVERY_S 0) spent 0.5 s a frame drawing it."""
    import mulde.watch

    page = mulde.watch.Watcher._write_page

    def at_the_end(self, summary):
        if summary["stopped"] != mulde.watch.RUNNING:
            page(self, summary)

    monkeypatch.setattr(mulde.watch.Watcher, "_write_page", at_the_end)


def _server(url: str, video, cuts=(), stop=None) -> subprocess.Popen:
    """A process serving the video at url; returns once it listens for its first reader."""
    code = (f"from fakes import serve_mpegts; serve_mpegts({url!r}, {str(video)!r}, "
            f"{list(cuts)}, {stop})")
    env = ENV | {"PYTHONPATH": f"{REPO / 'tests'}:{ENV['PYTHONPATH']}"}
    server = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                              text=True)
    assert server.stdout.readline().strip() == "ready"
    return server


def _events(out):
    events = json.loads((out / "events.json").read_text())
    for e in events:
        assert {"start", "end", "peak", "score", "snapshot", "clip"} <= set(e)
        assert e["start"] <= e["peak"] <= e["end"] and not e["ongoing"]
        assert isinstance(e["cut_short"], bool)
        fps = e["start"] / e["start_s"] if e["start"] else None  # the end of the last frame:
        assert fps is None or e["end_s"] == pytest.approx((e["end"] + 1) / fps)  # as offline
    return events


def _clip_frames(path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_a_served_stream_that_drops_is_watched_to_the_end_with_its_event(trained, tmp_path):
    model_dir, video = trained
    port = free_port()
    server = _server(f"tcp://127.0.0.1:{port}?listen=1", video, cuts=[30])
    try:
        summary = watch_source(load_model(model_dir), f"tcp://127.0.0.1:{port}", tmp_path,
                               reconnect_tries=3, backoff_s=0.2, timeout_s=5.0)
    finally:
        server.wait(timeout=30)
    assert summary["frames"] == 60 and summary["reconnects"] >= 1
    # after frame 30 (no flow across a reconnection); the end after frame 60 is no gap,
    # though a reconnection was tried there (a newcomer saw gaps 1 for a stream that ended)
    assert summary["gaps"] == 1
    # 0-based, with the clock time it was given up and how long the frames stopped
    assert any(re.fullmatch(r"after frame 29 at [-0-9T:]+\.\d{3}\+00:00: the stream ended; "
                            r"frames again \d+\.\d s after the last one", d)
               for d in summary["drops"]), summary["drops"]
    events = _events(tmp_path)
    assert events, "the runner was not found"
    top = max(events, key=lambda e: e["score"])
    assert top["start"] <= ANOMALY[1] and top["end"] >= ANOMALY[0]  # overlaps the anomaly
    assert top["score"] > summary["threshold"]
    with Image.open(tmp_path / "events" / top["snapshot"]) as png:
        assert png.size == (240, 160)
    assert _clip_frames(tmp_path / "events" / top["clip"]) >= top["end"] - top["start"] + 1
    with (tmp_path / "scores.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["frame"]) for r in rows] == list(range(60))


def test_a_stream_that_never_comes_back_ends_with_its_outputs(trained, tmp_path):
    model_dir, video = trained
    port = free_port()
    server = _server(f"tcp://127.0.0.1:{port}?listen=1", video, stop=25)  # then nothing
    try:
        summary = watch_source(load_model(model_dir), f"tcp://127.0.0.1:{port}", tmp_path,
                               reconnect_tries=2, backoff_s=0.1, timeout_s=3.0)
    finally:
        server.wait(timeout=30)
    assert summary["frames"] == 25
    assert summary["stopped"].startswith("stream lost: ")  # not a finished recording
    assert summary["lost"] is True
    assert re.search(r"; gave up after 2 reconnection attempt\(s\), \d+\.\d s after the last "
                     r"frame$", summary["stopped"])  # how long it was tried
    late = [d for d in summary["drops"] if d.startswith("after frame 24 at ")]  # the last
    assert len(late) == 2 and late[0].endswith(": the stream ended")  # then refused
    with (tmp_path / "scores.csv").open() as f:
        assert len(list(csv.DictReader(f))) == 25
    _events(tmp_path)
    assert json.loads((tmp_path / "watch.json").read_text())["frames"] == 25
    with pytest.raises(VideoReadError, match="cannot read the stream"):  # never any frame
        list(open_capture(f"tcp://127.0.0.1:{port}", reconnect_tries=1,
                          backoff_s=0.05).frames())


def test_a_lost_stream_exits_3_with_its_outputs_written(trained, tmp_path, capsys):
    """mulde watch on a stream that stops for good: the outputs are written, the summary line
    says the stream was lost, and the exit status is 3 (a finished recording's is 0, a crash's
    1), so a supervising script can tell them apart."""
    model_dir, video = trained
    port = free_port()
    server = _server(f"tcp://127.0.0.1:{port}?listen=1", video, stop=20)
    try:
        code = main(["watch", str(model_dir), f"tcp://127.0.0.1:{port}", "--out",
                     str(tmp_path / "w"), "--quiet", "--reconnect-tries", "1", "--backoff",
                     "0.1", "--timeout", "3"])
    finally:
        server.wait(timeout=30)
    assert code == 3  # mulde.cli.STREAM_LOST
    said = capsys.readouterr().out
    assert "stream lost: " in said and "; gave up after 1 reconnection attempt(s)" in said
    assert json.loads((tmp_path / "w" / "watch.json").read_text())["frames"] == 20


@pytest.mark.parametrize("container", ["mp4", "mpegts"])
def test_a_recording_served_over_http_is_watched_once_to_its_end(container, trained, tmp_path):
    """A file served over HTTP (an MP4 states its duration; an MPEG-TS file only its length,
    from the server) ends at its end as a file does, instead of being reopened and replayed
    (a newcomer's 200-frame file was watched 144 times over, 28,815 frames, with the same
    alert each pass)."""
    import functools
    import http.server
    import threading

    model_dir, video = trained
    served = tmp_path / "served"
    served.mkdir()
    # remuxed for a server without range requests (Python's): the MP4's index first
    with av.open(str(video)) as src, av.open(
            str(served / f"v.{container}"), "w", format=container,
            options={"movflags": "faststart"} if container == "mp4" else {}) as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                dst.mux(packet)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://viewer:S3cret@127.0.0.1:{server.server_address[1]}/v.{container}"
        summary = watch_source(load_model(model_dir), url, tmp_path / "w", reconnect_tries=3,
                               backoff_s=0.1, timeout_s=5.0)
    finally:
        server.shutdown()
    assert summary["frames"] == 60 and summary["reconnects"] == 0
    assert summary["source"] == url.replace("S3cret", "***")  # watch.json: no password
    assert summary["stopped"] == "end of stream" and summary["drops"] == []
    assert summary["lost"] is False


@pytest.mark.parametrize("stop", ["ctrl-c", "sigterm"])
def test_ctrl_c_or_sigterm_stops_cleanly_with_everything_written(stop, trained, tmp_path):
    model_dir, video = trained
    model = load_model(model_dir)
    frames = list(Video("t", video).frames())
    before = signal.getsignal(signal.SIGTERM)

    def interrupted():
        yield from frames[:40]  # inside the event
        if stop == "sigterm":  # `kill`, `docker stop`: handled like Ctrl-C while watching
            os.kill(os.getpid(), signal.SIGTERM)
        raise KeyboardInterrupt

    capture = Capture("camera", "webcam", 10.0, interrupted)
    scorer = LiveScorer(model.extractor, model.ensemble, model.smoothing_sigma)
    watcher = Watcher(scorer, capture, tmp_path, WatchOptions(threshold=1.0, patience=3),
                      [s.value for s in model.streams])
    with pytest.raises(KeyboardInterrupt) as raised:
        watcher.run()
    # SIGTERM's own exception, by which the command exits 143 (Ctrl-C 130)
    assert isinstance(raised.value, Terminated) == (stop == "sigterm")
    summary = json.loads((tmp_path / "watch.json").read_text())
    said = "SIGTERM" if stop == "sigterm" else "Ctrl-C"
    assert summary["frames"] == 40 and summary["stopped"] == f"interrupted ({said})"
    events = _events(tmp_path)
    assert events and events[-1]["end"] <= 39
    for e in events:
        assert (tmp_path / "events" / e["snapshot"]).is_file()
        assert _clip_frames(tmp_path / "events" / e["clip"]) > 0
    assert not [p for p in (tmp_path / "events").iterdir() if p.name.startswith(".")]
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is put back


def test_cli_watches_a_file_with_the_offline_unsmoothed_scores(trained, tmp_path, capsys):
    model_dir, video = trained
    out = tmp_path / "out"
    assert main(["watch", str(model_dir.parent), str(video), "--out", str(out), "--quiet",
                 "--fps", "7", "--pre", "1.5", "--timeout", "inf"]) == 0
    said = capsys.readouterr()
    assert "watched 60 frames" in said.out
    assert re.search(r": (1 event|\d+ events|0 events), ", said.out)  # counted in words
    assert f"--fps applies to frame folders and network streams; the video file {video}" in said.err
    with (out / "scores.csv").open() as f:
        rows = list(csv.DictReader(f))
    live = np.array([float(r["score"]) for r in rows])
    model = PipelineModel.load(model_dir)
    offline = model.score(model.extractor.extract(Video("t", video))).fused
    np.testing.assert_allclose(live, offline, rtol=1e-8)  # scores.csv keeps 9 digits
    def strict(name):  # JSON has no Infinity or NaN (Python's json writes them)
        raise ValueError(f"{name} in watch.json")

    summary = json.loads((out / "watch.json").read_text(), parse_constant=strict)
    assert summary["features_exact"] and "causal" in summary["threshold_definition"]
    # how the watch was run: the model (found in DIR/model), the version, the settings
    from mulde import __version__

    assert {k: summary[k] for k in (
        "model", "model_digest", "mulde_version", "out", "view", "realtime", "fps_given",
        "timeout_s", "reconnect_tries", "backoff_s", "pre_s", "post_s", "max_clip_s")} == {
        "model": str(model_dir.resolve()), "model_digest": PipelineModel.load(model_dir).digest,
        "mulde_version": __version__, "out": str(out.resolve()), "view": None,
        "realtime": False, "fps_given": 7.0, "timeout_s": None, "reconnect_tries": 5,
        "backoff_s": 1.0, "pre_s": 1.5, "post_s": 2.0, "max_clip_s": 60.0}
    # the causal filter starts from the training median: frames before the stream count as it
    start = float(np.median(np.concatenate(model.train_scores)))
    assert summary["smoothing"]["start_level"] == pytest.approx(start)
    assert "started at the training median" in summary["threshold_definition"]
    np.testing.assert_allclose([float(r["smoothed"]) for r in rows],
                               causal_smooth(offline, model.smoothing_sigma, start=start),
                               rtol=1e-7)


@pytest.mark.parametrize("source, message", [
    ("missing.mp4", "no such video file or frame folder"),
    ("ftp://127.0.0.1/x.ts", "unknown stream scheme 'ftp'"),
])
def test_bad_sources_are_one_line_errors(trained, tmp_path, capsys, source, message):
    model_dir, _ = trained
    assert main(["watch", str(model_dir), str(tmp_path / source) if "://" not in source
                 else source, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("mulde: error:")


@pytest.mark.parametrize(("option", "value", "message"), [
    *(("--fps", v, "--fps must be a frame rate > 0") for v in ("-1", "0", "nan")),
    # --timeout 0 was taken and then failed with "no data arrived within 0 s"
    *(("--timeout", v, f"--timeout must be a number of seconds > 0, got {float(v)}")
      for v in ("0", "-1", "nan"))])
def test_a_rate_or_timeout_that_is_not_positive_is_a_one_line_error(
        trained, tmp_path, capsys, option, value, message):
    model_dir, video = trained
    assert main(["watch", str(model_dir), str(video), "--out", str(tmp_path / "o"),
                 option, value]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()  # checked before any folder is made


def test_a_bad_patience_or_the_model_folder_as_out_is_a_one_line_error(trained, tmp_path,
                                                                       capsys):
    model_dir, video = trained
    assert main(["watch", str(model_dir), str(video), "--out", str(tmp_path / "o"),
                 "--patience", "-2"]) == 2
    err = capsys.readouterr().err
    assert "--patience must be at least 1 frame, got -2" in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()  # checked before any folder is made
    before = sorted(p.name for p in model_dir.iterdir())
    assert main(["watch", str(model_dir), str(video), "--out", str(model_dir)]) == 2
    assert "holds a model; give watch an output folder of its own" in capsys.readouterr().err
    assert sorted(p.name for p in model_dir.iterdir()) == before


def test_a_bad_model_is_a_one_line_error(tmp_path, capsys, trained):
    _, video = trained
    (tmp_path / "empty").mkdir()
    assert main(["watch", str(tmp_path / "empty"), str(video), "--out",
                 str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "is not a mulde pipeline model" in err and err.count("\n") == 1


def test_swapped_arguments_and_a_pipeline_model_given_to_score_say_what_to_do(
        trained, tmp_path, capsys):
    model_dir, video = trained
    assert main(["watch", str(video), str(model_dir), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "the model comes first: mulde watch" in err and err.count("\n") == 1
    np.save(tmp_path / "x.npy", np.zeros((3, 8), np.float32))
    assert main(["score", str(model_dir), str(tmp_path / "x.npy"), "--out",
                 str(tmp_path / "s.csv")]) == 2
    err = capsys.readouterr().err
    assert "is a video pipeline model" in err and "mulde watch" in err
    assert err.count("\n") == 1


def test_a_feature_model_of_fit_or_a_file_of_the_pipeline_says_what_watch_takes(
        trained, tmp_path, capsys):
    """`mulde watch` given a `mulde fit` model file says what it is and what watch needs,
    not 'no such model folder'; a file inside a pipeline model names its folder."""
    from mulde import MULDE

    model_dir, video = trained
    fit = MULDE(**FAST).fit(np.random.default_rng(0).normal(size=(64, 3)))
    path = fit.save(tmp_path / "cardio.safetensors")
    assert main(["watch", str(path), str(video), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err == (f"mulde: error: {path} is a feature model of `mulde fit` (a file, which "
                   "`mulde score` takes); mulde watch needs a trained video pipeline: the "
                   "model folder that `mulde train` or `mulde run` writes (OUT/model of --out "
                   "OUT)\n")
    assert not (tmp_path / "o").exists()
    stream_file = next((model_dir / "streams").iterdir())
    assert main(["watch", str(stream_file), str(video), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert (f"{stream_file} is a file of the pipeline model {model_dir}; give watch that "
            f"folder: mulde watch {model_dir} {video} --out DIR") in err
    # a run's report beside its model/ is no file of it (a newcomer read "a file of")
    report = model_dir.parent / "report.html"
    report.write_text("<html></html>")
    assert main(["watch", str(report), str(video), "--out", str(tmp_path / "o")]) == 2
    assert (f"{report} is beside the pipeline model {model_dir}; give watch that folder: "
            f"mulde watch {model_dir} {video} --out DIR") in capsys.readouterr().err
    report.unlink()
    for part in ("train", "training_videos"):  # a dataset's root (Avenue's), not its model
        (tmp_path / part / part).mkdir(parents=True)
        assert main(["watch", str(tmp_path / part), str(video), "--out",
                     str(tmp_path / "o")]) == 2
        assert capsys.readouterr().err == (
            f"mulde: error: {tmp_path / part} is a folder of videos (a dataset), not a model: "
            "give watch the model folder that `mulde train` or `mulde run` wrote from it "
            f"(OUT/model of --out OUT): mulde watch OUT/model {video} --out DIR\n")
    (tmp_path / "notes.txt").write_text("not a model")
    assert main(["watch", str(tmp_path / "notes.txt"), str(video), "--out",
                 str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "notes.txt: a file, not a model folder" in err and err.count("\n") == 1


def test_a_view_the_model_does_not_have_is_refused_naming_the_one_it_has(trained, tmp_path,
                                                                         capsys):
    """A model of one camera view (its scene background in model/scene/0.png) refuses
    --view north saying that its one view is the unnamed one, used without --view."""
    model_dir, video = trained
    assert not load_model(model_dir).scene_backgrounds  # no views by name
    assert main(["watch", str(model_dir), str(video), "--out", str(tmp_path / "o"),
                 "--view", "north"]) == 2
    err = capsys.readouterr().err
    assert err == ("mulde: error: the model has no camera view 'north': it has one view, the "
                   "unnamed one of its training videos (scene background "
                   f"{model_dir / 'scene' / '0.png'}), which is used when --view is left out\n")


def test_a_camera_of_another_size_is_refused_naming_the_sizes_the_user_knows(trained, tmp_path,
                                                                            capsys):
    """A 640x360 camera for a model of 240x160 video: the one-line error quotes the source's
    own size beside the 427x240 the extractor downscales it to, and the rule of the sizes
    the model takes (`frame_size_rule`, as `mulde run` says it), the same with the training
    videos' size recorded in the model (run and train record it)."""
    model_dir, _ = trained
    camera = write_video(tmp_path / "camera.mp4", 3, size=(360, 640), fps=10)  # the model's
    assert main(["watch", str(model_dir), str(camera), "--out", str(tmp_path / "o1"),
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("mulde: error: ")
    refusal = (f"mulde: error: {camera}: frames are 640x360 (427x240 once downscaled), but "
               "the model works on 240x160 frames (its training videos' size, below the 240 "
               "rows it downscales to) and takes video of that size alone: another camera "
               "view or resolution is not what it learned (its scene background, sizes and "
               "speeds are in those pixels); give it such video of the training camera, or "
               "train a model per camera view (one dataset folder each)\n")
    assert err == refusal
    assert not (tmp_path / "o1").exists()  # no frame scored: the folder it made is gone
    # into a folder of the user's with an earlier watch's record: no count of that watch's
    # frames is claimed, and the user's own file and the folder stay
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "notes.txt").write_text("mine")
    (kept / "watch.json").write_text(json.dumps({"source": "cam", "frames": 129,
                                                 "stopped": "end of the video"}))
    assert main(["watch", str(model_dir), str(camera), "--out", str(kept), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "frames before it" not in err and "another camera view" in err
    assert (kept / "notes.txt").read_text() == "mine"
    model = load_model(model_dir)
    model.training["frame_sizes"] = {"": [240, 160]}
    model.save(tmp_path / "recorded")
    assert main(["watch", str(tmp_path / "recorded"), str(camera), "--out",
                 str(tmp_path / "o2"), "--quiet"]) == 2
    assert capsys.readouterr().err == refusal  # the same rule, whether the size is recorded


def test_a_watch_that_fails_records_why_in_watch_json(trained, tmp_path):
    model_dir, video = trained
    model = load_model(model_dir)
    frames = list(Video("t", video).frames())

    def broken():
        yield from frames[:12]
        raise RuntimeError("the camera driver crashed")

    scorer = LiveScorer(model.extractor, model.ensemble, model.smoothing_sigma)
    watcher = Watcher(scorer, Capture("camera", "webcam", 10.0, broken), tmp_path,
                      WatchOptions(threshold=1e9), [s.value for s in model.streams])
    with pytest.raises(RuntimeError, match="driver crashed"):
        watcher.run()
    summary = json.loads((tmp_path / "watch.json").read_text())
    assert summary["stopped"] == "failed: the camera driver crashed"
    assert summary["frames"] == 12


def test_a_watch_refused_at_its_first_frame_prints_no_status_line(trained, tmp_path):
    """A source refused at its first frame (another frame size, a newcomer's case) is said by
    its error alone: no status line of 0 frames above it."""
    import io

    model_dir, _ = trained
    model = load_model(model_dir)

    def refused():
        raise VideoReadError("clip.mp4: frames are 320x180, but the model works on ...")
        yield  # a generator

    status = io.StringIO()
    scorer = LiveScorer(model.extractor, model.ensemble, model.smoothing_sigma)
    watcher = Watcher(scorer, Capture("clip", "file", 10.0, refused), tmp_path,
                      WatchOptions(threshold=2.5, status=status), [s.value for s in model.streams])
    with pytest.raises(VideoReadError, match="frames are 320x180"):
        watcher.run()
    assert status.getvalue() == ""
    assert json.loads((tmp_path / "watch.json").read_text())["stopped"].startswith("failed: ")


def test_the_manifest_file_names_its_model_and_an_onnx_export_is_told_apart(trained, tmp_path):
    from mulde.vad.artifact import ArtifactError

    model_dir, _ = trained
    assert load_model(model_dir / "pipeline.json").streams == load_model(model_dir).streams
    manifest = json.loads((model_dir / "pipeline.json").read_text())
    exported = {k: v for k, v in manifest.items() if k != "files"} | {"onnx": {"streams": {}}}
    (tmp_path / "onnx").mkdir()
    (tmp_path / "onnx" / "pipeline.json").write_text(json.dumps(exported))
    with pytest.raises(ArtifactError, match="is an ONNX export of a pipeline model"):
        load_model(tmp_path / "onnx")


def test_the_status_line_shows_the_threshold_and_no_latency_before_a_score(trained, tmp_path):
    import io

    model_dir, video = trained
    model = load_model(model_dir)
    frames = list(Video("t", video).frames())[:12]
    status = io.StringIO()  # not a terminal: one line per refresh
    scorer = LiveScorer(model.extractor, model.ensemble, model.smoothing_sigma)
    watcher = Watcher(scorer, Capture("clip", "file", 10.0, lambda: iter(frames)), tmp_path,
                      WatchOptions(threshold=2.5, status=status), [s.value for s in model.streams])
    watcher.run()
    lines = status.getvalue().splitlines()
    assert "" not in lines and not status.getvalue().endswith("\n\n")  # no blank line
    assert lines[0].startswith("0 frames ") and "latency -  score - (threshold 2.5)" in lines[0]
    assert "nan" not in status.getvalue()
    assert lines[-1].startswith("12 frames ") and " ms  score " in lines[-1]


def test_watch_counts_the_training_frames_with_objects_the_model_recorded(trained, tmp_path,
                                                                          monkeypatch):
    """`watch_source` gives the calibration warning each stream's training frames with
    objects, as the saved model recorded them (`training["frames_with_objects"]`); a model
    saved before that record gives every training frame to every stream, as before."""
    import mulde.watch as watch_module

    model_dir, video = trained
    given = []

    class Recorded(watch_module.Watcher):
        def __init__(self, *args, **kwargs):
            given.append(args[6] if len(args) > 6 else kwargs.get("training_frames"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(watch_module, "Watcher", Recorded)
    model = load_model(model_dir)
    # people in every training frame of the demo scene (2 videos of 60 frames); other counts
    # in the record, so that a count from it is told from one of all training frames
    assert model.training["frames_with_objects"] == {s.value: 120 for s in model.streams}
    recorded = {s.value: 100 + i for i, s in enumerate(model.streams)}
    model.training["frames_with_objects"] = recorded
    watch_source(model, str(video), tmp_path / "new")
    del model.training["frames_with_objects"]  # as a model saved before the record
    watch_source(model, str(video), tmp_path / "old")
    assert given == [recorded, 120]  # one count, for every stream


def test_a_frame_folder_is_watched_at_the_models_frame_rate(trained, tmp_path):
    """A frame folder records no rate: watch takes the model's (here 10 frames/s) for the
    times and the alert's patience, not a default of 25, and says so."""
    model_dir, video = trained
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate(Video("t", video).frames()):
        Image.fromarray(frame).save(folder / f"{i:03d}.png")
    log = io.StringIO()
    summary = watch_source(load_model(model_dir), str(folder), tmp_path / "out", log=log)
    assert summary["fps"] == 10.0 and summary["frames"] == 60
    assert "the model's 10 frames/s is assumed" in log.getvalue()
    assert "counted in frames" not in log.getvalue()  # the model's rate
    with (tmp_path / "out" / "scores.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert rows[1]["time_s"] == "0.100"
    # the notes of rates are said as a watch starts: the rest watch the first 6 frames
    short = tmp_path / "short"
    short.mkdir()
    for i in range(6):
        shutil.copyfile(folder / f"{i:03d}.png", short / f"{i:03d}.png")
    # the same frames said to run at twice the rate: each moves half as far per frame
    log = io.StringIO()
    watch_source(load_model(model_dir), str(short), tmp_path / "out20", fps=20.0, log=log)
    assert (f"{short} runs at 20 frames/s, the model at 10 (its training videos' rate, or "
            "the --fps it was trained with): speeds and time windows are counted in frames, so "
            "they do not compare with the training ones and normal motion can look anomalous; "
            "watch video at the training rate, or train on such video") in log.getvalue()
    # a model trained on video at two rates (two cameras, `training["frame_rates"]` as
    # `mulde run` records them) notes only a third rate
    model = load_model(model_dir)
    model.training["frame_rates"] = [10.0, 20.0]
    log = io.StringIO()
    watch_source(model, str(short), tmp_path / "two", fps=20.0, log=log)
    assert "counted in frames" not in log.getvalue()
    watch_source(model, str(short), tmp_path / "three", fps=30.0, log=log)
    assert f"{short} runs at 30 frames/s, the training videos at 10, 20: speeds" in log.getvalue()
    # the model's rate of files at several rates is their mean, at which no video runs: a
    # source there is noted, and the mean is not listed among the training videos' rates
    model.fps, log = 15.0, io.StringIO()
    watch_source(model, str(short), tmp_path / "mean", fps=15.0, log=log)
    assert f"{short} runs at 15 frames/s, the training videos at 10, 20: speeds" in log.getvalue()
    # ... but a folder watched at that mean because it states no rate is not: the rate is
    # the one watch assumed (a newcomer's folder was warned of at it), said to two decimals
    model.fps, log = 10 * 20 / 13, io.StringIO()  # 15.3846...
    watch_source(model, str(short), tmp_path / "assumed", log=log)
    assert "the model's 15.38 frames/s is assumed" in log.getvalue()
    assert "counted in frames" not in log.getvalue()
    model.fps = 10.0
    # files stating 30 frames/s trained with --fps 10: neither rate is noted, nor the folder
    # watched at the model's rate (a reviewer found that note contradicting the one before)
    model.training["frame_rates"] = [30.0]
    log = io.StringIO()
    for fps in (None, 30.0):
        watch_source(model, str(short), tmp_path / f"fps{fps}", fps=fps, log=log)
    assert "counted in frames" not in log.getvalue()
    summary = watch_source(model, str(short), tmp_path / "fps20", fps=20.0, log=log)
    assert "runs at 20 frames/s, the training videos at 10, 30: speeds" in log.getvalue()
    assert [n for n in summary["notes"] if "runs at 20" in n] == [  # kept in watch.json
        n for n in json.loads((tmp_path / "fps20" / "watch.json").read_text())["notes"]
        if "runs at 20" in n]
    assert len([n for n in summary["notes"] if "runs at 20" in n]) == 1


@pytest.mark.parametrize("max_height", [None, 20, 40])
def test_an_events_box_is_in_the_source_frames_pixels_once(tmp_path, max_height):
    """The scorer's box is in the pixels of the frame the extractor saw (40 rows scored at 20
    with max_height 20): events.json and the snapshot take it to the source frame's, once;
    a frame that was not downscaled keeps it as it is; whole pixels, as the offline report."""
    from mulde.vad.events import Event
    from mulde.vad.live import LiveScore

    frame = np.zeros((40, 120, 3), np.uint8)
    watcher = Watcher(None, Capture("clip", "file", 10.0, lambda: iter(())), tmp_path,
                      WatchOptions(threshold=1.0), ["velocity"], max_height=max_height)
    watcher._ring.append((5, frame))
    watcher.state.events = [{"snapshot": "event_0001.png", "clip": "event_0001.mp4",
                              "peak_at": "2026-12-05T20:38:07.123+00:00"}]
    watcher.state.peak_frame = frame
    watcher.state.peak_score = LiveScore(5, 2.0, 2.0, {"velocity": 2.0}, "velocity",
                                         np.array([1.5, 7.5, 5.5, 11.5]), 0.0)
    watcher._end_event(Event(3, 6, 5, 2.0), 0)
    box = json.loads((tmp_path / "events.json").read_text())[0]["box"]
    assert box == ([3, 15, 11, 23] if max_height == 20 else [2, 8, 6, 12])  # whole pixels
    drawn = np.asarray(Image.open(tmp_path / "events" / "event_0001.png"))
    red = (drawn[..., 0] > 200) & (drawn[..., 1] < 50)  # the box's red outline (RGB)
    rows = np.flatnonzero(red.any(axis=1))
    assert rows.max() <= (24 if max_height == 20 else 13)


class _FakeScorer:
    """A `LiveScorer` stand-in without any model: frame i of the source gets the stream
    scores `parts[i]`, their sum as the fused score, each smoothed by the causal filter (as
    `LiveScorer` does), and the stream of the largest as the top object's."""

    def __init__(self, parts, sigma=1.0, box=(2.0, 2.0, 10.0, 10.0), empty=None):
        from mulde.vad.live import CausalSmoother

        self.parts, self.box = parts, np.array(box)
        self.empty = empty or [()] * len(parts)  # per frame: the streams without objects
        self.smoother = CausalSmoother(sigma)
        self.streams = {name: CausalSmoother(sigma) for name in parts[0]}
        self.online = type("Online", (), {"exact": True})()
        self.n = 0

    def push(self, frame, arrived=None):
        from mulde.vad.live import LiveScore

        part = self.parts[self.n]
        fused = sum(part.values())
        top = max(part, key=lambda k: part[k])  # the top object's stream: the largest now
        smoothed = {k: s.update(part[k]) for k, s in self.streams.items()}
        score = LiveScore(self.n, fused, self.smoother.update(fused), dict(part), top,
                          self.box.copy(), 0.0, smoothed, frozenset(self.empty[self.n]))
        self.n += 1
        return [score]

    def finish(self):
        return []

    def restart(self):
        return []


def _fake_watch(out, parts, threshold=1.0):
    frames = [np.full((24, 32, 3), 40 * (i % 5), np.uint8) for i in range(len(parts))]
    watcher = Watcher(_FakeScorer(parts), Capture("clip", "file", 10.0, lambda: iter(frames)),
                      out, WatchOptions(threshold=threshold, pre_s=0.2, post_s=0.2),
                      sorted(parts[0]))
    return watcher, watcher.run()


def test_an_events_clip_keeps_its_post_roll_when_the_next_event_starts_in_it(tmp_path):
    """Two events 3 frames apart with a post-roll of 6 frames (0.6 s at 10 frames/s): the
    first clip runs from 2 frames before its start to 6 after its end, through the second
    event's start (the newcomer's clip stopped where the next event began), and the second
    clip has its own pre-roll. The clips overlap; every frame is written to both."""
    quiet, loud = {"velocity": 0.1}, {"velocity": 5.0}
    parts = [quiet] * 5 + [loud] * 2 + [quiet] * 4 + [loud] * 2 + [quiet] * 12
    frames = [np.full((24, 32, 3), 10 * i, np.uint8) for i in range(len(parts))]
    watcher = Watcher(_FakeScorer(parts), Capture("clip", "file", 10.0, lambda: iter(frames)),
                      tmp_path, WatchOptions(threshold=1.0, pre_s=0.2, post_s=0.6),
                      ["velocity"])
    watcher.run()
    first, second = _events(tmp_path)
    assert second["start"] <= first["end"] + 6  # the second starts within the first's post-roll
    for event in (first, second):
        with av.open(str(tmp_path / "events" / event["clip"])) as clip:
            shown = [int(round(f.to_ndarray(format="rgb24").mean() / 10))
                     for f in clip.decode(video=0)]
        assert shown == list(range(event["start"] - 2, event["end"] + 7))


def test_a_score_flapping_at_the_threshold_keeps_at_most_three_clips_open(tmp_path):
    """Events 6 frames apart with a post-roll of 20 frames: each open clip encodes every
    frame, so the fourth event's start closes the first clip early (MAX_OPEN_CLIPS), while
    the last event's clip keeps its whole post-roll."""
    from mulde.watch import MAX_OPEN_CLIPS

    quiet, loud = {"velocity": 0.1}, {"velocity": 5.0}
    parts = [quiet] * 3 + ([loud] + [quiet] * 5) * 5 + [quiet] * 25
    frames = [np.full((24, 32, 3), 5 * (i % 50), np.uint8) for i in range(len(parts))]
    watcher = Watcher(_FakeScorer(parts), Capture("clip", "file", 10.0, lambda: iter(frames)),
                      tmp_path, WatchOptions(threshold=1.0, pre_s=0.2, post_s=2.0),
                      ["velocity"])
    watcher.run()
    events = _events(tmp_path)
    assert MAX_OPEN_CLIPS == 3 and len(events) == 5
    lengths = [_clip_frames(tmp_path / "events" / e["clip"]) for e in events]
    full = [e["end"] + 20 - (e["start"] - 2) + 1 for e in events]
    assert lengths[0] < full[0] and lengths[1] < full[1]  # cut by the 4th and 5th events
    assert lengths[-1] == full[-1]
    # said in events.json, as a clip cut at its 60-s cap is
    assert [e["clip_cut_short"] for e in events] == [True, True, False, False, False]


def test_a_clip_at_its_cap_closed_for_a_fourth_events_is_capped_not_cut_short(tmp_path):
    """A clip cut at its cap (10 frames here) and kept open for its event's post-roll,
    closed when a fourth event's clip needs the encoder, lost nothing by that: events.json
    says `clip_capped` alone (it said `clip_cut_short` too), as it does for such a clip the
    watch's stop closes."""
    quiet, loud = {"velocity": 0.1}, {"velocity": 5.0}
    parts = [quiet] * 3 + [loud] * 12 + [quiet] * 5 + ([loud] + [quiet] * 5) * 3 + [quiet] * 25
    frames = [np.full((24, 32, 3), 40, np.uint8) for _ in parts]
    watcher = Watcher(_FakeScorer(parts), Capture("clip", "file", 10.0, lambda: iter(frames)),
                      tmp_path, WatchOptions(threshold=1.0, pre_s=0.2, post_s=2.0,
                                             max_clip_s=1.0), ["velocity"])
    watcher.run()
    events = _events(tmp_path)
    assert len(events) == 4 and events[3]["start"] < events[0]["end"] + 20  # still open
    # (each clip longer than the cap with its post-roll; the first closed by the fourth)
    assert [(e["clip_capped"], e["clip_cut_short"]) for e in events] == [(True, False)] * 4


def test_an_earlier_watchs_outputs_are_moved_to_earlier_and_other_files_kept(tmp_path):
    """A second watch into the folder of one that found 2 events finds none: events.json is
    [] and the first watch's scores, events, snapshots and clips are under
    earlier/<its start>/ (a restarted camera service had deleted them), its leftover temp
    files are gone, and files that no watch writes stay."""
    quiet = [{"velocity": 0.1, "static": 0.1}] * 12
    loud = quiet[:3] + [{"velocity": 3.0, "static": 0.5}] * 2 + quiet[:4] + \
        [{"velocity": 0.5, "static": 3.0}] * 2 + quiet[:1]
    _, first_summary = _fake_watch(tmp_path, loud)
    first = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*")
             if p.is_file()}
    assert sorted(p.name for p in (tmp_path / "events").iterdir()) == [
        "event_0001.mp4", "event_0001.png", "event_0002.mp4", "event_0002.png"]
    (tmp_path / "events" / ".event_0003.mp4.4242.0123abcd.tmp").write_bytes(b"killed")
    (tmp_path / ".events.json.4242.89abcdef.tmp").write_text("[")
    mine = ["notes.txt", "events/event_1.png", "events/mine.mp4",
            "events/.mine.png.4242.0123abcd.tmp", ".report.json.4242.0123abcd.tmp"]
    for name in mine:
        (tmp_path / name).write_text("mine")
    watcher, summary = _fake_watch(tmp_path, quiet)
    assert watcher.replaced == 4 + 4  # page, scores, events, watch.json; 4 event files
    assert not (tmp_path / "events" / ".event_0003.mp4.4242.0123abcd.tmp").exists()
    assert not (tmp_path / ".events.json.4242.89abcdef.tmp").exists()  # removed, uncounted
    assert summary["events"] == 0 and json.loads((tmp_path / "events.json").read_text()) == []
    assert not list((tmp_path / "events").glob("event_0*"))
    for name in mine:
        assert (tmp_path / name).read_text() == "mine"
    with (tmp_path / "scores.csv").open() as f:
        assert len(list(csv.DictReader(f))) == 12
    started = datetime.fromisoformat(first_summary["started_at"])
    kept = tmp_path / "earlier" / started.strftime("%Y%m%dT%H%M%SZ")
    assert summary["earlier_outputs"] == kept.relative_to(tmp_path).as_posix()
    assert {p.relative_to(kept): p.read_bytes() for p in kept.rglob("*") if p.is_file()} == first
    assert foreign_outputs(tmp_path) == []


def test_earlier_outputs_go_to_a_folder_of_their_start_each(tmp_path):
    """keep_earlier_outputs names the folder by the earlier watch.json's started_at in UTC,
    by its newest file's time without one, and never reuses a folder."""
    def stash(started: str | None) -> None:
        (tmp_path / STASH / "events").mkdir(parents=True)
        (tmp_path / STASH / "events" / "event_0001.png").write_bytes(b"png")
        if started is not None:
            (tmp_path / STASH / "watch.json").write_text(json.dumps({"started_at": started}))

    assert keep_earlier_outputs(tmp_path) is None  # nothing set aside
    stash("2026-12-05T21:38:07.123+01:00")
    assert keep_earlier_outputs(tmp_path) == tmp_path / "earlier" / "20261205T203807Z"
    stash("2026-12-05T20:38:07.900+00:00")  # the same second: another folder
    assert keep_earlier_outputs(tmp_path) == tmp_path / "earlier" / "20261205T203807Z-2"
    stash(None)
    os.utime(tmp_path / STASH / "events" / "event_0001.png", (1e9, 1e9))
    assert keep_earlier_outputs(tmp_path) == tmp_path / "earlier" / "20010909T014640Z"
    assert not (tmp_path / STASH).exists()
    assert (tmp_path / "earlier" / "20261205T203807Z-2" / "events" / "event_0001.png").is_file()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "earlier").write_text("mine")  # where a watch keeps them: refused
    assert foreign_outputs(tmp_path / "other") == [
        "earlier (a file where a watch keeps the earlier watches' outputs)"]


def test_cli_says_how_many_earlier_outputs_it_replaced(trained, tmp_path, capsys):
    model_dir, video = trained
    out = tmp_path / "out"
    (out / "events").mkdir(parents=True)
    earlier = {"scores.csv": "frame,time_s,score,smoothed,velocity,top_stream\n0,0,1,1,1,\n",
               "events.json": '[{"start": 0, "end": 0}]', "events/event_0001.png": "earlier",
               "events/event_0001.mp4": "earlier"}
    for name, text in earlier.items():
        (out / name).write_text(text)
    assert main(["watch", str(model_dir), str(video), "--out", str(out), "--quiet",
                 "--threshold", "1e9"]) == 0
    err = capsys.readouterr().err
    assert err.count("holds an earlier watch's outputs") == 1
    assert (f"mulde watch: {out} holds an earlier watch's outputs: 4 files of those it writes "
            "(") in err and (f"moved to {out / 'earlier'}/ once this watch scores its first "
                             "frame") in err
    assert json.loads((out / "events.json").read_text()) == []
    assert sorted(p.name for p in (out / "events").iterdir()) == []
    (kept,) = (out / "earlier").iterdir()
    assert {p.relative_to(kept).as_posix(): p.read_text() for p in kept.rglob("*")
            if p.is_file()} == earlier
    assert main(["watch", str(model_dir), str(video), "--out", str(tmp_path / "new"),
                 "--quiet", "--threshold", "1e9"]) == 0
    assert "earlier" not in capsys.readouterr().err  # a fresh folder: nothing said


def test_a_users_files_at_a_watchs_output_names_are_refused_not_replaced(trained, tmp_path,
                                                                        capsys):
    """A newcomer's own scores.csv (notes by hand), events.json and watch.json in --out were
    replaced as "an earlier watch's outputs": files no watch wrote are named, in one line,
    before anything is opened, and left as they were; a watch's own are still replaced."""
    from mulde.watch import foreign_outputs

    model_dir, video = trained
    out = tmp_path / "mine"
    out.mkdir()
    mine = {"scores.csv": "frame,score\n0,0.5 (looked odd)\n", "events.json": '{"a": 1}',
            "watch.json": "[1, 2]"}
    for name, text in mine.items():
        (out / name).write_text(text)
    assert foreign_outputs(out) == ["events.json (JSON without a watch's fields)",
                                    "watch.json (JSON without a watch's fields)",
                                    "scores.csv (its first line is 'frame,score')"]
    assert main(["watch", str(model_dir), str(video), "--out", str(out), "--quiet",
                 "--threshold", "1e9"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"mulde: error: {out} holds files at the names a watch writes that "
                          "no watch wrote: events.json (JSON without a watch's fields), ")
    assert "\n" not in err and "give the watch an output folder of its own (--out)" in err
    assert {p.name: p.read_text() for p in out.iterdir()} == mine
    (out / "empty").mkdir()
    for name in mine:  # empty files hold nothing to lose
        (out / "empty" / name).write_text("")
    assert foreign_outputs(out / "empty") == []
    assert main(["watch", str(model_dir), str(video), "--out", str(out / "w"), "--quiet",
                 "--threshold", "1e9"]) == 0
    assert foreign_outputs(out / "w") == []  # a watch's own outputs are known as such


def test_a_watch_that_scores_no_frame_keeps_the_earlier_outputs(trained, tmp_path, capsys):
    """A source that failed at its first frame (another frame size) left only an empty
    events/ where an earlier watch's scores, events and clips had been (a newcomer's trial):
    they are set aside until the first frame is scored, and put back, alone, otherwise; also
    for an earlier watch killed before its watch.json, and for a stash a watch killed before
    its first frame left (a reviewer's cases)."""
    model_dir, video = trained
    out = tmp_path / "out"
    camera = write_video(tmp_path / "camera.mp4", 3, size=(360, 640), fps=10)

    def files():
        return {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    assert main(["watch", str(model_dir), str(video), "--out", str(out), "--quiet",
                 "--threshold", "0"]) == 0
    before = files()
    assert Path("events.json") in before and any(p.parent.name == "events" for p in before)
    for drop in (None, "watch.json"):  # a complete earlier watch; one killed before its end
        if drop:
            (out / drop).unlink()
            before = files()
        capsys.readouterr()
        assert main(["watch", str(model_dir), str(camera), "--out", str(out), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert "another camera view" in err and "frames before it" not in err
        assert files() == before and not (out / STASH).exists()
    # a watch killed after setting them aside and before its first frame: its empty outputs
    # beside the stash; the next watch puts the stash back first
    stash_earlier_outputs(out)
    (out / "events.json").write_text("[]")
    (out / "scores.csv").write_text("frame,time_s,score,smoothed,static,velocity,top_stream\n")
    assert main(["watch", str(model_dir), str(camera), "--out", str(out), "--quiet"]) == 2
    assert files() == before and not (out / STASH).exists()
    assert main(["watch", str(model_dir), str(video), "--out", str(out), "--quiet",
                 "--threshold", "1e9"]) == 0  # a watch that scores: moved to earlier/
    assert json.loads((out / "events.json").read_text()) == []
    assert not list((out / "events").iterdir()) and not (out / STASH).exists()
    (kept,) = (out / "earlier").iterdir()
    moved = {p.relative_to(kept): p.read_bytes() for p in kept.rglob("*") if p.is_file()}
    # as they were, but the page of the watch killed before its end, which now says so
    page = moved.pop(Path("watch.html")).decode("utf-8")
    assert moved == {k: v for k, v in before.items()
                     if k.parts[0] != "earlier" and k != Path("watch.html")}
    assert UNFINISHED_NOTE in page and "refresh" not in page


@pytest.mark.parametrize("started", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_an_earlier_start_out_of_the_calendar_names_its_folder_by_its_files_time(tmp_path,
                                                                               started):
    """A watch.json whose started_at lies out of the calendar in UTC stopped every restart
    (OverflowError, a reviewer's case): the folder is named by the newest file's time, as
    for a start that is no time."""
    (tmp_path / STASH / "events").mkdir(parents=True)
    (tmp_path / STASH / "events" / "event_0001.png").write_bytes(b"png")
    (tmp_path / STASH / "watch.json").write_text(json.dumps({"started_at": started}))
    for path in (tmp_path / STASH / "events" / "event_0001.png", tmp_path / STASH / "watch.json"):
        os.utime(path, (1e9, 1e9))
    kept = keep_earlier_outputs(tmp_path)
    assert kept == tmp_path / "earlier" / "20010909T014640Z"
    assert (kept / "events" / "event_0001.png").read_bytes() == b"png"


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*")
            if p.is_file()}


def test_a_stash_left_behind_never_deletes_outputs_that_hold_scored_frames(tmp_path):
    """A stash folder a watch killed after putting the stashed files back left empty made the
    next watch delete the earlier watch's complete outputs (a reviewer's case): an empty
    stash is removed and the outputs kept in earlier/; a stash whose files would replace
    them is kept in earlier/ beside them; one a watch killed while putting files back left
    is put back beside them; only a watch's own names come back from a stash."""
    loud = [{"velocity": 0.1}] * 3 + [{"velocity": 3.0}] * 2 + [{"velocity": 0.1}] * 5
    quiet = [{"velocity": 0.1}] * 4
    _fake_watch(tmp_path, loud)
    first = _files(tmp_path)
    assert "events/event_0001.png" in first

    (tmp_path / STASH / "events").mkdir(parents=True)  # empty: removed, nothing lost
    _fake_watch(tmp_path, quiet)
    (kept,) = (tmp_path / "earlier").iterdir()
    assert _files(kept) == first and not (tmp_path / STASH).exists()

    second = {k: v for k, v in _files(tmp_path).items() if not k.startswith("earlier/")}
    (tmp_path / STASH).mkdir()  # a stash no watch left, at a watch's names: kept too
    (tmp_path / STASH / "scores.csv").write_text("frame,time_s,score,smoothed\n0,0,1,1\n")
    _fake_watch(tmp_path, quiet)
    earlier = [_files(p) for p in (tmp_path / "earlier").iterdir()]
    # (the second's page, which links to the first's folder, is rewritten for its new place)
    second.pop("watch.html")
    assert len(earlier) == 3 and first in earlier and second in [
        {k: v for k, v in f.items() if k != "watch.html"} for f in earlier]
    assert {"scores.csv": b"frame,time_s,score,smoothed\n0,0,1,1\n"} in earlier

    out = tmp_path / "killed"  # killed while putting the stash back: the rest comes back
    _fake_watch(out, loud)
    whole = _files(out)
    (out / STASH).mkdir()
    for name in ("watch.json", "watch.html"):
        (out / name).replace(out / STASH / name)
    (out / STASH / "notes.txt").write_text("mine")  # not a watch's: stays in the stash
    assert restore_earlier_outputs(out) is None
    assert {k: v for k, v in _files(out).items() if not k.startswith(STASH)} == whole
    assert _files(out / STASH) == {"notes.txt": b"mine"}


def test_a_symlinked_stash_is_refused_and_never_followed(tmp_path):
    """A stash that is a symlink to another folder pulled that folder's files into the output
    folder (a reviewer's case): it is named in one line before anything moves, and left."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "scores.csv").write_text("theirs")
    out = tmp_path / "out"
    _fake_watch(out, [{"velocity": 0.1}] * 4)
    before = _files(out)
    (out / STASH).symlink_to(elsewhere)
    assert foreign_outputs(out) == [
        f"{STASH} (a symlink to {elsewhere} where a watch sets an earlier watch's outputs "
        "aside)"]
    assert restore_earlier_outputs(out) is None
    with pytest.raises(ValueError, match=f"^{out} holds {STASH} .*move it away"):
        _fake_watch(out, [{"velocity": 0.1}] * 4)
    assert _files(out) == before and _files(elsewhere) == {"scores.csv": b"theirs"}


def _symlink_outside(out, name, outside):
    if name == "events":
        outside.mkdir()
        (outside / "event_0001.png").write_text("theirs")
    elif name == "earlier":
        outside.mkdir()
    (out / name).symlink_to(outside)


MISPLACED = {  # what is put at a watch's name: how foreign_outputs names it
    "scores.csv -> outside": ("scores.csv (a symlink to {outside} where a watch writes a file)",
                              lambda out, o: _symlink_outside(out, "scores.csv", o)),
    "events -> outside": ("events (a symlink to {outside} where a watch keeps its snapshots "
                          "and clips)", lambda out, o: _symlink_outside(out, "events", o)),
    "earlier -> outside": ("earlier (a symlink to {outside} where a watch keeps the earlier "
                           "watches' outputs)", lambda out, o: _symlink_outside(out, "earlier",
                                                                                  o)),
    "a pipe at scores.csv": ("scores.csv (a pipe where a watch writes a file)",
                             lambda out, o: os.mkfifo(out / "scores.csv")),
    "a folder at scores.csv": ("scores.csv (a folder where a watch writes a file)",
                               lambda out, o: (out / "scores.csv").mkdir()),
    "a file at events": ("events (a file where a watch keeps its snapshots and clips)",
                         lambda out, o: (out / "events").write_text("mine")),
    "a pipe at an event": ("events/event_0001.mp4 (a pipe where a watch writes a file)",
                           lambda out, o: (out / "events").mkdir()
                           or os.mkfifo(out / "events" / "event_0001.mp4")),
}


def test_an_output_folder_this_user_cannot_look_into_is_left_to_the_write_probe(tmp_path,
                                                                                monkeypatch):
    """A watch --out inside a folder its user may not search (EACCES on lstat) stopped with
    a bare "[Errno 13] Permission denied" from the check of a watch's names (a reviewer's
    case, stop 86): nothing misplaced is said there, so the output folder's own check
    (`ensure_writable`) refuses it in one line naming the folder above (tests/io/
    test_atomic.py has that line for a folder that cannot be looked into)."""
    from mulde.watch import misplaced_entries

    out = tmp_path / "locked" / "out"
    real = Path.lstat

    def denied(self, *args, **kwargs):
        if tmp_path / "locked" in self.parents:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "lstat", denied)
    assert misplaced_entries(out) == []


def _untouched(out, tmp_path):
    """What changes when a file is written, moved or removed in `out` or beside it, to the
    nanosecond (a write probe made and removed in `out` within one second had passed a
    comparison of whole seconds, and failed CI once the second turned): each entry's
    inode, type, size, and its modification and change times; not the access time, which
    reading a folder may set."""
    return {p: (s.st_ino, s.st_mode, s.st_size, s.st_mtime_ns, s.st_ctime_ns)
            for p in [*out.rglob("*"), *tmp_path.iterdir()] for s in [p.lstat()]}


@pytest.mark.parametrize("case", list(MISPLACED))
def test_a_symlink_pipe_or_folder_at_a_watchs_names_is_refused_before_it_starts(tmp_path,
                                                                              case):
    """A dangling symlink at scores.csv was written through, a symlinked events/ or earlier/
    got the watch's files and moved others' (outside the folder), a pipe at scores.csv hung
    the watch before its first frame, a folder at scores.csv or a file at events failed with
    an errno line (a reviewer's cases): each is named, with what to do, before any file is
    opened, moved or written, and nothing outside the folder is touched."""
    said, make = MISPLACED[case]
    out, outside = tmp_path / "out", tmp_path / "outside"
    out.mkdir()
    make(out, outside)
    entry = said.format(outside=outside)
    assert foreign_outputs(out) == [entry]
    lstat = _untouched(out, tmp_path)
    with pytest.raises(ValueError) as err:
        in_time(lambda: _fake_watch(out, [{"velocity": 0.1}] * 4))
    assert str(err.value) == (f"{out} holds {entry}: a watch would write through it, or "
                              "replace or move it; move it away, or give the watch another "
                              "output folder (--out)")
    assert _untouched(out, tmp_path) == lstat
    if outside.exists():
        assert _files(outside) == ({"event_0001.png": b"theirs"} if case.startswith("events")
                                   else {})


@needs_fifo
def test_cli_refuses_a_pipe_at_scores_csv_in_one_line_saying_what_to_do(trained, tmp_path,
                                                                         capsys):
    model_dir, video = trained
    out = tmp_path / "out"
    out.mkdir()
    os.mkfifo(out / "scores.csv")
    assert in_time(lambda: main(["watch", str(model_dir), str(video), "--out", str(out),
                                 "--quiet"])) == 2
    err = capsys.readouterr().err
    assert err == (f"mulde: error: {out} holds scores.csv (a pipe where a watch writes a "
                   "file): a watch would write through it, or replace or move it; move it "
                   "away, or give the watch another output folder (--out)\n")


def test_the_snapshot_names_the_event_score_and_the_stream_that_fired_as_the_report(
        tmp_path, monkeypatch):
    """At the peak the velocity object tops the frame (1.1 against 1.0), but the smoothed
    score the event is found in is mostly the static stream's (1.0 against 0.79): the label
    reads "score 1.79 (static highest)", events.json names static as the stream that fired
    (the report's rule) and velocity as the top object's stream, not "velocity 1.79"."""
    import mulde.watch

    labels, times = [], []
    draw = mulde.watch._snapshot
    monkeypatch.setattr(mulde.watch, "_snapshot",
                        lambda frame, box, label, when: labels.append(label)
                        or times.append(when) or draw(frame, box, label, when))
    velocity = [0.1] * 4 + [0.3, 0.4, 1.1, 0.2] + [0.1] * 6
    _fake_watch(tmp_path, [{"static": 1.0, "velocity": v} for v in velocity], threshold=1.5)
    (event,) = _events(tmp_path)
    assert event["peak"] == 6 and event["top_stream"] == "velocity"
    assert event["stream"] == "static" == leading_stream(event["stream_scores"])
    assert sum(event["stream_scores"].values()) == pytest.approx(event["score"])
    assert event["stream_scores"]["velocity"] == pytest.approx(0.789, abs=1e-3)
    assert len(labels) == 2  # the start's snapshot, then the peak's that replaced it
    assert labels[-1] == f"score {event['score']:.2f} (static highest)" == ("score 1.79 "
                                                                            "(static highest)")
    assert snapshot_label(1.234, {"velocity": 2.0}) == "score 1.23 (velocity)"  # one stream
    # and when it was taken: the start frame's clock time, then the peak's
    assert times == [snapshot_time(event[k]) for k in ("start_at", "peak_at")]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", times[-1])
    assert snapshot_time("2026-12-05T20:38:07.923+00:00") == "2026-12-05 20:38:07 UTC"


def test_a_snapshot_label_beside_the_right_edge_is_drawn_whole():
    """A box at the frame's right edge: its label is moved left so that it ends inside the
    frame (the newcomer's "score 1.65 (static highe" was cut off)."""
    from mulde.watch import _snapshot

    frame = np.zeros((120, 200, 3), np.uint8)
    png = _snapshot(frame, np.array([180.0, 60.0, 200.0, 80.0]), "score 1.65 (static highest)")
    drawn = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    text = drawn[:58, :, 2] > 100  # the label, red, above the box
    cols = np.flatnonzero(text.any(axis=0))
    assert cols.min() < 100 and cols.max() < 199  # starts well left of the box, ends inside


def test_a_truncated_video_says_how_many_frames_were_scored_before_it_broke(trained, tmp_path,
                                                                           capsys):
    """The frames decoded before the damage are scored and written; the one-line error says
    so (a newcomer saw only the error and took the outputs for nothing)."""
    model_dir, _ = trained
    cut = write_video(tmp_path / "cut.avi", 40, size=(160, 240), fps=10)  # AVI: frame by frame
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size * 2 // 3])
    assert main(["watch", str(model_dir), str(cut), "--out", str(tmp_path / "o"),
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    scored = json.loads((tmp_path / "o" / "watch.json").read_text())["frames"]
    *notes, error = err.rstrip("\n").split("\n")
    assert scored > 0 and error.endswith(f"; the {scored} frames before it are scored: "
                                         f"outputs in {tmp_path / 'o'}")
    # the cut falls inside a frame's data: the error names that frame, dropped, and no
    # timeline note before it names it again (it said the cut frame twice)
    assert "cut off mid-frame, dropped" in error and notes == []


def test_a_file_cut_short_of_its_stated_duration_ends_its_stream_with_a_note(trained,
                                                                            tmp_path):
    """A Matroska file cut at 60 % (its container states a duration, no frame count) decodes
    its frames and stops without an error: the watch scores them all and ends as its stream
    does (`stopped` "end of stream", exit 0), and the `CutShortWarning` saying the file holds
    40 of its 4 s's 60 frames is on stderr and in watch.json's notes, where it had been
    silent."""
    from fakes import write_cut_matroska

    from mulde.video.decode import CutShortWarning

    model_dir, _ = trained
    cut = write_cut_matroska(tmp_path / "cut.mkv", 40, 24, size=(160, 240), fps=10)
    said = (f"{cut}: decoded 24 of the 40 frames its container states (4 s at 10 fps), so "
            "it may be cut short or damaged; the 24 frames decoded are used")
    with pytest.warns(CutShortWarning, match=f"^{re.escape(said)}"):
        assert main(["watch", str(model_dir), str(cut), "--out", str(tmp_path / "o"),
                     "--quiet"]) == 0
    summary = json.loads((tmp_path / "o" / "watch.json").read_text())
    assert summary["frames"] == 24 and summary["stopped"] == "end of stream"
    assert [n for n in summary["notes"] if n.startswith(said)] != []


def test_a_frames_model_is_watched_and_its_stream_column_is_not_the_frame_index(
        tmp_path, monkeypatch):
    """A frame-centric model (the `frame` stream) scores a video live as offline; scores.csv
    names that stream's column `frame_score`, so `frame` stays the frame index, and the first
    columns are those `mulde evaluate` reads (`report.WATCH_COLUMNS`)."""
    from fakes import MeanBackbone

    from mulde.evaluation.report import WATCH_COLUMNS
    from mulde.video import backbones
    from mulde.video.features.frame_centric import FrameCentricExtractor
    from mulde.watch import SCORES_COLUMNS, stream_column

    assert SCORES_COLUMNS == WATCH_COLUMNS
    assert [stream_column(s) for s in ("frame", "velocity", "top_stream")] == [
        "frame_score", "velocity", "top_stream_score"]
    monkeypatch.setitem(backbones.BACKBONES, "mean", MeanBackbone)
    backbones.load_backbone.cache_clear()
    try:
        root = generate_scene(tmp_path / "scene", n_train=2, n_test=1, n_frames=30, seed=3)
        extractor = FrameCentricExtractor(backbone="mean", length=4, size=8)
        train = {p.stem: extractor.extract(Video(p.stem, p))
                 for p in sorted((root / "train").glob("*.mp4"))}
        PipelineModel.fit(extractor, train, StreamEnsemble("knn"), fps=10.0).save(
            tmp_path / "m")
        model = load_model(tmp_path / "m")
        video = Video("test_01", root / "test" / "test_01.mp4")
        offline = model.score_video(video).fused
        summary = watch_source(model, str(video.path), tmp_path / "out")
        model.training = {**(model.training or {}), "frame_sizes": {"": [64, 32]}}
        from mulde.video.features.online import FrameSizeWarning

        with pytest.warns(FrameSizeWarning, match="trained on 64x32 video"):
            wide = watch_source(model, str(video.path), tmp_path / "out2")
    finally:
        backbones.load_backbone.cache_clear()  # no "mean" backbone for later tests
    # 6 s of training video cannot check one false alarm an hour: said beside the alerts,
    # as `mulde run` and `mulde info` say it (a newcomer's watch.json promised the rate)
    assert summary["frames"] == 30 and summary["notes"] == [
        f"the alert threshold {summary['threshold']:.4g}: the training videos last 6 s in "
        "all: one false alarm there is already 600 per hour, above the target of 1, so the "
        "rate cannot be checked; train on at least 60 min of normal video for a threshold "
        "that keeps it"]
    # the warning said on stderr is kept with the outputs (a newcomer found it lost there)
    assert [n for n in wide["notes"] if "trained on 64x32 video" in n] == [
        n for n in json.loads((tmp_path / "out2" / "watch.json").read_text())["notes"]
        if "64x32" in n]
    assert sum("trained on 64x32 video" in n for n in wide["notes"]) == 1
    with (tmp_path / "out" / "scores.csv").open() as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == ["frame", "time_s", "score", "smoothed", "frame_score",
                                     "top_stream", "arrived_at"]
        rows = list(reader)
    assert [int(r["frame"]) for r in rows] == list(range(30))
    np.testing.assert_allclose([float(r["score"]) for r in rows], offline, rtol=1e-6)


def _calibrated_watcher(scorer, parts, out):
    """A watch of len(parts) frames by `scorer`, whose ensemble has two streams of 40
    training rows of 8 features, 4 calibration folds and 50 training frames with objects."""
    from types import SimpleNamespace

    fit = SimpleNamespace(model=SimpleNamespace(), dim=8, train_objects=40)
    scorer.ensemble = SimpleNamespace(fits_={"velocity": fit, "static": fit},
                                      calibration_folds=4)
    frames = [np.full((24, 32, 3), 40, np.uint8) for _ in parts]
    return Watcher(scorer, Capture("clip", "file", 10.0, lambda: iter(frames)), out,
                   WatchOptions(threshold=1.0), sorted(parts[0]),
                   training_frames={"velocity": 50, "static": 50})


def test_a_stream_below_its_calibration_is_warned_and_noted(tmp_path):
    """Most watched frames of one stream calibrated below 0: one warning at the end naming
    that stream, kept in watch.json's notes; the other stream is not named."""

    from mulde.vad.fusion import CalibrationWarning

    parts = [{"velocity": -0.2, "static": 0.1}] * 9 + [{"velocity": 0.3, "static": 0.1}] * 3
    watcher = _calibrated_watcher(_FakeScorer(parts), parts, tmp_path)
    with pytest.warns(CalibrationWarning, match=r"^stream velocity: 75% of the 12 frames "
                      r"watched score below every training frame .* about 1 in 51\)"):
        summary = watcher.run()
    notes = json.loads((tmp_path / "watch.json").read_text())["notes"]
    assert notes == summary["notes"]
    assert len(notes) == 1 and notes[0].startswith("stream velocity: 75% of the 12 frames")


def test_frames_without_objects_are_not_counted_below_the_calibration(tmp_path):
    """An empty scene scores each object stream's fill, below 0 by design: 9 such frames
    beside 3 with objects above 0 warn of nothing."""
    import warnings

    parts = [{"velocity": -0.2, "static": -0.1}] * 9 + [{"velocity": 0.3, "static": 0.1}] * 3
    scorer = _FakeScorer(parts, empty=[("velocity", "static")] * 9 + [()] * 3)
    watcher = _calibrated_watcher(scorer, parts, tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary = watcher.run()
    assert summary["notes"] == []


@pytest.mark.parametrize(("kind", "live"), [("webcam", True), ("file", False),
                                            ("file", True)])
def test_a_live_source_scored_slower_than_its_rate_is_said_once(tmp_path, kind, live):
    """A camera at 100 frames/s scored at about 40: one warning at the end with the rate and
    the lag, kept in watch.json's notes; a file read as fast as it scores says nothing, and
    one paced by --realtime (live) is told to leave it out (a newcomer was told to record
    the recording)."""
    import time
    import warnings

    from mulde.watch import FallingBehindWarning

    class Slow(_FakeScorer):
        def push(self, frame, arrived=None):
            time.sleep(0.025)
            return super().push(frame, arrived)

    parts = [{"velocity": 0.1, "static": 0.1}] * 12
    frames = [np.full((24, 32, 3), 40, np.uint8) for _ in parts]
    capture = Capture("cam", kind, 100.0, lambda: iter(frames), live=live)
    watcher = Watcher(Slow(parts), capture, tmp_path, WatchOptions(threshold=1.0),
                      sorted(parts[0]), max_height=240)
    watcher.BEHIND_MIN_S = 0.1  # the default 2 s would make this test slow
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        summary = watcher.run()
    behind = [str(w.message) for w in said if w.category is FallingBehindWarning]
    if not live:
        assert behind == [] and summary["notes"] == []
        return
    (line,) = behind
    assert re.match(r"cam: scored \d+\.\d frames/s, slower than the source's 100: its frames "
                    r"waited, and the last were scored about 0\.\d s late", line), line
    # the remedies docs/live.md allows: no other frame rate, no skipped frames
    remedy = ("leave out --realtime, so that the file is read as fast as it is scored"
              if kind == "file" else "record the source and watch the recording, which is "
              "read as fast as it is scored")
    assert line.endswith("; give the watch more CPU threads (--threads), or train a model "
                         "that works on fewer rows than its 240 (--set max_height=N at "
                         "training) or uses a lighter extractor (objects rather than "
                         f"objects:detector), or {remedy} (frames are never skipped: "
                         "the features and the smoothing assume every frame)"), line
    assert "frame rate" not in line.split(";", 1)[1]
    assert json.loads((tmp_path / "watch.json").read_text())["notes"] == [line]


def test_waits_for_the_source_are_not_counted_as_scoring_time(tmp_path):
    """Two runs of 10 frames, each arriving at once after a 0.6 s wait, each ended by another
    0.6 s wait (a time-out) before the drop or the end; the scorer holds one frame back, as
    the real one does, and scores it only at the restart or finish after that wait. The
    watcher kept up, so no falling-behind warning (a newcomer's UDP watch was said to be
    12.3 s late, its latency 0.1 s), and frames/s counts only the seconds frames flowed."""
    import time
    import warnings

    from mulde.video.capture import GAP
    from mulde.watch import FallingBehindWarning

    parts = [{"velocity": 0.1}] * 20

    class Holding(_FakeScorer):  # one frame behind, as the online features are
        held = None

        def push(self, frame, arrived=None):
            out, self.held = ([] if self.held is None else [self.held]), \
                super().push(frame, arrived)[0]
            return out

        def restart(self):
            out, self.held = [self.held], None
            return out

        finish = restart

    def frames():
        for run in range(2):
            time.sleep(0.6)  # waiting for the source: no frame to score
            yield from (np.full((24, 32, 3), 40, np.uint8) for _ in range(10))
            time.sleep(0.6)  # the time-out that ends the run
            if run == 0:
                yield GAP

    capture = Capture("udp://cam", "network", 25.0, frames, live=True)
    watcher = Watcher(Holding(parts), capture, tmp_path, WatchOptions(threshold=1.0),
                      ["velocity"])
    watcher.BEHIND_MIN_S = 0.1
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        summary = watcher.run()
    assert summary["frames"] == 20
    assert not [w for w in said if w.category is FallingBehindWarning]
    assert summary["seconds"] >= 2.4 and summary["flowing_s"] < 0.6
    assert summary["frames_per_s"] == pytest.approx(20 / summary["flowing_s"])


def test_watch_help_lists_its_exit_statuses(capsys):
    """`mulde watch --help` names every exit status a script may see, the lost stream's
    among them, and that a source failing partway keeps its outputs."""
    from mulde.cli import STREAM_LOST

    with pytest.raises(SystemExit):
        main(["watch", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"{STREAM_LOST} a network stream lost" in text
    for status in ("0 the source ended", "130 interrupted", "1 a crash", "fails partway"):
        assert status in text


def test_ctrl_c_before_the_first_frame_says_the_folder_is_as_it_was(trained, tmp_path,
                                                                    monkeypatch, capsys):
    """"outputs written" was said after Ctrl-C before any frame, when an earlier watch's
    outputs had been put back (a reviewer's point)."""
    import mulde.watch

    model_dir, video = trained
    out = tmp_path / "out"
    assert main(["watch", str(model_dir), str(video), "--out", str(out), "--quiet",
                 "--threshold", "1e9"]) == 0
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    capsys.readouterr()

    def stopped_at_once(self, stop):  # Ctrl-C before the first frame arrives
        raise KeyboardInterrupt

    monkeypatch.setattr(mulde.watch.Watcher, "_run", stopped_at_once)
    assert main(["watch", str(model_dir), str(video), "--out", str(out), "--quiet"]) == 130
    assert capsys.readouterr().err.endswith(
        f"mulde: interrupted before the first frame was scored; {out} is as it was\n")
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_ctrl_c_while_a_stream_opens_exits_130_and_leaves_no_empty_outputs(trained, tmp_path):
    """Ctrl-C while a stream that accepts and never answers was opening waited out the open
    (about 10 s, --timeout's) and left a folder of outputs for 0 frames: now the watch stops
    without waiting for the open (measured: about 1.5 s rather than 10.5), and a folder it
    created goes; a folder that held a user's file keeps it alone."""
    import socket
    import threading

    model_dir, _ = trained
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    accepted = []

    def accept():  # takes connections and never says a word
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:  # closed at the end of the test
                return

    threading.Thread(target=accept, daemon=True).start()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("the user's")
    try:
        for out, said in ((tmp_path / "new", "nothing written"), (mine, f"{mine} is as it was")):
            before = len(accepted)
            watch = subprocess.Popen(
                [sys.executable, "-m", "mulde", "watch", str(model_dir),
                 f"tcp://127.0.0.1:{port}", "--out", str(out), "--quiet", "--timeout", "600"],
                env=ENV, stderr=subprocess.PIPE, text=True)
            while len(accepted) == before and watch.poll() is None:  # it is opening the stream
                threading.Event().wait(0.05)
            watch.send_signal(signal.SIGINT)
            err = watch.communicate(timeout=120)[1]
            assert watch.returncode == 130, err
            assert "Traceback" not in err
            assert err.endswith(f"mulde: interrupted before the first frame was scored; {said}\n")
        assert not (tmp_path / "new").exists()
        assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    finally:
        server.close()
        for connection in accepted:
            connection.close()


@pytest.mark.parametrize("timeout_s", [0.3, None])
def test_the_wait_for_a_frame_flushed_after_a_time_out_is_not_scoring_time(tmp_path,
                                                                           timeout_s):
    """A quiet UDP stream: its last frame comes out of the decoder only once the read's
    time-out has fired, so it arrives --timeout seconds after the one before (measured with
    a sender that stops: 9.8 s of flow for 6 s of frames and a 4 s time-out, and a false
    falling-behind warning). That wait is left out of flowing_s; a pause shorter than the
    time-out is the stream's own and counts (no time-out: None)."""
    import time
    import warnings

    from mulde.watch import FallingBehindWarning

    parts = [{"velocity": 0.1}] * 11

    def frames():
        yield from (np.full((24, 32, 3), 40, np.uint8) for _ in range(10))
        time.sleep(0.5)  # the time-out (0.3 s) fires, then the decoder's last frame comes
        yield np.full((24, 32, 3), 40, np.uint8)

    capture = Capture("udp://cam", "network", 25.0, frames, live=True)
    options = WatchOptions(threshold=1.0, **({} if timeout_s is None
                                             else {"timeout_s": timeout_s}))
    watcher = Watcher(_FakeScorer(parts), capture, tmp_path, options, ["velocity"])
    watcher.BEHIND_MIN_S = 0.1
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        summary = watcher.run()
    assert summary["frames"] == 11
    behind = [w for w in said if w.category is FallingBehindWarning]
    if timeout_s is None:
        assert summary["flowing_s"] >= 0.5 and behind  # 11 frames in 0.5 s: 22 frames/s
        return
    assert summary["flowing_s"] < 0.3 and not behind
    assert summary["frames_per_s"] == pytest.approx(11 / summary["flowing_s"])


def test_latencies_are_kept_for_a_window_of_frames_with_every_frames_mean_and_max(
        tmp_path, monkeypatch):
    """A 24/7 watch kept every frame's latency (about 70 MB a day at 25 frames/s): now the
    quantiles are those of the last LATENCY_WINDOW frames, said in watch.json, while the
    mean and max cover every frame."""
    import mulde.watch
    from mulde.vad.live import LiveScore

    class Timed(_FakeScorer):  # frame i is scored i seconds after it arrived
        def push(self, frame, arrived=None):
            s = super().push(frame, arrived)[0]
            return [LiveScore(**{**vars(s), "latency": float(s.index)})]

    monkeypatch.setattr(mulde.watch, "LATENCY_WINDOW", 5)
    parts = [{"velocity": 0.1}] * 12
    frames = [np.full((24, 32, 3), 40, np.uint8) for _ in parts]
    watcher = Watcher(Timed(parts), Capture("clip", "file", 10.0, lambda: iter(frames)),
                      tmp_path, WatchOptions(threshold=1.0), ["velocity"])
    summary = watcher.run()
    assert len(watcher.state.latencies) == 5  # 7, 8, 9, 10, 11
    assert summary["frames"] == 12
    assert summary["latency_s"] == {"mean": 5.5, "p50": 9.0, "p95": pytest.approx(10.8),
                                    "max": 11.0, "quantile_frames": 5}
    assert json.loads((tmp_path / "watch.json").read_text())["latency_s"]["quantile_frames"] == 5


def test_scores_events_and_the_watch_carry_the_clock_time_their_frames_were_read(tmp_path):
    """A live camera's alert must be placeable in the day (time_s counts frames, which drift
    from the clock after a reconnection): scores.csv's last column, each event's start_at,
    peak_at and end_at, and watch.json's started_at and ended_at are UTC clock times, those
    of a frame when it was read from the source, not when it was scored (the scorer holds
    one frame back, as the real one does: frame 10 is scored when frame 11 comes, 0.3 s
    later)."""
    import datetime
    import time

    quiet, loud = {"velocity": 0.1}, {"velocity": 5.0}
    parts = [quiet] * 3 + [loud, loud, {"velocity": 9.0}, loud] + [quiet] * 5

    class Holding(_FakeScorer):
        held = None

        def push(self, frame, arrived=None):
            out, self.held = ([] if self.held is None else [self.held]), \
                super().push(frame, arrived)[0]
            return out

        def finish(self):
            return [self.held]

    def frames():
        for i in range(len(parts)):
            if i == len(parts) - 1:
                time.sleep(0.3)
            yield np.full((24, 32, 3), 40, np.uint8)

    before = datetime.datetime.now(datetime.timezone.utc)
    watcher = Watcher(Holding(parts), Capture("cam", "webcam", 10.0, frames, live=True),
                      tmp_path, WatchOptions(threshold=1.0, patience=2), ["velocity"])
    summary = watcher.run()
    after = datetime.datetime.now(datetime.timezone.utc)
    with (tmp_path / "scores.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[-2:] == ["top_stream", "arrived_at"]  # added last: readers by
    clock = [datetime.datetime.fromisoformat(r["arrived_at"]) for r in rows]  # position keep
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", rows[0]["arrived_at"])
    started = datetime.datetime.fromisoformat(summary["started_at"])
    ended = datetime.datetime.fromisoformat(summary["ended_at"])
    assert before - datetime.timedelta(milliseconds=1) <= started <= clock[0]
    assert clock == sorted(clock) and clock[-1] <= ended <= after
    assert clock[-1] - clock[-2] >= datetime.timedelta(seconds=0.3)  # read, not scored
    (event,) = _events(tmp_path)
    assert event["start"] == 3 and event["start"] < event["peak"] < event["end"]
    assert [event[k] for k in ("start_at", "peak_at", "end_at")] == [
        rows[event[k]]["arrived_at"] for k in ("start", "peak", "end")]
    assert json.loads((tmp_path / "watch.json").read_text())["started_at"] == summary["started_at"]


@pytest.mark.parametrize("stop", ["end of the source", "ctrl-c"])
def test_an_event_still_running_when_the_watch_stops_is_marked_cut_short(tmp_path, stop):
    """An event that had not ended when the source ended or Ctrl-C came was recorded as one
    that ended ("ongoing": false alone): it is marked "cut_short", an event that ended by
    the threshold is not."""
    quiet, loud = {"velocity": 0.1}, {"velocity": 5.0}
    parts = [quiet] * 3 + [loud] * 2 + [quiet] * 6 + [loud] * 3
    images = [np.full((24, 32, 3), 40, np.uint8) for _ in parts]

    def frames():
        yield from images
        if stop == "ctrl-c":
            raise KeyboardInterrupt

    watcher = Watcher(_FakeScorer(parts), Capture("cam", "webcam", 10.0, frames), tmp_path,
                      WatchOptions(threshold=1.0, post_s=0.2), ["velocity"])
    if stop == "ctrl-c":
        with pytest.raises(KeyboardInterrupt):
            watcher.run()
    else:
        watcher.run()
    first, last = _events(tmp_path)
    assert first["cut_short"] is False and first["clip_cut_short"] is False
    assert last["cut_short"] is True and last["end"] == len(parts) - 1
    assert last["clip_cut_short"] is True  # its post-roll was never watched


def test_an_events_snapshot_is_written_as_it_starts_and_replaced_by_the_peaks(tmp_path):
    """A consumer polling events.json as an alert fires found "snapshot": "event_0001.png"
    that did not exist until the event ended: now the start frame's is written before
    events.json names it, and the peak frame's replaces it when the event ends."""
    quiet, loud = {"velocity": 0.1}, {"velocity": 5.0}
    parts = [quiet] * 3 + [loud, {"velocity": 9.0}, {"velocity": 20.0}] + [quiet] * 8
    images = [np.full((72, 96, 3), 10 * i, np.uint8) for i in range(len(parts))]
    seen = []

    class Polled(_FakeScorer):  # what a consumer sees while the event runs
        def push(self, frame, arrived=None):
            if self.n == 4:  # frame 3, the event's start, is written
                (event,) = json.loads((tmp_path / "events.json").read_text())
                png = tmp_path / "events" / str(event["snapshot"])
                seen.append((event["ongoing"], png.is_file() and np.asarray(Image.open(png))))
            return super().push(frame, arrived)

    watcher = Watcher(Polled(parts), Capture("cam", "webcam", 10.0, lambda: iter(images)),
                      tmp_path, WatchOptions(threshold=1.0), ["velocity"])
    watcher.run()
    ((ongoing, first),) = seen
    assert ongoing and first is not False, "events.json named a snapshot not yet written"
    # frame 3, at the right edge's middle (away from the box, its label and the time)
    assert tuple(first[36, -1]) == (30, 30, 30)
    (event,) = _events(tmp_path)
    assert event["start"] == 3 and event["peak"] == 5
    final = np.asarray(Image.open(tmp_path / "events" / event["snapshot"]))
    assert tuple(final[36, -1]) == (50, 50, 50)  # the peak's frame 5 replaced it
    assert not [p for p in (tmp_path / "events").iterdir() if p.name.startswith(".")]


def test_a_clip_cut_at_its_cap_is_marked_in_events_json(tmp_path):
    """Clips were silently cut at 60 s: an event longer than the cap (1 s here, 10 frames at
    10 frames/s) has a clip of the cap's frames and "clip_capped": true, written as soon
    as it happens; an event whose clip fits has false."""
    quiet, loud = {"velocity": 0.1}, {"velocity": 5.0}
    parts = [quiet] * 4 + [loud] + [quiet] * 6 + [loud] * 14 + [quiet] * 8
    images = [np.full((24, 32, 3), 40, np.uint8) for _ in parts]
    seen = []

    class Polled(_FakeScorer):
        def push(self, frame, arrived=None):
            if self.n == 23:  # the long event runs, its clip at the cap since frame 19
                seen.extend(json.loads((tmp_path / "events.json").read_text()))
            return super().push(frame, arrived)

    watcher = Watcher(Polled(parts), Capture("cam", "webcam", 10.0, lambda: iter(images)),
                      tmp_path, WatchOptions(threshold=1.0, pre_s=0.2, post_s=0.2,
                                             max_clip_s=1.0), ["velocity"])
    watcher.run()
    short, long = _events(tmp_path)
    assert long["end"] - long["start"] + 1 > 10
    assert [short["clip_capped"], long["clip_capped"]] == [False, True]
    assert seen[-1]["ongoing"] and seen[-1]["clip_capped"]  # said while the event runs
    assert _clip_frames(tmp_path / "events" / long["clip"]) == 10
    assert _clip_frames(tmp_path / "events" / short["clip"]) < 10


def test_a_pre_and_post_roll_longer_than_a_clip_is_a_one_line_error(trained, tmp_path,
                                                                     capsys):
    """--pre held that many seconds of decoded frames and clips were silently cut at 60 s:
    a --pre and --post that add up to more than the cap are refused before any work, and
    --help says the cap."""
    from mulde.watch import MAX_CLIP_S

    model_dir, video = trained
    said = []
    for given in (["--pre", "61"], ["--pre", "40", "--post", "30"], ["--post", "inf"]):
        assert main(["watch", str(model_dir), str(video), "--out", str(tmp_path / "o"),
                     *given]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"more than an event clip's {MAX_CLIP_S:g} s" in err
        assert err.rstrip().endswith(f"give at most {MAX_CLIP_S:g} s in all")
        said.append(err)
    assert "--pre 40 and --post 30 add up to 70 s, " in said[1]
    assert not (tmp_path / "o").exists()  # refused before any folder is made
    with pytest.raises(SystemExit):
        main(["watch", "--help"])
    assert f"a clip is at most {MAX_CLIP_S:g} s" in " ".join(capsys.readouterr().out.split())


def test_ctrl_c_prints_the_summary_line_of_a_watch_that_ends(trained, tmp_path, capsys,
                                                             monkeypatch):
    """Ctrl-C or SIGTERM during a watch printed only "mulde: interrupted; outputs written to
    DIR": the "watched N frames ... K events" line a watch that ends prints comes first,
    saying it was interrupted and by what; the exit status is 130 for Ctrl-C and 143 for
    SIGTERM, as the other commands' (SIGTERM's was 130)."""
    import mulde.video.capture

    model_dir, video = trained
    frames = list(Video("t", video).frames())

    for stop, status, how, said_by in ((signal.SIGINT, 130, "interrupted", "Ctrl-C"),
                                       (signal.SIGTERM, 143, "terminated (SIGTERM)",
                                        "SIGTERM")):
        def interrupted(stop=stop):
            yield from frames[:20]
            os.kill(os.getpid(), stop)  # the watch's handler: stops after this frame
            yield from frames[20:]

        monkeypatch.setattr(mulde.video.capture, "open_capture",
                            lambda source, f=interrupted, **kw: Capture(source, "webcam",
                                                                        10.0, f))
        out = tmp_path / f"out{status}"
        assert main(["watch", str(model_dir), "0", "--out", str(out), "--quiet"]) == status
        said = capsys.readouterr()
        assert re.fullmatch(r"watched \d+ frames at \d+\.\d frames/s \(latency median \d+ ms, "
                            rf"95th percentile \d+ ms\): \d+ events?, interrupted \({said_by}\); "
                            rf"outputs in {re.escape(str(out))} \(open "
                            rf"{re.escape(str(out / 'watch.html'))} to see them\)\n",
                            said.out), said.out
        assert said.err.endswith(f"mulde: {how}; outputs written to {out}\n")


def test_an_out_inside_the_models_training_or_test_videos_is_refused(trained, tmp_path,
                                                                      capsys, monkeypatch):
    """`--out cam/test/alerts` or `cam/train` was accepted, and the next `mulde run folder
    --root cam` took events/ and the rest for videos: a model whose pipeline.json records
    its training root (`mulde run`'s dataset, or `mulde train`'s VIDEOS named train beside a
    test/) refuses an --out inside its video folders before anything is written, as run and
    train refuse theirs; elsewhere in the root is taken. An empty --out (the working folder)
    is refused too."""
    import mulde.watch

    model_dir, video = trained
    cam = tmp_path / "cam"
    for part in ("train", "test"):
        (cam / part).mkdir(parents=True)
    loaded = mulde.watch.load_model

    def trained_on(root):
        def load(path):
            model = loaded(path)
            model.training = {**(model.training or {}), "dataset": "folder", "root": str(root)}
            return model
        monkeypatch.setattr(mulde.watch, "load_model", load)

    for root, out, inside in ((cam, cam / "test" / "alerts", cam / "test"),
                              (cam, cam / "train", cam / "train"),
                              (cam / "train", cam / "test" / "w", cam / "test")):
        trained_on(root)
        assert main(["watch", str(model_dir), str(video), "--out", str(out), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"mulde: error: --out {out} is inside {inside}, whose entries "
                              "are all taken for videos: ") and err.count("\n") == 1, err
        assert "give a folder outside it (e.g. --out " in err
        assert not (out / "events").exists()
    trained_on(cam)  # beside the video folders: taken
    assert main(["watch", str(model_dir), str(video), "--out", str(cam / "alerts"), "--quiet",
                 "--threshold", "1e9"]) == 0
    assert (cam / "alerts" / "watch.json").is_file()
    with pytest.raises(SystemExit) as done:
        main(["watch", str(model_dir), str(video), "--out", ""])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("mulde: error: argument --out: '' names no folder") and err.count(
        "\n") == 1, err


def test_on_event_runs_the_users_command_for_each_events_start_and_end(trained, tmp_path,
                                                                       capsys):
    """`--on-event CMD`: an alert reaches a person without polling events.json (a newcomer
    found no way): the command gets each event's start (with what fired where, the start
    frame's), end (the peak's) and complete clip, with its record, snapshot, the source and
    the watch's start; watch.json counts the calls and keeps no argument (a webhook's token
    would be in it). A command that cannot run is one line before anything is written."""
    model_dir, video = trained
    log = tmp_path / "calls.jsonl"
    hook = tmp_path / "hook.py"
    hook.write_text("import json, os, sys\n"
                    "body = json.load(sys.stdin)\n"
                    "body['env'] = {k: v for k, v in os.environ.items()\n"
                    "               if k.startswith('MULDE_')}\n"
                    "body['clip_there'] = os.path.isfile(body['clip_path'])\n"
                    f"open({str(log)!r}, 'a').write(json.dumps(body) + '\\n')\n")
    out = tmp_path / "out"
    command = f"{shlex.quote(sys.executable)} {shlex.quote(str(hook))}"
    assert main(["watch", str(model_dir), str(video), "--out", str(out), "--quiet",
                 "--threshold", "0", "--on-event", command]) == 0
    events = json.loads((out / "events.json").read_text())
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert events and len(calls) == 3 * len(events)
    assert sorted((c["number"], c["kind"]) for c in calls) == sorted(
        (k, kind) for k in range(1, len(events) + 1) for kind in ("start", "end", "clip"))
    summary = json.loads((out / "watch.json").read_text())
    for call in calls:
        event = events[call["number"] - 1]
        assert call["start"] == event["start"] and call["start_at"] == event["start_at"]
        assert call["source"] == str(video) and call["watch_started_at"] == summary[
            "started_at"]
        assert {"stream", "stream_scores", "top_stream", "box", "start_s"} <= set(call)
        if call["kind"] != "end":  # the end's call may run as the clip is put in place
            assert call["clip_there"] == (call["kind"] == "clip")
        assert call["env"]["MULDE_EVENT"] == call["kind"]
        assert call["env"]["MULDE_WATCH_OUT"] == str(out.absolute())
        assert Path(call["env"]["MULDE_EVENT_SNAPSHOT"]).name == event["snapshot"]
        if call["kind"] == "end":  # the record once ended: the peak's score and box
            assert {k: call[k] for k in ("end", "peak", "score", "ongoing")} == {
                k: event[k] for k in ("end", "peak", "score", "ongoing")}
    assert summary["on_event"] == {"program": sys.executable, "calls": len(calls),
                                   "failed": 0, "skipped": 0}
    capsys.readouterr()
    assert main(["watch", str(model_dir), str(video), "--out", str(tmp_path / "none"),
                 "--quiet", "--on-event", "no-such-alert-tool --to ops"]) == 2
    assert capsys.readouterr().err.strip() == (
        "mulde: error: --on-event: 'no-such-alert-tool' is not a program on PATH nor an "
        "executable file; give its full path")
    assert not (tmp_path / "none").exists()


def test_a_watch_records_itself_while_running_and_the_next_says_one_was_killed(
        trained, tmp_path, capsys, monkeypatch, last_page_only):
    """watch.json is written from the first frame on, every RECORD_EVERY_S, with stopped
    "running" (a health record; only the end's said how a watch went): a watch killed with
    kill -9 leaves it so, and the next watch into the folder names it in a note beside the
    outputs it kept under earlier/ (their events may be 'ongoing', their clip missing)."""
    import mulde.watch

    model_dir, video = trained
    out = tmp_path / "out"
    records = []
    real = mulde.watch.write_json

    def spy(path, obj):
        if Path(path).name == "watch.json":
            records.append(obj["stopped"])
        return real(path, obj)

    monkeypatch.setattr(mulde.watch, "write_json", spy)
    monkeypatch.setattr(mulde.watch, "RECORD_EVERY_S", 0.0)  # at every frame
    assert main(["watch", str(model_dir), str(video), "--out", str(out), "--quiet"]) == 0
    assert records[:3] == [mulde.watch.RUNNING] * 3 and records[-1] == "end of stream"
    summary = json.loads((out / "watch.json").read_text())
    summary["stopped"] = mulde.watch.RUNNING  # as a watch killed while running leaves it
    (out / "watch.json").write_text(json.dumps(summary))
    capsys.readouterr()
    assert main(["watch", str(model_dir), str(video), "--out", str(out), "--quiet"]) == 0
    kept = out / json.loads((out / "watch.json").read_text())["earlier_outputs"]
    note = (f"the earlier watch in {out} ended without writing its last record (killed, or "
            f"the machine stopped): its outputs, kept in {kept}, end where it stopped, an "
            "event it had open still 'ongoing' and its clip missing")
    assert f"mulde watch: {note}\n" in capsys.readouterr().err
    assert note in json.loads((out / "watch.json").read_text())["notes"]
    assert kept.name == datetime.fromisoformat(summary["started_at"]).strftime(
        "%Y%m%dT%H%M%SZ")


class _CallsStillRunning:
    """An `EventCommand` stand-in whose calls are still running as the watch ends: its
    `close` gets the user's Ctrl-C while it waits and says whether it saw it."""

    running = 1

    def __init__(self, out):
        self.out, self.saw_ctrl_c, self.record_meanwhile = out, False, None

    def fire(self, kind, number, record, out):
        pass

    def check(self):
        pass

    def summary(self):
        return {"program": "alert", "calls": 0, "failed": 0, "skipped": 0}

    def close(self):
        self.record_meanwhile = json.loads((self.out / "watch.json").read_text())
        try:
            signal.raise_signal(signal.SIGINT)  # the Ctrl-C the waiting line asks for
            self.saw_ctrl_c = False
        except KeyboardInterrupt:
            self.saw_ctrl_c = True


def test_ctrl_c_ends_the_wait_for_alert_calls_after_the_source_ended(tmp_path):
    """"waiting up to 29 s for 1 call still running (Ctrl-C ends them)": after a source that
    ended by itself the first Ctrl-C was only noted as a stop between frames (none came),
    and the wait went on; it is the one that ends the calls, and the outputs are written."""
    parts = [{"velocity": 0.1}] * 3 + [{"velocity": 5.0}] * 2 + [{"velocity": 0.1}] * 3
    frames = [np.full((24, 32, 3), 40, np.uint8)] * len(parts)
    command = _CallsStillRunning(tmp_path)
    watcher = Watcher(_FakeScorer(parts), Capture("clip", "file", 10.0, lambda: iter(frames)),
                      tmp_path, WatchOptions(threshold=1.0, pre_s=0.2, post_s=0.2,
                                             on_event=command), ["velocity"])
    summary = watcher.run()
    assert command.saw_ctrl_c
    assert summary["stopped"] == "end of stream" and summary["on_event"]["program"] == "alert"
    assert json.loads((tmp_path / "watch.json").read_text())["frames"] == len(parts)


def test_watch_json_is_written_before_the_wait_for_alert_calls(tmp_path):
    """The wait for calls still running lasts up to their time-out (30 s), and `docker stop`
    kills 10 s after its SIGTERM: watch.json was written after the wait alone, so such a
    watch left no record of its end (or a "running" one). It is written before it too."""
    parts = [{"velocity": 0.1}] * 3 + [{"velocity": 5.0}] * 2 + [{"velocity": 0.1}] * 3
    frames = [np.full((24, 32, 3), 40, np.uint8)] * len(parts)
    command = _CallsStillRunning(tmp_path)
    Watcher(_FakeScorer(parts), Capture("clip", "file", 10.0, lambda: iter(frames)), tmp_path,
            WatchOptions(threshold=1.0, pre_s=0.2, post_s=0.2, on_event=command),
            ["velocity"]).run()
    meanwhile = command.record_meanwhile
    assert meanwhile["stopped"] == "end of stream" and meanwhile["frames"] == len(parts)
    assert meanwhile["events"] == 1


def test_the_running_record_counts_the_seconds_frames_have_flowed(tmp_path, monkeypatch,
                                                                  last_page_only):
    """The health record written while frames flow said flowing_s 0 and frames_per_s null
    (the open run of frames was added at the end only), whatever the frames so far."""
    import mulde.watch

    records = []
    real = mulde.watch.write_json

    def spy(path, obj):
        if Path(path).name == "watch.json":
            records.append(obj)
        return real(path, obj)

    monkeypatch.setattr(mulde.watch, "write_json", spy)
    monkeypatch.setattr(mulde.watch, "RECORD_EVERY_S", 0.0)  # at every frame
    _fake_watch(tmp_path, [{"velocity": 0.1}] * 6)
    running = [r for r in records if r["stopped"] == mulde.watch.RUNNING]
    assert len(running) == 6 and running[-1]["frames"] == 6
    assert all(r["flowing_s"] > 0 and r["frames_per_s"] is not None for r in running[1:])
    assert running[-1]["flowing_s"] <= records[-1]["flowing_s"]


def test_a_watch_writes_its_overview_page_with_every_event(tmp_path, monkeypatch):
    """watch.html (mulde.watch_page) is written at the end with the watch's record and
    each event's row, snapshot and clip; the next watch into the folder moves it to
    earlier/ with the rest; a page that cannot be written is said once in the notes and
    the watch's other outputs are written as before."""
    quiet, loud = {"velocity": 0.1}, {"velocity": 5.0}
    parts = [quiet] * 3 + [loud] * 2 + [quiet] * 6 + [loud] * 3 + [quiet] * 4
    _fake_watch(tmp_path, parts)
    page = (tmp_path / "watch.html").read_text(encoding="utf-8")
    assert len(_events(tmp_path)) == 2
    assert re.findall(r"<tr><td class='n'>(\d+)</td>", page) == ["2", "1"]
    for name in ("event_0001.png", "event_0002.png", "event_0001.mp4", "event_0002.mp4"):
        assert f'"events/{name}"' in page
    assert "stopped: end of stream" in page and foreign_outputs(tmp_path) == []

    _fake_watch(tmp_path, [quiet] * 5)
    (kept,) = (tmp_path / "earlier").iterdir()
    assert (kept / "watch.html").read_text(encoding="utf-8") == page
    assert "No event" in (tmp_path / "watch.html").read_text(encoding="utf-8")

    def fail(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr("mulde.watch.write_watch_page", fail)
    out = tmp_path / "full"
    _, summary = _fake_watch(out, parts)
    said = [n for n in summary["notes"] if "overview page" in n]
    assert len(said) == 1 and "No space left on device" in said[0]
    assert not (out / "watch.html").exists() and len(_events(out)) == 2


def test_a_page_that_failed_is_tried_again_and_a_failure_at_the_end_is_recorded(
        tmp_path, monkeypatch):
    """A page that could not be written once (a disk full for a while) is said once and
    tried again when next due: the watch that ended has its page (it stayed the 'running'
    one it had written before, reloading itself); a failure first met at the end, said
    after the last record was written, is in watch.json's notes too."""
    import mulde.watch

    write = mulde.watch.write_watch_page
    calls = []

    def once(out, summary, *args):
        calls.append(summary["stopped"])
        if len(calls) == 1:
            raise OSError("No space left on device")
        return write(out, summary, *args)

    monkeypatch.setattr(mulde.watch, "write_watch_page", once)
    quiet, loud = {"velocity": 0.1}, {"velocity": 5.0}
    parts = [quiet] * 3 + [loud] * 2 + [quiet] * 6
    _, summary = _fake_watch(tmp_path / "a", parts)
    assert calls[0] == "running" and calls[-1] == "end of stream"
    assert "stopped: end of stream" in (tmp_path / "a" / "watch.html").read_text("utf-8")
    assert len([n for n in summary["notes"] if "overview page" in n]) == 1

    def at_the_end(out, summary, *args):
        if summary["stopped"] != "running":
            raise OSError("No space left on device")
        return write(out, summary, *args)

    monkeypatch.setattr(mulde.watch, "write_watch_page", at_the_end)
    _fake_watch(tmp_path / "b", parts)
    record = json.loads((tmp_path / "b" / "watch.json").read_text())
    assert [n for n in record["notes"] if "overview page" in n]


def test_a_running_watchs_page_gives_an_ongoing_events_length_and_peak_so_far(
        tmp_path, monkeypatch):
    """The page of a running watch is drawn from the events as they are: an event still
    running has its frames so far (it said '0.1 s so far', its start frame alone, however
    long it had run) and its highest score so far."""
    monkeypatch.setattr("mulde.watch.RECORD_EVERY_S", 0.0)  # a page with every frame
    quiet = {"velocity": 0.1}
    parts = [quiet] * 3 + [{"velocity": v} for v in (5.0, 6.0, 9.0, 7.0, 6.0, 5.0)] + [quiet] * 8
    pages = []

    class Polled(_FakeScorer):
        def push(self, frame, arrived=None):
            if self.n == 8:  # the page written as frame 7 was scored
                pages.append((tmp_path / "watch.html").read_text(encoding="utf-8"))
            return super().push(frame, arrived)

    frames = [np.full((24, 32, 3), 40, np.uint8) for _ in parts]
    watcher = Watcher(Polled(parts), Capture("cam", "webcam", 10.0, lambda: iter(frames)),
                      tmp_path, WatchOptions(threshold=1.0), ["velocity"])
    watcher.run()
    (event,) = _events(tmp_path)
    assert event["start"] < 5 and event["peak"] < 8 < event["end"]
    so_far = (7 + 1 - event["start"]) / 10  # seconds of its frames up to frame 7
    ((row,),) = [re.findall(r"<tr><td class='n'>1</td>.*?</tr>", page, re.S) for page in pages]
    assert f"{so_far:.1f} s so far" in row and f"{event['score']:.2f}" in row


def test_a_page_no_watch_wrote_at_watch_html_is_refused(tmp_path):
    (tmp_path / "watch.html").write_text("<html><body>my notes</body></html>")
    assert foreign_outputs(tmp_path) == ["watch.html (a page no watch wrote)"]


def test_the_health_record_is_kept_while_the_source_is_silent(tmp_path, monkeypatch):
    """watch.json's running record was rewritten only as frames came, so a watch waiting
    out a reconnection looked dead to a monitor: it is rewritten on its clock while the
    source is silent too, `ended_at` moving and `last_frame_at` the last frame's read."""
    import time

    monkeypatch.setattr("mulde.watch.RECORD_EVERY_S", 0.2)
    seen, pages = [], []  # those written after the third and last frame before the silence
    three = "<div class='k'>Frames</div><div class='v'>3</div>"

    def frames():
        for _ in range(3):
            yield np.full((24, 32, 3), 40, np.uint8)
        # silent (a drop, a back-off) until records and pages were seen rewritten in it
        # (a page shows the time of its record to the second); a minute at most
        # (this runs in the capture's reader thread, which can get here before the
        # watcher's thread has scored the first frame and written the first record: a
        # loaded machine's 50 ms stall made that a FileNotFoundError)
        until = time.monotonic() + 60
        while ((len({ended for _, ended, _ in seen}) < 3 or len(set(pages)) < 2)
               and time.monotonic() < until):
            time.sleep(0.05)
            if not (tmp_path / "watch.json").is_file():  # replaced, never removed, once there
                continue
            record = json.loads((tmp_path / "watch.json").read_text())
            if record["frames"] == 3:
                seen.append((record["stopped"], record["ended_at"], record["last_frame_at"]))
            page = tmp_path / "watch.html"  # the first is being drawn (matplotlib loads)
            if page.is_file() and three in (text := page.read_text(encoding="utf-8")):
                pages.append(text)
        yield np.full((24, 32, 3), 40, np.uint8)

    watcher = Watcher(_FakeScorer([{"velocity": 0.1}] * 4),
                      Capture("cam", "network", 10.0, frames, live=True), tmp_path,
                      WatchOptions(threshold=1.0), ["velocity"])
    summary = watcher.run()
    assert {stopped for stopped, _, _ in seen} == {"running"}
    assert len({ended for _, ended, _ in seen}) >= 3  # rewritten while no frame came
    with (tmp_path / "scores.csv").open() as f:
        arrived = [r["arrived_at"] for r in csv.DictReader(f)]
    assert seen[-1][2] == arrived[2] and summary["last_frame_at"] == arrived[3]
    # the page too, with every record (a quiet camera's page had stayed at its first frame)
    assert len(set(pages)) >= 2


def test_a_pre_roll_of_more_than_a_gigabyte_of_frames_is_said(tmp_path, monkeypatch):
    """--pre seconds of frames are held decoded: at 1080p, 25 frames/s and --pre 30 that is
    about 4.7 GB, which is said once at the first frame (a note), with the numbers and what
    to do; the default 2 s of these small frames is not."""
    monkeypatch.setattr("mulde.watch.PRE_ROLL_NOTE_BYTES", 30_000)
    quiet = [{"velocity": 0.1}] * 4
    frames = [np.full((24, 32, 3), 40, np.uint8)] * 4  # 2,304 bytes a frame

    def watch(pre_s, out):
        w = Watcher(_FakeScorer(quiet), Capture("c", "file", 10.0, lambda: iter(frames)), out,
                    WatchOptions(threshold=1.0, pre_s=pre_s), ["velocity"])
        return w.run()["notes"]

    (said,) = [n for n in watch(2.0, tmp_path / "big") if "pre-roll" in n]
    assert said == ("the clips' pre-roll holds the last 2 s decoded in memory: 21 frames of "
                    "32x24, about 0.0 GB; give a shorter --pre if this machine has less memory "
                    "to spare")
    assert not [n for n in watch(0.5, tmp_path / "small") if "pre-roll" in n]  # 6 frames


def test_the_status_line_says_how_long_no_frame_came(tmp_path, monkeypatch):
    """A terminal's status line froze while a stream reconnected: it is refreshed while the
    source is silent too, and says for how long no frame has come."""
    import time

    monkeypatch.setattr("mulde.watch.QUIET_SAY_S", 0.3)
    status = io.StringIO()  # a log: a line a refresh (20 x status_every_s)

    def frames():
        for _ in range(2):
            yield np.full((24, 32, 3), 40, np.uint8)
        until = time.monotonic() + 60  # silent until it was said, a minute at most
        while "no frame for" not in status.getvalue() and time.monotonic() < until:
            time.sleep(0.05)
        yield np.full((24, 32, 3), 40, np.uint8)

    watcher = Watcher(_FakeScorer([{"velocity": 0.1}] * 3),
                      Capture("cam", "network", 10.0, frames, live=True), tmp_path,
                      WatchOptions(threshold=1.0, status=status, status_every_s=0.01),
                      ["velocity"])
    watcher.run()
    said = [line for line in status.getvalue().splitlines() if "no frame for" in line]
    assert said and re.search(r"^2 frames .* no frame for \d+ s$", said[0])
    assert "no frame for" not in status.getvalue().splitlines()[-1]  # frames came again
