"""Hostile input: whatever bytes arrive, the loader answers with the project's own error
(or valid Desired values), never a crash, a traceback or unbounded work."""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.errors import SpecError
from reconciler.spec import load_text

from .test_loader import VALID

TOKENS = [
    *string.printable,
    "&a ",
    "*a",
    "<<: ",
    "---\n",
    "\t",
    "\ufeff",
    "é",
    ": ",
    "- ",
    "{",
    "[",
]
YAMLISH = st.lists(st.sampled_from(TOKENS), max_size=200).map("".join)


def _load_or_spec_error(text: str) -> None:
    try:
        load_text(text, "fuzz.yaml")
    except SpecError as exc:
        assert exc.problems, "a SpecError always carries at least one problem"
        for problem in exc.problems:
            assert problem.file == "fuzz.yaml"
            assert problem.line >= 1 and problem.column >= 1


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_arbitrary_text_gives_only_spec_errors(text: str) -> None:
    _load_or_spec_error(text)


@settings(max_examples=400, deadline=None)
@given(YAMLISH)
def test_yaml_shaped_noise_gives_only_spec_errors(text: str) -> None:
    _load_or_spec_error(text)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=len(VALID) - 1), st.text(min_size=1, max_size=20))
def test_a_mutated_valid_document_gives_only_spec_errors(offset: int, insert: str) -> None:
    _load_or_spec_error(VALID[:offset] + insert + VALID[offset:])
