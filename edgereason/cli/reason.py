"""Commands that use artifacts: run (stream a reply), solve (answer + decision), calibrate."""

import sys
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from edgereason.cli import app, console, handle_errors, out, positive
from edgereason.errors import UsageError

FolderArg = Annotated[Path, typer.Argument(help="An artifact folder made by `edgereason export`")]
Threads = Annotated[int | None, typer.Option(help="CPU threads for the runtime (default: the runtime's own)")]


def read_prompt(prompt: str) -> str:
    """The prompt as UTF-8 text; `-` reads stdin. Undecodable bytes are a usage error, not a crash."""
    if prompt == "-":
        data = sys.stdin.buffer.read()
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise UsageError(f"stdin is not UTF-8 text (byte {e.start}): convert it, e.g. with iconv") from e
    try:
        prompt.encode("utf-8")  # argv bytes that were not UTF-8 arrive as lone surrogates
    except UnicodeEncodeError as e:
        raise UsageError("the prompt is not valid UTF-8: pass UTF-8 text, or `-` to read it from stdin") from e
    if not prompt.strip():
        raise UsageError("the prompt is empty: pass some text")
    return prompt


def _sampling(temperature: float, top_k: int, top_p: float, seed: int):
    from edgereason.runtime.sampling import SamplingConfig

    return SamplingConfig(temperature=temperature, top_k=top_k, top_p=top_p, seed=seed)


def _style(top1_prob: float) -> str:
    return "green" if top1_prob >= 0.8 else ("yellow" if top1_prob >= 0.5 else "red")


@app.command("run")
@handle_errors
def run(
    folder: FolderArg,
    prompt: Annotated[str, typer.Argument(help="The user message (chat template applied), or - for stdin")],
    max_new_tokens: Annotated[int, typer.Option(help="Tokens to generate at most")] = 256,
    temperature: Annotated[float, typer.Option(help="0 = greedy")] = 0.0,
    top_k: Annotated[int, typer.Option(help="0 = off")] = 0,
    top_p: Annotated[float, typer.Option(help="1.0 = off")] = 1.0,
    seed: Annotated[int, typer.Option(help="Sampler seed (SplitMix64)")] = 0,
    system: Annotated[str | None, typer.Option(help="System message")] = None,
    raw: Annotated[bool, typer.Option(help="Send the prompt as is, without the chat template")] = False,
    show_confidence: Annotated[bool, typer.Option(help="Colour tokens by top-1 probability")] = False,
    threads: Threads = None,
) -> None:
    """Stream a reply, then print TTFT, prefill and decode speed, and the trace's confidence."""
    from edgereason.runtime import open_model
    from edgereason.runtime.confidence import TraceConfidence
    from edgereason.runtime.generate import generate
    from edgereason.runtime.sampling import make_sampler

    text_in = read_prompt(prompt)
    sampler = make_sampler(_sampling(temperature, top_k, top_p, seed))
    positive(max_new_tokens, "--max-new-tokens")
    model = open_model(folder, num_threads=positive(threads, "--threads"))
    ids = model.text.encode(text_in) if raw else model.text.chat_ids(text_in, system=system)
    stream, trace, steps = model.text.stream(), TraceConfidence(), []
    for step in generate(model.backend, ids, sampler=sampler, max_new_tokens=max_new_tokens, confidence=trace):
        steps.append(step)
        if step.finish_reason == "stop":
            break
        piece = stream.push(step.token_id)
        out.print(piece, end="", style=_style(step.signals.top1_prob) if show_confidence else None,
                  highlight=False, markup=False, soft_wrap=True)
    out.print()
    if not steps:
        return
    ttft_ms = steps[0].elapsed_ms
    decode_s = (steps[-1].elapsed_ms - ttft_ms) / 1e3
    summary = trace.summary()
    console.print(
        f"[dim]{model.manifest.format} {model.manifest.recipe.name} | prompt {len(ids)} tok, TTFT {ttft_ms:.0f} ms "
        f"({len(ids) / (ttft_ms / 1e3):.0f} tok/s prefill) | {len(steps)} tok, decode "
        f"{(len(steps) - 1) / decode_s if decode_s > 0 else float('nan'):.1f} tok/s | finish: "
        f"{steps[-1].finish_reason} | confidence: mean {summary['mean_conf']:.2f}, lowest group "
        f"{summary['lowest_group_conf']:.2f}, tail {summary['tail_conf']:.2f}, mean p(token) "
        f"{np.exp(summary['mean_logprob']):.2f}[/dim]", soft_wrap=True)


