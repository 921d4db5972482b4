"""Checked arithmetic: the "a op b = c" statements a trace writes, evaluated exactly.

Small models set a problem up right more often than they add right, so the runtime checks every
arithmetic statement as it is written (*check*: features for P(correct), an optional abort, a
vote penalty) and can write the exact result for the model (*compute*, the GSM8K paper's
calculator at sampling time: after "a op b =" the result's tokens are fed as tool tokens).

The grammar, in one place for the three runtimes (the C++ runner and the Java core port this file;
all three are held to tests/golden/arithmetic.json); its limits and words are in
edgereason/specs/arithmetic.json:
- Numbers: ASCII digits, thousands groups ("1,250"), decimals ("3.5"), a leading `$`, a trailing
  `%`. A number glued to a letter ("3rd", "x2", "H2O") or a version ("1.2.3") is not a number;
  more than `max_digits` digits is not checked.
- Operators: + - − * × x / ÷ and the words plus, minus, times, multiplied by, divided by; "N% of M"
  is N/100 × M; parentheses; unary minus. A `%` operand next to + or − is ambiguous ("50 − 20%"):
  not checked. One word after a number before an operator or `=` is a unit ("12 apples − 3 = 9").
- A statement: the longest expression with at least one operator right before an equals (`=`,
  "equals", "is equal to", "is"), then the number written after it. Whitespace, line breaks
  included, separates tokens; anything else ends an expression. "3/4 is 3" is not checked (a date
  or a fraction named in words); "3/4 = 0.75" is.
- Right: the written number equals the exact (rational) value; or it is that value rounded to the
  decimals written when the value has more; or (`N%` after the equals) N or N/100 is; or the
  expression after the equals has that value ("3 * 4 = 6 * 2"). Chains ("3 + 4 = 7 + 5 = 12")
  check each link. Division by zero is never right. Values beyond `max_value_digits` digits are
  not checked (no big-integer blow-up).
Offsets are code points of the trace text (the golden file also holds each statement's text).
"""

import bisect
import json
import re
import time
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction
from functools import cache
from importlib import resources
from typing import Any

from .text import Text

NUM, OP, LP, RP, EQ, BAR = range(6)
_SPACE = " \t\r\n"


class Calculator(StrEnum):
    OFF = "off"
    CHECK = "check"
    COMPUTE = "compute"


@dataclass(frozen=True)
class Spec:
    max_digits: int
    max_operands: int
    max_value_digits: int
    format_decimals: int
    exact_decimals: int
    rounded_decimals: int
    window_chars: int
    symbols: dict[str, str]
    words: dict[str, str]
    equals_words: list[str]


@cache
def spec() -> Spec:
    """edgereason/specs/arithmetic.json (shipped with the package; the ports read the same file)."""
    data = json.loads(resources.files("edgereason").joinpath("specs/arithmetic.json").read_text("utf-8"))
    return Spec(**{k: data[k] for k in Spec.__dataclass_fields__})


@dataclass(frozen=True)
class Tok:
    kind: int
    start: int
    end: int
    value: Fraction = Fraction(0)  # NUM: as written, without the % (percent=True divides by 100 in use)
    op: str = ""  # OP: + - * /; EQ: the equals word
    dollar: bool = False
    percent: bool = False
    decimals: int = 0  # NUM: digits written after the point


@dataclass
class Statement:
    """One arithmetic statement of a trace.

    Attributes:
        start / end: its span in the trace text (code points), from the expression to the written number.
        text: that span.
        written: the number written after the equals, as an exact value (format_value).
        value: the true value of the expression (format_value); None when it is undefined (division by zero).
        right: the written number is the true value (see the module docstring for the tolerances).
        eq_end: where the equals ends (a computed result is written from here).
        forced: compute mode wrote (part of) the result.
        corrected: compute mode wrote it because the model's own next token differed: an error the
            model was about to make (counted with the wrong statements).
    """

    start: int
    end: int
    text: str
    written: str
    value: str | None
    right: bool
    eq_end: int
    forced: bool = False
    corrected: bool = False

    @property
    def error(self) -> bool:
        return not self.right or self.corrected


