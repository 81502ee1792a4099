"""Query services of the monitoring area (issue 11): the board, a patient's summary (product,
day, monitoring plan tier, last data per device), the observation timeline, alerts with their
history and notifications, ePRO answers with missed reports, and the alert actions. Each takes
a :class:`cgtvigil.store.Scope` and filters through the store's one helper
(:func:`cgtvigil.store.patient_condition`); a patient or alert outside the scope is the same
:class:`NotFoundError` as one that does not exist, so that existence does not leak. Times are
timezone-aware UTC."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Date, Integer, Select, Subquery, bindparam, case, event, func, select
from sqlalchemy.orm import Session
from typing_extensions import TypedDict

from cgtvigil.errors import NotFoundError, NotInScopeError, ValidationError
from cgtvigil.model import ProductDictionary
from cgtvigil.monitoring._alerts import ACTIVE, acknowledge, resolve
from cgtvigil.monitoring._notify import NOTIFICATION_PROGRESS, notification_progress, notification_states
from cgtvigil.store import (
    MAX_ROW_ID,
    AlertRow,
    ObservationRow,
    PatientRow,
    PlanRecordRow,
    Scope,
    TreatmentRow,
    hour_start,
    patient_condition,
    utc_naive,
)

__all__ = [
    "BOARD_ROWS",
    "RECENT_DAYS",
    "AlertEvent",
    "AlertView",
    "Board",
    "BoardRow",
    "DeviceSeen",
    "EproReport",
    "NoticeView",
    "ObservationPoint",
    "ObservationPointRow",
    "ObservationSeries",
    "PatientSummary",
    "act_on_alert",
    "alert_views",
    "board",
    "epro_reports",
    "observation_points",
    "observation_series",
    "patient_summary",
]

SEVERITY_RANK = {"critical": 0, "high": 1, "warning": 2, "info": 3}
RECENT_DAYS = 30  # the board lists every patient with an open alert, and the others up to this day
BOARD_ROWS = 100
MAX_POINTS = 20_000


def _utc(t: datetime | None) -> datetime | None:
    """A stored (naive UTC) time as an aware UTC time."""
    if t is None:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


class BoardRow(BaseModel):
    id: str
    site: str
    product: str = ""
    day: int | None = Field(None, description="days since the latest infusion")
    open: int = Field(description="open, acknowledged or escalated alerts")
    worst: str | None = None
    escalated: int = 0
    next_deadline: datetime | None = Field(None, description="earliest acknowledgement deadline of an open alert")
    overdue: bool = False
    notified: str = Field("", description="how far notifications of the open alerts got")


class Board(BaseModel):
    rows: list[BoardRow]
    unregistered: list[BoardRow] = Field(description="alerts of ids missing from the registry (administrators)")
    total: int
    page: int
    pages: int
    recent_days: int = RECENT_DAYS


def _active_alerts(scope: Scope) -> Subquery:
    """Per patient in ``scope`` with active alerts: how many, the worst severity's rank, how
    many escalated and the earliest acknowledgement deadline of an open one."""
    rank = case(*((AlertRow.severity == sev, r) for sev, r in SEVERITY_RANK.items()), else_=9)
    return (
        select(
            AlertRow.patient_id,
            func.count().label("open"),
            func.min(rank).label("worst"),
            func.sum(case((AlertRow.status == "escalated", 1), else_=0)).label("escalated"),
            func.min(case((AlertRow.status == "open", AlertRow.acknowledge_by), else_=None)).label("deadline"),
        )
        .where(AlertRow.status.in_(ACTIVE), patient_condition(scope, AlertRow.patient_id))
        .group_by(AlertRow.patient_id)
        .subquery()
    )


@lru_cache(maxsize=256)
def _board_statement(scope: Scope) -> Select[Any]:
    """The board's query for ``scope`` (built once per scope: its construction cost more CPU
    than PostgreSQL spends running it), with the day and page as bound parameters and the
    number of rows of every page as a window column."""
    newest_first = (TreatmentRow.infusion_date.desc(), TreatmentRow.id.desc())
    ranked = select(
        TreatmentRow.patient_id,
        TreatmentRow.product_id,
        TreatmentRow.infusion_date.label("day0"),
        func.row_number().over(partition_by=TreatmentRow.patient_id, order_by=newest_first).label("n"),
    ).subquery()
    latest = select(ranked).where(ranked.c.n == 1).subquery()  # one row a patient, even for two infusions a day
    alerts = _active_alerts(scope)
    progress = notification_progress()
    return (
        select(
            PatientRow.id,
            PatientRow.site,
            latest.c.product_id,
            latest.c.day0,
            func.coalesce(alerts.c.open, 0),
            alerts.c.worst,
            func.coalesce(alerts.c.escalated, 0),
            alerts.c.deadline,
            progress.c.progress,
            func.count().over().label("total"),
        )
        .outerjoin(latest, latest.c.patient_id == PatientRow.id)
        .outerjoin(alerts, alerts.c.patient_id == PatientRow.id)
        .outerjoin(progress, progress.c.patient_id == PatientRow.id)
        .where(
            patient_condition(scope, PatientRow.id),
            alerts.c.open.is_not(None)
            | ((latest.c.day0 >= bindparam("since", type_=Date)) & (latest.c.day0 <= bindparam("today", type_=Date))),
        )
        .order_by(func.coalesce(alerts.c.worst, 9), func.coalesce(alerts.c.open, 0).desc(), PatientRow.id)
        .limit(bindparam("rows", type_=Integer))
        .offset(bindparam("skip", type_=Integer))
    )


@lru_cache(maxsize=16)
def _unregistered_statement(scope: Scope) -> Select[Any]:
    """Active alerts of patient ids that no registered patient has (administrators)."""
    alerts = _active_alerts(scope)
    return (
        select(alerts.c.patient_id, alerts.c.open, alerts.c.worst, alerts.c.escalated, alerts.c.deadline)
        .outerjoin(PatientRow, PatientRow.id == alerts.c.patient_id)
        .where(PatientRow.id.is_(None))
        .order_by(alerts.c.worst, alerts.c.patient_id)
    )


def board(session: Session, scope: Scope, products: ProductDictionary, now: datetime, page: int = 1) -> Board:
    """Every patient in scope with an open alert, whatever the day after infusion, most severe
    first, then the patients in the recent-infusion window; 100 a page."""
    if not scope.patient_level or scope.patient is not None:
        raise NotInScopeError("the monitoring board is not in this account's scope")
    names = {p.id: p.brand for p in products.products}
    today = now.date()
    statement = _board_statement(replace(scope, actor=""))  # the actor does not change what is seen
    window = {"since": today - timedelta(days=RECENT_DAYS), "today": today}

    def rows_of(number: int) -> list[Any]:
        return list(session.execute(statement, {**window, "rows": BOARD_ROWS, "skip": BOARD_ROWS * (number - 1)}))

    found = rows_of(page) if page >= 1 else []
    if not found and page != 1:
        first = rows_of(1)
        last = max(1, (first[0].total + BOARD_ROWS - 1) // BOARD_ROWS) if first else 1
        raise NotFoundError(f"page {page} is past the last page ({last})")
    total = found[0].total if found else 0
    pages = max(1, (total + BOARD_ROWS - 1) // BOARD_ROWS)
    by_rank = {r: sev for sev, r in SEVERITY_RANK.items()}
    naive_now = utc_naive(now)
    rows = [
        BoardRow(
            id=pid,
            site=site,
            product=names.get(prod, prod) if prod else "",
            day=(today - day0).days if day0 is not None else None,
            open=n,
            worst=by_rank.get(worst) if worst is not None else None,
            escalated=int(esc or 0),
            next_deadline=_utc(deadline),
            overdue=deadline is not None and deadline < naive_now,
            notified=(NOTIFICATION_PROGRESS[progress] if progress is not None else "nobody") if n else "",
        )
        for pid, site, prod, day0, n, worst, esc, deadline, progress, _ in found
    ]
    unregistered: list[BoardRow] = []
    if scope.all_patients:  # alerts stored before accounts were checked against the registry
        unregistered = [
            BoardRow(id=pid, site="", open=n, worst=by_rank.get(worst), escalated=int(esc or 0), next_deadline=_utc(d))
            for pid, n, worst, esc, d in session.execute(_unregistered_statement(replace(scope, actor="")))
        ]
    return Board(rows=rows, unregistered=unregistered, total=total, page=page, pages=pages)


class DeviceSeen(BaseModel):
    device: str = Field(description="device or source name ('' when the sender named none)")
    source: str
    last_time: datetime = Field(description="time of the latest observation from this device")
    last_received: datetime = Field(description="when the latest data from this device arrived")
    kinds: list[str]


class PatientSummary(BaseModel):
    id: str
    site: str
    registered: bool
    product_id: str | None = None
    product: str = ""
    infusion_date: date | None = None
    day: int | None = None
    tier: str | None = Field(None, description="monitoring plan risk tier last recorded")
    tier_reasons: list[str] = Field(default_factory=list)
    tier_since: datetime | None = None
    devices: list[DeviceSeen] = Field(default_factory=list)


def _patient(session: Session, scope: Scope, patient_id: str) -> tuple[PatientRow | None, TreatmentRow | None]:
    """The patient in scope and their latest treatment; an administrator also reaches ids that
    have alerts but no registry entry (patient None); else NotFoundError. Looked up once per
    transaction (a patient page asks four query services, each of which checks the patient)."""
    transaction = session.get_transaction() or session.begin()
    found: dict[tuple[Scope, str], tuple[PatientRow | None, TreatmentRow | None]]
    seen, found = session.info.get("patient_lookup", (None, {}))
    if seen is not transaction:
        found = {}
        session.info["patient_lookup"] = (transaction, found)
    key = (replace(scope, actor=""), patient_id)
    if key not in found or session.new or session.dirty or session.deleted:  # a change not yet flushed
        found[key] = _lookup_patient(session, scope, patient_id)
    return found[key]


@event.listens_for(Session, "after_flush")
def _forget_patient_lookups(session: Session, _: object) -> None:
    """A write in the transaction (a consent withdrawn, a transfer) may change who is visible."""
    session.info.pop("patient_lookup", None)


def _lookup_patient(session: Session, scope: Scope, patient_id: str) -> tuple[PatientRow | None, TreatmentRow | None]:
    visible = session.scalar(
        select(PatientRow).where(PatientRow.id == patient_id, patient_condition(scope, PatientRow.id))
    )
    if visible is None:
        orphan = scope.all_patients and session.scalar(
            select(AlertRow.id).where(AlertRow.patient_id == patient_id).limit(1)
        )
        if not orphan or session.get(PatientRow, patient_id) is not None:
            raise NotFoundError(f"no patient {patient_id!r}")  # the same whether absent or out of scope
        return None, None
    treatment = session.scalar(
        select(TreatmentRow)
        .where(TreatmentRow.patient_id == patient_id)
        .order_by(TreatmentRow.infusion_date.desc(), TreatmentRow.id.desc())
        .limit(1)
    )
    return visible, treatment


def patient_summary(
    session: Session, scope: Scope, products: ProductDictionary, patient_id: str, now: datetime
) -> PatientSummary:
    patient, treatment = _patient(session, scope, patient_id)
    names = {p.id: p.brand for p in products.products}
    plan = session.scalar(
        select(PlanRecordRow).where(PlanRecordRow.patient_id == patient_id).order_by(PlanRecordRow.id.desc()).limit(1)
    )
    seen: dict[tuple[str, str], DeviceSeen] = {}
    for device, source, kind, last, received in session.execute(
        select(
            ObservationRow.device,
            ObservationRow.source,
            ObservationRow.kind,
            func.max(ObservationRow.time),
            func.max(ObservationRow.received_at),
        )
        .where(ObservationRow.patient_id == patient_id)
        .group_by(ObservationRow.device, ObservationRow.source, ObservationRow.kind)
    ):
        last_t, got = _utc(last) or now, _utc(received) or now
        d = seen.setdefault(
            (device or "", source),
            DeviceSeen(device=device or "", source=source, last_time=last_t, last_received=got, kinds=[]),
        )
        d.kinds.append(kind)
        d.last_time, d.last_received = max(d.last_time, last_t), max(d.last_received, got)
    devices = sorted(seen.values(), key=lambda d: d.last_received, reverse=True)
    return PatientSummary(
        id=patient_id,
        site=patient.site if patient else "",
        registered=patient is not None,
        product_id=treatment.product_id if treatment else None,
        product=names.get(treatment.product_id, treatment.product_id) if treatment else "",
        infusion_date=treatment.infusion_date if treatment else None,
        day=(now.date() - treatment.infusion_date).days if treatment else None,
        tier=plan.tier if plan else None,
        tier_reasons=list(plan.reasons) if plan else [],
        tier_since=_utc(plan.at) if plan else None,
        devices=devices,
    )


class ObservationPoint(BaseModel):
    kind: str
    time: datetime
    value: float
    unit: str
    source: str
    device: str = ""
    day: float | None = Field(None, description="days since the latest infusion (fractional)")


class ObservationPointRow(TypedDict):
    """An :class:`ObservationPoint` as a plain dict (thousands a request: a pydantic model per
    point cost 2-3x the CPU of reading and serialising them)."""

    kind: str
    time: datetime
    value: float
    unit: str
    source: str
    device: str
    day: float | None


def observation_points(
    session: Session,
    scope: Scope,
    patient_id: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    kinds: tuple[str, ...] = (),
    limit: int = MAX_POINTS,
) -> list[ObservationPointRow]:
    """Current (not superseded) observations of a patient in scope, oldest first (the fields
    of :class:`ObservationPoint`)."""
    _, treatment = _patient(session, scope, patient_id)
    o = ObservationRow
    # Columns, not ORM entities: a patient's chart holds thousands of points.
    query = select(o.kind, o.time, o.value, o.unit, o.source, o.device).where(
        o.patient_id == patient_id, o.superseded.is_(False)
    )
    if since is not None:
        query = query.where(ObservationRow.time >= utc_naive(since))
    if until is not None:
        query = query.where(ObservationRow.time <= utc_naive(until))
    if kinds:
        query = query.where(ObservationRow.kind.in_(kinds))
    day0 = datetime.combine(treatment.infusion_date, datetime.min.time()) if treatment else None
    return [
        {
            "kind": kind,
            "time": time.replace(tzinfo=UTC),
            "value": value,
            "unit": unit,
            "source": source,
            "device": device or "",
            "day": round((time - day0).total_seconds() / 86400, 4) if day0 else None,
        }
        for kind, time, value, unit, source, device in session.execute(query.order_by(o.time).limit(limit))
    ]


class ObservationSeries(BaseModel):
    """One measure of a patient as columns (for charts): above ``max_points`` observations the
    series keeps each hour's maximum, so that a fever still shows."""

    kind: str
    unit: str
    times: list[datetime]
    values: list[float]
    days: list[float | None] = Field(description="days since the latest infusion (fractional)")
    hourly_maxima: bool = False


