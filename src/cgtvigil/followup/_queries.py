"""Query services of long-term follow-up: the coordinator's work list (due this week, overdue,
lost to follow-up, open transition tasks; sortable by the loss-to-follow-up risk score), a
patient's follow-up timeline (plan, visits with their windows and states, forms, malignancy
work-ups, consent, tasks, transfers) and the transition status. Each takes a Scope and filters
through the store's one helper with ``use="safety_followup"``: a patient who withdrew from
safety follow-up leaves every work list; one outside the scope is NotFoundError."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from cgtvigil.errors import NotFoundError, NotInScopeError
from cgtvigil.followup._consent import consent_states, majority_date
from cgtvigil.followup._transition import ELEMENTS
from cgtvigil.followup._visits import site_today
from cgtvigil.model import JurisdictionTable, LtfuRuleSet, ProductDictionary
from cgtvigil.schedules import VisitWindow, age_on, visit_status
from cgtvigil.store import (
    LtfuFormRow,
    LtfuPatientRow,
    LtfuPlanRow,
    LtfuTaskRow,
    LtfuVisitRow,
    MalignancyRow,
    PatientRow,
    Scope,
    TransferRow,
    patient_condition,
)

__all__ = [
    "ElementStatus",
    "MalignancyView",
    "TaskView",
    "Timeline",
    "TransferView",
    "TransitionStatus",
    "VisitView",
    "WorkItem",
    "Worklist",
    "lost_patients",
    "timeline",
    "transition_status",
    "worklist",
]

WEEK = 7


class VisitView(BaseModel):
    id: int
    patient_id: str
    key: str
    kind: str
    year: int
    due: date
    opens: date
    closes: date
    state: str = Field(description="stored: scheduled, done, missed, replaced, not_required")
    status: str = Field(description="on the day asked: upcoming, open, overdue, done, out_of_window, missed, ...")
    done_on: date | None = None
    contact: str = ""
    site: str = ""
    rule: str
    rule_version: str


class MalignancyView(BaseModel):
    id: int
    diagnosis: str
    diagnosed_on: date | None
    haematologic: bool
    tissue: str
    case_id: str
    filed: bool = Field(description="the safety case is in the case store")
    product_id: str


class TaskView(BaseModel):
    id: int
    patient_id: str
    kind: str
    element: int | None
    due: date
    approximate: bool
    status: str
    detail: str


class TransferView(BaseModel):
    from_site: str
    to_site: str
    from_jurisdiction: str | None
    to_jurisdiction: str | None
    moved_on: date
    sending_access: str
    read_until: date | None
    summary: dict[str, object]


class Timeline(BaseModel):
    patient_id: str
    site: str
    product_id: str | None = None
    product: str = ""
    infusion_date: date | None = None
    plan_years: int | None = None
    plan_end: date | None = None
    plan_rules: list[str] = Field(default_factory=list)
    plan_unconfirmed: bool = False
    rule_version: str | None = None
    status: str = "active"
    visits: list[VisitView]
    forms: dict[int, dict[str, object]] = Field(description="visit id -> yearly form answers")
    malignancies: list[MalignancyView]
    consent: dict[str, str]
    tasks: list[TaskView]
    transfers: list[TransferView]
    read_only: bool = Field(False, description="the reader's site transferred the patient and keeps read access")
    site_today: date | None = Field(None, description="the calendar date at the patient's site (its time zone)")


class WorkItem(BaseModel):
    patient_id: str
    site: str
    reason: Literal["due this week", "overdue", "lost to follow-up", "task"]
    visit_id: int | None = None
    visit: str = ""
    due: date | None = None
    closes: date | None = None
    task: str = ""
    risk: float | None = Field(None, description="loss-to-follow-up risk score (0-1), when a model is given")


class Worklist(BaseModel):
    today: date
    items: list[WorkItem]
    counts: dict[str, int]
    sort: str


def _view(v: LtfuVisitRow, today: date) -> VisitView:
    status = (
        v.state
        if v.state in ("replaced", "not_required")
        else visit_status(VisitWindow(v.due, v.opens, v.closes), v.done_on, today)
    )
    return VisitView(
        id=v.id,
        patient_id=v.patient_id,
        key=v.key,
        kind=v.kind,
        year=v.year,
        due=v.due,
        opens=v.opens,
        closes=v.closes,
        state=v.state,
        status=status,
        done_on=v.done_on,
        contact=v.contact,
        site=v.site,
        rule=v.rule,
        rule_version=v.rule_version,
    )


def lost_patients(visits: list[VisitView], lost_after: int) -> dict[str, date]:
    """Patients whose last ``lost_after`` visits with a closed window were all missed (no
    visit done since), with the due date of the first of them (when follow-up broke off)."""
    by_patient: dict[str, list[VisitView]] = {}
    for v in visits:
        if v.status in ("missed", "done", "out_of_window"):
            by_patient.setdefault(v.patient_id, []).append(v)
    out: dict[str, date] = {}
    for pid, vs in by_patient.items():
        vs.sort(key=lambda v: v.due)
        run: list[VisitView] = []
        for v in vs:
            run = [*run, v] if v.status == "missed" else []
        if len(run) >= lost_after:
            out[pid] = run[0].due
    return out


def worklist(
    session: Session,
    scope: Scope,
    rules: LtfuRuleSet,
    now: datetime,
    *,
    sort: Literal["due", "risk"] = "due",
    risk: dict[str, float] | None = None,
    lead_days: int = 90,
) -> Worklist:
    """The coordinator's work list for the patients in scope."""
    if not scope.patient_level or scope.patient is not None:
        raise NotInScopeError("the follow-up work list is not in this account's scope")
    today = now.date()
    in_scope = patient_condition(scope, LtfuVisitRow.patient_id, use="safety_followup")
    ended = select(LtfuPatientRow.patient_id).where(LtfuPatientRow.status != "active")
    rows = session.execute(
        select(LtfuVisitRow, PatientRow.site)
        .join(PatientRow, PatientRow.id == LtfuVisitRow.patient_id)
        .where(
            in_scope,
            LtfuVisitRow.state.in_(("scheduled", "done", "missed")),
            LtfuVisitRow.patient_id.not_in(ended),
            LtfuVisitRow.opens <= today + timedelta(days=WEEK),
        )
    ).all()
    views = [(_view(v, today), site) for v, site in rows]
    site_of = {v.patient_id: site for v, site in views}
    lost = lost_patients([v for v, _ in views], rules.lost_after_missed)
    if sort == "risk" and risk is None:  # the risk score of each patient, fitted on the scope's cohort
        from cgtvigil.followup._risk import risk_scores

        risk = {pid: score for pid, (score, _) in risk_scores(session, scope, rules, now).items()}
    risk = risk or {}
    items: list[WorkItem] = []
    for v, site in views:
        if v.patient_id in lost:
            continue
        if v.status == "overdue":
            reason: Literal["due this week", "overdue"] = "overdue"
        elif v.status in ("open", "upcoming") and today <= v.due <= today + timedelta(days=WEEK):
            reason = "due this week"
        else:
            continue
        items.append(
            WorkItem(
                patient_id=v.patient_id,
                site=site,
                reason=reason,
                visit_id=v.id,
                visit=v.key,
                due=v.due,
                closes=v.closes,
                risk=risk.get(v.patient_id),
            )
        )
    for pid, since in lost.items():
        items.append(
            WorkItem(patient_id=pid, site=site_of[pid], reason="lost to follow-up", due=since, risk=risk.get(pid))
        )
    for t, site in session.execute(
        select(LtfuTaskRow, PatientRow.site)
        .join(PatientRow, PatientRow.id == LtfuTaskRow.patient_id)
        .where(
            patient_condition(scope, LtfuTaskRow.patient_id, use="safety_followup"),
            LtfuTaskRow.status == "open",
            LtfuTaskRow.due <= today + timedelta(days=lead_days),
        )
    ):
        items.append(
            WorkItem(
                patient_id=t.patient_id, site=site, reason="task", task=t.kind, due=t.due, risk=risk.get(t.patient_id)
            )
        )
    order = {"overdue": 0, "lost to follow-up": 1, "due this week": 2, "task": 3}
    if sort == "risk":
        items.sort(key=lambda i: (-(i.risk or 0.0), order[i.reason], i.due or today, i.patient_id))
    else:
        items.sort(key=lambda i: (order[i.reason], i.due or today, i.patient_id))
    counts = {k: sum(1 for i in items if i.reason == k) for k in order}
    return Worklist(today=today, items=items, counts=counts, sort=sort)


