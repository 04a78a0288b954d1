"""Pre-registered feature candidates on UCSD Ped2: written down before their test numbers.

Each candidate was registered (what it is, why, which detector) before any of its Ped2 test
numbers was seen; the other rows are run for information after the fact and are labelled so.
No candidate became a default on the strength of these numbers (docs/results.md).

- `speed`: the `objects:ped2` velocity stream (mean flow magnitude over a grid cell's
  foreground pixels), the reference.
- `speed_xy` (candidate 1): [speed, x_centre / W, y_centre / H] of the cell: speed
  conditioned on where the object is (perspective; the walkable area).
- `motion5` (candidate 2): [mean speed, 90th-percentile speed, foreground fraction, mean dx,
  mean dy] of the cell: the shape and direction of the motion, not only its size.
- `appearance` (candidate 3): EfficientNet-Lite0 (1280-d) of 64x64 windows centred on the
  moving grid cells (speed above the training median cell speed; non-maximum suppression by
  speed, no two centres within 32 px; the fastest cell when none moves), fused (calibrated
  sum) with the speed stream, each stream with the same detector.
- `appearance128` (candidate 5): candidate 3's windows resampled to 128 px (not 64) before
  the backbone, fused with speed the same way.
- `oof4_mulde` (candidate 7): candidate 3's streams with MULDE calibrated on out-of-fold
  training scores (`StreamEnsemble(calibration_folds=4)`: 4 folds of the training videos).
- after the fact: `-log p(speed | y)` with one Gaussian (the position penalty of `speed_xy`
  removed), and speed divided by a line fitted to the speeds of the moving training cells
  (speed above the training median) against y (perspective normalisation).

Protocol as benchmarks/ped2_features_ablation.py (the package's `mulde.vad.StreamEnsemble`: max
over objects, calibration on training frame scores, streams summed; sigma = 3 smoothing,
micro/macro AUC). The speed-like candidates are the ensemble's velocity stream, the window
embeddings its appearance stream. Features come from that script's cache
(`grid_b2_1bin`) and, for `motion5`, from per-video descriptor files cached under
`--cache/motion5`.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/ped2_preregistered.py \
        --cache /tmp/mulde_ped2_features
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from common import (
    DATA_ROOT,
    RESULTS_DIR,
    load_ped2,
    new_header,
    set_single_thread,
    write_json,
)
from ped2_features_ablation import EXTRACTORS, extract_all

from mulde.evaluation import EvaluationProtocol, compute_metrics
from mulde.io.atomic import atomic_path
from mulde.vad import GMMStream, KNNStream, MULDEStream, StreamEnsemble, StreamModelSpec
from mulde.video.cache import FeatureCache
from mulde.video.features import (
    ObjectFeatures,
    Stream,
    VideoFeatures,
    crop_boxes,
    iter_source,
    to_gray,
)

REGISTERED = {
    "speed_xy": "2026-11-29T04:52Z, before any Ped2 test number of a position-conditioned "
                "feature: MULDE default on [speed, x/W, y/H]",
    "motion5": "2026-11-29T04:56Z, after candidate 1 had failed, before its own test numbers: "
               "MULDE default on [mean speed, p90 speed, foreground fraction, mean dx, mean dy]",
    "appearance": "2026-11-29T05:05Z, after candidates 1-2 had failed and after an error "
                  "analysis on test (declared in docs/results.md), before its own test numbers: "
                  "MULDE default on speed and on moving-object appearance, summed",
    "appearance128": "2026-11-29T08:25Z, after candidates 1-4 (and their test numbers), before "
                     "its own test numbers: candidate 3's windows resampled to 128 px instead "
                     "of 64 before EfficientNet-Lite0 (an ImageNet model of 224-px images; at "
                     "64 px its last feature map is 2x2 and a walker spans a few of its "
                     "receptive fields). MULDE default on speed and on these embeddings, "
                     "summed. Rule: if that sum beats MULDE on speed alone in this script "
                     "(same cells) on both micro and macro AUC, moving-object appearance at "
                     "128 px becomes the next stream to build into objects:ped2 and measure "
                     "through the pipeline; otherwise it is rejected",
    "oof_calibration": "2026-11-29T09:21Z (commit 6e0ccb1), before it was run, after "
                       "candidates 1-6 and their test numbers: candidate 3's two streams (speed; "
                       "EfficientNet-Lite0 of the 64 px windows on moving cells), each MULDE "
                       "default, each calibrated on out-of-fold training frame scores (4 folds "
                       "of the training videos, video i in fold i mod 4, each fold scored by a "
                       "MULDE fitted on the other three), test frames scored by the MULDE "
                       "fitted on all training videos, summed. Why: MULDE memorises "
                       "high-dimensional training objects (benchmarks/mulde_overfit.py), so "
                       "in-sample calibration puts the appearance stream's 99.9th percentile "
                       "too low and its normal test frames outweigh speed in the sum; AI-VAD "
                       "calibrates kNN leave-one-video-out for the same reason. Rule: if the "
                       "sum beats MULDE on speed alone with in-sample calibration (this "
                       "script) on both micro and macro AUC, out-of-fold calibration and the "
                       "moving-object appearance stream become the next things to build into "
                       "the pipeline; otherwise it is rejected",
}
Records = dict[str, ObjectFeatures]  # one stream of features per video, by name
Part = tuple[Records, Records]  # one stream's (training, test) records


def _record(arrays: Mapping[str, np.ndarray]) -> ObjectFeatures:
    """Return the record of a cached descriptor file (features, frame_index, boxes, n_frames)."""
    return ObjectFeatures(arrays["features"], arrays["frame_index"], int(arrays["n_frames"]),
                          arrays["boxes"])


def motion5(video, cache_dir: Path) -> ObjectFeatures:
    """Return (cached) the motion5 descriptors of a video's grid cells (objects:ped2 regions)."""
    from mulde.video.features import centred_flows, median_background

    path = cache_dir / f"{video.name}.npz"
    if path.exists():
        return _record(np.load(path))
    ex = EXTRACTORS["grid_b2_1bin"]
    grays = [to_gray(f) for f in iter_source(video)]
    background = median_background(grays, ex.background_frames)
    rows, frame_index, boxes = [], [], []
    flows = centred_flows(grays, ex.flow_baseline, ex.flow_preset)
    for t, (gray, flow) in enumerate(zip(grays, flows, strict=True)):
        for r in ex.find_regions(gray, background):
            x0, y0, x1, y1 = r.box
            vec = flow[y0:y1, x0:x1][r.mask].reshape(-1, 2).astype(np.float64)
            mag = np.hypot(vec[:, 0], vec[:, 1]) if len(vec) else np.zeros(1)
            d = vec.mean(axis=0) if len(vec) else np.zeros(2)
            rows.append([mag.mean(), np.percentile(mag, 90), r.mask.mean(), d[0], d[1]])
            frame_index.append(t)
            boxes.append(r.box)
    out = {"features": np.asarray(rows, np.float32), "frame_index": np.asarray(frame_index),
           "boxes": np.asarray(boxes, np.float32), "n_frames": np.asarray(len(grays))}
    cache_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **out)
    return _record(out)