def observation_series(
    session: Session,
    scope: Scope,
    patient_id: str,
    *,
    since: datetime | None = None,
    kinds: tuple[str, ...] = (),
    max_points: int = 1500,
) -> list[ObservationSeries]:
    """A patient's current observations in scope, one series per measure and unit, oldest first;
    a series of more than ``max_points`` observations keeps the first maximum of each hour (the
    reduction runs in the database: a wearable sends hundreds of readings a day)."""
    _, treatment = _patient(session, scope, patient_id)
    o = ObservationRow
    query = select(o.kind, o.unit, o.time, o.value).where(o.patient_id == patient_id, o.superseded.is_(False))
    if since is not None:
        query = query.where(o.time >= utc_naive(since))
    if kinds:
        query = query.where(o.kind.in_(kinds))
    newest = query.order_by(o.time.desc()).limit(MAX_POINTS * 4).subquery()  # bounded: the newest
    series = (newest.c.kind, newest.c.unit)
    ranked = select(
        *newest.c,
        func.count().over(partition_by=series).label("n"),
        # the hour first: PostgreSQL sorts on it before comparing the text keys (about 15 % less)
        func.row_number()
        .over(partition_by=(hour_start(newest.c.time), *series), order_by=(newest.c.value.desc(), newest.c.time))
        .label("rank"),
    ).subquery()
    rows: dict[tuple[str, str], tuple[list[datetime], list[float], bool]] = {}
    for kind, unit, time, value, n in session.execute(
        select(ranked.c.kind, ranked.c.unit, ranked.c.time, ranked.c.value, ranked.c.n)
        .where((ranked.c.n <= max_points) | (ranked.c.rank == 1))
        .order_by(ranked.c.kind, ranked.c.unit, ranked.c.time)
    ):
        times, values, _ = rows.setdefault((kind, unit), ([], [], n > max_points))
        times.append(time.replace(tzinfo=UTC))
        values.append(value)
    day0 = datetime.combine(treatment.infusion_date, datetime.min.time(), UTC) if treatment else None
    return [
        ObservationSeries.model_construct(
            kind=kind,
            unit=unit,
            times=times,
            values=values,
            days=[round((t - day0).total_seconds() / 86400, 4) if day0 else None for t in times],
            hourly_maxima=reduced,
        )
        for (kind, unit), (times, values, reduced) in sorted(rows.items())
    ]


