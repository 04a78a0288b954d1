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


def test_the_cpu_wheel_index_is_one_variable_away():
    url = "https://download.pytorch.org/whl/cpu"
    steps = _dry_run("venv", f"TORCH_INDEX={url}")
    torch_line = next(line for line in steps.splitlines() if line.rstrip().endswith(" torch"))
    assert f"--index-url {url}" in torch_line
    mulde_line = next(line for line in steps.splitlines() if "-e '.[dev]'" in line)
    assert "--index-url" not in mulde_line  # only torch comes from PyTorch's index
