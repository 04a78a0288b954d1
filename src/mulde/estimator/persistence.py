"""The MULDE model file: one safetensors file of named arrays plus string metadata, no pickle.

This module knows the file format (its `format` / `format_version` / `mulde_version` metadata,
and every check a file must pass before its contents are trusted), not the estimator: `MULDE.save`
hands it arrays and metadata, and `MULDE.load` builds the estimator from what
`read_model_file` returns.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open

from mulde._version import __version__
from mulde.io.features import FEATURE_SUFFIXES
from mulde.io.sniff import FileKind, sniff
from mulde.io.tensors import write_safetensors

FORMAT = "mulde"
FORMAT_VERSION = 2
DEFAULT_NAME = "model.safetensors"
# the metadata field of the file's SHA-256 (`content_checksum`: the caller's metadata and the
# arrays), which `save_arrays` writes and `read_model_file` checks. Format 2 is format 1 with
# this field required, so that deleting it is refused as editing it is; format-1 files (saved
# before the field existed) load unchecked, as they did
CHECKSUM = "sha256"
CHECKSUM_SINCE = 2
_FORMAT_KEYS = ("format", "format_version", "mulde_version", CHECKSUM)
# the metadata field that `PyODMULDE.save` adds (JSON: PyOD's contamination, threshold_ and
# class count); named here so that `mulde info` can read it without importing PyOD
PYOD_META = "pyod"


class ModelFileError(ValueError):
    """A model file is missing, truncated, foreign, from a newer version, changed since it was
    saved, or inconsistent."""


def pyod_fields(path: str | Path, meta: Mapping[str, str]) -> tuple[float, float, int] | None:
    """PyOD's (contamination, threshold_, class count) that `PyODMULDE.save` stored in the
    metadata field `PYOD_META` of the model file `path` (its metadata `meta`, as read), None
    for a file without the field. What `PyODMULDE.load` restores and what `mulde info` and
    `mulde export` write of such a file, checked once here (without importing PyOD):
    ModelFileError naming the file and the field when its JSON does not hold the three, the
    contamination is not in (0, 0.5] (PyOD's own range: NaN, 0 or 5 no fit writes), the
    threshold is NaN or -inf (no fit gives them; +inf is a validation threshold that flags
    none) or the class count is not a number int() takes (a fraction is cut to its whole
    part, as int() cuts it)."""
    raw = meta.get(PYOD_META)
    if raw is None:
        return None
    bad = f"{path}: inconsistent PyODMULDE model file: metadata field '{PYOD_META}'"
    try:
        extra = json.loads(raw)
        contamination, threshold = float(extra["contamination"]), float(extra["threshold"])
        n_classes = int(extra["n_classes"])
    except (KeyError, TypeError, ValueError, OverflowError) as err:  # JSONDecodeError too
        raise ModelFileError(f"{bad} lacks PyOD's contamination, threshold and n_classes "
                             f"({type(err).__name__}: {cut(str(err), 60)}); fit and save it "
                             "again") from None
    if not 0.0 < contamination <= 0.5:  # as PyOD checks it when a detector is made
        raise ModelFileError(f"{bad} has contamination {contamination}, not in (0, 0.5] "
                             "(PyOD's share of outliers); fit and save it again")
    if math.isnan(threshold) or threshold == -math.inf:
        raise ModelFileError(f"{bad} has threshold {threshold}, not a finite number or +inf; "
                             "fit and save it again")
    return contamination, threshold, n_classes


MAX_DIGITS = 18
"""The most digits `whole_number` reads: a count or version of a model file has far fewer,
and int() of a 5000-digit string is slow and prints whole."""


def whole_number(raw: str) -> int | None:
    """The whole number a metadata field `raw` writes in ASCII digits (an optional leading
    "-", nothing else: no spaces, signs "+", underscores or other scripts' digits, which
    int() would take), of at most `MAX_DIGITS` digits; None for anything else."""
    digits = raw[1:] if raw.startswith("-") else raw
    if not (0 < len(digits) <= MAX_DIGITS and digits.isascii() and digits.isdigit()):
        return None
    return int(raw)


def cut(text: str, limit: int = 40) -> str:
    """`text` as a message prints it: cut after `limit` characters with "…"."""
    return text if len(text) <= limit else text[:limit] + "…"


def shown(raw: str, limit: int = 40) -> str:
    """`raw` as a message quotes it (repr), cut after `limit` characters with "…" so that a
    field of thousands of characters stays one short line."""
    return repr(raw) if len(raw) <= limit else repr(raw[:limit]) + "…"


def content_checksum(arrays: Mapping[str, np.ndarray], meta: Mapping[str, str]) -> str:
    """The hex SHA-256 of a model file's content: its named arrays as a safetensors file
    stores them, and its caller's metadata fields (`save_arrays`' `meta`: the parameters,
    the threshold offset, column names, ...), each independent of the order given. First a
    JSON line of the metadata's [key, value] pairs sorted by key (the format's own fields
    and the checksum itself left out), then for each array name in sorted order a JSON line
    [name, dtype, shape] (dtype as NumPy names it, "float32") and the array's bytes, C order,
    little-endian. `save_arrays` stores it in the metadata (`CHECKSUM`), `read_model_file`
    recomputes it, so an edited offset is refused as edited weights are."""
    digest = hashlib.sha256()
    fields = sorted((k, str(v)) for k, v in meta.items() if k not in _FORMAT_KEYS)
    digest.update(json.dumps(fields).encode() + b"\n")
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        if a.dtype.byteorder == ">":  # safetensors stores little-endian
            a = a.astype(a.dtype.newbyteorder("<"))
        digest.update(json.dumps([name, a.dtype.name, list(a.shape)]).encode() + b"\n")
        digest.update(a.view(np.uint8).reshape(-1) if a.ndim else a.tobytes())
    return digest.hexdigest()


def model_file(path: str | Path) -> Path:
    """The model file meant by `path`: path itself, or `path/model.safetensors` for a folder,
    an existing one or a string ending in a path separator (`mulde fit --out new_dir/`; Path
    drops the separator, which would make the folder's name a file); a leading ~ is the
    home folder and ~user a user's, as a shell has them (a name such as "~draft.safetensors",
    of no user, is kept as it is)."""
    folder = isinstance(path, str) and path.endswith(("/", os.sep))
    # "~/m.safetensors" had made a folder named "~"; os.path's, not Path's, which raises
    # RuntimeError for "~draft.safetensors" (no user "draft.safetensors")
    path = Path(os.path.expanduser(path))
    return path / DEFAULT_NAME if folder or path.is_dir() else path


PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".pt", ".pth", ".ckpt")
"""The suffixes of pickle files (pickle, joblib, torch.save, a PyTorch Lightning checkpoint),
which a model file is not."""


TEXT_SUFFIXES = (".json", ".yaml", ".yml", ".toml", ".txt", ".md", ".html", ".xml", ".py")
"""The suffixes of text files (settings, notes, code), which a model file, binary, is not:
a reader or editor of such a name would take it for text."""


def save_path(path: str | Path) -> Path:
    """The file a model saved at `path` is written to (`model_file`: a folder gets
    model.safetensors); ValueError naming it, and the suffix to give, when its name says it
    is something else, which a reader would take it for or which it would overwrite: a
    features or scores file (`FEATURE_SUFFIXES`), a pickle (`PICKLE_SUFFIXES`: a model file
    runs no code when loaded), a text file (`TEXT_SUFFIXES`: settings or notes), an ONNX
    graph (.onnx: `mulde export` writes it from the model file). Any other name is a model
    file's, .safetensors the usual suffix; a name without one is written as it is (a
    temporary file's name, `os.path.join(d, "model")`), as before this rule. An existing
    file there that is not a MULDE model file (`_replaceable`: a user's script, notes, a
    foreign safetensors file, whatever its name) is refused too, since saving would
    overwrite it; a MULDE model file is replaced (refitting to the same path; `mulde fit`
    asks for --overwrite first). `MULDE.save`,
    `PyODMULDE.save` (through `save_arrays`) and `mulde fit --out` refuse alike; so is an
    empty name (Path takes it for the working folder, which would get model.safetensors)."""
    if not str(path).strip():
        raise ValueError(f"{str(path)!r} names no file; give the model's file name, such as "
                         f"{DEFAULT_NAME}")
    given, path = Path(os.path.expanduser(path)), model_file(path)
    # a folder named as the model file, or a folder's model.safetensors that is itself a
    # folder (a model saved inside it would be found by no command given the outer folder)
    folder = (given if given.is_dir() and given.suffix.lower() == ".safetensors" else
              path if path.is_dir() else None)
    if folder is not None:
        raise ValueError(f"{folder}: a folder, where the model file would be written; remove "
                         "it or give another name")
    suffix = path.suffix.lower()
    usual = f"give a name such as {DEFAULT_NAME}"
    if suffix in FEATURE_SUFFIXES:
        raise ValueError(f"{path}: the model is written as one .safetensors file; {usual} "
                         "(this name looks like a features or scores file, which it would "
                         "overwrite)")
    if suffix in PICKLE_SUFFIXES:
        raise ValueError(f"{path}: the model is written as one .safetensors file, not a "
                         f"{suffix} pickle (safe to load: no code runs); {usual}")
    if suffix in TEXT_SUFFIXES:
        raise ValueError(f"{path}: the model is written as one binary .safetensors file, not "
                         f"{suffix} text; {usual} (`mulde info` describes it as text)")
    if suffix == ".onnx":  # the graph comes after the fit, from `mulde export`
        raise ValueError(f"{path}: the model is written as one .safetensors file; {usual}, "
                         f"then `mulde export {DEFAULT_NAME}` writes its ONNX graph "
                         "(model.onnx)")
    if path.is_file() and not _replaceable(path):
        kind = _sniffed(path)
        what = f"{kind.value}, " if kind is not None else ""
        raise ValueError(f"{path}: exists and is {what}not a MULDE model, so saving would "
                         f"overwrite it; give another name (such as {DEFAULT_NAME}) or delete "
                         "the file first")
    return path


def _replaceable(path: Path) -> bool:
    """Whether saving may overwrite the existing file `path`: a MULDE model file (safetensors
    metadata 'format' is `FORMAT`, whatever its version or checksum: the model it held is
    being refitted) or an empty file (nothing to lose: a temporary file made for the name)."""
    try:
        if path.stat().st_size == 0:
            return True
        with safe_open(str(path), framework="numpy") as f:
            return (f.metadata() or {}).get("format") == FORMAT
    except (SafetensorError, OSError, ValueError):
        return False


def save_arrays(path: str | Path, arrays: Mapping[str, np.ndarray],
                meta: Mapping[str, str]) -> Path:
    """Write named arrays and string metadata as a MULDE model file; return the file's path.

    path: a file, or a folder that gets model.safetensors; a name of another kind of file
    (.npy, .pt, .onnx, ...), or an existing file that is not a MULDE model, is refused
    (ValueError: `save_path`). arrays:
    any shapes and numeric dtypes (stored C-contiguous). meta: the caller's string fields;
    the format's own fields (format, format_version, mulde_version, and sha256: the arrays'
    and meta's `content_checksum`, which `read_model_file` checks) are added first and may
    not be given: ValueError. Written atomically (`mulde.io.atomic`): a crash leaves the
    previous file, never a partial one.
    """
    clash = sorted(set(meta) & set(_FORMAT_KEYS))
    if clash:
        raise ValueError(f"metadata fields {clash} are reserved for the file format")
    path = save_path(path)
    header = {"format": FORMAT, "format_version": str(FORMAT_VERSION),
              "mulde_version": __version__, CHECKSUM: content_checksum(arrays, meta), **meta}
    return write_safetensors(path, arrays, header)


_ONNX = ("an ONNX graph (what `mulde export` writes: run it with ONNX Runtime; mulde reads "
         "the .safetensors model it was exported from)")
"""How a model file's message names an ONNX graph (`FileKind.ONNX`): with what to do."""


