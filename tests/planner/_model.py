"""A model of the control plane for planner tests: the emulator's own rule functions.

`emulator.rules` is the emulator's pure rule set (the same code the HTTP server runs), so
applying a plan here checks the planner against the rules it will meet for real, without
sharing any code with the planner. Steps are turned into form fields by the client's own
route table, so the model also sees exactly what the client would send.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from emulator import rules
from emulator.service import integration
from reconciler.actions import ROUTES
from reconciler.live import live_from_api
from reconciler.model import Desired, Live
from reconciler.plan import Step

RULE_FOR_PATH = {
    "/brightback_integration/sign_up": rules.sign_up,
    "/brightback_integration/connect": rules.connect,
    "/brightback_integration/update": rules.update,
    "/brightback_integration/disconnect": rules.disconnect,
    "/cancellation_settings/update": rules.cancellation_settings,
}


@dataclass(frozen=True)
class World:
    """One site and the account of its email, as the emulator stores them."""

    state: rules.SiteState
    account: rules.Account

    def live(self) -> Live:
        """The site as the client reads it: the emulator's own resource for this state."""
        return live_from_api({"brightback_integration": integration(self.state, self.account)})

    def run(self, desired: Desired, step: Step) -> World:
        """Apply one step as the emulator would; raises `rules.RuleViolation` if refused."""
        path, build = ROUTES[step.action]
        form = {
            name: ("true" if value is True else "false" if value is False else str(value))
            for name, value in build(step.args).items()
            if value is not None
        }
        outcome = RULE_FOR_PATH[path](self.state, self.account, form, 0)
        return World(outcome.state, outcome.new_account or self.account)

    def activate(self) -> World:
        return replace(self, account=replace(self.account, status="active"))

    def publish_all(self) -> World:
        published = {
            name: {mode: "published" for mode in experiences}
            for name, experiences in self.account.brightback_sites.items()
        }
        return replace(self, account=replace(self.account, brightback_sites=published))


def forbidden(state: rules.SiteState, account: rules.Account) -> Iterable[str]:
    """States the product must never be in, whatever the plan."""
    if state.toggle and state.reason_codes_enabled:
        yield "toggle on with reason codes enabled (rule 6)"
    if state.toggle and state.integrate_via is None:
        yield "toggle on without an integration mode (rule 5)"
    if state.toggle and not state.connected:
        yield "toggle on while disconnected"
    if state.connected and state.brightback_site not in account.brightback_sites:
        yield "connected to a Brightback site the account does not own (rule 3)"
