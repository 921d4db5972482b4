"""The model side of `edgereason serve`: one model, one worker thread, a bounded queue.

A backend holds one KV cache and is not thread-safe, so requests run one at a time on one thread; the event
loop only admits, waits and streams. A request over the queue's bound is refused at once (503 with
Retry-After), never left to hang. Cancelling a request (its client went away) frees its place at once: a
queued one never runs, a running one stops at its next token.
"""

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from edgereason.runtime import LoadedModel
from edgereason.runtime.arith import ArithmeticChecker, Calculator
from edgereason.runtime.confidence import TraceConfidence
from edgereason.runtime.generate import generate
from edgereason.runtime.policies import GroupConfidenceAbort
from edgereason.runtime.sampling import SamplingConfig, make_sampler

from .metrics import Metrics
from .protocol import ApiError

Emit = Callable[[Any], None]


@dataclass(frozen=True)
class Generation:
    """One choice to generate.

    Attributes:
        prompt_ids: the prompt, template applied.
        max_tokens: budget (already checked against the context).
        sampling: the choice's sampler (choice i of a request uses seed + i).
        stops: stop sequences; the text ends before the first one.
        logprobs: None: none; else alternatives per token (0: the chosen token's only).
        abort_threshold: end the trace below this group confidence (None: never).
        calculator: checked arithmetic (off for plain completions unless asked).
    """

    prompt_ids: list[int]
    max_tokens: int
    sampling: SamplingConfig
    stops: tuple[str, ...] = ()
    logprobs: int | None = None
    abort_threshold: float | None = None
    calculator: Calculator = Calculator.OFF


@dataclass(frozen=True)
class TokenLogprob:
    token: str
    logprob: float
    top: tuple[tuple[str, float], ...]


@dataclass
class Piece:
    """Text of choice `index` ready to send, and the tokens that made it."""

    index: int
    text: str
    logprobs: list[TokenLogprob] = field(default_factory=list)


@dataclass
class Choice:
    """A finished choice.

    Attributes:
        finish_reason: OpenAI's: "stop" (eos, a stop sequence, or an early exit) or "length".
        finish: edgereason's finer reason: eos | stop_sequence | early_exit | length | cancelled.
    """

    index: int
    text: str
    finish_reason: str
    finish: str
    completion_tokens: int
    logprobs: list[TokenLogprob]
    confidence: dict[str, float]
    ttft_ms: float
    decode_tps: float | None


class Cancelled(Exception):
    """The client went away; the job stopped."""


@dataclass
class Slot:
    """A request's place in the queue."""

    engine: "Engine"
    cancel: threading.Event = field(default_factory=threading.Event)
    state: str = "queued"  # queued | running | done

    def abandon(self) -> None:
        """The client is gone: a queued job will not run, a running one stops at its next token."""
        self.cancel.set()
        self.engine._release(self, only_if="queued")


class Engine:
    def __init__(self, model: LoadedModel, *, max_queue: int, metrics: Metrics) -> None:
        self.model = model
        self.max_queue = max_queue
        self.metrics = metrics
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edgereason-model")
        self._lock = threading.Lock()
        self._queued = 0
        self._running = 0
        self._mean_seconds = 1.0  # moving average of a job's time: the Retry-After estimate

    @property
    def queue_depth(self) -> int:
        return self._queued

    @property
    def running(self) -> int:
        return self._running

    def admit(self) -> Slot:
        """A place for one request, or 503: at most one running and `max_queue` waiting."""
        with self._lock:
            if self._queued >= self.max_queue and self._running >= 1:
                retry = max(1, round(self._mean_seconds * (self._queued + 1)))
                self.metrics.rejected()
                raise ApiError(503, f"the server is busy: {self._queued} requests are queued (the bound, "
                                    f"--max-queue {self.max_queue}); retry after {retry} s", kind="server_error",
                               code="queue_full", headers={"Retry-After": str(retry)})
            self._queued += 1
            self.metrics.queue(self._queued)
        return Slot(self)

    def submit(self, slot: Slot, job: Callable[..., Any], *args: Any) -> Future:
        """Run `job(*args, cancel=slot.cancel)` on the model thread."""
        return self._executor.submit(self._run, slot, job, args)

    def _run(self, slot: Slot, job: Callable[..., Any], args: Sequence[Any]) -> Any:
        with self._lock:
            if slot.state != "queued":  # abandoned while it waited
                raise Cancelled()
            slot.state = "running"
            self._queued -= 1
            self._running += 1
            self.metrics.queue(self._queued)
        start = time.perf_counter()
        try:
            return job(*args, cancel=slot.cancel)
        finally:
            seconds = time.perf_counter() - start
            with self._lock:
                self._mean_seconds = 0.8 * self._mean_seconds + 0.2 * seconds
                self._running -= 1
                slot.state = "done"

    def _release(self, slot: Slot, *, only_if: str) -> None:
        with self._lock:
            if slot.state == only_if == "queued":
                slot.state = "done"
                self._queued -= 1
                self.metrics.queue(self._queued)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


