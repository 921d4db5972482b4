"""A report folder: report.md (tables + embedded PNGs), results.json, results.csv, machine facts.

Built in a hidden staging folder and renamed into `<root>/<timestamp>/` when complete, so an
interrupted benchmark leaves no half-written report behind.
"""

import csv
import json
import math
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")  # files only; no display here or in CI
import matplotlib.pyplot as plt  # noqa: E402

from edgereason import schema  # noqa: E402
from edgereason.errors import UsageError  # noqa: E402


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    fmt: Callable[[Any], str] = str


def num(digits: int) -> Callable[[Any], str]:
    def fmt(value: Any) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "–"
        return f"{value:,.{digits}f}"

    return fmt


def pct(value: Any) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.1%}"


def cells(row: dict, columns: Sequence[Column]) -> list[str]:
    """A row's values formatted for display; a missing value is a dash."""
    return [c.fmt(row[c.key]) if row.get(c.key) is not None else "–" for c in columns]


def markdown_table(rows: Sequence[dict], columns: Sequence[Column]) -> str:
    lines = ["| " + " | ".join(c.header for c in columns) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(columns))) + "|"]
    lines += ["| " + " | ".join(cells(row, columns)) + " |" for row in rows]
    return "\n".join(lines)


def check_output(root: Path) -> None:
    """Refuse, before a benchmark runs, a report folder that can't be written (its results would be lost).

    Raises:
        UsageError: `root` is a file, or can't be created or written.
    """
    if root.exists() and not root.is_dir():
        raise UsageError(f"--output {root} is a file: pass a folder to write the report folder in")
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".write-check-"):
            pass
    except OSError as e:
        raise UsageError(f"cannot write to --output {root} ({e.strerror}): choose another folder") from None


class Report:
    """Collects sections, then writes the folder in one step (`publish`)."""

    def __init__(self, root: Path, title: str, facts: dict):
        self.root = root
        self.stamp = time.strftime("%Y%m%d-%H%M%S")
        check_output(root)
        self.staging = root / f".{self.stamp}.partial"
        shutil.rmtree(self.staging, ignore_errors=True)
        self.staging.mkdir()
        self.facts = facts
        self.lines = [f"# {title}", "", self._facts_md(facts), ""]

    @staticmethod
    def _facts_md(facts: dict) -> str:
        versions = ", ".join(f"{k} {v}" for k, v in facts.get("versions", {}).items())
        load = " / ".join(str(x) for x in facts.get("load_average", []))
        return (f"Machine: {facts.get('cpu')} ({facts.get('arch')}), {facts.get('usable_cores')} usable cores, "
                f"{facts.get('memory_gib')} GiB; threads {facts.get('threads')}; load average before the run "
                f"{load}; {facts.get('time')}; commit {facts.get('git_commit')}.  \nSoftware: Python "
                f"{facts.get('python')}, {versions}.")

    def text(self, markdown: str) -> None:
        self.lines += [markdown, ""]

    def table(self, title: str, rows: Sequence[dict], columns: Sequence[Column]) -> str:
        md = markdown_table(rows, columns)
        self.lines += [f"## {title}", "", md, ""]
        return md

    def figure(self, name: str, fig: plt.Figure, caption: str) -> None:
        fig.savefig(self.staging / name, dpi=120, bbox_inches="tight")
        plt.close(fig)
        self.lines += [f"![{caption}]({name})", "", f"*{caption}*", ""]

    def arrays(self, name: str, arrays: dict[str, np.ndarray]) -> None:
        """Numeric data too big for results.json, as one .npz (np.load with allow_pickle=False reads it)."""
        if arrays:
            np.savez_compressed(self.staging / name, **arrays)

    def publish(self, results: dict, csv_rows: Sequence[dict]) -> Path:
        # strict JSON (NaN as null): what edgereason's own readers, `bench transfer` among them, accept
        plain = json.loads(json.dumps({"machine": self.facts, **results}, default=str))
        (self.staging / "results.json").write_text(schema.dumps(plain, indent=1) + "\n")
        keys = list(dict.fromkeys(k for row in csv_rows for k in row))
        with (self.staging / "results.csv").open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=keys)
            writer.writeheader()
            writer.writerows(csv_rows)
        (self.staging / "report.md").write_text("\n".join(self.lines).rstrip() + "\n")
        final = self.root / self.stamp
        suffix = 1
        while final.exists():
            final = self.root / f"{self.stamp}-{suffix}"
            suffix += 1
        self.staging.rename(final)
        return final

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)
