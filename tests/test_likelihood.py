"""Continuation log-likelihoods: the same numbers as scoring the whole sequence, on every backend, with the
context run once and the cache left holding it."""

import numpy as np
import pytest

from edgereason.quant.recipes import Format, RecipeName
from edgereason.runtime import backends
from edgereason.runtime.likelihood import log_softmax, score_continuations

CONTEXT = [504, 3458, 282, 4235, 314, 2634, 30, 216]
OPTIONS = [[34], [1232, 216, 35], [17, 2048, 49151, 5]]


def _whole(backend, context, cont) -> tuple[float, bool]:
    logp = log_softmax(backend.score(context + cont))[len(context) - 1: -1]
    return float(logp[np.arange(len(cont)), cont].sum()), bool((logp.argmax(-1) == cont).all())


@pytest.mark.parametrize("fmt", list(Format))
def test_scores_equal_whole_sequence_scoring_and_reuse_the_context(tiny_artifacts, fmt):
    backend = backends.load(tiny_artifacts[fmt, RecipeName.FP32])
    scored = score_continuations(backend, CONTEXT, OPTIONS)
    assert backend.cached_tokens == tuple(CONTEXT)  # rewound to the context after each option
    for cont, got in zip(OPTIONS, scored, strict=True):
        want, greedy = _whole(backend, CONTEXT, cont)
        assert got.num_tokens == len(cont) and got.greedy == greedy
        assert got.logprob == pytest.approx(want, abs=1e-3)
    # the greedy flag is right where it is true: the model's own argmax continuation
    backend.reset()
    first = int(np.argmax(backend.prefill(CONTEXT)))
    second = int(np.argmax(backend.step(first)))
    [own] = score_continuations(backend, CONTEXT, [[first, second]])
    assert own.greedy and own.logprob < 0


def test_bad_input_is_refused(tiny_artifacts):
    backend = backends.load(tiny_artifacts[Format.ONNX, RecipeName.FP32])
    with pytest.raises(ValueError, match="at least one token"):
        score_continuations(backend, CONTEXT, [[1], []])
    with pytest.raises(backends.ContextOverflowError):
        score_continuations(backend, CONTEXT, [[5] * (backend.info.max_seq_len)])
