"""The status page under load (issue 19): 200 concurrent GETs, and GETs while 300
connections sit idle. `--code DIR` serves from another checkout's `reconciler` package
(the "before" figure: `git archive fb2045b reconciler | tar -x -C DIR`).

    .venv/bin/python bench/bench_serve.py [--code DIR]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import REPO, print_json_line, print_table

SERVER = """
import sys, time
from pathlib import Path
from reconciler.status_page import serve_status
server = serve_status(0, Path(sys.argv[1]))
print(server.port, flush=True)
time.sleep(3600)
"""


def get(port: int, path: str, timeout: float) -> tuple[bool, float]:
    started = time.perf_counter()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        connection.request("GET", path)
        ok = connection.getresponse().status == 200
        connection.close()
    except OSError:
        ok = False
    return ok, time.perf_counter() - started


def concurrent(port: int, count: int, timeout: float) -> dict[str, object]:
    results: list[tuple[bool, float]] = []
    lock = threading.Lock()
    gate = threading.Barrier(count)

    def one() -> None:
        gate.wait()
        outcome = get(port, "/report.json", timeout)
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    within = [t for ok, t in results if ok and t <= 2.0]
    return {
        "answered": sum(ok for ok, _ in results),
        "within 2 s": len(within),
        "slowest s": round(max(t for _, t in results), 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", type=Path, default=REPO)
    parser.add_argument("--idle", type=int, default=300)
    parser.add_argument("--nofile", type=int, help="serve under this RLIMIT_NOFILE (ulimit -n)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        state = Path(tmp)
        sites = [{"name": f"s{i}", "site": f"s{i}", "status": "in_sync"} for i in range(50)]
        (state / "last-report.json").write_text(json.dumps({"sites": sites}))
        env = {**os.environ, "PYTHONPATH": str(args.code)}
        limit = args.nofile

        def limited() -> None:
            if limit is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

        server = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(state)],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=limited,
        )
        try:
            assert server.stdout is not None
            port = int(server.stdout.readline())
            rows = [{"test": "200 concurrent GETs", **concurrent(port, 200, 5.0)}]
            idle = []
            for _ in range(args.idle):
                try:
                    idle.append(socket.create_connection(("127.0.0.1", port), timeout=2))
                except OSError:
                    break
            time.sleep(1.5)  # idle past the grace after which the cap may push them out
            results = [get(port, "/healthz", 5.0) for _ in range(20)]
            rows.append(
                {
                    "test": f"20 GETs, {len(idle)} idle connections open",
                    "answered": sum(ok for ok, _ in results),
                    "within 2 s": sum(ok and t <= 2.0 for ok, t in results),
                    "slowest s": round(max(t for _, t in results), 2),
                }
            )
            for sock in idle:
                sock.close()
        finally:
            server.kill()
            server.wait()
    print_table(rows, title=f"status page served from {args.code}, ulimit -n {limit or 'as is'}")
    print_json_line({"bench": "serve", "code": str(args.code), "nofile": limit, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
