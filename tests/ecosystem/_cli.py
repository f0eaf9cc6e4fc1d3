"""Check that a `brightback ...` command line written in an example parses with our CLI."""

from __future__ import annotations

import argparse
import contextlib
import io
import shlex
from collections.abc import Iterable

from reconciler.cli import build_parser_for


def parse_brightback(argv: list[str]) -> argparse.Namespace:
    """Parse argv (without the leading `brightback`) exactly as the console script would.

    Raises AssertionError with argparse's own message when the command or an option does
    not exist, so a renamed flag breaks the examples' tests instead of a user's CI.
    """
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            return build_parser_for(argv).parse_args(argv)
    except SystemExit as exc:
        raise AssertionError(
            f"`brightback {shlex.join(argv)}` does not parse: {stderr.getvalue()}"
        ) from exc


def commands_in_script(script: str) -> Iterable[list[str]]:
    """Every `brightback ...` invocation in a shell script, up to a redirection or pipe."""
    for line in script.replace("\\\n", " ").splitlines():
        if not line.strip().startswith("brightback "):
            continue
        words = shlex.split(line.strip(), comments=True)
        argv: list[str] = []
        for word in words[1:]:
            if word in {">", ">>", "|", "&&", "||", ";", "2>&1"}:
                break
            argv.append(word)
        yield argv
