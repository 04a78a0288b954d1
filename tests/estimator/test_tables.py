"""DataFrames refused in one line naming the column (and row), before scikit-learn's own
messages (pandas' conversion error, numpy's dtype promotion, the feature-name check)."""

import warnings

import numpy as np
import pytest

from mulde import MULDE
from mulde.estimator.model import ConstantFeaturesWarning, IndexColumnWarning
from mulde.estimator.tables import dataframe_problem, index_columns, numeric_frame

pd = pytest.importorskip("pandas")  # not a dependency of mulde: the checks need it only here


def _frame(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                         "c": rng.integers(0, 5, size=n)}, index=[f"r{i}" for i in range(n)])


def test_numeric_frames_and_arrays_pass():
    frame = _frame()
    assert dataframe_problem(frame) == dataframe_problem(frame.to_numpy()) == ""
    assert dataframe_problem(frame.assign(d=frame.a > 0)) == ""  # bool is a number
    assert dataframe_problem(frame.assign(d=["1.5"] * len(frame))) == ""  # text of numbers
    assert dataframe_problem(frame.assign(d=[None] + [1.0] * (len(frame) - 1))) == ""  # NaN: later
    assert dataframe_problem(frame, ["a", "b", "c"]) == ""


def test_a_text_cell_is_named_by_column_row_label_and_value():
    frame = _frame().astype({"b": object})
    frame.loc["r7", "b"] = "abc"
    assert dataframe_problem(frame) == (
        "X: column 'b', row labelled 'r7': 'abc' is not a number; every column must hold "
        "numbers: drop or encode columns of text (names, ids, class labels)")
    numbered = frame.reset_index(drop=True)  # an integer label shows as 7, not np.int64(7)
    assert "row labelled 7: 'abc'" in dataframe_problem(numbered)


def test_dates_and_categories_are_named_with_what_to_do():
    frame = _frame()
    dated = frame.assign(when=pd.date_range("2026-01-01", periods=len(frame)))
    assert dataframe_problem(dated) == (f"X: column 'when' holds dates or times "
                                        f"({dated['when'].dtype}); convert it to numbers (such "
                                        "as seconds) or drop it")
    assert "column 'c' is categorical; encode it" in dataframe_problem(
        frame.astype({"c": "category"}))


def test_columns_other_than_the_fitted_ones_are_named():
    frame = _frame()
    assert dataframe_problem(frame[["b", "a", "c"]], ["a", "b", "c"]) == (
        "X: the model's columns in another order; pass X[model.feature_names_in_] to put "
        "them in the order it was fitted on")
    assert dataframe_problem(frame.rename(columns={"c": "z"}), ["a", "b", "c"]) == (
        "X lacks 'c' and has 'z', which the model was not fitted on; give the 3 columns the "
        "model was fitted on, in its order (model.feature_names_in_)")
    twice = frame.set_axis(["a", "b", "a"], axis=1)
    assert "the column name 'a' appears more than once" in dataframe_problem(twice)


def test_mulde_refuses_them_in_fit_and_in_scoring():
    frame = _frame(60)
    model = MULDE(max_steps=1, eval_every=1, random_state=0).fit(frame)
    with pytest.raises(ValueError, match="^X: the model's columns in another order"):
        model.score_samples(frame[["c", "a", "b"]])
    with pytest.raises(ValueError, match="^X: column 'when' holds dates"):
        model.fit(frame.assign(when=pd.Timestamp("2026-01-01")))
    np.testing.assert_array_equal(model.score_samples(frame),
                                  model.score_samples(frame.to_numpy()))


def test_the_constant_column_warning_names_a_dataframes_column():
    frame = _frame(60).assign(flat=0.0)
    with pytest.warns(ConstantFeaturesWarning, match="column 'flat'\\)"):
        MULDE(max_steps=1, eval_every=1, random_state=0).fit(frame)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        MULDE(max_steps=1, eval_every=1, random_state=0).fit(frame.to_numpy())
    said = [str(w.message) for w in caught if w.category is ConstantFeaturesWarning]
    assert said and "column 3, counting from 0" in said[0]


def test_missing_values_in_text_columns_reach_the_nan_check():
    """None, pd.NA and the text "nan" in a column of numbers written as text become NaN
    (`numeric_frame`), which the NaN check names by row; scikit-learn's own conversion
    stopped at pd.NA with a TypeError."""
    frame = _frame(60)
    frame["b"] = pd.array([f"{v:.3f}" for v in frame.b], dtype="string")
    assert dataframe_problem(frame) == ""
    model = MULDE(max_steps=1, eval_every=1, random_state=0).fit(frame)
    for missing in (pd.NA, "nan"):
        holey = frame.copy()
        holey.loc["r5", "b"] = missing
        assert dataframe_problem(holey) == ""
        assert np.isnan(numeric_frame(holey).loc["r5", "b"])
        with pytest.raises(ValueError, match="rows labelled 'r5'; the first in column 'b'"):
            model.score_samples(holey)


