"""`mulde.evaluation.inputs`: reading score files (most of its tests are `mulde evaluate`'s,
in test_cli_evaluate.py)."""

import re

import numpy as np
import pytest

import mulde.evaluation.inputs as inputs
from mulde.datasets import VideoTruth
from mulde.evaluation import EvaluationError
from mulde.evaluation.inputs import (
    FrameAlignment,
    align,
    read_frame_counts,
    read_scores,
    with_frame_counts,
)


@pytest.mark.parametrize("column", ["auto", "score"])
def test_a_csvs_header_is_read_once_for_its_columns(tmp_path, monkeypatch, column):
    """read_scores read a CSV's header for --column auto and again for the columns it
    records: once now, whichever the column."""
    path = tmp_path / "s.csv"
    path.write_text("video,frame,score,score_unsmoothed\na,0,0.5,0.25\na,1,1.5,1.25\n")
    read = []

    def counted(p):
        read.append(p)
        return columns(p)

    columns = inputs._csv_columns
    monkeypatch.setattr(inputs, "_csv_columns", counted)
    scored = read_scores(path, column=column)
    assert read == [path]
    assert scored.columns == ("video", "frame", "score", "score_unsmoothed")
    picked = "score_unsmoothed" if column == "auto" else "score"
    assert scored.column == picked
    assert scored.videos["a"].tolist() == ([0.25, 1.25] if column == "auto" else [0.5, 1.5])


