"""Answer a reasoning question and decide whether to trust the answer.

Strategies: `greedy` (one greedy trace), `early-exit` (one greedy trace with the abort and probe
policies), `vote` (up to N sampled traces, confidence-weighted vote that stops once the leader
can't be overtaken), `score` (a multiple-choice question answered without decoding: each option's
log-likelihood after the question; the softmax over the options is its confidence). The decision:
a calibrator (fitted per artifact) maps the result's features to P(correct); accept at or above its
threshold, otherwise escalate (the slow path).
"""

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import TYPE_CHECKING

import numpy as np

from edgereason.errors import SettingError

from .answers import LETTERS, MAX_CHOICES, AnswerKind, extract, same_answer
from .arith import NO_ARITHMETIC, ArithmeticChecker, Calculator, Statement
from .backends.base import Backend
from .calibrate import Calibrator
from .confidence import TraceConfidence
from .defaults import EXIT, SAMPLING, SETTINGS
from .generate import generate
from .likelihood import score_continuations
from .policies import AnswerProbe, ArithmeticAbort, GroupConfidenceAbort, any_of
from .probes import FALLBACK_TOKENS
from .sampling import SamplingConfig, make_sampler
from .text import Text

if TYPE_CHECKING:
    from .spec import SolveSpec



@dataclass(frozen=True)
class TraceFeatures:
    """The trace features a calibrator reads; the field order is the order of its rows, and every solve spec lists
    them in this order (`SolveSpec.features`), so the C++ runner and the Java core build the same rows.

    mean_conf .. tail_conf: DeepConf token and group confidences (`runtime.confidence`); mean_logprob / min_logprob:
    of the sampled tokens; num_tokens: the trace's length; answer_logprob / answer_min_logprob: over the tokens that
    wrote the answer; vote_share: the winner's share of the answered vote weight; has_answer: 1 when an answer was
    found; arith_statements / arith_errors / first_error_at: the checked arithmetic (`runtime.arith`).
    """

    mean_conf: float
    lowest_group_conf: float
    bottom10_group_conf: float
    tail_conf: float
    mean_logprob: float
    min_logprob: float
    num_tokens: float
    answer_logprob: float
    answer_min_logprob: float
    vote_share: float
    has_answer: float
    arith_statements: float
    arith_errors: float
    first_error_at: float


FEATURES = tuple(f.name for f in fields(TraceFeatures))
ARITH_FEATURES = ("arith_statements", "arith_errors", "first_error_at")


class Strategy(StrEnum):
    GREEDY = "greedy"
    EARLY_EXIT = "early-exit"
    VOTE = "vote"
    SCORE = "score"


@dataclass(frozen=True)
class ExitConfig:
    """Early-exit switches and thresholds (each policy can be turned off).

    Attributes:
        abort: abandon a trace whose group confidence drops below `abort_threshold`.
        abort_threshold: DeepConf group confidence (mean −log p of the top-20, over `abort_window` tokens).
        probe: probe for a settled answer at newlines (DEER-style) and stop when it is settled.
        probe_threshold: mean probability of the probed answer tokens that counts as settled.
        probe_patience: consecutive confident probes with the same answer needed.
        probe_min_tokens: no probe before this many tokens (short traces end before a probe pays off).
        vote_early_stop: stop voting once the leader can't be overtaken by the remaining traces.
        arith_abort: abandon a trace at its first false arithmetic statement (needs the calculator on).
    """

    abort: bool = EXIT["abort"]
    abort_threshold: float = EXIT["abort_threshold"]
    abort_window: int = EXIT["abort_window"]
    probe: bool = EXIT["probe"]
    probe_threshold: float = EXIT["probe_threshold"]
    probe_patience: int = EXIT["probe_patience"]
    probe_min_tokens: int = EXIT["probe_min_tokens"]
    vote_early_stop: bool = EXIT["vote_early_stop"]
    arith_abort: bool = EXIT["arith_abort"]

    def __post_init__(self) -> None:
        for name in ("abort_window", "probe_patience"):
            if getattr(self, name) < 1:
                raise SettingError(f"{{0}} must be >= 1, got {getattr(self, name)}", name)
        if self.probe_min_tokens < 0:
            raise SettingError(f"{{0}} must be >= 0, got {self.probe_min_tokens}", "probe_min_tokens")
        if not 0.0 <= self.probe_threshold <= 1.0:
            raise SettingError(f"{{0}} must be in [0, 1], got {self.probe_threshold}", "probe_threshold")
        if not math.isfinite(self.abort_threshold):
            raise SettingError(f"{{0}} must be a finite number, got {self.abort_threshold}", "abort_threshold")


