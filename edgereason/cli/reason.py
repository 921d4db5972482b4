"""Commands that use artifacts: run (stream a reply), solve (answer + decision), calibrate."""

import dataclasses
import sys
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text as RichText

from edgereason.cli import app, console, handle_errors, out, positive
from edgereason.errors import UsageError
from edgereason.runtime.escalate import DEFAULT_TIMEOUT_S
from edgereason.runtime.reason import Strategy
from edgereason.runtime.spec import default_spec

# Option defaults come from the default solve spec (edgereason/specs/solve.json): one place for each default.
# `solve`'s own options default to None, "the spec's": the artifact's spec or --spec FILE may differ.
SOLVE = default_spec().config
EXIT = SOLVE.exit

FolderArg = Annotated[Path, typer.Argument(help="An artifact folder made by `edgereason export`")]
Threads = Annotated[int | None, typer.Option(help="CPU threads for the runtime (default: the runtime's own)")]


def parse_ids(tokens: str) -> list[int]:
    try:
        ids = [int(t) for t in tokens.replace(" ", "").split(",") if t]
    except ValueError:
        raise UsageError(f"--tokens must be comma-separated integers, got {tokens!r}") from None
    if not ids or min(ids) < 0:
        raise UsageError(f"--tokens must be non-negative token ids, got {tokens!r}")
    return ids


def read_prompt(prompt: str) -> str:
    """The prompt as UTF-8 text; `-` reads stdin. Undecodable bytes are a usage error, not a crash."""
    if prompt == "-":
        data = sys.stdin.buffer.read()
        try:
            prompt = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise UsageError(f"stdin is not UTF-8 text (byte {e.start}): convert it, e.g. with iconv") from e
        if not prompt.strip():
            raise UsageError("stdin is empty: pipe some text in, or pass the prompt as an argument")
        return prompt
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


CalculatorOpt = Annotated[str, typer.Option(
    "--calculator", help="off | check (find and check each 'a op b = c' the trace writes) | compute (also write "
                         "each exact result for the model)")]


def _calculator(name: str):
    from edgereason.runtime.arith import Calculator

    try:
        return Calculator(name)
    except ValueError:
        raise UsageError(f"unknown --calculator '{name}': use off, check or compute") from None


def arith_summary(statements) -> RichText:
    """'3 statements, 1 false: 12 - 7 = 2 (true value 5)', the false ones in red, the calculator's in cyan."""
    false = [st for st in statements if not st.right]  # _false counts the same
    corrected = [st for st in statements if st.corrected]
    line = RichText(f"{len(statements)} statement{'s' if len(statements) != 1 else ''}, {len(false)} false")
    for st in false:
        line.append("; ")
        line.append(st.text.replace("\n", " "), style="bold red")
        line.append(f" (true value {st.value})" if st.value is not None else " (undefined: division by zero)")
    if corrected:
        line.append(f"; {len(corrected)} written by the calculator where the model's next token differed: ")
        line.append(", ".join(st.text.replace("\n", " ") for st in corrected), style="cyan")
    return line


def _false(statements) -> int:
    return sum(not st.right for st in statements)


def highlight(trace: str, statements) -> RichText:
    """The trace with each false statement in red and each calculator-written one in cyan."""
    out_text, at = RichText(), 0
    for st in sorted(statements, key=lambda st: st.start):
        if st.start < at:
            continue
        out_text.append(trace[at:st.start])
        style = "bold red" if not st.right else ("cyan" if st.forced else None)
        out_text.append(trace[st.start:st.end], style=style)
        at = st.end
    out_text.append(trace[at:])
    return out_text


