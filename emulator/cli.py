"""`brightback emulator --port P --db FILE [--seed FILE] [--admin-token T] [--host H]`.

Prints where it listens, the URL template to give the engine, and where the admin token
came from (never the token when the user chose it, never any site key). With --port 0 the
system picks a free port; the `listening on` line is what `emulator.embedded` parses.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from emulator import TOKEN_ENV
from emulator.seed import SeedError, apply_seed
from emulator.settings import validate as validate_settings
from emulator.store import Store


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options, for `brightback emulator` (reconciler.cli) and `python -m emulator`."""
    p.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--db", type=Path, default=Path("emulator.sqlite3"), help="SQLite file")
    p.add_argument("--seed", type=Path, help="YAML seed, applied only to an empty database")
    p.add_argument(
        "--admin-token",
        help=f"admin Bearer token (default: env {TOKEN_ENV}, else generated into DB.admin-token)",
    )
    p.add_argument("--faults", help='JSON: {"global": {...}, "sites": {...}} or a file of it')
    p.add_argument(
        "--settings",
        help='JSON: {"idempotency_window_s": 1800, "rate_limits": "chargebee" | {plan: n}, '
        '"rate_limit_burst": n} or a file of it',
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="brightback emulator",
        description="Serve the Chargebee/Brightback control-plane emulator on loopback.",
    )
    add_arguments(p)
    return p


def admin_token(args: argparse.Namespace) -> tuple[str, str]:
    """(token, where it came from) - the source is printed, a chosen token is not."""
    if args.admin_token:
        return args.admin_token, "--admin-token"
    if os.environ.get(TOKEN_ENV):
        return os.environ[TOKEN_ENV], f"env {TOKEN_ENV}"
    path = Path(f"{args.db}.admin-token")
    if path.is_file() and path.read_text(encoding="utf-8").strip():
        return path.read_text(encoding="utf-8").strip(), f"file {path}"
    token = secrets.token_urlsafe(24)
    path.write_text(token + "\n", encoding="utf-8")
    path.chmod(0o600)
    return token, f"file {path} (generated)"


def load_faults(text: str) -> dict[str, Any]:
    path = Path(text)
    source = path.read_text(encoding="utf-8") if path.is_file() else text
    value = yaml.safe_load(source) if path.suffix in (".yaml", ".yml") else json.loads(source)
    if not isinstance(value, dict):
        raise ValueError("--faults and --settings must be a JSON object")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    return run(parser().parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Open the store, seed it if empty, then serve until terminated."""
    import uvicorn

    from emulator.app import create_app

    args.db.parent.mkdir(parents=True, exist_ok=True)
    store = Store(args.db)
    try:
        if args.seed is not None and store.is_empty():
            apply_seed(store, args.seed)
        token, source = admin_token(args)
        if args.settings:
            store.save_settings(validate_settings(load_faults(args.settings), store.settings()))
        app = create_app(store, token)
        if args.faults:
            config = load_faults(args.faults)
            app.faults.configure(config.get("global", {}), config.get("sites", {}))
    except (OSError, ValueError, SeedError, yaml.YAMLError) as problem:
        print(f"brightback emulator: {problem}", file=sys.stderr)
        store.close()
        return 1
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms delayed-ACK stall
    try:
        sock.bind((args.host, args.port))
    except OSError as problem:
        print(f"brightback emulator: cannot listen on {args.host}:{args.port}: {problem}",
              file=sys.stderr)  # fmt: skip
        return 1
    port = sock.getsockname()[1]
    base = f"http://{args.host}:{port}"
    banner = [
        f"brightback emulator listening on {base}",
        f"  url template: {base}/sites/{{site}}/api/v2  (or Host: <site>.localhost)",
        f"  database: {args.db}",
        f"  admin: {base}/_admin (Bearer token from {source})",
    ]
    server_config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    try:
        _announcing_server_class()(server_config, banner).run(sockets=[sock])
    finally:
        store.close()
    return 0


def _announcing_server_class() -> type[Any]:
    """Built on first use: uvicorn is imported only when the emulator really serves."""
    import uvicorn

    class AnnouncingServer(uvicorn.Server):
        """Prints the banner once the socket accepts connections, not before: the
        `listening on` line is what `emulator.embedded` and scripts wait for."""

        def __init__(self, config: uvicorn.Config, banner: list[str]) -> None:
            super().__init__(config)
            self.banner = banner

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if not self.should_exit:
                print("\n".join(self.banner), flush=True)

    return AnnouncingServer


__all__ = [
    "TOKEN_ENV",
    "add_arguments",
    "admin_token",
    "load_faults",
    "main",
    "parser",
    "run",
]
