"""Shared helpers of the benchmark scripts: machine info, JSON results written atomically."""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DATA_ROOT = Path(os.environ.get("MULDE_DATA",
                                Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))
PACKAGES = ("mulde", "torch", "numpy", "scipy", "scikit-learn", "pyod", "faiss-cpu")


def library_versions() -> dict[str, str | None]:
    """Return {package: version or None when not installed} for the packages benchmarked."""
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def machine_info() -> dict[str, Any]:
    """Return the CPU, core count, thread settings, load and Python of this machine."""
    import torch

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"platform": platform.platform(), "cpu": cpu, "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "loadavg_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
            "python": sys.version.split()[0],
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def load_ped2(root: Path):
    """Return UCSD Ped2 (`mulde.datasets.load_dataset`) from root, or None after saying on
    stderr that it is missing (the benchmark then exits with status 2)."""
    if not root.is_dir():
        print(f"UCSD Ped2 not found at {root}; set MULDE_DATA", file=sys.stderr)
        return None
    from mulde.datasets import load_dataset

    return load_dataset("ucsd_ped2", root)


def ped2_training_folders(root: Path) -> list[Path] | None:
    """The frame folders of UCSD Ped2's training videos under root, in order, or None after
    saying on stderr that there are none (the benchmark then exits with status 2)."""
    folder = root / "training" / "frames"
    folders = sorted(folder.iterdir()) if folder.is_dir() else []
    if not folders:
        print(f"no training videos under {root}", file=sys.stderr)
        return None
    return folders


def read_rgb(path: Path):
    """One image file as an RGB uint8 (H, W, 3) array (OpenCV reads BGR)."""
    import cv2

    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def command_line() -> str:
    """Return the command that launched this process, as one shell-quoted line."""
    return "python " + " ".join(shlex.quote(a) for a in sys.argv)


def new_header(kind: str, **extra: Any) -> dict[str, Any]:
    """Return the header every results JSON starts with."""
    return {"kind": kind, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": machine_info(), "versions": library_versions(),
            "commands": [command_line()], **extra}


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write payload to path atomically (temp file in the same folder, then os.replace)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(payload, f, indent=1, sort_keys=False)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path) -> dict[str, Any] | None:
    """Return the parsed JSON at path, or None when the file does not exist."""
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err


def in_parallel(fn: Callable[..., Any], calls: list[tuple], n_jobs: int) -> Iterator[Any]:
    """Yield fn(*args) for each args of `calls`, in the order they finish: in this process
    when n_jobs is 1, else in n_jobs worker processes started fresh ("spawn", so that a worker
    may use CUDA; each runs set_single_thread first). Used to fill a many-core or GPU machine
    with independent fits; never for timings."""
    if n_jobs <= 1:
        for args in calls:
            yield fn(*args)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(n_jobs, mp_context=multiprocessing.get_context("spawn"),
                             initializer=set_single_thread) as pool:
        futures = [pool.submit(fn, *args) for args in calls]
        try:
            for future in as_completed(futures):
                yield future.result()
        except BaseException:  # a failed call, or the caller stopped: drop the queued calls
            pool.shutdown(wait=False, cancel_futures=True)  # (exiting `with` would run them)
            raise


@contextmanager
def validation_draws(draws: str | None) -> Iterator[None]:
    """Fit with `mulde.core.training.VALIDATION_DRAWS` set to `draws` ("shared" or
    "per_member", issue 15's round 49: not a MULDE parameter); the library's own for None."""
    if draws is None:
        yield
        return
    import mulde.core.training as training

    if draws not in training.VALIDATION_DRAWS_KINDS:
        raise ValueError(f"validation draws must be one of {training.VALIDATION_DRAWS_KINDS}, "
                         f"got {draws!r}")
    original = training.VALIDATION_DRAWS
    training.VALIDATION_DRAWS = draws
    try:
        yield
    finally:
        training.VALIDATION_DRAWS = original


def set_single_thread() -> None:
    """Pin torch and OpenCV to OMP_NUM_THREADS threads, one by default (the benchmark machine
    is shared; see docs/benchmarks.md)."""
    import cv2
    import torch

    threads = int(os.environ.get("OMP_NUM_THREADS", "1"))
    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)


def run_cases(kind: str, description: str, run_case: Callable[[str, int], dict],
              argv: list[str] | None = None) -> dict[str, Any]:
    """The command line of a density probe (density_score_norm.py, density_out_of_bag.py):
    --cases dist:d:n ... (as density_fidelity.py's), --seed (5, the suite's scratch seed) and
    --out (results/KIND.json); `run_case(spec, seed)` gives each case's row, and the results
    file is rewritten after each case, so a stopped run keeps what it measured. Returns the
    results."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--cases", nargs="+", required=True, help="dist:d:n, as the suite's")
    parser.add_argument("--seed", type=int, default=5, help="5: the suite's scratch seed")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / f"{kind}.json")
    args = parser.parse_args(argv)
    set_single_thread()
    out = new_header(kind, seed=args.seed, cases=[])
    for spec in args.cases:
        out["cases"].append(run_case(spec, args.seed))
        write_json(args.out, out)
    return out
