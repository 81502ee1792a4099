"""Storing incoming observations: exact repeats of the current value are idempotent; the same
device, kind and time with another value is a correction (both kept, the latest used, the old
one flagged superseded); every refused element is stored in the quarantine with its reason.

An observation is stored only for a registered patient (``UNKNOWN_PATIENT`` otherwise) of the
writer's site when the writer is a site's gateway (``OUT_OF_SCOPE``), and not before the
patient's birth (``IMPLAUSIBLE_TIME``). Writers of one patient are serialised (an immediate
write transaction on SQLite, a transaction-scoped advisory lock on PostgreSQL), and the store's
partial unique index keeps one current value per slot even against a writer that does not
take the lock: a collision is rolled back to a savepoint and the patient's batch re-decided
(reliability review D6, D7, D8).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cgtvigil.ingest import EARLIEST_TIME, IntakeResult, time_problem
from cgtvigil.model import Observation, QuarantinedInput
from cgtvigil.monitoring._notify import write_lock
from cgtvigil.store import ObservationRow, PatientRow, QuarantineRow, utc_naive

__all__ = ["IntakeSummary", "store_observations"]

_CHUNK = 500  # rows per statement (bounded memory and parameter counts)
_ATTEMPTS = 3  # tries of a batch when a writer that took no lock collides on a slot


@dataclass
class IntakeSummary:
    loaded: int = 0
    duplicates: int = 0
    corrections: int = 0
    quarantined: int = 0
    patients: set[str] = field(default_factory=set)  # patients written to
    refused_patients: set[str] = field(default_factory=set)  # unknown or of another site
    earliest: dict[str, datetime] = field(default_factory=dict)  # per patient: the oldest new observation
    reasons: dict[str, int] = field(default_factory=dict)
    quarantine: list[QuarantinedInput] = field(default_factory=list)  # the reader's and the intake's

    def to_dict(self) -> dict[str, object]:
        return {
            "loaded": self.loaded,
            "duplicates": self.duplicates,
            "corrections": self.corrections,
            "quarantined": self.quarantined,
            "quarantine_reasons": self.reasons,
            "patients": sorted(self.patients),
        }

    def _refuse(self, q: QuarantinedInput) -> None:
        self.quarantine.append(q)
        self.quarantined += 1
        self.reasons[q.reason] = self.reasons.get(q.reason, 0) + 1


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def _born(row: PatientRow) -> datetime:
    """The earliest plausible time of an observation of this patient."""
    if row.birth_date is None:
        return EARLIEST_TIME
    b = row.birth_date
    first = {"year": date(b.year, 1, 1), "month": date(b.year, b.month, 1)}.get(row.birth_date_precision, b)
    return max(EARLIEST_TIME, datetime(first.year, first.month, first.day, tzinfo=UTC))


def _refused(o: Observation, reason: str, detail: str) -> QuarantinedInput:
    return QuarantinedInput(
        source=o.source, location=o.location, reason=reason, detail=detail, raw=o.model_dump_json()[:4000]
    )


def _admit(
    session: Session, observations: list[Observation], site: str | None, summary: IntakeSummary
) -> dict[str, list[Observation]]:
    """The observations that may be stored, by patient; the others go to the summary's quarantine."""
    ids = sorted({o.patient for o in observations})
    patients: dict[str, PatientRow] = {}
    for chunk in _chunks(ids):
        patients.update((p.id, p) for p in session.scalars(select(PatientRow).where(PatientRow.id.in_(chunk))))
    admitted: dict[str, list[Observation]] = {}
    for o in observations:
        row = patients.get(o.patient)
        if row is None:
            summary.refused_patients.add(o.patient)
            summary._refuse(
                _refused(o, "UNKNOWN_PATIENT", f"patient {o.patient} is not registered (cgtvigil monitor patient-add)")
            )
            continue
        if site is not None and row.site != site:
            summary.refused_patients.add(o.patient)
            summary._refuse(_refused(o, "OUT_OF_SCOPE", f"patient {o.patient} is not a patient of site {site}"))
            continue
        born = _born(row)
        problem = time_problem(o.time, not_before=born)
        if problem is not None:
            if born > EARLIEST_TIME:
                problem = (problem[0], f"{problem[1]}, the patient's birth date ({row.birth_date_precision} precision)")
            summary._refuse(_refused(o, *problem))
            continue
        admitted.setdefault(o.patient, []).append(o)
    return admitted


