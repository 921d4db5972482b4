"""Keep exporter chatter out of the user's terminal, but on disk for when it fails."""

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def captured_output(log_path: Path) -> Iterator[None]:
    """Send fd 1 and 2 (Python and C++ writers alike) to `log_path` for the block.

    The CLI's rich console writes to its own duplicate of stderr, so progress stays visible.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log_path, "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def tail(log_path: Path, num_lines: int = 5) -> str:
    """The last lines of a log, for an error message."""
    try:
        return tail_text(log_path.read_text(errors="replace"), num_lines)
    except OSError:
        return ""


def tail_text(text: str, num_lines: int = 5) -> str:
    """The last lines of captured output, on one line."""
    return " | ".join(line.strip() for line in text.strip().splitlines()[-num_lines:])
