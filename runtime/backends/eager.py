"""Eager torch on the normalized HF checkpoint: the fp32 reference every artifact is held to."""

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgereason.artifact import probe_layer

from .base import Backend, ModelInfo


class EagerBackend(Backend):
    def __init__(self, hf_dir: Path, info: ModelInfo, *, num_threads: int | None = None):
        import torch
        from transformers import AutoModelForCausalLM

        if num_threads:
            torch.set_num_threads(num_threads)
        self._torch = torch
        self.model = AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float32).eval()
        self.info = info
        self.has_hidden = True
        self._layer = probe_layer(self.model.config.num_hidden_layers)  # what the exports output
        self.reset()

    def _reset(self) -> None:
        from transformers import DynamicCache

        self.cache = DynamicCache(config=self.model.config)

    def _run(self, tokens: Sequence[int], *, all_logits: bool):
        torch = self._torch
        ids = torch.tensor([list(tokens)], dtype=torch.long)  # [1, T]
        with torch.inference_mode():
            out = self.model(input_ids=ids, cache=self.cache, use_cache=True, output_hidden_states=True,
                             logits_to_keep=0 if all_logits else 1)
        self._hidden = out.hidden_states[self._layer][0, -1].float().numpy().copy()  # the input of that layer
        return out.logits[0].float().numpy()  # [T or 1, V]

    def _forward(self, tokens: Sequence[int]) -> np.ndarray:
        return self._run(tokens, all_logits=False)[-1]

    def _rewind(self, num_tokens: int) -> None:
        # transformers 5 crops by a negative count of tokens to remove (a positive size is refused).
        remove = self.cache.get_seq_length() - num_tokens
        if num_tokens == 0:
            self._reset()
        elif remove > 0:
            self.cache.crop(-remove)

    def _extend(self, tokens: Sequence[int]) -> np.ndarray:
        logits = self._run(tokens, all_logits=True)
        self._tokens.extend(tokens)
        return logits
