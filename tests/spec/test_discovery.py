"""Directory walks find the same files, in the same order, as `sorted(rglob)` did.

The walk was rewritten to make fewer system calls per file; its order decides the order of
problems and of sites, and its resolved paths decide duplicates and where relative key
files are looked up, so all three must be what the straightforward version gives.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import SpecError
from reconciler.spec import _discover, discover_files, load

YAML_SUFFIXES = (".yaml", ".yml")


def reference(root: Path) -> list[tuple[Path, Path]]:
    """The straightforward walk: every YAML file under root, symlinked directories
    followed, hidden entries skipped, sorted by path parts."""
    files = sorted(
        (
            Path(d) / name
            for d, _, names in os.walk(root, followlinks=True)
            for name in names
            if name.endswith(YAML_SUFFIXES) and (Path(d) / name).is_file()
        ),
        key=lambda p: p.relative_to(root).parts,
    )
    files = [
        p for p in files if not any(part.startswith(".") for part in p.relative_to(root).parts)
    ]
    seen: set[Path] = set()
    out = []
    for path in files:
        if path.resolve() not in seen:
            seen.add(path.resolve())
            out.append((path, path.resolve()))
    return out


def make_tree(root: Path) -> None:
    for name in [
        "a/b.yaml",
        "a-c.yaml",
        "a.yml",
        "z/y/x.yaml",
        "Z.yaml",
        "notes.txt",
        "x.yaml.bak",
        ".hidden.yaml",
        ".git/config.yaml",
        "a/.cache/c.yaml",
        "real/site.yaml",
    ]:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("kind: Other\n", encoding="utf-8")
    (root / "dir.yaml").mkdir()  # a directory with a YAML name is not a file
    (root / "linked.yaml").symlink_to(root / "real" / "site.yaml")  # same file twice
    (root / "outside.yaml").symlink_to(root / "z" / "y" / "x.yaml")
    (root / "linked-dir").symlink_to(root / "real", target_is_directory=True)  # followed


def as_paths(found: Sequence[tuple[str | Path, str | None]]) -> list[tuple[Path, Path]]:
    """The walk keeps its files as strings (memory); the reference is Paths."""
    return [(Path(path), Path(resolved or path)) for path, resolved in found]


def test_walk_matches_sorted_rglob_in_files_order_and_resolution(tmp_path: Path) -> None:
    root = tmp_path / "fleet"
    root.mkdir()
    make_tree(root)
    found, problems = _discover([root])
    assert problems == []
    assert as_paths(found) == reference(root)
    names = [str(Path(p).relative_to(root)) for p, _ in found]
    assert names[:4] == ["Z.yaml", "a/b.yaml", "a-c.yaml", "a.yml"]  # by parts, not by text


def test_walk_through_a_symlinked_root_resolves_to_the_real_files(tmp_path: Path) -> None:
    real = tmp_path / "real-fleet"
    real.mkdir()
    make_tree(real)
    alias = tmp_path / "alias"
    alias.symlink_to(real, target_is_directory=True)
    found, _ = _discover([alias])
    assert as_paths(found) == reference(alias)
    assert all(str(resolved).startswith(str(real.resolve())) for _, resolved in found)


def test_the_same_file_named_twice_is_loaded_once(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text("kind: Other\n", encoding="utf-8")
    files, problems = discover_files([path, tmp_path, str(path)])
    assert (files, problems) == ([path], [])


def write_site(path: Path, site: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"""apiVersion: brightback-gitops/v1alpha1
kind: BrightbackIntegration
metadata: {{name: {site}-live}}
spec:
  site: {site}
  credentials: {{apiKeyFromEnv: KEY}}
  connection: {{state: disconnected}}
""",
        encoding="utf-8",
    )


def test_a_symlinked_subdirectory_is_followed_and_its_sites_loaded(tmp_path: Path) -> None:
    """Skipping it made its sites look removed: orphans, disconnected by policy."""
    shared = tmp_path / "shared"
    write_site(shared / "billing.yaml", "billing")
    config = tmp_path / "config"
    write_site(config / "acme.yaml", "acme")
    (config / "team-b").symlink_to(shared, target_is_directory=True)

    assert sorted(d.site for d in load([config])) == ["acme", "billing"]


def test_a_symlink_loop_is_refused_with_a_message_and_nothing_loads(tmp_path: Path) -> None:
    config = tmp_path / "config"
    write_site(config / "sub" / "acme.yaml", "acme")
    (config / "sub" / "back").symlink_to(config, target_is_directory=True)

    with pytest.raises(SpecError) as caught:
        load([config])
    [problem] = caught.value.problems
    assert problem.file == str(config / "sub" / "back")
    assert "symbolic link loop" in problem.message


def test_an_unreadable_directory_fails_the_load_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its sites would otherwise be orphans. As root (CI) permissions do not stop a read,
    so the denial is simulated there; as a user the directory is really made unreadable."""
    config = tmp_path / "config"
    write_site(config / "acme.yaml", "acme")
    locked = config / "team-b"
    write_site(locked / "billing.yaml", "billing")
    if os.geteuid() == 0:
        real_scandir = os.scandir

        def scandir(path: Any) -> Any:
            if str(path) == str(locked):
                raise PermissionError(13, "Permission denied", str(path))
            return real_scandir(path)

        monkeypatch.setattr(os, "scandir", scandir)
    else:
        locked.chmod(0)
    try:
        with pytest.raises(SpecError) as caught:
            load([config])
    finally:
        locked.chmod(0o755)
    [problem] = caught.value.problems
    assert problem.file == str(locked)
    assert "cannot read directory: Permission denied" in problem.message


def test_a_broken_symlink_or_fifo_with_a_yaml_name_is_an_error_not_a_skip(tmp_path: Path) -> None:
    config = tmp_path / "config"
    write_site(config / "acme.yaml", "acme")
    (config / "moved.yaml").symlink_to(tmp_path / "gone.yaml")
    os.mkfifo(config / "pipe.yaml")

    with pytest.raises(SpecError) as caught:
        load([config])
    messages = {Path(p.file).name: p.message for p in caught.value.problems}
    assert messages["moved.yaml"].startswith("broken symbolic link")
    assert "named pipe" in messages["pipe.yaml"]


def test_a_fifo_named_on_the_command_line_is_named_as_such(tmp_path: Path) -> None:
    fifo = tmp_path / "sites.yaml"
    os.mkfifo(fifo)
    with pytest.raises(SpecError) as caught:
        load([fifo])
    assert "named pipe (FIFO), not a regular file" in caught.value.problems[0].message
