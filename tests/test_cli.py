"""The `mulde` command line: fit, score, info, and errors that name the problem."""

import json

import numpy as np
import pytest

from mulde.cli import main

PARAMS = json.dumps({"hidden_sizes": [16, 16], "max_steps": 20, "batch_size": 64})


@pytest.fixture
def features(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "train.npy", rng.standard_normal((200, 3)))
    np.save(tmp_path / "test.npy", rng.standard_normal((10, 3)))
    return tmp_path


def test_fit_score_info(features, capsys):
    d = features
    assert main(["fit", str(d / "train.npy"), "--out", str(d / "m.safetensors"),
                 "--params", PARAMS, "--quiet"]) == 0
    assert main(["score", str(d / "m.safetensors"), str(d / "test.npy"),
                 "--out", str(d / "s.npy")]) == 0
    assert np.load(d / "s.npy").shape == (10,)
    assert main(["score", str(d / "m.safetensors"), str(d / "test.npy"),
                 "--out", str(d / "e.csv"), "--multiscale"]) == 0
    capsys.readouterr()
    assert main(["info", str(d / "m.safetensors")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["n_features_in"] == 3 and info["params"]["max_steps"] == 20


def test_errors_exit_2_with_a_message(features, capsys):
    d = features
    np.save(d / "wide.npy", np.zeros((5, 4)))
    main(["fit", str(d / "train.npy"), "--out", str(d / "m.safetensors"), "--params", PARAMS,
          "--quiet"])
    with pytest.raises(SystemExit, match="wide.npy has 4 features.*expects 3"):
        main(["score", str(d / "m.safetensors"), str(d / "wide.npy"), "--out", str(d / "s.npy")])
    assert main(["score", str(d / "nope.safetensors"), str(d / "test.npy"),
                 "--out", str(d / "s.npy")]) == 2
    assert "nope.safetensors: no such model file" in capsys.readouterr().err
