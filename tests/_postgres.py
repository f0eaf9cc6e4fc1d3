"""A throwaway PostgreSQL server for the tests and benchmarks, started with no manual step.

It uses the server binaries of Debian's `postgresql` package (`.ci/run` installs it on a
fresh machine; `/usr/lib/postgresql/<major>/bin`), or any other install named by
$BRIGHTBACK_PG_BINDIR or found on PATH. `initdb` a cluster in a fresh temp directory,
start it on a free loopback port with password authentication (so the tests exercise a
URL that holds a password), one database per test, and remove it all at the end.
PostgreSQL refuses to run as root: as root, the server runs as the `postgres` system user
the Debian package creates (via `runuser`), which owns only the temp directory.

There is no skip: without a server binary the fixture fails and says how to install one.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

SUPERUSER = "brightback"
# Deliberately odd characters: the URL must quote it, and no output may ever show it.
PASSWORD = "pg-s3cret:@/%xyzzy"
_DATABASES = itertools.count(1)


def find_bindir() -> Path:
    """The directory holding initdb and pg_ctl."""
    named = os.environ.get("BRIGHTBACK_PG_BINDIR")
    candidates = [Path(named)] if named else []
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates += debian
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    raise RuntimeError(
        "no PostgreSQL server binaries found (initdb, pg_ctl): install Debian's package "
        "(`apt-get install postgresql`, which .ci/run does), or set BRIGHTBACK_PG_BINDIR"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    host: str
    port: int
    root: Path

    def url(self, database: str = "postgres", *, password: bool = True) -> str:
        from urllib.parse import quote

        secret = f":{quote(PASSWORD, safe='')}" if password else ""
        return f"postgresql://{SUPERUSER}{secret}@{self.host}:{self.port}/{database}"

    def create_database(self, prefix: str = "t") -> str:
        """A fresh, empty database; returns its URL (with the password)."""
        name = f"{prefix}_{os.getpid()}_{next(_DATABASES)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


@contextlib.contextmanager
def start_postgres(*, fsync: bool = False) -> Iterator[PostgresServer]:
    """initdb + pg_ctl start in a temp directory; stopped and removed on exit.

    `fsync=False` for tests (a throwaway cluster; commits still go through the WAL);
    the benchmarks keep it on, like a real server.
    """
    bindir = find_bindir()
    root = Path(tempfile.mkdtemp(prefix="brightback-pg-"))
    data, sockets, log = root / "data", root / "sockets", root / "server.log"
    sockets.mkdir()
    pwfile = root / "pwfile"
    pwfile.write_text(PASSWORD + "\n")
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for path in (root, sockets, pwfile):
            os.chown(path, user.pw_uid, user.pw_gid)
    port = _free_port()
    try:
        subprocess.run(
            _as_server_user(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    SUPERUSER,
                    f"--pwfile={pwfile}",
                    "--auth-host=scram-sha-256",
                    "--auth-local=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--no-locale",
                ]
            ),
            check=True,
            capture_output=True,
            text=True,
        )
        options = (
            f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 "
            f"-c fsync={'on' if fsync else 'off'} -c max_connections=200"
        )
        start = [str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log)]
        subprocess.run(
            _as_server_user([*start, "-w", "-t", "60", "start"]),
            check=True,
            capture_output=True,
            text=True,
        )
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(root, ignore_errors=True)
        detail = log.read_text() if log.exists() else ""
        raise RuntimeError(f"PostgreSQL did not start: {exc.stderr}\n{detail}") from None
    try:
        yield PostgresServer("127.0.0.1", port, root)
    finally:
        subprocess.run(
            _as_server_user(
                [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
            ),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)
