"""Regenerate arithmetic.json — only when runtime/arith.py's grammar or edgereason/specs/arithmetic.json changes
(the C++ runner and the Java core compare against it).

- `texts`: a whole text → its statements (span in code points, text, written and true value, right) and what
  compute mode would write at its end (`pending`).
- `results`: exact values → the text compute mode writes for them.
- `traces`: the decode loop over a scripted model (tests/helpers.py `scripted_backend`: after the prompt, the
  logits at cache position p peak at script[p - prompt_len]; eos after the script), SmolLM2's tokenizer, greedy:
  the tokens fed (tool or not), the statements and the trace features, per calculator mode.

Run: EDGEREASON_HOME=... python tests/golden/make_arith_vectors.py
"""

import json
import sys
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers import scripted_backend  # noqa: E402

from edgereason.export import hf  # noqa: E402
from edgereason.models import resolve  # noqa: E402
from edgereason.runtime.arith import ArithmeticChecker, Calculator, analyse, result_text  # noqa: E402
from edgereason.runtime.generate import generate  # noqa: E402
from edgereason.runtime.text import Text  # noqa: E402

OUT = Path(__file__).with_name("arithmetic.json")

TEXTS = [
    # the forms small models write
    "3 + 4 = 7", "12 - 7 = 2.", "3 + 4 + 5 = 12", "3 times 4 is 12", "12 divided by 4 equals 3",
    "6 multiplied by 7 is equal to 42", "9 plus 10 is 21", "20 minus 8 = 12", "(3 + 4) * 2 = 14", "2 * (3 + 4) = 15",
    "4 × 3 = 12 and 12 ÷ 4 = 3 and 9 − 2 = 7", "3x4=12", "3 x 4 = 12", "(2)x(3) = 6", "3 X 5 = 15",
    # numbers: thousands separators, decimals, money, percent
    "1,250 + 750 = 2,000", "1,250 + 750 = 2000", "1234,567 + 1 = 2", "0.5 * 8 = 4", "7 / 2 = 3.5", "$5 * 3 = $15",
    "$1.50 * 4 = $6.00", "20% of 50 = 10", "50 - 20% = 40", "10 / 50 * 100 = 20%", "10 / 50 = 20%", "0.2 * 50% = 0.1",
    "3 + 4 = 007", "1,2 + 3 = 4", "1 / 3 = 33.33%", "10 / 3 = 33.3%", "1/3 = 33%", "1 / 1024 = 0.0009765625",
    "1 / 8192 = 0",
    # chains and right sides
    "3 + 4 = 7 + 5 = 12", "3 + 4 = 8 + 5 = 13", "3 * 4 = 6 * 2 today", "3 * 4 = 6 * 3 today", "Step 1: 3 + 4 = 7, "
    "then 7 * 2 = 15.", "So 5 + 5 = 10 and 10 - 3 = 6.\nThe answer is 6.", "3 + 4 = 7.5", "3 + 4 = -7",
    # rounding
    "10 / 3 = 3.33", "10 / 3 = 3.3", "10 / 3 = 3.34", "10/3 = 3", "2 / 3 = 0.67", "2 / 3 = 0.666", "1 / 8 = 0.125",
    "1 / 8 = 0.13", "5 / 2 = 2", "5 / 2 = 3",
    # negative results, division by zero, huge numbers
    "5 - 8 = -3", "5 - 8 = 3", "-3 + 5 = 2", "5 - -3 = 8", "5 / 0 = 0", "0 / 5 = 0", "99999999999999999 + 1 = 1",
    "999999999999999 * 999999999999999 = 1", "123456789012345 * 123456789012345 * 123456789012345 = 7",
    # a fraction vs a date, units, a line break
    "3/4 is 3 days", "3/4 = 0.75", "1/2 is half", "On 12/25 = Christmas", "12 apples - 3 apples = 9 apples",
    "5 boxes * 12 = 60 eggs", "3 + 4\n= 7", "3 +\n4 = 8", "12 - 7\n5 + 3 = 8",
    # not statements
    "The answer is 7", "x = 5", "2x + 3 = 7", "x2 + 1 = 3", "3rd + 4 = 7", "v1.2 + 1 = 2.2", "1.2.3 + 1 = 2",
    "He is 7 years old", "answer: 3 + 4", "3 + 4 =", "3 + 4 = x", "The total is 3 + 4 = 7",
    "**3 + 4 = 7**", "3 + 4 = 7\u00b2", "3 + 4 = \u0667", "\u0663 + 4 = 7", "3 + 4 = 7\u2009apples",
    # what compute mode writes at the end
    "3 + 4 = 8 * " + "(" * 80 + "1", "3 + 4 = 8 * " + "- " * 80 + "1", "3 * 4 = 6 * 2 * 1 * 1 * 1 * 1 * 1 * 1 * 1 "
    "* 1 * 1 * 1 * 1 * 1 * 1 * 1 * 1 * 1 * 1 * 1 * 1 * 1 * 1 * 1 * 1 * 1 * 1 * 1 * 1 * 1 * 1 * 1 * 1 * 1 * 1",
    "3+4=", "3 * $4 =", "3 * 4 = $", "3 times 4 is", "6 divided by 4 equals", "2 / 3 =", "1 / 3000 =", "5 / 0 =",
    "10 - 30 =", "$10 - $30 =", "The answer is", "3 + 4 = ", "12 apples - 3 apples =", "1 / 8 =", "7 / 3 * 3 =",
]

