"""P(correct) from trace features: logistic regression in numpy, optionally isotonic on top.

The calibrator belongs to one artifact (its confidence signals are that artifact's), so the JSON records the
artifact's model-file sha256; it lives inside the artifact's solve spec (`runtime.spec`), which refuses any other
artifact.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from edgereason import schema
from edgereason.errors import UsageError

from .probes import FOLDS, PROBE_FEATURES, Probe, check_probe, choose_l2, fit_probe
from .stats import auroc, ece, fit_isotonic, fit_logistic, sigmoid

CALIBRATOR_VERSION = 1
MIN_PROBLEMS = 20  # fewer leave a held-out part too small to choose a threshold on
COMBINER_L2_GRID = (1e-3, 1e-2, 0.1, 1.0)  # x n, on standardized features


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
    probes: hidden-state probes by the feature their logit fills (`probes.PROBE_FEATURES`; one per such feature).
    route_threshold: route a question to the slow path before decoding when P(IK) is below this (0: never; chosen
        on held-out data so that it routes at most `target_risk` of the questions the fast path answers right).
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
    probes: dict[str, Probe] = field(default_factory=dict)
    route_threshold: float = 0.0
    version: int = CALIBRATOR_VERSION

    def probe_features(self, states: Mapping[str, np.ndarray | None]) -> dict[str, float]:
        """The logit of each probe on the solve's hidden states ("prompt", "answer"), by feature name.

        Raises:
            UsageError: a state the probe reads is missing (an artifact without hidden states) or of another size.
        """
        return {name: self._logit(name, states.get(probe.state)) for name, probe in self.probes.items()}

    def p_ik(self, prompt_state: np.ndarray | None) -> float | None:
        """P(IK): the prompt probe's probability that the answer will be right, before decoding (None: no probe)."""
        return float(sigmoid(self._logit("pik_logit", prompt_state))) if "pik_logit" in self.probes else None

    def _logit(self, name: str, state: np.ndarray | None) -> float:
        probe = self.probes[name]
        if state is None:
            raise UsageError(f"the calibrator reads the {probe.state} hidden state, which this artifact does not "
                             "output (an older export): re-export it, or calibrate with --no-probe")
        if len(state) != len(probe.weights):
            raise UsageError(f"the {name} probe reads {len(probe.weights)} values, the model's hidden state has "
                             f"{len(state)}: {CALIBRATOR_FIX}")
        return float(probe.logit(state))

    def predict(self, rows: Sequence[dict[str, float]] | np.ndarray) -> np.ndarray:
        x = rows if isinstance(rows, np.ndarray) else feature_matrix(rows, self.features)
        z = (x - np.asarray(self.mean)) / np.asarray(self.scale)
        p = sigmoid(z @ np.asarray(self.weights) + self.bias)
        if self.isotonic_x:
            p = np.interp(p, self.isotonic_x, self.isotonic_y)
        return p


def feature_matrix(rows: Sequence[dict[str, float]], names: Sequence[str]) -> np.ndarray:
    return np.asarray([[float(row[name]) for name in names] for row in rows], dtype=np.float64)


def choose_threshold(p: np.ndarray, y: np.ndarray, target_risk: float) -> float:
    """The lowest threshold whose accepted set has error <= target_risk (1.0+ε accepts nothing)."""
    best = 1.0 + 1e-9
    for t in sorted(set(p.tolist()), reverse=True):
        accepted = p >= t
        if 1.0 - y[accepted].mean() <= target_risk:
            best = t
    return float(best)


def _cv_possible(y: np.ndarray) -> bool:
    return min(int(y.sum()), int(len(y) - y.sum())) >= FOLDS


def choose_route_threshold(p_ik: np.ndarray, y: np.ndarray, target_risk: float) -> float:
    """The highest P(IK) threshold that routes (escalates before decoding) at most `target_risk` of the questions
    the fast path answers right: routing then gives up at most that share of its right answers, whatever its
    accuracy. 0.0 routes nothing. (A bound on the routed questions' own accuracy instead would route nearly
    everything once the model is right on about `target_risk` of all questions.)"""
    right = p_ik[y == 1]
    allowed = int(np.floor(target_risk * len(right) + 1e-9))  # right answers it may route
    if len(right) == 0:
        return min(1.0, float(np.nextafter(p_ik.max(), np.inf))) if len(p_ik) else 0.0
    if allowed >= len(right):
        return 1.0
    return float(np.sort(right)[allowed])  # below the (allowed+1)-th lowest right answer's P(IK)


