"""`brightback apply PATH...` or `brightback apply PLAN.json`: converge sites (writes).

With YAML paths it plans and applies in one go. With a saved plan it applies exactly what
was reviewed: it re-reads every site, re-plans, and refuses the whole run (nothing written)
if any fresh plan differs from the saved one, saying what changed; during the apply a site
that moves is not re-planned but fails. Exit 0 in sync, 1 error or refusal, 2 changes made.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import closing
from pathlib import Path

from reconciler.apply import SiteResult
from reconciler.backend import Backend
from reconciler.cli._backend import add_backend_arguments, open_backend
from reconciler.cli._common import (
    add_common_arguments,
    add_paths,
    emit,
    for_each_site,
    load_sites,
    select_sites,
    site_progress,
)
from reconciler.engine import Observation, converge, observe
from reconciler.model import Desired
from reconciler.report import RunReport, SiteReport, render
from reconciler.report.saved_plan import differences, is_saved_plan, read_saved_plan


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_paths(parser, "desired-state files or directories, - for stdin, or a saved PLAN.json")
    add_common_arguments(parser)
    add_backend_arguments(parser)
    parser.add_argument(
        "--auto-approve",
        action="store_true",
        help="on a terminal, apply without showing the plan and asking first (elsewhere, "
        "as in CI, apply never asks)",
    )
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
    allow = args.allow_disconnect
    interactive = not args.auto_approve and sys.stdin.isatty() and sys.stdout.isatty()
    with closing(open_backend(args, desired, writes=True)) as backend:
        reviewed: dict[str, Observation] = {}
        if interactive:
            ended = _review(args, backend, desired, reviewed)
            if ended is not None:
                return ended
        with site_progress("apply", len(desired)) as tick:

            def work(d: Desired) -> SiteResult:
                seen = reviewed.get(d.name) or observe(backend, d, allow_disconnect=allow)
                result = converge(backend, seen, max_replans=args.max_replans)
                tick(d)
                return result

            results = for_each_site(desired, work, args.concurrency)
    return emit(RunReport("apply", tuple(SiteReport.from_result(r) for r in results)), args.format)


def _review(
    args: argparse.Namespace,
    backend: Backend,
    desired: list[Desired],
    reviewed: dict[str, Observation],
) -> int | None:
    """On a terminal, Terraform's habit: show the plan, apply only after a typed `yes`.

    Returns the exit code when the run ends here (nothing to do: the plan's code; not
    approved: 1), or None to go on and apply exactly the observations shown (`reviewed`):
    a site that moved since is re-planned by converge as usual.
    """
    with site_progress("plan", len(desired)) as tick:

        def look(d: Desired) -> Observation:
            seen = observe(backend, d, allow_disconnect=args.allow_disconnect)
            tick(d)
            return seen

        observations = for_each_site(desired, look, args.concurrency)
    reviewed.update((seen.desired.name, seen) for seen in observations)
    report = RunReport("plan", tuple(seen.report() for seen in observations))
    render(report, "text", sys.stdout)
    if not any(seen.plan is not None and seen.plan.steps for seen in observations):
        print("\nNothing to apply.", flush=True)
        return report.exit_code
    print(
        "\nApply these steps? Only 'yes' is accepted (or run with --auto-approve): ",
        end="",
        flush=True,
    )
    if sys.stdin.readline().strip() != "yes":
        print("apply cancelled: nothing applied", file=sys.stderr)
        return 1
    return None


def _apply_saved(args: argparse.Namespace, path: Path) -> int:
    saved = read_saved_plan(path)
    saved_by_name = saved.by_name()
    desired = select_sites([s.desired(str(path)) for s in saved.sites], args.site)
    allow = args.allow_disconnect or saved.allow_disconnect
    with closing(open_backend(args, desired, writes=True)) as backend:
        planned = for_each_site(
            desired,
            lambda d: observe(backend, d, allow_disconnect=allow, patient=False),
            args.concurrency,
        )
        notes: list[str] = []
        for seen in planned:
            name = seen.desired.name
            if seen.plan is None:
                notes.append(f"{name}: could not re-read the site: {seen.error}")
            else:
                notes.extend(
                    f"{name}: {why}" for why in differences(saved_by_name[name], seen.plan)
                )
        if notes:
            head = f"refused to apply {path}: the plan changed since it was saved; nothing applied"
            tail = "run `brightback plan --out` again and review the new plan"
            report = RunReport(
                "apply",
                tuple(seen.report() for seen in planned),
                notes=(head, *notes, tail),
                refused=True,
            )
            return emit(report, args.format)
        results = for_each_site(
            planned, lambda seen: converge(backend, seen, max_replans=0), args.concurrency
        )
    return emit(RunReport("apply", tuple(SiteReport.from_result(r) for r in results)), args.format)


__all__ = [
    "add_arguments",
    "run",
]
