"""`mulde evaluate` on any method's scores: formats, alignment, direction, non-finite scores,
normalisation, smoothing, macro definitions, output volume; hand-computed values, and the
published ShanghaiTech scores of ../shared/data reproduced."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from fakes import REPO, data_dir

from mulde.cli import _name_key, build_parser, main
from mulde.evaluation import EvaluationError
from mulde.evaluation.inputs import FrameAlignment, read_scores

# A tiny ShanghaiTech ground truth (the official .npy masks, no videos):
# A = 01_0001 [0, 0, 1, 1], B = 01_0002 [0, 1, 0]
LABELS = {"01_0001": [0, 0, 1, 1], "01_0002": [0, 1, 0]}
# scores A [1, 2, 4, 3], B [0, 1.5, 2]: positives {4, 3, 1.5}, negatives {1, 2, 0, 2};
# 4 and 3 beat all four, 1.5 beats 1 and 0: micro AUC = (4 + 4 + 2) / 12 = 5/6.
# padded macro: A (4 + 2 + 2 + 1) / (3 * 3) = 1, B (1 + 1 + 2 + 1) / (2 * 3) = 5/6 -> 11/12;
# skip_single_class: A 1, B 1/2 -> 3/4. AP: ranked 4+ 3+ 2- 2- 1.5+ 1- 0-, precision at the
# positives 1, 1, 3/5 -> (1 + 1 + 0.6) / 3.
SCORES = {"01_0001": [1.0, 2.0, 4.0, 3.0], "01_0002": [0.0, 1.5, 2.0]}
MICRO, MACRO, MACRO_SKIP, AP = 5 / 6, 11 / 12, 3 / 4, 2.6 / 3


@pytest.fixture
def gt(tmp_path):
    masks = tmp_path / "sht" / "test_frame_mask"
    masks.mkdir(parents=True)
    for name, y in LABELS.items():
        np.save(masks / f"{name}.npy", np.array(y))
    return tmp_path / "sht"


def _run(tmp_path, capsys, scores, *options, gt_root=None, out="r"):
    """Run `mulde evaluate`; return (exit code, metrics.json or None, stdout, stderr)."""
    argv = ["evaluate", str(scores), "--out", str(tmp_path / out), "--smoothing-sigma", "0",
            "--metrics-only", *options]
    if gt_root is not None:
        argv += ["--dataset", "shanghaitech", "--root", str(gt_root)]
    code = main(argv)
    captured = capsys.readouterr()
    path = tmp_path / out / "metrics.json"
    metrics = json.loads(path.read_text()) if code == 0 and path.exists() else None
    return code, metrics, captured.out, captured.err


def _csv(path: Path, scores: dict, labels: dict | None = None) -> Path:
    rows = ["video,frame,score" + (",label" if labels else "")]
    for name, s in scores.items():
        for i, v in enumerate(s):
            rows.append(f"{name},{i},{v!r}" + (f",{labels[name][i]}" if labels else ""))
    path.write_text("\n".join(rows) + "\n")
    return path


def _hand_values(m: dict) -> None:
    assert m["micro_auc"] == pytest.approx(MICRO)
    assert m["macro_auc"] == pytest.approx(MACRO)
    assert m["average_precision"] == pytest.approx(AP)
    assert m["macro_definition"] == "padded"


# ----------------------------------------------------------------------------- formats


def test_every_input_format_gives_the_hand_computed_metrics(tmp_path, gt, capsys):
    d = tmp_path
    _csv(d / "s.csv", SCORES)
    (d / "npy").mkdir()
    (d / "mixed").mkdir()
    for name, s in SCORES.items():
        np.save(d / "npy" / f"{name}.npy", np.array(s))
    np.savez(d / "mixed" / "01_0001.npz", scores=np.array(SCORES["01_0001"]))
    (d / "mixed" / "01_0002.txt").write_text("0.0, 1.5\n2.0  # last frame\n")
    np.savez(d / "all.npz", **{n: np.array(s) for n, s in SCORES.items()})
    flat = np.concatenate([SCORES["01_0001"], SCORES["01_0002"]])  # the dataset's order
    np.save(d / "all.npy", flat)
    (d / "all.txt").write_text("\n".join(map(str, flat)))
    np.savez(d / "one.npz", frame_scores=flat)
    cases = [("s.csv", "csv"), ("npy", "folder"), ("mixed", "folder"), ("all.npz", "npz"),
             ("all.npy", "array"), ("all.txt", "array")]
    for i, (path, fmt) in enumerate(cases):
        code, m, out, err = _run(d, capsys, d / path, gt_root=gt, out=f"r{i}")
        assert code == 0, (path, err)
        _hand_values(m)
        assert m["config"]["format"] == fmt and m["n_frames"] == 7
    code, m, _, err = _run(d, capsys, d / "one.npz", "--format", "array", gt_root=gt)
    assert code == 0, err
    _hand_values(m)


def test_a_csv_in_any_row_order_gives_the_hand_computed_metrics(tmp_path, gt, capsys):
    """A newcomer's CSV whose rows were sorted by score was refused ("frames out of order
    ... sort the rows"): the frames are given, so each video's rows are sorted by them."""
    rows = [(name, i, v) for name, s in SCORES.items() for i, v in enumerate(s)]
    rows.sort(key=lambda row: -row[2])  # highest score first, videos interleaved
    path = tmp_path / "by_score.csv"
    path.write_text("video,frame,score\n" + "".join(f"{n},{i},{v!r}\n" for n, i, v in rows))
    code, m, _, err = _run(tmp_path, capsys, path, gt_root=gt)
    assert code == 0, err
    _hand_values(m)


def test_a_split_array_says_the_order_it_assumed(tmp_path, gt, capsys):
    """A concatenated array is split in the ground truth's order, which is said in one note
    line and recorded; per-video formats get no such note."""
    np.save(tmp_path / "all.npy", np.concatenate([SCORES["01_0001"], SCORES["01_0002"]]))
    code, m, out, _ = _run(tmp_path, capsys, tmp_path / "all.npy", gt_root=gt)
    note = (f"{tmp_path / 'all.npy'}: one array of 7 scores split into the 2 test videos in "
            "the ground truth's order, sorted by name, numbers by value (natural order: 2 "
            "before 10): 01_0001 first, 01_0002 last; concatenated in any other order, the "
            "numbers are wrong and no check can tell: give one score file per video (format "
            "folder, npz or csv), which names each video's scores")
    assert code == 0 and f"note: {note}\n" in out and m["notes"] == [note]
    assert m["config"]["array_order"] == {"assumed": "ground truth", "n_videos": 2,
                                          "first": "01_0001", "last": "01_0002",
                                          "sorted_by_name": True}
    np.savez(tmp_path / "all.npz", **SCORES)
    code, m, out, _ = _run(tmp_path, capsys, tmp_path / "all.npz", gt_root=gt, out="npz")
    assert code == 0 and "note:" not in out and m["notes"] == []
    assert "array_order" not in m["config"]


def test_csv_labels_without_dataset_and_the_column_used_is_said(tmp_path, capsys):
    path = _csv(tmp_path / "s.csv", SCORES, LABELS)
    code, m, out, _ = _run(tmp_path, capsys, path)
    assert code == 0
    _hand_values(m)
    assert "scores: column score of" in out and "no score_unsmoothed column" in out
    assert m["config"]["column"] == "score"
    # a mulde report's CSV: auto reads score_unsmoothed and says why
    main(["evaluate", str(path), "--out", str(tmp_path / "full"), "--smoothing-sigma", "2"])
    capsys.readouterr()
    code, m, out, _ = _run(tmp_path, capsys, tmp_path / "full" / "frame_scores.csv", out="again")
    assert "column score_unsmoothed" in out and "a mulde report" in out
    assert m["micro_auc"] == pytest.approx(MICRO)
    code, _, out, _ = _run(tmp_path, capsys, tmp_path / "full" / "frame_scores.csv",
                           "--column", "score", out="smoothed")
    assert code == 0 and "column score of" in out


def test_a_mulde_reports_smoothed_score_column_smoothed_again_is_warned(tmp_path, capsys):
    path = _csv(tmp_path / "s.csv", SCORES, LABELS)
    main(["evaluate", str(path), "--out", str(tmp_path / "full"), "--smoothing-sigma", "2"])
    report = tmp_path / "full" / "frame_scores.csv"
    capsys.readouterr()
    code, m, _, err = _run(tmp_path, capsys, report, "--column", "score",
                           "--smoothing-sigma", "3", out="twice")
    warning = (f"mulde: warning: {report}: its score column is a mulde report's, already "
               "smoothed, and this evaluation smooths it again: give --column "
               "score_unsmoothed (or auto) or --smoothing-sigma 0")
    assert code == 0 and err.splitlines() == [warning]
    assert m["warnings"] == [warning.removeprefix("mulde: warning: ")]
    # unsmoothed here, the column auto picks, or another method's score column: no warning
    for i, (scores, options) in enumerate(((report, ("--column", "score")),
                                           (report, ("--smoothing-sigma", "3")),
                                           (path, ("--smoothing-sigma", "3")))):
        code, m, _, err = _run(tmp_path, capsys, scores, *options, out=f"ok{i}")
        assert code == 0 and "warning" not in err and not m.get("warnings")


def test_out_naming_a_file_is_a_one_line_error(tmp_path, gt, capsys):
    path = _csv(tmp_path / "s.csv", SCORES)
    blocker = tmp_path / "report.txt"
    blocker.write_text("x")
    code, _, _, err = _run(tmp_path, capsys, path, gt_root=gt, out="report.txt")
    assert code == 2 and blocker.read_text() == "x"
    assert err == (f"mulde: error: {blocker}: a file, not a folder; give a folder for the "
                   "outputs\n")


def test_excel_csv_spaced_header_and_any_score_column_read(tmp_path, gt, capsys):
    # Excel's "CSV UTF-8" starts with a byte-order mark; auto still finds score_unsmoothed
    text = _csv(tmp_path / "s.csv", SCORES).read_text()
    rows = [r.split(",") for r in text.splitlines()]
    report = "video, frame, score, score_unsmoothed\n" + "".join(
        f"{v}, {f}, 0, {s}\n" for v, f, s in rows[1:])
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf" + report.encode())
    code, m, out, err = _run(tmp_path, capsys, tmp_path / "bom.csv", gt_root=gt)
    assert code == 0, err
    _hand_values(m)
    assert "column score_unsmoothed" in out
    named = tmp_path / "named.csv"
    named.write_text(text.replace("video,frame,score", "video,frame,anomaly_score"))
    code, _, _, err = _run(tmp_path, capsys, named, gt_root=gt)
    assert code == 2 and "the file has columns ['video', 'frame', 'anomaly_score']" in err
    assert "--column anomaly_score" in err
    code, m, out, _ = _run(tmp_path, capsys, named, "--column", "anomaly_score", gt_root=gt)
    assert code == 0 and "scores: column anomaly_score of" in out
    _hand_values(m)


def test_a_report_folder_and_a_watch_csv_say_what_to_evaluate_instead(tmp_path, gt, capsys):
    path = _csv(tmp_path / "s.csv", SCORES)
    assert main(["evaluate", str(path), "--out", str(tmp_path / "run"), "--dataset",
                 "shanghaitech", "--root", str(gt), "--smoothing-sigma", "0"]) == 0
    capsys.readouterr()
    code, _, _, err = _run(tmp_path, capsys, tmp_path / "run", gt_root=gt, out="again")
    assert code == 2 and err.count("\n") == 1
    assert (f"{tmp_path / 'run'}: a mulde report folder, not one score file per video; "
            f"evaluate its frame scores: {tmp_path / 'run' / 'frame_scores.csv'}") in err
    code, m, _, _ = _run(tmp_path, capsys, tmp_path / "run" / "frame_scores.csv", gt_root=gt,
                         out="again")
    assert code == 0
    _hand_values(m)
    watch = tmp_path / "scores.csv"  # mulde watch's: one stream, no video column
    watch.write_text("frame,time_s,score,smoothed,velocity,top_stream\n"
                     "0,0.000,0.4,0.5,0.4,velocity\n")
    code, _, _, err = _run(tmp_path, capsys, watch, gt_root=gt)
    assert code == 2 and err.count("\n") == 1
    assert "mulde watch" in err and "add a column video naming the video" in err


def test_a_csv_label_column_ignored_for_the_dataset_is_warned(tmp_path, gt, capsys):
    flipped = {n: [1 - y for y in ys] for n, ys in LABELS.items()}  # would change every AUC
    path = _csv(tmp_path / "s.csv", SCORES, flipped)
    code, m, _, err = _run(tmp_path, capsys, path, gt_root=gt)
    assert code == 0
    _hand_values(m)  # the ground truth's labels
    said = (f"{path}: its label column is ignored; the labels are from the shanghaitech "
            "ground truth (--dataset)")
    assert err == f"mulde: warning: {said}\n" and said in m["warnings"]
    code, _, _, err = _run(tmp_path, capsys, _csv(tmp_path / "n.csv", SCORES), gt_root=gt,
                           out="fresh")
    assert code == 0 and err == ""  # no label column: nothing to say


def test_metrics_only_writes_metrics_json_alone_and_the_default_writes_the_report(
        tmp_path, gt, capsys):
    path = _csv(tmp_path / "s.csv", SCORES)
    code, m, out, _ = _run(tmp_path, capsys, path, gt_root=gt)
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["metrics.json"]
    # AP and EER are printed beside the AUCs
    printed = json.loads(out[out.index("{"):out.rindex("}") + 1])
    assert {"micro_auc", "macro_auc", "average_precision", "eer"} <= set(printed)
    assert printed["average_precision"] == round(AP, 4)  # as `mulde run` prints its AUCs
    assert main(["evaluate", str(path), "--out", str(tmp_path / "full"), "--dataset",
                 "shanghaitech", "--root", str(gt)]) == 0
    assert {"metrics.json", "report.html", "frame_scores.csv", "plots"} <= {
        p.name for p in (tmp_path / "full").iterdir()}
    # --metrics-only into the same folder: the earlier report goes, and the user is told
    capsys.readouterr()
    code, _, out, _ = _run(tmp_path, capsys, path, gt_root=gt, out="full")
    assert code == 0 and sorted(p.name for p in (tmp_path / "full").iterdir()) == [
        "metrics.json"]
    said = [line for line in out.splitlines() if line.startswith("removed")]
    assert said == [f"removed the earlier report's frame_scores.csv, report.html, plots/roc.png "
                    f"and 2 more from {tmp_path / 'full'}: they do not match the new "
                    "metrics.json (--metrics-only writes it alone)"]
    # the earlier report's own frame_scores.csv, evaluated into its own folder, is kept
    assert main(["evaluate", str(path), "--out", str(tmp_path / "again"), "--dataset",
                 "shanghaitech", "--root", str(gt)]) == 0
    own = tmp_path / "again" / "frame_scores.csv"
    before = own.read_bytes()
    capsys.readouterr()
    assert main(["evaluate", str(own), "--out", str(tmp_path / "again"), "--dataset",
                 "shanghaitech", "--root", str(gt), "--metrics-only"]) == 0
    assert own.read_bytes() == before and not (tmp_path / "again" / "report.html").exists()
    assert "frame_scores.csv" not in capsys.readouterr().out.split("removed")[-1]


def test_metrics_only_without_labels_is_a_usage_error(tmp_path, capsys):
    """No ground truth and no label column: --metrics-only would compute nothing; one line
    says what to give (it exited 0 with a note that frame scores and plots were written,
    which --metrics-only does not write: a newcomer's trial). Without it, the report of the
    scores alone."""
    np.savez(tmp_path / "s.npz", **SCORES)
    code, _, _, err = _run(tmp_path, capsys, tmp_path / "s.npz")
    assert code == 2 and err == (
        f"mulde: error: {tmp_path / 's.npz'}: no labels, so --metrics-only would write no "
        "metrics: give the ground truth with --dataset NAME --root PATH (or a CSV with a "
        "label column), or drop --metrics-only for a report of the scores alone (frame scores "
        "and plots)\n")
    assert not (tmp_path / "r").exists()
    assert main(["evaluate", str(tmp_path / "s.npz"), "--out", str(tmp_path / "full")]) == 0
    assert (tmp_path / "full" / "frame_scores.csv").is_file()


# ----------------------------------------------------------------------------- alignment


