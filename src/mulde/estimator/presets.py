"""Named hyper-parameter presets of the MULDE estimator (`MULDE.from_preset`, `mulde fit
--preset`); the feature extractors' presets are another thing, in `mulde.video.features`."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

# `paper`: the published setting (docs/method.md, "The model"): width 4096 x 2, beta 0.1,
# Adam(0.5, 0.9) at lr 4e-5, batch 2048, 1000 epochs, 16 linearly spaced levels in [1e-3, 1],
# GMM aggregation (K = 1), the constant regulariser beta f^2 / 2: exactly the published method.
# `default`: a small, fast CPU setting: width 256 x 2 (the first layer max(256, d) wide for d
# features, round 28; from 50 training rows per feature two networks of three layers of 160,
# each on every row, rounds 43 and 45, after round 41's one of three layers of 256),
# lr "auto" (1e-3 up to 1,000 training
# rows, rising with the rows to 3e-3 at 3,000), batch 1024, at most 2000 steps,
# EMA of weights (0.99), early stopping on a 10 % validation split (20 % from 50 rows per
# feature, rounds 41 and 45), no regulariser (beta 0),
# time-score matching (weight 0.25) and the monotone mean_energy aggregate over 16 log-spaced
# levels, chosen on the label-free density-fidelity suite (docs/benchmarks.md, "Density
# fidelity"; issue 15 round 1: the regulariser weighted by sigma^2 and the aggregate, round 2:
# 2000 steps instead of 1000, round 11: log-spaced scoring levels instead of linear, round 17:
# beta 0 instead of 0.1, rounds 18-19: the time-score term, rounds 22-24: lr "auto" instead
# of 1e-3, round 27: bagged members below 501 rows, round 28: the first layer's width from d,
# round 29: the rate's rows counted as n x 256 / d past 256 features, round 30: 4 bagged
# members whenever the rows are fewer than ten per feature, round 31: 8 on quarters there
# from 501 rows on, round 35: uniform dequantisation of the columns on a lattice, round 41:
# the third layer and the fifth held out from 100 rows per feature (the fifth of three layers
# only, since its follow-up), round 43: two networks of three layers of 160 there, round 44:
# one network past 160 features, round 45: all of it from 50 rows per feature (round 58:
# up to 160 features also from 25 on 501 rows or more), round 46:
# the 8 on eighths instead of quarters, round 48: early stopping after 3 evaluations without
# improvement instead of 5, round 60: rows the training rows hold 5 times or more scored by
# their counts (`atom_min_count`), round 62: the separated modes of a fitted mixture given
# equal shares of the loss from 1,000 rows (`reweight` "auto");
# docs/detector.md has their numbers).
ESTIMATOR_PRESETS: MappingProxyType[str, MappingProxyType[str, Any]] = MappingProxyType({
    "default": MappingProxyType({}),
    "paper": MappingProxyType({
        "hidden_sizes": (4096, 4096),
        "lr": 4e-5,
        "batch_size": 2048,
        "n_epochs": 1000,
        "max_steps": None,
        "validation_fraction": 0.0,
        "patience": None,
        "ema_decay": None,
        "weight_decay": 0.0,
        "n_members": 1,
        "max_samples": 1.0,
        "lr_schedule": "constant",
        "antithetic": False,
        "adam_betas": (0.5, 0.9),
        "aggregator": "gmm",
        "n_components": 1,
        "beta": 0.1,
        "regulariser": "constant",
        "time_score": 0.0,
        "sigma_low": 1e-3,
        "sigma_low_nn": None,
        "whiten": None,
        "dequantise": False,
        "sigma_high": 1.0,
        "sigma_high_span": None,
        "spacing": "linear",
        "noise_input": "sigma",
        "scaling": "column",
        "base": None,
        "precondition": None,
        "atom_min_count": None,
        "reweight": None,
    }),
})
