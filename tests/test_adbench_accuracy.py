"""benchmarks/adbench_accuracy.py: a results file keeps the MULDE it was fitted with."""

import json

import adbench_accuracy
import numpy as np
import pytest


def test_a_resumed_run_refuses_rows_of_another_default(tmp_path, monkeypatch):
    """Round 24 changed the default lr (1e-3 -> "auto") without a --set: the file records
    every MULDE parameter, and a run whose parameters differ is refused, naming them."""
    folder = tmp_path / "adbench" / "Classical"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    np.savez(folder / "tiny.npz", X=np.r_[rng.normal(size=(60, 3)), rng.normal(4, 1, (6, 3))],
             y=np.r_[np.zeros(60), np.ones(6)])
    monkeypatch.setattr(adbench_accuracy, "DATA_ROOT", tmp_path)
    out = tmp_path / "acc.json"
    args = ["--seeds", "0", "--methods", "MULDE", "--set", "max_steps=2", "hidden_sizes=[8]",
            "--out", str(out)]
    adbench_accuracy.main(args)
    written = json.loads(out.read_text())
    assert written["mulde_params"]["lr"] == "auto"
    assert written["mulde_params"]["max_steps"] == 2
    assert [e["dataset"] for e in written["entries"]] == ["tiny"]

    written["mulde_params"]["lr"] = 0.001  # as a file of the default before round 24
    out.write_text(json.dumps(written))
    with pytest.raises(SystemExit, match=r"other parameters \(lr 0.001, now 'auto'\)"):
        adbench_accuracy.main([*args, "--seeds", "1"])
    assert len(json.loads(out.read_text())["entries"]) == 1
