"""HF checkpoint → `.onnx` via onnxruntime-genai's model builder (its Python API).

Its graph (GroupQueryAttention, fused QKV MatMulNBits, SkipSimplifiedLayerNorm) runs in plain
onnxruntime with our own loop and loads unchanged in ORT GenAI apps.
"""

import json
import shutil
from pathlib import Path

from edgereason.artifact import GENAI_CONFIG, IOInfo
from edgereason.errors import ExportError
from edgereason.logs import captured_output, tail
from edgereason.quant.recipes import Recipe

from .hf import TOKENIZER_FILES

MODEL_FILE = "model.onnx"


def export_onnx(hf_dir: Path, out_dir: Path, recipe: Recipe, *, max_seq_len: int, eos_ids: list[int],
                log_path: Path) -> tuple[dict, IOInfo]:
    """Write model.onnx (+ .data), genai_config.json and our tokenizer files into `out_dir`."""
    settings = recipe.onnx
    cache_dir = out_dir / ".builder-cache"
    options = [*settings.extra_options, f"filename={MODEL_FILE}"]
    try:
        with captured_output(log_path):
            # The builder puts its own folder on sys.path and imports top-level `builders`,
            # `quantization`, `loaders`, `builder_config`: no module of ours may use those names.
            from onnxruntime_genai.models.builder import create_model, parse_extra_options

            extra = parse_extra_options(None, str(hf_dir), str(out_dir), settings.precision, "cpu",
                                        str(cache_dir), options)
            create_model(None, str(hf_dir), str(out_dir), settings.precision, "cpu", str(cache_dir), **extra)
    except (RuntimeError, ValueError, AssertionError, TypeError, KeyError, NotImplementedError) as e:
        raise ExportError(f".onnx export failed: {e!s:.300} | log: {tail(log_path)}") from e
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)
    if not (out_dir / MODEL_FILE).is_file():
        raise ExportError(f"the GenAI builder wrote no {MODEL_FILE} | log: {tail(log_path)}")
    # The builder re-saves the tokenizer its own way (drops special_tokens_map.json, adds keys):
    # ours is the repaired one every consumer reads.
    for name in TOKENIZER_FILES:
        if (hf_dir / name).is_file():
            shutil.copy2(hf_dir / name, out_dir / name)
    _fix_genai_config(out_dir / GENAI_CONFIG, max_seq_len=max_seq_len, eos_ids=eos_ids)
    details = {"builder": "onnxruntime-genai", "precision": settings.precision,
               "extra_options": list(settings.extra_options)}
    io = IOInfo(
        method="model.onnx",
        inputs=["input_ids[1,T] int64", "attention_mask[1,P+T] int64",
                "past_key_values.{i}.key/value[1,KV,P,D] float32"],
        outputs=["logits[1,T,V] float32", "present.{i}.key/value[1,KV,P+T,D] float32"],
        logits="all",
    )
    return details, io


def _fix_genai_config(path: Path, *, max_seq_len: int, eos_ids: list[int]) -> None:
    """Make genai_config.json agree with the manifest: eos ids and the context we promise."""
    config = json.loads(path.read_text())
    model = config["model"]
    model["eos_token_id"] = eos_ids[0] if len(eos_ids) == 1 else eos_ids
    model["context_length"] = max_seq_len
    config.setdefault("search", {})["max_length"] = max_seq_len
    path.write_text(json.dumps(config, indent=4) + "\n")
