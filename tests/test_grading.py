"""Grading (bench/grading.py): math answers against references with math-verify, real calls, no mocks; integer
grading unchanged on the real GSM8K references."""

import random
import threading

import pytest

from edgereason.bench.grading import grade, is_correct
from edgereason.bench.tasks import Problem, read_gsm8k
from edgereason.errors import UsageError
from edgereason.runtime.answers import AnswerKind, extract_math, normalize_number


@pytest.mark.parametrize("predicted, reference, want", [
    # fractions and decimals, plain and LaTeX
    ("0.75", "3/4", True), ("3/4", "\\frac{3}{4}", True), ("\\dfrac{6}{8}", "0.75", True), ("0.7", "3/4", False),
    ("1/3", "\\frac{1}{3}", True), ("1/3", "0.333333", True), ("0.33", "\\frac{1}{3}", False),
    # mixed numbers (math-verify alone reads "1 1/2" as 1)
    ("1.5", "1 1/2", True), ("3/2", "1\\frac{1}{2}", True), ("1", "1 1/2", False),
    # percentages are their number
    ("25", "25\\%", True), ("25%", "25", True),
    # negative numbers
    ("-5", "-5", True), ("-5", "5", False), ("-0.75", "-\\frac{3}{4}", True),
    # roots and pi
    ("\\sqrt{2}", "\\sqrt 2", True), ("2\\sqrt{2}", "\\sqrt{8}", True), ("\\sqrt{2}", "\\sqrt{3}", False),
    ("2\\pi", "\\pi \\cdot 2", True), ("\\pi", "3.14", False), ("\\frac{\\sqrt{3}}{2}", "\\frac{\\sqrt 3}{2}", True),
    # intervals and tuples
    ("(1,2]", "(1, 2]", True), ("(1,2]", "(1,2)", False), ("[1,3)", "\\left[1,3\\right)", True),
    ("(-\\infty,3]", "(-\\infty, 3]", True), ("(1,2)", "(1, 2)", True), ("(2,1)", "(1,2)", False),
    # equations
    ("x+1=5", "x=4", True), ("x+1=5", "x=5", False), ("2x+1", "y=2x+1", True), ("5", "x=5", True),
    ("x^2+y^2=1", "y^2+x^2=1", True),
    # no answer
    (None, "3", False), ("3", "", False),
])
def test_grade_with_math_verify(predicted, reference, want):
    assert grade(predicted, reference) is want


def test_grade_from_a_worker_thread():
    """math-verify's default timeouts are SIGALRM, main thread only: grading must work from a worker too."""
    results = []
    worker = threading.Thread(target=lambda: results.append((grade("2\\sqrt{2}", "\\sqrt{8}"), grade("x+1", "x"))))
    worker.start()
    worker.join()
    assert results == [(True, False)]


def test_extracted_answers_grade_against_latex_references():
    """Extraction (the runtime's) then grading (the evaluation's), on the forms a small model writes."""
    cases = [("So the answer is \\boxed{\\dfrac{3}{4}}.", "0.75"), ("The answer is 1 1/2.", "\\frac{3}{2}"),
             ("Hence\nx = 2\\sqrt{2}", "\\sqrt{8}"), ("#### -7", "-7"), ("\\boxed{\\left(1, 2\\right)}", "(1,2)")]
    for trace, reference in cases:
        assert grade(extract_math(trace), reference), trace


def test_choice_answers_keep_letter_equality():
    problem = Problem("arc-0", "Which?", "B", kind=AnswerKind.CHOICE, choices=("A. a", "B. b"))
    assert is_correct("B", problem) and not is_correct("A", problem) and not is_correct(None, problem)
    assert is_correct("0.5", Problem("m-0", "Half?", "1/2"))


@pytest.fixture(scope="module")
def gsm8k_references() -> list[str]:
    try:
        problems = read_gsm8k()
    except UsageError as e:
        pytest.skip(f"GSM8K test set not found: {e}")
    return [p.answer for p in problems]


def test_every_gsm8k_reference_grades_equal_to_itself(gsm8k_references):
    assert len(gsm8k_references) == 1319
    assert all(grade(r, r) for r in gsm8k_references)
    assert all(r.lstrip("-").isdigit() for r in gsm8k_references)  # integers: the fast path, never math-verify


def test_integer_grading_is_unchanged_on_gsm8k(gsm8k_references):
    """For integer answers the new grade is the old one (the same string, or equal normalized numbers): the
    model's answer written as GSM8K traces write it (commas, $, a trailing .0), a neighbour, another problem's."""

    def old_grade(a: str, b: str) -> bool:
        return a == b or (normalize_number(a) is not None and normalize_number(a) == normalize_number(b))

    rng = random.Random(18)
    pairs = []
    for reference in rng.sample(gsm8k_references, 300):
        value = int(reference)
        other = rng.choice(gsm8k_references)
        pairs += [(reference, reference), (f"{value:,}", reference), (f"${value}", reference),
                  (f"{value}.0", reference), (str(value + 1), reference), (str(-value), reference), (other, reference)]
    assert len(pairs) == 2100
    assert [grade(p, r) for p, r in pairs] == [old_grade(p, r) for p, r in pairs]
    assert sum(grade(p, r) for p, r in pairs) >= 1200  # the equal forms (4 of each 7) are graded equal
