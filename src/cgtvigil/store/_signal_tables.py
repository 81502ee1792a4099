"""The tables of the signal workflow (issue 15, GVP Module IX): a signal with its state and
outcome, its timeline (each transition with the electronic signature that made it, each
re-screen and share), its evidence, and the regulator reviewers a sponsor shared it with.

A signal belongs to the sponsor of its product (``product_id``, a product dictionary id, or
the screened drug name for a product outside the dictionary, which only administrators see);
``cgtvigil.store.signal_condition`` applies that in SQL. Every row is sealed (``SEALED_TABLES``):
a state, an outcome or a signed transition changed with SQL shows in ``audit verify``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cgtvigil.store._operational import Base

__all__ = ["SignalEventRow", "SignalEvidenceRow", "SignalRecordRow", "SignalShareRow"]


class SignalRecordRow(Base):
    """One signal, from its detection to its closing decision."""

    __tablename__ = "signal"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(256))
    product_id: Mapped[str] = mapped_column(String(128), index=True)
    event_type: Mapped[str] = mapped_column(String(16))  # pt | topic | other
    event: Mapped[str] = mapped_column(String(256))
    source_kind: Mapped[str] = mapped_column(String(16))  # screen | alert | sequential | followup | case_series
    source_ref: Mapped[str] = mapped_column(String(256))
    state: Mapped[str] = mapped_column(String(16), index=True)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    priority: Mapped[str] = mapped_column(String(16), default="")
    owner: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    state_since: Mapped[datetime] = mapped_column(DateTime)
    due_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)  # None: closed, or no timeline
    timelines_version: Mapped[str] = mapped_column(String(64))
    flag: Mapped[str] = mapped_column(String(512), default="")  # what a re-screen changed, until the next step
    risk_ref: Mapped[str] = mapped_column(String(128), default="")  # the risk of the register it opened or changed
    seal: Mapped[str | None] = mapped_column(String(64), nullable=True)  # audit: keyed digest of the row
    events: Mapped[list[SignalEventRow]] = relationship(order_by="SignalEventRow.id")
    evidence: Mapped[list[SignalEvidenceRow]] = relationship(order_by="SignalEvidenceRow.id")


class SignalEventRow(Base):
    """One entry of a signal's timeline: a signed transition or decision, a re-screen, a share."""

    __tablename__ = "signal_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    signal_id: Mapped[int] = mapped_column(ForeignKey("signal.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # created | transition | rescreen | share | unshare | evidence | risk
    at: Mapped[datetime] = mapped_column(DateTime)
    by: Mapped[str] = mapped_column(String(64))
    from_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    rationale: Mapped[str] = mapped_column(String(4000), default="")
    meaning: Mapped[str] = mapped_column(String(32), default="")  # of the electronic signature; "" unsigned
    audit_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the audit entry that records it
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    seal: Mapped[str | None] = mapped_column(String(64), nullable=True)


class SignalEvidenceRow(Base):
    """One piece of evidence: a screen row with its spec and snapshot, a case list, an alert,
    a literature reference or a document (its SHA-256). A re-screen supersedes a screen row."""

    __tablename__ = "signal_evidence"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    signal_id: Mapped[int] = mapped_column(ForeignKey("signal.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # screen_row | case_list | alert | literature | document | followup
    title: Mapped[str] = mapped_column(String(256))
    reference: Mapped[str] = mapped_column(String(512), default="")  # DOI, PMID, URL, file name, alert id
    added_at: Mapped[datetime] = mapped_column(DateTime)
    added_by: Mapped[str] = mapped_column(String(64))
    spec_hash: Mapped[str] = mapped_column(String(64), default="")
    snapshot: Mapped[str] = mapped_column(String(64), default="")
    sha256: Mapped[str] = mapped_column(String(64), default="")  # a document's content
    patient_level: Mapped[bool] = mapped_column(Boolean, default=False)  # holds registry patient ids
    current: Mapped[bool] = mapped_column(Boolean, default=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    seal: Mapped[str | None] = mapped_column(String(64), nullable=True)


class SignalShareRow(Base):
    """A regulator reviewer a sponsor shared the signal with (until revoked)."""

    __tablename__ = "signal_share"
    signal_id: Mapped[int] = mapped_column(ForeignKey("signal.id"), primary_key=True)
    reviewer: Mapped[str] = mapped_column(ForeignKey("app_user.username"), primary_key=True)
    shared_at: Mapped[datetime] = mapped_column(DateTime)
    shared_by: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    seal: Mapped[str | None] = mapped_column(String(64), nullable=True)
