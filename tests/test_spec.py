"""The solve spec: the one file of a solve's rules. Its defaults are the runtime's, it round-trips, its rendered
template gives the prompt ids the golden file holds (which C++ and Java reproduce), and `solve --spec`,
`edgereason spec` and edited or foreign specs behave as a user expects."""

import dataclasses
import json
from pathlib import Path

import pytest
from helpers import assert_one_line_error, calibrated_spec, cli

from edgereason.bench.tasks import shots_for
from edgereason.errors import SettingError, UsageError
from edgereason.runtime import open_model
from edgereason.runtime.answers import LETTERS, AnswerKind
from edgereason.runtime.calibrate import fit
from edgereason.runtime.policies import AnswerProbe
from edgereason.runtime.reason import FEATURES, ExitConfig, SolveConfig, Strategy, TraceFeatures
from edgereason.runtime.spec import default_spec, parse_spec, read_spec
from edgereason.runtime.text import Text

GOLDEN = json.loads((Path(__file__).parent / "golden" / "solve_spec.json").read_text())
QUESTION = "Tom has 3 apples and buys 4 more. How many apples does Tom have now?"


def test_the_default_spec_is_the_runtime_s_defaults():
    spec = default_spec()
    assert spec.config == SolveConfig() and spec.config.exit == ExitConfig()
    assert spec.features == FEATURES == tuple(f.name for f in dataclasses.fields(TraceFeatures))
    assert spec.letters == LETTERS
    # the literal shots in specs/solve.json are what the suites' own shot generators make
    assert list(spec.prompt(AnswerKind.MATH).shots) == shots_for("builtin")
    assert list(spec.prompt(AnswerKind.CHOICE).shots) == shots_for("arc-easy")
    fields = {f.name: f.default for f in dataclasses.fields(AnswerProbe)}
    assert (fields["probe_text"], fields["max_answer_tokens"]) == (spec.probe_text, spec.max_answer_tokens)


def test_a_bound_spec_round_trips_and_its_template_is_the_chat_template(roomy):
    model = open_model(roomy)
    spec = model.spec("greedy")
    assert spec.artifact_sha256 == model.model_sha256 and spec.config.strategy is Strategy.GREEDY
    assert parse_spec(spec.dumps(), "x") == spec
    for kind, choices in ((AnswerKind.MATH, ()), (AnswerKind.CHOICE, ("A. red", "B. blue"))):
        assert spec.prompt_ids(model.text, QUESTION, kind=kind, choices=choices) == model.text.prompt_ids(
            spec.messages(QUESTION, kind=kind, choices=choices))
    rows = [{"mean_conf": float(i % 5)} for i in range(40)]
    cal = fit(rows, [i % 5 > 1 for i in range(40)], features=["mean_conf"], artifact_sha256=model.model_sha256,
              strategy="greedy")
    fitted = calibrated_spec(cal).bind(model.text, model.model_sha256)
    again = parse_spec(fitted.dumps(), "y")
    assert again == fitted and again.calibrator.predict(rows) == pytest.approx(cal.predict(rows))


def test_golden_prompt_ids(smollm2_dir):
    """tests/golden/solve_spec.json is the current default spec, and its template gives its ids."""
    text = Text(smollm2_dir, chat_template=json.loads((smollm2_dir / "tokenizer_config.json").read_text())[
        "chat_template"], add_bos=False, bos_id=None)
    spec = parse_spec(json.dumps(GOLDEN["spec"]), "solve_spec.json")
    assert spec == default_spec().bind(text, spec.artifact_sha256)  # regenerate it if the defaults changed
    for case in GOLDEN["cases"]:
        kind = AnswerKind(case["kind"])
        assert spec.prompt_ids(text, case["question"], kind=kind, choices=case["choices"]) == case["ids"]
        t = spec.prompt(kind).template
        assert text.encode(t.before + case["body"] + t.after, add_bos=t.add_bos) == case["ids"]


