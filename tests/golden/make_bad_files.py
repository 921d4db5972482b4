"""Regenerate bad_files.json: a valid artifact folder and calibrator, and the broken variants that the Python
runtime (edgereason/artifact.py, runtime/calibrate.py), the C++ runner (runtime/native/src/manifest.cpp) and the
Java core (Manifest.java, Calibrator.java, SolveSpec.java) must each refuse with one error naming the same field.

Each manifest case is a folder: the valid files, then `text` (or `base64`) as manifest.json, then
`extra_files` written, `delete_files` removed and `symlinks` made (name → target). `expect` lists substrings the
error message must contain. Run: python tests/golden/make_bad_files.py (only when a rule changes).
"""

import base64
import copy
import hashlib
import json
from pathlib import Path

OUT = Path(__file__).with_name("bad_files.json")

FILES = {"model.pte": "not a real program, only bytes to hash\n" * 8, "tokenizer.json": "{}\n"}
MANIFEST = {
    "model": {"name": "tiny", "source": "tiny-random", "source_sha256": None},
    "arch": {"architecture": "LlamaForCausalLM", "n_layers": 2, "n_heads": 4, "n_kv_heads": 2, "head_dim": 16,
             "dim": 64, "vocab_size": 128, "max_seq_len": 128, "rope_theta": 10000.0},
    "tokenizer": {"file": "tokenizer.json", "bos_id": 1, "add_bos": False, "eos_ids": [2], "chat_template": None},
    "format": "pte",
    "recipe": {"name": "int4", "details": {"group_size": 32}},
    "io": {"method": "forward", "inputs": ["tokens[1,T] int64", "input_pos[1] int64"],
           "outputs": ["logits[1,V] float32"], "logits": "last"},
    "files": {name: {"bytes": len(text.encode()), "sha256": hashlib.sha256(text.encode()).hexdigest()}
              for name, text in FILES.items()},
    "quality": None, "created_by": {"edgereason": "0.1.0"}, "export_seconds": 1.5, "schema_version": 1,
}
FEATURES = ["mean_conf", "lowest_group_conf", "bottom10_group_conf", "tail_conf", "mean_logprob", "min_logprob",
            "num_tokens", "answer_logprob", "answer_min_logprob", "vote_share", "has_answer"]
CALIBRATOR = {
    "features": FEATURES, "mean": [0.5] * 11, "scale": [0.25] * 11, "weights": [0.1] * 11, "bias": -0.2,
    "threshold": 0.6, "target_risk": 0.1, "artifact_sha256": "ab" * 32, "strategy": "early-exit",
    "isotonic_x": [0.1, 0.5, 0.9], "isotonic_y": [0.2, 0.4, 0.8], "metrics": {"n_train": 70.0, "task": "builtin"},
    "version": 1,
}
# With the hidden-state probes (runtime/probes.py): two more features, each a probe's logit on a 3-wide state.
PROBE = {"state": "prompt", "mean": [0.1, -0.2, 0.3], "scale": [1.5, 0.5, 2.0], "weights": [0.4, -0.6, 0.2],
         "bias": -0.3, "l2": 0.1, "metrics": {"cv_auroc": 0.8}}
PROBED = {**CALIBRATOR, "features": [*FEATURES, "pik_logit", "answer_state_logit"], "mean": [0.5] * 11 + [0.0, 0.0],
          "scale": [0.25] * 11 + [1.0, 2.0], "weights": [0.1] * 11 + [0.8, 0.5],
          "probes": {"pik_logit": PROBE, "answer_state_logit": {**PROBE, "state": "answer", "bias": 0.2}},
          "route_threshold": 0.15}


# A solve spec (runtime/spec.py): the shipped defaults, bound to an artifact, with the probed calibrator.
DEFAULT_SPEC = json.loads((Path(__file__).parents[2] / "edgereason" / "specs" / "solve.json").read_text("utf-8"))
TEMPLATE = {"before": "<|im_start|>user\n", "after": "<|im_end|>\n<|im_start|>assistant\n", "add_bos": False}
SPEC = {**DEFAULT_SPEC, "artifact_sha256": PROBED["artifact_sha256"],
        "prompts": {k: {**p, "template": TEMPLATE} for k, p in DEFAULT_SPEC["prompts"].items()},
        "calibrator": PROBED,
        "fitted_on": {"task": "builtin", "kind": "math", "n": 300, "seed": 1, "offset": 0, "digits": None,
                      "shots": "builtin"}}


