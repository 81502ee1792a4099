"""Gateway intake against a real server process (`cgtvigil serve`, uvicorn on 127.0.0.1) on
SQLite and PostgreSQL. Concurrent posts, the reproductions of reliability review D7 (§1.3 rows
3.17 and 3.18: 14 of 20 identical posts answered 500, and 20 different values for one slot left
15 current): every request answered 200, exactly one stored row per distinct value, exactly
one current value per slot, and the counts in the replies add up. And the order of the checks
of security review M4: the token before the body."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from cgtvigil.monitoring import register_gateway, register_patient
from cgtvigil.store import ObservationRow, load_products, operational_engine, session_factory

THREADS = 20
SLOT = (datetime.now(UTC) - timedelta(hours=6)).replace(microsecond=0)


@pytest.fixture
def server(operational_url: str, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """(base URL, auth header) of a server process with site-A's gateway and patient P-0001."""
    engine = operational_engine(operational_url)
    with session_factory(engine)() as s:
        token = register_gateway(s, "gw-a", "site-A")
        register_patient(
            s,
            load_products(),
            patient="P-0001",
            site="site-A",
            product="yescarta",
            infusion_date=date.today() - timedelta(days=2),
        )
        s.commit()
    engine.dispose()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "CGTVIGIL_OPERATIONAL_URL": operational_url, "CGTVIGIL_SECRET_KEY": "k" * 48}
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cgtvigil.cli", "serve", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail(f"the server did not start: {(tmp_path / 'server.log').read_text()[-2000:]}")
        yield base, {"Authorization": f"Bearer {token}"}
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def _point(value: float, minute: int = 0) -> dict:
    return {
        "header": {
            "user_id": "P-0001",
            "schema_id": {"name": "body-temperature", "version": "4.0"},
            "acquisition_provenance": {"source_name": "patch-1"},
        },
        "body": {
            "body_temperature": {"value": value, "unit": "C"},
            "effective_time_frame": {"date_time": (SLOT + timedelta(minutes=minute)).isoformat()},
        },
    }


def _post_all(base: str, auth: dict[str, str], bodies: list[list[dict]]) -> list[httpx.Response]:
    with httpx.Client(timeout=120) as client, ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(lambda b: client.post(f"{base}/api/v1/ingest/omh", json=b, headers=auth), bodies))


def _rows(url: str) -> tuple[int, int]:
    engine = operational_engine(url)
    with session_factory(engine)() as s:
        total = s.scalar(select(func.count()).select_from(ObservationRow))
        current = s.scalar(select(func.count()).select_from(ObservationRow).where(~ObservationRow.superseded))
    engine.dispose()
    return int(total or 0), int(current or 0)


def test_identical_concurrent_batches_are_stored_once(server: tuple[str, dict[str, str]], operational_url: str) -> None:
    base, auth = server
    batch = [_point(36.5 + (m % 10) / 10, minute=m) for m in range(200)]
    replies = _post_all(base, auth, [batch] * THREADS)
    assert [r.status_code for r in replies] == [200] * THREADS, [r.text[:200] for r in replies if r.status_code != 200]
    bodies = [r.json() for r in replies]
    assert sum(b["loaded"] for b in bodies) == 200
    assert all(b["loaded"] + b["duplicates"] == 200 and b["corrections"] == 0 for b in bodies)
    assert _rows(operational_url) == (200, 200)


def test_different_concurrent_values_leave_one_current_value(
    server: tuple[str, dict[str, str]], operational_url: str
) -> None:
    base, auth = server
    replies = _post_all(base, auth, [[_point(38.0 + i / 10)] for i in range(THREADS)])
    assert [r.status_code for r in replies] == [200] * THREADS, [r.text[:200] for r in replies if r.status_code != 200]
    bodies = [r.json() for r in replies]
    assert sum(b["loaded"] for b in bodies) == THREADS and sum(b["corrections"] for b in bodies) == THREADS - 1
    assert _rows(operational_url) == (THREADS, 1)


def test_a_writer_that_takes_no_lock_is_answered_by_the_unique_index(operational_url: str) -> None:
    """A foreign writer (not the intake, so without its lock) inserts a current value for a
    slot and commits while the intake is writing the same slot. On PostgreSQL the intake's
    insert waits on the partial unique index, fails, and the batch is re-decided from its
    savepoint: the reading becomes a correction. On SQLite the intake's immediate transaction
    waits for the foreign writer first. Either way: one current value, nothing lost, no error."""
    import threading

    from sqlalchemy import insert

    from cgtvigil.ingest import IntakeResult
    from cgtvigil.model import Observation
    from cgtvigil.monitoring import store_observations

    engine = operational_engine(operational_url)
    sessions = session_factory(engine)
    with sessions() as s:
        register_patient(
            s, load_products(), patient="P-0001", site="site-A", product="yescarta", infusion_date=date(2026, 11, 20)
        )
        s.commit()
    when = datetime(2026, 11, 21, 8, 0)
    foreign = engine.connect()
    foreign_tx = foreign.begin()
    foreign.execute(
        insert(ObservationRow.__table__),
        [
            {
                "patient_id": "P-0001",
                "kind": "temperature",
                "value": 37.0,
                "unit": "Cel",
                "time": when,
                "source": "csv",
                "device": "patch",
                "location": "elsewhere",
                "received_at": when,
                "superseded": False,
                "is_correction": False,
            }
        ],
    )
    summaries = []

    def intake() -> None:
        with sessions() as s:
            obs = Observation(
                patient="P-0001",
                kind="temperature",
                value=38.0,
                unit="Cel",
                time=when.replace(tzinfo=UTC),
                source="omh",
                device="patch",
            )
            summaries.append(store_observations(s, IntakeResult([obs]), datetime(2026, 11, 21, 9, tzinfo=UTC)))
            s.commit()

    worker = threading.Thread(target=intake)
    worker.start()
    time.sleep(1.0)  # the intake is now waiting on the foreign writer (index entry or write lock)
    foreign_tx.commit()
    foreign.close()
    worker.join(timeout=30)
    assert not worker.is_alive() and summaries
    assert (summaries[0].loaded, summaries[0].corrections) == (1, 1)
    with sessions() as s:
        rows = s.execute(select(ObservationRow.value, ObservationRow.superseded).order_by(ObservationRow.id)).all()
    assert [tuple(r) for r in rows] == [(37.0, True), (38.0, False)]
    engine.dispose()


def test_the_token_is_checked_before_the_body_is_read(server: tuple[str, dict[str, str]]) -> None:
    """Security review M4: an anonymous 404 MB post was parsed before the 401 (RSS 1.6 GB).
    Headers announce 5 MB (under the limit) but only 10 bytes are sent: the 401 must come
    without waiting for the rest; 20 MB announced is refused with 413 on its length alone."""
    base, _ = server
    port = int(base.rsplit(":", 1)[1])
    for length, expected in ((5_000_000, b" 401 "), (20_000_000, b" 413 ")):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(
                b"POST /api/v1/ingest/omh HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {length}\r\n\r\n".encode()
                + b"[1,2,3,4,5"
            )
            status = sock.recv(200).split(b"\r\n", 1)[0]  # a timeout here means the body was being read
        assert expected in status, status
