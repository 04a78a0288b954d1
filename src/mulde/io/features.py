"""Reading and writing (n, d) feature arrays (.npy, .npz, .csv); errors name the problem."""

from __future__ import annotations

import csv
import itertools
import re
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mulde.io.atomic import atomic_path
from mulde.io.sniff import FileKind, sniff

FEATURE_SUFFIXES = (".npy", ".npz", ".csv")
"""The suffixes of the feature files `read_features` reads (`write_scores` writes scores as
.npy or .csv)."""


class FeatureFileError(ValueError):
    """A feature file cannot be used; the message names the file and the row or field."""


def read_features(path: str | Path, key: str | None = None,
                  names: Sequence[str] | None = None) -> np.ndarray:
    """Return the (n, d) float array (`check_features`) stored in a .npy, .npz (array `key`,
    `X`, or the only array; `key` given for a .npy or .csv file is a FeatureFileError) or
    .csv file (comma-separated numbers, an optional header row of names:
    `_is_header`; a first row equal to `names`, the columns a model was fitted on, is a
    header even when the names are numbers, such as years)."""
    path = Path(path)
    if path.is_dir():
        raise FeatureFileError(f"{path}: a folder, not a features file; give a .csv, .npy or "
                               ".npz file of one row per sample")
    if not path.exists():
        raise FeatureFileError(f"{path}: no such file")
    if not path.is_file():
        raise FeatureFileError(f"{path}: not a regular file (a device, pipe or socket); "
                               "give a .csv, .npy or .npz file of one row per sample")
    suffix = path.suffix.lower()
    if key is not None and suffix in (".npy", ".csv"):  # not silently ignored
        raise FeatureFileError(key_not_npz(path, key))
    if suffix in _NUMPY_KINDS:
        _check_numpy_file(path, suffix)
    source = str(path)  # what the errors name: the file, and an archive's array in it
    try:
        if suffix == ".npy":
            X = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                name = _npz_key(path, list(data.keys()), key)
                source = f"{path}, array {name!r}"
                X = data[name]
        elif suffix == ".csv":
            X = _read_csv(path, names)
        else:
            raise FeatureFileError(f"{path}: unsupported suffix {suffix!r} "
                                   "(use .npy, .npz or .csv)")
    except FeatureFileError:
        raise
    except (zipfile.BadZipFile, EOFError) as err:  # a cut download: no zip directory
        raise FeatureFileError(f"{source}: not a readable {suffix} file ({err}); is it whole? "
                               "copy it again, or save it again with np.savez") from err
    except ValueError as err:  # numpy's refusal of object arrays, corrupt headers, ...
        if "allow_pickle" in str(err):
            raise FeatureFileError(
                f"{source}: holds Python objects (strings, mixed types), not numbers; save a "
                "numeric array (np.save(path, X.astype(float)))") from err
        raise FeatureFileError(f"{source}: cannot read as {suffix}: {err}") from err
    return check_features(X, source)


_NUMPY_KINDS = {".npy": FileKind.NPY, ".npz": FileKind.ZIP}
"""What a NumPy .npy file, and a .npz file (a zip archive), is to `sniff`."""


def key_not_npz(path: str | Path, key: str, what: str | None = None) -> str:
    """The one line that refuses `--key` (an array's name inside an .npz file) given for
    another kind of file, where it would be ignored silently: "data.npy: --key y applies to
    .npz files only (it names an array inside one); leave it out for a .npy file".
    `what`: what `path` is, where its suffix does not say it ("a folder of .npy files");
    None: a file of its suffix. `read_features` (`mulde fit`, `mulde score`) and
    `read_scores` (`mulde evaluate`) raise it, each as its own error."""
    suffix = Path(path).suffix.lower()
    what = what or f"{f'a {suffix}' if suffix else 'this'} file"
    return (f"{path}: --key {key} applies to .npz files only (it names an array inside one); "
            f"leave it out for {what}")


