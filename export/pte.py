"""HF checkpoint → ExecuTorch `.pte` (XNNPACK, KV cache, custom SDPA) via ExecuTorch's own LLM export.

export_llm wants the checkpoint in Meta's layout plus a params.json; the wheel's converters need
torchtune, so the conversion is ours: rename keys, un-permute q/k (HF permutes them for
rotate-half RoPE; Meta's RoPE rotates interleaved pairs), and tie `output` to the embedding.
"""

import json
import tempfile
from pathlib import Path

from edgereason.artifact import IOInfo
from edgereason.errors import ExportError
from edgereason.logs import captured_output, tail
from edgereason.quant.recipes import Recipe

MODEL_FILE = "model.pte"

_LAYER_KEYS = {
    "self_attn.q_proj.weight": "attention.wq.weight",
    "self_attn.k_proj.weight": "attention.wk.weight",
    "self_attn.v_proj.weight": "attention.wv.weight",
    "self_attn.o_proj.weight": "attention.wo.weight",
    "mlp.gate_proj.weight": "feed_forward.w1.weight",
    "mlp.down_proj.weight": "feed_forward.w2.weight",
    "mlp.up_proj.weight": "feed_forward.w3.weight",
    "input_layernorm.weight": "attention_norm.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
}


def params_from_config(config: dict) -> dict:
    """ExecuTorch ModelArgs fields from an HF Llama config."""
    n_heads = config["num_attention_heads"]
    rope = config.get("rope_parameters") or {}
    return {
        "dim": config["hidden_size"],
        "n_layers": config["num_hidden_layers"],
        "n_heads": n_heads,
        "n_kv_heads": config.get("num_key_value_heads", n_heads),
        "head_dim": config.get("head_dim") or config["hidden_size"] // n_heads,
        "hidden_dim": config["intermediate_size"],
        "vocab_size": config["vocab_size"],
        "norm_eps": config["rms_norm_eps"],
        "rope_theta": rope.get("rope_theta", config.get("rope_theta", 10000.0)),
        "use_scaled_rope": False,
        "use_hf_rope": False,
    }


def _unpermute(w, n_heads: int):
    # HF stores q/k rows as [H, 2, D/2] (rotate-half halves); Meta's RoPE wants [H, D/2, 2] (pairs).
    rows, cols = w.shape
    return w.view(n_heads, 2, rows // n_heads // 2, cols).transpose(1, 2).reshape(rows, cols)


def hf_to_meta(state_dict: dict, config: dict) -> dict:
    """Convert an HF Llama state dict to ExecuTorch's (Meta) layout."""
    params = params_from_config(config)
    out = {
        "tok_embeddings.weight": state_dict["model.embed_tokens.weight"],
        "norm.weight": state_dict["model.norm.weight"],
    }
    out["output.weight"] = state_dict.get("lm_head.weight", out["tok_embeddings.weight"])
    for i in range(params["n_layers"]):
        for hf_key, meta_key in _LAYER_KEYS.items():
            w = state_dict[f"model.layers.{i}.{hf_key}"]
            if hf_key.startswith("self_attn.q_proj"):
                w = _unpermute(w, params["n_heads"])
            elif hf_key.startswith("self_attn.k_proj"):
                w = _unpermute(w, params["n_kv_heads"])
            out[f"layers.{i}.{meta_key}"] = w.contiguous()
    return out


def _load_state_dict(hf_dir: Path) -> dict:
    from safetensors.torch import load_file

    state: dict = {}
    for path in sorted(hf_dir.glob("*.safetensors")):
        state.update(load_file(path))
    return state


def export_pte(hf_dir: Path, out_dir: Path, recipe: Recipe, config: dict, *, max_seq_len: int,
               bos_id: int | None, eos_ids: list[int], log_path: Path) -> tuple[dict, IOInfo]:
    """Write `out_dir/model.pte`. Returns (recipe details, io description) for the manifest."""
    import torch

    settings = recipe.pte
    # export_llm infers quantization from the checkpoint *path* ("int8", "8da4w" in any folder
    # name): keep our converted checkpoint under a name we control.
    with tempfile.TemporaryDirectory(prefix="edgereason-et-") as work_dir:
        work = Path(work_dir)
        if "int8" in str(work) or "8da4w" in str(work):
            raise ExportError(f"temporary folder {work} trips export_llm's path sniffing: set TMPDIR elsewhere")
        torch.save(hf_to_meta(_load_state_dict(hf_dir), config), work / "model.pth")
        params = params_from_config(config)
        (work / "params.json").write_text(json.dumps(params))
        metadata = {"get_bos_id": bos_id if bos_id is not None else -1, "get_eos_ids": eos_ids}
        cfg = _llm_config(work, out_dir, settings, max_seq_len, metadata)
        try:
            with captured_output(log_path):
                from executorch.examples.models.llama.export_llama_lib import export_llama

                export_llama(cfg)
        except (RuntimeError, ValueError, AssertionError, TypeError, KeyError) as e:
            raise ExportError(f".pte export failed: {e!s:.300} | log: {tail(log_path)}") from e
    if not (out_dir / MODEL_FILE).is_file():
        raise ExportError(f"export_llm wrote no {MODEL_FILE} | log: {tail(log_path)}")
    details = {
        "backend": "xnnpack",
        "qmode": settings.qmode,
        "group_size": settings.group_size,
        "embedding_quantize": f"{settings.embedding_bits},0" if settings.embedding_bits else None,
        "kv_cache": "custom_sdpa+update_cache, fp32",
        "dynamic_shape": True,
    }
    io = IOInfo(method="forward", inputs=["tokens[1,T] int64", "input_pos[1] int64"],
                outputs=["logits[1,V] float32"], logits="last")
    return details, io


def _llm_config(work: Path, out_dir: Path, settings, max_seq_len: int, metadata: dict):
    from executorch.extension.llm.export.config.llm_config import (
        BackendConfig,
        BaseConfig,
        DtypeOverride,
        ExportConfig,
        LlmConfig,
        ModelConfig,
        ModelType,
        QuantizationConfig,
        XNNPackConfig,
    )

    quantization = QuantizationConfig(
        qmode=None, group_size=settings.group_size,
        embedding_quantize=f"{settings.embedding_bits},0" if settings.embedding_bits else None,
    )
    # LlmConfig's validator lists "8da4w" but not "8da8w", which export_llm's quantize() does
    # implement (per-channel when group_size is 0): set the mode past the validator.
    quantization.qmode = settings.qmode
    return LlmConfig(
        base=BaseConfig(model_class=ModelType.smollm2, checkpoint=str(work / "model.pth"),
                        params=str(work / "params.json"), metadata=json.dumps(metadata)),
        model=ModelConfig(dtype_override=DtypeOverride.fp32, use_kv_cache=True,
                          use_sdpa_with_kv_cache=True, enable_dynamic_shape=True),
        export=ExportConfig(max_seq_length=max_seq_len, max_context_length=max_seq_len,
                            output_dir=str(out_dir), output_name=str(out_dir / MODEL_FILE)),
        quantization=quantization,
        backend=BackendConfig(xnnpack=XNNPackConfig(enabled=True)),
    )
