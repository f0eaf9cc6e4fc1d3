"""A hand-edited or damaged state file is refused, clearly and before any write.

Before: wrong types, non-UTF-8 or deep nesting gave TypeError, UnicodeDecodeError or
RecursionError tracebacks, once after the pass's writes, so nothing was recorded and the
writes repeated every pass.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.fleet.state import StateFileError, StateStore
from reconciler.fleet.state_schema import StateShapeError, parse_state
from tests.engine.conftest import Fleet, document
from tests.fleet.test_reconcile_e2e import connected_site, reconcile, writes


def good_state() -> dict[str, Any]:
    return {
        "format": "brightback-gitops/state/v1",
        "passes": 3,
        "writer": {"pid": 1},
        "sites": {
            "acme": {
                "site": "acme",
                "name": "acme-live",
                "spec": {"apiVersion": "brightback-gitops/v1alpha1"},
                "failures": 0,
                "history": [
                    {"pass": 2, "at": 1.5, "fields": ["spec.x"], "resolution": "corrected"}
                ],
            }
        },
    }


def test_a_state_file_the_reconciler_wrote_passes_the_check() -> None:
    assert parse_state(json.dumps(good_state()).encode()) == good_state()


@pytest.mark.parametrize(
    ("damage", "field"),
    [
        (lambda s: s.update(sites=[]), "sites"),
        (lambda s: s["sites"]["acme"].update(failures="2"), "sites.acme.failures"),
        (lambda s: s["sites"]["acme"].update(history="x"), "sites.acme.history"),
        (lambda s: s["sites"]["acme"]["history"].append(7), "sites.acme.history[1]"),
        (lambda s: s["sites"]["acme"].update(spec=[1]), "sites.acme.spec"),
        (lambda s: s.update(passes=-1), "passes"),
        (lambda s: s.pop("writer"), "the document"),
    ],
)
def test_wrong_types_are_refused_naming_the_field(damage: Any, field: str) -> None:
    state = good_state()
    damage(state)
    with pytest.raises(StateShapeError) as caught:
        parse_state(json.dumps(state).encode())
    assert str(caught.value).startswith(f"{field}: ")


def test_non_utf8_is_refused_not_a_decode_traceback() -> None:
    with pytest.raises(StateShapeError, match="not UTF-8"):
        parse_state(b'{"format": "\xff"}')


@pytest.mark.parametrize("depth", [40, 100_000])
def test_deep_nesting_is_refused_not_a_recursion_error(depth: int) -> None:
    state = good_state()
    state["sites"]["acme"]["spec"] = {"deep": "@"}
    text = json.dumps(state).replace('"@"', "[" * depth + "]" * depth)
    with pytest.raises(StateShapeError, match="nested deeper than"):
        parse_state(text.encode())


def test_the_store_refuses_a_damaged_file_with_a_message(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.path.write_bytes(b"\xff\xfe")
    with pytest.raises(StateFileError, match=r"not UTF-8.*move it aside"):
        store.load()


@pytest.mark.e2e
def test_a_damaged_state_file_stops_the_pass_before_any_write(directory_fleet: Fleet) -> None:
    fleet = directory_fleet  # the state file is the directory store's
    """The case that wrote and then crashed: drift found on a site whose history is
    damaged was corrected, then recording the drift raised, every pass."""
    connected_site(fleet, "acme")
    fleet.write("sites.yaml", document("acme"))
    assert reconcile(fleet, "sites.yaml")[0] == 0
    path = fleet.root / "state" / "state.json"
    state = json.loads(path.read_text())
    state["sites"]["acme"]["history"] = "damaged"
    path.write_text(json.dumps(state))
    fleet.emulator.admin.ui("acme", "update", integrate_via="retention_api")  # drift
    before = len(writes(fleet, "acme"))

    result = fleet.cli("reconcile", "sites.yaml", "--state-dir", "state", "--format", "json")

    assert result.code == 1
    assert "sites.acme.history: 'damaged' is not of type 'array'" in result.stderr
    assert "move it aside" in result.stderr
    assert "Traceback" not in result.output
    assert len(writes(fleet, "acme")) == before
    assert json.loads(path.read_text())["sites"]["acme"]["history"] == "damaged"
