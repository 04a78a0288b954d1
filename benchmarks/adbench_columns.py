"""Which ADBench columns lie on a lattice: per data set, the quantised columns of the
training half (`adbench_accuracy.split`, normal rows only; no test row or label is read) as
`MULDE(dequantise=True)` finds them (`mulde.estimator.columns.quantisation_steps`), and as
rounds 35 and 36's rules did (two-valued columns and cells of any width counted; with round
37's merging of values a rounding apart, not theirs), for issue 15's rounds 35-37
(benchmarks/density_fidelity.md).

    MULDE_DATA=../shared/data python benchmarks/adbench_columns.py --seed 0
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from adbench_accuracy import list_datasets, split
from common import DATA_ROOT, RESULTS_DIR, command_line, new_header, write_json

from mulde.estimator.columns import constant_columns, quantisation_steps


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-train", type=int, default=10_000)
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "adbench_columns.json")
    args = p.parse_args(argv)
    rows = []
    for path in list_datasets(DATA_ROOT):
        with np.load(path) as z:
            X, y = z["X"].astype(np.float64), z["y"].astype(int).ravel()
        X_train = split(X, y, args.seed, args.max_train, 1)[0]
        steps = quantisation_steps(X_train)
        entry = {"dataset": path.stem, "n_train": len(X_train), "d": X_train.shape[1],
                 "constant": int(constant_columns(X_train).sum()),
                 "quantised": int(np.count_nonzero(steps)),
                 # round 36's rule allowed cells of any width, round 35's two-valued columns too
                 "quantised_round36": int(np.count_nonzero(
                     quantisation_steps(X_train, max_stds=None))),
                 "quantised_round35": int(np.count_nonzero(
                     quantisation_steps(X_train, 2, max_stds=None)))}
        rows.append(entry)
        print(f"{entry['dataset']:28s} n {entry['n_train']:6d} d {entry['d']:5d} "
              f"quantised {entry['quantised']:5d} (round 36: {entry['quantised_round36']:5d}, "
              f"round 35: {entry['quantised_round35']:5d}) "
              f"constant {entry['constant']:4d}", flush=True)
    for key, rule in (("quantised", "now"), ("quantised_round36", "by round 36's rule"),
                      ("quantised_round35", "by round 35's rule")):
        touched = [r for r in rows if r[key]]
        print(f"{len(touched)} of {len(rows)} sets have quantised columns {rule}; "
              f"{sum(r['n_train'] >= 1000 for r in touched)} of them >= 1,000 training rows")
    moved = [r["dataset"] for r in rows if r["quantised_round36"] != r["quantised_round35"]]
    print(f"{len(moved)} sets have two-valued columns (round 36 trains them as given): "
          + " ".join(moved))
    moved = [r["dataset"] for r in rows if r["quantised"] != r["quantised_round36"]]
    print(f"{len(moved)} sets have cells wider than two standard deviations (round 37 trains "
          "them as given): " + " ".join(moved))
    write_json(args.out, new_header("adbench_columns", seed=args.seed,
                                    max_train=args.max_train, command=command_line(),
                                    entries=rows))


if __name__ == "__main__":
    main()