class AlertEvent(BaseModel):
    status: str
    by: str
    at: datetime
    note: str = ""


class NoticeView(BaseModel):
    kind: str
    recipient: str
    event: str
    status: str
    attempts: int
    last_error: str
    sent_at: datetime | None = None
    next_attempt_at: datetime | None = None


class AlertView(BaseModel):
    id: int
    patient_id: str
    rule: str
    severity: str
    status: str
    message: str
    first_seen: datetime
    last_seen: datetime
    count: int
    acknowledge_by: datetime
    overdue: bool
    history: list[AlertEvent]
    notifications: list[NoticeView]


def _alert_view(alert: AlertRow, notices: list[NoticeView], now: datetime) -> AlertView:
    return AlertView(
        id=alert.id,
        patient_id=alert.patient_id,
        rule=alert.rule,
        severity=alert.severity,
        status=alert.status,
        message=alert.message,
        first_seen=_utc(alert.first_seen) or alert.first_seen,
        last_seen=_utc(alert.last_seen) or alert.last_seen,
        count=alert.count,
        acknowledge_by=_utc(alert.acknowledge_by) or alert.acknowledge_by,
        overdue=alert.status == "open" and alert.acknowledge_by < utc_naive(now),
        history=[AlertEvent(status=e.status, by=e.by, at=_utc(e.at) or e.at, note=e.note or "") for e in alert.events],
        notifications=notices,
    )