def _is_digit(c: str) -> bool:
    return "0" <= c <= "9"


def _is_letter(c: str) -> bool:
    return ("a" <= c <= "z") or ("A" <= c <= "Z")


def _times_x(s: str, i: int) -> bool:
    """s[i] is the 'x' of "3x4" or "3 x (4": alone, after a number or ")" and before a number, "(" or "$"."""
    if s[i] not in "xX" or (i > 0 and _is_letter(s[i - 1])) or (i + 1 < len(s) and _is_letter(s[i + 1])):
        return False
    b = i - 1
    while b >= 0 and s[b] in _SPACE:
        b -= 1
    a = _skip_space(s, i + 1, len(s))
    return b >= 0 and (_is_digit(s[b]) or s[b] in ")%") and a < len(s) and (_is_digit(s[a]) or s[a] in "($")


def _skip_space(s: str, i: int, hi: int) -> int:
    while i < hi and s[i] in _SPACE:
        i += 1
    return i


def _word_at(s: str, i: int, hi: int, word: str) -> int:
    """End of `word` (ASCII, any case) at s[i:], as a whole word; -1 if it is not there."""
    j = i + len(word)
    if j > hi or s[i:j].lower() != word or (j < hi and _is_letter(s[j])):
        return -1
    return j


def _phrase_at(s: str, i: int, hi: int, phrase: str) -> int:
    """End of a phrase of words separated by any whitespace ("multiplied by"); -1 if not there."""
    for n, word in enumerate(phrase.split(" ")):
        if n:
            j = _skip_space(s, i, hi)
            if j == i:
                return -1
            i = j
        i = _word_at(s, i, hi, word)
        if i < 0:
            return -1
    return i


def _number(s: str, i: int, hi: int, max_digits: int) -> tuple[int, Tok | None]:
    """The number at s[i] (a digit, or the `$` before one): (end, token), token None if it is glued or too long."""
    start = i
    dollar = s[i] == "$"
    if dollar:
        i += 1
    j = i
    while j < hi and _is_digit(s[j]):
        j += 1
    digits = s[i:j]
    if j - i <= 3:  # thousands groups: ",ddd" not followed by a digit
        while (j + 4 <= hi and s[j] == "," and all(_is_digit(c) for c in s[j + 1:j + 4])
               and (j + 4 == hi or not _is_digit(s[j + 4]))):
            digits += s[j + 1:j + 4]
            j += 4
    decimals = ""
    if j + 1 < hi and s[j] == "." and _is_digit(s[j + 1]):
        k = j + 1
        while k < hi and _is_digit(s[k]):
            k += 1
        decimals, j = s[j + 1:k], k
    percent = j < hi and s[j] == "%"
    if percent:
        j += 1
    before = s[start - 1] if start > 0 else " "
    glued_left = (_is_digit(before) or before in "._" or (_is_letter(before) and not _times_x(s, start - 1)))
    after = s[j] if j < len(s) else " "
    glued_right = (after == "_" or (_is_letter(after) and not _times_x(s, j))
                   or (after == "." and j + 1 < len(s) and _is_digit(s[j + 1])))
    if glued_left or glued_right or len(digits) + len(decimals) > max_digits:
        while j < hi and (_is_letter(s[j]) or _is_digit(s[j]) or s[j] in "._"):
            j += 1  # the whole glued word is one barrier
        return j, None
    value = Fraction(int(digits + decimals), 10 ** len(decimals))
    return j, Tok(NUM, start, j, value=value, dollar=dollar, percent=percent, decimals=len(decimals))


