"""lm-evaluation-harness's own `arc_easy`, `gsm8k` and `wikitext` tasks, reading the local data files.

Each task config is lm-eval's (pinned version) included as is: the same prompts, few-shot split, filters, metrics and
task version, so our numbers compare with anyone's `lm_eval --tasks arc_easy`. Only where the documents come from
changes: `dataset_path: json` / `text` with `data_files` found by `datafiles.locate`, never a hub download. The paths
differ per machine, so the configs are written at run time into a folder the caller owns (`write_configs`), which
lm-eval's TaskManager reads as an `include_path`.

The local files are the public releases, not the hub's conversions, so two tasks get a `process_docs` that rebuilds
the hub's records: ARC's `question{stem, choices[{text, label}]}` becomes `question` + `choices{text[], label[]}`
(allenai/ai2_arc), and the WikiText-2 raw test file is cut into its 62 articles as EleutherAI/wikitext_document_level
does (a new article at each top-level ` = Title = ` line). GSM8K's files are the hub's records already.
"""

import os
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from edgereason import cache, datafiles
from edgereason.errors import UsageError

LM_EVAL_VERSION = "0.4.13"  # the version the included task configs and our model class are written against
# Generation requests decoded together on .onnx. 1: gsm8k's 5-shot prompts (~900 tokens, different shots for every
# question) make its generation prefill-bound, and a lane's prefill runs alone: 8 at once measured 74 s against
# 70 s one after another (int4, 1 thread, 8 questions, the same 1,145 tokens).
DEFAULT_BATCH_SIZE = 1


@dataclass(frozen=True)
class LocalTask:
    """Attributes:
    name: lm-eval's task name, kept so results and logs read as lm-eval's.
    upstream: lm-eval's config, relative to `lm_eval/tasks/`, included unchanged.
    data_files: split → registry file name.
    overrides: YAML lines that replace the upstream's dataset source (the data files are appended).
    """

    name: str
    upstream: str
    data_files: dict[str, str]
    overrides: str


TASKS = {
    t.name: t for t in (
        LocalTask("arc_easy", "arc/arc_easy.yaml", {"test": "arc_easy_test.jsonl"},
                  # ARC-Easy's train/validation splits are not in the data registry: 0-shot only
                  "dataset_path: json\ndataset_name: null\ntraining_split: null\nvalidation_split: null\n"
                  "process_docs: !function edgereason.bench.lm_eval_tasks.arc_docs\n"),
        LocalTask("gsm8k", "gsm8k/gsm8k.yaml", {"train": "gsm8k_train.jsonl", "test": "gsm8k_test.jsonl"},
                  "dataset_path: json\ndataset_name: null\n"),
        LocalTask("wikitext", "wikitext/wikitext.yaml", {"test": "wikitext2_test_raw.txt"},
                  "dataset_path: text\ndataset_name: null\ntraining_split: null\nvalidation_split: null\n"
                  "process_docs: !function edgereason.bench.lm_eval_tasks.wikitext_docs\n"),
    )
}
DEFAULT_TASKS = tuple(TASKS)


def parse_tasks(value: str) -> list[str]:
    """`arc_easy,gsm8k` → names, checked (before anything loads).

    Raises:
        UsageError: an unknown or empty name.
    """
    names = [part.strip() for part in value.split(",")]
    for name in names:
        if name not in TASKS:
            raise UsageError(f"unknown task '{name}': use {', '.join(TASKS)} (comma-separated)")
    return list(dict.fromkeys(names))


def locate_files(names: Sequence[str]) -> dict[str, dict[str, Path]]:
    """Each task's data files by split, by the data lookup order.

    Raises:
        UsageError: a file no folder has (the message names `edgereason data pull SET`).
    """
    return {name: {split: datafiles.locate(file, option=None) for split, file in TASKS[name].data_files.items()}
            for name in names}


def offline_environment() -> None:
    """No hub access from `datasets`, `huggingface_hub` or `evaluate`, and the datasets cache under
    $EDGEREASON_HOME. Read when those libraries are imported: call it first."""
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_EVALUATE_OFFLINE"] = "1"
    os.environ.setdefault("HF_DATASETS_CACHE", str(cache.home() / "hf-datasets"))
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")  # lm-eval and we draw our own


def upstream_config(task: LocalTask) -> Path:
    """lm-eval's own YAML for `task`, from the installed package.

    Raises:
        UsageError: lm-eval is missing or is a version without that file.
    """
    try:
        path = Path(str(resources.files("lm_eval") / "tasks" / task.upstream))
    except ModuleNotFoundError:
        raise UsageError(f'lm-evaluation-harness is not installed: pip install -c constraints.txt -e ".[eval]" '
                         f"(lm_eval=={LM_EVAL_VERSION})") from None
    if not path.is_file():
        raise UsageError(f"the installed lm_eval has no tasks/{task.upstream}: install lm_eval=={LM_EVAL_VERSION}")
    return path


def write_configs(folder: Path, files: dict[str, dict[str, Path]]) -> Path:
    """Write one `<task>.yaml` per task into `folder`: lm-eval's config included, its data source replaced.

    Returns:
        `folder`, to pass as TaskManager's `include_path` (or the CLI's `--include_path`).
    """
    folder.mkdir(parents=True, exist_ok=True)
    for name, splits in files.items():
        task = TASKS[name]
        data = "".join(f"    {split}: {_yaml_string(path.resolve())}\n" for split, path in splits.items())
        (folder / f"{name}.yaml").write_text(
            f"include: {_yaml_string(upstream_config(task))}\ntask: {name}\n{task.overrides}"
            f"dataset_kwargs:\n  data_files:\n{data}"
            + ("  sample_by: document\n" if task.overrides.startswith("dataset_path: text") else ""))
    return folder


def _yaml_string(path: Path) -> str:
    """A path as a double-quoted YAML scalar (JSON string syntax is valid YAML)."""
    import json

    return json.dumps(str(path))


def arc_docs(dataset):
    """ARC's release schema → allenai/ai2_arc's (what lm-eval's arc_easy.yaml templates read)."""

    def convert(doc: dict) -> dict:
        choices = doc["question"]["choices"]
        return {"id": doc["id"], "question": doc["question"]["stem"],
                "choices": {"text": [c["text"] for c in choices], "label": [c["label"] for c in choices]},
                "answerKey": doc["answerKey"]}

    return dataset.map(convert, remove_columns=dataset.column_names)


def split_articles(text: str) -> list[str]:
    """WikiText raw text → its articles, as EleutherAI/wikitext_document_level builds its `page`s.

    A line whose stripped text (after "= = =" → "===", "= =" → "==") reads `= Title =` starts an article; the lines
    are joined back with "\\n"; whitespace-only text before the first title is dropped.
    """
    pages, lines = [], []
    for line in text.split("\n"):
        title = line.replace("= = =", "===").replace("= =", "==").strip()
        if title.startswith("= ") and title.endswith(" ="):
            if "\n".join(lines).strip():
                pages.append("\n".join(lines))
            lines = []
        lines.append(line)
    pages.append("\n".join(lines))
    return pages


def wikitext_docs(dataset):
    """The whole raw test file (one `text` row) → one `page` row per article."""
    import datasets

    return datasets.Dataset.from_dict({"page": [p for row in dataset["text"] for p in split_articles(row)]})
