"""Storing integration sites, vector measurements and off-target results per patient, and the
clonal-expansion check that raises an alert on the patient through the monitoring alert
life-cycle (``monitoring.raise_alert``: de-duplicated per patient and rule, escalated when not
acknowledged, notified to the site's care-team channels in the same transaction)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from cgtvigil.clonality import ExpansionRule, GeneIndex, GeneSpan, find_expansions
from cgtvigil.genotox._readers import Quarantined, SiteBatch
from cgtvigil.genotox._vector import VectorBatch
from cgtvigil.monitoring import MonitoringRules, raise_alert
from cgtvigil.store import (
    IsQuarantineRow,
    IsSampleRow,
    IsSiteRow,
    OffTargetRow,
    PatientRow,
    VectorMeasurementRow,
    utc_naive,
)

__all__ = [
    "EXPANSION_RULE",
    "PREFERRED_QUANTIFICATIONS",
    "WATCH_DISTANCE_BP",
    "ExpansionAlert",
    "IngestSummary",
    "check_expansions",
    "clone_label",
    "store_sites",
    "store_vector",
]

EXPANSION_RULE = "clonal_expansion"
WATCH_DISTANCE_BP = 50_000
# abundance of a clone: cells (or fragments) before reads, which PCR amplification distorts
PREFERRED_QUANTIFICATIONS = (
    "inferredCells",
    "fragmentEstimate",
    "cellCount",
    "barcodeCount",
    "ShsCount",
    "abundance",
    "reads",
    "seqCount",
)


@dataclass(frozen=True)
class ExpansionAlert:
    patient: str
    severity: str
    message: str
    created: bool
    alert_id: int


@dataclass(frozen=True)
class IngestSummary:
    source: str
    layout: str
    rows: int
    loaded: int
    samples: int
    replaced_samples: int
    patients: list[str]
    unregistered: list[str]
    quarantined: int
    reasons: dict[str, int]
    vector_points: int = 0
    alerts: list[ExpansionAlert] = field(default_factory=list)
    collisions: int = 0  # IS of these patients also stored for another patient (contamination or recurrent)

    def audit_detail(self) -> dict[str, object]:
        return {
            "source": self.source,
            "layout": self.layout,
            "rows": self.rows,
            "loaded": self.loaded,
            "samples": self.samples,
            "replaced_samples": self.replaced_samples,
            "patients": len(self.patients),
            "quarantined": self.reasons,
            "vector_points": self.vector_points,
            "collisions": self.collisions,
            "alerts": [a.alert_id for a in self.alerts],
        }


def _quarantine(session: Session, source: str, items: list[Quarantined], now: datetime) -> dict[str, int]:
    if items:
        session.execute(
            insert(IsQuarantineRow),
            [
                {
                    "source": source,
                    "line": q.line,
                    "reason": q.reason,
                    "detail": q.detail[:1024],
                    "raw": q.raw,
                    "received_at": now,
                }
                for q in items
            ],
        )
    return dict(Counter(q.reason for q in items))


def _unregistered(session: Session, patients: list[str]) -> list[str]:
    known = set(session.scalars(select(PatientRow.id).where(PatientRow.id.in_(patients))))
    return sorted(set(patients) - known)


def store_sites(
    session: Session,
    batch: SiteBatch,
    now: datetime,
    *,
    watchlist: list[GeneSpan],
    rule: ExpansionRule | None = None,
    rules: MonitoringRules | None = None,
) -> IngestSummary:
    """Store a batch (a sample already stored for the patient is replaced by the new file's
    version), then check each patient of the batch for clonal expansion (the caller audits and
    commits)."""
    at = utc_naive(now)
    samples: dict[tuple[str, str], IsSampleRow] = {}
    replaced = 0
    for rec in batch.records:
        key = (rec.patient, rec.sample)
        if key in samples:
            continue
        row = session.scalar(
            select(IsSampleRow).where(IsSampleRow.patient_id == rec.patient, IsSampleRow.sample == rec.sample)
        )
        if row is not None:
            session.execute(delete(IsSiteRow).where(IsSiteRow.sample_id == row.id))
            replaced += 1
        else:
            row = IsSampleRow(patient_id=rec.patient, sample=rec.sample)
            session.add(row)
        row.time_point, row.months, row.cell_type, row.tissue = rec.time_point, rec.months, rec.cell_type, rec.tissue
        row.genome, row.source, row.file_sha256, row.loaded_at = batch.genome, batch.source, batch.sha256, at
        samples[key] = row
    session.flush()
    values = [
        {
            "sample_id": samples[(rec.patient, rec.sample)].id,
            "quantification": q,
            "chr": rec.chr,
            "position": rec.position,
            "strand": rec.strand,
            "nearest_gene": rec.nearest_gene[:128],
            "gene_strand": rec.gene_strand[:1],
            "abundance": v,
            "line": rec.line,
        }
        for rec in batch.records
        for q, v in rec.abundance.items()
    ]
    for start in range(0, len(values), 5000):
        session.execute(insert(IsSiteRow), values[start : start + 5000])
    reasons = _quarantine(session, batch.source, batch.quarantined, at)
    vector = [
        {
            "patient_id": p,
            "kind": "vcn",
            "months": m,
            "cell_type": c,
            "sample": s,
            "value": v,
            "unit": "copies/cell",
            "method": "association file VCN",
            "source": batch.source,
        }
        for p, s, m, c, v in batch.vcn
    ]
    _replace_vector(session, vector)
    patients = sorted({p for p, _ in samples})
    collisions = _collisions(session, patients)
    alerts = [
        a for p in patients if (a := check_expansions(session, p, now, watchlist=watchlist, rule=rule, rules=rules))
    ]
    return IngestSummary(
        source=batch.source,
        layout=batch.layout,
        rows=batch.rows,
        loaded=len(batch.records),
        samples=len(samples),
        replaced_samples=replaced,
        patients=patients,
        unregistered=_unregistered(session, patients),
        quarantined=len(batch.quarantined),
        reasons=reasons,
        vector_points=len(vector),
        alerts=alerts,
        collisions=collisions,
    )


def _collisions(session: Session, patients: list[str]) -> int:
    """IS (chr, position, strand) of these patients that are stored for more than one patient:
    cross-contamination or a recurrent site, which ISAnalytics' remove_collisions resolves."""
    s, i = IsSampleRow, IsSiteRow
    shared = (
        select(i.chr, i.position, i.strand)
        .join(s, s.id == i.sample_id)
        .group_by(i.chr, i.position, i.strand)
        .having(func.count(func.distinct(s.patient_id)) > 1)
        .subquery()
    )
    mine = (
        select(i.chr, i.position, i.strand)
        .join(s, s.id == i.sample_id)
        .where(s.patient_id.in_(patients))
        .distinct()
        .subquery()
    )
    return (
        session.scalar(
            select(func.count()).select_from(
                mine.join(
                    shared,
                    (mine.c.chr == shared.c.chr)
                    & (mine.c.position == shared.c.position)
                    & (mine.c.strand == shared.c.strand),
                )
            )
        )
        or 0
    )


