"""Compare two feature caches of the same `objects:detector` settings, label-free: did a
different way of running the extraction (e.g. Ray worker processes with one thread each
instead of one process with two threads) give the same boxes and features?

Per box file (one per video, matched by file name: same video, same detection key): the
person recall at IoU >= 0.5 of the candidate's boxes against the reference's, frame by frame
(greedy one-to-one matching, `detector_shortcuts.matched`, as the other detector benchmarks),
the box counts, and the largest coordinate / score difference where both list the same
number of rows in the same order. Per feature file (matched by name): the largest absolute
difference of every array. No label is read.

    python benchmarks/detector_cache_compare.py --reference /tmp/a14d_empty_cache \\
        --candidate /tmp/a14d_ray_cache --out benchmarks/results/detector_cache_compare.json
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
from common import RESULTS_DIR, new_header, write_json
from detector_shortcuts import matched

from mulde.video.detection import PERSON  # the class id the box files write for a person


def read_boxes(path: Path) -> np.ndarray:
    """(n, 7) float rows frame, x0, y0, x1, y1, score, class of one box file."""
    with path.open() as f:
        rows = [[float(v) for v in row] for row in csv.reader(f) if row and row[0] != "frame"]
    return np.array(rows, float).reshape(-1, 7)


def compare_boxes(reference: np.ndarray, candidate: np.ndarray) -> dict:
    """Person recall of `candidate` against `reference` (rows as `read_boxes`): the matched
    reference person boxes over all of them, frame by frame at IoU >= 0.5; the counts; and,
    when both have the same rows in the same frames and classes, the largest coordinate and
    score differences (None otherwise)."""
    hits = total = 0
    for t in np.unique(reference[:, 0]):
        ref = reference[(reference[:, 0] == t) & (reference[:, 6] == PERSON), 1:5]
        found = candidate[(candidate[:, 0] == t) & (candidate[:, 6] == PERSON), 1:5]
        hits += matched(ref, found)
        total += len(ref)
    same = (reference.shape == candidate.shape
            and np.array_equal(reference[:, [0, 6]], candidate[:, [0, 6]]))
    return {"reference_persons": total, "matched_persons": hits,
            "recall": hits / total if total else None,
            "rows": [len(reference), len(candidate)],
            "max_box_diff": float(np.abs(reference[:, 1:5] - candidate[:, 1:5]).max(initial=0))
            if same else None,
            "max_score_diff": float(np.abs(reference[:, 5] - candidate[:, 5]).max(initial=0))
            if same else None}


def compare_features(reference: Path, candidate: Path) -> dict[str, float | None]:
    """Largest absolute difference of each array of two feature files (None: shapes
    differ)."""
    a, b = np.load(reference), np.load(candidate)
    out: dict[str, float | None] = {}
    for key in sorted(set(a.files) | set(b.files)):
        if key not in a.files or key not in b.files or a[key].shape != b[key].shape:
            out[key] = None
        else:
            out[key] = float(np.abs(a[key].astype(float) - b[key].astype(float)).max(initial=0))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reference", required=True, type=Path, help="the reference cache folder")
    p.add_argument("--candidate", required=True, type=Path, help="the cache to compare")
    p.add_argument("--dataset", default="ucsd_ped2")
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "detector_cache_compare.json")
    args = p.parse_args(argv)
    ref_root, cand_root = args.reference / args.dataset, args.candidate / args.dataset
    boxes, features, missing = {}, {}, []
    for ref in sorted(ref_root.glob("boxes/*/*.csv")):
        cand = cand_root / ref.relative_to(ref_root)
        if cand.exists():
            boxes[str(ref.relative_to(ref_root))] = compare_boxes(read_boxes(ref),
                                                                  read_boxes(cand))
        else:
            missing.append(str(ref.relative_to(ref_root)))
    for ref in sorted(ref_root.glob("*/*.npz")):
        cand = cand_root / ref.relative_to(ref_root)
        if cand.exists():
            features[str(ref.relative_to(ref_root))] = compare_features(ref, cand)
        else:
            missing.append(str(ref.relative_to(ref_root)))
    if not boxes and not features:
        print(f"nothing to compare: no box or feature file of {ref_root} is in {cand_root}",
              file=sys.stderr)
        return 2
    hits = sum(b["matched_persons"] for b in boxes.values())
    total = sum(b["reference_persons"] for b in boxes.values())
    diffs = [v for f in features.values() for v in f.values()]
    summary = {"box_files": len(boxes), "feature_files": len(features), "missing": missing,
               "person_recall": hits / total if total else None, "reference_persons": total,
               "same_rows": sum(b["max_box_diff"] is not None for b in boxes.values()),
               "max_box_diff": max((b["max_box_diff"] for b in boxes.values()
                                    if b["max_box_diff"] is not None), default=None),
               "max_feature_diff": None if None in diffs else max(diffs, default=None)}
    write_json(args.out, new_header("detector_cache_compare", reference=str(args.reference),
                                    candidate=str(args.candidate), summary=summary,
                                    boxes=boxes, features=features))
    print(summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
