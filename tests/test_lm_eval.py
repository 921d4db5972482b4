"""lm-evaluation-harness on artifacts: the model's three request types against direct computations on the backend,
the local task configs through lm-eval itself, `edgereason eval` end to end, and its one-line errors.

Real lm-eval (the pinned version) on the tiny-random artifacts; nothing reaches the hub (HF_ENDPOINT points at a
closed port in the subprocess runs, so a download would fail the test).
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from helpers import EDGEREASON, assert_one_line_error, cli
from typer.testing import CliRunner

from edgereason import datafiles
from edgereason.quant.recipes import Format, RecipeName
from edgereason.runtime.likelihood import log_softmax

lm_eval = pytest.importorskip("lm_eval")

from lm_eval.api.instance import Instance  # noqa: E402

from edgereason.bench import lm_eval_model, lm_eval_tasks  # noqa: E402

pytestmark = pytest.mark.xdist_group("lm_eval")
TEXT = ("The tower is 324 metres tall, about the same height as an 81-storey building, and the tallest structure in "
        "Paris. Its base is square, measuring 125 metres on each side. During its construction, the Eiffel Tower "
        "surpassed the Washington Monument to become the tallest man-made structure in the world.")
NO_HUB = {**os.environ, "HF_ENDPOINT": "http://127.0.0.1:9", "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}


def _requests(kind: str, args: list[tuple]) -> list[Instance]:
    return [Instance(request_type=kind, doc={}, arguments=a, idx=i, metadata=("test", i, 1)) for i, a in
            enumerate(args)]


def _direct(backend, tokens: list[int], first_scored: int) -> tuple[float, bool]:
    """Sum of log p(tokens[i] | tokens[:i]) for i >= first_scored, from one `score` of tokens[:-1]."""
    logp = log_softmax(backend.score(tokens[:-1]))[first_scored - 1:]
    targets = np.asarray(tokens[first_scored:])
    return float(logp[np.arange(len(targets)), targets].sum()), bool((logp.argmax(-1) == targets).all())


@pytest.fixture(scope="module")
def models(tiny_artifacts):
    return {fmt: lm_eval_model.EdgeReasonLM(tiny_artifacts[fmt, RecipeName.FP32], threads=1) for fmt in Format}


@pytest.mark.parametrize("fmt", list(Format))
def test_loglikelihood_is_the_whole_sequence_score_and_runs_each_context_once(models, fmt):
    lm = models[fmt]
    pairs = [("Question: how tall is the tower?\nAnswer:", " 324 metres"),
             ("Question: how tall is the tower?\nAnswer:", " 81 storeys"),
             ("Question: how tall is the tower?\nAnswer: ", "125 metres"),  # the trailing space moves over
             ("The tower", " is in Paris"), ("", "Paris")]
    contexts_before = lm.stats.contexts
    got = lm.loglikelihood(_requests("loglikelihood", pairs), disable_tqdm=True)
    # the first three share one context ("...Answer:" once its trailing space moved), then two more
    assert lm.stats.contexts - contexts_before == 3
    for (context, continuation), (logprob, greedy) in zip(pairs, got, strict=True):
        if context:  # HFLM's split: encode the whole, cut at the context's (right-stripped) length
            stripped = context.rstrip()
            whole = lm.tok_encode(stripped + context[len(stripped):] + continuation)
            first = len(lm.tok_encode(stripped))
        else:  # an empty context is the prefix token
            whole, first = [lm.prefix_token_id, *lm.tok_encode(continuation, add_special_tokens=False)], 1
        want, want_greedy = _direct(lm.backend, whole, first)
        assert logprob == pytest.approx(want, abs=1e-3) and greedy == want_greedy


@pytest.mark.parametrize("fmt", list(Format))
def test_loglikelihood_rolling_is_the_direct_windowed_computation(models, fmt):
    lm = models[fmt]
    n = lm.max_length
    ids = lm.tok_encode(TEXT * 4)
    assert 2 * n < len(ids) + 1 < 3 * n  # three windows: the first from the prefix, two after it
    [got] = lm.loglikelihood_rolling(_requests("loglikelihood_rolling", [(TEXT * 4,)]), disable_tqdm=True)
    # Each token is predicted once: the first n from the prefix token, then n at a time, each window with as much
    # context as fits (the last one re-reads earlier tokens).
    want = _direct(lm.backend, [lm.prefix_token_id, *ids[:n]], 1)[0]
    want += _direct(lm.backend, ids[n - 1:2 * n], 1)[0]
    rest = len(ids) - 2 * n
    want += _direct(lm.backend, ids[len(ids) - n - 1:], n + 1 - rest)[0]
    assert got == pytest.approx(want, rel=1e-5)


def test_generate_until_cuts_at_the_first_stop_string_and_batches_exactly(models):
    lm = models[Format.ONNX]
    prompts = ["The tower is", "Question: 2 + 2 =", "Paris is the capital of", "Once upon a time"]
    free = lm.generate_until(_requests("generate_until", [(p, {"until": [], "max_gen_toks": 24}) for p in prompts]),
                             disable_tqdm=True)
    assert all(free)
    # a stop string taken from inside each free generation: the text ends right before it
    stops = [text[len(text) // 2:len(text) // 2 + 3] for text in free]
    cut = lm.generate_until(_requests("generate_until", [(p, {"until": [s], "max_gen_toks": 24}) for p, s in
                                                         zip(prompts, stops, strict=True)]), disable_tqdm=True)
    assert cut == [text.split(stop)[0] for text, stop in zip(free, stops, strict=True)]
    # the same texts 4 at a time in one batch on .onnx, and on .pte (same fp32 weights, greedy)
    batched = lm_eval_model.EdgeReasonLM(lm.folder, threads=1, batch_size=4)
    reqs = _requests("generate_until", [(p, {"until": [], "max_gen_toks": 24}) for p in prompts])
    assert batched.generate_until(reqs, disable_tqdm=True) == free
    assert batched.backend.lanes(4).forwards > 0  # it did decode in lanes
    assert models[Format.PTE].generate_until(reqs, disable_tqdm=True) == free
    with pytest.raises(lm_eval_model.UsageError, match="max_gen_toks 256 leaves no room"):
        lm.generate_until(_requests("generate_until", [("x", {"until": []})]))


def test_local_tasks_mirror_lm_evals_own(roomy, tmp_path):
    """gsm8k (5-shot, both filters) and wikitext (3 perplexities) through lm-eval on the local files."""
    files = lm_eval_tasks.locate_files(["gsm8k", "wikitext"])
    folder = lm_eval_tasks.write_configs(tmp_path / "tasks", files)
    lm = lm_eval_model.EdgeReasonLM(roomy, threads=1, max_gen_toks=16)
    runs = {r.name: r for r in lm_eval_model.run_tasks(lm, folder, ["gsm8k", "wikitext"], limit=2)}
    gsm8k = runs["gsm8k"]
    assert gsm8k.results["n-shot"]["gsm8k"] == 5 and gsm8k.results["versions"]["gsm8k"] == 3.0
    assert {(r["metric"], r["filter"]) for r in lm_eval_model.summary_rows(gsm8k)} == {
        ("exact_match", "strict-match"), ("exact_match", "flexible-extract")}
    prompt = gsm8k.samples[0]["arguments"][0][0]
    assert prompt.count("Question:") == 6 and prompt.endswith("\nAnswer:")  # 5 shots from train + the question
    assert gsm8k.samples[0]["doc"]["question"].startswith("Janet")  # the first test record
    wiki = lm_eval_model.summary_rows(runs["wikitext"])
    assert {r["metric"] for r in wiki} == {"word_perplexity", "byte_perplexity", "bits_per_byte"}
    assert runs["wikitext"].samples[0]["doc"]["page"].startswith(" = Robert Boulter = \n")
    pages = lm_eval_tasks.split_articles(datafiles.locate("wikitext2_test_raw.txt", option=None).read_text())
    assert len(pages) == 62


def test_eval_end_to_end_writes_its_report(tiny_artifacts, tmp_path):
    folder = tiny_artifacts[Format.ONNX, RecipeName.FP32]
    proc = subprocess.run([EDGEREASON, "eval", str(folder), "--tasks", "arc_easy",
                           "--limit", "8", "--threads", "1", "-o", str(tmp_path)],
                          capture_output=True, text=True, timeout=600, env=NO_HUB)
    assert proc.returncode == 0, proc.stderr
    [report] = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    names = {p.name for p in report.iterdir()}
    assert {"report.md", "results.json", "results.csv", "lm_eval_arc_easy.json", "samples_arc_easy.jsonl",
            "tasks"} <= names
    rows = json.loads((report / "results.json").read_text())["rows"]
    assert {(r["metric"], r["docs"]) for r in rows} == {("acc", 8), ("acc_norm", 8)}
    assert all(0.0 <= r["value"] <= 1.0 for r in rows)
    raw = json.loads((report / "lm_eval_arc_easy.json").read_text())
    assert raw["config"]["format"] == "onnx" and raw["n-samples"]["arc_easy"]["effective"] == 8
    assert len((report / "samples_arc_easy.jsonl").read_text().splitlines()) == 8
    assert "| arc_easy | 0 | acc |" in (report / "report.md").read_text()


def test_lm_evals_own_cli_runs_the_registered_model(tiny_artifacts, tmp_path):
    folder = tiny_artifacts[Format.ONNX, RecipeName.INT8]
    proc = subprocess.run([sys.executable, "-m", "edgereason.bench.lm_eval_cli", "--model", "edgereason",
                           "--model_args", f"artifact={folder},threads=1", "--tasks", "arc_easy", "--limit", "4",
                           "--output_path", str(tmp_path)], capture_output=True, text=True, timeout=600, env=NO_HUB)
    assert proc.returncode == 0, proc.stderr
    [written] = list(tmp_path.rglob("results_*.json"))
    assert json.loads(written.read_text())["results"]["arc_easy"]["acc,none"] >= 0.0


def test_bad_input_is_one_line_before_lm_eval_runs(tiny_artifacts, tmp_path, monkeypatch):
    folder = tiny_artifacts[Format.ONNX, RecipeName.FP32]
    assert_one_line_error(cli("eval", str(tmp_path), "--tasks", "arc_easy"), 2, "manifest")
    assert_one_line_error(cli("eval", str(folder), "--tasks", "arc_easy,hellaswag"), 2, "unknown task 'hellaswag'")
    assert_one_line_error(cli("eval", str(folder), "--limit", "0"), 2, "--limit must be a positive integer")
    # no data folder has the file: one line naming the pull, before anything is written or loaded
    from edgereason.cli import app

    monkeypatch.setattr(datafiles, "shared_dir", lambda: tmp_path / "no-shared-data")
    monkeypatch.setenv("EDGEREASON_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(datafiles.ENV, raising=False)
    with pytest.raises(lm_eval_model.UsageError, match=r"gsm8k_train.jsonl is not in .*edgereason data pull gsm8k"):
        lm_eval_tasks.locate_files(["gsm8k"])
    result = CliRunner().invoke(app, ["eval", str(folder), "--tasks", "gsm8k", "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert not any((tmp_path / "out").iterdir())
