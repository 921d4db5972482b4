"""Helpers shared by the CLI tests: run `edgereason` as a user would and check its one-line errors."""

import subprocess
import sys
from pathlib import Path

EDGEREASON = str(Path(sys.executable).parent / "edgereason")


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([EDGEREASON, *args], capture_output=True, text=True, timeout=timeout)


def assert_one_line_error(proc: subprocess.CompletedProcess, code: int, words: str) -> None:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and words in lines[0], proc.stderr
