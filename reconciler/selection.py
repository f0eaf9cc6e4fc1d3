"""Which documents a run covers: `--site` names, `--selector` labels, and the empty config.

`--selector brand=acme,env=live` is kubectl's `-l` with equality only: every term must
match a label of the document. A selector that matches nothing is an error, like an
unknown `--site` name: a typo must not become a run that does nothing and reports success.
An empty config is refused for the same reason (a ConfigMap built from the wrong directory
is empty), unless `--allow-empty` says it is meant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from reconciler.errors import SpecError, SpecProblem
from reconciler.model import Desired

__all__ = ["empty_config_error", "matches", "parse_selector", "select_by_labels"]


def parse_selector(text: str) -> dict[str, str]:
    """`brand=acme,env=live` -> {"brand": "acme", "env": "live"}; ValueError when malformed."""
    terms: dict[str, str] = {}
    for raw in text.split(","):
        term = raw.strip()
        key, sep, value = term.partition("=")
        key, value = key.strip(), value.strip().removeprefix("=")  # `==` as kubectl allows
        if not sep or not key or not value or "!" in key:
            raise ValueError(f"not a label selector term: {term!r} (use key=value[,key=value])")
        if key in terms and terms[key] != value:
            raise ValueError(f"label {key!r} is given two values")
        terms[key] = value
    return terms


def matches(labels: Mapping[str, str], selector: Mapping[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def select_by_labels(
    desired: Sequence[Desired], selector: Mapping[str, str] | None
) -> list[Desired]:
    """The documents whose labels match every term; none matching is an error."""
    if not selector:
        return list(desired)
    chosen = [d for d in desired if matches(d.labels, selector)]
    if not chosen and desired:
        shown = ",".join(f"{k}={v}" for k, v in selector.items())
        raise SpecError(
            [SpecProblem("--selector", 1, 1, "", f"no document has the labels {shown}")]
        )
    return chosen


def empty_config_error(paths: Sequence[str | Path]) -> SpecError:
    shown = ", ".join(str(p) for p in paths) or "-"
    return SpecError(
        [
            SpecProblem(
                str(paths[0]) if paths else "-",
                1,
                1,
                "",
                f"no BrightbackIntegration documents found in {shown}: a run over no sites "
                "does nothing (check the path, or the ConfigMap it came from); pass "
                "--allow-empty if an empty config is meant",
            )
        ]
    )
