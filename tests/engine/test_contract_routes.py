"""Every route the client calls is in the control-plane contract the emulator serves."""

from __future__ import annotations

from pathlib import Path

import yaml

from reconciler.actions import ROUTES

SPEC = Path(__file__).parents[2] / "schemas" / "control-plane.openapi.yaml"
READS = {("get", "/brightback_integration"), ("get", "/events")}
PROBE = ("post", "/brightback_integration/pre_cancel_sessions")


def contract_routes() -> set[tuple[str, str]]:
    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    routes = set()
    for path, operations in spec["paths"].items():
        # The contract may spell the per-site prefix out; the client's routes are relative.
        relative = path.split("/api/v2", 1)[-1] if "/api/v2" in path else path
        for method in operations:
            if method in {"get", "post", "put", "patch", "delete"}:
                routes.add((method, relative))
    return routes


def test_every_client_route_is_in_the_openapi_contract() -> None:
    used = {("post", path) for path, _ in ROUTES.values()} | READS | {PROBE}
    missing = used - contract_routes()
    assert not missing, f"client routes missing from {SPEC.name}: {sorted(missing)}"
