"""The backend contract (DESIGN.md section 7): prefill, step, rewind, over a KV cache of fixed size.

Sampling, confidence and policies live in the one decode loop above this; a backend only turns
tokens into logits, so every backend gets them for free.
"""

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from edgereason.errors import UsageError

if TYPE_CHECKING:
    from ..lanes import Lanes


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
    """Tokens in, float32 logits out. The base class keeps the list of cached tokens; subclasses
    only run their model (`_forward` writes at `position`) and drop cache entries (`_reset`, `_rewind`).

    A backend whose model also outputs the probes' hidden state (the residual stream entering
    `artifact.probe_layer`) sets `_hidden` in `_forward` (`hidden` reads it): `runtime.probes` scores it.
    """

    info: ModelInfo
    _tokens: list[int]
    _hidden: np.ndarray | None = None
    has_hidden: bool = False  # the model outputs hidden states

    @property
    def hidden(self) -> np.ndarray | None:
        """The probes' hidden state at the last position of the latest forward, [H] float32 (the position that
        predicted the latest logits); None when the model has no hidden-state output."""
        return self._hidden

    @property
    def position(self) -> int:
        """Tokens in the cache."""
        return len(self._tokens)

    @property
    def cached_tokens(self) -> tuple[int, ...]:
        return tuple(self._tokens)

    @abstractmethod
    def _forward(self, tokens: Sequence[int]) -> np.ndarray:
        """Run `tokens` at `position` (the cache holds `position` tokens) and return the last logits, [V]."""

    def _reset(self) -> None:  # noqa: B027 (an optional hook, not an abstract method)
        """Drop the cache; backends whose cache is position-addressed need nothing."""

    def _rewind(self, num_tokens: int) -> None:  # noqa: B027
        """Drop cache entries from `num_tokens` on; position-addressed caches need nothing."""

    def reset(self) -> None:
        """Empty the cache."""
        self._tokens = []
        self._reset()

    def rewind(self, num_tokens: int) -> None:
        """Keep only the first `num_tokens` cached tokens (a probe's tokens are dropped this way)."""
        if not 0 <= num_tokens <= self.position:
            raise ValueError(f"cannot rewind to {num_tokens}: the cache holds {self.position} tokens")
        del self._tokens[num_tokens:]
        self._rewind(num_tokens)

    def prefill(self, tokens: Sequence[int]) -> np.ndarray:
        """Append a prompt; logits of its last position, [V]."""
        if len(tokens) == 0:
            raise UsageError("empty prompt: give at least one token")
        self.check_room(len(tokens))
        logits = self._forward(tokens)
        self._tokens.extend(tokens)
        return logits

    def step(self, token: int) -> np.ndarray:
        """Append one token; its logits, [V]."""
        self.check_room(1)
        logits = self._forward([token])
        self._tokens.append(token)
        return logits

    def common_prefix(self, tokens: Sequence[int]) -> int:
        """How many leading `tokens` the cache already holds (a shared system prompt and few-shot turns)."""
        n = 0
        for cached, new in zip(self._tokens, tokens, strict=False):
            if cached != new:
                break
            n += 1
        return n

    def prefill_reusing(self, tokens: Sequence[int]) -> np.ndarray:
        """`prefill` a whole prompt, keeping the part the cache already holds (a shared system prompt and few-shot
        turns, or the previous trace's prompt); at least its last token is run, for the logits of the next."""
        keep = min(self.common_prefix(tokens), len(tokens) - 1)
        if keep > 0:
            self.rewind(keep)
        else:
            self.reset()
        return self.prefill(tokens[keep:])

    def score(self, tokens: Sequence[int]) -> np.ndarray:
        """Logits at every position of `tokens` from an empty cache, [T, V] (for the accuracy gate)."""
        self.reset()
        return self.extend(tokens)

    def extend(self, tokens: Sequence[int]) -> np.ndarray:
        """Append `tokens`; the logits at every one of them, [T, V] (a continuation's log-likelihood).

        Backends whose model returns all positions override `_extend` with one forward.
        """
        if len(tokens) == 0:
            raise UsageError("empty prompt: give at least one token")
        self.check_room(len(tokens))
        return self._extend(tokens)

    def _extend(self, tokens: Sequence[int]) -> np.ndarray:
        return np.stack([self.step(t) for t in tokens])  # a program that returns the last position only

    def lanes(self, count: int) -> "Lanes | None":
        """`count` sequences decoded together on this model (`runtime.lanes`), or None: this backend decodes its
        traces one after another."""
        return None

    def check_room(self, num_new: int) -> None:
        if self.position + num_new > self.info.max_seq_len:
            raise ContextOverflowError(
                f"{self.position} cached + {num_new} new tokens exceed the context of "
                f"{self.info.max_seq_len}: shorten the prompt or lower --max-new-tokens, "
                "or re-export with a larger --max-seq-len"
            )
