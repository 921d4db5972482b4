"""Log-likelihood of continuations after a shared context, on any backend.

What scores a multiple-choice question without decoding (each option's log-likelihood after the question,
lm-evaluation-harness's `acc` / `acc_norm`) and what the lm-eval model answers `loglikelihood` with. The context
is run once, reusing what the cache already holds; every continuation is scored from it and the cache is
rewound to the context between them, so n options cost one context forward plus n short ones.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .backends import Backend


@dataclass(frozen=True)
class Scored:
    """Attributes:
    logprob: sum of log p over the continuation's tokens (natural log).
    num_tokens: the continuation's length in tokens.
    greedy: every continuation token was the most likely one (lm-eval's `is_greedy`).
    """

    logprob: float
    num_tokens: int
    greedy: bool


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax in float64 (sums of thousands of log-probabilities must not drift)."""
    z = logits.astype(np.float64)
    z -= z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def score_continuations(backend: Backend, context: Sequence[int],
                        continuations: Sequence[Sequence[int]]) -> list[Scored]:
    """Each continuation's log-likelihood after `context` (both token ids); the cache is left holding `context`.

    Raises:
        ValueError: an empty context or continuation (the caller decides what an empty one means).
        ContextOverflowError: context + a continuation longer than the artifact's KV cache.
    """
    if not context or any(len(c) == 0 for c in continuations):
        raise ValueError("the context and every continuation need at least one token")
    last = backend.prefill_reusing(list(context))
    keep = len(context)
    out = []
    for cont in continuations:
        rows = [last[None, :]]
        if len(cont) > 1:
            rows.append(backend.extend(list(cont[:-1])))
        logp = log_softmax(np.concatenate(rows))
        targets = np.asarray(cont)
        picked = logp[np.arange(len(cont)), targets]
        out.append(Scored(float(picked.sum()), len(cont), bool((logp.argmax(-1) == targets).all())))
        backend.rewind(keep)
    return out
