"""The accuracy gate: an exported artifact against the fp32 eager reference on the same tokens.

Statistics as llama.cpp's `--kl-divergence`: perplexity of each, mean KL(ref ‖ artifact) over
every scored position, and how often both pick the same top-1 token. The artifact is scored
through the same backend users run, so the gate sees what the device sees.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgereason import datafiles
from edgereason.artifact import Quality
from edgereason.errors import UsageError
from edgereason.quant.recipes import GateThresholds
from edgereason.runtime.backends import Backend

DEFAULT_NUM_TOKENS = 4096
DEFAULT_WINDOW = 512
GATE_TEXT = "wikitext2_test_raw.txt"  # a file of the data registry (edgereason/specs/data.json)


@dataclass(frozen=True)
class GateConfig:
    """Attributes:
    data: UTF-8 text to score on; None: WikiText-2 raw test, found by the data lookup (`datafiles`).
    num_tokens: how many tokens from the start of `data` to score.
    window: tokens per independent window (the cache is reset between windows).
    """

    data: Path | None = None
    num_tokens: int = DEFAULT_NUM_TOKENS
    window: int = DEFAULT_WINDOW

    def __post_init__(self) -> None:
        if self.num_tokens < 2:
            raise UsageError(f"--gate-tokens must be at least 2, got {self.num_tokens}")
        if self.window < 2:
            raise UsageError(f"the gate window must be at least 2 tokens, got {self.window}")


def gate_text(data: Path | None) -> Path:
    """The text given, or WikiText-2 raw test where the data lookup finds it (one line naming `data pull` if not)."""
    return data if data is not None else datafiles.locate(GATE_TEXT, option="--gate-data PATH")


def read_tokens(tokenizer_file: Path | None, data: Path | None, num_tokens: int, *, vocab_size: int = 0) -> list[int]:
    """The first `num_tokens` tokens of a text file, with the artifact's own tokenizer.

    A tokenizer-free artifact (random weights of a real config) is scored on seeded uniform
    token ids instead: its KL and top-1 against fp32 still measure the export.
    """
    from tokenizers import Tokenizer

    if tokenizer_file is None:
        if vocab_size < 1:
            raise ValueError("a tokenizer-free gate needs the vocabulary size")
        return np.random.default_rng(0).integers(0, vocab_size, num_tokens).tolist()
    data = gate_text(data)
    text = read_text(data)
    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    # ~4 characters per token in WikiText: 16x leaves room, and the whole file is the fallback.
    tokens = tokenizer.encode(text[: num_tokens * 16]).ids
    if len(tokens) < num_tokens:
        tokens = tokenizer.encode(text).ids
    if len(tokens) < num_tokens:
        raise UsageError(f"{data} has only {len(tokens)} tokens, {num_tokens} asked: lower --gate-tokens")
    return tokens[:num_tokens]


def read_text(data: Path | None) -> str:
    """The gate's text, checked: called before an export starts, so a bad path fails in a second, not after it.

    Raises:
        UsageError: missing, not a file, not UTF-8, or empty.
    """
    data = gate_text(data)
    if not data.is_file():
        problem = "is a folder" if data.is_dir() else "does not exist"
        raise UsageError(f"gate data {data} {problem}: pass --gate-data PATH (WikiText-2 raw test text)")
    try:
        text = data.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(f"gate data {data} is not UTF-8 text ({e.reason} at byte {e.start}): pass a UTF-8 text "
                         "file") from None
    except OSError as e:
        raise UsageError(f"cannot read gate data {data} ({e.strerror}): pass a readable --gate-data") from None
    if not text.strip():
        raise UsageError(f"gate data {data} is empty: pass a text file with at least a few thousand words")
    return text


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    x = logits.astype(np.float64)
    x -= x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def compare(reference: Backend, candidate: Backend, tokens: Sequence[int], *, window: int,
            on_window: Callable[[int], None] | None = None) -> dict[str, float]:
    """Score both backends window by window; returns ppl, ppl_ref, kld_mean, top1_agreement."""
    window = min(window, reference.info.max_seq_len, candidate.info.max_seq_len)
    nll = nll_ref = kld = 0.0
    agree = num_positions = num_targets = 0
    for start in range(0, len(tokens) - 1, window):
        chunk = list(tokens[start:start + window])
        if len(chunk) < 2:
            break
        ref = _log_softmax(reference.score(chunk))  # [T, V]
        cand = _log_softmax(candidate.score(chunk))  # [T, V]
        targets = np.asarray(chunk[1:])
        rows = np.arange(len(targets))
        nll_ref -= ref[rows, targets].sum()
        nll -= cand[rows, targets].sum()
        kld += (np.exp(ref) * (ref - cand)).sum()
        agree += int((ref.argmax(-1) == cand.argmax(-1)).sum())
        num_positions += len(chunk)
        num_targets += len(targets)
        if on_window:
            on_window(len(chunk))
    return {
        "ppl": float(np.exp(nll / num_targets)),
        "ppl_ref": float(np.exp(nll_ref / num_targets)),
        "kld_mean": float(max(kld, 0.0) / num_positions),
        "top1_agreement": agree / num_positions,
    }


def failures(stats: dict[str, float], limits: GateThresholds) -> list[str]:
    """Which thresholds the stats break, each with its number (empty list: passed)."""
    out = []
    ratio = stats["ppl"] / stats["ppl_ref"]
    if ratio > limits.max_ppl_ratio:
        out.append(f"ppl ratio {ratio:.4f} > {limits.max_ppl_ratio}")
    if stats["kld_mean"] > limits.max_kld:
        out.append(f"mean KL {stats['kld_mean']:.5f} > {limits.max_kld}")
    if stats["top1_agreement"] < limits.min_top1:
        out.append(f"top-1 agreement {stats['top1_agreement']:.4f} < {limits.min_top1}")
    return out


def run_gate(reference: Backend, candidate: Backend, tokenizer_file: Path | None, config: GateConfig,
             limits: GateThresholds, *, force: bool = False,
             on_window: Callable[[int], None] | None = None) -> tuple[Quality, list[str]]:
    """Score `candidate` against `reference`; returns the manifest's quality block and the failures."""
    tokens = read_tokens(tokenizer_file, config.data, config.num_tokens, vocab_size=reference.info.vocab_size)
    dataset = gate_text(config.data).name if tokenizer_file else "random token ids (tokenizer-free)"
    stats = compare(reference, candidate, tokens, window=config.window, on_window=on_window)
    broken = failures(stats, limits)
    quality = Quality(dataset=dataset, n_tokens=len(tokens),
                      window=min(config.window, reference.info.max_seq_len, candidate.info.max_seq_len),
                      passed=not broken, forced=bool(broken) and force, **stats)
    return quality, broken
