"""Checked arithmetic (runtime/arith.py): the statement grammar, exact values, the streaming checker, and compute
mode in the real decode loop over a scripted model; tests/golden/arithmetic.json (shared with C++ and Java)."""

import json
from fractions import Fraction
from pathlib import Path

import pytest
from helpers import scripted_backend
from hypothesis import given, settings
from hypothesis import strategies as st

from edgereason.bench.tasks import builtin_suite, parse_digits, shots_for
from edgereason.errors import UsageError
from edgereason.runtime.answers import AnswerKind
from edgereason.runtime.arith import ArithmeticChecker, Calculator, analyse, pending, result_text, statements
from edgereason.runtime.confidence import TraceConfidence
from edgereason.runtime.generate import generate
from edgereason.runtime.reason import FEATURES, ExitConfig, SolveConfig, Strategy, solve
from edgereason.runtime.spec import default_spec
from edgereason.runtime.text import Text

GOLDEN = json.loads((Path(__file__).parent / "golden" / "arithmetic.json").read_text())
SCHEMAS = Path(__file__).parents[1] / "edgereason" / "schemas"


@pytest.fixture(scope="module")
def text(smollm2_dir) -> Text:
    return Text(smollm2_dir, chat_template=None)


def found(s: str) -> list[tuple[str, str, str | None, bool]]:
    return [(x.text, x.written, x.value, x.right) for x in statements(s)]


@pytest.mark.parametrize("case", GOLDEN["texts"], ids=lambda c: c["text"][:40])
def test_golden_texts_are_current(case):
    assert analyse(case["text"]) == {"statements": case["statements"], "pending": case["pending"]}


def test_golden_results_are_current():
    for case in GOLDEN["results"]:
        assert result_text(Fraction(int(case["numerator"]), int(case["denominator"]))) == case["text"]


def _run(text: Text, script: list[int], mode: Calculator, max_new_tokens: int, *, max_seq_len: int = 512):
    backend = scripted_backend(script, prompt_len=3, eos_id=2, max_seq_len=max_seq_len)
    checker = ArithmeticChecker(text, mode)
    confidence = TraceConfidence()
    steps = list(generate(backend, [1, 2, 3], max_new_tokens=max_new_tokens, arithmetic=checker,
                          confidence=confidence))
    return steps, checker, confidence


def test_golden_traces_replay(text):
    for trace in GOLDEN["traces"]:
        assert text.encode(trace["script_text"], add_bos=False) == trace["script"]
        for run in trace["runs"]:
            steps, checker, _ = _run(text, trace["script"], Calculator(run["mode"]), run["max_new_tokens"])
            assert [s.token_id for s in steps] == run["fed"], trace["script_text"]
            assert [s.tool for s in steps] == run["tool"]
            assert steps[-1].finish_reason == run["finish_reason"]
            assert [(x.text, x.forced, x.corrected) for x in checker.statements] == [
                (x["text"], x["forced"], x["corrected"]) for x in run["statements"]]
            assert checker.features() == run["features"]


def test_the_forms_small_models_write():
    assert found("12 - 7 = 2.") == [("12 - 7 = 2", "2", "5", False)]
    assert found("3 times 4 is 12") == [("3 times 4 is 12", "12", "12", True)]
    assert found("12 divided by 4 equals 3")[0][3]
    assert found("3 + 4 + 5 = 12")[0][3]
    assert [x[3] for x in found("3 + 4 = 8 + 5 = 13")] == [False, True]  # each link of a chain
    assert found("1,250 + 750 = 2,000")[0][1:] == ("2000", "2000", True)
    assert found("$1.50 * 4 = $6.00")[0][3] and found("20% of 50 = 10")[0][3]
    assert found("10 / 3 = 3.33")[0][3] and not found("10 / 3 = 3.34")[0][3]  # rounding to the decimals written
    assert found("50 - 20% = 40") == []  # ambiguous: not checked


