"""Hidden-state probes: logistic regression on the model's own hidden state, fitted in numpy.

The state is the residual stream entering a middle decoder layer (`artifact.probe_layer`; every format outputs it).

Two states per solve (`runtime.reason`): `prompt`, the state at the last prompt token, before any token is decoded
(P(IK), Kadavath et al. 2022); `answer`, the mean state over the tokens that wrote the answer. Each probe's logit
is one more feature of the calibrator (`PROBE_FEATURES`), so P(correct) combines them with the trace signals.
Fitting is plain numpy (standardize, L2 logistic by Newton, the L2 strength chosen by k-fold log loss); scoring is
one dot product, which any runtime can do.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from edgereason.artifact import PROBE_SPEC
from edgereason.errors import UsageError

from .stats import auroc, fit_logistic

# edgereason/specs/probes.json, which the Java core reads too: calibrator feature -> the state its probe reads,
# and the last own tokens that stand in for a missing answer span.
PROBE_FEATURES: dict[str, str] = dict(PROBE_SPEC["features"])
FALLBACK_TOKENS: int = PROBE_SPEC["fallback_tokens"]
STATES = tuple(dict.fromkeys(PROBE_FEATURES.values()))  # ("prompt", "answer")
L2_GRID = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)  # x n on standardized states; hundreds of dims, few right rows
FOLDS = 5


@dataclass
class Probe:
    """Attributes:
    state: which hidden state it reads ("prompt" or "answer").
    mean / scale: standardization of the state, fitted on the training rows.
    weights / bias: logistic regression on the standardized state.
    l2: the regularization chosen by cross-validation.
    metrics: cross-validated AUROC and log loss at that l2, sizes.
    """

    state: str
    mean: list[float]
    scale: list[float]
    weights: list[float]
    bias: float
    l2: float
    metrics: dict[str, float] = field(default_factory=dict)

    def logit(self, states: np.ndarray) -> np.ndarray:
        """Log-odds of "correct" for states [N, H] (or one state [H] -> a 0-d array)."""
        x = np.asarray(states, dtype=np.float64)
        return ((x - np.asarray(self.mean)) / np.asarray(self.scale)) @ np.asarray(self.weights) + self.bias


def _standardize(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(0)
    scale = x.std(0)
    scale[scale < 1e-6] = 1.0  # a constant dimension carries nothing
    return mean, scale


def _fit(x: np.ndarray, y: np.ndarray, l2: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    mean, scale = _standardize(x)
    w, b = fit_logistic((x - mean) / scale, y, l2=l2, iterations=30)
    return mean, scale, w, b


def _folds(y: np.ndarray, folds: int, seed: int) -> list[np.ndarray]:
    """Stratified folds: each holds its share of right and wrong rows (rare "right" rows are the usual case)."""
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in range(folds)]
    for label in (0.0, 1.0):
        rows = rng.permutation(np.flatnonzero(y == label))
        for i, row in enumerate(rows):
            parts[i % folds].append(int(row))
    return [np.asarray(sorted(p), dtype=int) for p in parts if p]


def out_of_fold(x: np.ndarray, y: np.ndarray, l2: float, *, folds: int = FOLDS, seed: int = 0) -> np.ndarray:
    """Each row's logit from a probe fitted without its fold: what the combiner may be fitted on (a probe's
    logit on its own training rows is overconfident)."""
    out = np.zeros(len(y))
    for test in _folds(y, folds, seed):
        train = np.setdiff1d(np.arange(len(y)), test)
        if len(set(y[train].tolist())) < 2:
            continue  # a fold without both classes: its rows keep logit 0 (no evidence)
        mean, scale, w, b = _fit(x[train], y[train], l2)
        out[test] = ((x[test] - mean) / scale) @ w + b
    return out


def _log_loss(z: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def choose_l2(x: np.ndarray, y: np.ndarray, grid: Sequence[float] = L2_GRID, *, folds: int = FOLDS,
              seed: int = 0) -> tuple[float, np.ndarray]:
    """The L2 strength of least out-of-fold log loss on (x, y), and its out-of-fold logits."""
    scored = [(l2, out_of_fold(x, y, l2, folds=folds, seed=seed)) for l2 in grid]
    return min(scored, key=lambda item: _log_loss(item[1], y))


def fit_probe(states: np.ndarray, correct: Sequence[bool], *, state: str, grid: Sequence[float] = L2_GRID,
              folds: int = FOLDS, seed: int = 0) -> tuple[Probe, np.ndarray]:
    """The probe with the L2 of least cross-validated log loss, fitted on all rows, and its out-of-fold logits.

    Raises:
        UsageError: a class has fewer rows than folds, or the states are not one finite [N, H] matrix.
    """
    x = np.asarray(states, dtype=np.float64)
    y = np.asarray(correct, dtype=float)
    if x.ndim != 2 or len(x) != len(y) or not np.isfinite(x).all():
        raise UsageError(f"{state} states must be one finite row per problem, got shape {x.shape} for {len(y)}")
    if min(int(y.sum()), int(len(y) - y.sum())) < folds:
        raise UsageError(f"a hidden-state probe needs at least {folds} right and {folds} wrong answers, got "
                         f"{int(y.sum())} right of {len(y)}: raise --n")
    l2, oof = choose_l2(x, y, grid, folds=folds, seed=seed)
    mean, scale, w, b = _fit(x, y, l2)
    probe = Probe(state=state, mean=mean.tolist(), scale=scale.tolist(), weights=w.tolist(), bias=b, l2=l2,
                  metrics={"cv_auroc": auroc(oof, y), "cv_log_loss": _log_loss(oof, y), "n": float(len(y)),
                           "dims": float(x.shape[1])})
    return probe, oof


def check_probe(name: str, data: dict, label: str, fix: str) -> Probe:
    """A probe's fields after the schema: the three vectors of one length, its state the one its feature reads."""
    n = len(data["weights"])
    for key in ("mean", "scale"):
        if len(data[key]) != n:
            raise UsageError(f"{label}: probes.{name}.{key}: {len(data[key])} values for {n} weights: {fix}")
    if data["state"] != PROBE_FEATURES[name]:
        raise UsageError(f"{label}: probes.{name}.state: {data['state']!r}, but {name} reads the "
                         f"{PROBE_FEATURES[name]!r} state: {fix}")
    return Probe(**data)
