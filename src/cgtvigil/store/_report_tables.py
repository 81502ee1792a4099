"""The tables of the stored periodic reports (issue 15): a generated PBRER/PSUR, DSUR or signal
assessment dossier kept whole (HTML and PDF with their SHA-256), beside the spec it was made
from and the named inputs (store snapshots, register versions, the signal table) with their
hash, and the regulator reviewers a sponsor shared it with. Both are sealed
(``SEALED_TABLES``): a document or a share changed with SQL shows in ``audit verify``.

A report belongs to the sponsor of its products (``products``, dictionary ids joined by
commas); reports are never updated: the same spec and inputs give the same stored report."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, DateTime, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cgtvigil.store._operational import Base

__all__ = ["PeriodicReportRow", "PeriodicReportShareRow"]


class PeriodicReportRow(Base):
    """One generated document with its spec and inputs."""

    __tablename__ = "periodic_report"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # pbrer | dsur | dossier
    title: Mapped[str] = mapped_column(String(256))
    products: Mapped[str] = mapped_column(String(512))  # product dictionary ids, sorted, joined by ","
    data_lock_point: Mapped[date] = mapped_column(Date)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    spec_sha256: Mapped[str] = mapped_column(String(64), index=True)
    inputs: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    inputs_sha256: Mapped[str] = mapped_column(String(64))
    html: Mapped[str] = mapped_column(Text)
    html_sha256: Mapped[str] = mapped_column(String(64))
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # None: PDF output unavailable
    pdf_sha256: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    seal: Mapped[str | None] = mapped_column(String(64), nullable=True)  # audit: keyed digest of the row


class PeriodicReportShareRow(Base):
    """A regulator reviewer a sponsor shared the report with (until revoked)."""

    __tablename__ = "periodic_report_share"
    report_id: Mapped[int] = mapped_column(ForeignKey("periodic_report.id"), primary_key=True)
    reviewer: Mapped[str] = mapped_column(ForeignKey("app_user.username"), primary_key=True)
    shared_at: Mapped[datetime] = mapped_column(DateTime)
    shared_by: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    seal: Mapped[str | None] = mapped_column(String(64), nullable=True)
