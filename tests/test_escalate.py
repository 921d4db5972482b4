"""Escalation to a slow path over the OpenAI API: the client, the cascade (`solve_with_escalation`), `solve
--escalate-to`, `bench reason --escalate-to`, and a fast `edgereason serve` escalating to a slow one. Every slow
path is a real server on loopback (tests/slow_servers.py); nothing on the wire is mocked."""

import dataclasses
import json
import time

import httpx2
import numpy as np
import openai
import pytest
from helpers import assert_one_line_error, calibrated_spec, cli, constant_pik_calibrator
from slow_servers import REPLY, dead_url, slow_server

from edgereason.bench.serving import launched as served
from edgereason.bench.tasks import load_task
from edgereason.errors import SettingError
from edgereason.quant.recipes import Format, RecipeName
from edgereason.runtime import open_model
from edgereason.runtime.answers import AnswerKind
from edgereason.runtime.escalate import SlowPath, SlowPathError, ask, escalate, solve_with_escalation
from edgereason.runtime.reason import SolveConfig, Strategy, solve
from edgereason.runtime.spec import default_spec

QUESTION = "Tom has 40 marbles and finds 2 more. How many marbles does he have?"
MESSAGES = default_spec().messages(QUESTION, kind=AnswerKind.MATH)
GREEDY = SolveConfig(strategy=Strategy.GREEDY, max_new_tokens=8)
GREEDY_SPEC = default_spec(GREEDY)


def test_ask_reads_the_answer_with_the_fast_path_s_rules():
    with slow_server() as slow:
        got = ask(SlowPath(slow.url), MESSAGES, kind=AnswerKind.MATH, num_choices=0)
        assert (got.answer, got.text, got.model) == ("42", REPLY, "big-model")
        assert (got.prompt_tokens, got.completion_tokens) == (50, 17) and got.seconds > 0
        sent = slow.requests[-1]
        assert sent["messages"] == MESSAGES and sent["temperature"] == 0 and sent["model"] == "big-model"
        assert sent["stream"] is False and sent["max_tokens"] == SolveConfig().max_new_tokens
        assert slow.auth[-1] is None  # no key, no header
        with_v1 = ask(SlowPath(slow.url + "/v1/", model="named", api_key="sk-1", max_tokens=9), MESSAGES,
                      kind=AnswerKind.MATH, num_choices=0)
        assert with_v1.answer == "42" and slow.requests[-1]["model"] == "named"
        assert slow.requests[-1]["max_tokens"] == 9 and slow.auth[-1] == "Bearer sk-1"
    with slow_server(content="I think the answer is (C).") as slow:
        assert ask(SlowPath(slow.url), MESSAGES, kind=AnswerKind.CHOICE, num_choices=3).answer == "C"
    with slow_server("no-usage", models=False) as slow:  # lists no model, reports no usage
        got = ask(SlowPath(slow.url), MESSAGES, kind=AnswerKind.MATH, num_choices=0)
        assert slow.requests[-1]["model"] == "default" and (got.prompt_tokens, got.completion_tokens) == (None, None)
        assert SlowPath(slow.url).resolved().model is None
    with slow_server() as slow:
        assert SlowPath(slow.url).resolved().model == "big-model"
    assert SlowPath(dead_url()).resolved().model is None  # not reachable now: each ask tries again


@pytest.mark.parametrize(("mode", "words"), [
    ("malformed", "malformed reply: not JSON"),
    ("no-choices", r"malformed reply: no choices\[0\]\.message\.content"),
    ("error", r"HTTP 500 from http://127\.0\.0\.1:\d+/v1/chat/completions: out of memory"),
    ("busy", "HTTP 503 from .*: queue full"),
    ("hang", "no reply within 1 s"),
    ("trickle", "no reply within 1 s"),
])
def test_a_broken_slow_path_is_a_reason_not_a_crash(mode, words):
    start = time.perf_counter()
    with slow_server(mode) as slow, pytest.raises(SlowPathError, match=words) as e:
        ask(SlowPath(slow.url, model="m", timeout=1.0), MESSAGES, kind=AnswerKind.MATH, num_choices=0)
    assert time.perf_counter() - start < 5 and "\n" not in str(e.value)
    assert len(slow.requests) == 1  # never retried


def test_down_or_answerless_slow_paths():
    with slow_server(content="I am not sure.") as slow, pytest.raises(SlowPathError, match="no answer in its reply"):
        ask(SlowPath(slow.url), MESSAGES, kind=AnswerKind.MATH, num_choices=0)
    url = dead_url()
    with pytest.raises(SlowPathError, match=f"^connection refused at {url}/v1/chat/completions$"):
        ask(SlowPath(url), MESSAGES, kind=AnswerKind.MATH, num_choices=0)