def _check_numpy_file(path: Path, suffix: str) -> None:
    """Raise FeatureFileError naming what a .npy or .npz file is instead (`sniff`), when it
    is not of its suffix's format: empty, text (a CSV under the wrong suffix), the other NumPy
    format, or another kind of file. numpy's own errors for these ("No data left in file",
    or a refusal to unpickle) name another cause."""
    try:
        kind = sniff(path)
    except OSError as err:
        raise FeatureFileError(f"{path}: cannot be read: {err.strerror or err}") from err
    if kind is _NUMPY_KINDS[suffix]:
        return
    saver = f"np.save{'z' if suffix == '.npz' else ''}"
    if kind is FileKind.EMPTY:
        raise FeatureFileError(f"{path}: empty file (0 bytes); save the features with "
                               f"{saver} or give a .csv file")
    if kind is FileKind.TEXT:
        raise FeatureFileError(f"{path}: a text file, not a NumPy {suffix} file; if it "
                               "holds comma-separated numbers, give it the .csv suffix")
    other = next((s for s, k in _NUMPY_KINDS.items() if k is kind and s != suffix), None)
    if other is not None:  # np.save's file under np.savez's suffix, or the reverse
        raise FeatureFileError(f"{path}: {kind.value}, not a NumPy {suffix} file; give it "
                               f"the {other} suffix")
    what = f"{kind.value}, not" if kind is not None else "not"
    raise FeatureFileError(f"{path}: {what} a NumPy {suffix} file (it does not start as "
                           f"one); save the features with {saver}")


def _npz_key(path: Path, names: list[str], key: str | None) -> str:
    """The array of a .npz file (holding the arrays `names`) that holds the features: `key`,
    else `X`, else the only one; FeatureFileError naming the arrays when there is none."""
    if key is None:
        key = "X" if "X" in names else (names[0] if len(names) == 1 else None)
    if key is None:
        raise FeatureFileError(f"{path}: choose the array with --key; it holds {names}")
    if key not in names:
        raise FeatureFileError(f"{path}: holds no array {key!r} (--key); it holds {names}")
    return key


def csv_header(path: str | Path, names: Sequence[str] | None = None) -> list[str] | None:
    """The column names of a .csv feature file's header row (`read_features` skips it, given
    the same `names`), stripped of surrounding spaces; None for a file without one, or not a
    .csv, or not readable text."""
    path = Path(path)
    if path.suffix.lower() != ".csv":
        return None
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            head = list(itertools.islice(_filled_rows(fh), HEADER_LOOKAHEAD + 1))
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    if not head or not _is_header(head[0][1], [r for _, r in head[1:]], names):
        return None
    return [c.strip() for c in head[0][1]]


def csv_lines(path: str | Path, names: Sequence[str] | None = None) -> list[int] | None:
    """The line number (as an editor counts lines, blank ones included) of each sample of a
    .csv feature file, in the order `read_features` reads them given the same `names` (a
    header row, `csv_header`, left out), so that a message about row i can name its line;
    None for a file that is not a .csv, or not readable text."""
    path = Path(path)
    if path.suffix.lower() != ".csv":
        return None
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            lines = [line for line, _ in _filled_rows(fh)]
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    return lines[1:] if csv_header(path, names) is not None else lines


def numbered_first_row(path: str | Path) -> list[str] | None:
    """The cells of a .csv feature file's first row, stripped, when `read_features` keeps it
    as a sample though it may be a header of numbered columns (so `mulde fit` can say which
    it took): "0" or "0,1", the names pandas gives one or two unnamed columns (a header only
    above a number written with a point or an exponent, `_is_header`), 2 or more whole
    numbers counting up by one, such as years ("2019,2020,2021"; a header only above rows of
    numbers so written alone), or one column's year ("2019", `_YEAR`) above rows not all
    years (a one-cell row has no count to read). None for any other first row, a file with a
    header, not a .csv, or not readable text."""
    path = Path(path)
    if path.suffix.lower() != ".csv" or csv_header(path) is not None:
        return None
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            head = [r for _, r in itertools.islice(_filled_rows(fh), HEADER_LOOKAHEAD + 1)]
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    names = [c.strip() for c in head[0]] if head else []
    if not names or not all(_is_whole(c) and is_number(c) for c in names):  # not "²"
        return None
    values = [int(c) for c in names]
    counting = len(values) >= 2 and all(b == a + 1 for a, b in itertools.pairwise(values))
    year = len(names) == 1 and _YEAR.fullmatch(names[0]) is not None and not all(
        len(row) == 1 and _YEAR.fullmatch(row[0].strip()) for row in head[1:])
    return names if counting or year or names == ["0"] else None


