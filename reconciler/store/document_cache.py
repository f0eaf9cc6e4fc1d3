"""The config's documents as read on earlier passes, kept in the state directory.

A drift job loads the same config every pass, and reading its YAML was a sixth of a
no-drift pass's CPU (issue 17). `FileDocumentCache` is the `reconciler.spec.DocumentCache`
of a `DirectoryStore`: a file whose bytes have not changed since a pass found every
document in it valid is not parsed again. Its documents are still validated and built
like a parsed file's (see `DocumentCache`), so only the YAML reader is skipped.

Trust. The cache says what a file holds without reading the file, so it is trusted as the
state directory is, and no further: it is read only when it is a regular file owned by
this user that neither group nor others may write (as ssh treats its keys); anything
else is ignored and replaced at the end of the pass. It holds the documents' values,
which reference credentials (an environment variable's name, a file's path) and never
hold a key: a document with a key-like literal is invalid, and only valid ones are kept.

Memory. A 50,000-site cache is tens of MB: only an index (digest to offset, ~100 bytes
an entry) is held, and each entry is read when its file is loaded. New entries go to a
temporary file as they are made. The cache is written again only when this pass changed
it: a new or edited file, or (when the whole config was loaded) a file gone from it.

The file: one JSON header line, then one line per config file: its digest in hex, a
space, and its documents as JSON. Anything unexpected makes the whole cache a miss,
never an error: the pass reads its files as if there were no cache.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import stat
import tempfile
from pathlib import Path
from typing import IO, Any

import yaml

from reconciler import _yaml
from reconciler.spec import CachedDocument

log = logging.getLogger("brightback.reconcile")

CACHE_FILE = "document-cache.jsonl"
_FORMAT = "brightback-document-cache"
_VERSION = 1
_DIGEST_HEX = 32  # 16 bytes (`reconciler.spec.file_digest`)
_LENGTH_BITS = 32
_COPY_BYTES = 1 << 20


@functools.cache
def _reader_fingerprint() -> str:
    """What a cached document depends on besides the file: the YAML reader's code and the
    yaml library's version and parser. A cache made by another reader is a miss."""
    source = Path(_yaml.__file__).read_bytes() if Path(_yaml.__file__).is_file() else b""
    material = b"|".join((source, yaml.__version__.encode(), _yaml._Loader.__name__.encode()))
    return hashlib.blake2b(material, digest_size=16).hexdigest()


class FileDocumentCache:
    """A `DocumentCache` in one file (`CACHE_FILE` in the state directory).

    Used by one pass at a time from one thread (the loader's); `save` ends a pass's use,
    and the next `get` opens the file that `save` left."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self._places: dict[bytes, int] | None = None  # digest -> offset << 32 | length
        self._used: set[int] = set()  # places read by this pass
        self._new: IO[bytes] | None = None  # entries made by this pass, in a temporary file
        self._new_digests: set[bytes] = set()
        self._unwritable = False

    # ------------------------------------------------------------------ reading

    def get(self, digest: bytes) -> list[CachedDocument] | None:
        places = self._open()
        place = places.get(digest)
        if place is None or self._fd is None:
            return None
        offset, length = place >> _LENGTH_BITS, place & ((1 << _LENGTH_BITS) - 1)
        try:
            documents = _documents(os.pread(self._fd, length, offset))
        except (OSError, ValueError):
            documents = None
        if documents is not None:
            self._used.add(place)
        return documents

    def _open(self) -> dict[bytes, int]:
        if self._places is not None:
            return self._places
        self._places = {}
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:  # none yet (first pass), or a link planted in its place
            return self._places
        try:
            info = os.fstat(fd)
            trusted = (
                stat.S_ISREG(info.st_mode)
                and info.st_uid == os.geteuid()
                and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
            )
            if not trusted:
                log.warning("ignoring %s: not a private file of this user", self.path)
                os.close(fd)
                return self._places
            self._places = _index(fd, _reader_fingerprint())
        except (OSError, ValueError):
            os.close(fd)
            self._places = {}
            return self._places
        self._fd = fd
        return self._places

    # ------------------------------------------------------------------ writing

    def put(self, digest: bytes, documents: list[CachedDocument]) -> None:
        if self._unwritable or digest in self._new_digests:
            return
        line = _entry_line(digest, documents)
        if line is None:
            return
        try:
            if self._new is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._new = tempfile.TemporaryFile(dir=self.path.parent)  # noqa: SIM115
            self._new.write(line)
        except OSError:  # a full disk: this pass keeps no new entries (one may be cut)
            self._unwritable = True
            return
        self._new_digests.add(digest)

    def save(self, *, complete: bool) -> None:
        """End this pass's use: write the cache again if the pass changed it. `complete`:
        the whole config was loaded, so entries no file used any more are dropped."""
        try:
            places = self._places or {}
            if self._unwritable:
                pass  # the cache as it was: still right for every file it names
            elif self._new_digests or (complete and len(places) > len(self._used)):
                kept = self._used if complete else set(places.values())
                # An entry made again (its cached form no longer loaded) replaces the old.
                kept -= {places[d] for d in self._new_digests if d in places}
                self._write(sorted(kept))
        except OSError as exc:  # a cache that cannot be written is only slower next time
            log.warning("could not write %s: %s", self.path, exc)
        finally:
            self.close()

    def _write(self, kept: list[int]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(_header(_reader_fingerprint()))
                if self._fd is not None:  # every kept place is in it (none without it)
                    self._copy(self._fd, kept, out)
                if self._new is not None:
                    self._new.seek(0)
                    while chunk := self._new.read(_COPY_BYTES):
                        out.write(chunk)
            Path(tmp).replace(self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                Path(tmp).unlink()
            raise

    @staticmethod
    def _copy(old: int, kept: list[int], out: IO[bytes]) -> None:
        """The old file's lines at `kept`, as they are (digest, space, JSON, newline)."""
        for place in kept:
            offset, length = place >> _LENGTH_BITS, place & ((1 << _LENGTH_BITS) - 1)
            out.write(os.pread(old, length + _DIGEST_HEX + 2, offset - _DIGEST_HEX - 1))

    def close(self) -> None:
        """Forget this pass's use (the next `get` opens the file again); safe twice."""
        if self._fd is not None:
            os.close(self._fd)
        if self._new is not None:
            self._new.close()
        self._fd, self._new, self._places = None, None, None
        self._used, self._new_digests, self._unwritable = set(), set(), False


