"""`mulde watch`: score a live source frame by frame and say when to look.

A `Capture` (`mulde.video.capture`: file, frame folder, webcam, network stream) feeds a
`LiveScorer` (`mulde.vad.live`: online features, the fitted ensemble, the causal smoothing);
`EventTracker` (`mulde.vad.events`) turns the smoothed scores above the alert threshold into
events. Outputs in the output folder, written as the stream goes:

- `scores.csv`: one row per frame, appended and flushed as it is scored: `frame` (0-based),
  `time_s` (frame / fps: frames counted at the source's rate, which drifts from the clock
  after a reconnection or a stall), `score` (the fused calibrated score, the offline
  pipeline's unsmoothed one), `smoothed` (the causal filter's), one column per stream (its
  calibrated score; named after the stream, `frame_score` for the frame-centric stream
  `frame`, which would repeat the first column's name: `stream_column`), `top_stream` (the
  stream of the frame's top object) and `arrived_at` (the clock time the frame was read
  from the source, `clock_time`);
- `events.json`: the list of events, written atomically at the start (empty) and rewritten
  when one starts and when one ends:
  `start`, `end` (inclusive frame indices), `peak`, `score` (peak smoothed score), the same
  in seconds (`start_s`, `end_s` the end of the last frame, (end + 1) / fps, as offline in
  `mulde.evaluation.alerts`; `peak_s`), `stream` (the stream that fired: the largest of
  `stream_scores`, each stream's causally smoothed score at the peak, which add up to
  `score`; `mulde.vad.events.leading_stream`, the offline report's rule), `top_stream` and
  `box` (the top object at the peak, box (x0, y0, x1, y1) in source pixels or null),
  `snapshot` and `clip` (file names under `events/`), `ongoing` (true until the event
  has ended), `cut_short` (true for an event still running when the watch stopped: the
  source's end, Ctrl-C, SIGTERM, a failure; `stopped` in watch.json says which), and
  `start_at`, `peak_at`, `end_at`: the clock times its start, peak and end frames were read
  from the source (`clock_time`; while it runs, the file written at its start has its start
  frame's for all three);
- `events/event_NNNN.png`: the peak frame with the top object boxed, labelled with the
  event's score and the stream that fired ("score 1.65 (static highest)") and the clock
  time the frame was read (`snapshot_time`, at the bottom left); written at the
  event's start from its start frame (named in events.json from then on: a picture as the
  alert fires) and replaced by the peak's when it ends;
  `events/event_NNNN.mp4`:
  a clip from `pre_s` seconds before the event's start to `post_s` after its end (at most
  `max_clip_s` seconds, `MAX_CLIP_S`: events.json's `clip_capped` is true for a clip cut
  there), written while the event runs (bounded memory) and renamed into
  place when complete; the clips of events closer than that overlap (each has its whole
  pre- and post-roll; at most `MAX_OPEN_CLIPS` are written at once, the oldest cut short);
  `clip_cut_short` is true for a clip whose post-roll was cut (by that, or by the watch's
  stop; one already cut at its cap has `clip_capped` alone);
- `watch.html`: the overview page for a person (`mulde.watch_page`): the record
  below, the smoothed score over the clock time with the threshold and the events, and the
  events' table with their snapshots and clips; written with every health record after the
  first frame's (`RECORD_EVERY_S`), within `PAGE_EVERY_S` of an event's start or end, and
  at the end;
- `watch.json`: from the first frame on, every `RECORD_EVERY_S` with `stopped` `RUNNING`
  (a health record; `ended_at` its time), and at the end: how the watch was run (the
  `model` folder and its `model_digest`,
  `mulde_version`, the output folder `out`; the settings: `threshold`, `patience`, `pre_s`,
  `post_s`, `max_clip_s`, `view`, `realtime`, `fps_given` (--fps; `fps` is the rate used),
  `reconnect_tries`, `timeout_s` and `backoff_s` (null for an infinite one)), when it
  began and ended (`started_at`, `ended_at`, `clock_time`), when its last frame was read
  (`last_frame_at`: a record whose `ended_at` is fresh and `last_frame_at` old is a watch
  alive while its source is silent or reconnecting), what was watched and how fast
  (frames/s over `flowing_s`, the
  seconds frames flowed; per-frame latency: mean and max of every frame, p50 and p95 of the
  last `quantile_frames`, at most `LATENCY_WINDOW`),
  reconnections, why it stopped, `notes`: what was said about the source and the model
  (e.g. a file's timeline gaps or a file cut short, `FrameTimelineWarning`; another frame
  rate or size than training; a stream whose calibration most watched
  frames fall below, `mulde.vad.fusion.warn_below_calibration`), `earlier_outputs` (below)
  and `on_event` (the program run for each event's start, end and clip,
  `mulde.event_command`, with how many calls were made, failed and skipped; null without
  one).

An output folder that holds an earlier watch's outputs is cleared of them first (only the
names above; other files stay; files at those names that no watch wrote are refused,
`foreign_outputs`, and so are a symlink, a pipe or a folder where a file goes and a file or
a symlink where a folder goes, `misplaced_entries`: a watch never writes, moves or deletes
outside its folder), so the folder never mixes two runs: they are set aside
(`stash_earlier_outputs`) and moved to `earlier/STAMP/` once the new watch scores its first
frame (`keep_earlier_outputs`; watch.json's `earlier_outputs` names that folder), or put
back in place of its outputs if it scores none (a source that cannot be read, frames of
another size, Ctrl-C before the first frame). Outputs that hold scored frames are never
removed for a stash (`restore_earlier_outputs`: an empty one a killed watch left goes, one
whose files would replace them is kept in earlier/ too). Ctrl-C (KeyboardInterrupt) stops
the loop; the pending frames are scored, the open event is closed and every file written,
then it is raised again for the caller.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import json
import math
import os
import re
import signal
import stat
import sys
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np

from mulde._version import __version__
from mulde.event_command import EventCommand
from mulde.io.atomic import (
    atomic_path,
    ensure_writable,
    remove_empty,
    temp_target,
    write_bytes,
    write_json,
)
from mulde.io.features import quoted
from mulde.recorded import recorded_warnings
from mulde.terminated import Terminated
from mulde.vad.events import Event, EventTracker, leading_stream
from mulde.vad.fusion import CalibrationWarning, warn_below_calibration
from mulde.vad.live import LiveScore, LiveScorer, live_threshold
from mulde.vad.thresholds import rate_text
from mulde.video.capture import Capture, Gap, Prefetched
from mulde.video.decode import FrameTimelineWarning
from mulde.video.features.objects import box_in_frame
from mulde.video.features.online import FrameSizeWarning
from mulde.watch_page import (
    PAGE_MARK,
    PAGE_NAME,
    Timeline,
    mark_moved_page,
    second_clock,
    write_watch_page,
)

# what a watch writes into its output folder (module docstring); nothing else is removed
_OUTPUTS = ("watch.html", "events.json", "watch.json", "scores.csv")  # the summaries first:
_EVENT_FILE = re.compile(r"^event_\d{4,}\.(png|mp4)$")  # never listing files already gone


def _own_temp(path: Path, in_events: bool) -> bool:
    """Whether `path` is a temp file `atomic_path` made for a watch output (its writer was
    killed before renaming it into place); `in_events`: `path` lies in `events/`."""
    target = temp_target(path.name)
    if target is None:
        return False
    return _EVENT_FILE.match(target) is not None if in_events else target in _OUTPUTS


EARLIER = "earlier"
"""The folder inside a watch's output folder that keeps the outputs of the earlier watches
into it, one folder each, named by when it started (`keep_earlier_outputs`)."""


STASH = ".mulde-earlier-watch"
"""The folder inside a watch's output folder that holds an earlier watch's outputs until the
new watch scores its first frame (`stash_earlier_outputs`)."""


def _kind(path: Path) -> str | None:
    """What is at `path` where it is not what a watch puts there, said for a person ("a
    symlink to /srv/x", "a pipe", "a folder", "a device", "a socket"); None where nothing
    is there, or where `path` lies in a folder this user may not look into (EACCES: the
    output folder's write probe refuses it in one line, where lstat's error was a bare
    "[Errno 13]"). Never opens or follows it (a pipe would block, a symlink lead outside)."""
    try:
        mode = path.lstat().st_mode
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return None  # `out` a file, or a folder this user cannot look into: each said elsewhere
    if stat.S_ISLNK(mode):
        try:
            return f"a symlink to {os.readlink(path)}"
        except OSError:
            return "a symlink"
    return ("a folder" if stat.S_ISDIR(mode) else "a file" if stat.S_ISREG(mode)
            else "a pipe" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a device")


def misplaced_entries(out: str | Path) -> list[str]:
    """What is at the names a watch writes in the folder `out` that a watch cannot use
    there, each as "name (what it is where ...)": a symlink or anything but a regular file
    at `_OUTPUTS` and at events/event_NNNN.png|mp4 (a watch would write, move or delete
    through a symlink, outside `out`; a pipe blocks the watch before its first frame), a
    symlink or anything but a folder at `events`, `EARLIER` and `STASH` (a watch would move
    its files, or an earlier watch's, into the folder it points to). [] where there are
    none; `foreign_outputs` names them too, so `watch_source` refuses such a folder before
    anything is opened or written."""
    out = Path(out)
    found = []
    for name in _OUTPUTS:
        kind = _kind(out / name)
        if kind not in (None, "a file"):
            found.append(f"{name} ({kind} where a watch writes a file)")
    for name, what in (("events", "keeps its snapshots and clips"),
                       (EARLIER, "keeps the earlier watches' outputs"),
                       (STASH, "sets an earlier watch's outputs aside")):
        kind = _kind(out / name)
        if kind not in (None, "a folder"):
            found.append(f"{name} ({kind} where a watch {what})")
    events = out / "events"
    if _kind(events) == "a folder":
        for path in sorted(events.iterdir()):
            kind = _kind(path)
            if _EVENT_FILE.match(path.name) and kind != "a file":
                found.append(f"events/{path.name} ({kind} where a watch writes a file)")
    return found


def refuse_misplaced(out: Path) -> None:
    """Raise ValueError, one line naming each and what to do, where the watch's names in
    `out` hold what a watch cannot use (`misplaced_entries`: a symlink, a pipe, a folder
    where a file goes, a file where a folder goes): the watch's one wording of them, before
    it starts and wherever its earlier outputs are moved."""
    misplaced = misplaced_entries(out)
    if misplaced:
        raise ValueError(f"{out} holds {', '.join(misplaced)}: a watch would write through "
                         "it, or replace or move it; move it away, or give the watch another "
                         "output folder (--out)")


def _earlier_files(out: Path) -> tuple[list[Path], list[Path]]:
    """(an earlier watch's outputs in `out`, the temp files its killed writers left there):
    only the names `_OUTPUTS` and events/event_NNNN.png|mp4, summaries first. Raises
    ValueError, one line, where those names hold a symlink, a pipe or another thing a watch
    cannot move or replace (`misplaced_entries`): they are never skipped silently, to be
    written through by the watch."""
    refuse_misplaced(out)
    top = [out / name for name in _OUTPUTS if (out / name).is_file()]
    events = out / "events"
    inside = sorted(p for p in events.iterdir() if p.is_file()) if events.is_dir() else []
    here = sorted(p for p in out.iterdir() if p.is_file()) if out.is_dir() else []
    kept = [*top, *(p for p in inside if _EVENT_FILE.match(p.name))]
    temps = [*(p for p in inside if _own_temp(p, True)), *(p for p in here if _own_temp(p, False))]
    return kept, temps


def _holds_frames(out: Path) -> bool:
    """Whether the watch outputs in `out` hold a scored frame: an event file, a scores.csv
    with a row, an events.json that is not an empty list, a watch.json whose `frames` is not
    0 (one that cannot be read counts as holding some: nothing is deleted on a guess).
    Those of a watch that scored none (a stash's `restore_earlier_outputs` replaces them)
    hold an empty events.json, scores.csv's header and a watch.json of 0 frames."""
    events = out / "events"
    if events.is_dir() and any(_EVENT_FILE.match(p.name) for p in events.iterdir()):
        return True
    try:
        if (out / "scores.csv").is_file():
            with (out / "scores.csv").open(encoding="utf-8", errors="replace") as fh:
                if sum(1 for line in itertools.islice(fh, 2) if line.strip()) > 1:
                    return True
        if (out / "events.json").is_file() and json.loads(
                (out / "events.json").read_text(encoding="utf-8")) != []:
            return True
        if (out / "watch.json").is_file():
            return json.loads((out / "watch.json").read_text(encoding="utf-8"))["frames"] != 0
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        return True
    return False


def _stash_folder(out: Path) -> Path | None:
    """out/`STASH` where it is a folder of its own (not a symlink); None where there is none.
    Raises ValueError, one line, for a symlink or a file there (`misplaced_entries`): a
    watch would move its outputs into the folder a symlink points to, or that folder's
    files into `out`."""
    stash = out / STASH
    kind = _kind(stash)
    if kind is None:
        return None
    if kind != "a folder":
        raise ValueError(f"{stash} is {kind}, where a watch sets an earlier watch's outputs "
                         "aside: move it away, or give the watch another output folder "
                         "(--out)")
    return stash


WATCH_FIELDS = ("source", "frames", "stopped")
"""Fields every watch.json holds (`Watcher.run`'s summary), by which `foreign_outputs` knows
one."""


def foreign_outputs(out: str | Path) -> list[str]:
    """The files in the folder `out` at the names a watch writes there (`_OUTPUTS`) that no
    watch wrote, each as "name (what it is)": a scores.csv whose first line does not start
    with a watch's columns (`SCORES_COLUMNS`), an events.json that is not a JSON list of
    events (objects with `start` and `end`), a watch.json that is not a JSON object with a
    watch's fields (`WATCH_FIELDS`), a watch.html whose head does not name a watch as its
    generator (`mulde.watch_page.PAGE_MARK`); empty files count as a watch's (nothing to lose). []
    where there are none; and first what is at those names that a watch cannot use
    (`misplaced_entries`: a symlink, a pipe, a folder where a file goes; a file, or a
    symlink, at `events`, `EARLIER` (where a watch keeps the outputs of those before it:
    `keep_earlier_outputs`) or `STASH`). A new watch into `out` would replace them, or
    write through them, so `watch_source` refuses such a folder."""
    out = Path(out)
    found = misplaced_entries(out)
    for name in _OUTPUTS:
        path = out / name
        if _kind(path) != "a file" or path.stat().st_size == 0:
            continue
        try:
            if name == "watch.html":
                with path.open(encoding="utf-8", errors="replace") as fh:
                    if PAGE_MARK.search(fh.read(4096)) is None:
                        found.append(f"{name} (a page no watch wrote)")
                continue
            if name == "scores.csv":
                with path.open(encoding="utf-8", errors="replace") as fh:
                    first = fh.readline(4096).strip()
                if first.split(",")[:len(SCORES_COLUMNS)] != list(SCORES_COLUMNS):
                    found.append(f"{name} (its first line is {quoted(first)})")
                continue
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            found.append(f"{name} (not a watch's JSON)")
            continue
        ours = (isinstance(data, list) and all(isinstance(e, dict) and {"start", "end"} <= set(e)
                                               for e in data)
                if name == "events.json" else
                isinstance(data, dict) and set(WATCH_FIELDS) <= set(data))
        if not ours:
            found.append(f"{name} (JSON without a watch's fields)")
    return found


def stash_earlier_outputs(out: str | Path) -> int:
    """Move an earlier watch's outputs in the folder `out` (`clear_earlier_outputs`' names)
    into out/`STASH`, so that a new watch writes beside nothing of them while they can still
    come back (`restore_earlier_outputs`) if it fails before scoring a frame; return how many
    files were moved (the temp files of killed writers are removed, uncounted). A stash a
    killed watch left is dealt with first (`restore_earlier_outputs`: put back, or kept in
    earlier/ where the folder holds scored frames; what it cannot put back is kept in
    earlier/ too, `keep_earlier_outputs`). Raises ValueError, one line, for a
    symlink or another thing a watch cannot use at its names (`misplaced_entries`), the
    stash's included: nothing is moved then."""
    out = Path(out)
    refuse_misplaced(out)  # a symlink or a pipe at a watch's names: refused before any move
    if _stash_folder(out) is not None:  # a watch killed before its first frame left one
        restore_earlier_outputs(out)
    if _stash_folder(out) is not None:  # what could not be put back: kept apart, never
        keep_earlier_outputs(out)       # mixed with (or replaced by) the outputs moved in
    kept, temps = _earlier_files(out)
    for path in temps:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    for path in kept:
        target = out / STASH / path.relative_to(out)
        target.parent.mkdir(parents=True, exist_ok=True)
        path.replace(target)
    return len(kept)


def restore_earlier_outputs(out: str | Path) -> Path | None:
    """Put the stashed outputs of an earlier watch (`stash_earlier_outputs`) back into the
    folder `out` in place of this watch's, which scored no frame (they go first, so the
    folder never mixes the two), event files before the summaries that name them, then
    remove the stash; return None, or the folder under `EARLIER` where the stash went
    instead (below). Only a watch's own names (`_earlier_files`) come back from the stash;
    other files stay in it, and so does a file that cannot be moved back. Outputs in `out`
    that hold scored frames (`_holds_frames`) are never removed for a stash: where the
    stash's files would replace some of them (a watch that scored, killed before it kept
    the stash, or a stash no watch left), the stash is kept in earlier/ as
    `keep_earlier_outputs` keeps it; otherwise (a watch killed while it put them back)
    the rest are put back beside them. A stash without a watch's file (one killed after
    putting them back, before removing it) is removed where it holds nothing else. A
    symlink or a file at the stash is left alone (`_stash_folder`; `watch_source`
    refuses such a folder)."""
    out = Path(out)
    try:
        stash = _stash_folder(out)
        if stash is None:
            return None
        files, _ = _earlier_files(stash)
        if not files:
            remove_empty(stash)
            return None
        if _holds_frames(out):
            here = {p.relative_to(out) for p in _earlier_files(out)[0]}
            if here & {p.relative_to(stash) for p in files}:
                return keep_earlier_outputs(out)
        else:
            clear_earlier_outputs(out)  # this watch's own: a watch.json of frames 0, say
    except ValueError:  # a symlink or a pipe: never followed (`foreign_outputs` says it)
        return None
    files.sort(key=lambda p: (p.parent == stash, str(p)))  # events/ first
    left = False
    for path in files:
        target = out / path.relative_to(stash)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            path.replace(target)
        except OSError:
            left = True
    if not left:
        remove_empty(stash)
    return None


def _stamp(when: datetime) -> str:
    """The UTC time `when` as an earlier/ folder's name, "20261205T203807Z" (the year in 4
    digits always: strftime writes year 1 as "1")."""
    return (f"{when.year:04d}{when.month:02d}{when.day:02d}T{when.hour:02d}{when.minute:02d}"
            f"{when.second:02d}Z")


def keep_earlier_outputs(out: str | Path) -> Path | None:
    """Move the outputs of an earlier watch set aside in `out` (`stash_earlier_outputs`) to
    out/`EARLIER`/STAMP, STAMP its start in UTC ("20261205T203807Z": watch.json's
    `started_at`, else the time of its newest file, as for a `started_at` that is no time
    or lies out of the calendar in UTC, "0001-01-01T00:00:00+14:00", which had stopped every
    restart; "-2", "-3", ... after a STAMP taken);
    return that folder, None where nothing was set aside. A watch restarted into the same
    folder (a camera service after a crash or a reboot, run with the same command line) had
    deleted the alerts, snapshots and clips of the one before; they are kept this way (delete
    earlier/ to reclaim its space). Called as the new watch scores its first frame."""
    out = Path(out)
    stash = _stash_folder(out)
    if stash is None:
        return None
    try:
        started = json.loads((stash / "watch.json").read_text(encoding="utf-8"))["started_at"]
        # a start at the ends of the calendar ("0001-01-01T00:00:00+14:00") overflows in UTC
        stamp = _stamp(datetime.fromisoformat(started).astimezone(timezone.utc))
    except (OSError, ValueError, KeyError, TypeError, OverflowError):  # killed before its
        times = [p.stat().st_mtime for p in stash.rglob("*") if p.is_file()]  # record, older
        try:
            when = datetime.fromtimestamp(max(times, default=time.time()), timezone.utc)
        except (OSError, ValueError, OverflowError):  # a file time out of the calendar
            when = datetime.now(timezone.utc)
        stamp = _stamp(when)
    target, k = out / EARLIER / stamp, 2
    while target.exists():
        target, k = out / EARLIER / f"{stamp}-{k}", k + 1
    target.parent.mkdir(exist_ok=True)
    stash.replace(target)
    return target


def _unfinished(kept: Path) -> bool:
    """Whether the earlier watch whose outputs are in `kept` stopped without its last record:
    no watch.json (killed before its first frame's), or one still saying `RUNNING`."""
    try:
        return json.loads((kept / "watch.json").read_text(encoding="utf-8")).get(
            "stopped") == RUNNING
    except FileNotFoundError:
        return any(kept.iterdir())
    except (OSError, ValueError, AttributeError):
        return False


def clear_earlier_outputs(out: str | Path) -> int:
    """Remove from the folder `out` what an earlier watch wrote there (`watch.html`,
    `scores.csv`, `events.json`, `watch.json`, `events/event_NNNN.png|mp4` and their temp
    files), so that
    a new watch into the same folder does not leave the earlier events beside its own;
    return how many files went. Only those names are touched (the `events/` folder stays,
    and any other file in either folder). watch.html, events.json and watch.json go first,
    so that an interrupted clearing never leaves them naming files that are gone."""
    kept, temps = _earlier_files(Path(out))
    removed = 0
    for path in [*kept, *temps]:
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:  # gone meanwhile
            continue
    return removed


MAX_CLIP_S = 60.0
"""The longest event clip (seconds, pre-roll and post-roll included): a longer event's clip
stops there (`clip_capped` in events.json); `mulde watch` refuses a --pre and --post that
add up to more (the pre-roll's frames are held decoded in memory)."""


@dataclass
class WatchOptions:
    """How `watch` records: `threshold` on the smoothed score (an event while above it),
    `patience` frames at or below it that end an event, the clip's `pre_s`/`post_s` seconds
    around an event (at most `max_clip_s` in all), `status` the stream of the live terminal
    line (None: none) and `status_every_s` how often it is refreshed. `timeout_s`: how long
    a read of the source may block (`open_capture`'s): a frame that arrives that long after
    the one before came after the time-out fired (a decoder's last frames, flushed when the
    quiet stream was given up), so that wait is left out of `flowing_s`. `on_event`: a
    command run as each event starts, ends and has its clip complete
    (`mulde.event_command`), None: none."""

    threshold: float
    patience: int = 1
    pre_s: float = 2.0
    post_s: float = 2.0
    max_clip_s: float = MAX_CLIP_S
    status: IO[str] | None = None
    status_every_s: float = 0.5
    timeout_s: float = math.inf
    on_event: EventCommand | None = None


@dataclass
class _Clip:
    """An event's clip being written: PyAV container open on a temp path."""

    event: int
    path: Path
    tmp: Any
    container: Any
    stream: Any
    frames: int = 0
    last: int = -1  # the last frame index written
    until: int = 1 << 62  # the post-roll's end: the event's end + post_s (open while it runs)

    def write(self, index: int, frame: np.ndarray) -> None:
        import av

        h, w = self.stream.height, self.stream.width
        image = np.ascontiguousarray(frame[:h, :w])
        for packet in self.stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
            self.container.mux(packet)
        self.frames += 1
        self.last = index

    def close(self) -> None:
        """Flush the encoder and move the clip into place (the temp file is removed when
        that fails)."""
        try:
            for packet in self.stream.encode():
                self.container.mux(packet)
            self.container.close()
        except BaseException as err:
            self.tmp.__exit__(type(err), err, err.__traceback__)
            raise
        self.tmp.__exit__(None, None, None)  # renames the temp file into place


def _open_clip(path: Path, fps: float, shape: tuple[int, ...], event: int) -> _Clip:
    import av

    tmp = atomic_path(path)
    temp_path = tmp.__enter__()
    container = av.open(str(temp_path), "w", format="mp4")
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    stream = container.add_stream(codec, rate=round(fps) if fps > 0 else 25)
    stream.height, stream.width = shape[0] - shape[0] % 2, shape[1] - shape[1] % 2
    stream.pix_fmt = "yuv420p"
    return _Clip(event, path, tmp, container, stream)


def snapshot_label(score: float, shares: dict[str, float]) -> str:
    """The label of an event's snapshot: its smoothed peak `score` and the stream that fired
    there (`leading_stream` of the streams' smoothed `shares`, the offline report's rule),
    e.g. "score 1.65 (static highest)"; a single stream is named alone."""
    if not shares:
        return f"score {score:.2f}"
    fired = leading_stream(shares)
    return f"score {score:.2f} ({fired}{' highest' if len(shares) > 1 else ''})"


def snapshot_time(clock: str) -> str:
    """The clock time written on a snapshot: a watch's `clock_time` to the second, "UTC"
    said ("2026-12-05 20:38:07 UTC"): a picture forwarded alone (a webhook's attachment, a
    chat message) still says when it was taken."""
    return f"{second_clock(clock)} UTC"


def _snapshot(frame: np.ndarray, box: np.ndarray | None, label: str,
              when: str | None = None) -> bytes:
    """PNG bytes of the frame with `box` (x0, y0, x1, y1) drawn, thick enough to see, and
    `label` above it (at the top left without a box); `when` (`snapshot_time`), given, at
    the bottom left, white on a black band so that it reads on any scene."""
    image = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
    thick = max(2, round(max(image.shape[:2]) / 200))
    at = (4, 16)
    if box is not None and np.all(np.isfinite(box)):
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        cv2.rectangle(image, (x0, y0), (x1 - 1, y1 - 1), (0, 0, 255), thick)
        at = (x0, max(12, y0 - 4))
    scale, weight = max(0.4, image.shape[0] / 600), max(1, thick // 2)
    width = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, weight)[0][0]
    at = (max(0, min(at[0], image.shape[1] - width - 2)), at[1])  # whole, near the right edge
    cv2.putText(image, label, at, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 255), weight)
    if when:
        small = scale * 0.8
        (w, h), below = cv2.getTextSize(when, cv2.FONT_HERSHEY_SIMPLEX, small, weight)
        bottom = image.shape[0] - 1
        cv2.rectangle(image, (0, bottom - h - below - 4), (w + 6, bottom), (0, 0, 0), -1)
        cv2.putText(image, when, (3, bottom - below - 1), cv2.FONT_HERSHEY_SIMPLEX, small,
                    (255, 255, 255), weight)
    return cv2.imencode(".png", image)[1].tobytes()


PRE_ROLL_NOTE_BYTES = 1_000_000_000
"""The memory (bytes) of a watch's pre-roll above which it is said (`Watcher`: the `pre_s`
seconds of frames held decoded for the clips)."""

QUIET_SAY_S = 2.0
"""After how many seconds without a frame the status line says so ("no frame for 12 s": a
stream reconnecting, a quiet camera; it is refreshed while the source is silent too)."""

PAGE_EVERY_S = 5.0
"""How soon after an event starts or ends a running watch rewrites watch.html (at most this
often; it is rewritten with every health record, `RECORD_EVERY_S`, too)."""

RECORD_EVERY_S = 30.0
"""How often a watch rewrites watch.json while it runs (from its first frame on, and while
its source is silent or reconnecting too), with `stopped` set to `RUNNING`: a health record a
service monitor can read, and what the next watch into the folder finds of a watch that was
killed."""

RUNNING = "running"
"""watch.json's `stopped` while the watch runs (`RECORD_EVERY_S`)."""

LATENCY_WINDOW = 100_000
"""How many of the last frames' latencies a watch keeps for watch.json's quantiles (p50,
p95; about 67 minutes at 25 frames/s, about 3 MB): a watch that runs for days keeps no list
that grows with it. The mean and max cover every frame."""


@dataclass
class _State:
    events: list[dict[str, Any]] = field(default_factory=list)
    peak_frame: np.ndarray | None = None
    peak_score: LiveScore | None = None
    # the clips being written: the running event's, and earlier events' still in their
    # post-roll (clips of close events overlap; each keeps its own pre- and post-roll)
    clips: list[_Clip] = field(default_factory=list)
    # the last `LATENCY_WINDOW` frames' latencies; every frame's count, sum and max
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))
    scored: int = 0
    latency_sum: float = 0.0
    latency_max: float = 0.0
    last: LiveScore | None = None
    # per stream: [frames with objects calibrated below 0, frames with objects, frames
    # without] (`warn_below_calibration`)
    below: dict[str, list[int]] = field(default_factory=dict)


MAX_OPEN_CLIPS = 3
"""The most event clips written at once: an event's clip keeps its post-roll while the next
events start (their clips overlap), but each open clip encodes every frame, so a score
flapping at the threshold closes the oldest early instead of opening an encoder per event."""


def clock_time(seconds: float) -> str:
    """`seconds` since the epoch (`time.time()`) as the clock times of a watch's outputs:
    UTC in ISO 8601 to the millisecond, with its offset ("2026-12-05T20:38:07.123+00:00"),
    so that an alert can be placed in the day whatever the frame count says."""
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="milliseconds")


