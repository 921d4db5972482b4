"""P(correct) from trace features: logistic regression in numpy, optionally isotonic on top.

The calibrator belongs to one artifact (its confidence signals are that artifact's), so the JSON
records the artifact's model-file sha256 and `load_calibrator` refuses any other artifact.
"""

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edgereason import artifact, schema
from edgereason.errors import UsageError

CALIBRATOR_FILE = "calibrator.{strategy}.json"  # one per solve strategy: their features differ
CALIBRATOR_VERSION = 1
MIN_PROBLEMS = 20  # fewer leave a held-out part too small to choose a threshold on


@dataclass
class Calibrator:
    """Attributes:
    features: names of the trace features, in order.
    mean / scale: standardization fitted on the training part.
    weights / bias: logistic regression on the standardized features.
    isotonic_x / isotonic_y: optional monotone map of the logistic output (empty: none).
    threshold: accept when P(correct) >= threshold (chosen for `target_risk` on held-out data).
    artifact_sha256: the model file this was fitted on.
    strategy: the solve strategy whose results it scores.
    metrics: held-out ECE, AUROC, accuracy, coverage at the threshold, sizes.
    """

    features: list[str]
    mean: list[float]
    scale: list[float]
    weights: list[float]
    bias: float
    threshold: float
    target_risk: float
    artifact_sha256: str
    strategy: str = "early-exit"
    isotonic_x: list[float] = field(default_factory=list)
    isotonic_y: list[float] = field(default_factory=list)
    metrics: dict[str, float | str] = field(default_factory=dict)
    version: int = CALIBRATOR_VERSION

    def predict(self, rows: Sequence[dict[str, float]] | np.ndarray) -> np.ndarray:
        x = rows if isinstance(rows, np.ndarray) else feature_matrix(rows, self.features)
        z = (x - np.asarray(self.mean)) / np.asarray(self.scale)
        p = _sigmoid(z @ np.asarray(self.weights) + self.bias)
        if self.isotonic_x:
            p = np.interp(p, self.isotonic_x, self.isotonic_y)
        return p

    def save(self, folder: Path) -> Path:
        """Write the file into the artifact folder and list it in the manifest, so loading verifies it."""
        path = calibrator_path(folder, self.strategy)
        artifact.add_file(Path(folder), path.name, (schema.dumps(asdict(self), indent=2) + "\n").encode())
        return path


def calibrator_path(folder: Path, strategy: str) -> Path:
    return Path(folder) / CALIBRATOR_FILE.format(strategy=strategy)


def feature_matrix(rows: Sequence[dict[str, float]], names: Sequence[str]) -> np.ndarray:
    return np.asarray([[float(row[name]) for name in names] for row in rows], dtype=np.float64)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))


def fit_logistic(x: np.ndarray, y: np.ndarray, *, l2: float = 1e-2, iterations: int = 50) -> tuple[np.ndarray, float]:
    """Newton's method on the L2-regularized log loss (the bias is not penalized)."""
    n, d = x.shape
    xb = np.hstack([x, np.ones((n, 1))])
    w = np.zeros(d + 1)
    penalty = np.full(d + 1, l2 * n)
    penalty[-1] = 0.0
    for _ in range(iterations):
        p = _sigmoid(xb @ w)
        grad = xb.T @ (p - y) + penalty * w
        hess = (xb * (p * (1 - p))[:, None]).T @ xb + np.diag(penalty) + 1e-9 * np.eye(d + 1)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:-1], float(w[-1])


def fit_isotonic(p: np.ndarray, y: np.ndarray) -> tuple[list[float], list[float]]:
    """Pool-adjacent-violators: a non-decreasing map from scores to frequencies."""
    order = np.argsort(p, kind="stable")
    xs, ys, ws = list(p[order]), list(y[order].astype(float)), [1.0] * len(p)
    blocks: list[list[float]] = []  # [x_lo, x_hi, mean, weight]
    for xv, yv, wv in zip(xs, ys, ws, strict=True):
        blocks.append([xv, xv, yv, wv])
        while len(blocks) > 1 and blocks[-2][2] > blocks[-1][2]:
            hi = blocks.pop()
            lo = blocks[-1]
            weight = lo[3] + hi[3]
            blocks[-1] = [lo[0], hi[1], (lo[2] * lo[3] + hi[2] * hi[3]) / weight, weight]
    out_x, out_y = [], []
    for lo, hi, mean, _ in blocks:
        out_x += [lo, hi]
        out_y += [mean, mean]
    return out_x, out_y


def ece(p: np.ndarray, y: np.ndarray, *, bins: int = 10) -> float:
    """Expected calibration error with equal-width bins."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.mean() * abs(p[mask].mean() - y[mask].mean())
    return float(total)


def auroc(p: np.ndarray, y: np.ndarray) -> float:
    """Probability that a correct trace scores above a wrong one (ties count half); NaN if one class."""
    pos, neg = p[y == 1], p[y == 0]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    ranks = _average_ranks(np.concatenate([pos, neg]))
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def risk_coverage(p: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Answer the k most confident problems: coverage k/n against the error rate among them."""
    order = np.argsort(-np.asarray(p), kind="stable")
    wrong = np.cumsum(1 - np.asarray(y, dtype=float)[order])
    k = np.arange(1, len(order) + 1)
    return k / len(order), wrong / k


