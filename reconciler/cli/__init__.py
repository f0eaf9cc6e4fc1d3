"""`brightback`: one console script, one thin module per command.

Each command module exposes `add_arguments(parser)` and `run(args) -> int`. Modules are
imported only when their command runs, so `brightback validate` stays fast and never
imports the Pulumi SDK or the emulator's server.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from reconciler.errors import BrightbackError
from reconciler.fields import printable

# command name -> (module, one-line help). Order is the order of `brightback --help`.
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("reconciler.cli.validate", "check desired-state files against the schema"),
    "plan": ("reconciler.cli.plan", "show what apply would change (reads only)"),
    "apply": ("reconciler.cli.apply", "converge sites to the desired state (writes)"),
    "reconcile": ("reconciler.cli.reconcile", "fleet-wide plan/apply, once or on an interval"),
    "login": (
        "reconciler.cli.login",
        "sign in to a site's admin console once, for --backend console",
    ),
    "show": ("reconciler.cli.show", "render a plan saved with `plan --out` (text, json, markdown)"),
    "export": ("reconciler.cli.export", "write the live state of existing sites as YAML"),
    "status": ("reconciler.cli.status", "show or serve the last reconcile pass"),
    "emulator": ("emulator.cli", "run the local Chargebee/Brightback control-plane emulator"),
    "demo": ("reconciler.cli.demo", "apply examples/sites against an embedded emulator"),
}

# The one exit-code table of every command (README "Exit codes", `--help`).
EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
EXIT_USAGE = 64  # EX_USAGE (sysexits.h): argparse's own 2 would read as "changes pending"
EXIT_INTERRUPTED = 130  # 128 + SIGINT

EXIT_CODES = """\
exit codes (every command):
  0    nothing to do, or nothing changed (in sync; waiting sites; observe-only drift)
  2    changes pending (plan) or made (apply, reconcile)
  1    a site failed or is Blocked, the run was refused, or the config is invalid
  64   usage error: unknown option, bad value (EX_USAGE)
  130  interrupted (Ctrl-C)"""


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors exiting 64 instead of 2 (2 means "changes pending")."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def version() -> str:
    from importlib import metadata  # 0.05 s to import: only when asked

    try:
        return metadata.version("brightback-gitops")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


class _VersionAction(argparse.Action):
    """`--version`, looking the version up only when asked (argparse's own action needs
    the string while the parser is built, i.e. on every run)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        print(f"brightback {version()}")  # on stdout, as argparse's own action prints it
        parser.exit()


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser_for(args_list)
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exit_:  # --help, --version (0) or a usage error (64)
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    module = importlib.import_module(args._module)
    try:
        return int(module.run(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`brightback plan | head`): not worth a traceback.
        silence_stdout()
        return EXIT_ERROR
    except BrightbackError as exc:
        # Line by line: a SpecError lists one problem a line; each line's own control
        # characters (a file name's ESC or newline) are still shown escaped.
        print("\n".join(map(printable, f"error: {exc}".split("\n"))), file=sys.stderr)
        return EXIT_ERROR


def silence_stdout() -> None:
    """Point stdout at /dev/null after a broken pipe, so the interpreter's final flush
    does not print "Exception ignored ... BrokenPipeError" on the way out."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout is not a real file (tests): nothing to silence
        pass


def build_parser_for(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The full parser, with arguments added only for the command named in `argv`."""
    parser = _Parser(
        prog="brightback",
        description="Declarative, reviewable Brightback integrations for Chargebee sites.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    requested = next((a for a in argv if a in COMMANDS), None)
    for name, (module_name, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=EXIT_CODES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command_parser.set_defaults(_module=module_name)
        if name == requested:
            importlib.import_module(module_name).add_arguments(command_parser)
    return parser


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


__all__ = [
    "COMMANDS",
    "build_parser_for",
    "main",
]
