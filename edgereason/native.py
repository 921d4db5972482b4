"""Where the native runner (runtime/native/) keeps its sources and builds: one place for the CLI,
the benchmark and the tests."""

import os
import platform
from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parents[1] / "runtime" / "native"


def build_dir(arch: str) -> Path:
    """`edgereason native build --arch <arch>`'s output (`$EDGEREASON_NATIVE_BUILD/<arch>` if set)."""
    return Path(os.environ.get("EDGEREASON_NATIVE_BUILD", SOURCE_DIR / "build")) / arch


def binary(arch: str | None = None) -> Path:
    """`edgereason-run` for `arch`, this machine's by default."""
    return build_dir(arch or platform.machine()) / "edgereason-run"
