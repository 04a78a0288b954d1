"""A pre-registered variant of an extractor through the whole Ped2 pipeline.

Runs `mulde.pipeline.run_pipeline` on UCSD Ped2 with the extractor `--base` (default
`objects:ped2`) changed by `--set`
(JSON values, e.g. `streams='["velocity", "static"]'`), writes the usual report folder and
a JSON under benchmarks/results with the metrics, per-stage times and the registration text
(docs/results.md, "Pre-registered candidates", holds each registration and its rule).
The command line's per-extractor defaults (`registry.preset_pca`, the calibration folds and
MULDE parameters of objects:detector; since 2026-12-03 the `frames` stream's 128 principal
components) are not applied here: `run_pipeline` trains what it is given.

    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/ped2_pipeline_candidate.py --name static \\
        --set 'streams=["velocity", "static"]' --out runs/ped2_static
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from common import (
    DATA_ROOT,
    RESULTS_DIR,
    load_ped2,
    new_header,
    set_single_thread,
    write_json,
)

from mulde.pipeline import run_pipeline
from mulde.video.features.registry import build_extractor


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--name", required=True, help="the candidate's name (results file suffix)")
    p.add_argument("--base", default="objects:ped2", help="the extractor to change")
    p.add_argument("--set", nargs="+", required=True, metavar="KEY=JSON",
                   help="changes to it, e.g. 'streams=[\"velocity\", \"static\"]'")
    p.add_argument("--registered", default="", help="the registration text, recorded as is")
    p.add_argument("--out", type=Path, required=True, help="report folder")
    p.add_argument("--detector", default="mulde", choices=["mulde", "knn", "gmm"])
    p.add_argument("--data", type=Path, default=DATA_ROOT / "ucsd_ped2")
    args = p.parse_args(argv)
    dataset = load_ped2(args.data)
    if dataset is None:
        return 2
    set_single_thread()
    changes = {k: json.loads(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    extractor = dataclasses.replace(build_extractor(args.base), **changes)
    t0 = time.perf_counter()
    metrics = run_pipeline(dataset, extractor, args.out,
                           detector=args.detector)
    wall = time.perf_counter() - t0
    keep = ("micro_auc", "macro_auc", "micro_auc_unsmoothed", "macro_auc_unsmoothed",
            "per_video_auc", "timings")
    out = RESULTS_DIR / f"ped2_pipeline_{args.name}_{args.detector}.json"
    write_json(out, new_header("ped2_pipeline_candidate", base=args.base, changes=changes,
                               extractor_params=extractor.params, registered=args.registered,
                               wall_seconds=wall,
                               # fits read back from an earlier run's cache in --out: then
                               # wall_seconds is not a fitting time
                               fits_reused=metrics["config"].get("fits_reused", 0),
                               metrics={k: metrics.get(k) for k in keep}))
    print(f"micro {100 * metrics['micro_auc']:.2f} macro {100 * metrics['macro_auc']:.2f} "
          f"({wall:.0f} s); wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
