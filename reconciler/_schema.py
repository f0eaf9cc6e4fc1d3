"""JSON Schema validation of one document, with messages a person can act on.

The schema is compiled once per process (validation of 10,000 files must not re-read or
re-check it). jsonschema's own messages are written for schema authors
("'portal' is not one of ['customer_portal', 'retention_api']", "False schema does not allow
'x'"); here each error is rewritten per keyword, and the schema can carry an
`x-errorMessage` for rules whose meaning only the author knows (cross-field rules).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

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
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(schema(), format_checker=Draft202012Validator.FORMAT_CHECKER)


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
