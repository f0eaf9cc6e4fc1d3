"""The plan: an ordered, explained list of steps from live state to desired state.

This module holds the plan's value types. `plan()` itself is pure: no I/O, no clock,
no randomness; the same (desired, live) always gives an equal Plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

Scalar = str | bool | int | None


class Action(StrEnum):
    """Every write the engine knows. Each maps to exactly one API route (client.py)."""

    SIGN_UP = "sign_up"
    CONNECT = "connect"
    SET_INTEGRATION_MODE = "set_integration_mode"
    DISABLE_REASON_CODES = "disable_reason_codes"
    ENABLE_CANCELLATION_VIA_BRIGHTBACK = "enable_cancellation_via_brightback"
    DISCONNECT = "disconnect"
    RESTORE_CANCEL_EXPERIENCE = "restore_cancel_experience"


class ConditionType(StrEnum):
    """Kubernetes-style condition kinds for one site."""

    READY = "Ready"  # live matches desired
    WAITING = "Waiting"  # nothing to do but wait for an outside event (publish, activation)
    BLOCKED = "Blocked"  # a step needs an allowance or a human action first
    FAILED = "Failed"  # the apply or the read failed
    DRIFTED = "Drifted"  # observe-only or suspended: drift reported, nothing planned


@dataclass(frozen=True)
class Condition:
    type: ConditionType
    reason: str  # stable machine code, e.g. experience_not_published
    message: str  # a sentence a person can act on
    unblock: str | None = None  # the exact allowance or action that would clear it


@dataclass(frozen=True)
class Drift:
    """One field where live differs from desired, named by its spec path."""

    field: str  # e.g. spec.cancellationViaBrightback
    desired: Scalar
    live: Scalar


@dataclass(frozen=True)
class Step:
    action: Action
    args: Mapping[str, Scalar] = field(default_factory=lambda: MappingProxyType({}))
    rule: str = ""  # the product rule that requires it ("rule 6: ...")
    reason: str = ""  # why this step is in this plan (the drift it closes)
    destructive: bool = False
    depends_on: tuple[int, ...] = ()  # indices of earlier steps in the same plan
    expect: Mapping[str, Scalar] = field(default_factory=lambda: MappingProxyType({}))
    # `expect` maps dotted paths of live_to_api() output to the value the step promises,
    # e.g. {"connection.status": "connected"}; apply verifies them after the write.


@dataclass(frozen=True)
class Plan:
    name: str
    site: str
    live_version: int | None
    steps: tuple[Step, ...] = ()
    drift: tuple[Drift, ...] = ()
    conditions: tuple[Condition, ...] = ()

    @property
    def in_sync(self) -> bool:
        return not self.steps and not self.drift

    @property
    def blocked(self) -> tuple[Condition, ...]:
        return tuple(c for c in self.conditions if c.type is ConditionType.BLOCKED)

    @property
    def has_destructive(self) -> bool:
        return any(s.destructive for s in self.steps)
