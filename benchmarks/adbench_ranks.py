"""Mean rank of every method on ADBench, from MULDE's rows of one results file beside the
peers' rows of another (issue 15's ADBench targets: MULDE first among the nine methods over
all sets, and ahead of KNN on the sets of >= 1,000 training rows).

Per data set each method's ROC-AUC is averaged over the seeds on which every method has a
row without an error (a seed some method lacks there is left out of that set for all of
them, and named), the methods are ranked by that mean (1 the best; ties share the mean of
their ranks, as `scipy.stats.rankdata` does), and the ranks are averaged over the data sets:
over all of them, and over those whose training half holds at least `--min-train` rows
(`n_train`, which every row of a set must give alike). A set with no such seed (a method
without a row there, or with errors only) is left out, and named. The two files must have
been run with the same protocol (caps and split), where both record it.

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
    "left_out": {dataset: why}, "seeds_left_out": {dataset: [seed, ...]}}, each of "all" /
    "large" holding the set count, each method's mean rank and mean AUC, and the sets' names.
    Raises ValueError where `mulde` holds no MULDE row, `peers` no other method's, or a set's
    rows give different n_train (splits of another protocol).
    """
    auc: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    n_train: dict[str, int] = {}
    for rows, mine in ((mulde, True), (peers, False)):
        for e in rows:
            if "error" in e or (e["method"] == "MULDE") != mine:
                continue
            auc[(e["dataset"], e["method"])][e["seed"]] = float(e["auc"])
            rows_n = n_train.setdefault(e["dataset"], int(e["n_train"]))
            if rows_n != int(e["n_train"]):
                raise ValueError(f"data set {e['dataset']!r}: n_train {rows_n} in one row, "
                                 f"{int(e['n_train'])} in {e['method']}'s of seed {e['seed']}"
                                 ": rows of other splits cannot be ranked together")
    if not any(m == "MULDE" for _, m in auc):
        raise ValueError("the MULDE results hold no MULDE row without an error")
    methods = ["MULDE", *sorted({m for _, m in auc} - {"MULDE"})]
    if len(methods) == 1:
        raise ValueError("the peers' results hold no row of another method without an error")
    sets, left_out, seeds_left_out = [], {}, {}
    for ds in sorted({d for d, _ in auc}):
        held = [set(auc.get((ds, m), {})) for m in methods]
        seeds = set.intersection(*held)
        if not seeds:
            left_out[ds] = "no seed with a row of every method"
            continue
        if set.union(*held) - seeds:
            seeds_left_out[ds] = sorted(set.union(*held) - seeds)
        sets.append((ds, sorted(seeds)))
    out: dict = {"methods": methods, "left_out": left_out, "seeds_left_out": seeds_left_out}
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


def _results(path: Path) -> dict:
    """The results file `path` (adbench_accuracy.py's JSON), its entries checked for the
    fields ranking reads; SystemExit with one line naming the file (and row) otherwise."""
    try:
        res = read_json(path)
    except ValueError as err:
        raise SystemExit(str(err)) from None
    if res is None:
        raise SystemExit(f"{path}: no such results file")
    if not isinstance(res, dict) or not isinstance(res.get("entries"), list):
        raise SystemExit(f"{path}: not an ADBench results file (no list of 'entries'); give "
                         "one that adbench_accuracy.py or adbench_merge.py wrote")
    for i, e in enumerate(res["entries"]):
        if not isinstance(e, dict):
            raise SystemExit(f"{path}: entry {i} is not a JSON object")
        needed = ("dataset", "seed", "method") + (() if "error" in e else ("auc", "n_train"))
        missing = [f for f in needed if f not in e]
        if missing:
            raise SystemExit(f"{path}: entry {i} has no {missing[0]!r} field")
    return res


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("mulde", type=Path, help="results file holding MULDE's rows")
    p.add_argument("--peers", type=Path, required=True,
                   help="results file holding the other methods' rows")
    p.add_argument("--min-train", type=int, default=1000,
                   help="training rows from which a set counts as large (default 1000)")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    loaded = [_results(path) for path in (args.mulde, args.peers)]
    protocols = [res.get("protocol") for res in loaded]
    if None not in protocols and protocols[0] != protocols[1]:
        raise SystemExit(f"{args.mulde}: run with protocol {protocols[0]}, {args.peers} with "
                         f"{protocols[1]}: their AUCs are of other splits; rank rows of one")
    try:
        result = mean_ranks(loaded[0]["entries"], loaded[1]["entries"],
                            min_train=args.min_train)
    except ValueError as err:
        raise SystemExit(f"{args.mulde}, {args.peers}: {err}") from None
    for part, title in (("all", "all sets"), ("large", f">= {args.min_train} training rows")):
        r = result[part]
        order = sorted(r["mean_rank"], key=r["mean_rank"].get)
        print(f"{title} ({r['count']}): " + ", ".join(
            f"{m} {r['mean_rank'][m]:.3f}" for m in order))
    for ds, why in result["left_out"].items():
        print(f"left out {ds}: {why}")
    for ds, seeds in result["seeds_left_out"].items():
        print(f"{ds}: seeds {seeds} left out (not every method has a row of them)")
    if args.out:
        write_json(args.out, new_header("adbench_ranks", mulde=str(args.mulde),
                                        peers=str(args.peers), min_train=args.min_train,
                                        **result))


if __name__ == "__main__":
    main()