def test_edge_cases():
    assert found("5 / 0 = 0") == [("5 / 0 = 0", "0", None, False)]  # division by zero is never right
    assert found("5 - 8 = -3")[0][3] and not found("5 - 8 = 3")[0][3]  # negative results
    assert found("99999999999999999 + 1 = 1") == []  # more digits than the spec allows: not a number
    assert found("123456789012345 * 123456789012345 * 123456789012345 = 7") == []  # bounded values, no part of it
    assert found("3/4 is 3 days") == [] and found("3/4 = 0.75")[0][3]  # a date or a fraction in words vs a sum
    assert found("3 + 4\n= 7")[0][3]  # across a line break
    assert found("2x + 3 = 7") == [] and found("x = 5") == [] and found("The answer is 7") == []


def test_pending_is_what_the_model_would_write():
    assert pending("3 + 4 =") == (" 7", 7)
    assert pending("3+4=")[0] == "7" and pending("3 + 4 = ")[0] == "7"
    assert pending("3 * $4 =")[0] == " $12" and pending("3 * 4 = $")[0] == "12"
    assert pending("2 / 3 =")[0] == " 0.67"
    assert pending("1 / 3000 =") is None and pending("5 / 0 =") is None and pending("The answer is") is None


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789 +-*/=().,$%x\nisplu", max_size=60))
def test_streaming_agrees_with_a_whole_scan_on_any_text(text, s):
    """Token by token, the checker finds what one scan of the whole text finds (a statement spread over more than
    two lines excepted: the checker looks back one line)."""
    checker = ArithmeticChecker(text, Calculator.CHECK)
    for token in text.encode(s, add_bos=False):
        checker.push(token)
    checker.finish()
    streamed = [(x.start, x.end, x.text, x.right) for x in checker.statements]
    whole = [(x.start, x.end, x.text, x.right) for x in statements(s)]
    assert all(s[x[0]:x[1]] == x[2] for x in whole)
    if "\n" in s:
        assert set(streamed) <= set(whole)
    else:
        assert sorted(streamed) == whole


def test_streaming_finds_what_a_whole_scan_finds(text):
    for case in GOLDEN["texts"]:
        checker = ArithmeticChecker(text, Calculator.CHECK)
        for token in text.encode(case["text"], add_bos=False):
            checker.push(token)
        checker.finish()
        assert checker.trace == case["text"]
        assert [(x.text, x.right) for x in checker.statements] == [
            (x["text"], x["right"]) for x in case["statements"]], case["text"]


def test_compute_mode_writes_the_result_and_keeps_it_out_of_the_confidence(text):
    script = text.encode("12 - 7 = 2 apples.\nThe answer is 2.", add_bos=False)
    steps, checker, confidence = _run(text, script, Calculator.COMPUTE, 64)
    body = text.decode([s.token_id for s in steps])
    assert body.startswith("12 - 7 = 5 apples.")
    tools = [s for s in steps if s.tool]
    assert len(tools) == 1 and text.decode([tools[0].token_id]) == "5"
    assert len(confidence.token_confs) == len(steps) - len(tools)
    assert checker.statements[0].corrected and checker.features()["arith_errors"] == 1.0
    again, _, _ = _run(text, script, Calculator.COMPUTE, 64)
    assert [s.token_id for s in again] == [s.token_id for s in steps]  # greedy stays deterministic


def test_a_model_that_writes_the_right_value_gets_no_insertion(text):
    script = text.encode("Tom has 12 apples.\n12 - 7 = 5 apples.", add_bos=False)
    steps, checker, _ = _run(text, script, Calculator.COMPUTE, 64)
    assert not any(s.tool for s in steps)
    assert [s.token_id for s in steps][:len(script)] == script
    assert checker.statements[0].right and not checker.statements[0].forced


def test_a_result_that_would_cross_the_budget_or_the_context_is_not_written(text):
    script = text.encode("So 48 + 25 = 63 and more", add_bos=False)
    eq = next(i for i in range(len(script)) if text.decode(script[: i + 1]).endswith("="))
    result = len(text.encode(" 73", add_bos=False))
    # the budget: one token short of the result
    steps, _, _ = _run(text, script, Calculator.COMPUTE, eq + result)
    assert not any(s.tool for s in steps) and len(steps) == eq + result
    steps, _, _ = _run(text, script, Calculator.COMPUTE, eq + 1 + result)
    assert sum(s.tool for s in steps) >= 1 and steps[-1].finish_reason == "length"
    # the context: 3 prompt tokens, then room for the equals but not the whole result
    steps, _, _ = _run(text, script, Calculator.COMPUTE, 64, max_seq_len=3 + eq + result)
    assert not any(s.tool for s in steps) and steps[-1].finish_reason == "length"


