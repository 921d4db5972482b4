"""`edgereason bench speed|quality|reason`: every command writes a report folder under bench-results/.

The folder (`<output>/<timestamp>/`) holds report.md with the tables and PNG plots, results.json,
results.csv and the machine facts; the table is also printed.
"""

import dataclasses
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from edgereason.bench.report import check_output
from edgereason.cli import app, console, handle_errors, out, positive
from edgereason.cli.reason import (
    SOLVE,
    Digits,
    EscalateModel,
    EscalateTimeout,
    FieldsOpt,
    FolderArg,
    Offset,
    SpecAbortThreshold,
    SpecMaxNew,
    SpecMaxTraces,
    SpecOpt,
    TaskOpt,
    TaskSeed,
    Threads,
    _default_exits,
    _problems_progress,
    _shot_task,
    _spec_default,
    slow_path,
    solve_spec,
    spec_option,
)
from edgereason.errors import EdgeReasonError, UsageError
from edgereason.runtime.escalate import DEFAULT_TIMEOUT_S
from edgereason.runtime.reason import Strategy
from edgereason.runtime.spec import default_spec

bench_app = typer.Typer(help="Benchmarks: speed and memory, quality, reasoning and calibration.",
                        no_args_is_help=True)
app.add_typer(bench_app, name="bench")

Output = Annotated[Path, typer.Option("--output", "-o", help="Parent of the report folder")]
Folders = Annotated[list[Path], typer.Argument(help="Artifact folders made by `edgereason export`")]


def _print_table(title: str, rows: list[dict], columns) -> None:
    from edgereason.bench.report import cells

    table = Table(title=title)
    for i, c in enumerate(columns):
        table.add_column(c.header, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*cells(row, columns))
    out.print(table)


def _warn_if_busy(threads: int) -> None:
    from edgereason.bench.machine import busy_warning

    if warning := busy_warning(threads):
        console.print(f"[yellow]warning:[/yellow] {warning}", soft_wrap=True)


