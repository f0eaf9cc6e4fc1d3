"""`brightback demo`: the README's 60-second tour against an emulator it starts itself.

plan -> apply -> plan again (in sync or waiting) -> a person changes a setting in the admin
console -> plan shows the drift -> apply corrects it. Everything runs on loopback with a
throw-away database in --workdir; the example sites' API keys come from the emulator's
seed and are only ever placed in this process's environment.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from reconciler.errors import BrightbackError
from reconciler.model import Desired, IntegrationMode
from reconciler.rules import hands_off
from reconciler.spec import load

EXAMPLES_SITES = Path("examples") / "sites"
EXAMPLES_SEED = Path("examples") / "emulator-seed.yaml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workdir", type=Path, default=Path(".demo"), help="scratch directory (default .demo)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the workdir (emulator database) afterwards"
    )
    parser.add_argument(
        "--examples",
        type=Path,
        default=None,
        help="the repository's examples/ directory (default: found next to the package or cwd)",
    )


def find_examples(explicit: Path | None) -> Path:
    candidates: list[Path] = [explicit] if explicit else [Path.cwd() / "examples"]
    candidates.append(Path(__file__).resolve().parents[2] / "examples")
    for candidate in candidates:
        if (
            candidate
            and (candidate / "sites").is_dir()
            and (candidate / "emulator-seed.yaml").is_file()
        ):
            return candidate
    raise BrightbackError(
        "cannot find examples/sites and examples/emulator-seed.yaml; run from the repository "
        "root or pass --examples"
    )


def seed_keys(seed: Path) -> dict[str, str]:
    """site -> API key, from the emulator seed (the only place the demo's keys live)."""
    document = yaml.safe_load(seed.read_text(encoding="utf-8")) or {}
    sites = document.get("sites", []) if isinstance(document, Mapping) else []
    if isinstance(sites, Mapping):  # {name: {...}} form
        sites = [{"site": name, **(value or {})} for name, value in sites.items()]
    keys: dict[str, str] = {}
    for entry in sites:
        if isinstance(entry, Mapping) and entry.get("site") and entry.get("api_key"):
            keys[str(entry["site"])] = str(entry["api_key"])
    return keys


def export_keys(desired: list[Desired], keys: Mapping[str, str]) -> list[str]:
    """Put each example site's key where its spec says (env var or file); names of misses."""
    missing = []
    for item in desired:
        key = keys.get(item.site)
        if key is None:
            missing.append(item.name)
            continue
        if item.credentials.api_key_env:
            os.environ[item.credentials.api_key_env] = key
        elif item.credentials.api_key_file and not Path(item.credentials.api_key_file).exists():
            path = Path(item.credentials.api_key_file)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(key + "\n", encoding="utf-8")
            path.chmod(0o600)
    return missing


def banner(text: str) -> None:
    print(f"\n=== {text}", flush=True)


def run(args: argparse.Namespace) -> int:
    from emulator.embedded import start_emulator
    from reconciler.cli import main as cli

    examples = find_examples(args.examples)
    sites_dir, seed = examples / "sites", examples / "emulator-seed.yaml"
    desired = load([sites_dir])
    workdir: Path = args.workdir
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    missing = export_keys(desired, seed_keys(seed))
    if missing:
        print(f"note: the seed has no key for {', '.join(missing)}", file=sys.stderr)
    failures: list[str] = []
    try:
        with start_emulator(workdir / "emulator.sqlite3", seed=seed) as emulator:
            common = ["--api-url", emulator.url_template]
            print(f"emulator on {emulator.base_url} (database {workdir / 'emulator.sqlite3'})")
            banner(f"brightback plan {sites_dir}   # what would change (reads only)")
            _expect(cli(["plan", str(sites_dir), *common]), {0, 2}, "first plan", failures)
            banner(f"brightback apply {sites_dir}  # converge")
            _expect(cli(["apply", str(sites_dir), *common]), {0, 2}, "apply", failures)
            banner(f"brightback plan {sites_dir}   # again: in sync, or waiting for publish")
            _expect(cli(["plan", str(sites_dir), *common]), {0, 2}, "second plan", failures)
            target = _click_in_ui(emulator.admin, desired)
            if target is not None:
                site, mode = target
                banner(
                    f"someone switched {site.site} to {mode.value} in the admin console; "
                    "plan reports the drift"
                )
                _expect(cli(["plan", str(sites_dir), *common]), {2}, "drift plan", failures)
                banner(f"brightback apply {sites_dir}  # corrects it")
                _expect(cli(["apply", str(sites_dir), *common]), {2}, "drift apply", failures)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    if failures:
        print("\ndemo failed: " + "; ".join(failures), file=sys.stderr)
        return 1
    print("\ndemo finished: every step behaved as expected.")
    return 0


def _expect(code: int, wanted: set[int], what: str, failures: list[str]) -> None:
    if code not in wanted:
        failures.append(f"{what} exited {code}, expected {' or '.join(map(str, sorted(wanted)))}")


def _click_in_ui(admin: Any, desired: list[Desired]) -> tuple[Desired, IntegrationMode] | None:
    """Flip the mode of the first fully managed, connected example site, as a person would
    in the admin console. Sites the console refuses (not connected yet) are passed over."""
    for item in sorted(desired, key=lambda d: d.name):
        if item.wants_connected and item.integrate_via is not None and not hands_off(item):
            other = next(m for m in IntegrationMode if m is not item.integrate_via)
            response = admin.ui(item.site, "update", integrate_via=other.value)
            if 200 <= response.status_code < 300:
                return item, other
    return None


__all__ = [
    "EXAMPLES_SEED",
    "EXAMPLES_SITES",
    "add_arguments",
    "banner",
    "export_keys",
    "find_examples",
    "run",
    "seed_keys",
]