def test_slow_path_settings_are_checked():
    for bad in ("ftp://host", "localhost:8080", "http://", "http://host:99999", "http://host/v1?x=1"):
        with pytest.raises(SettingError) as e:
            SlowPath(bad)
        assert e.value.fields == ("url",)
    for field, value in (("timeout", 0), ("timeout", float("nan")), ("max_tokens", 0), ("model", " ")):
        with pytest.raises(SettingError) as e:
            SlowPath("http://127.0.0.1:1", **{field: value})
        assert e.value.fields == (field,)
    assert SlowPath("https://h:8/v1/").base == SlowPath("https://h:8").base == "https://h:8/v1"


@pytest.fixture(scope="module")
def tiny(roomy):
    """tiny-random .onnx: random weights have no confidence, so every decision is escalate."""
    return open_model(roomy)


def test_escalate_answers_from_the_slow_path_or_keeps_the_fast_one(tiny):
    fast = solve(tiny.backend, tiny.text, QUESTION, spec=GREEDY_SPEC)
    assert fast.decision == "escalate"
    with slow_server() as slow:
        done = escalate(SlowPath(slow.url), fast, MESSAGES, kind=AnswerKind.MATH, num_choices=0)
        accepted = escalate(SlowPath(slow.url), dataclasses.replace(fast, decision="accept"), MESSAGES,
                            kind=AnswerKind.MATH, num_choices=0)
        assert len(slow.requests) == 1  # an accepted answer is not sent
    assert (done.path, done.answer, done.decision, done.failed) == ("slow", "42", "escalated", False)
    assert (accepted.path, accepted.decision, accepted.slow) == ("fast", "accept", None)
    assert done.to_json()["fast_answer"] == fast.answer and done.to_json()["slow"]["completion_tokens"] == 17
    down = escalate(SlowPath(dead_url()), fast, MESSAGES, kind=AnswerKind.MATH, num_choices=0)
    assert down.path == "fast" and down.answer == fast.answer and down.failed
    assert down.decision.startswith("escalate (slow path unavailable: connection refused at http://127.0.0.1:")
    assert down.to_json()["slow_error"].startswith("connection refused")
    unset = escalate(None, fast, MESSAGES, kind=AnswerKind.MATH, num_choices=0)
    assert (unset.decision, unset.path, unset.failed) == ("escalate", "fast", False)


def test_solve_with_escalation_sends_the_fast_path_s_own_prompt(tiny):
    shots = [("What is 1 + 1?", "1 + 1 = 2. The answer is 2.")]
    choices = ("A. 41", "B. 42", "C. 43")
    spec = GREEDY_SPEC.with_shots(AnswerKind.CHOICE, shots)
    with slow_server(content="Forty and two make 42, so the answer is (B).") as slow:
        done = solve_with_escalation(tiny.backend, tiny.text, QUESTION, slow=SlowPath(slow.url), spec=spec,
                                     kind=AnswerKind.CHOICE, choices=choices)
        sent = slow.requests[-1]["messages"]
        assert sent == spec.messages(QUESTION, kind=AnswerKind.CHOICE, choices=choices)
        assert sent[1:3] == [{"role": "user", "content": shots[0][0]}, {"role": "assistant", "content": shots[0][1]}]
        assert sent[-1]["content"] == QUESTION + "\nA. 41\nB. 42\nC. 43"
    assert (done.answer, done.path, done.fast.decision) == ("B", "slow", "escalate")
    without = solve_with_escalation(tiny.backend, tiny.text, QUESTION, slow=None, spec=GREEDY_SPEC)
    assert without.decision == "escalate" and without.slow is None


def test_routed_before_decoding_goes_to_the_slow_path(tiny):
    tiny.backend.prefill([1, 2])
    cal = constant_pik_calibrator(len(tiny.backend.hidden), tiny.model_sha256, pik_logit=-6.0, route_threshold=0.05)
    config = dataclasses.replace(GREEDY, route_before_decode=True)
    with slow_server() as slow:
        done = solve_with_escalation(tiny.backend, tiny.text, QUESTION, slow=SlowPath(slow.url),
                                     spec=calibrated_spec(cal, config))
    assert done.fast.routed and done.fast.tokens_generated == 0
    assert (done.decision, done.answer) == ("escalated", "42")


def _solve(folder, *args):
    return cli("solve", str(folder), QUESTION, "--strategy", "greedy", "--shots", "none", "--max-new-tokens", "8",
               *args)


