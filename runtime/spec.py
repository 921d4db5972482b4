"""The solve spec: the whole recipe of a solve as one frozen, versioned, JSON-serialisable object.

What a solve needs beyond the model: each answer kind's system prompt and few-shot turns as literal text, the
answer letters and probe text, the exit-policy thresholds, sampling and vote settings (`reason.SolveConfig`), the
ordered trace features, and the fitted models (the calibrator with its hidden-state probes). `edgereason calibrate`
writes it into the artifact folder as `solve.<strategy>.json`, tied to the model files' sha256, with the artifact's
chat template rendered around the question (`PromptSpec.template`), so that a runtime without a template engine
builds the same prompt ids. Without one, a solve uses edgereason/specs/solve.json (the defaults, no calibrator).
`solve`, `bench reason`, `serve`, the C++ runner and the Android app read the same file; the format is
edgereason/schemas/solve_spec.schema.json.
"""

import copy
import dataclasses
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgereason import artifact, schema
from edgereason.errors import SettingError, UsageError

from .answers import LETTERS, AnswerKind
from .arith import Calculator
from .calibrate import Calibrator, check_calibrator
from .defaults import DEFAULT_SPEC
from .probes import PROBE_FEATURES
from .reason import FEATURES, ExitConfig, SolveConfig, Strategy
from .sampling import SamplingConfig

SPEC_FILE = "solve.{strategy}.json"  # one per strategy: the calibrator's features and settings differ
SPEC_FORMAT = "edgereason-solve-spec"
SPEC_VERSION = 1
SPEC_FIX = "run `edgereason calibrate` again"
_SENTINELS = ("\x00question-a\x00", "\x00question-b\x00")  # two, to prove the template inserts the question verbatim


@dataclass(frozen=True)
class Template:
    """The artifact's chat template rendered around the question: prompt text = before + body + after."""

    before: str
    after: str
    add_bos: bool  # prepend the tokenizer's BOS id to the encoded text


@dataclass(frozen=True)
class PromptSpec:
    """One answer kind's prompt: system message, few-shot (question, answer) turns, and the rendered template."""

    system: str
    shots: tuple[tuple[str, str], ...] = ()
    template: Template | None = None


@dataclass(frozen=True)
class Scoring:
    """How the score strategy asks a multiple-choice question: `context` with the question in place of
    `{question}` (no chat template: the plain form lm-evaluation-harness scores ARC with), each option as the
    continuation `option` with the option's text in place of `{choice}`, and what the option's log-likelihood is
    divided by before the options are compared (`chars`: its length in characters, lm-eval's acc_norm; `tokens`;
    `none`: lm-eval's acc)."""

    context: str
    option: str
    normalize: str

    def context_ids(self, text, question: str) -> list[int]:
        return text.encode(self.context.replace("{question}", question))

    def continuation(self, option: str) -> str:
        """What is scored after the context: `option` with the option's text in it (its length normalizes)."""
        return self.option.replace("{choice}", option)

    @staticmethod
    def option_text(choice: str, index: int) -> str:
        """An option as `solve` is given it ("B. the Moon", as the prompt lists it) → its own text ("the Moon")."""
        prefix = f"{LETTERS[index]}. "
        return choice[len(prefix):] if choice.startswith(prefix) else choice

    def normalized(self, logprob: float, num_tokens: int, num_chars: int) -> float:
        length = {"chars": num_chars, "tokens": num_tokens, "none": 1}[self.normalize]
        return logprob / max(length, 1)


@dataclass(frozen=True)
class FittedOn:
    """What the calibrator was fitted on (a `solve` of another kind of question is a transfer)."""

    task: str
    kind: str
    n: int
    seed: int
    offset: int
    digits: str | None
    shots: str


