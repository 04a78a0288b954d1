"""A pose rule from UCSD Ped2's TRAINING videos alone: which MoveNet persons to keep.

The pose stream of `objects:detector` scores crowded frames higher (round 3: its frame score
rises with the number of people in the frame), and MoveNet's keypoint confidences on Ped2's
15-40 px people are low (0.2-0.5). Candidate rule (`pose_min_confidence`): a person whose
mean keypoint confidence is below a level gets no pose object. For each level this fits the
pose stream as `mulde run` does (`mulde.pipeline.fit_ensemble`: MULDE, 4-fold out-of-fold
calibration, seed 0) on the training videos' kept persons and measures Spearman's rho
between the out-of-fold frame scores (maximum over the frame's kept persons; the stream's
fill where none is kept) and the frame's head count (all person boxes). No test video is
read. The registered rule (docs/results.md, "Round 4", rule 3) picks the smallest level with
rho <= 0.1 that keeps at least a quarter of the training persons; the levels are fitted in
increasing order and, unless --all, the first passing one ends the search.

Reads a finished run's feature cache (the pose objects' boxes and features) and runs MoveNet
again on those boxes for the confidences, which the cache does not hold (the features it
gives are checked against the cached ones).

    OMP_NUM_THREADS=1 nice -n 19 python benchmarks/detector_pose_confidence.py \\
        --cache /tmp/a14c_cache --key objects-1b4c847342 --threads 1
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from common import DATA_ROOT, RESULTS_DIR, new_header, write_json
from detector_streams import load_split

LEVELS = (0.0, 0.2, 0.25, 0.3, 0.35, 0.4)
"""Mean keypoint confidences tried (MoveNet's on Ped2's people: 0.2-0.5, issue 14)."""
MAX_RHO = 0.1
MIN_KEPT = 0.25


def choose(levels: list[float], rho: list[float], kept: list[float],
           max_rho: float = MAX_RHO, min_kept: float = MIN_KEPT) -> float | None:
    """The registered rule: the smallest level whose rho <= `max_rho` and which keeps at least
    `min_kept` of the training persons; None when no level passes (then no pose rule)."""
    passing = [lv for lv, r, k in zip(levels, rho, kept, strict=True)
               if r <= max_rho and k >= min_kept]
    return min(passing) if passing else None


def keep(record, confidence: np.ndarray, level: float):
    """The pose `ObjectFeatures` of the persons whose mean confidence is >= level."""
    from mulde.video.features.records import ObjectFeatures

    kept = confidence >= level
    return ObjectFeatures.build(record.features[kept], record.frame_index[kept],
                                record.boxes[kept], record.n_frames, record.dim)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DATA_ROOT / "ucsd_ped2")
    parser.add_argument("--cache", type=Path, required=True, help="the run's cache folder")
    parser.add_argument("--key", required=True, help="the feature cache key, objects-...")
    parser.add_argument("--levels", default=",".join(map(str, LEVELS)))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--all", action="store_true", help="fit every level (default: stop "
                        "at the first level that passes, which the rule then chooses)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "detector_pose_confidence.json")
    args = parser.parse_args()
    import cv2
    import torch
    from scipy.stats import spearmanr

    cv2.setNumThreads(args.threads)
    torch.set_num_threads(args.threads)
    from mulde.datasets import load_dataset
    from mulde.pipeline import fit_ensemble
    from mulde.video.detection.pose import load_movenet, normalised_pose
    from mulde.video.features.base import iter_source
    from mulde.video.features.records import Stream, VideoFeatures

    videos = load_dataset("ucsd_ped2", args.root).train
    features = load_split(args.cache, "train", args.key, videos)
    model = load_movenet(None, 1.25, args.threads)
    t0 = time.perf_counter()
    confidence, heads, worst = {}, [], 0.0
    for v in videos:
        pose = features[v.name][Stream.POSE]
        conf = np.zeros(pose.n_objects)
        for i, frame in enumerate(iter_source(v)):
            at = np.flatnonzero(pose.frame_index == i)
            if at.size:
                k = model.keypoints(frame, pose.boxes[at])
                conf[at] = k[:, :, 2].mean(axis=1)
                worst = max(worst, float(np.abs(normalised_pose(k, pose.boxes[at])
                                                - pose.features[at]).max()))
        confidence[v.name] = conf
        heads.append(np.bincount(pose.frame_index, minlength=v.n_frames))
    pose_s = time.perf_counter() - t0
    heads_all = np.concatenate(heads)
    all_conf = np.concatenate(list(confidence.values()))
    print(f"{all_conf.size} training persons, MoveNet again in {pose_s:.0f} s (largest "
          f"difference to the cached features {worst:.2e}); mean confidence quartiles "
          f"{np.percentile(all_conf, [25, 50, 75]).round(3).tolist()}")
    levels = [float(x) for x in args.levels.split(",")]
    rows = []
    for level in levels:
        train = {v.name: VideoFeatures({Stream.POSE: keep(features[v.name][Stream.POSE],
                                                          confidence[v.name], level)},
                                       v.n_frames) for v in videos}
        t0 = time.perf_counter()
        fit = fit_ensemble(train, "mulde", 0, progress=False).fits_[Stream.POSE]
        scores = np.concatenate(fit.train_frames)
        rho = float(spearmanr(scores, heads_all).statistic)
        kept = float((all_conf >= level).mean())
        rows.append({"level": level, "spearman_vs_heads": rho, "persons_kept": kept,
                     "frames_with_a_pose": float(np.mean(np.concatenate(
                         [train[v.name][Stream.POSE].objects_per_frame() > 0 for v in videos]))),
                     "fit_s": time.perf_counter() - t0})
        print(rows[-1], flush=True)
        if not args.all and choose([level], [rho], [kept]) is not None:
            break  # the smallest passing level: the rule's choice, larger ones cannot win
    chosen = choose(levels, [r["spearman_vs_heads"] for r in rows],
                    [r["persons_kept"] for r in rows])
    print(f"chosen level (rho <= {MAX_RHO}, persons kept >= {MIN_KEPT}): {chosen}")
    write_json(args.out, new_header(
        "detector_pose_confidence", cache=str(args.cache), key=args.key,
        n_persons=int(all_conf.size), movenet_again_s=pose_s, max_feature_difference=worst,
        confidence_quartiles=np.percentile(all_conf, [25, 50, 75]).tolist(),
        rule={"max_rho": MAX_RHO, "min_kept": MIN_KEPT}, levels=rows, chosen=chosen))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
