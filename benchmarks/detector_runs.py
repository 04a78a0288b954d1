"""Collect finished `mulde run ... --extractor objects:detector` runs into one results JSON:
per run (MULDE, kNN, GMM on the same cached features) the micro and macro AUC (smoothed and
unsmoothed), the per-video AUCs, the stage times the run recorded (extraction per stage,
training, scoring, report) and frames/s, with the command that made each run.

The runs are made by the `mulde` command itself (docs/results.md, "A detector run here"),
e.g. for UCSD Ped2:

    mulde run ucsd_ped2 --root ../shared/data/ucsd_ped2 --out runs/ped2_detector \\
        --extractor objects:detector --threads 2
    python benchmarks/detector_runs.py --name ped2 \\
        --run mulde=runs/ped2_detector 'mulde run ucsd_ped2 ... --threads 2' \\
        --run knn=runs/ped2_detector_knn 'mulde run ... --detector knn'
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common import RESULTS_DIR, new_header, read_json, write_json

KEYS = ("micro_auc", "macro_auc", "micro_auc_unsmoothed", "macro_auc_unsmoothed",
        "per_video_auc", "n_videos", "n_frames")


def summary(out: Path, frames: int | None) -> dict:
    """The metrics and timings of one run folder (its metrics.json); frames/s per extraction
    stage over `frames`, the frames the run extracted (None: none known, no rates)."""
    metrics = read_json(out / "metrics.json")
    if metrics is None:
        raise FileNotFoundError(f"{out}/metrics.json: no finished run there")
    timings = metrics.get("timings", {})
    stages = {k.removeprefix("extract."): v for k, v in timings.items()
              if k.startswith("extract.")}
    return {**{k: metrics.get(k) for k in KEYS}, "timings": timings,
            "extracted_frames": frames,
            "extract_frames_per_s": {k: frames / v for k, v in stages.items()
                                     if v > 0 and frames},
            "config": metrics.get("config")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--name", required=True, help="dataset name (results file suffix)")
    p.add_argument("--run", nargs=2, action="append", required=True,
                   metavar=("LABEL=OUT", "COMMAND"), help="a run folder and its command")
    p.add_argument("--note", default="", help="how the runs were made (recorded as is)")
    p.add_argument("--extracted-frames", type=int, help="frames the first run extracted (all "
                   "the dataset's from an empty cache, fewer when it resumed from a cache)")
    p.add_argument("--wall", nargs=2, action="append", default=[], metavar=("LABEL", "SECONDS"),
                   help="a run's whole-command wall time, measured outside it (e.g. by "
                   "/usr/bin/time): recorded as its timings' 'command'")
    p.add_argument("--frames", nargs=2, action="append", default=[], metavar=("LABEL", "N"),
                   help="frames a run other than the first extracted (for its frames/s)")
    args = p.parse_args(argv)
    frames_of = {label: int(n) for label, n in args.frames}
    wall = {label: float(seconds) for label, seconds in args.wall}
    runs = {}
    for i, (spec, command) in enumerate(args.run):
        label, _, out = spec.partition("=")
        try:
            runs[label] = {"command": command,
                           **summary(Path(out), frames_of.get(
                               label, args.extracted_frames if i == 0 else None))}
            if label in wall:
                runs[label]["timings"]["command"] = wall[label]
        except FileNotFoundError as err:
            print(err, file=sys.stderr)
            return 2
    path = RESULTS_DIR / f"detector_{args.name}.json"
    write_json(path, new_header("detector_runs", note=args.note, runs=runs))
    for label, r in runs.items():
        print(label, {k: r[k] for k in KEYS[:4]}, {k: round(v, 1) for k, v in
                                                    r["timings"].items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
