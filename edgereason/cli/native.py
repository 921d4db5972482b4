"""`edgereason native build`: cross-compile `edgereason-run` (runtime/native/) for aarch64 or x86_64.

Dependencies come from registry packages, fetched once into `$EDGEREASON_HOME/native`:
- ExecuTorch's C++ runtime, kernels, XNNPACK delegate and headers from the `executorch` wheel, and
  `libonnxruntime.so` from the `onnxruntime` wheel, both for the target platform
  (`pip download --only-binary=:all: --platform manylinux_2_28_<arch>`, never installed);
- ONNX Runtime's C API headers, which no PyPI wheel ships, from the npm package
  `com.github.asus4.onnxruntime` (it carries the official headers in its iOS framework).
The versions are the ones installed here, so the runner loads what the Python runtime exports.
"""

import importlib.metadata
import platform
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from edgereason.cli import app, console, handle_errors, out, positive
from edgereason.errors import EdgeReasonError, UsageError
from edgereason.native import SOURCE_DIR
from edgereason.native import build_dir as default_build_dir

native_app = typer.Typer(help="The native C++ runner (runtime/native/).", no_args_is_help=True)
app.add_typer(native_app, name="native")

ORT_HEADERS_PACKAGE = "com.github.asus4.onnxruntime@0.4.9"  # headers of the ORT C API version 29
ORT_HEADERS_MEMBER = "package/Plugins/iOS~/onnxruntime.xcframework/ios-arm64/onnxruntime.framework/Headers/"


class Arch(StrEnum):
    aarch64 = "aarch64"
    x86_64 = "x86_64"


# Per target: (C++ compiler, the Debian package that provides it).
COMPILERS = {Arch.aarch64: ("aarch64-linux-gnu-g++", "g++-aarch64-linux-gnu"),
             Arch.x86_64: ("x86_64-linux-gnu-g++", "g++-x86-64-linux-gnu")}


@dataclass(frozen=True)
class BuildResult:
    arch: Arch
    build_dir: Path
    binary: Path
    binary_bytes: int
    bundle_bytes: int  # the binary and its lib/ folder: what goes to a device
    build_seconds: float  # configure + compile, without fetching the dependencies


def native_home() -> Path:
    from edgereason import cache

    return cache.home() / "native"


def host_arch() -> Arch | None:
    machine = platform.machine().lower()
    return {"x86_64": Arch.x86_64, "amd64": Arch.x86_64, "aarch64": Arch.aarch64, "arm64": Arch.aarch64}.get(machine)


def _require_tool(name: str, apt_package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise UsageError(f"{name} not found: apt-get install {apt_package}")
    return path


def _run(cmd: list[str], what: str, *, cwd: Path | None = None) -> None:
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-15:]
        raise EdgeReasonError(f"{what} failed (exit {result.returncode}):\n" + "\n".join(tail))


def fetch_wheels(arch: Arch, cache: Path) -> Path:
    """Unpack the target's ExecuTorch and ONNX Runtime libraries into `cache/deps/<arch>`; returns that folder."""
    deps = cache / "deps" / arch.value
    marker = deps / ".complete"
    if marker.is_file():
        return deps
    wheels = cache / "wheels" / arch.value
    wheels.mkdir(parents=True, exist_ok=True)
    pins = [f"{name}=={importlib.metadata.version(name)}" for name in ("executorch", "onnxruntime")]
    _run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
          "--only-binary=:all:", "--platform", f"manylinux_2_28_{arch.value}",
          "--python-version", f"{sys.version_info.major}.{sys.version_info.minor}", "-d", str(wheels), *pins],
         f"pip download of {' '.join(pins)} for {arch.value}")
    if deps.exists():
        shutil.rmtree(deps)
    for wheel in sorted(wheels.glob("*.whl")):
        with zipfile.ZipFile(wheel) as zf:
            wanted = [m for m in zf.namelist()
                      if m.startswith(("executorch/lib/", "executorch/include/", "onnxruntime/capi/libonnxruntime.so"))]
            zf.extractall(deps, members=wanted)
    if not (deps / "executorch" / "lib" / "libexecutorch.so").is_file():
        raise EdgeReasonError(f"the executorch wheel for {arch.value} has no lib/libexecutorch.so: this runner needs "
                              "executorch >= 1.5 (its wheels ship the C++ runtime)")
    marker.touch()
    return deps


