"""Safetensors files with the same arrays and metadata have the same bytes."""

import subprocess
import sys

import numpy as np
import pytest
from safetensors import safe_open

import mulde.io.tensors as tensors
from mulde.io.tensors import sorted_header, write_safetensors

CODE = ("import sys, numpy as np; from mulde.io.tensors import write_safetensors; "
        "write_safetensors(sys.argv[1], {'w': np.arange(6.0).reshape(2, 3), "
        "'b': np.ones(3, np.float32)}, {k: str(i) for i, k in enumerate('hgfedcba')})")
ARRAYS = {"w": np.arange(6.0).reshape(2, 3), "t": np.arange(4, dtype=np.int64)[::2],
          "é": np.zeros((0, 2), np.float32)}
META = {"z": "last", "a": "first, ü", "m": '{"json": [1, 2]}'}


def test_the_same_arrays_and_metadata_give_the_same_bytes_in_any_process(tmp_path):
    """The library's writer orders metadata by a per-process hash: three processes gave
    three files. Sorted, every process writes the same bytes."""
    files = [tmp_path / f"{i}.safetensors" for i in range(3)]
    for f in files:
        subprocess.run([sys.executable, "-c", CODE, str(f)], check=True)
    assert len({f.read_bytes() for f in files}) == 1


def check_file(path):
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = data[8:8 + n]
    assert n % 8 == 0 and header.rstrip(b" ").endswith(b"}")
    assert header.index(b'"a"') < header.index(b'"m"') < header.index(b'"z"')
    with safe_open(str(path), "np") as f:
        assert f.metadata() == META
        for name, value in ARRAYS.items():
            np.testing.assert_array_equal(f.get_tensor(name), value)
            assert f.get_tensor(name).dtype == value.dtype
    return data


def test_the_file_reads_back_its_arrays_and_metadata(tmp_path):
    data = check_file(write_safetensors(tmp_path / "x.safetensors", ARRAYS, META))
    again = write_safetensors(tmp_path / "y.safetensors", dict(reversed(ARRAYS.items())),
                              dict(reversed(META.items())))
    assert again.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.safetensors", "y.safetensors"]


def test_a_header_of_another_length_is_written_before_the_data(tmp_path, monkeypatch):
    """Should the sorted header differ in length from the library's (another JSON escaping),
    the data are copied behind it: the file still reads back, and no temp file is left."""
    monkeypatch.setattr(tensors, "sorted_header", lambda h: sorted_header(h) + b" " * 8)
    check_file(write_safetensors(tmp_path / "x.safetensors", ARRAYS, META))
    assert [p.name for p in tmp_path.iterdir()] == ["x.safetensors"]


def test_a_full_disk_under_the_library_writer_is_an_oserror(tmp_path, monkeypatch):
    """safetensors raises its own error class on a full disk (a user's read-only fits/ once
    crashed a run with a traceback): it reaches callers as the OSError of any full disk."""
    from safetensors import SafetensorError

    def full(*args, **kwargs):
        raise SafetensorError("Error while serializing: I/O error: No space left on device "
                              "(os error 28)")

    monkeypatch.setattr(tensors, "save_file", full)
    with pytest.raises(OSError, match="No space left on device"):
        write_safetensors(tmp_path / "x.safetensors", ARRAYS, META)
    assert list(tmp_path.iterdir()) == []
