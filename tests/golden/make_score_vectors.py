"""Regenerate score.json: multiple-choice solves with strategy score, computed by runtime/reason.py over recorded
logits, which the Java core (Reasoner.java, Likelihood.java) must reproduce: the choice, each option's log-likelihood
and score, the features, P(IK), P(correct) to 1e-6, the decision and its reasons.

The model is a table of forwards (tests/helpers.py `recorded_backend`): the logits and hidden state after each token
prefix the solve ran, drawn from a seeded generator as the solve asked for them, sparse (the options' tokens get
values, every other logit is 0) and nudged toward one option's tokens so that option tends to be greedy. The
tokenizer is a byte-level BPE with a few merges, kept in the file, so no model is needed on either side.
tests/test_reason.py holds Python to the file.
Run: python tests/golden/make_score_vectors.py (only when the score rule, its spec section or the calibrator change).
"""

import copy
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers import byte_text, calibrated_spec, recorded_backend  # noqa: E402

from edgereason.runtime.answers import AnswerKind  # noqa: E402
from edgereason.runtime.calibrate import check_calibrator  # noqa: E402
from edgereason.runtime.likelihood import score_continuations  # noqa: E402
from edgereason.runtime.reason import SolveConfig, Strategy, solve  # noqa: E402
from edgereason.runtime.spec import Scoring, default_spec  # noqa: E402

HERE = Path(__file__).parent
OUT = HERE / "score.json"
MERGES = [("Ġ", "t"), ("Ġt", "h"), ("Ġth", "e"), ("a", "r"), ("Ġ", "M"), ("Ġ", "S"), ("u", "n"), ("Ġ", "w")]
MAX_SEQ_LEN = 512
HIDDEN = 3  # the width of bad_files.json's probes
NUDGE = 8.0  # added to the favoured option's next token: it becomes the greedy continuation

# name, question, choices (as solve is given them), scoring (None: the default spec's), calibrated, route threshold
# (None: route_before_decode off), BOS, the favoured option (None: none), seed.
CASES = [
    ("chars", "Which is a planet?", ["Mars", "the Sun", "a comet"], None, False, None, False, None, 1),
    ("lettered, non-ASCII", "What is brewed from leaves?", ["A. café au lait", "B. the tea", "C. water",
                                                            "D. the juice"], None, False, None, False, 1, 2),
    ("tokens", "Which star is ours?", ["the Sun", "Sirius", "Vega"],
     {"context": "Q: {question}\nA:", "option": " {choice}", "normalize": "tokens"}, False, None, False, None, 3),
    ("none, BOS", "Is ice cold?", ["yes", "no"],
     {"context": "Question: {question}\nAnswer:", "option": " {choice}", "normalize": "none"}, False, None, True, 0, 4),
    ("calibrated, five options", "Which one is a gas?", ["iron", "the air", "salt", "sand", "wood"], None, True, 0.15,
     False, 1, 30),
    ("calibrated, escalated", "Which one is a gas?", ["iron", "the air", "salt"], None, True, None, False, 0, 10),
    ("routed before decoding", "Which is a metal?", ["iron", "water"], None, True, 0.99, False, 0, 6),
]