def mutate(base: dict, path: str, value=None, *, delete: bool = False) -> str:
    """JSON text of `base` with `path` ("arch.n_heads", "files"; "" = the whole document) set or deleted."""
    data = copy.deepcopy(base)
    if not path:
        return json.dumps(value)
    *parents, last = path.split("/")
    node = data
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if delete:
        del node[last]
    else:
        node[last] = value
    return json.dumps(data)


def raw(base: dict, path: str, literal: str) -> str:
    """`base` with `path` set to a literal written as is (NaN, 1e400, 2.0) that json.dumps would not write."""
    marker = "__LITERAL__"
    return mutate(base, path, marker).replace(f'"{marker}"', literal)


def manifest_cases() -> list[dict]:
    m = MANIFEST
    sha = m["files"]["model.pte"]["sha256"]
    cases = [
        {"name": "not JSON", "text": "{", "expect": ["not valid JSON"]},
        {"name": "not UTF-8", "base64": base64.b64encode(b'{"model": "\xff\xfe"}').decode(), "expect": ["UTF-8"]},
        {"name": "NaN literal", "text": raw(m, "arch/rope_theta", "NaN"), "expect": ["not valid JSON"]},
        {"name": "Infinity literal", "text": raw(m, "arch/rope_theta", "Infinity"), "expect": ["not valid JSON"]},
        {"name": "number overflowing a double", "text": raw(m, "arch/rope_theta", "1e400"),
         "expect": ["not valid JSON"]},
        {"name": "lone surrogate", "text": raw(m, "model/name", '"\\ud800"'), "expect": ["not valid JSON"]},
        {"name": "a list, not an object", "text": "[]", "expect": ["not of type object"]},
        {"name": "unknown schema_version", "text": mutate(m, "schema_version", 99), "expect": ["schema_version"]},
        {"name": "no arch", "text": mutate(m, "arch", delete=True), "expect": ["arch", "is missing"]},
        {"name": "no arch.n_heads", "text": mutate(m, "arch/n_heads", delete=True),
         "expect": ["arch.n_heads", "is missing"]},
        {"name": "unknown field", "text": mutate(m, "surprise", 1), "expect": ["surprise", "not a known field"]},
        {"name": "files as a list", "text": mutate(m, "files", []), "expect": ["files", "not of type object"]},
        {"name": "eos_ids a string", "text": mutate(m, "tokenizer/eos_ids", "2"),
         "expect": ["tokenizer.eos_ids", "not of type array"]},
        {"name": "eos id 1e30", "text": raw(m, "tokenizer/eos_ids", "[1e30]"),
         "expect": ["tokenizer.eos_ids[0]", "not of type integer"]},
        {"name": "eos id 2.0", "text": raw(m, "tokenizer/eos_ids", "[2.0]"),
         "expect": ["tokenizer.eos_ids[0]", "not of type integer"]},
        {"name": "eos id outside the vocabulary", "text": mutate(m, "tokenizer/eos_ids", [2, 128]),
         "expect": ["tokenizer.eos_ids[1]", "outside the vocabulary"]},
        {"name": "bos id negative", "text": mutate(m, "tokenizer/bos_id", -1),
         "expect": ["tokenizer.bos_id", "out of range"]},
        {"name": "bos id outside the vocabulary", "text": mutate(m, "tokenizer/bos_id", 500),
         "expect": ["tokenizer.bos_id", "outside the vocabulary"]},
        {"name": "max_seq_len 1e15", "text": raw(m, "arch/max_seq_len", "1e15"),
         "expect": ["arch.max_seq_len", "not of type integer"]},
        {"name": "max_seq_len 10^15", "text": mutate(m, "arch/max_seq_len", 10**15),
         "expect": ["arch.max_seq_len", "out of range"]},
        {"name": "max_seq_len -1", "text": mutate(m, "arch/max_seq_len", -1),
         "expect": ["arch.max_seq_len", "out of range"]},
        {"name": "max_seq_len past int64", "text": mutate(m, "arch/max_seq_len", 10**20),
         "expect": ["arch.max_seq_len"]},
        {"name": "n_layers a boolean", "text": mutate(m, "arch/n_layers", True),
         "expect": ["arch.n_layers", "not of type integer"]},
        {"name": "vocab_size 0", "text": mutate(m, "arch/vocab_size", 0),
         "expect": ["arch.vocab_size", "out of range"]},
        {"name": "kv heads not dividing heads", "text": mutate(m, "arch/n_kv_heads", 3),
         "expect": ["arch.n_kv_heads", "does not divide"]},
        {"name": "rope_theta 0", "text": mutate(m, "arch/rope_theta", 0),
         "expect": ["arch.rope_theta", "out of range"]},
        {"name": "unknown format", "text": mutate(m, "format", "gguf"), "expect": ["format", "not one of"]},
        {"name": "unknown recipe", "text": mutate(m, "recipe/name", "int3"), "expect": ["recipe.name", "not one of"]},
        {"name": "unknown io.logits", "text": mutate(m, "io/logits", "some"), "expect": ["io.logits", "not one of"]},
        {"name": "empty model name", "text": mutate(m, "model/name", ""), "expect": ["model.name", "out of range"]},
        {"name": "tokenizer file outside", "text": mutate(m, "tokenizer/file", "../tokenizer.json"),
         "expect": ["tokenizer.file", "wrong form"]},
        {"name": "sha256 not hex", "text": mutate(m, "files/model.pte/sha256", sha.upper()),
         "expect": ["files.model.pte.sha256", "wrong form"]},
        {"name": "sha256 with a trailing newline", "text": mutate(m, "files/model.pte/sha256", sha + "\n"),
         "expect": ["files.model.pte.sha256", "wrong form"]},
        {"name": "schema_version a string", "text": mutate(m, "schema_version", "1"),
         "expect": ["schema_version", "not one of 1"]},
        {"name": "negative size", "text": mutate(m, "files/model.pte/bytes", -1),
         "expect": ["files.model.pte.bytes", "out of range"]},
        {"name": "size as a string", "text": mutate(m, "files/model.pte/bytes", "320"),
         "expect": ["files.model.pte.bytes", "not of type integer"]},
        {"name": "required file not listed", "text": mutate(m, "files/tokenizer.json", delete=True),
         "expect": ["tokenizer.json", "not listed"]},
    ]
    for name in ("../../../../etc/passwd", "/etc/hostname", "sub/../../x", "a\\b", "", ".hidden", "./model.pte",
                 "model.pte\n", "tokenizer.json\x00"):
        files = {**m["files"], name: {"bytes": 1, "sha256": "0" * 64}}
        cases.append({"name": f"file name {name!r}", "text": mutate(m, "files", files),
                      "expect": ["files", "not a plain relative path"]})
    valid = json.dumps(m)
    cases += [
        {"name": "unlisted file in the folder", "text": valid, "extra_files": {"model.pte.data": "weights"},
         "expect": ["model.pte.data", "not in the manifest"]},
        {"name": "unlisted file in a subfolder", "text": valid, "extra_files": {"sub/extra.bin": "x"},
         "expect": ["sub/extra.bin", "not in the manifest"]},
        {"name": "listed file missing", "text": valid, "delete_files": ["tokenizer.json"],
         "expect": ["tokenizer.json", "is missing"]},
        {"name": "listed file truncated", "text": valid, "extra_files": {"model.pte": "short"},
         "expect": ["model.pte", "manifest says"]},
        {"name": "listed file corrupt", "text": valid,
         "extra_files": {"model.pte": FILES["model.pte"].replace("bytes", "BYTES")}, "expect": ["model.pte", "sha256"]},
        {"name": "file linked outside", "text": valid, "delete_files": ["tokenizer.json"],
         "symlinks": {"tokenizer.json": "/etc/hostname"}, "expect": ["tokenizer.json", "symbolic link"]},
        {"name": "file linked inside", "text": valid, "delete_files": ["tokenizer.json"],
         "symlinks": {"tokenizer.json": "model.pte"}, "expect": ["tokenizer.json", "symbolic link"]},
        {"name": "folder linked outside", "text": valid, "symlinks": {"sub": "/etc"},
         "expect": ["sub", "symbolic link"]},
    ]
    return cases


