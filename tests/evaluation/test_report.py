"""Reports: files written, csv/json round trip, self-contained HTML, no-label and error cases."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import mulde.evaluation.report as report_mod
from mulde.evaluation import (
    EvaluationError,
    EvaluationProtocol,
    compute_metrics,
    library_versions,
    micro_auc,
    read_frame_scores,
    write_report,
)
from mulde.evaluation.report import earlier_report, report_files
from mulde.vad.fusion import Calibration

WEIRD = 'cam <b>&"1"</b> $x$'  # HTML specials and matplotlib mathtext markers


def _videos():
    rng = np.random.default_rng(0)
    labels = {
        "01": np.r_[np.zeros(40), np.ones(30), np.zeros(10)].astype(int),
        WEIRD: np.zeros(50, dtype=int),
        "03": np.ones(20, dtype=int),
    }
    scores = {n: y + rng.normal(0, 0.6, y.size) for n, y in labels.items()}
    return scores, labels


def _write(tmp_path: Path, **kwargs):
    scores, labels = _videos()
    kwargs.setdefault("labels", labels)
    m = write_report(
        tmp_path / "run",
        scores,
        protocol=EvaluationProtocol(smoothing_sigma=3),
        config={"preset": "fast", "root": Path("/x"), "k": np.int64(3)},
        seed=7,
        versions={"numpy": np.__version__},
        timings={"fit_s": 1.5},
        **kwargs,
    )
    return m, scores, labels


def test_the_page_says_unsmoothed_numbers_where_the_sigma_is_0(tmp_path):
    """UCF-Crime's default sigma 0 read "smoothed (sigma=0)" on every card of report.html."""
    scores, labels = _videos()
    for sigma, said in ((0.0, "unsmoothed (&sigma;=0)"), (3.0, "smoothed (&sigma;=3)")):
        out = tmp_path / f"s{sigma:g}"
        write_report(out, scores, labels=labels, protocol=EvaluationProtocol(
            smoothing_sigma=sigma), metrics_only=False)
        page = (out / "report.html").read_text()
        assert page.count(said) == 5  # the four cards and the table's column
        assert page.count("smoothed (&sigma;=0)") == page.count("unsmoothed (&sigma;=0)")


def test_an_earlier_report_is_told_from_a_user_s_files_of_its_names(tmp_path):
    """`mulde run --out DIR` called a user's report.html and metrics.json (not even JSON) "an
    earlier run's report" and overwrote them: only a report's own files are replaced."""
    out = tmp_path / "run"
    assert earlier_report(out) is False  # no folder yet
    _write(tmp_path)
    assert earlier_report(out) is True
    (out / "metrics.json").unlink()  # a report's frame_scores.csv alone (its metrics failed)
    (out / "report.html").unlink()
    assert earlier_report(out) is False
    mine = tmp_path / "mine"
    mine.mkdir()
    for name, text, why in (
            ("metrics.json", "accuracy: 0.9", "not a mulde report's metrics.json \\(no JSON "
             "object with the fields protocol, config, versions, created\\)"),
            ("metrics.json", '{"accuracy": 0.9}', "not a mulde report's metrics.json"),
            ("report.html", "<p>mine</p>", "no mulde report's metrics.json beside it"),
            ("frame_scores.csv", "video,frame,score\n", "its header is not a mulde report's")):
        (mine / name).write_text(text)
        with pytest.raises(EvaluationError, match=f"^{re.escape(str(mine / name))}: {why}.*; "
                                                  "writing the report would overwrite it: "
                                                  "give another output folder \\(--out\\), or "
                                                  "move the file away first$"):
            earlier_report(mine)
        assert (mine / name).read_text() == text
        (mine / name).unlink()


def test_a_user_s_file_beside_an_earlier_report_s_metrics_is_refused(tmp_path):
    """A newcomer's trial: a user's own frame_scores.csv (another header) or report.html
    beside a mulde report's metrics.json was taken for that report's and overwritten (or
    removed by --metrics-only). Each file is judged on its own: the table by its header, the
    page by the creation time of the metrics.json it belongs to."""
    _write(tmp_path)
    out = tmp_path / "run"
    for name, text, why in (
            ("frame_scores.csv", "video,frame,score\nmine,0,1\n",
             "its header is not a mulde report's"),
            ("report.html", "<p>mine</p>", "not a mulde report's page")):
        before = (out / name).read_bytes()
        (out / name).write_text(text)
        with pytest.raises(EvaluationError, match=f"^{re.escape(str(out / name))}: {why}"):
            earlier_report(out)
        assert (out / name).read_text() == text
        (out / name).write_bytes(before)
    assert earlier_report(out) is True  # the report's own files again
    # a mulde page of another report (an older --metrics-only left the page before it, or
    # an interrupt fell between the renames), with or without the generator mark (older
    # versions): a report's, replaced
    page = (out / "report.html").read_text()
    assert '<meta name="generator" content="mulde ' in page
    older = re.sub(r"created \d{4}-[\d:T+-]+", "created 2026-12-01T10:00:00+00:00", page)
    for text in (older, older.replace('<meta name="generator"', '<meta name="x"')):
        (out / "report.html").write_text(text)
        assert earlier_report(out) is True


