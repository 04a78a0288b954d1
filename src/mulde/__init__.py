"""MULDE: multiscale log-density estimation via denoising score matching, for anomaly detection."""

import os
from typing import Any

from mulde._version import __version__

# OpenMP threads wait by sleeping, not spinning (a user's own setting wins; it must be set
# before torch loads): next to two busy processes on 2 cores, a fit took 65 s with spinning
# waits and 9 s with sleeping ones, and no slower on an idle machine
# (benchmarks/threads_contention.py)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__all__ = ["MULDE", "__version__"]


def __getattr__(name: str) -> Any:
    # imported lazily so that torch-free parts (evaluation, datasets) load fast
    if name == "MULDE":
        from mulde.estimator.model import MULDE

        return MULDE
    raise AttributeError(f"module 'mulde' has no attribute {name!r}")
