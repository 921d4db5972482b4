"""An artifact folder as an lm-evaluation-harness model: `--model edgereason --model_args artifact=FOLDER[,threads=N]`.

Importing this module registers the model ("edgereason") in lm-eval's registry; lm-eval 0.4.13 finds external
models only that way (it reads no entry points), so `edgereason eval` imports it before running lm-eval, and
`python -m edgereason.bench.lm_eval_cli` is lm-eval's own CLI with it imported.

The three request types run on the artifact's backend, through the same code as everything else here:
- `loglikelihood`: requests are tokenized as lm-eval's HFLM does (the whole string encoded and split at the context's
  length; an empty context is the prefix token), grouped by identical context, and each group scored by
  `runtime.likelihood.score_continuations`: the context runs once and every continuation after it; groups are sorted
  by their tokens, so neighbours that share a prefix (a few-shot preamble) keep it in the cache.
- `loglikelihood_rolling`: lm-eval's own disjoint rolling windows of the artifact's context length, each scored the
  same way (a 2,048-token window is run in pieces: `likelihood.CHUNK_TOKENS`).
- `generate_until`: the runtime's decode loop (`runtime.generate`) from the left-truncated context, greedy or the
  request's temperature / top-k / top-p (one seeded sampler per request), ended by eos, `max_gen_toks` or the first
  `until` string in the decoded text, which is cut off. On an `.onnx` artifact up to `batch_size` requests decode
  together (`runtime.lanes`: one forward per step for all of them, the same tokens as one at a time).
"""

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lm_eval import utils as lm_utils
from lm_eval.api.model import TemplateLM
from lm_eval.api.registry import register_model
from lm_eval.models.utils import handle_stop_sequences, normalize_gen_kwargs, postprocess_generated_text
from tqdm import tqdm

from edgereason.bench.lm_eval_tasks import DEFAULT_BATCH_SIZE
from edgereason.errors import UsageError
from edgereason.runtime import open_model
from edgereason.runtime.generate import generate
from edgereason.runtime.likelihood import score_continuations
from edgereason.runtime.sampling import SamplingConfig, make_sampler


