"""Synthetic-data commands (always marked SYNTHETIC)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from cgtvigil._validation import Problems, param_message
from cgtvigil.cli._app import _fail, _progress, console, plain, synth_app
from cgtvigil.errors import CgtVigilError
from cgtvigil.store import load_products
from cgtvigil.synth import (
    SYNTHETIC_NOTICE,
    HistoryConfig,
    SynthConfig,
    TrajectoryConfig,
    generate_faers,
    generate_history,
    generate_long,
    write_trajectories,
)

_QUARTER = re.compile(r"\d{4}Q[1-4]")


def _at_least(command: str, problems: Problems, **options: tuple[int, int]) -> None:
    """Each option (name -> (value, lowest allowed)) must be an integer >= its lowest value."""
    for name, (value, low) in options.items():
        if value < low:
            problems.add(param_message(f"--{name.replace('_', '-')}", command, f"an integer >= {low}", value))


@synth_app.command("faers")
def synth_faers_cmd(
    out_dir: Annotated[Path, typer.Argument(help="Folder for the synthetic quarterly zips.")],
    reports_per_quarter: Annotated[int, typer.Option(help="Reports per quarter.")] = 20_000,
    quarters: Annotated[
        list[str] | None,
        typer.Option(help="Quarters, repeatable or comma-separated, e.g. --quarters 2024Q1,2024Q2 --quarters 2024Q3."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 20261125,
) -> None:
    """SYNTHETIC FAERS quarters with CAR-T products calibrated on dated openFDA counts
    (default 2024Q1 to 2024Q4)."""
    problems = Problems()
    _at_least("cgtvigil synth faers", problems, reports_per_quarter=(reports_per_quarter, 1))
    given = [q.strip().upper() for text in quarters or ("2024Q1,2024Q2,2024Q3,2024Q4",) for q in text.split(",")]
    for q in given:
        if not _QUARTER.fullmatch(q):
            problems.add(param_message("--quarters", "cgtvigil synth faers", "quarters such as 2024Q1 (Q1-Q4)", q))
    try:
        problems.raise_if_any()
        cfg = SynthConfig(reports_per_quarter=reports_per_quarter, quarters=tuple(dict.fromkeys(given)), seed=seed)
        with _progress("synthesise") as progress:
            result = generate_faers(out_dir, load_products(), cfg, progress=progress)
    except (CgtVigilError, OSError) as exc:
        _fail(exc)
    console.print(
        plain(
            f"{SYNTHETIC_NOTICE}\n{result.reports:,} reports in {len(result.zips)} zips under {out_dir}; "
            f"manifest {result.manifest}"
        )
    )


@synth_app.command("faers-history")
def synth_faers_history_cmd(
    out_dir: Annotated[Path, typer.Argument(help="Folder for the synthetic quarterly zips.")],
    quarters: Annotated[
        int | None, typer.Option(help="Only the first N quarters of 2004Q1..2026Q2 (default all 90).")
    ] = None,
    scale: Annotated[float, typer.Option(help="Reports per quarter times this (1: about 22M reports in all).")] = 1.0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 20261202,
) -> None:
    """SYNTHETIC FAERS history at real scale, written one quarter at a time: legacy AERS to 2012Q3,
    FAERS after, follow-up versions, deleted cases from 2019Q1, CAR-T products from 2017Q4."""
    command = "cgtvigil synth faers-history"
    problems = Problems()
    if quarters is not None:
        _at_least(command, problems, quarters=(quarters, 1))
    if not scale > 0:
        problems.add(param_message("--scale", command, "a number > 0", scale))
    try:
        problems.raise_if_any()
        cfg = HistoryConfig(quarters=quarters, scale=scale, seed=seed)
        with _progress("synthesise") as progress:
            result = generate_history(out_dir, load_products(), cfg, progress=progress)
    except (CgtVigilError, OSError) as exc:
        _fail(exc)
    console.print(
        plain(
            f"{SYNTHETIC_NOTICE}\n{result.reports:,} reports ({result.cases:,} cases, {result.deleted:,} deleted "
            f"caseids listed) in {len(result.zips)} zips under {out_dir}; manifest {result.manifest}"
        )
    )


@synth_app.command("long")
def synth_long_cmd(
    output: Annotated[Path, typer.Argument(help="Parquet or CSV file to write.")],
    reports: Annotated[int, typer.Option(help="Number of reports.")] = 100_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
) -> None:
    """SYNTHETIC long-format data (id, var1, var2, strat1, strat2) for scale tests."""
    problems = Problems()
    _at_least("cgtvigil synth long", problems, reports=(reports, 1))
    try:
        problems.raise_if_any()
        rows = generate_long(output, reports, seed=seed)
    except (CgtVigilError, OSError) as exc:
        _fail(exc)
    console.print(plain(f"{SYNTHETIC_NOTICE}\n{rows:,} rows for {reports:,} reports in {output}"))


@synth_app.command("trajectories")
def synth_trajectories_cmd(
    out_dir: Annotated[Path, typer.Argument(help="Folder for daily.csv and patients.csv.")],
    patients: Annotated[int, typer.Option(help="Number of patients.")] = 200,
    days: Annotated[int, typer.Option(help="Days after infusion.")] = 21,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 20261125,
    wearables: Annotated[bool, typer.Option(help="Also write a 2-minute wearable temperature stream.")] = False,
    realistic: Annotated[
        bool,
        typer.Option(
            help="As hard as a real cohort: onset days by product, early discharge of uneventful patients, "
            "missing labs, noisy prodromes, and one file per site in its own units (daily_site_*.csv)."
        ),
    ] = False,
) -> None:
    """SYNTHETIC post-infusion trajectories: CRS/ICANS grades, labs, temperature."""
    problems = Problems()
    _at_least("cgtvigil synth trajectories", problems, patients=(patients, 1), days=(days, 1))
    try:
        problems.raise_if_any()
        cfg = TrajectoryConfig(patients=patients, days=days, seed=seed, realistic=realistic)
        paths = write_trajectories(out_dir, cfg, wearables=wearables)
    except (CgtVigilError, OSError) as exc:
        _fail(exc)
    console.print(plain(f"{SYNTHETIC_NOTICE}\n" + "\n".join(str(p) for p in paths)))
