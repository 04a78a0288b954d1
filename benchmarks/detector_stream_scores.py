"""Each stream's own AUC in finished `mulde run ucsd_ped2 ... --extractor objects:detector` runs.

Loads each run's trained pipeline (`OUT/model`) and the cached test features of the run's
extraction (no extraction and no fit is done again), scores every test video with it
(`PipelineModel.score`: each stream's calibrated frame scores and their sum), and reports
the protocol's micro / macro / per-video AUC (`mulde.evaluation.protocol.compute_metrics`,
Gaussian smoothing of the dataset) of every stream alone and of the fused sum. The test labels
serve this report only: nothing is chosen from it (docs/results.md, issue 14).

    python benchmarks/detector_stream_scores.py --cache /tmp/l_r9_e2e_cache \\
        --run mulde=/tmp/l_r9_e2e --run knn=/tmp/l_r9_knn --run gmm=/tmp/l_r9_gmm
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import DATA_ROOT, RESULTS_DIR, new_header, write_json
from detector_streams import load_split


def cache_key(cache: Path, dataset: str, video: str) -> str:
    """The feature cache key of the one extraction of `video` in the test split of `cache`."""
    found = sorted({p.name.split(".")[1] for p in
                    (cache / dataset / "test").glob(f"{video}.objects-*.npz")})
    if len(found) != 1:
        raise SystemExit(f"{cache / dataset / 'test'}: expected one objects-* extraction of "
                         f"{video}, found {found or 'none'}: give --key")
    return found[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DATA_ROOT / "ucsd_ped2")
    parser.add_argument("--cache", type=Path, required=True, help="the runs' cache folder")
    parser.add_argument("--key", help="the feature cache key, objects-... (default: the only "
                        "one in the cache)")
    parser.add_argument("--run", action="append", required=True, metavar="LABEL=OUT",
                        help="a finished run's output folder (its model in OUT/model)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "detector_stream_scores.json")
    args = parser.parse_args()
    from mulde.datasets import load_dataset
    from mulde.evaluation.protocol import EvaluationProtocol, compute_metrics
    from mulde.vad.artifact import PipelineModel

    dataset = load_dataset("ucsd_ped2", args.root)
    key = args.key or cache_key(args.cache, "ucsd_ped2", dataset.test[0].name)
    test = load_split(args.cache, "test", key, dataset.test)
    labels = {v.name: v.labels for v in dataset.test}
    protocol = EvaluationProtocol(smoothing_sigma=dataset.smoothing_sigma)
    keys = ("micro_auc", "macro_auc", "micro_auc_unsmoothed", "macro_auc_unsmoothed",
            "per_video_auc")
    runs = {}
    for item in args.run:
        label, _, out = item.partition("=")
        model = PipelineModel.load(Path(out) / "model")
        scored = {name: model.score(features) for name, features in test.items()}
        parts = {s.value: {n: v.streams[s] for n, v in scored.items()}
                 for s in model.ensemble.streams}
        parts["fused"] = {n: v.fused for n, v in scored.items()}
        runs[label] = {"out": out, "streams": {
            part: {k: compute_metrics(scores, labels, protocol)[k] for k in keys}
            for part, scores in parts.items()}}
        for part, m in runs[label]["streams"].items():
            per = " ".join(f"{k}:{100 * v:.1f}" for k, v in m["per_video_auc"].items()
                           if v < 0.995)
            print(f"{label:8s} {part:10s} micro {100 * m['micro_auc']:.2f} macro "
                  f"{100 * m['macro_auc']:.2f}  below 99.5: {per}")
    write_json(args.out, new_header("detector_stream_scores", cache=str(args.cache), key=key,
                                    runs=runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
