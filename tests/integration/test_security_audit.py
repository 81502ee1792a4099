"""The audit trail against an insider with database access (issue 10 item 7; security review
M10): a keyed chain that cannot be recomputed without the key, seals on the
security-relevant tables (a role change or an alert resolved with SQL shows), and `audit
verify` refusing a database that does not exist instead of creating one. SQLite and
PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from cgtvigil.access import create_user
from cgtvigil.audit import append_audit, typed_text, use_audit_key, verify_audit
from cgtvigil.cli import app as cli
from cgtvigil.monitoring import MonitoringRules, acknowledge, raise_alert, register_patient
from cgtvigil.store import AuditRow, load_products, operational_engine, session_factory

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
KEY = "k3y-kept-outside-the-database-0123456789"
runner = CliRunner()


@pytest.fixture
def keyed(operational_url: str):  # type: ignore[no-untyped-def]
    use_audit_key(KEY)
    engine = operational_engine(operational_url)
    with session_factory(engine)() as s:
        register_patient(s, load_products(), patient="P-A1", site="A", product="kymriah", infusion_date=T0.date())
        create_user(s, username="reg.r", password="correct horse battery", role="regulator_reviewer", at=T0)
        alert, _ = raise_alert(s, "P-A1", "sensor_fever", "high", "temperature >= 38.0 °C", T0, MonitoringRules())
        acknowledge(s, alert.id, "inv.a", T0 + timedelta(minutes=5))
        for i in range(3):
            append_audit(s, actor="inv.a", action="patient.read", target="patient:P-A1", at=T0 + timedelta(minutes=i))
        s.commit()
        yield s, alert.id
    engine.dispose()
    use_audit_key(None)


def test_a_recomputed_chain_does_not_verify_without_the_key(keyed) -> None:  # type: ignore[no-untyped-def]
    """Review M10: after an edit, recomputing the SHA-256 chain (no secret needed) gave
    'intact'. The chain is HMAC-SHA256 under a key outside the database now."""
    s, _ = keyed
    report = verify_audit(s)
    assert report.ok and report.keyed, report.problems
    rows = list(s.scalars(select(AuditRow).order_by(AuditRow.id)))
    rows[1].actor = "admin"  # the insider's edit, then the whole chain recomputed without the key
    prev = "0" * 64
    for row in rows:
        body = json.dumps(
            [row.id, row.at.isoformat(), row.actor, row.action, row.target, row.detail],
            sort_keys=True,
            separators=(",", ":"),
            default=str,
        )
        row.prev_hash, row.hash = prev, hashlib.sha256((prev + body).encode()).hexdigest()
        prev = row.hash
    s.commit()
    problems = verify_audit(s).problems
    assert len([p for p in problems if "does not match its hash" in p]) == len(rows)
    use_audit_key(None)  # and without the key the recomputed chain looks intact: the key is what protects it
    assert not [p for p in verify_audit(s).problems if "hash" in p]


def test_changes_behind_the_applications_back_show_in_verify(keyed) -> None:  # type: ignore[no-untyped-def]
    """Review M10: promoting a regulator to administrator or setting an alert to resolved
    with SQL still gave 'intact'. Changes through the application keep their seals."""
    s, alert_id = keyed
    assert verify_audit(s).ok
    s.execute(text("UPDATE app_user SET role = 'administrator' WHERE username = 'reg.r'"))
    s.execute(text("UPDATE alert SET status = 'resolved' WHERE id = :i"), {"i": alert_id})
    s.execute(text("UPDATE patient SET site = 'B' WHERE id = 'P-A1'"))
    s.commit()
    problems = verify_audit(s).problems
    assert problems == [
        "app_user reg.r: its content does not match its seal (changed outside the application)",
        "patient P-A1: its content does not match its seal (changed outside the application)",
        f"alert {alert_id}: its content does not match its seal (changed outside the application)",
    ]
    s.execute(text("UPDATE alert_event SET seal = NULL"))
    s.commit()
    assert "not sealed" in verify_audit(s).problems[-1]


def test_verify_refuses_a_database_that_does_not_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review M10: a mistyped CGTVIGIL_OPERATIONAL_URL created an empty database and printed
    'Audit trail intact: 0 entries' with exit 0."""
    missing = tmp_path / "opertional.db"
    monkeypatch.setenv("CGTVIGIL_OPERATIONAL_URL", f"sqlite:///{missing}")
    for command in (["audit", "verify"], ["audit", "anchor", "--output", str(tmp_path / "a.json")]):
        result = runner.invoke(cli, command)
        assert result.exit_code == 2 and "no such database file" in result.output, result.output
    assert not missing.exists()
    other = tmp_path / "other.db"
    engine = operational_engine(f"sqlite:///{other}")
    engine.dispose()
    with engine.begin() as con:
        con.execute(text("UPDATE alembic_version SET version_num = '0002'"))
    engine.dispose()
    monkeypatch.setenv("CGTVIGIL_OPERATIONAL_URL", f"sqlite:///{other}")
    stale = runner.invoke(cli, ["audit", "verify"])
    assert stale.exit_code == 2 and "the schema is at revision 0002, not " in stale.output


def test_verify_with_the_deployments_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI reads the key from CGTVIGIL_AUDIT_KEY_FILE; a wrong key fails every entry."""
    key = tmp_path / "audit.key"
    key.write_text(KEY + "\n", "utf-8")
    url = f"sqlite:///{tmp_path / 'op.db'}"
    monkeypatch.setenv("CGTVIGIL_OPERATIONAL_URL", url)
    monkeypatch.setenv("CGTVIGIL_AUDIT_KEY_FILE", str(key))
    assert runner.invoke(cli, ["monitor", "gateway-add", "hub-1", "--site", "A"]).exit_code == 0
    ok = runner.invoke(cli, ["audit", "verify"])
    assert ok.exit_code == 0 and "keyed" in ok.output and "no audit key" not in ok.output
    key.write_text("another-key-of-at-least-32-characters!!", "utf-8")
    wrong = runner.invoke(cli, ["audit", "verify"])
    assert wrong.exit_code == 1 and "another audit key" in wrong.output
    monkeypatch.delenv("CGTVIGIL_AUDIT_KEY_FILE")
    assert "no audit key" in runner.invoke(cli, ["audit", "verify"]).output
    use_audit_key(None)


def test_typed_text_is_capped_and_escaped() -> None:
    assert typed_text("dr.ben") == "dr.ben"
    assert typed_text("a\nb\x00c\u202e") == "a\\u000ab\\u0000c\\u202e"
    long = typed_text("x" * 300, 64)
    assert len(long) == 64 and long.endswith("…(300 characters)")
