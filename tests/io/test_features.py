"""Feature files: .npy / .npz / .csv readers and their errors."""

import pickle
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mulde.io.features import (
    FeatureFileError,
    check_features,
    csv_header,
    csv_lines,
    energy_columns,
    numbered_first_row,
    read_features,
    row_number_columns,
    whole_number,
    write_scores,
)


def test_npy_npz_csv_round_trip(tmp_path):
    X = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.save(tmp_path / "a.npy", X)
    np.savez(tmp_path / "b.npz", X=X, other=np.zeros(2))
    np.savez(tmp_path / "c.npz", feats=X)
    (tmp_path / "d.csv").write_text("f1,f2,f3\n" + "\n".join(",".join(map(str, r)) for r in X))
    (tmp_path / "e.csv").write_text("\n".join(",".join(map(str, r)) for r in X) + "\n\n")
    for name in ("a.npy", "b.npz", "c.npz", "d.csv", "e.csv"):
        out = read_features(tmp_path / name)
        # float32 files keep their precision (the lattice check reads it); text is float64
        assert out.dtype == (np.float64 if name.endswith(".csv") else np.float32)
        np.testing.assert_array_equal(out, X)


def test_errors_name_file_row_and_field(tmp_path):
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n3,x\n")
    with pytest.raises(FeatureFileError, match=r"bad.csv: line 3, column 2 \('b'\): 'x'"):
        read_features(tmp_path / "bad.csv")
    (tmp_path / "ragged.csv").write_text("1,2\n3\n")
    with pytest.raises(FeatureFileError,
                       match=r"line 2 has 1 fields, expected 2; give every line the same 2 "
                             r"values \(a missing value cannot be left out: impute it or drop "
                             r"the line\)$"):
        read_features(tmp_path / "ragged.csv")
    np.save(tmp_path / "nan.npy", np.array([[0.0, 1], [np.nan, 2], [3, np.inf]]))
    with pytest.raises(FeatureFileError, match=r"nan.npy: 2 row\(s\).*rows 1, 2; the first in "
                                               r"column 0, counting from 0: nan\); impute or "
                                               "remove them$"):
        read_features(tmp_path / "nan.npy")
    np.save(tmp_path / "obj.npy", np.array([np.zeros(2), np.zeros(3)], dtype=object))
    with pytest.raises(FeatureFileError, match="obj.npy"):
        read_features(tmp_path / "obj.npy")
    np.savez(tmp_path / "two.npz", a=np.zeros((2, 2)), b=np.zeros((2, 2)))
    with pytest.raises(FeatureFileError, match=r"--key.*\['a', 'b'\]"):
        read_features(tmp_path / "two.npz")
    with pytest.raises(FeatureFileError, match=r"two.npz: holds no array 'Z' \(--key\); it "
                                               r"holds \['a', 'b'\]$"):
        read_features(tmp_path / "two.npz", key="Z")
    # an archive's errors name the array as well as the file (a newcomer's --key y, 1-D)
    np.savez(tmp_path / "data.npz", X=np.zeros((3, 2)), y=np.zeros(6870),
             n=np.array([[0.0, np.nan]]), o=np.array(["a", "b"], dtype=object))
    with pytest.raises(FeatureFileError, match=r"data\.npz, array 'y': a 1-D array of 6870 "
                                               r"values; features are a 2-D \(n_samples, "
                                               r"n_features\) array"):
        read_features(tmp_path / "data.npz", key="y")
    with pytest.raises(FeatureFileError, match=r"data\.npz, array 'n': 1 row\(s\) hold NaN"):
        read_features(tmp_path / "data.npz", key="n")
    with pytest.raises(FeatureFileError, match=r"data\.npz, array 'o': holds Python objects"):
        read_features(tmp_path / "data.npz", key="o")
    assert read_features(tmp_path / "data.npz").shape == (3, 2)  # X
    with pytest.raises(FeatureFileError, match="unsupported suffix"):
        (tmp_path / "x.txt").write_text("1")
        read_features(tmp_path / "x.txt")
    with pytest.raises(FeatureFileError, match="empty"):
        check_features(np.zeros((0, 3)))
    with pytest.raises(FeatureFileError, match="no such file"):
        read_features(tmp_path / "missing.npy")
    (tmp_path / "model").mkdir()  # `mulde fit runs/x/model` said "no such file" of a folder
    with pytest.raises(FeatureFileError, match=r"model: a folder, not a features file; give "
                                               r"a \.csv, \.npy or \.npz file"):
        read_features(tmp_path / "model")


