"""`mulde watch`'s overview page, watch.html: what a person coming back to a camera needs to
see, in one file beside the watch's outputs.

The page shows the watch's record (watch.json: the source, when it ran, why it stopped, speed,
reconnections, notes), the smoothed score over the clock time with the alert threshold and
the events, and a table of the events (newest first) with their snapshots and clips, linked
from the `events/` folder beside the page (the page embeds only its plot). The plot is drawn
from a `Timeline`, a max-pooled history of the smoothed score kept in bounded memory while
the watch runs, so a watch of days redraws it in the same time as one of minutes and no
event's peak is averaged away.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from mulde._version import __version__
from mulde.io.atomic import write_bytes

PAGE_NAME = "watch.html"
"""The overview page's file name in a watch's output folder."""

PAGE_MARK = re.compile(r'<meta name="generator" content="mulde [^"]* watch">')
"""The generator mark in the head of a watch's page, by which a watch knows one
(`mulde.watch.foreign_outputs`)."""

TIMELINE_POINTS = 2048
"""The most bins a `Timeline` keeps: past them, neighbouring bins are merged in pairs (each
then covers twice the frames), so memory and drawing time stay bounded however long the
watch runs; 2,048 points are about as many as a 1,000-pixel-wide plot can show."""

DASH = "\u2013"
"""What the page shows for a value that is not there (an en dash)."""

REFRESH_S = 30
"""How often a browser reloads the page of a running watch (its health record's period)."""

MAX_EVENT_ROWS = 200
"""The most events the page's table lists (the newest; events.json has every one)."""


class Timeline:
    """A bounded history of a watch's smoothed score for its plot: consecutive frames are
    pooled into bins (one frame each at first; `TIMELINE_POINTS` bins at most, then pairs
    merged and the width doubled), each keeping its frames' highest score (so an event's
    peak survives the pooling), its first frame's arrival time and its last frame's.

    Times are seconds since the epoch (UTC) when the frame was read from the source; shapes
    of `arrays()`: (B,) each for B <= `TIMELINE_POINTS` bins."""

    def __init__(self, points: int = TIMELINE_POINTS) -> None:
        if points < 2 or points % 2:
            raise ValueError(f"a timeline needs an even number of points >= 2, got {points}")
        self.points = points
        self.width = 1  # frames per bin
        self._first = np.empty(points)  # arrival of each bin's first frame (epoch s)
        self._last = np.empty(points)  # arrival of its last frame
        self._high = np.empty(points)  # its frames' highest score
        self._count = np.zeros(points, dtype=np.int64)  # its frames
        self.bins = 0
        self.frames = 0

    def add(self, arrived: float, score: float) -> None:
        """Add the next frame: read at `arrived` (epoch seconds), smoothed `score` (a NaN
        score counts as none in its bin)."""
        k = self.bins - 1
        if k < 0 or self._count[k] >= self.width:
            if self.bins == self.points:
                self._merge()
            k = self.bins
            self.bins += 1
            self._first[k], self._high[k], self._count[k] = arrived, -math.inf, 0
        self._last[k] = arrived
        if score > self._high[k]:
            self._high[k] = score
        self._count[k] += 1
        self.frames += 1

    def _merge(self) -> None:
        """Merge neighbouring bins in pairs: half as many, each twice as wide."""
        half = self.points // 2
        self._first[:half] = self._first[0::2]
        self._last[:half] = self._last[1::2]
        self._high[:half] = np.maximum(self._high[0::2], self._high[1::2])
        self._count[:half] = self._count[0::2] + self._count[1::2]
        self.bins = half
        self.width *= 2

    def counts(self) -> np.ndarray:
        """The frames in each bin, (B,) int64 (`width` each but the last, maybe fewer)."""
        return self._count[:self.bins].copy()

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(first arrival, last arrival, highest score) per bin, copies; a bin whose frames'
        scores were all NaN has -inf."""
        n = self.bins
        return self._first[:n].copy(), self._last[:n].copy(), self._high[:n].copy()


def _epoch(clock: str | None) -> float | None:
    """Seconds since the epoch of a watch's clock time ("2026-12-05T20:38:07.123+00:00",
    `mulde.watch.clock_time`); None for none or one that does not parse."""
    if not clock:
        return None
    try:
        return datetime.fromisoformat(clock).timestamp()
    except (TypeError, ValueError):
        return None


def _clock_array(events: Sequence[Mapping[str, Any]], key: str) -> np.ndarray:
    """The events' clock times `key` (`mulde.watch.clock_time`, UTC) as seconds since the
    epoch, NaN where missing or not parsed; parsed at once (a flapping camera's thousands
    of events one by one took seconds a page)."""
    texts = [str(e.get(key) or "") for e in events]
    utc = [t[:-6] if t.endswith("+00:00") else "NaT" for t in texts]
    try:
        ms = np.array(utc, dtype="datetime64[ms]")
    except ValueError:  # one that is not ours: parsed alone
        return np.array([np.nan if (t := _epoch(x)) is None else t for x in texts])
    out = ms.astype("int64") / 1e3
    return np.where(np.isnat(ms), np.nan, out)


def _numbers(events: Sequence[Mapping[str, Any]], key: str) -> np.ndarray:
    """The events' number fields `key` (seconds into the source, a score), NaN where not a
    finite number."""
    return np.array([float(v) if isinstance(v := e.get(key), (int, float))
                     and math.isfinite(v) else np.nan for e in events], dtype=float)


def _merged(starts: np.ndarray, ends: np.ndarray, gap: float
            ) -> tuple[np.ndarray, np.ndarray]:
    """The intervals [starts, ends] with those less than `gap` apart joined (a shade a
    pixel apart from the next is one shade to the eye; ten thousand rectangles took seconds
    to draw): (starts, ends) of the joined ones, in order, each (K,)."""
    order = np.argsort(starts, kind="stable")
    starts, ends = starts[order], np.maximum.accumulate(ends[order])
    new = np.concatenate(([True], starts[1:] > ends[:-1] + gap))
    first = np.flatnonzero(new)
    last = np.concatenate((first[1:] - 1, [len(starts) - 1]))
    return starts[first], ends[last]


VIDEO_TICKS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800,
                 21600, 43200, 86400)
"""The spacings (seconds) of a recording's time ticks, the first giving at most ten."""


