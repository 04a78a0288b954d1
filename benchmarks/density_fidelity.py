"""Density fidelity of MULDE and its peers: does the anomaly score rank samples by density?

Label-free by construction (issue 15; docs/benchmarks.md, "Density fidelity"): each case is a
synthetic distribution p with an exact log-density (benchmarks/density_generators.py), a
dimension d and a training size n. Every estimator is fitted on n samples of p and scores
  fresh  2,000 new samples of p,
  broad  2,000 samples of N(mean_p, 4 cov_p) (twice the spread: they should look anomalous),
and is measured by
  rho_fresh, rho_broad  Spearman of the anomaly score with the true -log p on each set,
  far                   the share of the fresh samples above the 99th percentile of the
                        training samples' own scores (nominal 1 %: the false-alarm rate of a
                        threshold set on the training data, as `MULDE.predict` does).

MULDE: one network per training variant (`VARIANTS`, refits), its (n, L) energies on the
training, fresh and broad samples saved to --energies-dir (one .npz per case and variant),
and every aggregate of `AGGREGATES` computed from those same energies. Peers on the same
standardised data: kNN (distance to the 5th neighbour, the training scores leave-one-out),
KDE (Gaussian kernel, bandwidth by 5-fold cross-validated likelihood on <= 2,000 rows, the
training scores leave-one-out),
GMM (full covariance, K in {1, 2, 4, 8} by BIC).

The default run is the representative subset `DEFAULT_CASES` (about 15-20 minutes on one
thread of an idle machine); --grid full runs every distribution x --dims x --sizes
(d 2..512, n 50..50,000).

    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/density_fidelity.py
    python benchmarks/density_fidelity.py --grid full --dists gauss_iso --dims 2 512 \\
        --sizes 50 50000 --out /tmp/df.json
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from common import (
    RESULTS_DIR,
    command_line,
    in_parallel,
    new_header,
    read_json,
    set_single_thread,
    validation_draws,
    write_json,
)
from density_generators import (
    DISTRIBUTIONS,
    Distribution,
    GaussianMixture,
    broader,
    make_distribution,
)
from scipy.stats import spearmanr

N_EVAL = 2000
# (distribution, d, n): the default run. The issue's Gaussian (d 8, n 4,000) first; each
# family at n >= 1,000 (the targets' range); a small set, a wider one and a higher d.
DEFAULT_CASES: tuple[tuple[str, int, int], ...] = (
    ("gauss_iso", 8, 4000),
    ("gauss_aniso", 16, 4000),
    ("mixture", 8, 4000),
    ("student_t", 8, 4000),
    ("circle", 16, 4000),
    ("toy2d", 2, 10000),
    ("mixture", 32, 1000),
    ("gauss_iso", 128, 4000),
    ("gauss_iso", 8, 200),
    ("student_t", 2, 50),
    # round 2 (density_fidelity.md): small sets in d 64 with few directions of variation,
    # like the real failures (ADBench's small sets, scikit-learn digits)
    ("lowrank_mix", 64, 1000),
    ("lowrank_mix", 64, 300),
    ("circle", 64, 1000),
)
FULL_DIMS = (2, 8, 32, 128, 512)
FULL_SIZES = (50, 200, 1000, 5000, 50000)

# MULDE training variants (each one fitted network): overrides of the `default` preset.
VARIANTS: dict[str, dict] = {
    "beta0.1_constant": {"beta": 0.1, "regulariser": "constant"},  # today's default
    "beta0.1_sigma2": {"beta": 0.1, "regulariser": "sigma2"},
    "beta0": {"beta": 0.0},
    # round 2: the lower end of the noise range (density_fidelity.md)
    "nn0.5_sigma2": {"beta": 0.1, "regulariser": "sigma2", "sigma_low_nn": 0.5},
    "nn0.25_sigma2": {"beta": 0.1, "regulariser": "sigma2", "sigma_low_nn": 0.25},
    "nn0.5_beta0": {"beta": 0.0, "sigma_low_nn": 0.5},
    "low0.1_sigma2": {"beta": 0.1, "regulariser": "sigma2", "sigma_low": 0.1},
    "steps2000_sigma2": {"beta": 0.1, "regulariser": "sigma2", "max_steps": 2000},
    # round 3 (density_fidelity.md): the round-2 default without the regulariser, and with
    # decoupled weight decay
    "beta0_steps2000": {"beta": 0.0, "max_steps": 2000},
    "wd0.5_sigma2": {"beta": 0.1, "regulariser": "sigma2", "max_steps": 2000,
                     "weight_decay": 0.5},
    # round 4 (density_fidelity.md): a deep ensemble at the default's cost, a cosine rate
    "ens4_w128": {"beta": 0.1, "regulariser": "sigma2", "max_steps": 2000, "n_members": 4,
                  "hidden_sizes": (128, 128)},
    "cosine": {"beta": 0.1, "regulariser": "sigma2", "max_steps": 2000,
               "lr_schedule": "cosine"},
    "ens4_w128_cosine": {"beta": 0.1, "regulariser": "sigma2", "max_steps": 2000,
                         "n_members": 4, "hidden_sizes": (128, 128), "lr_schedule": "cosine"},
    # round 5: members of full width on smaller batches, at about the default's cost
    "ens2_b512": {"beta": 0.1, "regulariser": "sigma2", "max_steps": 2000, "n_members": 2,
                  "batch_size": 512},
    "ens4_b256": {"beta": 0.1, "regulariser": "sigma2", "max_steps": 2000, "n_members": 4,
                  "batch_size": 256},
    # round 6: Ledoit-Wolf whitening of the standardised rows
    "lw_whiten": {"beta": 0.1, "regulariser": "sigma2", "max_steps": 2000,
                  "whiten": "ledoit_wolf"},
    # round 7: the noise range's upper end from the data's largest pairwise distance
    "span1": {"beta": 0.1, "regulariser": "sigma2", "max_steps": 2000,
              "sigma_high_span": 1.0},
    # round 8: both, the span measured on the whitened rows
    "lw_whiten_span1": {"beta": 0.1, "regulariser": "sigma2", "max_steps": 2000,
                        "whiten": "ledoit_wolf", "sigma_high_span": 1.0},
    # round 10: a cap twice as high; early stopping on the validation loss unchanged
    "steps4000_sigma2": {"beta": 0.1, "regulariser": "sigma2", "max_steps": 4000},
    # round 11: S1's training (spacing is not used there), scored at log-spaced levels
    "geometric_sigma2": {"beta": 0.1, "regulariser": "sigma2", "max_steps": 2000,
                         "spacing": "geometric"},
    # round 12: G1 with the noise level fed to the network as ln(sigma) / 4
    "logsigma_geometric": {"beta": 0.1, "regulariser": "sigma2", "max_steps": 2000,
                           "spacing": "geometric", "noise_input": "log"},
    # round 13: L1 with the lowest noise level at the data's nearest-neighbour spacing
    "logsigma_nn1": {"beta": 0.1, "regulariser": "sigma2", "max_steps": 2000,
                     "spacing": "geometric", "noise_input": "log", "sigma_low_nn": 1.0},
    # round 14: G1 with each row's noise drawn as the pair (eps, -eps), at the same cost a step
    "antithetic_geometric": {"beta": 0.1, "regulariser": "sigma2", "max_steps": 2000,
                             "spacing": "geometric", "antithetic": True},
    # round 15: G1 with a Gaussian base energy under the network
    "gaussbase_geometric": {"beta": 0.1, "regulariser": "sigma2", "max_steps": 2000,
                            "spacing": "geometric", "base": "gaussian"},
    # round 16: G1 with the network's input scaled by (C + sigma^2 I)^-1/2
    "precondition_geometric": {"beta": 0.1, "regulariser": "sigma2", "max_steps": 2000,
                               "spacing": "geometric", "precondition": "covariance"},
    # round 17: G1 without the regulariser (beta 0), at the 2,000-step cap and at 1,000
    "beta0_geometric": {"beta": 0.0, "regulariser": "sigma2", "max_steps": 2000,
                        "spacing": "geometric"},
    "beta0_steps1000_geometric": {"beta": 0.0, "regulariser": "sigma2", "max_steps": 1000,
                                  "spacing": "geometric"},
    # round 18: Z1 with denoising time-score matching (round 19: the default, gamma 0.25)
    "timescore1_beta0": {"beta": 0.0, "regulariser": "sigma2", "max_steps": 2000,
                         "spacing": "geometric", "time_score": 1.0},
    "timescore0.25_beta0": {"beta": 0.0, "regulariser": "sigma2", "max_steps": 2000,
                            "spacing": "geometric", "time_score": 0.25},
    # round 21: H2 with Adam's own betas in place of the authors' (0.5, 0.9)
    "adam_default": {"beta": 0.0, "regulariser": "sigma2", "max_steps": 2000,
                     "spacing": "geometric", "time_score": 0.25, "adam_betas": (0.9, 0.999)},
    # round 22: H2 with three times the learning rate (3e-3 in place of 1e-3)
    "lr3e-3": {"beta": 0.0, "regulariser": "sigma2", "max_steps": 2000,
               "spacing": "geometric", "time_score": 0.25, "lr": 3e-3},
    # round 24: H2 with the rate from the training rows (1e-3 up to 1,000, 3e-3 from 3,000)
    "lr_rows": {"beta": 0.0, "regulariser": "sigma2", "max_steps": 2000,
                "spacing": "geometric", "time_score": 0.25, "lr": "auto"},
    # round 25: R1 with a deep ensemble on small sets (n_members "auto":
    # `mulde.core.training.members_for_rows`), every member on every row
    "ens_rows": {"beta": 0.0, "regulariser": "sigma2", "max_steps": 2000,
                 "spacing": "geometric", "time_score": 0.25, "lr": "auto",
                 "n_members": "auto", "max_samples": 1.0},
    # round 27: E2's members, each on its own half of the rows (max_samples "auto": a half for
    # an ensemble, every row for one network); the default since
    "bag_rows": {"beta": 0.0, "regulariser": "sigma2", "max_steps": 2000,
                 "spacing": "geometric", "time_score": 0.25, "lr": "auto",
                 "n_members": "auto", "max_samples": "auto"},
    # round 28: B2 with the first hidden layer at least d (W1) or 2 d (W2) wide, so that its
    # weights can have full rank in x (`first_width_per_feature`, resolved by `variant_params`)
    "width_d": {"beta": 0.0, "regulariser": "sigma2", "max_steps": 2000,
                "spacing": "geometric", "time_score": 0.25, "lr": "auto",
                "n_members": "auto", "max_samples": "auto", "first_width_per_feature": 1},
    "width_2d": {"beta": 0.0, "regulariser": "sigma2", "max_steps": 2000,
                 "spacing": "geometric", "time_score": 0.25, "lr": "auto",
                 "n_members": "auto", "max_samples": "auto", "first_width_per_feature": 2},
    # round 29: W1 (the default since round 28) with the rate lowered past 256 features: by
    # fan-in (L1) or by counting the rows per feature (L2) (`lr_past_256`, `variant_params`)
    "lr_fan_in": {"beta": 0.0, "regulariser": "sigma2", "max_steps": 2000,
                  "spacing": "geometric", "time_score": 0.25, "lr": "auto",
                  "n_members": "auto", "max_samples": "auto", "hidden_sizes": "auto",
                  "lr_past_256": "fan_in"},
    "lr_rows_per_feature": {"beta": 0.0, "regulariser": "sigma2", "max_steps": 2000,
                            "spacing": "geometric", "time_score": 0.25, "lr": "auto",
                            "n_members": "auto", "max_samples": "auto",
                            "hidden_sizes": "auto", "lr_past_256": "rows_per_feature"},
    # round 30: L2 (the default since round 29) with 4 members, each on its own half of the
    # rows, whenever the rows are fewer than ten per feature (`members_per_feature`,
    # resolved by `variant_params`)
    "bag_per_feature": {"beta": 0.0, "regulariser": "sigma2", "max_steps": 2000,
                        "spacing": "geometric", "time_score": 0.25, "lr": "auto",
                        "n_members": "auto", "max_samples": "auto", "hidden_sizes": "auto",
                        "lr_past_256": "rows_per_feature", "members_per_feature": 10},
    # round 31: B3 (the default since round 30) with smaller bags where the rows are fewer
    # than ten per feature and more than 500 (B3's members come from the features alone
    # there): 8 members each on a quarter (Q8) or 4 on a quarter (Q4) of the rows
    # (`thin_members`, `thin_share`, resolved by `variant_params`)
    "quarters8_per_feature": {"beta": 0.0, "regulariser": "sigma2", "max_steps": 2000,
                              "spacing": "geometric", "time_score": 0.25, "lr": "auto",
                              "n_members": "auto", "max_samples": "auto",
                              "hidden_sizes": "auto", "lr_past_256": "rows_per_feature",
                              "members_per_feature": 10, "thin_members": 8,
                              "thin_share": 0.25},
}
VARIANTS["quarters4_per_feature"] = {**VARIANTS["quarters8_per_feature"], "thin_members": 4}
# round 33: Q8 (the default since round 31) also where the rows are more than 500 but fewer
# than 50 per principal direction (`mulde.core.training.principal_directions`: those that
# hold 90 % of the standardised variance), with ten or more rows per feature
# (`members_per_direction`, resolved by `variant_params`)
VARIANTS["quarters8_per_direction"] = {**VARIANTS["quarters8_per_feature"],
                                       "members_per_direction": 50}
# round 34: P8 (the default since round 33) with a cap of 8,000 steps where the rows are at
# least 50 per feature (`long_steps_per_feature`, `long_steps`, resolved by `variant_params`)
VARIANTS["steps8000_per_feature"] = {**VARIANTS["quarters8_per_direction"],
                                     "long_steps_per_feature": 50, "long_steps": 8000}
# round 35: P8 (the default) with uniform dequantisation of the columns whose values lie on a
# lattice (`MULDE(dequantise=True)`, `mulde.estimator.columns.quantisation_steps`), two-valued
# columns included and cells of any width (`lattice_rule`: the arguments of
# quantisation_steps that give round 35's rule; `fit_mulde_energies` applies them)
VARIANTS["dequantise_lattice"] = {**VARIANTS["quarters8_per_direction"], "dequantise": True,
                                  "lattice_rule": {"min_values": 2, "max_stds": None}}
# round 36: the same with only columns of at least three values counted
VARIANTS["dequantise_lattice3"] = {**VARIANTS["quarters8_per_direction"], "dequantise": True,
                                   "lattice_rule": {"max_stds": None}}
# round 37: the same with cells of at most two standard deviations (the library's rule)
VARIANTS["dequantise_cells2sd"] = {**VARIANTS["quarters8_per_direction"], "dequantise": True}
# round 39: D3 (the default) with a third hidden layer of 256 where the rows given to `fit`
# are at least `deep_rows_per_feature` per feature (resolved by `variant_params`)
VARIANTS["depth3_per_feature"] = {**VARIANTS["dequantise_cells2sd"],
                                  "deep_rows_per_feature": 50}
# round 40: the same from 100 rows per feature (k chosen on round 39's seeds; judged on 7-9)
VARIANTS["depth3_100_per_feature"] = {**VARIANTS["dequantise_cells2sd"],
                                      "deep_rows_per_feature": 100}
# round 41: D3 and T4 with a fifth of the rows held out for validation (early stopping,
# the best validated weights) where the rows are at least `held_rows_per_feature` per feature
# (`held_share`, resolved by `variant_params`)
VARIANTS["held20_100_per_feature"] = {**VARIANTS["dequantise_cells2sd"],
                                      "held_rows_per_feature": 100, "held_share": 0.2}
VARIANTS["depth3_held20_100_per_feature"] = {**VARIANTS["depth3_100_per_feature"],
                                             "held_rows_per_feature": 100, "held_share": 0.2}
# after round 41 (scratch seed 5, no default at stake): T5 (the default) with dropout after each
# hidden block, or LayerNorm, as the networks' own regularisers against memorisation
VARIANTS["depth3_dropout10"] = {**VARIANTS["depth3_held20_100_per_feature"], "dropout": 0.1}
VARIANTS["depth3_dropout05"] = {**VARIANTS["depth3_held20_100_per_feature"], "dropout": 0.05}
VARIANTS["depth3_layer_norm"] = {**VARIANTS["depth3_held20_100_per_feature"],
                                 "layer_norm": True}
# after round 41 (scratch seed 5): T5 with `deep_members` networks, each on `deep_share` of the
# rows, where its third layer applies (bagging against the deeper network's memorisation)
VARIANTS["depth3_bag2_halves"] = {**VARIANTS["depth3_held20_100_per_feature"],
                                  "deep_members": 2, "deep_share": 0.5}
VARIANTS["depth3_ens2_full"] = {**VARIANTS["depth3_held20_100_per_feature"],
                                "deep_members": 2, "deep_share": 1.0}
VARIANTS["depth3_ens2_w180"] = {**VARIANTS["depth3_ens2_full"], "deep_width": 180}
# round 43: E1 narrower still, so that a training step costs T5's
VARIANTS["depth3_ens2_w160"] = {**VARIANTS["depth3_ens2_full"], "deep_width": 160}
# after round 44 (scratch seed 5): E3 with two networks, each on every row, also where the
# rows are at least `mid_pair_rows_per_feature` but fewer than 100 per feature and the rows'
# rule trains one (resolved by `variant_params`)
# round 44: E2 (the default since round 43) only up to `pair_max_features` features (where
# every hidden layer of 160 is at least as wide as the input); past them T5's one network
VARIANTS["depth3_ens2_w160_upto160"] = {**VARIANTS["depth3_ens2_w160"],
                                        "pair_max_features": 160}
VARIANTS["pair_from50_per_feature"] = {**VARIANTS["depth3_ens2_w160_upto160"],
                                       "mid_pair_rows_per_feature": 50}
# after round 44 (scratch seed 5): E3 with its deeper networks (the pair of three layers of
# 160, a fifth held out) from 50 rows per feature instead of 100
VARIANTS["deep_pair_from50"] = {**VARIANTS["depth3_ens2_w160_upto160"],
                                "deep_rows_per_feature": 50, "held_rows_per_feature": 50}
# after round 45 (scratch seed 5): E4 (the default) with three networks of 128 where it trains
# two of 160 (about the multiply-adds of a step: 3 x 128^2 ~ 2 x 160^2)
VARIANTS["deep_trio_w128"] = {**VARIANTS["deep_pair_from50"], "deep_members": 3,
                              "deep_width": 128}
# after round 45, a fit-time probe (stop 60; scratch seed 5, no default at stake): where E4
# trains round 31's eight networks on quarters (thin rows), four on quarters with batches of
# 512 rows, the one setting of those probed whose fit at d 512 came near issue 15's 2x bound
VARIANTS["thin_q4_b512"] = {**VARIANTS["deep_pair_from50"], "thin_members": 4,
                            "thin_batch_size": 512}
# stop 61 (scratch seed 5, no default at stake): E4 without round 33's rule, so one network
# where the rows are at least ten per feature but fewer than 50 per principal direction
# (speed.py's 20,000 rows of 512 features among them); E4 elsewhere
VARIANTS["no_direction_rule"] = {**VARIANTS["deep_pair_from50"], "members_per_direction": None}
# stop 61 (scratch seed 5, no default at stake): E4 with round 31's eight networks on quarters
# wherever E4 trains one network above 500 rows (round 33's rule with no bound on the rows
# per direction)
VARIANTS["eight_for_one"] = {**VARIANTS["deep_pair_from50"], "members_per_direction": 10**9}
# stop 63 (scratch seed 5, no default at stake): E4 with round 31's eight networks each on an
# eighth of the rows instead of a quarter, wherever E4 trains them (a row fitted by about one
# member instead of two)
VARIANTS["thin_eighths"] = {**VARIANTS["deep_pair_from50"], "thin_share": 0.125}
# round 48: F1 (the default since round 46) with early stopping after 3 evaluations without
# improvement instead of 5: a prefix of F1's run, the same weights wherever F1's kept step is
# not followed by 3 worse evaluations before a better one
VARIANTS["thin_eighths_patience3"] = {**VARIANTS["thin_eighths"], "patience": 3}
# round 49: P3 (the default since round 48) validated twice as often (every 50 steps), each
# member of an ensemble on its own noise draws of the held-out rows, max(1, 4 // M) copies
# (`validation_draws`: not a MULDE parameter, `fit_mulde_energies` applies it)
VARIANTS["split_draws_eval50"] = {**VARIANTS["thin_eighths_patience3"], "eval_every": 50,
                                  "validation_draws": "per_member"}
# round 50: V1 (the default since round 49) with each member of an ensemble validated on its
# own 1/M share of the held-out rows, one copy, where they are at least 50 per member
VARIANTS["shares_eval50"] = {**VARIANTS["split_draws_eval50"], "validation_draws": "shares"}
# stop 71 (scratch seed 5, then round 51): V1 (the default since round 49) with the hidden
# layers after the first 128 wide instead of 256 where the eight networks train on eighths
# of thin rows (the first stays as wide as the input: round 28); elsewhere V1
VARIANTS["thin_width128"] = {**VARIANTS["split_draws_eval50"], "thin_width": 128}
# round 52: W1 (the default since round 51) with each two-valued column's values spread over
# cells half their gap wide (`quantisation_steps(two_valued_cell=0.5)`, cells within the
# library's two standard deviations); and, reported only, over the whole gap with no bound
# (round 35's rule for such columns, which round 36 left for values off the lattice)
VARIANTS["two_valued_half"] = {**VARIANTS["thin_width128"],
                               "lattice_rule": {"two_valued_cell": 0.5}}
VARIANTS["two_valued_full"] = {**VARIANTS["thin_width128"],
                               "lattice_rule": {"two_valued_cell": 1.0, "max_stds": None}}
# round 53: B1 (the default since round 52) with a cell half a standard deviation wide on each
# column that holds a point mass beside continuous values (`quantisation_steps(atom_cell=
# 0.5)`: a value held by at least a fifth of the rows of a column that is no lattice)
VARIANTS["atom_half"] = {**VARIANTS["two_valued_half"],
                         "lattice_rule": {"two_valued_cell": 0.5, "atom_cell": 0.5}}
# round 54: the same with the cell a quarter of a standard deviation wide
VARIANTS["atom_quarter"] = {**VARIANTS["two_valued_half"],
                            "lattice_rule": {"two_valued_cell": 0.5, "atom_cell": 0.25}}
# round 55: A4 (the default since round 54) with each rare flag (a two-valued column whose
# half-gap cell the two-standard-deviation bound refuses) spread over a cell as wide as the
# bound allows, where its rarer value is held by two rows or more
# (`quantisation_steps(clip_two_valued=True)`)
VARIANTS["rare_flags_clipped"] = {**VARIANTS["atom_quarter"], "lattice_rule": {
    **VARIANTS["atom_quarter"]["lattice_rule"], "clip_two_valued": True}}
# and, reported only, every two-valued column's half-gap cell with no bound (lattices lose
# theirs too; on round 55's cases, all of whose columns are flags, there are none)
VARIANTS["rare_flags_unbounded"] = {**VARIANTS["rare_flags_clipped"], "lattice_rule": {
    **VARIANTS["rare_flags_clipped"]["lattice_rule"], "max_stds": None}}
# round 56: A4 (the default since round 54) with each rare flag whose rarer value at least
# 1 % of the rows hold (two or more) spread over half its gap past the two-standard-deviation
# bound, as other flags are; lattices, codes and rarer flags keep the bound
# (`quantisation_steps(rare_flag_share=0.01)`)
VARIANTS["rare_flags_share1"] = {**VARIANTS["atom_quarter"], "lattice_rule": {
    **VARIANTS["atom_quarter"]["lattice_rule"], "rare_flag_share": 0.01}}
# round 57: A4 (the default since round 54) with its pair (two networks of three layers of
# 160, each on every row, a fifth held out) from 25 rows per feature instead of 50 where the
# features are at most 160 (`pair_rows_per_feature`, resolved by `variant_params` and
# `held_fraction`); past 160 features A4's rule from 50 rows per feature
VARIANTS["deep_pair_from25"] = {**VARIANTS["atom_quarter"], "pair_rows_per_feature": 25}
# round 58: P1 only where the rows are at least `pair_min_rows` (501: where the rows alone
# give one network), so that below them the 2-4 networks on halves stay
VARIANTS["deep_pair_from25_over500"] = {**VARIANTS["deep_pair_from25"], "pair_min_rows": 501}
# round 59: P2 (the default since round 58) with its pair from 25 rows per feature only where
# the rows are at least 50 per principal direction (`pair_rows_per_direction`: where the
# default before round 58 trained one network, not the eight of thin rows)
VARIANTS["deep_pair_from25_not_thin"] = {**VARIANTS["deep_pair_from25_over500"],
                                         "pair_rows_per_direction": 50}
# probes after round 59 (scratch seed 5, no default at stake): A4 (the default before round
# 58) with the eight networks on eighths wherever the rows alone give one network below 50
# rows per feature (whatever the principal directions), and A4 with no third layer: one
# network of two layers where the pair of three trains (rounds 41-45's depth off)
VARIANTS["eight_below50"] = {**VARIANTS["atom_quarter"], "members_per_direction": 10**9}
VARIANTS["shallow_from50"] = {**VARIANTS["atom_quarter"], "deep_rows_per_feature": None}
# and P3 (the default since round 59) with round 34's cap of 8,000 steps where the rows are at
# least 50 per feature (early stopping unchanged): the flag and lattice families, which came
# after round 34, run to the 2,000-step cap with the validation loss still falling
VARIANTS["steps8000_from50"] = {**VARIANTS["deep_pair_from25_not_thin"],
                                "long_steps_per_feature": 50, "long_steps": 8000}
# round 60: P3 (the default since round 59) fitted as it is, each row equal to a training row
# held 5 times or more then scored by that row's empirical probability on the energy's scale
# (`mulde.estimator.atoms`); `scores_of`: the variant whose fit it scores (fitted once)
VARIANTS["atoms_pmf5"] = {**VARIANTS["deep_pair_from25_not_thin"],
                          "scores_of": "deep_pair_from25_not_thin", "atom_min_count": 5}
# round 61: R1 (the default since round 60) fitted with its modes reweighted: a diagonal
# Gaussian mixture (K by BIC) gives each mode an equal share of the loss, its log mass added
# back to every level's energy (`mulde.estimator.reweighting`; from 1,000 rows)
VARIANTS["modes_reweighted"] = {**VARIANTS["deep_pair_from25_not_thin"], "atom_min_count": 5,
                                "reweight": "modes"}
# round 62: as round 61's M1, but the mixture's components joined into modes where they
# overlap, each mode given an equal share (`reweight="separated_modes"`)
VARIANTS["separated_modes"] = {**VARIANTS["deep_pair_from25_not_thin"], "atom_min_count": 5,
                               "reweight": "separated_modes"}
# round 63: S1 (the default since round 62) with each mode's share bounded at 10 times its
# mass (`max_mode_gain`: truncated importance weights), so that a speck of a few rows among
# few modes does not take most of the training draws
VARIANTS["separated_gain10"] = {**VARIANTS["separated_modes"], "max_mode_gain": 10.0}
# round 64: the default after round 63 (S1, or T1 where round 63 adopts it) with its mixture
# fitted on the training rows moved within their lattice cells, as training moves them
# (`dequantise_modes`): on a lattice the components otherwise collapse onto single values
VARIANTS["separated_modes_dequantised"] = {**VARIANTS["separated_modes"],
                                           "dequantise_modes": True}
VARIANTS["separated_gain10_dequantised"] = {**VARIANTS["separated_gain10"],
                                            "dequantise_modes": True}
# round 65: the default on continuous rows (T1) with its mixture fitted on the rows' leading
# principal directions holding 90 % of their variance (`mode_variance_share`), so that the
# columns of noise around a curve or a subspace do not cut one shape into many modes
VARIANTS["separated_gain10_principal"] = {**VARIANTS["separated_gain10"],
                                          "mode_variance_share": 0.9}
# every variant before round 18 was fitted without the time-score term, which the default
# has since round 19 (0.25): each names its 0, so that a rerun (round 19's of the incumbent
# Z1 `beta0_geometric`, say) fits what its round did; likewise every variant before round 24
# trained at lr 1e-3, the default until `lr="auto"` replaced it
# and every variant but rounds 25 and 27's trained one network on every row, the default
# until round 27 made `n_members` and `max_samples` "auto"; and every variant but round 28's
# had 256 x 2 hidden widths whatever d, the default until round 28 set the first from d;
# and every variant but round 35's trained on the rows as given, the default until round 35
# made `dequantise` True (on the continuous cases of rounds 1-34 the two fit alike); and every
# variant held a tenth of the rows out for validation and, with hidden_sizes "auto", had two
# hidden layers, the default until round 41 made both depend on the rows per feature (its
# variants name their share and third layer: `held_rows_per_feature`, `deep_rows_per_feature`)
# and every variant before round 48 stopped after 5 evaluations without a lower validation
# loss, the default until round 48 made it 3; and every variant before round 49 evaluated
# every 100 steps with every member of an ensemble on the same noise draws, the default until
# round 49 made it every 50 steps, each member on its own draws; and every variant before
# round 62 fitted every row alike, the default until round 62 made `reweight` "auto"; and
# every variant before round 63 gave each separated mode an equal share (`max_mode_gain` None)
# and before round 64 fitted the mixture on the rows as given (`dequantise_modes` False), on
# their d coordinates before round 65 (`mode_variance_share` None)
for _overrides in VARIANTS.values():
    _overrides.setdefault("patience", 5)
    _overrides.setdefault("eval_every", 100)
    _overrides.setdefault("validation_draws", "shared")
    _overrides.setdefault("validation_fraction", 0.1)
    _overrides.setdefault("dequantise", False)
    _overrides.setdefault("time_score", 0.0)
    _overrides.setdefault("lr", 1e-3)
    _overrides.setdefault("n_members", 1)
    _overrides.setdefault("reweight", None)
    _overrides.setdefault("max_mode_gain", None)
    _overrides.setdefault("dequantise_modes", False)
    _overrides.setdefault("mode_variance_share", None)
    _overrides.setdefault("max_samples", 1.0)
    if "first_width_per_feature" not in _overrides:  # round 29's name "auto" themselves
        _overrides.setdefault("hidden_sizes", (256, 256))
# Aggregates computed from one network's energies (docs/benchmarks.md lists the rules).
AGGREGATES = ("gmm", "gmm_k3", "mean_z", "max_z", "single_mid", "mean_energy",
              "mean_energy_validated", "cv_level", "stacked")
PEERS = ("kNN", "KDE", "GMM")


def metrics(train: np.ndarray, fresh: np.ndarray, broad: np.ndarray, nll_fresh: np.ndarray,
            nll_broad: np.ndarray) -> dict[str, float]:
    """Spearman of the scores with the true -log p on fresh and broad samples, and the false-
    alarm rate of fresh samples at the training scores' 99th percentile."""
    threshold = np.percentile(train, 99.0)
    return {"rho_fresh": float(spearmanr(fresh, nll_fresh).statistic),
            "rho_broad": float(spearmanr(broad, nll_broad).statistic),
            "far": float(np.mean(fresh > threshold))}