def aurc(p: np.ndarray, y: np.ndarray) -> float:
    """Area under the risk–coverage curve (the mean risk over coverages k/n): lower is better."""
    return float(risk_coverage(p, y)[1].mean())


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    sorted_vals = values[order]
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and sorted_vals[j + 1] == sorted_vals[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def choose_threshold(p: np.ndarray, y: np.ndarray, target_risk: float) -> float:
    """The lowest threshold whose accepted set has error <= target_risk (1.0+ε accepts nothing)."""
    best = 1.0 + 1e-9
    for t in sorted(set(p.tolist()), reverse=True):
        accepted = p >= t
        if 1.0 - y[accepted].mean() <= target_risk:
            best = t
    return float(best)


def fit(rows: Sequence[dict[str, float]], correct: Sequence[bool], *, features: Sequence[str], artifact_sha256: str,
        strategy: str = "early-exit", target_risk: float = 0.1, isotonic: bool = False, holdout: float = 0.3,
        seed: int = 0) -> Calibrator:
    """Fit on a random (1 − holdout) part, report metrics and pick the threshold on the held-out part.

    Raises:
        UsageError: too few examples, or only one class in the training part.
    """
    y = np.asarray(correct, dtype=float)
    x = feature_matrix(rows, features)
    if len(y) < MIN_PROBLEMS:
        raise UsageError(f"calibration needs at least {MIN_PROBLEMS} problems, got {len(y)}: raise --n")
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = max(1, int(round(holdout * len(y))))
    test, train = order[:n_test], order[n_test:]
    if len(set(y[train].tolist())) < 2:
        raise UsageError(f"all {len(train)} training traces were {'right' if y[train][0] else 'wrong'}: "
                         "calibration needs both; use a harder/easier task or a larger --n")
    mean = x[train].mean(0)
    scale = x[train].std(0)
    scale[scale < 1e-12] = 1.0  # a constant feature (the schema's lower bound keeps predict finite)
    weights, bias = fit_logistic((x[train] - mean) / scale, y[train])
    cal = Calibrator(features=list(features), mean=mean.tolist(), scale=scale.tolist(), weights=weights.tolist(),
                     bias=bias, threshold=1.0, target_risk=target_risk, artifact_sha256=artifact_sha256,
                     strategy=strategy)
    if isotonic:
        cal.isotonic_x, cal.isotonic_y = fit_isotonic(cal.predict(x[train]), y[train])
    p_test = cal.predict(x[test])
    cal.threshold = choose_threshold(p_test, y[test], target_risk)
    accepted = p_test >= cal.threshold
    cal.metrics = {
        "n_train": float(len(train)), "n_heldout": float(len(test)), "heldout_accuracy": float(y[test].mean()),
        "heldout_ece": ece(p_test, y[test]), "heldout_auroc": auroc(p_test, y[test]),
        "heldout_coverage": float(accepted.mean()),
        "heldout_selective_accuracy": float(y[test][accepted].mean()) if accepted.any() else float("nan"),
    }
    return cal


CALIBRATOR_FIX = "run `edgereason calibrate` again"


def parse_calibrator(text: str, label: str) -> Calibrator:
    """A Calibrator from JSON text (see `check_calibrator`)."""
    data = schema.parse_document(text, label, what="a calibrator", fix=CALIBRATOR_FIX, error=UsageError)
    return check_calibrator(data, label)


def check_calibrator(data, label: str) -> Calibrator:
    """Parsed calibrator JSON checked against calibrator.schema.json and the rules across its fields (the Java
    core applies the same; tests/golden/bad_files.json holds the cases both refuse).

    Raises:
        UsageError: naming `label`, the field and the fix.
    """
    fix = CALIBRATOR_FIX
    schema.validate(data, "calibrator", label=label, fix=fix)
    n = len(data["features"])
    if len(set(data["features"])) != n:
        raise UsageError(f"{label}: features: a feature repeats: {fix}")
    for name in ("mean", "scale", "weights"):
        if len(data[name]) != n:
            raise UsageError(f"{label}: {name}: {len(data[name])} values for {n} features: {fix}")
    iso_x, iso_y = data.get("isotonic_x", []), data.get("isotonic_y", [])
    if len(iso_y) != len(iso_x):
        raise UsageError(f"{label}: isotonic_y: {len(iso_y)} values, must be as long as isotonic_x ({len(iso_x)}): "
                         f"{fix}")
    if any(b < a for a, b in zip(iso_x, iso_x[1:], strict=False)):
        raise UsageError(f"{label}: isotonic_x: values must be non-decreasing: {fix}")
    return Calibrator(**data)


def load_calibrator(folder: Path, artifact_sha256: str, strategy: str) -> Calibrator | None:
    """The artifact's calibrator for `strategy`, or None if it has none. Refuses one fitted on another artifact.

    The file is listed in the manifest by `Calibrator.save`, so the folder check has verified its bytes.
    """
    path = calibrator_path(folder, strategy)
    if not path.is_file():
        return None
    label = f"{Path(folder).name}/{path.name}"
    cal = check_calibrator(schema.read_json(path, what="a calibrator", fix=CALIBRATOR_FIX), label)
    if cal.strategy != strategy:
        raise UsageError(f"{label}: strategy: {cal.strategy!r} is not this file's strategy {strategy!r}: "
                         f"{CALIBRATOR_FIX}")
    if cal.artifact_sha256 != artifact_sha256:
        raise UsageError(f"{path} was fitted on another artifact (sha256 {cal.artifact_sha256[:12]}…, this one is "
                         f"{artifact_sha256[:12]}…): run `edgereason calibrate` on this artifact")
    return cal
