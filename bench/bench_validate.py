"""`brightback validate` against check-jsonschema on the same files and the same schema.

Issue 8 asks validation to be at least 5x faster than the reference validator. Both run as
one fresh process each, from the same venv, over the same N generated documents (one per
file, a few deliberately invalid, as a real PR check sees them); each is run three times
and the median wall time is compared. Both must reach the same verdict (invalid), or the
comparison would be between two different amounts of work.

    .venv/bin/python bench/bench_validate.py [--docs 10000] [--runs 3] [--invalid-every 500]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

# bench/ is sys.path[0] when a bench runs as a script, so its helpers import directly.
from _common import (
    SCHEMA,
    Measured,
    bench_document,
    broken_document,
    goal,
    median,
    print_json_line,
    print_table,
    run_measured,
    venv_script,
)

GOAL_SPEEDUP = 5.0


def write_fleet(root: Path, docs: int, invalid_every: int) -> tuple[list[str], int]:
    """Write `docs` files under root/sites; return their relative paths and the invalid count."""
    folder = root / "sites"
    folder.mkdir()
    names: list[str] = []
    invalid = 0
    for i in range(docs):
        broken = invalid_every > 0 and i % invalid_every == invalid_every - 1
        text = broken_document(i) if broken else bench_document(i)
        invalid += broken
        name = f"sites/{i:05d}.yaml"
        (root / name).write_text(text)
        names.append(name)
    return names, invalid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--invalid-every", type=int, default=500, help="one broken doc per N")
    parser.add_argument("--quick", action="store_true", help="1,000 documents, one run each")
    args = parser.parse_args(argv)
    if args.quick:
        args.docs, args.runs = 1_000, 1

    brightback = venv_script("brightback")
    checker = venv_script("check-jsonschema")
    with tempfile.TemporaryDirectory(prefix="bench-validate-") as tmp:
        root = Path(tmp)
        files, invalid = write_fleet(root, args.docs, args.invalid_every)
        commands = {
            "brightback validate": [brightback, "validate", "--quiet", "sites"],
            "check-jsonschema": [checker, "--schemafile", str(SCHEMA), *files],
        }
        # One untimed run each warms the page cache and .pyc files for both tools alike.
        for argv_ in commands.values():
            run_measured(argv_, cwd=root, timeout=600)
        results: dict[str, list[Measured]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, argv_ in commands.items():  # interleaved: drift hits both equally
                results[name].append(run_measured(argv_, cwd=root, timeout=600))

    rows = []
    for name, runs in results.items():
        rows.append(
            {
                "tool": name,
                "docs": args.docs,
                "median_s": median([r.wall_s for r in runs]),
                "min_s": min(r.wall_s for r in runs),
                "max_s": max(r.wall_s for r in runs),
                "peak_rss_mb": max(r.peak_rss_mb for r in runs),
                "exit": runs[-1].returncode,
            }
        )
    ours, theirs = rows[0], rows[1]
    speedup = theirs["median_s"] / ours["median_s"]
    # Both must reach the verdict the fleet deserves (reject it when it holds broken
    # documents), or they did not do the same job.
    expected_exit = 1 if invalid else 0
    same_verdict = all(r.returncode == expected_exit for runs in results.values() for r in runs)
    print_table(rows, title=f"validate {args.docs} documents ({invalid} invalid), {args.runs} runs")
    print(f"speedup: {speedup:.1f}x (goal >= {GOAL_SPEEDUP:.0f}x); same verdict: {same_verdict}")
    if not same_verdict:
        for name, runs in results.items():
            print(f"{name} stderr tail: {runs[-1].stderr[-400:]!r}", file=sys.stderr)
    print_json_line(
        {
            "bench": "validate",
            "docs": args.docs,
            "invalid_docs": invalid,
            "runs": args.runs,
            "brightback_median_s": round(ours["median_s"], 3),
            "check_jsonschema_median_s": round(theirs["median_s"], 3),
            "brightback_peak_rss_mb": round(ours["peak_rss_mb"], 1),
            "check_jsonschema_peak_rss_mb": round(theirs["peak_rss_mb"], 1),
            "speedup": round(speedup, 2),
            "same_verdict": same_verdict,
            "goals": [
                goal("speedup vs check-jsonschema", round(speedup, 2), ">= 5x", speedup >= 5),
                goal("both reach the same verdict", same_verdict, "true", same_verdict),
            ],
        }
    )
    return 0 if same_verdict else 1


if __name__ == "__main__":
    sys.exit(main())
