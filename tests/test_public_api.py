"""The library surface named in reconciler.__all__ resolves, and importing it is cheap."""

from __future__ import annotations

import subprocess
import sys

import reconciler


def test_every_public_name_resolves() -> None:
    for name in reconciler.__all__:
        assert getattr(reconciler, name) is not None


def test_importing_the_package_loads_no_http_stack() -> None:
    code = "import sys, reconciler; print('httpx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
