"""`cgtvigil reports pbrer|dsur|dossier` on a real analytic store (SYNTHETIC FAERS quarters from
`cgtvigil synth faers` plus ICSRs in the case store): the same spec and inputs give the same
HTML bytes (and PDF), the document names its inputs by SHA-256, the DSUR counts study cases only,
a dossier carries the register's risk and its alignment, and bad input gets one clear message."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cgtvigil.access import scope_for
from cgtvigil.cli import app
from cgtvigil.model import Code, Drug, IcsrCase, Reaction
from cgtvigil.reports import PeriodicSpec, case_store_events
from cgtvigil.signal_management import SignalDraft, create_signal, load_timelines
from cgtvigil.store import (
    CaseStore,
    StoredReport,
    UserRow,
    load_products,
    load_topics,
    operational_engine,
    session_factory,
)

runner = CliRunner()
ADMIN = scope_for(UserRow(username="adm", role="administrator"))


def _icsr(report_id: str, report_type: str, received: str, term: str, *, death: bool = False) -> IcsrCase:
    return IcsrCase(
        safety_report_id=report_id,
        report_type=Code(code=report_type),
        first_received=received,
        most_recent=received,
        drugs=(Drug(role=Code(code="1"), name="Kymriah"), Drug(role=Code(code="2"), name="Yescarta")),
        reactions=(Reaction(meddra=Code(code="10000001", display=term), death=death or None, hospitalisation=True),),
    )


CASES = [
    _icsr("US-E2B-1", "2", "20240415", "Cytokine release syndrome"),
    _icsr("US-E2B-2", "1", "20240102", "Immune effector cell-associated neurotoxicity syndrome", death=True),
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("reports")
    db = tmp / "analytic.duckdb"
    r = runner.invoke(
        app, ["synth", "faers", str(tmp / "zips"), "--reports-per-quarter", "800", "--quarters", "2024Q1,2024Q2"]
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["ingest", "faers", *map(str, sorted((tmp / "zips").glob("*.zip"))), "--db", str(db)])
    assert r.exit_code == 0, r.output
    with CaseStore(db) as cases:
        cases.add([StoredReport(c, "e2b", "test.xml", f"sha{i}", f"/x[{i}]", "test") for i, c in enumerate(CASES)], [])
    return db


def test_e2b_cases_count_by_suspect_product_and_type() -> None:
    spec = PeriodicSpec(
        kind="dsur",
        products=("kymriah", "yescarta"),
        interval_start=date(2024, 1, 1),
        data_lock_point=date(2024, 6, 30),
    )
    events = case_store_events(CASES, spec, load_products(), load_topics())
    # DSUR: the study report only; Yescarta is concomitant (role 2), not suspect
    assert [(e.case_id, e.product_id, e.pt, e.topic, e.source) for e in events] == [
        ("E2B:US-E2B-1", "kymriah", "CYTOKINE RELEASE SYNDROME", "crs", "E2B: study")
    ]
    pbrer = case_store_events(CASES, spec.model_copy(update={"kind": "pbrer"}), load_products(), load_topics())
    assert {(e.case_id, e.fatal) for e in pbrer} == {("E2B:US-E2B-1", False), ("E2B:US-E2B-2", True)}


def test_pbrer_is_reproducible_and_names_its_inputs(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'op.db'}"
    monkeypatch.setenv("CGTVIGIL_OPERATIONAL_URL", url)
    engine = operational_engine(url)
    with session_factory(engine)() as session:  # a signal detected in the interval
        draft = SignalDraft(
            title="CRS cluster",
            product_id="kymriah",
            event_type="topic",
            event="crs",
            source_kind="case_series",
            source_ref="test",
        )
        create_signal(session, ADMIN, draft, at=datetime(2024, 5, 2, tzinfo=UTC), timelines=load_timelines())
        session.commit()
    engine.dispose()
    args = [
        "reports",
        "pbrer",
        "--product",
        "Kymriah",
        "--from",
        "2024-04-01",
        "--dlp",
        "2024-06-30",
        "--db",
        str(store),
    ]
    first = runner.invoke(app, [*args, "--output", str(tmp_path / "a")])
    assert first.exit_code == 0, first.output
    stem = "pbrer-kymriah-2024-06-30"
    again = runner.invoke(
        app,
        [
            "reports",
            "pbrer",
            "--spec",
            str(tmp_path / "a" / f"{stem}.spec.json"),
            "--db",
            str(store),
            "--output",
            str(tmp_path / "b"),
        ],
    )
    assert again.exit_code == 0, again.output
    html = (tmp_path / "a" / f"{stem}.html").read_bytes()
    assert html == (tmp_path / "b" / f"{stem}.html").read_bytes()
    assert (tmp_path / "a" / f"{stem}.pdf").read_bytes() == (tmp_path / "b" / f"{stem}.pdf").read_bytes()
    assert (tmp_path / "a" / f"{stem}.pdf").read_bytes().startswith(b"%PDF")
    text = html.decode()
    assert "faers-store" in text and "case-store" in text and "risk-register" in text
    # spec, FAERS store, case store, register, signal table
    assert len(set(re.findall(r"<code>([0-9a-f]{64})</code>", text))) == 5 and "1 signals" in text
    assert '<td class="l">CRS cluster</td>' in text and "2024-05-02" in text
    assert "E2B: study" in text and "CYTOKINE RELEASE SYNDROME" in text
    assert "Cytokine release syndrome" in text  # the register's safety concerns in force
    spec = json.loads((tmp_path / "a" / f"{stem}.spec.json").read_text())
    assert spec["products"] == ["kymriah"] and spec["data_lock_point"] == "2024-06-30"


def test_dsur_and_dossier(store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CGTVIGIL_OPERATIONAL_URL", f"sqlite:///{tmp_path / 'op.db'}")
    out = tmp_path / "out"
    screen = tmp_path / "screen.parquet"
    screened = runner.invoke(app, ["signals", "--db", str(store), "--output", str(screen)])
    assert screened.exit_code == 0, screened.output
    dsur = runner.invoke(
        app,
        [
            "reports",
            "dsur",
            "--product",
            "kymriah",
            "--from",
            "2024-01-01",
            "--dlp",
            "2024-06-30",
            "--db",
            str(store),
            "--output",
            str(out),
            "--no-pdf",
        ],
    )
    assert dsur.exit_code == 0, dsur.output
    assert "1 cases in the interval, 1 cumulative" in " ".join(dsur.stdout.split())  # the E2B study case
    dossier = runner.invoke(
        app,
        [
            "reports",
            "dossier",
            "--product",
            "kymriah",
            "--event",
            "crs",
            "--dlp",
            "2024-06-30",
            "--db",
            str(store),
            "--screen",
            str(screen),
            "--output",
            str(out),
            "--no-pdf",
        ],
    )
    assert dossier.exit_code == 0, dossier.output
    page = (out / "dossier-kymriah-crs-2024-06-30.html").read_text()
    assert "Cytokine release syndrome</b> — important identified" in page
    assert '<th class="l">eb05</th>' in page and "screen.parquet" in page  # the pair's statistics, named
    assert "E2B:US-E2B-1" in page
    # on the data lock point (2024) the CAR-T REMS was in force: additional measures in both regions
    assert "REMS ETASU: certified hospitals and clinics (REMS)" in page and "additional measures" not in page
    engine = operational_engine(f"sqlite:///{tmp_path / 'op.db'}")
    with session_factory(engine)() as session:
        draft = SignalDraft(
            title="ICANS cluster",
            product_id="kymriah",
            event_type="topic",
            event="icans",
            source_kind="case_series",
            source_ref="test",
        )
        signal_id = create_signal(
            session, ADMIN, draft, at=datetime(2024, 5, 2, tzinfo=UTC), timelines=load_timelines()
        ).id
        session.commit()
    engine.dispose()
    by_signal = runner.invoke(
        app,
        [
            "reports",
            "dossier",
            "--signal",
            str(signal_id),
            "--dlp",
            "2024-06-30",
            "--db",
            str(store),
            "--output",
            str(out),
            "--no-pdf",
        ],
    )
    assert by_signal.exit_code == 0, by_signal.output
    page = (out / "dossier-kymriah-icans-2024-06-30.html").read_text()
    assert "ICANS cluster" in page and "created" in page and "E2B:US-E2B-2" in page  # the fatal ICANS case
    assert "Neurological toxicity (ICANS)</b> — important identified" in page
    for bad, message in (
        (
            ["reports", "pbrer", "--product", "kymriah", "--from", "2024-13-01", "--dlp", "2024-06-30"],
            "must be a date YYYY-MM-DD",
        ),
        (
            ["reports", "pbrer", "--product", "nonesuch", "--from", "2024-01-01", "--dlp", "2024-06-30"],
            "unknown product(s) nonesuch",
        ),
        (
            [
                "reports",
                "pbrer",
                "--product",
                "kymriah",
                "--from",
                "2024-07-01",
                "--dlp",
                "2024-06-30",
                "--db",
                str(store),
            ],
            "after the data lock point",
        ),
        (
            [
                "reports",
                "pbrer",
                "--product",
                "kymriah",
                "--from",
                "2024-01-01",
                "--dlp",
                "2024-06-30",
                "--db",
                str(tmp_path / "none.duckdb"),
            ],
            "no such analytic store",
        ),
        (
            ["reports", "dsur", "--spec", str(out / "dsur-kymriah-2024-06-30.spec.json"), "--product", "kymriah"],
            "not both",
        ),
    ):
        r = runner.invoke(app, bad)
        assert r.exit_code == 2 and message in " ".join(r.output.split()), (bad, r.output)


def test_the_signal_table_shows_each_signal_as_it_stood_at_the_data_lock_point(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A signal detected in the interval and moved on after the data lock point shows the state
    it was in at the lock (rebuilt from its signed transitions), a signal closed in the interval
    shows its outcome, and one detected after the lock is not in the table (issue 15)."""
    from cgtvigil.access import create_user, throttled_check
    from cgtvigil.signal_management import advance_signal

    url = f"sqlite:///{tmp_path / 'op.db'}"
    monkeypatch.setenv("CGTVIGIL_OPERATIONAL_URL", url)
    engine = operational_engine(url)
    password = "correct horse battery staple"

    def draft(title: str, event: str) -> SignalDraft:
        return SignalDraft(
            title=title,
            product_id="kymriah",
            event_type="topic",
            event=event,
            source_kind="case_series",
            source_ref="t",
        )

    def advance(session, signal_id: int, to: str, day: datetime, **kw: object) -> None:  # type: ignore[no-untyped-def]
        advance_signal(
            session,
            ADMIN,
            signal_id,
            to=to,
            rationale=f"to {to}",
            meaning="approval",
            password=password,
            at=day,
            check=throttled_check,
            timelines=load_timelines(),
            **kw,  # type: ignore[arg-type]
        )

    with session_factory(engine)() as session:
        create_user(session, username="adm", password=password, role="administrator", at=datetime.now(UTC))
        moved = create_signal(
            session, ADMIN, draft("CRS cluster", "crs"), at=datetime(2024, 5, 2, tzinfo=UTC), timelines=load_timelines()
        ).id
        closed = create_signal(
            session,
            ADMIN,
            draft("ICANS cluster", "icans"),
            at=datetime(2024, 4, 3, tzinfo=UTC),
            timelines=load_timelines(),
        ).id
        advance(session, moved, "validation", datetime(2024, 6, 30, 23, 0, tzinfo=UTC))  # on the lock day
        advance(session, closed, "closed", datetime(2024, 6, 1, tzinfo=UTC), outcome="refuted")
        # after the data lock point: the CRS signal moves on and is closed, a new one is detected
        advance(session, moved, "analysis", datetime(2024, 7, 2, tzinfo=UTC))
        advance(session, moved, "closed", datetime(2024, 8, 1, tzinfo=UTC), outcome="confirmed_risk")
        create_signal(
            session,
            ADMIN,
            draft("Late signal", "crs"),
            at=datetime(2024, 7, 5, tzinfo=UTC),
            timelines=load_timelines(),
        )
        session.commit()
    engine.dispose()
    args = ["reports", "pbrer", "--product", "kymriah", "--from", "2024-04-01", "--dlp", "2024-06-30"]
    r = runner.invoke(app, [*args, "--db", str(store), "--output", str(tmp_path / "out"), "--no-pdf"])
    assert r.exit_code == 0, r.output
    text = (tmp_path / "out" / "pbrer-kymriah-2024-06-30.html").read_text()
    table = text[text.index("4. Signals of the period") : text.index("Annex: inputs")]
    rows = {m[0]: m[1] for m in re.findall(r'<td class="l">([A-Za-z ]+ cluster)</td>(.*?)</tr>', table)}
    assert set(rows) == {"CRS cluster", "ICANS cluster"} and "Late signal" not in text  # detected after the lock
    crs = re.findall(r'<td class="l">([^<]*)</td>', rows["CRS cluster"])
    assert "Validation" in crs and "Closed" not in crs and "confirmed_risk" not in rows["CRS cluster"]  # as at the lock
    assert (
        "Closed" in rows["ICANS cluster"]
        and "refuted" in rows["ICANS cluster"]
        and "2024-06-01" in rows["ICANS cluster"]
    )
    assert "2 signals" in text


