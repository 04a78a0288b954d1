"""The `mulde` command line: fit, score, info, and errors that name the problem."""

import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from fakes import ENV, REPO, _disk_with
from model_files import edit_model_file

import mulde
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
    assert main(["score", str(d / "m.safetensors"), str(d / "test.npy"),
                 "--out", str(d / "e.csv"), "--multiscale"]) == 0
    # the written scores are the library's, for the saved model
    from mulde import MULDE

    # on the device `mulde score` picks by default (a GPU where there is one)
    model, X = MULDE.load(d / "m.safetensors", device="auto"), np.load(d / "test.npy")
    np.testing.assert_array_equal(np.load(d / "s.npy"), model.anomaly_score(X))
    energies = model.score_samples_multiscale(X)
    with open(d / "e.csv") as fh:  # each energy column named by its noise level
        header = fh.readline().strip().split(",")
    assert header == [f"energy_sigma_{s:.3g}" for s in model.sigmas_]
    assert header[0] == "energy_sigma_0.001" and header[-1] == "energy_sigma_1"
    # the network's float32 energies, with float32's digits: the same float32 values
    np.testing.assert_array_equal(energies.astype(np.float32), energies)
    np.testing.assert_array_equal(
        np.loadtxt(d / "e.csv", delimiter=",", skiprows=1).astype(np.float32), energies)
    assert np.ptp(energies) > 0
    capsys.readouterr()
    assert main(["info", str(d / "m.safetensors"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["n_features_in"] == 3 and info["params"]["max_steps"] == 20
    # without --json: a short summary first, then the same JSON
    assert main(["info", str(d / "m.safetensors")]) == 0
    summary, _, rest = capsys.readouterr().out.partition("full description (JSON; --json "
                                                           "prints it alone):\n")
    assert json.loads(rest) == info
    assert summary.startswith(f"MULDE model {d / 'm.safetensors'}: 3 features, 4 networks of "
                              "16x16 (n_members \"auto\" for 200 rows: fewer than 501 rows), "
                              "each trained on 0.5 of the rows, "
                              f"{info['n_parameters']} parameters\n")
    assert 'training: 20 steps at lr 0.001, set by "auto" from the training rows (best' in summary
    assert len(summary.splitlines()) == 4
    assert f"anomaly score above {-info['offset']:.4g} is an outlier" in summary


def test_score_predict_writes_the_models_flags_at_the_threshold_info_gives(features, capsys):
    """`mulde score --predict` writes MULDE.predict's +1 (inlier) / -1 (outlier): -1 exactly
    where the anomaly score is above the threshold `mulde info` prints; a .csv names the
    column predict, and the line written counts both kinds."""
    from mulde import MULDE

    d = features
    rng = np.random.default_rng(1)
    np.save(d / "mixed.npy", np.vstack([rng.standard_normal((8, 3)),
                                        rng.standard_normal((3, 3)) + 8]))
    assert main(["fit", str(d / "train.npy"), "--out", str(d / "m.safetensors"),
                 "--params", PARAMS, "--quiet"]) == 0
    capsys.readouterr()
    assert main(["score", str(d / "m.safetensors"), str(d / "mixed.npy"),
                 "--out", str(d / "p.npy"), "--predict"]) == 0
    model, X = MULDE.load(d / "m.safetensors", device="auto"), np.load(d / "mixed.npy")
    flags = np.load(d / "p.npy")
    np.testing.assert_array_equal(flags, model.predict(X))
    np.testing.assert_array_equal(flags, np.where(model.anomaly_score(X) > -model.offset_,
                                                  -1, 1))
    assert flags[-3:].tolist() == [-1, -1, -1]  # far rows are outliers
    n_out = int((flags == -1).sum())
    assert capsys.readouterr().out == (
        f"wrote 11 predictions to {d / 'p.npy'}: {n_out} outliers (-1; anomaly score above "
        f"{-model.offset_:.4g}, the model's threshold), {11 - n_out} inliers (+1)\n")
    assert main(["score", str(d / "m.safetensors"), str(d / "mixed.npy"),
                 "--out", str(d / "p.csv"), "--predict"]) == 0
    assert (d / "p.csv").read_text().splitlines() == ["predict", *map(str, flags)]
    capsys.readouterr()
    assert main(["info", str(d / "m.safetensors")]) == 0
    assert (f"threshold (predict, mulde score --predict): anomaly score above "
            f"{-model.offset_:.4g} is an outlier (-1), at or below it an inlier (+1); "
            in capsys.readouterr().out)


def test_score_predict_says_too_few_validation_rows_once(features, capsys):
    """A model whose validation rows were too few to flag any: `mulde score --predict` said
    so twice, in predict's warning and again in the line written; the warning (with what to
    do) says it, the line counts the flags."""
    d = features
    from mulde.estimator.model import FewValidationRowsWarning

    params = json.dumps({**json.loads(PARAMS), "threshold_on": "validation"})
    with pytest.warns(FewValidationRowsWarning):  # fit says it first
        assert main(["fit", str(d / "train.npy"), "--out", str(d / "m.safetensors"),
                     "--params", params, "--quiet"]) == 0
    capsys.readouterr()
    with pytest.warns(FewValidationRowsWarning) as caught:
        assert main(["score", str(d / "m.safetensors"), str(d / "test.npy"),
                     "--out", str(d / "p.npy"), "--predict"]) == 0
    assert len(caught) == 1
    assert "validation rows held out of training are too few" in str(caught[0].message)
    said = capsys.readouterr()
    assert "too few" not in said.out + said.err, said
    assert said.out == (f"wrote 10 predictions to {d / 'p.npy'}: 0 outliers (-1; none can be, "
                        "as warned above), 10 inliers (+1)\n")
    assert np.load(d / "p.npy").tolist() == [1] * 10


def test_fit_and_info_say_the_learning_rate_trained_with(tmp_path, capsys):
    """lr "auto" (the default) picks the rate from the rows: `mulde fit` prints the rate it
    trained with and the rows it came from, `mulde info` says it was "auto"; a rate given
    in --params is printed as given, without "auto"."""
    np.save(tmp_path / "x.npy", np.random.default_rng(0).standard_normal((1500, 2)))
    small = {"hidden_sizes": [8], "max_steps": 2, "batch_size": 64, "n_levels": 4}
    for lr, fitted, trained in (("auto", 'at lr 0.0015, lr "auto" for 1500 rows)',
                                 'at lr 0.0015, set by "auto" from the training rows (best'),
                                (0.002, "at lr 0.002)", "at lr 0.002 (best")):
        out = str(tmp_path / f"{lr}.safetensors")
        assert main(["fit", str(tmp_path / "x.npy"), "--out", out, "--quiet",
                     "--params", json.dumps({**small, "lr": lr})]) == 0
        assert f"(2 steps {fitted}; saved " in capsys.readouterr().out
        assert main(["info", out]) == 0
        assert f"training: 2 steps {trained}" in capsys.readouterr().out


def test_fit_out_a_folder_writes_model_safetensors_in_it(tmp_path, capsys, monkeypatch):
    """--out new_dir/ (a trailing separator) and --out existing_dir both mean a folder that
    gets model.safetensors, as `MULDE.save` takes them; a plain new name stays a file."""
    np.save(tmp_path / "x.npy", np.random.default_rng(0).standard_normal((40, 2)))
    small = json.dumps({"hidden_sizes": [8], "max_steps": 2, "batch_size": 64, "n_levels": 4})
    monkeypatch.chdir(tmp_path)
    (tmp_path / "there").mkdir()
    for out, written in (("new_dir/", "new_dir/model.safetensors"),
                         ("there", "there/model.safetensors"), ("plain", "plain")):
        assert main(["fit", "x.npy", "--out", out, "--quiet", "--params", small]) == 0
        assert capsys.readouterr().out.rstrip().endswith(f"saved {written}")
        assert (tmp_path / written).is_file()
    assert main(["info", "new_dir/"]) == 0  # the folder, as score, export and load take it
    assert "2 features" in capsys.readouterr().out


def test_info_gives_the_widths_auto_built_from_the_features(tmp_path, capsys):
    """hidden_sizes "auto" (the default) is said as the widths the fit built for its d (here
    a first layer wider than 256 for 300 features), not as "auto"."""
    from mulde.core.network import widths_for_features

    np.save(tmp_path / "x.npy", np.random.default_rng(0).standard_normal((600, 300)))
    out = str(tmp_path / "w.safetensors")
    assert main(["fit", str(tmp_path / "x.npy"), "--out", out, "--quiet",
                 "--params", '{"max_steps": 1, "n_levels": 2}']) == 0
    assert 'lr "auto" for 600 rows of 300 features' in capsys.readouterr().out
    assert main(["info", out]) == 0
    first, _ = widths_for_features(300, 600)
    out = capsys.readouterr().out
    # 600 rows of 300 features: fewer than ten per feature and more than 500, so eight
    # networks, each on an eighth of the rows (round 46; a quarter from round 31), their
    # second layer 128 wide (round 51)
    assert (f'300 features, 8 networks of {first}x128 (n_members "auto" for 600 rows: fewer '
            "than 10 rows per feature), each trained on 0.125 of the rows") in out
    # lr "auto" counts the rows for less past 256 features (round 29), and says so
    assert 'at lr 0.001, set by "auto" from the training rows and features' in out


def test_info_gives_the_third_layer_and_the_share_held_out_from_the_rows(tmp_path, capsys):
    """From 50 rows per feature "auto" builds two networks of three layers of 160 and holds
    a fifth of the rows out (issue 15, rounds 41, 43 and 45): `info` says the widths built, the
    networks and the share, and why; a share given as a number is said without the why;
    `fit` says why there are two networks."""
    np.save(tmp_path / "x.npy", np.random.default_rng(0).standard_normal((600, 2)))
    for params, why in (('{"max_steps": 2, "n_levels": 2}', True),
                        ('{"max_steps": 2, "n_levels": 2, "validation_fraction": 0.25}', False)):
        out = str(tmp_path / "w.safetensors")
        assert main(["fit", "--overwrite", str(tmp_path / "x.npy"), "--out", out, "--quiet",
                     "--params", params]) == 0
        assert ', 2 networks ("auto": at least 50 rows per feature)' in capsys.readouterr().out
        assert main(["info", out]) == 0
        text = capsys.readouterr().out
        share = 0.2 if why else 0.25
        said = f", on {share:g} of the rows held out"
        assert said in text, text
        assert ('set by "auto" from the depth and the training rows'
                in text) is why
        assert ('2 features, 2 networks of 160x160x160 (n_members "auto" for 600 rows: at least '
                "50 rows per feature)") in text  # 300 a feature


def test_fit_dequantises_the_columns_named_by_the_csv_header(tmp_path, capsys):
    """--params '{"dequantise": [...]}' takes the header's names (or indices): the file keeps
    the names and its cells are theirs alone; a name the header lacks is one line, exit
    2."""
    rng = np.random.default_rng(0)
    X = np.c_[rng.poisson(0.3, 300), np.maximum(rng.standard_normal(300), 0.0),
              rng.standard_normal(300)]
    path = tmp_path / "t.csv"
    path.write_text("count,relu,x\n" + "\n".join(",".join(map(str, r)) for r in X) + "\n")
    out = tmp_path / "m.safetensors"
    fast = '{"max_steps": 1, "n_levels": 2, "dequantise": ["relu"]}'
    assert main(["fit", str(path), "--out", str(out), "--quiet", "--params", fast]) == 0
    from mulde import MULDE

    model = MULDE.load(out)
    assert model.dequantise == ["relu"]
    assert model.quantisation_steps_[0] == model.quantisation_steps_[2] == 0.0
    assert model.quantisation_steps_[1] > 0
    capsys.readouterr()
    # a named column the rule gives no cell is said by its header name, and fitted as given
    from mulde.estimator.model import UndequantisedColumnsWarning

    both = '{"max_steps": 1, "n_levels": 2, "dequantise": ["relu", "x"]}'
    with pytest.warns(UndequantisedColumnsWarning, match=r"^dequantise names 'x', which the "
                      "rule gives no cell, so it trains as given"):
        assert main(["fit", str(path), "--out", str(out), "--quiet", "--params", both,
                     "--overwrite"]) == 0
    # a name the header lacks: refused before the note that the fit may take minutes, with
    # the nearest name
    bad = '{"max_steps": 1, "dequantise": ["rel"]}'
    assert main(["fit", str(path), "--out", str(tmp_path / "b.safetensors"),
                 "--params", bad]) == 2
    err = capsys.readouterr().err
    assert err.endswith(f"mulde: error: {path}: dequantise names column 'rel', which the "
                        "training data do not have (its columns are 'count', 'relu', 'x'; did "
                        "you mean 'relu'?); give its column names or indices from 0 to 2\n")
    assert "Traceback" not in err and "minutes" not in err
    np.save(tmp_path / "t.npy", X)  # no header: indices alone
    assert main(["fit", str(tmp_path / "t.npy"), "--out", str(tmp_path / "b.safetensors"),
                 "--quiet", "--params", bad, "--overwrite"]) == 2
    assert capsys.readouterr().err == (
        f"mulde: error: {tmp_path / 't.npy'}: dequantise names column 'rel', which the "
        "training data do not have (it has no column names); give indices from 0 to 2\n")


def test_info_says_out_of_bag_fell_back_to_the_validation_rows(tmp_path, capsys):
    """threshold_on "out_of_bag" where no network trained on a bag: `info` said only "too few
    validation rows", which read as "validation" asked (a newcomer looked in the JSON to
    learn why); it says why the validation rows and how bags are had."""
    np.save(tmp_path / "x.npy", np.random.default_rng(0).standard_normal((100, 3)))
    out = tmp_path / "m.safetensors"
    params = json.dumps({"hidden_sizes": [8], "max_steps": 5, "threshold_on": "out_of_bag",
                         "max_samples": 1.0})
    with pytest.warns(Warning):  # fit's FewValidationRowsWarning: tested in test_model.py
        assert main(["fit", str(tmp_path / "x.npy"), "--out", str(out), "--quiet",
                     "--params", params]) == 0
    assert main(["info", str(out)]) == 0
    assert ('threshold (predict, mulde score --predict): none: too few validation rows to flag '
            'within the contamination (threshold_on "out_of_bag": no network trained on a bag '
            "of the rows, so the rows held out are the only ones out of a bag; max_samples < 1 "
            "gives bags)\n") in capsys.readouterr().out


def test_info_says_which_columns_were_dequantised(tmp_path, capsys):
    """dequantise (the default since round 35): `info` counts the columns found on a lattice,
    of two values (round 52: a flag's cell is half its gap) or with a point mass (round 54: a
    quarter of a standard deviation), says nothing where none was, and names the option
    where it was turned off."""
    rng = np.random.default_rng(0)
    relu = np.maximum(rng.standard_normal(300), 0.0)  # half the rows at 0
    counts = np.c_[rng.integers(0, 5, (300, 2)), rng.integers(0, 2, (300, 1)),
                   relu, rng.standard_normal((300, 1))].astype(float)
    np.save(tmp_path / "c.npy", counts)
    np.save(tmp_path / "g.npy", rng.standard_normal((300, 3)))
    fast = '{"max_steps": 1, "n_levels": 2}'
    for name, said in (("c", True), ("g", False)):
        assert main(["fit", str(tmp_path / f"{name}.npy"), "--out",
                     str(tmp_path / f"{name}.safetensors"), "--quiet", "--params", fast]) == 0
        said_now = ", 4 of 5 columns dequantised (on a lattice, two-valued or with a point mass)"
        assert (said_now in capsys.readouterr().out) is said
    assert main(["fit", str(tmp_path / "c.npy"), "--out", str(tmp_path / "off.safetensors"),
                 "--quiet", "--params", '{"max_steps": 1, "n_levels": 2, "dequantise": false}'
                 ]) == 0
    capsys.readouterr()
    assert main(["info", str(tmp_path / "c.safetensors")]) == 0
    quarter = f"{0.25 * relu.std(ddof=1):.3g}"
    assert ("\ndequantised: 4 of 5 columns on a lattice, two-valued or with a point mass, "
            "each training row spread over its value's cell (widths in the column's own "
            "units): column 0 (cell 1), column 1 "
            f"(cell 1), column 2 (cell 0.5), column 3 (cell {quarter})\n"
            ) in capsys.readouterr().out
    assert main(["info", str(tmp_path / "g.safetensors")]) == 0
    assert "dequantised" not in capsys.readouterr().out
    assert main(["info", str(tmp_path / "off.safetensors")]) == 0
    out = capsys.readouterr().out
    assert "options: dequantise=False" in out and "dequantised:" not in out


def test_fit_reads_a_float32_files_lattice_at_float32s_precision(tmp_path, capsys):
    """Round 38: two-decimal readings saved as float32 are a few float32 units off their
    lattice; read as float64 (as `mulde fit` did) the lattice was missed."""
    rng = np.random.default_rng(5)
    cents = 1000 + rng.integers(0, 50, (400, 1)) * 0.01
    np.save(tmp_path / "r.npy", np.c_[cents, rng.standard_normal((400, 1))].astype(np.float32))
    assert main(["fit", str(tmp_path / "r.npy"), "--out", str(tmp_path / "r.safetensors"),
                 "--quiet", "--params", '{"max_steps": 1, "n_levels": 2}']) == 0
    said = ", 1 of 2 columns dequantised (on a lattice, two-valued or with a point mass)"
    assert said in capsys.readouterr().out


def test_fit_and_info_say_how_many_repeated_rows_a_model_scores_by_their_counts(tmp_path,
                                                                              capsys):
    """Round 60: rows the training rows hold 5 times or more are scored by their counts;
    `mulde fit` and `mulde info` say how many (a model of continuous rows says nothing)."""
    rng = np.random.default_rng(0)
    flags = np.repeat([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], [100, 60, 4], axis=0)
    np.save(tmp_path / "flags.npy", np.r_[flags, rng.standard_normal((36, 2))])
    np.save(tmp_path / "plain.npy", rng.standard_normal((200, 2)))
    params = '{"max_steps": 1, "n_levels": 2, "hidden_sizes": [8]}'
    assert main(["fit", str(tmp_path / "flags.npy"), "--out", str(tmp_path / "f.st"),
                 "--quiet", "--params", params]) == 0
    assert (", 2 distinct rows held 5 times or more (160 of the 200 rows), each scored by its "
            "count, as is a new row equal to one (atom_min_count null turns this off)); saved"
            ) in capsys.readouterr().out
    assert main(["info", str(tmp_path / "f.st")]) == 0
    assert ("\nrepeated rows: 2 distinct rows held 5 times or more by the training rows (160 "
            "of 200 rows); a row equal to one, new or not, is scored by its count's "
            "probability on the energy's scale, not by the network (atom_min_count null "
            "turns this off)\n") in capsys.readouterr().out
    # the energies of --multiscale are the network's: said where they are not the score's
    assert main(["score", str(tmp_path / "f.st"), str(tmp_path / "flags.npy"), "--multiscale",
                 "--out", str(tmp_path / "e.npy")]) == 0
    assert ("mulde: note: 160 samples of 200 equal rows the training rows repeat "
            "(atom_min_count): their anomaly score (mulde score without --multiscale) is "
            "their count's, not an aggregate of these energies") in capsys.readouterr().err
    assert main(["fit", str(tmp_path / "plain.npy"), "--out", str(tmp_path / "p.st"),
                 "--quiet", "--params", params]) == 0
    assert "repeated" not in capsys.readouterr().out
    assert main(["info", str(tmp_path / "p.st")]) == 0
    assert "repeated rows" not in capsys.readouterr().out
    # an exported graph holds them too: said, as training data a shared file carries
    pytest.importorskip("onnxscript", reason="PyTorch's ONNX exporter needs onnxscript")
    assert main(["export", str(tmp_path / "f.st"), "--out", str(tmp_path / "f.onnx")]) == 0
    assert capsys.readouterr().out.rstrip().endswith(
        "; it holds the model's 2 repeated training rows (each input row is compared with "
        "them; atom_min_count null stores none)")
    assert main(["export", str(tmp_path / "p.st"), "--out", str(tmp_path / "p.onnx")]) == 0
    assert "repeated" not in capsys.readouterr().out


def test_fit_says_why_auto_trained_several_networks(tmp_path, capsys):
    """n_members "auto" names its reason in fit's line (fewer than ten rows per feature,
    fewer than 50 rows per principal direction, or fewer than 501 rows), and `info` the
    directions it counted, as a count of the rows', beside how many networks it trained,
    one included ("network 8 (n_members "auto": 3 principal directions)" said neither);
    a number given is not explained."""
    rng = np.random.default_rng(0)
    np.save(tmp_path / "wide.npy", rng.standard_normal((600, 100)))
    np.save(tmp_path / "spread.npy", rng.standard_normal((600, 16)))  # 14 directions
    np.save(tmp_path / "few.npy", rng.standard_normal((200, 3)))
    for name, networks, reason in (
            ("wide", "8 networks", "fewer than 10 rows per feature"),
            ("spread", "8 networks", "fewer than 50 rows per principal direction"),
            ("few", "4 networks", "fewer than 501 rows")):
        share = 0.5 if name == "few" else 0.125
        assert main(["fit", str(tmp_path / f"{name}.npy"), "--out", str(tmp_path / "m.st"),
                     "--quiet", "--params", '{"max_steps": 1, "hidden_sizes": [8]}',
                     "--overwrite"]) == 0
        assert f'{networks} ("auto": {reason}), each on {share} of the rows' in \
            capsys.readouterr().out
        if name == "spread":
            assert main(["info", str(tmp_path / "m.st")]) == 0
            assert ('8 networks of 8 (n_members "auto" for 600 rows, from 14 principal '
                    "directions counted in the rows: fewer than 50 rows per principal "
                    "direction), each trained on 0.125 of the rows") in capsys.readouterr().out
    flat = rng.standard_normal((600, 3)) @ rng.standard_normal((3, 16))  # 3 directions
    np.save(tmp_path / "flat.npy", flat + 1e-3 * rng.standard_normal((600, 16)))
    assert main(["fit", str(tmp_path / "flat.npy"), "--out", str(tmp_path / "m.st"), "--quiet",
                 "--params", '{"max_steps": 1, "hidden_sizes": [8]}', "--overwrite"]) == 0
    assert "networks" not in capsys.readouterr().out
    assert main(["info", str(tmp_path / "m.st")]) == 0
    assert ('16 features, 1 network of 8 (n_members "auto" for 600 rows, from 3 principal '
            "directions counted in the rows), ") in capsys.readouterr().out
    assert main(["fit", str(tmp_path / "few.npy"), "--out", str(tmp_path / "m.st"), "--quiet",
                 "--params", '{"max_steps": 1, "hidden_sizes": [8], "n_members": 2}',
                 "--overwrite"]) == 0
    assert ", 2 networks, each on 0.5 of the rows" in capsys.readouterr().out


def test_python_dash_m_runs_the_command(tmp_path):
    """`python -m mulde` is the `mulde` command."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "mulde", "--version"], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0 and done.stdout.startswith("mulde ")


def test_fit_draws_its_progress_bar_on_a_terminal_only(tmp_path, capsys, monkeypatch):
    """Redirected to a file (stderr not a terminal), `mulde fit` writes no progress bar (a
    redirected fit wrote 48 KB of updates into a log); on a terminal it draws one."""
    np.save(tmp_path / "x.npy", np.random.default_rng(0).standard_normal((40, 2)))
    fit = ["fit", str(tmp_path / "x.npy"), "--out", str(tmp_path / "m.safetensors"),
           "--overwrite", "--params", '{"max_steps": 2, "hidden_sizes": [8], "n_levels": 2}']
    assert main(fit) == 0
    assert "training" not in capsys.readouterr().err
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(fit) == 0
    assert "training" in capsys.readouterr().err


def test_params_may_set_the_seed_verbosity_and_device(features, capsys):
    """--params with random_state, verbose or device fits (it raised TypeError: the keys
    were also given from --seed, --quiet and --device); --params wins over the defaults, as
    for `mulde run` (a --seed that differs is refused: test_cli_errors.py)."""
    d = features
    params = json.dumps({**json.loads(PARAMS), "random_state": 3, "verbose": False,
                         "device": "cpu"})
    assert main(["fit", str(d / "train.npy"), "--out", str(d / "m.safetensors"),
                 "--params", params]) == 0
    assert "training:" not in capsys.readouterr().err  # verbose False: no progress bar
    assert main(["info", str(d / "m.safetensors"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["params"]["random_state"] == 3 and info["params"]["device"] == "cpu"
    params = json.dumps({**json.loads(PARAMS), "device": "nowhere"})
    assert main(["fit", str(d / "train.npy"), "--out", str(d / "n.safetensors"),
                 "--params", params]) == 2
    assert '--params "device": "nowhere" is not a device' in capsys.readouterr().err


def test_info_says_what_a_level_choosing_aggregate_chose(features, capsys):
    """cv_level names its level, stacked its largest mixture weights, mean_energy_validated
    its kept levels; without validation rows cv_level and stacked say they scored as
    mean_energy (before, `mulde info` said "stacked" for such a model too)."""
    from mulde import MULDE
    from mulde.cli import _chosen

    d = features
    levels = []
    for name, extra in [("cv", {"aggregator": "cv_level"}),
                        ("none", {"aggregator": "stacked", "validation_fraction": 0})]:
        assert main(["fit", str(d / "train.npy"), "--out", str(d / f"{name}.safetensors"),
                     "--params", json.dumps({**json.loads(PARAMS), **extra}), "--quiet"]) == 0
        capsys.readouterr()
        assert main(["info", str(d / f"{name}.safetensors")]) == 0
        levels.append(capsys.readouterr().out.splitlines()[1])
    model = MULDE.load(d / "cv.safetensors")
    sigma = model.sigmas_[model.aggregator_state_["levels"][0]]
    assert levels[0].endswith(f"anomaly score: cv_level (level sigma {sigma:.3g}, chosen on "
                              "the validation rows)")
    assert levels[1].endswith("anomaly score: stacked, as mean_energy (no validation rows to "
                              "choose the levels on)")
    sigmas = [0.001, 0.01, 0.1, 0.5, 1.0, 2.0]
    assert _chosen({"sigmas": sigmas, "weights": [0.0, 0.1, 0.5, 0.002, 0.3, 0.098]}, 6) == (
        " (mixture weights sigma 0.1: 0.50, sigma 1: 0.30, sigma 0.01: 0.10, sigma 2: 0.10)")
    assert _chosen({"sigmas": sigmas, "weights": [0.2] * 5 + [0.0]}, 6).endswith(", 1 more)")
    assert _chosen({"sigmas": [0.1, 0.5, 1.0]}, 16) == (
        " (3 of 16 levels, sigma 0.1 to 1, kept on the validation rows)")
    assert _chosen(None, 16) == ""


def test_info_names_the_methods_options_a_model_uses(features, capsys):
    """A model fitted with antithetic draws and the Gaussian base says so in the summary
    (before, only the JSON below it showed them); a default model gets no such line. The
    regulariser, off by default since round 17, is one of them: a model of the earlier
    default (beta 0.1) or of the paper's (constant) says so."""
    d = features
    params = json.dumps({**json.loads(PARAMS), "antithetic": True, "base": "gaussian",
                         "precondition": "covariance", "beta": 0.1,
                         "regulariser": "constant", "adam_betas": [0.9, 0.999]})
    assert main(["fit", str(d / "train.npy"), "--out", str(d / "m.safetensors"),
                 "--params", params, "--quiet"]) == 0
    capsys.readouterr()
    assert main(["info", str(d / "m.safetensors")]) == 0
    assert ("\noptions: beta=0.1, regulariser='constant', antithetic=True, base='gaussian', "
            "precondition='covariance', adam_betas=(0.9, 0.999)\n" in capsys.readouterr().out)
    # with beta 0 the regulariser's form is not an option the model uses
    params = json.dumps({**json.loads(PARAMS), "beta": 0.0, "regulariser": "constant"})
    assert main(["fit", str(d / "train.npy"), "--out", str(d / "z.safetensors"),
                 "--params", params, "--quiet"]) == 0
    capsys.readouterr()
    assert main(["info", str(d / "z.safetensors")]) == 0
    assert "options:" not in capsys.readouterr().out


def test_info_says_a_model_has_no_time_score_term_where_it_has_none(features, capsys):
    """The default has time-score matching (0.25) since round 19: a model fitted without it,
    or saved before the option existed (no time_score in its parameters, loaded as 0), says
    so; one with the default's term has no options line."""
    from safetensors import safe_open
    from safetensors.numpy import save_file

    d = features
    assert main(["fit", str(d / "train.npy"), "--out", str(d / "m.safetensors"),
                 "--params", PARAMS, "--quiet"]) == 0
    capsys.readouterr()
    assert main(["info", str(d / "m.safetensors")]) == 0
    assert "options:" not in capsys.readouterr().out
    with safe_open(str(d / "m.safetensors"), framework="numpy") as f:
        meta, arrays = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    params = json.loads(meta["params"])
    assert params.pop("time_score") == 0.25
    del meta["sha256"]  # a file of a mulde before time_score, and before the checksum
    meta["format_version"] = "1"
    save_file(arrays, str(d / "old.safetensors"), metadata=meta | {"params": json.dumps(params)})
    assert main(["info", str(d / "old.safetensors")]) == 0
    assert "\noptions: time_score=0.0\n" in capsys.readouterr().out


def test_info_gives_a_pyod_files_own_threshold(features, capsys):
    """A file of PyODMULDE.save states PyOD's threshold_ and contamination, which label its
    training rows: the summary showed only MULDE's own 1 % threshold (with threshold_on
    "training" the adapter leaves MULDE's contamination at 'auto'), as if it were the
    detector's. With "validation" the two thresholds are one, set on the validation rows."""
    pytest.importorskip("pyod")
    from mulde.estimator.pyod_adapter import PyODMULDE

    d = features
    X = np.load(d / "train.npy")
    det = PyODMULDE(contamination=0.05, random_state=0, **json.loads(PARAMS)).fit(X)
    det.save(d / "p.safetensors")
    assert main(["info", str(d / "p.safetensors")]) == 0
    summary, _, rest = capsys.readouterr().out.partition("full description (JSON; --json "
                                                           "prints it alone):\n")
    assert ("\nthreshold (MULDE.load's predict, mulde score --predict): anomaly score above "
            f"{-det.detector_.offset_:.4g} is an outlier (-1), at or below it an inlier (+1); "
            "contamination 0.01 " in summary)
    assert (f"\nPyOD threshold_ (PyODMULDE.load's labels and predict): decision score above "
            f"{det.threshold_:.4g} is labelled 1 (contamination 0.05 of the training samples)\n"
            in summary)
    assert json.loads(rest)["pyod"] == {"contamination": 0.05, "threshold": det.threshold_}
    assert np.mean(det.decision_scores_ > det.threshold_) == pytest.approx(0.05, abs=0.01)
    # a plain MULDE file of the same network has neither line nor field
    det.detector_.save(d / "m.safetensors")
    assert main(["info", str(d / "m.safetensors")]) == 0
    out = capsys.readouterr().out
    assert "PyOD" not in out and "\nthreshold (predict, mulde score --predict): " in out
    # threshold_on="validation": PyOD's threshold_ is MULDE's, set on the validation samples
    val = PyODMULDE(contamination=0.05, random_state=0, threshold_on="validation",
                    **json.loads(PARAMS)).fit(X)
    val.save(d / "v.safetensors")
    assert main(["info", str(d / "v.safetensors")]) == 0
    out = capsys.readouterr().out
    assert val.threshold_ == -val.detector_.offset_
    promise = "contamination 0.05: at most that share of new normal samples, set on the "
    for line in ("threshold (MULDE.load's predict, mulde score --predict): anomaly score "
                 f"above {val.threshold_:.4g} is an outlier (-1), at or below it an inlier "
                 f"(+1); {promise}validation rows\n",
                 "PyOD threshold_ (PyODMULDE.load's labels and predict): decision score above "
                 f"{val.threshold_:.4g} is labelled 1 ({promise}validation rows)\n"):
        assert line in out, out
    # threshold_on "validation" without validation rows: the training quantile, no promise
    with pytest.warns(UserWarning, match="holds out no training sample"):
        bare = PyODMULDE(contamination=0.05, random_state=0, threshold_on="validation",
                         validation_fraction=0.0, **json.loads(PARAMS)).fit(X)
    bare.save(d / "b.safetensors")
    assert main(["info", str(d / "b.safetensors")]) == 0
    out = capsys.readouterr().out
    assert "new normal samples" not in out
    assert ("labelled 1 (contamination 0.05 of the training samples; no validation rows "
            "were held out)\n") in out, out
    # too few validation rows to flag within 1 %: neither threshold flags anything
    with pytest.warns(UserWarning, match="too few"):
        few = PyODMULDE(contamination=0.01, random_state=0, threshold_on="validation",
                        **json.loads(PARAMS)).fit(X[:200])
    few.save(d / "f.safetensors")
    assert main(["info", str(d / "f.safetensors")]) == 0
    out = capsys.readouterr().out
    assert ("PyOD threshold_ (PyODMULDE.load's labels and predict): none: too few validation "
            "rows to flag within the contamination\n") in out, out


def test_one_feature_is_said_in_the_singular(tmp_path, capsys):
    """fit, info and score's mismatch error say "1 feature" (they said "1 features"); a
    pipeline stream of one feature reduced to one component likewise."""
    from mulde.cli import _pipeline_summary

    rng = np.random.default_rng(0)
    np.save(tmp_path / "one.npy", rng.standard_normal((100, 1)))
    np.save(tmp_path / "two.npy", rng.standard_normal((100, 2)))
    small = json.dumps({"hidden_sizes": [8], "max_steps": 5, "batch_size": 64, "n_levels": 4})
    for name in ("one", "two"):
        assert main(["fit", str(tmp_path / f"{name}.npy"), "--out",
                     str(tmp_path / f"{name}.safetensors"), "--params", small, "--quiet"]) == 0
    fitted = capsys.readouterr().out.splitlines()
    assert fitted[0].startswith("fitted on 100 x 1 feature in ")
    assert fitted[1].startswith("fitted on 100 x 2 features in ")
    assert main(["info", str(tmp_path / "one.safetensors")]) == 0
    assert (f"MULDE model {tmp_path / 'one.safetensors'}: 1 feature, 4 networks of 8 "
            '(n_members "auto" for 100 rows: fewer than 501 rows), ') in capsys.readouterr().out
    assert main(["score", str(tmp_path / "two.safetensors"), str(tmp_path / "one.npy"),
                 "--out", str(tmp_path / "s.npy")]) == 2
    assert f"{tmp_path / 'one.npy'} has 1 feature, but the model" in capsys.readouterr().err
    stream = {"model": {"kind": "mulde", "pca": {"n_components": 1, "kept": 1}}, "dim": 1,
              "train_objects": 5, "frame_score": "maximum"}
    lines = _pipeline_summary({
        "mulde_version": "9", "fps": 25.0, "extractor": {"name": "objects", "version": "2"},
        "streams": {"velocity": stream, "static": stream | {"model": {"kind": "knn"}}},
        "ensemble": {"calibrate_on": "frames", "calibration_folds": None,
                     "fusion": "sum of calibrated streams"}, "training": {}, "threshold": None})
    assert lines[1] == ("  velocity: mulde detector on the first principal component of 1 "
                        "feature, 5 training objects, frame score maximum")
    assert lines[2].startswith("  static: knn detector on 1 feature, ")


def test_threads_option_sets_torch_opencv_and_the_blas_pools(features, monkeypatch, capsys):
    import cv2
    import threadpoolctl
    import torch

    calls = []
    monkeypatch.setattr(torch, "set_num_threads", lambda n: calls.append(("torch", n)))
    monkeypatch.setattr(cv2, "setNumThreads", lambda n: calls.append(("opencv", n)))
    monkeypatch.setattr(threadpoolctl, "threadpool_limits", lambda n: calls.append(("pools", n)))
    d = features
    assert main(["fit", str(d / "train.npy"), "--out", str(d / "m.safetensors"),
                 "--params", PARAMS, "--quiet", "--threads", "3"]) == 0
    assert calls == [("torch", 3), ("opencv", 3), ("pools", 3)]
    for bad in ("-1", "0"):
        assert main(["fit", str(d / "train.npy"), "--out", str(d / "m.safetensors"),
                     "--threads", bad]) == 2
        assert f"--threads must be >= 1, got {bad}" in capsys.readouterr().err


def test_set_threads_limits_every_blas_and_openmp_pool_for_the_process():
    """numpy's, scipy's and OpenCV's OpenBLAS and PyTorch's and scikit-learn's OpenMP: a GMM
    run with --threads 1 took 21.5 s on 2 busy cores, its OpenBLAS at every core."""
    import cv2
    import threadpoolctl
    import torch

    from mulde import cli

    before = torch.get_num_threads(), cv2.getNumThreads()
    try:
        cli.set_threads(1)
        pools = threadpoolctl.threadpool_info()
        assert {p["user_api"] for p in pools} == {"blas", "openmp"}
        assert any("scipy" in p["filepath"] for p in pools if p["user_api"] == "blas")
        assert [p["num_threads"] for p in pools] == [1] * len(pools)
    finally:
        cli._THREAD_LIMITS.pop().restore_original_limits()
        torch.set_num_threads(before[0])
        cv2.setNumThreads(before[1])


def test_scenes_option_and_scene_backgrounds_per_view(tmp_path, capsys):
    from fakes import shanghaitech_fake

    root = shanghaitech_fake(tmp_path)
    cache = str(tmp_path / "cache")
    with pytest.warns(UserWarning):  # the fake lacks one test video
        assert main(["extract", "shanghaitech", "--root", str(root), "--cache", cache]) == 0
    assert "5 videos extracted" in capsys.readouterr().out  # a scene background per view
    assert main(["extract", "shanghaitech", "--root", str(root), "--cache", cache,
                 "--scenes", "1"]) == 0  # one view: the same background, the same cache keys
    assert "0 videos extracted, 3 cached" in capsys.readouterr().out
    assert main(["extract", "folder", "--root", str(root), "--cache", cache,
                 "--scenes", "1"]) == 2
    assert "--scenes applies to shanghaitech, not folder" in capsys.readouterr().err
    for args, bad in ((["extract", "shanghaitech", "--cache", cache], "x1"),
                      (["run", "shanghaitech", "--out", str(tmp_path / "o")], "one")):
        assert main([*args, "--root", str(root), "--scenes", "1", bad]) == 2
        assert capsys.readouterr().err == (f"mulde: error: {root}: --scenes {bad}: not a scene "
                                           "number; the scenes here are 01, 02\n")
    assert main(["extract", "shanghaitech", "--root", str(root), "--cache", cache,
                 "--scenes", "99"]) == 2
    assert capsys.readouterr().err == (f"mulde: error: {root}: no videos of scene(s) 99; the "
                                       "scenes here are 01, 02\n")


def test_errors_exit_2_with_a_message(features, capsys):
    d = features
    np.save(d / "wide.npy", np.zeros((5, 4)))
    main(["fit", str(d / "train.npy"), "--out", str(d / "m.safetensors"), "--params", PARAMS,
          "--quiet"])
    capsys.readouterr()
    assert main(["score", str(d / "m.safetensors"), str(d / "wide.npy"),
                 "--out", str(d / "s.npy")]) == 2
    assert capsys.readouterr().err.rstrip().endswith(
        "wide.npy has 4 features, but the model " + str(d / "m.safetensors") + " expects 3; "
        "give the features it was fitted on, in the same order")
    assert main(["score", str(d / "nope.safetensors"), str(d / "test.npy"),
                 "--out", str(d / "s.npy")]) == 2
    assert "nope.safetensors: no such model file" in capsys.readouterr().err


def test_evaluate_with_labels_from_the_official_ped2_ground_truth(tmp_path, capsys):
    from fakes import data_dir

    from mulde.datasets import load_dataset

    root = data_dir("ucsd_ped2")
    ds = load_dataset("ucsd_ped2", root)
    rows = ["video,frame,score"]
    for v in ds.test:  # scores = labels: a perfect detector
        rows += [f"{v.name},{i},{y}" for i, y in enumerate(v.labels)]
    (tmp_path / "s.csv").write_text("\n".join(rows) + "\n")
    assert main(["evaluate", str(tmp_path / "s.csv"), "--out", str(tmp_path / "r"),
                 "--dataset", "ucsd_ped2", "--root", str(root), "--smoothing-sigma", "0"]) == 0
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["micro_auc"] == 1.0 and metrics["n_frames"] == 2010
    # any method's scores: the title names the file and the benchmark, not MULDE
    assert metrics["title"] == "Evaluation of s.csv on ucsd_ped2"
    assert "<h1>Evaluation of s.csv on ucsd_ped2</h1>" in (
        tmp_path / "r" / "report.html").read_text()
    # re-evaluating our own report with another smoothing reads its unsmoothed column
    assert main(["evaluate", str(tmp_path / "r" / "frame_scores.csv"), "--out",
                 str(tmp_path / "r2"), "--smoothing-sigma", "3"]) == 0
    again = json.loads((tmp_path / "r2" / "metrics.json").read_text())
    assert again["micro_auc"] > 0.99 and again["title"] == "Evaluation of r/frame_scores.csv"
    (tmp_path / "bad.csv").write_text("video,frame,score\n01,0,0.5\n01,2,0.1\n")
    assert main(["evaluate", str(tmp_path / "bad.csv"), "--out", str(tmp_path / "r3")]) == 2
    assert "bad.csv, row 3" in capsys.readouterr().err


def test_run_says_its_numbers_unsmoothed_where_the_sigma_is_0(tmp_path, capsys):
    """`mulde run ucf_crime`, whose protocol sigma is now 0, would have said its numbers
    "smoothed (Gaussian, sigma 0 frames)"."""
    from mulde.cli import _print_metrics

    metrics = {"micro_auc": 0.75, "micro_auc_unsmoothed": 0.75, "macro_definition": "padded",
               "protocol": {"smoothing_sigma": 0.0}}
    _print_metrics(metrics, tmp_path)
    assert capsys.readouterr().out.splitlines()[0] == (
        "frame-level ROC-AUC (0-1; x100 for the percent the report and papers give; micro: "
        "all test frames pooled, macro: the mean over videos, padded): unsmoothed too (sigma "
        "0); the *_unsmoothed ones before smoothing")


def test_extract_in_shards_then_run_on_a_small_generated_scene(tmp_path, capsys):
    from mulde.demo.scene import generate_scene

    root = generate_scene(tmp_path / "scene", n_train=2, n_test=2, n_frames=40, seed=1)
    cache = tmp_path / "cache"
    for i in range(2):
        assert main(["extract", "folder", "--root", str(root), "--cache", str(cache),
                     "--shard", f"{i}/2"]) == 0
    extracted = capsys.readouterr()
    assert "2 videos extracted" in extracted.out
    assert "video/s" not in extracted.err  # no progress bar off a terminal
    params = json.dumps({"hidden_sizes": [32, 32], "max_steps": 60, "batch_size": 256})
    out = tmp_path / "run"
    assert main(["run", "folder", "--root", str(root), "--out", str(out), "--cache",
                 str(cache), "--params", params]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    printed = capsys.readouterr()
    # what the printed fractions are, and where the files are (a newcomer saw bare numbers)
    assert ("frame-level ROC-AUC (0-1; x100 for the percent the report and papers give; "
            "micro: all test frames pooled, macro: the mean over videos, padded): smoothed "
            "(Gaussian, sigma 3 frames); the *_unsmoothed ones before smoothing") in printed.out
    assert (f"report: {out / 'report.html'} (metrics.json, per-frame scores in "
            "frame_scores.csv and the model in model/ beside it)") in printed.out
    assert "holds an earlier run's report" not in printed.err  # a new folder
    # stderr is no terminal here (a log): no progress bar fills it with carriage returns
    assert "\r" not in printed.err and "model fits" not in printed.err
    assert metrics["config"]["videos_cached"] == 4 and metrics["config"]["videos_extracted"] == 0
    # the anomalies (a runner, a wrong-way walker, a cart) are seen: 0.82 here; negated
    # scores would give about 0.18
    assert metrics["n_frames"] == 80 and metrics["micro_auc"] > 0.7, metrics["micro_auc"]
    assert (out / "report.html").exists()
    assert (out / "model" / "streams" / "velocity.safetensors").exists()
    assert metrics["config"]["threshold"]["rule"] == "events_per_hour"
    assert main(["run", "nope", "--root", str(root), "--out", str(out)]) == 2
    assert "unknown dataset 'nope'" in capsys.readouterr().err
    assert main(["run", "folder", "--root", str(root / "nowhere"), "--out", str(out)]) == 2
    # the dataset is checked before the earlier report is said
    assert "holds an earlier run's report" not in capsys.readouterr().err
    assert main(["run", "folder", "--root", str(root), "--out", str(out), "--cache",
                 str(cache), "--params", params]) == 0
    assert (f"mulde: note: {out} holds an earlier run's report; this run replaces it "
            "(report.html, metrics.json, frame_scores.csv, plots/ and model/)"
            ) in capsys.readouterr().err
    capsys.readouterr()
    assert main(["info", str(out), "--json"]) == 0  # the run folder: its model/ is described
    info = json.loads(capsys.readouterr().out)
    assert info["extractor"]["name"] == "objects" and list(info["streams"]) == ["static",
                                                                              "velocity"]
    assert info["training"]["videos"] == 2 and info["training"]["frames"] == 80
    assert info["threshold"]["value"] == metrics["config"]["threshold"]["value"]
    assert info["threshold"]["held_out"]["events"] >= 0 and info["mulde_version"]


def test_train_on_a_folder_of_normal_videos_then_score_new_video(tmp_path, capsys):
    from mulde.demo.scene import generate_scene
    from mulde.vad.artifact import PipelineModel
    from mulde.video.source import Video

    root = generate_scene(tmp_path / "scene", n_train=3, n_test=1, n_frames=40, seed=2)
    (root / "train" / "notes.txt").write_text("not a video")
    out = tmp_path / "trained"
    with pytest.warns(UserWarning, match=r"notes\.txt"):  # a stray file is named, not fatal
        assert main(["train", str(root / "train"), "--out", str(out), "--detector", "knn",
                     "--alarms-per-hour", "2"]) == 0
    printed = capsys.readouterr().out
    assert "trained on 3 videos (120 frames, 12 s at 10 frames/s)" in printed
    assert "at most 2 false alarm(s) per hour" in printed and "held-out training videos" in printed
    assert ("  warning: the training videos last 12 s in all: one false alarm there is already "
            "300 per hour, above the target of 2, so the rate cannot be checked; train on at "
            "least 30 min of normal video") in printed
    model = PipelineModel.load(out / "model")
    assert model.fps == 10.0 and model.threshold.target == 2.0
    (test,) = sorted((root / "test").iterdir())
    scores = model.score_video(Video(test.stem, test))
    labels = np.zeros(40, bool)
    for line in (root / "labels.csv").read_text().splitlines()[1:]:
        _, a, b = line.split(",")
        labels[int(a):int(b) + 1] = True
    assert scores.fused[labels].mean() > scores.fused[~labels].mean()
    assert main(["info", str(out / "model"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["ensemble"]["calibration_folds"] is None
    assert main(["info", str(out / "model")]) == 0
    summary = capsys.readouterr().out.split("full description (JSON")[0].splitlines()
    assert summary[0] == (f"pipeline model {out / 'model'} (written by mulde "
                          f"{info['mulde_version']}): objects features (extractor version "
                          f"{info['extractor']['version']}), 2 stream(s)")
    assert summary[1].startswith("  static: knn detector on 3 features, ")
    # under a minute in seconds (it read "0.0 min" for a few seconds), with the frame size
    # that `mulde watch` needs of a camera
    width, height = info["training"]["frame_sizes"][""]
    assert f"training: 3 videos, 120 frames (12 s at 10 frames/s, {width}x{height})" in summary
    assert "the minimum of the models' own training scores to 0 and their 99.9th " \
           "percentile to 1" in summary[4]
    assert summary[5] == f"threshold: {info['threshold']['definition']}"
    # 0.2 min of training video cannot check 2 alarms per hour: info warns as train did,
    # in the summary only (the JSON keeps the threshold's own fields)
    assert summary[6] == ("  warning: the training videos last 12 s in all: one false "
                          "alarm there is already 300 per hour, above the target of 2, so the "
                          "rate cannot be checked; train on at least 30 min of normal video "
                          "for a threshold that keeps it")
    assert summary[7].startswith("  on held-out training videos: ")
    assert " in 12 s (" in summary[7]
    from mulde.vad.live import live_threshold  # what watch applies, said beside the offline

    assert summary[8] == (f"  live (mulde watch): {live_threshold(model)[0]:.4g} on the "
                          "causally smoothed score, the same rule refitted for it")
    # the threshold's warning is the summary's; the JSON keeps the fits' own (none here)
    assert "one false alarm there is already" not in json.dumps(info)
    assert info["fit_warnings"] == []
    # the settings shown are those the plain objects extractor uses; the manifest keeps all
    shown = info["extractor"]["settings"]
    saved = json.loads((out / "model" / "pipeline.json").read_text())["extractor"]["settings"]
    assert "n_bins" in shown and "dwell_frames" in shown and shown["streams"] == [
        "velocity", "static"]
    assert not [k for k in shown if k.startswith(("detector", "pose_", "crop_"))]
    assert {"detector_score", "pose_weights", "backbone"} <= set(saved) - set(shown)
    # the threshold check's folds, there without calibration folds, say what they are
    held = info["threshold"]["held_out"]
    assert f"each of {held['folds']} folds of the training videos (the folds of this check, " \
           "not the calibration's)" in held["definition"]
    # trained again into the same folder: the earlier model is said to go, and its ONNX
    # export (which stayed, unsaid) is said to no longer match (a newcomer's trial), where
    # the new model differs from the one exported
    assert main(["export", str(out / "model")]) == 2  # kNN streams export no graph: fake one
    capsys.readouterr()
    (out / "onnx").mkdir()
    from mulde.vad.export import SOURCE_DIGEST

    (out / "onnx" / "pipeline.json").write_text(json.dumps(
        {"onnx": {"streams": {}, SOURCE_DIGEST: model.digest}}))
    stale = (f"mulde: note: {out / 'onnx'} was exported from an earlier model than the one "
             f"this run wrote: export again with `mulde export {out / 'model'} --overwrite` to "
             "match the new one")
    with pytest.warns(UserWarning, match=r"notes\.txt"):  # the same: its fits read back
        assert main(["train", str(root / "train"), "--out", str(out), "--detector", "knn",
                     "--alarms-per-hour", "2"]) == 0
    err = capsys.readouterr().err
    assert f"mulde: note: {out} holds an earlier model; this training replaces it (model/)" in err
    assert "was exported from" not in err
    with pytest.warns(UserWarning, match=r"notes\.txt"):  # another threshold: another model
        assert main(["train", str(root / "train"), "--out", str(out), "--detector", "knn",
                     "--alarms-per-hour", "3"]) == 0
    assert stale in capsys.readouterr().err


def _gmm_pipeline(smoothing_sigma: float):
    """A small fitted pipeline of one GMM stream (fits in a second)."""
    from mulde.vad import StreamEnsemble
    from mulde.vad.artifact import PipelineModel
    from mulde.video.features import ObjectFeatures, Stream, VideoFeatures
    from mulde.video.features.objects import ObjectCentricExtractor

    rng = np.random.default_rng(0)
    train = {}
    for i in range(3):
        idx = np.repeat(np.arange(20), 2)
        train[f"v{i}"] = VideoFeatures.of({Stream.VELOCITY: ObjectFeatures.build(
            rng.normal(size=(len(idx), 2)), idx, np.tile([1.0, 1, 5, 5], (len(idx), 1)), 20,
            2)})
    return PipelineModel.fit(ObjectCentricExtractor(streams=("velocity",)), train,
                             StreamEnsemble("gmm", calibration_folds=None), fps=10.0,
                             smoothing_sigma=smoothing_sigma)


def test_an_earlier_onnx_export_is_said_stale_only_where_the_new_model_differs(tmp_path,
                                                                                capsys):
    """The note that out/onnx no longer matches showed after every run or train into the
    folder, also one that wrote the same model again (its fits read back from the cache).
    It now compares the new model's digest with the one the export recorded (or, for an
    export that recorded none, with the model's before the run)."""
    from mulde.cli import _earlier_export, _say_stale_export
    from mulde.vad.export import SOURCE_DIGEST

    out, first, second = tmp_path / "run", _gmm_pipeline(1.0), _gmm_pipeline(2.0)
    model = out / "model"
    assert _earlier_export(out, model) is None  # no export: nothing to say
    first.save(model)
    (out / "onnx").mkdir()
    note = (f"mulde: note: {out / 'onnx'} was exported from an earlier model than the one "
            f"this run wrote: export again with `mulde export {model} --overwrite` to match the "
            "new one\n")

    def rerun(new, source):
        (out / "onnx" / "pipeline.json").write_text(json.dumps(
            {"onnx": {"streams": {}, **({SOURCE_DIGEST: source} if source else {})}}))
        export = _earlier_export(out, model)
        new.save(model)
        _say_stale_export(export, model)
        return capsys.readouterr().err

    assert rerun(first, first.digest) == ""  # the same model again: the export matches
    assert rerun(second, first.digest) == note  # another model
    assert rerun(second, first.digest) == note  # written again: the export is still first's
    assert rerun(first, first.digest) == ""  # back to the model exported
    # an export that recorded no model (written before mulde did): the model before the run
    assert rerun(first, None) == ""
    assert rerun(second, None) == note


def test_a_rerun_with_root_spelled_otherwise_leaves_the_export_current(tmp_path, capsys):
    """A rerun of the same data with --root spelled otherwise (relative, a trailing slash)
    and fits of other seconds wrote the same model, yet was told that the export was stale:
    the digest covered the root and the fit times. An export written before (it recorded the
    manifest's own SHA-256) matches that very manifest only, so it is said stale once."""
    from mulde.cli import _earlier_export, _say_stale_export
    from mulde.vad.export import SOURCE_DIGEST

    out, model = tmp_path / "run", _gmm_pipeline(1.0)
    (out / "onnx").mkdir(parents=True)

    def rerun(root, seconds, source):
        model.training["root"] = root
        for fit in model.ensemble.fits_.values():
            fit.fit_s = seconds
        (out / "onnx" / "pipeline.json").write_text(json.dumps(
            {"onnx": {"streams": {}, SOURCE_DIGEST: source}}))
        export = _earlier_export(out, out / "model")
        model.save(out / "model")
        _say_stale_export(export, out / "model")
        return json.loads((out / "model" / "pipeline.json").read_text()), capsys.readouterr().err

    rerun("/data/ucsd_ped2", 1.0, None)
    exported = model.digest
    again, err = rerun("../data/ucsd_ped2/", 2.0, exported)
    assert err == "" and model.digest == exported
    assert again["training"]["root"] == "../data/ucsd_ped2/"  # recorded as given
    assert rerun("../data/ucsd_ped2/", 2.0, again["manifest_sha256"])[1] == ""  # older export
    assert "was exported from an earlier model" in rerun("/data/ucsd_ped2", 3.0,
                                                         again["manifest_sha256"])[1]


@pytest.mark.parametrize("args, message", [
    (["--calibration-folds", "1"], "--calibration-folds must be auto, none or a whole number"),
    # a list typed without JSON's quotes (or whose quotes the shell took): how to write it
    (["--set", "streams=[velocity,pose]"], "--set streams=[velocity,pose]: the value is not "
     "JSON (the shell takes away quotes that are not inside single quotes); write --set "
     "'streams=[\"velocity\",\"pose\"]'\n"),
    (["--set", "close_size=[3, x]"], "write --set 'close_size=[3,\"x\"]'\n"),
    (["--set", "n_bins={a:1}"], "write --set 'n_bins=JSON' with strings in double quotes, "
     "e.g. --set 'streams=[\"velocity\",\"appearance\"]'\n"),
    (["--alarm-quantile", "2"], "--alarm-quantile must be in [0, 1]"),
    (["--alarms-per-hour", "-1"], "--alarms-per-hour must be >= 0"),
    (["--fps", "0"], "--fps must be a positive number"),
    (["--fit-jobs", "0"], "--fit-jobs must be >= 1"),
    (["--pca", "appearance=0"], "--pca appearance=0: give STREAM=K"),
    # the example names a stream the extractor computes: appearance only where it has one
    (["--pca", "colour=3"], "--pca colour=3: give STREAM=K, a stream of the objects "
                            "extractor (velocity, static) and a whole number of principal "
                            "components >= 1 (or STREAM=none to keep it whole), e.g. velocity=2\n"),
    (["--extractor", "objects:detector", "--pca", "colour=3"],
     "a stream of the objects:detector extractor (velocity, appearance, class) and a whole "
     "number of principal components >= 1 (or STREAM=none to keep it whole), e.g. "
     "appearance=128\n"),
    (["--set", "streams=static", "--pca", "static"], "a stream of the objects extractor "
                                                     "(static) and a whole number of principal "
                                                     "components >= 1 (or STREAM=none to keep "
                                                     "it whole), e.g. static=2\n"),
    (["--set", "streams=geometry", "--frame-score", "colour=sidak"],
     "a stream of the objects extractor (geometry), e.g. geometry=sidak"),
    # the example is a stream the extractor computes: objects:detector has no pose stream
    (["--extractor", "objects:detector", "--frame-score", "colour=sidak"],
     "(velocity, appearance, class), e.g. velocity=sidak"),
    (["--pca", "pose=3"], "computes no pose stream (streams: velocity, static)"),
    # the frame-centric extractor names its one stream, before any frame is decoded
    (["--extractor", "frames", "--pca", "appearance=128"], "--pca appearance=...: the frames "
     "extractor computes no appearance stream (streams: frame)\n"),
    (["--extractor", "frames", "--frame-score", "appearance=sidak"], "--frame-score "
     "appearance=...: the frames extractor computes no appearance stream (streams: frame)\n"),
    # the pose and class streams: the extractor that computes them, and how to ask for pose,
    # which objects:detector's default streams leave out
    (["--set", "streams=pose"], "the pose stream needs regions='detector' (person boxes); the "
     "pose stream is computed by --extractor objects:detector\n"),
    (["--set", 'streams=["velocity","class"]'], "the class stream is computed by --extractor "
     "objects:detector\n"),
    # streams that are not a list of names: the extractor's own error, not a crash in the hint
    # (its current value as --set writes it, not as enum reprs)
    (["--set", "streams=5"], "objects extractor setting streams: expected a list (like its "
     "current value ['velocity', 'static']), got 5\n"),
    (["--set", "regions=5"], "setting regions: expected a text (like its current value "
     "'grid'), got 5\n"),
    (["--frame-score", "pose=sidak"], "(streams: velocity, static); the pose stream is computed "
     "by --extractor objects:detector --set 'streams=[\"velocity\",\"appearance\",\"class\","
     "\"pose\"]' (its default streams leave pose out)\n"),
    (["--pca", "class=3"], "--pca class=...: the objects extractor computes no class stream "
     "(streams: velocity, static); the class stream is computed by --extractor "
     "objects:detector\n"),
    (["--frame-score", "pose=foo"], "--frame-score pose=foo: give STREAM=maximum or "
                                    "STREAM=sidak"),
    (["--frame-score", "nose=sidak"], "--frame-score nose=sidak: give STREAM=maximum"),
    (["--frame-score", "velocity"], "--frame-score velocity: give STREAM=maximum"),
    (["--frame-score", "pose=sidak"], "--frame-score pose=...: the objects extractor "
                                      "computes no pose stream (streams: velocity, static)"),
    (["--pca", "none", "velocity=4"], "--pca none turns reduction off for every stream and "
                                      "cannot be combined with per-stream values (velocity=4)"),
    (["--pca", "velocity=4", "--pca", "velocity=2"], "--pca names the velocity stream twice "
                                                     "(velocity=4 and velocity=2): give each "
                                                     "stream once"),
    (["--frame-score", "velocity=sidak", "velocity=maximum"],
     "--frame-score names the velocity stream twice (velocity=sidak and velocity=maximum)")])
def test_train_options_are_checked(tmp_path, capsys, args, message):
    from fakes import write_square_frames

    write_square_frames(tmp_path / "videos" / "a", np.ones(12))
    assert main(["train", str(tmp_path / "videos"), "--out", str(tmp_path / "o"), *args]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_info_summary_names_reduced_streams_folds_and_a_missing_threshold():
    """The summary of a pipeline whose stream is PCA-reduced and Sidak-scored, calibrated
    out-of-fold, without a threshold (the branches the trained knn model does not reach)."""
    from mulde.cli import _pipeline_summary

    described = {
        "path": "m", "mulde_version": "9", "fps": 25.0,
        "extractor": {"name": "objects:detector", "version": "3"},
        "streams": {"appearance": {"model": {"kind": "mulde", "pca": {
            "n_components": 128, "kept": 40, "explained_variance": 0.9}}, "dim": 1280,
            "train_objects": 40, "frame_score": "sidak",
            "calibration": {"low": 0.0, "high": 1.0, "percentile": 99.9}}},
        "ensemble": {"calibrate_on": "objects", "calibration_folds": 2,
                     "fusion": "sum of calibrated streams"},
        "training": {}, "threshold": None}
    assert _pipeline_summary(described) == [
        "pipeline model m (written by mulde 9): objects:detector features (extractor "
        "version 3), 1 stream(s)",
        "  appearance: mulde detector on the first 40 principal components of 1280 features "
        "(128 asked; the training objects span 40), 40 training objects, frame score sidak",
        "calibration: each stream's object scores mapped affinely, the minimum of "
        "out-of-fold training scores (2 folds of the training videos) to 0 and their 99.9th "
        "percentile to 1; fused as the sum of calibrated streams",
        "threshold: none (scores only, no alerts)"]
    # the frame stream is fitted on its distinct windows (a strided extractor's copies out)
    described["streams"] = {"frame": {**described["streams"]["appearance"], "train_objects": 57}}
    assert ", 57 distinct windows, frame score sidak" in _pipeline_summary(described)[1]
    # training videos train skipped are named in the summary too, not in the JSON alone
    described["training"] = {"videos": 2, "frames": 120, "hours": 120 / 25 / 3600,
                             "skipped": [{"split": "train", "video": "c3",
                                          "error": "frames are 50x40"}]}
    lines = _pipeline_summary(described)
    assert lines[lines.index(next(x for x in lines if x.startswith("training: "))) + 1] == (
        "  skipped: 1 training video (first c3: frames are 50x40)")


def test_info_summary_warns_when_the_training_video_cannot_check_the_alarm_rate():
    """A threshold fitted on too little video for its events-per-hour target gets a warning
    line (`ThresholdFit.too_short`) after the threshold; one that can be checked, a quantile
    rule, or an entry of an older manifest without the fields gets none."""
    from mulde.cli import _pipeline_summary
    from mulde.vad.thresholds import ThresholdFit

    def summary(*dropped, **changes):
        fit = ThresholdFit(value=0.5, rule="events_per_hour", target=1.0, patience=10,
                           sigma=3.0, fps=25.0, train_hours=0.1, train_events_per_hour=0.0,
                           resolution_per_hour=10.0, out_of_sample=True)
        threshold = {k: v for k, v in fit.to_dict().items() if k not in dropped} | changes
        return _pipeline_summary({
            "path": "m", "mulde_version": "9", "fps": 25.0,
            "extractor": {"name": "objects", "version": "2"}, "streams": {},
            "ensemble": {"calibrate_on": "frames", "calibration_folds": None,
                         "fusion": "sum of calibrated streams"},
            "training": {}, "threshold": threshold})

    lines = summary()
    assert lines[-2].startswith("threshold: 0.5 on the fused calibrated score")
    assert lines[-1] == ("  warning: the training videos last 6.0 min in all: one false alarm "
                         "there is already 10 per hour, above the target of 1, so the rate "
                         "cannot be checked; train on at least 60 min of normal video for a "
                         "threshold that keeps it")
    for lines in (summary(resolution_per_hour=0.5), summary(rule="quantile", target=0.99),
                  summary(target=0.0), summary("resolution_per_hour")):
        assert lines[-1].startswith("threshold: ")


def test_info_shows_the_warnings_a_model_was_trained_with(tmp_path, capsys):
    """A calibration set by a glitch frame was said when the model was trained; whoever reads
    the model later sees it too: `mulde info` in its summary (under the streams, with its
    class) and in its JSON (`fit_warnings`)."""
    from mulde.vad import StreamEnsemble
    from mulde.vad.artifact import PipelineModel
    from mulde.video.features import ObjectFeatures, Stream, VideoFeatures
    from mulde.video.features.objects import ObjectCentricExtractor

    rng = np.random.default_rng(0)

    def video():
        index = np.repeat(np.arange(30), 2)
        return VideoFeatures.of({Stream.VELOCITY: ObjectFeatures.build(
            rng.normal(size=(60, 3)), index, np.tile([1.0, 1.0, 5.0, 5.0], (60, 1)), 30, 3)})

    train = {f"t{i}": video() for i in range(4)}
    train["t1"][Stream.VELOCITY].features[10:12] += 1e6  # frame 5 of t1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        PipelineModel.fit(ObjectCentricExtractor(streams=("velocity",)), train,
                          StreamEnsemble("knn", calibration_folds=2), fps=10.0).save(
            tmp_path / "model")
    assert main(["info", str(tmp_path / "model"), "--json"]) == 0
    (said,) = json.loads(capsys.readouterr().out)["fit_warnings"]
    assert said["category"] == "mulde.vad.fusion.CalibrationSpikeWarning"
    assert said["message"].startswith("velocity stream: a few training frames score far above")
    assert main(["info", str(tmp_path / "model")]) == 0
    summary = capsys.readouterr().out.split("full description (JSON")[0].splitlines()
    assert summary[1].startswith("  velocity: knn detector on 3 features, ")
    assert summary[2] == f"  warning: {said['message']} (CalibrationSpikeWarning)"


def test_info_shows_the_extractor_settings_its_configuration_uses():
    """Detector settings only with detector regions, pose settings only with the pose
    stream, a stream's own settings only with that stream; what is left out is what the
    extractor does not use: rebuilt from the shown settings it is the same extractor."""
    from mulde.cli import _settings_in_use
    from mulde.vad.artifact import extractor_settings, rebuild_extractor
    from mulde.video.features.registry import build_extractor

    def shown(name, **settings):
        extractor = build_extractor(name, settings=settings)
        used = _settings_in_use(extractor_settings(extractor))
        assert rebuild_extractor(name, extractor.version, used) == extractor
        return used

    plain = shown("objects")
    assert not [k for k in plain if k.startswith(("detector", "pose_", "crop_", "motion_b"))]
    assert {"boxes_dir", "backbone", "weights_path"}.isdisjoint(plain)
    assert {"n_bins", "motion", "dwell_frames", "cell", "flow_preset"} <= set(plain)
    assert "dwell_frames" not in shown("objects:ped2")
    detector = shown("objects:detector")
    assert {"detector_every", "detector_carry", "motion_boxes", "backbone", "crop_size"} <= set(
        detector)
    assert not [k for k in detector if k.startswith("pose_")] and "boxes_dir" not in detector
    assert detector["velocity_regions"] == "grid"  # round 12: the velocity stream's own cells
    assert "velocity_regions" not in shown("objects", streams=["static"])
    pose = shown("objects:detector", streams=["velocity", "pose"])
    assert {"pose_weights", "pose_carry_held"} <= set(pose) and "backbone" not in pose
    frames = extractor_settings(build_extractor("frames"))
    assert _settings_in_use(frames) == frames  # not the object extractor: all of them


def test_pca_option_reads_stream_and_components():
    from argparse import Namespace

    from mulde.cli import UsageError, _pca

    assert _pca(Namespace(pca=None)) is None
    assert _pca(Namespace(pca=["appearance=128", "pose=8"])) == {"appearance": 128, "pose": 8}
    # with no extractor to ask (or one whose settings are wrong), every stream is listed
    everything = "(appearance, class, frame, geometry, pose, static, velocity)"
    for args in (Namespace(pca=["colour=3"]),
                 Namespace(pca=["colour=3"], extractor="objects", set=["streams=colour"])):
        with pytest.raises(UsageError, match=re.escape(f"give STREAM=K, a stream {everything}")):
            _pca(args)


def test_a_stream_the_detector_extractor_leaves_out_is_added_by_its_streams():
    """With detector boxes the pose (and class) stream is one --set streams away: the error
    says that setting; a stream no boxes give gets no hint."""
    from argparse import Namespace

    from mulde.cli import UsageError, _check_streams

    detector = Namespace(streams=("velocity", "appearance", "class"), regions="detector")
    with pytest.raises(UsageError, match=re.escape(
            "--frame-score pose=...: the objects:detector extractor computes no pose stream "
            "(streams: velocity, appearance, class); add it to the streams: --set "
            "'streams=[\"velocity\",\"appearance\",\"class\",\"pose\"]'") + "$"):
        _check_streams("--frame-score", ["pose"], "objects:detector", detector)
    boxes = Namespace(streams=("velocity",), regions="boxes")
    with pytest.raises(UsageError, match=re.escape(
            "add it to the streams: --set 'streams=[\"velocity\",\"class\"]'") + "$"):
        _check_streams("--pca", ["class"], "objects", boxes)
    with pytest.raises(UsageError, match=r"computes no static stream \(streams: velocity\)$"):
        _check_streams("--pca", ["static"], "objects", boxes)


def test_pca_defaults_to_the_presets_and_none_turns_it_off():
    """Unset, --pca is the extractor's (EfficientNet-Lite0's appearance or frame embedding on
    128 components, only where the extractor computes it); --pca none reduces nothing;
    given STREAM=K items change their streams and keep the others' defaults, and
    STREAM=none keeps that stream whole."""
    from argparse import Namespace

    from mulde.cli import _pca, _resolve_pca
    from mulde.video.features.registry import build_extractor

    lite0 = "efficientnet-lite0"
    detector = Namespace(streams=("velocity", "pose", "appearance", "class"), backbone=lite0)
    assert _resolve_pca(None, "objects:detector", detector) == {"appearance": 128}
    assert _resolve_pca(None, "objects:detector",
                        Namespace(streams=("velocity",), backbone=lite0)) is None
    assert _resolve_pca(None, "objects", Namespace(streams=("velocity", "static"))) is None
    frames = build_extractor("frames")  # computes one stream and names none
    assert _resolve_pca(None, "frames", frames) == {"frame": 128}
    assert _resolve_pca({}, "frames", frames) is None
    assert _resolve_pca(None, "frames:hiera", Namespace()) is None
    assert _pca(Namespace(pca=["none"])) == {}
    assert _resolve_pca({}, "objects:detector", detector) is None
    assert _resolve_pca({"pose": 8}, "objects:detector", detector) == {"appearance": 128,
                                                                       "pose": 8}
    assert _resolve_pca({"appearance": 64}, "objects:detector", detector) == {"appearance": 64}
    whole = _pca(Namespace(pca=["appearance=none", "pose=8"]))
    assert whole == {"appearance": 0, "pose": 8}
    assert _resolve_pca(whole, "objects:detector", detector) == {"pose": 8}
    assert _resolve_pca({"appearance": 0}, "objects:detector", detector) is None


def test_the_fit_note_says_which_streams_are_reduced():
    """run and train say before the fits which streams are modelled on principal
    components, whatever the detector and the steps."""
    from argparse import Namespace

    from mulde.cli import _fit_note

    args = Namespace(detector="knn")
    note = _fit_note(args, {}, {"pca": {"appearance": 128}, "fit_jobs": 1})
    assert note == ("mulde: note: modelling the appearance stream on its first 128 principal "
                    "components (--pca appearance=K for another number, --pca "
                    "appearance=none to keep every feature)")
    assert _fit_note(args, {}, {"pca": None, "fit_jobs": 1}) is None
    mulde = _fit_note(Namespace(detector="mulde"), {}, {"pca": {"frame": 128}, "fit_jobs": 2})
    first, second = mulde.split("\n")
    assert "the frame stream on its first 128" in first
    assert second.startswith("mulde: note: the model fits can take many minutes")
    two = _fit_note(args, {}, {"pca": {"appearance": 128, "pose": 8}, "fit_jobs": 1})
    assert two == ("mulde: note: modelling the appearance stream on its first 128, the pose "
                   "stream on its first 8 principal components (--pca STREAM=K for another "
                   "number, --pca STREAM=none to keep that stream whole)")


def test_mulde_params_default_to_the_presets_and_params_win():
    """Round 9 adopted 1,000 MULDE steps for objects:detector: its stream models get them
    unless --params sets max_steps; other extractors and the other detectors get none."""
    from argparse import Namespace

    from mulde.cli import UsageError, _detector_params

    def params(extractor, given=None, detector="mulde"):
        return _detector_params(Namespace(extractor=extractor, detector=detector, params=given,
                                           seed=None))

    assert params("objects:detector") == {"max_steps": 1000}
    assert params("objects:detector", '{"max_steps": 3000, "beta": 0.2}') == {
        "max_steps": 3000, "beta": 0.2}
    assert params("objects:detector", '{"beta": 0.2}') == {"max_steps": 1000, "beta": 0.2}
    assert params("objects:ped2") == params("objects") == params("frames") == {}
    assert params("objects:detector", detector="knn") == {}
    with pytest.raises(UsageError, match="--detector gmm takes none"):
        params("objects:detector", '{"beta": 0.2}', detector="gmm")


def test_calibration_folds_auto_is_the_presets_own_number():
    """Round 8 adopted 2 folds for objects:detector: auto gives 2 there (none for kNN or a
    subsample, fewer with fewer videos); other extractors keep auto (4, resolved by the
    pipeline); a number the user gives is kept."""
    from argparse import Namespace

    from mulde.cli import UsageError, _resolve_folds

    def folds(extractor, given="auto", detector="mulde", videos=16, subsample=None):
        args = Namespace(extractor=extractor, detector=detector)
        training = {"calibration_folds": given, "max_train_objects": subsample}
        return _resolve_folds(training, args, Namespace(train=[None] * videos))

    assert folds("objects:detector") == 2
    assert folds("objects:detector", videos=1) is None
    assert folds("objects:detector", detector="knn") is None
    assert folds("objects:detector", subsample=1000) is None
    assert folds("objects:detector", given=4) == 4
    assert folds("objects:detector", given=None) is None
    assert folds("objects:ped2") == folds("frames") == "auto"
    # a number the listed videos cannot fill is refused before any extraction
    with pytest.raises(UsageError, match="--calibration-folds 5 needs at least 5 training "
                       "videos, 4 are listed"):
        folds("objects:ped2", given=5, videos=4)
    assert folds("objects:ped2", given=4, videos=4) == 4


def test_frame_score_option_gives_each_stream_one_rule():
    """A stream named twice is refused (it used to take the last rule silently), also with
    the same rule twice; maximum names the default rule explicitly."""
    from argparse import Namespace

    from mulde.cli import UsageError, _frame_score, _pca

    assert _frame_score(Namespace(frame_score=None)) is None
    assert _frame_score(Namespace(frame_score=["pose=sidak", "velocity=sidak"])) == [
        "pose", "velocity"]
    assert _frame_score(Namespace(frame_score=["pose=maximum", "velocity=sidak"])) == [
        "velocity"]
    for twice in (["pose=sidak", "pose=maximum"], ["pose=sidak", "pose=sidak"]):
        with pytest.raises(UsageError, match="--frame-score names the pose stream twice"):
            _frame_score(Namespace(frame_score=twice))
    with pytest.raises(UsageError, match=r"--pca names the pose stream twice \(pose=8 and "
                       r"pose=8\)"):
        _pca(Namespace(pca=["pose=8", "pose=8"]))
    assert _pca(Namespace(pca=["none", "none"])) == {}


def test_fit_jobs_default_to_the_threads():
    """Unset, --fit-jobs is --threads, else PyTorch's thread count (1 here: conftest)."""
    from argparse import Namespace

    from mulde.cli import _fit_jobs

    assert _fit_jobs(Namespace(fit_jobs=None, threads=3)) == 3
    assert _fit_jobs(Namespace(fit_jobs=None, threads=None)) == 1
    assert _fit_jobs(Namespace(fit_jobs=2, threads=1)) == 2


def test_train_refuses_a_folder_without_videos_and_info_a_broken_model(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["train", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    assert "no videos" in capsys.readouterr().err
    model = tmp_path / "m"
    model.mkdir()
    (model / "pipeline.json").write_text('{"format": "mulde-pipeline", "format_')
    assert main(["info", str(model)]) == 2
    err = capsys.readouterr().err
    assert "pipeline.json: not readable JSON" in err and "Traceback" not in err
    (tmp_path / "clip.mp4").write_bytes(b"\x00" * 64)  # a video given as the model
    for given in (tmp_path / "clip.mp4", tmp_path / "empty"):
        assert main(["info", str(given)]) == 2
        err = capsys.readouterr().err
        assert "is not a model: `mulde info` takes" in err and err.count("\n") == 1


def test_extractor_weights_come_from_the_command_line(tmp_path, capsys):
    from fakes import write_square_frames

    for split, name in (("train", "t0"), ("test", "a")):
        write_square_frames(tmp_path / "data" / split / name, np.ones(20))
    args = ["extract", "folder", "--root", str(tmp_path / "data"), "--cache",
            str(tmp_path / "cache"), "--extractor", "frames:hiera", "--threads", "1"]
    assert main([*args, "--weights", str(tmp_path / "missing.pth")]) == 2
    err = capsys.readouterr().err
    assert f"--weights {tmp_path / 'missing.pth'}: no such file; give a local weights file of " \
        "the hiera backbone" in err


def test_extractor_settings_from_the_command_line(tmp_path, capsys):
    from fakes import write_square_frames

    from mulde.video.features.registry import build_extractor

    ex = build_extractor("objects:ped2", settings={"motion": "translation", "cell": 24})
    assert (ex.motion, ex.cell, ex.n_bins) == ("translation", 24, 1)
    assert build_extractor("objects", settings={"streams": "velocity"}).streams == ("velocity",)
    for split, name in (("train", "t0"), ("test", "a")):
        write_square_frames(tmp_path / "data" / split / name, np.ones(12))
    args = ["extract", "folder", "--root", str(tmp_path / "data"), "--cache",
            str(tmp_path / "cache"), "--threads", "1", "--extractor", "objects:velocity"]
    assert main([*args, "--set", "celll=24"]) == 2
    assert "no setting celll (did you mean cell?); settable:" in capsys.readouterr().err
    assert main([*args, "--set", "cell"]) == 2
    assert "expected KEY=VALUE" in capsys.readouterr().err
    assert main([*args, "--set", 'streams=["velocity","appearance"]', "backbone=clip",
                 "--weights", str(tmp_path / "junk.pt")]) == 2  # missing weights stop the run
    assert "junk.pt" in capsys.readouterr().err
    assert main([*args, "--set", "motion=translation", "--set", "n_bins=1"]) == 0  # both kept
    sidecars = list((tmp_path / "cache").rglob("*.json"))
    assert sidecars and all('"translation"' in p.read_text() for p in sidecars)
    assert all('"n_bins": 1' in p.read_text() for p in sidecars)


def test_the_detector_preset_on_a_dataset_takes_its_velocity_bins():
    """`mulde run/extract DATASET --extractor objects:detector` follows the dataset's published
    velocity bins (UCSD Ped2: 1) unless --set n_bins says otherwise."""
    import argparse
    from types import SimpleNamespace

    from mulde.cli import _extractor

    def extractor(*settings):
        args = argparse.Namespace(extractor="objects:detector", weights=None, boxes=None,
                                  min_box_score=0.0, set=list(settings))
        return _extractor(args, SimpleNamespace(velocity_bins=1))

    try:
        assert extractor().n_bins == 1
    except ValueError as err:  # UsageError: no detector weights installed here
        pytest.skip(f"no SSD weights: {err}")
    assert extractor("n_bins=8").n_bins == 8


def _python(code: str, **env: str) -> str:
    """Run code in a fresh interpreter whose environment names no OpenMP wait policy."""
    base = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    src = str(Path(__file__).resolve().parents[1] / "src")
    base["PYTHONPATH"] = os.pathsep.join([src, base.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-c", code], env=base | env, capture_output=True,
                          text=True, check=True, timeout=120)
    return done.stdout.strip()


def test_importing_mulde_leaves_the_openmp_wait_policy_alone():
    """A library must not change its host process's settings (issue 12)."""
    code = ("import os, mulde; from mulde import MULDE; import torch; "
            "print(os.environ.get('OMP_WAIT_POLICY'))")
    assert _python(code) == "None"


def test_the_command_sets_passive_waits_before_torch_loads(tmp_path):
    code = ("import os, sys; from mulde.cli import main; assert 'torch' not in sys.modules; "
            f"rc = main(['evaluate', {str(tmp_path / 'missing.csv')!r}, '--out', "
            f"{str(tmp_path / 'out')!r}]); print(rc, os.environ.get('OMP_WAIT_POLICY'))")
    assert _python(code) == "2 PASSIVE"


def test_process_settings_keep_a_given_policy_and_skip_a_loaded_torch(monkeypatch):
    from mulde.cli import process_settings

    monkeypatch.delitem(sys.modules, "torch")  # as if torch were not loaded yet
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    process_settings()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
    monkeypatch.delenv("OMP_WAIT_POLICY")
    process_settings()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.undo()  # torch is back in sys.modules: too late for OpenMP, so no change
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    process_settings()
    assert "OMP_WAIT_POLICY" not in os.environ
    monkeypatch.undo()


def test_ray_options_need_the_ray_engine(tmp_path, capsys):
    assert main(["extract", "folder", "--root", str(tmp_path), "--cache", str(tmp_path / "c"),
                 "--workers", "2"]) == 2
    assert "--workers apply to --engine ray only" in capsys.readouterr().err


def test_cli_fit_refuses_a_full_or_unwritable_output_before_training(tmp_path, monkeypatch,
                                                                    capsys):
    np.save(tmp_path / "x.npy", np.random.default_rng(5).standard_normal((50, 2)))
    params = json.dumps({"hidden_sizes": [8], "max_steps": 100000})  # would take minutes
    _disk_with(monkeypatch, 1_000)
    from mulde.estimator.model import MULDE

    def trained(*args, **kwargs):
        raise AssertionError("trained before the output was checked")

    monkeypatch.setattr(MULDE, "fit", trained)  # refused before any training
    assert main(["fit", str(tmp_path / "x.npy"), "--out", str(tmp_path / "m.safetensors"),
                 "--params", params, "--quiet"]) == 2
    assert not (tmp_path / "m.safetensors").exists()
    assert "only 1,000 bytes" in capsys.readouterr().err
    monkeypatch.undo()
    blocker = tmp_path / "file"
    blocker.write_text("x")  # a file where the output folder should be
    assert main(["fit", str(tmp_path / "x.npy"), "--out", str(blocker / "m.safetensors"),
                 "--params", params, "--quiet"]) == 2
    assert "file: a file, not a folder; give a folder for the outputs" in \
        capsys.readouterr().err


def test_the_top_level_help_is_for_users(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "Video anomaly detection with MULDE" in out and "process-wide" not in out


@pytest.mark.parametrize("command", ["run", "train"])
def test_the_detector_option_says_what_each_detector_is(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps at spaces and hyphens
    assert "--detector {mulde,knn,gmm} each stream's density model: mulde (" in out
    from mulde.cli import build_parser

    detector, = (a for a in build_parser().subcommands[command]._actions
                 if a.dest == "detector")
    assert detector.help == ("each stream's density model: mulde (multiscale log-density "
                             "estimation), knn (distance to the nearest training object, "
                             "AI-VAD's) or gmm (Gaussian mixture of 5 components) (default: "
                             "mulde)")


def test_run_and_train_name_the_options_that_make_the_fits_faster(tmp_path, monkeypatch):
    """Before the model fits (minutes on a CPU), run and train name --fit-jobs and --params
    max_steps with their values now; not for kNN or GMM, whose fits are quick."""
    import mulde.pipeline
    from mulde.datasets import DatasetError
    from mulde.demo.scene import generate_scene

    root = generate_scene(tmp_path / "scene", n_train=2, n_test=1, n_frames=10, seed=1)
    notes: list[str | None] = []

    def stop(*args, fit_note=None, **kwargs):
        notes.append(fit_note)
        raise DatasetError("stopped before any work")

    monkeypatch.setattr(mulde.pipeline, "run_pipeline", stop)
    monkeypatch.setattr(mulde.pipeline, "train_pipeline", stop)
    common = ["--out", str(tmp_path / "out"), "--fit-jobs", "3"]
    assert main(["run", "folder", "--root", str(root), *common]) == 2
    assert main(["train", str(root / "train"), *common, "--params",
                 '{"max_steps": 800}']) == 2
    assert main(["run", "folder", "--root", str(root), *common, "--detector", "knn"]) == 2
    # training by epochs alone (max_steps null): no step count to quarter, no crash
    assert main(["train", str(root / "train"), *common, "--params",
                 '{"max_steps": null, "n_epochs": 2}']) == 2
    # a quick run (seconds per fit): no note
    assert main(["train", str(root / "train"), *common, "--params", '{"max_steps": 499}']) == 2
    assert notes == [
        "mulde: note: the model fits can take many minutes on a CPU; to make them faster: "
        "--fit-jobs N fits the stream models in N processes (now 3), --params "
        "'{\"max_steps\": 500}' trains 500 steps instead of 2000 (faster, rougher)",
        "mulde: note: the model fits can take many minutes on a CPU; to make them faster: "
        "--fit-jobs N fits the stream models in N processes (now 3), --params "
        "'{\"max_steps\": 200}' trains 200 steps instead of 800 (faster, rougher)",
        None,
        "mulde: note: the model fits can take many minutes on a CPU; to make them faster: "
        "--fit-jobs N fits the stream models in N processes (now 3)", None]


@pytest.mark.parametrize("command", [[], ["run"], ["fit"], ["watch"]])
def test_help_loads_neither_torch_nor_scipy(command):
    """`mulde --help` and a command's `--help` answer without importing the numeric stack
    (seconds on a small machine); the user-error classes are imported only when one is
    raised."""
    code = ("import sys\nfrom mulde.cli import main\ntry:\n"
            f"    main({[*command, '--help']!r})\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('torch', 'scipy', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=ENV, cwd=REPO).stdout.strip().splitlines()[-1]
    assert out == "[]"


def test_fit_says_when_a_csv_first_row_is_taken_for_a_header(tmp_path, capsys):
    """pandas' default names 0, 1, 2 (and named columns) are a header, and `mulde fit` says
    so on stderr before fitting (a misread row is seen before hours of training); a first
    row of numbers that is data is not mentioned."""
    rng = np.random.default_rng(0)
    rows = "\n".join(",".join(f"{v:.3f}" for v in r) for r in rng.standard_normal((40, 3)))
    small = json.dumps({"hidden_sizes": [8], "max_steps": 5, "batch_size": 64, "n_levels": 4})
    for name, head in (("pandas", "0,1,2\n"), ("named", "a,b,c\n"), ("plain", "")):
        (tmp_path / f"{name}.csv").write_text(head + rows + "\n")
        assert main(["fit", str(tmp_path / f"{name}.csv"), "--out",
                     str(tmp_path / f"{name}.safetensors"), "--params", small, "--quiet"]) == 0
    captured = capsys.readouterr()
    out, err = captured.out.splitlines(), captured.err.splitlines()
    assert err[0] == (f"mulde: note: {tmp_path / 'pandas.csv'}: the first row is a header of "
                      "column names (0, 1, 2), not a sample")
    assert "(a, b, c)" in err[1] and len(err) == 2
    assert len(out) == 3 and all(line.startswith("fitted on 40 x 3 features") for line in out)
    def fitted(name: str, model: str):  # `mulde fit name.csv --out model.safetensors`
        assert main(["fit", str(tmp_path / f"{name}.csv"), "--out",
                     str(tmp_path / f"{model}.safetensors"), "--params", small,
                     "--quiet"]) == 0
        return capsys.readouterr()

    # two columns of whole numbers under "0,1": kept as a sample, and said
    (tmp_path / "ints.csv").write_text("0,1\n" + "\n".join(f"{i},{i % 7}" for i in range(40)))
    captured = fitted("ints", "i")
    assert captured.err.splitlines() == [
        f"mulde: warning: {tmp_path / 'ints.csv'}: the first row (0, 1) is taken as a sample; "
        "if it is pandas' header of column numbers, remove it (to_csv(index=False, "
        "header=False)) and fit again"]
    assert captured.out.startswith("fitted on 41 x 2 features")
    # years over whole numbers (a newcomer's pandas file): a sample too, and said so
    ints = np.round(rng.standard_normal((40, 3)) * 100).astype(int)
    (tmp_path / "years.csv").write_text(
        "2019,2020,2021\n" + "\n".join(",".join(map(str, r)) for r in ints) + "\n")
    captured = fitted("years", "y")
    assert captured.err.splitlines() == [
        f"mulde: warning: {tmp_path / 'years.csv'}: the first row (2019, 2020, 2021) is taken "
        "as a sample; if it is a header of column names (such as years), give the columns "
        "names that are not numbers (e.g. y2019) or remove it (to_csv(index=False, "
        "header=False)), and fit again"]
    assert captured.out.startswith("fitted on 41 x 3 features")
    # one column under a year (a re-check's file): a sample, said in one column's words
    (tmp_path / "year.csv").write_text("2019\n" + "\n".join(map(str, ints[:, 0])) + "\n")
    captured = fitted("year", "y1")
    assert captured.err.splitlines() == [
        f"mulde: warning: {tmp_path / 'year.csv'}: the first row (2019) is taken as a sample; "
        "if it is a header of column names (such as years), give the column a name that is "
        "not a number (e.g. y2019) or remove it (to_csv(index=False, header=False)), and fit "
        "again"]
    assert captured.out.startswith("fitted on 41 x 1 feature ")
    # the same files scored: the first row gets a score of its own, and that is said
    for name, model, first in (("years", "y", "2019, 2020, 2021"), ("ints", "i", "0, 1")):
        out = tmp_path / f"{name}_scores.csv"
        assert main(["score", str(tmp_path / f"{model}.safetensors"),
                     str(tmp_path / f"{name}.csv"), "--out", str(out)]) == 0
        captured = capsys.readouterr()
        assert captured.err.splitlines()[0].startswith(
            f"mulde: warning: {tmp_path / f'{name}.csv'}: the first row ({first}) is scored as "
            "a sample; if it is ")
        assert captured.err.rstrip().endswith("and score again")
        assert captured.out.startswith("wrote 41 anomaly scores")
    # a header the model was fitted with is a header when scored: nothing said
    assert main(["score", str(tmp_path / "named.safetensors"), str(tmp_path / "named.csv"),
                 "--out", str(tmp_path / "named_scores.csv")]) == 0
    assert capsys.readouterr().err == ""
    # a header scored by a model fitted without names: taken, and said to be unchecked
    assert main(["score", str(tmp_path / "plain.safetensors"), str(tmp_path / "named.csv"),
                 "--out", str(tmp_path / "plain_scores.csv")]) == 0
    assert capsys.readouterr().err.splitlines() == [
        f"mulde: note: {tmp_path / 'named.csv'}: the first row is a header of column names "
        f"(a, b, c), not a sample; {tmp_path / 'plain.safetensors'} was fitted without "
        "column names, so they are not checked: the columns must be the ones it was fitted "
        "on, in the same order (a model fitted on a CSV with a header checks them)"]


def test_fit_names_the_header_before_it_fits(tmp_path, capsys, monkeypatch):
    """The header note comes before training: a fit stopped early has already said it."""
    from mulde import MULDE

    def interrupted(self, X, y=None):
        raise KeyboardInterrupt
    monkeypatch.setattr(MULDE, "fit", interrupted)
    rows = "\n".join(f"{i % 5},{i % 3}.5" for i in range(40))
    (tmp_path / "named.csv").write_text("a,b\n" + rows)
    assert main(["fit", str(tmp_path / "named.csv"), "--out",
                 str(tmp_path / "m.safetensors")]) == 130  # interrupted
    assert "the first row is a header of column names (a, b)" in capsys.readouterr().err


def test_fit_off_a_terminal_says_it_can_take_minutes_before_it_fits(tmp_path, capsys,
                                                                     monkeypatch):
    """Off a terminal there is no progress bar, so a fit of the default's steps says, before
    training, what it fits and that it can take minutes; --quiet silences it, and a fit of
    few steps (seconds) has nothing to say."""
    from mulde import MULDE

    def interrupted(self, X, y=None):
        raise KeyboardInterrupt
    monkeypatch.setattr(MULDE, "fit", interrupted)
    (tmp_path / "x.csv").write_text("\n".join(f"{i % 5},{i % 3}.5" for i in range(40)))
    out = str(tmp_path / "m.safetensors")
    assert main(["fit", str(tmp_path / "x.csv"), "--out", out]) == 130  # interrupted
    err = capsys.readouterr().err
    assert ("mulde: note: fitting 40 rows x 2 features (at most 2000 steps); on a CPU this can "
            "take minutes (a progress bar shows on a terminal)") in err
    assert main(["fit", str(tmp_path / "x.csv"), "--out", out, "--quiet"]) == 130
    assert main(["fit", str(tmp_path / "x.csv"), "--out", out,
                 "--params", '{"max_steps": 300}']) == 130
    assert "can take" not in capsys.readouterr().err
    # training by epochs (no step cap): its epochs and about as many steps (40 rows, 1 batch)
    assert main(["fit", str(tmp_path / "x.csv"), "--out", out,
                 "--params", '{"max_steps": null, "n_epochs": 600}']) == 130
    assert "(600 epochs, about 600 steps); on a CPU this can take minutes" in (
        capsys.readouterr().err)
    # an epoch limit under the step cap: 1 epoch of 40 rows is one step, nothing to announce
    assert main(["fit", str(tmp_path / "x.csv"), "--out", out,
                 "--params", '{"n_epochs": 1}']) == 130
    assert "can take" not in capsys.readouterr().err
    assert main(["fit", str(tmp_path / "x.csv"), "--out", out, "--preset", "paper"]) == 130
    assert "(1000 epochs, about 1000 steps); on a CPU this can take hours (a GPU job)" in (
        capsys.readouterr().err)


def test_fit_says_when_training_stopped_early(tmp_path, capsys):
    """The closing line says that early stopping ended training and whose weights were kept
    (a newcomer saw "800 steps" after "at most 2000" with no reason)."""
    from mulde import MULDE

    x = np.random.default_rng(0).standard_normal((300, 2))
    np.savetxt(tmp_path / "x.csv", x, delimiter=",")
    params = json.dumps({"hidden_sizes": [8], "max_steps": 3000, "batch_size": 64,
                         "n_levels": 4, "patience": 1, "n_members": 1})
    assert main(["fit", str(tmp_path / "x.csv"), "--out", str(tmp_path / "m.safetensors"),
                 "--params", params]) == 0
    out = capsys.readouterr().out
    result = MULDE.load(tmp_path / "m.safetensors").train_result_
    assert result.stopped_early and result.steps < 3000
    assert (f"({result.steps} steps, stopped early with step {result.best_step}'s weights at "
            "lr ") in out


def test_a_closed_or_missing_stderr_is_no_terminal(monkeypatch):
    """Progress bars are drawn on a terminal only; a closed stderr, or none (pythonw), is
    none, not an error."""
    import io

    from mulde.cli import _on_terminal

    closed = io.StringIO()
    closed.close()
    monkeypatch.setattr(sys, "stderr", closed)
    assert _on_terminal() is False
    monkeypatch.setattr(sys, "stderr", None)
    assert _on_terminal() is False


def test_extract_draws_its_progress_bar_on_a_terminal_and_a_note_off_one(tmp_path, capsys,
                                                                       monkeypatch):
    """On a terminal `mulde extract` draws its bar (videos/s); redirected, it draws none and
    says once, before extracting, how many videos it extracts, and how many it reads back
    from the cache (all cached: that alone, not that it can take minutes)."""
    from mulde.demo.scene import generate_scene

    root = generate_scene(tmp_path / "scene", n_train=1, n_test=1, n_frames=12, seed=1)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(["extract", "folder", "--root", str(root), "--cache",
                 str(tmp_path / "c1")]) == 0
    err = capsys.readouterr().err
    assert "video/s" in err and "extracting the features" not in err
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert main(["extract", "folder", "--root", str(root), "--cache",
                 str(tmp_path / "c2")]) == 0
    err = capsys.readouterr().err
    assert "video/s" not in err
    assert ("mulde: note: extracting the features of 2 videos; this can take minutes, and no "
            "progress bar shows off a terminal") in err
    assert main(["extract", "folder", "--root", str(root), "--cache",
                 str(tmp_path / "c2")]) == 0
    err = capsys.readouterr().err
    assert "mulde: note: reading the features of 2 videos from the cache\n" in err
    assert "extracting" not in err
    assert main(["extract", "folder", "--root", str(root), "--cache", str(tmp_path / "c3"),
                 "--shard", "0/2"]) == 0
    assert "extracting the features of 1 video;" in capsys.readouterr().err
    assert main(["extract", "folder", "--root", str(root), "--cache",
                 str(tmp_path / "c3")]) == 0
    assert ("mulde: note: extracting the features of 1 video (1 more read back from the "
            "cache); this can take minutes") in capsys.readouterr().err


def test_fit_warns_of_a_column_that_counts_the_rows(tmp_path, capsys):
    """An id column (1, 2, ..., n) is fitted as a feature, so `mulde fit` names it, before
    fitting, with what to do; a file without one says nothing of it."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 2))
    small = json.dumps({"hidden_sizes": [8], "max_steps": 5, "batch_size": 64, "n_levels": 4})
    (tmp_path / "ids.csv").write_text("x,id,y\n" + "\n".join(
        f"{a:.3f},{i + 1},{b:.3f}" for i, (a, b) in enumerate(X)) + "\n")
    assert main(["fit", str(tmp_path / "ids.csv"), "--out", str(tmp_path / "m.safetensors"),
                 "--params", small, "--quiet"]) == 0
    err = capsys.readouterr().err
    assert (f"mulde: warning: {tmp_path / 'ids.csv'}: column 2 ('id') counts the rows (1, 2, "
            "..., 40): a row index or id, not a feature") in err
    order = rng.permutation(40)  # shuffled since the id was given: each of 1..40 once
    (tmp_path / "shuffled.csv").write_text("x,id,y\n" + "\n".join(
        f"{X[i, 0]:.3f},{i + 1},{X[i, 1]:.3f}" for i in order) + "\n")
    assert main(["fit", str(tmp_path / "shuffled.csv"), "--out", str(tmp_path / "s.safetensors"),
                 "--params", small, "--quiet"]) == 0
    assert (f"mulde: warning: {tmp_path / 'shuffled.csv'}: column 2 ('id') holds each whole "
            "number from 1 to 40 once: a row index or id, not a feature") in capsys.readouterr().err
    np.savetxt(tmp_path / "plain.csv", X, delimiter=",")
    assert main(["fit", str(tmp_path / "plain.csv"), "--out", str(tmp_path / "p.safetensors"),
                 "--params", small, "--quiet"]) == 0
    assert "row index" not in capsys.readouterr().err


def test_info_names_the_columns_a_model_was_fitted_on(tmp_path, capsys):
    """A CSV with a header stores its column names, which `score` checks; info shows them
    (the first four and the last of more than five), and a model of plain rows names none."""
    rng = np.random.default_rng(0)
    small = json.dumps({"hidden_sizes": [8], "max_steps": 5, "batch_size": 64, "n_levels": 4})
    for name, cols in (("wide", [f"f{i}" for i in range(7)]), ("narrow", ["a", "b"]),
                       ("plain", None)):
        rows = "\n".join(",".join(f"{v:.3f}" for v in r)
                         for r in rng.standard_normal((40, len(cols or "xy"))))
        head = ",".join(cols) + "\n" if cols else ""
        (tmp_path / f"{name}.csv").write_text(head + rows + "\n")
        assert main(["fit", str(tmp_path / f"{name}.csv"), "--out",
                     str(tmp_path / f"{name}.safetensors"), "--params", small, "--quiet"]) == 0
    capsys.readouterr()
    firsts = []
    for name in ("wide", "narrow", "plain"):
        assert main(["info", str(tmp_path / f"{name}.safetensors")]) == 0
        firsts.append(capsys.readouterr().out.splitlines()[0])
    assert firsts[0].endswith(" parameters; columns f0, f1, f2, f3, ..., f6 (7 in all)")
    assert firsts[1].endswith(" parameters; columns a, b")
    assert firsts[2].endswith(" parameters")


def test_column_lists_quote_commas_cut_long_names_and_shorten_long_lists():
    """One way to list columns (fit's header line, info, score's refusal): a name with a
    comma or surrounding spaces quoted, one over 40 characters cut, more than first + 1
    names as the first ones, "...", the last and the count."""
    from mulde.cli import _columns

    assert _columns(["a, b", "c", " d"]) == "'a, b', c, ' d'"
    assert _columns(["x" * 50]) == "x" * 37 + "..."
    assert _columns([f"f{i}" for i in range(5)]) == "f0, f1, f2, f3, f4"
    assert _columns([f"f{i}" for i in range(9)], first=2) == "f0, f1, ..., f8 (9 in all)"


def test_info_json_keeps_unicode_column_names_readable(tmp_path, capsys):
    rows = "\n".join(f"{i * 0.1:.2f},{i * 0.2:.2f}" for i in range(40))
    (tmp_path / "u.csv").write_text("température,vitesse\n" + rows + "\n")
    small = json.dumps({"hidden_sizes": [8], "max_steps": 5, "batch_size": 64, "n_levels": 4})
    assert main(["fit", str(tmp_path / "u.csv"), "--out", str(tmp_path / "u.safetensors"),
                 "--params", small, "--quiet"]) == 0
    capsys.readouterr()
    assert main(["info", str(tmp_path / "u.safetensors"), "--json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["feature_names"] == ["température", "vitesse"]
    assert '"température"' in out


def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"mulde {mulde.__version__}"


def test_fit_and_info_say_how_many_networks_trained_on_what_share(features, capsys):
    """Round 27's default on 200 rows: 4 networks, each on half of the rows; fit and info
    say so (one network on 1,200 rows says nothing of it)."""
    out = features / "m.safetensors"
    assert main(["fit", str(features / "train.npy"), "--out", str(out), "--params", PARAMS,
                 "--quiet"]) == 0
    assert ('4 networks ("auto": fewer than 501 rows), each on 0.5 of the rows); saved'
            in capsys.readouterr().out)
    assert main(["info", str(out)]) == 0
    assert ('3 features, 4 networks of 16x16 (n_members "auto" for 200 rows: fewer than 501 '
            "rows), each trained on 0.5 of the rows, ") in capsys.readouterr().out
    # a file from before the rows were recorded (no n_rows): "auto" without the reason
    edit_model_file(out, features / "older.safetensors", drop_record=["n_rows"])
    assert main(["info", str(features / "older.safetensors")]) == 0
    assert ('3 features, 4 networks of 16x16 (n_members "auto"), each trained on 0.5 of the '
            "rows, ") in capsys.readouterr().out
    np.save(features / "big.npy", np.random.default_rng(1).standard_normal((1200, 3)))
    assert main(["fit", str(features / "big.npy"), "--out", str(out), "--params", PARAMS,
                 "--quiet", "--overwrite"]) == 0
    assert "networks" not in capsys.readouterr().out
    assert main(["info", str(out)]) == 0
    assert "3 features, 1 network of 16x16, " in capsys.readouterr().out
    # a number given is not "auto": no reason in fit, none in info
    assert main(["fit", "--overwrite", str(features / "train.npy"), "--out", str(out), "--params",
                 json.dumps(json.loads(PARAMS) | {"n_members": 3}), "--quiet"]) == 0
    assert ", 3 networks, each on 0.5 of the rows); saved" in capsys.readouterr().out
    assert main(["info", str(out)]) == 0
    assert "3 features, 4 networks" not in (said := capsys.readouterr().out)
    assert "3 networks of 16x16, each trained on 0.5 of the rows, " in said


def test_train_lists_a_reduced_stream_with_its_principal_components():
    """`mulde train`'s summary line says which streams see principal components (the
    `frames` extractor's default 128), and how many the rows gave."""
    from types import SimpleNamespace

    from mulde.cli import _stream_line
    from mulde.vad.stream_models import PCAStream

    class First:  # a stream model scoring by its first feature
        def fit(self, X, groups):
            return self

    rows = np.random.default_rng(0).normal(size=(6, 4))
    reduced = PCAStream(First(), 128).fit(rows, np.zeros(6, int))  # 6 rows span 4 of 4
    one = PCAStream(First(), 1).fit(rows, np.zeros(6, int))
    fits = {"frame": SimpleNamespace(model=reduced, dim=5), "pose": SimpleNamespace(
        model=one, dim=4), "static": SimpleNamespace(model=reduced, dim=4),
        "velocity": SimpleNamespace(model=First(), dim=1)}
    model = SimpleNamespace(ensemble=SimpleNamespace(fits_=fits))
    assert _stream_line(model, "frame") == ("frame on 4 principal components of 5 features "
                                            "(128 asked; the training objects span 4)")
    assert _stream_line(model, "pose") == "pose on 1 principal component of 4 features"
    assert _stream_line(model, "static") == "static"  # all its features kept: no reduction
    assert _stream_line(model, "velocity") == "velocity"


def test_fit_warns_of_a_column_of_one_value_whose_std_rounds_above_zero(tmp_path):
    """`mulde fit` says a column of one value is constant though its computed std is not 0
    (on 1,654 rows, numpy's row-by-row sums leave ~1e-15, as in ADBench cardio's column 5 of
    its normal rows but one): it is centred, not scaled by 1e-8."""
    from mulde.estimator.model import ConstantFeaturesWarning

    X = np.random.default_rng(0).standard_normal((1654, 3))
    X[:, 1] = -0.061400640063
    assert X.std(axis=0, ddof=1)[1] > 0
    np.save(tmp_path / "x.npy", X)
    with pytest.warns(ConstantFeaturesWarning, match=r"^1 of the 3 features has the same "
                      r"value in every training sample \(column 1, counting from 0\)"):
        assert main(["fit", str(tmp_path / "x.npy"), "--out", str(tmp_path / "m.safetensors"),
                     "--quiet", "--params", '{"max_steps": 1, "hidden_sizes": [8]}']) == 0
    assert mulde.MULDE.load(tmp_path / "m.safetensors").scale_[1] == 1.0
    # a CSV's header names the column, as a DataFrame's names would
    np.savetxt(tmp_path / "x.csv", X[:200], delimiter=",", header="speed,const,size",
               comments="")
    with pytest.warns(ConstantFeaturesWarning, match=r"^1 of the 3 features has the same "
                      r"value in every training sample \(column 'const'\)"):
        assert main(["fit", str(tmp_path / "x.csv"), "--out", str(tmp_path / "c.safetensors"),
                     "--quiet", "--params", '{"max_steps": 1, "hidden_sizes": [8]}']) == 0


def test_run_prints_the_metrics_notes_after_the_aucs(capsys, tmp_path):
    """`mulde run` prints metrics.json's notes (e.g. the padded macro AUC's single-class
    videos) as `mulde evaluate` does, one `note:` line each after the AUCs."""
    from mulde.cli import _print_metrics

    _print_metrics({"micro_auc": 0.9, "macro_auc": 0.8,
                    "notes": ["4 of the 12 videos hold a single class"]}, tmp_path)
    out = capsys.readouterr().out.splitlines()
    assert out[out.index("}") + 1] == "note: 4 of the 12 videos hold a single class"


def test_run_says_its_alert_events_plainly_none_included(capsys, tmp_path):
    """The run's last lines count the events and the test videos that have any; with none,
    "no events in the 3 test videos" (not "0 events in 0 of 3 ... listed in the report")."""
    from mulde.cli import _print_metrics

    threshold = {"value": 1.25}
    _print_metrics({"threshold": threshold, "events": {"a": [{}, {}], "b": [], "c": []}},
                   tmp_path)
    assert ("alert threshold 1.25: 2 events in 1 of 3 test videos (listed in the report and "
            "metrics.json)") in capsys.readouterr().out.splitlines()
    _print_metrics({"threshold": threshold, "events": {"a": [], "b": [], "c": []}}, tmp_path)
    assert "alert threshold 1.25: no events in the 3 test videos" in (
        capsys.readouterr().out.splitlines())
    _print_metrics({"threshold": threshold, "events": {"a": []}}, tmp_path)
    out = capsys.readouterr().out.splitlines()
    assert "alert threshold 1.25: no events in the 1 test video" in out
    assert not [line for line in out if "mulde watch" in line]  # no model/ folder here
    (tmp_path / "model").mkdir()  # a run's model: the next step said, as the demo says it
    _print_metrics({"threshold": threshold, "events": {"a": []}}, tmp_path)
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"watch a camera, stream or video with the model: mulde watch {tmp_path / 'model'} "
        "SOURCE --out DIR")


def test_a_run_opens_an_unreadable_video_once_and_names_it_once(tmp_path, capsys,
                                                                 monkeypatch):
    """A test video cut in its header (labels.csv names it: the loader probes it) and a
    training video cut in its frames (the scene background probes and decodes it first):
    the run skips each, opening the first once and the second twice (its header read by
    the probe, its frames decoded once, where it failed), and names each in one skip line
    and one entry of skipped_videos (it opened them 2 and 4 times)."""
    import av
    from fakes import write_square_frames, write_video

    root = tmp_path / "data"
    rng = np.random.default_rng(0)
    for i in range(2):
        write_square_frames(root / "train" / f"t{i}", 1.0 + 0.1 * rng.standard_normal(12))
    write_square_frames(root / "test" / "ok", 2.0 + 0.1 * rng.standard_normal(12))
    data = write_video(tmp_path / "whole.avi", 30, size=(40, 120)).read_bytes()
    (root / "train" / "cut.avi").write_bytes(data[:len(data) * 6 // 10])
    (root / "test" / "garbage.avi").write_bytes(data[:len(data) // 3])
    (root / "labels.csv").write_text("video,start,end\nok,5,9\ngarbage,3,4\n")
    opened: dict[str, int] = {}
    real = av.open

    def counting(path, *args, **kwargs):
        opened[Path(str(path)).name] = opened.get(Path(str(path)).name, 0) + 1
        return real(path, *args, **kwargs)

    monkeypatch.setattr(av, "open", counting)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the short training video's threshold, the rate
        assert main(["run", "folder", "--root", str(root), "--out", str(tmp_path / "out"),
                     "--detector", "knn", "--fit-jobs", "1"]) == 0
    assert opened == {"cut.avi": 2, "garbage.avi": 1}
    err = capsys.readouterr().err
    assert [line.split(":")[2] for line in err.splitlines() if "skipped" in line] == [
        " skipped train/cut.avi", " skipped test/garbage.avi"]
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert [(s["split"], s["video"]) for s in metrics["config"]["skipped_videos"]] == [
        ("train", "cut"), ("test", "garbage")]


def test_info_says_what_an_out_of_bag_threshold_was_set_on(tmp_path, capsys):
    """`mulde info` of threshold_on="out_of_bag": the training samples' out-of-bag scores
    where the networks trained on bags, the validation rows where only they were out of a
    bag, and a note where no row was (the threshold then the training samples')."""
    from mulde import MULDE

    X = np.random.default_rng(0).standard_normal((300, 3))
    small = json.loads(PARAMS) | {"random_state": 0, "contamination": 0.1,
                                  "threshold_on": "out_of_bag"}
    said = {"bagged": ("contamination 0.1: about that share of new normal samples, set on the "
                       "training samples' out-of-bag scores"),
            "held": ("contamination 0.1: at most that share of new normal samples, set on "
                     "the validation rows"),
            "bare": ("contamination 0.1 of the training samples; no training sample was out "
                     "of a bag")}
    settings = {"bagged": {"n_members": 3, "max_samples": 0.5}, "held": {"n_members": 1},
                "bare": {"n_members": 1, "validation_fraction": 0.0}}
    for name, extra in settings.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the bare fit warns that no row is out of a bag
            model = MULDE(**small | extra).fit(X)
        assert main(["info", str(model.save(tmp_path / f"{name}.safetensors"))]) == 0
        out = capsys.readouterr().out
        assert said[name] in out, out


def test_the_demo_ends_saying_where_its_videos_are_and_how_to_watch_one(tmp_path, capsys,
                                                                        monkeypatch):
    """A newcomer finished the demo without knowing where its videos were or what to try
    next: its last line names the scene's folders and a `mulde watch` command that runs."""
    from fakes import write_video

    import mulde.demo.scene
    import mulde.pipeline

    def scene(folder, seed=0):
        for split in ("train", "test"):
            write_video(Path(folder) / split / f"{split}_01.mp4", 4)
        return Path(folder)

    monkeypatch.setattr(mulde.demo.scene, "generate_scene", scene)
    monkeypatch.setattr(mulde.pipeline, "run_pipeline", lambda *a, **k: {"note": "none"})
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == (f"scene: its videos in {out / 'scene' / 'train'} and "
                    f"{out / 'scene' / 'test'} (labels.csv beside them); watch one live with "
                    f"the trained model: mulde watch {out / 'model'} "
                    f"{out / 'scene' / 'test' / 'test_01.mp4'} --out {out / 'watch'} "
                    "--realtime")


@pytest.mark.parametrize("fields, said", [
    ({"contamination": 0.1, "threshold": float("nan"), "n_classes": 2},
     "has threshold nan, not a finite number or +inf"),
    ({"contamination": 0.1, "threshold": float("-inf"), "n_classes": 2},
     "has threshold -inf, not a finite number or +inf"),
    ({"contamination": float("nan"), "threshold": 1.0, "n_classes": 2},
     "has contamination nan, not in (0, 0.5]"),
    ({"contamination": 5, "threshold": 1.0, "n_classes": 2},
     "has contamination 5.0, not in (0, 0.5]"),
    ({"contamination": 0.1}, "lacks PyOD's contamination, threshold and n_classes"),
], ids=["threshold_nan", "threshold_minus_inf", "contamination_nan", "contamination_5",
        "missing"])
def test_export_and_info_refuse_pyod_fields_pyodmulde_load_refuses(features, capsys, fields,
                                                                  said):
    """`mulde export` wrote such values into the graph's metadata (pyod_threshold nan) and
    `mulde info` described them, though `PyODMULDE.load` refuses the file: the two now check
    them as it does (`pyod_fields`), with one line naming the file and the field. Made on a
    plain MULDE file, as whoever edits the metadata can (the checksum computed again)."""
    from mulde.estimator.persistence import PYOD_META

    d = features
    assert main(["fit", str(d / "train.npy"), "--out", str(d / "m.safetensors"),
                 "--params", PARAMS]) == 0
    crafted = edit_model_file(d / "m.safetensors", d / "c.safetensors",
                              meta={PYOD_META: json.dumps(fields)})
    capsys.readouterr()
    for command in (["export", str(crafted), "--out", str(d / "c.onnx")], ["info", str(crafted)]):
        assert main(command) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"mulde: error: {crafted}: inconsistent PyODMULDE model file: "
                              f"metadata field '{PYOD_META}' {said}"), err
        assert "\n" not in err
    assert not (d / "c.onnx").exists()


def test_info_names_the_mixture_of_a_mode_reweighted_model(tmp_path, capsys):
    """reweight="modes" on two apart groups of unequal size: info names the mixture's
    components and their weights; on fewer than 1,000 rows it says the rows were fitted
    unweighted and why."""
    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", np.r_[rng.standard_normal((1000, 2)),
                                      rng.standard_normal((100, 2)) + 12.0])
    np.save(tmp_path / "few.npy", rng.standard_normal((300, 2)))
    params = '{"max_steps": 1, "n_levels": 2, "reweight": "modes"}'
    from mulde.estimator.model import FewRowsToReweightWarning

    for name in ("x", "few"):
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            assert main(["fit", str(tmp_path / f"{name}.npy"), "--out",
                         str(tmp_path / f"{name}.safetensors"), "--quiet", "--params",
                         params]) == 0
        # the 300 rows are too few to reweight, which the fit says (FewRowsToReweightWarning)
        assert ([w.category for w in said if w.category is FewRowsToReweightWarning]
                == ([FewRowsToReweightWarning] if name == "few" else []))
    capsys.readouterr()
    assert main(["info", str(tmp_path / "x.safetensors")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"modes reweighted: \d+ mixture components, weights 0\.\d+ \(largest\) to "
                     r"0\.\d+ \(smallest\)", out)
    assert main(["info", str(tmp_path / "few.safetensors")]) == 0
    assert "modes reweighted: no (fewer than 1,000 rows" in capsys.readouterr().out


def _separated_info(folder, capsys, x, extra=""):
    """`mulde info`'s output for a model `mulde fit` fitted on rows x with reweight
    "separated_modes" and one step (`extra`: more JSON members of --params), its files in
    `folder` (made)."""
    folder.mkdir()
    np.save(folder / "x.npy", x)
    params = '{"max_steps": 1, "n_levels": 2, "reweight": "separated_modes"' + extra + "}"
    assert main(["fit", str(folder / "x.npy"), "--out", str(folder / "x.safetensors"),
                 "--quiet", "--params", params]) == 0
    capsys.readouterr()
    assert main(["info", str(folder / "x.safetensors")]) == 0
    return capsys.readouterr().out


def test_info_names_the_separated_modes_of_a_reweighted_model(tmp_path, capsys):
    """reweight="separated_modes" on two apart groups: info names the modes the mixture's
    components make and their masses, and with max_mode_gain the bounded shares."""
    rng = np.random.default_rng(0)
    x = np.r_[rng.standard_normal((1000, 2)), rng.standard_normal((100, 2)) + 12.0]
    out = _separated_info(tmp_path / "equal", capsys, x, ', "max_mode_gain": null')
    assert re.search(r"modes reweighted: 2 separated modes \(of \d+ mixture components, joined "
                     r"where they overlap\), masses 0\.9\d+ \(largest\) to 0\.0\d+ "
                     r"\(smallest\); each got an equal share of the training loss", out)
    # masses 0.905 and 0.095: shares min(1/2, 2 m) renormalised, 0.5 / 0.69 and 0.19 / 0.69
    # (the smaller mode's share 2.9 times its mass: the renormalisation lifts it past 2)
    out = _separated_info(tmp_path / "bounded", capsys, x, ', "max_mode_gain": 2')
    assert re.search(r"each got the smaller of an equal share of the training loss and 2 times "
                     r"its mass, renormalised \(shares 0\.72\d+ to 0\.27\d+; max_mode_gain\)",
                     out)


def test_info_says_the_modes_were_fitted_on_rows_moved_within_their_cells(tmp_path, capsys):
    """Whole-number rows of two apart groups (every column on a lattice), separated modes
    with dequantise_modes: the mixture is fitted on the rows moved within their cells, and
    info says so."""
    rng = np.random.default_rng(0)
    x = np.round(np.r_[rng.normal(0, 2, (1000, 2)), rng.normal(30, 2, (100, 2))])
    out = _separated_info(tmp_path / "moved", capsys, x, ', "dequantise_modes": true')
    assert re.search(r"modes reweighted: 2 separated modes \(of \d+ mixture components, "
                     r"fitted on the rows moved within their lattice cells, joined where "
                     r"they overlap\)", out)
