"""The cascade benchmark: does the fast path's P(correct) pick the questions worth sending to the slow path?

`bench reason --escalate-to URL` asks the slow path every problem (with the fast path's own prompt), so the whole
trade-off is swept after the fact, with nothing decoded again: escalate when P(correct) < t, for every t that
changes the set. Each point is compared with routing the same share r at random, whose expected accuracy is
exactly (1 − r)·acc_fast + r·acc_slow (no sampling): the gap between the curves is what the confidence signal is
worth. The calibrated point is the decisions the run actually made (the calibrator's threshold, with its
no-answer rule; routed questions included).

A problem the slow path failed on (down, refused, timed out, garbage) counts as a wrong slow answer, and is
counted; the bench stops only when every request failed.
"""

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from time import perf_counter

import numpy as np

from edgereason.errors import EdgeReasonError, UsageError
from edgereason.runtime.answers import same_answer
from edgereason.runtime.escalate import SlowPath, SlowPathError, ask
from edgereason.runtime.reason import messages_for

from .reasoning import Record
from .tasks import Problem


@dataclass
class SlowRecord:
    problem_id: str
    answer: str | None
    correct: bool
    prompt_tokens: int | None  # the server's usage; None where it reports none (or failed)
    completion_tokens: int | None
    seconds: float  # wall time of the request, a failed one included
    model: str | None
    error: str | None = None  # why the slow path gave nothing (the problem's slow answer counts as wrong)


def ask_problems(slow: SlowPath, problems: Sequence[Problem], *, shots: Sequence[tuple[str, str]],
                 on_record: Callable[[SlowRecord], None] | None = None) -> list[SlowRecord]:
    """The slow path's answer to each problem, graded like the fast path's; one SlowRecord each, in order.

    Raises:
        UsageError: every request failed (nothing to compare with; the fix is the URL or the server).
    """
    records = []
    for p in problems:
        start = perf_counter()
        try:
            got = ask(slow, messages_for(p.question, kind=p.kind, choices=p.choices, shots=shots), kind=p.kind,
                      num_choices=len(p.choices))
            record = SlowRecord(p.id, got.answer, same_answer(got.answer, p.answer), got.prompt_tokens,
                                got.completion_tokens, got.seconds, got.model)
        except SlowPathError as e:
            record = SlowRecord(p.id, None, False, None, None, perf_counter() - start, slow.model, str(e))
        records.append(record)
        if on_record:
            on_record(record)
    if records and all(r.error for r in records):
        raise UsageError(f"the slow path failed on all {len(records)} problems ({records[0].error}): check "
                              "--escalate-to and that the server is up")
    return records


def slow_summary(records: Sequence[SlowRecord]) -> dict:
    """Always-slow accuracy and cost per problem (failed requests: wrong, 0 tokens, their wall time)."""
    return {"n": len(records), "accuracy": float(np.mean([r.correct for r in records])),
            "failed": sum(r.error is not None for r in records),
            "tokens_per_problem": _tokens_per_problem(records, np.ones(len(records), bool)),
            "prompt_tokens_per_problem": _tokens_per_problem(records, np.ones(len(records), bool), "prompt_tokens"),
            "seconds_per_problem": float(np.mean([r.seconds for r in records])),
            "model": next((r.model for r in records if r.model), None)}


def _tokens_per_problem(records: Sequence[SlowRecord], escalated: np.ndarray,
                        key: str = "completion_tokens") -> float | None:
    """Slow-path tokens per problem (over all problems) when `escalated` go to it; None when a reply that counts
    came without usage (the server reports none)."""
    counts = [getattr(r, key) for r, e in zip(records, escalated, strict=True) if e and r.error is None]
    if any(c is None for c in counts):
        return None
    return float(sum(counts)) / max(1, len(records))


def _point(escalated: np.ndarray, fast: np.ndarray, slow: np.ndarray, records: Sequence[SlowRecord],
           threshold: float | None) -> dict:
    """Accuracy of the cascade that escalates `escalated`, random routing at the same share, and the cost."""
    r = float(escalated.mean())
    accuracy = float(np.where(escalated, slow, fast).mean())
    random = (1 - r) * float(fast.mean()) + r * float(slow.mean())
    return {"threshold": threshold, "escalated": r, "accuracy": accuracy, "random": random,
            "gain": accuracy - random, "slow_tokens_per_problem": _tokens_per_problem(records, escalated),
            "slow_seconds_per_problem": float(np.sum([s.seconds for s, e in zip(records, escalated, strict=True)
                                                      if e])) / len(records)}


