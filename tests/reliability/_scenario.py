"""A fleet in assorted states, its desired documents, and the invariants to check.

Shared by the CI-sized reliability tests and the large versions under bench/. Every check
reads the emulator's own state and request log, never the reconciler's report: the point
is to catch the reconciler believing something that did not happen.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

BRIGHTBACK = str(Path(sys.executable).with_name("brightback"))

# kind -> (what the site starts as, what its document asks for)
KINDS = (
    "onboard_portal",  # new site -> connected, customer_portal, toggle on
    "onboard_api_unpublished",  # new site -> retention_api, toggle waits for publish, fallback on
    "disconnect_allowed",  # connected with toggle on -> disconnected (allowed)
    "toggle_off_blocked",  # connected with toggle on -> toggle off, no allowance: untouched
    "restore_after_ui_disconnect",  # disconnected in the UI, portal off -> fallback restored
    "move_site_allowed",  # connected to site A -> site B (allowed)
)
ALLOWED = {"disconnect_allowed", "move_site_allowed"}
KEYS_EXPECTED = {  # api keys generated over the whole run, at most
    "onboard_portal": 1,
    "onboard_api_unpublished": 1,
    "disconnect_allowed": 1,
    "toggle_off_blocked": 1,
    "restore_after_ui_disconnect": 1,
    "move_site_allowed": 2,
}


@dataclass(frozen=True)
class SiteCase:
    site: str
    kind: str
    key: str

    @property
    def env(self) -> str:
        return self.site.upper().replace("-", "_") + "_CHARGEBEE_API_KEY"

    @property
    def email(self) -> str:
        return f"billing@{self.site}.example"

    @property
    def home(self) -> str:
        return f"{self.site}-a"

    @property
    def other(self) -> str:
        return f"{self.site}-b"


def build_fleet(admin: Any, root: Path, count: int, prefix: str = "chaos") -> list[SiteCase]:
    """Create `count` sites in the emulator (kinds round-robin) and their YAML documents."""
    cases = [
        SiteCase(f"{prefix}{i:05d}", KINDS[i % len(KINDS)], f"test_key_{prefix}_{i:05d}_s3cr3t")
        for i in range(count)
    ]
    admin.bulk(
        [
            {
                "site": c.site,
                "email": c.email,
                "api_key": c.key,
                "account_status": "active",
                "brightback_sites": [c.home, c.other],
                "published": [[c.home, "customer_portal"], [c.other, "customer_portal"]],
            }
            for c in cases
        ]
    )
    for c in cases:
        if c.kind in {"disconnect_allowed", "toggle_off_blocked", "move_site_allowed"}:
            connect_in_ui(admin, c)
        elif c.kind == "restore_after_ui_disconnect":
            connect_in_ui(admin, c)
            admin.ui(c.site, "disconnect", confirm="true")
    root.mkdir(parents=True, exist_ok=True)
    for c in cases:
        (root / f"{c.site}.yaml").write_text(document(c), encoding="utf-8")
    return cases


def connect_in_ui(admin: Any, c: SiteCase) -> None:
    admin.ui(c.site, "connect", brightback_site=c.home, access_level="read_write")
    admin.ui(c.site, "cancellation_settings", reason_codes_enabled="false")
    admin.ui(c.site, "update", integrate_via="customer_portal", cancellation_via_brightback="true")


def document(c: SiteCase) -> str:
    connected = c.kind not in {"disconnect_allowed", "restore_after_ui_disconnect"}
    spec: dict[str, Any] = {
        "site": c.site,
        "credentials": {"apiKeyFromEnv": c.env},
        "connection": {"state": "connected" if connected else "disconnected"},
    }
    if connected:
        spec["connection"]["brightbackSite"] = c.other if c.kind == "move_site_allowed" else c.home
        spec["integrateVia"] = (
            "retention_api" if c.kind == "onboard_api_unpublished" else "customer_portal"
        )
    spec["cancellationViaBrightback"] = connected and c.kind != "toggle_off_blocked"
    spec["fallbackCancelExperience"] = {"portalCancellation": True, "reasonCodes": True}
    spec["policy"] = {"allowDisconnect": c.kind in ALLOWED}
    return yaml.safe_dump(
        {
            "apiVersion": "brightback-gitops/v1alpha1",
            "kind": "BrightbackIntegration",
            "metadata": {"name": c.site, "labels": {"kind": c.kind.replace("_", "-")}},
            "spec": spec,
        },
        sort_keys=False,
    )


def converged(c: SiteCase, state: dict[str, Any]) -> bool:
    """Whether the emulator shows the site where its document wants it (or, for the
    blocked kind, exactly where it started)."""
    conn, toggle = state["connection"], state["cancellation_via_brightback"]
    settings = state["cancellation_settings"]
    if c.kind in {"disconnect_allowed", "restore_after_ui_disconnect"}:
        return bool(
            conn["status"] == "disconnected"
            and settings["portal_cancellation_enabled"]
            and settings["reason_codes_enabled"]
        )
    wanted_site = c.other if c.kind == "move_site_allowed" else c.home
    if c.kind == "onboard_api_unpublished":
        # The toggle waits for the published experience and the site's own cancel
        # experience stays in force meanwhile (docs/rules.md: the cancel-path invariant).
        return bool(
            conn["status"] == "connected"
            and conn["brightback_site"] == wanted_site
            and state["integrate_via"] == "retention_api"
            and not toggle["enabled"]
            and settings["portal_cancellation_enabled"]
        )
    return bool(
        conn["status"] == "connected"
        and conn["brightback_site"] == wanted_site
        and state["integrate_via"] == "customer_portal"
        and toggle["enabled"]
        and toggle["traffic_status"] == "on"
    )


def violations(cases: Sequence[SiteCase], admin: Any, *, end_of_pass: bool) -> list[str]:
    """Invariants over the emulator's state and request log."""
    found: list[str] = []
    by_site = {c.site: c for c in cases}
    disconnects: Counter[str] = Counter()
    for entry in admin.requests():
        case = by_site.get(entry.get("site") or "")
        if case is None or entry["method"] != "POST":
            continue
        path, status = entry["path"], entry["status"]
        if path.endswith("/disconnect") and status == 200 and not entry.get("replayed"):
            disconnects[case.site] += 1
    for site, count in disconnects.items():
        kind = by_site[site].kind
        if kind not in ALLOWED:
            found.append(f"{site}: disconnected by the API without the allowance")
        elif count > 1:
            found.append(f"{site}: disconnected {count} times for one intended disconnect")
    for c in cases:
        state = admin.site_state(c.site)
        if state["api_keys_generated"] > KEYS_EXPECTED[c.kind]:
            found.append(f"{c.site}: {state['api_keys_generated']} API keys generated")
        settings = state["cancellation_settings"]
        if (
            end_of_pass
            and state["connection"]["status"] == "disconnected"
            and not settings["portal_cancellation_enabled"]
        ):
            found.append(f"{c.site}: disconnected with portal cancellation disabled")
    return found


