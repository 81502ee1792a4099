"""The signal workflow (issue 15, GVP Module IX) on the operational store: a signal opened
from a screen row of a real screen result carries the row, its spec and snapshot as
evidence; it moves through every state with an electronic signature (the re-entered password
checked by argon2 under the log-in throttle), each transition audited; a re-screen of a new
snapshot flags new cases; a sponsor never reaches another sponsor's signals and a regulator
reviewer only the ones shared with them. SQLite and PostgreSQL.

Data: the SYNTHETIC screens of ``_signal_data`` (two quarters; the second has more Kymriah
cases)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cgtvigil.access import create_user, scope_for, throttled_check
from cgtvigil.audit import verify_audit
from cgtvigil.errors import NotFoundError, NotInScopeError, ValidationError
from cgtvigil.monitoring import MonitoringRules, raise_alert, register_patient
from cgtvigil.risk_management import Risk
from cgtvigil.screening import ScreenCache
from cgtvigil.signal_management import (
    EvidenceDraft,
    SignatureRefusedError,
    advance_signal,
    alert_draft,
    attach_evidence,
    case_series_draft,
    create_signal,
    followup_draft,
    list_signals,
    load_timelines,
    open_risk,
    rescreen_signals,
    screen_row_draft,
    share_signal,
    signal_detail,
)
from cgtvigil.store import (
    AuditRow,
    RiskChangeRow,
    SignalEventRow,
    UserRow,
    load_products,
    operational_engine,
    session_factory,
)

from ._signal_data import ROW, synthetic_screens

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery staple"
USERS = {
    "sci.kym": ("safety_scientist", {"sponsor_products": ("kymriah",)}),
    "sci.yes": ("safety_scientist", {"sponsor_products": ("yescarta",)}),
    "reg.one": ("regulator_reviewer", {}),
    "reg.two": ("regulator_reviewer", {}),
    "adm.user": ("administrator", {}),
}


@pytest.fixture(scope="module")
def screens(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return synthetic_screens(tmp_path_factory.mktemp("signal-workflow"))


@pytest.fixture
def cheap_argon2(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """argon2 at its smallest cost: these tests are about the workflow (test_accounts checks
    the real verification)."""
    from argon2 import PasswordHasher

    from cgtvigil.access import _passwords

    monkeypatch.setattr(_passwords, "_HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    _passwords._dummy_hash.cache_clear()
    yield
    _passwords._dummy_hash.cache_clear()


@pytest.fixture
def session(operational_url: str, cheap_argon2):  # type: ignore[no-untyped-def]
    engine = operational_engine(operational_url)
    with session_factory(engine)() as s:
        for name, (role, extra) in USERS.items():
            create_user(s, username=name, password=PASSWORD, role=role, at=NOW, **extra)  # type: ignore[arg-type]
        s.commit()
        yield s
    engine.dispose()


def _scope(session: Session, name: str):  # type: ignore[no-untyped-def]
    return scope_for(session.get(UserRow, name))  # type: ignore[arg-type]


def _advance(session: Session, who: str, signal_id: int, to: str, **kw: object):  # type: ignore[no-untyped-def]
    options: dict[str, object] = {"rationale": f"moved to {to}", "meaning": "approval", "password": PASSWORD} | kw
    return advance_signal(
        session,
        _scope(session, who),
        signal_id,
        to=to,
        at=NOW + timedelta(days=1),
        check=throttled_check,
        timelines=load_timelines(),
        **options,  # type: ignore[arg-type]
    )


def test_a_screen_row_carried_to_a_closed_decision(session: Session, screens: tuple[Path, Path]) -> None:
    cache = ScreenCache(screens[0])
    scope = _scope(session, "sci.kym")
    draft = screen_row_draft(cache, scope, load_products(), *ROW)
    signal = create_signal(session, scope, draft, at=NOW, timelines=load_timelines())
    session.commit()
    assert (signal.product_id, signal.state, signal.owner) == ("kymriah", "detection", "sci.kym")
    assert signal.due_at == NOW.replace(tzinfo=None) + timedelta(days=30)  # the shipped (unconfirmed) timelines
    # the evidence is the screen row with the screen's spec and snapshot, as in the file
    meta = json.loads(pq.read_schema(screens[0]).metadata[b"cgtvigil"])
    (evidence,) = signal.evidence
    assert (evidence.spec_hash, evidence.snapshot) == (meta["spec_hash"], meta["data"]["snapshot_sha256"])
    assert evidence.payload["spec"] == meta["spec"] and evidence.payload["n"] == 12
    assert evidence.payload["rank"] >= 1 and "fda_eb05" in evidence.payload["rules"]

    # a wrong password signs nothing; the refusal is audited (and committed)
    with pytest.raises(SignatureRefusedError, match="password is wrong"):
        _advance(session, "sci.kym", signal.id, "validation", password="not the password at all")
    session.rollback()
    assert session.scalars(select(AuditRow.detail).where(AuditRow.action == "signal.sign")).one()["outcome"] == (
        "wrong password"
    )
    assert signal_detail(session, scope, signal.id, NOW).state == "detection"
    with pytest.raises(ValidationError) as bad:
        _advance(session, "sci.kym", signal.id, "assessment", meaning="liked it", rationale=" ")
    assert len(bad.value.problems) == 3  # the jump, the meaning and the missing rationale together

    for to in ("validation", "confirmation", "analysis", "assessment", "recommendation"):
        _advance(session, "sci.kym", signal.id, to, priority="high" if to == "analysis" else None)
    with pytest.raises(ValidationError, match="needs its outcome"):
        _advance(session, "sci.kym", signal.id, "closed")
    _advance(session, "sci.kym", signal.id, "closed", outcome="confirmed_risk", rationale="new important risk")
    session.commit()
    found = signal_detail(session, scope, signal.id, NOW)
    assert (found.state, found.outcome, found.priority, found.due_at) == ("closed", "confirmed_risk", "high", None)
    signed = [e for e in found.events if e.kind == "transition"]
    assert [e.to_state for e in signed] == [
        "validation",
        "confirmation",
        "analysis",
        "assessment",
        "recommendation",
        "closed",
    ]
    assert all(e.meaning == "approval" and e.by == "sci.kym" and e.audit_id for e in signed)
    entries = {a.id: a for a in session.scalars(select(AuditRow).where(AuditRow.action == "signal.advance"))}
    assert {e.audit_id for e in signed} == set(entries)
    last = entries[signed[-1].audit_id or 0].detail
    assert last["signature"] == {"signer": "sci.kym", "meaning": "approval", "method": "password re-entered"}
    assert (last["from"], last["to"], last["outcome"]) == ("recommendation", "closed", "confirmed_risk")
    assert verify_audit(session).ok
    # new information reopens a closed signal (signed too)
    _advance(session, "sci.kym", signal.id, "validation", rationale="new cases reported")
    assert signal_detail(session, scope, signal.id, NOW).outcome is None


def test_sponsors_and_reviewers_see_only_their_signals(session: Session, screens: tuple[Path, Path]) -> None:
    cache = ScreenCache(screens[0])
    kym, yes, reg = _scope(session, "sci.kym"), _scope(session, "sci.yes"), _scope(session, "reg.one")
    draft = screen_row_draft(cache, kym, load_products(), *ROW)
    with pytest.raises(NotInScopeError, match="another sponsor"):
        create_signal(session, yes, draft, at=NOW, timelines=load_timelines())
    with pytest.raises(NotInScopeError):
        create_signal(session, reg, draft, at=NOW, timelines=load_timelines())
    signal = create_signal(session, kym, draft, at=NOW, timelines=load_timelines())
    session.commit()
    assert [s.id for s in list_signals(session, kym, NOW)] == [signal.id]
    assert [s.id for s in list_signals(session, _scope(session, "adm.user"), NOW)] == [signal.id]
    for outsider in (yes, reg):
        assert list_signals(session, outsider, NOW, state="all") == []
        with pytest.raises(NotFoundError):  # the same answer as for a missing signal
            signal_detail(session, outsider, signal.id, NOW)
    with pytest.raises(NotFoundError):
        share_signal(session, yes, signal.id, "reg.one", at=NOW)  # not the sponsor's to share
    with pytest.raises(ValidationError, match="no active regulator reviewer"):
        share_signal(session, kym, signal.id, "sci.yes", at=NOW)
    share_signal(session, kym, signal.id, "reg.one", at=NOW)
    session.commit()
    seen = signal_detail(session, reg, signal.id, NOW)
    assert (seen.can_write, seen.next_states, seen.shared_with) == (False, [], [])
    assert [s.id for s in list_signals(session, reg, NOW)] == [signal.id]
    assert list_signals(session, _scope(session, "reg.two"), NOW) == []  # shared with one reviewer only
    with pytest.raises(NotInScopeError):  # a reviewer reads, never signs
        _advance(session, "reg.one", signal.id, "validation")
    assert signal_detail(session, kym, signal.id, NOW).shared_with == ["reg.one"]
    share_signal(session, kym, signal.id, "reg.one", at=NOW, revoke=True)
    session.commit()
    assert list_signals(session, reg, NOW) == []


def test_a_rescreen_flags_new_cases(session: Session, screens: tuple[Path, Path]) -> None:
    scope = _scope(session, "sci.kym")
    first = ScreenCache(screens[0])
    signal = create_signal(
        session, scope, screen_row_draft(first, scope, load_products(), *ROW), at=NOW, timelines=load_timelines()
    )
    session.commit()
    assert rescreen_signals(session, scope, first, at=NOW).changes == []  # the same screen: nothing to do
    second = ScreenCache(screens[1])
    report = rescreen_signals(session, scope, second, at=NOW + timedelta(days=90))
    session.commit()
    (change,) = report.changes
    # the row in each file: n 12 after 2024Q1, 23 after both quarters
    assert (change.status, change.new_cases) == ("changed", 23 - 12)
    found = signal_detail(session, scope, signal.id, NOW)
    assert "+11 cases" in found.flag
    old, new = found.evidence
    assert (old.current, new.current, new.payload["n"]) == (False, True, 23)
    assert new.snapshot == report.snapshot != old.snapshot
    assert found.events[-1].kind == "rescreen" and found.events[-1].detail["new_cases"] == 11
    assert rescreen_signals(session, scope, second, at=NOW).changes == []  # up to date now
    _advance(session, "sci.kym", signal.id, "validation")
    assert signal_detail(session, scope, signal.id, NOW).flag == ""  # the signer has seen it


def test_alerts_case_series_and_attached_evidence(session: Session) -> None:
    products = load_products()
    register_patient(session, products, patient="P-A1", site="A", product="kymriah", infusion_date=NOW.date())
    register_patient(session, products, patient="P-B1", site="B", product="yescarta", infusion_date=NOW.date())
    alert, _ = raise_alert(session, "P-A1", "sensor_fever", "high", "temperature >= 38.0 °C", NOW, MonitoringRules())
    other, _ = raise_alert(session, "P-B1", "sensor_fever", "high", "temperature >= 38.0 °C", NOW, MonitoringRules())
    session.commit()
    kym = _scope(session, "sci.kym")
    draft = alert_draft(session, kym, alert.id, "PYREXIA")
    assert (draft.product_id, draft.source_kind, draft.evidence[0].patient_level) == ("kymriah", "alert", True)
    with pytest.raises(NotFoundError):  # another sponsor's patient
        alert_draft(session, kym, other.id, "PYREXIA")
    signal = create_signal(session, kym, draft, at=NOW, timelines=load_timelines())
    with pytest.raises(NotFoundError, match="P-B1"):
        case_series_draft(session, kym, "kymriah", "pt", "PYREXIA", ["P-A1", "P-B1"], source="registry")
    series = case_series_draft(session, kym, "kymriah", "pt", "PYREXIA", ["P-A1"], source="registry")
    attach_evidence(session, kym, signal.id, series.evidence[0], at=NOW)
    attach_evidence(
        session,
        kym,
        signal.id,
        EvidenceDraft(kind="literature", title="Case report of fever after CAR-T", reference="doi:10.1000/xyz123"),
        at=NOW,
    )
    share_signal(session, kym, signal.id, "reg.one", at=NOW)
    session.commit()
    mine = signal_detail(session, kym, signal.id, NOW)
    assert [e.kind for e in mine.evidence] == ["alert", "case_list", "literature"]
    assert mine.evidence[1].payload["cases"] == ["P-A1"]
    shared = signal_detail(session, _scope(session, "reg.one"), signal.id, NOW)
    # the reviewer sees the dossier but not the registry patients' ids
    assert [(e.kind, e.withheld, e.payload) for e in shared.evidence[:2]] == [
        ("alert", True, {}),
        ("case_list", True, {}),
    ]
    assert shared.evidence[2].reference == "doi:10.1000/xyz123"


def test_timelines_files_are_checked(tmp_path: Path) -> None:
    bad = tmp_path / "timelines.json"
    bad.write_text(json.dumps({"version": "SOP-7", "verified": True, "days": {"validaton": 30, "assessment": 0}}))
    with pytest.raises(ValidationError) as caught:
        load_timelines(bad)
    assert len(caught.value.problems) == 2
    assert "days.validaton" in caught.value.problems[0] and "at least 1 day" in caught.value.problems[1]
    good = tmp_path / "sop.json"
    good.write_text(json.dumps({"version": "SOP-7", "verified": True, "days": {"validation": 14}}))
    assert load_timelines(good).due("validation", NOW) == NOW + timedelta(days=14)
    assert load_timelines(good).due("assessment", NOW) is None


def test_a_validated_signal_opens_a_risk_linked_both_ways(session: Session, screens: tuple[Path, Path]) -> None:
    scope = _scope(session, "sci.kym")
    cache = ScreenCache(screens[0])
    signal = create_signal(
        session, scope, screen_row_draft(cache, scope, load_products(), *ROW), at=NOW, timelines=load_timelines()
    )
    risk = Risk(
        key="malignant-progression",
        name="Malignant neoplasm progression",
        category="important_potential",
        preferred_terms=("MALIGNANT NEOPLASM PROGRESSION",),
    )
    with pytest.raises(ValidationError, match="only a validated signal"):
        open_risk(session, scope, load_products(), signal.id, risk, rationale="disproportionate", at=NOW)
    _advance(session, "sci.kym", signal.id, "validation")
    _advance(session, "sci.kym", signal.id, "analysis")  # no EU network confirmation step
    linked = open_risk(session, scope, load_products(), signal.id, risk, rationale="validated by case review", at=NOW)
    session.commit()
    assert linked.risk_ref.startswith("kymriah/malignant-progression@v")
    change = session.scalars(select(RiskChangeRow).where(RiskChangeRow.signal_id == signal.id)).one()
    assert (change.product_id, change.risk_key, change.kind) == ("kymriah", "malignant-progression", "opened")
    assert signal_detail(session, scope, signal.id, NOW).events[-1].detail == {
        "risk": linked.risk_ref,
        "kind": "opened",
    }
    with pytest.raises(NotFoundError):  # another sponsor reaches neither the signal nor the register
        open_risk(session, _scope(session, "sci.yes"), load_products(), signal.id, risk, rationale="x", at=NOW)


def test_sequential_boundaries_and_followup_references(session: Session) -> None:
    """A MaxSPRT cohort alert (patient ``cohort:<name>``, rule ``maxsprt:<event>``) is a
    sequential source whose product the caller names; a follow-up alert a generic reference."""
    admin, kym = _scope(session, "adm.user"), _scope(session, "sci.kym")
    boundary, _ = raise_alert(
        session, "cohort:kym-icans", "maxsprt:icans_grade", "high", "MaxSPRT signal", NOW, MonitoringRules()
    )
    with pytest.raises(ValidationError, match="cohort boundary"):
        alert_draft(session, admin, boundary.id, "ICANS")
    with pytest.raises(NotFoundError):  # cohort alerts are not a sponsor's patients
        alert_draft(session, kym, boundary.id, "ICANS", product_id="kymriah")
    draft = alert_draft(session, admin, boundary.id, "ICANS", product_id="kymriah")
    assert (draft.source_kind, draft.evidence[0].patient_level) == ("sequential", False)
    signal = create_signal(session, admin, draft, at=NOW, timelines=load_timelines())
    assert [s.id for s in list_signals(session, kym, NOW)] == [signal.id]  # the sponsor's product
    followup = followup_draft("kymriah", "T-CELL LYMPHOMA", "followup:42", "year-2 malignancy", {"visit": 2})
    created = create_signal(session, kym, followup, at=NOW, timelines=load_timelines())
    assert (created.source_kind, created.source_ref, created.evidence[0].payload) == (
        "followup",
        "followup:42",
        {"visit": 2},
    )


def test_patient_level_evidence_is_shown_only_when_every_patient_is_in_scope(session: Session) -> None:
    """Fresh-eyes review A: an administrator's registry case series on a Kymriah signal named a
    Yescarta patient, and the Kymriah sponsor saw that patient's id (one yes/no per reader)."""
    products = load_products()
    register_patient(session, products, patient="P-A1", site="A", product="kymriah", infusion_date=NOW.date())
    register_patient(session, products, patient="P-B1", site="B", product="yescarta", infusion_date=NOW.date())
    alert, _ = raise_alert(session, "P-B1", "sensor_fever", "high", "temperature >= 38.0 °C", NOW, MonitoringRules())
    session.commit()
    admin, kym = _scope(session, "adm.user"), _scope(session, "sci.kym")
    draft = case_series_draft(session, admin, "kymriah", "pt", "PYREXIA", ["P-A1", "P-B1"], source="registry")
    signal = create_signal(session, admin, draft, at=NOW, timelines=load_timelines())
    own = case_series_draft(session, admin, "kymriah", "pt", "PYREXIA", ["P-A1"], source="registry")
    attach_evidence(session, admin, signal.id, own.evidence[0], at=NOW)
    attach_evidence(session, admin, signal.id, alert_draft(session, admin, alert.id, "PYREXIA").evidence[0], at=NOW)
    session.commit()
    seen = signal_detail(session, kym, signal.id, NOW).evidence
    assert [(e.kind, e.withheld) for e in seen] == [("case_list", True), ("case_list", False), ("alert", True)]
    assert "P-B1" not in repr([e.payload for e in seen])
    assert [e.withheld for e in signal_detail(session, admin, signal.id, NOW).evidence] == [False, False, False]


