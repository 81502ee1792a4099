"""`cgtvigil signal` on a real SQLite operational store and the real 2017Q2 FAERS sample
screened (then re-screened with the 2004Q1 AERS quarter added): create from a screen row,
list, show, advance with a signature, attach, share, re-screen; one clear message and exit
code 2 for a wrong password or a refused step, never a traceback."""

from __future__ import annotations

import hashlib
import json
import warnings
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cgtvigil.access import create_user
from cgtvigil.cli import app
from cgtvigil.model import SignalSpec
from cgtvigil.screening import ingest_faers, screen_store, write_result
from cgtvigil.store import FaersStore, load_products, load_topics, operational_engine, session_factory

runner = CliRunner()
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def screens(tmp_path_factory: pytest.TempPathFactory, faers_samples: Path) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("signal-cli")
    out = []
    for i, name in enumerate(("faers_ascii_2017q2.zip", "aers_ascii_2004q1.zip"), start=1):
        with FaersStore(tmp / "faers.duckdb") as store:
            ingest_faers([faers_samples / name], store, load_products())
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a 100-report sample has many zero cells
                result = screen_store(store, SignalSpec(products_only=False, strata=()), load_products(), load_topics())
        write_result(result, tmp / f"screen{i}.parquet")
        out.append(tmp / f"screen{i}.parquet")
    return out[0], out[1]


@pytest.fixture
def cheap_argon2(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """argon2 at its smallest cost (test_accounts checks the real verification)."""
    from argon2 import PasswordHasher

    from cgtvigil.access import _passwords

    monkeypatch.setattr(_passwords, "_HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    _passwords._dummy_hash.cache_clear()
    yield
    _passwords._dummy_hash.cache_clear()


def _run(*args: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["signal", *args, "--password-stdin"], input=password + "\n")


def test_signal_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, screens: tuple[Path, Path], cheap_argon2: None
) -> None:
    url = f"sqlite:///{tmp_path / 'op.db'}"
    monkeypatch.setenv("CGTVIGIL_OPERATIONAL_URL", url)
    monkeypatch.setenv("CGTVIGIL_SCREEN_RESULT", str(screens[0]))
    engine = operational_engine(url)
    with session_factory(engine)() as s:
        now = datetime.now(UTC)
        create_user(s, username="adm.user", password=PASSWORD, role="administrator", at=now)
        create_user(s, username="reg.user", password=PASSWORD, role="regulator_reviewer", at=now)
        create_user(
            s, username="sci.user", password=PASSWORD, role="safety_scientist", at=now, sponsor_products=["kymriah"]
        )
        s.commit()
    engine.dispose()
    created = _run("create", "--user", "adm.user", "--from-screen", "risperidone", "--event", "GYNAECOMASTIA")
    assert created.exit_code == 0, created.output
    assert "Signal 1 created (risperidone, GYNAECOMASTIA)" in created.output
    wrong = _run("create", "--user", "adm.user", "--from-screen", "risperidone", "--event", "OBESITY", password="no")
    assert wrong.exit_code == 2 and "The password is wrong." in wrong.output and "Traceback" not in wrong.output
    both = _run("create", "--user", "adm.user", "--from-screen", "x", "--cases", "1", "--event", "E")
    assert both.exit_code == 2 and "exactly one of" in both.output

    listing = runner.invoke(app, ["signal", "list", "--user", "adm.user", "--json"])
    (row,) = json.loads(listing.output)
    assert (row["product_id"], row["state"], row["owner"]) == ("risperidone", "detection", "adm.user")
    # a drug outside the product dictionary belongs to no sponsor
    assert json.loads(runner.invoke(app, ["signal", "list", "--user", "sci.user", "--json"]).output) == []

    step = ["advance", "1", "--user", "adm.user", "--meaning", "review"]
    refused = _run(*step, "--to", "assessment", "--rationale", "skip")
    assert refused.exit_code == 2 and "moves to one of validation, closed" in refused.output
    unsigned = _run(*step, "--to", "validation", "--rationale", "case review started", password="wrong")
    assert unsigned.exit_code == 2 and "signature is refused" in unsigned.output
    ok = _run(*step, "--to", "validation", "--rationale", "case review started")
    assert ok.exit_code == 0 and "signed by adm.user (review)" in ok.output, ok.output

    doc = tmp_path / "case-review.txt"
    doc.write_text("six cases, all adolescents\n")
    attached = _run("attach", "1", "--user", "adm.user", "--kind", "document", "--file", str(doc))
    assert attached.exit_code == 0, attached.output
    lit = _run("attach", "1", "--user", "adm.user", "--kind", "literature", "--title", "Label", "--reference", "PMID:1")
    assert lit.exit_code == 0, lit.output

    assert _run("share", "1", "--user", "adm.user", "--reviewer", "reg.user").exit_code == 0
    seen = json.loads(runner.invoke(app, ["signal", "show", "1", "--user", "reg.user", "--json"]).output)
    assert [e["kind"] for e in seen["evidence"]] == ["screen_row", "document", "literature"]
    assert seen["evidence"][1]["sha256"] == hashlib.sha256(doc.read_bytes()).hexdigest()
    assert seen["can_write"] is False and seen["next_states"] == []
    denied = _run(*step[:2], "--user", "reg.user", "--meaning", "review", "--to", "closed", "--rationale", "x")
    assert denied.exit_code == 2 and "not create or change" in denied.output

    rescreen = _run("rescreen", "--user", "adm.user", "--screen", str(screens[1]), "--json")
    assert rescreen.exit_code == 0, rescreen.output
    report = json.loads(rescreen.output[rescreen.output.index("{") :])
    assert report["checked"] == 1 and report["changes"][0]["signal_id"] == 1
    shown = runner.invoke(app, ["signal", "show", "1", "--user", "adm.user"])
    assert shown.exit_code == 0 and "superseded" in shown.output and "(unconfirmed)" in shown.output

    closed = _run(*step, "--to", "closed", "--outcome", "refuted", "--rationale", "labelled, known ADR")
    assert closed.exit_code == 0 and "closed (refuted)" in closed.output, closed.output
    assert json.loads(runner.invoke(app, ["signal", "list", "--user", "adm.user", "--json"]).output) == []
    audit = runner.invoke(app, ["audit", "verify"])
    assert audit.exit_code == 0, audit.output
