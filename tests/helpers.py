"""Helpers shared by the CLI tests: run `edgereason` as a user would and check its one-line errors."""

import json
import subprocess
import sys
from pathlib import Path

EDGEREASON = str(Path(sys.executable).parent / "edgereason")


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([EDGEREASON, *args], capture_output=True, text=True, timeout=timeout)


def assert_one_line_error(proc: subprocess.CompletedProcess, code: int, words: str) -> None:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and words in lines[0], proc.stderr
    before = proc.stderr.split("error:", 1)[0].splitlines()
    assert all(line.strip() for line in before), f"blank line before the error: {proc.stderr!r}"


BAD_FILES = json.loads((Path(__file__).parent / "golden" / "bad_files.json").read_text())


def golden_folder(root: Path) -> Path:
    """The valid artifact folder of tests/golden/bad_files.json (a manifest and two small files), in `root`."""
    folder = root / "tiny-int4-pte"
    folder.mkdir()
    for name, text in BAD_FILES["manifest"]["files"].items():
        (folder / name).write_text(text)
    (folder / "manifest.json").write_text(json.dumps(BAD_FILES["manifest"]["valid"]))
    return folder


def scripted_backend(script: list[int], *, prompt_len: int, vocab_size: int = 49152, eos_id: int = 2,
                     max_seq_len: int = 512):
    """A Backend whose "model" writes a fixed script: after the prompt, the logits at cache position p peak at
    script[p - prompt_len] (eos once the script is spent). The decode loop and the calculator are what run for
    real; tests/golden/arithmetic.json's traces are made with it, and the C++ and Java ports replay them alike."""
    import numpy as np

    from edgereason.runtime.backends.base import Backend, ModelInfo

    class Scripted(Backend):
        def __init__(self) -> None:
            self.info = ModelInfo("scripted", "eager", "fp32", vocab_size, max_seq_len, (eos_id,), None, False)
            self._tokens = []

        def _forward(self, tokens):
            at = self.position + len(tokens) - prompt_len
            logits = np.zeros(vocab_size, dtype=np.float32)
            logits[script[at] if 0 <= at < len(script) else eos_id] = 10.0
            return logits

    return Scripted()


def recorded_backend(forwards: list[dict], *, vocab_size: int, max_seq_len: int, eos_id: int, make=None):
    """A Backend that replays recorded forwards: each entry holds the whole token prefix a forward ended at, its
    logits (sparse [id, value] pairs, zero elsewhere) and its hidden state. A forward at a prefix not recorded is an
    error, unless `make(prefix)` records one (what a golden generator passes); `forwards` is then appended to.
    tests/golden/score.json's solves are made with it, and the Java core replays them alike."""
    import numpy as np

    from edgereason.runtime.backends.base import Backend, ModelInfo

    table = {tuple(f["tokens"]): f for f in forwards}

    class Recorded(Backend):
        has_hidden = True

        def __init__(self) -> None:
            self.info = ModelInfo("recorded", "eager", "fp32", vocab_size, max_seq_len, (eos_id,), None, False)
            self._tokens = []

        def _forward(self, tokens):
            prefix = (*self._tokens, *tokens)
            if prefix not in table:
                if make is None:
                    raise KeyError(f"no recorded forward ends at {list(prefix)}")
                table[prefix] = {"tokens": list(prefix), **make(prefix)}
                forwards.append(table[prefix])
            entry = table[prefix]
            logits = np.zeros(vocab_size, dtype=np.float32)
            for token, value in entry["logits"]:
                logits[token] = value
            self._hidden = np.asarray(entry["hidden"], dtype=np.float32)
            return logits

    return Recorded()


def byte_text(tokenizer_json: dict, folder: Path, *, add_bos: bool, bos_id: int | None):
    """The Text of a small tokenizer.json given as data (a golden file's), written into `folder`."""
    from edgereason.runtime.text import Text

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer_json), encoding="utf-8")
    return Text(folder, chat_template=None, add_bos=add_bos, bos_id=bos_id)


def constant_pik_calibrator(width: int, artifact_sha256: str, *, pik_logit: float, route_threshold: float):
    """A greedy calibrator whose P(IK) probe gives every prompt the same logit (zero weights, that bias) and whose
    P(correct) is that logit's sigmoid: routing decided by `route_threshold` alone."""
    from edgereason.runtime import calibrate

    probe = {"state": "prompt", "mean": [0.0] * width, "scale": [1.0] * width, "weights": [0.0] * width,
             "bias": pik_logit, "l2": 1.0}
    return calibrate.check_calibrator({
        "features": ["mean_conf", "pik_logit"], "mean": [0.0, 0.0], "scale": [1.0, 1.0], "weights": [0.0, 1.0],
        "bias": 0.0, "threshold": 0.5, "target_risk": 0.1, "artifact_sha256": artifact_sha256,
        "strategy": "greedy", "probes": {"pik_logit": probe}, "route_threshold": route_threshold, "version": 1},
        "test")


def calibrated_spec(calibrator=None, config=None, *, sha: str | None = None):
    """The default solve spec with `config` (default: the calibrator's strategy) and `calibrator` (tied to its
    artifact), in memory."""
    from edgereason.runtime.reason import SolveConfig, Strategy
    from edgereason.runtime.spec import FittedOn, default_spec

    if calibrator is None:
        spec = default_spec(config)
        return spec if sha is None else spec.replace(artifact_sha256=sha)
    spec = default_spec(config or SolveConfig(strategy=Strategy(calibrator.strategy)))
    return spec.replace(calibrator=calibrator, artifact_sha256=calibrator.artifact_sha256,
                        fitted_on=FittedOn("builtin", "math", 300, 1, 0, None, "builtin"))
