"""The example project under the real CLI: preview, up, refresh, up, destroy, local backend.

Needs the `pulumi` binary, which cannot be installed on the machines this project is
built on; there the SDK-server tests (test_sdk_server.py) drive the same verbs through
the same provider process the CLI would start.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.provider._builders import add_site, integration, key_for, secret_forms

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pulumi"

pytestmark = [
    pytest.mark.pulumi_cli,
    pytest.mark.skipif(
        shutil.which("pulumi") is None,
        reason="the pulumi CLI is not on PATH; test_sdk_server.py drives the same verbs "
        "through the SDK's own provider server instead",
    ),
]

SITE_DOC = """\
apiVersion: brightback-gitops/v1alpha1
kind: BrightbackIntegration
metadata:
  name: acme-live
spec:
  site: acme
  credentials:
    apiKeyFromEnv: ACME_CHARGEBEE_API_KEY_UNUSED  # the stack config holds the key
  connection:
    state: connected
    brightbackSite: acme-retention
  integrateVia: customer_portal
  cancellationViaBrightback: true
  policy:
    allowDisconnect: true
    deletionPolicy: disconnect
"""


def test_preview_up_refresh_destroy_with_a_local_backend(emulator: Any, tmp_path: Path) -> None:
    key = add_site(emulator, "acme")
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(EXAMPLE / "__main__.py", project / "__main__.py")
    (project / "Pulumi.yaml").write_text(
        "name: brightback-sites\n"
        "runtime:\n  name: python\n  options:\n"
        f"    toolchain: pip\n    virtualenv: {sys.prefix}\n",
        encoding="utf-8",
    )
    sites = tmp_path / "sites"
    sites.mkdir()
    (sites / "acme.yaml").write_text(SITE_DOC, encoding="utf-8")
    state = tmp_path / "state"
    state.mkdir()
    env = {
        **os.environ,
        "PULUMI_BACKEND_URL": f"file://{state}",
        "PULUMI_CONFIG_PASSPHRASE": "not-a-real-passphrase",
        "PULUMI_SKIP_UPDATE_CHECK": "1",
        "PULUMI_HOME": str(tmp_path / "pulumi-home"),
    }
    printed: list[str] = []

    def pulumi(*args: str) -> str:
        result = subprocess.run(
            ["pulumi", *args, "--non-interactive"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        printed.append(result.stdout + result.stderr)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    pulumi("stack", "init", "dev")
    pulumi("config", "set", "brightback:apiUrl", emulator.url_template)
    pulumi("config", "set", "brightback:sitesPath", str(sites))
    pulumi("config", "set", "--secret", "--path", "brightback:apiKeys.acme", key)

    pulumi("preview")
    assert integration(emulator, "acme")["connection"]["status"] == "disconnected"

    pulumi("up", "--yes", "--skip-preview")
    assert integration(emulator, "acme")["cancellation_via_brightback"]["traffic_status"] == "on"

    emulator.admin.ui("acme", "disconnect", confirm=True)
    drift = pulumi("refresh", "--preview-only")
    assert "acme-live" in drift
    pulumi("refresh", "--yes", "--skip-preview")
    pulumi("up", "--yes", "--skip-preview")
    assert integration(emulator, "acme")["connection"]["status"] == "connected"

    pulumi("destroy", "--yes", "--skip-preview")
    live = integration(emulator, "acme")
    assert live["connection"]["status"] == "disconnected"
    assert live["cancellation_settings"]["portal_cancellation_enabled"] is True

    everything = "\n".join(printed)
    assert not [form for form in secret_forms(key_for("acme")) if form in everything]
