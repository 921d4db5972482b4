"""Open an artifact folder (or an HF checkpoint, for the eager reference) as a Backend."""

from pathlib import Path

from edgereason import artifact
from edgereason.artifact import Manifest
from edgereason.errors import ArtifactError

from .base import Backend, ContextOverflowError, ModelInfo

__all__ = ["Backend", "ContextOverflowError", "ModelInfo", "load", "load_eager", "info_from_manifest"]


def info_from_manifest(manifest: Manifest, *, format: str | None = None) -> ModelInfo:
    return ModelInfo(
        name=manifest.model.name, format=format or manifest.format, recipe=manifest.recipe.name,
        vocab_size=manifest.arch.vocab_size, max_seq_len=manifest.arch.max_seq_len,
        eos_ids=tuple(manifest.tokenizer.eos_ids), bos_id=manifest.tokenizer.bos_id,
        add_bos=manifest.tokenizer.add_bos,
    )


def load(folder: Path, *, verify_sha256: bool = True, num_threads: int | None = None, hidden: bool = True) -> Backend:
    """Verify an artifact folder against its manifest and open its model file (`hidden=False`: leave a hidden-state
    output unread).

    Raises:
        ArtifactError: missing/corrupt folder, or a format this version cannot run.
    """
    folder = Path(folder)
    manifest = artifact.read_manifest(folder, verify_sha256=verify_sha256)
    info = info_from_manifest(manifest)
    model_file = manifest.model_file()  # listed, so verified (artifact.check_manifest)
    try:
        if manifest.format == "pte":
            from .pte import PteBackend

            return PteBackend(folder / model_file, info, num_threads=num_threads)
        if manifest.format == "onnx":
            from .onnx import OnnxBackend, check_external_data

            check_external_data(folder, model_file, manifest.files)
            return OnnxBackend(folder, model_file, info, num_threads=num_threads, hidden=hidden)
    except Exception as e:
        # ExecuTorch raises RuntimeError; onnxruntime its own Fail/InvalidArgument/InvalidGraph classes.
        if not isinstance(e, RuntimeError) and not type(e).__module__.startswith("onnxruntime"):
            raise
        raise ArtifactError(f"{folder.name}: the model file does not load ({e!s:.200}): re-export it") from e
    raise ArtifactError(f"{folder.name}: unknown format '{manifest.format}' (known: pte, onnx)")


def load_eager(hf_dir: Path, info: ModelInfo, *, num_threads: int | None = None) -> Backend:
    """The fp32 eager reference on a normalized HF checkpoint."""
    from .eager import EagerBackend

    return EagerBackend(Path(hf_dir), info, num_threads=num_threads)
