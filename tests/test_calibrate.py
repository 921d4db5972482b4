import numpy as np
import pytest
from helpers import calibrated_spec, golden_folder

from edgereason import artifact
from edgereason.errors import ArtifactError, UsageError
from edgereason.runtime import calibrate, spec, stats


def synthetic(n: int, seed: int = 0):
    """Correctness drawn from a known logistic model of two features (one useless)."""
    rng = np.random.default_rng(seed)
    conf = rng.normal(0, 1, n)
    noise = rng.normal(0, 1, n)
    p = 1 / (1 + np.exp(-(2.0 * conf - 0.5)))
    y = rng.random(n) < p
    return [{"conf": float(c), "noise": float(z)} for c, z in zip(conf, noise, strict=True)], y, p


def test_logistic_recovers_a_known_model():
    rows, y, _ = synthetic(4000)
    x = calibrate.feature_matrix(rows, ["conf", "noise"])
    w, b = stats.fit_logistic(x, y.astype(float), l2=1e-6)
    assert w[0] == pytest.approx(2.0, abs=0.2) and abs(w[1]) < 0.15 and b == pytest.approx(-0.5, abs=0.15)


def test_fit_reports_heldout_metrics_and_a_threshold_for_the_risk():
    rows, y, p_true = synthetic(1500)
    cal = calibrate.fit(rows, y, features=["conf", "noise"], artifact_sha256="ab" * 32, target_risk=0.1)
    m = cal.metrics
    # 450 held-out samples in 10 bins: ECE's sampling noise alone is ~0.05.
    assert m["n_heldout"] == 450 and m["heldout_auroc"] > 0.8 and m["heldout_ece"] < 0.08
    assert m["heldout_selective_accuracy"] >= 0.9 - 1e-9 and 0 < m["heldout_coverage"] < 1
    np.testing.assert_allclose(cal.predict(rows), p_true, atol=0.08)


def test_isotonic_is_monotone_and_calibrated():
    rows, y, _ = synthetic(2000, seed=3)
    cal = calibrate.fit(rows, y, features=["conf"], artifact_sha256="0" * 64, isotonic=True)
    grid = [{"conf": c} for c in np.linspace(-3, 3, 50)]
    p = cal.predict(grid)
    assert np.all(np.diff(p) >= -1e-12) and cal.metrics["heldout_ece"] < 0.08


def test_auroc_and_ece_on_hand_examples():
    assert stats.auroc(np.array([0.9, 0.8, 0.2, 0.1]), np.array([1, 1, 0, 0])) == 1.0
    assert stats.auroc(np.array([0.5, 0.5]), np.array([1, 0])) == 0.5
    assert stats.auroc(np.array([0.1, 0.9, 0.4]), np.array([1, 0, 0])) == 0.0
    assert stats.ece(np.array([0.25, 0.25, 0.25, 0.25]), np.array([1, 0, 0, 0])) == pytest.approx(0.0)
    assert stats.ece(np.array([0.95, 0.95]), np.array([0, 0])) == pytest.approx(0.95)


def test_save_lists_the_spec_in_the_manifest_and_load_refuses_another_artifact(tmp_path):
    folder = golden_folder(tmp_path)
    rows, y, _ = synthetic(300)
    rows = [{"mean_conf": r["conf"]} for r in rows]
    cal = calibrate.fit(rows, y, features=["mean_conf"], artifact_sha256="a" * 64)
    cal.metrics["heldout_auroc"] = float("nan")  # as when the held-out part has one class: saved as null
    path = calibrated_spec(cal).save(folder)
    assert path.name == "solve.early-exit.json"
    manifest = artifact.read_manifest(folder)  # the folder still verifies, with the spec listed
    assert manifest.files[path.name].bytes == path.stat().st_size
    loaded = spec.load_spec(folder, "a" * 64, "early-exit")
    np.testing.assert_allclose(loaded.calibrator.predict(rows), cal.predict(rows))
    assert loaded.calibrator.metrics["heldout_auroc"] is None
    assert loaded == calibrated_spec(loaded.calibrator)  # everything else round-trips as the defaults
    with pytest.raises(UsageError, match="belongs to another artifact"):
        spec.load_spec(folder, "b" * 64, "early-exit")
    assert spec.load_spec(folder, "a" * 64, "vote") is None  # one file per strategy
    path.write_text(path.read_text().replace('"bias": ', '"bias": 1e3 + '))  # edited by hand: not listed as is
    with pytest.raises(ArtifactError, match="solve.early-exit.json"):
        artifact.read_manifest(folder)


def test_a_calibrator_file_of_an_older_edgereason_is_refused_with_the_fix(tmp_path):
    folder = golden_folder(tmp_path)
    artifact.add_file(folder, "calibrator.early-exit.json", b"{}")
    with pytest.raises(UsageError, match="older edgereason.*run `edgereason calibrate` again"):
        spec.load_spec(folder, "a" * 64, "early-exit")


def test_too_little_or_one_sided_data():
    rows, y, _ = synthetic(10)
    with pytest.raises(UsageError, match="at least 20"):
        calibrate.fit(rows, y, features=["conf"], artifact_sha256="a" * 64)
    rows, _, _ = synthetic(100)
    with pytest.raises(UsageError, match="both"):
        calibrate.fit(rows, [True] * 100, features=["conf"], artifact_sha256="a" * 64)
