"""Resolve a site's API key from its reference, at call time, and keep it out of sight.

The key is wrapped in `ApiKey` so that the usual ways a value leaks (repr in a traceback,
an f-string in a log line, a pickle in Pulumi state, a copy into a report) all print a
placeholder. Only the client's auth header calls `reveal()`.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import stat
import threading
from typing import Any, NoReturn

from reconciler.errors import CredentialError
from reconciler.model import Credentials

REDACTED = "***"
# A key file holds one key: anything bigger is not a key file (/dev/zero, a log, environ).
MAX_KEY_FILE_BYTES = 4096

log = logging.getLogger("brightback.credentials")

# Every key this process has held, in each form a peer could echo it: the value and the
# base64 (standard and URL-safe) of `value:` and `value` (an Authorization header's Basic
# form), padding dropped.
_KNOWN_FORMS: set[str] = set()
_REMEMBERED: set[str] = set()  # keys whose forms are in _KNOWN_FORMS (a lookup, not 4 encodes)
_KNOWN_LOCK = threading.Lock()
# Candidate tokens: a key-like run (live_..., key-acme-...) or a base64 run.
_KEYISH = re.compile(r"[A-Za-z0-9_-]{8,}={0,2}")
_BASE64ISH = re.compile(r"[A-Za-z0-9+/]{8,}={0,2}")
_KEYISH_BYTES = re.compile(rb"[A-Za-z0-9_-]{8,}={0,2}")
_BASE64ISH_BYTES = re.compile(rb"[A-Za-z0-9+/]{8,}={0,2}")
_WARNED_READABLE: set[str] = set()
# While few keys are known (a fleet sharing one key, a single site), a text none of whose
# forms occurs in is returned untouched after a substring search per form: the two regex
# scans, a Python call per token, were 3% of a no-drift scan's CPU. Past this many forms
# the scans decide (their cost does not grow with the number of keys).
_FEW_FORMS = 40
_few_forms: tuple[str, ...] | None = ()  # every known form while there are few, else None
_few_forms_bytes: tuple[bytes, ...] | None = ()


def _remember(value: str) -> None:
    global _few_forms, _few_forms_bytes
    if value in _REMEMBERED:
        return  # a key made again (each request resolves its site's key): known already
    forms = {value}
    for raw in (f"{value}:", value):
        forms.add(base64.b64encode(raw.encode()).decode("ascii").rstrip("="))
        forms.add(base64.urlsafe_b64encode(raw.encode()).decode("ascii").rstrip("="))
    with _KNOWN_LOCK:
        _REMEMBERED.add(value)
        _KNOWN_FORMS.update(f for f in forms if len(f) >= 8)
        few = len(_KNOWN_FORMS) <= _FEW_FORMS
        _few_forms = tuple(_KNOWN_FORMS) if few else None
        _few_forms_bytes = tuple(f.encode() for f in _KNOWN_FORMS) if few else None


def redact(text: str) -> str:
    """`text` with every known key, in any form `_remember` keeps, replaced by ***.

    For strings a peer supplied (error messages, events): a server that echoes the key
    must not get it into a log line, the state file, a report or the terminal. Two regex
    scans and set lookups, so the cost does not grow with the number of keys known.
    """
    few = _few_forms
    if few is not None and not any(form in text for form in few):
        return text  # no known form occurs: nothing to replace (and none known at all)

    def swap(match: re.Match[str]) -> str:
        token = match.group()
        return REDACTED if token.rstrip("=") in _KNOWN_FORMS else token

    return _BASE64ISH.sub(swap, _KEYISH.sub(swap, text))


def redact_bytes(data: bytes) -> bytes:
    """`redact` for a peer's raw answer, before it is parsed: every string in it is clean
    (*** keeps a JSON string a JSON string)."""
    few = _few_forms_bytes
    if few is not None and not any(form in data for form in few):
        return data
    stars = REDACTED.encode()

    def swap(match: re.Match[bytes]) -> bytes:
        token = match.group()
        return stars if token.rstrip(b"=").decode("ascii") in _KNOWN_FORMS else token

    return _BASE64ISH_BYTES.sub(swap, _KEYISH_BYTES.sub(swap, data))


class ApiKey:
    """A Chargebee API key. Every printable form is redacted; pickling is refused."""

    __slots__ = ("_reference", "_value")

    def __init__(self, value: str, *, reference: str = "<inline>") -> None:
        if not value:
            raise CredentialError(f"API key from {reference} is empty")
        self._value = value
        self._reference = reference
        _remember(value)

    @property
    def reference(self) -> str:
        """Where the key came from (`env ACME_KEY`): safe to print."""
        return self._reference

    def reveal(self) -> str:
        """The secret itself. Only for building an Authorization header."""
        return self._value

    def __repr__(self) -> str:
        return f"ApiKey({self._reference}, {REDACTED})"

    def __str__(self) -> str:
        return REDACTED

    def __format__(self, format_spec: str) -> str:
        return REDACTED

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ApiKey):
            return NotImplemented
        return self._value == other._value

    def __hash__(self) -> int:
        return hash(("ApiKey", self._value))

    def __reduce__(self) -> NoReturn:
        # Pickles end up in Pulumi state, caches and crash dumps: never in clear.
        raise TypeError("ApiKey cannot be pickled; pickle the Credentials reference instead")

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        self.__reduce__()

    def __copy__(self) -> ApiKey:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> ApiKey:
        return self


def resolve_api_key(credentials: Credentials) -> ApiKey:
    """Read the key the reference points at, now (keys can rotate between runs).

    Raises `CredentialError` naming the reference, never a value: the variable is unset or
    empty, or the file is missing, unreadable or empty. Surrounding whitespace (a trailing
    newline in a mounted secret) is stripped.
    """
    reference = credentials.describe()
    if credentials.api_key_env is not None:
        raw = os.environ.get(credentials.api_key_env)
        if raw is None:
            raise CredentialError(f"API key {reference} is not set")
    elif credentials.api_key_file is not None:
        raw = _read_key_file(credentials.api_key_file, reference)
    else:
        raise CredentialError("no API key reference (apiKeyFromEnv or apiKeyFromFile) given")
    value = raw.strip()
    if not value:
        raise CredentialError(f"API key {reference} is empty")
    return ApiKey(value, reference=reference)


def _read_key_file(path: str, reference: str) -> str:
    """A key file's text: a regular file (a symlink to one is fine: mounted secrets are),
    at most MAX_KEY_FILE_BYTES. Opened non-blocking so a FIFO cannot hang the pass; a
    device, /proc file or anything larger is refused before it is read in full (a path to
    /dev/zero read 2.7 GB, /proc/self/environ sent every variable as one site's key). A
    file others may read is used, with a warning once per path."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise CredentialError(f"API key {reference} does not exist") from None
    except OSError as exc:
        # The OS error text names the path only; never chain the file content.
        raise CredentialError(f"API key {reference} cannot be read: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise CredentialError(f"API key {reference} is not a regular file")
        if info.st_size > MAX_KEY_FILE_BYTES:
            raise CredentialError(
                f"API key {reference} is larger than {MAX_KEY_FILE_BYTES} bytes: not a key file"
            )
        data = os.read(fd, MAX_KEY_FILE_BYTES + 1)
    except OSError as exc:
        raise CredentialError(f"API key {reference} cannot be read: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_KEY_FILE_BYTES:  # st_size 0 then content: /proc, /sys
        raise CredentialError(
            f"API key {reference} is larger than {MAX_KEY_FILE_BYTES} bytes: not a key file"
        )
    if info.st_mode & stat.S_IROTH and path not in _WARNED_READABLE:
        _WARNED_READABLE.add(path)
        log.warning(f"API key {reference} is readable by every user: chmod o-r it")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CredentialError(f"API key {reference} cannot be read: not UTF-8") from None
    if any(c.isspace() or not c.isprintable() for c in text.strip()):
        # One key is one token: NULs, several lines or words are some other file.
        raise CredentialError(f"API key {reference} holds more than one word: not a key file")
    return text


__all__ = [
    "MAX_KEY_FILE_BYTES",
    "REDACTED",
    "ApiKey",
    "redact",
    "redact_bytes",
    "resolve_api_key",
]
