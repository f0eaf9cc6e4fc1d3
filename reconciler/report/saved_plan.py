"""`plan --out plan.json` and `apply plan.json`: apply exactly what was reviewed.

The file holds, per site, the desired document (credential references only, never a key),
the plan, its fingerprint (which covers the live version it was made from) and a hash of
the inputs. `apply plan.json` rebuilds the desired state from the file, reads live state
again, re-plans, and refuses, saying what changed, unless every fresh fingerprint equals
the saved one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler import __version__
from reconciler.errors import SavedPlanError
from reconciler.model import Desired, Live
from reconciler.plan import Plan
from reconciler.spec import desired_from_document, desired_to_document

SAVED_PLAN_FORMAT = "brightback-gitops/saved-plan/v1"


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _sha256(value: Any) -> str:
    return hashlib.sha256(_canonical(value)).hexdigest()


@dataclass(frozen=True)
class SavedSite:
    name: str
    site: str
    fingerprint: str
    live_version: int | None
    plan: Mapping[str, Any]
    document: Mapping[str, Any]
    desired_sha256: str

    def desired(self, filename: str) -> Desired:
        return desired_from_document(self.document, filename=f"{filename} ({self.name})")


@dataclass(frozen=True)
class SavedPlan:
    sites: tuple[SavedSite, ...]
    allow_disconnect: bool
    inputs_sha256: str

    def by_name(self) -> dict[str, SavedSite]:
        return {s.name: s for s in self.sites}


def inputs_hash(sites: Sequence[SavedSite]) -> str:
    """One hash over every site's desired document and the live version it was read at."""
    return _sha256(sorted((s.name, s.desired_sha256, s.live_version) for s in sites))


def saved_site(desired: Desired, plan: Plan, live: Live) -> SavedSite:
    document = desired_to_document(desired)
    return SavedSite(
        name=desired.name,
        site=desired.site,
        fingerprint=plan.fingerprint,
        live_version=live.version,
        plan=plan.to_dict(),
        document=document,
        desired_sha256=_sha256(document),
    )


def write_saved_plan(
    path: Path, entries: Sequence[tuple[Desired, Plan, Live]], *, allow_disconnect: bool
) -> SavedPlan:
    sites = tuple(sorted((saved_site(*e) for e in entries), key=lambda s: s.name))
    saved = SavedPlan(sites, allow_disconnect, inputs_hash(sites))
    body = {
        "format": SAVED_PLAN_FORMAT,
        "created_by": f"brightback-gitops {__version__}",
        "allow_disconnect": allow_disconnect,
        "inputs_sha256": saved.inputs_sha256,
        "sites": [
            {
                "name": s.name,
                "site": s.site,
                "fingerprint": s.fingerprint,
                "live_version": s.live_version,
                "desired_sha256": s.desired_sha256,
                "desired": s.document,
                "plan": s.plan,
            }
            for s in sites
        ],
    }
    path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    return saved


def is_saved_plan(path: str) -> bool:
    """Cheap sniff: a .json file whose top-level `format` is ours."""
    candidate = Path(path)
    if candidate.suffix != ".json" or not candidate.is_file():
        return False
    try:
        body = json.loads(candidate.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(body, dict) and body.get("format") == SAVED_PLAN_FORMAT


def read_saved_plan(path: Path) -> SavedPlan:
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SavedPlanError(f"{path}: cannot read saved plan: {exc}") from None
    if not isinstance(body, dict) or body.get("format") != SAVED_PLAN_FORMAT:
        raise SavedPlanError(f"{path}: not a saved plan ({SAVED_PLAN_FORMAT})")
    try:
        sites = tuple(
            SavedSite(
                name=str(s["name"]),
                site=str(s["site"]),
                fingerprint=str(s["fingerprint"]),
                live_version=s["live_version"],
                plan=s["plan"],
                document=s["desired"],
                desired_sha256=str(s["desired_sha256"]),
            )
            for s in body["sites"]
        )
        saved = SavedPlan(sites, bool(body["allow_disconnect"]), str(body["inputs_sha256"]))
    except (KeyError, TypeError) as exc:
        raise SavedPlanError(f"{path}: saved plan is missing {exc}") from None
    for site in sites:
        if _sha256(site.document) != site.desired_sha256:
            raise SavedPlanError(f"{path}: desired document of {site.name} was edited")
    if inputs_hash(sites) != saved.inputs_sha256:
        raise SavedPlanError(f"{path}: inputs hash does not match; the file was edited")
    return saved


def _step_names(plan: Mapping[str, Any]) -> list[str]:
    return [str(step.get("action")) for step in plan.get("steps", [])]


def differences(saved: SavedSite, fresh: Plan) -> list[str]:
    """Why the fresh plan differs from the saved one, in words a reviewer can act on."""
    if fresh.fingerprint == saved.fingerprint:
        return []
    reasons = []
    if fresh.live_version != saved.live_version:
        reasons.append(
            f"live version moved from {saved.live_version} to {fresh.live_version} "
            "(the site was changed since the plan was saved)"
        )
    was, now = _step_names(saved.plan), [s.action.value for s in fresh.steps]
    if was != now:
        reasons.append(f"steps were [{', '.join(was) or 'none'}], now [{', '.join(now) or 'none'}]")
    if not reasons:
        reasons.append("step arguments or order differ")
    return reasons


__all__ = [
    "SAVED_PLAN_FORMAT",
    "SavedPlan",
    "SavedSite",
    "differences",
    "inputs_hash",
    "is_saved_plan",
    "read_saved_plan",
    "saved_site",
    "write_saved_plan",
]
