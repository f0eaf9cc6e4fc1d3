"""Onboarding a fleet under Chargebee's per-site rate limits: how many 429s per site.

Chargebee limits each site by plan (150 requests a minute on test sites and the smallest
plans) and answers 429 beyond it. The emulator enforces the documented table
(`rate_limits: "chargebee"`); the engine's client paces a site after its first 429
(reconciler/pacing.py). Each site's onboarding is a read and four writes. Two runs:

- `burst=minute`: a bucket of a minute's worth, as a per-minute limit reads; five
  requests never reach it, so the figure to check is zero 429s at all;
- `burst=3`: a strict bucket of three at a lower concurrency (`--strict-concurrency`, so
  each site's requests come faster than 150 a minute: 2.5 a second), so sites meet the
  limit in their onboarding: the goal is at most one 429 per site (the first), every
  site live. Per-site spacing depends on the machine: the row says how many sites met
  the limit at all.

429s are counted from the emulator's request log; in-process client, `--concurrency`
sites at a time (threads), like the fleet.

    .venv/bin/python bench/bench_rate_limits.py [--sites 1000] [--concurrency 64]
        [--strict-concurrency 8]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from _common import goal, print_json_line, print_table, site_name
from bench_fleet_scan import KEY_ENV, KEY_VALUE, MODE, create_fleet, requests_since

from emulator.embedded import RunningEmulator, start_emulator
from reconciler.apply import apply_site
from reconciler.client import Client, ClientConfig, RetryPolicy
from reconciler.model import (
    ConnectionState,
    Credentials,
    Desired,
    DesiredConnection,
    FallbackCancelExperience,
    IntegrationMode,
    Policy,
)


def desired(index: int) -> Desired:
    name = site_name(index)
    return Desired(
        name=name,
        site=name,
        credentials=Credentials(api_key_env=KEY_ENV),
        connection=DesiredConnection(ConnectionState.CONNECTED, f"bb-{name}"),
        integrate_via=IntegrationMode(MODE),
        cancellation_via_brightback=True,
        fallback=FallbackCancelExperience(),
        policy=Policy(),
    )


def onboard(
    emu: RunningEmulator, first: int, count: int, concurrency: int, burst: int | None
) -> dict[str, Any]:
    emu.admin.set_settings(rate_limits="chargebee", rate_limit_burst=burst)
    _, cursor = requests_since(emu.admin, 0)
    config = ClientConfig(
        url_template=emu.url_template,
        retry=RetryPolicy(max_attempts=8),
        max_connections=concurrency,
    )
    started = time.perf_counter()
    with Client(config) as client, ThreadPoolExecutor(concurrency) as pool:
        results = list(
            pool.map(lambda i: apply_site(desired(i), client), range(first, first + count))
        )
    wall = time.perf_counter() - started
    rows, _ = requests_since(emu.admin, cursor)
    limited = Counter(str(r["site"]) for r in rows if r["status"] == 429)
    requests = Counter(str(r["site"]) for r in rows)
    return {
        "burst": burst or "minute",
        "conc": concurrency,
        "sites": count,
        "live": sum(1 for r in results if r.ok and r.changed),
        "requests": len(rows),
        "429_total": sum(limited.values()),
        "sites_with_429": len(limited),
        "max_429_per_site": max(limited.values(), default=0),
        "max_requests_per_site": max(requests.values(), default=0),
        "wall_s": round(wall, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=1_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--strict-concurrency", type=int, default=8)
    args = parser.parse_args(argv)
    os.environ[KEY_ENV] = KEY_VALUE
    with (
        tempfile.TemporaryDirectory(prefix="bench-rate-") as tmp,
        start_emulator(Path(tmp) / "emulator.sqlite3") as emu,
    ):
        create_fleet(emu.admin, args.sites * 2, reason_codes_enabled=True)
        table = [
            onboard(emu, 0, args.sites, args.concurrency, None),
            onboard(emu, args.sites, args.sites, args.strict_concurrency, 3),
        ]
    print_table(table, title=f"onboarding {args.sites} sites limited to 150 requests a minute")
    loose, strict = table
    goals = [
        goal(
            "all live",
            f"{loose['live']}+{strict['live']}",
            "every site",
            loose["live"] == strict["live"] == args.sites,
        ),
        goal("429s, minute bucket", loose["429_total"], "0", loose["429_total"] == 0),
        goal(
            "429s per site, bucket of 3",
            strict["max_429_per_site"],
            "<= 1 (the first)",
            strict["max_429_per_site"] <= 1,
        ),
    ]
    print_table(goals, title="\ngoals")
    for row in table:
        print_json_line({"bench": "rate_limits", **row})
    return 0 if all(g["met"] for g in goals) else 1


if __name__ == "__main__":
    raise SystemExit(main())
