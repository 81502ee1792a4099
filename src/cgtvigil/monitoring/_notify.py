"""Notifications of alerts to people, over real channels configured per site: SMTP e-mail and
a signed webhook (security review H2).

An alert event (raised, severity raised, escalated) writes one ``notification`` row per
matching channel in the event's own transaction (an outbox), so that a crash after the commit
loses no message. A sender claims due rows for a while under a database lock, sends them with
no transaction open, and records every attempt (channel, recipient, outcome, error) and its
audit entry; a failed attempt is retried with growing delays until it is sent or, after the
last attempt, marked failed. Several server processes (and the ``cgtvigil monitor escalate``
timer) may send at once: each message is claimed by one of them. A sender that dies while
sending leaves its claim to expire, and the message is sent again (at least once, never lost).

A webhook receives the JSON body by POST with ``X-Cgtvigil-Timestamp`` (Unix seconds) and
``X-Cgtvigil-Signature: sha256=<hex>``, the HMAC-SHA256 under the channel's secret of
``<timestamp>.<body>``; a receiver recomputes it and refuses an old timestamp (a replay).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import smtplib
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Subquery, case, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from cgtvigil._validation import Problems
from cgtvigil.errors import ValidationError
from cgtvigil.store import (
    AlertRow,
    GatewayRow,
    NotificationAttemptRow,
    NotificationChannelRow,
    NotificationRow,
    PatientRow,
    utc_naive,
)

__all__ = [
    "CHANNEL_KINDS",
    "SEVERITIES",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "AuditWriter",
    "Delivery",
    "NotificationState",
    "Notifier",
    "RetryPolicy",
    "SmtpServer",
    "configure_channel",
    "deliver_due",
    "disable_channel",
    "notification_progress",
    "notification_states",
    "patients_notified",
    "queue_notifications",
    "sign_webhook",
    "write_lock",
]

SEVERITIES = ("info", "warning", "high", "critical")
CHANNEL_KINDS = ("email", "webhook")
ALL_SITES = "*"
SIGNATURE_HEADER = "X-Cgtvigil-Signature"
TIMESTAMP_HEADER = "X-Cgtvigil-Timestamp"
SYSTEM = "cgtvigil"
_EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+$")
_LOOPBACK = ("127.0.0.1", "::1", "localhost")
_LOCK_CLASS = 0x0A1E  # the first key of PostgreSQL advisory locks taken here ("alert")


class AuditWriter(Protocol):
    """The signature of ``cgtvigil.audit.append_audit`` (passed in by the entry point, since
    monitoring does not import its sibling ``audit``)."""

    def __call__(
        self, session: Session, *, actor: str, action: str, target: str, at: datetime, detail: dict[str, Any] | None
    ) -> object: ...


@dataclass(frozen=True)
class SmtpServer:
    """The mail server alerts are sent through. ``security``: ``starttls`` (the default),
    ``ssl`` (implicit TLS, port 465) or ``none`` (a relay on the same host or a test server)."""

    host: str
    port: int = 587
    sender: str = "cgtvigil@localhost"
    username: str = ""
    password: str = ""
    security: Literal["starttls", "ssl", "none"] = "starttls"


@dataclass(frozen=True)
class RetryPolicy:
    """How a failed delivery is retried: after ``first_delay``, doubling up to ``max_delay``,
    at most ``max_attempts`` tries; a sender holds its claim for ``lease``."""

    max_attempts: int = 10
    first_delay: timedelta = timedelta(minutes=1)
    max_delay: timedelta = timedelta(minutes=30)
    lease: timedelta = timedelta(minutes=5)

    def delay(self, attempts: int) -> timedelta:
        step: timedelta = self.first_delay * (2 ** max(0, attempts - 1))
        return min(self.max_delay, step)


def _worker_name() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


@dataclass(frozen=True)
class Notifier:
    """What a sender needs: the mail server (None: e-mail channels fail with a message saying
    so), the address users open (for links), the audit writer, the retry policy, the network
    timeout and this process's name (recorded with each attempt)."""

    smtp: SmtpServer | None = None
    public_url: str = ""
    audit: AuditWriter | None = None
    retry: RetryPolicy = RetryPolicy()
    timeout: float = 10.0
    worker: str = field(default_factory=_worker_name)


