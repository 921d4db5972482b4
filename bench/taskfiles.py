"""Any task file, read as it is: the common shapes of reasoning data sets, in JSONL, CSV or Parquet.

Shapes, told apart by the first record (after `--fields` renamed its columns):
- ARC (`question.stem`, `question.choices`, `answerKey`): multiple choice;
- MATH / AIME (`problem`, `answer`, optional `solution`; without `answer`, the solution's last `\\boxed{}`);
- GSM8K (`question`, `answer` ending in `#### n`);
- plain (`question`, `answer`, optional `choices`: 2-5 option texts, the answer a letter or one of them).
Every record is checked against its shape's schema (edgereason/schemas/task_*.schema.json) before any solving, so a
bad row is one line naming the file, the line and the field. CSV through the standard library (a `choices` cell
holds a JSON list, or the options are columns A, B, ...); Parquet through pyarrow where it is installed (the
`eval` extra brings it).
"""

import csv
import json
from pathlib import Path

from edgereason import schema
from edgereason.errors import UsageError
from edgereason.runtime.answers import LETTERS, extract_math

from .tasks import Problem, _read_jsonl, arc_problem, choice_problem, gsm8k_problem

TARGETS = ("question", "answer", "choices", "solution", "problem", "id")  # what --fields can map onto
FIX = "fix the record, or map its fields with --fields question=…,answer=…"


def parse_fields(value: str | None) -> dict[str, str]:
    """`question=q,answer=a` → {"question": "q", "answer": "a"}; one line naming the fix for anything else."""
    if not value:
        return {}
    out = {}
    for part in value.split(","):
        target, eq, source = (s.strip() for s in part.partition("="))
        if not eq or not target or not source:
            raise UsageError(f"--fields '{part}' is not NAME=COLUMN: write e.g. --fields question=text,answer=label")
        if target not in TARGETS:
            raise UsageError(f"--fields {target}=…: {target!r} is not a field edgereason reads: use "
                             f"{', '.join(TARGETS)}")
        out[target] = source
    return out


def read_task_file(path: Path, *, n: int | None, offset: int = 0, fields: dict[str, str] | None = None
                   ) -> list[Problem]:
    """Problems from a task file of any shape above, every record checked first.

    Raises:
        UsageError: an unreadable file or format, or a record that is not of the first record's shape.
    """
    path = Path(path)
    rows = [(label, _renamed(row, fields or {}, label)) for label, row in _rows(path, n, offset)]
    if not rows:
        raise UsageError(f"{path} has no records" + (f" after {offset}" if offset else ""))
    shape = _shape(rows[0][1])
    return [_problem(shape, label, row, f"{path.stem}-{i + offset}") for i, (label, row) in enumerate(rows)]


def _rows(path: Path, n: int | None, offset: int) -> list[tuple[str, dict]]:
    suffix = path.suffix.lower()
    if not path.is_file():
        raise UsageError(f"{path} does not exist: pass a task file (.jsonl, .csv or .parquet)")
    if suffix in (".jsonl", ".json", ".ndjson"):
        return [(f"{path} line {lineno}", row) for lineno, row in _read_jsonl(path, n, offset, None, "a task")]
    if suffix == ".csv":
        return _csv_rows(path, n, offset)
    if suffix == ".parquet":
        return _parquet_rows(path, n, offset)
    raise UsageError(f"{path}: unknown task file type {suffix!r}: use .jsonl, .csv or .parquet")


def _csv_rows(path: Path, n: int | None, offset: int) -> list[tuple[str, dict]]:
    out = []
    try:
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            for i, row in enumerate(reader):
                if i < offset:
                    continue
                if n is not None and len(out) >= n:
                    break
                label = f"{path} line {reader.line_num}"
                if None in row:
                    raise UsageError(f"{label}: more cells than the header has columns: {FIX}")
                out.append((label, _csv_record(row, label)))
    except UnicodeDecodeError as e:
        raise UsageError(f"{path} is not UTF-8 text (byte {e.start}): pass a UTF-8 CSV file") from None
    except csv.Error as e:
        raise UsageError(f"{path} is not CSV ({e}): pass a CSV file with a header row") from None
    return out


def _csv_record(row: dict, label: str) -> dict:
    """A CSV row as a record: empty cells dropped, `choices` from a JSON list cell or from columns A, B, ..."""
    record = {k: v for k, v in row.items() if k and v not in (None, "")}
    cell = record.get("choices")
    if isinstance(cell, str):
        try:
            record["choices"] = json.loads(cell)
        except ValueError:
            raise UsageError(f"{label}: choices: not a JSON list of option texts (e.g. [\"a\", \"b\"]): "
                             f"{FIX}") from None
    elif "A" in record and "B" in record:
        record["choices"] = [record.pop(letter) for letter in LETTERS if letter in record]
    return record


def _parquet_rows(path: Path, n: int | None, offset: int) -> list[tuple[str, dict]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise UsageError(f"{path}: reading Parquet needs pyarrow: pip install -e \".[eval]\", or convert the file "
                         "to JSONL or CSV") from None
    try:
        table = pq.read_table(path)
    except Exception as e:  # pyarrow's errors have no common base beyond this
        raise UsageError(f"{path} is not a Parquet file ({str(e)[:100]}): pass a .parquet, .jsonl or .csv file")\
            from None
    stop = table.num_rows if n is None else min(table.num_rows, offset + n)
    records = table.slice(offset, max(stop - offset, 0)).to_pylist()
    return [(f"{path} row {offset + i + 1}", record) for i, record in enumerate(records)]


def _renamed(row: object, fields: dict[str, str], label: str) -> dict:
    if not isinstance(row, dict):
        raise UsageError(f"{label}: not a record (a JSON object): {FIX}")
    if not fields:
        return row
    out = {k: v for k, v in row.items() if k not in fields.values()}
    for target, source in fields.items():
        if source not in row:
            raise UsageError(f"{label}: missing field {source!r} (given as {target} by --fields): {FIX}")
        out[target] = row[source]
    return out


def _shape(first: dict) -> str:
    if "answerKey" in first:
        return "arc"
    if "problem" in first:
        return "math"
    if isinstance(first.get("answer"), str) and "####" in first["answer"]:
        return "gsm8k"
    return "plain"


def _problem(shape: str, label: str, row: dict, default_id: str) -> Problem:
    schema.validate(row, f"task_{shape}", label=label, fix=FIX, error=UsageError)
    pid = str(row.get("id", default_id))
    if shape == "arc":
        return arc_problem(label, pid, row)
    if shape == "gsm8k":
        return gsm8k_problem(pid, row)
    if shape == "math":
        answer = str(row["answer"]) if "answer" in row else extract_math(row.get("solution", ""))
        if not answer:
            raise UsageError(f"{label}: answer: missing, and no \\boxed{{}} answer in solution: {FIX}")
        return Problem(pid, row["problem"], answer, meta={"solution": row.get("solution", "")})
    answer = str(row["answer"]).strip()
    options = row.get("choices")
    if not options:
        return Problem(pid, row["question"], answer)
    letters = LETTERS[: len(options)]
    if len(answer) == 1 and answer.upper() in letters:
        return choice_problem(label, pid, row["question"], options, letters.index(answer.upper()))
    if answer in options:
        return choice_problem(label, pid, row["question"], options, options.index(answer))
    raise UsageError(f"{label}: answer: {answer[:40]!r} is neither a letter {letters[0]}-{letters[-1]} nor one of "
                     f"the choices: {FIX}")
