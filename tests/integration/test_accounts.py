"""The account life-cycle and log-in throttling (issue 10 items 3 and 4; security review H3,
H4, M9, L2): accounts checked against the registry, passwords set only by their user with a
one-time code, resets, deactivation, unlock; growing delays instead of a lock-out anyone could
trigger; one argon2 verification per attempt whatever the outcome; the `cgtvigil users`
commands and `cgtvigil monitor gateway-revoke`. SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Literal

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from typer.testing import CliRunner

from cgtvigil.access import (
    SessionPolicy,
    ThrottlePolicy,
    authenticate,
    create_user,
    deactivate_user,
    issue_setup_code,
    open_session,
    session_user,
    set_password_with_code,
    unlock_user,
    update_user,
)
from cgtvigil.audit import verify_audit
from cgtvigil.cli import app as cli
from cgtvigil.errors import ValidationError
from cgtvigil.store import AuditRow, GatewayRow, PatientRow, TreatmentRow, UserRow, operational_engine, session_factory

PASSWORD = "correct horse battery staple"
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
runner = CliRunner()


@pytest.fixture
def session(operational_url: str):  # type: ignore[no-untyped-def]
    engine = operational_engine(operational_url)
    with session_factory(engine)() as s:
        s.add_all([PatientRow(id="P-A1", site="Site-A"), PatientRow(id="P-B1", site="Site-B")])
        s.add(TreatmentRow(patient_id="P-A1", product_id="kymriah", infusion_date=date(2026, 11, 1)))
        s.add(GatewayRow(name="hub-c", token_sha256="0" * 64, site="Site-C", active=True))
        s.commit()
        yield s
    engine.dispose()


def test_accounts_are_checked_against_the_registry(session) -> None:  # type: ignore[no-untyped-def]
    """Review M9: free-text site, products and patient left accounts seeing nothing, and a
    patient account linked to a mistyped id sent alerts nowhere (H2)."""
    with pytest.raises(ValidationError) as info:
        create_user(session, username="inv.x", role="site_investigator", at=T0, site="site-a", patient_id="P-A1")
    assert info.value.problems == [
        "A site investigator has no patient id; leave it empty. Got 'P-A1'.",
        "The site 'site-a' has no registered patient or gateway; did you mean 'Site-A'?",
    ]
    with pytest.raises(ValidationError) as info:
        create_user(session, username="sci.x", role="safety_scientist", at=T0, sponsor_products=("Yescarta", "nope"))
    assert info.value.problems[0] == "Unknown product id 'Yescarta'; the id of 'Yescarta' is 'yescarta'."
    assert info.value.problems[1].startswith("Unknown product id 'nope' (product dictionary ")
    with pytest.raises(ValidationError, match="'NOPE-1' is not registered"):
        create_user(session, username="ghost.patient", role="patient", at=T0, patient_id="NOPE-1")
    create_user(session, username="pat.a1", role="patient", at=T0, patient_id="P-A1")
    with pytest.raises(ValidationError, match=r"'P-A1' already has the account 'pat\.a1'"):
        create_user(session, username="dup.patient", role="patient", at=T0, patient_id="P-A1")
    inv = create_user(session, username="inv.c", role="site_investigator", at=T0, site="Site-C")  # a gateway's site
    with pytest.raises(ValidationError, match="'Site-Z' has no registered patient"):
        update_user(session, "inv.c", at=T0, actor="admin", role="site_investigator", site="Site-Z")
    update_user(session, "inv.c", at=T0, actor="admin", role="site_investigator", site="Site-B")
    assert inv.site == "Site-B"
    create_user(session, username="admin.one", password=PASSWORD, role="administrator", at=T0)
    with pytest.raises(ValidationError, match="last active administrator"):
        deactivate_user(session, "admin.one", at=T0, actor="admin.one")


def test_users_set_their_own_password_with_a_one_time_code(session) -> None:  # type: ignore[no-untyped-def]
    """21 CFR Part 11 §11.10(d), §11.300: the administrator never knows the password. A new
    account cannot log in until its user sets a password; a reset stops the old password and
    ends the sessions; a code works once, for its user, until it expires."""
    user = create_user(session, username="reg.r", role="regulator_reviewer", at=T0)
    assert authenticate(session, "reg.r", "", T0).outcome == "no password"
    code = issue_setup_code(session, "reg.r", at=T0, actor="admin")
    with pytest.raises(ValidationError, match="wrong, used or expired"):
        set_password_with_code(session, "inv.other", code, PASSWORD, at=T0)  # another user's name
    with pytest.raises(ValidationError, match="at least 12 characters"):
        set_password_with_code(session, "reg.r", code, "short", at=T0)
    set_password_with_code(session, "reg.r", code, PASSWORD, at=T0 + timedelta(minutes=1))
    with pytest.raises(ValidationError, match="wrong, used or expired"):
        set_password_with_code(session, "reg.r", code, PASSWORD + "!", at=T0 + timedelta(minutes=2))
    assert authenticate(session, "reg.r", PASSWORD, T0 + timedelta(minutes=3)).user is user
    policy = SessionPolicy()
    live = open_session(session, user, T0 + timedelta(minutes=3), policy)
    reset = issue_setup_code(session, "reg.r", at=T0 + timedelta(minutes=4), actor="admin", reset=True)
    assert session_user(session, live, T0 + timedelta(minutes=5), policy) is None
    assert authenticate(session, "reg.r", PASSWORD, T0 + timedelta(minutes=5)).outcome == "no password"
    with pytest.raises(ValidationError, match="wrong, used or expired"):
        set_password_with_code(session, "reg.r", reset, PASSWORD, at=T0 + timedelta(days=4))  # 72 hours
    session.commit()
    actions = [(a.action, a.actor) for a in session.scalars(select(AuditRow).where(AuditRow.target == "user:reg.r"))]
    assert ("user.setup_password", "reg.r") in actions and ("user.reset", "admin") in actions
    assert ("user.setup_password", "anonymous") in actions  # the refused attempts are audited too


@pytest.fixture
def cheap_argon2(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """argon2 with its smallest cost, for tests of what happens around it (dozens of attempts)."""
    from cgtvigil.access import _passwords

    monkeypatch.setattr(_passwords, "_HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    _passwords._dummy_hash.cache_clear()
    yield
    _passwords._dummy_hash.cache_clear()


def test_throttling_slows_attackers_without_locking_the_owner_out(session, cheap_argon2) -> None:  # type: ignore[no-untyped-def]
    """Review H3: five anonymous wrong passwords locked any account for 15 minutes, again and
    again. Now the delays double per failure up to a minute for the account (its owner waits at
    most that), while the attacker's address slows to one attempt per quarter hour; unknown
    names are throttled alike (nothing tells which names exist); an unlock clears at once."""
    policy = ThrottlePolicy()
    user = create_user(session, username="inv.a", password=PASSWORD, role="site_investigator", at=T0, site="Site-A")
    t = T0
    waits = []
    for k in range(12):  # an attacker who always waits out the account's delay
        result = authenticate(session, "inv.a", "guess", t, client=f"10.0.0.{k}", policy=policy)
        assert result.outcome == "wrong password"
        delay = policy.delay(k + 1, policy.free_failures, policy.account_cap)
        waits.append(delay.total_seconds())
        t += delay + timedelta(seconds=1)
    assert waits == [0, 0, 0, 0, 2, 4, 8, 16, 32, 60, 60, 60]
    # the owner, at another address, at worst waits the minute out
    assert (
        authenticate(session, "inv.a", PASSWORD, t - timedelta(seconds=30), client="192.0.2.7").outcome == "throttled"
    )
    assert authenticate(session, "inv.a", PASSWORD, t, client="192.0.2.7").user is user
    # one address guessing many names is slowed by the address rule (20 free, then doubling)
    for k in range(21):
        authenticate(session, f"name{k}", "guess", t + timedelta(seconds=k), client="198.51.100.9", policy=policy)
    blocked = authenticate(session, "inv.a", PASSWORD, t + timedelta(seconds=21), client="198.51.100.9")
    assert (blocked.outcome, blocked.wait_seconds) == ("throttled", 3)
    for k in range(5):
        authenticate(session, "nobody.here", "guess", t + timedelta(seconds=k), client="203.0.113.5")
    assert authenticate(session, "nobody.here", "guess", t + timedelta(seconds=5), client="203.0.113.5").outcome == (
        "throttled"
    )
    for k in range(5):
        authenticate(session, "inv.a", "guess", t + timedelta(seconds=30 + k), client="203.0.113.6")
    unlock_user(session, "inv.a", at=t, actor="admin")
    assert authenticate(session, "inv.a", PASSWORD, t + timedelta(seconds=35), client="203.0.113.6").user is user
    assert authenticate(session, "inv.a", PASSWORD, t + timedelta(hours=2), client="198.51.100.9").user is user


def test_one_argon2_verification_whatever_the_outcome(session, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """Review L2: an unknown user answered in 3 ms, a wrong password in 127 ms (argon2 ran for
    known users only). Every attempt now runs exactly one (real) argon2 verification."""
    from cgtvigil.access import _passwords

    calls: list[str] = []

    class Counting(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            calls.append(str(password))
            return super().verify(hash, password)

    monkeypatch.setattr(_passwords, "_HASHER", Counting())
    create_user(session, username="inv.a", password=PASSWORD, role="site_investigator", at=T0, site="Site-A")
    create_user(session, username="inv.gone", password=PASSWORD, role="site_investigator", at=T0, site="Site-A")
    deactivate_user(session, "inv.gone", at=T0, actor="admin")
    outcomes = []
    for k, (name, password) in enumerate(
        [("nobody", "x"), ("inv.a", "x"), ("inv.gone", PASSWORD), ("inv.a", PASSWORD)] + [("inv.a", "x")] * 6
    ):
        outcomes.append(authenticate(session, name, password, T0 + timedelta(seconds=k), client="a").outcome)
    assert outcomes[:4] == ["unknown user", "wrong password", "inactive", "success"]
    assert outcomes[-1] == "throttled"
    assert len(calls) == len(outcomes)


def _token(out: str) -> str:
    m = re.search(r"code=([A-Za-z0-9_-]+)", out)
    assert m, out
    return m.group(1)


def test_users_and_gateway_commands(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """A fresh deployment creates its first administrator without SQL; users are added,
    reset, unlocked and deactivated from the CLI; a gateway token is revoked at once."""
    url = f"sqlite:///{tmp_path / 'op.db'}"
    monkeypatch.setenv("CGTVIGIL_OPERATIONAL_URL", url)
    first = runner.invoke(cli, ["users", "create-admin", "chief.admin", "--password-stdin"], input=PASSWORD + "\n")
    assert first.exit_code == 0, first.output
    again = runner.invoke(cli, ["users", "create-admin", "other.admin", "--password-stdin"], input=PASSWORD + "\n")
    assert again.exit_code == 2 and "exists already" in again.output
    runner.invoke(
        cli,
        ["monitor", "patient-add", "P-1", "--site", "Site-A", "--product", "kymriah", "--infusion-date", "2026-11-01"],
    )
    added = runner.invoke(cli, ["users", "add", "inv.a", "--role", "site_investigator", "--site", "Site-A"])
    assert added.exit_code == 0 and "One-time code for inv.a" in added.output, added.output
    typo = runner.invoke(cli, ["users", "add", "inv.b", "--role", "site_investigator", "--site", "site-a"])
    assert typo.exit_code == 2 and "did you mean 'Site-A'?" in typo.output
    engine = operational_engine(url)
    with session_factory(engine)() as s:
        set_password_with_code(s, "inv.a", _token(added.output), PASSWORD, at=datetime.now(UTC))
        for _ in range(6):
            authenticate(s, "inv.a", "guess", datetime.now(UTC), client="x")
        s.commit()
    listed = runner.invoke(cli, ["users", "list"])
    assert "slowed" in listed.output and "chief.admin" in listed.output
    assert "failed log-ins cleared" in runner.invoke(cli, ["users", "unlock", "inv.a"]).output
    reset = runner.invoke(cli, ["users", "reset", "inv.a"])
    assert reset.exit_code == 0 and "no longer works" in reset.output and _token(reset.output)
    assert runner.invoke(cli, ["users", "deactivate", "inv.a"]).exit_code == 0
    assert "deactivated" in runner.invoke(cli, ["users", "list"]).output
    gateway = runner.invoke(cli, ["monitor", "gateway-add", "hub-1", "--site", "Site-A"])
    token = gateway.output.strip().splitlines()[-1]
    from cgtvigil.api import create_app
    from cgtvigil.config import Settings

    app = create_app(Settings(operational_url=url, secret_key="k"))
    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {token}"}
        assert client.post("/api/v1/ingest/omh", json=[], headers=auth).status_code != 401
        assert runner.invoke(cli, ["monitor", "gateway-revoke", "hub-1"]).exit_code == 0
        assert client.post("/api/v1/ingest/omh", json=[], headers=auth).status_code == 401
    assert runner.invoke(cli, ["monitor", "gateway-revoke", "hub-1"]).exit_code == 2
    with session_factory(engine)() as s:
        actions = [a.action for a in s.scalars(select(AuditRow).order_by(AuditRow.id))]
    for action in ("user.create", "user.setup_code", "user.unlock", "user.reset", "user.deactivate", "gateway.revoke"):
        assert action in actions
    app.state.engine.dispose()
    engine.dispose()


def test_concurrent_log_ins_across_workers(operational_url: str, cheap_argon2) -> None:  # type: ignore[no-untyped-def]
    """Eight threads (standing for server workers, each with its own connections) fail and
    succeed log-ins for one account at once: no error, every failure counted once, and every
    successful log-in gets its own live session."""
    import threading

    from sqlalchemy import func

    from cgtvigil.store import LoginThrottleRow, SessionRow

    engine = operational_engine(operational_url)
    sessions = session_factory(engine)
    with sessions() as s:
        s.add(PatientRow(id="P-A1", site="Site-A"))
        create_user(s, username="inv.a", password=PASSWORD, role="site_investigator", at=T0, site="Site-A")
        s.commit()
    errors: list[Exception] = []
    policy = ThrottlePolicy(free_failures=100, address_free_failures=100)

    def worker(k: int) -> None:
        try:
            for i in range(4):
                with sessions() as s:
                    at = T0 + timedelta(seconds=i)
                    ok = authenticate(s, "inv.a", PASSWORD if i == 3 else "guess", at, client=f"w{k}", policy=policy)
                    if ok.user is not None:
                        open_session(s, ok.user, at, SessionPolicy(), client=f"w{k}")
                    s.commit()
        except (SQLAlchemyError, TimeoutError) as exc:  # collected and asserted below, in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with sessions() as s:
        addresses = s.scalars(select(LoginThrottleRow.failures).where(LoginThrottleRow.key.startswith("address:")))
        assert sorted(addresses) == [3] * 8
        assert s.scalar(select(func.count()).select_from(SessionRow).where(SessionRow.username == "inv.a")) == 8
        assert verify_audit(s).ok
    engine.dispose()


def test_a_stolen_session_cannot_guess_the_password(session, cheap_argon2) -> None:  # type: ignore[no-untyped-def]
    """The current password on the change page is checked under the log-in throttle: someone
    using a logged-in browser cannot try passwords there without limit."""
    from cgtvigil.access import change_password

    create_user(session, username="inv.a", password=PASSWORD, role="site_investigator", at=T0, site="Site-A")
    for k in range(5):
        with pytest.raises(ValidationError, match="current password is wrong"):
            change_password(session, "inv.a", f"guess {k}", PASSWORD + "!", at=T0 + timedelta(seconds=k), client="x")
    with pytest.raises(ValidationError, match="Too many failed password checks: wait 2 s"):
        change_password(session, "inv.a", PASSWORD, PASSWORD + "!", at=T0 + timedelta(seconds=4.5), client="x")
    change_password(session, "inv.a", PASSWORD, PASSWORD + "!", at=T0 + timedelta(seconds=7), client="x")
    assert authenticate(session, "inv.a", PASSWORD + "!", T0 + timedelta(seconds=8)).outcome == "success"


def test_users_products_option_is_repeatable(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """Issue 8 §3 option audit: `users add --products` given twice kept only the last value;
    now repeated and comma-separated values add up."""
    url = f"sqlite:///{tmp_path / 'op.db'}"
    monkeypatch.setenv("CGTVIGIL_OPERATIONAL_URL", url)
    args = ["users", "add", "sci.a", "--role", "safety_scientist", "--products", "kymriah", "--products", "yescarta"]
    added = runner.invoke(cli, args)
    assert added.exit_code == 0, added.output
    engine = operational_engine(url)
    with session_factory(engine)() as s:
        user = s.scalars(select(UserRow).where(UserRow.username == "sci.a")).one()
        assert sorted(user.sponsor_products or []) == ["kymriah", "yescarta"]
    engine.dispose()
