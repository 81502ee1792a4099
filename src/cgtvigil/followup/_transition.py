"""The paediatric-to-adult transition (domain.md §6): Got Transition's six core elements as
age-based tasks, assent at the configured age, re-consent at majority (raised the table's lead
time before it), and transfers between sites: the plan, visits, alerts and tasks stay keyed to
the patient, so they move with them; the receiving site sees them at once and the sending site
keeps read access only if the transfer grants it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cgtvigil.errors import NotFoundError, NotInScopeError, ValidationError
from cgtvigil.followup._consent import majority_date, refresh_consent_state
from cgtvigil.model import JurisdictionTable, ProductDictionary
from cgtvigil.schedules import milestone_date
from cgtvigil.store import (
    ConsentRow,
    LtfuTaskRow,
    LtfuVisitRow,
    PatientRow,
    Scope,
    TransferRow,
    TreatmentRow,
    patient_condition,
    utc_naive,
)

__all__ = ["ELEMENTS", "Transfer", "close_task", "close_transition_task", "transfer_patient", "transition_sweep"]

# Got Transition Six Core Elements 3.0 (domain.md §6.2): element -> (task kind, age, status)
ELEMENTS: dict[int, tuple[str, str, int, str]] = {
    1: ("transition_policy", "Transition policy shared with youth and family", 12, "confirmed"),
    2: ("transition_tracking", "Tracking and monitoring (transition registry)", 12, "confirmed"),
    3: ("transition_readiness", "Transition readiness assessment", 14, "UNCONFIRMED"),
    4: ("transition_planning", "Transition planning (legal change at majority prepared from ~16)", 14, "confirmed"),
    5: ("transfer_of_care", "Transfer of care to an adult site", 18, "UNCONFIRMED"),
}
COMPLETION_DAYS = 90  # element 6: confirm the first adult visit within this time after a transfer (design choice)


def _task(
    session: Session,
    patient_id: str,
    kind: str,
    element: int | None,
    due: date,
    approx: bool,
    detail: str,
    now: datetime,
) -> bool:
    row = session.scalar(select(LtfuTaskRow).where(LtfuTaskRow.patient_id == patient_id, LtfuTaskRow.kind == kind))
    if row is None:
        session.add(
            LtfuTaskRow(
                patient_id=patient_id,
                kind=kind,
                element=element,
                due=due,
                approximate=approx,
                status="open",
                detail=detail[:512],
                created_at=utc_naive(now),
            )
        )
        return True
    if row.status == "open" and row.due != due:  # a move of jurisdiction changes the age of majority
        row.due, row.approximate, row.detail = due, approx, detail[:512]
    return False


def transition_sweep(
    session: Session, jurisdictions: JurisdictionTable, now: datetime, patients: list[str] | None = None
) -> dict[str, int]:
    """Raise the transition tasks that are due within the table's lead time for every patient
    treated as a minor (or ``patients``), and re-derive consent holds of those past majority.
    The caller audits and commits. Returns counts of tasks raised and patients held."""
    today = now.date()
    lead = timedelta(days=jurisdictions.reconsent_lead_days)
    first = {
        pid: day0
        for pid, day0 in session.execute(
            select(TreatmentRow.patient_id, TreatmentRow.infusion_date).order_by(TreatmentRow.infusion_date.desc())
        )
    }
    query = select(PatientRow).where(PatientRow.birth_date.is_not(None))
    if patients is not None:
        query = query.where(PatientRow.id.in_(patients))
    raised = held = 0
    for p in session.scalars(query):
        adult_on, approx = majority_date(p, jurisdictions)
        day0 = first.get(p.id)
        if adult_on is None or day0 is None or adult_on <= day0:
            continue  # treated as an adult: no transition
        entry, fallback = jurisdictions.lookup(p.jurisdiction)
        label = f"{entry.code} {entry.majority_age} y" + (
            " (UNCONFIRMED)" if entry.status != "confirmed" or fallback else ""
        )
        precision = p.birth_date_precision if p.birth_date_precision in ("day", "month", "year") else "day"
        assert p.birth_date is not None
        tasks: list[tuple[str, int | None, date, str]] = [
            ("reconsent", None, adult_on, f"re-consent of the patient at majority ({label})"),
        ]
        assent = milestone_date(p.birth_date, precision, entry.assent_age)  # type: ignore[arg-type]
        if assent < adult_on:
            tasks.append(("assent", None, max(assent, day0), f"child assent from age {entry.assent_age} (IRB-set)"))
        for number, (kind, title, age, status) in ELEMENTS.items():
            due = adult_on if number == 5 else milestone_date(p.birth_date, precision, age)  # type: ignore[arg-type]
            note = f"Got Transition element {number}: {title}" + (" (age UNCONFIRMED)" if status != "confirmed" else "")
            tasks.append((kind, number, min(max(due, day0), adult_on), note))
        for kind, element, due, detail in tasks:
            # preparation for adulthood (assent, elements 1-4) lapses once the patient is of age
            lapsed = adult_on <= today and kind not in ("reconsent", "transfer_of_care")
            if due - lead <= today and not lapsed:
                raised += int(_task(session, p.id, kind, element, due, approx or precision != "day", detail, now))
        if adult_on <= today:
            states = refresh_consent_state(session, p.id, today, jurisdictions)
            held += any(s == "held" for s in states.values())
            signed = session.scalar(
                select(ConsentRow.id).where(
                    ConsentRow.patient_id == p.id,
                    ConsentRow.signer.in_(("patient", "irb")),
                    ConsentRow.signed_on >= adult_on,
                    ConsentRow.withdrawn.is_(False),
                )
            )
            if signed is not None:
                close_task(session, p.id, "reconsent", "system", now)
    session.flush()
    return {"tasks_raised": raised, "patients_held": held}


def close_task(session: Session, patient_id: str, kind: str, by: str, now: datetime, status: str = "done") -> bool:
    row = session.scalar(select(LtfuTaskRow).where(LtfuTaskRow.patient_id == patient_id, LtfuTaskRow.kind == kind))
    if row is None or row.status != "open":
        return False
    row.status, row.closed_at, row.closed_by = status, utc_naive(now), by
    return True


def close_transition_task(
    session: Session, scope: Scope, patient_id: str, kind: str, now: datetime, *, waive: bool = False
) -> LtfuTaskRow:
    """Close (done, or waived) an open task of a patient the scope may act on: the one workflow
    call of the page, the JSON API and the CLI. The caller audits and commits."""
    patient = session.scalar(
        select(PatientRow.id).where(PatientRow.id == patient_id, patient_condition(scope, PatientRow.id, write=True))
    )
    if patient is None:
        raise NotFoundError(f"no patient {patient_id!r}")
    if not scope.acts:
        raise NotInScopeError("this account may not close follow-up tasks")
    if not close_task(session, patient_id, kind, scope.actor, now, "waived" if waive else "done"):
        raise ValidationError([f"patient {patient_id} has no open task {kind[:40]!r}"])
    row = session.scalar(select(LtfuTaskRow).where(LtfuTaskRow.patient_id == patient_id, LtfuTaskRow.kind == kind))
    assert row is not None
    session.flush()
    return row


@dataclass(frozen=True)
class Transfer:
    row: TransferRow

    def audit_detail(self) -> dict[str, object]:
        r = self.row
        return {
            "from": r.from_site,
            "to": r.to_site,
            "jurisdiction": [r.from_jurisdiction, r.to_jurisdiction],
            "on": r.moved_on.isoformat(),
            "sending_access": r.sending_access,
            "read_until": r.read_until.isoformat() if r.read_until else None,
        }


def transfer_patient(
    session: Session,
    scope: Scope,
    jurisdictions: JurisdictionTable,
    products: ProductDictionary,
    patient_id: str,
    *,
    to_site: str,
    moved_on: date,
    now: datetime,
    sending_access: Literal["none", "read"] = "none",
    read_until: date | None = None,
    to_jurisdiction: str | None = None,
) -> Transfer:
    """Move a patient the scope may act on to ``to_site`` (and jurisdiction), with a transfer
    summary (product, lot, infusion, vector, outstanding visits); closes the transfer task and
    opens its completion (element 6). The caller audits and commits."""
    patient = session.scalar(
        select(PatientRow).where(PatientRow.id == patient_id, patient_condition(scope, PatientRow.id, write=True))
    )
    if patient is None:
        raise NotFoundError(f"no patient {patient_id!r}")
    if not scope.acts:
        raise NotInScopeError("this account may not transfer patients")
    problems = []
    if not to_site.strip() or len(to_site) > 64 or not to_site.isprintable():
        problems.append(f"The receiving site must be printable text of 1-64 characters. Got {to_site[:80]!r}.")
    if moved_on > now.date() + timedelta(days=1):  # the patient moves now (a day for the site's time zone)
        problems.append(f"The move date {moved_on} is in the future.")
    if to_site == patient.site:
        problems.append(f"patient {patient_id} is already at site {to_site!r}")
    if sending_access not in ("none", "read"):
        problems.append(f"sending_access must be none or read. Got {sending_access!r}.")
    if read_until is not None and sending_access != "read":
        problems.append("read_until has no effect unless sending_access is read")
    if to_jurisdiction is not None and (not to_jurisdiction.strip() or len(to_jurisdiction) > 16):
        problems.append(f"The jurisdiction must be 1-16 characters. Got {to_jurisdiction[:80]!r}.")
    if problems:
        raise ValidationError(problems)
    treatment = session.scalar(
        select(TreatmentRow).where(TreatmentRow.patient_id == patient_id).order_by(TreatmentRow.infusion_date.desc())
    )
    product = products.by_id().get(treatment.product_id) if treatment else None
    outstanding = session.scalar(
        select(func.count())
        .select_from(LtfuVisitRow)
        .where(LtfuVisitRow.patient_id == patient_id, LtfuVisitRow.state == "scheduled")
    )
    summary = {
        "product": treatment.product_id if treatment else None,
        "lot": treatment.lot if treatment else None,
        "infusion_date": treatment.infusion_date.isoformat() if treatment else None,
        "vector": product.vector if product else None,
        "outstanding_visits": int(outstanding or 0),
        "integration_site_results": "see the genotoxicity record of the patient",
    }
    row = TransferRow(
        patient_id=patient_id,
        from_site=patient.site,
        to_site=to_site,
        from_jurisdiction=patient.jurisdiction,
        to_jurisdiction=to_jurisdiction or patient.jurisdiction,
        moved_on=moved_on,
        sending_access=sending_access,
        read_until=read_until,
        summary=summary,
        by=scope.actor,
        at=utc_naive(now),
    )
    session.add(row)
    patient.site = to_site
    if to_jurisdiction:
        patient.jurisdiction = to_jurisdiction
    session.flush()
    if close_task(session, patient_id, "transfer_of_care", scope.actor, now):
        _task(
            session,
            patient_id,
            "transfer_completion",
            6,
            moved_on + timedelta(days=COMPLETION_DAYS),
            False,
            "Got Transition element 6: confirm the first adult visit and close the loop",
            now,
        )
    transition_sweep(session, jurisdictions, now, [patient_id])  # the age of majority may have changed
    session.flush()
    return Transfer(row)
