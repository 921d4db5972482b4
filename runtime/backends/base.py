"""The backend contract (DESIGN.md section 7): prefill, step, rewind, over a KV cache of fixed size.

Sampling, confidence and policies live in the one decode loop above this; a backend only turns
tokens into logits, so every backend gets them for free.
"""

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edgereason.errors import UsageError


class ContextOverflowError(UsageError):
    """More tokens than the artifact's KV cache holds."""


@dataclass(frozen=True)
class ModelInfo:
    name: str
    format: str  # "eager" | "pte" | "onnx"
    recipe: str
    vocab_size: int
    max_seq_len: int
    eos_ids: tuple[int, ...]
    bos_id: int | None
    add_bos: bool


class Backend(ABC):
    """Tokens in, float32 logits out; `position` counts the tokens in the cache."""

    info: ModelInfo
    position: int = 0

    @abstractmethod
    def reset(self) -> None:
        """Empty the cache."""

    @abstractmethod
    def _forward(self, tokens: Sequence[int]) -> np.ndarray:
        """Append `tokens` at `position` and return the logits of the last one, [V]."""

    @abstractmethod
    def rewind(self, num_tokens: int) -> None:
        """Keep only the first `num_tokens` cached tokens (a probe's tokens are dropped this way)."""

    def prefill(self, tokens: Sequence[int]) -> np.ndarray:
        """Append a prompt; logits of its last position, [V]."""
        if len(tokens) == 0:
            raise UsageError("empty prompt: give at least one token")
        self.check_room(len(tokens))
        return self._forward(tokens)

    def step(self, token: int) -> np.ndarray:
        """Append one token; its logits, [V]."""
        self.check_room(1)
        return self._forward([token])

    def score(self, tokens: Sequence[int]) -> np.ndarray:
        """Logits at every position of `tokens` from an empty cache, [T, V] (for the accuracy gate).

        Backends whose model returns all positions override this with one call.
        """
        self.reset()
        logits = [self.prefill(tokens[:1])]
        logits += [self.step(t) for t in tokens[1:]]
        return np.stack(logits)

    def check_room(self, num_new: int) -> None:
        if self.position + num_new > self.info.max_seq_len:
            raise ContextOverflowError(
                f"{self.position} cached + {num_new} new tokens exceed the context of "
                f"{self.info.max_seq_len}: shorten the prompt or lower --max-new-tokens, "
                "or re-export with a larger --max-seq-len"
            )
