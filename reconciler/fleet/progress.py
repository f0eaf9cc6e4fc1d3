"""Progress for people, quiet for machines: a rich bar on a terminal, otherwise one line
per pass on stderr (CI logs and CronJobs get no control characters)."""

from __future__ import annotations

import sys
import threading
from types import TracebackType
from typing import Self, TextIO


class Progress:
    """Counts sites handled in a pass. Thread-safe: workers call `tick` concurrently."""

    def __init__(self, stream: TextIO | None = None, *, enabled: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._lock = threading.Lock()
        self._bar: object | None = None
        self._task: object | None = None
        self.done = 0

    def start(self, label: str, total: int | None = None) -> None:
        self.done = 0
        if not self.enabled:
            return
        from rich.console import Console  # only on a terminal
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as RichProgress

        console = Console(file=self.stream, force_terminal=True)
        # "12/40 sites": the count says how far a pass is, where a bare bar would not.
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("sites"),
            TimeElapsedColumn(),
        )
        bar = RichProgress(*columns, transient=True, console=console)
        bar.start()
        self._task = bar.add_task(label, total=total)
        self._bar = bar

    def tick(self, _name: str) -> None:
        with self._lock:
            self.done += 1
            if self._bar is not None:
                self._bar.update(self._task, advance=1)  # type: ignore[attr-defined]

    def finish(self, line: str) -> None:
        self.abandon()
        print(line, file=self.stream, flush=True)

    def abandon(self) -> None:
        """Take the bar down without a summary (the pass failed; the log says why)."""
        if self._bar is not None:
            self._bar.stop()  # type: ignore[attr-defined]
            self._bar = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.abandon()


__all__ = [
    "Progress",
]
