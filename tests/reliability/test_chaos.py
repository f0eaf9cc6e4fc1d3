"""Chaos: 200 sites under 5xx, 429, timeouts and lost responses converge within 3 passes
without a duplicate key, an unallowed disconnect, or a site left without a way to cancel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.reliability._scenario import (
    CHAOS_FAULTS,
    build_fleet,
    converged,
    env_for,
    fault_counts,
    reconcile_once,
    violations,
)

pytestmark = pytest.mark.slow
SITES = 200


def test_fleet_converges_within_three_passes_under_injected_faults(
    emulator: Any, tmp_path: Path
) -> None:
    cases = build_fleet(emulator.admin, tmp_path / "sites", SITES)
    emulator.admin.set_faults(global_=CHAOS_FAULTS)
    env = env_for(cases, emulator.url_template)
    pending, passes = cases, 0
    while pending and passes < 3:
        passes += 1
        done = reconcile_once(tmp_path / "sites", tmp_path / "state", env)
        assert done.returncode in (0, 1, 2), done.stderr
        assert violations(cases, emulator.admin, end_of_pass=True) == []
        pending = [c for c in cases if not converged(c, emulator.admin.site_state(c.site))]
    emulator.admin.set_faults(global_={}, sites={})
    assert pending == [], f"not converged after {passes} passes: {[c.site for c in pending][:10]}"
    injected = fault_counts(emulator.admin, {c.site for c in cases})
    # The faults really happened, of every kind, or the test proves nothing.
    assert {"error", "rate_429", "timeout", "lost_response"} <= set(injected), injected
    for output in (done.stdout, done.stderr):
        assert not any(c.key in output for c in cases)
