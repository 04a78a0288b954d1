"""Label-free evidence on the pose models, from a dataset's TRAINING frames alone.

MoveNet-Lightning (the pose stream's model) against BlazePose GHUM full (MediaPipe's
`pose_landmark_full.tflite`, Apache-2.0; its 33 landmarks mapped to the 17 COCO keypoints), on
the person boxes that `objects:detector`'s SSD finds (600 px input, score >= 0.5) on every
`--step`-th frame of the dataset's training videos (`--dataset`, default UCSD Ped2's 16;
decoded by `mulde.video.decode.iter_frames`, as the pipeline decodes them). Per person and
model:

- confidence: the mean over the 17 keypoints of the model's own keypoint score (MoveNet's
  heatmap score; BlazePose's visibility, a sigmoid of its logit). The two are different
  quantities, so this compares each model with itself (how often it says it sees the body),
  not the two with each other;
- flip error: the keypoints of the horizontally mirrored frame and box, mirrored back with
  left and right swapped, against the keypoints of the frame itself: the mean distance over
  the 17 keypoints in box heights. A model that sees the body gives the same keypoints
  either way; the same measure for both models, so it does compare them.

No test frame and no label is read. BlazePose's crop is the one MoveNet gets (a square of
1.25 times the box's longer side around its centre, no rotation), resized to 256 x 256 RGB in
[0, 1]. The BlazePose file: `pip download mediapipe==0.10.14 --no-deps`, then unzip
`mediapipe/modules/pose_landmark/pose_landmark_full.tflite` from the wheel (SHA-256 e9a5c5cb...).

    OMP_NUM_THREADS=1 python benchmarks/detector_pose_models.py --blazepose PATH --step 20
    OMP_NUM_THREADS=1 python benchmarks/detector_pose_models.py --dataset avenue \
        --root ../shared/data/avenue --out results/detector_pose_models_avenue.json

Without `--blazepose` only MoveNet is measured. The median box height (px) of the persons is
recorded too: the size the pose model sees them at.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from common import DATA_ROOT, RESULTS_DIR, new_header, write_json

COCO_FROM_BLAZEPOSE = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
"""BlazePose's landmark of each COCO keypoint (nose, eyes, ears, shoulders, elbows, wrists,
hips, knees, ankles; left before right)."""
MIRRORED = (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)
"""Each COCO keypoint's left-right counterpart (the nose is its own)."""


class BlazePose:
    """BlazePose GHUM full on box crops: `keypoints(frame, boxes)` -> (n, 17, 3) [x, y,
    visibility] in frame pixels, as `mulde.video.detection.pose.MoveNetPose` returns them."""

    def __init__(self, path: Path, margin: float = 1.25) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.model = Interpreter(str(path), num_threads=1)
        self.model.allocate_tensors()
        self.margin = margin
        self.input = self.model.get_input_details()[0]["index"]
        self.landmarks = {d["name"]: d["index"]
                          for d in self.model.get_output_details()}["Identity"]

    def keypoints(self, frame: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        from mulde.video.detection.pose import square_crop

        out = np.zeros((len(boxes), 17, 3), np.float32)
        for i, box in enumerate(boxes):
            crop, sx0, sy0, side = square_crop(frame, box, self.margin, 256)
            scale = side / 256
            self.model.set_tensor(self.input, (crop[None] / 255.0).astype(np.float32))
            self.model.invoke()
            lm = self.model.get_tensor(self.landmarks).reshape(39, 5)[list(COCO_FROM_BLAZEPOSE)]
            out[i, :, 0] = sx0 + lm[:, 0] * scale
            out[i, :, 1] = sy0 + lm[:, 1] * scale
            out[i, :, 2] = 1.0 / (1.0 + np.exp(-lm[:, 3]))
        return out


def flip_error(model, frame: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ((n,) mean confidence, (n,) flip error in box heights) of the n boxes."""
    width = frame.shape[1]
    kp = model.keypoints(frame, boxes)
    mirrored = boxes.copy()
    mirrored[:, 0], mirrored[:, 2] = width - boxes[:, 2], width - boxes[:, 0]
    back = model.keypoints(np.ascontiguousarray(frame[:, ::-1]), mirrored)[:, list(MIRRORED)]
    back[:, :, 0] = width - back[:, :, 0]
    err = np.hypot(kp[:, :, 0] - back[:, :, 0], kp[:, :, 1] - back[:, :, 1])
    return kp[:, :, 2].mean(axis=1), err.mean(axis=1) / (boxes[:, 3] - boxes[:, 1])


def summary(confidence: list[float], error: list[float], seconds: float) -> dict[str, float]:
    c, e = np.asarray(confidence), np.asarray(error)
    return {"mean_confidence": float(c.mean()), "median_confidence": float(np.median(c)),
            "share_confidence_at_least_0.5": float((c >= 0.5).mean()),
            "median_flip_error_box_heights": float(np.median(e)),
            "mean_flip_error_box_heights": float(e.mean()),
            "ms_per_crop": 1000 * seconds / (2 * len(c))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ucsd_ped2", help="a mulde dataset name")
    parser.add_argument("--root", type=Path, help="its root (default: the shared data's)")
    parser.add_argument("--blazepose", type=Path,
                        help="pose_landmark_full.tflite from the mediapipe 0.10.14 wheel "
                        "(default: MoveNet alone)")
    parser.add_argument("--step", type=int, default=20, help="every STEP-th training frame")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "detector_pose_models.json")
    args = parser.parse_args()
    from mulde.datasets import load_dataset
    from mulde.video.decode import iter_frames
    from mulde.video.detection import PERSON, DetectionSettings, build_detector
    from mulde.video.detection.pose import load_movenet

    detector = build_detector("ssd-mobilenet-v2-opencv", DetectionSettings(input_height=600))
    models = {"movenet_lightning": load_movenet(threads=1)}
    if args.blazepose is not None:
        models["blazepose_full"] = BlazePose(args.blazepose)
    seen = {name: ([], [], 0.0) for name in models}
    frames, heights = 0, []
    dataset = load_dataset(args.dataset, args.root or DATA_ROOT / args.dataset)
    for video in dataset.train:
        for i, rgb in enumerate(iter_frames(video.path)):
            if i % args.step:
                continue
            found = detector.detect([rgb])[0]
            boxes = found.boxes[found.classes == PERSON].astype(np.float64)
            frames += 1
            if not len(boxes):
                continue
            heights += (boxes[:, 3] - boxes[:, 1]).tolist()
            for name, model in models.items():
                t0 = time.perf_counter()
                confidence, error = flip_error(model, rgb, boxes)
                c, e, s = seen[name]
                seen[name] = (c + confidence.tolist(), e + error.tolist(),
                              s + time.perf_counter() - t0)
    result = {name: summary(*v) for name, v in seen.items()}
    persons = len(seen["movenet_lightning"][0])
    for name, r in result.items():
        print(f"{name:18s} persons {persons}  median confidence {r['median_confidence']:.3f}  "
              f">= 0.5: {r['share_confidence_at_least_0.5']:.3f}  median flip error "
              f"{r['median_flip_error_box_heights']:.4f} box heights  {r['ms_per_crop']:.1f} "
              "ms a crop")
    print(f"median person box height {np.median(heights):.0f} px")
    write_json(args.out, new_header("detector_pose_models", dataset=args.dataset,
                                    step=args.step, training_frames=frames, persons=persons,
                                    median_box_height_px=float(np.median(heights)),
                                    models=result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