@dataclass(frozen=True)
class SolveConfig:
    """Attributes:
    strategy: greedy | early-exit | vote | score.
    max_new_tokens: budget per trace.
    max_traces: traces for `vote`.
    sampling: for `vote` traces (trace i uses seed + i); greedy strategies ignore it.
    exit: early-exit policies (used by early-exit and vote).
    calculator: off | check (find and check every arithmetic statement: features, abort, vote weight) |
        compute (also write each exact result for the model, as tool tokens).
    arith_error_weight: a vote trace with a false statement counts this much of its weight.
    route_before_decode: escalate at zero generated tokens when the calibrator's P(IK) is below its route
        threshold (needs a calibrator with the prompt probe).
    """

    strategy: Strategy = Strategy(SETTINGS["strategy"])
    max_new_tokens: int = SETTINGS["max_new_tokens"]
    max_traces: int = SETTINGS["max_traces"]
    sampling: SamplingConfig = field(default_factory=lambda: SamplingConfig(**SAMPLING))
    exit: ExitConfig = field(default_factory=ExitConfig)
    calculator: Calculator = Calculator(SETTINGS["calculator"])
    arith_error_weight: float = SETTINGS["arith_error_weight"]
    route_before_decode: bool = SETTINGS["route_before_decode"]

    def __post_init__(self) -> None:
        for name in ("max_new_tokens", "max_traces"):
            if getattr(self, name) < 1:
                raise SettingError(f"{{0}} must be >= 1, got {getattr(self, name)}", name)
        if not (math.isfinite(self.arith_error_weight) and 0.0 <= self.arith_error_weight <= 1.0):
            raise SettingError(f"{{0}} must be in [0, 1], got {self.arith_error_weight}", "arith_error_weight")
        if self.exit.arith_abort and self.calculator is Calculator.OFF:
            raise SettingError("{0} needs the calculator: set {1} to check or compute", "arith_abort", "calculator")
        if self.strategy is Strategy.VOTE and self.sampling.temperature == 0.0:
            raise SettingError("{0} vote needs {1} > 0: greedy traces would all be the same", "strategy",
                               "temperature")


@dataclass
class Trace:
    token_ids: list[int]
    text: str
    answer: str | None
    finish_reason: str | None
    aborted: bool
    settled: bool  # stopped by the answer probe
    features: dict[str, float]
    probe_tokens: int
    seconds: float
    statements: list[Statement] = field(default_factory=list)
    tool_tokens: int = 0  # written by the calculator
    arith_seconds: float = 0.0  # the checker's own time
    error_weight: float = 1.0  # arith_error_weight when a statement is false, else 1
    abort_reason: str | None = None  # "low confidence" or "a false statement (...)" when aborted
    prompt_state: np.ndarray | None = field(default=None, repr=False)  # hidden state at the last prompt token
    answer_state: np.ndarray | None = field(default=None, repr=False)  # mean hidden state over the answer's tokens

    @property
    def weight(self) -> float:
        """Vote weight in [0, 1]: the geometric-mean token probability of the trace (down-weighted when its own
        arithmetic is false)."""
        return float(np.exp(self.features["mean_logprob"])) * self.error_weight


