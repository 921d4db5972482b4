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
