"""Onboarding through the console backend: seconds per site and peak memory.

N sites (default 20) start disconnected with reason codes on and their Brightback
experience published, so each needs the four clicks of the help page (connect, integration
mode, reason codes off, toggle on) after one read, plus the fresh read after each step.
Each run onboards its own fresh sites through `apply_site` with a `ConsoleBackend` (one
headless Chromium, a pool of `concurrency` contexts) driven by the engine's worker pool at
the same concurrency. Sign-ins (what `brightback login` saves) are made before the clock.

Reported per concurrency: wall seconds, seconds per site (wall / sites) and per-site
latency (median), where a site's seconds go (summed over sites: the reads and each step's
clicks plus its fresh read), and peak memory of the tool and the browser together: the PSS
(proportional set size, /proc/PID/smaps_rollup) of this process plus every process below
it except the emulator (Chromium's processes and Playwright's driver), sampled every
100 ms. PSS shares each page among the processes that map it, so Chromium's shared
libraries and shared memory are counted once in the sum, not once per process as an RSS
sum counts them; the RSS sum is printed beside it for comparison.

    .venv/bin/python bench/bench_console.py [--sites 20] [--concurrency 1 4]
        [--browser /usr/bin/chromium-headless-shell]
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
from reconciler.console.config import system_browser  # noqa: E402
from reconciler.console.session import save_session, sign_in  # noqa: E402
from reconciler.engine import for_each_site  # noqa: E402
from reconciler.model import (  # noqa: E402
    ConnectionState,
    Credentials,
    Desired,
    DesiredConnection,
    IntegrationMode,
    Live,
)
from reconciler.plan import Step  # noqa: E402

PASSWORD_ENV = "BRIGHTBACK_ACCOUNT_PASSWORD"


def _memory_kb(pid: int) -> tuple[int, int]:
    """(PSS, RSS) of one process in kB, from smaps_rollup (0, 0 once it has exited)."""
    pss = rss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
            elif line.startswith("Rss:"):
                rss = int(line.split()[1])
    except OSError:
        pass
    return pss, rss


def _cpu_s(pid: int) -> float:
    """User plus system CPU seconds a process has used so far (0 once it has exited)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


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


def _kind(pid: int) -> str:
    """What a process is: Chromium's --type (renderer, gpu-process, utility, zygote), the
    browser, Playwright's node driver, or this Python process."""
    if pid == os.getpid():
        return "python (tool)"
    try:  # Chromium rewrites its children's titles: arguments joined by spaces
        words = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").split()
    except OSError:
        return "gone"
    for word in words:
        if word.startswith(b"--type="):
            kind = word[len(b"--type=") :].decode()
            sub = next((w for w in words if w.startswith(b"--utility-sub-type=")), None)
            return f"{kind} {sub.split(b'.')[-1].decode()}" if sub else kind
    name = Path(words[0].decode(errors="replace")).name if words else "?"
    return "browser" if "chrom" in name else name


def _by_kind(sizes: dict[int, tuple[int, int]]) -> dict[str, tuple[int, int]]:
    kinds: dict[str, tuple[int, int]] = {}
    for pid, (pss, _rss) in sizes.items():
        count, total = kinds.get(_kind(pid), (0, 0))
        kinds[_kind(pid)] = (count + 1, total + pss)
    return kinds


class PeakMemory:
    """Peak of (this process + its descendants except `exclude`) PSS, sampled; the RSS sum
    at its own peak is kept for comparison."""

    def __init__(self, exclude: int) -> None:
        self.exclude = exclude
        self.peak_kb = 0
        self.peak_rss_kb = 0
        self.peak_by_kind: dict[str, tuple[int, int]] = {}  # kind -> (processes, PSS kB)
        self._last: dict[int, tuple[int, int]] = {}
        # pid -> (kind, CPU seconds at its last sample): a process's CPU by the time it
        # exits (up to one sampling interval short)
        self.cpu: dict[int, tuple[str, float]] = {}
        self._own_cpu_before = _cpu_s(os.getpid())  # this process ran earlier rows too
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _total(self) -> tuple[int, int]:
        parents = _children()
        mine = {os.getpid()}
        changed = True
        while changed:
            changed = False
            for pid, parent in parents.items():
                if parent in mine and pid not in mine and pid != self.exclude:
                    mine.add(pid)
                    changed = True
        sizes = {pid: _memory_kb(pid) for pid in mine}
        self._last = sizes
        for pid in mine:
            kind = self.cpu[pid][0] if pid in self.cpu else _kind(pid)
            self.cpu[pid] = (kind, max(_cpu_s(pid), self.cpu.get(pid, ("", 0.0))[1]))
        return sum(p for p, _ in sizes.values()), sum(r for _, r in sizes.values())

    def cpu_by_kind(self) -> dict[str, float]:
        kinds: dict[str, float] = {}
        for pid, (kind, seconds) in self.cpu.items():
            spent = seconds - (self._own_cpu_before if pid == os.getpid() else 0.0)
            kinds[kind] = kinds.get(kind, 0.0) + spent
        return kinds

    def _sample(self) -> None:
        pss, rss = self._total()
        if pss > self.peak_kb:
            self.peak_by_kind = _by_kind(self._last)
        self.peak_kb = max(self.peak_kb, pss)
        self.peak_rss_kb = max(self.peak_rss_kb, rss)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(0.1)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