@app.command("run")
@handle_errors
def run(
    folder: FolderArg,
    prompt: Annotated[str | None, typer.Argument(help="The user message (chat template applied), or - (stdin)")] = None,
    max_new_tokens: Annotated[int, typer.Option(help="Tokens to generate at most")] = 256,
    temperature: Annotated[float, typer.Option(help="0 = greedy")] = 0.0,
    top_k: Annotated[int, typer.Option(help="0 = off")] = 0,
    top_p: Annotated[float, typer.Option(help="1.0 = off")] = 1.0,
    seed: Annotated[int, typer.Option(help="Sampler seed (SplitMix64)")] = 0,
    system: Annotated[str | None, typer.Option(help="System message")] = None,
    raw: Annotated[bool, typer.Option(help="Send the prompt as is, without the chat template")] = False,
    show_confidence: Annotated[bool, typer.Option(help="Colour tokens by top-1 probability (the calculator's in "
                                                       "cyan); list the false arithmetic statements")] = False,
    calculator: CalculatorOpt = "check",
    tokens: Annotated[str | None, typer.Option(help="Prompt as token ids, e.g. 1,2,3 (tokenizer-free artifacts); "
                                                    "prints ids")] = None,
    threads: Threads = None,
) -> None:
    """Stream a reply, then print TTFT, prefill and decode speed, and the trace's confidence."""
    from edgereason.runtime import open_model
    from edgereason.runtime.arith import ArithmeticChecker, Calculator
    from edgereason.runtime.confidence import TraceConfidence
    from edgereason.runtime.generate import generate
    from edgereason.runtime.sampling import make_sampler

    mode = _calculator(calculator)
    if (prompt is None) == (tokens is None):
        raise UsageError("give a prompt or --tokens ID,ID,... (one of the two)")
    given_ids = parse_ids(tokens) if tokens is not None else None
    text_in = read_prompt(prompt) if prompt is not None else ""
    sampler = make_sampler(_sampling(temperature, top_k, top_p, seed))
    positive(max_new_tokens, "--max-new-tokens")
    model = open_model(folder, num_threads=positive(threads, "--threads"))
    if given_ids is not None:
        if max(given_ids) >= model.backend.info.vocab_size:
            raise UsageError(f"--tokens has id {max(given_ids)}, but the vocabulary has "
                             f"{model.backend.info.vocab_size} tokens")
        ids, stream = given_ids, None
    else:
        ids = model.text.encode(text_in) if raw else model.text.chat_ids(text_in, system=system)
        stream = model.text.stream()
    checker = ArithmeticChecker(model.text, mode) if stream and mode is not Calculator.OFF else None
    trace, steps = TraceConfidence(), []
    for step in generate(model.backend, ids, sampler=sampler, max_new_tokens=max_new_tokens, confidence=trace,
                         arithmetic=checker):
        steps.append(step)
        if step.finish_reason == "stop":
            break
        piece = stream.push(step.token_id) if stream else f"{step.token_id} "
        style = ("cyan" if step.tool else _style(step.signals.top1_prob)) if show_confidence else None
        out.print(piece, end="", style=style, highlight=False, markup=False, soft_wrap=True)
    out.print()
    if checker is not None and show_confidence:
        checker.finish()
        out.print(RichText("arithmetic: ", style="dim") + arith_summary(checker.statements), soft_wrap=True)
    if not steps:
        return
    ttft_ms = steps[0].elapsed_ms
    decode_s = (steps[-1].elapsed_ms - ttft_ms) / 1e3
    summary = trace.summary()
    finish = steps[-1].finish_reason
    if finish == "length" and len(steps) < max_new_tokens:
        finish = f"length (the context of {model.backend.info.max_seq_len} tokens is full)"
    console.print(
        f"[dim]{model.manifest.format} {model.manifest.recipe.name} | prompt {len(ids)} tok, TTFT {ttft_ms:.0f} ms "
        f"({len(ids) / (ttft_ms / 1e3):.0f} tok/s prefill) | {len(steps)} tok, decode "
        f"{(len(steps) - 1) / decode_s if decode_s > 0 else float('nan'):.1f} tok/s | finish: "
        f"{finish} | confidence: mean {summary['mean_conf']:.2f}, lowest group "
        f"{summary['lowest_group_conf']:.2f}, tail {summary['tail_conf']:.2f}, mean p(token) "
        f"{np.exp(summary['mean_logprob']):.2f}[/dim]", soft_wrap=True)


def _default_exits(spec, strategy: str, max_traces: int, max_new_tokens: int, abort_threshold: float,
                   calculator: str = SOLVE.calculator.value):
    """`spec` with these settings (the calibrate and bench commands' few solve options)."""
    return spec.with_settings(strategy=strategy, max_traces=max_traces, max_new_tokens=max_new_tokens,
                              abort_threshold=abort_threshold, calculator=calculator)


def spec_option(path: Path | None):
    """--spec FILE read and checked before any model loads (None: none given)."""
    from edgereason.runtime.spec import read_spec

    return read_spec(path) if path is not None else None


