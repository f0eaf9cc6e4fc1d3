"""`brightback plan PATH...`: what apply would do, read-only by construction.

Uses `ReadOnlyClient`, which has no write method and refuses any non-GET request. Exit 0
in sync, 1 error, 2 changes pending (or drift on an observe-only site).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reconciler.cli._common import (
    add_common_arguments,
    add_paths,
    client_config,
    emit,
    for_each_site,
    load_sites,
)
from reconciler.client import ReadOnlyClient
from reconciler.errors import ApiError, CredentialError, TransportError
from reconciler.model import Desired
from reconciler.plan import plan
from reconciler.report import RunReport, SiteReport, SiteStatus
from reconciler.report.saved_plan import write_saved_plan


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_paths(parser, "desired-state files or directories, or - for stdin")
    add_common_arguments(parser)
    parser.add_argument(
        "--out",
        type=Path,
        metavar="PLAN.json",
        help="save the plan for `brightback apply PLAN.json` (no secrets inside)",
    )


def plan_site(client: ReadOnlyClient, desired: Desired, allow_disconnect: bool) -> SiteReport:
    try:
        live = client.read(desired)
    except (CredentialError, ApiError, TransportError) as exc:
        return SiteReport.from_error(desired, exc)
    return SiteReport.from_plan(
        desired, plan(desired, live, allow_disconnect=allow_disconnect), live
    )


def run(args: argparse.Namespace) -> int:
    desired = load_sites(args)
    by_name = {d.name: d for d in desired}
    with ReadOnlyClient(client_config(args)) as client:
        sites = for_each_site(
            desired,
            lambda d: plan_site(client, d, args.allow_disconnect),
            args.concurrency,
        )
    report = RunReport("plan", tuple(sites))
    if args.out is not None:
        entries = [
            (by_name[s.name], s.plan, s.live)
            for s in report.sites
            if s.plan is not None and s.live is not None
        ]
        write_saved_plan(args.out, entries, allow_disconnect=args.allow_disconnect)
        failed = report.count(SiteStatus.FAILED)
        note = f"saved the plan of {len(entries)} site(s) to {args.out}"
        if failed:
            note += f"; {failed} site(s) could not be planned and are not in it"
        print(note, file=sys.stderr)
    return emit(report, args.format)
