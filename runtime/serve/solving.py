"""A solve over the API: `edgereason solve`'s settings from a chat request, its result as the `edgereason` key.

The question is the request's one user message; the prompt around it (system prompt, few-shot turns) is the
one the artifact's calibrator was fitted on, so its P(correct) means what it says. An "escalate" decision goes
to the server's slow path (`--escalate-to`) off the model thread: the small model serves the next request
while the slow one thinks.
"""

import asyncio
import threading
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from edgereason.errors import SettingError
from edgereason.runtime import LoadedModel
from edgereason.runtime.answers import LETTERS, AnswerKind
from edgereason.runtime.arith import Calculator
from edgereason.runtime.calibrate import Calibrator
from edgereason.runtime.reason import ExitConfig, SolveConfig, SolveResult, Strategy, messages_for, solve
from edgereason.runtime.sampling import SamplingConfig

from .protocol import ApiError, ChatRequest, context_error

if TYPE_CHECKING:
    from .app import Server

# Library fields → the request's names for them, for SettingError messages.
FIELDS = {"max_new_tokens": "max_tokens", "temperature": "temperature", "top_k": "edgereason.top_k",
          "seed": "seed", "top_p": "top_p", "max_traces": "edgereason.max_traces",
          "strategy": "edgereason.strategy", "abort_threshold": "edgereason.abort_threshold",
          "arith_abort": "edgereason.arith_abort", "calculator": "edgereason.calculator"}


@dataclass
class SolveJob:
    model: LoadedModel
    question: str
    config: SolveConfig
    kind: AnswerKind
    shown: tuple[str, ...]
    shots: list[tuple[str, str]]
    calibrator: Calibrator | None
    prompt_tokens: int
    escalate: bool

    @classmethod
    def build(cls, model: LoadedModel, question: str, req: ChatRequest) -> "SolveJob":
        from edgereason.bench.tasks import calibrated_shots

        if not question.strip():
            raise ApiError(400, "messages: the question is empty", param="messages")
        config = _config(req)
        ext = req.edgereason
        kind = AnswerKind.CHOICE if ext.choices else AnswerKind.MATH
        shown = tuple(f"{LETTERS[i]}. {c}" for i, c in enumerate(ext.choices or []))
        calibrator = model.calibrator(config.strategy.value)
        shots = calibrated_shots(calibrator, ext.shots, multiple_choice=bool(ext.choices))
        prompt = model.text.prompt_ids(messages_for(question, kind=kind, choices=shown, shots=shots))
        error = context_error(model.backend.info.max_seq_len, len(prompt), config.max_new_tokens, "messages")
        if error is not None:
            raise error
        return cls(model, question, config, kind, shown, shots, calibrator, len(prompt), ext.escalate)

    def run(self, *, cancel: threading.Event) -> SolveResult:
        """The fast path's solve; a client that leaves stops it at the next token (Cancelled)."""
        from .engine import Cancelled

        result = solve(self.model.backend, self.model.text, self.question, config=self.config, kind=self.kind,
                       choices=self.shown, shots=self.shots, calibrator=self.calibrator, cancel=cancel)
        if cancel.is_set():
            raise Cancelled()
        return result

    def messages(self) -> list[dict[str, str]]:
        """The fast path's prompt, which the slow path gets too."""
        return messages_for(self.question, kind=self.kind, choices=self.shown, shots=self.shots)


def _config(req: ChatRequest) -> SolveConfig:
    """SolveConfig from the request: its fields where given, `edgereason solve`'s defaults elsewhere."""
    ext, given = req.edgereason, req.model_fields_set
    base = SolveConfig()
    try:
        sampling = SamplingConfig(
            temperature=req.temperature if "temperature" in given else base.sampling.temperature,
            top_k=ext.top_k if "top_k" in ext.model_fields_set else base.sampling.top_k,
            top_p=req.top_p, seed=req.seed if req.seed is not None else base.sampling.seed)
        exit_config = replace(ExitConfig(), **{k: v for k, v in (
            ("abort", ext.abort if "abort" in ext.model_fields_set else None),
            ("abort_threshold", ext.abort_threshold), ("probe", ext.probe)) if v is not None})
        settings = {"strategy": Strategy(ext.strategy) if ext.strategy else None,
                    "max_new_tokens": req.budget(), "max_traces": ext.max_traces,
                    "calculator": Calculator(ext.calculator) if ext.calculator else None,
                    "route_before_decode": ext.route_before_decode}
        return replace(base, sampling=sampling, exit=exit_config,
                       **{k: v for k, v in settings.items() if v is not None})
    except SettingError as e:
        raise ApiError(400, e.render(FIELDS), param=FIELDS.get(e.fields[0], e.fields[0])) from None


def result_json(result: SolveResult) -> dict[str, Any]:
    """The fast path's answer and decision, as `edgereason solve` shows them."""
    return {"answer": result.answer, "p_correct": result.p_correct, "calibrated": result.calibrated,
            "decision": result.decision, "reasons": result.reasons, "strategy": result.strategy,
            "p_ik": result.p_ik, "routed": result.routed, "tokens_generated": result.tokens_generated,
            "probe_tokens": result.probe_tokens, "seconds": result.seconds,
            "traces": [{"answer": t.answer, "tokens": len(t.token_ids), "finish_reason": t.finish_reason,
                        "aborted": t.aborted, "settled": t.settled} for t in result.traces]}


async def solve_extension(server: "Server", job: SolveJob, fast: SolveResult) -> tuple[dict[str, Any], str, int]:
    """The `edgereason.solve` key, the reply's text (the answering path's) and the fast path's tokens."""
    content = fast.traces[-1].text if fast.traces else ""
    data: dict[str, Any] = {"fast": result_json(fast), "answer": fast.answer, "path": "fast",
                            "decision": fast.decision}
    escalation = None
    if fast.decision == "escalate" and server.slow is not None and job.escalate:
        from edgereason.runtime import escalate

        loop = asyncio.get_running_loop()
        slow = replace(server.slow, max_tokens=job.config.max_new_tokens)  # the request's budget, on both paths
        outcome = await loop.run_in_executor(None, lambda: escalate.escalate(slow, fast, job.messages(),
                                                                              kind=job.kind,
                                                                              num_choices=len(job.shown)))
        data.update(outcome.to_json())
        escalation = "answered" if outcome.slow is not None else "unavailable"
        if outcome.slow is not None:
            content = outcome.slow.text
    server.metrics.decided(fast.decision, escalation)
    return data, content, fast.tokens_generated
