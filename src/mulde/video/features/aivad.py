"""Reader of the object features released by Accurate-Interpretable-VAD (AI-VAD).

AI-VAD ships each feature stream of a split as one `.npy` file holding a 1-D NumPy *object*
array with one entry per frame (frames of all videos concatenated in video order); entry t is
an (n_objects_t, d) float array, e.g. `extracted_features/ped2/{train,test}/pose.npy` with
d = 34 (17 keypoints). A frame without detections is stored as an empty array (shape (0,) in
the released Ped2 pose file, or (0, d)).

Object arrays can only be loaded with `np.load(..., allow_pickle=True)`, which runs pickle:
a crafted file can execute arbitrary code while it is read. `read_aivad_features` therefore
refuses such files unless the caller passes `trust_pickle=True` for a file from a trusted
source, and even then only opens files that start with the `.npy` magic string (so a raw
pickle is never handed to `np.load`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mulde.io.features import FeatureFileError
from mulde.io.sniff import FileKind, sniff
from mulde.video.features.records import ObjectFeatures


class UntrustedPickleError(FeatureFileError):
    """The file needs pickle to load and the caller did not declare it trusted."""


def read_aivad_features(path: str | Path, *, trust_pickle: bool = False) -> ObjectFeatures:
    """Return the objects of an AI-VAD per-frame feature file as one `ObjectFeatures` record.

    `trust_pickle=True` allows `np.load(allow_pickle=True)`, i.e. unpickling: pass it only for
    files from a source you trust (such as the features released with the AI-VAD code). With
    the default False an object array raises `UntrustedPickleError`. Raises `FeatureFileError`
    naming the file and the frame when the file is not a 1-D object array of 2-D numeric
    entries with one common width d, or holds NaN/inf values.
    """
    path = Path(path)
    if not path.is_file():
        raise FeatureFileError(f"{path}: no such file")
    kind = sniff(path)
    if kind is not FileKind.NPY:
        what = "not" if kind is None else f"{kind.value}, not"
        raise FeatureFileError(f"{path}: {what} a NumPy .npy file (AI-VAD features are .npy)")
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as err:
        if "allow_pickle" not in str(err):
            raise FeatureFileError(f"{path}: cannot read as .npy: {err}") from err
        if not trust_pickle:
            raise UntrustedPickleError(
                f"{path}: this file stores a NumPy object array, which can only be loaded by "
                "unpickling it; unpickling a crafted file can run arbitrary code. If the file "
                "comes from a source you trust (e.g. the features released by AI-VAD), call "
                "read_aivad_features(path, trust_pickle=True)."
            ) from err
        try:
            array = np.load(path, allow_pickle=True)
        except Exception as err2:  # corrupt pickle payloads raise many exception types
            raise FeatureFileError(f"{path}: cannot unpickle the object array: {err2}") from err2
    return frames_to_objects(array, path)


def frames_to_objects(frames: np.ndarray, source: str | Path = "features") -> ObjectFeatures:
    """Return the `ObjectFeatures` of a 1-D object array of per-frame (n_objects, d) arrays.

    Empty entries (size 0: shape (0,) or (0, d)) are frames without objects. Errors name
    `source` and the 0-based frame index.
    """
    if not isinstance(frames, np.ndarray) or frames.dtype != object:
        dtype = getattr(frames, "dtype", type(frames).__name__)
        raise FeatureFileError(
            f"{source}: expected a NumPy object array with one entry per frame, got dtype {dtype}"
        )
    if frames.ndim != 1 or frames.size == 0:
        raise FeatureFileError(
            f"{source}: expected a non-empty 1-D object array (one entry per frame), "
            f"got shape {frames.shape}"
        )
    dim: int | None = None
    blocks: list[np.ndarray] = []
    index: list[np.ndarray] = []
    for t, entry in enumerate(frames):
        if not isinstance(entry, np.ndarray):
            raise FeatureFileError(
                f"{source}: frame {t} holds a {type(entry).__name__}, not a NumPy array"
            )
        if entry.size == 0 and entry.ndim == 1:
            continue  # a frame without objects (any dtype)
        if not (np.issubdtype(entry.dtype, np.integer) or np.issubdtype(entry.dtype, np.floating)):
            raise FeatureFileError(f"{source}: frame {t} has non-numeric dtype {entry.dtype}")
        if entry.ndim != 2:
            raise FeatureFileError(
                f"{source}: frame {t} has shape {entry.shape}; expected (n_objects, d)"
            )
        if dim is None:
            dim = entry.shape[1]
        elif entry.shape[1] != dim:
            raise FeatureFileError(
                f"{source}: frame {t} has objects of dimension {entry.shape[1]}, "
                f"earlier frames {dim}"
            )
        if entry.shape[0] == 0:
            continue
        with np.errstate(over="ignore", invalid="ignore"):
            block = entry.astype(np.float32)
        if not np.isfinite(block).all():
            raise FeatureFileError(
                f"{source}: frame {t} holds NaN, inf or values beyond the float32 range"
            )
        blocks.append(block)
        index.append(np.full(entry.shape[0], t, dtype=np.int64))
    if dim is None or not blocks:
        raise FeatureFileError(f"{source}: none of the {frames.size} frames holds an object")
    return ObjectFeatures(np.concatenate(blocks), np.concatenate(index), int(frames.size),
                          source=str(source))
