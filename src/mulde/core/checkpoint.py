"""Training checkpoints: one safetensors file holding everything a run needs to resume.

The file holds the live weights (`net.*`), the best weights so far (`best.*`), the EMA weights
(`ema.*`, when averaging) and Adam's per-parameter state (`opt.<index>.*`), with the loop's
counters and the training configuration as JSON metadata. It is written atomically
(`mulde.io.atomic`), so a run killed while saving leaves the previous checkpoint intact, and no
pickle is involved in reading it back.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from mulde.io.atomic import atomic_path
from mulde.io.jsonable import json_default

CHECKPOINT_NAME = "checkpoint.safetensors"
CHECKPOINT_FOLDER = "the training checkpoint (checkpoint_dir)"
"""What the checkpoint folder is for, as `mulde.io.atomic.check_folder` says it where a file
is in its place: "X2: a file, not a folder; give a folder for the training checkpoint
(checkpoint_dir)" (`MULDE.fit`, `mulde fit`)."""


class CheckpointMismatchError(ValueError):
    """A checkpoint written by another training run (other settings, loss, noise range,
    training rows or network): resuming it would continue from the wrong weights."""


class CheckpointFileError(ValueError):
    """A file in a checkpoint's place that no run can resume from: damaged (empty, truncated,
    corrupt) or no training checkpoint (a saved MULDE model, another program's safetensors
    file)."""


_ABSENT = object()

NOT_COMPARED = frozenset({"checkpoint_every"})
"""Configuration fields a resume may change: how often a run saves its checkpoint does not
change the weights it trains."""


def _differences(saved: Any, now: Any, implied: Mapping[str, Any],
                 derived: Mapping[str, str], prefix: str = "") -> list[str]:
    """The fields in which a checkpoint's configuration differs from the run's, each as
    "name (value in the checkpoint, value now)", nested fields with dotted names; a field
    left out is shown as its value in `implied` (by dotted name), else as "not set"; a field
    of `derived` (by dotted name) as what it says there instead."""
    if not (isinstance(saved, dict) and isinstance(now, dict)):
        return [] if saved == now else [f"{prefix.rstrip('.') or 'config'} ({_shown(saved)} "
                                        f"in the checkpoint, {_shown(now)} now)"]
    out = []
    for key in sorted(set(saved) | set(now)):
        name = prefix + key
        a, b = (d.get(key, implied.get(name, _ABSENT)) for d in (saved, now))
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, implied, derived, f"{name}.")
        elif a != b:
            out.append(derived.get(name)
                       or f"{name} ({_shown(a)} in the checkpoint, {_shown(b)} now)")
    return out


def _shown(value: Any) -> str:
    return "not set" if value is _ABSENT else json.dumps(value)


