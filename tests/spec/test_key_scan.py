"""Inline API keys are found wherever they are, keys included, in document order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler._schema import looks_like_api_key
from reconciler.spec import _key_like_paths, validate_document

KEY = "live_" + "A1b2C3d4E5f6G7h8J9"
STRINGS = st.sampled_from([KEY, f" {KEY}\n", "test_" + "x" * 16, "test_short", "live", "acme", ""])
SCALARS = st.one_of(STRINGS, st.integers(), st.booleans(), st.none())
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(STRINGS, inner, max_size=3)
    ),
    max_leaves=12,
)


def every_scalar(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """The plain walk: every (path, scalar), a mapping's keys included as scalars."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*path, key), key
            yield from every_scalar(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from every_scalar(item, (*path, index))
    else:
        yield path, value


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(STRINGS, VALUES, max_size=4))
def test_key_scan_finds_what_a_full_walk_finds(document: dict[str, Any]) -> None:
    expected = [path for path, scalar in every_scalar(document) if looks_like_api_key(scalar)]
    assert _key_like_paths(document, ()) == expected


def test_a_pasted_key_in_a_list_and_as_a_label_name_is_reported_at_each_place() -> None:
    document = {"metadata": {"labels": {KEY: "x"}, "annotations": {"a": [1, KEY]}}}
    fields = [p.field for p in validate_document(document) if "looks like an API key" in p.message]
    assert fields == ["metadata.labels.<key-like name>", "metadata.annotations.a[1]"]
    assert all(KEY not in str(p) for p in validate_document(document))
