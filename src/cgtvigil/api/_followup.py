"""The JSON API of long-term follow-up (issue 12): the coordinator's work list, a patient's
follow-up timeline and transition status, recording a visit with its yearly form (a new
malignancy's safety case filed into the case store in the same call), consent, transfers and
closing transition tasks. The same query services and workflow calls, scope (consent enforced
in it), roles and audit as the pages and the CLI."""

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Query
from pydantic import BaseModel, Field

from cgtvigil.api._read import ACTORS, AGGREGATE_READERS, PATIENT_READERS, api_reader
from cgtvigil.followup import (
    Retention,
    RiskEvaluation,
    Timeline,
    TransferView,
    TransitionStatus,
    VisitView,
    Worklist,
    YearlyForm,
    close_transition_task,
    evaluate_risk,
    record_consent,
    record_visit,
    retention,
    timeline,
    transfer_patient,
    transition_status,
    worklist,
)
from cgtvigil.model import JurisdictionTable, LtfuRuleSet, ProductDictionary
from cgtvigil.store import ConsentUse
from cgtvigil.web import Reader, audit_read
from cgtvigil.web._security import DbSession
from cgtvigil.web.monitoring import CARE_TEAM

__all__ = ["RETENTION_READERS", "followup_api"]

RETENTION_READERS = ("site_investigator", *AGGREGATE_READERS)


class VisitRecord(BaseModel):
    done_on: date = Field(description="the date the visit was done, the site's local date")
    contact: Literal["visit", "questionnaire", "phone", "record"] = "visit"
    form: YearlyForm | None = None


class RecordedVisitView(BaseModel):
    visit: VisitView
    malignancy_case: str | None = Field(None, description="the safety case opened by a new malignancy")
    case_filed: bool | None = Field(
        None, description="the case is in the case store (false: the store was busy; the server's next round files it)"
    )


class ConsentRecord(BaseModel):
    use: ConsentUse
    kind: Literal["permission", "assent", "consent", "waiver"]
    signer: Literal["parent", "guardian", "patient", "irb"]
    form_version: str = Field(min_length=1, max_length=64)
    signed_on: date
    withdrawn: bool = False
    note: str = Field("", max_length=512)


class TransferRecord(BaseModel):
    to_site: str = Field(min_length=1, max_length=64)
    moved_on: date
    to_jurisdiction: str | None = Field(None, min_length=1, max_length=16)
    sending_access: Literal["none", "read"] = "none"
    read_until: date | None = None


class TaskClose(BaseModel):
    waive: bool = False


class TaskClosed(BaseModel):
    patient_id: str
    task: str
    status: str


class ConsentStates(BaseModel):
    patient_id: str
    states: dict[str, str]


def _now() -> datetime:
    return datetime.now(UTC)