def moving_appearance(video, cells: ObjectFeatures, threshold: float, cache_dir: Path,
                      size: int = 64) -> ObjectFeatures:
    """Return (cached) the EfficientNet-Lite0 embeddings of the 64-px windows around a video's
    moving cells (`cells`: its motion5 record; `threshold`: the moving speed), each window
    resampled to `size` px."""
    from mulde.video.backbones import load_backbone

    path = cache_dir / f"{video.name}.npz"
    if path.exists():
        return _record(np.load(path))
    speed, frame_index, boxes = cells.features[:, 0], cells.frame_index, cells.boxes
    crops, index, windows = [], [], []
    for t, frame in enumerate(iter_source(video)):
        k = np.flatnonzero(frame_index == t)
        k = k[np.argsort(-speed[k], kind="stable")]
        centres: list[tuple[float, float]] = []
        for j in k:
            if centres and speed[j] <= threshold:
                break
            x, y = (boxes[j, 0] + boxes[j, 2]) / 2, (boxes[j, 1] + boxes[j, 3]) / 2
            if all(abs(x - a) >= 32 or abs(y - b) >= 32 for a, b in centres):
                centres.append((x, y))
        w = np.array([[x - 32, y - 32, x + 32, y + 32] for x, y in centres], np.float32)
        crops.append(crop_boxes(frame, w, size))
        index += [t] * len(w)
        windows.append(w)
    out = {"features": load_backbone().embed(np.concatenate(crops)),
           "frame_index": np.asarray(index), "boxes": np.concatenate(windows),
           "n_frames": np.asarray(len(crops))}
    cache_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **out)
    return _record(out)