def fit(rows: Sequence[dict[str, float]], correct: Sequence[bool], *, features: Sequence[str], artifact_sha256: str,
        strategy: str = "early-exit", target_risk: float = 0.1, isotonic: bool = False, holdout: float = 0.3,
        seed: int = 0, states: Mapping[str, np.ndarray] | None = None) -> Calibrator:
    """Fit on a random (1 − holdout) part, report metrics and pick the threshold on the held-out part.

    A feature of `probes.PROBE_FEATURES` in `features` is a hidden-state probe's logit: the probe is fitted on the
    training part of `states[its state]` ([N, H], a row per problem), and the combiner is fitted on the probe's
    out-of-fold logits there (a probe scores its own training rows too well).

    Raises:
        UsageError: too few examples, only one class in the training part, or a probe without its states.
    """
    y = np.asarray(correct, dtype=float)
    if len(y) < MIN_PROBLEMS:
        raise UsageError(f"calibration needs at least {MIN_PROBLEMS} problems, got {len(y)}: raise --n")
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = max(1, int(round(holdout * len(y))))
    test, train = order[:n_test], order[n_test:]
    if len(set(y[train].tolist())) < 2:
        raise UsageError(f"all {len(train)} training traces were {'right' if y[train][0] else 'wrong'}: "
                         "calibration needs both; use a harder/easier task or a larger --n")
    rows = [dict(row) for row in rows]
    probes: dict[str, Probe] = {}
    for name in (f for f in features if f in PROBE_FEATURES):
        state = PROBE_FEATURES[name]
        x_state = None if states is None else states.get(state)
        if x_state is None or len(x_state) != len(y):
            raise UsageError(f"feature {name} needs the {state} hidden state of every problem: use an artifact with "
                             "hidden-state outputs (re-export an older artifact), or leave the probe features out")
        probe, oof = fit_probe(np.asarray(x_state)[train], y[train], state=state, seed=seed)
        logits = probe.logit(np.asarray(x_state))
        logits[train] = oof
        for row, value in zip(rows, logits, strict=True):
            row[name] = float(value)
        probes[name] = probe
    x = feature_matrix(rows, features)
    mean = x[train].mean(0)
    scale = x[train].std(0)
    scale[scale < 1e-12] = 1.0  # a constant feature (the schema's lower bound keeps predict finite)
    # The combiner's L2 by cross-validation on the training part too: with few right answers (a small model on
    # hard questions) a fixed weak penalty over 16 features overfits.
    l2 = choose_l2(x[train], y[train], COMBINER_L2_GRID, seed=seed)[0] if _cv_possible(y[train]) else 1e-2
    weights, bias = fit_logistic((x[train] - mean) / scale, y[train], l2=l2)
    cal = Calibrator(features=list(features), mean=mean.tolist(), scale=scale.tolist(), weights=weights.tolist(),
                     bias=bias, threshold=1.0, target_risk=target_risk, artifact_sha256=artifact_sha256,
                     strategy=strategy, probes=probes)
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
    if "pik_logit" in probes:
        p_ik = sigmoid(x[test, list(features).index("pik_logit")])
        cal.route_threshold = choose_route_threshold(p_ik, y[test], target_risk)
        routed = p_ik < cal.route_threshold
        cal.metrics |= {"heldout_pik_auroc": auroc(p_ik, y[test]), "heldout_routed": float(routed.mean())}
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
    probes = data.get("probes", {})
    for name in data["features"]:
        if name in PROBE_FEATURES and name not in probes:
            raise UsageError(f"{label}: probes: feature {name} has no probe: {fix}")
    for name in probes:
        if name not in data["features"]:
            raise UsageError(f"{label}: probes.{name}: a probe for a feature the calibrator does not read: {fix}")
    sizes = {len(p["weights"]) for p in probes.values()}
    if len(sizes) > 1:
        raise UsageError(f"{label}: probes: the probes read states of different sizes {sorted(sizes)}: {fix}")
    data = dict(data, probes={name: check_probe(name, p, label, fix) for name, p in probes.items()})
    return Calibrator(**data)
