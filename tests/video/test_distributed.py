"""`--engine ray` (mulde.video.distributed): the same cache as the one-process loop, retries of
a killed worker, resuming, skipped videos. One local Ray (2 CPUs) serves the whole module."""

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from fakes import REPO, assert_same_entries, cache_entries, write_square_frames

from mulde.cli import main
from mulde.datasets import load_dataset
from mulde.pipeline import extract_features, run_pipeline
from mulde.video.cache import FeatureCache
from mulde.video.distributed import RayOptions
from mulde.video.features import Stream
from mulde.video.features.base import SceneFree
from mulde.video.features.registry import build_extractor

ray = pytest.importorskip("ray", reason="the ray engine needs Ray Data: pip install 'mulde[ray]'")
pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray of 2 CPUs for the module; its workers import this tree's mulde and the
    test helpers (tests/) like the driver does."""
    path = os.pathsep.join([str(REPO / "src"), str(REPO / "tests"),
                            os.environ.get("PYTHONPATH", "")])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": path}})
    yield
    ray.shutdown()


@pytest.fixture
def dataset_root(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    for i in range(2):
        write_square_frames(root / "train" / f"t{i}", 1.0 + 0.1 * rng.standard_normal(12))
    fast = np.r_[np.ones(4), np.full(4, 3.0), np.ones(4)]
    write_square_frames(root / "test" / "a", fast)
    write_square_frames(root / "test" / "b", 1.0 + 0.1 * rng.standard_normal(12))
    (root / "labels.csv").write_text("video,start,end\na,4,7\n")
    return root


def _assert_same_cache(a: Path, b: Path) -> None:
    (ea, others_a), (eb, others_b) = cache_entries(a), cache_entries(b)
    assert others_a == others_b == []
    assert_same_entries(eb, ea)


def test_ray_fills_the_same_cache_as_one_process(ray_session, dataset_root, tmp_path, capfd):
    (dataset_root / "test" / "broken.avi").write_bytes(b"not a video at all")
    ds = load_dataset("folder", dataset_root)
    extractor = build_extractor("objects")  # velocity + static: learns the scene first
    local = extract_features(ds, extractor, FeatureCache(tmp_path / "local"), progress=False)
    dist = extract_features(ds, extractor, FeatureCache(tmp_path / "ray"), progress=False,
                            ray=RayOptions(workers=2))
    assert dist.n_extracted == local.n_extracted == 4 and dist.n_cached == 0
    assert dist.failed == local.failed and [f["video"] for f in dist.failed] == ["broken"]
    assert "broken.avi" in dist.failed[0]["error"]
    assert dist.frames_extracted == local.frames_extracted == 48
    # the workers' seconds per stage come back, summed (what metrics.json's timings show)
    assert dist.stage_seconds.keys() == local.stage_seconds.keys() != set()
    assert all(v > 0 for v in dist.stage_seconds.values())
    _assert_same_cache(tmp_path / "local", tmp_path / "ray")
    for split, videos in local.features.items():
        assert list(dist.features[split]) == list(videos)
        for name, vf in videos.items():
            for stream, record in vf.items():
                np.testing.assert_array_equal(dist.features[split][name][stream].features,
                                              record.features)
    # a rerun skips the damaged file without decoding it again, on either engine alike
    from mulde.video.cache import KNOWN_FAILURE

    again = extract_features(ds, extractor, FeatureCache(tmp_path / "ray"), progress=False,
                             ray=RayOptions(workers=2))
    assert again.n_cached == 4 and again.n_extracted == 0
    assert again.failed == [{**local.failed[0], "error": local.failed[0]["error"] + KNOWN_FAILURE}]
    # Ray Data's INFO lines, its notice that its bars are off and the core worker's line on
    # restartable actors (printed once a process: `_stderr_without` checks it) stay unsaid
    said = capfd.readouterr().err
    for noise in ("Starting execution", "execution finished", "Progress bars disabled",
                  "core_worker.cc"):
        assert noise not in said, said


def test_ray_s_noise_is_taken_out_of_stderr_and_the_rest_kept(capfd):
    """Ray's core worker writes to file descriptor 2 past Python: the `RAY_NOISE` lines go,
    every other line stays, the progress bar's stream writes straight through, and
    descriptor 2 is itself again afterwards."""
    from mulde.video.distributed import RAY_NOISE, _stderr_without

    with _stderr_without(RAY_NOISE) as stream:
        os.write(2, b"[2026-01-01 E 1 1] core_worker.cc:1: Actor x " + RAY_NOISE[0]
                 + b". See ray#53727.\n")
        os.write(2, b"a real error\n")
        stream.write("\rbar 1/4")
        stream.flush()
    os.write(2, b"after\n")
    err = capfd.readouterr().err
    assert "core_worker" not in err and "a real error\n" in err and "bar 1/4" in err
    assert err.endswith("after\n")


def test_stderr_s_copier_drops_a_line_its_target_refuses_and_reads_on(tmp_path):
    """A real stderr that refuses a line (its reader gone) ended the copier, and the pipe
    unread then blocked, or failed, every later writer to descriptor 2 (this process's own
    messages among them); the copier now drops that line and reads the pipe to its end."""
    from mulde.video.distributed import _copy_lines

    gone_read, gone = os.pipe()
    os.close(gone_read)  # writes to `gone` fail: EPIPE (Python ignores SIGPIPE)
    read, write = os.pipe()
    os.write(write, b"one\n" * 1000)
    os.close(write)
    try:
        _copy_lines(read, gone, [b"noise"])  # returns at the pipe's end, raising nothing
    finally:
        os.close(gone)
    with pytest.raises(OSError):  # the copier read it all, and closed it
        os.fstat(read)


def test_descriptor_2_is_restored_when_a_flush_on_the_way_out_is_interrupted(monkeypatch):
    """A second Ctrl-C while the filter's streams were flushed on the way out left
    descriptor 2 on the pipe for the rest of the process (and its last lines to a daemon
    thread that may not run before the exit)."""
    from mulde.video.distributed import _stderr_without

    class Interrupted:
        def flush(self):
            raise KeyboardInterrupt

        def fileno(self):
            return 2

    before = os.fstat(2)
    with pytest.raises(KeyboardInterrupt), _stderr_without([b"noise"]):
        monkeypatch.setattr("sys.stderr", Interrupted())
    monkeypatch.undo()
    after = os.fstat(2)
    assert (after.st_dev, after.st_ino) == (before.st_dev, before.st_ino)


def test_a_video_this_run_found_unreadable_is_not_sent_to_a_worker(tmp_path, monkeypatch):
    """The scene background found the file unreadable (`mulde.video.unreadable`): the driver
    reports it with that error and records it for a rerun, as a worker would, without
    sending it to one (no Ray is started here)."""
    import mulde.video.distributed as distributed
    from mulde.video import unreadable
    from mulde.video.decode import probe
    from mulde.video.distributed import extract_with_ray
    from mulde.video.source import Video, VideoReadError

    broken = tmp_path / "broken.avi"
    broken.write_bytes(b"not a video at all")
    write_square_frames(tmp_path / "ok", np.ones(6))
    sent = []
    monkeypatch.setattr(distributed, "_map", lambda dataset, jobs, missing, *rest: (
        sent.extend(missing), {})[1])
    extractor = build_extractor("objects:velocity")
    jobs = [("train", Video("broken", broken), extractor), ("train", Video("ok", tmp_path / "ok"),
                                                             extractor)]
    cache = FeatureCache(tmp_path / "cache")
    with unreadable.remembered():
        with pytest.raises(VideoReadError) as said:
            probe(broken)
        outcomes = extract_with_ray("d", jobs, cache)
    assert sent == [1]  # "ok" alone goes to the workers
    assert outcomes[0].features is None and outcomes[0].error == str(said.value)
    assert cache.failure("d", "train", jobs[0][1], extractor) == str(said.value)


@dataclass(frozen=True)
class Dies(SceneFree):
    """The velocity extractor, except that it ends its worker process (os._exit: no clean-up,
    no exception) on video `once` the first time (marked by the file `marker`), and on video
    `always` every time."""

    marker: str
    once: str = "a"
    always: str = "b"
    name: str = "dies"
    version: str = "1"

    @property
    def params(self):
        return {"inner": build_extractor("objects:velocity").params}

    def extract(self, video, timings=None):
        if video.name == self.always or (video.name == self.once
                                         and not Path(self.marker).exists()):
            if video.name == self.once:
                Path(self.marker).write_text("died")
            os._exit(3)
        return build_extractor("objects:velocity").extract(video)


def test_a_killed_worker_is_retried_and_a_video_that_always_kills_it_is_skipped(
        ray_session, dataset_root, tmp_path):
    ds = load_dataset("folder", dataset_root)
    marker = tmp_path / "died"
    extractor = Dies(str(marker))
    cache = FeatureCache(tmp_path / "cache")
    result = extract_features(ds, extractor, cache, progress=False,
                              ray=RayOptions(workers=2, max_retries=1))
    assert marker.exists(), "the worker was never killed: the test tests nothing"
    # "b" killed its worker on the first try and on the one retry: skipped, never retried again
    assert [(f["split"], f["video"]) for f in result.failed] == [("test", "b")]
    assert "died 2 time(s)" in result.failed[0]["error"]
    assert result.n_extracted == 3 and "b" not in result.features["test"]
    # "a" killed its worker once and was retried: the cache is complete and consistent
    for split, video in [("train", v) for v in ds.train] + [("test", ds.test[0])]:
        assert video.name != "b"
        vf = cache.load(ds.cache_name, split, video, extractor)
        assert vf is not None, video.name
        np.testing.assert_array_equal(vf[Stream.VELOCITY].features,
                                      result.features[split][video.name][Stream.VELOCITY].features)
    assert cache.load(ds.cache_name, "test", ds.test[1], extractor) is None
    assert not [p.name for p in (tmp_path / "cache").rglob("*") if ".tmp" in p.name], (
        "a half-written entry was left")


def test_an_interrupted_run_resumes_with_the_missing_entries_only(ray_session, dataset_root,
                                                                  tmp_path, capsys):
    ds = load_dataset("folder", dataset_root)
    extractor = build_extractor("objects:velocity")
    cache = FeatureCache(tmp_path / "cache")
    # the interrupted run: the training entries made, and a half-written one (arrays only)
    for video in ds.train:
        cache.store(ds.cache_name, "train", video, extractor, extractor.extract(video))
    npz, _ = cache._paths(ds.cache_name, "test", ds.test[0], extractor)
    npz.parent.mkdir(parents=True, exist_ok=True)
    npz.write_bytes(b"half")
    before = {p: p.stat().st_ino for p in (tmp_path / "cache").rglob("*") if p.is_file()}
    assert main(["extract", "folder", "--root", str(dataset_root), "--extractor",
                 "objects:velocity", "--cache", str(tmp_path / "cache"), "--engine", "ray",
                 "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert "2 videos extracted" in out and "2 cached, 0 skipped" in out
    after = {p: p.stat().st_ino for p in (tmp_path / "cache").rglob("*") if p.is_file()}
    kept = [p for p in before if p != npz]
    assert kept and all(after[p] == before[p] for p in kept), "a finished entry was redone"
    assert after[npz] != before[npz], "the half-written entry was not redone"
    assert len(after) == len(before) + 3  # a's sidecar, b's arrays and sidecar
    for video in ds.test:
        assert cache.load(ds.cache_name, "test", video, extractor) is not None, video.name


def test_a_run_on_ray_records_its_engine_and_scores_like_the_local_run(ray_session,
                                                                       dataset_root, tmp_path):
    ds = load_dataset("folder", dataset_root)
    small = {"hidden_sizes": (16, 16), "max_steps": 20, "batch_size": 32}
    local = run_pipeline(ds, build_extractor("objects:velocity"), tmp_path / "local",
                         detector="knn", mulde_params=small, progress=False)
    dist = run_pipeline(ds, build_extractor("objects:velocity"), tmp_path / "ray",
                        detector="knn", mulde_params=small, progress=False,
                        ray=RayOptions(workers=2, max_retries=1))
    assert local["config"]["engine"] == "local"
    assert dist["config"]["engine"] == {"name": "ray", "address": None, "workers": 2,
                                        "cpus_per_worker": 1.0, "gpus_per_worker": 0.0,
                                        "max_retries": 1}
    assert (tmp_path / "ray" / "frame_scores.csv").read_bytes() == \
        (tmp_path / "local" / "frame_scores.csv").read_bytes()


def _fake_ray(monkeypatch, seen: list):
    """A stand-in `ray` module whose init records the worker niceness it would start with."""
    import sys
    import types

    fake = types.SimpleNamespace(
        is_initialized=lambda: False,
        init=lambda **kw: seen.append((os.environ.get("RAY_worker_niceness"), kw)))
    monkeypatch.setitem(sys.modules, "ray", fake)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    return fake


def test_a_local_ray_starts_its_workers_at_normal_priority_unless_the_user_says(monkeypatch):
    """Ray's workers run at niceness 15 by default and lose the CPU to every other process;
    a local node mulde starts gets 0 (the environment is restored after the start), a
    user's RAY_worker_niceness is kept, and a cluster reached by address is left alone."""
    from mulde.video.distributed import RayOptions, _connect

    seen: list = []
    _fake_ray(monkeypatch, seen)
    monkeypatch.delenv("RAY_worker_niceness", raising=False)
    _connect(RayOptions(workers=2))
    assert seen[-1][0] == "0" and "RAY_worker_niceness" not in os.environ
    monkeypatch.setenv("RAY_worker_niceness", "7")
    _connect(RayOptions(workers=2))
    assert seen[-1][0] == "7" and os.environ["RAY_worker_niceness"] == "7"
    monkeypatch.delenv("RAY_worker_niceness")
    monkeypatch.setattr("mulde.video.distributed._check_reachable", lambda address: None)
    _connect(RayOptions(address="ray://head:10001"))
    assert seen[-1] == (None, {"address": "ray://head:10001", "log_to_driver": False,
                               "logging_level": logging.ERROR})


