"""Render docs/benchmarks.md from the JSON results in benchmarks/results/.

    python benchmarks/render_docs.py [--accuracy results/adbench.json] [--speed results/speed.json]
"""

from __future__ import annotations

import argparse
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
from common import RESULTS_DIR, read_json

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
ANALYSIS = Path(__file__).resolve().parent / "analysis.md"
METHOD_ORDER = ("MULDE", "KNN", "LOF", "IForest", "OCSVM", "ECOD", "KDE", "DeepSVDD", "GMM")


def table(header: list[str], rows: list[list[object]]) -> str:
    """Return a Markdown table."""
    def cell(v: object) -> str:
        if isinstance(v, float):
            if math.isnan(v):
                return "-"
            return f"{v:.3g}" if abs(v) >= 1000 or abs(v) < 0.01 else f"{v:.3f}"
        return "-" if v is None else str(v)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def commands(res: dict, nice: int = 10) -> str:
    return "Produced by (in order, resumed runs append):\n\n```\n" + "\n".join(
        f"OMP_NUM_THREADS=1 nice -n {nice} {c}" for c in res["commands"]) + "\n```\n"


def machine(res: dict) -> str:
    m, v = res["machine"], res["versions"]
    vers = ", ".join(f"{k} {x}" for k, x in v.items() if x)
    return (f"Machine: {m['cpu']} ({m['cpu_count']} cores shared with other jobs, torch threads "
            f"{m['torch_threads']}, load average at start {m['loadavg_at_start']}); {vers}.\n")


def accuracy_section(res: dict) -> str:
    entries = [e for e in res["entries"] if "error" not in e]
    errors = [e for e in res["entries"] if "error" in e]
    found = list(dict.fromkeys(e["method"] for e in res["entries"]))
    methods = sorted(found, key=lambda m: METHOD_ORDER.index(m) if m in METHOD_ORDER
                     else len(METHOD_ORDER) + found.index(m))
    seeds = sorted({e["seed"] for e in res["entries"]})
    by = defaultdict(dict)  # (dataset) -> {(method, seed): entry}
    for e in entries:
        by[e["dataset"]][(e["method"], e["seed"])] = e
    complete = sorted(ds for ds, d in by.items()
                      if all((m, s) in d for m in methods for s in seeds))
    auc = np.array([[np.mean([by[ds][(m, s)]["auc"] for s in seeds]) for m in methods]
                    for ds in complete])
    ap = np.array([[np.mean([by[ds][(m, s)]["ap"] for s in seeds]) for m in methods]
                   for ds in complete])
    out = ["## Accuracy on ADBench (one-class protocol)\n", machine(res), commands(res)]
    out += [f"Note: {n}\n" for n in res.get("notes", [])]
    out.append(
        f"Protocol: for each seed in {seeds}, the normal rows are split 50/50 (NumPy "
        "`default_rng(seed)` permutation); methods train on one half and are tested on the other "
        "half plus all anomalies; features are standardised with the training half's mean and "
        "standard deviation. Size caps (label-free, identical for every method): the training "
        f"half is subsampled with the seed to at most {res['protocol']['max_train']:,} rows; a "
        f"test set above {res['protocol']['max_test']:,} rows is subsampled to that size, "
        "stratified by label (the anomaly ratio is kept). Peers use PyOD defaults (KNN k=5 "
        "'largest', LOF k=20, IForest 100 trees, OCSVM rbf nu=0.5, ECOD, KDE bandwidth 1, "
        "DeepSVDD 100 epochs); GMM is scikit-learn `GaussianMixture()` (1 full-covariance "
        "component), score = -log-likelihood; MULDE is `MULDE.from_preset('default')` with "
        "`random_state=seed`. No per-data-set tuning. Rank: per data set, methods are ranked by "
        "their seed-mean ROC-AUC (1 = best, ties averaged), then ranks are averaged over data "
        "sets. Wins: data sets where the method has the best seed-mean AUC. Times are wall "
        "seconds per fit / per scoring of the test set, averaged over all entries, on one "
        "thread of a shared, loaded machine.\n")
    if not complete:
        return "\n".join(out) + "\nNo data set has all methods and seeds yet.\n"
    from scipy.stats import rankdata

    ranks = np.array([rankdata(-row) for row in auc])
    wins = np.zeros(len(methods))
    for row in auc:
        best = np.flatnonzero(row == row.max())
        wins[best] += 1 / len(best)
    times = {m: [(e["fit_s"], e["score_s"]) for ds in complete for (mm, _), e in by[ds].items()
                 if mm == m] for m in methods}
    rows = [[m, float(auc[:, j].mean()), float(ap[:, j].mean()), float(ranks[:, j].mean()),
             f"{wins[j]:.1f}".removesuffix(".0"), float(np.mean([t[0] for t in times[m]])),
             float(np.mean([t[1] for t in times[m]]))] for j, m in enumerate(methods)]
    rows.sort(key=lambda r: r[3])
    out.append(f"Data sets with every method and every seed done: {len(complete)} of 58. "
               "Means, ranks, wins and times in all tables below are over these data sets "
               "only, so every method is compared on the same sets; a data set where some "
               "method or seed is missing (a run still in progress, or an error) is left out "
               f"of every table and listed at the end. Seeds: {seeds}.\n")
    out.append(table(["method", "mean AUC", "mean AP", "mean rank", "wins", "fit s",
                      "score s"], rows) + "\n")
    groups = {e["dataset"]: e["group"] for e in entries}
    n_train = {ds: by[ds][(methods[0], seeds[0])]["n_train"] for ds in complete}
    subsets = [(f"Only {g}", [i for i, ds in enumerate(complete) if groups[ds] == g])
               for g in ("Classical", "CV_by_ResNet18")]
    subsets += [("Only data sets with >= 1000 training rows",
                 [i for i, ds in enumerate(complete) if n_train[ds] >= 1000]),
                ("Only data sets with < 1000 training rows",
                 [i for i, ds in enumerate(complete) if n_train[ds] < 1000])]
    for label, idx in subsets:
        if not idx or len(idx) == len(complete):
            continue
        sub = [[m, float(auc[idx, j].mean()), float(ranks[idx, j].mean()),
                f"{np.sum([auc[i, j] == auc[i].max() for i in idx]):g}"]
               for j, m in enumerate(methods)]
        sub.sort(key=lambda r: r[2])
        out.append(f"\n{label} ({len(idx)} data sets; ranks among all {len(methods)} "
                   "methods):\n\n" + table(["method", "mean AUC", "mean rank", "best on"], sub)
                   + "\n")
    j_m = methods.index("MULDE") if "MULDE" in methods else None
    head = ["data set", "n_train", "d", *methods]
    per = []
    for i, ds in enumerate(complete):
        e0 = by[ds][(methods[0], seeds[0])]
        cells = []
        for j in range(len(methods)):
            v = f"{auc[i, j]:.3f}"
            cells.append(f"**{v}**" if auc[i, j] == auc[i].max() else v)
        per.append([ds, e0["n_train"], e0["n_features"], *cells])
    out.append("\n### Seed-mean ROC-AUC per data set (best in bold)\n\n" + table(head, per))
    if j_m is not None:
        lose = []
        for i, ds in enumerate(complete):
            r = ranks[i, j_m]
            if r > 3:
                jb = int(np.argmax(auc[i]))
                lose.append([ds, f"{r:g}", f"{auc[i, j_m]:.3f}", methods[jb],
                             f"{auc[i, jb]:.3f}", by[ds][(methods[0], seeds[0])]["n_train"],
                             by[ds][(methods[0], seeds[0])]["n_features"]])
        out.append("\n### Where MULDE ranks below 3rd\n\n" + table(
            ["data set", "MULDE rank", "MULDE AUC", "best", "best AUC", "n_train", "d"], lose))
    missing = sorted(set(by) - set(complete))
    out.append(f"\nPartially done (excluded from the tables): {', '.join(missing) or 'none'}.\n")
    if errors:
        out.append("Errors: " + "; ".join(f"{e['dataset']}/{e['seed']}/{e['method']}: "
                                          f"{e['error']}" for e in errors) + "\n")
    return "\n".join(out)


