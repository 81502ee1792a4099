"""Operational tables of long-term follow-up (issue 12): sites with their country and time zone,
follow-up details of a patient (equity attributes, status), plans and visits with the rule
version that made each, yearly forms, new-malignancy work-ups, consent records and the current
consent state per use, transition tasks and transfers between sites.

Clonal expansions, integration sites and vector copy numbers are the genotoxicity tables
(``genotox``); they refer to the same ``patient.id``."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cgtvigil.store._operational import Base

__all__ = [
    "ConsentRow",
    "ConsentStateRow",
    "LtfuFormRow",
    "LtfuPatientRow",
    "LtfuPlanRow",
    "LtfuSiteRow",
    "LtfuTaskRow",
    "LtfuVisitRow",
    "MalignancyRow",
    "TransferRow",
]


class LtfuSiteRow(Base):
    """A treating site: country, jurisdiction, IANA time zone and whether it treats children."""

    __tablename__ = "ltfu_site"
    site: Mapped[str] = mapped_column(String(64), primary_key=True)
    country: Mapped[str] = mapped_column(String(8))
    jurisdiction: Mapped[str | None] = mapped_column(String(16), nullable=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    care: Mapped[str] = mapped_column(String(16), default="both")  # paediatric | adult | both


class LtfuPatientRow(Base):
    """Follow-up details of a registered patient: where recorded, race, ethnicity and distance
    to the treating centre (for equity analyses), and the follow-up status."""

    __tablename__ = "ltfu_patient"
    patient_id: Mapped[str] = mapped_column(ForeignKey("patient.id"), primary_key=True)
    race: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ethnicity: Mapped[str | None] = mapped_column(String(64), nullable=True)
    distance_km: Mapped[float | None] = mapped_column(Float, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | deceased | completed
    status_since: Mapped[date | None] = mapped_column(Date, nullable=True)
    death_cause: Mapped[str] = mapped_column(String(256), default="")


class LtfuPlanRow(Base):
    """A patient's follow-up plan for one treatment, made by a rule-set version."""

    __tablename__ = "ltfu_plan"
    __table_args__ = (UniqueConstraint("treatment_id", name="uq_ltfu_plan_treatment"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patient.id"), index=True)
    treatment_id: Mapped[int] = mapped_column(ForeignKey("treatment.id"))
    product_id: Mapped[str] = mapped_column(String(64))
    start: Mapped[date] = mapped_column(Date)  # the infusion date
    end: Mapped[date] = mapped_column(Date)
    years: Mapped[int] = mapped_column(Integer)
    rules: Mapped[list[str]] = mapped_column(JSON)  # the rule ids that set the duration and extras
    unconfirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    rule_version: Mapped[str] = mapped_column(String(64))  # the latest version that (re-)planned it
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class LtfuVisitRow(Base):
    """One planned visit with its window and state; ``rule_version`` is the version that made it.
    A re-plan marks visits not yet open as ``replaced`` (kept) and adds the new version's."""

    __tablename__ = "ltfu_visit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("ltfu_plan.id"), index=True)
    patient_id: Mapped[str] = mapped_column(String(64), index=True)
    key: Mapped[str] = mapped_column(String(64))  # e.g. exam-y3, contact-y9, integration_site_analysis-m6
    kind: Mapped[str] = mapped_column(String(32))  # examination | contact | integration_site_analysis | ...
    year: Mapped[int] = mapped_column(Integer)  # follow-up year the visit belongs to (1..)
    due: Mapped[date] = mapped_column(Date, index=True)
    opens: Mapped[date] = mapped_column(Date)
    closes: Mapped[date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(16), index=True)  # scheduled | done | missed | replaced | not_required
    done_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    contact: Mapped[str] = mapped_column(String(16), default="")  # visit | questionnaire | phone | record
    site: Mapped[str] = mapped_column(String(64), default="")  # where it was done
    rule_version: Mapped[str] = mapped_column(String(64))
    rule: Mapped[str] = mapped_column(String(64))
    recorded_by: Mapped[str] = mapped_column(String(64), default="")
    recorded_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class LtfuFormRow(Base):
    """A yearly follow-up form (CIBMTR-like categories) recorded with a visit."""

    __tablename__ = "ltfu_form"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("ltfu_visit.id"), index=True)
    patient_id: Mapped[str] = mapped_column(String(64), index=True)
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    form_version: Mapped[str] = mapped_column(String(32))
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(DateTime)


class MalignancyRow(Base):
    """A new malignancy reported at follow-up: the tissue-testing work-up (CAR transgene /
    vector) and the safety case it was put into (the canonical case, filed into the case store)."""

    __tablename__ = "ltfu_malignancy"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(String(64), index=True)
    form_id: Mapped[int] = mapped_column(ForeignKey("ltfu_form.id"))
    product_id: Mapped[str] = mapped_column(String(64))
    diagnosis: Mapped[str] = mapped_column(String(256))
    diagnosed_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    haematologic: Mapped[bool] = mapped_column(Boolean, default=False)
    tissue: Mapped[str] = mapped_column(String(16))  # requested | pending | positive | negative
    tissue_requested_at: Mapped[datetime] = mapped_column(DateTime)
    tissue_result_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    case_id: Mapped[str] = mapped_column(String(64), unique=True)
    case_json: Mapped[str] = mapped_column(Text)
    case_filed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)  # None: not yet in the case store


