"""Feature extraction over a Ray cluster (`mulde extract --engine ray`): the same cache, the
same atomic writer, the same skipped-videos report as the one-process loop in
`mulde.pipeline.extract_features`, scheduled, retried and balanced by Ray Data.

Why a module of the video layer: what runs on the workers is an extractor and the feature
cache (both here), nothing of the datasets, models or reports; the pipeline stays the one
place that decides which videos, with which fitted extractor, go into which cache, and calls
`extract_with_ray` in place of its loop. Ray is an optional dependency (`mulde[ray]`),
imported only when this engine runs.

How it runs: the driver loads the entries already in the cache (skip-existing, so an
interrupted run resumes where it stopped) and makes the missing videos a Ray Dataset of one row
(and one block) per video. `map_batches` sends each to a pool of actors (`workers` of them,
`cpus_per_worker` CPUs and `gpus_per_worker` GPUs each); an actor builds nothing per video: it
keeps its extractors, and the backbones they load, for its whole life. An actor writes each
video's entry into the cache with `FeatureCache.store` (arrays first, sidecar last, both
atomic), so the cache must be a folder every node sees (docs/scaling.md); the entry keeps the
video's warnings (a worker's never reach the driver), which the driver's load of it says, as
the one-process loop says them (`mulde.video.cache.held_video_warnings`). A video that cannot
be decoded (`VideoReadError`, `DetectionsError`) is caught in the actor and reported, never
retried (a `VideoReadError` leaves a failure record in the cache, which the driver reads on a
rerun, as the local loop does: `FeatureCache.failure`). A worker process that dies (killed, out
of memory, a crash in a native decoder) is a system failure: Ray restarts the actor and retries
the video up to `max_retries` times; a video on which it dies every time is reported as skipped
with that reason, and the run goes on. Extractors that learn a scene background (`with_scene`)
are fitted by the pipeline before the map, so every actor receives the fitted one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mulde.video import unreadable
from mulde.video.cache import (
    KNOWN_FAILURE,
    FeatureCache,
    held_video_warnings,
    unwritable_cache,
)
from mulde.video.features.base import Extractor
from mulde.video.features.detections import DetectionsError
from mulde.video.features.records import VideoFeatures
from mulde.video.source import Video, VideoReadError


class EngineError(RuntimeError):
    """The distributed engine cannot run (Ray missing, cluster unreachable, cache invisible)."""


@dataclass(frozen=True)
class RayOptions:
    """How to run on Ray.

    `address`: a running cluster ('auto', 'ray://host:10001', 'host:6379'); None: the
    RAY_ADDRESS environment variable when set, else a Ray started here for this run and
    stopped after it. `workers`: extraction actors (default: a local Ray's CPUs divided by
    `cpus_per_worker`, or all the cluster's); also the CPUs of a Ray started here.
    `cpus_per_worker` / `gpus_per_worker`: resources each actor holds (threads for PyTorch and
    OpenCV = its CPUs). `max_retries`: retries of a video whose worker process died (a system
    failure); errors raised by the extractor are never retried.
    """

    address: str | None = None
    workers: int | None = None
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    max_retries: int = 2

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"--workers must be >= 1, got {self.workers}")
        if self.cpus_per_worker <= 0 or self.gpus_per_worker < 0 or self.max_retries < 0:
            raise ValueError("cpus per worker must be > 0, GPUs per worker and retries >= 0")


@dataclass
class Outcome:
    """What became of one video: its features (cached or extracted) or why it was skipped.

    `n_frames` and `seconds` (the extraction's wall time on its worker) are 0 for a cached
    entry; `features` is None exactly when `error` is set."""

    split: str
    video: Video
    features: VideoFeatures | None
    cached: bool = False
    n_frames: int = 0
    seconds: float = 0.0
    error: str | None = None
    # seconds per extraction stage on its worker (the extractor's `timings`; empty if cached)
    stage_seconds: dict[str, float] = field(default_factory=dict)


class _ExtractWorker:
    """A Ray Data actor: extracts the videos of its batches into the cache, keeping its
    extractors (and their loaded backbones) between videos."""

    def __init__(self, dataset: str, jobs: list[tuple[str, Video, Extractor]],
                 cache_root: str, threads: int) -> None:
        if not Path(cache_root).is_dir():
            raise EngineError(f"the feature cache {cache_root} is not visible on node "
                              f"{socket.gethostname()}: put it on a filesystem every node "
                              "mounts at the same path (docs/scaling.md)")
        import cv2
        import torch

        torch.set_num_threads(threads)
        cv2.setNumThreads(threads)
        self.dataset, self.jobs, self.cache = dataset, jobs, FeatureCache(Path(cache_root))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows: dict[str, list[Any]] = {"index": [], "n_frames": [], "seconds": [], "error": [],
                                      "fatal": [], "stages": []}
        for index in batch["index"]:
            split, video, extractor = self.jobs[int(index)]
            t0 = time.perf_counter()
            n_frames, error, fatal = 0, "", ""
            stages: dict[str, float] = {}
            try:  # its warnings, which never reach the driver, go into its entry: the
                # driver's `FeatureCache.load` says them
                with held_video_warnings() as warned:
                    vf = extractor.extract(video, stages)
            except (VideoReadError, DetectionsError) as err:
                error = str(err)
                if isinstance(err, VideoReadError):  # a rerun skips it without decoding
                    self.cache.store_failure(self.dataset, split, video, extractor, error)
            except Exception as err:  # a bug, not a bad video: stops the run, as locally
                fatal = f"{split}/{video.name}: {type(err).__name__}: {err}"
            else:
                try:
                    self.cache.store(self.dataset, split, video, extractor, vf, warned)
                except OSError as err:  # stops the run, said as locally, not as a crash
                    said = unwritable_cache(err, self.cache.root)
                    fatal = f"{split}/{video.name}: {said or err}"
                else:
                    n_frames = vf.n_frames
            rows["index"].append(int(index))
            rows["n_frames"].append(n_frames)
            rows["seconds"].append(time.perf_counter() - t0)
            rows["error"].append(error)
            rows["fatal"].append(fatal)
            rows["stages"].append(json.dumps(stages))
        return {"index": np.asarray(rows["index"], np.int64),
                "n_frames": np.asarray(rows["n_frames"], np.int64),
                "seconds": np.asarray(rows["seconds"], np.float64),
                "error": np.asarray(rows["error"], dtype=str),
                "fatal": np.asarray(rows["fatal"], dtype=str),
                "stages": np.asarray(rows["stages"], dtype=str)}


def check_engine(options: RayOptions) -> None:
    """Raise EngineError when Ray is not installed, or when nothing answers at the cluster
    address (`options.address`, else RAY_ADDRESS) of a Ray not joined yet
    (`_check_reachable`): what `extract_features` checks before any work (a wrong
    --address was said after the scene background was learnt, leaving it in the cache)."""
    try:
        import ray
    except ImportError as err:
        raise EngineError("--engine ray needs Ray Data: pip install 'mulde[ray]'") from err
    address = options.address or os.environ.get("RAY_ADDRESS")
    if address and not ray.is_initialized():
        _check_reachable(address)


def _connect(options: RayOptions):
    """Return (ray, whether this call started Ray)."""
    check_engine(options)
    import ray

    if ray.is_initialized():
        return ray, False
    address = options.address or os.environ.get("RAY_ADDRESS")
    # ray.init puts its own SIGTERM handler (sys.exit), which would outlive the map: a
    # handler of the caller's (the CLI's, `mulde.cli.Terminated`: its message, exit 143 and
    # the clean-up of an interrupt, which ends with `ray.shutdown`) is put back
    previous = signal.getsignal(signal.SIGTERM)
    try:
        # Ray's own lines (INFO "Started a local Ray instance", its token warning) left to
        # its log files: the driver's "ray" logger says errors alone
        if address:
            ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
        else:
            cpus = options.workers * options.cpus_per_worker if options.workers else None
            with _worker_niceness("0"):
                ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False,
                         logging_level=logging.ERROR)
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise EngineError(f"cannot start or reach Ray at {address or 'a local node'}: {err}"
                          ) from err
    finally:
        if callable(previous) and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, previous)
    return ray, True


RAY_CONNECT_TIMEOUT_S = 5.0
"""How long `_check_reachable` waits for a Ray head's port to answer."""


def _check_reachable(address: str) -> None:
    """Raise EngineError when nothing answers at a Ray address's host and port ("host:port"
    or "ray://host:port"; "auto" and "local" are Ray's to resolve): Ray itself retries an
    unreachable head for minutes, printing only its own log lines (a newcomer's wrong
    --address ran 6 min 40 s before being killed)."""
    import socket

    bare = address.split("://", 1)[1] if "://" in address else address
    host, sep, port = bare.rpartition(":")
    if not sep or not port.isdigit() or address in ("auto", "local"):
        return
    try:
        socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)),
                                 timeout=RAY_CONNECT_TIMEOUT_S).close()
    except OSError as err:
        raise EngineError(f"cannot reach Ray at {address}: nothing answers there "
                          f"({err.strerror or err}); start the head node (ray start --head) "
                          "and give the address it prints, or leave out --address to start a "
                          "local Ray") from None


