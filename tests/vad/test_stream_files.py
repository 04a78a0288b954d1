"""One stream's fitted model as files: written and read back as it scored."""

from __future__ import annotations

import numpy as np
import pytest

from mulde.vad.stream_files import (
    ArtifactError,
    load_stream,
    read_arrays,
    save_stream,
    side_path,
    stream_spec,
)
from mulde.vad.stream_models import GMMStream, KNNStream, MULDEStream, PCAStream


@pytest.mark.parametrize("make", [
    lambda: KNNStream(k=2),
    lambda: GMMStream(2, "full", 0),
    lambda: PCAStream(GMMStream(1, "diag", 0), 2),
    # on the CPU, where it loads back: "auto" would fit it on a GPU, whose rounding differs
    lambda: MULDEStream({"max_steps": 10, "hidden_sizes": (8, 8), "batch_size": 16,
                         "device": "cpu"}, 0),
])
def test_a_stream_model_reads_back_scoring_as_it_was_saved(tmp_path, make):
    rng = np.random.default_rng(0)
    X, groups, new = rng.normal(size=(30, 3)), np.repeat(np.arange(3), 10), rng.normal(size=(4, 3))
    model = make().fit(X, groups)
    path = tmp_path / "m.safetensors"
    entry = save_stream(model, path)
    assert entry == stream_spec(model)
    assert side_path(path, "pca").exists() is isinstance(model, PCAStream)
    back = load_stream(entry, path)
    assert type(back) is type(model)
    np.testing.assert_array_equal(back.score(new), model.score(new))


def test_a_stream_saved_for_a_gpu_loads_on_a_cpu_without_a_line_per_stream(tmp_path,
                                                                          monkeypatch):
    """A pipeline's MULDE stream fitted with device "cuda" scores on a CPU-only machine; the
    estimator's `DeviceFallbackWarning` (its setting becomes "auto") is for a refit of that
    estimator, which a stream never does (its refits take the stream's own params), so
    `mulde info` / `mulde watch` of such a model say nothing per stream."""
    import warnings

    import torch

    rng = np.random.default_rng(0)
    X, groups = rng.normal(size=(30, 3)), np.repeat(np.arange(3), 10)
    model = MULDEStream({"max_steps": 2, "hidden_sizes": (8,), "batch_size": 16,
                         "device": "cpu"}, 0).fit(X, groups)
    model.model.set_params(device="cuda")  # what a fit on a GPU saves
    path = tmp_path / "m.safetensors"
    entry = save_stream(model, path)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        back = load_stream(entry, path, device="cpu")
    assert back.model.get_params()["device"] == "auto"


def test_a_file_that_cannot_be_read_is_one_line_naming_it(tmp_path):
    path = tmp_path / "m.safetensors"
    path.write_bytes(b"not safetensors")
    with pytest.raises(ArtifactError, match=rf"^{path}: not a readable safetensors file"):
        read_arrays(path)
    with pytest.raises(ArtifactError, match=r"cannot save a object stream model"):
        save_stream(object(), path)
    assert stream_spec(object()) is None
