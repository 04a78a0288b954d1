"""Evaluation reports: frame_scores.csv, metrics.json, PNG plots and one self-contained HTML page.

`write_report` is the one entry point used by the CLI (`mulde evaluate`) and the pipeline.
Every file is written atomically (temp file in the same folder, then `os.replace`).
"""

from __future__ import annotations

import base64
import csv
import datetime as _dt
import html
import importlib
import importlib.metadata
import io
import json
import os
import platform
import re
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from mulde._version import __version__
from mulde.evaluation.alerts import FOR_INFORMATION, describe_events, event_precision_recall
from mulde.evaluation.metrics import EvaluationError, check_labels, micro_roc_curve
from mulde.evaluation.plots import roc_png, video_png
from mulde.evaluation.protocol import (
    EvaluationProtocol,
    compute_metrics,
    nonfinite_note,
    nonfinite_replaced,
)
from mulde.io.atomic import write_bytes, write_files
from mulde.io.features import whole_number
from mulde.vad.fusion import Calibration

CSV_COLUMNS = ("video", "frame", "label", "score", "score_unsmoothed")
NO_LABELS_NOTE = ("no labels were given, so no AUC is computed: frame scores and plots only, "
                  "no metrics")
NO_THRESHOLD_NOTE = ("no alert threshold given: no threshold line on the curves and no events "
                     "listed")
MAX_THUMBNAILS = 8  # per video: the events with the highest peaks get a thumbnail
MAX_EVENT_ROWS = 50  # per video in the HTML (metrics.json lists every event)

FrameRenderer = Callable[[str, Sequence[int]], Mapping[int, "Snapshot"]]
"""(video name, frames) -> {frame: Snapshot of that frame, top object boxed}; frames that
cannot be decoded are left out (e.g. `mulde.evaluation.snapshots.frame_renderer`)."""

_PACKAGES = {  # key in the versions dict -> (distribution name, module name)
    "mulde": ("mulde", "mulde"),
    "torch": ("torch", "torch"),
    "numpy": ("numpy", "numpy"),
    "scipy": ("scipy", "scipy"),
    "sklearn": ("scikit-learn", "sklearn"),
    "matplotlib": ("matplotlib", "matplotlib"),
}


def single_class(labels: Mapping[str, ArrayLike | None]) -> tuple[int, int] | None:
    """(n, c) where the n labelled videos of `labels` ({video: 0/1 per frame, or None}) mark
    every frame with the one class c (0 normal, 1 anomalous), so that no AUC exists; None
    where they hold both classes or none is labelled."""
    known = [np.asarray(y) for y in labels.values() if y is not None]
    if not known:
        return None
    values = np.unique(np.concatenate([y.ravel() for y in known]))
    return (len(known), int(values[0])) if len(values) == 1 else None


def single_class_cause(n: int, value: int, videos: str = "labelled video(s)") -> str:
    """Why a report of n labelled `videos` whose frames all have the class `value` (as
    `single_class` gives them) has no AUC, in one clause."""
    kind = "anomalous" if value else "normal"
    return f"the labels of the {n} {videos} mark every frame {kind}, and the AUCs need both " \
        "classes"


def single_class_note(cause: str, metrics_only: bool = False) -> str:
    """The report's note (metrics.json "note") for a report without AUCs for `cause`; with
    `metrics_only` (metrics.json alone is written) no frame scores or plots are promised."""
    if metrics_only:
        return f"{cause}, so no AUC is computed: no metrics (--metrics-only writes no plots)"
    return f"{cause}, so no AUC is computed: frame scores and plots, no metrics"


def partial_note(evaluated: int, total: int, left: str, dataset: str | None = None,
                 benchmark: bool = True, how: str = "") -> str:
    """The note (metrics.json "notes", printed by `mulde evaluate` and `mulde run`) of an
    evaluation over `evaluated` of the `total` test videos of `dataset` (a name, or None);
    `left` says which others were not scored and why ("1 without scores, first 01_0002"),
    `how` follows "partial evaluation" (" (--partial)"). The numbers are said not to be the
    benchmark's (`benchmark`), else not to be over all of them; the report's headline says
    the same (`_summary`, from config's `videos_without_scores`)."""
    of = f" of {dataset}" if dataset else ""
    return (f"partial evaluation{how}: {evaluated} of the {total} test video"
            f"{'s' * (total != 1)}{of} evaluated ({left}): the numbers are "
            f"{_not_all(benchmark)}")


def _not_all(benchmark: bool) -> str:
    """What the numbers of a partial evaluation are not (`partial_note`)."""
    return "not the benchmark's" if benchmark else "not over all of them"


def library_versions() -> dict[str, str | None]:
    """Return {package: version or None when missing} for python, mulde, torch, numpy, scipy,
    sklearn and matplotlib. Reads installed metadata; imports a module only as a fallback."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for key, (dist, module) in _PACKAGES.items():
        try:
            out[key] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            try:
                version = getattr(importlib.import_module(module), "__version__", None)
            except Exception:  # missing or broken install: a version report must not fail
                version = None
            out[key] = None if version is None else str(version)
    return out


@dataclass(frozen=True)
class Snapshot:
    """One test video's most anomalous frame as a PNG (the top object boxed, when it has a
    box) with what the report says about it: `frame`, `score` and free-form `details`."""

    png: bytes
    frame: int
    score: float
    details: Mapping[str, Any] = field(default_factory=dict)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Enum):
        return o.value
    if hasattr(o, "to_dict"):
        return o.to_dict()
    return str(o)


def _video_png_name(i: int, name: str, kind: str = "video") -> str:
    """File name of the i-th (1-based) video's plot: <kind>_NNN_<name, safe characters>.png."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:60]
    return f"{kind}_{i:03d}_{safe or 'video'}.png"


def _frame_scores_csv(
    raw: Mapping[str, np.ndarray],
    final: Mapping[str, np.ndarray],
    labels: Mapping[str, np.ndarray | None],
) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for name, s in final.items():
        y = labels.get(name)
        r = raw[name]
        for i in range(s.size):
            label = "" if y is None else int(y[i])
            w.writerow((name, i, label, repr(float(s[i])), repr(float(r[i]))))
    return buf.getvalue().encode("utf-8")


KEY_COLUMNS = ("video", "frame", "label")
"""The columns of a score CSV that are not scores: the video's name, the 0-based frame and the
optional 0/1 label."""

WATCH_COLUMNS = ("frame", "time_s", "score", "smoothed")
"""The first columns of `mulde watch`'s scores.csv (one stream, no video column)."""


