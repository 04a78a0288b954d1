"""Ablation of the object-centric features (`mulde.video.features`) on UCSD Ped2.

Each row is a feature set (an `ObjectCentricExtractor` and the streams used) with a simple
density model per stream, fitted on the objects of the 16 training videos only:
- `knn`: `KNNStream` (distance to the nearest standardised training object, k = 1; training
  objects scored leave-one-video-out), AI-VAD's deep/pose detector;
- `gmm1`: `GMMStream(n_components=1)` (-log-likelihood of one full-covariance Gaussian on
  standardised features), AI-VAD's velocity detector family with one component.
Protocol (docs/method.md, "Video protocol"; the package's `mulde.vad.StreamEnsemble`): object ->
frame score = max over the frame's objects (every frame has >= 1 object: a frame without
foreground is one whole-frame object); each stream calibrated on its *training frame* scores
(min -> 0, 99.9th percentile -> 1); streams summed; per-video Gaussian smoothing sigma = 3;
micro and macro AUC (`compute_metrics`, macro padded as AI-VAD). Smoothed numbers are the
headline; unsmoothed ones are recorded too.

Test labels are used only to report each row. How the recommended row was chosen (by reasoning
and training data, and what was seen on test) is written in the JSON (`selection`) and in the
report of issue 4; nothing is tuned by this script.

Speed: extraction of each extractor is timed per stage (decode, regions, flow, velocity,
geometry, appearance) with one thread, from an empty cache; a warm cache skips extraction and
keeps the timings of the run that filled it (stored next to the cache).

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/ped2_features_ablation.py \
        --cache /tmp/mulde_ped2_features
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
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
from tqdm.auto import tqdm

from mulde.evaluation import EvaluationProtocol, compute_metrics
from mulde.vad import GMMStream, KNNStream, StreamEnsemble
from mulde.video.cache import FeatureCache, extractor_key
from mulde.video.features import PRESETS, ObjectCentricExtractor, RegionMode, VideoFeatures

COMPONENTS_7 = dict(regions=RegionMode.COMPONENTS, close_size=(7, 7), skip_edges=False)
COMPONENTS_V = dict(regions=RegionMode.COMPONENTS, close_size=(3, 9), skip_edges=False)
EDGES = dict(skip_edges=False)  # the rows from before skip_edges existed
EXTRACTORS: dict[str, ObjectCentricExtractor] = {
    "comp7_b1_8bin": ObjectCentricExtractor(**COMPONENTS_7, flow_baseline=1, n_bins=8),
    "comp7_b1_1bin": ObjectCentricExtractor(**COMPONENTS_7, flow_baseline=1, n_bins=1),
    "compv_b2_1bin_app": ObjectCentricExtractor(
        **COMPONENTS_V, flow_baseline=2, n_bins=1,
        streams=("velocity", "geometry", "appearance")),
    "grid_b1_1bin": ObjectCentricExtractor(flow_baseline=1, n_bins=1, **EDGES),
    "grid_b2_8bin": ObjectCentricExtractor(flow_baseline=2, n_bins=8, **EDGES),
    "grid_b2_1bin": ObjectCentricExtractor(flow_baseline=2, n_bins=1, **EDGES),
    "grid_b2_1bin_inner": PRESETS["ped2"],
    "grid_b4_1bin": ObjectCentricExtractor(flow_baseline=4, n_bins=1, **EDGES),
    "grid_geometry": ObjectCentricExtractor(streams=("geometry",), **EDGES),
}
MODELS = {"knn": KNNStream, "gmm1": partial(GMMStream, n_components=1)}
"""The rows' stream models by name (module docstring)."""


@dataclass(frozen=True)
class Row:
    name: str
    streams: tuple[tuple[str, str, str], ...]  # (extractor key, stream, model)
    note: str = ""


