"""One stream's fitted model as files: what a trained pipeline (`mulde.vad.artifact`) and the
finished fits of a run (`mulde.vad.fit_cache`) write and read back.

`stream_spec` names a stream model's kind and settings (the manifest entry), `save_stream`
writes a fitted model (MULDE's own file, `MULDE.save`; kNN's training arrays or GMM's
parameters as safetensors of format "mulde-stream"; a reduced stream's PCA beside it) and
`load_stream` reads it back from its entry. safetensors and JSON only, no pickle; a file that
cannot be read is refused with a one-line `ArtifactError` naming it.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError, safe_open

from mulde._version import __version__
from mulde.io.tensors import write_safetensors
from mulde.vad.stream_models import GMMStream, KNNStream, MULDEStream, PCAStream

STREAM_FORMAT = "mulde-stream"
"""The format name in the metadata of a kNN or GMM stream model's safetensors file (and,
with a suffix, of a pipeline's side files: "-pca", "-reference", "-scores")."""


class ArtifactError(ValueError):
    """A pipeline artefact that cannot be written or read; the message names the file."""


def stream_spec(model: Any) -> dict[str, Any] | None:
    """The manifest entry of a stream model (its kind and settings), None for a model an
    artefact cannot hold (exact types: a subclass may hold more state). A `PCAStream`: its
    model's entry plus "pca" (the components asked for and kept, the variance they hold)."""
    if type(model) is PCAStream:
        inner = stream_spec(model.inner)
        if inner is None or "pca" in inner:
            return None
        kept = getattr(model, "components_", None)
        return {**inner, "pca": {"n_components": int(model.n_components),
                                 "kept": None if kept is None else int(kept.shape[0]),
                                 "explained_variance": getattr(model, "explained_variance_",
                                                               None)}}
    if type(model) is MULDEStream:
        return {"kind": "mulde", "params": model.params, "seed": model.seed}
    if type(model) is KNNStream:
        return {"kind": "knn", "k": model.k, "standardise": model.standardise,
                "squared": model.squared}
    if type(model) is GMMStream:
        return {"kind": "gmm", "n_components": model.n_components,
                "covariance_type": model.covariance_type, "seed": model.seed}
    return None


SIDE_PARTS = ("pca", "reference")
"""The side files a stream's model file may have beside it (`side_path`)."""


def side_path(path: Path, part: str) -> Path:
    """Where a stream's `part` (one of `SIDE_PARTS`: "pca", a reduced stream's projection;
    "reference", a Sidak stream's training object scores) is written beside its model file.
    ValueError for another part."""
    if part not in SIDE_PARTS:
        raise ValueError(f"no side file {part!r}: one of {SIDE_PARTS}")
    return path.with_name(path.name.removesuffix(".safetensors") + f".{part}.safetensors")


def write_arrays(path: Path, arrays: Mapping[str, np.ndarray],
                 metadata: dict[str, str]) -> None:
    """Write `arrays` to the safetensors file `path` atomically (the usual permissions),
    byte for byte the same for the same arrays and metadata (`write_safetensors`)."""
    write_safetensors(path, arrays, metadata)


def read_side(path: Path, part: str, names: set[str], what: str) -> dict[str, np.ndarray]:
    """The arrays of a stream's side file `part` (`side_path`), refused (ArtifactError
    naming the file and `what` it should be) unless it has that format and every array of
    `names`."""
    meta, arrays = read_arrays(path)
    if meta.get("format") != f"{STREAM_FORMAT}-{part}" or names - set(arrays):
        raise ArtifactError(f"{path}: not {what} of a mulde artefact (needs "
                            f"{', '.join(sorted(names))})")
    return arrays


