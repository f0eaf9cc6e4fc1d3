"""Which Chromium the console backend drives when nobody names one: Debian's headless
shell for headless runs (no browser UI: faster pages, no second renderer per context),
the full browser for the headed sign-in, which needs a window."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.client import ClientConfigError
from reconciler.console import BrowserPool, ConsoleConfig
from reconciler.console.config import system_browser

from .conftest import _need_chromium

pytestmark = pytest.mark.browser


def _fake_bin(tmp_path: Path, *names: str) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    for name in names:
        made = folder / name
        made.write_text("#!/bin/sh\nexit 0\n")
        made.chmod(0o755)
    return folder


def test_a_headless_run_prefers_the_headless_shell_to_the_full_browser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _fake_bin(tmp_path, "chromium", "chromium-headless-shell")
    monkeypatch.setenv("PATH", str(folder))
    assert system_browser(headless=True) == str(folder / "chromium-headless-shell")


def test_a_headed_run_picks_the_full_browser_even_beside_the_headless_shell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _fake_bin(tmp_path, "chromium", "chromium-headless-shell")
    monkeypatch.setenv("PATH", str(folder))
    assert system_browser(headless=False) == str(folder / "chromium")


def test_without_the_headless_shell_a_headless_run_falls_back_to_chromium(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _fake_bin(tmp_path, "chromium")
    monkeypatch.setenv("PATH", str(folder))
    assert system_browser(headless=True) == str(folder / "chromium")
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    assert system_browser(headless=True) is None


def test_a_headed_sign_in_refuses_the_headless_shell_and_names_a_full_chromium(
    tmp_path: Path,
) -> None:
    with pytest.raises(ClientConfigError, match=r"cannot open the window.*--browser-path"):
        ConsoleConfig(
            state_dir=tmp_path, browser_path="/usr/bin/chromium-headless-shell", headless=False
        )
    ConsoleConfig(state_dir=tmp_path, browser_path="/usr/bin/chromium-headless-shell")


def test_a_pool_given_no_browser_launches_the_systems_headless_shell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = Path(_need_chromium())
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "chromium").symlink_to(real)  # a full browser is there too, and not chosen
    (folder / "chromium-headless-shell").symlink_to(real)
    monkeypatch.setenv("PATH", str(folder))
    # Playwright's own Chromium would win; point Playwright at an empty browser folder.
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "no-playwright-browsers"))
    pool = BrowserPool(ConsoleConfig(state_dir=tmp_path), lambda: [])
    try:
        assert pool.browser_path == str(folder / "chromium-headless-shell")
    finally:
        pool.close()
