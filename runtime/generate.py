"""The one decode loop: a generator of Steps over any Backend."""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from .backends.base import Backend
from .sampling import Sampler, greedy


@dataclass(frozen=True)
class Step:
    """One generated token. `finish_reason` is set on the last step: "stop" (eos) or "length"."""

    index: int
    token_id: int
    logprob: float
    finish_reason: str | None = None


def _logprob(logits: np.ndarray, token: int) -> float:
    x = logits.astype(np.float64)
    top = x.max()
    return float(x[token] - top - np.log(np.exp(x - top).sum()))


def generate(backend: Backend, prompt_ids: Sequence[int], *, sampler: Sampler = greedy,
             max_new_tokens: int = 256, stop_ids: Sequence[int] | None = None) -> Iterator[Step]:
    """Prefill `prompt_ids` from an empty cache, then decode until eos or `max_new_tokens`.

    Yields:
        Step per generated token; the eos token itself is yielded with finish_reason "stop".
    """
    stops = set(backend.info.eos_ids if stop_ids is None else stop_ids)
    backend.reset()
    logits = backend.prefill(prompt_ids)
    for index in range(max_new_tokens):
        token = sampler(logits)
        last = index == max_new_tokens - 1
        reason = "stop" if token in stops else ("length" if last else None)
        yield Step(index, token, _logprob(logits, token), reason)
        if reason:
            return
        logits = backend.step(token)