def row_number_columns(X: np.ndarray) -> list[int]:
    """The 0-based columns of X (n, d) that count the rows, 0, 1, ..., n - 1 or 1, 2, ..., n
    in order (a row index written as a column, e.g. by pandas' `to_csv()` or a database id),
    when there are at least 3 rows: a feature that only says where a row is in the file."""
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] < 3:
        return []
    steps = np.arange(X.shape[0], dtype=np.float64)
    return [j for j in range(X.shape[1])
            if X[0, j] in (0, 1) and np.array_equal(X[:, j], steps + X[0, j])]


SHUFFLED_INDEX_MIN_ROWS = 20
"""The fewest rows from which `shuffled_index_columns` takes a column of each whole number of
a range once for a row id (fewer could be a feature by chance)."""


def shuffled_index_columns(X: np.ndarray) -> list[int]:
    """The 0-based columns of X (n, d) that hold each whole number of a range lo, ..., lo +
    n - 1 once, in another order than `row_number_columns`' (rows shuffled after an id was
    given, or numbered from elsewhere: 1000, 1001, ...), from `SHUFFLED_INDEX_MIN_ROWS` rows:
    a row id, not a feature."""
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] < SHUFFLED_INDEX_MIN_ROWS:
        return []
    counting = set(row_number_columns(X))
    n, found = X.shape[0], []
    for j in range(X.shape[1]):
        column = X[:, j].astype(np.float64)  # a uint8 column's max - min would wrap
        if j in counting or not np.all(np.isfinite(column)):
            continue
        with np.errstate(over="ignore"):  # values near float64's limit: inf, not a range
            span = column.max() - column.min()
        if span == n - 1 and np.all(column == np.round(column)) and len(np.unique(column)) == n:
            found.append(j)
    return found


def _filled_rows(fh) -> Iterator[tuple[int, list[str]]]:
    """The rows of an open .csv file that hold something, each with its line number (as an
    editor counts lines, blank ones included)."""
    reader = csv.reader(fh)
    return ((reader.line_num, r) for r in reader if r and any(c.strip() for c in r))


def _is_header(cells: list[str], following: Sequence[list[str]] = (),
               fitted: Sequence[str] | None = None) -> bool:
    """Whether a first row names the columns: none of its cells is a number or a flag (True,
    False); or it equals `fitted` (the columns a model was fitted on); or it holds the names
    pandas gives an array's columns, 0, 1, ..., d - 1 (`pd.DataFrame(X).to_csv("f.csv",
    index=False)`): from 3 columns on always (no other row of features is likely to be that),
    with 1 or 2 columns when a `following` row holds a number written with a point or an
    exponent ("81.0" counts; a row "0,1" over whole numbers written without one stays data);
    with the index, an empty first name before them, from 2 columns on (refused by `_read_csv`
    as an index column, as a row with an empty first cell would be); or it holds 2 or more
    distinct whole numbers (names such as years) above at least 2 `following` rows (the next
    `HEADER_LOOKAHEAD`) of fractions only, written with a point or an exponent (no sample is
    likely to be distinct whole numbers in every column where no other is whole in any; a first
    row such as 0,0,0 stays a sample)."""
    names = [c.strip() for c in cells]
    if fitted is not None and names == [str(n).strip() for n in fitted]:
        return True
    if (len(names) >= 2 and len(set(names)) == len(names) and len(following) >= 2
            and all(_is_whole(c) for c in names) and all(
                len(row) == len(names) and all(is_number(c) and not _is_whole(c) for c in row)
                for row in following)):
        return True
    default = [str(i) for i in range(len(names))]
    if names == default and (len(names) >= 3 or any(
            is_number(c) and not _is_whole(c) for row in following for c in row)):
        return True
    if len(names) >= 2 and names[0] == "" and names[1:] == default[:-1]:
        return True
    return not any(_is_value(c) for c in cells)