@dataclass
class SolveResult:
    answer: str | None
    p_correct: float
    calibrated: bool
    decision: str  # "accept" | "escalate"
    reasons: list[str]
    strategy: str
    traces: list[Trace]
    features: dict[str, float]
    tokens_generated: int
    probe_tokens: int
    seconds: float
    states: dict[str, np.ndarray | None] = field(default_factory=dict, repr=False)  # "prompt", "answer" (probes)
    p_ik: float | None = None  # the calibrator's P(IK) probe, before decoding
    routed: bool = False  # sent to the slow path before decoding (P(IK) below the route threshold)


def solve(backend: Backend, text: Text, question: str, *, spec: "SolveSpec | None" = None,
          kind: AnswerKind = AnswerKind.MATH, choices: Sequence[str] = (),
          cancel: threading.Event | None = None, parallel: int | None = None) -> SolveResult:
    """Answer `question` as `spec` says (default: edgereason/specs/solve.json), with P(correct) from its
    calibrator and an accept/escalate decision.

    `parallel`: how many vote traces decode together in one batch where the backend can (`.onnx`; None: all of
    them; 1: one after another). It changes the time, never the traces: it is how the spec is run, not part of it.

    `cancel` (a server's client went away): once set, the running trace ends at its next token and no further
    trace starts; the result is then partial and meant to be dropped.

    Raises:
        ContextOverflowError: the prompt and budget don't fit the artifact's context.
    """
    if spec is None:
        from .spec import default_spec

        spec = default_spec()
    config, calibrator = spec.config, spec.calibrator
    if parallel is not None and parallel < 1:
        raise SettingError(f"{{0}} must be >= 1, got {parallel}", "parallel")
    if len(choices) > MAX_CHOICES:
        raise SettingError(f"a question has at most {MAX_CHOICES} {{0}} (letters {LETTERS[0]}-{LETTERS[-1]}), got "
                           f"{len(choices)}", "choices")
    num_choices = len(choices) or MAX_CHOICES  # no options listed: the question's own text names A-E
    start = time.perf_counter()
    scoring = config.strategy is Strategy.SCORE
    if scoring and (kind is not AnswerKind.CHOICE or not choices):
        raise SettingError("{0} score answers a multiple-choice question by its options: give the options "
                           "(choices), or use another strategy", "strategy")
    prompt = (spec.scoring.context_ids(text, question) if scoring
              else spec.prompt_ids(text, question, kind=kind, choices=choices))
    if not scoring and len(prompt) + config.max_new_tokens > backend.info.max_seq_len:
        from .backends.base import ContextOverflowError

        raise ContextOverflowError(
            f"prompt of {len(prompt)} tokens + --max-new-tokens {config.max_new_tokens} exceed the context of "
            f"{backend.info.max_seq_len}: shorten the question, use fewer shots or lower --max-new-tokens")
    p_ik = None
    if calibrator is not None and "pik_logit" in calibrator.probes:
        prompt_state = _prompt_state(backend, prompt)
        p_ik = calibrator.p_ik(prompt_state)
        if config.route_before_decode and p_ik < calibrator.route_threshold:
            return SolveResult(
                answer=None, p_correct=p_ik, calibrated=True, decision="escalate",
                reasons=[f"routed before decoding: P(IK) {p_ik:.2f} < route threshold "
                         f"{calibrator.route_threshold:.2f}"],
                strategy=config.strategy.value, traces=[], features={}, tokens_generated=0, probe_tokens=0,
                seconds=time.perf_counter() - start, states={"prompt": prompt_state}, p_ik=p_ik, routed=True)
    traces: list[Trace] = []
    if scoring:
        traces = [_score(backend, text, prompt, spec, choices)]
    elif config.strategy is Strategy.VOTE:
        traces = _vote(backend, text, prompt, spec, kind, num_choices, cancel, parallel)
    else:
        greedy_cfg = SamplingConfig()
        use_exit = config.strategy is Strategy.EARLY_EXIT
        traces = [_trace(backend, text, prompt, spec, kind, num_choices, greedy_cfg, use_exit, cancel)]
    answer, share = _tally(traces)
    if scoring:
        share = traces[0].features["vote_share"]  # the option's probability: the options are its vote
    winners = [t for t in traces if answer is not None and same_answer(t.answer, answer)] or traces
    features = {name: float(np.mean([t.features[name] for t in winners]))
                for name in FEATURES if name not in ("vote_share", "has_answer")}
    features["vote_share"] = share
    features["has_answer"] = float(answer is not None)
    states = {"prompt": traces[0].prompt_state, "answer": _mean_state([t.answer_state for t in winners])}
    if calibrator is not None:
        features.update(calibrator.probe_features(states))
    p, reasons, decision = _decide(answer, traces, features, calibrator, spec.uncalibrated_threshold,
                                   raw=share if scoring else None)
    if config.route_before_decode:
        reasons.append(f"not routed: P(IK) {p_ik:.2f} >= route threshold {calibrator.route_threshold:.2f}"
                       if p_ik is not None else "not routed: the calibrator has no P(IK) probe (run `edgereason "
                       "calibrate` on an artifact with hidden-state outputs)")
    return SolveResult(
        answer=answer, p_correct=p, calibrated=calibrator is not None, decision=decision, reasons=reasons,
        strategy=config.strategy.value, traces=traces, features=features,
        tokens_generated=sum(len(t.token_ids) for t in traces), probe_tokens=sum(t.probe_tokens for t in traces),
        seconds=time.perf_counter() - start, states=states, p_ik=p_ik,
    )


