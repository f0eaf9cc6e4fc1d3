"""`brightback reconcile PATH...`: the fleet reconciler, once or on an interval.

Each pass loads and validates the whole config (an invalid config applies nothing), reads
and plans every site concurrently, heals what policy allows, reports the rest, and writes
`<state-dir>/last-report.json` and the state file atomically. Exit codes are those of the
last pass: 0 nothing changed, 1 a site failed or the pass was refused, 2 changes made.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
from typing import Any

from reconciler.backend import BackendKind
from reconciler.cli._backend import add_backend_arguments, console_config
from reconciler.cli._common import (
    add_common_arguments,
    add_paths,
    argument_type,
    client_config,
    count_documents,
    writable_dir,
)
from reconciler.cli._state import add_state_arguments, open_from_args, state_url
from reconciler.client import ClientStats
from reconciler.fields import printable
from reconciler.fleet.liveness import Liveness
from reconciler.fleet.loop import (
    failure_kind,
    parse_duration,
    parse_jitter,
    run_loop,
    stop_on_signals,
)
from reconciler.fleet.memory import release_free_memory, tune_for_long_run
from reconciler.fleet.passes import PassOptions, PassResult, run_pass
from reconciler.fleet.progress import Progress
from reconciler.fleet.shard import COUNT_ENV, INDEX_ENV, shard_from
from reconciler.fleet.state import StateFileError
from reconciler.report import EXIT_CHANGES, SiteStatus, render
from reconciler.report.json_report import write_document

log = logging.getLogger("brightback.reconcile")


_duration = argument_type(parse_duration)
_jitter = argument_type(parse_jitter)


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("must be a TCP port (0-65535)")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_paths(parser, "desired-state files or directories")
    add_common_arguments(parser)
    when = parser.add_mutually_exclusive_group()
    when.add_argument("--once", action="store_true", help="run one pass and exit (default)")
    when.add_argument(
        "--interval", type=_duration, metavar="DURATION", help="run a pass every DURATION (10m)"
    )
    parser.add_argument(
        "--jitter", type=_jitter, default=0.1, metavar="PERCENT", help="+- of the interval (10%%)"
    )
    parser.add_argument(
        "--passes", type=int, metavar="N", help="with --interval: stop after N passes"
    )
    parser.add_argument(
        "--pass-timeout",
        type=_duration,
        metavar="DURATION",
        help="give a pass this long: sites not started by then are reported as not reached "
        "(and tried next pass), retries in flight stop (default: no limit)",
    )
    add_state_arguments(parser, "state, last report and site locks")
    add_backend_arguments(parser, state_dir=False)  # console sessions: under --state-dir
    parser.add_argument(
        "--shard",
        metavar="INDEX/COUNT",
        help=f"reconcile only the sites of shard INDEX of COUNT (0-based; default "
        f"${INDEX_ENV} of an Indexed Job with --shard-count); the safety threshold is "
        "still counted over the whole fleet, through the shared state store",
    )
    parser.add_argument(
        "--shard-count",
        type=int,
        metavar="COUNT",
        help=f"shards of the fleet, with the index from ${INDEX_ENV} (default ${COUNT_ENV})",
    )
    parser.add_argument(
        "--run-id",
        metavar="ID",
        help="shared by the shards of one run, to add up their destructive steps (default "
        "$BRIGHTBACK_RUN_ID, else pass-<number>; an Indexed Job passes its own uid)",
    )
    parser.add_argument(
        "--changes-exit-code",
        type=int,
        default=EXIT_CHANGES,
        metavar="CODE",
        help="exit with CODE instead of 2 when a pass changed something (0 for a "
        "Kubernetes Job or CI step that counts any other code as a failure; a failed or "
        "blocked site still exits 1)",
    )
    parser.add_argument(
        "--shard-wait",
        type=_duration,
        default=600.0,
        metavar="DURATION",
        help="how long a shard with destructive steps waits for the other shards' counts "
        "before refusing them (default 10m)",
    )
    parser.add_argument(
        "--force", action="store_true", help="apply destructive steps above the fleet threshold"
    )
    parser.add_argument(
        "--max-destructive-percent",
        type=float,
        default=10.0,
        metavar="P",
        help="refuse destructive steps when more than P%% of sites would get one "
        "(default 10; like octoDNS, only in fleets of 10 sites or more)",
    )
    parser.add_argument(
        "--max-destructive-sites",
        type=int,
        metavar="N",
        help="refuse destructive steps when more than N sites would get one",
    )
    parser.add_argument(
        "--max-backoff-passes",
        type=int,
        default=8,
        metavar="N",
        help="a failing site is retried at least every N+1 passes (default 8)",
    )
    parser.add_argument(
        "--probe",
        action="store_true",
        help="start a pre-cancel session for retention_api sites with spec.probe",
    )
    parser.add_argument(
        "--serve", type=_port, metavar="PORT", help="serve the status page on PORT while running"
    )
    parser.add_argument(
        "--host",
        default=None,
        help="address --serve listens on (default $BRIGHTBACK_SERVE_HOST, else 127.0.0.1; "
        "0.0.0.0 in a container)",
    )
    parser.add_argument(
        "--metrics-port", type=_port, metavar="PORT", help="serve Prometheus metrics"
    )
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="json: one JSON object per log line on stderr (no progress bar)",
    )


class _JsonFormatter(logging.Formatter):
    """One JSON object per line: what log shippers index without parsing rules."""

    FIELDS = ("pass", "site", "status", "reason", "exit_code", "duration_s", "counts")

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: getattr(record, k) for k in self.FIELDS if hasattr(record, k)})
        if record.exc_info:  # a pass that failed on a bug: the traceback, in one line
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, sort_keys=True)


class _TextFormatter(logging.Formatter):
    """`LEVEL message`, with control characters from peers and file names shown escaped."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return printable(super().formatMessage(record))


