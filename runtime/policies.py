"""Early-exit policies: called by the decode loop with each Step; True ends the trace.

- `GroupConfidenceAbort` (DeepConf online): abandon a trace whose sliding-window group
  confidence falls below a threshold — a hopeless trace stops costing tokens.
- `AnswerProbe` (DEER-style): at reasoning-step boundaries (a newline), append a probe such as
  " The answer is", read the model's answer and its confidence greedily, rewind the cache, and
  stop once the answer is settled (confident enough, and the same at `patience` probes in a row).
  A line that already states the answer ("... the answer is 42.") ends the trace at no probe cost.
- `ArithmeticAbort`: abandon a trace at its first false arithmetic statement (`runtime.arith`).
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .answers import LETTERS, MAX_CHOICES, AnswerKind, extract, same_answer
from .backends.base import Backend, ContextOverflowError
from .confidence import TraceConfidence
from .defaults import ANSWERS
from .generate import ExitPolicy, Step
from .text import Text

if TYPE_CHECKING:
    from .arith import ArithmeticChecker

# The model has written its final answer on this line: nothing after it can change the answer.
_STATED = re.compile(r"answer is\s*:?\s*\$?\s*-?\(?[\d" + LETTERS + "]", re.IGNORECASE | re.ASCII)


@dataclass
class GroupConfidenceAbort:
    """Abort when the group confidence (mean DeepConf token confidence over the window) < threshold."""

    threshold: float
    fired_at: float | None = None  # the group confidence that fired, for the explanation

    def __call__(self, step: Step, trace: TraceConfidence) -> bool:
        if step.group_conf is not None and step.group_conf < self.threshold:
            self.fired_at = step.group_conf
            return True
        return False


@dataclass
class AnswerProbe:
    """Probe for a settled answer at newline boundaries; rewinds the backend after every probe.

    Attributes:
        threshold: mean probability of the probed answer's tokens needed to call it settled.
        patience: consecutive probes that must give the same confident answer.
        min_tokens: no probe before this many generated tokens.
        num_choices: a choice answer is a letter of one of this many options.
        probe_text: appended after the boundary token; the model completes it with its answer.
        max_answer_tokens: greedy tokens read after the probe text.

    The settings have no defaults here: `reason.ExitConfig` is their one place.
    """

    backend: Backend
    text: Text
    kind: AnswerKind
    threshold: float
    patience: int
    min_tokens: int
    num_choices: int = MAX_CHOICES
    probe_text: str = ANSWERS["probe_text"]
    max_answer_tokens: int = ANSWERS["max_answer_tokens"]
    num_probes: int = 0
    probe_tokens: int = 0  # tokens the probes cost (prefill + decode), for honest savings accounting
    settled_answer: str | None = None
    settled_conf: float = 0.0
    stated: bool = False  # stopped because the trace itself wrote "the answer is ..."
    _streak: list[str] = field(default_factory=list)
    _probe_ids: list[int] | None = None
    _line: list[int] = field(default_factory=list)

    def __call__(self, step: Step, trace: TraceConfidence) -> bool:
        self._line.append(step.token_id)
        if "\n" not in self.text.decode([step.token_id]):
            return False
        line, self._line = self.text.decode(self._line), []
        if _STATED.search(line):
            self.stated = True
            return True
        if step.index + 1 < self.min_tokens:
            return False
        answer, conf = self._probe(step.token_id)
        if answer is None or conf < self.threshold:
            self._streak.clear()
            return False
        if self._streak and not same_answer(self._streak[-1], answer):
            self._streak.clear()
        self._streak.append(answer)
        if len(self._streak) >= self.patience:
            self.settled_answer, self.settled_conf = answer, conf
            return True
        return False

    def _probe(self, boundary_token: int) -> tuple[str | None, float]:
        """Feed the boundary token and the probe, read an answer greedily, rewind. Cache unchanged after."""
        if self._probe_ids is None:
            self._probe_ids = self.text.encode(self.probe_text, add_bos=False)  # mid-trace: never a BOS
        backend = self.backend
        start = backend.position
        self.num_probes += 1
        ids: list[int] = []
        probs: list[float] = []
        try:
            logits = backend.prefill([boundary_token, *self._probe_ids])
            self.probe_tokens += 1 + len(self._probe_ids)
            for _ in range(self.max_answer_tokens):
                token = int(np.argmax(logits))
                piece = self.text.decode([token])
                if token in backend.info.eos_ids or "\n" in piece:
                    break
                x = logits.astype(np.float64)
                probs.append(float(np.exp(x[token] - x.max()) / np.exp(x - x.max()).sum()))
                ids.append(token)
                if piece.strip().endswith("."):
                    break
                logits = backend.step(token)
                self.probe_tokens += 1
        except ContextOverflowError:
            return None, 0.0
        finally:
            backend.rewind(start)
        answer = extract(self.probe_text + self.text.decode(ids), self.kind, num_choices=self.num_choices)
        return answer, float(np.mean(probs)) if probs else 0.0


def any_of(policies: Sequence[ExitPolicy]) -> ExitPolicy | None:
    """One policy that fires when any fires (in order: the first that fires decides)."""
    active = [p for p in policies if p is not None]
    if not active:
        return None
    if len(active) == 1:
        return active[0]

    def combined(step: Step, trace: TraceConfidence) -> bool:
        return any(policy(step, trace) for policy in active)

    return combined


@dataclass
class ArithmeticAbort:
    """Abandon a trace at its first false arithmetic statement (check mode: the trace's own arithmetic says it is
    wrong; in compute mode, the first result the model was about to write wrong)."""

    checker: "ArithmeticChecker"
    fired_at: str | None = None  # the statement that fired, for the explanation

    def __call__(self, step: Step, trace: TraceConfidence) -> bool:
        errors = [st for st in self.checker.statements if not st.right]
        if errors:
            self.fired_at = errors[0].text
            return True
        return False