SCORES_COLUMNS = ("frame", "time_s", "score", "smoothed")
"""scores.csv's first columns; `mulde.evaluation.report.WATCH_COLUMNS`, which reads such files,
names the same (tested; not imported here, where the report's plotting library is not
needed)."""

LAST_COLUMNS = ("top_stream", "arrived_at")
"""scores.csv's columns after the streams' (`stream_column`); a column added later goes last,
so that a reader by position of the earlier ones still finds them."""


def stream_column(stream: str) -> str:
    """scores.csv's column of a stream's calibrated score: the stream's name, with "_score"
    added where the name is one of the fixed columns (`SCORES_COLUMNS`, `LAST_COLUMNS`): the
    frame-centric stream `frame` is `frame_score`, so that a CSV reader (`mulde evaluate`)
    finds one `frame` column, the frame index."""
    return f"{stream}_score" if stream in (*SCORES_COLUMNS, *LAST_COLUMNS) else stream


class FallingBehindWarning(UserWarning):
    """A live source was scored slower than its frame rate (`Watcher._warn_behind`)."""


class Watcher:
    """The watch loop over one capture (see the module docstring); `run()` returns the
    summary written to watch.json. `max_height`: the model's `downscale` of the frames
    (None: none), to put the boxes of snapshots and events.json in source pixels.
    `training_frames`: per stream, how many of the training frames the model's calibration
    saw hold objects of their own in it (or one count for every stream); given, a stream
    most of whose watched frames with objects calibrate below 0 is warned of at the end and
    noted in watch.json (`mulde.vad.fusion.warn_below_calibration`)."""

    def __init__(self, scorer: LiveScorer, capture: Capture, out: str | Path,
                 options: WatchOptions, streams: list[str],
                 max_height: int | None = None,
                 training_frames: Mapping[str, int] | int | None = None) -> None:
        self.scorer, self.capture, self.options = scorer, capture, options
        refuse_misplaced(Path(out))  # before the write probe: nothing in `out` is touched
        self.out = ensure_writable(Path(out))
        self.streams = streams
        self.max_height = max_height
        self.training_frames = training_frames
        self.tracker = EventTracker(options.threshold, options.patience)
        self.state = _State()
        self.n_in = 0
        self.gaps = 0  # reconnections where the features started afresh
        self._gap = False  # a gap came, and no frame after it yet (the source's end, if none)
        # seconds frames flowed: per run of frames between gaps, from its first frame read to
        # its last scored (waits for the first data, back-offs and time-outs left out: the
        # wait before a frame that came after a time-out, `WatchOptions.timeout_s`, too)
        self.flowing_s = 0.0
        self._flow: list[float] | None = None  # the open run's [first read, last scored]
        self._last_arrived = 0.0  # when the last frame was read
        # (index, when read: epoch seconds, `_epoch`) till scored; the last frame's too
        self._arrivals: deque[tuple[int, float]] = deque()
        self._last_read: float | None = None
        self.started_at = ""  # `clock_time` of the watch's start, for watch.json
        # the smoothed scores for watch.html's plot, bounded; the page is rewritten with the
        # health record from the second on, within PAGE_EVERY_S of an event's start or end
        # or a clip put in place (`_page_due`), and at the end
        self.timeline = Timeline()
        self._page_due = False
        self._page_failed = False
        self._ring: deque[tuple[int, np.ndarray]] = deque()
        self._fps = capture.fps
        self.definition = ""  # how the threshold was set, for watch.json
        # how the watch was run beyond `options` (the model, the source's settings), for
        # watch.json (`watch_source` sets them)
        self.settings: dict[str, Any] = {}
        self.notes: list[str] = []  # notes on the source, for watch.json (`run` adds)
        # an earlier watch's outputs, said by the caller: set aside until the first frame is
        # scored (a source that fails before it leaves them as they were)
        self.replaced = stash_earlier_outputs(self.out)
        self.kept: str | None = None  # where they went (`keep_earlier_outputs`)
        self.log: Callable[[str], None] | None = None  # where `say` writes too
        try:
            (self.out / "events").mkdir(exist_ok=True)
            self._write_events()  # no event yet: what a reader of the folder sees meanwhile
        except BaseException:
            restore_earlier_outputs(self.out)
            raise

    @property
    def fps(self) -> float:
        return self.capture.fps or self._fps or 25.0

    def _frames_for(self, seconds: float) -> int:
        return max(0, int(math.ceil(seconds * self.fps)))

    def run(self) -> dict[str, Any]:
        """Watch the source to its end (or Ctrl-C / SIGTERM); return watch.json's dict."""
        stop = _Stop()
        # a frame-size warning (said at the first frame, and again if a reconnected camera
        # changes it) is kept in watch.json too, and so are a file's timeline notes: its
        # gaps, and a file cut short (`CutShortWarning`: the source's end came early, while
        # `stopped` reads "end of stream", as every frame it holds was scored)
        kept = (FrameSizeWarning, CalibrationWarning, FallingBehindWarning,
                FrameTimelineWarning)
        try:
            with _stop_on_signals(stop), recorded_warnings(kept, into=self.notes):
                return self._run(stop)
        finally:
            if self.state.last is None:  # no frame scored (failed, stopped, or an empty
                restore_earlier_outputs(self.out)  # source): the earlier watch's files return

    def _take(self, frame: Any, writer: Any, arrived: float) -> None:
        """One arriving frame (read from the source at `arrived`): kept for snapshots and
        clips, pushed to the scorer, and the frames it completes written. A `GAP` (a
        reconnected stream) finishes the frames before it and starts the features afresh."""
        if isinstance(frame, Gap):
            self._gap = True  # counted once frames follow: a stream that ended is no gap
            self._flush(self.scorer.restart, writer)
            self._end_flow()
            return
        if self._gap:
            self.gaps += 1
            self._gap = False
        if self._flow is None:
            self._flow = [arrived, arrived]
        elif arrived - self._last_arrived >= self.options.timeout_s:
            # the source was silent until its time-out fired, and this frame came after it
            # (flushed from the decoder): the watcher's idle wait for it is not flowing time
            self._flow[0] += max(0.0, arrived - self._flow[1])
        self._last_arrived = arrived
        self._last_read = self._epoch(arrived)
        self._arrivals.append((self.n_in, self._last_read))
        if self.n_in == 0:
            self._say_pre_roll_memory(np.asarray(frame))
        self._ring.append((self.n_in, frame))
        self.n_in += 1
        for s in self.scorer.push(frame, arrived):
            self._handle(s, writer)

    @staticmethod
    def _epoch(perf: float) -> float:
        """The wall-clock time (seconds since the epoch) of the `time.perf_counter()`
        reading `perf`, a recent one (a frame's arrival): the wall clock now less the time
        since, so a clock set right during the watch (NTP on a machine without a battery
        clock) or a resume from suspend moves the times that follow, as the clock does."""
        return time.time() - (time.perf_counter() - perf)

    def _say_pre_roll_memory(self, frame: np.ndarray) -> None:
        """Say (a note) when the clips' pre-roll, held decoded in memory, takes more than
        `PRE_ROLL_NOTE_BYTES` at this source's frame size and rate (`--pre` 30 s of 1080p at
        25 frames/s is about 4.7 GB): a machine without it swaps or kills the watch."""
        frames = self._frames_for(self.options.pre_s) + 1
        size = frames * frame.nbytes
        if size > PRE_ROLL_NOTE_BYTES:
            height, width = frame.shape[:2]
            self.say(f"the clips' pre-roll holds the last {self.options.pre_s:g} s decoded in "
                     f"memory: {frames} frames of {width}x{height}, about {size / 1e9:.1f} GB; "
                     "give a shorter --pre if this machine has less memory to spare")

    def _at(self, perf: float) -> str:
        """The `clock_time` of the `time.perf_counter()` reading `perf` (`_epoch`)."""
        return clock_time(self._epoch(perf))

    def _run(self, stop: _Stop) -> dict[str, Any]:
        started = time.perf_counter()
        self.started_at = self._at(started)
        stopped, lost = "end of stream", False
        interrupted: BaseException | None = None
        csv_file = open(self.out / "scores.csv", "w", newline="", encoding="utf-8")  # noqa: SIM115
        writer = csv.writer(csv_file)
        writer.writerow([*SCORES_COLUMNS, *map(stream_column, self.streams), *LAST_COLUMNS])
        csv_file.flush()
        last_status = 0.0
        self._last_record = self._last_page = -math.inf

        def record() -> None:  # the health record and the page, on their clocks
            now = time.perf_counter()
            if self.state.last is None:
                return
            if now - self._last_record >= RECORD_EVERY_S:
                summary = self._summary(RUNNING, now - started, False)
                write_json(self.out / "watch.json", summary)
                if self._last_record > -math.inf:  # not at the first frame: the plotting
                    self._write_page(summary)      # library loads (about 0.4 s) while frames
                    self._last_page = now          # flow only once there is more to show
                self._last_record = now
            elif self._page_due and now - self._last_page >= PAGE_EVERY_S:
                self._write_page(self._summary(RUNNING, now - started, False))
                self._last_page = now
        tty = self.options.status is not None and getattr(self.options.status, "isatty",
                                                          lambda: False)()
        every = self.options.status_every_s * (1 if tty else 20)  # a log gets a line a while

        def tick() -> None:  # the status line, then the record and the page, on their clocks
            nonlocal last_status
            now = time.perf_counter()
            if self.options.status and now - last_status >= every:
                self._status(now - started)
                last_status = now
            record()

        # kept while the source is silent too (a stream reconnecting, a quiet camera)
        frames = Prefetched(self.capture.frames(), until=stop, on_wait=tick)
        try:
            try:
                for frame in frames:
                    self._take(frame, writer, frames.arrived)
                    csv_file.flush()
                    tick()
                if stop.is_set():  # Ctrl-C or SIGTERM, seen between two frames
                    raise stop.interrupt()
            except KeyboardInterrupt as err:
                # SIGTERM's `Terminated` (the command exits 143), which a KeyboardInterrupt
                # raised after its signal is too (a test's source, a second signal)
                if stop.signum == signal.SIGTERM and not isinstance(err, Terminated):
                    err = Terminated()
                terminated = isinstance(err, Terminated)
                stopped = f"interrupted ({'SIGTERM' if terminated else 'Ctrl-C'})"
                interrupted = err
                self.capture.closed.set()  # before the drain's wait: no reconnection after it
                for arrived, frame in frames.drain():  # decoded before the stop: scored
                    self._take(frame, writer, arrived)
            self._flush(self.scorer.finish, writer)
            lost = interrupted is None and bool(self.capture.lost)
            if lost:
                stopped = f"stream lost: {self.capture.lost}"
        except Exception as err:  # the source or a frame failed: score what has arrived
            stopped = f"failed: {err}"
            with contextlib.suppress(Exception):  # the first error is the one to report
                for s in self.scorer.finish():
                    self._handle(s, writer)
            raise
        finally:
            self.capture.closed.set()
            frames.close()
            csv_file.flush()
            csv_file.close()
            summary = self._close(stopped, time.perf_counter() - started, lost, stop)
            # the rate over the seconds frames flowed, as watch.json; none for a watch that
            # failed before scoring a frame (a source refused at its first frame: its error
            # alone, not a status line of 0 frames above it)
            if self.options.status and (self.state.last is not None
                                        or not stopped.startswith("failed")):
                self._status(self.flowing_s or time.perf_counter() - started, final=True)
                if tty:  # the line rewritten in place is ended (a log's lines end each)
                    self.options.status.write("\n")
                self.options.status.flush()
        if interrupted is not None:
            raise interrupted
        return summary

    def _frame(self, index: int) -> np.ndarray | None:
        k = index - self._ring[0][0] if self._ring else -1
        return self._ring[k][1] if 0 <= k < len(self._ring) else None

    def _trim_ring(self, scored: int) -> None:
        """Keep the frames a clip's pre-roll may need and those not yet scored."""
        keep_from = scored - self._frames_for(self.options.pre_s)
        while self._ring and self._ring[0][0] < keep_from:
            self._ring.popleft()

    def _flush(self, pending: Callable[[], list[LiveScore]], writer: Any) -> None:
        """Score and write the frames `pending` (the scorer's restart or finish) completes.
        They are scored after the source's wait that ended the run (a time-out, a drop), so
        the run's flowing time gets their scoring time only, not that wait."""
        last = None if self._flow is None else self._flow[1]
        t0 = time.perf_counter()
        for s in pending():
            self._handle(s, writer)
        if self._flow is not None and last is not None:
            self._flow[1] = last + (time.perf_counter() - t0)

    def _end_flow(self) -> None:
        """Close the open run of frames (`flowing_s`)."""
        if self._flow is not None:
            self.flowing_s += max(0.0, self._flow[1] - self._flow[0])
            self._flow = None

    def _handle(self, s: LiveScore, writer: Any) -> None:
        st = self.state
        if st.last is None:  # the first frame scored: an earlier watch's files are kept apart
            kept = keep_earlier_outputs(self.out)
            self.kept = None if kept is None else kept.relative_to(self.out).as_posix()
            if kept is not None:  # its page's links and state, in its new place
                mark_moved_page(kept, _unfinished(kept))
            if kept is not None and _unfinished(kept):
                self.say(f"the earlier watch in {self.out} ended without writing its last "
                         f"record (killed, or the machine stopped): its outputs, kept in "
                         f"{kept}, end where it stopped, an event it had open still "
                         "'ongoing' and its clip missing")
        if self.options.on_event is not None:  # a failed or hung call said within a frame
            self.options.on_event.check()
        if self._flow is not None:
            self._flow[1] = time.perf_counter()
        st.last = s
        while self._arrivals and self._arrivals[0][0] < s.index:
            self._arrivals.popleft()
        arrived = (self._arrivals.popleft()[1] if self._arrivals
                   and self._arrivals[0][0] == s.index else self._epoch(time.perf_counter()))
        at = clock_time(arrived)
        self.timeline.add(arrived, s.smoothed)
        st.latencies.append(s.latency)
        st.scored += 1
        st.latency_sum += s.latency
        st.latency_max = max(st.latency_max, s.latency)
        for name, value in s.streams.items():
            counts = st.below.setdefault(name, [0, 0, 0])
            if name in s.empty:  # no object: the stream's fill, not a model's score
                counts[2] += 1
            else:
                counts[0] += int(value < 0)
                counts[1] += 1
        writer.writerow([s.index, f"{s.index / self.fps:.3f}", f"{s.score:.9g}",
                         f"{s.smoothed:.9g}", *(f"{s.streams.get(n, float('nan')):.9g}"
                                                for n in self.streams), s.stream, at])
        frame = self._frame(s.index)
        was_active = self.tracker.active is not None
        ended = self.tracker.update(s.smoothed)
        active = self.tracker.active
        if active is not None and not was_active:  # an event starts at this frame
            self._start_event(s, at)
        if active is not None:  # its frames so far, for watch.html (events.json has them
            record = st.events[-1]  # when it ends): indices, seconds and clock times
            if active.peak == s.index:
                record["peak_at"] = at
            if active.end == s.index:
                record["end_at"] = at
            record.update(active.to_dict(), **self._times(active.start, active.end, active.peak))
        if active is not None and active.peak == s.index and frame is not None:
            st.peak_frame, st.peak_score = frame.copy(), s
        if frame is not None:
            cap, capped = self._frames_for(self.options.max_clip_s), False
            for clip in [c for c in st.clips if s.index > c.last]:
                if clip.frames < cap:
                    clip.write(s.index, frame)
                elif not st.events[clip.event]["clip_capped"]:  # said once, when it happens
                    st.events[clip.event]["clip_capped"] = capped = True
            if capped:
                self._write_events()
        if ended is not None:
            self._end_event(ended, len(st.events) - 1)
        for clip in [c for c in st.clips if s.index >= c.until]:
            st.clips.remove(clip)
            self._close_clip(clip)
        self._trim_ring(s.index)

    def _start_event(self, s: LiveScore, at: str) -> None:
        """Open the event that starts at the frame `s`, read from the source at the clock
        time `at`: its record (events.json, rewritten) and its clip (the pre-roll written)."""
        st = self.state
        while len(st.clips) >= MAX_OPEN_CLIPS:  # a score flapping at the threshold: the
            self._close_clip(st.clips.pop(0), cut=True)  # oldest post-roll is cut short
        number = len(st.events) + 1
        name = f"event_{number:04d}"
        st.events.append({"start": s.index, "end": s.index, "peak": s.index,
                          "score": s.smoothed, "ongoing": True, "snapshot": None,
                          "clip": f"{name}.mp4", "clip_capped": False,
                          "clip_cut_short": False, "start_at": at,
                          "peak_at": at, "end_at": at, **self._times(s.index, s.index),
                          **self._fired_where(s)})
        st.peak_frame, st.peak_score = None, None
        frame = self._frame(s.index)
        if frame is not None:  # a picture as the alert fires; the peak's replaces it
            self._write_snapshot(number - 1, frame, s, at)
        shape = frame.shape if frame is not None else self._ring[-1][1].shape
        clip = _open_clip(self.out / "events" / f"{name}.mp4", self.fps, shape, number - 1)
        st.clips.append(clip)
        pre = self._frames_for(self.options.pre_s)
        for i, f in list(self._ring):
            if s.index - pre <= i < s.index:
                clip.write(i, f)
        self._write_events()
        self._page_due = True
        self._fire("start", number - 1)

    def _end_event(self, event: Event, k: int, cut_short: bool = False) -> None:
        """Close the `k`-th event, `event` as the tracker ended it: its record completed
        (events.json rewritten), its snapshot written, its clip's post-roll set.
        `cut_short`: the watch stopped while it ran (the source's end, Ctrl-C, SIGTERM, a
        failure), so it did not end by the threshold and patience."""
        st = self.state
        record = st.events[k]
        peak = st.peak_score
        record.update(event.to_dict())
        record.update({"ongoing": False, "cut_short": cut_short,
                       **self._times(event.start, event.end, event.peak),
                       **(self._fired_where(peak) if peak is not None else {
                           "stream": "", "stream_scores": {}, "top_stream": "",
                           "box": None})})
        if st.peak_frame is not None:  # replaces the start's (none: the start's stays, if any)
            self._write_snapshot(k, st.peak_frame, peak, record["peak_at"])
        for clip in st.clips:
            if clip.event == k:
                clip.until = event.end + self._frames_for(self.options.post_s)
        self._write_events()
        self._page_due = True
        self._fire("end", k)

    def _fire(self, kind: str, k: int) -> None:
        """Run the user's command (`WatchOptions.on_event`) for the `k`-th event's `kind`,
        with its record as events.json now has it."""
        if self.options.on_event is not None:
            record = {**self.state.events[k], "source": self.capture.name,
                      "watch_started_at": self.started_at}
            self.options.on_event.fire(kind, k + 1, record, self.out)

    def say(self, line: str) -> None:
        """A note said during the watch: kept in watch.json's notes, and given to `log`."""
        self.notes.append(line)
        if self.log is not None:
            self.log(line)

    def _times(self, start: int, end: int, peak: int | None = None) -> dict[str, float]:
        """An event's frames in seconds: `start_s`, `end_s` (the end of the last frame,
        (end + 1) / fps, as offline in `mulde.evaluation.alerts`) and `peak_s`."""
        return {"start_s": start / self.fps, "end_s": (end + 1) / self.fps,
                "peak_s": (start if peak is None else peak) / self.fps}

    def _fired_where(self, s: LiveScore) -> dict[str, Any]:
        """What fired at the frame `s`, where: `stream` (by the offline report's rule, from
        the streams' shares of the smoothed score the event is found in), `stream_scores`
        (those shares), `top_stream` and `box` (the top object's; another thing than the
        stream that fired)."""
        return {"stream": leading_stream(s.smoothed_streams),
                "stream_scores": s.smoothed_streams, "top_stream": s.stream,
                "box": self._source_box(s)}

    def _close_clip(self, clip: _Clip, cut: bool = False) -> None:
        """Put an event's clip in place and run the user's command for it ("clip"); `cut`:
        before the end of its post-roll (another event's clip needed the encoder, or the
        watch stopped), which events.json's `clip_cut_short` says (written before the call,
        which gets the record), but of a clip cut at its cap (`clip_capped` says that)."""
        clip.close()
        self._page_due = True  # the page links it from now on
        if cut and not self.state.events[clip.event]["clip_capped"]:
            self.state.events[clip.event]["clip_cut_short"] = True
            self._write_events()
        self._fire("clip", clip.event)

    def _source_box(self, s: LiveScore) -> list[int] | None:
        """The box of `s`'s top object in the source frame's whole pixels (as the offline
        report's), None without one."""
        if not np.all(np.isfinite(s.box)):
            return None
        box = s.box
        if self._ring:  # in the source frame's pixels (the stream's frames share a size)
            height, width = self._ring[-1][1].shape[:2]
            box = box_in_frame(s.box, width, height, self.max_height)
        return [int(round(v)) for v in box]

    def _write_snapshot(self, k: int, frame: np.ndarray, s: LiveScore, at: str) -> None:
        """Write the `k`-th event's snapshot (atomically: a reader sees the last whole one):
        `frame`, the frame of `s`, read at the clock time `at`, with its top object boxed and
        labelled with its smoothed score and the stream that fired there, and that time;
        then name it in the event's record."""
        box = self._source_box(s)
        name = f"event_{k + 1:04d}.png"
        write_bytes(self.out / "events" / name,
                    _snapshot(frame, None if box is None else np.array(box),
                              snapshot_label(s.smoothed, s.smoothed_streams),
                              snapshot_time(at)))
        self.state.events[k]["snapshot"] = name

    def _write_events(self) -> None:
        write_json(self.out / "events.json", self.state.events)

    def _close(self, stopped: str, seconds: float, lost: bool,
               stop: _Stop) -> dict[str, Any]:
        st = self.state
        last = self.tracker.close()
        if last is not None:
            self._end_event(last, len(st.events) - 1, cut_short=True)
        while st.clips:
            clip = st.clips.pop(0)  # the source's end: a post-roll not yet whole is cut
            self._close_clip(clip, cut=clip.last < clip.until)
        self._write_events()
        self._end_flow()
        self._warn_behind(st.scored, self.flowing_s)
        if self.training_frames is not None:  # shown, and kept in notes (`run`)
            warn_below_calibration(self.scorer.ensemble, st.below, self.training_frames,
                                   "frames watched")
        command = self.options.on_event
        if command is not None and command.running:  # the last event's end sent
            # written before the wait for the calls (up to their time-out) too: a
            # `docker stop` kills the watch 10 s after its SIGTERM
            write_json(self.out / "watch.json", self._summary(stopped, seconds, lost))
            # the source is done: a Ctrl-C or SIGTERM now is the one that stops at once
            # (`_stop_on_signals`), which `close` takes to end the calls (the first had
            # only been noted where the source ended by itself)
            stop.set()
        if command is not None:
            command.close()  # waits for the calls running, and says those that failed
        summary = self._summary(stopped, seconds, lost)
        write_json(self.out / "watch.json", summary)
        if st.last is not None:  # none scored: the earlier watch's outputs come back
            said = len(self.notes)
            self._write_page(summary)
            if len(self.notes) > said:  # the page's failure, said now: in the record too
                write_json(self.out / "watch.json", summary)
        return summary

    def _write_page(self, summary: dict[str, Any]) -> None:
        """Write watch.html (`mulde.watch_page`) from watch.json's `summary`; a failure is
        said once and the watch goes on (its other outputs are the record), trying the page
        again when it is next due (a disk freed: the page of a watch that ended does not
        stay the running one it had last written)."""
        self._page_due = False
        try:
            write_watch_page(self.out, summary, self.state.events, self.timeline)
        except Exception as err:  # noqa: BLE001 - a plot or a full disk must not stop a watch
            if not self._page_failed:
                self._page_failed = True
                self.say(f"the overview page {self.out / PAGE_NAME} could not be written "
                         f"({type(err).__name__}: {err}); the watch goes on, trying it again "
                         "with each record; its scores, events and watch.json are written as "
                         "before")

    def _summary(self, stopped: str, seconds: float, lost: bool) -> dict[str, Any]:
        """watch.json's dict (module docstring): at the end, and every `RECORD_EVERY_S`
        while frames are scored, with `stopped` `RUNNING` (a health record; one left so by
        a watch that was killed says so to the next, `keep_earlier_outputs`)."""
        st = self.state
        command = self.options.on_event
        lat = np.array(st.latencies)
        n = st.scored
        # while running: the open run of frames too (`_end_flow` adds it at the end)
        flowing = self.flowing_s + (max(0.0, self._flow[1] - self._flow[0])
                                    if self._flow is not None else 0.0)
        summary = {
            "source": self.capture.name, "kind": self.capture.kind,
            "mulde_version": __version__, "out": str(self.out.resolve()), **self.settings,
            "started_at": self.started_at, "ended_at": self._at(time.perf_counter()),
            "last_frame_at": None if self._last_read is None else clock_time(self._last_read),
            "fps": self.fps,
            "frames": n, "seconds": seconds, "flowing_s": flowing,
            "frames_per_s": n / flowing if flowing else None,
            "latency_s": None if not n else {
                "mean": st.latency_sum / n, "p50": float(np.median(lat)),
                "p95": float(np.percentile(lat, 95)), "max": st.latency_max,
                "quantile_frames": len(lat)},
            "threshold": self.options.threshold, "threshold_definition": self.definition,
            "patience": self.options.patience, "pre_s": self.options.pre_s,
            "post_s": self.options.post_s, "max_clip_s": self.options.max_clip_s,
            "smoothing": {"filter": "causal half-Gaussian (mulde.vad.live)",
                          "lag_frames": self.scorer.smoother.lag,
                          "start_level": self.scorer.smoother.start},
            "features_exact": self.scorer.online.exact, "events": len(st.events),
            "reconnects": self.capture.reconnects, "gaps": self.gaps, "drops": self.capture.drops,
            "stopped": stopped, "lost": lost, "notes": self.notes,
            "earlier_outputs": self.kept,
            "on_event": None if command is None else command.summary()}
        return summary

    BEHIND_SHARE = 0.9
    """A live source scored at less than this share of its frame rate, over at least
    `BEHIND_MIN_S` seconds, is said to have fallen behind (`_warn_behind`)."""
    BEHIND_MIN_S = 2.0

    def _warn_behind(self, n: int, seconds: float) -> None:
        """Warn (`FallingBehindWarning`, kept in watch.json's notes) when a live source
        (`Capture.live`: a camera, a stream, a file with --realtime) was scored slower than
        its frame rate: its frames waited, so the last ones were scored about seconds - n /
        fps late, a lag the per-frame latency does not show (it starts when a frame is read,
        and a slow reader reads late). `seconds`: those frames flowed (`flowing_s`: waits
        for the source's first data, reconnection back-offs and time-outs are not the
        watcher's)."""
        fps = self.capture.fps
        if not (self.capture.live and fps and seconds >= self.BEHIND_MIN_S and n
                and n / seconds < self.BEHIND_SHARE * fps):
            return
        # no frame skipping or other rate to offer: the flow window and the smoothing assume
        # every frame, and speeds are per frame (docs/live.md, "Speed")
        # fewer rows only where the model downscales (detector boxes and frames models do not)
        rows = (f"works on fewer rows than its {self.max_height} (--set max_height=N at "
                "training) or " if self.max_height else "")
        # a file paced by --realtime is a recording already: read unpaced, nothing waits
        recorded = ("leave out --realtime, so that the file is read as fast as it is scored"
                    if self.capture.kind in ("file", "folder") else
                    "record the source and watch the recording, which is read as fast as it "
                    "is scored")
        warnings.warn(FallingBehindWarning(
            f"{self.capture.name}: scored {n / seconds:.1f} frames/s, slower than the "
            f"source's {fps:g}: its frames waited, and the last were scored about "
            f"{max(0.0, seconds - n / fps):.1f} s late, so alerts came that late; give the "
            f"watch more CPU threads (--threads), or train a model that {rows}uses a lighter "
            f"extractor (objects rather than objects:detector), or {recorded} (frames are "
            "never skipped: the features and the smoothing assume every frame)"), stacklevel=2)

    def _status(self, seconds: float, final: bool = False) -> None:
        """Write the status line: frames, rate over `seconds`, latency, score, events, and
        how long no frame has come (`QUIET_SAY_S`; not in the `final` line, the summary's
        after the source ended)."""
        st, stream = self.state, self.options.status
        n = st.scored
        rate = n / seconds if seconds > 0 else 0.0
        recent = list(itertools.islice(reversed(st.latencies), 50))
        lat = f"{np.mean(recent) * 1000:.0f} ms" if recent else "-"
        score = f"{st.last.smoothed:.2f}" if st.last else "-"
        quiet = time.perf_counter() - self._last_arrived if self.n_in else 0.0
        line = (f"{n} frame{'' if n == 1 else 's'}  {rate:.1f} frames/s  latency {lat}  "
                f"score {score} "
                f"(threshold {self.options.threshold:.3g})  events {len(st.events)}"
                + ("  (event)" if self.tracker.active else "")
                + (f"  no frame for {quiet:.0f} s"
                   if quiet >= QUIET_SAY_S and not final else ""))
        tty = getattr(stream, "isatty", lambda: False)()
        stream.write(("\r" + line.ljust(79)) if tty else line + "\n")
        stream.flush()


