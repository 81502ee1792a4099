"""The operational store (SQLAlchemy 2): patients, treatments, observations, quarantine,
alerts with their history, and device-gateway tokens. SQLite by default, PostgreSQL by URL.

All times are stored as naive UTC (converted on the way in), so SQLite and PostgreSQL compare
them alike. The schema evolves by Alembic migrations (``store/migrations``), applied when an
engine is opened.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, sessionmaker

__all__ = [
    "MAX_ROW_ID",
    "SEALED_TABLES",
    "AccountTokenRow",
    "AlertEventRow",
    "AlertRow",
    "AuditRow",
    "Base",
    "GatewayRow",
    "LoginThrottleRow",
    "NotificationAttemptRow",
    "NotificationChannelRow",
    "NotificationRow",
    "ObservationRow",
    "PatientRow",
    "PlanRecordRow",
    "QuarantineRow",
    "SessionRow",
    "TreatmentRow",
    "UserRow",
    "existing_operational_engine",
    "operational_engine",
    "session_factory",
    "utc_naive",
]

# The largest id an INTEGER key holds. PostgreSQL refuses a larger one with an error, so a
# query service answers an id from a URL outside 1..MAX_ROW_ID as "not found" without asking.
MAX_ROW_ID = 2**31 - 1


class Base(DeclarativeBase):
    pass


class PatientRow(Base):
    __tablename__ = "patient"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # pseudonymous
    site: Mapped[str] = mapped_column(String(64), index=True)
    birth_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    birth_date_precision: Mapped[str] = mapped_column(String(8), default="day")  # day | month | year
    sex: Mapped[str | None] = mapped_column(String(8), nullable=True)
    jurisdiction: Mapped[str | None] = mapped_column(String(16), nullable=True)
    seal: Mapped[str | None] = mapped_column(String(64), nullable=True)  # audit: keyed digest of the row
    treatments: Mapped[list[TreatmentRow]] = relationship(back_populates="patient")


class TreatmentRow(Base):
    __tablename__ = "treatment"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patient.id"), index=True)
    product_id: Mapped[str] = mapped_column(String(64))
    lot: Mapped[str | None] = mapped_column(String(64), nullable=True)
    infusion_date: Mapped[date] = mapped_column(Date)
    lymphodepletion_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    baseline_labs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    seal: Mapped[str | None] = mapped_column(String(64), nullable=True)
    patient: Mapped[PatientRow] = relationship(back_populates="treatments")


class ObservationRow(Base):
    __tablename__ = "observation"
    # At most one current value per slot (patient, kind, device, time): the intake serialises
    # writers per patient, and a racing writer that still collides gets an IntegrityError that
    # it retries as a duplicate or a correction (reliability review D7). Superseded values stay.
    __table_args__ = (
        Index(
            "uq_observation_current",
            "patient_id",
            "kind",
            "device",
            "time",
            unique=True,
            sqlite_where=text("NOT superseded"),
            postgresql_where=text("NOT superseded"),
        ),
        # an evaluation reads one window of a patient: a range of this index (migration 0011)
        Index("ix_observation_patient_time", "patient_id", "time"),
        Index("ix_observation_patient_kind_time", "patient_id", "kind", "time"),  # one kind, e.g. ANC since day 0
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(32))
    time: Mapped[datetime] = mapped_column(DateTime, index=True)
    source: Mapped[str] = mapped_column(String(16))
    device: Mapped[str] = mapped_column(String(64), default="")
    location: Mapped[str] = mapped_column(String(256), default="")
    received_at: Mapped[datetime] = mapped_column(DateTime)
    superseded: Mapped[bool] = mapped_column(Boolean, default=False)  # a later correction replaced it
    is_correction: Mapped[bool] = mapped_column(Boolean, default=False)
    ref_low: Mapped[float | None] = mapped_column(Float, nullable=True)
    ref_high: Mapped[float | None] = mapped_column(Float, nullable=True)


class QuarantineRow(Base):
    __tablename__ = "observation_quarantine"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(16))
    location: Mapped[str] = mapped_column(String(256))
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(String(1024))
    raw: Mapped[str] = mapped_column(String)
    received_at: Mapped[datetime] = mapped_column(DateTime)


class AlertRow(Base):
    __tablename__ = "alert"
    # the active alert of a rule, without reading the patient's resolved ones (migration 0011)
    __table_args__ = (Index("ix_alert_patient_rule_status", "patient_id", "rule", "status"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(String(64), index=True)
    rule: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))  # info | warning | high | critical
    status: Mapped[str] = mapped_column(String(16), index=True)  # open | acknowledged | escalated | resolved
    message: Mapped[str] = mapped_column(String(512))
    first_seen: Mapped[datetime] = mapped_column(DateTime)
    last_seen: Mapped[datetime] = mapped_column(DateTime)
    count: Mapped[int] = mapped_column(Integer, default=1)
    acknowledge_by: Mapped[datetime] = mapped_column(DateTime)
    rules_version: Mapped[str] = mapped_column(String(64))
    seal: Mapped[str | None] = mapped_column(String(64), nullable=True)
    events: Mapped[list[AlertEventRow]] = relationship(back_populates="alert", order_by="AlertEventRow.id")


class AlertEventRow(Base):
    __tablename__ = "alert_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alert.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    by: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime)
    note: Mapped[str] = mapped_column(String(512), default="")
    seal: Mapped[str | None] = mapped_column(String(64), nullable=True)
    alert: Mapped[AlertRow] = relationship(back_populates="events")


class PlanRecordRow(Base):
    """A change of a patient's monitoring tier, with its reasons."""

    __tablename__ = "monitoring_plan_change"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    tier: Mapped[str] = mapped_column(String(16))
    previous_tier: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reasons: Mapped[list[str]] = mapped_column(JSON)
    rules_version: Mapped[str] = mapped_column(String(64))


