"""Every format x recipe loads and decodes; fp32 artifacts match the eager reference."""

import numpy as np
import pytest

from edgereason.quant.recipes import Format, RecipeName
from edgereason.runtime import backends
from edgereason.runtime.backends import ContextOverflowError
from edgereason.runtime.generate import generate

PROMPT = [504, 3458, 282, 4235, 314, 2634, 30, 216, 34, 1232, 216, 35]
# fp32 artifacts are the same math in another runtime: float32 reassociation only.
FP32_ATOL = 1e-4


@pytest.fixture(scope="module")
def eager(tiny_dir, tiny_artifacts):
    manifest_info = backends.load(tiny_artifacts[Format.ONNX, RecipeName.FP32]).info
    return backends.load_eager(tiny_dir, manifest_info)


@pytest.mark.parametrize("fmt", list(Format))
def test_fp32_logits_match_eager(tiny_artifacts, eager, fmt):
    backend = backends.load(tiny_artifacts[fmt, RecipeName.FP32])
    eager.reset()  # prefill appends to whatever the cache holds
    np.testing.assert_allclose(backend.prefill(PROMPT), eager.prefill(PROMPT), atol=FP32_ATOL, rtol=0)
    for token in (17, 2048, 49151):
        np.testing.assert_allclose(backend.step(token), eager.step(token), atol=FP32_ATOL, rtol=0)
    np.testing.assert_allclose(backend.score(PROMPT), eager.score(PROMPT), atol=FP32_ATOL, rtol=0)


@pytest.mark.parametrize("fmt", list(Format))
def test_fp32_greedy_tokens_match_eager(tiny_artifacts, eager, fmt):
    backend = backends.load(tiny_artifacts[fmt, RecipeName.FP32])
    want = [s.token_id for s in generate(eager, PROMPT, max_new_tokens=48, stop_ids=[])]
    got = [s.token_id for s in generate(backend, PROMPT, max_new_tokens=48, stop_ids=[])]
    assert got == want


@pytest.mark.parametrize("fmt", list(Format))
@pytest.mark.parametrize("recipe", [RecipeName.INT8, RecipeName.INT4])
def test_quantized_artifacts_track_eager(tiny_artifacts, eager, fmt, recipe):
    backend = backends.load(tiny_artifacts[fmt, recipe])
    got, want = backend.score(PROMPT), eager.score(PROMPT)
    assert got.shape == want.shape and np.isfinite(got).all()
    # Random weights make near-uniform logits, so top-1 is fragile; the logit vectors still agree.
    correlation = np.corrcoef(got.ravel(), want.ravel())[0, 1]
    assert correlation > (0.99 if recipe is RecipeName.INT8 else 0.9)


@pytest.mark.parametrize("fmt", [*Format, "eager"])
def test_rewind_replays_identically(tiny_artifacts, eager, fmt):
    backend = eager if fmt == "eager" else backends.load(tiny_artifacts[fmt, RecipeName.FP32])
    backend.reset()
    backend.prefill(PROMPT)
    first = backend.step(7)
    backend.step(8)
    backend.step(9)
    backend.rewind(len(PROMPT))
    np.testing.assert_allclose(backend.step(7), first, atol=1e-6)
    assert backend.position == len(PROMPT) + 1


@pytest.mark.parametrize("fmt", list(Format))
def test_context_overflow_is_a_clear_error(tiny_artifacts, fmt):
    backend = backends.load(tiny_artifacts[fmt, RecipeName.INT4])
    with pytest.raises(ContextOverflowError, match="exceed the context of 128"):
        backend.prefill(list(range(100, 229)))  # 129 tokens
    backend.prefill(list(range(100, 228)))  # exactly 128 fits
    with pytest.raises(ContextOverflowError, match="128 cached \\+ 1 new"):
        backend.step(5)


@pytest.mark.parametrize("recipe", list(RecipeName))
def test_onnx_folder_runs_unchanged_in_ort_genai(tiny_artifacts, recipe):
    """The folder is an ORT GenAI model as is, and our plain-onnxruntime loop decodes the same tokens."""
    import onnxruntime_genai as og

    folder = tiny_artifacts[Format.ONNX, recipe]
    model = og.Model(str(folder))
    params = og.GeneratorParams(model)
    params.set_search_options(max_length=len(PROMPT) + 24, do_sample=False)
    generator = og.Generator(model, params)
    generator.append_tokens(PROMPT)
    theirs = []
    while not generator.is_done():
        generator.generate_next_token()
        theirs.append(int(generator.get_next_tokens()[0]))
    ours = [s.token_id for s in generate(backends.load(folder), PROMPT, max_new_tokens=len(theirs))]
    assert ours == theirs


@pytest.mark.parametrize("fmt", list(Format))
def test_hidden_state_matches_eager_and_rides_on_each_step(tiny_artifacts, eager, fmt):
    """Both formats' second output is the final norm's state at the last position (what the probes read), as
    transformers has it; each Step carries the state its token was predicted from, the first step the prompt's."""
    backend = backends.load(tiny_artifacts[fmt, RecipeName.FP32])
    assert backend.has_hidden and eager.has_hidden
    eager.reset()
    backend.prefill(PROMPT)
    eager.prefill(PROMPT)
    prompt_state = backend.hidden
    np.testing.assert_allclose(prompt_state, eager.hidden, atol=FP32_ATOL, rtol=0)
    backend.step(17)
    eager.step(17)
    np.testing.assert_allclose(backend.hidden, eager.hidden, atol=FP32_ATOL, rtol=0)
    steps = list(generate(backend, PROMPT, max_new_tokens=3, stop_ids=[]))
    np.testing.assert_allclose(steps[0].hidden, prompt_state, atol=1e-5)
    backend.reset()
    backend.prefill([*PROMPT, steps[0].token_id])
    np.testing.assert_allclose(steps[1].hidden, backend.hidden, atol=1e-5)
