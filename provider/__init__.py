"""Pulumi dynamic provider for the Brightback integration of Chargebee sites."""