def test_a_numpy_suffix_on_another_file_says_what_the_file_is(tmp_path):
    """numpy's own errors named another cause: "No data left in file" (a traceback) for an
    empty file, and Python objects for a CSV saved as .npy (a newcomer's trial)."""
    for suffix, saver in ((".npy", "np.save"), (".npz", "np.savez")):
        (tmp_path / f"zero{suffix}").write_bytes(b"")
        with pytest.raises(FeatureFileError, match=rf"zero\{suffix}: empty file \(0 bytes\); "
                                                   rf"save the features with {saver} "):
            read_features(tmp_path / f"zero{suffix}")
        (tmp_path / f"text{suffix}").write_text("a,b\n1,2\n")
        with pytest.raises(FeatureFileError, match=rf"text\{suffix}: a text file, not a NumPy "
                                                   rf"\{suffix} file; .* the \.csv suffix$"):
            read_features(tmp_path / f"text{suffix}")
        (tmp_path / f"bytes{suffix}").write_bytes(b"\x00\xff" * 40)
        with pytest.raises(FeatureFileError, match=rf"bytes\{suffix}: not a NumPy \{suffix} "
                                                   "file"):
            read_features(tmp_path / f"bytes{suffix}")
    # the other NumPy format under a suffix, or a pickle: named as what it is
    with open(tmp_path / "array.npz", "wb") as fh:  # a path would get .npy appended
        np.save(fh, np.zeros((2, 2)))
    with pytest.raises(FeatureFileError, match=r"array\.npz: a NumPy \.npy array, not a NumPy "
                                               r"\.npz file; give it the \.npy suffix$"):
        read_features(tmp_path / "array.npz")
    np.savez(tmp_path / "archive.npz", X=np.zeros((2, 2)))
    (tmp_path / "archive.npy").write_bytes((tmp_path / "archive.npz").read_bytes())
    with pytest.raises(FeatureFileError, match=r"archive\.npy: a zip archive \(e\.g\. \.npz\), "
                                               r"not a NumPy \.npy file; give it the \.npz "
                                               r"suffix$"):
        read_features(tmp_path / "archive.npy")
    (tmp_path / "pickled.npy").write_bytes(pickle.dumps(np.zeros((2, 2)), protocol=4))
    with pytest.raises(FeatureFileError, match=r"pickled\.npy: a pickle, not a NumPy \.npy file "
                                               r"\(it does not start as one\); save the features "
                                               r"with np\.save$"):
        read_features(tmp_path / "pickled.npy")
    np.savez(tmp_path / "empty_archive.npz")  # a valid archive of no array: numpy's words
    with pytest.raises(FeatureFileError, match="holds no array|choose the array"):
        read_features(tmp_path / "empty_archive.npz")
    if Path("/dev/null").exists():  # exists, but is no file: "no such file" was wrong
        with pytest.raises(FeatureFileError, match=r"/dev/null: not a regular file"):
            read_features("/dev/null")


@given(arrays(np.float64, st.tuples(st.integers(1, 20), st.integers(1, 6)),
              elements=st.floats(-1e12, 1e12)))
@settings(max_examples=30, deadline=None)
def test_csv_reader_round_trips_any_finite_matrix(tmp_path_factory, X):
    """Any matrix but one whose first row is 0, 1, ..., d - 1 (pandas' column names: a header
    from d = 3, and below when a number below is written with a point: savetxt's %.17g
    writes whole numbers without one) or whole numbers above rows
    of fractions only (names such as years)."""
    assume(not np.array_equal(X[0], np.arange(X.shape[1])))
    whole = X == np.round(X)
    assume(not (len(X) > 2 and X.shape[1] > 1 and len({f"{v:.17g}" for v in X[0]}) == X.shape[1]
                and whole[0].all() and not whole[1:21].any()))
    path = tmp_path_factory.mktemp("csv") / "x.csv"
    np.savetxt(path, X, delimiter=",", fmt="%.17g")
    np.testing.assert_array_equal(read_features(path), X)


def test_write_scores_npy_and_csv(tmp_path):
    s = np.array([0.5, -1.25, 3.0])
    np.testing.assert_array_equal(np.load(write_scores(tmp_path / "s.npy", s)), s)
    text = write_scores(tmp_path / "s.csv", s).read_text().splitlines()
    assert text[0] == "score" and [float(t) for t in text[1:]] == list(s)
    # one named column of whole numbers (`mulde score --predict`'s +1 / -1), written as such
    flags = np.array([1, -1, 1])
    text = write_scores(tmp_path / "p.csv", flags, ["predict"]).read_text().splitlines()
    assert text == ["predict", "1", "-1", "1"]
    np.testing.assert_array_equal(np.load(write_scores(tmp_path / "p.npy", flags)), flags)
    with pytest.raises(ValueError, match="2 column names for 1 columns"):
        write_scores(tmp_path / "x.csv", s, ["a", "b"])


def test_energy_columns_name_each_noise_level_uniquely_with_few_digits(tmp_path):
    from mulde.core import NoiseSchedule

    sigmas = NoiseSchedule(1e-3, 1.0).grid(16, "geometric").numpy()  # float32, as models
    names = energy_columns(sigmas)
    assert names[:3] == ["energy_sigma_0.001", "energy_sigma_0.00158", "energy_sigma_0.00251"]
    assert names[-1] == "energy_sigma_1" and len(set(names)) == 16
    assert energy_columns(sigmas.copy()) == names  # the levels alone decide
    # close levels get the digits that tell them apart; equal ones their position
    dense = energy_columns(NoiseSchedule(1e-3, 1.0).grid(1000, "geometric").numpy())
    assert dense[:2] == ["energy_sigma_0.001", "energy_sigma_0.001007"]
    assert len(set(dense)) == 1000
    assert energy_columns(np.array([0.5, 0.5], dtype=np.float32)) == [
        "energy_sigma_0.5_level_1", "energy_sigma_0.5_level_2"]
    e = np.arange(6.0).reshape(3, 2)
    text = write_scores(tmp_path / "e.csv", e, ["energy_sigma_0.1", "energy_sigma_1"])
    assert text.read_text().splitlines()[0] == "energy_sigma_0.1,energy_sigma_1"
    np.testing.assert_array_equal(read_features(text), e)
    assert (write_scores(tmp_path / "d.csv", e).read_text().splitlines()[0]
            == "score_1,score_2")
    with pytest.raises(ValueError, match="1 column names for 2 columns"):
        write_scores(tmp_path / "x.csv", e, ["energy_sigma_1"])


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.int16, np.uint8, np.bool_])
def test_feature_dtypes_are_read_as_floats_and_score_like_float64(tmp_path, dtype,
                                                                  unit_model):
    """Integers and booleans are read as float64; float16 and float32 keep their type (the
    precision MULDE's lattice check reads), and every one scores as its float64 cast."""
    X = (np.random.default_rng(3).standard_normal((50, 3)) * 4).astype(dtype)
    np.save(tmp_path / "x.npy", X)
    got = read_features(tmp_path / "x.npy")
    assert got.dtype == (dtype if dtype in (np.float16, np.float32) else np.float64)
    np.testing.assert_array_equal(got, X.astype(np.float64))
    np.testing.assert_array_equal(unit_model.score_samples(X),
                                  unit_model.score_samples(X.astype(float)))