def held_rows(n: int, seed: int, fraction: float) -> np.ndarray:
    """The training rows MULDE(random_state=seed, validation_fraction=fraction) holds out for
    validation (never fitted): the estimator's own seeded split (`MULDE.fit`)."""
    from sklearn.utils import check_random_state

    from mulde.core.training import split_validation

    fit_seed = int(check_random_state(seed).randint(2**31 - 1))
    return split_validation(n, fraction, fit_seed)[1].numpy()


def pair_rows_per_feature(overrides: dict, n_features: int, n_rows: int,
                          directions: int | None) -> int | None:
    """Rounds 57-59: the rows per feature from which a variant's deeper networks (and the
    share held out with them) come in place of its `deep_rows_per_feature` (and
    `held_rows_per_feature`): its `pair_rows_per_feature` up to `pair_max_features` features,
    from `pair_min_rows` rows (round 58) and `pair_rows_per_direction` x `directions` (round
    59); None where the variant has no such rule or it does not apply. ValueError where the
    rule counts the principal directions and none are given."""
    per_feature = overrides.get("pair_rows_per_feature")
    if (per_feature is None or n_features > overrides["pair_max_features"]
            or n_rows < overrides.get("pair_min_rows", 0)):
        return None
    per_direction = overrides.get("pair_rows_per_direction")
    if per_direction is not None:
        if directions is None:
            raise ValueError("the pair's rule counts the rows per principal direction: give "
                             "directions")
        if n_rows < per_direction * directions:
            return None
    return per_feature