@dataclass(frozen=True)
class Delivery:
    """The outcome of one attempt."""

    notification_id: int
    alert_id: int
    kind: str
    recipient: str
    status: str  # sent | retrying | failed
    error: str
    attempts: int


@dataclass(frozen=True)
class NotificationState:
    """What the care team sees about one notification of an alert."""

    kind: str
    recipient: str
    event: str
    status: str  # pending | sent | failed
    attempts: int
    last_error: str
    sent_at: datetime | None
    next_attempt_at: datetime | None


def write_lock(session: Session, *names: str) -> None:
    """Make the session's transaction the only one holding the locks ``names`` until it ends:
    the database's write lock on SQLite (an immediate transaction), transaction-scoped advisory
    locks on PostgreSQL, all of them in one statement and in the order of their keys (one order
    for every writer, so two writers of overlapping sets cannot deadlock). Taken first in the
    transaction, so that what it reads next is current. No names: nothing is locked."""
    if not names:
        return
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        if not connection.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
            connection.exec_driver_sql("BEGIN IMMEDIATE")
    elif connection.dialect.name == "postgresql":
        keys = sorted({int.from_bytes(hashlib.sha256(n.encode()).digest()[:4], "big", signed=True) for n in names})
        session.execute(
            text("SELECT pg_advisory_xact_lock(:a, k) FROM unnest(CAST(:keys AS integer[])) AS u(k)"),
            {"a": _LOCK_CLASS, "keys": keys},
        )


def _known_sites(session: Session) -> set[str]:
    return set(session.scalars(select(PatientRow.site).distinct())) | set(
        session.scalars(select(GatewayRow.site).distinct())
    )


def _check_target(kind: str, target: str, problems: Problems) -> None:
    if kind == "email":
        if len(target) > 254 or not _EMAIL.match(target):
            problems.add(f"The e-mail address must look like name@host. Got {target!r}.")
        return
    parts = urlsplit(target)
    if len(target) > 512 or parts.scheme not in ("https", "http") or not parts.hostname:
        problems.add(f"The webhook URL must be an https:// URL of at most 512 characters. Got {target!r}.")
    elif parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        problems.add(f"The webhook URL must use https (plain http only to this host). Got {target!r}.")


def configure_channel(
    session: Session,
    *,
    site: str,
    kind: str,
    target: str,
    at: datetime,
    actor: str,
    min_severity: str = "warning",
    escalation_only: bool = False,
) -> tuple[NotificationChannelRow, str]:
    """Add a notification channel for ``site`` (``"*"``: every site); returns the channel and,
    for a webhook, its signing secret (shown once to the person configuring the receiver).
    Every problem with the request is reported together."""
    problems = Problems()
    if kind not in CHANNEL_KINDS:
        problems.add(f"The channel kind must be one of {', '.join(CHANNEL_KINDS)}. Got {kind!r}.")
    else:
        _check_target(kind, target, problems)
    if min_severity not in SEVERITIES:
        problems.add(f"The minimum severity must be one of {', '.join(SEVERITIES)}. Got {min_severity!r}.")
    if site != ALL_SITES:
        sites = _known_sites(session)
        if site not in sites:
            hint = [s for s in sites if s.lower() == site.lower()]
            problems.add(
                f"The site {site!r} has no registered patient or gateway"
                + (f"; did you mean {hint[0]!r}?" if hint else f" (known sites: {', '.join(sorted(sites)) or 'none'}).")
            )
    if not problems:
        same = session.scalar(
            select(NotificationChannelRow.id).where(
                NotificationChannelRow.site == site,
                NotificationChannelRow.kind == kind,
                NotificationChannelRow.target == target,
                NotificationChannelRow.active.is_(True),
            )
        )
        if same is not None:
            problems.add(f"Channel {same} sends {kind} to {target!r} for {site!r} already.")
    problems.raise_if_any()
    secret = secrets.token_urlsafe(32) if kind == "webhook" else ""
    row = NotificationChannelRow(
        site=site,
        kind=kind,
        target=target,
        secret=secret,
        min_severity=min_severity,
        escalation_only=escalation_only,
        active=True,
        created_at=utc_naive(at),
        created_by=actor[:64],
    )
    session.add(row)
    session.flush()
    return row, secret