@bench_app.command("speed")
@handle_errors
def speed(
    folders: Folders,
    peers: Annotated[str, typer.Option(
        help="Comma list of llama.cpp, ort-genai, edgereason-run (the native runner on the same folders), or none",
    )] = "llama.cpp,ort-genai,edgereason-run",
    threads: Annotated[int, typer.Option(help="Threads for every system")] = 1,
    prompt_tokens: Annotated[int, typer.Option(help="Prompt length (WikiText-2 tokens)")] = 128,
    gen_tokens: Annotated[int, typer.Option(help="Decode steps after the first token")] = 128,
    rounds: Annotated[int, typer.Option(help="Timed rounds (a warm-up round runs first)")] = 5,
    data: Annotated[Path | None, typer.Option(help="Text the prompt is cut from")] = None,
    hidden_cost: Annotated[bool, typer.Option(help="Also time each .onnx folder with its hidden-state output "
                                                   "unread (the probes' cost)")] = False,
    batch: Annotated[str, typer.Option(help="Comma list of sequences decoded together, e.g. 1,2,4,8: the prompt "
                                            "prefilled once, B tokens per step (.onnx folders and llama.cpp)")] = "1",
    output: Output = Path("bench-results"),
) -> None:
    """TTFT, prefill and decode tok/s, per-token latency, peak RSS and the bandwidth bound, with peers."""
    from edgereason import datafiles
    from edgereason.artifact import read_manifest
    from edgereason.bench import machine, plots, speed
    from edgereason.bench.peers import PEERS
    from edgereason.bench.report import Column, Report, num, pct
    from edgereason.quant.gate import GATE_TEXT

    for value, flag in ((threads, "--threads"), (prompt_tokens, "--prompt-tokens"), (gen_tokens, "--gen-tokens"),
                        (rounds, "--rounds")):
        positive(value, flag)
    check_output(output)
    peer_names = [] if peers.strip() == "none" else [p.strip() for p in peers.split(",") if p.strip()]
    if unknown := [p for p in peer_names if p not in PEERS]:
        raise UsageError(f"unknown peer '{unknown[0]}': use {', '.join(PEERS)} or none")
    batches = _int_list(batch, "--batch")
    speed.check_folders(folders, prompt_tokens + gen_tokens + 1)
    if data is None and any(read_manifest(f, verify_sha256=False).tokenizer_path(f) for f in folders):
        data = datafiles.locate(GATE_TEXT, option="--data PATH")  # before the peers' GGUF files are made
    _warn_if_busy(threads)
    facts = machine.facts(threads)
    with console.status("preparing systems (peer GGUF files are made once and cached)"):
        systems, skipped, checkpoints = speed.plan(folders, peer_names, hidden_cost=hidden_cost, batches=batches)
        prompt_ids = speed.prompts(checkpoints, prompt_tokens, data)
        bandwidth = machine.memory_bandwidth(threads)
    for s in skipped:
        console.print(f"[yellow]skipped {s['peer']}:[/yellow] {s['reason']}", soft_wrap=True)
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=console)
    job = bar.add_task("warm-up", total=len(systems) * (rounds + 1))
    started = [0]

    def on_run(system, round_index) -> None:
        label = "warm-up" if round_index == 0 else f"round {round_index}/{rounds}"
        bar.update(job, completed=started[0], description=f"{label}: {system.label}")
        started[0] += 1

    with bar:
        results = speed.run(systems, prompt_ids, threads=threads, gen_tokens=gen_tokens, rounds=rounds, on_run=on_run)
        bar.update(job, completed=len(systems) * (rounds + 1))
    rows = [speed.result_row(r, bandwidth) for r in results]
    columns = [Column("system", "system"), Column("ttft_ms", "TTFT ms", num(1)),
               Column("prefill_tok_s", "prefill tok/s", num(1)), Column("decode_tok_s", "decode tok/s", num(1)),
               Column("decode_tok_s_min", "min", num(1)), Column("decode_tok_s_max", "max", num(1)),
               Column("token_ms_p50", "p50 ms", num(2)), Column("token_ms_p90", "p90 ms", num(2)),
               Column("peak_rss_mib", "peak RSS MiB", num(0)), Column("size_mib", "model MiB", num(1)),
               Column("fraction_of_bound", "of BW bound", pct), Column("error", "error")]
    if not any(r.get("error") for r in rows):
        columns.pop()
    if batches != [1]:
        columns[3:3] = [Column("batch", "B")]
        columns[5:5] = [Column("per_seq_tok_s", "per-seq tok/s", num(1))]
    title = (f"Speed: {prompt_tokens}-token prompt, {gen_tokens} decode steps, {threads} thread(s), "
             f"median of {rounds} rounds")
    report = Report(output, title, facts)
    report.text(f"Copy bandwidth measured in this run with {threads} thread(s): **{bandwidth:.1f} GB/s**; the "
                "bound is bandwidth / model bytes (every weight streamed once per token). Each system ran in its "
                "own process, interleaved round by round after a warm-up round; peak RSS is the OS's figure "
                "for that process (model load included).")
    report.table("Results", rows, columns)
    if skipped:
        report.text("Skipped: " + "; ".join(f"{s['peer']} ({s['reason']})" for s in skipped))
    budget = [r for r in rows if "rss_budget_mib" in r]
    if budget:
        report.table("Peak RSS against artifact + KV cache + 150 MB", budget, [
            Column("system", "system"), Column("peak_rss_mib", "peak RSS MiB", num(0)),
            Column("rss_budget_mib", "budget MiB", num(0)),
            Column("rss_within_budget", "within", lambda v: "yes" if v else "no")])
    ok = [r for r in rows if not r.get("error")]
    if ok:
        report.figure("throughput.png", plots.throughput_bars(ok), "Prefill and decode throughput")
    if ok and batches != [1]:
        report.text("decode tok/s counts the tokens of all B sequences; per-seq tok/s is one sequence's rate.")
        report.figure("batch.png", plots.batch_scaling(ok), "Aggregate decode tok/s against sequences per batch")
    path = report.publish({"kind": "speed", "threads": threads, "prompt_tokens": prompt_tokens,
                           "gen_tokens": gen_tokens, "rounds": rounds, "batches": batches, "bandwidth_gbs": bandwidth,
                           "systems": [{**speed.system_dict(r.system), "error": r.error, "rounds": r.rounds}
                                       for r in results],
                           "summary": rows, "skipped": skipped}, rows)
    _print_table(title, rows, columns)
    out.print(f"report: {path / 'report.md'}")


