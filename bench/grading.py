"""Grading: is an extracted answer equal to the reference? Evaluation-time Python only (`bench reason`, `calibrate`).

Extraction (runtime.answers, the same on every runtime) finds the candidate answer in a trace; grading decides it
against the reference, with Hugging Face's math-verify (`parse` + `verify`: LaTeX and plain forms, fractions, `\\sqrt`,
π, intervals, tuples, equations) where the runtime's own canonical forms do not settle it. Two plain numbers are
decided without it (it costs milliseconds to seconds a call; GSM8K's integers never reach it), as the runtime's
`same_answer` decides them, so integer grading is what it was. A mixed number ("1 1/2") and a percentage ("25%",
its number: 25) are read as the runtime reads them before math-verify sees them, since math-verify's plain-text
parse reads "1 1/2" as 1.
"""

import threading

from edgereason.runtime.answers import AnswerKind, canonical_answer, clean_latex, normalize_number, same_answer

from .tasks import Problem

# math-verify's own timeouts are SIGALRM, which only the main thread may set (elsewhere it raises): in a worker
# thread they are off (it logs that once), and this bound on what it is given keeps sympy from an unbounded
# simplification instead.
MAX_VERIFY_CHARS = 200
VERIFY_TIMEOUT_S = 5


def _latex(answer: str) -> str:
    """A canonical answer as math-verify's LaTeX extraction reads it: "p/q" as a fraction, all in $..$."""
    numerator, slash, denominator = answer.partition("/")
    if slash and normalize_number(numerator) is not None and denominator.isdigit():
        answer = f"\\frac{{{numerator}}}{{{denominator}}}"
    return f"${answer}$"


def _verify(reference: str, predicted: str) -> bool:
    from math_verify import parse, verify  # sympy and ANTLR load in ~1 s: only when a grade needs them

    timeout = VERIFY_TIMEOUT_S if threading.current_thread() is threading.main_thread() else None
    gold = parse(_latex(reference), parsing_timeout=timeout)
    target = parse(_latex(predicted), parsing_timeout=timeout)
    return bool(gold and target and verify(gold, target, timeout_seconds=timeout))


def grade(predicted: str | None, reference: str) -> bool:
    """Whether a math answer equals the reference.

    Args:
        predicted: the extracted answer (runtime.answers.extract_math), None when the trace gave none.
        reference: the task's answer, in any form a dataset writes (integer, decimal, fraction, LaTeX).

    Returns:
        True when they are the same canonical answer, or math-verify finds them equal; two plain numbers that
        differ are unequal without asking it.
    """
    if predicted is None:
        return False
    if same_answer(predicted, reference):
        return True
    p, r = canonical_answer(predicted), canonical_answer(reference)
    if p is None or r is None:
        return False
    if normalize_number(p) is not None and normalize_number(r) is not None:
        return False  # the fast path: two different numbers
    # An equation goes as written: the canonical "x = 4" is 4, which math-verify cannot set against "x+1 = 5".
    if "=" in predicted:
        p = clean_latex(predicted)
    if "=" in reference:
        r = clean_latex(reference)
    if len(p) > MAX_VERIFY_CHARS or len(r) > MAX_VERIFY_CHARS:
        return False
    return _verify(r, p)


def is_correct(answer: str | None, problem: Problem) -> bool:
    """A math answer graded against the problem's reference (`grade`); a choice answer is its letter."""
    if problem.kind is AnswerKind.CHOICE:
        return answer is not None and answer == problem.answer
    return grade(answer, problem.answer)
