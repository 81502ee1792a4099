"""Long-term follow-up (issue 12) on SQLite and PostgreSQL: plans from the product flags and
the shipped rule set, re-planning under a new rule version, recording visits and yearly forms,
the new-malignancy work-up into the case store, the work list, consent enforcement through the
scope (withdrawal, majority without re-consent, re-consent), transfers between sites, and
date edge cases (leap-day infusion, partial birth dates, a move of jurisdiction mid-plan)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError as PydanticError
from sqlalchemy import select
from sqlalchemy.orm import Session

from cgtvigil.access import Scope, scope_for
from cgtvigil.errors import NotFoundError, ValidationError
from cgtvigil.followup import (
    YearlyForm,
    file_pending_cases,
    plan_patient,
    record_consent,
    record_tissue_result,
    record_visit,
    timeline,
    transfer_patient,
    transition_status,
    transition_sweep,
    worklist,
)
from cgtvigil.monitoring import (
    MonitoringRules,
    act_on_alert,
    alert_views,
    patient_summary,
    raise_alert,
    register_patient,
)
from cgtvigil.store import (
    CaseStore,
    LtfuTaskRow,
    LtfuVisitRow,
    UserRow,
    load_jurisdictions,
    load_ltfu_rules,
    load_products,
    operational_engine,
    session_factory,
)

PRODUCTS = load_products()
RULES = load_ltfu_rules()
AGES = load_jurisdictions()
ADMIN = scope_for(UserRow(username="adm", role="administrator"))
SITE_A = scope_for(UserRow(username="inv", role="site_investigator", site="A"))
SITE_B = scope_for(UserRow(username="invb", role="site_investigator", site="B"))
SPONSOR = scope_for(UserRow(username="sci", role="safety_scientist", sponsor_products=["skysona", "zolgensma"]))


@pytest.fixture
def session(operational_url: str):  # type: ignore[no-untyped-def]
    engine = operational_engine(operational_url)
    with session_factory(engine)() as s:
        yield s
    engine.dispose()


def _register(s: Session, pid: str, product: str, infusion: date, **extra: object) -> None:
    register_patient(
        s, PRODUCTS, patient=pid, site=str(extra.pop("site", "A")), product=product, infusion_date=infusion, **extra
    )  # type: ignore[arg-type]


def _at(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, 12, tzinfo=UTC)


def test_plans_from_product_flags_and_replan_keeps_past_visits(session: Session) -> None:
    """Skysona (integrating LVV HSC): 15 yearly visits (5 examinations, 10 contacts), with
    integration-site analysis at months 6 and 12 then yearly and CBC every 6 months; an AAV
    product: 5 years, marked UNCONFIRMED; a TIL product: no LTFU rule, no plan. Infused on
    29 February 2024: the yearly visit falls on 28 February in common years."""
    _register(session, "P-1", "skysona", date(2024, 2, 29))
    _register(session, "P-2", "zolgensma", date(2024, 3, 1))
    _register(session, "P-3", "amtagvi", date(2024, 3, 1))
    now = _at(date(2024, 3, 2))
    sky = plan_patient(session, "P-1", PRODUCTS, RULES, now)
    aav = plan_patient(session, "P-2", PRODUCTS, RULES, now)
    til = plan_patient(session, "P-3", PRODUCTS, RULES, now)
    assert sky.plan is not None and sky.plan.years == 15 and not sky.plan.unconfirmed
    assert aav.plan is not None and aav.plan.years == 5 and aav.plan.unconfirmed  # AAV 5 years: UNCONFIRMED
    assert til.plan is None and til.added == 0
    visits = {v.key: v for v in session.scalars(select(LtfuVisitRow).where(LtfuVisitRow.patient_id == "P-1"))}
    assert visits["examination-y1"].due == date(2025, 2, 28)  # leap-day infusion, common-year anniversary
    assert visits["examination-y4"].due == date(2028, 2, 29)
    assert visits["contact-y6"].kind == "contact" and "contact-y15" in visits and "examination-y6" not in visits
    isa = sorted(v.due for v in visits.values() if v.kind == "integration_site_analysis")
    assert isa[:3] == [date(2024, 8, 29), date(2025, 2, 28), date(2026, 2, 28)]  # twice in year 1, then yearly
    assert sum(v.kind == "cbc" for v in visits.values()) == 30  # every 6 months for 15 years
    # year 1 done; then a new rule version two years later: past visits keep their version
    record_visit(
        session,
        SITE_A,
        PRODUCTS,
        visits["examination-y1"].id,
        done_on=date(2025, 3, 1),
        contact="visit",
        now=_at(date(2025, 3, 1)),
    )
    newer = RULES.model_copy(update={"version": "LTFU-RULES-TEST.2", "window_after_days": 90})
    again = plan_patient(session, "P-1", PRODUCTS, newer, _at(date(2026, 1, 1)))
    assert again.replaced > 0 and again.added == again.replaced
    rows = list(session.scalars(select(LtfuVisitRow).where(LtfuVisitRow.patient_id == "P-1")))
    live = {v.key: v for v in rows if v.state != "replaced"}
    assert live["examination-y1"].rule_version == RULES.version and live["examination-y1"].state == "done"
    assert live["examination-y3"].rule_version == "LTFU-RULES-TEST.2"
    assert live["examination-y3"].closes == date(2027, 2, 28) + timedelta(days=90)
    assert {v.rule_version for v in rows if v.state == "replaced"} == {RULES.version}


def test_malignancy_opens_tissue_work_up_and_a_safety_case(session: Session, tmp_path: Path) -> None:
    _register(session, "P-1", "skysona", date(2020, 1, 15), sex="M", lot="LOT-7")
    plan_patient(session, "P-1", PRODUCTS, RULES, _at(date(2020, 1, 16)))
    y3 = session.scalar(select(LtfuVisitRow).where(LtfuVisitRow.key == "examination-y3"))
    assert y3 is not None
    with pytest.raises(PydanticError, match="diagnosis"):
        YearlyForm(new_malignancy=True)
    form = YearlyForm(
        new_malignancy=True,
        malignancy_diagnosis="myelodysplastic syndrome",
        malignancy_date=date(2023, 1, 2),
        malignancy_haematologic=True,
    )
    done = record_visit(
        session,
        SITE_A,
        PRODUCTS,
        y3.id,
        done_on=date(2023, 1, 20),
        contact="visit",
        now=_at(date(2023, 1, 20)),
        form=form,
    )
    assert done.status == "done" and done.malignancy is not None and done.malignancy.tissue == "requested"
    record_tissue_result(session, SITE_A, done.malignancy.id, "positive", _at(date(2023, 3, 1)))
    with CaseStore(tmp_path / "cases.duckdb") as store:
        assert file_pending_cases(session, store) == 1
        case = store.current_cases()[0]
    assert case.case_id == done.malignancy.case_id
    assert case.drugs[0].name == "Skysona" and case.drugs[0].dosages[0].lot_number == "LOT-7"
    assert case.reactions[0].as_reported == "myelodysplastic syndrome" and case.patient.sex.code == "1"  # type: ignore[union-attr]
    assert "positive" in str(case.narrative)
    view = timeline(session, SITE_A, PRODUCTS, "P-1", _at(date(2023, 3, 2)))
    assert view.malignancies[0].filed and view.malignancies[0].tissue == "positive"
    with pytest.raises(NotFoundError):
        timeline(session, SITE_B, PRODUCTS, "P-1", _at(date(2023, 3, 2)))


def test_worklist_due_overdue_lost_and_death(session: Session) -> None:
    for pid, day0 in (("P-due", date(2023, 6, 5)), ("P-over", date(2023, 5, 20)), ("P-lost", date(2021, 1, 10))):
        _register(session, pid, "kymriah", day0)
        plan_patient(session, pid, PRODUCTS, RULES, _at(day0))
    today = date(2024, 6, 1)
    wl = worklist(session, SITE_A, RULES, _at(today))
    reasons = {(i.patient_id, i.reason) for i in wl.items}
    assert ("P-due", "due this week") in reasons  # due 2024-06-05
    assert ("P-over", "overdue") in reasons  # due 2024-05-20, window open 60 days
    assert ("P-lost", "lost to follow-up") in reasons  # years 1-3 missed
    assert worklist(session, SITE_B, RULES, _at(today)).items == []
    visit = session.scalar(select(LtfuVisitRow).where(LtfuVisitRow.patient_id == "P-over", LtfuVisitRow.year == 1))
    assert visit is not None
    record_visit(
        session,
        SITE_A,
        PRODUCTS,
        visit.id,
        done_on=today,
        contact="phone",
        now=_at(today),
        form=YearlyForm(death=True, death_date=date(2024, 5, 30), death_cause="progressive lymphoma"),
    )
    wl = worklist(session, SITE_A, RULES, _at(today))
    assert "P-over" not in {i.patient_id for i in wl.items}
    later = session.scalars(
        select(LtfuVisitRow.state).where(LtfuVisitRow.patient_id == "P-over", LtfuVisitRow.year > 1)
    )
    assert set(later) == {"not_required"}


def test_consent_withdrawal_majority_hold_and_reconsent(session: Session) -> None:
    """A child treated with Zolgensma in Alabama (majority 19, UNCONFIRMED), birth date known
    to the month only: the re-consent task is raised 90 days before the earliest possible 19th
    birthday; at majority the data-sharing consent the parents gave is held (the sponsor no
    longer sees the patient, safety follow-up goes on); the patient's own consent releases it.
    A withdrawal of data sharing hides the patient from the sponsor at once, a re-consent
    brings them back; every change goes through the one scope helper."""
    _register(
        session,
        "P-kid",
        "zolgensma",
        date(2008, 3, 1),
        birth_date=date(2007, 6, 1),
        birth_date_precision="month",
        jurisdiction="US-AL",
    )
    for use in ("safety_followup", "data_sharing"):
        record_consent(
            session,
            SITE_A,
            AGES,
            "P-kid",
            use=use,
            kind="permission",
            signer="parent",  # type: ignore[arg-type]
            form_version="ICF-3",
            signed_on=date(2008, 2, 1),
            now=_at(date(2008, 2, 1)),
        )
    plan_patient(session, "P-kid", PRODUCTS, RULES, _at(date(2008, 3, 2)))
    now = datetime.now(UTC)
    assert patient_summary(session, SPONSOR, PRODUCTS, "P-kid", now).id == "P-kid"
    record_consent(
        session,
        SITE_A,
        AGES,
        "P-kid",
        use="data_sharing",
        kind="permission",
        signer="parent",
        form_version="ICF-3",
        signed_on=date(2010, 1, 1),
        now=_at(date(2010, 1, 1)),
        withdrawn=True,
    )
    with pytest.raises(NotFoundError):
        patient_summary(session, SPONSOR, PRODUCTS, "P-kid", now)
    assert patient_summary(session, SITE_A, PRODUCTS, "P-kid", now).id == "P-kid"  # care team still sees them
    record_consent(
        session,
        SITE_A,
        AGES,
        "P-kid",
        use="data_sharing",
        kind="permission",
        signer="parent",
        form_version="ICF-4",
        signed_on=date(2011, 1, 1),
        now=_at(date(2011, 1, 1)),
    )
    assert patient_summary(session, SPONSOR, PRODUCTS, "P-kid", now).id == "P-kid"
    # 90 days before the earliest 19th birthday (1 June 2026): the task, no hold yet
    transition_sweep(session, AGES, _at(date(2026, 3, 5)))
    task = session.scalar(select(LtfuTaskRow).where(LtfuTaskRow.kind == "reconsent"))
    assert task is not None and task.due == date(2026, 6, 1) and task.approximate and task.status == "open"
    status = transition_status(session, SITE_A, AGES, "P-kid", _at(date(2026, 3, 5)))
    assert status.majority_age == 19 and "UNCONFIRMED" in status.ages_label and status.age == 18
    transition_sweep(session, AGES, _at(date(2026, 6, 2)))
    with pytest.raises(NotFoundError):
        patient_summary(session, SPONSOR, PRODUCTS, "P-kid", now)  # held: data sharing
    assert timeline(session, SITE_A, PRODUCTS, "P-kid", now).consent == {
        "safety_followup": "granted",
        "data_sharing": "held",
    }
    record_consent(
        session,
        SITE_A,
        AGES,
        "P-kid",
        use="data_sharing",
        kind="consent",
        signer="patient",
        form_version="ICF-adult-1",
        signed_on=date(2026, 6, 10),
        now=_at(date(2026, 6, 10)),
    )
    transition_sweep(session, AGES, _at(date(2026, 6, 11)))
    assert patient_summary(session, SPONSOR, PRODUCTS, "P-kid", now).id == "P-kid"
    assert session.scalar(select(LtfuTaskRow.status).where(LtfuTaskRow.kind == "reconsent")) == "done"
    # safety follow-up withdrawn: out of the work list for everyone but the record stays readable
    record_consent(
        session,
        SITE_A,
        AGES,
        "P-kid",
        use="safety_followup",
        kind="consent",
        signer="patient",
        form_version="ICF-adult-1",
        signed_on=date(2026, 7, 1),
        now=_at(date(2026, 7, 1)),
        withdrawn=True,
    )
    assert "P-kid" not in {i.patient_id for i in worklist(session, SITE_A, RULES, _at(date(2026, 7, 2))).items}


def test_transfer_moves_plan_and_sending_site_keeps_read_only_access(session: Session) -> None:
    """A 17-year-old moves from a paediatric site A in Alabama to an adult site B in Georgia
    (US: majority 18) mid-plan: the re-consent task moves to the earlier date; site B sees the
    plan and the alerts and may record visits and act on alerts; site A keeps read access only."""
    _register(session, "P-t", "lyfgenia", date(2020, 5, 1), birth_date=date(2008, 8, 15), jurisdiction="US-AL")
    plan_patient(session, "P-t", PRODUCTS, RULES, _at(date(2020, 5, 2)))
    transition_sweep(session, AGES, _at(date(2026, 6, 1)))  # 17 y: planning element etc.
    moved = transfer_patient(
        session,
        SITE_A,
        AGES,
        PRODUCTS,
        "P-t",
        to_site="B",
        moved_on=date(2026, 6, 1),
        now=_at(date(2026, 6, 1)),
        sending_access="read",
        to_jurisdiction="US-GA",
    )
    assert moved.row.summary["product"] == "lyfgenia" and moved.row.summary["outstanding_visits"] > 0
    reconsent = session.scalar(select(LtfuTaskRow).where(LtfuTaskRow.kind == "reconsent"))
    assert reconsent is not None and reconsent.due == date(2026, 8, 15)  # 18 in Georgia, not 19
    now = _at(date(2026, 6, 2))
    assert timeline(session, SITE_B, PRODUCTS, "P-t", now).read_only is False
    assert timeline(session, SITE_A, PRODUCTS, "P-t", now).read_only is True
    visit = session.scalar(select(LtfuVisitRow).where(LtfuVisitRow.patient_id == "P-t", LtfuVisitRow.year == 6))
    assert visit is not None
    with pytest.raises(NotFoundError):
        record_visit(session, SITE_A, PRODUCTS, visit.id, done_on=date(2026, 5, 1), contact="visit", now=now)
    assert {i.patient_id for i in worklist(session, SITE_B, RULES, _at(date(2026, 5, 1))).items} == {"P-t"}
    # the patient's alerts moved with them: site B sees and acts on them, site A only reads
    alert, _ = raise_alert(session, "P-t", "ltfu_test", "warning", "a late toxicity", now, MonitoringRules())
    assert [a.id for a in alert_views(session, SITE_A, now, patient_id="P-t")] == [alert.id]
    with pytest.raises(NotFoundError):
        act_on_alert(session, SITE_A, alert.id, "acknowledge", now)
    assert act_on_alert(session, SITE_B, alert.id, "acknowledge", now).status == "acknowledged"


def test_scope_of_followup_services(session: Session) -> None:
    """Every follow-up query service under every role: the patient's own account and a
    regulator have no work list; out-of-scope patients are NotFoundError."""
    from cgtvigil.errors import NotInScopeError

    _register(session, "P-A", "skysona", date(2024, 1, 1))
    _register(session, "P-B", "kymriah", date(2024, 1, 1), site="B")
    for pid in ("P-A", "P-B"):
        plan_patient(session, pid, PRODUCTS, RULES, _at(date(2024, 1, 2)))
    now = _at(date(2024, 12, 20))
    patient = scope_for(UserRow(username="pat", role="patient", patient_id="P-A"))
    reviewer = scope_for(UserRow(username="reg", role="regulator_reviewer"))
    sees = {
        ADMIN: {"P-A", "P-B"},
        SITE_A: {"P-A"},
        SITE_B: {"P-B"},
        SPONSOR: {"P-A"},
        patient: {"P-A"},
        reviewer: set(),
    }
    for scope, visible in sees.items():
        for pid in ("P-A", "P-B"):
            if pid in visible:
                assert timeline(session, scope, PRODUCTS, pid, now).patient_id == pid
                assert transition_status(session, scope, AGES, pid, now).patient_id == pid
            else:
                with pytest.raises(NotFoundError):
                    timeline(session, scope, PRODUCTS, pid, now)
        if scope in (patient, reviewer):
            with pytest.raises(NotInScopeError):
                worklist(session, scope, RULES, now)
        else:
            assert {i.patient_id for i in worklist(session, scope, RULES, now).items} <= visible
    assert isinstance(ADMIN, Scope)


def test_visit_dates_are_the_site_local_date(session: Session) -> None:
    """At 20:00 UTC on 1 March it is already 2 March in Auckland and still 1 March in Los
    Angeles: a visit done "today" at each site is accepted on its own local date only."""
    from cgtvigil.store import LtfuSiteRow

    session.add(LtfuSiteRow(site="A", country="NZ", timezone="Pacific/Auckland"))
    session.add(LtfuSiteRow(site="B", country="US", jurisdiction="US-CA", timezone="America/Los_Angeles"))
    _register(session, "P-nz", "kymriah", date(2024, 3, 2))
    _register(session, "P-la", "kymriah", date(2024, 3, 2), site="B")
    for pid in ("P-nz", "P-la"):
        plan_patient(session, pid, PRODUCTS, RULES, _at(date(2024, 3, 3)))
    now = datetime(2025, 3, 1, 20, 0, tzinfo=UTC)
    nz = session.scalar(select(LtfuVisitRow).where(LtfuVisitRow.patient_id == "P-nz", LtfuVisitRow.year == 1))
    la = session.scalar(select(LtfuVisitRow).where(LtfuVisitRow.patient_id == "P-la", LtfuVisitRow.year == 1))
    assert nz is not None and la is not None
    done = record_visit(session, SITE_A, PRODUCTS, nz.id, done_on=date(2025, 3, 2), contact="visit", now=now)
    assert done.status == "done" and timeline(session, SITE_A, PRODUCTS, "P-nz", now).site_today == date(2025, 3, 2)
    with pytest.raises(ValidationError, match=r"future \(it is 2025-03-01 at site B\)"):
        record_visit(session, SITE_B, PRODUCTS, la.id, done_on=date(2025, 3, 2), contact="visit", now=now)
