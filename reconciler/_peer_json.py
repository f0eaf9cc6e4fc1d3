"""Bounded reading of a peer's JSON: a size cap before the body is held, a depth cap
before anything recursive touches it.

The control plane is a peer, not a friend: a deeply nested 200 KB body raised
RecursionError from the JSON decoder and took the whole run down with no report, and a
body has no natural size limit. Here an answer larger than `MAX_BODY_BYTES` (after
decompression) is cut off while it streams in, and one nested deeper than `MAX_DEPTH` is
refused; both are `PeerAnswerError`, which the client turns into that site's failure.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from reconciler.credentials import redact
from reconciler.errors import PeerAnswerError

# Chargebee's largest answer we ask for (100 events) is ~100 KB; 4 MiB is room, not a target.
MAX_BODY_BYTES = 4 * 1024 * 1024
# Chargebee's resources nest 4-5 levels; 64 is room, not a target, and far from Python's
# recursion limit in anything that walks the value later (json.dumps, the report).
MAX_DEPTH = 64

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_DEPTH",
    "PeerAnswerError",
    "loads",
    "read_capped",
    "too_deep",
    "too_large",
]


def too_large(limit: int = MAX_BODY_BYTES) -> PeerAnswerError:
    """The error for an answer over `limit` bytes, however its size came to be known
    (declared, chunked, streamed, or inflated from a compressed body)."""
    return PeerAnswerError(f"answer larger than {limit // 1024} KiB")


def read_capped(chunks: Iterable[bytes], limit: int = MAX_BODY_BYTES) -> bytes:
    """Join `chunks` (a streamed, decoded body), refusing once more than `limit` arrived."""
    parts: list[bytes] = []
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise too_large(limit)
        parts.append(chunk)
    return b"".join(parts)


def loads(data: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """`json.loads`, refusing values nested deeper than `max_depth` (PeerAnswerError)."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise PeerAnswerError(f"answer nested deeper than {max_depth} levels") from None
    # A value cannot be deeper than its count of brackets: most answers skip the walk.
    raw = data.encode() if isinstance(data, str) else data
    if raw.count(b"[") + raw.count(b"{") > max_depth and too_deep(value, max_depth):
        raise PeerAnswerError(f"answer nested deeper than {max_depth} levels")
    # The client redacts keys in the raw bytes; a key spelled with JSON escapes
    # (`\\u0074est_...`) only appears once decoded, so such answers are redacted again.
    return _redacted(value) if b"\\u" in raw else value


def _redacted(value: Any) -> Any:
    """`value` with `redact` applied to every string in it (keys and values); depth is
    already bounded by `MAX_DEPTH`, so the recursion is too."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {_redacted(k): _redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    return value


def too_deep(value: Any, max_depth: int = MAX_DEPTH) -> str | None:
    """The path of the first value nested deeper than `max_depth`, found without
    recursion (so the check itself cannot hit the recursion limit); None if none is."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if depth > max_depth:
            return path or "the document"
        if isinstance(item, dict):
            stack.extend((v, f"{path}.{k}" if path else str(k), depth + 1) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, f"{path}[{i}]", depth + 1) for i, v in enumerate(item))
    return None
