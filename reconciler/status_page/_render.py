"""The status page: the last reconcile pass as one server-rendered HTML page.

Why server-rendered: users run this next to a reconciler in a container, so there is no
build step, no JavaScript and no asset pipeline. The page reloads itself with a
`<meta http-equiv="refresh">`, and every request re-reads `<state_dir>/last-report.json`,
so the page is level-triggered like the reconciler: it shows whatever the last pass wrote.

Every value that came from a config file or the API is escaped by `el()`; markup is only
ever built from `Markup` values made by `el()` itself, never by pasting strings together.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from reconciler.status_page._html import Child, Markup, el
from reconciler.status_page._sections import (
    backoff_section,
    conditions_section,
    drift_section,
    fleet_entry,
    outcomes_section,
    steps_section,
)

REPORT_FILE = "last-report.json"
DEFAULT_REFRESH_S = 15

# report status -> the words a person reads. Worst first: the title names the worst.
STATUS_WORDS: dict[str, str] = {
    "failed": "failing",
    "blocked": "blocked",
    "changes": "changes pending",
    "drifted": "drifted",
    "waiting": "waiting",
    "applied": "applied",
    "in_sync": "in sync",
}

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 1.5rem 2rem;color:#1b1f23}
h1{font-size:1.3rem;margin:1rem 0 .3rem}
.meta{color:#57606a;margin:.2rem 0}
.meta code{background:#f3f4f6;padding:0 .3em;border-radius:3px}
.counts span{margin-right:1rem}
table{border-collapse:collapse;width:100%;margin-top:.8rem}
th,td{text-align:left;vertical-align:top;border-bottom:1px solid #d0d7de;padding:.35rem .5rem}
th{background:#f6f8fa}
td.name{white-space:nowrap}
.badge{display:inline-block;padding:0 .5em;border-radius:1em;font-weight:600;white-space:nowrap}
.s-failed{background:#ffebe9;color:#a40e26}.s-blocked{background:#fff1e5;color:#953800}
.s-changes{background:#ddf4ff;color:#0550ae}.s-drifted{background:#fff8c5;color:#7d4e00}
.s-waiting{background:#eaeef2;color:#424a53}.s-applied{background:#dafbe1;color:#116329}
.s-in_sync{background:#dafbe1;color:#116329}
.label{display:inline-block;background:#eef;border-radius:3px;padding:0 .35em;margin:0 .2em .2em 0;
 color:#24292f;text-decoration:none;font-size:.9em}
ul,ol{margin:.2rem 0;padding-left:1.2rem}
.destructive{color:#a40e26;font-weight:600}
.muted{color:#57606a}
form{margin:.6rem 0}
.warn{background:#fff8c5;padding:.4rem .6rem;border-radius:4px}
"""


# --- the page ---------------------------------------------------------------------------


def site_labels(site: Mapping[str, Any]) -> dict[str, str]:
    labels = site.get("labels") or {}
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, Mapping) else {}


def matches(site: Mapping[str, Any], label_filter: Mapping[str, str] | None) -> bool:
    """Every key=value of the filter must be a label of the site (AND, like kubectl -l)."""
    if not label_filter:
        return True
    labels = site_labels(site)
    return all(labels.get(k) == v for k, v in label_filter.items())


def status_words(site: Mapping[str, Any]) -> str:
    """The status as a person says it; `waiting` names what it waits for when it can."""
    status = str(site.get("status", "failed"))
    if status == "waiting":
        reasons = " ".join(
            str(c.get("reason", "")) for c in site.get("conditions") or [] if isinstance(c, dict)
        )
        if "publish" in reasons:
            return "waiting for publish"
        if "activat" in reasons or "pending" in reasons:
            return "waiting for activation"
    return STATUS_WORDS.get(status, status)


def label_href(labels: Mapping[str, str]) -> str:
    return "?" + "&".join("label=" + quote(f"{k}={v}", safe="") for k, v in labels.items())


def _ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds / 86400:.0f} days ago"


