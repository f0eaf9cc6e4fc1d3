"""Fixtures for driving the CLI as a user would: YAML in tmp_path, a subprocess, a live
emulator, and a session-wide scan of every byte printed for the API keys in use."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

BRIGHTBACK = str(Path(sys.executable).with_name("brightback"))

# Every key handed to the emulator in this session, and everything the CLI printed.
KEYS_USED: set[str] = set()
PRINTED: list[tuple[str, str]] = []  # (test id + command, output)


def secret_forms(key: str) -> set[str]:
    """The key and the encodings it would take in a leaked header or URL."""
    forms = {key}
    for raw in (key, f"{key}:"):
        encoded = raw.encode()
        forms.add(base64.b64encode(encoded).decode().rstrip("="))
        forms.add(base64.urlsafe_b64encode(encoded).decode().rstrip("="))
    return forms


def leaks(text: str, keys: Sequence[str] | set[str]) -> list[str]:
    return sorted({k for k in keys for form in secret_forms(k) if form in text})


@pytest.fixture(scope="session", autouse=True)
def no_api_key_in_anything_the_cli_printed() -> Iterator[None]:
    """Checked once more at the end over every output of the session (per-call checks
    happen in `Fleet.cli` too), so a key registered late is still searched for everywhere."""
    yield
    found = [(where, leaks(text, KEYS_USED)) for where, text in PRINTED]
    found = [(where, keys) for where, keys in found if keys]
    assert not found, f"API keys printed by the CLI: {found}"


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def seed_site(
    admin: Any,
    site: str,
    email: str,
    key: str,
    *,
    brightback_sites: Sequence[str] = (),
    account: str | None = "active",
    published: Sequence[tuple[str, str]] = (),
    reason_codes: bool = True,
    portal_cancellation: bool = True,
) -> None:
    """A site in the emulator (through its admin API), with its Brightback account
    (`account` is its status; None: no account) and the experiences `published`."""
    admin.create_site(
        site,
        email,
        key,
        reason_codes_enabled=reason_codes,
        portal_cancellation_enabled=portal_cancellation,
    )
    if account is not None:
        admin.create_account(
            email, status=account, brightback_sites=tuple(brightback_sites or [f"{site}-bb"])
        )
    for brightback_site, mode in published:
        admin.publish(brightback_site, mode)


@dataclass
class Fleet:
    """A set of emulated sites, their YAML documents and their keys, for one test."""

    emulator: Any
    root: Path
    test_id: str
    env: dict[str, str] = field(default_factory=dict)
    state_url: str | None = None  # a PostgreSQL state store (also in env), else ./state

    def add_site(
        self,
        site: str,
        *,
        brightback_sites: Sequence[str] = (),
        account: str | None = "active",
        published: Sequence[tuple[str, str]] = (),
        reason_codes: bool = True,
        portal_cancellation: bool = True,
    ) -> str:
        """Create a site (and its account) in the emulator; return the site's key."""
        key = f"key-{site}-0123456789"
        email = f"billing@{site}.example"
        KEYS_USED.add(key)
        seed_site(
            self.emulator.admin,
            site,
            email,
            key,
            brightback_sites=brightback_sites,
            account=account,
            published=published,
            reason_codes=reason_codes,
            portal_cancellation=portal_cancellation,
        )
        self.env[env_name(site)] = key
        return key

    def add_sites(self, names: Sequence[str], *, converged: bool = False) -> None:
        """Many sites at once (one bulk call) with active accounts and published portal
        experiences, keyed like `add_site`; `converged`: already live as `document(name)`
        wants them, taken there by the emulator's own rules."""
        entries = []
        for site in names:
            key = f"key-{site}-0123456789"
            KEYS_USED.add(key)
            self.env[env_name(site)] = key
            entry: dict[str, Any] = {
                "site": site,
                "email": f"billing@{site}.example",
                "api_key": key,
                "account_status": "active",
                "brightback_sites": [f"{site}-bb"],
                "published": [[f"{site}-bb", "customer_portal"]],
            }
            if converged:
                live = {"brightback_site": f"{site}-bb", "integrate_via": "customer_portal"}
                entry["live"] = live
            entries.append(entry)
        assert self.emulator.admin.bulk(entries) == len(names)

    def write(self, name: str, text: str) -> Path:
        path = self.root / name
        path.write_text(text, encoding="utf-8")
        return path

    def cli(self, *args: str | Path, env: dict[str, str] | None = None) -> Result:
        full_env = {
            **os.environ,
            "NO_COLOR": "1",
            "BRIGHTBACK_API_URL": self.emulator.url_template,
            **self.env,
            **(env or {}),
        }
        done = subprocess.run(
            [BRIGHTBACK, *map(str, args)],
            capture_output=True,
            text=True,
            env=full_env,
            cwd=self.root,
            timeout=120,
            check=False,
        )
        result = Result(done.returncode, done.stdout, done.stderr)
        PRINTED.append((f"{self.test_id}: brightback {' '.join(map(str, args))}", result.output))
        assert not leaks(result.output, KEYS_USED), "an API key was printed"
        return result

    def state(self, site: str) -> dict[str, Any]:
        return dict(self.emulator.admin.site_state(site))


def env_name(site: str) -> str:
    return site.upper().replace("-", "_") + "_CHARGEBEE_API_KEY"


def document(
    site: str,
    *,
    name: str | None = None,
    state: str = "connected",
    brightback_site: str | None = None,
    mode: str | None = "customer_portal",
    toggle: bool = True,
    portal_cancellation: bool = True,
    reason_codes: bool = True,
    allow_disconnect: bool = False,
    management: str = "full",
    sign_up: bool | None = None,
) -> str:
    """One BrightbackIntegration document in the format users write."""
    connection: dict[str, Any] = {"state": state}
    if state == "connected":
        connection["brightbackSite"] = brightback_site or f"{site}-bb"
        if sign_up is not None:
            connection["signUpIfMissing"] = sign_up
    spec: dict[str, Any] = {
        "site": site,
        "credentials": {"apiKeyFromEnv": env_name(site)},
        "connection": connection,
    }
    if state == "connected" and mode is not None:
        spec["integrateVia"] = mode
    spec["cancellationViaBrightback"] = toggle if state == "connected" else False
    spec["fallbackCancelExperience"] = {
        "portalCancellation": portal_cancellation,
        "reasonCodes": reason_codes,
    }
    spec["policy"] = {"management": management, "allowDisconnect": allow_disconnect}
    body = {
        "apiVersion": "brightback-gitops/v1alpha1",
        "kind": "BrightbackIntegration",
        "metadata": {"name": name or f"{site}-live"},
        "spec": spec,
    }
    return yaml.safe_dump(body, sort_keys=False)


@pytest.fixture
def fleet(emulator: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Fleet:
    return Fleet(emulator=emulator, root=tmp_path, test_id=request.node.nodeid)