def crossover(rows: list[dict], method: str, d: int, target: float) -> str:
    """Return the N_train where the kNN method's throughput meets target (log-log)."""
    pts = sorted((r["n_train"], r["samples_per_s"]) for r in rows
                 if r["method"] == method and r["d"] == d)
    if not pts:
        return "-"
    if pts[0][1] <= target:
        return f"< {pts[0][0]:.0e}"
    for (n0, s0), (n1, s1) in zip(pts, pts[1:], strict=False):
        if s1 <= target:
            t = (math.log(s0) - math.log(target)) / (math.log(s0) - math.log(s1))
            return f"~{math.exp(math.log(n0) + t * (math.log(n1) - math.log(n0))):.1e}"
    n, s = pts[-1]  # beyond the grid: throughput ~ 1/N for an exact scan
    return f"~{n * s / target:.1e} (extrapolated as 1/N)"


def part_machines(res: dict) -> str:
    """One line per part measured on a machine of its own (`speed.py --update` records it in
    `part_machines`): "" when none is recorded."""
    lines = [f"- `{part}`: {m['cpu']}" + (
        f", load average at start {[round(x, 2) for x in m['loadavg_at_start']]}"
        if m.get("loadavg_at_start") else " (load average not recorded)")
        for part, m in res.get("part_machines", {}).items()]
    return ("Parts re-measured since, each on its own machine:\n\n" + "\n".join(lines) + "\n"
            if lines else "")