def test_an_interrupted_report_leaves_the_earlier_one_whole(tmp_path, monkeypatch):
    """A newcomer's trial: Ctrl-C during a report left the new frame_scores.csv beside the
    earlier metrics.json, report.html and plots. Every file is staged and renamed at the end,
    so an interrupt before then leaves the earlier report byte for byte, and no temp file."""
    _write(tmp_path)
    out = tmp_path / "run"
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(report_mod, "_html", interrupted)
    scores, labels = _videos()
    with pytest.raises(KeyboardInterrupt):
        write_report(out, {n: -s for n, s in scores.items()}, labels)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    # the metrics or alerts refusing what they are given: the earlier report stays whole
    # (new scores beside it would contradict it); into a folder of no report, the new
    # scores are written, to look at what was refused; the error says which
    monkeypatch.undo()
    for folder, said in ((out, r" \(the frame scores were not written: .*run holds an earlier "
                               r"report, metrics\.json and report\.html, which they would "
                               r"contradict; give another output folder to keep them\)$"),
                         (tmp_path / "fresh", r"[^(]*$")):
        with pytest.raises(EvaluationError, match="finite number, got inf" + said):
            write_report(folder, {n: -s for n, s in scores.items()}, labels, threshold=np.inf)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in (tmp_path / "fresh").iterdir()) == ["frame_scores.csv"]


def test_report_files_and_metrics(tmp_path):
    m, scores, labels = _write(
        tmp_path,
        calibration={"pose": Calibration(low=0.0, high=2.0)},
        fusion="sum of calibrated streams",
    )
    out = tmp_path / "run"
    names = sorted(p.name for p in out.iterdir())
    assert names == ["frame_scores.csv", "metrics.json", "plots", "report.html"]
    on_disk = json.loads((out / "metrics.json").read_text())
    assert on_disk == m
    expected = compute_metrics(scores, labels, EvaluationProtocol(smoothing_sigma=3))
    for key in ("micro_auc", "macro_auc", "micro_auc_unsmoothed", "macro_auc_unsmoothed"):
        assert m[key] == pytest.approx(expected[key])
    for key in ("average_precision", "eer", "per_video_auc", "per_video_auc_unsmoothed"):
        assert m[key] == pytest.approx(expected[key])
    assert m["labelled"] is True and m["unlabelled_videos"] == []
    assert m["protocol"]["smoothing_sigma"] == 3.0
    assert m["protocol"]["calibration"] == {"pose": {"low": 0.0, "high": 2.0, "percentile": 99.9}}
    assert m["protocol"]["fusion"] == "sum of calibrated streams"
    assert m["config"] == {"preset": "fast", "root": "/x", "k": 3}
    assert (m["seed"], m["versions"]) == (7, {"numpy": np.__version__})
    assert m["timings"]["fit_s"] == 1.5 and m["timings"]["report_s"] >= 0
    assert '"timings (seconds)": {' in (out / "report.html").read_text()  # the unit is said
    assert not list(out.rglob("*.tmp")), "temp files left behind"


def test_frame_scores_csv_round_trip(tmp_path):
    m, scores, labels = _write(tmp_path)
    path = tmp_path / "run" / "frame_scores.csv"
    assert path.read_text().splitlines()[0] == "video,frame,label,score,score_unsmoothed"
    raw, raw_labels = read_frame_scores(path, column="score_unsmoothed")
    final, _ = read_frame_scores(path)
    assert list(raw) == list(scores)
    for name in scores:
        np.testing.assert_array_equal(raw[name], scores[name])  # exact float round trip
        np.testing.assert_array_equal(raw_labels[name], labels[name])
    assert micro_auc(final, raw_labels) == m["micro_auc"]
    assert compute_metrics(raw, raw_labels, EvaluationProtocol(3))["macro_auc"] == m["macro_auc"]


def test_report_html_is_self_contained(tmp_path):
    m, scores, _ = _write(tmp_path)
    page = (tmp_path / "run" / "report.html").read_text()
    assert page.count("data:image/png;base64,") == len(scores) + 1  # ROC + one per video
    assert f"{100 * m['micro_auc']:.2f}" in page
    assert f"{100 * m['macro_auc_unsmoothed']:.2f}" in page
    assert "sigma=3" in page and "macro AUC (padded)" in page  # the protocol is stated
    assert "cam &lt;b&gt;&amp;&quot;1&quot;&lt;/b&gt;" in page and "<b>&" not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "external asset"
    assert "<script" not in page
    assert np.__version__ in page and '"preset": "fast"' in page


def test_plots_are_pngs(tmp_path):
    _write(tmp_path)
    plots = sorted((tmp_path / "run" / "plots").iterdir())
    assert [p.name for p in plots] == [
        "roc.png",
        "video_001_01.png",
        "video_002_cam_b_1_b_x.png",
        "video_003_03.png",
    ]
    for p in plots:
        with Image.open(p) as im:
            assert im.format == "PNG" and im.width >= 400 and im.height >= 200