def held_fraction(variant: str, n_features: int, n_rows: int,
                  directions: int | None = None) -> float:
    """The share of n_rows rows of n_features features a variant's fit holds out for
    validation: round 41's `held_share` where its `held_rows_per_feature` rule applies (round
    57-59's `pair_rows_per_feature` in its place where it applies), else the variant's
    validation_fraction (a tenth for every variant before round 41)."""
    overrides = VARIANTS[variant]
    per_feature = overrides.get("held_rows_per_feature")
    pair = pair_rows_per_feature(overrides, n_features, n_rows, directions)
    if pair is not None:
        per_feature = pair
    if per_feature is not None and n_rows >= per_feature * n_features:
        return float(overrides["held_share"])
    return float(overrides["validation_fraction"])


def aggregate_scores(name: str, e_train: np.ndarray, others: list[np.ndarray],
                     seed: int, fraction: float = 0.1) -> list[np.ndarray]:
    """Fit the aggregate on the training energies (n, L) of a fit that held `fraction` of the
    rows out for validation; return the scores of the training energies and of each array of
    `others` (higher = more anomalous)."""
    from mulde.estimator.aggregation import HELD_OUT_CHOOSING, aggregate, fit_aggregator

    kind, kw = {"gmm_k3": ("gmm", {"n_components": 3}),
                "single_mid": ("single", {})}.get(name, (name, {}))
    if kind in HELD_OUT_CHOOSING:  # the rows the estimator held out, as it passes them
        kw = {"held": held_rows(len(e_train), seed, fraction)}
    state = fit_aggregator(kind, e_train, seed=seed, **kw)
    return [aggregate(kind, state, e) for e in (e_train, *others)]


