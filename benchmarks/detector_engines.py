"""OpenCV 5's two DNN engines on the SSD of `objects:detector`, side by side in one run.

OpenCV 5 reads a TensorFlow graph with its new engine unless told otherwise; the classic
engine is the one OpenCV 4 had. Both run the same SSD-MobileNet-v2 graph on the same UCSD Ped2
frames (test 04, frames 60-91, upscaled to the preset's 900x600 input), at 1 and 2 threads
and batches of 1 and 4 frames; reported: seconds a frame (best of `--repeats` passes after a
warm-up pass), the classic / new time ratio, and in each setting the largest difference
between the engines' detection rows (class, score, corners) scoring >= 0.3.

    flock /work/helpers/heavy.lock python benchmarks/detector_engines.py
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from common import DATA_ROOT, RESULTS_DIR, new_header, read_rgb, write_json

ENGINES = ("ENGINE_CLASSIC", "ENGINE_NEW")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DATA_ROOT / "ucsd_ped2")
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "detector_engines.json")
    args = parser.parse_args()
    from mulde.video.detection.weights import SSD_GRAPH, SSD_TEXT_GRAPH, resolve

    files = sorted((args.root / "testing" / "frames" / "04").glob("*.jpg"))[60:60 + args.frames]
    if not files:
        print(f"no Ped2 test frames under {args.root}", file=sys.stderr)
        return 2
    frames = [read_rgb(f) for f in files]
    graph, text = str(resolve(SSD_GRAPH, None, False)), str(resolve(SSD_TEXT_GRAPH, None, False))
    rows: list[dict] = []
    for threads in (1, 2):
        cv2.setNumThreads(threads)
        for batch in (1, 4):
            seconds, outputs = {}, {}
            for engine in ENGINES:
                net = cv2.dnn.readNetFromTensorflow(graph, text, getattr(cv2.dnn, engine))

                def run(net=net, batch=batch) -> list[np.ndarray]:
                    out = []
                    for s in range(0, len(frames), batch):
                        net.setInput(cv2.dnn.blobFromImages(frames[s:s + batch], size=(900, 600),
                                                            swapRB=False))
                        out.append(net.forward().reshape(-1, 7))
                    return out

                outputs[engine] = run()  # warm-up
                best = float("inf")
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    run()
                    best = min(best, time.perf_counter() - start)
                seconds[engine] = best / len(frames)
            rows.append({"threads": threads, "batch": batch,
                         **{f"{e.split('_')[1].lower()}_s_per_frame": seconds[e] for e in ENGINES},
                         "classic_over_new": seconds["ENGINE_CLASSIC"] / seconds["ENGINE_NEW"],
                         "max_row_difference": row_difference(*outputs.values())})
            print(rows[-1], flush=True)
    largest = max(r["max_row_difference"] for r in rows)
    result = new_header("detector_engines", frames=[f"04/{f.name}" for f in files],
                        input_size=[900, 600], rows=rows, max_row_difference=largest,
                        same_detections=bool(np.isfinite(largest)))
    write_json(args.out, result)
    print({"max_row_difference": largest})
    return 0


def row_difference(first: list[np.ndarray], second: list[np.ndarray]) -> float:
    """The largest difference between two engines' rows scoring >= 0.3 (inf when the number
    of such rows differs in a batch)."""
    out = 0.0
    for a, b in zip(first, second, strict=True):
        a, b = a[a[:, 2] >= 0.3], b[b[:, 2] >= 0.3]
        if len(a) != len(b):
            return float("inf")
        if len(a):
            out = max(out, float(np.abs(a[:, 1:] - b[:, 1:]).max()))
    return out


if __name__ == "__main__":
    raise SystemExit(main())
