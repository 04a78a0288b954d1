"""The package's public face: every advertised name resolves, and importing mulde is light."""

from __future__ import annotations

import subprocess
import sys

import mulde


def test_every_public_name_resolves():
    for name in mulde.__all__:
        assert getattr(mulde, name) is not None, name
    assert sorted(dir(mulde)) == sorted(mulde.__all__)


def test_importing_mulde_loads_no_torch_and_sets_no_process_setting():
    code = ("import os, sys; before = dict(os.environ); import mulde; "
            "assert 'torch' not in sys.modules; assert dict(os.environ) == before")
    subprocess.run([sys.executable, "-c", code], check=True)
