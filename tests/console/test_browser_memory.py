"""What the console backend does to keep its memory down must not cost correctness: the
node driver's options reach that driver only, a kept tab is left with its garbage
collected, and two sites' contexts open at once never share a cookie."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from reconciler.console import BrowserPool, ConsoleConfig
from reconciler.console.browser import Tab
from reconciler.console.config import ENABLED_FEATURES
from reconciler.console.driver import DRIVER_NODE_OPTIONS, NODE_OPTIONS

from .conftest import ConsoleWorld, _need_chromium
from .test_console_behaviour import _connected

pytestmark = pytest.mark.browser


def _children(parent: int) -> dict[int, list[bytes]]:
    """The processes whose parent is `parent`: pid -> command-line words."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                    # Chromium rewrites its helpers' titles: arguments joined by spaces
                    cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
                    found[int(entry.name)] = cmdline.split()
            except (OSError, IndexError, ValueError):
                continue
    return found


def _descendants(root: int) -> dict[int, list[bytes]]:
    found: dict[int, list[bytes]] = {}
    todo = [root]
    while todo:
        below = _children(todo.pop())
        found.update(below)
        todo.extend(below)
    return found


def _flag(words: list[bytes], prefix: bytes) -> list[bytes]:
    """The values given to a switch (every time it is given), e.g. [b"renderer"]."""
    return [w[len(prefix) :] for w in words if w.startswith(prefix)]


def _drivers() -> dict[int, dict[str, str]]:
    """This process's Playwright drivers (node ... run-driver): pid -> environment."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) != os.getpid():
                continue
            if b"run-driver" not in (entry / "cmdline").read_bytes():
                continue
            pairs = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        env = dict(p.decode(errors="replace").split("=", 1) for p in pairs if b"=" in p)
        found[int(entry.name)] = env
    return found


def test_the_driver_gets_its_node_options_and_the_process_environment_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(NODE_OPTIONS, "--stack-trace-limit=20")  # the user's own, kept
    before = set(_drivers())
    pool = BrowserPool(ConsoleConfig(state_dir=tmp_path, browser_path=_need_chromium()), list)
    try:
        started = {pid: env for pid, env in _drivers().items() if pid not in before}
        assert len(started) == 1, started.keys()
        (env,) = started.values()
        assert env[NODE_OPTIONS].split() == [*DRIVER_NODE_OPTIONS, "--stack-trace-limit=20"]
        assert os.environ[NODE_OPTIONS] == "--stack-trace-limit=20"
    finally:
        pool.close()


def test_our_enable_features_keeps_playwrights_and_folds_the_network_service(
    tmp_path: Path,
) -> None:
    """Chromium keeps only the last --enable-features: ours must carry Playwright's."""
    before = set(_drivers())
    pool = BrowserPool(ConsoleConfig(state_dir=tmp_path, browser_path=_need_chromium()), list)
    try:

        async def blank(tab: Tab) -> None:  # a page, so the network service is needed
            await tab.page.goto("data:text/html,<p>hello</p>")

        pool.run("blank", "blank", blank, storage_state=None)
        (driver,) = set(_drivers()) - before
        below = _descendants(driver)  # /usr/bin/chromium-headless-shell is a shell script
        browser = next(
            words
            for words in below.values()
            if b"--remote-debugging-pipe" in words and not _flag(words, b"--type=")
        )
        given = [f.decode().split(",") for f in _flag(browser, b"--enable-features=")]
        assert given[-1] == list(ENABLED_FEATURES)
        assert set(given[0]) <= set(given[-1])  # Playwright's, then ours
        # the page's network went through the browser process: no network service
        assert not [w for w in below.values() if _flag(w, b"--utility-sub-type=network.")]
    finally:
        pool.close()


def test_a_kept_tab_is_left_with_its_javascript_garbage_collected(world: ConsoleWorld) -> None:
    desired = _connected(world, "tidy")
    backend = world.backend()
    for _ in range(4):
        backend.read(desired)
    (context, page), *_ = [kept for key, kept in world.pool._idle.items() if key[0] == "tidy"]

    async def heap() -> float:
        session = await context.new_cdp_session(page)
        await session.send("Performance.enable")
        metrics = (await session.send("Performance.getMetrics"))["metrics"]
        await session.detach()
        return float(next(m["value"] for m in metrics if m["name"] == "JSHeapUsedSize")) / 1e6

    # Uncollected, four reads left 23 MB in the page's heap; collected, the
    # console's own scripts hold about 2 MB.
    assert world.pool._call(heap()) < 12


def test_two_sites_open_at_once_never_see_each_others_cookies(world: ConsoleWorld) -> None:
    """The one thing the memory work must never trade away: the browser may fold its
    processes, but each site's context keeps its own cookie jar, even for a cookie set on
    the whole host while the other site's context is open beside it."""
    sessions = {site: _signed_in(world, site) for site in ("jar-a", "jar-b")}
    pool = world.pool

    def visit(site: str, script: str) -> Any:
        async def work(tab: Tab) -> Any:
            await tab.page.goto(world.config().base_url(site))
            value = await tab.page.evaluate(script)
            return value, await tab.context.cookies()

        return pool.run(site, "jar", work, storage_state=sessions[site], config=world.config())

    visit("jar-a", "document.cookie = 'probe=from-a; path=/'")
    seen_by_b, jar_b = visit("jar-b", "document.cookie")
    seen_by_a, jar_a = visit("jar-a", "document.cookie")
    assert "probe=from-a" in seen_by_a  # a's context was open (kept) all along
    assert "probe" not in seen_by_b
    assert not [c for c in jar_b if c["name"] == "probe"]
    a_values = {c["value"] for c in jar_a if c["name"] != "probe"}
    assert a_values
    assert not a_values & {c["value"] for c in jar_b}  # a's session never reaches b


def _signed_in(world: ConsoleWorld, site: str) -> Path:
    world.add_site(site)
    return world.login(site)
