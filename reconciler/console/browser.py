"""One browser, a bounded pool of contexts, and per-site time limits.

The engine calls a backend from many worker threads, while Playwright objects belong to
the thread (or event loop) that made them: its sync API would need one driver and one
browser per thread. So the pool owns a single event loop on its own thread, drives one
Chromium through Playwright's async API there, and hands each site operation a fresh
browser context (cookies of that site's saved session only). Callers block on the result
like any other backend call. A semaphore caps the contexts open at once (`--concurrency`),
and each operation runs under its own deadline: a stuck page fails its site only, and its
context is closed so it frees its memory.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from playwright.async_api import Browser, BrowserContext, Page, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout

from reconciler.console import evidence
from reconciler.console.config import BROWSER_ARGS, ConsoleConfig, system_browser
from reconciler.console.driver import driver_options
from reconciler.errors import ApiError, BrightbackError

T = TypeVar("T")
EVIDENCE_TIMEOUT_S = 20.0


@dataclass
class Tab:
    """One site operation's page, with tracing that a secret never enters."""

    page: Page
    context: BrowserContext
    site: str
    label: str
    config: ConsoleConfig
    secrets: Callable[[], Iterable[str]] = lambda: ()
    traces: list[Path] = field(default_factory=list)
    _tracing: bool = False

    async def start_trace(self) -> None:
        if self.config.trace:
            await self.context.tracing.start(snapshots=True, screenshots=True)
            self._tracing = True

    def _trace_path(self) -> Path:
        self.config.traces_dir.mkdir(parents=True, exist_ok=True)
        name = f"{evidence.stem(self.site, self.label)}-part{len(self.traces) + 1}.zip"
        return self.config.traces_dir / name

    @asynccontextmanager
    async def untraced(self) -> AsyncIterator[None]:
        """Typing a password and submitting it happen between two trace chunks, so the
        trace holds neither the value nor a snapshot of the filled field."""
        if not self._tracing:
            yield
            return
        path = self._trace_path()
        await self.context.tracing.stop_chunk(path=str(path))
        self._keep(path)
        try:
            yield
        finally:
            await self.context.tracing.start_chunk()

    async def finish_trace(self) -> None:
        if self._tracing:
            path = self._trace_path()
            await self.context.tracing.stop(path=str(path))
            self._keep(path)
            self._tracing = False

    def _keep(self, path: Path) -> None:
        evidence.redact_archive(path, self.secrets())
        self.traces.append(path)


# A kept context belongs to one site's saved session: (site, session file, its mtime).
SessionKey = tuple[str, str, int]


def _session_key(site: str, storage_state: Path | None) -> SessionKey | None:
    if storage_state is None:  # a sign-in: nothing to keep
        return None
    try:
        return (site, str(storage_state.resolve()), storage_state.stat().st_mtime_ns)
    except OSError:
        return None


async def _bounded(cleanup: Awaitable[None]) -> None:
    """Clean-up after a failure is bounded like evidence: a tab stuck mid-navigation may
    never answer `tracing.stop` or `context.close`, and must not hold its worker (or the
    pool's slot) past the site's deadline."""
    with suppress(TimeoutError):
        await asyncio.wait_for(cleanup, EVIDENCE_TIMEOUT_S)


async def _collect_garbage(page: Page) -> None:
    """A kept tab's renderer collects its JavaScript garbage before it waits for the
    site's next operation. Each page load leaves tens of megabytes behind (Playwright's
    scripts, compiled afresh in every new document) that V8 would keep until its heap
    grows much larger: collected, a kept renderer is about half the size (bench/README.md,
    "Driver and browser memory"). Best effort: a page that fails to answer is left as is."""
    with suppress(PlaywrightError):
        await _bounded(page.request_gc())


