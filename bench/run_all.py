"""`make bench`: run every bench/bench_*.py, collect their figures, say which goals were met.

Each bench runs as its own process (so one bench's memory and threads cannot skew the
next) with a timeout, and must print one `{"bench": ...}` JSON line. The records go to
bench/results/latest.json (git-ignored) with the command that produced each. The exit
status is non-zero only when a bench crashed, timed out or printed no record: a missed
goal is a finding to report, not a broken build.

    .venv/bin/python bench/run_all.py [--quick] [--budget-s 570] [--only NAME ...]
        [--baseline REF]

`--baseline REF` is passed to every bench that takes it (fleet scan, onboarding): they run
REF's `brightback` from its own worktree and venv interleaved with the working tree's and
print both figures side by side (bench/_baseline.py). `make bench` passes the commit
before issue 17's work.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

# bench/ is sys.path[0] when a bench runs as a script, so its helpers import directly.
from _common import REPO, parse_json_lines, print_table, run_measured

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results" / "latest.json"
DEFAULT_BUDGET_S = 570.0  # issue 8: everything within 10 minutes on 2 cores
# Benches that size themselves to the time left (they accept --budget-s). They run last,
# after the fixed-cost ones, so they get whatever the others did not use.
ELASTIC = ("bench_fleet_scan.py",)
TIMEOUT_S = {  # per bench, full mode; a bench over its timeout counts as crashed
    "bench_validate.py": 150.0,
    "bench_fuzz_loader.py": 90.0,
    "bench_planner.py": 90.0,
    "bench_onboarding.py": 120.0,
    "bench_emulator_throughput.py": 90.0,
}
DEFAULT_TIMEOUT_S = 120.0
BASELINE_TIMEOUT_FACTOR = 3.0  # a bench that also runs the baseline runs everything twice


def discover(only: list[str] | None) -> list[Path]:
    scripts = sorted(BENCH_DIR.glob("bench_*.py"))
    if only:
        scripts = [s for s in scripts if any(o in s.stem for o in only)]
    fixed = [s for s in scripts if s.name not in ELASTIC]
    return fixed + [s for s in scripts if s.name in ELASTIC]


def command_for(
    script: Path, *, quick: bool, budget_s: float, baseline: str | None = None
) -> list[str]:
    argv = [sys.executable, str(script)]
    source = script.read_text()
    if quick and "--quick" in source:  # another helper's bench may not take it
        argv.append("--quick")
    if baseline and '"--baseline"' in source:
        argv += ["--baseline", baseline]
    if script.name in ELASTIC and "--budget-s" in source:
        argv += ["--budget-s", f"{budget_s:.0f}"]
    return argv


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--budget-s", type=float, default=DEFAULT_BUDGET_S)
    parser.add_argument("--only", nargs="+", metavar="NAME", help="benches whose name has NAME")
    parser.add_argument(
        "--baseline", metavar="REF", help="benches that can also run REF's code, interleaved"
    )
    args = parser.parse_args(argv)
    if args.baseline:
        # Made once here, not by two benches at the same time (the first costs a pip install).
        from _baseline import baseline

        baseline(args.baseline)

    started = time.monotonic()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    records: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    crashed: list[str] = []
    for script in discover(args.only):
        left = args.budget_s - (time.monotonic() - started)
        timeout = TIMEOUT_S.get(script.name, DEFAULT_TIMEOUT_S)
        if args.baseline:
            timeout *= BASELINE_TIMEOUT_FACTOR
        if script.name in ELASTIC:
            timeout = max(left, 60.0)
        command = command_for(
            script, quick=args.quick, budget_s=max(left - 15.0, 30.0), baseline=args.baseline
        )
        shown = " ".join(["python", str(script.relative_to(REPO)), *command[2:]])
        print(f"\n=== {shown}  (timeout {timeout:.0f}s, {left:.0f}s of budget left)", flush=True)
        result = run_measured(command, env=env, timeout=timeout, cwd=REPO)
        sys.stdout.write(result.stdout)
        found = parse_json_lines(result.stdout)
        status = "ok"
        if result.timed_out:
            status = "timeout"
        elif result.returncode != 0:
            status = f"exit {result.returncode}"
        elif not found:
            status = "no JSON line"
        if status != "ok":
            crashed.append(script.name)
            sys.stdout.write(result.stderr[-3000:])
        for record in found:
            record["command"] = shown
            records.append(record)
        runs.append(
            {
                "script": script.name,
                "command": shown,
                "status": status,
                "wall_s": round(result.wall_s, 1),
            }
        )

    rows = []
    for run in runs:
        mine = [r for r in records if r.get("command") == run["command"]]
        goals = [g for r in mine for g in r.get("goals", [])]
        missed = [g["name"] for g in goals if not g.get("met")]
        rows.append(
            {
                "bench": run["script"],
                "status": run["status"],
                "wall_s": run["wall_s"],
                "goals met": f"{len(goals) - len(missed)}/{len(goals)}",
                "missed": "; ".join(missed) or "-",
            }
        )
    total = time.monotonic() - started
    print()
    print_table(rows, title=f"summary ({'quick' if args.quick else 'full'} run, {total:.0f}s)")
    for record in records:
        for g in record.get("goals", []):
            mark = "met   " if g.get("met") else "MISSED"
            print(f"  {mark} {record['bench']}: {g['name']} = {g['value']} (goal {g['target']})")

    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "quick": args.quick,
                "baseline": args.baseline,
                "total_s": round(total, 1),
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                },
                "runs": runs,
                "results": records,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nrecords written to {RESULTS.relative_to(REPO)}")
    if crashed:
        print(f"crashed: {', '.join(crashed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