def _prompt_state(backend: Backend, prompt: list[int]) -> np.ndarray | None:
    """Prefill the prompt (reusing the cached prefix, as `generate` will) and read the last token's hidden state."""
    backend.prefill_reusing(prompt)
    return backend.hidden


def _mean_state(states: Sequence[np.ndarray | None]) -> np.ndarray | None:
    present = [s for s in states if s is not None]
    return np.mean(present, axis=0) if present else None


def _trace(backend: Backend, text: Text, prompt: list[int], spec: "SolveSpec", kind: AnswerKind,
           num_choices: int, sampling: SamplingConfig, use_exit: bool, cancel: threading.Event | None = None) -> Trace:
    start = time.perf_counter()
    config = spec.config
    ex = config.exit
    abort = GroupConfidenceAbort(ex.abort_threshold) if use_exit and ex.abort else None
    probe = (AnswerProbe(backend, text, kind, threshold=ex.probe_threshold, patience=ex.probe_patience,
                         min_tokens=ex.probe_min_tokens, num_choices=num_choices, probe_text=spec.probe_text,
                         max_answer_tokens=spec.max_answer_tokens) if use_exit and ex.probe else None)
    checker = ArithmeticChecker(text, config.calculator) if config.calculator is not Calculator.OFF else None
    arith_abort = ArithmeticAbort(checker) if use_exit and ex.arith_abort and checker is not None else None
    confidence = TraceConfidence(window=ex.abort_window)
    steps = list(generate(backend, prompt, sampler=make_sampler(sampling), max_new_tokens=config.max_new_tokens,
                          exit_policy=any_of([_cancelled(cancel), abort, arith_abort, probe]), confidence=confidence,
                          arithmetic=checker))
    ids = [s.token_id for s in steps]
    body = text.decode(ids)
    abort_reason = ("low confidence" if abort is not None and abort.fired_at is not None else
                    f"a false statement ({arith_abort.fired_at})" if arith_abort is not None and arith_abort.fired_at
                    else None)
    aborted = abort_reason is not None
    settled = probe is not None and probe.settled_answer is not None
    answer = None if aborted else (probe.settled_answer if settled else extract(body, kind, num_choices=num_choices))
    features = confidence.summary()
    span = _answer_span(text, steps, answer)
    if settled:
        features["answer_logprob"] = features["answer_min_logprob"] = float(np.log(max(probe.settled_conf, 1e-9)))
    else:
        logprobs = [steps[i].logprob for i in span] or [-10.0 if answer is None or not steps else 0.0]
        features["answer_logprob"], features["answer_min_logprob"] = float(np.mean(logprobs)), float(min(logprobs))
    features.update(checker.features() if checker is not None else NO_ARITHMETIC)
    return Trace(token_ids=ids, text=body, answer=answer, finish_reason=steps[-1].finish_reason if steps else None,
                 aborted=aborted, settled=settled, features=features,
                 probe_tokens=probe.probe_tokens if probe else 0, seconds=time.perf_counter() - start,
                 statements=checker.statements if checker is not None else [],
                 tool_tokens=sum(s.tool for s in steps), arith_seconds=checker.seconds if checker else 0.0,
                 error_weight=config.arith_error_weight if checker is not None and checker.errors else 1.0,
                 abort_reason=abort_reason, prompt_state=steps[0].hidden if steps else None,
                 answer_state=_mean_state([steps[i].hidden for i in span or _own(steps)[-FALLBACK_TOKENS:]]))


