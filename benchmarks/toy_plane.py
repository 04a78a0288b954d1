"""The 2-D toy under both grids of scoring levels (issue 15 round 11): the linear grid of
the paper and the default's log-spaced one, on the same training (the grid plays no part in
it). Per grid: the test AUC of `toy_data(seed=0)` and the Spearman correlation of the score
with the true -log p over a uniform square around the toy, [-4.5, 4.5]^2 (2,000 points),
which is mostly far from the data. The settings are those of the toy test in
tests/estimator/test_model.py (width 64 x 2, batch 256, 1,000 steps, seed 0).

    OMP_NUM_THREADS=1 python benchmarks/toy_plane.py
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from common import RESULTS_DIR, new_header, set_single_thread, write_json
from density_generators import make_distribution
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from mulde import MULDE
from mulde.demo.toy import toy_data

SETTINGS = {"hidden_sizes": (64, 64), "max_steps": 1000, "batch_size": 256, "random_state": 0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "toy_plane.json")
    args = parser.parse_args()
    set_single_thread()
    x_train, x_test, y_test = toy_data(seed=0, n_train=4000, n_test=1000)
    plane = np.random.default_rng(1).uniform(-4.5, 4.5, (2000, 2))
    truth = -make_distribution("toy2d", 2).log_density(plane)
    rows = []
    for spacing in ("linear", "geometric"):
        model = MULDE(**SETTINGS, spacing=spacing).fit(x_train)
        rows.append({"spacing": spacing,
                     "auc": float(roc_auc_score(y_test, model.anomaly_score(x_test))),
                     "spearman_plane": float(spearmanr(model.anomaly_score(plane), truth)[0])})
        print(rows[-1], flush=True)
    write_json(args.out, new_header("toy_plane", settings=SETTINGS, rows=rows))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