def followup_api(
    products: ProductDictionary, rules: LtfuRuleSet, ages: JurisdictionTable, cases: Path | None = None
) -> APIRouter:
    """The routes; ``cases`` is the case store a new malignancy's safety case is filed into."""
    router = APIRouter(prefix="/api/v1/followup", tags=["follow-up"])

    @router.get("/worklist", response_model=Worklist)
    def work(
        session: DbSession,
        who: Annotated[Reader, Depends(api_reader(*CARE_TEAM))],
        sort: Literal["due", "risk"] = "due",
    ) -> Worklist:
        """Visits due this week, overdue visits, patients lost to follow-up and open tasks."""
        found = worklist(session, who.scope, rules, _now(), sort=sort)
        audit_read(session, who.scope, "patient.list", "followup-worklist", items=len(found.items), via="api")
        return found

    @router.get("/patients/{patient_id}", response_model=Timeline)
    def patient(
        session: DbSession, patient_id: str, who: Annotated[Reader, Depends(api_reader(*PATIENT_READERS))]
    ) -> Timeline:
        """The patient's plan, visits (with the rule version of each), forms, malignancies, consent, tasks."""
        found = timeline(session, who.scope, products, patient_id, _now())
        audit_read(session, who.scope, "patient.read", f"patient:{patient_id}", part="followup", via="api")
        return found

    @router.get("/patients/{patient_id}/transition", response_model=TransitionStatus)
    def transition(
        session: DbSession, patient_id: str, who: Annotated[Reader, Depends(api_reader(*PATIENT_READERS))]
    ) -> TransitionStatus:
        """The Got Transition roadmap with the ages of majority and assent that apply."""
        found = transition_status(session, who.scope, ages, patient_id, _now())
        audit_read(session, who.scope, "patient.read", f"patient:{patient_id}", part="transition", via="api")
        return found

    @router.post("/visits/{visit_id}/record", response_model=RecordedVisitView)
    def record(
        session: DbSession,
        visit_id: int,
        who: Annotated[Reader, Depends(api_reader(*ACTORS, write=True))],
        body: Annotated[VisitRecord, Body()],
    ) -> RecordedVisitView:
        """Record a visit as done with its yearly form (a new malignancy opens a safety case,
        filed into the case store in the same call)."""
        done = record_visit(
            session,
            who.scope,
            products,
            visit_id,
            done_on=body.done_on,
            contact=body.contact,
            now=_now(),
            form=body.form,
            cases=cases,
        )
        audit_read(
            session, who.scope, "followup.visit", f"patient:{done.visit.patient_id}", via="api", **done.audit_detail()
        )
        view = timeline(session, who.scope, products, done.visit.patient_id, _now())
        return RecordedVisitView(
            visit=next(v for v in view.visits if v.id == visit_id),
            malignancy_case=done.malignancy.case_id if done.malignancy else None,
            case_filed=done.malignancy.case_filed_at is not None if done.malignancy else None,
        )

    @router.post("/patients/{patient_id}/consent", response_model=ConsentStates)
    def consent(
        session: DbSession,
        patient_id: str,
        who: Annotated[Reader, Depends(api_reader(*ACTORS, write=True))],
        body: Annotated[ConsentRecord, Body()],
    ) -> ConsentStates:
        """Record a consent or its withdrawal; it applies at once to every query, export and page."""
        row, states = record_consent(
            session,
            who.scope,
            ages,
            patient_id,
            use=body.use,
            kind=body.kind,
            signer=body.signer,
            form_version=body.form_version,
            signed_on=body.signed_on,
            now=_now(),
            withdrawn=body.withdrawn,
            note=body.note,
        )
        audit_read(
            session,
            who.scope,
            "consent.withdraw" if body.withdrawn else "consent.record",
            f"patient:{patient_id}",
            via="api",
            use=body.use,
            kind=body.kind,
            signer=body.signer,
            form_version=body.form_version,
            signed_on=row.signed_on.isoformat(),
            states=states,
        )
        return ConsentStates(patient_id=patient_id, states=states)

    @router.post("/patients/{patient_id}/transfer", response_model=TransferView)
    def transfer(
        session: DbSession,
        patient_id: str,
        who: Annotated[Reader, Depends(api_reader(*ACTORS, write=True))],
        body: Annotated[TransferRecord, Body()],
    ) -> TransferView:
        """Move the patient to another site (and jurisdiction); the plan, visits, alerts and tasks move with them."""
        moved = transfer_patient(
            session,
            who.scope,
            ages,
            products,
            patient_id,
            to_site=body.to_site,
            moved_on=body.moved_on,
            now=_now(),
            sending_access=body.sending_access,
            read_until=body.read_until,
            to_jurisdiction=body.to_jurisdiction,
        )
        audit_read(session, who.scope, "followup.transfer", f"patient:{patient_id}", via="api", **moved.audit_detail())
        r = moved.row
        return TransferView(
            from_site=r.from_site,
            to_site=r.to_site,
            from_jurisdiction=r.from_jurisdiction,
            to_jurisdiction=r.to_jurisdiction,
            moved_on=r.moved_on,
            sending_access=r.sending_access,
            read_until=r.read_until,
            summary=dict(r.summary),
        )

    @router.post("/patients/{patient_id}/tasks/{kind}/close", response_model=TaskClosed)
    def close(
        session: DbSession,
        patient_id: str,
        kind: str,
        who: Annotated[Reader, Depends(api_reader(*ACTORS, write=True))],
        body: Annotated[TaskClose, Body()],
    ) -> TaskClosed:
        """Mark an open transition task done (or waived)."""
        row = close_transition_task(session, who.scope, patient_id, kind[:32], _now(), waive=body.waive)
        audit_read(
            session, who.scope, "followup.task", f"patient:{patient_id}", via="api", task=row.kind, waived=body.waive
        )
        return TaskClosed(patient_id=patient_id, task=row.kind, status=row.status)

    @router.get("/retention", response_model=Retention)
    def retained(
        session: DbSession,
        who: Annotated[Reader, Depends(api_reader(*RETENTION_READERS))],
        by: Literal["site", "country", "age_band", "sex", "race", "ethnicity", "distance"] = "site",
    ) -> Retention:
        """Kaplan–Meier retention and missed-visit rates (Wilson 95 % CI) by group; cells below 5 suppressed."""
        found = retention(session, who.scope, rules, _now(), by)
        audit_read(session, who.scope, "registry.aggregate", "followup-retention", by=by, via="api")
        return found

    @router.get("/risk", response_model=RiskEvaluation)
    def risk(
        session: DbSession,
        who: Annotated[Reader, Depends(api_reader(*RETENTION_READERS))],
        seed: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> RiskEvaluation:
        """The loss-to-follow-up risk score evaluated on held-out patients: AUROC, Brier, calibration, coefficients."""
        found = evaluate_risk(session, who.scope, rules, _now(), seed=seed)
        audit_read(session, who.scope, "registry.aggregate", "followup-risk", seed=seed, via="api")
        return found

    return router
