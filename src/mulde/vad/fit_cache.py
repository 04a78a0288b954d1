"""A folder of finished model fits, so that an interrupted `mulde run` or `mulde train` resumes.

A `StreamEnsemble` runs one `FitJob` per stream and calibration fold: the stream's model on
all training objects, and each out-of-fold refit whose held-out scores calibrate it (module
`mulde.vad.ensemble`). They are most of a run's time (minutes each for MULDE on a CPU), so a
run stopped by Ctrl-C, a crash or a lost machine should not redo the ones it finished. Each
finished job is written here under a key that names exactly what it fitted (`job_key`): the
stream model's settings, the fold, the training objects and the code that fits them. The
next run with the same features and settings reads the fit back instead of running it;
anything else (other features, a parameter, changed fitting code, other library versions)
is another key.

Per job, `<key>.safetensors` holds the fitted stream model (written as a trained pipeline
writes it, `mulde.vad.stream_files`) and `<key>.scores.safetensors` its scores (a refit's
held-out objects, or the model's own training objects when those calibrate it); `<key>.json`,
written last so that a job killed while saving leaves no entry, names them with the seconds
the fit took and the warnings it gave (each with its class: `mulde.vad.fit_warnings`). An
entry that cannot be read back (truncated, another format) is fitted again and overwritten.

Pruning (`prune`): once a `StreamEnsemble.fit` has finished every fit, it removes the
entries it did not use (neither read back nor wrote) that no fit has used for `UNUSED_DAYS`
days (an entry read back counts as used then: `load` touches it). So the folder holds what
the runs of the last week used, and the fits of settings, features or mulde versions left
behind go, while a run that is interrupted keeps its finished fits (an interrupted fit
prunes nothing), as does another run fitting into the same folder at the same time, or a
resumed one, unless it was left unresumed for longer than that. Only the files of entries
(`<key>.json`, `<key>.safetensors`, `<key>.scores.safetensors` and the side files beside a
model, such as `<key>.pca.safetensors`; key in `job_key`'s form) are removed, never another
file; a write's temp file is `mulde.io.atomic.sweep_stale_temp`'s.
`size_bytes` measures the folder; deleting it reclaims all of it (every fit then runs again).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Collection
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from mulde._version import __version__
from mulde.io.atomic import write_json
from mulde.vad.fit_warnings import FitWarning
from mulde.vad.stream_files import (
    SIDE_PARTS,
    ArtifactError,
    load_stream,
    read_arrays,
    save_stream,
    write_arrays,
)

FORMAT = "mulde-fit-1"
"""The format name of an entry's JSON; a future layout gets another, so old entries are
fitted again rather than misread."""
FITTING_CODE = ("core", "estimator", "vad/stream_models.py", "vad/ensemble.py")
"""The parts of the package (under src/mulde) whose source decides what a fit returns: their
digest is in every key, so changed fitting code never reads back an older fit, also between
releases that keep the version number (a developer's checkout)."""
LIBRARIES = ("torch", "numpy", "scipy", "scikit-learn")
UNUSED_DAYS = 7.0
"""`prune` removes the entries no fit has read back or written for this many days (unless the
pruning fit used them): long enough for a run of any length beside it, or one interrupted and
resumed within a week, to keep the fits it needs."""
_ENTRY_FILE = re.compile(r"^([0-9a-f]{64})(\.json|\.safetensors|\.scores\.safetensors|"
                         + "|".join(rf"\.{part}\.safetensors" for part in SIDE_PARTS) + ")$")
"""The name of a file of an entry (`FitCache._paths` of a `job_key`, and the side files
`save_stream` writes beside its model: `mulde.vad.stream_files.side_path`), its key in
group 1."""


@cache
def fitting_code_digest() -> str:
    """The SHA-256 of the source files of `FITTING_CODE` (paths and contents, in order)."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for part in FITTING_CODE:
        files = [root / part] if part.endswith(".py") else sorted((root / part).rglob("*.py"))
        for path in files:
            h.update(path.relative_to(root).as_posix().encode() + b"\0")
            h.update(path.read_bytes())
    return h.hexdigest()


@cache
def _library_versions() -> dict[str, str]:
    out = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:  # kNN / GMM runs need no torch
            out[name] = ""
    return out


def settled_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """`spec` with a MULDE stream's parameters as the estimator holds them: every parameter,
    the defaults included (`MULDE.get_params`), so that a setting written out at its default
    value (`--params '{"lr": "auto"}'`) names the same fit as one left out. Other kinds are
    returned as they are (their entries list every setting already)."""
    if spec.get("kind") != "mulde":
        return spec
    from mulde import MULDE

    params = MULDE(**{"random_state": spec.get("seed"), **spec.get("params", {})}).get_params()
    return {**spec, "params": params}


def data_digest(X: np.ndarray, groups: np.ndarray) -> str:
    """The hex SHA-256 of the training objects X (n, d) and their video ids `groups` (n,):
    values, dtype and shape. Computed once per stream and shared by its fits' `job_key`s."""
    h = hashlib.sha256()
    for a in (X, groups):
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.data)
    return h.hexdigest()