def test_complex_features_are_refused_not_silently_truncated(tmp_path):
    np.save(tmp_path / "c.npy", np.ones((3, 2)) * (1 + 2j))
    with pytest.raises(FeatureFileError, match="c.npy: .*complex"):
        read_features(tmp_path / "c.npy")


def test_a_csv_first_row_with_a_typo_is_an_error_not_a_header(tmp_path):
    (tmp_path / "x.csv").write_text("1.0,2.O,3.0\n4,5,6\n")
    with pytest.raises(FeatureFileError, match=r"x.csv: line 1, column 2: '2.O' is not a number"):
        read_features(tmp_path / "x.csv")
    (tmp_path / "h.csv").write_text("speed,size,angle\n4,5,6\n")
    np.testing.assert_array_equal(read_features(tmp_path / "h.csv"), [[4, 5, 6]])


def test_a_csv_bool_column_as_pandas_or_a_spreadsheet_writes_it_reads_as_one_and_zero(
        tmp_path):
    """pandas' to_csv writes a bool column as True / False (Excel and R as TRUE / FALSE):
    read as 1.0 and 0.0, as numpy reads a bool array, with a header or without (a first row
    of flags is a sample, not names); other words stay refused."""
    import pandas as pd

    frame = pd.DataFrame({"x": [0.5, 1.5, 2.5], "member": [True, False, True]})
    frame.to_csv(tmp_path / "p.csv", index=False)
    np.testing.assert_array_equal(read_features(tmp_path / "p.csv"),
                                  [[0.5, 1.0], [1.5, 0.0], [2.5, 1.0]])
    (tmp_path / "s.csv").write_text("TRUE,false\nFalse,True\n")
    np.testing.assert_array_equal(read_features(tmp_path / "s.csv"), [[1, 0], [0, 1]])
    (tmp_path / "t.csv").write_text("True,yes\n1,0\n")
    with pytest.raises(FeatureFileError, match=r"t.csv: line 1, column 2: 'yes' is not a "
                                               r"number, column 1 \('True'\) is"):
        read_features(tmp_path / "t.csv")


def test_csv_lines_are_the_samples_lines_as_an_editor_counts_them(tmp_path):
    """Row i of what read_features returns is on line csv_lines()[i]: blank lines counted,
    the header left out (a first row of the fitted names too), as the CSV's errors count."""
    (tmp_path / "h.csv").write_text("temp,load\n1,2\n\n \n3,4\n5,6\n")
    assert read_features(tmp_path / "h.csv").shape == (3, 2)
    assert csv_lines(tmp_path / "h.csv") == [2, 5, 6]
    (tmp_path / "c.csv").write_text("2019,2020\n\n3,1.5\n4.5,2.5\n")
    assert csv_lines(tmp_path / "c.csv") == [1, 3, 4]  # a whole 3 below: a sample
    assert csv_lines(tmp_path / "c.csv", ["2019", "2020"]) == [3, 4]
    np.save(tmp_path / "x.npy", np.ones((2, 2)))
    assert csv_lines(tmp_path / "x.npy") is None


def test_whole_number_names_above_fractions_are_a_header(tmp_path):
    """Years as column names ("2019,2020,2021") over rows of fractions were read as a first
    sample (found by a newcomer); a first row of whole numbers above any whole-number cell
    stays data, unless it equals the columns a model was fitted on."""
    (tmp_path / "y.csv").write_text("2019,2020,2021\n0.5,1.25,-2.5\n3.5,0.1,2.2\n")
    np.testing.assert_array_equal(read_features(tmp_path / "y.csv"),
                                  [[0.5, 1.25, -2.5], [3.5, 0.1, 2.2]])
    assert csv_header(tmp_path / "y.csv") == ["2019", "2020", "2021"]
    (tmp_path / "c.csv").write_text("2019,2020\n3,1.5\n4.5,2.5\n")  # a whole 3 below
    assert read_features(tmp_path / "c.csv").shape == (3, 2)
    assert csv_header(tmp_path / "c.csv") is None
    fitted = ["2019", "2020"]
    np.testing.assert_array_equal(read_features(tmp_path / "c.csv", names=fitted),
                                  [[3, 1.5], [4.5, 2.5]])
    assert csv_header(tmp_path / "c.csv", fitted) == fitted
    assert read_features(tmp_path / "c.csv", names=["2019", "2021"]).shape == (3, 2)
    for first in ("0,0,0", "7,7,3"):  # a first frame at rest, repeated values: a sample
        (tmp_path / "z.csv").write_text(f"{first}\n0.5,1.25,-2.5\n3.5,0.1,2.2\n")
        assert read_features(tmp_path / "z.csv").shape == (3, 3)
    (tmp_path / "two.csv").write_text("3,4\n0.5,0.25\n")  # one row below: too little to tell
    assert read_features(tmp_path / "two.csv").shape == (2, 2)
    (tmp_path / "one.csv").write_text("5\n4.7\n5.2\n")  # one column: a sample
    assert read_features(tmp_path / "one.csv").shape == (3, 1)


def _refused(tmp_path, name: str, text: str, match: str) -> None:
    """Write `text` to the CSV `name` and check `read_features` refuses it as `match` says."""
    (tmp_path / name).write_text(text)
    with pytest.raises(FeatureFileError, match=match):
        read_features(tmp_path / name)


def test_a_first_row_of_names_and_numbers_says_both_ways_out(tmp_path):
    _refused(tmp_path, "m.csv", "temp,pressure,2\n1.5,2.5,3.5\n",
             r"^\S*m.csv: line 1, column 1: 'temp' is not a number, column 3 \('2'\) is: if "
             r"line 1 is a header, give column 3 a name that is not a number; if it is a "
             r"sample, fix that cell$")


