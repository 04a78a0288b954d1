"""One-class accuracy of MULDE and its peers on ADBench (Classical + MVTec-AD ResNet18).

Protocol (docs/benchmarks.md): for each seed, split the normal rows 50/50; train on one half;
test on the other half plus all anomalies; standardise with the training half's statistics;
report ROC-AUC and average precision of the anomaly score (higher = more anomalous).
Label-free size caps, identical for every method: the training half is subsampled (with the
seed) to at most --max-train rows; a test set above --max-test rows is subsampled stratified
by label (anomaly ratio kept) to --max-test rows.

Results are appended to one JSON file; a (dataset, seed, method) entry already there is
skipped, and the file is rewritten atomically after each entry, so an interrupted run resumes.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/adbench_accuracy.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from common import (
    DATA_ROOT,
    RESULTS_DIR,
    command_line,
    in_parallel,
    new_header,
    read_json,
    set_single_thread,
    write_json,
)
from sklearn.metrics import average_precision_score, roc_auc_score

METHODS = ("MULDE", "KNN", "LOF", "IForest", "OCSVM", "ECOD", "KDE", "DeepSVDD", "GMM")
GROUPS = ("Classical", "CV_by_ResNet18")


def list_datasets(root: Path) -> list[Path]:
    """Return the ADBench .npz files under root, smallest (rows x columns) first."""
    files = [f for g in GROUPS for f in sorted((root / "adbench" / g).glob("*.npz"))]
    if not files:
        raise FileNotFoundError(f"no ADBench .npz files under {root / 'adbench'} "
                                "(give the shared data folder: --root where the script "
                                "takes one, else set MULDE_DATA)")

    def size(f: Path) -> int:
        with np.load(f) as z:
            return int(np.prod(z["X"].shape))

    return sorted(files, key=lambda f: (size(f), f.stem))


def split(X: np.ndarray, y: np.ndarray, seed: int, max_train: int,
          max_test: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (X_train, X_test, y_test): the one-class split of the module docstring."""
    rng = np.random.default_rng(seed)
    normal, anomal = np.flatnonzero(y == 0), np.flatnonzero(y == 1)
    normal = rng.permutation(normal)
    half = len(normal) // 2
    train, test_normal = normal[:half], normal[half:]
    if len(train) > max_train:
        train = rng.choice(train, max_train, replace=False)
    test = np.concatenate([test_normal, anomal])
    if len(test) > max_test:
        keep_a = max(1, round(max_test * len(anomal) / len(test)))
        test = np.concatenate([rng.choice(test_normal, max_test - keep_a, replace=False),
                               rng.choice(anomal, keep_a, replace=False)])
    X_train, X_test, y_test = X[train], X[test], y[test]
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (X_train - mean) / std, (X_test - mean) / std, y_test


