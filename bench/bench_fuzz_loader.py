"""Hostile input against the loader: only clean answers, bounded time and memory.

`reconciler.spec.load_text` reads files from pull requests, which anyone can write. For
every input it must return Desired values or raise SpecError (with at least one problem),
nothing else, within a bounded time and without blowing up memory (issue 7). This feeds
it N seeded hostile inputs: alias bombs, deep nesting, huge scalars, control characters,
random text, odd tags and numbers, and mutations of valid documents.

    .venv/bin/python bench/bench_fuzz_loader.py [--inputs 10000] [--seed 7]
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from types import FrameType

# bench/ is sys.path[0] when a bench runs as a script, so its helpers import directly.
from _common import bench_document, goal, print_json_line, print_table, self_peak_rss_mb

from reconciler.errors import SpecError, SpecProblem
from reconciler.model import Desired
from reconciler.spec import load_text

MAX_MS_GOAL = 1_000.0  # one input may never cost a second
PEAK_RSS_GOAL_MB = 256.0
HANG_S = 20  # an input still running after this is a violation, not a stuck bench


def alias_bomb(rng: random.Random) -> str:
    levels = rng.randint(3, 12)
    width = rng.randint(2, 12)
    lines = ['a0: &a0 ["lol"]']
    for i in range(1, levels):
        refs = ", ".join(f"*a{i - 1}" for _ in range(width))
        lines.append(f"a{i}: &a{i} [{refs}]")
    doc = "\n".join(lines) + f"\nspec: *a{levels - 1}\n"
    return rng.choice([doc, bench_document(rng.randint(0, 99)) + "---\n" + doc])


def deep_nesting(rng: random.Random) -> str:
    depth = rng.choice([33, 100, 1_000, 10_000, 50_000])
    style = rng.randrange(3)
    if style == 0:
        return "[" * depth + "]" * depth
    if style == 1:
        return "{a: " * depth + "1" + "}" * depth
    return "".join(f"{'  ' * i}k{i}:\n" for i in range(min(depth, 2_000))) + "  " * depth + "v\n"


def huge_scalar(rng: random.Random) -> str:
    size = rng.choice([4_097, 65_536, 1_000_000, 8 * 1024 * 1024 + 1])
    body = bench_document(rng.randint(0, 99))
    filler = rng.choice(["x" * size, "9" * size, "é" * (size // 2)])
    spot = rng.choice(["  site: ", "  name: ", "    brightbackSite: "])
    return body.replace(spot, spot + filler, 1) if rng.random() < 0.7 else filler


def control_chars(rng: random.Random) -> str:
    text = list(bench_document(rng.randint(0, 99)))
    for _ in range(rng.randint(1, 5)):
        char = chr(rng.choice([*range(0, 9), 11, 12, *range(14, 32), 0x7F, 0x85, 0x9B, 0xFEFF]))
        text.insert(rng.randrange(len(text) + 1), char)
    return "".join(text)


def random_text(rng: random.Random) -> str:
    size = rng.choice([1, 10, 100, 1_000, 10_000])
    if rng.random() < 0.5:  # arbitrary bytes as a file would hold them, decoded leniently
        return bytes(rng.getrandbits(8) for _ in range(size)).decode("latin-1")
    alphabet = "{}[]:,-?&*!|>'\"%@`#\n\t abc01"
    return "".join(rng.choice(alphabet) for _ in range(size))


def odd_values(rng: random.Random) -> str:
    body = bench_document(rng.randint(0, 99))
    replacement = rng.choice(
        [
            "  site: !!python/object/apply:os.system ['true']",
            "  site: !!binary aGVsbG8=",
            "  site: 2026-11-25",
            "  site: " + "9" * 5_000,
            "  site: .nan",
            "  site: 0x_ff",
            "  site: [1, 2]",
            "  site: null",
            "  site: &s acme\n  site: *s",
            "  <<: {site: merged}",
            "  ? [complex, key]\n  : 1",
            "  site: !custom acme",
        ]
    )
    return "\n".join(
        replacement if line.startswith("  site: ") else line for line in body.splitlines()
    )


def mutated_valid(rng: random.Random) -> str:
    text = bench_document(rng.randint(0, 999))
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(4)
        at = rng.randrange(len(text) + 1)
        if op == 0:  # delete a span
            text = text[:at] + text[at + rng.randint(1, 20) :]
        elif op == 1:  # duplicate a span
            text = text[:at] + text[at : at + rng.randint(1, 40)] + text[at:]
        elif op == 2:  # flip a character
            text = text[:at] + chr(rng.randint(32, 0x2FF)) + text[at + 1 :]
        else:  # swap two lines
            lines = text.splitlines()
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
    if rng.random() < 0.1:  # many documents in one file, repeated: duplicate sites and names
        text = "---\n".join([text] * rng.randint(2, 200))
    return text


GENERATORS: dict[str, Callable[[random.Random], str]] = {
    "alias_bomb": alias_bomb,
    "deep_nesting": deep_nesting,
    "huge_scalar": huge_scalar,
    "control_chars": control_chars,
    "random_text": random_text,
    "odd_values": odd_values,
    "mutated_valid": mutated_valid,
}
WEIGHTS = {"huge_scalar": 0.5, "deep_nesting": 0.5}  # the costly ones, still hundreds each


class Hang(Exception):
    """Raised by the alarm when one input runs longer than HANG_S."""


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise Hang


def classify(text: str) -> str:
    """'desired', 'no_documents', 'spec_error', or what else happened (a violation)."""
    try:
        result = load_text(text, "fuzz.yaml")
    except SpecError as exc:
        ok = exc.problems and all(isinstance(p, SpecProblem) for p in exc.problems)
        return "spec_error" if ok else "violation:SpecError without problems"
    except Hang:
        return f"violation:hang over {HANG_S}s"
    except BaseException as exc:  # anything else is exactly what this bench looks for
        return f"violation:{type(exc).__name__}: {str(exc)[:120]}"
    if isinstance(result, list) and all(isinstance(d, Desired) for d in result):
        return "desired" if result else "no_documents"  # e.g. only comments or `---`
    return f"violation:returned {type(result).__name__}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="1,000 inputs")
    args = parser.parse_args(argv)
    if args.quick:
        args.inputs = 1_000
    rng = random.Random(args.seed)
    names = list(GENERATORS)
    weights = [WEIGHTS.get(n, 1.0) for n in names]
    signal.signal(signal.SIGALRM, _on_alarm)

    outcomes: Counter[tuple[str, str]] = Counter()
    slowest: dict[str, float] = dict.fromkeys(names, 0.0)
    violations: list[str] = []
    rss_before = self_peak_rss_mb()
    started = time.perf_counter()
    for i in range(args.inputs):
        kind = rng.choices(names, weights)[0]
        text = GENERATORS[kind](rng)
        signal.alarm(HANG_S)
        t0 = time.perf_counter()
        outcome = classify(text)
        elapsed_ms = (time.perf_counter() - t0) * 1000
        signal.alarm(0)
        slowest[kind] = max(slowest[kind], elapsed_ms)
        if outcome.startswith("violation:"):
            violations.append(f"input {i} ({kind}, seed {args.seed}): {outcome[10:]}")
            outcome = "violation"
        outcomes[(kind, outcome)] += 1
    total_s = time.perf_counter() - started
    peak_rss = self_peak_rss_mb()

    rows = [
        {
            "input kind": kind,
            "inputs": sum(n for (k, _), n in outcomes.items() if k == kind),
            "desired": outcomes[(kind, "desired")],
            "no_documents": outcomes[(kind, "no_documents")],
            "spec_error": outcomes[(kind, "spec_error")],
            "violation": outcomes[(kind, "violation")],
            "max_ms": round(slowest[kind], 2),
        }
        for kind in names
    ]
    print_table(rows, title=f"loader fuzz: {args.inputs} inputs, seed {args.seed}")
    for line in violations[:20]:
        print("VIOLATION", line)
    max_ms = max(slowest.values())
    by_outcome = Counter[str]()
    for (_, outcome), n in outcomes.items():
        by_outcome[outcome] += n
    print(
        f"outcomes: {dict(by_outcome)}; max {max_ms:.1f} ms/input; "
        f"peak RSS {peak_rss:.1f} MB (before: {rss_before:.1f}); total {total_s:.1f} s"
    )
    print_json_line(
        {
            "bench": "fuzz_loader",
            "inputs": args.inputs,
            "seed": args.seed,
            "outcomes": dict(by_outcome),
            "by_kind": {
                r["input kind"]: {k: v for k, v in r.items() if k != "input kind"} for r in rows
            },
            "violations": len(violations),
            "max_ms_per_input": round(max_ms, 1),
            "mean_ms_per_input": round(total_s * 1000 / max(args.inputs, 1), 3),
            "peak_rss_mb": round(peak_rss, 1),
            "goals": [
                goal("violations", len(violations), "0", not violations),
                goal(
                    "max ms per input",
                    round(max_ms, 1),
                    f"<= {MAX_MS_GOAL:.0f}",
                    max_ms <= MAX_MS_GOAL,
                ),
                goal(
                    "peak RSS MB",
                    round(peak_rss, 1),
                    f"< {PEAK_RSS_GOAL_MB:.0f}",
                    peak_rss < PEAK_RSS_GOAL_MB,
                ),
            ],
        }
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