def fetch_ort_headers(cache: Path) -> Path:
    """ONNX Runtime's C API headers (arch-independent) in `cache/ort-include`."""
    include = cache / "ort-include"
    if (include / "onnxruntime_c_api.h").is_file():
        return include
    npm = _require_tool("npm", "npm")
    packs = cache / "npm"
    packs.mkdir(parents=True, exist_ok=True)
    _run([npm, "pack", "--silent", ORT_HEADERS_PACKAGE], f"npm pack {ORT_HEADERS_PACKAGE}", cwd=packs)
    tgz = max(packs.glob("*.tgz"), key=lambda p: p.stat().st_mtime)
    tmp = cache / ".ort-include.partial"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    with tarfile.open(tgz) as tf:
        for member in tf.getmembers():
            if member.isfile() and member.name.startswith(ORT_HEADERS_MEMBER) and member.name.endswith(".h"):
                (tmp / Path(member.name).name).write_bytes(tf.extractfile(member).read())
    if not (tmp / "onnxruntime_c_api.h").is_file():
        raise EdgeReasonError(f"{ORT_HEADERS_PACKAGE} has no onnxruntime_c_api.h under {ORT_HEADERS_MEMBER}")
    tmp.replace(include)
    tgz.unlink()  # ~150 MB of binaries we don't use
    return include


def build(arch: Arch, *, jobs: int = 2, build_dir: Path | None = None, clean: bool = False) -> BuildResult:
    """Fetch the dependencies (cached) and build `edgereason-run` plus its tests for `arch`.

    Raises:
        UsageError: a missing toolchain, naming the Debian package that provides it.
    """
    if not (SOURCE_DIR / "CMakeLists.txt").is_file():
        raise UsageError(f"no runner sources at {SOURCE_DIR}: build from a source checkout (pip install -e .)")
    cmake = _require_tool("cmake", "cmake")
    host = host_arch()
    if arch == host:
        _require_tool("g++", "g++")
        toolchain: list[str] = []
    else:
        compiler, package = COMPILERS[arch]
        _require_tool(compiler, package)
        toolchain = [f"-DCMAKE_TOOLCHAIN_FILE={SOURCE_DIR / 'cmake' / f'{arch.value}-linux-gnu.cmake'}"]
    if not Path("/usr/include/nlohmann/json.hpp").is_file():
        raise UsageError("nlohmann/json.hpp not found: apt-get install nlohmann-json3-dev")
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    cache = native_home()
    deps = fetch_wheels(arch, cache)
    ort_include = fetch_ort_headers(cache)
    ort_libs = sorted((deps / "onnxruntime" / "capi").glob("libonnxruntime.so.*"))
    if not ort_libs:
        raise EdgeReasonError(f"the onnxruntime wheel for {arch.value} has no libonnxruntime.so.*")
    build_dir = build_dir or default_build_dir(arch.value)
    if clean and build_dir.exists():
        shutil.rmtree(build_dir)
    start = time.perf_counter()
    _run([cmake, "-S", str(SOURCE_DIR), "-B", str(build_dir), *generator, *toolchain, "-DCMAKE_BUILD_TYPE=Release",
          f"-DEDGEREASON_EXECUTORCH_ROOT={deps / 'executorch'}", f"-DEDGEREASON_ORT_LIB={ort_libs[-1]}",
          f"-DEDGEREASON_ORT_INCLUDE={ort_include}"], "cmake configure")
    _run(["nice", "-n", "10", cmake, "--build", str(build_dir), "--parallel", str(jobs)], "cmake build")
    seconds = time.perf_counter() - start
    binary = build_dir / "edgereason-run"
    bundle = binary.stat().st_size + sum(p.stat().st_size for p in (build_dir / "lib").iterdir() if p.is_file())
    return BuildResult(arch, build_dir, binary, binary.stat().st_size, bundle, seconds)


@native_app.command("build")
@handle_errors
def native_build(
    arch: Annotated[Arch, typer.Option("--arch", help="Target architecture")] = Arch.aarch64,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Parallel compile jobs")] = 2,
    build_dir: Annotated[Path | None, typer.Option("--build-dir", help="Default: runtime/native/build/<arch>")] = None,
    clean: Annotated[bool, typer.Option("--clean", help="Remove the build folder first")] = False,
) -> None:
    """Build edgereason-run (and its golden-vector test) against the target's ExecuTorch and ONNX Runtime."""
    positive(jobs, "--jobs")
    console.print(f"building edgereason-run for {arch.value} (dependencies cached in {native_home()})")
    result = build(arch, jobs=jobs, build_dir=build_dir, clean=clean)
    out.print(f"{result.binary}  {result.binary_bytes / 2**20:.1f} MiB binary, "
              f"{result.bundle_bytes / 2**20:.1f} MiB with lib/, built in {result.build_seconds:.0f} s")