def variant_params(variant: str, n_features: int, n_rows: int,
                   directions: int | None = None) -> dict:
    """The `MULDE` keyword arguments of a variant for n_rows rows of n_features columns: its entry
    of VARIANTS, with round 28's `first_width_per_feature` k resolved to hidden_sizes (max(256,
    k d), 256) and, past 256 features, lr "auto" to the rate of its round: round 29's
    `lr_past_256` "fan_in" learning_rate_for_rows(n) x 256 / d, "rows_per_feature" the library's
    "auto" (the default since round 29: the rows counted as n x 256 / d), and every earlier
    variant the rate from the rows alone (the "auto" of rounds 24-28); n_members "auto" resolved
    to `members_for_rows(n)` (rounds 25-29's rule, from the rows alone), or with round 30's
    `members_per_feature` k to MEMBERS_MAX when n_rows < k d (the library's "auto" since),
    there, when the rows alone would train one network (n_rows > 500), round 31's `thin_members`
    members each on `thin_share` of the rows when the variant names them, and with round 33's
    `members_per_direction` k the same where n_rows > 500 rows are fewer than k x `directions`
    (the training rows' `principal_directions`, which such a variant needs: ValueError without),
    with batches of `thin_batch_size` rows there (a probe after round 45) and the hidden layers
    after the first `thin_width` wide (stop 71); round 34's `long_steps_per_feature` k sets
    max_steps to `long_steps` where n_rows >= k d; round 39's `deep_rows_per_feature` k adds a
    third hidden layer of 256 where n_rows >= k d (hidden_sizes "auto" is otherwise resolved to
    the library's first two layers: rounds 29-40's "auto"; rounds 42-43's `deep_members`,
    `deep_share` and `deep_width` shape the networks there (`deep_width` w: round 43's library
    widths (max(w, d), w, w)), round 44's `pair_max_features` only up to that many features,
    and up to them from round 57's `pair_rows_per_feature` k instead where given (round
    58's from `pair_min_rows` rows on); the
    probe `mid_pair_rows_per_feature` k trains two networks on every row where k d <= n_rows <
    the deep rule's and the rows' rule trains one); round 41's `held_rows_per_feature` k sets
    validation_fraction to `held_share` where n_rows >= k d; rounds 35-36's `lattice_rule` and
    round 49's `validation_draws` are left out (no MULDE parameters: `fit_mulde_energies`
    applies them)."""
    from mulde.core.training import MEMBERS_MAX, learning_rate_for_rows, members_for_rows

    params = dict(VARIANTS[variant])
    per_feature = params.pop("first_width_per_feature", None)
    if per_feature is not None:
        params["hidden_sizes"] = (max(256, per_feature * n_features), 256)
    per_feature_rows = params.pop("members_per_feature", None)
    thin_members = params.pop("thin_members", MEMBERS_MAX)
    thin_share = params.pop("thin_share", None)
    thin_batch = params.pop("thin_batch_size", None)
    thin_width = params.pop("thin_width", None)
    per_direction = params.pop("members_per_direction", None)
    long_per_feature = params.pop("long_steps_per_feature", None)
    long_steps = params.pop("long_steps", None)
    params.pop("lattice_rule", None)  # rounds 35-36's rules: `fit_mulde_energies` applies them
    params.pop("validation_draws", None)  # round 49's, likewise
    params.pop("scores_of", None)  # round 60's: how a fit is scored, not fitted
    params.pop("atom_min_count", None)
    deep_per_feature = params.pop("deep_rows_per_feature", None)
    deep_members = params.pop("deep_members", None)
    deep_share = params.pop("deep_share", None)
    deep_width = params.pop("deep_width", None)
    pair_max_features = params.pop("pair_max_features", None)
    mid_pair = params.pop("mid_pair_rows_per_feature", None)
    pair_rows = pair_rows_per_feature(VARIANTS[variant], n_features, n_rows,
                                      directions)  # rounds 57-59
    for key in ("pair_rows_per_feature", "pair_min_rows", "pair_rows_per_direction"):
        params.pop(key, None)
    if pair_max_features is not None and n_features > pair_max_features:
        deep_members = deep_width = None  # round 44: T5 past them
    elif pair_rows is not None:  # the pair from fewer rows per feature
        deep_per_feature = pair_rows
    params.pop("held_rows_per_feature", None)
    params.pop("held_share", None)
    params["validation_fraction"] = held_fraction(variant, n_features, n_rows, directions)
    if isinstance(params["hidden_sizes"], str):  # "auto": rounds 29-40's two layers
        from mulde.core.network import WIDTH, WIDTH_MAX, WIDTH_PER_FEATURE

        params["hidden_sizes"] = (min(max(WIDTH, WIDTH_PER_FEATURE * n_features), WIDTH_MAX),
                                  WIDTH)
    if deep_per_feature is not None and n_rows >= deep_per_feature * n_features:
        params["hidden_sizes"] = (*params["hidden_sizes"], 256)
        if deep_members is not None:
            params["n_members"], params["max_samples"] = deep_members, deep_share
        if deep_width is not None:  # round 43's library widths: the first as wide as d
            from mulde.core.network import WIDTH_MAX

            params["hidden_sizes"] = (min(max(deep_width, n_features), WIDTH_MAX), deep_width,
                                      deep_width)
    if long_per_feature is not None and n_rows >= long_per_feature * n_features:
        params["max_steps"] = long_steps
    if per_direction is not None and directions is None:
        raise ValueError(f"{variant} counts the rows per principal direction: give directions")
    if params["n_members"] == "auto":  # rounds 25-29: the members from the rows alone
        params["n_members"] = members_for_rows(n_rows)
        if per_feature_rows is not None and n_rows < per_feature_rows * n_features:
            params["n_members"] = MEMBERS_MAX
            thin = thin_share is not None and members_for_rows(n_rows) == 1
        else:
            thin = (per_direction is not None and members_for_rows(n_rows) == 1
                    and n_rows < per_direction * directions)
        if thin:
            params["n_members"], params["max_samples"] = thin_members, thin_share
            if thin_batch is not None:
                params["batch_size"] = thin_batch
            if thin_width is not None:  # stop 71: the layers after the first narrower
                first, *later = params["hidden_sizes"]
                params["hidden_sizes"] = (first, *(thin_width for _ in later))
    if (mid_pair is not None and params["n_members"] == 1
            and mid_pair * n_features <= n_rows < deep_per_feature * n_features):
        params["n_members"], params["max_samples"] = 2, 1.0
    past = params.pop("lr_past_256", None)
    share = 256 / n_features
    if params["lr"] != "auto" or share >= 1.0:  # up to 256 features: lr "auto" itself
        return params
    if past == "fan_in":
        params["lr"] = learning_rate_for_rows(n_rows) * share
    elif past is None:
        params["lr"] = learning_rate_for_rows(n_rows)
    return params


