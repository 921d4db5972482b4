"""Where edgereason keeps downloads and converted checkpoints."""

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


def home() -> Path:
    """`$EDGEREASON_HOME`, default `~/.cache/edgereason`."""
    return Path(os.environ.get("EDGEREASON_HOME", Path.home() / ".cache" / "edgereason")).expanduser()


def models_dir() -> Path:
    """Normalized HF checkpoints, one folder per model."""
    return home() / "models"


def downloads_dir() -> Path:
    """Wheels and other files fetched from package registries."""
    return home() / "downloads"


def log_path(name: str) -> Path:
    """Where an exporter's or converter's chatter goes (`$EDGEREASON_HOME/logs/<name>.log`)."""
    folder = home() / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.log"


def dir_bytes(path: Path) -> int:
    """Total size of the files under `path`."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@contextlib.contextmanager
def locked(name: str) -> Iterator[None]:
    """Hold `$EDGEREASON_HOME/locks/<name>.lock` exclusively: two processes (two CLI commands, or test
    workers) that would build the same cache folder take turns, and the second finds it built."""
    folder = home() / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{name}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
