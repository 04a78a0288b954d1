"""Which columns of the density-fidelity suite's training rows lie on a lattice: per case and
seed, the count of quantised columns and the digest of the cells training receives
(`adbench_columns.cells_digest`), so that two runs on two versions of the rule show the fits
that can differ (`--against`; issue 15 round 38, benchmarks/density_fidelity.md).

    python benchmarks/density_columns.py --seeds 3 4 5 6 --out results/density_columns.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

from adbench_columns import cells_digest, other_cells
from common import RESULTS_DIR, command_line, new_header, write_json
from density_fidelity import draw_case

from mulde.estimator.columns import quantisation_steps

QUANTISED_CASES = ["quantised:8:4000", "quantised:8:200", "mixed_quantised:16:4000",
                   "quantised:32:1000"]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", nargs="*", default=QUANTISED_CASES, metavar="DIST:D:N")
    p.add_argument("--seeds", nargs="*", type=int, default=[3, 4, 5, 6])
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "density_columns.json")
    p.add_argument("--against", type=Path, default=None,
                   help="an earlier output of this script: list the fits whose cells differ")
    args = p.parse_args(argv)
    rows = []
    for case in args.cases:
        dist, d, n = case.split(":")
        for seed in args.seeds:
            x = draw_case(dist, int(d), int(n), seed).x
            steps = quantisation_steps(x)
            rows.append({"case": case, "seed": seed, "quantised": int((steps > 0).sum()),
                         "cells": cells_digest(x, steps)})
            print(f"{case:24s} seed {seed} quantised {rows[-1]['quantised']:3d} "
                  f"cells {rows[-1]['cells']}", flush=True)
    if args.against is not None:
        print(other_cells(rows, args.against, "case", "fits"))
    write_json(args.out, new_header("density_columns", seeds=args.seeds,
                                    command=command_line(), entries=rows))


if __name__ == "__main__":
    main()
