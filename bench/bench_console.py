"""Onboarding through the console backend: seconds per site and peak memory.

N sites (default 20) start disconnected with reason codes on and their Brightback
experience published, so each needs the four clicks of the help page (connect, integration
mode, reason codes off, toggle on) after one read, plus the fresh read after each step.
Each run onboards its own fresh sites through `apply_site` with a `ConsoleBackend` (one
headless Chromium, a pool of `concurrency` contexts) driven by the engine's worker pool at
the same concurrency. Sign-ins (what `brightback login` saves) are made before the clock.

Reported per concurrency: wall seconds, seconds per site (wall / sites) and per-site
latency (median), and peak memory of the tool and the browser together: this process's
RSS plus every process below it except the emulator (Chromium's processes and
Playwright's driver), sampled every 100 ms from /proc.

    .venv/bin/python bench/bench_console.py [--sites 20] [--concurrency 1 4]
        [--browser /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from emulator.embedded import RunningEmulator, start_emulator  # noqa: E402
from reconciler.apply import apply_site  # noqa: E402
from reconciler.console import BrowserPool, ConsoleBackend, ConsoleConfig  # noqa: E402
from reconciler.console.browser import Tab  # noqa: E402
from reconciler.console.session import save_session, sign_in  # noqa: E402
from reconciler.engine import for_each_site  # noqa: E402
from reconciler.model import (  # noqa: E402
    ConnectionState,
    Credentials,
    Desired,
    DesiredConnection,
    IntegrationMode,
)

PASSWORD_ENV = "BRIGHTBACK_ACCOUNT_PASSWORD"


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children() -> dict[int, int]:
    """pid -> parent pid for every process."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return parents


class PeakMemory:
    """Peak of (this process + its descendants except `exclude`) RSS, sampled."""

    def __init__(self, exclude: int) -> None:
        self.exclude = exclude
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _total(self) -> int:
        parents = _children()
        mine = {os.getpid()}
        changed = True
        while changed:
            changed = False
            for pid, parent in parents.items():
                if parent in mine and pid not in mine and pid != self.exclude:
                    mine.add(pid)
                    changed = True
        return sum(_rss_kb(pid) for pid in mine)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, self._total())
            self._stop.wait(0.1)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_kb = max(self.peak_kb, self._total())


def make_sites(emulator: RunningEmulator, prefix: str, count: int) -> list[tuple[str, str, str]]:
    entries = []
    made = []
    for index in range(count):
        site = f"{prefix}-{index:03d}"
        key = f"bench-key-{site}-0000"
        email = f"billing@{site}.example"
        entries.append(
            {
                "site": site,
                "email": email,
                "api_key": key,
                "brightback_sites": [f"{site}-bb"],
                "published": [[f"{site}-bb", "customer_portal"]],
            }
        )
        made.append((site, email, key))
    emulator.admin.bulk(entries)
    return made


def desired(site: str) -> Desired:
    return Desired(
        name=site,
        site=site,
        credentials=Credentials(api_key_env="UNUSED_BY_THE_CONSOLE"),
        connection=DesiredConnection(ConnectionState.CONNECTED, brightback_site=f"{site}-bb"),
        integrate_via=IntegrationMode.CUSTOMER_PORTAL,
        cancellation_via_brightback=True,
    )


def run(emulator: RunningEmulator, browser: str, sites: int, concurrency: int) -> dict[str, Any]:
    state_dir = Path(tempfile.mkdtemp(prefix="bench-console-"))
    config = ConsoleConfig(
        url_template=emulator.console_url_template,
        state_dir=state_dir,
        browser_path=browser,
        concurrency=concurrency,
        site_timeout=300.0,
        action_timeout=60.0,
    )
    made = make_sites(emulator, f"c{concurrency}", sites)
    with PeakMemory(exclude=emulator.pid) as memory:
        backend = ConsoleBackend(config)
        pool: BrowserPool = backend._pool  # the bench signs in through the same browser
        for site, email, key in made:

            async def work(tab: Tab, site: str = site, email: str = email, key: str = key) -> Any:
                return await sign_in(
                    tab, config.base_url(site), wait_s=60, email=email, password=key
                )

            save_session(
                config.session_file(site), pool.run(site, "login", work, storage_state=None)
            )
        latencies: list[float] = []

        def onboard(item: Desired) -> bool:
            started = time.monotonic()
            result = apply_site(item, backend)
            latencies.append(time.monotonic() - started)
            return result.ok and len(result.outcomes) == 4

        started = time.monotonic()
        results = for_each_site([desired(s) for s, _, _ in made], onboard, concurrency)
        wall = time.monotonic() - started
        backend.close()
    live = sum(
        1
        for s, _, _ in made
        if emulator.admin.site_state(s)["cancellation_via_brightback"]["traffic_status"] == "on"
    )
    return {
        "concurrency": concurrency,
        "sites": sites,
        "ok": sum(results),
        "live": live,
        "wall_s": round(wall, 2),
        "s_per_site": round(wall / sites, 2),
        "latency_median_s": round(statistics.median(latencies), 2),
        "peak_mb": round(memory.peak_kb / 1024, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=20)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    parser.add_argument(
        "--browser", default=os.environ.get("BRIGHTBACK_BROWSER", "/usr/bin/chromium")
    )
    args = parser.parse_args()
    os.environ.setdefault(PASSWORD_ENV, "bench-brightback-password")
    rows = []
    with tempfile.TemporaryDirectory() as scratch, start_emulator(Path(scratch) / "e.db") as emu:
        for concurrency in args.concurrency:
            row = run(emu, args.browser, args.sites, concurrency)
            print(row, flush=True)
            rows.append(row)
    print("| concurrency | sites | wall s | s/site | median latency s | peak MB (tool + browser) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['concurrency']} | {r['sites']} ({r['ok']} ok, {r['live']} live) | {r['wall_s']} "
            f"| {r['s_per_site']} | {r['latency_median_s']} | {r['peak_mb']} |"
        )
    return 0 if all(r["ok"] == r["sites"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
