"""Does P(correct) hold on data the fit never saw? Fit calibrators on one `bench reason` report's records, each
with a set of trace features, and score them on other reports (another seed, another task).

The records already hold every trace feature, so the feature sets compare on the very same traces: nothing is
decoded again, and nothing about the evaluation data chooses a feature, weight or threshold.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgereason import schema
from edgereason.errors import UsageError
from edgereason.runtime.calibrate import Calibrator, aurc, auroc, ece, fit
from edgereason.runtime.reason import ARITH_FEATURES, FEATURES

FEATURE_SETS = {"all": FEATURES, "no-arith": tuple(f for f in FEATURES if f not in ARITH_FEATURES)}
FIX = "pass a folder written by `edgereason bench reason -o FOLDER` (or its timestamped report folder)"


@dataclass
class Run:
    label: str  # "<report task> <run name>"
    calculator: str
    features: list[dict[str, float]]
    correct: np.ndarray


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
        runs.append(Run(f"{task} {name}", str(run.get("calculator", "check")), rows, np.asarray(correct, float)))
    return runs


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
                      strategy="transfer") for name, names in feature_sets.items()}


def score(calibrators: dict[str, Calibrator], runs: Sequence[Run]) -> list[dict]:
    """One row per (feature set, evaluated run): size, accuracy, AUROC, ECE, AURC of P(correct)."""
    rows = []
    for name, cal in calibrators.items():
        for run in runs:
            p = cal.predict(run.features)
            rows.append({"features": name, "run": run.label, "n": float(len(run.correct)),
                         "accuracy": float(run.correct.mean()), "auroc": auroc(p, run.correct),
                         "ece": ece(p, run.correct), "aurc": aurc(p, run.correct),
                         "arith_errors_weight": _weight(cal, "arith_errors")})
    return rows


def _weight(cal: Calibrator, feature: str) -> float | None:
    return cal.weights[cal.features.index(feature)] if feature in cal.features else None
