"""Seed files: the starting world of a demo (sites, accounts, Brightback sites, published
experiences, and clicks already made in the admin console).

Applied only to an empty database, through the same operations and rules as the routes,
so a seed can never create a state the product would refuse. Format: see
examples/emulator-seed.yaml.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from emulator import service
from emulator.admin import as_form
from emulator.rules import MODES
from emulator.store import Conflict, Store


class SeedError(ValueError):
    """The seed file is malformed or asks for something the rules refuse."""


def _key(entry: Mapping[str, Any]) -> str:
    if entry.get("api_key"):
        return str(entry["api_key"])
    name = entry.get("apiKeyFromEnv")
    if name and os.environ.get(str(name)):
        return os.environ[str(name)]
    raise SeedError(f"site {entry.get('site')}: give api_key, or apiKeyFromEnv set in the env")


def apply_seed(store: Store, path: Path) -> None:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as problem:  # an unknown tag, bad indentation: a message, not a traceback
        raise SeedError(f"{path}: not a valid seed file: {problem}") from problem
    if not isinstance(document, Mapping):
        raise SeedError(f"{path}: expected a mapping with accounts and sites")
    try:
        _apply(store, document)
    except (KeyError, TypeError, Conflict) as problem:
        raise SeedError(f"{path}: {problem}") from problem


def _apply(store: Store, document: Mapping[str, Any]) -> None:
    sites = list(document.get("sites", []))
    with store.transaction() as conn:
        store.create_sites(
            conn,
            [
                {
                    "site": entry["site"],
                    "email": entry["email"],
                    "api_key": _key(entry),
                    "plan": entry.get("plan", "live"),
                    "reason_codes_enabled": entry.get("reason_codes_enabled", True),
                    "portal_cancellation_enabled": entry.get("portal_cancellation_enabled", True),
                }
                for entry in sites
            ],
        )
    for account in document.get("accounts", []):
        email = str(account["email"])
        bb_sites: Mapping[str, Any] = account.get("brightback_sites") or {}
        service.create_account(store, email, account.get("status", "active"), tuple(bb_sites))
        for name, modes in bb_sites.items():
            for mode in modes or ():
                if mode not in MODES:
                    raise SeedError(f"{name}: unknown experience {mode}")
                service.set_experience(store, name, mode, True)
    for entry in sites:
        for click in entry.get("console", []):
            (action, fields), *more = dict(click).items()
            if more:
                raise SeedError(f"{entry['site']}: one action per console entry")
            status, body, _ = service.write(
                store, entry["site"], action, as_form(dict(fields or {})), source="admin_console"
            )
            if status != 200:
                message = json.loads(body).get("message", "")
                raise SeedError(f"{entry['site']}: console {action} refused: {message}")


__all__ = [
    "SeedError",
    "apply_seed",
]
