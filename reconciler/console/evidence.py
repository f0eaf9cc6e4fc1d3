"""What a failed console step leaves behind: a screenshot and the page's HTML, secrets out.

Named after the site and the step, so a report line can point at them. Password fields
are masked in the screenshot; in the HTML every password field's value, and every secret
string the run knows of (the Brightback password), is replaced by a marker.
"""

from __future__ import annotations

import json
import re
import time
import zipfile
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote, quote_plus

from playwright.async_api import Page

from reconciler.console import locators

REDACTED = "[REDACTED]"
_PASSWORD_VALUE = re.compile(
    r'(<input\b[^>]*\btype="password"[^>]*\bvalue=")[^"]*(")|'
    r'(<input\b[^>]*\bvalue=")[^"]*("[^>]*\btype="password")',
    re.IGNORECASE,
)


def redact(text: str, secrets: Iterable[str]) -> str:
    def blank(match: re.Match[str]) -> str:
        if match.group(1) is not None:
            return match.group(1) + REDACTED + match.group(2)
        return match.group(3) + REDACTED + match.group(4)

    text = _PASSWORD_VALUE.sub(blank, text)
    for secret in secrets:
        if secret:
            for form in _forms(secret):
                text = text.replace(form.decode(), REDACTED)
    return text


def _forms(secret: str) -> list[bytes]:
    """A secret as it may appear: raw, form-encoded (a posted field), JSON-escaped."""
    return sorted(
        {
            secret.encode(),
            quote_plus(secret).encode(),
            quote(secret, safe="").encode(),
            json.dumps(secret)[1:-1].encode(),
        },
        key=len,
        reverse=True,
    )


def redact_archive(path: Path, secrets: Iterable[str]) -> None:
    """Rewrite a Playwright trace with every known secret replaced, in every member.

    Typing a secret happens between two trace chunks, but the browser reports the request
    that carried it (a form post) when it finishes, which can fall into the next chunk: so
    each chunk is also scrubbed, byte by byte, before anyone can open it.
    """
    needles = [form for secret in secrets if secret for form in _forms(secret)]
    if not needles or not path.is_file():
        return
    with zipfile.ZipFile(path) as source:
        members = [(info, source.read(info)) for info in source.infolist()]
    if not any(needle in data for _, data in members for needle in needles):
        return
    scrubbed = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(scrubbed, "w", zipfile.ZIP_DEFLATED) as target:
        for info, data in members:
            for needle in needles:
                data = data.replace(needle, REDACTED.encode())
            target.writestr(info, data)
    scrubbed.replace(path)


def stem(site: str, label: str) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", label)
    return f"{site}-{safe}-{stamp}-{time.monotonic_ns() % 1_000_000:06d}"


async def capture(
    page: Page, directory: Path, site: str, label: str, secrets: Iterable[str]
) -> list[Path]:
    """Screenshot + redacted HTML; returns the files written (none if the page is gone)."""
    directory.mkdir(parents=True, exist_ok=True)
    base = directory / stem(site, label)
    written: list[Path] = []
    try:
        shot = base.with_suffix(".png")
        await page.screenshot(
            path=str(shot), full_page=True, mask=[locators.password(page)], timeout=10_000
        )
        written.append(shot)
    except Exception:  # noqa: S110 - evidence is best effort; the step's own error is raised
        pass
    try:
        html = base.with_suffix(".html")
        html.write_text(redact(await page.content(), secrets), encoding="utf-8")
        written.append(html)
    except Exception:  # noqa: S110 - as above
        pass
    return written


__all__ = [
    "REDACTED",
    "capture",
    "redact",
    "redact_archive",
    "stem",
]