def test_frame_offset_drop_and_edge_hand_computed(tmp_path, gt, capsys):
    # scores of frames 2.. only: A [4, 3] (frames 2, 3), B [2] (frame 2)
    np.savez(tmp_path / "s.npz", **{"01_0001": [4.0, 3.0], "01_0002": [2.0]})
    code, m, out, err = _run(tmp_path, capsys, tmp_path / "s.npz", "--frame-offset", "2",
                             gt_root=gt)
    assert code == 0, err
    # drop: frames A2 (1), A3 (1), B2 (0) with 4, 3, 2 -> AUC 1
    assert m["micro_auc"] == 1.0 and m["n_frames"] == 3
    assert m["config"]["alignment"]["n_unscored_frames"] == {"01_0001": 2, "01_0002": 2}
    assert "4 frame(s) without a score" in out and "left out" in out
    # edge: A [4, 4, 4, 3], B [2, 2, 2]: positives {4, 3, 2} vs negatives {4, 4, 2, 2}:
    # (0.5 + 0.5 + 1 + 1) + (0 + 0 + 1 + 1) + (0 + 0 + 0.5 + 0.5) = 6 of 12
    code, m, out, _ = _run(tmp_path, capsys, tmp_path / "s.npz", "--frame-offset", "2",
                           "--unscored", "edge", gt_root=gt, out="edge")
    assert m["micro_auc"] == pytest.approx(0.5) and m["n_frames"] == 7
    assert "given the nearest score" in out


def test_end_offset_and_frames_per_score_hand_computed(tmp_path, gt, capsys):
    # 2 frames per score: A 4 frames -> 2 scores; B 3 frames -> 2 (last partial segment)
    np.savez(tmp_path / "s.npz", **{"01_0001": [1.0, 5.0], "01_0002": [0.0, 3.0]})
    code, m, _, err = _run(tmp_path, capsys, tmp_path / "s.npz", "--frames-per-score", "2",
                           gt_root=gt)
    assert code == 0, err
    # A [1, 1, 5, 5], B [0, 0, 3]: positives {5, 5, 0} vs negatives {1, 1, 0, 3}:
    # 4 + 4 + 0.5 = 8.5 of 12
    assert m["micro_auc"] == pytest.approx(8.5 / 12)
    # the concatenated array: B may also have floor(3 / 2) = 1 score (frame 2 unscored)
    np.save(tmp_path / "flat.npy", np.array([1.0, 5.0, 0.0]))
    code, m, _, err = _run(tmp_path, capsys, tmp_path / "flat.npy", "--frames-per-score", "2",
                           gt_root=gt, out="flat")
    assert code == 0, err
    # A [1, 1, 5, 5], B [0, 0] (frame 2 dropped): positives {5, 5, 0} vs {1, 1, 0}: 3+3+0.5
    assert m["micro_auc"] == pytest.approx(6.5 / 9) and m["n_frames"] == 6
    # end offset 1: A scores frames 0..2, B frames 0..1
    np.savez(tmp_path / "e.npz", **{"01_0001": [1.0, 2.0, 4.0], "01_0002": [0.0, 1.5]})
    code, m, _, err = _run(tmp_path, capsys, tmp_path / "e.npz", "--end-offset", "1",
                           gt_root=gt, out="end")
    # positives {4, 1.5} vs negatives {1, 2, 0}: 3 + 2 = 5 of 6
    assert code == 0 and m["micro_auc"] == pytest.approx(5 / 6) and m["n_frames"] == 5
    # offsets that leave a video no frame: the offsets are named, not "at least 1 scores
    # expected, 2 found" (a newcomer's trial)
    code, _, _, err = _run(tmp_path, capsys, tmp_path / "e.npz", "--end-offset", "3",
                           gt_root=gt, out="none")
    assert code == 2 and err.strip().endswith(
        "--frame-offset 0 and --end-offset 3 leave no frame to score in video '01_0002', which "
        "has 3 frames: they count the frames without a score at a video's start and end; give "
        "smaller ones")
    # where another video fits them, the offsets are not blamed (review)
    np.savez(tmp_path / "f.npz", **{"01_0001": [1.0], "01_0002": [0.0]})
    code, _, _, err = _run(tmp_path, capsys, tmp_path / "f.npz", "--end-offset", "3",
                           gt_root=gt, out="fit1")
    assert code == 2 and "leave no frame" not in err and "01_0002" in err


def _ubnormal(root: Path, abnormal: list[str], normal: list[str]) -> dict[str, list[int]]:
    """A UBnormal ground truth under `root`: the test split lists as given, and each video's
    labels in the .npy variant (1 = normal, as redistributed); returns {video: labels, 1 =
    anomalous} (an abnormal video's frame 1 anomalous, a video of 2 + its index frames)."""
    (root / "splits").mkdir(parents=True)
    (root / "gt").mkdir()
    (root / "splits" / "abnormal_test_video_names.txt").write_text("\n".join(abnormal) + "\n")
    (root / "splits" / "normal_test_video_names.txt").write_text("\n".join(normal) + "\n")
    labels = {}
    for i, name in enumerate([*abnormal, *normal]):
        y = [0] * (2 + i)
        y[1] = int(name.startswith("abnormal"))
        labels[name] = y
        with (root / "gt" / f"{name}_tracks.txt").open("wb") as handle:
            np.save(handle, 1 - np.array(y))
    return labels


