"""Check a state file's bytes before anything trusts them: UTF-8, JSON, depth, shape.

A hand-edited or damaged state file used to surface as a TypeError, UnicodeDecodeError or
RecursionError somewhere in a pass, once after the pass's writes, so nothing was recorded and
the same writes repeated every pass. `read_state` is the one gate: whichever store holds the
file calls it on load and gets either the document's top-level fields and each site entry,
of the shape `schemas/state.schema.json` describes, or a `StateShapeError` naming the first
wrong field, before the pass reads or writes a single site.

It reads one site entry at a time. A 50,000-site state file is tens of MB of JSON;
`json.loads` of it held the text, every entry as dicts and then every `SiteState` at once,
and a second pass over a remembered fleet peaked at 400 MB where the first pass needed 103
(issue 17). Here the file is decoded in windows of `WINDOW_BYTES`; each site entry is
parsed, checked (depth, then the site's schema) and handed on as its text, and only the
few top-level fields are kept as values.
"""

from __future__ import annotations

import codecs
import io
import json
import re
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO

import jsonschema_rs

from reconciler._peer_json import too_deep
from reconciler._schema import load_schema
from reconciler.errors import StateShapeError

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "state.schema.json"
# The reconciler writes at most 6 levels (sites > site > spec > spec > policy > value);
# a site's last spec is a document of ours. Anything deeper is damage, refused before any
# recursive code (json encoder, schema validators) can hit Python's recursion limit.
MAX_DEPTH = 32
WINDOW_BYTES = 1 << 20
# One site entry is a few KB; one this big is damage, refused before it is buffered whole.
MAX_ENTRY_CHARS = 16 << 20
_SPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()

OnSite = Callable[[str, str], None]


@cache
def _schema() -> dict[str, Any]:
    return load_schema(SCHEMA_PATH)


def _site_schema() -> dict[str, Any]:
    return {"$defs": _schema()["$defs"], "$ref": "#/$defs/site"}


@cache
def _document_validator() -> Any:
    return jsonschema_rs.validator_for(_schema())


@cache
def _site_validator() -> Any:
    return jsonschema_rs.validator_for(_site_schema())


