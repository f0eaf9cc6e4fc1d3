"""JSON Schema validation of one document, with messages a person can act on.

The schema is compiled once per process (validating a big fleet must not re-read or
re-check it). Most documents are valid, so a compiled Rust validator (jsonschema-rs) answers
"valid?" first and jsonschema, much slower (bench/README.md), runs only on the documents
that fail, for its per-keyword errors. jsonschema's own messages are written for schema authors
("'portal' is not one of ['customer_portal', 'retention_api']", "False schema does not allow
'x'"); here each error is rewritten per keyword, and the schema can carry an
`x-errorMessage` for rules whose meaning only the author knows (cross-field rules).
"""

from __future__ import annotations

import copy
import difflib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema_rs

if TYPE_CHECKING:  # jsonschema (0.1 s to import) loads only when a document needs it
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "brightback-integration.schema.json"

Path_ = tuple[str | int, ...]

# Chargebee keys look like `live_` or `test_` followed by a long random token.
_KEY_LIKE = re.compile(r"^(live|test)_[A-Za-z0-9]{16,}$")
_SECRETISH_FIELD = re.compile(r"(?i)(api[_-]?key|secret|token|password)")
_ALLOWED_SECRETISH_FIELDS = {"apiKeyFromEnv", "apiKeyFromFile"}

_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "boolean": "true or false",
    "integer": "a whole number",
    "number": "a number",
    "null": "nothing",
}


@cache
def load_schema(path: Path) -> dict[str, Any]:
    """A JSON Schema file of the project, read once per process."""
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def schema() -> dict[str, Any]:
    return load_schema(SCHEMA_PATH)


@cache
def _validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema(), format_checker=Draft202012Validator.FORMAT_CHECKER)


# Keywords whose values are data, not subschemas: never rewritten by `_rust_schema`.
_DATA_KEYWORDS = frozenset({"const", "enum", "examples", "default", "description", "title"})
# Keywords whose regex semantics `_rust_schema` does not translate: the fast path is off.
_UNTRANSLATED_KEYWORDS = frozenset({"patternProperties"})
_PY_PATTERN_FORMAT = "x-python-pattern:"


@cache
def _fast_validator() -> jsonschema_rs.Draft202012Validator | None:
    """jsonschema-rs compiled to give exactly jsonschema's verdict, or None if it cannot.

    The two engines agree on every keyword but two: regular expressions (Rust's `\\s` and
    `$` are not Python's, so `a\\x1c@b` would pass one email pattern and fail the other) and
    formats (jsonschema-rs checks `email` by RFC, jsonschema only for an `@`). Both are
    handed back to Python: each `pattern` becomes a custom format whose check is Python's
    `re.search`, and each `format` the schema names is checked by jsonschema's own format
    checker. Everything else runs in Rust. Custom `x-*` keywords only carry messages (see
    `_explain`), so no Python-side rule is skipped when the fast path says "valid".
    """
    formats: dict[str, Callable[[str], bool]] = {}
    rewritten = _rust_schema(schema(), formats)
    if rewritten is None:
        return None
    return jsonschema_rs.Draft202012Validator(
        rewritten, formats=formats, validate_formats=True, ignore_unknown_formats=True
    )


def _rust_schema(node: Any, formats: dict[str, Callable[[str], bool]]) -> Any:
    """A copy of `node` with Python-semantics pattern/format checks (None: cannot be done)."""
    if isinstance(node, list):
        items = [_rust_schema(item, formats) for item in node]
        return None if any(item is None for item in items) else items
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DATA_KEYWORDS:
            out[key] = copy.deepcopy(value)
            continue
        if key in _UNTRANSLATED_KEYWORDS:
            return None
        if key == "pattern" and isinstance(value, str):
            name = _PY_PATTERN_FORMAT + value
            formats[name] = _python_search(value)
            out.setdefault("allOf", []).append({"format": name})
            continue
        if key == "format" and isinstance(value, str):
            formats[value] = _python_format(value)
        translated = _rust_schema(value, formats)
        if translated is None:
            return None
        if key == "allOf" and isinstance(translated, list):
            out.setdefault("allOf", []).extend(translated)
            continue
        out[key] = translated
    return out


def _python_search(pattern: str) -> Callable[[str], bool]:
    compiled = re.compile(pattern)
    return lambda value: compiled.search(value) is not None


def _python_format(name: str) -> Callable[[str], bool]:
    return lambda value: _validator().format_checker.conforms(value, name)


def fast_verdict(document: Mapping[str, Any]) -> bool | None:
    """jsonschema-rs's verdict on `document`; None when it cannot give one.

    None means: no fast validator for this schema, a value the two engines would type
    differently (a tuple is an array to Rust, not to jsonschema; subclasses of str/int may
    be anything), or one Rust cannot take (a lone surrogate). jsonschema then decides alone.
    YAML always gives plain values; only in-memory documents (Pulumi inputs) may not.
    """
    fast = _fast_validator()
    if fast is None or not _plain_json(document):
        return None
    try:
        return bool(fast.is_valid(document))
    except (ValueError, TypeError, OverflowError):
        return None


