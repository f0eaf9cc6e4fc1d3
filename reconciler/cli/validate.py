"""`brightback validate PATH...`: schema and cross-file checks, nothing contacted.

Exit 0 when every document is valid, 1 otherwise. Made for pre-commit hooks and PR
checks, so it needs no credentials and no network.
"""

from __future__ import annotations

import argparse
import json
import sys

from reconciler.errors import SpecError
from reconciler.fields import printable
from reconciler.spec import load


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files, directories or - (stdin)")
    parser.add_argument(
        "-o",
        "--format",
        choices=("text", "json"),
        default="text",
        help="text: one problem per line on stderr; json: one document on stdout",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing when valid")


def run(args: argparse.Namespace) -> int:
    try:
        desired = load(args.paths)
    except SpecError as exc:
        if args.format == "json":
            problems = [p.as_dict() for p in exc.problems]
            print(json.dumps({"valid": False, "problems": problems}, indent=2))
        else:
            for problem in exc.problems:
                print(printable(str(problem)), file=sys.stderr)
            count = len(exc.problems)
            print(f"invalid: {count} problem{'s' if count != 1 else ''}", file=sys.stderr)
        return 1
    if args.format == "json":
        sites = [{"name": d.name, "site": d.site, "source": str(d.source)} for d in desired]
        print(json.dumps({"valid": True, "documents": len(desired), "sites": sites}, indent=2))
    elif not args.quiet:
        print(f"valid: {len(desired)} document{'s' if len(desired) != 1 else ''}")
    return 0


__all__ = [
    "add_arguments",
    "run",
]
