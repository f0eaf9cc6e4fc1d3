"""The directory store's buffer of a pass's settled sites, and the file written from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.fleet.state import FleetState, PendingSites, SiteState, StateStore
from reconciler.report.json_report import PRETTY_MAX_SITES


@pytest.mark.parametrize("count", [3, PRETTY_MAX_SITES + 30])
def test_the_state_file_written_from_the_pass_buffer_is_the_one_save_writes(
    tmp_path: Path, count: int
) -> None:
    """Indented for a small fleet, compact past 200 sites: byte for byte what writing
    the same states as objects gives, with the buffer's last entry for a site winning."""
    states = [SiteState(site=f"s{n:03d}", name=f"n{n}", last_version=n) for n in range(count)]
    kept = FleetState(passes=4, sites={s.site: s for s in states[: count // 2]}, writer={"a": 1})
    pending = PendingSites()
    pending.add(SiteState(site=states[-1].site, name="stale"))
    for state in states[count // 2 :]:
        pending.add(state)
    merged = StateStore(tmp_path / "merged")
    merged.save_merged(kept, pending)
    whole = StateStore(tmp_path / "whole")
    whole.save(FleetState(passes=4, sites={s.site: s for s in states}, writer={"a": 1}))
    assert merged.path.read_bytes() == whole.path.read_bytes()
    pending.drop(states[-1].site)
    assert states[-1].site not in pending and len(pending) == count - count // 2 - 1
    pending.close()
