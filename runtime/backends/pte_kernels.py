"""The `.pte` backend's attention and KV-cache kernels: the native runner's, not ExecuTorch's plugin's.

export_llm programs call two custom ops, `llama::custom_sdpa` and `llama::update_cache`. ExecuTorch
ships their kernels only inside its Python plugin (it needs libtorch), so a device runs other
kernels: `runtime/native/src/llama_ops.cpp` and `attention.cpp`, which the native runner links.
The plugin's attention and ours agree to ~1e-6, but an int4 `.pte` quantizes activations per
token, and 1e-6 is enough to flip roundings: the logits then move by ~2 and greedy tokens part
within a few steps (measured, runtime/native/README.md). So the Python runtime compiles those same
C++ files against the installed ExecuTorch once (cached under `$EDGEREASON_HOME/kernels`) and
installs them in place of the plugin's: the Python runtime and `edgereason-run` then give the same
numbers on the same CPU.

Without a C++ compiler the plugin's kernels stay, with one warning: everything works, and int4
`.pte` logits differ slightly from the native runner's.
"""

import ctypes
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from edgereason import cache

log = logging.getLogger(__name__)

NATIVE_SRC = Path(__file__).resolve().parents[1] / "native" / "src"
SOURCES = (NATIVE_SRC / "llama_ops.cpp", NATIVE_SRC / "attention.cpp")
HEADERS = (NATIVE_SRC / "llama_ops.h", NATIVE_SRC / "attention.h")
# What the executorch wheel's libraries were compiled with (its executorch-config.cmake): class
# layouts differ without them. CMakeLists.txt passes the same for the native runner, and its
# Release flags (-O3 -DNDEBUG) and -ffp-contract=off are used here too, so both compile the kernels alike.
DEFINES = ("C10_USING_CUSTOM_GENERATED_MACROS", "ET_EVENT_TRACER_ENABLED", "ET_USE_THREADPOOL")

_installed: bool | None = None


def executorch_root() -> Path:
    """The installed wheel's `executorch` folder (a namespace package: no `__file__`)."""
    import importlib.util

    spec = importlib.util.find_spec("executorch")
    return Path(next(iter(spec.submodule_search_locations or []))).resolve()


def compile_command(compiler: str, root: Path, output: Path) -> list[str]:
    return [compiler, "-O3", "-DNDEBUG", "-ffp-contract=off", "-std=c++17", "-fPIC", "-shared",
            *map(str, SOURCES), "-o", str(output), f"-I{NATIVE_SRC}", f"-I{root / 'include'}",
            f"-I{root / 'include' / 'executorch' / 'runtime' / 'core' / 'portable_type' / 'c10'}",
            *(f"-D{d}" for d in DEFINES),
            f"-L{root / 'lib'}", "-lexecutorch", "-lexecutorch_threadpool", f"-Wl,-rpath,{root / 'lib'}"]


def library_path(compiler: str) -> Path:
    """Cached per source, compile command and executorch version: any change builds a new one."""
    key = hashlib.sha256()
    for part in (*(f.read_bytes() for f in SOURCES + HEADERS), metadata.version("executorch").encode(),
                 " ".join(compile_command(compiler, executorch_root(), Path("out"))).encode()):
        key.update(part)
    return cache.home() / "kernels" / key.hexdigest()[:16] / "libedgereason_llama_ops.so"


def build(compiler: str) -> Path:
    """Compile once into the cache; written beside and renamed, so a crash leaves nothing half-built."""
    target = library_path(compiler)
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        staged = Path(tmp) / target.name
        result = subprocess.run(compile_command(compiler, executorch_root(), staged),
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"compiling the kernels ({NATIVE_SRC}) failed:\n{result.stderr[-2000:]}")
        os.replace(staged, target)
    return target


def install() -> bool:
    """Install the native runner's kernels into this process's ExecuTorch runtime, once.

    Call after ExecuTorch's plugin is loaded and before a program's method is loaded. Returns False
    (and warns once) when they could not be built, in which case the plugin's kernels stay.
    """
    global _installed
    if _installed is not None:
        return _installed
    compiler = shutil.which(os.environ.get("CXX", "g++"))
    try:
        if compiler is None:
            raise RuntimeError("no C++ compiler (set CXX or install g++)")
        library = ctypes.CDLL(str(build(compiler)))
        if library.edgereason_install_llama_ops() != 0:
            raise RuntimeError("registering the kernels failed")
        _installed = True
    except (OSError, RuntimeError) as e:
        print(f"warning: using ExecuTorch's own attention kernels, so int4 .pte numbers can differ "
              f"slightly from edgereason-run's: {str(e).splitlines()[0]}", file=sys.stderr)
        log.warning("native kernels not installed: %s", e)
        _installed = False
    return _installed
