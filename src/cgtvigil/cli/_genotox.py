"""Genotoxicity commands: ``cgtvigil genotox ingest|vector|off-target|stats|cis|alerts``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.table import Table

from cgtvigil.audit import append_audit
from cgtvigil.cli._app import _fail, _progress, app, console, operational_session
from cgtvigil.config import Settings
from cgtvigil.errors import CgtVigilError
from cgtvigil.store import Scope

if TYPE_CHECKING:
    pass

genotox_app = typer.Typer(
    help="Genotoxicity follow-up: integration sites (clonal abundance, CIS, expansion alerts), vector copy number, "
    "off-target editing.",
    no_args_is_help=True,
)
app.add_typer(genotox_app, name="genotox")

Genome = Literal["hg19", "hg38"]
_SHOWN = 20


def _operator() -> str:
    import getpass

    return f"cli:{getpass.getuser()}"


def _scope() -> Scope:
    """The operator at the console reads every patient (like an administrator), audited by name."""
    return Scope(actor=_operator(), all_patients=True)


def _watchlist(genome: str, path: Path | None) -> tuple[str, list]:  # type: ignore[type-arg]
    from cgtvigil.store import load_watchlist

    return load_watchlist(genome, path)  # type: ignore[arg-type]


def _print_summary(summary: object) -> None:
    from cgtvigil.genotox import IngestSummary

    assert isinstance(summary, IngestSummary)
    console.print(
        f"{summary.source}: {summary.rows:,} rows, {summary.loaded:,} loaded into {summary.samples} samples of "
        f"{len(summary.patients)} patients ({summary.replaced_samples} replaced), {summary.quarantined:,} quarantined",
        markup=False,
        highlight=False,
    )
    for reason, n in sorted(summary.reasons.items()):
        console.print(f"  quarantined {n:,} × {reason}", markup=False)
    if summary.collisions:
        console.print(
            f"  note: {summary.collisions:,} IS of these patients are also stored for another patient "
            "(cross-contamination or recurrent sites; ISAnalytics' remove_collisions resolves them)",
            markup=False,
        )
    if summary.vector_points:
        console.print(f"  {summary.vector_points} vector-copy-number points", markup=False)
    if summary.unregistered:
        shown = ", ".join(summary.unregistered[:_SHOWN])
        console.print(
            f"  not in the patient registry (visible to administrators only until registered): {shown}", markup=False
        )
    for a in summary.alerts:
        verb = "raised" if a.created else "updated"
        console.print(f"alert #{a.alert_id} {verb} for {a.patient} ({a.severity}): {a.message}", markup=False)


@genotox_app.command("ingest")
def ingest_cmd(
    path: Annotated[Path, typer.Argument(help="Integration sites: an ISAnalytics matrix, or the simple long CSV.")],
    association: Annotated[
        Path | None, typer.Option("--association", help="The ISAnalytics association file of the matrix.")
    ] = None,
    quantification: Annotated[
        str, typer.Option(help="What the columns of a sparse (VISPA2) matrix hold: seqCount, fragmentEstimate, ...")
    ] = "seqCount",
    genome: Annotated[
        Genome | None, typer.Option(help="Genome build (default: the association file's Genome).")
    ] = None,
    watchlist: Annotated[Path | None, typer.Option(help="A watch-list CSV (default: the shipped list).")] = None,
    dominance: Annotated[float, typer.Option(help="A clone's share of its sample that is an expansion.")] = 0.10,
    high: Annotated[float, typer.Option(help="A share that makes the alert high.")] = 0.20,
    growth_points: Annotated[int, typer.Option(help="Consecutive time points of growth that are an expansion.")] = 3,
    collisions: Annotated[
        str,
        typer.Option(
            help="count: report IS found in more than one patient; resolve: assign each to one patient "
            "(ISAnalytics' rule: replicates, then reads ratio) or remove it, the rows taken out quarantined."
        ),
    ] = "count",
    reads_ratio: Annotated[float, typer.Option(help="With --collisions resolve: the reads ratio that decides.")] = 10.0,
) -> None:
    """Load integration sites (every row loaded or quarantined with a reason) and raise a
    clonal-expansion alert on each patient with a dominant or growing clone."""
    from cgtvigil.clonality import ExpansionRule
    from cgtvigil.genotox import read_isa, read_long_sites, resolve_batch_collisions, store_sites

    now = datetime.now(UTC)
    resolved: dict[str, int] | None = None
    try:
        if collisions not in ("count", "resolve"):
            raise CgtVigilError(f"The '--collisions' option must be count or resolve. Got {collisions!r}.")
        rule = ExpansionRule(dominance=dominance, high_dominance=high, growth_points=growth_points)
        with _progress("integration sites") as step:
            step(f"reading {path.name}", 0, 3)
            batch = (
                read_isa(path, association, quantification=quantification)
                if association
                else read_long_sites(path, genome=genome or "")
            )
            if genome:
                batch.genome = genome
            if batch.genome not in ("hg19", "hg38"):
                raise CgtVigilError(
                    f"{path.name}: the genome build is not known ({batch.genome!r}); pass --genome hg19 or hg38"
                )
            if collisions == "resolve":
                batch, resolved = resolve_batch_collisions(batch, reads_ratio=reads_ratio)
            version, genes = _watchlist(batch.genome, watchlist)
            step(f"storing {len(batch.records):,} sites", 1, 3)
            with operational_session() as session:
                summary = store_sites(session, batch, now, watchlist=genes, rule=rule)
                step("auditing", 2, 3)
                append_audit(
                    session,
                    actor=_operator(),
                    action="genotox.ingest",
                    target=str(path)[:256],
                    at=now,
                    detail=summary.audit_detail()
                    | {"watchlist": version, "rule": rule.version}
                    | ({"collisions_resolved": resolved, "reads_ratio": reads_ratio} if resolved else {}),
                )
                session.commit()
            step("done", 3, 3)
    except (CgtVigilError, OSError, ValueError) as exc:
        _fail(exc)
    _print_summary(summary)
    if resolved is not None:
        console.print(
            f"  collisions resolved in the file: {resolved['collisions']:,} IS in more than one patient; "
            f"{resolved['replicates']:,} assigned by replicates, {resolved['reads_ratio']:,} by reads ratio "
            f"(> {reads_ratio:g}), {resolved['date']:,} by date, {resolved['removed']:,} removed; "
            f"{resolved['rows_quarantined']:,} rows quarantined",
            markup=False,
        )


def _vector_ingest(path: Path, kind: str) -> None:
    from cgtvigil.genotox import read_off_target, read_vector, store_vector

    now = datetime.now(UTC)
    try:
        batch = read_vector(path) if kind == "vector" else read_off_target(path)
        with operational_session() as session:
            summary = store_vector(session, batch, now)
            append_audit(
                session,
                actor=_operator(),
                action=f"genotox.{kind}",
                target=str(path)[:256],
                at=now,
                detail=summary.audit_detail(),
            )
            session.commit()
    except (CgtVigilError, OSError, ValueError) as exc:
        _fail(exc)
    _print_summary(summary)


@genotox_app.command("vector")
def vector_cmd(
    path: Annotated[Path, typer.Argument(help="CSV: patient, kind (vcn | car_transgene), months, value, unit, ...")],
) -> None:
    """Load vector copy number or CAR-transgene persistence measurements."""
    _vector_ingest(path, "vector")


@genotox_app.command("off-target")
def off_target_cmd(
    path: Annotated[Path, typer.Argument(help="CSV: patient, assay, site, result, indel_percent, ...")],
) -> None:
    """Load off-target editing assay results of genome-edited patients."""
    _vector_ingest(path, "off-target")


@genotox_app.command("stats")
def stats_cmd(
    patient: Annotated[str | None, typer.Option(help="One patient (default: every patient).")] = None,
    quantification: Annotated[str | None, typer.Option(help="Only this quantification, e.g. inferredCells.")] = None,
    watchlist: Annotated[Path | None, typer.Option(help="A watch-list CSV (default: the shipped list).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Per-sample diversity: IS count, Shannon, Simpson, inverse Simpson, Pielou, Gini, Chao1,
    UC50, top clone and watch-list sites."""
    from cgtvigil.genotox import sample_stats

    try:
        with operational_session() as session:
            scope = _scope()
            rows = sample_stats(session, scope, patient, watchlist=watchlist)
            append_audit(
                session,
                actor=scope.actor,
                action="patient.read" if patient else "patient.list",
                target=f"patient:{patient}" if patient else "genotox-samples",
                at=datetime.now(UTC),
                detail={"part": "genotox.stats", "samples": len(rows)},
            )
            session.commit()
    except (CgtVigilError, OSError, ValueError) as exc:
        _fail(exc)
    if quantification:
        rows = [r for r in rows if r.quantification == quantification]
    if as_json:
        console.print_json(json.dumps([r.model_dump() for r in rows]))
        return
    table = Table(
        "patient",
        "sample",
        "time",
        "cells",
        "quant.",
        "IS",
        "Shannon",
        "Simpson",
        "Gini",
        "Chao1",
        "UC50",
        "top clone",
        "top %",
        "WL 50kb",
    )
    for r in rows:
        table.add_row(
            r.patient_id,
            r.sample,
            r.time_point,
            " ".join(x for x in (r.cell_type, r.tissue) if x),
            r.quantification,
            f"{r.n_is:,}",
            f"{r.shannon:.3f}",
            f"{r.simpson:.4f}",
            f"{r.gini:.3f}",
            f"{r.chao1:.1f}" if r.chao1 is not None else "-",
            str(r.uc50),
            f"{r.top_clone} {r.top_clone_gene}",
            f"{100 * r.top_fraction:.1f}",
            str(r.n_watchlist_50kb),
        )
    console.print(table)


