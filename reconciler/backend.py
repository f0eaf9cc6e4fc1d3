"""The backend seam: the one small surface through which the engine reaches Chargebee.

The planner, the rules, the reports and every safety guard sit above this line and are the
same whatever reaches the site. Below it there are two ways in:

- ``api``: HTTP over httpx (`reconciler.client.Client`), this project's contract for the
  integration settings plus Chargebee's real public routes (events, pre-cancel page);
- ``console``: a real browser following the help page's click path, for the settings that
  Chargebee offers only in its admin console.

A backend is used by one thread (or greenlet, under the engine's hub) at a time per site;
the engine never shares a site between them. Every method raises only `reconciler.errors`
exceptions (`CredentialError`, `ApiError`, `TransportError`) for site-level trouble, so one
bad site never stops a fleet.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from reconciler.actions import Step
    from reconciler.model import Desired, Live


class BackendKind(StrEnum):
    """How the engine reaches a site (`--backend`, or `spec.backend` per document)."""

    API = "api"
    CONSOLE = "console"


@runtime_checkable
class ReadBackend(Protocol):
    """What `plan`, `export` and drift jobs need: reading, never writing."""

    kind: BackendKind

    def read(self, desired: Desired) -> Live:
        """The site's whole integration state, as the planner's input."""
        ...

    def events(
        self, desired: Desired, *, since: int | None = None, limit: int = 10
    ) -> list[dict[str, Any]]:
        """Recent events about the site, newest first (Chargebee's event shape)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Backend(ReadBackend, Protocol):
    """Adds the writes: run one planned step and return the state it left behind.

    `expected_version` is the live version the step was planned from (a backend that can
    check it refuses a stale write with ApiError(api_error_code="stale_version"));
    `idempotency_key` makes a retried write act once. The returned `Live` is verified by the
    engine against `step.expect`, so a backend never decides for itself that a step worked.
    """

    def execute(
        self, desired: Desired, step: Step, *, expected_version: int, idempotency_key: str
    ) -> Live: ...


@runtime_checkable
class Prober(Protocol):
    """A backend that can run the health probe: ask for the pre-cancel page of a test
    subscription (Retention API, rule 5). The `api` backend can; a backend that cannot
    simply does not have it, and the probe reports so."""

    def pre_cancel_page(self, desired: Desired, subscription_id: str) -> dict[str, Any]: ...


__all__ = ["Backend", "BackendKind", "Prober", "ReadBackend"]
