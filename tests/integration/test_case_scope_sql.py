"""The case list's scope, clock status, order and pages in SQL (issue 13) against the rule they
replace: the Python rule that read and assessed every case per request (kept here, verbatim in
substance, as the oracle). Table-driven over every demo user (``cgtvigil demo``) and a few more
scopes, on a seeded mix of cases: the FDA examples, CGT and other suspect drugs, five sources,
follow-ups, nullified cases, one case sent from two sources, submissions accepted, rejected and
unacknowledged. Both a store indexed at add time and one made without the index (read through
the reader's overlay, as a store from before the migration) must give the same lists; so must
a store whose index was backfilled by ``reindex``."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.orm import Session

from cgtvigil.access import scope_for
from cgtvigil.cases import (
    Reference,
    assess_case,
    case_detail,
    case_indexer,
    case_list,
    record_submissions,
    reporting_clock,
    submissions_by_case,
)
from cgtvigil.cli._demo import DEMO_USERS
from cgtvigil.errors import NotFoundError
from cgtvigil.ingest import read_e2b
from cgtvigil.model import Code, Drug, IcsrCase, Patient, PrimarySource, Quantity, Reaction
from cgtvigil.store import (
    CaseMatchRow,
    CaseStore,
    Scope,
    StoredReport,
    UserRow,
    load_products,
    load_safety_info,
    load_topics,
    operational_engine,
    session_factory,
)

TODAY = date(2026, 12, 2)
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
SOURCES = ("e2b", "e2b", "fhir", "openfda", "faers-xml")
DRUGS = ("KYMRIAH", "YESCARTA", "TECARTUS", "ASPIRIN", "CARVYKTI")
EVENTS = ("Alopecia", "Cytokine release syndrome", "Pyrexia", "Neutropenia")
ORDER = {"overdue": 0, "due": 1, "incomplete": 2, "submitted": 3, "not expedited": 4, "nullified": 5}


def old_case_visible(scope: Scope, product_ids: set[str], source: str, submitted: bool) -> bool:
    """The rule of ``store.case_visible`` before the change (the oracle)."""
    if scope.cases is not None and (not scope.cases or product_ids & scope.cases):
        return True
    return scope.public_cases and (source in {"openfda", "faers-xml"} or submitted)


def _case(rng: np.random.Generator, i: int) -> IcsrCase:
    day = 1 + int(rng.integers(0, 28))
    flags = {k: True for k in ("death", "hospitalisation", "life_threatening") if rng.random() < 0.3}
    country = str(rng.choice(["US", "DE", "FR", "GB", ""]))
    return IcsrCase(
        safety_report_id=f"SYN-{i:04d}",
        report_type=Code(code="2" if rng.random() < 0.4 else "1"),
        first_received=f"202611{day:02d}",
        most_recent=f"202611{day:02d}",
        primary_sources=() if rng.random() < 0.05 else (PrimarySource(),),
        patient=Patient(age=Quantity(value="40", unit="a")),
        drugs=tuple(
            Drug(role=Code(code="1" if k == 0 else "2"), name=str(rng.choice(DRUGS))) for k in range(rng.integers(1, 3))
        ),
        reactions=(
            Reaction(as_reported=str(rng.choice(EVENTS)), country=Code(code=country) if country else None, **flags),
        ),
    )


def _reports(shared: Path) -> list[StoredReport]:
    out = [
        StoredReport(r.case, "e2b", r.file, r.sha256, r.xpath, r.importer)
        for f in sorted((shared / "e2b_r3/instances").glob("*.xml"))
        for r in read_e2b(f).loaded
    ]
    rng = np.random.default_rng(13)
    for i in range(240):
        c = _case(rng, i)
        src = str(rng.choice(SOURCES))
        out.append(StoredReport(c, src, "syn.xml", f"sha-{i}", "/x", "test"))
        if i % 9 == 0:  # a follow-up with new information
            fu = c.model_copy(update={"most_recent": "20261129"})
            out.append(StoredReport(fu, src, "syn.xml", f"sha-{i}-fu", "/x", "test"))
        if i % 17 == 0:  # nullified
            null = c.model_copy(update={"most_recent": "20261130", "nullification": Code(code="1")})
            out.append(StoredReport(null, src, "syn.xml", f"sha-{i}-null", "/x", "test"))
        if i % 23 == 0:  # the same version from another source too
            out.append(StoredReport(c, "openfda", "syn.json", f"sha-{i}-dup", "/y", "test"))
    return out


@pytest.fixture(scope="module")
def reference() -> Reference:
    topics = load_topics()
    return Reference(products=load_products(), rsi=load_safety_info(topics=topics), topics=topics)


@pytest.fixture(scope="module")
def stores(shared: Path, reference: Reference, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    reports = _reports(shared)
    d = tmp_path_factory.mktemp("scope")
    out = {"indexed": d / "indexed.duckdb", "plain": d / "plain.duckdb", "backfilled": d / "backfilled.duckdb"}
    with CaseStore(out["indexed"], index=case_indexer(reference)) as s:
        s.add(reports[:100], [])
        s.add(reports[100:], [])  # two batches: earlier versions re-indexed when a follow-up arrives
    for name in ("plain", "backfilled"):
        with CaseStore(out[name]) as s:
            s.add(reports, [])
    with CaseStore(out["backfilled"], index=case_indexer(reference)) as s:  # the migration's backfill
        assert s.stale_cases(case_indexer(reference).key) == []
    return out


@pytest.fixture(scope="module")
def session(stores: dict[str, Path], tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    engine = operational_engine(f"sqlite:///{tmp_path_factory.mktemp('op') / 'op.db'}")
    with CaseStore(stores["plain"], read_only=True) as s:
        current = [c for _, c in s.current_with_source()]
    with session_factory(engine)() as sess:
        at = NOW - timedelta(days=20)
        record_submissions(sess, current[5:30], receiver="ZZFDA", batch_id="B1", actor="t", at=at)
        record_submissions(
            sess, current[30:40], receiver="EVHUMAN", batch_id="B2", actor="t", at=NOW - timedelta(days=1)
        )
        sess.commit()
        for row in sess.query(CaseMatchRow).all():
            sess.delete(row)
        from cgtvigil.store import CaseSubmissionRow

        for row in sess.query(CaseSubmissionRow).filter(CaseSubmissionRow.batch_id == "B2").limit(4):
            row.ack_code = "CR"  # rejected: still a submission for a reviewer's scope, not for the clock
        ids = [c.case_id for c in current]
        for k, (a, b) in enumerate(zip(ids[:40], ids[40:80], strict=True)):  # duplicate candidates
            sess.add(
                CaseMatchRow(
                    case_a=a,
                    source_a="e2b",
                    case_b=b,
                    source_b="fhir",
                    method="probabilistic",
                    score=0.9,
                    fields={},
                    status="proposed",
                    found_at=NOW,
                    note=str(k),
                )
            )
        sess.add(
            CaseMatchRow(
                case_a=ids[0],
                source_a="e2b",
                case_b="FAERS-1",
                source_b="faers",
                method="identifier",
                score=1.0,
                fields={},
                status="proposed",
                found_at=NOW,
            )
        )
        sess.commit()
        yield sess
    engine.dispose()


def _scopes() -> dict[str, Scope]:
    out = {
        name: scope_for(UserRow(username=name, role=role, password_hash="", **extra))
        for name, (role, extra) in DEMO_USERS.items()
    }
    out["sponsor-kymriah"] = Scope(actor="k", cases=frozenset({"kymriah"}))
    out["sponsor-none"] = scope_for(
        UserRow(username="n", role="safety_scientist", password_hash="", sponsor_products=[])
    )
    out["reviewer-and-sponsor"] = Scope(actor="rs", cases=frozenset({"carvykti"}), public_cases=True)
    return out


def _old_list(db: Path, session: Session, scope: Scope, reference: Reference) -> list[tuple[str, str]]:
    """(case id, clock status) of every case the old rule showed, in the old order."""
    submitted = submissions_by_case(session)
    with CaseStore(db, read_only=True) as store:
        rows = store.current_with_source()
        histories = store.histories()
    seen: dict[str, tuple[int, date, str, str]] = {}
    for source, case in rows:
        a = assess_case(case, reference)
        if old_case_visible(scope, set(a.products), source, bool(submitted.get(case.case_id))):
            c = reporting_clock(histories[case.case_id], a, submitted.get(case.case_id, []), TODAY)
            seen[case.case_id] = (ORDER[c.status], c.due or date.max, case.case_id, c.status)
    return [(k[2], k[3]) for k in sorted(seen.values())]


@pytest.mark.parametrize("who", sorted(_scopes()))
@pytest.mark.parametrize("kind", ["indexed", "plain", "backfilled"])
def test_sql_scope_equals_the_old_rule(
    who: str, kind: str, stores: dict[str, Path], session: Session, reference: Reference
) -> None:
    scope = _scopes()[who]
    db = stores[kind]
    if scope.cases is None and not scope.public_cases:  # investigators, patients: no case at all
        with pytest.raises(Exception, match="not in this account's scope"):
            case_list(db, session, scope, reference, today=TODAY, now=NOW)
        return
    expected = _old_list(db, session, scope, reference)
    got: list[tuple[str, str]] = []
    page = 1
    while True:  # pages of 37: every row once, in the old order
        found = case_list(db, session, scope, reference, today=TODAY, now=NOW, page=page, page_size=37)
        got += [(r.case_id, r.clock.status) for r in found.rows]
        if len(found.rows) < 37:
            break
        page += 1
    assert got == expected
    assert found.total == len(expected) and sum(found.counts.values()) == len(expected)
    by_status = case_list(db, session, scope, reference, today=TODAY, now=NOW, status="overdue", page_size=10_000)
    assert [r.case_id for r in by_status.rows] == [c for c, s in expected if s == "overdue"]
    # the case page: found exactly for the cases in scope (a few of each side)
    visible = {c for c, _ in expected}
    with CaseStore(db, read_only=True) as store:
        every = sorted({c.case_id for _, c in store.current_with_source()})
    for cid in every[::13]:
        if cid in visible:
            d = case_detail(db, session, scope, reference, cid, today=TODAY, now=NOW)
            # a duplicate candidate naming a case outside the scope stays hidden
            assert {x.other_case for x in d.duplicates} <= visible
            assert d.clock.status == dict(expected)[cid]
        else:
            with pytest.raises(NotFoundError):
                case_detail(db, session, scope, reference, cid, today=TODAY, now=NOW)


def test_duplicates_outside_scope_hidden(stores: dict[str, Path], session: Session, reference: Reference) -> None:
    admin = Scope(actor="a", cases=frozenset())
    rows = case_list(stores["indexed"], session, admin, reference, today=TODAY, now=NOW, page_size=10_000).rows
    match = session.query(CaseMatchRow).filter(CaseMatchRow.source_b == "fhir").first()
    assert match is not None
    d = case_detail(stores["indexed"], session, admin, reference, match.case_a, today=TODAY, now=NOW)
    assert match.case_b in {x.other_case for x in d.duplicates}
    assert "FAERS-1" not in {x.other_case for x in d.duplicates}  # not a case of the case store (as before)
    assert len(rows) > 200


def test_a_store_from_before_the_index(
    shared: Path, reference: Reference, tmp_path: Path, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store made before the index columns: read as it is (every case worked out by the reader),
    migrated (columns added, index backfilled) when opened for writing with an indexer, and
    re-indexed by ``cgtvigil cases reindex`` after the rules change."""
    import duckdb
    from typer.testing import CliRunner

    from cgtvigil.cli import app

    db = tmp_path / "old.duckdb"
    with CaseStore(db) as s:
        s.add(_reports(shared)[:120], [])
    con = duckdb.connect(str(db))
    for (name,) in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = 'icsr_version' AND column_name LIKE 'ix_%'"
    ).fetchall():
        con.execute(f"ALTER TABLE icsr_version DROP COLUMN {name}")
    con.close()
    admin = Scope(actor="a", cases=frozenset())
    before = _old_list(db, session, admin, reference)
    assert [
        (r.case_id, r.clock.status)
        for r in case_list(db, session, admin, reference, today=TODAY, now=NOW, page_size=10_000).rows
    ] == before
    ix = case_indexer(reference)
    with CaseStore(db, index=ix) as s:  # the migration: columns added, every case backfilled
        assert s.indexed and s.stale_cases(ix.key) == []
    got = case_list(db, session, admin, reference, today=TODAY, now=NOW, page_size=10_000)
    assert [(r.case_id, r.clock.status) for r in got.rows] == before
    rules = tmp_path / "rules.json"
    rules.write_text(ix.rules.model_dump_json().replace("CLOCK-2026.1", "LOCAL-2"))
    monkeypatch.setenv("CGTVIGIL_OPERATIONAL_URL", f"sqlite:///{tmp_path / 'op.db'}")
    out = CliRunner().invoke(app, ["cases", "reindex", "--db", str(db), "--rules", str(rules)])
    assert out.exit_code == 0 and f"Re-indexed {len(before)} case(s)" in out.output, out.output
