"""Parallel vote traces in one batch (runtime.lanes): the same traces as one after another, fewer model calls."""

import threading

import numpy as np
import pytest
from helpers import assert_one_line_error, cli

from edgereason.quant.recipes import Format, RecipeName
from edgereason.runtime import open_model, solve
from edgereason.runtime.answers import AnswerKind
from edgereason.runtime.backends.onnx import KVRows
from edgereason.runtime.generate import generate
from edgereason.runtime.sampling import SamplingConfig, make_sampler

QUESTION = "Tom has 3 apples and buys 4 more. How many apples does he have?"


@pytest.fixture(scope="module")
def model(roomy):
    return open_model(roomy, num_threads=1)


def vote_spec(model, **settings):
    # Thresholds no random model reaches, so traces end at different lengths (abort) and probes run (settled).
    base = dict(strategy="vote", max_traces=5, max_new_tokens=24, abort_threshold=-1000, temperature=1.0)
    return model.spec("vote").with_shots(AnswerKind.MATH, []).with_settings(**{**base, **settings})


def test_a_rows_logits_do_not_depend_on_the_rows_beside_it(model):
    rows = KVRows(model.backend, 4)
    prompts = [[5, 9, 14], [7, 3, 2, 8, 11], [4], [6, 6, 1, 9]]
    for r, p in enumerate(prompts):
        rows.run(r, [0], [p])
    lengths = [len(p) for p in prompts]
    together, hidden = rows.run(0, lengths, [[20], [21], [22], [23]])
    for r in range(4):
        alone, alone_hidden = rows.run(r, [lengths[r]], [[20 + r]])  # rewrites the same cache entry
        np.testing.assert_array_equal(together[r, -1], alone[0, -1])
        np.testing.assert_array_equal(hidden[r], alone_hidden[0])


@pytest.mark.parametrize("settings", [
    {},  # vote with its early stop, the abort and the answer probe
    {"calculator": "compute", "vote_early_stop": False},  # tool tokens: multi-token forwards on one row
    {"probe": False, "abort": False, "max_traces": 3},
])
def test_batched_vote_gives_the_traces_of_one_after_another(model, settings):
    spec = vote_spec(model, **settings)
    one = solve(model.backend, model.text, QUESTION, spec=spec, parallel=1)
    lanes = model.backend.lanes(spec.config.max_traces)
    calls = lanes.forwards
    batched = solve(model.backend, model.text, QUESTION, spec=spec)
    assert [t.token_ids for t in batched.traces] == [t.token_ids for t in one.traces]
    assert [t.probe_tokens for t in batched.traces] == [t.probe_tokens for t in one.traces]
    assert batched.answer == one.answer and batched.features == one.features
    assert batched.p_correct == one.p_correct
    np.testing.assert_array_equal(batched.states["answer"], one.states["answer"])
    steps = sum(len(t.token_ids) for t in one.traces)
    assert lanes.forwards - calls < steps  # single-token steps of several traces shared model calls


def test_fewer_lanes_than_traces_reuse_freed_rows(model):
    spec = vote_spec(model, vote_early_stop=False, max_traces=5)
    one = solve(model.backend, model.text, QUESTION, spec=spec, parallel=1)
    two = solve(model.backend, model.text, QUESTION, spec=spec, parallel=2)
    assert len(two.traces) == 5 and [t.token_ids for t in two.traces] == [t.token_ids for t in one.traces]


def lane_jobs(model, lengths):
    """Jobs that each decode a given number of tokens and return their ids."""
    prompt = model.text.encode("Count with me: one two three")

    def job(n, seed):
        def run(lane, stop):
            return [s.token_id for s in generate(lane, prompt, max_new_tokens=n, stop_ids=[],
                                                 sampler=make_sampler(SamplingConfig(temperature=1.0, seed=seed)),
                                                 exit_policy=lambda step, trace: stop.is_set())]
        return run
    model.backend.prefill_reusing(prompt)
    return [job(n, i) for i, n in enumerate(lengths)]


def test_the_stop_rule_sees_results_in_order_and_ends_the_rest(model):
    lanes = model.backend.lanes(4)
    seen = []

    def stop(results):
        seen.append(len(results))
        return len(results) == 2

    # Job 0 is the longest: jobs 1 and 2 finish first, yet the rule is asked of 0..k only, as one after another.
    results = lanes.run(lane_jobs(model, [30, 4, 6, 40]), parallel=4, stop=stop)
    assert [len(r) for r in results] == [30, 4] and seen == [1, 2]


def test_a_job_that_raises_ends_the_batch_and_raises(model):
    lanes = model.backend.lanes(3)
    jobs = lane_jobs(model, [50, 50])

    def broken(lane, stop):
        lane.prefill_reusing(model.text.encode("Count with me: one two three"))
        raise ValueError("broken trace")

    with pytest.raises(ValueError, match="broken trace"):
        lanes.run([jobs[0], broken, jobs[1]], parallel=3)
    assert not [t for t in threading.enumerate() if t.name.startswith("lane-")]  # every lane's thread ended
    assert len(lanes.run(lane_jobs(model, [3, 5]), parallel=3)[1]) == 5  # and the lanes still work


def test_cancel_ends_the_running_traces(model):
    cancel = threading.Event()
    cancel.set()
    result = solve(model.backend, model.text, QUESTION, spec=vote_spec(model, max_new_tokens=200), cancel=cancel)
    assert all(len(t.token_ids) <= 1 for t in result.traces)


def test_a_backend_without_lanes_runs_traces_one_after_another(tiny_artifacts):
    pte = open_model(tiny_artifacts[Format.PTE, RecipeName.INT4], num_threads=1)
    assert pte.backend.lanes(4) is None
    spec = pte.spec("vote").with_shots(AnswerKind.MATH, []).with_settings(
        strategy="vote", max_traces=2, max_new_tokens=8, abort_threshold=-1000, vote_early_stop=False)
    assert len(solve(pte.backend, pte.text, "1+1?", spec=spec).traces) == 2


def test_parallel_flags(roomy, tmp_path):
    assert_one_line_error(cli("solve", str(roomy), "q", "--strategy", "vote", "--parallel", "0"), 2,
                          "--parallel must be a positive integer")
    assert_one_line_error(cli("bench", "reason", str(roomy), "--parallel", "1,x", "--output", str(tmp_path)), 2,
                          "--parallel takes a comma list of positive integers")
    proc = cli("bench", "reason", str(roomy), "--n", "3", "--strategy", "vote", "--parallel", "1,3",
               "--max-traces", "3", "--max-new-tokens", "12", "--shots", "none", "--abort-threshold", "-1000",
               "--output", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    assert "vote parallel 1 / vote parallel 3: the same answer, traces and tokens on 3 of 3 problems" in proc.stdout
