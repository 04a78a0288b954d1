"""Which ADBench columns lie on a lattice: per data set, the quantised columns of the
training half (`adbench_accuracy.split`, normal rows only; no test row or label is read) as
`MULDE(dequantise=True)` finds them (`mulde.estimator.columns.quantisation_steps`), and as
rounds 35 and 36's rules did (two-valued columns and cells of any width counted; with round
37's merging of values a rounding apart, not theirs), for issue 15's rounds 35-37
(benchmarks/density_fidelity.md). Each split's `cells` is a digest of what training
receives of them (`MULDE._cells`: the quantised columns and their steps divided by the
column's scale, as float32), so two runs of this script on two versions of the rule show
the splits whose fits can differ (`--against`, round 38). Later rules are counted beside
their predecessors: two-valued columns (round 52) and point masses (round 54).

    MULDE_DATA=../shared/data python benchmarks/adbench_columns.py --seeds 0
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
from adbench_accuracy import list_datasets, split
from common import DATA_ROOT, RESULTS_DIR, command_line, new_header, write_json

from mulde.estimator.columns import constant_columns, mean_std, quantisation_steps


def cells_digest(X: np.ndarray, steps: np.ndarray) -> str:
    """The first 16 hex digits of a SHA-256 of the quantised columns of X (n, d) and their
    cell widths in training's coordinates, float32 (`MULDE._cells` without whitening)."""
    constant = constant_columns(X)
    scale = np.where(constant, 1.0, mean_std(X)[1] + 1e-8)
    cols = np.flatnonzero(steps > 0)
    widths = (steps[cols] / scale[cols]).astype(np.float32)
    return hashlib.sha256(cols.astype(np.int64).tobytes() + widths.tobytes()).hexdigest()[:16]


def other_cells(rows: list[dict], earlier: Path, name: str, what: str) -> str:
    """The line that says which of `rows` (entries of this script or of density_columns.py,
    named by their field `name` and "seed") have other `cells` than the same entries of the
    output file `earlier`: "against F: 0 of 174 splits have other cells"."""
    before = {(r[name], r.get("seed", 0)): r.get("cells")
              for r in json.loads(earlier.read_text())["entries"]}
    shared = [r for r in rows if (r[name], r["seed"]) in before]
    differ = [f"{r[name]} seed {r['seed']}" for r in shared
              if before[(r[name], r["seed"])] != r["cells"]]
    return (f"against {earlier}: {len(differ)} of {len(shared)} {what} have other cells"
            + (": " + ", ".join(differ) if differ else ""))


def split_entry(name: str, seed: int, X_train: np.ndarray) -> dict:
    """What the current rule and rounds 35-36's find in one split's training half."""
    steps = quantisation_steps(X_train)
    return {"dataset": name, "seed": seed, "n_train": len(X_train), "d": X_train.shape[1],
            "cells": cells_digest(X_train, steps),
            "constant": int(constant_columns(X_train).sum()),
            "quantised": int(np.count_nonzero(steps)),
            # round 54's rule gives point masses cells: how many round 52's found
            "quantised_round52": int(np.count_nonzero(
                quantisation_steps(X_train, atom_cell=0.0))),
            # round 52's rule gives two-valued columns half-gap cells: how many it found
            "quantised_round51": int(np.count_nonzero(
                quantisation_steps(X_train, two_valued_cell=0.0, atom_cell=0.0))),
            # round 36's rule allowed cells of any width, round 35's two-valued columns too
            "quantised_round36": int(np.count_nonzero(
                quantisation_steps(X_train, max_stds=None, two_valued_cell=0.0,
                                   atom_cell=0.0))),
            "quantised_round35": int(np.count_nonzero(
                quantisation_steps(X_train, 2, max_stds=None, two_valued_cell=0.0,
                                   atom_cell=0.0)))}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", "--seed", nargs="*", type=int, default=[0])
    p.add_argument("--max-train", type=int, default=10_000)
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "adbench_columns.json")
    p.add_argument("--against", type=Path, default=None,
                   help="an earlier output of this script: list the splits whose cells differ")
    args = p.parse_args(argv)
    rows = []
    for path in list_datasets(DATA_ROOT):
        with np.load(path) as z:
            X, y = z["X"].astype(np.float64), z["y"].astype(int).ravel()
        for seed in args.seeds:
            entry = split_entry(path.stem, seed, split(X, y, seed, args.max_train, 1)[0])
            rows.append(entry)
            print(f"{entry['dataset']:28s} seed {seed} n {entry['n_train']:6d} d "
                  f"{entry['d']:5d} quantised {entry['quantised']:5d} (round 36: "
                  f"{entry['quantised_round36']:5d}, round 35: {entry['quantised_round35']:5d}) "
                  f"constant {entry['constant']:4d}", flush=True)
    what = "sets" if len(args.seeds) == 1 else "splits (set, seed)"

    def named(r: dict) -> str:
        return r["dataset"] if len(args.seeds) == 1 else f"{r['dataset']}:{r['seed']}"

    for key, rule in (("quantised", "now"), ("quantised_round36", "by round 36's rule"),
                      ("quantised_round35", "by round 35's rule")):
        touched = [r for r in rows if r[key]]
        print(f"{len(touched)} of {len(rows)} {what} have quantised columns {rule}; "
              f"{sum(r['n_train'] >= 1000 for r in touched)} of them >= 1,000 training rows")
    # each rule beside the one before it: what the later one changed
    for later, earlier, what_moved in (
            ("quantised_round36", "quantised_round35",
             "have two-valued columns (round 36 trains them as given)"),
            ("quantised_round51", "quantised_round36", "have cells wider than two standard "
             "deviations (round 37 trains them as given)"),
            ("quantised_round52", "quantised_round51",
             "have two-valued columns given half-gap cells (round 52)"),
            ("quantised", "quantised_round52", "have point masses given cells of a quarter of "
             "a standard deviation (round 54)")):
        moved = [named(r) for r in rows if r[later] != r[earlier]]
        print(f"{len(moved)} {what} {what_moved}: " + " ".join(moved))
    if args.against is not None:
        print(other_cells(rows, args.against, "dataset", "splits"))
    write_json(args.out, new_header("adbench_columns", seeds=args.seeds,
                                    max_train=args.max_train, command=command_line(),
                                    entries=rows))


if __name__ == "__main__":
    main()
