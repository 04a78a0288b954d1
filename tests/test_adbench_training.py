"""benchmarks/adbench_training.py: how training ends, read from the training half alone."""

import json

import numpy as np
from adbench_training import main, training_half


def _write_set(folder, name, n_normal, n_anomal, d, seed):
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.normal(size=(n_normal, d)), rng.normal(4, 1, size=(n_anomal, d))])
    y = np.r_[np.zeros(n_normal), np.ones(n_anomal)]
    np.savez(folder / f"{name}.npz", X=X, y=y)


def test_only_large_training_halves_are_fitted_and_their_end_is_recorded(tmp_path):
    folder = tmp_path / "adbench" / "Classical"
    folder.mkdir(parents=True)
    _write_set(folder, "big", 80, 10, 3, 0)    # a training half of 40 rows
    _write_set(folder, "small", 30, 5, 2, 1)  # of 15
    out = tmp_path / "t.json"
    main(["--root", str(tmp_path), "--min-rows", "20", "--params",
          '{"max_steps": 3, "hidden_sizes": [8], "eval_every": 1, "lr": "auto"}',
          "--out", str(out)])
    result = json.loads(out.read_text())
    (entry,) = result["entries"]
    assert entry["dataset"] == "big" and entry["n_train"] == 40 and entry["n_features"] == 3
    assert entry["steps"] == 3 and len(entry["last_checks"]) == 3
    assert entry["lr"] == 1e-3 and result["params"]["lr"] == "auto"
    # half of the 80 normal rows, standardised by their own statistics
    half = training_half(folder / "big.npz", 0, 10_000)
    assert half.shape == (40, 3)
    np.testing.assert_allclose(half.std(axis=0), 1.0)
    assert len(training_half(folder / "big.npz", 0, 25)) == 25  # --max-train caps it


def test_bad_params_and_a_missing_root_are_one_line_errors_before_any_fit(tmp_path, capsys):
    import pytest

    for args, said in ((["--params", "[30]"], "give a JSON object"),
                       (["--params", "{max_steps: 3}"], "not valid JSON"),
                       (["--params", '{"lr": "fast"}'], "'lr' parameter of MULDE must be"),
                       ([], "no ADBench .npz files under")):
        with pytest.raises(SystemExit) as stop:
            main(["--root", str(tmp_path), "--out", str(tmp_path / "t.json"), *args])
        assert stop.value.code == 2 and said in capsys.readouterr().err
    assert not (tmp_path / "t.json").exists()