def test_a_stored_dossier_does_not_move_with_later_register_edits(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The workflow behind the pages: a dossier stored with its spec and inputs; the register
    edited after the data lock point (twice) leaves the dossier made again byte for byte the
    same (the register and alignment in force at the lock, not today's), so the stored one is
    answered again; the generation is audited each time."""
    from sqlalchemy import select

    from cgtvigil.reports import ReportRequest, generate_report, report_file
    from cgtvigil.risk_management import register_view, save_register
    from cgtvigil.store import AuditRow

    engine = operational_engine(f"sqlite:///{tmp_path / 'op.db'}")
    products, topics = load_products(), load_topics()
    request = ReportRequest(
        kind="dossier", products=["Kymriah"], event="crs", data_lock_point=date(2024, 6, 30), pdf=False
    )
    with session_factory(engine)() as session:
        first = generate_report(
            session, ADMIN, request, db=store, products=products, topics=topics, at=datetime.now(UTC)
        )
        session.commit()
        before = report_file(session, ADMIN, first.id, "html", at=datetime.now(UTC)).content
        for note in ("renamed after the lock", "renamed again"):
            doc = register_view(session, ADMIN, products, "kymriah").document
            risk = next(r for r in doc.risks if r.topic == "crs")
            doc = doc.model_copy(
                update={
                    "risks": tuple(
                        r.model_copy(update={"name": f"CRS ({note})"}) if r is risk else r for r in doc.risks
                    )
                }
            )
            save_register(session, ADMIN, products, doc, at=datetime.now(UTC), note=note)
            session.commit()
            again = generate_report(
                session, ADMIN, request, db=store, products=products, topics=topics, at=datetime.now(UTC)
            )
            session.commit()
            assert again.id == first.id and again.reused, note
        assert report_file(session, ADMIN, first.id, "html", at=datetime.now(UTC)).content == before
        assert b"renamed" not in before
        generated = session.scalars(select(AuditRow.detail).where(AuditRow.action == "report.generate")).all()
        assert [d["reused"] for d in generated] == [False, True, True]
    engine.dispose()


def test_a_dossier_lists_evidence_as_it_stood_at_the_data_lock_point(tmp_path: Path) -> None:
    """Review (session 4): a re-screen after the lock marks the screen row then in force
    superseded, and a dossier made again at the same lock said so (its evidence, and so its
    document, moved with a later change)."""
    from cgtvigil.reports import dossier_signal
    from cgtvigil.signal_management import EvidenceDraft, attach_evidence

    engine = operational_engine(f"sqlite:///{tmp_path / 'op.db'}")
    lock = date(2024, 6, 30)
    draft = SignalDraft(
        title="CRS cluster", product_id="kymriah", event_type="topic", event="crs", source_kind="case_series",
        source_ref="t",
    )  # fmt: skip
    with session_factory(engine)() as session:
        signal = create_signal(session, ADMIN, draft, at=datetime(2024, 5, 2, tzinfo=UTC), timelines=load_timelines())
        row = EvidenceDraft(kind="screen_row", title="screen 2024Q1", reference="kymriah/crs")
        first = attach_evidence(session, ADMIN, signal.id, row, at=datetime(2024, 5, 3, tzinfo=UTC))
        session.commit()
        at_lock = dossier_signal(session, ADMIN, signal.id, lock)
        # the re-screen after the lock: the old row superseded, the new one added (as rescreen_signals does)
        first.current = False
        attach_evidence(
            session,
            ADMIN,
            signal.id,
            row.model_copy(update={"title": "screen 2024Q3"}),
            at=datetime(2024, 10, 1, tzinfo=UTC),
        )
        session.commit()
        assert dossier_signal(session, ADMIN, signal.id, lock) == at_lock
        assert not any("superseded" in e for e in at_lock[2]) and len(at_lock[2]) == 1
    engine.dispose()