def speed_section(res: dict) -> str:
    out = ["## Speed and scale\n", machine(res), part_machines(res), commands(res)]
    peak = None
    if "calib" in res:
        c = res["calib"]
        peak = c["peak_gflops"]
        out.append("### The machine's limit: torch fp32 matmul, one thread\n\n" + table(
            ["product (m x k x n)", "GFLOP/s"], [[k, v] for k, v in c["gflops"].items()])
            + f"\n\nBest: {peak:.1f} GFLOP/s. These are single-thread numbers on a shared, "
            "loaded machine and vary between runs; the efficiency table below therefore uses "
            "matmuls of the same shapes timed alternately with MULDE, not this table.\n")
    if "mulde" in res and "knn" in res:
        sc = res["knn"]
        knn, mul = sc["rows"], res["mulde"]["rows"]
        rows = mul + knn
        ns = sorted({r["n_train"] for r in knn})
        ds = sorted({r["d"] for r in rows})
        out.append("### Scoring throughput (samples/s; MULDE does not depend on N_train)\n")
        out.append(f"Exact {sc['k']}-NN query (the kNN detector's scoring cost) vs MULDE's "
                   "`anomaly_score` (16 levels and the preset's aggregate: `mean_energy` for the "
                   "default, the GMM for `paper`; the networks the preset builds on 20,000 rows of "
                   "these features, whose scoring cost does not depend on their weights: for "
                   "the default one network of three layers of 256 at d 34 (issue 15's round "
                   "41's; since round 43 the default builds two of 160 there, not re-timed), "
                   "eight of two layers at d 512 and 1,152, fewer than 50 rows per direction, "
                   "since round 33; the efficiency table gives them). Random Gaussian "
                   "data, fp32; each number is the fastest of repeated timed batches.\n")
        head = ["method", *[f"d={d} N={n:.0e}" for d in ds for n in ns]]
        body = []
        for m in dict.fromkeys(r["method"] for r in rows):
            cells = []
            for d in ds:
                for n in ns:
                    hit = [r for r in rows if r["method"] == m and r["d"] == d
                           and (r["n_train"] in (n, None))]
                    cells.append(hit[0]["samples_per_s"] if hit else None)
            body.append([m, *cells])
        out.append(table(head, body) + "\n")
        out.append("Training / index-build time (s): kNN `fit` (brute: stores the data; "
                   "kd-tree: builds the tree; faiss: `add`); MULDE: see the training table "
                   "(default preset: at most 2,000 steps; its networks, and so a step's cost, "
                   "change with the rows per feature).\n")
        head = ["method", *[f"d={d} N={n:.0e}" for d in ds for n in ns]]
        body = []
        for m in dict.fromkeys(r["method"] for r in knn):
            body.append([m, *[next((r["fit_s"] for r in knn if r["method"] == m and r["d"] == d
                                    and r["n_train"] == n), None) for d in ds for n in ns]])
        out.append(table(head, body) + "\n")
        if sc["skipped"]:
            out.append("Skipped cells: " + "; ".join(
                f"{s['method']} N={s['n_train']:.0e} d={s['d']}: {s['why']}"
                for s in sc["skipped"]) + ".\n")
        out.append("### Crossover: N_train above which MULDE scores faster than exact kNN\n")
        out.append("Log-log interpolation between the measured N_train; '< 1e+04': MULDE is "
                   "already faster at the smallest N_train measured.\n")
        body = []
        for pre in dict.fromkeys(r["method"] for r in mul):
            for d in ds:
                tgt = next((r["samples_per_s"] for r in mul if r["method"] == pre
                            and r["d"] == d), None)
                if tgt is None:
                    continue
                body.append([pre, d, tgt, *[crossover(knn, m, d, tgt)
                                            for m in dict.fromkeys(r["method"] for r in knn)]])
        out.append(table(["MULDE", "d", "MULDE samples/s",
                          *dict.fromkeys(r["method"] for r in knn)], body) + "\n")
        out.append("### Efficiency: achieved fraction of the matmul limit\n")
        out.append(
            "FLOPs per scored sample of `EnergyMLP.energy_multiscale`, times the networks M "
            "of an ensemble (2 FLOPs per multiply-add;"
            " H1 ... HK hidden widths, L levels):\n\n"
            "    F = (2 d H1 + H1)                       shared first layer W_x x + b, once\n"
            "      + L * (2 H1                           + sigma_l * w_sigma\n"
            "             + sum_k (2 Hk Hk+1 + Hk+1)     further hidden layers\n"
            "             + 2 HK + 1)                    output layer\n\n"
            "GELU and the aggregate of the (n, L) energies are not counted. 'full' = the "
            "public `anomaly_score` (standardise, network, aggregate); 'network' = "
            "`multiscale_energy` "
            "alone. 'limit' = the FLOP/s of torch matmuls of one network's first two product "
            "shapes (a third layer's has the second's; an ensemble repeats them), timed "
            "alternately with the MULDE calls in the same loop (the machine is shared, so "
            "its speed varies over time; alternating keeps the ratio fair).\n")
        body = [[r["method"], r["d"], " x ".join(map(str, r.get("hidden_sizes", []))) or "-",
                 r.get("n_members", 1), r["flops_per_sample"] / 1e6, r["samples_per_s"],
                 r["achieved_gflops"], r["network_gflops"], r["same_shape_matmul_gflops"],
                 r["fraction_of_limit"], r["network_fraction_of_limit"]] for r in mul]
        out.append(table(["preset", "d", "widths", "networks M", "MFLOP/sample", "samples/s",
                          "GFLOP/s full",
                          "GFLOP/s network", "GFLOP/s limit", "fraction full",
                          "fraction network"], body) + "\n")
    if "training" in res:
        body = []
        for r in res["training"]:
            if r["preset"] == "default":
                cap = r.get("max_steps", 1000)  # rows before max_steps was recorded: 1,000
                total = ("set by n_epochs (no step cap)" if cap is None
                         else f"<= {cap / r['steps_per_s']:.0f} s (<= {cap} steps)")
            else:
                total = (f"{1000 * math.ceil(1e4 / r['batch_size']) / r['steps_per_s'] / 3600:.1f}"
                         " h at N=1e4 (1000 epochs)")
            body.append([r["preset"], r["d"], r["batch_size"], r["steps_timed"],
                         r["steps_per_s"], r["samples_per_s"], total])
        out.append("### Training throughput\n\n" + table(
            ["preset", "d", "batch", "steps timed", "steps/s", "samples/s",
             "time for the preset"], body) + "\n")
    if "fit" in res:
        out.append("### Whole fit: the default of issue 15 against the ones before\n")
        out.append("Wall seconds of `MULDE.from_preset('default').fit` on standard normal "
                   "rows (as many as the `rows` column says; training, scoring the training "
                   "rows, fitting the aggregate), fastest of the rounds, the settings "
                   "alternating; the previous default (before issue "
                   "15) is the preset with `aggregator='gmm', beta=0.1, "
                   "regulariser='constant'` and the fixed noise range [1e-3, 1] at 1,000 "
                   "steps, the round-1 default the "
                   "preset with `beta=0.1`, that noise range and 1,000 steps, both with linear "
                   "levels, no time-score term and lr 1e-3 (issue 15's limit: at most 2x). "
                   "Early stopping ends a fit before its step cap when the held-out loss stops "
                   "falling, so the seconds also depend on how soon each setting stops.\n")
        out.append(table(["d", "rows", "rounds", "default s", "previous default s", "ratio",
                          "round-1 default s", "ratio to round 1"],
                         [[r["d"], r["n_rows"], r["rounds"], r["default_fit_s"],
                           r["previous_default_fit_s"], r["ratio"],
                           r.get("round1_default_fit_s", "-"), r.get("ratio_round1", "-")]
                          for r in res["fit"]]) + "\n")
    if "ablation" in res:
        ab = res["ablation"]
        out.append("### Optimisations, before/after in the same run\n")
        out.append("First-layer sharing: `net.energy_multiscale(x, sigmas)` (after) vs "
                   "`stack([net(x, sigma_l) for l])` (before); identical outputs (max |diff| "
                   "shown).\n")
        out.append(table(["preset", "d", "n", "loop s", "shared s", "speed-up", "max |diff|"],
                         [[r["preset"], r["d"], r["n"], r["loop_s"], r["shared_s"],
                           r["speedup"], r["max_abs_diff"]] for r in ab["sharing"]]) + "\n")
        if ab.get("scoring_batch_size"):
            out.append("Scoring chunk size (`multiscale_energy(..., batch_size=b)`, samples/s; "
                       "the library default was 8192 when this was measured and is 512 "
                       "since):\n")
            for r in ab["scoring_batch_size"]:
                out.append(table(["preset", "d", *[f"b={b}" for b in r["samples_per_s"]]],
                                 [[r["preset"], r["d"], *r["samples_per_s"].values()]]) + "\n")
        out.append("DSM loss: one forward pass over [noisy; clean] (the library's loss when "
                   "this was measured) vs two passes (noisy with the input gradient, clean "
                   "without; the library's loss since); time per training step "
                   "(forward + backward), default width, batch 1024:\n")
        out.append(table(["d", "one pass s", "two passes s",
                          "two/one (< 1: two passes faster)", "loss |diff|"],
                         [[r["d"], r["one_pass_s"], r["two_pass_s"], r["speedup"],
                           r["loss_abs_diff"]] for r in ab["dsm_loss_passes"]]) + "\n")
    return "\n".join(out)


def overfit_section(res: dict) -> str:
    """Render the label-free memorisation diagnostic (benchmarks/mulde_overfit.py)."""
    names = list(res["entries"][0]["aggregators"]) if res["entries"] else []
    rows = [[e["dataset"], e["seed"], e["n_fit"], e["best_step"],
             *[e["aggregators"][n]["held_above_fit_p99"] for n in names]]
            for e in sorted(res["entries"], key=lambda e: e["n_fit"])]
    return ("### Label-free diagnostic: does MULDE memorise small training sets?\n\n"
            + commands(res) + "\nThe normal training half is split again into fit rows and "
            "held-out normal rows (no test rows, no labels). Shown: the fraction of held-out "
            "normal rows scoring above the fit rows' 99th percentile (about 0.01 for a model "
            "that generalises), for the default GMM aggregator and for other aggregators of "
            "the same network energies; best_step is the step early stopping kept.\n\n"
            + table(["data set", "seed", "n_fit", "best_step", *names], rows) + "\n")


def adbench_new_default_section(old: dict, new: dict) -> str:
    """The comparison below on seed 0 alone (every data set it has finished), then on every
    seed the new run has (the data sets finished with all of them)."""
    seeds = sorted({e["seed"] for e in new["entries"]})
    parts = [adbench_new_default_table(old, new, [0], True)]
    if len(seeds) > 1:
        parts.append(adbench_new_default_table(old, new, seeds, False))
    return "\n".join(p for p in parts if p)


