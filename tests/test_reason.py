"""Decode loop, early-exit policies, voting and solve() on tiny-random (mechanics, not accuracy)."""

import numpy as np
import pytest

from edgereason.errors import SettingError
from edgereason.quant.recipes import Format, RecipeName
from edgereason.runtime import open_model
from edgereason.runtime.answers import AnswerKind
from edgereason.runtime.backends import ContextOverflowError
from edgereason.runtime.confidence import TraceConfidence, step_signals
from edgereason.runtime.generate import Step, generate
from edgereason.runtime.policies import AnswerProbe, GroupConfidenceAbort
from edgereason.runtime.reason import ExitConfig, SolveConfig, Strategy, Trace, _settled_vote, _tally, solve
from edgereason.runtime.sampling import SamplingConfig, make_sampler
from edgereason.runtime.spec import default_spec

PROMPT = [504, 3458, 282, 4235, 314, 2634, 30]


def _no_shots(config: SolveConfig):
    """The default spec with `config` and no few-shot turns (tiny-random's context is 128 tokens)."""
    return default_spec(config).with_shots(AnswerKind.MATH, ())


@pytest.fixture(scope="module", params=list(Format))
def tiny(request, tiny_artifacts):
    return open_model(tiny_artifacts[request.param, RecipeName.FP32])


def test_generate_stops_on_length_and_on_stop_ids(tiny):
    steps = list(generate(tiny.backend, PROMPT, max_new_tokens=10, stop_ids=[]))
    assert len(steps) == 10 and steps[-1].finish_reason == "length"
    assert all(s.finish_reason is None for s in steps[:-1])
    assert all(a.elapsed_ms <= b.elapsed_ms for a, b in zip(steps, steps[1:], strict=False))
    stop_at = steps[3].token_id
    stopped = list(generate(tiny.backend, PROMPT, max_new_tokens=10, stop_ids=[stop_at]))
    assert stopped[-1].finish_reason == "stop" and stopped[-1].token_id == stop_at
    assert len(stopped) == next(i for i, s in enumerate(steps) if s.token_id == stop_at) + 1


def test_sampled_generation_is_reproducible(tiny):
    cfg = SamplingConfig(temperature=1.0, top_k=50, seed=9)
    a = [s.token_id for s in generate(tiny.backend, PROMPT, sampler=make_sampler(cfg), max_new_tokens=20)]
    b = [s.token_id for s in generate(tiny.backend, PROMPT, sampler=make_sampler(cfg), max_new_tokens=20)]
    assert a == b


def test_group_confidence_abort_fires_when_the_window_fills(tiny):
    abort = GroupConfidenceAbort(threshold=1e9)
    steps = list(generate(tiny.backend, PROMPT, max_new_tokens=50, stop_ids=[], exit_policy=abort,
                          confidence=TraceConfidence(window=8)))
    assert len(steps) == 8 and steps[-1].finish_reason == "early_exit" and abort.fired_at is not None
    never = GroupConfidenceAbort(threshold=-1e9)
    assert len(list(generate(tiny.backend, PROMPT, max_new_tokens=20, stop_ids=[], exit_policy=never))) == 20


def test_probe_leaves_the_cache_as_it_was(tiny):
    """A probe appends tokens and rewinds: decoding after it equals decoding without it."""
    backend = tiny.backend
    newline = tiny.text.encode("\n")[0]
    backend.reset()
    backend.prefill(PROMPT)
    want = backend.step(newline)
    backend.reset()
    backend.prefill(PROMPT)
    probe = AnswerProbe(backend, tiny.text, AnswerKind.MATH, threshold=2.0, patience=1,
                        min_tokens=0)  # never settles
    fake = Step(0, newline, step_signals(np.zeros(10, dtype=np.float32), 0), None, 0.0)
    assert probe(fake, TraceConfidence()) is False
    assert probe.num_probes == 1 and probe.probe_tokens > 1 and backend.position == len(PROMPT)
    np.testing.assert_allclose(backend.step(newline), want, atol=1e-5)


def test_probe_settles_with_a_zero_threshold(tiny):
    backend = tiny.backend
    backend.reset()
    backend.prefill(PROMPT)
    probe = AnswerProbe(backend, tiny.text, AnswerKind.MATH, threshold=0.0, patience=1, min_tokens=0,
                        probe_text=" The answer is 4")  # the probe text itself carries a number
    newline = tiny.text.encode("\n")[0]
    fake = Step(0, newline, step_signals(np.zeros(10, dtype=np.float32), 0), None, 0.0)
    assert probe(fake, TraceConfidence()) is True and probe.settled_answer is not None


def _trace(answer, mean_logprob=0.0):
    return Trace([1], "", answer, "stop", False, False, {"mean_logprob": mean_logprob}, 0, 0.0)


