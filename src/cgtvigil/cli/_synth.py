"""Synthetic-data commands (always marked SYNTHETIC)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cgtvigil.cli._app import _progress, console, plain, synth_app
from cgtvigil.store import load_products
from cgtvigil.synth import (
    SYNTHETIC_NOTICE,
    SynthConfig,
    TrajectoryConfig,
    generate_faers,
    generate_long,
    write_trajectories,
)


@synth_app.command("faers")
def synth_faers_cmd(
    out_dir: Annotated[Path, typer.Argument(help="Folder for the synthetic quarterly zips.")],
    reports_per_quarter: Annotated[int, typer.Option(help="Reports per quarter.")] = 20_000,
    quarters: Annotated[
        str, typer.Option(help="Comma-separated quarters, e.g. 2024Q1,2024Q2.")
    ] = "2024Q1,2024Q2,2024Q3,2024Q4",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 20261125,
) -> None:
    """SYNTHETIC FAERS quarters with CAR-T products calibrated on dated openFDA counts."""
    cfg = SynthConfig(
        reports_per_quarter=reports_per_quarter,
        quarters=tuple(q.strip().upper() for q in quarters.split(",")),
        seed=seed,
    )
    with _progress("synthesise") as progress:
        result = generate_faers(out_dir, load_products(), cfg, progress=progress)
    console.print(
        plain(
            f"{SYNTHETIC_NOTICE}\n{result.reports:,} reports in {len(result.zips)} zips under {out_dir}; "
            f"manifest {result.manifest}"
        )
    )


@synth_app.command("long")
def synth_long_cmd(
    output: Annotated[Path, typer.Argument(help="Parquet or CSV file to write.")],
    reports: Annotated[int, typer.Option(help="Number of reports.")] = 100_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
) -> None:
    """SYNTHETIC long-format data (id, var1, var2, strat1, strat2) for scale tests."""
    rows = generate_long(output, reports, seed=seed)
    console.print(plain(f"{SYNTHETIC_NOTICE}\n{rows:,} rows for {reports:,} reports in {output}"))


@synth_app.command("trajectories")
def synth_trajectories_cmd(
    out_dir: Annotated[Path, typer.Argument(help="Folder for daily.csv and patients.csv.")],
    patients: Annotated[int, typer.Option(help="Number of patients.")] = 200,
    days: Annotated[int, typer.Option(help="Days after infusion.")] = 21,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 20261125,
    wearables: Annotated[bool, typer.Option(help="Also write a 2-minute wearable temperature stream.")] = False,
) -> None:
    """SYNTHETIC post-infusion trajectories: CRS/ICANS grades, labs, temperature."""
    paths = write_trajectories(out_dir, TrajectoryConfig(patients=patients, days=days, seed=seed), wearables=wearables)
    console.print(plain(f"{SYNTHETIC_NOTICE}\n" + "\n".join(str(p) for p in paths)))
