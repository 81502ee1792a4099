"""The cost of evaluating a patient is that of the evaluation window, not of the patient's
history: two patients with the same last day of readings, one monitored for 1 day and one for
30 days (with 29 resolved fever alerts behind it), cost the same SQL work per evaluation, on
SQLite (virtual machine steps of the store's engine) and on PostgreSQL (pages of tables and
indexes touched, from EXPLAIN (ANALYZE, BUFFERS) of the very statements the evaluation ran).
Without the indexes of migration 0011 the long history costs 10 times the steps on SQLite
(247,800 against 24,700) and 1.6 times the pages on PostgreSQL (51 against 32) at this size.

Not counted: the running early ICAHT reads the ANC values since day 0 (an early ICAHT run is
measured to its end, even past day 30), which grow with the number of ANC labs, never with
the streamed vitals; this cohort has no ANC values."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert
from sqlalchemy.orm import Session

from cgtvigil.monitoring import MonitoringRules, evaluate_patient, evaluate_patients, register_patient
from cgtvigil.store import AlertRow, ObservationRow, load_products, operational_engine, session_factory

NOW = datetime(2026, 3, 1, 12, 0)
RULES = MonitoringRules()
WINDOW = timedelta(hours=24)


def _readings(patient: str, days: int) -> list[dict[str, Any]]:
    """Skin temperature every 2 minutes and hourly heart rate and SpO2 for ``days`` days up to
    NOW; a sustained fever in the last 2 hours (every day looks the same otherwise)."""
    rows: list[dict[str, Any]] = []
    start = NOW - timedelta(days=days)
    for minute in range(0, days * 24 * 60, 2):
        t = start + timedelta(minutes=minute)
        fever = NOW - t <= timedelta(hours=2)
        rows.append(_row(patient, "temperature", 38.6 if fever else 36.7 + (minute % 7) / 20, "Cel", t))
        if minute % 60 == 0:
            rows.append(_row(patient, "heart_rate", 80 + minute % 9, "/min", t))
            rows.append(_row(patient, "spo2", 97, "%", t))
    return rows


def _row(patient: str, kind: str, value: float, unit: str, t: datetime) -> dict[str, Any]:
    return {
        "patient_id": patient,
        "kind": kind,
        "value": value,
        "unit": unit,
        "time": t,
        "source": "omh",
        "device": "patch",
        "location": "",
        "received_at": t,
        "superseded": False,
        "is_correction": False,
    }


@pytest.fixture(scope="module")
def cohort_engine(module_operational_url: str) -> Iterator[Engine]:
    """The cohort below, written once per engine for the module (about 240,000 readings)."""
    engine = operational_engine(module_operational_url)
    with session_factory(engine)() as s:
        # a cohort with histories as long as P-LONG's, so that no patient is most of the table
        cohort = [("P-SHORT", 1), ("P-LONG", 30)] + [(f"P-{i}", 30) for i in range(9)]
        for patient, days in cohort:
            register_patient(
                s, load_products(), patient=patient, site="A", product="kymriah", infusion_date=date(2026, 1, 29)
            )
            s.execute(insert(ObservationRow), _readings(patient, days))
        for day in range(1, 30):  # the long history's earlier fevers, each alerted and resolved
            t = NOW - timedelta(days=day)
            s.add(
                AlertRow(
                    patient_id="P-LONG",
                    rule="sensor_fever",
                    severity="high",
                    status="resolved",
                    message="earlier fever",
                    first_seen=t,
                    last_seen=t,
                    count=1,
                    acknowledge_by=t,
                    rules_version=RULES.version,
                )
            )
        s.commit()
        if s.get_bind().dialect.name == "postgresql":
            s.connection().exec_driver_sql("ANALYZE")  # the planner sees the real table sizes
            s.commit()
    yield engine
    engine.dispose()


@pytest.fixture
def store(cohort_engine: Engine) -> Iterator[Session]:
    """A session on the cohort; what a test wrote is rolled back, so each test sees the cohort as written."""
    with session_factory(cohort_engine)() as s:
        yield s
        s.rollback()


def _statements(session: Session, patient: str) -> tuple[list[tuple[str, Any]], int, list[AlertRow]]:
    """The statements one evaluation ran (with their parameters), and the SQLite VM steps."""
    products = load_products()
    return _run(
        session, lambda: evaluate_patient(session, patient, RULES, since=NOW - WINDOW, now=NOW, products=products)
    )


def _run(session: Session, evaluate: Callable[[], Any]) -> tuple[list[tuple[str, Any]], int, Any]:
    """The statements ``evaluate`` ran (with their parameters), the SQLite VM steps, its result."""
    statements: list[tuple[str, Any]] = []
    connection = session.connection()

    def record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append((statement, parameters))

    steps = [0]
    raw = connection.connection.dbapi_connection
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:

        def tick() -> int:
            steps[0] += 1
            return 0

        raw.set_progress_handler(tick, 100)  # type: ignore[union-attr]
    event.listen(connection, "before_cursor_execute", record)
    try:
        alerts = evaluate()
        session.flush()
    finally:
        event.remove(connection, "before_cursor_execute", record)
        if sqlite:
            raw.set_progress_handler(None, 100)  # type: ignore[union-attr]
    return statements, steps[0] * 100, alerts


def _postgres_work(session: Session, statements: list[tuple[str, Any]]) -> int:
    """Shared buffers (8 kB pages of tables and indexes) the SELECTs of an evaluation touched,
    from EXPLAIN (ANALYZE, BUFFERS) of the same statements with the same parameters."""
    raw = session.connection().connection.dbapi_connection
    total = 0
    for statement, parameters in statements:
        if not statement.lstrip().upper().startswith("SELECT"):
            continue
        with raw.cursor() as cursor:  # type: ignore[union-attr]
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, parameters)
            plan = cursor.fetchone()[0]
        plan = (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]
        total += plan["Shared Hit Blocks"] + plan["Shared Read Blocks"]
    return total


def test_evaluation_work_does_not_grow_with_history(store: Session) -> None:
    sqlite = store.get_bind().dialect.name == "sqlite"
    work = {}
    for patient in ("P-SHORT", "P-LONG"):
        for _ in range(2):  # the second evaluation updates the alert the first one opened
            statements, steps, alerts = _statements(store, patient)
        assert [a.rule for a in alerts] == ["sensor_fever"], patient
        active = [a for a in alerts if a.status == "open"]
        assert active and active[0].count == 2
        work[patient] = steps if sqlite else _postgres_work(store, statements)
        store.rollback()
    # 30 times the history (22,300 more readings, 29 resolved alerts) costs what 1 day costs
    slack = 200 if sqlite else 4  # steps are counted by the hundred; a page or two of index levels
    assert work["P-LONG"] <= 1.25 * work["P-SHORT"] + slack, work
    assert work["P-SHORT"] > 0, work


COHORT = ["P-SHORT", "P-LONG"] + [f"P-{i}" for i in range(9)]


def _reads(statements: list[tuple[str, Any]]) -> list[str]:
    """The SELECTs of observations and treatments among ``statements``."""
    return [
        st
        for st, _ in statements
        if st.lstrip().upper().startswith("SELECT") and ("FROM observation" in st or "FROM treatment" in st)
    ]


def test_a_batch_is_evaluated_as_each_patient_alone_in_three_reads(store: Session) -> None:
    """A gateway's batch of the 11 patients raises the alerts that evaluating each patient
    alone raises, with three reads for all of them (windows, treatments, ANC since day 0)
    where one at a time took three per patient."""
    products = load_products()
    alone = []
    for patient in COHORT:
        statements, _, alerts = _statements(store, patient)
        assert len(_reads(statements)) == 3
        alone.append([(a.patient_id, a.rule, a.message, a.count) for a in alerts])
    store.rollback()
    since = dict.fromkeys(COHORT, NOW - WINDOW)
    statements, _, found = _run(store, lambda: evaluate_patients(store, since, RULES, products=products))
    assert sorted(found) == sorted(COHORT)
    assert [[(a.patient_id, a.rule, a.message, a.count) for a in found[p]] for p in COHORT] == alone
    assert all(rules == [(p, "sensor_fever", rules[0][2], 1)] for p, rules in zip(COHORT, alone, strict=True))
    assert len(_reads(statements)) == 3, _reads(statements)
    # each patient's window is a range of the (patient_id, time) index
    window, params = next((st, p) for st, p in statements if "UNION ALL" in st)
    if store.get_bind().dialect.name == "sqlite":
        plan = store.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + window, params)
        ranges = [str(r[-1]) for r in plan if "ix_observation_patient_time" in str(r[-1])]
    else:
        with store.connection().connection.dbapi_connection.cursor() as cursor:  # type: ignore[union-attr]
            cursor.execute("EXPLAIN (FORMAT JSON) " + window, params)
            text = json.dumps(cursor.fetchone()[0])
        ranges = text.split('"Index Name": "ix_observation_patient_time"')[1:]
    assert len(ranges) == len(COHORT), window


def test_window_read_is_a_range_of_the_patient_time_index(store: Session) -> None:
    """The plan of the window read names the (patient_id, time) index with both bounds."""
    since = NOW - WINDOW
    if store.get_bind().dialect.name == "sqlite":
        plan = store.connection().exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT kind, value FROM observation"
            " WHERE patient_id = ? AND time >= ? AND superseded IS 0 ORDER BY time",
            ("P-LONG", since.isoformat(sep=" ")),
        )
        detail = " ".join(str(r[-1]) for r in plan)
        assert "ix_observation_patient_time (patient_id=? AND time>?)" in detail, detail
    else:
        plan = store.connection().exec_driver_sql(
            "EXPLAIN (FORMAT JSON) SELECT kind, value FROM observation"
            " WHERE patient_id = %(p)s AND time >= %(t)s AND superseded IS false ORDER BY time",
            {"p": "P-LONG", "t": since},
        )
        text = json.dumps(plan.scalar_one())
        assert "ix_observation_patient_time" in text, text


def test_a_late_reading_is_still_evaluated_in_its_window(store: Session) -> None:
    """Bounding the read keeps the window: a fever 3 days back (before P-SHORT's day) is found when the evaluation's
    window starts before it (the gateway passes since = earliest new reading - 24 h)."""
    past = NOW - timedelta(days=3)
    store.execute(
        insert(ObservationRow),
        [_row("P-SHORT", "temperature", 38.7, "Cel", past + timedelta(minutes=m, seconds=30)) for m in (0, 2, 4)],
    )
    alerts = evaluate_patient(
        store, "P-SHORT", RULES, since=past - WINDOW, now=NOW.replace(tzinfo=UTC), products=load_products()
    )
    fever = [a for a in alerts if a.rule == "sensor_fever"]
    assert fever and "38.7" in fever[0].message
