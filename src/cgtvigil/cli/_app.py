"""The root Typer application, its sub-applications and the shared console helpers."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cgtvigil.errors import CgtVigilWarning

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
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    ) as bar:
        task = bar.add_task(description, total=None)

        def update(label: str, done: int, total: int) -> None:
            bar.update(task, description=f"{description}: {label}", completed=done, total=total)

        yield update


def _fail(exc: Exception) -> None:
    err.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(2) from exc


def _show_warnings(caught: list[warnings.WarningMessage]) -> None:
    for w in caught:
        if issubclass(w.category, CgtVigilWarning):
            err.print(f"[yellow]note:[/] {w.message}")
