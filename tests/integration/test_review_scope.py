"""Scope regressions found in the review of the case, risk and signal workflows (session 3):
each test names what leaked or broke before its fix."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from cgtvigil.cases import Reference, case_detail
from cgtvigil.model import Code, Drug, IcsrCase, Patient, PrimarySource, Quantity, Reaction
from cgtvigil.store import (
    CaseMatchRow,
    CaseStore,
    Scope,
    StoredReport,
    load_products,
    load_safety_info,
    load_topics,
    operational_engine,
    session_factory,
)

TODAY = date(2026, 12, 2)
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def _case(rid: str, drug: str) -> IcsrCase:
    return IcsrCase(
        safety_report_id=rid,
        report_type=Code(code="1"),
        first_received="20261101",
        most_recent="20261101",
        primary_sources=(PrimarySource(),),
        patient=Patient(age=Quantity(value="40", unit="a"), sex=Code(code="1")),
        drugs=(Drug(role=Code(code="1"), name=drug),),
        reactions=(Reaction(as_reported="Alopecia", start="20261028"),),
    )


@pytest.fixture
def session(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = operational_engine(f"sqlite:///{tmp_path / 'op.db'}")
    with session_factory(engine)() as s:
        yield s
    engine.dispose()


def test_case_page_hides_duplicate_candidates_outside_the_scope(tmp_path: Path, session: Session) -> None:
    """A Kymriah sponsor's case page listed a duplicate candidate naming a Yescarta case (its id,
    source and agreeing fields): another sponsor's case, which the scope does not let it read."""
    topics = load_topics()
    reference = Reference(products=load_products(), rsi=load_safety_info(topics=topics), topics=topics)
    db = tmp_path / "cases.duckdb"
    own, theirs, also_own = _case("US-K1", "KYMRIAH"), _case("US-Y1", "YESCARTA"), _case("US-K2", "KYMRIAH")
    with CaseStore(db) as store:
        store.add(
            [
                StoredReport(c, "e2b", f"{c.safety_report_id}.xml", c.safety_report_id.ljust(64, "0"), "/", "test")
                for c in (own, theirs, also_own)
            ],
            [],
        )
    for other in (theirs, also_own):
        session.add(
            CaseMatchRow(
                case_a=own.case_id,
                source_a="e2b",
                case_b=other.case_id,
                source_b="e2b",
                method="probabilistic",
                score=0.9,
                fields={"reactions": "agree"},
                status="proposed",
                found_at=NOW.replace(tzinfo=None),
            )
        )
    session.commit()
    sponsor = Scope(actor="sci", products=frozenset({"kymriah"}), cases=frozenset({"kymriah"}))
    seen = case_detail(db, session, sponsor, reference, own.case_id, today=TODAY, now=NOW)
    assert [d.other_case for d in seen.duplicates] == [also_own.case_id]
    admin = Scope(actor="adm", all_patients=True, cases=frozenset())
    seen = case_detail(db, session, admin, reference, own.case_id, today=TODAY, now=NOW)
    assert sorted(d.other_case for d in seen.duplicates) == sorted([theirs.case_id, also_own.case_id])


def test_indicators_leave_out_patients_who_withdrew_data_sharing(operational_url: str) -> None:
    """The register's effectiveness indicators counted a patient whose data-sharing consent was
    withdrawn for the sponsor and the regulator (retention and the sponsor's patient pages leave
    such patients out); the administrator's view keeps every patient."""
    from cgtvigil.access import scope_for
    from cgtvigil.followup import plan_patient
    from cgtvigil.ingest import IntakeResult
    from cgtvigil.model import Observation
    from cgtvigil.monitoring import register_patient, store_observations
    from cgtvigil.risk_management import register_indicators
    from cgtvigil.store import ConsentStateRow, UserRow, load_ltfu_rules

    engine = operational_engine(operational_url)
    products = load_products()
    day = date(2026, 4, 6)
    scopes = {
        "admin": scope_for(UserRow(username="adm", role="administrator")),
        "sponsor": scope_for(UserRow(username="sci", role="safety_scientist", sponsor_products=["kymriah"])),
    }
    with session_factory(engine)() as s:
        for k in range(6):
            register_patient(s, products, patient=f"C-{k}", site="A", product="kymriah", infusion_date=day)
        at = datetime(2026, 4, 8, 9, tzinfo=UTC)
        grades = [Observation(patient="C-0", kind="crs_grade", value=3.0, unit="{grade}", time=at, source="fhir")]
        store_observations(s, IntakeResult(grades), NOW)
        register_patient(s, products, patient="L-1", site="A", product="kymriah", infusion_date=date(2023, 11, 1))
        plan_patient(s, "L-1", products, load_ltfu_rules(), datetime(2023, 11, 1, tzinfo=UTC))
        for pid in ("C-0", "L-1"):
            s.add(ConsentStateRow(patient_id=pid, use="data_sharing", state="withdrawn", since=date(2026, 6, 1)))
        s.commit()

        def crs(who: str) -> tuple[int | None, int | None]:
            found = register_indicators(s, scopes[who], products, "kymriah", NOW)
            m = next(m for m in found if m.measure_key == "bw_crs_neuro")
            overall = next(x for x in m.indicators if x.indicator == "severe_crs_rate").overall
            assert overall is not None
            return overall.numerator, overall.denominator

        def ltfu(who: str) -> str:
            found = register_indicators(s, scopes[who], products, "kymriah", NOW)
            m = next(m for m in found if m.measure_key == "pmr_ltfu")
            return next(x for x in m.indicators if x.indicator == "ltfu_visit_completion").status

        assert crs("admin") == (1, 7)
        assert crs("sponsor") == (0, 5)
        assert ltfu("admin") == "computed" and ltfu("sponsor") == "no data"
    engine.dispose()
