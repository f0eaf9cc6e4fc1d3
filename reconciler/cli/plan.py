"""`brightback plan PATH...`: what apply would do, read-only by construction.

Opens a read-only backend (for `api`, `ReadOnlyClient`: no write method, and any
non-GET request refused). Exit 0
in sync, 1 error, 2 changes pending (or drift on an observe-only site).
"""

from __future__ import annotations

import argparse
import sys
from contextlib import closing
from pathlib import Path

from reconciler.cli._backend import add_backend_arguments, open_backend
from reconciler.cli._common import (
    add_common_arguments,
    add_paths,
    emit,
    for_each_site,
    load_sites,
    site_progress,
)
from reconciler.engine import observe
from reconciler.model import Desired
from reconciler.report import RunReport, SiteReport, SiteStatus
from reconciler.report.saved_plan import write_saved_plan


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_paths(parser, "desired-state files or directories, or - for stdin")
    add_common_arguments(parser)
    add_backend_arguments(parser)
    parser.add_argument(
        "--out",
        type=Path,
        metavar="PLAN.json",
        help="save the plan for `brightback apply PLAN.json` (no secrets inside)",
    )


def run(args: argparse.Namespace) -> int:
    desired = load_sites(args)
    by_name = {d.name: d for d in desired}
    with (
        closing(open_backend(args, desired, writes=False)) as backend,
        site_progress("plan", len(desired)) as tick,
    ):

        def work(d: Desired) -> SiteReport:
            site = observe(
                backend, d, allow_disconnect=args.allow_disconnect, patient=False
            ).report()
            tick(d)
            return site

        sites = for_each_site(desired, work, args.concurrency)
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


__all__ = [
    "add_arguments",
    "run",
]
