"""State URLs as people may see them: never with the password.

`postgresql://user:secret@host:5432/db` is shown as `postgresql://user:***@host:5432/db`,
in every message, log line, report and exception this project makes; and any text about
the store is scrubbed of the password's literal value before it is shown (a driver error
could quote its connection string).
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit, urlunsplit

POSTGRES_SCHEMES = ("postgresql", "postgres")
STATE_URL_ENV = "BRIGHTBACK_STATE_URL"


def is_postgres_url(url: str) -> bool:
    return urlsplit(url).scheme in POSTGRES_SCHEMES


def password_of(url: str) -> str | None:
    try:
        raw = urlsplit(url).password
    except ValueError:
        return None
    return unquote(raw) if raw else None


def redact_url(url: str) -> str:
    """The URL with its password (and any `password=` query parameter) replaced by ***."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password is not None:
            userinfo, _, hostport = netloc.rpartition("@")
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}:***@{hostport}"
        query = "&".join(
            f"{k}=***" if k.lower() == "password" else f"{k}={v}" if sep else k
            for k, sep, v in (item.partition("=") for item in parts.query.split("&") if item)
        )
        return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    except ValueError:
        return "<unparsable state URL>"


def scrub(text: str, url: str) -> str:
    """`text` without the URL's password in any form it may take."""
    secret = password_of(url)
    if secret:
        raw = urlsplit(url).password or ""
        for form in {secret, raw}:
            if form:
                text = text.replace(form, "***")
    for item in urlsplit(url).query.split("&"):
        key, sep, value = item.partition("=")
        if sep and key.lower() == "password" and value:
            text = text.replace(unquote(value), "***").replace(value, "***")
    return text
