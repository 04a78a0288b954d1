"""Safetensors files written byte for byte the same for the same arrays and metadata.

The safetensors writer keeps a file's string metadata in a hash map whose order changes from
one process to the next, so the same model saved twice gave files with other bytes and
other checksums (a newcomer compared a resumed run's model files with an uninterrupted
run's: equal tensors, different SHA-256s in pipeline.json). `write_safetensors` lets the
library stream the file to disk, then rewrites its header with the metadata in key order.
The format (an 8-byte little-endian header length, the JSON header padded with spaces to a
multiple of 8, then the data, its offsets counted from the end of the header;
the "Format" section of huggingface/safetensors' README) is unchanged, and the library
reads the file as it wrote it.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from mulde.io.atomic import atomic_path

_LENGTH = 8  # bytes of the little-endian header length


def sorted_header(header: bytes) -> bytes:
    """The JSON header `header` (as the file holds it, padding included) with its
    `__metadata__` keys in sorted order, serialised as the library does (compact, UTF-8) and
    padded with spaces to a multiple of 8 bytes."""
    parsed = json.loads(header)
    if "__metadata__" in parsed:
        parsed["__metadata__"] = dict(sorted(parsed["__metadata__"].items()))
    text = json.dumps(parsed, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return text + b" " * (-len(text) % _LENGTH)


def write_safetensors(path: str | os.PathLike, arrays: Mapping[str, np.ndarray],
                      metadata: Mapping[str, str]) -> Path:
    """Write `arrays` (name -> numeric array, stored C-contiguous) with the string `metadata`
    to the safetensors file `path` atomically (`mulde.io.atomic.atomic_path`: a crash leaves
    the previous file, never a partial one), the metadata in key order (`sorted_header`), so
    equal inputs give equal bytes in any process; return the path. The data are streamed to
    disk by the library, never held twice in memory. OSError when the file cannot be written
    (a full disk included); from the library, SafetensorError for an array it cannot store
    and TypeError for metadata that are not strings."""
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(tmp),
                  metadata=dict(metadata))
        with open(tmp, "r+b") as fh:
            n = int.from_bytes(fh.read(_LENGTH), "little")
            header = sorted_header(fh.read(n))
            if len(header) == n:  # the same fields, reordered: rewritten in place
                fh.seek(_LENGTH)
                fh.write(header)
                return path
        moved = tmp.with_name(tmp.name + ".data")  # another length: copy the data behind it
        tmp.replace(moved)
        try:
            with open(moved, "rb") as src, open(tmp, "wb") as dst:
                src.seek(_LENGTH + n)
                dst.write(len(header).to_bytes(_LENGTH, "little") + header)
                shutil.copyfileobj(src, dst, 1 << 20)
        finally:
            moved.unlink(missing_ok=True)
    return path
