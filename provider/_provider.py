"""The dynamic `ResourceProvider`: check, diff, create, read, update, delete on the engine.

What a caller (the SDK's dynamic-provider server) may rely on:
- the provider holds no client, lock or secret when pickled (`__getstate__` drops all of
  it), so `__provider` is a ~100-byte reference to this class that never holds a key and
  never changes when code changes;
- configuration (`brightback:apiUrl`, `brightback:apiKeys`) is read once in `configure`
  and never changed afterwards, and every method builds its own httpx client, so the
  server's four worker threads can call any methods at once;
- create/update run the same plan + apply as `brightback apply`, so a resource converges
  exactly like the reconciler would, and an existing matching connection is adopted;
- waiting for an experience publish or an account activation is an output condition,
  never a blocking wait (dynamic providers ignore `custom_timeouts`).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from types import MappingProxyType
from typing import Any

from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    ConfigureRequest,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)

from provider._inputs import (
    INPUT_KEYS,
    check_inputs,
    desired_from_inputs,
    diff_inputs,
)
from reconciler.apply import SiteResult
from reconciler.backend import Backend
from reconciler.backends import open_backend
from reconciler.client import ClientConfig
from reconciler.credentials import ApiKey
from reconciler.engine import Observation, converge, observe
from reconciler.errors import ApiError, CredentialError, IntegrationError
from reconciler.fields import BY_SPEC, compute_drift
from reconciler.live import live_to_api
from reconciler.model import Desired, Live
from reconciler.plan import IN_SYNC, Condition, ConditionType, Drift, Plan
from reconciler.rules import disconnect_allowed, disconnected, hands_off

CONFIG_API_URL = "brightback:apiUrl"
CONFIG_API_KEYS = "brightback:apiKeys"
DECLARED_KEY = "declared"

IMPORT_UNSUPPORTED = (
    "`pulumi import` does not work for dynamic providers (pulumi#16175); declare the "
    "resource instead: create adopts a site whose connection already matches"
)


def _parse_api_keys(raw: Any) -> Mapping[str, ApiKey]:
    """`brightback:apiKeys`: a map of site -> key (an object, or its JSON text)."""
    if raw is None:
        return MappingProxyType({})
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise IntegrationError(
                f"config {CONFIG_API_KEYS} must be a map of site name to API key"
            ) from None
    if not isinstance(raw, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in raw.items()
    ):
        raise IntegrationError(
            f"config {CONFIG_API_KEYS} must be a map of site name to a non-empty API key"
        )
    return MappingProxyType(
        {
            site: ApiKey(v, reference=f"pulumi config {CONFIG_API_KEYS}.{site}")
            for site, v in raw.items()
        }
    )


def _inputs_only(props: Mapping[str, Any]) -> dict[str, Any]:
    return {k: props[k] for k in INPUT_KEYS if k in props}


def _declared(props: Mapping[str, Any]) -> dict[str, Any]:
    """The inputs as the program declared them, from previous outputs.

    After a refresh the input-named outputs hold observed (live) values, which need not
    even form a valid document (disconnected, yet with a mode); `declared` keeps the
    program's own, so read and delete always know what was asked for.
    """
    declared = props.get(DECLARED_KEY)
    return dict(declared) if isinstance(declared, Mapping) else _inputs_only(props)


def _condition(c: Condition) -> dict[str, Any]:
    return {"type": c.type.value, "reason": c.reason, "message": c.message, "unblock": c.unblock}


def _drift(d: Drift) -> dict[str, Any]:
    return {"field": d.field, "desired": d.desired, "live": d.live}


def _observed_inputs(inputs: Mapping[str, Any], drift: tuple[Drift, ...]) -> dict[str, Any]:
    """The inputs with every drifted field set to its live value.

    Refresh stores these, so the next `pulumi up` sees the drift as a diff against the
    program and runs an update that corrects it (an unchanged copy would hide it).
    """
    observed = copy.deepcopy(dict(inputs))
    for entry in drift:
        path = BY_SPEC[entry.field].prop.split(".")
        node: Any = observed
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and path[-1] in node and path[0] in INPUT_KEYS:
            node[path[-1]] = entry.live
    return observed


def _status(site_plan: Plan) -> tuple[Condition, ...]:
    kept = tuple(c for c in site_plan.conditions if c.type is not ConditionType.READY)
    if kept:
        return kept
    if site_plan.steps:
        return (
            Condition(
                ConditionType.DRIFTED,
                "changes_pending",
                f"{len(site_plan.steps)} step(s) would bring the site in line; run `pulumi up`",
            ),
        )
    return (IN_SYNC,)


def outputs(
    inputs: Mapping[str, Any],
    live: Live,
    conditions: tuple[Condition, ...],
    drift: tuple[Drift, ...],
    *,
    observed: bool = False,
) -> dict[str, Any]:
    """Full outputs: the inputs (observed values after a refresh) plus the live state."""
    outs = _observed_inputs(inputs, drift) if observed else dict(inputs)
    outs.update(
        {
            "live": live_to_api(live),
            "conditions": [_condition(c) for c in conditions],
            "drift": [_drift(d) for d in drift],
            "connectedBrightbackSite": live.connection.brightback_site,
            "apiKeyId": live.connection.api_key_id,
            "trafficStatus": live.traffic_status.value,
            "inSync": not drift and all(c.type is ConditionType.READY for c in conditions),
            DECLARED_KEY: copy.deepcopy(dict(inputs)),
        }
    )
    return outs


def _raise_unless_converged(result: SiteResult) -> None:
    for condition in result.conditions:
        if condition.type in (ConditionType.BLOCKED, ConditionType.FAILED):
            hint = f" (to proceed: {condition.unblock})" if condition.unblock else ""
            raise IntegrationError(
                f"{result.desired.site}: {condition.type.value} {condition.reason}: "
                f"{condition.message}{hint}"
            )
    if result.error is not None or result.final_live is None:
        raise IntegrationError(f"{result.desired.site}: {result.error or 'no live state'}")


def _gone(seen: Observation) -> bool:
    """The site no longer exists (404): refresh forgets it, delete has nothing to do."""
    return isinstance(seen.error, ApiError) and seen.error.http_status == 404


def _observed(seen: Observation) -> tuple[Live, Plan]:
    """The observed state and plan, or the error that kept the site from being read."""
    if seen.error is not None:
        raise seen.error
    assert seen.live is not None and seen.plan is not None
    return seen.live, seen.plan


class BrightbackProvider(ResourceProvider):
    """The provider behind `BrightbackIntegration`. Keep it in this installed module: the
    SDK then pickles it by reference, and renaming or moving it breaks existing state."""

    def __init__(self) -> None:
        super().__init__()
        self._url_template: str | None = None
        self._api_keys: Mapping[str, ApiKey] = MappingProxyType({})

    # Pickling: nothing of ours goes into `__provider`; configure fills it in again.
    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: Mapping[str, Any]) -> None:
        self.__init__()  # type: ignore[misc]

    def configure(self, req: ConfigureRequest) -> None:
        """Read `brightback:apiUrl` and the secret `brightback:apiKeys` (fully qualified:
        an unqualified key would get the project's name prefixed by the SDK)."""
        url = req.config.get(CONFIG_API_URL)
        keys = _parse_api_keys(req.config.get(CONFIG_API_KEYS))
        self._url_template = url if isinstance(url, str) and url else None
        self._api_keys = keys

    # ------------------------------------------------------------------ helpers

    @contextmanager
    def _backend(self, desired: Desired) -> Iterator[Backend]:
        """A fresh backend for one call (credentials from Pulumi config win over the spec's
        env/file reference); a key the spec names but the environment lacks becomes a
        message that says where to put it."""
        config = ClientConfig.from_env(self._url_template)
        key = self._api_keys.get(desired.site)
        source = None if key is None else (lambda _desired: key)
        try:
            with closing(open_backend(read_only=False, api=config, key_source=source)) as backend:
                yield backend
        except CredentialError as exc:
            raise IntegrationError(
                f"{desired.site}: {exc}; export it, or keep the key in the stack's config: "
                f"pulumi config set --secret --path '{CONFIG_API_KEYS}.{desired.site}'"
            ) from None

    def _converge(self, inputs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        desired = desired_from_inputs(inputs)
        with self._backend(desired) as backend:
            result = converge(backend, observe(backend, desired))
        _raise_unless_converged(result)
        assert result.final_live is not None
        drift = tuple(compute_drift(desired, result.final_live))
        return desired.site, outputs(inputs, result.final_live, result.conditions, drift)

    # ------------------------------------------------------------------ verbs

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        checked = check_inputs(news)
        return CheckResult(checked.inputs, [CheckFailure(p, r) for p, r in checked.failures])

    def diff(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> DiffResult:
        difference = diff_inputs(_olds, _news)
        return DiffResult(
            changes=bool(difference.changes),
            replaces=list(difference.replaces),
            delete_before_replace=bool(difference.replaces),
        )

    def create(self, props: dict[str, Any]) -> CreateResult:
        site, outs = self._converge(_inputs_only(props))
        return CreateResult(site, outs)

    def update(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> UpdateResult:
        _, outs = self._converge(_inputs_only(_news))
        return UpdateResult(outs)  # full outputs: the SDK's default would wipe them

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        inputs = _declared(props)
        if "site" not in inputs:
            raise IntegrationError(IMPORT_UNSUPPORTED)
        desired = desired_from_inputs(inputs)
        with self._backend(desired) as backend:
            seen = observe(backend, desired, patient=False)
            if _gone(seen):
                return ReadResult(None, {})  # gone; never None outs (crashes the server)
            live, site_plan = _observed(seen)
        return ReadResult(
            id_, outputs(inputs, live, _status(site_plan), site_plan.drift, observed=True)
        )

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        desired = desired_from_inputs(_declared(_props))
        if hands_off(desired):
            return  # observed or suspended sites are never written: deleting just forgets
        if not disconnect_allowed(desired):
            raise IntegrationError(
                f"{desired.site}: refusing to disconnect: deleting this resource disconnects "
                "the site from Brightback, which stops the customer-data sync at once "
                "(rule 10) and spec.policy.allowDisconnect is false. Set "
                "policy.allowDisconnect: true and run `pulumi up` first, or stop managing "
                "the site without touching it: `pulumi state delete <urn>`"
            )
        gone = disconnected(desired)
        with self._backend(gone) as backend:
            seen = observe(backend, gone, allow_disconnect=True, patient=False)
            if _gone(seen):
                return  # the site no longer exists: nothing left to disconnect
            _observed(seen)
            result = converge(backend, seen)
        _raise_unless_converged(result)
