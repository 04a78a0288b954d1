"""MULDE on the pose features released by AI-VAD (UCSD Ped2), against AI-VAD's own detectors.

Data: `$MULDE_DATA/features/aivad_ped2/{train,test}/pose.npy` (one entry per frame, each an
(n_objects, 34) array of 17 keypoints; read with `mulde.video.features.read_aivad_features`,
which needs --trust-pickle because the files are pickled object arrays; split per video as
the stream `Stream.POSE`) and the Ped2 frame folders and `ped2.mat` ground truth under
`$MULDE_DATA/ucsd_ped2` (video frame counts, test labels).

Detectors, each fitted on all training objects (normal only), scoring every object:
- `knn (AI-VAD)`: AI-VAD's pose-stream detector as in its evaluate.py / score_calibration.py:
  squared L2 distance (faiss IndexFlatL2) to the nearest training object (k = 1) on the raw
  released features (no standardisation); training objects scored leave-one-video-out
  (`KNNStream(standardise=False, squared=True)`).
- `knn (mulde.vad.stream_models)`: the package's `KNNStream` (Euclidean distance, k = 1, on
  features standardised with training statistics; leave-one-video-out training scores).
- `GMM K=k`: the package's `GMMStream` (full-covariance GaussianMixture on standardised
  features, reg_covar 1e-3), score = -log-likelihood; training objects scored in-sample.
- `MULDE K=k`: `MULDE(random_state=seed)` (the default preset); its GMM aggregator is refitted
  with k components on the same network's training energies (K=1 is the estimator's own
  default aggregator; `ReaggregatedMULDE` below); training objects scored in-sample.

Protocol (AI-VAD / MULDE object-centric, one stream), run by `mulde.vad.StreamEnsemble` with
`calibrate_on="objects"`: object score -> frame score = max over the frame's objects; a frame
without objects gets the minimum training object score of the detector (Ped2 test has no such
frame; the count is recorded); frame scores are calibrated with `Calibration.fit` on the
training *object* scores (min -> 0, 99.9th percentile -> 1, as AI-VAD); `compute_metrics` with
`EvaluationProtocol(smoothing_sigma=3)`: micro and macro AUC on smoothed (headline) and
unsmoothed frame scores. Nothing is selected on test labels: every K is reported; the default
rows are marked.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/aivad_ped2_pose.py --trust-pickle
"""

from __future__ import annotations

import argparse
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from common import DATA_ROOT, RESULTS_DIR, new_header, set_single_thread, write_json
from tqdm.auto import tqdm

from mulde.datasets import load_dataset
from mulde.estimator.aggregation import aggregate, fit_aggregator
from mulde.evaluation import EvaluationProtocol, compute_metrics
from mulde.vad import GMMStream, KNNStream, StreamEnsemble, StreamModelSpec
from mulde.video.features import Stream, VideoFeatures, read_aivad_features

PED2_TEST_COUNTS = (180, 180, 150, 180, 150, 180, 180, 180, 120, 150, 180, 180)
METRICS = ("micro_auc", "macro_auc", "micro_auc_unsmoothed", "macro_auc_unsmoothed")
Videos = dict[str, VideoFeatures]
AIVAD_KNN = partial(KNNStream, standardise=False, squared=True)
"""AI-VAD's pose detector: squared L2 (faiss IndexFlatL2) to the nearest raw training object."""


class ReaggregatedMULDE:
    """A stream model on a MULDE network already fitted on the same training objects: its
    multiscale energies aggregated by a GMM with `k` components fitted on the training
    energies (seed `seed`), so that several K share one network fit."""

    name = "mulde"

    def __init__(self, model: Any, k: int, seed: int) -> None:
        self.model, self.k, self.seed = model, k, seed

    def fit(self, X: np.ndarray, groups: np.ndarray) -> ReaggregatedMULDE:
        energies = self.model.score_samples_multiscale(X)
        self.state_ = fit_aggregator("gmm", energies, n_components=self.k, seed=self.seed)
        self._train = aggregate("gmm", self.state_, energies)
        return self

    def train_scores(self) -> np.ndarray:
        return self._train

    def score(self, X: np.ndarray) -> np.ndarray:
        return aggregate("gmm", self.state_, self.model.score_samples_multiscale(X))


