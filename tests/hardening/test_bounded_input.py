"""Input is bounded before it is read: file size, stdin, documents per file and in all.

Before: the 8 MiB limit was checked after reading the whole file (a 2 GB sparse file:
2.1 GB RSS), stdin had no limit, and 100,000 tiny documents in 0.9 MB took 23 s and
590 MB (800,000: past 2 minutes at 2.8 GB).
"""

from __future__ import annotations

import resource
import subprocess
from pathlib import Path

import pytest

from reconciler import spec
from reconciler._yaml import MAX_DOCUMENTS_PER_FILE
from reconciler.errors import SpecError
from reconciler.spec import load
from tests.engine.conftest import BRIGHTBACK
from tests.spec.test_discovery import write_site


def _one_gib_of_address_space() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def test_a_huge_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with big.open("wb") as handle:
        handle.truncate(2 << 30)  # 2 GiB, sparse: costs no disk
    done = subprocess.run(
        [BRIGHTBACK, "validate", str(big)],
        capture_output=True, text=True, timeout=120, preexec_fn=_one_gib_of_address_space,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr[-2000:]
    assert "file is larger than 8 MiB" in done.stdout + done.stderr
    assert "MemoryError" not in done.stderr


def test_stdin_is_read_with_the_same_cap(tmp_path: Path) -> None:
    endless = subprocess.Popen(["yes", "key: value"], stdout=subprocess.PIPE)
    try:
        done = subprocess.run(
            [BRIGHTBACK, "validate", "-"], stdin=endless.stdout, capture_output=True,
            text=True, timeout=120,
        )  # fmt: skip
    finally:
        endless.kill()
        endless.wait()
    assert done.returncode == 1
    assert "<stdin>:1:1: file is larger than 8 MiB" in done.stdout + done.stderr


def test_documents_per_file_are_capped_with_a_message(tmp_path: Path) -> None:
    many = tmp_path / "many.yaml"
    many.write_text("kind: Other\n---\n" * (MAX_DOCUMENTS_PER_FILE + 5))
    with pytest.raises(SpecError) as caught:
        load([many])
    messages = [p.message for p in caught.value.problems]
    assert f"file has more than {MAX_DOCUMENTS_PER_FILE} documents; split it" in messages[-1]
    assert caught.value.problems[-1].line == 2 * MAX_DOCUMENTS_PER_FILE + 1


def test_documents_in_all_are_capped_with_a_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spec, "MAX_DOCUMENTS", 3)
    for i in range(5):
        write_site(tmp_path / f"s{i}.yaml", f"site{i}")
    with pytest.raises(SpecError) as caught:
        load([tmp_path])
    [problem] = caught.value.problems
    assert problem.file.endswith("s3.yaml")
    assert "more than 3 documents in all" in problem.message
