"""Query services of the genotoxicity area (issue 12): per-sample clonal diversity, a patient's
clones over time with expansions, watch-list sites, sharing between cell types and time points,
vector copy number / CAR-transgene series and off-target results, and common insertion sites.
Each takes a :class:`cgtvigil.store.Scope` and filters through
:func:`cgtvigil.store.patient_condition`; a patient outside the scope is the same
:class:`NotFoundError` as one without data."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import date
from pathlib import Path

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from cgtvigil.clonality import (
    CisGene,
    ExpansionRule,
    GeneIndex,
    GeneSpan,
    Sharing,
    cis_grubbs,
    clone_diversity,
    find_expansions,
    is_sharing,
)
from cgtvigil.errors import NotFoundError, NotInScopeError
from cgtvigil.genotox._ingest import WATCH_DISTANCE_BP, clone_label, series_quantification
from cgtvigil.store import (
    GENOMES,
    IsSampleRow,
    IsSiteRow,
    OffTargetRow,
    Scope,
    VectorMeasurementRow,
    load_watchlist,
    patient_condition,
)

__all__ = [
    "TOP_CLONES",
    "CisView",
    "CloneShare",
    "ExpansionView",
    "OffTargetView",
    "PatientGenotox",
    "SampleStats",
    "SharingView",
    "VectorPoint",
    "WatchSite",
    "cis_view",
    "patient_genotox",
    "sample_stats",
]

TOP_CLONES = 10


class SampleStats(BaseModel):
    patient_id: str
    sample: str
    time_point: str
    months: float
    cell_type: str
    tissue: str
    quantification: str
    n_is: int
    total: float
    shannon: float
    simpson: float = Field(description="Gini-Simpson 1 - sum p^2 (vegan 'simpson')")
    inverse_simpson: float
    pielou: float | None
    gini: float
    chao1: float | None = Field(description="vegan estimateR S.chao1; None for non-integer abundance")
    uc50: int
    top_clone: str
    top_clone_gene: str
    top_fraction: float
    top_tied: int
    n_watchlist_50kb: int = Field(description="IS within 50 kb of a watch-list gene body")
    n_watchlist_nearest: int = Field(description="IS whose annotated nearest gene is on the watch-list")


class CloneShare(BaseModel):
    series: str
    months: float
    time_point: str
    clone: str = Field(description="chr:position:strand, or 'other' for the rest of the sample")
    gene: str
    fraction: float


class WatchSite(BaseModel):
    sample: str
    series: str
    months: float
    clone: str
    nearest_gene: str
    watchlist_genes: list[str]
    distance_bp: int | None
    fraction: float
    quantification: str


class ExpansionView(BaseModel):
    series: str
    clone: str
    gene: str
    months: float
    kind: str = Field(description="dominant (share at or above the threshold) or growing")
    severity: str = Field(description="high at the high threshold or within 50 kb of a watch-list gene")
    fraction: float
    watchlist_genes: list[str] = Field(default_factory=list)


class SharingView(BaseModel):
    between: str = Field(description="'cell types' (same time point) or 'time points' (same cell type)")
    g1: str
    g2: str
    count_g1: int
    count_g2: int
    shared: int
    on_g1: float
    on_g2: float
    on_union: float


class VectorPoint(BaseModel):
    kind: str
    months: float
    measured_on: date | None
    cell_type: str
    value: float
    unit: str
    method: str


class OffTargetView(BaseModel):
    assay: str
    site: str
    gene: str
    indel_percent: float | None
    detection_limit_percent: float | None
    result: str
    measured_on: date | None
    months: float | None


class PatientGenotox(BaseModel):
    patient_id: str
    audience: str = Field(
        "care_team",
        description="patient: the patient's own account reads this record (the page shows a plain-language "
        "summary first and folds the technical tables); care_team otherwise",
    )
    watchlist_version: str
    rule: dict[str, object]
    samples: list[SampleStats]
    clones: list[CloneShare] = Field(description=f"the top {TOP_CLONES} clones of each series over time, and 'other'")
    expansions: list[ExpansionView]
    watchlist_sites: list[WatchSite]
    sharing: list[SharingView]
    vector: list[VectorPoint]
    off_target: list[OffTargetView]


class CisView(BaseModel):
    group: str
    genes: int
    missing_genes: int
    missing_is: int
    cis: list[dict[str, object]]


class _Watch:
    """The watch-list on each genome build of the data (the shipped list, or a deployment's CSV)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._by_genome: dict[str, tuple[str, GeneIndex, set[str]]] = {}

    def __call__(self, genome: str) -> tuple[str, GeneIndex, set[str]]:
        if genome not in self._by_genome:
            if genome in GENOMES:
                version, genes = load_watchlist(genome, self.path)  # type: ignore[arg-type]
            else:  # an unknown build: no coordinates to compare, nearest-gene names still count
                version, genes = load_watchlist("hg38", self.path)
                genes = [GeneSpan(g.symbol, "", 0, -1) for g in genes]
            self._by_genome[genome] = (version, GeneIndex(genes), {g.symbol for g in genes})
        return self._by_genome[genome]


def _series(cell_type: str, tissue: str) -> str:
    return " ".join(x for x in (cell_type, tissue) if x) or "all"


def _require(scope: Scope) -> None:
    if not scope.patient_level:
        raise NotInScopeError("integration-site data are patient-level data, not in this account's scope")


def _sites(session: Session, scope: Scope, patient_id: str | None) -> list[tuple]:  # type: ignore[type-arg]
    s, i = IsSampleRow, IsSiteRow
    query = (
        select(
            s.patient_id,
            s.sample,
            s.time_point,
            s.months,
            s.cell_type,
            s.tissue,
            i.quantification,
            i.chr,
            i.position,
            i.strand,
            i.nearest_gene,
            i.abundance,
            i.gene_strand,
            s.genome,
        )
        .join(i, i.sample_id == s.id)
        .where(patient_condition(scope, s.patient_id))
        .order_by(s.patient_id, s.months, s.sample, i.quantification, i.id)
    )
    if patient_id is not None:
        query = query.where(s.patient_id == patient_id)
    return [tuple(r) for r in session.execute(query)]


def _stats(rows: list[tuple], watchlist: _Watch) -> list[SampleStats]:  # type: ignore[type-arg]
    groups: dict[tuple[str, str, str], list[tuple]] = defaultdict(list)  # type: ignore[type-arg]
    for r in rows:
        groups[(r[0], r[1], r[6])].append(r)
    out = []
    for (patient, sample, q), items in groups.items():
        d = clone_diversity([r[11] for r in items])
        top = items[d.top_index]
        first = items[0]
        _, index, watch = watchlist(first[13])
        out.append(
            SampleStats(
                patient_id=patient,
                sample=sample,
                time_point=first[2],
                months=first[3],
                cell_type=first[4],
                tissue=first[5],
                quantification=q,
                n_is=d.n_is,
                total=d.total,
                shannon=d.shannon,
                simpson=d.simpson,
                inverse_simpson=d.inverse_simpson,
                pielou=None if d.n_is < 2 else d.pielou,
                gini=d.gini,
                chao1=d.chao1,
                uc50=d.uc50,
                top_clone=clone_label(top[7], top[8], top[9]),
                top_clone_gene=top[10],
                top_fraction=d.top_fraction,
                top_tied=d.top_tied,
                n_watchlist_50kb=sum(1 for r in items if r[11] > 0 and index.within(r[7], r[8], WATCH_DISTANCE_BP)),
                n_watchlist_nearest=sum(1 for r in items if r[11] > 0 and set(r[10].split(",")) & watch),
            )
        )
    return out


def sample_stats(
    session: Session, scope: Scope, patient_id: str | None = None, *, watchlist: Path | None = None
) -> list[SampleStats]:
    """Per-sample diversity of every quantification, of one patient or of every patient in scope."""
    _require(scope)
    rows = _sites(session, scope, patient_id)
    if patient_id is not None and not rows:
        raise NotFoundError(f"no integration-site data for patient {patient_id!r}")
    return _stats(rows, _Watch(watchlist))


def patient_genotox(
    session: Session,
    scope: Scope,
    patient_id: str,
    *,
    watchlist: Path | None = None,
    rule: ExpansionRule | None = None,
) -> PatientGenotox:
    """Everything the genotoxicity page shows of one patient in scope."""
    _require(scope)
    rule = rule or ExpansionRule()
    rows = _sites(session, scope, patient_id)
    v = VectorMeasurementRow
    vector = [
        VectorPoint(
            kind=r.kind,
            months=r.months,
            measured_on=r.measured_on,
            cell_type=r.cell_type,
            value=r.value,
            unit=r.unit,
            method=r.method,
        )
        for r in session.scalars(
            select(v)
            .where(v.patient_id == patient_id, patient_condition(scope, v.patient_id))
            .order_by(v.kind, v.months)
        )
    ]
    o = OffTargetRow
    off = [
        OffTargetView(
            assay=r.assay,
            site=r.site,
            gene=r.gene,
            indel_percent=r.indel_percent,
            detection_limit_percent=r.detection_limit_percent,
            result=r.result,
            measured_on=r.measured_on,
            months=r.months,
        )
        for r in session.scalars(
            select(o).where(o.patient_id == patient_id, patient_condition(scope, o.patient_id)).order_by(o.id)
        )
    ]
    if not rows and not vector and not off:
        raise NotFoundError(f"no genotoxicity data for patient {patient_id!r}")
    watchlists = _Watch(watchlist)
    stats = _stats(rows, watchlists)
    versions: set[str] = set()
    by_series: dict[str, list[tuple]] = defaultdict(list)  # type: ignore[type-arg]
    for r in rows:
        by_series[_series(r[4], r[5])].append(r)
    clones: list[CloneShare] = []
    expansions: list[ExpansionView] = []
    sites: list[WatchSite] = []
    sets_by_series: dict[str, dict[tuple[float, str], set[tuple[str, int, str]]]] = defaultdict(dict)
    for series, all_items in by_series.items():
        q = series_quantification({r[6] for r in all_items}) or ""
        items = [r for r in all_items if r[6] == q and r[11] > 0]
        totals: dict[str, float] = defaultdict(float)
        for r in items:
            totals[r[1]] += r[11]
        share = {id(r): r[11] / totals[r[1]] for r in items}
        gene_of = {clone_label(r[7], r[8], r[9]): r[10] for r in items}
        peak: dict[str, float] = defaultdict(float)
        for r in items:
            c = clone_label(r[7], r[8], r[9])
            peak[c] = max(peak[c], share[id(r)])
        top = set(sorted(peak, key=lambda c: (-peak[c], c))[:TOP_CLONES])
        per_sample: dict[str, list[tuple]] = defaultdict(list)  # type: ignore[type-arg]
        for r in items:
            per_sample[r[1]].append(r)
            sets_by_series[series].setdefault((r[3], r[2]), set()).add((r[7], r[8], r[9]))
        for sample, its in per_sample.items():
            other = 0.0
            for r in its:
                c = clone_label(r[7], r[8], r[9])
                if c in top:
                    clones.append(
                        CloneShare(
                            series=series, months=r[3], time_point=r[2], clone=c, gene=r[10], fraction=share[id(r)]
                        )
                    )
                else:
                    other += share[id(r)]
            clones.append(
                CloneShare(
                    series=series, months=its[0][3], time_point=its[0][2], clone="other", gene="", fraction=other
                )
            )
            version, index, watch = watchlists(its[0][13])
            versions.add(version)
            for r in its:
                near = index.within(r[7], r[8], WATCH_DISTANCE_BP)
                nearest = set(r[10].split(",")) & watch
                if near or nearest:
                    sites.append(
                        WatchSite(
                            sample=sample,
                            series=series,
                            months=r[3],
                            clone=clone_label(r[7], r[8], r[9]),
                            nearest_gene=r[10],
                            watchlist_genes=sorted({g.symbol for g, _ in near} | nearest),
                            distance_bp=near[0][1] if near else None,
                            fraction=share[id(r)],
                            quantification=q,
                        )
                    )
        locus = {clone_label(r[7], r[8], r[9]): (r[7], r[8], r[13]) for r in items}
        for e in find_expansions(
            [r[3] for r in items], [clone_label(r[7], r[8], r[9]) for r in items], [share[id(r)] for r in items], rule
        ):
            chrom, pos, genome = locus[e.clone]
            near = watchlists(genome)[1].within(chrom, pos, WATCH_DISTANCE_BP)
            expansions.append(
                ExpansionView(
                    series=series,
                    clone=e.clone,
                    gene=gene_of.get(e.clone, ""),
                    months=e.time,
                    kind=e.kind,
                    severity="high" if near else e.severity,
                    fraction=e.fraction,
                    watchlist_genes=sorted({g.symbol for g, _ in near}),
                )
            )
    sharing: list[SharingView] = []
    by_time: dict[tuple[float, str], dict[str, set[tuple[str, int, str]]]] = defaultdict(dict)
    for series, per_time in sets_by_series.items():
        for t, s in per_time.items():
            by_time[t][series] = s
        ordered = {f"{t[1]} ({t[0]:.1f} m)": per_time[t] for t in sorted(per_time)}
        sharing += [_sharing("time points", x, series) for x in is_sharing(ordered)]
    for t, per_series in sorted(by_time.items()):
        sharing += [_sharing("cell types", x, f"{t[1]}") for x in is_sharing(per_series)]
    return PatientGenotox(
        patient_id=patient_id,
        audience="patient" if scope.patient is not None and not scope.all_patients else "care_team",
        watchlist_version=", ".join(sorted(versions)),
        rule={
            "dominance": rule.dominance,
            "high_dominance": rule.high_dominance,
            "growth_points": rule.growth_points,
            "growth_min_fraction": rule.growth_min_fraction,
            "version": rule.version,
            "verified": rule.verified,
        },
        samples=stats,
        clones=sorted(clones, key=lambda c: (c.series, c.months, c.clone == "other", -c.fraction)),
        expansions=sorted(expansions, key=lambda e: (e.series, e.months, e.clone)),
        watchlist_sites=sorted(sites, key=lambda s: (s.series, s.months, -s.fraction)),
        sharing=sharing,
        vector=vector,
        off_target=off,
    )


def _sharing(between: str, s: Sharing, context: str) -> SharingView:
    return SharingView(
        between=between,
        g1=f"{context}: {s.g1}" if between == "time points" else f"{s.g1} ({context})",
        g2=f"{context}: {s.g2}" if between == "time points" else f"{s.g2} ({context})",
        count_g1=s.count_g1,
        count_g2=s.count_g2,
        shared=s.shared,
        on_g1=s.on_g1,
        on_g2=s.on_g2,
        on_union=s.on_union,
    )


def cis_view(
    session: Session,
    scope: Scope,
    gene_lengths: Mapping[tuple[str, str, str], float],
    *,
    by_patient: bool = False,
    flanking_bp: int = 100_000,
    alpha: float = 0.05,
) -> list[CisView]:
    """ISAnalytics' Grubbs test for CIS over the IS in scope (each IS once per sample), for all
    patients together or per patient; ``gene_lengths`` from a gene table of the data's genome."""
    _require(scope)
    rows = _sites(session, scope, None)
    groups: dict[str, dict[tuple[str, str, int, str], tuple[str, str]]] = defaultdict(dict)
    for r in rows:
        groups[r[0] if by_patient else "all"][(r[1], r[7], r[8], r[9])] = (r[10], r[12])
    out = []
    for group, sites in sorted(groups.items()):
        keys = list(sites)
        result = cis_grubbs(
            [k[1] for k in keys],
            [k[2] for k in keys],
            [k[3] for k in keys],
            [sites[k][0] for k in keys],
            [sites[k][1] for k in keys],
            gene_lengths,
            flanking_bp=flanking_bp,
            alpha=alpha,
        )
        out.append(
            CisView(
                group=group,
                genes=len(result.genes),
                missing_genes=len(result.missing_genes),
                missing_is=result.missing_is,
                cis=[_cis_row(g) for g in result.cis],
            )
        )
    return out


def _cis_row(g: CisGene) -> dict[str, object]:
    keep = (
        "gene",
        "gene_strand",
        "chr",
        "n_is",
        "span_bp",
        "average_tx_len",
        "frequency_with_tolerance",
        "neg_zscore",
        "p_two_tailed",
        "p_bonferroni",
        "p_fdr",
    )
    d = g.to_dict()
    return {k: d[k] for k in keep}
