"""The runtimes edgereason is measured against, on the same model: llama.cpp, ONNX Runtime GenAI, and
edgereason's own native runner (`edgereason-run`, runtime/native/) on the same artifact folders, which
shows what the Python decode loop costs.

llama.cpp runs GGUF files made here from the same normalized checkpoint our artifacts come from:
`convert_hf_to_gguf.py` (shipped in llama-cpp-python's source distribution, run with the gguf-py
beside it) writes f32, then `llama_model_quantize` makes Q4_0 and Q8_0, cached under
`$EDGEREASON_HOME/peers/<model>/`. A peer that isn't installed is skipped with the install hint.
"""

import importlib.metadata
import importlib.util
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

from edgereason import cache, native
from edgereason.errors import ExportError
from edgereason.logs import tail, tail_text

LLAMA_CPP = "llama.cpp"
ORT_GENAI = "ort-genai"
NATIVE = "edgereason-run"
PEERS = (LLAMA_CPP, ORT_GENAI, NATIVE)
GGUF_TYPES = {"Q4_0": 2, "Q8_0": 7}  # llama_ftype values (LLAMA_FTYPE_MOSTLY_*)
INSTALL_HINT = {
    LLAMA_CPP: "bash bench/install_llama_cpp.sh (builds llama-cpp-python from source once, ~5-25 min, "
               "and caches the wheel)",
    ORT_GENAI: "pip install -c constraints.txt onnxruntime-genai",
    NATIVE: "edgereason native build --arch x86_64 (or this machine's architecture)",
}
_MODULES = {LLAMA_CPP: "llama_cpp", ORT_GENAI: "onnxruntime_genai"}


@dataclass(frozen=True)
class PeerStatus:
    name: str
    available: bool
    reason: str = ""  # why not, with the fix


def status(name: str) -> PeerStatus:
    if name == NATIVE:
        if not native.binary().is_file():
            return PeerStatus(name, False, f"{native.binary()} is not built: {INSTALL_HINT[name]}")
        return PeerStatus(name, True)
    if importlib.util.find_spec(_MODULES[name]) is None:
        return PeerStatus(name, False, f"{_MODULES[name]} is not installed: {INSTALL_HINT[name]}")
    return PeerStatus(name, True)


def gguf_dir(model_name: str) -> Path:
    return cache.home() / "peers" / model_name


def _converter() -> Path:
    """convert_hf_to_gguf.py from the installed llama-cpp-python's sdist (downloaded once)."""
    version = importlib.metadata.version("llama_cpp_python")
    root = cache.home() / "peers" / f"llama.cpp-convert-{version}"
    script = root / "convert_hf_to_gguf.py"
    if script.is_file():
        return script
    downloads = cache.downloads_dir()
    downloads.mkdir(parents=True, exist_ok=True)
    sdist = downloads / f"llama_cpp_python-{version}.tar.gz"
    if not sdist.is_file():
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                               f"llama-cpp-python=={version}", "-d", str(downloads)], capture_output=True, text=True)
        if proc.returncode != 0 or not sdist.is_file():
            raise ExportError(f"could not download the llama-cpp-python {version} source (for its GGUF "
                              f"converter): {tail_text(proc.stderr)}")
    staging = root.with_name(root.name + ".partial")
    prefix = f"llama_cpp_python-{version}/vendor/llama.cpp/"
    wanted = ("convert_hf_to_gguf.py", "conversion/", "gguf-py/")
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers()
                   if m.name.startswith(prefix) and m.name[len(prefix):].startswith(wanted)]
        for m in members:
            m.name = m.name[len(prefix):]
        tar.extractall(staging, members=members, filter="data")
    staging.rename(root)
    return script


def make_gguf(hf_dir: Path, model_name: str, quant: str) -> Path:
    """`<model>-<quant>.gguf` from the normalized checkpoint, made once and cached."""
    out_dir = gguf_dir(model_name)
    final = out_dir / f"{model_name}-{quant}.gguf"
    if final.is_file():
        return final
    out_dir.mkdir(parents=True, exist_ok=True)
    f32 = out_dir / f"{model_name}-F32.gguf"
    if not f32.is_file():
        partial = f32.with_suffix(".partial")
        log = cache.log_path(f"gguf-convert-{model_name}")
        with log.open("w") as fh:
            proc = subprocess.run([sys.executable, str(_converter()), str(hf_dir), "--outtype", "f32",
                                   "--outfile", str(partial)], stdout=fh, stderr=subprocess.STDOUT)
        if proc.returncode != 0:
            partial.unlink(missing_ok=True)
            raise ExportError(f"convert_hf_to_gguf.py failed on {hf_dir} (log: {log}): {tail(log)}")
        partial.rename(f32)
    _quantize(f32, final, GGUF_TYPES[quant])
    return final


def _quantize(src: Path, dst: Path, ftype: int) -> None:
    """In a child process: llama.cpp prints to fds we don't own, and a crash must not take us down."""
    partial = dst.with_suffix(".partial")
    code = ("import sys, llama_cpp as ll\n"
            "p = ll.llama_model_quantize_default_params()\n"
            f"p.ftype = {ftype}\n"
            "sys.exit(ll.llama_model_quantize(sys.argv[1].encode(), sys.argv[2].encode(), p))\n")
    proc = subprocess.run([sys.executable, "-c", code, str(src), str(partial)], capture_output=True, text=True)
    if proc.returncode != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        raise ExportError(f"llama_model_quantize failed for {dst.name}: {tail_text(proc.stderr)}")
    partial.rename(dst)