def read_frame_scores(
    path: str | os.PathLike, column: str = "score", *, video: str | None = None
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray | None]]:
    """Read a frame_scores.csv; return ({video: scores}, {video: labels or None}).

    `column` is the column of the scores: "score" (in a mulde report, the final, smoothed
    scores the metrics use), "score_unsmoothed", or the name another method gives its scores.
    The `label` column is optional (any method's `video,frame,score` CSV reads too); a label
    is 1 or 0, or True or False in any case (as pandas writes a column of booleans). The file
    is UTF-8, with or without the byte-order mark Excel writes; spaces around the header's
    names and the video names are ignored. A video's rows may come in any order, together or
    interleaved with other videos': each video's rows are sorted by frame, which must then
    run 0..n-1 (whole numbers, also written as floats: 0.0, 1.0) without a gap or a repeat.
    Videos keep the order of their first rows.

    `video`: the file holds the rows of this one video alone (a score folder's file, named
    after it): the `video` column may be left out (where given, every row must name this
    video) and so may `frame` (the rows are then the frames 0, 1, 2, ... in file order).

    Errors name the file and the row (its line as an editor counts them, the header line 1,
    blank lines included, in the file as given, not as sorted), and the column of a bad
    cell: an empty, non-numeric or NaN score, an empty or non-whole frame, a label other than
    0/1/True/False, a frame given twice, frames with a gap (a video whose frames run on from
    k > 0 is a method's scores from frame k on, which `--frame-offset` is for). A row of
    more or fewer fields than the header is an error naming both counts (a score written
    with a decimal comma, 0,1461, is two fields: read, it gave the score 0 unsaid; the error
    asks "decimal comma?"). A header without the columns needed names the columns it has and
    what to do.
    """
    if column in KEY_COLUMNS:
        raise EvaluationError(f"column {column!r} is not a score column (video, frame and "
                              "label name the frames); give the column of the scores")
    path = Path(path)
    rows: dict[str, list[tuple[int, int, float, int | None]]] = {}  # (frame, line, score, label)
    with path.open(newline="", encoding="utf-8-sig") as f:  # -sig: Excel's byte-order mark
        reader = csv.reader(f)
        found = [c.strip() for c in next(reader, [])]
        problem = _header_problem(path, found, column, one_video=video is not None)
        if problem:
            raise EvaluationError(problem)
        at = {c: found.index(c) for c in ("video", "frame", column, "label") if c in found}
        line = reader.line_num
        for fields in reader:
            line, last = line + 1, reader.line_num  # the row's first line (a quoted field
            if not fields:  # may span lines); a blank line is no row, as csv.DictReader says
                line = last
                continue
            if len(fields) != len(found):  # a decimal comma's extra field read no digits
                raise EvaluationError(_field_count_problem(path, line, fields, found, at[column]))
            name = fields[at["video"]].strip() if "video" in at else video
            if video is not None and name != video:
                raise EvaluationError(
                    f"{path}, row {line}, column 'video': {name!r}, but the file's name says "
                    f"video {video!r} (a score folder holds one file per video, named after "
                    "it): evaluate a file of several videos' rows alone (format csv), not its "
                    "folder")
            own = rows.setdefault(name, [])
            frame = (_whole_number(path, line, "frame", fields[at["frame"]])
                     if "frame" in at else len(own))
            score = _score(path, line, column, fields[at[column]])
            label = None if "label" not in at else _label(path, line, fields, at["label"])
            own.append((frame, line, score, label))
            line = last
    for own in rows.values():
        own.sort()  # by frame, then by row (lines are unique): checked next to be 0..n-1
    problem = _frame_order_problem(path, rows)
    if problem:
        raise EvaluationError(problem)
    scores: dict[str, np.ndarray] = {}
    out_labels: dict[str, np.ndarray | None] = {}
    for name, own in rows.items():
        scores[name] = np.asarray([s for _, _, s, _ in own], dtype=np.float64)
        known = [y is not None for _, _, _, y in own]
        if any(known) and not all(known):
            raise EvaluationError(f"{path}: video {name!r} has labels for some frames only")
        out_labels[name] = (np.asarray([y for _, _, _, y in own], dtype=np.int8)
                            if all(known) else None)
    return scores, out_labels


_DIGITS = re.compile(r"[+-]?[0-9]+")
_DECIMALS = re.compile(r"[0-9]+(?:[eE][+-]?[0-9]+)?")


def decimal_comma(fields: Sequence[str], index: int) -> str | None:
    """The hint for fields split at a decimal comma: "decimal comma? write 0.1461 for 0,1461
    (commas separate the fields)" where the field at `index` is a whole number and the next
    field digits alone (as 0,1461 splits); None otherwise."""
    if index + 1 >= len(fields):
        return None
    whole, decimals = fields[index].strip(), fields[index + 1].strip()
    if not (_DIGITS.fullmatch(whole) and _DECIMALS.fullmatch(decimals)):
        return None
    return (f"decimal comma? write {whole}.{decimals} for {whole},{decimals} (commas separate "
            "the fields; write numbers with a decimal point)")


def _field_count_problem(path: Path, line: int, fields: Sequence[str], found: Sequence[str],
                         score_at: int) -> str:
    """The one-line error for a row of another number of fields than the header `found`:
    both counts, and the decimal-comma hint (`decimal_comma`) where the scores' field
    (`score_at`, its index in the header) and the next look like a number split there."""
    said = (f"{path}, row {line}: {len(fields)} field{'s' if len(fields) != 1 else ''}, the "
            f"header {len(found)} ({','.join(found)})")
    if len(fields) < len(found):
        return said + "; give every row a value for each column of the header"
    comma = decimal_comma(fields, score_at)
    if comma:
        return f"{said}; {comma}"
    return said + ("; give every row one value per column of the header (a value holding a "
                   "comma goes in double quotes)")


def _whole_number(path: Path, line: int, column: str, text: str) -> int:
    value = text.strip()
    if not value:
        raise EvaluationError(f"{path}, row {line}, column {column!r}: empty; every row needs "
                              "its frame number (0, 1, 2, ... per video)")
    number = whole_number(value)  # 1.0 too, as pandas writes a column of floats
    if number is None:
        raise EvaluationError(f"{path}, row {line}, column {column!r}: {value!r} is not a "
                              "whole number; number each video's rows 0, 1, 2, ...")
    return number


def _score(path: Path, line: int, column: str, text: str) -> float:
    value = text.strip()
    if not value:
        raise EvaluationError(f"{path}, row {line}, column {column!r}: empty (a missing "
                              "score); every row needs a score: score every frame, or leave "
                              "out the rows of a video's unscored first or last frames and "
                              "give --frame-offset or --end-offset")
    try:
        score = float(value)
    except ValueError:
        comma = decimal_comma(value.split(","), 0) if value.count(",") == 1 else None
        raise EvaluationError(f"{path}, row {line}, column {column!r}: {value!r} is not a "
                              "number; " + (comma or "write each score as a number (e.g. 0.25 "
                                            "or 1e-3)")) from None
    if score != score:  # NaN: no place in the order of scores, said with its row here
        raise EvaluationError(f"{path}, row {line}, column {column!r}: {value!r} (NaN, no "
                              "score); every row needs a score that orders the frames: "
                              "score every frame, or leave out the rows of a video's "
                              "unscored first or last frames and give --frame-offset or "
                              "--end-offset")
    return score


_BOOLEAN_LABELS = {"false": 0, "true": 1}


def _label(path: Path, line: int, fields: list[str], index: int) -> int | None:
    """The label of a row: 0 or 1 as any number equal to them (0, 1, 0.0 and 1.0 as pandas
    writes a column of floats, 01, +1) or False / True in any case; None for an empty or
    missing cell."""
    value = fields[index].strip() if index < len(fields) else ""
    if not value:
        return None
    if value.lower() in _BOOLEAN_LABELS:
        return _BOOLEAN_LABELS[value.lower()]
    try:
        number = float(value)
    except ValueError:
        number = None
    if number not in (0.0, 1.0):
        raise EvaluationError(f"{path}, row {line}, column 'label': {value!r} is not a label; "
                              "write 1 (anomalous) or 0 (normal), or True / False")
    return int(number)


