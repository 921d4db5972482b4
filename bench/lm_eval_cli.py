"""lm-eval's own command line with the `edgereason` model registered and the local task configs included:

    python -m edgereason.bench.lm_eval_cli --model edgereason --model_args artifact=FOLDER,threads=1 \\
        --tasks arc_easy,gsm8k,wikitext --limit 100 --output_path out/

lm-eval 0.4.13 discovers external models only by import (no entry points), so the plain `lm_eval` command does not
know `--model edgereason`; this is that command with `edgereason.bench.lm_eval_model` imported first. Unless you give
`--include_path`, the `arc_easy`, `gsm8k` and `wikitext` configs of `lm_eval_tasks` are written to a temporary folder
and included, so those three names read the local data files (they override lm-eval's built-in ones of the same name;
every other task is lm-eval's own and reads the hub, which is switched off here: HF_HUB_OFFLINE=1).
"""

import sys
import tempfile
from pathlib import Path

from edgereason import datafiles
from edgereason.bench import lm_eval_tasks


def main(argv: list[str] | None = None) -> None:
    """Run lm-eval's CLI on `argv` (default: this process's arguments)."""
    args = list(sys.argv[1:] if argv is None else argv)
    lm_eval_tasks.offline_environment()
    from lm_eval.__main__ import cli_evaluate

    from edgereason.bench import lm_eval_model  # noqa: F401  (registers "edgereason")

    with tempfile.TemporaryDirectory(prefix="edgereason-lm-eval-") as tmp:
        if "--include_path" not in args and not any(a.startswith("--include_path=") for a in args):
            files = {}
            for name, task in lm_eval_tasks.TASKS.items():
                found = {split: datafiles.find(file) for split, file in task.data_files.items()}
                if all(found.values()):
                    files[name] = {split: where[1] for split, where in found.items()}
                else:
                    print(f"edgereason: {name} has no local data (edgereason data pull): lm-eval's own config, which "
                          "reads the hub, is left in place", file=sys.stderr)
            args += ["--include_path", str(lm_eval_tasks.write_configs(Path(tmp) / "tasks", files))]
        sys.argv = [sys.argv[0] or "lm_eval", *args]
        cli_evaluate()


if __name__ == "__main__":
    main()
