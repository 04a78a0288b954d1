"""Apply a density-fidelity round's decision rule (benchmarks/density_fidelity.md, rounds 3-4)
to the results of benchmarks/density_fidelity.py (one file, or one per seed: their cases are
pooled); print the winner and write the decision.

A challenger replaces the incumbent only if its merit exceeds the incumbent's by more than
--margin with a calibration no worse than the incumbent's + --cal-slack, or its merit is no
more than --margin below the incumbent's with a calibration better by more than --cal-gain.
Among those that pass, the best merit wins; those within --margin of it count as tied and the
tie goes to the best calibration. Merit: the mean over the cases of (rho_fresh + rho_broad) / 2
of the --aggregate; calibration: the mean of |far - 0.01|. Every variant must have run on
the same cases (a case one of them lacks is reported, never compared).

    python benchmarks/density_decide.py results/density_fidelity_round4.json \\
        --incumbent steps2000_sigma2 --challengers ens4_w128 cosine ens4_w128_cosine

With --fewer-steps F (round 48), where no challenger passes the clauses above, one passes if its
merit is no more than --margin below the incumbent's, its calibration no worse than the
incumbent's + --cal-slack, and its training steps, summed over the fits, at most (1 - F) times
the incumbent's (the same result in less training: steps are the fit time's machine-free
count); among such challengers the fewest steps win.

A name VARIANT@AGGREGATE scores that variant with another aggregate than --aggregate (round
9: the same network under two aggregates).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from common import write_json


def scores(res: dict, variant: str, aggregate: str) -> tuple[float, float, int]:
    """(merit, calibration, cases) of one MULDE variant over the cases that ran it."""
    runs = [c["mulde"][variant]["aggregates"] for c in res["cases"] if variant in c["mulde"]]
    if runs and any(aggregate not in a for a in runs):
        raise SystemExit(f"{variant}: no {aggregate!r} aggregate in the results; they have "
                         f"{', '.join(sorted(runs[0]))}")
    ms = [a[aggregate] for a in runs]
    if not ms or any("error" in m for m in ms):
        raise SystemExit(f"{variant}: no results for the {aggregate} aggregate, or errors")
    return (float(np.mean([(m["rho_fresh"] + m["rho_broad"]) / 2 for m in ms])),
            float(np.mean([abs(m["far"] - 0.01) for m in ms])), len(ms))


def training_steps(res: dict, variant: str) -> int | None:
    """The training steps of one MULDE variant summed over the cases that ran it; None where
    a case has no record of them (the results of rounds before 10)."""
    runs = [c["mulde"][variant] for c in res["cases"] if variant in c["mulde"]]
    if any("training" not in r for r in runs):
        return None
    return int(sum(r["training"]["steps"] for r in runs))


def per_case_table(res: dict, names: list[str], aggregate: str) -> list[str]:
    """Markdown rows, one per case (distribution, d, n): each named MULDE variant's and each
    peer's rho_fresh / rho_broad / far, means over the seeds that ran it, and a variant's
    training steps summed over them; the header first. A name VARIANT@AGGREGATE reads that
    aggregate. Cases ordered as first met in the results."""
    peers = list(dict.fromkeys(p for c in res["cases"] for p in (c.get("peers") or {})))
    cells: dict[tuple, dict[str, list]] = {}
    for c in res["cases"]:
        row = cells.setdefault((c["dist"], c["d"], c["n"]), {})
        for name in names:
            variant, _, agg = name.partition("@")
            if variant in c["mulde"]:
                m = c["mulde"][variant]
                a = m["aggregates"][agg or aggregate]
                row.setdefault(name, []).append((a["rho_fresh"], a["rho_broad"], a["far"],
                                                 m.get("training", {}).get("steps")))
        for peer, r in (c.get("peers") or {}).items():
            if "rho_fresh" in r:
                row.setdefault(peer, []).append((r["rho_fresh"], r["rho_broad"], r["far"],
                                                 None))
    columns = [*names, *peers]
    lines = ["| case | " + " | ".join(columns) + " |",
             "| --- |" + " --- |" * len(columns)]
    for (dist, d, n), row in cells.items():
        shown = []
        for name in columns:
            runs = row.get(name)
            if not runs:
                shown.append("-")
                continue
            fresh, broad, far = (float(np.mean([r[i] for r in runs])) for i in range(3))
            steps = [r[3] for r in runs]
            shown.append(f"{fresh:.3f} / {broad:.3f} / {far:.3f}" + (
                "" if None in steps else f"; {sum(steps):,}"))
        lines.append(f"| `{dist}` d {d} n {n:,} | " + " | ".join(shown) + " |")
    return lines


def decide(table: dict[str, tuple[float, float, int]], incumbent: str, challengers: list[str],
           margin: float, cal_slack: float, cal_gain: float,
           steps: dict[str, int] | None = None, fewer_steps: float | None = None
           ) -> tuple[str, list[str]]:
    """Return (winner, the challengers that passed) under the rule of the module docstring
    (`steps`: each variant's summed training steps, needed with `fewer_steps`)."""
    merit0, cal0, _ = table[incumbent]
    passed = [c for c in challengers
              if (table[c][0] > merit0 + margin and table[c][1] <= cal0 + cal_slack)
              or (table[c][0] >= merit0 - margin and table[c][1] < cal0 - cal_gain)]
    if not passed and fewer_steps is not None and steps is not None:
        faster = [c for c in challengers
                  if table[c][0] >= merit0 - margin and table[c][1] <= cal0 + cal_slack
                  and steps[c] <= (1 - fewer_steps) * steps[incumbent]]
        if faster:
            return min(faster, key=lambda c: steps[c]), faster
    if not passed:
        return incumbent, []
    best = max(table[c][0] for c in passed)
    tied = [c for c in passed if table[c][0] >= best - margin]
    return min(tied, key=lambda c: table[c][1]), passed


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("results", type=Path, nargs="+")
    p.add_argument("--incumbent", required=True)
    p.add_argument("--challengers", nargs="+", required=True)
    p.add_argument("--aggregate", default="mean_energy")
    p.add_argument("--margin", type=float, default=0.003)
    p.add_argument("--cal-slack", type=float, default=0.002)
    p.add_argument("--cal-gain", type=float, default=0.005)
    p.add_argument("--fewer-steps", type=float, default=None,
                   help="round 48's clause: pass a challenger no worse within the margins "
                        "whose summed training steps are at most (1 - F) x the incumbent's")
    p.add_argument("--out", type=Path, default=None, help="write the decision as JSON")
    p.add_argument("--per-case", action="store_true",
                   help="also print a markdown table of each case's means over the seeds "
                        "(rho_fresh / rho_broad / far; steps), the variants' and the peers'")
    args = p.parse_args(argv)
    if args.fewer_steps is not None and not 0 < args.fewer_steps < 1:
        p.error(f"--fewer-steps must be in (0, 1), got {args.fewer_steps}")
    res = {"cases": [c for f in args.results for c in json.loads(f.read_text())["cases"]]}
    names = [args.incumbent, *args.challengers]
    def split(name: str) -> tuple[str, str]:
        variant, _, aggregate = name.partition("@")
        return variant, aggregate or args.aggregate

    table = {v: scores(res, *split(v)) for v in names}
    ran = {v: {(c["dist"], c["d"], c["n"], c["seed"]) for c in res["cases"]
               if split(v)[0] in c["mulde"]} for v in names}
    if any(ran[v] != ran[args.incumbent] for v in names):
        missing = {v: sorted(ran[args.incumbent] ^ ran[v]) for v in names
                   if ran[v] != ran[args.incumbent]}
        raise SystemExit(f"the variants ran on different cases (differences from "
                         f"{args.incumbent}'s): {missing}")
    steps = {v: training_steps(res, split(v)[0]) for v in names}
    if args.fewer_steps is not None and None in steps.values():
        raise SystemExit("--fewer-steps needs the training steps, which the results of "
                         f"{', '.join(v for v in names if steps[v] is None)} do not record")
    winner, passed = decide(table, args.incumbent, args.challengers, args.margin,
                            args.cal_slack, args.cal_gain, steps, args.fewer_steps)
    for v in names:
        print(f"{v:20s} merit {table[v][0]:.4f} calibration {table[v][1]:.4f} "
              f"cases {table[v][2]}" + ("" if steps[v] is None else f" steps {steps[v]}"))
    print(f"passed: {passed or 'none'}; winner: {winner}")
    if args.per_case:
        print("\n".join(per_case_table(res, names, args.aggregate)))
    if args.out:
        files = [str(f) for f in args.results]
        write_json(args.out, {"results": files[0] if len(files) == 1 else files,
                              "rule": vars(args) | {"results": files, "out": str(args.out)},
            "table": {v: {"merit": t[0], "calibration": t[1], "cases": t[2],
                          "steps": steps[v]} for v, t in table.items()},
            "passed": passed, "winner": winner})


if __name__ == "__main__":
    main()