@contextlib.contextmanager
def _worker_niceness(value: str) -> Iterator[None]:
    """Start a local Ray whose workers run at `value` niceness unless the user's environment
    sets RAY_worker_niceness. Ray's default (15) makes the workers, which do the whole
    extraction, yield the CPU to every other process, the idle driver's included (issue 14,
    round 5: a timed run on 2 workers had to be reniced by hand). The environment is restored
    once the node is up (its raylet has read it)."""
    name = "RAY_worker_niceness"
    if name in os.environ:
        yield
        return
    os.environ[name] = value
    try:
        yield
    finally:
        os.environ.pop(name, None)


RAY_NOISE = (b"has constructor arguments in the object store and max_restarts > 0",)
"""Lines Ray's C++ core worker writes to the driver's stderr (past Python's logging) that ask
nothing of a user: Ray Data hands every actor its function and settings as objects in the
object store, and the actors here restart (`max_restarts`) so that a video whose worker died
is retried, which Ray flags on each actor's creation (ray-project/ray#53727: a restart would
fail if those objects were lost; the driver holds them for the whole map). Passing our own
arguments otherwise cannot avoid it, and no restarts would mean no retries."""


class _RayDataNotices(logging.Filter):
    """Passes Ray Data's console records of level WARNING and above (a cluster without the
    resources asked for "may hang forever") but its notice that its progress bars are off:
    they are, as ours counts the videos."""

    def filter(self, record: logging.LogRecord) -> bool:
        return (record.levelno >= logging.WARNING
                and not str(record.msg).startswith("Progress bars disabled"))


