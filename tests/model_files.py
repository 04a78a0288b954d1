"""Model files edited for tests, as someone who knows the format can edit them.

A MULDE file's checksum (`sha256`) catches accidental damage only: whoever edits the file can
compute it again (`content_checksum`). `edit_model_file` does so, so a test can hand `load`,
`mulde info` or `export` a consistent file of other contents: a field a fit never writes, an
array dropped, or a file as an older mulde saved it (a field it did not record yet).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

from mulde.estimator.persistence import CHECKSUM, content_checksum


def stored_contents(path: str | Path) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    """The metadata and the arrays stored in the safetensors file `path`, read as they are
    (unlike `mulde.estimator.persistence.read_model_file`, which checks them)."""
    with safe_open(str(path), framework="numpy") as f:
        return dict(f.metadata()), {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118


def edit_model_file(source: str | Path, out: str | Path | None = None, *,
                    meta: Mapping[str, str] | None = None,
                    arrays: Mapping[str, np.ndarray] | None = None,
                    params: Mapping[str, object] | None = None,
                    record: Mapping[str, object] | None = None,
                    drop_meta: Iterable[str] = (), drop_arrays: Iterable[str] = (),
                    drop_params: Iterable[str] = (), drop_record: Iterable[str] = ()) -> Path:
    """Write `source` again to `out` (default: over `source`) with metadata fields `meta` and
    arrays `arrays` set, the JSON `params` and `train_result` (`record`) updated, and the
    named metadata fields, arrays, params and `train_result` entries removed; the checksum is
    that of the new contents, written whatever the file's format_version (a format-1 file
    edited here gets one, which loading then checks). Returns the path written. A file without
    the checksum is made from its stored contents (`stored_contents`): `meta` or `drop_meta`
    naming it (which this would overwrite or write again) raises ValueError."""
    drop_meta = list(drop_meta)
    if CHECKSUM in dict(meta or {}) or CHECKSUM in drop_meta:
        raise ValueError(f"edit_model_file writes {CHECKSUM!r} itself; for a file without it, "
                         "save stored_contents without it")
    stored_meta, stored = stored_contents(source)
    for field, updates, drops in (("params", params, drop_params),
                                  ("train_result", record, drop_record)):
        drops = list(drops)
        if updates is not None or drops:  # a JSON object of the metadata, edited
            edited = json.loads(stored_meta[field]) | dict(updates or {})
            for name in drops:
                del edited[name]
            stored_meta[field] = json.dumps(edited)
    stored_meta |= dict(meta or {})
    stored |= dict(arrays or {})
    for name in drop_meta:
        del stored_meta[name]
    for name in drop_arrays:
        del stored[name]
    stored_meta[CHECKSUM] = content_checksum(stored, stored_meta)
    path = Path(source if out is None else out)
    save_file(stored, str(path), metadata=stored_meta)
    return path