def _video_time(seconds: float, _pos: object = None) -> str:
    """An x tick of a recording's plot: "1:05", "1:02:03" (`_position` to the second)."""
    return _position(seconds, decimals=0)


def timeline_png(timeline: Timeline, threshold: float | None,
                 events: Sequence[Mapping[str, Any]], title: str,
                 fps: float | None = None) -> bytes | None:
    """A PNG of the watch's smoothed score over time: the bins' highest scores
    (`Timeline`; an infinite one at the top of the plot), the `threshold` dashed (none drawn
    for an infinite one), and each event shaded from its start to its end with its number
    (from 1, as the page's table) at its peak. The x axis is the clock time the frames were
    read (UTC, whatever matplotlibrc's time zone), the line broken where frames did not
    flow (a step between bins of more than 5 s and three times the usual one: a
    reconnection, a stall); with `fps` (a recording, read as fast as it decodes, whose clock
    times say little), the time into the video instead (frame / fps, the events' `start_s`,
    `end_s`, `peak_s`), as the page's table gives it. None before any frame. The y axis is
    symmetric-log (linear in [-1, 1]), the calibrated scale of
    `mulde.evaluation.plots.video_png`."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    from mulde.evaluation.plots import (
        SCORE_COLOR,
        THRESHOLD_COLOR,
        _png,
        _style,
        _text,
        symlog_scores,
    )

    first, last, high = timeline.arrays()
    if not len(first):
        return None
    if threshold is not None and not math.isfinite(threshold):
        threshold = None  # --threshold inf: no event, no line (matplotlib refuses its limit)
    finite = high[np.isfinite(high)]
    low = min(float(finite.min()) if len(finite) else 0.0, threshold or 0.0, 0.0) - 0.1
    top = max(float(finite.max()) if len(finite) else 1.0, threshold or 0.0, 1.0) * 1.3 + 0.1
    # an infinite score at the top of the plot (a peak, not a hole); a bin of NaNs a hole
    y = np.where(np.isposinf(high), top, np.where(np.isfinite(high), high, np.nan))
    if fps:  # each bin's frames from their count: frame / fps at the bin's middle
        counts = timeline.counts()
        start = np.cumsum(counts) - counts
        x = (start + (counts - 1) / 2) / fps
        lo, hi = start[0] / fps, (start[-1] + counts[-1]) / fps
        spans = np.column_stack([_numbers(events, "start_s"), _numbers(events, "end_s")])
        peak_x = _numbers(events, "peak_s")
    else:
        # a break in the flow of frames: a step between bins of more than 5 s and three
        # times the usual one (a camera of a frame every 10 s flows; a bin's own span was
        # 0 s there)
        step = np.median(np.diff(first)) if len(first) > 1 else 0.0
        pause = np.flatnonzero(np.diff(first) > max(5.0, 3 * step)) + 1
        x = np.insert((first + last) / 2, pause, np.nan)
        y = np.insert(y, pause, np.nan)
        lo, hi = first[0], last[-1]
        spans = np.column_stack([_clock_array(events, "start_at"),
                                 _clock_array(events, "end_at")])
        peak_x = _clock_array(events, "peak_at")
    # the x axis spans the frames watched (one frame's too: matplotlib widened one date to
    # years), with a margin of 2 % of it, a second at least
    pad = max(1.0, 0.02 * (hi - lo))
    left, right = lo - pad, hi + pad

    epoch_day = float(date2num(np.datetime64(0, "s")))  # matplotlib's date of 1970-01-01

    def axis(t: np.ndarray) -> np.ndarray:  # seconds -> the axis' unit (dates: days)
        return t if fps else t / 86400.0 + epoch_day

    fig = Figure(figsize=(9.6, 2.8), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(axis(x), y, color=SCORE_COLOR, linewidth=1.2,
            marker="o" if len(first) == 1 else None, markersize=4,
            label="smoothed score" + (f" (highest of {timeline.width} frames a point)"
                                      if timeline.width > 1 else ""))
    if threshold is not None:
        ax.axhline(threshold, color=THRESHOLD_COLOR, linewidth=1.1, linestyle="--",
                   label=f"threshold {threshold:.3g}")
    # the events as one collection and one line of markers, drawn in about the same time
    # for ten thousand events as for one (an artist each took 13 s); a shade at least a
    # 400th of the plot wide, so that seconds in a day stay visible
    shown = np.all(np.isfinite(spans), axis=1)
    if shown.any():
        a = spans[shown, 0]
        a, b = _merged(a, np.maximum(spans[shown, 1], a + (right - left) / 400),
                       (right - left) / 1000)
        ax.broken_barh(list(zip(axis(a), axis(b) - axis(a), strict=True)), (low, top - low),
                       color=THRESHOLD_COLOR, alpha=0.18, linewidth=0, label="event")
    scores = _numbers(events, "score")
    marked = np.flatnonzero(np.isfinite(peak_x) & np.isfinite(scores))
    if len(marked):
        at, v = axis(peak_x[marked]), np.minimum(scores[marked], top)
        ax.plot(at, v, linestyle="none", marker="v", color=THRESHOLD_COLOR, markersize=5)
        if len(marked) <= 60:  # numbers beyond that overlap into a smear
            for k, x_at, v_at in zip(marked, at, v, strict=True):
                ax.annotate(str(k + 1), (x_at, v_at), xytext=(0, 5),
                            textcoords="offset points", ha="center", fontsize=7,
                            color=THRESHOLD_COLOR)
    ax.set_xlim(axis(np.array(left)), axis(np.array(right)))
    if fps:  # ticks at whole seconds, minutes or hours, at most about ten
        step = next((t for t in VIDEO_TICKS_S if (right - left) / t <= 10), VIDEO_TICKS_S[-1])
        ax.xaxis.set_major_locator(MultipleLocator(step))
        ax.xaxis.set_major_formatter(FuncFormatter(_video_time))
        ax.set_xlabel("time into the video", fontsize=8)
    else:
        locator = AutoDateLocator(tz=timezone.utc)  # not matplotlibrc's `timezone`, if set
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator, tz=timezone.utc))
        ax.set_xlabel("clock time (UTC) at which the frames were read", fontsize=8)
    symlog_scores(ax)
    ax.set_ylim(low, top)
    ax.set_ylabel("calibrated score\n(symlog)", fontsize=8)
    _style(ax)
    fig.suptitle(_text(title), fontsize=10, x=0.01, ha="left")
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=4, fontsize=7,
              frameon=False, borderaxespad=0.2, handlelength=1.5)
    return _png(fig)


def _duration(seconds: float | None) -> str:
    """A length of time for a person: "45 s", "12 min 5 s", "3 h 20 min"."""
    if seconds is None or not math.isfinite(seconds):
        return DASH
    s = round(seconds)
    if s < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


def _recording_fps(summary: Mapping[str, Any]) -> float | None:
    """The frame rate of a watch's source where it is a recording (a file or a frame
    folder, read as fast as it decodes, so placed by the time into it), None for a live
    one: from watch.json's `kind` and `fps`."""
    fps = summary.get("fps")
    return float(fps) if summary.get("kind") in ("file", "folder") and fps else None