@contextmanager
def _lattice_rule(rule: dict | None) -> Iterator[None]:
    """Fit with `quantisation_steps(X, **rule)` (rounds 35 and 36 counted columns by rules
    the library has since narrowed, round 52 two-valued columns by one it has since taken,
    rounds 53-54 point masses by one it holds: `lattice_rule` in VARIANTS); for None the
    library's rule with two-valued columns and point masses as given, as every variant
    before round 52 trained them (`two_valued_cell` and `atom_cell` 0 unless the rule names
    them). The merging of values a rounding apart is the library's in any case (the suite's
    values are exact)."""
    import mulde.estimator.model as model_module

    original = model_module.quantisation_steps
    model_module.quantisation_steps = partial(original, **{"two_valued_cell": 0.0,
                                                           "atom_cell": 0.0,
                                                           "clip_two_valued": False,
                                                           "rare_flag_share": None,
                                                           **(rule or {})})
    try:
        yield
    finally:
        model_module.quantisation_steps = original


def variant_directions(variant: str, x_train: np.ndarray) -> int | None:
    """The training rows' principal directions where a variant's rules count them (round
    33's `members_per_direction`, round 59's `pair_rows_per_direction`), else None (not
    computed)."""
    from mulde.core.training import principal_directions

    counts = any(key in VARIANTS[variant]
                 for key in ("members_per_direction", "pair_rows_per_direction"))
    return principal_directions(x_train) if counts else None