def test_solve_escalate_to_exit_codes_and_table(roomy, monkeypatch):
    monkeypatch.setenv("EDGEREASON_ESCALATE_API_KEY", "sk-test")
    with slow_server() as slow:
        proc = _solve(roomy, "--escalate-to", slow.url)
        assert slow.auth == ["Bearer sk-test"] and "sk-test" not in proc.stdout + proc.stderr
    assert proc.returncode == 0, proc.stderr
    assert "42 (slow path; fast path:" in proc.stdout and "escalated" in proc.stdout
    for row in ("answered by", "slow path", "fast path", "big-model", "17 tok (+50 prompt)", "(fast) +"):
        assert row in proc.stdout, row
    assert "warning" not in proc.stderr
    monkeypatch.delenv("EDGEREASON_ESCALATE_API_KEY")
    with slow_server("hang") as slow:
        proc = _solve(roomy, "--escalate-to", slow.url, "--escalate-timeout", "1")
    assert proc.returncode == 3, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "slow path unavailable (no reply within 1 s" in warnings[0]
    assert warnings[0].endswith("the fast answer is kept") and "error:" not in proc.stderr
    assert "escalate (slow path unavailable: no reply within 1 s" in proc.stdout and "answered by" in proc.stdout


@pytest.mark.parametrize(("mode", "words"), [("dead", "connection refused at"), ("malformed", "not JSON"),
                                             ("error", "HTTP 500")])
def test_solve_keeps_the_fast_answer_when_the_slow_path_fails(roomy, mode, words):
    with slow_server("ok" if mode == "dead" else mode) as slow:
        proc = _solve(roomy, "--escalate-to", dead_url() if mode == "dead" else slow.url)
    assert proc.returncode == 3, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and words in warnings[0] and "Traceback" not in proc.stderr
    assert "slow path unavailable" in proc.stdout and "fast path" in proc.stdout


def test_bad_escalation_flags_are_usage_errors_before_the_model_loads(tmp_path):
    missing = tmp_path / "no-such-artifact"  # the flags are checked first: the folder is never opened
    for url in ("ftp://x", "localhost:8080", "http://", "http://h:123456"):
        assert_one_line_error(_solve(missing, "--escalate-to", url), 2, "--escalate-to")
    assert_one_line_error(_solve(missing, "--escalate-to", "http://h", "--escalate-timeout", "0"), 2,
                          "--escalate-timeout must be a positive number of seconds")
    assert_one_line_error(_solve(missing, "--escalate-model", "m"), 2, "--escalate-model needs --escalate-to")
    assert_one_line_error(cli("bench", "reason", str(missing), "--escalate-to", "ftp://x", "-o", str(tmp_path)), 2,
                          "--escalate-to")


