"""The runtime: one decode loop over eager torch, .pte and .onnx backends, with confidence.

    from edgereason.runtime import open_model, generate, solve
    model = open_model("artifacts/smollm2-135m-int4-pte")
    result = solve(model.backend, model.text, "A farmer has 12 sheep ...", calibrator=model.calibrator("early-exit"))
"""

from dataclasses import dataclass
from pathlib import Path

from edgereason import artifact
from edgereason.artifact import Manifest
from edgereason.errors import UsageError
from edgereason.runtime.backends import Backend, ModelInfo, load, load_eager
from edgereason.runtime.calibrate import Calibrator, load_calibrator
from edgereason.runtime.generate import Step, generate
from edgereason.runtime.reason import SolveConfig, SolveResult, Strategy, solve
from edgereason.runtime.sampling import SamplingConfig, make_sampler
from edgereason.runtime.text import Text

__all__ = ["Backend", "LoadedModel", "ModelInfo", "SamplingConfig", "SolveConfig", "SolveResult", "Step", "Strategy",
           "Text", "generate", "load", "load_eager", "make_sampler", "open_model", "solve"]


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

    def calibrator(self, strategy: str) -> Calibrator | None:
        """The calibrator fitted for `strategy` on this artifact, if any (UsageError if it is another's)."""
        return load_calibrator(self.folder, self.model_sha256, strategy)


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
