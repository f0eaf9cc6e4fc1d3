"""What a pass did about each drifted field, and who made the drift.

What drift is (the field table and the normalized comparison) is decided once, in
`reconciler.fields`; this module names each drift's resolution in this pass and attributes
it to the change that caused it, working only from what Chargebee's events really carry:
`source`, `user` and a snapshot of the resource after each change (no diff, no version).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from reconciler.fields import FIELDS, normalize

OUTSIDE = "outside_this_tool"  # `source` when no event shows the change


class Resolution(StrEnum):
    """What one pass did about a drifted field."""

    CORRECTED = "corrected"  # the pass wrote the desired value and the site shows it
    BLOCKED = "blocked"  # the fix needs an allowance (or the fleet threshold refused it)
    OBSERVED = "observed"  # observe-only or suspended: reported, never changed
    PENDING = "pending"  # planned but not applied (failed, locked, waiting, backing off)


def _snapshot_path(drift_field: str) -> str | None:
    """Where the drifted field sits in the `brightback_integration` snapshot an event
    carries in `content`: the field table's `api` path."""
    for f in FIELDS:
        if drift_field == f.spec or drift_field.endswith(f.spec.removeprefix("spec")):
            return f.api
    return None


_ABSENT = object()


def _snapshot_value(event: Mapping[str, Any], path: str) -> Any:
    """The value at `path` in the event's integration snapshot, or _ABSENT."""
    node: Any = event.get("content")
    node = node.get("brightback_integration") if isinstance(node, Mapping) else None
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _ABSENT
        node = node[part]
    return node


@dataclass(frozen=True)
class ChangedBy:
    """Who changed a drifted field, as far as the site's events tell: Chargebee's
    `source` (admin_console, api, ...) and `user`, or `source` OUTSIDE when no event shows
    the change."""

    source: str
    event_type: str = ""
    occurred_at: int = 0
    event_id: str = ""
    user: str | None = None

    @property
    def outside(self) -> bool:
        return self.source == OUTSIDE

    def describe(self) -> str:
        """`via the admin console by ann@acme.example (cancellation_settings_updated)`."""
        if self.outside:
            return "outside this tool (no event of the site shows the change)"
        by = "the admin console" if self.source == "admin_console" else self.source
        who = f" by {self.user}" if self.user else ""
        return f"via {by}{who} ({self.event_type})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "user": self.user,
            "event_type": self.event_type,
            "occurred_at": self.occurred_at,
            "event_id": self.event_id,
        }


def attribute(
    drift_field: str, events: Sequence[Mapping[str, Any]], last_seen: Any = _ABSENT
) -> ChangedBy:
    """The newest event whose snapshot changed `drift_field`, from what real events carry.

    Events come newest first (the API's order) and hold snapshots of the resource after
    each change, so a change is a snapshot that differs from the one before it (the next
    older event's, or for the oldest one `last_seen`: the value the reconciler last saw,
    when it knows it). Values are compared normalised. When no event shows a change,
    the answer says so (`ChangedBy(OUTSIDE)`) rather than guessing.
    """
    path = _snapshot_path(drift_field)
    if path is None:
        return ChangedBy(OUTSIDE)
    values = [(_snapshot_value(event, path), event) for event in events]
    carried = [(value, event) for value, event in values if value is not _ABSENT]
    for index, (value, event) in enumerate(carried):
        before = carried[index + 1][0] if index + 1 < len(carried) else last_seen
        if before is _ABSENT or normalize(before) == normalize(value):
            continue
        user = event.get("user")
        return ChangedBy(
            source=str(event.get("source") or "none"),
            event_type=str(event.get("event_type") or ""),
            occurred_at=int(event.get("occurred_at") or 0),
            event_id=str(event.get("id") or ""),
            user=str(user) if user else None,
        )
    return ChangedBy(OUTSIDE)


__all__ = [
    "OUTSIDE",
    "ChangedBy",
    "Resolution",
    "attribute",
]
