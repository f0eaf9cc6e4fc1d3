"""`brightback status`: what the last reconcile pass found, printed once or served.

Reads the last report `brightback reconcile` keeps in its state store after each pass
(`<state-dir>/last-report.json`, or the PostgreSQL store of `--state-url`), so it works
beside a running reconciler or on a copy of the directory from CI. With shards, the last
reports of every shard are merged into one. Exit 0 when a report was shown, 1 when no
pass has run yet.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Mapping
from typing import Any

from reconciler.cli._state import add_state_arguments, open_from_args
from reconciler.fields import printable
from reconciler.status_page import (
    HOST_ENV,
    REPORT_FILE,
    STATUS_WORDS,
    ReportSource,
    serve_status,
    status_words,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_state_arguments(parser, f"the last report ({REPORT_FILE})")
    parser.add_argument(
        "--serve",
        type=int,
        metavar="PORT",
        help="serve the status page on PORT until Ctrl-C instead of printing",
    )
    parser.add_argument(
        "--host",
        default=None,
        help=f"address to serve on (default ${HOST_ENV}, else 127.0.0.1; 0.0.0.0 in a container)",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text", help="printed format")


def text_lines(report: Mapping[str, Any]) -> list[str]:
    """One summary line, then one line per site: name, site, status, first condition."""
    sites = [s for s in report.get("sites") or [] if isinstance(s, Mapping)]
    counts = [
        f"{n} {words}"
        for status, words in STATUS_WORDS.items()
        if (n := sum(1 for s in sites if s.get("status") == status))
    ]
    head = f"last pass: brightback {report.get('command', '?')}, {len(sites)} sites"
    git = report.get("git")
    if isinstance(git, Mapping) and git.get("commit"):
        head += f", commit {str(git['commit'])[:12]}" + (" (dirty)" if git.get("dirty") else "")
    if isinstance(report.get("duration_s"), int | float):
        head += f", took {report['duration_s']:.1f} s"
    lines = [head + (": " + ", ".join(counts) if counts else "")]
    width = max((len(str(s.get("name", ""))) for s in sites), default=0)
    status_width = max((len(status_words(s)) for s in sites), default=0)
    for site in sites:
        conditions = [c for c in site.get("conditions") or [] if isinstance(c, Mapping)]
        first = conditions[0] if conditions else None
        detail = f"  {first.get('type')}: {first.get('message')}" if first else ""
        name = str(site.get("name", "?"))
        lines.append(f"{name:<{width}}  {status_words(site):<{status_width}}{detail}".rstrip())
    return [printable(line) for line in lines]


def run(args: argparse.Namespace) -> int:
    source = ReportSource(open_from_args(args))
    if args.serve is not None:
        return _serve(args.serve, source, args.host)
    try:
        report = source.read()
    finally:
        source.close()
    if report is None:
        print(f"no reconcile pass has run yet (no last report in {source.where})", file=sys.stderr)
        return 1
    if args.format == "json":
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write("\n".join(text_lines(report)) + "\n")
    return 0


def _serve(port: int, source: ReportSource, host: str | None) -> int:
    server = serve_status(port, source, host)
    print(f"serving the status page on {server.url} (Ctrl-C to stop)", file=sys.stderr)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        source.close()
    return 0


__all__ = [
    "add_arguments",
    "run",
    "text_lines",
]
