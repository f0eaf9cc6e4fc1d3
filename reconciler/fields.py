"""The field table, and the one definition of drift over it.

Each integration setting has four names: its path in the YAML document
(`spec.integrateVia`), its value in `Live`, its path in the control plane's
`brightback_integration` resource (`integrate_via`, what a step's `expect` names) with the
form field a write sends, and the field a change event reports. They are written here
once; drift, `expect`, event attribution, the YAML <-> `Desired` conversion and the Pulumi
provider's inputs all iterate `FIELDS` instead of spelling the names again.

Drift is defined here and nowhere else: a field drifts when it is compared for this spec
(`Field.compared`) and the wanted and live values differ once normalized (`normalize`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.model import Desired, Live

Scalar = str | bool | int | None


@dataclass(frozen=True)
class Drift:
    """One field where live differs from desired, named by its spec path."""

    field: str  # e.g. spec.cancellationViaBrightback
    desired: Scalar
    live: Scalar


def _always(_desired: Desired, _live: Live) -> bool:
    return True


@dataclass(frozen=True)
class Field:
    """One integration setting under all its names.

    `api` is the dotted path in `live_to_api()` output (and in a step's `expect`); `form`
    is the form field a write sends (empty when no write names it); `events` are the field
    names a change event may use for it.
    """

    spec: str
    api: str
    form: str
    live: Callable[[Live], Scalar]
    wanted: Callable[[Desired, Live], Scalar]
    compared: Callable[[Desired, Live], bool] = _always
    events: tuple[str, ...] = ()

    @property
    def prop(self) -> str:
        """The path below `spec` (the Pulumi input property): `connection.state`."""
        return self.spec.removeprefix("spec.")

    @property
    def key(self) -> str:
        """The last part of the spec path, the YAML key itself: `integrateVia`."""
        return self.spec.rsplit(".", 1)[-1]


def _value(mode: Any) -> Scalar:
    return mode.value if mode is not None else None


def _fallback_in_force(desired: Desired, _live: Live) -> bool:
    """The site's own cancel options count only where they are the customer's experience:
    while the toggle is on they are hidden (rule 7) and not compared."""
    return not (desired.wants_connected and desired.cancellation_via_brightback)


CONNECTION_STATE = Field(
    spec="spec.connection.state",
    api="connection.status",
    form="",
    live=lambda live: live.connection.state.value,
    wanted=lambda desired, _live: desired.connection.state.value,
    events=("connection.status",),
)
BRIGHTBACK_SITE = Field(
    spec="spec.connection.brightbackSite",
    api="connection.brightback_site",
    form="brightback_site",
    live=lambda live: live.connection.brightback_site,
    wanted=lambda desired, _live: desired.connection.brightback_site,
    compared=lambda desired, _live: desired.wants_connected,
    events=("connection.brightback_site",),
)
ACCOUNT_EMAIL = Field(
    spec="spec.connection.accountEmail",
    api="connection.account_email",
    form="",
    live=lambda live: live.connection.account_email,
    # rule 1: the account is the one of the site's email unless the spec asserts one
    wanted=lambda desired, live: desired.connection.account_email or live.site_email,
    compared=lambda desired, live: desired.wants_connected and live.connected,
    events=("connection.account_email",),
)
INTEGRATE_VIA = Field(
    spec="spec.integrateVia",
    api="integrate_via",
    form="integrate_via",
    live=lambda live: _value(live.integrate_via),
    wanted=lambda desired, _live: _value(desired.integrate_via),
    # a spec that leaves the mode open does not compare it
    compared=lambda desired, _live: desired.wants_connected and desired.integrate_via is not None,
    events=("integrate_via",),
)
CANCELLATION_VIA_BRIGHTBACK = Field(
    spec="spec.cancellationViaBrightback",
    api="cancellation_via_brightback.enabled",
    form="cancellation_via_brightback",
    live=lambda live: live.cancellation_via_brightback,
    wanted=lambda desired, _live: desired.cancellation_via_brightback,
    events=("cancellation_via_brightback.enabled", "cancellation_via_brightback"),
)
PORTAL_CANCELLATION = Field(
    spec="spec.fallbackCancelExperience.portalCancellation",
    api="cancellation_settings.portal_cancellation_enabled",
    form="portal_cancellation_enabled",
    live=lambda live: live.portal_cancellation_enabled,
    wanted=lambda desired, _live: desired.fallback.portal_cancellation,
    compared=_fallback_in_force,
    events=("cancellation_settings.portal_cancellation_enabled",),
)
REASON_CODES = Field(
    spec="spec.fallbackCancelExperience.reasonCodes",
    api="cancellation_settings.reason_codes_enabled",
    form="reason_codes_enabled",
    live=lambda live: live.reason_codes_enabled,
    wanted=lambda desired, _live: desired.fallback.reason_codes,
    compared=_fallback_in_force,
    events=("cancellation_settings.reason_codes_enabled",),
)

FIELDS: tuple[Field, ...] = (
    CONNECTION_STATE,
    BRIGHTBACK_SITE,
    ACCOUNT_EMAIL,
    INTEGRATE_VIA,
    CANCELLATION_VIA_BRIGHTBACK,
    PORTAL_CANCELLATION,
    REASON_CODES,
)
BY_SPEC: Mapping[str, Field] = {f.spec: f for f in FIELDS}
BY_EVENT: Mapping[str, Field] = {name: f for f in FIELDS for name in f.events}


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


def differs(wanted: Any, have: Any) -> bool:
    """Whether two values of a field differ in a way the control plane cares about."""
    return bool(normalize(wanted) != normalize(have))


def compute_drift(desired: Desired, live: Live, fields: Iterable[Field] = FIELDS) -> list[Drift]:
    """Every spec field whose live value differs from the wanted one: the site's drift."""
    found: list[Drift] = []
    for f in fields:
        if not f.compared(desired, live):
            continue
        wanted, have = f.wanted(desired, live), f.live(live)
        if differs(wanted, have):
            found.append(Drift(f.spec, wanted, have))
    return found


def show(value: object) -> str:
    """A value as every report prints it: true/false, null, else its text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def printable(text: str) -> str:
    """`text` with every C0/C1 control character (ESC, BEL, CR, LF, tab, DEL...) shown as an
    escape (`\\x1b`, `\\n`, `\\t`), for every human-facing writer.

    File names and YAML values are the user's (or an attacker's) bytes: printed raw, an
    `ESC]8;;` or `ESC[31m` rewrites the terminal, and a newline forges a line of a report
    or a Markdown comment. Ordinary spaces and all other text are kept; JSON output does
    not need this (json escapes control characters itself) and stays exact.
    """
    return _CONTROL.sub(lambda m: _NAMED.get(m[0]) or f"\\x{ord(m[0]):02x}", text)


__all__ = [
    "ACCOUNT_EMAIL",
    "BRIGHTBACK_SITE",
    "BY_EVENT",
    "BY_SPEC",
    "CANCELLATION_VIA_BRIGHTBACK",
    "CONNECTION_STATE",
    "FIELDS",
    "INTEGRATE_VIA",
    "PORTAL_CANCELLATION",
    "REASON_CODES",
    "Drift",
    "Field",
    "Scalar",
    "compute_drift",
    "differs",
    "normalize",
    "printable",
    "show",
]
