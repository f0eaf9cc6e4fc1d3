"""`brightback apply PATH...` or `brightback apply PLAN.json`: converge sites (writes).

With YAML paths it plans and applies in one go. With a saved plan it applies exactly what
was reviewed: it re-reads every site, re-plans, and refuses the whole run (nothing written)
if any fresh plan differs from the saved one, saying what changed; during the apply a site
that moves is not re-planned but fails. Exit 0 in sync, 1 error or refusal, 2 changes made.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from reconciler.apply import apply_site
from reconciler.cli._common import (
    add_common_arguments,
    add_paths,
    client_config,
    emit,
    for_each_site,
    load_sites,
    select_sites,
)
from reconciler.client import Client
from reconciler.errors import ApiError, CredentialError, TransportError
from reconciler.model import Desired, Live
from reconciler.plan import Plan, plan
from reconciler.report import RunReport, SiteReport
from reconciler.report.saved_plan import differences, is_saved_plan, read_saved_plan


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_paths(parser, "desired-state files or directories, - for stdin, or a saved PLAN.json")
    add_common_arguments(parser)
    parser.add_argument(
        "--max-replans",
        type=int,
        default=3,
        metavar="N",
        help="re-plans allowed when a site changes during the apply (default 3)",
    )


def run(args: argparse.Namespace) -> int:
    if len(args.paths) == 1 and is_saved_plan(args.paths[0]):
        return _apply_saved(args, Path(args.paths[0]))
    desired = load_sites(args)
    with Client(client_config(args)) as client:
        results = for_each_site(
            desired,
            lambda d: apply_site(
                d, client, allow_disconnect=args.allow_disconnect, max_replans=args.max_replans
            ),
            args.concurrency,
        )
    return emit(RunReport("apply", tuple(SiteReport.from_result(r) for r in results)), args.format)


def _apply_saved(args: argparse.Namespace, path: Path) -> int:
    saved = read_saved_plan(path)
    saved_by_name = saved.by_name()
    desired = select_sites([s.desired(str(path)) for s in saved.sites], args.site)
    allow = args.allow_disconnect or saved.allow_disconnect
    with Client(client_config(args)) as client:

        def fresh(d: Desired) -> tuple[Desired, Live | None, Plan | None, SiteReport]:
            try:
                live = client.read(d)
            except (CredentialError, ApiError, TransportError) as exc:
                return d, None, None, SiteReport.from_error(d, exc)
            new_plan = plan(d, live, allow_disconnect=allow)
            return d, live, new_plan, SiteReport.from_plan(d, new_plan, live)

        planned = for_each_site(desired, fresh, args.concurrency)
        notes: list[str] = []
        for d, _, new_plan, site_report in planned:
            if new_plan is None:
                notes.append(f"{d.name}: could not re-read the site: {site_report.error}")
            else:
                notes.extend(
                    f"{d.name}: {why}" for why in differences(saved_by_name[d.name], new_plan)
                )
        if notes:
            head = f"refused to apply {path}: the plan changed since it was saved; nothing applied"
            tail = "run `brightback plan --out` again and review the new plan"
            report = RunReport(
                "apply",
                tuple(site_report for *_, site_report in planned),
                notes=(head, *notes, tail),
                refused=True,
            )
            return emit(report, args.format)
        results = for_each_site(
            [(d, live) for d, live, _, _ in planned],
            lambda pair: apply_site(
                pair[0], client, allow_disconnect=allow, max_replans=0, live=pair[1]
            ),
            args.concurrency,
        )
    return emit(RunReport("apply", tuple(SiteReport.from_result(r) for r in results)), args.format)