@dataclass(frozen=True)
class SolveSpec:
    """Attributes:
    prompts: per answer kind ("math", "choice").
    scoring: how the score strategy asks a multiple-choice question.
    letters: choice letters in order (must be this runtime's).
    probe_text / max_answer_tokens: the answer probe's text and its greedy read.
    config: strategy, budgets, sampling, exit policies, calculator (`reason.SolveConfig`).
    features: the trace features in the order the calibrator's rows are built (`reason.TraceFeatures`).
    uncalibrated_threshold: accept without a calibrator when the raw confidence reaches this.
    calibrator: the fitted P(correct) model with its probes, or None.
    artifact_sha256: the model files this spec belongs to (None: not tied to an artifact).
    fitted_on: the calibration data (None without a calibrator).
    """

    prompts: Mapping[str, PromptSpec]  # never mutated: with_shots and bind build new ones
    scoring: Scoring
    letters: str
    probe_text: str
    max_answer_tokens: int
    config: SolveConfig
    features: tuple[str, ...]
    uncalibrated_threshold: float
    calibrator: Calibrator | None = None
    artifact_sha256: str | None = None
    fitted_on: FittedOn | None = None

    def prompt(self, kind: AnswerKind) -> PromptSpec:
        return self.prompts[kind.value]

    def replace(self, **changes: Any) -> "SolveSpec":
        return dataclasses.replace(self, **changes)

    def with_settings(self, **values: Any) -> "SolveSpec":
        """This spec with some settings changed, by field name (`SolveConfig`, `ExitConfig` or `SamplingConfig`
        fields; None: keep the spec's), e.g. the flags a user gave.

        Raises:
            SettingError: an unknown strategy or calculator, a value out of range, or another strategy than the
                calibrator's (it scores its own strategy's results only).
        """
        values = {k: v for k, v in values.items() if v is not None}
        cfg = self.config
        unknown = set(values) - set(_SETTING_PATHS)
        if unknown:
            raise TypeError(f"not a solve setting: {sorted(unknown)}")
        if "strategy" in values:
            values["strategy"] = _choice(Strategy, values["strategy"], "strategy")
            if self.calibrator is not None and values["strategy"].value != self.calibrator.strategy:
                raise SettingError(f"{{0}} {values['strategy'].value} is not the spec's ({self.calibrator.strategy}), "
                                   "whose calibrator scores that strategy only", "strategy")
        if "calculator" in values:
            values["calculator"] = _choice(Calculator, values["calculator"], "calculator")
        sampling = dataclasses.replace(cfg.sampling, **_pop(values, SamplingConfig))
        exit_config = dataclasses.replace(cfg.exit, **_pop(values, ExitConfig))
        return self.replace(config=dataclasses.replace(cfg, sampling=sampling, exit=exit_config, **values))

    def with_shots(self, kind: AnswerKind, shots: Sequence[tuple[str, str]]) -> "SolveSpec":
        """This spec with other few-shot turns for `kind` (its rendered template is dropped: it held the old ones)."""
        prompts = dict(self.prompts)
        prompts[kind.value] = PromptSpec(self.prompts[kind.value].system, tuple(tuple(s) for s in shots), None)
        return self.replace(prompts=prompts)

    def messages(self, question: str, *, kind: AnswerKind, choices: Sequence[str] = ()) -> list[dict[str, str]]:
        """System prompt, few-shot turns, then the question (choices listed under it): what a slow path is sent."""
        p = self.prompt(kind)
        messages = [{"role": "system", "content": p.system}]
        for q, a in p.shots:
            messages += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
        return [*messages, {"role": "user", "content": body(question, choices)}]

    def prompt_ids(self, text, question: str, *, kind: AnswerKind, choices: Sequence[str] = ()) -> list[int]:
        """The prompt's token ids: from the rendered template when the spec has one (as every runtime does), else
        from the artifact's chat template."""
        template = self.prompt(kind).template
        if template is None:
            return text.prompt_ids(self.messages(question, kind=kind, choices=choices))
        return text.encode(template.before + body(question, choices) + template.after, add_bos=template.add_bos)

    def bind(self, text, artifact_sha256: str) -> "SolveSpec":
        """This spec for one artifact: each kind's prompt rendered by its chat template around the question.

        Raises:
            UsageError: the template does not insert the question verbatim (the spec could not be followed by a
                runtime without the template engine).
        """
        prompts = {kind: dataclasses.replace(p, template=_render(text, self, AnswerKind(kind)))
                   for kind, p in self.prompts.items()}
        return self.replace(prompts=prompts, artifact_sha256=artifact_sha256)

    def check_template(self, text, label: str) -> None:
        """Refuse rendered templates that are not what this artifact's chat template makes of the spec's own system
        prompts and shots (edited after `bind`): the prompt ids would not be the prompt the spec describes.

        Raises:
            UsageError: one line naming `label` and the field.
        """
        for kind, p in self.prompts.items():
            if p.template is not None and p.template != _render(text, self, AnswerKind(kind)):
                raise UsageError(f"{label}: prompts.{kind}.template: is not this artifact's chat template around the "
                                 "spec's system prompt and shots (edited after it was written?): run `edgereason "
                                 "spec` again, or set both templates to null")

    def to_json(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "format": SPEC_FORMAT, "version": SPEC_VERSION, "artifact_sha256": self.artifact_sha256,
            "prompts": {kind: {"system": p.system, "shots": [{"question": q, "answer": a} for q, a in p.shots],
                               "template": dataclasses.asdict(p.template) if p.template else None}
                        for kind, p in self.prompts.items()},
            "scoring": dataclasses.asdict(self.scoring),
            "answers": {"letters": self.letters, "probe_text": self.probe_text,
                        "max_answer_tokens": self.max_answer_tokens},
            "settings": {"strategy": cfg.strategy.value, "max_new_tokens": cfg.max_new_tokens,
                         "max_traces": cfg.max_traces, "sampling": dataclasses.asdict(cfg.sampling),
                         "exit": dataclasses.asdict(cfg.exit), "calculator": cfg.calculator.value,
                         "arith_error_weight": cfg.arith_error_weight,
                         "route_before_decode": cfg.route_before_decode},
            "features": list(self.features), "uncalibrated_threshold": self.uncalibrated_threshold,
            "calibrator": dataclasses.asdict(self.calibrator) if self.calibrator else None,
            "fitted_on": dataclasses.asdict(self.fitted_on) if self.fitted_on else None,
        }

    def dumps(self) -> str:
        return schema.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"

    def save(self, folder: Path) -> Path:
        """Write `solve.<strategy>.json` into the artifact folder and list it in the manifest (loading verifies it)."""
        path = spec_path(folder, self.config.strategy.value)
        artifact.add_file(Path(folder), path.name, self.dumps().encode())
        return path


