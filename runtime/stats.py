"""The statistics the calibrator and the hidden-state probes share: logistic and isotonic fits, and the scores of a
P(correct) (ECE, AUROC, risk-coverage), in numpy only (run time needs nothing else)."""

import numpy as np


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))


def fit_logistic(x: np.ndarray, y: np.ndarray, *, l2: float = 1e-2, iterations: int = 50) -> tuple[np.ndarray, float]:
    """Newton's method on the L2-regularized log loss (the bias is not penalized)."""
    n, d = x.shape
    xb = np.hstack([x, np.ones((n, 1))])
    w = np.zeros(d + 1)
    penalty = np.full(d + 1, l2 * n)
    penalty[-1] = 0.0
    for _ in range(iterations):
        p = sigmoid(xb @ w)
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