def _score(backend: Backend, text: Text, context: list[int], spec: "SolveSpec", choices: Sequence[str]) -> Trace:
    """The option with the highest normalized log-likelihood after the scoring context (`SolveSpec.scoring`), as a
    trace that generated nothing. Its features, in the trace features' slots: vote_share = the softmax over the
    options' scores (the natural confidence), answer_logprob = the option's log-likelihood, answer_min_logprob = its
    margin over the runner-up, mean_logprob = min_logprob = per token, num_tokens = the option's tokens. The hidden
    states: the context's last token (P(IK)) and the chosen option's last token (the answer probe)."""
    start = time.perf_counter()
    rule = spec.scoring
    options = [rule.option_text(c, i) for i, c in enumerate(choices)]
    continuations = [rule.continuation(o) for o in options]
    ids = [text.encode(c, add_bos=False) for c in continuations]
    state = _prompt_state(backend, context)
    scored = score_continuations(backend, context, ids)
    scores = np.array([rule.normalized(s.logprob, s.num_tokens, len(c))
                       for s, c in zip(scored, continuations, strict=True)])
    probs = np.exp(scores - scores.max())
    probs /= probs.sum()
    best = int(np.argmax(scores))
    backend.extend(ids[best])  # the answer probe reads the state after the whole chosen option
    answer_state = backend.hidden
    backend.rewind(len(context))
    ranked = np.sort(scores)
    per_token = scored[best].logprob / scored[best].num_tokens
    features = {name: 0.0 for name in FEATURES} | {
        "vote_share": float(probs[best]), "answer_logprob": scored[best].logprob,
        "answer_min_logprob": float(ranked[-1] - ranked[-2]) if len(ranked) > 1 else 0.0,
        "mean_logprob": per_token, "min_logprob": per_token, "num_tokens": float(scored[best].num_tokens),
        "has_answer": 1.0}
    return Trace(token_ids=[], text=options[best], answer=LETTERS[best], finish_reason="scored", aborted=False,
                 settled=False, features=features, probe_tokens=0, seconds=time.perf_counter() - start,
                 prompt_state=state, answer_state=answer_state)


def _cancelled(cancel: threading.Event | None):
    """An exit policy that fires once `cancel` is set (None: no policy)."""
    return None if cancel is None else (lambda step, trace: cancel.is_set())


def _own(steps: Sequence) -> list[int]:
    """Indices of the steps the model wrote (not the calculator)."""
    return [i for i, s in enumerate(steps) if not s.tool]


def _answer_span(text: Text, steps: Sequence, answer: str | None) -> list[int]:
    """Indices of the model's own steps that wrote the answer's last occurrence: where the model committed to it
    (their log-probs are a sharper signal than the whole trace's, their hidden states the answer probe's input).
    Tool tokens (the calculator's) say nothing of the model: where they wrote the answer, its last FALLBACK_TOKENS
    own tokens count (edgereason/specs/probes.json).
    No answer: empty."""
    own = _own(steps)
    if answer is None or not steps:
        return []
    ends, decoded = [], ""
    for i in range(len(steps)):
        decoded = text.decode([s.token_id for s in steps[: i + 1]])
        ends.append(len(decoded))
    at = decoded.rfind(answer)
    span = [i for i, (end, start) in enumerate(zip(ends, [0, *ends[:-1]], strict=True))
            if at >= 0 and end > at and start < at + len(answer) and not steps[i].tool]
    return span or own[-FALLBACK_TOKENS:]


