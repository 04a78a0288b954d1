"""How the live filter starts a stream: renormalised over the frames that exist (stops up to
28) or from the model's training median (`mulde.vad.live.start_level`), on a `mulde run`
output folder.

A causal filter has no past at a stream's first frame. Renormalised, that frame is judged
alone, unsmoothed, against a threshold meant for smoothed scores; from the start level, the
frames before the stream count as a typical normal score. Per rule, from the run's model
(its out-of-fold training scores) and its frame_scores.csv (the unsmoothed test scores:
what the live scorer computes, to float32 precision, for an extractor that runs live
exactly; for one that does not, e.g. `region_background="video"`, they isolate the filter's
part): the live threshold (the model's rule refitted on the causally smoothed training
scores), the held-out false-alarm rate on the training videos (label-free: the threshold
refitted without each fold, `mulde.vad.thresholds.held_out_rate`), and on the test videos
the events, the events that start within the filter's first r + 1 frames, how many of those
start on a frame labelled normal, and the causal scores' micro / macro AUC. Nothing is
chosen from these numbers: the start level was adopted on the reasoning above (issue
notes, stop 29) before they were computed.

    python benchmarks/live_start.py --run /tmp/ped2_default \\
        --out benchmarks/results/live_start_ped2.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from common import RESULTS_DIR, new_header, write_json

from mulde.evaluation import EvaluationProtocol, compute_metrics
from mulde.evaluation.report import read_frame_scores
from mulde.vad.artifact import PipelineModel, pipeline_folder
from mulde.vad.events import find_events
from mulde.vad.live import CausalSmoother, causal_smooth, start_level
from mulde.vad.thresholds import fit_threshold, held_out_rate


def rule_row(model: PipelineModel, start: float | None, test: dict[str, np.ndarray],
             labels: dict[str, np.ndarray | None]) -> dict:
    """One start rule's row (module docstring)."""
    fit = model.threshold
    sigma = model.smoothing_sigma
    train = [causal_smooth(s, sigma, start=start) for s in model.train_scores]
    refit = fit_threshold(train, fit.fps, 0.0, fit.rule, fit.target, fit.patience,
                          fit.out_of_sample)
    held = held_out_rate(train, refit)
    window = len(CausalSmoother(sigma).weights[0])
    causal = {name: causal_smooth(s, sigma, start=start) for name, s in test.items()}
    events = early = early_normal = 0
    for name, s in causal.items():
        starts = [e.start for e in find_events(s, refit.value, fit.patience)]
        events += len(starts)
        for f in starts:
            if f < window:
                early += 1
                y = labels.get(name)
                early_normal += int(y is not None and y[f] == 0)
    known = {n: y for n, y in labels.items() if y is not None}
    m = compute_metrics({n: causal[n] for n in known}, known,
                        EvaluationProtocol(smoothing_sigma=0.0))
    return {"start": start, "threshold": refit.value,
            "held_out_events_per_hour": held["events_per_hour"],
            "held_out_frames_above": held["frames_above"],
            "test_events": events, "test_events_in_first_frames": early,
            "of_which_start_on_a_normal_frame": early_normal, "first_frames": window,
            "micro_auc_causal": m["micro_auc"], "macro_auc_causal": m["macro_auc"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True,
                        help="a `mulde run` output folder (model/ and frame_scores.csv)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "live_start.json")
    args = parser.parse_args()
    model = PipelineModel.load(pipeline_folder(args.run) or args.run)
    if model.threshold is None or not model.train_scores:
        raise SystemExit(f"{args.run}: the model has no threshold or no training scores")
    test, labels = read_frame_scores(args.run / "frame_scores.csv", "score_unsmoothed")
    rows = [{"rule": "renormalised (before)", **rule_row(model, None, test, labels)},
            {"rule": "training median (start_level)",
             **rule_row(model, start_level(model), test, labels)}]
    for row in rows:
        print({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})
    payload = new_header("live_start", protocol={
        "run": str(args.run), "smoothing_sigma": model.smoothing_sigma,
        "threshold_rule": model.threshold.describe(),
        "note": "nothing is chosen from these numbers"}, rows=rows)
    write_json(args.out, payload)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
