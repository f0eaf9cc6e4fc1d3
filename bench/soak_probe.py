"""Run `brightback ARGS...` and, after every pass, append one JSON line to $SOAK_PROBE_OUT.

Used by `chaos_soak.py --probe-out FILE` to tell a leak from allocator growth. After each
pass, once the daemon has collected and trimmed (reconciler/fleet/memory.py), it records
RSS, glibc's `mallinfo2()` (bytes in use and free inside its heaps), the objects the
collector tracks, threads, descriptors and, with $SOAK_PROBE_FRAMES > 0, tracemalloc's
traced total and the lines that grew most since pass 2 (tracemalloc's own records then
weigh on the heap: read its RSS as perturbed). Python objects flat while glibc's free
space grows is fragmentation; Python objects growing is a leak, and `grew` says where.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import sys
import threading
import time
import tracemalloc
from typing import Any

FRAMES = int(os.environ.get("SOAK_PROBE_FRAMES", "0"))
if FRAMES:
    tracemalloc.start(FRAMES)

import reconciler.cli.reconcile as command  # noqa: E402 - after tracemalloc starts
from reconciler.cli import main  # noqa: E402


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkd", "usmblks", "fsmblks",
                     "uordblks", "fordblks", "keepcost")
    ]  # fmt: skip


def _mallinfo() -> dict[str, float]:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
        info = libc.mallinfo2()
    except (OSError, AttributeError):
        return {}  # not glibc
    mib = 2**20
    return {"heap_in_use_mib": round(info.uordblks / mib, 2),
            "heap_free_mib": round(info.fordblks / mib, 2),
            "mmapped_mib": round(info.hblkd / mib, 2)}  # fmt: skip


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main_with_probe() -> int:
    out = os.environ["SOAK_PROBE_OUT"]
    real_pass = command.run_pass  # type: ignore[attr-defined]
    real_release = command.release_free_memory  # type: ignore[attr-defined]
    seen: dict[str, Any] = {"passes": 0, "seconds": 0.0, "base": None}

    def probed_pass(*args: Any, **kwargs: Any) -> Any:
        started = time.monotonic()
        result = real_pass(*args, **kwargs)
        seen["passes"] += 1
        seen["seconds"] = round(time.monotonic() - started, 1)
        return result

    def probed_release() -> None:
        """What the daemon does after each pass (collect, trim), then the figures."""
        real_release()
        record: dict[str, Any] = {
            "pass": seen["passes"],
            "seconds": seen["seconds"],
            "rss_mib": round(_rss_mib(), 1),
            **_mallinfo(),
            "gc_objects": len(gc.get_objects()),
            "threads": threading.active_count(),
            "fds": len(os.listdir("/proc/self/fd")),
        }
        if FRAMES:
            record["traced_mib"] = round(tracemalloc.get_traced_memory()[0] / 2**20, 2)
            snapshot = tracemalloc.take_snapshot()
            if seen["base"] is None and seen["passes"] >= 2:
                seen["base"] = snapshot
            elif seen["base"] is not None:
                grew = snapshot.compare_to(seen["base"], "lineno")[:8]
                record["grew_since_pass_2"] = [str(stat) for stat in grew]
        with open(out, "a") as sink:
            sink.write(json.dumps(record) + "\n")

    command.run_pass = probed_pass  # type: ignore[attr-defined]
    command.release_free_memory = probed_release  # type: ignore[attr-defined]
    return main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main_with_probe())
