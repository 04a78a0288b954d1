"""MULDE: multiscale log-density estimation via denoising score matching, for anomaly detection."""

from typing import Any

__version__ = "0.1.0"
__all__ = ["MULDE", "__version__"]


def __getattr__(name: str) -> Any:
    # imported lazily so that torch-free parts (evaluation, datasets) load fast
    if name == "MULDE":
        from mulde.detector import MULDE

        return MULDE
    raise AttributeError(f"module 'mulde' has no attribute {name!r}")
