"""The project's exception tree.

Every failure a user can cause or meet is one of these, so the CLI can print a clean
message and choose an exit code without ever showing a traceback as the normal path.
No exception here ever holds an API key: messages are built from names and codes only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
"""HTTP statuses worth another try (overload, rate limit); any other error is final."""


class BrightbackError(Exception):
    """Base of every error this project raises on purpose."""


@dataclass(frozen=True)
class SpecProblem:
    """One problem in one desired-state document, pinned to its source position.

    `field` is a dotted path (`spec.connection.state`); empty when the problem is with the
    document as a whole (bad YAML, a duplicate site). Lines and columns are 1-based.
    """

    file: str
    line: int
    column: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "field": self.field,
            "message": self.message,
        }


class SpecError(BrightbackError):
    """The desired state is invalid. Carries every problem found, in every file."""

    def __init__(self, problems: Sequence[SpecProblem]) -> None:
        self.problems: tuple[SpecProblem, ...] = tuple(problems)
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the desired state"
        super().__init__(head + "".join(f"\n  {p}" for p in self.problems))


class CredentialError(BrightbackError):
    """A site's API key could not be resolved (missing variable or unreadable file).

    The message names the reference (`env ACME_CHARGEBEE_API_KEY`), never a value.
    """


class ApiError(BrightbackError):
    """The control plane answered with an error (Chargebee's error envelope).

    `type`, `api_error_code` and `http_status` come from the body. Messages are the
    server's own, which never echo credentials.
    """

    def __init__(
        self,
        message: str,
        *,
        http_status: int,
        type: str | None = None,
        api_error_code: str | None = None,
        param: str | None = None,
        site: str | None = None,
    ) -> None:
        self.message = message
        self.http_status = http_status
        self.type = type
        self.api_error_code = api_error_code
        self.param = param
        self.site = site
        code = api_error_code or "unknown_error"
        prefix = f"{site}: " if site else ""
        super().__init__(f"{prefix}{code} (HTTP {http_status}): {message}")


class TransportError(BrightbackError):
    """The control plane could not be reached or did not answer in time, after retries.

    `attempts` is how many requests were really made (0 when not counted); `retryable` is
    False for faults another try cannot fix (a name that does not resolve, an untrusted
    certificate), which callers must not spend more rounds on. `problem` and `where` keep
    the message's parts so a caller that made several rounds can state the true total.
    """

    def __init__(
        self,
        problem: str,
        *,
        attempts: int = 0,
        where: str = "",
        retryable: bool = True,
        silent: bool = False,
    ) -> None:
        self.problem = problem
        self.attempts = attempts
        self.where = where
        self.retryable = retryable
        # Every attempt timed out: the peer takes connections and never answers (a
        # blackhole). Worth the next pass, not another round of the same wait now.
        self.silent = silent
        counted = f" after {attempts} attempt{'s' if attempts != 1 else ''}" if attempts else ""
        located = f" ({where})" if where else ""
        super().__init__(f"{problem}{counted}{located}")

    def after(self, attempts: int) -> TransportError:
        """The same error, stating `attempts` as the number of requests made in all."""
        return TransportError(
            self.problem,
            attempts=attempts,
            where=self.where,
            retryable=self.retryable,
            silent=self.silent,
        )


class ClientConfigError(BrightbackError):
    """The client configuration is unsafe or malformed (bad URL template, plain http)."""


class SavedPlanError(BrightbackError):
    """The saved plan file is unreadable, of another format, or was edited."""


class StateFileError(BrightbackError):
    """The state file exists but cannot be read. Never silently started over: that would
    forget which sites were managed, and with them every orphan."""


class SiteLocked(BrightbackError):
    """Another process holds the site's lock (the fleet reports the site as Waiting)."""

    def __init__(self, site: str, holder: dict[str, Any]) -> None:
        self.site = site
        self.holder = holder
        who = f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}" if holder else "?"
        super().__init__(f"site {site} is being applied by another reconciler ({who})")


class IntegrationError(BrightbackError):
    """A Pulumi verb could not bring the site where the inputs say; the message says what
    to do."""


class ServeError(BrightbackError):
    """A server could not start (port in use, no such address, port out of range)."""


class StoreError(BrightbackError):
    """The state store cannot be reached or read. Its message names the store without a
    password; the pass stops before anything is applied."""


class StateShapeError(BrightbackError):
    """The state file is not a state file we wrote: says where and what is wrong."""


class PeerAnswerError(BrightbackError, ValueError):
    """The answer is too large or nested too deep to be a control-plane answer (a
    ValueError too: callers that parse JSON catch both alike)."""


__all__ = [
    "RETRY_STATUSES",
    "ApiError",
    "BrightbackError",
    "ClientConfigError",
    "CredentialError",
    "IntegrationError",
    "PeerAnswerError",
    "SavedPlanError",
    "ServeError",
    "SiteLocked",
    "SpecError",
    "SpecProblem",
    "StateFileError",
    "StateShapeError",
    "StoreError",
    "TransportError",
]