@contextlib.contextmanager
def _ray_quiet() -> Iterator[Any]:
    """While the map runs: Ray Data's console says its warnings and errors alone (not its
    INFO lines on the execution plan and its end; its log file, ray-data.log, keeps them),
    and the `RAY_NOISE` lines are taken out of file descriptor 2 (`_stderr_without`). Yields
    the stream for the progress bar."""
    console = [h for h in logging.getLogger("ray.data").handlers
               if isinstance(h, logging.StreamHandler)]
    quiet = _RayDataNotices()
    for handler in console:
        handler.addFilter(quiet)
    try:
        with _stderr_without(RAY_NOISE) as stream:
            yield stream
    finally:
        for handler in console:
            handler.removeFilter(quiet)


@contextlib.contextmanager
def _stderr_without(noise: Sequence[bytes]) -> Iterator[Any]:
    """Route file descriptor 2 through a pipe whose lines a thread copies back to it, but
    those holding one of `noise`; yield a stream straight onto the real descriptor 2 for
    what must not wait for a line's end (the progress bar's updates): `sys.stderr` itself
    where it is not descriptor 2 (a notebook, a capture), so nothing changes there. Where
    descriptor 2 cannot be duplicated, nothing is filtered."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield sys.stderr
        return
    try:
        on_fd2 = sys.stderr.fileno() == 2
    except (OSError, ValueError, AttributeError):  # a stream without a descriptor
        on_fd2 = False
    stream = (open(os.dup(saved), "w", buffering=1, encoding=sys.stderr.encoding,
                   errors="replace") if on_fd2 else sys.stderr)
    read, write = os.pipe()
    copier = threading.Thread(target=_copy_lines, args=(read, saved, noise),
                              name="mulde-stderr", daemon=True)
    copier.start()
    os.dup2(write, 2)
    os.close(write)
    try:
        yield stream
    finally:
        try:
            stream.flush()
            if on_fd2:  # our own (sys.stderr may have been swapped meanwhile: not that)
                stream.close()
            sys.stderr.flush()
        finally:  # descriptor 2 itself again whatever a flush raises (a second Ctrl-C)
            os.dup2(saved, 2)  # the pipe's last writer gone: the copier reads to its end
            copier.join(timeout=STDERR_DRAIN_S)
            if not copier.is_alive():
                os.close(saved)


def _copy_lines(read: int, out: int, noise: Sequence[bytes]) -> None:
    """Copy the lines of the pipe `read` to the descriptor `out`, but those holding one of
    `noise`, until the pipe's end. A line that `out` refuses (a reader gone, a full
    non-blocking terminal) is dropped and the copying goes on: a pipe left unread would
    block its writers once full, and a closed one fail them (this process's own messages:
    a BrokenPipeError that `mulde` takes for a reader that left)."""
    with open(read, "rb") as pipe:
        for line in pipe:
            if any(n in line for n in noise):
                continue
            with contextlib.suppress(OSError):
                while line:  # a write cut short by a signal returns what it wrote
                    line = line[os.write(out, line):]


STDERR_DRAIN_S = 5.0
"""How long `_stderr_without` waits for its copier to pass on the pipe's last lines."""