def test_labels_of_one_class_give_a_report_without_aucs_that_keeps_them(tmp_path):
    """Every labelled frame normal (no AUC exists): no metrics and a note that says why, but
    the labels stay in frame_scores.csv and the false alarms in normal videos are counted;
    a caller's own note wins (the pipeline's, which names its scored test videos)."""
    from mulde.evaluation.report import single_class, single_class_cause

    scores, labels = _videos()
    normal = {n: np.zeros_like(y) for n, y in labels.items()}
    m = write_report(tmp_path, scores, normal, protocol=EvaluationProtocol(0), versions={},
                     threshold=0.5)
    assert m["labelled"] is False and "micro_auc" not in m
    assert m["note"] == ("the labels of the 3 labelled video(s) mark every frame normal, and "
                         "the AUCs need both classes, so no AUC is computed: frame scores and "
                         "plots, no metrics")
    _, read_labels = read_frame_scores(tmp_path / "frame_scores.csv")
    assert all(np.array_equal(read_labels[n], normal[n]) for n in normal)
    assert m["false_alarms_in_normal_videos"] == {n: len(e) for n, e in m["events"].items()}
    assert not (tmp_path / "plots" / "roc.png").exists()
    own = write_report(tmp_path / "own", scores, normal, versions={}, no_metrics_note="why")
    assert own["note"] == "why"
    assert single_class({"a": [1, 1], "b": None}) == (1, 1)
    assert single_class({"a": [0, 1]}) is single_class({"a": None}) is None
    assert single_class_cause(2, 1, "clips") == ("the labels of the 2 clips mark every frame "
                                                 "anomalous, and the AUCs need both classes")


def test_report_without_labels(tmp_path):
    scores, _ = _videos()
    m = write_report(tmp_path, scores, protocol=EvaluationProtocol(0), versions={})
    assert m["labelled"] is False and "no metrics" in m["note"]
    assert "micro_auc" not in m and m["n_videos"] == 3
    assert json.loads((tmp_path / "metrics.json").read_text()) == m
    _, read_labels = read_frame_scores(tmp_path / "frame_scores.csv")
    assert all(v is None for v in read_labels.values())
    assert not (tmp_path / "plots" / "roc.png").exists()
    assert len(list((tmp_path / "plots").glob("video_*.png"))) == 3
    page = (tmp_path / "report.html").read_text()
    assert "no metrics" in page and page.count("data:image/png;base64,") == 3
    # said plainly, and nothing of the labelled evaluation's protocol (AUCs, *_unsmoothed)
    assert "no labels were given, so no AUC is computed" in page
    assert "<b>Scores.</b> No temporal smoothing.\n" in page and "<b>Protocol." not in page
    assert not re.search("AUC (?!is computed)|_unsmoothed|AI-VAD|EER", page.split("<h2>")[0])
    assert m["protocol"]["description"] == "No temporal smoothing." and "macro" not in m[
        "protocol"]
    labelled = write_report(tmp_path / "labelled", *_videos(), versions={})
    assert "macro AUC (padded)" in labelled["protocol"]["description"]
    assert "<b>Protocol.</b>" in (tmp_path / "labelled" / "report.html").read_text()


def test_report_partial_labels_and_rewrite_removes_stale_plots(tmp_path):
    scores, labels = _videos()
    write_report(tmp_path, scores, labels, versions={})
    del scores["03"]
    labels[WEIRD] = None
    del labels["03"]
    m = write_report(tmp_path, scores, labels, versions={})
    assert m["unlabelled_videos"] == [WEIRD] and list(m["per_video_auc"]) == ["01"]
    assert m["n_videos"] == 1
    assert not (tmp_path / "plots" / "video_003_03.png").exists()


def test_metrics_only_writes_metrics_json_alone(tmp_path):
    scores, labels = _videos()
    m = write_report(tmp_path / "m", scores, labels, protocol=EvaluationProtocol(3),
                     versions={}, metrics_only=True)
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["metrics.json"]
    assert json.loads((tmp_path / "m" / "metrics.json").read_text()) == m
    full = compute_metrics(scores, labels, EvaluationProtocol(3))
    for key in ("micro_auc", "macro_auc", "average_precision", "eer", "macro_auc_unsmoothed"):
        assert m[key] == full[key]


def test_report_skip_single_class_table_and_prepared_csv(tmp_path):
    scores, labels = _videos()
    p = EvaluationProtocol(3, macro="skip_single_class", direction="normality")
    m = write_report(tmp_path, {n: -s for n, s in scores.items()}, labels, protocol=p,
                     versions={})
    assert m["macro_definition"] == "skip_single_class" and list(m["per_video_auc"]) == ["01"]
    assert m["single_class_videos"] == [WEIRD, "03"]
    page = (tmp_path / "report.html").read_text()
    assert "AUC % (skip_single_class)" in page
    # single-class videos say what they are instead of an AUC
    assert "no anomaly (AUC undefined)" in page and "every frame anomalous" in page
    raw, _ = read_frame_scores(tmp_path / "frame_scores.csv", column="score_unsmoothed")
    np.testing.assert_array_equal(raw["01"], scores["01"])  # the CSV holds anomaly scores


def test_report_errors(tmp_path):
    scores, labels = _videos()
    with pytest.raises(EvaluationError, match="labels for video 'zz'"):
        write_report(tmp_path, scores, {**labels, "zz": [0]}, versions={})
    only_normal = {WEIRD: labels[WEIRD]}  # no AUC exists: a report without one, no error
    m = write_report(tmp_path / "b", {WEIRD: scores[WEIRD]}, only_normal, versions={})
    assert "need both classes" in m["note"] and "micro_auc" not in m
    with pytest.raises(EvaluationError, match="no videos"):
        write_report(tmp_path / "c", {}, versions={})