def fit_mulde_energies(variant: str, x_train: np.ndarray, sets: list[np.ndarray], seed: int,
                       cache: Path | None, device: str = "cpu"
                       ) -> tuple[list[np.ndarray], float, float, str, dict | None]:
    """Fit MULDE (`default` preset + the variant) once; return the (n, L) energies of the
    training data and of each set, the fit seconds, the lowest noise level (the first
    scoring level), the device it was fitted on and how training ended ({"steps",
    "best_step", "stopped_early"}) (all read from cache when there; files written before the
    device was stored were fitted on the CPU; before the training record: None). A cached
    file that records other settings than the variant's today (its definition changed since)
    is refitted; files written before the settings were stored are trusted, but for the
    variants with `deep_width`, whose widths past that many features changed after round 43."""
    params = variant_params(variant, x_train.shape[1], len(x_train),
                            variant_directions(variant, x_train))
    rule = VARIANTS[variant].get("lattice_rule")
    draws = VARIANTS[variant]["validation_draws"]
    # the settings a stored fit is checked against: the evaluations' spacing and draws only
    # where not those of every variant before round 49 (whose files record neither)
    recorded = {"params": {k: v for k, v in params.items()
                           if not (k == "eval_every" and v == 100)}, "lattice_rule": rule}
    if draws != "shared":
        recorded["validation_draws"] = draws
    settings = json.dumps(recorded, sort_keys=True, default=str)
    if cache is not None and cache.exists():
        with np.load(cache) as z:
            # unrecorded files predate the record: trusted, but for the variants whose
            # definition changed since (`deep_width` past that many features, round 44)
            current = (str(z["settings"]) == settings if "settings" in z.files
                       else "deep_width" not in VARIANTS[variant])
            if current:
                # float64 as the estimator's own energies (the network's float32, widened)
                training = ({k: int(z[k]) for k in ("steps", "best_step", "stopped_early")}
                            if "steps" in z.files else None)
                return ([z[f"e{i}"].astype(np.float64) for i in range(len(sets) + 1)],
                        float(z["fit_s"]), float(z["sigmas"][0]),
                        str(z["device"]) if "device" in z.files else "cpu", training)
    from mulde import MULDE

    model = MULDE.from_preset("default", random_state=seed, device=device, **params)
    t0 = time.perf_counter()
    with _lattice_rule(rule), validation_draws(draws):
        model.fit(x_train)
    fit_s = time.perf_counter() - t0
    energies = [model.score_samples_multiscale(x) for x in (x_train, *sets)]
    result = model.train_result_
    training = {"steps": int(result.steps), "best_step": int(result.best_step),
                "stopped_early": int(result.stopped_early)}
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, fit_s=fit_s, sigmas=model.sigmas_, device=model.device_,
                            settings=settings, **training,
                            **{f"e{i}": e.astype(np.float32) for i, e in enumerate(energies)})
        tmp.replace(cache)
    return energies, fit_s, float(model.sigmas_[0]), model.device_, training


