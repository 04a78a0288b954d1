"""How a fitted score weighs a mixture's modes: each mode's height against the truth's.

On a Gaussian mixture of isotropic components (the suite's `clusters`: 50 modes, weights
~ Dirichlet(1), standard deviations s_k ~ U[0.3, 1]), the true -log p of a sample near mode
k is about -log w_k + (d / 2) log s_k^2 + its distance term, so the modes' heights differ by
their weights (a mode of few training rows is a rarer one) and their widths. Each fresh
sample of the suite's case (`density_fidelity.draw_case`) is assigned to the component of
highest posterior; per mode, the mean score of its fresh samples is regressed on log n_k (the
training rows drawn from mode k) and (d / 2) log s_k^2 (`mode_heights`). The truth gives
about -1 and 1 (n_k / n estimates w_k), a score on another scale a multiple of both; a
score that weighs the modes' rows more than their probabilities does shows a larger rows
coefficient against its width coefficient. The Spearman of the modes' mean scores with
their mean -log p ("between") and the mean Spearman within a mode ("within") say which part
of the ranking a score gets right.

Per case and seed: MULDE(random_state=seed, device="cpu", **params) fitted on the training
rows for each --params (JSON of `MULDE` parameters; {} the default), and the peers (kNN: d
log of the 5th neighbour's distance, the -log p of the kNN density estimate up to a
constant; KDE with the suite's cross-validated bandwidth; both on the rows standardised per
column, as in the suite), each with the suite's
`metrics` (rho_fresh, rho_broad, far) and `mode_heights`
(benchmarks/density_fidelity.md, "Mode heights on many modes").

    cd benchmarks
    OMP_NUM_THREADS=1 nice -n 19 python density_modes.py --cases clusters:36:2500 \\
        --params '{}' '{"max_steps": 6000}' --peers kNN KDE --seed 5 \\
        --out results/density_modes_probe.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from common import RESULTS_DIR, new_header, set_single_thread, write_json
from density_fidelity import PEERS, draw_case, metrics, peer_scorer, standardised
from density_generators import GaussianMixture
from scipy.stats import spearmanr

MIN_FRESH = 5
"""Modes with fewer fresh samples than this are left out of the per-mode means."""


def mode_heights(scores: np.ndarray, nll: np.ndarray, fresh: np.ndarray,
                 mixture: GaussianMixture, train_components: np.ndarray) -> dict[str, float]:
    """How the scores (m,) of the fresh samples (m, d) weigh the modes of `mixture` (isotropic
    components), against their true -log p `nll` (m,); train_components (n,) int, the
    component each training row came from. Each fresh sample belongs to its component of
    highest posterior; modes with at least one training row and `MIN_FRESH` fresh samples
    count. Returns "rows_coef" and "width_coef", the least-squares coefficients of the
    modes' mean scores on log n_k and (d / 2) log s_k^2 (with an intercept; the truth: about
    -1 and 1), "between" (Spearman of the modes' mean scores with their mean nll), "within"
    (the mean over those modes of the Spearman within a mode) and "modes" (how many
    counted). ValueError where fewer than four modes count."""
    variances = np.array([float(c[0, 0]) for c in mixture.covariances])
    d = fresh.shape[1]
    log_post = (np.log(mixture.weights)[None, :] - 0.5 * d * np.log(variances)[None, :]
                - 0.5 * ((fresh[:, None, :] - mixture.means[None]) ** 2).sum(-1)
                / variances[None, :])
    assigned = log_post.argmax(axis=1)
    rows = np.bincount(train_components, minlength=len(variances))
    kept = [k for k in range(len(variances))
            if rows[k] > 0 and (assigned == k).sum() >= MIN_FRESH]
    if len(kept) < 4:
        raise ValueError(f"only {len(kept)} modes hold training rows and {MIN_FRESH} fresh "
                         "samples: too few to weigh")
    mean_score = np.array([scores[assigned == k].mean() for k in kept])
    mean_nll = np.array([nll[assigned == k].mean() for k in kept])
    design = np.c_[np.log(rows[kept]), 0.5 * d * np.log(variances[kept]), np.ones(len(kept))]
    coef = np.linalg.lstsq(design, mean_score, rcond=None)[0]
    within = [spearmanr(scores[assigned == k], nll[assigned == k]).statistic for k in kept]
    return {"rows_coef": float(coef[0]), "width_coef": float(coef[1]),
            "between": float(spearmanr(mean_score, mean_nll).statistic),
            "within": float(np.nanmean(within)), "modes": len(kept)}


def _scored(name: str, train: np.ndarray, fresh: np.ndarray, broad: np.ndarray, data,
            extra: dict) -> dict:
    row = {"name": name, **extra,
           **metrics(train, fresh, broad, data.nll_fresh, data.nll_broad),
           "modes": mode_heights(fresh, data.nll_fresh, data.fresh, data.dist,
                                 data.components)}
    m = row["modes"]
    print(f"  {name}: fresh {row['rho_fresh']:.3f} broad {row['rho_broad']:.3f} far "
          f"{row['far']:.3f}; modes: rows {m['rows_coef']:.2f} width {m['width_coef']:.2f} "
          f"between {m['between']:.3f} within {m['within']:.3f}", flush=True)
    return row


def resampled_rows(components: np.ndarray, how: str, seed: int) -> np.ndarray:
    """Indices (n,) of the training rows a fit is given: "none" every row once; "bootstrap"
    n drawn with replacement; "balanced" every mode's rows drawn to the same count, n / K
    rounded, with replacement where a mode holds fewer (an oracle, using the generating
    components: do the modes' heights follow their share of the loss, or their rows?)."""
    n = len(components)
    if how == "none":
        return np.arange(n)
    rng = np.random.default_rng(seed)
    if how == "bootstrap":
        return rng.choice(n, size=n, replace=True)
    modes = np.unique(components)
    per = round(n / len(modes))
    return np.concatenate([rng.choice(held, size=per, replace=len(held) < per)
                           for held in (np.flatnonzero(components == k) for k in modes)])


def run_case(spec: str, seed: int, params: list[dict], peers: list[str],
             resample: str = "none") -> dict:
    """One case "dist:d:n" of a Gaussian mixture: each MULDE fit's (on the rows
    `resampled_rows` gives) and peer's row."""
    from mulde import MULDE

    dist, d, n = spec.split(":")
    data = draw_case(dist, int(d), int(n), seed)
    if data.components is None:
        raise SystemExit(f"{spec}: not a Gaussian mixture (the modes are its components)")
    print(spec, flush=True)
    rows = []
    given_rows = data.x[resampled_rows(data.components, resample, seed)]
    for given in params:
        if resample != "none":  # repeated rows would be scored by their counts
            given = {"atom_min_count": None, **given}
        t0 = time.perf_counter()
        model = MULDE(random_state=seed, device="cpu", **given).fit(given_rows)
        fit_s = time.perf_counter() - t0
        result = model.train_result_
        rows.append(_scored(json.dumps(given, sort_keys=True),
                            *(model.anomaly_score(a) for a in (data.x, data.fresh, data.broad)),
                            data, {"params": given, "fit_s": fit_s, "steps": result.steps,
                                   "best_step": result.best_step}))
    z_tr, z_f, z_b = standardised(data)  # the suite's peers' scaling
    for name in peers:
        train, scorer = peer_scorer(name, z_tr, seed)
        # kNN's distance r as the -log p of its density estimate (p ~ 1 / r^d), a constant
        # aside; the ranks (rho, far) are the same either way
        scale = (lambda r: int(d) * np.log(np.maximum(r, 1e-300))) if name == "kNN" else (
            lambda s: s)
        rows.append(_scored(name, scale(train), scale(scorer(z_f)), scale(scorer(z_b)), data,
                            {}))
    return {"case": spec, "dist": dist, "d": int(d), "n": int(n), "seed": seed,
            "resample": resample, "rows": rows}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="+", required=True,
                        help="dist:d:n of a Gaussian mixture (clusters, mixture, ...)")
    parser.add_argument("--params", nargs="*", type=json.loads, default=[{}],
                        help="JSON of MULDE parameters, one fit each ({}: the default; "
                        "none: the peers alone)")
    parser.add_argument("--peers", nargs="*", default=["kNN"], choices=PEERS[:2])
    parser.add_argument("--resample", choices=("none", "bootstrap", "balanced"),
                        default="none", help="the rows MULDE is fitted on (`resampled_rows`); "
                        "the peers and the measures use the case's rows as drawn")
    parser.add_argument("--seed", type=int, default=5, help="5: the suite's scratch seed")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "density_modes.json")
    args = parser.parse_args(argv)
    set_single_thread()
    out = new_header("density_modes", seed=args.seed, cases=[])
    for spec in args.cases:
        out["cases"].append(run_case(spec, args.seed, args.params, args.peers,
                                     args.resample))
        write_json(args.out, out)


if __name__ == "__main__":
    main()