def _write_quarantine(session: Session, entries: Sequence[QuarantinedInput], received_at: datetime) -> None:
    """Insert the entries a chunk at a time (bounded memory however many there are)."""
    for chunk in _chunks(entries):
        rows = [
            {
                "source": q.source[:16],
                "location": q.location.replace("\x00", "\\x00")[:256],
                "reason": q.reason[:32],
                "detail": q.detail.replace("\x00", "\\x00")[:1024],
                "raw": q.raw.replace("\x00", "\\x00")[:4000],
                "received_at": received_at,
            }
            for q in chunk
        ]
        session.execute(insert(QuarantineRow), rows)


def _serialise(session: Session, patients: Iterable[str]) -> None:
    """Make this transaction the only writer of these patients' observations until it ends: a
    read of a slot followed by a write must not interleave with another writer's."""
    write_lock(session, *(f"observations:{patient}" for patient in patients))


@dataclass
class _Slot:
    value: float
    stored_id: int | None  # the current row in the store, or None for a row of this batch
    pending: dict[str, Any] | None = None


@dataclass
class _Written:
    loaded: dict[str, int] = field(default_factory=dict)
    earliest: dict[str, datetime] = field(default_factory=dict)
    duplicates: int = 0
    corrections: int = 0


def _write(session: Session, admitted: dict[str, list[Observation]], received_at: datetime) -> _Written:
    """Store the admitted observations: a few statements per batch, whatever its size."""
    batch = [(o, utc_naive(o.time)) for patient in sorted(admitted) for o in admitted[patient]]
    kinds = sorted({o.kind for o, _ in batch})
    low, high = min(t for _, t in batch), max(t for _, t in batch)
    slots: dict[tuple[str, str, str, datetime], _Slot] = {}
    for chunk in _chunks(sorted(admitted)):
        for r in session.execute(
            select(
                ObservationRow.id,
                ObservationRow.patient_id,
                ObservationRow.kind,
                ObservationRow.device,
                ObservationRow.time,
                ObservationRow.value,
            ).where(
                ObservationRow.patient_id.in_(chunk),
                ObservationRow.kind.in_(kinds),
                ObservationRow.time.between(low, high),
                ObservationRow.superseded.is_(False),
            )
        ):
            slots[(r.patient_id, r.kind, r.device, r.time)] = _Slot(r.value, r.id)
    written = _Written()
    rows: list[dict[str, Any]] = []
    superseded: list[int] = []
    for o, t in batch:
        key = (o.patient, o.kind, o.device or "", t)
        current = slots.get(key)
        if current is not None and abs(current.value - o.value) < 1e-12:
            written.duplicates += 1
            continue
        if current is not None:
            written.corrections += 1
            if current.pending is not None:
                current.pending["superseded"] = True
            elif current.stored_id is not None:
                superseded.append(current.stored_id)
        row = {
            "patient_id": o.patient,
            "kind": o.kind,
            "value": o.value,
            "unit": o.unit,
            "time": t,
            "source": o.source,
            "device": o.device or "",
            "location": o.location[:256],
            "received_at": received_at,
            "superseded": False,
            "is_correction": current is not None,
            "ref_low": o.ref_low,
            "ref_high": o.ref_high,
        }
        rows.append(row)
        slots[key] = _Slot(o.value, None, row)
        written.loaded[o.patient] = written.loaded.get(o.patient, 0) + 1
        written.earliest[o.patient] = min(t, written.earliest.get(o.patient, t))
    for ids in _chunks(superseded):
        session.execute(update(ObservationRow).where(ObservationRow.id.in_(ids)).values(superseded=True))
    for chunk_rows in _chunks(rows):
        session.execute(insert(ObservationRow), list(chunk_rows))
    return written


def store_observations(
    session: Session, result: IntakeResult, received_at: datetime, *, site: str | None = None
) -> IntakeSummary:
    """Store ``result`` in the caller's transaction (the caller commits). ``site``: the site of
    a gateway writing, whose writes are limited to that site's registered patients; None for
    an operator (every registered patient)."""
    summary = IntakeSummary()
    received = utc_naive(received_at)
    for q in result.quarantine:
        summary._refuse(q)
    admitted = _admit(session, result.observations, site, summary)
    _serialise(session, admitted)
    _write_quarantine(session, summary.quarantine, received)
    if not admitted:
        return summary
    for attempt in range(_ATTEMPTS):
        try:
            with session.begin_nested():  # a foreign writer's collision undoes only this part
                written = _write(session, admitted, received)
            break
        except IntegrityError:
            if attempt == _ATTEMPTS - 1:
                raise
    summary.loaded = sum(written.loaded.values())
    summary.duplicates, summary.corrections = written.duplicates, written.corrections
    summary.patients = set(written.loaded)
    summary.earliest = written.earliest
    return summary
