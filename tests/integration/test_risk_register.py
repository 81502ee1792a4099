"""The risk register (issue 15): the shipped starting registers, versioned edits with their
changes risk by risk and the audit trail, the scope of who reads and edits, a validated signal
opening and changing a risk (the link kept both ways), and the `cgtvigil risk` commands; on
SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from cgtvigil.access import scope_for
from cgtvigil.audit import verify_audit
from cgtvigil.cli import app
from cgtvigil.errors import NotFoundError, NotInScopeError, ValidationError
from cgtvigil.risk_management import (
    Risk,
    current_register,
    parse_register,
    register_view,
    save_register,
    signal_opens_risk,
    starting_registers,
)
from cgtvigil.store import AuditRow, RiskChangeRow, UserRow, load_products, operational_engine, session_factory

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
ADMIN = scope_for(UserRow(username="adm", role="administrator"))
SPONSOR = scope_for(UserRow(username="sci", role="safety_scientist", sponsor_products=["kymriah"]))
REVIEWER = scope_for(UserRow(username="reg", role="regulator_reviewer"))
runner = CliRunner()


def test_every_product_has_a_valid_starting_register() -> None:
    shipped = starting_registers()
    assert set(shipped.registers) == {p.id for p in load_products().products}
    kymriah = shipped.registers["kymriah"]
    # the CAR-T REMS ended on 26 Jun 2025 (domain.md §5.3, confirmed S14), its ETASU components kept
    etasu = next(e for e in kymriah.us_elements if e.kind == "etasu")
    assert etasu.effective_to == date(2025, 6, 26) and not etasu.unconfirmed
    assert {c.kind for c in etasu.components} == {"certified_settings", "training"}
    assert any(e.date == date(2025, 6, 26) and "REMS" in e.what for e in kymriah.history)
    # RMP categories come from the typical CAR-T list: unconfirmed, and said so
    assert all(r.unconfirmed for r in kymriah.risks)
    assert {r.category for r in kymriah.risks} == {"important_identified", "important_potential", "missing_information"}
    # Aucatzyl was never under the eliminated REMS
    assert not any(e.kind == "etasu" for e in shipped.registers["aucatzyl"].us_elements)


def test_a_broken_document_names_every_problem() -> None:
    doc = starting_registers().registers["zolgensma"].model_dump(mode="json")
    doc["eu_measures"][0]["risks"] = ["no_such_risk"]
    doc["us_elements"][0]["indicators"] = [{"indicator": "made_up", "target": 1}]
    with pytest.raises(ValidationError) as caught:
        parse_register(doc, where="edit.json")
    problems = caught.value.problems
    assert len(problems) == 2
    assert "unknown risk 'no_such_risk'" in problems[0] and "unknown indicator 'made_up'" in problems[1]


def test_edits_are_versions_with_changes_and_audit(operational_url: str) -> None:
    engine = operational_engine(operational_url)
    products = load_products()
    with session_factory(engine)() as s:
        assert current_register(s, "kymriah").version == 0  # shipped, nothing stored by a read
        reg = current_register(s, "kymriah").register
        assert save_register(s, SPONSOR, products, reg, at=NOW, note="unchanged").version == 0  # nothing written
        risks = (
            *(r.model_copy(update={"status": "closed"}) if r.key == "gvhd" else r for r in reg.risks),
            Risk(key="ici_colitis", name="Colitis", category="important_potential", unconfirmed=False, source="test"),
        )
        edited = reg.model_copy(update={"risks": risks})
        stored = save_register(s, SPONSOR, products, edited, at=NOW, note="GvHD closed; colitis added")
        s.commit()
        assert stored.version == 2 and stored.basis == "edit"
        again = save_register(s, SPONSOR, products, edited, at=NOW, note="same")
        assert again.version == 2  # nothing changed: no new version
        view = register_view(s, REVIEWER, products, "kymriah")
        assert [v.version for v in view.versions] == [1, 2] and view.versions[0].basis.startswith("shipped:")
        assert view.versions[1].by == "sci" and not view.editable
        v2 = [(c.risk_key, c.kind) for c in view.changes if c.version == 2]
        assert v2 == [("gvhd", "closed"), ("ici_colitis", "opened")]
        assert register_view(s, ADMIN, products, "kymriah", version=1).document == reg  # history kept whole
        audit = s.scalars(select(AuditRow).where(AuditRow.action == "risk_register.edit")).all()
        assert len(audit) == 1 and audit[0].detail["changes"] == ["closed:gvhd", "opened:ici_colitis"]
        assert verify_audit(s).ok
    engine.dispose()


def test_who_may_read_and_edit(operational_url: str) -> None:
    engine = operational_engine(operational_url)
    products = load_products()
    reg = starting_registers().registers["yescarta"]
    with session_factory(engine)() as s:
        with pytest.raises(NotInScopeError):  # a reviewer reads, never edits
            save_register(s, REVIEWER, products, reg, at=NOW, note="x")
        with pytest.raises(NotFoundError):  # another sponsor's product: as if it did not exist
            save_register(s, SPONSOR, products, reg, at=NOW, note="x")
        with pytest.raises(NotFoundError):
            register_view(s, SPONSOR, products, "yescarta")
        for role in ("site_investigator", "patient"):
            with pytest.raises(NotInScopeError):
                register_view(s, scope_for(UserRow(username="u", role=role, site="A", patient_id="P")), products, "x")
        assert register_view(s, REVIEWER, products, "yescarta").version == 0
    engine.dispose()


def test_a_validated_signal_opens_then_changes_a_risk(operational_url: str) -> None:
    engine = operational_engine(operational_url)
    products = load_products()
    new = Risk(key="parkinsonism", name="Parkinsonism", category="important_potential", topic="movement_disorders")
    with session_factory(engine)() as s:
        opened = signal_opens_risk(
            s, SPONSOR, products, signal_id=41, product_id="Kymriah", risk=new, at=NOW, rationale="validated cluster"
        )
        assert (opened.kind, opened.risk_ref) == ("opened", "kymriah/parkinsonism@v2")
        changed = signal_opens_risk(
            s,
            SPONSOR,
            products,
            signal_id=42,
            product_id="kymriah",
            risk=new.model_copy(update={"category": "important_identified"}),
            at=NOW,
            rationale="confirmed",
        )
        s.commit()
        assert (changed.kind, changed.version) == ("changed", 3)
        links = s.execute(
            select(RiskChangeRow.risk_key, RiskChangeRow.kind, RiskChangeRow.signal_id).where(
                RiskChangeRow.signal_id.is_not(None)
            )
        ).all()
        assert [tuple(r) for r in links] == [("parkinsonism", "opened", 41), ("parkinsonism", "changed", 42)]
        assert current_register(s, "kymriah").basis == "signal:42"
        with pytest.raises(ValidationError):
            signal_opens_risk(s, SPONSOR, products, signal_id=43, product_id="kymriah", risk=new, at=NOW, rationale="")
    engine.dispose()


def test_risk_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CGTVIGIL_OPERATIONAL_URL", f"sqlite:///{tmp_path / 'op.db'}")
    listing = runner.invoke(app, ["risk", "register"])
    assert listing.exit_code == 0 and "kymriah" in listing.stdout and "zolgensma" in listing.stdout
    shown = runner.invoke(app, ["risk", "show", "Zolgensma", "--json"])
    assert shown.exit_code == 0, shown.output
    doc = json.loads(shown.stdout)
    doc["notes"] = "checked against the label"
    f = tmp_path / "z.json"
    f.write_text(json.dumps(doc))
    done = runner.invoke(app, ["risk", "edit", "zolgensma", "--file", str(f), "--note", "notes"])
    assert done.exit_code == 0 and "register version 2 stored" in done.stdout
    assert "version 2" in runner.invoke(app, ["risk", "show", "zolgensma"]).stdout
    wrong = runner.invoke(app, ["risk", "edit", "kymriah", "--file", str(f), "--note", "x"])
    assert wrong.exit_code == 2 and "is the register of 'zolgensma'" in wrong.output
    f.write_text("{")
    bad = runner.invoke(app, ["risk", "edit", "zolgensma", "--file", str(f), "--note", "x"])
    assert bad.exit_code == 2 and "not JSON" in bad.output
    unknown = runner.invoke(app, ["risk", "show", "nonesuch"])
    assert unknown.exit_code == 2 and "no risk register for product 'nonesuch'" in unknown.output
