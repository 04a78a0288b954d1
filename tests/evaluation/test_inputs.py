"""`mulde.evaluation.inputs`: reading score files (most of its tests are `mulde evaluate`'s,
in test_cli_evaluate.py)."""

import pytest

import mulde.evaluation.inputs as inputs
from mulde.evaluation.inputs import read_scores


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