def test_read_frame_scores_rejects_gaps(tmp_path):
    p = tmp_path / "f.csv"
    p.write_text("video,frame,label,score\na,0,0,1.0\na,2,1,2.0\n")
    with pytest.raises(EvaluationError, match=r"row 3: video 'a' frame 2, expected 1; each "
                       r"video's rows must be its frames 0, 1, 2, \.\.\. without a gap"):
        read_frame_scores(p)
    p.write_text("video,frame,score\na,4,1.0\na,5,2.0\n")  # scores from video frame 4 on
    with pytest.raises(EvaluationError, match=r"row 2: video 'a' frame 4, expected 0; the "
                       r"frame column counts each video's scores from 0, not its video "
                       r"frames: for scores that start at video frame 4, number the rows 0, 1, "
                       r"2, \.\.\. \(subtract 4\) and give --frame-offset 4$"):
        read_frame_scores(p)
    p.write_text("video,frame,score\na,1,1.0\na,2,2.0\n")  # 1-based frame numbers
    with pytest.raises(EvaluationError, match=r"row 2: video 'a' frame 1, expected 0; frames "
                       "count from 0: subtract 1 from 1-based frame numbers"):
        read_frame_scores(p)
    p.write_text("video,frame,score\na,4,1.0\na,6,2.0\n")  # from frame 4, then a gap
    with pytest.raises(EvaluationError, match=r"row 2: video 'a' frame 4, expected 0; each "
                       r"video's rows must be its frames 0, 1, 2, \.\.\. without a gap \(in "
                       r"any order\), one row per frame$"):
        read_frame_scores(p)


def test_read_frame_scores_sorts_each_videos_rows_by_frame(tmp_path):
    """Rows in any order (a newcomer's CSV, sorted by score, was refused with "sort the
    rows"): each video's rows are sorted by frame, scores and labels alike; a gap or a
    repeat is still an error, naming the row as the file has it."""
    p = tmp_path / "shuffled.csv"
    p.write_text("video,frame,score,label\nb,1,0.9,1\na,2,0.8,1\na,0,0.1,0\nb,0,0.2,0\n"
                 "a,1,0.3,0\n")
    scores, labels = read_frame_scores(p)
    assert list(scores) == ["b", "a"]  # the order of their first rows
    assert scores["a"].tolist() == [0.1, 0.3, 0.8] and labels["a"].tolist() == [0, 0, 1]
    assert scores["b"].tolist() == [0.2, 0.9] and labels["b"].tolist() == [0, 1]
    p.write_text("video,frame,score\nc,33,0.1\nc,34,0.2\nc,2,0.3\n")  # sorted: 2, 33, 34
    with pytest.raises(EvaluationError, match=r"shuffled.csv, row 4: video 'c' frame 2, "
                       r"expected 0; each video's rows must be its frames 0, 1, 2, \.\.\. "
                       r"without a gap \(in any order\), one row per frame$"):
        read_frame_scores(p)
    p.write_text("video,frame,score\nc,3,0.1\nc,0,0.2\nc,1,0.3\n")  # frame 2 missing
    with pytest.raises(EvaluationError, match=r"row 2: video 'c' frame 3, expected 2; "):
        read_frame_scores(p)
    p.write_text("video,frame,score\na,0,0.1\nb,0,0.2\na,1,0.3\nb,1,0.4\n")  # frame by frame
    assert {v: list(s) for v, s in read_frame_scores(p)[0].items()} == {
        "a": [0.1, 0.3], "b": [0.2, 0.4]}
    p.write_text("video,frame,score\na,4,0.1\nb,0,0.2\na,3,0.3\n")  # a from frame 3 on
    with pytest.raises(EvaluationError, match=r"row 4: video 'a' frame 3, expected 0; .*"
                       r"--frame-offset 3$"):
        read_frame_scores(p)
    p.write_text("video,frame,score\na,0,0.1\na,1,0.2\na,1,0.3\n")
    with pytest.raises(EvaluationError, match=r"row 4: video 'a' frame 1 again \(row 3\); one "
                       r"row per frame$"):
        read_frame_scores(p)
    # a newcomer's row repeated after later frames: a repeated frame, not rows out of order
    p.write_text("video,frame,score\n" + "".join(f"a,{i},0.1\n" for i in range(131))
                 + "b,0,0.2\na,100,0.3\n")
    with pytest.raises(EvaluationError, match=r"row 134: video 'a' frame 100 again \(row "
                       r"102\); one row per frame$"):
        read_frame_scores(p)
    sorted_rows = "video,frame,score\na,0,0.1\na,1,0.3\nc,0,0.3\n"
    p.write_text(sorted_rows)
    assert [list(v) for v in read_frame_scores(p)[0].values()] == [[0.1, 0.3], [0.3]]


