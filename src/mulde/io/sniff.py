"""What a file is, from its first bytes: one sniffer for every reader that refuses a file of
the wrong kind (a features file that is no NumPy file, a model file that is no safetensors)
and should say what the file holds instead."""

from __future__ import annotations

import codecs
import enum
import unicodedata
from pathlib import Path

HEAD_BYTES = 512
"""How many leading bytes `sniff` reads: every signature below fits in them, and the text rule
(`_is_text`) judges all of them."""

SAFETENSORS_MAX_HEADER = 100_000_000
"""The largest header length the safetensors library reads (its MAX_HEADER_SIZE); a file
whose first 8 bytes give more is not one."""

TEXT_CONTROLS = frozenset("\t\n\r\f")
"""The control characters a text file may hold (tab, line ends, form feed); any other
(NUL, the bytes of a binary header) makes the head binary."""


class FileKind(enum.Enum):
    """A kind of file `sniff` recognises; the value says it in a message ("x.npy: a text
    file, not a NumPy .npy file")."""

    EMPTY = "an empty file (0 bytes)"
    TEXT = "a text file"
    PICKLE = "a pickle"  # pickle.dump's and joblib.dump's files, protocols 2 to 5
    NPY = "a NumPy .npy array"
    ZIP = "a zip archive (e.g. .npz)"
    HDF5 = "an HDF5 file"
    COMPRESSED = ("a compressed file (gzip, zlib, bz2, xz or lzma: e.g. a joblib dump with "
                  "compress=)")
    ONNX = "an ONNX graph"
    SAFETENSORS = "a safetensors file"


_SIGNATURES: tuple[tuple[bytes, FileKind], ...] = (
    (b"\x93NUMPY", FileKind.NPY),
    (b"PK\x03\x04", FileKind.ZIP), (b"PK\x05\x06", FileKind.ZIP),  # an empty archive too
    (b"\x89HDF\r\n\x1a\n", FileKind.HDF5),
    # joblib.dump(..., compress=...) writes one of these streams: zlib (its 4 compression
    # levels' headers), gzip, bz2, xz, lzma
    (b"\x78\x01", FileKind.COMPRESSED), (b"\x78\x5e", FileKind.COMPRESSED),
    (b"\x78\x9c", FileKind.COMPRESSED), (b"\x78\xda", FileKind.COMPRESSED),
    (b"\x1f\x8b", FileKind.COMPRESSED), (b"BZh", FileKind.COMPRESSED),
    (b"\xfd7zXZ\x00", FileKind.COMPRESSED), (b"\x5d\x00\x00", FileKind.COMPRESSED),
)
"""The leading bytes of the binary formats `sniff` names."""


def sniff(path: str | Path) -> FileKind | None:
    """What the file at `path` is, from its first `HEAD_BYTES` bytes; None when none of
    `FileKind` fits (a damaged file, or a format not listed).

    Checked in order: empty; text (`_is_text`); then the binary signatures: a safetensors
    header (an 8-byte little-endian length of at most `SAFETENSORS_MAX_HEADER`, then "{"), a
    pickle of protocol 2 to 5 (byte 0x80, then the protocol), NumPy .npy, zip (.npz), HDF5,
    the compressed streams joblib writes, and an ONNX graph (protobuf field 1, ir_version,
    then field 2, producer_name, as PyTorch's exporter writes it). Text comes before the
    signatures because two of them ("BZh", "x^") are text themselves, while no binary
    signature passes the text rule. Raises OSError when the file cannot be read."""
    with open(path, "rb") as fh:
        head = fh.read(HEAD_BYTES)
    if not head:
        return FileKind.EMPTY
    if _is_text(head, whole=len(head) < HEAD_BYTES):
        return FileKind.TEXT
    length = int.from_bytes(head[:8], "little")
    if head[8:9] == b"{" and 0 < length <= SAFETENSORS_MAX_HEADER:
        return FileKind.SAFETENSORS
    if head[:1] == b"\x80" and head[1:2] and 2 <= head[1] <= 5:
        return FileKind.PICKLE
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            return kind
    if head[:1] == b"\x08" and head[2:3] == b"\x12":
        return FileKind.ONNX
    return None


def _is_text(head: bytes, whole: bool) -> bool:
    """Whether a file's first bytes `head` are text: UTF-8 (a byte-order mark allowed) with no
    control character but those of `TEXT_CONTROLS`; unless `whole` (the file is no longer
    than `head`), a character cut at the end of `head` still counts as text.

    This is the rule of the two the readers had that errs less: 512 bytes of UTF-8 rather
    than 64 bytes of printable ASCII. A CSV of features is often not ASCII (Excel's "CSV
    UTF-8" starts with a byte-order mark; column names hold units such as "°C" or "µm"),
    which the ASCII rule called unknown; 512 bytes are more evidence than 64 that a file is
    text throughout. The UTF-8 rule only refused NUL bytes, so it also refuses the other
    control characters here, which text does not hold and binary headers do (an ONNX
    graph's first byte is 0x08)."""
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=whole)
    except UnicodeDecodeError:
        return False
    return not any(unicodedata.category(c) == "Cc" and c not in TEXT_CONTROLS for c in text)
