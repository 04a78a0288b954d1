"""Hiera (Ryali et al. 2023), the video backbone of MULDE's frame-centric features: the
`hiera-transformer` package with a local checkpoint (no weights install offline)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mulde.video.backbones.base import load_state_dict


class HieraBackbone:
    """Hiera video backbone (`hiera-transformer` package + a local checkpoint): the
    `dim`-d normalised mean token before the classification head, of (T, size, size) clips
    normalised with the Kinetics mean/std. Not installed by default: raises a clear error."""

    name = "hiera"
    dim = 1152

    def __init__(self, checkpoint: str | Path | None,
                 model: str = "hiera_large_16x224") -> None:
        if checkpoint is None or not Path(checkpoint).is_file():
            raise FileNotFoundError(f"Hiera needs a local checkpoint file (weights_path), got "
                                    f"{checkpoint!r}")
        try:
            import hiera
        except ImportError as err:
            raise ImportError("the Hiera backbone needs the package 'hiera-transformer' "
                              "(pip install hiera-transformer)") from err
        net = getattr(hiera, model)(pretrained=False)
        state = load_state_dict(checkpoint)
        state = state.get("model_state", state)
        net.load_state_dict(state)
        self.model = net.eval()
        self._pooled: list = []
        self.model.head.register_forward_pre_hook(lambda _m, args: self._pooled.append(args[0]))

    def embed_clips(self, clips: np.ndarray) -> np.ndarray:
        """Return (n, dim) float32 embeddings of uint8 clips (n, T, size, size, 3)."""
        import torch

        x = torch.from_numpy(np.asarray(clips)).float().div(255.0)
        mean, std = torch.tensor([0.45] * 3), torch.tensor([0.225] * 3)
        x = ((x - mean) / std).permute(0, 4, 1, 2, 3)  # (n, 3, T, H, W)
        self._pooled.clear()
        with torch.inference_mode():
            self.model(x)
        return self._pooled[-1].reshape(len(x), -1).numpy().astype(np.float32)