def _replace_vector(session: Session, rows: list[dict[str, object]]) -> None:
    """Insert measurements; one with the same patient, kind, time, cell type and sample replaces
    the stored one (a corrected file)."""
    v = VectorMeasurementRow
    for r in rows:
        session.execute(
            delete(v).where(
                v.patient_id == r["patient_id"],
                v.kind == r["kind"],
                v.months == r["months"],
                v.cell_type == r["cell_type"],
                v.sample == r["sample"],
            )
        )
    if rows:
        session.execute(insert(v), rows)


def store_vector(session: Session, batch: VectorBatch, now: datetime) -> IngestSummary:
    """Store vector measurements and off-target results (the caller audits and commits)."""
    at = utc_naive(now)
    _replace_vector(
        session,
        [
            {
                "patient_id": p.patient,
                "kind": p.kind,
                "months": p.months,
                "measured_on": p.measured_on,
                "cell_type": p.cell_type,
                "sample": p.sample,
                "value": p.value,
                "unit": p.unit,
                "method": p.method,
                "source": batch.source,
            }
            for p in batch.points
        ],
    )
    if batch.results:
        session.execute(
            insert(OffTargetRow),
            [
                {
                    "patient_id": r.patient,
                    "assay": r.assay,
                    "site": r.site,
                    "gene": r.gene,
                    "indel_percent": r.indel_percent,
                    "detection_limit_percent": r.detection_limit_percent,
                    "result": r.result,
                    "measured_on": r.measured_on,
                    "months": r.months,
                    "source": batch.source,
                }
                for r in batch.results
            ],
        )
    reasons = _quarantine(session, batch.source, batch.quarantined, at)
    patients = sorted({p.patient for p in batch.points} | {r.patient for r in batch.results})
    return IngestSummary(
        source=batch.source,
        layout="vector" if batch.points or not batch.results else "off-target",
        rows=batch.rows,
        loaded=len(batch.points) + len(batch.results),
        samples=0,
        replaced_samples=0,
        patients=patients,
        unregistered=_unregistered(session, patients),
        quarantined=len(batch.quarantined),
        reasons=reasons,
        vector_points=len(batch.points),
    )


