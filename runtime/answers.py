"""Answer extraction: the final number of a math trace, or the letter of a multiple-choice one.

Order of trust for math: `\\boxed{..}`, then `#### n` (GSM8K), then "the answer is n", then the
last number in the text. Numbers are normalized (commas, `$`, trailing `.0`) so "1,000" == "1000".
Digits and whitespace are ASCII (`re.ASCII`), as in the C++ and Java ports (tests/golden/answers.json).
"""

import re
from enum import StrEnum

from .defaults import ANSWERS

_NUMBER = r"-?\$?\s?\d[\d,]*(?:\.\d+)?"
_BOXED = re.compile(r"\\boxed\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}", re.ASCII)
_HASHES = re.compile(r"####\s*(" + _NUMBER + ")", re.ASCII)
_ANSWER_IS = re.compile(r"answer\s*(?:is|:|=)\s*:?\s*\**\s*(" + _NUMBER + ")", re.IGNORECASE | re.ASCII)
_ANY_NUMBER = re.compile(_NUMBER, re.ASCII)


class AnswerKind(StrEnum):
    MATH = "math"
    CHOICE = "choice"


LETTERS: str = ANSWERS["letters"]  # choice letters, in order: a question with n options is answered A..LETTERS[n-1]
MAX_CHOICES = len(LETTERS)
_LETTER = f"[{LETTERS}]"
_CHOICE_IS = re.compile(r"answer\s*(?:is|:)?\s*:?\s*\**\s*\(?(" + _LETTER + r")\)?(?![A-Za-z])",
                        re.IGNORECASE | re.ASCII)
# "(B)" anywhere, or a letter standing alone at the end of a line ("B", "B.", "B)").
_LONE_CHOICE = re.compile(r"\((" + _LETTER + r")\)|(?:^|\s)(" + _LETTER + r")[).:]?[ \t]*(?=$|\n)",
                          re.MULTILINE | re.ASCII)


def normalize_number(text: str) -> str | None:
    """'1,000' → '1000', '$5.50' → '5.5', '12.0' → '12'; None if it is not a number."""
    cleaned = text.replace(",", "").replace("$", "").replace(" ", "").rstrip(".")
    try:
        value = float(cleaned)
    except ValueError:
        return None
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def extract_math(text: str) -> str | None:
    """The final numeric answer of a math trace, normalized; None if there is none."""
    boxed = _BOXED.findall(text)
    if boxed:
        numbers = _ANY_NUMBER.findall(boxed[-1])
        if numbers:
            return normalize_number(numbers[-1])
    for pattern in (_HASHES, _ANSWER_IS):
        found = pattern.findall(text)
        if found:
            return normalize_number(found[-1])
    numbers = _ANY_NUMBER.findall(text)
    return normalize_number(numbers[-1]) if numbers else None


def extract_choice(text: str, num_choices: int = MAX_CHOICES) -> str | None:
    """The chosen letter of a multiple-choice trace, one of the first `num_choices`; None if there is none."""
    allowed = LETTERS[:num_choices]
    found = [c.upper() for c in _CHOICE_IS.findall(text) if c.upper() in allowed]
    if found:
        return found[-1]
    lone = [a or b for a, b in _LONE_CHOICE.findall(text) if (a or b) in allowed]
    return lone[-1] if lone else None


def extract(text: str, kind: AnswerKind, *, num_choices: int = MAX_CHOICES) -> str | None:
    """The answer of a trace; a choice answer is a letter of one of the question's `num_choices` options."""
    return extract_math(text) if kind is AnswerKind.MATH else extract_choice(text, num_choices)


def same_answer(a: str | None, b: str | None) -> bool:
    """Equal answers; math answers compare as numbers ("3" == "3.0")."""
    if a is None or b is None:
        return False
    if a == b:
        return True
    na, nb = normalize_number(a), normalize_number(b)
    return na is not None and na == nb
