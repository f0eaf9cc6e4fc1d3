"""Steady-state fleet scan against its physical floor (issues 8 and 17).

A no-drift pass costs one read per site; with L ms of latency per request and C sites in
flight the floor is sites x L / C. This builds a converged fleet of the largest size on
the emulator (one bulk call per 2,000 sites, run through the emulator's own rules), switches
on 100 ms of injected latency, then times a no-drift pass of `brightback reconcile --once`
over the first 1,000, 10,000 and 50,000 sites, twice on one state directory: `fresh` (no
state yet) and `steady` (the state of every site, as a drift job's every pass after its
first). Requests and writes are counted from the
emulator's own request log, not from the reconciler's report; the reconciler's CPU
seconds (user + sys) and peak RSS come from wait4 on its process; the emulator's CPU
seconds show whether it was the bottleneck (it runs in its own process).

With `--baseline REF` every pass also runs with REF's `brightback` (its own worktree and
venv, see _baseline.py), interleaved with the working tree's, and the comparison table
gives both figures and baseline / head.

    .venv/bin/python bench/bench_fleet_scan.py [--sizes 1000 10000 50000] [--concurrency 64]
        [--latency-ms 100] [--budget-s 400] [--baseline fb2045b] [--repeat 1]
        [--passes fresh steady]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _baseline import Checkout, checkouts, interleaved, ratio
from _common import (
    Measured,
    bench_document,
    goal,
    print_json_line,
    print_table,
    process_cpu_seconds,
    run_measured,
    site_name,
)

from emulator.embedded import AdminClient, RunningEmulator, start_emulator

KEY_ENV = "BENCH_FLEET_API_KEY"
KEY_VALUE = "bench_fleet_key_not_a_secret_0123456789"  # one key shared by the bench's sites
RATIO_GOAL = 1.2
RSS_GOALS_MB = {10_000: 120.0, 50_000: 130.0}  # issue 17; other sizes: the 10k goal
CPU_RATIO_GOAL = 4.0  # issue 17: baseline CPU per site / head CPU per site
PASSES = ("fresh", "steady")
MODE = "customer_portal"
# First guess of a side's CPU seconds per site, before one of its runs was measured
# (the slowest seen here on a loaded machine); the budget check uses measured rates after.
CPU_PER_SITE_GUESS = 0.008


def has_reconcile(side: Checkout) -> bool:
    """Whether `brightback reconcile` exists in that tree (else the scan runs `plan`)."""
    return side.has("reconciler/cli/reconcile.py")


def create_fleet(
    admin: AdminClient,
    count: int,
    *,
    reason_codes_enabled: bool = True,
    live: bool = False,
    first: int = 0,
) -> float:
    """Sites, active accounts, Brightback sites with the experience published; with
    `live`, also taken live by the emulator's own rules (a converged fleet without
    5 requests a site of set-up). Returns the seconds taken."""
    started = time.perf_counter()
    for low in range(first, first + count, 2_000):
        admin.bulk(
            [
                {
                    "site": site_name(i),
                    "email": f"billing@{site_name(i)}.example.com",
                    "api_key": KEY_VALUE,
                    "brightback_sites": [f"bb-{site_name(i)}"],
                    "published": [[f"bb-{site_name(i)}", MODE]],
                    "reason_codes_enabled": reason_codes_enabled,
                    **(
                        {"live": {"brightback_site": f"bb-{site_name(i)}", "integrate_via": MODE}}
                        if live
                        else {}
                    ),
                }
                for i in range(low, min(low + 2_000, first + count))
            ]
        )
    return time.perf_counter() - started


def write_config(folder: Path, count: int, *, first: int = 0) -> Path:
    """One YAML file per site, as a real configuration repository holds them."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(first, first + count):
        (folder / f"{site_name(i)}.yaml").write_text(
            bench_document(i, key_env=KEY_ENV, varied=False)
        )
    return folder


def requests_since(admin: AdminClient, since_id: int) -> tuple[list[dict[str, Any]], int]:
    """Chargebee-route requests logged after `since_id`, and the newest id seen (paged)."""
    rows: list[dict[str, Any]] = []
    while True:
        page = admin.requests(since_id=since_id)
        if not page:
            return [r for r in rows if "/api/v2" in str(r.get("path", ""))], since_id
        rows.extend(page)
        since_id = max(since_id, *(int(r["id"]) for r in page))