def test_a_ubnormal_array_is_said_to_be_split_by_name_not_in_the_split_lists_order(tmp_path,
                                                                                 capsys):
    """UBnormal's test videos are sorted by name, numbers by value, which the official split
    lists (abnormal, then an unsorted normal list) are not: an array concatenated in the
    lists' order gave micro AUC 0.686 for 0.902 unsaid, the note naming the lists' first video
    too (a newcomer's trial); the note now says the order and that the lists' differs."""
    labels = _ubnormal(tmp_path / "ub", ["abnormal_scene_2_scenario_1",
                                         "abnormal_scene_10_scenario_1"],
                       ["normal_scene_3_scenario_1", "normal_scene_1_scenario_1"])
    order = ["abnormal_scene_2_scenario_1", "abnormal_scene_10_scenario_1",
             "normal_scene_1_scenario_1", "normal_scene_3_scenario_1"]
    np.save(tmp_path / "all.npy", np.concatenate([labels[n] for n in order]).astype(float))
    argv = ["evaluate", str(tmp_path / "all.npy"), "--dataset", "ubnormal", "--root",
            str(tmp_path / "ub"), "--out", str(tmp_path / "r"), "--smoothing-sigma", "0",
            "--metrics-only"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    m = json.loads((tmp_path / "r" / "metrics.json").read_text())
    note = (f"{tmp_path / 'all.npy'}: one array of 14 scores split into the 4 test videos in "
            "the ground truth's order, sorted by name, numbers by value (natural order: 2 "
            "before 10): abnormal_scene_2_scenario_1 first, normal_scene_3_scenario_1 last; "
            "not the order of the official split lists (abnormal_test_video_names.txt, then "
            f"normal_test_video_names.txt, in {tmp_path / 'ub' / 'splits'}), which list these "
            "videos in another order; concatenated in any other order, the numbers are wrong "
            "and no check can tell: give one score file per video (format folder, npz or "
            "csv), which names each video's scores")
    assert f"note: {note}\n" in out and note in m["notes"] and m["micro_auc"] == 1.0
    assert m["config"]["array_order"]["sorted_by_name"] is True
    # lists whose own order is the test order: no word of another order
    shutil.rmtree(tmp_path / "ub")
    _ubnormal(tmp_path / "ub", order[:2], order[2:])
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "one array of 14 scores" in out and "split lists" not in out


def test_length_mismatch_names_the_video_and_both_counts(tmp_path, gt, capsys):
    np.savez(tmp_path / "s.npz", **{"01_0001": [1.0, 2.0, 4.0], "01_0002": [0.0, 1.5, 2.0]})
    code, _, _, err = _run(tmp_path, capsys, tmp_path / "s.npz", gt_root=gt)
    assert code == 2
    assert ("video '01_0001': the ground truth has 4 frames, so 4 scores are expected (frame "
            "offset 0, end offset 0, 1 frame per score); found 3") in err
    assert err.count("\n") == 1  # one line
    np.save(tmp_path / "flat.npy", np.zeros(8))
    code, _, _, err = _run(tmp_path, capsys, tmp_path / "flat.npy", gt_root=gt)
    assert "8 scores, but the 2 test videos (7 frames; frame offset 0" in err and "need 7" in err
    with pytest.raises(EvaluationError, match="so 2 or 1 scores are expected"):
        FrameAlignment(frames_per_score=2).to_frames("v", np.zeros(3), 3)


def test_length_mismatch_names_the_option_that_fits(tmp_path, gt, capsys):
    # A has 4 frames, B 3: scores from frame 1 on -> 3 and 2 scores
    np.savez(tmp_path / "late.npz", **{"01_0001": [2.0, 4.0, 3.0], "01_0002": [1.5, 2.0]})
    code, _, _, err = _run(tmp_path, capsys, tmp_path / "late.npz", gt_root=gt)
    assert code == 2 and err.count("\n") == 1
    assert ("found 3: 1 frame of each video has no score, and the counts cannot tell at which "
            "end: give --frame-offset 1 if the method scores from frame 1 on (future-frame "
            "prediction), --end-offset 1 if it leaves out the last frame\n") in err
    code, _, _, _ = _run(tmp_path, capsys, tmp_path / "late.npz", "--frame-offset", "1",
                         gt_root=gt)
    assert code == 0
    np.savez(tmp_path / "pairs.npz", **{"01_0001": [1.0, 4.0], "01_0002": [1.0, 2.0]})
    code, _, _, err = _run(tmp_path, capsys, tmp_path / "pairs.npz", gt_root=gt)
    # 2 scores of 4 frames fit segments of 2 or 3 frames, but B's 2 of 3 frames only 2
    assert "found 2: one score per 2 frames fits: --frames-per-score 2" in err
    code, _, _, _ = _run(tmp_path, capsys, tmp_path / "pairs.npz", "--frames-per-score", "2",
                         gt_root=gt)
    assert code == 0
    np.save(tmp_path / "flat.npy", np.zeros(5))  # the one-array form: 7 frames, 2 videos
    code, _, _, err = _run(tmp_path, capsys, tmp_path / "flat.npy", gt_root=gt)
    assert "need 7: 1 frame of each video has no score, and the counts cannot tell" in err
    np.save(tmp_path / "far.npy", np.zeros(6))  # 1 frame short in total: no offset fits
    code, _, _, err = _run(tmp_path, capsys, tmp_path / "far.npy", gt_root=gt)
    assert code == 2 and "need 7\n" in err


def test_the_scores_own_labels_tell_which_end_lacks_a_score(tmp_path, gt, capsys):
    """Scores without a video's first frame and without its last fit the same offsets' sum,
    and were told the same "--frame-offset 1 (or --end-offset 1 ...)" (a newcomer's trial): a
    CSV's own label column, matching the ground truth's with the first or the last frames
    left out, names the one option that fits; where it matches neither, both are said."""
    first = {n: s[1:] for n, s in SCORES.items()}
    _csv(tmp_path / "first.csv", first, {n: y[1:] for n, y in LABELS.items()})
    _csv(tmp_path / "last.csv", {n: s[:-1] for n, s in SCORES.items()},
         {n: y[:-1] for n, y in LABELS.items()})
    _csv(tmp_path / "neither.csv", first, {n: [0] * (len(y) - 1) for n, y in LABELS.items()})
    said = {}
    for name in ("first", "last", "neither"):
        code, _, _, err = _run(tmp_path, capsys, tmp_path / f"{name}.csv", gt_root=gt)
        assert code == 2 and err.count("\n") == 1
        said[name] = err.split("found 3", 1)[1]
    assert said["first"] == (": the scores' own labels match the ground truth's with the first "
                             "frame of each video left out: give --frame-offset 1\n")
    assert said["last"] == (": the scores' own labels match the ground truth's with the last "
                            "frame of each video left out: give --end-offset 1\n")
    assert said["neither"].startswith(": 1 frame of each video has no score, and the counts "
                                      "cannot tell at which end")
    for name, option in (("first", "--frame-offset"), ("last", "--end-offset")):
        code, m, _, _ = _run(tmp_path, capsys, tmp_path / f"{name}.csv", option, "1",
                             gt_root=gt, out=name)
        assert code == 0 and m["n_frames"] == 5


def test_an_offset_is_suggested_only_when_it_fits_every_video(tmp_path, gt, capsys):
    """--frame-offset shifts every video: one video a frame short is named alone, videos off
    by different counts are listed, and no option is suggested for either."""
    np.savez(tmp_path / "one.npz", **{"01_0001": [1.0, 2.0, 4.0], "01_0002": [0.0, 1.5, 2.0]})
    code, _, _, err = _run(tmp_path, capsys, tmp_path / "one.npz", gt_root=gt)
    assert code == 2 and err == (  # the file, then the video (a newcomer's trial)
        f"mulde: error: {tmp_path / 'one.npz'}: video '01_0001': the ground truth has 4 "
        "frames, so 4 scores are "
        "expected (frame offset 0, end offset 0, 1 frame per score); found 3; the other 1 "
        "scored video fits, so no option (each shifts every video) fixes it: check how this "
        "video was scored\n")
    np.savez(tmp_path / "two.npz", **{"01_0001": [1.0, 2.0, 4.0], "01_0002": [0.0]})
    code, _, _, err = _run(tmp_path, capsys, tmp_path / "two.npz", gt_root=gt)
    assert code == 2 and err == (  # the file named too (it was not: a newcomer's trial)
        f"mulde: error: {tmp_path / 'two.npz'}: 2 of the 2 scored videos have a number of "
        "scores their frame count "
        "does not fit (frame offset 0, end offset 0, 1 frame per score): video '01_0001': 4 "
        "frames, 4 scores expected, 3 found; video '01_0002': 3 frames, 3 scores expected, 1 "
        "found; no one option (--frame-offset, --end-offset, --frames-per-score) fits them "
        "all: check how these videos were scored\n")


def test_remedy_ranges_and_limits():
    def error(alignment, found, n=180):
        with pytest.raises(EvaluationError) as err:
            alignment.to_frames("01", np.zeros(found), n)
        return str(err.value)

    assert error(FrameAlignment(), 176).endswith(
        "found 176: 4 frames of each video have no score, and the counts cannot tell at which "
        "end: give --frame-offset 4 if the method scores from frame 4 on (future-frame "
        "prediction), --end-offset 4 if it leaves out the last 4 frames, or the two summing to "
        "4 if it leaves out frames at both ends (a clip scored at its centre frame)")
    assert error(FrameAlignment(frame_offset=4), 170).endswith(
        "found 170: 6 more frames of each video have no score, and the counts cannot tell at "
        "which end: give --frame-offset 10 if the method scores from frame 10 on (future-frame "
        "prediction), --end-offset 6 if it leaves out the last 6 frames, or the two summing to "
        "10 if it leaves out frames at both ends (a clip scored at its centre frame)")
    assert error(FrameAlignment(), 60).endswith("--frames-per-score 3")
    # 12 scores of 180 frames fit segments of 14, 15 or 16 frames
    assert error(FrameAlignment(), 12).endswith("one score per 14 to 16 frames fits: "
                                                "--frames-per-score N, N the frames each score "
                                                "covers")
    assert error(FrameAlignment(frames_per_score=16), 10).endswith(
        "give --frame-offset 20 if the method scores from frame 20 on (future-frame "
        "prediction), --end-offset 20 if it leaves out the last 20 frames, or the two summing "
        "to 20 if it leaves out frames at both ends (a clip scored at its centre frame)")
    for found in (1, 100, 140, 181):  # too far off, or too many: no option is named
        assert error(FrameAlignment(), found).endswith(f"found {found}")
    # 2 scores of a million frames fit any length from 333,334 to a million: the error says
    # about which, after trying a sample of the lengths near frames / found
    assert error(FrameAlignment(), 2, n=1_000_000).endswith(
        "about one score per 500000 frames: --frames-per-score N, N the frames each score "
        "covers")
    # one array of 3 scores for 4 videos: no option gives each video a score
    with pytest.raises(EvaluationError) as err:
        FrameAlignment().split_array(np.zeros(3), {"a": 9, "b": 9, "c": 9, "d": 9})
    assert str(err.value).endswith("need 36")


def test_ped2_future_frame_scores_are_told_their_offset(tmp_path, capsys):
    root = data_dir("ucsd_ped2", "UCSDped2.m").parent
    counts = [180, 180, 150, 180, 150, 180, 180, 180, 120, 150, 180, 180]
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "s.npz", **{f"{i:02d}": rng.random(n - 4)
                                    for i, n in enumerate(counts, start=1)})
    argv = ["evaluate", str(tmp_path / "s.npz"), "--dataset", "ucsd_ped2", "--root", str(root),
            "--out", str(tmp_path / "r"), "--metrics-only"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "video '01': the ground truth has 180 frames" in err and "--frame-offset 4" in err
    assert main([*argv, "--frame-offset", "4"]) == 0


def test_an_npz_of_all_frames_under_another_name_is_told_format_array(tmp_path, gt, capsys):
    """An .npz whose one array, named "scores", holds all 7 test frames: told to read it
    with --format array (it said "1 video is not a test video of shanghaitech: scores", a
    newcomer's trial); beside another array, with its --key; which then reads it."""
    np.savez(tmp_path / "one.npz", scores=np.arange(7.0))
    code, _, _, err = _run(tmp_path, capsys, tmp_path / "one.npz", gt_root=gt)
    assert code == 2 and err == (
        f"mulde: error: {tmp_path / 'one.npz'}: array 'scores' is not a test video of "
        "shanghaitech, but its 7 scores fit the frames of all 2 test videos: if it holds them "
        "concatenated in the dataset's order, read it as one array: --format array\n")
    np.savez(tmp_path / "two.npz", scores=np.arange(7.0), labels=np.zeros(3))
    code, _, _, err = _run(tmp_path, capsys, tmp_path / "two.npz", gt_root=gt)
    assert code == 2 and err.rstrip().endswith("--format array --key scores")
    code, metrics, _, _ = _run(tmp_path, capsys, tmp_path / "two.npz", "--format", "array",
                               "--key", "scores", gt_root=gt)
    assert code == 0 and metrics["n_frames"] == 7
    # another length: the plain list of names that are no test videos
    np.savez(tmp_path / "six.npz", scores=np.arange(6.0))
    code, _, _, err = _run(tmp_path, capsys, tmp_path / "six.npz", gt_root=gt)
    assert code == 2 and "1 video is not a test video of shanghaitech: scores" in err


def test_video_names_missing_videos_and_partial(tmp_path, gt, capsys):
    np.savez(tmp_path / "s.npz", **{"01_0001": SCORES["01_0001"], "01_0099": [1.0]})
    code, _, _, err = _run(tmp_path, capsys, tmp_path / "s.npz", gt_root=gt)
    # a benchmark's fixed test set: no way to add one; the names, or scores to remove
    assert code == 2 and err.strip().endswith(
        "s.npz: 1 video is not a test video of shanghaitech: 01_0099 (its 2 test videos: "
        "01_0001, 01_0002); check its name against the test videos', or remove its scores")
    # --partial takes no other videos: it said so without what to do (a newcomer's trial)
    code, _, _, err = _run(tmp_path, capsys, tmp_path / "s.npz", "--partial", gt_root=gt)
    assert code == 2 and len(err.splitlines()) == 1 and err.strip().endswith(
        "01_0002); check its name against the test videos', or remove its scores (--partial "
        "leaves out test videos without scores, not scores of other videos)")
    np.savez(tmp_path / "a.npz", **{"01_0001": SCORES["01_0001"]})
    code, _, _, err = _run(tmp_path, capsys, tmp_path / "a.npz", gt_root=gt)
    assert code == 2 and "no scores for 1 of the 2 test videos of shanghaitech: 01_0002" in err
    assert "--partial" in err
    code, m, out, _ = _run(tmp_path, capsys, tmp_path / "a.npz", "--partial", gt_root=gt)
    assert code == 0 and m["n_videos"] == 1 and m["micro_auc"] == 1.0
    assert m["config"]["videos_without_scores"] == ["01_0002"]
    note = ("partial evaluation (--partial): 1 of the 2 test videos of shanghaitech evaluated "
            "(1 without scores, first 01_0002): the numbers are not the benchmark's")
    assert f"note: {note}\n" in out and m["notes"] == [note]
    code = main(["evaluate", str(tmp_path / "a.npz"), "--out", str(tmp_path / "full"),
                 "--dataset", "shanghaitech", "--root", str(gt), "--partial"])
    page = (tmp_path / "full" / "report.html").read_text()
    assert code == 0 and ("1 labelled test video, 4 frames, 2 anomalous; <b>partial: 1 of 2 "
                          "test videos evaluated: the numbers are not the benchmark's</b>"
                          ) in page


def test_names_differing_by_leading_zeros_or_an_extension_are_told_to_rename(
        tmp_path, gt, capsys):
    np.savez(tmp_path / "s.npz", **{"1_0001": SCORES["01_0001"],
                                    "01_0002.avi": SCORES["01_0002"]})
    code, _, _, err = _run(tmp_path, capsys, tmp_path / "s.npz", gt_root=gt)
    assert code == 2 and err.strip().endswith(
        "s.npz: 2 videos are not test videos of shanghaitech: 1_0001, 01_0002.avi (its 2 test "
        "videos: 01_0001, 01_0002); they differ from the test videos' names only by leading "
        "zeros, a Test prefix or an extension: rename them (1_0001 -> 01_0001)")
    # one name that maps to no test video: no renaming hint
    np.savez(tmp_path / "t.npz", **{"1_0001": SCORES["01_0001"], "9_0002": SCORES["01_0002"]})
    code, _, _, err = _run(tmp_path, capsys, tmp_path / "t.npz", gt_root=gt)
    assert code == 2 and "rename" not in err
    assert _name_key("Abuse028_x264.mp4") == _name_key("Abuse028_x264")
    assert _name_key("1") == _name_key("01") and _name_key("1_0014") == _name_key("01_0014")
    # UCSD's official folder names against the testing/frames/ copy's (a newcomer's trial)
    assert _name_key("Test001") == _name_key("01") == _name_key("test1")
    assert _name_key("Testing1") != _name_key("1")


def test_an_extra_video_of_a_folder_says_how_to_make_it_a_test_video(tmp_path, capsys):
    """A folder dataset with labels.csv alone names the anomalous videos only; an all-normal
    video scored too is told the test/ folder (labels.csv has no row for it) or the CSV's own
    labels, and with test/ holding it, it is evaluated."""
    root = tmp_path / "gt"
    root.mkdir()
    (root / "labels.csv").write_text("video,start,end\nvidA,1,2\nvidB,0,0\n")
    rows = [f"{v},{f},{s},{y}" for v, ss, ys in (
        ("vidA", [0.1, 0.9, 0.8, 0.2], [0, 1, 1, 0]), ("vidB", [0.7, 0.3], [1, 0]),
        ("vidC", [0.2, 0.1, 0.3], [0, 0, 0])) for f, (s, y) in enumerate(zip(ss, ys, strict=True))]
    scores = tmp_path / "s.csv"
    scores.write_text("video,frame,score,label\n" + "\n".join(rows) + "\n")
    argv = ["evaluate", str(scores), "--out", str(tmp_path / "r"), "--dataset", "folder",
            "--root", str(root), "--smoothing-sigma", "0", "--metrics-only"]
    assert main(argv) == 2
    assert capsys.readouterr().err.strip() == (
        f"mulde: error: {scores}: 1 video is not a test video of {root}: vidC (its 2 test "
        f"videos: vidA, vidB); {root} has no test/ folder, so the test videos are those "
        "labels.csv names, and it names only videos with an anomalous range: for all-normal "
        f"test videos too, put every test video in {root / 'test'} (video files or frame "
        f"folders; labels.csv keeps the ranges), or drop --dataset and --root to take the "
        f"labels from {scores}'s label column")
    (root / "test").mkdir()
    for name in ("vidA", "vidB"):
        (root / "test" / f"{name}.mp4").write_bytes(b"")  # names only: evaluate decodes none
    assert main(argv) == 2
    assert capsys.readouterr().err.strip().endswith(
        f"(its 2 test videos: vidA, vidB); the test videos are those in {root / 'test'}: put "
        f"the video there, or drop --dataset and --root to take the labels from {scores}'s "
        "label column")
    (root / "test" / "vidC.mp4").write_bytes(b"")
    assert main(argv) == 0
    m = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert m["n_videos"] == 3 and m["n_anomalous_frames"] == 3 and m["micro_auc"] == 1.0
    assert main(argv[:4] + argv[8:]) == 0  # without --dataset: the CSV's labels, the same
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["micro_auc"] == 1.0


def test_a_folder_given_as_dot_is_named_by_its_path(tmp_path, monkeypatch):
    """--root . (or ..) names no folder in a line ("test videos of ."): its absolute path
    does; a benchmark keeps its name, any other --root its words as given."""
    from mulde.cli import _dataset_named

    monkeypatch.chdir(tmp_path)
    assert _dataset_named("folder", ".") == str(tmp_path)
    assert _dataset_named("folder", "..") == str(tmp_path.parent)
    assert _dataset_named("folder", "lobby") == "lobby"
    assert _dataset_named("ucsd_ped2", ".") == "ucsd_ped2"


def test_a_folder_dataset_is_named_by_the_root_given_not_the_word_folder(tmp_path, capsys):
    """`--dataset folder`: the messages name the folder given as --root ("1 of the 2 test
    videos of folder" said nothing of which)."""
    root = tmp_path / "lobby"
    (root / "test").mkdir(parents=True)
    (root / "labels.csv").write_text("video,start,end\nvidA,1,2\n")
    for name in ("vidA", "vidB"):
        (root / "test" / f"{name}.mp4").write_bytes(b"")  # names only: evaluate decodes none
    scores = _csv(tmp_path / "s.csv", {"vidA": [0.1, 0.9, 0.8, 0.2]}, {"vidA": [0, 1, 1, 0]})
    argv = ["evaluate", str(scores), "--out", str(tmp_path / "r"), "--dataset", "folder",
            "--root", str(root), "--smoothing-sigma", "0", "--metrics-only"]
    assert main(argv) == 2
    assert f"no scores for 1 of the 2 test videos of {root}: vidB" in capsys.readouterr().err
    assert main([*argv, "--partial"]) == 0
    out, err = capsys.readouterr()
    assert (f"note: partial evaluation (--partial): 1 of the 2 test videos of {root} evaluated "
            "(1 without scores, first vidB): the numbers are not over all of them\n") in out
    assert (f"{scores}: its label column is ignored; the labels are from the ground truth in "
            f"{root / 'labels.csv'} (--dataset)") in err
    # the ground truth is named by its file, not as "the lobby ground truth" (no dataset's)
    np.savez(tmp_path / "s.npz", vidA=[0.1, 0.9, 0.8, 0.2], vidB=[0.1, 0.2])
    assert main(["evaluate", str(tmp_path / "s.npz"), "--out", str(tmp_path / "n"),
                 "--dataset", "folder", "--root", str(root), "--metrics-only"]) == 0
    assert (f"note: the ground truth in {root / 'labels.csv'} states anomalous ranges only, so "
            "the frame counts of 2 of the 2 scored videos come from their scores"
            ) in capsys.readouterr().out


def test_option_combinations_that_cannot_work_are_one_line_errors(tmp_path, gt, capsys):
    np.save(tmp_path / "flat.npy", np.zeros(7))
    code, _, _, err = _run(tmp_path, capsys, tmp_path / "flat.npy")
    assert code == 2 and "one array of all frames needs --dataset and --root" in err
    assert main(["evaluate", str(tmp_path / "flat.npy"), "--out", str(tmp_path / "x"),
                 "--dataset", "shanghaitech"]) == 2
    assert "--dataset and --root go together" in capsys.readouterr().err
    path = _csv(tmp_path / "s.csv", SCORES, LABELS)
    code, _, _, err = _run(tmp_path, capsys, path, "--frame-offset", "1")
    assert code == 2 and ("--frame-offset, --end-offset, --frames-per-score, "
                          "--segments-per-video and --frame-counts need --dataset") in err
    (tmp_path / "counts.csv").write_text("video,frames\n01_0001,4\n")
    code, _, _, err = _run(tmp_path, capsys, path, "--frame-counts", str(tmp_path / "counts.csv"))
    assert code == 2 and "--frame-counts need --dataset and --root" in err
    code, _, _, err = _run(tmp_path, capsys, tmp_path / "flat.npy", "--column", "score",
                           gt_root=gt)
    assert code == 2 and "--column applies to CSV score files" in err
    code, _, _, err = _run(tmp_path, capsys, tmp_path / "nope.npy", gt_root=gt)
    assert code == 2 and "nope.npy: score file not found" in err
    (tmp_path / "bad.txt").write_text("1.0\n2.0 x\n")
    code, _, _, err = _run(tmp_path, capsys, tmp_path / "bad.txt", gt_root=gt)
    assert code == 2 and "bad.txt, line 2: 'x' is not a number" in err


def test_a_text_file_of_words_in_a_score_folder_is_said_to_be_no_score_file(tmp_path, gt,
                                                                             capsys):
    """A newcomer's README.txt beside the per-video .txt scores was said as "f2/README.txt,
    line 1: 'run' is not a number": it is no score file, to be moved out; a video's file with
    a bad row (or a header line of several names above its numbers) is still named by line
    and value, and a header line of one name (`score`) is read as a one-column CSV's is."""
    folder = tmp_path / "f2"
    folder.mkdir()
    for name, s in SCORES.items():
        (folder / f"{name}.txt").write_text("\n".join(map(str, s)) + "\n")
    (folder / "README.txt").write_text("run 3 of our method\nscores per frame, 2024\n")
    code, _, out, err = _run(tmp_path, capsys, folder, gt_root=gt)
    assert code == 2 and out == "" and err == (
        f"mulde: error: {folder / 'README.txt'}: not a score file (line 1: 'run 3 of our "
        "method'; no line holds numbers alone): a score folder holds one file of numbers per "
        "video, named after it; move this file out of the folder\n")
    (folder / "README.txt").unlink()
    for text, said in (
            ("0.1\nx\n0.3\n0.4\n", "line 2: 'x' is not a number"),
            ("frame score\n0 0.1\n1 0.2\n", "line 1: 'frame' is not a number; a .txt of scores "
             "holds numbers alone, under at most a one-word first line naming them (such as "
             "score): for columns such as frame,score save the file as .csv"),
            ("score\nx\n0.2\n", "line 2: 'x' is not a number"),
            # a missing first score, no header: skipped, it shifted every score by a frame
            ("null\n0.2\n0.3\n", "line 1: 'null' is not a number; every frame needs a score: "
             "score it, or leave out the lines of a video's unscored first or last frames and "
             "give --frame-offset or --end-offset"),
            ("0.1x\n0.2\n0.3\n", "line 1: '0.1x' is not a number")):
        (folder / "01_0001.txt").write_text(text)
        code, _, _, err = _run(tmp_path, capsys, folder, gt_root=gt)
        assert code == 2 and err == f"mulde: error: {folder / '01_0001.txt'}, {said}\n"
    # a newcomer's files with a header line `score`: "'score' is not a number"
    for name, s in SCORES.items():
        (folder / f"{name}.txt").write_text("score\n" + "\n".join(map(str, s)) + "\n")
    code, m, _, err = _run(tmp_path, capsys, folder, gt_root=gt)
    assert code == 0, err
    _hand_values(m)


def test_a_folder_of_one_csv_per_video_is_read(tmp_path, gt, capsys):
    """A newcomer's folder of per-video CSVs (`frame,score`) was refused ("no score files
    (.npy, .npz or .txt, one per video)"), and --format csv then said to use folder: a
    loop. Each layout of one video's CSV gives the hand-computed metrics; a `frame` column
    places the rows (sorted, checked), a `label` column labels without --dataset."""
    a, b = SCORES["01_0001"], SCORES["01_0002"]
    layouts = {
        "header": ("score\n" + "".join(f"{v}\n" for v in a), "score\n" + "".join(
            f"{v}\n" for v in b)),
        "frames": ("frame,score\n3,3.0\n0,1.0\n2,4.0\n1,2.0\n",  # in any order
                   ",frame,score\n0,0,0.0\n1,1,1.5\n2,2,2.0\n"),  # pandas' index column
        "bare": ("".join(f"{v}\n" for v in a), "0\n1.5\n2\n"),  # no header: one column
        "named": ("anomaly_score\n" + "".join(f"{v}\n" for v in a),
                  "frame,anomaly_score\n0,0\n1,1.5\n2,2\n"),  # its one score column
        "report": ("video,frame,score,score_unsmoothed\n" + "".join(
            f"01_0001,{i},9,{v}\n" for i, v in enumerate(a)), "frame,score\n0,0\n1,1.5\n2,2\n"),
    }
    for layout, (first, second) in layouts.items():
        folder = tmp_path / layout
        folder.mkdir()
        (folder / "01_0001.csv").write_text(first)
        (folder / "01_0002.csv").write_text(second)
        code, m, _, err = _run(tmp_path, capsys, folder, gt_root=gt, out=f"r_{layout}")
        assert code == 0, (layout, err)
        _hand_values(m)
        assert m["config"]["format"] == "folder"
    labelled = tmp_path / "labelled"
    labelled.mkdir()
    np.save(labelled / "01_0002.npy", np.array(b))  # a video without labels: left out
    (labelled / "01_0001.csv").write_text("frame,score,label\n" + "".join(
        f"{i},{v},{y}\n" for i, (v, y) in enumerate(zip(a, LABELS["01_0001"], strict=True))))
    code, m, out, err = _run(tmp_path, capsys, labelled, out="labelled")
    assert code == 0, err
    assert m["n_videos"] == 1 and m["micro_auc"] == 1.0 and m["unlabelled_videos"] == ["01_0002"]
    several = tmp_path / "several"  # --column names the column in each CSV
    several.mkdir()
    for name, s in SCORES.items():
        (several / f"{name}.csv").write_text("frame,psnr,err\n" + "".join(
            f"{i},{-v},{v}\n" for i, v in enumerate(s)))
    code, _, _, err = _run(tmp_path, capsys, several, gt_root=gt)
    assert code == 2 and "01_0001.csv: no column 'score' of scores; the file has columns " \
        "['frame', 'psnr', 'err']: name the scores' column score (or score_unsmoothed), or " \
        "give its name with --column (e.g. --column psnr)" in err
    code, m, _, err = _run(tmp_path, capsys, several, "--column", "err", gt_root=gt,
                           out="several")
    assert code == 0, err
    _hand_values(m)
    code, _, _, err = _run(tmp_path, capsys, tmp_path / "bare", "--column", "err", gt_root=gt)
    assert code == 2 and err == (f"mulde: error: {tmp_path / 'bare' / '01_0001.csv'}: no header "
                                 "row, so --column err names no column of it: drop --column, "
                                 "or add a header row\n")


@pytest.mark.parametrize("text, said", [
    ("frame,score\n0,1\n2,2\n", r"01_0002\.csv, row 3: video '01_0002' frame 2, expected 1; "),
    ("frame,score\n0,1\n0,2\n", r"01_0002\.csv, row 3: video '01_0002' frame 0 again "),
    ("score\n1\nnan\n2\n", r"01_0002\.csv, row 3, column 'score': 'nan' \(NaN, no score\)"),
    ("0,1\n1,2\n", r"01_0002\.csv, row 1: 2 columns of numbers and no header row: add a first "
     r"row naming them \(e\.g\. frame,score\), or keep the column of scores alone; if 0,1 is "
     r"one score with a decimal comma, write 0\.1$"),
    ("0,1\n1,2,3\n", r"01_0002\.csv, row 1: 2 columns of numbers and no header row: add a "
     r"first row naming them \(e\.g\. frame,score\), or keep the column of scores alone; if "),
    ("0.5\n0,25\n", r"01_0002\.csv, row 2: 2 fields, but the file has no header row and its "
     r"first row one score: decimal comma\? write 0\.25 for 0,25 \(commas separate the "
     r"fields; write numbers with a decimal point\)$"),
    ("1\n2,x\n", r"01_0002\.csv, row 2: 2 fields, but the file has no header row and its first "
     r"row one score: give one score a row"),
    ("score\n", r"01_0002\.csv: no score rows \(a header row alone\); give one row per frame$"),
    # a first frame's missing score is no header: skipped, it shifted every score by a frame
    ("None\n1\n2\n", r"01_0002\.csv, row 1: 'None' is not a number \(no header row names a "
     r"column so\); every frame needs a score: score it, or leave out the lines of a video's "
     r"unscored first or last frames and give --frame-offset or --end-offset$"),
    ("", r"01_0002\.csv: empty; a video's score CSV holds one score per frame: a column score "
     r"\(or frame,score columns\) under a header row$"),
])
def test_a_bad_csv_in_a_score_folder_is_one_line_naming_file_and_row(tmp_path, gt, capsys,
                                                                     text, said):
    folder = tmp_path / "f"
    folder.mkdir()
    np.save(folder / "01_0001.npy", np.array(SCORES["01_0001"]))
    (folder / "01_0002.csv").write_text(text)
    code, _, out, err = _run(tmp_path, capsys, folder, gt_root=gt)
    assert code == 2 and out == "" and len(err.splitlines()) == 1
    assert re.search(said, err.removeprefix("mulde: error: ").rstrip("\n")), err


def test_a_stray_csv_in_a_score_folder_is_left_out_or_said_to_be_moved_out(tmp_path, gt,
                                                                          capsys):
    """Since a score folder reads .csv files, a summary.csv or a frame-count counts.csv
    beside .npy scores that evaluated before broke the folder ("no column 'score' ... (e.g.
    --column method)", "the file is video 'counts''s"). Beside scores of another kind it is
    left out, said in one note; among per-video .csv scores it is one line to move it out;
    a .csv named after a video but holding another's rows is left out so too."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    for name, s in SCORES.items():
        np.save(folder / f"{name}.npy", np.array(s))
    (folder / "summary.csv").write_text("method,auc\nours,0.9\n")
    (folder / "counts.csv").write_text("video,frames\n01_0001,4\n01_0002,3\n")
    code, m, _, err = _run(tmp_path, capsys, folder, gt_root=gt)
    assert code == 0, err
    _hand_values(m)
    assert err == (f"mulde: note: {folder}: not read as score files (a score folder holds one "
                   "file of scores per video, named after it): counts.csv (row 2 names video "
                   "'01_0001'); summary.csv (no column 'score' of scores among its columns "
                   "['method', 'auc'])\n")
    (folder / "01_0002.npy").unlink()
    (folder / "01_0002.csv").write_text("video,frame,score\n01_0001,0,1\n")  # another's rows
    code, _, _, err = _run(tmp_path, capsys, folder, gt_root=gt)
    assert code == 2 and "01_0002.csv (row 2 names video '01_0001')" in err
    csvs = tmp_path / "csvs"
    csvs.mkdir()
    for name, s in SCORES.items():
        (csvs / f"{name}.csv").write_text("frame,score\n" + "".join(
            f"{i},{v}\n" for i, v in enumerate(s)))
    for stray, why in (("counts.csv", "row 2 names video '01_0001'"),
                       ("summary.csv", "no column 'score' of scores among its columns "
                                       "['method', 'auc']")):
        (csvs / stray).write_text((folder / stray).read_text())
        code, _, out, err = _run(tmp_path, capsys, csvs, gt_root=gt)
        assert code == 2 and out == "" and err == (
            f"mulde: error: {csvs / stray}: not a score file of video {stray[:-4]!r} ({why}): a "
            "score folder holds one file of scores per video, named after it; move this file "
            "out of the folder\n")
        (csvs / stray).unlink()
    # every .csv of several videos' rows: no stray, each file is told what to do
    for name in SCORES:
        (csvs / f"{name}.csv").write_text("video,frame,score\nx,0,1\n")
    code, _, _, err = _run(tmp_path, capsys, csvs, gt_root=gt)
    assert code == 2 and err == (
        f"mulde: error: {csvs / '01_0001.csv'}, row 2, column 'video': 'x', but the file's name "
        "says video '01_0001' (a score folder holds one file per video, named after it): "
        "evaluate a file of several videos' rows alone (format csv), not its folder\n")


def test_decimal_comma_scores_are_refused_not_read_as_their_whole_part(tmp_path, gt, capsys):
    """A newcomer's frame_scores written with decimal commas gave AUCs of the scores' whole
    parts (0,1461 read as 0), unsaid, from a CSV file and a folder of per-video CSVs alike."""
    path = tmp_path / "dc.csv"
    path.write_text("video,frame,score\n" + "".join(
        f"{name},{i},{str(v).replace('.', ',')}\n" for name, s in SCORES.items()
        for i, v in enumerate(s)))
    code, _, out, err = _run(tmp_path, capsys, path, gt_root=gt)
    assert code == 2 and out == "" and err == (
        f"mulde: error: {path}, row 2: 4 fields, the header 3 (video,frame,score); decimal "
        "comma? write 1.0 for 1,0 (commas separate the fields; write numbers with a decimal "
        "point)\n")
    folder = tmp_path / "dcf"
    folder.mkdir()
    for name, s in SCORES.items():
        (folder / f"{name}.csv").write_text("frame,score\n" + "".join(
            f"{i},{str(v).replace('.', ',')}\n" for i, v in enumerate(s)))
    code, _, _, err = _run(tmp_path, capsys, folder, gt_root=gt)
    assert code == 2 and err.startswith(
        f"mulde: error: {folder / '01_0001.csv'}, row 2: 3 fields, the header 2 (frame,score); "
        "decimal comma? write 1.0 for 1,0 ")


def test_a_folder_without_score_files_and_format_csv_on_a_folder_say_the_layout(tmp_path, gt,
                                                                                capsys):
    """The two messages of a newcomer's loop: both say what a score folder holds."""
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "notes.md").write_text("x")
    code, _, _, err = _run(tmp_path, capsys, folder, gt_root=gt)
    assert code == 2 and err == (
        f"mulde: error: {folder}: no score files; a score folder holds one file per video, "
        "named after it: .npy, .npz (one array), .txt (numbers) or .csv (a score column, "
        "frame optional)\n")
    code, _, _, err = _run(tmp_path, capsys, folder, "--format", "csv", gt_root=gt)
    assert code == 2 and err == (
        f"mulde: error: {folder}: a folder, which format csv does not read; give --format "
        "folder (or auto): one score file per video, named after it (.npy, .npz, .txt, or "
        ".csv with a score column)\n")
    np.save(folder / "01_0001.npy", np.zeros(4))
    code, _, _, err = _run(tmp_path, capsys, folder, "--column", "score", gt_root=gt)
    assert code == 2 and err == (
        f"mulde: error: {folder}: --column score names a column of CSV files, and this folder "
        "holds .npy files: drop it\n")


