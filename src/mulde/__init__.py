"""MULDE: multiscale log-density estimation via denoising score matching, for anomaly detection.

Importing mulde changes no process-wide setting (threads, OpenMP's wait policy): those are the
`mulde` command's choices (`mulde.cli.process_settings`), or the host program's.
"""

from typing import Any

from mulde._version import __version__

__all__ = ["MULDE", "__version__"]


def __getattr__(name: str) -> Any:
    # imported lazily so that torch-free parts (evaluation, datasets) load fast
    if name == "MULDE":
        from mulde.estimator.model import MULDE

        return MULDE
    raise AttributeError(f"module 'mulde' has no attribute {name!r}")
