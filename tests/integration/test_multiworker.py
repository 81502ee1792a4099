"""`cgtvigil serve --workers 4` on PostgreSQL, as a hospital deploys it (issue 10, "How to
check it"): four real uvicorn worker processes on 127.0.0.1 over one fresh database. Every
request goes on a new connection, so the kernel hands it to any of the workers. Across them:
no worker dies at start-up (the schema is migrated once, under a lock, before they start), the
audit chain stays intact under concurrent writes and reads, a session made through one worker
is honoured and then revoked for all, the escalation scheduler (one in every worker) escalates
each overdue alert once, and the log-in throttle counts failures made on any worker."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.engine import make_url

from cgtvigil.access import create_user
from cgtvigil.audit import verify_audit
from cgtvigil.monitoring import (
    MonitoringRules,
    configure_channel,
    raise_alert,
    register_gateway,
    register_patient,
)
from cgtvigil.store import AlertEventRow, load_products, operational_engine, session_factory

WORKERS = 4
PASSWORD = "correct horse battery staple"
SLOT = (datetime.now(UTC) - timedelta(hours=3)).replace(microsecond=0)
OVERDUE = datetime.now(UTC) - timedelta(hours=1)  # critical alerts are acknowledged within 15 minutes
ALERTS = 6


@dataclass
class Deployment:
    base: str
    url: str
    token: str
    log: Path
    pages: list[dict[str, Any]]
    pager: str


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    """A new, empty database on the test server (the workers start on a fresh schema)."""
    server = os.environ.get("CGTVIGIL_TEST_POSTGRES_URL")
    if not server:
        pytest.skip("PostgreSQL runs under `make test` (scripts/test.sh sets CGTVIGIL_TEST_POSTGRES_URL)")
    name = f"cgtvigil_workers_{os.getpid()}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as con:
        con.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        con.exec_driver_sql(f"CREATE DATABASE {name}")
    yield make_url(server).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as con:
        con.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


def _pager(bodies: list[dict[str, Any]]) -> ThreadingHTTPServer:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with lock:
                bodies.append(body)
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def deployment(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    tmp = tmp_path_factory.mktemp("workers")
    pages: list[dict[str, Any]] = []
    pager = _pager(pages)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "CGTVIGIL_OPERATIONAL_URL": database,
        "CGTVIGIL_SECRET_KEY": "k" * 48,
        "CGTVIGIL_ESCALATION_INTERVAL_SECONDS": "0.3",
        "CGTVIGIL_DB": str(tmp / "none.duckdb"),
        "CGTVIGIL_SCREEN_RESULT": str(tmp / "none.parquet"),
    }
    log_path = tmp / "server.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cgtvigil.cli", "serve", "--port", str(port), "--workers", str(WORKERS)],
        env=env,
        stdout=log,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while log_path.read_text().count("Application startup complete") < WORKERS:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the workers did not start: {log_path.read_text()[-3000:]}")
            time.sleep(0.1)
        engine = operational_engine(database)  # migrated by `serve` before the workers started
        with session_factory(engine)() as s:
            token = register_gateway(s, "gw-a", "site-A")
            register_patient(
                s, load_products(), patient="P-0001", site="site-A", product="yescarta", infusion_date=date.today()
            )
            create_user(s, username="inv.a", password=PASSWORD, role="site_investigator", at=SLOT, site="site-A")
            create_user(s, username="inv.b", password=PASSWORD, role="site_investigator", at=SLOT, site="site-A")
            s.commit()
        engine.dispose()
        yield Deployment(base, database, token, log_path, pages, f"http://127.0.0.1:{pager.server_address[1]}/page")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
        pager.shutdown()
        pager.server_close()


def _new_connection(cookies: dict[str, str] | None = None) -> httpx.Client:
    return httpx.Client(timeout=60, headers={"Connection": "close"}, cookies=cookies)


def _get(base: str, path: str, cookies: dict[str, str]) -> httpx.Response:
    with _new_connection(cookies) as c:
        return c.get(base + path, follow_redirects=False)


def _log_in(base: str, name: str, password: str = PASSWORD) -> tuple[httpx.Response, dict[str, str]]:
    with _new_connection() as c:
        page = c.get(f"{base}/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf, page.text[-300:]
        r = c.post(f"{base}/login", data={"username": name, "password": password, "csrf": csrf.group(1)})
        return r, dict(c.cookies)


def _point(minute: int) -> dict[str, Any]:
    return {
        "header": {
            "user_id": "P-0001",
            "schema_id": {"name": "body-temperature", "version": "4.0"},
            "acquisition_provenance": {"source_name": "patch-1"},
        },
        "body": {
            "body_temperature": {"value": 36.5 + (minute % 10) / 10, "unit": "C"},
            "effective_time_frame": {"date_time": (SLOT + timedelta(minutes=minute)).isoformat()},
        },
    }


def test_every_worker_starts_once(deployment: Deployment) -> None:
    """The colleague's report: one worker of each `--workers 2` run died at start-up and was
    restarted (uvicorn's 5-second health check, missed while the worker re-imported the whole
    CLI), and workers migrating a fresh database at once failed with duplicate keys."""
    log = deployment.log.read_text()
    assert "died" not in log and "Traceback" not in log, log[-3000:]
    assert log.count("Started server process") == WORKERS


def test_audit_chain_intact_under_concurrent_writes_and_reads(deployment: Deployment) -> None:
    r, cookies = _log_in(deployment.base, "inv.a")
    assert "Wrong" not in r.text and cookies
    auth = {"Authorization": f"Bearer {deployment.token}"}

    def write(i: int) -> int:
        with _new_connection() as c:
            return c.post(f"{deployment.base}/api/v1/ingest/omh", json=[_point(i)], headers=auth).status_code

    def read(_: int) -> int:
        return _get(deployment.base, "/patients/P-0001", cookies).status_code

    with ThreadPoolExecutor(16) as pool:
        writes = pool.map(write, range(40))
        reads = pool.map(read, range(40))
        assert list(writes) == [200] * 40
        assert list(reads) == [200] * 40
    engine = operational_engine(deployment.url)
    with session_factory(engine)() as s:
        report = verify_audit(s)
    engine.dispose()
    assert report.ok, report.problems
    assert report.entries >= 80  # every write and every patient-page read is audited


def test_a_session_is_honoured_and_revoked_on_every_worker(deployment: Deployment) -> None:
    _, cookies = _log_in(deployment.base, "inv.b")
    assert [_get(deployment.base, "/patients/P-0001", cookies).status_code for _ in range(12)] == [200] * 12
    with _new_connection(cookies) as c:
        page = c.get(f"{deployment.base}/patients/P-0001")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf
        assert c.post(f"{deployment.base}/logout", data={"csrf": csrf.group(1)}).status_code < 400
    statuses = [_get(deployment.base, "/patients/P-0001", cookies) for _ in range(12)]
    assert [(r.status_code, r.headers.get("location")) for r in statuses] == [(303, "/login")] * 12


def test_each_overdue_alert_is_escalated_once_by_four_schedulers(deployment: Deployment) -> None:
    """Every worker runs an escalation scheduler (every 0.3 s here); the database lock lets
    one of them escalate and page each overdue alert, once."""
    engine = operational_engine(deployment.url)
    sessions = session_factory(engine)
    with sessions() as s:
        configure_channel(
            s, site="site-A", kind="webhook", target=deployment.pager, at=OVERDUE, actor="t", escalation_only=True
        )
        ids = [
            raise_alert(s, "P-0001", f"rule_{i}", "critical", f"finding {i}", OVERDUE, MonitoringRules())[0].id
            for i in range(ALERTS)
        ]
        s.commit()
    deadline = time.monotonic() + 15
    while len(deployment.pages) < ALERTS and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.2)  # four more rounds in each worker
    with sessions() as s:
        escalations = s.scalars(
            select(AlertEventRow.alert_id).where(AlertEventRow.alert_id.in_(ids), AlertEventRow.status == "escalated")
        ).all()
    engine.dispose()
    assert sorted(escalations) == sorted(ids)
    assert sorted(b["alert"] for b in deployment.pages if b["event"] == "escalated") == sorted(ids)


def test_the_log_in_throttle_counts_failures_on_every_worker(deployment: Deployment) -> None:
    """Five free failures per account name (ThrottlePolicy), made on fresh connections (any
    worker): the next attempt, even with the right password, is told to wait."""
    with _new_connection() as owner:  # the owner's form, loaded before the attack
        csrf = re.search(r'name="csrf" value="([^"]+)"', owner.get(f"{deployment.base}/login").text)
        assert csrf
        for _ in range(5):
            r, _ = _log_in(deployment.base, "inv.a", "wrong password")
            assert "Wrong user name or password" in r.text
        # at once (the fifth failure blocks the account name for 2 s, then 4 s, ...)
        form = {"username": "inv.a", "password": PASSWORD, "csrf": csrf.group(1)}
        r = owner.post(f"{deployment.base}/login", data=form)
    assert "Too many failed log-ins" in r.text, re.findall(r'role="alert">([^<]*)', r.text)
