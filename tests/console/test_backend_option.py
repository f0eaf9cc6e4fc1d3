"""`spec.backend` and `--backend`: parsed, validated, and each site routed to its kind
(no browser needed: the console side is never started for API-only runs)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from reconciler.backend import BackendKind
from reconciler.cli._backend import Routed, add_backend_arguments
from reconciler.client import Client, ReadOnlyClient
from reconciler.errors import SpecError
from reconciler.spec import load

DOC = """apiVersion: brightback-gitops/v1alpha1
kind: BrightbackIntegration
metadata: {{name: {name}}}
spec:
  site: {name}
  credentials: {{apiKeyFromEnv: K}}
  connection: {{state: disconnected}}
{extra}"""


def _load(tmp_path: Path, extra: str, name: str = "a") -> list[object]:
    path = tmp_path / f"{name}.yaml"
    path.write_text(DOC.format(name=name, extra=extra))
    return list(load([str(path)]))


def test_spec_backend_is_read_per_document(tmp_path: Path) -> None:
    (console,) = _load(tmp_path, "  backend: console\n", "a")
    (default,) = _load(tmp_path, "", "b")
    assert console.backend is BackendKind.CONSOLE  # type: ignore[attr-defined]
    assert default.backend is None  # type: ignore[attr-defined]


def test_unknown_backend_is_a_spec_error_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as raised:
        _load(tmp_path, "  backend: selenium\n")
    text = str(raised.value)
    assert "a.yaml:8" in text and "backend" in text


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--api-url", default="http://127.0.0.1:9/sites/{site}/api/v2")
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    add_backend_arguments(parser)
    return parser.parse_args(list(argv))


def test_api_only_runs_never_start_the_console_and_plan_gets_a_read_only_client(
    tmp_path: Path,
) -> None:
    sites = _load(tmp_path, "", "b")
    routed = Routed(_args(), writes=False)
    routed.prepare(sites)  # type: ignore[arg-type]
    assert set(routed._made) == {BackendKind.API}
    assert type(routed._made[BackendKind.API]) is ReadOnlyClient
    with pytest.raises(TypeError, match="read-only"):
        routed.execute(sites[0], None, expected_version=1, idempotency_key="k")  # type: ignore[arg-type]
    routed.close()
    writer = Routed(_args(), writes=True)
    writer.prepare(sites)  # type: ignore[arg-type]
    assert type(writer._made[BackendKind.API]) is Client
    writer.close()


def test_document_backend_wins_over_the_flag(tmp_path: Path) -> None:
    (console,) = _load(tmp_path, "  backend: console\n", "a")
    (plain,) = _load(tmp_path, "", "b")
    routed = Routed(_args("--backend", "api"), writes=False)
    assert routed.kind_of(console) is BackendKind.CONSOLE  # type: ignore[arg-type]
    assert routed.kind_of(plain) is BackendKind.API  # type: ignore[arg-type]
    flagged = Routed(_args("--backend", "console"), writes=False)
    assert flagged.kind_of(plain) is BackendKind.CONSOLE  # type: ignore[arg-type]
