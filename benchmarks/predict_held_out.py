"""Does `MULDE.predict` flag `contamination` of NEW normal samples? (issue 16)

scikit-learn's digits (1,797 8x8 images, 64-d): per digit class, its images are split 50/50
(seeded) into fit rows and held-out normal rows; MULDE (default preset) is fitted on the fit
rows, and the share of held-out rows `predict` flags is recorded for
`threshold_on="validation"` (split conformal on the held-out validation rows), next to what
the default threshold (the fit rows' own 1 % quantile, in-sample) would flag and what
`threshold_on="out_of_bag"` flags (the fit rows' out-of-bag quantile: the default trains
several networks on bags of so few rows of 64 pixels; issue 15, round 47). No labels other
than the class used to pick normal rows. Run for contamination 0.01 ("auto") and 0.1, and once with
every digit normal (898 fit rows, 90 validation rows) for 0.01, 0.05 and 0.1.

    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/predict_held_out.py
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
from common import RESULTS_DIR, new_header, set_single_thread, write_json
from sklearn.base import clone
from sklearn.datasets import load_digits

from mulde import MULDE
from mulde.core.training import validation_rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--classes", type=int, nargs="+", default=list(range(10)))
    ap.add_argument("--out", type=Path, default=RESULTS_DIR / "predict_held_out.json")
    args = ap.parse_args()
    set_single_thread()
    X, y = load_digits(return_X_y=True)
    rows = []
    for c in [*args.classes, "all"]:  # "all": every digit is normal (898 fit rows)
        Xc = (X if c == "all" else X[y == c]).astype(np.float64)
        perm = np.random.default_rng(10 if c == "all" else c).permutation(len(Xc))
        fit, held = Xc[perm[: len(Xc) // 2]], Xc[perm[len(Xc) // 2:]]
        for contamination in (0.01, 0.05, 0.1) if c == "all" else (0.01, 0.1):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # constant pixel columns; too few rows
                model = MULDE(random_state=0, contamination=contamination,
                              threshold_on="validation").fit(fit)
                flagged = float(np.mean(model.predict(held) == -1))
                bagged = clone(model).set_params(threshold_on="out_of_bag").fit(fit)
                oob = float(np.mean(bagged.predict(held) == -1))
            old_offset = float(np.percentile(model.score_samples(fit), 100 * contamination))
            old = float(np.mean(model.score_samples(held) < old_offset))
            n_val = validation_rows(len(fit), model.train_result_.validation_fraction)
            rows.append({"class": c, "contamination": contamination, "fit_rows": len(fit),
                         "validation_rows": n_val, "held_rows": len(held),
                         "flagged_held_out": flagged, "flagged_held_out_in_sample_offset": old,
                         "flagged_held_out_out_of_bag": oob,
                         "out_of_bag_networks": bagged.train_result_.n_members,
                         "out_of_bag_max_samples": bagged.train_result_.max_samples,
                         "flagged_fit_rows": float(np.mean(model.predict(fit) == -1))})
            print(f"digit {c} contamination {contamination}: held-out flagged {flagged:.3f} "
                  f"(in-sample threshold: {old:.3f}, out of bag: {oob:.3f}); {n_val} "
                  "validation rows", flush=True)
    summary = {}
    for contamination in (0.01, 0.1):
        r = [x for x in rows if x["contamination"] == contamination and x["class"] != "all"]
        summary[str(contamination)] = {
            "flagged_held_out_mean": float(np.mean([x["flagged_held_out"] for x in r])),
            "flagged_held_out_in_sample_offset_mean": float(np.mean(
                [x["flagged_held_out_in_sample_offset"] for x in r])),
            "flagged_held_out_out_of_bag_mean": float(np.mean(
                [x["flagged_held_out_out_of_bag"] for x in r])),
            "out_of_bag_range": [min(x["flagged_held_out_out_of_bag"] for x in r),
                                 max(x["flagged_held_out_out_of_bag"] for x in r)],
            "flagged_held_out_range": [min(x["flagged_held_out"] for x in r),
                                       max(x["flagged_held_out"] for x in r)],
            "in_sample_offset_range": [min(x["flagged_held_out_in_sample_offset"] for x in r),
                                       max(x["flagged_held_out_in_sample_offset"] for x in r)]}
    summary["all_digits"] = [x for x in rows if x["class"] == "all"]
    print(summary)
    write_json(args.out, new_header("predict_held_out", dataset="sklearn digits",
                                    summary=summary, rows=rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