def test_features_are_in_the_calibrator_schema():
    from edgereason.runtime.probes import PROBE_FEATURES

    enum = json.loads((SCHEMAS / "calibrator.schema.json").read_text())["$defs"]["feature"]["enum"]
    assert tuple(enum) == (*FEATURES, *PROBE_FEATURES)  # the trace features, then the probes' logits


def test_solve_reports_statements_and_can_abort_on_a_false_one(text):
    script = text.encode("12 - 7 = 2 apples.\nThe answer is 2.", add_bos=False)
    prompt_len = len(text.prompt_ids(default_spec().messages("Q", kind=AnswerKind.MATH)))

    def run(config: SolveConfig):
        backend = scripted_backend(script, prompt_len=prompt_len, eos_id=2, max_seq_len=1024)
        return solve(backend, text, "Q", spec=default_spec(config))

    greedy = run(SolveConfig(strategy=Strategy.GREEDY))
    trace = greedy.traces[0]
    assert trace.answer == "2" and [x.text for x in trace.statements] == ["12 - 7 = 2"]
    assert greedy.features["arith_errors"] == 1.0 and trace.error_weight == 0.25
    fixed = run(SolveConfig(strategy=Strategy.GREEDY, calculator=Calculator.COMPUTE))
    assert fixed.traces[0].tool_tokens == 1 and fixed.traces[0].text.startswith("12 - 7 = 5")
    aborted = run(SolveConfig(exit=ExitConfig(arith_abort=True, probe=False)))
    assert aborted.traces[0].aborted and aborted.answer is None and aborted.decision == "escalate"
    off = run(SolveConfig(strategy=Strategy.GREEDY, calculator=Calculator.OFF))
    assert off.traces[0].statements == [] and off.features["first_error_at"] == 1.0
    with pytest.raises(UsageError, match="arith_abort needs the calculator: set calculator to check or compute"):
        SolveConfig(calculator=Calculator.OFF, exit=ExitConfig(arith_abort=True))


def test_the_multi_digit_suite_is_its_own_seed_space_and_its_solutions_check():
    small, multi = builtin_suite(20, seed=1), builtin_suite(20, seed=1, digits=(2, 4))
    assert {p.id for p in small}.isdisjoint(p.id for p in multi)
    assert [p.question for p in multi] == [p.question for p in builtin_suite(20, seed=1, digits=(2, 4))]
    assert multi != builtin_suite(20, seed=2, digits=(2, 4))
    for p in multi:
        found_statements = statements(p.meta["solution"])
        assert len(found_statements) == p.num_steps and all(x.right for x in found_statements)
        assert p.meta["solution"].endswith(f"The answer is {p.answer}.")
    assert len(shots_for("builtin", digits=(2, 4))) == 2
    assert parse_digits("2-4") == (2, 4) and parse_digits("3") == (3, 3) and parse_digits(None) is None
    for bad in ("0-2", "4-2", "a-b", "2-9"):
        with pytest.raises(UsageError, match="--digits"):
            parse_digits(bad)


def test_a_choice_answer_is_a_letter_of_the_question_s_own_options(text):
    """A 3-option question never comes back "D", by the trace's last line or by the answer probe."""
    script = text.encode("It is (B).\nThe answer is D.", add_bos=False)
    three = ("A. red", "B. green", "C. blue")

    def run(choices, config):
        prompt_len = len(text.prompt_ids(default_spec().messages("Q", kind=AnswerKind.CHOICE, choices=choices)))
        backend = scripted_backend(script, prompt_len=prompt_len, eos_id=2, max_seq_len=1024)
        return solve(backend, text, "Q", spec=default_spec(config), kind=AnswerKind.CHOICE, choices=choices)

    greedy = SolveConfig(strategy=Strategy.GREEDY)
    assert run((*three, "D. white"), greedy).answer == "D"
    assert run(three, greedy).answer == "B"  # the last letter the trace gave that is one of the options
    with pytest.raises(UsageError, match="at most 5 choices"):
        run(tuple(f"{c}. x" for c in "ABCDEF"), greedy)