@bench_app.command("quality")
@handle_errors
def quality(
    folders: Folders,
    gate_data: Annotated[Path | None, typer.Option(help="UTF-8 text to score (default: WikiText-2 test)")] = None,
    gate_tokens: Annotated[int, typer.Option(help="Tokens scored")] = 4096,
    window: Annotated[int, typer.Option(help="Tokens per independent window")] = 512,
    threads: Threads = None,
    output: Output = Path("bench-results"),
) -> None:
    """Perplexity, KL divergence and top-1 agreement against the fp32 reference, per artifact."""
    from edgereason.bench import machine, plots
    from edgereason.bench.quality import score
    from edgereason.bench.report import Column, Report, num
    from edgereason.bench.speed import check_folders
    from edgereason.cli import quiet_transformers
    from edgereason.quant.gate import GateConfig, gate_text, read_text

    check_output(output)
    check_folders(folders)
    quiet_transformers()
    config = GateConfig(data=gate_text(gate_data), num_tokens=gate_tokens, window=window)
    read_text(config.data)
    facts = machine.facts(positive(threads, "--threads"))
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=console)
    job = bar.add_task("loading", total=None)

    def on_start(name: str, num_tokens: int) -> None:
        bar.reset(job, total=num_tokens, description=name)

    with bar:
        rows = score(folders, config, threads=threads, on_start=on_start,
                     on_window=lambda n: bar.update(job, advance=n))
    columns = [Column("artifact", "artifact"), Column("size_mib", "MiB", num(1)), Column("ppl", "ppl", num(3)),
               Column("ppl_ref", "ppl fp32", num(3)), Column("ppl_ratio", "ratio", num(4)),
               Column("kld_mean", "mean KL", num(5)), Column("top1_agreement", "top-1", num(4)),
               Column("gate", "gate")]
    title = f"Quality against fp32 ({config.num_tokens} tokens of {config.data.name}, {config.window}-token windows)"
    report = Report(output, title, facts)
    report.table("Results", rows, columns)
    report.figure("quality.png", plots.quality_bars(rows), "Quality against the fp32 reference")
    path = report.publish({"kind": "quality", "data": str(config.data), "tokens": config.num_tokens,
                           "window": config.window, "summary": rows}, rows)
    _print_table(title, rows, columns)
    out.print(f"report: {path / 'report.md'}")


