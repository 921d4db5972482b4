"""Regenerate answers.json — only when runtime/answers.py, edgereason/specs/answers.json or the stated-answer rule
changes (the C++ and Java ports compare against it).

Run: python tests/golden/make_answer_vectors.py
"""

import json
from pathlib import Path

from edgereason.runtime.answers import canonical_answer, extract_choice, extract_math, normalize_number, same_answer
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
    # Answers beyond integers (issue 18): boxes with nested braces, fractions, mixed numbers, expressions.
    "\\boxed{\\frac{3}{4}}", "\\boxed{\\dfrac{-3}{4}}", "The answer is $-\\frac{3}{4}$.",
    "So the answer is \\(\\tfrac{1}{3}\\)", "The answer is \\[\\frac{1}{2}\\]", "answer: \\frac {2} {4}",
    "answer is 1 1/2 cups", "the answer is 25%", "\\boxed{1\\frac{1}{2}}", "\\boxed{2 \\frac{5}{4}}",
    "\\boxed{-2 1/4}", "\\boxed{\\frac{\\sqrt{3}}{2}}", "\\boxed{\\left( 1, 2 \\right)}", "\\boxed{(1, 2]}",
    "\\boxed{\\left[1,3\\right)}", "\\boxed{\\{1, 2\\}}", "\\boxed{\\sqrt{2}}", "\\boxed{2\\sqrt 2}",
    "\\boxed{\\pi r^2}", "\\boxed{3\\pi}", "\\boxed{\\leftarrow}", "\\boxed{x + 1}", "\\boxed{18 \\text{ dollars}}",
    "\\boxed{\\$1,234.50}", "\\boxed{25\\%}", "\\boxed{90^\\circ}", "\\boxed{90\u00b0}", "\\boxed{20 m}",
    "\\boxed{\\text{5 dollars and 50 cents}}", "\\boxed{\\text{Yes}}\nthe answer is 3", "\\boxed{xy}\nso 4",
    "\\boxed{\\boxed{7}}", "\\boxed{12", "\\boxed{\\boxed{5}", "\\boxed{x = 2 + 3 = 5}", "\\boxed{3+4=7}",
    "\\boxed{y = 2x + 1}", "\\boxed{x^2+y^2=1}", "\\boxed{x \\leq 3}", "\\boxed{x <= 3}", "\\boxed{2/6}",
    "\\boxed{0/5}", "\\boxed{5/0}", "\\boxed{12345678/3}", "\\boxed{3 / 4}", "\\boxed{-0.75}", "\\boxed{1e400}",
    "\\boxed{.5}", "\\boxed{12345678901234567890}", "\\boxed{}", "#### 3/4", "#### -1 1/2", "Therefore, x = 5.",
    "$x = \\frac{3}{4}$", "Let y = 2\nso x = -1.5", "If y = 2 then x = 7", "x = 3 + 4", "so x <= 5", "Total = 12",
    "x = 5\r\n", "x = 5\nand that is all", "Let x = the number of apples", "we have 3/4 left", "she ate 2 1/2 pies",
    "x-3/4", "60/2=30", "on 12/25/2023", "pay $3/4", "it is 3 5/4",
]
NUMBERS = ["1,000", "$5.50", "12.0", "-0", "7.", "abc", "1e5", "0.000012345", "123456789012345678",
           "3.14159265", "$\t5", "-\t5", ",", "5..", "1234567.25", "inf", "nan", "1_000", "1e400", "-1e400",
           "9" * 400, "+5", ".5", "1.5e3", "1/2"]
PAIRS = [("3", "3.0"), ("3", "4"), ("1,000", "1000"), ("A", "A"), ("A", "B"), ("x", "x"), ("5", None),
         (None, None), ("0.5", ".5"), ("$2", "2"), ("0.75", "3/4"), ("3/4", "\\frac{3}{4}"), ("1/3", "2/6"),
         ("1/3", "0.333333"), ("1 1/2", "1.5"), ("\\frac{3}{2}", "1\\frac{1}{2}"), ("(1,2)", "\\left(1, 2\\right)"),
         ("\\sqrt{2}", "\\sqrt2"), ("x+1", "x + 1"), ("25%", "25"), ("-0.5", "-\\frac{1}{2}"), ("x=5", "5"),
         ("Yes", "yes"), ("\\text{Yes}", "Yes"), ("2x", "x2")]
# One answer on its own (a box's content, a reference): its canonical form.
SPANS = ["3/4", "-\\frac{6}{8}", "\\dfrac{1}{3}", "1 1/2", "-1\\frac{1}{4}", "3 5/4", "25\\%", "x = 5", "y=2x+1",
         "x+1=5", "3+4=7", "\\frac{6}{2}=3", "x \\geq 2", "x != 2", "\\left( -\\infty, 3 \\right]", "\\sqrt 2",
         "\\pi r", "1 2", "18 apples", "20 m", "\\text{Yes}", "", "  ", "=", "x =", "1234567/7654321", "12345678/3",
         "$\\$5.00$."]
LINES = ["so the answer is 42.\n", "The answer is: $-7\n", "the answer is (B)\n", "the answer is that\n",
         "ANSWER IS\t9\n", "no answer here\n", "the answer is ٣\n"]


def main() -> None:
    golden = {
        "extract": [{"text": t, "math": extract_math(t), "choice": extract_choice(t),
                     "choice4": extract_choice(t, num_choices=4)} for t in TEXTS],
        "normalize": [{"text": n, "number": normalize_number(n)} for n in NUMBERS],
        "same_answer": [{"a": a, "b": b, "same": same_answer(a, b)} for a, b in PAIRS],
        "canonical": [{"text": t, "answer": canonical_answer(t)} for t in SPANS],
        "stated": [{"line": line, "stated": bool(_STATED.search(line))} for line in LINES],
    }
    OUT.write_text(json.dumps(golden, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
