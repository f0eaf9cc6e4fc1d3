"""Which sites one shard of a sharded fleet owns.

A site belongs to shard `hash(site) mod COUNT`, where the hash is the first eight bytes
of SHA-256 over the Chargebee site name: stable across processes, machines and Python
versions (unlike `hash()`), and independent of every other site, so adding or removing a
document never moves another site to a different shard. Only changing COUNT does.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass

INDEX_ENV = "JOB_COMPLETION_INDEX"  # set by Kubernetes in each pod of an Indexed Job
COUNT_ENV = "BRIGHTBACK_SHARD_COUNT"
_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def shard_of(site: str, count: int) -> int:
    """The shard (0-based) that owns `site` among `count` shards."""
    digest = hashlib.sha256(site.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count` (0-based, like JOB_COMPLETION_INDEX)."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError("the shard count must be at least 1")
        if not 0 <= self.index < self.count:
            raise ValueError(f"shard index {self.index} is not in 0..{self.count - 1}")

    @property
    def sharded(self) -> bool:
        return self.count > 1

    def owns(self, site: str) -> bool:
        return self.count == 1 or shard_of(site, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def to_dict(self) -> dict[str, int]:
        return {"index": self.index, "count": self.count}


def parse_shard(text: str) -> Shard:
    """ "2/4" -> Shard(2, 4). Raises ValueError with a sentence a person can act on."""
    match = _SHARD.match(text)
    if match is None:
        raise ValueError(f"not a shard: {text!r} (use INDEX/COUNT, e.g. 0/4)")
    return Shard(int(match.group(1)), int(match.group(2)))


def shard_from(
    flag: str | None, count_flag: int | None, env: os._Environ[str] | dict[str, str]
) -> Shard:
    """The shard from `--shard`, else from JOB_COMPLETION_INDEX with `--shard-count` or
    $BRIGHTBACK_SHARD_COUNT (an Indexed Job sets the index, the manifest the count).
    Neither: the whole fleet, Shard(0, 1)."""
    if flag is not None:
        shard = parse_shard(flag)
        if count_flag is not None and count_flag != shard.count:
            raise ValueError(f"--shard {flag} disagrees with --shard-count {count_flag}")
        return shard
    count_text = str(count_flag) if count_flag is not None else env.get(COUNT_ENV)
    index_text = env.get(INDEX_ENV)
    if count_text is None:
        if index_text not in (None, "", "0"):
            raise ValueError(
                f"${INDEX_ENV} is {index_text} but no shard count was given "
                f"(--shard-count or ${COUNT_ENV})"
            )
        return Shard()
    try:
        count = int(count_text)
        index = int(index_text or "0")
    except ValueError:
        raise ValueError(
            f"shard count {count_text!r} and ${INDEX_ENV} {index_text!r} must be whole numbers"
        ) from None
    return Shard(index, count)


__all__ = [
    "COUNT_ENV",
    "INDEX_ENV",
    "Shard",
    "parse_shard",
    "shard_from",
    "shard_of",
]
