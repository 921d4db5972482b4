"""The architecture families: refusals, the MobileLLM and Llama4 rewrites, stop ids, `models random`."""

import json

import pytest
import torch
from helpers import assert_one_line_error, cli

from edgereason.errors import UnsupportedModelError
from edgereason.export import archs, hf, support
from edgereason.models import ModelSource, SourceKind

# The MobileLLM-R1-140M config with its width shrunk: the transforms are exact at any size.
SMALL_LLAMA4 = {
    "architectures": ["Llama4ForCausalLM"], "model_type": "llama4_text", "vocab_size": 512, "hidden_size": 96,
    "intermediate_size": 256, "intermediate_size_mlp": 192, "num_hidden_layers": 2, "num_attention_heads": 6,
    "num_key_value_heads": 2, "head_dim": 16, "rms_norm_eps": 1e-5, "rope_theta": 8e6, "rope_scaling": None,
    "use_qk_norm": True, "no_rope_layers": [1, 1], "moe_layers": [], "num_local_experts": 0,
    "interleave_moe_layer_step": 0, "attention_chunk_size": 32768, "attn_temperature_tuning": False,
    "layer_types": ["chunked_attention"] * 2, "tie_word_embeddings": True, "hidden_act": "silu",
    "bos_token_id": 0, "eos_token_id": [1, 2, 3], "max_position_embeddings": 4096,
}
SMALL_MOBILELLM = {
    "architectures": ["MobileLLMForCausalLM"], "model_type": "mobilellm", "vocab_size": 300, "hidden_size": 64,
    "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
    "head_dim": 16, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "rope_scaling": None, "hidden_act": "silu",
    "share_embedding": True, "tie_word_embeddings": False, "layer_sharing": False, "bos_token_id": 1,
    "eos_token_id": 2, "max_position_embeddings": 2048,
    "auto_map": {"AutoModelForCausalLM": "modeling_mobilellm.MobileLLMForCausalLM"},
}


def _logits(folder, ids):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0]


@pytest.mark.parametrize(("change", "words"), [
    ({"no_rope_layers": [1, 0]}, "NoPE"),
    ({"moe_layers": [1]}, "mixture-of-experts"),
    ({"rope_scaling": {"rope_type": "llama3", "factor": 8.0}}, "scaled RoPE"),
    ({"hidden_act": "gelu"}, "activation gelu"),
])
def test_configs_a_family_cannot_express_are_refused_with_the_reason(change, words):
    assert words in support.unsupported_reason({**SMALL_LLAMA4, **change})
    assert support.unsupported_reason(SMALL_LLAMA4) is None
    assert "layer_sharing" in support.unsupported_reason({**SMALL_MOBILELLM, "layer_sharing": True})
    assert "GPT2LMHeadModel is not supported" in support.unsupported_reason({"architectures": ["GPT2LMHeadModel"]})


def test_llama4_rewritten_as_qwen3_computes_the_same_logits(tmp_path):
    archs.make_random_checkpoint(SMALL_LLAMA4, tmp_path / "llama4", seed=3)
    archs.llama4_as_qwen3(tmp_path / "llama4", tmp_path / "qwen3")
    assert json.loads((tmp_path / "qwen3" / "config.json").read_text())["intermediate_size"] == 192
    ids = list(range(5, 45))
    want, got = _logits(tmp_path / "llama4", ids), _logits(tmp_path / "qwen3", ids)
    assert torch.allclose(want, got, atol=1e-4), (want - got).abs().max()
    assert want.abs().max() > 0.5  # not trivially flat


def test_rope_row_orders_invert_each_other():
    w = torch.randn(6 * 16, 8)
    assert torch.equal(archs.half_to_interleave(archs.interleave_to_half(w, 6), 6), w)
    assert not torch.equal(archs.interleave_to_half(w, 6), w)


def test_mobilellm_checkpoint_is_normalized_to_the_llama_it_is(tmp_path, monkeypatch):
    """Remote code can't run here: the folder becomes a Llama with a tied head, same logits."""
    from transformers import LlamaConfig, LlamaForCausalLM

    monkeypatch.setenv("EDGEREASON_HOME", str(tmp_path / "home"))
    folder = tmp_path / "mobilellm"
    fields = {k: v for k, v in archs.canonical_config(SMALL_MOBILELLM).items() if k not in ("architectures",
                                                                                             "model_type")}
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(**fields)).eval().save_pretrained(folder)
    reference = _logits(folder, [3, 4, 5])
    (folder / "config.json").write_text(json.dumps(SMALL_MOBILELLM))
    (folder / "generation_config.json").write_text(json.dumps({"eos_token_id": [2, 7]}))
    out = hf.normalize(ModelSource(kind=SourceKind.HF, name="mobilellm", path=folder))
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and config["tie_word_embeddings"] is True
    assert torch.allclose(_logits(out, [3, 4, 5]), reference, atol=1e-5)
    assert hf.tokenizer_info(out).eos_ids == [2, 7] and hf.tokenizer_info(out).file is None


def test_stop_ids_join_config_and_generation_config(tmp_path):
    (tmp_path / "generation_config.json").write_text(json.dumps({"eos_token_id": [151645, 151643]}))
    assert hf.stop_ids(tmp_path, {"eos_token_id": 151645}) == [151645, 151643]
    assert hf.stop_ids(tmp_path / "missing", {"eos_token_id": [1, 2]}) == [1, 2]


def test_models_random_cli(tmp_path):
    config = tmp_path / "llama4.json"
    config.write_text(json.dumps(SMALL_LLAMA4))
    proc = cli("models", "random", str(config), "-o", str(tmp_path / "ckpt"), "--layers", "1", "--seed", "4")
    assert proc.returncode == 0, proc.stderr
    written = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert written["num_hidden_layers"] == 1 and written["no_rope_layers"] == [1]
    assert written["hidden_size"] == SMALL_LLAMA4["hidden_size"]  # full width
    assert not list(tmp_path.glob(".ckpt*"))  # no staging folder left
    assert_one_line_error(cli("models", "random", str(config), "-o", str(tmp_path / "ckpt")), 2, "already exists")
    assert_one_line_error(cli("models", "random", str(config), "-o", str(tmp_path / "x"), "--layers", "9"), 2,
                          "--layers must be 1..2")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**SMALL_LLAMA4, "no_rope_layers": [0, 0]}))
    assert_one_line_error(cli("models", "random", str(bad), "-o", str(tmp_path / "y")), 2, "NoPE")


def test_unsupported_checkpoint_is_refused_before_any_work(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({**SMALL_LLAMA4, "moe_layers": [0]}))
    with pytest.raises(UnsupportedModelError, match="mixture-of-experts"):
        hf.check_checkpoint(tmp_path)


def test_context_past_the_attention_chunk_is_refused(tmp_path):
    from edgereason import pipeline
    from edgereason.errors import UsageError
    from edgereason.quant.recipes import Format, RecipeName

    archs.make_random_checkpoint({**SMALL_LLAMA4, "attention_chunk_size": 64}, tmp_path / "ckpt")
    request = pipeline.ExportRequest(source=str(tmp_path / "ckpt"), formats=(Format.ONNX,), recipes=(RecipeName.FP32,),
                                     out_dir=tmp_path / "out", max_seq_len=128)
    with pytest.raises(UsageError, match="--max-seq-len 64 or less"):
        pipeline.export_artifacts(request)
    assert not (tmp_path / "out").exists()