def body(question: str, choices: Sequence[str] = ()) -> str:
    """The user turn: the question, then one line per choice."""
    return question + ("\n" + "\n".join(choices) if choices else "")


def _render(text, spec: SolveSpec, kind: AnswerKind) -> Template:
    rendered = [text.render(spec.messages(s, kind=kind)) for s in _SENTINELS]
    parts = [r.split(s) for r, s in zip(rendered, _SENTINELS, strict=True)]
    if any(len(p) != 2 for p in parts) or parts[0] != parts[1]:
        raise UsageError("this artifact's chat template does not insert the question verbatim, so its prompt can't "
                         "be written into a solve spec: use a model whose template copies the user message")
    before, after = parts[0]
    return Template(before=before, after=after, add_bos=bool(not text.chat_template and text.add_bos
                                                             and text.bos_id is not None))


def spec_path(folder: Path, strategy: str) -> Path:
    return Path(folder) / SPEC_FILE.format(strategy=strategy)


def default_spec(config: SolveConfig | None = None) -> SolveSpec:
    """edgereason/specs/solve.json (optionally with other settings): the spec of a solve without a calibrator."""
    spec = _default()
    return spec if config is None else spec.replace(config=config)


@functools.cache
def _default() -> SolveSpec:
    return check_spec(copy.deepcopy(DEFAULT_SPEC), "edgereason/specs/solve.json")


