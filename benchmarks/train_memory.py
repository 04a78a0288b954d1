"""Peak memory of fitting the stream models against the training size, with and without
`max_train_objects` (mulde.vad.ensemble: a seeded subsample, never stacked with the rest).

Synthetic training videos (2,000 objects of d features each, standard normal float32, as the
feature cache holds them) are made in a fresh process per configuration; a first fit on two
of the videos does the imports and first-call set-up; then
`StreamEnsemble(detector, max_train_objects=...).fit(videos)` runs under tracemalloc. Two
numbers per fit: `tracemalloc_peak_mb`, the peak of memory allocated during the fit through
Python's allocators (numpy's arrays included; PyTorch's tensors are not traced), and
`rss_growth_mb`, the process's peak resident set (getrusage ru_maxrss) minus its resident set
just before the fit (everything, torch included; a lower bound when the fit peaks below the
data's own making). The training features themselves (`input_mb`) are held by the caller in
both cases and are not in either number. Writes benchmarks/results/train_memory.json.

    python benchmarks/train_memory.py
    python benchmarks/train_memory.py --sizes 10000 40000 160000 --bound 10000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from common import RESULTS_DIR, new_header, write_json

FIT = """
import json, resource, sys, time, tracemalloc
import numpy as np
from mulde.vad.ensemble import StreamEnsemble
from mulde.video.features import ObjectFeatures, Stream, VideoFeatures

detector, n, d, bound = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
bound = None if bound == "none" else int(bound)
per_video, frames = 2000, 100
rng = np.random.default_rng(0)
videos = {}
for i in range(n // per_video):
    X = rng.standard_normal((per_video, d)).astype(np.float32)
    videos[f"v{i}"] = VideoFeatures(
        {Stream.VELOCITY: ObjectFeatures(X, np.arange(per_video) % frames, frames)}, frames)
params = {"max_steps": 20, "hidden_sizes": (64, 64), "batch_size": 1024}
warm = dict(list(videos.items())[:2])  # imports and first-call set-up, outside the measure
StreamEnsemble(detector, 0, params, max_train_objects=bound).fit(warm)
with open("/proc/self/statm") as fh:
    rss_before = int(fh.read().split()[1]) * resource.getpagesize()
tracemalloc.start()
t0 = time.perf_counter()
StreamEnsemble(detector, 0, params, max_train_objects=bound).fit(videos)
seconds = time.perf_counter() - t0
_, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"detector": detector, "train_objects": n, "d": d, "max_train_objects": bound,
                  "input_mb": n * d * 4 / 2**20, "tracemalloc_peak_mb": peak / 2**20,
                  "rss_growth_mb": max(0, maxrss - rss_before) / 2**20, "fit_s": seconds}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 40_000, 160_000],
                        help="training objects per configuration (multiples of 2,000)")
    parser.add_argument("--knn-sizes", type=int, nargs="+", default=[10_000, 40_000],
                        help="sizes for kNN (leave-one-video-out is quadratic: kept small)")
    parser.add_argument("--d", type=int, default=16, help="feature dimension")
    parser.add_argument("--bound", type=int, default=10_000, help="max_train_objects")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "train_memory.json")
    args = parser.parse_args()
    runs = []
    plan = [(det, n) for det in ("gmm", "mulde") for n in args.sizes]
    plan += [("knn", n) for n in args.knn_sizes]
    for detector, n in plan:
        for bound in ("none", str(args.bound)):
            out = subprocess.run([sys.executable, "-c", FIT, detector, str(n), str(args.d),
                                  bound], check=True, capture_output=True, text=True).stdout
            runs.append(json.loads(out.strip().splitlines()[-1]))
            r = runs[-1]
            print(f"{detector:5s} n={n:7d} bound={bound:>6s}: traced peak "
                  f"{r['tracemalloc_peak_mb']:7.1f} MB, RSS growth {r['rss_growth_mb']:7.1f} MB,"
                  f" {r['fit_s']:.1f} s", flush=True)
    payload = new_header("train_memory", d=args.d, objects_per_video=2000,
                         mulde_params={"max_steps": 20, "hidden_sizes": [64, 64],
                                       "batch_size": 1024},
                         runs=runs)
    write_json(args.out, payload)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
