"""Device selection for the core and the layers above it."""

from __future__ import annotations

import torch


def resolve_device(device: str | torch.device) -> torch.device:
    """Return the torch device named by `device`.

    'auto' picks CUDA when available, then Apple's MPS, then the CPU; any other name ('cpu',
    'cuda', 'cuda:1', 'mps', or a torch.device) is passed to `torch.device` unchanged, which
    raises RuntimeError for a malformed name. Availability of an explicit device is not checked
    here: torch reports it when a tensor is first moved there.
    """
    if device != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def device_problem(device: str | torch.device) -> str | None:
    """Why `device` cannot be used on this machine, as the end of a sentence that starts with
    its name, separator included (" is not a device; use auto, cpu, cuda, cuda:N or mps",
    ": this PyTorch sees no CUDA GPU ...; use cpu or auto", ...), or None when it can
    ("auto" always can: it falls back to the CPU). Checked before training
    (`MULDE.check_params`, the command line), where torch would fail only when the first
    tensor moves there."""
    if not is_device_name(device):
        return " is not a device; use auto, cpu, cuda, cuda:N or mps"
    kind = _parsed(device)
    if kind is None:  # "auto"
        return None
    if kind.type == "cuda" and not torch.cuda.is_available():
        return (": this PyTorch sees no CUDA GPU (torch.cuda.is_available() is False); use "
                "cpu or auto")
    if kind.type == "cuda" and kind.index is not None and kind.index >= torch.cuda.device_count():
        return f": there are {torch.cuda.device_count()} CUDA GPU(s), numbered from 0"
    mps = getattr(torch.backends, "mps", None)
    if kind.type == "mps" and not (mps and mps.is_available()):
        return ": no Apple GPU (MPS) available; use cpu or auto"
    return None


def is_device_name(device: object) -> bool:
    """Whether `device` is a device setting: "auto", a name torch parses ("cpu", "cuda:1",
    "mps", ...) or a torch.device, whether or not this machine has that device
    (`device_problem` says whether it can be used here)."""
    return (isinstance(device, str) and device == "auto") or _parsed(device) is not None


def same_device(a: object, b: object) -> bool:
    """Whether two device settings (a name such as "cuda:1", or a torch.device) mean the same
    device: of one type and index, a name without an index meaning index 0 ("cuda" is
    "cuda:0", "cpu" is "cpu:0"). "auto", a name torch does not parse and any other value equal
    only themselves. Nothing is probed: no device needs to exist."""
    if a == b:
        return True
    first, second = _parsed(a), _parsed(b)
    return (first is not None and second is not None and first.type == second.type
            and (first.index or 0) == (second.index or 0))


def _parsed(device: object) -> torch.device | None:
    """`device` as a torch.device: a torch.device, or a name torch parses other than "auto";
    None for anything else."""
    if isinstance(device, torch.device):
        return device
    if not isinstance(device, str) or device == "auto":
        return None
    try:
        return torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        return None
