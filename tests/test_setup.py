"""The set-up the README promises: `make` says what it installs and shows pip's progress,
PyTorch's CPU wheel index is one variable away, and the license is an SPDX expression (no
setuptools deprecation banner)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from fakes import REPO

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")


def test_license_is_an_spdx_string_with_a_setuptools_that_reads_it():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["project"]["license"] == "MIT"  # a table is deprecated by setuptools 77
    requires = project["build-system"]["requires"]
    assert any(r.replace(" ", "").startswith("setuptools>=77") for r in requires)
    assert not any(c.startswith("License ::") for c in project["project"].get("classifiers", []))


def _dry_run(*args: str) -> str:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    stamp = REPO / ".venv" / ".installed"
    return subprocess.run(["make", "-n", "-W", "pyproject.toml", "-C", str(REPO), *args,
                           f"STAMP={stamp}.dry-run"], capture_output=True, text=True,
                          check=True).stdout


def test_make_announces_the_install_and_shows_pips_progress():
    steps = _dry_run("venv")
    assert "Setting up .venv" in steps and "several hundred MB" in steps
    installs = [line for line in steps.splitlines() if "pip install" in line
                and "--upgrade pip" not in line]
    assert len(installs) == 2 and all("--progress-bar on" in line and " -q " not in line
                                      for line in installs)
    assert "--index-url" not in steps  # pip's configured index unless asked


def test_the_readme_names_make_venv_which_sets_up_and_runs_nothing():
    """`make venv`, the set-up without the demo or the tests, is in the README's quick start
    and does what it says there."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "\nmake venv   # the set-up alone" in quick_start
    steps = _dry_run("venv")
    assert "-e '.[dev]'" in steps
    assert "mulde demo" not in steps and "pytest" not in steps and "ruff" not in steps


def test_the_cpu_wheel_index_is_one_variable_away():
    url = "https://download.pytorch.org/whl/cpu"
    steps = _dry_run("venv", f"TORCH_INDEX={url}")
    torch_line = next(line for line in steps.splitlines() if line.rstrip().endswith(" torch"))
    assert f"--index-url {url}" in torch_line
    mulde_line = next(line for line in steps.splitlines() if "-e '.[dev]'" in line)
    assert "--index-url" not in mulde_line  # only torch comes from PyTorch's index


def _logging_script(path, log, body: str = "") -> None:
    """Write an executable sh script at `path` that appends its name and arguments to `log`,
    then runs `body`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\necho "{path.parent.name} $*" >> "{log}"\n{body}\n')
    path.chmod(0o755)


def test_ssd_onnx_locates_the_graph_once_and_stops_before_the_tensorflow_venv_without_it(
        tmp_path):
    """`make ssd-onnx` with stand-ins for mulde's Python, the TensorFlow venv's and the venv
    builder: without the graph it stops at the one locating call (status 2's line shown),
    building no venv; with it, the graph is located once and its path reaches the
    conversion."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    log, found = tmp_path / "calls.log", tmp_path / "found"
    _logging_script(tmp_path / "mulde" / "python", log, f"""case "$*" in
  *"--locate graph"*) if [ -e "{found}" ]; then echo /g/frozen.pb; else
    echo "convert_ssd_onnx: error: no route gives the graph" >&2; exit 2; fi;;
  *"--locate folder"*) echo /w;;
esac""")
    _logging_script(tmp_path / "builder" / "python3", log)
    _logging_script(tmp_path / "tf" / "bin" / "python", log)
    make = ["make", "-C", str(REPO), "ssd-onnx", "STAMP=", f"BIN={tmp_path / 'mulde'}",
            f"PY={tmp_path / 'builder' / 'python3'}", f"TF_VENV={tmp_path / 'tf'}"]
    done = subprocess.run(make, capture_output=True, text=True)
    assert done.returncode != 0 and "no route gives the graph" in done.stderr
    assert log.read_text().splitlines() == ["mulde tools/convert_ssd_onnx.py --locate graph"]
    log.unlink()
    found.touch()
    subprocess.run(make, capture_output=True, text=True, check=True)
    assert log.read_text().splitlines() == [
        "mulde tools/convert_ssd_onnx.py --locate graph",
        "mulde tools/convert_ssd_onnx.py --locate folder",
        "bin -m pip install -q tensorflow-cpu==2.21.0 tf2onnx==1.17.0 onnx==1.23.2",
        "bin tools/convert_ssd_onnx.py --graph /g/frozen.pb --weights-folder /w"]
