"""Consent records per use (safety follow-up, data sharing, biosample use, re-contact), with
signer, kind (parental permission, child assent, adult consent, IRB waiver) and form version;
withdrawal is a record of its own. After every change the patient's consent state per use is
re-derived into ``consent_state``, which the store's scope helper reads: the one enforcement
point of queries, exports, pages and the JSON API. A patient past the age of majority whose
last consent for a use was not signed by themselves (or waived) after that date is ``held`` for
every use but safety follow-up (domain.md §6.1: safety data the law requires are kept)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from cgtvigil._validation import Problems
from cgtvigil.errors import NotFoundError, NotInScopeError
from cgtvigil.model import JurisdictionTable
from cgtvigil.schedules import milestone_date
from cgtvigil.store import (
    CONSENT_USES,
    ConsentRow,
    ConsentStateRow,
    ConsentUse,
    PatientRow,
    Scope,
    patient_condition,
    utc_naive,
)

__all__ = ["CONSENT_KINDS", "SIGNERS", "consent_states", "majority_date", "record_consent", "refresh_consent_state"]

CONSENT_KINDS = ("permission", "assent", "consent", "waiver")
SIGNERS = ("parent", "guardian", "patient", "irb")
Kind = Literal["permission", "assent", "consent", "waiver"]
Signer = Literal["parent", "guardian", "patient", "irb"]


def majority_date(patient: PatientRow, jurisdictions: JurisdictionTable) -> tuple[date | None, bool]:
    """The first day the patient may be of age in their jurisdiction (None: no birth date) and
    whether the date is approximate (partial birth date) or the age UNCONFIRMED."""
    if patient.birth_date is None:
        return None, False
    entry, fallback = jurisdictions.lookup(patient.jurisdiction)
    precision = patient.birth_date_precision if patient.birth_date_precision in ("day", "month", "year") else "day"
    when = milestone_date(patient.birth_date, precision, entry.majority_age)  # type: ignore[arg-type]
    return when, precision != "day" or fallback or entry.status != "confirmed"


def refresh_consent_state(
    session: Session, patient_id: str, today: date, jurisdictions: JurisdictionTable
) -> dict[str, str]:
    """Re-derive the patient's consent state per use from their records (the caller commits);
    returns use -> state for the uses that have records."""
    patient = session.get(PatientRow, patient_id)
    if patient is None:
        raise NotFoundError(f"no patient {patient_id!r}")
    adult_on, _ = majority_date(patient, jurisdictions)
    rows = list(
        session.scalars(
            select(ConsentRow).where(ConsentRow.patient_id == patient_id).order_by(ConsentRow.signed_on, ConsentRow.id)
        )
    )
    states: dict[str, str] = {}
    for use in CONSENT_USES:
        mine = [r for r in rows if r.use == use]
        if not mine:
            continue
        last = mine[-1]
        if last.withdrawn:
            state = "withdrawn"
        elif (
            use != "safety_followup"
            and adult_on is not None
            and adult_on <= today
            and not (last.signer in ("patient", "irb") and last.signed_on >= adult_on)
        ):
            state = "held"
        else:
            state = "granted"
        states[use] = state
        row = session.get(ConsentStateRow, (patient_id, use))
        since = last.signed_on if state != "held" else max(last.signed_on, adult_on or last.signed_on)
        if row is None:
            session.add(ConsentStateRow(patient_id=patient_id, use=use, state=state, since=since))
        elif row.state != state:
            row.state, row.since = state, since
    session.flush()
    return states


def record_consent(
    session: Session,
    scope: Scope,
    jurisdictions: JurisdictionTable,
    patient_id: str,
    *,
    use: ConsentUse,
    kind: Kind,
    signer: Signer,
    form_version: str,
    signed_on: date,
    now: datetime,
    withdrawn: bool = False,
    note: str = "",
) -> tuple[ConsentRow, dict[str, str]]:
    """Record a consent (or its withdrawal) for a patient the scope may act on, and re-derive
    the consent state. Every problem is reported together; the caller audits and commits."""
    problems = Problems()
    if use not in CONSENT_USES:
        problems.add(f"The consent use must be one of {', '.join(CONSENT_USES)}. Got {use!r}.")
    if kind not in CONSENT_KINDS:
        problems.add(f"The consent kind must be one of {', '.join(CONSENT_KINDS)}. Got {kind!r}.")
    if signer not in SIGNERS:
        problems.add(f"The signer must be one of {', '.join(SIGNERS)}. Got {signer!r}.")
    if not form_version.strip() or len(form_version) > 64:
        problems.add(f"The consent form version must be 1-64 characters. Got {form_version[:80]!r}.")
    if signed_on > now.date():
        problems.add(f"The consent date {signed_on} is in the future.")
    if len(note) > 512:
        problems.add("The note must be at most 512 characters.")
    problems.raise_if_any()
    visible = session.scalar(
        select(PatientRow.id).where(PatientRow.id == patient_id, patient_condition(scope, PatientRow.id, write=True))
    )
    if visible is None:
        raise NotFoundError(f"no patient {patient_id!r}")
    if not scope.acts:
        raise NotInScopeError("this account may not record consent")
    row = ConsentRow(
        patient_id=patient_id,
        use=use,
        kind=kind,
        signer=signer,
        form_version=form_version,
        signed_on=signed_on,
        withdrawn=withdrawn,
        note=note,
        recorded_by=scope.actor,
        recorded_at=utc_naive(now),
    )
    session.add(row)
    session.flush()
    return row, refresh_consent_state(session, patient_id, now.date(), jurisdictions)


def consent_states(session: Session, patient_id: str) -> dict[str, str]:
    """use -> state of a patient (uses without records are absent: not restricted)."""
    return {
        r.use: r.state for r in session.scalars(select(ConsentStateRow).where(ConsentStateRow.patient_id == patient_id))
    }