@pytest.mark.parametrize("row, said", [
    ("a,2,,0", r"row 4, column 'score': empty \(a missing score\); every row needs a score: "
     r"score every frame, or leave out the rows of a video's unscored first or last frames "
     r"and give --frame-offset or --end-offset$"),
    ("a,2,x,0", r"row 4, column 'score': 'x' is not a number; write each score as a number "
     r"\(e\.g\. 0\.25 or 1e-3\)$"),
    ("a,2,NaN,0", r"row 4, column 'score': 'NaN' \(NaN, no score\); every row needs a score "
     r"that orders the frames: score every frame, or leave out the rows of a video's unscored "
     r"first or last frames and give --frame-offset or --end-offset$"),
    ("a,2,nan,0", r"row 4, column 'score': 'nan' \(NaN, no score\); "),
    ("a,2.5,1,0", r"row 4, column 'frame': '2\.5' is not a whole number; number each video's "
     r"rows 0, 1, 2, \.\.\.$"),
    ("a,,1,0", r"row 4, column 'frame': empty; every row needs its frame number \(0, 1, 2, "
     r"\.\.\. per video\)$"),
    ("a,2,1,yes", r"row 4, column 'label': 'yes' is not a label; write 1 \(anomalous\) or 0 "
     r"\(normal\), or True / False$"),
    ("a,2", r"row 4: 2 fields, the header 4 \(video,frame,score,label\); give every row a "
     r"value for each column of the header$"),
    ("a,2,0.5", r"row 4: 3 fields, the header 4 \(video,frame,score,label\); give every row a "
     r"value for each column of the header$"),  # a label left out: it read as missing
])
def test_read_frame_scores_names_row_column_and_value_of_a_bad_cell(tmp_path, row, said):
    p = tmp_path / "s.csv"
    p.write_text(f"video,frame,score,label\na,0,0.5,0\na,1,0.5,1\n{row}\n")
    with pytest.raises(EvaluationError, match=rf"s\.csv, {said}"):
        read_frame_scores(p)


def test_read_frame_scores_rows_are_lines_as_an_editor_counts_them(tmp_path):
    """Blank lines and a quoted field over two lines count, as in an editor: the row named
    is the line the bad row starts on."""
    p = tmp_path / "s.csv"
    p.write_text('video,frame,score\n\na,0,0.5\n"a",1,0.5\n\n"a\n",2,x\n')
    with pytest.raises(EvaluationError, match=r"s\.csv, row 6, column 'score': 'x' is not"):
        read_frame_scores(p)
    p.write_text("video,frame,score\n\na,0,0.5\n\na,3,0.5\n")
    with pytest.raises(EvaluationError, match=r"s\.csv, row 5: video 'a' frame 3, expected 1"):
        read_frame_scores(p)


def test_read_frame_scores_refuses_a_row_of_more_fields_than_the_header(tmp_path):
    """A score written with a decimal comma (0,1461: pandas' to_csv(decimal=",")) is two
    fields: they were read silently, the score as 0, and a row of an extra field too. Each
    is one line naming the row as an editor counts it and both counts; a split number asks
    "decimal comma?", and a quoted 0,1461 is said to be one too."""
    p = tmp_path / "s.csv"
    p.write_text("video,frame,score\na,0,0,1461\na,1,0,8106\n")
    with pytest.raises(EvaluationError, match=r"s\.csv, row 2: 4 fields, the header 3 "
                       r"\(video,frame,score\); decimal comma\? write 0\.1461 for 0,1461 "
                       r"\(commas separate the fields; write numbers with a decimal point\)$"):
        read_frame_scores(p)
    p.write_text("frame,score,label\n0,0.5,0\n\n1,-2,75,1\n")  # one video's file
    with pytest.raises(EvaluationError, match=r"s\.csv, row 4: 4 fields, the header 3 "
                       r"\(frame,score,label\); decimal comma\? write -2\.75 for -2,75 "):
        read_frame_scores(p, video="s")
    p.write_text("video,frame,score\na,0,0.25\na,1,0.5,7\n")  # no number split: no hint
    with pytest.raises(EvaluationError, match=r"s\.csv, row 3: 4 fields, the header 3 "
                       r"\(video,frame,score\); give every row one value per column of the "
                       r"header \(a value holding a comma goes in double quotes\)$"):
        read_frame_scores(p)
    p.write_text('video,frame,score\na,0,"0,25"\n')
    with pytest.raises(EvaluationError, match=r"row 2, column 'score': '0,25' is not a number; "
                       r"decimal comma\? write 0\.25 for 0,25 "):
        read_frame_scores(p)
    p.write_text('video,frame,score\n"a,b",0,0.25\n')  # a quoted comma is one field
    assert list(read_frame_scores(p)[0]) == ["a,b"]


