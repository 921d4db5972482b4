"""Does P(correct) hold on data the fit never saw? Fit calibrators on one `bench reason` report's records, each
with a set of features, and score them on other reports (another seed, another task).

The records already hold every trace feature, and the report's states.npz the hidden states the probes read, so
the feature sets compare on the very same traces: nothing is decoded again, and nothing about the evaluation data
chooses a feature, weight, L2 strength or threshold.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgereason import schema
from edgereason.errors import UsageError
from edgereason.runtime.calibrate import Calibrator, fit
from edgereason.runtime.probes import PROBE_FEATURES
from edgereason.runtime.reason import ARITH_FEATURES, FEATURES
from edgereason.runtime.stats import aurc, auroc, ece, sigmoid

from .reasoning import STATES_FILE

FEATURE_SETS = {"all": FEATURES, "no-arith": tuple(f for f in FEATURES if f not in ARITH_FEATURES)}
# With hidden states: trace features only (today), each probe alone, and everything combined.
PROBE_SETS = {"trace": FEATURES, "P(IK)": ("pik_logit",), "answer probe": ("answer_state_logit",),
              "combined": (*FEATURES, *PROBE_FEATURES)}
FIX = "pass a folder written by `edgereason bench reason -o FOLDER` (or its timestamped report folder)"


@dataclass
class Run:
    label: str  # "<report task> <run name>"
    calculator: str
    features: list[dict[str, float]]
    correct: np.ndarray
    states: dict[str, np.ndarray]  # "prompt", "answer" -> [N, H]; empty when the report has none


def results_file(folder: Path) -> Path:
    """results.json of a report folder, or of the one report folder inside an `-o` folder."""
    folder = Path(folder)
    if (folder / "results.json").is_file():
        return folder / "results.json"
    inside = sorted(p for p in folder.glob("*/results.json")) if folder.is_dir() else []
    if len(inside) != 1:
        raise UsageError(f"{folder} holds {'no' if not inside else len(inside)} bench reports: {FIX}")
    return inside[0]


def read_runs(folder: Path) -> list[Run]:
    """The runs (strategy x calculator) of one `bench reason` report, every record checked.

    Raises:
        UsageError: not a reasoning report, or a record without the features or the grade.
    """
    path = results_file(folder)
    data = schema.read_json(path, what="a bench report", fix=FIX)
    if not isinstance(data, dict) or data.get("kind") != "reason" or not isinstance(data.get("strategies"), dict):
        raise UsageError(f"{path} is not a `bench reason` report: {FIX}")
    task = str(data.get("task")) + (f" --digits {data['digits']}" if data.get("digits") else "")
    arrays = _read_states(path.parent / STATES_FILE)
    runs = []
    for name, run in data["strategies"].items():
        records = run.get("records") if isinstance(run, dict) else None
        if not isinstance(records, list) or not records:
            raise UsageError(f"{path}: run {name!r} has no records: {FIX}")
        rows, correct = [], []
        for i, record in enumerate(records):
            feats = record.get("features") if isinstance(record, dict) else None
            if not isinstance(feats, dict) or not isinstance(record.get("correct"), bool) or any(
                    not isinstance(feats.get(f), int | float) for f in FEATURES):
                raise UsageError(f"{path}: run {name!r} record {i} lacks the features or the grade (a report from "
                                 f"an older edgereason?): run `edgereason bench reason` again")
            rows.append({f: float(feats[f]) for f in FEATURES})
            correct.append(record["correct"])
        states = {state: arrays[key] for key in arrays if key.startswith(f"{name}/")
                  for state in [key[len(name) + 1:]] if len(arrays[key]) == len(rows)}
        runs.append(Run(f"{task} {name}", str(run.get("calculator", "check")), rows, np.asarray(correct, float),
                        states))
    return runs


def _read_states(path: Path) -> dict[str, np.ndarray]:
    """The report's hidden states (no pickles: allow_pickle=False); none if it has no states.npz."""
    if not path.is_file():
        return {}
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: np.asarray(npz[key], dtype=np.float64) for key in npz.files}
    except (OSError, ValueError) as e:
        raise UsageError(f"{path} is not a readable states file ({e!s:.100}): run `edgereason bench reason` again"
                         ) from e
    for key, value in arrays.items():
        if value.ndim != 2 or not np.isfinite(value).all():
            raise UsageError(f"{path}: {key} is not a finite [N, H] matrix: run `edgereason bench reason` again")
    return arrays


