"""The `.pte` backend's own attention kernels (runtime/backends/pte_kernels.py): built once per cache,
used by every `.pte` run, and a clear warning (not a failure) where no C++ compiler exists."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from edgereason.quant.recipes import Format, RecipeName

# Greedy tokens of a `.pte` folder in a fresh process, and whether the native kernels were installed.
SCRIPT = """
import json, sys
from pathlib import Path
from edgereason.runtime import backends
from edgereason.runtime.backends import pte_kernels
from edgereason.runtime.generate import generate
backend = backends.load(Path(sys.argv[1]), num_threads=1)
tokens = [s.token_id for s in generate(backend, [1, 2, 3, 4], max_new_tokens=8, stop_ids=())]
print(json.dumps({"installed": pte_kernels.install(), "tokens": tokens}))
"""


def run(folder, home, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SCRIPT, str(folder)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "EDGEREASON_HOME": str(home), **env})


@pytest.mark.skipif(shutil.which(os.environ.get("CXX", "g++")) is None, reason="needs a C++ compiler")
def test_kernels_are_built_once_and_used(tiny_artifacts, tmp_path):
    folder = tiny_artifacts[Format.PTE, RecipeName.FP32]
    first = run(folder, tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    assert json.loads(first.stdout.splitlines()[-1])["installed"] is True
    (library,) = (tmp_path / "kernels").glob("*/libedgereason_llama_ops.so")
    built = library.stat().st_mtime_ns
    second = run(folder, tmp_path)
    assert second.returncode == 0 and "warning" not in second.stderr
    assert library.stat().st_mtime_ns == built, "rebuilt although nothing changed"
    assert json.loads(second.stdout.splitlines()[-1])["tokens"] == json.loads(first.stdout.splitlines()[-1])["tokens"]
    assert not list((tmp_path / "kernels").glob("*/tmp*")), "a staging folder was left behind"


def test_without_a_compiler_the_plugin_kernels_run_with_one_warning(tiny_artifacts, tmp_path):
    result = run(tiny_artifacts[Format.PTE, RecipeName.INT4], tmp_path, CXX="no-such-compiler")
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout.splitlines()[-1])
    assert out["installed"] is False and len(out["tokens"]) == 8
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: using ExecuTorch's own")]
    assert len(warnings) == 1 and "no C++ compiler" in warnings[0]
    assert not (tmp_path / "kernels").exists()
