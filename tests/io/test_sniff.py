"""What a file is from its first bytes (mulde.io.sniff): the kinds the feature and model
readers name when a file is not what its suffix or role says."""

import bz2
import gzip
import lzma
import pickle
import zlib

import numpy as np
import pytest
from safetensors.numpy import save_file

from mulde.io.sniff import HEAD_BYTES, FileKind, sniff


def _written(tmp_path, data: bytes, name: str = "f"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_an_empty_file_is_empty_not_text(tmp_path):
    assert sniff(_written(tmp_path, b"")) is FileKind.EMPTY


@pytest.mark.parametrize("text", [
    "a,b\n1,2\n",  # a CSV
    "\ufefftemp °C,size µm\r\n1.5,2\r\n",  # Excel's "CSV UTF-8": a byte-order mark, units
    "x^2 + y^2\n",  # text that starts as a zlib stream would
    "BZh is how bzip2 starts\n",
    "col\tother\f\n",
    "<html></html>\n",
])
def test_utf8_text_is_text_even_where_it_starts_like_a_binary_format(tmp_path, text):
    assert sniff(_written(tmp_path, text.encode("utf-8"))) is FileKind.TEXT


def test_a_character_cut_at_the_end_of_the_head_is_still_text(tmp_path):
    """A file longer than the bytes read may have a multi-byte character cut there; a file
    shorter than that which ends in half a character is no text."""
    head = b"a" * (HEAD_BYTES - 1) + "é".encode()  # é is 2 bytes: its second is not read
    assert sniff(_written(tmp_path, head + b"\n1,2\n")) is FileKind.TEXT
    assert sniff(_written(tmp_path, b"a,b\n" + "é".encode()[:1], "cut")) is None


@pytest.mark.parametrize("data", [
    b"\x00\xff" * 40,  # binary
    b"a,b\n1,2\x00\n",  # a NUL byte
    b"a,b\n\x01\x02\x03\n",  # other control bytes: valid UTF-8, yet no text
    "latin-1 caf\xe9\n".encode("latin-1"),  # not UTF-8
])
def test_binary_or_other_encodings_are_no_text_and_unknown(tmp_path, data):
    assert sniff(_written(tmp_path, data)) is None


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_pickles_are_named(tmp_path, protocol):
    data = pickle.dumps({"weights": [1.0, 2.0]}, protocol=protocol)
    assert sniff(_written(tmp_path, data)) is FileKind.PICKLE


def test_numpy_files_are_named_npy_and_zip(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((3, 2)))
    np.savez(tmp_path / "b.npz", X=np.zeros((3, 2)))
    np.savez(tmp_path / "empty.npz")  # an archive of no array
    assert sniff(tmp_path / "a.npy") is FileKind.NPY
    assert sniff(tmp_path / "b.npz") is FileKind.ZIP
    assert sniff(tmp_path / "empty.npz") is FileKind.ZIP


def test_hdf5_onnx_and_safetensors_are_named(tmp_path):
    hdf5 = b"\x89HDF\r\n\x1a\n" + bytes(100)  # the format's signature (HDF5 spec, superblock)
    onnx = b"\x08\x08\x12\x07pytorch\x1a\x052.6.0" + bytes(100)  # ir_version, producer_name
    assert sniff(_written(tmp_path, hdf5, "m.h5")) is FileKind.HDF5
    assert sniff(_written(tmp_path, onnx, "m.onnx")) is FileKind.ONNX
    save_file({"w": np.zeros(3, dtype=np.float32)}, str(tmp_path / "m.safetensors"))
    assert sniff(tmp_path / "m.safetensors") is FileKind.SAFETENSORS
    # "{" at byte 8 after a length no safetensors header has: not one
    assert sniff(_written(tmp_path, b"\xff" * 8 + b"{" + bytes(20), "big")) is None


@pytest.mark.parametrize("compress", [
    gzip.compress, zlib.compress, lambda b: zlib.compress(b, 1), lambda b: zlib.compress(b, 9),
    bz2.compress, lzma.compress, lambda b: lzma.compress(b, format=lzma.FORMAT_ALONE)])
def test_compressed_streams_are_named(tmp_path, compress):
    data = compress(pickle.dumps(np.arange(50.0)))
    assert sniff(_written(tmp_path, data)) is FileKind.COMPRESSED


def test_an_unreadable_path_raises_oserror(tmp_path):
    with pytest.raises(OSError):
        sniff(tmp_path)  # a folder
    with pytest.raises(OSError):
        sniff(tmp_path / "missing")
