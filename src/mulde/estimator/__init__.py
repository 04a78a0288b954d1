"""The estimator layer: `MULDE` over (n, d) feature arrays (standardisation, fit, multiscale
scoring, aggregation, thresholds, save/load), its presets, and the PyOD adapter."""
