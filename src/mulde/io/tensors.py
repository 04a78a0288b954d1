"""Safetensors files written byte for byte the same for the same arrays and metadata.

The safetensors writer keeps a file's string metadata in a hash map whose order changes from
one process to the next, so the same model saved twice gave files with other bytes and
other checksums (a newcomer compared a resumed run's model files with an uninterrupted
run's: equal tensors, different SHA-256s in pipeline.json). `safetensors_bytes` serialises
with the library, then writes the header's metadata in key order; the format (an 8-byte
little-endian header length, the JSON header padded with spaces to a multiple of 8, the
data; huggingface/safetensors README, "Format") is unchanged, and the library reads the
file as it wrote it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from safetensors.numpy import save

from mulde.io.atomic import write_bytes

_LENGTH = 8  # bytes of the little-endian header length


def safetensors_bytes(arrays: Mapping[str, np.ndarray], metadata: Mapping[str, str]) -> bytes:
    """Return the safetensors serialisation of `arrays` (name -> any numeric array, stored
    C-contiguous) with the string `metadata`, its metadata keys in sorted order: equal inputs
    give equal bytes in any process. ValueError from the library for what it cannot store."""
    data = save({k: np.ascontiguousarray(v) for k, v in arrays.items()},
                metadata=dict(metadata))
    n = int.from_bytes(data[:_LENGTH], "little")
    header = json.loads(data[_LENGTH:_LENGTH + n])
    if "__metadata__" in header:
        header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % _LENGTH)
    return len(text).to_bytes(_LENGTH, "little") + text + data[_LENGTH + n:]


def write_safetensors(path: str | os.PathLike, arrays: Mapping[str, np.ndarray],
                      metadata: Mapping[str, str]) -> Path:
    """Write `safetensors_bytes(arrays, metadata)` to `path` atomically
    (`mulde.io.atomic.write_bytes`: a crash leaves the previous file, never a partial one);
    return the path. OSError when it cannot be written."""
    return write_bytes(path, safetensors_bytes(arrays, metadata))
