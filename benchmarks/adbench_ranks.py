"""Mean rank of every method on ADBench, from MULDE's rows of one results file beside the
peers' rows of another (issue 15's ADBench targets: MULDE first among the nine methods over
all sets, and ahead of KNN on the sets of >= 1,000 training rows).

Per data set each method's ROC-AUC is averaged over the seeds both files hold for it, the
methods are ranked by that mean (1 the best; ties share the mean of their ranks, as
`scipy.stats.rankdata` does), and the ranks are averaged over the data sets: over all of
them, and over those whose training half holds at least `--min-train` rows. A set where a
method has no row on one of those seeds (or an error) is left out, and named.

    python benchmarks/adbench_ranks.py results/adbench_mulde_stop84_all.json \\
        --peers results/adbench.json --min-train 1000 --out results/adbench_ranks_stop84.json
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np
from common import new_header, read_json, write_json
from scipy.stats import rankdata


def mean_ranks(mulde: list[dict], peers: list[dict], min_train: int) -> dict:
    """Mean ranks over all sets and over the sets of >= min_train training rows.

    mulde, peers: results entries (dicts with dataset, seed, method, auc and n_train; rows
    with an "error" are ignored); MULDE's rows are taken from `mulde` only, every other
    method's from `peers` only. Returns {"methods": [...], "all": {...}, "large": {...},
    "left_out": {dataset: why}}, each of "all" / "large" holding the set count, each method's
    mean rank and mean AUC, and the sets' names.
    """
    auc: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    n_train: dict[str, int] = {}
    for rows, mine in ((mulde, True), (peers, False)):
        for e in rows:
            if "error" in e or (e["method"] == "MULDE") != mine:
                continue
            auc[(e["dataset"], e["method"])][e["seed"]] = float(e["auc"])
            n_train.setdefault(e["dataset"], int(e["n_train"]))
    methods = ["MULDE", *sorted({m for _, m in auc} - {"MULDE"})]
    sets, left_out = [], {}
    for ds in sorted({d for d, _ in auc}):
        seeds = set(auc.get((ds, "MULDE"), {}))
        for m in methods:
            seeds &= set(auc.get((ds, m), {}))
        if not seeds:
            left_out[ds] = "no seed with a row of every method"
            continue
        sets.append((ds, sorted(seeds)))
    out: dict = {"methods": methods, "left_out": left_out}
    for part, chosen in (("all", sets), ("large", [s for s in sets
                                                   if n_train[s[0]] >= min_train])):
        means = np.array([[np.mean([auc[(ds, m)][s] for s in seeds]) for m in methods]
                          for ds, seeds in chosen]).reshape(len(chosen), len(methods))
        ranks = np.array([rankdata(-row) for row in means]).reshape(means.shape)
        out[part] = {"sets": [ds for ds, _ in chosen], "count": len(chosen),
                     "mean_rank": dict(zip(methods, ranks.mean(axis=0).round(4).tolist(),
                                           strict=True)) if len(chosen) else {},
                     "mean_auc": dict(zip(methods, means.mean(axis=0).round(4).tolist(),
                                          strict=True)) if len(chosen) else {}}
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("mulde", type=Path, help="results file holding MULDE's rows")
    p.add_argument("--peers", type=Path, required=True,
                   help="results file holding the other methods' rows")
    p.add_argument("--min-train", type=int, default=1000,
                   help="training rows from which a set counts as large (default 1000)")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    loaded = []
    for path in (args.mulde, args.peers):
        res = read_json(path)
        if res is None:
            raise SystemExit(f"{path}: no such results file")
        loaded.append(res["entries"])
    result = mean_ranks(*loaded, min_train=args.min_train)
    for part, title in (("all", "all sets"), ("large", f">= {args.min_train} training rows")):
        r = result[part]
        order = sorted(r["mean_rank"], key=r["mean_rank"].get)
        print(f"{title} ({r['count']}): " + ", ".join(
            f"{m} {r['mean_rank'][m]:.3f}" for m in order))
    for ds, why in result["left_out"].items():
        print(f"left out {ds}: {why}")
    if args.out:
        write_json(args.out, new_header("adbench_ranks", mulde=str(args.mulde),
                                        peers=str(args.peers), min_train=args.min_train,
                                        **result))


if __name__ == "__main__":
    main()
