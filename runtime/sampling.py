"""The one sampler, specified so the Java and C++ ports reproduce it bit for bit (DESIGN.md section 7).

PRNG: SplitMix64; uniform = (next() >> 11) * 2**-53. Candidates are ordered by (logit desc, id asc);
temperature divides the logits; top-k keeps the first k; softmax in float64; top-p keeps the
smallest prefix whose cumulative probability reaches p; the draw takes the first candidate whose
cumulative mass exceeds u * total. Temperature 0 is greedy: argmax, lowest id on ties.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edgereason.errors import SettingError

MASK64 = (1 << 64) - 1
Sampler = Callable[[np.ndarray], int]


class SplitMix64:
    """64-bit PRNG with a one-word state: trivial to port, identical on every platform."""

    def __init__(self, seed: int):
        self.state = seed & MASK64

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def uniform(self) -> float:
        """A double in [0, 1) from the top 53 bits."""
        return (self.next() >> 11) * (1.0 / (1 << 53))


@dataclass(frozen=True)
class SamplingConfig:
    """Attributes:
    temperature: 0 means greedy.
    top_k: keep the k most likely tokens; 0 keeps all.
    top_p: keep the smallest set whose probability reaches p; 1.0 keeps all.
    seed: seeds SplitMix64; the same seed and logits give the same tokens everywhere.
    """

    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not (self.temperature >= 0.0 and np.isfinite(self.temperature)):
            raise SettingError(f"{{0}} must be a finite number >= 0, got {self.temperature}", "temperature")
        if self.top_k < 0:
            raise SettingError(f"{{0}} must be >= 0 (0 = off), got {self.top_k}", "top_k")
        if not 0.0 < self.top_p <= 1.0:
            raise SettingError(f"{{0}} must be in (0, 1], got {self.top_p}", "top_p")
        if not 0 <= self.seed <= MASK64:
            raise SettingError(f"{{0}} must be in [0, 2**64), got {self.seed}", "seed")


def greedy(logits: np.ndarray) -> int:
    """Argmax; np.argmax returns the first maximum, i.e. the lowest id on ties."""
    return int(np.argmax(logits))


def candidates(logits: np.ndarray, top_k: int) -> np.ndarray:
    """Token ids ordered by (logit desc, id asc), cut to the first `top_k` (0: all).

    With top-k, a partition finds the k-th largest logit first, so only ~k ids are sorted
    (a full stable sort of a 49k vocabulary costs ~3 ms a token; this ~0.1 ms).
    """
    if top_k and top_k < len(logits):
        kth = np.partition(logits, -top_k)[-top_k]
        above = np.flatnonzero(logits > kth)
        ties = np.flatnonzero(logits == kth)[: top_k - len(above)]  # ascending ids among equals
        ids = np.concatenate([above, ties])
    else:
        ids = np.arange(len(logits))
    order = np.argsort(-logits[ids], kind="stable")  # stable: equal logits keep ascending ids
    return ids[order]


def make_sampler(config: SamplingConfig) -> Sampler:
    """A closure over its own PRNG: call it with logits [V], get a token id."""
    if config.temperature == 0.0:
        return greedy
    rng = SplitMix64(config.seed)

    def sample(logits: np.ndarray) -> int:
        ids = candidates(logits, config.top_k)
        scaled = logits[ids].astype(np.float64) / config.temperature
        probs = np.exp(scaled - scaled[0])
        probs /= probs.sum()
        if config.top_p < 1.0:
            keep = int(np.searchsorted(np.cumsum(probs), config.top_p)) + 1  # first prefix reaching p
            ids, probs = ids[:keep], probs[:keep]
        cumulative = np.cumsum(probs)
        target = rng.uniform() * cumulative[-1]
        return int(ids[min(int(np.searchsorted(cumulative, target, side="right")), len(ids) - 1)])

    return sample