def _header(fingerprint: str) -> bytes:
    header = {"format": _FORMAT, "version": _VERSION, "reader": fingerprint}
    return json.dumps(header, sort_keys=True).encode() + b"\n"


def _index(fd: int, fingerprint: str) -> dict[bytes, int]:
    """Where each entry's JSON is in the file; ValueError if it is not a cache of this
    reader (or not a cache at all)."""
    places: dict[bytes, int] = {}
    with os.fdopen(os.dup(fd), "rb") as handle:
        header = handle.readline()
        if header != _header(fingerprint):
            raise ValueError("another reader's cache")
        offset = len(header)
        for line in handle:
            if len(line) < _DIGEST_HEX + 3 or line[_DIGEST_HEX : _DIGEST_HEX + 1] != b" ":
                raise ValueError("not an entry line")
            if not line.endswith(b"\n") or len(line) >= 1 << _LENGTH_BITS:
                raise ValueError("a cut or oversized entry")
            digest = bytes.fromhex(line[:_DIGEST_HEX].decode("ascii"))
            length = len(line) - _DIGEST_HEX - 2  # the JSON, without the space and newline
            places[digest] = (offset + _DIGEST_HEX + 1) << _LENGTH_BITS | length
            offset += len(line)
    return places


def _entry_line(digest: bytes, documents: list[CachedDocument]) -> bytes | None:
    """The documents' line, or None for a value JSON would not give back (a NaN); every
    other value the YAML reader makes comes back from JSON exactly."""
    try:
        text = json.dumps(
            [
                [value, line, column, [list(p) for p in positions]]
                for value, line, column, positions in documents
            ],
            separators=(",", ":"),
            allow_nan=False,
        )
    except (TypeError, ValueError):
        return None
    return digest.hex().encode() + b" " + text.encode() + b"\n"


def _documents(data: bytes) -> list[CachedDocument] | None:
    """An entry's documents, or None when it is not what `_entry_line` writes."""
    entry: Any = json.loads(data)
    if not isinstance(entry, list) or not entry:
        return None
    documents: list[CachedDocument] = []
    for item in entry:
        if not (isinstance(item, list) and len(item) == 4):
            return None
        value, line, column, positions = item
        if not (_is_int(line) and _is_int(column) and isinstance(positions, list)):
            return None
        pairs: list[tuple[int, int]] = []
        for pair in positions:
            if not (isinstance(pair, list) and len(pair) == 2 and all(map(_is_int, pair))):
                return None
            pairs.append((pair[0], pair[1]))
        documents.append((value, line, column, tuple(pairs)))
    return documents


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


__all__ = ["CACHE_FILE", "FileDocumentCache"]