def lex(s: str, lo: int = 0, hi: int | None = None) -> list[Tok]:
    """Tokens of s[lo:hi]; glue to letters is judged on the whole of s, so a window lexes as the text does."""
    sp = spec()
    hi = len(s) if hi is None else hi
    out: list[Tok] = []
    i = lo
    while i < hi:
        c = s[i]
        if c in _SPACE:
            i += 1
        elif _is_digit(c) or (c == "$" and i + 1 < hi and _is_digit(s[i + 1])):
            j, tok = _number(s, i, hi, sp.max_digits)
            out.append(tok or Tok(BAR, i, j))
            i = j
        elif _is_letter(c):
            j = i
            while j < hi and _is_letter(s[j]):
                j += 1
            tok = _word(s, i, j, hi, out, sp)
            out.append(tok)
            i = tok.end
        elif c in sp.symbols:
            out.append(Tok(OP, i, i + 1, op=sp.symbols[c]))
            i += 1
        elif c == "(":
            out.append(Tok(LP, i, i + 1))
            i += 1
        elif c == ")":
            out.append(Tok(RP, i, i + 1))
            i += 1
        elif c == "=":
            out.append(Tok(EQ, i, i + 1, op="="))
            i += 1
        else:
            out.append(Tok(BAR, i, i + 1))
            i += 1
    return out


def _word(s: str, i: int, j: int, hi: int, before: list[Tok], sp: Spec) -> Tok:
    """The token of the letters s[i:j]: an operator or equals word, the 'x' of "3 x 4", "of" after a percent, or a
    barrier."""
    word = s[i:j].lower()
    prev = before[-1] if before else None
    if word == "x" and prev is not None and prev.kind in (NUM, RP):
        k = _skip_space(s, j, hi)
        if k < hi and (_is_digit(s[k]) or s[k] in "($"):
            return Tok(OP, i, j, op="*")
    for phrase, kind, op in _phrases().get(word, ()):
        end = _phrase_at(s, i, hi, phrase)
        if end > 0:
            return Tok(kind, i, end, op=op)
    if word == "of" and prev is not None and prev.kind == NUM and prev.percent:
        return Tok(OP, i, j, op="*")
    return Tok(BAR, i, j)


@cache
def _phrases() -> dict[str, list[tuple[str, int, str]]]:
    """Operator and equals phrases by their first word, in the spec's order (operators first; "is equal to"
    before "is"): a word is looked up, not tried against every phrase."""
    sp = spec()
    found: dict[str, list[tuple[str, int, str]]] = {}
    for phrase, kind, op in [(p, OP, o) for p, o in sp.words.items()] + [(p, EQ, p) for p in sp.equals_words]:
        found.setdefault(phrase.split(" ")[0], []).append((phrase, kind, op))
    return found


class _Overflow(Exception):
    """A value beyond max_value_digits: the statement is not checked."""


class _Undefined(Exception):
    """Division by zero."""


class _Parser:
    """Recursive descent over NUM/OP/LP/RP tokens: expr := term (+|- term)*; term := factor (*|/ factor)*;
    factor := - factor | NUM | ( expr )."""

    def __init__(self, toks: list[Tok], limit: int):
        self.toks, self.i, self.limit = toks, 0, 10 ** limit
        self.ops = self.operands = 0
        self.percent = self.plus_minus = self.undefined = False

    def _peek(self) -> Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def _check(self, v: Fraction) -> Fraction:
        if abs(v.numerator) >= self.limit or v.denominator >= self.limit:
            raise _Overflow
        return v

    def expr(self) -> Fraction:
        v = self.term()
        while (t := self._peek()) is not None and t.kind == OP and t.op in "+-":
            self.i += 1
            self.ops += 1
            self.plus_minus = True
            r = self.term()
            v = self._check(v + r if t.op == "+" else v - r)
        return v

    def term(self) -> Fraction:
        v = self.factor()
        while (t := self._peek()) is not None and t.kind == OP and t.op in "*/":
            self.i += 1
            self.ops += 1
            r = self.factor()
            if t.op == "*":
                v = self._check(v * r)
            elif r == 0:
                self.undefined = True  # keep parsing: the statement is still a statement
            else:
                v = self._check(v / r)
        return v

    def factor(self) -> Fraction:
        t = self._peek()
        if t is None:
            raise ValueError
        if t.kind == OP and t.op == "-":
            self.i += 1
            return -self.factor()
        if t.kind == NUM:
            self.i += 1
            self.operands += 1
            self.percent |= t.percent
            return t.value / 100 if t.percent else t.value
        if t.kind == LP:
            self.i += 1
            v = self.expr()
            if (close := self._peek()) is None or close.kind != RP:
                raise ValueError
            self.i += 1
            return v
        raise ValueError


