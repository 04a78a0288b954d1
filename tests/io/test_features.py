"""Feature files: .npy / .npz / .csv readers and their errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mulde.io.features import FeatureFileError, check_features, read_features, write_scores


def test_npy_npz_csv_round_trip(tmp_path):
    X = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.save(tmp_path / "a.npy", X)
    np.savez(tmp_path / "b.npz", X=X, other=np.zeros(2))
    np.savez(tmp_path / "c.npz", feats=X)
    (tmp_path / "d.csv").write_text("f1,f2,f3\n" + "\n".join(",".join(map(str, r)) for r in X))
    (tmp_path / "e.csv").write_text("\n".join(",".join(map(str, r)) for r in X) + "\n\n")
    for name in ("a.npy", "b.npz", "c.npz", "d.csv", "e.csv"):
        out = read_features(tmp_path / name)
        assert out.dtype == np.float64
        np.testing.assert_array_equal(out, X)


def test_errors_name_file_row_and_field(tmp_path):
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n3,x\n")
    with pytest.raises(FeatureFileError, match=r"bad.csv: data row 2, column 2: 'x'"):
        read_features(tmp_path / "bad.csv")
    (tmp_path / "ragged.csv").write_text("1,2\n3\n")
    with pytest.raises(FeatureFileError, match="row 2 has 1 fields, expected 2"):
        read_features(tmp_path / "ragged.csv")
    np.save(tmp_path / "nan.npy", np.array([[0.0, 1], [np.nan, 2], [3, np.inf]]))
    with pytest.raises(FeatureFileError, match=r"nan.npy: 2 row\(s\).*rows 1, 2"):
        read_features(tmp_path / "nan.npy")
    np.save(tmp_path / "obj.npy", np.array([np.zeros(2), np.zeros(3)], dtype=object))
    with pytest.raises(FeatureFileError, match="obj.npy"):
        read_features(tmp_path / "obj.npy")
    np.savez(tmp_path / "two.npz", a=np.zeros((2, 2)), b=np.zeros((2, 2)))
    with pytest.raises(FeatureFileError, match=r"--key.*\['a', 'b'\]"):
        read_features(tmp_path / "two.npz")
    with pytest.raises(FeatureFileError, match="unsupported suffix"):
        (tmp_path / "x.txt").write_text("1")
        read_features(tmp_path / "x.txt")
    with pytest.raises(FeatureFileError, match="empty"):
        check_features(np.zeros((0, 3)))
    with pytest.raises(FeatureFileError, match="no such file"):
        read_features(tmp_path / "missing.npy")


@given(arrays(np.float64, st.tuples(st.integers(1, 20), st.integers(1, 6)),
              elements=st.floats(-1e12, 1e12)))
@settings(max_examples=30, deadline=None)
def test_csv_reader_round_trips_any_finite_matrix(tmp_path_factory, X):
    path = tmp_path_factory.mktemp("csv") / "x.csv"
    np.savetxt(path, X, delimiter=",", fmt="%.17g")
    np.testing.assert_array_equal(read_features(path), X)


def test_write_scores_npy_and_csv(tmp_path):
    s = np.array([0.5, -1.25, 3.0])
    np.testing.assert_array_equal(np.load(write_scores(tmp_path / "s.npy", s)), s)
    text = write_scores(tmp_path / "s.csv", s).read_text().splitlines()
    assert text[0] == "score" and [float(t) for t in text[1:]] == list(s)
