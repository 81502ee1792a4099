"""The reporting clock's rules as versioned data (issue 13; domain.md §8.2): each due date the
shipped CLOCK rules give, with UNCONFIRMED rules labelled in the clock's output.

- SUSAR-7: a fatal or life-threatening serious unexpected study case: the 7-day report on day 7,
  then the complete report 8 days later, on day 15 (the +8 days UNCONFIRMED);
- EXPEDITED-15: another serious unexpected case: day 15;
- EU-SERIOUS-15: a serious postmarketing case occurring in the EEA, expected or not: day 15;
- EU-NONSERIOUS-90: a non-serious postmarketing case occurring in the EEA: day 90 (UNCONFIRMED);
- a non-serious case elsewhere, or a non-serious study case: no report due."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from cgtvigil.cases import (
    Reference,
    Submission,
    assess_case,
    clock_basis,
    clock_on,
    load_clock_rules,
    reporting_clock,
)
from cgtvigil.errors import ValidationError
from cgtvigil.model import CaseHistory, Code, Drug, IcsrCase, Patient, PrimarySource, Quantity, Reaction
from cgtvigil.store import load_products, load_safety_info, load_topics

DAY0 = date(2026, 11, 1)


@pytest.fixture(scope="module")
def reference() -> Reference:
    topics = load_topics()
    return Reference(products=load_products(), rsi=load_safety_info(topics=topics), topics=topics)


def _case(*, study: bool = False, event: str = "Alopecia", country: str | None = None, **flags: bool) -> IcsrCase:
    return IcsrCase(
        safety_report_id="R-1",
        report_type=Code(code="2" if study else "1"),
        first_received="20261101",
        most_recent="20261101",
        primary_sources=(PrimarySource(),),
        patient=Patient(age=Quantity(value="40", unit="a")),
        drugs=(Drug(role=Code(code="1"), name="KYMRIAH"),),
        reactions=(Reaction(as_reported=event, country=Code(code=country) if country else None, **flags),),
    )


def _clock(reference: Reference, case: IcsrCase, subs: list[Submission] | None = None, today: date = DAY0):  # type: ignore[no-untyped-def]
    h = CaseHistory(case_id=case.case_id).add(case)
    return reporting_clock(h, assess_case(case, reference), subs or [], today)


def _sent(day: int, code: str | None = "CA") -> Submission:
    return Submission(
        version="20261101",
        receiver="ZZFDA",
        batch_id=f"B{day}",
        submitted_at=datetime(2026, 11, day, 12, tzinfo=UTC),
        ack_code=code,
    )


def test_susar_seven_days_then_the_complete_report_on_day_15(reference: Reference) -> None:
    c = _clock(reference, _case(study=True, death=True), today=date(2026, 11, 5))
    assert (c.rule, c.days, c.status, c.due, c.days_left) == ("SUSAR-7", 7, "due", date(2026, 11, 8), 3)
    assert [(d.rule, d.due, d.unconfirmed) for d in c.deadlines] == [
        ("SUSAR-7", date(2026, 11, 8), False),
        ("SUSAR-7-FU8", date(2026, 11, 16), True),  # 7 + 8 = day 15
    ]
    assert c.unconfirmed and c.rules_version == "CLOCK-2026.1"
    # the 7-day report sent on day 6: the complete report is now what is due, on day 15
    c = _clock(reference, _case(study=True, life_threatening=True), [_sent(7)], today=date(2026, 11, 10))
    assert (c.status, c.due, c.days_left) == ("due", date(2026, 11, 16), 6)
    assert c.deadlines[0].on_time is True and c.deadlines[1].submitted_at is None
    assert "UNCONFIRMED" in c.reason and "2026-11-16" in c.reason
    late = _clock(reference, _case(study=True, death=True), [_sent(7)], today=date(2026, 11, 20))
    assert (late.status, late.days_left) == ("overdue", -4)
    # both reports sent: submitted; a rejected (CR) follow-up does not count
    done = _clock(reference, _case(study=True, death=True), [_sent(7), _sent(14)], today=date(2026, 11, 20))
    assert done.status == "submitted" and [d.on_time for d in done.deadlines] == [True, True]
    rej = _clock(reference, _case(study=True, death=True), [_sent(7), _sent(14, "CR")], today=date(2026, 11, 20))
    assert rej.status == "overdue" and rej.due == date(2026, 11, 16)
    # the 7-day report itself missed: overdue on day 8 and after
    assert _clock(reference, _case(study=True, death=True), today=date(2026, 11, 9)).status == "overdue"


def test_fifteen_days_for_other_serious_unexpected_cases(reference: Reference) -> None:
    for case in (_case(hospitalisation=True), _case(study=True, hospitalisation=True), _case(death=True)):
        c = _clock(reference, case)
        assert (c.rule, c.due, len(c.deadlines), c.unconfirmed) == ("EXPEDITED-15", date(2026, 11, 16), 1, False)


def test_eu_serious_fifteen_days_expected_or_not(reference: Reference) -> None:
    expected = _case(event="Cytokine release syndrome", hospitalisation=True, country="DE")
    c = _clock(reference, expected)
    assert (c.rule, c.status, c.due) == ("EU-SERIOUS-15", "due", date(2026, 11, 16))
    # outside the EEA an expected serious case needs no expedited report
    assert _clock(reference, _case(event="Cytokine release syndrome", hospitalisation=True, country="US")).status == (
        "not expedited"
    )


def test_eu_non_serious_ninety_days(reference: Reference) -> None:
    c = _clock(reference, _case(country="FR"), today=date(2026, 12, 2))
    assert (c.rule, c.days, c.status, c.due) == ("EU-NONSERIOUS-90", 90, "due", date(2027, 1, 30))
    assert c.unconfirmed and "UNCONFIRMED" in c.reason
    assert _clock(reference, _case(country="FR"), today=date(2027, 1, 31)).status == "overdue"
    sent = _clock(reference, _case(country="FR"), [_sent(20)], today=date(2027, 1, 31))
    assert sent.status == "submitted" and sent.on_time
    # the reporter's country counts when the reaction's (E.i.9) is absent
    reporter = _case().model_copy(
        update={"primary_sources": (PrimarySource.model_validate({"person": {"country": {"code": "NO"}}}),)}
    )
    assert _clock(reference, reporter).rule == "EU-NONSERIOUS-90"
    # non-serious elsewhere, or from a study: nothing due
    assert _clock(reference, _case(country="US")).status == "not expedited"
    assert _clock(reference, _case(study=True, country="FR")).status == "not expedited"
    assert _clock(reference, _case()).status == "not expedited"


def test_basis_and_day_agree_with_the_whole_clock(reference: Reference) -> None:
    case = _case(study=True, death=True)
    h = CaseHistory(case_id=case.case_id).add(case)
    basis = clock_basis(h, assess_case(case, reference))
    again = type(basis).model_validate_json(basis.model_dump_json())  # stored as JSON at add time
    for subs in ([], [_sent(7)], [_sent(7), _sent(14)]):
        assert clock_on(again, subs, date(2026, 11, 12)) == _clock(reference, case, subs, date(2026, 11, 12))


def test_a_deployments_rules(tmp_path: Path, reference: Reference) -> None:
    shipped = json.loads(load_clock_rules().model_dump_json())
    shipped["version"] = "LOCAL-1"
    shipped["rules"][1]["days"] = 10
    f = tmp_path / "rules.json"
    f.write_text(json.dumps(shipped))
    rules = load_clock_rules(f)
    case = _case(hospitalisation=True)
    c = reporting_clock(CaseHistory(case_id="R-1").add(case), assess_case(case, reference), [], DAY0, rules)
    assert (c.rule, c.due, c.rules_version) == ("EXPEDITED-15", date(2026, 11, 11), "LOCAL-1")
    shipped["rules"][1]["id"] = "SUSAR-7"
    shipped["rules"][0]["days"] = 0
    f.write_text(json.dumps(shipped))
    with pytest.raises(ValidationError) as exc:
        load_clock_rules(f)
    assert str(f) in str(exc.value) and "rules.0.days" in str(exc.value)
