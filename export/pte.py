"""HF checkpoint → ExecuTorch `.pte` (XNNPACK, KV cache, custom SDPA) via ExecuTorch's own LLM export.

export_llm wants the checkpoint in Meta's layout plus a params.json; the wheel's converters need
torchtune, so the conversion is ours: rename keys, reorder q/k rows (HF permutes them for
rotate-half RoPE; Meta's RoPE rotates interleaved pairs), and tie `output` to the embedding.
ModelArgs flags cover Qwen2 (biases), Qwen3 (per-head QK-norm) and Llama4 (QK-norm after RoPE);
OLMo-2 is rewired by `pte_olmo2`.
"""

import contextlib
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

from edgereason.artifact import IOInfo, probe_layer
from edgereason.errors import ExportError
from edgereason.export import archs
from edgereason.logs import captured_output, tail
from edgereason.quant.recipes import Recipe

MODEL_FILE = "model.pte"

_LAYER_KEYS = {
    "self_attn.q_proj.weight": "attention.wq.weight",
    "self_attn.k_proj.weight": "attention.wk.weight",
    "self_attn.v_proj.weight": "attention.wv.weight",
    "self_attn.o_proj.weight": "attention.wo.weight",
    "self_attn.q_proj.bias": "attention.wq.bias",  # qwen2
    "self_attn.k_proj.bias": "attention.wk.bias",
    "self_attn.v_proj.bias": "attention.wv.bias",
    "self_attn.q_norm.weight": "attention.q_norm_fn.weight",  # qwen3 per head; olmo2 full width (pte_olmo2.py)
    "self_attn.k_norm.weight": "attention.k_norm_fn.weight",
    "mlp.gate_proj.weight": "feed_forward.w1.weight",
    "mlp.down_proj.weight": "feed_forward.w2.weight",
    "mlp.up_proj.weight": "feed_forward.w3.weight",
    "input_layernorm.weight": "attention_norm.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "post_feedforward_layernorm.weight": "post_ffn_norm.weight",  # olmo2
}
# OLMo-2's post_attention_layernorm follows attention instead of preceding the MLP.
_OLMO2_KEYS = {"post_attention_layernorm.weight": "post_attention_norm.weight"}


def params_from_config(config: dict) -> dict:
    """ExecuTorch ModelArgs fields from an HF config of any supported family."""
    n_heads = config["num_attention_heads"]
    family = archs.family(config)
    params = {
        "dim": config["hidden_size"],
        "n_layers": config["num_hidden_layers"],
        "n_heads": n_heads,
        "n_kv_heads": config.get("num_key_value_heads") or n_heads,
        "head_dim": config.get("head_dim") or config["hidden_size"] // n_heads,
        "hidden_dim": config.get("intermediate_size_mlp") or config["intermediate_size"],
        "vocab_size": config["vocab_size"],
        "norm_eps": config["rms_norm_eps"],
        "rope_theta": archs.rope_theta(config),
        "use_scaled_rope": False,
        "use_hf_rope": False,
    }
    if family == "qwen2":
        params["attention_qkv_bias"] = True
    elif family == "qwen3":
        params.update(use_qk_norm=True, qk_norm_before_rope=True, qk_norm_affine=True)
    elif family == "llama4":
        # Weightless per-head RMSNorm after RoPE; ExecuTorch's RoPE already rotates interleaved pairs.
        params.update(use_qk_norm=True, qk_norm_before_rope=False, qk_norm_affine=False)
    return params


