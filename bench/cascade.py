"""The cascade benchmark: does the fast path's P(correct) pick the questions worth sending to the slow path?

`bench reason --escalate-to URL` asks the slow path every problem (with the fast path's own prompt), so the whole
trade-off is swept after the fact, with nothing decoded again: escalate when P(correct) < t, for every t that
changes the set. Each point is compared with routing the same share r at random, whose expected accuracy is
exactly (1 − r)·acc_fast + r·acc_slow (no sampling): the gap between the curves is what the confidence signal is
worth. The calibrated point is the decisions the run actually made (the calibrator's threshold, with its
no-answer rule; routed questions included).

A problem the slow path failed on (down, refused, timed out, garbage) counts as a wrong slow answer, and is
counted; the bench stops only when every request failed.

The slow path is asked once per problem (`ask_problems`: SlowRecords, shared by every run); `attach_slow` copies
its answers into each run's Records, and everything after that (`cascade`) is a pure function of the Records.
"""

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from time import perf_counter

import numpy as np

from edgereason.errors import EdgeReasonError, UsageError
from edgereason.runtime.escalate import SlowPath, SlowPathError, ask
from edgereason.runtime.spec import SolveSpec

from .grading import is_correct
from .reasoning import Record
from .tasks import Problem

R_LEVELS = (0.0, 0.1, 0.25, 0.5, 0.75, 1.0)  # the shares escalated the table shows (nearest point)


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


def ask_problems(slow: SlowPath, problems: Sequence[Problem], *, spec: SolveSpec,
                 on_record: Callable[[SlowRecord], None] | None = None) -> list[SlowRecord]:
    """The slow path's answer to each problem (asked with `spec`'s prompt, as the fast path), graded like the fast
    path's; one SlowRecord each, in order.

    Raises:
        UsageError: every request failed (nothing to compare with; the fix is the URL or the server).
    """
    records = []
    for p in problems:
        start = perf_counter()
        try:
            got = ask(slow, spec.messages(p.question, kind=p.kind, choices=p.choices), kind=p.kind,
                      num_choices=len(p.choices))
            record = SlowRecord(p.id, got.answer, is_correct(got.answer, p), got.prompt_tokens,
                                got.completion_tokens, got.seconds, got.model)
        except SlowPathError as e:
            record = SlowRecord(p.id, None, False, None, None, perf_counter() - start, slow.model, str(e))
        records.append(record)
        if on_record:
            on_record(record)
    if records and all(r.error for r in records):
        raise UsageError(f"the slow path failed on all {len(records)} problems ({records[0].error}): check "
                         f"--escalate-to {slow.base} and that the server is up")
    return records


def attach_slow(records: Sequence[Record], slow_records: Sequence[SlowRecord]) -> None:
    """Copy each problem's slow answer into its fast Record, so a run's records (and results.json's) carry the
    whole cascade.

    Raises:
        EdgeReasonError: the two lists are not the same problems in the same order (a bug).
    """
    if [r.problem_id for r in records] != [s.problem_id for s in slow_records]:
        raise EdgeReasonError("internal: the fast and slow records are not the same problems in the same order")
    for r, s in zip(records, slow_records, strict=True):
        r.slow_answer, r.slow_correct, r.slow_tokens = s.answer, s.correct, s.completion_tokens
        r.slow_seconds, r.slow_error = s.seconds, s.error


def slow_summary(records: Sequence[SlowRecord]) -> dict:
    """Always-slow accuracy and cost per problem (failed requests: wrong, 0 tokens, their wall time)."""
    ok = [r for r in records if r.error is None]
    return {"n": len(records), "accuracy": float(np.mean([r.correct for r in records])),
            "failed": len(records) - len(ok), "failed_share": 1 - len(ok) / max(1, len(records)),
            "tokens_per_problem": _per_problem([r.completion_tokens for r in ok], len(records)),
            "prompt_tokens_per_problem": _per_problem([r.prompt_tokens for r in ok], len(records)),
            "seconds_per_problem": float(np.mean([r.seconds for r in records])),
            "model": next((r.model for r in records if r.model), None)}


def _per_problem(counts: Sequence[int | None], n: int) -> float | None:
    """Tokens summed over the answered requests, per problem (over all n); None when a reply that counts came
    without usage (the server reports none)."""
    if any(c is None for c in counts):
        return None
    return float(sum(c for c in counts if c is not None)) / max(1, n)


def _point(escalated: np.ndarray, records: Sequence[Record], threshold: float | None) -> dict:
    """The cascade that escalates `escalated`: its accuracy, random routing at the same share, and the cost per
    problem (the fast path always runs; the slow path's tokens and seconds where escalated)."""
    fast = np.asarray([r.correct for r in records], dtype=float)
    slow = np.asarray([r.slow_correct for r in records], dtype=float)
    r = float(escalated.mean())
    accuracy = float(np.where(escalated, slow, fast).mean())
    random = random_routing(r, float(fast.mean()), float(slow.mean()))
    sent = [rec for rec, e in zip(records, escalated, strict=True) if e]
    slow_seconds = sum(rec.slow_seconds or 0.0 for rec in sent) / len(records)
    return {"threshold": threshold, "escalated": r, "accuracy": accuracy, "random": random,
            "gain": accuracy - random,
            "slow_tokens_per_problem": _per_problem([rec.slow_tokens for rec in sent if rec.slow_error is None],
                                                    len(records)),
            "slow_seconds_per_problem": slow_seconds,
            "seconds_per_problem": float(np.mean([rec.seconds for rec in records])) + slow_seconds,
            "slow_failed": sum(rec.slow_error is not None for rec in sent)}


