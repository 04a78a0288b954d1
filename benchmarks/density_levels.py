"""Which noise levels carry the density ranking? `mean_energy` over subsets of the levels.

A label-free probe of issue 15's suite (benchmarks/density_fidelity.md, "Which levels carry
the ranking"), computed from the energies that `density_fidelity.py` stores per case and
variant (--energies-dir; no refit). Per case it reports the metrics of `density_fidelity.py`
(rho_fresh / rho_broad / far) for `mean_energy` (each level centred on its training mean,
then averaged) over
  all       the 16 levels (the default aggregate),
  le_thin   the levels with sigma at most s_thin, the standard deviation of the thinnest
            principal direction of the column-standardised training rows (the square root of
            the smallest eigenvalue of their covariance): above it a level smooths away the
            thinnest direction's structure,
  le_s90    the levels with sigma at most the standard deviation of the last of the leading
            principal directions that hold 90 % of the variance
            (`mulde.core.training.principal_directions`' count),
  small8    the 8 smallest levels,
and each level alone (rho_fresh, rho_broad). Merit and calibration as in the decision rule:
the means over the cases of (rho_fresh + rho_broad) / 2 and of |far - 0.01|.

    python benchmarks/density_levels.py --seed 5 --energies-dir /tmp/energies \\
        --cases gauss_aniso:16:4000 circle:64:1000 --out results/density_levels_seed5.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from common import new_header, write_json
from density_fidelity import draw_case, metrics

SUBSETS = ("all", "le_thin", "le_s90", "small8")


def principal_scales(x: np.ndarray) -> tuple[float, float]:
    """Return (s_thin, s_90) of the training rows x (n, d): the standard deviations of the
    thinnest principal direction and of the last of the leading directions holding 90 % of
    the variance, after per-column standardisation (constant columns left at 0)."""
    sd = x.std(axis=0)
    z = (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    if z.shape[1] == 1:
        return 1.0, 1.0
    ev = np.clip(np.linalg.eigvalsh(np.cov(z.T))[::-1], 0.0, None)
    k90 = int(np.searchsorted(np.cumsum(ev) / ev.sum(), 0.9)) + 1
    return float(np.sqrt(ev[-1])), float(np.sqrt(ev[k90 - 1]))


def subset_levels(name: str, sigmas: np.ndarray, s_thin: float, s_90: float) -> np.ndarray:
    """The indices of the levels of subset `name` (SUBSETS); the smallest level when no level
    lies below the subset's scale."""
    if name == "all":
        return np.arange(len(sigmas))
    if name == "small8":
        return np.arange(min(8, len(sigmas)))
    levels = np.flatnonzero(sigmas <= (s_thin if name == "le_thin" else s_90))
    return levels if len(levels) else np.array([0])


def case_levels(dist: str, d: int, n: int, seed: int, variant: str, energies_dir: Path) -> dict:
    """The metrics of every subset and level of one case's stored energies."""
    data = draw_case(dist, d, n, seed)
    with np.load(energies_dir / f"{dist}_d{d}_n{n}_s{seed}_{variant}.npz") as z:
        e_tr, e_f, e_b, sigmas = z["e0"], z["e1"], z["e2"], z["sigmas"]
    s_thin, s_90 = principal_scales(data.x)
    out: dict = {"dist": dist, "d": d, "n": n, "seed": seed, "s_thin": s_thin, "s_90": s_90,
                 "sigmas": sigmas.tolist(), "subsets": {}, "per_level": []}
    for name in SUBSETS:
        levels = subset_levels(name, sigmas, s_thin, s_90)
        mu = e_tr[:, levels].mean(axis=0)
        scores = [(e[:, levels] - mu).mean(axis=1) for e in (e_tr, e_f, e_b)]
        out["subsets"][name] = {**metrics(*scores, data.nll_fresh, data.nll_broad),
                                "levels": levels.tolist()}
    for i in range(len(sigmas)):
        m = metrics(e_tr[:, i], e_f[:, i], e_b[:, i], data.nll_fresh, data.nll_broad)
        out["per_level"].append({"rho_fresh": m["rho_fresh"], "rho_broad": m["rho_broad"]})
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", nargs="+", required=True, metavar="DIST:D:N")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--variant", default="quarters8_per_direction")
    p.add_argument("--energies-dir", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    cases = [case_levels(dist, int(d), int(n), args.seed, args.variant, args.energies_dir)
             for dist, d, n in (c.split(":") for c in args.cases)]
    summary = {}
    for name in SUBSETS:
        ms = [c["subsets"][name] for c in cases]
        summary[name] = {"merit": float(np.mean([(m["rho_fresh"] + m["rho_broad"]) / 2
                                                 for m in ms])),
                         "calibration": float(np.mean([abs(m["far"] - 0.01) for m in ms]))}
    for c in cases:
        row = "  ".join(f"{k} {m['rho_fresh']:.3f}/{m['rho_broad']:.3f}/{m['far']:.3f}"
                        f" ({len(m['levels'])})" for k, m in c["subsets"].items())
        print(f"{c['dist']:11s} d={c['d']:<3d} n={c['n']:<5d} s_thin={c['s_thin']:.3f} "
              f"s_90={c['s_90']:.3f}  {row}")
    for name, s in summary.items():
        print(f"{name:8s} merit {s['merit']:.4f} calibration {s['calibration']:.4f}")
    write_json(args.out, new_header("density_levels",
                                    variant=args.variant, cases=cases, summary=summary))


if __name__ == "__main__":
    main()
