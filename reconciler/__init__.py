"""brightback-gitops engine: load desired state, read live state, plan, apply, report."""

__version__ = "0.1.0"