def thresholds(p: np.ndarray) -> list[float]:
    """Every accept threshold that escalates a different set (escalate when p < t): 0 (none), each P(correct)
    value, and just above the largest (all)."""
    top = float(np.nextafter(max(float(p.max()), 0.0), np.inf))
    return sorted({0.0, *(float(v) for v in p), top})


def cascade(fast_records: Sequence[Record], slow_records: Sequence[SlowRecord], *,
            decision_threshold: float | None = None) -> dict:
    """The sweep, the named points and where the cascade beats random routing, for one run (`decision_threshold`:
    the calibrator's, or the uncalibrated one, shown with the run's own decisions).

    Returns {"curve": [point...], "points": {"always fast", "always slow", "decisions", "best"}, "summary"}; a point
    is `_point`'s dict.
    """
    ids = [r.problem_id for r in fast_records]
    if ids != [s.problem_id for s in slow_records]:
        raise EdgeReasonError("internal: the fast and slow records are not the same problems in the same order")
    p = np.asarray([r.p_correct for r in fast_records], dtype=float)
    fast = np.asarray([r.correct for r in fast_records], dtype=float)
    slow = np.asarray([s.correct for s in slow_records], dtype=float)
    curve = []
    for t in thresholds(p):  # nested sets: a threshold that escalates no more than the last adds no point
        point = _point(p < t, fast, slow, slow_records, t)
        if not curve or point["escalated"] > curve[-1]["escalated"]:
            curve.append(point)
    decided = np.asarray([r.decision == "escalate" for r in fast_records])
    gains = np.asarray([c["gain"] for c in curve])
    inner = [c for c in curve if 0 < c["escalated"] < 1]
    points = {"always fast": _point(np.zeros(len(p), bool), fast, slow, slow_records, 0.0),
              "always slow": _point(np.ones(len(p), bool), fast, slow, slow_records, curve[-1]["threshold"]),
              "decisions": _point(decided, fast, slow, slow_records, decision_threshold),
              "best": curve[int(np.argmax(gains))]}
    summary = {"accuracy_fast": float(fast.mean()), "accuracy_slow": float(slow.mean()),
               "max_gain": float(gains.max()), "max_gain_escalated": points["best"]["escalated"],
               "max_gain_threshold": points["best"]["threshold"],
               # the area between the curves over r in [0, 1] (both run from always-fast to always-slow): the mean
               # gain over escalation rates, the cascade's curve interpolated linearly between its points
               "area_vs_random": float(np.trapezoid(gains, [c["escalated"] for c in curve])),
               "rates_beating_random": sum(c["gain"] > 0 for c in inner), "rates_swept": len(inner),
               "decisions_escalated": points["decisions"]["escalated"],
               "decisions_accuracy": points["decisions"]["accuracy"],
               "decisions_gain": points["decisions"]["gain"],
               "slow_failed": sum(s.error is not None for s in slow_records)}
    return {"curve": curve, "points": points, "summary": summary}


# The named points; "decisions" escalates what the run escalated (P(correct) below the calibrator's threshold, or no
# answer, or routed before decoding); "best" is the sweep's largest gain over random routing, picked in hindsight.
POLICIES = {"always fast": "always fast", "always slow": "always slow", "decisions": "its decisions",
            "best": "best t (hindsight)"}


def table_rows(run: str, result: dict, calibrated: bool) -> list[dict]:
    """The named points of one run as table rows."""
    rows = []
    for key, label in POLICIES.items():
        point = result["points"][key]
        policy = label if key != "decisions" or calibrated else label + " (uncalibrated)"
        rows.append({"run": run, "policy": policy, **point,
                     "slow_failed": result["summary"]["slow_failed"] if key == "always slow" else None})
    return rows


def verdict(run: str, result: dict) -> str:
    """One sentence: where and by how much the cascade beats random routing."""
    s = result["summary"]
    at = s["max_gain_threshold"]
    return (f"{run}: beats random routing at {s['rates_beating_random']} of {s['rates_swept']} escalation rates "
            f"strictly between 0 and 1; at most by {s['max_gain']:+.3f} accuracy (escalating "
            f"{s['max_gain_escalated']:.0%}, P(correct) < {at:.3f}); area between the curves "
            f"{s['area_vs_random']:+.4f} (the mean gain over escalation rates 0–100%); the run's decisions escalate "
            f"{s['decisions_escalated']:.0%} for {s['decisions_accuracy']:.3f} accuracy ({s['decisions_gain']:+.3f} "
            f"vs random); the slow path failed on {s['slow_failed']} problem(s), counted wrong.")


def record_json(record: SlowRecord) -> dict:
    return asdict(record)
