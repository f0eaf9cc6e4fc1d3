"""The emulated Chargebee admin console: server-rendered pages over the emulator's state.

Chargebee offers the Brightback integration settings only in its admin console, so the
`console` backend drives a real browser through them. These pages are what it drives in
tests and demos: the help page's click path (Settings > Configure Chargebee > Brightback
Retention / Checkout & Self-Serve Portal), with the same rules, versions and events as the
API routes, because both call `emulator.service`.
"""

from emulator.console.app import Console

__all__ = ["Console"]