def _frame_order_problem(
    path: Path, rows: Mapping[str, Sequence[tuple[int, int, float, int | None]]]
) -> str | None:
    """The one-line error for each video's (frame, line, ...) rows, sorted by frame and line
    (the file's rows may come in any order: sorting them is the reader's work, not the
    user's), whose frames are not 0, 1, 2, ... once each; None when they are.

    A frame a video already has is said first (a repeated row, named with the row it
    repeats, wherever that is). Then, of the videos that miss a frame, the one whose row
    after the gap comes first in the file: a video whose frames run k, k+1, ... to its last
    is a method's scores from frame k on (k = 1: frames counted from 1), any other gap is
    named with the frame expected."""
    for name, own in rows.items():  # its earliest row repeating a frame, in file order
        repeats = [(b[1], a[1], b[0]) for a, b in pairwise(own) if a[0] == b[0]]
        if repeats:
            line, seen, frame = min(repeats)
            return (f"{path}, row {line}: video {name!r} frame {frame} again (row "
                    f"{seen}); one row per frame")
    gaps = []  # (line, video, frame, expected, runs on from its first frame)
    for name, own in rows.items():
        frames = [(frame, line) for frame, line, *_ in own]
        for want, (frame, line) in enumerate(frames):
            if frame != want:
                runs_on = want == 0 and frames[-1][0] - frame == len(frames) - 1
                gaps.append((line, name, frame, want, runs_on))
                break
    if not gaps:
        return None
    line, name, frame, want, runs_on = min(gaps)
    said = f"{path}, row {line}: video {name!r} frame {frame}, expected {want}; "
    if runs_on and frame == 1:
        return said + "frames count from 0: subtract 1 from 1-based frame numbers"
    if runs_on:
        return said + ("the frame column counts each video's scores from 0, not its "
                       f"video frames: for scores that start at video frame {frame}, "
                       f"number the rows 0, 1, 2, ... (subtract {frame}) and give "
                       f"--frame-offset {frame}")
    return said + ("each video's rows must be its frames 0, 1, 2, ... without a gap (in any "
                   "order), one row per frame")


def _header_problem(path: Path, found: list[str], column: str,
                    one_video: bool = False) -> str | None:
    """The one-line error for a score CSV whose header `found` lacks video, frame or the
    scores' `column` (`one_video`, one video's file of a score folder: the scores' column
    alone is needed): the columns it has and what to do (None when nothing is missing)."""
    from mulde.io.features import other_separator

    needed = (column,) if one_video else ("video", "frame", column)
    missing = [c for c in needed if c not in found]
    if not missing:
        return None
    if not found:
        if one_video:
            return (f"{path}: empty; a video's score CSV holds one score per frame: a "
                    f"column {column} (or frame,{column} columns) under a header row")
        return (f"{path}: empty; a score CSV has a header row video,frame,{column} (label "
                "optional), then one row per frame")
    other = other_separator(found[0]) if len(found) == 1 else None
    if other:
        return f"{path}: the header {found[0]!r} is one field; {other}"
    if "video" in missing and all(c in found for c in WATCH_COLUMNS):
        return (f"{path}: the scores of one stream as mulde watch writes them (no video "
                "column); add a column video naming the video on every row (with --dataset: "
                "its test video's name, and --partial to evaluate that video alone)")
    has = f"the file has columns {found}"
    if missing == [column]:
        others = [c for c in found if c not in KEY_COLUMNS]
        # a column named for scores first; an index or id column last (a newcomer was told
        # "e.g. --column idx" beside anomaly_score)
        others.sort(key=lambda c: (not any(w in c.lower() for w in ("score", "psnr", "err",
                                                                    "loss", "energy")),
                                   c.lower() in ("idx", "index", "id", "row", "unnamed: 0")))
        example = f" (e.g. --column {others[0]})" if others else ""
        return (f"{path}: no column {column!r} of scores; {has}: name the scores' column "
                f"score (or score_unsmoothed), or give its name with --column{example}")
    index = next((c for c in found if c.lower() in SCORE_INDEX_NAMES), None)
    if missing == ["frame"] and index is not None:  # segment or snippet scores, numbered
        return (f"{path}: no column 'frame'; {has}: name the column {index} frame (each "
                "score's index in its video, 0, 1, 2, ...: with --segments-per-video or "
                "--frames-per-score the scores are then spread over the frames)")
    return (f"{path}: no column(s) {missing}; {has}: a score CSV has a header row naming the "
            f"columns video, frame and {column} (any order; label optional), then one row per "
            "frame")


SCORE_INDEX_NAMES = frozenset({"segment", "snippet", "clip", "chunk", "window", "index"})
"""Column names (lower case) that number a video's scores when each covers several frames
(fixed segments, 16-frame snippets): a CSV of them needs that column named frame."""


def _video_note(y: np.ndarray | None, events: Sequence[Mapping[str, Any]] | None) -> str | None:
    """What a labelled video of a single class shows instead of its (padded) AUC."""
    if y is None or (0 < np.count_nonzero(y) < y.size):
        return None
    n = None if events is None else len(events)
    if not np.count_nonzero(y):
        if n is None:
            return "no anomaly (AUC undefined)"
        return f"no anomaly \u00b7 {n} false alarm{'s' * (n != 1)} at the threshold"
    return "every frame anomalous" + ("" if n is None else
                                       f" \u00b7 {n} event{'s' * (n != 1)} at the threshold")


def _plot_images(
    raw: Mapping[str, np.ndarray],
    final: Mapping[str, np.ndarray],
    labels: Mapping[str, np.ndarray | None],
    metrics: Mapping[str, Any],
    protocol: EvaluationProtocol,
    streams: Mapping[str, Mapping[str, np.ndarray]] | None = None,
    calibrated: bool = False,
) -> dict[str, bytes]:
    """Return {file name: PNG}: roc.png (when labelled) and one video_NNN_<name>.png per video
    (threshold and events from `metrics`, the per-stream panel from `streams`)."""
    smoothed = protocol.smooths
    score_label = f"smoothed (\u03c3={protocol.sigma_text()})" if smoothed else "score"
    images: dict[str, bytes] = {}
    labelled = {n: y for n, y in labels.items() if y is not None}
    if metrics["labelled"]:  # labelled videos whose metrics were computed (not one class)
        runs = [(score_label, final, "micro_auc")]
        if smoothed:
            runs.append(("unsmoothed", raw, "micro_auc_unsmoothed"))
        curves = []
        for label, sc, key in runs:
            fpr, tpr = micro_roc_curve({n: sc[n] for n in labelled}, labelled)
            curves.append((label, fpr, tpr, metrics[key]))
        images["roc.png"] = roc_png(curves)
    per_video = metrics.get("per_video_auc", {})
    threshold = (metrics.get("threshold") or {}).get("value")
    events = metrics.get("events") or {}
    for i, (name, s) in enumerate(final.items(), start=1):
        ev = events.get(name) if threshold is not None else None
        images[_video_png_name(i, name)] = video_png(
            name,
            s,
            raw[name] if smoothed else None,
            labels[name],
            per_video.get(name),
            score_label=score_label,
            threshold=threshold,
            events=[(e["start"], e["end"], e["peak"], e["score"]) for e in ev or ()],
            streams=(streams or {}).get(name),
            calibrated=calibrated,
            note=_video_note(labels[name], ev),
        )
    return images


