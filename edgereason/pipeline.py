"""The wiring behind `edgereason export`: normalize, export, gate, write the manifest, publish.

This is the one module that ties subsystems together (DESIGN.md: the CLI wires); it lives apart
from cli.py so that the Python API runs the same sequence as the command line.
"""

import importlib.metadata
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edgereason import artifact, cache, models, schema
from edgereason.artifact import ArchInfo, Manifest, ModelInfo, Quality, RecipeInfo
from edgereason.errors import GateError, OutputError, UsageError
from edgereason.export import archs, hf, support
from edgereason.quant import gate
from edgereason.quant.gate import GateConfig
from edgereason.quant.recipes import Format, RecipeName, get_recipe
from edgereason.runtime import backends

DEFAULT_MAX_SEQ_LEN = 2048
VERSIONED = ("edgereason", "torch", "executorch", "torchao", "transformers", "onnxruntime",
             "onnxruntime-genai", "onnx", "gguf")


@dataclass(frozen=True)
class ExportRequest:
    """Attributes:
    source: built-in name, HF checkpoint folder or GGUF file.
    formats / recipes: every combination is exported, one folder each.
    out_dir: parent folder of the artifact folders.
    max_seq_len: KV cache length (context) the artifacts are built for.
    overwrite: replace existing artifact folders.
    force: keep an artifact that fails the accuracy gate (its manifest says so).
    """

    source: str
    formats: tuple[Format, ...]
    recipes: tuple[RecipeName, ...]
    out_dir: Path
    max_seq_len: int = DEFAULT_MAX_SEQ_LEN
    overwrite: bool = False
    force: bool = False
    gate: GateConfig = field(default_factory=GateConfig)
    num_threads: int | None = None


@dataclass(frozen=True)
class ExportOutcome:
    folder: Path
    format: Format
    recipe: RecipeName
    size_bytes: int
    export_seconds: float
    quality: Quality
    failures: list[str]


class Progress:
    """Callbacks the CLI turns into progress bars; the defaults do nothing."""

    def stage(self, name: str, description: str) -> None: ...

    def gate_start(self, name: str, num_tokens: int) -> None: ...

    def gate_advance(self, num_tokens: int) -> None: ...

    def done(self, outcome: ExportOutcome) -> None: ...


def artifact_name(model_name: str, recipe: RecipeName, fmt: Format) -> str:
    return f"{model_name}-{recipe.value}-{fmt.value}"


def versions() -> dict[str, str]:
    out = {}
    for name in VERSIONED:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def export_artifacts(request: ExportRequest, progress: Progress | None = None) -> list[ExportOutcome]:
    """Export every (format, recipe) of `request`, gate each, and publish the ones that pass.

    A refused artifact leaves no folder behind; after all are tried, GateError names them.
    """
    progress = progress or Progress()
    source = models.resolve(request.source)
    finals = {(f, r): request.out_dir / artifact_name(source.name, r, f)
              for r in request.recipes for f in request.formats}
    # Everything the user gave is checked before any heavy work, not after an hour of exports.
    check_max_seq_len(request.max_seq_len)
    if not request.overwrite:
        for final in finals.values():
            if final.exists():
                raise OutputError(f"{final} already exists: pass --overwrite to replace it, "
                                           "or choose another -o")
    if source.kind is not models.SourceKind.HF or (source.path and (source.path / "tokenizer.json").is_file()):
        gate.read_text(request.gate.data)  # tokenizer-free checkpoints are gated on random ids instead
    if source.kind is models.SourceKind.HF and source.path:
        check_context(hf.read_config(source.path), request.max_seq_len)
    progress.stage(source.name, "preparing checkpoint")
    hf_dir = hf.normalize(source)
    config = hf.check_checkpoint(hf_dir)
    check_context(config, request.max_seq_len)
    base_manifest = _base_manifest(source, request.source, hf_dir, config, request.max_seq_len)
    info = backends.info_from_manifest(base_manifest, format="eager")

    def reference() -> backends.Backend:
        # Loaded for each gate and dropped before the next export: held through an export it would
        # add a whole fp32 copy of the model to that export's peak memory.
        return backends.load_eager(hf_dir, info, num_threads=request.num_threads)

    outcomes, refused = [], []
    for (fmt, recipe_name), final in finals.items():
        try:
            outcome = _export_one(request, fmt, recipe_name, final, hf_dir, config, base_manifest,
                                  reference, progress)
        except _Refused as refusal:
            outcome = refusal.outcome
        outcomes.append(outcome)
        progress.done(outcome)
        if outcome.failures and not request.force:
            refused.append(f"{final.name}: {'; '.join(outcome.failures)}")
    if refused:
        raise GateError("refused by the accuracy gate (no folder written): " + " | ".join(refused)
                        + "; check the export, or pass --force to keep it")
    return outcomes