def calibrator_cases() -> list[dict]:
    c = CALIBRATOR
    return [
        {"name": "not JSON", "text": "{\"features\": ", "expect": ["not valid JSON"]},
        {"name": "NaN bias", "text": raw(c, "bias", "NaN"), "expect": ["not valid JSON"]},
        {"name": "a list, not an object", "text": "[1]", "expect": ["not of type object"]},
        {"name": "3 of 11 weights", "text": mutate(c, "weights", [0.1] * 3), "expect": ["weights", "11 features"]},
        {"name": "string weights", "text": mutate(c, "weights", ["0.1"] + [0.1] * 10),
         "expect": ["weights[0]", "not of type number"]},
        {"name": "unknown feature", "text": mutate(c, "features", ["shoe_size", *FEATURES[1:]]),
         "expect": ["features[0]", "not one of"]},
        {"name": "repeated feature", "text": mutate(c, "features", [FEATURES[0], *FEATURES[:-1]]),
         "expect": ["features", "repeats"]},
        {"name": "null bias", "text": mutate(c, "bias", None), "expect": ["bias", "not of type number"]},
        {"name": "unknown version", "text": mutate(c, "version", 2), "expect": ["version", "not one of"]},
        {"name": "zero scale", "text": mutate(c, "scale", [0.0] + [0.25] * 10), "expect": ["scale[0]", "out of range"]},
        {"name": "threshold above 1", "text": mutate(c, "threshold", 2), "expect": ["threshold", "out of range"]},
        {"name": "unknown strategy", "text": mutate(c, "strategy", "best"), "expect": ["strategy", "not one of"]},
        {"name": "no target_risk", "text": mutate(c, "target_risk", delete=True),
         "expect": ["target_risk", "is missing"]},
        {"name": "unknown field", "text": mutate(c, "extra", 1), "expect": ["extra", "not a known field"]},
        {"name": "isotonic lengths differ", "text": mutate(c, "isotonic_y", [0.2, 0.4]),
         "expect": ["isotonic_y", "as long as isotonic_x"]},
        {"name": "isotonic_x decreasing", "text": mutate(c, "isotonic_x", [0.5, 0.1, 0.9]),
         "expect": ["isotonic_x", "non-decreasing"]},
        {"name": "artifact_sha256 not hex", "text": mutate(c, "artifact_sha256", "xyz"),
         "expect": ["artifact_sha256", "wrong form"]},
        *probe_cases(),
    ]


