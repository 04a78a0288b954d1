"""A folder of finished model fits, so that an interrupted `mulde run` or `mulde train` resumes.

A `StreamEnsemble` runs one `FitJob` per stream and calibration fold: the stream's model on
all training objects, and each out-of-fold refit whose held-out scores calibrate it (module
`mulde.vad.ensemble`). They are most of a run's time (minutes each for MULDE on a CPU), so a
run stopped by Ctrl-C, a crash or a lost machine should not redo the ones it finished. Each
finished job is written here under a key that names exactly what it fitted: the SHA-256 of
the stream model's settings (its artefact entry: kind, parameters, seed, PCA), the fold, the
training objects X and their videos (bytes, dtype and shape), and the mulde and torch
versions. The next run with the same features and settings reads the fit back instead of
running it; anything else (other features, a parameter, a new mulde) is another key.

Per job, `<key>.safetensors` holds the fit ("model": the fitted stream model, written as the
trained pipeline writes it, `mulde.vad.stream_files`; "scores": a refit's held-out scores),
and `<key>.json`, written last so that a job killed while saving leaves no entry, its kind,
the seconds it took and the warnings it gave. An entry that cannot be read back (truncated,
another format) is fitted again and overwritten.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from mulde import __version__
from mulde.io.atomic import write_json
from mulde.vad.stream_files import (
    ArtifactError,
    load_stream,
    read_arrays,
    save_stream,
    stream_spec,
    write_arrays,
)

FORMAT = "mulde-fit-1"
"""The format name of an entry's JSON; a future layout gets another, so old entries are
fitted again rather than misread."""


def _torch_version() -> str:
    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:  # kNN / GMM runs need no torch
        return ""


def job_key(spec: dict[str, Any], X: np.ndarray, groups: np.ndarray, folds: int | None,
            fold: int | None) -> str:
    """The hex SHA-256 naming one fit: the unfitted stream model's artefact entry `spec`
    (`mulde.vad.stream_files.stream_spec`), the training objects X (n, d) and their video ids
    `groups` (n,), the calibration `folds` and `fold` (None: the fit on all of X), and the
    mulde and torch versions."""
    h = hashlib.sha256()
    head = {"format": FORMAT, "mulde": __version__, "torch": _torch_version(),
            "spec": spec, "folds": folds, "fold": fold}
    h.update(json.dumps(head, sort_keys=True, default=str).encode())
    for a in (X, groups):
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.data)
    return h.hexdigest()


@dataclass(frozen=True)
class FitCache:
    """Finished fits under `folder` (module docstring); `load` and `store` by `job_key`."""

    folder: Path

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.folder / f"{key}.json", self.folder / f"{key}.safetensors"

    def load(self, key: str) -> tuple[Any, np.ndarray | None, float, tuple[str, ...]] | None:
        """Return (model or None, held-out scores or None, seconds, warnings) of the fit
        stored under `key`; None when there is none or it cannot be read back."""
        entry_path, path = self._paths(key)
        try:
            entry = json.loads(entry_path.read_text())
            if entry.get("format") != FORMAT or entry.get("key") != key:
                return None
            said = tuple(str(w) for w in entry.get("warnings", ()))
            seconds = float(entry.get("seconds", 0.0))
            if entry.get("kind") == "scores":
                return None, read_arrays(path)[1]["scores"], seconds, said
            if entry.get("kind") == "model":
                return load_stream(entry["spec"], path), None, seconds, said
        except (OSError, ValueError, KeyError, TypeError, ArtifactError):
            return None
        return None

    def store(self, key: str, model: Any, scores: np.ndarray | None, seconds: float,
              said: tuple[str, ...]) -> bool:
        """Write one finished fit under `key` (the model of a fit on all objects, or a
        refit's held-out `scores`); return False, writing no entry, for a model the
        trained pipeline cannot save (`mulde.vad.stream_files.stream_spec` None)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        entry_path, path = self._paths(key)
        entry: dict[str, Any] = {"format": FORMAT, "key": key, "seconds": seconds,
                                 "warnings": list(said)}
        if scores is not None:
            write_arrays(path, {"scores": np.asarray(scores)}, {"format": FORMAT})
            entry["kind"] = "scores"
        else:
            if stream_spec(model) is None:
                return False
            entry["kind"], entry["spec"] = "model", save_stream(model, path)
        write_json(entry_path, entry)  # last: a job killed before it leaves no entry
        return True
