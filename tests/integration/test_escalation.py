"""Escalation run by the server, not by hand (issue 10 item 2; security review H2): an alert
nobody acknowledged in time is escalated once and its escalation contacts are told, by the
scheduler inside the running application, by `cgtvigil monitor escalate` (the timer), and by
several of them at once (one database lock: each alert escalated and notified exactly once).
A real HTTP receiver on 127.0.0.1 stands for the site's paging system. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from cgtvigil.api import create_app
from cgtvigil.audit import append_audit, verify_audit
from cgtvigil.cli import app as cli
from cgtvigil.config import Settings
from cgtvigil.monitoring import (
    MonitoringRules,
    Notifier,
    acknowledge,
    configure_channel,
    escalate_overdue,
    raise_alert,
    register_patient,
    run_escalation,
)
from cgtvigil.store import (
    AlertEventRow,
    AlertRow,
    AuditRow,
    NotificationRow,
    load_products,
    operational_engine,
    session_factory,
)

T0 = datetime.now(UTC) - timedelta(hours=1)  # critical alerts are to be acknowledged within 15 minutes


@dataclass
class Pager:
    """A webhook receiver on 127.0.0.1 keeping the JSON bodies it gets."""

    url: str = ""
    bodies: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def pager() -> Iterator[Pager]:
    state = Pager()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with state.lock:
                state.bodies.append(body)
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/page"
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield state
    server.shutdown()
    server.server_close()


def _store(url: str, pager: Pager, alerts: int) -> Any:
    """Site-A with an everyday channel (from high) and an escalation-only channel (the pager),
    and ``alerts`` critical alerts raised at T0, none acknowledged."""
    engine = operational_engine(url)
    sessions = session_factory(engine)
    with sessions() as s:
        register_patient(
            s, load_products(), patient="LATE-1", site="Site-A", product="yescarta", infusion_date=T0.date()
        )
        configure_channel(s, site="Site-A", kind="webhook", target=pager.url, at=T0, actor="t", escalation_only=True)
        for i in range(alerts):
            raise_alert(s, "LATE-1", f"rule_{i}", "critical", f"finding {i}", T0, MonitoringRules())
        s.commit()
    return sessions


def test_an_overdue_alert_is_escalated_once_and_its_escalation_contacts_told(
    operational_url: str, pager: Pager
) -> None:
    """escalate_overdue existed but nothing called it; now one round escalates, audits and
    notifies, and the next round finds nothing to do. An acknowledged alert is not escalated."""
    sessions = _store(operational_url, pager, 2)
    with sessions() as s:
        acknowledge(s, 2, "inv.user", T0 + timedelta(minutes=5))
        s.commit()
    notifier = Notifier(audit=append_audit)
    first = run_escalation(sessions, notifier, T0 + timedelta(minutes=20))
    assert first.escalated == [1]
    assert [(d.alert_id, d.status) for d in first.deliveries] == [(1, "sent")]
    assert [(b["alert"], b["event"], b["status"]) for b in pager.bodies] == [(1, "escalated", "escalated")]
    again = run_escalation(sessions, notifier, T0 + timedelta(minutes=40))
    assert again.escalated == [] and again.deliveries == []
    with sessions() as s:
        assert s.get(AlertRow, 1).status == "escalated" and s.get(AlertRow, 2).status == "acknowledged"
        assert [a.target for a in s.scalars(select(AuditRow).where(AuditRow.action == "alert.escalate"))] == ["alert:1"]
        assert verify_audit(s).ok  # the escalated alert and its event are sealed by the application
    sessions.kw["bind"].dispose()


def test_concurrent_rounds_escalate_and_notify_each_alert_exactly_once(operational_url: str, pager: Pager) -> None:
    """Four workers run a round at the same moment over 12 overdue alerts (several server
    processes plus the timer): every alert gets one escalation event and one page."""
    sessions = _store(operational_url, pager, 12)
    barrier = threading.Barrier(4)

    def worker(n: int) -> Any:
        notifier = Notifier(audit=append_audit, worker=f"worker-{n}")
        barrier.wait()
        return run_escalation(sessions, notifier, T0 + timedelta(minutes=20))

    with ThreadPoolExecutor(4) as pool:
        rounds = list(pool.map(worker, range(4)))  # a worker's exception is raised here
    escalated = sorted(a for r in rounds for a in r.escalated)
    assert escalated == list(range(1, 13))
    assert sorted(b["alert"] for b in pager.bodies) == list(range(1, 13))
    with sessions() as s:
        events = s.scalar(select(func.count()).select_from(AlertEventRow).where(AlertEventRow.status == "escalated"))
        assert events == 12
        assert s.scalar(select(func.count()).select_from(NotificationRow).where(NotificationRow.status == "sent")) == 12
        assert verify_audit(s).ok
    sessions.kw["bind"].dispose()


def test_the_running_server_escalates_without_anyone_asking(operational_url: str, pager: Pager, tmp_path: Path) -> None:
    """The scheduler started by the app's lifespan escalates an overdue alert and pages the
    escalation contact while the server merely runs (no request is made)."""
    _store(operational_url, pager, 1).kw["bind"].dispose()
    settings = Settings(
        db=tmp_path / "none.duckdb",
        screen_result=tmp_path / "none.parquet",
        operational_url=operational_url,
        secret_key="test-key",
        escalation_interval=timedelta(seconds=0.2),
    )
    app = create_app(settings)
    with TestClient(app):
        deadline = time.monotonic() + 10
        while not pager.bodies and time.monotonic() < deadline:
            time.sleep(0.05)
    with app.state.sessions() as s:
        assert s.get(AlertRow, 1).status == "escalated"
    assert [(b["alert"], b["event"]) for b in pager.bodies] == [(1, "escalated")]
    app.state.engine.dispose()


def test_the_escalate_command_for_a_timer(operational_url: str, pager: Pager, monkeypatch: Any) -> None:
    """`cgtvigil monitor escalate` runs one round and says what it did."""
    _store(operational_url, pager, 1).kw["bind"].dispose()
    monkeypatch.setenv("CGTVIGIL_OPERATIONAL_URL", operational_url)
    done = CliRunner().invoke(cli, ["monitor", "escalate"])
    assert done.exit_code == 0, done.output
    assert "Escalated 1 alert(s); 1 of 1 notification(s) sent." in done.output
    again = CliRunner().invoke(cli, ["monitor", "escalate"])
    assert "Escalated 0 alert(s); 0 of 0 notification(s) sent." in again.output
    assert len(pager.bodies) == 1


def test_escalation_and_mail_settings_are_checked(monkeypatch: Any) -> None:
    """The interval is read in seconds (0 turns the in-app scheduler off); wrong values are
    one message naming the variable."""
    from cgtvigil.errors import CgtVigilError

    monkeypatch.setenv("CGTVIGIL_ESCALATION_INTERVAL_SECONDS", "0")
    assert Settings.from_env().escalation_interval is None
    monkeypatch.setenv("CGTVIGIL_ESCALATION_INTERVAL_SECONDS", "soon")
    with pytest.raises(CgtVigilError, match="CGTVIGIL_ESCALATION_INTERVAL_SECONDS must be a number of seconds"):
        Settings.from_env()
    monkeypatch.setenv("CGTVIGIL_ESCALATION_INTERVAL_SECONDS", "30")
    monkeypatch.setenv("CGTVIGIL_SMTP_SECURITY", "tls1.0")
    with pytest.raises(CgtVigilError, match="CGTVIGIL_SMTP_SECURITY must be starttls, ssl or none"):
        Settings.from_env()
    monkeypatch.setenv("CGTVIGIL_SMTP_SECURITY", "ssl")
    monkeypatch.setenv("CGTVIGIL_SMTP_HOST", "mail.example-hospital.org")
    settings = Settings.from_env()
    assert settings.escalation_interval == timedelta(seconds=30)
    smtp = settings.notifier().smtp
    assert smtp is not None and (smtp.host, smtp.port, smtp.security) == ("mail.example-hospital.org", 587, "ssl")


def test_a_round_does_not_wait_for_an_alert_a_post_is_changing(postgresql_url: str, pager: Pager) -> None:
    """The 10,000-patient monitoring benchmark stopped on 503s: PostgreSQL found a deadlock
    between the escalation round (locking overdue alerts in id order) and a gateway's post
    (raising several of its patients' alerts again, in its own order). The round now skips an
    alert whose row another transaction holds; the next round escalates it. Without the skip
    this round waits on the row and ends on the lock timeout."""
    sessions = _store(postgresql_url, pager, 3)
    post = sessions()
    raise_alert(post, "LATE-1", "rule_1", "critical", "finding 1 again", T0 + timedelta(minutes=1), MonitoringRules())
    post.flush()  # the post holds alert 2's row until it commits
    notifier = Notifier(audit=append_audit)
    with sessions() as s:
        s.execute(text("SET lock_timeout = '2s'"))
        assert [a.id for a in escalate_overdue(s, T0 + timedelta(minutes=20))] == [1, 3]
        s.commit()
    post.commit()
    post.close()
    assert run_escalation(sessions, notifier, T0 + timedelta(minutes=21)).escalated == [2]
    with sessions() as s:
        assert s.get(AlertRow, 2).count == 2 and s.get(AlertRow, 2).status == "escalated"
    sessions.kw["bind"].dispose()
