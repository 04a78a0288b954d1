"""The method on video: one density model per feature stream (`stream_models`: MULDE, and
AI-VAD's kNN and GMM), and the ensemble that fits them on the training videos, turns object
scores into frame scores, calibrates and fuses the streams (`ensemble.StreamEnsemble`,
AI-VAD's combined density estimator; `fusion` holds the protocol's numerics)."""

from typing import Any

from mulde.vad.fusion import Calibration, FusionError, fuse, objects_to_frames
from mulde.vad.stream_models import (
    GMMStream,
    KNNStream,
    MULDEStream,
    PCAStream,
    StreamModel,
    WithPCA,
    make_stream_model,
)

_ENSEMBLE = ("StreamEnsemble", "StreamFit", "StreamModelSpec", "TopObjects", "VideoScores",
             "frame_scores", "stack_stream")


def __getattr__(name: str) -> Any:
    # the ensemble reads the video feature records: imported on first use, so that the
    # evaluation layer (which needs only `Calibration`) does not load the extractors
    if name in _ENSEMBLE:
        from mulde.vad import ensemble

        return getattr(ensemble, name)
    raise AttributeError(f"module 'mulde.vad' has no attribute {name!r}")


__all__ = [
    "Calibration",
    "FusionError",
    "GMMStream",
    "KNNStream",
    "MULDEStream",
    "PCAStream",
    "StreamEnsemble",
    "StreamFit",
    "StreamModel",
    "StreamModelSpec",
    "TopObjects",
    "VideoScores",
    "WithPCA",
    "frame_scores",
    "fuse",
    "make_stream_model",
    "objects_to_frames",
    "stack_stream",
]
