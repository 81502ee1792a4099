"""The tables of case processing (issue 13): the submissions of a case version to a regulator
with the acknowledgement received for it (which stops its reporting clock), and the
cross-source duplicate candidates with a person's decision on each.

The cases themselves are in the analytic store (``CaseStore``, DuckDB); these tables refer to
them by case id (C.1.8.1, else C.1.1) and version (C.1.5)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cgtvigil.store._operational import Base

__all__ = ["CaseMatchRow", "CaseSubmissionRow"]


class CaseSubmissionRow(Base):
    """One version of a case sent to a receiver in an E2B(R3) batch, and its acknowledgement."""

    __tablename__ = "case_submission"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(128), index=True)
    safety_report_id: Mapped[str] = mapped_column(String(128), index=True)
    version: Mapped[str] = mapped_column(String(32))  # C.1.5 of the version sent ('' when absent)
    receiver: Mapped[str] = mapped_column(String(64))
    batch_id: Mapped[str] = mapped_column(String(128), index=True)
    submitted_at: Mapped[datetime] = mapped_column(DateTime)
    submitted_by: Mapped[str] = mapped_column(String(64))
    ack_code: Mapped[str | None] = mapped_column(String(8), nullable=True)  # CA | CR (per report)
    ack_batch_code: Mapped[str | None] = mapped_column(String(8), nullable=True)  # AA | AE | AR
    ack_detail: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    ack_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class CaseMatchRow(Base):
    """A pair of cases from two sources that may be one case: its score, the fields that agreed
    and disagreed, and the decision (``proposed`` until a person confirms or rejects it)."""

    __tablename__ = "case_match"
    __table_args__ = (UniqueConstraint("case_a", "case_b", name="uq_case_match_pair"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_a: Mapped[str] = mapped_column(String(128), index=True)
    source_a: Mapped[str] = mapped_column(String(16))
    case_b: Mapped[str] = mapped_column(String(128), index=True)
    source_b: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(16))  # worldwide_id | other_id | probabilistic
    score: Mapped[float] = mapped_column(Float)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON)  # field -> agree | disagree | missing
    status: Mapped[str] = mapped_column(String(16), index=True)  # proposed | confirmed | rejected
    found_at: Mapped[datetime] = mapped_column(DateTime)
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    note: Mapped[str] = mapped_column(String(2000), default="")
