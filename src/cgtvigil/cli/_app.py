"""The root Typer application, its sub-applications and the shared console helpers."""

from __future__ import annotations

import unicodedata
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from cgtvigil._validation import Problems
from cgtvigil.errors import CgtVigilWarning

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

console = Console()
err = Console(stderr=True, soft_wrap=True)

app = typer.Typer(
    help="cgtvigil: pharmacovigilance for cell and gene therapies.", no_args_is_help=True, add_completion=False
)
ingest_app = typer.Typer(help="Load real-world data into the analytic store.", no_args_is_help=True)
synth_app = typer.Typer(help="Write seeded SYNTHETIC data (for demos, tests and benchmarks).", no_args_is_help=True)
dictionary_app = typer.Typer(help="Show the shipped CGT product dictionary and safety topics.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")
app.add_typer(synth_app, name="synth")
app.add_typer(dictionary_app, name="dictionary")


@contextmanager
def _progress(description: str) -> Iterator[Callable[[str, int, int], None]]:
    with Progress(
        TextColumn("{task.description}", style="bold", markup=False),  # labels name files: never markup
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    ) as bar:
        task = bar.add_task(description, total=None)

        def update(label: str, done: int, total: int) -> None:
            bar.update(task, description=plain(f"{description}: {label}").plain, completed=done, total=total)

        yield update


@contextmanager
def operational_session() -> Iterator[Session]:
    """A session of the operational store the settings name; its connections are closed after."""
    from cgtvigil.config import Settings
    from cgtvigil.store import operational_engine, session_factory

    engine = operational_engine(Settings.from_env().operational_url)
    try:
        with session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()


MAX_LINE = 500  # characters of one echoed line
MAX_LINES = 100  # lines of one message


def _visible(ch: str) -> str:
    if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp"):
        return ch
    return f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"


def plain(text: object) -> Text:
    """``text`` as a Rich ``Text``: never parsed as markup or emoji codes, control, ESC and
    format characters shown as escapes (``\\x1b``), each line cut at ``MAX_LINE`` characters
    and the whole at ``MAX_LINES`` lines. Use it for anything that came from the user or a file."""
    lines = str(text).split("\n")
    if len(lines) > MAX_LINES:
        lines = [*lines[:MAX_LINES], f"... ({len(lines) - MAX_LINES:,} more lines)"]
    out = []
    for line in lines:
        shown = "".join(_visible(ch) for ch in line[:MAX_LINE])
        out.append(shown + (f"... ({len(line) - MAX_LINE:,} more characters)" if len(line) > MAX_LINE else ""))
    return Text("\n".join(out))


def _fail(exc: Exception) -> NoReturn:
    err.print(Text.assemble(("error:", "bold red"), " ", plain(exc)))
    raise typer.Exit(2) from exc


def _show_warnings(caught: list[warnings.WarningMessage]) -> None:
    for w in caught:
        if issubclass(w.category, CgtVigilWarning):
            err.print(Text.assemble(("note:", "yellow"), " ", plain(w.message)))


def _listed(values: list[str] | None, default: str = "") -> tuple[str, ...]:
    """The values of a repeatable option, each also split on commas (``--method prr --method
    ror,ic``); ``default`` when the option is not given."""
    given = (default,) if values is None else values
    return tuple(x.strip() for v in given for x in v.split(",") if x.strip())


def _unused(why: str, problems: Problems, **given: bool) -> None:
    """One problem for each option given where it has no effect (``why``): refused, never
    silently ignored. Keywords are option names without '--' (``all_drugs=True``)."""
    for name, is_given in given.items():
        if is_given:
            problems.add(f"The '--{name.replace('_', '-')}' option has no effect {why}; leave it out.")