def peer_scorer(name: str, x: np.ndarray, seed: int
                ) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """Fit a peer on standardised x; return (training scores, score function)."""
    if name == "kNN":
        from sklearn.neighbors import NearestNeighbors

        k = min(5, len(x) - 1)
        nn = NearestNeighbors(n_neighbors=k + 1).fit(x)
        train = nn.kneighbors(x)[0][:, k]  # the point itself is its own 0th neighbour
        return train, lambda z: nn.kneighbors(z, n_neighbors=k)[0][:, -1]
    if name == "KDE":
        from sklearn.model_selection import GridSearchCV
        from sklearn.neighbors import KernelDensity

        rng = np.random.default_rng(seed)
        sub = x if len(x) <= 2000 else x[rng.choice(len(x), 2000, replace=False)]
        grid = GridSearchCV(KernelDensity(), {"bandwidth": np.logspace(-1.5, 0.5, 12)},
                            cv=min(5, len(sub)))
        h = grid.fit(sub).best_params_["bandwidth"]
        kde = KernelDensity(bandwidth=h).fit(x)
        # training scores leave-one-out (as kNN's): p_loo = (n p(x) - K(0)) / (n - 1), with
        # K(0) = (2 pi h^2)^(-d/2) the point's own kernel; in-sample scores would put the
        # threshold far too low for a small bandwidth
        n, d = x.shape
        log_k0 = -0.5 * d * np.log(2 * np.pi * h * h)
        log_np = np.log(n) + kde.score_samples(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            loo = log_np + np.log1p(-np.exp(log_k0 - log_np)) - np.log(n - 1)
        loo = np.where(np.isfinite(loo), loo, -np.inf)  # only the point itself: no density
        return -loo, lambda z: -kde.score_samples(z)
    from sklearn.mixture import GaussianMixture

    best = None
    for k in (1, 2, 4, 8):
        if k > len(x) // 2:
            break
        g = GaussianMixture(k, random_state=seed, reg_covar=1e-4).fit(x)
        bic = g.bic(x)
        if best is None or bic < best[0]:
            best = (bic, g)
    g = best[1]
    return -g.score_samples(x), lambda z: -g.score_samples(z)


def _log(line: str) -> None:
    print(line, flush=True)


@dataclass(frozen=True)
class CaseData:
    """One case's samples: the n training rows `x` (with the mixture component each came
    from, None for a distribution that is no mixture), N_EVAL `fresh` and `broad` samples and
    their true -log p (`nll_fresh`, `nll_broad`)."""

    dist: Distribution
    x: np.ndarray
    components: np.ndarray | None
    fresh: np.ndarray
    broad: np.ndarray
    nll_fresh: np.ndarray
    nll_broad: np.ndarray


def draw_case(dist_name: str, d: int, n: int, seed: int) -> CaseData:
    """The samples of a case, drawn from one generator seeded by (seed, n, d, distribution):
    every script of the suite scores the same rows."""
    dist = make_distribution(dist_name, d, seed=0)
    rng = np.random.default_rng([seed, n, d, DISTRIBUTIONS.index(dist_name)])
    if isinstance(dist, GaussianMixture):  # the same rows `sample` draws, with components
        x, components = dist.sample_with_components(n, rng)
    else:
        x, components = dist.sample(n, rng), None
    fresh, broad = dist.sample(N_EVAL, rng), broader(dist).sample(N_EVAL, rng)
    return CaseData(dist, x, components, fresh, broad, -dist.log_density(fresh),
                    -dist.log_density(broad))


def standardised(data: CaseData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The case's training, fresh and broad rows standardised by the training rows' column
    means and standard deviations (a constant column left unscaled): what the peers are
    fitted and scored on (`peer_scorer`)."""
    mean, std = data.x.mean(axis=0), data.x.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    z_tr, z_f, z_b = ((a - mean) / std for a in (data.x, data.fresh, data.broad))
    return z_tr, z_f, z_b


def fitted_default(spec: str, seed: int):
    """A case "dist:d:n" drawn with `draw_case` and the default `MULDE` (random_state seed,
    on the CPU) fitted on its training rows: (CaseData, the model, the fit's seconds); the
    probes of the default (density_score_norm.py, density_out_of_bag.py) start from it."""
    from mulde import MULDE

    dist, d, n = spec.split(":")
    data = draw_case(dist, int(d), int(n), seed)
    t0 = time.perf_counter()
    model = MULDE(random_state=seed, device="cpu").fit(data.x)
    return data, model, time.perf_counter() - t0


def repeated_rows(min_count: int | None, x_train: np.ndarray, sets: list[np.ndarray]
                  ) -> Callable[..., list[np.ndarray]]:
    """Round 60: a function of (training scores, *each set's scores) that scores every row
    equal to a training row held at least min_count times by that row's empirical
    probability on the scores' scale (`mulde.estimator.atoms`); the scores as given where
    min_count is None or no training row is held so often."""
    from mulde.estimator.atoms import atom_counts, atom_offset, atom_scores, count_atoms

    if min_count is None:
        return lambda *scores: list(scores)
    atoms, counts = count_atoms(x_train, min_count)
    if len(atoms) == 0:
        return lambda *scores: list(scores)
    held = [atom_counts(x, atoms, counts) for x in (x_train, *sets)]
    n = len(x_train)

    def rescore(*scores: np.ndarray) -> list[np.ndarray]:
        offset = atom_offset(scores[0], held[0], n)
        return [atom_scores(s, c, n, offset) for s, c in zip(scores, held, strict=True)]
    return rescore


def run_case(dist_name: str, d: int, n: int, seed: int, variants: list[str],
             peers: list[str], energies_dir: Path | None, log: Callable[[str], None] = _log,
             device: str = "cpu") -> dict:
    """Draw the case's data (`draw_case`), fit every variant and peer, return its metrics."""
    data = draw_case(dist_name, d, n, seed)
    x_train, fresh, broad = data.x, data.fresh, data.broad
    nll_f, nll_b = data.nll_fresh, data.nll_broad
    case = {"dist": dist_name, "d": d, "n": n, "seed": seed, "mulde": {}, "peers": {}}
    fits: dict[str, tuple] = {}  # a variant's fit, for those that score it (`scores_of`)
    for variant in variants:
        fitted = VARIANTS[variant].get("scores_of", variant)
        cache = (energies_dir / f"{dist_name}_d{d}_n{n}_s{seed}_{fitted}.npz"
                 if energies_dir else None)
        if fitted not in fits:
            fits[fitted] = fit_mulde_energies(fitted, x_train, [fresh, broad], seed, cache,
                                              device)
        (e_tr, e_f, e_b), fit_s, sigma_low, fitted_on, training = fits[fitted]
        per_agg = {}
        directions = variant_directions(fitted, x_train)  # round 59's share held out
        rescore = repeated_rows(VARIANTS[variant].get("atom_min_count"), x_train,
                                [fresh, broad])
        for agg in AGGREGATES:
            try:
                s_tr, s_f, s_b = rescore(*aggregate_scores(
                    agg, e_tr, [e_f, e_b], seed, held_fraction(fitted, d, n, directions)))
                per_agg[agg] = metrics(s_tr, s_f, s_b, nll_f, nll_b)
            except Exception as err:  # noqa: BLE001 - recorded, not fatal
                per_agg[agg] = {"error": f"{type(err).__name__}: {err}"[:200]}
        per_scale = [metrics(e_tr[:, i], e_f[:, i], e_b[:, i], nll_f, nll_b)["rho_fresh"]
                     for i in range(e_tr.shape[1])]
        case["mulde"][variant] = {"device": fitted_on, "fit_s": fit_s, "sigma_low": sigma_low,
                                  "training": training, "aggregates": per_agg,
                                  "rho_fresh_per_scale": per_scale}
        best = {a: round(m.get("rho_fresh", float("nan")), 3) for a, m in per_agg.items()}
        log(f"{dist_name:11s} d={d:<3d} n={n:<5d} MULDE {variant:17s} fit={fit_s:5.1f}s "
            f"rho_fresh {best}")
    z_tr, z_f, z_b = standardised(data)
    for peer in peers:
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                s_tr, score = peer_scorer(peer, z_tr, seed)
                m = metrics(s_tr, score(z_f), score(z_b), nll_f, nll_b)
        except Exception as err:  # noqa: BLE001 - a failing peer is recorded, not fatal
            m = {"error": f"{type(err).__name__}: {err}"[:200]}
        m["fit_s"] = time.perf_counter() - t0
        case["peers"][peer] = m
        log(f"{dist_name:11s} d={d:<3d} n={n:<5d} {peer:5s} "
            f"{ {k: round(v, 3) for k, v in m.items() if isinstance(v, float)} }")
    return case


def select_cases(args: argparse.Namespace) -> list[tuple[str, int, int]]:
    """The default subset, or the full grid restricted by --dists, --dims and --sizes."""
    if args.cases:
        return [(name, int(d), int(n)) for name, d, n in (c.split(":") for c in args.cases)]
    if args.grid == "default":
        return [c for c in DEFAULT_CASES if c[0] in args.dists]
    cases = []
    for name in args.dists:
        for d in ([2] if name == "toy2d" else args.dims):
            cases += [(name, d, n) for n in args.sizes]
    return cases


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--grid", choices=("default", "full"), default="default")
    p.add_argument("--dists", nargs="*", default=list(DISTRIBUTIONS), choices=DISTRIBUTIONS)
    p.add_argument("--dims", nargs="*", type=int, default=list(FULL_DIMS))
    p.add_argument("--sizes", nargs="*", type=int, default=list(FULL_SIZES))
    p.add_argument("--cases", nargs="*", default=None, metavar="DIST:D:N",
                   help="exactly these cases, e.g. circle:64:1000 (overrides --grid)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--peers", nargs="*", default=list(PEERS), choices=PEERS,
                   help="the peers to run (default: all); a bare --peers runs none, and the "
                        "peers' earlier results in --out are kept")
    p.add_argument("--energies-dir", type=Path,
                   default=RESULTS_DIR / "density_fidelity_energies",
                   help="where the MULDE energies per case and variant are saved and reread "
                        "(those found are reread and nothing is fitted: to measure a change "
                        "to the fitting code, give an empty folder)")
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "density_fidelity.json")
    p.add_argument("--device", default="cpu", help="where MULDE trains: cpu, cuda, cuda:N")
    p.add_argument("--jobs", type=int, default=1,
                   help="cases fitted at once in worker processes (a many-core or GPU machine)")
    args = p.parse_args(argv)
    set_single_thread()
    results = read_json(args.out) or new_header("density_fidelity", n_eval=N_EVAL, cases=[])
    if command_line() not in results["commands"]:
        results["commands"].append(command_line())
    calls = [(dist_name, d, n, args.seed, args.variants, args.peers, args.energies_dir,
              _log, args.device) for dist_name, d, n in select_cases(args)]
    for case in in_parallel(run_case, calls, args.jobs):
        case["jobs"] = args.jobs  # cases fitted side by side: their fit_s are contended
        key = (case["dist"], case["d"], case["n"], case["seed"])
        old = [c for c in results["cases"] if (c["dist"], c["d"], c["n"], c["seed"]) == key]
        results["cases"] = [c for c in results["cases"]
                            if (c["dist"], c["d"], c["n"], c["seed"]) != key]
        if old:  # the variants and peers not run now keep their earlier results
            case["mulde"] = {**old[0]["mulde"], **case["mulde"]}
            case["peers"] = {**old[0]["peers"], **case["peers"]}
        results["cases"].append(case)
        write_json(args.out, results)


if __name__ == "__main__":
    main()