def _is_value(cell: str) -> bool:
    """Whether a CSV cell is a value `_read_csv` reads: a number or a flag (`BOOLEANS`)."""
    return is_number(cell) or cell.strip().upper() in BOOLEANS


BOOLEANS = {"TRUE": 1.0, "FALSE": 0.0}
"""Cells (upper-cased) read as a flag's 1 or 0: pandas' `to_csv` writes a bool column as
True / False, Excel and R as TRUE / FALSE (numpy reads a bool array as 1.0 and 0.0 alike)."""

MISSING_MARKERS = frozenset({"NA", "N/A", "NULL", "NONE", "?", "-", "#N/A"})
"""Cells (upper-cased) that spreadsheets and R write for a missing value, said to be one
("nan" is read as NaN and refused as a non-finite value)."""

SPREADSHEET_ERRORS = frozenset({"#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#NULL!",
                                "#SPILL!", "#CALC!", "#GETTING_DATA", "#FIELD!", "#BLOCKED!",
                                "#CONNECT!", "#BUSY!", "#UNKNOWN!", "#PYTHON!", "#EXTERNAL!",
                                "#ERROR!"})
"""Cells (upper-cased) a spreadsheet writes for a formula's error (Excel's error values, and
Google Sheets' #ERROR!): a cell that is not a number (said as a formula's error), not a
comment line, though it starts with '#'."""

_COMMA_NUMBER = re.compile(r"\s*[+-]?(?:\d*,\d+(?:[eE][+-]?\d+)?|\d{1,3}(?:,\d{3})+(?:\.\d+)?)\s*")
"""A quoted field such as "1,5" or "1,000": a number written with a comma in a comma-separated
file, as a decimal comma (pandas' `to_csv(decimal=",")`) or a thousands separator (a
spreadsheet's export)."""

_COMMA_NUMBER_HINT = ("a number written with a comma (a decimal comma or a thousands "
                      "separator): write plain numbers, with a point for decimals and no "
                      "thousands separators")

_YEAR = re.compile(r"(?:19|20)\d\d")
"""A cell written as a year from 1900 to 2099: a one-column file's header name it may be."""

HEADER_LOOKAHEAD = 20
"""The rows after the first that `_is_header` reads to tell pandas' names 0 (, 1) of a one-
or two-column file from a row of whole numbers."""


def _not_utf8(path: Path) -> str:
    """The message for a .csv file that is not UTF-8 text: UTF-16 (the byte-order mark of
    Excel's "Unicode text"), binary, or the line of its first byte that is not UTF-8 (as an
    editor counts lines); and what to do."""
    data = path.read_bytes()
    fix = 'save it as UTF-8 (Excel: "CSV UTF-8")'
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return f"{path}: UTF-16 text, not UTF-8; {fix}"
    if b"\x00" in data[:4096]:  # no text file holds NUL bytes: a .npy, .npz, ... renamed
        return (f"{path}: a binary file, not comma-separated text; give a .csv of numbers, "
                "or the file under its own suffix (.npy, .npz)")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        return (f"{path}: line {line} is not UTF-8 text (byte 0x{data[err.start]:02x}, e.g. "
                f"a Latin-1 or Windows-1252 character); {fix}")
    return f"{path}: not UTF-8 text; {fix}"  # pragma: no cover - open() refused it


