"""CLIP image backbone: OpenAI's ViT rebuilt in plain PyTorch, loaded from local files.

No real CLIP weights can be fetched here, so the checks use a tiny ViT with random weights
saved in OpenAI's key layout (fp16, 'visual.' prefix, text keys beside it) in every format the
loader reads, and compare the forward pass with the architecture written out by hand.
"""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
import pytest
import torch

from mulde.video.backbones import WeightsError, load_backbone
from mulde.video.backbones.clip import (
    CLIP_MEAN,
    CLIP_STD,
    ClipImage,
    VisionTransformer,
    archive_to_safetensors,
    clip_visual_state,
    download_clip,
)
from mulde.video.features import ObjectCentricExtractor

WIDTH, LAYERS, PATCH, RES, OUT = 128, 2, 8, 32, 16  # heads = 128 / 64 = 2


def _openai_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """A random tiny CLIP checkpoint as OpenAI stores it: fp16, image and text keys."""
    torch.manual_seed(seed)
    net = VisionTransformer(RES, PATCH, WIDTH, LAYERS, WIDTH // 64, OUT)
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.2)
    state = {f"visual.{k}": v.detach().half() for k, v in net.state_dict().items()}
    state["text_projection"] = torch.zeros(8, OUT).half()  # the text tower is ignored
    state["token_embedding.weight"] = torch.zeros(10, 8).half()
    return state


