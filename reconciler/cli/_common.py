"""Options and plumbing shared by `plan` and `apply`: one place, one behaviour.

Sites are independent: each runs in its own worker, a failure in one becomes that site's
Failed condition, and output is ordered by site name whatever the completion order.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from reconciler.client import ClientConfig
from reconciler.errors import SpecError, SpecProblem
from reconciler.model import Desired
from reconciler.report import FORMATS, RunReport, render
from reconciler.spec import load

T = TypeVar("T")
Item = TypeVar("Item")
DEFAULT_CONCURRENCY = 16


def add_paths(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help=help_text)


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--site",
        action="append",
        metavar="NAME",
        help="only this document name or Chargebee site (repeatable)",
    )
    parser.add_argument("--format", choices=FORMATS, default="text", help="report format")
    parser.add_argument(
        "--api-url",
        metavar="TEMPLATE",
        help="per-site API URL template with {site} "
        "(default $BRIGHTBACK_API_URL, else https://{site}.chargebee.com/api/v2)",
    )
    parser.add_argument(
        "--allow-disconnect",
        action="store_true",
        help="allow destructive disconnects for this run (rule 10: stops data sync)",
    )
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        default=30.0,
        metavar="SECONDS",
        help="per-request read/write timeout (default 30)",
    )
    parser.add_argument(
        "--concurrency",
        type=_positive_int,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"sites handled at once (default {DEFAULT_CONCURRENCY})",
    )


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def client_config(args: argparse.Namespace) -> ClientConfig:
    return ClientConfig.from_env(
        args.api_url,
        timeout=args.timeout,
        connect_timeout=min(10.0, args.timeout),
        max_connections=max(args.concurrency, 1),
    )


def select_sites(desired: Sequence[Desired], wanted: Sequence[str] | None) -> list[Desired]:
    """Filter by document name or site; an unknown name is an error, not an empty run."""
    if not wanted:
        return list(desired)
    chosen = [d for d in desired if d.name in wanted or d.site in wanted]
    known = {d.name for d in desired} | {d.site for d in desired}
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise SpecError(
            [
                SpecProblem("--site", 1, 1, "", f"no document or site named {name!r}")
                for name in unknown
            ]
        )
    return chosen


def load_sites(args: argparse.Namespace) -> list[Desired]:
    """All documents, validated as a whole (one invalid document stops the run)."""
    return select_sites(load(args.paths), args.site)


def for_each_site(items: Sequence[Item], work: Callable[[Item], T], concurrency: int) -> list[T]:
    """Run `work` per site on a bounded pool; results in input order.

    `work` must turn site-level errors into results itself; anything it raises is a bug
    and propagates.
    """
    if not items:
        return []
    workers = max(1, min(concurrency, len(items)))
    if workers == 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="site") as pool:
        return list(pool.map(work, items))


def emit(report: RunReport, fmt: str) -> int:
    render(report, fmt, sys.stdout)
    sys.stdout.flush()
    return report.exit_code
