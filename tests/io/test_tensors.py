"""Safetensors files with the same arrays and metadata have the same bytes."""

import subprocess
import sys

import numpy as np
from safetensors import safe_open

from mulde.io.tensors import safetensors_bytes, write_safetensors

CODE = ("import sys, numpy as np; from mulde.io.tensors import safetensors_bytes; "
        "sys.stdout.buffer.write(safetensors_bytes({'w': np.arange(6.0).reshape(2, 3), "
        "'b': np.ones(3, np.float32)}, {k: str(i) for i, k in enumerate('hgfedcba')}))")


def test_the_same_arrays_and_metadata_give_the_same_bytes_in_any_process():
    """The library's writer orders metadata by a per-process hash: three processes gave
    three files. Sorted, every process writes the same bytes."""
    runs = {subprocess.run([sys.executable, "-c", CODE], capture_output=True,
                           check=True).stdout for _ in range(3)}
    assert len(runs) == 1


def test_the_file_reads_back_its_arrays_and_metadata(tmp_path):
    arrays = {"w": np.arange(6.0).reshape(2, 3), "t": np.arange(4, dtype=np.int64)[::2],
              "é": np.zeros((0, 2), np.float32)}
    meta = {"z": "last", "a": "first, ü", "m": '{"json": [1, 2]}'}
    path = write_safetensors(tmp_path / "x.safetensors", arrays, meta)
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    assert n % 8 == 0 and data[8:8 + n].rstrip(b" ").endswith(b"}")
    assert data[8:8 + n].index(b'"a"') < data[8:8 + n].index(b'"m"') < data[8:8 + n].index(b'"z"')
    with safe_open(str(path), "np") as f:
        assert f.metadata() == meta
        for name, value in arrays.items():
            np.testing.assert_array_equal(f.get_tensor(name), value)
            assert f.get_tensor(name).dtype == value.dtype
    assert data == safetensors_bytes(dict(reversed(arrays.items())),
                                     dict(reversed(meta.items())))