def test_ranges_only_ground_truth_takes_the_frame_count_from_the_scores(tmp_path, capsys):
    ann = tmp_path / "ucf" / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
    ann.parent.mkdir()
    ann.write_text("Abuse028_x264.mp4 Abuse 2 3 -1 -1\nNormal_Videos_003_x264.mp4 Normal "
                   "-1 -1 -1 -1\n")
    np.savez(tmp_path / "s.npz", Abuse028_x264=[0.0, 3.0, 2.0, 1.0],
             Normal_Videos_003_x264=[1.5, 0.5])
    code = main(["evaluate", str(tmp_path / "s.npz"), "--out", str(tmp_path / "r"),
                 "--dataset", "ucf_crime", "--root", str(ann.parent), "--smoothing-sigma", "0",
                 "--metrics-only"])
    out, err = capsys.readouterr()
    assert code == 0, err
    # said on stdout too (it was in metrics.json alone: a newcomer's trial)
    note = ("the ucf_crime ground truth states anomalous ranges only, so the frame counts of 2 "
            "of the 2 scored videos come from their scores: frames = scores (one frame per "
            "score); metrics.json's config.alignment.frames_from_scores lists them "
            "(--frame-counts FILE gives them instead)")
    assert f"note: {note}\n" in out
    m = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert note in m["notes"] and m["config"]["alignment"]["frame_count_rule"] == (
        "frames = scores")
    # labels [0, 1, 1, 0] and [0, 0]: positives {3, 2} vs negatives {0, 1, 1.5, 0.5}: 8 of 8
    assert m["micro_auc"] == 1.0 and m["n_frames"] == 6
    assert m["config"]["alignment"]["frames_from_scores"] == ["Abuse028_x264",
                                                              "Normal_Videos_003_x264"]
    assert m["protocol"]["smoothing_sigma"] == 0.0
    np.save(tmp_path / "flat.npy", np.zeros(6))
    assert main(["evaluate", str(tmp_path / "flat.npy"), "--out", str(tmp_path / "r2"),
                 "--dataset", "ucf_crime", "--root", str(ann.parent)]) == 2
    assert "states ranges only for 2 videos (first Abuse028_x264)" in capsys.readouterr().err


def test_segment_scores_for_ranges_only_ground_truth_take_frames_per_score(tmp_path, capsys):
    """UCF-Crime scores one per 16-frame segment end before the annotated ranges: the error
    says they look like segment scores and names --frames-per-score 16, which takes each
    video's frame count as 16 x its scores (it was refused for want of a frame count, the
    user told to np.repeat the scores: a newcomer's trial), said in a note and in config."""
    ann = tmp_path / "ucf" / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
    ann.parent.mkdir()
    ann.write_text("Abuse028_x264.mp4 Abuse 165 240 -1 -1\n")
    segments = np.zeros(28)
    segments[11:14] = 1.0  # frames 176..223, inside the annotated 164..239 (0-based)
    np.savez(tmp_path / "s.npz", Abuse028_x264=segments)
    argv = ["evaluate", str(tmp_path / "s.npz"), "--out", str(tmp_path / "r"),
            "--dataset", "ucf_crime", "--root", str(ann.parent), "--metrics-only",
            "--smoothing-sigma", "0"]
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        f"mulde: error: {ann} (Abuse028_x264): range 164..239 (0-based) starts after the last "
        "frame 27: the 28 scores are far fewer than the annotated frames (up to 239), so they "
        "look like one score per segment of frames (C3D/I3D clips: 16 frames): give "
        "--frames-per-score 16 (each score then covers that many frames)\n")
    assert main([*argv, "--frames-per-score", "16"]) == 0
    out = capsys.readouterr().out
    note = ("the ucf_crime ground truth states anomalous ranges only, so the frame counts of 1 "
            "of the 1 scored videos come from their scores: frames = 16 x scores (each score "
            "repeated over its 16 frames, as C3D/I3D segment scores are evaluated); "
            "metrics.json's config.alignment.frames_from_scores lists them (--frame-counts FILE "
            "gives them instead)")
    m = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert f"note: {note}\n" in out and note in m["notes"]
    assert m["n_frames"] == 448 and m["n_anomalous_frames"] == 76
    # positives: frames 164..239, 48 scored 1 and 28 scored 0, against 372 normal frames
    # scored 0: AUC = (48 * 372 + 28 * 372 / 2) / (76 * 372)
    assert m["micro_auc"] == pytest.approx((48 + 28 / 2) / 76)
    assert m["config"]["alignment"]["frames_from_scores"] == ["Abuse028_x264"]
    assert m["config"]["alignment"]["frame_count_rule"] == "frames = 16 x scores"
    # a range that starts past 16 x the scores: said with the frame count's rule
    ann.write_text("Abuse028_x264.mp4 Abuse 450 460 -1 -1\n")
    assert main([*argv, "--frames-per-score", "16"]) == 2
    assert capsys.readouterr().err.rstrip().endswith(
        "range 449..459 (0-based) starts after the last frame 447: the frame count is taken "
        "from the 28 scores (frames = 16 x scores)")
    # a bit short: the scores, not the annotation, are named, segments only as a possibility
    # (it blamed the annotation alone: a newcomer's trial)
    np.savez(tmp_path / "s.npz", Abuse028_x264=np.zeros(200))
    ann.write_text("Abuse028_x264.mp4 Abuse 221 240 -1 -1\n")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.rstrip().endswith(
        "220..239 (0-based) starts after the last frame 199: the 200 scores end before the "
        "annotated frames (up to 239); this ground truth takes a video's frame count from its "
        "scores, one per frame: if they are one per segment of frames (C3D/I3D clips: 16 "
        "frames), give --frames-per-score 16, else score every frame of the video")


def test_segment_scores_with_ranges_past_16_x_their_count_are_clipped_as_ever(tmp_path):
    """With --frames-per-score on UCF-Crime, an annotated range ending past 16 x the scores
    is clipped to the last frame with the one AnnotationClippedWarning, as one score per
    frame is; the frame offset adds its frames to the count."""
    ann = tmp_path / "ucf" / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
    ann.parent.mkdir()
    ann.write_text("Abuse028_x264.mp4 Abuse 30 100 -1 -1\n")
    np.savez(tmp_path / "s.npz", Abuse028_x264=[0.0, 0.0, 1.0, 1.0])
    from mulde.datasets.ground_truth import AnnotationClippedWarning

    with pytest.warns(AnnotationClippedWarning, match=r"Abuse028_x264 \(68 frames\); clipped"):
        assert main(["evaluate", str(tmp_path / "s.npz"), "--out", str(tmp_path / "r"),
                     "--dataset", "ucf_crime", "--root", str(ann.parent), "--metrics-only",
                     "--frames-per-score", "16", "--frame-offset", "4",
                     "--smoothing-sigma", "0"]) == 0
    m = json.loads((tmp_path / "r" / "metrics.json").read_text())
    # frames 4..67 scored (64); anomalous 29..67: 7 frames of segment 1 (20..35, scored 0)
    # and the 32 of segments 2 and 3 (scored 1); the 25 normal frames 4..28 scored 0
    assert m["n_frames"] == 64 and m["config"]["alignment"]["frame_count_rule"] == (
        "frames = 4 + 16 x scores")
    assert m["n_anomalous_frames"] == 39 and m["micro_auc"] == pytest.approx(
        (32 * 25 + 7 * 25 / 2) / (39 * 25))


