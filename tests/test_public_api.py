"""The library surface named in reconciler.__all__ resolves, and importing it is cheap."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import reconciler


def test_every_public_name_resolves() -> None:
    for name in reconciler.__all__:
        assert getattr(reconciler, name) is not None


def test_importing_the_package_loads_no_http_stack() -> None:
    code = "import sys, reconciler; print('httpx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_driving_the_emulator_loads_none_of_its_server() -> None:
    """`emulator.embedded` runs the emulator in its own process: the process that drives it
    (the demo, a bench, a test) does not carry the server's modules."""
    server = ("starlette", "uvicorn", "sqlite3", "emulator.service", "emulator.store")
    code = f"import sys, emulator.embedded; print([m for m in {server!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _public_modules() -> list[str]:
    """Every module of the three packages whose name does not start with an underscore."""
    root = Path(__file__).resolve().parent.parent
    found = []
    for package in ("reconciler", "provider", "emulator"):
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if any(p.startswith("_") and p != "__init__" for p in parts):
                continue
            found.append(".".join(p for p in parts if p != "__init__"))
    return found


@pytest.mark.parametrize("module", _public_modules())
def test_every_public_module_declares_its_names_and_they_import(module: str) -> None:
    imported = importlib.import_module(module)
    names = getattr(imported, "__all__", None)
    assert names is not None, f"{module} has no __all__"
    for name in names:
        assert hasattr(imported, name), f"{module}.__all__ names {name}, which is missing"
