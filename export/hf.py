"""Sources → normalized HF checkpoint: GGUF dequantization, tokenizer repair, tiny-random.

Every exporter and the eager reference read this one folder layout: config.json,
model.safetensors, tokenizer.json, tokenizer_config.json (with the chat template), special_tokens_map.json.
"""

import contextlib
import json
import logging
import shutil
from pathlib import Path

from edgereason import artifact, cache, models
from edgereason.artifact import TokenizerInfo
from edgereason.errors import ModelSourceError, UnsupportedModelError
from edgereason.logs import captured_output
from edgereason.models import ModelSource, SourceKind

from . import archs, support

log = logging.getLogger(__name__)


def normalize(source: ModelSource) -> Path:
    """Return the normalized HF checkpoint folder for `source`, converting into the cache once.

    An HF checkpoint folder is used in place after its architecture and tokenizer are checked.
    """
    if source.kind is SourceKind.HF:
        assert source.path is not None
        config = check_checkpoint(source.path)
        if archs.canonical_config(config) == config:
            return source.path
        digest = models.sha256_file(source.path / "config.json")
        return _cached(f"{source.name}-{digest[:8]}", f"{source.path} sha256:{digest}",
                       lambda tmp: write_canonical(source.path, tmp))
    if source.kind is SourceKind.BUILTIN and source.builtin and source.builtin.tokenizer_from:
        return _cached(source.name, "generated", lambda tmp: make_tiny_random(
            tmp, normalize(models.resolve(source.builtin.tokenizer_from))))
    if source.kind is SourceKind.BUILTIN:
        builtin = source.builtin
        assert builtin is not None

        def build(tmp: Path) -> None:
            gguf = models.fetch_builtin_gguf(builtin, tmp / ".gguf")
            gguf_to_hf(gguf, tmp)
            shutil.rmtree(tmp / ".gguf")

        return _cached(source.name, f"{builtin.wheel} sha256:{builtin.wheel_sha256}", build)
    assert source.path is not None
    digest = models.sha256_file(source.path)
    name = f"{source.name}-{digest[:8]}"
    return _cached(name, f"{source.path} sha256:{digest}", lambda tmp: gguf_to_hf(source.path, tmp))


def _cached(name: str, origin: str, build) -> Path:
    """The cache folder `name`, built once; a folder whose files no longer match its marker is built again."""
    final = models.cached_dir(name)
    with cache.locked(f"model-{name}"):
        if models.is_complete(final):
            problem = models.cache_problem(final)
            if problem is None:
                return final
            log.warning(f"the cached {name} is damaged ({problem}): converting it again")
        with artifact.staging(final, overwrite=True) as tmp, captured_output(cache.log_path(f"convert-{name}")):
            build(tmp)
            models.mark_complete(tmp, origin)
    return final


def source_sha256(source: ModelSource) -> str | None:
    """The digest that identifies what an artifact was made from."""
    if source.kind is SourceKind.BUILTIN:
        return source.builtin.wheel_sha256 if source.builtin else None
    if source.kind is SourceKind.GGUF and source.path:
        return models.sha256_file(source.path)
    if source.path:
        return models.sha256_file(source.path / "config.json")
    return None


def write_canonical(folder: Path, out: Path) -> None:
    """A copy transformers loads without remote code (MobileLLM → Llama): config rewritten,
    weights re-saved as safetensors (a .bin checkpoint is read with weights_only=True)."""
    from safetensors.torch import save_file

    config = read_config(folder)
    state = archs.load_state_dict(folder)
    canonical = archs.canonical_config(config)
    if canonical.get("tie_word_embeddings"):
        state.pop("lm_head.weight", None)
    save_file({k: v.contiguous() for k, v in state.items()}, out / "model.safetensors", metadata={"format": "pt"})
    (out / "config.json").write_text(json.dumps(canonical, indent=2) + "\n")
    archs.copy_tokenizer(folder, out, also=("generation_config.json",))
    check_checkpoint(out)