def tokenizer_json() -> dict:
    """Bytes 0-255 in GPT-2's byte-level alphabet, MERGES after them, then one special token (the BOS)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    vocab = {chars[b]: b for b in range(256)} | {a + b: 256 + i for i, (a, b) in enumerate(MERGES)}
    special = {"id": 256 + len(MERGES), "content": "<s>", "single_word": False, "lstrip": False, "rstrip": False,
               "normalized": False, "special": True}
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": [special], "normalizer": None,
            "pre_tokenizer": byte_level, "post_processor": None, "decoder": byte_level,
            "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                      "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                      "vocab": vocab, "merges": [list(m) for m in MERGES]}}


def spec_for(scoring: dict | None, calibrated: bool, route: float | None):
    """The default spec with strategy score (no few-shot turns: score's context has none), the case's scoring
    section and, when calibrated, bad_files.json's calibrator with probes, its strategy set to score."""
    if calibrated:
        cal = copy.deepcopy(json.loads((HERE / "bad_files.json").read_text())["calibrator"]["valid_with_probes"])
        cal |= {"strategy": "score", "route_threshold": cal["route_threshold"] if route is None else route}
        spec = calibrated_spec(check_calibrator(cal, "bad_files.json valid_with_probes"))
    else:
        spec = default_spec(SolveConfig(strategy=Strategy.SCORE))
    for kind in AnswerKind:
        spec = spec.with_shots(kind, [])
    if scoring is not None:
        spec = spec.replace(scoring=Scoring(**scoring))
    return spec.with_settings(route_before_decode=route is not None)


def case(tokenizer: dict, folder: Path, name: str, question: str, choices: list[str], scoring: dict | None,
         calibrated: bool, route: float | None, bos: bool, favoured: int | None, seed: int) -> dict:
    bos_id = 256 + len(MERGES)
    text = byte_text(tokenizer, folder, add_bos=bos, bos_id=bos_id)
    spec = spec_for(scoring, calibrated, route)
    rule = spec.scoring
    context = rule.context_ids(text, question)
    ids = [text.encode(rule.continuation(rule.option_text(c, i)), add_bos=False) for i, c in enumerate(choices)]
    alphabet = sorted({t for option in ids for t in option})
    rng = np.random.default_rng(seed)

    def make(prefix: tuple[int, ...]) -> dict:
        values = rng.normal(scale=2.0, size=len(alphabet))
        after = prefix[len(context):]
        wanted = ids[favoured] if favoured is not None else []
        if len(after) < len(wanted) and tuple(wanted[:len(after)]) == after:
            values[alphabet.index(wanted[len(after)])] += NUDGE
        return {"logits": [[t, round(float(v), 4)] for t, v in zip(alphabet, values, strict=True)],
                "hidden": [round(float(h), 4) for h in rng.normal(scale=3.0, size=HIDDEN)]}

    forwards: list[dict] = []
    backend = recorded_backend(forwards, vocab_size=bos_id + 1, max_seq_len=MAX_SEQ_LEN, eos_id=bos_id, make=make)
    result = solve(backend, text, question, spec=spec, kind=AnswerKind.CHOICE, choices=choices)
    options = None
    if not result.routed:
        recorded = len(forwards)
        scored = score_continuations(backend, context, ids)
        assert len(forwards) == recorded, "the options were scored at prefixes the solve never ran"
        scores = [rule.normalized(s.logprob, s.num_tokens, len(rule.continuation(rule.option_text(c, i))))
                  for i, (s, c) in enumerate(zip(scored, choices, strict=True))]
        ranked = sorted(scores)
        assert ranked[-1] - ranked[-2] > 1e-3, f"{name}: a near tie would make the choice fragile"
        options = [{"option": rule.option_text(c, i), "ids": o, "logprob": s.logprob, "num_tokens": s.num_tokens,
                    "greedy": s.greedy, "score": score}
                   for i, (c, o, s, score) in enumerate(zip(choices, ids, scored, scores, strict=True))]
    if calibrated and not result.routed:
        assert 0.2 < result.p_correct < 0.8, f"{name}: P(correct) on a flat part of the isotonic map"
    states = {k: None if v is None else [float(x) for x in v] for k, v in result.states.items()}
    return {"name": name, "question": question, "choices": choices, "add_bos": bos, "bos_id": bos_id,
            "spec": spec.to_json(), "context_ids": context, "options": options,
            "result": {"answer": result.answer, "text": result.traces[0].text if result.traces else None,
                       "p_correct": result.p_correct, "calibrated": result.calibrated, "decision": result.decision,
                       "reasons": result.reasons, "features": result.features, "p_ik": result.p_ik,
                       "routed": result.routed, "tokens_generated": result.tokens_generated,
                       "prompt_state": states.get("prompt"), "answer_state": states.get("answer")},
            "forwards": forwards}


def dumps(golden: dict) -> str:
    """Indented as the other golden files, but one recorded forward per line (one value per line would be long)."""
    tables = {f"@forwards {i}@": c["forwards"] for i, c in enumerate(golden["cases"])}
    cases = [c | {"forwards": key} for c, key in zip(golden["cases"], tables, strict=True)]
    text = json.dumps(golden | {"cases": cases}, indent=1, ensure_ascii=False)
    for key, forwards in tables.items():
        rows = ",\n   ".join(json.dumps(f, ensure_ascii=False) for f in forwards)
        text = text.replace(json.dumps(key), "[\n   " + rows + "\n  ]")
    return text


def main() -> None:
    tokenizer = tokenizer_json()
    with tempfile.TemporaryDirectory() as tmp:
        cases = [case(tokenizer, Path(tmp) / str(i), *c) for i, c in enumerate(CASES)]
    golden = {"about": __doc__.strip().splitlines()[0], "tokenizer": tokenizer, "vocab_size": 257 + len(MERGES),
              "max_seq_len": MAX_SEQ_LEN, "eos_id": 256 + len(MERGES), "cases": cases}
    OUT.write_text(dumps(golden) + "\n", encoding="utf-8")
    print(f"{OUT}: {len(cases)} cases, {sum(len(c['forwards']) for c in cases)} forwards")


if __name__ == "__main__":
    main()
