"""How MULDE's training ends on the ADBench training halves: label-free evidence for choosing
training settings (docs/benchmarks.md, "Density fidelity", round 22).

For each ADBench set whose training half (the split of `adbench_accuracy.py`: the normal rows
halved with the seed, at most --max-train of them) has at least --min-rows rows, fit MULDE
(the `default` preset with --params) on that half alone and record how training ended: the
steps run, the step of the best held-out DSM loss, whether early stopping ended it, the
learning rate, and the held-out loss at the last checks. No test row and no label is read
beyond the split itself (which needs the labels only to take the normal rows), so nothing
here can tune on the test.

    OMP_NUM_THREADS=1 nice -n 19 python benchmarks/adbench_training.py --jobs 2
    OMP_NUM_THREADS=1 nice -n 19 python benchmarks/adbench_training.py --jobs 2 \\
        --params '{"lr": "auto"}' --out benchmarks/results/adbench_training_lr_auto.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from adbench_accuracy import list_datasets, split
from common import (
    DATA_ROOT,
    RESULTS_DIR,
    in_parallel,
    new_header,
    set_single_thread,
    write_json,
)

from mulde import MULDE

LAST_CHECKS = 6
"""How many of the last held-out evaluations each entry keeps (50 steps apart by default since
issue 15's round 49, 100 before)."""


def training_half(path: Path, seed: int, max_train: int) -> np.ndarray:
    """The standardised training half of one ADBench set (`adbench_accuracy.split`)."""
    with np.load(path) as z:
        X, y = z["X"].astype(np.float64), z["y"].astype(int).ravel()
    return split(X, y, seed, max_train, max_test=len(y))[0]


def how_training_ends(path: Path, seed: int, max_train: int, min_rows: int,
                      params: dict) -> dict | None:
    """Fit MULDE on one set's training half; return how its training ended (None for a half
    of fewer than min_rows rows)."""
    x = training_half(path, seed, max_train)
    if len(x) < min_rows:
        return None
    model = MULDE.from_preset("default", **{"random_state": seed, "device": "cpu",
                                            **params}).fit(x)
    result = model.train_result_
    checks = [(e["step"], e["val_loss"]) for e in result.history if "val_loss" in e]
    return {"dataset": path.stem, "group": path.parent.name, "seed": seed,
            "n_train": len(x), "n_features": x.shape[1], "steps": result.steps,
            "best_step": result.best_step, "stopped_early": result.stopped_early,
            "best_val_loss": result.best_val_loss, "lr": result.lr,
            "last_checks": checks[-LAST_CHECKS:], "fit_s": model.fit_seconds_}


def _params(text: str) -> dict:
    """--params: a JSON object (argparse reports the ArgumentTypeError as one line)."""
    try:
        params = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON ({err})") from None
    if not isinstance(params, dict):
        raise argparse.ArgumentTypeError('give a JSON object such as {"lr": "auto"}')
    return params


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", type=Path, default=DATA_ROOT)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-train", type=int, default=10_000)
    p.add_argument("--min-rows", type=int, default=1000)
    p.add_argument("--params", type=_params, default={},
                   help="MULDE parameters over the default preset, as a JSON object")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "adbench_training.json")
    args = p.parse_args(argv)
    try:  # refused before any data is read or fitted
        MULDE.from_preset("default", **args.params).check_params()
        files = list_datasets(args.root)
    except (TypeError, ValueError, FileNotFoundError) as err:
        p.error(str(err))
    set_single_thread()
    calls = [(f, args.seed, args.max_train, args.min_rows, args.params) for f in files]
    entries = [e for e in in_parallel(how_training_ends, calls, args.jobs) if e is not None]
    entries.sort(key=lambda e: (e["n_train"] * e["n_features"], e["dataset"]))
    ended_by_cap = [e for e in entries if not e["stopped_early"]
                    and e["best_step"] == e["steps"]]
    write_json(args.out, new_header("adbench_training", params=args.params, entries=entries))
    print(f"{len(entries)} of {len(files)} sets have >= {args.min_rows} training rows (the "
          f"others are not fitted); the cap ended {len(ended_by_cap)} with the best held-out "
          f"loss at the last check; wrote {args.out}")


if __name__ == "__main__":
    main()
