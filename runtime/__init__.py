"""The runtime: one decode loop over eager torch, .pte and .onnx backends, with confidence.

    from edgereason.runtime import open_model, generate, solve
    model = open_model("artifacts/smollm2-135m-int4-pte")
    result = solve(model.backend, model.text, "A farmer has 12 sheep ...", spec=model.spec("early-exit"))
"""

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from edgereason import artifact
from edgereason.artifact import Manifest
from edgereason.errors import UsageError
from edgereason.runtime.backends import Backend, ModelInfo, load, load_eager
from edgereason.runtime.calibrate import Calibrator
from edgereason.runtime.generate import Step, generate
from edgereason.runtime.reason import SolveConfig, SolveResult, Strategy, solve
from edgereason.runtime.sampling import SamplingConfig, make_sampler
from edgereason.runtime.spec import SolveSpec, check_artifact, default_spec, load_spec, spec_path
from edgereason.runtime.text import Text

__all__ = ["Backend", "LoadedModel", "ModelInfo", "SamplingConfig", "SolveConfig", "SolveResult", "SolveSpec", "Step",
           "Strategy", "Text", "generate", "load", "load_eager", "make_sampler", "open_model", "solve"]


@dataclass
class LoadedModel:
    """An artifact opened for use: its backend, tokenizer/chat template and manifest."""

    folder: Path
    manifest: Manifest
    backend: Backend
    maybe_text: Text | None  # None: a tokenizer-free artifact

    @property
    def text(self) -> Text:
        if self.maybe_text is None:
            raise UsageError(f"{self.folder} was exported without a tokenizer: give token ids "
                             f"(`edgereason run {self.folder} --tokens 1,2,3`), or export from a checkpoint "
                             "with tokenizer.json")
        return self.maybe_text

    @property
    def model_sha256(self) -> str:
        """sha256 of the model file(s): what a calibrator is tied to."""
        return model_sha256(self.manifest)

    def spec(self, strategy: str) -> SolveSpec:
        """The solve spec for `strategy`: the artifact's `solve.<strategy>.json` (from `edgereason calibrate`, with
        its calibrator), else the defaults (edgereason/specs/solve.json) with this strategy, bound to this artifact's
        chat template. UsageError if the file is another artifact's."""
        found = load_spec(self.folder, self.model_sha256, strategy)
        if found is not None:
            return self.checked_spec(found, f"{self.folder.name}/{spec_path(self.folder, strategy).name}")
        default = default_spec()
        return self.checked_spec(default.replace(config=dataclasses.replace(default.config,
                                                                            strategy=Strategy(strategy))), "defaults")

    def checked_spec(self, spec: SolveSpec, label: str) -> SolveSpec:
        """`spec` for this artifact: refused if it is another artifact's or its rendered templates are not this
        artifact's (`SolveSpec.check_template`); bound to this artifact's chat template if it has none."""
        check_artifact(spec, self.model_sha256, label)
        if self.maybe_text is None:
            return spec
        if all(p.template is None for p in spec.prompts.values()):
            return spec.bind(self.text, self.model_sha256)
        spec.check_template(self.text, label)
        return spec

    def calibrator(self, strategy: str) -> Calibrator | None:
        """The calibrator in this artifact's spec for `strategy`, if any."""
        return self.spec(strategy).calibrator


def model_sha256(manifest: Manifest) -> str:
    return "+".join(e.sha256 for name, e in sorted(manifest.files.items()) if name.startswith("model."))


def open_model(folder: Path | str, *, num_threads: int | None = None, verify_sha256: bool = True,
               hidden: bool = True) -> LoadedModel:
    """Verify and open an artifact folder, with its tokenizer and chat template.

    Raises:
        ArtifactError: missing or corrupt folder.
    """
    folder = Path(folder)
    backend = load(folder, verify_sha256=verify_sha256, num_threads=num_threads, hidden=hidden)
    manifest = artifact.read_manifest(folder, verify=False)
    tok = manifest.tokenizer
    text = Text(folder, chat_template=tok.chat_template, add_bos=tok.add_bos, bos_id=tok.bos_id) if tok.file else None
    return LoadedModel(folder, manifest, backend, text)