def test_trailing_commas_and_missing_value_markers_are_named(tmp_path):
    _refused(tmp_path, "t.csv", "a,b,c,\n1,2,3,\n4,5,6,\n",
             r"t.csv: every line ends with a comma \(an empty column 4, no values in it\); "
             r"remove the trailing commas$")
    _refused(tmp_path, "n.csv", "1,2,3,\n4,5,6,\n", "every line ends with a comma")
    _refused(tmp_path, "na.csv", "a,b\n1,2\n3,NA\n",
             r"na.csv: line 3, column 2 \('b'\): 'NA', a missing value; impute or remove it$")


def test_an_empty_cell_in_the_first_row_is_a_missing_value(tmp_path):
    """As in later rows (it was "'' is not a number (a header row holds only column names)")."""
    (tmp_path / "x.csv").write_text("1,,3\n4,5,6\n")
    with pytest.raises(FeatureFileError, match=r"x.csv: line 1, column 2: empty \(a missing "
                                               r"value\); impute or remove it$"):
        read_features(tmp_path / "x.csv")


def test_pandas_default_column_names_are_a_header_not_a_row(tmp_path):
    """`pd.DataFrame(X).to_csv(index=False)` names the columns 0, 1, ..., d - 1: numbers that
    were read as a first training sample (found by a newcomer); from 3 columns on they are the
    header, with 1 or 2 when a row below holds a number written with a point or an exponent
    (81.0 counts, as docs/cli.md, "Feature files", says), and the index column is refused as
    for named columns."""
    path = tmp_path / "x.csv"
    path.write_text("0,1,2\n5.5,6,7\n8,9,10\n")
    np.testing.assert_array_equal(read_features(path), [[5.5, 6, 7], [8, 9, 10]])
    assert csv_header(path) == ["0", "1", "2"]
    path.write_text(",0,1,2\n0,5.5,6,7\n")
    with pytest.raises(FeatureFileError, match="the first column has no name"):
        read_features(path)
    path.write_text(",0\n0,5.5\n1,6\n")  # one column with the index: refused as such too
    with pytest.raises(FeatureFileError, match="the first column has no name"):
        read_features(path)
    path.write_text("0,1\n5,6\n")  # two columns of whole numbers: 0,1 may be a row of data
    np.testing.assert_array_equal(read_features(path), [[0, 1], [5, 6]])
    path.write_text("0,1\n5,6\n5.5,6\n")  # but not among numbers written with decimals
    np.testing.assert_array_equal(read_features(path), [[5, 6], [5.5, 6]])
    assert csv_header(path) == ["0", "1"]
    path.write_text("0,1\n81.0,69.0\n")  # a point, though the values are whole
    np.testing.assert_array_equal(read_features(path), [[81, 69]])
    assert csv_header(path) == ["0", "1"]
    path.write_text("0,1\n81,6.9e1\n")  # or an exponent
    assert csv_header(path) == ["0", "1"]
    path.write_text("0\n0.25\n1.5\n")  # one column (a second newcomer's case)
    np.testing.assert_array_equal(read_features(path), [[0.25], [1.5]])
    path.write_text("0\n1\n2\n")
    np.testing.assert_array_equal(read_features(path), [[0], [1], [2]])
    assert csv_header(path) is None
    path.write_text("0,2,1\n5,6,7\n")  # not in order: data
    assert read_features(path).shape == (2, 3)


def test_a_numbered_first_row_kept_as_data_is_told_apart(tmp_path):
    """"0" or "0,1" over whole numbers stays a sample (above), and so do whole numbers
    counting up by one, such as years, over rows not all written with a point (a newcomer's
    "2019,2020,2021" over whole numbers was fitted as a sample, unsaid), and one column's
    year over rows not all years (a re-check's "2019" over whole numbers, unsaid too):
    `numbered_first_row` gives that row, for `mulde fit` to mention; a header, other numbers,
    a column of years, or 3 columns of pandas' names (a header) are not it."""
    path = tmp_path / "x.csv"
    for text, expected in (("0,1\n5,6\n", ["0", "1"]), ("0\n1\n2\n", ["0"]),
                           ("2019, 2020,2021\n-150,81,7\n3,4,5\n", ["2019", "2020", "2021"]),
                           ("2019,2020\n3,1.5\n4.5,2.5\n", ["2019", "2020"]),
                           ("1,2,3\n5,6,7\n", ["1", "2", "3"]),
                           ("0,1\n5,6\n5.5,6\n", None), ("1,0\n5,6\n", None),
                           ("2019\n5\n7\n", ["2019"]), ("2019\n0.5\n0.7\n", ["2019"]),
                           (" 1999 \n2001\n-3\n", ["1999"]),
                           ("2019\n2018\n2020\n", None), ("2019\n", None),
                           ("2019.0\n5\n", None), ("1899\n5\n", None),
                           ("2019,2021\n5,6\n", None), ("7\n5\n", None),
                           ("1.0,2.0\n5,6\n", None), ("a,b\n5,6\n", None),
                           ("0,1,2\n5,6,7\n", None),
                           ("2019,2020,2021\n0.5,1.5,2.5\n3.5,4.5,5.5\n", None)):
        path.write_text(text)
        assert numbered_first_row(path) == expected, text
    assert numbered_first_row(tmp_path / "x.npy") is None


def test_an_npy_of_python_objects_says_to_save_numbers(tmp_path):
    np.save(tmp_path / "x.npy", np.array([["a", 1]], dtype=object), allow_pickle=True)
    with pytest.raises(FeatureFileError, match=r"x.npy: holds Python objects .*not numbers; save "
                                               r"a numeric array"):
        read_features(tmp_path / "x.npy")