def feature_sets(train: Run) -> dict[str, tuple[str, ...]]:
    """The probe sets when the fit run has both hidden states, else the trace-feature sets."""
    return PROBE_SETS if set(PROBE_FEATURES.values()) <= set(train.states) else FEATURE_SETS


def pick(runs: Sequence[Run], name: str | None) -> Run:
    """The run to fit on: the one whose label ends with `name`, or the only/first one."""
    if name is None:
        return runs[0]
    chosen = [r for r in runs if r.label.endswith(name)]
    if len(chosen) != 1:
        raise UsageError(f"--fit-run {name!r} matches {len(chosen)} of the runs {[r.label for r in runs]}: "
                         "name one of them")
    return chosen[0]


def fit_sets(train: Run, feature_sets: dict[str, Sequence[str]]) -> dict[str, Calibrator]:
    return {name: fit(train.features, train.correct.astype(bool).tolist(), features=names, artifact_sha256="-",
                      strategy="transfer", states=train.states) for name, names in feature_sets.items()}


def predict(cal: Calibrator, run: Run) -> np.ndarray:
    """P(correct) of each of the run's records, the probes scoring its hidden states."""
    if not cal.probes:
        return cal.predict(run.features)
    missing = {p.state for p in cal.probes.values()} - set(run.states)
    if missing:
        raise UsageError(f"{run.label} has no {', '.join(sorted(missing))} hidden states (states.npz) for the probes: "
                         "evaluate a report of an artifact with hidden-state outputs")
    rows = [dict(row) for row in run.features]
    for name, probe in cal.probes.items():
        for row, value in zip(rows, probe.logit(run.states[probe.state]), strict=True):
            row[name] = float(value)
    return cal.predict(rows)


def score(calibrators: dict[str, Calibrator], runs: Sequence[Run]) -> tuple[list[dict], dict]:
    """One row per (feature set, evaluated run): size, accuracy, AUROC, ECE, AURC, accuracy at 50% coverage, and
    the share accepted at the fit's threshold with its accuracy; and each set's (P(correct), grades) per run."""
    rows, series = [], {}
    for name, cal in calibrators.items():
        for run in runs:
            p, y = predict(cal, run), run.correct
            accepted = p >= cal.threshold
            top = np.argsort(-p, kind="stable")[: max(1, int(round(0.5 * len(y))))]
            rows.append({"features": name, "run": run.label, "n": float(len(y)), "accuracy": float(y.mean()),
                         "auroc": auroc(p, y), "ece": ece(p, y), "aurc": aurc(p, y),
                         "acc_at_50": float(y[top].mean()), "accepted": float(accepted.mean()),
                         "accepted_accuracy": float(y[accepted].mean()) if accepted.any() else float("nan"),
                         "arith_errors_weight": _weight(cal, "arith_errors")})
            series.setdefault(run.label, {})[name] = (p, y)
    return rows, series


def routing(cal: Calibrator, runs: Sequence[Run]) -> list[dict]:
    """Route before decoding at the fit's P(IK) threshold: share routed (its generated tokens saved) and the accuracy
    the fast path loses (the routed questions it would have answered right)."""
    rows = []
    if "pik_logit" not in cal.probes:
        return rows
    probe = cal.probes["pik_logit"]
    for run in runs:
        if "prompt" not in run.states:
            continue
        routed = sigmoid(probe.logit(run.states["prompt"])) < cal.route_threshold
        tokens = np.asarray([row["num_tokens"] for row in run.features])
        y = run.correct
        rows.append({"run": run.label, "route_threshold": cal.route_threshold, "routed": float(routed.mean()),
                     "tokens_saved": float(tokens[routed].sum() / max(1.0, tokens.sum())),
                     "accuracy_lost": float(y[routed].sum() / len(y)),
                     "routed_accuracy": float(y[routed].mean()) if routed.any() else float("nan"),
                     "kept_accuracy": float(y[~routed].mean()) if (~routed).any() else float("nan")})
    return rows


def _weight(cal: Calibrator, feature: str) -> float | None:
    return cal.weights[cal.features.index(feature)] if feature in cal.features else None
