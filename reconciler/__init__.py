"""brightback-gitops engine: load desired state, read live state, plan, apply, report.

The public surface for library users (the CLI, the fleet loop and the Pulumi provider use
the same names)::

    from reconciler import load, open_backend, observe, converge

`observe(backend, desired)` reads and plans one site, `converge(backend, observation)` runs
that plan; `open_backend` gives the backend (`api` today) every front end uses.

Names are imported lazily so that `import reconciler` stays cheap and free of side effects
(the Pulumi provider imports it inside a plugin process).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "load": "reconciler.spec",
    "load_text": "reconciler.spec",
    "Desired": "reconciler.model",
    "Live": "reconciler.model",
    "plan": "reconciler.plan",
    "Plan": "reconciler.plan",
    "Step": "reconciler.plan",
    "Action": "reconciler.plan",
    "apply_site": "reconciler.apply",
    "observe": "reconciler.engine",
    "converge": "reconciler.engine",
    "Observation": "reconciler.engine",
    "open_backend": "reconciler.backends",
    "SiteResult": "reconciler.apply",
    "Client": "reconciler.client",
    "ReadOnlyClient": "reconciler.client",
    "ClientConfig": "reconciler.client",
    "BrightbackError": "reconciler.errors",
    "SpecError": "reconciler.errors",
}

__all__ = [
    "Action",
    "BrightbackError",
    "Client",
    "ClientConfig",
    "Desired",
    "Live",
    "Observation",
    "Plan",
    "ReadOnlyClient",
    "SiteResult",
    "SpecError",
    "Step",
    "__version__",
    "apply_site",
    "converge",
    "load",
    "load_text",
    "observe",
    "open_backend",
    "plan",
]

if TYPE_CHECKING:
    from reconciler.apply import SiteResult, apply_site
    from reconciler.backends import open_backend
    from reconciler.client import Client, ClientConfig, ReadOnlyClient
    from reconciler.engine import Observation, converge, observe
    from reconciler.errors import BrightbackError, SpecError
    from reconciler.model import Desired, Live
    from reconciler.plan import Action, Plan, Step, plan
    from reconciler.spec import load, load_text


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'reconciler' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
