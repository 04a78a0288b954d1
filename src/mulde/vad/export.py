"""Export a trained video pipeline's density models as ONNX graphs, one per stream.

What leaves Python: each stream's object scoring, from the stream's feature vectors to its
calibrated object scores (MULDE: standardisation, the network at every noise level, the
aggregate; GMM: standardisation and the mixture's negative log-likelihood; then the
stream's calibration (s - low) / (high - low)). What stays in Python, and why: feature
extraction (decoding, optical flow, the scene background, the object detector and backbone
chain several libraries and are not one graph), and the few lines that turn object scores
into a frame score, written down in the exported pipeline.json ("frame_rule"): per stream,
a frame's score is the largest calibrated score of its objects (a frame without objects:
the stream's calibrated `fill`), the fused score is the sum over streams, smoothed and
compared with the threshold as the manifest's "smoothing" and "threshold" say (offline, the
whole video at once), or, for a live stream as `mulde watch` scores it, as its "onnx"/"live"
block says: the causal half-Gaussian filter's weights and the threshold refitted for it.
kNN streams are not exported: they keep every training object (use MULDE or GMM streams).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mulde.estimator.export import ExportError, GaussianMixtureNLL, _Scorer, save_onnx
from mulde.io.atomic import atomic_folder, write_json
from mulde.io.hashing import sha256_file
from mulde.vad.artifact import SOURCE_DIGEST, PipelineModel
from mulde.vad.ensemble import StreamFit
from mulde.vad.live import causal_gaussian_weights, live_threshold, start_level
from mulde.vad.stream_models import GMMStream, MULDEStream, PCAStream
from mulde.video.features.records import Stream

OUTPUTS = ["anomaly_score", "calibrated_score"]
FRAME_RULE = ("per stream: frame score = max over the frame's objects of calibrated_score "
              "(no object: the stream's calibrated fill); fused = sum over streams; then "
              "the manifest's smoothing, and an alert where the smoothed fused score exceeds "
              "threshold.value")


class _Calibrated(nn.Module):
    """A stream's object scorer followed by its calibration: x -> (score, calibrated)."""

    def __init__(self, scorer: nn.Module, low: float, high: float) -> None:
        super().__init__()
        self.scorer = scorer
        self.low, self.span = float(low), float(high - low)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        score = self.scorer(x)
        return score, (score - self.low) / self.span


class _MULDEScore(nn.Module):
    def __init__(self, scorer: _Scorer) -> None:
        super().__init__()
        self.inner = scorer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x)[0]


class _GMMScore(nn.Module):
    """GMMStream.score: standardise with the training mean and scale, then -log p."""

    def __init__(self, model: GMMStream) -> None:
        super().__init__()
        g = model.gmm_
        state = {"weights": g.weights_, "means": g.means_,
                 "precisions_cholesky": g.precisions_cholesky_}
        self.register_buffer("mean", torch.tensor(model.mean_, dtype=torch.float64))
        self.register_buffer("scale", torch.tensor(model.scale_, dtype=torch.float64))
        self.nll = GaussianMixtureNLL(state, model.covariance_type)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nll((x.to(torch.float64) - self.mean) / self.scale)


class _Projected(nn.Module):
    """PCAStream.score: project on the training PCA, (x - mean) @ components.T (in float64,
    returned in x's dtype), then the inner model's scorer."""

    def __init__(self, model: PCAStream, scorer: nn.Module) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(model.mean_, dtype=torch.float64))
        self.register_buffer("components", torch.tensor(model.components_.T,
                                                        dtype=torch.float64))
        self.scorer = scorer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = (x.to(torch.float64) - self.mean) @ self.components
        return self.scorer(z.to(x.dtype))


def live_rule(model: PipelineModel) -> dict[str, Any]:
    """What `mulde watch` does with the fused frame scores of a live stream, as data: the
    causal filter (`mulde.vad.live.CausalSmoother`: per filter, the weights w[k] of the score
    k frames back; frames before the start of a stream count as the start level, the
    training median `start_level`, or, for a model without training scores (start null),
    are left out and the rest renormalised) and the alert threshold on its output
    (`live_threshold`: the model's rule refitted on the causally smoothed training scores;
    None without one)."""
    sigmas = np.ravel(model.smoothing_sigma).astype(float).tolist()
    start = start_level(model)
    threshold = None
    if model.threshold is not None:
        value, definition = live_threshold(model)
        threshold = {"value": value, "definition": definition,
                     "patience": model.threshold.patience,
                     "events": "an event starts at the first frame whose smoothed score is "
                               "above value and ends after `patience` frames in a row at or "
                               "below it (mulde.vad.events.EventTracker)"}
    return {"smoothing": {"kind": "causal half-Gaussian", "sigmas": sigmas,
                          "weights": [causal_gaussian_weights(s).tolist() for s in sigmas],
                          "start_level": start,
                          "rule": "per filter, in order: smoothed[t] = sum_k w[k] x[t-k] over "
                                  "k = 0..len(w)-1, where x[t-k] for a frame before the "
                                  "stream's start is `start_level`; when it is null those terms "
                                  "are left out and the sum divided by the sum of the w[k] "
                                  "kept"},
            "threshold": threshold}


