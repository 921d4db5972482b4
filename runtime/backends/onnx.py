"""ONNX Runtime on the GenAI builder's graph, with our own loop, IO binding and a shared KV buffer.

The graph has no position_ids input and a symbolic head size, so shapes come from genai_config.json.
"""

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from edgereason.artifact import GENAI_CONFIG, HIDDEN_OUTPUT

from .base import Backend, ModelInfo


def kv_shape(genai_config: dict) -> tuple[int, int, int]:
    """(n_layers, n_kv_heads, head_size): the graph leaves head size symbolic, the config has it."""
    decoder = genai_config["model"]["decoder"]
    return decoder["num_hidden_layers"], decoder["num_key_value_heads"], decoder["head_size"]


def check_external_data(folder: Path, model_file: str, listed: Mapping[str, object]) -> None:
    """Every external-data file the graph names must be one the manifest lists (and so verified): onnxruntime
    would otherwise open whatever path the graph says, inside the folder or not."""
    import onnx

    from edgereason.errors import ArtifactError

    try:
        graph = onnx.load(str(folder / model_file), load_external_data=False)
    except Exception as e:  # protobuf's DecodeError and onnx's own errors have no common base
        raise ArtifactError(f"{folder.name}: {model_file} is not an ONNX graph ({e!s:.120}): re-export it") from e
    for tensor in onnx.external_data_helper._get_all_tensors(graph):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        location = next((e.value for e in tensor.external_data if e.key == "location"), "")
        if location not in listed:
            raise ArtifactError(f"{folder.name}: {model_file} reads external data from {location!r}, which the "
                                "manifest does not list: re-export the artifact")


class OnnxBackend(Backend):
    def __init__(self, folder: Path, model_file: str, info: ModelInfo, *, num_threads: int | None = None,
                 hidden: bool = True):
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
        # older artifacts have no hidden output; hidden=False leaves it unread (what `bench speed --hidden-cost` times)
        self.has_hidden = hidden and HIDDEN_OUTPUT in {o.name for o in self.session.get_outputs()}
        self._allocate()
        self.reset()

    def _allocate(self) -> None:
        # One [1, KV, max_seq_len, D] buffer per layer and per K/V, bound as both the past input and
        # the present output: GroupQueryAttention then writes the new entries in place
        # (past_present_share_buffer, as ORT GenAI runs it) instead of copying the whole cache each step.
        ort = self._ort
        shape = (1, self.num_kv_heads, self.info.max_seq_len, self.head_dim)
        self._buffers = [(np.zeros(shape, np.float32), np.zeros(shape, np.float32)) for _ in range(self.num_layers)]
        self._kv = [tuple(ort.OrtValue.ortvalue_from_numpy(b) for b in pair) for pair in self._buffers]
        self._bound = None

    # Position-addressed like the .pte cache: entries past `position` are outside the attention
    # mask's length, so reset and rewind need no work (the base class's defaults).

    def _run(self, tokens: Sequence[int]) -> np.ndarray:
        ort = self._ort
        binding = self._binding()
        ids = np.asarray([list(tokens)], dtype=np.int64)  # [1, T]
        mask = np.ones((1, self.position + len(tokens)), dtype=np.int64)  # [1, P + T]
        binding.bind_ortvalue_input("input_ids", ort.OrtValue.ortvalue_from_numpy(ids))
        binding.bind_ortvalue_input("attention_mask", ort.OrtValue.ortvalue_from_numpy(mask))
        binding.bind_output("logits", "cpu")  # a fresh [1, T, V] each run: callers may keep the last one
        if self.has_hidden:
            binding.bind_output(HIDDEN_OUTPUT, "cpu")
        self.session.run_with_iobinding(binding)
        outputs = binding.get_outputs()
        if self.has_hidden:
            self._hidden = outputs[self._hidden_index].numpy()[0, -1].copy()  # [H]
        return outputs[self._logits_index].numpy()[0]  # [T, V]

    def _binding(self):
        """One IOBinding for the session's life: the 4 x layers cache bindings never change
        (re-binding them was ~0.06 ms of every step)."""
        if self._bound is None:
            binding = self.session.io_binding()
            binding.bind_output("logits", "cpu")
            if self.has_hidden:
                binding.bind_output(HIDDEN_OUTPUT, "cpu")
            for (k_in, v_in), (k_out, v_out), (k, v) in zip(self.past_names, self.present_names, self._kv,
                                                              strict=True):
                binding.bind_ortvalue_input(k_in, k)
                binding.bind_ortvalue_input(v_in, v)
                binding.bind_ortvalue_output(k_out, k)
                binding.bind_ortvalue_output(v_out, v)
            self._bound = binding
            self._logits_index, self._hidden_index = 0, 1  # bound first and second
        return self._bound

    def _forward(self, tokens: Sequence[int]) -> np.ndarray:
        return self._run(tokens)[-1]

    def score(self, tokens: Sequence[int]) -> np.ndarray:
        self.reset()
        self.check_room(len(tokens))
        logits = self._run(tokens)
        self._tokens.extend(tokens)
        return logits
