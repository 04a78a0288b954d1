"""Reading any method's frame scores and aligning them with the test frames of a dataset.

Score files (`read_scores`, `format=`):

- "csv": columns `video,frame,score[,label]` (any order, extra columns ignored; `column=`
  names another column of scores), each video's frames 0..n-1 once each, its rows in any
  order (sorted by frame when read), labels 1 / 0 or True / False (any case); UTF-8 with or
  without Excel's byte-order mark; a mulde report's `frame_scores.csv` has the columns
  `score` (smoothed) and `score_unsmoothed` (see `read_frame_scores`).
- "folder": one file per video, the video's name being the file stem: `.npy` (a 1-D array),
  `.npz` (its only array, or the array named `key`), `.txt` (numbers separated by
  whitespace, commas or line breaks; `#` starts a comment; a first line of one word that is
  no number, such as `score`, names the column and is skipped, but a missing-value word,
  None, null or NA, is a missing score, an error) or `.csv` (`_read_video_csv`:
  a header row naming the scores' column, `score` or `column=`, with an optional `frame`
  column placing the rows and an optional `label` column; or one column of numbers without
  a header).
- "npz": one `.npz` holding one 1-D array per video, keyed by the video's name.
- "array": one 1-D array with the scores of all test videos concatenated in the dataset's
  test order (`.npy`, `.txt`, or `.npz` with its only array or `key`); split by
  `split_array` with the frame counts of the ground truth.
- "auto" (default): a folder -> "folder", `.csv` -> "csv", `.npz` -> "npz", `.npy`/`.txt`
  -> "array".

Frame alignment (`FrameAlignment`): a method may score only some frames (future-frame
prediction skips the first frames, clip models skip both ends) or one score per segment of
frames. Score j of a video of n frames belongs to frames
`frame_offset + j * frames_per_score` ... `frame_offset + (j + 1) * frames_per_score - 1`,
and the scores cover frames `frame_offset` .. `n - end_offset - 1`. With
m = n - frame_offset - end_offset scored frames a video must have ceil(m / frames_per_score)
scores (the last segment may be partial) or floor(m / frames_per_score) (a last partial
segment without a score); anything else is an error naming the video and both counts.
Frames without a score are left out of the evaluation (`unscored="drop"`, as the
evaluation code of future-frame prediction does with its first frames) or take the score
of the nearest scored frame (`unscored="edge"`). Where the ground truth states anomalous
ranges only (UCF-Crime), a video's frame count is taken from a frame-count file where one
is given (`read_frame_counts`, `with_frame_counts`: a CSV `video,frames`, checked against
the ground truth's counts where it has them), else from its scores:
frame_offset + frames_per_score x scores + end_offset (`FrameAlignment.frames_of`).
`FrameAlignment(segments=K)` is the other rule: K scores per video spread over its F frames
as fixed segments, score i on frames floor(i F / K) .. floor((i + 1) F / K) - 1 (Sultani et
al. 2018's 32 segments per video), F from the ground truth or the frame-count file.
"""

from __future__ import annotations

import csv
import math
import re
import warnings
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mulde.evaluation.metrics import EvaluationError
from mulde.io.features import is_number, key_not_npz, quoted, whole_number
from mulde.io.sniff import FileKind, sniff

SCORE_FORMATS = ("auto", "csv", "folder", "npz", "array")
SMALL_OFFSET = 32
"""The most frames per video a wrong count may lack for its error to suggest `--frame-offset`
(future-frame prediction skips a few first frames, clip models up to a clip's length)."""
UNSCORED_POLICIES = ("drop", "edge")
_SUFFIXES = (".npy", ".npz", ".txt", ".csv")
_SPLIT = re.compile(r"[,\s]+")


@dataclass
class ScoreFile:
    """Scores as read from a file: per video (`videos`) or one concatenated `array`.

    `labels` holds the CSV's `label` column per video (None per video without it; format
    "folder": a video's .csv's, None for its other files; None for other formats).
    `column` is the CSV column read (format "folder": the one given, None for "auto"; None
    for other formats); `columns` the CSV's header (empty for other formats): with
    `score_unsmoothed` in it, a mulde report whose `score` column is already smoothed.
    `notes`: one line each on what was left out unread (format "folder": .csv files that
    are no score files, beside score files of another kind), for the user to see.
    """

    path: Path
    format: str
    videos: dict[str, np.ndarray] | None = None
    array: np.ndarray | None = None
    labels: dict[str, np.ndarray | None] | None = None
    column: str | None = None
    columns: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def _vector(values: Any, where: str) -> np.ndarray:
    """Return a 1-D float64 vector of scores, or raise naming `where`."""
    a = np.asarray(values)
    if a.dtype == object:
        raise EvaluationError(f"{where}: an object array (pickled data is not read); save "
                              "the scores as a numeric array")
    if a.dtype.kind not in "biuf":
        raise EvaluationError(f"{where}: scores must be numbers, got dtype {a.dtype}")
    if a.ndim != 1:
        squeezed = a.squeeze()
        if squeezed.ndim == 0:
            squeezed = squeezed.reshape(1)
        if squeezed.ndim != 1:
            raise EvaluationError(f"{where}: scores must be a 1-D array, got shape {a.shape}; "
                                  f"{_one_per_frame(squeezed.shape)}")
        a = squeezed
    if a.size == 0:
        raise EvaluationError(f"{where}: no scores (empty array)")
    return a.astype(np.float64)


def _one_per_frame(shape: tuple[int, ...]) -> str:
    """What to do with scores of more than one dimension (`shape`, its axes of length 1 left
    out): give one score per frame, a 1-D array per video; for a 2-D array, the column (or
    row) of the scores, the longer axis taken for the frames."""
    fix = "give one score per frame, a 1-D array per video"
    if len(shape) != 2:
        return f"{fix} (reduce the other axes first, e.g. the max over a frame's objects)"
    if shape[0] >= shape[1]:
        return f"{fix}: e.g. the column of the scores, a[:, j], if each row is a frame"
    return f"{fix}: e.g. the row of the scores, a[j], if each column is a frame"


MISSING_MARKERS = frozenset({"none", "null", "na", "n/a", "nil", "missing", "nat", "-", "?"})
"""Words that a method writes for a frame without a score (lower case): never a header line,
which would be skipped and shift every later score of the video by one frame unsaid (where
the ground truth states ranges only, its frame count comes from the scores)."""


def _is_header_word(word: str) -> bool:
    """Whether a first line's one word names a column (`score`, `anomaly_score`): it starts
    with a letter or `_` and is no missing-value marker (`MISSING_MARKERS`: None, null, NA)."""
    return bool(re.match(r"[A-Za-z_]", word)) and word.lower() not in MISSING_MARKERS


def _tokens(line: str) -> list[str]:
    """The fields of a line of a .txt of scores, its `#` comment left out."""
    return [token for token in _SPLIT.split(line.split("#", 1)[0].strip()) if token]


