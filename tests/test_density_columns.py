"""The cells digest that tells which fits a change of the lattice rule can alter
(benchmarks/adbench_columns.py, benchmarks/density_columns.py; issue 15 round 38)."""

import json

import numpy as np
from adbench_columns import cells_digest
from density_columns import main

from mulde.estimator.columns import quantisation_steps


def test_the_digest_changes_with_the_cells_training_receives_and_nothing_else():
    """Equal cells give equal digests; a step moved below float32's resolution of the width
    leaves it (training receives the same float32 widths); a step moved by more, or another
    column counted, changes it."""
    rng = np.random.default_rng(0)
    X = np.c_[rng.integers(0, 5, 300), rng.standard_normal(300)].astype(float)
    steps = quantisation_steps(X)
    assert steps.tolist() == [1.0, 0.0]
    digest = cells_digest(X, steps)
    assert digest == cells_digest(X.copy(), steps.copy())
    assert cells_digest(X, steps * (1 + 1e-12)) == digest
    assert cells_digest(X, steps * (1 + 1e-4)) != digest
    assert cells_digest(X, np.array([1.0, 0.5])) != digest


def test_density_columns_lists_the_fits_whose_cells_differ(tmp_path, capsys):
    """Run twice on one small case: against itself nothing differs; against an edited
    record the edited fit is named."""
    first = tmp_path / "a.json"
    main(["--cases", "quantised:8:200", "--seeds", "3", "--out", str(first)])
    record = json.loads(first.read_text())
    assert record["entries"][0]["quantised"] == 8
    main(["--cases", "quantised:8:200", "--seeds", "3", "--out", str(tmp_path / "b.json"),
          "--against", str(first)])
    assert "0 of 1 fits have other cells" in capsys.readouterr().out
    record["entries"][0]["cells"] = "0" * 16
    first.write_text(json.dumps(record))
    main(["--cases", "quantised:8:200", "--seeds", "3", "--out", str(tmp_path / "c.json"),
          "--against", str(first)])
    assert "1 of 1 fits have other cells: quantised:8:200 seed 3" in capsys.readouterr().out


def test_earlier_rules_are_counted_without_later_cells():
    """adbench_columns' counts by earlier rounds' rules leave out the cells later rounds
    added: a column of few codes too far apart for the bound (0 on 1,996 rows, 1,000 and
    2,000 on two each) is a wide cell by round 36's rule, none by round 51's or 52's, and a
    point mass by round 54's; a ReLU-like column (half its rows at 0) counts from round 54
    alone; a flag from round 52 (until round 54 each had counted in every earlier rule)."""
    from adbench_columns import split_entry

    codes = np.r_[np.zeros(1996), [1000.0, 1000.0, 2000.0, 2000.0]]
    relu = np.maximum(np.random.default_rng(0).standard_normal(2000), 0.0)
    flag = np.arange(2000) % 2.0
    entry = split_entry("x", 0, np.c_[codes, relu, flag])
    assert [entry[k] for k in ("quantised", "quantised_round52", "quantised_round51",
                               "quantised_round36", "quantised_round35")] == [3, 1, 0, 1, 2]