def _patient(session: Session, scope: Scope, patient_id: str) -> tuple[PatientRow, bool]:
    """The patient in scope, and whether the reader's access is read-only (a sending site)."""
    row = session.scalar(select(PatientRow).where(PatientRow.id == patient_id, patient_condition(scope, PatientRow.id)))
    if row is None:
        raise NotFoundError(f"no patient {patient_id!r}")
    writable = session.scalar(
        select(PatientRow.id).where(PatientRow.id == patient_id, patient_condition(scope, PatientRow.id, write=True))
    )
    return row, writable is None


def timeline(session: Session, scope: Scope, products: ProductDictionary, patient_id: str, now: datetime) -> Timeline:
    """A patient's follow-up record, oldest visit first (replaced visits included, marked)."""
    patient, read_only = _patient(session, scope, patient_id)
    today = now.date()
    plan = session.scalar(
        select(LtfuPlanRow).where(LtfuPlanRow.patient_id == patient_id).order_by(LtfuPlanRow.start.desc())
    )
    names = {p.id: p.brand for p in products.products}
    visits = [
        _view(v, today)
        for v in session.scalars(
            select(LtfuVisitRow)
            .where(LtfuVisitRow.patient_id == patient_id)
            .order_by(LtfuVisitRow.due, LtfuVisitRow.id)
        )
    ]
    forms = {
        f.visit_id: dict(f.answers)
        for f in session.scalars(select(LtfuFormRow).where(LtfuFormRow.patient_id == patient_id))
    }
    malignancies = [
        MalignancyView(
            id=m.id,
            diagnosis=m.diagnosis,
            diagnosed_on=m.diagnosed_on,
            haematologic=m.haematologic,
            tissue=m.tissue,
            case_id=m.case_id,
            filed=m.case_filed_at is not None,
            product_id=m.product_id,
        )
        for m in session.scalars(select(MalignancyRow).where(MalignancyRow.patient_id == patient_id))
    ]
    status = session.get(LtfuPatientRow, patient_id)
    return Timeline(
        patient_id=patient_id,
        site=patient.site,
        product_id=plan.product_id if plan else None,
        product=names.get(plan.product_id, plan.product_id) if plan else "",
        infusion_date=plan.start if plan else None,
        plan_years=plan.years if plan else None,
        plan_end=plan.end if plan else None,
        plan_rules=list(plan.rules) if plan else [],
        plan_unconfirmed=plan.unconfirmed if plan else False,
        rule_version=plan.rule_version if plan else None,
        status=status.status if status else "active",
        visits=visits,
        forms=forms,
        malignancies=malignancies,
        consent=consent_states(session, patient_id),
        tasks=_tasks(session, patient_id),
        transfers=[
            TransferView(
                from_site=t.from_site,
                to_site=t.to_site,
                from_jurisdiction=t.from_jurisdiction,
                to_jurisdiction=t.to_jurisdiction,
                moved_on=t.moved_on,
                sending_access=t.sending_access,
                read_until=t.read_until,
                summary=dict(t.summary),
            )
            for t in session.scalars(
                select(TransferRow).where(TransferRow.patient_id == patient_id).order_by(TransferRow.moved_on)
            )
        ],
        read_only=read_only,
        site_today=site_today(session, patient.site, now),
    )