@bench_app.command("reason")
@handle_errors
def reason(
    folder: FolderArg,
    task: TaskOpt = "builtin",
    fields: FieldsOpt = None,
    n: Annotated[int, typer.Option("--n", help="Problems")] = 200,
    task_seed: TaskSeed = 2,
    offset: Offset = 0,
    strategy: Annotated[str | None, typer.Option(help="Comma list of greedy, early-exit, vote, score (default: the "
                                                      "first three, and score on multiple choice; with --spec, the "
                                                      "spec's)")] = None,
    max_traces: SpecMaxTraces = None,
    max_new_tokens: SpecMaxNew = None,
    abort_threshold: SpecAbortThreshold = None,
    calculator: Annotated[str | None, typer.Option(help="Comma list of off, check, compute: the arithmetic "
                                                        "checker's mode, each a row per strategy (" + _spec_default(
                                                            SOLVE.calculator.value) + ")")] = None,
    digits: Digits = None,
    spec: SpecOpt = None,
    shots: Annotated[str | None, typer.Option(help="Few-shot examples instead of the spec's: gsm8k, builtin, "
                                                   "arc-easy, none, or task (the task's own)")] = None,
    escalate_to: Annotated[str | None, typer.Option(help="An OpenAI-compatible slow path asked every problem (the "
                                                         "fast path's prompt): the cascade's accuracy vs share "
                                                         "escalated, against random routing; its key from "
                                                         "EDGEREASON_ESCALATE_API_KEY")] = None,
    escalate_model: EscalateModel = None,
    escalate_timeout: EscalateTimeout = DEFAULT_TIMEOUT_S,
    parallel: Annotated[str | None, typer.Option(help="Comma list: vote traces decoded together in one batch on a "
                                                      ".onnx artifact, each a vote row, e.g. 1,5 to time batched "
                                                      "against one after another (default: all of them)")] = None,
    output: Output = Path("bench-results"),
    threads: Threads = None,
) -> None:
    """Accuracy, tokens and time per problem, ECE / AUROC / AURC / selective accuracy, early-exit savings, and the
    arithmetic: statements per problem, wrong answers with a false statement, calculator tokens.

    With --escalate-to, the slow path answers every problem too (a failure counts as a wrong answer and is counted;
    the bench stops only when every request fails) and each run gets a cascade: accuracy against the share
    escalated as the accept threshold sweeps P(correct), against always-fast, always-slow and random routing at the
    same share, the run's own decisions marked, and the slow path's tokens and time per problem (cascade.png)."""
    import numpy as np

    from edgereason.bench import machine, plots
    from edgereason.bench.cascade import attach_slow, cascade
    from edgereason.bench.reasoning import STATES_FILE, record_json, run_problems, savings, state_arrays, summarize
    from edgereason.bench.report import Column, Report, num, pct
    from edgereason.bench.taskfiles import parse_fields
    from edgereason.bench.tasks import load_task, parse_digits, shots_for
    from edgereason.runtime import open_model
    from edgereason.runtime.answers import AnswerKind

    positive(n, "--n")
    check_output(output)
    given = spec_option(spec)
    suite_digits = parse_digits(digits)
    problems = load_task(task, n=n, seed=task_seed, offset=offset, digits=suite_digits, fields=parse_fields(fields))
    choice = bool(problems) and problems[0].kind is AnswerKind.CHOICE
    if strategy is None:  # the decoding strategies, and on multiple choice also scoring the options
        strategy = given.config.strategy.value if given else ",".join(
            s.value for s in Strategy if choice or s is not Strategy.SCORE)
    if Strategy.SCORE.value in strategy.split(",") and not choice:
        raise UsageError(f"--strategy score answers multiple-choice questions, and {task} is not: drop it")
    if calculator is None:
        calculator = (given or default_spec()).config.calculator.value
    strategies = [s.strip() for s in strategy.split(",") if s.strip()]
    modes = [m.strip() for m in calculator.split(",") if m.strip()]
    if not strategies:
        raise UsageError("--strategy needs at least one of greedy, early-exit, vote")
    if not modes:
        raise UsageError("--calculator needs at least one of off, check, compute")
    widths: list[int | None] = [None] if parallel is None else _int_list(parallel, "--parallel")
    runs = [(s, m) for s in strategies for m in modes]
    for s, m in runs:  # every setting checked before the model loads
        _default_exits(given or default_spec(), s, max_traces, max_new_tokens, abort_threshold, m)
    slow = slow_path(escalate_to, escalate_model, escalate_timeout, max_new_tokens or (
        given.config if given else SOLVE).max_new_tokens)
    shot_turns = None if shots is None else shots_for(_shot_task(task, problems) if shots == "task" else shots,
                                                       digits=suite_digits if shots in ("task", "builtin") else None)
    model = open_model(folder, num_threads=positive(threads, "--threads"))
    kind = problems[0].kind if problems else None
    specs = []  # (spec, vote traces at once)
    for s, m in runs:
        run_spec = _default_exits(solve_spec(model, given, s), s, max_traces, max_new_tokens, abort_threshold, m)
        run_spec = run_spec.with_shots(kind, shot_turns) if shot_turns is not None and kind else run_spec
        specs += [(run_spec, w) for w in (widths if run_spec.config.strategy is Strategy.VOTE else [None])]
    max_traces = specs[0][0].config.max_traces  # the same for every run: the flag's, else the spec's
    slow, slow_records = _ask_slow(slow, problems, specs[0][0]) if slow is not None else (None, None)
    cascades: dict = {}  # run name -> (bench.cascade.cascade's result, calibrated)
    facts = machine.facts(threads)
    results: dict = {"kind": "reason", "artifact": str(folder), "task": task, "n": len(problems),
                     "task_seed": task_seed, "offset": offset, "digits": digits, "max_traces": max_traces,
                     "strategies": {}}
    rows = []
    arrays: dict = {}  # the hidden states per run, for `bench transfer`'s probes
    for run_spec, width in specs:
        config, calibrator = run_spec.config, run_spec.calibrator
        name = (config.strategy.value + ("" if len(modes) == 1 else f" {config.calculator.value}")
                + ("" if width is None or len(widths) == 1 else f" parallel {width}"))
        bar, job = _problems_progress(name, len(problems))
        correct: list[bool] = []

        def advance(record, bar=bar, job=job, correct=correct) -> None:
            correct.append(record.correct)
            bar.update(job, advance=1, acc=f"accuracy {np.mean(correct):.2f}")

        with bar:
            records = run_problems(model, problems, run_spec, on_record=advance, parallel=width)
        summary, csv_extra = summarize(records), {}
        if slow_records is not None:
            attach_slow(records, slow_records)  # the slow answers go into this run's records, then its cascade
            threshold = calibrator.threshold if calibrator is not None else run_spec.uncalibrated_threshold
            cascades[name] = (cascade(records, decision_threshold=threshold), calibrator is not None)
            csv_extra = {f"cascade_{k}": v for k, v in cascades[name][0]["summary"].items()}
        results["strategies"][name] = {
            "summary": summary, "calibrated": calibrator is not None, "strategy": config.strategy.value,
            "calculator": config.calculator.value, "parallel": width, "records": [record_json(r) for r in records]}
        arrays |= {f"{name}/{state}": rows for state, rows in state_arrays(records).items()}
        rows.append({"strategy": name, "base_strategy": config.strategy.value, "calculator": config.calculator.value,
                     "calibrated": "yes" if calibrator else "no", **summary, **csv_extra})
    savings(rows, max_traces)
    columns = [Column("strategy", "strategy"), Column("accuracy", "accuracy", num(3)),
               Column("tokens_per_problem", "tok/problem", num(1)), Column("probe_tokens_per_problem", "probe tok",
                                                                           num(1)),
               Column("token_savings", "tokens saved", pct), Column("seconds_per_problem", "s/problem", num(2)),
               Column("traces_per_problem", "traces", num(2)), Column("tool_tokens_per_problem", "calc tok", num(1)),
               Column("statements_per_problem", "stmts", num(2)),
               Column("wrong_with_arith_error", "wrong w/ arith err", pct),
               Column("checker_share", "checker time", pct), Column("calibrated", "calibrated"),
               Column("ece", "ECE", num(3)), Column("auroc", "AUROC", num(3)), Column("aurc", "AURC", num(3)),
               Column("selective_acc_50", "acc@50%", num(3)), Column("selective_acc_80", "acc@80%", num(3))]
    title = f"Reasoning: {folder.name} on {task} (n={len(problems)})"
    report = Report(output, title, facts)
    report.table("Results", rows, columns)
    report.text("tokens saved: early-exit against greedy, vote against running all "
                f"{max_traces} traces to the greedy length; probe tokens are counted as spent.")
    same = _same_across_widths(results["strategies"])
    if same:
        report.text(same)
    series = {name: (np.array([r["p_correct"] for r in s["records"]]),
                     np.array([float(r["correct"]) for r in s["records"]]))
              for name, s in results["strategies"].items()}
    report.figure("reliability.png", plots.reliability_diagram(series), "Reliability of P(correct)")
    report.figure("risk_coverage.png", plots.risk_coverage(series), "Risk–coverage of P(correct)")
    report.figure("accuracy_vs_tokens.png", plots.accuracy_vs_tokens(
        [{"label": r["strategy"], "accuracy": r["accuracy"],
          "tokens": r["tokens_per_problem"] + r["probe_tokens_per_problem"]} for r in rows]), "Accuracy vs tokens")
    report.arrays(STATES_FILE, arrays)
    if slow_records is not None:
        cascade_rows, cascade_columns, verdicts = _cascade_report(report, results, cascades, slow, slow_records)
    path = report.publish(results, rows)
    shown = {"strategy", "accuracy", "tokens_per_problem", "seconds_per_problem", "tool_tokens_per_problem",
             "wrong_with_arith_error", "checker_share", "ece", "auroc",
             "selective_acc_50"}  # what fits a terminal; report.md has all
    _print_table(title, rows, [c for c in columns if c.key in shown])
    if slow_records is not None:
        _print_table(f"Cascade: {folder.name} → {slow.model or 'slow path'} at {slow.base}", cascade_rows,
                     cascade_columns)
        for line in verdicts:
            out.print(line, soft_wrap=True, markup=False)
    if same:
        out.print(same, soft_wrap=True, markup=False)
    out.print(f"report: {path / 'report.md'}")


