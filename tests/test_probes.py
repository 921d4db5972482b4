"""Hidden-state probes: fitting, the calibrator that carries them, and their use in a solve (tiny-random .onnx,
whose graph outputs its final norm's hidden state)."""

import json

import numpy as np
import pytest
from helpers import calibrated_spec, constant_pik_calibrator, golden_folder

from edgereason import schema
from edgereason.errors import UsageError
from edgereason.runtime import calibrate, open_model
from edgereason.runtime.probes import L2_GRID, fit_probe
from edgereason.runtime.reason import SolveConfig, Strategy, solve
from edgereason.runtime.spec import load_spec
from edgereason.runtime.stats import auroc


def planted(n: int, dims: int = 48, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """States whose projection on one fixed direction decides correctness (with noise); the rest is noise."""
    direction = np.random.default_rng(99).normal(size=dims)
    x = np.random.default_rng(seed).normal(size=(n, dims)) * 3 + 10
    score = (x - 10) @ direction / np.linalg.norm(direction)
    y = score + np.random.default_rng(seed + 1).normal(scale=0.5, size=n) > 1.0
    return x, y


def test_a_probe_finds_the_direction_and_holds_on_new_states():
    x, y = planted(300, seed=1)
    probe, oof = fit_probe(x, y, state="prompt")
    assert probe.l2 in L2_GRID and len(probe.weights) == 48
    assert probe.metrics["cv_auroc"] > 0.9 and auroc(oof, y.astype(float)) == pytest.approx(probe.metrics["cv_auroc"])
    # out-of-fold logits are not the fitted probe's own (those have seen every row)
    assert not np.allclose(oof, probe.logit(x))
    x_new, y_new = planted(300, seed=7)
    assert auroc(probe.logit(x_new), y_new.astype(float)) > 0.9


def test_a_probe_needs_both_classes_in_every_fold():
    x, _ = planted(40, seed=1)
    with pytest.raises(UsageError, match="at least 5 right and 5 wrong"):
        fit_probe(x, np.arange(40) < 3, state="prompt")
    with pytest.raises(UsageError, match="finite"):
        fit_probe(np.full((40, 4), np.nan), np.arange(40) % 2 == 0, state="prompt")


def _fitted_with_probes(n: int = 300) -> tuple[calibrate.Calibrator, list[dict], dict, np.ndarray]:
    x, y = planted(n, seed=3)
    answer = x[:, ::-1] + np.random.default_rng(5).normal(size=x.shape)
    rows = [{"mean_conf": float(v)} for v in np.random.default_rng(4).normal(size=n)]  # noise
    states = {"prompt": x, "answer": answer}
    cal = calibrate.fit(rows, y.tolist(), features=["mean_conf", "pik_logit", "answer_state_logit"],
                        artifact_sha256="a" * 64, states=states)
    return cal, rows, states, y


def test_the_calibrator_combines_probe_logits_and_routes_on_p_ik():
    cal, _, _, _ = _fitted_with_probes()
    assert set(cal.probes) == {"pik_logit", "answer_state_logit"}
    assert cal.metrics["heldout_auroc"] > 0.85 and cal.metrics["heldout_pik_auroc"] > 0.85
    assert 0.0 <= cal.route_threshold <= 1.0 and 0.0 <= cal.metrics["heldout_routed"] <= 1.0
    x_new, y_new = planted(200, seed=11)
    features = [cal.probe_features({"prompt": s, "answer": s[::-1]}) | {"mean_conf": 0.0} for s in x_new]
    assert auroc(cal.predict(features), y_new.astype(float)) > 0.85
    assert cal.p_ik(x_new[0]) == pytest.approx(1 / (1 + np.exp(-features[0]["pik_logit"])))
    with pytest.raises(UsageError, match="does not output"):
        cal.probe_features({"prompt": None, "answer": x_new[0]})
    with pytest.raises(UsageError, match="reads 48 values"):
        cal.probe_features({"prompt": x_new[0][:10], "answer": x_new[0]})
    with pytest.raises(UsageError, match="needs the answer hidden state"):
        calibrate.fit([{"mean_conf": 0.0}] * 40, [i % 2 == 0 for i in range(40)],
                      features=["mean_conf", "answer_state_logit"], artifact_sha256="a" * 64,
                      states={"prompt": np.zeros((40, 3))})


def test_a_calibrator_with_probes_saves_loads_and_refuses_broken_probes(tmp_path):
    cal, rows, states, _ = _fitted_with_probes()
    folder = golden_folder(tmp_path)
    path = calibrated_spec(cal).save(folder)
    loaded = load_spec(folder, "a" * 64, "early-exit").calibrator
    one = {"prompt": states["prompt"][0], "answer": states["answer"][0]}
    assert loaded.probe_features(one) == pytest.approx(cal.probe_features(one))
    assert loaded.route_threshold == cal.route_threshold
    data = json.loads(path.read_text())["calibrator"]

    def refused(mutate, *words):
        broken = json.loads(json.dumps(data))
        mutate(broken)
        with pytest.raises(UsageError) as e:
            calibrate.parse_calibrator(schema.dumps(broken), "cal.json")
        for word in words:
            assert word in str(e.value)

    refused(lambda d: d["probes"]["pik_logit"].update(mean=[0.0] * 3), "probes.pik_logit.mean", "48 weights")
    refused(lambda d: d["probes"]["pik_logit"].update(state="answer"), "probes.pik_logit.state")
    refused(lambda d: d["probes"].pop("answer_state_logit"), "answer_state_logit has no probe")
    refused(lambda d: d["probes"]["pik_logit"].update(weights=["x"] + [0.0] * 47), "probes.pik_logit.weights[0]")
    refused(lambda d: d["probes"].update(other=d["probes"]["pik_logit"]), "probes")
    refused(lambda d: d.update(route_threshold=2), "route_threshold")
    refused(lambda d: d.update(features=["mean_conf", "answer_state_logit"], mean=[0, 0], scale=[1, 1],
                               weights=[0, 0]), "probes.pik_logit", "does not read")


def test_solve_reads_the_states_and_routes_before_decoding(roomy):
    model = open_model(roomy)
    assert model.backend.has_hidden
    first = solve(model.backend, model.text, "What is 2 + 3?",
                  spec=calibrated_spec(config=SolveConfig(strategy=Strategy.GREEDY, max_new_tokens=6)))
    hidden = first.states["prompt"]
    assert hidden is not None and first.states["answer"] is not None and first.p_ik is None
    cal = constant_pik_calibrator(len(hidden), model.model_sha256, pik_logit=-8.0, route_threshold=0.01)
    config = SolveConfig(strategy=Strategy.GREEDY, max_new_tokens=6, route_before_decode=True)
    routed = solve(model.backend, model.text, "What is 2 + 3?", spec=calibrated_spec(cal, config))
    assert routed.routed and routed.tokens_generated == 0 and routed.traces == [] and routed.decision == "escalate"
    assert routed.p_ik == pytest.approx(1 / (1 + np.exp(8.0))) and "routed before decoding" in routed.reasons[0]
    kept = solve(model.backend, model.text, "What is 2 + 3?", spec=calibrated_spec(cal, SolveConfig(
        strategy=Strategy.GREEDY, max_new_tokens=6)))
    assert not kept.routed and kept.tokens_generated > 0 and kept.features["pik_logit"] == pytest.approx(-8.0)
    # the solve's prompt state is the one the route was decided on (same prompt, same cache reuse)
    np.testing.assert_allclose(kept.states["prompt"], hidden, atol=1e-5)


def test_the_golden_probe_vectors_are_this_implementation():
    """tests/golden/probes.json, which the Java core replays, is what this code computes."""
    from pathlib import Path

    golden_dir = Path(__file__).parent / "golden"
    golden = json.loads((golden_dir / "probes.json").read_text())
    cal = calibrate.check_calibrator(json.loads((golden_dir / "bad_files.json").read_text())["calibrator"][
        "valid_with_probes"], "bad_files.json")
    for case in golden["cases"]:
        states = {"prompt": np.asarray(case["prompt"]), "answer": np.asarray(case["answer"])}
        logits = cal.probe_features(states)
        assert logits == pytest.approx(case["probe_logits"], abs=1e-12)
        assert cal.p_ik(states["prompt"]) == pytest.approx(case["p_ik"], abs=1e-12)
        assert cal.predict([case["features"] | logits])[0] == pytest.approx(case["p_correct"], abs=1e-12)


def test_the_route_threshold_gives_up_at_most_the_target_share_of_right_answers():
    p_ik = np.array([0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9] * 2)
    y = np.array([0, 1, 0, 0, 1, 0, 1, 1, 1, 1] * 2, dtype=float)  # 12 right; their lowest P(IK): 0.1, 0.1, 0.4...
    t = calibrate.choose_route_threshold(p_ik, y, 0.1)  # at most 1 of 12 right ones may be routed
    assert t == 0.1 and ((p_ik < t) & (y == 1)).sum() == 0
    t = calibrate.choose_route_threshold(p_ik, y, 0.25)  # 3 may be routed
    assert t == 0.4 and ((p_ik < t) & (y == 1)).sum() == 2
    assert calibrate.choose_route_threshold(p_ik, np.zeros(20), 0.1) > 0.9  # never right: route everything
