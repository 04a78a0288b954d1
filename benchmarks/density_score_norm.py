"""Do score norms rank samples by density? Aggregates of ||grad_x f(x, sigma)||^2.

Issue 15 lists "the score-norm aggregates ||grad f||^2 that the authors also computed" among
the candidates to weigh; every round so far aggregated the energies f(x, sigma_l) alone. A
label-free probe (benchmarks/density_fidelity.md, "Score-norm aggregates"): per case the
default `MULDE` is fitted once on the suite's rows (`density_fidelity.draw_case`), and from
the same network, on the column-standardised rows z, are computed
  mean_energy              the default aggregate (the energies centred per level, averaged),
  sn_sigma2_mean           the mean over the levels of sigma_l^2 ||grad_z f(z, sigma_l)||^2,
                           the squared score norm in the units the DSM loss weighs,
  sn_mean_z                the mean over the levels of ||grad_z f||^2, each level z-scored
                           on the training rows,
  sn_log_mean_z            the same on log ||grad_z f||^2,
  energy_and_log_sn        the mean of the z-scores of the energies and of the log score
                           norms (2 L columns),
each with `density_fidelity.metrics` (rho_fresh / rho_broad / far), and each level's score
norm alone (rho_fresh). DSM fits the gradient directly and the energy only through it, which
is why a score norm might rank better; for a Gaussian ||grad log p|| = |x| ranks exactly,
while for Student-t (ascending then descending in |x|) and at the saddles between a
mixture's modes it does not.

    cd benchmarks
    OMP_NUM_THREADS=1 nice -n 19 python density_score_norm.py --seed 5 \\
        --cases gauss_iso:8:4000 circle:64:1000 --out results/density_score_norm_seed5.json
"""

from __future__ import annotations

import numpy as np
import torch
from common import run_cases
from density_fidelity import fitted_default, metrics

from mulde import MULDE

AGGREGATES = ("mean_energy", "sn_sigma2_mean", "sn_mean_z", "sn_log_mean_z",
              "energy_and_log_sn")


def squared_score_norms(model: MULDE, X: np.ndarray, batch: int = 1024) -> np.ndarray:
    """Return ||grad_z f(z, sigma_l)||^2 of the rows X (n, d) at the model's levels, (n, L):
    z the rows standardised with the model's training mean and scale (no whitening)."""
    if getattr(model, "whitening_", None) is not None:
        raise ValueError("a whitened model: the gradient would be in whitened coordinates")
    z = torch.from_numpy(((X - model.mean_) / model.scale_).astype(np.float32))
    net = model.network_.eval()
    out = []
    for sigma in model.sigmas_:
        parts = []
        for i in range(0, len(z), batch):
            zb = z[i:i + batch].clone().requires_grad_(True)
            f = net(zb, torch.full((len(zb), 1), float(sigma)))
            (grad,) = torch.autograd.grad(f.sum(), zb)
            parts.append(grad.pow(2).sum(dim=1))
        out.append(torch.cat(parts).numpy().astype(np.float64))
    return np.stack(out, axis=1)


def mean_z(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Each column z-scored on the training rows, then averaged: (n,) per array."""
    mu, sd = train.mean(axis=0), train.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    return [((a - mu) / sd).mean(axis=1) for a in (train, *others)]


def scores(name: str, model: MULDE, energies: list[np.ndarray], norms: list[np.ndarray]
           ) -> list[np.ndarray]:
    """The aggregate `name` of the training, fresh and broad rows (higher = more anomalous)."""
    if name == "mean_energy":
        return [model._aggregate(e) for e in energies]  # the estimator's own aggregate
    if name == "sn_sigma2_mean":
        return [(g * np.asarray(model.sigmas_) ** 2).mean(axis=1) for g in norms]
    logs = [np.log(np.maximum(g, 1e-30)) for g in norms]
    if name == "sn_mean_z":
        return mean_z(*norms)
    if name == "sn_log_mean_z":
        return mean_z(*logs)
    if name == "energy_and_log_sn":
        return mean_z(*(np.concatenate([e, g], axis=1) for e, g in zip(energies, logs,
                                                                        strict=True)))
    raise ValueError(f"unknown aggregate {name!r}")


def run_case(spec: str, seed: int) -> dict:
    data, model, fit_s = fitted_default(spec, seed)
    sets = (data.x, data.fresh, data.broad)
    energies = [model.score_samples_multiscale(a) for a in sets]
    norms = [squared_score_norms(model, a) for a in sets]
    members = len(getattr(model.network_, "members", [model.network_]))
    row = {"case": spec, "fit_s": fit_s, "n_members": members,
           "aggregates": {name: metrics(*scores(name, model, energies, norms),
                                        data.nll_fresh, data.nll_broad)
                          for name in AGGREGATES},
           "sn_rho_fresh_per_level": [
               metrics(norms[0][:, i], norms[1][:, i], norms[2][:, i], data.nll_fresh,
                       data.nll_broad)["rho_fresh"] for i in range(norms[0].shape[1])]}
    shown = {k: tuple(round(v[m], 3) for m in ("rho_fresh", "rho_broad", "far"))
             for k, v in row["aggregates"].items()}
    print(spec, f"fit {fit_s:.0f} s", shown, flush=True)
    return row


def main(argv: list[str] | None = None) -> None:
    out = run_cases("density_score_norm", __doc__.split("\n")[0], run_case, argv)
    names = [c["aggregates"] for c in out["cases"]]
    for name in AGGREGATES:
        merit = np.mean([(a[name]["rho_fresh"] + a[name]["rho_broad"]) / 2 for a in names])
        calib = np.mean([abs(a[name]["far"] - 0.01) for a in names])
        print(f"{name:20s} merit {merit:.4f} calibration {calib:.4f}")


if __name__ == "__main__":
    main()