def _stream_scores(
    stream_scores: Mapping[str, Mapping[Any, ArrayLike]] | None,
    raw: Mapping[str, np.ndarray],
    protocol: EvaluationProtocol,
) -> dict[str, dict[str, np.ndarray]]:
    """{video: {stream name: scores smoothed like the fused ones}}; lengths checked."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for name, streams in (stream_scores or {}).items():
        if name not in raw:
            raise EvaluationError(f"stream scores for video {name!r} which has no scores")
        out[name] = {}
        for stream, s in streams.items():
            key = str(getattr(stream, "value", stream))
            a = np.asarray(s, dtype=np.float64)
            if a.shape != raw[name].shape:
                raise EvaluationError(f"video {name!r}: stream {key!r} has {a.size} frame "
                                      f"scores, the video {raw[name].size}")
            out[name][key] = protocol.smooth(a)
    return out


def _scale(protocol: EvaluationProtocol, calibrated: bool) -> str:
    """Words for the scale of the final curve (the one thresholds and events use)."""
    base = ("calibrated, fused (sum of the calibrated streams; 1 = a stream's training 99.9th "
            "percentile)" if calibrated else "the scores as given")
    if protocol.smooths:
        return f"{base}, smoothed (Gaussian, \u03c3={protocol.sigma_text()} frames)"
    return f"{base}, unsmoothed"


def _fps_of(fps: float | Mapping[str, float | None] | None, name: str) -> float | None:
    value = fps.get(name) if isinstance(fps, Mapping) else fps
    if value is None:
        return None
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise EvaluationError(f"video {name!r}: frame rate must be a positive number of "
                              f"frames/s, got {value}")
    return value


def _alerts(
    result: dict[str, Any],
    final: Mapping[str, np.ndarray],
    y: Mapping[str, np.ndarray | None],
    streams: Mapping[str, Mapping[str, np.ndarray]],
    threshold: float | None,
    fps: float | Mapping[str, float | None] | None,
    protocol: EvaluationProtocol,
    calibrated: bool,
    patience: int = 1,
) -> None:
    """Add threshold, events, false alarms and event-level precision/recall to `result`."""
    if threshold is None:
        result["threshold"] = None
        result["events"] = None
        result["events_note"] = NO_THRESHOLD_NOTE
        return
    threshold = float(threshold)
    if not np.isfinite(threshold):
        raise EvaluationError(f"the alert threshold must be a finite number, got {threshold}")
    if protocol.normalization != "none" or protocol.direction != "anomaly":
        raise EvaluationError(
            "an alert threshold is in the units of the anomaly scores, which the protocol's "
            f"direction {protocol.direction!r} / normalization {protocol.normalization!r} "
            "change: give no threshold, or use direction 'anomaly' and normalization 'none'")
    if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
        raise EvaluationError(f"event patience must be a whole number of frames >= 1, got "
                              f"{patience!r}")
    result["threshold"] = {"value": threshold, "scale": _scale(protocol, calibrated),
                           "patience": patience}
    events = {n: describe_events(s, threshold, streams.get(n), _fps_of(fps, n), y[n],
                                 patience) for n, s in final.items()}
    result["events"] = events
    labelled = {n: v for n, v in y.items() if v is not None}
    result["false_alarms_in_normal_videos"] = {
        n: len(events[n]) for n, v in labelled.items() if not np.count_nonzero(v)}
    if labelled:
        result["event_metrics"] = event_precision_recall(events, labelled)


def _thumbnails(
    result: dict[str, Any],
    order: Mapping[str, int],
    render: FrameRenderer | None,
) -> dict[str, bytes]:
    """Render the peak frame of each video's highest events (`MAX_THUMBNAILS`); record the
    file name (under plots/) in the event's `thumbnail`. Returns {file name: PNG}."""
    images: dict[str, bytes] = {}
    if render is None or not result.get("events"):
        return images
    for name, events in result["events"].items():
        if not events:
            continue
        best = sorted(range(len(events)), key=lambda k: -events[k]["score"])[:MAX_THUMBNAILS]
        shots = render(name, sorted({events[k]["peak"] for k in best}))
        for k in best:
            snap = shots.get(events[k]["peak"])
            if snap is None:
                continue
            fname = _video_png_name(order[name], name, "event")[:-4] + f"_{k + 1:03d}.png"
            images[fname] = snap.png
            events[k]["thumbnail"] = f"plots/{fname}"
            box = snap.details.get("box")
            if box is not None:
                events[k]["box"] = box
                if snap.details.get("top object"):  # may differ from the event's stream
                    events[k]["box_stream"] = snap.details["top object"]
    return images


_PLOT_PATTERNS = ("roc.png", "video_*.png", "snapshot_*.png", "event_*.png")


def report_files(out_dir: str | os.PathLike,
                 keep: Collection[str | os.PathLike] = ()) -> list[Path]:
    """The files of a full report that `out_dir` holds (frame_scores.csv, report.html and the
    plots `write_report` names: plots/roc.png, video_*, snapshot_*, event_*.png), which
    `write_report(..., metrics_only=True)` removes as no longer matching its metrics.json;
    other files, and those in `keep` (e.g. the scores being evaluated), are never listed."""
    out = Path(out_dir)
    kept = {Path(k).resolve() for k in keep}
    files = [out / name for name in ("frame_scores.csv", "report.html")
             if (out / name).is_file() and (out / name).resolve() not in kept]
    plots = out / "plots"
    if plots.is_dir():
        files += sorted(p for pattern in _PLOT_PATTERNS for p in plots.glob(pattern)
                        if p.is_file())
    return files


REPORT_KEYS = ("protocol", "config", "versions", "created")
"""The metrics.json fields every `write_report` writes (a full report and a metrics.json
alone): a metrics.json with them is an earlier report's."""


def earlier_report(out_dir: str | os.PathLike,
                   keep: Sequence[str | os.PathLike] = ()) -> bool:
    """Whether `out_dir` holds an earlier report (a metrics.json of `write_report`: a JSON
    object with `REPORT_KEYS`), which a new report replaces; False when there is none.

    Checked before any work, so that a user's own files are not overwritten minutes later:
    raises EvaluationError naming a file there that a report would overwrite though no report
    wrote it, and what to do: a metrics.json that is not one of a report (not UTF-8 JSON, or
    without those fields), a report.html without such a metrics.json beside it or that is no
    mulde report's page (`_is_report_page`: of any version, not only that metrics.json's), a
    frame_scores.csv whose header is not `CSV_COLUMNS` (a report's, even one whose metrics
    failed, which leaves frame_scores.csv alone; judged beside a report's metrics.json too),
    unless it is one of `keep` (the scores `mulde evaluate` reads), and a file in plots/ of a
    report plot's name (`report_files`: roc.png, video_*.png, ...) without such a
    metrics.json or frame_scores.csv."""
    out = Path(out_dir)
    metrics, page, table = out / "metrics.json", out / "report.html", out / "frame_scores.csv"
    ours = False
    if metrics.is_file():
        try:
            fields = json.loads(metrics.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError):
            fields = None
        ours = isinstance(fields, dict) and all(k in fields for k in REPORT_KEYS)
        if not ours:
            _refuse_foreign(metrics, "not a mulde report's metrics.json (no JSON object with "
                                     f"the fields {', '.join(REPORT_KEYS)})")
    if page.is_file() and not ours:
        _refuse_foreign(page, "no mulde report's metrics.json beside it, so not taken for a "
                              "mulde report")
    if page.is_file() and not _is_report_page(page):
        _refuse_foreign(page, "not a mulde report's page (its head neither names mulde as "
                              "its generator nor states a report's creation time)")
    kept = {Path(k).resolve() for k in keep}
    reported = ours  # a report's metrics.json, or its frame_scores.csv (its metrics failed)
    if table.is_file() and table.resolve() not in kept:  # beside a report's metrics.json too
        with open(table, encoding="utf-8-sig", errors="replace") as fh:
            header = fh.readline().strip() == ",".join(CSV_COLUMNS)
        reported = reported or header
        if not header:
            _refuse_foreign(table, f"its header is not a mulde report's ({','.join(CSV_COLUMNS)})")
    plots = [p for p in report_files(out) if p.parent == out / "plots"]
    if plots and not reported:  # plots/roc.png, video_*.png ... of no report's
        _refuse_foreign(plots[0], "a file of the name a report's plot has, with no mulde "
                                  "report's metrics.json or frame_scores.csv beside its folder")
    return ours