def test_ranges_only_ground_truth_takes_its_frame_count_from_the_scores_and_the_alignment():
    """A video without a frame count in its ground truth: offset + frames per score x scores
    frames (it was refused for any alignment but one score per frame)."""
    truth = {"v": VideoTruth("v", "ann.txt", ranges=((5, 8),))}
    alignment = FrameAlignment(frame_offset=2, frames_per_score=3)
    assert alignment.frames_of(4) == 14
    assert alignment.frame_count_rule() == "frames = 2 + 3 x scores"
    assert FrameAlignment(frames_per_score=16, end_offset=1).frame_count_rule() == (
        "frames = 16 x scores + 1")
    scores, labels, info = align({"v": np.array([0.0, 1.0, 2.0, 3.0])}, truth, alignment)
    # frames 2..13 scored, 3 a score: [0 0 0 1 1 1 2 2 2 3 3 3]; labels of frames 5..8
    assert scores["v"].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert labels["v"].tolist() == [0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    assert info["frames_from_scores"] == ["v"]
    assert info["frame_count_rule"] == "frames = 2 + 3 x scores"
    _, _, info = align({"w": np.zeros(3)}, {"w": VideoTruth("w", "m", np.zeros(3, np.int8))})
    assert info["frames_from_scores"] == [] and info["frame_count_rule"] is None


# ------------------------------------------------------------- fixed segments, frame counts


def test_fixed_segments_cover_floor_i_f_over_k_to_floor_i_plus_1_f_over_k_minus_1():
    """K scores over F frames as fixed segments (Sultani et al. 2018's format): score i on frames
    floor(i F / K) .. floor((i + 1) F / K) - 1, every frame once, checked frame by frame
    against the formula for many (F, K)."""
    a = FrameAlignment(segments=3)
    frames, covered = a.to_frames("v", np.array([1.0, 2.0, 3.0]), 10)  # edges 0, 3, 6, 10
    assert frames.tolist() == [1, 1, 1, 2, 2, 2, 3, 3, 3, 3] and covered.all()
    for n_frames in (1, 2, 7, 31, 32, 33, 100, 1413):
        for k in (1, 2, 3, 16, 32):
            if k > n_frames:
                continue
            scores = np.arange(k, dtype=float)
            frames, covered = FrameAlignment(segments=k).to_frames("v", scores, n_frames)
            want = [next(i for i in range(k) if (i * n_frames) // k <= f
                         <= ((i + 1) * n_frames) // k - 1) for f in range(n_frames)]
            assert frames.tolist() == want and covered.all(), (n_frames, k)
    assert FrameAlignment(segments=32).expected(100) == (32, 32)
    assert FrameAlignment(segments=32).expected(31) == (0, 0)
    assert "32 fixed segments per video" in FrameAlignment(segments=32).describe()


def test_fixed_segments_are_checked_per_video_and_need_frame_counts():
    truth = {"a": VideoTruth("a", "m", np.array([0, 0, 1, 1, 1, 0], np.int8)),
             "b": VideoTruth("b", "m", np.zeros(4, np.int8))}
    a = FrameAlignment(segments=2)
    scores, labels, _ = align({"a": np.array([0.2, 0.9]), "b": np.array([0.1, 0.3])}, truth, a)
    assert scores["a"].tolist() == [0.2] * 3 + [0.9] * 3 and labels["a"].tolist() == [
        0, 0, 1, 1, 1, 0]
    assert scores["b"].tolist() == [0.1, 0.1, 0.3, 0.3]
    with pytest.raises(EvaluationError, match=r"^video 'b': 3 scores, but --segments-per-video "
                       r"2 takes 2 per video \(1 of the 2 scored videos have another number\)$"):
        align({"a": np.zeros(2), "b": np.zeros(3)}, truth, a)
    with pytest.raises(EvaluationError, match=r"^video 'a': 3 scores, but --segments-per-video "
                       r"2 takes 2 per video; every scored video has 3: give "
                       r"--segments-per-video 3$"):
        align({"a": np.zeros(3), "b": np.zeros(3)}, truth, a)
    with pytest.raises(EvaluationError, match=r"^video 'b': the ground truth has 4 frames, "
                       r"fewer than the 5 segments of --segments-per-video 5: a segment needs "
                       r"one frame at least$"):
        align({"a": np.zeros(5), "b": np.zeros(5)}, truth, FrameAlignment(segments=5))
    ranges = {"r": VideoTruth("r", "ann.txt", ranges=((5, 8),))}
    with pytest.raises(EvaluationError, match=r"^video 'r': --segments-per-video 2 spreads a "
                       r"video's scores over its frames, but ann.txt states anomalous ranges "
                       r"only: give each video's frame count with --frame-counts FILE"):
        align({"r": np.zeros(2)}, ranges, a)
    for given in ({"frame_offset": 1}, {"end_offset": 2}, {"frames_per_score": 16}):
        with pytest.raises(EvaluationError, match=r"--segments-per-video 2 spreads each video's "
                           r"scores over all its frames, so --frame-offset, --end-offset and "
                           r"--frames-per-score do not go with it"):
            FrameAlignment(segments=2, **given)
    with pytest.raises(EvaluationError, match=r"must be >= 1, got 0"):
        FrameAlignment(segments=0)


def test_read_frame_counts_and_its_one_line_errors(tmp_path):
    path = tmp_path / "counts.csv"
    path.write_text("frames,video,fps\n1413,Abuse028_x264.mp4,30\n\n200.0,b,30\n")
    counts = read_frame_counts(path)
    assert counts.counts == {"Abuse028_x264.mp4": (1413, 2), "b": (200, 4)}
    # a name with its video file's suffix serves the test video named without it
    assert counts.get("Abuse028_x264") == (1413, 2) and counts.get("b") == (200, 4)
    assert counts.get("c") is None and counts.get("Abuse028") is None
    for text, said in (
            ("a,100\nb,200\n", r"row 1: no column 'video' or 'frames'; a frame-count file has a "
             r"header row video,frames, then one row per video \(its name and number of "
             r"frames\): add the line video,frames above the first row$"),
            ("video,n\na,100\n", r"row 1: no column 'frames'; .*; the header names "
             r"\['video', 'n'\]$"),
            ("video,frames\na,1.5\n", r"row 2, column 'frames': '1.5' is not a frame count; "
             r"give the video's number of frames, a whole number >= 1$"),
            ("video,frames\na,0\n", r"row 2, column 'frames': '0' is not a frame count"),
            ("video,frames\n,10\n", r"row 2, column 'video': empty; name the video$"),
            ("video,frames\na\n", r"row 2: 1 field\(s\), the header 2; give each row a video and "
             r"its frames$"),
            ("video,frames\na,10\nb,5\na,10\n", r"row 4: video 'a' again \(row 2\); one row per "
             r"video$"),
            # a name with a video file's suffix is the same video as without (get serves both)
            ("video,frames\na.mp4,10\na,12\n", r"row 3: video 'a' again \(row 2 as 'a.mp4'\); "
             r"one row per video$"),
            ("video,frames\n", r"counts.csv: no rows under the header; give one row "
             r"video,frames per video$"),
            ("", r"row 1: no column 'video' or 'frames'; a frame-count file has a header row "
             r"video,frames, then one row per video \(its name and number of frames\)$")):
        path.write_text(text)
        with pytest.raises(EvaluationError, match=said):
            read_frame_counts(path)
    with pytest.raises(EvaluationError, match=r"nope.csv: frame-count file not found$"):
        read_frame_counts(tmp_path / "nope.csv")


def test_frame_counts_serve_ranges_only_truth_and_must_agree_with_counts_it_has(tmp_path):
    path = tmp_path / "counts.csv"
    path.write_text("video,frames\nr,12\nm,6\n")
    counts = read_frame_counts(path)
    truth = {"r": VideoTruth("r", "ann.txt", ranges=((5, 8),), clip_ends=True),
             "m": VideoTruth("m", "m.npy", np.zeros(6, np.int8)),
             "x": VideoTruth("x", "ann.txt")}
    videos, counted = with_frame_counts(truth, counts)
    assert counted == ["r"] and videos["m"] is truth["m"] and videos["x"] is truth["x"]
    assert videos["r"].n_frames == 12 and videos["r"].ranges == ((5, 8),)
    assert videos["r"].to_labels().tolist() == [0] * 5 + [1] * 4 + [0] * 3
    # one score per frame must now be 12 of them: not taken from the scores
    with pytest.raises(EvaluationError, match=rf"^video 'r': {path}, row 2 has 12 frames, so "
                       r"12 scores are expected"):
        align({"r": np.zeros(10)}, {"r": videos["r"]}, FrameAlignment())
    scores, labels, info = align({"r": np.arange(3.0)}, {"r": videos["r"]},
                                 FrameAlignment(frames_per_score=4))
    assert scores["r"].tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert info["frames_from_scores"] == []
    path.write_text("video,frames\nr,4\n")  # a range that starts past the file's count
    short, _ = with_frame_counts(truth, read_frame_counts(path))
    from mulde.datasets import DatasetError

    with pytest.raises(DatasetError, match=rf"ann.txt \(r\): range 5..8 \(0-based\) starts "
                       rf"after the last frame 3; the frame count 4 is from {path}, row 2: "
                       r"check it$"):
        align({"r": np.zeros(4)}, {"r": short["r"]})
    path.write_text("video,frames\nm,7\nr,12\n")
    with pytest.raises(EvaluationError, match=rf"^{path}: 1 frame count\(s\) differ from the "
                       r"ground truth's \(row 2: video 'm' 7, the ground truth 6\): this ground "
                       r"truth has every video's frame count, so drop --frame-counts, or fix "
                       r"the file if it is meant for these videos$"):
        with_frame_counts(truth, read_frame_counts(path))


def test_equal_counts_for_videos_of_other_lengths_are_said_to_look_like_segments():
    """ShanghaiTech-like ground truth with frame counts: 32 scores per video for videos of
    100 and 80 frames fit no option; the error names --segments-per-video 32 (in place of the
    --frames-per-score given). Videos of one length, a remedy that fits, or more than
    `SEGMENTS_AT_MOST` scores keep the errors they had."""
    truth = {"a": VideoTruth("a", "m", np.zeros(100, np.int8)),
             "b": VideoTruth("b", "m", np.zeros(80, np.int8))}
    scores = {"a": np.zeros(32), "b": np.zeros(32)}
    hint = ("; each of the 2 scored videos has 32 scores whatever its length, which looks like "
            "32 fixed segments per video (Sultani et al. 2018's format: 32 per video): give "
            "--segments-per-video 32")
    with pytest.raises(EvaluationError) as said:
        align(scores, truth)
    assert str(said.value) == ("video 'a': the ground truth has 100 frames, so 100 scores are "
                               "expected (frame offset 0, end offset 0, 1 frame per score); "
                               "found 32" + hint)
    with pytest.raises(EvaluationError) as said:
        align(scores, truth, FrameAlignment(frames_per_score=16))
    assert str(said.value).endswith(hint + " in place of --frames-per-score 16")
    assert align(scores, truth, FrameAlignment(segments=32))[0]["b"].size == 80
    same_length = {n: VideoTruth(n, "m", np.zeros(100, np.int8)) for n in "ab"}
    with pytest.raises(EvaluationError) as said:
        align(scores, same_length)
    assert "fixed segments" not in str(said.value)
    many = {n: np.zeros(65) for n in "ab"}
    long = {"a": VideoTruth("a", "m", np.zeros(300, np.int8)),
            "b": VideoTruth("b", "m", np.zeros(200, np.int8))}
    with pytest.raises(EvaluationError) as said:
        align(many, long)
    assert "fixed segments" not in str(said.value)
    assert inputs.SEGMENTS_AT_MOST == 64 and inputs._same_count({"a": np.zeros(32)}) is None


@pytest.mark.parametrize("text", ["0,1461\n0,2000\n1,0\n", "score\n0,5\n1,25  # last\n",
                                  "0, 0.1\n1, 0.3\n"])
def test_a_txt_of_comma_pairs_is_refused_not_read_as_twice_the_scores(tmp_path, text):
    """Decimal commas (0,1461) or frame,score columns in a .txt: every line two numbers split
    by a comma, which read as one vector doubled the scores; one line naming both readings."""
    path = tmp_path / "v.txt"
    path.write_text(text)
    first = next(line for line in text.splitlines() if "," in line)  # not the header word
    with pytest.raises(EvaluationError, match=r"v.txt: every line holds two numbers split by a "
                       rf"comma \(the first: '{re.escape(first)}'\): a decimal comma .*save "
                       r"them as a .csv with a header row"):
        read_scores(path)
    path.write_text("0.0, 1.5\n2.0\n")  # a line of two among others: numbers as written
    np.testing.assert_array_equal(read_scores(path).array, [0.0, 1.5, 2.0])
