"""Helpers for talking to the emulator as Chargebee's clients do: Basic auth with the
site key, form-encoded POSTs, the path-form base URL."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from emulator.embedded import RunningEmulator

KEY = "key-acme-0123456789"
EMAIL = "billing@acme.example"


@dataclass
class Site:
    """One emulated site and an HTTP client holding its key."""

    emulator: RunningEmulator
    name: str
    key: str
    http: httpx.Client

    @property
    def base(self) -> str:
        return self.emulator.url_template.format(site=self.name)

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(self.base + path, params=params)

    def post(
        self, path: str, form: Mapping[str, Any] | None = None, *, key: str | None = None
    ) -> httpx.Response:
        headers = {"chargebee-idempotency-key": key} if key else {}
        data = {
            k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in (form or {}).items()
        }
        return self.http.post(self.base + path, data=data, headers=headers)

    def state(self) -> dict[str, Any]:
        return self.emulator.admin.site_state(self.name)

    def version(self) -> int:
        return int(self.state()["version"])

    def connect(self, brightback_site: str = "acme-bb") -> httpx.Response:
        form = {"brightback_site": brightback_site, "access_level": "read_write"}
        return self.post("/brightback_integration/connect", form)

    def onboard(self, mode: str = "customer_portal") -> dict[str, Any]:
        """Connected, mode set, reason codes off, toggle on: the fully integrated site."""
        assert self.connect().status_code == 200
        form = {"reason_codes_enabled": False}
        assert self.post("/cancellation_settings/update", form).status_code == 200
        form2 = {"integrate_via": mode, "cancellation_via_brightback": True}
        answer = self.post("/brightback_integration/update", form2)
        assert answer.status_code == 200, answer.text
        return dict(answer.json()["brightback_integration"])


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) >= {"message", "type", "api_error_code", "error_code", "http_status_code"}
    assert body["http_status_code"] == response.status_code
    return dict(body)


SiteFactory = Callable[..., Site]


@pytest.fixture
def make_site(emulator: RunningEmulator) -> Iterator[SiteFactory]:
    """Create a site (and, unless account=None, its account owning `<site>-bb`)."""
    clients: list[httpx.Client] = []

    def make(name: str, *, account: str | None = "active", **options: Any) -> Site:
        key, email = f"key-{name}-0123456789", f"billing@{name}.example"
        emulator.admin.create_site(name, email, key, **options)
        if account is not None:
            emulator.admin.create_account(email, status=account, brightback_sites=(f"{name}-bb",))
        http = httpx.Client(auth=(key, ""), timeout=10)
        clients.append(http)
        return Site(emulator, name, key, http)

    yield make
    for http in clients:
        http.close()


@pytest.fixture
def acme(make_site: SiteFactory) -> Site:
    """Site acme with an active account owning Brightback site acme-bb (nothing published)."""
    return make_site("acme")