def make_scorer(method: str, seed: int, n_features: int, mulde: dict | None = None
                ) -> Callable[[np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    """Return fit(X_train) -> score(X_test) for the method (score higher = more anomalous);
    `mulde` overrides MULDE's `default` preset (e.g. {"device": "cuda", "n_members": 4})."""
    if method == "MULDE":
        from mulde import MULDE

        def fit(X):
            params = {"random_state": seed, "device": "cpu", **(mulde or {})}
            model = MULDE.from_preset("default", **params).fit(X)
            return model.anomaly_score
        return fit
    if method == "GMM":
        from sklearn.mixture import GaussianMixture

        def fit(X):
            model = GaussianMixture(random_state=seed).fit(X)
            return lambda Z: -model.score_samples(Z)
        return fit

    def fit(X):
        if method == "KNN":
            from pyod.models.knn import KNN as Cls
            model = Cls()
        elif method == "LOF":
            from pyod.models.lof import LOF as Cls
            model = Cls()
        elif method == "IForest":
            from pyod.models.iforest import IForest as Cls
            model = Cls(random_state=seed)
        elif method == "OCSVM":
            from pyod.models.ocsvm import OCSVM as Cls
            model = Cls()
        elif method == "ECOD":
            from pyod.models.ecod import ECOD as Cls
            model = Cls()
        elif method == "KDE":
            from pyod.models.kde import KDE as Cls
            model = Cls()
        elif method == "DeepSVDD":
            import torch
            from pyod.models.deep_svdd import DeepSVDD as Cls
            torch.manual_seed(seed)
            model = Cls(n_features=n_features, random_state=seed, verbose=0)
        else:
            raise ValueError(f"unknown method {method!r}; choose from {METHODS}")
        model.fit(X)
        return model.decision_function
    return fit


def run_one(method: str, X_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
            seed: int, mulde: dict | None = None) -> dict:
    """Fit and score one method; return AUC, AP, fit and score seconds (or the error)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            score = make_scorer(method, seed, X_train.shape[1], mulde)(X_train)
            t1 = time.perf_counter()
            s = np.asarray(score(X_test), dtype=np.float64)
            t2 = time.perf_counter()
    except Exception as err:  # noqa: BLE001 - a failing peer is recorded, not fatal
        return {"error": f"{type(err).__name__}: {err}"[:300]}
    if not np.all(np.isfinite(s)):
        bad = ~np.isfinite(s)
        s = np.where(bad, np.nanmax(np.where(bad, np.nan, s)) + 1.0, s)
    return {"auc": float(roc_auc_score(y_test, s)),
            "ap": float(average_precision_score(y_test, s)),
            "fit_s": t1 - t0, "score_s": t2 - t1, "n_train": int(len(X_train)),
            "n_test": int(len(X_test)), "n_features": int(X_train.shape[1])}


def run_split(path: Path, seed: int, methods: list[str], max_train: int, max_test: int,
              mulde: dict | None = None) -> list[dict]:
    """Fit and score each method on one data set's split of one seed; return the entries."""
    with np.load(path) as z:
        X, y = z["X"].astype(np.float64), z["y"].astype(int).ravel()
    X_train, X_test, y_test = split(X, y, seed, max_train, max_test)
    return [{"dataset": path.stem, "group": path.parent.name, "seed": seed, "method": method,
             **run_one(method, X_train, X_test, y_test, seed, mulde)} for method in methods]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", nargs="*", default=["*"],
                   help="dataset name patterns (file stems, fnmatch), e.g. '*_wine' 'MVTec*'")
    p.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    p.add_argument("--methods", nargs="*", default=list(METHODS), choices=METHODS)
    p.add_argument("--max-train", type=int, default=10_000)
    p.add_argument("--max-test", type=int, default=20_000)
    p.add_argument("--max-datasets", type=int, default=None,
                   help="only the N smallest matching datasets")
    p.add_argument("--quick", action="store_true",
                   help="3 smallest datasets, seed 0 (a smoke test; writes adbench_quick.json)")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=JSON",
                   help="MULDE settings over the default preset, e.g. n_members=4 "
                        'hidden_sizes=[128,128] device=\"cuda\" (recorded in the file)')
    p.add_argument("--jobs", type=int, default=1,
                   help="(data set, seed) splits run at once in worker processes")
    args = p.parse_args(argv)
    try:
        mulde = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
    except ValueError as err:
        raise SystemExit(f"--set takes KEY=JSON items, e.g. n_members=4: {err}") from None
    params = None  # every parameter the MULDE rows are fitted with, the defaults included
    if "MULDE" in args.methods:  # a misspelt or out-of-range setting fails now, not per fit
        from mulde import MULDE

        try:
            model = MULDE.from_preset("default", **mulde)
            model.check_params()
        except (TypeError, ValueError) as err:
            raise SystemExit(f"--set: {err}") from None
        # as JSON stores them (tuples become lists), so a resumed run compares like with like
        params = json.loads(json.dumps(model.get_params()))
    if args.quick:
        args.seeds, args.max_datasets = [0], args.max_datasets or 3
    out = args.out or RESULTS_DIR / ("adbench_quick.json" if args.quick else "adbench.json")
    set_single_thread()

    files = [f for f in list_datasets(DATA_ROOT)
             if any(fnmatch.fnmatch(f.stem, pat) for pat in args.datasets)]
    files = files[: args.max_datasets] if args.max_datasets else files
    results = read_json(out) or new_header(
        "adbench_accuracy", protocol={"max_train": args.max_train, "max_test": args.max_test,
                                      "split": "normal rows 50/50 per seed"},
        mulde_settings=mulde, mulde_params=params, entries=[])
    if results["protocol"]["max_train"] != args.max_train or \
            results["protocol"]["max_test"] != args.max_test:
        raise SystemExit(f"{out}: written with other caps {results['protocol']}; use --out")
    if results.get("mulde_settings", {}) != mulde:
        raise SystemExit(f"{out}: written with MULDE settings {results.get('mulde_settings')}"
                         f", not {mulde}; use --out")
    # the same settings over another default (lr 1e-3 -> "auto" in issue 15's round 24) fit
    # another MULDE: its rows must not join the file's (files before this check lack the key)
    stored = results.get("mulde_params")
    if params is not None and stored is not None and stored != params:
        changed = sorted(k for k in params.keys() | stored.keys()
                         if params.get(k) != stored.get(k))
        raise SystemExit(f"{out}: its MULDE rows were fitted with other parameters ("
                         + ", ".join(f"{k} {stored.get(k)!r}, now {params.get(k)!r}"
                                     for k in changed) + "); use --out")
    if command_line() not in results["commands"]:
        results["commands"].append(command_line())
    done = {(e["dataset"], e["seed"], e["method"]) for e in results["entries"]}

    calls = [(f, seed, todo, args.max_train, args.max_test, mulde)
             for f in files for seed in args.seeds
             if (todo := [m for m in args.methods if (f.stem, seed, m) not in done])]
    for entries in in_parallel(run_split, calls, args.jobs):
        # fit_s of a split run beside others (--jobs) is contended: say how many ran at once
        results["entries"] += [e | {"jobs": args.jobs} for e in entries]
        write_json(out, results)
        for entry in entries:
            msg = entry.get("error") or (f"auc={entry['auc']:.4f} ap={entry['ap']:.4f} "
                                         f"fit={entry['fit_s']:.1f}s")
            print(f"{entry['dataset']:28s} seed={entry['seed']} {entry['method']:9s} {msg}",
                  flush=True)


if __name__ == "__main__":
    main()
