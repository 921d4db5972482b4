"""Machine facts recorded with every report, and the two checks that make timings honest.

A number without the machine it came from can't be compared: every report carries the CPU, the
cores this process may use, the thread count asked for, the load average before the run, the
package versions and the git commit. `busy_warning` says when the load average leaves fewer free
cores than the threads asked for (oversubscription ruins llama.cpp and ORT timings).
"""

import os
import platform
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from edgereason.pipeline import versions

PEER_PACKAGES = ("llama_cpp_python", "numpy", "matplotlib")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def git_commit() -> str | None:
    repo = Path(__file__).resolve().parents[1]
    try:
        proc = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, timeout=10).stdout.strip()
    return proc.stdout.strip() + ("-dirty" if dirty else "")


def facts(threads: int | None) -> dict:
    """What a reader needs to judge a number: the machine, its load, and the software."""
    import importlib.metadata

    extra = {}
    for name in PEER_PACKAGES:
        try:
            extra[name.replace("_", "-")] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return {
        "cpu": cpu_model(),
        "arch": platform.machine(),
        "usable_cores": usable_cores(),
        "threads": threads,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "os": platform.platform(),
        "versions": {**versions(), **extra},
        "git_commit": git_commit(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def busy_warning(threads: int) -> str | None:
    """A sentence when the machine can't give `threads` cores to the benchmark, else None."""
    load = os.getloadavg()[0]
    free = usable_cores() - load
    if threads > usable_cores():
        return f"{threads} threads on {usable_cores()} usable cores: timings will be oversubscribed"
    if free < threads - 0.5:
        return (f"load average {load:.2f} leaves ~{max(free, 0):.1f} of {usable_cores()} cores free for "
                f"{threads} thread(s): timings will be slower and noisier than on an idle machine")
    return None


def memory_bandwidth(threads: int, *, mib: int = 256, repeats: int = 5) -> float:
    """Copy bandwidth in GB/s (bytes read + bytes written), best of `repeats`, with `threads` threads.

    The decode of a small model is bound by streaming its weights once per token, so
    bandwidth / weight bytes is the ceiling its decode tok/s is compared with.
    """
    n = mib * 2**20 // 8
    src = np.ones(n, dtype=np.float64)
    dst = np.empty_like(src)
    bounds = np.linspace(0, n, threads + 1, dtype=np.int64)
    slices = [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

    def copy(part: slice) -> None:  # numpy releases the GIL in copyto
        np.copyto(dst[part], src[part])

    best = float("inf")
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(repeats):
            start = time.perf_counter()
            list(pool.map(copy, slices))
            best = min(best, time.perf_counter() - start)
    return 2 * src.nbytes / best / 1e9
