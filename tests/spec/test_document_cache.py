"""The document cache skips the YAML reader for files whose bytes a pass has seen valid,
and changes nothing else: what loads, what is refused and where, and what is trusted."""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
from pathlib import Path

import pytest

from reconciler import _yaml, spec
from reconciler.errors import SpecError, SpecProblem
from reconciler.spec import iter_load, load
from reconciler.store.document_cache import CACHE_FILE, FileDocumentCache
from tests.engine.conftest import document

MIXED = """\
apiVersion: brightback-gitops/v1alpha1
kind: BrightbackIntegration
metadata: {name: two-a}
spec:
  site: two-a
  credentials: {apiKeyFromEnv: TWO_KEY}
  connection: {state: disconnected}
---
apiVersion: brightback-gitops/v1alpha1
kind: BrightbackIntegration
metadata: {name: two-b}
spec:
  site: two-b
  credentials: {apiKeyFromEnv: TWO_KEY}
  connection: {state: disconnected}
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    folder = tmp_path / "config"
    folder.mkdir()
    for name in ("acme", "globex", "initech"):
        (folder / f"{name}.yaml").write_text(document(name), encoding="utf-8")
    (folder / "two.yaml").write_text(MIXED, encoding="utf-8")
    return folder


@pytest.fixture
def cache_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / CACHE_FILE


def cached_load(paths: list[Path], cache_path: Path, *, complete: bool = True) -> list[object]:
    """One pass's load through a fresh cache object, saved as a pass saves it."""
    cache = FileDocumentCache(cache_path)
    try:
        return list(iter_load(paths, cache=cache))
    finally:
        cache.save(complete=complete)


def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files the YAML reader reads from now on."""
    seen: list[str] = []
    real = _yaml.parse_documents

    def counting(text: str, filename: str) -> tuple[list[_yaml.Document], list[SpecProblem]]:
        seen.append(Path(filename).name)
        return real(text, filename)

    monkeypatch.setattr(spec, "parse_documents", counting)
    return seen


def edit(path: Path, old: str, new: str) -> None:
    """Change the cache file behind the reconciler's back."""
    path.write_text(path.read_text("utf-8").replace(old, new), "utf-8")


def refusal(paths: list[Path], cache_path: Path | None = None) -> list[str]:
    with pytest.raises(SpecError) as caught:
        if cache_path is None:
            load(paths)
        else:
            cached_load(paths, cache_path)
    return [str(p) for p in caught.value.problems]


