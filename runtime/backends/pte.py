"""ExecuTorch `.pte` through the ExecuTorch runtime extension: the program the phone runs, KV cache inside it."""

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgereason import cache
from edgereason.logs import captured_output

from . import pte_kernels
from .base import Backend, ModelInfo


def _load_op_libraries(torch) -> None:
    """Register the custom SDPA / update_cache and quantized-embedding kernels.

    Without them the program fails with "Missing operator". The libraries are loaded directly:
    the Python modules that wrap them (and `executorch.runtime` itself) import executorch.exir,
    torchao and inductor, which costs ~6 s and ~130 MB RSS on every load and adds nothing at run time.
    """
    import importlib.util

    for package, pattern in (("executorch.extension.llm.custom_ops", "*custom_ops_aot_lib.*"),
                             ("executorch.kernels.quantized", "*quantized_ops_aot_lib.*")):
        spec = importlib.util.find_spec(package)
        libs = [lib for d in (spec.submodule_search_locations or []) for lib in Path(d).glob(f"**/{pattern}")]
        if not libs:
            raise RuntimeError(f"ExecuTorch's {pattern} library is missing from {package}: reinstall executorch")
        if str(libs[0]) not in torch.ops.loaded_libraries:
            torch.ops.load_library(libs[0])


class PteBackend(Backend):
    def __init__(self, model_file: Path, info: ModelInfo, *, num_threads: int | None = None):
        import torch  # first: the extension links against libtorch
        from executorch.extension.pybindings import _C

        _load_op_libraries(torch)
        pte_kernels.install()  # the native runner's attention kernels replace the plugin's
        # Creating the pool logs ExecuTorch's cpuinfo probing to stderr (5 lines of "Failed to open
        # midr file" on x86): create it here, into the log, with all cores unless told otherwise.
        with captured_output(cache.log_path("pte-runtime")):
            _C._unsafe_reset_threadpool(num_threads or os.cpu_count() or 1)
        if num_threads:
            # The custom SDPA runs on ATen's pool: left at its default it spins against the
            # XNNPACK pool on a busy machine (measured: 37-token prefill 0.07 s -> 23 s at 1 thread).
            torch.set_num_threads(num_threads)
        self._torch = torch
        program = _C._load_program(str(model_file), enable_etdump=False, debug_buffer_size=0,
                                   program_verification=_C.Verification.Minimal)
        self.method = program.load_method("forward")
        self.has_hidden = self.method.method_meta().num_outputs() > 1  # older artifacts: logits only
        self.info = info
        # The cache lives in the program and is position-addressed: writing from position p
        # overwrites it and the custom SDPA attends only to [0, p + T), so reset and rewind
        # need no work here and stale entries are never read.
        self.reset()

    def _forward(self, tokens: Sequence[int]) -> np.ndarray:
        torch = self._torch
        # export_llm bounds the dynamic token dimension at max_seq_len - 1: prefill in chunks.
        max_chunk = self.info.max_seq_len - 1
        for start in range(0, len(tokens), max_chunk):
            chunk = list(tokens[start:start + max_chunk])
            ids = torch.tensor([chunk], dtype=torch.long)  # [1, T]
            pos = torch.tensor([self.position + start], dtype=torch.long)  # [1]
            outputs = self.method([ids, pos])  # logits [1, V] (and the hidden state [1, H])
        # The outputs may alias the program's buffers, which the next call overwrites.
        if self.has_hidden:
            self._hidden = np.array(outputs[1].reshape(-1).numpy(), copy=True)
        return np.array(outputs[0].reshape(-1).numpy(), copy=True)
