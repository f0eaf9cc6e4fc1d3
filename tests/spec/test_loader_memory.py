"""Loading a fleet keeps only what the cross-file checks need, not every parsed document.

A parsed Document holds the value tree and a position for every key and value (~13 KB);
keeping 10,000 of them until the duplicate-site check ran cost the reconciler ~100 MB.
"""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from reconciler import spec
from reconciler._yaml import Document
from reconciler.errors import SpecError, SpecProblem
from reconciler.model import Desired

from .test_loader import VALID


def live_documents() -> int:
    gc.collect()
    return sum(isinstance(obj, Document) for obj in gc.get_objects())


def test_parsed_documents_are_released_before_the_cross_file_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(20):
        text = VALID.replace("acme", f"acme{i}")
        (tmp_path / f"site{i}.yaml").write_text(text, encoding="utf-8")
    alive_at_check: list[int] = []
    original = spec._Declared.again

    def counting(self: spec._Declared, entry: spec._Loaded) -> list[SpecProblem]:
        alive_at_check.append(live_documents())
        return original(self, entry)

    monkeypatch.setattr(spec._Declared, "again", counting)
    assert len(spec.load([tmp_path])) == 20
    assert alive_at_check == [0] * 20


def test_loading_a_fleet_one_document_at_a_time_holds_none_of_the_earlier_ones(
    tmp_path: Path,
) -> None:
    """A pass that reads sites while the config loads drops each site when it is done;
    the loader itself must not keep them until the end (memory flat in fleet size)."""
    for i in range(30):
        text = VALID.replace("acme", f"acme{i}")
        (tmp_path / f"site{i:02d}.yaml").write_text(text, encoding="utf-8")

    def live_desired() -> int:
        gc.collect()
        return sum(isinstance(obj, Desired) for obj in gc.get_objects())

    before = live_desired()  # other tests' objects may still be alive
    alive: list[int] = []
    for desired in spec.iter_load([tmp_path]):
        del desired
        alive.append(live_desired() - before)
    assert len(alive) == 30 and max(alive) <= 1


def test_duplicates_still_point_at_both_declarations_after_release(tmp_path: Path) -> None:
    first = tmp_path / "a.yaml"
    second = tmp_path / "b.yaml"
    first.write_text(VALID, encoding="utf-8")
    second.write_text("# moved down a line\n" + VALID, encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        spec.load([first, second])
    assert [str(p) for p in caught.value.problems] == [
        f"{second}:5:9: metadata.name: name 'acme-live' is already declared at {first}:4; "
        "each name may be declared once",
        f"{second}:8:9: spec.site: site 'acme' is already declared at {first}:7; "
        "each site may be declared once",
    ]