def solve_spec(model, given, strategy: str | None):
    """The solve's spec: --spec FILE (checked against this artifact), else the artifact's own for `strategy` (its
    calibrated `solve.<strategy>.json`), else the defaults."""
    if given is not None:
        return model.checked_spec(given, "--spec")
    return model.spec(strategy or SOLVE.strategy.value)


SpecOpt = Annotated[Path | None, typer.Option("--spec", help="A solve spec (solve.<strategy>.json from `edgereason "
                                                           "calibrate`, or `edgereason spec`): prompts, shots, "
                                                           "settings and calibrator (default: the artifact's own for "
                                                           "--strategy, else edgereason's defaults)")]


def _spec_default(value) -> str:
    return f"default: the spec's ({value})"


# Settings a spec holds: None means "the spec's" (solve, bench reason).
SpecMaxTraces = Annotated[int | None, typer.Option("--max-traces", help="Traces for --strategy vote (" + _spec_default(
    SOLVE.max_traces) + ")")]
SpecMaxNew = Annotated[int | None, typer.Option("--max-new-tokens", help="Token budget per trace (" + _spec_default(
    SOLVE.max_new_tokens) + ")")]
SpecAbortThreshold = Annotated[float | None, typer.Option(
    "--abort-threshold", help="Group-confidence floor (mean -log p of the top-20) (" + _spec_default(
        EXIT.abort_threshold) + ")")]

TaskOpt = Annotated[str, typer.Option("--task", help="builtin, fractions, gsm8k, arc-easy, or a task file: JSONL, "
                                                     "CSV or Parquet, of GSM8K, MATH/AIME, ARC or plain "
                                                     "question/answer records")]
FieldsOpt = Annotated[str | None, typer.Option("--fields", help="A task file's column names: e.g. "
                                                               "question=text,answer=label (also choices, solution, "
                                                               "problem, id)")]
TaskSeed = Annotated[int, typer.Option(help="Seed of the built-in suite (calibrate: 1, bench: 2, shots: 10000)")]
Offset = Annotated[int, typer.Option(help="Skip this many records of a file task")]
Strategy_ = Annotated[str, typer.Option("--strategy", help="greedy, early-exit, vote or score (multiple choice "
                                                         "by the options' log-likelihood)")]
MaxTraces = Annotated[int, typer.Option(help="Traces for --strategy vote")]
MaxNew = Annotated[int, typer.Option(help="Token budget per trace")]
AbortThreshold = Annotated[float, typer.Option(help="Group-confidence floor (mean -log p of the top-20, 32 tokens)")]
Abort = Annotated[bool, typer.Option("--abort/--no-abort", help="Abort traces below --abort-threshold")]
Probe = Annotated[bool, typer.Option("--probe/--no-probe", help="Stop once a newline probe finds the answer settled")]
EscalateTo = Annotated[str | None, typer.Option(help="An OpenAI-compatible server (llama-server, vLLM, Ollama, "
                                                    "`edgereason serve`) that answers when the decision is escalate; "
                                                    "its key from EDGEREASON_ESCALATE_API_KEY")]
EscalateModel = Annotated[str | None, typer.Option(help="The slow path's model (default: the first it lists)")]
EscalateTimeout = Annotated[float, typer.Option(help="Seconds for the whole exchange with the slow path (a "
                                                      "silent one fails then)")]


def slow_path(url: str | None, model: str | None, timeout: float, max_tokens: int):
    """The --escalate-to slow path (checked before any model loads), or None."""
    import os

    from edgereason.errors import SettingError
    from edgereason.runtime.escalate import SlowPath

    if url is None:
        if model is not None:
            raise UsageError("--escalate-model needs --escalate-to URL")
        return None
    try:
        return SlowPath(url=url, model=model, timeout=timeout, max_tokens=max_tokens,
                        api_key=os.environ.get("EDGEREASON_ESCALATE_API_KEY") or None)
    except SettingError as e:
        raise UsageError(e.render({"url": "--escalate-to", "model": "--escalate-model",
                                   "timeout": "--escalate-timeout", "max_tokens": "--max-new-tokens"})) from None


Parallel = Annotated[int | None, typer.Option(help="Vote traces decoded together in one batch on a .onnx artifact "
                                                   "(default: all of them; 1: one after another). The traces are "
                                                   "the same either way, only the time differs")]
Digits = Annotated[str | None, typer.Option(help="Built-in suite only: numbers of LO-HI digits (e.g. 2-4), where "
                                                 "arithmetic slips show; a seed space of its own")]