@register_model("edgereason")
class EdgeReasonLM(TemplateLM):
    """lm-eval's LM over an edgereason artifact folder (`.pte` or `.onnx`).

    Args:
        artifact: the folder made by `edgereason export`.
        threads: CPU threads for the runtime (default: the runtime's own).
        batch_size: generation requests decoded together on `.onnx` (1: one after another; `.pte` always is);
            "auto" is DEFAULT_BATCH_SIZE. lm-eval's CLI passes its `--batch_size` here. The texts are the same
            whatever the batch.
        max_gen_toks: generation budget when a request does not set one (HFLM's 256).
        seed: the sampler seed of request i is seed + i (sampled generation only).
        verify_sha256: check every file's sha256 on load.
        prefix_token_id: the token an empty context or a rolling window starts from (default: BOS, else EOS, as
            HFLM).
        device, max_batch_size: passed by lm-eval for every model; a CPU runtime has no use for them.
    """

    def __init__(self, artifact: str | Path | None = None, threads: int | None = None,
                 batch_size: int | str | None = DEFAULT_BATCH_SIZE, max_gen_toks: int = 256, seed: int = 0,
                 verify_sha256: bool = True, prefix_token_id: int | None = None,
                 device: str | None = None, max_batch_size: int | None = None) -> None:
        super().__init__()
        if artifact is None:
            raise UsageError("the edgereason model needs model_args artifact=FOLDER (a folder made by "
                             "`edgereason export`)")
        self.folder = Path(artifact)
        self.model = open_model(self.folder, num_threads=_optional_int(threads, "threads"),
                                verify_sha256=_flag(verify_sha256), hidden=False)
        if self.model.maybe_text is None:
            raise UsageError(f"{self.folder} was exported without a tokenizer: lm-eval sends text, so export from a "
                             "checkpoint with tokenizer.json")
        self.backend, self.text, self.info = self.model.backend, self.model.text, self.model.backend.info
        self.batch_size = _batch_size(batch_size)
        self.max_gen_toks = _positive_int(max_gen_toks, "max_gen_toks")
        self.seed = int(seed)
        self._prefix_token_id = None if prefix_token_id is None else int(prefix_token_id)
        self.stats = Stats()

    # -- tokens ---------------------------------------------------------------------------------------------------

    @property
    def eot_token_id(self) -> int:
        return self.info.eos_ids[0]

    @property
    def prefix_token_id(self) -> int:
        if self._prefix_token_id is not None:
            return self._prefix_token_id
        return self.info.bos_id if self.info.bos_id is not None else self.eot_token_id

    @property
    def max_length(self) -> int:
        """The artifact's KV cache: the longest sequence it runs (HFLM reads the model config's instead)."""
        return self.info.max_seq_len

    def tok_encode(self, string: str, add_special_tokens: bool | None = None, left_truncate_len: int | None = None,
                   **kwargs) -> list[int]:
        """As HFLM: BOS by the tokenizer's own rule unless told, never twice; `left_truncate_len` keeps the last
        tokens."""
        bos = self.text.tokenizer.id_to_token(self.info.bos_id) if self.info.bos_id is not None else None
        if add_special_tokens is None and bos and string.startswith(bos):
            add_special_tokens = False
        ids = self.text.encode(string, add_bos=add_special_tokens)
        return ids[-left_truncate_len:] if left_truncate_len else ids

    def tok_decode(self, tokens: Sequence[int], skip_special_tokens: bool = True) -> str:
        return self.text.decode(tokens, skip_special=skip_special_tokens)

    # -- loglikelihood --------------------------------------------------------------------------------------------

    def _fit(self, context: Sequence[int], continuation: Sequence[int]) -> tuple[list[int], list[int]]:
        """Left-truncate context + continuation to what the cache holds (continuation[:-1] runs, as in HFLM)."""
        if len(continuation) > self.max_length:
            raise UsageError(f"a continuation of {len(continuation)} tokens does not fit the artifact's context of "
                             f"{self.max_length}: re-export it with a larger --max-seq-len")
        whole = (list(context) + list(continuation))[-(self.max_length + 1):]
        return whole[:len(whole) - len(continuation)], list(continuation)

    def _loglikelihood_tokens(self, requests: list[tuple[tuple[str, str] | None, list[int], list[int]]],
                              disable_tqdm: bool = False, **kwargs) -> list[tuple[float, bool]]:
        results: list[tuple[float, bool]] = [(0.0, False)] * len(requests)
        groups: dict[tuple[int, ...], list[tuple[int, list[int]]]] = {}
        for i, (_, context, continuation) in enumerate(requests):
            context, continuation = self._fit(context, continuation)
            groups.setdefault(tuple(context), []).append((i, continuation))
        start = time.perf_counter()
        with tqdm(total=len(requests), disable=disable_tqdm, desc="loglikelihood") as bar:
            for context in sorted(groups):  # neighbours share their longest prefixes: the cache keeps them
                members = groups[context]
                for (i, _), s in zip(members, score_continuations(self.backend, context, [c for _, c in members]),
                                     strict=True):
                    results[i] = (s.logprob, s.greedy)
                    self.stats.scored_tokens += s.num_tokens
                    if requests[i][0] is not None:
                        self.cache_hook.add_partial("loglikelihood", requests[i][0], results[i])
                bar.update(len(members))
        self.stats.contexts += len(groups)
        self.stats.loglikelihood_s += time.perf_counter() - start
        return results

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        results = []
        start = time.perf_counter()
        for (string,) in tqdm([r.args for r in requests], disable=disable_tqdm, desc="loglikelihood_rolling"):
            windows = map(lm_utils.make_disjoint_window, lm_utils.get_rolling_token_windows(
                token_list=self.tok_encode(string), prefix_token=self.prefix_token_id, max_seq_len=self.max_length,
                context_len=1))
            total = 0.0
            for context, continuation in windows:
                context, continuation = self._fit(context, continuation)
                [scored] = score_continuations(self.backend, context, [continuation])
                total += scored.logprob
                self.stats.contexts += 1
                self.stats.scored_tokens += scored.num_tokens
            self.cache_hook.add_partial("loglikelihood_rolling", (string,), total)
            results.append(total)
        self.stats.loglikelihood_s += time.perf_counter() - start
        return results

    # -- generation -----------------------------------------------------------------------------------------------

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        jobs = [self._generation(i, context, gen_kwargs) for i, (context, gen_kwargs) in
                enumerate(r.args for r in requests)]
        start = time.perf_counter()
        with tqdm(total=len(jobs), disable=disable_tqdm, desc="generate_until") as bar:
            for job in jobs:
                job.on_done = bar.update
            lanes = self.backend.lanes(self.batch_size) if self.batch_size > 1 and len(jobs) > 1 else None
            if lanes is None:
                outputs = [job(self.backend, threading.Event()) for job in jobs]
            else:
                outputs = lanes.run(jobs, parallel=self.batch_size)
        self.stats.generate_s += time.perf_counter() - start
        self.stats.generated_tokens += sum(job.num_generated for job in jobs)
        for (context, gen_kwargs), text in zip((r.args for r in requests), outputs, strict=True):
            self.cache_hook.add_partial("generate_until", (context, gen_kwargs), text)
        return outputs

    def _generation(self, index: int, context: str, gen_kwargs: dict) -> "_Job":
        """One request's decode, checked before anything runs."""
        kwargs = normalize_gen_kwargs(gen_kwargs, self.max_gen_toks)
        until = handle_stop_sequences(kwargs.pop("until", None),
                                      eos=self.tok_decode([self.eot_token_id], skip_special_tokens=False))
        max_gen_toks = _positive_int(kwargs.pop("max_gen_toks"), "max_gen_toks")
        room = self.max_length - max_gen_toks
        if room < 1:
            raise UsageError(f"max_gen_toks {max_gen_toks} leaves no room for a prompt in the artifact's context of "
                             f"{self.max_length}: lower it, or re-export with a larger --max-seq-len")
        sampling = SamplingConfig(
            temperature=float(kwargs.get("temperature") or 0.0) if kwargs.get("do_sample") else 0.0,
            top_k=int(kwargs.get("top_k") or 0), top_p=float(kwargs.get("top_p") or 1.0), seed=self.seed + index)
        return _Job(self, self.tok_encode(context, left_truncate_len=room), sampling, max_gen_toks,
                    [s for s in until if s])

    # -- chat templates and provenance ----------------------------------------------------------------------------

    @property
    def tokenizer_name(self) -> str:
        return self.folder.resolve().name

    def chat_template(self, chat_template: bool | str = False) -> str | None:
        return self.text.chat_template if chat_template else None

    def apply_chat_template(self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        return self.text.render(chat_history, add_generation_prompt=add_generation_prompt)

    def get_model_info(self) -> dict:
        """What lm-eval records under `config` in its results."""
        m = self.model.manifest
        return {"artifact": str(self.folder), "model_name": m.model.name, "format": m.format,
                "recipe": m.recipe.name, "model_sha256": self.model.model_sha256, "max_length": self.max_length,
                "prefix_token_id": self.prefix_token_id, "generation_batch_size": self.batch_size}


@dataclass
class Stats:
    """Work done, for the report (seconds are wall time inside the model's calls, tokenization included)."""

    contexts: int = 0
    scored_tokens: int = 0
    generated_tokens: int = 0
    loglikelihood_s: float = 0.0
    generate_s: float = 0.0


@dataclass
class _Job:
    """One generate_until request: decode on a backend (the model's own, or a lane of it) until a stop."""

    lm: EdgeReasonLM
    prompt_ids: list[int]
    sampling: SamplingConfig
    max_gen_toks: int
    until: list[str]
    num_generated: int = 0
    on_done: Callable[[int], object] | None = None  # progress, called with 1 (from a lane's thread on .onnx)

    def __call__(self, backend, stop: threading.Event) -> str:
        stream, text, tokens = self.lm.text.stream(), "", []
        # the sampler is made here, so each request draws its own stream whatever ran beside it
        for step in generate(backend, self.prompt_ids, sampler=make_sampler(self.sampling),
                             max_new_tokens=self.max_gen_toks):
            if step.finish_reason == "stop" or stop.is_set():  # eos is not part of the text (HFLM skips it too)
                break
            tokens.append(step.token_id)
            text += stream.push(step.token_id)
            if any(s in text for s in self.until):
                break
        self.num_generated = len(tokens)
        if self.on_done is not None:
            self.on_done(1)
        return postprocess_generated_text(self.lm.tok_decode(tokens), self.until, None)


def _flag(value: bool | str) -> bool:
    """model_args arrive as strings or as lm-eval's parsed values ("False" → False)."""
    return value if isinstance(value, bool) else str(value).strip().lower() not in ("0", "false", "no", "off")


def _optional_int(value: int | str | None, name: str) -> int | None:
    return None if value is None else _positive_int(value, name)


def _positive_int(value: int | str, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number < 1 or str(number) != str(value).strip():
        raise UsageError(f"{name} must be a positive integer, got {value!r}")
    return number


def _batch_size(value: int | str | None) -> int:
    if value is None or str(value).startswith("auto"):
        return DEFAULT_BATCH_SIZE
    return _positive_int(value, "batch_size")


@dataclass
class TaskRun:
    """One task evaluated.

    Attributes:
        name: the task.
        results: lm-eval's results dict for this task alone (what `lm_eval --output_path` writes), samples removed.
        samples: lm-eval's per-document records (prompt, responses, filtered responses, metrics).
        seconds: wall time of the task, building its requests and scoring included.
    """

    name: str
    results: dict
    samples: list[dict]
    seconds: float


def run_tasks(lm: EdgeReasonLM, config_dir: Path, names: Sequence[str], *, limit: int | None = None,
              num_fewshot: int | None = None, on_start: Callable[[str], None] | None = None) -> list[TaskRun]:
    """Evaluate `lm` on each task of `config_dir` (from `lm_eval_tasks.write_configs`), one task at a time.

    lm-eval's defaults otherwise (seeds 0 / 1234 / 1234 / 1234, so the few-shot examples are everyone's), with only
    our configs indexed (`include_defaults=False`: the built-in tasks would read the hub).
    """
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_path=str(config_dir), include_defaults=False)
    runs = []
    for name in names:
        if on_start:
            on_start(name)
        start = time.perf_counter()
        results = simple_evaluate(model=lm, tasks=[name], task_manager=manager, limit=limit, num_fewshot=num_fewshot,
                                  log_samples=True)
        samples = results.pop("samples", {}).get(name, [])
        runs.append(TaskRun(name, results, samples, time.perf_counter() - start))
    return runs


def summary_rows(run: TaskRun) -> list[dict]:
    """One row per (metric, filter) of a task: value, stderr (None where lm-eval has none), documents."""
    res = run.results["results"][run.name]
    shots = run.results.get("n-shot", {}).get(run.name)
    docs = run.results.get("n-samples", {}).get(run.name, {}).get("effective")
    rows = []
    for key, value in res.items():
        metric, _, filter_name = key.partition(",")
        if not filter_name or metric.endswith("_stderr"):
            continue
        stderr = res.get(f"{metric}_stderr,{filter_name}")
        rows.append({"task": run.name, "num_fewshot": shots, "metric": metric, "filter": filter_name,
                     "value": value, "stderr": stderr if isinstance(stderr, int | float) else None,
                     "docs": docs, "seconds": run.seconds})
    return rows
