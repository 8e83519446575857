"""The ``optiscope`` application object and what every command shares: error handling, progress,
argument parsers. Commands live in :mod:`optiscope.cli` and :mod:`optiscope.cli_experiments`.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import yaml

from optiscope.errors import OptiscopeError, SpecError
from optiscope.spec_syntax import parse_value
from optiscope.yaml_lines import key_line, line_of

app = typer.Typer(
    name="optiscope",
    help="See and measure how optimization algorithms behave.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help text is plain: "[video]" and "[values]" are shown, not parsed as markup
)
optimizers_app = typer.Typer(help="The optimizer registry.", no_args_is_help=True, rich_markup_mode=None)
surfaces_app = typer.Typer(help="The 2-D test surfaces.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(optimizers_app, name="optimizers")
app.add_typer(surfaces_app, name="surfaces")

__all__ = [
    "Executor",
    "RayAddress",
    "app",
    "handles_errors",
    "optimizers_app",
    "parse_grid",
    "parse_point",
    "progress_bar",
    "read_yaml",
    "surfaces_app",
]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

# Where a command's work units run (sweep cells, landscape chunks, tuning batches).
Executor = Annotated[
    str | None,
    typer.Option(help="local (this process, default) or ray (a local Ray, or --ray-address)."),
]
RayAddress = Annotated[
    str | None, typer.Option("--ray-address", help="A running Ray cluster to send the work units to.")
]


def _fail(message: str, code: int) -> None:
    typer.echo(message.replace("\n", " "), err=True)
    raise typer.Exit(code)


def handles_errors(command: F) -> F:
    """Turn library errors into one stderr line + exit 2, and bugs into exit 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except BrokenPipeError:
            # The reader went away (`optiscope ... | head`): stop quietly, as Unix tools do.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(1) from None
        except OptiscopeError as error:
            _fail(f"error: {error}", 2)
        except Exception as error:  # a bug: say so, and show the traceback on request
            if os.environ.get("OPTISCOPE_DEBUG"):
                raise
            _fail(
                f"internal error ({type(error).__name__}): {error}. Set OPTISCOPE_DEBUG=1 for the traceback.",
                1,
            )

    return wrapper  # type: ignore[return-value]


PROGRESS_LINE_SECONDS = 10.0  # without a terminal, one progress line at most this often


@contextmanager
def progress_bar(
    description: str, *, every: float = PROGRESS_LINE_SECONDS, clock: Callable[[], float] = time.monotonic
) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar on a terminal; without one (CI, a log file), a flushed line on stderr
    at most every ``every`` seconds (and a last one at the end once any was printed), so long
    work shows it is alive and short work stays quiet."""
    if sys.stderr.isatty():
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task(description, total=None)

            def update_bar(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            yield update_bar
        return
    last = [clock()]  # work shorter than ``every`` prints nothing
    printed, final = [False], [False]

    def update_lines(done: int, total: int) -> None:
        now = clock()
        finished = total > 0 and done >= total
        if final[0] or not (now - last[0] >= every or (finished and printed[0])):
            return
        last[0], printed[0], final[0] = now, True, finished
        share = f" ({done / total:.0%})" if total > 0 else ""
        print(f"{description}: {done} of {total}{share}", file=sys.stderr, flush=True)

    yield update_lines


def parse_numbers(text: str, count: int) -> tuple[float, ...] | None:
    """``count`` comma-separated numbers, or None when ``text`` is not that."""
    parts = text.split(",")
    if len(parts) != count:
        return None
    values = [parse_value(part) for part in parts]
    if not all(isinstance(value, int | float) and not isinstance(value, bool) for value in values):
        return None
    return tuple(float(value) for value in values)


def parse_point(text: str, what: str = "a start point") -> tuple[float, float]:
    """Two numbers 'X,Y' (a start point, or a LOW,HIGH range when ``what`` names one)."""
    values = parse_numbers(text, 2)
    if values is None:
        shape = "'X,Y'" if len(text.split(",")) != 2 else "two numbers 'X,Y'"
        raise SpecError(f"{what} is {shape}, got {text!r}")
    return values[0], values[1]


def parse_grid(text: str) -> int:
    size = text.lower().split("x")
    if len(size) != 2 or size[0] != size[1] or not size[0].isdigit():
        raise SpecError(f"--starts takes a square grid like 20x20, got {text!r}")
    return int(size[0])


def build_from_yaml(path: Path, build: Callable[..., T], **overrides: Any) -> T:
    """``build(**fields)`` of the mapping in ``path`` (with ``overrides``); a bad field is reported
    as ``FILE:LINE: field: problem`` (the line of the field in the file)."""
    fields = {**read_yaml(path), **overrides}
    try:
        return build(**fields)
    except SpecError as error:
        loc = getattr(error, "loc", None)
        text = path.read_text()
        line = None
        if loc and str(loc[0]) in fields and str(loc[0]) not in overrides:
            line = line_of(text, loc)
        elif loc and str(loc[0]) not in overrides:  # raised by a nested spec (a sweep's base)
            line = key_line(text, str(loc[-1]))
        raise SpecError(f"{path}:{line}: {error}" if line else f"{path}: {error}") from None


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text())
    except OSError as error:
        raise SpecError(f"cannot read {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise SpecError(f"{path} is not valid YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(loaded, dict):
        raise SpecError(f"{path} must hold a mapping of config fields")
    return loaded
