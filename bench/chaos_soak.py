"""Soak (issue 19): a long-running reconciler must not leak.

`reconcile --interval 2s` for 10 minutes against 500 sites under the chaos faults, with
the status page (/, /healthz, /report.json) and /metrics polled meanwhile. Samples the
process's RSS, open file descriptors and threads from /proc every few seconds; the goal
is that each stays within 10% of its level once warmed up: the peak afterwards against
the peak of the minute after warm-up (peaks on both sides: a pass every 2 s makes every
measure a sawtooth, threads and fds rise in a pass and fall between), warm-up being the
first minute or the first pass, whichever ends later (on a loaded machine the first pass
of 500 sites outlasts the first minute, and a level sampled mid-pass is not the process
warmed up), that every pass is
reported (one "pass N finished" log line per pass, numbered without a gap) and that no
pass failed. Part of `make chaos`; or:

    .venv/bin/python bench/chaos_soak.py [--sites 500] [--minutes 10] [--interval 2s]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from _common import REPO, print_json_line, print_table

sys.path.insert(0, str(REPO))

from emulator.embedded import start_emulator
from tests.reliability._scenario import BRIGHTBACK, CHAOS_FAULTS, build_fleet, env_for

TOLERANCE = 0.10


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sample(pid: int) -> dict[str, float]:
    """RSS (MiB), open descriptors and threads of `pid`, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {
        "rss_mib": int(fields["VmRSS"].split()[0]) / 1024,
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
        "threads": int(fields["Threads"]),
    }


def poll(urls: list[str], stop: threading.Event, counts: dict[str, int]) -> None:
    """Load the page, the probe, the report and the metrics, over and over."""
    with httpx.Client(timeout=10) as client:
        while not stop.is_set():
            for url in urls:
                try:
                    code = client.get(url).status_code
                    counts[str(code)] = counts.get(str(code), 0) + 1
                except httpx.HTTPError as exc:
                    counts[type(exc).__name__] = counts.get(type(exc).__name__, 0) + 1
            stop.wait(0.5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=500)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--interval", default="2s")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--every", type=float, default=5.0, help="seconds between samples")
    parser.add_argument(
        "--probe-out",
        type=Path,
        help="run the reconciler under soak_probe.py: one JSON line per pass to this file "
        "(RSS, glibc heap in use/free, gc objects, threads, fds)",
    )
    parser.add_argument(
        "--probe-frames", type=int, default=0, help="with --probe-out: tracemalloc frames (slow)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
        work = Path(tmp)
        with start_emulator(work / "emulator.sqlite3") as emulator:
            admin = emulator.admin
            cases = build_fleet(admin, work / "sites", args.sites)
            admin.set_faults(global_=CHAOS_FAULTS)
            env = env_for(cases, emulator.url_template)
            tool = [BRIGHTBACK]
            if args.probe_out is not None:  # same command, observed after every pass
                tool = [sys.executable, str(Path(__file__).with_name("soak_probe.py"))]
                env["SOAK_PROBE_OUT"] = str(args.probe_out.resolve())
                env["SOAK_PROBE_FRAMES"] = str(args.probe_frames)
            serve, metrics = free_port(), free_port()
            log_path = work / "reconcile.log"
            with log_path.open("w") as log:
                process = subprocess.Popen(
                    [*tool, "reconcile", str(work / "sites"), "--interval", args.interval,
                     "--state-dir", str(work / "state"), "--concurrency", str(args.concurrency),
                     "--serve", str(serve), "--metrics-port", str(metrics),
                     "--log-format", "json", "--format", "json", "--force"],
                    env=env, stdout=subprocess.DEVNULL, stderr=log, text=True,
                )  # fmt: skip
            base = f"http://127.0.0.1:{serve}/"
            urls = [base, base + "healthz", base + "report.json"]
            urls.append(f"http://127.0.0.1:{metrics}/metrics")
            stop, answers = threading.Event(), {}  # type: ignore[var-annotated]
            poller = threading.Thread(target=poll, args=(urls, stop, answers), daemon=True)
            poller.start()
            samples: list[tuple[float, dict[str, float]]] = []
            started, started_at = time.monotonic(), time.time()
            try:
                while time.monotonic() - started < args.minutes * 60:
                    if process.poll() is not None:
                        break
                    samples.append((time.monotonic() - started, sample(process.pid)))
                    time.sleep(args.every)
            finally:
                stop.set()
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    process.kill()
            lines = [json.loads(x) for x in log_path.read_text().splitlines() if x.startswith("{")]
    finished = [e["pass"] for e in lines if e["message"].startswith("pass ") and "pass" in e
                and e["message"].endswith(" finished")]  # fmt: skip
    failed = [e for e in lines if e["message"].startswith("pass failed")]
    ends = [e["time"] for e in lines if e.get("pass") == 1 and e["message"].endswith(" finished")]
    first_pass_end = min(ends, default=None)
    warm = max(60.0, (first_pass_end - started_at) if first_pass_end is not None else 60.0)
    first = [s for t, s in samples if warm <= t <= warm + 60] or [samples[0][1]]
    later = [s for t, s in samples if t > warm + 60] or [samples[-1][1]]
    rows: list[dict[str, Any]] = []
    for key in ("rss_mib", "fds", "threads"):
        level = max(s[key] for s in first)
        peak = max(s[key] for s in later)
        growth = (peak - level) / level if level else 0.0
        rows.append(
            {"measure": key, "warm level": round(level, 1), "peak after": round(peak, 1),
             "growth %": round(100 * growth, 1), "ok": growth <= TOLERANCE}
        )  # fmt: skip
    gapless = finished == list(range(1, len(finished) + 1))
    print_table(rows, title=f"soak: {args.sites} sites, {args.minutes} min, every {args.interval}")
    record = {
        "bench": "chaos_soak",
        "sites": args.sites,
        "minutes": args.minutes,
        "interval": args.interval,
        "passes_finished": len(finished),
        "passes_gapless": gapless,
        "passes_failed": len(failed),
        "exit_code": process.returncode,
        "answers": answers,
        "warm_up_s": round(warm, 1),
        "measures": rows,
        # The trend tells warm-up (the first passes fill the state) from a leak.
        "by_minute": [
            {
                "minute": minute + 1,
                **{
                    k: max(s[k] for t, s in samples if minute * 60 <= t < (minute + 1) * 60)
                    for k in ("rss_mib", "fds", "threads")
                },
            }
            for minute in range(int(args.minutes))
            if any(minute * 60 <= t < (minute + 1) * 60 for t, _ in samples)
        ],
        "goal_met": all(r["ok"] for r in rows) and gapless and not failed and finished != [],
    }
    print_json_line(record)
    return 0 if record["goal_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
