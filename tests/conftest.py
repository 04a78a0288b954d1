"""Test-wide settings: one torch thread per worker (pytest runs two workers, see pyproject),
so the small models of the tests never oversubscribe the cores."""

from pathlib import Path

import numpy as np
import pytest
import torch
from fakes import FAST, SMALL, data_required, data_root, write_frames
from hypothesis import settings

from mulde import MULDE

torch.set_num_threads(1)
# no per-example time limit: a deadline is a timed assertion, and on a loaded 2-core machine
# (CI) it fails tests that are correct
settings.register_profile("mulde", deadline=None)
settings.load_profile("mulde")


def pytest_report_header(config):
    """Say where the real-data tests look, and whether missing data fails or skips them."""
    root = data_root().resolve()
    state = "present" if root.exists() else "absent"
    policy = "missing data fails (MULDE_REQUIRE_DATA)" if data_required() else "missing data skips"
    return f"real data: {root} ({state}; {policy})"


@pytest.fixture(scope="module")
def unit_model() -> MULDE:
    return MULDE(**FAST).fit(np.random.default_rng(4).standard_normal((200, 3)))


@pytest.fixture
def small_folder(tmp_path) -> Path:
    root = tmp_path / "data"
    for split, name, n in (("train", "t0", 4), ("train", "t1", 5), ("test", "a", 6)):
        write_frames(root / split / name, n, size=SMALL)
    return root
