"""`edgereason bench ...`: measurements people compare, written to bench-results/<timestamp>/."""

import dataclasses
import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from edgereason.cli import app, handle_errors, out, positive
from edgereason.cli.reason import (
    EXIT,
    SOLVE,
    AbortThreshold,
    FolderArg,
    MaxNew,
    Offset,
    TaskOpt,
    TaskSeed,
    Threads,
    _default_exits,
    _problems_progress,
    _shot_task,
)
from edgereason.errors import UsageError

bench_app = typer.Typer(help="Benchmarks: reasoning accuracy, cost and calibration.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


def results_dir(root: Path) -> Path:
    path = root / time.strftime("%Y%m%d-%H%M%S")
    path.mkdir(parents=True, exist_ok=True)
    return path


@bench_app.command("reason")
@handle_errors
def reason(
    folder: FolderArg,
    task: TaskOpt = "builtin",
    n: Annotated[int, typer.Option("--n", help="Problems")] = 200,
    task_seed: TaskSeed = 2,
    offset: Offset = 0,
    strategy: Annotated[str, typer.Option(help="Comma list of greedy, early-exit, vote")] = "greedy,early-exit,vote",
    max_traces: Annotated[int, typer.Option(help="Traces for vote")] = SOLVE.max_traces,
    max_new_tokens: MaxNew = SOLVE.max_new_tokens,
    abort_threshold: AbortThreshold = EXIT.abort_threshold,
    output: Annotated[Path, typer.Option("--output", "-o", help="Parent of the report folder")] = Path("bench-results"),
    threads: Threads = None,
) -> None:
    """Accuracy, tokens and time per problem, ECE / AUROC / selective accuracy of P(correct), per strategy."""
    import numpy as np

    from edgereason.bench.reasoning import run_problems, summarize
    from edgereason.bench.tasks import load_task, shots_for
    from edgereason.runtime import open_model

    positive(n, "--n")
    strategies = [s.strip() for s in strategy.split(",") if s.strip()]
    if not strategies:
        raise UsageError("--strategy needs at least one of greedy, early-exit, vote")
    configs = [_default_exits(s, max_traces, max_new_tokens, abort_threshold) for s in strategies]
    problems = load_task(task, n=n, seed=task_seed, offset=offset)
    model = open_model(folder, num_threads=positive(threads, "--threads"))
    shots = shots_for(_shot_task(task, problems))
    report: dict = {"artifact": str(folder), "task": task, "n": len(problems), "task_seed": task_seed,
                    "offset": offset, "strategies": {}}
    table = Table(title=f"{folder.name} on {task} (n={len(problems)})")
    for col in ("strategy", "accuracy", "tok/problem", "probe tok", "s/problem", "traces", "calibrated", "ECE",
                "AUROC", "acc@50%", "acc@80%"):
        table.add_column(col, justify="left" if col == "strategy" else "right")
    for config in configs:
        calibrator = model.calibrator(config.strategy.value)
        bar, job = _problems_progress(f"{config.strategy.value}", len(problems))
        correct: list[bool] = []

        def advance(record, bar=bar, job=job, correct=correct) -> None:
            correct.append(record.correct)
            bar.update(job, advance=1, acc=f"accuracy {np.mean(correct):.2f}")

        with bar:
            records = run_problems(model, problems, config, shots=shots, calibrator=calibrator, on_record=advance)
        summary = summarize(records)
        report["strategies"][config.strategy.value] = {
            "summary": summary, "calibrated": calibrator is not None,
            "records": [dataclasses.asdict(r) for r in records]}
        table.add_row(config.strategy.value, f"{summary['accuracy']:.3f}", f"{summary['tokens_per_problem']:.1f}",
                      f"{summary['probe_tokens_per_problem']:.1f}", f"{summary['seconds_per_problem']:.2f}",
                      f"{summary['traces_per_problem']:.2f}", "yes" if calibrator else "no", f"{summary['ece']:.3f}",
                      f"{summary['auroc']:.3f}", f"{summary['selective_acc_50']:.3f}",
                      f"{summary['selective_acc_80']:.3f}")
    path = results_dir(output) / "results.json"
    path.write_text(json.dumps(report, indent=1) + "\n")
    out.print(table)
    out.print(f"results: {path}")