def run_choices(model: LoadedModel, generations: Sequence[Generation], emit: Emit | None, *,
                cancel: threading.Event) -> list[Choice]:
    """Generate each choice in turn (on the model thread), sending text pieces to `emit` as they are ready."""
    choices = []
    for index, gen in enumerate(generations):
        choices.append(run_choice(model, gen, index, emit, cancel=cancel))
        if cancel.is_set():
            raise Cancelled()
    return choices


def run_choice(model: LoadedModel, gen: Generation, index: int, emit: Emit | None, *,
               cancel: threading.Event) -> Choice:
    text = model.text
    stream = text.stream()
    confidence = TraceConfidence()
    abort = GroupConfidenceAbort(gen.abort_threshold) if gen.abort_threshold is not None else None
    checker = ArithmeticChecker(text, gen.calculator) if gen.calculator is not Calculator.OFF else None

    def policy(step, trace) -> bool:
        return cancel.is_set() or (abort is not None and abort(step, trace))

    held = StopScanner(gen.stops)
    out, entries, unsent = [], [], []
    tokens, first_ms, last_ms, finish = 0, None, None, "length"
    for step in generate(model.backend, gen.prompt_ids, sampler=make_sampler(gen.sampling),
                         max_new_tokens=gen.max_tokens, exit_policy=policy, confidence=confidence,
                         arithmetic=checker, top_logprobs_n=gen.logprobs or 0):
        first_ms = step.elapsed_ms if first_ms is None else first_ms
        last_ms = step.elapsed_ms
        if step.finish_reason == "stop":  # the eos token: not part of the text
            finish = "eos"
            break
        tokens += 1
        if gen.logprobs is not None:
            unsent.append(_token_logprob(text, step, gen.logprobs))
        ready, stopped = held.push(stream.push(step.token_id))
        if ready or stopped:
            out.append(ready)
            entries += unsent
            if emit is not None and (ready or unsent):
                emit(Piece(index, ready, unsent))
            unsent = []
        if stopped:
            finish = "stop_sequence"
            break
        if step.finish_reason == "early_exit":
            finish = "cancelled" if cancel.is_set() else "early_exit"
        elif step.finish_reason == "length":
            finish = "length"
    if finish != "stop_sequence":  # the held-back text was no stop sequence's start after all
        rest = held.flush()
        out.append(rest)
        entries += unsent
        if emit is not None and (rest or unsent):
            emit(Piece(index, rest, unsent))
    if checker is not None:
        checker.finish()
    decode_s = ((last_ms or 0) - (first_ms or 0)) / 1e3
    return Choice(index=index, text="".join(out), finish_reason="length" if finish == "length" else "stop",
                  finish=finish, completion_tokens=tokens, logprobs=entries, confidence=confidence.summary(),
                  ttft_ms=first_ms or 0.0, decode_tps=(tokens - 1) / decode_s if tokens > 1 and decode_s > 0 else None)


def _token_logprob(text, step, n: int) -> TokenLogprob:
    piece = text.decode([step.token_id], skip_special=False)
    top = tuple((text.decode([i], skip_special=False), lp) for i, lp in step.top[:n])
    return TokenLogprob(piece, step.logprob, top)


class StopScanner:
    """Holds back text that may be the start of a stop sequence; cuts the text before the first one."""

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = tuple(stops)
        self.pending = ""

    def push(self, piece: str) -> tuple[str, bool]:
        """Text safe to send now, and whether a stop sequence ended it."""
        self.pending += piece
        if not self.stops:
            ready, self.pending = self.pending, ""
            return ready, False
        hits = [i for i in (self.pending.find(s) for s in self.stops) if i >= 0]
        if hits:
            ready, self.pending = self.pending[: min(hits)], ""
            return ready, True
        keep = max((k for s in self.stops for k in range(1, len(s)) if self.pending.endswith(s[:k])), default=0)
        cut = len(self.pending) - keep
        ready, self.pending = self.pending[:cut], self.pending[cut:]
        return ready, False

    def flush(self) -> str:
        rest, self.pending = self.pending, ""
        return rest
