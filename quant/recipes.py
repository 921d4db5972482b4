"""Named recipes mapped to each exporter's settings, with the gate thresholds that go with them.

One place for each rule: exporters read their settings here, the gate reads its thresholds here.
"""

from dataclasses import dataclass
from enum import StrEnum


class Format(StrEnum):
    PTE = "pte"
    ONNX = "onnx"


class RecipeName(StrEnum):
    FP32 = "fp32"
    INT8 = "int8"
    INT4 = "int4"


@dataclass(frozen=True)
class PteSettings:
    """ExecuTorch export_llm quantization (XNNPACK). `None` fields mean "not quantized"."""

    qmode: str | None  # "8da8w" / "8da4w": dynamic int8 activations; weight-only int8 is broken on XNNPACK
    group_size: int | None  # 0: one scale per output channel
    embedding_bits: int | None  # int8 embedding table, per-row (group size 0)


@dataclass(frozen=True)
class OnnxSettings:
    """onnxruntime-genai model builder precision and its extra options."""

    precision: str  # "fp32" | "int8" | "int4"
    extra_options: tuple[str, ...] = ()


@dataclass(frozen=True)
class GateThresholds:
    """Refuse an artifact beyond these, measured against the fp32 reference on WikiText-2.

    Chosen from measurements of smollm2-135m on the first 4,096 WikiText-2 test tokens (README,
    "Accuracy gate"): each limit sits outside what a correct export of that recipe gave in both
    formats, with margin, and far inside what a broken export gives (top-1 agreement near 0, KL
    of several nats). int4 limits are loose because this 135M model loses ~40-50% perplexity to
    round-to-nearest 4-bit weights (its fp32 reference is already dequantized Q4_1).
    """

    max_ppl_ratio: float
    max_kld: float
    min_top1: float


@dataclass(frozen=True)
class Recipe:
    name: RecipeName
    pte: PteSettings
    onnx: OnnxSettings
    gate: GateThresholds


_ONNX_QUANT = ("is_symmetric=true", "accuracy_level=4")

RECIPES: dict[RecipeName, Recipe] = {
    RecipeName.FP32: Recipe(
        RecipeName.FP32,
        PteSettings(qmode=None, group_size=None, embedding_bits=None),
        OnnxSettings("fp32"),
        GateThresholds(max_ppl_ratio=1.001, max_kld=1e-4, min_top1=0.995),
    ),
    RecipeName.INT8: Recipe(
        RecipeName.INT8,
        PteSettings(qmode="8da8w", group_size=0, embedding_bits=8),
        OnnxSettings("int8", _ONNX_QUANT),
        GateThresholds(max_ppl_ratio=1.06, max_kld=0.06, min_top1=0.85),
    ),
    RecipeName.INT4: Recipe(
        RecipeName.INT4,
        PteSettings(qmode="8da4w", group_size=32, embedding_bits=8),
        OnnxSettings("int4", ("block_size=32", *_ONNX_QUANT)),
        GateThresholds(max_ppl_ratio=1.75, max_kld=0.75, min_top1=0.50),
    ),
}


def widest_group() -> int:
    """The largest quantization group of any recipe: a layer width every recipe can quantize is a multiple of it."""
    return max(r.pte.group_size or 1 for r in RECIPES.values())


def get_recipe(name: RecipeName | str) -> Recipe:
    return RECIPES[RecipeName(name)]
