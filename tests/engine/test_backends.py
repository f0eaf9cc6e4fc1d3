"""`open_backend`: the one factory the front ends call for a way to reach a site."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.backend import Backend, BackendKind, ReadBackend
from reconciler.backends import open_backend
from reconciler.client import ClientConfig
from reconciler.errors import BrightbackError

CONFIG = ClientConfig(url_template="http://127.0.0.1:9/sites/{site}/api/v2")


def test_a_read_only_api_backend_can_read_but_has_no_write() -> None:
    backend = open_backend(BackendKind.API, read_only=True, api=CONFIG)
    try:
        assert isinstance(backend, ReadBackend)
        assert not isinstance(backend, Backend)
        assert not hasattr(backend, "execute")
        assert backend.kind is BackendKind.API
    finally:
        backend.close()


def test_a_writing_api_backend_satisfies_the_engines_protocol() -> None:
    backend = open_backend("api", read_only=False, api=CONFIG)
    try:
        assert isinstance(backend, Backend)
    finally:
        backend.close()


def test_an_unknown_kind_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="nope"):
        open_backend("nope", read_only=True, api=CONFIG)


def test_the_console_kind_says_which_browser_it_could_not_start(tmp_path: Path) -> None:
    from reconciler.console import ConsoleConfig

    missing = str(tmp_path / "no-such-chromium")
    console = ConsoleConfig(state_dir=tmp_path, browser_path=missing)
    with pytest.raises(BrightbackError, match="cannot start the browser") as raised:
        open_backend(BackendKind.CONSOLE, read_only=True, api=CONFIG, console=console)
    assert missing in str(raised.value)
