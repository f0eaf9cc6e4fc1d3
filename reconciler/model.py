"""Typed, immutable values shared by every part of the engine.

`Desired` is what a YAML document asks for; `Live` is what the control plane says now.
Both are frozen so the planner can be a pure function of the two, and so a value handed
to a worker thread can never change under it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from reconciler.backend import BackendKind


class IntegrationMode(StrEnum):
    """How cancellations reach Brightback ("Integrate Brightback via", rule 5)."""

    CUSTOMER_PORTAL = "customer_portal"
    RETENTION_API = "retention_api"


class ConnectionState(StrEnum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


class Management(StrEnum):
    FULL = "full"  # plan and apply
    OBSERVE = "observe"  # report drift, change nothing


class DeletionPolicy(StrEnum):
    """What happens when a site that was managed disappears from the config."""

    ORPHAN = "orphan"  # leave it as it is, report it as unmanaged
    DISCONNECT = "disconnect"  # disconnect and restore the fallback (needs allowDisconnect)


class AccountStatus(StrEnum):
    NOT_FOUND = "not_found"
    PENDING_ACTIVATION = "pending_activation"  # signed up, activation email not clicked
    ACTIVE = "active"


class TrafficStatus(StrEnum):
    """The toggle's derived status (rule 8)."""

    OFF = "off"  # toggle not enabled
    WAITING_FOR_PUBLISH = "waiting_for_publish"  # enabled, experience for the mode unpublished
    ON = "on"  # enabled and receiving traffic


def _frozen_map(values: Mapping[str, str] | None = None) -> Mapping[str, str]:
    return MappingProxyType(dict(values or {}))


# --------------------------------------------------------------------------- desired


@dataclass(frozen=True, slots=True)
class SourceRef:
    """Where a document (or a value) came from, for error messages and reports."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Credentials:
    """A reference to a site's API key. Never the key itself.

    Exactly one of the two is set. `api_key_file` is already resolved against the
    directory of the YAML file that declared it.
    """

    api_key_env: str | None = None
    api_key_file: str | None = None

    def describe(self) -> str:
        """A printable name for the reference: safe for logs, never the value."""
        if self.api_key_env is not None:
            return f"env {self.api_key_env}"
        return f"file {self.api_key_file}"


@dataclass(frozen=True, slots=True)
class DesiredConnection:
    state: ConnectionState
    brightback_site: str | None = None  # required when connected
    account_email: str | None = None  # optional assertion; the site's email is used when unset
    sign_up_if_missing: bool = False


@dataclass(frozen=True, slots=True)
class FallbackCancelExperience:
    """The site's own cancel experience, in force whenever Brightback is not handling
    cancellations (disconnected, or connected with the toggle off). Rule 9: after a
    disconnect this is restored, so customers always have a way to cancel."""

    portal_cancellation: bool = True
    reason_codes: bool = True


@dataclass(frozen=True, slots=True)
class Policy:
    management: Management = Management.FULL
    allow_disconnect: bool = False
    suspended: bool = False
    deletion_policy: DeletionPolicy = DeletionPolicy.ORPHAN
    # Opt-in for sites with no customers yet: switch Cancellation via Brightback on (and
    # change the mode of a toggled site) before the experience is published, the order the
    # help page describes. Off by default because until the publish nobody can cancel
    # (rule 7 hides portal cancellation, rule 8 gives Brightback no traffic).
    toggle_before_publish: bool = False


@dataclass(frozen=True, slots=True)
class Probe:
    """A test subscription used to health-check a retention_api integration."""

    subscription_id: str


@dataclass(frozen=True, slots=True)
class Desired:
    """One site's desired Brightback integration, built from one validated YAML document."""

    name: str
    site: str
    credentials: Credentials
    connection: DesiredConnection
    integrate_via: IntegrationMode | None = None
    cancellation_via_brightback: bool = False
    fallback: FallbackCancelExperience = field(default_factory=FallbackCancelExperience)
    policy: Policy = field(default_factory=Policy)
    labels: Mapping[str, str] = field(default_factory=_frozen_map)
    probe: Probe | None = None
    source: SourceRef | None = None
    backend: BackendKind | None = None  # None: the run's --backend decides

    @property
    def wants_connected(self) -> bool:
        return self.connection.state is ConnectionState.CONNECTED


# --------------------------------------------------------------------------- live


@dataclass(frozen=True, slots=True)
class LiveBrightbackSite:
    """A Brightback site owned by the account, with which experiences are published."""

    name: str
    published: frozenset[IntegrationMode] = frozenset()


@dataclass(frozen=True, slots=True)
class LiveAccount:
    email: str
    status: AccountStatus
    brightback_sites: tuple[LiveBrightbackSite, ...] = ()

    def brightback_site(self, name: str) -> LiveBrightbackSite | None:
        for candidate in self.brightback_sites:
            if candidate.name == name:
                return candidate
        return None


@dataclass(frozen=True, slots=True)
class LiveConnection:
    state: ConnectionState
    brightback_site: str | None = None
    account_email: str | None = None
    api_key_id: str | None = None  # the id of the generated key, never a secret
    data_sync: bool = False


@dataclass(frozen=True, slots=True)
class Live:
    """What the control plane reports for one site, read in a single request.

    `version` increases with every change to the site; writes send the version they
    planned from, and the server refuses a stale one (optimistic concurrency).
    """

    site: str
    site_email: str
    version: int
    account: LiveAccount
    connection: LiveConnection
    integrate_via: IntegrationMode | None
    cancellation_via_brightback: bool
    traffic_status: TrafficStatus
    reason_codes_enabled: bool
    portal_cancellation_enabled: bool

    @property
    def connected(self) -> bool:
        return self.connection.state is ConnectionState.CONNECTED


__all__ = [
    "AccountStatus",
    "ConnectionState",
    "Credentials",
    "DeletionPolicy",
    "Desired",
    "DesiredConnection",
    "FallbackCancelExperience",
    "IntegrationMode",
    "Live",
    "LiveAccount",
    "LiveBrightbackSite",
    "LiveConnection",
    "Management",
    "Policy",
    "Probe",
    "SourceRef",
    "TrafficStatus",
]
