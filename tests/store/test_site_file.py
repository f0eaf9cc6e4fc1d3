"""Sites kept on disk (`SiteFile`): the loaded state, the pass's buffer of settled sites,
and the state file written from them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.fleet.state import FleetState, SiteFile, SiteState, StateStore, spec_text
from reconciler.report.json_report import PRETTY_MAX_SITES
from reconciler.store._base import PassNote
from reconciler.store.directory import DirectoryStore


def states(count: int) -> list[SiteState]:
    return [
        SiteState(
            site=f"s{n:03d}",
            name=f"n{n}",
            last_version=n,
            spec_json=spec_text({"apiVersion": "v", "spec": {"é": [1, 2]}}),
            history=[{"pass": 1, "at": 2.5, "fields": ["spec.x"], "resolution": "corrected"}],
        )
        for n in range(count)
    ]


@pytest.mark.parametrize("count", [3, PRETTY_MAX_SITES + 30])
def test_the_state_file_written_from_the_pass_buffer_is_the_one_save_writes(
    tmp_path: Path, count: int
) -> None:
    """Indented for a small fleet, compact past 200 sites: byte for byte what writing
    the same states as objects gives, with the buffer's last entry for a site winning."""
    every = states(count)
    kept = FleetState(passes=4, sites={s.site: s for s in every[: count // 2]}, writer={"a": 1})
    pending = SiteFile()
    pending[every[-1].site] = SiteState(site=every[-1].site, name="stale")
    for state in every[count // 2 :]:
        pending[state.site] = state
    merged = StateStore(tmp_path / "merged")
    merged.save_merged(kept, pending)
    whole = StateStore(tmp_path / "whole")
    whole.save(FleetState(passes=4, sites={s.site: s for s in every}, writer={"a": 1}))
    assert merged.path.read_bytes() == whole.path.read_bytes()
    pending.close()


@pytest.mark.parametrize("count", [3, PRETTY_MAX_SITES + 30])
def test_a_loaded_state_is_kept_on_disk_and_saves_back_byte_for_byte(
    tmp_path: Path, count: int
) -> None:
    every = states(count)
    store = StateStore(tmp_path)
    store.save(FleetState(passes=2, sites={s.site: s for s in every}, writer={"pid": 1}))
    written = store.path.read_bytes()

    loaded = store.load()

    assert isinstance(loaded.sites, SiteFile) and len(loaded.sites) == count
    assert loaded.sites["s002"] == every[2] and loaded.sites["s002"] is not loaded.sites["s002"]
    assert loaded.passes == 2 and loaded.writer == {"pid": 1}
    store.save(loaded)
    assert store.path.read_bytes() == written


def test_a_changed_lookup_changes_nothing_until_it_is_stored_again() -> None:
    sites = SiteFile()
    sites["a"] = SiteState(site="a", name="first")
    changed = sites["a"]
    changed.failures = 3
    assert sites["a"].failures == 0
    sites["a"] = changed
    assert sites["a"].failures == 3 and list(sites) == ["a"] and "a" in sites
    del sites["a"]
    assert "a" not in sites and len(sites) == 0
    sites.close()


def test_the_left_out_sites_are_dropped_from_the_merged_file(tmp_path: Path) -> None:
    every = states(4)
    pending = SiteFile()
    pending["s003"] = every[3]
    store = StateStore(tmp_path)
    store.save_merged(
        FleetState(passes=1, sites={s.site: s for s in every[:3]}), pending, ["s001", "s003"]
    )
    assert sorted(json.loads(store.path.read_text())["sites"]) == ["s000", "s002"]


def test_a_pass_reads_the_state_file_once_unless_another_writer_changed_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The merge at the end of a pass reuses what `load` read when the file is the same
    one; a file another reconciler replaced meanwhile is read again and its sites kept."""
    every = states(3)
    StateStore(tmp_path).save(FleetState(passes=1, sites={s.site: s for s in every[:2]}))
    reads: list[int] = []
    original = StateStore.load

    def counted_load(self: StateStore) -> FleetState:
        reads.append(1)
        return original(self)

    monkeypatch.setattr(StateStore, "load", counted_load)

    store = DirectoryStore(tmp_path)
    store.load()
    store.record_site(every[0])
    store.finish_pass(PassNote(pass_no=2), (), ())
    assert len(reads) == 1

    store.load()
    other = StateStore(tmp_path)  # another reconciler writes a site of its own
    elsewhere = other.load()
    elsewhere.sites["s002"] = every[2]
    other.save(elsewhere)
    store.record_site(every[1])
    store.finish_pass(PassNote(pass_no=3), (), ())
    store.close()

    assert len(reads) == 4  # two loads, the other's, and the re-read
    written = json.loads((tmp_path / "state.json").read_text())
    assert sorted(written["sites"]) == ["s000", "s001", "s002"] and written["passes"] == 3


def test_the_buffer_file_is_private_and_unnamed() -> None:
    sites = SiteFile()
    sites["a"] = SiteState(site="a", name="a")
    mode = os.fstat(sites._file._fd).st_mode & 0o777
    assert mode == 0o600 and os.fstat(sites._file._fd).st_nlink == 0
    sites.close()


_TRICKY = st.lists(
    st.sampled_from(['"', "\\", "\x00", "spec", '"spec":', ":", "é", "{", "}", "a"]), max_size=6
).map("".join)


@settings(max_examples=300, deadline=None)
@given(
    name=_TRICKY,
    error=st.none() | _TRICKY,
    spec=st.none() | st.dictionaries(_TRICKY, _TRICKY | st.integers() | st.booleans()),
    drift=st.lists(st.tuples(_TRICKY, st.sampled_from(["corrected", "reported"])), max_size=3),
)
def test_an_entry_written_as_text_is_the_compact_sorted_json_of_the_state(
    name: str, error: str | None, spec: dict[str, object] | None, drift: list[tuple[str, str]]
) -> None:
    """`to_text` splices the spec's canonical text into the entry instead of parsing and
    writing it again; names, errors and drift that look like the splice's marker must not
    move it."""
    state = SiteState(site="acme", name=name, last_error=error)
    if spec is not None:
        state.spec_json = spec_text(spec)
    state.note_drift(3, 1_700_000_000.0, drift)
    assert state.to_text() == json.dumps(state.to_dict(), sort_keys=True, separators=(",", ":"))
    assert SiteState.from_dict(json.loads(state.to_text())) == state
