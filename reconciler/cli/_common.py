"""Options and plumbing shared by `plan` and `apply`: one place, one behaviour.

Sites are independent: each runs in its own worker, a failure in one becomes that site's
Failed condition, and output is ordered by site name whatever the completion order.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from reconciler.cli import silence_stdout
from reconciler.client import ClientConfig
from reconciler.engine import for_each_site, select_sites
from reconciler.errors import BrightbackError
from reconciler.fleet.progress import Progress
from reconciler.model import Desired
from reconciler.report import FORMATS, RunReport, render
from reconciler.selection import empty_config_error, parse_selector, select_by_labels
from reconciler.spec import discover_files, load

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
    parser.add_argument(
        "-l",
        "--selector",
        type=selector_arg,
        metavar="KEY=VALUE[,...]",
        help="only documents with all these labels (kubectl's -l), e.g. brand=acme,env=live",
    )
    parser.add_argument(
        "--allow-empty",
        action="store_true",
        help="succeed on a config with no documents (by default an error: an empty "
        "directory or ConfigMap usually means a wrong path)",
    )
    parser.add_argument(
        "-o", "--format", choices=FORMATS, default="text", help="report format (default text)"
    )
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


Parsed = TypeVar("Parsed")


def argument_type(parse: Callable[[str], Parsed]) -> Callable[[str], Parsed]:
    """`parse` as an argparse `type=`: its ValueError becomes the option's own message
    (`--interval: 5 parsecs is not a duration`) instead of argparse's generic one."""

    def convert(text: str) -> Parsed:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__
    return convert


selector_arg = argument_type(parse_selector)


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


def load_sites(args: argparse.Namespace) -> list[Desired]:
    """All documents, validated as a whole (one invalid document stops the run), then
    narrowed by --site and --selector; an empty config is an error without --allow-empty."""
    desired = load(args.paths)
    if not desired and not getattr(args, "allow_empty", False):
        raise empty_config_error(args.paths)
    return select_by_labels(select_sites(desired, args.site), getattr(args, "selector", None))


def count_documents(paths: Sequence[str]) -> int | None:
    """How many of our documents `paths` hold, by a text scan (no parsing), for the total of
    a progress bar; None when it cannot be told cheaply (stdin)."""
    if "-" in paths:
        return None
    files, _ = discover_files(paths)
    total = 0
    for name in files:
        try:
            total += len(
                _KIND_LINE.findall(Path(name).read_text(encoding="utf-8", errors="replace"))
            )
        except OSError:
            continue
    return total


_KIND_LINE = re.compile(r"^kind:\s*BrightbackIntegration\s*$", re.MULTILINE)


@contextmanager
def site_progress(label: str, total: int) -> Iterator[Callable[[Item], None]]:
    """A bar of sites done out of `total` on stderr when it is a terminal; nothing otherwise
    (CI logs get no control characters)."""
    progress = Progress()
    progress.start(label, total)
    with progress:
        yield lambda _item: progress.tick(label)


def emit(report: RunReport, fmt: str) -> int:
    """Print the report; the exit code is the report's even if the reader went away
    (`brightback plan | head`), since the run itself is done."""
    try:
        render(report, fmt, sys.stdout)
        sys.stdout.flush()
    except BrokenPipeError:
        silence_stdout()
    return report.exit_code


class CommandProblem(BrightbackError):
    """The command cannot run in this environment (a busy port, a state directory it
    cannot write): one line on stderr and exit 1, never a traceback."""


def writable_dir(path: Path, option: str) -> None:
    """Create `path` if needed and prove a file can be written in it, or say why not."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise CommandProblem(
            f"{option} {path} cannot be created or written ({why}); point {option} at a "
            "writable directory"
        ) from None


__all__ = [
    "DEFAULT_CONCURRENCY",
    "CommandProblem",
    "add_common_arguments",
    "add_paths",
    "argument_type",
    "client_config",
    "emit",
    "for_each_site",
    "load_sites",
    "select_sites",
    "writable_dir",
]
