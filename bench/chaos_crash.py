"""Crash safety at size (issue 7): kill -9 the reconciler at random points, 30 times; after
each kill the next run must converge with every invariant intact.

Each run builds a fresh slice of the fleet (the kinds of tests/reliability/_scenario.py),
starts `brightback reconcile --once` with some latency injected so the kill lands inside
the apply, SIGKILLs it after a random delay, checks the invariants that hold at every
instant, then runs one clean pass and checks all of them plus convergence. Not part of
`make bench`; run it with `make chaos` or:

    .venv/bin/python bench/chaos_crash.py [--runs 30] [--sites 30]
"""

from __future__ import annotations

import argparse
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, print_json_line, print_table

sys.path.insert(0, str(REPO))

from emulator.embedded import start_emulator
from tests.reliability._scenario import (
    BRIGHTBACK,
    build_fleet,
    converged,
    env_for,
    reconcile_once,
    violations,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--sites", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    rows = []
    total_violations: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-crash-") as tmp:
        work = Path(tmp)
        with start_emulator(work / "emulator.sqlite3") as emulator:
            admin = emulator.admin
            for run in range(args.runs):
                root, state = work / f"run{run}" / "sites", work / f"run{run}" / "state"
                cases = build_fleet(admin, root, args.sites, prefix=f"crash{run:02d}x")
                sites = {c.site for c in cases}
                admin.set_faults(global_={"latency_ms": 40, "seed": run})
                env = env_for(cases, emulator.url_template)
                before = len(admin.requests())
                delay = rng.uniform(0.8, 3.0)  # the CLI needs ~0.7 s to start writing
                process = subprocess.Popen(
                    [
                        *(BRIGHTBACK, "reconcile", str(root), "--once", "--force"),
                        *("--state-dir", str(state), "--concurrency", "4", "--format", "json"),
                    ],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                time.sleep(delay)
                killed = process.poll() is None
                if killed:
                    process.send_signal(signal.SIGKILL)
                process.wait(timeout=60)
                writes = sum(
                    1
                    for e in admin.requests()[before:]
                    if e["method"] == "POST" and e.get("site") in sites
                )
                mid = violations(cases, admin, end_of_pass=False)
                admin.set_faults(global_={}, sites={})
                done = reconcile_once(root, state, env)
                end = violations(cases, admin, end_of_pass=True)
                pending = [c.site for c in cases if not converged(c, admin.site_state(c.site))]
                total_violations += mid + end + [f"{s}: not converged" for s in pending]
                rows.append(
                    {
                        "run": run,
                        "kill after s": round(delay, 2),
                        "killed mid-run": killed,
                        "writes before kill": writes,
                        "next run exit": done.returncode,
                        "not converged": len(pending),
                        "violations": len(mid) + len(end),
                    }
                )
    print_table(rows, title=f"crash: {args.runs} kill -9 runs of {args.sites} sites each")
    for line in total_violations[:20]:
        print("VIOLATION", line)
    record = {
        "bench": "chaos_crash",
        "runs": args.runs,
        "sites_per_run": args.sites,
        "killed_mid_run": sum(1 for r in rows if r["killed mid-run"]),
        "writes_before_kill_total": sum(int(r["writes before kill"]) for r in rows),
        "invariant_violations": len(total_violations),
        "goal_met": not total_violations,
    }
    print_json_line(record)
    return 0 if record["goal_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