def _read_txt(path: Path, in_folder: bool = False) -> np.ndarray:
    """The numbers of a .txt of scores; a first line of one word that is no number (`score`)
    names the column and is skipped, as a one-column CSV's header is, unless it is a
    missing-value word (`MISSING_MARKERS`: a first frame's missing score, an error, as
    skipping it would shift the video's later scores by a frame). Two or more lines that
    each hold two numbers split by a comma (decimal commas, or frame,score columns) are an
    error, not twice the scores. `in_folder`: one
    video's file of a score folder, where a file with no line of numbers alone (a
    README.txt) is said to be no score file."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise EvaluationError(f"{path}: not a text file of numbers ({error})") from None
    lines = text.splitlines()
    values: list[float] = []
    header = next((i for i, line in enumerate(lines) if _tokens(line)), None)
    rows = comma_pairs = 0  # lines of numbers; of those, two numbers split by a comma
    first_row = ""  # the first line of numbers, quoted where the pairs are refused
    for number, line in enumerate(lines, start=1):
        tokens = _tokens(line)
        if (number - 1 == header and len(tokens) == 1 and not is_number(tokens[0])
                and _is_header_word(tokens[0])):
            continue  # a header naming the one column
        if tokens:
            rows += 1
            comma_pairs += len(tokens) == 2 and "," in line.split("#", 1)[0]
            first_row = first_row or line.strip()
        for token in tokens:
            if is_number(token):
                values.append(float(token))
                continue
            if in_folder and not any(
                    fields and all(map(is_number, fields)) for fields in map(_tokens, lines)):
                raise EvaluationError(
                    f"{path}: not a score file (line {number}: {quoted(line.strip())}; no line "
                    "holds numbers alone): a score folder holds one file of numbers per "
                    "video, named after it; move this file out of the folder")
            said = f"{path}, line {number}: {token!r} is not a number"
            if token.lower() in MISSING_MARKERS:  # a frame without a score
                said += _NO_SCORE_FIX
            elif number - 1 == header and _is_header_word(token):  # a header of several columns
                said += ("; a .txt of scores holds numbers alone, under at most a one-word "
                         "first line naming them (such as score)" + (
                             ": for columns such as frame,score save the file as .csv"
                             if in_folder else ""))
            raise EvaluationError(said)
    if rows >= 2 and comma_pairs == rows:  # read as one vector, each line's two numbers apart
        raise EvaluationError(
            f"{path}: every line holds two numbers split by a comma (the first: "
            f"{quoted(first_row)}): a decimal "
            "comma (0,1461 for 0.1461: write it with a point) or two columns such as "
            "frame,score (save them as a .csv with a header row); a .txt of scores holds "
            "one number per frame")
    return _vector(np.asarray(values, dtype=np.float64), str(path))


_NO_SCORE_FIX = ("; every frame needs a score: score it, or leave out the lines of a "
                 "video's unscored first or last frames and give --frame-offset or --end-offset")


def _read_video_csv(path: Path, video: str, column: str = "auto"
                    ) -> tuple[np.ndarray, np.ndarray | None]:
    """(scores, labels or None) of one video's .csv in a score folder: one score per frame.

    With a header row: the scores' column is `column`, or for "auto" `score_unsmoothed`
    (a mulde report's), else `score`, else the one column that is not `video`, `frame` or
    `label`; a `frame` column, where given, places the rows (sorted by it, checked as a
    whole file's are: `mulde.evaluation.report.read_frame_scores`), else the rows are the
    frames 0, 1, 2, ... in order; a `label` column is read. Without a header (a first row of
    numbers alone): one score a row, a single column. Raises `EvaluationError` naming the
    file, row and column at fault.
    """
    from mulde.evaluation.report import _score, decimal_comma, read_frame_scores

    found = _csv_columns(path)
    if len(found) == 1 and found[0].lower() in MISSING_MARKERS:  # a first score missing
        raise EvaluationError(f"{path}, row 1: {found[0]!r} is not a number (no header row "
                              f"names a column so){_NO_SCORE_FIX}")
    if found and all(map(is_number, found)):  # no header row: one column of scores
        if len(found) > 1:
            comma = len(found) == 2 and decimal_comma(found, 0)  # 0,1461: 0.1461?
            raise EvaluationError(
                f"{path}, row 1: {len(found)} columns of numbers and no header row: add a "
                "first row naming them (e.g. frame,score), or keep the column of scores alone"
                + (f"; if {found[0]},{found[1]} is one score with a decimal comma, write "
                   f"{found[0]}.{found[1]}" if comma else ""))
        if column != "auto":  # not silently ignored
            raise EvaluationError(f"{path}: no header row, so --column {column} names no "
                                  "column of it: drop --column, or add a header row")
        values = []
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            line = 0
            for fields in reader:
                line, last = line + 1, reader.line_num
                if fields and len(fields) != 1:
                    comma = decimal_comma(fields, 0) if len(fields) == 2 else None
                    raise EvaluationError(
                        f"{path}, row {line}: {len(fields)} fields, but the file has no header "
                        "row and its first row one score: " + (comma or "give one score a row, "
                                                               "or a header row naming the "
                                                               "columns (e.g. frame,score)"))
                if fields:
                    values.append(_score(path, line, "score", fields[0]))
                line = last
        return _vector(np.asarray(values, dtype=np.float64), str(path)), None
    if column == "auto":
        column = _auto_column(found)
    try:
        scores, labels = read_frame_scores(path, column=column, video=video)
    except (UnicodeDecodeError, csv.Error) as error:
        raise EvaluationError(f"{path}: not a readable CSV file ({error})") from None
    if not scores:
        raise EvaluationError(f"{path}: no score rows (a header row alone); give one row per "
                              "frame")
    return _vector(scores[video], str(path)), labels[video]


def _auto_column(found: list[str]) -> str:
    """The scores' column of a folder's .csv with the header `found`, for --column auto:
    `score_unsmoothed` (a mulde report's), else `score`, else its one column other than
    video, frame and label ("score" where it has none or several, missing then)."""
    from mulde.evaluation.report import KEY_COLUMNS

    others = [c for c in found if c not in KEY_COLUMNS]
    return next((c for c in ("score_unsmoothed", "score") if c in found),
                others[0] if len(others) == 1 else "score")


def _not_video_scores(path: Path, video: str, column: str = "auto") -> str | None:
    """Why a score folder's .csv is no score file of `video`, the video its name says (a
    summary.csv, a frame-count counts.csv, a labels.csv beside the scores): "no column
    'score' of scores among its columns [...]" (`column`, or for "auto" `_auto_column`'s)
    or "row 2 names video 'v1'" (its `video` column naming another video). None where it
    may be one: a header naming the scores' column and only this video, no header row,
    an empty file, or a header of another separator (whose errors `_read_video_csv` says)."""
    from mulde.io.features import other_separator

    found = _csv_columns(path)
    if (not found or all(map(is_number, found)) or found[0].lower() in MISSING_MARKERS
            or (len(found) == 1 and other_separator(found[0]))):
        return None
    if column == "auto":
        column = _auto_column(found)
    if column not in found:
        return f"no column {column!r} of scores among its columns {found}"
    if "video" not in found:
        return None
    at = found.index("video")
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        next(reader, None)
        line = reader.line_num
        for fields in reader:  # rows numbered as `read_frame_scores` numbers them
            line, last = line + 1, reader.line_num
            name = fields[at].strip() if at < len(fields) else ""
            if name and name != video:
                return f"row {line} names video {name!r}"
            line = last
    return None


_PICKLE_SUFFIXES = (".pkl", ".pickle")


def _pickle_refused(path: Path) -> str:
    """The error for a pickle of scores: never read, and how to convert a dict of arrays."""
    return (f"{path}: a pickle, which is never read (unpickling can run code the file "
            "holds); if you trust it and it holds a dict of one score array per video, read it "
            "with pickle.load and save the dict as an .npz, np.savez('scores.npz', **scores), "
            "then evaluate scores.npz")


def _objects_refused(path: Path, npz: bool) -> str:
    """The error for an .npy / .npz of Python objects (allow_pickle=False refuses them): how
    to save them as one float array per video."""
    what = ("arrays of Python objects (dtype object)" if npz else "an array of Python objects "
            "(dtype object: e.g. a dict saved with np.save)")
    read = "np.load with allow_pickle" + ("" if npz else " (a dict: then .item())")
    return (f"{path}: {what}, which need unpickling and are never read; if you trust it, read "
            f"it with {read} and save one float array per video as an .npz, "
            "np.savez('scores.npz', **{video: np.asarray(s, dtype=float) for video, s in "
            "scores.items()}), then evaluate scores.npz")


def _load_npy(path: Path) -> np.ndarray:
    try:
        values = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        if "allow_pickle" in str(error):  # numpy's refusal of an object array
            raise EvaluationError(_objects_refused(path, npz=False)) from None
        reason = getattr(error, "strerror", None) or error  # the path once, not twice
        raise EvaluationError(f"{path}: cannot read NumPy array ({reason})") from None
    return _vector(values, str(path))


def _open_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        kind = sniff(path)  # what the file is, from its first bytes
    except OSError as error:
        raise EvaluationError(f"{path}: not a readable .npz file "
                              f"({error.strerror or error})") from None
    if kind is not FileKind.ZIP:  # np.load reads no archive in such a file
        what = ("a NumPy .npy array" if kind is FileKind.NPY else
                "an empty file" if kind is FileKind.EMPTY else
                "not a zip of NumPy arrays (np.savez)")
        fix = ("rename it to what it holds (.npy for an array, .csv or .txt for text)"
               if path.suffix.lower() == ".npz" else
               "read it as what it holds: --format auto reads it by its suffix")
        raise EvaluationError(f"{path}: {what}, not an .npz archive; {fix}")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except ValueError as error:
        if "allow_pickle" in str(error):  # numpy's refusal of an object array
            raise EvaluationError(_objects_refused(path, npz=True)) from None
        raise EvaluationError(f"{path}: cannot read .npz ({error}; pickled data is not "
                              "read)") from None
    except (OSError, EOFError, zipfile.BadZipFile) as error:  # a cut download: no directory
        reason = getattr(error, "strerror", None) or error  # the path once, not twice
        raise EvaluationError(f"{path}: not a readable .npz file ({reason}); is it whole?"
                              ) from None


def _one_array(path: Path, key: str | None, in_folder: bool = False) -> np.ndarray:
    """The array named `key` of an .npz, or its only array (`in_folder`: one video's file of
    a score folder, where no other format applies)."""
    arrays = _open_npz(path)
    if key is not None:
        if key not in arrays:
            raise EvaluationError(f"{path}: no array {key!r} (it holds {sorted(arrays)})")
        return _vector(arrays[key], f"{path}, array {key!r}")
    if len(arrays) != 1 and in_folder:  # a folder's file is one video's scores
        raise EvaluationError(
            f"{path}: holds {len(arrays)} arrays {sorted(arrays)[:5]}, but a score folder "
            "takes one file per video, named after it: if each file holds its video's "
            "scores beside other arrays, name that array with --key; if this file holds one "
            "array per video, named after it, evaluate the file alone, not its folder")
    if len(arrays) != 1:
        raise EvaluationError(
            f"{path}: holds {len(arrays)} arrays {sorted(arrays)[:5]}; name the one of all "
            "frames with --key, or read it as one array per video (--format npz)")
    (name, values), = arrays.items()
    return _vector(values, f"{path}, array {name!r}")


def _read_array_file(path: Path, key: str | None, in_folder: bool = False) -> np.ndarray:
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return _load_npy(path)
    if suffix == ".npz":
        return _one_array(path, key, in_folder)
    return _read_txt(path, in_folder)  # .txt, or any other name given with a format


def _read_folder(folder: Path, key: str | None, column: str = "auto"
                 ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray | None], list[str]]:
    """({video: scores}, {video: labels or None}, notes) of a score folder: one file per
    video, named after it (`_SUFFIXES`); labels come from a .csv's label column alone.

    A .csv that is no score file of the video its name says (`_not_video_scores`: no
    scores' column, or rows of other videos: a summary.csv, counts.csv or labels.csv put
    beside the scores) is left out with a note where the folder holds score files of
    another kind (.npy, .npz, .txt), as it was before a folder read .csv files; in a folder
    of .csv files alone it is an error saying to move it out, where another .csv is a
    video's score file (where none is, each file's own error says what to change)."""
    files = sorted(p for p in folder.iterdir()
                   if p.is_file() and p.suffix.lower() in _SUFFIXES and not p.name.startswith("."))
    report = folder / "frame_scores.csv"
    if report.is_file() and ((folder / "metrics.json").is_file()  # `mulde run` / `evaluate`
                             or "score_unsmoothed" in _csv_columns(report)):
        raise EvaluationError(f"{folder}: a mulde report folder, not one score file per "
                              f"video; evaluate its frame scores: {report}")
    if not files:
        raise EvaluationError(f"{folder}: no score files; a score folder holds one file per "
                              "video, named after it: .npy, .npz (one array), .txt (numbers) "
                              "or .csv (a score column, frame optional)")
    suffixes = sorted({p.suffix.lower() for p in files})
    if key is not None and ".npz" not in suffixes:  # not silently ignored
        raise EvaluationError(key_not_npz(folder, key, f"a folder of {' and '.join(suffixes)} "
                                                       "files"))
    if column != "auto" and ".csv" not in suffixes:  # as --key: not silently ignored
        raise EvaluationError(f"{folder}: --column {column} names a column of CSV files, and "
                              f"this folder holds {' and '.join(suffixes)} files: drop it")
    csvs = [p for p in files if p.suffix.lower() == ".csv"]
    stray = {p: why for p in csvs if (why := _not_video_scores(p, p.stem, column))}
    notes: list[str] = []
    if stray and len(csvs) < len(files):  # beside .npy/.npz/.txt scores: left out, said
        notes.append(f"{folder}: not read as score files (a score folder holds one file of "
                     "scores per video, named after it): " + "; ".join(
                         f"{p.name} ({why})" for p, why in stray.items()))
        files = [p for p in files if p not in stray]
    elif stray and len(stray) < len(csvs):  # beside per-video .csv scores
        path, why = next(iter(stray.items()))
        raise EvaluationError(f"{path}: not a score file of video {path.stem!r} ({why}): a "
                              "score folder holds one file of scores per video, named after "
                              "it; move this file out of the folder")
    out: dict[str, np.ndarray] = {}
    labels: dict[str, np.ndarray | None] = {}
    seen: dict[str, Path] = {}
    for path in files:
        name = path.stem
        if name in seen:
            raise EvaluationError(f"{folder}: two score files for video {name!r}: "
                                  f"{seen[name].name}, {path.name}")
        seen[name] = path
        if path.suffix.lower() == ".csv":
            out[name], labels[name] = _read_video_csv(path, name, column)
        else:
            out[name], labels[name] = _read_array_file(path, key, in_folder=True), None
    return out, labels, notes


def _csv_columns(path: Path) -> list[str]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:  # as read_frame_scores
            return [c.strip() for c in next(csv.reader(fh), [])]
    except UnicodeDecodeError as error:
        raise EvaluationError(f"{path}: not a UTF-8 CSV file ({error})") from None


def detect_format(path: Path) -> str:
    """The format "auto" picks for `path` (see the module docstring)."""
    from mulde.vad.artifact import MANIFEST, is_manifest  # a trained model given for scores

    manifest = path / MANIFEST if path.is_dir() else path
    if manifest.name == MANIFEST and is_manifest(manifest):
        report = manifest.parent.parent / "frame_scores.csv"
        raise EvaluationError(f"{path}: a trained model, not scores; evaluate the scores its "
                              "run wrote" + (f": {report}" if report.is_file() else
                                             " (OUT/frame_scores.csv of `mulde run`)"))
    if path.is_dir():
        return "folder"
    suffix = path.suffix.lower()
    if suffix == ".tsv":  # no format reads tab-separated fields
        raise EvaluationError(f"{path}: a .tsv file; score CSVs have fields separated by "
                              "commas, not tabs: save it as CSV with commas (e.g. pandas' "
                              "to_csv)")
    formats = {".csv": "csv", ".npz": "npz", ".npy": "array", ".txt": "array"}
    if path.name == "metrics.json" and (path.parent / "frame_scores.csv").is_file():
        raise EvaluationError(f"{path}: a report's metrics (no frame scores); evaluate its "
                              f"frame scores: {path.parent / 'frame_scores.csv'}")
    if suffix not in formats:  # e.g. .json: what is read, and how to get there
        example = (f"np.savez('scores.npz', **json.load(open('{path.name}'))) for a dict of "
                   "per-video lists" if suffix == ".json" else "np.savez('scores.npz', "
                   "**scores) for a dict of per-video arrays")
        what = f"{suffix} files" if suffix else "a file without a suffix"
        raise EvaluationError(
            f"{path}: no score format reads {what}; scores are read from a .csv "
            "(video,frame,score rows), an .npz (one array per video), "
            "an .npy or .txt (one array of all frames) or a folder of one such file per "
            f"video: convert them, e.g. {example}, or, for one of these under another "
            "name, give its format (--format csv, npz or array)")
    return formats[suffix]


def read_scores(
    path: str | Path, *, format: str = "auto", column: str = "auto", key: str | None = None
) -> ScoreFile:
    """Read a score file or folder in `format` (see the module docstring).

    `column` (CSV files only: format "csv", or a folder's .csv files): the column of the
    scores ("score", "score_unsmoothed", or the name another method gives them), or "auto":
    `score_unsmoothed` when the file has it (a mulde report, whose `score` column is already
    smoothed), else `score` (a folder's .csv: else its one column other than video, frame
    and label); given for a folder without a .csv file it is refused, not ignored.
    `key`: the array to read from an `.npz` holding several ("folder" and "array"); given
    for a file of another kind (.npy, .txt, .csv), which has no arrays to choose from, or a
    folder without an .npz file, it is refused (`mulde.io.features.key_not_npz`), not
    ignored.
    Raises `EvaluationError` naming the file (and row, line or array) at fault.
    """
    from mulde.evaluation.report import read_frame_scores

    path = Path(path)
    if format not in SCORE_FORMATS:
        raise EvaluationError(f"score format {format!r} is not one of {SCORE_FORMATS}")
    if not path.exists():
        raise EvaluationError(f"{path}: score file not found")
    kind = None
    if path.is_file():
        try:
            kind = sniff(path)  # what the file is, from its first bytes
        except OSError as error:
            raise EvaluationError(f"{path}: not a readable score file "
                                  f"({error.strerror or error})") from None
        if kind is FileKind.PICKLE or path.suffix.lower() in _PICKLE_SUFFIXES:
            raise EvaluationError(_pickle_refused(path))
        if key is not None and path.suffix.lower() != ".npz":  # not silently ignored
            raise EvaluationError(key_not_npz(path, key))
    fmt = detect_format(path) if format == "auto" else format
    if fmt == "folder" and not path.is_dir():
        raise EvaluationError(f"{path}: format folder needs a folder of per-video files")
    if fmt != "folder" and path.is_dir():
        raise EvaluationError(f"{path}: a folder, which format {fmt} does not read; give "
                              "--format folder (or auto): one score file per video, named "
                              "after it (.npy, .npz, .txt, or .csv with a score column)")
    if fmt == "csv":
        if kind in (FileKind.ZIP, FileKind.NPY):  # binary: said, not a UTF-8 decode error
            reads = ("--format npz reads one array per video, --format array one array of "
                     "all frames" if kind is FileKind.ZIP else "--format array reads one "
                     "array of all frames")
            raise EvaluationError(f"{path}: {kind.value}, not a CSV file; {reads}")
        header = None  # read once: before the scores where it picks the column, else after
        if column == "auto":  # (so that a given column's unreadable file says so first)
            header = tuple(_csv_columns(path))
            column = "score_unsmoothed" if "score_unsmoothed" in header else "score"
        try:
            scores, labels = read_frame_scores(path, column=column)
        except (UnicodeDecodeError, csv.Error) as error:
            raise EvaluationError(f"{path}: not a readable CSV file ({error})") from None
        if not scores:
            raise EvaluationError(f"{path}: no score rows")
        return ScoreFile(path, fmt, videos=scores, labels=labels, column=column,
                         columns=header if header is not None else tuple(_csv_columns(path)))
    if fmt == "folder":
        videos, labels, notes = _read_folder(path, key, column)
        return ScoreFile(path, fmt, videos=videos, labels=labels,
                         column=None if column == "auto" else column, notes=tuple(notes))
    if fmt == "npz":
        if key is not None:  # each array is a video's: no one array to name
            raise EvaluationError(
                f"{path}: format npz reads every array as one video's scores, so --key "
                f"{key} names nothing here; to read the one array {key!r} of all frames, "
                "give format array (--format array)")
        arrays = _open_npz(path)
        if not arrays:
            raise EvaluationError(f"{path}: no arrays")
        return ScoreFile(path, fmt, videos={
            name: _vector(values, f"{path}, video {name!r}") for name, values in arrays.items()
        })
    return ScoreFile(path, fmt, array=_read_array_file(path, key))


FRAME_COUNT_COLUMNS = ("video", "frames")


@dataclass(frozen=True)
class FrameCounts:
    """Each video's frame count from a CSV file (`read_frame_counts`): `counts` maps a video's
    name to (frames, the row it is on). `get` finds a name also written with a video file's
    suffix (`Abuse028_x264.mp4` for the test video `Abuse028_x264`)."""

    path: Path
    counts: Mapping[str, tuple[int, int]]

    def get(self, name: str) -> tuple[int, int] | None:
        """(frames, row) of video `name`, or None when the file has no row for it."""
        if name in self.counts:
            return self.counts[name]
        return next((v for k, v in self.counts.items() if _video_stem(k) == name), None)


def _video_stem(name: str) -> str:
    """A video's name without a video file's suffix (`Abuse028_x264.mp4` -> `Abuse028_x264`);
    any other name as given."""
    from mulde.video.decode import VIDEO_SUFFIXES

    return Path(name).stem if Path(name).suffix.lower() in VIDEO_SUFFIXES else name


def read_frame_counts(path: str | Path) -> FrameCounts:
    """Read a CSV of each video's frame count: a header row naming the columns `video` and
    `frames` (any order; other columns ignored), then one row per video, the count a whole
    number >= 1 (also written 1412.0). Rows of videos that are not evaluated are ignored, so
    one file may list a whole dataset. Raises `EvaluationError` naming the file, the row and
    the column at fault (a missing header, an empty name, a count that is no whole number
    >= 1, a video given twice, also once with a video file's suffix and once without)."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except FileNotFoundError:
        raise EvaluationError(f"{path}: frame-count file not found") from None
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise EvaluationError(f"{path}: not a readable CSV file ({error})") from None
    header = [c.strip() for c in rows[0]] if rows else []
    missing = [c for c in FRAME_COUNT_COLUMNS if c not in header]
    if missing:
        data = len(header) >= 2 and whole_number(header[1]) is not None
        raise EvaluationError(
            f"{path}, row 1: no column {' or '.join(map(repr, missing))}; a frame-count file "
            "has a header row video,frames, then one row per video (its name and number of "
            "frames)" + (": add the line video,frames above the first row" if data else
                         f"; the header names {header}" if header else ""))
    at = {c: header.index(c) for c in FRAME_COUNT_COLUMNS}
    counts: dict[str, tuple[int, int]] = {}
    seen: dict[str, tuple[str, int]] = {}  # a video's name without a video suffix -> as given
    for row, fields in enumerate(rows[1:], start=2):
        if not fields or not any(f.strip() for f in fields):
            continue
        if len(fields) <= max(at.values()):
            raise EvaluationError(f"{path}, row {row}: {len(fields)} field(s), the header "
                                  f"{len(header)}; give each row a video and its frames")
        name, text = fields[at["video"]].strip(), fields[at["frames"]].strip()
        if not name:
            raise EvaluationError(f"{path}, row {row}, column 'video': empty; name the video")
        frames = whole_number(text)
        if frames is None or frames < 1:
            raise EvaluationError(f"{path}, row {row}, column 'frames': {text!r} is not a "
                                  "frame count; give the video's number of frames, a whole "
                                  "number >= 1")
        key = _video_stem(name)  # A and A.mp4 name one video (`FrameCounts.get`)
        if key in seen:
            first, first_row = seen[key]
            said = "" if first == name else f" as {first!r}"
            raise EvaluationError(f"{path}, row {row}: video {name!r} again (row "
                                  f"{first_row}{said}); one row per video")
        seen[key] = (name, row)
        counts[name] = (frames, row)
    if not counts:
        raise EvaluationError(f"{path}: no rows under the header; give one row video,frames "
                              "per video")
    return FrameCounts(path, counts)


@dataclass(frozen=True)
class CountedTruth:
    """A video's ground truth of anomalous ranges alone (`VideoTruth` without labels) with
    its frame count from a frame-count file: `n_frames` is that count, `counted` says where
    it comes from ("counts.csv, row 3"), and a range the count cannot hold is an error that
    says so."""

    truth: Any
    frames: int
    counted: str

    @property
    def n_frames(self) -> int:
        """The video's frame count, the frame-count file's."""
        return self.frames

    @property
    def ranges(self) -> tuple:
        """The anomalous ranges, 0-based inclusive (start, end), the ground truth's."""
        return self.truth.ranges

    @property
    def source(self) -> str:
        """The ground truth's file."""
        return self.truth.source

    def to_labels(self, n_frames: int | None = None) -> np.ndarray:
        """The labels of the video's `frames` frames (`VideoTruth.to_labels`; a range
        clipped at the count says the count's row in its warning)."""
        from mulde.datasets import DatasetError

        try:
            return self.truth.to_labels(self.frames, counted=self.counted)
        except DatasetError as error:  # a DatasetError of its own: RangeError takes others
            raise DatasetError(f"{error}; the frame count {self.frames} is from "
                               f"{self.counted}: check it") from None


def with_frame_counts(truth: Mapping[str, Any], counts: FrameCounts
                      ) -> tuple[dict[str, Any], list[str]]:
    """({video: truth}, the videos given a count) with the frame counts of `counts` where
    the ground truth states ranges only (`CountedTruth`); where it has frame counts of its
    own, they must agree with the file's: an `EvaluationError` names each that does not (up
    to 3, the file's row and both counts). Videos without a row keep their ground truth."""
    out: dict[str, Any] = {}
    counted: list[str] = []
    disagree = []
    for name, t in truth.items():
        found = counts.get(name)
        if found is None:
            out[name] = t
        elif t.n_frames is None:
            out[name] = CountedTruth(t, found[0], f"{counts.path}, row {found[1]}")
            counted.append(name)
        else:
            if found[0] != t.n_frames:
                disagree.append((found[1], name, found[0], t.n_frames))
            out[name] = t
    if disagree:
        shown = "; ".join(f"row {row}: video {name!r} {frames}, the ground truth {n}"
                          for row, name, frames, n in sorted(disagree)[:_LISTED])
        more = f"; and {len(disagree) - _LISTED} more" if len(disagree) > _LISTED else ""
        raise EvaluationError(
            f"{counts.path}: {len(disagree)} frame count(s) differ from the ground truth's "
            f"({shown}{more}): this ground truth has every video's frame count, so drop "
            "--frame-counts, or fix the file if it is meant for these videos")
    return out, counted


class _Truth(Protocol):
    """What alignment needs of a video's ground truth (`mulde.datasets.VideoTruth`)."""

    @property
    def n_frames(self) -> int | None: ...

    def to_labels(self, n_frames: int | None = None) -> np.ndarray: ...


_REMEDY_SIZES = 256
"""`FrameAlignment._remedy` tries at most about this many segment lengths."""


@dataclass(frozen=True)
class FrameAlignment:
    """Which frames a video's scores belong to (see the module docstring for the rule).

    frame_offset: 0-based frame of the first score (frames before it have none).
    end_offset: number of frames at the end of each video without a score.
    frames_per_score: consecutive frames each score covers (1: one score per frame).
    unscored: "drop" (frames without a score are left out) or "edge" (they take the score
    of the nearest scored frame).
    segments: K, or None: every video has K scores, spread over all its F frames as fixed
    segments, segment i covering frames floor(i F / K) .. floor((i + 1) F / K) - 1 (the
    layout of Sultani et al. 2018's 32 segments per video; their own evaluation script maps
    them over 16-frame clips, edges up to 16 frames from these); every frame has a score, F >= K is
    needed, and F must come from the ground truth or a frame-count file (`FrameCounts`),
    never from the scores; no offset or `frames_per_score` goes with it.
    """

    frame_offset: int = 0
    end_offset: int = 0
    frames_per_score: int = 1
    unscored: str = "drop"
    segments: int | None = None

    def __post_init__(self) -> None:
        for name in ("frame_offset", "end_offset"):
            if int(getattr(self, name)) < 0:
                flag = "--" + name.replace("_", "-")
                raise EvaluationError(f"{name} ({flag}) must be >= 0, got "
                                      f"{getattr(self, name)}")
        if self.frames_per_score < 1:
            raise EvaluationError(f"frames_per_score (--frames-per-score) must be >= 1, got "
                                  f"{self.frames_per_score}")
        if self.unscored not in UNSCORED_POLICIES:
            raise EvaluationError(
                f"unscored-frame policy {self.unscored!r} is not one of {UNSCORED_POLICIES}")
        if self.segments is not None:
            if self.segments < 1:
                raise EvaluationError(f"segments (--segments-per-video) must be >= 1, got "
                                      f"{self.segments}")
            if (self.frame_offset, self.end_offset, self.frames_per_score) != (0, 0, 1):
                raise EvaluationError(
                    f"--segments-per-video {self.segments} spreads each video's scores over "
                    "all its frames, so --frame-offset, --end-offset and --frames-per-score "
                    "do not go with it: give one or the other")

    @property
    def is_identity(self) -> bool:
        """One score per frame from frame 0 to the last."""
        return (self.frame_offset, self.end_offset, self.frames_per_score,
                self.segments) == (0, 0, 1, None)

    def describe(self) -> str:
        """The rule as text, for error messages and metrics.json."""
        if self.segments is not None:
            k = self.segments
            return (f"{k} fixed segment{'s' * (k != 1)} per video, segment i covering frames "
                    f"floor(i x F / {k}) .. floor((i + 1) x F / {k}) - 1 of a video of F "
                    "frames")
        per = self.frames_per_score
        return (f"frame offset {self.frame_offset}, end offset {self.end_offset}, "
                f"{per} frame{'s' if per > 1 else ''} per score")

    def frames_of(self, n_scores: int) -> int:
        """The frame count of a video whose ground truth has none (anomalous ranges only),
        taken from its `n_scores` scores: each covers `frames_per_score` frames (a segment
        score repeated over its frames: the usual protocol of C3D/I3D snippet scores), after
        `frame_offset` frames and before `end_offset` frames without a score."""
        return self.frame_offset + n_scores * self.frames_per_score + self.end_offset

    def frame_count_rule(self) -> str:
        """`frames_of` in words: "frames = 16 x scores" ("frames = 4 + scores" for one score
        a frame from frame 4 on)."""
        terms = [str(self.frame_offset)] if self.frame_offset else []
        per = self.frames_per_score
        terms.append(f"{per} x scores" if per > 1 else "scores")
        terms += [str(self.end_offset)] if self.end_offset else []
        return f"frames = {' + '.join(terms)}"

    def expected(self, n_frames: int) -> tuple[int, int]:
        """(floor, ceil) numbers of scores a video of `n_frames` frames may have ((K, K) for
        `segments` K, (0, 0) where the video has fewer frames than segments)."""
        if self.segments is not None:
            k = self.segments
            return (k, k) if n_frames >= k else (0, 0)
        m = n_frames - self.frame_offset - self.end_offset
        if m < 1:
            return (0, 0)
        return m // self.frames_per_score, math.ceil(m / self.frames_per_score)

    def _remedy(self, frames: int, found: int, fits: Callable[[FrameAlignment], bool],
               videos: int = 1, placed: Callable[[FrameAlignment], bool] | None = None
               ) -> str:
        """The end of a wrong-count error: the option that makes `found` scores fit `frames`
        frames to score (summed over `videos` videos) when one does, checked with `fits`:
        `--frames-per-score N` when found is about 1 / k of the scores expected (k >= 2; the
        range of N that fits is named when several do), else, when a few (`SMALL_OFFSET`)
        frames per video have no score, `--frame-offset` or `--end-offset`: the counts fit
        both alike, so the one that `placed` (the scores' own labels matching the ground
        truth's under an alignment) holds for alone is named, else both, with how to tell
        them apart; "" when none fits (and for `segments`, whose count is the option's)."""
        if found < videos or frames < 1 or self.segments is not None:
            return ""
        # about 1 / 2, 1 / 3, ... of the scores expected (and not 1 score, which fits any
        # segment length)
        if found >= 2 and frames / (found * self.frames_per_score) >= 1.5:
            low, high = frames // (found + 1), -(-frames // (found - 1))
            low = max(low, self.frames_per_score + 1)
            if high - low > _REMEDY_SIZES:  # few scores for many frames: the lengths nearest
                centre = round(frames / found)  # frames / found, not every one in between
                candidates = range(max(low, centre - _REMEDY_SIZES // 2),
                                   min(high, centre + _REMEDY_SIZES // 2) + 1)
            else:
                candidates = range(low, high + 1)
            sizes = [k for k in candidates if fits(replace(self, frames_per_score=k))]
            if sizes and len(candidates) < high - low + 1:  # a sample of the lengths
                return (f": about one score per {round(frames / found)} frames: "
                        "--frames-per-score N, N the frames each score covers")
            if len(sizes) == 1:
                return f": one score per {sizes[0]} frames fits: --frames-per-score {sizes[0]}"
            if sizes:
                return (f": one score per {sizes[0]} to {sizes[-1]} frames fits: "
                        "--frames-per-score N, N the frames each score covers")
        gap, rest = divmod(frames - found * self.frames_per_score, videos)
        if rest == 0 and 0 < gap <= SMALL_OFFSET:
            first = replace(self, frame_offset=self.frame_offset + gap)
            last = replace(self, end_offset=self.end_offset + gap)
            if fits(first):  # and `last` alike: the counts hang on the offsets' sum alone
                def counted(n: int) -> str:  # "the first frame", "the last 4 frames"
                    return "frame" if n == 1 else f"{n} frames"

                told = [a for a in (first, last) if placed is not None and placed(a)]
                if len(told) == 1:
                    flag, where = ((f"--frame-offset {first.frame_offset}",
                                    f"first {counted(first.frame_offset)}")
                                   if told[0] is first else
                                   (f"--end-offset {last.end_offset}",
                                    f"last {counted(last.end_offset)}"))
                    return (f": the scores' own labels match the ground truth's with the "
                            f"{where} of each video left out: give {flag}")
                total = self.frame_offset + self.end_offset + gap
                both = (f", or the two summing to {total} if it leaves out frames at both "
                        "ends (a clip scored at its centre frame)" if total > 1 else "")
                more = " more" if self.frame_offset or self.end_offset else ""
                return (f": {gap}{more} frame{'s' if gap > 1 else ''} of each video "
                        f"{'have' if gap > 1 else 'has'} no score, and the counts cannot "
                        f"tell at which end: give --frame-offset {first.frame_offset} if the "
                        f"method scores from frame {first.frame_offset} on (future-frame "
                        f"prediction), --end-offset {last.end_offset} if it leaves out the "
                        f"last {counted(last.end_offset)}{both}")
        return ""

    def _expected_text(self, n_frames: int) -> str:
        """The number of scores a video of `n_frames` frames takes, in words ("180", "90 or
        89", "at least 1" when no frame is left to score)."""
        low, high = self.expected(n_frames)
        if not high:
            return "at least 1"
        return str(high) if low == high else f"{high} or {low}"

    def _mismatch(self, name: str, n_frames: int, found: int,
                  counted: str = "the ground truth") -> str:
        """The sentence saying that video `name`'s `found` scores do not fit its frames, whose
        count `counted` gives (a frame-count file's row, `FrameCounts`)."""
        return (f"video {name!r}: {counted} has {n_frames} frames, so "
                f"{self._expected_text(n_frames)} scores are expected ({self.describe()}); "
                f"found {found}")

    def to_frames(
        self, name: str, scores: np.ndarray, n_frames: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return (one score per frame, mask of the frames a score covers), both of length
        `n_frames`; frames no score covers hold the nearest score ("edge") or NaN ("drop").
        Raises `EvaluationError` naming the video when the count does not fit the rule."""
        low, high = self.expected(n_frames)
        if high == 0 or scores.size not in (low, high):
            found = scores.size
            fix = self._remedy(n_frames - self.frame_offset - self.end_offset, found,
                              lambda a: found in a.expected(n_frames))
            raise EvaluationError(self._mismatch(name, n_frames, found) + fix)
        if self.segments is not None:  # floor(i F / K) .. floor((i + 1) F / K) - 1
            edges = np.arange(self.segments + 1) * n_frames // self.segments
            return (np.repeat(np.asarray(scores, dtype=np.float64), np.diff(edges)),
                    np.ones(n_frames, dtype=bool))
        frames = np.full(n_frames, np.nan)
        covered = np.zeros(n_frames, dtype=bool)
        start = self.frame_offset
        stop = min(start + scores.size * self.frames_per_score, n_frames - self.end_offset)
        frames[start:stop] = np.repeat(scores, self.frames_per_score)[: stop - start]
        covered[start:stop] = True
        if self.unscored == "edge":
            frames[:start] = scores[0]
            frames[stop:] = scores[-1]
        return frames, covered

    def split_array(
        self, array: np.ndarray, frame_counts: Mapping[str, int], where: str = "array"
    ) -> dict[str, np.ndarray]:
        """Split one concatenated array into per-video scores, in `frame_counts` order.

        Every video has ceil(m / frames_per_score) scores, or, when the total says so,
        floor(m / frames_per_score) (m = frames - offsets); else `EvaluationError` giving
        both totals.
        """
        ranges = {name: self.expected(n) for name, n in frame_counts.items()}
        empty = [name for name, (_, high) in ranges.items() if high == 0]
        if empty:
            raise EvaluationError(
                f"video {empty[0]!r} has no frame left to score ({self.describe()})")
        ceil_total = sum(high for _, high in ranges.values())
        floor_total = sum(low for low, _ in ranges.values())
        if array.size == ceil_total:
            counts = [high for _, high in ranges.values()]
        elif array.size == floor_total:
            counts = [low for low, _ in ranges.values()]
        else:
            need = str(ceil_total) if ceil_total == floor_total else (
                f"{ceil_total} (last partial segments scored) or {floor_total}")

            def fits(a: FrameAlignment) -> bool:
                counts = [a.expected(n) for n in frame_counts.values()]
                return all(high for _, high in counts) and array.size in (
                    sum(high for _, high in counts), sum(low for low, _ in counts))

            scored = sum(frame_counts.values()) - len(frame_counts) * (
                self.frame_offset + self.end_offset)
            fix = self._remedy(scored, array.size, fits, len(frame_counts))
            raise EvaluationError(
                f"{where}: {array.size} scores, but the {len(frame_counts)} test videos "
                f"({sum(frame_counts.values())} frames; {self.describe()}) need {need}{fix}")
        parts = np.split(array, np.cumsum(counts)[:-1])
        return dict(zip(frame_counts, parts, strict=True))


_LISTED = 3
"""The most videos a count error names one by one."""


def _count_problem(
    scores: Mapping[str, np.ndarray], truth: Mapping[str, _Truth], alignment: FrameAlignment,
    own_labels: Mapping[str, np.ndarray | None] | None = None,
) -> str | None:
    """The one-line error when any scored video's number of scores does not fit its frame
    count under `alignment` (videos whose ground truth fixes it), checked over all videos
    first: an option (`FrameAlignment._remedy`) is suggested only when it fits every video,
    as every option shifts every video; else the videos that do not fit are named with
    their frame counts and both numbers of scores. None when all fit."""
    if alignment.segments is not None:
        return _segments_problem(scores, truth, alignment.segments)
    counts = {name: (np.asarray(s).size, truth[name].n_frames) for name, s in scores.items()
              if truth[name].n_frames is not None}
    bad = [(name, found, n) for name, (found, n) in counts.items()
           if found not in alignment.expected(n) or not alignment.expected(n)[1]]
    if not bad:
        return None
    emptied = [(name, n) for name, _, n in bad if not alignment.expected(n)[1]]
    if emptied and len(bad) == len(counts):  # none fits: the offsets are the mistake
        name, n = emptied[0]
        more = f" (and {len(emptied) - 1} more videos)" if len(emptied) > 1 else ""
        return (f"--frame-offset {alignment.frame_offset} and --end-offset "
                f"{alignment.end_offset} leave no frame to score in video {name!r}, which has "
                f"{n} frames{more}: they count the frames without a score at a video's start "
                "and end; give smaller ones")

    def fits(a: FrameAlignment) -> bool:
        return all(f in a.expected(m) and a.expected(m)[1] for f, m in counts.values())

    name, found, n = bad[0]
    counted = _counted(truth[name])
    if not alignment.is_identity and fits(FrameAlignment(unscored=alignment.unscored)):
        given = " ".join(f"{flag} {value}" for flag, value in (
            ("--frame-offset", alignment.frame_offset), ("--end-offset", alignment.end_offset),
            ("--frames-per-score", alignment.frames_per_score))
            if value != (1 if flag == "--frames-per-score" else 0))
        return (alignment._mismatch(name, n, found, counted)
                + "; every video has one score per frame: "
                f"drop {given}")
    def placed(a: FrameAlignment) -> bool:  # the scores' own labels where they are given
        return _labels_agree(own_labels or {}, truth, a)

    fix = alignment._remedy(n - alignment.frame_offset - alignment.end_offset, found, fits,
                            placed=placed)
    same = _same_count(scores)
    if not fix and same and len({m for _, m in counts.values()}) > 1 and all(
            m >= 2 * same for _, m in counts.values()):  # one count for videos of all lengths
        return (alignment._mismatch(name, n, found, counted)
                + _segments_hint(same, len(scores), True, alignment))
    fitting = len(counts) - len(bad)
    if fix or len(bad) == 1:
        said = alignment._mismatch(name, n, found, counted)
        if fix or not fitting:
            return said + fix
        check = ("how this video was scored" if counted == "the ground truth" else
                 f"its frame count ({counted}) and how it was scored")
        return (said + f"; the other {fitting} scored video"
                f"{'s fit' if fitting != 1 else ' fits'}, so no "
                f"option (each shifts every video) fixes it: check {check}")
    listed = "; ".join(f"video {v!r}: {m} frames, {alignment._expected_text(m)} scores "
                       f"expected, {f} found" for v, f, m in bad[:_LISTED])
    more = f"; and {len(bad) - _LISTED} more" if len(bad) > _LISTED else ""
    why = (f"the other {fitting} fit, so no option (each shifts every video) fixes them"
           if fitting else "no one option (--frame-offset, --end-offset, --frames-per-score) "
           "fits them all")
    return (f"{len(bad)} of the {len(counts)} scored videos have a number of scores their "
            f"frame count does not fit ({alignment.describe()}): {listed}{more}; {why}: check "
            "how these videos were scored")


def _counted(truth: _Truth) -> str:
    """What gives a video's frame count, for an error: "the ground truth", or the row of a
    frame-count file (`CountedTruth`)."""
    return getattr(truth, "counted", "the ground truth")


SEGMENTS_AT_MOST = 64
"""The most scores per video that an error takes for fixed segments when every video has
that many (Sultani et al. 2018's format has 32); more are more likely one score per frame or
per clip of videos of one length."""


def _same_count(scores: Mapping[str, np.ndarray]) -> int | None:
    """K when two or more videos have K scores each, all the same and at most
    `SEGMENTS_AT_MOST` (fixed segments per video, as Sultani et al. 2018's 32, whatever each
    video's length); else None."""
    sizes = {np.asarray(s).size for s in scores.values()}
    k = sizes.pop() if len(scores) > 1 and len(sizes) == 1 else None
    return k if k is not None and k <= SEGMENTS_AT_MOST else None


def _segments_hint(k: int, videos: int, counts_known: bool,
                   alignment: FrameAlignment | None = None) -> str:
    """The end of an error about scores that do not fit their videos when each of the
    `videos` scored videos has `k` scores: they look like fixed segments, and the options
    that spread them (the frame counts too where the ground truth lacks them), in place of
    the options of `alignment` given, which do not go with them."""
    counts = ("" if counts_known else " and each video's frame count, which this ground "
              "truth lacks, with --frame-counts FILE (a CSV video,frames)")
    given = [f"{flag} {value}" for flag, value, default in (
        ("--frame-offset", alignment.frame_offset, 0), ("--end-offset", alignment.end_offset, 0),
        ("--frames-per-score", alignment.frames_per_score, 1)) if value != default
             ] if alignment is not None else []
    instead = f" in place of {' and '.join(given)}" if given else ""
    return (f"; each of the {videos} scored videos has {k} scores whatever its length, which "
            f"looks like {k} fixed segments per video (Sultani et al. 2018's format: 32 per "
            f"video): give --segments-per-video {k}{instead}{counts}")


def _segments_problem(scores: Mapping[str, np.ndarray], truth: Mapping[str, _Truth],
                      k: int) -> str | None:
    """The one-line error for scores that are not `k` fixed segments of their videos: a
    video without a frame count (ranges only: the count cannot come from the scores), a
    video with another number of scores, or one with fewer frames than segments."""
    unknown = [name for name in scores if truth[name].n_frames is None]
    if unknown:
        more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
        source = getattr(truth[unknown[0]], "source", "its ground truth")
        return (f"video {unknown[0]!r}{more}: --segments-per-video {k} spreads a video's "
                f"scores over its frames, but {source} states anomalous ranges only: give each "
                "video's frame count with --frame-counts FILE (a CSV video,frames)")
    other = {name: np.asarray(s).size for name, s in scores.items() if np.asarray(s).size != k}
    if other:
        name, found = next(iter(other.items()))
        same = _same_count(scores)
        more = (f"; every scored video has {same}: give --segments-per-video {same}" if same
                else f" ({len(other)} of the {len(scores)} scored videos have another number)")
        return (f"video {name!r}: {found} scores, but --segments-per-video {k} takes {k} per "
                f"video{more}")
    short = [(name, truth[name].n_frames) for name in scores if truth[name].n_frames < k]
    if short:
        name, n = short[0]
        return (f"video {name!r}: {_counted(truth[name])} has {n} frames, fewer than the {k} "
                f"segments of --segments-per-video {k}: a segment needs one frame at least")
    return None


def _labels_agree(own_labels: Mapping[str, np.ndarray | None], truth: Mapping[str, _Truth],
                  alignment: FrameAlignment) -> bool:
    """Whether the scores' own labels (a CSV's label column, one per score) equal the ground
    truth's labels of the frames the scores cover under `alignment` (one frame per score), in
    every video where both are known; False where none is (nothing to compare)."""
    if alignment.frames_per_score != 1 or alignment.segments is not None:
        return False
    pairs = [(np.asarray(y), truth[name].to_labels()) for name, y in own_labels.items()
             if y is not None and name in truth and truth[name].n_frames is not None]
    return bool(pairs) and all(
        np.array_equal(y, t[alignment.frame_offset:t.size - alignment.end_offset])
        for y, t in pairs)


SEGMENT_FRAMES = 16
"""Frames per clip of the C3D / I3D features that weakly supervised methods score (UCF-Crime,
XD-Violence): their scores are one per segment of this many frames."""


def _segment_hint(truth: _Truth, n_scores: int) -> str:
    """The end of the error about a ranges-only video whose annotated ranges run past its
    `n_scores` scores, one per frame (its frame count taken from them): when they reach
    beyond twice that many frames, the scores look like one score per segment of frames,
    and `--frames-per-score` places them; "" otherwise."""
    ends = [end for _, end in getattr(truth, "ranges", ())]
    if not ends or max(ends) < n_scores:
        return ""
    if max(ends) + 1 >= 2 * n_scores:
        return (f": the {n_scores} scores are far fewer than the annotated frames (up to "
                f"{max(ends)}), so they look like one score per segment of frames (C3D/I3D "
                f"clips: {SEGMENT_FRAMES} frames): give --frames-per-score {SEGMENT_FRAMES} "
                "(each score then covers that many frames)")
    return (f": the {n_scores} scores end before the annotated frames (up to {max(ends)}); "
            "this ground truth takes a video's frame count from its scores, one per frame: if "
            f"they are one per segment of frames (C3D/I3D clips: {SEGMENT_FRAMES} frames), "
            f"give --frames-per-score {SEGMENT_FRAMES}, else score every frame of the video")


def align(
    scores: Mapping[str, np.ndarray],
    truth: Mapping[str, _Truth],
    alignment: FrameAlignment | None = None,
    own_labels: Mapping[str, np.ndarray | None] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Any]]:
    """Return (frame scores, frame labels, info) of the scored videos under `alignment`.

    `truth[name]` gives the frame count (`n_frames`) and labels (`to_labels`); a frame-count
    file's counts come in as `CountedTruth` (`with_frame_counts`). A video whose ground truth
    states ranges only takes its frame count from the scores (`FrameAlignment.frames_of`:
    with `frames_per_score` k, k frames per score, each score repeated over its k frames;
    the offsets added; never for `segments`, which needs the counts: an `EvaluationError`
    says so); ranges past it are clipped or refused as its ground truth says
    (`VideoTruth.to_labels`). A count error, or a range past counts taken from the scores,
    where every video has the same number of scores says they look like fixed segments
    (`--segments-per-video`). Frames without a score are dropped
    ("drop") from scores and labels alike, or filled ("edge"). info: n_unscored_frames (per
    video, only those with any), frames_from_scores (videos whose frame count came from the
    scores) and frame_count_rule (`FrameAlignment.frame_count_rule`, None when no video's
    came from its scores). `own_labels`: the labels that came with the scores ({video: one
    per score, or None}: a CSV's label column), used only to tell, in a wrong-count error,
    whether the frames without a score are each video's first or last ones.
    """
    alignment = alignment or FrameAlignment()
    problem = _count_problem(scores, truth, alignment, own_labels)
    if problem:
        raise EvaluationError(problem)
    from mulde.datasets.ground_truth import AnnotationClippedWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AnnotationClippedWarning)
        result = _aligned(scores, truth, alignment)
    clipped: dict[str, list[str]] = {}  # per annotation file: one line, not one per video
    for w in caught:
        if isinstance(w.message, AnnotationClippedWarning):
            clipped.setdefault(w.message.source, []).extend(w.message.videos)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    for source, videos in clipped.items():
        warnings.warn(AnnotationClippedWarning(source, videos), stacklevel=2)
    return result


def _aligned(
    scores: Mapping[str, np.ndarray],
    truth: Mapping[str, _Truth],
    alignment: FrameAlignment,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Any]]:
    """`align`'s work, its counts checked."""
    from mulde.datasets import DatasetError

    out_scores: dict[str, np.ndarray] = {}
    out_labels: dict[str, np.ndarray] = {}
    unscored: dict[str, int] = {}
    from_scores: list[str] = []
    for name, s in scores.items():
        t = truth[name]
        n = t.n_frames
        if n is None:  # ranges only: as many frames as the scores cover, offsets added
            n = alignment.frames_of(s.size)
            from_scores.append(name)
        try:
            y = np.asarray(t.to_labels(n))
        except DatasetError as error:  # a range past the scores: maybe one score per segment
            hint = ""
            same = _same_count(scores)
            if name in from_scores and same is not None:  # fixed segments, not per frame
                hint = (f": the frame count is taken from the {s.size} scores "
                        f"({alignment.frame_count_rule()})"
                        + _segments_hint(same, len(scores), False, alignment))
            elif name in from_scores:
                hint = (_segment_hint(t, n) if alignment.is_identity else
                        f": the frame count is taken from the {s.size} scores "
                        f"({alignment.frame_count_rule()})")
            if not hint:
                raise
            # a DatasetError of its own: a subclass (RangeError) takes other arguments
            raise DatasetError(f"{error}{hint}") from None
        frames, covered = alignment.to_frames(name, np.asarray(s, dtype=np.float64), n)
        keep = covered if alignment.unscored == "drop" else np.ones(n, dtype=bool)
        if not covered.all():
            unscored[name] = int(np.count_nonzero(~covered))
        out_scores[name] = frames[keep]
        out_labels[name] = y[keep]
    return out_scores, out_labels, {
        "n_unscored_frames": unscored, "frames_from_scores": from_scores,
        "frame_count_rule": alignment.frame_count_rule() if from_scores else None}

