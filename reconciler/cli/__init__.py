"""`brightback`: one console script, one thin module per command.

Each command module exposes `add_arguments(parser)` and `run(args) -> int`. Modules are
imported only when their command runs, so `brightback validate` stays fast and never
imports the Pulumi SDK or the emulator's server.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from reconciler.errors import BrightbackError

# command name -> (module, one-line help). Order is the order of `brightback --help`.
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("reconciler.cli.validate", "check desired-state files against the schema"),
    "plan": ("reconciler.cli.plan", "show what apply would change (reads only)"),
    "apply": ("reconciler.cli.apply", "converge sites to the desired state (writes)"),
    "reconcile": ("reconciler.cli.reconcile", "fleet-wide plan/apply, once or on an interval"),
    "export": ("reconciler.cli.export", "write the live state of existing sites as YAML"),
    "status": ("reconciler.cli.status", "show or serve the last reconcile pass"),
    "emulator": ("emulator.cli", "run the local Chargebee/Brightback control-plane emulator"),
    "demo": ("reconciler.cli.demo", "apply examples/sites against an embedded emulator"),
}

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser_for(args_list)
    args = parser.parse_args(args_list)
    module = importlib.import_module(args._module)
    try:
        return int(module.run(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrightbackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR


def build_parser_for(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The full parser, with arguments added only for the command named in `argv`."""
    parser = argparse.ArgumentParser(
        prog="brightback",
        description="Declarative, reviewable Brightback integrations for Chargebee sites.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    requested = next((a for a in argv if a in COMMANDS), None)
    for name, (module_name, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
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
