"""HF checkpoint → `.onnx` via onnxruntime-genai's model builder (its Python API).

Its graph (GroupQueryAttention, fused QKV MatMulNBits, SkipSimplifiedLayerNorm) runs in plain
onnxruntime with our own loop and loads unchanged in ORT GenAI apps. The builder knows Llama,
Qwen2 and Qwen3; MobileLLM-R1 (Llama4 text) goes in as the equivalent Qwen3 checkpoint
(`archs.llama4_as_qwen3`), OLMo-2 through our builder subclass (`onnx_olmo2`).
"""

import json
import shutil
import tempfile
from pathlib import Path

from edgereason.artifact import GENAI_CONFIG, HIDDEN_OUTPUT, IOInfo, probe_layer
from edgereason.errors import ExportError
from edgereason.logs import captured_output, tail
from edgereason.quant.recipes import Recipe

from . import archs
from .hf import read_config

MODEL_FILE = "model.onnx"


def export_onnx(hf_dir: Path, out_dir: Path, recipe: Recipe, *, max_seq_len: int, eos_ids: list[int],
                log_path: Path) -> tuple[dict, IOInfo]:
    """Write model.onnx (+ .data), genai_config.json and our tokenizer files into `out_dir`."""
    settings = recipe.onnx
    cache_dir = out_dir / ".builder-cache"
    # aux_hidden_state_layers: the residual stream entering the probes' layer as a second output (the
    # hidden-state probes read it); the graph stays one ORT GenAI loads.
    config = read_config(hf_dir)
    layer = probe_layer(config["num_hidden_layers"])
    options = [*settings.extra_options, f"aux_hidden_state_layers={layer}", f"filename={MODEL_FILE}"]
    family = archs.family(config)
    try:
        with captured_output(log_path), tempfile.TemporaryDirectory(prefix="edgereason-onnx-") as work:
            source = hf_dir
            if family == "llama4":  # the Qwen3 checkpoint that computes the same function
                source = Path(work) / "as-qwen3"
                archs.llama4_as_qwen3(hf_dir, source)
            if not (source / "tokenizer.json").is_file():
                source = _with_builder_tokenizer(source, Path(work) / "tokenizer-free")
            # The builder puts its own folder on sys.path and imports top-level `builders`,
            # `quantization`, `loaders`, `builder_config`: no module of ours may use those names.
            from onnxruntime_genai.models.builder import parse_extra_options

            extra = parse_extra_options(None, str(source), str(out_dir), settings.precision, "cpu",
                                        str(cache_dir), options)
            _build(family, source, out_dir, settings.precision, cache_dir, extra)
    except (RuntimeError, ValueError, AssertionError, TypeError, KeyError, NotImplementedError) as e:
        raise ExportError(f".onnx export failed: {e!s:.300} | log: {tail(log_path)}") from e
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)
    if not (out_dir / MODEL_FILE).is_file():
        raise ExportError(f"the GenAI builder wrote no {MODEL_FILE} | log: {tail(log_path)}")
    # The builder re-saves the tokenizer its own way (drops special_tokens_map.json, adds keys):
    # ours is the repaired one every consumer reads.
    archs.copy_tokenizer(hf_dir, out_dir)
    _fix_genai_config(out_dir / GENAI_CONFIG, max_seq_len=max_seq_len, eos_ids=eos_ids)
    details = {"builder": "onnxruntime-genai", "precision": settings.precision,
               "extra_options": list(settings.extra_options)}
    io = IOInfo(
        method="model.onnx",
        inputs=["input_ids[1,T] int64", "attention_mask[1,P+T] int64",
                "past_key_values.{i}.key/value[1,KV,P,D] float32"],
        outputs=["logits[1,T,V] float32", f"{HIDDEN_OUTPUT}[1,T,H] float32 (input of layer {layer})",
                 "present.{i}.key/value[1,KV,P+T,D] float32"],
        logits="all",
    )
    return details, io


def _with_builder_tokenizer(source: Path, view: Path) -> Path:
    """A tokenizer-free checkpoint as the builder will read it: it loads a tokenizer before anything
    else (only to look up tool-call ids), so it gets a one-token one. It never reaches the artifact:
    `_build` skips the builder's tokenizer save, and the manifest says tokenizer-free."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel

    view.mkdir()
    for path in source.iterdir():
        (view / path.name).symlink_to(path.resolve())
    Tokenizer(WordLevel({"<unk>": 0}, unk_token="<unk>")).save(str(view / "tokenizer.json"))
    return view


def _build(family: str | None, source: Path, out_dir: Path, precision: str, cache_dir: Path, extra: dict) -> None:
    """The builder's `create_model` for one of our families, minus its tokenizer re-save.

    We pick the builder class (ours for OLMo-2) instead of its architecture switch, and skip
    `save_processing`: our repaired tokenizer files are copied in afterwards, and a
    tokenizer-free checkpoint has none to save.
    """
    from builders import LlamaModel, Qwen3Model, QwenModel  # the builder's own package (see above)
    from onnxruntime_genai.models import builder

    from .onnx_olmo2 import olmo2_class

    classes = {"llama": LlamaModel, "qwen2": QwenModel, "qwen3": Qwen3Model, "llama4": Qwen3Model}
    model_class = olmo2_class() if family == "olmo2" else classes[family or "llama"]
    extra = dict(extra)
    extra.pop("_effective_builder_config", None)  # holds the same precision and options we passed
    details = extra.pop("hf_details")
    config, extra_kwargs = details["hf_config"], details["extra_kwargs"]
    out_dir.mkdir(parents=True, exist_ok=True)
    cache_dir.mkdir(parents=True, exist_ok=True)
    model = model_class(config, builder.set_io_dtype(precision, "cpu", extra), builder.set_onnx_dtype(precision, extra),
                        "cpu", str(cache_dir), extra)
    model.make_model(str(source))
    model.save_model(str(out_dir))
    model.make_genai_config(config, extra_kwargs, str(out_dir))


def _fix_genai_config(path: Path, *, max_seq_len: int, eos_ids: list[int]) -> None:
    """Make genai_config.json agree with the manifest: eos ids and the context we promise."""
    config = json.loads(path.read_text())
    model = config["model"]
    model["eos_token_id"] = eos_ids[0] if len(eos_ids) == 1 else eos_ids
    model["context_length"] = max_seq_len
    config.setdefault("search", {})["max_length"] = max_seq_len
    path.write_text(json.dumps(config, indent=4) + "\n")