class BrowserPool:
    """The browser the console backend drives. Thread-safe: `run` from any thread."""

    def __init__(self, config: ConsoleConfig, secrets: Callable[[], Iterable[str]]) -> None:
        self.config = config
        self._secrets = secrets
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="console-browser", daemon=True
        )
        self._thread.start()
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self.browser_path: str | None = None
        self._slots: asyncio.Semaphore | None = None
        # Idle contexts kept for their site's next operation, least recently used first;
        # touched only on the pool's own event loop. `_open` counts idle and busy ones.
        self._idle: OrderedDict[SessionKey, tuple[BrowserContext, Page]] = OrderedDict()
        self._open = 0
        self.traces: list[Path] = []
        self.evidence: list[Path] = []
        self._lock = threading.Lock()
        try:
            self._call(self._start())
        except BaseException:
            self._stop_loop()
            raise

    def _call(self, coro: Awaitable[T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()  # type: ignore[arg-type]

    async def _start(self) -> None:
        with driver_options():  # a smaller V8 young generation for our driver only
            self._playwright = await async_playwright().start()
        args = [*BROWSER_ARGS]
        if self.config.headless:
            args.insert(0, "--headless")
        path = self.config.browser_path
        if path is None and not Path(self._playwright.chromium.executable_path).is_file():
            path = system_browser(headless=self.config.headless)  # no Playwright browser
        self.browser_path = path  # what was launched (None: Playwright's own)
        try:
            self._browser = await self._playwright.chromium.launch(
                executable_path=path,
                headless=self.config.headless,
                args=args,
            )
        except PlaywrightError as exc:
            await self._playwright.stop()
            where = path or "Playwright's own Chromium"
            raise BrightbackError(
                f"cannot start the browser ({where}): {exc.message.splitlines()[0]}; install "
                "Chromium (`playwright install chromium`, a system chromium-headless-shell or "
                "chromium, or name one with --browser-path / $BRIGHTBACK_BROWSER)"
            ) from None
        self._slots = asyncio.Semaphore(self.config.concurrency)

    def run(
        self,
        site: str,
        label: str,
        work: Callable[[Tab], Awaitable[T]],
        *,
        storage_state: Path | None,
        config: ConsoleConfig | None = None,
    ) -> T:
        """Run `work` in a fresh context of `site`; evidence is kept if it fails.

        `config` overrides the pool's time limits, trace and evidence places for this call
        (several backends may share one browser)."""
        return self._call(self._run(site, label, work, storage_state, config or self.config))

    async def _run(
        self,
        site: str,
        label: str,
        work: Callable[[Tab], Awaitable[T]],
        storage_state: Path | None,
        config: ConsoleConfig,
    ) -> T:
        assert self._slots is not None
        async with self._slots:
            key = _session_key(site, storage_state)
            kept = self._idle.pop(key, None) if key is not None else None
            context, page = kept if kept is not None else await self._new(storage_state, config)
            context.set_default_timeout(config.action_timeout * 1000)
            context.set_default_navigation_timeout(config.action_timeout * 1000)
            cookies = _cookie_values(storage_state)
            tab = Tab(page, context, site, label, config, lambda: [*self._secrets(), *cookies])
            succeeded = False
            try:
                await tab.start_trace()
                result = await asyncio.wait_for(work(tab), config.site_timeout)
                succeeded = True
                return result
            except TimeoutError:
                message = f"the console did not finish within {config.site_timeout:g}s"
                raise await self._failed(tab, message, "console_timeout") from None
            except PlaywrightTimeout as exc:
                message = (
                    f"{_first_line(exc)}; the console may have changed: adapt "
                    "reconciler/console/locators.py"
                )
                raise await self._failed(tab, message, "console_control_missing") from None
            except PlaywrightError as exc:
                message = f"browser error: {_first_line(exc)}"
                raise await self._failed(tab, message, "console_error") from None
            except ApiError as exc:
                files = await self._evidence(tab)
                raise ApiError(
                    f"{exc.message}{_listing(files)}",
                    http_status=exc.http_status,
                    type=exc.type,
                    api_error_code=exc.api_error_code,
                    param=exc.param,
                    site=site,
                ) from None
            finally:
                try:
                    await _bounded(tab.finish_trace())
                finally:
                    with self._lock:
                        self.traces.extend(tab.traces)
                    if succeeded and key is not None and not page.is_closed():
                        await _collect_garbage(page)
                        self._idle[key] = (context, page)  # the site's next operation
                    else:
                        await self._discard(context)

    async def _new(
        self, storage_state: Path | None, config: ConsoleConfig
    ) -> tuple[BrowserContext, Page]:
        """A fresh context with the saved session, after closing idle ones to make room."""
        assert self._browser is not None
        while self._idle and self._open >= self.config.concurrency:
            _, (idle, _page) = self._idle.popitem(last=False)
            await self._discard(idle)
        width, height = config.viewport
        context = await self._browser.new_context(
            storage_state=str(storage_state) if storage_state else None,
            viewport={"width": width, "height": height},
        )
        self._open += 1
        try:
            return context, await context.new_page()
        except BaseException:
            await self._discard(context)
            raise

    async def _discard(self, context: BrowserContext) -> None:
        self._open -= 1
        await _bounded(context.close())

    def release(self, sessions_dir: Path) -> None:
        """Close the idle contexts of the sessions saved under `sessions_dir` (a backend
        that shares this browser is done with them)."""
        self._call(self._release(str(sessions_dir.resolve())))

    async def _release(self, folder: str) -> None:
        for key in [k for k in self._idle if Path(k[1]).parent == Path(folder)]:
            context, _page = self._idle.pop(key)
            await self._discard(context)

    async def _failed(self, tab: Tab, message: str, code: str) -> ApiError:
        """The site's error for a browser-side failure, with its evidence listed: the site
        and step first, as every console error reads."""
        files = await self._evidence(tab)
        return ApiError(
            f"{tab.site}: {tab.label}: {message}{_listing(files)}",
            http_status=0,
            api_error_code=code,
            site=tab.site,
        )

    async def _evidence(self, tab: Tab) -> list[Path]:
        """Best effort and bounded: a page stuck mid-navigation may never answer."""
        try:
            files = await asyncio.wait_for(
                evidence.capture(
                    tab.page, tab.config.evidence_dir, tab.site, tab.label, self._secrets()
                ),
                EVIDENCE_TIMEOUT_S,
            )
        except TimeoutError:
            files = []
        with self._lock:
            self.evidence.extend(files)
        return files

    def close(self) -> None:
        try:
            self._call(self._stop())
        finally:
            self._stop_loop()

    async def _stop(self) -> None:
        while self._idle:
            _, (idle, _page) = self._idle.popitem()
            await self._discard(idle)
        if self._browser is not None:
            await self._browser.close()
        if self._playwright is not None:
            await self._playwright.stop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()


def _cookie_values(storage_state: Path | None) -> list[str]:
    """The saved session's cookie values: credentials too, scrubbed from traces."""
    if storage_state is None:
        return []
    try:
        state = json.loads(storage_state.read_text(encoding="utf-8"))
        return [str(c["value"]) for c in state.get("cookies", []) if len(str(c["value"])) >= 8]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []


def _first_line(exc: BaseException) -> str:
    """Playwright's first line plus the locator it was waiting for, if it says."""
    message = str(getattr(exc, "message", None) or exc).strip()
    if not message:
        return type(exc).__name__
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    waiting = next((line for line in lines[1:] if line.startswith("- waiting for")), None)
    return lines[0] + (f" ({waiting[2:]})" if waiting else "")


def _listing(files: list[Path]) -> str:
    if not files:
        return ""
    return " (evidence: " + ", ".join(str(f) for f in files) + ")"


__all__ = ["BrowserPool", "Tab"]
