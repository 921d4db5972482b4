"""Task files of every common shape, in JSONL, CSV and Parquet, read without a conversion step; bad rows refused in
one line naming the file, the line and the field."""

import csv
import json

import pytest

from edgereason.bench import tasks
from edgereason.bench.taskfiles import parse_fields, read_task_file
from edgereason.errors import UsageError
from edgereason.runtime.answers import AnswerKind, extract_math


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_every_shape_in_jsonl(tmp_path):
    gsm = _jsonl(tmp_path / "g.jsonl", [{"question": "1+1?", "answer": "1+1=2\n#### 2"}])
    assert [(p.question, p.answer) for p in read_task_file(gsm, n=None)] == [("1+1?", "2")]
    math = _jsonl(tmp_path / "m.jsonl", [
        {"id": "2024-I-1", "problem": "Find $x$.", "answer": 25},
        {"problem": "Half of one?", "solution": "It is $\\boxed{\\frac{1}{2}}$, since ..."}])
    first, second = read_task_file(math, n=None)
    assert (first.id, first.answer, first.kind) == ("2024-I-1", "25", AnswerKind.MATH)
    assert second.answer == extract_math("\\boxed{\\frac{1}{2}}") and second.meta["solution"].startswith("It is")
    arc = _jsonl(tmp_path / "a.jsonl", [{"id": "q1", "question": {"stem": "Sky?", "choices": [
        {"text": "blue", "label": "1"}, {"text": "green", "label": "2"}]}, "answerKey": "2"}])
    [p] = read_task_file(arc, n=None)
    assert (p.kind, p.answer, p.choices) == (AnswerKind.CHOICE, "B", ("A. blue", "B. green"))
    plain = _jsonl(tmp_path / "p.jsonl", [
        {"question": "Capital of France?", "choices": ["Rome", "Paris", "Oslo"], "answer": "Paris"},
        {"question": "Pick b", "choices": ["x", "y"], "answer": "b"},
        {"question": "2*3?", "answer": 6}])
    a, b, c = read_task_file(plain, n=None)
    assert (a.answer, a.choices[1], b.answer) == ("B", "B. Paris", "B")
    assert (c.kind, c.answer) == (AnswerKind.MATH, "6")
    assert [p.id for p in read_task_file(plain, n=2, offset=1)] == ["p-1", "p-2"]


def test_csv_with_letter_columns_json_choices_and_renamed_fields(tmp_path):
    path = tmp_path / "quiz.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["prompt", "A", "B", "C", "gold"])
        w.writerow(["Which is wet?", "sand", "water", "stone", "B"])
        w.writerow(["Which is hot?", "fire", "ice", "", "fire"])  # an empty cell: two options
    fields = parse_fields("question=prompt,answer=gold")
    first, second = read_task_file(path, n=None, fields=fields)
    assert first.choices == ("A. sand", "B. water", "C. stone") and first.answer == "B"
    assert second.choices == ("A. fire", "B. ice") and second.answer == "A"
    listed = tmp_path / "listed.csv"
    listed.write_text('question,choices,answer\n"Odd one?","[""1"", ""2"", ""3""]",C\n"3+4?",,7\n')
    x, y = read_task_file(listed, n=None)
    assert x.choices == ("A. 1", "B. 2", "C. 3") and x.answer == "C" and (y.kind, y.answer) == (AnswerKind.MATH, "7")


def test_parquet(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"problem": ["1/2 + 1/4?", "Twice 4?"], "answer": ["3/4", "8"]}), path)
    problems = read_task_file(path, n=1, offset=1)
    assert [(p.question, p.answer) for p in problems] == [("Twice 4?", "8")]


@pytest.mark.parametrize(("rows", "match"), [
    ([{"question": "a?", "answer": "1"}, {"question": "b?"}], r"x.jsonl line 2: .*answer.*fix the record"),
    ([{"problem": "p?", "solution": "no box here"}], r"x.jsonl line 1: answer: missing, and no \\boxed"),
    ([{"question": "q?", "choices": ["a", "b"], "answer": "C"}], r"line 1: answer: 'C' is neither a letter A-B"),
    ([{"question": "q?", "choices": ["only"], "answer": "A"}], r"line 1: choices: "),
    ([{"question": {"stem": "s", "choices": [{"text": "t", "label": "A"}, {"text": "u", "label": "B"}]},
       "answerKey": "Z"}], r"line 1: answerKey 'Z' is not exactly one of the choice labels"),
    ([{"question": "", "answer": "1"}], r"line 1: question"),
])
def test_bad_rows_name_the_file_line_and_field(tmp_path, rows, match):
    with pytest.raises(UsageError, match=match):
        read_task_file(_jsonl(tmp_path / "x.jsonl", rows), n=None)


def test_bad_files_and_flags(tmp_path):
    with pytest.raises(UsageError, match=r"line 1: missing field 'text' \(given as question by --fields\)"):
        read_task_file(_jsonl(tmp_path / "y.jsonl", [{"q": "a"}]), n=None, fields={"question": "text"})
    with pytest.raises(UsageError, match="unknown task file type '.txt'"):
        (tmp_path / "t.txt").write_text("hi\n")
        read_task_file(tmp_path / "t.txt", n=None)
    with pytest.raises(UsageError, match="is not NAME=COLUMN"):
        parse_fields("question")
    with pytest.raises(UsageError, match="'answr' is not a field edgereason reads"):
        parse_fields("answr=x")
    with pytest.raises(UsageError, match="--fields maps the columns of a task file, not of 'gsm8k'"):
        tasks.load_task("gsm8k", n=3, fields={"question": "q"})
    with pytest.raises(UsageError, match=r"bad.csv line 2: more cells than the header"):
        (tmp_path / "bad.csv").write_text("question,answer\nq?,1,extra\n")
        read_task_file(tmp_path / "bad.csv", n=None)
    plain = _jsonl(tmp_path / "ok.jsonl", [{"question": "2+2?", "answer": "4"}])
    assert tasks.load_task(str(plain), n=5)[0].answer == "4"
