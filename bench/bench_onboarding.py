"""Full onboarding of a fleet: from nothing to live, against the minimum the rules need.

Each site starts disconnected with reason codes enabled and its Brightback experience
published. The rules need exactly four writes to take it live (connect, set the
integration mode, disable reason codes, enable the toggle) after one read, each waiting
for the previous one. Issue 8 defines the floor as the per-site latency times the steps
that must run in sequence, divided by the concurrency: here sites x (1 read + 4 writes)
x latency / concurrency, and the goal (<= 1.3) is checked against it. The writes-only
floor (sites x 4 x latency / concurrency) is printed too; against it even a perfect run
scores 1.25, since no write can precede the read.
Writes are counted from the emulator's request log and the end state from its admin view;
CPU seconds (user + sys) and peak RSS of the reconciler from wait4 on its process.

With `--baseline REF` REF's `brightback` onboards its own, identical set of sites in the
same emulator, interleaved with the working tree's (see _baseline.py), and the comparison
gives both figures and baseline / head.

    .venv/bin/python bench/bench_onboarding.py [--sites 1000] [--concurrency 64]
        [--baseline fb2045b] [--repeat 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from _baseline import Checkout, checkouts, interleaved, ratio
from _common import (
    goal,
    print_json_line,
    print_table,
    process_cpu_seconds,
    run_measured,
    site_name,
)
from bench_fleet_scan import (
    CPU_RATIO_GOAL,
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

from emulator.embedded import RunningEmulator, start_emulator

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
    parser.add_argument("--baseline", metavar="REF", help="also run REF's brightback, interleaved")
    parser.add_argument("--repeat", type=int, default=1, help="interleaved rounds")
    args = parser.parse_args(argv)
    if args.quick:
        args.sites, args.latency_ms = 100, 20.0
    sides = checkouts(args.baseline)
    labels = [side.label for side in sides]
    tools = {s.label: args.tool or ("reconcile" if has_reconcile(s) else "apply") for s in sides}
    for label, tool in tools.items():
        if tool != "reconcile":
            print(f"NOTE: {label} is measured with `brightback {tool}`")

    table: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-onboard-") as tmp:
        root = Path(tmp)
        with start_emulator(root / "emulator.sqlite3") as emu:
            runs = [
                (side, round_no)
                for round_no in range(args.repeat)
                for side in interleaved(sides, round_no)
            ]
            # Every run onboards its own sites: the same fleet, shifted by run.
            create_fleet(emu.admin, args.sites * len(runs), reason_codes_enabled=True)
            emu.admin.set_faults(global_={"latency_ms": args.latency_ms})
            for index, (side, round_no) in enumerate(runs):
                row = onboard(
                    emu, side, tools[side.label], root / f"run-{index}", args, index * args.sites
                )
                row["round"] = round_no
                table.append(row)
                print_table(_shown(table[-1:]))

    print_table(
        _shown(table), title=f"\nonboarding {args.sites} sites, {args.latency_ms:.0f} ms latency"
    )
    compared = comparison(table, labels)
    if compared:
        print_table(compared, title=f"\nside by side: working tree vs {labels[1]}")
    return report(table, compared, labels, tools, args)


def onboard(
    emu: RunningEmulator,
    side: Checkout,
    tool: str,
    folder: Path,
    args: argparse.Namespace,
    first: int,
) -> dict[str, Any]:
    """One side takes sites first..first+N live; its figures from wait4 and the log."""
    latency_s = args.latency_ms / 1000
    config = write_config(folder / "config", args.sites, first=first)
    _, cursor = requests_since(emu.admin, 0)
    cpu_before = process_cpu_seconds(emu.pid)
    started_at = time.time()
    result = run_measured(
        reconciler_argv(side, config, folder / "state", args.concurrency, tool),
        env=reconciler_env(emu),
        timeout=900,
        cwd=side.root,
    )
    emu_cpu = process_cpu_seconds(emu.pid) - cpu_before
    rows, _ = requests_since(emu.admin, cursor)
    split = phases(started_at, result.wall_s, rows)
    names = [site_name(i) for i in range(first, first + args.sites)]
    live = sum(1 for name in names if _is_live(emu.admin.site_state(name)))
    total, writes = per_site_counts(rows)
    write_counts = Counter(writes[name] for name in names)
    read_counts = Counter(total[name] - writes[name] for name in names)
    floor_writes = args.sites * MIN_WRITES * latency_s / args.concurrency
    floor_all = args.sites * (1 + MIN_WRITES) * latency_s / args.concurrency
    cpu = result.user_s + result.sys_s
    if result.returncode not in (0, 2):
        print(result.stderr[-2000:], file=sys.stderr)
    return {
        "side": side.label,
        "sites": args.sites,
        "conc": args.concurrency,
        "wall_s": round(result.wall_s, 2),
        "floor_s (writes)": round(floor_writes, 2),
        "ratio": round(result.wall_s / floor_writes, 3),
        "floor_s (read+writes)": round(floor_all, 2),
        "ratio2": round(result.wall_s / floor_all, 3),
        **split,
        "writes/site": _spread(write_counts),
        "reads/site": _spread(read_counts),
        "live": live,
        "rss_mb": round(result.peak_rss_mb, 1),
        "cpu_s": round(cpu, 2),
        "cpu_ms/site": round(1000 * cpu / args.sites, 3),
        "emu_cpu_s": round(emu_cpu, 1),
        "load_1m": round(result.load_1m, 2),
        "exit": result.returncode,
        "_writes": {str(k): v for k, v in sorted(write_counts.items())},
        "_reads": {str(k): v for k, v in sorted(read_counts.items())},
        "_io_s": split["io_s"],
    }


def comparison(table: list[dict[str, Any]], labels: list[str]) -> list[dict[str, Any]]:
    if len(labels) < 2:
        return []
    head, base = labels[0], labels[1]

    def med(label: str, key: str) -> float:
        return round(float(statistics.median(r[key] for r in table if r["side"] == label)), 3)

    if not any(r["side"] == base for r in table):
        return []
    return [
        {
            "sites": table[0]["sites"],
            "conc": table[0]["conc"],
            "cpu_ms/site head": med(head, "cpu_ms/site"),
            f"cpu_ms/site {base}": med(base, "cpu_ms/site"),
            "cpu ratio": ratio(med(base, "cpu_ms/site"), med(head, "cpu_ms/site")),
            "rss_mb head": med(head, "rss_mb"),
            f"rss_mb {base}": med(base, "rss_mb"),
            "wall/floor head": med(head, "ratio2"),
            f"wall/floor {base}": med(base, "ratio2"),
            "load_1m": round(float(statistics.median(r["load_1m"] for r in table)), 2),
            "runs": sum(1 for r in table if r["side"] == head),
        }
    ]


def report(
    table: list[dict[str, Any]],
    compared: list[dict[str, Any]],
    labels: list[str],
    tools: dict[str, str],
    args: argparse.Namespace,
) -> int:
    mine = [r for r in table if r["side"] == "head"]
    first = mine[0]
    minimal = all(set(r["_writes"]) == {str(MIN_WRITES)} for r in mine)
    all_live = all(r["live"] == args.sites for r in mine)
    worst = max(r["ratio2"] for r in mine)
    goals = [
        goal("writes per site = minimum", first["writes/site"], str(MIN_WRITES), minimal),
        goal(
            "wall/floor (read + writes in sequence)",
            worst,
            f"<= {RATIO_GOAL}",
            worst <= RATIO_GOAL,
        ),
        goal("sites live at the end", min(r["live"] for r in mine), str(args.sites), all_live),
    ]
    for row in compared:
        value = row["cpu ratio"]
        goals.append(
            goal(
                f"CPU per site vs {labels[1]} (baseline/head)",
                value,
                f">= {CPU_RATIO_GOAL:.0f}",
                value is not None and value >= CPU_RATIO_GOAL,
            )
        )
    floor_all = first["floor_s (read+writes)"]
    print_json_line(
        {
            "bench": "onboarding",
            "tool": tools["head"],
            "baseline": labels[1] if len(labels) > 1 else None,
            "latency_ms": args.latency_ms,
            "sites": args.sites,
            "concurrency": args.concurrency,
            "wall_s": first["wall_s"],
            "floor_writes_s": first["floor_s (writes)"],
            "ratio_writes": first["ratio"],
            "floor_read_writes_s": floor_all,
            "ratio_read_writes": first["ratio2"],
            "pre_s": first["pre_s"],
            "io_s": first["io_s"],
            "post_s": first["post_s"],
            "io_ratio_read_writes": round(first["_io_s"] / floor_all, 3),
            "sites_live": first["live"],
            "reconciler_peak_rss_mb": first["rss_mb"],
            "reconciler_cpu_ms_per_site": first["cpu_ms/site"],
            "emulator_cpu_s": first["emu_cpu_s"],
            "exit": first["exit"],
            "writes_per_site_histogram": first["_writes"],
            "reads_per_site_histogram": first["_reads"],
            "runs": _shown(table),
            "compared": compared,
            "goals": goals,
        }
    )
    return 0 if all(r["exit"] in (0, 2) for r in table) else 1


def _shown(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]


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
