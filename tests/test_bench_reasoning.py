import json

import pytest
from helpers import assert_one_line_error, cli

from edgereason.bench.reasoning import Record, summarize


def record(correct: bool, p: float, tokens: int = 10, decision: str = "accept", arith_errors: float = 0.0) -> Record:
    return Record(problem_id="x", answer="1", reference="1" if correct else "2", correct=correct, p_correct=p,
                  decision=decision, tokens=tokens, tool_tokens=1, probe_tokens=2, arith_seconds=0.005, traces=1,
                  aborted=0, settled=False, seconds=0.5, features={"arith_errors": arith_errors}, num_steps=1)


def test_summary_metrics_on_hand_made_records():
    records = [record(True, 0.9), record(True, 0.8), record(False, 0.3, decision="escalate"),
               record(False, 0.1, tokens=30, decision="escalate")]
    s = summarize(records)
    assert s["accuracy"] == 0.5 and s["auroc"] == 1.0 and s["tokens_per_problem"] == 15.0
    assert s["selective_acc_50"] == 1.0 and s["accept_rate"] == 0.5 and s["accepted_accuracy"] == 1.0
    assert s["ece"] == pytest.approx((0.1 + 0.2 + 0.3 + 0.1) / 4)
    assert s["checker_share"] == pytest.approx(0.01) and s["tool_tokens_per_problem"] == 1.0


def test_summary_counts_wrong_answers_with_a_false_statement():
    records = [record(False, 0.1, arith_errors=2), record(False, 0.1), record(True, 0.9), record(True, 0.9,
                                                                                               arith_errors=1)]
    s = summarize(records)
    assert s["wrong_with_arith_error"] == 0.5 and s["right_with_arith_error"] == 0.5


def test_bench_reason_writes_a_report(roomy, tmp_path):
    proc = cli("bench", "reason", str(roomy), "--task", "builtin", "--n", "3", "--strategy", "greedy,early-exit",
               "--calculator", "check,compute", "--digits", "2-3", "--max-new-tokens", "8", "-o", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "accuracy" in proc.stdout and "AUROC" in proc.stdout and "checker time" in proc.stdout
    (path,) = tmp_path.glob("*/results.json")
    report = json.loads(path.read_text())
    assert set(report["strategies"]) == {"greedy check", "greedy compute", "early-exit check", "early-exit compute"}
    assert report["digits"] == "2-3"
    records = report["strategies"]["greedy check"]["records"]
    assert len(records) == 3 and all(0 < r["tokens"] <= 8 for r in records)
    assert all(r["problem_id"].startswith("builtin-d2-3-2-") for r in records)
    assert {"arith_statements", "arith_errors", "first_error_at"} <= set(records[0]["features"])
    assert report["strategies"]["greedy check"]["summary"]["n"] == 3
    assert 0 <= report["strategies"]["greedy check"]["summary"]["aurc"] <= 1
    folder = path.parent
    md = (folder / "report.md").read_text()
    for name in ("reliability.png", "risk_coverage.png", "accuracy_vs_tokens.png"):
        assert (folder / name).read_bytes()[:4] == b"\x89PNG" and f"]({name})" in md
    assert "tokens saved" in md and report["machine"]["cpu"]
    assert "token_savings" in (folder / "results.csv").read_text().splitlines()[0]
    import numpy as np

    with np.load(folder / "states.npz", allow_pickle=False) as states:  # the probes' inputs, per run and state
        assert {f"{run}/{state}" for run in report["strategies"] for state in ("prompt", "answer")} == set(states.files)
        assert states["greedy check/prompt"].shape == (3, 64) and np.isfinite(states["greedy check/answer"]).all()
    assert "states" not in records[0]


def test_bench_reason_follows_a_spec(roomy, tmp_path):
    """`bench reason --spec FILE`: the spec's strategy, budget and calculator unless a flag says otherwise."""
    spec = tmp_path / "solve.greedy.json"
    assert cli("spec", str(roomy), "--strategy", "greedy", "-o", str(spec)).returncode == 0
    data = json.loads(spec.read_text())
    data["settings"].update(max_new_tokens=4, calculator="off")
    spec.write_text(json.dumps(data))
    proc = cli("bench", "reason", str(roomy), "--n", "2", "--spec", str(spec), "-o", str(tmp_path / "a"))
    assert proc.returncode == 0, proc.stderr
    (path,) = (tmp_path / "a").glob("*/results.json")
    report = json.loads(path.read_text())
    assert list(report["strategies"]) == ["greedy"] and report["strategies"]["greedy"]["calculator"] == "off"
    assert all(0 < r["tokens"] <= 4 for r in report["strategies"]["greedy"]["records"])
    assert_one_line_error(cli("bench", "reason", str(roomy), "--spec", str(spec), "--max-new-tokens", "0", "-o",
                              str(tmp_path / "b")), 2, "--max-new-tokens")