def extract_with_ray(dataset: str, jobs: Sequence[tuple[str, Video, Extractor]],
                     cache: FeatureCache, options: RayOptions | None = None,
                     progress: bool | None = True, label: str | None = None) -> list[Outcome]:
    """Extract the (split, video, fitted extractor) jobs on Ray; return one `Outcome` per job,
    in the jobs' order. `dataset` is the cache's name for the dataset's entries
    (`Dataset.cache_name`); `label` the name the progress bar shows (default `dataset`).

    Entries already in `cache` are loaded, not recomputed; a video this run already found
    unreadable (`mulde.video.unreadable`) is reported as a worker would, not sent to one; the
    others are extracted by the actors, written into `cache` and read back from it. A
    progress bar counts videos and shows the frames/s of all workers together (frames
    extracted / wall seconds since the map began); `progress` None draws it on a terminal
    alone (`mulde.pipeline.extract_features`' default). Raises EngineError when Ray is missing or
    unreachable, or the map fails for a reason other than a video (e.g. the cache folder is
    not visible on a node).
    """
    from tqdm.auto import tqdm

    options = options or RayOptions()
    jobs = list(jobs)
    outcomes: list[Outcome | None] = []
    missing: list[int] = []
    for i, (split, video, extractor) in enumerate(jobs):
        vf = cache.load(dataset, split, video, extractor)
        known = None if vf is not None else cache.failure(dataset, split, video, extractor)
        if known is not None:  # undecodable on an earlier run, and the file is unchanged
            outcomes.append(Outcome(split, video, None, error=known + KNOWN_FAILURE))
            continue
        failed = None if vf is not None else unreadable.known(video.path)
        if failed is not None:  # found unreadable by this run (the scene background): as a
            error = str(failed)  # worker would have found it, without sending it to one
            cache.store_failure(dataset, split, video, extractor, error)
            outcomes.append(Outcome(split, video, None, error=error))
            continue
        outcomes.append(None if vf is None else Outcome(split, video, vf, cached=True))
        if vf is None:
            missing.append(i)
    if missing:
        results = _map(dataset, jobs, missing, cache, options, progress, tqdm,
                       label or dataset)
        for i in missing:
            split, video, extractor = jobs[i]
            if i not in results:
                outcomes[i] = Outcome(split, video, None, error=(
                    f"its worker process died {options.max_retries + 1} time(s) while "
                    "extracting it (a crash or out of memory; see the Ray logs)"))
                continue
            n_frames, seconds, error, stages = results[i]
            if error:
                outcomes[i] = Outcome(split, video, None, error=error)
                continue
            vf = cache.load(dataset, split, video, extractor)
            if vf is None:
                outcomes[i] = Outcome(split, video, None, error=(
                    f"its worker wrote no readable cache entry under {cache.root} (is the "
                    "cache on a filesystem every node shares?)"))
                continue
            outcomes[i] = Outcome(split, video, vf, n_frames=n_frames, seconds=seconds,
                                  stage_seconds=stages)
    return [o for o in outcomes if o is not None]


