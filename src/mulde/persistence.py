"""Saving and loading fitted MULDE models: one safetensors file, JSON metadata, no pickle."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from mulde import __version__
from mulde.atomic import atomic_path
from mulde.core import EnergyMLP, TrainResult

if TYPE_CHECKING:
    from mulde.detector import MULDE

FORMAT = "mulde"
FORMAT_VERSION = 1
DEFAULT_NAME = "model.safetensors"


class ModelFileError(ValueError):
    """A model file is missing, truncated, foreign, from a newer version, or inconsistent."""


def _file(path: Path) -> Path:
    return path / DEFAULT_NAME if path.is_dir() else path


def save_model(model: MULDE, path: Path) -> Path:
    """Write model to path (a file, or a folder that gets model.safetensors); return the file."""
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(model, "network_")
    path = _file(path)
    arrays: dict[str, np.ndarray] = {
        f"network.{k}": v.detach().cpu().numpy() for k, v in model.network_.state_dict().items()
    }
    arrays |= {"mean": model.mean_, "scale": model.scale_, "sigmas": model.sigmas_}
    arrays |= {f"aggregator.{k}": np.asarray(v) for k, v in model.aggregator_state_.items()}
    meta = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "mulde_version": __version__,
        "params": json.dumps(model.get_params()),
        "n_features_in": str(model.n_features_in_),
        "offset": json.dumps(model.offset_),
        "train_result": json.dumps(asdict(model.train_result_)),
    }
    with atomic_path(path) as tmp:
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(tmp), metadata=meta)
    return path


_MAGIC = ((b"\x93NUMPY", "a NumPy .npy array"), (b"PK\x03\x04", "a zip archive (e.g. .npz)"),
          (b"\x89HDF", "an HDF5 file"))


def _foreign_kind(path: Path) -> str | None:
    """What a file that is not safetensors is, from its first bytes (None when unknown)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError:
        return None
    if head[8:9] == b"{":  # a safetensors header (8-byte length, then JSON): damaged, not foreign
        return None
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head and all(32 <= b < 127 or b in b"\t\r\n" for b in head):
        return "a text file"
    return None


def _read(path: Path) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    if not path.exists():
        raise ModelFileError(f"{path}: no such model file")
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
            arrays = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as err:
        kind = _foreign_kind(path)
        if kind:
            raise ModelFileError(f"{path}: {kind}, not a MULDE model (a .safetensors file "
                                 "written by `mulde fit` or MULDE.save)") from err
        raise ModelFileError(f"{path}: not a readable safetensors file "
                             f"(truncated or corrupt?): {err}") from err
    if meta.get("format") != FORMAT:
        raise ModelFileError(f"{path}: a safetensors file, but not a MULDE model "
                             "(metadata 'format' is missing or foreign)")
    version = int(meta.get("format_version", "0"))
    if version > FORMAT_VERSION:
        raise ModelFileError(f"{path}: written by a newer mulde (format {version}, library "
                             f"{meta.get('mulde_version')}); this mulde {__version__} reads "
                             f"format {FORMAT_VERSION} or older: upgrade mulde")
    return meta, arrays


def load_model(cls: type[MULDE], path: Path, device: str = "cpu") -> MULDE:
    """Read a model written by save_model; errors name the file and the problem."""
    path = _file(path)
    meta, arrays = _read(path)
    try:
        params: dict[str, Any] = json.loads(meta["params"])
        unknown = sorted(set(params) - set(cls().get_params()))
        if unknown:
            raise ModelFileError(f"{path}: unknown parameter(s) {unknown} in the model config")
        params["hidden_sizes"] = tuple(params["hidden_sizes"])
        params["device"] = device
        model = cls(**params)
        model.n_features_in_ = int(meta["n_features_in"])
        model.offset_ = float(json.loads(meta["offset"]))
        model.train_result_ = TrainResult(**json.loads(meta["train_result"]))
        model.mean_, model.scale_ = arrays["mean"], arrays["scale"]
        model.sigmas_ = arrays["sigmas"]
        model.aggregator_state_ = {k.split(".", 1)[1]: v for k, v in arrays.items()
                                   if k.startswith("aggregator.")}
        # built without memory (meta device): a tampered config cannot make it allocate;
        # the stored tensors, whose shapes must match the config, become its weights
        with torch.device("meta"):
            net = EnergyMLP(model.n_features_in_, params["hidden_sizes"], params["layer_norm"],
                            params["dropout"])
        state = {k.split(".", 1)[1]: torch.from_numpy(v.copy()) for k, v in arrays.items()
                 if k.startswith("network.")}
        net.load_state_dict(state, strict=True, assign=True)
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError, json.JSONDecodeError) as err:
        raise ModelFileError(f"{path}: inconsistent MULDE model file: {err}") from err
    if model.mean_.shape != (model.n_features_in_,):
        raise ModelFileError(f"{path}: standardisation has shape {model.mean_.shape}, "
                             f"expected ({model.n_features_in_},)")
    from mulde.detector import resolve_device

    model.device_ = str(resolve_device(device))
    model.network_ = net.to(model.device_).eval()
    return model