_REPORT_PAGE = re.compile(r'<meta name="generator" content="mulde|<p class="sub">[^\n]*?'
                          r"&middot; created \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
"""The head of a page `write_report` wrote: its generator mark, or (pages before the mark)
its subtitle stating when it was created."""


def _is_report_page(page: Path) -> bool:
    """Whether the report.html `page` was written by a mulde report (of any version, whether
    or not of the metrics.json beside it: an older `--metrics-only` left the page of the
    report before, which a new report replaces); a user's own page is not."""
    try:
        with open(page, encoding="utf-8", errors="replace") as fh:
            head = fh.read(1 << 16)
    except OSError:
        return False
    return _REPORT_PAGE.search(head) is not None


def _refuse_foreign(path: Path, why: str) -> None:
    """Raise `earlier_report`'s EvaluationError for `path`, which `why` says is no report's."""
    raise EvaluationError(f"{path}: {why}; writing the report would overwrite it: give "
                          "another output folder (--out), or move the file away first")


def write_report(
    out_dir: str | os.PathLike,
    scores: Mapping[str, ArrayLike],
    labels: Mapping[str, ArrayLike | None] | None = None,
    *,
    protocol: EvaluationProtocol | None = None,
    calibration: Mapping[str, Calibration] | None = None,
    fusion: str | None = None,
    config: Mapping[str, Any] | None = None,
    seed: int | None = None,
    versions: Mapping[str, str | None] | None = None,
    timings: Mapping[str, float] | None = None,
    title: str = "MULDE evaluation",
    snapshots: Mapping[str, Snapshot] | None = None,
    metrics_only: bool = False,
    keep: Collection[str | os.PathLike] = (),
    warnings: Sequence[str] = (),
    notes: Sequence[str] = (),
    threshold: float | None = None,
    stream_scores: Mapping[str, Mapping[Any, ArrayLike]] | None = None,
    fps: float | Mapping[str, float | None] | None = None,
    event_frames: FrameRenderer | None = None,
    event_patience: int = 1,
    threshold_note: str | None = None,
    no_metrics_note: str | None = None,
    timings_note: str | None = None,
) -> dict[str, Any]:
    """Evaluate raw per-video frame scores and write the report; return the metrics.json dict.

    `scores`: {video: raw (unsmoothed) frame scores}, in report order; `protocol.prepare`
    turns them into finite anomaly scores (direction, non-finite policy, normalisation, over
    all videos given) before anything else. `labels`: {video: 0/1 per frame}, None or
    missing entries when unknown; metrics use the labelled videos only, and with no labels
    at all only scores and plots are written (the report says no labels were given and
    states the scores' steps, not the metrics' protocol). `protocol` (default
    EvaluationProtocol()) sets those steps, smoothing and the macro AUC definition;
    `calibration` ({stream: Calibration}) and `fusion` (a description) are recorded in
    metrics.json.

    Writes into `out_dir` (created if needed): frame_scores.csv (columns video, frame (0-based),
    label (empty when unknown), score (final, smoothed), score_unsmoothed (prepared, before
    smoothing; higher = more anomalous)), plots/roc.png, plots/video_NNN_<name>.png,
    metrics.json and report.html (self-contained), all staged and renamed in a row at the end
    (`mulde.io.atomic.write_files`): an interrupt or an error before then leaves an earlier
    report in `out_dir` whole. An EvaluationError raised by the metrics or the alerts writes
    frame_scores.csv alone, so that the scores survive to be looked at, where `out_dir` holds
    no earlier report (metrics.json or report.html), which it would otherwise contradict;
    where it holds one, the error says that the scores were not written.
    `snapshots` ({video: Snapshot}, in the order to show) add plots/snapshot_NNN_<name>.png
    and a section "Most anomalous moments"; their frame, score and details go into
    metrics.json.
    `metrics_only=True` writes metrics.json alone (no CSV, plots or HTML: batch checks) and
    removes the full report an earlier call left in `out_dir` (`report_files`; plots/ too
    when nothing else is left in it), which would not match the new metrics, except the
    files in `keep` (the scores file read, when it is the earlier report's frame_scores.csv).
    `warnings`: sentences from the caller (e.g. videos skipped as unreadable), listed in
    metrics.json's "warnings" after the metrics' own and shown at the top of the report.
    `notes`: sentences that qualify the numbers without being faults (e.g. how a concatenated
    array was split), listed in metrics.json's "notes" after the metrics' and the report's
    own and shown below the warnings. With the non-finite policy "replace", metrics.json's
    "nonfinite_replaced" (`nonfinite_replaced`: counts, share and values used; null when no
    score was infinite) and a note say what was replaced.

    Alerts. `threshold`: the alert threshold in the units of the final curve (the prepared
    scores after smoothing; with `calibration` given, the calibrated fused scale, where 1 is
    a stream's training 99.9th percentile: the curves then use a symmetric-log axis). It is
    drawn on every per-video curve, and the events above it (`mulde.vad.events.find_events`
    on the final scores) go into metrics.json "events" ({video: [{start, end, peak, score,
    n_frames, start_s, end_s, peak_s (with `fps`), stream (with `stream_scores`),
    overlaps_anomaly (labelled videos), thumbnail, box, box_stream}]}), with
    "false_alarms_in_normal_videos" (labelled videos without an anomalous frame: their
    event counts) and, with labels, "event_metrics" (event-level precision and recall,
    `mulde.evaluation.alerts`; for information, nothing is chosen from them). None (default):
    no line, no events ("events": null and "events_note" says so). A threshold needs
    direction 'anomaly' and normalization 'none' (else EvaluationError).
    `stream_scores` ({video: {stream: (T,) calibrated frame scores}}, smoothed here like the
    fused ones) add the per-stream panel and the stream that fired at each event's peak (the
    largest stream score there). `fps`: frames/s, one number or {video: number or None}, for
    the events' times in seconds. `event_frames` (a `FrameRenderer`) renders the peak frames
    of each video's `MAX_THUMBNAILS` highest events as thumbnails (plots/event_*.png).
    `event_patience` (frames): how many frames in a row at or below the threshold end an
    event (`find_events`' patience; use the live watcher's, so both list the same events).
    `threshold_note`: a warning about the threshold (e.g. `ThresholdFit.too_short`), kept in
    metrics.json's "threshold" as "note" and shown as a warning where the report states the
    threshold (ignored without a threshold). `no_metrics_note`: None (default) computes the
    metrics on the labelled videos, without any says that no labels were given
    (`NO_LABELS_NOTE`, metrics.json "note", shown in the report), and where they hold one
    class only says that (`single_class_note`; their labels are kept as below); a sentence
    computes no metrics even where videos are labelled and says why instead (labels of one
    class, with which no AUC exists): their labels still go into frame_scores.csv, the plots
    and the events (false alarms in normal videos). `timings` ({stage: seconds}) go into
    metrics.json's "timings" with the report's own "report_s"; `timings_note`, a sentence
    on what they cover (e.g. a resumed run's, which read work back), beside them as
    "timings_note" (shown with them in the report).
    """
    t0 = time.perf_counter()
    protocol = protocol or EvaluationProtocol()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    labels = labels or {}
    unknown = [n for n in labels if n not in scores]
    if unknown:
        raise EvaluationError(f"labels for video {unknown[0]!r} which has no scores")
    if not scores:
        raise EvaluationError("no videos to report (empty scores)")
    raw = protocol.prepare(scores)
    replaced = nonfinite_replaced(scores) if protocol.nonfinite == "replace" else None
    y = {
        n: None if labels.get(n) is None else check_labels(n, labels[n], s.size)
        for n, s in raw.items()
    }
    final = {n: protocol.smooth(s) for n, s in raw.items()}
    streams = _stream_scores(stream_scores, raw, protocol)
    calibrated = calibration is not None
    table = None if metrics_only else _frame_scores_csv(raw, final, y)

    labelled = {n: v for n, v in y.items() if v is not None}
    one_class = single_class(labelled)
    if no_metrics_note is None and one_class is not None:
        no_metrics_note = single_class_note(single_class_cause(*one_class), metrics_only)
    result: dict[str, Any] = {"title": title,
                              "labelled": bool(labelled) and no_metrics_note is None}
    try:
        if result["labelled"]:
            result.update(compute_metrics({n: raw[n] for n in labelled}, labelled, protocol,
                                          prepared=True))
            result["unlabelled_videos"] = [n for n in raw if n not in labelled]
        else:
            result["note"] = no_metrics_note or NO_LABELS_NOTE
            result["n_videos"] = len(raw)
            result["n_frames"] = int(sum(s.size for s in raw.values()))
            # the scores' own steps, without the metrics' definitions (the macro AUC's)
            result["protocol"] = {**protocol.to_dict(),
                                  "description": protocol.describe(False)}
            del result["protocol"]["macro"]
        result["protocol"]["calibration"] = (
            None if calibration is None else {k: c.to_dict() for k, c in calibration.items()}
        )
        result["protocol"]["fusion"] = fusion
        result["warnings"] = [*result.get("warnings", []), *warnings]
        result["nonfinite_replaced"] = replaced
        result["notes"] = [*result.get("notes", []),
                           *([nonfinite_note(replaced)] if replaced else []), *notes]
        _alerts(result, final, y, streams, threshold, fps, protocol, calibrated,
                event_patience)
    except EvaluationError as err:
        # the scores survive, to look at what the metrics refused, where no earlier report
        # would be left beside them (its page and metrics stay whole, the table with them)
        if table is None:
            raise
        earlier = [n for n in ("metrics.json", "report.html") if (out / n).exists()]
        if not earlier:
            write_bytes(out / "frame_scores.csv", table)
            raise
        raise EvaluationError(
            f"{err} (the frame scores were not written: {out} holds an earlier report, "
            f"{' and '.join(earlier)}, which they would contradict; give another output "
            "folder to keep them)") from err
    if result["threshold"] is not None and threshold_note:
        result["threshold"]["note"] = threshold_note
    result["config"] = dict(config) if config is not None else None
    result["seed"] = seed
    result["versions"] = dict(versions) if versions is not None else library_versions()
    if metrics_only:
        # the full report an earlier call left goes first: an interrupt between leaves the
        # earlier metrics.json alone, never new metrics beside an old page
        for stale in report_files(out, keep):
            stale.unlink(missing_ok=True)
        if (out / "plots").is_dir() and not any((out / "plots").iterdir()):
            (out / "plots").rmdir()
        text, written = _metrics_json(result, timings, timings_note, t0)
        write_bytes(out / "metrics.json", text)
        return written

    order = {n: i for i, n in enumerate(raw, start=1)}
    images = _plot_images(raw, final, y, result, protocol, streams, calibrated)
    images.update(_thumbnails(result, order, event_frames))
    snaps = {n: snap for n, snap in (snapshots or {}).items() if n in raw}
    for name, snap in snaps.items():
        images[_video_png_name(order[name], name, "snapshot")] = snap.png
    if snaps:
        result["snapshots"] = {n: {"frame": snap.frame, "score": snap.score, **snap.details}
                               for n, snap in snaps.items()}

    text, result = _metrics_json(result, timings, timings_note, t0)
    page = _html(result, raw, y, images)
    # every file staged, then renamed in a row (metrics.json last): an interrupt or a full
    # disk leaves the earlier report whole, not new scores beside its old page and plots
    write_files({**{out / "plots" / fname: png for fname, png in images.items()},
                 out / "frame_scores.csv": table, out / "report.html": page.encode("utf-8"),
                 out / "metrics.json": text})
    for pattern in _PLOT_PATTERNS:  # plots of an earlier report that this one does not have
        for stale in (out / "plots").glob(pattern):
            if stale.name not in images:
                stale.unlink()
    return result


def _metrics_json(result: dict[str, Any], timings: Mapping[str, float] | None,
                  timings_note: str | None, t0: float) -> tuple[bytes, dict[str, Any]]:
    """Add the timings (with the report's own "report_s" since `t0`), their note and the
    creation time to `result`; return metrics.json's bytes and the dict as read back from
    them (what a reader of the file gets)."""
    result["timings"] = {**(timings or {}), "report_s": round(time.perf_counter() - t0, 3)}
    if timings_note:
        result["timings_note"] = timings_note
    result["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    text = json.dumps(result, indent=2, allow_nan=False, default=_json_default)
    return (text + "\n").encode("utf-8"), json.loads(text)


# ----------------------------------------------------------------------------- HTML

# the style of the pages: report.html, and mulde watch's watch.html (mulde.watch_page)
PAGE_CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f4f6f8;color:#1d2630;
font:14px/1.5 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1120px;margin:0 auto;padding:28px 24px 48px}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:16px;margin:32px 0 12px;color:#1f4e79;border-bottom:1px solid #d8dee4;
padding-bottom:6px}
.sub{color:#5b6773;margin:0 0 20px}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{flex:1 1 160px;background:#fff;border:1px solid #dde3e9;border-radius:8px;
padding:12px 16px}
.card .k{font-size:12px;color:#5b6773;text-transform:uppercase;letter-spacing:.04em}
.card .v{font-size:28px;font-weight:600;color:#1f4e79}
.card .u{font-size:12px;color:#5b6773}
table{border-collapse:collapse;background:#fff;border:1px solid #dde3e9;font-size:13px}
th,td{padding:5px 12px;text-align:left;border-bottom:1px solid #edf0f3}
th{background:#f0f3f6;font-weight:600}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.proto{background:#fff;border-left:4px solid #1f4e79;padding:10px 14px;margin:14px 0 0}
.row{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}
.panel{background:#fff;border:1px solid #dde3e9;border-radius:8px;padding:8px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:12px}
.grid img,.panel img{width:100%;height:auto;display:block}
.snaps{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:12px}
figure{margin:0}figcaption{font-size:12px;color:#5b6773;padding:6px 2px 0}
.bar{display:inline-block;height:8px;background:#1f4e79;border-radius:2px;
vertical-align:middle;margin-right:6px}
.thumb{width:240px}.thumb img{width:100%;height:auto;display:block}
h3{font-size:14px;margin:18px 0 6px}
.note{background:#fff7e6;border:1px solid #f0d9a8;border-radius:6px;padding:10px 14px}
pre{background:#fff;border:1px solid #dde3e9;border-radius:6px;padding:10px 12px;
font-size:12px;overflow:auto;max-height:420px}
"""


def embedded_png(png: bytes, alt: str) -> str:
    """An <img> element holding the PNG bytes `png` (a data URL: the page needs no file
    beside it) with the alternative text `alt`."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def _pct(v: float | None) -> str:
    return "&ndash;" if v is None else f"{100 * v:.2f}"


def _summary(m: Mapping[str, Any]) -> str:
    if not m["labelled"]:
        why = "no labels" if m.get("note", NO_LABELS_NOTE) == NO_LABELS_NOTE else "no metrics"
        return f"{m['n_videos']} video{'s' * (m['n_videos'] != 1)}, {m['n_frames']} frames, " \
            + why
    text = (
        f"{m['n_videos']} labelled test video{'s' * (m['n_videos'] != 1)}, "
        f"{m['n_frames']} frames, "
        f"{m['n_anomalous_frames']} anomalous"
    )
    if m["unlabelled_videos"]:
        text += f"; {len(m['unlabelled_videos'])} unlabelled video(s) plotted, not scored"
    config = m.get("config") or {}
    left = config.get("videos_without_scores") or []
    if left:  # evaluate --partial, a run's skipped test videos: as `partial_note` says it
        numbers = _not_all(config.get("dataset") not in (None, "folder"))
        text += (f"; <b>partial: {m['n_videos']} of {m['n_videos'] + len(left)} test videos "
                 f"evaluated: the numbers are {numbers}</b>")
    return text


def _seconds(event: Mapping[str, Any], key: str) -> str:
    return "&ndash;" if key not in event else f"{event[key]:.2f}"


def _span_s(event: Mapping[str, Any]) -> str:
    """The event's first and last second, or one dash without a frame rate (a frame
    folder): three dashes in a row read like a rendering fault."""
    if "start_s" not in event:
        return "&ndash;"
    return f"{_seconds(event, 'start_s')}&ndash;{_seconds(event, 'end_s')}"


def _events_html(
    m: Mapping[str, Any],
    raw: Mapping[str, np.ndarray],
    labels: Mapping[str, np.ndarray | None],
    images: Mapping[str, bytes],
) -> list[str]:
    """The section "Events at the alert threshold": event-level precision/recall (labelled),
    then per video its events (frames, seconds, peak, stream, thumbnail)."""
    e = html.escape
    parts = ["<h2>Events at the alert threshold</h2>"]
    events = m.get("events")
    if events is None:
        parts.append(f"<p class='note'>{e(m.get('events_note', NO_THRESHOLD_NOTE))}.</p>")
        return parts
    th = m["threshold"]
    total = sum(len(v) for v in events.values())
    firing = sum(1 for v in events.values() if v)
    parts.append(f"<p class='sub'>{total} event(s) in {firing} of {len(events)} video(s): runs "
                 "of frames "
                 f"whose score is above the threshold {th['value']:.6g} ({e(th['scale'])}). "
                 "Numbers match the markers on the curves; the stream that fired is the one "
                 "with the largest calibrated score at the peak; the box is the peak frame's "
                 "highest-scoring object over all streams, which can belong to another "
                 "stream (its stream is written under it); seconds count from the "
                 "video's start at its file's frame rate (&ndash; for frame folders, which "
                 "record none).</p>")
    em = m.get("event_metrics")
    if em:
        parts.append(
            "<table><tr><th>event-level (" + e(FOR_INFORMATION) + ")</th><th>value</th></tr>"
            f"<tr><td>precision (true-positive events / events)</td><td class='n'>"
            f"{_pct(em['precision'])} % ({em['true_positive_events']} / {em['n_events']})"
            "</td></tr>"
            f"<tr><td>recall (recalled anomalous intervals / intervals)</td><td class='n'>"
            f"{_pct(em['recall'])} % ({em['recalled_intervals']} / "
            f"{em['n_anomalous_intervals']})</td></tr></table>"
            f"<p class='sub'>Definition: {e(em['definition'])}.</p>")
    fa = m.get("false_alarms_in_normal_videos") or {}
    if fa:
        listed = ", ".join(f"{e(n)}: {k}" for n, k in fa.items())
        parts.append(f"<p class='sub'><b>False alarms in test videos without anomalies</b> "
                     f"(events at the threshold): {listed}.</p>")
    has_stream = any("stream" in ev for evs in events.values() for ev in evs)
    for name, evs in events.items():
        y = labels.get(name)
        parts.append(f"<h3>{e(name)}: {len(evs)} event(s)</h3>")
        if not evs:
            continue
        head = ("<table><tr><th>#</th><th>frames</th><th>seconds</th><th>peak frame</th>"
                "<th>peak s</th><th>peak score</th>"
                + ("<th>stream</th>" if has_stream else "")
                + ("<th>ground truth</th>" if y is not None else "")
                + "<th>peak frame, top object boxed</th></tr>")
        parts.append(head)
        for k, ev in enumerate(evs[:MAX_EVENT_ROWS], start=1):
            thumb = ev.get("thumbnail", "")
            png = images.get(thumb.removeprefix("plots/")) if thumb else None
            alt = f"frame {ev['peak']} of {name}"
            boxed = (f"<div class='sub'>boxed: top object, {e(ev['box_stream'])} stream</div>"
                     if png and ev.get("box_stream") else "")
            cell = f"<div class='thumb'>{embedded_png(png, alt)}</div>{boxed}" if png else "&ndash;"
            gt = ""
            if y is not None:
                gt = ("<td>overlaps an anomaly</td>" if ev.get("overlaps_anomaly")
                      else "<td><b>false alarm</b></td>")
            parts.append(
                f"<tr><td class='n'>{k}</td><td class='n'>{ev['start']}&ndash;{ev['end']}</td>"
                f"<td class='n'>{_span_s(ev)}</td>"
                f"<td class='n'>{ev['peak']}</td><td class='n'>{_seconds(ev, 'peak_s')}</td>"
                f"<td class='n'>{ev['score']:.4g}</td>"
                + (f"<td>{e(ev.get('stream', ''))}</td>" if has_stream else "")
                + f"{gt}<td>{cell}</td></tr>")
        parts.append("</table>")
        if len(evs) > MAX_EVENT_ROWS:
            parts.append(f"<p class='sub'>{len(evs) - MAX_EVENT_ROWS} more event(s) in "
                         "metrics.json.</p>")
    return parts


def _html(
    m: Mapping[str, Any],
    raw: Mapping[str, np.ndarray],
    labels: Mapping[str, np.ndarray | None],
    images: Mapping[str, bytes],
) -> str:
    e = html.escape
    p = m["protocol"]
    sigma = p["smoothing_sigma"]
    sigmas = sigma if isinstance(sigma, list) else [sigma]
    sigma = ", ".join(f"{s:g}" for s in sigmas)
    # sigma 0 (UCF-Crime's default): the numbers are unsmoothed, not "smoothed (sigma=0)"
    smoothed = f"smoothed (&sigma;={sigma})" if any(sigmas) else "unsmoothed (&sigma;=0)"
    macro_name = m.get("macro_definition", p.get("macro", ""))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f'<meta name="generator" content="mulde {e(__version__)}">',
        f"<title>{e(m['title'])}</title><style>{PAGE_CSS}</style></head><body><main>",
        f"<h1>{e(m['title'])}</h1>",
        f'<p class="sub">{_summary(m)} &middot; created {e(m["created"])}</p>',
    ]
    if m["labelled"]:
        cards = [
            ("Micro AUC", m["micro_auc"]),
            ("Macro AUC", m["macro_auc"]),
            ("Average precision", m["average_precision"]),
            ("EER", m["eer"]),
        ]
        parts.append('<div class="cards">')
        for k, v in cards:
            parts.append(
                f'<div class="card"><div class="k">{k}</div><div class="v">{_pct(v)}</div>'
                f'<div class="u">% &middot; {smoothed}</div></div>'
            )
        parts.append("</div><h2>Metrics</h2><table><tr><th>metric (%)</th>")
        parts.append(f"<th>{smoothed}</th><th>unsmoothed</th></tr>")
        for key, label in (
            ("micro_auc", "Micro AUC (ROC, all frames)"),
            ("macro_auc", f"Macro AUC (mean per-video ROC, {e(macro_name)})"),
            ("average_precision", "Average precision (micro)"),
            ("eer", "Equal error rate (micro)"),
        ):
            parts.append(
                f'<tr><td>{label}</td><td class="n">{_pct(m[key])}</td>'
                f'<td class="n">{_pct(m[key + "_unsmoothed"])}</td></tr>'
            )
        parts.append("</table>")
    else:
        parts.append(f'<p class="note">{e(m["note"])}</p>')
    for warning in m.get("warnings", []):
        parts.append(f'<p class="note"><b>Warning:</b> {e(warning)}</p>')
    for note in m.get("notes", []):
        parts.append(f'<p class="note"><b>Note:</b> {e(note)}</p>')
    heading = "Protocol" if m["labelled"] else "Scores"  # no labels: no evaluation protocol
    parts.append(f'<p class="proto"><b>{heading}.</b> {e(p["description"])}')
    if p.get("calibration"):
        cal = "; ".join(
            f"{e(k)}: [{v['low']:.6g}, {v['high']:.6g}] (min, p{v['percentile']:g})"
            for k, v in p["calibration"].items()
        )
        parts.append(f"<br><b>Calibration</b> (training min &rarr; 0, percentile &rarr; 1): {cal}")
    if p.get("fusion"):
        parts.append(f"<br><b>Fusion:</b> {e(p['fusion'])}")
    if m.get("threshold"):
        parts.append(f"<br><b>Alert threshold:</b> {m['threshold']['value']:.6g} on the "
                     f"{e(m['threshold']['scale'])} scale (the dashed line on every curve); "
                     "an event is a run of frames above it, ended by "
                     f"{m['threshold']['patience']} frame(s) in a row at or below it.")
        if m["threshold"].get("note"):
            parts.append(f" <b>Warning:</b> {e(m['threshold']['note'])}.")
    else:
        parts.append(f"<br><b>Alert threshold:</b> none; {e(m.get('events_note', ''))}.")
    parts.append("</p>")

    if m["labelled"]:
        parts.append('<h2>ROC and per-video AUC</h2><div class="row">')
        parts.append(
            f'<div class="panel" style="flex:0 0 440px">'
            f'{embedded_png(images["roc.png"], "ROC")}</div>'
        )
        events = m.get("events")
        parts.append(
            "<table><tr><th>video</th><th>frames</th><th>anomalous</th>"
            f"<th>AUC % ({e(macro_name)})</th><th>unsmoothed</th>"
            + ("<th>events at the threshold</th>" if events is not None else "") + "</tr>"
        )
        for name in (n for n in raw if labels[n] is not None):
            auc = m["per_video_auc"].get(name)
            y = labels[name]
            note = _video_note(y, None if events is None else events[name])
            if note is not None:  # single class: the padded AUC says nothing about the video
                auc_cells = (f"<td class='n' colspan='2' title='padded in the macro AUC'>"
                             f"{e(note)}</td>")
            else:
                width = 0.0 if auc is None else max(0.0, min(1.0, auc)) * 60
                auc_cells = (f"<td class='n'><span class='bar' style='width:{width:.0f}px'>"
                             f"</span>{_pct(auc)}</td>"
                             f"<td class='n'>{_pct(m['per_video_auc_unsmoothed'].get(name))}"
                             "</td>")
            parts.append(
                f"<tr><td>{e(name)}</td><td class='n'>{raw[name].size}</td>"
                f"<td class='n'>{int(np.count_nonzero(y))}</td>{auc_cells}"
                + ("" if events is None else f"<td class='n'>{len(events[name])}</td>")
                + "</tr>"
            )
        parts.append("</table></div>")
        if any(n in m["per_video_auc"] and _video_note(labels[n], None) for n in raw
               if labels[n] is not None) and macro_name == "padded":
            parts.append("<p class='sub'>Videos of a single class show what happened in "
                         "them instead of their AUC (undefined; the padded macro AUC counts "
                         "them with their padded value).</p>")
    parts.append('<h2>Scores per video</h2><div class="grid">')
    for i, name in enumerate(raw, start=1):
        png = images[_video_png_name(i, name)]
        parts.append(f'<div class="panel">{embedded_png(png, f"scores of video {name}")}</div>')
    parts.append("</div>")
    parts.extend(_events_html(m, raw, labels, images))
    if m.get("snapshots"):
        order = {n: i for i, n in enumerate(raw, start=1)}
        parts.append("<h2>Most anomalous moments</h2><p class='sub'>Each video's frame with the "
                     "highest final score; the box marks the object that scored highest in "
                     "it (no box: the whole frame was the object; a small box is shown zoomed "
                     "beside the frame).</p><div class='snaps'>")
        for name, info in m["snapshots"].items():
            png = images[_video_png_name(order[name], name, "snapshot")]
            caption = " &middot; ".join(
                [f"<b>{e(name)}</b>", f"frame {info['frame']}", f"score {info['score']:.3g}"]
                + [f"{e(str(k))} {e(str(v))}" for k, v in info.items()
                   if k not in ("frame", "score", "box")])
            alt = f"frame {info['frame']} of {name}"
            parts.append(f'<figure class="panel">{embedded_png(png, alt)}'
                         f"<figcaption>{caption}</figcaption></figure>")
        parts.append("</div>")
    for key, heading in (("config", "Configuration"), ("versions", "Versions")):
        parts.append(f"<h2>{heading}</h2>")
        parts.append(f"<pre>{e(json.dumps(m[key], indent=2), quote=False)}</pre>")
    extra = {"seed": m["seed"], "timings (seconds)": m["timings"],  # metrics.json's timings
             **({"timings_note": m["timings_note"]} if "timings_note" in m else {})}
    parts.append(f"<h2>Run</h2><pre>{e(json.dumps(extra, indent=2), quote=False)}</pre>")
    parts.append("</main></body></html>\n")
    return "\n".join(parts)