def parse_spec(text: str, label: str) -> SolveSpec:
    return check_spec(schema.parse_document(text, label, what="a solve spec", fix=SPEC_FIX, error=UsageError),
                      label)


def check_spec(data: Any, label: str, *, fix: str = SPEC_FIX) -> SolveSpec:
    """Parsed spec JSON checked against solve_spec.schema.json and the rules across its fields (the C++ runner and
    the Java core apply the same; tests/golden/bad_files.json holds the cases all three refuse).

    Raises:
        UsageError: one line naming `label`, the field and `fix`.
    """
    schema.validate(data, "solve_spec", label=label, fix=fix, error=UsageError)
    sha = data["artifact_sha256"]
    templates = [data["prompts"][k]["template"] is not None for k in ("math", "choice")]
    if any(templates) and not all(templates):
        raise UsageError(f"{label}: prompts.{'choice' if templates[0] else 'math'}.template: is missing (a spec "
                         f"renders both kinds' templates or neither): {fix}")
    if any(templates) and sha is None:
        raise UsageError(f"{label}: artifact_sha256: a rendered template belongs to one artifact, and this spec names "
                         f"none: {fix}")
    if data["answers"]["letters"] != LETTERS:
        raise UsageError(f"{label}: answers.letters: {data['answers']['letters']!r} is not this runtime's "
                         f"{LETTERS!r}: {fix}")
    if tuple(data["features"]) != FEATURES:
        raise UsageError(f"{label}: features: not this runtime's trace features in order ({', '.join(FEATURES)}): "
                         f"{fix}")
    settings = data["settings"]
    cal = data["calibrator"]
    calibrator = None
    if cal is not None:
        calibrator = check_calibrator(cal, f"{label}: calibrator")
        if sha is None or calibrator.artifact_sha256 != sha:
            raise UsageError(f"{label}: calibrator.artifact_sha256: not the spec's artifact_sha256: {fix}")
        if calibrator.strategy != settings["strategy"]:
            raise UsageError(f"{label}: calibrator.strategy: {calibrator.strategy!r} is not settings.strategy "
                             f"{settings['strategy']!r}: {fix}")
        unknown = [f for f in calibrator.features if f not in FEATURES and f not in PROBE_FEATURES]
        if unknown:
            raise UsageError(f"{label}: calibrator.features: {unknown[0]!r} is neither a trace feature nor a probe "
                             f"feature: {fix}")
        if data["fitted_on"] is None:
            raise UsageError(f"{label}: fitted_on: is missing (a calibrator says what it was fitted on): {fix}")
    elif data["fitted_on"] is not None:
        raise UsageError(f"{label}: fitted_on: set, but the spec has no calibrator: {fix}")
    try:
        config = _config(settings)
    except SettingError as e:
        raise UsageError(f"{label}: " + e.render(_SETTING_PATHS) + f": {fix}") from None
    prompts = {k: PromptSpec(system=p["system"], shots=tuple((s["question"], s["answer"]) for s in p["shots"]),
                             template=Template(**p["template"]) if p["template"] else None)
               for k, p in data["prompts"].items()}
    scoring = Scoring(**data["scoring"]) if "scoring" in data else _default().scoring
    return SolveSpec(prompts=prompts, scoring=scoring, letters=data["answers"]["letters"],
                     probe_text=data["answers"]["probe_text"],
                     max_answer_tokens=data["answers"]["max_answer_tokens"], config=config,
                     features=tuple(data["features"]), uncalibrated_threshold=data["uncalibrated_threshold"],
                     calibrator=calibrator, artifact_sha256=sha,
                     fitted_on=FittedOn(**data["fitted_on"]) if data["fitted_on"] else None)


