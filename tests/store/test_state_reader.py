"""The state file read one site entry at a time: the same document and the same refusals
as a whole-file load, whatever the window size, with only entries' texts handed on."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from reconciler.fleet import state_schema
from reconciler.fleet.state_schema import StateShapeError, parse_state, read_state


def fleet_state(count: int) -> dict[str, Any]:
    return {
        "format": "brightback-gitops/state/v1",
        "passes": 12345,
        "writer": {"pid": 1, "host": "höst"},
        "sites": {
            f"s{n}": {
                "site": f"s{n}",
                "name": f"Sïte {n} ✓",
                "spec": {"apiVersion": "v", "spec": {"reasonCodes": ["a", "b"], "n": n * 1001}},
                "last_version": n * 7919,
                "last_seen_at": 1.5 + n,
                "history": [{"pass": n, "at": 2.25, "fields": ["x"], "resolution": "kept"}],
            }
            for n in range(count)
        },
    }


@pytest.mark.parametrize("window", [1, 2, 3, 7, 64, 1 << 20])
@pytest.mark.parametrize("indent", [None, 2])
def test_any_window_reads_the_document_json_loads_reads(
    monkeypatch: pytest.MonkeyPatch, window: int, indent: int | None
) -> None:
    """Windows cut numbers, strings and multi-byte characters anywhere."""
    monkeypatch.setattr(state_schema, "WINDOW_BYTES", window)
    data = json.dumps(fleet_state(9), indent=indent, ensure_ascii=False).encode()
    assert parse_state(data) == json.loads(data)


def test_entries_are_handed_on_as_compact_text_and_the_rest_kept_as_values() -> None:
    document = fleet_state(3)
    texts: dict[str, str] = {}
    top = read_state(io.BytesIO(json.dumps(document, indent=2).encode()), texts.__setitem__)
    assert top == {**document, "sites": {}}
    assert list(texts) == ["s0", "s1", "s2"]
    assert texts == {
        site: json.dumps(entry, sort_keys=True, separators=(",", ":"))
        for site, entry in document["sites"].items()
    }


def test_a_damaged_entry_is_refused_naming_it_whatever_the_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(state_schema, "WINDOW_BYTES", 5)
    document = fleet_state(5)
    document["sites"]["s3"]["failures"] = "2"
    with pytest.raises(StateShapeError, match=r"^sites\.s3\.failures: '2' is not of type"):
        parse_state(json.dumps(document).encode())


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (b'{"format": "v", "sites": {"a": {"site": "a",}}}', "not JSON"),
        (b'{"format": "v"} trailing', "not JSON (extra data"),
        (b'{"format": "v", "sites": {"a": {"site": "a"', "not JSON"),
        (b"", "not JSON"),
        (b"[]", "not JSON (expecting '{'"),
        (b'{"a": 1, "sites": {"x": {"site": "x", "name": "\xc3"}}}', "not UTF-8 text (byte 47)"),
    ],
)
def test_broken_text_is_refused_with_where_it_broke(text: bytes, why: str) -> None:
    with pytest.raises(StateShapeError) as caught:
        parse_state(text)
    assert str(caught.value).startswith(why)
    if why == "not JSON":
        assert "at character" in str(caught.value)


def test_an_entry_too_big_to_be_a_site_is_refused_before_it_is_buffered_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An unterminated string would otherwise pull the rest of the file into memory."""
    monkeypatch.setattr(state_schema, "WINDOW_BYTES", 64)
    monkeypatch.setattr(state_schema, "MAX_ENTRY_CHARS", 256)
    reads: list[int] = []

    class Counting(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            reads.append(1)
            return super().read(size)

    data = b'{"sites": {"a": {"site": "' + b"x" * 100_000 + b'"}}}'
    with pytest.raises(StateShapeError, match="a value of more than 256 characters"):
        read_state(Counting(data), lambda _k, _t: None)
    assert len(reads) < 20
