"""Reference estimators for the density-fidelity suite: what the training rows support.

For the cases, seeds and samples of `density_fidelity.py`, how well do estimators that are
told part of the truth rank the samples by their true density, from the same rows? None of
them is a peer a user could run (each is given something no detector has); they bound what
the rows hold, to read MULDE's numbers against (issue 15's target, Spearman >= 0.95 on every
case of >= 1,000 training rows, included):

  gaussian_lw  one Gaussian: the rows' mean and Ledoit-Wolf covariance (Ledoit & Wolf 2004,
               `sklearn.covariance.LedoitWolf`). Knows nothing, like a detector.
  family_ml    the generating family, a mixture of K full-covariance Gaussians, with each
               row's true component (drawn by the sampler) given: each component's mean and
               maximum-likelihood covariance from its own rows, weights by their counts.
               Gaussian-mixture cases only; none where a component has no more rows than d
               (its covariance is singular).
  family_lw    the same with each component's Ledoit-Wolf covariance.
  structure    the generator's own form with its parameters estimated from the rows (and
               the true components): isotropic components for gauss_iso, mixture and toy2d;
               a full covariance for gauss_aniso; probabilistic PCA of rank 4 per component
               for lowrank_mix and mfa (Tipping & Bishop 1999: the 4 leading eigen-pairs of
               the component's covariance, the mean of the other eigenvalues as the isotropic
               noise); for circle, a circle about the origin (the plane of the rows' two
               leading eigenvectors, the radius the mean in-plane norm, the noise variance
               the mean squared off-plane norm per direction). None for student_t.

Each is scored by its exact log-density (the generators' own classes) and measured as the
suite measures (`density_fidelity.metrics`; the training scores in-sample). Label-free: only
the synthetic generators' truth is read. Seconds per case. Writes --out (JSON) and prints a
table: per case, the seeds' mean rho_fresh / rho_broad / far of each reference, and MULDE's
from a `density_fidelity.py` results file ("-": not there for these seeds, or the reference
does not apply).

    python benchmarks/density_reference.py --seeds 3 4 6
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
from common import RESULTS_DIR, command_line, new_header, write_json
from density_fidelity import DEFAULT_CASES, N_EVAL, draw_case, metrics, read_json
from density_generators import (
    DISTRIBUTIONS,
    GaussianMixture,
    NoisyCircle,
    make_distribution,
)
from sklearn.covariance import LedoitWolf

REFERENCES = ("gaussian_lw", "family_ml", "family_lw", "structure")
CASES = (*DEFAULT_CASES, ("mfa", 64, 4000))  # the 14 cases of rounds 23-24
ISOTROPIC = ("gauss_iso", "mixture", "toy2d")
PPCA_RANK = {"lowrank_mix": 4, "mfa": 4}


def _ledoit_wolf(x: np.ndarray) -> np.ndarray:
    return LedoitWolf().fit(x).covariance_


def _ml(x: np.ndarray) -> np.ndarray:
    return np.cov(x, rowvar=False, bias=True)


def _isotropic(x: np.ndarray) -> np.ndarray:
    d = x.shape[1]
    return np.eye(d) * float(((x - x.mean(axis=0)) ** 2).sum(axis=1).mean()) / d


def _ppca(rank: int):
    def cov(x: np.ndarray) -> np.ndarray:
        values, vectors = np.linalg.eigh(_ml(x))
        values, vectors = values[::-1], vectors[:, ::-1]
        noise = float(values[rank:].mean())
        top = vectors[:, :rank]
        return top * values[:rank] @ top.T + noise * (np.eye(len(values)) - top @ top.T)
    return cov


def mixture_of(x: np.ndarray, components: np.ndarray, covariance) -> GaussianMixture | None:
    """The mixture whose k-th Gaussian has the mean and covariance(rows) of the rows of
    component k (weights by their counts); None where a covariance is singular."""
    ks = np.unique(components)
    covs = np.stack([covariance(x[components == k]) for k in ks])
    if (np.linalg.eigvalsh(covs)[:, 0] <= 1e-12 * np.abs(covs).max()).any():
        return None
    counts = np.array([(components == k).sum() for k in ks], dtype=float)
    means = np.stack([x[components == k].mean(axis=0) for k in ks])
    return GaussianMixture(counts / counts.sum(), means, covs)


def circle_of(x: np.ndarray) -> NoisyCircle:
    """A `NoisyCircle` about the origin fitted by moments: the plane of the rows' two leading
    eigenvectors (of x^T x / n), the mean in-plane norm as radius, the mean squared off-plane
    norm per direction as noise variance."""
    d = x.shape[1]
    vectors = np.linalg.eigh(x.T @ x / len(x))[1][:, ::-1][:, :2]
    u = x @ vectors
    off = (x ** 2).sum(axis=1) - (u ** 2).sum(axis=1)
    return NoisyCircle(vectors, float(np.linalg.norm(u, axis=1).mean()),
                       float(np.sqrt(max(off.mean(), 1e-12) / (d - 2))))


def references(name: str, x: np.ndarray, components: np.ndarray | None) -> dict:
    """Every reference density fitted on the rows x (n, d) (components: each row's true
    component for a Gaussian mixture, else None); a name maps to None where it does not
    apply."""
    one = np.zeros(len(x), dtype=int)
    out = {"gaussian_lw": mixture_of(x, one, _ledoit_wolf),
           "family_ml": None, "family_lw": None, "structure": None}
    if components is not None:
        if np.bincount(components).min(initial=len(x)) > x.shape[1]:
            out["family_ml"] = mixture_of(x, components, _ml)
        out["family_lw"] = mixture_of(x, components, _ledoit_wolf)
        form = (_isotropic if name in ISOTROPIC else
                _ppca(PPCA_RANK[name]) if name in PPCA_RANK else _ml)
        out["structure"] = mixture_of(x, components, form)
    elif name == "circle":
        out["structure"] = circle_of(x)
    return out


def run_case(name: str, d: int, n: int, seed: int) -> dict:
    """The case's samples as the suite draws them (`density_fidelity.draw_case`); every
    reference's metrics (None where it does not apply)."""
    data = draw_case(name, d, n, seed)
    case = {"dist": name, "d": d, "n": n, "seed": seed, "references": {}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = references(name, data.x, data.components)
    for ref, density in fitted.items():
        case["references"][ref] = None if density is None else metrics(
            *(-density.log_density(z) for z in (data.x, data.fresh, data.broad)),
            data.nll_fresh, data.nll_broad)
    return case


def table(cases: list[dict], mulde: dict[tuple, dict] | None) -> str:
    """Markdown: per case, the seeds' mean rho_fresh / rho_broad / far of each reference
    (and of MULDE where given)."""
    cols = [*REFERENCES, *(["MULDE"] if mulde else [])]
    lines = ["| case | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    keys = sorted({(c["dist"], c["d"], c["n"]) for c in cases},
                  key=lambda k: CASES.index(k) if k in CASES else len(CASES))
    for key in keys:
        rows = [c for c in cases if (c["dist"], c["d"], c["n"]) == key]
        cells = []
        for col in cols:
            got = [(mulde or {}).get((*key, c["seed"])) if col == "MULDE"
                   else c["references"][col] for c in rows]
            if any(g is None for g in got):
                cells.append("-")
                continue
            cells.append(" / ".join(f"{np.mean([g[m] for g in got]):.3f}"
                                    for m in ("rho_fresh", "rho_broad", "far")))
        lines.append(f"| {key[0]} d {key[1]} n {key[2]:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def mulde_metrics(path: Path, variant: str, aggregate: str) -> dict[tuple, dict]:
    """(dist, d, n, seed) -> MULDE's metrics in a `density_fidelity.py` results file."""
    out = {}
    for c in (read_json(path) or {"cases": []})["cases"]:
        got = c["mulde"].get(variant, {}).get("aggregates", {}).get(aggregate)
        if got and "error" not in got:
            out[(c["dist"], c["d"], c["n"], c["seed"])] = got
    return out


def _case(text: str, parser: argparse.ArgumentParser) -> tuple[str, int, int]:
    """DIST:D:N as a case, or the parser's one-line error."""
    parts = text.split(":")
    if len(parts) != 3 or parts[0] not in DISTRIBUTIONS or not all(
            p.isdigit() for p in parts[1:]):
        parser.error(f"--cases {text!r}: give DIST:D:N, e.g. circle:64:1000, DIST one of "
                     f"{', '.join(DISTRIBUTIONS)}")
    try:
        make_distribution(parts[0], int(parts[1]))
    except ValueError as err:
        parser.error(f"--cases {text!r}: {err}")
    return parts[0], int(parts[1]), int(parts[2])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", nargs="+", type=int, default=[3, 4, 6])
    p.add_argument("--cases", nargs="*", default=None, metavar="DIST:D:N",
                   help="these cases instead of the 14 of rounds 23-24")
    p.add_argument("--mulde", type=Path, default=RESULTS_DIR / "density_fidelity_round24.json",
                   help="a density_fidelity.py results file whose MULDE rows the table shows")
    p.add_argument("--variant", default="lr_rows", help="its MULDE variant (aggregate "
                   "mean_energy, the default's)")
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "density_reference.json")
    args = p.parse_args(argv)
    cases = [_case(c, p) for c in args.cases] if args.cases else list(CASES)
    results = new_header("density_reference", n_eval=N_EVAL, cases=[])
    results["commands"].append(command_line())
    for name, d, n in cases:
        for seed in args.seeds:
            results["cases"].append(run_case(name, d, n, seed))
    write_json(args.out, results)
    seeds = ("seeds " if len(args.seeds) > 1 else "seed ") + ", ".join(map(str, args.seeds))
    print(f"each cell: rho_fresh / rho_broad / far, the mean over {seeds}; MULDE: "
          f"{args.variant} in {args.mulde.name}; '-': the reference does not apply to the "
          "case, or MULDE has no row for these seeds\n")
    print(table(results["cases"], mulde_metrics(args.mulde, args.variant, "mean_energy")))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
