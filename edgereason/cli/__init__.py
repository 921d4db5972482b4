"""`edgereason`: a thin typer app. Each command parses options, calls one library function, renders.

Commands live in `cli.export` (models, export, inspect), `cli.reason` (run, solve, calibrate), `cli.serve` and
`cli.bench` (bench speed, quality, reason), `cli.data` (data pull, list), `cli.eval` (lm-eval).

Errors: an `EdgeReasonError` becomes one line on stderr and its exit code (2 for the user's
mistakes, 1 for internal failures); Ctrl-C exits 130 after the staging folders are removed.
"""

import functools
import logging
import os
import signal
import sys
from collections.abc import Callable
from enum import Enum
from typing import Annotated, TypeVar

import typer
from rich.console import Console

from edgereason import __version__
from edgereason.errors import EdgeReasonError, SettingError, UsageError

# The rich console writes to its own copy of stderr: exporters' output is captured by redirecting
# fds 1 and 2 to a log, and progress must stay visible while they run.
console = Console(file=os.fdopen(os.dup(2), "w"), highlight=False)
out = Console(highlight=False, width=None if sys.stdout.isatty() else 140)

app = typer.Typer(help="On-device reasoning runtime for small language models.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
models_app = typer.Typer(help="Built-in and cached models.", no_args_is_help=True)
app.add_typer(models_app, name="models")

F = TypeVar("F", bound=Callable)
E = TypeVar("E", bound=Enum)


def _quiet_libraries() -> None:
    # torchao warns about CUDA kernels it can't load on a CPU build; torch about pytree enums.
    for name in ("torchao", "torch.utils._pytree", "torch._export", "root"):
        logging.getLogger(name).setLevel(logging.ERROR)
    ours = logging.getLogger("edgereason")  # the library's own warnings: one yellow line each, like errors
    if not ours.handlers:
        handler = logging.StreamHandler(console.file)
        handler.setFormatter(logging.Formatter("warning: %(message)s"))
        ours.addHandler(handler)
        ours.propagate = False
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def quiet_transformers() -> None:
    """transformers' own tqdm bars ("Loading weights") would interleave with ours."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


class Terminated(KeyboardInterrupt):
    """SIGTERM (`timeout`, a CI cancel, `docker stop`), raised where the program is so that the same cleanup as
    for Ctrl-C runs: staging folders are removed on the way out."""


def _on_sigterm(signum, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM during cleanup ends the process at once
    raise Terminated()


def command_flags(fn: Callable) -> dict[str, str]:
    """A command function's flag per parameter ("top_k" → "--top-k", or the name its typer.Option declares)."""
    import typing

    flags = {}
    for name, hint in typing.get_type_hints(fn, include_extras=True).items():
        infos = [m for m in getattr(hint, "__metadata__", ()) if isinstance(m, typer.models.OptionInfo)]
        if infos:
            declared = [d for d in (infos[0].param_decls or ()) if d.startswith("--")]
            flags[name] = declared[0].split("/")[0] if declared else "--" + name.replace("_", "-")
    return flags


def handle_errors(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        _quiet_libraries()
        signal.signal(signal.SIGTERM, _on_sigterm)
        try:
            return fn(*args, **kwargs)
        except SettingError as e:  # the library names fields; the user typed this command's flags
            console.print(f"[red]error:[/red] {e.render(command_flags(fn))}", soft_wrap=True)
            raise typer.Exit(e.exit_code) from None
        except EdgeReasonError as e:
            console.print(f"[red]error:[/red] {e}", soft_wrap=True)
            raise typer.Exit(e.exit_code) from None
        except Terminated:
            console.print("[red]terminated:[/red] nothing was written for the unfinished step; run the "
                          "command again", soft_wrap=True)
            raise typer.Exit(128 + signal.SIGTERM) from None
        except KeyboardInterrupt:
            console.print("[red]interrupted:[/red] nothing was written for the unfinished step; run the "
                          "command again", soft_wrap=True)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def parse_choices(value: str, enum: type[E], flag: str) -> tuple[E, ...]:
    """`all`, one name, or a comma list → enum members; one clear line for anything else."""
    names = [m.value for m in enum]
    if value == "all":
        return tuple(enum)
    picked = []
    for part in value.split(","):
        if part.strip() not in names:
            raise UsageError(f"unknown {flag} '{part.strip()}': use {', '.join(names)} or all")
        picked.append(enum(part.strip()))
    return tuple(dict.fromkeys(picked))


def positive(value: int | None, flag: str) -> int | None:
    if value is not None and value < 1:
        raise UsageError(f"{flag} must be a positive integer, got {value}")
    return value


def mib(num_bytes: int) -> str:
    return f"{num_bytes / 2**20:,.1f}"


@app.callback(invoke_without_command=True)
def main(version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False) -> None:
    if version:
        out.print(__version__)
        raise typer.Exit(0)


def run() -> None:
    """Console-script entry point."""
    app()


from edgereason.cli import android as _android_commands  # noqa: E402,F401
from edgereason.cli import bench as _bench_commands  # noqa: E402,F401
from edgereason.cli import data as _data_commands  # noqa: E402,F401
from edgereason.cli import eval as _eval_commands  # noqa: E402,F401
from edgereason.cli import export as _export_commands  # noqa: E402,F401  (registers commands)
from edgereason.cli import native as _native_commands  # noqa: E402,F401
from edgereason.cli import reason as _reason_commands  # noqa: E402,F401
from edgereason.cli import serve as _serve_commands  # noqa: E402,F401