def _solve_config(strategy: str, max_traces: int, max_new_tokens: int, temperature: float, top_k: int, seed: int,
                  abort: bool, abort_threshold: float, probe: bool, probe_threshold: float, probe_patience: int,
                  vote_early_stop: bool):
    from edgereason.runtime.reason import ExitConfig, SolveConfig, Strategy

    try:
        chosen = Strategy(strategy)
    except ValueError:
        raise UsageError(f"unknown strategy '{strategy}': use greedy, early-exit or vote") from None
    return SolveConfig(
        strategy=chosen, max_new_tokens=max_new_tokens, max_traces=max_traces,
        sampling=_sampling(temperature, top_k, 1.0, seed),
        exit=ExitConfig(abort=abort, abort_threshold=abort_threshold, probe=probe, probe_threshold=probe_threshold,
                        probe_patience=probe_patience, vote_early_stop=vote_early_stop),
    )


Strategy_ = Annotated[str, typer.Option("--strategy", help="greedy, early-exit or vote")]
MaxTraces = Annotated[int, typer.Option(help="Traces for --strategy vote")]
Abort = Annotated[bool, typer.Option(help="Abort traces whose group confidence falls below --abort-threshold")]
Probe = Annotated[bool, typer.Option(help="Stop when a probe at a newline finds the answer settled")]


@app.command("solve")
@handle_errors
def solve(
    folder: FolderArg,
    question: Annotated[str, typer.Argument(help="The question, or - for stdin")],
    strategy: Strategy_ = "early-exit",
    max_traces: MaxTraces = 5,
    choices: Annotated[list[str] | None, typer.Option("--choice", help="A multiple-choice option (repeat)")] = None,
    shots: Annotated[str | None, typer.Option(help="Few-shot examples: gsm8k, builtin, arc-easy, none "
                                                   "(default: the calibrator's, else gsm8k)")] = None,
    max_new_tokens: Annotated[int, typer.Option(help="Budget per trace")] = 320,
    temperature: Annotated[float, typer.Option(help="Sampling temperature of vote traces")] = 0.7,
    top_k: Annotated[int, typer.Option(help="top-k of vote traces")] = 40,
    seed: Annotated[int, typer.Option(help="Seed of the first vote trace")] = 0,
    abort: Abort = True,
    abort_threshold: Annotated[float, typer.Option(help="Group-confidence floor")] = 4.0,
    probe: Probe = True,
    probe_threshold: Annotated[float, typer.Option(help="Probed answer probability that counts as settled")] = 0.9,
    probe_patience: Annotated[int, typer.Option(help="Confident identical probes needed")] = 2,
    vote_early_stop: Annotated[bool, typer.Option(help="Stop voting when the leader can't be overtaken")] = True,
    threads: Threads = None,
) -> None:
    """Answer a reasoning question: answer, P(correct), accept/escalate and why, traces, tokens, time."""
    from edgereason.bench.tasks import shots_for
    from edgereason.runtime import open_model
    from edgereason.runtime.answers import AnswerKind
    from edgereason.runtime.reason import solve as solve_question

    text_in = read_prompt(question)
    config = _solve_config(strategy, max_traces, max_new_tokens, temperature, top_k, seed, abort, abort_threshold,
                           probe, probe_threshold, probe_patience, vote_early_stop)
    model = open_model(folder, num_threads=positive(threads, "--threads"))
    kind = AnswerKind.CHOICE if choices else AnswerKind.MATH
    letters = "ABCDE"
    if choices and not 2 <= len(choices) <= 5:
        raise UsageError(f"give 2 to 5 --choice options, got {len(choices)}")
    shown = tuple(f"{letters[i]}. {c}" for i, c in enumerate(choices or []))
    shot_task = shots or (model.calibrator.metrics.get("shots") if model.calibrator else None) or (
        "arc-easy" if choices else "gsm8k")
    with console.status(f"solving ({config.strategy.value})"):
        result = solve_question(model.backend, model.text, text_in, config=config, kind=kind, choices=shown,
                                shots=shots_for(str(shot_task)), calibrator=model.calibrator)
    colour = "green" if result.decision == "accept" else "yellow"
    table = Table(show_header=False, title=f"{folder.name}: {config.strategy.value}")
    table.add_column("field")
    table.add_column("value", overflow="fold")
    table.add_row("answer", str(result.answer))
    table.add_row("P(correct)", f"{result.p_correct:.2f}" + ("" if result.calibrated else " (uncalibrated)"))
    table.add_row("decision", f"[{colour}]{result.decision}[/{colour}]: " + "; ".join(result.reasons))
    table.add_row("traces", "\n".join(
        f"{i + 1}: answer {t.answer}, {len(t.token_ids)} tok, {t.finish_reason}"
        + (" (aborted: low confidence)" if t.aborted else "") + (" (answer settled by probe)" if t.settled else "")
        for i, t in enumerate(result.traces)))
    table.add_row("tokens", f"{result.tokens_generated} generated + {result.probe_tokens} in probes")
    table.add_row("time", f"{result.seconds:.1f} s")
    out.print(table)
    if result.traces:
        out.print("[dim]last trace:[/dim] " + result.traces[-1].text.strip(), markup=True, highlight=False)