RESULTS = [Fraction(19), Fraction(-3), Fraction(7, 2), Fraction(1, 8), Fraction(1, 3), Fraction(2, 3),
           Fraction(-2, 3), Fraction(1, 3000), Fraction(5, 1000), Fraction(1, 64), Fraction(123456789, 1000000000),
           Fraction(10 ** 20), Fraction(0), Fraction(1, 200)]

SCRIPTS = [
    "12 - 7 = 2 apples.\nThe answer is 2.",
    "Tom has 12 apples.\n12 - 7 = 5 apples.\nThe answer is 5.",
    "So 48 + 25 = 63 and 63 * 2 = 126.\nThe answer is 126.",
    "3 times 4 is 11, so 11 + 1 = 12.",
    "7 / 2 = 3 and 10 / 3 = 3.",  # the script runs on after a longer result: "3.510" (a real model reads it)
    "The price is $5 * 3 = $16.",
    "5 / 0 = 0.\n2 + 2 = 4",
    "1,250 + 750 = 1900 in all.",
    "Half of 9 is 4 and 9 / 2 = 4 r 1.\nThe answer is 4.",
]


def _trace(text: Text, script_text: str, mode: Calculator, max_new_tokens: int) -> dict:
    script = text.encode(script_text, add_bos=False)
    prompt = [1, 2, 3]
    backend = scripted_backend(script, prompt_len=len(prompt), eos_id=2)
    checker = ArithmeticChecker(text, mode) if mode is not Calculator.OFF else None
    steps = list(generate(backend, prompt, max_new_tokens=max_new_tokens, arithmetic=checker))
    return {
        "mode": mode.value, "max_new_tokens": max_new_tokens,
        "fed": [s.token_id for s in steps], "tool": [s.tool for s in steps],
        "finish_reason": steps[-1].finish_reason, "text": text.decode([s.token_id for s in steps]),
        "statements": [{"text": st.text, "written": st.written, "value": st.value, "right": st.right,
                        "forced": st.forced, "corrected": st.corrected} for st in (checker.statements if checker
                                                                                   else [])],
        "features": checker.features() if checker else None,
    }


def main() -> None:
    folder = hf.normalize(resolve("smollm2-135m"))
    text = Text(folder, chat_template=None)
    traces = []
    for script_text in SCRIPTS:
        script = text.encode(script_text, add_bos=False)
        runs = [_trace(text, script_text, mode, 64) for mode in (Calculator.CHECK, Calculator.COMPUTE)]
        # a budget that a forced result would cross: the result is not written
        cut = next((i for i, t in enumerate(runs[1]["tool"]) if t), None)
        if cut is not None:
            runs.append(_trace(text, script_text, Calculator.COMPUTE, cut + 1))
        traces.append({"script_text": script_text, "script": script, "prompt": [1, 2, 3], "eos_id": 2,
                       "runs": runs})
    golden = {
        "source": "runtime/arith.py with edgereason/specs/arithmetic.json; traces with SmolLM2's tokenizer",
        "texts": [{"text": t, **analyse(t)} for t in TEXTS],
        "results": [{"numerator": str(v.numerator), "denominator": str(v.denominator), "text": result_text(v)}
                    for v in RESULTS],
        "traces": traces,
    }
    OUT.write_text(json.dumps(golden, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {OUT}: {len(TEXTS)} texts, {len(RESULTS)} results, {sum(len(t['runs']) for t in traces)} traces")


if __name__ == "__main__":
    main()
