"""Label-free, UCSD Ped2 TRAINING videos only: does the Sidak-corrected pose frame score
still follow the number of people in the frame? (issue 14, round 7, docs/results.md)

Refits the pose stream of `objects:detector` from a finished run's feature cache as `mulde
run` does its out-of-fold calibration (MULDE with the run's defaults, seed 0, training video
i in fold i mod 4 scored by a model fitted on the other folds: `mulde.vad.ensemble.FitJob`),
then compares two frame scores over all training frames with the frame's head count (its
pose objects, i.e. person boxes): (a) the maximum over the frame's persons, the stream's
out-of-fold minimum for frames without one (today's; round 4 measured rho 0.342), and (b)
the Sidak-corrected maximum (`mulde.vad.fusion.sidak_frames`, reference = the out-of-fold
object scores). The registered rule: (b) <= 0.1 makes the candidate eligible for an
end-to-end comparison. No test video is read.

    OMP_NUM_THREADS=1 nice -n 19 python benchmarks/detector_pose_crowd_sidak.py \\
        --cache /tmp/a14d_empty_cache --key objects-8221db159e
"""

from __future__ import annotations

import argparse
import time
from functools import partial
from pathlib import Path

import numpy as np
from common import DATA_ROOT, RESULTS_DIR, new_header, write_json
from detector_streams import load_split

MAX_RHO = 0.1
FOLDS = 4


def build_parser() -> argparse.ArgumentParser:
    """The command line (the module docstring's command is tested against it)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DATA_ROOT / "ucsd_ped2")
    parser.add_argument("--cache", type=Path, required=True, help="the run's cache folder")
    parser.add_argument("--key", required=True, help="the feature cache key, objects-...")
    parser.add_argument("--out", type=Path,
                        default=RESULTS_DIR / "detector_pose_crowd_sidak.json")
    return parser


def main() -> int:
    args = build_parser().parse_args()
    import torch
    from scipy.stats import spearmanr

    torch.set_num_threads(1)
    from mulde.datasets import load_dataset
    from mulde.vad.ensemble import FitJob, run_fit_job, stack_stream
    from mulde.vad.fusion import objects_to_frames, sidak_frames
    from mulde.vad.stream_models import make_stream_model
    from mulde.video.features.records import Stream

    videos = load_dataset("ucsd_ped2", args.root).train
    features = load_split(args.cache, "train", args.key, videos)
    train = {v.name: features[v.name] for v in videos}
    X, groups = stack_stream(train, Stream.POSE)
    make = partial(make_stream_model, "mulde", 0, {})  # as StreamEnsemble._factory
    t0 = time.perf_counter()
    oof = np.empty(len(X))
    for fold in range(FOLDS):
        held = groups % FOLDS == fold
        oof[held] = run_fit_job(FitJob(make, X, groups, FOLDS, fold)).scores
        print(f"fold {fold}: {held.sum()} objects scored out of fold", flush=True)
    fit_s = time.perf_counter() - t0
    fill = float(oof.min())
    heads, top, sidak = [], [], []
    for i, v in enumerate(videos):
        pose = train[v.name][Stream.POSE]
        scores = oof[groups == i]
        heads.append(np.bincount(pose.frame_index, minlength=pose.n_frames))
        top.append(objects_to_frames(scores, pose.frame_index, pose.n_frames, empty=fill))
        sidak.append(sidak_frames(scores, pose.frame_index, pose.n_frames, oof))
    heads_all = np.concatenate(heads)
    rho_max = float(spearmanr(np.concatenate(top), heads_all).statistic)
    rho_sidak = float(spearmanr(np.concatenate(sidak), heads_all).statistic)
    eligible = rho_sidak <= MAX_RHO
    print(f"{len(X)} training persons, {heads_all.size} frames; Spearman with the head count: "
          f"maximum {rho_max:.3f}, Sidak-corrected {rho_sidak:.3f}; eligible (<= {MAX_RHO}): "
          f"{eligible}")
    write_json(args.out, new_header(
        "detector_pose_crowd_sidak", cache=str(args.cache), key=args.key,
        n_persons=int(len(X)), n_frames=int(heads_all.size), folds=FOLDS, fit_s=fit_s,
        spearman_vs_heads={"maximum": rho_max, "sidak": rho_sidak},
        rule={"max_rho": MAX_RHO}, eligible=bool(eligible)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
