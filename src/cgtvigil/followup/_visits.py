"""Recording follow-up visits with their yearly form (categories in the spirit of the CIBMTR
cellular-therapy follow-up forms, domain.md §4.1/§4.3), and the work-up a new malignancy opens:
tissue requested for CAR-transgene / vector testing, its result (pending, positive, negative),
and a safety case in the canonical model (the one the E2B import and the screening use) linked
to the product, filed into the case store."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from cgtvigil.errors import NotFoundError, NotInScopeError, StoreError, ValidationError
from cgtvigil.model import Code, Dosage, Drug, IcsrCase, Patient, ProductDictionary, Reaction
from cgtvigil.schedules import VisitWindow, local_date, visit_status
from cgtvigil.store import (
    MAX_ROW_ID,
    CaseStore,
    LtfuFormRow,
    LtfuPatientRow,
    LtfuSiteRow,
    LtfuVisitRow,
    MalignancyRow,
    PatientRow,
    Scope,
    StoredReport,
    TreatmentRow,
    patient_condition,
    utc_naive,
)

__all__ = [
    "FORM_VERSION",
    "TISSUE_STATES",
    "RecordedVisit",
    "YearlyForm",
    "file_new_cases",
    "file_pending_cases",
    "mark_missed",
    "record_tissue_result",
    "record_visit",
    "site_today",
]

FORM_VERSION = "CGTV-LTFU-FORM-1"  # the categories of domain.md §4.1 (CIBMTR F4100-like; a design proposal)
TISSUE_STATES = ("requested", "pending", "positive", "negative")
Contact = Literal["visit", "questionnaire", "phone", "record"]
IMPORTER = "cgtvigil.followup"


class YearlyForm(BaseModel):
    """The yearly follow-up form: each category with yes/no and what was found."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    new_malignancy: bool = False
    malignancy_diagnosis: str = Field("", max_length=256)
    malignancy_date: date | None = None
    malignancy_haematologic: bool = False
    neurological: bool = False
    neurological_detail: str = Field("", max_length=256)
    autoimmune: bool = False
    autoimmune_detail: str = Field("", max_length=256)
    haematological: bool = False
    haematological_detail: str = Field("", max_length=256)
    infections: bool = False
    infections_detail: str = Field("", max_length=256)
    pregnancy: bool = False
    pregnancy_outcome: str = Field("", max_length=256)
    death: bool = False
    death_date: date | None = None
    death_cause: str = Field("", max_length=256)

    @model_validator(mode="after")
    def _complete(self) -> YearlyForm:
        problems = []
        if self.new_malignancy and not self.malignancy_diagnosis.strip():
            problems.append("a new malignancy needs its diagnosis (malignancy_diagnosis)")
        if self.death and (self.death_date is None or not self.death_cause.strip()):
            problems.append("a death needs its date and cause (death_date, death_cause)")
        if problems:
            raise ValueError("; ".join(problems))
        return self


@dataclass(frozen=True)
class RecordedVisit:
    visit: LtfuVisitRow
    status: str
    form: LtfuFormRow | None
    malignancy: MalignancyRow | None
    filed: int = 0  # case versions filed into the case store by this call

    def audit_detail(self) -> dict[str, object]:
        out: dict[str, object] = {
            "visit": self.visit.key,
            "done_on": self.visit.done_on.isoformat() if self.visit.done_on else None,
            "status": self.status,
            "contact": self.visit.contact,
        }
        if self.form is not None:
            out["form"] = sorted(k for k, v in self.form.answers.items() if v is True)
        if self.malignancy is not None:
            out["malignancy"] = {
                "case": self.malignancy.case_id,
                "tissue": self.malignancy.tissue,
                "filed": self.malignancy.case_filed_at is not None,
            }
        return out


def _visit_in_scope(session: Session, scope: Scope, visit_id: int) -> LtfuVisitRow:
    if not 0 < visit_id <= MAX_ROW_ID:
        raise NotFoundError(f"no follow-up visit {visit_id}")
    visit = session.scalar(
        select(LtfuVisitRow).where(
            LtfuVisitRow.id == visit_id,
            patient_condition(scope, LtfuVisitRow.patient_id, use="safety_followup", write=True),
        )
    )
    if visit is None:
        raise NotFoundError(f"no follow-up visit {visit_id}")
    if not scope.acts:
        raise NotInScopeError("this account may not record follow-up visits")
    return visit


