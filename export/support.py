"""What each format can export, decided from config.json alone, with size and memory estimates.

`edgereason models check` and `export`'s early refusal read the same table, so a checkpoint is
refused with the same reason before any heavy work, and never by a crash mid-export.

Estimates come from the parameter counts in the config and bytes per parameter measured on
SmolLM2-135M's six artifacts (README, "Measured"): the recipes quantize linear layers and keep or
quantize the embedding and output head as listed in `_BYTES`. Peak export memory is a fixed
process cost plus a multiple of the fp32 checkpoint, fitted on full-size exports of random
weights of the seed configs (see `_PEAK`); it is labelled an estimate.
"""

from dataclasses import dataclass

from edgereason.export import archs
from edgereason.quant.recipes import Format, RecipeName

# (format, recipe) → bytes per parameter of (linear layers, embedding table, output head).
# The head of a tied model: .pte keeps its own copy; .onnx shares the embedding (no extra bytes),
# except int8, where the GenAI builder keeps the table fp32 and quantizes a separate head.
_BYTES: dict[tuple[Format, RecipeName], tuple[float, float, float]] = {
    (Format.PTE, RecipeName.FP32): (4.0, 4.0, 4.0),
    (Format.PTE, RecipeName.INT8): (1.043, 1.0, 1.043),  # 8da8w per channel; int8 embedding per row
    (Format.PTE, RecipeName.INT4): (0.60, 1.0, 0.60),  # 8da4w group 32; int8 embedding per row
    (Format.ONNX, RecipeName.FP32): (4.0, 4.0, 4.0),
    (Format.ONNX, RecipeName.INT8): (1.17, 4.0, 1.17),  # block 32 + scales; fp32 embedding table
    (Format.ONNX, RecipeName.INT4): (0.67, 0.67, 0.67),  # block 32 + scales; shared int4 table when tied
}
_TIED_HEAD_SHARED = {(Format.ONNX, RecipeName.FP32), (Format.ONNX, RecipeName.INT4)}
# Peak RSS of `edgereason export` (gate included) ≈ base + factor × fp32 checkpoint bytes, least squares
# over the full-size int4 exports of README "Supported models" (random weights of real configs,
# 125M–1.8B parameters, /usr/bin/time): .pte within ±0.5 GB on 5 models (125M–596M); .onnx within
# ±16% on 8 models from 360M up (+41% on the smallest).
_PEAK = {Format.PTE: (1.5e9, 3.76), Format.ONNX: (2.09e9, 2.80)}


@dataclass(frozen=True)
class ArchFacts:
    architecture: str
    vocab_size: int
    dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    intermediate: int
    tied: bool
    linear_params: int  # attention + MLP projections of every layer
    embedding_params: int
    head_params: int  # the output projection (equal to the embedding's when tied)

    @property
    def total_params(self) -> int:
        return self.linear_params + self.embedding_params + (0 if self.tied else self.head_params)

    def kv_cache_bytes(self, max_seq_len: int) -> int:
        return 2 * self.n_layers * self.n_kv_heads * self.head_dim * max_seq_len * 4


@dataclass(frozen=True)
class Cell:
    format: Format
    recipe: RecipeName
    reason: str | None  # None: supported
    artifact_bytes: int
    peak_export_bytes: int


def facts(config: dict) -> ArchFacts:
    """Parameter counts from a HF config.json (Llama-style field names, which every seed model uses)."""
    tied = bool(archs.canonical_config(config).get("tie_word_embeddings"))
    try:
        dim, vocab = int(config["hidden_size"]), int(config["vocab_size"])
        layers, heads = int(config["num_hidden_layers"]), int(config["num_attention_heads"])
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"config.json lacks a transformer field ({e}): is this a causal LM config?") from e
    kv = int(config.get("num_key_value_heads") or heads)
    head_dim = int(config.get("head_dim") or dim // heads)
    # Llama4 text (MobileLLM-R1) keeps its dense MLP width in intermediate_size_mlp.
    inter = int(config.get("intermediate_size_mlp") or config.get("intermediate_size") or 4 * dim)
    attention = dim * heads * head_dim * 2 + dim * kv * head_dim * 2  # q, o and k, v
    mlp = 3 * dim * inter  # gate, up, down
    arch = archs.architecture(config)
    return ArchFacts(arch, vocab, dim, layers, heads, kv, head_dim, inter, tied,
                     layers * (attention + mlp), vocab * dim, vocab * dim)


def unsupported_reason(config: dict) -> str | None:
    """Why no format can export this config here, or None. Both formats cover every family."""
    if archs.family(config) is None:
        return (f"architecture {archs.architecture(config)} is not supported "
                f"(supported: {', '.join(archs.FAMILIES)})")
    return archs.config_reason(config)


def estimate_bytes(arch: ArchFacts, fmt: Format, recipe: RecipeName) -> int:
    linear, embedding, head = _BYTES[fmt, recipe]
    if fmt is Format.ONNX and not arch.tied:
        # The GenAI builder quantizes only a tied table; an untied one stays an fp32 Gather
        # (measured on OLMo-2 and DeepSeek-R1-Distill-Qwen configs, int4: 989 and 1,149 MiB at 2 layers).
        embedding = 4.0
    head_bytes = 0.0 if arch.tied and (fmt, recipe) in _TIED_HEAD_SHARED else arch.head_params * head
    return int(arch.linear_params * linear + arch.embedding_params * embedding + head_bytes)


def estimate_peak_export(arch: ArchFacts, fmt: Format) -> int:
    base, factor = _PEAK[fmt]
    return int(base + factor * arch.total_params * 4)


def matrix(config: dict) -> tuple[ArchFacts, list[Cell]]:
    arch = facts(config)
    reason = unsupported_reason(config)
    cells = [Cell(fmt, recipe, reason, estimate_bytes(arch, fmt, recipe), estimate_peak_export(arch, fmt))
             for fmt in Format for recipe in RecipeName]
    return arch, cells
