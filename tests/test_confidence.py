import numpy as np
import pytest

from edgereason.runtime.confidence import TraceConfidence, step_signals


def test_step_signals_match_a_direct_computation():
    rng = np.random.default_rng(0)
    logits = (rng.normal(0, 3, 1000)).astype(np.float32)
    p = np.exp(logits.astype(np.float64) - logits.max())
    p /= p.sum()
    s = step_signals(logits, token=7, top_k=20)
    top = np.sort(p)[::-1]
    assert s.logprob == pytest.approx(np.log(p[7]), abs=1e-5)
    assert s.top1_prob == pytest.approx(top[0], rel=1e-5)
    assert s.margin == pytest.approx(top[0] - top[1], rel=1e-4)
    assert s.entropy == pytest.approx(-(p * np.log(p)).sum(), rel=1e-4)
    assert s.token_conf == pytest.approx(-np.log(top[:20]).mean(), rel=1e-5)


def test_peaked_distributions_score_higher_than_flat_ones():
    peaked = np.full(500, -10.0, dtype=np.float32)
    peaked[3] = 10.0
    flat = np.zeros(500, dtype=np.float32)
    a, b = step_signals(peaked, 3), step_signals(flat, 3)
    assert a.top1_prob > 0.99 and a.token_conf > b.token_conf and a.entropy < b.entropy
    assert b.margin == 0.0 and b.top1_prob == pytest.approx(1 / 500)


def test_trace_groups_slide_and_summarize():
    trace = TraceConfidence(window=3, tail=2)
    logits = np.zeros(50, dtype=np.float32)
    groups = []
    for i, height in enumerate([1.0, 2.0, 3.0, 9.0, 9.0]):
        step_logits = logits.copy()
        step_logits[i] = height
        groups.append(trace.update(step_signals(step_logits, i)))
    assert groups[:2] == [None, None] and all(g is not None for g in groups[2:])
    confs = trace.token_confs
    assert groups[2] == pytest.approx(np.mean(confs[:3])) and groups[4] == pytest.approx(np.mean(confs[2:5]))
    summary = trace.summary()
    assert summary["lowest_group_conf"] == pytest.approx(min(groups[2:]))
    assert summary["tail_conf"] == pytest.approx(np.mean(confs[-2:]))
    assert summary["num_tokens"] == 5


def test_signal_golden_vectors():
    """The file the C++ and Android ports check their signals against agrees with this implementation."""
    import json
    from pathlib import Path

    golden = json.loads((Path(__file__).parent / "golden" / "sampling.json").read_text())
    logits = {c["logits_name"]: c["logits"] for c in golden["cases"]} | golden["signal_logits"]
    assert len(golden["signals"]) >= 8
    for case in golden["signals"]:
        s = step_signals(np.asarray(logits[case["logits_name"]], dtype=np.float32), case["token"], top_k=case["top_k"])
        for key in ("logprob", "top1_prob", "margin", "entropy", "token_conf"):
            assert getattr(s, key) == pytest.approx(case[key], abs=1e-5), (case["logits_name"], key)
