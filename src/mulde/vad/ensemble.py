"""The method on video: one density model per feature stream, fused (AI-VAD's "combined density
estimator", the shape MULDE's object-centric results follow; docs/method.md, "Video protocol").

Fitting, per stream: stack the training videos' objects, fit the stream's model (MULDE, kNN
or GMM; `mulde.vad.stream_models`), score the training objects (kNN leave-one-video-out),
turn them into training frame scores (max per frame; a frame without objects gets the
stream's minimum training object score, i.e. as normal as the most normal training object),
and fit the stream's `Calibration` on those frame scores (min -> 0, 99.9th percentile -> 1).
Scoring a video: per stream, object scores -> frame scores (same rule) -> calibrated; the
fused frame score is the sum over streams (`fuse`), streams in name order. The top-scoring
object of each frame (over all streams, by calibrated score) is kept for the report.

Two options change which training scores the calibration sees (the defaults are the
pipeline's protocol above): `calibrate_on="objects"` fits it on the training *object* scores
instead of the frame scores (what AI-VAD's reference code does, score_calibration.py), and
`calibration_folds=k` makes those training scores out-of-fold: training video i (in the
order given) is in fold i mod k and is scored by a model fitted on the other folds' videos,
while new videos are still scored by the model fitted on all of them (a model that
memorises its training objects, as MULDE can on high-dimensional streams, would otherwise
put the 99.9th percentile too low; AI-VAD scores kNN leave-one-video-out for that reason).
Each refit trains the settings MULDE resolves from the whole stream's rows (n_members, lr,
hidden_sizes and validation_fraction "auto", and max_samples with round 43's pair:
`mulde.vad.stream_models.settle_auto`), so it
calibrates the model it stands for.
The empty-frame fill is always the minimum of the training object scores the calibration sees.

Training data larger than memory (`max_train_objects`): a stream with more training objects
than that is fitted on a uniform random subsample of them, drawn without replacement with
`numpy.random.default_rng([seed, k])` (k: the stream's 0-based place among the training
features' streams), so the same seed draws the same objects. Only the subsample is ever
stacked: the fit holds max_train_objects x d float64 values whatever the training size, plus
one video's objects at a time while the training frames are scored for calibration (every
training object is scored, not only the subsample: per video, kNN against the subsample of the
other videos). Per model: MULDE sees at most max_steps x batch_size samples in training anyway
(the default preset: 2,000 x 1,024), so a subsample of that size changes little; GMM's few
components (5) need far fewer objects than that; kNN's reference set is the subsample, so its
distances grow (a sparser reference) and are an approximation of the full-data kNN, consistent
between training and test. Default None: every object, the published protocol.

Parallel fitting (`n_jobs` > 1): the fits are independent, one per stream plus one per
out-of-fold calibration fold (4 streams x (1 + 4 folds) = 20 on `mulde run`'s Ped2 detector
preset), so they run in `n_jobs` worker processes (from a fork server on Linux, spawned
elsewhere; never forked from the parent, which holds PyTorch's threads: `_start_method`),
each with one PyTorch and one BLAS thread. Each fit seeds itself as in
this process (MULDE from its random_state), so the models and scores are the serial path's
up to the float rounding that a different thread count gives (equal when the serial path
also runs one thread). This holds every stream's training matrix at once (the serial path
one stream's) plus a pickled copy per busy worker. Fits start by features, then rows,
largest first. A model factory that cannot be pickled (a lambda) makes the whole fit
serial. With `max_train_objects` the subsample is fitted in a worker like any other fit;
the calibration scoring stays in this process. Scripts that fit with n_jobs > 1 need the
usual `if __name__ == "__main__":` guard (the workers import the main module).

Reduced streams (`pca`, stream -> k): that stream's model is fitted on the first k principal
components of its rows (`mulde.vad.stream_models.PCAStream`), the PCA fitted inside each fit
on that fit's rows alone: the model on all training objects, every out-of-fold refit on its
own training folds (issue 14, round 6: the 1,280-d appearance stream's fits dominated the
training time). The cached features are unchanged.

Sidak streams (`sidak`): a frame's score in that stream is not the maximum over its objects
but the Sidak-corrected maximum against the stream's training object scores (the ones the
calibration uses, out-of-fold with `calibration_folds`; `mulde.vad.fusion.sidak_frames`), so
that a frame with many objects is not more anomalous for that alone (issue 14, round 7: the
pose stream's maximum rose with the number of people in the frame). For the top-scoring
object, its objects are ranked on that scale too (`mulde.vad.fusion.sidak_objects`: the
frame's top object's calibrated score is the stream's calibrated frame score).
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property, partial
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
from tqdm.auto import tqdm

from mulde.vad.fit_cache import FitCache, data_digest, job_key
from mulde.vad.fit_warnings import FitWarning
from mulde.vad.fusion import (
    SPIKE_RATIO,
    Calibration,
    CalibrationSpikeWarning,
    calibration_spikes,
    fuse,
    objects_to_frames,
    sidak_objects,
    spike_reference,
)
from mulde.vad.stream_files import stream_spec
from mulde.vad.stream_models import StreamModel, WithPCA, make_stream_model, settle_auto
from mulde.video.features.records import ObjectFeatures, Stream, VideoFeatures

StreamModelSpec = str | Callable[[], StreamModel]
"""A stream model by name ('mulde', 'knn', 'gmm': `make_stream_model`) or a factory that
returns a fresh, unfitted `StreamModel` (a class such as `KNNStream`, or a lambda)."""


@dataclass
class TopObjects:
    """Per frame of one test video: the calibrated score, stream and box (x0, y0, x1, y1) of
    its highest-scoring object over all streams (box NaN when the stream has no boxes)."""

    score: np.ndarray
    stream: list[str]
    box: np.ndarray

    @classmethod
    def empty(cls, n_frames: int) -> TopObjects:
        return cls(np.full(n_frames, -np.inf), [""] * n_frames, np.full((n_frames, 4), np.nan))

    def update(self, stream: str, scores: np.ndarray, frame_index: np.ndarray,
               boxes: np.ndarray | None) -> None:
        """Take the stream's objects (calibrated scores) where they beat the current best
        (strictly: on a tie the stream seen first keeps the frame)."""
        order = np.lexsort((scores, frame_index))  # by frame, then score: last one is best
        last = np.r_[frame_index[order][1:] != frame_index[order][:-1], True]
        best = order[last]
        frames = frame_index[best]
        better = scores[best] > self.score[frames]
        for obj, t in zip(best[better], frames[better], strict=True):
            self.score[t] = scores[obj]
            self.stream[t] = stream
            self.box[t] = np.nan if boxes is None else boxes[obj]


@dataclass
class VideoScores:
    """The scores of one video: `fused` (n_frames,) float64, the sum of the calibrated
    streams; `streams` each stream's calibrated frame scores (n_frames,); `top` the
    top-scoring object of each frame."""

    fused: np.ndarray
    streams: dict[Stream, np.ndarray]
    top: TopObjects


@dataclass
class FitJob:
    """One model fit of one stream: a fresh `make()` fitted on the objects X (n, d) float64
    with their training videos `groups` (n,) int: all of them (`fold` None), or, for the
    out-of-fold calibration over `folds` folds, those outside fold `fold` (video id mod
    folds), whose own objects are then scored. A refit's row-resolved settings are those of
    the fit on all of X (`mulde.vad.stream_models.settle_auto`). `own_scores`: the fit on
    all of X also returns its model's scores of the training objects (`train_scores`), which
    calibrate the stream when there are no calibration folds. `stream`: the stream whose
    own columns X holds (None for principal components), which a constant-feature warning
    names (`feature_label`)."""

    make: Callable[[], StreamModel]
    X: np.ndarray
    groups: np.ndarray
    folds: int | None
    fold: int | None
    own_scores: bool = False  # the fit on all of X keeps its model's training scores
    data: str | None = None  # `data_digest(X, groups)` when known (shared by a stream's fits)
    stream: str | None = None  # the stream fitted, which names its columns in a warning

    @cached_property
    def cache_key(self) -> str | None:
        """The key of this fit in a fit cache (`mulde.vad.fit_cache.job_key`), computed once
        (hashing X unless `data` is given); None for a model the trained pipeline cannot
        save."""
        spec = stream_spec(self.make())
        if spec is None:
            return None
        return job_key(spec, self.data or data_digest(self.X, self.groups), self.folds,
                       self.fold)

    @property
    def needs_scores(self) -> bool:
        """Whether the fit must give back scores: a refit its held-out objects', the fit on
        all of X with `own_scores` its training objects' (a stored fit without them is
        fitted again)."""
        return self.own_scores or self.fold is not None

    @property
    def rows(self) -> int:
        """How many objects the fit sees."""
        if self.fold is None or self.folds is None:
            return len(self.X)
        return int(np.count_nonzero(self.groups % self.folds != self.fold))


@dataclass
class FitResult:
    """What a `FitJob` left: the fitted model (fold None; with `own_scores`, `scores` its
    training objects' scores (n,)) or the held-out fold's scores (m,), the fit's seconds,
    and the `UserWarning`s the fit raised, each with its class (`FitWarning`: given back to
    the main process, which names the stream, `StreamEnsemble._assemble`, and raises them
    with their own class, whether the fit ran here, in a worker or is read back)."""

    model: StreamModel | None
    scores: np.ndarray | None
    seconds: float
    warnings: tuple[FitWarning, ...] = ()


class FitWorkerError(RuntimeError):
    """A worker process of `StreamEnsemble(n_jobs > 1)` ended while the stream models were
    fitted. Ended from outside (`started` True: a signal, most often the system's
    out-of-memory killer's, each worker holding a copy of the stream it fits; which fit it
    ran is not known, every pending fit failing with it), or exited with an error of its
    own (`started` False: a positive exit code, its error printed above; most often as it
    started, importing a script that fits at its top level without the `if __name__ ==
    "__main__":` guard, and so starting workers of its own: `_failed_as_started`). Says
    how many fits had finished (kept in the fit cache when there is one, so that a rerun
    resumes from them) and what to do."""

    def __init__(self, finished: int, total: int, cached: bool, n_jobs: int,
                 started: bool = True) -> None:
        self.finished, self.total, self.cached, self.n_jobs = finished, total, cached, n_jobs
        self.started = started
        kept = " and are kept in the fit cache: a rerun resumes from them" if cached else ""
        done = f"{finished} of {total} fits had finished{kept}"
        if not started:
            super().__init__(
                "a worker process exited with an error of its own (printed above) while the "
                f"stream models were fitted; {done}; most often the script that fits with "
                "n_jobs > 1 does so at its top level: each worker imports the script, so "
                'put its code under `if __name__ == "__main__":`, or fit with n_jobs=1')
            return
        super().__init__(
            f"a worker process ended while the stream models were fitted ({n_jobs} workers "
            "at once, each with a copy of the training objects of the stream it fits): "
            f"ended from outside, most often by the system for want of memory; {done}; "
            "fit fewer at a time (n_jobs; `--fit-jobs 1` on the command line fits one after "
            "another in this process)")


def _failed_as_started(processes: Sequence[multiprocessing.process.BaseProcess]) -> bool:
    """Whether a pool's ended worker exited with an error of its own (a positive exit code:
    an exception, as a worker importing an unguarded script raises) and none was killed
    (exit code -SIGKILL: the out-of-memory killer's signal). The pool ends the other workers
    with SIGTERM once one has failed, so their -SIGTERM says nothing. Each is waited for up
    to a second, as the pool ends them."""
    codes = []
    for process in processes:
        process.join(1)
        codes.append(process.exitcode)
    return any(c is not None and c > 0 for c in codes) and -signal.SIGKILL not in codes


def run_fit_job(job: FitJob) -> FitResult:
    """Run one `FitJob` (in this process or a worker's)."""
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        if job.fold is None or job.folds is None:
            model = job.make().fit(job.X, job.groups)
            scores = model.train_scores() if job.own_scores else None
        else:
            held = job.groups % job.folds == job.fold
            model = None
            refit = settle_auto(job.make(), job.X)  # the deployed model's settings
            with _renumbered(np.flatnonzero(~held)):
                refit.fit(job.X[~held], job.groups[~held])
            with _renumbered(np.flatnonzero(held)):
                scores = refit.score(job.X[held])
    for w in caught:  # other warnings are shown as usual
        if not issubclass(w.category, UserWarning):
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    said = tuple(dict.fromkeys(FitWarning.of(_for_a_stream(w.message, job.stream), w.category)
                               for w in caught if issubclass(w.category, UserWarning)
                               and not (job.fold is not None and _full_fit_only(w.message))))
    return FitResult(model, scores, time.perf_counter() - t0, said)


def _full_fit_only(message: Warning | str) -> bool:
    """Whether a fit's warning is MULDE's `ConstantFeaturesWarning` or `FewSamplesWarning`,
    which count the training rows' features or rows. A calibration refit sees a part of the
    training videos only, where more features can look constant, and fewer objects are, than
    over all of them: its count would contradict the saved model's (a run showed "4 of its 7"
    and "5 of its 7" for one stream), so `run_fit_job` keeps these warnings of the full fit
    alone."""
    if not isinstance(message, Warning):
        return False
    from mulde.estimator.model import (  # torch: only once a fit warned
        ConstantFeaturesWarning,
        FewSamplesWarning,
    )

    return isinstance(message, ConstantFeaturesWarning | FewSamplesWarning)


def _for_a_stream(message: Warning | str, stream: str | None = None) -> str:
    """A fit's warning as the run shows it after "<stream> stream: " (`StreamEnsemble.
    _assemble`): constant features in the words of a video's objects, the first named by what
    it holds where the stream's columns are known (`feature_label`), others as they are."""
    from mulde.estimator.model import (  # torch: only once a fit warned
        ConstantFeaturesWarning,
        FewSamplesWarning,
    )

    if isinstance(message, FewSamplesWarning):
        return (f"only {message.n} training object{'s' if message.n != 1 else ''}, fewer "
                f"than {message.minimum}: its model is fitted without validation and says "
                "little about new objects; train on more normal video")
    if not isinstance(message, ConstantFeaturesWarning):
        return str(message)
    from mulde.video.features.records import feature_label

    m, one = message, message.n_constant == 1
    label = None if stream is None else feature_label(stream, m.first, m.n_features)
    return (f"{m.n_constant} of its {m.n_features} feature values {'is' if one else 'are'} the "
            f"same for every training object ({'' if one else 'the first is '}feature {m.first}"
            f", counting from 0{f': {label}' if label else ''}), so a test object whose value "
            "there differs scores as more unusual. Expected when the normal video "
            "never varies there (e.g. a direction nobody moves in); if normal activity varies "
            "in ways the training video does not show, train on more of it")


def _out_of_range(err: Exception) -> bool:
    """Whether `err` is MULDE's refusal of rows too far out (`OutOfRangeRowsError`)."""
    from mulde.estimator.model import OutOfRangeRowsError  # torch: only once a fit refused

    return isinstance(err, OutOfRangeRowsError)


@contextmanager
def _renumbered(rows: np.ndarray) -> Iterator[None]:
    """Within the block, whose model sees the rows `rows` of a stream's training objects (a
    calibration refit's folds), an `OutOfRangeRowsError` counts its rows among all of them."""
    try:
        yield
    except ValueError as err:
        if not _out_of_range(err):
            raise
        err.rows = rows[err.rows]  # type: ignore[attr-defined]
        raise


@contextmanager
def _objects_named(stream: Stream, videos: Sequence[str],
                   groups: np.ndarray | None = None) -> Iterator[None]:
    """Within the block, an `OutOfRangeRowsError` of a stream model is said of the stream and
    the video(s) whose objects it refused: `videos`, each as a message names it ("training
    video v01"); `groups`, the video (index into `videos`) of each row the refusal counts,
    None where they all are `videos[0]`'s. Those rows, counted in a matrix the user never
    sees, are left out."""
    try:
        yield
    except ValueError as err:
        if not _out_of_range(err):
            raise
        raise _said_of_objects(err, stream, videos, groups) from err


def _said_of_objects(err: Any, stream: Stream, videos: Sequence[str],
                     groups: np.ndarray | None) -> ValueError:
    """`OutOfRangeRowsError` `err` said of its stream and videos (`_objects_named`): how many
    objects of the first video it refused, and how many of how many other videos besides."""
    rows = np.asarray(err.rows, dtype=np.int64)
    if not rows.size:  # no rows to place: the stream and the first video, then its words
        return err.said_of(f"{stream.value} stream, {videos[0]}")
    owner = np.zeros(len(rows), np.int64) if groups is None else np.asarray(groups)[rows]
    first = int(owner[0])
    n_first = int(np.count_nonzero(owner == first))
    others = len(set(owner.tolist())) - 1
    besides = (f" (and {len(rows) - n_first} of {others} other video{'s' * (others > 1)})"
               if others else "")
    return type(err)(
        f"{stream.value} stream: {n_first} object(s) of {videos[first]}{besides} "
        f"{err.reason}; such values mean damaged features, or a feature that barely varies "
        "over the training objects it is scaled by: check that video's features, or leave "
        "the video out", rows, err.reason, err.column, err.value)


def said_as(train: Mapping[str, VideoFeatures]) -> list[str]:
    """The training videos in a refusal's words, in order: "training video v01", ..."""
    return [f"training video {name}" for name in train]


def refuse_nonfinite(stream: Stream, video: str, X: np.ndarray) -> None:
    """ValueError, said of the stream and the video (as a message names it: "training video
    v01", "video new"), where its objects' features X (n, d) hold NaN or inf; nothing where
    every value is finite. The model's own refusal would count rows of a matrix the user
    never sees."""
    bad = int(np.count_nonzero(~np.isfinite(X).all(axis=1)))
    if bad:
        raise ValueError(
            f"{stream.value} stream: {bad} object(s) of {video} hold NaN or inf features, "
            "which an extractor does not give: the features are damaged; delete that "
            "video's entries in the feature cache to extract it again, or leave the video out")


_LIMITS: list[Any] = []  # a worker's BLAS thread limit, kept alive for its lifetime


def _end_with_parent() -> None:
    """End this worker process as soon as the process whose pool started it ends, also by
    SIGKILL, which runs no clean-up (without it a `mulde run` killed with kill -9 left its
    fit workers running their fits to the end). A daemon thread waits on the pipe that
    process holds open for its child (`multiprocessing.parent_process().join()`; it reads
    end-of-file when the process ends, however it ends), then exits at once. The kernel's
    parent-death signal (Linux's prctl PR_SET_PDEATHSIG) cannot serve: a fork server's
    worker is the server's child, and the server lives while any of its workers does."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()
        os._exit(1)

    threading.Thread(target=watch, name="mulde-end-with-parent", daemon=True).start()


def _one_thread(safe_path: str | None = None) -> None:
    """Worker initialiser: one PyTorch and one BLAS/OpenMP thread, so that n_jobs workers
    use n_jobs cores; the worker ends with the process that started it (`_end_with_parent`)
    and ignores Ctrl-C (SIGINT), which a terminal sends to the whole process group: the
    process that started it ends it then (`_workers`), so no worker prints a traceback of
    its own or leaves the pool waiting for it. The worker was started with SIGINT blocked
    (`_sigint_blocked`), so a Ctrl-C during its start-up waits here, and is dropped.
    `safe_path`: the PYTHONSAFEPATH of the process that started it, given back to the
    worker (a fork server's workers have the one `_working_folder_off_the_path` set)."""
    _set_safe_path(safe_path)
    _end_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    # tqdm's default lock is a multiprocessing one, a named semaphore a worker ended by
    # `_workers` could not give back (a "leaked semaphore" warning at exit); a worker's own
    # lock is as good, since no other process shares it
    tqdm.set_lock(threading.RLock())
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    _LIMITS.append(threadpool_limits(1))


@contextmanager
def _sigint_blocked() -> Iterator[None]:
    """SIGINT held back in this thread while inside (POSIX; elsewhere nothing), so that the
    worker processes a pool starts meanwhile (and the fork server, whose forks inherit its
    mask) inherit it blocked until `_one_thread` ignores it: a Ctrl-C in the second a
    spawned interpreter takes to import had printed its traceback. A Ctrl-C meanwhile
    reaches this process on leaving."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


# how often the main thread wakes while it waits for worker processes (`_completed`)
SIGNAL_POLL_S = 0.5


def _completed(futures: Collection[Future]) -> Iterator[Future]:
    """The futures, each as it finishes (those finishing together in the order given), as
    `concurrent.futures.as_completed` gives them, but waking every `SIGNAL_POLL_S` seconds:
    Python runs a signal's handler in the main thread only, and a signal the kernel hands to
    another thread of the process (a progress bar's or PyTorch's; the pool's own threads,
    started in `_sigint_blocked`, take a SIGTERM) does not end the main thread's blocking
    wait, so a Ctrl-C or SIGTERM had waited for the next fit to finish, minutes later (a
    test's parent, whose pool threads took SIGINT too, once waited without end)."""
    order = {future: k for k, future in enumerate(futures)}
    pending = set(order)
    while pending:
        done, pending = wait(pending, timeout=SIGNAL_POLL_S, return_when=FIRST_COMPLETED)
        yield from sorted(done, key=order.__getitem__)


def _start_method() -> multiprocessing.context.BaseContext:
    """How the fit workers start: from a fork server on Linux (Python 3.11 and later, which
    can keep the working folder off its sys.path: `_working_folder_off_the_path`), else
    spawned (macOS, Windows; on macOS a process forked after the system's libraries loaded
    can crash, Python's reason to spawn there by default, bpo-33725, and the server loads
    them with PyTorch). Never forked from this process, whose PyTorch may hold threads (a
    child forked mid-parallel-region can hang). The server is a fresh interpreter that
    imports this module (PyTorch, scikit-learn) once and forks each worker from itself
    before any thread of theirs runs, so a worker starts in about 0.1 s instead of the
    about 7 s a spawned interpreter takes to import them (2-core AMD EPYC; `python -X
    importtime -c "import mulde.vad.ensemble"`); the first pool waits for the server
    (`_server_ready`). Each worker still receives this process's current sys.path, working
    folder and main module, as a spawned one does; the environment variables, and the code
    of the modules the server imported, are those of when it started (on the first pool of
    this process). The server's sys.path is its own (PYTHONPATH, site-packages): a script
    that found mulde by a sys.path.insert of its own, beside another mulde installed,
    fits with the installed one's code."""
    if not (sys.platform.startswith("linux") and sys.version_info >= (3, 11)
            and "forkserver" in multiprocessing.get_all_start_methods()):
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])  # taken when the server starts, once
    return context


SAFE_PATH = "PYTHONSAFEPATH"
"""Python 3.11's variable that keeps the script's or working folder off sys.path."""


@contextmanager
def _working_folder_off_the_path() -> Iterator[None]:
    """PYTHONSAFEPATH set while inside, for the fork server started meanwhile: its `python
    -c` puts the working folder first on its sys.path, before the standard library, and it
    imports PyTorch and scikit-learn from there (Python 3.10-3.13 ignore the sys.path
    multiprocessing hands it), so a csv.py, random.py or tqdm.py in the folder `mulde run`
    was started in had ended the server at the fits (its traceback, then the pool's
    EOFError). A spawned worker takes this process's sys.path before it imports; a fork
    server's worker too, and gets this process's PYTHONSAFEPATH back (`_one_thread`)."""
    before = os.environ.get(SAFE_PATH)
    _set_safe_path("1")
    try:
        yield
    finally:
        _set_safe_path(before)


def _set_safe_path(value: str | None) -> None:
    """PYTHONSAFEPATH set to `value` in this process's environment, or unset where None."""
    if value is None:
        os.environ.pop(SAFE_PATH, None)
    else:
        os.environ[SAFE_PATH] = value


_SERVER_READY: list[bool] = []  # [True] once `_server_ready` has waited for the fork server


def _server_ready(context: multiprocessing.context.BaseContext) -> None:
    """Start the fork server (`_start_method`; spawned workers need none) with SIGINT
    blocked, which it keeps and every worker it forks inherits until `_one_thread` ignores
    it (the server ignores it too once it has imported), then wait for its imports with
    Ctrl-C free: a probe process (like a worker, it imports the main module) is started
    and joined. The first submission, inside `_sigint_blocked`, had waited for them
    instead, so a Ctrl-C at the start of the fits did nothing for the seconds they take
    (8 s on 2 busy cores). A Ctrl-C meanwhile raises KeyboardInterrupt here, before any
    pool exists; the server goes on, and serves the next pool. The probe runs once a
    process: a server that ended meanwhile is started again here all the same, and its
    imports are waited for by the next pool's first submission."""
    if context.get_start_method() != "forkserver":
        return
    from multiprocessing import forkserver, resource_tracker

    # the server's start starts the resource tracker first where none runs, which unblocks
    # SIGINT in this thread (SIG_UNBLOCK, not the mask before): the server had started with
    # it free, and printed the KeyboardInterrupt of a Ctrl-C during its imports
    resource_tracker.ensure_running()
    with _sigint_blocked(), _working_folder_off_the_path():
        forkserver.ensure_running()  # returns at once; the server imports in the background
    if _SERVER_READY:
        return
    probe = context.Process(target=int, name="mulde-fork-server-probe", daemon=True)
    probe.start()  # returns once the server, its imports done, has forked the probe
    probe.join()
    _SERVER_READY.append(True)


def _pool_processes(pool: ProcessPoolExecutor) -> list[multiprocessing.process.BaseProcess]:
    """The worker processes `pool` has started (its private process table, which Python
    3.14's `terminate_workers` reads too; none once it is shut down)."""
    return list((getattr(pool, "_processes", None) or {}).values())


@contextmanager
def _workers(n: int) -> Iterator[ProcessPoolExecutor]:
    """A pool of max(1, n) worker processes (`_start_method`, `_one_thread`), shut down on
    leaving. Left by an exception (KeyboardInterrupt included), the workers are ended at
    once and the fits not started are cancelled: a plain shutdown would wait for the running
    fits to finish, and a worker ended by Ctrl-C while idle had left Python 3.11's pool
    waiting for it with no end."""
    context = _start_method()
    _server_ready(context)
    pool = ProcessPoolExecutor(max(1, n), mp_context=context, initializer=_one_thread,
                               initargs=(os.environ.get(SAFE_PATH),))
    try:
        yield pool
    except BaseException:
        # the pool's process table, as Python 3.14's `terminate_workers` ends them
        for process in _pool_processes(pool):
            process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _picklable(make: Callable[[], StreamModel]) -> bool:
    """Whether a model factory can be sent to a worker process (a lambda cannot)."""
    try:
        pickle.dumps(make)
    except (pickle.PicklingError, AttributeError, TypeError):
        return False
    return True


@dataclass
class StreamFit:
    """What fitting one stream left: the model, the empty-frame fill, the calibration, and
    sizes and seconds for the report."""

    model: StreamModel
    fill: float
    calibration: Calibration
    dim: int
    train_objects: int  # the rows fitted: the frame stream's distinct windows (`_frame_data`)
    fit_s: float
    calibrate_s: float
    test_objects: int = 0
    score_s: float = 0.0
    # the raw (uncalibrated) frame scores of each training video, in the order given, that
    # the calibration rule saw: out-of-fold with `calibration_folds` (what a threshold that
    # must hold on new video is fitted on: `mulde.vad.thresholds`)
    train_frames: list[np.ndarray] = field(default_factory=list, repr=False)
    # a Sidak stream's sorted training object scores (`frame_scores`' reference); None: the
    # frame score is the maximum over the frame's objects
    reference: np.ndarray | None = field(default=None, repr=False)


def _known_streams(option: str, named: Collection[Stream | str]) -> None:
    """Refuse (ValueError naming `option`) a stream name that is not a `Stream`."""
    streams = {m.value for m in Stream}
    for stream in named:
        if str(getattr(stream, "value", stream)) not in streams:
            raise ValueError(f"{option}: unknown stream {stream!r} (streams: "
                             f"{', '.join(sorted(streams))})")


def stack_stream(videos: Mapping[str, VideoFeatures], stream: Stream
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Return (X (n_objects, d) float64, groups (n_objects,) int) of one stream over videos in
    order: the objects of all videos and the 0-based index of each object's video."""
    records = [vf[stream] for vf in videos.values()]
    X = np.concatenate([r.features for r in records]).astype(np.float64)
    groups = np.concatenate([np.full(r.n_objects, i) for i, r in enumerate(records)])
    return X, groups


def distinct_frames(X: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """For each row of a frame stream (n, d) with its videos `groups` (n,), the index of the
    first row of its run of identical rows in the same video (n,), nondecreasing: a
    `FrameCentricExtractor` with stride s gives each frame the nearest embedded window's
    features, so s consecutive rows are one window (so are identical windows at stride 1:
    those of the first and last frames under policy "shift", or of a frozen camera).
    Fitted once each, the copies neither weigh a window s times nor leave a copy of a
    training row among the held-out validation rows (where early stopping would never see
    a new sample)."""
    same = np.zeros(len(X), bool)
    if len(X) > 1:
        same[1:] = (groups[1:] == groups[:-1]) & np.all(X[1:] == X[:-1], axis=1)
    starts = np.flatnonzero(~same)
    return starts[np.cumsum(~same) - 1]


class StreamData(NamedTuple):
    """One stream's training rows as fitted: X (m, d) float64, groups (m,) the 0-based
    training video of each row, `subsampled` (the rows are a `max_train_objects` draw:
    every object is then scored per video), and `objects` (n,) the row of X of each training
    object when the rows are the frame stream's distinct windows (`distinct_frames`), else
    None (row i is object i)."""

    X: np.ndarray
    groups: np.ndarray
    subsampled: bool
    objects: np.ndarray | None = None


def draw_per_video(counts: np.ndarray, m: int, rng: np.random.Generator) -> list[np.ndarray]:
    """min(m, sum(counts)) of the rows of videos holding `counts` rows each, drawn uniformly
    without replacement (in video and row order): per video, the indices of its rows drawn."""
    offsets = np.r_[0, np.cumsum(counts)]
    pick = np.sort(rng.choice(int(offsets[-1]), size=min(m, int(offsets[-1])), replace=False))
    bounds = np.searchsorted(pick, offsets)
    return [pick[bounds[i]:bounds[i + 1]] - offsets[i] for i in range(len(counts))]


def subsample_stream(videos: Mapping[str, VideoFeatures], stream: Stream, m: int,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Return (X (m, d) float64, groups (m,) int) like `stack_stream`, for m objects drawn
    uniformly without replacement (`draw_per_video`), never stacking the rest: the memory is
    m x d float64 values plus the index of the draw. All objects when m >= their number."""
    records = [vf[stream] for vf in videos.values()]
    drawn = draw_per_video(np.array([r.n_objects for r in records]), m, rng)
    bounds = np.r_[0, np.cumsum([len(rows) for rows in drawn])]
    X = np.empty((int(bounds[-1]), records[0].features.shape[1]), np.float64)
    groups = np.empty(int(bounds[-1]), np.int64)
    for i, (r, rows) in enumerate(zip(records, drawn, strict=True)):
        X[bounds[i]:bounds[i + 1]] = r.features[rows]
        groups[bounds[i]:bounds[i + 1]] = i
    return X, groups


def ranked_objects(object_scores: np.ndarray, record: ObjectFeatures,
                   reference: np.ndarray | None = None) -> np.ndarray:
    """Return the (n_objects,) scores a frame's score is the maximum of: the objects' own,
    or with `reference` (the stream's training object scores) their Sidak-corrected scores
    (`mulde.vad.fusion.sidak_objects`, whose per-frame maximum is `sidak_frames`)."""
    if reference is None:
        return object_scores
    return sidak_objects(object_scores, record.frame_index, record.n_frames, reference)


def frame_scores(object_scores: np.ndarray, record: ObjectFeatures, fill: float,
                 reference: np.ndarray | None = None) -> np.ndarray:
    """Return (n_frames,) frame scores of one stream of one video: the max over each frame's
    objects, `fill` for a frame without objects; with `reference` (the stream's training
    object scores), the Sidak-corrected maximum instead (`sidak_frames`; 0 without objects).
    `object_scores` are the objects' own scores, as `ranked_objects` takes them."""
    return _frames(ranked_objects(object_scores, record, reference), record, fill, reference)


def _spike_messages(stream: Stream, videos: list[str], train_frames: list[np.ndarray],
                    calibration: Calibration) -> list[FitWarning]:
    """The fit warning (`CalibrationSpikeWarning`) of a stream whose calibration a few
    training frames set (`calibration_spikes`), naming up to three of them by training
    video and frame; [] when none do."""
    spikes = calibration_spikes(train_frames, calibration)
    if not spikes:
        return []
    reference = spike_reference(np.concatenate(train_frames), calibration.low)
    where = ", ".join(f"{videos[v]} frame {f} ({s:.4g})" for v, f, s in spikes[:3])
    count = f"{min(3, len(spikes))} of {len(spikes)}: " if len(spikes) > 3 else ""
    motion = ("; a frame's motion is measured against the frames around it, so the cause may "
              "be a frame or two away" if stream is Stream.VELOCITY else "")
    return [FitWarning.of(
        f"a few training frames score far above all the others and set its calibration "
        f"(its {calibration.percentile:g}th percentile, {calibration.high:.4g}, lies over "
        f"{SPIKE_RATIO:g}x farther above the minimum, {calibration.low:.4g}, than the 99th "
        f"percentile of the other frames with objects, {reference:.4g}): {count}{where}, "
        f"frames counted from 0{motion}. New frames of this stream will calibrate near 0 "
        "and it adds little to the fused score: look at those frames; an inverted, corrupt "
        "or foreign frame is best trimmed from its video, and normal activity that no "
        "other training video shows needs more training video that shows it",
        CalibrationSpikeWarning)]


def _frames(ranked: np.ndarray, record: ObjectFeatures, fill: float,
            reference: np.ndarray | None) -> np.ndarray:
    """The per-frame maximum of `ranked_objects`' scores; a frame without objects gets
    `fill`, or 0 for a Sidak stream (`sidak_frames`' rule)."""
    empty = fill if reference is None else 0.0
    return objects_to_frames(ranked, record.frame_index, record.n_frames, empty=empty)


def in_fold_order(done: Mapping[int | None, FitResult]) -> list[FitResult]:
    """A stream's finished fits (fold -> result, None the model on all objects) in a fixed
    order: the model on all objects, then the folds in turn, whatever order they finished in
    (worker processes finish as they do). Their warnings are given, and saved in the trained
    pipeline's manifest, in this order, so that its digest does not depend on `n_jobs`."""
    return [done[fold] for fold in sorted(done, key=lambda fold: -1 if fold is None else fold)]


@dataclass
class StreamEnsemble:
    """One density model per stream, calibrated and summed (see the module docstring).

    `detector`: the stream model of every stream (a `StreamModelSpec`: 'mulde', 'knn',
    'gmm' or a factory of `StreamModel`s), or a mapping stream -> spec, which fits exactly
    those streams; `seed` and `mulde_params` go to the models made by name. `calibrate_on`:
    'frames' (default: the training frame scores) or 'objects' (the training object scores,
    as AI-VAD's reference code); `calibration_folds`: None (default: the model's own training
    scores, kNN leave-one-video-out) or k >= 2 for out-of-fold training scores over k folds
    of the training videos. `fit(train)` takes the training videos' `VideoFeatures` (name ->
    features; normal only); `score(videos)` returns a `VideoScores` per video. Raises
    ValueError when there are no training videos, a video lacks a fitted stream, a setting
    is unknown, or there are fewer training videos than calibration folds.
    `max_train_objects`: fit each stream on at most this many training objects, a seeded
    subsample (module docstring; not with `calibration_folds`); None: all.
    `n_jobs`: worker processes for the fits (module docstring, "Parallel fitting"); 1
    (default): every fit in this process, one after another.
    `pca`: stream -> k, streams whose model sees only their first k principal components
    (module docstring, "Reduced streams"); every stream so named must be fitted.
    `sidak`: streams whose frame score is the Sidak-corrected maximum (module docstring,
    "Sidak streams"); every stream so named must be fitted, and only with
    calibrate_on="frames".
    `fit_cache`: a folder of finished fits (`mulde.vad.fit_cache`): each fit found there
    for the same objects and settings is read back instead of run, and each fit run is
    written there, so an interrupted fit resumes; `fits_reused_` counts the fits read back.
    A fit that finishes prunes it of the entries it did not use that no fit used for
    `mulde.vad.fit_cache.UNUSED_DAYS` days (`FitCache.prune`). None (default): every fit
    runs.
    `fit_warnings_`: the warnings the last `fit` gave (`FitWarning`s, each naming its
    stream and class), which a trained pipeline keeps (`mulde.vad.artifact`).
    """

    detector: StreamModelSpec | Mapping[Stream | str, StreamModelSpec] = "mulde"
    seed: int = 0
    mulde_params: dict[str, Any] = field(default_factory=dict)
    progress: bool = False
    calibrate_on: Literal["frames", "objects"] = "frames"
    calibration_folds: int | None = None
    max_train_objects: int | None = None
    n_jobs: int = 1
    pca: Mapping[Stream | str, int] | None = None
    sidak: Collection[Stream | str] | None = None
    fit_cache: str | Path | None = None
    fits_: dict[Stream, StreamFit] = field(default_factory=dict, init=False, repr=False)
    fit_seconds_: float = field(default=0.0, init=False, repr=False)
    fits_reused_: int = field(default=0, init=False, repr=False)
    fit_warnings_: list[FitWarning] = field(default_factory=list, init=False, repr=False)
    _cache_off: bool = field(default=False, init=False, repr=False)
    _used_keys: set[str] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.calibrate_on not in ("frames", "objects"):
            raise ValueError(f"calibrate_on must be 'frames' or 'objects', got "
                             f"{self.calibrate_on!r}")
        folds = self.calibration_folds
        if folds is not None and (isinstance(folds, bool) or not isinstance(folds, int)
                                  or folds < 2):
            raise ValueError(f"calibration_folds must be None or an integer >= 2, got {folds!r}")
        cap = self.max_train_objects
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
            raise ValueError(f"max_train_objects must be None or an integer >= 1, got {cap!r}")
        if cap is not None and folds is not None:
            raise ValueError("max_train_objects and calibration_folds do not combine: the "
                             "subsample is fitted once, not per fold")
        jobs = self.n_jobs
        if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
            raise ValueError(f"n_jobs must be an integer >= 1, got {jobs!r}")
        _known_streams("sidak", self.sidak or ())
        _known_streams("pca", self.pca or {})
        if self.sidak and self.calibrate_on == "objects":
            # the calibration maps the scores it was fitted on to [0, 1]; fitted on object
            # scores it would be applied to the Sidak frame scores, -log of a probability,
            # another scale altogether
            raise ValueError("sidak needs calibrate_on='frames': a Sidak stream's frame "
                             "scores are not on its object scores' scale")
        for stream, k in (self.pca or {}).items():
            if isinstance(k, bool) or not isinstance(k, int) or k < 1:
                raise ValueError(f"pca: the {stream} stream needs a whole number of "
                                 f"components >= 1, got {k!r}")

    @property
    def streams(self) -> list[Stream]:
        """The fitted streams, in name order."""
        return list(self.fits_)

    @property
    def calibrations(self) -> dict[Stream, Calibration]:
        return {s: f.calibration for s, f in self.fits_.items()}

    def _factory(self, spec: StreamModelSpec) -> Callable[[], StreamModel]:
        if isinstance(spec, str):
            make_stream_model(spec)  # an unknown name fails here, before any fitting
            # a partial, not a lambda: it pickles, so worker processes can run it (n_jobs)
            return partial(make_stream_model, spec, self.seed, dict(self.mulde_params))
        if callable(spec):
            return spec
        raise ValueError(f"a stream model is 'mulde', 'knn', 'gmm' or a factory of stream "
                         f"models, got {spec!r}")

    def _plan(self, train: Mapping[str, VideoFeatures]) -> dict[Stream, Callable[[],
                                                                               StreamModel]]:
        """Return the model factory of every stream to fit, streams in name order."""
        if isinstance(self.detector, Mapping):
            unknown = [s for s in self.detector if s not in {m.value for m in Stream}]
            if unknown or not self.detector:
                raise ValueError(f"the detector mapping must name streams among "
                                 f"{', '.join(s.value for s in Stream)}; got "
                                 f"{', '.join(map(str, self.detector)) or 'none'}")
            specs = {Stream(s): spec for s, spec in self.detector.items()}
        else:
            specs = dict.fromkeys(next(iter(train.values())), self.detector)
        for name, vf in train.items():
            missing = sorted(s.value for s in set(specs) - set(vf))
            if missing:
                raise ValueError(f"training video {name} has no {', '.join(missing)} stream "
                                 f"(streams: {', '.join(map(str, vf))})")
        reduce = {Stream(s): int(k) for s, k in (self.pca or {}).items()}
        for option, named in (("pca", set(reduce)), ("sidak", self.sidak_streams)):
            unfitted = sorted(s.value for s in named - set(specs))
            if unfitted:
                raise ValueError(f"{option} names the {', '.join(unfitted)} stream, which is "
                                 f"not fitted (streams: "
                                 f"{', '.join(sorted(s.value for s in specs))})")
        for s, k in reduce.items():
            self._warn_if_unreduced(train, s, k)
        plan = {}
        for s in sorted(specs, key=lambda s: s.value):
            make = self._factory(specs[s])
            plan[s] = WithPCA(make, reduce[s]) if s in reduce else make
        return plan

    def _warn_if_unreduced(self, train: Mapping[str, VideoFeatures], stream: Stream,
                           k: int) -> None:
        """Warn (the fit goes on) when `pca` asks `stream` for more components than it has
        dimensions: `PCAStream` keeps at most min(k, rows - 1, dimension), as many as the
        rows span, so such a stream is reduced only where its rows span fewer directions.
        Not an error: the dimension is known only after extraction. Fewer training objects
        than k (and than the dimension) still reduce the stream, to the directions they
        span: not warned (a short training set would be warned about a default it never
        set, e.g. the `frames` extractor's 128); metrics.json's `config.pca` records the
        number kept."""
        dim = next(iter(train.values()))[stream].dim
        if k <= dim:
            return
        warnings.warn(f"pca {stream.value}={k}: the {stream.value} stream has {dim} "
                      f"dimension{'s' if dim != 1 else ''}, fewer than the {k} principal "
                      f"components asked: it keeps at most its {dim}, as many as its "
                      "training objects span", stacklevel=4)

    def _stream_data(self, train: Mapping[str, VideoFeatures], stream: Stream, k: int
                     ) -> StreamData:
        """Return the `StreamData` of one stream: every training object, or the seeded
        subsample of `max_train_objects` (k: the stream's place, which seeds the draw); the
        frame stream without the copies a strided extractor gives (`distinct_frames`).
        ValueError naming the stream and video where a video's features hold NaN or inf
        (`refuse_nonfinite`)."""
        for video, vf in zip(said_as(train), train.values(), strict=True):  # named by video
            refuse_nonfinite(stream, video, vf[stream].features)
        if stream is Stream.FRAME:
            return self._frame_data(train, stream, k)
        n = sum(vf[stream].n_objects for vf in train.values())
        if self.max_train_objects is not None and n > self.max_train_objects:
            X, groups = subsample_stream(train, stream, int(self.max_train_objects),
                                         np.random.default_rng([self.seed, k]))
            return StreamData(X, groups, True)
        return StreamData(*stack_stream(train, stream), False)

    def _frame_data(self, train: Mapping[str, VideoFeatures], stream: Stream, k: int
                    ) -> StreamData:
        """The frame stream's `StreamData`: its distinct rows (`distinct_frames`, found one
        video at a time, the copies never stacked), all of them, or a seeded draw of
        `max_train_objects` of them when there are more (each window as likely as any
        other, however many frames took it)."""
        records = [vf[stream] for vf in train.values()]
        firsts = [distinct_frames(r.features, np.zeros(r.n_objects, np.int64))
                  for r in records]
        keeps = [np.unique(first) for first in firsts]
        counts = np.array([len(keep) for keep in keeps])
        offsets = np.r_[0, np.cumsum(counts)]
        subsampled = self.max_train_objects is not None and offsets[-1] > self.max_train_objects
        if subsampled:
            drawn = draw_per_video(counts, int(self.max_train_objects),
                                   np.random.default_rng([self.seed, k]))
            keeps = [keep[rows] for keep, rows in zip(keeps, drawn, strict=True)]
        X = np.concatenate([r.features[keep] for r, keep in zip(records, keeps, strict=True)]
                           ).astype(np.float64)
        groups = np.concatenate([np.full(len(keep), i) for i, keep in enumerate(keeps)])
        if subsampled or len(X) == sum(r.n_objects for r in records):
            return StreamData(X, groups, subsampled)
        objects = np.concatenate([np.searchsorted(keep, first) + lo for keep, first, lo
                                  in zip(keeps, firsts, offsets[:-1], strict=True)])
        return StreamData(X, groups, False, objects)

    def _cache_key(self, job: FitJob, writing: bool = False) -> tuple[FitCache, str] | None:
        """The fit cache and the key of `job` (`mulde.vad.fit_cache.job_key`); None without
        a `fit_cache`, for a model the trained pipeline cannot save, or, `writing`, once a
        write failed (a full disk still lets the run read its finished fits back)."""
        if (self.fit_cache is None or (writing and self._cache_off)
                or job.cache_key is None):
            return None
        return FitCache(Path(self.fit_cache)), job.cache_key

    def stored_fits(self, train: Mapping[str, VideoFeatures]) -> tuple[int, int]:
        """Return (the fits of `fit(train)` that `fit_cache` holds, all its fits), so that a
        caller can say before the fits start how many will be read back (`FitCache.has`:
        an entry found damaged when it is read is fitted again). Hashes each stream's
        training objects once, one stream at a time; (0, all) without a fit cache or with
        an empty one. ValueError without training videos, as `fit`."""
        if not train:
            raise ValueError("need at least one readable training video")
        with warnings.catch_warnings():  # `fit` gives the plan's warnings
            warnings.simplefilter("ignore")
            plan = self._plan(train)
        total = len(plan) * (1 + (self.calibration_folds or 0))
        cache = None if self.fit_cache is None else FitCache(Path(self.fit_cache))
        if cache is None or cache.is_empty():
            return 0, total
        found = 0
        for k, (stream, make) in enumerate(plan.items()):
            for job in self._jobs(make, self._stream_data(train, stream, k), stream):
                found += job.cache_key is not None and cache.has(job.cache_key,
                                                                 job.needs_scores)
        return found, total

    def _reused(self, job: FitJob) -> FitResult | None:
        """`job`'s result read back from the fit cache, None when it must run (every job of
        a fit is asked here first: its key is one this fit uses, which `fit` keeps when it
        prunes the cache)."""
        found = self._cache_key(job)
        if found is not None:
            self._used_keys.add(found[1])
        stored = None if found is None else found[0].load(found[1])
        if stored is None or (stored[1] is None and job.needs_scores):
            return None
        self.fits_reused_ += 1
        return FitResult(*stored)

    def _kept(self, job: FitJob, result: FitResult) -> FitResult:
        """Write `job`'s finished `result` to the fit cache (when there is one); return it.
        A cache that cannot be written (a full disk, a read-only folder) is said once and
        not used again by this fit: the run goes on, it only cannot resume."""
        found = self._cache_key(job, writing=True)
        if found is not None:
            try:
                found[0].store(found[1], result.model, result.scores, result.seconds,
                               result.warnings)
            except (OSError, ValueError) as err:
                warnings.warn(f"finished model fits cannot be kept in {self.fit_cache} "
                              f"({err}); this run goes on, but an interrupted run will fit "
                              "again", UserWarning, stacklevel=2)
                self._cache_off = True
        return result

    def _jobs(self, make: Callable[[], StreamModel], data: StreamData,
              stream: Stream | None = None) -> list[FitJob]:
        """The fits of one stream: the model on all its rows (`data`), then one refit per
        out-of-fold calibration fold (none on a subsample)."""
        X, groups, subsampled, _ = data
        folds = None if subsampled else self.calibration_folds
        own = folds is None and not subsampled  # calibrated on the model's own scores
        digest = None if self.fit_cache is None else data_digest(X, groups)  # once a stream
        # a reduced stream's model fits principal components, not the stream's own columns
        named = None if stream is None or isinstance(make, WithPCA) else stream.value
        return [FitJob(make, X, groups, folds, fold, own_scores=own and fold is None,
                       data=digest, stream=named) for fold in [None, *range(folds or 0)]]

    def _assemble(self, train: Mapping[str, VideoFeatures], stream: Stream, data: StreamData,
                  done: Mapping[int | None, FitResult]) -> tuple[StreamFit, list[FitWarning]]:
        """Return the stream's `StreamFit` from its finished fits (`done`: fold -> result,
        None the model on all objects): the calibration's training scores (the model's own,
        out-of-fold, or per video of a subsample; of distinct rows, given back to every
        object that is a copy of one), the empty-frame fill and the calibration. `fit_s` is
        the model's fit, `calibrate_s` the refits' seconds (summed, also when they ran side
        by side in worker processes) plus the calibration's.
        Returned with it: the warnings its fits recorded and its calibration's
        (`CalibrationSpikeWarning`), each once and naming the stream (whichever of its fits
        said it), for `fit` to give once its progress bar is closed, so that no warning
        lands on the bar's line."""
        model, fit_s = done[None].model, done[None].seconds
        assert model is not None
        said = dict.fromkeys(w for result in in_fold_order(done) for w in result.warnings)
        messages = [w.named(stream.value) for w in said]
        t0 = time.perf_counter()
        X, groups, subsampled, objects = data
        if subsampled:  # score every training object, one video at a time
            per_video = []
            for i, (video, vf) in enumerate(zip(said_as(train), train.values(), strict=True)):
                with _objects_named(stream, [video]):
                    per_video.append(model.score_training_video(
                        vf[stream].features.astype(np.float64), i))
            fill = float(min(s.min() for s in per_video if s.size))
            train_obj = np.concatenate(per_video)
        else:
            if self.calibration_folds is None:
                train_obj = done[None].scores  # the model's own (`FitJob.own_scores`)
            else:
                train_obj = np.empty(len(X))
                fold = groups % self.calibration_folds
                for f in range(self.calibration_folds):
                    train_obj[fold == f] = done[f].scores
            if objects is not None:  # every object the score of its distinct row
                train_obj, groups = train_obj[objects], groups[objects]
            fill = float(train_obj.min())
            per_video = [train_obj[groups == i] for i in range(len(train))]
        reference = np.sort(train_obj) if stream in self.sidak_streams else None
        train_frames = [frame_scores(s, vf[stream], fill, reference)
                        for s, vf in zip(per_video, train.values(), strict=True)]
        calibration = Calibration.fit(train_obj if self.calibrate_on == "objects"
                                      else np.concatenate(train_frames))
        if self.calibrate_on != "objects":
            messages += [w.named(stream.value) for w
                         in _spike_messages(stream, list(train), train_frames, calibration)]
        refits_s = sum(r.seconds for f, r in done.items() if f is not None)
        return StreamFit(model, fill, calibration, int(X.shape[1]), len(X), fit_s,
                         time.perf_counter() - t0 + refits_s, train_frames=train_frames,
                         reference=reference), messages

    @property
    def sidak_streams(self) -> set[Stream]:
        """The streams whose frame score is the Sidak-corrected maximum (`sidak`)."""
        return {Stream(getattr(s, "value", s)) for s in self.sidak or ()}

    def fit(self, train: Mapping[str, VideoFeatures]) -> StreamEnsemble:
        """Fit every stream of the training videos (all must have the streams fitted).

        With `n_jobs` > 1 the fits (each stream's model and its out-of-fold refits) run in
        that many worker processes (module docstring, "Parallel fitting"); `fit_seconds_`
        is the wall time of the whole fit either way."""
        if not train:
            raise ValueError("need at least one readable training video")
        if self.calibration_folds is not None and len(train) < self.calibration_folds:
            raise ValueError(f"calibration_folds={self.calibration_folds} needs at least as "
                             f"many training videos, got {len(train)}")
        plan = self._plan(train)
        videos = said_as(train)  # a refusal's words
        start = time.perf_counter()
        self.fits_, self.fits_reused_, self._cache_off, self._used_keys = {}, 0, False, set()
        said: list[FitWarning] = []  # the streams' fit warnings, given once the bar is closed
        per_stream = 1 + (self.calibration_folds or 0)  # the model and its out-of-fold refits
        with tqdm(total=len(plan) * per_stream, disable=not self.progress, desc="model fits",
                  unit="fit") as bar:
            if self.n_jobs > 1 and all(_picklable(make) for make in plan.values()):
                said = self._fit_in_workers(train, plan, bar, videos)
            else:  # one stream at a time: one stream's training matrix held at once
                for k, (stream, make) in enumerate(plan.items()):
                    bar.set_postfix_str(f"{stream.value} stream")
                    data = self._stream_data(train, stream, k)
                    done: dict[int | None, FitResult] = {}
                    for job in self._jobs(make, data, stream):
                        with _objects_named(stream, videos, job.groups):
                            done[job.fold] = (self._reused(job)
                                              or self._kept(job, run_fit_job(job)))
                        bar.update()
                    bar.update(per_stream - len(done))
                    self.fits_[stream], messages = self._assemble(train, stream, data, done)
                    said += messages
        if self.fit_cache is not None:  # every fit done: what no run used for days goes
            FitCache(Path(self.fit_cache)).prune(self._used_keys)
        self.fit_warnings_ = said
        for warning in said:  # each of its own class, wherever its fit ran
            warnings.warn(warning.warning(), stacklevel=2)
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def _fit_in_workers(self, train: Mapping[str, VideoFeatures],
                        plan: Mapping[Stream, Callable[[], StreamModel]], bar: Any,
                        videos: list[str]) -> list[FitWarning]:
        """Run every fit of every stream in `n_jobs` worker processes (one torch and
        one BLAS thread each), the largest first, and assemble the streams in name order;
        return their warnings in that order (`_assemble`), for `fit` to give. `videos`:
        the training videos in a refusal's words (`_objects_named`)."""
        data = {stream: self._stream_data(train, stream, k) for k, stream in enumerate(plan)}
        jobs = [(stream, job) for stream, make in plan.items()
                for job in self._jobs(make, data[stream], stream)]
        # longest first, so the big stream's fits are not left for the end while a worker
        # idles: a MULDE fit costs its fixed number of steps times a cost growing with the
        # features, a GMM or kNN fit grows with the rows too
        jobs.sort(key=lambda sj: (-sj[1].X.shape[1], -sj[1].rows))
        done: dict[Stream, dict[int | None, FitResult]] = {s: {} for s in plan}
        todo = []
        for stream, job in jobs:
            reused = self._reused(job)
            if reused is None:
                todo.append((stream, job))
            else:
                done[stream][job.fold] = reused
                bar.update()
        with _workers(min(self.n_jobs, len(todo))) as pool:
            with _sigint_blocked():  # the workers start here, on the first submissions
                futures = {pool.submit(run_fit_job, job): (stream, job)
                           for stream, job in todo}
            processes = _pool_processes(pool)
            finished = len(jobs) - len(todo)
            for future in _completed(futures):
                stream, job = futures[future]
                with _objects_named(stream, videos, job.groups):
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        cached = all(self._cache_key(j, writing=True) is not None
                                     for _, j in jobs)  # a model it cannot save is not kept
                        raise FitWorkerError(finished, len(jobs), cached and finished > 0,
                                             min(self.n_jobs, len(todo)),
                                             not _failed_as_started(processes)) from None
                    done[stream][job.fold] = self._kept(job, result)
                finished += 1
                bar.update()
        per_stream = 1 + (self.calibration_folds or 0)
        bar.update(len(plan) * per_stream - len(jobs))
        said: list[FitWarning] = []
        for stream in plan:
            self.fits_[stream], messages = self._assemble(train, stream, data[stream],
                                                          done[stream])
            said += messages
        return said

    def score_video(self, features: VideoFeatures, name: str | None = None) -> VideoScores:
        """Return the `VideoScores` of one video's features. Objects a stream's model
        refuses (MULDE's `OutOfRangeRowsError`), and features that hold NaN or inf, are said
        of the stream and the video, by `name` where given."""
        if not self.fits_:
            raise ValueError("the ensemble is not fitted: call fit(training videos) first")
        raw: dict[Stream, np.ndarray] = {}
        top = TopObjects.empty(features.n_frames)
        for stream, fit in self.fits_.items():
            if stream not in features:
                raise ValueError(f"the video has no {stream} stream (streams: "
                                 f"{', '.join(map(str, features))})")
            t0 = time.perf_counter()
            record = features[stream]
            video = "the video" if name is None else f"video {name}"
            refuse_nonfinite(stream, video, record.features)
            with _objects_named(stream, [video]):
                obj = fit.model.score(record.features.astype(np.float64))
            # a Sidak stream's corrected scores, computed once for the frames and the top
            ranked = ranked_objects(obj, record, fit.reference)
            raw[stream] = _frames(ranked, record, fit.fill, fit.reference)
            if record.n_objects:
                top.update(stream.value, fit.calibration.transform(ranked),
                           record.frame_index, record.boxes)
            fit.test_objects += record.n_objects
            fit.score_s += time.perf_counter() - t0
        calibrations = self.calibrations
        return VideoScores(fuse(raw, calibrations),
                           {s: calibrations[s].transform(r) for s, r in raw.items()}, top)

    def train_fused(self) -> list[np.ndarray]:
        """Return the fused (calibrated, summed, unsmoothed) frame scores of each training
        video, in the order given to `fit`, from the training scores the calibration saw:
        out-of-fold with `calibration_folds`, else the models' own (kNN leave-one-video-out,
        MULDE and GMM in-sample, hence optimistic)."""
        if not self.fits_:
            raise ValueError("the ensemble is not fitted: call fit(training videos) first")
        per_stream = [[f.calibration.transform(s) for s in f.train_frames]
                      for f in self.fits_.values()]
        return [np.sum(video, axis=0) for video in zip(*per_stream, strict=True)]

    def score(self, videos: Mapping[str, VideoFeatures]) -> dict[str, VideoScores]:
        """Return the `VideoScores` of every video, by name."""
        return {name: self.score_video(vf, name) for name, vf in videos.items()}
