"""Reasoning tasks: a built-in graded arithmetic suite, a built-in fractions suite, and GSM8K / ARC-Easy read by path.

The built-in suite exists so that calibration has signal on a 135M model: GSM8K is nearly all
wrong at that size, while 1–4 step word problems span easy to hard. Problems are generated from
a seed, so a (seed, n) pair names the same problems on every machine. The fractions suite asks for answers that are
not integers (`\\frac{a}{b}` in lowest terms), so that extraction, early exit and the vote are exercised on them.
"""

import random
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from edgereason import datafiles, schema
from edgereason.errors import UsageError
from edgereason.runtime.answers import LETTERS, MAX_CHOICES, AnswerKind, extract_math


@dataclass(frozen=True)
class Problem:
    id: str
    question: str
    answer: str
    kind: AnswerKind = AnswerKind.MATH
    choices: tuple[str, ...] = ()  # "A. text" lines for multiple choice
    num_steps: int | None = None  # built-in suite only
    meta: dict = field(default_factory=dict)


_NAMES = ["Tom", "Ana", "Li", "Sara", "Omar", "Mia", "Ravi", "Ella", "Ken", "Zoe", "Noah", "Ivy"]
_ITEMS = ["apples", "marbles", "stickers", "books", "coins", "pencils", "cards", "shells", "cookies", "stamps"]


MAX_SUITE_DIGITS = 6
BUILTIN_TASKS = ("builtin", "fractions", "gsm8k", "arc", "arc-easy")  # names, not files


def builtin_suite(n: int, *, seed: int = 0, steps: tuple[int, ...] = (1, 2, 3, 4),
                  digits: tuple[int, int] | None = None) -> list[Problem]:
    """`n` word problems, steps cycling through `steps`; each answer is an exact integer >= 0.

    `digits` (lo, hi): numbers of lo to hi digits, where a small model's arithmetic slips show, from a seed
    space of their own (seed 1 with digits names other problems than seed 1 without).
    """
    if digits is None:
        rng = random.Random(seed)
        return [_word_problem(rng, f"builtin-{seed}-{i}", steps[i % len(steps)]) for i in range(n)]
    lo, hi = digits
    rng = random.Random(f"builtin-digits-{lo}-{hi}-{seed}")
    return [_multi_digit_problem(rng, f"builtin-d{lo}-{hi}-{seed}-{i}", steps[i % len(steps)], lo, hi)
            for i in range(n)]


_PORTIONS = ["a pizza", "a cake", "a bar of chocolate", "a pie", "a loaf of bread", "a bottle of juice"]


def fraction_suite(n: int, *, seed: int = 0, steps: tuple[int, ...] = (1, 2)) -> list[Problem]:
    """`n` word problems over fractions of one thing, steps cycling through `steps`; each answer is a fraction in
    lowest terms written `\\frac{a}{b}` (an integer when whole), graded by value."""
    rng = random.Random(f"fractions-{seed}")
    return [_fraction_problem(rng, f"fractions-{seed}-{i}", steps[i % len(steps)]) for i in range(n)]