def probe_cases() -> list[dict]:
    p = PROBED
    return [
        {"name": "probe mean too short", "text": mutate(p, "probes/pik_logit/mean", [0.1, 0.2]),
         "expect": ["probes.pik_logit.mean", "2 values for 3 weights"]},
        {"name": "probe reads the wrong state", "text": mutate(p, "probes/pik_logit/state", "answer"),
         "expect": ["probes.pik_logit.state", "reads the 'prompt' state"]},
        {"name": "probe feature without its probe", "text": mutate(p, "probes/answer_state_logit", delete=True),
         "expect": ["probes", "answer_state_logit has no probe"]},
        {"name": "probe of a feature not read", "text": mutate(
            {**p, "features": FEATURES + ["pik_logit"], "mean": p["mean"][:12], "scale": p["scale"][:12],
             "weights": p["weights"][:12]}, "route_threshold", 0.1),
         "expect": ["probes.answer_state_logit", "does not read"]},
        {"name": "probes of different widths", "text": mutate(
            p, "probes/answer_state_logit", {**PROBE, "state": "answer", "mean": [0.0] * 4, "scale": [1.0] * 4,
                                             "weights": [0.1] * 4}),
         "expect": ["probes", "different sizes"]},
        {"name": "unknown probe", "text": mutate(p, "probes/shoe_size_logit", PROBE),
         "expect": ["probes.shoe_size_logit", "not a known field"]},
        {"name": "probe weight not a number", "text": mutate(p, "probes/pik_logit/weights", ["0.4", -0.6, 0.2]),
         "expect": ["probes.pik_logit.weights[0]", "not of type number"]},
        {"name": "probe without l2", "text": mutate(p, "probes/pik_logit/l2", delete=True),
         "expect": ["probes.pik_logit.l2", "is missing"]},
        {"name": "route threshold above 1", "text": mutate(p, "route_threshold", 1.5),
         "expect": ["route_threshold", "out of range"]},
    ]


