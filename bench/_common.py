"""Measuring helpers shared by every benchmark script.

Each bench prints a small human table and exactly one machine line starting with
`{"bench": ...}`; `run_all.py` collects those lines. Child processes are measured one by
one with `os.wait4`, which returns the resource usage of that child alone: a fleet bench
also has the emulator as a child, and `RUSAGE_CHILDREN` would mix the two.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SCHEMA = REPO / "schemas" / "brightback-integration.schema.json"
JSON_PREFIX = '{"bench":'


def venv_script(name: str) -> str:
    """A console script next to the running interpreter (the project's venv), else on PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} is not installed (run `make .venv/.installed-stamp`)")
    return found


@dataclass(frozen=True)
class Measured:
    """One finished child process: how it ended, how long it took, what it cost."""

    returncode: int
    wall_s: float
    user_s: float
    sys_s: float
    peak_rss_mb: float
    stdout: str
    stderr: str
    timed_out: bool = False
    # The machine's 1-minute load average as the child ended: the side-by-side ratio
    # follows it (bench/README.md, issue 17), so every run says how busy it was.
    load_1m: float = 0.0


def run_measured(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 600.0,
    cwd: str | Path | None = None,
) -> Measured:
    """Run `argv` to completion and report its own wall time, CPU and peak RSS.

    Output goes to temporary files (not pipes) so the child can never block on a full
    pipe while we wait for it with `wait4`, the only call that yields per-child rusage.
    Peak RSS is the child's VmHWM polled every 10 ms, not `ru_maxrss`: Linux carries the
    high-water mark of the (v)forking parent across exec into `ru_maxrss`, so a big bench
    process would make every child it starts look as big as itself.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            list(argv), stdout=out, stderr=err, env=dict(env) if env is not None else None, cwd=cwd
        )
        timed_out = False
        hwm_kib = 0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid != 0:
                break
            hwm_kib = max(hwm_kib, _vm_hwm_kib(proc.pid))
            if time.perf_counter() - started > timeout:
                proc.kill()
                timed_out = True
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.01)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Measured(
            returncode=proc.returncode,
            wall_s=wall,
            user_s=usage.ru_utime,
            sys_s=usage.ru_stime,
            peak_rss_mb=(hwm_kib or usage.ru_maxrss) / 1024.0,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
            timed_out=timed_out,
            load_1m=os.getloadavg()[0],
        )


def _vm_hwm_kib(pid: int) -> int:
    """The high-water RSS of a live process in KiB (0 once it has exited)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by a running process (from /proc)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")


def self_peak_rss_mb() -> float:
    """Peak RSS of this process so far (VmHWM), in MiB."""
    return _vm_hwm_kib(os.getpid()) / 1024.0


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """`with stopwatch() as t: ...` then `t[0]` is the elapsed seconds."""
    box = [0.0]
    started = time.perf_counter()
    try:
        yield box
    finally:
        box[0] = time.perf_counter() - started


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def goal(name: str, value: float | str | None, target: str, met: bool) -> dict[str, Any]:
    """One goal of the issue, as stored in the JSON line and summarised by run_all."""
    return {"name": name, "value": value, "target": target, "met": bool(met)}


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.1f}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def print_table(rows: Sequence[Mapping[str, object]], *, title: str | None = None) -> None:
    """A plain aligned table: columns are the keys of the first row, in order."""
    if title:
        print(title)
    if not rows:
        print("(no rows)")
        return
    columns = list(rows[0].keys())
    cells = [[_cell(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)))
    sys.stdout.flush()


def print_json_line(record: Mapping[str, Any]) -> None:
    """The bench's one machine-readable line; `bench` is always the first key."""
    if "bench" not in record:
        raise ValueError("a bench record needs a 'bench' name")
    ordered = {"bench": record["bench"], **{k: v for k, v in record.items() if k != "bench"}}
    print(json.dumps(ordered, sort_keys=False, default=str), flush=True)


def parse_json_lines(text: str) -> list[dict[str, Any]]:
    """Every bench record in a bench's stdout (normally exactly one)."""
    records = []
    for line in text.splitlines():
        if line.startswith(JSON_PREFIX):
            records.append(json.loads(line))
    return records


# --------------------------------------------------------------------------- documents

_BRANDS = ("acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "tyrell")
_REGIONS = ("us", "eu", "apac")


def site_name(index: int) -> str:
    return f"site-{index:05d}"


def bench_document(index: int, *, key_env: str = "BENCH_API_KEY", varied: bool = True) -> str:
    """One realistic BrightbackIntegration document as YAML text.

    `varied` mixes the shapes a real fleet has (portal and API integrations, watched and
    suspended sites, disconnected test sites, file-based keys); without it every site is a
    plain connected customer_portal integration, as the fleet benches need.
    """
    site = site_name(index)
    brand = _BRANDS[index % len(_BRANDS)]
    kind = index % 10 if varied else 0
    env_label = "test" if kind == 7 else "live"
    lines = [
        "# yaml-language-server: $schema=../schemas/brightback-integration.schema.json",
        f"# Generated fleet document {index}.",
        "apiVersion: brightback-gitops/v1alpha1",
        "kind: BrightbackIntegration",
        "metadata:",
        f"  name: {site}-{env_label}",
        f"  labels: {{brand: {brand}, env: {env_label}, region: {_REGIONS[index % 3]}}}",
    ]
    if varied and kind in (2, 5):
        lines += ["  annotations:", f'    owner: "billing-{brand}@example.com"']
    lines += ["spec:", f"  site: {site}", "  credentials:"]
    if varied and kind == 9:
        lines.append(f"    apiKeyFromFile: /var/run/secrets/chargebee/{site}")
    else:
        lines.append(f"    apiKeyFromEnv: {key_env}")
    if kind == 7:
        lines += ["  connection:", "    state: disconnected", "  policy:", "    management: full"]
        return "\n".join(lines) + "\n"
    lines += ["  connection:", "    state: connected", f"    brightbackSite: bb-{site}"]
    if varied and kind == 3:
        lines.append(f"    accountEmail: billing@{site}.example.com")
    mode = "retention_api" if varied and kind in (4, 8) else "customer_portal"
    lines += [f"  integrateVia: {mode}", "  cancellationViaBrightback: true"]
    if not varied or kind in (0, 1, 2):
        lines += ["  fallbackCancelExperience:", "    portalCancellation: true"]
        lines += ["    reasonCodes: true"]
    policy = {6: "management: observe", 5: "suspended: false"}.get(kind if varied else 0)
    lines += ["  policy:", f"    {policy or 'management: full'}", "    allowDisconnect: false"]
    if mode == "retention_api":
        lines += ["  probe:", f"    subscriptionId: probe-{site}"]
    return "\n".join(lines) + "\n"


# Schema violations a person really makes; each breaks exactly one document.
_BREAKAGES = (
    ("integrateVia: customer_portal", "integrateVia: customer-portal"),  # bad enum
    ("    state: connected\n", "    state: connected\n    colour: blue\n"),  # unknown key
    ("apiVersion: brightback-gitops/v1alpha1", "apiVersion: brightback-gitops/v1"),
    ("  cancellationViaBrightback: true", "  cancellationViaBrightback: 'yes'"),  # wrong type
)


def broken_document(index: int, *, key_env: str = "BENCH_API_KEY") -> str:
    """A document with one schema violation (always from a connected, varied shape)."""
    text = bench_document(index, key_env=key_env, varied=False)
    old, new = _BREAKAGES[index % len(_BREAKAGES)]
    assert old in text, old
    return text.replace(old, new, 1)