def test_read_frame_scores_reads_true_false_labels_as_pandas_writes_them(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("video,frame,score,label\na,0,0.5,False\na,1,0.7,True\na,2,0.1,false\n"
                 "a,3,0.2,TRUE\na,4,0.2,1\na,5,0.3,1.0\na,6,0.3,0.0\n")
    scores, labels = read_frame_scores(p)
    assert labels["a"].tolist() == [0, 1, 0, 1, 1, 1, 0] and labels["a"].dtype == np.int8


def test_read_frame_scores_reads_whole_float_frames_as_pandas_writes_them(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("video,frame,score\na,0.0,0.5\na,1.0,0.7\na,2,0.1\na,3e0,0.2\n")
    scores, _ = read_frame_scores(p)
    assert scores["a"].tolist() == [0.5, 0.7, 0.1, 0.2]
    for bad in ("0.5", "inf", "nan"):
        p.write_text(f"video,frame,score\na,0,0.5\na,{bad},0.7\n")
        with pytest.raises(EvaluationError, match=rf"s\.csv, row 3, column 'frame': '{bad}' is "
                           r"not a whole number; number each video's rows 0, 1, 2, \.\.\.$"):
            read_frame_scores(p)


def test_library_versions_tolerates_missing(monkeypatch):
    monkeypatch.setitem(report_mod._PACKAGES, "nonexistent", ("no-such-dist-x", "no_such_mod_x"))
    v = library_versions()
    assert v["numpy"] == np.__version__ and v["nonexistent"] is None
    assert {"python", "mulde", "torch", "sklearn"} <= set(v)


def _alert_videos():
    """Hand-made scores (no smoothing): '01' holds an anomaly at frames 40-69, found by an
    event at 45-50 (velocity fires), and a false alarm at 5-6 (static fires); 'calm' holds
    no anomaly and one false alarm at 20-22."""
    n01, ncalm = 80, 50
    s01, scalm = np.zeros(n01), np.zeros(ncalm)
    s01[5:7], s01[45:51], scalm[20:23] = 3.0, [3, 4, 40, 4, 3, 3], 5.0
    labels = {"01": np.r_[np.zeros(40), np.ones(30), np.zeros(10)].astype(int),
              "calm": np.zeros(ncalm, int)}
    streams = {
        "01": {"static": np.where(np.arange(n01) < 10, s01, 0.0),
               "velocity": np.where(np.arange(n01) < 10, 0.0, s01)},
        "calm": {"static": scalm / 2, "velocity": scalm / 2},
    }
    return {"01": s01, "calm": scalm}, labels, streams


class FakeFrames:
    """A FrameRenderer that draws nothing: a grey PNG per frame asked for."""

    def __init__(self):
        self.calls = []

    def __call__(self, name, frames):
        from mulde.evaluation import Snapshot

        self.calls.append((name, list(frames)))
        buf = io.BytesIO()
        Image.new("RGB", (32, 24), (90, 90, 90)).save(buf, format="PNG")
        return {t: Snapshot(buf.getvalue(), t, 1.0, {"box": [1, 2, 3, 4], "top object": "static"})
                for t in frames}


def test_report_lists_events_at_the_threshold(tmp_path):
    scores, labels, streams = _alert_videos()
    frames = FakeFrames()
    m = write_report(tmp_path, scores, labels, protocol=EvaluationProtocol(0),
                     calibration={"static": Calibration(0.0, 1.0),
                                  "velocity": Calibration(0.0, 1.0)},
                     versions={}, threshold=2.5, stream_scores=streams, fps=10.0,
                     event_frames=frames)
    assert m["threshold"]["value"] == 2.5 and "calibrated, fused" in m["threshold"]["scale"]
    assert "unsmoothed" in m["threshold"]["scale"]
    ev = m["events"]["01"]
    assert [(e["start"], e["end"], e["peak"], e["score"]) for e in ev] == [
        (5, 6, 5, 3.0), (45, 50, 47, 40.0)]
    assert [e["stream"] for e in ev] == ["static", "velocity"]
    assert [e["overlaps_anomaly"] for e in ev] == [False, True]
    assert (ev[1]["start_s"], ev[1]["end_s"], ev[1]["peak_s"]) == pytest.approx((4.5, 5.1, 4.7))
    # the video without anomalies: its false alarm, not a padded AUC of 100 %
    assert m["false_alarms_in_normal_videos"] == {"calm": 1}
    assert [(e["start"], e["end"]) for e in m["events"]["calm"]] == [(20, 22)]
    em = m["event_metrics"]
    assert (em["n_events"], em["true_positive_events"]) == (3, 1)  # 2 false alarms, 1 hit
    assert (em["n_anomalous_intervals"], em["recalled_intervals"]) == (1, 1)
    assert em["precision"] == pytest.approx(1 / 3) and em["recall"] == 1.0
    # thumbnails: one render call per video with the events' peak frames
    assert sorted(frames.calls) == [("01", [5, 47]), ("calm", [20])]
    assert ev[1]["thumbnail"] == "plots/event_001_01_002.png" and ev[1]["box"] == [1, 2, 3, 4]
    # the box is the frame's top object, here of another stream than the event's: said
    assert ev[1]["stream"] == "velocity" and ev[1]["box_stream"] == "static"
    assert (tmp_path / "plots" / "event_002_calm_001.png").exists()
    assert json.loads((tmp_path / "metrics.json").read_text()) == m

    page = (tmp_path / "report.html").read_text()
    assert "Alert threshold:</b> 2.5 on the calibrated, fused" in page
    assert "Events at the alert threshold" in page
    assert "3 event(s) in 2 of 2 video(s)" in page
    # one row per event: frames, seconds, peak, score, stream, ground truth
    assert re.search(r"<td class='n'>2</td><td class='n'>45&ndash;50</td>"
                     r"<td class='n'>4.50&ndash;5.10</td><td class='n'>47</td>"
                     r"<td class='n'>4.70</td><td class='n'>40</td><td>velocity</td>"
                     r"<td>overlaps an anomaly</td>", page)
    assert page.count("<b>false alarm</b>") == 2
    assert page.count("boxed: top object, static stream</div>") == 3
    calm_row = re.search(r"<tr><td>calm</td>.*?</tr>", page).group(0)
    assert "1 false alarm at the threshold" in calm_row and "100.00" not in calm_row
    assert m["per_video_auc"]["calm"] == 1.0  # the macro still pads it, as documented
    assert "precision (true-positive events / events)</td><td class='n'>33.33 %" in page
    assert "nothing is chosen from it" in page
    # thumbnails are embedded: ROC + 2 curves + 3 event thumbnails
    assert page.count("data:image/png;base64,") == 6


def test_the_events_line_counts_only_the_videos_that_fired(tmp_path):
    """A third video that stays below the threshold is counted among the videos, not among
    those with events: "3 event(s) in 2 of 3 video(s)", as the CLI's line says it."""
    scores, labels, streams = _alert_videos()
    scores["quiet"], labels["quiet"] = np.zeros(30), np.zeros(30, int)
    streams["quiet"] = {"static": np.zeros(30), "velocity": np.zeros(30)}
    m = write_report(tmp_path, scores, labels, protocol=EvaluationProtocol(0),
                     calibration={"static": Calibration(0.0, 1.0),
                                  "velocity": Calibration(0.0, 1.0)},
                     versions={}, threshold=2.5, stream_scores=streams, fps=10.0,
                     event_frames=FakeFrames())
    assert m["events"]["quiet"] == []
    assert "3 event(s) in 2 of 3 video(s)" in (tmp_path / "report.html").read_text()


def test_events_of_a_video_without_frame_rate_show_one_dash_for_their_seconds(tmp_path):
    """A frame folder records no frame rate: its events' seconds are a dash, not
    '&ndash;&ndash;&ndash;' (a dash for the start, the range's own dash, one for the end)."""
    scores, labels, streams = _alert_videos()
    m = write_report(tmp_path, scores, labels, protocol=EvaluationProtocol(0), versions={},
                     threshold=2.5, stream_scores=streams, fps={"01": 10.0, "calm": None},
                     event_frames=FakeFrames())
    assert "start_s" not in m["events"]["calm"][0] and "start_s" in m["events"]["01"][0]
    page = (tmp_path / "report.html").read_text()
    assert re.search(r"<td class='n'>20&ndash;22</td><td class='n'>&ndash;</td>"
                     r"<td class='n'>\d+</td><td class='n'>&ndash;</td>", page)
    assert "&ndash;&ndash;" not in page and "4.50&ndash;5.10" in page


def test_report_without_threshold_says_so(tmp_path):
    scores, labels, streams = _alert_videos()
    m = write_report(tmp_path, scores, labels, protocol=EvaluationProtocol(0), versions={},
                     stream_scores=streams, event_frames=FakeFrames())
    assert m["threshold"] is None and m["events"] is None
    assert "no alert threshold" in m["events_note"] and "event_metrics" not in m
    page = (tmp_path / "report.html").read_text()
    assert "Alert threshold:</b> none; no alert threshold given" in page
    assert "no anomaly (AUC undefined)" in page and "<b>false alarm</b>" not in page
    assert not list((tmp_path / "plots").glob("event_*.png"))


def test_threshold_and_stream_panel_are_drawn(tmp_path):
    scores, labels, streams = _alert_videos()
    calib = {"static": Calibration(0.0, 1.0), "velocity": Calibration(0.0, 1.0)}
    shots = {}
    for tag, kwargs in (("plain", {}), ("threshold", {"threshold": 2.5}),
                        ("streams", {"threshold": 2.5, "stream_scores": streams})):
        write_report(tmp_path / tag, scores, labels, protocol=EvaluationProtocol(0),
                     calibration=calib, versions={}, **kwargs)
        with Image.open(tmp_path / tag / "plots" / "video_001_01.png") as im:
            shots[tag] = np.asarray(im.convert("RGB"))
    red = [((s[..., 0] > 150) & (s[..., 1] < 120) & (s[..., 2] < 110)).sum()
           for s in shots.values()]  # the threshold's red, not the light ground-truth shade
    assert red[0] == 0 and red[1] > 300  # the dashed threshold line and the event bars
    assert shots["streams"].shape[0] > shots["threshold"].shape[0]  # the per-stream panel


def test_report_threshold_errors(tmp_path):
    scores, labels, streams = _alert_videos()
    with pytest.raises(EvaluationError, match="normalization 'video_minmax'"):
        write_report(tmp_path, scores, labels, versions={}, threshold=1.0,
                     protocol=EvaluationProtocol(0, normalization="video_minmax"))
    with pytest.raises(EvaluationError, match="finite"):
        write_report(tmp_path, scores, labels, versions={}, threshold=float("nan"))
    streams["calm"]["static"] = streams["calm"]["static"][:-1]
    with pytest.raises(EvaluationError, match="'calm': stream 'static' has 49 frame scores"):
        write_report(tmp_path, scores, labels, versions={}, stream_scores=streams)
    with pytest.raises(EvaluationError, match="frame rate"):
        write_report(tmp_path, scores, labels, versions={}, threshold=1.0, fps={"01": 0})


def test_event_patience_joins_events_split_by_a_short_dip(tmp_path):
    scores = {"v": np.r_[np.zeros(5), [3.0, 3.0, 0.0, 0.0, 4.0], np.zeros(5)]}
    spans = {}
    for patience in (1, 2, 3):
        m = write_report(tmp_path / str(patience), scores, protocol=EvaluationProtocol(0),
                         versions={}, threshold=1.0, event_patience=patience)
        spans[patience] = [(e["start"], e["end"]) for e in m["events"]["v"]]
        assert m["threshold"]["patience"] == patience
    # the dip is 2 frames long: it ends an event unless 3 frames are needed
    assert spans == {1: [(5, 6), (9, 9)], 2: [(5, 6), (9, 9)], 3: [(5, 9)]}
    with pytest.raises(EvaluationError, match="patience"):
        write_report(tmp_path / "x", scores, versions={}, threshold=1.0, event_patience=0)


def test_the_summary_line_counts_one_video_in_the_singular():
    from mulde.evaluation.report import _summary

    assert _summary({"labelled": False, "n_videos": 1, "n_frames": 40}) == \
        "1 video, 40 frames, no labels"
    assert _summary({"labelled": True, "n_videos": 2, "n_frames": 80, "n_anomalous_frames": 9,
                     "unlabelled_videos": []}) == \
        "2 labelled test videos, 80 frames, 9 anomalous"


def test_read_frame_scores_reads_excel_bom_and_spaces_in_the_header(tmp_path):
    p = tmp_path / "f.csv"
    p.write_bytes(b"\xef\xbb\xbfvideo, frame, score, label\n01, 0, 1.5, 0\n01, 1, 2.5, 1\n")
    scores, labels = read_frame_scores(p)
    assert list(scores) == ["01"]
    assert scores["01"].tolist() == [1.5, 2.5] and labels["01"].tolist() == [0, 1]


@pytest.mark.parametrize(("header", "column", "said"), [
    ("video,frame,anomaly_score", "score",
     "no column 'score' of scores; the file has columns ['video', 'frame', 'anomaly_score']: "
     "name the scores' column score (or score_unsmoothed), or give its name with --column "
     "(e.g. --column anomaly_score)"),
    ("video;frame;score", "score",
     "the header 'video;frame;score' is one field; fields are separated by commas, not "
     "semicolons"),
    ("video\tframe\tscore", "score", "fields are separated by commas, not tabs"),
    ("name,frame,score", "score",
     "no column(s) ['video']; the file has columns ['name', 'frame', 'score']: a score CSV has "
     "a header row naming the columns video, frame and score"),
    ("video,segment,score", "score",  # Sultani-style segment scores, numbered
     "no column 'frame'; the file has columns ['video', 'segment', 'score']: name the column "
     "segment frame (each score's index in its video, 0, 1, 2, ...: with "
     "--segments-per-video or --frames-per-score the scores are then spread over the frames)"),
    ("frame,time_s,score,smoothed,velocity,top_stream", "score",
     "the scores of one stream as mulde watch writes them (no video column); add a column "
     "video naming the video on every row"),
])
def test_read_frame_scores_names_the_columns_found_and_the_fix(tmp_path, header, column, said):
    p = tmp_path / "f.csv"
    p.write_text(header + "\n")
    with pytest.raises(EvaluationError) as err:
        read_frame_scores(p, column=column)
    assert said in str(err.value) and "\n" not in str(err.value)


def test_read_frame_scores_reads_any_named_column_of_scores(tmp_path):
    p = tmp_path / "f.csv"
    p.write_text("video,frame,anomaly_score\na,0,0.25\na,1,0.75\n")
    scores, _ = read_frame_scores(p, column="anomaly_score")
    assert scores["a"].tolist() == [0.25, 0.75]
    with pytest.raises(EvaluationError, match="'frame' is not a score column"):
        read_frame_scores(p, column="frame")


def test_metrics_only_removes_an_earlier_full_report_and_nothing_else(tmp_path):
    _write(tmp_path)
    out = tmp_path / "run"
    (out / "notes.txt").write_text("mine")
    listed = {p.relative_to(out).as_posix() for p in report_files(out)}
    assert {"frame_scores.csv", "report.html", "plots/roc.png"} <= listed
    assert sum(name.startswith("plots/video_") for name in listed) == 3
    _write(tmp_path, metrics_only=True)
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "notes.txt"]
    assert report_files(out) == []
    _write(tmp_path)  # a plots/ holding a file of the user's stays, with that file alone
    (out / "plots" / "mine.png").write_bytes(b"x")
    _write(tmp_path, metrics_only=True)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        "metrics.json", "notes.txt", "plots", "plots/mine.png"]


def test_notes_are_recorded_after_the_metrics_own_and_shown_in_the_html(tmp_path):
    m, _, _ = _write(tmp_path, notes=["scores split in the ground truth's order"])
    assert m["notes"][-1] == "scores split in the ground truth's order"
    page = (tmp_path / "run" / "report.html").read_text()
    assert "<b>Note:</b> scores split in the ground truth&#x27;s order" in page
