"""The shared golden set of broken artifact folders, calibrators and solve specs (tests/golden/bad_files.json):
each one is refused with one error naming its field, as the C++ runner and the Java core refuse them (their tests
read the same file)."""

import base64
import json
import os
from pathlib import Path

import pytest
from helpers import BAD_FILES as GOLDEN
from helpers import golden_folder

from edgereason import artifact
from edgereason.errors import ArtifactError, UsageError
from edgereason.runtime import calibrate, spec

MANIFEST_CASES = GOLDEN["manifest"]["cases"]
CALIBRATOR_CASES = GOLDEN["calibrator"]["cases"]
SPEC_CASES = GOLDEN["solve_spec"]["cases"]


def build_folder(root: Path, case: dict | None) -> Path:
    """The golden valid folder, then the case's manifest text and file changes."""
    folder = golden_folder(root)
    if case is None:
        return folder
    manifest = base64.b64decode(case["base64"]) if "base64" in case else case["text"].encode()
    (folder / "manifest.json").write_bytes(manifest)
    for name in case.get("delete_files", []):
        (folder / name).unlink()
    for name, text in case.get("extra_files", {}).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    for name, target in case.get("symlinks", {}).items():
        os.symlink(target, folder / name)
    return folder


def test_valid_folder_loads(tmp_path):
    manifest = artifact.read_manifest(build_folder(tmp_path, None))
    assert manifest.arch.vocab_size == 128
    assert manifest.files["model.pte"].bytes == len(GOLDEN["manifest"]["files"]["model.pte"])


@pytest.mark.parametrize("case", MANIFEST_CASES, ids=[c["name"] for c in MANIFEST_CASES])
def test_bad_manifest_refused(tmp_path, case):
    folder = build_folder(tmp_path, case)
    with pytest.raises(ArtifactError) as caught:
        artifact.read_manifest(folder)
    message = str(caught.value)
    assert "\n" not in message
    for words in case["expect"]:
        assert words in message, message


def test_valid_calibrator_loads():
    cal = calibrate.parse_calibrator(json.dumps(GOLDEN["calibrator"]["valid"]), "calibrator.early-exit.json")
    assert cal.features[0] == "mean_conf" and len(cal.weights) == 11
    probed = calibrate.parse_calibrator(json.dumps(GOLDEN["calibrator"]["valid_with_probes"]), "c.json")
    assert set(probed.probes) == {"pik_logit", "answer_state_logit"} and probed.route_threshold == 0.15


@pytest.mark.parametrize("case", CALIBRATOR_CASES, ids=[c["name"] for c in CALIBRATOR_CASES])
def test_bad_calibrator_refused(case):
    with pytest.raises(UsageError) as caught:
        calibrate.parse_calibrator(case["text"], "calibrator.early-exit.json")
    message = str(caught.value)
    assert "\n" not in message
    for words in case["expect"]:
        assert words in message, message


def test_valid_solve_spec_loads():
    loaded = spec.parse_spec(json.dumps(GOLDEN["solve_spec"]["valid"]), "solve.early-exit.json")
    assert loaded.calibrator is not None and loaded.fitted_on is not None


@pytest.mark.parametrize("case", SPEC_CASES, ids=[c["name"] for c in SPEC_CASES])
def test_bad_solve_spec_refused(case):
    with pytest.raises(UsageError) as caught:
        spec.parse_spec(case["text"], "solve.early-exit.json")
    message = str(caught.value)
    assert "\n" not in message and message.startswith("solve.early-exit.json")
    for words in case["expect"]:
        assert words in message, message
