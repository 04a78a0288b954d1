"""Checks of a pandas DataFrame given to an estimator, before scikit-learn converts it.

scikit-learn turns a DataFrame into an array and, when a column cannot be one, passes on
pandas' or numpy's own error ("could not convert string to float: 'abc'", a dtype-promotion
error listing every column's type), or its several-line message on column names. These
checks say in one line which column (and row) is at fault and what to do, as `mulde fit`
does for a CSV file (`mulde.io.features`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from mulde.io.features import row_number_columns, shuffled_index_columns


def _listed(names: Sequence[str], limit: int = 5) -> str:
    """Names quoted and joined, at most `limit` of them: "'a', 'b' and 3 more"."""
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (so that repr shows 5, not np.int64(5))."""
    return value.item() if hasattr(value, "item") and not isinstance(value, str) else value


def _not_numbers(dtype: Any, pd: Any) -> bool:
    """Whether a DataFrame column of this dtype is not plainly numbers (bool counts as
    numbers; a categorical column does not, whatever its categories)."""
    return (not pd.api.types.is_numeric_dtype(dtype)
            or isinstance(dtype, pd.CategoricalDtype))


def dataframe_problem(X: Any, fitted_names: Sequence[Any] | None = None) -> str:
    """What is wrong with X as an estimator's input, in one line, or "" (also when X is not
    a pandas DataFrame: arrays are checked by scikit-learn).

    X (n, d): a DataFrame. `fitted_names`: the column names the model was fitted on
    (`feature_names_in_`), given when scoring; compared only when all of X's column names are
    strings (scikit-learn records no others: a frame of numbered columns is taken in the
    model's order, as an array is, with scikit-learn's warning). In this order: a column name
    used twice; other columns than the fitted ones (missing, unexpected, or the same in
    another order, with the fix `X[model.feature_names_in_]`); a column of dates or times, a
    categorical column, or a column with a cell that is not a number (named by its row label
    and value). Columns of numbers stored as text pass (`numeric_frame` converts them), and
    so do missing values and the text "nan", left to the NaN check
    (`mulde.io.features.nonfinite_rows`). Complex numbers are left to scikit-learn."""
    pd = sys.modules.get("pandas")
    if pd is None or not isinstance(X, pd.DataFrame):
        return ""
    repeated = X.columns[X.columns.duplicated()]
    if len(repeated):
        return (f"X: the column name {_plain(repeated[0])!r} appears more than once; give "
                "every column its own name")
    if fitted_names is not None and all(isinstance(c, str) for c in X.columns):
        names, fitted = list(X.columns), [str(n) for n in fitted_names]
        if names != fitted:
            have, want = set(names), set(fitted)
            missing = [n for n in fitted if n not in have]
            extra = [n for n in names if n not in want]
            if not missing and not extra:
                return ("X: the model's columns in another order; pass "
                        "X[model.feature_names_in_] to put them in the order it was fitted on")
            said = ([f"lacks {_listed(missing)}"] if missing else []) + (
                [f"has {_listed(extra)}, which the model was not fitted on"] if extra else [])
            return (f"X {' and '.join(said)}; give the {len(fitted)} columns the model was "
                    "fitted on, in its order (model.feature_names_in_)")
    types = pd.api.types
    for j, dtype in enumerate(X.dtypes):
        if not _not_numbers(dtype, pd):
            continue  # only the other columns are looked at, one by one
        name = _plain(X.columns[j])
        if isinstance(dtype, pd.CategoricalDtype):
            return (f"X: column {name!r} is categorical; encode it as numbers (one-hot or "
                    "its codes) or drop it")
        if (types.is_datetime64_any_dtype(dtype) or types.is_timedelta64_dtype(dtype)
                or isinstance(dtype, pd.PeriodDtype)):
            return (f"X: column {name!r} holds dates or times ({dtype}); convert it to numbers "
                    "(such as seconds) or drop it")
        column = X.iloc[:, j]
        numbers = pd.to_numeric(column, errors="coerce")
        said_nan = column.astype(str).str.strip().str.lower().isin(("nan", "+nan", "-nan"))
        bad = (column.notna() & numbers.isna() & ~said_nan).to_numpy()
        if bad.any():
            i = int(bad.argmax())
            value = column.iloc[i]
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
            return (f"X: column {name!r}, row labelled {_plain(X.index[i])!r}: {shown} is not "
                    "a number; every column must hold numbers: drop or encode columns of text "
                    "(names, ids, class labels)")
    return ""


_UNNAMED_INDEX = "Unnamed: 0"
"""The name pandas' `read_csv` gives the first column when its header cell is empty: the
index column that `DataFrame.to_csv` writes, read back without `index_col=0` (a later column
of no header name, "Unnamed: 3", is a feature someone left unnamed)."""


def index_columns(X: Any, values: np.ndarray) -> list[tuple[Any, int | None, bool]]:
    """The columns of a DataFrame X that look like a row index, not a feature, each as
    (name, first, ordered): those that count the rows, first, first + 1, ..., first + n - 1
    with first 0 or 1 (`mulde.io.features.row_number_columns`, which `mulde fit` warns of in
    a CSV file; ordered True), those holding each whole number from first to first + n - 1
    once in another order (`shuffled_index_columns`; ordered False), and a first column
    named as pandas names the index `to_csv` wrote (`_UNNAMED_INDEX`: "Unnamed: 0"), first
    None where it is neither; in X's order. values (n, d): X's values as the estimator reads
    them. [] where X is not a DataFrame."""
    pd = sys.modules.get("pandas")
    if pd is None or not isinstance(X, pd.DataFrame):
        return []
    counting = set(row_number_columns(values))
    shuffled = set(shuffled_index_columns(values))
    return [(_plain(name), int(values[:, j].min()) if j in counting | shuffled else None,
             j not in shuffled)
            for j, name in enumerate(X.columns)
            if j in counting | shuffled or (j == 0 and name == _UNNAMED_INDEX)]


def numeric_frame(X: Any) -> Any:
    """X with each column that is not numeric (text of numbers, which `dataframe_problem`
    let pass) converted by `pandas.to_numeric`, so that a missing value there (None, pd.NA,
    "nan") becomes NaN, which the NaN check names by row, instead of failing scikit-learn's
    conversion; X itself when it is no DataFrame or every column is numeric."""
    pd = sys.modules.get("pandas")
    if pd is None or not isinstance(X, pd.DataFrame):
        return X
    text = [j for j, dtype in enumerate(X.dtypes) if _not_numbers(dtype, pd)]
    if not text:
        return X
    X = X.copy()
    for j in text:
        X.isetitem(j, pd.to_numeric(X.iloc[:, j].astype(object).where(
            X.iloc[:, j].notna(), np.nan), errors="coerce").astype(np.float64))
    return X