def adbench_new_default_table(old: dict, new: dict, seeds: list[int], head: bool) -> str:
    """MULDE's new default (issue 15; `new`, MULDE rows only) against the previous default's
    rows and the peers' rows of `old` (benchmarks/results/adbench.json), on the (data set,
    seed) pairs the new run has finished: mean AUC, mean rank among the nine methods (seed-mean
    AUC per data set, ties averaged), and data sets above KNN."""
    from scipy.stats import rankdata

    olds = defaultdict(dict)
    for e in old["entries"]:
        if "error" not in e:
            olds[(e["dataset"], e["seed"])][e["method"]] = e
    news = {(e["dataset"], e["seed"]): e for e in new["entries"]
            if e["method"] == "MULDE" and "error" not in e}
    methods = [m for m in METHOD_ORDER if m != "MULDE"]
    pairs = [k for k in news if k[1] in seeds and "MULDE" in olds[k]
             and all(m in olds[k] for m in methods)]
    datasets = sorted({ds for ds, _ in pairs})
    rows, per = [], []
    for ds in datasets:
        ss = [s for s in seeds if (ds, s) in pairs]
        if len(ss) != len(seeds):
            continue
        mean = {m: np.mean([olds[(ds, s)][m]["auc"] for s in ss]) for m in methods}
        mean["MULDE old"] = np.mean([olds[(ds, s)]["MULDE"]["auc"] for s in ss])
        mean["MULDE new"] = np.mean([news[(ds, s)]["auc"] for s in ss])
        n_train = olds[(ds, ss[0])]["MULDE"]["n_train"]
        rank_old = rankdata([-mean[m] for m in ["MULDE old", *methods]])
        rank_new = rankdata([-mean[m] for m in ["MULDE new", *methods]])
        per.append((ds, n_train, mean, rank_old, rank_new))
    if not per:
        return ""
    names = ["MULDE old", *methods]
    for label, keep in (("all", lambda n: True), ("n_train >= 1,000", lambda n: n >= 1000)):
        sel = [p for p in per if keep(p[1])]
        if not sel:
            continue
        old_ranks = np.mean([p[3] for p in sel], axis=0)
        new_ranks = np.mean([p[4] for p in sel], axis=0)
        rows.append([label, len(sel), np.mean([p[2]["MULDE old"] for p in sel]),
                     np.mean([p[2]["MULDE new"] for p in sel]),
                     np.mean([p[2]["KNN"] for p in sel]), old_ranks[0], new_ranks[0],
                     f"{int(np.argsort(np.argsort(old_ranks))[0]) + 1} of 9",
                     f"{int(np.argsort(np.argsort(new_ranks))[0]) + 1} of 9",
                     sum(p[2]["MULDE old"] > p[2]["KNN"] for p in sel),
                     sum(p[2]["MULDE new"] > p[2]["KNN"] for p in sel)])
        if label == "all":
            ranks_new_all = dict(zip(names[1:], new_ranks[1:], strict=True))
    out = ["### MULDE's new default (issue 15) against the previous one\n", machine(new),
           commands(new, nice=19)] if head else [f"#### Seeds {seeds}\n"]
    out += [f"The new default (regulariser sigma2, aggregate mean_energy; chosen on the "
           f"density-fidelity suite, never on these labels) on the seeds {seeds} it has "
           f"finished ({len(per)} data sets with all of them), next to the previous default's "
           "rows and the peers' rows of the run above (same splits). Rank: among MULDE (old or "
           "new) and the eight peers, by seed-mean AUC per data set, averaged.\n",
           table(["data sets", "count", "MULDE old AUC", "MULDE new AUC", "KNN AUC",
                  "MULDE old mean rank", "MULDE new mean rank", "old place", "new place",
                  "old > KNN", "new > KNN"], rows),
           "\nPeers' mean ranks next to the new MULDE (all data sets above): "
           + ", ".join(f"{m} {r:.2f}" for m, r in sorted(ranks_new_all.items(),
                                                         key=lambda kv: kv[1])) + ".\n",
           table(["data set", "n_train", "MULDE old", "MULDE new", "KNN", "best peer"],
                 [[ds, n, m["MULDE old"], m["MULDE new"], m["KNN"],
                   max(methods, key=lambda k: m[k])] for ds, n, m, _, _ in per]) + "\n"]
    return "\n".join(out)


def adbench_round2_section(old: dict, runs: list[tuple[str, dict]]) -> str:
    """Issue 15, rounds 2 on: several MULDE defaults (`runs`: label and a MULDE-only run of
    benchmarks/adbench_accuracy.py; the first label is the pre-issue-15 default's rows of `old`
    when given as None) against the peers' rows of `old` (the same splits), on the (data set,
    seed) pairs every run has finished, the seeds the last run has. Per run: mean AUC, mean
    rank among that MULDE and the eight peers (seed-mean AUC per data set, ties averaged),
    its place, and the data sets above KNN; for all data sets and those with >= 1,000 training
    rows."""
    from scipy.stats import rankdata

    olds = defaultdict(dict)
    for e in old["entries"]:
        if "error" not in e:
            olds[(e["dataset"], e["seed"])][e["method"]] = e
    mulde = {}
    for label, res in runs:
        src = old["entries"] if res is None else res["entries"]
        mulde[label] = {(e["dataset"], e["seed"]): e["auc"] for e in src
                        if e["method"] == "MULDE" and "error" not in e}
    last = runs[-1][1]
    count = defaultdict(int)  # a seed still running is left out until it has every data set
    for e in last["entries"]:
        count[e["seed"]] += 1
    seeds = sorted(s for s in count if count[s] == max(count.values()))
    peers = [m for m in METHOD_ORDER if m != "MULDE"]
    per = []
    for ds in sorted({ds for ds, _ in mulde[runs[-1][0]]}):
        keys = [(ds, s) for s in seeds]
        if not all(k in m for m in mulde.values() for k in keys) or not all(
                p in olds[k] for p in peers for k in keys):
            continue
        mean = {p: np.mean([olds[k][p]["auc"] for k in keys]) for p in peers}
        for label in mulde:
            mean[label] = np.mean([mulde[label][k] for k in keys])
        per.append((ds, olds[keys[0]]["KNN"]["n_train"], mean))
    if not per:
        return ""
    rows = []
    for what, keep in (("all", lambda n: True), ("n_train >= 1,000", lambda n: n >= 1000)):
        sel = [p for p in per if keep(p[1])]
        if not sel:
            continue
        for label in mulde:
            ranks = np.mean([rankdata([-m[x] for x in [label, *peers]]) for _, _, m in sel],
                            axis=0)
            place = int(np.sum(ranks[1:] < ranks[0])) + 1
            rows.append([what, len(sel), label, np.mean([m[label] for _, _, m in sel]),
                         ranks[0], f"{place} of 9", min(zip(ranks[1:], peers, strict=True))[1],
                         sum(m[label] > m["KNN"] for _, _, m in sel)])
    return "\n".join([
        f"### MULDE's default, issue 15 {runs[-1][0]}\n", machine(last),
        commands(last, nice=19),
        f"Seeds {seeds}; {len(per)} data sets finished by every run. Each MULDE row is ranked "
        "among itself and the eight peers of the run above (same splits; by seed-mean AUC per "
        "data set, ties averaged). The defaults of issue 15's rounds were chosen on the "
        "label-free density-fidelity suite (\"Density fidelity\"), never on these labels.\n",
        table(["data sets", "count", "MULDE", "mean AUC", "mean rank", "place", "best peer",
               "sets above KNN"], rows),
        "\nPer data set (seed-mean AUC):\n",
        table(["data set", "n_train", *mulde, "KNN", "best peer"],
              [[ds, n, *(m[x] for x in mulde), m["KNN"], max(peers, key=lambda k: m[k])]
               for ds, n, m in per]) + "\n"])