def _tasks(session: Session, patient_id: str) -> list[TaskView]:
    return [
        TaskView(
            id=t.id,
            patient_id=t.patient_id,
            kind=t.kind,
            element=t.element,
            due=t.due,
            approximate=t.approximate,
            status=t.status,
            detail=t.detail,
        )
        for t in session.scalars(
            select(LtfuTaskRow).where(LtfuTaskRow.patient_id == patient_id).order_by(LtfuTaskRow.due)
        )
    ]


class ElementStatus(BaseModel):
    element: int
    title: str
    age: int
    status: str = Field(description="open, done, waived, or not yet (no task raised)")
    due: date | None = None
    unconfirmed: bool = False


class TransitionStatus(BaseModel):
    patient_id: str
    site: str
    age: int | None
    birth_precision: str
    jurisdiction: str
    majority_age: int
    assent_age: int
    ages_label: str = Field(description="source and confirmation of the ages used")
    majority_on: date | None
    approximate: bool
    elements: list[ElementStatus]
    tasks: list[TaskView]
    consent: dict[str, str]


def transition_status(
    session: Session, scope: Scope, jurisdictions: JurisdictionTable, patient_id: str, now: datetime
) -> TransitionStatus:
    """Where a patient stands on the Got Transition roadmap, with the ages that apply to them."""
    patient, _ = _patient(session, scope, patient_id)
    entry, fallback = jurisdictions.lookup(patient.jurisdiction)
    adult_on, approx = majority_date(patient, jurisdictions)
    tasks = _tasks(session, patient_id)
    by_kind = {t.kind: t for t in tasks}
    elements = []
    for element, (kind, title, age, status) in ELEMENTS.items():
        t = by_kind.get(kind)
        elements.append(
            ElementStatus(
                element=element,
                title=title,
                age=entry.majority_age if element == 5 else age,
                status=t.status if t else "not yet",
                due=t.due if t else None,
                unconfirmed=status != "confirmed",
            )
        )
    done = by_kind.get("transfer_completion")
    elements.append(
        ElementStatus(
            element=6,
            title="Transfer completion (first adult visit confirmed)",
            age=entry.majority_age,
            status=done.status if done else "not yet",
            due=done.due if done else None,
        )
    )
    precision = patient.birth_date_precision if patient.birth_date_precision in ("day", "month", "year") else "day"
    return TransitionStatus(
        patient_id=patient_id,
        site=patient.site,
        age=age_on(patient.birth_date, precision, now.date()) if patient.birth_date else None,  # type: ignore[arg-type]
        birth_precision=precision,
        jurisdiction=entry.code if not fallback else f"{patient.jurisdiction or 'unknown'} (default used)",
        majority_age=entry.majority_age,
        assent_age=entry.assent_age,
        ages_label=f"{entry.source} [{'UNCONFIRMED' if fallback or entry.status != 'confirmed' else 'confirmed'}]",
        majority_on=adult_on,
        approximate=approx,
        elements=elements,
        tasks=tasks,
        consent=consent_states(session, patient_id),
    )