def random_routing(r: float, accuracy_fast: float, accuracy_slow: float) -> float:
    """Expected accuracy of escalating a share r of the problems chosen at random (exact, no sampling)."""
    return (1 - r) * accuracy_fast + r * accuracy_slow


def thresholds(p: np.ndarray) -> list[float]:
    """Every accept threshold that escalates a different set (escalate when p < t): 0 (none), each P(correct)
    value, and just above the largest (all)."""
    top = float(np.nextafter(max(float(p.max()), 0.0), np.inf))
    return sorted({0.0, *(float(v) for v in p), top})


def sweep(records: Sequence[Record]) -> list[dict]:
    """One point per share escalated, from 0 (t = 0) to 1 (t above every P(correct)): the sets are nested, so a
    threshold that escalates no more than the last adds no point."""
    p = np.asarray([r.p_correct for r in records], dtype=float)
    curve: list[dict] = []
    for t in thresholds(p):
        point = _point(p < t, records, t)
        if not curve or point["escalated"] > curve[-1]["escalated"]:
            curve.append(point)
    return curve


def level_points(curve: Sequence[dict], levels: Sequence[float] = R_LEVELS) -> list[dict]:
    """The sweep point nearest each share in `levels` (a real threshold, not an interpolation; the lower share on
    a tie), each point once, named (`level`) by the nearest level that picked it: the ends, r = 0 and 1, keep
    their names however few points the sweep has."""
    named: dict[int, float] = {}
    for level in levels:
        i = int(np.argmin([abs(c["escalated"] - level) for c in curve]))
        if i not in named or abs(curve[i]["escalated"] - level) < abs(curve[i]["escalated"] - named[i]):
            named[i] = level
    return [{"level": named[i], **curve[i]} for i in sorted(named)]


def cascade(records: Sequence[Record], *, decision_threshold: float | None = None) -> dict:
    """The sweep, the named points and where the cascade beats random routing, for one run whose records carry
    the slow path's answers (`attach_slow`). `decision_threshold`: the calibrator's, or the uncalibrated one, shown
    with the run's own decisions.

    Returns {"curve": [point...], "levels": [point + "level"...], "points": {"always fast", "always slow",
    "decisions", "best"}, "summary"}; a point is `_point`'s dict.

    Raises:
        EdgeReasonError: no records, or a record without a slow answer (a bug).
    """
    if not records or any(r.slow_correct is None for r in records):
        raise EdgeReasonError("internal: the cascade needs records with the slow path's answers (attach_slow)")
    curve = sweep(records)
    decided = np.asarray([r.decision == "escalate" for r in records])
    gains = np.asarray([c["gain"] for c in curve])
    inner = [c for c in curve if 0 < c["escalated"] < 1]
    points = {"always fast": curve[0], "always slow": curve[-1],
              "decisions": _point(decided, records, decision_threshold), "best": curve[int(np.argmax(gains))]}
    failed = sum(r.slow_error is not None for r in records)
    summary = {"accuracy_fast": curve[0]["accuracy"], "accuracy_slow": curve[-1]["accuracy"],
               "max_gain": float(gains.max()), "max_gain_escalated": points["best"]["escalated"],
               "max_gain_threshold": points["best"]["threshold"],
               # the area between the curves over r in [0, 1] (both run from always-fast to always-slow): the mean
               # gain over escalation rates, the cascade's curve interpolated linearly between its points
               "area_vs_random": float(np.trapezoid(gains, [c["escalated"] for c in curve])),
               "rates_beating_random": sum(c["gain"] > 0 for c in inner), "rates_swept": len(inner),
               "decisions_escalated": points["decisions"]["escalated"],
               "decisions_accuracy": points["decisions"]["accuracy"],
               "decisions_random": points["decisions"]["random"],
               "decisions_gain": points["decisions"]["gain"],
               "slow_failed": failed, "slow_failed_share": failed / len(records)}
    return {"curve": curve, "levels": level_points(curve), "points": points, "summary": summary}


def table_rows(run: str, result: dict, calibrated: bool) -> list[dict]:
    """One run's table: the sweep at the R_LEVELS shares, the run's own decisions, and the best t in hindsight."""
    rows = [{"run": run, "policy": _level_name(p["level"]), **p} for p in result["levels"]]
    decisions = "its decisions" + ("" if calibrated else " (uncalibrated)")
    rows.append({"run": run, "policy": decisions, **result["points"]["decisions"]})
    rows.append({"run": run, "policy": "best t (hindsight)", **result["points"]["best"]})
    return rows


def _level_name(level: float) -> str:
    return {0.0: "always fast", 1.0: "always slow"}.get(level, f"r ≈ {level:.0%}")


def verdict(run: str, result: dict) -> str:
    """One sentence: where and by how much the cascade beats random routing."""
    s = result["summary"]
    at = s["max_gain_threshold"]
    return (f"{run}: beats random routing at {s['rates_beating_random']} of {s['rates_swept']} escalation rates "
            f"strictly between 0 and 1; at most by {s['max_gain']:+.3f} accuracy (escalating "
            f"{s['max_gain_escalated']:.0%}, P(correct) < {at:.3f}); area between the curves "
            f"{s['area_vs_random']:+.4f} (the mean gain over escalation rates 0–100%); the run's decisions escalate "
            f"{s['decisions_escalated']:.0%} for {s['decisions_accuracy']:.3f} accuracy ({s['decisions_gain']:+.3f} "
            f"vs random); the slow path failed on {s['slow_failed']} problem(s) ({s['slow_failed_share']:.0%}), "
            "counted wrong.")


def record_json(record: SlowRecord) -> dict:
    return asdict(record)
