"""`--baseline REF`: the same scenario on another commit, interleaved with the working tree.

A claim like "4x less CPU per site" only holds when both figures come from one run on one
machine: these machines change speed by 3x from day to day, and a shared machine from
minute to minute. So the benches run each measured pass twice in a row, once with the
working tree's `brightback` and once with REF's, alternating which goes first, and print
both figures and their ratio.

REF is checked out with `git worktree add --detach` under
~/.cache/brightback-gitops/baselines/<sha> ($XDG_CACHE_HOME is honoured; outside the
repository, so no linter, type checker or test run finds a second copy of the code) and
installed, non-editable, into its own venv there, so nothing of the working tree leaks
into it. Both are kept for the next run (the first costs a pip
install, about a minute). The emulator, the fleet and the measuring code are the working
tree's, shared by both sides.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from _common import REPO

_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
BASELINES = _CACHE / "brightback-gitops" / "baselines"


@dataclass(frozen=True)
class Checkout:
    """A tree whose `brightback` a bench runs: the working tree, or a baseline."""

    label: str  # "head", or the baseline's short commit id
    root: Path  # the checkout (the reconciler's working directory)
    bin_dir: Path  # its venv's bin directory

    def script(self, name: str) -> str:
        path = self.bin_dir / name
        if not path.exists():
            found = shutil.which(name) if self.label == "head" else None
            if found is None:
                raise SystemExit(f"{name} is not installed in {self.bin_dir}")
            return found
        return str(path)

    def has(self, relative: str) -> bool:
        return (self.root / relative).exists()


def working_tree() -> Checkout:
    return Checkout("head", REPO, Path(sys.executable).parent)


def _git(*args: str, cwd: Path = REPO) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def baseline(ref: str) -> Checkout:
    """REF's checkout and venv, made on first use (prints what it does, to stderr)."""
    sha = _git("rev-parse", "--verify", f"{ref}^{{commit}}")
    root = BASELINES / sha[:12]
    if not (root / ".git").exists():
        if root.exists():
            shutil.rmtree(root)
        _git("worktree", "prune")
        BASELINES.mkdir(parents=True, exist_ok=True)
        print(f"baseline: checking out {sha[:12]} in {root}", file=sys.stderr, flush=True)
        _git("worktree", "add", "--detach", str(root), sha)
    venv = root / ".venv"
    stamp = venv / ".bench-installed"
    if not stamp.exists():
        print(f"baseline: installing {sha[:12]} into {venv}", file=sys.stderr, flush=True)
        base_python = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base_python, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(root)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        stamp.write_text(sha + "\n")
    return Checkout(sha[:7], root, venv / "bin")


def checkouts(ref: str | None) -> list[Checkout]:
    """The working tree, then REF's checkout when one is asked for."""
    return [working_tree()] + ([baseline(ref)] if ref else [])


def interleaved(items: list[Checkout], round_no: int) -> list[Checkout]:
    """Alternate who goes first, so neither side always runs on a warmer machine."""
    return items if round_no % 2 == 0 else list(reversed(items))


def ratio(baseline_value: float, head_value: float) -> float | None:
    """baseline / head: how many times less the working tree costs (None if undefined)."""
    if head_value <= 0:
        return None
    return round(baseline_value / head_value, 2)