def _utc(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


def _pass_meta(report: Mapping[str, Any], now: float) -> list[Markup]:
    lines: list[Markup] = []
    started = report.get("pass_started_at")
    duration = report.get("duration_s")
    when: list[Child] = [f"Last pass: brightback {report.get('command', '?')}"]
    if isinstance(started, int | float):
        when.append(f", started {_utc(started)} ({_ago(now - started)})")
    if isinstance(duration, int | float):
        when.append(f", took {duration:.1f} s")
    when.append(f", exit code {report.get('exit_code', '?')}")
    lines.append(el("p", *when, class_="meta", id="pass"))
    git = report.get("git")
    if isinstance(git, Mapping) and git.get("commit"):
        dirty = " (dirty: uncommitted changes in the config)" if git.get("dirty") else ""
        lines.append(
            el(
                "p",
                "Config at git commit ",
                el("code", str(git["commit"])[:12]),
                dirty,
                class_="meta",
                id="git",
            )
        )
    return lines


def _counts(sites: Sequence[Mapping[str, Any]]) -> Markup:
    spans = []
    for status, words in STATUS_WORDS.items():
        n = sum(1 for s in sites if s.get("status") == status)
        if n:
            spans.append(el("span", el("span", words, class_=f"badge s-{status}"), f" {n}"))
    return el("p", spans, class_="counts", id="counts")


def _filter_form(label_filter: Mapping[str, str] | None, shown: int, total: int) -> Markup:
    current = " ".join(f"{k}={v}" for k, v in (label_filter or {}).items())
    parts: list[Child] = [
        el(
            "label",
            "Filter by label ",
            el("input", type="text", name="label", value=current, placeholder="brand=acme"),
        ),
        " ",
        el("button", "Filter", type="submit"),
    ]
    if label_filter:
        parts += [
            " ",
            el("a", "clear", href="?", id="clear-filter"),
            el(
                "span",
                f" showing {shown} of {total} sites matching {current}",
                class_="muted",
                id="filter-summary",
            ),
        ]
    return el("form", parts, method="get", action="")


def _row(site: Mapping[str, Any], fleet_site: Mapping[str, Any]) -> Markup:
    status = str(site.get("status", "failed"))
    raw_plan = site.get("plan")
    plan: Mapping[str, Any] = raw_plan if isinstance(raw_plan, Mapping) else {}
    labels = site_labels(site)
    label_links = [
        el("a", f"{k}={v}", href=label_href({k: v}), class_="label") for k, v in labels.items()
    ]
    details = [
        conditions_section(site),
        backoff_section(fleet_site),
        drift_section(plan, fleet_site),
        steps_section(plan),
        outcomes_section(site),
    ]
    return el(
        "tr",
        el(
            "td",
            el("b", str(site.get("name", "?"))),
            el("div", site.get("source") or "", class_="muted"),
            class_="name",
        ),
        el("td", str(site.get("site", "?"))),
        el("td", el("span", status_words(site), class_=f"badge s-{status}")),
        el("td", label_links),
        el(
            "td",
            [d for d in details if d is not None] or el("span", "nothing to do", class_="muted"),
        ),
        class_="site",
        data_site=str(site.get("site", "")),
        data_status=status,
    )


def _page(title: str, body: Iterable[Child], refresh_s: int) -> str:
    head = el(
        "head",
        el("meta", charset="utf-8"),
        el("meta", http_equiv="refresh", content=str(refresh_s)),
        el("meta", name="viewport", content="width=device-width, initial-scale=1"),
        el("title", title),
        el("style", Markup(_CSS)),
    )
    return "<!doctype html>\n" + el("html", head, el("body", body), lang="en") + "\n"


def render(
    report: Mapping[str, Any],
    *,
    label_filter: Mapping[str, str] | None = None,
    now: float,
    refresh_s: int = DEFAULT_REFRESH_S,
) -> str:
    """The whole page for one report (plus optional git/pass_started_at/duration_s).

    Pure: the same report, filter and `now` always give the same bytes, so it is tested
    without a server or a clock.
    """
    sites = [s for s in report.get("sites") or [] if isinstance(s, Mapping)]
    shown = [s for s in sites if matches(s, label_filter)]
    worst = next((s for s in STATUS_WORDS if any(x.get("status") == s for x in sites)), "in_sync")
    title = f"brightback: {len(sites)} sites, {STATUS_WORDS[worst]}" if sites else "brightback"
    notes = [el("p", str(n), class_="warn") for n in report.get("notes") or []]
    fleet = report.get("fleet")
    safety = fleet.get("safety") if isinstance(fleet, Mapping) else None
    if isinstance(safety, Mapping) and safety.get("refused"):
        reason = safety.get("reason") or "the fleet safety threshold"
        notes.append(el("p", f"Destructive steps refused this pass: {reason}", class_="warn"))
    rows = [_row(s, fleet_entry(report, str(s.get("name", "")))) for s in shown]
    table = el(
        "table",
        el(
            "thead",
            el(
                "tr",
                [
                    el("th", h)
                    for h in ("Name", "Site", "Status", "Labels", "Conditions, drift and plan")
                ],
            ),
        ),
        el("tbody", rows or el("tr", el("td", "no site matches this filter", colspan="5"))),
        id="sites",
    )
    body = [
        el("h1", "brightback status"),
        *_pass_meta(report, now),
        _counts(shown),
        *notes,
        _filter_form(label_filter, len(shown), len(sites)),
        table,
        el(
            "p",
            f"Rendered {_utc(now)}; refreshes every {refresh_s} s. ",
            el("a", "report.json", href="/report.json"),
            class_="meta",
        ),
    ]
    return _page(title, body, refresh_s)


def render_no_report(path: Path | str, *, now: float, refresh_s: int = DEFAULT_REFRESH_S) -> str:
    """Shown until the first pass writes its report: says what to run, keeps refreshing."""
    body = [
        el("h1", "brightback status"),
        el("p", "No reconcile pass has run yet.", id="no-report"),
        el(
            "p",
            "Waiting for ",
            el("code", str(path)),
            ". Run ",
            el("code", "brightback reconcile --once PATH..."),
            " (or start the long-running reconciler) and this page updates by itself.",
            class_="meta",
        ),
        el("p", f"Rendered {_utc(now)}; refreshes every {refresh_s} s.", class_="meta"),
    ]
    return _page("brightback: no pass yet", body, refresh_s)


def parse_label_filter(query: str) -> dict[str, str]:
    """`label=brand=acme&label=env=prod` (or `label=brand=acme env=prod`) -> a dict.

    Raises ValueError with a sentence a person can act on for a term without `=`.
    """
    terms: list[str] = []
    for value in parse_qs(query, keep_blank_values=False).get("label", []):
        terms.extend(t for t in value.replace(",", " ").split() if t)
    result: dict[str, str] = {}
    for term in terms:
        key, sep, value = term.partition("=")
        if not sep or not key:
            raise ValueError(f"label filter {term!r} must look like KEY=VALUE, e.g. brand=acme")
        result[key] = value
    return result


def read_report(state_dir: Path) -> dict[str, Any] | None:
    """The last pass's report, or None when no pass has written one yet.

    Raises ValueError (JSON that is not an object, or not JSON) and OSError (unreadable).
    """
    path = state_dir / REPORT_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    return data