@dataclass
class _Expr:
    value: Fraction | None  # None: undefined
    start: int  # token index in the list given
    end: int
    ops: int
    operands: int
    percent: bool
    plus_minus: bool
    dollar: bool


def _parse(toks: list[Tok], a: int, b: int, sp: Spec, *, prefix: bool = False) -> _Expr | None:
    """toks[a:b] as one expression (or, with `prefix`, its longest parsable start); None if it is not one."""
    parser = _Parser(toks[a:b], sp.max_value_digits)
    try:
        value = parser.expr()
    except ValueError:
        return None
    if parser.i != b - a and not prefix:
        return None
    if parser.operands > sp.max_operands:
        raise _Overflow
    dollar = any(t.dollar for t in toks[a:a + parser.i])
    return _Expr(None if parser.undefined else value, a, a + parser.i, parser.ops, parser.operands, parser.percent,
                 parser.plus_minus, dollar)


def _arith(s: str, toks: list[Tok]) -> list[Tok]:
    """The tokens with unit words dropped: a word right after a number and right before an operator, a closing
    parenthesis or an equals ("12 apples - 3 apples = 9")."""
    out: list[Tok] = []
    for k, t in enumerate(toks):
        if (t.kind == BAR and out and out[-1].kind == NUM and k + 1 < len(toks)
                and toks[k + 1].kind in (OP, RP, EQ) and t.end - t.start <= 20
                and all(_is_letter(c) for c in s[t.start:t.end])):
            continue
        out.append(t)
    return out


def _cut(s: str, lo: int, left: "_Expr") -> bool:
    """The expression starts a window that does not start the text, right after something it may continue."""
    if lo == 0 or left.start != 0:
        return False
    before = s[:lo].rstrip(_SPACE)
    return bool(before) and (_is_digit(before[-1]) or _is_letter(before[-1]) or before[-1] in "()$%=+-*/" or
                             before[-1] in spec().symbols)


def _left(s: str, toks: list[Tok], e: int, sp: Spec) -> _Expr | None:
    """The longest expression with an operator that ends right before the equals toks[e]; None if there is none or
    it is not checked (a % next to + or −, a bare "a/b is")."""
    b = e
    while b > 0 and toks[b - 1].kind in (NUM, OP, LP, RP):
        b -= 1
    if e - b > 4 * sp.max_operands:
        return None
    for a in range(b, e):
        try:
            found = _parse(toks, a, e, sp)
        except _Overflow:
            return None  # never a shorter part of a statement too large to check
        if found is None or found.ops == 0:
            continue
        if found.percent and found.plus_minus:
            return None
        if (toks[e].op == "is" and e - a == 3 and toks[a + 1].op == "/" and toks[a + 1].kind == OP
                and toks[a].end == toks[a + 1].start and toks[a + 1].end == toks[a + 2].start
                and toks[a].decimals == 0 and toks[a + 2].decimals == 0 and not toks[a].percent
                and not toks[a + 2].percent):
            return None  # "3/4 is ...": a date, or a fraction named in words
        return found
    return None


