"""What each supported architecture is, in the terms both exporters need, decided from config.json.

One place knows the families: the `.pte` layout conversion, the `.onnx` builder choice, `models
check` and the random-weight checkpoints of the test matrix all ask this module. The families and
how each differs from Llama (docs/architecture.md has the details and why each route was chosen):

- llama: SmolLM2 (and MobileLLM-125M, whose remote code is Llama with a shared embedding).
- qwen2: Llama plus q/k/v projection biases (DeepSeek-R1-Distill-Qwen).
- qwen3: per-head RMSNorm with weights on q and k before RoPE.
- olmo2: post-norm blocks and full-width RMSNorm on q and k before RoPE; untied head.
- llama4: MobileLLM-R1's dense text model: interleaved-pair RoPE and a weightless per-head
  RMSNorm on q and k *after* RoPE; the MLP width is `intermediate_size_mlp`.
"""

import json
import shutil
from pathlib import Path

from edgereason.errors import ModelSourceError

# The tokenizer files a checkpoint and an artifact carry (chat template included).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja")

FAMILIES = {
    "LlamaForCausalLM": "llama",
    "MobileLLMForCausalLM": "llama",
    "Qwen2ForCausalLM": "qwen2",
    "Qwen3ForCausalLM": "qwen3",
    "Olmo2ForCausalLM": "olmo2",
    "Llama4ForCausalLM": "llama4",
}


def architecture(config: dict) -> str:
    return (config.get("architectures") or [config.get("model_type") or "unknown"])[0]


def family(config: dict) -> str | None:
    return FAMILIES.get(architecture(config))


def config_reason(config: dict) -> str | None:
    """Why this particular config of a supported architecture can't be exported, or None."""
    arch = architecture(config)
    if arch == "MobileLLMForCausalLM" and config.get("layer_sharing"):
        return "MobileLLM with layer_sharing=true (each block run twice) is not supported"
    if arch == "Llama4ForCausalLM":
        interleaved_moe = (config.get("num_local_experts") or 0) > 0 and config.get("interleave_moe_layer_step")
        if config.get("moe_layers") or interleaved_moe:
            return "Llama4 mixture-of-experts layers are not supported (dense text models only, e.g. MobileLLM-R1)"
        if 0 in (config.get("no_rope_layers") or []):
            return "Llama4 NoPE layers (no_rope_layers with zeros) are not supported"
    if config.get("rope_scaling") or (config.get("rope_parameters") or {}).get("rope_type", "default") != "default":
        return "scaled RoPE (rope_scaling) is not supported yet: only the default RoPE of the seed models"
    if (config.get("hidden_act") or "silu") != "silu":
        return f"activation {config.get('hidden_act')} is not supported (SwiGLU with silu only)"
    return None


def read_config(path: Path) -> dict:
    """A checkpoint's config.json, parsed strictly and checked by `check_config`.

    Raises:
        ModelSourceError: unreadable, not JSON, or a field out of bounds; the message names the field.
    """
    from edgereason import schema

    config = schema.read_json(path, what="a Hugging Face config.json", fix="pass the model's own config.json",
                              error=ModelSourceError)
    check_config(config, str(path))
    return config


def check_config(config, label: str) -> None:
    """config.json against hf_config.schema.json, then the rules across fields the exporters rely on."""
    from edgereason import schema

    fix = "pass the model's own config.json"
    schema.validate(config, "hf_config", label=label, fix=fix, error=ModelSourceError)
    heads = config["num_attention_heads"]
    kv = config.get("num_key_value_heads") or heads
    if heads % kv:
        raise ModelSourceError(f"{label}: num_key_value_heads: {kv} does not divide num_attention_heads {heads}: "
                               f"{fix}")
    if not config.get("head_dim") and config["hidden_size"] % heads:
        raise ModelSourceError(f"{label}: hidden_size: {config['hidden_size']} is not divisible by "
                               f"num_attention_heads {heads} and there is no head_dim: {fix}")


def max_context(config: dict) -> int | None:
    """Longest context the architecture computes exactly: Llama4 chunks attention past its chunk size."""
    if architecture(config) == "Llama4ForCausalLM" and config.get("attention_chunk_size"):
        return int(config["attention_chunk_size"])
    return None