def alert_views(
    session: Session,
    scope: Scope,
    now: datetime,
    *,
    patient_id: str | None = None,
    status: Literal["active", "all"] = "active",
    limit: int = 500,
) -> list[AlertView]:
    """Alerts in scope (of one patient, or of every patient in scope), oldest first, with the
    history of who acknowledged or resolved them, when, with which note, and their notifications."""
    if patient_id is not None:
        _patient(session, scope, patient_id)
    elif not scope.patient_level:
        raise NotInScopeError("patient alerts are not in this account's scope")
    query = select(AlertRow).where(patient_condition(scope, AlertRow.patient_id))
    if patient_id is not None:
        query = query.where(AlertRow.patient_id == patient_id)
    if status == "active":
        query = query.where(AlertRow.status.in_(ACTIVE))
    found = list(session.scalars(query.order_by(AlertRow.first_seen, AlertRow.id).limit(limit)))
    states = notification_states(session, [a.id for a in found])
    return [
        _alert_view(
            a,
            [
                NoticeView(**{**n.__dict__, "sent_at": _utc(n.sent_at), "next_attempt_at": _utc(n.next_attempt_at)})
                for n in states.get(a.id, [])
            ],
            now,
        )
        for a in found
    ]


def act_on_alert(
    session: Session,
    scope: Scope,
    alert_id: int,
    action: Literal["acknowledge", "resolve"],
    now: datetime,
    note: str = "",
) -> AlertView:
    """Acknowledge or resolve an alert of a patient in scope (the caller audits and commits).
    An alert outside the scope is NotFoundError, like one that does not exist."""
    alert = (
        session.scalar(
            select(AlertRow).where(
                AlertRow.id == alert_id, patient_condition(scope, AlertRow.patient_id, write=True)
            )  # a site that transferred the patient keeps read access at most (issue 12)
        )
        if 0 < alert_id <= MAX_ROW_ID
        else None
    )
    if alert is None:
        raise NotFoundError(f"no alert {alert_id}")
    if not scope.acts:
        raise NotInScopeError("this account may not acknowledge or resolve alerts")
    if len(note) > 500:
        raise ValidationError(["note: at most 500 characters"])
    (acknowledge if action == "acknowledge" else resolve)(session, alert_id, scope.actor, now, note)
    session.flush()
    session.refresh(alert)
    return _alert_view(alert, [], now)