def _int_list(text: str, flag: str) -> list[int]:
    """A comma list of positive integers, without repeats, in the order given."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise UsageError(f"{flag} takes a comma list of positive integers, got {text!r}")
    return list(dict.fromkeys(values))


def _same_across_widths(strategies: dict) -> str | None:
    """One line per group of vote rows that differ only in --parallel: do their problems get the same answers?"""
    groups: dict[tuple, list[str]] = {}
    for name, s in strategies.items():
        if s.get("parallel") is not None:
            groups.setdefault((s["strategy"], s["calculator"]), []).append(name)
    lines = []
    for names in (g for g in groups.values() if len(g) > 1):
        answers = [[(r["answer"], r["traces"], r["tokens"]) for r in strategies[n]["records"]] for n in names]
        same = sum(all(a[i] == answers[0][i] for a in answers) for i in range(len(answers[0])))
        secs = [strategies[n]["summary"]["seconds_per_problem"] for n in names]
        lines.append(f"{' / '.join(names)}: the same answer, traces and tokens on {same} of {len(answers[0])} "
                     "problems; seconds per problem " + " / ".join(f"{s:.2f}" for s in secs))
    return "\n".join(lines) or None


def _ask_slow(slow, problems, spec) -> tuple:
    """The slow path (its model named once) and its answer to every problem, with a progress bar."""
    import numpy as np

    from edgereason.bench.cascade import ask_problems

    slow = slow.resolved()
    bar, job = _problems_progress(f"slow path ({slow.model or 'server default'})", len(problems))
    right: list[bool] = []
    failed = [0]

    def advance(record) -> None:
        right.append(record.correct)
        failed[0] += record.error is not None
        bar.update(job, advance=1, acc=f"accuracy {np.mean(right):.2f}, {failed[0]} failed")

    with bar:
        return slow, ask_problems(slow, problems, spec=spec, on_record=advance)


def _cascade_report(report, results: dict, cascades: dict, slow, slow_records) -> tuple[list, list, list[str]]:
    """The cascade's section of the report (table, verdicts, cascade.png) and results.json's `cascade`; returns the
    table's rows and columns and the verdicts, for the terminal."""
    from edgereason.bench import cascade as cas
    from edgereason.bench import plots
    from edgereason.bench.report import Column, num, pct

    def signed(value) -> str:
        return f"{value:+.3f}"

    s = cas.slow_summary(slow_records)
    rows = [row for name, (result, calibrated) in cascades.items() for row in cas.table_rows(name, result, calibrated)]
    columns = [Column("run", "run"), Column("policy", "policy"), Column("threshold", "t", num(3)),
               Column("escalated", "escalated", pct), Column("accuracy", "accuracy", num(3)),
               Column("random", "random", num(3)), Column("gain", "vs random", signed),
               Column("slow_tokens_per_problem", "slow tok/problem", num(1)),
               Column("seconds_per_problem", "s/problem", num(2)), Column("slow_failed", "slow failed")]
    tokens = "–" if s["tokens_per_problem"] is None else f"{s['tokens_per_problem']:.1f}"
    report.text(f"Slow path: {s['model'] or 'the server default'} at {slow.base}, asked all {s['n']} problems with "
                f"the fast path's prompt (greedy, max_tokens {slow.max_tokens}, timeout {slow.timeout:g} s): "
                f"accuracy {s['accuracy']:.3f}; {s['failed']} failed (counted wrong); {tokens} completion tokens "
                f"and {s['seconds_per_problem']:.2f} s per problem. Escalate when P(correct) < t; random routing at "
                "the same share r has expected accuracy (1 − r)·fast + r·slow (exact). Rows: the sweep's point "
                f"nearest each share r in {', '.join(f'{r:.0%}' for r in cas.R_LEVELS)} (*escalated* is its "
                "actual share); *its decisions* escalates what the run escalated (P(correct) below the "
                "calibrator's threshold t, or no answer, or routed before decoding); *best t* is the sweep's "
                "largest gain over random routing, picked in hindsight. Per problem, over all problems: slow tok "
                "counts the escalated ones' completion tokens; s is the fast path's time plus the slow path's "
                "where escalated; slow failed counts the escalated problems whose request failed.")
    report.table("Cascade", rows, columns)
    verdicts = [cas.verdict(name, result) for name, (result, _) in cascades.items()]
    for line in verdicts:
        report.text(line)
    report.figure("cascade.png", plots.cascade_curves({name: r for name, (r, _) in cascades.items()}),
                  "Cascade: accuracy vs share escalated, against random routing")
    results["cascade"] = {
        "slow_path": {"url": slow.base, "model": slow.model, "timeout": slow.timeout, "max_tokens": slow.max_tokens},
        "slow": s, "records": [cas.record_json(r) for r in slow_records],
        "runs": {name: {**result, "calibrated": calibrated} for name, (result, calibrated) in cascades.items()}}
    return rows, columns, verdicts


