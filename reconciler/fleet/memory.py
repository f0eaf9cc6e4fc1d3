"""Keep a long-running reconciler's memory flat: glibc's heap, not Python objects.

The 10-minute soak (bench/chaos_soak.py) grew RSS 65 -> 84 MiB while everything Python
holds stayed flat from pass to pass: tracemalloc's traced total, the number of objects
the collector tracks, threads and descriptors. What grew was the free space glibc kept
inside its heaps (mallinfo2: in use ~10 MiB every pass, free 8 -> 19 MiB). Two glibc
habits make it so in a daemon whose passes each build and drop a few MiB of large
buffers (reports, state, JSON of the status page) on up to `--concurrency` threads:

- the mmap threshold is dynamic: once a large mmapped block is freed, blocks up to its
  size come from the heap afterwards, where freeing them leaves holes instead of
  unmapping them;
- each thread that allocates may get its own arena (up to 8 a core), each keeping its
  own free space.

So an `--interval` run fixes the threshold at its default 128 KiB and caps the arenas at
two, once at start-up before the pass threads exist (`tune_for_long_run`), and hands the
free pages of the heaps back to the system after every pass (`release_free_memory`).
Anywhere else than glibc (musl, macOS) both are no-ops.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import sys
from functools import cache

# mallopt parameters, from glibc's malloc.h.
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's default, held fixed
ARENA_MAX = 2


@cache
def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    if not all(hasattr(libc, name) for name in ("mallopt", "malloc_trim", "gnu_get_libc_version")):
        return None  # not glibc
    return libc


def tune_for_long_run() -> bool:
    """Fix the mmap threshold and cap the arenas (see the module's docstring). Call once,
    before the pass's threads start; returns whether the allocator took both settings."""
    libc = _glibc()
    if libc is None:
        return False
    fixed: bool = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
    capped: bool = libc.mallopt(M_ARENA_MAX, ARENA_MAX) == 1
    return fixed and capped


def release_free_memory() -> None:
    """After a pass: collect what the pass left in cycles, then return the heaps' free
    pages to the system (malloc_trim), so each pass starts from the same footprint."""
    gc.collect()
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


__all__ = [
    "ARENA_MAX",
    "MMAP_THRESHOLD_BYTES",
    "release_free_memory",
    "tune_for_long_run",
]
