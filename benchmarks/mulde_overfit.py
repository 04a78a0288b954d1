"""Label-free diagnostic of MULDE on small training sets: does it memorise its training rows?

For each data set and seed, the normal training half of the ADBench protocol
(adbench_accuracy.split) is split again 50/50 into fit rows and held-out normal rows (no test
rows, no labels used). MULDE (default preset) is fitted on the fit rows. Reported: the fraction
of held-out normal rows whose anomaly score exceeds the 99th percentile of the fit rows' scores
(1 % when the model generalises; much more when the training rows are memorised), and the
median score gap (held-out minus fit rows) in units of the fit rows' interquartile range;
both for the default GMM (full covariance over the L = 16 energies) and for other
aggregators of the same network energies (diagonal GMM, mean and max of per-level z-scores,
one Gaussian with a Ledoit-Wolf shrunk covariance: `gmm_shrunk`, pre-registered in
REGISTERED with the rule that decides whether it becomes the default).

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/mulde_overfit.py --max-datasets 17
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import warnings
from pathlib import Path

import numpy as np
from adbench_accuracy import list_datasets, split
from common import DATA_ROOT, RESULTS_DIR, new_header, set_single_thread, write_json

from mulde import MULDE
from mulde.estimator.aggregation import aggregate, fit_aggregator

# (name, aggregator, covariance_type); "gmm_full" is the default preset's aggregator
AGGREGATORS = (("gmm_full", "gmm", "full"), ("gmm_diag", "gmm", "diag"),
               ("mean_z", "mean_z", "full"), ("max_z", "max_z", "full"),
               ("gmm_shrunk", "gmm", "shrunk"))  # "shrunk": shrunk_gaussian below
REGISTERED = {
    "gmm_shrunk": "2026-11-29T08:35Z, before any number of it: the default aggregator's one "
                  "Gaussian with a Ledoit-Wolf covariance of the per-level z-scored training "
                  "energies (shrinkage towards the diagonal; `shrunk_gaussian`) instead "
                  "of the maximum-likelihood covariance + 1e-6. Why: with 16-250 fit rows the "
                  "16 x 16 covariance of the energies is nearly singular, so held-out normal "
                  "rows that move along its weak directions score as outliers. Label-free "
                  "rule: it becomes the default preset's aggregator if it lowers the median "
                  "over this diagnostic's 22 sets (seed 0) of held_above_fit_p99 (0.01 ideal) "
                  "and raises it on no set with >= 900 fit rows by more than 0.005. The "
                  "ADBench test AUCs are then re-measured and reported whatever they show; "
                  "they decide nothing.",
}


def shrunk_gaussian(energies: np.ndarray) -> dict[str, np.ndarray]:
    """Return the state of a one-component GMM (aggregate it as "full") whose covariance is
    the Ledoit-Wolf estimate on the per-level z-scores of `energies` (n, L), rescaled:
    shrinkage towards the diagonal of the variances. With few training rows the maximum-
    likelihood covariance of the L energies is nearly singular, and every held-out deviation
    along its weak directions looks anomalous (the registered hypothesis).
    """
    from scipy.linalg import cholesky, solve_triangular
    from sklearn.covariance import ledoit_wolf

    energies = np.asarray(energies, dtype=np.float64)
    if energies.shape[0] < 2:
        raise ValueError(f"a shrunk covariance needs at least 2 training samples, got "
                         f"{energies.shape[0]}")
    mean = energies.mean(axis=0)
    sd = energies.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    corr, _ = ledoit_wolf((energies - mean) / sd, assume_centered=True)
    cov = corr * np.outer(sd, sd) + 1e-6 * np.eye(len(sd))
    # GaussianMixture's convention: precisions_cholesky @ precisions_cholesky.T = cov^-1
    prec_chol = solve_triangular(cholesky(cov, lower=True), np.eye(len(sd)), lower=True).T
    return {"weights": np.ones(1), "means": mean[None], "covariances": cov[None],
            "precisions_cholesky": prec_chol[None]}


def diagnose(X_train: np.ndarray, seed: int, overrides: dict | None = None) -> dict:
    """Return the held-out false-alarm rate at the fit rows' 99th percentile and the gap."""
    rng = np.random.default_rng(seed + 1000)
    idx = rng.permutation(len(X_train))
    fit_rows, held = X_train[idx[: len(idx) // 2]], X_train[idx[len(idx) // 2:]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MULDE.from_preset("default", **{"random_state": seed, "device": "cpu",
                                                **(overrides or {})}).fit(fit_rows)
    e_fit = model.score_samples_multiscale(fit_rows)
    e_held = model.score_samples_multiscale(held)
    out = {"n_fit": int(len(fit_rows)), "n_held": int(len(held)),
           "train_steps": int(model.train_result_.steps),
           "best_step": int(model.train_result_.best_step), "aggregators": {}}
    for name, kind, cov in AGGREGATORS:
        if cov == "shrunk":
            state, cov = shrunk_gaussian(e_fit), "full"
        else:
            state = fit_aggregator(kind, e_fit, covariance_type=cov, seed=seed)
        s_fit, s_held = aggregate(kind, state, e_fit, cov), aggregate(kind, state, e_held, cov)
        q25, q75 = np.percentile(s_fit, [25, 75])
        out["aggregators"][name] = {
            "held_above_fit_p99": float(np.mean(s_held > np.percentile(s_fit, 99))),
            "median_gap_iqr": float((np.median(s_held) - np.median(s_fit)) / (q75 - q25))}
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", nargs="*", default=["*"])
    p.add_argument("--seeds", nargs="*", type=int, default=[0])
    p.add_argument("--max-datasets", type=int, default=None)
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=JSON",
                   help="override default-preset parameters, e.g. eval_every=10")
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "mulde_overfit.json")
    args = p.parse_args(argv)
    set_single_thread()
    files = [f for f in list_datasets(DATA_ROOT)
             if any(fnmatch.fnmatch(f.stem, pat) for pat in args.datasets)]
    files = files[: args.max_datasets] if args.max_datasets else files
    overrides = {k: json.loads(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    res = new_header("mulde_overfit", registered=REGISTERED, overrides=overrides, entries=[])
    for f in files:
        with np.load(f) as z:
            X, y = z["X"].astype(np.float64), z["y"].astype(int).ravel()
        for seed in args.seeds:
            X_train, _, _ = split(X, y, seed, 10_000, 20_000)
            res["entries"].append({"dataset": f.stem, "seed": seed,
                                   **diagnose(X_train, seed, overrides)})
            write_json(args.out, res)
            print(res["entries"][-1], flush=True)


if __name__ == "__main__":
    main()