def _vote(backend: Backend, text: Text, prompt: list[int], spec: "SolveSpec", kind: AnswerKind,
          num_choices: int, cancel: threading.Event | None = None, parallel: int | None = None) -> list[Trace]:
    """Up to max_traces sampled traces (trace i seeded seed + i), `parallel` at once where the backend batches them
    (`Backend.lanes`; None: all at once), one after another otherwise: the same traces either way."""
    config = spec.config
    base = config.sampling

    def job(i: int):
        sampling = SamplingConfig(temperature=base.temperature, top_k=base.top_k, top_p=base.top_p,
                                  seed=(base.seed + i) % (1 << 64))
        return lambda lane, stop: _trace(lane, text, prompt, spec, kind, num_choices, sampling, True, stop)

    def settled(traces: list[Trace]) -> bool:
        return config.exit.vote_early_stop and _settled_vote(traces, config.max_traces - len(traces))

    # The prompt once, in the backend's cache: every trace keeps it and runs only its last token (one forward of
    # one token, batched or not, so the traces do not depend on how many run at once).
    backend.prefill_reusing(prompt)
    width = min(config.max_traces if parallel is None else parallel, config.max_traces)
    lanes = backend.lanes(width) if width > 1 else None
    if lanes is not None:
        return lanes.run([job(i) for i in range(config.max_traces)], parallel=width, stop=settled, cancel=cancel)
    traces: list[Trace] = []
    for i in range(config.max_traces):
        traces.append(job(i)(backend, cancel))  # a cancelled trace ends at its first token
        if settled(traces) or (cancel is not None and cancel.is_set()):
            break
    return traces


def _weights(traces: Sequence[Trace]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for t in traces:
        if t.answer is None:
            continue
        key = next((k for k in totals if same_answer(k, t.answer)), t.answer)
        totals[key] = totals.get(key, 0.0) + t.weight
    return totals


def _settled_vote(traces: Sequence[Trace], remaining: int) -> bool:
    """True when the leader's weight beats the runner-up even if every remaining trace (weight <= 1) disagrees."""
    ranked = sorted(_weights(traces).values(), reverse=True)
    if not ranked:
        return False
    runner_up = ranked[1] if len(ranked) > 1 else 0.0
    return ranked[0] - runner_up > remaining


def _tally(traces: Sequence[Trace]) -> tuple[str | None, float]:
    """The confidence-weighted winner and its share of all answered weight."""
    totals = _weights(traces)
    if not totals:
        return None, 0.0
    answer = max(totals, key=totals.get)
    return answer, totals[answer] / sum(totals.values())


def _decide(answer: str | None, traces: Sequence[Trace], features: dict[str, float],
            calibrator: Calibrator | None, uncalibrated_threshold: float,
            raw: float | None = None) -> tuple[float, list[str], str]:
    reasons = []
    if calibrator is not None:
        p = float(calibrator.predict([features])[0])
        threshold = calibrator.threshold
    else:
        # Without a calibrator: `raw` (score: the option's probability), else the winner's vote share times its
        # geometric-mean token probability.
        p = raw if raw is not None else features["vote_share"] * float(np.exp(features["mean_logprob"]))
        threshold = uncalibrated_threshold
        reasons.append("uncalibrated (no calibrator for this strategy: run `edgereason calibrate`); "
                       "raw confidence used")
    if answer is None:
        aborted = [t.abort_reason for t in traces if t.aborted]
        why = "; ".join(dict.fromkeys(r for r in aborted if r))
        reasons.append(f"no answer ({len(aborted)} of {len(traces)} traces aborted: {why})" if aborted
                       else "no answer found in the trace")
        return p, reasons, "escalate"
    verdict = "accept" if p >= threshold else "escalate"
    reasons.append(f"P(correct) {p:.2f} {'>=' if verdict == 'accept' else '<'} threshold {threshold:.2f}")
    return p, reasons, verdict
