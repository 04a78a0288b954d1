"""CLIP image encoder (OpenAI's ViT models) as a `Backbone`, in plain PyTorch.

AI-VAD and MULDE embed object crops with CLIP ViT-B/16. This is OpenAI's `VisionTransformer`
(github.com/openai/CLIP, clip/model.py, MIT licence) rebuilt with the same parameter names,
so OpenAI's checkpoints load as they are: their published TorchScript archives (`ViT-B-16.pt`,
what `download_clip` fetches; known by SHA-256, as reading an archive runs its code), or a
state dict with their key names in a `.pt` or `.safetensors`
file (open_clip's `openai` checkpoints use the same names). The architecture is read from the
weights, so ViT-B/32, B/16, L/14 and L/14@336px all load. ResNet CLIPs are not supported.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
import warnings
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mulde.io.atomic import atomic_path
from mulde.io.hashing import sha256_file
from mulde.video.backbones.base import WeightsError, embed_in_batches, load_state_dict

# OpenAI's published checkpoints; the second-last path part is the file's SHA-256
CLIP_MODELS = {
    "ViT-B/32": "https://openaipublic.azureedge.net/clip/models/40d365715913c9da98579312b702a82c"
                "18be219cc2a73407c4526f58eba950af/ViT-B-32.pt",
    "ViT-B/16": "https://openaipublic.azureedge.net/clip/models/5806e77cd80f8b59890b7e101eabd07"
                "8d9fb84e6937f9e85e4ecb61988df416f/ViT-B-16.pt",
    "ViT-L/14": "https://openaipublic.azureedge.net/clip/models/b8cca3fd41ae0c99ba7e8951adf17d2"
                "67cdb84cd88be6f7c2e0eca1737a03836/ViT-L-14.pt",
    "ViT-L/14@336px": "https://openaipublic.azureedge.net/clip/models/3035c92b350959924f9f00213"
                      "499208652fc7ea050643e8b385c2dac08641f02/ViT-L-14-336px.pt",
}
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def weights_folder() -> Path:
    """Where downloaded weights go: $MULDE_WEIGHTS, else ~/.cache/mulde."""
    return Path(os.environ.get("MULDE_WEIGHTS", "~/.cache/mulde")).expanduser()


def download_clip(model: str = "ViT-B/16", folder: str | Path | None = None) -> Path:
    """Return the local path of OpenAI's `model` checkpoint, downloading it into `folder`
    (default `weights_folder()`) unless a file with the published SHA-256 is already there.
    A failed or interrupted download leaves no file behind."""
    if model not in CLIP_MODELS:
        raise ValueError(f"unknown CLIP model {model!r}; available: {sorted(CLIP_MODELS)}")
    url = CLIP_MODELS[model]
    expected = url.split("/")[-2]
    target = Path(folder or weights_folder()) / url.split("/")[-1]
    if target.is_file() and sha256_file(target) == expected:
        return target
    try:
        with atomic_path(target) as tmp:  # renamed into place only once the checksum matches
            with urllib.request.urlopen(url, timeout=60) as source, open(tmp, "wb") as out:
                while chunk := source.read(1 << 20):
                    out.write(chunk)
            if sha256_file(tmp) != expected:
                raise OSError(f"{url}: downloaded file does not have the published SHA-256")
    except (urllib.error.URLError, TimeoutError) as err:
        raise ConnectionError(f"cannot download the CLIP {model} weights from {url} ({err}); "
                              "fetch the file where there is internet and pass it as the "
                              "weights file (--weights)") from err
    return target


def published_sha256() -> frozenset[str]:
    """The SHA-256 of OpenAI's published checkpoints (`CLIP_MODELS`: each URL's second-last
    part): the TorchScript archives `clip_visual_state` reads as they are."""
    return frozenset(url.split("/")[-2] for url in CLIP_MODELS.values())


def is_torchscript_archive(path: str | Path) -> bool:
    """Whether `path` is a TorchScript archive (a zip holding constants.pkl and code/, as
    `torch.jit.save` writes), not a `torch.save` state dict."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("/constants.pkl") or "/code/" in name
                       for name in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _archive_state(path: Path) -> dict:
    """The tensors of a TorchScript archive (`torch.jit.load`, which runs the code the
    archive carries: callers decide it is trusted)."""
    try:
        with warnings.catch_warnings():  # torch marks jit.load deprecated; it still reads them
            warnings.simplefilter("ignore", DeprecationWarning)
            return dict(torch.jit.load(str(path), map_location="cpu").state_dict())
    except (RuntimeError, ValueError) as err:
        raise WeightsError(f"{path}: an unreadable TorchScript archive ({err})") from err