def _read_csv(path: Path, fitted: Sequence[str] | None = None) -> np.ndarray:
    """Read the numbers of a .csv file (a first row equal to `fitted` is a header, see
    `_is_header`); errors name the line (as an editor counts it, blank lines included) and
    the column (from 1, with its name when there is a header)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:  # -sig: Excel's byte-order mark
            rows = list(_filled_rows(fh))
    except UnicodeDecodeError:
        raise FeatureFileError(_not_utf8(path)) from None
    if not rows:
        raise FeatureFileError(f"{path}: empty CSV file; give one row of numbers per sample")
    # a first row of the names the model was fitted on is its header, and "#N/A" a missing
    # value (said below), whatever their '#'
    named = fitted is not None and [c.strip() for c in rows[0][1]] == [
        str(n).strip() for n in fitted]
    comment = next((line for line, row in rows[int(named):] if row[0].lstrip().startswith("#")
                    and row[0].strip().upper() not in MISSING_MARKERS | SPREADSHEET_ERRORS),
                   None)
    if comment is not None:  # np.savetxt(header=...) writes "# a,b,c"; R and others "# ..."
        raise FeatureFileError(f"{path}: line {comment} starts with '#', a comment, which a "
                               "features file does not hold; remove the line (a header of "
                               "column names is written without '#': np.savetxt(..., "
                               "comments=''))")
    first, cells = rows[0]
    other = _one_field_of_another_separator(cells)
    # the first row and the next, one field each with another separator: a whole file of
    # another separator (a one-column header such as "score (mean; sd)" has numbers below)
    if other and (len(rows) == 1 or _one_field_of_another_separator(rows[1][1])):
        raise FeatureFileError(f"{path}: line {first} is one field ({quoted(cells[0])}): "
                               f"{other}")
    names: list[str] | None = None
    if _is_header(cells, [r for _, r in rows[1:HEADER_LOOKAHEAD + 1]], fitted):
        names, rows = cells, rows[1:]
        if not names[0].strip() and any(n.strip() for n in names[1:]):
            raise FeatureFileError(
                f"{path}: line {first}: the first column has no name, as the index column that "
                "pandas' DataFrame.to_csv writes; it would be read as a feature: write the file "
                "with index=False, or drop that column")
        if not rows:
            raise FeatureFileError(f"{path}: a header row and no data rows; write the "
                                   "samples below the header, one per line")
    else:  # a data row with a typo must not pass for a header
        # (an empty cell is a missing value: the loop below says so, as on any row)
        typo = next((j for j, c in enumerate(cells) if c.strip() and not _is_value(c)), None)
        if typo is not None:
            number = next(j for j, c in enumerate(cells) if _is_value(c))
            other = other_separator(cells[typo], spaces=False)  # "21,5;1,25": decimal commas
            raise FeatureFileError(
                f"{path}: line {first}, column {typo + 1}: {quoted(cells[typo])} is not a "
                f"number, column {number + 1} ({quoted(cells[number])}) is: "
                + (f"{other}, with points for decimals" if other else
                   _COMMA_NUMBER_HINT if _COMMA_NUMBER.fullmatch(cells[typo]) else
                   f"if line {first} is a header, give column {number + 1} a name that is not "
                   "a number; if it is a sample, fix that cell"))
    width = len(names if names is not None else rows[0][1])
    if width > 1 and all(not row[-1].strip() for _, row in rows) and (
            names is None or not names[-1].strip()):
        raise FeatureFileError(f"{path}: every line ends with a comma (an empty column "
                               f"{width}, no values in it); remove the trailing commas")
    if names is not None:  # names decide which column is which when scoring: each its own
        seen: dict[str, int] = {}
        for j, name in enumerate(c.strip() for c in names):
            if name in seen:
                said = (f"the column name {quoted(name)} appears more than once" if name else
                        "more than one column has no name")
                raise FeatureFileError(f"{path}: line {first}: {said} (columns "
                                       f"{seen[name] + 1} and {j + 1}); give every column "
                                       "its own name")
            seen[name] = j

    def column(j: int) -> str:
        return f"column {j + 1}" + (f" ({quoted(names[j])})" if names is not None else "")

    out = np.empty((len(rows), width))
    for i, (line, row) in enumerate(rows):
        if len(row) != width:
            # a header of another separator over decimal commas ("temp;load" over "21,5;1,25")
            other = _one_field_of_another_separator(names) if names else None
            if other and len(row) > 1:  # its commas split numbers: decimal commas ("2,5")
                other += ", with points for decimals"
            raise FeatureFileError(f"{path}: line {line} has {len(row)} fields, expected "
                                   f"{width}" + (" as in the header" if names else "")
                                   + (f"; the header is one field ({quoted(names[0])}): "
                                      f"{other}" if other else
                                      f"; give every line the same {width} values (a missing "
                                      "value cannot be left out: impute it or drop the line)"))
        for j, cell in enumerate(row):
            try:
                out[i, j] = float(cell)
            except ValueError:
                flag = BOOLEANS.get(cell.strip().upper())
                if flag is not None:  # a bool column as pandas or a spreadsheet writes it
                    out[i, j] = flag
                    continue
                if not cell.strip():
                    raise FeatureFileError(
                        f"{path}: line {line}, {column(j)}: empty (a missing value); impute "
                        "or remove it") from None
                if cell.strip().upper() in MISSING_MARKERS:
                    raise FeatureFileError(
                        f"{path}: line {line}, {column(j)}: {quoted(cell)}, a missing value; "
                        "impute or remove it") from None
                other = other_separator(cell, spaces=width == 1)  # "1 2,3": a lost comma
                hint = (f" ({other})" if other else
                        f"; {_COMMA_NUMBER_HINT}" if _COMMA_NUMBER.fullmatch(cell) else
                        " (a spreadsheet's formula error): fix the formula, or impute or "
                        "remove the value" if cell.strip().upper() in SPREADSHEET_ERRORS else
                        "; every column must hold numbers: drop "
                        "or encode columns of text (names, ids, class labels)")
                raise FeatureFileError(f"{path}: line {line}, {column(j)}: {quoted(cell)} is "
                                       f"not a number{hint}") from None
    bad, j = _nonfinite(out)
    if bad.size:
        lines = ", ".join(str(rows[int(r)][0]) for r in bad[:5]) + (
            ", ..." if bad.size > 5 else "")
        raise FeatureFileError(f"{path}: {bad.size} row(s) hold NaN or inf values (line"
                               f"{'s' if bad.size > 1 else ''} {lines}; the first in "
                               f"{column(j)}: {rows[int(bad[0])][1][j].strip()!r}); impute or "
                               "remove them")
    return out


def other_separator(text: str, spaces: bool = True) -> str | None:
    """The sentence for a CSV field that holds a semicolon or a tab, the separators of other
    locales' CSV and of TSV, or (with `spaces`) only numbers separated by spaces (numpy's
    `savetxt` default): "fields are separated by commas, not semicolons"; None when it holds
    none of them (surrounding spaces and tabs do not count)."""
    text = text.strip()
    tokens = text.split()
    name = next((name for sep, name in ((";", "semicolons"), ("\t", "tabs")) if sep in text),
                "spaces" if spaces and len(tokens) > 1 and all(map(is_number, tokens))
                else None)
    return None if name is None else (f"fields are separated by commas, not {name}: save the "
                                      "file as CSV with commas (e.g. pandas' to_csv)")


def _one_field_of_another_separator(cells: list[str]) -> str | None:
    """`other_separator`'s sentence for a row that is one field, not a number, holding
    another separator (a whole row of a semicolon, tab or space separated file); else None."""
    if len(cells) != 1 or is_number(cells[0]):
        return None
    return other_separator(cells[0])


def quoted(text: str, limit: int = 40) -> str:
    """repr(text), cut to its first `limit` characters and "..." when longer: a message
    quotes a field or a file's first line, not a whole row that failed to split."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "..."


