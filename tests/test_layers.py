"""Layers point one way: read from each module's own imports, so a shortcut fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imports_of(relative: str) -> set[str]:
    """Every module a file imports (top level or inside functions)."""
    tree = ast.parse((ROOT / relative).read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def files_under(folder: str) -> list[str]:
    return sorted(str(p.relative_to(ROOT)) for p in (ROOT / folder).rglob("*.py"))


def _reaches(imported: set[str], forbidden: str) -> bool:
    return any(name == forbidden or name.startswith(forbidden + ".") for name in imported)


@pytest.mark.parametrize("path", files_under("reconciler/fleet"))
def test_the_fleet_does_not_import_the_command_line(path: str) -> None:
    assert not _reaches(imports_of(path), "reconciler.cli"), path


@pytest.mark.parametrize("path", files_under("reconciler"))
def test_the_product_imports_only_the_emulators_public_embedded_api(path: str) -> None:
    emulator = {name for name in imports_of(path) if _reaches({name}, "emulator")}
    assert emulator <= {"emulator.embedded", "emulator.embedded.start_emulator"}, path


def test_the_demo_runs_the_emulator_through_its_embedded_api() -> None:
    imported = imports_of("reconciler/cli/demo.py")
    assert "emulator.embedded" in imported
    assert not _reaches(imported, "emulator.testing")


def test_the_transport_does_not_import_the_planner() -> None:
    imported = imports_of("reconciler/client.py")
    assert not _reaches(imported, "reconciler.plan")
    assert not _reaches(imported, "reconciler.apply")


FRONT_ENDS = [
    *files_under("reconciler/cli"),
    "reconciler/fleet/passes.py",
    "reconciler/fleet/sites.py",
    *files_under("provider"),
]


@pytest.mark.parametrize("path", FRONT_ENDS)
def test_front_ends_plan_and_apply_only_through_the_engine(path: str) -> None:
    imported = imports_of(path)
    for shortcut in (
        "reconciler.plan.plan",
        "reconciler.apply.apply_site",
        "reconciler.apply.read_patiently",
        "reconciler.client.Client",
        "reconciler.client.ReadOnlyClient",
    ):
        assert shortcut not in imported, f"{path} uses {shortcut}"


@pytest.mark.parametrize("path", ["reconciler/engine.py", "reconciler/apply.py"])
def test_the_engine_depends_on_the_backend_protocol_not_the_http_client(path: str) -> None:
    assert not _reaches(imports_of(path), "reconciler.client"), path
