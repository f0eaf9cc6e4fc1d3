"""Resolve a site's API key from its reference, at call time, and keep it out of sight.

The key is wrapped in `ApiKey` so that the usual ways a value leaks (repr in a traceback,
an f-string in a log line, a pickle in Pulumi state, a copy into a report) all print a
placeholder. Only the client's auth header calls `reveal()`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NoReturn

from reconciler.errors import CredentialError
from reconciler.model import Credentials

REDACTED = "***"


class ApiKey:
    """A Chargebee API key. Every printable form is redacted; pickling is refused."""

    __slots__ = ("_reference", "_value")

    def __init__(self, value: str, *, reference: str = "<inline>") -> None:
        if not value:
            raise CredentialError(f"API key from {reference} is empty")
        self._value = value
        self._reference = reference

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
        try:
            raw = Path(credentials.api_key_file).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise CredentialError(f"API key {reference} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            # The OS error text names the path only; never chain the file content.
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8"
            raise CredentialError(f"API key {reference} cannot be read: {reason}") from None
    else:
        raise CredentialError("no API key reference (apiKeyFromEnv or apiKeyFromFile) given")
    value = raw.strip()
    if not value:
        raise CredentialError(f"API key {reference} is empty")
    return ApiKey(value, reference=reference)
