"""Alert lifecycle: open -> acknowledged -> resolved, with escalation of alerts left
unacknowledged past their deadline; repeated triggers update the open alert (de-duplication);
every change is an event with who and when. A new alert, a raised severity and an escalation
queue their notifications in the same transaction (``_notify``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cgtvigil.errors import ValidationError
from cgtvigil.monitoring._notify import SEVERITIES, queue_notifications, write_lock
from cgtvigil.monitoring._rules import MonitoringRules
from cgtvigil.store import AlertEventRow, AlertRow, utc_naive

__all__ = ["ACTIVE", "acknowledge", "escalate_overdue", "raise_alert", "resolve"]

ACTIVE = ("open", "acknowledged", "escalated")
SEVERITY_ORDER = SEVERITIES
SYSTEM = "cgtvigil"


def raise_alert(
    session: Session, patient: str, rule: str, severity: str, message: str, at: datetime, rules: MonitoringRules
) -> tuple[AlertRow, bool]:
    """Open an alert, or update the active one for the same patient and rule; returns
    (alert, created)."""
    at = utc_naive(at)
    active = session.scalars(
        select(AlertRow).where(AlertRow.patient_id == patient, AlertRow.rule == rule, AlertRow.status.in_(ACTIVE))
    ).first()
    if active is not None:
        active.count += 1
        active.last_seen = max(active.last_seen, at)
        active.message = message
        if SEVERITY_ORDER.index(severity) > SEVERITY_ORDER.index(active.severity):
            session.add(
                AlertEventRow(
                    alert_id=active.id,
                    status=active.status,
                    by=SYSTEM,
                    at=at,
                    note=f"severity raised from {active.severity} to {severity}: {message}",
                )
            )
            active.severity = severity
            queue_notifications(session, active, "severity", at)
        return active, False
    alert = AlertRow(
        patient_id=patient,
        rule=rule,
        severity=severity,
        status="open",
        message=message,
        first_seen=at,
        last_seen=at,
        count=1,
        acknowledge_by=at + timedelta(minutes=rules.acknowledge_minutes.get(severity, 60)),
        rules_version=rules.version,
    )
    session.add(alert)
    session.flush()
    session.add(AlertEventRow(alert_id=alert.id, status="open", by=SYSTEM, at=at, note=message))
    queue_notifications(session, alert, "raised", at)
    return alert, True


def _change(
    session: Session, alert_id: int, status: str, by: str, at: datetime, note: str, allowed: tuple[str, ...]
) -> AlertRow:
    alert = session.get(AlertRow, alert_id)
    if alert is None:
        raise ValidationError([f"There is no alert {alert_id}."])
    if alert.status not in allowed:
        raise ValidationError([f"Alert {alert_id} is {alert.status}; it cannot become {status}."])
    alert.status = status
    session.add(AlertEventRow(alert_id=alert.id, status=status, by=by, at=utc_naive(at), note=note))
    return alert


def acknowledge(session: Session, alert_id: int, by: str, at: datetime, note: str = "") -> AlertRow:
    return _change(session, alert_id, "acknowledged", by, at, note, ("open", "escalated"))


def resolve(session: Session, alert_id: int, by: str, at: datetime, note: str = "") -> AlertRow:
    return _change(session, alert_id, "resolved", by, at, note, ACTIVE)


def escalate_overdue(session: Session, now: datetime) -> list[AlertRow]:
    """Escalate open alerts whose acknowledgement deadline has passed and queue their
    escalation notifications (the caller commits). The escalation lock is taken first, so that
    of several processes escalating at once exactly one escalates a given alert: the others
    wait for its commit and then find the alert escalated already.

    On PostgreSQL an alert that another transaction is changing (a gateway's post raising it
    again) is left to the next round rather than waited for: the round takes every row lock it
    needs at once and never waits on one, so it cannot deadlock with a post that changes
    several of a site's alerts in another order."""
    now = utc_naive(now)
    write_lock(session, "alert-escalation")
    overdue = session.scalars(
        select(AlertRow)
        .where(AlertRow.status == "open", AlertRow.acknowledge_by < now)
        .order_by(AlertRow.id)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)  # what the lock holder before us wrote
    ).all()
    for a in overdue:
        _change(session, a.id, "escalated", SYSTEM, now, "not acknowledged by the deadline", ("open",))
        queue_notifications(session, a, "escalated", now)
    return list(overdue)
