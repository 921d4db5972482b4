"""The cascade benchmark: the analysis on hand-made records (exact numbers), and `bench reason --escalate-to`
end to end against a real loopback slow server (tests/slow_servers.py: a fixed reply; the slow path is not what
is under test here) and against a dead one."""

import json

import numpy as np
import pytest
from helpers import assert_one_line_error, cli
from slow_servers import dead_url, slow_server

from edgereason.bench.cascade import (
    SlowRecord,
    ask_problems,
    attach_slow,
    cascade,
    level_points,
    random_routing,
    table_rows,
    thresholds,
)
from edgereason.bench.reasoning import Record, record_json
from edgereason.bench.tasks import load_task
from edgereason.errors import EdgeReasonError, UsageError
from edgereason.runtime.answers import AnswerKind, same_answer
from edgereason.runtime.spec import default_spec

FIXED = "The answer is 42."


def record(i: int, p: float, correct: bool, decision: str = "accept", seconds: float = 0.5) -> Record:
    return Record(problem_id=f"q{i}", answer="1", reference="1" if correct else "2", correct=correct, p_correct=p,
                  decision=decision, tokens=10, tool_tokens=0, probe_tokens=0, arith_seconds=0.0, traces=1,
                  aborted=0, settled=False, seconds=seconds, features={}, num_steps=1)


def slow(i: int, correct: bool, tokens: int | None, seconds: float, error: str | None = None) -> SlowRecord:
    return SlowRecord(f"q{i}", None if error else "1", correct, 50, tokens, seconds, "big", error)


def four() -> list[Record]:
    """p 0.9 / 0.7 / 0.4 / 0.2; fast right, wrong, right, wrong (0.5); slow right, right, failed, right (0.75);
    the run escalated only the last (its threshold 0.3)."""
    records = [record(0, 0.9, True), record(1, 0.7, False), record(2, 0.4, True),
               record(3, 0.2, False, decision="escalate")]
    attach_slow(records, [slow(0, True, 10, 1.0), slow(1, True, 20, 2.0), slow(2, False, None, 4.0, "HTTP 500"),
                          slow(3, True, 30, 3.0)])
    return records


def test_the_sweep_on_four_records():
    result = cascade(four(), decision_threshold=0.3)
    curve = result["curve"]
    # t = 0.2 escalates nothing more than t = 0: one point per share
    assert [c["threshold"] for c in curve[:-1]] == [0.0, 0.4, 0.7, 0.9] and curve[-1]["threshold"] > 0.9
    assert [c["escalated"] for c in curve] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert [c["accuracy"] for c in curve] == [0.5, 0.75, 0.5, 0.75, 0.75]  # the failed request counts wrong
    assert [c["random"] for c in curve] == pytest.approx([0.5, 0.5625, 0.625, 0.6875, 0.75])
    assert [c["gain"] for c in curve] == pytest.approx([0.0, 0.1875, -0.125, 0.0625, 0.0])
    # tokens: the answered escalated ones over all 4 problems (the failed request has none)
    assert [c["slow_tokens_per_problem"] for c in curve] == [0.0, 7.5, 7.5, 12.5, 15.0]
    # time: the fast path always ran (0.5 s each), plus the slow path's seconds where escalated
    assert [c["seconds_per_problem"] for c in curve] == pytest.approx([0.5, 1.25, 2.25, 2.75, 3.0])
    assert [c["slow_failed"] for c in curve] == [0, 0, 1, 1, 1]