@app.command("calibrate")
@handle_errors
def calibrate(
    folder: FolderArg,
    task: Annotated[str, typer.Option(help="builtin, gsm8k, arc-easy, or a JSONL path")] = "builtin",
    n: Annotated[int, typer.Option("--n", help="Problems to solve")] = 300,
    task_seed: Annotated[int, typer.Option(help="Seed of the built-in suite (evaluation uses others)")] = 1,
    offset: Annotated[int, typer.Option(help="Skip this many records of a file task")] = 0,
    strategy: Strategy_ = "early-exit",
    max_traces: MaxTraces = 5,
    max_new_tokens: Annotated[int, typer.Option(help="Budget per trace")] = 320,
    target_risk: Annotated[float, typer.Option(help="Error rate allowed among accepted answers")] = 0.1,
    isotonic: Annotated[bool, typer.Option(help="Isotonic regression on top of the logistic fit")] = False,
    abort_threshold: Annotated[float, typer.Option(help="Group-confidence floor")] = 4.0,
    threads: Threads = None,
) -> None:
    """Fit P(correct) on a calibration split and save it next to the artifact (calibrator.json)."""
    from edgereason.bench.tasks import load_task, shots_for
    from edgereason.runtime import calibrate as cal
    from edgereason.runtime import open_model
    from edgereason.runtime.reason import FEATURES
    from edgereason.runtime.reason import solve as solve_question

    positive(n, "--n")
    if not 0.0 < target_risk < 1.0:
        raise UsageError(f"--target-risk must be in (0, 1), got {target_risk}")
    config = _solve_config(strategy, max_traces, max_new_tokens, 0.7, 40, 0, True, abort_threshold, True, 0.9, 2,
                           True)
    problems = load_task(task, n=n, seed=task_seed, offset=offset)
    model = open_model(folder, num_threads=positive(threads, "--threads"))
    shot_task = "builtin" if task == "builtin" else ("arc-easy" if problems and problems[0].choices else "gsm8k")
    shots = shots_for(shot_task)
    rows, correct = [], []
    start = time.perf_counter()
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("{task.fields[acc]}"), console=console)
    with bar:
        job = bar.add_task(f"calibrating on {task} ({config.strategy.value})", total=len(problems), acc="")
        for p in problems:
            result = solve_question(model.backend, model.text, p.question, config=config, kind=p.kind,
                                    choices=p.choices, shots=shots)
            rows.append(result.features)
            correct.append(result.answer is not None and result.answer == p.answer)
            bar.update(job, advance=1, acc=f"accuracy {np.mean(correct):.2f}")
    fitted = cal.fit(rows, correct, features=FEATURES, artifact_sha256=model.model_sha256,
                     target_risk=target_risk, isotonic=isotonic)
    fitted.metrics.update({"task": task, "shots": shot_task, "strategy": config.strategy.value,
                           "seconds": round(time.perf_counter() - start, 1)})
    path = fitted.save(folder)
    m = fitted.metrics
    out.print(f"calibrator: {path}")
    out.print(f"{int(m['n_train'])} train / {int(m['n_heldout'])} held out; accuracy {np.mean(correct):.3f}; "
              f"held-out ECE {m['heldout_ece']:.3f}, AUROC {m['heldout_auroc']:.3f}; threshold "
              f"{fitted.threshold:.3f} for risk {target_risk:.2f} accepts {m['heldout_coverage']:.0%} at "
              f"{m['heldout_selective_accuracy']:.0%} accuracy")