@app.command("solve")
@handle_errors
def solve(
    folder: FolderArg,
    question: Annotated[str, typer.Argument(help="The question, or - for stdin")],
    spec: SpecOpt = None,
    strategy: Annotated[str | None, typer.Option("--strategy", help="greedy, early-exit, vote or score; picks the "
                                                                    "artifact's spec for it (" + _spec_default(
                                                                        SOLVE.strategy.value) + "; with --choice: "
                                                                    "score)")] = None,
    max_traces: SpecMaxTraces = None,
    choices: Annotated[list[str] | None, typer.Option("--choice", help="A multiple-choice option (repeat)")] = None,
    shots: Annotated[str | None, typer.Option(help="Few-shot examples instead of the spec's: gsm8k, builtin, "
                                                   "arc-easy, none (the calibrator's P(correct) holds on the spec's "
                                                   "prompt)")] = None,
    max_new_tokens: SpecMaxNew = None,
    temperature: Annotated[float | None, typer.Option(help="Temperature of vote traces (" + _spec_default(
        SOLVE.sampling.temperature) + ")")] = None,
    top_k: Annotated[int | None, typer.Option(help="top-k of vote traces (" + _spec_default(
        SOLVE.sampling.top_k) + ")")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the first vote trace (" + _spec_default(
        SOLVE.sampling.seed) + ")")] = None,
    abort: Annotated[bool | None, typer.Option("--abort/--no-abort", help="Abort traces below --abort-threshold ("
                                               + _spec_default(EXIT.abort) + ")", show_default=False)] = None,
    abort_threshold: SpecAbortThreshold = None,
    probe: Annotated[bool | None, typer.Option("--probe/--no-probe", help="Stop once a newline probe finds the "
                                               "answer settled (" + _spec_default(EXIT.probe) + ")",
                                               show_default=False)] = None,
    probe_threshold: Annotated[float | None, typer.Option(help="Probed answer probability that counts as settled ("
                                                          + _spec_default(EXIT.probe_threshold) + ")")] = None,
    probe_patience: Annotated[int | None, typer.Option(help="Confident identical probes needed (" + _spec_default(
        EXIT.probe_patience) + ")")] = None,
    vote_early_stop: Annotated[bool | None, typer.Option(
        "--vote-early-stop/--no-vote-early-stop", help="Stop voting when the leader can't be overtaken ("
        + _spec_default(EXIT.vote_early_stop) + ")", show_default=False)] = None,
    calculator: Annotated[str | None, typer.Option(
        "--calculator", help="off | check (find and check each 'a op b = c' the trace writes) | compute (also write "
                             "each exact result for the model) (" + _spec_default(SOLVE.calculator.value)
                             + ")")] = None,
    arith_abort: Annotated[bool | None, typer.Option(
        "--arith-abort/--no-arith-abort", help="Abandon a trace at its first false arithmetic statement ("
        + _spec_default(EXIT.arith_abort) + ")", show_default=False)] = None,
    route_before_decode: Annotated[bool | None, typer.Option(
        "--route-before-decode/--no-route-before-decode", help="Escalate before decoding when the calibrator's "
        "P(IK) is below its route threshold (" + _spec_default(SOLVE.route_before_decode) + ")",
        show_default=False)] = None,
    escalate_to: EscalateTo = None,
    escalate_model: EscalateModel = None,
    escalate_timeout: EscalateTimeout = DEFAULT_TIMEOUT_S,
    parallel: Parallel = None,
    threads: Threads = None,
) -> None:
    """Answer a reasoning question: answer, P(correct), accept/escalate and why, traces, tokens, time.

    The solve follows a spec: --spec FILE, else the artifact's solve.<strategy>.json (written by `edgereason
    calibrate`: the prompt, shots and settings it was fitted with, and its calibrator), else edgereason's defaults.
    Each option given overrides the spec's setting.

    With --escalate-to URL, an "escalate" decision sends the same prompt to that OpenAI-compatible server
    (greedy, --max-new-tokens) and its answer, read with the same rules, is the result; the table shows which path
    answered, both answers, and each path's tokens and time. The slow path's key, if it needs one, is read from
    EDGEREASON_ESCALATE_API_KEY (never a flag: argv shows in process lists and logs).

    Exit codes: 0 answered by the path the decision chose (accepted, or escalated and the slow path answered, or
    escalate with no --escalate-to); 3 escalation was needed but the slow path gave nothing (down, refused, timed
    out, garbage): one warning line, the fast answer is kept and the decision says why; 2 usage errors (a bad URL
    among them, before the model loads); 1 internal failures."""
    from edgereason.bench.tasks import shots_for
    from edgereason.runtime import open_model
    from edgereason.runtime.answers import LETTERS, MAX_CHOICES, AnswerKind
    from edgereason.runtime.escalate import solve_with_escalation

    text_in = read_prompt(question)
    if choices and not 2 <= len(choices) <= MAX_CHOICES:
        raise UsageError(f"give 2 to {MAX_CHOICES} --choice options, got {len(choices)}")
    if choices and any(not c.strip() for c in choices):
        raise UsageError("a --choice is empty: give each option some text")
    positive(parallel, "--parallel")
    given = spec_option(spec)
    if strategy is None and choices and given is None:
        strategy = Strategy.SCORE.value  # options given: scored by likelihood, no decoding, unless asked otherwise
    overrides = dict(max_traces=max_traces, max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k,
                     seed=seed, abort=abort, abort_threshold=abort_threshold, probe=probe,
                     probe_threshold=probe_threshold, probe_patience=probe_patience, vote_early_stop=vote_early_stop,
                     calculator=calculator, arith_abort=arith_abort, route_before_decode=route_before_decode)
    # Settings checked before the model loads, on the spec they will apply to (or the defaults).
    (given or default_spec()).with_settings(strategy=strategy, **overrides)
    kind = AnswerKind.CHOICE if choices else AnswerKind.MATH
    shot_turns = shots_for(shots) if shots is not None else None
    slow = slow_path(escalate_to, escalate_model, escalate_timeout, max_new_tokens or (
        given.config if given else SOLVE).max_new_tokens)
    model = open_model(folder, num_threads=positive(threads, "--threads"))
    chosen = solve_spec(model, given, strategy).with_settings(strategy=strategy, **overrides)
    if shot_turns is not None:
        chosen = chosen.with_shots(kind, shot_turns)
    config = chosen.config
    if slow is not None and slow.max_tokens != config.max_new_tokens:  # the artifact's spec set another budget
        slow = dataclasses.replace(slow, max_tokens=config.max_new_tokens)
    shown = tuple(f"{LETTERS[i]}. {c}" for i, c in enumerate(choices or []))
    status = f"solving ({config.strategy.value})" + (f"; escalating to {slow.base} if needed" if slow else "")
    with console.status(status):
        cascade = solve_with_escalation(model.backend, model.text, text_in, slow=slow, spec=chosen, kind=kind,
                                        choices=shown, parallel=parallel)
    if cascade.failed:
        console.print(f"[yellow]warning:[/yellow] slow path unavailable ({escape(cascade.slow_error)}): the fast "
                      "answer is kept", soft_wrap=True)
    out.print(_solve_table(folder.name, config, cascade, slow))
    result = cascade.fast
    if result.traces:
        last = result.traces[-1]
        out.print(RichText("last trace: ", style="dim") + highlight(last.text, last.statements), soft_wrap=True)
    if cascade.failed:
        raise typer.Exit(ESCALATION_FAILED)