def _latex(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"\\frac{{{value.numerator}}}{{{value.denominator}}}"


def _plain(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def _fraction_problem(rng: random.Random, pid: str, num_steps: int) -> Problem:
    """Eat some, then more (+), put some back (-), or the same again (x 2): every result stays in (0, 1]."""
    name, thing = rng.choice(_NAMES), rng.choice(_PORTIONS)
    short = thing.split(" of ")[0].split(" ", 1)[1]
    den = rng.choice([3, 4, 5, 6, 8, 10, 12])
    value = Fraction(rng.randint(1, den // 2), den)
    sentences = [f"{name} eats {_plain(value)} of {thing}."]
    work = []
    for _ in range(num_steps):
        ops = ["add", "add"] + (["sub"] if value > Fraction(1, 4) else [])
        ops += ["twice"] if value <= Fraction(1, 2) else []
        op = rng.choice(ops)
        if op == "add":
            d = rng.choice([value.denominator, value.denominator, 2 * value.denominator, 12])
            room = (1 - value) * d
            if room < 1:
                op = "sub"
            else:
                k = Fraction(rng.randint(1, max(1, int(room) // 2 or 1)), d)
                sentences.append(f"Then {name} eats {_plain(k)} more of the {short}.")
                work.append(f"{_plain(value)} + {_plain(k)} = {_plain(value + k)}.")
                value += k
        if op == "sub":
            k = Fraction(1, value.denominator * rng.choice([1, 2]))
            while k >= value:
                k /= 2
            sentences.append(f"{name} puts back {_plain(k)} of the {short}, uneaten.")
            work.append(f"{_plain(value)} - {_plain(k)} = {_plain(value - k)}.")
            value -= k
        elif op == "twice":
            sentences.append(f"Then {name} eats the same amount again.")
            work.append(f"{_plain(value)} * 2 = {_plain(value * 2)}.")
            value *= 2
    question = (" ".join(sentences) + f" What fraction of the {short} did {name} eat? "
                "Give the answer as a fraction in lowest terms.")
    solution = "\n".join(work) + f"\nThe answer is {_latex(value)}."
    return Problem(pid, question, _latex(value), num_steps=num_steps, meta={"solution": solution})


def parse_digits(text: str | None) -> tuple[int, int] | None:
    """`--digits 2-4` (or `3`) as (lo, hi); None for None.

    Raises:
        UsageError: not LO-HI with 1 <= LO <= HI <= MAX_SUITE_DIGITS.
    """
    if text is None:
        return None
    lo, _, hi = text.strip().partition("-")
    try:
        pair = (int(lo), int(hi or lo))
    except ValueError:
        pair = (0, 0)
    if not 1 <= pair[0] <= pair[1] <= MAX_SUITE_DIGITS:
        raise UsageError(f"--digits must be LO-HI with 1 <= LO <= HI <= {MAX_SUITE_DIGITS} (e.g. 2-4), got {text!r}")
    return pair


def _count(k: int, item: str) -> str:
    return f"{k} {item[:-1] if k == 1 else item}"


def _word_problem(rng: random.Random, pid: str, num_steps: int) -> Problem:
    # Difficulty comes from the number of steps, not from large numbers: a 135M model already
    # fails many one-step sums, and calibration needs problems it sometimes gets right.
    name, item = rng.choice(_NAMES), rng.choice(_ITEMS)
    value = rng.randint(2, 12)
    sentences = [f"{name} has {value} {item}."]
    work = [f"{name} starts with {value} {item}."]
    for _ in range(num_steps):
        ops = ["add", "add", "sub", "sub", "mul"] + (["div"] if value % 2 == 0 else [])
        op = rng.choice(ops if value > 1 else ["add", "mul"])
        if op == "add":
            k = rng.randint(1, 9)
            sentences.append(rng.choice([f"{name} buys {k} more {item}.", f"A friend gives {name} {_count(k, item)}."]))
            work.append(f"{value} + {k} = {value + k}.")
            value += k
        elif op == "sub":
            k = rng.randint(1, min(9, max(1, value - 1)))
            sentences.append(rng.choice([f"{name} gives away {_count(k, item)}.", f"{name} loses {_count(k, item)}."]))
            work.append(f"{value} - {k} = {value - k}.")
            value -= k
        elif op == "mul":
            k = 2
            sentences.append(f"Then {name} doubles the number of {item}.")
            work.append(f"{value} * {k} = {value * k}.")
            value *= k
        else:
            k = 2
            sentences.append(f"{name} gives half of the {item} to a friend.")
            work.append(f"{value} / {k} = {value // k}.")
            value //= k
    question = " ".join(sentences) + f" How many {item} does {name} have now?"
    solution = "\n".join(work) + f"\nThe answer is {value}."
    return Problem(pid, question, str(value), num_steps=num_steps, meta={"solution": solution})


def _multi_digit_problem(rng: random.Random, pid: str, num_steps: int, lo: int, hi: int) -> Problem:
    """The same kind of story with lo- to hi-digit numbers: the set-up stays easy, the arithmetic does not."""

    def number() -> int:
        d = rng.randint(lo, hi)
        return rng.randint(10 ** (d - 1) if d > 1 else 1, 10 ** d - 1)

    name, item = rng.choice(_NAMES), rng.choice(_ITEMS)
    value = number()
    sentences = [f"{name} has {value} {item}."]
    work = [f"{name} starts with {value} {item}."]
    for _ in range(num_steps):
        divisors = [k for k in range(2, 10) if value % k == 0]
        ops = ["add", "add", "sub", "sub"] + (["mul"] if value < 10 ** hi else []) + (["div"] if divisors else [])
        op = rng.choice(ops if value > 1 else ["add"])
        if op == "add":
            k = number()
            sentences.append(rng.choice([f"{name} buys {k} more {item}.", f"A friend gives {name} {_count(k, item)}."]))
            work.append(f"{value} + {k} = {value + k}.")
            value += k
        elif op == "sub":
            floor = 10 ** (lo - 1)
            k = rng.randint(floor, value - 1) if value - 1 >= floor else rng.randint(1, value - 1)
            sentences.append(rng.choice([f"{name} gives away {_count(k, item)}.", f"{name} sells {_count(k, item)}."]))
            work.append(f"{value} - {k} = {value - k}.")
            value -= k
        elif op == "mul":
            k = rng.randint(2, 9)
            sentences.append(f"Then {name} ends up with {k} times as many {item}.")
            work.append(f"{value} * {k} = {value * k}.")
            value *= k
        else:
            k = rng.choice(divisors)
            sentences.append(f"{name} splits the {item} into {k} equal groups and keeps one group.")
            work.append(f"{value} / {k} = {value // k}.")
            value //= k
    question = " ".join(sentences) + f" How many {item} does {name} have now?"
    solution = "\n".join(work) + f"\nThe answer is {value}."
    return Problem(pid, question, str(value), num_steps=num_steps, meta={"solution": solution, "digits": [lo, hi]})


def read_gsm8k(path: Path | None = None, *, n: int | None = None, offset: int = 0) -> list[Problem]:
    """GSM8K records (`question`, `answer` ending in `#### n`) from a JSONL file."""
    path = Path(path) if path else datafiles.locate("gsm8k_test.jsonl", option="--task FILE.jsonl")
    return [gsm8k_problem(f"gsm8k-{lineno - 1}", row)
            for lineno, row in _read_jsonl(path, n, offset, "task_gsm8k", "a GSM8K")]


def gsm8k_problem(pid: str, row: dict) -> Problem:
    """A checked GSM8K record: the final answer is the number after `####`."""
    return Problem(pid, row["question"], extract_math(row["answer"].rsplit("####", 1)[1]) or "",
                   meta={"solution": row["answer"]})


def read_arc(path: Path | None = None, *, n: int | None = None, offset: int = 0) -> list[Problem]:
    """ARC records; numeric labels (1–4) are shown as A–D so one extractor serves all."""
    path = Path(path) if path else datafiles.locate("arc_easy_test.jsonl", option="--task FILE.jsonl")
    return [arc_problem(f"{path} line {lineno}", row.get("id", f"arc-{lineno - 1}"), row)
            for lineno, row in _read_jsonl(path, n, offset, "task_arc", "an ARC")]


def arc_problem(label: str, pid: str, row: dict) -> Problem:
    """A checked ARC record; its labels (A-E, or 1-4) are shown as A..E so one extractor serves all.

    Raises:
        UsageError: the answerKey is not exactly one of the labels, or there are more options than letters.
    """
    labels = [c["label"] for c in row["question"]["choices"]]
    if len(set(labels)) != len(labels) or row["answerKey"] not in labels:
        raise UsageError(f"{label}: answerKey {row['answerKey']!r} is not exactly one of the choice labels {labels}: "
                         "fix the record or pass an ARC JSONL")
    return choice_problem(label, pid, row["question"]["stem"], [c["text"] for c in row["question"]["choices"]],
                          labels.index(row["answerKey"]))


def choice_problem(label: str, pid: str, question: str, options: list[str], answer: int) -> Problem:
    """A multiple-choice problem: the options lettered A.. as the prompt lists them, the answer a letter."""
    if len(options) > MAX_CHOICES:
        raise UsageError(f"{label}: {len(options)} choices; at most {MAX_CHOICES} (letters {LETTERS}) can be answered")
    choices = tuple(f"{LETTERS[j]}. {text}" for j, text in enumerate(options))
    return Problem(pid, question, LETTERS[answer], kind=AnswerKind.CHOICE, choices=choices)


def _read_jsonl(path: Path, n: int | None, offset: int, schema_name: str | None = None,
                kind: str = "a task") -> list[tuple[int, dict]]:
    """(line number, record) for up to `n` records after `offset` lines, each checked against its schema.

    Raises:
        UsageError: a missing, binary or empty file, or a line that is not a JSON record of this kind.
    """
    fix = f"pass {kind} JSONL file (one JSON object per line)"
    if not path.is_file():
        raise UsageError(f"{path} does not exist: pass the task file's path")
    rows: list[tuple[int, dict]] = []
    try:
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if lineno <= offset or not line.strip():
                    continue
                if n is not None and len(rows) >= n:
                    break
                try:
                    row = schema.parse(line)
                except (ValueError, RecursionError) as e:
                    raise UsageError(f"{path} line {lineno} is not JSON ({str(e)[:80]}): {fix}") from None
                if schema_name:
                    schema.validate(row, schema_name, label=f"{path} line {lineno}", fix=fix, error=UsageError)
                rows.append((lineno, row))
    except UnicodeDecodeError as e:
        raise UsageError(f"{path} is not UTF-8 text (byte {e.start}): {fix}") from None
    except OSError as e:
        raise UsageError(f"cannot read {path} ({e.strerror}): {fix}") from None
    if not rows and (n is None or n > 0):
        raise UsageError(f"{path} has no records" + (f" after line {offset}" if offset else "") + f": {fix}")
    return rows


def load_task(name: str, *, n: int, seed: int = 0, offset: int = 0, path: Path | None = None,
              digits: tuple[int, int] | None = None, fields: dict[str, str] | None = None) -> list[Problem]:
    """`builtin` (with `digits`: its multi-digit setting), `fractions`, `gsm8k`, `arc-easy`, or a task file of any shape
    `bench.taskfiles` reads (JSONL, CSV or Parquet; `fields` renames its columns)."""
    if fields and (name in BUILTIN_TASKS or path is not None):
        raise UsageError(f"--fields maps the columns of a task file, not of {name!r}: drop it or pass --task FILE")
    if digits is not None and name != "builtin":
        raise UsageError(f"--digits is a setting of the built-in suite, not of {name!r}: drop it or use --task builtin")
    if name == "builtin":
        return builtin_suite(n, seed=seed, digits=digits)
    if name == "fractions":
        return fraction_suite(n, seed=seed)
    if name == "gsm8k":
        return read_gsm8k(path, n=n, offset=offset)
    if name in ("arc", "arc-easy"):
        return read_arc(path, n=n, offset=offset)
    candidate = Path(name)
    if candidate.is_file():
        from .taskfiles import read_task_file

        return read_task_file(candidate, n=n, offset=offset, fields=fields)
    raise UsageError(f"unknown task '{name}': use builtin, fractions, gsm8k, arc-easy or a task file (.jsonl, .csv, "
                     ".parquet)")


SHOT_SEED = 10_000  # few-shot examples come from a seed no evaluation uses


def shots_for(task: str, *, num_shots: int = 2, digits: tuple[int, int] | None = None) -> list[tuple[str, str]]:
    """Worked examples (question, answer) that show the model the answer format for a task (the built-in suite's
    in its `digits` setting)."""
    if num_shots <= 0 or task == "none":
        return []
    if task == "builtin":
        return [(p.question, p.meta["solution"])
                for p in builtin_suite(num_shots, seed=SHOT_SEED, steps=(2, 3), digits=digits)]
    if task == "fractions":
        return [(p.question, p.meta["solution"]) for p in fraction_suite(num_shots, seed=SHOT_SEED, steps=(2,))]
    if task == "gsm8k":
        train = datafiles.locate("gsm8k_train.jsonl", option=None)
        return [(p.question, _clean_gsm8k(p.meta["solution"])) for p in read_gsm8k(train, n=num_shots)]
    if task in ("arc", "arc-easy"):
        from edgereason.runtime.answers import AnswerKind
        from edgereason.runtime.spec import default_spec

        return list(default_spec().prompt(AnswerKind.CHOICE).shots[:num_shots])  # the default spec's own
    raise UsageError(f"unknown shots '{task}': use builtin, fractions, gsm8k, arc-easy or none")


def _clean_gsm8k(solution: str) -> str:
    """GSM8K's calculator notes (<<48/2=24>>) removed and `#### n` said as 'The answer is n.'."""
    body, _, final = solution.rpartition("####")
    return re.sub(r"<<[^>]*>>", "", body).strip() + f"\nThe answer is {final.strip()}."