@bench_app.command("transfer")
@handle_errors
def transfer(
    fit_report: Annotated[Path, typer.Option("--fit", help="A `bench reason` report whose records the calibrators "
                                                           "are fitted on (e.g. built-in seed 1)")],
    eval_reports: Annotated[list[Path], typer.Option("--eval", help="Reports to score them on (another seed, "
                                                                    "another task); repeat")],
    fit_run: Annotated[str | None, typer.Option(help="The fit report's run to fit on (default: its first)")] = None,
    output: Output = Path("bench-results"),
) -> None:
    """Calibration transfer: P(correct) fitted on one report's traces with each feature set (trace features, the
    hidden-state probes, combined; or with and without the arithmetic features when the report has no hidden
    states), scored (AUROC, ECE, AURC, accuracy at 50% coverage, accepted share) on traces the fit never saw."""
    from edgereason.bench import machine, plots
    from edgereason.bench.report import Column, Report, num, pct
    from edgereason.bench.transfer import feature_sets, fit_sets, pick, read_runs, routing, score

    check_output(output)
    train = pick(read_runs(fit_report), fit_run)
    evaluated = [run for folder in eval_reports for run in read_runs(folder)]
    sets = feature_sets(train)
    calibrators = fit_sets(train, sets)
    rows, series = score(calibrators, evaluated)
    columns = [Column("features", "features"), Column("run", "evaluated on"), Column("n", "n", num(0)),
               Column("accuracy", "accuracy", num(3)), Column("auroc", "AUROC", num(3)), Column("ece", "ECE", num(3)),
               Column("aurc", "AURC", num(3)), Column("acc_at_50", "acc@50%", num(3)),
               Column("accepted", "accepted", pct), Column("accepted_accuracy", "acc. accepted", num(3)),
               Column("arith_errors_weight", "w(arith_errors)", num(2))]
    title = f"Calibration transfer: fitted on {train.label} (n={len(train.correct)})"
    report = Report(output, title, machine.facts(None))
    report.table("P(correct) on traces the fit never saw", rows, columns)
    report.text("Feature sets: " + "; ".join(f"**{k}**: {', '.join(v)}" for k, v in sets.items()) +
                ". Fitted by `runtime.calibrate.fit` (logistic, standardized; probes: L2 logistic on the hidden "
                "state, the L2 chosen by 5-fold log loss, the combiner fitted on their out-of-fold logits; its own "
                "30% holdout picks the thresholds) on the fit run only.")
    routes = routing(calibrators.get("combined", next(iter(calibrators.values()))), evaluated)
    if routes:
        report.table("Route before decoding (P(IK) below the fit's route threshold)", routes, [
            Column("run", "evaluated on"), Column("route_threshold", "threshold", num(3)),
            Column("routed", "routed", pct), Column("tokens_saved", "tokens saved", pct),
            Column("accuracy_lost", "accuracy lost", num(3)), Column("routed_accuracy", "acc. of routed", num(3)),
            Column("kept_accuracy", "acc. of kept", num(3))])
    report.figure("auroc.png", plots.auroc_bars(rows), "AUROC of P(correct) per evaluated run and feature set")
    for k, (label, by_set) in enumerate(series.items()):
        report.figure(f"calibration_{k}.png", plots.calibration_pair(by_set, label),
                      f"Reliability and risk–coverage on {label}")
    path = report.publish({"kind": "transfer", "fit": train.label, "rows": rows, "routing": routes,
                           "calibrators": {k: dataclasses.asdict(c) for k, c in calibrators.items()}}, rows)
    _print_table(title, rows, [c for c in columns if c.key != "arith_errors_weight"])
    out.print(f"report: {path / 'report.md'}")


