"""Check a state file's bytes before anything trusts them: UTF-8, JSON, depth, shape.

A hand-edited or damaged state file used to surface as a TypeError, UnicodeDecodeError or
RecursionError somewhere in a pass, once after the pass's writes, so nothing was recorded
and the same writes repeated every pass. `parse_state` is the one gate: whichever store
holds the file (a directory today, others later) calls it on load and gets either a
document of the shape `schemas/state.schema.json` describes or a `StateShapeError` naming
the first wrong field, before the pass reads or writes a single site.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs

from reconciler._peer_json import too_deep
from reconciler._schema import load_schema
from reconciler.errors import StateShapeError

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "state.schema.json"
# The reconciler writes at most 6 levels (sites > site > spec > spec > policy > value);
# a site's last spec is a document of ours. Anything deeper is damage, refused before any
# recursive code (json encoder, schema validators) can hit Python's recursion limit.
MAX_DEPTH = 32

__all__ = ["MAX_DEPTH", "SCHEMA_PATH", "StateShapeError", "parse_state"]


def _schema() -> dict[str, Any]:
    return load_schema(SCHEMA_PATH)


@cache
def _fast() -> Any:
    return jsonschema_rs.validator_for(_schema())


def parse_state(data: bytes) -> dict[str, Any]:
    """The state document in `data`, or StateShapeError saying why it is not one."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StateShapeError(f"not UTF-8 text (byte {exc.start})") from None
    try:
        document = json.loads(text)
    except RecursionError:
        raise StateShapeError(f"nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        raise StateShapeError(f"not JSON ({exc})") from None
    depth_problem = too_deep(document, MAX_DEPTH)
    if depth_problem is not None:
        raise StateShapeError(f"{depth_problem}: nested deeper than {MAX_DEPTH} levels")
    if not _fast().is_valid(document):
        raise StateShapeError(_explain(document))
    assert isinstance(document, dict)  # the schema says so
    return document


def _explain(document: Any) -> str:
    """The first schema error as `field: message` (jsonschema only runs on failure)."""
    from jsonschema import Draft202012Validator  # only to explain a damaged file (0.1 s)
    from jsonschema.exceptions import best_match

    validator = Draft202012Validator(_schema())
    error = best_match(validator.iter_errors(document))
    if error is None:  # the fast validator and jsonschema disagree: say so, do not guess
        return "does not match schemas/state.schema.json"
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return f"{where.lstrip('.') or 'the document'}: {_short(error.message)}"


def _short(message: str, limit: int = 200) -> str:
    """jsonschema quotes the offending value whole; a damaged file's value can be huge."""
    return message if len(message) <= limit else message[:limit] + "..."