def disable_channel(session: Session, channel_id: int) -> NotificationChannelRow:
    """Stop using a channel (kept, with its deliveries, for the record)."""
    row = session.get(NotificationChannelRow, channel_id)
    if row is None or not row.active:
        raise ValidationError([f"There is no active notification channel {channel_id}."])
    row.active = False
    session.flush()
    return row


def queue_notifications(session: Session, alert: AlertRow, event: str, at: datetime) -> list[NotificationRow]:
    """Write the messages about ``event`` of ``alert`` (``raised``, ``severity`` or
    ``escalated``) for every active channel of the patient's site (and of every site) whose
    minimum severity the alert reaches; escalation-only channels are told of escalations."""
    patient = session.get(PatientRow, alert.patient_id)
    sites = [ALL_SITES] + ([patient.site] if patient is not None else [])
    rank = SEVERITIES.index(alert.severity) if alert.severity in SEVERITIES else len(SEVERITIES)
    at = utc_naive(at)
    queued = []
    for channel in session.scalars(
        select(NotificationChannelRow)
        .where(NotificationChannelRow.site.in_(sites), NotificationChannelRow.active.is_(True))
        .order_by(NotificationChannelRow.id)
    ):
        if SEVERITIES.index(channel.min_severity) > rank or (channel.escalation_only and event != "escalated"):
            continue
        row = NotificationRow(
            alert_id=alert.id,
            channel_id=channel.id,
            event=event,
            kind=channel.kind,
            recipient=channel.target,
            status="pending",
            attempts=0,
            created_at=at,
            next_attempt_at=at,
            claimed_by="",
            last_error="",
        )
        session.add(row)
        queued.append(row)
    session.flush()
    return queued


def _zulu(t: datetime) -> str:
    return utc_naive(t).isoformat(timespec="seconds") + "Z"


@dataclass(frozen=True)
class _Job:
    id: int
    alert_id: int
    kind: str
    recipient: str
    secret: str
    payload: dict[str, Any]


def _payload(n: NotificationRow, alert: AlertRow, site: str | None, public_url: str) -> dict[str, Any]:
    return {
        "notification": n.id,
        "event": n.event,
        "alert": alert.id,
        "patient": alert.patient_id,
        "site": site,
        "severity": alert.severity,
        "rule": alert.rule,
        "status": alert.status,
        "message": alert.message,
        "first_seen": _zulu(alert.first_seen),
        "acknowledge_by": _zulu(alert.acknowledge_by),
        "url": f"{public_url}/patients/{alert.patient_id}" if public_url else f"/patients/{alert.patient_id}",
    }