def canonical_config(config: dict) -> dict:
    """The config transformers can load without remote code: MobileLLM becomes the Llama it is."""
    if architecture(config) != "MobileLLMForCausalLM":
        return config
    out = {k: v for k, v in config.items() if k not in ("auto_map", "layer_sharing", "share_embedding")}
    out.update(architectures=["LlamaForCausalLM"], model_type="llama",
               tie_word_embeddings=bool(config.get("share_embedding", config.get("tie_word_embeddings"))))
    return out


def hf_config(config: dict):
    """A transformers config object for `config` (after `canonical_config`)."""
    from transformers import AutoConfig

    fields = dict(canonical_config(config))
    return AutoConfig.for_model(fields.pop("model_type"), **fields)


# The MLP widths a config may name (Llama 4 has a dense-MLP width next to its experts' width).
MLP_WIDTH_KEYS = ("intermediate_size", "intermediate_size_mlp")


def reduce(config: dict, *, layers: int | None = None, vocab: int | None = None, mlp: int | None = None) -> dict:
    """The same architecture, smaller where tests need speed: its first `layers` blocks (every
    per-layer list cut too), a `vocab`-token table and/or MLPs at most `mlp` wide. Attention (heads,
    head size, KV groups, norms, RoPE) keeps the config's width: that is where the families differ.
    Special ids past a reduced vocabulary move to its last ids, in order."""
    out = dict(config)
    if mlp:
        for key in MLP_WIDTH_KEYS:
            if isinstance(out.get(key), int):
                out[key] = min(out[key], mlp)
    if layers:
        out["num_hidden_layers"] = layers
        for key in ("layer_types", "no_rope_layers"):
            if isinstance(out.get(key), list):
                out[key] = out[key][:layers]
        if "max_window_layers" in out:
            out["max_window_layers"] = min(int(out["max_window_layers"]), layers)
    if vocab and vocab < int(config["vocab_size"]):
        out["vocab_size"] = vocab
        moved = iter(range(vocab - 1, -1, -1))
        remap: dict[int, int] = {}
        for key in ("bos_token_id", "eos_token_id", "pad_token_id"):
            ids = out.get(key)
            fixed = [i if i < vocab else remap.setdefault(i, next(moved)) for i in
                     (ids if isinstance(ids, list) else [ids] if isinstance(ids, int) else [])]
            if fixed:
                out[key] = fixed if isinstance(ids, list) else fixed[0]
    return out


def make_random_checkpoint(config: dict, out: Path, *, seed: int = 0, layers: int | None = None,
                           vocab: int | None = None, mlp: int | None = None, tokenizer_dir: Path | None = None,
                           generation_config: Path | None = None) -> dict:
    """Seeded random weights for a real config (optionally `reduce`d), saved as HF.

    This exercises an architecture exactly when its weights can't be downloaded. With no
    tokenizer the checkpoint is tokenizer-free: artifacts take token ids.
    """
    import torch
    from transformers import AutoModelForCausalLM

    # A generation config's stop ids name the full vocabulary: dropped when it is reduced.
    keep_generation = generation_config is not None and not (vocab and vocab < int(config["vocab_size"]))
    config = canonical_config(reduce(config, layers=layers, vocab=vocab, mlp=mlp))
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(hf_config(config), dtype=torch.float32).eval()
        _randomize_norms(model, seed)
    model.save_pretrained(out)
    written = json.loads((out / "config.json").read_text())
    (out / "generation_config.json").unlink(missing_ok=True)  # transformers' default, not the model's
    if keep_generation:
        shutil.copy2(generation_config, out / "generation_config.json")
    if tokenizer_dir is not None:
        copy_tokenizer(tokenizer_dir, out)
    return written


def copy_tokenizer(source: Path, out: Path, *, also: tuple[str, ...] = ()) -> None:
    """Copy whichever of the tokenizer files (and `also`) `source` has into `out`."""
    for name in (*TOKENIZER_FILES, *also):
        if (source / name).is_file():
            shutil.copy2(source / name, out / name)


def _randomize_norms(model, seed: int) -> None:
    # transformers initializes every RMSNorm weight to 1 (and q/k norms too), which would hide a
    # norm applied in the wrong place or with the wrong layout: make each one distinct.
    import torch

    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.copy_(1.0 + 0.2 * torch.randn(param.shape, generator=gen))