@bench_app.command("archs")
@handle_errors
def archs_matrix(
    configs: Annotated[list[Path], typer.Argument(help="Model config.json files (e.g. ../shared/configs/*.json)")],
    layers: Annotated[int | None, typer.Option(help="Keep the first N blocks of each (full width); 0 = all")] = 2,
    fmt: Annotated[str, typer.Option("--format", "-f", help="pte, onnx, or all")] = "all",
    recipe: Annotated[str, typer.Option("--recipe", "-r", help="fp32, int8, int4, a comma list, or all")] = "fp32,int4",
    work: Annotated[Path, typer.Option(help="Where checkpoints and artifacts are built (reused)")] = Path(
        "bench-results/archs-work"),
    vocab: Annotated[int | None, typer.Option(help="Shrink each vocabulary to N tokens (for time)")] = None,
    mlp: Annotated[int | None, typer.Option(help="Narrow each MLP to at most N wide (for time; attention keeps "
                                                 "its width)")] = None,
    max_seq_len: Annotated[int, typer.Option(help="KV cache length of the artifacts")] = 256,
    threads: Threads = None,
    output: Output = Path("bench-results"),
) -> None:
    """Every config × format × recipe from seeded random weights: fp32 parity with transformers, quantized finite."""
    from edgereason.bench import machine
    from edgereason.bench.archs import FP32_RTOL, MatrixConfig, run_config
    from edgereason.bench.report import Column, Report, num
    from edgereason.cli import parse_choices, quiet_transformers
    from edgereason.export import archs
    from edgereason.quant.recipes import Format, RecipeName, widest_group

    for path in configs:
        archs.read_config(path)
    if layers is not None and layers < 0:
        raise UsageError(f"--layers must be 0 (all) or more, got {layers}")
    check_output(output)
    if vocab is not None and vocab < 2:
        raise UsageError(f"--vocab must be at least 2, got {vocab}")
    if mlp is not None and (mlp < 1 or mlp % widest_group()):
        raise UsageError(f"--mlp must be a positive multiple of {widest_group()} (the quantization group), got {mlp}")
    matrix = MatrixConfig(layers=layers or None, vocab=vocab, mlp=mlp, formats=parse_choices(fmt, Format, "format"),
                          recipes=parse_choices(recipe, RecipeName, "recipe"), max_seq_len=max_seq_len,
                          num_threads=positive(threads, "--threads"))
    quiet_transformers()
    facts = machine.facts(threads)
    rows: list[dict] = []
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=console)
    with bar:
        job = bar.add_task("architectures", total=len(configs))
        for path in configs:
            rows += run_config(path, work, matrix, on_stage=lambda s: bar.update(job, description=s))
            bar.advance(job)
    columns = [Column("config", "config"), Column("architecture", "architecture"), Column("layers", "layers"),
               Column("vocab", "vocab"), Column("mlp", "MLP width"), Column("format", "format"),
               Column("recipe", "recipe"),
               Column("max_abs_diff", "max |Δ logit|", num(6)), Column("rel_diff", "rel. to max |logit|", num(7)),
               Column("greedy_agreement", "greedy agree", num(3)),
               Column("hidden_rel_diff", "hidden Δ (rel.)", num(7)), Column("kld_mean", "gate KL", num(5)),
               Column("top1_agreement", "gate top-1", num(4)), Column("size_mib", "MiB", num(1)),
               Column("export_s", "export s", num(1)), Column("status", "status")]
    title = (f"Architecture matrix: seeded random weights, {layers or 'all'} layers, "
             f"{'vocab ' + str(vocab) if vocab else 'full vocab'}, "
             f"fp32 tolerance {FP32_RTOL:g} of max |logit|")
    report = Report(output, title, facts)
    report.table("Results", rows, columns)
    path = report.publish({"kind": "archs", "layers": layers, "fp32_rtol": FP32_RTOL, "summary": rows}, rows)
    _print_table(title, rows, columns)
    out.print(f"report: {path / 'report.md'}")
    failed = [f"{r['config']} {r['format']} {r['recipe']}: {r.get('error') or r['status']}" for r in rows
              if r["status"] not in ("ok", "refused")]
    if failed:
        raise EdgeReasonError("matrix cells failed: " + " | ".join(failed))
