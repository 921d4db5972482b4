"""The artifact folder contract (DESIGN.md section 5): manifest, checksums, atomic publication.

The same manifest is read by the Python runtime, the C++ runner and the Android app, so it is plain
JSON with explicit fields; `schema_version` changes whenever a field changes meaning.
"""

import contextlib
import dataclasses
import errno
import hashlib
import json
import os
import shutil
import stat
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from edgereason import schema
from edgereason.errors import ArtifactError, OutputError
from edgereason.models import sha256_file

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
GENAI_CONFIG = "genai_config.json"  # ORT GenAI's own config, next to model.onnx
PROBE_SPEC = json.loads(resources.files("edgereason").joinpath("specs/probes.json").read_text("utf-8"))
HIDDEN_OUTPUT: str = PROBE_SPEC["onnx_output"]  # the .onnx graph output with the probes' hidden state


def probe_layer(n_layers: int) -> int:
    """The decoder layer whose input (the residual stream) every format outputs for the probes
    (edgereason/specs/probes.json): the same index as transformers' `hidden_states[i]`."""
    return min(max(1, round(PROBE_SPEC["layer_fraction"] * n_layers)), n_layers - 1)
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
        """A Manifest from a dict that already passed `check_manifest` (the schema decides, not TypeErrors)."""
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
        return cls(**kwargs)

    def model_file(self) -> str:
        """The listed file the backend opens: model.pte, or the .onnx graph that io.method names."""
        return "model.pte" if self.format == "pte" else self.io.method

    def required_files(self) -> list[str]:
        """Files a backend of this format opens; each must be listed (and so verified)."""
        names = [self.model_file()]
        if self.format == "onnx":
            names.append(GENAI_CONFIG)
        if self.tokenizer.file:
            names.append(self.tokenizer.file)
        return names


FIX = "re-export the artifact"


def check_manifest(data: Any, label: str = MANIFEST) -> Manifest:
    """Validate parsed manifest JSON against manifest.schema.json and the rules across its fields.

    The same rules, in the same order, are applied by the C++ runner (runtime/native/src/manifest.cpp) and the
    Java core (Manifest.java); tests/golden/bad_files.json holds the cases all three must refuse.

    Raises:
        ArtifactError: naming the field and the fix.
    """
    version = data.get("schema_version") if isinstance(data, dict) else None
    if isinstance(version, int) and not isinstance(version, bool) and version != SCHEMA_VERSION:
        raise ArtifactError(f"{label}: schema_version {str(version)[:20]} is not {SCHEMA_VERSION}: "
                            "re-export the artifact with this edgereason version")
    schema.validate(data, "manifest", label=label, fix=FIX, error=ArtifactError)
    m = Manifest.from_dict(data)
    a, t = m.arch, m.tokenizer

    def bad(field_name: str, problem: str) -> ArtifactError:
        return ArtifactError(f"{label}: {field_name}: {problem}: {FIX}")

    if a.n_heads % a.n_kv_heads:
        raise bad("arch.n_kv_heads", f"{a.n_kv_heads} does not divide arch.n_heads {a.n_heads}")
    for i, eos in enumerate(t.eos_ids):
        if eos >= a.vocab_size:
            raise bad(f"tokenizer.eos_ids[{i}]", f"{eos} is outside the vocabulary of {a.vocab_size}")
    if t.bos_id is not None and t.bos_id >= a.vocab_size:
        raise bad("tokenizer.bos_id", f"{t.bos_id} is outside the vocabulary of {a.vocab_size}")
    if m.format == "onnx" and not m.io.method.endswith(".onnx"):
        raise bad("io.method", f"{m.io.method!r} is not an .onnx file name")
    for name in m.required_files():
        if name not in m.files:
            raise bad("files", f"{name} is not listed, so it could not be verified")
    return m


def record_files(folder: Path, manifest: Manifest) -> None:
    """Fill `manifest.files` with the size and sha256 of every file in the folder but the manifest."""
    manifest.files = {
        p.relative_to(folder).as_posix(): FileEntry(p.stat().st_size, sha256_file(p))
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }


