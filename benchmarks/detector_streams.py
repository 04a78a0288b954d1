"""Which stream of `objects:detector` helps and which hurts, per test video (UCSD Ped2).

Reads the cached features of a finished `mulde run ucsd_ped2 ... --extractor
objects:detector` (no detection, flow, pose or appearance is computed again), adds the class
stream (`mulde.video.features.streams.class_evidence`) from the run's cached boxes: each
object of the velocity stream (the regions: detector boxes, or the whole frame) takes the
class and score of the cached box it was made from, found by frame and box. Then fits the
ensemble once with the defaults of `mulde run` (`mulde.pipeline.fit_ensemble`: MULDE, 4-fold
out-of-fold calibration, seed 0) on every stream and reports, with the test labels (for
reporting only, docs/results.md "Round 3"): each stream's own calibrated frame scores' micro /
macro / per-video AUC, and the fused sum of several stream sets (the preset's three streams,
with the class stream, and each stream left out). Streams are fitted independently (one model
per stream, each seeded alike), so a subset's sum is what an ensemble of that subset gives.

    OMP_NUM_THREADS=1 nice -n 19 python benchmarks/detector_streams.py \\
        --cache /tmp/i14_ped2/cache --key objects-454fb653ed
"""

from __future__ import annotations

import argparse
import sys
import time
from itertools import combinations
from pathlib import Path

import numpy as np
from common import DATA_ROOT, RESULTS_DIR, new_header, write_json


def load_split(cache: Path, split: str, key: str, videos, dataset: str = "ucsd_ped2") -> dict:
    """name -> VideoFeatures of one split of `dataset` from the feature cache's .npz files."""
    from mulde.video.features.records import ObjectFeatures, VideoFeatures

    out = {}
    for v in videos:
        path = cache / dataset / split / f"{v.name}.{key}.npz"
        with np.load(path, allow_pickle=False) as data:
            fields: dict[str, dict[str, np.ndarray]] = {}
            for k in data.files:
                stream, field = k.split("/", 1)
                fields.setdefault(stream, {})[field] = data[k]
        out[v.name] = VideoFeatures({s: ObjectFeatures.from_arrays(a, v.n_frames, str(path))
                                     for s, a in fields.items()}, v.n_frames)
    return out


def class_record(features, video, boxes_dir: Path) -> tuple[object, int]:
    """The class stream of one video from its cached boxes; also how many non-whole-frame
    objects found no cached box (0 when the cache and the features agree)."""
    from mulde.video.features.detections import read_detections
    from mulde.video.features.records import ObjectFeatures
    from mulde.video.features.streams import DETECTOR_CLASSES, class_evidence
    from mulde.video.source import source_checksum

    csv = boxes_dir / f"{video.name}.{source_checksum(video.path)[:12]}.csv"
    velocity = features["velocity"]
    width, height = 360, 240
    found = read_detections(csv, video.n_frames, width, height)
    labels = np.full(velocity.n_objects, -1)
    scores = np.zeros(velocity.n_objects)
    missing = 0
    for i, (t, box) in enumerate(zip(velocity.frame_index, velocity.boxes, strict=True)):
        d = found[int(t)]
        hit = np.flatnonzero((d.boxes == box[None, :]).all(axis=1))
        if len(hit):
            labels[i], scores[i] = d.classes[hit[0]], d.scores[hit[0]]
        elif not (box[0] == 0 and box[1] == 0 and box[2] == width and box[3] == height):
            missing += 1
    feats = class_evidence(labels, scores, DETECTOR_CLASSES)
    return ObjectFeatures.build(feats, velocity.frame_index, velocity.boxes, video.n_frames,
                                feats.shape[1]), missing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DATA_ROOT / "ucsd_ped2")
    parser.add_argument("--cache", type=Path, required=True, help="the run's cache folder")
    parser.add_argument("--key", required=True, help="the feature cache key, objects-...")
    parser.add_argument("--boxes", type=Path, help="the box cache folder (default: the only "
                        "folder under CACHE/ucsd_ped2/boxes)")
    parser.add_argument("--detector", default="mulde")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "detector_streams.json")
    args = parser.parse_args()
    from mulde.datasets import load_dataset
    from mulde.evaluation.protocol import EvaluationProtocol, compute_metrics
    from mulde.pipeline import fit_ensemble
    from mulde.video.features.records import Stream, VideoFeatures

    dataset = load_dataset("ucsd_ped2", args.root)
    boxes = args.boxes or next((args.cache / "ucsd_ped2" / "boxes").iterdir())
    train = load_split(args.cache, "train", args.key, dataset.train)
    test = load_split(args.cache, "test", args.key, dataset.test)
    unmatched = 0
    for feats, vids in ((train, dataset.train), (test, dataset.test)):
        for v in vids:
            record, missing = class_record(feats[v.name], v, boxes)
            unmatched += missing
            feats[v.name] = VideoFeatures({**dict(feats[v.name].items()),
                                           Stream.CLASS: record}, v.n_frames)
    t0 = time.perf_counter()
    ensemble = fit_ensemble(train, args.detector, args.seed, progress=False)
    fit_s = time.perf_counter() - t0
    scored = ensemble.score(test)
    labels = {v.name: v.labels for v in dataset.test}
    protocol = EvaluationProtocol(smoothing_sigma=dataset.smoothing_sigma)
    keys = ("micro_auc", "macro_auc", "micro_auc_unsmoothed", "macro_auc_unsmoothed",
            "per_video_auc")

    def metrics(streams: tuple[Stream, ...]) -> dict:
        scores = {n: np.sum([s.streams[x] for x in streams], axis=0) for n, s in scored.items()}
        m = compute_metrics(scores, labels, protocol)
        return {k: m[k] for k in keys}

    streams = tuple(ensemble.streams)
    preset = tuple(s for s in streams if s is not Stream.CLASS)
    sets = {"+".join(s.value for s in c): c for r in (1, len(streams) - 1, len(streams))
            for c in combinations(streams, r)}
    sets["+".join(s.value for s in preset)] = preset
    results = {name: metrics(c) for name, c in sets.items()}
    # where each stream puts its weight in the worst videos: the mean calibrated frame score
    # on the video's normal and anomalous frames
    worst = {}
    for name in ("01", "06", "12"):
        y = np.asarray(labels[name], bool)
        worst[name] = {s.value: {"normal": float(scored[name].streams[s][~y].mean()),
                                 "anomalous": float(scored[name].streams[s][y].mean())}
                       for s in streams}
    fits = {s.value: {"dim": f.dim, "train_objects": f.train_objects, "fit_s": f.fit_s,
                      "calibrate_s": f.calibrate_s,
                      "calibration": f.calibration.to_dict()} for s, f in ensemble.fits_.items()}
    result = new_header("detector_streams", cache=str(args.cache), key=args.key,
                        boxes=str(boxes), detector=args.detector, seed=args.seed,
                        calibration_folds=ensemble.calibration_folds,
                        unmatched_boxes=unmatched, fit_s=fit_s, fits=fits,
                        results=results, mean_calibrated_scores=worst)
    write_json(args.out, result)
    for name, m in results.items():
        per = " ".join(f"{k}:{100 * v:.1f}" for k, v in m["per_video_auc"].items()
                       if k in ("01", "06", "12"))
        print(f"{name:42s} micro {100 * m['micro_auc']:.2f} macro {100 * m['macro_auc']:.2f}"
              f"  {per}")
    if unmatched:
        print(f"{unmatched} object(s) found no cached box", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
