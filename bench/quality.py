"""`bench quality`: the accuracy gate's numbers for existing artifacts, side by side.

Each artifact is scored through the backend users run against the fp32 eager reference on its own
normalized checkpoint (one reference per model, loaded once), on the same WikiText-2 tokens.
"""

from collections.abc import Callable
from pathlib import Path

from edgereason import models
from edgereason.artifact import read_manifest
from edgereason.export import hf
from edgereason.quant import gate
from edgereason.quant.recipes import get_recipe
from edgereason.runtime import backends


def score(folders: list[Path], config: gate.GateConfig, *, threads: int | None = None,
          on_start: Callable[[str, int], None] | None = None,
          on_window: Callable[[int], None] | None = None) -> list[dict]:
    """One row per artifact: ppl, ppl of fp32, their ratio, mean KL, top-1 agreement, and the gate's verdict."""
    references: dict[str, tuple[backends.Backend, Path]] = {}
    rows = []
    for folder in folders:
        manifest = read_manifest(folder)
        if manifest.model.name not in references:
            hf_dir = hf.normalize(models.resolve(manifest.model.source))
            info = backends.info_from_manifest(manifest, format="eager")
            references[manifest.model.name] = (backends.load_eager(hf_dir, info, num_threads=threads), hf_dir)
        reference, hf_dir = references[manifest.model.name]
        tokens = gate.read_tokens(manifest.tokenizer_path(folder), config.data, config.num_tokens,
                                  vocab_size=manifest.arch.vocab_size)
        candidate = backends.load(folder, verify_sha256=False, num_threads=threads)  # verified just above
        if on_start:
            on_start(folder.name, len(tokens))
        stats = gate.compare(reference, candidate, tokens, window=config.window, on_window=on_window)
        limits = get_recipe(manifest.recipe.name).gate
        broken = gate.failures(stats, limits)
        rows.append({
            "artifact": folder.name, "format": manifest.format, "recipe": manifest.recipe.name,
            "size_mib": sum(e.bytes for e in manifest.files.values()) / 2**20,
            **stats, "ppl_ratio": stats["ppl"] / stats["ppl_ref"],
            "gate": "pass" if not broken else "FAIL: " + "; ".join(broken), "tokens": len(tokens),
        })
    return rows