def _claim(
    sessions: sessionmaker[Session], notifier: Notifier, now: datetime, alert_ids: Sequence[int] | None
) -> list[_Job]:
    with sessions() as session:
        write_lock(session, "notification-claim")
        query = (
            select(NotificationRow, NotificationChannelRow, AlertRow, PatientRow.site)
            .join(NotificationChannelRow, NotificationChannelRow.id == NotificationRow.channel_id)
            .join(AlertRow, AlertRow.id == NotificationRow.alert_id)
            .outerjoin(PatientRow, PatientRow.id == AlertRow.patient_id)
            .where(
                NotificationRow.status == "pending",
                NotificationRow.next_attempt_at <= now,
                (NotificationRow.claimed_until.is_(None)) | (NotificationRow.claimed_until < now),
            )
            .order_by(NotificationRow.id)
            .limit(200)
        )
        if alert_ids is not None:
            query = query.where(NotificationRow.alert_id.in_(list(alert_ids)))
        jobs = []
        for n, channel, alert, site in session.execute(query).all():
            n.claimed_until = now + notifier.retry.lease
            n.claimed_by = notifier.worker[:64]
            jobs.append(
                _Job(n.id, alert.id, n.kind, n.recipient, channel.secret, _payload(n, alert, site, notifier.public_url))
            )
        session.commit()
    return jobs


def sign_webhook(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Cgtvigil-Signature`` value of a webhook body sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={mac}"


def _email(notifier: Notifier, job: _Job) -> None:
    smtp = notifier.smtp
    if smtp is None:
        raise _SendError("no mail server is configured (CGTVIGIL_SMTP_HOST)")
    p = job.payload
    what = "ESCALATED, not acknowledged in time: " if p["event"] == "escalated" else ""
    msg = EmailMessage()
    msg["From"] = smtp.sender
    msg["To"] = job.recipient
    site = p["site"] or "no registered site"
    msg["Subject"] = f"[cgtvigil] {what}{p['severity'].upper()} alert, patient {p['patient']} ({site})"
    msg.set_content(
        f"{what}{p['severity']} alert {p['alert']} for patient {p['patient']} ({site})\n"
        f"Rule: {p['rule']}\n{p['message']}\n"
        f"First seen {p['first_seen']}; to be acknowledged by {p['acknowledge_by']}.\n"
        f"Open the patient page to acknowledge it: {p['url']}\n"
    )
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if smtp.security == "ssl":
        client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=notifier.timeout, context=context)
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=notifier.timeout)
    with client:
        if smtp.security == "starttls":
            client.starttls(context=context)
        if smtp.username:
            client.login(smtp.username, smtp.password)
        client.send_message(msg)


def _webhook(notifier: Notifier, job: _Job) -> None:
    body = json.dumps(job.payload, sort_keys=True, separators=(",", ":")).encode()
    stamp = str(int(datetime.now(UTC).timestamp()))
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: sign_webhook(job.secret, stamp, body),
        "User-Agent": "cgtvigil-notify",
    }
    with httpx.Client(timeout=notifier.timeout, follow_redirects=False, trust_env=False) as client:
        response = client.post(job.recipient, content=body, headers=headers)
    if not 200 <= response.status_code < 300:
        raise _SendError(f"the receiver answered HTTP {response.status_code}")


class _SendError(Exception):
    """A delivery failed for a reason the sender states itself."""


def _send(notifier: Notifier, job: _Job) -> str:
    """'' when the message was accepted, else why not."""
    try:
        (_email if job.kind == "email" else _webhook)(notifier, job)
    except _SendError as exc:
        return str(exc)
    except (smtplib.SMTPException, OSError, httpx.HTTPError) as exc:  # refused, unreachable, timed out, TLS
        return f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__
    return ""