def spec_cases() -> list[dict]:
    s = SPEC
    return [
        {"name": "not JSON", "text": "{\"format\": ", "expect": ["not valid JSON"]},
        {"name": "unknown version", "text": mutate(s, "version", 2), "expect": ["version", "not one of"]},
        {"name": "another format", "text": mutate(s, "format", "recipe"), "expect": ["format", "not one of"]},
        {"name": "no settings", "text": mutate(s, "settings", delete=True), "expect": ["settings", "is missing"]},
        {"name": "unknown field", "text": mutate(s, "extra", 1), "expect": ["extra", "not a known field"]},
        {"name": "unknown setting", "text": mutate(s, "settings/exit/patience", 2),
         "expect": ["settings.exit.patience", "not a known field"]},
        {"name": "threshold a string", "text": mutate(s, "settings/exit/probe_threshold", "0.9"),
         "expect": ["settings.exit.probe_threshold", "not of type number"]},
        {"name": "NaN threshold", "text": raw(s, "settings/exit/abort_threshold", "NaN"), "expect": ["not valid JSON"]},
        {"name": "probe threshold above 1", "text": mutate(s, "settings/exit/probe_threshold", 1.5),
         "expect": ["settings.exit.probe_threshold", "out of range"]},
        {"name": "zero traces", "text": mutate(s, "settings/max_traces", 0),
         "expect": ["settings.max_traces", "out of range"]},
        {"name": "unknown strategy", "text": mutate(s, "settings/strategy", "best"),
         "expect": ["settings.strategy", "not one of"]},
        {"name": "unknown calculator", "text": mutate(s, "settings/calculator", "abacus"),
         "expect": ["settings.calculator", "not one of"]},
        {"name": "arith abort without the calculator",
         "text": mutate(mutate_obj(s, "settings/calculator", "off"), "settings/exit/arith_abort", True),
         "expect": ["settings.exit.arith_abort", "needs the calculator"]},
        {"name": "vote at temperature 0",
         "text": mutate(mutate_obj(mutate_obj(s, "settings/strategy", "vote"), "calibrator/strategy", "vote"),
                        "settings/sampling/temperature", 0.0),
         "expect": ["settings.strategy", "temperature"]},
        {"name": "a shot without its answer", "text": mutate(s, "prompts/math/shots/0/answer", delete=True),
         "expect": ["prompts.math.shots[0].answer", "is missing"]},
        {"name": "system prompt not text", "text": mutate(s, "prompts/choice/system", 3),
         "expect": ["prompts.choice.system", "not of type string"]},
        {"name": "one kind's template only", "text": mutate(s, "prompts/choice/template", None),
         "expect": ["prompts.choice.template", "is missing"]},
        {"name": "template without an artifact",
         "text": mutate(mutate_obj(mutate_obj(s, "calibrator", None), "fitted_on", None), "artifact_sha256", None),
         "expect": ["artifact_sha256", "names none"]},
        {"name": "other letters", "text": mutate(s, "answers/letters", "ABCD"),
         "expect": ["answers.letters", "not this runtime's"]},
        {"name": "features reordered", "text": mutate(s, "features", [s["features"][1], s["features"][0],
                                                                      *s["features"][2:]]),
         "expect": ["features", "in order"]},
        {"name": "calibrator of another artifact", "text": mutate(s, "artifact_sha256", "b" * 64),
         "expect": ["calibrator.artifact_sha256", "not the spec's"]},
        {"name": "calibrator of another strategy", "text": mutate(s, "calibrator/strategy", "greedy"),
         "expect": ["calibrator.strategy", "not settings.strategy"]},
        {"name": "calibrator weights short", "text": mutate(s, "calibrator/weights", [0.1] * 3),
         "expect": ["calibrator", "weights", "13 features"]},
        {"name": "calibrator without fitted_on", "text": mutate(s, "fitted_on", None),
         "expect": ["fitted_on", "is missing"]},
        {"name": "fitted_on without a calibrator", "text": mutate(s, "calibrator", None),
         "expect": ["fitted_on", "no calibrator"]},
        {"name": "fitted_on of an unknown kind", "text": mutate(s, "fitted_on/kind", "essay"),
         "expect": ["fitted_on.kind", "not one of"]},
    ]


def mutate_obj(base: dict, path: str, value) -> dict:
    return json.loads(mutate(base, path, value))


def main() -> None:
    golden = {
        "about": __doc__.strip().splitlines()[0],
        "manifest": {"files": FILES, "valid": MANIFEST, "cases": manifest_cases()},
        "calibrator": {"valid": CALIBRATOR, "valid_with_probes": PROBED, "cases": calibrator_cases()},
        "solve_spec": {"valid": SPEC, "cases": spec_cases()},
    }
    OUT.write_text(json.dumps(golden, indent=1, ensure_ascii=True) + "\n")
    print(f"{OUT}: {len(golden['manifest']['cases'])} manifest cases, {len(golden['calibrator']['cases'])} "
          f"calibrator cases, {len(golden['solve_spec']['cases'])} solve spec cases")


if __name__ == "__main__":
    main()