def second_clock(clock: str | None) -> str:
    """A clock time of the watch's outputs (`mulde.watch.clock_time`) shown to the second,
    UTC ("2026-12-05 20:38:07"); a dash for none or one that does not parse."""
    t = _epoch(clock)
    if t is None:
        return DASH
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _position(seconds: float, decimals: int = 1) -> str:
    """A time into a recording, as a player shows it, its seconds to `decimals` places:
    "1:23.4", "1:02:03.0" (0 places: "1:23", "1:02:03")."""
    # rounded before it is split: 119.97 s is 2:00.0, not 1:60.0
    minutes, s = divmod(round(max(0.0, seconds), decimals), 60)
    hours, minutes = divmod(int(minutes), 60)
    second = f"{s:0{3 + decimals if decimals else 2}.{decimals}f}"
    return f"{hours}:{minutes:02d}:{second}" if hours else f"{minutes}:{second}"


def _event_rows(out: Path, events: Sequence[Mapping[str, Any]], running: bool,
                recording: bool) -> list[str]:
    """The table of events, newest first (at most `MAX_EVENT_ROWS`); `running`: the watch
    runs (a clip not yet in place is being written); `recording`: the source is a file or a
    frame folder (each event's place in it is given)."""
    e = html.escape
    rows = ["<table><tr><th>#</th><th>snapshot</th><th>started (UTC)</th>"
            + ("<th>in the video</th>" if recording else "")
            + "<th>lasted</th><th>peak score</th><th>stream that fired</th><th>clip</th>"
            "<th></th></tr>"]
    numbered = list(enumerate(events, start=1))
    for k, event in reversed(numbered[-MAX_EVENT_ROWS:]):
        snap = event.get("snapshot")
        picture = DASH
        if snap and (out / "events" / snap).is_file():
            link = e(f"events/{snap}", quote=True)
            picture = (f'<a href="{link}"><img src="{link}" alt="event {k}" loading="lazy">'
                       "</a>")
        clip = event.get("clip")
        # a clip is renamed into place once its post-roll is written: until then, while the
        # watch runs, it is being written (an event that ended has one too)
        movie = (f'<a href="{e(f"events/{clip}", quote=True)}">{e(clip)}</a>'
                 if clip and (out / "events" / clip).is_file() else
                 "being written" if clip and running else DASH)
        lasted = (float(event["end_s"]) - float(event["start_s"])
                  if "start_s" in event and "end_s" in event else None)
        length = _duration(lasted) + (" so far" if event.get("ongoing") and running else "")
        place = ("" if not recording else
                 f"<td class='n'>{_position(float(event['start_s']))}</td>"
                 if "start_s" in event else f"<td>{DASH}</td>")
        flags = [label for key, label in (("ongoing", "ongoing"),
                                          ("cut_short", "cut short: the watch stopped"),
                                          ("clip_capped", "clip cut at its longest"),
                                          ("clip_cut_short", "clip's end cut short"))
                 if event.get(key)]
        score = event.get("score")
        peak = f"{score:.2f}" if isinstance(score, (int, float)) else DASH
        rows.append(f"<tr><td class='n'>{k}</td><td class='thumb'>{picture}</td>"
                    f"<td>{second_clock(event.get('start_at'))}</td>{place}"
                    f"<td class='n'>{length}</td><td class='n'>{peak}</td>"
                    f"<td>{e(str(event.get('stream') or '')) or DASH}</td>"
                    f"<td>{movie}</td><td>{e('; '.join(flags))}</td></tr>")
    rows.append("</table>")
    if len(events) > MAX_EVENT_ROWS:
        rows.append(f"<p class='sub'>the {MAX_EVENT_ROWS} newest of {len(events)} events; "
                    "events.json lists every one.</p>")
    return rows


