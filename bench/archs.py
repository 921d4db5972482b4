"""The architecture matrix: each model config × format × recipe, from seeded random weights, held to
the transformers eager model.

The seed models' weights can't be downloaded here, but their architectures can be exercised
exactly: random weights of the real config (all of its width, optionally only its first blocks),
exported by the same `export_artifacts` a user runs, then compared with transformers on the same
token ids, prefill and greedy decode both. fp32 must match to rounding; a quantized artifact must
load, decode and stay finite (its KL and top-1 come from the gate).
"""

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgereason import models, pipeline
from edgereason.artifact import read_manifest
from edgereason.export import archs, hf
from edgereason.quant.gate import GateConfig
from edgereason.quant.recipes import Format, RecipeName
from edgereason.runtime import backends

# fp32 artifacts against transformers eager: the largest |Δ logit| over prefill and decode,
# relative to the largest |logit|. Measured ≤ 2e-5 (different kernels, fp32 accumulation order).
FP32_RTOL = 1e-3
PROMPT_TOKENS = 24
DECODE_STEPS = 16


@dataclass(frozen=True)
class MatrixConfig:
    layers: int | None = 2  # None: every block
    vocab: int | None = None  # None: the config's (CI shrinks it for time)
    mlp: int | None = None  # None: the config's MLP width (CI narrows it; attention keeps full width)
    formats: tuple[Format, ...] = (Format.PTE, Format.ONNX)
    recipes: tuple[RecipeName, ...] = (RecipeName.FP32, RecipeName.INT4)
    seed: int = 0
    max_seq_len: int = 256
    gate_tokens: int = 64
    num_threads: int | None = None


def parity(reference: backends.Backend, candidate: backends.Backend, prompt: Sequence[int],
           steps: int) -> dict:
    """Prefill `prompt`, then `steps` greedy steps fed the reference's own tokens, logits and the probes' hidden
    state compared (the hidden state relative to its own largest magnitude; None when the candidate has none)."""
    reference.reset()
    candidate.reset()
    ref, cand = reference.prefill(prompt), candidate.prefill(prompt)
    max_diff, scale, agree, finite = 0.0, 0.0, 0, True
    hidden_diff, hidden_scale = (0.0, 0.0) if candidate.has_hidden else (None, None)
    for i in range(steps + 1):
        finite &= bool(np.isfinite(cand).all())
        max_diff = max(max_diff, float(np.max(np.abs(ref - cand))))
        scale = max(scale, float(np.max(np.abs(ref))))
        agree += int(np.argmax(ref) == np.argmax(cand))
        if hidden_diff is not None:
            hidden_diff = max(hidden_diff, float(np.max(np.abs(reference.hidden - candidate.hidden))))
            hidden_scale = max(hidden_scale, float(np.max(np.abs(reference.hidden))))
        if i < steps:
            token = int(np.argmax(ref))
            ref, cand = reference.step(token), candidate.step(token)
    return {"max_abs_diff": max_diff, "logit_absmax": scale, "rel_diff": max_diff / max(scale, 1e-12),
            "greedy_agreement": agree / (steps + 1), "finite": finite,
            "hidden_rel_diff": None if hidden_diff is None else hidden_diff / max(hidden_scale, 1e-12)}


def run_config(config_path: Path, work: Path, matrix: MatrixConfig,
               on_stage: Callable[[str], None] | None = None) -> list[dict]:
    """Every cell of one config; a failed export is a row with its error, never a crash."""
    config = json.loads(config_path.read_text())
    name = config_path.stem.replace("__", "--")
    base = {"config": config_path.stem, "architecture": archs.architecture(config),
            "layers": matrix.layers or config["num_hidden_layers"],
            "vocab": min(matrix.vocab or config["vocab_size"], config["vocab_size"]),
            "mlp": archs.reduce(config, mlp=matrix.mlp)["intermediate_size"]}
    if reason := archs.config_reason(config):
        return [{**base, "format": f.value, "recipe": r.value, "status": "refused", "error": reason}
                for f in matrix.formats for r in matrix.recipes]
    checkpoint = work / f"{name}-l{base['layers']}-v{base['vocab']}-m{base['mlp']}-s{matrix.seed}"
    if on_stage:
        on_stage(f"{name}: random weights")
    if not models.is_complete(checkpoint):
        generation = config_path.with_name(f"{config_path.stem}.generation_config.json")
        archs.make_random_checkpoint(config, checkpoint, seed=matrix.seed, layers=matrix.layers, vocab=matrix.vocab,
                                     mlp=matrix.mlp, generation_config=generation if generation.is_file() else None)
        models.mark_complete(checkpoint, f"random seed {matrix.seed}")
    vocab = min(matrix.vocab or config["vocab_size"], config["vocab_size"])
    prompt = np.random.default_rng(matrix.seed).integers(0, vocab, PROMPT_TOKENS).tolist()
    rows = []
    reference = None
    for fmt in matrix.formats:
        for recipe in matrix.recipes:
            row = {**base, "format": fmt.value, "recipe": recipe.value}
            if on_stage:
                on_stage(f"{name}: {fmt.value} {recipe.value}")
            start = time.perf_counter()
            try:
                [outcome] = pipeline.export_artifacts(pipeline.ExportRequest(
                    source=str(checkpoint), formats=(fmt,), recipes=(recipe,), out_dir=work / "artifacts",
                    max_seq_len=matrix.max_seq_len, overwrite=True, force=True,
                    gate=GateConfig(num_tokens=matrix.gate_tokens), num_threads=matrix.num_threads))
                if reference is None:
                    info = backends.info_from_manifest(read_manifest(outcome.folder), format="eager")
                    reference = backends.load_eager(hf.normalize(models.resolve(str(checkpoint))), info,
                                                    num_threads=matrix.num_threads)
                candidate = backends.load(outcome.folder, num_threads=matrix.num_threads)
                row.update(parity(reference, candidate, prompt, DECODE_STEPS))
                row.update(size_mib=outcome.size_bytes / 2**20, export_s=outcome.export_seconds,
                           kld_mean=outcome.quality.kld_mean, top1_agreement=outcome.quality.top1_agreement)
                row["status"] = verdict(recipe, row)
                del candidate
            except Exception as e:  # noqa: BLE001 - one failed cell is a row of the matrix, not the end of it
                row.update(status="failed", error=f"{type(e).__name__}: {str(e).splitlines()[0][:300]}")
            row["wall_s"] = time.perf_counter() - start
            rows.append(row)
    return rows


def verdict(recipe: RecipeName, row: dict) -> str:
    if not row["finite"]:
        return "failed: non-finite logits"
    if recipe is RecipeName.FP32 and row["rel_diff"] > FP32_RTOL:
        return f"failed: fp32 logits differ by {row['rel_diff']:.2e} of their range (> {FP32_RTOL:g})"
    if row.get("hidden_rel_diff") is None:
        return "failed: no hidden-state output (the probes read it)"
    if recipe is RecipeName.FP32 and row["hidden_rel_diff"] > FP32_RTOL:
        return (f"failed: fp32 hidden state differs by {row['hidden_rel_diff']:.2e} of its range (> {FP32_RTOL:g}): "
                "not the layer eager reads")
    return "ok"
