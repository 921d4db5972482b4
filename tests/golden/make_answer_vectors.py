"""Regenerate answers.json — only when runtime/answers.py or the stated-answer rule changes (the C++
and Java ports compare against it).

Run: python tests/golden/make_answer_vectors.py
"""

import json
from pathlib import Path

from edgereason.runtime.answers import extract_choice, extract_math, normalize_number, same_answer
from edgereason.runtime.policies import _STATED

OUT = Path(__file__).with_name("answers.json")

TEXTS = [
    "The answer is 42.", "So the answer is $1,234.50", "#### 72", "x = 3\n#### 1,000\nThe answer is 7",
    "We get \\boxed{17} and later \\boxed{\\frac{1}{2}}", "\\boxed{}\nthe answer is 9", "\\boxed{x+1=5}",
    "Answer: -3.25", "answer = 12.0", "no numbers here", "costs $ 5 then 6.", "1.5e3 apples", "12. 13. 14.",
    "The answer is: **(B)**", "answer is c", "I choose\nB\n", "(D) looks right", "The answer: E",
    "A. first\nB. second", "answer isBeta", "pick C)", "So the answer is D.\n", "ANSWER IS (a)",
    "answer is E but only A-D allowed", "B\r\n", "the answer is ٣", "\u00a0B\n", "$\t5", "3,0.5",
    "Total: 1,000,000 and 0.0001 and 123456789.5", "-0.0", "the answer is -(4)",
]
NUMBERS = ["1,000", "$5.50", "12.0", "-0", "7.", "abc", "1e5", "0.000012345", "123456789012345678",
           "3.14159265", "$\t5", "-\t5", ",", "5..", "1234567.25"]
PAIRS = [("3", "3.0"), ("3", "4"), ("1,000", "1000"), ("A", "A"), ("A", "B"), ("x", "x"), ("5", None),
         (None, None), ("0.5", ".5"), ("$2", "2")]
LINES = ["so the answer is 42.\n", "The answer is: $-7\n", "the answer is (B)\n", "the answer is that\n",
         "ANSWER IS\t9\n", "no answer here\n", "the answer is ٣\n"]


def main() -> None:
    golden = {
        "extract": [{"text": t, "math": extract_math(t), "choice": extract_choice(t),
                     "choice4": extract_choice(t, num_choices=4)} for t in TEXTS],
        "normalize": [{"text": n, "number": normalize_number(n)} for n in NUMBERS],
        "same_answer": [{"a": a, "b": b, "same": same_answer(a, b)} for a, b in PAIRS],
        "stated": [{"line": line, "stated": bool(_STATED.search(line))} for line in LINES],
    }
    OUT.write_text(json.dumps(golden, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
