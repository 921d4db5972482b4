"""`edgereason data pull|list`: the evaluation data on a machine without `../shared/data`."""

from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from edgereason.cli import app, console, handle_errors, mib, out

data_app = typer.Typer(help="Evaluation data (WikiText-2, GSM8K, ARC-Easy): fetch, verify, list.",
                       no_args_is_help=True)
app.add_typer(data_app, name="data")


class _Bars:
    """datapull.PullProgress as one rich download bar per file."""

    def __init__(self, bar: Progress) -> None:
        self.bar, self.task = bar, None

    def start(self, name: str, total: int) -> None:
        if self.task is not None:
            self.bar.remove_task(self.task)
        self.task = self.bar.add_task(name, total=total)

    def advance(self, num_bytes: int) -> None:
        if self.task is not None:
            self.bar.advance(self.task, num_bytes)


@data_app.command("pull")
@handle_errors
def data_pull(
    names: Annotated[list[str] | None, typer.Argument(help="Data sets: wikitext2, gsm8k, arc-easy, or all")] = None,
    mirror: Annotated[str | None, typer.Option(help="Fetch every file as URL/<file name> from this mirror instead "
                                                    "(default: $EDGEREASON_DATA_MIRROR, else the public sources)")]
    = None,
    timeout: Annotated[float, typer.Option(help="Seconds a server may stay silent before the source counts as "
                                                "down")] = 30.0,
) -> None:
    """Download each set from its public source, verify the sha256 and keep it in $EDGEREASON_HOME/data."""
    from edgereason import datafiles, datapull

    sets = datapull.resolve_sets(names or ["all"])
    datapull.check_mirror(mirror)
    for data_set in sets:
        out.print(f"{data_set.name}: {data_set.description}. License {data_set.license}; {data_set.attribution}",
                  soft_wrap=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  console=console, transient=True) as bar:
        pulled = datapull.pull([s.name for s in sets], mirror=mirror, timeout=timeout, progress=_Bars(bar))
    for p in pulled:
        how = (f"fetched {mib(p.fetched_bytes)} MiB from {p.source} in {p.seconds:.1f} s" if p.source
               else "already present")
        out.print(f"{p.name}: verified, {how}: {p.path}", soft_wrap=True)
    out.print(f"lookup order: --…-data/--task PATH, ${datafiles.ENV}, {datafiles.shared_dir()}, "
              f"{datafiles.home_dir()}", soft_wrap=True)


@data_app.command("list")
@handle_errors
def data_list() -> None:
    """Each data file: which folder has it by the lookup order, and whether its sha256 verifies."""
    from edgereason import datafiles

    sets = datafiles.registry()
    table = Table(title="evaluation data (lookup: $EDGEREASON_DATA, " + f"{datafiles.shared_dir()}, "
                        f"{datafiles.home_dir()})")
    for col in ("set", "file", "status", "from", "path", "license"):
        table.add_column(col)
    missing = 0
    for row in datafiles.status():
        state = "[green]verified[/green]" if row.verified else ("[red]sha256 differs[/red]" if row.path
                                                                 else "[yellow]missing[/yellow]")
        missing += row.path is None
        table.add_row(row.data_set, row.name, state, row.where or "-", str(row.path or "-"),
                      sets[row.data_set].license)
    out.print(table)
    if missing:
        out.print("fetch what is missing with `edgereason data pull SET` (or `all`)")