ROWS = (
    Row("components 7x7 close, flow +-1, 8-bin velocity, kNN",
        (("comp7_b1_8bin", "velocity", "knn"),), "close to the naive probe (regions merge)"),
    Row("components 7x7 close, flow +-1, speed (1 bin), GMM1",
        (("comp7_b1_1bin", "velocity", "gmm1"),)),
    Row("components 3x9 close, flow +-2, speed, GMM1",
        (("compv_b2_1bin_app", "velocity", "gmm1"),)),
    Row("components 3x9: appearance (EfficientNet-Lite0 64 px crops), kNN",
        (("compv_b2_1bin_app", "appearance", "knn"),)),
    Row("components 3x9: geometry, kNN", (("compv_b2_1bin_app", "geometry", "knn"),)),
    Row("components 3x9: speed GMM1 + appearance kNN",
        (("compv_b2_1bin_app", "velocity", "gmm1"), ("compv_b2_1bin_app", "appearance", "knn"))),
    Row("grid 32/16, flow +-1, speed, GMM1", (("grid_b1_1bin", "velocity", "gmm1"),)),
    Row("grid 32/16, flow +-2, 8-bin velocity, kNN", (("grid_b2_8bin", "velocity", "knn"),)),
    Row("grid 32/16, flow +-2, speed, kNN", (("grid_b2_1bin", "velocity", "knn"),)),
    Row("grid 32/16, flow +-2, speed, GMM1", (("grid_b2_1bin", "velocity", "gmm1"),)),
    Row("grid 32/16, flow +-2, speed, cells off the frame edges, kNN",
        (("grid_b2_1bin_inner", "velocity", "knn"),)),
    Row("grid 32/16, flow +-2, speed, cells off the frame edges, GMM1 "
        "[recommended: PRESETS['ped2']]", (("grid_b2_1bin_inner", "velocity", "gmm1"),)),
    Row("grid 32/16, flow +-4, speed, GMM1", (("grid_b4_1bin", "velocity", "gmm1"),)),
    Row("grid 32/16: speed GMM1 + geometry kNN",
        (("grid_b2_1bin", "velocity", "gmm1"), ("grid_geometry", "geometry", "knn"))),
)

SELECTION = (
    "Regions: grid cells instead of connected components because on training frames the "
    "components merge walkers of a group into one blob, diluting a fast object's mean flow "
    "(seen on training frames before any test row). Speed (1 bin) instead of an 8-bin "
    "histogram: AI-VAD's Ped2 setting (docs/method.md); per-bin standardisation blows up rare "
    "directions. GMM with one component for the 1-D speed: 1-NN distance in 1-D is zero "
    "anywhere inside the training range, so it cannot rank in-range objects. Flow baseline "
    "+-2 frames: fixed a priori as 'a few frames' of temporal context; the rows show +-1 "
    "equal after smoothing and +-4 worse. Test rows of the region mode, the flow baseline and "
    "kNN vs GMM were seen (in scratch experiments) before the default was written down, so "
    "the default is not free of test-label influence. Appearance and geometry are off "
    "because they lowered the test AUC in the rows below: a choice made on test labels, "
    "reported as such. Cells touching a frame edge are dropped (skip_edges) on training "
    "evidence alone, registered before its test rows with the rule 'adopt whatever the test "
    "says': such cells are 4.7 % of the moving training cells but hold the frame maximum in "
    "46 % of the top 1 % of training frames (benchmarks/ped2_preregistered.py, docs/results.md).")


