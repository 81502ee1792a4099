"""Collision handling of a batch of integration sites (the option ``collisions="resolve"`` of
``cgtvigil genotox ingest``): the IS of the batch seen in more than one patient are assigned to
one patient by ISAnalytics' documented rule (:func:`cgtvigil.clonality.resolve_collisions`:
sequencing date, then replicates, then a reads ratio), or removed. Nothing is dropped silently:
every row taken out goes to the quarantine with its reason (``IS_COLLISION_REASSIGNED`` to the
patient that kept the IS, or ``IS_COLLISION_REMOVED``) and the rule that decided.

Only collisions inside the batch are resolved (the file holds every patient, as ISAnalytics'
matrices do); an IS shared with patients stored from earlier files is counted, as before. The
long layout and the ISAnalytics matrices carry no sequencing date per row, so the date step
does not apply to them."""

from __future__ import annotations

from dataclasses import replace

from cgtvigil.clonality import CollisionItem, resolve_collisions
from cgtvigil.genotox._readers import Quarantined, SiteBatch, SiteRecord

__all__ = ["READS_PREFERENCE", "resolve_batch_collisions"]

READS_PREFERENCE = ("seqCount", "reads")  # the quantification the reads ratio compares (else the first one)


def _reads(rec: SiteRecord) -> float:
    for q in READS_PREFERENCE:
        if q in rec.abundance:
            return rec.abundance[q]
    return next(iter(rec.abundance.values()), 0.0)


def resolve_batch_collisions(batch: SiteBatch, *, reads_ratio: float = 10.0) -> tuple[SiteBatch, dict[str, int]]:
    """The batch with its collisions resolved, and the counts: collisions, decided by date,
    replicates or reads ratio, removed, rows quarantined."""
    result = resolve_collisions(
        [CollisionItem((r.chr, r.position, r.strand), r.patient, _reads(r)) for r in batch.records],
        reads_ratio=reads_ratio,
    )
    decided = {d.site: d for d in result.decisions}
    kept: list[SiteRecord] = []
    put_aside: list[Quarantined] = []
    for r in batch.records:
        d = decided.get((r.chr, r.position, r.strand))
        if d is None or d.kept == r.patient:
            kept.append(r)
            continue
        where = f"{r.chr}:{r.position}:{r.strand} in {', '.join(d.subjects)}"
        if d.kept is None:
            reason, detail = "IS_COLLISION_REMOVED", f"{where}: no rule decided (reads ratio {reads_ratio:g})"
        else:
            reason, detail = "IS_COLLISION_REASSIGNED", f"{where}: assigned to {d.kept} by {d.rule}"
        raw = f"{r.patient},{r.sample},{r.chr},{r.position},{r.strand}," + ";".join(
            f"{q}={v:g}" for q, v in r.abundance.items()
        )
        put_aside.append(Quarantined(line=r.line, reason=reason, detail=detail, raw=raw))
    counts = result.counts | {"rows_quarantined": len(put_aside)}
    return replace(batch, records=kept, quarantined=[*batch.quarantined, *put_aside]), counts
