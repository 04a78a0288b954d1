"""MULDE: multiscale log-density estimation via denoising score matching, for anomaly detection.

The public face, one import for a user's script and for the benchmarks:

- the estimator: `MULDE` (any (n, d) feature vectors; `mulde.estimator`);
- the video side: `load_dataset` (benchmarks in their official layouts, or a folder of your
  own videos), `build_extractor` / `extractor_names` (feature extractors by name),
  `StreamEnsemble` (one density model per feature stream, calibrated and fused),
  `run_pipeline` (extract, fit, score, evaluate, report) and `extract_features`.

Names load lazily, so that torch-free parts (evaluation, datasets) import fast. Importing mulde
changes no process-wide setting (threads, OpenMP's wait policy): those are the `mulde`
command's choices (`mulde.cli.process_settings`), or the host program's.
"""

from importlib import import_module
from typing import Any

from mulde._version import __version__

_LAZY = {
    "MULDE": "mulde.estimator.model",
    "load_dataset": "mulde.datasets",
    "build_extractor": "mulde.video.features.registry",
    "extractor_names": "mulde.video.features.registry",
    "StreamEnsemble": "mulde.vad.ensemble",
    "run_pipeline": "mulde.pipeline",
    "extract_features": "mulde.pipeline",
}

__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mulde' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
