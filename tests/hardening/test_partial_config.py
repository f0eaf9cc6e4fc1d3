"""A config that did not load whole never disconnects anything as an orphan.

Before: a symlinked subdirectory (and an unreadable one) was skipped without a word, its
sites were taken for removed, and `deletionPolicy: disconnect` disconnected them.
"""

from __future__ import annotations

import shutil

import pytest

from tests.engine.conftest import Fleet, document
from tests.fleet.test_reconcile_e2e import connected_site, reconcile, with_policy, writes

pytestmark = pytest.mark.e2e


def managed_in_subdirectory(fleet: Fleet) -> None:
    """`stay` in the top directory, `team` (deletionPolicy: disconnect) in team-b/."""
    connected_site(fleet, "stay")
    connected_site(fleet, "team")
    (fleet.root / "config" / "team-b").mkdir(parents=True)
    fleet.write("config/stay.yaml", document("stay"))
    team = with_policy(document("team", allow_disconnect=True), deletionPolicy="disconnect")
    fleet.write("config/team-b/team.yaml", team)
    assert reconcile(fleet, "config")[0] == 0


def test_sites_in_a_symlinked_subdirectory_stay_managed_not_orphaned(fleet: Fleet) -> None:
    managed_in_subdirectory(fleet)
    # The team's directory moves to a shared checkout and is linked back in.
    shutil.move(fleet.root / "config" / "team-b", fleet.root / "shared")
    (fleet.root / "config" / "team-b").symlink_to(fleet.root / "shared", target_is_directory=True)

    code, report, _ = reconcile(fleet, "config")

    assert code == 0, report
    assert report["fleet"]["orphans"] == []
    assert {s["name"] for s in report["sites"]} == {"stay-live", "team-live"}
    assert fleet.state("team")["brightback_integration"]["connection"]["status"] == "connected"


def test_a_symlink_loop_under_the_config_applies_nothing(fleet: Fleet) -> None:
    managed_in_subdirectory(fleet)
    (fleet.root / "config" / "team-b" / "again").symlink_to(fleet.root / "config")
    before = len(writes(fleet, "team"))

    code, report, _ = reconcile(fleet, "config")

    assert code == 1 and report["refused"]
    assert any("symbolic link loop" in n for n in report["notes"])
    assert len(writes(fleet, "team")) == before
    assert fleet.state("team")["brightback_integration"]["connection"]["status"] == "connected"
