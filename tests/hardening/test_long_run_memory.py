"""A long `reconcile --interval` run keeps glibc's heaps from growing pass after pass.

Before: the 10-minute soak grew RSS 65 -> 84 MiB while Python's own objects stayed flat;
the growth was free space glibc kept in its heaps (a mmap threshold that rises after the
first large free, an arena per pass thread). See reconciler/fleet/memory.py and the soak
figures in bench/README.md.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from reconciler.cli import main as brightback
from tests.engine.conftest import Fleet, document
from tests.fleet.test_reconcile_e2e import connected_site

PROBE = textwrap.dedent(
    """
    import ctypes, sys
    from reconciler.fleet.memory import tune_for_long_run

    class Info(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in (
            "arena", "ordblks", "smblks", "hblks", "hblkd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")]

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = Info
    if sys.argv[1] == "tuned":
        assert tune_for_long_run()
    report = bytearray(8 * 2**20)  # a pass's large buffer, freed at the end of the pass
    del report
    mapped = libc.mallinfo2().hblkd
    held = bytearray(2**20)  # the next pass's buffer
    print(libc.mallinfo2().hblkd - mapped)
    """
)


def mapped_for_a_buffer_after_a_larger_one_was_freed(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
    )
    return int(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_large_buffers_stay_mapped_so_freeing_them_gives_the_memory_back() -> None:
    # Untuned, glibc raises its threshold to the 8 MiB just freed and serves the next
    # 1 MiB from the heap, where freeing it leaves a hole; tuned, it is its own mapping.
    assert mapped_for_a_buffer_after_a_larger_one_was_freed("untouched") == 0
    assert mapped_for_a_buffer_after_a_larger_one_was_freed("tuned") >= 2**20


@pytest.mark.e2e
def test_an_interval_run_tunes_the_allocator_once_and_trims_after_every_pass(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import reconciler.cli.reconcile as command

    calls: list[str] = []

    def tune() -> bool:
        calls.append("tune")
        return True

    monkeypatch.setattr(command, "tune_for_long_run", tune)
    monkeypatch.setattr(command, "release_free_memory", lambda: calls.append("trim"))
    connected_site(fleet, "acme")
    fleet.write("sites.yaml", document("acme"))
    monkeypatch.chdir(fleet.root)
    for name, value in {**fleet.env, "BRIGHTBACK_API_URL": fleet.emulator.url_template}.items():
        monkeypatch.setenv(name, value)
    argv = ["reconcile", "sites.yaml", "--state-dir", "state", "--interval", "0.1s"]
    assert brightback([*argv, "--passes", "3"]) == 0
    assert calls == ["tune", "trim", "trim", "trim"]
    calls.clear()
    assert brightback(["reconcile", "sites.yaml", "--state-dir", str(Path("state"))]) == 0
    assert calls == []  # a single pass has no next pass to keep small
    capsys.readouterr()