@pytest.mark.parametrize("make, words", [
    (lambda: SolveConfig(max_traces=0), "max_traces must be >= 1, got 0"),
    (lambda: ExitConfig(probe_min_tokens=-1), "probe_min_tokens must be >= 0, got -1"),
    (lambda: ExitConfig(abort_window=0), "abort_window must be >= 1, got 0"),
    (lambda: SolveConfig(strategy=Strategy.VOTE, sampling=SamplingConfig()), "strategy vote needs temperature > 0"),
    (lambda: SamplingConfig(top_p=0), "top_p must be in (0, 1], got 0"),
])
def test_library_settings_errors_name_the_field_not_a_flag(make, words):
    """The library has no flags: its errors name the field (the CLI writes its own flag for each; see
    test_cli_reason), so a Python caller or a settings file is told what to change."""
    with pytest.raises(SettingError) as e:
        make()
    assert str(e.value) == words or str(e.value).startswith(words)
    assert "--" not in str(e.value)


def test_vote_stops_only_when_the_leader_cannot_be_overtaken():
    assert not _settled_vote([_trace("3")], remaining=4)
    assert not _settled_vote([_trace("3"), _trace("3")], remaining=2)  # 2 - 0 is not > 2
    assert _settled_vote([_trace("3"), _trace("3"), _trace("3")], remaining=2)
    assert _settled_vote([_trace("3"), _trace("3.0"), _trace("4", np.log(0.5))], remaining=1)  # 2 - 0.5 > 1
    answer, share = _tally([_trace("3"), _trace("4", np.log(0.5)), _trace(None)])
    assert answer == "3" and share == pytest.approx(1 / 1.5)


@pytest.mark.parametrize("strategy", [s for s in Strategy if s is not Strategy.SCORE])  # score: below
def test_solve_runs_every_strategy(tiny, strategy):
    cfg = SolveConfig(strategy=strategy, max_new_tokens=24, max_traces=3, exit=ExitConfig(abort_threshold=-1e9))
    result = solve(tiny.backend, tiny.text, "Tom has 2 apples and buys 3. How many?", spec=_no_shots(cfg))
    assert 1 <= len(result.traces) <= (3 if strategy is Strategy.VOTE else 1)
    assert result.tokens_generated == sum(len(t.token_ids) for t in result.traces)
    assert result.decision in ("accept", "escalate") and not result.calibrated
    assert any("uncalibrated" in r for r in result.reasons)
    assert set(result.features) == {"mean_conf", "lowest_group_conf", "bottom10_group_conf", "tail_conf",
                                    "mean_logprob", "min_logprob", "num_tokens", "answer_logprob", "answer_min_logprob",
                                    "vote_share", "has_answer", "arith_statements", "arith_errors", "first_error_at"}


def test_solve_refuses_a_prompt_that_cannot_fit(tiny):
    with pytest.raises(ContextOverflowError, match="exceed the context of 128"):
        solve(tiny.backend, tiny.text, "word " * 200, spec=_no_shots(SolveConfig(max_new_tokens=16)))


def test_prefix_reuse_decodes_like_a_fresh_cache(tiny):
    shared = PROMPT * 3
    first, second = [*shared, 17, 18], [*shared, 40]
    list(generate(tiny.backend, first, max_new_tokens=5, stop_ids=[]))
    assert tiny.backend.common_prefix(second) == len(shared)  # only the new question needs a prefill
    reused = [s.token_id for s in generate(tiny.backend, second, max_new_tokens=12, stop_ids=[])]
    fresh = [s.token_id for s in generate(tiny.backend, second, max_new_tokens=12, stop_ids=[], reuse_prefix=False)]
    assert reused == fresh


def test_a_stated_answer_ends_the_trace_without_a_probe(tiny):
    probe = AnswerProbe(tiny.backend, tiny.text, AnswerKind.MATH, threshold=0.9, patience=1, min_tokens=0)
    signals = step_signals(np.zeros(10, dtype=np.float32), 0)
    line = tiny.text.encode("So the answer is 42.\n")
    fired = [probe(Step(i, t, signals, None, 0.0), TraceConfidence()) for i, t in enumerate(line)]
    assert fired[-1] is True and not any(fired[:-1])
    assert probe.stated and probe.num_probes == 0 and probe.probe_tokens == 0


OPTIONS = ("A. a mirror", "B. the Moon", "C. the Sun", "D. a window")


