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
