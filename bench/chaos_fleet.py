"""Chaos at fleet size (issue 7): 1,000 sites in assorted states under 20% 5xx, 10% 429
with Retry-After, 5% timeouts and 2% lost responses; reconcile passes until clean.

Every figure comes from the emulator's own state and request log, not from the
reconciler's report. Not part of `make bench` (it is a reliability run, several minutes
long); run it with `make chaos` or:

    .venv/bin/python bench/chaos_fleet.py [--sites 1000] [--max-passes 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, print_json_line, print_table

sys.path.insert(0, str(REPO))

from emulator.embedded import start_emulator
from tests.reliability._scenario import (
    CHAOS_FAULTS,
    build_fleet,
    converged,
    env_for,
    fault_counts,
    reconcile_once,
    violations,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=1_000)
    parser.add_argument("--max-passes", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-chaos-") as tmp:
        work = Path(tmp)
        with start_emulator(work / "emulator.sqlite3") as emulator:
            admin = emulator.admin
            cases = build_fleet(admin, work / "sites", args.sites)
            admin.set_faults(global_=CHAOS_FAULTS)
            env = env_for(cases, emulator.url_template)
            rows, all_violations, passes_needed = [], [], None
            for number in range(1, args.max_passes + 1):
                started = time.perf_counter()
                done = reconcile_once(
                    work / "sites", work / "state", env, concurrency=args.concurrency
                )
                seconds = time.perf_counter() - started
                found = violations(cases, admin, end_of_pass=True)
                all_violations += found
                pending = [c for c in cases if not converged(c, admin.site_state(c.site))]
                rows.append(
                    {
                        "pass": number,
                        "exit": done.returncode,
                        "seconds": round(seconds, 1),
                        "not converged": len(pending),
                        "violations": len(found),
                    }
                )
                if not pending:
                    passes_needed = number
                    break
            faults = fault_counts(admin, {c.site for c in cases})
            requests = len(admin.requests())
    print_table(rows, title=f"chaos: {args.sites} sites, faults {CHAOS_FAULTS}")
    print_table([dict(sorted(faults.items()))], title="faults injected by kind")
    for line in all_violations[:20]:
        print("VIOLATION", line)
    record = {
        "bench": "chaos_fleet",
        "sites": args.sites,
        "passes_needed": passes_needed,
        "passes_goal": 3,
        "requests": requests,
        "faults": dict(faults),
        "invariant_violations": len(all_violations),
        "passes": rows,
        "goal_met": passes_needed is not None and passes_needed <= 3 and not all_violations,
    }
    print_json_line(record)
    return 0 if record["goal_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