def _map(dataset: str, jobs: list, missing: list[int], cache: FeatureCache,
         options: RayOptions, progress: bool | None, tqdm: Callable,
         label: str) -> dict[int, tuple]:
    """Run the missing jobs on Ray; return {job index: (n_frames, seconds, error, seconds per
    stage)} for every video whose worker answered; the progress bar is named `label`."""
    ray, started = _connect(options)
    from ray.data import DataContext

    ctx = DataContext.get_current()
    saved = (ctx.max_errored_blocks, ctx.enable_progress_bars)
    ctx.max_errored_blocks = -1  # a video whose worker died on every try is dropped, not fatal
    ctx.enable_progress_bars = False  # ours below counts videos and frames/s
    try:
        workers = options.workers or max(
            1, int(ray.cluster_resources().get("CPU", 1) // options.cpus_per_worker))
        workers = min(workers, len(missing))
        rows = ray.data.from_items([{"index": i} for i in missing],
                                   override_num_blocks=len(missing))
        threads = max(1, int(options.cpus_per_worker))
        with warnings.catch_warnings():  # Ray Data has no named parameter for the retries
            # yet and warns on the remote-args form; pyproject pins ray below 2.64, which
            # removes it
            warnings.filterwarnings("ignore", "`ray_remote_args` is deprecated")
            mapped = rows.map_batches(
                _ExtractWorker, batch_size=1,
                # one video at a time per actor: a video that kills its worker costs retries
                # to itself only, not to videos queued behind it, and no video waits behind
                # a long one while another worker is free
                compute=ray.data.ActorPoolStrategy(size=workers,
                                                   max_tasks_in_flight_per_actor=1),
                num_cpus=options.cpus_per_worker, num_gpus=options.gpus_per_worker or None,
                fn_constructor_kwargs={"dataset": dataset, "jobs": jobs,
                                       "cache_root": str(Path(cache.root).resolve()),
                                       "threads": threads},
                max_restarts=-1, max_task_retries=options.max_retries)
        results: dict[int, tuple] = {}
        frames, start = 0, time.perf_counter()
        # the iterator closed on the way out, whatever ends the loop (Ctrl-C, a fatal row),
        # while Ray still runs: it stops the dataset's executor (`_release_frames` for the
        # objects of an iterator that an interrupt ended from within)
        with _ray_quiet() as console, \
                contextlib.closing(iter(mapped.iter_rows())) as produced:
            plural = "s" * (workers != 1)
            bar = tqdm(total=len(missing), disable=None if progress is None else not progress,
                       unit="video", desc=f"features {label} (ray, {workers} worker{plural})",
                       file=console)
            try:
                for row in produced:
                    results[int(row["index"])] = (int(row["n_frames"]), float(row["seconds"]),
                                                  str(row["error"]), json.loads(row["stages"]))
                    frames += int(row["n_frames"])
                    bar.update(1)
                    bar.set_postfix_str(
                        f"{frames / max(time.perf_counter() - start, 1e-9):.0f} frames/s")
                    if row["fatal"]:
                        raise EngineError(f"extraction failed on {row['fatal']}")
            except EngineError:
                raise
            except Exception as err:  # Ray wraps a failed actor start, an unreachable node...
                raise EngineError(f"the Ray map failed: {err}") from err
            finally:
                bar.close()
        return results
    except BaseException as err:
        if started:  # before the shutdown below
            _release_frames(err)
        raise
    finally:
        ctx.max_errored_blocks, ctx.enable_progress_bars = saved
        if started:
            ray.shutdown()


def _release_frames(err: BaseException | None) -> None:
    """Clear the local variables of the frames that `err`'s traceback holds, and those of
    the exceptions it was raised from or during, so that the Ray Data objects only they
    still reference (a dataset's executor and the iterator that stops it when collected)
    are collected now, while the Ray this run started still runs. Kept until the exception
    is dropped, after the run's exit message and past `ray.shutdown`, they call into a Ray
    that is down: Ray starts a new local instance and prints 'Ray is not initialized' and
    an ignored ValueError from `_ClosingIterator.__del__` (a newcomer's Ctrl-C while the
    map was starting). The tracebacks themselves are kept: only their locals go."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        traceback.clear_frames(err.__traceback__)
        err = err.__cause__ or err.__context__