def test_csv_errors_name_the_file_line_and_the_header_name(tmp_path):
    """Lines as an editor counts them (the header and blank lines included), columns from 1
    with their header name; the NaN/inf rows by their lines too (they were "0-based rows"
    while the other errors counted "data rows" from 1, neither the file's line)."""
    path = tmp_path / "x.csv"
    path.write_text("speed,size\n1,2\n\n3,fast\n")
    with pytest.raises(FeatureFileError, match=r"x.csv: line 4, column 2 \('size'\): 'fast' is "
                                               "not a number; every column must hold numbers: "
                                               r"drop or encode columns of text \(names"):
        read_features(path)
    path.write_text("speed,size\n1,2\n3,\n")
    with pytest.raises(FeatureFileError, match=r"x.csv: line 3, column 2 \('size'\): empty \(a "
                                               r"missing value\); impute or remove it$"):
        read_features(path)
    path.write_text("")
    with pytest.raises(FeatureFileError, match="x.csv: empty CSV file; give one row of numbers"):
        read_features(path)
    path.write_text("speed,size\n1,2\n\n3,4\n5,inf\n")
    with pytest.raises(FeatureFileError, match=r"x.csv: 1 row\(s\) hold NaN or inf values \(line "
                                               r"5; the first in column 2 \('size'\): 'inf'\); "
                                               "impute or remove them$"):
        read_features(path)
    path.write_text("1,2\n3,4,5\n")
    with pytest.raises(FeatureFileError,
                       match="x.csv: line 2 has 3 fields, expected 2; give every "):
        read_features(path)
    path.write_text("speed,size\n")
    with pytest.raises(FeatureFileError, match="x.csv: a header row and no data rows; write "
                                               "the samples below the header, one per line$"):
        read_features(path)
    path.write_text(",speed,size\n0,1,2\n1,3,4\n")  # pandas' DataFrame.to_csv, index and all
    with pytest.raises(FeatureFileError, match=r"x.csv: line 1: the first column has no name, "
                                               r".*pandas.*write the file with index=False"):
        read_features(path)
    path.write_text("speed;size\n1;2\n")
    with pytest.raises(FeatureFileError, match=r"x.csv: line 1 is one field \('speed;size'\): "
                                               r"fields are separated by commas, not "
                                               r"semicolons: save the file as CSV with commas"):
        read_features(path)
    path.write_text("temp;load\n21,5;1,25\n20,1;0,75\n")  # a locale's decimal commas
    with pytest.raises(FeatureFileError, match=r"x.csv: line 2 has 3 fields, expected 1 as in "
                                               r"the header; the header is one field "
                                               r"\('temp;load'\): fields are separated by "
                                               r"commas, not semicolons: .*, with points for "
                                               "decimals$"):
        read_features(path)
    path.write_text("21,5;1,25\n20,1;0,75\n")  # the same without a header
    with pytest.raises(FeatureFileError, match=r"x.csv: line 1, column 2: '5;1' is not a "
                                               r"number, column 1 \('21'\) is: fields are "
                                               r"separated by commas, not semicolons: .*, "
                                               r"with points for decimals$"):
        read_features(path)
    path.write_text("speed,size\n1;2,3\n")  # a semicolon inside a field of a comma file
    with pytest.raises(FeatureFileError, match=r"'1;2' is not a number \(fields are separated "
                                               r"by commas, not semicolons"):
        read_features(path)
    # np.savetxt's default: numbers separated by spaces (or tabs), each row one long field,
    # said in one short line that quotes only the start of the field
    wide = np.arange(600.0).reshape(2, 300)
    for sep, name in ((" ", "spaces"), ("\t", "tabs")):
        np.savetxt(path, wide, delimiter=sep)
        with pytest.raises(FeatureFileError, match=rf"x.csv: line 1 is one field \('0\.0.*'"
                                                   rf"\.\.\.\): fields are separated by "
                                                   rf"commas, not {name}") as err:
            read_features(path)
        assert len(str(err.value).replace(str(path), "")) < 250 and "\n" not in str(err.value)
    # one-column files whose header or cells hold a separator, and a lost comma, are not
    # taken for files of another separator
    for text, expect in (("1\t\n2\t\n", [[1], [2]]), ("score (mean; sd)\n1\n", [[1]]),
                         ("score;normalised\n1\n2\n", [[1], [2]]),
                         ("2019 2020\n1\n2\n", [[1], [2]])):
        path.write_text(text)
        np.testing.assert_array_equal(read_features(path), expect)
    path.write_text("a,b\n1 2,3\n")
    with pytest.raises(FeatureFileError, match=r"'1 2' is not a number; every column must "):
        read_features(path)
    path.write_text("speed,size\n1,2\n3," + "x" * 5000 + "\n")  # a long field is cut
    with pytest.raises(FeatureFileError, match=r"'xxxx*'\.\.\. is not a number") as err:
        read_features(path)
    assert len(str(err.value).replace(str(path), "")) < 250
    path.write_bytes("1,2\n3,4\n".encode("utf-8-sig"))  # Excel's "CSV UTF-8"
    np.testing.assert_array_equal(read_features(path), [[1, 2], [3, 4]])


def test_a_header_naming_a_column_twice_is_refused(tmp_path):
    """Column names decide which column is which when scoring; a name used twice would leave
    the model without names, so columns given in another order would be scored silently (a
    newcomer's trial, stop 54). DataFrames are refused the same way (`dataframe_problem`)."""
    path = tmp_path / "x.csv"
    path.write_text("a,,,b\n1,2,3,4\n")  # empty names too: "a,,,b" kept no names either
    with pytest.raises(FeatureFileError, match=r"x.csv: line 1: more than one column has no "
                                               r"name \(columns 2 and 3\)"):
        read_features(path)
    path.write_text("a,b,\n1,2,\n")  # one empty trailing column: said as such
    with pytest.raises(FeatureFileError, match="every line ends with a comma"):
        read_features(path)
    path.write_text("a,b , a\n1,2,3\n4,5,6\n")
    with pytest.raises(FeatureFileError, match=r"x.csv: line 1: the column name 'a' appears more "
                                               r"than once \(columns 1 and 3\); give every "
                                               "column its own name$"):
        read_features(path)
    path.write_text("a,b,c\n1,2,3\n")
    assert read_features(path).tolist() == [[1.0, 2.0, 3.0]]


