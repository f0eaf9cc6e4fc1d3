"""One set of YAML files for both `pulumi up` and the reconciler.

`integrations_from_yaml` loads the same documents `brightback validate|plan|apply` read,
with the same all-or-nothing checks, and declares one `BrightbackIntegration` per
document, named after `metadata.name`. Resource options come from the document's policy,
so the safety the YAML asks for holds in Pulumi too:
- `policy.allowDisconnect: false` -> `protect=True`: Pulumi refuses to destroy or replace
  the resource (both would disconnect) before the provider is even called;
- `policy.deletionPolicy: orphan` (the default) -> `retain_on_delete=True`: removing the
  document forgets the site and leaves it as it is, as the reconciler does;
  `deletionPolicy: disconnect` lets `pulumi destroy` disconnect and restore the fallback.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import pulumi

from provider.resource import BrightbackIntegration
from reconciler.model import DeletionPolicy, Desired
from reconciler.rules import disconnect_allowed
from reconciler.spec import load


def resource_options_for(desired: Desired) -> pulumi.ResourceOptions:
    """The options the document's policy implies (see the module docstring)."""
    return pulumi.ResourceOptions(
        protect=not disconnect_allowed(desired),
        retain_on_delete=desired.policy.deletion_policy is DeletionPolicy.ORPHAN,
    )


def integrations_from_yaml(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    opts: pulumi.ResourceOptions | None = None,
) -> list[BrightbackIntegration]:
    """Declare one resource per document found under `paths`: one file or directory
    (`"sites/"`, a `Path`), or a list of them. A plain string is one path, never a list
    of one-character paths.

    Raises `reconciler.errors.SpecError` listing every problem in every file, so a broken
    file fails `pulumi preview` with file:line:column instead of declaring half a fleet.
    `opts` (a provider, a parent, aliases) is merged under the policy-derived options.
    """
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    resources = []
    for desired in load([os.fspath(p) for p in paths]):
        derived = resource_options_for(desired)
        merged = pulumi.ResourceOptions.merge(opts, derived) if opts is not None else derived
        resources.append(BrightbackIntegration.from_desired(desired, merged))
    return resources


__all__ = ["integrations_from_yaml", "resource_options_for"]
