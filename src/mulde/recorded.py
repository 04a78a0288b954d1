"""Warnings shown as usual and also kept, for the files that outlive the terminal: a run's
metrics.json and report (`mulde.pipeline`), a watch's watch.json (`mulde.watch`); held back
instead of shown, to be said by an error or again later (`held_warnings`); and shown at the
user's line that called a public entry point (`shown_at_caller`)."""

from __future__ import annotations

import contextlib
import functools
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


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


@contextlib.contextmanager
def held_warnings(category: type[Warning] | tuple[type[Warning], ...],
                  again: bool = False) -> Iterator[list[Warning]]:
    """Yield a list that receives the `category` warnings (a class or a tuple of classes)
    raised inside the block, the Warning objects (str() is the message), instead of showing
    them: every one, even under -W ignore or when the same words were warned before in this
    process (the registry shows a repeat once), as what is held may be all a later error can
    say. Every other warning is shown as it comes. With `again`, on the way out (an error's
    too) the held ones are warned again in order, at the lines that raised them, through the
    filters then in force and without the registry."""
    held: list[Warning] = []
    where: list[tuple[str, int]] = []
    try:
        with warnings.catch_warnings():  # restores the filters and the display on the way out
            for kind in category if isinstance(category, tuple) else (category,):
                warnings.simplefilter("always", kind)
            shown = warnings.showwarning

            def show(message, kind, filename, lineno, file=None, line=None) -> None:
                if issubclass(kind, category):
                    held.append(message if isinstance(message, Warning) else kind(message))
                    where.append((filename, lineno))
                else:
                    shown(message, kind, filename, lineno, file, line)

            warnings.showwarning = show
            yield held
    finally:
        if again:
            for message, (filename, lineno) in zip(held, where, strict=True):
                warnings.warn_explicit(message, type(message), filename, lineno)


def _is_mulde_file(filename: str) -> bool:
    """Whether a warning's source file is part of this package."""
    return Path(filename).resolve().is_relative_to(Path(__file__).resolve().parent)


def shown_at_caller(function: F) -> F:
    """Decorate a public entry point (`load_dataset`, `run_pipeline`, ...) so that the warnings
    mulde's own code raises inside it are shown at the line that called it, the user's (as
    file and line; `warnings.catch_warnings(record=True)` records them so), not at a line of
    mulde several calls deep or contextlib's of a decorator. The filters still match the
    module that raised one, and `recorded_warnings` inside still sees mulde's file. A
    `stacklevel` cannot do this, as each warning lies at another depth below the entry point,
    and `skip_file_prefixes` needs Python 3.12 (this package supports 3.10). Put it
    outermost, so that the frame calling it is the caller's."""

    @functools.wraps(function)
    def called(*args: Any, **kwargs: Any) -> Any:
        caller = sys._getframe(1)
        at = (caller.f_code.co_filename, caller.f_lineno)
        shown = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None) -> None:
            if _is_mulde_file(filename) or filename == contextlib.__file__:  # (a decorator's)
                (filename, lineno), line = at, None  # the source line read from there
            shown(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        try:
            return function(*args, **kwargs)
        finally:
            warnings.showwarning = shown

    return called  # type: ignore[return-value]
