"""Warnings shown as usual and also kept, for the files that outlive the terminal: a run's
metrics.json and report (`mulde.pipeline`), a watch's watch.json (`mulde.watch`)."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def recorded_warnings(category: type[Warning] | tuple[type[Warning], ...] = UserWarning,
                      into: list[str] | None = None) -> Iterator[list[str]]:
    """Yield a list (`into`, or a new one) that receives, once each, the messages of the
    `category` warnings (a class or a tuple of classes) that mulde's own code raises inside
    the block and that are shown (e.g. an assumed frame rate, fewer calibration folds, a
    camera of another frame size);
    every warning is still shown as usual, when it is raised (the CLI prints it as one
    `mulde: warning:` line)."""
    found: list[str] = [] if into is None else into
    with warnings.catch_warnings():  # restores warnings.showwarning on the way out
        shown = warnings.showwarning

        def show(message, kind, filename, lineno, file=None, line=None) -> None:
            shown(message, kind, filename, lineno, file, line)
            text = str(message)
            if issubclass(kind, category) and _is_mulde_file(filename) and text not in found:
                found.append(text)

        warnings.showwarning = show
        yield found


def _is_mulde_file(filename: str) -> bool:
    """Whether a warning's source file is part of this package."""
    return Path(filename).resolve().is_relative_to(Path(__file__).resolve().parent)
