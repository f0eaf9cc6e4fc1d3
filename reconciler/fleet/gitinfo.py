"""Which commit of the config a pass ran from, so every report can be traced to a review."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class GitInfo:
    commit: str
    dirty: bool
    root: str

    def to_dict(self) -> dict[str, Any]:
        return {"commit": self.commit, "dirty": self.dirty}


def _git(cwd: Path, *args: str) -> str | None:
    git = shutil.which("git")
    if git is None:
        return None
    try:
        done = subprocess.run(
            [git, *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_info(paths: Sequence[str | Path]) -> GitInfo | None:
    """Commit and dirtiness of the work tree holding the first real PATH, else None.

    Dirty means any tracked or untracked change in the tree: a report from a dirty tree
    does not describe a reviewed commit, and says so.
    """
    for raw in paths:
        if str(raw) == "-":
            continue
        path = Path(raw).resolve()
        where = path if path.is_dir() else path.parent
        if not where.exists():
            continue
        root = _git(where, "rev-parse", "--show-toplevel")
        if root is None:
            return None
        commit = _git(where, "rev-parse", "HEAD")
        if commit is None:  # a repository without a commit yet
            return None
        status = _git(where, "status", "--porcelain")
        return GitInfo(commit=commit, dirty=bool(status), root=root)
    return None


__all__ = [
    "GitInfo",
    "git_info",
]