def save_stream(model: Any, path: Path) -> dict[str, Any]:
    """Write one fitted stream model to `path` (a `PCAStream`'s projection to
    `side_path(path, "pca")`); return its manifest entry (no file fields). Also the
    finished fits of `mulde.vad.fit_cache`."""
    spec = stream_spec(model)
    if spec is None:  # PipelineModel.save checks the types first
        raise ArtifactError(f"{path}: cannot save a {type(model).__name__} stream model")
    if "pca" in spec:
        write_arrays(side_path(path, "pca"),
                     {"mean": model.mean_, "components": model.components_},
                     {"format": STREAM_FORMAT + "-pca", "mulde_version": __version__})
        model = model.inner
    if spec["kind"] == "mulde":
        model.model.save(path)
        return spec
    if spec["kind"] == "knn":
        arrays = {"X": model.X_, "groups": model.groups_, "mean": model.mean_,
                  "scale": model.scale_}
    else:
        g = model.gmm_
        arrays = {"mean": model.mean_, "scale": model.scale_, "weights": g.weights_,
                  "means": g.means_, "covariances": g.covariances_,
                  "precisions_cholesky": g.precisions_cholesky_}
    write_arrays(path, arrays, {"format": STREAM_FORMAT, "mulde_version": __version__,
                                "spec": json.dumps(spec)})
    return spec


def read_arrays(path: Path) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    """Return (metadata, {name: array}) of the safetensors file `path`; ArtifactError naming
    the file when it cannot be read (missing, truncated, not safetensors)."""
    try:
        with safe_open(str(path), framework="numpy") as f:
            return f.metadata() or {}, {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as err:
        raise ArtifactError(f"{path}: not a readable safetensors file (truncated or "
                            f"corrupt?): {err}") from None


def load_stream(entry: Mapping[str, Any], path: Path, device: str = "cpu") -> Any:
    """Return the fitted stream model of a manifest entry, read from `path` (a reduced
    stream's projection from `side_path(path, "pca")`); a MULDE stream's networks on
    `device` (a trained pipeline loads on the CPU). ArtifactError naming the file when it
    cannot be read."""
    if "pca" in entry:
        inner = load_stream({k: v for k, v in entry.items() if k != "pca"}, path, device)
        a = read_side(side_path(path, "pca"), "pca", {"mean", "components"},
                       "the PCA of a reduced stream")
        model = PCAStream(inner, int(entry["pca"]["n_components"]))
        model.mean_, model.components_ = a["mean"], a["components"]
        model.explained_variance_ = entry["pca"].get("explained_variance")
        return model
    kind = entry.get("kind")
    if kind == "mulde":
        from mulde.estimator.model import MULDE, DeviceFallbackWarning
        from mulde.estimator.persistence import ModelFileError

        model = MULDEStream(dict(entry.get("params") or {}), int(entry.get("seed", 0)))
        try:
            with warnings.catch_warnings():  # a stream's network scores; its refits take
                # the stream's own params (`MULDEStream`), so no line per stream for a GPU
                warnings.simplefilter("ignore", DeviceFallbackWarning)
                model.model = MULDE.load(path, device=device)
        except ModelFileError as err:
            raise ArtifactError(str(err)) from None
        return model
    meta, a = read_arrays(path)
    if meta.get("format") != STREAM_FORMAT:
        raise ArtifactError(f"{path}: a safetensors file, but not a {kind} stream model of "
                            "a mulde artefact")
    try:
        if kind == "knn":
            model = KNNStream(k=int(entry["k"]), standardise=bool(entry["standardise"]),
                              squared=bool(entry["squared"]))
            model.X_, model.groups_ = a["X"], a["groups"]
            model.mean_, model.scale_ = a["mean"], a["scale"]
            return model
        if kind == "gmm":
            from sklearn.mixture import GaussianMixture

            model = GMMStream(int(entry["n_components"]), str(entry["covariance_type"]),
                              int(entry["seed"]))
            g = GaussianMixture(len(a["weights"]), covariance_type=model.covariance_type)
            g.weights_, g.means_ = a["weights"], a["means"]
            g.covariances_, g.precisions_cholesky_ = a["covariances"], a["precisions_cholesky"]
            g.n_features_in_ = a["means"].shape[1]
            g.converged_, g.n_iter_, g.lower_bound_ = True, 0, 0.0
            model.gmm_, model.mean_, model.scale_ = g, a["mean"], a["scale"]
            return model
    except KeyError as err:
        raise ArtifactError(f"{path}: the {kind} model lacks {err.args[0]!r}") from None
    raise ArtifactError(f"{path}: unknown stream model kind {kind!r} (mulde, knn, gmm)")
