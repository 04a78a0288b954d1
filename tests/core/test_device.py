"""Device selection: 'auto' prefers CUDA, then MPS, then the CPU; other names pass through."""

import pytest
import torch

from mulde.core.device import resolve_device


@pytest.mark.parametrize(("cuda", "mps", "expected"), [
    (True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert resolve_device("auto") == torch.device(expected)


def test_explicit_names_pass_through_without_probing(monkeypatch):
    def probed():
        raise AssertionError("an explicit device must not probe availability")

    monkeypatch.setattr(torch.cuda, "is_available", probed)
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert resolve_device(torch.device("meta")) == torch.device("meta")


def test_a_malformed_name_is_refused_by_torch():
    with pytest.raises(RuntimeError, match="gpu"):
        resolve_device("gpu")