@pytest.mark.parametrize("cell", ['"1,5"', '"-0,25"', '",5"', '"1,5e-3"', '"1,000"',
                                  '"12,345,678.5"'])
def test_a_quoted_number_with_a_comma_says_to_write_plain_numbers(tmp_path, cell):
    """pandas' to_csv(decimal=",") quotes "1,5" in a comma-separated file, a spreadsheet
    "1,000": the cell is one field that is not a number, and the message says why (without
    guessing which of the two it is: "1,000" as a decimal would be 1), not "drop columns of
    text"."""
    path = tmp_path / "x.csv"
    path.write_text(f"speed,size\n1,2\n3,{cell}\n")
    with pytest.raises(FeatureFileError, match=r"x.csv: line 3, column 2 \('size'\): .* is not "
                                               "a number; a number written with a comma .*: "
                                               "write plain numbers, with a point for decimals "
                                               "and no thousands separators$"):
        read_features(path)
    path.write_text(f"3,{cell}\n1,2\n")  # no header: the first row is a sample with a typo
    with pytest.raises(FeatureFileError, match=r"x.csv: line 1, column 2: .* is not a number, "
                                               r"column 1 \('3'\) is: a number written with a "
                                               "comma"):
        read_features(path)
    path.write_text('speed,size\n1,2\n3,"1,2,3"\n')  # not a decimal comma: text
    with pytest.raises(FeatureFileError, match="drop or encode columns of text"):
        read_features(path)


def test_a_csv_that_is_not_utf8_text_is_named_with_its_line_and_what_to_do(tmp_path):
    """A Latin-1 header, Excel's UTF-16 "Unicode text" and a renamed .npy gave Python's
    decoder message ("'utf-8' codec can't decode byte 0xe9 in position 5: ..."), with
    neither a line nor what to do."""
    path = tmp_path / "x.csv"
    path.write_bytes("speed,température\n1,2\n3,4\n".encode("latin-1"))
    with pytest.raises(FeatureFileError, match=r"x.csv: line 1 is not UTF-8 text \(byte 0xe9, "
                                               r".*\); save it as UTF-8 \(Excel: \"CSV UTF-8\"\)$"):
        read_features(path)
    path.write_bytes(b"a,b\n1,2\n\n3,\xb5\n")  # the line as an editor counts it
    with pytest.raises(FeatureFileError, match=r"x.csv: line 4 is not UTF-8 text \(byte 0xb5"):
        read_features(path)
    path.write_bytes("a,b\n1,2\n".encode("utf-16"))
    with pytest.raises(FeatureFileError, match=r"x.csv: UTF-16 text, not UTF-8; save it as "
                                               "UTF-8"):
        read_features(path)
    np.save(tmp_path / "a.npy", np.ones((3, 2)))
    path.write_bytes((tmp_path / "a.npy").read_bytes())
    with pytest.raises(FeatureFileError, match=r"x.csv: a binary file, not comma-separated "
                                               r"text; .*\(\.npy, \.npz\)$"):
        read_features(path)


FINITE = st.floats(allow_nan=False, allow_infinity=False)  # the whole float64 range


MATRICES = arrays(np.float64, st.tuples(st.integers(1, 12), st.integers(1, 5)), elements=FINITE)


def _write(path: Path, X: np.ndarray) -> Path:
    if path.suffix == ".npy":
        np.save(path, X)
    elif path.suffix == ".npz":
        np.savez(path, X=X, other=np.zeros(1))
    else:
        header = ",".join(f"f{j}" for j in range(X.shape[1]))
        np.savetxt(path, X, delimiter=",", fmt="%.17g", header=header, comments="")
    return path


@given(MATRICES)
@settings(max_examples=40, deadline=None)
def test_feature_readers_round_trip_any_finite_float64_matrix(X):
    with tempfile.TemporaryDirectory() as d:
        for name in ("x.npy", "x.npz", "x.csv"):
            got = read_features(_write(Path(d) / name, X))
            assert got.dtype == np.float64 and got.shape == X.shape
            np.testing.assert_array_equal(got, X, err_msg=name)


@given(MATRICES, st.data())
@settings(max_examples=40, deadline=None)
def test_feature_readers_refuse_any_non_finite_value_naming_its_rows(X, data):
    n, d = X.shape
    cells = data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, d - 1)),
                               min_size=1, max_size=4))
    X = X.copy()
    for i, j in cells:
        X[i, j] = data.draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    rows = sorted({i for i, _ in cells})
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("x.npy", "x.npz", "x.csv"):
            path = _write(Path(tmp) / name, X)
            with pytest.raises(FeatureFileError) as raised:
                read_features(path)
            message = str(raised.value)
            assert name in message and f"{len(rows)} row(s)" in message
            if name == "x.csv":  # the file's lines, after the header line
                shown = ", ".join(str(r + 2) for r in rows[:5])
                assert f"line{'s' if len(rows) > 1 else ''} {shown}" in message
            else:
                assert f"rows {', '.join(map(str, rows[:5]))}" in message
            first = min(j for i, j in cells if i == rows[0])
            column = f"column {first + 1} ('f{first}')" if name == "x.csv" else \
                f"column {first}, counting from 0"
            assert f"the first in {column}: " in message


