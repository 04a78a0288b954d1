"""Seconds per stage of the `objects:detector` extractor on UCSD Ped2 training videos: decode,
detection (SSD-MobileNet-v2 at the preset's policy, no box cache), regions, flow, velocity,
pose (MoveNet per person box) and appearance (EfficientNet-Lite0 per box), with frames/s per
stage, milliseconds per object of the per-object stages, and the number of boxes and person
boxes. Training videos only.

OpenMP threads wait by sleeping (OMP_WAIT_POLICY=PASSIVE) unless the environment names a
policy, as the `mulde` command sets it (`mulde.cli.process_settings`): with spinning waits
PyTorch's threads fight the machine's other processes, and the appearance stage measured
68 ms per 64 px crop instead of a few (OMP_WAIT_POLICY=ACTIVE reproduces that).

    nice -n 5 python benchmarks/detector_stages.py --threads 2 --videos 01
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import cv2
from common import DATA_ROOT, RESULTS_DIR, new_header, write_json


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DATA_ROOT / "ucsd_ped2")
    parser.add_argument("--videos", nargs="+", default=["01"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "detector_stages.json")
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read once, when torch loads
    import torch

    from mulde.video.features.records import Stream
    from mulde.video.features.registry import build_extractor
    from mulde.video.source import Video

    cv2.setNumThreads(args.threads)
    torch.set_num_threads(args.threads)
    extractor = build_extractor("objects:detector")
    extractor.params  # noqa: B018 (loads the detector before the clock starts)
    timings: dict[str, float] = {}
    frames = boxes = persons = 0
    start = time.perf_counter()
    for name in args.videos:
        folder = args.root / "training" / "frames" / name
        if not folder.is_dir():
            print(f"no training video {folder}", file=sys.stderr)
            return 2
        vf = extractor.extract(Video(name, folder), timings)
        frames += vf.n_frames
        boxes += vf[Stream.VELOCITY].n_objects
        persons += vf[Stream.POSE].n_objects
    wall = time.perf_counter() - start
    result = new_header("detector_stages", threads=args.threads, videos=args.videos,
                        frames=frames, objects=boxes, person_objects=persons, wall_s=wall,
                        seconds=timings,
                        frames_per_s={k: frames / v for k, v in timings.items() if v > 0},
                        ms_per_object={k: 1000 * timings[k] / n for k, n in
                                       (("appearance", boxes), ("pose", persons))
                                       if n and k in timings},
                        omp_wait_policy=os.environ["OMP_WAIT_POLICY"],
                        load_average=os.getloadavg(), params=extractor.params)
    write_json(args.out, result)
    print({"frames": frames, "objects": boxes, "persons": persons, "wall_s": round(wall, 1),
           "seconds": {k: round(v, 1) for k, v in timings.items()}})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
