"""The PostgreSQL state store and shards against the directory store and one process
(issue 16).

Builds a converged fleet on the emulator (one bulk call per 2,000 sites), switches on
injected latency, and times no-drift passes of `brightback reconcile --once`:

1. store: the same scan with `--state-dir` and with `--state-url` (a throwaway server
   this script starts from Debian's postgresql binaries, fsync on like a real one).
   Each store gets one pass to learn the fleet, then the measured pass (every site's
   row is rewritten: last seen, version). Wall, CPU and peak RSS of the reconciler,
   and PostgreSQL / directory ratios.
2. shards: 4 shard processes started together (`--shard i/4`, on the PostgreSQL store
   just measured, one run id) against that 1-process pass: the wall ratio (slowest shard's
   wall / one process's wall), which approaches the concurrency gain on a machine with
   cores and a peer to spare, and cannot on a loaded 2-core one.

    .venv/bin/python bench/bench_store.py [--sites 10000] [--concurrency 64]
        [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import Measured, print_json_line, print_table, run_measured
from bench_fleet_scan import KEY_ENV, KEY_VALUE, create_fleet, write_config

from emulator.embedded import RunningEmulator, start_emulator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests._postgres import start_postgres

BRIGHTBACK = str(Path(sys.executable).with_name("brightback"))


def env_for(emu: RunningEmulator, state_url: str | None = None) -> dict[str, str]:
    env = {**os.environ, "BRIGHTBACK_API_URL": emu.url_template, KEY_ENV: KEY_VALUE}
    env.pop("BRIGHTBACK_STATE_URL", None)
    if state_url:
        env["BRIGHTBACK_STATE_URL"] = state_url
    return env


def scan(
    emu: RunningEmulator, config: Path, where: list[str], conc: int, env: dict[str, str]
) -> Measured:
    argv = [BRIGHTBACK, "reconcile", str(config), "--once", "--format", "json"]
    argv += ["--concurrency", str(conc), *where]
    result = run_measured(argv, env=env, timeout=3600)
    if result.returncode != 0:
        raise SystemExit(f"pass failed ({result.returncode}): {result.stderr[-2000:]}")
    return result


def row(label: str, m: Measured, sites: int) -> dict[str, Any]:
    return {
        "run": label,
        "sites": sites,
        "wall_s": round(m.wall_s, 2),
        "cpu_s": round(m.user_s + m.sys_s, 2),
        "peak_rss_mb": round(m.peak_rss_mb, 1),
    }


def store_bench(
    emu: RunningEmulator, url: str, config: Path, sites: int, conc: int, work: Path
) -> tuple[list[dict[str, Any]], Measured]:
    directory = ["--state-dir", str(work / "dir-state")]
    env_dir, env_pg = env_for(emu), env_for(emu, url)
    scan(emu, config, directory, conc, env_dir)  # learn the fleet
    scan(emu, config, [], conc, env_pg)
    on_pg = scan(emu, config, [], conc, env_pg)
    rows = [
        row("directory store", scan(emu, config, directory, conc, env_dir), sites),
        row("postgresql store", on_pg, sites),
    ]
    d, p = rows
    rows.append(
        {
            "run": "postgresql / directory",
            "sites": sites,
            "wall_s": round(p["wall_s"] / d["wall_s"], 2),
            "cpu_s": round(p["cpu_s"] / d["cpu_s"], 2),
            "peak_rss_mb": round(p["peak_rss_mb"] / d["peak_rss_mb"], 2),
        }
    )
    return rows, on_pg


def shard_bench(
    emu: RunningEmulator, url: str, one: Measured, config: Path, sites: int, conc: int
) -> list[dict[str, Any]]:
    """4 shards on the store the one-process PostgreSQL pass just used (same state)."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as outs:
        processes = []
        for index in range(4):
            argv = [BRIGHTBACK, "reconcile", str(config), "--once", "--format", "json"]
            argv += ["--concurrency", str(conc), "--shard", f"{index}/4", "--run-id", "bench"]
            with open(Path(outs) / f"{index}.out", "w") as out:
                processes.append(
                    subprocess.Popen(
                        argv, env=env_for(emu, url), stdout=out, stderr=subprocess.DEVNULL
                    )
                )
        codes = [p.wait(timeout=3600) for p in processes]
    wall = time.perf_counter() - started
    if any(codes):
        raise SystemExit(f"a shard failed: {codes}")
    return [
        row("1 process", one, sites),
        {"run": "4 shards at once", "sites": sites, "wall_s": round(wall, 2)},
        {
            "run": "1 process / 4 shards (wall)",
            "sites": sites,
            "wall_s": round(one.wall_s / wall, 2),
        },
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with start_emulator(work / "emulator.sqlite3") as emu, start_postgres(fsync=True) as pg:
            create_fleet(emu.admin, args.sites, live=True)
            config = write_config(work / "sites", args.sites)
            emu.admin.set_faults(global_={"latency_ms": args.latency_ms})
            url = pg.create_database("bench")
            stores, one = store_bench(emu, url, config, args.sites, args.concurrency, work)
            print_table(stores, title=f"no-drift scan, {args.latency_ms:g} ms latency")
            shards = shard_bench(emu, url, one, config, args.sites, args.concurrency)
            print_table(shards, title="4 shards vs 1 process (PostgreSQL store)")
            for record in stores + shards:
                print_json_line({"bench": "store", **record})
    return 0


if __name__ == "__main__":
    sys.exit(main())
