"""Pulumi dynamic provider for the Brightback integration of Chargebee sites.

    from provider import integrations_from_yaml
    integrations_from_yaml(["../sites"])   # one BrightbackIntegration per YAML document

Importing this package has no side effects (pulumi#7453): no client, no config read, no
file touched until a provider method runs.
"""

try:
    import pulumi as _pulumi  # noqa: F401  (only to fail early, with the fix in the message)
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "the Pulumi provider needs the Pulumi SDK, an optional extra of brightback-gitops: "
        "pip install 'brightback-gitops[pulumi]' (the brightback CLI itself does not need it)"
    ) from exc

from provider._inputs import PROVIDER_VERSION
from provider._provider import BrightbackProvider
from provider.program import integrations_from_yaml, resource_options_for
from provider.resource import BrightbackIntegration
from reconciler.errors import IntegrationError

__all__ = [
    "PROVIDER_VERSION",
    "BrightbackIntegration",
    "BrightbackProvider",
    "IntegrationError",
    "integrations_from_yaml",
    "resource_options_for",
]
