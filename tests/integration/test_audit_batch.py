"""The group commit of read audit entries (issue 10, latency): concurrent reads are each audited
before they return, in one chain that verifies, with the request's client address; a read in a
transaction that wrote keeps its entry in that transaction (on SQLite a second writer would
wait for the first's lock)."""

from __future__ import annotations

import itertools
import threading
from datetime import date

from sqlalchemy import func, select

from cgtvigil.audit import audit_context, verify_audit
from cgtvigil.monitoring import register_patient
from cgtvigil.store import AuditRow, PatientRow, Scope, load_products, operational_engine, session_factory
from cgtvigil.web._render import audit_read

SCOPE = Scope(actor="inv.a", sites=frozenset({"A"}))


def test_concurrent_reads_are_each_audited_in_one_intact_chain(operational_url: str) -> None:
    engine = operational_engine(operational_url)
    sessions = session_factory(engine)
    returned: list[int] = []

    def read(k: int) -> None:
        with audit_context(client=f"10.0.0.{k}", agent="test"), sessions() as s:
            s.scalar(select(func.count()).select_from(AuditRow))  # a read: nothing written
            audit_read(s, SCOPE, "patient.read", f"patient:P-{k}")
            with sessions() as check:  # committed before audit_read returned
                assert check.scalar(select(AuditRow.id).where(AuditRow.target == f"patient:P-{k}")) is not None
            returned.append(k)

    threads = [threading.Thread(target=read, args=(k,)) for k in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with sessions() as s:
        rows = s.scalars(select(AuditRow).order_by(AuditRow.id)).all()
        report = verify_audit(s)
    engine.dispose()
    assert sorted(returned) == list(range(24))
    assert report.ok and report.entries == 24, report.problems
    assert {r.target: r.detail["client"] for r in rows} == {f"patient:P-{k}": f"10.0.0.{k}" for k in range(24)}


def test_a_read_in_a_transaction_that_wrote_is_audited_with_the_change(operational_url: str) -> None:
    engine = operational_engine(operational_url)
    sessions = session_factory(engine)
    with sessions() as s:
        register_patient(s, load_products(), patient="P-1", site="A", product="kymriah", infusion_date=date(2026, 1, 2))
        s.flush()  # the change is flushed, not committed
        audit_read(s, SCOPE, "alert.acknowledge", "alert:1")  # commits both
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(AuditRow).where(AuditRow.action == "alert.acknowledge")) == 1
        assert s.get(PatientRow, "P-1") is not None and verify_audit(s).ok
    engine.dispose()


def test_a_batch_of_entries_links_into_the_chain_between_single_appends(operational_url: str) -> None:
    from datetime import UTC, datetime

    from cgtvigil.audit import append_audit
    from cgtvigil.audit._chain import append_audit_entries

    at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    engine = operational_engine(operational_url)
    sessions = session_factory(engine)
    with sessions() as s:
        first = s.scalar(select(func.coalesce(func.max(AuditRow.id), 0)))
        append_audit(s, actor="a", action="one", target="t:1", at=at)
        batch = [{"actor": "b", "action": "batch", "target": f"t:{k}", "at": at, "detail": {"k": k}} for k in (2, 3, 4)]
        append_audit_entries(s, batch)
        append_audit(s, actor="c", action="five", target="t:5", at=at)
        s.commit()
        rows = s.scalars(select(AuditRow).where(AuditRow.id > first).order_by(AuditRow.id)).all()
        report = verify_audit(s)
    engine.dispose()
    assert [r.target for r in rows] == [f"t:{k}" for k in range(1, 6)]
    assert [r.id for r in rows] == list(range(first + 1, first + 6))
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(rows))
    assert report.ok, report.problems
