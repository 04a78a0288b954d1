"""Test-wide settings: one torch thread per worker (pytest runs two workers, see pyproject),
so the small models of the tests never oversubscribe the cores."""

import torch
from fakes import data_required, data_root
from hypothesis import settings

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
