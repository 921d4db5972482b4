"""The one decode loop: a generator of Steps over any Backend, with confidence on every step.

Layers, each consuming only the one below (mlx-lm style): `generate` (token ids + signals) →
`runtime.stream` (text, throughput) → `runtime.reason` (answers, early exit, votes).
"""

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

from .backends.base import Backend
from .confidence import StepSignals, TraceConfidence, step_signals
from .sampling import Sampler, greedy


@dataclass(frozen=True)
class Step:
    """One generated token.

    Attributes:
        index: 0 for the first generated token.
        token_id: the token.
        signals: confidence of the distribution it was drawn from (before temperature/top-k/top-p).
        group_conf: sliding-window group confidence after this token (None until the window fills).
        elapsed_ms: wall time from the start of prefill to this token (the first one's is the TTFT).
        finish_reason: set on the last step only: "stop" (eos), "length" (max tokens) or
            "early_exit" (the exit policy stopped the trace).
    """

    index: int
    token_id: int
    signals: StepSignals
    group_conf: float | None
    elapsed_ms: float
    finish_reason: str | None = None

    @property
    def logprob(self) -> float:
        return self.signals.logprob


# Called with each Step (finish_reason still None) and the trace so far; True stops the trace.
ExitPolicy = Callable[[Step, TraceConfidence], bool]


def generate(backend: Backend, prompt_ids: Sequence[int], *, sampler: Sampler = greedy, max_new_tokens: int = 256,
             stop_ids: Sequence[int] | None = None, exit_policy: ExitPolicy | None = None,
             confidence: TraceConfidence | None = None, reuse_prefix: bool = True) -> Iterator[Step]:
    """Prefill `prompt_ids`, then decode until eos, `max_new_tokens` or the policy.

    Args:
        backend: any Backend. With `reuse_prefix`, the part of the prompt already in its cache
            (a system prompt and few-shot turns shared by every question, or the prompt of the
            previous vote trace) is kept and only the rest is prefilled; otherwise the cache is reset.
        prompt_ids: the prompt, chat template already applied.
        sampler: from `make_sampler`; greedy by default.
        max_new_tokens: generation budget. A trace that fills the context first ends there, with
            finish_reason "length", as it does at the budget.
        stop_ids: token ids that end the trace (default: the model's eos ids).
        exit_policy: early exit; see `runtime.policies`.
        confidence: a TraceConfidence to fill (pass your own to read the trace summary after).

    Yields:
        One Step per token; the eos token itself is yielded with finish_reason "stop".

    Raises:
        ContextOverflowError: the prompt alone does not fit the context (before anything is yielded).
    """
    stops = set(backend.info.eos_ids if stop_ids is None else stop_ids)
    trace = confidence if confidence is not None else TraceConfidence()
    start = time.perf_counter()
    keep = min(backend.common_prefix(prompt_ids), len(prompt_ids) - 1) if reuse_prefix else 0
    if keep > 0:
        backend.rewind(keep)  # at least one prompt token is run, for the logits of the next
    else:
        backend.reset()
    logits = backend.prefill(prompt_ids[keep:])
    for index in range(max_new_tokens):
        token = sampler(logits)
        signals = step_signals(logits, token)
        step = Step(index, token, signals, trace.update(signals), (time.perf_counter() - start) * 1e3)
        if token in stops:
            reason = "stop"
        elif exit_policy is not None and exit_policy(step, trace):
            reason = "early_exit"
        elif index == max_new_tokens - 1 or backend.position >= backend.info.max_seq_len:
            reason = "length"  # the budget, or the context: this token has no room in the cache
        else:
            reason = None
        if reason:
            yield replace(step, finish_reason=reason)
            return
        yield step
        logits = backend.step(token)
