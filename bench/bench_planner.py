"""Microseconds per site for `plan()` over N generated (desired, live) pairs.

The planner runs once per site per pass (and again on every re-plan), so its cost is paid
10,000 times a pass on a large fleet. Pairs are built directly from reconciler.model and
cover the planner's cases (in sync, onboarding, toggle off, site change, disconnect,
broken fallback, pending or missing account, observe, suspended), mixed at random; they
are all built before the clock starts, so only `plan()` is timed.

    .venv/bin/python bench/bench_planner.py [--pairs 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter

from _common import goal, median, print_json_line, print_table, self_peak_rss_mb

from reconciler.model import (
    AccountStatus,
    ConnectionState,
    Credentials,
    Desired,
    DesiredConnection,
    FallbackCancelExperience,
    IntegrationMode,
    Live,
    LiveAccount,
    LiveBrightbackSite,
    LiveConnection,
    Management,
    Policy,
    TrafficStatus,
)
from reconciler.plan import plan

GOAL_US = 100.0  # a 10,000-site pass should spend at most a second planning

MODES = (IntegrationMode.CUSTOMER_PORTAL, IntegrationMode.RETENTION_API)


def make_desired(rng: random.Random, i: int, case: str) -> Desired:
    site = f"site-{i:06d}"
    mode = rng.choice(MODES)
    if case == "desired_disconnect":
        connection = DesiredConnection(ConnectionState.DISCONNECTED)
        return Desired(
            name=site,
            site=site,
            credentials=Credentials(api_key_env="K"),
            connection=connection,
            policy=Policy(allow_disconnect=rng.random() < 0.5),
        )
    bb = f"bb-{site}-new" if case == "site_change" else f"bb-{site}"
    policy = Policy(
        management=Management.OBSERVE if case == "observe" else Management.FULL,
        suspended=case == "suspended",
        allow_disconnect=rng.random() < 0.3,
    )
    return Desired(
        name=site,
        site=site,
        credentials=Credentials(api_key_env="K"),
        connection=DesiredConnection(
            ConnectionState.CONNECTED,
            brightback_site=bb,
            sign_up_if_missing=case == "account_missing" and rng.random() < 0.5,
        ),
        integrate_via=mode,
        cancellation_via_brightback=case != "toggle_off",
        fallback=FallbackCancelExperience(rng.random() < 0.9, rng.random() < 0.9),
        policy=policy,
        labels={"brand": "acme", "env": "live"},
    )


def make_live(rng: random.Random, desired: Desired, case: str) -> Live:
    site = desired.site
    email = f"billing@{site}.example.com"
    published = frozenset(m for m in MODES if rng.random() < 0.8)
    sites: tuple[LiveBrightbackSite, ...] = (
        LiveBrightbackSite(f"bb-{site}", published),
        LiveBrightbackSite(f"bb-{site}-new"),
    )
    status = {
        "account_pending": AccountStatus.PENDING_ACTIVATION,
        "account_missing": AccountStatus.NOT_FOUND,
    }.get(case, AccountStatus.ACTIVE)
    if case == "bb_site_missing":
        sites = (LiveBrightbackSite("bb-someone-else"),)
    account = LiveAccount(email, status, sites if status is AccountStatus.ACTIVE else ())
    connected = case in ("in_sync", "toggle_off", "site_change", "desired_disconnect", "observe")
    mode = desired.integrate_via or IntegrationMode.CUSTOMER_PORTAL
    if case in ("observe", "suspended"):
        connected = rng.random() < 0.5
    toggle = connected and case != "observe"
    connection = (
        LiveConnection(ConnectionState.CONNECTED, f"bb-{site}", email, "key_1", True)
        if connected
        else LiveConnection(ConnectionState.DISCONNECTED)
    )
    return Live(
        site=site,
        site_email=email,
        version=rng.randint(1, 10_000),
        account=account,
        connection=connection,
        integrate_via=mode if connected else None,
        cancellation_via_brightback=toggle,
        traffic_status=TrafficStatus.ON if toggle else TrafficStatus.OFF,
        reason_codes_enabled=not toggle,
        portal_cancellation_enabled=case != "broken_fallback",
    )


CASES = {  # case -> weight: most sites of a real fleet are in sync on most passes
    "in_sync": 60,
    "onboarding": 10,
    "toggle_off": 3,
    "site_change": 3,
    "desired_disconnect": 3,
    "broken_fallback": 3,
    "account_pending": 3,
    "account_missing": 3,
    "bb_site_missing": 3,
    "observe": 5,
    "suspended": 4,
}


def build_pairs(count: int, seed: int) -> tuple[list[tuple[Desired, Live]], Counter[str]]:
    rng = random.Random(seed)
    names, weights = list(CASES), list(CASES.values())
    pairs: list[tuple[Desired, Live]] = []
    cases: Counter[str] = Counter()
    for i in range(count):
        case = rng.choices(names, weights)[0]
        cases[case] += 1
        desired = make_desired(rng, i, case)
        live_case = "broken_fallback" if case == "desired_disconnect" and i % 2 else case
        pairs.append((desired, make_live(rng, desired, live_case)))
    return pairs, cases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--quick", action="store_true", help="10,000 pairs, one repeat")
    args = parser.parse_args(argv)
    if args.quick:
        args.pairs, args.repeats = 10_000, 1

    pairs, cases = build_pairs(args.pairs, args.seed)
    steps: Counter[int] = Counter()
    for desired, live in pairs:  # warm-up pass, also the step-count census
        steps[len(plan(desired, live).steps)] += 1
    timings = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        for desired, live in pairs:
            plan(desired, live)
        timings.append(time.perf_counter() - started)
    us = median(timings) * 1e6 / args.pairs

    rows = [
        {
            "pairs": args.pairs,
            "repeats": args.repeats,
            "median_s": median(timings),
            "us_per_site": us,
            "sites_per_s": round(1e6 / us),
        }
    ]
    print_table(rows, title="plan() over generated (desired, live) pairs")
    print("cases:", dict(cases))
    print("plans by step count:", dict(sorted(steps.items())))
    print_json_line(
        {
            "bench": "planner",
            "pairs": args.pairs,
            "repeats": args.repeats,
            "us_per_site": round(us, 2),
            "sites_per_s": round(1e6 / us),
            "cases": dict(cases),
            "plans_by_step_count": {str(k): v for k, v in sorted(steps.items())},
            "peak_rss_mb": round(self_peak_rss_mb(), 1),
            "goals": [goal("us per site", round(us, 2), f"<= {GOAL_US:.0f}", us <= GOAL_US)],
        }
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
