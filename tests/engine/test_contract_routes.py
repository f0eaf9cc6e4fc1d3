"""Every route the client calls is in the control-plane contract the emulator serves."""

from __future__ import annotations

from pathlib import Path

import yaml

from reconciler.actions import ROUTES
from reconciler.client import EVENTS_PATH, PRE_CANCEL_PATH

SPEC = Path(__file__).parents[2] / "schemas" / "control-plane.openapi.yaml"
READS = {("get", "/brightback_integration"), ("get", EVENTS_PATH)}
PROBE = ("post", PRE_CANCEL_PATH)


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


METHODS = {"get", "post", "put", "patch", "delete"}
PUBLIC = {("get", "/events"), ("post", "/hosted_pages/pre_cancel")}  # Chargebee API v2


def test_every_route_says_whether_it_is_chargebee_public_api_or_this_projects_contract() -> None:
    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    marks: dict[tuple[str, str], str] = {}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method in METHODS:
                marks[(method, path)] = operation.get("x-chargebee", "(missing)")
    unmarked = {route: mark for route, mark in marks.items() if mark not in ("public", "contract")}
    assert not unmarked, f"routes without x-chargebee public|contract: {unmarked}"
    assert {route for route, mark in marks.items() if mark == "public"} == PUBLIC
    # the client's probe and event reads are exactly the public routes
    assert {PROBE, ("get", EVENTS_PATH)} == PUBLIC
