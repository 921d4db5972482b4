import pytest

from edgereason import datafiles
from edgereason.bench import tasks
from edgereason.errors import UsageError
from edgereason.runtime.answers import AnswerKind, extract_math


def test_builtin_suite_is_seeded_graded_and_exact():
    a, b = tasks.builtin_suite(40, seed=3), tasks.builtin_suite(40, seed=3)
    assert a == b and a != tasks.builtin_suite(40, seed=4)
    assert {p.num_steps for p in a} == {1, 2, 3, 4}
    for p in a:
        assert int(p.answer) >= 0
        assert extract_math(p.meta["solution"]) == p.answer  # the worked solution ends at the answer
        assert p.meta["solution"].count("=") == p.num_steps


def test_fraction_suite_answers_are_exact_fractions_the_checker_and_grader_agree_on():
    from fractions import Fraction

    from edgereason.bench.grading import grade
    from edgereason.runtime.arith import statements as arithmetic

    a = tasks.fraction_suite(60, seed=2)
    assert a == tasks.fraction_suite(60, seed=2) and a != tasks.fraction_suite(60, seed=3)
    assert tasks.load_task("fractions", n=60, seed=2) == a
    for p in a:
        value = Fraction(*map(int, p.answer[6:-1].split("}{"))) if p.answer.startswith("\\frac") else Fraction(p.answer)
        assert 0 < value <= 1 and (value.denominator == 1 or p.answer == f"\\frac{{{value.numerator}}}"
                                                                          f"{{{value.denominator}}}")
        solution = p.meta["solution"]
        assert grade(extract_math(solution), p.answer)  # the worked solution ends at the answer, graded by value
        if 10 ** 6 % value.denominator == 0:  # a decimal that terminates is the same answer
            assert grade(str(value.numerator / value.denominator), p.answer)
        assert not grade(str(value + Fraction(1, 7)), p.answer)
        found = arithmetic(solution)
        assert len(found) == p.num_steps and all(s.right for s in found), solution  # its arithmetic is true
    assert any(p.answer.startswith("\\frac") for p in a) and {p.num_steps for p in a} == {1, 2}
    assert tasks.shots_for("fractions")[0][1].endswith("}.")


def test_readers_use_the_shared_data():
    if not datafiles.find("gsm8k_test.jsonl") or not datafiles.find("arc_easy_test.jsonl"):
        pytest.skip("GSM8K or ARC-Easy not found (edgereason data pull gsm8k arc-easy)")  # as conftest's fixtures
    gsm = tasks.read_gsm8k(n=5)
    assert len(gsm) == 5 and gsm[0].answer == "18" and gsm[0].question.startswith("Janet")
    arc = tasks.read_arc(n=200)
    assert all(p.kind is AnswerKind.CHOICE and p.answer in "ABCDE" and p.choices for p in arc)
    assert arc[0].choices[0].startswith("A. ")


def test_numeric_arc_labels_become_letters(tmp_path):
    row = ('{"id": "x", "question": {"stem": "Pick", "choices": [{"text": "a", "label": "1"}, '
           '{"text": "b", "label": "2"}]}, "answerKey": "2"}\n')
    path = tmp_path / "arc.jsonl"
    path.write_text(row)
    (p,) = tasks.load_task(str(path), n=10)
    assert p.answer == "B" and p.choices == ("A. a", "B. b")


def test_bad_task_inputs(tmp_path):
    with pytest.raises(UsageError, match="unknown task"):
        tasks.load_task("mmlu", n=1)
    with pytest.raises(UsageError, match="does not exist"):
        tasks.read_gsm8k(tmp_path / "none.jsonl", n=1)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    with pytest.raises(UsageError, match="line 1 is not JSON"):
        tasks.read_gsm8k(bad, n=1)