class EproReport(BaseModel):
    time: datetime | None = Field(None, description="when the report was authored (None: a missed day)")
    day: int | None = Field(None, description="day since infusion")
    answers: dict[str, bool] = Field(default_factory=dict, description="item id -> symptom present")
    no_symptoms: bool = False
    missed: bool = False


def epro_reports(session: Session, scope: Scope, patient_id: str, now: datetime, days: int = 30) -> list[EproReport]:
    """What the patient answered on each ePRO in the last ``days`` days (newest first), with a
    "no symptoms" flag, and each day since infusion without any report as a missed report."""
    _, treatment = _patient(session, scope, patient_id)
    since = utc_naive(now) - timedelta(days=days)
    rows = session.execute(
        select(ObservationRow.time, ObservationRow.kind, ObservationRow.value).where(
            ObservationRow.patient_id == patient_id,
            ObservationRow.kind.like("symptom:%"),
            ObservationRow.superseded.is_(False),
            ObservationRow.time >= since,
        )
    ).all()
    by_time: dict[datetime, dict[str, bool]] = {}
    for t, kind, value in rows:
        by_time.setdefault(t, {})[kind.removeprefix("symptom:")] = value >= 1
    day0 = treatment.infusion_date if treatment else None
    reports = [
        EproReport(
            time=_utc(t),
            day=(t.date() - day0).days if day0 else None,
            answers=answers,
            no_symptoms=not any(answers.values()),
        )
        for t, answers in by_time.items()
    ]
    if day0 is not None and reports:  # the patient reports: a day without a report is a missed one
        reported = {r.day for r in reports}
        first = max(0, (since.date() - day0).days, min(d for d in reported if d is not None))
        for d in range(first, (now.date() - day0).days):  # today may still come
            if d not in reported:
                reports.append(EproReport(day=d, missed=True))
    reports.sort(
        key=lambda r: (r.day if r.day is not None else -1, r.time or datetime.min.replace(tzinfo=UTC)), reverse=True
    )
    return reports
