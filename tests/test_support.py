"""`models check`: architecture support, parameter counts and size estimates from config.json alone."""

import json

import pytest
from helpers import assert_one_line_error, cli

from edgereason import datafiles
from edgereason.artifact import read_manifest
from edgereason.export import support
from edgereason.quant.recipes import Format, RecipeName

CONFIGS = datafiles.shared_dir().parent / "configs"


def _config(name: str) -> dict:
    path = CONFIGS / f"{name}.json"
    if not path.is_file():
        pytest.skip(f"{path} not found (the shared configs folder)")
    return json.loads(path.read_text())


@pytest.mark.parametrize(("name", "params"), [
    ("HuggingFaceTB__SmolLM2-135M-Instruct", 134.5e6),
    ("HuggingFaceTB__SmolLM2-1.7B-Instruct", 1.711e9),
    ("Qwen__Qwen3-0.6B", 596.0e6),
    ("facebook__MobileLLM-R1-950M", 949.6e6),
])
def test_parameter_counts_match_the_published_models(name, params):
    assert support.facts(_config(name)).total_params == pytest.approx(params, rel=0.01)


def test_every_seed_config_gets_a_verdict_for_every_cell():
    configs = [p for p in CONFIGS.glob("*.json") if "generation_config" not in p.name]
    if not configs:
        pytest.skip(f"no configs in {CONFIGS}")
    for path in configs:
        arch, cells = support.matrix(json.loads(path.read_text()))
        assert len(cells) == len(Format) * len(RecipeName)
        assert all(c.reason is None for c in cells), path.name  # every seed architecture exports
        assert all(c.artifact_bytes > 0 and c.peak_export_bytes > c.artifact_bytes for c in cells)
        sizes = {(c.format, c.recipe): c.artifact_bytes for c in cells}
        for fmt in Format:
            assert sizes[fmt, RecipeName.INT4] < sizes[fmt, RecipeName.INT8] < sizes[fmt, RecipeName.FP32]


def test_unsupported_reasons_name_what_is_missing(tmp_path):
    assert "GPT2LMHeadModel is not supported" in support.unsupported_reason({"architectures": ["GPT2LMHeadModel"]})
    assert support.unsupported_reason({"architectures": ["Olmo2ForCausalLM"]}) is None
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**_config("facebook__MobileLLM-R1-140M"), "moe_layers": [1, 3]}))
    proc = cli("models", "check", str(config))
    assert proc.returncode == 0 and "mixture-of-experts" in proc.stdout, proc.stdout


def test_size_estimates_hold_for_a_model_they_were_not_fitted_on(tiny_artifacts, tiny_dir):
    """Fitted on SmolLM2-135M; tiny-random's shape is the opposite extreme (embedding-dominated)."""
    arch = support.facts(json.loads((tiny_dir / "config.json").read_text()))
    for (fmt, recipe), folder in tiny_artifacts.items():
        manifest = read_manifest(folder, verify_sha256=False)
        actual = sum(e.bytes for name, e in manifest.files.items() if name.startswith("model."))
        assert support.estimate_bytes(arch, fmt, recipe) == pytest.approx(actual, rel=0.10), (fmt, recipe)


def test_models_check_cli(tmp_path):
    config = CONFIGS / "Qwen__Qwen3-0.6B.json"
    if not config.is_file():
        pytest.skip(f"{config} not found")
    proc = cli("models", "check", str(config))
    assert proc.returncode == 0, proc.stderr
    assert "Qwen3ForCausalLM" in proc.stdout and "not exportable" not in proc.stdout
    assert proc.stdout.count(" yes ") == 6
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "config.json").write_text((CONFIGS / "HuggingFaceTB__SmolLM2-360M-Instruct.json").read_text())
    proc = cli("models", "check", str(folder))
    assert proc.returncode == 0 and "LlamaForCausalLM" in proc.stdout and " yes " in proc.stdout
    assert_one_line_error(cli("models", "check", str(tmp_path / "missing")), 2, "does not exist")
    (tmp_path / "bad.json").write_text("{not json")
    assert_one_line_error(cli("models", "check", str(tmp_path / "bad.json")), 2, "is not valid JSON")