def _matches(true: Fraction, written: Fraction, decimals: int) -> bool:
    """written (with `decimals` places) is true, or true rounded to those places when it has more. In integers,
    with true = p/q and written = w/10^d: w·q = p·10^d, or 2·|w·q − p·10^d| <= q (all below 10^36: an int128)."""
    p, q = true.numerator, true.denominator
    w = written.numerator * (10 ** decimals // written.denominator)
    diff = w * q - p * 10 ** decimals
    if diff == 0:
        return True
    return decimals > 0 and (p * 10 ** decimals) % q != 0 and 2 * abs(diff) <= q


def format_value(v: Fraction) -> str:
    """An exact value as text: "19", "-3.5", "0.125"; "p/q" when it has no decimal of `format_decimals` places."""
    for places in range(spec().format_decimals + 1):
        if (v.numerator * 10 ** places) % v.denominator == 0:
            return _decimal(v, places)
    return f"{v.numerator}/{v.denominator}"


def _decimal(v: Fraction, places: int) -> str:
    """v rounded half away from zero to `places` decimals, trailing zeros dropped."""
    scaled = abs(v) * 10 ** places
    n = (scaled.numerator * 2 + scaled.denominator) // (2 * scaled.denominator)
    digits = str(n).rjust(places + 1, "0")
    whole, frac = digits[: len(digits) - places], digits[len(digits) - places:].rstrip("0") if places else ""
    text = whole + ("." + frac if frac else "")
    return ("-" if v < 0 and text.strip("0.") else "") + text


def result_text(v: Fraction) -> str | None:
    """What compute mode writes for a true value: exact up to `exact_decimals` decimals, else rounded to
    `rounded_decimals`; None when rounding would write 0 for a value that is not 0."""
    sp = spec()
    exact = format_value(v)
    if "/" not in exact and "." not in exact:
        return exact
    if "/" not in exact and len(exact.partition(".")[2]) <= sp.exact_decimals:
        return exact
    text = _decimal(v, sp.rounded_decimals)
    return None if text.strip("-0.") == "" else text


def _final(s: str, toks: list[Tok], e: int, at_end: bool) -> bool:
    """The statement at the equals toks[e] is complete: something other than the expression after the equals
    follows it (a word, punctuation, another equals), or the text has ended. A "," or "." at the very end may
    still be a thousands separator or a decimal point ("= 1," before "000")."""
    r = e + 1
    while r < len(toks) and toks[r].kind in (NUM, OP, LP, RP):
        r += 1
    if r == len(toks):
        return at_end
    nxt = toks[r]
    return at_end or not (nxt.kind == BAR and s[nxt.start:nxt.end] in (",", ".") and nxt.end == len(s))


def statements(s: str, lo: int = 0, *, at_end: bool = True) -> list[Statement]:
    """Every complete statement in s[lo:] (its expression may not start before lo). With `at_end` false, a number
    at the very end of s (it may still grow: "= 1" before "2") does not complete a statement."""
    sp = spec()
    toks = _arith(s, lex(s, lo))
    found: list[Statement] = []
    for e, eq in enumerate(toks):
        if eq.kind != EQ:
            continue
        left = _left(s, toks, e, sp)
        if left is None or _cut(s, lo, left) or not _final(s, toks, e, at_end):
            continue
        k = e + 1
        negative = k < len(toks) and toks[k].kind == OP and toks[k].op == "-"
        if negative:
            k += 1
        if k >= len(toks) or toks[k].kind != NUM or (negative and toks[k].start != toks[k - 1].end):
            continue
        num = toks[k]
        written = -num.value if negative else num.value
        right = False
        if left.value is not None:
            candidates = [(written, num.decimals)] + ([(written / 100, num.decimals + 2)] if num.percent else [])
            right = any(_matches(left.value, w, d) for w, d in candidates)
            if not right:  # "3 * 4 = 6 * 2": the right side is an expression of the same value
                r = e + 1
                while r < len(toks) and toks[r].kind in (NUM, OP, LP, RP):
                    r += 1
                try:  # bounded as the left side is: no deep recursion on "= 8 * ((((((..."
                    alt = _parse(toks, e + 1, r, sp, prefix=True) if r - e - 1 <= 4 * sp.max_operands else None
                except _Overflow:
                    alt = None
                right = alt is not None and alt.ops > 0 and alt.value == left.value
        start = toks[left.start].start
        found.append(Statement(start=start, end=num.end, text=s[start:num.end], written=format_value(written),
                               value=None if left.value is None else format_value(left.value), right=right,
                               eq_end=eq.end))
    return found


def pending(s: str, lo: int = 0) -> tuple[str, int] | None:
    """(result text to write, equals end) when s ends with "a op b =" (or "is", "equals", or "= $") whose
    expression has a value compute mode can write; else None. The text starts with a space when the model would
    write one: the equals came after a space and nothing follows it yet."""
    sp = spec()
    toks = _arith(s, lex(s, lo))
    if not toks:
        return None
    dollar_typed = toks[-1].kind == BAR and s[toks[-1].start:toks[-1].end] == "$"
    e = len(toks) - (2 if dollar_typed else 1)
    if e < 0 or toks[e].kind != EQ:
        return None
    left = _left(s, toks, e, sp)
    if left is None or left.value is None or _cut(s, lo, left):
        return None
    text = result_text(left.value)
    if text is None:
        return None
    eq = toks[e]
    if dollar_typed:
        lead = ""
    else:
        lead = "" if eq.end < len(s) else (" " if eq.start > 0 and s[eq.start - 1] in _SPACE else "")
        if left.dollar:
            text = "-$" + text[1:] if text.startswith("-") else "$" + text
    return lead + text, eq.end


def _may_be_pending(s: str) -> bool:
    """Cheap test before `pending`: s ends with "=", "$" or the last word of an equals word (spaces after)."""
    end = len(s)
    while end > 0 and s[end - 1] in " \t":
        end -= 1
    if end == 0:
        return False
    if s[end - 1] in "=$":
        return True
    start = end
    while start > 0 and _is_letter(s[start - 1]):  # the whole trailing word
        start -= 1
    return s[start:end].lower() in _last_words()


@cache
def _last_words() -> frozenset[str]:
    return frozenset(w.split(" ")[-1] for w in spec().equals_words)


def _equals_word(s: str, start: int) -> bool:
    """s[start:] holds a first word of an equals word ("is", "equals"), as a whole word in any case."""
    return _equals_pattern().search(s, start) is not None


@cache
def _equals_pattern() -> "re.Pattern[str]":
    words = sorted({w.split(" ")[0] for w in spec().equals_words})
    return re.compile(r"(?<![A-Za-z])(?:" + "|".join(map(re.escape, words)) + r")(?![A-Za-z])", re.IGNORECASE)


def analyse(s: str) -> dict[str, Any]:
    """Statements of a whole text and what compute mode would write at its end (the golden file's record)."""
    p = pending(s)
    return {"statements": [{"text": st.text, "start": st.start, "end": st.end, "written": st.written,
                            "value": st.value, "right": st.right} for st in statements(s)],
            "pending": None if p is None else p[0]}


@dataclass
class ArithmeticChecker:
    """The statements of one trace as it is decoded, and (compute mode) the result tokens to feed.

    The decode loop pushes every token; after each, `expected()` is the token the calculator wants next
    (None when it wants nothing). The model's own token is kept when it is that token (no double insertion);
    otherwise the loop feeds `take_rest()` as tool tokens. Work per token: an incremental decode, and a scan of
    the last two lines only when a number may just have ended.
    """

    text: Text
    mode: Calculator = Calculator.CHECK
    statements: list[Statement] = field(default_factory=list)
    trace: str = ""
    token_ends: list[int] = field(default_factory=list)  # len(trace) after each token
    _decoder: Any = None
    _seen: set[int] = field(default_factory=set)
    _handled_eq: set[int] = field(default_factory=set)
    _corrected_eq: set[int] = field(default_factory=set)
    _forced_eq: set[int] = field(default_factory=set)
    _seq: list[int] = field(default_factory=list)
    _seq_at: int = 0
    _seq_eq: int = -1
    _finished: bool = False
    seconds: float = 0.0  # spent in push/expected/finish: the checker's cost, reported by `bench reason`

    def __post_init__(self) -> None:
        self._decoder = self.text.stream()

    def push(self, token_id: int, *, tool: bool = False) -> None:
        """Add a decoded token (tool: written by the calculator)."""
        start = time.perf_counter()
        self._push(token_id, tool)
        self.seconds += time.perf_counter() - start

    def _push(self, token_id: int, tool: bool) -> None:
        if self._seq:
            self._seq_at += 1
            if self._seq_at >= len(self._seq):
                self._seq = []
        piece = self._decoder.push(token_id)
        before = self.trace
        self.trace += piece
        self.token_ends.append(len(self.trace))
        if tool and self._seq_eq >= 0:
            self._forced_eq.add(self._seq_eq)
        if before and any(not _is_digit(c) and c not in _SPACE and c not in "()" and c not in spec().symbols
                          for c in piece):
            self._scan(at_end=False)  # something that may end a statement arrived (digits, operators can't)

    def expected(self, room: int) -> int | None:
        """The token compute mode wants next, if any. `room`: tokens the trace may still add (budget and
        context); a result that does not fit whole is not written."""
        if self.mode is not Calculator.COMPUTE:
            return None
        if not self._seq and _may_be_pending(self.trace):
            start = time.perf_counter()
            self._start_sequence(room)
            self.seconds += time.perf_counter() - start
        return self._seq[self._seq_at] if self._seq else None

    def _start_sequence(self, room: int) -> None:
        found = pending(self.trace, self._window_start())
        if found is None or found[1] in self._handled_eq:
            return
        text, eq_end = found
        self._handled_eq.add(eq_end)
        ids = self.text.encode(text, add_bos=False)
        if 0 < len(ids) <= room:
            self._seq, self._seq_at, self._seq_eq = ids, 0, eq_end

    def take_rest(self) -> list[int]:
        """The rest of the result's tokens (the model's own choice differed): fed as tool tokens."""
        rest = self._seq[self._seq_at:]
        self._corrected_eq.add(self._seq_eq)
        return rest

    def finish(self) -> None:
        """The trace ended: a number at its very end completes its statement."""
        if not self._finished:
            start = time.perf_counter()
            self._finished = True
            self._scan(at_end=True)
            self.seconds += time.perf_counter() - start

    def _window_start(self) -> int:
        """Start of the line before the current one, at most `window_chars` back (then at a space)."""
        s = self.trace
        line = s.rfind("\n")
        start = s.rfind("\n", 0, line) + 1 if line >= 0 else 0
        floor = len(s) - spec().window_chars
        if start < floor:
            start = floor
            while start < len(s) and s[start] not in _SPACE:
                start += 1
        return start

    def _scan(self, at_end: bool) -> None:
        start = self._window_start()
        if "=" not in self.trace[start:] and not _equals_word(self.trace, start):
            return  # no equals in the window: no statement (the common case in prose)
        for st in statements(self.trace, start, at_end=at_end):
            if st.end in self._seen:
                continue
            self._seen.add(st.end)
            st.forced = st.eq_end in self._forced_eq
            st.corrected = st.eq_end in self._corrected_eq
            self.statements.append(st)

    def token_at(self, offset: int) -> int:
        """Index of the token that wrote the character at `offset`."""
        return bisect.bisect_right(self.token_ends, offset)

    @property
    def errors(self) -> list[Statement]:
        return [st for st in self.statements if st.error]

    def features(self) -> dict[str, float]:
        """arith_statements, arith_errors, first_error_at (the first error's token / the trace's tokens; 1 with
        none): the calibrator's arithmetic inputs."""
        errors = self.errors
        n = max(1, len(self.token_ends))
        first = min(1.0, self.token_at(errors[0].end - 1) / n) if errors else 1.0
        return {"arith_statements": float(len(self.statements)), "arith_errors": float(len(errors)),
                "first_error_at": first}


NO_ARITHMETIC = {"arith_statements": 0.0, "arith_errors": 0.0, "first_error_at": 1.0}  # calculator off
