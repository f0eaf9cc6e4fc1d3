"""`apply` at a terminal (a real pseudo-terminal): the plan first, then a typed `yes`;
Ctrl-C at the question exits 130; progress is drawn there and never in pipes."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.engine.conftest import BRIGHTBACK, Fleet, document

pytestmark = pytest.mark.e2e

PROMPT = b"Only 'yes' is accepted"


class Terminal:
    """`brightback ARGS` with stdin, stdout and stderr on one pty, as in a shell."""

    def __init__(self, fleet: Fleet, *args: str) -> None:
        self.master, slave = pty.openpty()
        env = {
            **os.environ,
            "BRIGHTBACK_API_URL": fleet.emulator.url_template,
            **fleet.env,
            "TERM": "xterm",
            "COLUMNS": "120",
        }
        self.process = subprocess.Popen(
            [BRIGHTBACK, *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=fleet.root,
            env=env,
            start_new_session=True,
        )
        os.close(slave)
        self.seen = b""

    def read_until(self, marker: bytes, limit_s: float = 60.0) -> bytes:
        """Read until `marker` appears (a bound against hangs, not a timed assertion)."""
        deadline = time.monotonic() + limit_s
        while marker not in self.seen and time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.5)
            if ready:
                try:
                    self.seen += os.read(self.master, 65536)
                except OSError:
                    break
        return self.seen

    def type(self, text: bytes) -> None:
        os.write(self.master, text)

    def finish(self) -> int:
        while True:  # drain so the child never blocks on a full pty
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    chunk = b""
                if chunk:
                    self.seen += chunk
                    continue
            if self.process.poll() is not None:
                break
        os.close(self.master)
        return self.process.wait(timeout=60)


def one_site(fleet: Fleet) -> None:
    fleet.add_site("acme", published=[("acme-bb", "customer_portal")])
    fleet.write("sites.yaml", document("acme"))


def toggle(fleet: Fleet) -> bool:
    value = fleet.state("acme")["brightback_integration"]["cancellation_via_brightback"]
    return bool(value["enabled"])


def test_apply_on_a_terminal_shows_the_plan_and_applies_after_yes(fleet: Fleet) -> None:
    one_site(fleet)
    terminal = Terminal(fleet, "apply", "sites.yaml")
    screen = terminal.read_until(PROMPT)
    assert b"acme-live" in screen and b"connect" in screen and PROMPT in screen
    assert not toggle(fleet)  # nothing written while asking
    terminal.type(b"yes\n")
    assert terminal.finish() == 2
    assert b"applied" in terminal.seen
    assert toggle(fleet)


@pytest.mark.parametrize("answer", [b"no\n", b"y\n", b"\n"])
def test_anything_but_yes_applies_nothing(fleet: Fleet, answer: bytes) -> None:
    one_site(fleet)
    terminal = Terminal(fleet, "apply", "sites.yaml")
    terminal.read_until(PROMPT)
    terminal.type(answer)
    assert terminal.finish() == 1
    assert b"apply cancelled: nothing applied" in terminal.seen
    assert not toggle(fleet)


def test_ctrl_c_at_the_question_exits_130_and_applies_nothing(fleet: Fleet) -> None:
    one_site(fleet)
    terminal = Terminal(fleet, "apply", "sites.yaml")
    terminal.read_until(PROMPT)
    os.killpg(terminal.process.pid, signal.SIGINT)  # what the terminal sends on Ctrl-C
    assert terminal.finish() == 130
    assert not toggle(fleet)


def test_auto_approve_applies_on_a_terminal_without_asking(fleet: Fleet) -> None:
    one_site(fleet)
    terminal = Terminal(fleet, "apply", "sites.yaml", "--auto-approve")
    assert terminal.finish() == 2
    assert PROMPT not in terminal.seen
    assert toggle(fleet)


def test_without_a_terminal_apply_never_asks(fleet: Fleet) -> None:
    one_site(fleet)
    result = fleet.cli("apply", "sites.yaml")
    assert result.code == 2, result.output
    assert "Only 'yes'" not in result.output
    assert "\x1b[" not in result.stderr  # no progress bar drawn into a pipe
    assert toggle(fleet)


def test_plan_on_a_terminal_draws_progress_with_the_number_of_sites(fleet: Fleet) -> None:
    one_site(fleet)
    fleet.add_site("globex", published=[("globex-bb", "customer_portal")])
    fleet.write("sites.yaml", document("acme") + "---\n" + document("globex"))
    terminal = Terminal(fleet, "plan", "sites.yaml")
    assert terminal.finish() == 2
    assert b"2/2" in terminal.seen or b"0/2" in terminal.seen, terminal.seen[-2000:]


def test_reconcile_bar_knows_the_number_of_sites(fleet: Fleet, tmp_path: Path) -> None:
    one_site(fleet)
    terminal = Terminal(fleet, "reconcile", "sites.yaml", "--once", "--state-dir", "state")
    assert terminal.finish() == 2
    assert b"/1" in terminal.seen, terminal.seen[-2000:]