def _nonfinite(X: np.ndarray) -> tuple[np.ndarray, int]:
    """The 0-based rows of float X (n, d) that hold NaN or inf, and the column of the first
    such value in the first of them (-1 when there is none)."""
    bad = np.flatnonzero(~np.isfinite(X).all(axis=1))
    return bad, int(np.flatnonzero(~np.isfinite(X[bad[0]]))[0]) if bad.size else -1


def whole_number(text: str) -> int | None:
    """The whole number a text field holds, also written as a float ("108", " 108 ", "108.0",
    "1.08e2": a column with gaps is written so by pandas); None for anything else (empty
    text, a word, a fraction such as 4.3, nan, inf). Used by every reader of frame numbers
    (labels.csv, score CSVs, UBnormal's track text), which name the file, row and field."""
    value = text.strip()
    try:
        return int(value)
    except ValueError:
        pass
    try:
        number = float(value)
    except ValueError:
        return None
    return int(number) if number.is_integer() else None


def _is_whole(cell: str) -> bool:
    """Whether a cell is a whole number written without a point or exponent ("12", "-3")."""
    return cell.strip().lstrip("+-").isdigit()


def is_number(cell: str) -> bool:
    """Whether a text field reads as a float (surrounding spaces allowed; "nan", "inf" too)."""
    try:
        float(cell)
    except ValueError:
        return False
    return True