class ConsentRow(Base):
    """One consent artefact (parental permission, child assent or adult consent) for one use,
    with its signer and form version; a withdrawal is a row of its own (``withdrawn``)."""

    __tablename__ = "consent"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patient.id"), index=True)
    use: Mapped[str] = mapped_column(String(32))  # safety_followup | data_sharing | biosample | recontact
    kind: Mapped[str] = mapped_column(String(16))  # permission | assent | consent | waiver
    signer: Mapped[str] = mapped_column(String(16))  # parent | guardian | patient | irb
    form_version: Mapped[str] = mapped_column(String(64))
    signed_on: Mapped[date] = mapped_column(Date)
    withdrawn: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str] = mapped_column(String(512), default="")
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(DateTime)


class ConsentStateRow(Base):
    """The consent state of one patient for one use, kept by the consent service on every
    change: ``granted``, ``withdrawn`` or ``held`` (majority reached without re-consent). The
    store's scope helper reads it: the one enforcement point."""

    __tablename__ = "consent_state"
    patient_id: Mapped[str] = mapped_column(ForeignKey("patient.id"), primary_key=True)
    use: Mapped[str] = mapped_column(String(32), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    since: Mapped[date] = mapped_column(Date)


class LtfuTaskRow(Base):
    """A follow-up task: assent, re-consent at majority, a Got Transition element, a transfer."""

    __tablename__ = "ltfu_task"
    __table_args__ = (UniqueConstraint("patient_id", "kind", name="uq_ltfu_task_kind"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patient.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    element: Mapped[int | None] = mapped_column(Integer, nullable=True)  # Got Transition core element 1-6
    due: Mapped[date] = mapped_column(Date)
    approximate: Mapped[bool] = mapped_column(Boolean, default=False)  # from a partial birth date
    status: Mapped[str] = mapped_column(String(16), index=True)  # open | done | waived
    detail: Mapped[str] = mapped_column(String(512), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    closed_by: Mapped[str] = mapped_column(String(64), default="")


class TransferRow(Base):
    """A move of a patient between sites (and possibly jurisdictions): the plan, visits, alerts
    and tasks move with the patient; the sending site keeps read access only if ``sending_access``
    is ``read`` and until ``read_until`` (None: no end)."""

    __tablename__ = "ltfu_transfer"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patient.id"), index=True)
    from_site: Mapped[str] = mapped_column(String(64), index=True)
    to_site: Mapped[str] = mapped_column(String(64))
    from_jurisdiction: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_jurisdiction: Mapped[str | None] = mapped_column(String(16), nullable=True)
    moved_on: Mapped[date] = mapped_column(Date)
    sending_access: Mapped[str] = mapped_column(String(8))  # none | read
    read_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    by: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime)
