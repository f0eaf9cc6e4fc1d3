"""Drift without noise, what happened to it, and who made it.

The planner compares desired and live; this module is the fleet's second filter: values
that differ only in ways the control plane does not care about (the case of an email,
surrounding blanks, the order of a list, an empty value the API fills in as null) are not
drift, so a converged site never shows a diff. It also names each drift's resolution in
this pass, and attributes it to the change event (admin console or API) that caused it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.plan import Drift

# Resolutions of a drifted field in one pass.
CORRECTED = "corrected"  # the pass wrote the desired value and the site shows it
BLOCKED = "blocked"  # the fix needs an allowance (or the fleet threshold refused it)
OBSERVED = "observed"  # observe-only or suspended: reported, never changed
PENDING = "pending"  # planned but not applied (failed, locked, waiting, backing off)

# Fields of the control plane's change events -> the spec field they drift.
EVENT_FIELDS: dict[str, str] = {
    "connection.status": "spec.connection.state",
    "connection.brightback_site": "spec.connection.brightbackSite",
    "connection.account_email": "spec.connection.accountEmail",
    "integrate_via": "spec.integrateVia",
    "cancellation_via_brightback.enabled": "spec.cancellationViaBrightback",
    "cancellation_via_brightback": "spec.cancellationViaBrightback",
    "cancellation_settings.reason_codes_enabled": "spec.fallbackCancelExperience.reasonCodes",
    "cancellation_settings.portal_cancellation_enabled": (
        "spec.fallbackCancelExperience.portalCancellation"
    ),
}


def normalize(value: Any) -> Any:
    """The comparable form of a value: case-folded emails, trimmed text, sorted lists,
    and empty text as null (the API answers null for a value never set)."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        return text.casefold() if "@" in text else text
    if isinstance(value, list | tuple | set | frozenset):
        return sorted((normalize(v) for v in value), key=repr)
    if isinstance(value, Mapping):
        return {k: normalize(v) for k, v in sorted(value.items())}
    return value


def real_drift(drift: Iterable[Drift]) -> list[Drift]:
    """Drop entries whose values are equal once normalised."""
    return [d for d in drift if normalize(d.desired) != normalize(d.live)]


def _matches(spec_field: str, drift_field: str) -> bool:
    return drift_field == spec_field or drift_field.endswith(spec_field.removeprefix("spec"))


@dataclass(frozen=True)
class ChangedBy:
    source: str  # "admin_console" | "api"
    event_type: str
    occurred_at: int
    event_id: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "event_type": self.event_type,
            "occurred_at": self.occurred_at,
            "event_id": self.event_id,
        }


def _event_version(event: Mapping[str, Any]) -> int | None:
    content = event.get("content")
    if not isinstance(content, Mapping):
        return None
    resource = content.get("brightback_integration")
    version = resource.get("version") if isinstance(resource, Mapping) else None
    return version if isinstance(version, int) else None


def attribute(
    drift_field: str, events: Sequence[Mapping[str, Any]], after_version: int | None
) -> ChangedBy | None:
    """The newest event that changed `drift_field` after the version the last pass left.

    Events come newest first (the API's order). Without a known version every event given
    counts (the caller already limited them by time).
    """
    for event in events:
        version = _event_version(event)
        if after_version is not None and version is not None and version <= after_version:
            continue
        content = event.get("content")
        changes = content.get("changes", []) if isinstance(content, Mapping) else []
        for change in changes if isinstance(changes, list) else []:
            api_field = change.get("field") if isinstance(change, Mapping) else None
            spec_field = EVENT_FIELDS.get(str(api_field))
            if spec_field is not None and _matches(spec_field, drift_field):
                return ChangedBy(
                    source=str(event.get("source", "unknown")),
                    event_type=str(event.get("event_type", "")),
                    occurred_at=int(event.get("occurred_at", 0)),
                    event_id=str(event.get("id", "")),
                )
    return None
