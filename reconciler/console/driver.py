"""Node.js options for Playwright's driver process, and for that process only.

Playwright's Python package drives the browser through a Node.js process of its own (the
"driver"), spawned with a copy of `os.environ`. Left alone, its V8 young generation grows
to tens of megabytes under the messages of a few busy pages; it is the largest single
process of a console run after the pages themselves (bench/README.md, "Driver and browser
memory"). The options below shrink it. They are given to the driver only: setting
`NODE_OPTIONS` in `os.environ` would reach every other Node.js the user's process spawns,
and changing the environment while other threads run (the engine's workers resolve names
and read the clock) is not safe.

Playwright has no public setting for the driver's environment, so the hook wraps the
function its transport calls for it (`playwright._impl.transport.get_driver_env`), and
adds the options only while `BrowserPool` starts its driver (a context variable: any
other Playwright started in the same process gets the environment unchanged). If a newer
Playwright moves that function, the hook does nothing and the driver starts as before;
`tests/console/test_browser_memory.py` checks the running driver's environment, so such
an upgrade fails there rather than silently.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

# `--max-semi-space-size=1` caps each of V8's young-generation semi-spaces at 1 MB (the
# default lets them grow to 16 MB and more): the driver's messages are short-lived, so
# young collections just run more often. `--jitless` runs the driver's JavaScript in V8's
# interpreter, without compiled code (about 20 MB less, for ~0.5 s more driver CPU per
# 8-site bench run, ~2% of the run's CPU: its work is mostly I/O and JSON). It also turns
# WebAssembly off, which Playwright 1.65's driver uses only to encode WebP screenshots of
# other browsers than Chromium. A hard heap cap (`--max-old-space-size`) measured a few
# MB less again and was not kept: a long traced run that outgrew it would crash the
# driver (bench/README.md).
DRIVER_NODE_OPTIONS = ("--max-semi-space-size=1", "--jitless")
NODE_OPTIONS = "NODE_OPTIONS"

_options: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar(
    "brightback_driver_node_options", default=()
)


def _hooked(original: Callable[[], dict[str, str]]) -> Callable[[], dict[str, str]]:
    def get_driver_env() -> dict[str, str]:
        env = original()
        ours = _options.get()
        if ours:
            # The user's own NODE_OPTIONS come last, so theirs win where both set a flag.
            env[NODE_OPTIONS] = " ".join([*ours, env.get(NODE_OPTIONS, "")]).strip()
        return env

    get_driver_env.brightback_hook = True  # type: ignore[attr-defined]
    return get_driver_env


def install() -> bool:
    """Wrap Playwright's driver environment once; False if this Playwright has no such
    function (the driver then starts with the environment unchanged)."""
    try:
        from playwright._impl import transport
    except ImportError:  # pragma: no cover - a Playwright that moved its transport
        return False
    original: Any = getattr(transport, "get_driver_env", None)
    if original is None or not callable(original):  # pragma: no cover - same
        return False
    if not getattr(original, "brightback_hook", False):
        setattr(transport, "get_driver_env", _hooked(original))  # noqa: B010 - private name
    return True


@contextmanager
def driver_options(options: tuple[str, ...] = DRIVER_NODE_OPTIONS) -> Iterator[None]:
    """Within this block (and the asyncio tasks it starts), a Playwright driver that
    starts gets `options` in its NODE_OPTIONS."""
    install()
    token = _options.set(options)
    try:
        yield
    finally:
        _options.reset(token)


__all__ = ["DRIVER_NODE_OPTIONS", "driver_options", "install"]