def test_float32_scores_are_written_with_their_own_shortest_digits(tmp_path):
    """`mulde score --multiscale`'s float32 energies were written with float64's digits
    (-11.526326179504395 for -11.526326); float32 values now get the fewest digits that give
    the same float32, in the energies and in a float32 `score` column; float64 keeps 17."""
    e = np.array([[-11.526326179504395, 0.1], [2.0, 1e-5]], dtype=np.float32)
    text = write_scores(tmp_path / "e.csv", e, ["a", "b"]).read_text().splitlines()
    assert text == ["a,b", "-11.526326,0.1", "2.0,1e-05"]
    np.testing.assert_array_equal(read_features(tmp_path / "e.csv").astype(np.float32), e)
    s = np.array([0.1, -3.25], dtype=np.float32)
    assert write_scores(tmp_path / "s.csv", s).read_text().splitlines() == [
        "score", "0.1", "-3.25"]
    assert write_scores(tmp_path / "d.csv", s.astype(np.float64)).read_text().splitlines()[
        1] == "0.10000000149011612"  # float64 scores: as they were
    np.testing.assert_array_equal(np.load(write_scores(tmp_path / "e.npy", e)), e)
    assert np.load(tmp_path / "e.npy").dtype == np.float32  # .npy: unchanged


@given(arrays(np.float64, st.integers(1, 30), elements=FINITE))
@settings(max_examples=30, deadline=None)
def test_written_scores_read_back_exactly(scores):
    with tempfile.TemporaryDirectory() as d:
        np.testing.assert_array_equal(np.load(write_scores(Path(d) / "s.npy", scores)), scores)
        back = read_features(write_scores(Path(d) / "s.csv", scores))
        np.testing.assert_array_equal(back[:, 0], scores)


@given(arrays(np.float32, st.tuples(st.integers(1, 20), st.integers(1, 4)),
              elements=st.floats(allow_nan=False, allow_infinity=False, width=32)))
@settings(max_examples=30, deadline=None)
def test_written_float32_energies_read_back_exactly(energies):
    """Their shortest digits give every float32 back (the whole float32 range)."""
    with tempfile.TemporaryDirectory() as d:
        back = read_features(write_scores(Path(d) / "e.csv", energies))
        np.testing.assert_array_equal(back.astype(np.float32), energies)


@given(st.sampled_from([np.int8, np.int64, np.uint16, np.float16, np.float32, np.bool_]),
       st.data())
@settings(max_examples=30, deadline=None)
def test_check_features_equals_a_float_cast_for_any_real_dtype(dtype, data):
    width = {np.float16: 16, np.float32: 32}.get(dtype)
    elements = None if width is None else st.floats(width=width, allow_nan=False,
                                                    allow_infinity=False)
    X = data.draw(arrays(dtype, st.tuples(st.integers(1, 8), st.integers(1, 4)),
                         elements=elements))
    out = check_features(X)
    assert out.dtype == (np.float64 if width is None else dtype)
    np.testing.assert_array_equal(out, X.astype(np.float64))


def test_row_number_columns_finds_a_row_index_from_0_or_1():
    n = 5
    X = np.column_stack([np.arange(n), np.arange(1, n + 1), np.arange(2, n + 2),
                         np.arange(n)[::-1], np.ones(n), np.r_[0, 2, 1, 3, 4]])
    assert row_number_columns(X) == [0, 1]  # from 2, backwards, constant, shuffled: not
    assert row_number_columns(X[:2]) == []  # two rows: too few to tell
    assert row_number_columns(np.arange(3.0)[:, None] + 0.5) == []


def test_shuffled_index_columns_find_each_whole_number_of_a_range_once():
    """A row id after a shuffle, or numbered from 1000: each whole number of a range once, in
    another order than counting from 0 or 1 (those are `row_number_columns`'), from 20 rows;
    a repeated value, a gap, a fraction, a NaN or fewer rows are not one."""
    from mulde.io.features import shuffled_index_columns

    rng = np.random.default_rng(0)
    n = 30
    ids = rng.permutation(n).astype(float)
    X = np.column_stack([ids, ids + 1000, np.arange(n), np.arange(1000, 1000 + n),
                         np.r_[ids[:-1], ids[0]], np.r_[ids[:-1], n + 5], ids + 0.5,
                         np.r_[ids[:-1], np.nan], rng.standard_normal(n)])
    assert shuffled_index_columns(X) == [0, 1, 3]  # 2 counts the rows: row_number_columns'
    assert row_number_columns(X) == [2]
    assert shuffled_index_columns(X[:19]) == []
    assert shuffled_index_columns(X.astype(np.uint8)[:, :1]) == [0]  # no wrap in max - min


@given(arrays(np.float64, st.tuples(st.integers(3, 20), st.integers(1, 4)),
              elements=st.floats(-1e3, 1e3)))
@settings(max_examples=50, deadline=None)
def test_row_number_columns_are_exactly_the_counting_ones(X):
    n = X.shape[0]
    for j in row_number_columns(X):
        assert X[0, j] in (0, 1) and np.array_equal(X[:, j], np.arange(n) + X[0, j])
    X = np.column_stack([X, np.arange(n)])
    assert row_number_columns(X)[-1] == X.shape[1] - 1


def test_a_cut_npz_is_one_line_asking_whether_it_is_whole(tmp_path):
    """A truncated .npz starts as a zip archive but has no directory (a cut download): it
    ended in zipfile's traceback (a reviewer's find), now a FeatureFileError."""
    whole = tmp_path / "whole.npz"
    np.savez(whole, X=np.ones((50, 3)))
    cut = tmp_path / "cut.npz"
    cut.write_bytes(whole.read_bytes()[:200])
    with pytest.raises(FeatureFileError, match=r"cut.npz: not a readable .npz file \(.*\); "
                                               r"is it whole\?"):
        read_features(cut)


