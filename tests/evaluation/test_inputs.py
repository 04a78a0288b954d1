"""`mulde.evaluation.inputs`: reading score files (most of its tests are `mulde evaluate`'s,
in test_cli_evaluate.py)."""

import numpy as np
import pytest

import mulde.evaluation.inputs as inputs
from mulde.datasets import VideoTruth
from mulde.evaluation.inputs import FrameAlignment, align, read_scores


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
