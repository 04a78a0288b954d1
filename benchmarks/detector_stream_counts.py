"""Label-free, TRAINING videos only: does each stream's frame score follow how many objects
(or people) the frame holds? (issue 14, round 10, docs/results.md)

A frame's score in a stream is the maximum over its objects, and the maximum of more draws is
larger whatever the draws are, so a stream can rank crowded frames as anomalous for their
crowd alone (rounds 4 and 7 measured it for the pose stream on UCSD Ped2). This fits the
ensemble on a finished run's cached training features exactly as `mulde run` does for
`objects:detector` (`mulde.pipeline.fit_ensemble`: MULDE with the preset's 1,000 steps, its
2 out-of-fold calibration folds and 128 appearance components, seed 0) and reports, per
stream, Spearman's rho over all training frames between the stream's out-of-fold frame
scores (what its calibration sees) and (a) the frame's objects in that stream, (b) the
frame's people (its pose objects when the run has the pose stream, else its person boxes
from the class stream). No test video is read.

    OMP_NUM_THREADS=1 python benchmarks/detector_stream_counts.py --dataset ucsd_ped2 \\
        --cache /tmp/r10_base_cache --out results/detector_stream_counts_ped2.json
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from common import DATA_ROOT, RESULTS_DIR, new_header, write_json
from detector_streams import load_split

PERSON_SLOT = 0
"""The class stream's column of the person class (`streams.DETECTOR_CLASSES` order)."""


def load_train(cache: Path, dataset: str, videos, key: str | None) -> tuple[dict, str]:
    """name -> VideoFeatures of the training videos from the feature cache's .npz files, and
    the cache key used (the only `objects-*` one there unless `key` names it)."""
    folder = cache / dataset / "train"
    if key is None:
        found = sorted({p.name.split(".")[1] for p in folder.glob("*.objects-*.npz")})
        if len(found) != 1:
            raise SystemExit(f"{folder}: expected one objects-* extraction, found "
                             f"{found or 'none'}: give --key")
        key = found[0]
    return load_split(cache, "train", key, videos, dataset), key


def people(features) -> np.ndarray:
    """(n_frames,) people per frame: pose objects, else person boxes in the class stream."""
    from mulde.video.features.records import Stream

    if Stream.POSE in features:
        return features[Stream.POSE].objects_per_frame()
    record = features[Stream.CLASS]
    person = record.features[:, PERSON_SLOT] > 0
    return np.bincount(record.frame_index[person], minlength=record.n_frames)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ucsd_ped2")
    parser.add_argument("--root", type=Path, help="the dataset's root (default: shared data)")
    parser.add_argument("--cache", type=Path, required=True, help="the run's cache folder")
    parser.add_argument("--key", help="the feature cache key (default: the only one)")
    parser.add_argument("--fit-jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "detector_stream_counts.json")
    args = parser.parse_args()
    from scipy.stats import spearmanr

    from mulde.datasets import load_dataset
    from mulde.pipeline import fit_ensemble
    from mulde.video.features.registry import (
        build_extractor,
        preset_calibration_folds,
        preset_mulde_params,
        preset_pca,
    )

    dataset = load_dataset(args.dataset, args.root or DATA_ROOT / args.dataset)
    train, key = load_train(args.cache, args.dataset, dataset.train, args.key)
    streams = list(next(iter(train.values())))
    t0 = time.perf_counter()
    ensemble = fit_ensemble(train, "mulde", 0, preset_mulde_params("objects:detector"),
                            False, None, preset_calibration_folds("objects:detector")
                            or "auto", args.fit_jobs,
                            preset_pca("objects:detector", SimpleNamespace(
                                streams=[s.value for s in streams],
                                backbone=build_extractor("objects:detector").backbone)))
    fit_s = time.perf_counter() - t0
    heads = np.concatenate([people(vf) for vf in train.values()])
    result = {}
    for stream, fit in ensemble.fits_.items():
        scores = np.concatenate(fit.train_frames)
        objects = np.concatenate([vf[stream].objects_per_frame() for vf in train.values()])
        result[stream.value] = {
            "spearman_vs_objects": float(spearmanr(scores, objects).statistic),
            "spearman_vs_people": float(spearmanr(scores, heads).statistic),
            "objects_per_frame_mean": float(objects.mean())}
        r = result[stream.value]
        print(f"{stream.value:10s} rho vs its objects {r['spearman_vs_objects']:.3f}  vs people "
              f"{r['spearman_vs_people']:.3f}  objects a frame {objects.mean():.1f}", flush=True)
    print(f"{heads.size} training frames, {heads.mean():.1f} people a frame; fits {fit_s:.0f} s")
    write_json(args.out, new_header(
        "detector_stream_counts", dataset=args.dataset, cache=str(args.cache), key=key,
        calibration_folds=ensemble.calibration_folds, n_frames=int(heads.size),
        people_per_frame_mean=float(heads.mean()), fit_s=fit_s, streams=result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
