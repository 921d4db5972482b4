"""Answer extraction: the final answer of a math trace, or the letter of a multiple-choice one.

Order of trust for math: the last `\\boxed{..}` (braces matched, so `\\boxed{\\frac{1}{2}}` works), then `#### v`
(GSM8K), then "the answer is v", then a last line's "x = ..", then the last value in the text. A value is a number,
a fraction (`3/4`, `\\frac{3}{4}`, `\\dfrac`) or a mixed number (`1 1/2`, `1\\frac{1}{2}`: a whole number, a
space (optional before `\\frac`), then a proper fraction).

Every answer comes out canonical, so that the vote and early exit compare strings (`same_answer`):
- a number as before: "1,000" -> "1000", "$5.50" -> "5.5", "12.0" -> "12" (6 significant digits);
- a fraction or mixed number is an exact rational in lowest terms: its decimal when that ends ("3/4" -> "0.75",
  "1 1/2" -> "1.5"), else "p/q" ("2/6" -> "1/3"); a percentage is its number ("25%" -> "25", GSM8K's convention);
- "x = v" (one letter on the left) and "3+4 = 7" (no letter on the left) are their right side;
- a number with a unit or words ("20 m", "18 dollars", "\\text{5 cm}") is its last number; words alone are no answer;
- anything else is a normalized expression: the LaTeX noise of edgereason/specs/answers.json dropped (`\\left`,
  `$`, `\\text{..}` unwrapped, `\\dfrac` -> `\\frac`) and whitespace removed.
Whether an answer equals a reference is the evaluation's question (bench.grading), not the runtime's.
Digits and whitespace are ASCII (`re.ASCII`), as in the C++ and Java ports (tests/golden/answers.json).
"""

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from math import gcd

from .defaults import ANSWERS

_WS = " \t\n\r\f\v"  # what C++'s isspace and Java's \s call whitespace; str.strip() would also take Unicode's
_NUMBER = r"-?\$?\s?\d[\d,]*(?:\.\d+)?"
# A value as a trace writes it: a number's sign, $ and space, then the longer forms first, so that "1 1/2" is one
# mixed number (not 1, then 1/2) and "3/4" one fraction; a plain number is read as _NUMBER reads it.
_VALUE = (r"-?\$?\s?(?:\d+ ?\\[dt]?frac\s*\{\s*\d+\s*\}\s*\{\s*\d+\s*\}|\d+ \d+/\d+"
          r"|\\[dt]?frac\s*\{\s*-?\d+\s*\}\s*\{\s*\d+\s*\}|\d+/\d+|\d[\d,]*(?:\.\d+)?)")
_HASHES = re.compile(r"####\s*(" + _VALUE + ")", re.ASCII)
_ANSWER_IS = re.compile(r"answer\s*(?:is|:|=)\s*:?\s*\**\s*(?:\$|\\\(|\\\[)?\s*(" + _VALUE + ")",
                        re.IGNORECASE | re.ASCII)
_ANY_VALUE = re.compile(_VALUE, re.ASCII)
_WITH_UNIT = re.compile(r"(" + _VALUE + r")\s+[A-Za-z]+", re.ASCII)  # "20 m", "700 g": a unit too short for a word
# "x =" after a space or at the start of a line: the last one on the last line names the answer.
_ASSIGNMENT = re.compile(r"(?<!\S)[A-Za-z]\s*=", re.ASCII)
_BOXED = "\\boxed{"

# The forms of one value, matched whole (after `clean_latex`: `\dfrac` is `\frac`, no `$`).
_MIXED_TEX = re.compile(r"(-?)(\d+) ?\\frac\s*\{\s*(\d+)\s*\}\s*\{\s*(\d+)\s*\}", re.ASCII)
_MIXED = re.compile(r"(-?)(\d+) (\d+)/(\d+)", re.ASCII)
_FRAC_TEX = re.compile(r"(-?)\\frac\s*\{\s*(-?)(\d+)\s*\}\s*\{\s*(\d+)\s*\}", re.ASCII)
_FRAC = re.compile(r"(-?)\s*(\d+)\s*/\s*(\d+)", re.ASCII)
_PLAIN = re.compile(_NUMBER, re.ASCII)
_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)  # Python's float(), as C++ and Java read
_COMMAND_END = re.compile(r"\\[A-Za-z]+\Z", re.ASCII)


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


