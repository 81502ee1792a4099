"""A busy audit trail (issue 17 target 5). The 10,000-patient monitoring day on PostgreSQL
stopped on a 500: gateway posts and an escalation round each waited 30 s for the audit chain
and got a bare TimeoutError. The cycle: the round held its overdue alerts' rows and waited for
the chain in its process; a post of that process held the chain and waited for the database's
audit lock; the holder of that lock, a post of the other process, had taken the chain before
writing its raised alerts and waited for the round's rows. PostgreSQL could not see the cycle
(the chain's lock in a process is not a database lock).

Now a writer's pending changes are written before it takes the chain, and a chain that stays
busy is a ``BusyError``: 503 with Retry-After on the API, a logged failed round in the
scheduler (which runs again), never a traceback. Row locks: PostgreSQL only."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from cgtvigil.api import create_app
from cgtvigil.audit import _chain, append_audit, verify_audit
from cgtvigil.config import Settings
from cgtvigil.errors import BusyError
from cgtvigil.monitoring import (
    EscalationScheduler,
    MonitoringRules,
    Notifier,
    raise_alert,
    register_gateway,
    register_patient,
)
from cgtvigil.store import AlertRow, load_products, operational_engine, session_factory

T0 = datetime.now(UTC) - timedelta(hours=1)


@pytest.fixture
def sessions(postgresql_url: str) -> Iterator[sessionmaker[Session]]:
    """Patient P-1 of site A with two critical alerts raised an hour ago (both overdue)."""
    made = session_factory(operational_engine(postgresql_url))
    with made() as s:
        register_patient(s, load_products(), patient="P-1", site="A", product="yescarta", infusion_date=date.today())
        for rule in ("rule_a", "rule_b"):
            raise_alert(s, "P-1", rule, "critical", rule, T0, MonitoringRules())
        s.commit()
    yield made
    made.kw["bind"].dispose()


@pytest.fixture
def held_chain(sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Another thread of this process holds the audit chain (an entry appended, not yet
    committed) while the test runs; waiting for the chain gives up after 0.3 s."""
    monkeypatch.setattr(_chain, "_LOCK_SECONDS", 0.3)
    holding, done = threading.Event(), threading.Event()

    def hold() -> None:
        with sessions() as s:
            append_audit(s, actor="t", action="test.hold", target="chain", at=T0)
            holding.set()
            done.wait(30)
            s.commit()

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(10)
    yield
    done.set()
    holder.join(30)


def test_a_writer_waiting_on_a_row_does_not_hold_the_audit_trail(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A post whose raised alert waits on a row another transaction holds must not hold the
    chain meanwhile: the others append and commit. Before the fix the post took the chain and
    then waited on the row inside it, and this append gave up (BusyError, formerly TimeoutError)."""
    monkeypatch.setattr(_chain, "_LOCK_SECONDS", 2.0)
    row_holder = sessions()
    row_holder.execute(update(AlertRow).where(AlertRow.id == 1).values(message="held"))  # alert 1's row lock
    waiting = threading.Event()
    failures: list[Exception] = []

    def post() -> None:
        try:
            with sessions() as s:
                raise_alert(s, "P-1", "rule_a", "critical", "again", T0 + timedelta(minutes=1), MonitoringRules())
                waiting.set()
                append_audit(s, actor="gateway:g", action="observations.ingest", target="observations", at=T0)
                s.commit()
        except (SQLAlchemyError, BusyError) as exc:  # reported to the test below
            failures.append(exc)

    writer = threading.Thread(target=post)
    writer.start()
    try:
        assert waiting.wait(10)
        time.sleep(0.3)  # the post now waits on alert 1's row
        with sessions() as s:
            append_audit(s, actor="t", action="test.other", target="chain", at=T0)
            s.commit()
    finally:  # the post goes on either way
        row_holder.commit()
        row_holder.close()
        writer.join(30)
    assert not writer.is_alive() and failures == []
    with sessions() as s:
        assert s.get(AlertRow, 1).count == 2
        assert verify_audit(s).ok


def test_a_post_meeting_a_busy_audit_trail_is_answered_503_with_retry_after(
    sessions: sessionmaker[Session], postgresql_url: str, held_chain: None, tmp_path: Any
) -> None:
    with sessions() as s:
        token = register_gateway(s, "g", "A")
        s.commit()
    settings = Settings(
        db=tmp_path / "none.duckdb",
        screen_result=tmp_path / "none.parquet",
        operational_url=postgresql_url,
        secret_key="test-key",
        escalation_interval=None,
        followup_interval=None,
    )
    app = create_app(settings)
    point = {
        "header": {
            "id": "p-1",
            "creation_date_time": T0.isoformat(),
            "user_id": "P-1",
            "schema_id": {"namespace": "omh", "name": "body-temperature", "version": "4.0"},
        },
        "body": {
            "body_temperature": {"value": 36.8, "unit": "C"},
            "effective_time_frame": {"date_time": T0.isoformat()},
        },
    }
    with TestClient(app) as client:
        r = client.post("/api/v1/ingest/omh", json=[point], headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 503 and r.headers["Retry-After"] == "5"
    assert "nothing was stored" in r.json()["detail"]
    app.state.engine.dispose()


def test_an_escalation_round_meeting_a_busy_audit_trail_fails_and_the_next_one_runs(
    sessions: sessionmaker[Session], held_chain: None
) -> None:
    """Before, the TimeoutError ended the scheduler's loop: that worker escalated nothing more."""
    scheduler = EscalationScheduler(sessions, Notifier(audit=append_audit), timedelta(seconds=60))
    asyncio.run(scheduler._round())
    assert scheduler.failures == 1 and scheduler.rounds == 0