def check_features(X: np.ndarray, source: str | Path = "features") -> np.ndarray:
    """Return X as a 2-D float array, float64, or float32 or float16 where X holds those (the
    precision the values were written in, which `mulde.MULDE`'s lattice check reads: a
    float32 reading is a few of its units off its lattice); raise naming the source if it is
    empty, not real numbers, not 2-D (a 1-D array is refused: it could be one feature or one
    sample) or has NaN/inf values (listing the first offending rows)."""
    X = np.asarray(X)
    if X.dtype == object or not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
        raise FeatureFileError(f"{source}: array of dtype {X.dtype} is not numeric; save the "
                               "features as numbers (e.g. np.save(path, X.astype(float)))")
    if np.iscomplexobj(X):
        raise FeatureFileError(f"{source}: array of dtype {X.dtype} is complex; features "
                               "must be real numbers")
    if X.ndim == 1:  # n samples of one feature, or one sample of n? refused, as scikit-learn
        raise FeatureFileError(
            f"{source}: a 1-D array of {X.shape[0]} values; features are a 2-D (n_samples, "
            "n_features) array: save x.reshape(-1, 1) for samples of one feature, or "
            "x.reshape(1, -1) for one sample")
    if X.ndim != 2:
        raise FeatureFileError(f"{source}: expected a 2-D (n_samples, n_features) array, "
                               f"got shape {X.shape}")
    if X.size == 0:
        raise FeatureFileError(f"{source}: empty array of shape {X.shape}; give at least one "
                               "sample of at least one feature")
    if X.dtype not in (np.float32, np.float16):
        X = X.astype(np.float64)
    problem = nonfinite_rows(X, source)
    if problem:
        raise FeatureFileError(problem)
    return X


def nonfinite_rows(X: np.ndarray, source: str | Path, row_labels: Sequence[Any] | None = None,
                   column_labels: Sequence[Any] | None = None) -> str:
    """The one-line error for a float array X (n, d) that holds NaN or inf: how many rows,
    the first five, the first value's column and value, and what to do; "" when every value
    is finite. `source` names the array (a file, or "X"). Rows and columns are 0-based
    positions, or given `row_labels` (n,) and `column_labels` (d,) (a DataFrame's index and
    columns), their labels."""
    bad, j = _nonfinite(X)
    if not bad.size:
        return ""
    more = ", ..." if bad.size > 5 else ""
    if row_labels is None:
        rows = "0-based rows " + ", ".join(str(int(r)) for r in bad[:5]) + more
    else:
        rows = "rows labelled " + ", ".join(repr(row_labels[int(r)]) for r in bad[:5]) + more
    column = (f"column {j}, counting from 0" if column_labels is None
              else f"column {column_labels[j]!r}")
    return (f"{source}: {bad.size} row(s) hold NaN or inf values ({rows}; the first in "
            f"{column}: {X[bad[0], j]}); impute or remove them")


def energy_columns(sigmas: np.ndarray) -> list[str]:
    """CSV column names for the (n, L) energies at noise levels `sigmas` (L,):
    `energy_sigma_S`, S each level written with the fewest significant digits (3 at least)
    that tell all of them apart, e.g. energy_sigma_0.001, energy_sigma_0.00158, ... The
    names depend on the levels alone, so a model gives the same names on every run. Levels
    equal even at float32's 9 digits (possible only with millions of levels) get their
    1-based position added: energy_sigma_0.001_level_2."""
    values = [float(s) for s in np.asarray(sigmas, dtype=np.float64).ravel()]
    for digits in range(3, 10):
        names = [f"energy_sigma_{v:.{digits}g}" for v in values]
        if len(set(names)) == len(names):
            return names
    return [f"{name}_level_{j + 1}" for j, name in enumerate(names)]