def hf_to_meta(state_dict: dict, config: dict) -> dict:
    """Convert an HF state dict to ExecuTorch's (Meta) layout.

    HF stores q/k rows (and their biases and norm weights) in rotate-half order; Meta's RoPE
    rotates interleaved pairs, so they are reordered per head — except Llama4's, which are
    interleaved already.
    """
    import torch

    params = params_from_config(config)
    family = archs.family(config)
    out = {
        "tok_embeddings.weight": state_dict["model.embed_tokens.weight"],
        "norm.weight": state_dict["model.norm.weight"],
    }
    out["output.weight"] = state_dict.get("lm_head.weight", out["tok_embeddings.weight"])
    heads = {"q": params["n_heads"], "k": params["n_kv_heads"]}
    keys = {**_LAYER_KEYS, **(_OLMO2_KEYS if family == "olmo2" else {})}
    for i in range(params["n_layers"]):
        for hf_key, meta_key in keys.items():
            source_key = hf_key.replace("mlp.", "feed_forward.") if family == "llama4" else hf_key
            w = state_dict.get(f"model.layers.{i}.{source_key}")
            if w is None:
                continue
            kind = hf_key.removeprefix("self_attn.")[:1] if hf_key.startswith("self_attn.") else ""
            if kind in heads and family != "llama4":
                # A per-head norm weight (qwen3) is one head wide; olmo2's spans every head.
                w = archs.half_to_interleave(w, 1 if w.shape[0] == params["head_dim"] else heads[kind])
            out[f"layers.{i}.{meta_key}"] = w.contiguous()
        if family == "olmo2":  # ExecuTorch's loader wants the pre-norms that `pte_olmo2` then removes
            for unused in ("attention_norm.weight", "ffn_norm.weight"):
                out[f"layers.{i}.{unused}"] = torch.ones(params["dim"])
    return out


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
        state = hf_to_meta(archs.load_state_dict(hf_dir), config)
        torch.save(state, work / "model.pth")
        params = params_from_config(config)
        (work / "params.json").write_text(json.dumps(params))
        metadata = {"get_bos_id": bos_id if bos_id is not None else -1, "get_eos_ids": eos_ids}
        cfg = _llm_config(work, out_dir, settings, max_seq_len, metadata)
        try:
            with captured_output(log_path):
                from executorch.examples.models.llama.export_llama_lib import export_llama

                with _architecture(config, state), _hidden_output(probe_layer(params["n_layers"])):
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
    layer = probe_layer(config["num_hidden_layers"])
    io = IOInfo(method="forward", inputs=["tokens[1,T] int64", "input_pos[1] int64"],
                outputs=["logits[1,V] float32", f"hidden[1,H] float32 (input of layer {layer})"], logits="last")
    return details, io


@contextlib.contextmanager
def on_model_built(transform) -> Iterator[None]:
    """While active, export_llama calls `transform(model)` on its eager model right after building it, before
    quantization and the source transforms (export_llm keeps the model between the two; the one private function
    we wrap, pinned ExecuTorch 1.5.1)."""
    from executorch.examples.models.llama import export_llama_lib

    original = export_llama_lib._load_llama_model

    def load(llm_config):
        manager = original(llm_config)
        transform(manager.model)
        return manager

    export_llama_lib._load_llama_model = load
    try:
        yield
    finally:
        export_llama_lib._load_llama_model = original


def _hidden_output(layer: int):
    """The eager model also returns the residual stream entering decoder `layer` at the last position, as a second
    program output (the hidden-state probes read it; output 0 stays the logits, so ExecuTorch's own runners run
    the program unchanged). Hooks, not a wrapper module: the source transforms walk the model as built."""

    def add_output(model) -> None:
        seen: dict = {}
        # a block returns (h, attention options); h[:, -1] is the last position's stream leaving it
        model.layers[layer - 1].register_forward_hook(lambda module, args, out: seen.__setitem__("h", out[0][:, -1]))
        model.register_forward_hook(lambda module, args, out: (out, seen.pop("h")))

    return on_model_built(add_output)


def _architecture(config: dict, state: dict):
    if archs.family(config) == "olmo2":
        from .pte_olmo2 import olmo2_model

        return olmo2_model(state, config["rms_norm_eps"])
    return contextlib.nullcontext()


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