def _record(sessions: sessionmaker[Session], notifier: Notifier, job: _Job, error: str, at: datetime) -> Delivery:
    """Record one attempt made at ``at`` (the caller's clock, as the claim used)."""
    with sessions() as session:
        write_lock(session, "notification-record")  # SQLite: no read-then-write race with another sender
        n = session.get(NotificationRow, job.id)
        assert n is not None  # notifications are never deleted
        n.attempts += 1
        n.claimed_until, n.claimed_by = None, ""
        n.last_error = error[:512]
        if not error:
            n.status, n.sent_at = "sent", at
        elif n.attempts >= notifier.retry.max_attempts:
            n.status = "failed"
        else:
            n.next_attempt_at = at + notifier.retry.delay(n.attempts)
        status = n.status if n.status != "pending" else "retrying"
        session.add(
            NotificationAttemptRow(
                notification_id=n.id,
                at=at,
                worker=notifier.worker[:64],
                status="sent" if not error else "error",
                error=error[:512],
            )
        )
        if notifier.audit is not None:
            notifier.audit(
                session,
                actor=SYSTEM,
                action="notification.sent" if not error else "notification.error",
                target=f"alert:{job.alert_id}",
                at=at,
                detail={
                    "notification": n.id,
                    "channel": n.kind,
                    "recipient": n.recipient,
                    "event": n.event,
                    "status": status,
                    "attempt": n.attempts,
                    "error": error,
                },
            )
        session.commit()
        return Delivery(n.id, job.alert_id, n.kind, n.recipient, status, error, n.attempts)


def deliver_due(
    sessions: sessionmaker[Session],
    notifier: Notifier,
    now: datetime | None = None,
    *,
    alert_ids: Sequence[int] | None = None,
) -> list[Delivery]:
    """Send the notifications that are due (of ``alert_ids`` only, when given), each claimed by
    this process alone; returns the outcome of every attempt. Opens its own transactions."""
    now = utc_naive(now or datetime.now(UTC))
    return [
        _record(sessions, notifier, job, _send(notifier, job), now)
        for job in _claim(sessions, notifier, now, alert_ids)
    ]


def notification_states(session: Session, alert_ids: Sequence[int]) -> dict[int, list[NotificationState]]:
    """The notifications of each alert, oldest first."""
    out: dict[int, list[NotificationState]] = {a: [] for a in alert_ids}
    if not alert_ids:
        return out
    for n in session.scalars(
        select(NotificationRow).where(NotificationRow.alert_id.in_(list(alert_ids))).order_by(NotificationRow.id)
    ):
        out[n.alert_id].append(
            NotificationState(
                kind=n.kind,
                recipient=n.recipient,
                event=n.event,
                status=n.status,
                attempts=n.attempts,
                last_error=n.last_error,
                sent_at=n.sent_at,
                next_attempt_at=n.next_attempt_at if n.status == "pending" else None,
            )
        )
    return out


NOTIFICATION_PROGRESS = ("failed", "retrying", "pending", "sent")  # least progressed first


def notification_progress() -> Subquery:
    """Per patient with notifications of active alerts, how far the least advanced of them got,
    as an index into :data:`NOTIFICATION_PROGRESS` (columns ``patient_id``, ``progress``): one
    subquery that the board joins and :func:`patients_notified` reads."""
    from cgtvigil.monitoring._alerts import ACTIVE

    state = case(
        (NotificationRow.status == "failed", 0),
        ((NotificationRow.status == "pending") & (NotificationRow.attempts > 0), 1),
        (NotificationRow.status == "pending", 2),
        else_=3,
    )
    return (
        select(AlertRow.patient_id, func.min(state).label("progress"))
        .join(NotificationRow, NotificationRow.alert_id == AlertRow.id)
        .where(AlertRow.status.in_(ACTIVE))
        .group_by(AlertRow.patient_id)
        .subquery()
    )


def patients_notified(session: Session, patient_ids: Sequence[str]) -> dict[str, str]:
    """For each patient with active alerts, how far their notifications got: ``failed`` (one
    was given up), ``retrying``, ``pending``, ``sent`` (all of them), or ``nobody`` (no channel
    matched: no one was told)."""
    if not patient_ids:
        return {}
    progress = notification_progress()
    found = dict(
        session.execute(
            select(progress.c.patient_id, progress.c.progress).where(progress.c.patient_id.in_(list(patient_ids)))
        ).tuples()
    )
    return {pid: NOTIFICATION_PROGRESS[found[pid]] if pid in found else "nobody" for pid in patient_ids}
