"""Regenerate probes.json: hidden states and trace features run through the calibrator with probes of
bad_files.json (`valid_with_probes`), with the probe logits, P(IK) and P(correct) that runtime/calibrate.py computes.
The Java core (Calibrator.java) must reproduce them to 1e-6; tests/test_probes.py holds Python to the file.
Run: python tests/golden/make_probes.py (only when the probe or calibrator arithmetic changes).
"""

import json
from pathlib import Path

import numpy as np

from edgereason.runtime.calibrate import check_calibrator

HERE = Path(__file__).parent
OUT = HERE / "probes.json"


def cases() -> list[dict]:
    cal = check_calibrator(json.loads((HERE / "bad_files.json").read_text())["calibrator"]["valid_with_probes"],
                           "bad_files.json")
    rng = np.random.default_rng(15)
    out = []
    for _ in range(6):
        states = {"prompt": rng.normal(scale=3.0, size=3).round(6), "answer": rng.normal(scale=3.0, size=3).round(6)}
        features = {name: round(float(rng.normal()), 6) for name in cal.features if name not in cal.probes}
        logits = cal.probe_features(states)
        out.append({"prompt": states["prompt"].tolist(), "answer": states["answer"].tolist(), "features": features,
                    "probe_logits": logits, "p_ik": cal.p_ik(states["prompt"]),
                    "p_correct": float(cal.predict([features | logits])[0])})
    return out


def main() -> None:
    OUT.write_text(json.dumps({"about": __doc__.strip().splitlines()[0], "calibrator": "bad_files.json "
                               "calibrator.valid_with_probes", "cases": cases()}, indent=1) + "\n")
    print(f"{OUT}: {len(cases())} cases")


if __name__ == "__main__":
    main()
