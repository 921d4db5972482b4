"""ONNX Runtime on the GenAI builder's graph, with our own loop and IO binding.

The present KV tensors are fed back as the next past as OrtValues, never copied through numpy;
the graph has no position_ids input and a symbolic head size, so shapes come from genai_config.json.
"""

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgereason.artifact import GENAI_CONFIG

from .base import Backend, ModelInfo


def kv_shape(genai_config: dict) -> tuple[int, int, int]:
    """(n_layers, n_kv_heads, head_size): the graph leaves head size symbolic, the config has it."""
    decoder = genai_config["model"]["decoder"]
    return decoder["num_hidden_layers"], decoder["num_key_value_heads"], decoder["head_size"]


class OnnxBackend(Backend):
    def __init__(self, folder: Path, model_file: str, info: ModelInfo, *, num_threads: int | None = None):
        import onnxruntime as ort

        self._ort = ort
        opts = ort.SessionOptions()
        if num_threads:
            opts.intra_op_num_threads = num_threads
            opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(folder / model_file), sess_options=opts,
                                            providers=["CPUExecutionProvider"])
        genai = json.loads((folder / GENAI_CONFIG).read_text())
        self.num_layers, self.num_kv_heads, self.head_dim = kv_shape(genai)
        names = genai["model"]["decoder"]
        self.past_names = [(names["inputs"]["past_key_names"] % i, names["inputs"]["past_value_names"] % i)
                           for i in range(self.num_layers)]
        self.present_names = [(names["outputs"]["present_key_names"] % i,
                               names["outputs"]["present_value_names"] % i) for i in range(self.num_layers)]
        self.info = info
        self.reset()

    def reset(self) -> None:
        empty = np.zeros((1, self.num_kv_heads, 0, self.head_dim), dtype=np.float32)  # [B, KV, P, D]
        value = self._ort.OrtValue.ortvalue_from_numpy(empty)
        self.past = [(value, value) for _ in range(self.num_layers)]
        self.position = 0

    def rewind(self, num_tokens: int) -> None:
        ort = self._ort
        self.past = [
            tuple(ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(v.numpy()[:, :, :num_tokens]))
                  for v in pair)
            for pair in self.past
        ]
        self.position = num_tokens

    def _run(self, tokens: Sequence[int]) -> np.ndarray:
        ort = self._ort
        binding = self.session.io_binding()
        ids = np.asarray([list(tokens)], dtype=np.int64)  # [1, T]
        mask = np.ones((1, self.position + len(tokens)), dtype=np.int64)  # [1, P + T]
        binding.bind_ortvalue_input("input_ids", ort.OrtValue.ortvalue_from_numpy(ids))
        binding.bind_ortvalue_input("attention_mask", ort.OrtValue.ortvalue_from_numpy(mask))
        for (k_name, v_name), (k, v) in zip(self.past_names, self.past, strict=True):
            binding.bind_ortvalue_input(k_name, k)
            binding.bind_ortvalue_input(v_name, v)
        binding.bind_output("logits", "cpu")
        for k_name, v_name in self.present_names:
            binding.bind_output(k_name, "cpu")
            binding.bind_output(v_name, "cpu")
        self.session.run_with_iobinding(binding)
        outputs = binding.get_outputs()
        self.past = [(outputs[1 + 2 * i], outputs[2 + 2 * i]) for i in range(self.num_layers)]
        self.position += len(tokens)
        return outputs[0].numpy()[0]  # [T, V]

    def _forward(self, tokens: Sequence[int]) -> np.ndarray:
        return self._run(tokens)[-1]

    def score(self, tokens: Sequence[int]) -> np.ndarray:
        self.reset()
        self.check_room(len(tokens))
        return self._run(tokens)