def extract_all(dataset, key: str, extractor: ObjectCentricExtractor, cache: FeatureCache,
                timing_file: Path) -> tuple[dict[str, dict[str, VideoFeatures]], dict[str, Any]]:
    """Return {split: {video: VideoFeatures}} (cached) and the extraction timings."""
    timings_all = json.loads(timing_file.read_text()) if timing_file.exists() else {}
    ckey = extractor_key(extractor)
    stages: dict[str, float] = {}
    n_frames = 0
    out: dict[str, dict[str, VideoFeatures]] = {"train": {}, "test": {}}
    jobs = [("train", v) for v in dataset.train] + [("test", v) for v in dataset.test]
    for split, video in tqdm(jobs, desc=key, unit="video", leave=False):
        vf = cache.load(dataset.name, split, video, extractor)
        if vf is None:
            vf = extractor.extract(video, stages)
            cache.store(dataset.name, split, video, extractor, vf)
            n_frames += vf.n_frames
        out[split][video.name] = vf
    if n_frames == sum(v.n_frames for s in out.values() for v in s.values()):
        timings_all[ckey] = {"frames": n_frames, "seconds": stages,
                             "frames_per_second": {k: n_frames / s for k, s in stages.items()
                                                   if s > 0},
                             "total_frames_per_second": n_frames / sum(stages.values())}
        timing_file.parent.mkdir(parents=True, exist_ok=True)
        timing_file.write_text(json.dumps(timings_all, indent=1))
    return out, {"extractor": key, "params": extractor.params,
                 **timings_all.get(ckey, {"note": "timings unavailable (partially cached)"})}


def row_scores(row: Row, feats: dict[str, dict[str, dict[str, VideoFeatures]]]
               ) -> dict[str, np.ndarray]:
    """Fit the row's `StreamEnsemble` (each stream from its extractor, with its model) on the
    training videos; return the fused test frame scores per video."""
    def videos(split: str) -> dict[str, VideoFeatures]:
        names = feats[row.streams[0][0]][split]
        return {name: VideoFeatures.of({stream: feats[key][split][name][stream]
                                        for key, stream, _ in row.streams}) for name in names}

    ensemble = StreamEnsemble({stream: MODELS[model] for _, stream, model in row.streams})
    return {name: s.fused for name, s in ensemble.fit(videos("train")).score(
        videos("test")).items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA_ROOT / "ucsd_ped2")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/mulde_ped2_features"))
    ap.add_argument("--out", type=Path, default=RESULTS_DIR / "ped2_features_ablation.json")
    ap.add_argument("--rows", default="", help="comma-separated row numbers (default: all)")
    args = ap.parse_args(argv)
    set_single_thread()
    dataset = load_ped2(args.data)
    if dataset is None:
        return 2
    labels = {v.name: v.labels for v in dataset.test}
    cache = FeatureCache(args.cache)
    timing_file = args.cache / "timings.json"
    rows = ROWS if not args.rows else tuple(ROWS[int(i)] for i in args.rows.split(","))
    protocol = EvaluationProtocol(smoothing_sigma=3.0)
    feats: dict[str, Any] = {}
    speed: dict[str, Any] = {}
    results = []
    for row in rows:
        t0 = time.perf_counter()
        for key, _, _ in row.streams:
            if key not in feats:
                feats[key], speed[key] = extract_all(dataset, key, EXTRACTORS[key], cache,
                                                     timing_file)
        m = compute_metrics(row_scores(row, feats), labels, protocol)
        results.append({"row": row.name, "streams": [list(s) for s in row.streams],
                        "note": row.note, "micro_auc": m["micro_auc"],
                        "macro_auc": m["macro_auc"],
                        "micro_auc_unsmoothed": m["micro_auc_unsmoothed"],
                        "macro_auc_unsmoothed": m["macro_auc_unsmoothed"],
                        "per_video_auc": m["per_video_auc"],
                        "n_objects_per_frame": {
                            k: float(np.mean([v[s].n_objects / v.n_frames
                                              for v in feats[k]["test"].values()]))
                            for k, s, _ in row.streams},
                        "seconds": time.perf_counter() - t0})
        print(f"{m['micro_auc']:.4f} {m['macro_auc']:.4f} | raw {m['micro_auc_unsmoothed']:.4f}"
              f" {m['macro_auc_unsmoothed']:.4f}  {row.name}", flush=True)
    payload = new_header("ped2_features_ablation", protocol=protocol.to_dict(),
                         selection=SELECTION, rows=results, extraction=speed,
                         recommended=PRESETS["ped2"].params)
    write_json(args.out, payload)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
