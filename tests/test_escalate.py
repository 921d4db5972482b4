"""Escalation to a slow path over the OpenAI API: the client, `solve --escalate-to`, and a fast `edgereason serve`
escalating to a slow one. Every slow path is a real server on loopback."""

import httpx2
import openai
import pytest
from helpers import assert_one_line_error, cli
from slow_servers import REPLY, dead_url, slow_server

from edgereason.bench.serving import launched as served
from edgereason.errors import SettingError
from edgereason.quant.recipes import Format, RecipeName
from edgereason.runtime import open_model
from edgereason.runtime.answers import AnswerKind
from edgereason.runtime.escalate import SlowPath, SlowPathError, ask, escalate
from edgereason.runtime.reason import SolveConfig, Strategy, messages_for, solve

QUESTION = "Tom has 40 marbles and finds 2 more. How many marbles does he have?"
MESSAGES = messages_for(QUESTION, kind=AnswerKind.MATH)


def test_ask_reads_the_answer_with_the_fast_path_s_rules():
    with slow_server() as slow:
        got = ask(SlowPath(slow.url), MESSAGES, kind=AnswerKind.MATH, num_choices=0)
        assert (got.answer, got.text, got.model) == ("42", REPLY, "big-model")
        assert (got.prompt_tokens, got.completion_tokens) == (50, 17) and got.seconds > 0
        sent = slow.requests[-1]
        assert sent["messages"] == MESSAGES and sent["temperature"] == 0 and sent["model"] == "big-model"
        with_v1 = ask(SlowPath(slow.url + "/v1/", model="named"), MESSAGES, kind=AnswerKind.MATH, num_choices=0)
        assert with_v1.answer == "42" and slow.requests[-1]["model"] == "named"
    with slow_server(content="I think the answer is (C).") as slow:
        got = ask(SlowPath(slow.url), MESSAGES, kind=AnswerKind.CHOICE, num_choices=3)
        assert got.answer == "C"


@pytest.mark.parametrize(("mode", "words"), [
    ("malformed", "malformed reply: not JSON"), ("error", "HTTP 500"), ("hang", "no reply within 1 s"),
])
def test_a_broken_slow_path_is_a_reason_not_a_crash(mode, words):
    with slow_server(mode) as slow, pytest.raises(SlowPathError, match=words):
        ask(SlowPath(slow.url, model="m", timeout=1.0), MESSAGES, kind=AnswerKind.MATH, num_choices=0)
    with slow_server(content="I am not sure.") as slow, pytest.raises(SlowPathError, match="no answer in its reply"):
        ask(SlowPath(slow.url), MESSAGES, kind=AnswerKind.MATH, num_choices=0)
    with pytest.raises(SlowPathError, match="cannot connect"):
        ask(SlowPath(dead_url()), MESSAGES, kind=AnswerKind.MATH, num_choices=0)


def test_slow_path_settings_are_checked():
    for bad in ("ftp://host", "localhost:8080", "http://"):
        with pytest.raises(SettingError) as e:
            SlowPath(bad)
        assert e.value.fields == ("url",)
    with pytest.raises(SettingError) as e:
        SlowPath("http://127.0.0.1:1", timeout=0)
    assert e.value.fields == ("timeout",)


@pytest.fixture(scope="module")
def tiny(tiny_artifacts):
    """tiny-random .onnx: random weights write no answer, so every decision is escalate."""
    return open_model(tiny_artifacts[Format.ONNX, RecipeName.INT4])


def test_escalate_answers_from_the_slow_path_or_keeps_the_fast_one(tiny):
    config = SolveConfig(strategy=Strategy.GREEDY, max_new_tokens=8)
    fast = solve(tiny.backend, tiny.text, QUESTION, config=config)
    assert fast.decision == "escalate"
    with slow_server() as slow:
        done = escalate(SlowPath(slow.url), fast, MESSAGES, kind=AnswerKind.MATH, num_choices=0)
    assert (done.path, done.answer, done.decision, done.failed) == ("slow", "42", "escalated", False)
    assert done.to_json()["fast_answer"] == fast.answer and done.to_json()["slow"]["completion_tokens"] == 17
    down = escalate(SlowPath(dead_url()), fast, MESSAGES, kind=AnswerKind.MATH, num_choices=0)
    assert down.path == "fast" and down.answer == fast.answer and down.failed
    assert down.decision.startswith("escalate (slow path unavailable: cannot connect")
    assert escalate(None, fast, MESSAGES, kind=AnswerKind.MATH, num_choices=0).decision == "escalate"


def _solve(folder, *args):
    return cli("solve", str(folder), QUESTION, "--strategy", "greedy", "--shots", "none", "--max-new-tokens", "8",
               *args)


def test_solve_escalate_to_exit_codes(tiny_artifacts):
    folder = tiny_artifacts[Format.ONNX, RecipeName.INT4]
    with slow_server() as slow:
        proc = _solve(folder, "--escalate-to", slow.url)
    assert proc.returncode == 0, proc.stderr
    assert "42 (slow path" in proc.stdout and "escalated" in proc.stdout and "big-model" in proc.stdout
    with slow_server("hang") as slow:
        proc = _solve(folder, "--escalate-to", slow.url, "--escalate-timeout", "1")
    assert proc.returncode == 3, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "no reply within 1 s" in warnings[0] and "fast answer is kept" in warnings[0]
    assert "slow path unavailable" in proc.stdout
    assert_one_line_error(_solve(folder, "--escalate-to", "ftp://x"), 2, "--escalate-to")
    assert_one_line_error(_solve(folder, "--escalate-model", "m"), 2, "--escalate-to")


def test_a_fast_server_escalates_to_a_slow_server(roomy, tiny_artifacts):
    body = {"messages": [{"role": "user", "content": QUESTION}], "max_tokens": 8,
            "extra_body": {"edgereason": {"solve": True, "shots": "none", "strategy": "greedy"}}}
    with slow_server() as slow, served(roomy, "--escalate-to", slow.url) as fast:
        r = openai.OpenAI(base_url=fast.v1, api_key="-", max_retries=0).chat.completions.create(model=fast.model,
                                                                                                 **body)
        solved = r.model_extra["edgereason"]["solve"]
        assert (solved["path"], solved["answer"], solved["decision"]) == ("slow", "42", "escalated")
        assert r.choices[0].message.content == REPLY and solved["fast"]["decision"] == "escalate"
        assert 'edgereason_escalations_total{outcome="answered"} 1' in httpx2.get(fast.url + "/metrics").text
    # The slow path is another `edgereason serve`; when it is gone, the fast answer is kept, marked.
    with served(tiny_artifacts[Format.ONNX, RecipeName.FP32]) as big:
        url = big.url
        with served(roomy, "--escalate-to", url, "--escalate-timeout", "30") as fast:
            solved = openai.OpenAI(base_url=fast.v1, api_key="-", max_retries=0).chat.completions.create(
                model=fast.model, **body).model_extra["edgereason"]["solve"]
            # tiny-random writes no answer: the slow server answered over the API, and its reply had none.
            assert solved["decision"] == "escalated" or solved["slow_error"].startswith("no answer in its reply")
    with served(roomy, "--escalate-to", url, "--escalate-timeout", "5") as fast:  # `big` has stopped
        solved = openai.OpenAI(base_url=fast.v1, api_key="-", max_retries=0).chat.completions.create(
            model=fast.model, **body).model_extra["edgereason"]["solve"]
        assert solved["path"] == "fast" and solved["decision"].startswith("escalate (slow path unavailable: cannot")