def job_key(spec: dict[str, Any], data: str, folds: int | None, fold: int | None) -> str:
    """The hex SHA-256 naming one fit: the unfitted stream model's artefact entry `spec`
    (`mulde.vad.stream_files.stream_spec`: kind, parameters, seed, PCA; `settled_spec`), the
    `data_digest` of its training objects and their video ids, the calibration `folds` and
    `fold` (None: the fit on all of the objects), the mulde version, the digest of its
    fitting code (`fitting_code_digest`) and the versions of `LIBRARIES`."""
    head = {"format": FORMAT, "mulde": __version__, "code": fitting_code_digest(),
            "libraries": _library_versions(), "spec": settled_spec(spec), "data": data,
            "folds": folds, "fold": fold}
    return hashlib.sha256(json.dumps(head, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class FitCache:
    """Finished fits under `folder` (module docstring); `load` and `store` by `job_key`."""

    folder: Path

    def _paths(self, key: str) -> tuple[Path, Path, Path]:
        return (self.folder / f"{key}.json", self.folder / f"{key}.safetensors",
                self.folder / f"{key}.scores.safetensors")

    def load(self, key: str
             ) -> tuple[Any, np.ndarray | None, float, tuple[FitWarning, ...]] | None:
        """Return (model or None, scores or None, seconds, warnings) of the fit stored under
        `key`; None when there is none or it cannot be read back. A MULDE model's networks
        load on the device its parameters name ("auto" when they name none), as a fit
        would place them. The warnings come back with their class (`FitWarning`; a bare
        message of an older entry as a `UserWarning`)."""
        _, model_path, scores_path = self._paths(key)
        entry = self._entry(key)
        if entry is None:
            return None
        try:
            spec = entry.get("model")
            device = str((spec or {}).get("params", {}).get("device", "auto"))
            model = None if spec is None else load_stream(spec, model_path, device)
            scores = read_arrays(scores_path)[1]["scores"] if entry.get("scores") else None
            found = (model, scores, float(entry.get("seconds", 0.0)),
                     tuple(FitWarning.from_json(w) for w in entry.get("warnings", ())))
        except (OSError, ValueError, KeyError, TypeError, AttributeError, ArtifactError):
            return None
        self._touch(key)
        return found

    def _touch(self, key: str) -> None:
        """Mark the entry under `key` used now (its JSON's modification time, which `prune`
        reads); nothing where that cannot be written (a read-only folder)."""
        try:
            os.utime(self._paths(key)[0])
        except OSError:
            pass

    def _entry(self, key: str) -> dict[str, Any] | None:
        """The JSON entry of the fit stored under `key`; None when there is none, it cannot
        be read, or it is of another format or names another key."""
        try:
            entry = json.loads(self._paths(key)[0].read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(entry, dict) or entry.get("format") != FORMAT \
                or entry.get("key") != key:
            return None
        return entry

    def has(self, key: str, need_scores: bool = False) -> bool:
        """Whether a fit is stored under `key` (its entry names it in this format; with
        `need_scores`, with scores): what `load` reads back, told without loading the model,
        unless its files are damaged."""
        entry = self._entry(key)
        return entry is not None and (bool(entry.get("scores")) or not need_scores)

    def store(self, key: str, model: Any, scores: np.ndarray | None, seconds: float,
              said: tuple[FitWarning, ...]) -> None:
        """Write one finished fit under `key`: its model (None for a refit), `scores` (None
        when it has none), its seconds and its warnings (`said`, each with its class).
        OSError when the folder cannot be written (full, read-only); ArtifactError for a
        model the trained pipeline cannot save."""
        self.folder.mkdir(parents=True, exist_ok=True)
        entry_path, model_path, scores_path = self._paths(key)
        # what is there under this key is a damaged entry `load` could not read back (a
        # job that found its fit is not stored again): its files go, the entry first, so
        # that the model's save does not refuse a damaged file as a user's (it had, and the
        # fit was redone on every run)
        for path in (entry_path, model_path, scores_path):
            path.unlink(missing_ok=True)
        entry: dict[str, Any] = {"format": FORMAT, "key": key, "seconds": seconds,
                                 "warnings": [w.to_dict() for w in said],
                                 "scores": scores is not None,
                                 "model": None if model is None else save_stream(model,
                                                                                 model_path)}
        if scores is not None:
            write_arrays(scores_path, {"scores": np.asarray(scores)}, {"format": FORMAT})
        write_json(entry_path, entry)  # last: a job killed before it leaves no entry

    def is_empty(self) -> bool:
        """Whether no entry was ever written here (the folder is missing or holds no
        `<key>.json`): a first run, which has nothing to look up."""
        return not self.folder.is_dir() or next(self.folder.glob("*.json"), None) is None

    def prune(self, keep: Collection[str], unused_days: float = UNUSED_DAYS) -> int:
        """Remove every entry (module docstring, "Pruning") whose key is not in `keep` (the
        keys the pruning fit used) and none of whose files was written or touched in the
        last `unused_days` days; an entry's JSON goes first, so that it is never read with
        its model gone. Return how many entries were removed. A file that cannot be
        removed, or a folder that cannot be listed, is left as it is (the cache stays
        usable; it is only bigger)."""
        try:
            names = [(m.group(1), p) for p in self.folder.iterdir()
                     if (m := _ENTRY_FILE.match(p.name))]
        except OSError:
            return 0
        files: dict[str, list[Path]] = {}
        for key, path in names:
            files.setdefault(key, []).append(path)
        oldest = time.time() - unused_days * 86400.0
        removed = 0
        for key, paths in files.items():
            if key in keep:
                continue
            try:
                if max(p.stat().st_mtime for p in paths) >= oldest:
                    continue
                for path in sorted(paths, key=lambda p: p.suffix != ".json"):
                    path.unlink(missing_ok=True)
            except OSError:
                continue
            removed += 1
        return removed

    def size_bytes(self) -> int:
        """The bytes the folder's files take (0 when it does not exist)."""
        if not self.folder.is_dir():
            return 0
        return sum(p.stat().st_size for p in self.folder.iterdir() if p.is_file())