def test_a_signal_or_transition_changed_with_sql_fails_verification(
    session: Session, screens: tuple[Path, Path]
) -> None:
    """Signal rows and their timeline are sealed like users, patients and alerts: a state set
    to closed, a signed rationale rewritten, an evidence row or a share edited behind the
    application's back is named by ``audit verify`` (issue 15: "signal rows are not sealed")."""
    from sqlalchemy import text

    scope = _scope(session, "sci.kym")
    signal = create_signal(
        session,
        scope,
        screen_row_draft(ScreenCache(screens[0]), scope, load_products(), *ROW),
        at=NOW,
        timelines=load_timelines(),
    )
    session.commit()
    _advance(session, "sci.kym", signal.id, "validation")
    share_signal(session, scope, signal.id, "reg.one", at=NOW)
    session.commit()
    assert verify_audit(session).ok
    transition = session.scalars(
        select(SignalEventRow.id).where(SignalEventRow.signal_id == signal.id, SignalEventRow.kind == "transition")
    ).one()
    edits = (
        ("signal", f"UPDATE signal SET state = 'closed', outcome = 'refuted' WHERE id = {signal.id}"),
        ("signal_event", f"UPDATE signal_event SET rationale = 'nothing to see' WHERE id = {transition}"),
        ("signal_evidence", f"UPDATE signal_evidence SET title = 'other' WHERE signal_id = {signal.id}"),
        (
            "signal_share",
            f"UPDATE signal_share SET shared_by = 'adm.user' WHERE signal_id = {signal.id}",
        ),
    )
    for table, statement in edits:
        session.execute(text(statement))
        session.commit()
        report = verify_audit(session)
        changed = [p for p in report.problems if p.startswith(f"{table} ")]
        assert not report.ok and changed, (table, report.problems)
        assert "does not match its seal" in changed[0]
