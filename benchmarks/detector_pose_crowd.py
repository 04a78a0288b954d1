"""Label-free: does a stream's frame score follow the number of people in the frame?

For a finished `mulde run ucsd_ped2 ... --extractor objects:detector` (its saved model and
feature cache), each stream's frame scores (maximum over the frame's objects, the model's
empty-frame fill; training frames scored in-sample by the final model) against the number of
person boxes (pose objects) in the frame: Spearman's rho over the training frames and over the
test frames, no labels read. A stream whose frame maximum grows with the crowd flags crowded
normal frames (what the per-stream diagnostic saw for pose on test 12).

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/detector_pose_crowd.py --run /tmp/a14_run
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from common import DATA_ROOT, RESULTS_DIR, new_header, write_json
from detector_streams import load_split
from scipy.stats import spearmanr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DATA_ROOT / "ucsd_ped2")
    parser.add_argument("--run", type=Path, required=True, help="the run's --out folder")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "detector_pose_crowd.json")
    args = parser.parse_args()
    from mulde.datasets import load_dataset
    from mulde.vad.artifact import PipelineModel
    from mulde.vad.ensemble import frame_scores
    from mulde.video.features.records import Stream

    model = PipelineModel.load(args.run / "model")
    dataset = load_dataset("ucsd_ped2", args.root)
    first = next((args.run / "cache" / "ucsd_ped2" / "test").glob("*.npz"))
    key = first.name.split(".")[1]
    rho: dict[str, dict[str, float]] = {}
    for split, videos in (("train", dataset.train), ("test", dataset.test)):
        features = load_split(args.run / "cache", split, key, videos)
        people = np.concatenate([np.bincount(features[v.name][Stream.POSE].frame_index,
                                             minlength=v.n_frames) for v in videos])
        rho[split] = {}
        for stream, fit in model.ensemble.fits_.items():
            scores = np.concatenate([
                frame_scores(fit.model.score(features[v.name][stream].features
                                             .astype(np.float64)),
                             features[v.name][stream], fit.fill) for v in videos])
            rho[split][stream.value] = float(spearmanr(scores, people).statistic)
    write_json(args.out, new_header("detector_pose_crowd", run=str(args.run), key=key,
                                    spearman_frame_score_vs_people=rho))
    print(rho)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