@genotox_app.command("cis")
def cis_cmd(
    genes: Annotated[
        Path,
        typer.Option(
            help="Gene table in ISAnalytics' refGenes layout (name2, chrom, strand, "
            "average_TxLen) of the data's genome."
        ),
    ],
    by_patient: Annotated[bool, typer.Option(help="Test each patient separately.")] = False,
    flanking_bp: Annotated[int, typer.Option(help="Base pairs added to each gene (ISAnalytics' default).")] = 100_000,
    alpha: Annotated[float, typer.Option(help="Significance level after Bonferroni correction.")] = 0.05,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Common insertion sites by ISAnalytics' Grubbs test (CIS_grubbs)."""
    from cgtvigil.genotox import cis_view, read_gene_table

    try:
        lengths = read_gene_table(genes)
        with operational_session() as session:
            scope = _scope()
            found = cis_view(session, scope, lengths, by_patient=by_patient, flanking_bp=flanking_bp, alpha=alpha)
            append_audit(
                session,
                actor=scope.actor,
                action="patient.list",
                target="genotox-cis",
                at=datetime.now(UTC),
                detail={"groups": len(found), "by_patient": by_patient},
            )
            session.commit()
    except (CgtVigilError, OSError, ValueError) as exc:
        _fail(exc)
    if as_json:
        console.print_json(json.dumps([v.model_dump() for v in found]))
        return
    for v in found:
        console.print(
            f"{v.group}: {v.genes} genes tested, {v.missing_genes} genes ({v.missing_is} IS) not in the gene table, "
            f"{len(v.cis)} CIS",
            markup=False,
        )
        if v.cis:
            table = Table("gene", "chr", "IS", "p (two-tailed)", "Bonferroni", "FDR")
            for c in v.cis:
                table.add_row(
                    str(c["gene"]),
                    str(c["chr"]),
                    str(c["n_is"]),
                    f"{c['p_two_tailed']:.3g}",
                    f"{c['p_bonferroni']:.3g}",
                    f"{c['p_fdr']:.3g}",
                )
            console.print(table)


@genotox_app.command("alerts")
def alerts_cmd(
    status: Annotated[str, typer.Option(help="active or all.")] = "active",
) -> None:
    """Clonal-expansion alerts with their status (acknowledge and resolve them on the patient's page
    or with the JSON API)."""
    from cgtvigil.genotox import EXPANSION_RULE
    from cgtvigil.monitoring import alert_views

    if status not in ("active", "all"):
        _fail(CgtVigilError(f"The '--status' option must be active or all. Got {status!r}."))
    try:
        with operational_session() as session:
            scope = _scope()
            now = datetime.now(UTC)
            found = [
                a
                for a in alert_views(session, scope, now, status=status, limit=100_000)  # type: ignore[arg-type]
                if a.rule == EXPANSION_RULE
            ]
            append_audit(
                session,
                actor=scope.actor,
                action="patient.list",
                target="alerts",
                at=now,
                detail={"part": "genotox.alerts", "alerts": len(found)},
            )
            session.commit()
    except (CgtVigilError, OSError, ValueError) as exc:
        _fail(exc)
    table = Table("id", "patient", "severity", "status", "first seen", "message")
    for a in found:
        table.add_row(str(a.id), a.patient_id, a.severity, a.status, a.first_seen.strftime("%Y-%m-%d %H:%M"), a.message)
    console.print(table)
    console.print(f"{len(found)} clonal-expansion alerts", markup=False)


def seed_demo_genotox(settings: Settings) -> None:
    """The demo's genotoxicity data: SYNTHETIC SYN-GT01 (Skysona, Site-A: a clone near CCND2
    growing to 11.6 %, VCN) and SYN-GE01 (Casgevy, Site-B: off-target results); and, where the
    workspace's shared data are present, the real SCID-X1 sites of Clarke et al. 2018 (CC0 copy;
    patients not in the demo registry, so shown to the administrator)."""
    import os

    from cgtvigil.genotox import (
        SYNTHETIC_EDITED_PATIENT,
        SYNTHETIC_IS_PATIENT,
        read_long_sites,
        store_sites,
        store_vector,
        synthetic_sites,
        synthetic_vector,
    )
    from cgtvigil.monitoring import register_patient
    from cgtvigil.store import load_products, load_watchlist, operational_engine, session_factory

    now = datetime.now(UTC)
    genes = load_watchlist("hg38")[1]
    shared = Path(os.environ.get("CGTVIGIL_SHARED_DATA") or "../shared/data")
    real = shared / "genotoxicity" / "clarke2018_scidx1_intsites.csv"
    engine = operational_engine(settings.operational_url)
    with session_factory(engine)() as session:
        products = load_products()
        for pid, site, product, years in (
            (SYNTHETIC_IS_PATIENT, "Site-A", "skysona", 3),
            (SYNTHETIC_EDITED_PATIENT, "Site-B", "casgevy", 1),
        ):
            register_patient(
                session,
                products,
                patient=pid,
                site=site,
                product=product,
                infusion_date=now.date().replace(year=now.year - years, day=1),
            )
        summaries = [
            store_sites(session, synthetic_sites(), now, watchlist=genes),
            store_vector(session, synthetic_vector(), now),
        ]
        if real.is_file():
            summaries.append(store_sites(session, read_long_sites(real, genome="hg38"), now, watchlist=genes))
        for s in summaries:
            append_audit(
                session, actor=_operator(), action="genotox.ingest", target=s.source, at=now, detail=s.audit_detail()
            )
        session.commit()
    engine.dispose()
    console.print(
        f"Genotoxicity: SYNTHETIC {SYNTHETIC_IS_PATIENT} (clone near CCND2 growing to 11.6 %) at "
        f"/patients/{SYNTHETIC_IS_PATIENT}/genotox, off-target results of {SYNTHETIC_EDITED_PATIENT}"
        + (
            f"; real SCID-X1 sites of 13 patients from {real.name} (Clarke et al. 2018): pP7's CCND2 clone "
            "holds 11.6 % of T cells at 155 months, /patients/pP7/genotox (administrator)"
            if real.is_file()
            else ""
        ),
        markup=False,
    )