def record_visit(
    session: Session,
    scope: Scope,
    products: ProductDictionary,
    visit_id: int,
    *,
    done_on: date,
    contact: Contact,
    now: datetime,
    form: YearlyForm | None = None,
    cases: Path | None = None,
) -> RecordedVisit:
    """Record a visit of a patient in scope as done on ``done_on`` (the site's local date) with
    its form; a new malignancy opens the tissue work-up and a safety case, filed into the case
    store at ``cases`` in this same call (every face: page, JSON API, CLI), a death ends the
    plan (later visits: not required). The caller audits and commits.

    When the case store cannot be written just now (another process holds DuckDB's one write
    lock) the case stays pending and the server's follow-up round (:func:`followup_round`)
    files it."""
    visit = _visit_in_scope(session, scope, visit_id)
    if visit.state not in ("scheduled", "missed"):
        raise ValidationError([f"visit {visit_id} ({visit.key}) is {visit.state}; it cannot be recorded again"])
    patient = session.get(PatientRow, visit.patient_id)
    assert patient is not None
    today = site_today(session, patient.site, now)
    if done_on > today:
        raise ValidationError([f"done_on {done_on} is in the future (it is {today} at site {patient.site})"])
    visit.state, visit.done_on, visit.contact = "done", done_on, contact
    visit.site, visit.recorded_by, visit.recorded_at = patient.site, scope.actor, utc_naive(now)
    status = visit_status(VisitWindow(visit.due, visit.opens, visit.closes), done_on, today)
    form_row = malignancy = None
    if form is not None:
        form_row = LtfuFormRow(
            visit_id=visit.id,
            patient_id=visit.patient_id,
            answers=json.loads(form.model_dump_json()),
            form_version=FORM_VERSION,
            recorded_by=scope.actor,
            recorded_at=utc_naive(now),
        )
        session.add(form_row)
        session.flush()
        if form.new_malignancy:
            malignancy = _open_malignancy(session, products, patient, form_row, form, now)
        if form.death:
            _end_follow_up(session, visit.patient_id, form.death_date or done_on, form.death_cause)
    session.flush()
    filed = file_new_cases(session, cases, [malignancy]) if malignancy is not None and cases is not None else 0
    return RecordedVisit(visit, status, form_row, malignancy, filed)


def site_today(session: Session, site: str, now: datetime) -> date:
    """The calendar date at ``site`` (its IANA zone from ``ltfu_site``; UTC when not recorded)."""
    row = session.get(LtfuSiteRow, site)
    return local_date(now, row.timezone if row is not None else "UTC")


def _end_follow_up(session: Session, patient_id: str, on: date, cause: str) -> None:
    row = session.get(LtfuPatientRow, patient_id)
    if row is None:
        row = LtfuPatientRow(patient_id=patient_id)
        session.add(row)
    row.status, row.status_since, row.death_cause = "deceased", on, cause[:256]
    for v in session.scalars(
        select(LtfuVisitRow).where(
            LtfuVisitRow.patient_id == patient_id, LtfuVisitRow.state == "scheduled", LtfuVisitRow.due > on
        )
    ):
        v.state = "not_required"


def _ts(d: date | datetime) -> str:
    return d.strftime("%Y%m%d%H%M%S") if isinstance(d, datetime) else d.strftime("%Y%m%d")


def _open_malignancy(
    session: Session,
    products: ProductDictionary,
    patient: PatientRow,
    form_row: LtfuFormRow,
    form: YearlyForm,
    now: datetime,
) -> MalignancyRow:
    treatment = session.scalar(
        select(TreatmentRow).where(TreatmentRow.patient_id == patient.id).order_by(TreatmentRow.infusion_date.desc())
    )
    assert treatment is not None
    product = products.by_id().get(treatment.product_id)
    digest = hashlib.sha256(f"{patient.id}|{form_row.id}".encode()).hexdigest()[:12].upper()
    case_id = f"CGTV-LTFU-{digest}"
    sex = {"M": "1", "F": "2"}.get((patient.sex or "").upper()[:1])
    case = IcsrCase(
        safety_report_id=case_id,
        worldwide_id=case_id,
        created=_ts(now),
        most_recent=_ts(now),
        first_received=_ts(now),
        report_type=Code(code="2", system="2.16.840.1.113883.3.989.2.1.1.2", display="report from study"),
        patient=Patient(name=patient.id, sex=Code(code=sex) if sex else None),
        reactions=(
            Reaction(
                id="r1",
                as_reported=form.malignancy_diagnosis,
                start=_ts(form.malignancy_date) if form.malignancy_date else None,
                medically_important=True,
            ),
        ),
        drugs=(
            Drug(
                id="d1",
                role=Code(code="1", display="suspect"),
                name=product.brand if product else treatment.product_id,
                dosages=(Dosage(start=_ts(treatment.infusion_date), lot_number=treatment.lot),),
            ),
        ),
        narrative=(
            f"New malignancy reported at long-term follow-up: {form.malignancy_diagnosis}"
            f"{' (haematologic)' if form.malignancy_haematologic else ''}, after "
            f"{product.brand if product else treatment.product_id} infused {treatment.infusion_date}. "
            "Tissue requested for CAR-transgene / vector testing. Potential signal (secondary malignancy)."
        ),
    )
    row = MalignancyRow(
        patient_id=patient.id,
        form_id=form_row.id,
        product_id=treatment.product_id,
        diagnosis=form.malignancy_diagnosis[:256],
        diagnosed_on=form.malignancy_date,
        haematologic=form.malignancy_haematologic,
        tissue="requested",
        tissue_requested_at=utc_naive(now),
        case_id=case_id,
        case_json=case.model_dump_json(),
    )
    session.add(row)
    session.flush()
    return row