def env_for(cases: Sequence[SiteCase], url_template: str) -> dict[str, str]:
    return {
        **os.environ,
        "NO_COLOR": "1",
        "BRIGHTBACK_API_URL": url_template,
        **{c.env: c.key for c in cases},
    }


def reconcile_once(
    root: Path, state_dir: Path, env: dict[str, str], *, concurrency: int = 16
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            BRIGHTBACK,
            "reconcile",
            str(root),
            "--once",
            "--state-dir",
            str(state_dir),
            "--format",
            "json",
            "--concurrency",
            str(concurrency),
            "--timeout",
            "1",
            "--force",  # the scenario's destructive share is above the default threshold
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )


CHAOS_FAULTS = {
    "error_rate": 0.20,
    "rate_429": 0.10,
    "retry_after_s": 1,
    "timeout_rate": 0.05,
    "timeout_s": 2,
    "lost_response_rate": 0.02,
    "seed": 20261125,
}


def fault_counts(admin: Any, sites: set[str]) -> Counter[str]:
    """Faults injected by kind (the log writes e.g. "latency+error_503"; 5xx kinds merge)."""
    counts: Counter[str] = Counter()
    for entry in admin.requests():
        if entry.get("fault") and entry.get("site") in sites:
            for kind in str(entry["fault"]).split("+"):
                counts["error" if kind.startswith("error_") else kind] += 1
    return counts
