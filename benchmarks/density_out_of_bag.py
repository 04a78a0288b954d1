"""Is the default's false-alarm excess memorisation by its bagged members? Out-of-bag scores.

Where `MULDE(n_members="auto")` trains members on bags of the rows (2-4 on halves below 501
rows, round 31's eight on eighths of thin rows since round 46), each training row was fitted
by the members whose bag holds it. If a member memorises its bag, the mean energy of a
training row is lower than that of a fresh sample of the same density, the training scores'
99th percentile is too low, and the suite's `far` (fresh samples above it) exceeds 1 %.
Scoring each training row by the members that never fitted it (out of bag, as a random
forest's OOB predictions; a row in every bag is left out:
`mulde.core.scoring.out_of_bag_energies`) removes exactly that part. Since round 47 the
estimator's threshold is set on such scores; its `anomaly_score` of the training rows is
still in bag (every member).

Per case (benchmarks/density_fidelity.md, "Out-of-bag training scores"): the default `MULDE`
fitted once on the suite's rows (`density_fidelity.draw_case`); every member's energies of
the training rows; `density_fidelity.metrics` with the training scores in bag (the
estimator's, every member) and out of bag. The fresh and broad samples' scores are the same
in both, so only `far` can differ. The results hold the two as MULDE variants `in_bag` and
`out_of_bag` of the suite's results, for density_decide.py.

    cd benchmarks
    OMP_NUM_THREADS=1 nice -n 19 python density_out_of_bag.py --seed 5 \\
        --cases circle:64:1000 gauss_iso:512:4000 --out results/density_out_of_bag_seed5.json
"""

from __future__ import annotations

import numpy as np
import torch
from common import run_cases
from density_fidelity import fitted_default, metrics
from sklearn.utils import check_random_state

from mulde import MULDE
from mulde.core.scoring import member_multiscale_energy, out_of_bag_energies
from mulde.core.training import training_bags as library_bags


def training_bags(model: MULDE, n_rows: int) -> np.ndarray:
    """(n_rows, M) bool: which of the n_rows rows `model` was fitted on each member trained
    on (`mulde.core.training.training_bags` with the fit's settings; all False for members
    that trained on every row). The training seed is the one `MULDE.fit` draws from an int
    `random_state` (ValueError for another)."""
    if not isinstance(model.random_state, int):
        raise ValueError("the bags are recomputed from an int random_state only")
    seed = int(check_random_state(model.random_state).randint(2**31 - 1))  # as `MULDE.fit`
    result = model.train_result_
    bags = library_bags(n_rows, result.n_members, result.max_samples,
                        result.validation_fraction, seed)
    return (np.zeros((n_rows, result.n_members), dtype=bool) if bags is None
            else bags.numpy())


def member_energies(model: MULDE, X: np.ndarray) -> torch.Tensor:
    """Each member's energies of the rows X (n, d) at the model's levels: (M, n, L)."""
    return member_multiscale_energy(model.network_, model._to_tensor(np.asarray(X, float)),
                                    torch.as_tensor(model.sigmas_))


def run_case(spec: str, seed: int) -> dict:
    data, model, fit_s = fitted_default(spec, seed)
    fresh, broad = (model.anomaly_score(a) for a in (data.fresh, data.broad))
    in_bag = training_bags(model, len(data.x))
    oob, _ = out_of_bag_energies(member_energies(model, data.x), torch.from_numpy(in_bag))
    found = {"in_bag": metrics(model.anomaly_score(data.x), fresh, broad, data.nll_fresh,
                               data.nll_broad),
             "out_of_bag": metrics(model._aggregate(oob.numpy()), fresh, broad, data.nll_fresh,
                                   data.nll_broad)}
    dist, d, n = spec.split(":")
    row = {"case": spec, "dist": dist, "d": int(d), "n": int(n), "seed": seed,
           "fit_s": fit_s, "n_members": model.train_result_.n_members,
           "max_samples": model.train_result_.max_samples,
           "rows_in_every_bag": int(in_bag.all(axis=1).sum()),
           # as density_fidelity.py's results, so that density_decide.py reads them
           "mulde": {name: {"aggregates": {"mean_energy": m}} for name, m in found.items()}}
    print(spec, f"fit {fit_s:.0f} s, {row['n_members']} members on {row['max_samples']:g}:",
          "far in bag", found["in_bag"]["far"], "out of bag", found["out_of_bag"]["far"],
          flush=True)
    return row


def main(argv: list[str] | None = None) -> None:
    run_cases("density_out_of_bag", __doc__.split("\n")[0], run_case, argv)


if __name__ == "__main__":
    main()