def test_a_folder_range_past_the_scores_is_one_line_with_the_segment_hint(tmp_path, capsys):
    """A folder's labels.csv range past a video's 150 scores: the range error with the hint,
    one line (it rebuilt the error by its type, RangeError, with one argument: a TypeError
    traceback, a newcomer's trial)."""
    root = tmp_path / "f"
    root.mkdir()
    (root / "labels.csv").write_text("video,start,end\nv1,100,199\n")
    np.savez(tmp_path / "s.npz", v1=np.zeros(150))
    assert main(["evaluate", str(tmp_path / "s.npz"), "--out", str(tmp_path / "r"),
                 "--dataset", "folder", "--root", str(root), "--metrics-only"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mulde: error: {root / 'labels.csv'} (v1, row 2): range 100..199 "
                          "lies outside the 150 frames numbered 0..149: the 150 scores end "
                          "before the annotated frames (up to 199)")
    assert err.count("\n") == 1 and "give --frames-per-score 16" in err


# UCF-Crime in Sultani et al.'s format: an annotation (1-based) and each video's frame count.
# A (10 frames) 5..8 -> 0-based 4..7; B (8 frames) normal; C (6 frames) 1..3 -> 0..2.
UCF_ANNOTATION = ("A.mp4 Abuse 5 8 -1 -1\nB.mp4 Normal_Videos_event -1 -1 -1 -1\n"
                  "C.mp4 Fighting 1 3 -1 -1\n")
UCF_FRAMES = {"A": 10, "B": 8, "C": 6}
# 2 segments each: A [0.1 x5, 0.9 x5], B [0.2 x4, 0.3 x4], C [0.8 x3, 0.4 x3]. Positives
# 0.1 (A4), 0.9 x3, 0.8 x3; negatives 0.1 x4, 0.2 x4, 0.3 x4, 0.4 x3, 0.9 x2: the 0.1 ties 4
# (2), each 0.9 beats 15 and ties 2 (16), each 0.8 beats 15: (2 + 48 + 45) / (7 x 17).
UCF_SEGMENTS = {"A": [0.1, 0.9], "B": [0.2, 0.3], "C": [0.8, 0.4]}
UCF_MICRO = 95 / 119


def _ucf(tmp_path, counts: dict | None = UCF_FRAMES) -> tuple[Path, Path | None]:
    """(the root of the annotation above, a frame-count CSV of `counts` or None)."""
    root = tmp_path / "ucf"
    root.mkdir(exist_ok=True)
    (root / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt").write_text(UCF_ANNOTATION)
    if counts is None:
        return root, None
    path = tmp_path / "counts.csv"
    path.write_text("video,frames\n" + "".join(f"{v}.mp4,{n}\n" for v, n in counts.items()))
    return root, path


def test_a_range_ending_past_a_count_from_the_file_is_clipped_naming_its_row(tmp_path):
    """UCF-Crime's ranges ending past a video are clipped with a warning; where the count
    is the user's (a frame-count file), the warning names its row, the likelier mistake."""
    root, counts = _ucf(tmp_path, {"A": 7, "B": 8, "C": 6})  # A's range 4..7 ends past 0..6
    np.savez(tmp_path / "mil.npz", **UCF_SEGMENTS)
    said = f"A (7 frames, the count from {counts}, row 2); clipped to the last frame"
    with pytest.warns(UserWarning, match=re.escape(said)):
        assert main(["evaluate", str(tmp_path / "mil.npz"), "--dataset", "ucf_crime",
                     "--root", str(root), "--metrics-only", "--out", str(tmp_path / "r"),
                     "--segments-per-video", "2", "--frame-counts", str(counts)]) == 0


def test_sultani_32_segment_scores_are_spread_over_each_videos_frames(tmp_path, capsys):
    """UCF-Crime scores of fixed segments (Sultani et al. 2018: 32 per video, here 2) had no
    way in: the hint said --frames-per-score 16, which then failed on the annotated ranges.
    --segments-per-video K with the videos' frame counts spreads each video's K scores over
    its frames, score i on frames floor(i F / K) .. floor((i + 1) F / K) - 1."""
    root, counts = _ucf(tmp_path)
    np.savez(tmp_path / "mil.npz", **UCF_SEGMENTS)
    argv = ["evaluate", str(tmp_path / "mil.npz"), "--dataset", "ucf_crime", "--root",
            str(root), "--metrics-only"]
    assert main([*argv, "--out", str(tmp_path / "r"), "--segments-per-video", "2",
                 "--frame-counts", str(counts)]) == 0
    out, err = capsys.readouterr()
    m = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert m["micro_auc"] == pytest.approx(UCF_MICRO) and m["n_frames"] == 24
    assert m["n_anomalous_frames"] == 7 and m["protocol"]["smoothing_sigma"] == 0.0
    assert m["config"]["alignment"]["rule"] == (
        "2 fixed segments per video, segment i covering frames floor(i x F / 2) .. "
        "floor((i + 1) x F / 2) - 1 of a video of F frames")
    assert m["config"]["frame_counts"] == {"file": str(counts),
                                           "videos_counted": ["A", "B", "C"], "checked": 0}
    for note in (f"the frame counts of 3 of the 3 scored videos are {counts}'s (the ucf_crime "
                 "ground truth states anomalous ranges only); metrics.json's "
                 "config.frame_counts lists them",
                 "--segments-per-video 2: each video's 2 scores spread over its F frames as "
                 "fixed segments, segment i covering frames floor(i x F / 2) .. floor((i + 1) "
                 "x F / 2) - 1 (Sultani et al. 2018's format; their own script maps its 32 "
                 "segments over 16-frame clips, so its edges can lie up to 16 frames from "
                 "these and its AUCs differ slightly)"):
        assert note in m["notes"] and f"note: {note}\n" in out
    # without the options, or with --frames-per-score 16 (the newcomer's next try), the
    # error says the scores look like fixed segments and names both options
    hint = ("each of the 3 scored videos has 2 scores whatever its length, which looks like 2 "
            "fixed segments per video (Sultani et al. 2018's format: 32 per video): give "
            "--segments-per-video 2{} and each video's frame count, which this ground truth "
            "lacks, with --frame-counts FILE (a CSV video,frames)\n")
    assert main([*argv, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mulde: error: ") and err.count("\n") == 1
    assert "(A): range 4..7 (0-based) starts after the last frame 1: the frame count is taken " \
        "from the 2 scores (frames = scores); " in err and err.endswith(hint.format(""))
    np.savez(tmp_path / "mil.npz", **{"A": [0.1, 0.9], "B": [0.2, 0.3], "C": [0.8, 0.4]})
    (root / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt").write_text(
        UCF_ANNOTATION.replace("A.mp4 Abuse 5 8", "A.mp4 Abuse 90 120"))  # past 2 x 16 frames
    assert main([*argv, "--out", str(tmp_path / "x"), "--frames-per-score", "16"]) == 2
    err = capsys.readouterr().err
    assert "(A): range 89..119 (0-based) starts after the last frame 31: the frame count is " \
        "taken from the 2 scores (frames = 16 x scores); " in err
    assert err.endswith(hint.format(" in place of --frames-per-score 16"))
    np.savez(tmp_path / "many.npz", **{v: np.zeros(65) for v in "ABC"})  # 65: no segments
    assert main([*argv[:1], str(tmp_path / "many.npz"), *argv[2:], "--out",
                 str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err  # the 16-frame hint as before
    assert "fixed segments" not in err and "give --frames-per-score 16" in err


def test_frame_counts_check_one_score_per_frame_and_every_scored_video_needs_one(tmp_path,
                                                                              capsys):
    """--frame-counts for per-frame scores of a ranges-only ground truth: a video whose
    scores are fewer than its frames is an error naming the file's row (its count came from
    the scores, silently); a scored video without a row is an error naming it; one array of
    all frames can then be split."""
    root, counts = _ucf(tmp_path)
    frames = {v: np.linspace(0, 1, n) for v, n in UCF_FRAMES.items()}
    argv = ["evaluate", "--dataset", "ucf_crime", "--root", str(root), "--metrics-only",
            "--frame-counts", str(counts), "--out", str(tmp_path / "r")]
    np.savez(tmp_path / "s.npz", **frames)
    assert main(["evaluate", str(tmp_path / "s.npz"), *argv[1:]]) == 0
    m = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert m["n_frames"] == 24 and not m["config"]["alignment"]["frames_from_scores"]
    np.save(tmp_path / "all.npy", np.concatenate(list(frames.values())))  # one array: split
    assert main(["evaluate", str(tmp_path / "all.npy"), *argv[1:]]) == 0
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["micro_auc"] == m[
        "micro_auc"]
    capsys.readouterr()
    np.savez(tmp_path / "short.npz", **{**frames, "B": frames["B"][:7]})
    assert main(["evaluate", str(tmp_path / "short.npz"), *argv[1:]]) == 2
    assert capsys.readouterr().err == (
        f"mulde: error: {tmp_path / 'short.npz'}: video 'B': {counts}, row 3 has 8 frames, so 8 "
        "scores are expected (frame offset 0, end offset 0, 1 frame per score); found 7; the "
        f"other 2 scored videos fit, so no option (each shifts every video) fixes it: check "
        f"its frame count ({counts}, row 3) and how it was scored\n")
    counts.write_text("video,frames\nA.mp4,10\nD.mp4,9\n")
    assert main(["evaluate", str(tmp_path / "s.npz"), *argv[1:]]) == 2
    assert capsys.readouterr().err == (
        f"mulde: error: {counts}: no frame count for 2 scored videos whose ground truth states "
        "anomalous ranges only: B, C; add a row video,frames for each (the file names A.mp4, "
        "D.mp4)\n")
    assert main(["evaluate", str(tmp_path / "all.npy"), *argv[1:]]) == 2  # names the file
    assert capsys.readouterr().err == (  # (it said to give --frame-counts, given)
        f"mulde: error: {tmp_path / 'all.npy'}: one array of all frames needs every test "
        "video's frame count, but the ucf_crime ground truth states ranges only for 2 videos "
        f"(first B); {counts} has no row for them: add a row video,frames for each, or give "
        "one score file per video (format folder, npz or csv)\n")
    counts.write_text("video,frames\nA,4\nB,8\nC,6\n")  # A's range starts past 4 frames
    np.savez(tmp_path / "mil.npz", **UCF_SEGMENTS)
    assert main(["evaluate", str(tmp_path / "mil.npz"), *argv[1:], "--segments-per-video",
                 "2"]) == 2
    assert capsys.readouterr().err.endswith(
        f"(A): range 4..7 (0-based) starts after the last frame 3; the frame count 4 is from "
        f"{counts}, row 2: check it\n")


def test_frame_counts_must_agree_with_a_ground_truth_that_has_them(tmp_path, gt, capsys):
    counts = tmp_path / "counts.csv"
    counts.write_text("video,frames\n01_0001,4\n01_0002,3\nother,7\n")
    np.savez(tmp_path / "s.npz", **SCORES)
    code, m, _, err = _run(tmp_path, capsys, tmp_path / "s.npz", "--frame-counts", str(counts),
                           gt_root=gt)
    assert code == 0, err
    _hand_values(m)
    assert m["config"]["frame_counts"] == {"file": str(counts), "videos_counted": [],
                                           "checked": 2} and m["notes"] == []
    counts.write_text("video,frames\n01_0001,5\n01_0002,3\n")
    code, _, _, err = _run(tmp_path, capsys, tmp_path / "s.npz", "--frame-counts", str(counts),
                           gt_root=gt)
    assert code == 2 and err == (
        f"mulde: error: {counts}: 1 frame count(s) differ from the ground truth's (row 2: video "
        "'01_0001' 5, the ground truth 4): this ground truth has every video's frame count, so "
        "drop --frame-counts, or fix the file if it is meant for these videos\n")
    counts.write_text("video,frames\nAbuse028_x264,1412\n")  # another dataset's: said
    code, m, _, err = _run(tmp_path, capsys, tmp_path / "s.npz", "--frame-counts", str(counts),
                           gt_root=gt)
    assert code == 0 and m["config"]["frame_counts"]["checked"] == 0  # it said 2, unchecked
    assert m["notes"] == [
        f"{counts} names none of the 2 scored videos (it names Abuse028_x264), so "
        "--frame-counts changed nothing: the shanghaitech ground truth's own frame counts are "
        "used"]
    # segments on a ground truth with counts need no file; equal counts for videos of
    # different lengths that no option fits are said to look like segments
    np.savez(tmp_path / "seg.npz", **{"01_0001": [1.0, 4.0], "01_0002": [0.5, 2.0]})
    code, m, _, err = _run(tmp_path, capsys, tmp_path / "seg.npz", "--segments-per-video", "2",
                           gt_root=gt, out="seg")
    assert code == 0, err  # A [1, 1, 4, 4] labels [0, 0, 1, 1]; B [0.5, 2, 2] labels [0, 1, 0]
    # positives 4, 4, 2 vs negatives 1, 1, 0.5, 2: 4 + 4 + (3 + 0.5) = 11.5 of 12
    assert m["micro_auc"] == pytest.approx(11.5 / 12)


def test_a_folder_dataset_takes_its_frame_counts_from_the_file(tmp_path, capsys):
    """`folder`'s labels.csv states ranges only: the counts of --frame-counts serve it too."""
    root = tmp_path / "mine"
    root.mkdir()
    (root / "labels.csv").write_text("video,start,end\ncam1,2,3\n")
    counts = tmp_path / "counts.csv"
    counts.write_text("video,frames\ncam1,6\n")
    np.savez(tmp_path / "s.npz", cam1=[0.1, 0.5])
    assert main(["evaluate", str(tmp_path / "s.npz"), "--dataset", "folder", "--root",
                 str(root), "--segments-per-video", "2", "--frame-counts", str(counts),
                 "--smoothing-sigma", "0", "--metrics-only", "--out", str(tmp_path / "r")]) == 0
    m = json.loads((tmp_path / "r" / "metrics.json").read_text())
    # frames 0..2 score 0.1, 3..5 0.5; labels 2, 3: positives 0.1, 0.5 vs 0.1, 0.1, 0.5, 0.5
    assert m["n_frames"] == 6 and m["micro_auc"] == pytest.approx((1 + 3) / 8)


def test_annotations_clipped_in_many_videos_are_said_in_one_line(tmp_path):
    """Scores shorter than UCF-Crime's ranges in seven videos: one warning for the file,
    five videos named and the rest counted (it printed one line per video: about 140 for a
    newcomer's scores)."""
    ann = tmp_path / "ucf" / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
    ann.parent.mkdir()
    names = [f"Abuse{i:03d}_x264" for i in range(7)]
    ann.write_text("".join(f"{n}.mp4 Abuse 5 40 -1 -1\n" for n in names))
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "s.npz", **{n: rng.random(10) for n in names})
    from mulde.datasets.ground_truth import AnnotationClippedWarning

    with pytest.warns(AnnotationClippedWarning) as shown:
        assert main(["evaluate", str(tmp_path / "s.npz"), "--out", str(tmp_path / "r"),
                     "--dataset", "ucf_crime", "--root", str(ann.parent),
                     "--metrics-only"]) == 0
    said = [str(w.message) for w in shown if w.category is AnnotationClippedWarning]
    assert said == [
        f"{ann}: anomalies end after the last frame of "
        + ", ".join(f"{n} (10 frames)" for n in names[:5])
        + " and 2 more videos; clipped to the last frame"]


# ----------------------------------------------------------------------------- protocol


def test_direction_normality_and_the_warning_below_one_half(tmp_path, gt, capsys):
    np.savez(tmp_path / "n.npz", **{n: -np.array(s) for n, s in SCORES.items()})
    code, m, _, err = _run(tmp_path, capsys, tmp_path / "n.npz", gt_root=gt)
    assert m["micro_auc"] == pytest.approx(1 - MICRO)
    assert "mulde: warning: micro AUC 0.1667 is below 0.5" in err and "--direction" in err
    code, m, _, err = _run(tmp_path, capsys, tmp_path / "n.npz", "--direction", "normality",
                           gt_root=gt, out="fixed")
    _hand_values(m)
    assert err == "" and m["protocol"]["direction"] == "normality"
    np.savez(tmp_path / "a.npz", **SCORES)  # anomaly scores, given as normality scores
    code, m, _, err = _run(tmp_path, capsys, tmp_path / "a.npz", "--direction", "normality",
                           gt_root=gt, out="flipped")
    assert code == 0 and err.startswith("mulde: warning: micro AUC 0.1667 is below 0.5 by "
                                        "more than 0.05 with "
                                        "the scores taken as normality scores")
    assert err.rstrip().endswith("evaluate with score direction 'anomaly' (drop --direction "
                                 "normality)") and "(--direction normality)" not in err


def test_nonfinite_error_and_replace_hand_computed(tmp_path, gt, capsys):
    # A [1, 2, inf, 3], B [-inf, 1.5, 2]: replace -> A [1, 2, 3, 3], B [1, 1.5, 2]
    np.savez(tmp_path / "s.npz", **{"01_0001": [1.0, 2.0, np.inf, 3.0],
                                    "01_0002": [-np.inf, 1.5, 2.0]})
    code, _, _, err = _run(tmp_path, capsys, tmp_path / "s.npz", gt_root=gt)
    assert code == 2 and "video '01_0001': score of frame 2 is inf" in err
    assert "--nonfinite replace" in err
    code, _, _, err = _run(tmp_path, capsys, tmp_path / "s.npz", "--direction", "normality",
                           gt_root=gt)  # the file's +inf, not the -inf after negation
    assert code == 2 and "video '01_0001': score of frame 2 is inf (1 infinite" in err
    code, m, _, _ = _run(tmp_path, capsys, tmp_path / "s.npz", "--nonfinite", "replace",
                         gt_root=gt)
    # positives {3, 3, 1.5} vs negatives {1, 2, 1, 2}: 4 + 4 + 2 = 10 of 12
    assert m["micro_auc"] == pytest.approx(10 / 12) and m["protocol"]["nonfinite"] == "replace"
    np.savez(tmp_path / "nan.npz", **{"01_0001": [1.0, np.nan, 2.0, 3.0],
                                      "01_0002": [0.0, 1.5, 2.0]})
    code, _, _, err = _run(tmp_path, capsys, tmp_path / "nan.npz", "--nonfinite", "replace",
                           gt_root=gt)
    assert code == 2 and "video '01_0001': score of frame 1 is NaN" in err


def test_nonfinite_replace_says_how_many_and_with_what(tmp_path, gt, capsys):
    """--nonfinite replace says how many scores it replaced and with which values (in the
    file's units, in either direction), on stdout and in metrics.json."""
    np.savez(tmp_path / "s.npz", **{"01_0001": [1.0, 2.0, np.inf, 3.0],
                                    "01_0002": [-np.inf, 1.5, 2.0]})
    note = ("non-finite policy 'replace' (--nonfinite replace): 2 of 7 scores (28.6 %) "
            "replaced, 1 +inf by the largest finite score of all videos, 3 and 1 -inf by the "
            "smallest finite score of all videos, 1 (the scores as given, before any negation)")
    for i, direction in enumerate(("anomaly", "normality")):
        code, m, out, _ = _run(tmp_path, capsys, tmp_path / "s.npz", "--nonfinite", "replace",
                               "--direction", direction, gt_root=gt, out=f"r{i}")
        assert code == 0 and f"note: {note}\n" in out and m["notes"] == [note]
        assert m["nonfinite_replaced"] == {"n_replaced": 2, "n_scores": 7, "share": 2 / 7,
                                           "+inf": {"count": 1, "value": 3.0},
                                           "-inf": {"count": 1, "value": 1.0}}
    np.savez(tmp_path / "f.npz", **SCORES)
    code, m, out, _ = _run(tmp_path, capsys, tmp_path / "f.npz", "--nonfinite", "replace",
                           gt_root=gt, out="finite")
    assert code == 0 and "note:" not in out and m["nonfinite_replaced"] is None


def test_normalize_options_hand_computed(tmp_path, gt, capsys):
    np.savez(tmp_path / "s.npz", **SCORES)
    # video_minmax: A [0, 1/3, 1, 2/3], B [0, 0.75, 1]; positives {1, 2/3, 0.75} vs negatives
    # {0, 1/3, 0, 1}: 3.5 + 3 + 3 = 9.5 of 12
    code, m, _, _ = _run(tmp_path, capsys, tmp_path / "s.npz", "--normalize", "video_minmax",
                         gt_root=gt)
    assert m["micro_auc"] == pytest.approx(9.5 / 12)
    assert m["protocol"]["normalization"] == "video_minmax"
    # global_rank keeps the order: unsmoothed metrics as raw
    code, m, _, _ = _run(tmp_path, capsys, tmp_path / "s.npz", "--normalize", "global_rank",
                         gt_root=gt, out="rank")
    _hand_values(m)


def test_smoothing_options_and_macro_definition_are_recorded(tmp_path, gt, capsys):
    np.savez(tmp_path / "s.npz", **SCORES)
    code, m, _, _ = _run(tmp_path, capsys, tmp_path / "s.npz", "--smoothing-sigma", "1", "2",
                         "--smoothing-mode", "nearest", "--smoothing-truncate", "2",
                         "--macro", "skip_single_class", gt_root=gt)
    p = m["protocol"]
    assert (p["smoothing_sigma"], p["smoothing_mode"], p["smoothing_truncate"]) == (
        [1.0, 2.0], "nearest", 2.0)
    assert p["macro"] == m["macro_definition"] == "skip_single_class"
    assert "sigma 1, 2 frames in turn" in p["description"]
    assert m["macro_auc_unsmoothed"] == pytest.approx(MACRO_SKIP)
    # the default sigma is the dataset's protocol value (7 for ShanghaiTech)
    assert main(["evaluate", str(tmp_path / "s.npz"), "--out", str(tmp_path / "d"),
                 "--dataset", "shanghaitech", "--root", str(gt), "--metrics-only"]) == 0
    assert json.loads((tmp_path / "d" / "metrics.json").read_text())["protocol"][
        "smoothing_sigma"] == 7.0


def test_stdout_says_the_smoothing_of_the_numbers_it_prints(tmp_path, gt, capsys):
    np.savez(tmp_path / "s.npz", **SCORES)
    for i, (sigmas, said) in enumerate((
            (["0"], "AUC, AP and EER: unsmoothed (sigma 0, where AI-VAD's published "
                    "protocol for shanghaitech has sigma 7), as the *_unsmoothed ones are"),
            (["7"], "AUC, AP and EER: smoothed (Gaussian, sigma 7 frames, AI-VAD's published "
                    "value for shanghaitech)"),
            (["3"], "AUC, AP and EER: smoothed (Gaussian, sigma 3 frames, where AI-VAD's "
                    "published protocol for shanghaitech has sigma 7)"),
            (["1", "2"], "AUC, AP and EER: smoothed (Gaussian, sigma 1, 2 frames in turn, where "
                         "AI-VAD's published protocol for shanghaitech has sigma 7)"))):
        code, m, out, _ = _run(tmp_path, capsys, tmp_path / "s.npz", "--smoothing-sigma",
                               *sigmas, gt_root=gt, out=f"r{i}")
        assert code == 0
        assert out.splitlines()[0] == (said if sigmas == ["0"] else
                                       f"{said}; the *_unsmoothed ones unsmoothed")
        assert out.splitlines()[1] == "{" and "micro_auc_unsmoothed" in m


def test_the_protocol_says_whose_smoothing_sigma_it_is(tmp_path, capsys):
    """UCF-Crime's default was sigma 7, this project's choice, with a note that the unsmoothed
    numbers are the ones to compare: its benchmark (Sultani et al. 2018) and the works after
    it report unsmoothed frame-level AUCs, so that is its default now, said as its published
    protocol; a sigma given against it is said so, with the note. UBnormal's sigma 7 stays a
    choice (its report said "MULDE / AI-VAD protocol" as for ShanghaiTech: a newcomer's
    trial)."""
    ann = tmp_path / "ucf" / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
    ann.parent.mkdir()
    ann.write_text("Abuse028_x264.mp4 Abuse 3 4 -1 -1\nNormal_Videos_003_x264.mp4 Normal "
                   "-1 -1 -1 -1\n")
    np.savez(tmp_path / "s.npz", Abuse028_x264=[0.0, 1.0, 3.0, 2.0, 0.5],
             Normal_Videos_003_x264=[1.5, 0.5])
    argv = ["evaluate", str(tmp_path / "s.npz"), "--out", str(tmp_path / "r"), "--dataset",
            "ucf_crime", "--root", str(ann.parent), "--metrics-only"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    m = json.loads((tmp_path / "r" / "metrics.json").read_text())
    basis = ("Sultani et al. 2018's published protocol for ucf_crime, unsmoothed as the weakly "
             "supervised works after it report it")
    assert m["protocol"]["smoothing_sigma"] == 0.0
    assert out.splitlines()[0] == (f"AUC, AP and EER: unsmoothed (sigma 0, {basis}), as the "
                                   "*_unsmoothed ones are")
    assert m["protocol"]["description"].startswith(
        f"Frame-level evaluation (MULDE / AI-VAD metrics; smoothing sigma 0, {basis}): no "
        "temporal smoothing.")
    assert m["micro_auc"] == m["micro_auc_unsmoothed"] and "literature" not in out
    assert main([*argv, "--smoothing-sigma", "7"]) == 0  # against the protocol: said
    out = capsys.readouterr().out
    m = json.loads((tmp_path / "r" / "metrics.json").read_text())
    against = "where Sultani et al. 2018's published protocol for ucf_crime is unsmoothed"
    assert out.splitlines()[0] == (f"AUC, AP and EER: smoothed (Gaussian, sigma 7 frames, "
                                   f"{against}); the *_unsmoothed ones unsmoothed")
    assert m["protocol"]["description"].startswith(
        f"Frame-level evaluation (MULDE / AI-VAD metrics; smoothing sigma 7, {against}): ")
    note = ("the literature reports ucf_crime's frame-level AUC on unsmoothed scores: "
            f"compare the unsmoothed micro AUC {m['micro_auc_unsmoothed']:.4f} "
            "(micro_auc_unsmoothed) with published numbers, not the micro AUC "
            f"{m['micro_auc']:.4f}, smoothed with sigma 7, which no published protocol sets "
            "there")
    assert note in m["notes"] and f"note: {note}\n" in out


def test_a_reports_own_frame_scores_smoothed_otherwise_say_the_reports_sigma(tmp_path, gt,
                                                                             capsys):
    """A newcomer re-evaluated a report's frame_scores.csv without --dataset: sigma 3, where
    the report (ShanghaiTech) had smoothed with 7, and a micro AUC unlike the report's,
    unsaid. A note names the report's sigma and dataset and the options that match it."""
    np.savez(tmp_path / "s.npz", **SCORES)
    assert main(["evaluate", str(tmp_path / "s.npz"), "--out", str(tmp_path / "rep"),
                 "--dataset", "shanghaitech", "--root", str(gt)]) == 0
    report = json.loads((tmp_path / "rep" / "metrics.json").read_text())
    capsys.readouterr()
    table = tmp_path / "rep" / "frame_scores.csv"
    argv = ["evaluate", str(table), "--metrics-only"]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    note = (f"{table} is a mulde report's frame scores, which that report (its metrics.json "
            "beside them) evaluated with smoothing sigma 7 on --dataset shanghaitech; this "
            "evaluation uses sigma 3 (the default without --dataset), so its smoothed numbers "
            "differ from the report's (the *_unsmoothed ones agree): to match them, add "
            "--smoothing-sigma 7")
    m = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert f"note: {note}\n" in out and m["notes"] == [note]
    assert m["protocol"]["smoothing_sigma"] == 3.0  # said, not changed
    assert m["micro_auc_unsmoothed"] == report["micro_auc_unsmoothed"]
    assert main([*argv, "--out", str(tmp_path / "b"), "--smoothing-sigma", "7"]) == 0
    m = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert "a mulde report's" not in capsys.readouterr().out and m["notes"] == []
    assert m["micro_auc"] == report["micro_auc"] and m["macro_auc"] == report["macro_auc"]
    assert main([*argv, "--out", str(tmp_path / "c"), "--smoothing-sigma", "7",
                 "--smoothing-mode", "nearest", "--dataset", "shanghaitech", "--root",
                 str(gt)]) == 0
    assert ("shanghaitech; this evaluation uses sigma 7 (as given), so its smoothed numbers "
            "differ from the report's (the *_unsmoothed ones agree): to match them, add "
            "--smoothing-mode reflect\n") in capsys.readouterr().out
    (tmp_path / "plain").mkdir()
    plain = _csv(tmp_path / "plain" / "frame_scores.csv", SCORES, LABELS)  # no report's
    assert main(["evaluate", str(plain), "--metrics-only", "--out", str(tmp_path / "d")]) == 0
    assert "a mulde report's" not in capsys.readouterr().out


def test_read_scores_refuses_pickles_and_ambiguous_npz(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([np.zeros(2), np.zeros(3)], dtype=object),
            allow_pickle=True)
    # objects (a dict saved with np.save, object arrays in an .npz): refused with the way
    # to save float arrays (it said numpy's "Object arrays cannot be loaded when
    # allow_pickle=False" alone: a newcomer's trial)
    with pytest.raises(EvaluationError, match=r"obj.npy: an array of Python objects \(dtype "
                       r"object: e.g. a dict saved with np.save\), which need unpickling and "
                       r"are never read; if you trust it, read it with np.load with "
                       r"allow_pickle \(a dict: then .item\(\)\) and save one float array "
                       r"per video as an .npz, np.savez\('scores.npz', .*then evaluate "
                       r"scores.npz$"):
        read_scores(tmp_path / "obj.npy")
    np.savez(tmp_path / "obj.npz", v=np.array([1.0, 2.0], dtype=object))
    with pytest.raises(EvaluationError, match=r"obj.npz: arrays of Python objects \(dtype "
                       r"object\), which need unpickling .*np.savez\('scores.npz'"):
        read_scores(tmp_path / "obj.npz")
    # a pickle, by its bytes or its suffix, in any format: never read, and how to convert it
    # (it said "cannot tell the score format from the suffix '.pkl'", and --format npz "not
    # an .npz archive ... --format auto reads it by its suffix")
    import pickle

    (tmp_path / "s.pkl").write_bytes(pickle.dumps({"v": np.zeros(3)}))
    (tmp_path / "s.dat").write_bytes(pickle.dumps({"v": np.zeros(3)}))
    for name, fmt in (("s.pkl", "auto"), ("s.pkl", "npz"), ("s.dat", "array")):
        with pytest.raises(EvaluationError, match=rf"{name}: a pickle, which is never read .*"
                           r"read it with pickle.load and save the dict as an .npz, "
                           r"np.savez\('scores.npz', \*\*scores\), then evaluate"):
            read_scores(tmp_path / name, format=fmt)
    np.savez(tmp_path / "two.npz", a=np.zeros(2), b=np.zeros(2))
    with pytest.raises(EvaluationError, match=r"holds 2 arrays \['a', 'b'\]; name the one of "
                       r"all frames with --key, or read it as one array per video "
                       r"\(--format npz\)$"):
        read_scores(tmp_path / "two.npz", format="array")
    assert read_scores(tmp_path / "two.npz", format="array", key="b").array.tolist() == [0, 0]
    np.save(tmp_path / "m.npy", np.zeros((3, 2)))
    with pytest.raises(EvaluationError, match=r"m.npy: scores must be a 1-D array, got shape "
                       r"\(3, 2\); give one score per frame, a 1-D array per video: e.g. the "
                       r"column of the scores, a\[:, j\], if each row is a frame$"):
        read_scores(tmp_path / "m.npy")
    # a newcomer's .npz of (frames, 2) arrays: said with the video's array, and what to do
    np.savez(tmp_path / "two_col.npz", v=np.zeros((265, 2)))
    with pytest.raises(EvaluationError, match=r"two_col.npz, video 'v': scores must be a 1-D "
                       r"array, got shape \(265, 2\); give one score per frame, a 1-D array "
                       r"per video: e.g. the column of the scores, a\[:, j\]"):
        read_scores(tmp_path / "two_col.npz")
    np.save(tmp_path / "rows.npy", np.zeros((2, 1, 30)))  # axes of length 1 left out
    with pytest.raises(EvaluationError, match=r"got shape \(2, 1, 30\); .*: e.g. the row of "
                       r"the scores, a\[j\], if each column is a frame$"):
        read_scores(tmp_path / "rows.npy")
    np.save(tmp_path / "cube.npy", np.zeros((4, 3, 2)))
    with pytest.raises(EvaluationError, match=r"got shape \(4, 3, 2\); give one score per "
                       r"frame, a 1-D array per video \(reduce the other axes first"):
        read_scores(tmp_path / "cube.npy")
    (tmp_path / "empty.npy").write_bytes(b"")
    with pytest.raises(EvaluationError, match="empty.npy: cannot read NumPy array"):
        read_scores(tmp_path / "empty.npy")
    (tmp_path / "bin.csv").write_bytes(b"video,frame,score\n\xff\xfe,0,1\n")
    with pytest.raises(EvaluationError, match="bin.csv: not a UTF-8 CSV file"):
        read_scores(tmp_path / "bin.csv")
    with pytest.raises(EvaluationError, match="bin.csv: not a readable CSV file"):
        read_scores(tmp_path / "bin.csv", column="score")
    # --format csv on NumPy files: what they are and which format reads them (it gave a
    # UTF-8 decode error); a .tsv: tabs are not read (a newcomer's trials)
    np.savez(tmp_path / "v.npz", a=np.zeros(2))
    with pytest.raises(EvaluationError, match=r"v.npz: a zip archive \(e.g. .npz\), not a CSV "
                       r"file; --format npz reads one array per video, --format array one "
                       r"array of all frames$"):
        read_scores(tmp_path / "v.npz", format="csv")
    with pytest.raises(EvaluationError, match=r"m.npy: a NumPy .npy array, not a CSV file; "
                       r"--format array reads one array of all frames$"):
        read_scores(tmp_path / "m.npy", format="csv")
    (tmp_path / "s.tsv").write_text("video\tframe\tscore\na\t0\t1.0\n")
    with pytest.raises(EvaluationError, match=r"s.tsv: a .tsv file; score CSVs have fields "
                       r"separated by commas, not tabs: save it as CSV with commas"):
        read_scores(tmp_path / "s.tsv")
    (tmp_path / "s.bak").write_text("1\n")
    with pytest.raises(EvaluationError, match=r"s.bak: no score format reads .bak files; "
                       r"scores are read from a .csv .*, an .npz .*, an .npy or .txt .* or a "
                       r"folder of one such file per video: convert them, e\.g\. "
                       r"np.savez\('scores.npz', \*\*scores\) .*, or, for one of these under "
                       r"another name, give its format \(--format csv, npz or array\)$"):
        read_scores(tmp_path / "s.bak")
    # a newcomer's JSON: no format to name, so how to convert it (it said "or name the
    # format"), in one line
    (tmp_path / "s.json").write_text('{"a": [0.1, 0.2]}')
    with pytest.raises(EvaluationError, match=r"s.json: no score format reads .json files; "
                       r".* e\.g\. np.savez\('scores.npz', "
                       r"\*\*json.load\(open\('s.json'\)\)\) for a dict of per-video lists, "
                       r"or"):
        read_scores(tmp_path / "s.json")
    assert read_scores(tmp_path / "s.bak", format="array").array.tolist() == [1.0]
    # --format npz on what is no archive: said, not a traceback (an .npy) nor a pickle (a CSV)
    with pytest.raises(EvaluationError, match=r"m.npy: a NumPy .npy array, not an .npz "
                       r"archive; read it as what it holds: --format auto reads it by its "
                       r"suffix$"):
        read_scores(tmp_path / "m.npy", format="npz")
    with pytest.raises(EvaluationError, match=r"bin.csv: not a zip of NumPy arrays \(np.savez\), "
                       r"not an .npz archive; read it as what it holds"):
        read_scores(tmp_path / "bin.csv", format="npz")
    # named .npz but not one (an array, text, nothing, a cut download): rename, or is it whole
    (tmp_path / "a.npz").write_bytes((tmp_path / "m.npy").read_bytes())
    (tmp_path / "t.npz").write_text("video,frame,score\n")
    (tmp_path / "e.npz").write_bytes(b"")
    np.savez(tmp_path / "whole.npz", a=np.zeros(100))
    (tmp_path / "cut.npz").write_bytes((tmp_path / "whole.npz").read_bytes()[:60])
    for name, what in (("a", "a NumPy .npy array"), ("t", r"not a zip of NumPy arrays \(np"),
                       ("e", "an empty file")):
        with pytest.raises(EvaluationError, match=rf"{name}.npz: {what}.*, not an .npz archive;"
                           r" rename it to what it holds \(.npy for an array, .csv or .txt"):
            read_scores(tmp_path / f"{name}.npz")
    with pytest.raises(EvaluationError, match=r"cut.npz: not a readable .npz file .*is it "
                       r"whole\?$"):
        read_scores(tmp_path / "cut.npz")


# ----------------------------------------------------------------------------- documentation


def _evaluate_options() -> list[tuple[str, object, str]]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices["evaluate"]
    return [(a.option_strings[0], a.default, a.help) for a in sub._actions
            if a.option_strings and a.dest not in ("help",)]


def test_every_evaluate_option_and_default_is_in_help_and_the_docs():
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices["evaluate"]
    text = " ".join(sub.format_help().split())
    page = (REPO / "docs" / "evaluation.md").read_text()
    section = page[page.index("## Options"):]
    section = section[:section.index("\n## ", 3)]
    rows = {line.split("`")[1].split()[0]: line for line in section.splitlines()
            if line.startswith("| `--")}
    options = _evaluate_options()
    assert len(options) == 21
    for option, default, help_text in options:
        assert option in text, option
        assert option in rows, f"{option}: no row in docs/evaluation.md's options table"
        shown = "off" if default is False else default
        if shown is not None:
            assert f"default: {shown}" in text, (option, shown)
            assert f"| {shown} |" in rows[option] or f"| `{shown}` |" in rows[option], option
        elif option != "--out":
            assert "(default: " in help_text, option


def test_the_docs_name_the_ucsd_videos_as_the_ground_truth_does(tmp_path):
    """docs/evaluation.md's table of each dataset's ground truth (moved there from the
    README) names the Ped2 videos as `load_ground_truth` does."""
    from mulde.datasets import load_ground_truth

    page = (REPO / "docs" / "evaluation.md").read_text()
    section = page[page.index("## Datasets' ground truth and video names"):]
    row = next(line for line in section.splitlines() if line.startswith("| `ucsd_ped2`"))
    gt_file = data_dir("ucsd_ped2", "UCSDped2.m")
    alone = tmp_path / "alone"  # the label file alone in the root, as a newcomer had it
    alone.mkdir()
    shutil.copy(gt_file, alone)
    official = tmp_path / "official" / "UCSDped2" / "Test"  # UCSD's own layout
    official.mkdir(parents=True)
    shutil.copy(gt_file, official)
    for i in range(1, 13):
        (official / f"Test{i:03d}").mkdir()
        (official / f"Test{i:03d}" / "001.tif").write_bytes(b"")
        (official / f"Test{i:03d}_gt").mkdir()  # the pixel masks' folders are no videos
    for root, first in ((alone, "01"), (tmp_path / "official", "Test001"),
                        (gt_file.parent, "01")):  # testing/frames/01..
        names = list(load_ground_truth("ucsd_ped2", root).videos)
        assert len(names) == 12 and names[0] == first
        assert f"`{first}`" in row


# ----------------------------------------------------------------------------- real data


def _published(tmp_path, capsys, method: str, *options: str) -> dict:
    scores = data_dir("published_scores", "prism_shanghaitech", f"{method}.npz")
    root = data_dir("shanghaitech")
    code = main(["evaluate", str(scores), "--dataset", "shanghaitech", "--root", str(root),
                 "--out", str(tmp_path / method), "--metrics-only", *options])
    assert code == 0, capsys.readouterr().err
    return json.loads((tmp_path / method / "metrics.json").read_text())


def test_published_stgnf_scores_reproduce_its_own_evaluation(tmp_path, capsys):
    # ../shared/data/README.md: STG-NF's code gives 0.784147 unsmoothed and 0.835320 after
    # its Gaussian filters of sigma 1..6 in turn, +inf normality -> the largest finite one
    m = _published(tmp_path, capsys, "stgnf", "--direction", "normality", "--nonfinite",
                   "replace", "--smoothing-sigma", "1", "2", "3", "4", "5", "6")
    assert round(m["micro_auc_unsmoothed"], 6) == 0.784147
    assert round(m["micro_auc"], 6) == 0.835320
    assert m["n_videos"] == 107 and m["n_frames"] == 40791


def test_published_mulde_scores_reproduce_the_source_and_ignore_a_shift(tmp_path, capsys):
    m = _published(tmp_path, capsys, "mulde", "--smoothing-sigma", "0")
    assert round(m["micro_auc"], 6) == 0.789810
    # these scores are partly negative (min -66): no metric may move with a shift
    scores = np.load(data_dir("published_scores", "prism_shanghaitech", "mulde.npz"))
    base = _published(tmp_path, capsys, "mulde")  # smoothed with ShanghaiTech's sigma 7
    for shift in (-1000.0,):  # all scores negative after it; +-shifts: test_metrics.py
        np.savez(tmp_path / "shifted.npz", **{n: scores[n] + shift for n in scores.files})
        assert main(["evaluate", str(tmp_path / "shifted.npz"), "--dataset", "shanghaitech",
                     "--root", str(data_dir("shanghaitech")), "--out", str(tmp_path / "s"),
                     "--metrics-only"]) == 0
        shifted = json.loads((tmp_path / "s" / "metrics.json").read_text())
        for key in ("micro_auc", "macro_auc", "macro_auc_unsmoothed", "average_precision"):
            assert shifted[key] == pytest.approx(base[key], abs=1e-12), (key, shift)


def test_a_run_folder_is_not_an_evaluate_output(tmp_path, gt, capsys):
    """--out a folder of mulde run or train (it holds model/): refused in one line before
    anything is written, so the run's report is kept."""
    path = _csv(tmp_path / "s.csv", SCORES)
    (tmp_path / "run" / "model").mkdir(parents=True)
    (tmp_path / "run" / "metrics.json").write_text("{}")
    code, _, _, err = _run(tmp_path, capsys, path, gt_root=gt, out="run")
    assert code == 2 and err.strip().endswith(
        "is the output folder of mulde run or mulde train (it holds model/): evaluating into it "
        "would replace that run's report; give another --out")
    assert (tmp_path / "run" / "metrics.json").read_text() == "{}"
    (tmp_path / "mine" / "model").mkdir(parents=True)  # a folder model/ of a user's files
    (tmp_path / "mine" / "model" / "x.txt").write_text("k")
    code, _, _, err = _run(tmp_path, capsys, path, gt_root=gt, out="mine")
    assert code == 2 and err.strip().endswith(
        "holds a folder model/ of files of your own, not a mulde run's output: give another "
        "--out")
    # another tool's pipeline.json there does not make it a run's model (reviewer)
    (tmp_path / "mine" / "model" / "pipeline.json").write_text('{"pipelineSpec": {}}')
    code, _, _, err = _run(tmp_path, capsys, path, gt_root=gt, out="mine")
    assert code == 2 and "holds a folder model/ of files of your own" in err


def test_a_full_report_over_an_earlier_one_says_which_plots_it_removed(tmp_path, gt, capsys):
    """A report written into a folder holding an earlier one replaces its files; the plots of
    videos this report does not have are removed and said in one line, other files stay."""
    path = _csv(tmp_path / "s.csv", SCORES)
    argv = ["evaluate", str(path), "--out", str(tmp_path / "full"), "--dataset",
            "shanghaitech", "--root", str(gt)]
    assert main(argv) == 0
    stale = tmp_path / "full" / "plots" / "video_009_gone.png"
    stale.write_bytes(b"png")
    (tmp_path / "full" / "notes.txt").write_text("mine")
    capsys.readouterr()
    assert main(argv) == 0
    said = [line for line in capsys.readouterr().out.splitlines() if line.startswith("removed")]
    assert said == [f"removed the earlier report's plots/video_009_gone.png from "
                    f"{tmp_path / 'full'}: the new report has no such plots"]
    assert not stale.exists() and (tmp_path / "full" / "notes.txt").read_text() == "mine"


def test_scores_labelled_with_one_class_give_a_report_without_aucs_not_an_error(
        tmp_path, capsys, monkeypatch):
    """A run's frame_scores.csv of all-normal test videos (labels of one class): the report
    of its scores, with its labels and a note that says why there is no AUC, exit 0 (it
    was 'micro metrics need both classes', exit 2, with a half-written folder); titled by
    the scores file, its run folder named ('.' named too)."""
    run = tmp_path / "run"
    run.mkdir()
    rows = ["video,frame,label,score"] + [f"{v},{i},0,{(i * 7 % 5) / 5}" for v in ("a", "b")
                                          for i in range(30)]
    (run / "frame_scores.csv").write_text("\n".join(rows) + "\n")
    assert main(["evaluate", str(run / "frame_scores.csv"), "--out", str(tmp_path / "e")]) == 0
    metrics = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert "micro_auc" not in metrics and "mark every frame normal" in metrics["note"]
    assert metrics["title"] == "Evaluation of run/frame_scores.csv"
    assert "mark every frame normal" in capsys.readouterr().out
    written = (tmp_path / "e" / "frame_scores.csv").read_text().splitlines()
    assert {r.split(",")[2] for r in written[1:]} == {"0"}
    folder = tmp_path / "my scores"
    folder.mkdir()
    for v in ("a", "b"):
        np.save(folder / f"{v}.npy", np.linspace(0, 1, 30))
    monkeypatch.chdir(folder)
    assert main(["evaluate", ".", "--out", str(tmp_path / "f")]) == 0
    assert json.loads((tmp_path / "f" / "metrics.json").read_text())["title"] == (
        "Evaluation of my scores")


def test_scores_refused_into_an_earlier_report_say_no_replacement_first(tmp_path, capsys):
    """A newcomer's NaN score into a folder of an earlier report: "holds an earlier report;
    this evaluation replaces it" and the column read were said, then the error, and nothing
    was replaced: the scores' error now comes alone, the report left as it was."""
    path = _csv(tmp_path / "s.csv", {"a": [0.1, 0.9, 0.2, 0.8]}, {"a": [0, 1, 0, 1]})
    assert _run(tmp_path, capsys, path)[0] == 0
    before = (tmp_path / "r" / "metrics.json").read_text()
    for scores, options, said in (
            ({"a": [0.1, float("nan"), 0.2, 0.8]}, (), ", row 3, column 'score': 'nan' (NaN"),
            ({"a": [0.1, float("inf"), 0.2, 0.8]}, (), ": video 'a': score of frame 1 is inf")):
        bad = _csv(tmp_path / "bad.csv", scores, {"a": [0, 1, 0, 1]})
        code, _, out, err = _run(tmp_path, capsys, bad, *options)
        assert code == 2 and out == "" and len(err.splitlines()) == 1
        assert err.startswith(f"mulde: error: {bad}{said}")
    assert (tmp_path / "r" / "metrics.json").read_text() == before


def test_what_evaluate_leaves_out_or_replaces_is_said(tmp_path, capsys):
    """A newcomer's trial: a report replaced without a word (docs/evaluation.md says it is said), a
    video without labels left out of the metrics silently, a NaN named by video but not by
    file, and an inversion warning quoting the unsmoothed AUC as "micro AUC"."""
    scores = {"a": [0.1, 0.9, 0.2, 0.8], "b": [0.3, 0.4, 0.5, 0.6]}
    labels = {"a": [0, 1, 0, 1], "b": ["", "", "", ""]}
    path = _csv(tmp_path / "s.csv", scores, labels)
    code, metrics, out, err = _run(tmp_path, capsys, path)
    assert code == 0 and metrics["unlabelled_videos"] == ["b"] and "holds an earlier" not in err
    assert "note: 1 video(s) without labels (b): left out of the metrics\n" in out
    code, _, _, err = _run(tmp_path, capsys, path)
    assert code == 0 and (f"mulde: note: {tmp_path / 'r'} holds an earlier report; this "
                          "evaluation replaces it") in err
    nan = _csv(tmp_path / "nan.npz.csv", {"a": [0.1, float("nan"), 0.2, 0.8]},
               {"a": [0, 1, 0, 1]})
    code, _, _, err = _run(tmp_path, capsys, nan, out="n")  # named by its CSV row
    assert code == 2 and err.startswith(f"mulde: error: {nan}, row 3, column 'score': 'nan' "
                                        "(NaN, no score); every row needs a score")
    from mulde.evaluation import EvaluationProtocol, compute_metrics

    # smoothing lifts the micro AUC to the chance band while the raw scores are inverted:
    # flipping the direction would invert the AUC reported, so no warning; inverted both
    # ways, the warning quotes both numbers (it quoted the unsmoothed one as "micro AUC")
    raw = {"v": np.array([1.0, 0.0, 1.0, 0.0, 1.0, 0.0] * 4)}
    y = {"v": np.array([0, 1, 0, 1, 0, 1] * 4)}
    m = compute_metrics(raw, y, EvaluationProtocol(smoothing_sigma=3.0))
    assert m["micro_auc_unsmoothed"] < 0.45 <= m["micro_auc"] and not m["warnings"]
    raw = {"v": np.r_[np.ones(12), np.zeros(12)]}
    y = {"v": np.r_[np.zeros(12, int), np.ones(12, int)]}
    m = compute_metrics(raw, y, EvaluationProtocol(smoothing_sigma=1.0))
    assert m["warnings"][0].startswith(
        f"micro AUC {m['micro_auc']:.4f} (unsmoothed {m['micro_auc_unsmoothed']:.4f}) is "
        "below 0.5 by more than 0.05")


def test_a_negative_offset_names_its_option_and_a_metrics_only_run_promises_no_plots(
        tmp_path, capsys):
    path = _csv(tmp_path / "s.csv", {"a": [0.1, 0.9]}, {"a": [1, 1]})
    code, metrics, _, _ = _run(tmp_path, capsys, path)
    assert code == 0 and metrics["note"].endswith(
        "no AUC is computed: no metrics (--metrics-only writes no plots)")
    from mulde.evaluation import EvaluationError
    from mulde.evaluation.inputs import FrameAlignment

    with pytest.raises(EvaluationError, match=r"^frame_offset \(--frame-offset\) must be >= 0"):
        FrameAlignment(frame_offset=-1)


def test_an_offset_given_where_every_frame_is_scored_is_said_to_be_dropped(tmp_path, gt,
                                                                           capsys):
    """--frame-offset 4 on scores of every frame got "no one option fits them all: check how
    these videos were scored", where dropping it fits every video (a newcomer's trial)."""
    np.savez(tmp_path / "all.npz", **{"01_0001": [1.0, 2.0, 3.0, 4.0],
                                      "01_0002": [0.0, 1.5, 2.0]})
    code, _, _, err = _run(tmp_path, capsys, tmp_path / "all.npz", "--frame-offset", "1",
                           gt_root=gt)
    assert code == 2 and err.rstrip().endswith(
        "found 4; every video has one score per frame: drop --frame-offset 1")
    assert _run(tmp_path, capsys, tmp_path / "all.npz", gt_root=gt)[0] == 0


def test_a_key_for_per_video_arrays_and_a_folder_of_several_arrays_are_told_apart(tmp_path,
                                                                                 gt, capsys):
    """--key with format npz was ignored unsaid, and a folder's .npz of two arrays was told
    to read as format npz, which takes one file (a newcomer's trial)."""
    np.savez(tmp_path / "v.npz", a=[0.1, 0.9], b=[0.2, 0.3])
    code, _, _, err = _run(tmp_path, capsys, tmp_path / "v.npz", "--key", "a")
    assert code == 2 and "format npz reads every array as one video's scores, so --key a " \
        "names nothing here" in err and "--format array" in err
    (tmp_path / "fz").mkdir()
    np.savez(tmp_path / "fz" / "01.npz", psnr=[1.0, 2.0], score=[0.1, 0.2])
    code, _, _, err = _run(tmp_path, capsys, tmp_path / "fz", out="f")
    assert code == 2 and "format npz" not in err and "key=" not in err
    assert "if each file holds its video's scores beside other arrays, name that array " \
        "with --key;" in err
    # a folder of methods' .npz files, each of one array per video (it was told --key only:
    # a newcomer's trial on the published scores)
    (tmp_path / "methods").mkdir()
    np.savez(tmp_path / "methods" / "mine.npz", **SCORES)
    code, _, _, err = _run(tmp_path, capsys, tmp_path / "methods", out="f", gt_root=gt)
    assert code == 2 and err.rstrip().endswith(
        "if this file holds one array per video, named after it, evaluate the file alone, not "
        "its folder")
    assert _run(tmp_path, capsys, tmp_path / "methods" / "mine.npz", gt_root=gt)[0] == 0


def test_a_key_for_a_file_that_is_not_npz_is_refused_as_fit_and_score_refuse_it(
        tmp_path, gt, capsys):
    """--key names an array inside an .npz file: `mulde evaluate` ignored it unsaid for a
    .npy, .txt or .csv file (which `mulde fit` and `score` refuse in one line), so a user
    who meant another array was evaluated on the one the file holds. Refused alike, before
    any output; a folder's files and an .npz still take it."""
    flat = [v for s in SCORES.values() for v in s]
    np.save(tmp_path / "all.npy", np.array(flat))
    (tmp_path / "all.txt").write_text(" ".join(map(str, flat)) + "\n")
    for scores in (tmp_path / "all.npy", tmp_path / "all.txt",
                   _csv(tmp_path / "s.csv", SCORES)):
        code, _, out, err = _run(tmp_path, capsys, scores, "--key", "scores", gt_root=gt)
        assert (code, out) == (2, "")
        assert err == (f"mulde: error: {scores}: --key scores applies to .npz files only (it "
                       "names an array inside one); leave it out for a "
                       f"{scores.suffix} file\n")
        assert not (tmp_path / "r").exists()
        with pytest.raises(EvaluationError, match="applies to .npz files only"):
            read_scores(scores, key="scores")
    np.savez(tmp_path / "all.npz", scores=np.array(flat), other=np.zeros(2))
    assert _run(tmp_path, capsys, tmp_path / "all.npz", "--format", "array", "--key",
                "scores", gt_root=gt)[0] == 0
    # a folder without an .npz file (it was ignored there): refused alike, naming its files
    folder = tmp_path / "per_video"
    folder.mkdir()
    for name, values in SCORES.items():
        np.save(folder / f"{name}.npy", np.array(values))
    (folder / f"{name}.npy").unlink()
    (folder / f"{name}.txt").write_text(" ".join(map(str, values)) + "\n")
    code, _, out, err = _run(tmp_path, capsys, folder, "--key", "scores", gt_root=gt, out="k")
    assert (code, out) == (2, "") and err == (
        f"mulde: error: {folder}: --key scores applies to .npz files only (it names an array "
        "inside one); leave it out for a folder of .npy and .txt files\n")
    assert not (tmp_path / "k").exists()
    assert _run(tmp_path, capsys, folder, gt_root=gt, out="k")[0] == 0


def test_the_column_suggested_is_a_score_not_an_index(tmp_path, capsys):
    (tmp_path / "x.csv").write_text("idx,video,frame,anomaly_score\n0,a,0,0.1\n1,a,1,0.9\n")
    code, _, _, err = _run(tmp_path, capsys, tmp_path / "x.csv")
    assert code == 2 and "(e.g. --column anomaly_score)" in err


def test_evaluate_prints_the_aucs_as_run_does(tmp_path, gt, capsys):
    """`mulde run` printed its AUCs to 4 decimals and `mulde evaluate` with every digit
    (0.8333 beside 0.8333333333333334 for one result): both print them alike now."""
    from mulde.cli import _print_metrics

    code, m, out, _ = _run(tmp_path, capsys, _csv(tmp_path / "s.csv", SCORES), gt_root=gt)
    assert code == 0
    evaluated = json.loads(out[out.index("{"):out.rindex("}") + 1])
    _print_metrics(m, tmp_path / "r")  # what `mulde run` prints of the same metrics
    out = capsys.readouterr().out
    run = json.loads(out[out.index("{"):out.rindex("}") + 1])
    assert run == {"micro_auc": 0.8333, "macro_auc": 0.9167, "micro_auc_unsmoothed": 0.8333,
                   "macro_auc_unsmoothed": 0.9167}
    assert {k: evaluated[k] for k in run} == run


def _own_scores(folder):
    """A user's frame_scores.csv of their own layout (columns video,frame,score,label) in
    `folder`, made for it; its path."""
    folder.mkdir()
    table = folder / "frame_scores.csv"
    rows = zip([0.1, 0.9, 0.2, 0.8], [0, 1, 0, 1], strict=True)
    table.write_text("video,frame,score,label\n"
                     + "".join(f"a,{i},{s},{y}\n" for i, (s, y) in enumerate(rows)))
    return table


def test_evaluate_refuses_a_users_own_files_where_the_report_goes(tmp_path, capsys):
    """--out holding a user's report.html or a metrics.json that no report wrote: one-line
    error, the files as they were; the scores being read, a frame_scores.csv there of
    another layout, are read, not refused (the report leaves them as they are)."""
    path = _csv(tmp_path / "s.csv", {"a": [0.1, 0.9, 0.2, 0.8]}, {"a": [0, 1, 0, 1]})
    for name, text in (("report.html", "<p>mine</p>"), ("metrics.json", "a,b")):
        out = tmp_path / name.replace(".", "_")
        out.mkdir()
        (out / name).write_text(text)
        assert main(["evaluate", str(path), "--out", str(out)]) == 2
        said = capsys.readouterr()
        err = said.err  # the error alone: no "scores: column ..." line before it
        assert said.out == "", said.out
        assert err.startswith(f"mulde: error: {out / name}: ") and err.count("\n") == 1, err
        assert "give another output folder (--out), or move the file away first" in err
        assert (out / name).read_text() == text
    table = _own_scores(tmp_path / "own")
    assert main(["evaluate", str(table), "--out", str(table.parent), "--metrics-only"]) == 0
    assert table.read_text().startswith("video,frame,score,label\n")


def test_a_reports_metrics_json_given_as_scores_points_to_its_frame_scores(tmp_path, capsys):
    """A newcomer's trial: `mulde evaluate run/metrics.json` was told to convert the JSON
    with np.savez; a report's metrics.json beside its frame_scores.csv points to that."""
    path = _csv(tmp_path / "s.csv", {"a": [0.1, 0.9, 0.2, 0.8]}, {"a": [0, 1, 0, 1]})
    out = tmp_path / "out"
    assert main(["evaluate", str(path), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(out / "metrics.json"), "--out", str(tmp_path / "b")]) == 2
    assert capsys.readouterr().err == (
        f"mulde: error: {out / 'metrics.json'}: a report's metrics (no frame scores); evaluate "
        f"its frame scores: {out / 'frame_scores.csv'}\n")
    # a trained model (its folder or its manifest) given for scores: where its run's are
    (out / "model").mkdir()
    (out / "model" / "pipeline.json").write_text('{"format": "mulde-pipeline"}')
    for given in (out / "model", out / "model" / "pipeline.json"):
        assert main(["evaluate", str(given), "--out", str(tmp_path / "b")]) == 2
        assert capsys.readouterr().err == (
            f"mulde: error: {given}: a trained model, not scores; evaluate the scores its run "
            f"wrote: {out / 'frame_scores.csv'}\n")


def test_evaluate_keeps_a_users_table_beside_an_earlier_reports_metrics(tmp_path, capsys):
    """A newcomer's trial: a user's own frame_scores.csv put beside an earlier report's
    metrics.json was removed by --metrics-only ("the earlier report's frame_scores.csv") and
    overwritten by a full report. Refused in one line either way, the file as it was."""
    path = _csv(tmp_path / "s.csv", {"a": [0.1, 0.9, 0.2, 0.8]}, {"a": [0, 1, 0, 1]})
    out = tmp_path / "out"
    assert main(["evaluate", str(path), "--out", str(out), "--metrics-only"]) == 0
    mine = "video,frame,score\nmyvid,0,1\n"
    (out / "frame_scores.csv").write_text(mine)
    capsys.readouterr()
    for more in ([], ["--metrics-only"]):
        assert main(["evaluate", str(path), "--out", str(out), *more]) == 2
        said = capsys.readouterr()
        assert said.err == (f"mulde: error: {out / 'frame_scores.csv'}: its header is not a "
                            "mulde report's (video,frame,label,score,score_unsmoothed); "
                            "writing the report would overwrite it: give another output "
                            "folder (--out), or move the file away first\n"), said.err
        assert (out / "frame_scores.csv").read_text() == mine


def test_evaluate_keeps_its_input_and_a_users_plots(tmp_path, capsys):
    """A newcomer's trial: `mulde evaluate frame_scores.csv --out .` rewrote its own input,
    and a user's plots/roc.png was overwritten (and plots/video_*.png removed) by the
    report: both are refused in one line, the files as they were; --metrics-only into the
    input's folder writes metrics.json beside it."""
    table = _own_scores(tmp_path / "own")
    before = table.read_text()
    assert main(["evaluate", str(table), "--out", str(table.parent)]) == 2
    said = capsys.readouterr()
    err = said.err
    assert said.out == "", said.out
    assert err.startswith(f"mulde: error: --out {table.parent} would overwrite the scores being "
                          "evaluated") and err.count("\n") == 1, err
    assert table.read_text() == before
    assert main(["evaluate", str(table), "--out", str(table.parent), "--metrics-only"]) == 0
    assert table.read_text() == before and (table.parent / "metrics.json").is_file()
    mine = tmp_path / "mine"
    (mine / "plots").mkdir(parents=True)
    (mine / "plots" / "roc.png").write_bytes(b"my plot")
    assert main(["evaluate", str(table), "--out", str(mine)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mulde: error: {mine / 'plots' / 'roc.png'}: a file of the name "
                          "a report's plot has"), err
    assert (mine / "plots" / "roc.png").read_bytes() == b"my plot"


def test_the_two_class_macro_auc_note_says_how_each_command_reports_it(tmp_path, capsys):
    """The note on many single-class videos ended "the macro AUC under --macro
    skip_single_class of mulde evaluate, which also reads a mulde run report's
    frame_scores.csv)", printed so by mulde evaluate itself: the note names the definition,
    and each command says in a line of its own how it reports that number as the macro AUC;
    run's command line gives it."""
    from mulde.cli import _print_metrics
    from mulde.evaluation import EvaluationProtocol, write_report

    rng = np.random.default_rng(0)
    scores = {f"v{i}": rng.random(40) for i in range(6)}
    labels = {f"v{i}": np.repeat([0, int(i < 3)], 20) for i in range(6)}  # 3 all normal
    run = tmp_path / "run"
    m = write_report(run, scores, labels, protocol=EvaluationProtocol(smoothing_sigma=7.0),
                     versions={})
    note = next(n for n in m["notes"] if "two-class videos alone" in n)
    assert note.endswith(f"the macro AUC is {m['macro_auc_two_class']:.4f} (unsmoothed "
                         f"{m['macro_auc_two_class_unsmoothed']:.4f}; the skip_single_class "
                         "definition)")
    _print_metrics(m, run)  # mulde run's lines: run has no --macro
    said = capsys.readouterr().out.splitlines()
    hint = ("note: to report that two-class macro AUC as the macro AUC, evaluate this run's "
            f"frame scores: mulde evaluate {run / 'frame_scores.csv'} --smoothing-sigma 7 "
            "--macro skip_single_class --out DIR")
    assert said[said.index(f"note: {note}") + 1] == hint
    command = hint.split(": ", 2)[2].split()[2:-1] + [str(tmp_path / "e"), "--metrics-only"]
    assert main(["evaluate", *command]) == 0
    again = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert again["macro_auc"] == pytest.approx(m["macro_auc_two_class"])
    out = capsys.readouterr().out
    assert "mulde run" not in out and "add --macro skip_single_class" not in out
    # mulde evaluate's padded macro AUC: the same note, and its own option to report it
    assert main(["evaluate", str(run / "frame_scores.csv"), "--smoothing-sigma", "7",
                 "--out", str(tmp_path / "p"), "--metrics-only"]) == 0
    said = capsys.readouterr().out.splitlines()
    assert said[said.index(f"note: {note}") + 1] == (  # it read as if --macro were given
        "note: to report that two-class macro AUC as the macro AUC, add --macro "
        "skip_single_class")
    assert not any("mulde run" in line or "mulde evaluate" in line for line in said)
