"""Start a real `edgereason serve` process on loopback for a test, and stop it after."""

import contextlib
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from helpers import EDGEREASON

STARTUP_S = 120


@dataclass
class Served:
    url: str  # http://127.0.0.1:PORT (no /v1)
    process: subprocess.Popen
    model: str

    @property
    def v1(self) -> str:
        return self.url + "/v1"


@contextlib.contextmanager
def served(folder: Path, *args: str) -> Iterator[Served]:
    """`edgereason serve FOLDER --port 0 ARGS`, once it has printed its address; terminated (and waited for) after."""
    process = subprocess.Popen([EDGEREASON, "serve", str(folder), "--port", "0", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + STARTUP_S
        line = process.stdout.readline()
        match = re.search(r"serving (\S+) on (http://127\.0\.0\.1:\d+)/v1", line)
        if not match:
            process.kill()
            raise AssertionError(f"serve did not start: {line!r} {process.stderr.read()}")
        assert time.monotonic() < deadline
        yield Served(match.group(2), process, match.group(1))
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