# the default before issue 15, those of its rounds 1 and 2 and of round 45 (today's), and the
# peers
DENSITY_SHOWN = ("MULDE beta0.1_constant / gmm", "MULDE beta0.1_sigma2 / mean_energy",
                 "MULDE steps2000_sigma2 / mean_energy", "MULDE deep_pair_from50 / mean_energy",
                 "kNN", "KDE", "GMM")
DENSITY_RULES = Path(__file__).resolve().parent / "density_fidelity.md"


def density_merit(res: dict) -> list[tuple[str, float, float, float, float, int]]:
    """Per estimator ("MULDE variant / aggregate" or a peer): (name, merit = mean over cases of
    (rho_fresh + rho_broad) / 2, mean rho_fresh, min rho_fresh over cases with n >= 1,000,
    mean |far - 0.01|, cases), best merit first (density_fidelity.md, the decision rule)."""
    per: dict[str, list[dict]] = {}
    for case in res["cases"]:
        for variant, v in case["mulde"].items():
            for agg, m in v["aggregates"].items():
                per.setdefault(f"MULDE {variant} / {agg}", []).append(m | {"n": case["n"]})
        for peer, m in case["peers"].items():
            per.setdefault(peer, []).append(m | {"n": case["n"]})
    rows = []
    for name, ms in per.items():
        ok = [m for m in ms if "error" not in m]
        if not ok:
            continue
        big = [m["rho_fresh"] for m in ok if m["n"] >= 1000]
        rows.append((name, float(np.mean([(m["rho_fresh"] + m["rho_broad"]) / 2 for m in ok])),
                     float(np.mean([m["rho_fresh"] for m in ok])),
                     min(big) if big else float("nan"),
                     float(np.mean([abs(m["far"] - 0.01) for m in ok])), len(ok)))
    return sorted(rows, key=lambda r: -r[1])


def density_section(res: dict, shown: tuple[str, ...]) -> str:
    """Render benchmarks/density_fidelity.py: the rules (density_fidelity.md), the merit of
    every MULDE variant / aggregate and peer, and per case the estimators in `shown`."""
    out = [DENSITY_RULES.read_text() if DENSITY_RULES.exists() else "## Density fidelity\n",
           "### Results\n", machine(res), commands(res, nice=5)]
    out.append("Merit = mean over the cases of (rho_fresh + rho_broad) / 2; min rho_fresh over "
               "the cases with n >= 1,000; |far - 0.01| averaged over the cases.\n\n" + table(
                   ["estimator", "merit", "mean rho_fresh", "min rho_fresh (n >= 1,000)",
                    "mean abs(far - 0.01)", "cases"], [list(r) for r in density_merit(res)]))
    rows = []
    for case in res["cases"]:
        found = {}
        for variant, v in case["mulde"].items():
            for agg, m in v["aggregates"].items():
                found[f"MULDE {variant} / {agg}"] = m
        found |= case["peers"]
        for name in shown:
            m = found.get(name)
            if m is not None and "error" not in m:
                rows.append([case["dist"], case["d"], case["n"], name, m["rho_fresh"],
                             m["rho_broad"], m["far"]])
    out.append("\nPer case (the defaults before issue 15, of its round 1, of round 2 "
               "(steps2000_sigma2) and of round 45 (deep_pair_from50, today's), and the "
               "peers):\n\n" + table(
        ["distribution", "d", "n", "estimator", "rho_fresh", "rho_broad", "far"], rows) + "\n")
    return "\n".join(out)


VIDEO_STAGES = ("decode", "scene", "regions", "flow", "velocity", "static", "geometry",
                "appearance")


def _flat_params(params: dict) -> dict:
    """An extractor's parameters as video_stages.py recorded them, flat: since the extractor's
    settings are grouped (regions, flow, velocity, appearance), each group's keys come up to
    the top, the flow's as `flow_preset` and `flow_baseline` (the names of the flat runs)."""
    flat = {k: v for k, v in params.items() if not isinstance(v, dict)}
    for group, values in params.items():
        if isinstance(values, dict):
            flat.update({(f"flow_{k}" if group == "flow" else k): v for k, v in values.items()})
    return flat


