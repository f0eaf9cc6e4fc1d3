"""What a pass did about each drifted field, and who made the drift.

What drift is (the field table and the normalized comparison) is decided once, in
`reconciler.fields`; this module names each drift's resolution in this pass and attributes
it to the change event (admin console or API) that caused it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from reconciler.fields import BY_EVENT


class Resolution(StrEnum):
    """What one pass did about a drifted field."""

    CORRECTED = "corrected"  # the pass wrote the desired value and the site shows it
    BLOCKED = "blocked"  # the fix needs an allowance (or the fleet threshold refused it)
    OBSERVED = "observed"  # observe-only or suspended: reported, never changed
    PENDING = "pending"  # planned but not applied (failed, locked, waiting, backing off)


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
            changed = BY_EVENT.get(str(api_field))
            if changed is not None and _matches(changed.spec, drift_field):
                return ChangedBy(
                    source=str(event.get("source", "unknown")),
                    event_type=str(event.get("event_type", "")),
                    occurred_at=int(event.get("occurred_at", 0)),
                    event_id=str(event.get("id", "")),
                )
    return None
