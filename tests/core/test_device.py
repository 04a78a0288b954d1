"""Device selection: 'auto' prefers CUDA, then MPS, then the CPU; other names pass through."""

import pytest
import torch

from mulde.core.device import resolve_device, same_device


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


@pytest.mark.parametrize(("a", "b", "same"), [
    ("cuda", "cuda:0", True), ("cuda:0", "cuda", True), ("cpu", "cpu:0", True),
    ("mps", "mps:0", True), (torch.device("cuda", 0), "cuda", True), ("auto", "auto", True),
    ("cuda", "cuda:1", False), ("cuda:1", "cuda:2", False), ("cpu", "cuda", False),
    ("auto", "cpu", False), ("auto", "cuda", False),
    ("banana", "banana", True), ("banana", "cpu", False), ("CUDA", "cuda", False),
    (0, "cuda", False), (None, "cpu", False)])
def test_device_names_are_compared_as_devices(a, b, same):
    """`mulde fit --device cuda --params '{"device": "cuda:0"}'` was refused as two devices."""
    assert same_device(a, b) is same
    assert same_device(b, a) is same


def test_comparing_devices_probes_no_gpu(monkeypatch):
    def probed():
        raise AssertionError("comparing names must not probe availability")

    monkeypatch.setattr(torch.cuda, "is_available", probed)
    monkeypatch.setattr(torch.cuda, "device_count", probed)
    assert same_device("cuda", "cuda:0") and not same_device("cuda:0", "cuda:3")