def test_not_scores_names_what_writing_scores_would_lose(tmp_path):
    """None for no file, an empty one or any output of `mulde score`; a few words for
    anything else."""
    from mulde.io.features import energy_columns, not_scores, write_scores

    assert not_scores(tmp_path / "none.csv") is None
    (tmp_path / "empty.npy").write_bytes(b"")
    assert not_scores(tmp_path / "empty.npy") is None
    write_scores(tmp_path / "s.csv", np.array([0.5, 1.5]))
    write_scores(tmp_path / "p.csv", np.array([1, -1]), ["predict"])
    write_scores(tmp_path / "e.csv", np.ones((2, 3), np.float32),
                 energy_columns(np.array([1e-3, 1e-2, 1e-1])))
    write_scores(tmp_path / "m.csv", np.ones((2, 3)))  # score_1, score_2, score_3
    write_scores(tmp_path / "s.npy", np.array([0.5, 1.5]))
    write_scores(tmp_path / "p.npy", np.array([1, -1, 1]))
    for name in ("s.csv", "p.csv", "e.csv", "m.csv", "s.npy", "p.npy"):
        assert not_scores(tmp_path / name) is None, name
    write_scores(tmp_path / "e.npy", np.ones((2, 3), np.float32))
    assert not_scores(tmp_path / "e.npy", n_levels=3) is None
    assert not_scores(tmp_path / "e.npy") == "an array of shape (2, 3) and dtype float32"
    assert not_scores(tmp_path / "e.npy", n_levels=4) is not None
    np.save(tmp_path / "labels.npy", np.array([0, 1]))
    assert not_scores(tmp_path / "labels.npy") == "an array of shape (2,) and dtype int64"
    (tmp_path / "x.csv").write_text("x" * 100 + "\n")
    assert not_scores(tmp_path / "x.csv") == f"a CSV whose first line is {'x' * 60!r}..."
    (tmp_path / "bad.npy").write_text("not an array")
    assert not_scores(tmp_path / "bad.npy").startswith("not an array .npy file")
    with open(tmp_path / "archive.npy", "wb") as fh:  # np.savez to an open file keeps its name
        np.savez(fh, X=np.ones((2, 3)))
    assert not_scores(tmp_path / "archive.npy") == "a .npz archive of arrays"


def test_empty_and_text_arrays_are_refused_with_what_to_do():
    from mulde.io.features import FeatureFileError, check_features

    with pytest.raises(FeatureFileError, match=r"^x.npy: empty array of shape \(0, 10\); give "
                                               "at least one sample of at least one feature$"):
        check_features(np.zeros((0, 10)), "x.npy")
    with pytest.raises(FeatureFileError, match=r"^x.npy: array of dtype <U1 is not numeric; "
                                               r"save the features as numbers \(e.g."):
        check_features(np.array([["a"]]), "x.npy")


def test_a_comment_line_is_named_not_miscounted(tmp_path):
    """A '#' line (np.savetxt's header, a note at the top) is named as a comment, not as a
    row of the wrong number of fields."""
    from mulde.io.features import FeatureFileError, read_features

    path = tmp_path / "c.csv"
    path.write_text("# my data\n1,2,3\n4,5,6\n")
    with pytest.raises(FeatureFileError, match=r"c.csv: line 1 starts with '#', a comment, "
                                               "which a features file does not hold; remove "):
        read_features(path)
    np.savetxt(path, np.ones((2, 3)), delimiter=",", header="a,b,c")
    with pytest.raises(FeatureFileError, match="line 1 starts with '#'"):
        read_features(path)


def test_a_missing_value_or_the_models_own_header_starting_with_hash_is_no_comment(tmp_path):
    """Excel's '#N/A' in the first column is said as the missing value it is, and a first row
    of the names the model was fitted on is its header even where one begins with '#' (a
    model fitted on np.savetxt's '# a,b,c' header scores that file as before)."""
    from mulde.io.features import FeatureFileError, read_features

    path = tmp_path / "na.csv"
    path.write_text("1,2,3\n#N/A,5,6\n")
    with pytest.raises(FeatureFileError, match=r"na.csv: line 2, column 1: '#N/A', a missing "
                                               "value; impute or remove it$"):
        read_features(path)
    named = tmp_path / "named.csv"
    np.savetxt(named, np.arange(6.0).reshape(2, 3), delimiter=",", header="a,b,c")
    np.testing.assert_array_equal(read_features(named, names=["# a", "b", "c"]),
                                  np.arange(6.0).reshape(2, 3))
    named.write_text("# a,b,c\n1,2,3\n# a note\n")  # a later comment is still one
    with pytest.raises(FeatureFileError, match="line 3 starts with '#', a comment"):
        read_features(named, names=["# a", "b", "c"])


@pytest.mark.parametrize("error", ["#DIV/0!", "#GETTING_DATA", "#FIELD!", "#ERROR!"])
def test_a_spreadsheet_error_in_the_first_column_is_not_a_comment(tmp_path, error):
    from mulde.io.features import FeatureFileError, read_features

    path = tmp_path / "e.csv"
    path.write_text(f"1,2\n{error},3\n")
    with pytest.raises(FeatureFileError) as caught:
        read_features(path)
    assert "comment" not in str(caught.value)
    assert str(caught.value).endswith(f"line 2, column 1: '{error}' is not a number (a "
                                      "spreadsheet's formula error): fix the formula, or "
                                      "impute or remove the value")


@pytest.mark.parametrize("text, expected", [
    ("108", 108), (" 108 ", 108), ("108.0", 108), ("1.08e2", 108), ("-3", -3), ("+7", 7),
    ("0", 0), ("4.3", None), ("", None), ("  ", None), ("abc", None), ("nan", None),
    ("inf", None), ("-inf", None), ("1,5", None)])
def test_whole_number_reads_whole_numbers_also_written_as_floats(text, expected):
    assert whole_number(text) == expected


@given(st.integers(-10**6, 10**6))
def test_whole_number_reads_back_any_integer_as_written_or_as_pandas_writes_it(n):
    assert whole_number(str(n)) == n == whole_number(f"{float(n)!r}")
    assert whole_number(f"{n + 0.5!r}") is None