def test_the_summary_and_the_named_points():
    result = cascade(four(), decision_threshold=0.3)
    s, points = result["summary"], result["points"]
    assert (s["accuracy_fast"], s["accuracy_slow"]) == (0.5, 0.75)
    assert points["always fast"]["escalated"] == 0.0 and points["always slow"]["escalated"] == 1.0
    decisions = points["decisions"]
    assert (decisions["threshold"], decisions["escalated"], decisions["accuracy"]) == (0.3, 0.25, 0.75)
    assert decisions["random"] == pytest.approx(0.5625) and s["decisions_gain"] == pytest.approx(0.1875)
    assert s["max_gain"] == pytest.approx(0.1875) and (s["max_gain_escalated"], s["max_gain_threshold"]) == (0.25, 0.4)
    # trapezoid of the gain over r: 0.25 * ((0 + .1875) + (.1875 - .125) + (-.125 + .0625) + (.0625 + 0)) / 2
    assert s["area_vs_random"] == pytest.approx(1 / 32)
    assert (s["rates_beating_random"], s["rates_swept"]) == (2, 3)
    assert (s["slow_failed"], s["slow_failed_share"]) == (1, 0.25)


def test_the_random_line_is_exact():
    assert random_routing(0.0, 0.4, 0.9) == 0.4 and random_routing(1.0, 0.4, 0.9) == 0.9
    assert random_routing(0.3, 0.4, 0.9) == pytest.approx(0.7 * 0.4 + 0.3 * 0.9)


def test_the_table_shows_the_nearest_point_to_each_share_once():
    result = cascade(four(), decision_threshold=0.3)
    # 10% is nearest the 0% point, already shown: skipped
    assert [(p["level"], p["escalated"]) for p in result["levels"]] == [(0.0, 0.0), (0.25, 0.25), (0.5, 0.5),
                                                                        (0.75, 0.75), (1.0, 1.0)]
    rows = table_rows("greedy", result, calibrated=False)
    assert [r["policy"] for r in rows] == ["always fast", "r ≈ 25%", "r ≈ 50%", "r ≈ 75%", "always slow",
                                           "its decisions (uncalibrated)", "best t (hindsight)"]
    assert rows[-1]["escalated"] == 0.25 and all(r["run"] == "greedy" for r in rows)
    curve = [{"escalated": r} for r in (0.0, 0.3, 0.6, 1.0)]
    assert [(p["level"], p["escalated"]) for p in level_points(curve, (0.0, 0.25, 0.5, 1.0))] == [
        (0.0, 0.0), (0.25, 0.3), (0.5, 0.6), (1.0, 1.0)]
    # a two-point sweep (every P(correct) equal): 0.5 ties (the lower share), 0.75 picks r = 1, named by 1.0
    ends = [{"escalated": 0.0}, {"escalated": 1.0}]
    assert [p["level"] for p in level_points(ends)] == [0.0, 1.0]


def test_thresholds_cover_every_set():
    assert thresholds(np.array([0.5, 0.2, 0.5])) == [0.0, 0.2, 0.5, float(np.nextafter(0.5, 1))]


def test_tokens_are_unknown_when_the_server_reports_no_usage():
    records = [record(0, 0.9, True), record(1, 0.1, False)]
    attach_slow(records, [slow(0, True, 10, 1.0), slow(1, True, None, 1.0)])  # answered, without usage
    curve = cascade(records)["curve"]
    assert [c["slow_tokens_per_problem"] for c in curve] == [0.0, None, None]


def test_records_without_the_slow_path_still_serialize_and_are_refused_by_the_cascade():
    plain = record(0, 0.5, True)
    assert {k: v for k, v in record_json(plain).items() if k.startswith("slow_")} == {
        "slow_answer": None, "slow_correct": None, "slow_tokens": None, "slow_seconds": None, "slow_error": None}
    with pytest.raises(EdgeReasonError, match="attach_slow"):
        cascade([plain])
    with pytest.raises(EdgeReasonError, match="same problems"):
        attach_slow([plain], [slow(1, True, 1, 1.0)])


def test_ask_problems_counts_failures_and_stops_only_when_all_fail():
    from edgereason.runtime.escalate import SlowPath

    problems = load_task("builtin", n=2, seed=2)
    with slow_server(content=lambda body: None if body["messages"][-1]["content"] == problems[0].question
                     else FIXED) as server:
        got = ask_problems(SlowPath(server.url), problems, spec=default_spec().with_shots(AnswerKind.MATH, ()))
    assert got[0].error.startswith("HTTP 500") and not got[0].correct and got[0].seconds > 0
    assert (got[1].answer, got[1].error, got[1].completion_tokens) == ("42", None, 17)
    url = dead_url()
    with pytest.raises(UsageError, match=f"failed on all 2 problems .* --escalate-to {url}/v1 "):
        ask_problems(SlowPath(url), problems, spec=default_spec())