def test_a_second_load_reads_no_yaml_and_returns_what_a_parse_returns(
    config: Path, cache_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = cached_load([config], cache_path)
    seen = parses(monkeypatch)
    second = cached_load([config], cache_path)
    assert seen == []
    assert first == second == load([config])
    assert [d.source for d in second] == [d.source for d in load([config])]  # type: ignore[attr-defined]


def test_an_edited_file_is_read_again_and_its_new_content_wins(
    config: Path, cache_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cached_load([config], cache_path)
    (config / "globex.yaml").write_text(document("globex", name="globex-renamed"), "utf-8")
    seen = parses(monkeypatch)
    names = [d.name for d in cached_load([config], cache_path)]  # type: ignore[attr-defined]
    assert seen == ["globex.yaml"]
    assert "globex-renamed" in names and "globex-live" not in names


def test_an_invalid_file_is_never_kept_and_is_refused_at_the_same_place_every_pass(
    config: Path, cache_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (config / "bad.yaml").write_text(document("bad").replace("connected", "conected"), "utf-8")
    expected = refusal([config])
    assert refusal([config], cache_path) == expected
    seen = parses(monkeypatch)
    assert refusal([config], cache_path) == expected
    assert seen == ["bad.yaml"]  # the valid files came from the cache; the bad one did not


def test_a_duplicate_site_is_refused_at_its_line_when_both_files_come_from_the_cache(
    config: Path, cache_path: Path
) -> None:
    (config / "zz-again.yaml").write_text(document("acme", name="again"), "utf-8")
    expected = refusal([config])
    cached_load([config / "zz-again.yaml"], cache_path)  # both files now cached
    cached_load([config / "acme.yaml"], cache_path, complete=False)
    assert refusal([config], cache_path) == expected


def test_a_cached_document_that_no_longer_validates_is_read_from_its_file(
    config: Path, cache_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cached_load([config], cache_path)
    edit(cache_path, '"state":"connected"', '"state":"nonsense"')
    expected = load([config])
    seen = parses(monkeypatch)
    assert cached_load([config], cache_path) == expected
    assert seen == ["acme.yaml", "globex.yaml", "initech.yaml"]


def test_a_cache_others_may_write_is_not_trusted(
    config: Path, cache_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cached_load([config], cache_path)
    edit(cache_path, "acme-live", "planted-name")
    cache_path.chmod(0o664)
    seen = parses(monkeypatch)
    names = {d.name for d in cached_load([config], cache_path)}  # type: ignore[attr-defined]
    assert "planted-name" not in names and "acme-live" in names
    assert len(seen) == 4
    assert stat.S_IMODE(cache_path.stat().st_mode) == 0o600  # replaced by a private one


def test_a_symlink_in_place_of_the_cache_is_not_followed(
    config: Path, cache_path: Path, tmp_path: Path
) -> None:
    cached_load([config], cache_path)
    elsewhere = tmp_path / "elsewhere.jsonl"
    cache_path.rename(elsewhere)
    cache_path.symlink_to(elsewhere)
    cache = FileDocumentCache(cache_path)
    assert cache.get(spec.file_digest((config / "acme.yaml").read_bytes())) is None
    cache.close()


@pytest.mark.parametrize(
    "damage",
    [
        b"not json at all\n",
        b"",
        b'{"format": "brightback-document-cache", "reader": "another", "version": 1}\n',
        None,  # the right header, then a cut entry line
    ],
)
def test_a_damaged_cache_is_a_miss_never_an_error(
    config: Path, cache_path: Path, damage: bytes | None
) -> None:
    cached_load([config], cache_path)
    data = cache_path.read_bytes()
    cache_path.write_bytes(data[: len(data) - 20] if damage is None else damage)
    assert cached_load([config], cache_path) == load([config])
    assert cached_load([config], cache_path) == load([config])  # and rewritten whole


def test_an_unchanged_config_leaves_the_cache_file_untouched(
    config: Path, cache_path: Path
) -> None:
    cached_load([config], cache_path)
    before = os.stat(cache_path)
    cached_load([config], cache_path)
    after = os.stat(cache_path)
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)


def test_files_gone_from_a_complete_load_are_dropped_and_kept_after_an_incomplete_one(
    config: Path, cache_path: Path
) -> None:
    cached_load([config], cache_path)
    entries = len(cache_path.read_text("utf-8").splitlines()) - 1
    assert entries == 4
    (config / "initech.yaml").unlink()
    (config / "broken.yaml").write_text("apiVersion: brightback-gitops/v1alpha1\n", "utf-8")
    with pytest.raises(SpecError):
        cached_load([config], cache_path, complete=False)
    assert len(cache_path.read_text("utf-8").splitlines()) - 1 == 4  # nothing changed
    (config / "broken.yaml").unlink()
    cached_load([config], cache_path)
    assert len(cache_path.read_text("utf-8").splitlines()) - 1 == 3


def test_a_directory_walk_still_skips_other_tools_files(config: Path, cache_path: Path) -> None:
    (config / "Pulumi.yaml").write_text("name: infra\nruntime: python\n", "utf-8")
    (config / "workflow.yml").write_text("on: push\njobs: {}\n", "utf-8")
    first = cached_load([config], cache_path)
    assert cached_load([config], cache_path) == first == load([config])
    assert "infra" not in cache_path.read_text("utf-8")


def test_a_file_with_a_key_like_literal_is_never_written_to_the_cache(
    config: Path, cache_path: Path
) -> None:
    literal = "live_" + "Q" * 24
    leaked = re.sub(r"apiKeyFromEnv: \S+", f"apiKey: {literal}", document("leaky"))
    (config / "leaky.yaml").write_text(leaked, "utf-8")
    with pytest.raises(SpecError) as caught:
        cached_load([config], cache_path, complete=False)
    assert literal not in str(caught.value)
    assert literal not in cache_path.read_text("utf-8")


def test_a_document_json_would_not_give_back_exactly_is_not_kept(cache_path: Path) -> None:
    """The YAML reader makes every key a string, so JSON gives its documents back exactly,
    NaN aside: a file holding one is parsed every pass instead."""
    digest, kept = spec.file_digest(b"one"), spec.file_digest(b"two")
    cache = FileDocumentCache(cache_path)
    cache.put(digest, [({"x": float("nan")}, 1, 1, ())])
    cache.put(kept, [({"labels": {"1": "one"}, "n": 1, "x": 2.5, "ok": True}, 3, 1, ((4, 5),))])
    cache.save(complete=True)
    cache = FileDocumentCache(cache_path)
    assert cache.get(digest) is None
    assert cache.get(kept) == [
        ({"labels": {"1": "one"}, "n": 1, "x": 2.5, "ok": True}, 3, 1, ((4, 5),))
    ]
    cache.close()


def test_the_cache_file_is_private_and_holds_one_line_per_file(
    config: Path, cache_path: Path
) -> None:
    cached_load([config], cache_path)
    assert stat.S_IMODE(cache_path.stat().st_mode) == 0o600
    header, *entries = cache_path.read_text("utf-8").splitlines()
    assert json.loads(header)["format"] == "brightback-document-cache"
    digests = {line.split(" ", 1)[0] for line in entries}
    files = sorted(config.glob("*.yaml"))
    assert digests == {spec.file_digest(f.read_bytes()).hex() for f in files}


def test_a_full_disk_loses_only_the_new_entries_never_the_load_or_the_old_cache(
    config: Path, cache_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cached_load([config], cache_path)
    before = os.stat(cache_path)
    (config / "globex.yaml").write_text(document("globex", name="globex-renamed"), "utf-8")

    def no_space(*_args: object, **_kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tempfile, "TemporaryFile", no_space)
    assert cached_load([config], cache_path) == load([config])
    after = os.stat(cache_path)
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)
