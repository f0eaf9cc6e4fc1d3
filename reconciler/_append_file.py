"""An unnamed temporary file that is only appended to, written in batches.

A pass keeps every site's state (reconciler/fleet/site_file.py) and every site's report
(reconciler/report/spool.py) in such files instead of memory (memory flat in fleet size,
issue 17). They were written with one `pwrite` per record, three per site in a no-drift
pass (the state as loaded, the report, the new state): system calls that cost more than
the bytes they wrote. Here appends gather in memory and go to the file 64 KiB at a time; a
read of a record not yet written writes what is gathered first.

The file is created by this process, mode 0600 and unlinked at once, and closed when the
object is collected (or by `close`).
"""

from __future__ import annotations

import os
import tempfile
import threading
import weakref

__all__ = ["AppendFile"]

_BATCH_BYTES = 64 * 1024  # appends gathered before one write
_AHEAD_BYTES = 256 * 1024  # what `read_ahead` brings back from the file at once


class AppendFile:
    """Append bytes, get their offset; read them back by offset and length. Thread-safe."""

    def __init__(self, prefix: str) -> None:
        handle = tempfile.TemporaryFile(prefix=prefix)  # noqa: SIM115 - kept open
        self._fd = handle.fileno()
        self._closer = weakref.finalize(self, handle.close)
        self._lock = threading.Lock()
        self._end = 0  # bytes appended
        self._written = 0  # bytes in the file; those after it wait in `_pending`
        self._pending = bytearray()
        self._window: tuple[int, bytes] = (0, b"")  # (offset, bytes) `read_ahead` read last

    def append(self, data: bytes) -> int:
        """Append `data`; returns the offset it starts at."""
        with self._lock:
            offset = self._end
            self._end += len(data)
            self._pending += data
            if len(self._pending) >= _BATCH_BYTES:
                self._write_pending()
        return offset

    def read(self, offset: int, length: int) -> bytes:
        """The `length` bytes appended at `offset`."""
        self._written_up_to(offset + length)
        return os.pread(self._fd, length, offset)

    def read_ahead(self, offset: int, length: int) -> tuple[bytes, int]:
        """Bytes holding the `length` bytes at `offset`, and where in them they start.

        Records are mostly read back about in the order they were appended (reports in
        report order, states in site order, both near the order sites finished in): a read
        just past the last one brings back the next 256 KiB, which serve the next records
        too; a read anywhere else reads only its record, so random lookups cost no more
        than `read`."""
        window_at, window = self._window
        window_end = window_at + len(window)
        if not window_at <= offset <= offset + length <= window_end:
            self._written_up_to(offset + length)
            ahead = window_at <= offset <= window_end + _AHEAD_BYTES
            window_at = offset
            window = os.pread(self._fd, max(length, _AHEAD_BYTES) if ahead else length, offset)
            self._window = (window_at, window)
        return window, offset - window_at

    def close(self) -> None:
        self._closer()

    def _written_up_to(self, end: int) -> None:
        if end > self._written:
            with self._lock:
                self._write_pending()

    def _write_pending(self) -> None:  # holding the lock
        view = memoryview(self._pending)
        while view:
            done = os.pwrite(self._fd, view, self._written)
            self._written += done
            view = view[done:]
        view.release()
        self._pending.clear()
