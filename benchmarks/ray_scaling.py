"""Feature extraction throughput on Ray: UCSD Ped2 with 1 and with 2 local workers, side by
side in one run (issue 17: 2 workers should reach at least 1.7x the frames/s of one).

One local Ray with as many CPUs as the largest worker count; for each worker count, the
same videos are extracted into a fresh, empty cache (`extract_features(..., ray=
RayOptions(workers=k))`, one thread per worker), and frames/s = frames extracted / wall
seconds of the whole call (the actors' start-up, the map and reading the entries back
included). A one-process run (`--engine local`, one thread) is measured first as the
baseline. An extractor that learns a scene background does so before the timed part in
every run (in the driver, as `extract_features` does), so it is not in the comparison; the
default, objects:ped2, has none. Run it on an idle
machine: with fewer free cores than workers the speed-up measures the other load. Writes
benchmarks/results/ray_scaling.json.

    python benchmarks/ray_scaling.py                       # all 28 Ped2 videos
    python benchmarks/ray_scaling.py --videos 8 --workers 1 2 4
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from common import (
    DATA_ROOT,
    RESULTS_DIR,
    load_ped2,
    new_header,
    set_single_thread,
    write_json,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA_ROOT / "ucsd_ped2")
    parser.add_argument("--extractor", default="objects:ped2")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--videos", type=int, help="only the first N test videos and as many "
                        "training videos (default: all)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "ray_scaling.json")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    set_single_thread()
    dataset = load_ped2(args.data)
    if dataset is None:
        return 2
    if args.videos:
        dataset = replace(dataset, train=dataset.train[:args.videos],
                          test=dataset.test[:args.videos])
    import ray

    from mulde.pipeline import extract_features
    from mulde.video.cache import FeatureCache
    from mulde.video.distributed import RayOptions
    from mulde.video.features.registry import build_extractor

    extractor = build_extractor(args.extractor)
    runs = []
    with tempfile.TemporaryDirectory(prefix="mulde_ray_scaling_") as tmp:
        def measure(engine: str, workers: int) -> dict:
            cache = FeatureCache(Path(tmp) / f"{engine}{workers}")
            options = RayOptions(workers=workers) if engine == "ray" else None
            result = extract_features(dataset, extractor, cache, progress=False, ray=options)
            fps = result.frames_extracted / result.seconds
            print(f"{engine} x{workers}: {result.frames_extracted} frames in "
                  f"{result.seconds:.1f} s = {fps:.1f} frames/s", flush=True)
            return {"engine": engine, "workers": workers, "videos": result.n_extracted,
                    "frames": result.frames_extracted, "seconds": result.seconds,
                    "frames_per_s": fps, "skipped": result.failed}

        runs.append(measure("local", 1))
        ray.init(num_cpus=max(args.workers), include_dashboard=False, log_to_driver=False)
        try:
            runs += [measure("ray", k) for k in args.workers]
        finally:
            ray.shutdown()
    one = next(r["frames_per_s"] for r in runs if r["engine"] == "ray" and r["workers"] == 1) \
        if 1 in args.workers else None
    for r in runs:
        if r["engine"] == "ray" and one:
            r["speedup_vs_1_worker"] = r["frames_per_s"] / one
    payload = new_header("ray_scaling", dataset="ucsd_ped2", extractor=args.extractor,
                         params=extractor.params, threads_per_worker=1, runs=runs)
    write_json(args.out, payload)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