def video_section(res: dict) -> str:
    """Render the per-stage frames/s of benchmarks/video_stages.py."""
    cfgs = res["configs"]
    names = list(cfgs)
    out = ["## Video pipeline stages on UCSD Ped2\n", machine(res), commands(res, nice=5)]
    subset = "; ".join(
        f"`{n}`: training videos {', '.join(c['videos']['train'])} ({c['frames']['train']} "
        f"frames), test videos {', '.join(c['videos']['test'])} ({c['frames']['test']} frames), "
        f"{c['objects_per_frame']:.0f} objects per frame" for n, c in cfgs.items())
    flat = [_flat_params(c["params"]) for c in cfgs.values()]
    par = flat[0]
    app = next((f for f in flat if "crop_size" in f), None)
    crops = (f"{app['crop_size']} px square crops embedded by {app['backbone']}" if app
             else "crops embedded by the backbone")
    out.append(
        "One thread (torch and OpenCV), `nice -n 5`, on a subset of Ped2 (360x240 JPEG frames) "
        f"to keep the run to a few minutes: {subset}. Extraction stages are timed inside "
        "`ObjectCentricExtractor.extract(video, timings)` over the training and test "
        "videos of the subset (frames/s = frames extracted / the stage's seconds); decode = "
        "reading the JPEGs and converting to grayscale; regions = median background, "
        f"foreground mask and {par['cell']} px grid cells every {par['stride']} px (plus, for "
        "the static stream, the components against the scene background); scene = the "
        "static stream's scene background from the training videos (median of their "
        "frames); static = its per-component features; flow = "
        f"DIS optical flow ({par['flow_preset']} preset, +-{par['flow_baseline']} frames); "
        f"appearance = {crops} (weights loaded once before timing). train = training "
        "frames / seconds of `MULDEStream.fit` (MULDE default preset plus scoring the "
        "training objects) summed over the streams; calibrate = training frames / seconds "
        "of the streams' calibration (with `calibration_folds`, the default, most of it the "
        "out-of-fold refits of each stream's model on part of the training videos; runs "
        "before this table had no calibrate row and counted it in score); score = test "
        "frames / seconds of scoring the test objects and object -> frame max, summed over "
        "the streams; report = test frames / "
        "seconds of `write_report` (metrics, CSV, plots, HTML). The default preset trains at "
        f"most {res.get('max_steps', 1000)} steps whatever the number of objects (its networks "
        "grow with the objects per feature), so its frames/s grows with the number of training "
        "frames; steps/s (second table) does not depend on the number.\n")
    rows = []
    for stage in (*VIDEO_STAGES, "train", "calibrate", "score", "report"):
        cells = [cfgs[n]["frames_per_s"].get(stage) for n in names]
        if any(c is not None for c in cells):
            rows.append([stage, *cells])
    rows.append(["extraction, all stages", *[cfgs[n]["extraction_frames_per_s"]
                                             for n in names]])
    out.append("Frames per second of each stage ('-': the stage is off for that "
               "extractor):\n\n" + table(["stage", *[f"`{n}`" for n in names]], rows) + "\n")
    body = [[f"`{n}`", stream, s["d"], s["train_objects"], s["steps"], s["best_step"],
             s["steps_per_s"], s["fit_s"], s["test_objects_per_s"]]
            for n in names for stream, s in cfgs[n]["streams"].items()]
    out.append("MULDE per stream (default preset, with the overrides in the notes; steps/s = "
               "optimiser steps over the network "
               "training seconds, validation included):\n\n" + table(
                   ["extractor", "stream", "d", "training objects", "steps", "best step",
                    "steps/s", "fit s", "test objects/s scored"], body) + "\n")
    notes = [f"`{n}`: {c['note']}." for n, c in cfgs.items() if c.get("note")]
    if notes:
        out.append("Notes: " + " ".join(notes) + "\n")
    return "\n".join(out)