def _threshold_text(value: Any, definition: Any) -> str:
    """The threshold's value and how it was set, the value said once (a definition of the
    model's rule starts with it; "set by hand (--threshold)" does not)."""
    number = f"{value:.4g}" if isinstance(value, (int, float)) else DASH
    told = str(definition or "")
    if not told:
        return number
    return told if told.startswith(number) else f"{number}: {told}"


def page_html(out: Path, summary: Mapping[str, Any], events: Sequence[Mapping[str, Any]],
              plot: bytes | None) -> str:
    """The page's HTML: `summary` is watch.json's dict (`mulde.watch.Watcher`), `events`
    events.json's list, `plot` `timeline_png`'s PNG (None: no frame yet); the snapshots and
    clips are linked relative to `out`, the folder the page is written into."""
    from mulde.evaluation.report import PAGE_CSS, embedded_png

    e = html.escape
    running = summary.get("stopped") == "running"
    source = str(summary.get("source", ""))
    latency = summary.get("latency_s") or {}
    rate = summary.get("frames_per_s")
    recording = _recording_fps(summary)
    title = f"mulde watch: {source}"
    if running:
        when = (f"started {second_clock(summary.get('started_at'))} UTC &middot; running: this "
                f"page shows it at {second_clock(summary.get('ended_at'))} UTC and reloads every "
                f"{REFRESH_S} s")
    else:
        when = (f"{second_clock(summary.get('started_at'))} to "
                f"{second_clock(summary.get('ended_at'))} UTC &middot; stopped: "
                f"{e(str(summary.get('stopped', '')))}")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f'<meta name="generator" content="mulde {e(__version__)} watch">',
        *([f'<meta http-equiv="refresh" content="{REFRESH_S}">'] if running else []),
        f"<title>{e(title)}</title><style>{PAGE_CSS}</style></head><body><main>",
        f"<h1>{e(title)}</h1>",
        f"<p class='sub'>{when}</p>",
        "<div class='cards'>",
    ]
    cards = (("Events", str(summary.get("events", len(events)))),
             ("Frames", f"{summary.get('frames', 0):,}"),
             # a recording's length (it is read as fast as it decodes); a live source's
             # time of frames flowing
             (("Video watched", _duration(summary.get("frames", 0) / recording))
              if recording else
              ("Watched", _duration(summary.get("flowing_s")))),
             ("Latency p95", DASH if not latency else
              f"{1000 * latency.get('p95', float('nan')):.0f} ms"))
    for k, v in cards:
        parts.append(f"<div class='card'><div class='k'>{k}</div><div class='v'>{v}</div></div>")
    parts.append("</div><h2>Score over time</h2>")
    if plot is None:
        parts.append("<p class='note'>No frame scored yet.</p>")
    else:
        parts.append(f"<div class='panel'>{embedded_png(plot, 'smoothed score over time')}</div>")
    parts.append("<h2>Events</h2>")
    if events:
        parts += _event_rows(out, events, running, recording is not None)
    else:
        parts.append("<p class='sub'>No event: the smoothed score stayed at or below the "
                     "threshold.</p>")
    notes = summary.get("notes") or []
    if notes:
        parts.append("<h2>Notes</h2><ul>")
        parts += [f"<li>{e(str(n))}</li>" for n in notes]
        parts.append("</ul>")
    threshold = summary.get("threshold")
    facts = (("source", f"{source} ({summary.get('kind', '')})"),
             ("model", f"{summary.get('model')} (digest {summary.get('model_digest')})"),
             ("threshold", _threshold_text(threshold, summary.get("threshold_definition"))),
             ("patience", f"{summary.get('patience')} frame"
              + ("" if summary.get("patience") == 1 else "s")),
             ("frame rate", f"{summary.get('fps', 0):g} frames/s"),
             ("speed", DASH if rate is None else f"{rate:.1f} frames/s scored"),
             ("latency", DASH if not latency else
              f"mean {1000 * latency['mean']:.0f} ms, p50 {1000 * latency['p50']:.0f} ms, "
              f"max {1000 * latency['max']:.0f} ms"),
             ("last frame read", f"{second_clock(summary.get('last_frame_at'))} UTC"
              if summary.get("last_frame_at") else DASH),
             ("reconnections", f"{summary.get('reconnects', 0)}"
              + "".join(f"; {d}" for d in summary.get("drops") or [])),
             ("mulde", str(summary.get("mulde_version", ""))))
    parts.append("<h2>The watch</h2><table>")
    parts += [f"<tr><th>{k}</th><td>{e(v)}</td></tr>"
              for k, v in facts]
    parts.append("</table><p class='sub'>watch.json has the whole record, events.json every "
                 "event, scores.csv every frame's scores.</p>")
    earlier = summary.get("earlier_outputs")
    if earlier and (out / earlier / PAGE_NAME).is_file():
        link = e(f"{earlier}/{PAGE_NAME}", quote=True)
        parts.append(f"<p class='sub'>The watch before this one into this folder: "
                     f'<a class="earlier" href="{link}">{e(str(earlier))}/{PAGE_NAME}</a>.</p>')
    parts.append("</main></body></html>")
    return "\n".join(parts)


