"""Prometheus metrics for the long-running reconciler (`--metrics-port`).

A private registry, so the process's own default collectors never mix with fleet numbers
and tests can create one per run. Client counters are cumulative in `ClientStats`; each
pass adds only what changed since the last one.
"""

from __future__ import annotations

import os
import re

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from reconciler.client import ClientStats
from reconciler.plan import NO_CANCEL_PATH
from reconciler.report import RunReport, SiteStatus
from reconciler.serving import BackgroundServer
from reconciler.status_page._server import DEFAULT_HOST, HOST_ENV

# The client's own error kinds and Chargebee's documented api_error_code values.
KNOWN_ERROR_KINDS = frozenset(
    {
        "transport", "tls", "dns", "unexpected_response", "invalid_step", "stale_version",
        "api_authentication_failed", "api_authorization_failed", "api_request_limit_exceeded",
        "resource_not_found", "resource_limit_exhausted", "param_wrong_value",
        "duplicate_entry", "invalid_request", "invalid_state_for_request", "operation_failed",
        "internal_error", "internal_temporary_error", "site_not_ready", "site_not_found",
        "request_blocked", "configuration_incompatible", "db_connection_failure",
    }
)  # fmt: skip
# Other codes (the emulator's product rules, codes Chargebee adds) get a label each, up
# to this many; a peer inventing codes cannot grow the series past it.
MAX_ERROR_KINDS = 32
_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")


class FleetMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.passes = Counter("brightback_passes", "Reconcile passes run", ["result"], registry=r)
        self.sites = Gauge(
            "brightback_sites", "Sites by status in the last pass", ["status"], registry=r
        )
        self.conditions = Gauge(
            "brightback_site_conditions",
            "Sites by condition type and reason in the last pass",
            ["type", "reason"],
            registry=r,
        )
        self.no_cancel_path = Gauge(
            "brightback_sites_without_cancel_path",
            "Sites whose customers cannot cancel (condition no_cancel_path) in the last pass; "
            "alert on > 0",
            registry=r,
        )
        self.drift_found = Counter("brightback_drift_found", "Drifted fields found", registry=r)
        self.drift_corrected = Counter(
            "brightback_drift_corrected", "Drifted fields corrected", registry=r
        )
        self.site_failures = Counter(
            "brightback_site_failures", "Sites that failed in a pass", registry=r
        )
        self.api_requests = Counter(
            "brightback_api_requests", "Control-plane requests", ["method"], registry=r
        )
        self.api_errors = Counter(
            "brightback_api_errors", "Control-plane errors by kind", ["kind"], registry=r
        )
        self.api_retries = Counter(
            "brightback_api_retries", "Control-plane retries by reason", ["reason"], registry=r
        )
        self.pass_failures = Counter(
            "brightback_pass_failures",
            "Passes that ended in an error before their report (retried next interval)",
            ["kind"],
            registry=r,
        )
        self.duration = Gauge(
            "brightback_pass_duration_seconds", "Duration of the last pass", registry=r
        )
        self.last_pass = Gauge(
            "brightback_last_pass_timestamp_seconds", "When the last pass ended", registry=r
        )
        self._seen: dict[str, dict[str, int]] = {}
        self._kinds: set[str] = set()  # error kinds outside KNOWN_ERROR_KINDS given a label

    def serve(self, port: int, addr: str | None = None) -> BackgroundServer:
        """Serve /metrics (GET and HEAD) on the same guarded server as the status page
        (reconciler/serving.py: connection cap, timeouts); returns it, running.

        Loopback unless `$BRIGHTBACK_SERVE_HOST` says otherwise (the same switch as the
        status page), so a Kubernetes Service can scrape it while a laptop run stays private.
        """
        host = addr or os.environ.get(HOST_ENV) or DEFAULT_HOST
        return BackgroundServer(self.app(), host, port, name=f"metrics:{port}")

    def app(self) -> Starlette:
        """/metrics in Prometheus' text format (any other path: 404)."""

        def metrics(request: Request) -> Response:
            return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

        return Starlette(routes=[Route("/metrics", metrics, methods=["GET", "HEAD"])])

    def _label(self, group: str, key: str) -> str:
        """A label value from a bounded set. Error kinds come from the peer
        (`api_error_code`): a peer answering random codes made 2,000 series. Chargebee's
        documented codes and the client's own kinds are kept; past MAX_ERROR_KINDS
        distinct others, the rest count as `other`."""
        if group != "errors" or key in KNOWN_ERROR_KINDS or key in self._kinds:
            return key
        if len(self._kinds) < MAX_ERROR_KINDS and _CODE.fullmatch(key):
            self._kinds.add(key)
            return key
        return "other"

    def observe_failure(self, kind: str) -> None:
        """A pass that raised: `kind` is `loop.failure_kind` (errno names, a bounded set)."""
        self.passes.labels(result="failed").inc()
        self.pass_failures.labels(kind=kind).inc()

    def observe_pass(
        self,
        report: RunReport,
        duration_s: float,
        drift_found: int,
        drift_corrected: int,
        stats: ClientStats,
    ) -> None:
        self.passes.labels(result=str(report.exit_code)).inc()
        for status in SiteStatus:
            self.sites.labels(status=status.value).set(report.count(status))
        self.conditions.clear()  # a reason that disappeared must not linger at its old count
        for site in report.sites:
            for condition in site.conditions:
                self.conditions.labels(type=condition.type.value, reason=condition.reason).inc()
        self.no_cancel_path.set(
            sum(1 for s in report.sites if any(c.reason == NO_CANCEL_PATH for c in s.conditions))
        )
        self.site_failures.inc(report.count(SiteStatus.FAILED))
        self.drift_found.inc(drift_found)
        self.drift_corrected.inc(drift_corrected)
        self.duration.set(duration_s)
        self.last_pass.set_to_current_time()
        snapshot = stats.snapshot()
        for group, counter, label in (
            ("requests", self.api_requests, "method"),
            ("errors", self.api_errors, "kind"),
            ("retries", self.api_retries, "reason"),
        ):
            before = self._seen.get(group, {})
            for key, value in snapshot.get(group, {}).items():
                delta = value - before.get(key, 0)
                if delta > 0:
                    counter.labels(**{label: self._label(group, key)}).inc(delta)
            self._seen[group] = dict(snapshot.get(group, {}))


__all__ = [
    "FleetMetrics",
]
