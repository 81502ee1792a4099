"""Storing incoming observations: exact repeats are idempotent; the same device, kind and time
with another value is a correction (both kept, the latest used, the old one flagged
superseded); quarantined inputs are stored with their reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cgtvigil.ingest import IntakeResult
from cgtvigil.store import ObservationRow, QuarantineRow, utc_naive

__all__ = ["IntakeSummary", "store_observations"]


@dataclass
class IntakeSummary:
    loaded: int = 0
    duplicates: int = 0
    corrections: int = 0
    quarantined: int = 0
    patients: set[str] = field(default_factory=set)
    earliest: dict[str, datetime] = field(default_factory=dict)  # per patient: the oldest new observation
    reasons: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "loaded": self.loaded,
            "duplicates": self.duplicates,
            "corrections": self.corrections,
            "quarantined": self.quarantined,
            "quarantine_reasons": self.reasons,
            "patients": sorted(self.patients),
        }


def store_observations(session: Session, result: IntakeResult, received_at: datetime) -> IntakeSummary:
    summary = IntakeSummary()
    received_at = utc_naive(received_at)
    for q in result.quarantine:
        session.add(
            QuarantineRow(
                source=q.source,
                location=q.location,
                reason=q.reason,
                detail=q.detail,
                raw=q.raw,
                received_at=received_at,
            )
        )
        summary.quarantined += 1
        summary.reasons[q.reason] = summary.reasons.get(q.reason, 0) + 1
    for o in result.observations:
        device = o.device or ""
        when = utc_naive(o.time)
        same_slot = session.scalars(
            select(ObservationRow).where(
                ObservationRow.patient_id == o.patient,
                ObservationRow.kind == o.kind,
                ObservationRow.device == device,
                ObservationRow.time == when,
            )
        ).all()
        if any(abs(r.value - o.value) < 1e-12 for r in same_slot):
            summary.duplicates += 1
            continue
        correction = bool(same_slot)
        for r in same_slot:
            r.superseded = True
        session.add(
            ObservationRow(
                patient_id=o.patient,
                kind=o.kind,
                value=o.value,
                unit=o.unit,
                time=when,
                source=o.source,
                device=device,
                location=o.location[:256],
                received_at=received_at,
                is_correction=correction,
                ref_low=o.ref_low,
                ref_high=o.ref_high,
            )
        )
        session.flush()
        summary.loaded += 1
        summary.corrections += correction
        summary.patients.add(o.patient)
        summary.earliest[o.patient] = min(when, summary.earliest.get(o.patient, when))
    return summary
