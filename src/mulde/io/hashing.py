"""Content hashes for cache keys and download checks: SHA-256 of a file's bytes (optionally
remembered per size and modification time) and of a folder's listing."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable
from pathlib import Path


def sha256_file(path: str | Path) -> str:
    """Return the hex SHA-256 of a file's bytes (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_sha256(path: str | Path) -> str:
    """Return `sha256_file(path)`, read again only when the file's size or modification time
    changed (for cache keys that ask for the same file once per video). Raises OSError when
    the file cannot be read."""
    path = Path(path)
    stat = path.stat()
    return _remembered_sha256(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=8192)  # a dataset's videos, each asked for several times
def _remembered_sha256(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(path)


def listing_sha256(files: Iterable[Path]) -> str:
    """Return the hex SHA-256 of the names and sizes of `files`, the files of one folder, in
    name order (a cheap fingerprint of a folder of frames: contents not read). Raises OSError
    when a file cannot be stat'ed."""
    h = hashlib.sha256()
    for f in sorted(files):
        h.update(f"{f.name}\0{f.stat().st_size}\n".encode())
    return h.hexdigest()
