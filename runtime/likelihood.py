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


# Continuation tokens scored per forward: a 2,048-token WikiText window in one piece would hold [T, V] logits in
# float64 (800 MB for a 49k vocabulary); in pieces of 256 it is 100 MB, and the forwards cost the same.
CHUNK_TOKENS = 256


def score_continuations(backend: Backend, context: Sequence[int],
                        continuations: Sequence[Sequence[int]]) -> list[Scored]:
    """Each continuation's log-likelihood after `context` (both token ids); the cache is left holding `context`.

    Raises:
        ValueError: an empty context or continuation (the caller decides what an empty one means).
        ContextOverflowError: context + a continuation longer than the artifact's KV cache.
    """
    if not context or any(len(c) == 0 for c in continuations):
        raise ValueError("the context and every continuation need at least one token")
    after_context = backend.prefill_reusing(list(context))  # [V]: the logits that predict each continuation's first
    keep = len(context)
    out = []
    for cont in continuations:
        backend.check_room(len(cont) - 1)  # before any forward: an overflow leaves the cache holding `context`
        logprob, greedy, last = 0.0, True, after_context
        for start in range(0, len(cont), CHUNK_TOKENS):
            targets = np.asarray(cont[start:start + CHUNK_TOKENS])
            final = start + CHUNK_TOKENS >= len(cont)
            feed = (targets[:-1] if final else targets).tolist()  # a middle piece runs its last token too, for the next
            rows = [last[None, :], backend.extend(feed)] if feed else [last[None, :]]
            logits = np.concatenate(rows)  # [len(targets) (+ 1 in a middle piece), V]
            if not final:
                last, logits = logits[-1], logits[:-1]
            logp = log_softmax(logits)  # [len(targets), V]
            logprob += float(logp[np.arange(len(targets)), targets].sum())
            greedy = greedy and bool((logp.argmax(-1) == targets).all())
        out.append(Scored(logprob, len(cont), greedy))
        backend.rewind(keep)
    return out