def test_bench_reason_cascade_end_to_end(roomy, tmp_path):
    n = 4
    with slow_server(content=FIXED) as server:
        proc = cli("bench", "reason", str(roomy), "--task", "builtin", "--n", str(n), "--strategy",
                   "greedy,early-exit", "--max-new-tokens", "8", "--escalate-to", server.url, "-o", str(tmp_path))
        assert len(server.requests) == n  # once per problem, shared by both runs
    assert proc.returncode == 0, proc.stderr
    assert "Cascade" in proc.stdout and "always slow" in proc.stdout and "s/problem" in proc.stdout
    (path,) = tmp_path.glob("*/results.json")
    report = json.loads(path.read_text())
    cascade_json = report["cascade"]
    assert cascade_json["slow"]["failed"] == 0 and cascade_json["slow_path"]["model"] == "big-model"
    for name, run in report["strategies"].items():
        records = run["records"]
        for r in records:  # the slow fields, in every run's records
            assert (r["slow_answer"], r["slow_tokens"], r["slow_error"]) == ("42", 17, None)
            assert r["slow_correct"] == same_answer("42", r["reference"]) and r["slow_seconds"] > 0
        result = cascade_json["runs"][name]
        curve, points, s = result["curve"], result["points"], result["summary"]
        p = np.array([r["p_correct"] for r in records])
        acc_fast, acc_slow = run["summary"]["accuracy"], np.mean([r["slow_correct"] for r in records])
        assert points["always fast"]["accuracy"] == s["accuracy_fast"] == acc_fast  # the bench's own accuracy
        assert s["accuracy_slow"] == pytest.approx(acc_slow)
        assert (curve[0]["threshold"], curve[0]["escalated"]) == (0.0, 0.0)
        assert curve[-1]["threshold"] > p.max() and curve[-1]["escalated"] == 1.0
        for c in curve:
            assert c["escalated"] == pytest.approx(np.mean(p < c["threshold"]))
            assert c["random"] == pytest.approx((1 - c["escalated"]) * acc_fast + c["escalated"] * acc_slow)
            assert c["gain"] == pytest.approx(c["accuracy"] - c["random"])
        assert curve[0]["seconds_per_problem"] == pytest.approx(run["summary"]["seconds_per_problem"])
        assert curve[-1]["slow_tokens_per_problem"] == 17.0
        assert points["decisions"]["escalated"] == pytest.approx(np.mean([r["decision"] == "escalate"
                                                                          for r in records]))
        shown = [{k: v for k, v in point.items() if k != "level"} for point in result["levels"]]
        assert shown[0] == curve[0] and shown[-1] == curve[-1] and all(point in curve for point in shown)
        assert s["area_vs_random"] == pytest.approx(np.trapezoid([c["gain"] for c in curve],
                                                                 [c["escalated"] for c in curve]))
    folder = path.parent
    md = (folder / "report.md").read_text()
    assert (folder / "cascade.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "](cascade.png)" in md
    assert "## Cascade" in md and "| always fast |" in md and "| always slow |" in md and "its decisions" in md


def test_bench_reason_stops_when_the_slow_path_is_dead(roomy, tmp_path):
    url = dead_url()
    proc = cli("bench", "reason", str(roomy), "--n", "2", "--strategy", "greedy", "--max-new-tokens", "4",
               "--escalate-to", url, "-o", str(tmp_path))
    assert_one_line_error(proc, 2, f"the slow path failed on all 2 problems (connection refused at {url}/v1")
    assert f"--escalate-to {url}/v1 and that the server is up" in proc.stderr
    assert not list(tmp_path.glob("*/results.json"))