def _sniffed(path: Path) -> FileKind | None:
    """What a file that safetensors cannot read is (`sniff`); None when it cannot be read
    either."""
    try:
        return sniff(path)
    except OSError:
        return None


def read_model_file(path: str | Path) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    """Read a file written by `save_arrays`: return (metadata, arrays).

    path: a file, or a folder holding model.safetensors. The metadata includes the format's
    own fields. Raises ModelFileError, naming the file, when it is missing, not a readable
    safetensors file (truncated, corrupt; a pickle or joblib file, never unpickled, an empty,
    NumPy, zip, HDF5, compressed, ONNX or text file are named as such: `mulde.io.sniff`), a
    safetensors file of something else,
    one whose format_version is not a whole number, written in a newer format than this
    mulde reads, or holds arrays or settings whose checksum differs from the one stored when
    it was saved (`content_checksum`), or lacks that checksum though its format requires it
    (format 2; format-1 files, saved before mulde stored it, are not checked).
    """
    given, path = Path(path), model_file(path)
    if not path.exists() and given.is_dir():
        raise ModelFileError(f"{given}: a folder without {DEFAULT_NAME}, so no MULDE model "
                             "(a .safetensors file written by `mulde fit` or MULDE.save; a "
                             "video pipeline's model folder holds pipeline.json instead)")
    if not path.exists():
        raise ModelFileError(f"{path}: no such model file")
    if not path.is_file():  # a FIFO would block safe_open forever, a folder gives ENODEV
        raise ModelFileError(f"{path}: a pipe, device or folder, not a model file; give the "
                             "model file (a .safetensors file written by `mulde fit` or "
                             "MULDE.save)")
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
            arrays = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as err:
        kind = _sniffed(path)
        if kind is FileKind.PICKLE:
            raise ModelFileError(f"{path}: a pickle (or joblib) file, which MULDE does not "
                                 "load, since unpickling can run code the file holds; if you "
                                 "trust it, read it with joblib.load or pickle.load, and save "
                                 "a MULDE model with model.save (a .safetensors file)") from err
        if kind is not None and kind is not FileKind.SAFETENSORS:  # else damaged, not foreign
            what = _ONNX if kind is FileKind.ONNX else kind.value
            raise ModelFileError(f"{path}: {what}, not a MULDE model (a .safetensors file "
                                 "written by `mulde fit` or MULDE.save)") from err
        raise ModelFileError(f"{path}: not a readable safetensors file "
                             f"(truncated or corrupt?): {err}; copy the file again from where "
                             "it was saved, or fit and save the model again") from err
    if meta.get("format") != FORMAT:
        raise ModelFileError(f"{path}: a safetensors file, but not a MULDE model "
                             "(metadata 'format' is missing or foreign)")
    raw = meta.get("format_version", "0")
    version = whole_number(raw)
    if version is None:
        raise ModelFileError(f"{path}: metadata field 'format_version' is {shown(raw)}, not a "
                             "whole number: the file was changed or damaged; fit and save it "
                             "again")
    if version < 1:
        raise ModelFileError(f"{path}: metadata field 'format_version' is {shown(raw)}, below "
                             "the first format 1: the file was changed or damaged; fit and "
                             "save it again")
    if version > FORMAT_VERSION:
        raise ModelFileError(f"{path}: written by a newer mulde (format {version}, library "
                             f"{meta.get('mulde_version')}); this mulde {__version__} reads "
                             f"format {FORMAT_VERSION} or older: upgrade mulde")
    stored = meta.get(CHECKSUM)
    if stored is None and version >= CHECKSUM_SINCE:
        raise ModelFileError(f"{path}: metadata field {CHECKSUM!r}, which format {version} "
                             "requires, is missing: the file was changed or damaged; fit and "
                             "save it again")
    if stored is not None and stored != content_checksum(arrays, meta):
        raise ModelFileError(f"{path}: its weights or settings do not match the checksum "
                             "stored when it was saved: the file was changed or damaged; fit "
                             "and save it again")
    return meta, arrays