def gguf_to_hf(gguf: Path, out: Path) -> None:
    """Dequantize a llama-family GGUF to an fp32 HF checkpoint with a repaired tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    _check_gguf_architecture(gguf)
    try:
        # dequantize=True and fp32: without them save_pretrained refuses ("quantized with gguf").
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, quantization_config=GgufConfig(dequantize=True),
            dtype=torch.float32,
        )
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    except (ValueError, KeyError, OSError, RuntimeError, EOFError) as e:
        raise ModelSourceError(f"cannot read GGUF {gguf.name} ({_first_line(e)}): the file is corrupt or "
                               "truncated; download it again") from e
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    repair_tokenizer(out)
    check_checkpoint(out)


def _check_gguf_architecture(gguf: Path) -> None:
    import gguf as gguf_lib

    try:
        reader = gguf_lib.GGUFReader(gguf)
        field = reader.fields["general.architecture"]
        arch = bytes(field.parts[field.data[0]]).decode()
    except (ValueError, KeyError, IndexError, OSError) as e:
        raise ModelSourceError(f"cannot read GGUF {gguf.name} ({_first_line(e)}): the file is corrupt or "
                               "truncated; download it again") from e
    if arch != "llama":
        raise UnsupportedModelError(
            f"GGUF architecture '{arch}' is not supported (supported: llama); convert a llama-family model"
        )


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:200]


def repair_tokenizer(folder: Path) -> None:
    """Make the tokenizer files readable by every consumer, not only transformers 5.x.

    transformers 5 writes `tokenizer_class: TokenizersBackend` and keeps the chat template in a
    separate .jinja file; ExecuTorch, ORT GenAI and older readers want GPT2Tokenizer, the template
    inside tokenizer_config.json and a special_tokens_map.json.
    """
    config = json.loads((folder / "config.json").read_text())
    tok_cfg_path = folder / "tokenizer_config.json"
    tok_cfg = json.loads(tok_cfg_path.read_text())
    for key in ("backend", "is_local", "local_files_only"):
        tok_cfg.pop(key, None)
    tok_cfg["tokenizer_class"] = "GPT2Tokenizer"
    tok_cfg["model_max_length"] = config.get("max_position_embeddings", 2048)
    tok_cfg["add_bos_token"] = False
    template = folder / "chat_template.jinja"
    if template.is_file() and "chat_template" not in tok_cfg:
        tok_cfg["chat_template"] = template.read_text()
    tok_cfg_path.write_text(json.dumps(tok_cfg, indent=2) + "\n")
    special = {k: tok_cfg[k] for k in ("bos_token", "eos_token", "unk_token", "pad_token") if k in tok_cfg}
    (folder / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n")
    eos = tok_cfg.get("eos_token")
    if eos is not None:
        from tokenizers import Tokenizer

        eos_id = Tokenizer.from_file(str(folder / "tokenizer.json")).token_to_id(eos)
        if eos_id is not None and config.get("eos_token_id") != eos_id:
            config["eos_token_id"] = eos_id
            (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")


def read_config(folder: Path) -> dict:
    return archs.read_config(folder / "config.json")


def check_checkpoint(folder: Path) -> dict:
    """Refuse, before any heavy work, a checkpoint no exporter here can take. Returns its config."""
    config = read_config(folder)
    if reason := support.unsupported_reason(config):
        raise UnsupportedModelError(f"{reason}: run `edgereason models check {folder}` for the details")
    if not any(folder.glob("*.safetensors")) and not any(folder.glob("pytorch_model*.bin")):
        raise ModelSourceError(f"{folder} has no .safetensors weights: save the model with save_pretrained")
    if not any(folder.glob("*.safetensors")) and archs.canonical_config(config) == config:
        raise ModelSourceError(f"{folder} has only .bin weights: re-save the model with save_pretrained "
                               "(safetensors)")
    return config


def make_tiny_random(out: Path, tokenizer_dir: Path, *, seed: int = 0) -> None:
    """A seeded 2-layer Llama with the real tokenizer: every export path in seconds."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=49152, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=2048,
        rms_norm_eps=1e-5, rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, pad_token_id=2,
        # Wider than the usual 0.02 so logits are peaked and quantization error is visible.
        initializer_range=0.1, architectures=["LlamaForCausalLM"],
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config).to(torch.float32).eval()
    model.save_pretrained(out)
    archs.copy_tokenizer(tokenizer_dir, out)
    with contextlib.suppress(FileNotFoundError):
        (out / "generation_config.json").unlink()
    check_checkpoint(out)


def stop_ids(folder: Path, config: dict) -> list[int]:
    """Every id that ends a reply: config.json's eos, then generation_config.json's (Qwen3 adds
    <|endoftext|> there; Llama 3 style models list <|eot_id|> and <|eom_id|>)."""
    ids: list[int] = []
    generation = folder / "generation_config.json"
    sources = [config.get("eos_token_id")]
    if generation.is_file():
        try:
            sources.append(json.loads(generation.read_text()).get("eos_token_id"))
        except (OSError, json.JSONDecodeError) as e:
            raise ModelSourceError(f"{generation} is unreadable ({e}): fix or remove it") from e
    for eos in sources:
        for i in eos if isinstance(eos, list) else [eos]:
            if isinstance(i, int) and i not in ids:
                ids.append(i)
    return ids


def tokenizer_info(folder: Path) -> TokenizerInfo:
    """The manifest's tokenizer block, from a normalized checkpoint."""
    config = read_config(folder)
    eos_ids = stop_ids(folder, config)
    if not (folder / "tokenizer.json").is_file():  # tokenizer-free: token ids in, token ids out
        return TokenizerInfo(file=None, bos_id=config.get("bos_token_id"), add_bos=False, eos_ids=eos_ids,
                             chat_template=None)
    tok_cfg_path = folder / "tokenizer_config.json"
    tok_cfg = json.loads(tok_cfg_path.read_text()) if tok_cfg_path.is_file() else {}
    return TokenizerInfo(file="tokenizer.json", bos_id=config.get("bos_token_id"),
                         add_bos=bool(tok_cfg.get("add_bos_token", False)), eos_ids=eos_ids,
                         chat_template=tok_cfg.get("chat_template"))
