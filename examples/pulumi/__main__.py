"""Declare one BrightbackIntegration per YAML document; export each site's status.

The documents are the reconciler's own (`brightback validate` checks them the same way),
so a site moves between Pulumi and the reconciler without rewriting anything.
"""

from pathlib import Path

import pulumi

from provider import integrations_from_yaml

config = pulumi.Config("brightback")
sites = Path(__file__).resolve().parent / (config.get("sitesPath") or "../sites")

for integration in integrations_from_yaml([sites]):
    pulumi.export(
        integration.pulumi_resource_name,
        {
            "trafficStatus": integration.trafficStatus,
            "connectedBrightbackSite": integration.connectedBrightbackSite,
            "apiKeyId": integration.apiKeyId,
            "conditions": integration.conditions,
            "inSync": integration.inSync,
        },
    )
