"""ExecuTorch `.pte` through `executorch.runtime`: the program the phone runs, KV cache inside it."""

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .base import Backend, ModelInfo


def _register_ops() -> None:
    # Without these the program fails to load with "Missing operator" (custom SDPA, update_cache,
    # quantized embeddings).
    import executorch.extension.llm.custom_ops.custom_ops  # noqa: F401
    import executorch.kernels.quantized  # noqa: F401


class PteBackend(Backend):
    def __init__(self, model_file: Path, info: ModelInfo, *, num_threads: int | None = None):
        import torch
        from executorch.runtime import Runtime, Verification

        _register_ops()
        if num_threads:
            from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool

            _unsafe_reset_threadpool(num_threads)
        self._torch = torch
        program = Runtime.get().load_program(model_file, verification=Verification.Minimal)
        self.method = program.load_method("forward")
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
            logits = self.method.execute([ids, pos])[0]  # [1, V]
        # The output may alias the program's buffer, which the next call overwrites.
        return np.array(logits.reshape(-1).numpy(), copy=True)
