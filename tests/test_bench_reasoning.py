import json

import pytest
from helpers import cli

from edgereason.bench.reasoning import Record, summarize


def record(correct: bool, p: float, tokens: int = 10, decision: str = "accept") -> Record:
    return Record("x", "1", "1" if correct else "2", correct, p, decision, tokens, 2, 1, 0, False, 0.5, {}, 1)


def test_summary_metrics_on_hand_made_records():
    records = [record(True, 0.9), record(True, 0.8), record(False, 0.3, decision="escalate"),
               record(False, 0.1, tokens=30, decision="escalate")]
    s = summarize(records)
    assert s["accuracy"] == 0.5 and s["auroc"] == 1.0 and s["tokens_per_problem"] == 15.0
    assert s["selective_acc_50"] == 1.0 and s["accept_rate"] == 0.5 and s["accepted_accuracy"] == 1.0
    assert s["ece"] == pytest.approx((0.1 + 0.2 + 0.3 + 0.1) / 4)


def test_bench_reason_writes_a_report(roomy, tmp_path):
    proc = cli("bench", "reason", str(roomy), "--task", "builtin", "--n", "3", "--strategy", "greedy,early-exit",
               "--max-new-tokens", "8", "-o", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "accuracy" in proc.stdout and "AUROC" in proc.stdout
    (path,) = tmp_path.glob("*/results.json")
    report = json.loads(path.read_text())
    assert set(report["strategies"]) == {"greedy", "early-exit"}
    records = report["strategies"]["greedy"]["records"]
    assert len(records) == 3 and all(0 < r["tokens"] <= 8 for r in records)
    assert report["strategies"]["greedy"]["summary"]["n"] == 3
    assert 0 <= report["strategies"]["greedy"]["summary"]["aurc"] <= 1
    folder = path.parent
    md = (folder / "report.md").read_text()
    for name in ("reliability.png", "risk_coverage.png", "accuracy_vs_tokens.png"):
        assert (folder / name).read_bytes()[:4] == b"\x89PNG" and f"]({name})" in md
    assert "tokens saved" in md and report["machine"]["cpu"]
    assert "token_savings" in (folder / "results.csv").read_text().splitlines()[0]