_EARLIER_LINK = 'class="earlier" href="'
_REFRESH = re.compile(r'<meta http-equiv="refresh" content="\d+">\n?')
UNFINISHED_NOTE = ("<p class='note'>This watch ended without its last record (killed, or the "
                   "machine stopped): the page is as it last wrote it; an event it had open "
                   "is still ongoing, and that event's clip is missing.</p>")
"""What a moved page of a watch that was killed says under its title (`mark_moved_page`)."""


def mark_moved_page(folder: str | Path, unfinished: bool) -> None:
    """Bring the page of an earlier watch up to date once its outputs were moved into
    `folder` (out/earlier/STAMP/, `mulde.watch.keep_earlier_outputs`): its link to the
    watch before it, written relative to out/, is made relative to its new place (a
    sibling folder); with `unfinished` (the watch ended without its last record), the page
    stops reloading itself and says so under its title. A page that is missing or not a
    watch's is left as it is; written atomically."""
    page = Path(folder) / PAGE_NAME
    try:
        text = page.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return
    if not PAGE_MARK.search(text[:4096]):
        return
    text = re.sub(re.escape(_EARLIER_LINK) + r"[^/\"]+/", _EARLIER_LINK + "../", text)
    if unfinished and UNFINISHED_NOTE not in text:
        text = _REFRESH.sub("", text, count=1)
        head, title_end, rest = text.partition("</h1>")
        text = head + title_end + UNFINISHED_NOTE + rest if title_end else text
    write_bytes(page, text.encode("utf-8"))


def write_watch_page(out: str | Path, summary: Mapping[str, Any],
                     events: Sequence[Mapping[str, Any]], timeline: Timeline) -> Path:
    """Write the overview page (`PAGE_NAME`) into the watch's output folder `out`,
    atomically, from watch.json's `summary`, events.json's `events` and the `timeline`;
    return its path."""
    out = Path(out)
    plot = timeline_png(timeline, summary.get("threshold"), events,
                        f"{summary.get('source', '')}: smoothed score",
                        fps=_recording_fps(summary))
    path = out / PAGE_NAME
    write_bytes(path, page_html(out, summary, events, plot).encode("utf-8"))
    return path