class UserRow(Base):
    __tablename__ = "app_user"
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(32))
    site: Mapped[str | None] = mapped_column(String(64), nullable=True)
    sponsor_products: Mapped[list[str]] = mapped_column(JSON, default=list)
    patient_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)  # None: not set yet
    seal: Mapped[str | None] = mapped_column(String(64), nullable=True)


class SessionRow(Base):
    """A log-in session kept on the server; the browser's cookie carries only its random id
    (stored here as a SHA-256), so log-out, a password change or a deactivation ends it."""

    __tablename__ = "web_session"
    id_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(ForeignKey("app_user.username"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    last_seen: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)  # absolute lifetime
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    revoked_why: Mapped[str] = mapped_column(String(32), default="")
    client: Mapped[str] = mapped_column(String(64), default="")
    agent: Mapped[str] = mapped_column(String(256), default="")


class LoginThrottleRow(Base):
    """Failed log-ins per client address or per account name, with the time before the next
    attempt is considered (growing delays, never a lock the owner cannot wait out)."""

    __tablename__ = "login_throttle"
    key: Mapped[str] = mapped_column(String(128), primary_key=True)  # "address:<ip>" | "account:<name>"
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure: Mapped[datetime] = mapped_column(DateTime)
    blocked_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class AccountTokenRow(Base):
    """A one-time code with which a user sets their own password (new account or reset);
    stored only as a SHA-256, valid once and until it expires."""

    __tablename__ = "account_token"
    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(ForeignKey("app_user.username"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class AuditRow(Base):
    """One entry of the tamper-evident audit trail (a hash chain)."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(256))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class GatewayRow(Base):
    __tablename__ = "gateway"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    site: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    seal: Mapped[str | None] = mapped_column(String(64), nullable=True)


class NotificationChannelRow(Base):
    """Where a site's alerts are sent: an e-mail address or a webhook URL (signed with the
    channel's secret). ``site`` "*" reaches every site's alerts (a central on-call service)."""

    __tablename__ = "notification_channel"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # email | webhook
    target: Mapped[str] = mapped_column(String(512))  # an address or a URL
    secret: Mapped[str] = mapped_column(String(128), default="")  # webhook: the HMAC-SHA256 key
    min_severity: Mapped[str] = mapped_column(String(16), default="warning")
    escalation_only: Mapped[bool] = mapped_column(Boolean, default=False)  # told only when nobody acknowledged
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    seal: Mapped[str | None] = mapped_column(String(64), nullable=True)


class NotificationRow(Base):
    """One message to send about an alert event (raised, severity raised, escalated) over one
    channel: written in the transaction of the event (an outbox), sent after its commit, retried
    with growing delays until it is sent or given up. A sender claims it for a while
    (``claimed_until``), so that several server processes send it once."""

    __tablename__ = "notification"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alert.id"), index=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("notification_channel.id"))
    event: Mapped[str] = mapped_column(String(16))  # raised | severity | escalated
    kind: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(512))
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending | sent | failed (given up)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    claimed_by: Mapped[str] = mapped_column(String(64), default="")
    last_error: Mapped[str] = mapped_column(String(512), default="")


class NotificationAttemptRow(Base):
    """One try to deliver a notification, with its outcome."""

    __tablename__ = "notification_attempt"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notification.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    worker: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # sent | error
    error: Mapped[str] = mapped_column(String(512), default="")


# Security-relevant tables whose every row carries a keyed seal written by the application
# (cgtvigil.audit), so that an edit behind the application's back shows in `audit verify`.
SEALED_TABLES = (
    "app_user",
    "gateway",
    "patient",
    "treatment",
    "alert",
    "alert_event",
    "notification_channel",
    "signal",  # the signal workflow: a state, an outcome or a signed transition (issue 15)
    "signal_event",
    "signal_evidence",
    "signal_share",
    "periodic_report",  # stored PBRER/DSUR/dossier documents and who they were shared with
    "periodic_report_share",
)


def utc_naive(t: datetime) -> datetime:
    """The stored form of a time: UTC without tzinfo (a naive input is taken as UTC)."""
    return t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo is not None else t


def operational_engine(url: str) -> Engine:
    """An engine for ``url`` (e.g. ``sqlite:///cgtvigil.db``) with the schema migrated to the
    latest revision (Alembic)."""
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _pragmas(conn, _record):  # type: ignore[no-untyped-def]
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer (concurrent users)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=10000")

    from cgtvigil.store._migrate import migrate  # Alembic's env imports this module

    migrate(engine)
    return engine


def existing_operational_engine(url: str) -> Engine:
    """An engine for an operational store that must exist already and is at the latest
    revision; nothing is created or migrated (for checks such as ``audit verify``).

    Raises ``CgtVigilError`` naming the URL when the database or its schema is missing."""
    from alembic.script import ScriptDirectory
    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, OperationalError

    from cgtvigil.errors import CgtVigilError
    from cgtvigil.store._migrate import _config

    head = ScriptDirectory.from_config(_config()).get_current_head()

    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise CgtVigilError(f"{url!r} is not a database URL ({exc}).") from exc
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database or ""
        if path in ("", ":memory:") or not Path(path).is_file():
            raise CgtVigilError(f"{shown}: no such database file (check CGTVIGIL_OPERATIONAL_URL).")
    engine = create_engine(url)
    try:
        with engine.connect() as con:
            tables = set(inspect(con).get_table_names())
            version = (
                con.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
                if "alembic_version" in tables
                else None
            )
    except OperationalError as exc:
        engine.dispose()
        raise CgtVigilError(f"{shown}: cannot open the database ({exc.orig}).") from exc
    if "audit_log" not in tables:
        engine.dispose()
        raise CgtVigilError(f"{shown}: not a cgtvigil operational store (no audit_log table).")
    if version != head:
        engine.dispose()
        raise CgtVigilError(
            f"{shown}: the schema is at revision {version}, not {head}; "
            "open it once with the current cgtvigil (any command that writes) to migrate it."
        )
    return engine


def session_factory(engine: Engine) -> sessionmaker:  # type: ignore[type-arg]
    return sessionmaker(engine, expire_on_commit=False)