class Timed:
    """The backend, with the seconds of each read and each step's click path (which ends
    in its own fresh read) added up by operation: where a site's time goes."""

    def __init__(self, inner: ConsoleBackend) -> None:
        self.inner = inner
        self.kind = inner.kind
        self.seconds: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def _add(self, name: str, started: float) -> None:
        with self._lock:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.monotonic() - started
            self.counts[name] = self.counts.get(name, 0) + 1

    def read(self, desired: Desired) -> Live:
        started = time.monotonic()
        try:
            return self.inner.read(desired)
        finally:
            self._add("read", started)

    def execute(
        self, desired: Desired, step: Step, *, expected_version: int, idempotency_key: str
    ) -> Live:
        started = time.monotonic()
        try:
            return self.inner.execute(
                desired, step, expected_version=expected_version, idempotency_key=idempotency_key
            )
        finally:
            self._add(step.action.value, started)

    def events(
        self, desired: Desired, *, since: int | None = None, limit: int = 10
    ) -> list[dict[str, Any]]:
        return self.inner.events(desired, since=since, limit=limit)

    def close(self) -> None:
        self.inner.close()


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
        timed = Timed(backend)

        def onboard(item: Desired) -> bool:
            started = time.monotonic()
            result = apply_site(item, timed)
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
        "peak_pss_mb": round(memory.peak_kb / 1024, 1),
        "peak_rss_sum_mb": round(memory.peak_rss_kb / 1024, 1),
        "seconds_by_operation": {
            name: f"{seconds:.1f}s/{timed.counts[name]}"
            for name, seconds in sorted(timed.seconds.items(), key=lambda kv: -kv[1])
        },
        "peak_pss_by_process_kind": {
            kind: f"{count}x {kb / 1024:.0f}MB"
            for kind, (count, kb) in sorted(memory.peak_by_kind.items(), key=lambda kv: -kv[1][1])
        },
        "cpu_s_by_process_kind": {
            kind: round(seconds, 1)
            for kind, seconds in sorted(memory.cpu_by_kind().items(), key=lambda kv: -kv[1])
            if seconds >= 0.1
        },
        "browser": browser,
        "load_average": " ".join(f"{v:.2f}" for v in os.getloadavg()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=20)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    parser.add_argument(
        "--browser",
        default=os.environ.get("BRIGHTBACK_BROWSER") or system_browser(headless=True),
        help="default: what a headless run picks (chromium-headless-shell, else chromium)",
    )
    args = parser.parse_args()
    os.environ.setdefault(PASSWORD_ENV, "bench-brightback-password")
    print("load average before:", " ".join(f"{v:.2f}" for v in os.getloadavg()), flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as scratch, start_emulator(Path(scratch) / "e.db") as emu:
        for concurrency in args.concurrency:
            row = run(emu, args.browser, args.sites, concurrency)
            print(row, flush=True)
            rows.append(row)
    print(
        "| concurrency | sites | wall s | s/site | median latency s "
        "| peak PSS MB (tool + browser) | peak RSS sum MB | load average after |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['concurrency']} | {r['sites']} ({r['ok']} ok, {r['live']} live) | {r['wall_s']} "
            f"| {r['s_per_site']} | {r['latency_median_s']} | {r['peak_pss_mb']} "
            f"| {r['peak_rss_sum_mb']} | {r['load_average']} |"
        )
    return 0 if all(r["ok"] == r["sites"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