def reconciler_argv(
    side: Checkout, config: Path, state_dir: Path, concurrency: int, tool: str
) -> list[str]:
    base = [side.script("brightback"), tool, str(config), "--format", "json"]
    base += ["--concurrency", str(concurrency)]
    if tool == "reconcile":
        base += ["--once", "--state-dir", str(state_dir)]
    return base


def reconciler_env(emu: RunningEmulator) -> dict[str, str]:
    env = {**os.environ, "BRIGHTBACK_API_URL": emu.url_template, KEY_ENV: KEY_VALUE}
    env.pop("PYTHONPATH", None)  # each side imports only its own tree
    # Both sides run as an installed package does, from cached bytecode (pip compiles it
    # at install): with PYTHONDONTWRITEBYTECODE set, as some shells and CI images do, every
    # run compiled each module again, ~3 % of a 4,000-site scan's samples.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def measure_pass(
    emu: RunningEmulator, side: Checkout, argv: Sequence[str], since_id: int, *, timeout: float
) -> tuple[Measured, list[dict[str, Any]], int, float, dict[str, float]]:
    """One reconciler run: its measurement, its requests, the new log cursor, the emulator's
    CPU seconds, and the run's phases."""
    cpu_before = process_cpu_seconds(emu.pid)
    started_at = time.time()
    result = run_measured(argv, env=reconciler_env(emu), timeout=timeout, cwd=side.root)
    cpu = process_cpu_seconds(emu.pid) - cpu_before
    rows, cursor = requests_since(emu.admin, since_id)
    return result, rows, cursor, cpu, phases(started_at, result.wall_s, rows)


def phases(started_at: float, wall_s: float, rows: list[dict[str, Any]]) -> dict[str, float]:
    """Where the wall time went, from the emulator's request timestamps (same clock):
    before the first request (start-up, loading the YAML), the request window, and after
    the last one (report, state). Only the window can approach the floor."""
    times = [float(r["time"]) for r in rows if "time" in r]
    if not times:
        return {"pre_s": 0.0, "io_s": 0.0, "post_s": 0.0}
    first, last = min(times), max(times)
    return {
        "pre_s": round(first - started_at, 2),
        "io_s": round(last - first, 2),
        "post_s": round(started_at + wall_s - last, 2),
    }


def per_site_counts(rows: list[dict[str, Any]]) -> tuple[Counter[str], Counter[str]]:
    """(requests per site, writes per site) from the emulator's log."""
    total: Counter[str] = Counter()
    writes: Counter[str] = Counter()
    for row in rows:
        site = str(row.get("site"))
        total[site] += 1
        if str(row.get("method", "GET")).upper() != "GET":
            writes[site] += 1
    return total, writes


def wanted_runs(sizes: Sequence[int], concurrencies: Sequence[int]) -> list[tuple[int, int]]:
    """(sites, concurrency) in the order they run: smallest first (its measured CPU rate
    sizes the budget check of the next), the highest concurrency first within a size."""
    return sorted(((s, c) for s in sizes for c in concurrencies), key=lambda sc: (sc[0], -sc[1]))


def estimated_s(sites: int, conc: int, latency_s: float, cpu_per_site: float) -> float:
    """A run's wall time: its floor, or its CPU on the two cores the emulator shares."""
    return 1.2 * max(sites * latency_s / conc, sites * cpu_per_site) + 4.0


def _median(rows: list[dict[str, Any]], key: str) -> float:
    return round(float(statistics.median(r[key] for r in rows)), 3)