def _configure_logging(fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(_TextFormatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("brightback")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO if fmt == "json" else logging.WARNING)
    logger.propagate = False
    # Retries are what an operator watching a slow pass wants to see, in text mode too.
    logging.getLogger("brightback.client").setLevel(logging.INFO)


def _log_pass(result: PassResult) -> None:
    report = result.report
    # Applied and blocked sites are logged at INFO, which text logs leave out: there, only
    # failures are worth reading every spooled site back (an onboarding pass's reports
    # unpickled for nothing were 3 % of its CPU, issue 17).
    logged: tuple[SiteStatus, ...] = (SiteStatus.FAILED,)
    if log.isEnabledFor(logging.INFO):
        logged += (SiteStatus.APPLIED, SiteStatus.BLOCKED)
    if any(report.count(status) for status in logged):
        _log_sites(result, logged)
    log.info(
        f"pass {result.pass_no} finished",
        extra={
            "pass": result.pass_no,
            "exit_code": result.exit_code,
            "duration_s": round(result.duration_s, 3),
            "counts": report.summary(),
        },
    )


def _log_sites(result: PassResult, logged: tuple[SiteStatus, ...]) -> None:
    """One log line for each site of the pass whose status is in `logged`."""
    for site in result.report.sites:
        if site.status in logged:
            reason = site.conditions[0].reason if site.conditions else None
            level = logging.WARNING if site.status is SiteStatus.FAILED else logging.INFO
            log.log(
                level,
                f"{site.name}: {site.status.value}",
                extra={
                    "pass": result.pass_no,
                    "site": site.site,
                    "status": site.status.value,
                    "reason": reason,
                },
            )


def _summary_line(result: PassResult) -> str:
    summary = result.report.summary()
    parts = [f"{summary['sites']} sites"]
    parts += [f"{summary[s.value]} {s.value}" for s in SiteStatus if summary[s.value]]
    return (
        f"pass {result.pass_no}: {', '.join(parts)}; exit {result.exit_code} "
        f"({result.duration_s:.1f}s)"
    )


def run(args: argparse.Namespace) -> int:
    _configure_logging(args.log_format)
    try:
        shard = shard_from(args.shard, args.shard_count, os.environ)
    except ValueError as exc:
        print(printable(f"brightback reconcile: error: {exc}"), file=sys.stderr)
        return 64  # EX_USAGE: a usage error, in the exit-code table
    if state_url(args) is None:  # the directory store: say at once if it cannot work
        writable_dir(args.state_dir, "--state-dir")
    options = PassOptions(
        paths=tuple(args.paths),
        state_dir=args.state_dir,
        state_url=state_url(args),
        shard=shard,
        run_id=args.run_id or os.environ.get("BRIGHTBACK_RUN_ID") or None,
        shard_wait_s=args.shard_wait,
        client_config=client_config(args),
        concurrency=args.concurrency,
        allow_disconnect=args.allow_disconnect,
        force=args.force,
        max_destructive_percent=args.max_destructive_percent,
        max_destructive_sites=args.max_destructive_sites,
        sites=tuple(args.site) if args.site else None,
        selector=args.selector,
        allow_empty=args.allow_empty,
        max_backoff_passes=args.max_backoff_passes,
        probe=args.probe,
        pass_timeout_s=args.pass_timeout,
        backend=BackendKind(args.backend),
        console=lambda: console_config(args),
    )
    if args.interval is not None:  # before the servers' and the passes' threads exist
        tune_for_long_run()
    stats = ClientStats()
    stop = threading.Event()
    metrics = None
    metrics_server = None
    if args.metrics_port is not None:
        from reconciler.fleet.metrics import FleetMetrics

        metrics = FleetMetrics()
        metrics_server = metrics.serve(args.metrics_port)
    status_server = None
    # /healthz turns 503 when passes stop finishing (only an --interval run has a rhythm).
    liveness = Liveness(args.interval) if args.interval is not None else None
    if args.serve is not None:
        from reconciler.status_page import ReportSource, serve_status

        status_server = serve_status(
            args.serve, ReportSource(open_from_args(args)), args.host, liveness=liveness
        )
        print(f"serving the status page on {status_server.url}", file=sys.stderr, flush=True)
    progress = Progress(enabled=None if args.log_format == "text" else False)
    interval_mode = args.interval is not None

    def once() -> int:
        progress.start("reconcile", count_documents(args.paths) if progress.enabled else None)
        result = run_pass(options, stop=stop, stats=stats, tick=progress.tick)
        if args.log_format == "text":
            progress.finish(_summary_line(result))
        _log_pass(result)
        if liveness is not None:
            liveness.pass_finished()
        if metrics is not None:
            metrics.observe_pass(
                result.report, result.duration_s, result.drift_found, result.drift_corrected, stats
            )
        if interval_mode and args.format != "json":  # JSON: one document after another
            print(f"--- pass {result.pass_no} at {time.strftime('%H:%M:%S')} ---", flush=True)
        if args.format == "json" and result.printed:
            write_document(result.printed, sys.stdout)  # the dict the pass already built
        else:
            render(result.report, args.format, sys.stdout)
        sys.stdout.flush()
        if interval_mode:
            release_free_memory()  # each pass starts from the same footprint
        return result.exit_code

    def failed(exc: Exception) -> int:
        """Report a pass that raised; the loop retries at the next interval."""
        progress.abandon()
        kind = failure_kind(exc)
        why = f"{exc.strerror} ({kind})" if isinstance(exc, OSError) and exc.strerror else exc
        then = "retrying at the next interval" if interval_mode else "nothing more was done"
        log.error(
            f"pass failed: {why}; {then}",
            exc_info=not isinstance(exc, OSError),  # a bug keeps its traceback, in the log
            extra={"status": "failed", "reason": kind},
        )
        if metrics is not None:
            metrics.observe_failure(kind)
        return 1

    try:
        with stop_on_signals(stop), progress:
            code, _ = run_loop(
                once,
                interval=args.interval,
                jitter=args.jitter,
                stop=stop,
                max_passes=args.passes,
                on_failure=failed,
                fatal=(StateFileError,),
            )
    finally:
        if status_server is not None:
            status_server.stop()
        if metrics_server is not None:
            metrics_server.stop()
    if stop.is_set():
        print("stopped: finished the sites in flight and recorded the pass", file=sys.stderr)
        if interval_mode:
            return 0
    return args.changes_exit_code if code == EXIT_CHANGES else code


__all__ = [
    "add_arguments",
    "run",
]
