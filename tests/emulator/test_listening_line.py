"""The emulator says "listening" only once it accepts connections: scripts and the test
helper connect the moment they read that line."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

from emulator.cli import TOKEN_ENV


def test_the_listening_line_comes_only_once_connections_are_accepted(tmp_path: Path) -> None:
    env = {**os.environ, TOKEN_ENV: "t" * 32}
    args = [sys.executable, "-m", "emulator", "--port", "0", "--db", str(tmp_path / "e.db")]
    process = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            match = re.search(r"listening on http://(\S+):(\d+)", line)
            if match:
                # No retry, no wait: the very first connection must be accepted.
                with socket.create_connection((match.group(1), int(match.group(2))), timeout=10):
                    pass
                break
        else:
            raise AssertionError("the emulator never said it was listening")
    finally:
        process.terminate()
        process.wait(timeout=10)
