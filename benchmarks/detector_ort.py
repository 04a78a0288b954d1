"""The SSD of `objects:detector` on ONNX Runtime (fp32, int8) against OpenCV, on UCSD Ped2
TRAINING frames only (issue 14, round 8; rule registered in docs/results.md before the run).

Frames: round 3's 48 anchors (3 per training video, `detector_every.py`'s positions). For
each route, the boxes after the preset's policy (`DetectionSettings()`: 600 px input height,
score 0.5, class-agnostic NMS 0.5) and the seconds a frame (frames already read; resize,
network, decoding, NMS and policy counted), best of `--repeats` passes after a warm-up pass,
all routes in one process with `--threads` threads. Person recall: the share of OpenCV's
person boxes matched at IoU >= 0.5 (greedy one-to-one, `detector_shortcuts.matched`) by the
route's person boxes on the same frame; precision the other way round.

    # int8 model (untimed): static QDQ quantization calibrated on 32 other training frames
    OMP_NUM_THREADS=1 nice -n 19 python benchmarks/detector_ort.py quantize \
        --onnx SSD.onnx --out /tmp/ssd_int8.onnx
    flock /work/helpers/heavy.lock python benchmarks/detector_ort.py --threads 1 \
        --onnx SSD.onnx --int8 /tmp/ssd_int8.onnx

SSD.onnx: the file `tools/convert_ssd_onnx.py` writes (`make ssd-onnx`).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from common import DATA_ROOT, RESULTS_DIR, new_header, ped2_training_folders, read_rgb, write_json
from detector_shortcuts import matched, persons

RECALL_BAR, SPEEDUP_BAR = 0.99, 1.5  # registered in docs/results.md (round 8) before the run


def anchor_files(folders: list[Path], per_video: int = 3) -> list[Path]:
    """Round 3's anchors: per video `np.linspace(5, n - 1, per_video)` (detector_every.py)."""
    out = []
    for folder in folders:
        files = sorted(folder.glob("*.jpg"))
        out += [files[t] for t in np.linspace(5, len(files) - 1, per_video).astype(int)]
    return out


def calibration_files(folders: list[Path]) -> list[Path]:
    """The int8 calibration frames: per video positions 1 and 4 of np.linspace(0, n - 1, 6)."""
    out = []
    for folder in folders:
        files = sorted(folder.glob("*.jpg"))
        out += [files[t] for t in np.linspace(0, len(files) - 1, 6).astype(int)[[1, 4]]]
    return out


def quantize(args: argparse.Namespace, folders: list[Path]) -> int:
    """Write the int8 model: QDQ, per-channel, uint8 activations / int8 weights, MinMax."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    calibration = calibration_files(folders)
    overlap = set(calibration) & set(anchor_files(folders))
    if overlap:
        print(f"calibration frames overlap the anchors: {sorted(overlap)[:3]}", file=sys.stderr)
        return 2

    class Frames(CalibrationDataReader):
        def __init__(self) -> None:
            self.files = iter(calibration)

        def get_next(self) -> dict | None:
            path = next(self.files, None)
            if path is None:
                return None
            x = cv2.resize(read_rgb(path), (900, 600)).astype(np.float32) * (2 / 255) - 1
            return {"image": x[None]}

    prepared = args.out.with_suffix(".pre.onnx")
    quant_pre_process(str(args.onnx), str(prepared))
    quantize_static(str(prepared), str(args.out), Frames(), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)
    prepared.unlink()
    print(f"wrote {args.out} from {len(calibration)} calibration frames")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", choices=("measure", "quantize"), default="measure")
    parser.add_argument("--root", type=Path, default=DATA_ROOT / "ucsd_ped2")
    parser.add_argument("--onnx", type=Path, required=True, help="the converted fp32 SSD")
    parser.add_argument("--int8", type=Path, help="the int8 model (measure)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "detector_ort.json")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    folders = ped2_training_folders(args.root)
    if folders is None:
        return 2
    if args.command == "quantize":
        return quantize(args, folders)
    from mulde.video.detection import DetectionSettings
    from mulde.video.detection.ssd import OpenCVSSD
    from mulde.video.detection.ssd_ort import OrtSSD

    cv2.setNumThreads(args.threads)
    files = anchor_files(folders)
    frames = [read_rgb(f) for f in files]
    settings = DetectionSettings(batch=1)
    routes = {"opencv": OpenCVSSD(settings),
              "ort_fp32": OrtSSD(settings, args.onnx, threads=args.threads)}
    if args.int8:  # the same network quantized: not the recorded file, so not verified
        routes["ort_int8"] = OrtSSD(settings, args.int8, threads=args.threads, verify=False)
    found, seconds = {}, {}
    for name, detector in routes.items():
        found[name] = [detector.detect([f])[0] for f in frames]  # warm-up
        best = float("inf")
        for _ in range(args.repeats):
            start = time.perf_counter()
            for f in frames:
                detector.detect([f])
            best = min(best, time.perf_counter() - start)
        seconds[name] = best / len(frames)
        print(name, seconds[name], flush=True)
    reference = [persons(d) for d in found["opencv"]]
    total = sum(len(r) for r in reference)
    rows = {}
    for name in routes:
        mine = [persons(d) for d in found[name]]
        hits = sum(matched(r, m) for r, m in zip(reference, mine, strict=True))
        back = sum(matched(m, r) for r, m in zip(reference, mine, strict=True))
        n = sum(len(m) for m in mine)
        rows[name] = {"s_per_frame": seconds[name], "person_boxes": n,
                      "person_recall_vs_opencv": hits / max(total, 1),
                      "person_precision_vs_opencv": back / max(n, 1),
                      "speedup_vs_opencv": seconds["opencv"] / seconds[name]}
        print(name, rows[name], flush=True)

    def passes(name: str) -> bool:
        return (name in rows and rows[name]["person_recall_vs_opencv"] >= RECALL_BAR
                and rows[name]["speedup_vs_opencv"] >= SPEEDUP_BAR)

    adopted = None
    if passes("ort_fp32"):
        adopted = "ort_fp32"
    if passes("ort_int8") and (adopted is None or seconds["ort_int8"] < seconds["ort_fp32"]):
        adopted = "ort_int8"
    result = new_header("detector_ort", threads=args.threads, anchors=[
        f"{f.parent.name}/{f.name}" for f in files], reference_person_boxes=total,
        input_size=list(settings.input_size(*frames[0].shape[:2])[::-1]), routes=rows,
        onnx_sha256=routes["ort_fp32"].sha256,
        rule="docs/results.md, Round 8: fp32 adopted if recall >= 0.99 and speed-up >= 1.5; "
             "int8 replaces it only if it meets both and is faster than fp32",
        adopted=adopted)
    write_json(args.out, result)
    print({"adopted": adopted})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
