"""What the reconciler remembers about one Chargebee site between passes.

Backoff after failures, a short drift history to flag sites that keep drifting back, and
the last spec (as canonical JSON text) so an orphan's `deletionPolicy` can still be
honoured. `reconciler.fleet.state` keeps a fleet of them in the state file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

HISTORY_LIMIT = 20  # drift events kept per site
FLAP_THRESHOLD = 2  # drift found in this many passes of the history: "keeps drifting back"
DEFAULT_MAX_BACKOFF_PASSES = 8


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))  # made once, not per call


def spec_text(spec: Mapping[str, Any]) -> str:
    """A document as canonical compact JSON: what the state keeps in memory and hashes,
    and the form of a state file's site entry (`SiteState.to_text`)."""
    return _CANONICAL.encode(spec)


def spec_hash(spec: Mapping[str, Any] | str) -> str:
    """A stable digest of a document: a changed spec retries a backing-off site at once."""
    text = spec if isinstance(spec, str) else spec_text(spec)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


_SPEC_MARK = "\x00spec\x00"  # stands for the spec in `SiteState.to_text` until replaced
_SPEC_MARK_ENTRY = '"spec":' + json.dumps(_SPEC_MARK)


def backoff_passes(failures: int, cap: int = DEFAULT_MAX_BACKOFF_PASSES) -> int:
    """Passes to skip after `failures` consecutive failures: 0, 1, 3, 7, ... capped.

    The first failure is retried on the very next pass (a transient error heals at once);
    a site that keeps failing is tried less and less often, but never given up on.
    """
    if failures <= 0:
        return 0
    return min(cap, int(2 ** (failures - 1)) - 1)


@dataclass
class SiteState:
    """What the reconciler remembers about one Chargebee site."""

    site: str
    name: str
    # desired_to_document() of the last config, as canonical JSON text: a parsed document
    # costs over twice its text's memory (bench/README.md), and it is only parsed for an
    # orphan.
    spec_json: str | None = None
    spec_hash: str | None = None
    managed: bool = True
    last_pass: int = 0
    last_version: int | None = None  # the live version when this pass left the site
    in_sync: bool = False  # the site matched its spec at last_version (drift after is news)
    last_seen_at: float | None = None
    last_success_at: float | None = None
    failures: int = 0  # consecutive failed passes
    retry_after_pass: int = 0  # skipped until the pass number is greater than this
    last_error: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    # ------------------------------------------------------------------ backoff

    @property
    def in_sync_version(self) -> int | None:
        """The version at which the site was last seen in sync, if it was."""
        return self.last_version if self.in_sync else None

    def eligible(self, pass_no: int, current_spec_hash: str | None = None) -> bool:
        """Whether this pass should try the site (a changed spec is always tried)."""
        if current_spec_hash is not None and current_spec_hash != self.spec_hash:
            return True
        return pass_no > self.retry_after_pass

    def record_failure(self, pass_no: int, error: str, cap: int) -> None:
        self.failures += 1
        self.last_error = error
        self.retry_after_pass = pass_no + backoff_passes(self.failures, cap)

    def record_success(self, now: float) -> None:
        self.failures = 0
        self.retry_after_pass = 0
        self.last_error = None
        self.last_success_at = now

    # ------------------------------------------------------------------ drift history

    def record_drift(self, pass_no: int, at: float, fields: list[str], resolution: str) -> None:
        self.history.append(
            {"pass": pass_no, "at": at, "fields": sorted(fields), "resolution": resolution}
        )
        del self.history[:-HISTORY_LIMIT]

    def note_drift(self, pass_no: int, at: float, resolved: list[tuple[str, str]]) -> None:
        """Record this pass's drift (field, resolution) unless it is the same unresolved
        drift as last pass: drift that stays is one event, drift that comes back is two."""
        if not resolved:
            return
        fields = sorted(f for f, _ in resolved)
        hows = {how for _, how in resolved}
        worst = "corrected" if hows == {"corrected"} else sorted(hows - {"corrected"})[0]
        previous = self.history[-1] if self.history else None
        if (
            previous is not None
            and previous["resolution"] != "corrected"
            and previous["fields"] == fields
        ):
            return
        self.record_drift(pass_no, at, fields, worst)

    def flapping(self) -> dict[str, Any] | None:
        """How often and since when the site drifted, when it keeps drifting back."""
        if len(self.history) < FLAP_THRESHOLD:
            return None
        fields = sorted({f for entry in self.history for f in entry["fields"]})
        return {
            "count": len(self.history),
            "since": self.history[0]["at"],
            "since_pass": self.history[0]["pass"],
            "fields": fields,
        }

    @property
    def spec(self) -> dict[str, Any] | None:
        """The last spec as a document (the state file's format)."""
        if self.spec_json is None:
            return None
        document: dict[str, Any] = json.loads(self.spec_json)
        return document

    def to_dict(self) -> dict[str, Any]:
        return self._entry(self.spec)

    def to_text(self) -> str:
        """The state file's entry as compact JSON with sorted keys (`to_dict`'s), the spec's
        canonical text put in as it is instead of parsed and written again: a no-drift
        pass writes every site's entry."""
        if self.spec_json is None:
            return spec_text(self.to_dict())
        text = spec_text(self._entry(_SPEC_MARK))
        # Only a key is written with bare quotes: the first match is the "spec" key ("history",
        # sorted before it, holds entries of ours without one).
        return text.replace(_SPEC_MARK_ENTRY, '"spec":' + self.spec_json, 1)

    def _entry(self, spec: Any) -> dict[str, Any]:
        return {
            "site": self.site,
            "name": self.name,
            "spec": spec,
            "spec_hash": self.spec_hash,
            "managed": self.managed,
            "last_pass": self.last_pass,
            "last_version": self.last_version,
            "in_sync": self.in_sync,
            "last_seen_at": self.last_seen_at,
            "last_success_at": self.last_success_at,
            "failures": self.failures,
            "retry_after_pass": self.retry_after_pass,
            "last_error": self.last_error,
            "history": list(self.history),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, with_spec: bool = True) -> SiteState:
        """`with_spec=False` leaves `spec_json` unset (its hash is kept): for a caller that
        sets the spec anew, as a pass does for every configured site, which saves writing
        every remembered spec out as canonical JSON only to replace it."""
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        spec = data.get("spec")
        if with_spec and isinstance(spec, Mapping):
            known["spec_json"] = spec_text(spec)
        return cls(**known)


__all__ = [
    "DEFAULT_MAX_BACKOFF_PASSES",
    "FLAP_THRESHOLD",
    "HISTORY_LIMIT",
    "SiteState",
    "backoff_passes",
    "spec_hash",
    "spec_text",
]
