"""The seed models' architectures, exported to both formats from seeded random weights of their real
configs, held to transformers eager (`bench/archs.py`; README "Supported models").

For CI time the configs keep their first 2 blocks, with a 4096-token vocabulary and MLPs at most 256
wide; attention keeps its full width (heads, head size, KV groups, norms: where the families differ).
The full configs are exported by hand (`edgereason bench archs --layers 0`).
"""

import json

import pytest
from helpers import assert_one_line_error, cli

from edgereason import datafiles
from edgereason.artifact import read_manifest
from edgereason.bench.archs import FP32_RTOL, MatrixConfig, run_config
from edgereason.export import archs

CONFIGS = datafiles.shared_dir().parent / "configs"
# One config per family that the Llama tests don't already cover.
FAMILIES = {
    "facebook__MobileLLM-R1-140M": "Llama4ForCausalLM",
    "allenai__OLMo-2-0425-1B-Instruct": "Olmo2ForCausalLM",
    "Qwen__Qwen3-0.6B": "Qwen3ForCausalLM",
    "deepseek-ai__DeepSeek-R1-Distill-Qwen-1.5B": "Qwen2ForCausalLM",
    "facebook__MobileLLM-125M": "MobileLLMForCausalLM",
}
pytestmark = pytest.mark.xdist_group("archs")  # one worker builds the matrix; its module fixtures are shared
MATRIX = MatrixConfig(layers=2, vocab=4096, mlp=256, max_seq_len=128, gate_tokens=32)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("archs")


@pytest.fixture(scope="module")
def matrix_rows(work):
    """Rows per config, computed on first use: each test below runs one config's four cells."""
    done: dict[str, list[dict]] = {}

    def rows(name: str) -> list[dict]:
        path = CONFIGS / f"{name}.json"
        if not path.is_file():
            pytest.skip(f"{path} not found (the shared configs folder)")
        if name not in done:
            done[name] = run_config(path, work, MATRIX)
        return done[name]

    return rows


@pytest.mark.parametrize("name", list(FAMILIES))
def test_every_format_and_recipe_exports_with_fp32_parity(name, matrix_rows):
    rows = matrix_rows(name)
    assert {(r["format"], r["recipe"]) for r in rows} == {(f.value, r.value) for f in MATRIX.formats
                                                          for r in MATRIX.recipes}
    for row in rows:
        where = f"{name} {row['format']} {row['recipe']}: {row.get('error')}"
        assert row["status"] == "ok" and row["architecture"] == FAMILIES[name], where
        assert row["finite"] and row["size_mib"] > 0, where
        if row["recipe"] == "fp32":
            assert row["rel_diff"] <= FP32_RTOL and row["greedy_agreement"] == 1.0, where
            assert row["kld_mean"] < 1e-6 and row["top1_agreement"] == 1.0, where
            assert row["hidden_rel_diff"] <= FP32_RTOL, where  # the probes' layer, as transformers numbers it
        else:  # int4 of random weights: near-flat logits, so only "not broken" is asserted
            assert row["greedy_agreement"] > 0 and row["max_abs_diff"] < row["logit_absmax"], where


def test_tokenizer_free_artifact_runs_on_token_ids(matrix_rows, work):
    """The Llama4 config's three stop ids come through, and `run --tokens` decodes ids."""
    matrix_rows("facebook__MobileLLM-R1-140M")
    folder = next((work / "artifacts").glob("*mobilellm-r1-140m*-int4-pte"))
    manifest = read_manifest(folder)
    assert manifest.tokenizer.file is None and len(manifest.tokenizer.eos_ids) == 3
    assert manifest.quality.dataset.startswith("random token ids")
    proc = cli("run", str(folder), "--tokens", "5,6,7,8", "--max-new-tokens", "6")
    assert proc.returncode == 0, proc.stderr
    ids = [int(t) for t in proc.stdout.split()]
    assert 1 <= len(ids) <= 6 and all(0 <= i < 4096 for i in ids)  # greedy; may stop on a stop id
    assert_one_line_error(cli("run", str(folder), "hello"), 2, "without a tokenizer")
    assert_one_line_error(cli("run", str(folder), "--tokens", "5,99999"), 2, "vocabulary has 4096")
    assert_one_line_error(cli("run", str(folder), "--tokens", "a,b"), 2, "comma-separated integers")


def test_reduced_config_keeps_the_block_width():
    path = CONFIGS / "allenai__OLMo-2-0425-1B-Instruct.json"
    if not path.is_file():
        pytest.skip(f"{path} not found (the shared configs folder)")
    config = json.loads(path.read_text())
    small = archs.reduce(config, layers=2, vocab=4096)
    assert small["hidden_size"] == config["hidden_size"] == 2048
    assert small["intermediate_size"] == config["intermediate_size"]
    assert (small["num_hidden_layers"], small["vocab_size"]) == (2, 4096)
    assert small["eos_token_id"] == 4095 and small["pad_token_id"] == 4094  # moved inside the vocabulary
    narrow = archs.reduce(config, mlp=256)
    assert narrow["intermediate_size"] == 256 and narrow["hidden_size"] == 2048
    assert narrow["num_attention_heads"] == config["num_attention_heads"]
    llama4 = json.loads((CONFIGS / "facebook__MobileLLM-R1-140M.json").read_text())
    narrow4 = archs.reduce(llama4, mlp=256)
    assert {k: narrow4[k] for k in archs.MLP_WIDTH_KEYS} == dict.fromkeys(archs.MLP_WIDTH_KEYS, 256)
    assert archs.reduce(config, mlp=100_000)["intermediate_size"] == config["intermediate_size"]  # never widened


def test_bench_archs_refuses_an_mlp_width_no_recipe_can_quantize(tmp_path):
    config = CONFIGS / "Qwen__Qwen3-0.6B.json"
    if not config.is_file():
        pytest.skip(f"{config} not found (the shared configs folder)")
    assert_one_line_error(cli("bench", "archs", str(config), "--mlp", "100", "-o", str(tmp_path / "r")), 2,
                          "--mlp must be a positive multiple of 32")
