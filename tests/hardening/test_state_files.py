"""The state directory's files: no writing through planted symlinks, no directory of
another user, no temporary files left by a killed write.

Before: `locks/<site>.lock` -> any file had that file truncated by the lease note, a
state directory of another user was used as is, and `.state.json.*.tmp` files left by
kill -9 stayed forever.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from reconciler.errors import BrightbackError, StateFileError
from reconciler.fleet.lock import site_lock
from reconciler.fleet.state import StateStore


def test_a_symlinked_lock_file_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    victim = tmp_path / "precious.txt"
    victim.write_text("do not truncate me\n")
    (tmp_path / "state" / "locks").mkdir(parents=True)
    (tmp_path / "state" / "locks" / "acme.lock").symlink_to(victim)

    with (
        pytest.raises(BrightbackError, match="is a symbolic link"),
        site_lock(tmp_path / "state", "acme"),
    ):
        pass  # pragma: no cover
    assert victim.read_text() == "do not truncate me\n"


def test_a_state_directory_of_another_user_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    if os.geteuid() != 0:
        pytest.skip("needs root to give the directory away")  # CI runs as root
    os.chown(state, 54321, 54321)
    with pytest.raises(StateFileError, match="belongs to uid 54321"), StateStore(state).locked():
        pass  # pragma: no cover


def test_temporary_files_a_killed_write_left_are_removed_on_the_next_load(
    tmp_path: Path,
) -> None:
    store = StateStore(tmp_path)
    stale = tmp_path / ".state.json.k1ll3d.tmp"
    fresh = tmp_path / ".last-report.json.wr1t1ng.tmp"
    for path in (stale, fresh):
        path.write_text("{half")
    hour_ago = time.time() - 3600
    os.utime(stale, (hour_ago, hour_ago))

    store.load()

    assert not stale.exists()
    assert fresh.exists()  # may be another reconciler's write in progress
