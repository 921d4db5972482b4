import json

import pytest

from edgereason import datafiles
from edgereason.runtime.answers import AnswerKind, extract, extract_choice, extract_math, same_answer


@pytest.mark.parametrize("text, want", [
    ("Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nAltogether 48+24 = <<48+24=72>>72 clips.\n#### 72", "72"),
    ("The total is 1,000 + 250 = 1,250.\n#### 1,250", "1250"),
    ("First 3 + 4 = 7. Then 7 * 2 = 14. The answer is 14.", "14"),
    ("So she makes $18 every day. The answer is $18.", "18"),
    ("We get \\boxed{42} as the result, not 41.", "42"),
    ("Thus the answer is \\boxed{\\frac{1}{2}} or 0.5", "2"),  # boxed wins; its last number
    ("The answer: -3", "-3"),
    ("He has 12 sheep, buys 7 and sells 5, leaving 14 sheep", "14"),
    ("It costs 2.50 dollars each, so 4 cost 10.00", "10"),
    ("I don't know.", None),
])
def test_math_answers(text, want):
    assert extract_math(text) == want


def test_every_gsm8k_reference_answer_is_extracted():
    found = datafiles.find("gsm8k_test.jsonl")
    if not found:
        pytest.skip("gsm8k_test.jsonl not found (edgereason data pull gsm8k)")
    path = found[1]
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for row in rows:
        final = row["answer"].rsplit("####", 1)[1].strip().replace(",", "")
        assert extract_math(row["answer"]) == final


@pytest.mark.parametrize("text, want", [
    ("The answer is B.", "B"),
    ("Answer: (C) carbon dioxide", "C"),
    ("Sunlight provides energy. So the correct answer is (A).", "A"),
    ("A plant needs light.\nD", "D"),
    ("A cat sat on a mat.", None),  # an article is not a choice
    ("The answer is E", None),  # only four choices offered
])
def test_choice_answers(text, want):
    assert extract_choice(text, num_choices=4) == want


def test_same_answer_compares_numbers():
    assert same_answer("3", "3.0") and same_answer("1000", "1,000") and not same_answer("3", "4")
    assert not same_answer(None, "3")
    assert extract("The answer is 5", AnswerKind.MATH) == "5"