def test_score_picks_the_most_likely_option_without_decoding(tiny):
    """`--strategy score`: each option's log-likelihood after the spec's scoring context, divided by its length in
    characters (lm-eval's acc_norm), computed here from whole-sequence logits; the softmax is the confidence."""
    from edgereason.runtime.likelihood import log_softmax

    spec = default_spec(SolveConfig(strategy=Strategy.SCORE))
    question = "Which of these is a source of light?"
    result = solve(tiny.backend, tiny.text, question, spec=spec, kind=AnswerKind.CHOICE, choices=OPTIONS)
    context = tiny.text.encode(f"Question: {question}\nAnswer:")
    scores = []
    for option in ("a mirror", "the Moon", "the Sun", "a window"):
        ids = tiny.text.encode(" " + option, add_bos=False)
        logp = log_softmax(tiny.backend.score(context + ids))[len(context) - 1: -1]
        scores.append(logp[np.arange(len(ids)), ids].sum() / len(" " + option))
    probs = np.exp(np.array(scores) - max(scores))
    probs /= probs.sum()
    best = int(np.argmax(scores))
    assert result.answer == "ABCD"[best] and result.strategy == "score"
    assert result.tokens_generated == 0 and result.traces[0].finish_reason == "scored"
    assert result.traces[0].text == OPTIONS[best][3:]
    assert result.features["vote_share"] == pytest.approx(probs[best], abs=1e-4)
    assert result.p_correct == pytest.approx(probs[best], abs=1e-4)  # uncalibrated: the option's probability
    assert result.states["answer"] is not None or tiny.backend.hidden is None
    with pytest.raises(SettingError, match="strategy score answers a multiple-choice question"):
        solve(tiny.backend, tiny.text, question, spec=spec)


def test_the_scoring_rule_lives_in_the_spec():
    from edgereason.errors import UsageError
    from edgereason.runtime.spec import check_spec

    data = default_spec().to_json()
    assert data["scoring"] == {"context": "Question: {question}\nAnswer:", "option": " {choice}", "normalize": "chars"}
    del data["scoring"]  # a spec written before the score strategy: the default rule
    assert check_spec(dict(data), "old.json").scoring == default_spec().scoring
    data["scoring"] = {"context": "Q:", "option": " {choice}", "normalize": "chars"}
    with pytest.raises(UsageError, match=r"bad.json: scoring.context: \"Q:\" has the wrong form"):
        check_spec(data, "bad.json")


def test_the_golden_score_vectors_are_this_implementation(tmp_path):
    """tests/golden/score.json, which the Java core replays, is what solve computes over its recorded forwards (every
    forward a solve runs is one the file holds): the context and option ids, each option's log-likelihood and score,
    the choice, features, P(IK), P(correct), decision and reasons (regenerate it with
    tests/golden/make_score_vectors.py after a change to the rule, its spec section or the calibrator)."""
    import json
    from pathlib import Path

    from helpers import byte_text, recorded_backend

    from edgereason.runtime.likelihood import score_continuations
    from edgereason.runtime.spec import check_spec

    golden = json.loads((Path(__file__).parent / "golden" / "score.json").read_text("utf-8"))
    assert len(golden["cases"]) >= 6
    for i, case in enumerate(golden["cases"]):
        text = byte_text(golden["tokenizer"], tmp_path / str(i), add_bos=case["add_bos"], bos_id=case["bos_id"])
        spec = check_spec(case["spec"], "score.json")
        backend = recorded_backend(case["forwards"], vocab_size=golden["vocab_size"],
                                   max_seq_len=golden["max_seq_len"], eos_id=golden["eos_id"])
        assert spec.scoring.context_ids(text, case["question"]) == case["context_ids"], case["name"]
        result = solve(backend, text, case["question"], spec=spec, kind=AnswerKind.CHOICE, choices=case["choices"])
        want = case["result"]
        assert (result.answer, result.traces[0].text if result.traces else None, result.calibrated, result.decision,
                result.reasons, result.routed, result.tokens_generated) == (
            want["answer"], want["text"], want["calibrated"], want["decision"], want["reasons"], want["routed"],
            want["tokens_generated"]), case["name"]
        assert result.p_correct == pytest.approx(want["p_correct"], abs=1e-12)
        assert result.p_ik == pytest.approx(want["p_ik"], abs=1e-12)
        assert result.features == pytest.approx(want["features"], abs=1e-12)
        for name in ("prompt", "answer"):
            got = result.states.get(name)
            assert (None if got is None else got.tolist()) == want[f"{name}_state"], (case["name"], name)
        if case["options"] is None:  # routed before decoding: no option was scored
            continue
        scored = score_continuations(backend, case["context_ids"], [o["ids"] for o in case["options"]])
        for option, s in zip(case["options"], scored, strict=True):
            assert text.encode(spec.scoring.continuation(option["option"]), add_bos=False) == option["ids"]
            assert (s.num_tokens, s.greedy) == (option["num_tokens"], option["greedy"])
            assert s.logprob == pytest.approx(option["logprob"], abs=1e-12)
            assert spec.scoring.normalized(s.logprob, s.num_tokens, len(spec.scoring.continuation(option["option"]))) \
                == pytest.approx(option["score"], abs=1e-12)
