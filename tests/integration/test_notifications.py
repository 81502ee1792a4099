"""Alerts reach a person (issue 10 item 2; security review H2, M9): every patient with an open
alert is on the monitoring board whatever the day after infusion, an administrator opens alerts
of ids missing from the registry, a patient account needs a registered patient, and the ePRO
page says "alerted" only when a notification was delivered. Deliveries go through a real SMTP
server (aiosmtpd) and a real HTTP receiver, both started here on 127.0.0.1; each attempt is
recorded, audited, retried and shown. SQLite and PostgreSQL."""

from __future__ import annotations

import email
import email.policy
import functools
import hashlib
import hmac
import json
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import select

from cgtvigil.access import create_user, update_user
from cgtvigil.api import create_app
from cgtvigil.audit import append_audit, verify_audit
from cgtvigil.config import Settings
from cgtvigil.errors import ValidationError
from cgtvigil.monitoring import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    MonitoringRules,
    Notifier,
    RetryPolicy,
    SmtpServer,
    configure_channel,
    deliver_due,
    raise_alert,
    register_patient,
    resolve,
)
from cgtvigil.store import (
    AlertRow,
    AuditRow,
    NotificationAttemptRow,
    NotificationRow,
    UserRow,
    load_products,
    operational_engine,
    session_factory,
)

