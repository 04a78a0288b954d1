"""The method on video: one density model per feature stream, and the ensemble that fits them on
the training videos, turns object scores into frame scores, calibrates and fuses the streams
(AI-VAD's combined density estimator)."""
