"""Regenerate solve_spec.json: the default solve spec bound to SmolLM2-135M's tokenizer and chat template, and the
prompt text and ids it gives for a few questions, which the C++ runner (from the rendered template alone) and the
Java core must match id for id.

Run: python tests/golden/make_solve_spec_vectors.py (the built-in checkpoint is materialized in the cache first).
"""

import json
from pathlib import Path

from edgereason import models
from edgereason.export.hf import normalize
from edgereason.runtime.answers import LETTERS, AnswerKind
from edgereason.runtime.spec import body, default_spec
from edgereason.runtime.text import Text

OUT = Path(__file__).with_name("solve_spec.json")
SHA = "ab" * 32  # the spec is not tied to a real artifact here

CASES = [
    ("math", "Tom has 3 apples and buys 4 more. How many apples does Tom have now?", []),
    ("math", "A train travels 1,250 km in 12.5 hours. What is its speed in km/h?  ", []),
    ("math", "Ünïcödé: 😀 costs $5.50; 3 of them cost?\nAnswer in dollars.", []),
    ("choice", "Which of these is a mammal?", ["a shark", "a whale", "a trout"]),
    ("choice", "Which gas do plants take in?", ["oxygen", "carbon dioxide", "helium", "neon", "argon"]),
]


def main() -> None:
    folder = normalize(models.resolve("smollm2-135m"))
    text = Text(folder, chat_template=json.loads((folder / "tokenizer_config.json").read_text())["chat_template"],
                add_bos=False, bos_id=None)
    spec = default_spec().bind(text, SHA)
    cases = []
    for kind, question, options in CASES:
        choices = [f"{LETTERS[i]}. {c}" for i, c in enumerate(options)]
        k = AnswerKind(kind)
        ids = spec.prompt_ids(text, question, kind=k, choices=choices)
        assert ids == text.prompt_ids(spec.messages(question, kind=k, choices=choices))  # template == rendering
        cases.append({"kind": kind, "question": question, "choices": choices, "body": body(question, choices),
                      "ids": ids})
    golden = {"about": __doc__.strip().splitlines()[0], "spec": spec.to_json(), "cases": cases}
    OUT.write_text(json.dumps(golden, indent=1, ensure_ascii=False) + "\n")
    print(f"{OUT}: {len(cases)} prompts")


if __name__ == "__main__":
    main()
