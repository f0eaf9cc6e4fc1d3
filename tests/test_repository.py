"""The repository stands on its own: nothing in it points at a folder users do not have."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Spelled in parts so that this guard is not itself a file pointing outside.
OUTSIDE = ("../" + "shared", "/work/" + "shared")


def test_no_tracked_file_points_outside_the_repository() -> None:
    listed = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    offenders: list[str] = []
    for name in listed:
        path = ROOT / name
        if path == Path(__file__).resolve() or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        offenders.extend(f"{name}: {needle}" for needle in OUTSIDE if needle in text)
    assert offenders == []


def test_the_rule_book_lists_the_product_rules_in_the_help_pages_order() -> None:
    text = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    order = [
        "Account and sign-up",
        "Several Brightback sites per email",
        "Read-write access",
        "Integration options",
        "Reason codes before the toggle",
        "The toggle hides the other cancellation options",
        "Live only once published",
        "It cannot be turned off",
        "Disconnect stops sync and needs a new connect",
        "Derived rules",
    ]
    positions = [text.index(title) for title in order]
    assert positions == sorted(positions)
