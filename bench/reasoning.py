"""Solve a task's problems with one strategy and score the answers and their P(correct).

`edgereason calibrate` and the reasoning benchmark share this loop, so a calibrator is fitted on
exactly the features the evaluation later feeds it, on the prompt its spec records.
"""

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from edgereason.runtime import LoadedModel
from edgereason.runtime.probes import STATES
from edgereason.runtime.reason import SolveResult, solve
from edgereason.runtime.spec import SolveSpec
from edgereason.runtime.stats import aurc, auroc, ece

from .grading import is_correct
from .tasks import Problem

STATES_FILE = "states.npz"  # in a `bench reason` report: "<run>/prompt", "<run>/answer" -> [N, H] float32


@dataclass
class Record:
    problem_id: str
    answer: str | None
    reference: str
    correct: bool
    p_correct: float
    decision: str
    tokens: int  # generated, all traces (the calculator's included)
    tool_tokens: int  # of them, written by the calculator
    probe_tokens: int
    arith_seconds: float  # in the arithmetic checker
    traces: int
    aborted: int
    settled: bool
    seconds: float
    features: dict[str, float]
    num_steps: int | None
    p_ik: float | None = None
    routed: bool = False
    # The slow path's answer to the same prompt (`bench reason --escalate-to`; `cascade.attach_slow`), graded the
    # same way; all None without a slow path (and in older reports). A failed request: slow_correct False and
    # slow_error its reason.
    slow_answer: str | None = None
    slow_correct: bool | None = None
    slow_tokens: int | None = None  # completion tokens, the server's usage (None: it reports none)
    slow_seconds: float | None = None  # wall time of the request, a failed one included
    slow_error: str | None = None
    # The hidden states the probes read ("prompt", "answer"; None: the model has no such output). Not in
    # results.json (hundreds of floats a problem): `bench reason` writes them to states.npz.
    states: dict[str, np.ndarray | None] = field(default_factory=dict, repr=False)


def run_problems(model: LoadedModel, problems: Sequence[Problem], spec: SolveSpec, *,
                 on_record: Callable[[Record], None] | None = None, parallel: int | None = None) -> list[Record]:
    """Solve each problem as `spec` says (vote traces `parallel` at once: `reason.solve`); one Record each (in
    order)."""
    records = []
    for p in problems:
        result: SolveResult = solve(model.backend, model.text, p.question, spec=spec, kind=p.kind, choices=p.choices,
                                    parallel=parallel)
        record = Record(
            problem_id=p.id, answer=result.answer, reference=p.answer, correct=is_correct(result.answer, p),
            p_correct=result.p_correct, decision=result.decision, tokens=result.tokens_generated,
            tool_tokens=sum(t.tool_tokens for t in result.traces), probe_tokens=result.probe_tokens,
            arith_seconds=sum(t.arith_seconds for t in result.traces), traces=len(result.traces),
            aborted=sum(t.aborted for t in result.traces),
            settled=any(t.settled for t in result.traces), seconds=result.seconds, features=result.features,
            num_steps=p.num_steps, p_ik=result.p_ik, routed=result.routed, states=result.states,
        )
        records.append(record)
        if on_record:
            on_record(record)
    return records


def record_json(record: Record) -> dict:
    """A record as results.json holds it (the hidden states go to states.npz: `state_arrays`)."""
    out = asdict(record)
    del out["states"]
    return out


def state_arrays(records: Sequence[Record]) -> dict[str, np.ndarray]:
    """State name -> [N, H] float32, a row per record, for each state every record has (what the probes fit on)."""
    out = {}
    for name in STATES:
        rows = [r.states.get(name) for r in records]
        if rows and all(row is not None for row in rows):
            out[name] = np.stack(rows).astype(np.float32)
    return out


def summarize(records: Sequence[Record]) -> dict[str, float]:
    """Accuracy, cost, and how well P(correct) ranks and calibrates (ECE, AUROC, selective accuracy)."""
    y = np.asarray([r.correct for r in records], dtype=float)
    p = np.asarray([r.p_correct for r in records])
    errors = np.asarray([r.features.get("arith_errors", 0.0) > 0 for r in records])
    wrong = y == 0
    accepted = np.asarray([r.decision == "accept" for r in records])
    order = np.argsort(-p, kind="stable")

    def selective(coverage: float) -> float:
        k = max(1, int(round(coverage * len(y))))
        return float(y[order[:k]].mean())

    return {
        "n": float(len(records)),
        "accuracy": float(y.mean()),
        "tokens_per_problem": float(np.mean([r.tokens for r in records])),
        "tool_tokens_per_problem": float(np.mean([r.tool_tokens for r in records])),
        "statements_per_problem": float(np.mean([r.features.get("arith_statements", 0.0) for r in records])),
        # check: traces with a false statement; compute: with a result the model was about to write wrong
        "wrong_with_arith_error": float(errors[wrong].mean()) if wrong.any() else float("nan"),
        "right_with_arith_error": float(errors[~wrong].mean()) if (~wrong).any() else float("nan"),
        "probe_tokens_per_problem": float(np.mean([r.probe_tokens for r in records])),
        "seconds_per_problem": float(np.mean([r.seconds for r in records])),
        # the checker's share of the decode time, and its cost per generated token
        "checker_share": sum(r.arith_seconds for r in records) / max(1e-9, sum(r.seconds for r in records)),
        "checker_us_per_token": 1e6 * sum(r.arith_seconds for r in records) / max(1, sum(r.tokens for r in records)),
        "traces_per_problem": float(np.mean([r.traces for r in records])),
        "ece": ece(p, y),
        "auroc": auroc(p, y),
        "aurc": aurc(p, y),
        "accept_rate": float(accepted.mean()),
        "accepted_accuracy": float(y[accepted].mean()) if accepted.any() else float("nan"),
        "selective_acc_50": selective(0.5),
        "selective_acc_80": selective(0.8),
    }


def savings(rows: list[dict], max_traces: int) -> None:
    """Add `token_savings` to each row (keys `base_strategy`, `calculator`): early-exit against greedy, vote against
    `max_traces` full greedy-length traces (what self-consistency costs without early stopping), each against the
    greedy row of the same calculator mode; probes count as spent."""
    for row in rows:
        greedy = next((r for r in rows if r["base_strategy"] == "greedy" and r["calculator"] == row["calculator"]),
                      None)
        spent = row["tokens_per_problem"] + row["probe_tokens_per_problem"]
        if greedy is None or row["base_strategy"] == "greedy":
            row["token_savings"] = None
        else:
            full = greedy["tokens_per_problem"] * (max_traces if row["base_strategy"] == "vote" else 1)
            row["token_savings"] = 1 - spent / full
