"""The method on video: one density model per feature stream (`stream_models`: MULDE, and
AI-VAD's kNN and GMM), and the ensemble that fits them on the training videos, turns object
scores into frame scores, calibrates and fuses the streams (`ensemble.StreamEnsemble`,
AI-VAD's combined density estimator; `fusion` holds the protocol's numerics)."""

from mulde.vad.ensemble import StreamEnsemble, TopObjects, VideoScores
from mulde.vad.fusion import Calibration, FusionError, fuse, objects_to_frames
from mulde.vad.stream_models import GMMStream, KNNStream, MULDEStream, make_stream_model

__all__ = ["Calibration", "FusionError", "GMMStream", "KNNStream", "MULDEStream",
           "StreamEnsemble", "TopObjects", "VideoScores", "fuse", "make_stream_model",
           "objects_to_frames"]