PASSWORD = "correct horse battery staple"
NOW = datetime.now(UTC) - timedelta(hours=6)  # the injected clock, not the wall clock, decides what is due


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Inbox:
    """A real SMTP server on 127.0.0.1 (aiosmtpd) keeping what it receives."""

    port: int
    messages: list[Any] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    box = Inbox(_free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    yield box
    controller.stop()


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 answering webhooks with the next planned status."""

    url: str
    statuses: list[int]
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver("", [])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.received.append((dict(self.headers), body))
            self.send_response(state.statuses.pop(0) if state.statuses else 204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@functools.cache
def _password_hash() -> str:
    """One argon2 hash for every account of this module (hashing costs ~0.2 s each)."""
    return PasswordHasher().hash(PASSWORD)  # what cgtvigil.access stores (argon2-cffi's defaults)


def _register(session: Any, patient: str, site: str, days_ago: int) -> None:
    register_patient(
        session,
        load_products(),
        patient=patient,
        site=site,
        product="yescarta",
        infusion_date=datetime.now(UTC).date() - timedelta(days=days_ago),  # the board counts days from today
    )


@pytest.fixture
def app(operational_url: str, tmp_path: Any) -> Iterator[Any]:
    settings = Settings(
        db=tmp_path / "none.duckdb",
        screen_result=tmp_path / "none.parquet",
        operational_url=operational_url,
        secret_key="test-key",
        escalation_interval=None,  # the rounds of these tests are run by hand
    )
    application = create_app(settings)
    with application.state.sessions() as s:
        _register(s, "SYN-RECENT", "Site-A", 3)
        _register(s, "LATE-1", "Site-A", 45)  # late toxicity: outside the day 0-30 window
        _register(s, "LTFU-1", "Site-A", 400)  # long-term follow-up, no open alert
        _register(s, "SYN-B", "Site-B", 2)
        for name, role, extra in (
            ("inv.user", "site_investigator", {"site": "Site-A"}),
            ("invb.user", "site_investigator", {"site": "Site-B"}),
            ("adm.user", "administrator", {}),
            ("late.patient", "patient", {"patient_id": "LATE-1"}),
        ):
            user = create_user(s, username=name, role=role, at=NOW, **extra)
            user.password_hash, user.password_changed_at = _password_hash(), NOW.replace(tzinfo=None)
        s.commit()
    yield application
    application.state.engine.dispose()


def _csrf(page: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', page)
    assert m, "no CSRF token in the page"
    return m.group(1)


def _login(client: TestClient, username: str) -> None:
    r = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf": _csrf(client.get("/login").text)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


def _board_ids(page: str) -> list[str]:
    board = page[page.index('id="board"') :]
    return re.findall(r'<a href="/patients/([^"]+)">', board)


def test_board_lists_every_patient_with_an_open_alert_whatever_the_day(app: Any) -> None:
    """Review H2 reproduction 2: a critical alert 45 days after infusion was on no board."""
    with app.state.sessions() as s:
        raise_alert(s, "LATE-1", "epro_cgt_seizure", "critical", "seizure reported", NOW, MonitoringRules())
        s.commit()
    with TestClient(app) as client:
        for user, expected in (
            ("inv.user", ["LATE-1", "SYN-RECENT"]),  # the alerted patient first, then the recent window
            ("adm.user", ["LATE-1", "SYN-B", "SYN-RECENT"]),
        ):
            _login(client, user)
            page = client.get("/monitoring").text
            assert _board_ids(page) == expected
            assert "LTFU-1" not in page  # infused 400 days ago, nothing open: not listed
            assert re.search(r"LATE-1</a></td><td>Site-A</td><td>Yescarta</td><td>45</td><td>1</td><td>critical", page)
            client.post("/logout", data={"csrf": _csrf(page)})
        _login(client, "invb.user")
        assert _board_ids(client.get("/monitoring").text) == ["SYN-B"]  # scope kept: Site-B sees its own only


def test_alerts_of_an_id_missing_from_the_registry_reach_the_administrator(app: Any) -> None:
    """Review H2 reproduction 1: alerts stored for NOPE-1 (an account linked to a typo, before
    accounts were checked) appeared on no board, and /patients/NOPE-1 was 404 for the admin."""
    with app.state.sessions() as s:
        raise_alert(s, "NOPE-1", "epro_cgt_seizure", "critical", "seizure reported", NOW, MonitoringRules())
        s.commit()
    with TestClient(app) as client:
        _login(client, "adm.user")
        board = client.get("/monitoring").text
        assert 'id="unregistered"' in board and '<a href="/patients/NOPE-1">' in board
        page = client.get("/patients/NOPE-1")
        assert page.status_code == 200
        assert "not in the registry" in page.text and "seizure reported" in page.text
        assert "Nobody was notified" in page.text
        client.post("/logout", data={"csrf": _csrf(page.text)})
        _login(client, "inv.user")
        assert client.get("/patients/NOPE-1").status_code == 404  # no site's investigator sees it
        assert 'id="unregistered"' not in client.get("/monitoring").text


def test_a_patient_account_needs_a_registered_patient(app: Any) -> None:
    """Review M9 (root cause of H2): a patient account for a mistyped id was accepted."""
    with app.state.sessions() as s:
        with pytest.raises(ValidationError, match="'NOPE-1' is not registered"):
            create_user(s, username="ghost.patient", password=PASSWORD, role="patient", patient_id="NOPE-1", at=NOW)
        with pytest.raises(ValidationError, match="'NOPE-1' is not registered"):
            update_user(s, "late.patient", at=NOW, actor="adm.user", role="patient", patient_id="NOPE-1")


def test_epro_of_an_account_linked_to_no_registered_patient_is_not_called_alerted(app: Any) -> None:
    """An account left from before the check, linked to NOPE-1, reports a seizure: nothing is
    stored for a patient nobody follows, and the patient is told to call (was: "your care team
    ... have been alerted")."""
    with app.state.sessions() as s:
        s.get(UserRow, "late.patient").patient_id = "NOPE-1"
        s.commit()
    with TestClient(app) as client:
        _login(client, "late.patient")
        r = client.post("/epro", data={"csrf": _csrf(client.get("/epro").text), "cgt_seizure": "1"})
    assert r.status_code == 200
    assert "could not be recorded" in r.text and "call your treating centre now" in r.text
    assert "alerted" not in r.text.replace("could be alerted", "")
    with app.state.sessions() as s:
        assert s.scalars(select(AlertRow).where(AlertRow.patient_id == "NOPE-1")).all() == []


def test_epro_says_alerted_only_after_a_delivered_email(
    app: Any, inbox: Inbox, operational_url: str, tmp_path: Any
) -> None:
    """Without a channel the seizure report is received and the page names who will see it; with
    an e-mail channel of Site-A the local SMTP server gets the alert before the page answers."""
    with TestClient(app) as client:
        _login(client, "late.patient")
        r = client.post("/epro", data={"csrf": _csrf(client.get("/epro").text), "cgt_seizure": "1"})
        assert "have been alerted" not in r.text
        assert "care team at Site-A will see them on their monitoring board" in r.text
        assert "nobody could be alerted directly yet" in r.text

    with app.state.sessions() as s:
        configure_channel(s, site="Site-A", kind="email", target="oncall@site-a.test", at=NOW, actor="adm.user")
        (earlier,) = s.scalars(select(AlertRow).where(AlertRow.patient_id == "LATE-1")).all()
        resolve(s, earlier.id, "inv.user", NOW)  # the next report opens a new alert
        s.commit()
    settings = Settings(
        db=tmp_path / "none.duckdb",
        screen_result=tmp_path / "none.parquet",
        operational_url=operational_url,
        secret_key="test-key",
        escalation_interval=None,
        smtp_host="127.0.0.1",
        smtp_port=inbox.port,
        smtp_security="none",
        smtp_sender="cgtvigil@site-a.test",
        public_url="https://cgtvigil.site-a.test",
    )
    second = create_app(settings)
    with TestClient(second) as client:
        _login(client, "late.patient")
        r = client.post("/epro", data={"csrf": _csrf(client.get("/epro").text), "cgt_seizure": "1"})
        assert "care team at Site-A, who have been alerted" in r.text
    assert len(inbox.messages) == 1
    mail = inbox.messages[0]
    assert mail.rcpt_tos == ["oncall@site-a.test"]
    message = email.message_from_bytes(mail.content, policy=email.policy.default)
    text = f"{message['Subject']}\n{message.get_content()}"
    assert "CRITICAL alert, patient LATE-1 (Site-A)" in text
    assert "https://cgtvigil.site-a.test/patients/LATE-1" in text
    with second.state.sessions() as s:
        (n,) = s.scalars(select(NotificationRow)).all()
        assert (n.kind, n.recipient, n.status, n.attempts) == ("email", "oncall@site-a.test", "sent", 1)
        (entry,) = s.scalars(select(AuditRow).where(AuditRow.action == "notification.sent")).all()
        assert entry.detail["recipient"] == "oncall@site-a.test" and entry.detail["status"] == "sent"
        assert verify_audit(s).ok
    second.state.engine.dispose()


def test_signed_webhook_failed_delivery_is_retried_and_shown(app: Any, receiver: Receiver) -> None:
    """The receiver answers 500 first: the attempt is recorded with its error, audited, shown on
    the patient page and the board, and sent again after the retry delay; the signature is the
    HMAC-SHA256 of "<timestamp>.<body>" under the channel's secret."""
    with app.state.sessions() as s:
        _, secret = configure_channel(s, site="Site-A", kind="webhook", target=receiver.url, at=NOW, actor="adm.user")
        alert, _ = raise_alert(s, "LATE-1", "epro_cgt_seizure", "critical", "seizure reported", NOW, MonitoringRules())
        s.commit()
    receiver.statuses = [500]
    notifier = Notifier(audit=append_audit, worker="test-worker")
    (first,) = deliver_due(app.state.sessions, notifier, NOW)
    assert (first.status, first.error, first.attempts) == ("retrying", "the receiver answered HTTP 500", 1)
    assert deliver_due(app.state.sessions, notifier, NOW + timedelta(seconds=30)) == []  # not due yet
    with TestClient(app) as client:
        _login(client, "inv.user")
        page = client.get("/patients/LATE-1").text
        assert "not delivered</b> after 1 attempt (the receiver answered HTTP 500)" in page
        assert 'class="notified-retrying">retrying<' in client.get("/monitoring").text
    (second,) = deliver_due(app.state.sessions, notifier, NOW + timedelta(minutes=2))
    assert (second.status, second.attempts) == ("sent", 2)

    headers, body = receiver.received[-1]
    stamp = headers[TIMESTAMP_HEADER]
    expected = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] == f"sha256={expected}"
    payload = json.loads(body)
    assert (payload["alert"], payload["patient"], payload["site"], payload["severity"]) == (
        alert.id,
        "LATE-1",
        "Site-A",
        "critical",
    )
    assert payload["first_seen"].endswith("Z")
    with app.state.sessions() as s:
        attempts = s.scalars(select(NotificationAttemptRow).order_by(NotificationAttemptRow.id)).all()
        assert [(a.status, a.error, a.worker) for a in attempts] == [
            ("error", "the receiver answered HTTP 500", "test-worker"),
            ("sent", "", "test-worker"),
        ]
        actions = [a.action for a in s.scalars(select(AuditRow).order_by(AuditRow.id))]
        assert actions.count("notification.error") == 1 and actions.count("notification.sent") == 1


def test_an_unreachable_mail_server_is_given_up_after_the_last_attempt_and_shown(app: Any) -> None:
    """Nothing listens on the mail server's port: every attempt records the refusal; after the
    last one the notification is failed, and the board and the patient page say so."""
    with app.state.sessions() as s:
        configure_channel(s, site="Site-A", kind="email", target="oncall@site-a.test", at=NOW, actor="adm.user")
        raise_alert(s, "LATE-1", "epro_cgt_seizure", "critical", "seizure reported", NOW, MonitoringRules())
        s.commit()
    notifier = Notifier(
        smtp=SmtpServer(host="127.0.0.1", port=_free_port(), security="none"),
        audit=append_audit,
        retry=RetryPolicy(max_attempts=2, first_delay=timedelta(minutes=1)),
        timeout=2.0,
    )
    (first,) = deliver_due(app.state.sessions, notifier, NOW)
    assert first.status == "retrying" and "ConnectionRefusedError" in first.error
    (last,) = deliver_due(app.state.sessions, notifier, NOW + timedelta(minutes=5))
    assert (last.status, last.attempts) == ("failed", 2)
    assert deliver_due(app.state.sessions, notifier, NOW + timedelta(hours=5)) == []
    with TestClient(app) as client:
        _login(client, "inv.user")
        assert "<b>failed</b> after 2 attempts (ConnectionRefusedError" in client.get("/patients/LATE-1").text
        assert 'class="notified-failed">failed<' in client.get("/monitoring").text


def test_channels_are_checked_against_the_registry(operational_url: str) -> None:
    """A channel for a mistyped site would send nothing to anyone; plain http leaves this host."""
    engine = operational_engine(operational_url)
    with session_factory(engine)() as s:
        _register(s, "P1", "Site-A", 1)
        with pytest.raises(ValidationError) as caught:
            configure_channel(s, site="site-a", kind="webhook", target="http://example.org/x", at=NOW, actor="t")
        assert str(caught.value).count("\n") >= 2
        assert "did you mean 'Site-A'?" in str(caught.value) and "must use https" in str(caught.value)
        with pytest.raises(ValidationError, match="must look like name@host"):
            configure_channel(s, site="*", kind="email", target="not an address", at=NOW, actor="t")
    engine.dispose()


def test_notify_config_command(operational_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`cgtvigil monitor notify-config add|list|disable`: problems in one message, the webhook
    secret printed once (never audited), every change audited."""
    from typer.testing import CliRunner

    from cgtvigil.cli import app as cli

    engine = operational_engine(operational_url)
    with session_factory(engine)() as s:
        _register(s, "P1", "Site-A", 1)
        s.commit()
    monkeypatch.setenv("CGTVIGIL_OPERATIONAL_URL", operational_url)
    runner = CliRunner()
    bad = runner.invoke(cli, ["monitor", "notify-config", "add", "--site", "site-a", "--email", "x"])
    assert bad.exit_code == 2 and "did you mean 'Site-A'?" in bad.output and "name@host" in bad.output
    both = runner.invoke(cli, ["monitor", "notify-config", "add", "--site", "Site-A"])
    assert both.exit_code == 2 and "exactly one of --email or --webhook" in both.output
    added = runner.invoke(
        cli, ["monitor", "notify-config", "add", "--site", "Site-A", "--webhook", "https://pager.site-a.test/hook"]
    )
    assert added.exit_code == 0, added.output
    secret = added.output.strip().splitlines()[-1]
    assert len(secret) >= 40
    listed = runner.invoke(cli, ["monitor", "notify-config", "list"], env={"COLUMNS": "200"})
    assert "https://pager.site-a.test/hook" in listed.output and secret not in listed.output
    assert runner.invoke(cli, ["monitor", "notify-config", "disable", "1"]).exit_code == 0
    again = runner.invoke(cli, ["monitor", "notify-config", "disable", "1"])
    assert again.exit_code == 2 and "no active notification channel 1" in again.output
    with session_factory(engine)() as s:
        entries = s.scalars(select(AuditRow).where(AuditRow.action.like("notification.channel.%"))).all()
        assert [e.action for e in entries] == ["notification.channel.add", "notification.channel.disable"]
        assert secret not in json.dumps([e.detail for e in entries])
        assert verify_audit(s).ok  # the channel rows are sealed
    engine.dispose()
