"""What every image backbone shares: the `Backbone` interface, reading a local weights file
without pickle, and the one batched input path (`embed_in_batches`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Backbone(Protocol):
    """Embeds a batch of RGB uint8 images (n, h, w, 3), all of one size, into (n, dim) float32."""

    name: str
    dim: int

    def embed(self, images: np.ndarray) -> np.ndarray: ...


class WeightsError(ValueError):
    """A weights file that cannot serve the backbone (not a state dict, wrong keys)."""


def load_state_dict(path: str | Path) -> dict:
    """Return the tensors of a local weights file: .safetensors, or a PyTorch .pth/.pt state
    dict read with `torch.load(weights_only=True)` (tensors only, no arbitrary objects)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as err:  # safetensors' own error types; re-raised with the file name
            raise WeightsError(f"{path}: not a readable .safetensors file ({err})") from err
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch's words ("101", the byte it choked on) say nothing more
        raise WeightsError(f"{path}: not a weights file torch.load(weights_only=True) reads: "
                           "give a .safetensors file, or a .pt/.pth PyTorch state dict of "
                           "tensors alone (torch.save(model.state_dict(), path))") from err
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: expected a state dict, got {type(state).__name__}")
    return state


def embed_in_batches(images: np.ndarray, dim: int, batch_size: int, size: int | None,
                     mode: str, forward: Callable) -> np.ndarray:
    """Return (n, dim) float32 `forward(x)` of RGB uint8 images (n, h, w, 3), `batch_size` at
    a time, without gradients: x is float (b, 3, H, W) in 0..255, resized to `size` x `size`
    by the antialiased `mode` interpolation (clamped to 0..255) when `size` is set and the
    images differ from it. The one input path of every image backbone."""
    import torch

    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"need RGB uint8 images (n, h, w, 3), got {images.dtype} "
                         f"{images.shape}")
    out = np.zeros((len(images), dim), np.float32)
    with torch.inference_mode():
        for i in range(0, len(images), batch_size):
            x = torch.from_numpy(images[i:i + batch_size]).permute(0, 3, 1, 2).float()
            if size and x.shape[-2:] != (size, size):
                x = torch.nn.functional.interpolate(x, size=(size, size), mode=mode,
                                                    align_corners=False,
                                                    antialias=True).clamp(0, 255)
            out[i:i + len(x)] = forward(x).numpy()
    return out


