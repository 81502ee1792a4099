"""The reporting clock of a case (domain.md §8.2), from the versioned rules of
``data/reporting_clock.json`` (:func:`~cgtvigil.cases.load_clock_rules`).

The first rule whose conditions hold of the case's assessment gives the clock: 7 calendar days
for a fatal or life-threatening study case that is serious and unexpected (a SUSAR), followed by
the complete report 8 days later (day 15; UNCONFIRMED); 15 days for another serious unexpected
case (expectedness unknown counts as unexpected); 15 days for a serious postmarketing case
occurring in the EEA (EU serious ICSR, expected or not); 90 days for a non-serious one
(UNCONFIRMED). Day 0 is the first receipt of the minimum criteria (ICH E2D: an identifiable
reporter, patient, suspect product and reaction): C.1.4 of the first version that meets them; a
follow-up with new information restarts the clock at its own receipt date (C.1.5).

The clock is computed in two steps. :func:`clock_basis` is what the case's versions, its
assessment and the rules fix (the rule, day 0, the deadlines); it is stored with each case
version at add time. :func:`clock_on` adds the submissions and the day: the first deadline is
met by the first submission of the current version not rejected by the receiver's
acknowledgement (CR), a follow-up deadline by a later such submission of the case; the case is
``due`` until the due date of its first open deadline and ``overdue`` after it, ``submitted``
when every deadline is met."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field

from cgtvigil.cases._assess import CaseAssessment
from cgtvigil.cases._clock_rules import ClockRules, load_clock_rules
from cgtvigil.model import CaseHistory, IcsrCase

__all__ = [
    "ClockBasis",
    "ClockStatus",
    "Deadline",
    "DeadlineBasis",
    "ReportingClock",
    "Submission",
    "clock_basis",
    "clock_on",
    "minimum_criteria_missing",
    "reporting_clock",
]

ClockStatus = Literal["due", "overdue", "submitted", "not expedited", "incomplete", "nullified"]
BasisKind = Literal["clock", "not expedited", "incomplete", "nullified"]


class Submission(BaseModel):
    """A version of a case sent to a receiver, with the acknowledgement's per-report code."""

    version: str
    receiver: str
    batch_id: str
    submitted_at: datetime
    ack_code: str | None = Field(None, description="CA accepted, CR rejected, None: no acknowledgement yet")


class DeadlineBasis(BaseModel):
    rule: str
    label: str
    due: date
    confirmed: bool


class ClockBasis(BaseModel):
    """What a case's versions, assessment and the rules fix of its clock (stored at add time)."""

    case_id: str
    version: str = Field(description="C.1.5 of the version the clock is for")
    kind: BasisKind
    reason: str = ""
    rule: str | None = None
    label: str = ""
    days: int | None = None
    day0: date | None = None
    restarted: bool = False
    deadlines: list[DeadlineBasis] = Field(default_factory=list)
    rules_version: str = ""

    @property
    def first_due(self) -> date | None:
        return self.deadlines[0].due if self.deadlines else None


class Deadline(BaseModel):
    """One report owed: its rule, due date and the submission that met it (if any)."""

    rule: str
    label: str
    due: date
    unconfirmed: bool = Field(description="the rule is not checked against its primary text")
    submitted_at: datetime | None = None
    on_time: bool | None = None


class ReportingClock(BaseModel):
    case_id: str
    version: str = Field(description="C.1.5 of the version the clock is for")
    status: ClockStatus
    rule: str | None = Field(None, description="id of the rule that gives the clock (rules of rules_version)")
    days: int | None = Field(None, description="calendar days from day 0 to the first report (7, 15 or 90)")
    day0: date | None = None
    due: date | None = Field(None, description="due date of the first open deadline (of the last when all are met)")
    days_left: int | None = Field(None, description="negative when overdue")
    restarted: bool = Field(False, description="day 0 is a follow-up's receipt")
    submitted_at: datetime | None = None
    on_time: bool | None = None
    ack_code: str | None = None
    unconfirmed: bool = Field(False, description="a deadline of this clock comes from an UNCONFIRMED rule")
    deadlines: list[Deadline] = Field(default_factory=list)
    rules_version: str = ""
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


def _unconfirmed(text: str, confirmed: bool) -> str:
    return text if confirmed else f"{text} (UNCONFIRMED)"