def training_evidence(train: list[ObjectFeatures], boxes: list[np.ndarray], width: int,
                      height: int) -> dict[str, Any]:
    """Return the training-only statistics behind candidate 4 and the perspective remark:
    how often a cell touching a frame edge holds a frame's maximum speed, by tail, and the
    median speed of moving cells (above the median) per eighth of the image height."""
    speed = np.concatenate([v.features[:, 0] for v in train])
    box = np.concatenate(boxes)
    edge = (box[:, 0] <= 0) | (box[:, 1] <= 0) | (box[:, 2] >= width) | (box[:, 3] >= height)
    moving = speed > np.median(speed)
    frame_max, frame_edge = [], []
    offset = 0
    for v in train:
        s, idx = v.features[:, 0], v.frame_index
        for t in range(v.n_frames):
            k = np.flatnonzero(idx == t)
            j = k[np.argmax(s[k])]
            frame_max.append(s[j])
            frame_edge.append(edge[offset + j])
        offset += len(s)
    frame_max, frame_edge = np.array(frame_max), np.array(frame_edge)
    tails = {f"top_{100 - q}%": float(frame_edge[frame_max >= np.percentile(frame_max, q)].mean())
             for q in (50, 90, 99)}
    y = (box[:, 1] + box[:, 3]) / 2 / height
    bands = np.minimum((y * 8).astype(int), 7)
    return {"edge_cells_among_moving": float(edge[moving].mean()),
            "frame_max_at_edge": {"all_frames": float(frame_edge.mean()), **tails},
            "median_moving_speed_per_height_eighth": [
                float(np.median(speed[moving & (bands == b)]))
                if (moving & (bands == b)).any() else None for b in range(8)]}


class ConditionalGMM:
    """-log p(x[0] | x[1:]) = -log p(x) + log p(x[1:]), one Gaussian each (standardised)."""

    name = "cond_gmm1"

    def fit(self, X: np.ndarray, groups: np.ndarray) -> ConditionalGMM:
        self.joint, self.cond = GMMStream(1).fit(X, groups), GMMStream(1).fit(X[:, 1:], groups)
        self.X_ = X
        return self

    def score(self, X: np.ndarray) -> np.ndarray:
        return self.joint.score(X) - self.cond.score(X[:, 1:])

    def train_scores(self) -> np.ndarray:
        return self.score(self.X_)


class PerspectiveSpeed:
    """speed / (a + b y): the line fitted to moving training cells' speed against y."""

    name = "speed_over_line"

    def fit(self, X: np.ndarray, groups: np.ndarray) -> PerspectiveSpeed:
        moving = X[:, 0] > np.median(X[:, 0])
        self.coef_ = np.polyfit(X[moving, 1], X[moving, 0], 1)
        self.X_ = X
        return self

    def score(self, X: np.ndarray) -> np.ndarray:
        return X[:, 0] / np.maximum(np.polyval(self.coef_, X[:, 1]), 0.05)

    def train_scores(self) -> np.ndarray:
        return self.score(self.X_)


def grid_stream(vf: VideoFeatures, columns: str, width: int, height: int) -> ObjectFeatures:
    """Return the velocity stream of a `grid_b2_1bin` video as `columns` ('speed', 'speed_xy'
    or 'speed_y'), in float64 (the position columns are not float32 values)."""
    s = vf[Stream.VELOCITY]
    b = s.boxes.astype(np.float64)
    xy = np.c_[(b[:, 0] + b[:, 2]) / 2 / width, (b[:, 1] + b[:, 3]) / 2 / height]
    f = s.features.astype(np.float64)
    X = {"speed": f, "speed_xy": np.c_[f, xy], "speed_y": np.c_[f, xy[:, 1]]}[columns]
    return ObjectFeatures(X, s.frame_index, vf.n_frames)


MODELS: dict[str, tuple[StreamModelSpec, int | None]] = {
    "mulde": (MULDEStream, None), "gmm1": (partial(GMMStream, 1), None),
    "knn": (partial(KNNStream, 1), None), "cond_gmm1": (ConditionalGMM, None),
    "speed_over_line": (PerspectiveSpeed, None), "oof4_mulde": (MULDEStream, 4)}
"""Each row's stream model by name, with its calibration folds (None: in-sample training
scores, kNN leave-one-video-out; 4: candidate 7's out-of-fold calibration)."""


def metrics_of(scores: dict[str, np.ndarray], labels, protocol) -> dict:
    m = compute_metrics(scores, labels, protocol)
    return {k: m[k] for k in ("micro_auc", "macro_auc", "micro_auc_unsmoothed",
                              "macro_auc_unsmoothed", "per_video_auc")}