def clip_visual_state(path: str | Path) -> dict:
    """Return the float32 image-encoder tensors of a CLIP checkpoint, keys without the
    'visual.' prefix: one of OpenAI's published TorchScript archives (`CLIP_MODELS`, known by
    their SHA-256), or a state dict (.pt read with weights_only, .safetensors) with OpenAI's
    key names (the prefix may be absent in a file of the image encoder alone).

    Raises WeightsError naming the file for any other TorchScript archive (reading one runs
    the code it carries, so a model folder's weights path could run a stranger's code;
    `archive_to_safetensors` converts an archive one trusts), a file that is no weights
    file, or one without a ViT image encoder; FileNotFoundError for a missing file."""
    path = Path(path)
    if path.suffix != ".safetensors" and path.is_file() and is_torchscript_archive(path):
        digest = sha256_file(path)
        if digest not in published_sha256():
            raise WeightsError(
                f"{path}: a TorchScript archive that is not one of OpenAI's published CLIP "
                f"files (SHA-256 {digest[:16]}...), and reading it would run the code it "
                "carries; if you trust it, convert it once with mulde.video.backbones.clip."
                "archive_to_safetensors and give the .safetensors file")
        state = _archive_state(path)
    else:
        state = load_state_dict(path)
    visual = {k.removeprefix("visual."): v for k, v in state.items() if k.startswith("visual.")}
    visual = visual or dict(state)
    missing = [k for k in ("conv1.weight", "class_embedding", "positional_embedding", "proj")
               if k not in visual]
    if missing:
        raise WeightsError(f"{path}: not a CLIP ViT image encoder (no {', '.join(missing)}; "
                           "ResNet CLIPs are not supported)")
    return {k: v.float() for k, v in visual.items() if isinstance(v, torch.Tensor)}


def archive_to_safetensors(path: str | Path, out: str | Path | None = None) -> Path:
    """Write the tensors of the TorchScript archive `path` (a CLIP checkpoint one trusts: this
    runs the code it carries, as `torch.jit.load` does) to a .safetensors file, `out` or
    `path` with the suffix .safetensors, atomically; return that path, which
    `clip_visual_state` and `--weights` then read without running anything.
    Raises WeightsError naming the file when it is no TorchScript archive."""
    from safetensors.torch import save_file

    path = Path(path)
    if not is_torchscript_archive(path):
        raise WeightsError(f"{path}: not a TorchScript archive; a state dict (.pt, "
                           ".safetensors) is read as it is")
    target = Path(out) if out is not None else path.with_suffix(".safetensors")
    state = {k: v.contiguous() for k, v in _archive_state(path).items()}
    with atomic_path(target) as tmp:
        save_file(state, str(tmp))
    return target


class QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([("c_fc", nn.Linear(width, 4 * width)),
                                              ("gelu", QuickGELU()),
                                              ("c_proj", nn.Linear(4 * width, width))]))
        self.ln_2 = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (tokens, batch, width)
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int) -> None:
        super().__init__()
        self.resblocks = nn.Sequential(*[ResidualAttentionBlock(width, heads)
                                         for _ in range(layers)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.resblocks(x)


class VisionTransformer(nn.Module):
    """OpenAI's CLIP image encoder: patch embedding, class token, pre-norm transformer,
    the class token's output normalised and projected to `output_dim`."""

    def __init__(self, resolution: int, patch: int, width: int, layers: int, heads: int,
                 output_dim: int) -> None:
        super().__init__()
        self.input_resolution, self.output_dim = resolution, output_dim
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch, stride=patch, bias=False)
        self.class_embedding = nn.Parameter(torch.zeros(width))
        self.positional_embedding = nn.Parameter(torch.zeros((resolution // patch) ** 2 + 1,
                                                             width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Transformer(width, layers, heads)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.zeros(width, output_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x).flatten(2).permute(0, 2, 1)  # (batch, grid^2, width)
        cls = self.class_embedding.expand(len(x), 1, -1)
        x = self.ln_pre(torch.cat([cls, x], dim=1) + self.positional_embedding)
        x = self.transformer(x.permute(1, 0, 2)).permute(1, 0, 2)
        return self.ln_post(x[:, 0]) @ self.proj

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor]) -> VisionTransformer:
        """Return the encoder with the shape of `state` (from `clip_visual_state`; heads =
        width / 64 as in OpenAI's models), its weights loaded, in eval mode."""
        width, _, patch, _ = state["conv1.weight"].shape
        layers = sum(k.endswith(".attn.in_proj_weight") for k in state)
        grid = round((state["positional_embedding"].shape[0] - 1) ** 0.5)
        net = cls(patch * grid, patch, width, layers, max(1, width // 64), state["proj"].shape[1])
        missing, unexpected = net.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise WeightsError(f"CLIP weights do not fit a ViT of width {width}, {layers} "
                               f"layers, patch {patch}: missing {missing[:3]}, unexpected "
                               f"{unexpected[:3]}")
        return net.eval()


class ClipImage:
    """CLIP's image encoder as a `Backbone`: `encode_image` of images resized (bicubic) to the
    model's input resolution and normalised with CLIP's mean and std; `dim` is the model's
    embedding size (512 for ViT-B/16). Weights from `weights_path`, else downloaded once
    (`download_clip(model)`)."""

    name = "clip"

    def __init__(self, weights_path: str | Path | None = None, model: str = "ViT-B/16",
                 batch_size: int = 64) -> None:
        self.weights_path = Path(weights_path) if weights_path else download_clip(model)
        self.model = VisionTransformer.from_state(clip_visual_state(self.weights_path))
        self.dim = self.model.output_dim
        self.input_size = self.model.input_resolution
        self.batch_size = batch_size
        self._mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1) * 255
        self._std = torch.tensor(CLIP_STD).view(1, 3, 1, 1) * 255

    def embed(self, images: np.ndarray) -> np.ndarray:
        """Return (n, dim) float32 embeddings of RGB uint8 images (n, h, w, 3)."""
        return embed_in_batches(images, self.dim, self.batch_size, self.input_size, "bicubic",
                                lambda x: self.model((x - self._mean) / self._std))
