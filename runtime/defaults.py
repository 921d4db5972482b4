"""edgereason/specs/solve.json, the default solve spec, as parsed JSON: the one place of every unfitted default of a
solve (prompts, shots, thresholds, sampling, the trace features' order). `runtime.spec` turns it into a SolveSpec;
the dataclasses of `runtime.reason` and the answer letters of `runtime.answers` take their defaults from it, as the
C++ runner (compiled in) and the Java core (classpath resource) do."""

import json
from importlib import resources
from typing import Any

DEFAULT_SPEC: dict[str, Any] = json.loads(resources.files("edgereason").joinpath("specs/solve.json").read_text("utf-8"))
SETTINGS: dict[str, Any] = DEFAULT_SPEC["settings"]
EXIT: dict[str, Any] = SETTINGS["exit"]
SAMPLING: dict[str, Any] = SETTINGS["sampling"]
ANSWERS: dict[str, Any] = DEFAULT_SPEC["answers"]