def evaluate(parts: Mapping[Stream, Part], model: str, labels, protocol) -> dict:
    """Return the metrics of the `StreamEnsemble` on `parts` (stream -> its training and test
    records; several streams are summed), each stream with its own `model` (by name:
    `MODELS`), and the seconds of fitting and scoring."""
    t0 = time.perf_counter()
    make, folds = MODELS[model]

    def videos(split: int) -> dict[str, VideoFeatures]:
        names = next(iter(parts.values()))[split]
        return {name: VideoFeatures.of({stream: part[split][name]
                                        for stream, part in parts.items()}) for name in names}

    ensemble = StreamEnsemble(make, calibration_folds=folds).fit(videos(0))
    scores = {name: s.fused for name, s in ensemble.score(videos(1)).items()}
    return metrics_of(scores, labels, protocol) | {
        "fit_score_seconds": time.perf_counter() - t0}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA_ROOT / "ucsd_ped2")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/mulde_ped2_features"))
    ap.add_argument("--out", type=Path, default=RESULTS_DIR / "ped2_preregistered.json")
    args = ap.parse_args(argv)
    set_single_thread()
    dataset = load_ped2(args.data)
    if dataset is None:
        return 2
    labels = {v.name: v.labels for v in dataset.test}
    height, width = next(iter(dataset.train[0].frames())).shape[:2]
    feats, _ = extract_all(dataset, "grid_b2_1bin", EXTRACTORS["grid_b2_1bin"],
                           FeatureCache(args.cache), args.cache / "timings.json")

    def grid(columns: str) -> Part:
        return ({v.name: grid_stream(feats["train"][v.name], columns, width, height)
                 for v in dataset.train},
                {v.name: grid_stream(feats["test"][v.name], columns, width, height)
                 for v in dataset.test})

    def per_video(make: Any, split: str, videos: list) -> Records:
        return {v.name: make(v, args.cache / split) for v in videos}

    evidence = training_evidence(
        list(grid("speed")[0].values()), [feats["train"][v.name][Stream.VELOCITY].boxes
                                          for v in dataset.train], width, height)
    print("training evidence:", evidence, flush=True)
    m5 = (per_video(motion5, "motion5/train", dataset.train),
          per_video(motion5, "motion5/test", dataset.test))
    models = ("mulde", "gmm1", "knn")
    velocity = Stream.VELOCITY
    plan = [("speed", "reference (objects:ped2)", grid("speed"), m) for m in models]
    plan += [("speed_xy", "candidate 1 (registered: mulde)", grid("speed_xy"), m)
             for m in models]
    plan += [("motion5", "candidate 2 (registered: mulde)", m5, m) for m in models]
    plan += [("speed_y", "after the fact", grid("speed_y"), "cond_gmm1"),
             ("speed_y", "after the fact", grid("speed_y"), "speed_over_line")]
    protocol = EvaluationProtocol(smoothing_sigma=3.0)
    rows = []
    for features, status, part, model in plan:
        r = evaluate({velocity: part}, model, labels, protocol)
        rows.append({"features": features, "model": model, "status": status, **r})
        print(f"{features:9s} {model:16s} micro {100 * r['micro_auc']:.2f} "
              f"macro {100 * r['macro_auc']:.2f}  ({status})", flush=True)
    moving = float(np.median(np.concatenate([v.features[:, 0] for v in m5[0].values()])))

    def windows(folder: str, size: int) -> Part:
        return tuple({v.name: moving_appearance(v, cells[v.name], moving,
                                                args.cache / folder / split, size)
                      for v in videos}
                     for split, videos, cells in (("train", dataset.train, m5[0]),
                                                  ("test", dataset.test, m5[1])))

    app = windows("appearance", 64)
    t0 = time.perf_counter()
    app128 = windows("appearance128", 128)
    print(f"appearance128 features: {time.perf_counter() - t0:.0f} s (0 when cached)", flush=True)
    appearance = Stream.APPEARANCE
    for candidate, status, a in (
            ("", "candidate 3 (registered: mulde on speed+appearance)", app),
            ("128", "candidate 5 (registered: mulde on speed+appearance128)", app128)):
        for model in models:
            for name, parts in ((f"appearance{candidate}", {appearance: a}),
                                (f"speed+appearance{candidate}",
                                 {velocity: grid("speed"), appearance: a})):
                r = evaluate(parts, model, labels, protocol)
                rows.append({"features": name, "model": model, "status": status, **r})
                print(f"{name:9s} {model:16s} micro {100 * r['micro_auc']:.2f} "
                      f"macro {100 * r['macro_auc']:.2f}", flush=True)
    for name, parts in (("speed", {velocity: grid("speed")}), ("appearance", {appearance: app}),
                        ("speed+appearance", {velocity: grid("speed"), appearance: app})):
        r = evaluate(parts, "oof4_mulde", labels, protocol)
        rows.append({"features": name, "model": "oof4_mulde", "status":
                     "candidate 7 (registered: oof4_mulde on speed+appearance)", **r})
        print(f"{name:9s} oof4_mulde       micro {100 * r['micro_auc']:.2f} "
              f"macro {100 * r['macro_auc']:.2f}", flush=True)
    write_json(args.out, new_header("ped2_preregistered", protocol=protocol.to_dict(),
                                    registered=REGISTERED, training_evidence=evidence,
                                    rows=rows))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