def clock_basis(history: CaseHistory, assessment: CaseAssessment, rules: ClockRules | None = None) -> ClockBasis:
    """The rule, day 0 and deadlines of the current version of ``history`` (no submissions, no day)."""
    rules = rules or load_clock_rules()
    current = history.current
    last = history.versions[-1].case if history.versions else None
    version = (last.most_recent if last is not None and isinstance(last.most_recent, str) else "") or ""
    if history.nullified or current is None:
        return ClockBasis(
            case_id=history.case_id, version=version, kind="nullified", reason="nullified", rules_version=rules.version
        )
    version = current.most_recent if isinstance(current.most_recent, str) else ""
    base = {"case_id": history.case_id, "version": version, "rules_version": rules.version}
    facts = {
        "serious": assessment.serious,
        "unexpected_serious": assessment.unexpected_serious,
        "fatal_or_life_threatening": assessment.fatal_or_life_threatening,
        "study": assessment.study,
        "eea": rules.in_eea(assessment.countries),
    }
    rule = rules.rule_for(facts)
    if rule is None:
        if not assessment.serious:
            why = "no serious reaction"
        elif not assessment.unexpected_serious:
            why = "every serious reaction is expected"
        else:  # a deployment's rules that leave a serious unexpected case out
            why = "no reporting rule applies"
        return ClockBasis(**base, kind="not expedited", reason=why)
    label = _unconfirmed(rule.label, rule.confirmed)
    head = {**base, "rule": rule.id, "label": label, "days": rule.days}
    live = [v.case for v in history.versions if v.kind != "nullification"]
    valid = [c for c in live if not minimum_criteria_missing(c)]
    if not valid:
        missing = ", ".join(minimum_criteria_missing(current))
        return ClockBasis(**head, kind="incomplete", reason=f"minimum criteria missing: {missing}")
    first = valid[0]
    restarted = current is not first and current in valid
    day0 = _day(current.most_recent) if restarted else (_day(first.first_received) or _day(first.most_recent))
    if day0 is None:
        return ClockBasis(**head, kind="incomplete", reason="day 0 (C.1.4 / C.1.5) is not a full date")
    due = day0 + timedelta(days=rule.days)
    deadlines = [DeadlineBasis(rule=rule.id, label=label, due=due, confirmed=rule.confirmed)]
    if rule.follow_up is not None:
        fu = rule.follow_up
        deadlines.append(
            DeadlineBasis(
                rule=fu.id,
                label=_unconfirmed(fu.label, fu.confirmed),
                due=due + timedelta(days=fu.days),
                confirmed=fu.confirmed,
            )
        )
    return ClockBasis(**head, kind="clock", day0=day0, restarted=restarted, deadlines=deadlines)


def clock_on(basis: ClockBasis, submissions: list[Submission], today: date) -> ReportingClock:
    """The clock of ``basis`` on ``today`` given the case's ``submissions``."""
    common = {
        "case_id": basis.case_id,
        "version": basis.version,
        "rule": basis.rule,
        "days": basis.days,
        "rules_version": basis.rules_version,
    }
    if basis.kind != "clock":
        status: ClockStatus = basis.kind
        return ReportingClock(**common, status=status, reason=basis.reason)
    ok = sorted((s for s in submissions if s.ack_code != "CR"), key=lambda s: s.submitted_at)
    initial = next((s for s in ok if s.version == basis.version), None)
    met: list[Submission | None] = [initial]
    for _ in basis.deadlines[1:]:
        prev = met[-1]
        met.append(next((s for s in ok if prev is not None and s.submitted_at > prev.submitted_at), None))
    deadlines = [
        Deadline(
            rule=d.rule,
            label=d.label,
            due=d.due,
            unconfirmed=not d.confirmed,
            submitted_at=s.submitted_at if s is not None else None,
            on_time=s.submitted_at.date() <= d.due if s is not None else None,
        )
        for d, s in zip(basis.deadlines, met, strict=True)
    ]
    more: dict[str, Any] = {
        "day0": basis.day0,
        "restarted": basis.restarted,
        "unconfirmed": any(d.unconfirmed for d in deadlines),
        "deadlines": deadlines,
    }
    if initial is not None:
        more |= {
            "submitted_at": initial.submitted_at,
            "on_time": initial.submitted_at.date() <= basis.deadlines[0].due,
            "ack_code": initial.ack_code,
        }
    sent_note = f"; sent to {initial.receiver} in batch {initial.batch_id}" if initial is not None else ""
    open_ = next((d for d in deadlines if d.submitted_at is None), None)
    if open_ is None:
        return ReportingClock(
            **common, **more, status="submitted", due=deadlines[-1].due, reason=basis.label + sent_note
        )
    left = (open_.due - today).days
    rejected = any(s.version == basis.version and s.ack_code == "CR" for s in submissions)
    reason = basis.label + sent_note
    if open_ is not deadlines[0]:
        reason += f"; {open_.label} due {open_.due.isoformat()}"
    if rejected:
        reason += "; the submission was rejected (CR)"
    return ReportingClock(
        **common,
        **more,
        status="due" if left >= 0 else "overdue",
        due=open_.due,
        days_left=left,
        reason=reason,
    )


def reporting_clock(
    history: CaseHistory,
    assessment: CaseAssessment,
    submissions: list[Submission],
    today: date,
    rules: ClockRules | None = None,
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
    >>> c.status, c.days, c.due.isoformat(), c.days_left, c.rule
    ('overdue', 15, '2026-11-16', -4, 'EXPEDITED-15')
    """
    return clock_on(clock_basis(history, assessment, rules), submissions, today)
