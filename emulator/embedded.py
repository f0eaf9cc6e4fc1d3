"""Run the emulator embedded: the one public way the demo, the tests and the benchmarks
start it.

`with start_emulator(db_path) as emu:` runs `python -m emulator --port 0`, reads the
bound port from its first line, waits until /_admin/health answers, and yields a
`RunningEmulator` whose `admin` drives the /_admin routes. A separate process keeps the
server honest: real sockets, real restarts on the same database, nothing shared in memory,
and the product never imports the emulator's server code.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from emulator import TOKEN_ENV

LISTENING = re.compile(r"listening on (http://\S+):(\d+)")


class EmulatorError(RuntimeError):
    """The emulator did not start, or an admin call failed."""


class AdminClient:
    """The /_admin routes as methods; every failing call raises with the answer's text."""

    def __init__(self, base_url: str, token: str) -> None:
        self._http = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(30.0, connect=5.0),
            # The emulator (uvicorn) closes a connection idle for 5 s, httpx's own expiry:
            # a call made just as both expire went out on a socket the server was closing
            # ("Server disconnected without sending a response", once in CI). Dropping
            # idle connections well before the server does closes that race.
            limits=httpx.Limits(keepalive_expiry=2.0),
        )

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        response = self._http.request(
            method, path, json=body, params={k: v for k, v in params.items() if v is not None}
        )
        if response.status_code >= 400:
            raise EmulatorError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json()

    def health(self) -> bool:
        try:
            return self._http.get("/_admin/health").status_code == 200
        except httpx.HTTPError:
            return False

    def create_site(
        self,
        site: str,
        email: str,
        api_key: str,
        *,
        plan: str = "live",
        reason_codes_enabled: bool = True,
        portal_cancellation_enabled: bool = True,
    ) -> dict[str, Any]:
        body = {
            "site": site,
            "email": email,
            "api_key": api_key,
            "plan": plan,
            "reason_codes_enabled": reason_codes_enabled,
            "portal_cancellation_enabled": portal_cancellation_enabled,
        }
        return dict(self._call("POST", "/_admin/sites", body))

    def create_account(
        self, email: str, *, status: str = "active", brightback_sites: Sequence[str] = ()
    ) -> None:
        body = {"email": email, "status": status, "brightback_sites": list(brightback_sites)}
        self._call("POST", "/_admin/accounts", body)

    def activate_account(self, email: str) -> None:
        self._call("POST", f"/_admin/accounts/{email}/activate")

    def add_brightback_site(self, email: str, name: str) -> None:
        self._call("POST", f"/_admin/accounts/{email}/brightback_sites", {"name": name})

    def publish(self, brightback_site: str, mode: str) -> None:
        self._call("POST", f"/_admin/brightback_sites/{brightback_site}/experiences/{mode}/publish")

    def unpublish(self, brightback_site: str, mode: str) -> None:
        path = f"/_admin/brightback_sites/{brightback_site}/experiences/{mode}/unpublish"
        self._call("POST", path)

    def ui(self, site: str, action: str, **fields: Any) -> httpx.Response:
        """A person clicking in the admin console; the raw answer (refusals are answers)."""
        return self._http.post(f"/_admin/sites/{site}/ui/{action}", json=fields)

    def expire_console_sessions(self, site: str) -> int:
        """End every sign-in to the site's emulated admin console (session expiry)."""
        return int(self._call("POST", f"/_admin/sites/{site}/console_sessions/expire")["expired"])

    def site_state(self, site: str) -> dict[str, Any]:
        """The brightback_integration resource plus `version` and `api_keys_generated`."""
        state = self._call("GET", f"/_admin/sites/{site}")
        return {
            **state["brightback_integration"],
            "brightback_integration": state["brightback_integration"],
            "version": state["version"],
            "api_keys_generated": state["api_keys_generated"],
            "plan": state["plan"],
        }

    def requests(
        self, site: str | None = None, since_id: int | None = None
    ) -> list[dict[str, Any]]:
        return list(self._call("GET", "/_admin/requests", site=site, since_id=since_id)["requests"])

    def set_faults(
        self,
        global_: Mapping[str, Any] | None = None,
        sites: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if global_ is not None:
            body["global"] = dict(global_)
        if sites is not None:
            body["sites"] = {k: dict(v) for k, v in sites.items()}
        return dict(self._call("POST", "/_admin/faults", body))

    def get_faults(self) -> dict[str, Any]:
        return dict(self._call("GET", "/_admin/faults"))

    def set_settings(self, **settings: Any) -> dict[str, Any]:
        """Idempotency window and per-plan rate limits (emulator/settings.py)."""
        return dict(self._call("POST", "/_admin/settings", settings))

    def reset(self) -> None:
        self._call("POST", "/_admin/reset")

    def bulk(self, sites: list[dict[str, Any]]) -> int:
        return int(self._call("POST", "/_admin/bulk", {"sites": sites})["created"])


@dataclass
class RunningEmulator:
    """A started emulator process; `stop()` ends it (also on leaving the `with`)."""

    process: subprocess.Popen[str]
    port: int
    admin_token: str
    host: str = "127.0.0.1"
    output: list[str] = field(default_factory=list)
    admin: AdminClient = field(init=False)

    def __post_init__(self) -> None:
        self.admin = AdminClient(self.base_url, self.admin_token)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url_template(self) -> str:
        return f"{self.base_url}/sites/{{site}}/api/v2"

    @property
    def console_url_template(self) -> str:
        """Where the emulated admin console of each site is (the console backend's URL)."""
        return f"{self.base_url}/sites/{{site}}/console"

    def stop(self) -> None:
        self.admin.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _drain(stream: IO[str], into: list[str]) -> None:
    for line in stream:
        into.append(line)


@contextmanager
def start_emulator(
    db_path: str | Path,
    seed: str | Path | None = None,
    faults: Mapping[str, Any] | None = None,
    admin_token: str | None = None,
    extra_args: Sequence[str] = (),
) -> Iterator[RunningEmulator]:
    """Run the emulator on a free loopback port until the block ends."""
    token = admin_token or secrets.token_urlsafe(24)
    args = [sys.executable, "-m", "emulator", "--port", "0", "--db", str(db_path)]
    if seed is not None:
        args += ["--seed", str(seed)]
    if faults is not None:
        args += ["--faults", json.dumps(dict(faults))]
    args += list(extra_args)
    env = {**os.environ, TOKEN_ENV: token}  # the token stays out of the process list
    root = Path(__file__).resolve().parent.parent
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    process = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    assert process.stdout is not None
    output: list[str] = []
    port = None
    for line in process.stdout:
        output.append(line)
        match = LISTENING.search(line)
        if match:
            port = int(match.group(2))
            break
    if port is None:
        process.wait(timeout=10)
        raise EmulatorError(f"emulator did not start: {''.join(output)[-2000:]}")
    threading.Thread(target=_drain, args=(process.stdout, output), daemon=True).start()
    emulator = RunningEmulator(process=process, port=port, admin_token=token, output=output)
    try:
        deadline = time.monotonic() + 20
        while not emulator.admin.health():
            if process.poll() is not None or time.monotonic() > deadline:
                raise EmulatorError(f"emulator not ready: {''.join(output)[-2000:]}")
            time.sleep(0.02)
        yield emulator
    finally:
        emulator.stop()


__all__ = ["LISTENING", "AdminClient", "EmulatorError", "RunningEmulator", "start_emulator"]
