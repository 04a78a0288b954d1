"""Held-out false alarms of the default under issue 15's rules for the deeper pair (rounds
58-59), on real rows: what share of normal rows never fitted `predict` flags (nominal 1 %).

Rules, each fitted in this process by setting the library's constants (the fit otherwise the
default's, `MULDE(random_state=seed)`):
  before58  the pair from 50 rows per feature only (PAIR_ROWS_PER_FEATURE = 50)
  round58   from 25 rows per feature on 501 rows, whatever the principal directions
            (PAIR_ROWS_PER_DIRECTION = 0)
  round59   the library's default (also 50 rows per principal direction)
Cases:
  digits    scikit-learn's digits without class 0 (the normal rows), 75 / 25 split by the
            seed, PCA to 32 features fitted on the fitted rows (a newcomer's table, stop 76);
            held out: the 25 %
  SET       an ADBench set's training half (`adbench_accuracy.split`, normal rows only by
            the protocol), 75 / 25 by the seed; held out: the 25 % (label-free)

    cd benchmarks; OMP_NUM_THREADS=1 python held_out_false_alarms.py --cases digits \\
        6_cardio 7_Cardiotocography --seeds 0 1 2 --out results/held_out_false_alarms.json
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from adbench_accuracy import split
from common import DATA_ROOT, RESULTS_DIR, new_header, set_single_thread, write_json

import mulde.core.network as network
from mulde import MULDE

RULES = {"before58": {"PAIR_ROWS_PER_FEATURE": 50},
         "round58": {"PAIR_ROWS_PER_DIRECTION": 0},
         "round59": {}}


@contextlib.contextmanager
def rule(name: str) -> Iterator[None]:
    """Within the block, the library's pair rule as it was under `name` (RULES)."""
    saved = {key: getattr(network, key) for key in RULES[name]}
    try:
        for key, value in RULES[name].items():
            setattr(network, key, value)
        yield
    finally:
        for key, value in saved.items():
            setattr(network, key, value)


def rows(case: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(fitted rows, held-out normal rows) of a case (module docstring)."""
    from sklearn.model_selection import train_test_split

    if case == "digits":
        from sklearn.datasets import load_digits
        from sklearn.decomposition import PCA

        X, y = load_digits(return_X_y=True)
        fit, held = train_test_split(X[y != 0], test_size=0.25, random_state=seed)
        pca = PCA(32, random_state=0).fit(fit)
        return pca.transform(fit), pca.transform(held)
    with np.load(DATA_ROOT / "adbench" / "Classical" / f"{case}.npz") as z:
        X, y = z["X"].astype(np.float64), z["y"].astype(int).ravel()
    half = split(X, y, seed, 10_000, 20_000)[0]  # the training half: normal rows only
    fit, held = train_test_split(half, test_size=0.25, random_state=seed)
    return fit, held


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", nargs="+", default=["digits"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "held_out_false_alarms.json")
    args = p.parse_args(argv)
    set_single_thread()
    entries = []
    for case in args.cases:
        for seed in args.seeds:
            fit, held = rows(case, seed)
            for name in RULES:
                with rule(name):
                    t0 = time.perf_counter()
                    model = MULDE(random_state=seed).fit(fit)
                    seconds = time.perf_counter() - t0
                entry = {"case": case, "seed": seed, "rule": name, "n_fit": len(fit),
                         "n_features": fit.shape[1], "n_held": len(held),
                         "far": float(np.mean(model.predict(held) == -1)),
                         "n_members": int(model.train_result_.n_members),
                         "hidden_sizes": list(model.hidden_sizes_),
                         "principal_directions": model.principal_directions_,
                         "fit_s": round(seconds, 1)}
                entries.append(entry)
                print(entry, flush=True)
    write_json(args.out, new_header("held_out_false_alarms", entries=entries))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