def default_status() -> IO[str]:
    """Where the live line goes: stderr."""
    return sys.stderr


def load_model(path: str | Path) -> Any:
    """Return the `PipelineModel` at `path`: a model folder, or an output folder holding one
    as `model/` (what `mulde run/train --out DIR` writes). Raises ArtifactError naming the
    file when it cannot be read."""
    from mulde.vad.artifact import PipelineModel, pipeline_folder

    return PipelineModel.load(pipeline_folder(path) or path)


def watch_source(model: Any, source: str, out: str | Path, *, view: str | None = None,
                 threshold: float | None = None, patience: int | None = None,
                 realtime: bool = False, fps: float | None = None, reconnect_tries: int = 5,
                 backoff_s: float = 1.0, timeout_s: float = 10.0, pre_s: float = 2.0,
                 post_s: float = 2.0, status: IO[str] | None = None,
                 log: IO[str] | None = None, on_event: str | None = None) -> dict[str, Any]:
    """Watch `source` (`mulde.video.capture.open_capture`) with a `PipelineModel`, writing
    into `out` (module docstring); return the summary (watch.json). `log` receives one line
    per note (reconnections, a model whose features live are not exactly the offline ones).
    Raises VideoReadError for a source that cannot be opened, ValueError for a model that
    cannot run live or has no threshold, for an `on_event` command line that cannot run
    (`mulde.event_command.EventCommand`), or for an `out` holding files at a watch's output
    names that no watch wrote (`foreign_outputs`: a watch would replace them);
    KeyboardInterrupt after the outputs are written. An earlier watch's outputs in `out` are
    moved to out/earlier/ as this one scores its first frame (`keep_earlier_outputs`)."""
    from mulde.vad.live import LiveScorer, start_level, trained_frame_shape
    from mulde.video.capture import open_capture
    from mulde.video.decode import distinct_rates, other_rate

    said: list[str] = []

    def say(line: str) -> None:  # to the log only: while watching, `Watcher.say` keeps it
        if log is not None:
            log.write(f"mulde watch: {line}\n")
            log.flush()

    def note(line: str) -> None:  # before the watch: kept for watch.json's notes too
        said.append(line)
        say(line)

    def warn(line: str) -> None:  # said as it happens (a failed alert command)
        say(f"warning: {line}")

    # a command that cannot run, said before anything is opened or written
    command = None if on_event is None else EventCommand(on_event, warn=warn)
    refuse_misplaced(Path(out))  # checked before anything is opened or written
    foreign = foreign_outputs(out)
    if foreign:
        raise ValueError(f"{out} holds files at the names a watch writes that no watch wrote: "
                         f"{', '.join(foreign)}; a watch would replace them, or write through "
                         "them: give the watch an output folder of its own (--out), or move "
                         "them")
    extractor = model.extractor_for(view)
    value, definition = live_threshold(model, threshold)
    # an alert rate that the training video is too short to check, as `mulde run` and
    # `mulde info` say it: kept with the alerts too, where they are acted on
    short = (None if threshold is not None or model.threshold is None
             else model.threshold.too_short())
    given_fps = fps  # for watch.json; a frame folder's may be the model's (below)
    assumed = fps is None and Path(source).is_dir() and getattr(model, "fps", None)
    if assumed:
        fps = float(model.fps)  # a frame folder records no rate: the model's, not a default
    capture = open_capture(source, realtime=realtime, fps=fps, reconnect_tries=reconnect_tries,
                           backoff_s=backoff_s, timeout_s=timeout_s, log=note)
    if assumed:  # said once the folder is known to hold frames (an error alone otherwise)
        note(f"{source} is a frame folder, which records no frame rate: the model's "
             f"{rate_text(fps)} frames/s is assumed for times and the alert's patience; give "
             "--fps if these frames run at another rate")
    # the rates the training files state (`training.frame_rates`) and the model's own (the
    # --fps it was trained with, or its first training video's): a source at any is not
    # noted; not the model's own where the files state several, of which it is the mean
    # (`pipeline._mixed_training_rate`), a rate no training video runs at. A folder at the
    # rate assumed just above is not noted either: the rate is the model's, not the source's
    # (a newcomer's frame folder was warned of at the mean rate it had been given)
    stated = getattr(model, "training", {}).get("frame_rates", [])
    rates = distinct_rates([*stated, *([getattr(model, "fps", None)] if len(stated) < 2
                                       else [])])
    if not assumed and capture.kind in ("file", "folder") and rates and all(
            other_rate(capture.fps, r) for r in rates):
        trained = (f"the training videos at {', '.join(rate_text(r) for r in rates)}"
                   if len(rates) > 1 else f"the model at {rate_text(rates[0])} (its training "
                   "videos' rate, or the --fps it was trained with)")
        note(f"{source} runs at {rate_text(capture.fps)} frames/s, {trained}: speeds and "
             "time windows are counted in frames, so they do not compare with the training "
             "ones and normal motion can look anomalous; watch video at the training rate, "
             "or train on such video")
    scorer = LiveScorer(extractor, model.ensemble, model.smoothing_sigma, capture.name,
                        start=start_level(model), trained_shape=trained_frame_shape(model, view))
    if getattr(extractor, "region_background", "scene") != "scene":
        note(f"this model finds regions against each video's median background, which needs "
             f"the whole video; live, the median of the first "
             f"{extractor.background_frames} frames stands in (scored once they have "
             "arrived), so scores differ from offline ones on longer videos; a model trained "
             "with --set region_background=scene scores live exactly as offline")
    if patience is None:
        patience = model.threshold.patience if model.threshold is not None else 1
    # a read that blocks timeout_s gives up (a file or folder has no such read)
    live_timeout = timeout_s if capture.kind in ("network", "webcam") else math.inf
    options = WatchOptions(value, patience, pre_s, post_s, status=status,
                           timeout_s=live_timeout, on_event=command)
    # a model saved before it recorded them: all its training frames, each stream alike
    training_frames = (getattr(model, "training", {}).get("frames_with_objects")
                       or sum(len(t) for t in model.train_scores) or None)
    watcher = Watcher(scorer, capture, out, options, [s.value for s in model.streams],
                      getattr(extractor, "max_height", None), training_frames)
    watcher.definition = definition
    path = getattr(model, "path", None)
    watcher.settings = {
        "model": None if path is None else str(Path(path).resolve()),
        "model_digest": getattr(model, "digest", None), "view": view, "realtime": realtime,
        "fps_given": given_fps, "reconnect_tries": reconnect_tries,
        # JSON has no infinity (Python would write Infinity, which strict readers refuse)
        "timeout_s": timeout_s if math.isfinite(timeout_s) else None,
        "backoff_s": backoff_s if math.isfinite(backoff_s) else None}
    if watcher.replaced:
        n = watcher.replaced
        note(f"{out} holds an earlier watch's outputs: {n} file{'s' if n != 1 else ''} of those "
             "it writes (scores.csv, events.json, watch.json, watch.html, events/event_*; other "
             "files stay), "
             f"moved to {Path(out) / EARLIER}/ once this watch scores its first frame (left in "
             "place if it scores none)")
    watcher.notes = list(said)  # the notes on the source and model, kept in watch.json
    if short:  # beside the alerts on watch.json and watch.html (said by run and info before)
        watcher.notes.append(f"the alert threshold {value:.4g}: {short}")
    watcher.log = say  # and those said while it watches
    return watcher.run()


class _Stop(threading.Event):
    """Set by `_stop_on_signals` at Ctrl-C or SIGTERM, and by the watcher itself once the
    source is done (`Watcher._close`); `signum` is the first signal's (None: none)."""

    signum: int | None = None

    def interrupt(self) -> KeyboardInterrupt:
        """The exception that stops the watch: `Terminated` for SIGTERM, else Ctrl-C's."""
        return Terminated() if self.signum == signal.SIGTERM else KeyboardInterrupt()


@contextlib.contextmanager
def _stop_on_signals(stop: _Stop) -> Iterator[None]:
    """While watching, Ctrl-C (SIGINT) and SIGTERM (`kill`, `docker stop`, `systemctl stop`)
    set `stop`, which the watcher reads between two frames, so the frame being scored is
    finished and every output written; a second one stops at once (KeyboardInterrupt).
    Only the main thread can set signal handlers (elsewhere nothing is installed)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt
        stop.signum = signum
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
