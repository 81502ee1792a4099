"""The expedited reporting clock of a case (domain.md §8.2).

A case needs an expedited report when a reaction is serious and not expected for a suspect
product (expectedness unknown counts as unexpected). The deadline is 7 calendar days for a
fatal or life-threatening case from a study (C.1.3 = 2; a SUSAR), else 15 calendar days. Day 0
is the first receipt of the minimum criteria (ICH E2D: an identifiable reporter, patient,
suspect product and reaction): C.1.4 of the first version that meets them; a follow-up with new
information restarts the clock at its own receipt date (C.1.5). A case whose current version
was submitted (and not rejected by the receiver's acknowledgement) is ``submitted``; else it is
``due`` until its due date and ``overdue`` after it. The 8-day follow-up of a 7-day report
(domain.md §8.2, UNCONFIRMED) is not modelled."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field

from cgtvigil.cases._assess import CaseAssessment
from cgtvigil.model import CaseHistory, IcsrCase

__all__ = ["ClockStatus", "ReportingClock", "Submission", "minimum_criteria_missing", "reporting_clock"]

ClockStatus = Literal["due", "overdue", "submitted", "not expedited", "incomplete", "nullified"]


class Submission(BaseModel):
    """A version of a case sent to a receiver, with the acknowledgement's per-report code."""

    version: str
    receiver: str
    batch_id: str
    submitted_at: datetime
    ack_code: str | None = Field(None, description="CA accepted, CR rejected, None: no acknowledgement yet")


class ReportingClock(BaseModel):
    case_id: str
    version: str = Field(description="C.1.5 of the version the clock is for")
    status: ClockStatus
    days: int | None = Field(None, description="7 or 15 calendar days")
    day0: date | None = None
    due: date | None = None
    days_left: int | None = Field(None, description="negative when overdue")
    restarted: bool = Field(False, description="day 0 is a follow-up's receipt")
    submitted_at: datetime | None = None
    on_time: bool | None = None
    ack_code: str | None = None
    reason: str


def minimum_criteria_missing(case: IcsrCase) -> list[str]:
    """Which of the four ICH E2D minimum criteria ``case`` lacks (empty: a valid ICSR)."""
    p = case.patient
    missing = []
    if not case.primary_sources:
        missing.append("identifiable reporter")
    if not any(
        v is not None for v in (p.name, p.birth_date, p.age, p.age_group, p.sex, p.reference, p.weight, p.gestation)
    ):
        missing.append("identifiable patient")
    if not any(d.suspect for d in case.drugs):
        missing.append("suspect product")
    if not case.reactions:
        missing.append("adverse reaction")
    return missing


def _day(ts: object) -> date | None:
    if not isinstance(ts, str) or len(ts) < 8:
        return None
    try:
        return date(int(ts[:4]), int(ts[4:6]), int(ts[6:8]))
    except ValueError:
        return None


def reporting_clock(
    history: CaseHistory, assessment: CaseAssessment, submissions: list[Submission], today: date
) -> ReportingClock:
    """The clock of the current version of ``history`` on ``today``.

    Examples
    --------
    >>> from cgtvigil.cases._assess import CaseAssessment
    >>> from cgtvigil.model import Code, Drug, PrimarySource, Patient, Reaction
    >>> case = IcsrCase(safety_report_id="R1", first_received="20261101", most_recent="20261101",
    ...     primary_sources=(PrimarySource(),), patient=Patient(age={"value": "40", "unit": "a"}),
    ...     drugs=(Drug(role=Code(code="1")),), reactions=(Reaction(death=True),))
    >>> a = CaseAssessment(products=[], serious=True, unexpected_serious=True, fatal_or_life_threatening=True,
    ...     study=False, reactions=[], reference_versions={})
    >>> c = reporting_clock(CaseHistory(case_id="R1").add(case), a, [], date(2026, 11, 20))
    >>> c.status, c.days, c.due.isoformat(), c.days_left
    ('overdue', 15, '2026-11-16', -4)
    """
    current = history.current
    last = history.versions[-1].case if history.versions else None
    version = (last.most_recent if last is not None and isinstance(last.most_recent, str) else "") or ""
    if history.nullified or current is None:
        return ReportingClock(case_id=history.case_id, version=version, status="nullified", reason="nullified")
    version = current.most_recent if isinstance(current.most_recent, str) else ""
    base = {"case_id": history.case_id, "version": version}
    if not assessment.unexpected_serious:
        why = "no serious reaction" if not assessment.serious else "every serious reaction is expected"
        return ReportingClock(**base, status="not expedited", reason=why)
    days = 7 if assessment.study and assessment.fatal_or_life_threatening else 15
    live = [v.case for v in history.versions if v.kind != "nullification"]
    valid = [c for c in live if not minimum_criteria_missing(c)]
    if not valid:
        missing = ", ".join(minimum_criteria_missing(current))
        return ReportingClock(**base, status="incomplete", days=days, reason=f"minimum criteria missing: {missing}")
    first = valid[0]
    restarted = current is not first and current in valid
    day0 = _day(current.most_recent) if restarted else (_day(first.first_received) or _day(first.most_recent))
    if day0 is None:
        return ReportingClock(**base, status="incomplete", days=days, reason="day 0 (C.1.4 / C.1.5) is not a full date")
    due = day0 + timedelta(days=days)
    kind = "7-day (fatal or life-threatening study case)" if days == 7 else "15-day"
    sent = [s for s in submissions if s.version == version and s.ack_code != "CR"]
    if sent:
        s = min(sent, key=lambda x: x.submitted_at)
        return ReportingClock(
            **base,
            status="submitted",
            days=days,
            day0=day0,
            due=due,
            restarted=restarted,
            submitted_at=s.submitted_at,
            on_time=s.submitted_at.date() <= due,
            ack_code=s.ack_code,
            reason=f"{kind}; sent to {s.receiver} in batch {s.batch_id}",
        )
    left = (due - today).days
    rejected = any(s.version == version and s.ack_code == "CR" for s in submissions)
    return ReportingClock(
        **base,
        status="due" if left >= 0 else "overdue",
        days=days,
        day0=day0,
        due=due,
        days_left=left,
        restarted=restarted,
        reason=kind + ("; the submission was rejected (CR)" if rejected else ""),
    )
