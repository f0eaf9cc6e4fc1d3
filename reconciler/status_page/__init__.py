"""The status page of the long-running reconciler (and `brightback status --serve`).

`render(report, label_filter=, now=)` turns the last pass's report into HTML (pure);
`serve_status(port, state_dir or ReportSource(store))` serves it with `/report.json` and `/healthz`.
"""

from reconciler.status_page._render import (
    REPORT_FILE,
    STATUS_WORDS,
    parse_label_filter,
    read_report,
    render,
    render_no_report,
    status_words,
)
from reconciler.status_page._server import HOST_ENV, StatusServer, serve_status
from reconciler.status_page._source import ReportSource

__all__ = [
    "HOST_ENV",
    "REPORT_FILE",
    "STATUS_WORDS",
    "ReportSource",
    "StatusServer",
    "parse_label_filter",
    "read_report",
    "render",
    "render_no_report",
    "serve_status",
    "status_words",
]