def _as_json(config: Mapping[str, Any]) -> Any:
    """The configuration as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(dict(config), default=json_default))


def save_checkpoint(path: Path, net: nn.Module, ema: nn.Module | None,
                    opt: torch.optim.Optimizer, state: Mapping[str, Any],
                    best: Mapping[str, torch.Tensor], config: Mapping[str, Any]) -> None:
    """Write a training checkpoint to `path` atomically.

    net / ema: the trained network and its weight average (None without EMA); opt: its
    optimiser; state: the loop's JSON-serialisable counters and history; best: the state dict
    of the best weights so far, as a copy (safetensors refuses tensors that share memory with
    net's); config: the training configuration as a JSON-serialisable mapping
    (`dataclasses.asdict(TrainConfig)`), which `load_checkpoint` insists on matching.
    Tensors are stored on the CPU, contiguous.
    """
    tensors = {f"net.{k}": v for k, v in net.state_dict().items()}
    tensors |= {f"best.{k}": v for k, v in best.items()}
    if ema is not None:
        tensors |= {f"ema.{k}": v for k, v in ema.state_dict().items()}
    for i, s in opt.state_dict()["state"].items():
        for k, v in s.items():
            tensors[f"opt.{i}.{k}"] = torch.as_tensor(v)
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    meta = {"state": json.dumps(dict(state)),
            "config": json.dumps(dict(config), default=json_default)}
    with atomic_path(Path(path)) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def load_checkpoint(path: Path, net: nn.Module, ema: nn.Module | None,
                    opt: torch.optim.Optimizer, config: Mapping[str, Any],
                    implied: Mapping[str, Any] | None = None,
                    not_compared: Collection[str] = (),
                    derived: Mapping[str, str] | None = None,
                    unsettable: Collection[str] = (),
                    set_by: Mapping[str, str] | None = None
                    ) -> tuple[dict, dict[str, torch.Tensor]]:
    """Restore net, ema and opt in place from a checkpoint written by `save_checkpoint`.

    Tensors are loaded onto the device of net's parameters. Returns (state, best): the loop's
    counters and the best weights' state dict.

    Raises `CheckpointMismatchError` (a ValueError) naming the file, and the fields that
    differ (but those of `NOT_COMPARED`), when it was written with another configuration
    (resuming it would silently train a different model), or for another network
    architecture. implied: the value that a field
    the configuration leaves out at its default stands for, by dotted name (e.g.
    {"loss.time_score": 0.0}), to name it in that message. not_compared: fields, beyond
    `NOT_COMPARED`, that make no difference to this run. derived: what that message says,
    by dotted name, of a field that differs whose values a user cannot pass, being derived
    from a setting of the caller's (MULDE's seed, drawn from its random_state), in place of
    "name (value in the checkpoint, value now)". unsettable: fields a user cannot pass at
    all (`TrainConfig.validation_draws`, no MULDE parameter): where one differs, no rerun
    resumes the checkpoint, and that message says to delete the checkpoint file to train
    afresh in place of rerunning with the checkpoint's values. set_by: fields a parameter
    sets along with what no user passes (the data, this mulde's rules), by dotted name ->
    the parameter (the lattice cells: `dequantise`, which names their columns): where one
    differs (and no unsettable one), that message says to rerun with the checkpoint's value
    of the parameter, or, where the value now is that one, to delete the checkpoint file.
    Raises `CheckpointFileError` (a ValueError) naming the file when it is damaged (empty,
    truncated, corrupt) or no training checkpoint (a saved model), or naming the folder
    that is in the file's place.
    """
    path = Path(path)
    if path.is_dir():  # safetensors said "No such device (os error 19)", naming nothing
        raise CheckpointFileError(
            f"{path}: a folder where the training checkpoint file is to be; move it out of "
            "the checkpoint folder, or use another one")

    def damaged(why: str) -> CheckpointFileError:
        return CheckpointFileError(f"{path}: damaged training checkpoint ({why}); remove it "
                                   "to start the fit over")

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except SafetensorError as err:  # empty, truncated, or no safetensors file at all
        raise damaged(f"not a readable safetensors file: {err}") from None
    if not {"config", "state"} <= meta.keys():  # both in every checkpoint ever written
        raise CheckpointFileError(
            f"{path}: a safetensors file, but not a training checkpoint (a saved MULDE model, "
            "or another program's file?); move it out of the checkpoint folder, or use "
            "another one")
    try:
        saved, state = json.loads(meta["config"]), json.loads(meta["state"])
    except json.JSONDecodeError as err:
        raise damaged(f"its metadata is not JSON: {err}") from None
    now = _as_json(config)
    if isinstance(saved, dict):
        skipped = NOT_COMPARED | set(not_compared)
        saved, now = ({k: v for k, v in c.items() if k not in skipped} for c in (saved, now))
    if saved != now:
        diffs = _differences(saved, now, implied or {}, derived or {})
        named = "; ".join(diffs[:3]) + (f"; {len(diffs) - 3} more" if len(diffs) > 3 else "")
        def differs(key: str) -> bool:  # a field (its implied value where left out)
            default = (implied or {}).get(key)
            return isinstance(saved, dict) and saved.get(key, default) != now.get(key, default)

        fixed = [k for k in unsettable if differs(k)]
        partly = {k: p for k, p in (set_by or {}).items() if differs(k)}
        setters = " or ".join(dict.fromkeys(partly.values()))
        advice = (f"no MULDE parameter or mulde fit option sets {' or '.join(fixed)}, so no "
                  f"rerun resumes it: delete {path} (the training checkpoint) to train "
                  "afresh, or use another one" if fixed else
                  f"{' and '.join(partly)} follow {setters} and this mulde's rules for the "
                  f"data: rerun with the {setters} the checkpoint was written with, or, if it "
                  f"is the one given now, delete {path} (the training checkpoint) to train "
                  "afresh, or use another one" if partly else
                  "to resume it, rerun with the checkpoint's values (a default that changed "
                  "since it was written counts: pass it explicitly); else remove it or use "
                  "another checkpoint folder")
        raise CheckpointMismatchError(
            f"{path}: checkpoint was written with another training config (settings, loss, "
            f"noise range or training data); it differs in {named}; {advice}")
    try:
        tensors = load_file(str(path), device=str(next(net.parameters()).device))
    except SafetensorError as err:
        raise damaged(f"not a readable safetensors file: {err}") from None

    def part(prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

    try:
        net.load_state_dict(part("net."))
        if ema is not None:
            ema.load_state_dict(part("ema."))
    except RuntimeError as err:  # the config matched; the network's shape did not
        raise CheckpointMismatchError(
            f"{path}: checkpoint holds another network (other hidden_sizes, n_members or "
            "layer_norm, or 'auto' widths that a later mulde builds otherwise: issue 15's "
            "round 51 narrowed the eight networks of thin rows); remove it or use another "
            "checkpoint folder") from err  # torch's own first line names no shape
    opt_state = opt.state_dict()
    for i in opt_state["param_groups"][0]["params"]:
        s = part(f"opt.{i}.")
        if s:
            opt_state["state"][i] = s
    opt.load_state_dict(opt_state)
    return state, part("best.")
