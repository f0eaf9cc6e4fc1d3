"""Full onboarding of a fleet: from nothing to live, against the minimum the rules need.

Each site starts disconnected with reason codes enabled and its Brightback experience
published. The rules need exactly four writes to take it live (connect, set the
integration mode, disable reason codes, enable the toggle) after one read, each waiting
for the previous one. Issue 8 defines the floor as the per-site latency times the steps
that must run in sequence, divided by the concurrency: here sites x (1 read + 4 writes)
x latency / concurrency, and the goal (<= 1.3) is checked against it. The writes-only
floor (sites x 4 x latency / concurrency) is printed too; against it even a perfect run
scores 1.25, since no write can precede the read.
Writes are counted from the emulator's request log and the end state from its admin view.

    .venv/bin/python bench/bench_onboarding.py [--sites 1000] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from _common import (
    REPO,
    goal,
    print_json_line,
    print_table,
    process_cpu_seconds,
    run_measured,
    site_name,
)
from bench_fleet_scan import (
    MODE,
    create_fleet,
    has_reconcile,
    per_site_counts,
    phases,
    reconciler_argv,
    reconciler_env,
    requests_since,
    write_config,
)

from emulator.testing import start_emulator

MIN_WRITES = 4  # connect, set_integration_mode, disable_reason_codes, enable the toggle
RATIO_GOAL = 1.3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=1_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument(
        "--tool",
        choices=("reconcile", "apply"),
        help="command to measure (default: reconcile when installed, else apply)",
    )
    parser.add_argument("--quick", action="store_true", help="100 sites, 20 ms latency")
    args = parser.parse_args(argv)
    if args.quick:
        args.sites, args.latency_ms = 100, 20.0
    tool = args.tool or ("reconcile" if has_reconcile() else "apply")
    if tool != "reconcile":
        print("NOTE: `brightback reconcile` is not available; measuring `brightback apply`")
    latency_s = args.latency_ms / 1000

    with tempfile.TemporaryDirectory(prefix="bench-onboard-") as tmp:
        root = Path(tmp)
        with start_emulator(root / "emulator.sqlite3") as emu:
            create_fleet(emu.admin, args.sites, reason_codes_enabled=True)
            config = write_config(root / "config", args.sites)
            _, cursor = requests_since(emu.admin, 0)
            emu.admin.set_faults(global_={"latency_ms": args.latency_ms})
            cpu_before = process_cpu_seconds(emu.pid)
            started_at = time.time()
            result = run_measured(
                reconciler_argv(config, root / "state", args.concurrency, tool),
                env=reconciler_env(emu),
                timeout=900,
                cwd=REPO,
            )
            emu_cpu = process_cpu_seconds(emu.pid) - cpu_before
            rows, _ = requests_since(emu.admin, cursor)
            split = phases(started_at, result.wall_s, rows)
            emu.admin.set_faults(global_={"latency_ms": 0})
            live = Counter(
                "live" if _is_live(emu.admin.site_state(site_name(i))) else "not live"
                for i in range(args.sites)
            )

    total, writes = per_site_counts(rows)
    write_counts = Counter(writes[site_name(i)] for i in range(args.sites))
    read_counts = Counter(total[site_name(i)] - writes[site_name(i)] for i in range(args.sites))
    floor_writes = args.sites * MIN_WRITES * latency_s / args.concurrency
    floor_all = args.sites * (1 + MIN_WRITES) * latency_s / args.concurrency
    ratio = result.wall_s / floor_writes
    table = [
        {
            "sites": args.sites,
            "conc": args.concurrency,
            "wall_s": round(result.wall_s, 2),
            "floor_s (writes)": round(floor_writes, 2),
            "ratio": round(ratio, 3),
            "floor_s (read+writes)": round(floor_all, 2),
            "ratio2": round(result.wall_s / floor_all, 3),
            **split,
            "writes/site": _spread(write_counts),
            "reads/site": _spread(read_counts),
            "live": live["live"],
            "rss_mb": round(result.peak_rss_mb, 1),
            "emu_cpu_s": round(emu_cpu, 1),
            "exit": result.returncode,
        }
    ]
    print_table(
        table, title=f"onboarding with `brightback {tool}`, {args.latency_ms:.0f} ms latency"
    )
    if result.returncode not in (0, 2):
        print(result.stderr[-2000:], file=sys.stderr)
    minimal = set(write_counts) == {MIN_WRITES}
    all_live = live["live"] == args.sites
    print_json_line(
        {
            "bench": "onboarding",
            "tool": tool,
            "latency_ms": args.latency_ms,
            "sites": args.sites,
            "concurrency": args.concurrency,
            "wall_s": table[0]["wall_s"],
            "floor_writes_s": table[0]["floor_s (writes)"],
            "ratio_writes": table[0]["ratio"],
            "floor_read_writes_s": table[0]["floor_s (read+writes)"],
            "ratio_read_writes": table[0]["ratio2"],
            **split,
            "io_ratio_read_writes": round(split["io_s"] / floor_all, 3),
            "sites_live": live["live"],
            "reconciler_peak_rss_mb": table[0]["rss_mb"],
            "emulator_cpu_s": table[0]["emu_cpu_s"],
            "exit": result.returncode,
            "writes_per_site_histogram": {str(k): v for k, v in sorted(write_counts.items())},
            "reads_per_site_histogram": {str(k): v for k, v in sorted(read_counts.items())},
            "goals": [
                goal(
                    "writes per site = minimum", table[0]["writes/site"], str(MIN_WRITES), minimal
                ),
                goal(
                    "wall/floor (read + writes in sequence)",
                    table[0]["ratio2"],
                    f"<= {RATIO_GOAL}",
                    table[0]["ratio2"] <= RATIO_GOAL,
                ),
                goal("sites live at the end", live["live"], str(args.sites), all_live),
            ],
        }
    )
    return 0 if result.returncode in (0, 2) else 1


def _spread(counts: Counter[int]) -> str:
    """'4' when every site had the same count, else 'min-max'."""
    low, high = min(counts, default=0), max(counts, default=0)
    return str(low) if low == high else f"{low}-{high}"


def _is_live(state: dict[str, Any]) -> bool:
    """Live per the emulator's own view: connected, mode set, traffic on, reason codes off."""
    return (
        state["connection"]["status"] == "connected"
        and state["integrate_via"] == MODE
        and state["cancellation_via_brightback"]["traffic_status"] == "on"
        and state["cancellation_settings"]["reason_codes_enabled"] is False
        and state["api_keys_generated"] == 1
    )


if __name__ == "__main__":
    sys.exit(main())