ESCALATION_FAILED = 3  # solve's exit code: escalation was needed, the slow path gave nothing, the fast answer stands


def _solve_table(name: str, config, cascade, slow) -> Table:
    """solve's table: the answer and whose it is, P(correct), the decision and why, each path's cost, the traces."""
    from edgereason.runtime.arith import Calculator

    result = cascade.fast
    colour = {"accept": "green", "escalated": "cyan"}.get(cascade.decision, "yellow")
    table = Table(show_header=False, title=f"{name}: {config.strategy.value}")
    table.add_column("field")
    table.add_column("value", overflow="fold")
    table.add_row("answer", str(cascade.answer) + (f" (slow path; fast path: {result.answer})" if cascade.slow
                                                   else ""))
    if slow is not None:
        table.add_row("answered by", f"{cascade.path} path")
    table.add_row("P(correct)", f"{result.p_correct:.2f}" + ("" if result.calibrated else " (uncalibrated)"))
    if result.p_ik is not None:
        table.add_row("P(IK)", f"{result.p_ik:.2f} (hidden-state probe on the prompt, before decoding)")
    table.add_row("decision", f"[{colour}]{escape(cascade.decision)}[/{colour}]: " + escape("; ".join(result.reasons)))
    tool = sum(t.tool_tokens for t in result.traces)
    if slow is not None:
        table.add_row("fast path", f"answer {result.answer}, {result.tokens_generated} tok, {result.seconds:.1f} s")
        table.add_row("slow path", escape(_slow_cell(cascade, slow)))
    table.add_row("traces", "\n".join(
        f"{i + 1}: answer {t.answer}, {len(t.token_ids)} tok, {t.finish_reason}"
        + (" (aborted)" if t.aborted else "") + (" (answer settled by probe)" if t.settled else "")
        + (f", {_false(t.statements)} false statement{'' if _false(t.statements) == 1 else 's'}"
           if t.statements else "")
        for i, t in enumerate(result.traces)))
    if config.calculator is not Calculator.OFF and result.traces:
        table.add_row("arithmetic", arith_summary(result.traces[-1].statements))
    table.add_row("tokens", f"{result.tokens_generated} generated ({tool} by the calculator) + "
                            f"{result.probe_tokens} in probes" + (f"; slow path {_slow_tokens(cascade.slow)}"
                                                                  if cascade.slow else ""))
    table.add_row("time", f"{result.seconds:.1f} s" + (f" (fast) + {cascade.slow.seconds:.1f} s (slow)"
                                                      if cascade.slow else ""))
    return table


