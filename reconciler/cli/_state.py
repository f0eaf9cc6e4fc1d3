"""`--state-dir` and `--state-url`: where `reconcile` and `status` find the state store."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from reconciler.store import STATE_URL_ENV, Store, open_store

DEFAULT_STATE_DIR = Path(".brightback")


def add_state_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=DEFAULT_STATE_DIR,
        metavar="DIR",
        help=f"{what} in this directory (default {DEFAULT_STATE_DIR})",
    )
    parser.add_argument(
        "--state-url",
        metavar="URL",
        help=f"postgresql://USER@HOST/DB: {what} in PostgreSQL instead, shared by shards "
        f"and by runners that keep no disk (default ${STATE_URL_ENV}; the password is "
        "better in $PGPASSWORD or ~/.pgpass, and is never printed)",
    )


def state_url(args: argparse.Namespace) -> str | None:
    """The URL from the flag, else from the environment; None keeps the directory."""
    url: str | None = args.state_url or os.environ.get(STATE_URL_ENV) or None
    return url


def open_from_args(args: argparse.Namespace) -> Store:
    return open_store(args.state_dir, state_url(args))
