"""The tables of the risk register (issue 15, EU RMP part II/III/V and US REMS): every version
of a product's register kept whole (a JSON document with its SHA-256), and the changes of each
version risk by risk, with the validated signal that caused a change when there was one (the
signal keeps the risk's reference on its side: ``signal.risk_ref``).

Versions are never updated nor deleted: an edit writes the next version."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cgtvigil.store._operational import Base

__all__ = ["RiskChangeRow", "RiskRegisterVersionRow"]


class RiskRegisterVersionRow(Base):
    """One version of one product's risk register."""

    __tablename__ = "risk_register_version"
    __table_args__ = (UniqueConstraint("product_id", "version", name="uq_risk_register_version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    product_id: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)  # 1, 2, ... per product
    at: Mapped[datetime] = mapped_column(DateTime)
    by: Mapped[str] = mapped_column(String(64))
    basis: Mapped[str] = mapped_column(String(128))  # "shipped:<data version>" | "edit" | "signal:<id>"
    note: Mapped[str] = mapped_column(String(2000), default="")
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    sha256: Mapped[str] = mapped_column(String(64))


class RiskChangeRow(Base):
    """What one version changed in one risk (opened, changed, closed), and why."""

    __tablename__ = "risk_change"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("risk_register_version.id"), index=True)
    product_id: Mapped[str] = mapped_column(String(64), index=True)
    risk_key: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # opened | changed | closed
    fields: Mapped[list[str]] = mapped_column(JSON, default=list)  # the risk's fields that changed
    signal_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    by: Mapped[str] = mapped_column(String(64))
    rationale: Mapped[str] = mapped_column(String(2000), default="")
