"""Videos a run found unreadable, so that it opens each of them once.

A run meets a video in several places: a dataset loader probes it for its frame count, the
static stream's scene background probes and decodes the training videos, the extraction
decodes each video, and later steps probe them again. A video that cannot be read failed in
each (a truncated file was opened three times by one `mulde run`, and decoded up to its
cut twice). Within `remembered()` (a command of `mulde`, `mulde.pipeline.run_pipeline`,
`train_pipeline`, `extract_features`), the first `VideoReadError` that
`mulde.video.decode.probe` or `iter_frames` raise for a file or frame folder is kept, and
every later probe or decode of it raises that same error at once, without opening it, for
as long as the path is unchanged (its device, inode, size, and modification and change
times: a file repaired or replaced in the meantime is read again; of a frame folder, those
of the folder itself, which an image rewritten in place leaves as they were, so such a
repair is seen by the next run). Outside it nothing is
kept, so a library user's own retry reads the file again. A path that does not exist is
never kept (it is cheap to find missing, and may appear). The feature cache keeps such a
failure across runs (`mulde.video.cache.FeatureCache.store_failure`).

The block also keeps what a run says once about a video though it meets it several times
(`first_said`: the stray images of a frame folder, `mulde.video.decode`), so that every run
of a long-lived process says it, and says it once; outside a block, once a process (a
library user's own calls, a Ray worker).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path

_KEPT: ContextVar[dict[tuple, tuple[type[Exception], tuple]] | None] = ContextVar(
    "mulde_unreadable", default=None)
_SAID: ContextVar[set[tuple] | None] = ContextVar("mulde_said", default=None)
_SAID_OUTSIDE: set[tuple] = set()  # `first_said` outside a block


@contextlib.contextmanager
def remembered() -> Iterator[None]:
    """Within the block, keep each video found unreadable (module docstring); a block inside
    another shares the outer one's, so a run that calls another step keeps one record."""
    if _KEPT.get() is not None:
        yield
        return
    token, said = _KEPT.set({}), _SAID.set(set())
    try:
        yield
    finally:
        _SAID.reset(said)
        _KEPT.reset(token)


def first_said(key: tuple) -> bool:
    """True the first time `key` (what is said about a video, e.g. a folder and its stray
    images' names) is given in this `remembered()` block, or outside one in this process,
    and from then on False: the caller says it when True (module docstring)."""
    said = _SAID.get()
    said = _SAID_OUTSIDE if said is None else said
    if key in said:
        return False
    said.add(key)
    return True


def identity(path: str | os.PathLike[str]) -> tuple | None:
    """What names `path` as it is now, within a `remembered()` block: its resolved path,
    device, inode, size and modification and change times in ns; None outside one, or when
    it cannot be stat'ed (missing). Taken before a read, for `remember`: a file that was
    still being written when its read failed has changed since, and is read again."""
    if _KEPT.get() is None:
        return None
    try:
        st = os.stat(path)
        where = str(Path(path).resolve())
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop
        return None
    return (where, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def known(path: str | os.PathLike[str]) -> Exception | None:
    """A new copy of the error `path` gave earlier in this `remembered()` block, to raise;
    None outside one, when it gave none, or when it changed since."""
    kept = _KEPT.get()
    found = None if not kept else identity(path)
    error = None if found is None else kept.get(found)  # type: ignore[union-attr]
    return None if error is None else error[0](*error[1])


def remember(before: tuple | None, error: Exception) -> None:
    """Keep `error` as what reading the path whose `identity` was `before` (taken before
    the read) gives, for the rest of the `remembered()` block: its class and arguments, not
    the exception itself, whose traceback holds the decoder's frames (nothing outside a
    block, or for a path that did not exist)."""
    kept = _KEPT.get()
    if kept is not None and before is not None:
        kept.setdefault(before, (type(error), error.args))
