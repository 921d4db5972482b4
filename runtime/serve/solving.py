"""A solve over the API: `edgereason solve`'s settings from a chat request, its result as the `edgereason` key.

The question is the request's one user message; the prompt around it (system prompt, few-shot turns) and the
settings are the solve spec's (`serve --spec FILE`, else the artifact's `solve.<strategy>.json`, else the defaults):
the prompt its calibrator was fitted on, so its P(correct) means what it says. An "escalate" decision goes
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
from edgereason.runtime.defaults import SETTINGS
from edgereason.runtime.reason import SolveConfig, SolveResult, solve
from edgereason.runtime.spec import SolveSpec

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
    spec: SolveSpec
    kind: AnswerKind
    shown: tuple[str, ...]
    prompt_tokens: int
    escalate: bool

    @classmethod
    def build(cls, model: LoadedModel, question: str, req: ChatRequest, spec: SolveSpec | None = None) -> "SolveJob":
        """The request's solve: `spec` (the server's --spec) or the artifact's spec for the request's strategy, with
        the request's settings over it."""
        from edgereason.bench.tasks import shots_for

        if not question.strip():
            raise ApiError(400, "messages: the question is empty", param="messages")
        ext = req.edgereason
        kind = AnswerKind.CHOICE if ext.choices else AnswerKind.MATH
        shown = tuple(f"{LETTERS[i]}. {c}" for i, c in enumerate(ext.choices or []))
        try:
            base = spec if spec is not None else model.spec(ext.strategy or SETTINGS["strategy"])
            chosen = _with_request(base, req)
        except SettingError as e:
            raise ApiError(400, e.render(FIELDS), param=FIELDS.get(e.fields[0], e.fields[0])) from None
        if ext.shots is not None:
            chosen = chosen.with_shots(kind, shots_for(ext.shots))
        prompt = chosen.prompt_ids(model.text, question, kind=kind, choices=shown)
        error = context_error(model.backend.info.max_seq_len, len(prompt), chosen.config.max_new_tokens, "messages")
        if error is not None:
            raise error
        return cls(model, question, chosen, kind, shown, len(prompt), ext.escalate)

    @property
    def config(self) -> SolveConfig:
        return self.spec.config

    def run(self, *, cancel: threading.Event) -> SolveResult:
        """The fast path's solve; a client that leaves stops it at the next token (Cancelled)."""
        from .engine import Cancelled

        result = solve(self.model.backend, self.model.text, self.question, spec=self.spec, kind=self.kind,
                       choices=self.shown, cancel=cancel)
        if cancel.is_set():
            raise Cancelled()
        return result

    def messages(self) -> list[dict[str, str]]:
        """The fast path's prompt, which the slow path gets too."""
        return self.spec.messages(self.question, kind=self.kind, choices=self.shown)


def _with_request(spec: SolveSpec, req: ChatRequest) -> SolveSpec:
    """`spec` with the request's fields where given. OpenAI's sampling fields count only when the request sets
    them (its defaults are not the spec's)."""
    ext, given = req.edgereason, req.model_fields_set
    return spec.with_settings(
        strategy=ext.strategy, max_new_tokens=req.budget(), max_traces=ext.max_traces,
        temperature=req.temperature if "temperature" in given else None,
        top_k=ext.top_k if "top_k" in ext.model_fields_set else None,
        top_p=req.top_p if "top_p" in given else None, seed=req.seed,
        abort=ext.abort if "abort" in ext.model_fields_set else None, abort_threshold=ext.abort_threshold,
        probe=ext.probe, calculator=ext.calculator, route_before_decode=ext.route_before_decode)


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