class _Window:
    """The part of the file not parsed yet, decoded: refilled as values need more."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._bytes_read = 0
        self.text = ""
        self.pos = 0
        self.dropped = 0  # characters of the file before `text`
        self.eof = False

    def fill(self) -> None:
        data = self._handle.read(WINDOW_BYTES)
        try:
            decoded = self._utf8.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            raise StateShapeError(f"not UTF-8 text (byte {self._bytes_read + exc.start})") from None
        self._bytes_read += len(data)
        self.eof = not data
        self.dropped += self.pos
        self.text = self.text[self.pos :] + decoded
        self.pos = 0

    def skip_space(self) -> None:
        while True:
            self.pos = _SPACE.match(self.text, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.text) or self.eof:
                return
            self.fill()

    def next_char(self) -> str:
        self.skip_space()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, char: str) -> None:
        if self.next_char() != char:
            raise self.not_json(f"expecting {char!r}")
        self.pos += 1

    def value(self) -> tuple[Any, str]:
        """The next JSON value and its text. A value that ends where the window ends may
        go on in the next window (a number, cut), so it is parsed again with more."""
        self.skip_space()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.text, self.pos)
            except RecursionError:
                raise StateShapeError("nested deeper than the JSON decoder can go") from None
            except json.JSONDecodeError as exc:
                if self.eof:
                    raise self.not_json(exc.msg, exc.pos) from None
                if len(self.text) - self.pos > MAX_ENTRY_CHARS:
                    raise StateShapeError(
                        f"a value of more than {MAX_ENTRY_CHARS} characters at character "
                        f"{self.dropped + self.pos}: no state file of ours holds one"
                    ) from None
                self.fill()
                continue
            if end == len(self.text) and not self.eof:
                self.fill()
                continue
            text = self.text[self.pos : end]
            self.pos = end
            return value, text

    def not_json(self, why: str, pos: int | None = None) -> StateShapeError:
        where = self.dropped + (self.pos if pos is None else pos)
        return StateShapeError(f"not JSON ({why} at character {where})")


def parse_state(data: bytes) -> dict[str, Any]:
    """The whole state document in `data` (sites as dicts), or StateShapeError."""
    sites: dict[str, Any] = {}
    top = read_state(io.BytesIO(data), lambda key, text: sites.__setitem__(key, json.loads(text)))
    if "sites" in top and top["sites"] == {}:
        top["sites"] = sites
    return top


def read_state(handle: BinaryIO, on_site: OnSite, max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """The state document in `handle` with its `sites` replaced by `{}`; each site entry,
    once checked, goes to `on_site(key, text)` as its JSON text. StateShapeError, naming
    the first wrong field, if the file is not a state document."""
    window = _Window(handle)
    window.fill()
    top: dict[str, Any] = {}
    window.expect("{")
    for key in _members(window):
        if key == "sites" and window.next_char() == "{":
            window.pos += 1
            _read_sites(window, on_site, max_depth)
            top[key] = {}
        else:
            value, text = window.value()
            top[key] = _checked_depth(value, max_depth - 1, key, text)
    if window.next_char() != "":
        raise window.not_json("extra data")
    if not _document_validator().is_valid(top):
        raise StateShapeError(explain(_schema(), top, ""))
    return top


def _members(window: _Window) -> Iterator[str]:
    """The keys of the object whose `{` was just read, each yielded once its `:` is read,
    so the caller reads the value; ends after the object's `}`."""
    if window.next_char() == "}":
        window.pos += 1
        return
    while True:
        key, _ = window.value()
        if not isinstance(key, str):
            raise window.not_json("expecting a property name")
        window.expect(":")
        yield key
        if window.next_char() == ",":
            window.pos += 1
            continue
        window.expect("}")
        return


def _read_sites(window: _Window, on_site: OnSite, max_depth: int) -> None:
    for key in _members(window):
        entry, text = window.value()
        _checked_depth(entry, max_depth - 2, f"sites.{key}", text)
        if not _site_validator().is_valid(entry):
            raise StateShapeError(explain(_site_schema(), entry, f"sites.{key}"))
        if "\n" in text:  # written indented (a small fleet's file, or by hand): compact it
            text = json.dumps(entry, sort_keys=True, separators=(",", ":"))
        on_site(key, text)


def _checked_depth(value: Any, max_depth: int, where: str, text: str) -> Any:
    # A value cannot be deeper than its count of brackets: most entries skip the walk.
    if text.count("{") + text.count("[") > max_depth:
        problem = too_deep(value, max_depth)
        if problem is not None:
            path = where if problem == "the document" else f"{where}.{problem}"
            raise StateShapeError(f"{path}: nested deeper than {MAX_DEPTH} levels")
    return value


def explain(schema: dict[str, Any], value: Any, prefix: str) -> str:
    """The first schema error in `value` as `field: message` (jsonschema only runs on
    failure: it takes 0.1 s to import)."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    error = best_match(Draft202012Validator(schema).iter_errors(value))
    if error is None:  # the fast validator and jsonschema disagree: say so, do not guess
        return f"{prefix or 'the document'}: does not match schemas/state.schema.json"
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    field = f"{prefix}{where}".lstrip(".") or "the document"
    return f"{field}: {_short(error.message)}"


def _short(message: str, limit: int = 200) -> str:
    """jsonschema quotes the offending value whole; a damaged file's value can be huge."""
    return message if len(message) <= limit else message[:limit] + "..."


__all__ = [
    "MAX_DEPTH",
    "MAX_ENTRY_CHARS",
    "SCHEMA_PATH",
    "WINDOW_BYTES",
    "StateShapeError",
    "parse_state",
    "read_state",
]
