"""The artifact folder contract (DESIGN.md section 5): manifest, checksums, atomic publication.

The same manifest is read by the Python runtime, the C++ runner and the Android app, so it is plain
JSON with explicit fields; `schema_version` changes whenever a field changes meaning.
"""

import contextlib
import dataclasses
import errno
import json
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgereason.errors import ArtifactError, OutputError
from edgereason.models import sha256_file

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
GENAI_CONFIG = "genai_config.json"  # ORT GenAI's own config, next to model.onnx
# Errors that mean "the output location can't take the artifact", as opposed to exporter bugs.
WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO, errno.EFBIG}


@dataclass
class ModelInfo:
    name: str
    source: str  # built-in name, HF dir or GGUF path as the user gave it
    source_sha256: str | None  # of the GGUF/wheel, or of config.json for an HF dir


@dataclass
class ArchInfo:
    architecture: str
    n_layers: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    dim: int
    vocab_size: int
    max_seq_len: int  # KV cache length the artifact was built for
    rope_theta: float


@dataclass
class TokenizerInfo:
    file: str | None  # None: exported tokenizer-free (random weights of a real config); token ids in
    bos_id: int | None
    add_bos: bool  # prepend bos_id to a prompt (SmolLM2: no)
    eos_ids: list[int]
    chat_template: str | None


@dataclass
class RecipeInfo:
    name: str
    details: dict[str, Any]


@dataclass
class IOInfo:
    """How to call the model file: method name, inputs and outputs, and which positions get logits."""

    method: str
    inputs: list[str]
    outputs: list[str]
    logits: str  # "last" | "all"


@dataclass
class FileEntry:
    bytes: int
    sha256: str


@dataclass
class Quality:
    dataset: str
    n_tokens: int
    window: int
    ppl: float
    ppl_ref: float
    kld_mean: float
    top1_agreement: float
    passed: bool
    forced: bool = False


@dataclass
class Manifest:
    model: ModelInfo
    arch: ArchInfo
    tokenizer: TokenizerInfo
    format: str  # "pte" | "onnx"
    recipe: RecipeInfo
    io: IOInfo
    files: dict[str, FileEntry] = field(default_factory=dict)
    quality: Quality | None = None
    created_by: dict[str, str] = field(default_factory=dict)
    export_seconds: float | None = None
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def tokenizer_path(self, folder: Path) -> Path | None:
        return folder / self.tokenizer.file if self.tokenizer.file else None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Manifest":
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ArtifactError(
                f"manifest schema_version {version!r} is not {SCHEMA_VERSION}: re-export the artifact "
                "with this edgereason version"
            )
        parts = {
            "model": ModelInfo, "arch": ArchInfo, "tokenizer": TokenizerInfo, "recipe": RecipeInfo,
            "io": IOInfo, "quality": Quality,
        }
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            if f.name in parts and value is not None:
                value = parts[f.name](**value)
            elif f.name == "files":
                value = {name: FileEntry(**entry) for name, entry in value.items()}
            kwargs[f.name] = value
        try:
            return cls(**kwargs)
        except TypeError as e:
            raise ArtifactError(f"manifest.json is incomplete ({e}): re-export the artifact") from e


def record_files(folder: Path, manifest: Manifest) -> None:
    """Fill `manifest.files` with the size and sha256 of every file in the folder but the manifest."""
    manifest.files = {
        p.relative_to(folder).as_posix(): FileEntry(p.stat().st_size, sha256_file(p))
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }


def write_manifest(folder: Path, manifest: Manifest) -> None:
    tmp = folder / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest.to_dict(), indent=2) + "\n")
    tmp.replace(folder / MANIFEST)


def read_manifest(folder: Path, *, verify: bool = True, verify_sha256: bool = True) -> Manifest:
    """Read `folder/manifest.json`; check every file's size, and its sha256 unless opted out.

    Raises:
        ArtifactError: missing folder or manifest, unreadable JSON, a missing file or a mismatch.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ArtifactError(f"{folder} is not an artifact folder: pass a folder made by `edgereason export`")
    path = folder / MANIFEST
    if not path.is_file():
        raise ArtifactError(f"{folder} has no {MANIFEST}: pass a folder made by `edgereason export`")
    try:
        manifest = Manifest.from_dict(json.loads(path.read_text()))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ArtifactError(f"{path} is not valid JSON ({e}): re-export the artifact") from e
    if verify:
        verify_files(folder, manifest, sha256=verify_sha256)
    return manifest


def verify_files(folder: Path, manifest: Manifest, *, sha256: bool = True) -> None:
    for name, entry in manifest.files.items():
        path = folder / name
        if not path.is_file():
            raise ArtifactError(f"{folder.name}: {name} is missing: re-export or copy the whole folder")
        size = path.stat().st_size
        if size != entry.bytes:
            raise ArtifactError(
                f"{folder.name}: {name} is {size} bytes, manifest says {entry.bytes}: the copy is incomplete "
                "or corrupt; copy or re-export it"
            )
        if sha256 and sha256_file(path) != entry.sha256:
            raise ArtifactError(
                f"{folder.name}: {name} fails its sha256 check: the file is corrupt; copy or re-export it"
            )


@contextlib.contextmanager
def staging(final: Path, *, overwrite: bool) -> Iterator[Path]:
    """Yield a temporary sibling of `final`; rename it into place only if the block completes.

    On any exception, Ctrl-C included, the temporary folder is removed and `final` is untouched.
    """
    final = Path(final)
    if final.exists() and not overwrite:
        raise OutputError(f"{final} already exists: pass --overwrite to replace it, or choose another -o")
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.parent / f".{final.name}.partial"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
    except OSError as e:
        raise OutputError(f"cannot write to {final.parent} ({e.strerror}): choose another -o") from e
    try:
        yield tmp
        old = final.parent / f".{final.name}.old"
        if final.exists():
            final.replace(old)
        tmp.replace(final)
        if old.exists():
            shutil.rmtree(old)
    except OSError as e:
        if e.errno not in WRITE_ERRNOS:
            raise
        raise OutputError(f"writing {final} failed ({e.strerror}): free disk space or choose another -o") from e
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
