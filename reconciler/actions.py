"""Every write the engine knows, and the request each one makes.

`Action` names a planned write and `Step` is one in a plan; `ROUTES` maps an action to
this project's control-plane route and builds the form from the step's own `args` (plus
what the action itself means, such as `confirm=true` for a disconnect). Nothing here
reads the spec: a plan carries every value its writes need, so a saved plan, a replay and
a console backend send exactly what was reviewed. Neither the planner nor the transport
owns this table; both import it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from reconciler.fields import (
    BRIGHTBACK_SITE,
    CANCELLATION_VIA_BRIGHTBACK,
    INTEGRATE_VIA,
    PORTAL_CANCELLATION,
    REASON_CODES,
    Scalar,
)


class Action(StrEnum):
    """Every write the engine knows. Each maps to exactly one API route (`ROUTES`)."""

    SIGN_UP = "sign_up"
    CONNECT = "connect"
    SET_INTEGRATION_MODE = "set_integration_mode"
    DISABLE_REASON_CODES = "disable_reason_codes"
    ENABLE_CANCELLATION_VIA_BRIGHTBACK = "enable_cancellation_via_brightback"
    DISCONNECT = "disconnect"
    RESTORE_CANCEL_EXPERIENCE = "restore_cancel_experience"


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


Form = dict[str, Scalar]
FormBuilder = Callable[[Mapping[str, Scalar]], Form]


def _sign_up(args: Mapping[str, Scalar]) -> Form:
    form: Form = {BRIGHTBACK_SITE.form: args.get(BRIGHTBACK_SITE.form)}
    if args.get("email") is not None:
        form["email"] = args["email"]
    return form


def _connect(args: Mapping[str, Scalar]) -> Form:
    return {
        BRIGHTBACK_SITE.form: args.get(BRIGHTBACK_SITE.form),
        "access_level": "read_write",  # rule 4: the only level the integration works with
    }


def _set_mode(args: Mapping[str, Scalar]) -> Form:
    return {INTEGRATE_VIA.form: args.get(INTEGRATE_VIA.form)}


def _disable_reason_codes(_args: Mapping[str, Scalar]) -> Form:
    return {REASON_CODES.form: False}  # rule 6: what the action means


def _enable_toggle(_args: Mapping[str, Scalar]) -> Form:
    return {CANCELLATION_VIA_BRIGHTBACK.form: True}


def _disconnect(_args: Mapping[str, Scalar]) -> Form:
    return {"confirm": True}


def _restore(args: Mapping[str, Scalar]) -> Form:
    return {
        REASON_CODES.form: args.get(REASON_CODES.form),
        PORTAL_CANCELLATION.form: args.get(PORTAL_CANCELLATION.form),
    }


ROUTES: Mapping[Action, tuple[str, FormBuilder]] = {
    Action.SIGN_UP: ("/brightback_integration/sign_up", _sign_up),
    Action.CONNECT: ("/brightback_integration/connect", _connect),
    Action.SET_INTEGRATION_MODE: ("/brightback_integration/update", _set_mode),
    Action.DISABLE_REASON_CODES: ("/cancellation_settings/update", _disable_reason_codes),
    Action.ENABLE_CANCELLATION_VIA_BRIGHTBACK: ("/brightback_integration/update", _enable_toggle),
    Action.DISCONNECT: ("/brightback_integration/disconnect", _disconnect),
    Action.RESTORE_CANCEL_EXPERIENCE: ("/cancellation_settings/update", _restore),
}


def idempotency_key(
    site: str, plan_fingerprint: str, step_index: int, action: str, expected_version: int
) -> str:
    """The same write always gets the same key, and a different write never does.

    The key covers everything the request's body is made of: the step (its action and
    args are in the plan's fingerprint) and the version it names (`expected_version`). So
    a retry, or a re-run after a lost response or a crash, replays the first answer
    instead of acting twice. The version has to be in the key itself, not only in the
    fingerprint (the version the plan started from): a step after the first names the
    version the previous write returned, and a pass that re-ran the same plan after a
    crash (the dead pass's last write landing after the new pass had read the site) sent
    the same key with another version, which Chargebee refuses for the whole idempotency
    window (`idempotency_key_reused`: CI saw it as two sites Failed after a kill -9).
    """
    material = "\x1f".join(
        (site, plan_fingerprint, str(step_index), str(action), str(expected_version))
    )
    return "bbgo-" + hashlib.sha256(material.encode()).hexdigest()[:40]


def request_for(action: Action, args: Mapping[str, Scalar]) -> tuple[str, Form, list[str]]:
    """(route, form, names of form fields the args leave without a value)."""
    path, build = ROUTES[action]
    form = build(args)
    return path, form, [name for name, value in form.items() if value is None]


__all__ = ["ROUTES", "Action", "Form", "FormBuilder", "Step", "idempotency_key", "request_for"]
