"""Directory walks find the same files, in the same order, as `sorted(rglob)` did.

The walk was rewritten to make fewer system calls per file; its order decides the order of
problems and of sites, and its resolved paths decide duplicates and where relative key
files are looked up, so all three must be what the straightforward version gives.
"""

from __future__ import annotations

from pathlib import Path

from reconciler.spec import _discover, discover_files

YAML_SUFFIXES = (".yaml", ".yml")


def reference(root: Path) -> list[tuple[Path, Path]]:
    """The original walk: every YAML file under root, hidden entries skipped, sorted."""
    files = sorted(
        p
        for p in root.rglob("*")
        if p.suffix in YAML_SUFFIXES
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
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
    (root / "linked-dir").symlink_to(root / "real", target_is_directory=True)  # not followed
    (root / "broken.yaml").symlink_to(root / "missing.yaml")


def test_walk_matches_sorted_rglob_in_files_order_and_resolution(tmp_path: Path) -> None:
    root = tmp_path / "fleet"
    root.mkdir()
    make_tree(root)
    found, problems = _discover([root])
    assert problems == []
    assert found == reference(root)
    names = [str(Path(p).relative_to(root)) for p, _ in found]
    assert names[:4] == ["Z.yaml", "a/b.yaml", "a-c.yaml", "a.yml"]  # by parts, not by text


def test_walk_through_a_symlinked_root_resolves_to_the_real_files(tmp_path: Path) -> None:
    real = tmp_path / "real-fleet"
    real.mkdir()
    make_tree(real)
    alias = tmp_path / "alias"
    alias.symlink_to(real, target_is_directory=True)
    found, _ = _discover([alias])
    assert found == reference(alias)
    assert all(str(resolved).startswith(str(real.resolve())) for _, resolved in found)


def test_the_same_file_named_twice_is_loaded_once(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text("kind: Other\n", encoding="utf-8")
    files, problems = discover_files([path, tmp_path, str(path)])
    assert (files, problems) == ([path], [])
