"""Tiny HTML builder: every text and attribute value is escaped unless it is `Markup`.

Why not a template engine: the page is small, and a builder makes it impossible to paste an
unescaped value into markup by accident (the octoDNS habit to avoid).
"""

from __future__ import annotations

import html
from collections.abc import Iterable

from reconciler.fields import printable


class Markup(str):
    """A string that is already safe HTML (only `el()` and `raw_join()` make these)."""

    __slots__ = ()


def escape(value: object) -> Markup:
    if isinstance(value, Markup):
        return value
    return Markup(html.escape(printable(str(value)), quote=True))


Child = object  # str/int (escaped), Markup (trusted), None (skipped), or an iterable of those


def _children(children: Iterable[Child]) -> Iterable[Markup]:
    for child in children:
        if child is None:
            continue
        if isinstance(child, str | int | float):
            yield escape(child)
        elif isinstance(child, Iterable):
            yield from _children(child)
        else:
            yield escape(child)


def el(tag: str, *children: Child, **attrs: object) -> Markup:
    """`<tag attr="...">children</tag>` with every attribute value and text escaped.

    Attribute names come from code, never from data; `class_` is written `class`.
    """
    parts = [tag]
    for name, value in attrs.items():
        if value is None or value is False:
            continue
        key = name.rstrip("_").replace("_", "-")
        parts.append(key if value is True else f'{key}="{escape(value)}"')
    opening = "<" + " ".join(parts) + ">"
    if tag in {"meta", "input", "br"}:
        return Markup(opening)
    return Markup(opening + "".join(_children(children)) + f"</{tag}>")


def raw_join(items: Iterable[Child], sep: str = "") -> Markup:
    return Markup(sep.join(_children(items)))
