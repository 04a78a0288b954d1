"""Training checkpoints: one safetensors file holding everything a run needs to resume.

The file holds the live weights (`net.*`), the best weights so far (`best.*`), the EMA weights
(`ema.*`, when averaging) and Adam's per-parameter state (`opt.<index>.*`), with the loop's
counters and the training configuration as JSON metadata. It is written atomically
(`mulde.io.atomic`), so a run killed while saving leaves the previous checkpoint intact, and no
pickle is involved in reading it back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from mulde.io.atomic import atomic_path

CHECKPOINT_NAME = "checkpoint.safetensors"


def _as_json(config: Mapping[str, Any]) -> Any:
    """The configuration as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(dict(config)))


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
    meta = {"state": json.dumps(dict(state)), "config": json.dumps(dict(config))}
    with atomic_path(Path(path)) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def load_checkpoint(path: Path, net: nn.Module, ema: nn.Module | None,
                    opt: torch.optim.Optimizer,
                    config: Mapping[str, Any]) -> tuple[dict, dict[str, torch.Tensor]]:
    """Restore net, ema and opt in place from a checkpoint written by `save_checkpoint`.

    Tensors are loaded onto the device of net's parameters. Returns (state, best): the loop's
    counters and the best weights' state dict.

    Raises ValueError naming the file when it was written with another configuration (resuming
    it would silently train a different model) or for another network architecture.
    """
    path = Path(path)
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if json.loads(meta.get("config", "null")) != _as_json(config):
        raise ValueError(f"{path}: checkpoint was written with another training config "
                         "(settings, loss, noise range or training data); remove it or use "
                         "another checkpoint folder")
    tensors = load_file(str(path), device=str(next(net.parameters()).device))

    def part(prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

    try:
        net.load_state_dict(part("net."))
        if ema is not None:
            ema.load_state_dict(part("ema."))
    except RuntimeError as err:  # the config matched; the network's shape did not
        raise ValueError(f"{path}: checkpoint holds another network (other hidden_sizes, "
                         "n_members or layer_norm); remove it or use another checkpoint "
                         f"folder ({str(err).splitlines()[0]})") from err
    opt_state = opt.state_dict()
    for i in opt_state["param_groups"][0]["params"]:
        s = part(f"opt.{i}.")
        if s:
            opt_state["state"][i] = s
    opt.load_state_dict(opt_state)
    return json.loads(meta["state"]), part("best.")