def test_an_address_where_nothing_answers_is_one_error_not_a_long_wait():
    """Ray retries an unreachable head for minutes with only its own log lines (a newcomer's
    --address 127.0.0.1:1 ran 6 min 40 s); mulde first checks that the port answers."""
    import socket

    from fakes import free_port

    from mulde.video.distributed import EngineError, _check_reachable

    port = free_port()
    for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
        with pytest.raises(EngineError, match=rf"cannot reach Ray at {address}: nothing "
                                              r"answers there .*ray start --head"):
            _check_reachable(address)
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        _check_reachable(f"127.0.0.1:{listening.getsockname()[1]}")  # something answers
    _check_reachable("auto")  # Ray's own to resolve


def test_an_address_where_nothing_answers_is_said_before_any_work(dataset_root, tmp_path,
                                                                  capsys, monkeypatch):
    """Checked before the scene background is learnt (it was learnt first and left in the
    cache): neither the library's call nor the command leaves a folder behind."""
    from fakes import free_port

    from mulde.video.distributed import EngineError

    monkeypatch.setattr(ray, "is_initialized", lambda: False)  # (the module's Ray is up)

    address = f"127.0.0.1:{free_port()}"
    ds = load_dataset("folder", dataset_root)
    with pytest.raises(EngineError, match=f"cannot reach Ray at {address}"):
        extract_features(ds, build_extractor("objects"), FeatureCache(tmp_path / "cache"),
                         progress=False, ray=RayOptions(address=address))
    assert not (tmp_path / "cache").exists()
    assert main(["run", "folder", "--root", str(dataset_root), "--out", str(tmp_path / "out"),
                 "--engine", "ray", "--address", address]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mulde: error: cannot reach Ray at {address}") and "note" not in err
    assert not (tmp_path / "out").exists()


class _Stopped:
    """Stands in for a Ray Data executor: says when it is collected (as the iterator that
    holds one stops it: `_ClosingIterator.__del__`)."""

    def __init__(self, events: list):
        self.events = events

    def __del__(self):
        self.events.append("executor stopped")


def _fake_map_ray(monkeypatch, events: list, interrupt_inside: bool):
    """Stand-ins for `ray` and `ray.data` that `_map` drives: a started local Ray whose
    shutdown is recorded, and rows whose iterator records its close; with
    `interrupt_inside` the iterator raises KeyboardInterrupt itself (Ctrl-C while Ray Data
    starts or waits), holding an executor in its frame."""
    import sys
    import types

    import mulde.video.distributed as distributed

    def rows():
        executor = _Stopped(events)
        try:
            if interrupt_inside:
                raise KeyboardInterrupt
            yield {"index": 0, "n_frames": 3, "seconds": 0.1, "error": "", "fatal": "",
                   "stages": "{}"}
            yield {"index": 1, "n_frames": 3, "seconds": 0.1, "error": "", "fatal": "",
                   "stages": "{}"}
        finally:
            if not interrupt_inside:
                events.append("iterator closed")
        del executor

    mapped = types.SimpleNamespace(iter_rows=lambda: rows())
    data = types.ModuleType("ray.data")
    data.DataContext = types.SimpleNamespace(get_current=lambda: types.SimpleNamespace(
        max_errored_blocks=0, enable_progress_bars=True))
    data.from_items = lambda items, **kw: types.SimpleNamespace(
        map_batches=lambda *a, **k: mapped)
    data.ActorPoolStrategy = lambda **kw: None
    fake = types.SimpleNamespace(data=data, cluster_resources=lambda: {"CPU": 2},
                                 shutdown=lambda: events.append("shutdown"))
    monkeypatch.setitem(sys.modules, "ray", fake)
    monkeypatch.setitem(sys.modules, "ray.data", data)
    monkeypatch.setattr(distributed, "_connect", lambda options: (fake, True))


@pytest.mark.parametrize("interrupt_inside", [False, True])
def test_an_interrupted_map_stops_ray_data_before_it_shuts_ray_down(monkeypatch, tmp_path,
                                                                    interrupt_inside):
    """Ctrl-C in the loop over the rows, or inside Ray Data's iterator: its executor is
    stopped while Ray runs (the iterator closed; the objects that the interrupt's traceback
    holds collected), then the Ray the run started is shut down. Stopped after it, they
    started a new local Ray and printed Ray's errors after the exit message (reproduced
    with a real local Ray and an interrupt raised as Ray Data's iterator starts: the case
    inside; the case between rows held before too, CPython closing a loop's iterator as the
    exception leaves the loop)."""
    from mulde.video.distributed import _map

    events: list = []
    _fake_map_ray(monkeypatch, events, interrupt_inside)

    class Bar:  # the progress bar, where an interrupt between rows lands
        def __init__(self, *args, **kwargs):
            names.append(kwargs["desc"])

        def update(self, n):
            raise KeyboardInterrupt

        def set_postfix_str(self, text):
            pass

        def close(self):
            pass

    names = []
    with pytest.raises(KeyboardInterrupt):
        _map("folder/0123abcd", [], [0, 1], FeatureCache(tmp_path), RayOptions(workers=1),
             False, Bar, "my_videos")
    # the bar names the dataset, not its cache entries' folder (folder/<hash of its root>)
    assert names == ["features my_videos (ray, 1 worker)"]
    stopped = ["executor stopped"] if interrupt_inside else ["iterator closed",
                                                              "executor stopped"]
    assert events == [*stopped, "shutdown"]


def test_a_sigterm_handler_of_the_caller_outlives_ray_init(monkeypatch):
    """ray.init puts its own SIGTERM handler (sys.exit): `kill` of a `mulde run --engine
    ray` then exited 1 or 15 without "mulde: terminated (SIGTERM)", its resume hint and
    status 143, during the map and in the training after it. The CLI's handler is put back;
    a process without one keeps Ray's."""
    import signal

    import mulde.video.distributed as distributed

    def rays_own(signum, frame):  # what ray.init installs (ray._private.worker)
        raise SystemExit(signum)

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kw: signal.signal(signal.SIGTERM, rays_own))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)

    def the_clis(signum, frame):
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGTERM, the_clis)
    try:
        assert distributed._connect(RayOptions(workers=1)) == (ray, True)
        assert signal.getsignal(signal.SIGTERM) is the_clis
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        distributed._connect(RayOptions(workers=1))
        assert signal.getsignal(signal.SIGTERM) is rays_own
    finally:
        signal.signal(signal.SIGTERM, before)


