"""Small HTML building blocks for the console pages: escaping, one layout, labelled controls.

Every control is a native element with a visible label (or a name from its text), so a
browser's accessibility tree gives it the role and accessible name a person would use:
that is what the console backend's locators and the accessibility check in the tests rely
on. No page needs JavaScript except the Disconnect confirmation, a native <dialog>.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape


def e(value: object) -> str:
    """Escape any value for text or a quoted attribute."""
    return escape("" if value is None else str(value), quote=True)


def layout(
    title: str,
    body: str,
    *,
    base: str,
    revision: int | None = None,
    notice: str | None = None,
    alert: str | None = None,
    signed_in: bool = True,
) -> str:
    """The page frame: a banner with the main navigation, one <main>, a footer.

    `notice` is a role=status message ("Saved"), `alert` a role=alert refusal; both are
    rendered only on the answer to a POST, so a script can wait for the one it caused.
    """
    nav = ""
    if signed_in:
        nav = (
            '<nav aria-label="Main">'
            f'<ul><li><a href="{e(base)}/">Home</a></li>'
            f'<li><a href="{e(base)}/settings">Settings</a></li></ul></nav>'
        )
    messages = ""
    if alert:
        messages += f'<p role="alert" class="alert">{e(alert)}</p>'
    if notice:
        messages += f'<p role="status" class="notice">{e(notice)}</p>'
    footer = ""
    if revision is not None:
        footer = "<footer>" + facts("Revision", [("revision", "Settings revision", revision)])
        footer += "</footer>"
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{e(title)} · Chargebee (emulated)</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{_STYLE}</style></head><body>"
        f'<header><p class="brand">Chargebee (emulated)</p>{nav}</header>'
        f"<main><h1>{e(title)}</h1>{messages}{body}</main>{footer}</body></html>"
    )


def facts(label: str, rows: Sequence[tuple[str, str, object]]) -> str:
    """Values next to their names: a table whose row headers name each value's cell."""
    body = "".join(
        f'<tr><th scope="row">{e(term)}</th><td>{e(value)}</td></tr>' for _, term, value in rows
    )
    return f'<table class="facts"><caption>{e(label)}</caption><tbody>{body}</tbody></table>'


def table(caption: str, headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    head = "".join(f'<th scope="col">{e(h)}</th>' for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            (f'<th scope="row">{e(c)}</th>' if i == 0 else f"<td>{e(c)}</td>")
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return (
        f"<table><caption>{e(caption)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def text_input(
    key: str,
    label: str,
    *,
    value: str = "",
    kind: str = "text",
    readonly: bool = False,
    required: bool = False,
    autocomplete: str = "off",
) -> str:
    flags = (" readonly" if readonly else "") + (" required" if required else "")
    note = ""
    described = ""
    if readonly:
        described = f' aria-describedby="{e(key)}-note"'
        note = f'<span id="{e(key)}-note" class="note">cannot be edited</span>'
    return (
        f'<p><label for="{e(key)}">{e(label)}</label> '
        f'<input id="{e(key)}" name="{e(key)}" type="{e(kind)}" value="{e(value)}" '
        f'autocomplete="{e(autocomplete)}"{flags}{described}> {note}</p>'
    )


def checkbox(key: str, label: str, checked: bool) -> str:
    mark = " checked" if checked else ""
    return (
        f'<p><input id="{e(key)}" name="{e(key)}" type="checkbox" value="true"{mark}> '
        f'<label for="{e(key)}">{e(label)}</label></p>'
    )


def select(key: str, label: str, options: Sequence[tuple[str, str]], chosen: str | None) -> str:
    rendered = "".join(
        f'<option value="{e(value)}"{" selected" if value == (chosen or "") else ""}>'
        f"{e(text)}</option>"
        for value, text in options
    )
    return (
        f'<p><label for="{e(key)}">{e(label)}</label> '
        f'<select id="{e(key)}" name="{e(key)}">{rendered}</select></p>'
    )


def form(action: str, inner: str, *, label: str | None = None) -> str:
    named = f' aria-label="{e(label)}"' if label else ""
    return f'<form method="post" action="{e(action)}"{named}>{inner}</form>'


def button(text: str, *, kind: str = "submit", extra: str = "") -> str:
    return f'<button type="{e(kind)}"{extra}>{e(text)}</button>'


_STYLE = (
    "body{font-family:sans-serif;margin:0;color:#1a1a1a;background:#fff}"
    "header{background:#12325b;color:#fff;padding:.5rem 1rem}"
    "header a{color:#fff}header ul{list-style:none;display:flex;gap:1rem;margin:0;padding:0}"
    ".brand{margin:0 0 .25rem;font-weight:bold}main{padding:1rem;max-width:60rem}"
    "footer{padding:0 1rem 1rem;color:#333}caption{text-align:left;font-weight:bold}"
    ".alert{border:2px solid #a00;color:#700;padding:.5rem}"
    ".notice{border:2px solid #060;color:#040;padding:.5rem}"
    ".note{color:#444;font-size:.9rem}table{border-collapse:collapse}"
    "th,td{border:1px solid #666;padding:.25rem .5rem;text-align:left}"
    "button[role=switch][aria-checked=true]{background:#063;color:#fff}"
)


__all__ = [
    "button",
    "checkbox",
    "e",
    "facts",
    "form",
    "layout",
    "select",
    "table",
    "text_input",
]