@dataclass(frozen=True)
class MathSpec:
    """edgereason/specs/answers.json: the LaTeX words `clean_latex` removes or rewrites, and the grammar's limits.

    Attributes:
        unwrap: commands whose braces go and whose content stays (`\\text{ cm}` -> ` cm `).
        rename: (from, to) pairs, in order (`\\dfrac` -> `\\frac`).
        spaces: spacing commands, each read as one space.
        drop: words removed (`\\left`, `$`).
        max_fraction_digits: digits of each integer of a fraction or mixed number; longer ones stay expressions
            (keeps p/q exact in a double and in a 64-bit integer on every port).
        min_word_letters: letters in a row, outside a command, that make a word ("cm", not the `x` of `2x`).
    """

    unwrap: tuple[str, ...]
    rename: tuple[tuple[str, str], ...]
    spaces: tuple[str, ...]
    drop: tuple[str, ...]
    max_fraction_digits: int
    min_word_letters: int


@cache
def math_spec() -> MathSpec:
    """edgereason/specs/answers.json (shipped with the package; the ports read the same file)."""
    data = json.loads(resources.files("edgereason").joinpath("specs/answers.json").read_text("utf-8"))
    return MathSpec(tuple(data["unwrap"]), tuple((a, b) for a, b in data["rename"]), tuple(data["spaces"]),
                    tuple(data["drop"]), data["max_fraction_digits"], data["min_word_letters"])


@cache
def _word_pattern(word: str) -> re.Pattern[str]:
    # A word ending in a letter is a command name: `\left` must not eat the start of `\leftarrow`.
    return re.compile(re.escape(word) + ("(?![A-Za-z])" if word[-1].isascii() and word[-1].isalpha() else ""))


def _closing_brace(text: str, open_at: int) -> int | None:
    """Index of the `}` matching the `{` at `open_at` (`\\{` and `\\}` are characters, not braces); None if open."""
    depth, i = 0, open_at
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def _unwrap(text: str, command: str) -> str:
    pos = 0
    while (i := text.find(command + "{", pos)) != -1:
        end = _closing_brace(text, i + len(command))
        if end is None:
            pos = i + 1
            continue
        text = text[:i] + " " + text[i + len(command) + 1:end] + " " + text[end + 1:]
        pos = i  # the content may hold the same command again
    return text


def clean_latex(text: str) -> str:
    """`text` with the LaTeX noise of edgereason/specs/answers.json removed and no full stop at the end."""
    spec = math_spec()
    for command in spec.unwrap:
        text = _unwrap(text, command)
    for word, by in spec.rename:
        text = _word_pattern(word).sub(lambda _, by=by: by, text)
    for word in spec.spaces:
        text = _word_pattern(word).sub(" ", text)
    for word in spec.drop:
        text = _word_pattern(word).sub("", text)
    return text.strip(_WS).rstrip(".").strip(_WS)  # a sentence's full stop is not part of the answer


def _letter_runs(text: str) -> list[int]:
    """Lengths of the runs of ASCII letters outside command names (`\\frac`, `\\pi` are no letters)."""
    runs, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 1
            while i < len(text) and text[i].isascii() and text[i].isalpha():
                i += 1
        elif c.isascii() and c.isalpha():
            j = i
            while j < len(text) and text[j].isascii() and text[j].isalpha():
                j += 1
            runs.append(j - i)
            i = j
        else:
            i += 1
    return runs


def _right_side(text: str) -> str:
    """"x = 5" and "3+4 = 7" -> the right side; an equation in x ("x+1=5") or an inequality stays whole."""
    if "=" not in text or any(c in text for c in "<>!"):
        return text
    parts = text.split("=")
    left = parts[0].strip(_WS)
    if (len(left) == 1 and left.isascii() and left.isalpha()) or not _letter_runs(left):
        return parts[-1].strip(_WS)
    return text


def _format(value: float) -> str:
    if abs(value) < 1e15 and value == int(value):
        return str(int(value))
    return f"{value:.6g}"


def _rational(negative: bool, whole: str, numerator: str, denominator: str) -> str | None:
    """whole + numerator/denominator, signed, in lowest terms: the decimal if it ends, else "p/q"."""
    if max(len(whole), len(numerator), len(denominator)) > math_spec().max_fraction_digits or int(denominator) == 0:
        return None
    d = int(denominator)
    n = int(whole) * d + int(numerator)
    g = gcd(n, d)
    n, d = (-n if negative else n) // g, d // g
    rest = d
    for p in (2, 5):
        while rest % p == 0:
            rest //= p
    return _format(n / d) if rest == 1 else f"{n}/{d}"