ADBENCH_MULDE_RUNS = {
    "new": ("adbench_mulde_issue15.json", "the default chosen in issue 15"),
    "round2": ("adbench_mulde_round2.json", "the default chosen in issue 15's round 2"),
    "round11": ("adbench_mulde_round11.json", "the default chosen in issue 15's round 11"),
    "round17": ("adbench_mulde_round17.json",
                "the default chosen in issue 15's round 17 (seed 0)"),
    "round19": ("adbench_mulde_round19.json",
                "the default chosen in issue 15's round 19 (seed 0)"),
    "round19-seeds12": ("adbench_mulde_round19_seeds12.json",
                        "round 19's default on seeds 1 and 2"),
    "round24": ("adbench_mulde_round24.json",
                "the default chosen in issue 15's round 24 (seed 0)"),
    "round24-seeds12": ("adbench_mulde_round24_seeds12.json",
                        "round 24's default on seeds 1 and 2"),
    "round27": ("adbench_mulde_round27.json",
                "the default chosen in issue 15's round 27 (seed 0; only the 28 sets of at "
                "most 500 training rows, the ones it changes)"),
    "round28": ("adbench_mulde_round28.json",
                "the default chosen in issue 15's round 28 (seed 0; only the 16 sets of more "
                "than 256 features, the ones it changes)"),
    "round33": ("adbench_mulde_round33_all.json",
                "the default after issue 15's round 33 (seed 0, all 58 sets)"),
    "round33-seeds12": ("adbench_mulde_round33_seeds12.json",
                        "round 33's default on seeds 1 and 2 (all sets but 17_InternetAds)"),
    "round35": ("adbench_mulde_round35.json",
                "the default chosen in issue 15's round 35 (seed 0; the 47 sets with quantised "
                "columns by its rule but 17_InternetAds, stopped once round 36 replaced it)"),
    "round36": ("adbench_mulde_round36_all.json",
                "the default after issue 15's round 36 (seed 0, all 58 sets: its 10 changed "
                "sets refitted, the rest round 35's or round 33's rows, which it fits alike; "
                "benchmarks/adbench_merge.py)"),
    "round37": ("adbench_mulde_round37_all.json",
                "the default after issue 15's round 37 (seed 0, all 58 sets, merged as round "
                "36's with its 4 changed sets refitted)"),
    "round37-seeds12": ("adbench_mulde_round37_seeds12_all.json",
                        "round 37's default on seeds 1 and 2 (all sets but 17_InternetAds: "
                        "its 29 sets with quantised columns refitted, round 33's rows for "
                        "the rest)"),
    "round41": ("adbench_mulde_round41.json",
                "the default after issue 15's round 41 (seed 0; only the 16 sets with at least "
                "100 training rows per feature, the ones its rule changes)"),
    "round41-all": ("adbench_mulde_round41_all.json",
                    "the default after issue 15's round 41 (seed 0, all 58 sets: its 16 changed "
                    "sets refitted, round 37's rows for the rest, which it fits alike; "
                    "benchmarks/adbench_merge.py)"),
    "round41-seeds12": ("adbench_mulde_round41_seeds12_all.json",
                        "round 41's default on seeds 1 and 2 (all sets but 17_InternetAds: "
                        "its 16 changed sets refitted, round 37's rows for the rest)"),
    "round43": ("adbench_mulde_round43.json",
                "the default after issue 15's round 43 (seed 0; only the 16 sets with at least "
                "100 training rows per feature, the ones its rule changes)"),
    "round43-all": ("adbench_mulde_round43_all.json",
                    "the default after issue 15's round 43 (seed 0, all 58 sets: its 16 changed "
                    "sets refitted, round 41's rows for the rest, which it fits alike; "
                    "benchmarks/adbench_merge.py)"),
    "round43-seeds12": ("adbench_mulde_round43_seeds12_all.json",
                        "round 43's default on seeds 1 and 2 (all sets but 17_InternetAds: "
                        "its 16 changed sets refitted, round 41's rows for the rest)"),
    "round45": ("adbench_mulde_round45.json",
                "the default after issue 15's round 45 (seed 0; only the 7 sets with 50-99 "
                "training rows per feature, the ones its rule changes)"),
    "round45-all": ("adbench_mulde_round45_all.json",
                    "the default after issue 15's round 45 (seed 0, all 58 sets: its 7 changed "
                    "sets refitted, round 43's rows for the rest, which it fits alike; "
                    "benchmarks/adbench_merge.py)"),
    "round45-seeds12": ("adbench_mulde_round45_seeds12_all.json",
                        "round 45's default on seeds 1 and 2 (all sets but 17_InternetAds: "
                        "its 7 changed sets refitted, round 43's rows for the rest)"),
    "round46": ("adbench_mulde_round46.json",
                "the default after issue 15's round 46 (seed 0; only the 3 sets where the eight "
                "networks train, the ones its rule changes)"),
    "round46-all": ("adbench_mulde_round46_all.json",
                    "the default after issue 15's round 46 (seed 0, all 58 sets: its 3 changed "
                    "sets refitted, round 45's rows for the rest, which it fits alike; "
                    "benchmarks/adbench_merge.py)"),
    "round46-seeds12": ("adbench_mulde_round46_seeds12_all.json",
                        "round 46's default on seeds 1 and 2 (all sets but 17_InternetAds: "
                        "its 2 changed sets refitted, round 45's rows for the rest)"),
    "round48-all": ("adbench_mulde_round48.json",
                    "the default after issue 15's round 48 (seed 0, all 58 sets: early "
                    "stopping after 3 evaluations without improvement may change any fit)"),
    "round48-seeds12": ("adbench_mulde_round48_seeds12.json",
                        "round 48's default on seeds 1 and 2 (every set refitted, on the Intel "
                        "Xeon of its seed-0 run)"),
    "round49-all": ("adbench_mulde_round49.json",
                    "the default after issue 15's round 49 (seed 0, all 58 sets: validation "
                    "every 50 steps, each network on its own noise draws, may change any fit)"),
    "round51": ("adbench_mulde_round51.json",
                "the default after issue 15's round 51 (seed 0; only the 3 sets where the eight "
                "networks train, the ones its rule changes)"),
    "round51-all": ("adbench_mulde_round51_all.json",
                    "the default after issue 15's round 51 (seed 0, all 58 sets: its 3 changed "
                    "sets refitted, round 49's rows for the rest, which it fits alike; "
                    "benchmarks/adbench_merge.py)"),
    "round51-seeds12": ("adbench_mulde_round51_seeds12.json",
                        "round 51's default on seeds 1 and 2 (every set refitted, on the Intel "
                        "Xeon of its seed-0 rows)"),
    "round52": ("adbench_mulde_round52.json",
                "the default after issue 15's round 52 (seed 0; only the 7 sets whose "
                "two-valued columns its rule gives cells)"),
    "round52-all": ("adbench_mulde_round52_all.json",
                    "the default after issue 15's round 52 (seed 0, all 58 sets: its 7 changed "
                    "sets refitted, round 51's rows for the rest, which it fits alike; "
                    "benchmarks/adbench_merge.py)"),
    "round52-seeds12": ("adbench_mulde_round52_seeds12_all.json",
                        "round 52's default on seeds 1 and 2 (its 7 changed sets refitted, "
                        "round 51's rows for the rest, which it fits alike)"),
    "round54": ("adbench_mulde_round54.json",
                "the default after issue 15's round 54 (seed 0; only the 32 sets whose "
                "point masses its rule gives cells)"),
    "round54-all": ("adbench_mulde_round54_all.json",
                    "the default after issue 15's round 54 (seed 0, all 58 sets: its 32 "
                    "changed sets refitted, round 52's rows for the rest, which it fits "
                    "alike; benchmarks/adbench_merge.py)"),
    "round54-seeds12": ("adbench_mulde_round54_seeds12_all.json",
                        "round 54's default on seeds 1 and 2 (its 32 changed sets refitted, "
                        "round 52's rows for the rest, which it fits alike)"),
    "round58": ("adbench_mulde_round58_seed0.json",
                "the default after issue 15's round 58 (seed 0; only the 4 sets of 25-49 "
                "training rows per feature, 501 rows or more and at most 160 features, the "
                "ones its rule changes)"),
    "round58-all": ("adbench_mulde_round58_all.json",
                    "the default after issue 15's round 58 (seed 0, all 58 sets: its 4 changed "
                    "sets refitted, round 54's rows for the rest, which it fits alike; "
                    "benchmarks/adbench_merge.py)"),
    "round58-seeds12": ("adbench_mulde_round58_seeds12_all.json",
                        "round 58's default on seeds 1 and 2 (its 4 changed sets refitted, "
                        "round 54's rows for the rest, which it fits alike)"),
    "round60": ("adbench_mulde_round60_seed0.json",
                "the default after issue 15's round 60 (seed 0; only the 8 sets whose "
                "training halves hold a row 5 times or more, the ones its rule changes)"),
    "round60-all": ("adbench_mulde_round60_all.json",
                    "the default after issue 15's round 60 (seed 0, all 58 sets: its 8 changed "
                    "sets refitted, round 58's rows for the rest, which it scores alike; "
                    "benchmarks/adbench_merge.py)"),
    "round60-seeds12": ("adbench_mulde_round60_seeds12_all.json",
                        "round 60's default on seeds 1 and 2 (its 8 changed sets refitted, "
                        "round 58's rows for the rest, which it scores alike)"),
}
"""The ADBench runs of MULDE alone (benchmarks/adbench_accuracy.py --methods MULDE), each
read from its own --accuracy-KEY file: KEY -> (file in results/, what it holds)."""
LATER_ROUNDS = ("round17", "round19", "round24", "round27", "round28")
"""The rounds after 11 that each get their own ADBench section (one seed each, so they are not
averaged with the three-seed rounds before them)."""
SUBSET_ROUNDS = ("round27", "round28")
"""The later rounds run only on the sets they change: left out of a run over all sets, whose
section would otherwise keep only the sets every run has."""


def seeds_0_2(seed0: dict, more: dict) -> dict:
    """One MULDE run over seeds 0-2 from a seed-0 run and a run of seeds 1 and 2: the seed-0
    rows of the data sets the latter has (17_InternetAds was run on seed 0 only), then its
    rows, with both runs' commands."""
    sets = {e["dataset"] for e in more["entries"]}
    return more | {"entries": [e for e in seed0["entries"] if e["dataset"] in sets]
                   + more["entries"], "commands": seed0["commands"] + more["commands"]}