SCORE_COLUMNS = ("score", "predict")
"""The one-column CSV headers `write_scores` gives `mulde score`'s output: its scores, or
with --predict its labels."""


def not_scores(path: str | Path, n_levels: int | None = None) -> str | None:
    """What the existing file `path` holds, in a few words, where writing `mulde score`'s
    output there (`write_scores`) would lose something; None where there is no file, an
    empty one, or one such as that command writes: a CSV headed `score` or `predict`, or
    by `energy_sigma_...` or `score_1, score_2, ...` columns; an .npy of one floating-point
    value per row or of +1/-1 labels; with `n_levels` (a multiscale output of that many
    noise levels) also a floating-point .npy of n_levels columns. Anything else (a
    features file, notes, a model) would be overwritten, and the caller refuses it. A
    heuristic on the file's form: a user's file of one of those forms (a 1-D float array,
    a CSV headed `score`) is taken for scores and replaced."""
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return None
    if path.suffix.lower() == ".csv":
        try:
            with path.open(encoding="utf-8-sig", errors="replace") as fh:
                first = fh.readline(65536).strip()
        except OSError as err:
            return f"unreadable ({err.strerror or err})"
        names = [n.strip() for n in first.split(",")]
        if (names in ([c] for c in SCORE_COLUMNS)
                or all(n.startswith("energy_sigma_") for n in names)
                or names == [f"score_{j + 1}" for j in range(len(names))]):
            return None
        return f"a CSV whose first line is {quoted(first, 60)}"
    try:
        a = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as err:
        return f"not an array .npy file ({str(err).splitlines()[0] if str(err) else err})"
    if not isinstance(a, np.ndarray):  # np.load reads a .npz archive whatever its name
        a.close()
        return "a .npz archive of arrays"
    floating = np.issubdtype(a.dtype, np.floating)
    if a.ndim == 1 and (floating or (np.issubdtype(a.dtype, np.integer)
                                     and np.isin(np.unique(a), (-1, 1)).all())):
        return None
    if floating and a.ndim == 2 and n_levels is not None and a.shape[1] == n_levels:
        return None
    return f"an array of shape {tuple(a.shape)} and dtype {a.dtype}"


def write_scores(path: str | Path, scores: np.ndarray,
                 columns: list[str] | None = None) -> Path:
    """Atomically write scores as .npy (their own dtype), or as a .csv under a header: for
    (n,) scores `columns` (one name, e.g. ["predict"]), by default `score`; for (n, L)
    scores `columns` (L names, e.g. `energy_columns(model.sigmas_)`), by default
    `score_1..score_L`. A CSV's values read back exactly: whole numbers (such as `predict`'s
    +1 / -1) as they are; float32 (and float16) scores, such as
    `score_samples_multiscale`'s energies, with the fewest digits that give the same value of
    their type (-11.526326, not float64's -11.526326179504395); others with 17 significant
    digits (exact float64)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".csv":
            scores = np.asarray(scores)
            width = 1 if scores.ndim == 1 else scores.shape[1]
            if columns is not None and len(columns) != width:
                raise ValueError(f"{len(columns)} column names for {width} columns")
            header = (",".join(columns) if columns is not None else
                      "score" if scores.ndim == 1 else
                      ",".join(f"score_{j + 1}" for j in range(scores.shape[1])))
            if scores.dtype in (np.float32, np.float16):  # str: numpy's shortest exact digits
                with open(tmp, "w", encoding="utf-8") as fh:
                    fh.write(header + "\n")
                    fh.writelines(",".join(map(str, row)) + "\n"
                                  for row in scores.reshape(len(scores), -1))
            else:
                whole = np.issubdtype(scores.dtype, np.integer)
                np.savetxt(tmp, scores, delimiter=",", header=header, comments="",
                           fmt="%d" if whole else "%.17g")
        else:
            with open(tmp, "wb") as fh:
                np.save(fh, np.asarray(scores))
    return path