_PLAIN_SCALARS = frozenset({str, int, float, bool, type(None)})


def _plain_json(value: Any) -> bool:
    kind = type(value)
    if kind is dict:
        return all(type(key) is str and _plain_json(item) for key, item in value.items())
    if kind is list:
        return all(_plain_json(item) for item in value)
    return kind in _PLAIN_SCALARS


def looks_like_api_key(value: object) -> bool:
    return isinstance(value, str) and bool(_KEY_LIKE.match(value.strip()))


def secretish_field(name: object) -> bool:
    """A mapping key that suggests someone pasted a credential inline."""
    return (
        isinstance(name, str)
        and name not in _ALLOWED_SECRETISH_FIELDS
        and bool(_SECRETISH_FIELD.search(name))
    )


def render(value: object) -> str:
    """A value for an error message: short, and never a credential."""
    if looks_like_api_key(value):
        return "<a value that looks like an API key>"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class SchemaIssue:
    """One schema violation: the field path it is about, and the message."""

    __slots__ = ("key", "message", "path")

    def __init__(self, path: Path_, message: str, *, key: bool = False) -> None:
        self.path = path
        self.message = message
        self.key = key  # the position of the key (unknown field) rather than the value


def schema_issues(document: Mapping[str, Any]) -> Iterator[SchemaIssue]:
    """Every violation, explained; a document the fast validator passes costs no more."""
    if fast_verdict(document):
        return
    for error in _validator().iter_errors(document):
        yield from _explain(error)


def _explain(error: ValidationError) -> Iterator[SchemaIssue]:
    path: Path_ = tuple(error.absolute_path)
    keyword = error.validator
    value = error.instance
    custom = _custom_message(error)
    if keyword == "additionalProperties":
        known = sorted(error.schema.get("properties", {})) if isinstance(error.schema, dict) else []
        for extra in sorted(set(value) - set(known)):
            yield SchemaIssue((*path, extra), _unknown_field_message(extra, known), key=True)
        return
    if keyword == "required" and isinstance(error.validator_value, list):
        for missing in error.validator_value:
            if isinstance(value, dict) and missing not in value:
                yield SchemaIssue((*path, missing), custom or "is required")
        return
    forbidden = error.schema.get("x-forbiddenFields") if isinstance(error.schema, dict) else None
    if keyword == "not" and forbidden and isinstance(value, dict):
        for name in forbidden:
            if name in value:
                yield SchemaIssue((*path, name), custom or "is not allowed here", key=True)
        return
    if custom:
        yield SchemaIssue(path, custom)
        return
    yield SchemaIssue(path, _generic_message(error))


def _unknown_field_message(name: str, known: list[str]) -> str:
    if secretish_field(name):
        return (
            "unknown field; inline API keys are not allowed: put the key in an environment "
            "variable or a file and reference it with credentials.apiKeyFromEnv or "
            "credentials.apiKeyFromFile"
        )
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    allowed = f"; expected one of {', '.join(known)}" if known and not close else ""
    return f"unknown field{hint}{allowed}"


def _custom_message(error: ValidationError) -> str | None:
    if isinstance(error.schema, dict) and "x-errorMessage" in error.schema:
        return str(error.schema["x-errorMessage"])
    # Errors raised inside an `if/then` carry the cross-field rule's message.
    schema_path = list(error.absolute_schema_path)
    if "then" in schema_path:
        node: Any = schema()
        cut = len(schema_path) - schema_path[::-1].index("then")
        for part in schema_path[:cut]:
            node = node[part]
        if isinstance(node, dict) and "x-errorMessage" in node:
            return str(node["x-errorMessage"])
    return None


def _generic_message(error: ValidationError) -> str:
    keyword, value, expected = error.validator, error.instance, error.validator_value
    if keyword == "enum":
        return f"{render(value)} is not one of {', '.join(map(str, expected))}"
    if keyword == "const":
        return f"expected {expected!r}, got {render(value)}"
    if keyword == "type":
        kinds = expected if isinstance(expected, list) else [expected]
        words = " or ".join(_TYPE_WORDS.get(str(k), str(k)) for k in kinds)
        return f"expected {words}, got {_describe(value)}"
    if keyword == "maxLength":
        return f"is too long (at most {expected} characters)"
    if keyword == "minLength":
        return "must not be empty" if expected == 1 else f"needs at least {expected} characters"
    if keyword == "pattern":
        return f"{render(value)} has an invalid format"
    if keyword == "format":
        return f"{render(value)} is not a valid {expected}"
    if keyword == "maxProperties":
        return f"has more than {expected} entries"
    if keyword == "propertyNames":
        return "has an invalid key"
    if keyword == "False schema":
        return "is not allowed here"
    return error.message if not looks_like_api_key(value) else f"invalid value ({keyword})"


def _describe(value: object) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"number {value}"
    if isinstance(value, str):
        return f"string {render(value)}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