def test_a_worker_that_cannot_write_the_cache_stops_the_run_saying_why(tmp_path, monkeypatch):
    """A cache folder made read-only under a Ray worker raised out of the actor, which Ray
    Data dropped and the driver reported as a crash or out of memory; the worker now says it
    as a fatal row in the local extraction's words (the run stops, the entries kept)."""
    import errno

    from fakes import MeanColour, write_frames

    from mulde.video.distributed import _ExtractWorker
    from mulde.video.source import Video

    video = Video("a", write_frames(tmp_path / "a", 3))
    cache = tmp_path / "cache"
    cache.mkdir()

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "cannot write X (Read-only file system); nothing was "
                                   "written")

    monkeypatch.setattr(FeatureCache, "store", read_only)
    worker = _ExtractWorker("folder", [("test", video, MeanColour())], str(cache), 1)
    row = worker({"index": np.array([0])})
    assert row["n_frames"].tolist() == [0]
    assert row["fatal"].tolist() == [
        f"test/a: cannot write X (Read-only file system); nothing was written; the feature "
        f"cache {cache} must be writable: give a writable --cache (the entries written so "
        "far are kept)"]


def test_ray_workers_warnings_are_said_and_reported_as_the_local_run_s(ray_session,
                                                                      dataset_root, tmp_path):
    """A worker's warnings never reach the driver: `mulde extract --engine ray` said nothing
    of a video's timeline gaps or of a file cut short. Its entries keep them, and the
    driver's read of each says them: the same classes and words as a local run, and again
    when every entry is read back from the cache."""
    from fakes import write_cut_matroska, write_timed_video

    from mulde.video.cache import VIDEO_WARNINGS

    write_timed_video(dataset_root / "test" / "gap.mkv", [*range(20), *range(25, 40)],
                      size=(40, 120))
    write_cut_matroska(dataset_root / "test" / "cut.mkv", 100, 60, size=(40, 120))
    ds = load_dataset("folder", dataset_root)
    extractor = build_extractor("objects:velocity")

    def warned(cache, ray):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = extract_features(ds, extractor, FeatureCache(cache), progress=False,
                                      ray=ray)
        return result, [(w.category.__name__, str(w.message)) for w in caught
                        if issubclass(w.category, VIDEO_WARNINGS)]

    local, fresh = warned(tmp_path / "local", None)
    dist, on_ray = warned(tmp_path / "ray", RayOptions(workers=2))
    again, cached = warned(tmp_path / "ray", RayOptions(workers=2))
    assert dist.n_extracted == local.n_extracted == 6 and again.n_cached == 6
    assert [c for c, _ in fresh] == ["CutShortWarning", "FrameTimelineWarning"]
    assert on_ray == cached == fresh
    _assert_same_cache(tmp_path / "local", tmp_path / "ray")