def successor_sections(acc: dict, before: tuple, after: tuple,
                       every_set: bool = True) -> list[str]:
    """The ADBench sections of a default beside the one it replaced, each a (label, seed 0 on
    the sets its rule changes, seed 0 on every set, seeds 1 and 2) tuple of `read_json`
    results (None: not run): seed 0 on the changed sets, seed 0 on every set, and seeds 0-2
    on the sets both have, each where both runs are there; and seeds 0-2 of the later alone
    beside the default before issue 15, where its seeds 1 and 2 cover sets the earlier's do
    not (17_InternetAds, first run on them in round 48), unless `every_set` is False (the
    caller shows them beside an earlier round's seeds 0-2)."""
    label0, subset0, all0, more0 = before
    label1, subset1, all1, more1 = after
    base = ("before issue 15", None)
    out = []
    if subset0 and subset1:
        out.append(adbench_round2_section(acc, [base, (label0, subset0), (label1, subset1)]))
    if all0 and all1:
        out.append(adbench_round2_section(acc, [base, (label0, all0), (label1, all1)]))
    if all0 and more0 and all1 and more1:
        out.append(adbench_round2_section(acc, [
            base, (f"{label0}, seeds 0-2", seeds_0_2(all0, more0)),
            (f"{label1}, seeds 0-2", seeds_0_2(all1, more1))]))
    sets = ({e["dataset"] for e in more0["entries"]} if more0 else set(),
            {e["dataset"] for e in more1["entries"]} if more1 else set())
    # seeds 1-2 of sets the predecessor's lacked: all of them
    if every_set and all1 and sets[1] - sets[0]:
        out.append(adbench_round2_section(acc, [
            base, (f"{label1}, seeds 0-2, every set", seeds_0_2(all1, more1))]))
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--accuracy", type=Path, default=RESULTS_DIR / "adbench.json")
    p.add_argument("--speed", type=Path, default=RESULTS_DIR / "speed.json")
    p.add_argument("--overfit", type=Path, default=RESULTS_DIR / "mulde_overfit.json")
    p.add_argument("--video", type=Path, default=RESULTS_DIR / "video_stages.json")
    p.add_argument("--density", type=Path, default=RESULTS_DIR / "density_fidelity.json")
    for key, (name, about) in ADBENCH_MULDE_RUNS.items():
        p.add_argument(f"--accuracy-{key}", type=Path, default=RESULTS_DIR / name,
                       help=f"MULDE rows of {about}")
    p.add_argument("--out", type=Path, default=DOC)
    args = p.parse_args(argv)
    parts = ["# Benchmarks\n",
             "Generated by `python benchmarks/render_docs.py` from the JSON files in "
             "`benchmarks/results/`; do not edit by hand (the commentary lives in "
             "`benchmarks/analysis.md` and is copied in).\n"]
    if ANALYSIS.exists():
        parts.append(ANALYSIS.read_text())
    acc, spd = read_json(args.accuracy), read_json(args.speed)
    parts.append(accuracy_section(acc) if acc else "## Accuracy\n\nNot run yet.\n")
    acc_new = read_json(args.accuracy_new)
    if acc and acc_new:
        parts.append(adbench_new_default_section(acc, acc_new))
    acc_r2 = read_json(args.accuracy_round2)
    if acc and acc_new and acc_r2:
        runs = [("before issue 15", None), ("round 1", acc_new), ("round 2", acc_r2)]
        acc_r11 = read_json(args.accuracy_round11)
        runs += [("round 11", acc_r11)] if acc_r11 else []
        parts.append(adbench_round2_section(acc, runs))
        # each later round its own section: it may have fewer seeds than the rounds before
        three: list[tuple[str, dict]] = []  # the later rounds run on seeds 1 and 2 as well
        for key in LATER_ROUNDS:
            label = key.replace("round", "round ")
            later = read_json(getattr(args, f"accuracy_{key}"))
            if not later:
                break
            runs.append((label, later))
            parts.append(adbench_round2_section(acc, runs))
            more = (read_json(getattr(args, f"accuracy_{key}_seeds12"))
                    if f"{key}-seeds12" in ADBENCH_MULDE_RUNS else None)
            if more:  # the round on seeds 0-2: a section beside every run with those seeds
                both = more | {"entries": later["entries"] + more["entries"],
                               "commands": later["commands"] + more["commands"]}
                seeds = {e["seed"] for e in both["entries"]}
                same = [(lab, r) for lab, r in runs[:-1]
                        if seeds <= {e["seed"] for e in (acc if r is None else r)["entries"]
                                     if e["method"] == "MULDE"}]
                three.append((f"{label}, seeds 0-2", both))
                parts.append(adbench_round2_section(acc, [*same, *three]))
        current = read_json(args.accuracy_round33)
        if current and len(runs) == 4 + len(LATER_ROUNDS):  # every round's run is there
            whole = [(label, r) for label, r in runs
                     if label.replace(" ", "") not in SUBSET_ROUNDS]
            parts.append(adbench_round2_section(acc, [*whole, ("round 33", current)]))
            more = read_json(args.accuracy_round33_seeds12)
            if more and three:  # beside round 24 on seeds 0-2 (the sets both have)
                parts.append(adbench_round2_section(
                    acc, [("before issue 15", None), three[-1],
                          ("round 33, seeds 0-2", seeds_0_2(current, more))]))
        for key, label in (("round35", "round 35"), ("round36", "round 36"),
                           ("round37", "round 37")):
            later = read_json(getattr(args, f"accuracy_{key}"))
            if current and later:  # seed 0, beside round 33's default on the same sets
                parts.append(adbench_round2_section(
                    acc, [("before issue 15", None), ("round 33", current), (label, later)]))
        r37, r37_more = (read_json(args.accuracy_round37),
                         read_json(args.accuracy_round37_seeds12))
        r33_more = read_json(args.accuracy_round33_seeds12)
        if current and r37 and r37_more and r33_more:  # seeds 0-2, the sets both have
            parts.append(adbench_round2_section(acc, [
                ("before issue 15", None), ("round 33, seeds 0-2", seeds_0_2(current, r33_more)),
                ("round 37, seeds 0-2", seeds_0_2(r37, r37_more))]))
        before = ("round 37", r37, r37, r37_more)  # round 37 was run on every set
        # each beside the default it replaced
        def run_of(name: str) -> dict | None:  # None where the round has no such run
            path = getattr(args, name, None)
            return read_json(path) if path is not None else None

        last_three = None  # the latest round run on seeds 1 and 2 too: (label, seed 0, more)
        for key in ("round41", "round43", "round45", "round46", "round48", "round49",
                    "round51", "round52", "round54", "round58", "round60"):
            after = (f"round {key[5:]}", run_of(f"accuracy_{key}"),
                     run_of(f"accuracy_{key}_all"), run_of(f"accuracy_{key}_seeds12"))
            beside_three = bool(last_three and after[2] and after[3] and not before[3])
            parts.extend(successor_sections(acc, before, after, every_set=not beside_three))
            if beside_three:
                # the one it replaced has no seeds 1 and 2: beside the latest round that has
                parts.append(adbench_round2_section(acc, [
                    ("before issue 15", None),
                    (f"{last_three[0]}, seeds 0-2", seeds_0_2(last_three[1], last_three[2])),
                    (f"{after[0]}, seeds 0-2", seeds_0_2(after[2], after[3]))]))
            if (after[2] or after[1]) and after[3]:
                last_three = (after[0], after[2] or after[1], after[3])
            # the next rule changes other sets: its predecessor's rows are those of every set
            before = (after[0], after[2] or after[1], after[2], after[3])
    over = read_json(args.overfit)
    if over:
        parts.append(overfit_section(over))
    density = read_json(args.density)
    if density:
        parts.append(density_section(density, DENSITY_SHOWN))
    parts.append(speed_section(spd) if spd else "## Speed\n\nNot run yet.\n")
    video = read_json(args.video)
    parts.append(video_section(video) if video else "## Video pipeline stages on UCSD Ped2\n\n"
                 "Not run yet (`python benchmarks/video_stages.py`).\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp")
    tmp.write_text("\n".join(parts))
    tmp.replace(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
