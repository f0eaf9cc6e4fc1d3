"""The emulator's ASGI application: Chargebee routes and /_admin routes on one server.

Requests under /_admin go to the Starlette admin app (which also answers ASGI lifespan);
/sites/{site}/console/... is the emulated admin console (emulator/console/); everything
else is a Chargebee route served by `api.Api`, so faults and the request log apply to
exactly the traffic a real Chargebee would see.
"""

from __future__ import annotations

from emulator.admin import build
from emulator.api import Api, Receive, Scope, Send
from emulator.console import Console
from emulator.faults import Faults
from emulator.store import Store


class EmulatorApp:
    """One store, one fault injector, three faces (API, admin console pages, /_admin)."""

    def __init__(self, store: Store, admin_token: str) -> None:
        self.store = store
        self.faults = Faults(store)
        self.api = Api(store, self.faults)
        self.admin = build(store, self.faults, admin_token)
        self.console = Console(store)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and Console.handles(scope["path"]):
            await self.console(scope, receive, send)
        elif scope["type"] == "http" and not scope["path"].startswith("/_admin"):
            await self.api(scope, receive, send)
        else:
            await self.admin(scope, receive, send)


def create_app(store: Store, admin_token: str) -> EmulatorApp:
    return EmulatorApp(store, admin_token)


__all__ = [
    "EmulatorApp",
    "create_app",
]