def test_settings_errors_name_the_field():
    spec = default_spec()
    with pytest.raises(SettingError) as caught:
        spec.with_settings(probe_threshold=2.0)
    assert caught.value.render({"probe_threshold": "--probe-threshold"}).startswith("--probe-threshold")
    with pytest.raises(SettingError, match="unknown"):
        spec.with_settings(strategy="beam")
    assert spec.with_settings(max_new_tokens=None) == spec  # None keeps the spec's


def _edit(path: Path, change) -> Path:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return path


def test_spec_command_and_solve_follow_one_file(roomy, tmp_path):
    path = tmp_path / "solve.greedy.json"
    proc = cli("spec", str(roomy), "--strategy", "greedy", "-o", str(path))
    assert proc.returncode == 0, proc.stderr
    written = read_spec(path)
    model = open_model(roomy)
    assert written == model.spec("greedy") and written.prompt(AnswerKind.MATH).template is not None
    printed = cli("spec", str(roomy), "--strategy", "greedy")
    assert printed.returncode == 0 and parse_spec(printed.stdout, "stdout") == written

    # the spec's settings are the solve's; a flag overrides one
    _edit(path, lambda d: d["settings"].update(max_new_tokens=3))
    proc = cli("solve", str(roomy), QUESTION, "--spec", str(path))
    assert proc.returncode == 0, proc.stderr
    assert "3 tok" in proc.stdout and ": greedy" in proc.stdout
    proc = cli("solve", str(roomy), QUESTION, "--spec", str(path), "--max-new-tokens", "5")
    assert proc.returncode == 0 and "5 tok" in proc.stdout

    # broken, edited and foreign specs: one line, exit 2, naming the file and field
    bad = tmp_path / "bad.json"
    bad.write_text(path.read_text())
    _edit(bad, lambda d: d["settings"]["exit"].update(probe_threshold=1.5))
    assert_one_line_error(cli("solve", str(roomy), QUESTION, "--spec", str(bad)), 2,
                          "bad.json: settings.exit.probe_threshold")
    _edit(bad, lambda d: d["settings"]["exit"].update(probe_threshold=0.9) or d["prompts"]["math"]["shots"].pop())
    assert_one_line_error(cli("solve", str(roomy), QUESTION, "--spec", str(bad)), 2,
                          "--spec: prompts.math.template: is not this artifact's chat template")
    _edit(bad, lambda d: d.update(artifact_sha256="c" * 64))
    assert_one_line_error(cli("solve", str(roomy), QUESTION, "--spec", str(bad)), 2, "belongs to another artifact")
    assert_one_line_error(cli("solve", str(roomy), QUESTION, "--spec", str(tmp_path / "none.json")), 2,
                          "does not exist")
    assert_one_line_error(cli("spec", str(roomy), "--strategy", "beam"), 2, "unknown --strategy 'beam'")


def test_a_spec_without_template_is_bound_to_the_artifact(roomy, tmp_path):
    """An unbound spec (no templates, no sha) is this artifact's once opened: its shots go into the prompt."""
    path = tmp_path / "mine.json"
    shots = [("What is 1 + 1?", "1 + 1 = 2.\nThe answer is 2.")]
    path.write_text(default_spec().with_shots(AnswerKind.MATH, shots).with_settings(
        strategy="greedy", max_new_tokens=2).dumps())
    model = open_model(roomy)
    spec = model.checked_spec(read_spec(path), "--spec")
    assert spec.artifact_sha256 == model.model_sha256
    assert spec.prompt(AnswerKind.MATH).template.before.count("What is 1 + 1?") == 1
    with pytest.raises(UsageError, match="prompts.math.template"):
        model.checked_spec(spec.replace(prompts={**spec.prompts, "math": dataclasses.replace(
            spec.prompt(AnswerKind.MATH), shots=())}), "edited")
    proc = cli("solve", str(roomy), QUESTION, "--spec", str(path))
    assert proc.returncode == 0 and "2 tok" in proc.stdout, proc.stderr