def _slow_cell(cascade, slow) -> str:
    """The slow path's row: what it answered and what it cost, why it gave nothing, or that it was not asked."""
    if cascade.slow is not None:
        s = cascade.slow
        return f"{s.model} at {slow.base}: answer {s.answer}, {_slow_tokens(s)}, {s.seconds:.1f} s"
    if cascade.failed:
        return f"{slow.base}: unavailable ({cascade.slow_error})"
    return f"{slow.base}: not asked (the fast answer was accepted)"


def _slow_tokens(s) -> str:
    """'17 tok (+50 prompt)', with '?' where the server reported no usage."""
    def count(n: int | None) -> str:
        return "?" if n is None else str(n)

    return f"{count(s.completion_tokens)} tok (+{count(s.prompt_tokens)} prompt)"


def _problems_progress(description: str, total: int) -> tuple[Progress, int]:
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("{task.fields[acc]}"), console=console)
    return bar, bar.add_task(description, total=total, acc="")


def _shot_task(task: str, problems) -> str:
    if task in ("builtin", "fractions"):
        return task
    return "arc-easy" if problems and problems[0].choices else "gsm8k"


@app.command("calibrate")
@handle_errors
def calibrate(
    folder: FolderArg,
    task: TaskOpt = "builtin",
    fields: FieldsOpt = None,
    n: Annotated[int, typer.Option("--n", help="Problems to solve")] = 300,
    task_seed: TaskSeed = 1,
    offset: Offset = 0,
    strategy: Strategy_ = SOLVE.strategy.value,
    max_traces: MaxTraces = SOLVE.max_traces,
    max_new_tokens: MaxNew = SOLVE.max_new_tokens,
    target_risk: Annotated[float, typer.Option(help="Error rate allowed among accepted answers")] = 0.1,
    isotonic: Annotated[bool, typer.Option(help="Isotonic regression on top of the logistic fit")] = False,
    probe: Annotated[bool, typer.Option(help="Fit the hidden-state probes (P(IK) and the answer probe) where the "
                                             "artifact outputs hidden states")] = True,
    abort_threshold: AbortThreshold = EXIT.abort_threshold,
    calculator: CalculatorOpt = SOLVE.calculator.value,
    digits: Digits = None,
    threads: Threads = None,
) -> None:
    """Fit P(correct) for one strategy on a calibration split; save the solve spec (prompt, shots, settings and the
    fitted calibrator) next to the artifact as solve.<strategy>.json, which `solve`, `bench reason`, `serve`, the
    native runner and the Android app then follow."""
    from edgereason.bench.reasoning import run_problems, state_arrays
    from edgereason.bench.taskfiles import parse_fields
    from edgereason.bench.tasks import load_task, parse_digits, shots_for
    from edgereason.runtime import calibrate as cal
    from edgereason.runtime import open_model
    from edgereason.runtime.answers import AnswerKind
    from edgereason.runtime.probes import PROBE_FEATURES
    from edgereason.runtime.reason import FEATURES
    from edgereason.runtime.spec import FittedOn

    if n < cal.MIN_PROBLEMS:
        raise UsageError(f"calibration needs at least {cal.MIN_PROBLEMS} problems, got --n {n}: raise --n")
    if not 0.0 < target_risk < 1.0:
        raise UsageError(f"--target-risk must be in (0, 1), got {target_risk}")
    base = _default_exits(default_spec(), strategy, max_traces, max_new_tokens, abort_threshold, calculator)
    suite_digits = parse_digits(digits)
    problems = load_task(task, n=n, seed=task_seed, offset=offset, digits=suite_digits, fields=parse_fields(fields))
    if len(problems) < cal.MIN_PROBLEMS:
        raise UsageError(f"{task} has only {len(problems)} problems from --offset {offset}; calibration needs at "
                         f"least {cal.MIN_PROBLEMS}: lower --offset or pass a larger task file")
    if strategy == Strategy.SCORE.value and problems[0].kind is not AnswerKind.CHOICE:
        raise UsageError(f"--strategy score answers multiple-choice questions, and {task} is not: use another one")
    model = open_model(folder, num_threads=positive(threads, "--threads"))
    shot_task = _shot_task(task, problems)
    kind = problems[0].kind
    spec = base.with_shots(kind, shots_for(shot_task, digits=suite_digits)).bind(model.text, model.model_sha256)
    config = spec.config
    start = time.perf_counter()
    bar, job = _problems_progress(f"calibrating on {task} ({config.strategy.value})", len(problems))
    correct: list[bool] = []

    def advance(record) -> None:
        correct.append(record.correct)
        bar.update(job, advance=1, acc=f"accuracy {np.mean(correct):.2f}")

    with bar:
        records = run_problems(model, problems, spec, on_record=advance)
    states = state_arrays(records)
    probes = [f for f, state in PROBE_FEATURES.items() if state in states] if probe else []
    fitted = cal.fit([r.features for r in records], [r.correct for r in records], features=[*FEATURES, *probes],
                     artifact_sha256=model.model_sha256, strategy=config.strategy.value, target_risk=target_risk,
                     isotonic=isotonic, states=states)
    fitted.metrics.update({"seconds": round(time.perf_counter() - start, 1), "accuracy": float(np.mean(correct))})
    spec = spec.replace(calibrator=fitted, fitted_on=FittedOn(
        task=task, kind=kind.value, n=len(problems), seed=task_seed, offset=offset,
        digits=digits.strip() if digits else None, shots=shot_task))
    path = spec.save(folder)
    m = fitted.metrics
    out.print(f"solve spec: {path}")
    out.print(f"{int(m['n_train'])} train / {int(m['n_heldout'])} held out; accuracy {np.mean(correct):.3f}; "
              f"held-out ECE {m['heldout_ece']:.3f}, AUROC {m['heldout_auroc']:.3f}; threshold "
              f"{fitted.threshold:.3f} for risk {target_risk:.2f} accepts {m['heldout_coverage']:.0%} at "
              f"{m['heldout_selective_accuracy']:.0%} accuracy")
    if fitted.probes:
        pik = m.get("heldout_pik_auroc", float("nan"))
        out.print(f"probes: {', '.join(fitted.probes)}; held-out P(IK) AUROC {pik:.3f}; route before decoding below "
                  f"P(IK) {fitted.route_threshold:.3f} ({m.get('heldout_routed', 0):.0%} of the held-out questions)")
    elif probe:
        out.print("probes: none (this artifact has no hidden-state output: an older export; re-export it)")


@app.command("spec")
@handle_errors
def spec_command(
    folder: FolderArg,
    strategy: Strategy_ = SOLVE.strategy.value,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (default: print it)")] = None,
) -> None:
    """Write the solve spec a `solve` of this artifact follows for --strategy: its calibrated solve.<strategy>.json,
    else edgereason's defaults bound to this artifact (its sha256 and chat template rendered around the question).

    For the native runner's --spec/--question (which has no template engine), `serve --spec`, or to read and edit
    (edited settings are checked when the spec is read)."""
    from edgereason import artifact
    from edgereason.runtime import open_model

    default_spec().with_settings(strategy=strategy)  # an unknown strategy, before the model loads
    model = open_model(folder, hidden=False)
    text = model.spec(strategy).dumps()
    if output is None:
        sys.stdout.write(text)
        return
    artifact.write_atomic(output, text.encode())
    console.print(f"solve spec: {output}")
