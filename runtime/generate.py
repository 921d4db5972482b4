"""The one decode loop: a generator of Steps over any Backend, with confidence on every step.

Layers, each consuming only the one below (mlx-lm style): `generate` (token ids + signals) →
`runtime.stream` (text, throughput) → `runtime.reason` (answers, early exit, votes).
"""

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from .backends.base import Backend
from .confidence import StepSignals, TraceConfidence, step_signals, top_logprobs
from .sampling import Sampler, greedy

if TYPE_CHECKING:
    from .arith import ArithmeticChecker

# The signals a tool token carries: the calculator wrote it, so it says nothing about the model's confidence.
TOOL_SIGNALS = StepSignals(logprob=0.0, top1_prob=1.0, margin=1.0, entropy=0.0, token_conf=0.0)


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
        tool: written by the calculator (compute mode), not drawn from the model: its signals are
            TOOL_SIGNALS and the trace's confidence does not count it.
        hidden: the backend's hidden state that predicted this token (`Backend.hidden`; the first step's is the
            last prompt token's), or None (a tool step, or a model without that output).
        top: the `top_logprobs` most likely (token id, log-prob) of that distribution, before sampling (empty unless
            asked for; a tool step's is empty).
    """

    index: int
    token_id: int
    signals: StepSignals
    group_conf: float | None
    elapsed_ms: float
    finish_reason: str | None = None
    tool: bool = False
    hidden: "np.ndarray | None" = field(default=None, repr=False, compare=False)
    top: tuple[tuple[int, float], ...] = field(default=(), repr=False, compare=False)

    @property
    def logprob(self) -> float:
        return self.signals.logprob


# Called with each Step (finish_reason still None) and the trace so far; True stops the trace.
ExitPolicy = Callable[[Step, TraceConfidence], bool]


def generate(backend: Backend, prompt_ids: Sequence[int], *, sampler: Sampler = greedy, max_new_tokens: int = 256,
             stop_ids: Sequence[int] | None = None, exit_policy: ExitPolicy | None = None,
             confidence: TraceConfidence | None = None, reuse_prefix: bool = True,
             arithmetic: "ArithmeticChecker | None" = None, top_logprobs_n: int = 0) -> Iterator[Step]:
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
        exit_policy: early exit; see `runtime.policies`. It sees tool steps too (a line's text
            includes them) but cannot end a trace on one.
        confidence: a TraceConfidence to fill (pass your own to read the trace summary after).
        arithmetic: checks each arithmetic statement as it is written (`runtime.arith`); in compute
            mode, where the model's next token is not the calculator's, the rest of the exact result
            is fed in one prefill as tool steps (the model's own token is drawn, then replaced, so a
            sampler's random stream is the same with and without the calculator). The checker's
            `finish` is called when the trace ends.
        top_logprobs_n: how many of the most likely tokens, with their log-probs, each model step carries (Step.top).

    Yields:
        One Step per token; the eos token itself is yielded with finish_reason "stop".

    Raises:
        ContextOverflowError: the prompt alone does not fit the context (before anything is yielded).
    """
    stops = set(backend.info.eos_ids if stop_ids is None else stop_ids)
    trace = confidence if confidence is not None else TraceConfidence()
    start = time.perf_counter()
    if not reuse_prefix:
        backend.reset()
    logits = backend.prefill_reusing(prompt_ids)
    hidden = backend.hidden  # read now: an exit policy's probe runs the backend before the next step
    index = 0
    while index < max_new_tokens:
        token = sampler(logits)
        wanted = None
        if arithmetic is not None:
            room = min(max_new_tokens - index, backend.info.max_seq_len - backend.position)
            wanted = arithmetic.expected(room)
        if wanted is not None and token != wanted:
            tools = arithmetic.take_rest()
            for k, tool_token in enumerate(tools):
                arithmetic.push(tool_token, tool=True)
                step = Step(index + k, tool_token, TOOL_SIGNALS, None, (time.perf_counter() - start) * 1e3, tool=True)
                if exit_policy is not None:
                    exit_policy(step, trace)
                if index + k == max_new_tokens - 1:  # the result fits the budget: only its last token can end it
                    arithmetic.finish()
                    yield replace(step, finish_reason="length")
                    return
                yield step
            index += len(tools)
            logits = backend.prefill(tools)
            hidden = backend.hidden
            continue
        signals = step_signals(logits, token)
        step = Step(index, token, signals, trace.update(signals), (time.perf_counter() - start) * 1e3, hidden=hidden,
                    top=top_logprobs(logits, top_logprobs_n, float(logits[token]) - signals.logprob)
                    if top_logprobs_n else ())
        if arithmetic is not None:
            arithmetic.push(token)
        if token in stops:
            reason = "stop"
        elif exit_policy is not None and exit_policy(step, trace):
            reason = "early_exit"
        elif index == max_new_tokens - 1 or backend.position >= backend.info.max_seq_len:
            reason = "length"  # the budget, or the context: this token has no room in the cache
        else:
            reason = None
        if reason:
            if arithmetic is not None:
                arithmetic.finish()
            yield replace(step, finish_reason=reason)
            return
        yield step
        logits = backend.step(token)
        hidden = backend.hidden
        index += 1