def record_tissue_result(
    session: Session, scope: Scope, malignancy_id: int, result: str, now: datetime, cases: Path | None = None
) -> MalignancyRow:
    """Record where the tissue testing stands (pending, positive, negative) for a malignancy of
    a patient in scope; a positive result is added to the safety case's narrative (a follow-up
    version, filed again into the case store at ``cases`` in this call). The caller audits and
    commits."""
    if result not in TISSUE_STATES[1:]:
        raise ValidationError([f"The tissue result must be pending, positive or negative. Got {result!r}."])
    row = session.scalar(
        select(MalignancyRow).where(
            MalignancyRow.id == malignancy_id,
            patient_condition(scope, MalignancyRow.patient_id, use="safety_followup", write=True),
        )
    )
    if row is None:
        raise NotFoundError(f"no malignancy work-up {malignancy_id}")
    if not scope.acts:
        raise NotInScopeError("this account may not record tissue results")
    row.tissue, row.tissue_result_at = result, utc_naive(now)
    if result != "pending":
        case = IcsrCase.model_validate_json(row.case_json)
        note = f" Tissue testing for the CAR transgene / vector: {result} ({now.date()})."
        row.case_json = case.model_copy(
            update={"narrative": f"{case.narrative or ''}{note}", "most_recent": _ts(now)}
        ).model_dump_json()
        row.case_filed_at = None  # the new version waits to be filed
    session.flush()
    if cases is not None and row.case_filed_at is None:
        file_new_cases(session, cases, [row])
    return row


def file_new_cases(session: Session, cases: Path, rows: list[MalignancyRow]) -> int:
    """File these malignancy case versions into the case store at ``cases`` now; when the
    store is busy or cannot be opened they stay pending (``case_filed_at`` None) for the next
    follow-up round, and 0 is returned. The caller commits."""
    try:
        with CaseStore(cases) as store:
            return file_pending_cases(session, store, rows)
    except StoreError:
        return 0


def file_pending_cases(session: Session, store: CaseStore, rows: list[MalignancyRow] | None = None) -> int:
    """Put every malignancy case version not yet filed (or those of ``rows`` not yet filed)
    into the case store (the safety store the E2B import writes); returns the number of new
    versions. The caller commits."""
    if rows is None:
        rows = list(session.scalars(select(MalignancyRow).where(MalignancyRow.case_filed_at.is_(None))))
    rows = [r for r in rows if r.case_filed_at is None]
    if not rows:
        return 0
    reports = []
    for r in rows:
        case = IcsrCase.model_validate_json(r.case_json)
        sha = hashlib.sha256(r.case_json.encode()).hexdigest()
        reports.append(StoredReport(case, "ltfu", f"ltfu_malignancy:{r.id}", sha, "/", IMPORTER))
    new = store.add(reports, [])
    stamp = utc_naive(datetime.now().astimezone())
    for r in rows:
        r.case_filed_at = stamp
    session.flush()
    return new


def mark_missed(session: Session, today: date) -> int:
    """Set every scheduled visit whose window closed before ``today`` to missed; returns how many.
    (Work lists compute the state on the fly; this sweep keeps the stored state in step.)"""
    n = 0
    for v in session.scalars(
        select(LtfuVisitRow).where(LtfuVisitRow.state == "scheduled", LtfuVisitRow.closes < today)
    ):
        v.state = "missed"
        n += 1
    session.flush()
    return n
