"""Audit chain verification (edited, deleted, truncated entries) and users, roles, log-in
throttling and scope, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.exc import SQLAlchemyError

from cgtvigil.access import authenticate, create_user, scope_for
from cgtvigil.audit import append_audit, export_anchor, verify_audit
from cgtvigil.errors import ValidationError
from cgtvigil.store import AuditRow, PatientRow, TreatmentRow, operational_engine, patient_condition, session_factory

T0 = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def session(operational_url: str):  # type: ignore[no-untyped-def]
    engine = operational_engine(operational_url)
    with session_factory(engine)() as s:
        yield s
    engine.dispose()


def _entries(session, n: int) -> None:  # type: ignore[no-untyped-def]
    for i in range(n):
        append_audit(
            session,
            actor="dr.ben",
            action="patient.read",
            target=f"patient:P-{i}",
            at=T0 + timedelta(minutes=i),
            detail={"page": "monitoring"},
        )
    session.commit()


def test_intact_chain_verifies(session) -> None:  # type: ignore[no-untyped-def]
    _entries(session, 5)
    anchor = export_anchor(session)
    assert anchor.count == 5 and anchor.head_id == 5
    report = verify_audit(session, anchor)
    assert report.ok and report.entries == 5 and report.problems == []


def test_edit_delete_and_truncation_are_detected(session) -> None:  # type: ignore[no-untyped-def]
    _entries(session, 6)
    anchor = export_anchor(session)
    session.execute(update(AuditRow).where(AuditRow.id == 2).values(target="patient:SOMEONE-ELSE"))
    session.execute(delete(AuditRow).where(AuditRow.id == 4))
    session.commit()
    problems = verify_audit(session, anchor).problems
    assert "entry 2: its content does not match its hash (edited, or another audit key)" in problems
    assert (
        "entries 4-4 are missing (deleted)" in problems
        and "entry 5: its link to the previous entry is broken" in problems
    )
    session.execute(delete(AuditRow).where(AuditRow.id >= 5))
    session.commit()
    truncated = verify_audit(session, anchor)
    assert not truncated.ok and "the anchored head entry 6 is missing (truncated)" in truncated.problems
    # entries 4-6 are now the lost tail: only the anchor reveals them
    assert verify_audit(session).problems == [
        "entry 2: its content does not match its hash (edited, or another audit key)"
    ]


def test_users_roles_throttling_and_scope(session) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as info:
        create_user(session, username="X", password="short", role="superuser", at=T0)
    assert len(info.value.problems) == 3
    session.add_all([PatientRow(id="P-1", site="A"), PatientRow(id="P-2", site="B")])
    session.flush()
    sci = create_user(
        session,
        username="sci.kite",
        password="correct horse battery",
        role="safety_scientist",
        at=T0,
        sponsor_products=("yescarta", "tecartus"),
    )
    inv = create_user(
        session, username="inv.a", password="correct horse battery", role="site_investigator", at=T0, site="A"
    )
    reg = create_user(session, username="reg.ema", password="correct horse battery", role="regulator_reviewer", at=T0)
    pat = create_user(
        session, username="pt.001", password="correct horse battery", role="patient", at=T0, patient_id="P-1"
    )
    t1 = [TreatmentRow(patient_id="P-1", product_id="kymriah", infusion_date=date(2026, 1, 1))]
    t2 = [TreatmentRow(patient_id="P-2", product_id="yescarta", infusion_date=date(2026, 1, 1))]
    session.add_all(t1 + t2)
    session.flush()

    def sees(user, pid: str) -> bool:  # type: ignore[no-untyped-def]
        query = select(PatientRow.id).where(PatientRow.id == pid, patient_condition(scope_for(user), PatientRow.id))
        return session.scalar(query) is not None

    assert [sees(u, "P-1") for u in (sci, inv, reg, pat)] == [False, True, False, True]
    assert [sees(u, "P-2") for u in (sci, inv, reg, pat)] == [True, False, False, False]
    assert authenticate(session, "inv.a", "correct horse battery", T0).user is inv
    for k in range(5):
        assert authenticate(session, "inv.a", "wrong", T0 + timedelta(seconds=k)).user is None
    # the fifth failure delays the next attempt by 2 s: even the right password waits, then works
    slowed = authenticate(session, "inv.a", "correct horse battery", T0 + timedelta(seconds=5))
    assert (slowed.user, slowed.outcome, slowed.wait_seconds) == (None, "throttled", 1)
    assert authenticate(session, "inv.a", "correct horse battery", T0 + timedelta(seconds=7)).user is inv
    session.commit()
    rows = session.query(AuditRow).filter(AuditRow.action == "login").order_by(AuditRow.id).all()
    assert [r.detail["outcome"] for r in rows] == ["success"] + ["wrong password"] * 5 + ["throttled", "success"]
    # a failure is never written with the targeted user as its actor
    assert [r.actor for r in rows] == ["inv.a"] + ["anonymous"] * 6 + ["inv.a"]
    assert verify_audit(session).ok


def test_concurrent_appends_keep_one_chain(operational_url: str) -> None:
    """Eight threads appending 15 entries each, plus a transaction closed without commit:
    one unbroken chain of 120 entries (the audit lock is held until each transaction ends)."""
    import threading

    engine = operational_engine(operational_url)
    sessions = session_factory(engine)
    abandoned = sessions()
    append_audit(abandoned, actor="a", action="x", target="t", at=T0)
    abandoned.close()  # rolled back: releases the chain
    errors: list[Exception] = []

    def writer(k: int) -> None:
        try:
            for i in range(15):
                with sessions() as s:
                    append_audit(s, actor=f"user{k}", action="patient.read", target=f"patient:{i}", at=T0)
                    s.commit()
        except (SQLAlchemyError, TimeoutError) as exc:  # collected and asserted below, in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with sessions() as s:
        report = verify_audit(s)
    assert report.ok and report.entries == 120
    engine.dispose()