def interleave_to_half(w, n_heads: int):
    """Reorder q/k rows from interleaved RoPE pairs [H, D/2, 2] to rotate-half halves [H, 2, D/2]."""
    rows = w.shape[0]
    rest = w.shape[1:]
    return w.reshape(n_heads, rows // n_heads // 2, 2, *rest).transpose(1, 2).reshape(rows, *rest)


def half_to_interleave(w, n_heads: int):
    """The inverse of `interleave_to_half`: HF's rotate-half rows to Meta's interleaved pairs."""
    rows = w.shape[0]
    rest = w.shape[1:]
    return w.reshape(n_heads, 2, rows // n_heads // 2, *rest).transpose(1, 2).reshape(rows, *rest)


def llama4_as_qwen3(hf_dir: Path, out: Path) -> None:
    """Rewrite a dense Llama4 text checkpoint as the Qwen3 checkpoint that computes the same function.

    A weightless per-head RMSNorm commutes with RoPE (RoPE rotates pairs, so it keeps each head's
    norm), so "norm after RoPE" equals "norm before RoPE" — Qwen3's order, with unit weights.
    Interleaved-pair RoPE equals rotate-half RoPE on q/k rows reordered per head. Everything else
    (pre-norm, SwiGLU, GQA, 1/sqrt(head_dim), tied head) is already Qwen3's.
    """
    import torch
    from safetensors.torch import save_file

    config = json.loads((hf_dir / "config.json").read_text())
    heads, kv = config["num_attention_heads"], config.get("num_key_value_heads") or config["num_attention_heads"]
    head_dim = config.get("head_dim") or config["hidden_size"] // heads
    state = load_state_dict(hf_dir)
    converted = {}
    for key, tensor in state.items():
        new_key = key.replace(".feed_forward.", ".mlp.")
        if key.endswith("self_attn.q_proj.weight"):
            tensor = interleave_to_half(tensor, heads)
        elif key.endswith("self_attn.k_proj.weight"):
            tensor = interleave_to_half(tensor, kv)
        converted[new_key] = tensor.contiguous()
    for i in range(config["num_hidden_layers"]):
        converted[f"model.layers.{i}.self_attn.q_norm.weight"] = torch.ones(head_dim)
        converted[f"model.layers.{i}.self_attn.k_norm.weight"] = torch.ones(head_dim)
    if config.get("tie_word_embeddings", True):
        converted.pop("lm_head.weight", None)
    out.mkdir(parents=True, exist_ok=True)
    save_file(converted, out / "model.safetensors", metadata={"format": "pt"})
    qwen3 = {
        "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3",
        "vocab_size": config["vocab_size"], "hidden_size": config["hidden_size"],
        "intermediate_size": config.get("intermediate_size_mlp") or config["intermediate_size"],
        "num_hidden_layers": config["num_hidden_layers"], "num_attention_heads": heads,
        "num_key_value_heads": kv, "head_dim": head_dim, "hidden_act": "silu",
        "max_position_embeddings": config.get("max_position_embeddings", 4096),
        "rms_norm_eps": config["rms_norm_eps"], "rope_theta": rope_theta(config),
        "rope_scaling": None, "attention_bias": False, "tie_word_embeddings": config.get("tie_word_embeddings", True),
        "use_sliding_window": False, "sliding_window": None,
        "bos_token_id": config.get("bos_token_id"), "eos_token_id": config.get("eos_token_id"),
        "pad_token_id": config.get("pad_token_id"), "torch_dtype": "float32",
    }
    (out / "config.json").write_text(json.dumps(qwen3, indent=2) + "\n")
    copy_tokenizer(hf_dir, out)


def rope_theta(config: dict) -> float:
    rope = config.get("rope_parameters") or {}
    return float(rope.get("rope_theta", config.get("rope_theta", 10000.0)))


def load_state_dict(folder: Path) -> dict:
    """Every tensor of an HF checkpoint: its safetensors shards, else pytorch_model*.bin (weights only)."""
    import torch
    from safetensors.torch import load_file

    state: dict = {}
    for path in sorted(folder.glob("*.safetensors")) or sorted(folder.glob("pytorch_model*.bin")):
        state.update(load_file(path) if path.suffix == ".safetensors" else
                     torch.load(path, map_location="cpu", weights_only=True))
    return state