def clone_label(chrom: str, position: int, strand: str) -> str:
    return f"{chrom}:{position}:{strand}"


def series_quantification(available: set[str]) -> str | None:
    """The quantification a clone's share is read from: cells before reads."""
    return next((q for q in PREFERRED_QUANTIFICATIONS if q in available), None)


def check_expansions(
    session: Session,
    patient: str,
    now: datetime,
    *,
    watchlist: list[GeneSpan],
    rule: ExpansionRule | None = None,
    rules: MonitoringRules | None = None,
) -> ExpansionAlert | None:
    """Raise (or update) the patient's clonal-expansion alert when a clone is dominant or
    growing at the latest time point of a cell type's series; a clone within 50 kb of a
    watch-list gene makes it ``high``. Returns the alert, or None when nothing expanded."""
    rule = rule or ExpansionRule()
    rows = session.execute(
        select(
            IsSampleRow.cell_type,
            IsSampleRow.tissue,
            IsSampleRow.months,
            IsSampleRow.id,
            IsSiteRow.quantification,
            IsSiteRow.chr,
            IsSiteRow.position,
            IsSiteRow.strand,
            IsSiteRow.nearest_gene,
            IsSiteRow.abundance,
        )
        .join(IsSiteRow, IsSiteRow.sample_id == IsSampleRow.id)
        .where(IsSampleRow.patient_id == patient)
    ).all()
    by_series: dict[str, list[tuple]] = {}  # type: ignore[type-arg]
    for r in rows:
        by_series.setdefault(" ".join(x for x in (r[0], r[1]) if x) or "all", []).append(tuple(r))
    index = GeneIndex(watchlist)
    found: list[tuple[int, float, str]] = []
    for series, items in by_series.items():
        q = series_quantification({i[4] for i in items})
        items = [i for i in items if i[4] == q]
        totals: Counter[int] = Counter()
        for i in items:
            totals[i[3]] += i[9]
        genes = {clone_label(i[5], i[6], i[7]): (i[5], i[6], i[8]) for i in items}
        expansions = find_expansions(
            [i[2] for i in items],
            [clone_label(i[5], i[6], i[7]) for i in items],
            [i[9] / totals[i[3]] if totals[i[3]] else 0.0 for i in items],
            rule,
        )
        latest = max(i[2] for i in items)
        kinds: dict[str, list[str]] = {}
        for e in expansions:
            if e.time == latest:
                kinds.setdefault(e.clone, []).append(e.kind)
        for clone, how_list in kinds.items():
            e = next(x for x in expansions if x.clone == clone and x.time == latest)
            chrom, pos, nearest = genes[clone]
            near = index.within(chrom, pos, WATCH_DISTANCE_BP)
            severity = "high" if near or e.severity == "high" else "warning"
            where = f" ({nearest})" if nearest else ""
            watch = f", {near[0][1]:,} bp from watch-list gene {near[0][0].symbol}," if near else ""
            how = " and ".join(
                f"holds {100 * e.fraction:.1f} % (dominance threshold {100 * rule.dominance:g} %)"
                if kind == "dominant"
                else f"grew over {rule.growth_points} time points to {100 * e.fraction:.1f} %"
                for kind in how_list
            )
            text = f"IS {clone}{where}{watch} {how} of {series} {q} at {e.time:.1f} months"
            found.append((0 if severity == "high" else 1, -e.fraction, text))
    if not found:
        return None
    found.sort()
    severity = "high" if found[0][0] == 0 else "warning"
    message = "Clonal expansion: " + "; ".join(t for _, _, t in found[:3])
    if len(found) > 3:
        message += f"; and {len(found) - 3} more"
    alert, created = raise_alert(
        session, patient, EXPANSION_RULE, severity, message[:512], now, rules or MonitoringRules()
    )
    return ExpansionAlert(patient, alert.severity, alert.message, created, alert.id)