def pose_ensemble(detector: StreamModelSpec, train: Videos, seed: int = 0,
                  mulde_params: dict[str, Any] | None = None) -> StreamEnsemble:
    """Return the one-stream `StreamEnsemble` of this protocol fitted on the training videos:
    calibrated on the training *object* scores (AI-VAD's score_calibration.py)."""
    return StreamEnsemble({Stream.POSE: detector}, seed, dict(mulde_params or {}),
                          calibrate_on="objects").fit(train)


def evaluate(ensemble: StreamEnsemble, test: Videos, labels: dict[str, np.ndarray],
             protocol: EvaluationProtocol) -> dict[str, Any]:
    """Return the protocol metrics of a fitted ensemble's test frame scores (module
    docstring), with its calibration and empty-frame fill."""
    frames = {name: scores.fused for name, scores in ensemble.score(test).items()}
    metrics = compute_metrics(frames, labels, protocol)
    fit = ensemble.fits_[Stream.POSE]
    keep = {m: float(metrics[m]) for m in (*METRICS, "average_precision", "eer")}
    return keep | {"per_video_auc": metrics["per_video_auc"], "calibration":
                   fit.calibration.to_dict(), "empty_frame_fill": fit.fill}


def mulde_runs(seed: int, ks: list[int], train: Videos, test: Videos,
               labels: dict[str, np.ndarray], protocol: EvaluationProtocol,
               max_steps: int | None) -> tuple[dict[int, dict[str, Any]], dict[str, Any]]:
    """Fit `MULDE(random_state=seed)` once (the package's MULDE stream); return {K: metrics}
    for GMM aggregators with K components fitted on its training energies (K equal to the
    estimator's own n_components: its own aggregator), and a summary of the fit."""
    params = {} if max_steps is None else {"max_steps": max_steps}
    base = pose_ensemble("mulde", train, seed, params)
    model = base.fits_[Stream.POSE].model.model
    out = {k: evaluate(base if k == model.n_components else
                       pose_ensemble(partial(ReaggregatedMULDE, model, k, seed), train),
                       test, labels, protocol) for k in ks}
    result = model.train_result_
    info = {"fit_seconds": model.fit_seconds_, "steps": result.steps,
            "best_step": result.best_step, "stopped_early": result.stopped_early,
            "best_val_loss": result.best_val_loss, "params": model.get_params()}
    return out, info


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Return mean and sample std (ddof=1; 0 for one run) of each headline metric."""
    out = {}
    for m in METRICS:
        values = np.array([r[m] for r in runs])
        out[m] = {"mean": float(values.mean()),
                  "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0}
    return out


def markdown(rows: list[dict[str, Any]]) -> str:
    """Return the results table (AUC in %, mean ± std over seeds) as Markdown."""
    lines = ["| detector | seeds | micro AUC | macro AUC | micro AUC (unsmoothed) "
             "| macro AUC (unsmoothed) |", "|---|---|---|---|---|---|"]
    for row in rows:
        cells = []
        for m in METRICS:
            s = row["summary"][m]
            cells.append(f"{100 * s['mean']:.2f}" + (f" ± {100 * s['std']:.2f}"
                                                       if len(row["seeds"]) > 1 else ""))
        name = row["detector"] + (" (default)" if row["default"] else "")
        lines.append(f"| {name} | {len(row['seeds'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA_ROOT, help="shared data folder")
    parser.add_argument("--trust-pickle", action="store_true",
                        help="allow unpickling the AI-VAD .npy object arrays (trusted files only)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--mulde-k", type=int, nargs="+", default=[1, 3, 5])
    parser.add_argument("--gmm-k", type=int, nargs="+", default=[1, 2, 3, 5])
    parser.add_argument("--mulde-max-steps", type=int, default=None,
                        help="override the preset's max_steps (smoke tests only)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "aivad_ped2_pose.json")
    args = parser.parse_args(argv)
    set_single_thread()

    feature_dir = args.data / "features" / "aivad_ped2"
    train = read_aivad_features(feature_dir / "train" / "pose.npy", trust_pickle=args.trust_pickle)
    test = read_aivad_features(feature_dir / "test" / "pose.npy", trust_pickle=args.trust_pickle)
    gt_path = args.data / "ucsd_ped2" / "ped2.mat"
    dataset = load_dataset("ucsd_ped2", args.data / "ucsd_ped2", gt_path=gt_path)
    train_counts = [v.n_frames for v in dataset.train]
    test_counts = [v.n_frames for v in dataset.test]
    if tuple(test_counts) != PED2_TEST_COUNTS:
        raise SystemExit(f"unexpected Ped2 test frame counts {test_counts}")
    names = [v.name for v in dataset.train]
    train_videos = {n: VideoFeatures.of({Stream.POSE: r})  # checks the frame totals
                    for n, r in zip(names, train.split(train_counts), strict=True)}
    test_videos = {v.name: VideoFeatures.of({Stream.POSE: r})
                   for v, r in zip(dataset.test, test.split(test_counts), strict=True)}
    labels = {v.name: np.asarray(v.labels) for v in dataset.test}
    protocol = EvaluationProtocol(smoothing_sigma=3)

    def run(detector: StreamModelSpec) -> dict[str, Any]:
        return evaluate(pose_ensemble(detector, train_videos), test_videos, labels, protocol)

    rows: list[dict[str, Any]] = []

    def add(detector: str, default: bool, note: str, runs: list[dict[str, Any]],
            seeds: list[int] | None = None) -> None:
        rows.append({"detector": detector, "default": default, "note": note,
                     "seeds": seeds if seeds is not None else [None], "runs": runs,
                     "summary": summarise(runs)})
        print(markdown(rows[-1:]).splitlines()[-1], flush=True)

    t0 = time.perf_counter()
    add("kNN k=1 (AI-VAD)", True, "squared L2 to the nearest training object on the raw "
        "features; LOVO training scores (AI-VAD evaluate.py / score_calibration.py)",
        [run(AIVAD_KNN)])
    add("kNN k=1 (mulde.vad.stream_models)", False, "KNNStream: Euclidean distance on "
        "standardised features; LOVO training scores", [run(KNNStream)])
    for k in args.gmm_k:
        runs = [run(partial(GMMStream, n_components=k, seed=s)) for s in args.seeds]
        add(f"GMM K={k}", k == 5, "GMMStream: full covariance on standardised features, "
            "reg_covar 1e-3; in-sample training scores (K=5 is the package default, "
            "K=2 AI-VAD's Ped2 velocity setting)", runs, list(args.seeds))
    baseline_seconds = time.perf_counter() - t0

    mulde: dict[int, list[dict[str, Any]]] = {k: [] for k in args.mulde_k}
    fits = []
    for seed in tqdm(args.seeds, desc="MULDE seeds"):
        runs_by_k, info = mulde_runs(seed, args.mulde_k, train_videos, test_videos, labels,
                                     protocol, args.mulde_max_steps)
        fits.append({"seed": seed} | info)
        for k in args.mulde_k:
            mulde[k].append(runs_by_k[k])
    for k in args.mulde_k:
        add(f"MULDE K={k}", k == 1, "MULDE(random_state=seed), default preset; GMM "
            f"aggregator with {k} component(s) on the training energies; in-sample training "
            "scores", mulde[k], list(args.seeds))

    payload = new_header(
        "aivad_ped2_pose", protocol=protocol.to_dict(),
        calibration="Calibration.fit on the detector's training object scores "
                    "(kNN: leave-one-video-out; GMM, MULDE: in-sample)",
        empty_frames="a frame without objects gets the detector's minimum training object "
                     "score (calibrated 0)",
        data={"train_features": str(feature_dir / "train" / "pose.npy"),
              "test_features": str(feature_dir / "test" / "pose.npy"),
              "labels": str(gt_path), "train_frames": train.n_frames,
              "test_frames": test.n_frames, "train_objects": train.n_objects,
              "test_objects": test.n_objects, "dim": train.dim,
              "train_video_frames": train_counts, "test_video_frames": test_counts,
              "train_empty_frames": train.empty_frames().tolist(),
              "test_empty_frames": test.empty_frames().tolist(),
              "test_anomalous_frames": int(sum(int(v.sum()) for v in labels.values()))},
        config={"seeds": args.seeds, "mulde_k": args.mulde_k, "gmm_k": args.gmm_k,
                "mulde_max_steps": args.mulde_max_steps},
        mulde_fits=fits, baseline_seconds=baseline_seconds, rows=rows)
    write_json(args.out, payload)
    print(f"\n{markdown(rows)}\n\nwritten {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