def comparison(rows: list[dict[str, Any]], labels: list[str]) -> list[dict[str, Any]]:
    """Per scan: each side's median CPU ms per site, peak RSS and wall/floor, and ratios."""
    if len(labels) < 2:
        return []
    head, base = labels[0], labels[1]
    table = []
    for sites, conc, kind in dict.fromkeys((r["sites"], r["conc"], r["pass"]) for r in rows):
        mine = {
            label: [
                r
                for r in rows
                if (r["sites"], r["conc"], r["pass"], r["side"]) == (sites, conc, kind, label)
            ]
            for label in labels
        }
        if not mine[head] or not mine[base]:
            continue

        table.append(
            {
                "sites": sites,
                "conc": conc,
                "pass": kind,
                "cpu_ms/site head": _median(mine[head], "cpu_ms/site"),
                f"cpu_ms/site {base}": _median(mine[base], "cpu_ms/site"),
                "cpu ratio": ratio(
                    _median(mine[base], "cpu_ms/site"), _median(mine[head], "cpu_ms/site")
                ),
                "rss_mb head": _median(mine[head], "rss_mb"),
                f"rss_mb {base}": _median(mine[base], "rss_mb"),
                "wall/floor head": _median(mine[head], "ratio"),
                f"wall/floor {base}": _median(mine[base], "ratio"),
                "load_1m": _median(mine[head] + mine[base], "load_1m"),
                "runs": len(mine[head]),
            }
        )
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 50_000])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[64])
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--budget-s", type=float, default=1e9, help="skip scans that won't fit")
    parser.add_argument("--quick", action="store_true", help="200 sites at c=32, 20 ms latency")
    parser.add_argument("--baseline", metavar="REF", help="also run REF's brightback, interleaved")
    parser.add_argument("--repeat", type=int, default=1, help="interleaved rounds per scan")
    parser.add_argument(
        "--passes",
        nargs="+",
        choices=PASSES,
        default=list(PASSES),
        help="fresh: no state yet; steady: a second pass over the state of every site",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.concurrency, args.latency_ms = [200], [32], 20.0
    started = time.monotonic()
    latency_s = args.latency_ms / 1000
    sides = checkouts(args.baseline)
    labels = [side.label for side in sides]
    tools = {side.label: "reconcile" if has_reconcile(side) else "plan" for side in sides}
    for label, tool in tools.items():
        if tool != "reconcile":
            print(f"NOTE: {label} has no `brightback reconcile`; measuring `brightback plan`")
    runs = wanted_runs(args.sizes, args.concurrency)
    largest = max(args.sizes)
    cpu_rate = dict.fromkeys(labels, CPU_PER_SITE_GUESS)

    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        root = Path(tmp)
        with start_emulator(root / "emulator.sqlite3") as emu:
            setup_s = create_fleet(emu.admin, largest, live=True)
            configs = {s: write_config(root / f"config-{s}", s) for s in sorted(set(args.sizes))}
            print(
                f"set-up: {largest} converged sites and their config in "
                f"{time.monotonic() - started:.1f}s (fleet {setup_s:.1f}s)",
                flush=True,
            )
            _, cursor = requests_since(emu.admin, 0)
            emu.admin.set_faults(global_={"latency_ms": args.latency_ms})
            for sites, conc in runs:
                for round_no in range(args.repeat):
                    for side in interleaved(sides, round_no):
                        cost = len(args.passes) * estimated_s(
                            sites, conc, latency_s, cpu_rate[side.label]
                        )
                        left = args.budget_s - (time.monotonic() - started)
                        if cost > left:
                            skipped.append(f"{sites}@c{conc} {side.label} (~{cost:.0f}s)")
                            continue
                        found, cursor = scan(
                            emu, side, tools[side.label], configs[sites], root, sites, conc,
                            latency_s, cursor, round_no, args.passes,
                        )  # fmt: skip
                        cpu_rate[side.label] = found[0]["cpu_s"] / sites
                        rows.extend(found)
                        print_table(found)

    print_table(rows, title=f"\nno-drift pass, {args.latency_ms:.0f} ms latency")
    compared = comparison(rows, labels)
    if compared:
        print_table(compared, title=f"\nside by side: working tree vs {labels[1]}")
    if skipped:
        print(f"skipped for the time budget: {', '.join(skipped)}")
    return report(rows, compared, labels, tools, args, setup_s, skipped)


def scan(
    emu: RunningEmulator,
    side: Checkout,
    tool: str,
    config: Path,
    root: Path,
    sites: int,
    conc: int,
    latency_s: float,
    cursor: int,
    round_no: int,
    passes: Sequence[str] = PASSES,
) -> tuple[list[dict[str, Any]], int]:
    """The measured no-drift passes of one side on one new state directory: the first
    (`fresh`) then one over the state it left (`steady`); an unmeasured first pass when
    only `steady` is wanted."""
    state = root / f"state-{sites}-{conc}-{side.label}-{round_no}"
    argv = reconciler_argv(side, config, state, conc, tool)
    last = max(PASSES.index(kind) for kind in passes)
    rows = []
    for kind in PASSES[: last + 1]:
        row, cursor = measure_scan(emu, side, argv, cursor, sites, conc, latency_s, kind)
        if kind in passes:
            rows.append(row)
    return rows, cursor


def measure_scan(
    emu: RunningEmulator,
    side: Checkout,
    argv: Sequence[str],
    cursor: int,
    sites: int,
    conc: int,
    latency_s: float,
    kind: str,
) -> tuple[dict[str, Any], int]:
    result, rows_, cursor, emu_cpu, split = measure_pass(emu, side, argv, cursor, timeout=900)
    total, writes = per_site_counts(rows_)
    floor = sites * latency_s / conc
    per_site = sorted(set(total.values())) or [0]
    cpu = result.user_s + result.sys_s
    row = {
        "side": side.label,
        "sites": sites,
        "conc": conc,
        "pass": kind,
        "wall_s": round(result.wall_s, 2),
        "floor_s": round(floor, 2),
        "ratio": round(result.wall_s / floor, 3),
        **split,
        "io_ratio": round(split["io_s"] / floor, 3),
        "req/site": per_site[0] if len(per_site) == 1 else f"{per_site}",
        "sites_seen": len(total),
        "writes": sum(writes.values()),
        "rss_mb": round(result.peak_rss_mb, 1),
        "cpu_s": round(cpu, 2),
        "cpu_ms/site": round(1000 * cpu / sites, 3),
        "emu_cpu_s": round(emu_cpu, 1),
        "load_1m": round(result.load_1m, 2),
        "exit": result.returncode,
    }
    if result.returncode not in (0, 2):
        print(result.stderr[-1500:], file=sys.stderr)
    return row, cursor


def report(
    rows: list[dict[str, Any]],
    compared: list[dict[str, Any]],
    labels: list[str],
    tools: dict[str, str],
    args: argparse.Namespace,
    setup_s: float,
    skipped: list[str],
) -> int:
    """The JSON line: every run, the comparison, and issue 8's and 17's goals (head only)."""
    mine = [r for r in rows if r["side"] == "head"]
    goals = []
    if mine:
        exact = all(r["req/site"] == 1 and r["sites_seen"] == r["sites"] for r in mine)
        # The 10,000-site scan, else the size nearest it that ran (--sizes 50000 alone).
        nearest = min({r["sites"] for r in mine}, key=lambda n: (abs(n - 10_000), n))
        at_10k = [r for r in mine if r["sites"] == nearest]
        best = min(at_10k, key=lambda r: (-r["conc"], r["ratio"]))
        goals += [
            goal(
                f"wall/floor at {best['sites']} sites (c={best['conc']})",
                best["ratio"],
                f"<= {RATIO_GOAL}",
                best["ratio"] <= RATIO_GOAL,
            ),
            goal("requests per site", 1 if exact else "not 1", "exactly 1", exact),
            goal(
                "writes in a no-drift pass",
                sum(r["writes"] for r in mine),
                "0",
                all(r["writes"] == 0 for r in mine),
            ),
        ]
        for size, kind in sorted({(r["sites"], r["pass"]) for r in mine}):
            rss = max(r["rss_mb"] for r in mine if (r["sites"], r["pass"]) == (size, kind))
            limit = RSS_GOALS_MB.get(size)
            if limit is not None:
                name = f"peak RSS MB at {size} sites, {kind} pass"
                goals.append(goal(name, rss, f"< {limit:.0f}", rss < limit))
    for row in compared:
        if row["sites"] == 10_000:
            value = row["cpu ratio"]
            goals.append(
                goal(
                    f"CPU per site vs {labels[1]} at 10000 sites, {row['pass']} pass "
                    "(baseline/head)",
                    value,
                    f">= {CPU_RATIO_GOAL:.0f}",
                    value is not None and value >= CPU_RATIO_GOAL,
                )
            )
    print_json_line(
        {
            "bench": "fleet_scan",
            "tool": tools.get("head"),
            "baseline": labels[1] if len(labels) > 1 else None,
            "latency_ms": args.latency_ms,
            "setup_s": round(setup_s, 1),
            "runs": rows,
            "compared": compared,
            "skipped": skipped,
            "goals": goals,
        }
    )
    return 0 if all(r["exit"] in (0, 2) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