def test_bench_reason_cascade(roomy, tmp_path):
    problems = load_task("builtin", n=3, seed=2)
    # The slow path's fixed replies, per question: right, refused (HTTP 500), wrong.
    replies = {p.question: text for p, text in zip(problems, (
        f"The answer is {problems[0].answer}.", None, f"The answer is {int(problems[2].answer) + 1}."), strict=True)}
    with slow_server(content=lambda body: replies[body["messages"][-1]["content"]]) as slow:
        proc = cli("bench", "reason", str(roomy), "--task", "builtin", "--n", "3", "--strategy", "greedy",
                   "--max-new-tokens", "8", "--escalate-to", slow.url, "-o", str(tmp_path))
        assert len(slow.requests) == 3  # one request per problem, shared by every run
    assert proc.returncode == 0, proc.stderr
    assert "Cascade" in proc.stdout and "vs random" in proc.stdout and "beats random routing" in proc.stdout
    (path,) = tmp_path.glob("*/results.json")
    report = json.loads(path.read_text())
    fast = report["strategies"]["greedy"]
    cascade = report["cascade"]
    slow_records = cascade["records"]
    assert [r["problem_id"] for r in slow_records] == [r["problem_id"] for r in fast["records"]]
    assert [r["correct"] for r in slow_records] == [True, False, False]
    assert slow_records[1]["error"].startswith("HTTP 500") and slow_records[0]["completion_tokens"] == 17
    assert cascade["slow"]["accuracy"] == pytest.approx(1 / 3) and cascade["slow"]["failed"] == 1
    run = cascade["runs"]["greedy"]
    curve, points, summary = run["curve"], run["points"], run["summary"]
    p = np.array([r["p_correct"] for r in fast["records"]])
    y_fast = np.array([r["correct"] for r in fast["records"]], dtype=float)
    y_slow = np.array([r["correct"] for r in slow_records], dtype=float)
    acc_fast, acc_slow = fast["summary"]["accuracy"], 1 / 3
    assert points["always fast"]["accuracy"] == summary["accuracy_fast"] == acc_fast
    assert points["always slow"]["accuracy"] == pytest.approx(acc_slow)
    assert (curve[0]["threshold"], curve[0]["escalated"]) == (0.0, 0.0)
    assert curve[-1]["threshold"] > p.max() and curve[-1]["escalated"] == 1.0
    assert [c["escalated"] for c in curve] == sorted({c["escalated"] for c in curve})  # one point per share
    for c in curve:
        escalated = p < c["threshold"]
        assert c["escalated"] == pytest.approx(escalated.mean())
        assert c["accuracy"] == pytest.approx(np.where(escalated, y_slow, y_fast).mean())
        r = c["escalated"]
        assert c["random"] == pytest.approx((1 - r) * acc_fast + r * acc_slow)
        assert c["gain"] == pytest.approx(c["accuracy"] - c["random"])
        answered = escalated & (np.arange(3) != 1)  # problem 1's request failed: no tokens
        assert c["slow_tokens_per_problem"] == pytest.approx(17 * answered.sum() / 3)
    decided = np.array([r["decision"] == "escalate" for r in fast["records"]])
    assert points["decisions"]["escalated"] == pytest.approx(decided.mean())
    assert points["decisions"]["threshold"] == 0.5  # uncalibrated: the raw-confidence threshold
    assert summary["max_gain"] == max(c["gain"] for c in curve) and summary["slow_failed"] == 1
    gains, shares = [c["gain"] for c in curve], [c["escalated"] for c in curve]
    assert summary["area_vs_random"] == pytest.approx(np.trapezoid(gains, shares))
    folder = path.parent
    md = (folder / "report.md").read_text()
    assert (folder / "cascade.png").read_bytes()[:4] == b"\x89PNG" and "](cascade.png)" in md
    assert "## Cascade" in md and "always slow" in md and "failed on 1 problem" in md
    assert "cascade_area_vs_random" in (folder / "results.csv").read_text().splitlines()[0]


def test_bench_reason_stops_when_every_slow_request_fails(roomy, tmp_path):
    proc = cli("bench", "reason", str(roomy), "--n", "2", "--strategy", "greedy", "--max-new-tokens", "4",
               "--escalate-to", dead_url(), "-o", str(tmp_path))
    assert_one_line_error(proc, 2, "the slow path failed on all 2 problems (connection refused at")
    assert not list(tmp_path.glob("*/results.json"))


def test_a_fast_server_escalates_to_a_slow_server(roomy, tiny_artifacts):
    body = {"messages": [{"role": "user", "content": QUESTION}], "max_tokens": 8,
            "extra_body": {"edgereason": {"solve": True, "shots": "none", "strategy": "greedy"}}}
    with slow_server() as slow, served(roomy, "--escalate-to", slow.url, "--threads", "1") as fast:
        r = openai.OpenAI(base_url=fast.v1, api_key="-", max_retries=0).chat.completions.create(model=fast.model,
                                                                                                 **body)
        solved = r.model_extra["edgereason"]["solve"]
        assert (solved["path"], solved["answer"], solved["decision"]) == ("slow", "42", "escalated")
        assert r.choices[0].message.content == REPLY and solved["fast"]["decision"] == "escalate"
        assert 'edgereason_escalations_total{outcome="answered"} 1' in httpx2.get(fast.url + "/metrics").text
    # The slow path is another `edgereason serve`; when it is gone, the fast answer is kept, marked.
    with served(tiny_artifacts[Format.ONNX, RecipeName.FP32], "--threads", "1") as big:
        url = big.url
        with served(roomy, "--escalate-to", url, "--escalate-timeout", "30", "--threads", "1") as fast:
            solved = openai.OpenAI(base_url=fast.v1, api_key="-", max_retries=0).chat.completions.create(
                model=fast.model, **body).model_extra["edgereason"]["solve"]
            # tiny-random writes no answer: the slow server answered over the API, and its reply had none.
            assert solved["decision"] == "escalated" or solved["slow_error"].startswith("no answer in its reply")
    with served(roomy, "--escalate-to", url, "--escalate-timeout", "5", "--threads", "1") as fast:  # `big` has stopped
        solved = openai.OpenAI(base_url=fast.v1, api_key="-", max_retries=0).chat.completions.create(
            model=fast.model, **body).model_extra["edgereason"]["solve"]
        assert solved["path"] == "fast"
        assert solved["decision"].startswith("escalate (slow path unavailable: connection refused at")