# SettingError field names -> their place in the spec file.
_SETTING_PATHS = {**{f.name: f"settings.exit.{f.name}" for f in dataclasses.fields(ExitConfig)},
                  **{f.name: f"settings.sampling.{f.name}" for f in dataclasses.fields(SamplingConfig)},
                  **{f.name: f"settings.{f.name}" for f in dataclasses.fields(SolveConfig)
                     if f.name not in ("exit", "sampling")}}


def _pop(values: dict[str, Any], cls: type) -> dict[str, Any]:
    return {f.name: values.pop(f.name) for f in dataclasses.fields(cls) if f.name in values}


def _choice(enum: type, value: Any, name: str):
    try:
        return enum(value)
    except ValueError:
        raise SettingError(f"unknown {{0}} {value!r}: use {', '.join(m.value for m in enum)}", name) from None


def _config(s: Mapping[str, Any]) -> SolveConfig:
    return SolveConfig(strategy=Strategy(s["strategy"]), max_new_tokens=s["max_new_tokens"],
                       max_traces=s["max_traces"], sampling=SamplingConfig(**s["sampling"]),
                       exit=ExitConfig(**s["exit"]), calculator=Calculator(s["calculator"]),
                       arith_error_weight=s["arith_error_weight"], route_before_decode=s["route_before_decode"])


def read_spec(path: Path, *, artifact_sha256: str | None = None) -> SolveSpec:
    """A spec file (`--spec FILE`), refused if it belongs to another artifact than `artifact_sha256` (None: checked
    later with `check_artifact`, once the model is open)."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{path} is a folder: pass a solve spec file (`solve.<strategy>.json` in it, or one written "
                         "by `edgereason spec FOLDER -o FILE`)")
    if not path.is_file():
        raise UsageError(f"{path} does not exist: pass a solve spec (`solve.<strategy>.json` from `edgereason "
                         "calibrate`, or one written by `edgereason spec FOLDER`)")
    spec = check_spec(schema.read_json(path, what="a solve spec", fix=SPEC_FIX, error=UsageError), path.name)
    if artifact_sha256 is not None:
        check_artifact(spec, artifact_sha256, str(path))
    return spec


def check_artifact(spec: SolveSpec, artifact_sha256: str, label: str) -> None:
    """Refuse a spec tied to other model files (its template and calibrator are another artifact's)."""
    if spec.artifact_sha256 not in (None, artifact_sha256):
        raise UsageError(f"{label} belongs to another artifact (sha256 {spec.artifact_sha256[:12]}…, this one is "
                         f"{artifact_sha256[:12]}…): use that artifact's spec, or run `edgereason calibrate` on this "
                         "one")


def load_spec(folder: Path, artifact_sha256: str, strategy: str) -> SolveSpec | None:
    """The artifact's spec for `strategy` (listed in the manifest, so its bytes are verified), or None.

    Raises:
        UsageError: it belongs to another artifact or strategy, or the folder holds a calibrator file of an older
            edgereason (whose prompt is not recorded).
    """
    old = Path(folder) / f"calibrator.{strategy}.json"
    if old.is_file():
        raise UsageError(f"{old} is a calibrator of an older edgereason (its prompt is not recorded): remove it "
                         f"(and its manifest entry) and run `edgereason calibrate` again, which writes "
                         f"{SPEC_FILE.format(strategy=strategy)}")
    path = spec_path(folder, strategy)
    if not path.is_file():
        return None
    spec = read_spec(path, artifact_sha256=artifact_sha256)
    label = f"{Path(folder).name}/{path.name}"
    if spec.config.strategy.value != strategy:
        raise UsageError(f"{label}: settings.strategy: {spec.config.strategy.value!r} is not this file's strategy "
                         f"{strategy!r}: {SPEC_FIX}")
    if spec.artifact_sha256 is None:
        raise UsageError(f"{label}: artifact_sha256: an artifact's spec must name its model files: {SPEC_FIX}")
    return spec

