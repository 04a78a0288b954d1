"""Do dequantised one-hot codes still flag impossible codes? (issue 15; a newcomer's finding)

A table of the kind a user has: a categorical variable written as a one-hot group (4
columns, categories of probability 0.5, 0.25, 0.15 and 0.1), two continuous columns, a
count and two independent flags (set on 30 % and 50 % of the rows); normal training rows
drawn from it. Three tables: `tied`, the continuous columns' means and the count's rate
following the category (the other columns tell the code), `loose`, neither depending on it
(only the one-hot columns tell the code), and `rare_flags`, `loose` with a weak tie and a
newcomer's other ingredients (two rare flags, which train as given, and a mostly-zero
column). Test rows: held-out normal rows, and anomalies
made from other normal rows by one change each: `two_hot` (a second category's column set
to 1: no row can hold two categories), `zero_hot` (the category's column set to 0: none),
`wrong_means` (the continuous columns moved to the rarest category's means under the row's
own code: a valid code, unlikely values). MULDE (the default preset) is fitted with
`dequantise` True (the default: every one-hot column gets a half-gap cell, round 52), False
(the rows as given), a list of every other column (the one-hot group as given), and True
with rare flags in cells too (issue 15's round 56 rule, not adopted).
Recorded per table, seed and setting: the ROC-AUC of normal test rows against each kind, and
the share of each that `predict` flags (normal rows too: the false alarms). No number here
chooses a default.

    cd benchmarks; OMP_NUM_THREADS=1 nice -n 10 python onehot_groups.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import contextlib
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from common import RESULTS_DIR, new_header, set_single_thread, write_json
from density_fidelity import VARIANTS, _lattice_rule
from sklearn.metrics import roc_auc_score

from mulde import MULDE
from mulde.estimator.model import UndequantisedColumnsWarning

PROBS = np.array([0.5, 0.25, 0.15, 0.1])
MEANS = np.array([[0.0, 0.0], [2.0, -1.0], [-2.0, 1.5], [1.0, 3.0]])
CODES = [f"type_{c}" for c in "ABCD"]
# "others": a list of every column but the one-hot group's; "rare_flag_cells": True with
# rare flags in half-gap cells too (issue 15's round 56 rule, not adopted: the suite's
# `_lattice_rule` with quantisation_steps(rare_flag_share=0.01))
SETTINGS = {"dequantise_true": True, "dequantise_false": False, "onehot_as_given": "others",
            "rare_flag_cells": "rare_flag_share"}
RARE_FLAG_RULE = VARIANTS["rare_flags_share1"]["lattice_rule"]
KINDS = ("two_hot", "zero_hot", "wrong_means")


TABLES = ("tied", "loose", "rare_flags")


def rows(n: int, rng: np.random.Generator, table: str) -> pd.DataFrame:
    """n normal rows of a table (`TABLES`): x1, x2 ~ N(tie MEANS[c], 1), count ~ Poisson(1 +
    tie c), flags f1 ~ Bernoulli(0.3) and f2 ~ Bernoulli(0.5), the one-hot code of c ~ PROBS
    (columns `CODES`); tie 1 for `tied`, 0 for `loose`; `rare_flags` as `loose` but for x1
    shifted by 1 in the rarest category (a weak tie) and three more columns, as a
    newcomer's table had: `rare1` set on 2 % of the rows, `rare2` on the 4 % of largest x1,
    and `zeros`, 0 on 80 % of the rows and Exponential(5) on the others."""
    tie = 1.0 if table == "tied" else 0.0
    c = rng.choice(len(PROBS), size=n, p=PROBS)
    x = tie * MEANS[c] + rng.standard_normal((n, 2))
    if table == "rare_flags":
        x[:, 0] += c == len(PROBS) - 1
    frame = pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1],
                          "count": rng.poisson(1.0 + tie * c).astype(float),
                          "f1": (rng.random(n) < 0.3).astype(float),
                          "f2": (rng.random(n) < 0.5).astype(float)})
    if table == "rare_flags":
        frame["rare1"] = (rng.random(n) < 0.02).astype(float)
        frame["rare2"] = (x[:, 0] > np.quantile(x[:, 0], 0.96)).astype(float)
        frame["zeros"] = np.where(rng.random(n) < 0.8, 0.0, rng.exponential(5.0, n))
    return frame.join(pd.DataFrame(np.eye(len(PROBS))[c], columns=CODES))


def anomalies(kind: str, n: int, rng: np.random.Generator, table_name: str
              ) -> pd.DataFrame:
    """n rows of one kind (module docstring), each a normal row of the table changed once."""
    table = rows(n, rng, table_name)
    codes = table[CODES].to_numpy().copy()
    c = codes.argmax(axis=1)
    if kind == "two_hot":
        other = (c + rng.integers(1, len(PROBS), n)) % len(PROBS)
        codes[np.arange(n), other] = 1.0
    elif kind == "zero_hot":
        codes[np.arange(n), c] = 0.0
    else:  # wrong_means: the rarest category's means under the row's own code (in the
        # loose table, where no mean follows the code, the same shift from 0)
        table[["x1", "x2"]] = MEANS[-1] + rng.standard_normal((n, 2))
        keep = c != len(PROBS) - 1  # rows of the rarest category would be normal
        table, codes = table[keep], codes[keep]
    table[CODES] = codes
    return table


def run(seed: int, table_name: str, n_train: int, n_test: int, n_each: int,
        settings: list[str]) -> list[dict]:
    """The settings' entries for one seed's table."""
    rng = np.random.default_rng(seed)
    train, normal = rows(n_train, rng, table_name), rows(n_test, rng, table_name)
    odd = {kind: anomalies(kind, n_each, rng, table_name) for kind in KINDS}
    out = []
    for name in settings:
        dequantise, rule = SETTINGS[name], None
        if dequantise == "others":
            dequantise = [c for c in train.columns if c not in CODES]
        elif dequantise == "rare_flag_share":
            dequantise, rule = True, RARE_FLAG_RULE
        t0 = time.perf_counter()
        # the library's rule itself where none is named (`_lattice_rule(None)` is the rule
        # of the variants before round 52, flags as given)
        ruled = contextlib.nullcontext() if rule is None else _lattice_rule(rule)
        with warnings.catch_warnings(), ruled:  # the list names continuous columns too
            warnings.simplefilter("ignore", UndequantisedColumnsWarning)
            model = MULDE.from_preset("default", random_state=seed, device="cpu",
                                      dequantise=dequantise).fit(train)
        fit_s = time.perf_counter() - t0
        base = model.anomaly_score(normal)
        entry = {"seed": seed, "table": table_name, "setting": name, "dequantise": dequantise,
                 "fit_s": round(fit_s, 1),
                 "cells": {c: float(w) for c, w in zip(train.columns,
                                                       model.quantisation_steps_ if
                                                       model.quantisation_steps_ is not None
                                                       else np.zeros(train.shape[1]),
                                                       strict=True)},
                 "flagged_normal": float((model.predict(normal) == -1).mean())}
        for kind, table in odd.items():
            score = model.anomaly_score(table)
            y = np.r_[np.zeros(len(base)), np.ones(len(score))]
            entry[f"auc_{kind}"] = float(roc_auc_score(y, np.r_[base, score]))
            entry[f"flagged_{kind}"] = float((model.predict(table) == -1).mean())
        print(f"{table_name} seed {seed} {name:17s} fit {fit_s:5.1f}s "
              + " ".join(f"{k} {entry['auc_' + k]:.3f}/{entry['flagged_' + k]:.2f}"
                         for k in KINDS)
              + f" normal flagged {entry['flagged_normal']:.3f}", flush=True)
        out.append(entry)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--tables", nargs="+", choices=TABLES, default=list(TABLES))
    p.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    p.add_argument("--n-train", type=int, default=3000)
    p.add_argument("--n-test", type=int, default=1000)
    p.add_argument("--n-each", type=int, default=100)
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "onehot_groups.json")
    args = p.parse_args(argv)
    set_single_thread()
    entries = [e for table in args.tables for seed in args.seeds
               for e in run(seed, table, args.n_train, args.n_test, args.n_each,
                            args.settings)]
    for table, name in ((t, s) for t in args.tables for s in args.settings):
        mine = [e for e in entries if e["setting"] == name and e["table"] == table]
        print(f"{table} {name:17s} mean over seeds: "
              + " ".join(f"{k} {np.mean([e['auc_' + k] for e in mine]):.3f}" for k in KINDS)
              + f" normal flagged {np.mean([e['flagged_normal'] for e in mine]):.3f}")
    write_json(args.out, new_header("onehot_groups",
                                    settings={k: SETTINGS[k] for k in args.settings},
                                    entries=entries))


if __name__ == "__main__":
    main()
