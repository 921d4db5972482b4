"""ONNX Runtime on the GenAI builder's graph, with our own loop, IO binding and a shared KV buffer.

The graph has no position_ids input and a symbolic head size, so shapes come from genai_config.json.
"""

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from edgereason.artifact import GENAI_CONFIG, HIDDEN_OUTPUT

from ..lanes import Lanes
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


class KVRows:
    """The session's KV cache for `capacity` sequences, and the runs over a contiguous range of them.

    One [capacity, KV, max_seq_len, D] buffer per layer and per K/V, bound as both the past input and the present
    output: GroupQueryAttention then writes the new entries in place (past_present_share_buffer, as ORT GenAI runs
    it) instead of copying the whole cache each step. A range of rows is a view of that memory (rows lead), so one
    sequence runs alone or several at once over the same cache. Each row's length comes from its attention mask
    (GQA reads only the mask's row sums and width), so rows at different positions step together; the logits of a
    row do not depend on the rows beside it (tests/test_lanes.py).
    """

    def __init__(self, backend: "OnnxBackend", capacity: int):
        ort = backend._ort
        self._ort, self._backend, self.capacity = ort, backend, capacity
        shape = (capacity, backend.num_kv_heads, backend.info.max_seq_len, backend.head_dim)
        self.buffers = [(np.zeros(shape, np.float32), np.zeros(shape, np.float32)) for _ in range(backend.num_layers)]
        self._bindings: dict[tuple[int, int], object] = {}

    def _binding(self, first: int, rows: int):
        """One IOBinding per row range for the session's life: the 4 x layers cache bindings never change
        (re-binding them was ~0.06 ms of every step)."""
        key = (first, rows)
        if key not in self._bindings:
            b = self._backend
            binding = b.session.io_binding()
            binding.bind_output("logits", "cpu")
            if b.has_hidden:
                binding.bind_output(HIDDEN_OUTPUT, "cpu")
            for (k_in, v_in), (k_out, v_out), buffers in zip(b.past_names, b.present_names, self.buffers, strict=True):
                k, v = (self._ort.OrtValue.ortvalue_from_numpy(x[first:first + rows]) for x in buffers)
                binding.bind_ortvalue_input(k_in, k)
                binding.bind_ortvalue_input(v_in, v)
                binding.bind_ortvalue_output(k_out, k)
                binding.bind_ortvalue_output(v_out, v)
            self._bindings[key] = binding
        return self._bindings[key]

    def run(self, first: int, positions: Sequence[int], tokens: Sequence[Sequence[int]]
            ) -> tuple[np.ndarray, np.ndarray | None]:
        """Run rows first.. (one per entry of `positions`, the tokens each already caches), each given as many new
        `tokens`; their logits at every new position, [rows, T, V], and the hidden state at the last, [rows, H]."""
        ort = self._ort
        rows, width = len(positions), len(tokens[0])
        binding = self._binding(first, rows)
        ids = np.asarray(tokens, dtype=np.int64)  # [rows, T]
        mask = np.zeros((rows, max(positions) + width), dtype=np.int64)  # [rows, P + T]: row r's first P_r + T
        for r, p in enumerate(positions):
            mask[r, :p + width] = 1
        binding.bind_ortvalue_input("input_ids", ort.OrtValue.ortvalue_from_numpy(ids))
        binding.bind_ortvalue_input("attention_mask", ort.OrtValue.ortvalue_from_numpy(mask))
        binding.bind_output("logits", "cpu")  # a fresh [rows, T, V] each run: callers may keep the last one
        if self._backend.has_hidden:
            binding.bind_output(HIDDEN_OUTPUT, "cpu")
        self._backend.session.run_with_iobinding(binding)
        outputs = binding.get_outputs()  # logits bound first, the hidden state second
        hidden = outputs[1].numpy()[:, -1].copy() if self._backend.has_hidden else None
        return outputs[0].numpy(), hidden

    def copy(self, source: "KVRows", source_row: int, row: int, num_tokens: int) -> None:
        """Copy the first `num_tokens` cache entries of `source`'s row into this one's (a prompt prefilled once,
        taken by every trace)."""
        for (k, v), (sk, sv) in zip(self.buffers, source.buffers, strict=True):
            k[row, :, :num_tokens] = sk[source_row, :, :num_tokens]
            v[row, :, :num_tokens] = sv[source_row, :, :num_tokens]


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
        self.kv = KVRows(self, 1)
        self._lanes: Lanes | None = None
        self.reset()

    # Position-addressed like the .pte cache: entries past `position` are outside the attention
    # mask's length, so reset and rewind need no work (the base class's defaults).

    def _run(self, tokens: Sequence[int]) -> np.ndarray:
        logits, hidden = self.kv.run(0, [self.position], [list(tokens)])
        if hidden is not None:
            self._hidden = hidden[0]
        return logits[0]  # [T, V]

    def _forward(self, tokens: Sequence[int]) -> np.ndarray:
        return self._run(tokens)[-1]

    def lanes(self, count: int) -> "Lanes":
        """`count` sequences stepped together on this session (runtime.lanes), their cache allocated once and kept
        (a larger count replaces it)."""
        if self._lanes is None or self._lanes.capacity < count:
            self._lanes = Lanes(self, _OnnxLaneRows(self, count))
        return self._lanes

    def _extend(self, tokens: Sequence[int]) -> np.ndarray:
        logits = self._run(tokens)
        self._tokens.extend(tokens)
        return logits


class _OnnxLaneRows(KVRows):
    """The lanes' cache: rows of the parent's session, the prompt copied from the parent's own cache."""

    def take_prefix(self, row: int, num_tokens: int) -> None:
        self.copy(self._backend.kv, 0, row, num_tokens)

    def move(self, source_row: int, row: int, num_tokens: int) -> None:
        self.copy(self, source_row, row, num_tokens)
