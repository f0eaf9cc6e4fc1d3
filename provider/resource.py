"""`BrightbackIntegration`: the Pulumi resource for one site's Brightback integration.

Property names are the YAML document's own (camelCase, as in `spec`), so a document and a
resource read the same. Outputs are declared on the class so a program can use them:
`integration.conditions.apply(...)`, `pulumi.export("acme", integration.trafficStatus)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi.dynamic

from provider._inputs import INPUT_KEYS, PROVIDER_VERSION, VERSION_KEY, inputs_from_document
from provider._provider import BrightbackProvider
from reconciler.model import Desired
from reconciler.spec import desired_to_document

OUTPUT_KEYS = (
    "live",
    "conditions",
    "drift",
    "connectedBrightbackSite",
    "apiKeyId",
    "trafficStatus",
    "inSync",
    "declared",
)


class BrightbackIntegration(pulumi.dynamic.Resource, module="brightback", name="Integration"):
    """One Chargebee site's Brightback integration, converged by the same engine as
    `brightback apply`. The resource id is the Chargebee site name."""

    # Inputs, echoed as outputs (after `pulumi refresh`: the live values where they drifted).
    name: pulumi.Output[str]
    site: pulumi.Output[str]
    connection: pulumi.Output[dict[str, Any]]
    integrateVia: pulumi.Output[str | None]
    cancellationViaBrightback: pulumi.Output[bool]
    policy: pulumi.Output[dict[str, Any]]
    version: pulumi.Output[str]
    # Computed.
    live: pulumi.Output[dict[str, Any]]
    """The site's `brightback_integration` resource as the API reports it (no secret in it)."""
    conditions: pulumi.Output[list[dict[str, Any]]]
    """Ready / Waiting (e.g. experience_not_published) / Drifted, with reason and message."""
    drift: pulumi.Output[list[dict[str, Any]]]
    """Fields where live differs from the inputs: {field, desired, live}."""
    connectedBrightbackSite: pulumi.Output[str | None]
    apiKeyId: pulumi.Output[str | None]
    """The id of the key Chargebee generated on connect; never a key."""
    trafficStatus: pulumi.Output[str]
    """off / waiting_for_publish / on (rule 8)."""
    inSync: pulumi.Output[bool]
    declared: pulumi.Output[dict[str, Any]]
    """The inputs as declared (normalized); the input-named outputs show live values after
    a refresh, so that the next `pulumi up` sees the drift and corrects it."""

    def __init__(
        self,
        resource_name: str,
        inputs: Mapping[str, Any],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`inputs`: the fields of a document's `spec`, plus `name` (and optionally
        `labels`, `annotations`) from its `metadata`, plus the provider `version`
        (defaults to this package's PROVIDER_VERSION). Never an API key."""
        unexpected = sorted(k for k in inputs if k not in INPUT_KEYS)
        if unexpected:
            raise TypeError(
                f"BrightbackIntegration got unknown inputs {unexpected}; "
                f"expected some of {', '.join(INPUT_KEYS)}"
            )
        props: dict[str, Any] = dict(inputs)
        props.setdefault(VERSION_KEY, PROVIDER_VERSION)
        props.update(dict.fromkeys(OUTPUT_KEYS))
        super().__init__(BrightbackProvider(), resource_name, props, opts)

    @classmethod
    def from_desired(
        cls, desired: Desired, opts: pulumi.ResourceOptions | None = None
    ) -> BrightbackIntegration:
        """The resource for one loaded document, named after `metadata.name`."""
        return cls(desired.name, inputs_from_document(desired_to_document(desired)), opts)


__all__ = [
    "OUTPUT_KEYS",
    "BrightbackIntegration",
]