def test_a_frame_of_numbered_columns_is_taken_in_the_models_order():
    """scikit-learn records no names for columns that are not strings: such a frame is
    scored in the model's order, as an array is (with scikit-learn's warning), not refused
    for lacking the fitted names."""
    frame = _frame(60)
    model = MULDE(max_steps=1, eval_every=1, random_state=0).fit(frame)
    numbered = pd.DataFrame(frame.to_numpy())
    assert dataframe_problem(numbered, list(model.feature_names_in_)) == ""
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        scores = model.score_samples(numbered)
    np.testing.assert_array_equal(scores, model.score_samples(frame))


def test_a_column_that_looks_like_a_row_index_is_fitted_but_said(tmp_path):
    """A CSV that DataFrame.to_csv wrote with its index, read back by pd.read_csv, holds an
    'Unnamed: 0' column counting the rows, which a fit took as a feature without a word (as
    `mulde fit` refuses such a file's unnamed first column). It is fitted, as a library user
    may mean it, with a warning naming the column and what to do; so is a column counting
    the rows from 1 (an id) and one so named that counts nothing. Only at fit; the frame read
    with index_col=0 fits quietly."""
    import pickle

    frame = _frame(60).reset_index(drop=True)
    frame.to_csv(tmp_path / "all.csv")
    read = pd.read_csv(tmp_path / "all.csv")
    assert index_columns(read, read.to_numpy(float)) == [("Unnamed: 0", 0, True)]
    fast = {"max_steps": 1, "eval_every": 1, "random_state": 0}
    with pytest.warns(IndexColumnWarning) as caught:
        model = MULDE(**fast).fit(read)
    said = [w.message for w in caught if w.category is IndexColumnWarning]
    assert [str(w) for w in said] == [
        "X: column 'Unnamed: 0' counts the rows (0, 1, ..., 59): a row index or id, not a "
        "feature, yet fitted as one (new rows would look anomalous by their number); drop it "
        "(X.drop(columns='Unnamed: 0')), or read a CSV written with its index by "
        "pd.read_csv(path, index_col=0)"]
    assert (said[0].name, said[0].first, said[0].n) == ("Unnamed: 0", 0, 60)
    assert str(pickle.loads(pickle.dumps(said[0]))) == str(said[0])
    assert model.n_features_in_ == 4  # fitted as given
    with warnings.catch_warnings():
        warnings.simplefilter("error", IndexColumnWarning)
        model.score_samples(read)
        MULDE(**fast).fit(pd.read_csv(tmp_path / "all.csv", index_col=0))
    ids = frame.assign(id=np.arange(1, 61))
    assert index_columns(ids, ids.to_numpy(float)) == [("id", 1, True)]
    # rows shuffled since the id was given, or numbered from elsewhere (a newcomer's ids
    # went unsaid): each whole number of a range once, from 20 rows on
    shuffled = ids.sample(frac=1.0, random_state=0).assign(y=lambda f: f["id"] + 999)
    assert index_columns(shuffled, shuffled.to_numpy(float)) == [("id", 1, False),
                                                                  ("y", 1000, False)]
    with pytest.warns(IndexColumnWarning, match="^X: column 'id' holds each whole number from "
                      "1 to 60 once: a row index or id, not a feature"):
        MULDE(**fast).fit(shuffled)
    assert index_columns(shuffled[:19], shuffled[:19].to_numpy(float)) == []  # too few
    unnamed = read.assign(**{"Unnamed: 0": np.linspace(0, 1, 60)})  # not an index
    assert index_columns(unnamed, unnamed.to_numpy(float)) == [("Unnamed: 0", None, True)]
    with pytest.warns(IndexColumnWarning, match="^X: column 'Unnamed: 0' is pandas' name for "
                      "a column without a header name, such as the index column"):
        MULDE(**fast).fit(unnamed)
    assert index_columns(read.to_numpy(float), read.to_numpy(float)) == []  # no frame
    # a later column without a header name ("a,,b") is a feature left unnamed, not an index
    (tmp_path / "gap.csv").write_text("a,,b\n" + "".join(f"{i % 7},{i % 3},{i % 5}\n"
                                                           for i in range(60)))
    gap = pd.read_csv(tmp_path / "gap.csv")
    assert list(gap.columns) == ["a", "Unnamed: 1", "b"]
    assert index_columns(gap, gap.to_numpy(float)) == []
