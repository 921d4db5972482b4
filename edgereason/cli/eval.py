"""`edgereason eval FOLDER --tasks arc_easy,gsm8k,wikitext`: lm-evaluation-harness on an artifact, offline.

lm-eval's own task definitions on the local data files (`bench.lm_eval_tasks`), the artifact as lm-eval's model
(`bench.lm_eval_model`); the report folder (`<output>/<timestamp>/`) holds report.md with the metrics table,
results.json / results.csv (rows and machine facts), lm-eval's own results JSON and per-document samples of each
task, and the task configs that were run.
"""

from pathlib import Path
from typing import Annotated

import typer

from edgereason.bench.lm_eval_tasks import DEFAULT_BATCH_SIZE, DEFAULT_TASKS, LM_EVAL_VERSION
from edgereason.cli import app, console, handle_errors, out, positive
from edgereason.cli.reason import FolderArg, Threads
from edgereason.errors import UsageError


@app.command("eval")
@handle_errors
def eval_(
    folder: FolderArg,
    tasks: Annotated[str, typer.Option(help="Comma list of arc_easy, gsm8k, wikitext (lm-eval's tasks on the local "
                                            "data files)")] = ",".join(DEFAULT_TASKS),
    limit: Annotated[int | None, typer.Option(help="Documents per task: the first N (default: all)")] = None,
    num_fewshot: Annotated[int | None, typer.Option(help="Few-shot examples for every task (default: each task's "
                                                         "own: arc_easy 0, gsm8k 5, wikitext 0)")] = None,
    threads: Threads = None,
    batch_size: Annotated[int, typer.Option(help="Generations decoded together on a .onnx artifact (1: one after "
                                                 "another; .pte always is)")] = DEFAULT_BATCH_SIZE,
    output: Annotated[Path, typer.Option("--output", "-o", help="Parent of the report folder")] = Path("bench-results"),
) -> None:
    """lm-evaluation-harness (acc, exact match, perplexity) on an artifact, offline; writes a report folder."""
    import json
    import tempfile

    from edgereason.artifact import read_manifest
    from edgereason.bench import lm_eval_tasks, machine
    from edgereason.bench.report import Column, Report, check_output, num

    for value, flag in ((limit, "--limit"), (threads, "--threads"), (batch_size, "--batch-size")):
        positive(value, flag)
    if num_fewshot is not None and num_fewshot < 0:
        raise UsageError(f"--num-fewshot must be 0 or more, got {num_fewshot}")
    names = lm_eval_tasks.parse_tasks(tasks)
    check_output(output)
    manifest = read_manifest(folder, verify_sha256=False)  # every file's sha256 is checked when the model loads
    if not manifest.tokenizer.file:
        raise UsageError(f"{folder} was exported without a tokenizer: lm-eval sends text, so export from a "
                         "checkpoint with tokenizer.json")
    files = lm_eval_tasks.locate_files(names)
    for name in names:
        lm_eval_tasks.upstream_config(lm_eval_tasks.TASKS[name])  # lm-eval installed, and the pinned version
    lm_eval_tasks.offline_environment()
    from edgereason.bench import lm_eval_model

    facts = machine.facts(threads)
    with console.status(f"loading {folder.name}"):
        lm = lm_eval_model.EdgeReasonLM(folder, threads=threads, batch_size=batch_size)
    with tempfile.TemporaryDirectory(prefix="edgereason-lm-eval-") as tmp:
        config_dir = lm_eval_tasks.write_configs(Path(tmp) / "tasks", files)
        runs = lm_eval_model.run_tasks(lm, config_dir, names, limit=limit, num_fewshot=num_fewshot,
                                       on_start=lambda name: console.print(f"[bold]{folder.name}[/bold]: {name}"))
        configs = {p.name: p.read_text() for p in sorted(config_dir.glob("*.yaml"))}

    rows = [{"artifact": folder.name, "format": manifest.format, "recipe": manifest.recipe.name, **row}
            for run in runs for row in lm_eval_model.summary_rows(run)]
    columns = [Column("task", "task"), Column("num_fewshot", "shots"), Column("metric", "metric"),
               Column("filter", "filter"), Column("value", "value", num(4)), Column("stderr", "± stderr", num(4)),
               Column("docs", "docs"), Column("seconds", "task s", num(0))]
    title = f"lm-evaluation-harness {LM_EVAL_VERSION}: {folder.name}"
    report = Report(output, title, facts)
    try:
        stats = lm.stats
        command = " ".join(["edgereason eval", str(folder), "--tasks", ",".join(names)]
                           + [f"{flag} {value}" for flag, value in (("--limit", limit), ("--num-fewshot", num_fewshot),
                                                                     ("--threads", threads),
                                                                     ("--batch-size", batch_size))
                              if value is not None])
        report.text(
            f"`{command}`: lm-eval's own task configs (lm_eval {LM_EVAL_VERSION}, `tasks/` here) on the local data "
            f"files, offline. Context {lm.max_length} tokens (the artifact's KV cache), prefix token "
            f"{lm.prefix_token_id}. Model time: loglikelihood {stats.loglikelihood_s:.1f} s ({stats.contexts:,} "
            f"contexts, {stats.scored_tokens:,} tokens scored), generation {stats.generate_s:.1f} s "
            f"({stats.generated_tokens:,} tokens).")
        md = report.table("Results", rows, columns)
        for run in runs:
            (report.staging / f"lm_eval_{run.name}.json").write_text(
                json.dumps(run.results, indent=2, default=_json_default, ensure_ascii=False) + "\n")
            with (report.staging / f"samples_{run.name}.jsonl").open("w") as fh:
                for sample in run.samples:
                    fh.write(json.dumps(sample, default=_json_default, ensure_ascii=False) + "\n")
        (report.staging / "tasks").mkdir()
        for name, text in configs.items():
            (report.staging / "tasks" / name).write_text(text)
        final = report.publish({"artifact": str(folder), "lm_eval_version": LM_EVAL_VERSION, "tasks": names,
                                "limit": limit, "num_fewshot": num_fewshot, "rows": rows,
                                "model_stats": vars(stats)}, rows)
    except BaseException:
        report.discard()
        raise
    out.print(md, soft_wrap=True)
    out.print(f"report: {final}", soft_wrap=True)


def _json_default(value: object) -> object:
    """lm-eval's results hold numpy scalars, sets and functions (the task configs): as its own writer does."""
    from lm_eval.utils import handle_non_serializable

    return handle_non_serializable(value)