def export_pipeline(model: PipelineModel, folder: str | Path) -> Path:
    """Write `<stream>.onnx` per stream and pipeline.json (the model's manifest plus, per
    stream, its graph file and the file's SHA-256, feature width and calibrated fill, the
    frame rule, the live rule, `live_rule`, and the saved model's digest, `SOURCE_DIGEST`)
    into `folder`; return the folder. The folder
    is written beside and swapped in whole (`atomic_folder`): an interrupted export leaves
    the earlier one as it was, never graphs of two models. A folder holding anything but an
    earlier export is refused (ExportError), so a typo cannot delete someone's files.

    Each graph: input `x` float32 (n objects, d) of that stream's features; outputs
    `anomaly_score` float64 (n,) (the stream model's score) and `calibrated_score` float64
    (n,). Raises ExportError for a kNN or custom stream model, or when PyTorch's exporter is
    missing."""
    modules = {stream: _stream_graph(stream, fit)
               for stream, fit in model.ensemble.fits_.items()}  # every refusal before a write
    folder = Path(folder)
    manifest = folder / "pipeline.json"
    if folder.is_dir() and (manifest.is_symlink() or manifest.exists()) and not manifest.is_file():
        raise ExportError(f"{manifest}: a pipe, device, folder or broken link, not the "
                          "pipeline.json of an earlier ONNX export; move it away, or give a "
                          "new or empty folder")
    if folder.exists() and not folder.is_dir():
        raise ExportError(f"{folder}: exists and is a file, not a folder (a pipeline's export "
                          "is a folder of graphs); give a new or empty folder")
    if folder.is_dir() and any(folder.iterdir()) and not is_pipeline_export(folder):
        raise ExportError(f"{folder}: exists and holds other files than an earlier ONNX "
                          "export of a pipeline model (pipeline.json and the graphs it lists, "
                          "each <stream>.onnx with its SHA-256), which replacing it would "
                          "delete; give a new or empty folder, or that export's folder to "
                          "replace it")
    with atomic_folder(folder) as tmp:  # never a folder of two models' graphs
        graphs: dict[str, dict] = {}
        for stream, fit in model.ensemble.fits_.items():
            file = f"{stream.value}.onnx"
            save_onnx(modules[stream], fit.dim, OUTPUTS, tmp / file)
            graphs[stream.value] = {"file": file, "sha256": sha256_file(tmp / file),
                                    "input_dim": fit.dim, "outputs": OUTPUTS,
                                    "calibrated_fill": float(fit.calibration.transform(
                                        fit.fill))}
        manifest = {**model.manifest(), "onnx": {"streams": graphs, "frame_rule": FRAME_RULE,
                                                 "input": "x float32 (n objects, input_dim)",
                                                 "live": live_rule(model),
                                                 SOURCE_DIGEST: model.digest}}
        write_json(tmp / "pipeline.json", manifest)  # as PipelineModel.save writes it
    return folder


def is_pipeline_export(folder: str | Path) -> bool:
    """Whether `folder` holds what `export_pipeline` writes and nothing else: pipeline.json
    (a regular file) with an "onnx" block whose streams each list their graph as the file
    `<stream>.onnx`, and whose SHA-256, where listed, matches the file there, and no file
    but these (an export written into a run's folder, beside its model and report, is not
    one: replacing it would delete them; nor is a manifest listing another file, such as
    "thesis.tex", as a stream's graph, or a graph of other bytes). A pipe or device in the
    place of pipeline.json or a graph is not read (it would block): not an export."""
    folder = Path(folder)
    if not (folder / "pipeline.json").is_file():
        return False
    try:
        manifest = json.loads((folder / "pipeline.json").read_text(encoding="utf-8"))
        streams = manifest["onnx"]["streams"]
        graphs = {name: (g["file"], g.get("sha256")) for name, g in streams.items()}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError,
            AttributeError):
        return False
    for name, (file, digest) in graphs.items():
        if not isinstance(name, str) or file != f"{name}.onnx" or Path(file).name != file:
            return False  # export_pipeline names each graph after its stream, in the folder
        path = folder / file
        if path.is_symlink() or (path.exists() and not path.is_file()):
            return False  # the writer writes plain files only
        if digest is not None and path.exists() and sha256_file(path) != digest:
            return False
    listed = {file for file, _ in graphs.values()}
    return {p.name for p in folder.iterdir()} <= {"pipeline.json", *listed}


def _stream_graph(stream: Stream, fit: StreamFit) -> nn.Module:
    """One stream's scorer and calibration as a torch module, `_Calibrated`; ExportError for
    a Sidak stream or a model without an export."""
    if fit.reference is not None:
        raise ExportError(f"the {stream} stream's frame score is the Sidak-corrected "
                          "maximum, which the exported manifest's frame rule (the maximum "
                          "over a frame's objects) does not describe; export a model "
                          "trained without --frame-score")
    reduced = fit.model if type(fit.model) is PCAStream else None
    inner = reduced.inner if reduced is not None else fit.model
    if type(inner) is MULDEStream:
        scorer: nn.Module = _MULDEScore(_Scorer(inner.model))
    elif type(inner) is GMMStream:
        scorer = _GMMScore(inner)
    else:
        raise ExportError(f"the {stream} stream's model ({type(inner).__name__}) has no "
                          "ONNX export: only MULDE and GMM streams do (a kNN model keeps "
                          "every training object); train with --detector mulde or gmm")
    if reduced is not None:  # a reduced stream: its graph takes the full features
        scorer = _Projected(reduced, scorer)
    return _Calibrated(scorer, fit.calibration.low, fit.calibration.high)