def _value(text: str) -> str | None:
    """The canonical number of `text` if all of it is one value (a trailing % dropped); else None."""
    t = text.strip(_WS)
    if t.endswith("%"):
        t = t[:-1].strip(_WS)
    if m := _MIXED_TEX.fullmatch(t) or _MIXED.fullmatch(t):
        sign, whole, numerator, denominator = m.groups()
        if int(numerator) >= int(denominator):
            return None  # "3 5/4" is not a mixed number
        return _rational(sign == "-", whole, numerator, denominator)
    if m := _FRAC_TEX.fullmatch(t):
        outer, inner, numerator, denominator = m.groups()
        return _rational((outer == "-") != (inner == "-"), "0", numerator, denominator)
    if m := _FRAC.fullmatch(t):
        sign, numerator, denominator = m.groups()
        return _rational(sign == "-", "0", numerator, denominator)
    if _PLAIN.fullmatch(t) or _FLOAT.fullmatch(t):
        return normalize_number(t)
    return None


def _expression(text: str) -> str:
    """Whitespace removed, except one space that keeps `\\pi r` from becoming `\\pir` or 1 2 from becoming 12."""
    parts = [p for p in re.split(r"[ \t\n\r\f\v]+", text) if p]
    out = parts[0] if parts else ""
    for part in parts[1:]:
        first = part[0]
        if (first.isascii() and first.isalpha() and _COMMAND_END.search(out)) or (
                out[-1] in "0123456789" and first in "0123456789"):
            out += " "
        out += part
    return out


def normalize_number(text: str) -> str | None:
    """'1,000' → '1000', '$5.50' → '5.5', '12.0' → '12'; None if it is not a number (Python's float() grammar,
    without inf/nan/underscores, which the C++ and Java ports do not read; 1e400 is 'inf')."""
    cleaned = text.replace(",", "").replace("$", "").replace(" ", "").rstrip(".").strip(_WS)
    if not _FLOAT.fullmatch(cleaned):
        return None
    return _format(float(cleaned))


def canonical_answer(text: str) -> str | None:
    """The canonical form of one answer (a box's content, a reference): see the module docstring; None if empty
    or words without a number."""
    t = _right_side(clean_latex(text))
    value = _value(t)
    if value is not None:
        return value
    if m := _WITH_UNIT.fullmatch(t):
        return canonical_answer(m.group(1))
    if max(_letter_runs(t), default=0) >= math_spec().min_word_letters:
        values = _ANY_VALUE.findall(t)
        return canonical_answer(values[-1]) if values else None
    expression = _expression(t)
    return _value(expression) or expression or None  # "\\frac {3} {4}" is a value once its spaces are gone


def _last_line_assignment(text: str) -> str | None:
    """The right side of the last "x = .." on the last non-empty line; None if it has none."""
    line = next((s for s in (line.strip(_WS) for line in reversed(text.split("\n"))) if s), "")
    line = clean_latex(line)
    found = [m.end() for m in _ASSIGNMENT.finditer(line)]
    return canonical_answer(line[found[-1]:]) if found else None


def extract_math(text: str) -> str | None:
    """The final answer of a math trace, canonical; None if there is none."""
    start, boxed = 0, None
    while (i := text.find(_BOXED, start)) != -1:
        end = _closing_brace(text, i + len(_BOXED) - 1)
        if end is None:  # never closed: a box inside it may still be
            start = i + 1
            continue
        boxed, start = text[i + len(_BOXED):end], end + 1
    if boxed is not None and (answer := canonical_answer(boxed)) is not None:
        return answer
    for pattern in (_HASHES, _ANSWER_IS):
        found = pattern.findall(text)
        if found:
            return canonical_answer(found[-1])
    assigned = _last_line_assignment(text)
    if assigned is not None:
        return assigned
    values = _ANY_VALUE.findall(text)
    return canonical_answer(values[-1]) if values else None


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
    """Equal answers: the same string, or the same canonical answer ("3" == "3.0", "0.75" == "3/4" ==
    "\\frac{3}{4}", "\\left(1, 2\\right)" == "(1,2)")."""
    if a is None or b is None:
        return False
    if a == b:
        return True
    key = canonical_answer(a)
    return key is not None and key == canonical_answer(b)