def write_atomic(path: Path, data: bytes) -> None:
    """Write `path` through a temporary name beside it, so a reader never sees it half-written."""
    path = Path(path)
    tmp = path.parent / f".{path.name}.tmp"
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path} ({e.strerror}): free disk space or check permissions") from e


def add_file(folder: Path, name: str, data: bytes) -> None:
    """Write `name` into a verified artifact folder and list it in the manifest (a solve spec, after export)."""
    manifest = read_manifest(folder, verify_sha256=False)
    write_atomic(folder / name, data)
    manifest.files[name] = FileEntry(len(data), hashlib.sha256(data).hexdigest())
    write_manifest(folder, manifest)


def write_manifest(folder: Path, manifest: Manifest) -> None:
    tmp = folder / (MANIFEST + ".tmp")
    tmp.write_text(schema.dumps(manifest.to_dict(), indent=2) + "\n")
    tmp.replace(folder / MANIFEST)


def read_manifest(folder: Path, *, verify: bool = True, verify_sha256: bool = True) -> Manifest:
    """Read and validate `folder/manifest.json`; check the folder holds exactly the listed plain files, each of
    the listed size, and with its sha256 unless opted out.

    Raises:
        ArtifactError: missing folder or manifest, invalid JSON or field, an unlisted, missing, linked or
            mismatched file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ArtifactError(f"{folder} is not an artifact folder: pass a folder made by `edgereason export`")
    path = folder / MANIFEST
    if not path.is_file():
        raise ArtifactError(f"{folder} has no {MANIFEST}: pass a folder made by `edgereason export`")
    data = schema.read_json(path, what="an artifact manifest", fix=FIX, error=ArtifactError)
    manifest = check_manifest(data, f"{folder.resolve().name}/{MANIFEST}")
    if verify:
        verify_files(folder, manifest, sha256=verify_sha256)
    return manifest


def folder_files(folder: Path) -> dict[str, os.stat_result]:
    """Every entry under `folder` (relative posix name → lstat), refusing links and anything but plain files.

    Links are refused whatever they point at: export never writes one, and a link is how a name that looks
    inside the folder reads a file outside it.
    """
    found: dict[str, os.stat_result] = {}
    label = folder.resolve().name  # "." has no name of its own
    for root, dirs, names in os.walk(folder, followlinks=False):
        for name in [*dirs, *names]:
            full = Path(root) / name
            rel = full.relative_to(folder).as_posix()
            if not rel.isprintable():  # a newline in a name would split the one-line message
                raise ArtifactError(f"{label}: {schema.dumps(rel)} is not a plain file name: remove "
                                    "it, or re-export the artifact")
            st = full.lstat()
            if stat.S_ISLNK(st.st_mode):
                raise ArtifactError(f"{label}: {rel} is a symbolic link: an artifact folder holds plain files "
                                    "only; copy the real file in (cp -L) or re-export")
            if stat.S_ISREG(st.st_mode):
                found[rel] = st
            elif not stat.S_ISDIR(st.st_mode):
                raise ArtifactError(f"{label}: {rel} is not a regular file: remove it or re-export")
    return found


def verify_files(folder: Path, manifest: Manifest, *, sha256: bool = True) -> None:
    """The folder's files are exactly the listed ones (plus the manifest), with the listed sizes and sha256."""
    present = folder_files(folder)
    label = folder.resolve().name
    present.pop(MANIFEST, None)
    for name in present:
        if name not in manifest.files:
            raise ArtifactError(f"{label}: {name} is in the folder but not in the manifest, so it cannot be "
                                "verified: remove it, or re-export the artifact")
    for name, entry in manifest.files.items():
        if name not in present:
            raise ArtifactError(f"{label}: {name} is missing: re-export or copy the whole folder")
        size = present[name].st_size
        if size != entry.bytes:
            raise ArtifactError(
                f"{label}: {name} is {size} bytes, manifest says {entry.bytes}: the copy is incomplete "
                "or corrupt; copy or re-export it"
            )
        if sha256 and sha256_file(folder / name) != entry.sha256:
            raise ArtifactError(
                f"{label}: {name} fails its sha256 check: the file is corrupt; copy or re-export it"
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
        if old.exists():  # left by an earlier run that died between the two renames
            shutil.rmtree(old)
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