def _reference(state: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """OpenAI's VisionTransformer.forward written out with explicit attention."""
    s = {k.removeprefix("visual."): v.float() for k, v in state.items()}

    def ln(t, name):
        return torch.nn.functional.layer_norm(t, (WIDTH,), s[f"{name}.weight"], s[f"{name}.bias"])

    t = torch.nn.functional.conv2d(x, s["conv1.weight"], stride=PATCH)
    t = t.flatten(2).transpose(1, 2)
    t = torch.cat([s["class_embedding"].expand(len(t), 1, WIDTH), t], 1) + s["positional_embedding"]
    t = ln(t, "ln_pre")
    heads, hd = WIDTH // 64, 64
    for i in range(LAYERS):
        b = f"transformer.resblocks.{i}"
        y = ln(t, f"{b}.ln_1")
        qkv = y @ s[f"{b}.attn.in_proj_weight"].T + s[f"{b}.attn.in_proj_bias"]
        q, k, v = qkv.split(WIDTH, -1)
        q, k, v = (z.reshape(len(t), -1, heads, hd).transpose(1, 2) for z in (q, k, v))
        a = torch.softmax(q @ k.transpose(-1, -2) / hd ** 0.5, -1) @ v
        a = a.transpose(1, 2).reshape(len(t), -1, WIDTH)
        t = t + a @ s[f"{b}.attn.out_proj.weight"].T + s[f"{b}.attn.out_proj.bias"]
        h = ln(t, f"{b}.ln_2") @ s[f"{b}.mlp.c_fc.weight"].T + s[f"{b}.mlp.c_fc.bias"]
        h = h * torch.sigmoid(1.702 * h)  # QuickGELU
        t = t + h @ s[f"{b}.mlp.c_proj.weight"].T + s[f"{b}.mlp.c_proj.bias"]
    return ln(t[:, 0], "ln_post") @ s["proj"]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """The same random weights as a .pt state dict, a .safetensors file and a TorchScript
    archive (the format of OpenAI's downloads)."""
    from safetensors.torch import save_file

    folder = tmp_path_factory.mktemp("clip")
    state = _openai_state()
    torch.save(state, folder / "state.pt")
    save_file({k: v.contiguous() for k, v in state.items()}, str(folder / "state.safetensors"))

    class Archive(torch.nn.Module):  # OpenAI's archives hold the whole CLIP under 'visual.'
        def __init__(self) -> None:
            super().__init__()
            self.visual = VisionTransformer(RES, PATCH, WIDTH, LAYERS, WIDTH // 64, OUT)
            self.visual.load_state_dict({k[7:]: v.float() for k, v in state.items()
                                         if k.startswith("visual.")})

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.visual(x)

    with warnings.catch_warnings():  # tracing a fixed shape; jit's deprecation notice
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(Archive().eval(), torch.zeros(1, 3, RES, RES)),
                       str(folder / "archive.pt"))
    return state, folder


def test_forward_matches_openai_architecture(checkpoints):
    state, folder = checkpoints
    net = VisionTransformer.from_state(clip_visual_state(folder / "state.pt"))
    assert (net.input_resolution, net.output_dim) == (RES, OUT)
    x = torch.randn(3, 3, RES, RES)
    with torch.inference_mode():
        np.testing.assert_allclose(net(x).numpy(), _reference(state, x).numpy(), rtol=1e-4,
                                   atol=1e-4)


def _published(monkeypatch, archive):
    """Make `archive` one of the published checkpoints (its SHA-256 in CLIP_MODELS' URL)."""
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    monkeypatch.setattr("mulde.video.backbones.clip.CLIP_MODELS",
                        {"ViT-T": f"https://example.invalid/clip/{sha}/{archive.name}"})


def test_every_checkpoint_format_gives_the_same_embeddings(checkpoints, monkeypatch):
    _, folder = checkpoints
    _published(monkeypatch, folder / "archive.pt")
    images = np.random.default_rng(0).integers(0, 256, (5, 20, 24, 3), dtype=np.uint8)
    embeddings = [ClipImage(folder / name).embed(images)
                  for name in ("state.pt", "state.safetensors", "archive.pt")]
    assert embeddings[0].shape == (5, OUT) and embeddings[0].dtype == np.float32
    for other in embeddings[1:]:
        np.testing.assert_allclose(other, embeddings[0], rtol=1e-5, atol=1e-5)


def test_embed_resizes_and_normalises_like_clip(checkpoints):
    state, folder = checkpoints
    backbone = ClipImage(folder / "state.pt")
    image = np.full((1, RES, RES, 3), 200, np.uint8)  # already at the input size: no resize
    expected = (torch.full((1, 3, RES, RES), 200 / 255) - torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
                ) / torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    np.testing.assert_allclose(backbone.embed(image), _reference(state, expected).numpy(),
                               rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="RGB uint8"):
        backbone.embed(image.astype(np.float32))


class _Talks(torch.nn.Module):
    """A TorchScript module whose loading runs its own code (prints a line): what any
    archive may carry."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    @torch.jit.export
    def __getstate__(self) -> tuple[torch.Tensor, bool]:
        return (self.w, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[torch.Tensor, bool]) -> None:
        print("CODE FROM THE ARCHIVE RAN")
        self.w = state[0]
        self.training = state[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def test_only_published_archives_are_read_and_a_trusted_one_converts(checkpoints, tmp_path,
                                                                     capfd):
    """A reviewer's finding: torch.jit.load of any .pt (a model folder's pipeline.json names
    the weights file) ran the code the archive carries. An archive whose SHA-256 is not one of
    OpenAI's published files is refused, its code not run; archive_to_safetensors converts
    one the user trusts into a file read without running anything."""
    state, folder = checkpoints
    talks = tmp_path / "talks.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(_Talks()), str(talks))
    for archive in (talks, folder / "archive.pt"):
        with pytest.raises(WeightsError, match=f"{archive.name}: a TorchScript archive that is "
                                               "not one of OpenAI's published CLIP files"):
            clip_visual_state(archive)
    assert "CODE FROM THE ARCHIVE RAN" not in capfd.readouterr().out
    converted = archive_to_safetensors(folder / "archive.pt", tmp_path / "trusted.safetensors")
    got = clip_visual_state(converted)
    assert got.keys() == clip_visual_state(folder / "state.pt").keys()
    for key, value in clip_visual_state(folder / "state.pt").items():
        torch.testing.assert_close(got[key], value)
    with pytest.raises(WeightsError, match="state.pt: not a TorchScript archive"):
        archive_to_safetensors(folder / "state.pt")


def test_bad_weights_files_name_the_file(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="junk.pt"):
        clip_visual_state(junk)
    other = tmp_path / "resnet.pt"
    torch.save({"visual.layer1.0.conv1.weight": torch.zeros(1)}, other)
    with pytest.raises(WeightsError, match="not a CLIP ViT.*conv1.weight"):
        clip_visual_state(other)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        clip_visual_state(tmp_path / "missing.pt")


def test_download_checks_the_published_sha256(tmp_path, monkeypatch, checkpoints):
    _, folder = checkpoints
    data = (folder / "archive.pt").read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    served = tmp_path / "server" / sha
    served.mkdir(parents=True)
    (served / "ViT-T.pt").write_bytes(data)
    models = {"ViT-T": (served / "ViT-T.pt").as_uri(),
              "ViT-bad": (served / "ViT-T.pt").as_uri().replace(sha, "0" * 64)}
    (tmp_path / "server" / ("0" * 64)).mkdir()
    (tmp_path / "server" / ("0" * 64) / "ViT-T.pt").write_bytes(data)
    monkeypatch.setattr("mulde.video.backbones.clip.CLIP_MODELS", models)
    path = download_clip("ViT-T", tmp_path / "weights")
    assert path.read_bytes() == data and path.name == "ViT-T.pt"
    assert download_clip("ViT-T", tmp_path / "weights") == path  # present: not fetched again
    with pytest.raises(OSError, match="SHA-256"):
        download_clip("ViT-bad", tmp_path / "other")
    assert not any((tmp_path / "other").iterdir())  # no partial file left behind
    models["ViT-gone"] = (tmp_path / "nowhere" / sha / "x.pt").as_uri()
    with pytest.raises(ConnectionError, match="--weights"):
        download_clip("ViT-gone", tmp_path / "other")
    with pytest.raises(ValueError, match="unknown CLIP model"):
        download_clip("RN50", tmp_path)


def test_object_extractor_embeds_crops_with_clip(checkpoints):
    _, folder = checkpoints
    frames = []
    for t in range(6):
        f = np.full((96, 128, 3), 90, np.uint8)
        f[30:60, 20 + 5 * t:40 + 5 * t] = 230
        frames.append(f)
    extractor = ObjectCentricExtractor(streams=("velocity", "appearance"), backbone="clip",
                                       weights_path=str(folder / "state.pt"))
    streams = extractor.extract(frames)
    assert streams["appearance"].features.shape[1] == OUT
    assert len(streams["appearance"].features) == len(streams["velocity"].features)
    assert extractor.params["appearance"]["backbone"] == "clip"
    assert load_backbone("clip", str(folder / "state.pt")).dim == OUT
    with pytest.raises(ValueError, match="unknown backbone 'clop'"):
        ObjectCentricExtractor(streams=("appearance",), backbone="clop")