def check_max_seq_len(max_seq_len: int) -> None:
    """The bounds the manifest schema puts on a context (one place: manifest.schema.json)."""
    bounds = schema.schema("manifest")["properties"]["arch"]["properties"]["max_seq_len"]
    if not bounds["minimum"] <= max_seq_len <= bounds["maximum"]:
        raise UsageError(f"--max-seq-len must be in {bounds['minimum']}..{bounds['maximum']:,} tokens, got "
                         f"{max_seq_len}")


def check_context(config: dict, max_seq_len: int) -> None:
    """A context this model computes and this machine can hold a KV cache for.

    Raises:
        UsageError: past the model's trained positions or attention chunk, or a KV cache larger than RAM.
    """
    if (limit := archs.max_context(config)) and max_seq_len > limit:
        raise UsageError(f"--max-seq-len {max_seq_len} exceeds this model's attention chunk "
                         f"({limit} tokens), past which it attends in chunks edgereason does not implement: "
                         f"pass --max-seq-len {limit} or less")
    trained = config.get("max_position_embeddings")
    if trained and max_seq_len > trained:
        raise UsageError(f"--max-seq-len {max_seq_len} exceeds the {trained} positions this model was trained for "
                         f"(max_position_embeddings): pass --max-seq-len {trained} or less")
    kv_bytes = support.facts(config).kv_cache_bytes(max_seq_len)
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if kv_bytes > ram:
        raise UsageError(f"--max-seq-len {max_seq_len} needs a {kv_bytes / 2**30:,.1f} GiB KV cache, more than this "
                         f"machine's {ram / 2**30:.1f} GiB of memory: pass a smaller --max-seq-len")


def _base_manifest(source: models.ModelSource, given: str, hf_dir: Path, config: dict,
                   max_seq_len: int) -> Manifest:
    params_heads = config["num_attention_heads"]
    return Manifest(
        model=ModelInfo(name=source.name, source=given, source_sha256=hf.source_sha256(source)),
        arch=ArchInfo(
            architecture=(config.get("architectures") or ["?"])[0],
            n_layers=config["num_hidden_layers"], n_heads=params_heads,
            n_kv_heads=config.get("num_key_value_heads", params_heads),
            head_dim=config.get("head_dim") or config["hidden_size"] // params_heads,
            dim=config["hidden_size"], vocab_size=config["vocab_size"], max_seq_len=max_seq_len,
            rope_theta=archs.rope_theta(config),
        ),
        tokenizer=hf.tokenizer_info(hf_dir),
        format="", recipe=RecipeInfo(name="", details={}),
        io=artifact.IOInfo(method="", inputs=[], outputs=[], logits="last"),
        created_by=versions(),
    )


def _export_one(request: ExportRequest, fmt: Format, recipe_name: RecipeName, final: Path, hf_dir: Path,
                config: dict, base: Manifest, reference: Callable[[], backends.Backend],
                progress: Progress) -> ExportOutcome:
    recipe = get_recipe(recipe_name)
    log_path = cache.log_path(final.name)
    log_path.unlink(missing_ok=True)
    with artifact.staging(final, overwrite=request.overwrite) as tmp:
        progress.stage(final.name, f"exporting {fmt.value} {recipe_name.value}")
        start = time.perf_counter()
        tok = base.tokenizer
        if fmt is Format.PTE:
            from edgereason.export.pte import export_pte

            details, io = export_pte(hf_dir, tmp, recipe, config, max_seq_len=request.max_seq_len,
                                     bos_id=tok.bos_id if tok.add_bos else None, eos_ids=tok.eos_ids,
                                     log_path=log_path)
            archs.copy_tokenizer(hf_dir, tmp)
        else:
            from edgereason.export.onnx import export_onnx

            details, io = export_onnx(hf_dir, tmp, recipe, max_seq_len=request.max_seq_len,
                                      eos_ids=tok.eos_ids, log_path=log_path)
        seconds = time.perf_counter() - start
        manifest = Manifest(**{**base.__dict__, "format": fmt.value,
                               "recipe": RecipeInfo(name=recipe_name.value, details=details), "io": io,
                               "export_seconds": round(seconds, 2)})
        artifact.record_files(tmp, manifest)
        artifact.write_manifest(tmp, manifest)
        candidate = backends.load(tmp, verify_sha256=False, num_threads=request.num_threads)
        progress.gate_start(final.name, request.gate.num_tokens)
        tokenizer = hf_dir / "tokenizer.json" if tok.file else None
        quality, failures = gate.run_gate(reference(), candidate, tokenizer, request.gate,
                                          recipe.gate, force=request.force, on_window=progress.gate_advance)
        del candidate
        manifest.quality = quality
        artifact.write_manifest(tmp, manifest)
        if failures and not request.force:
            # Leaving the block by exception discards the staged folder: nothing half-written.
            raise _Refused(ExportOutcome(final, fmt, recipe_name, cache.dir_bytes(tmp), seconds, quality,
                                         failures))
        size = sum(entry.bytes for entry in manifest.files.values())
    return ExportOutcome(final, fmt, recipe_name, size, seconds, quality, failures)


class _Refused(Exception):
    def __init__(self, outcome: ExportOutcome):
        super().__init__(outcome.folder.name)
        self.outcome = outcome
