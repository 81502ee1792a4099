"""Monitoring on real SQLite and PostgreSQL operational stores: idempotent intake, corrections, the
persistence filter, CTCAE and ePRO triggers, alert de-duplication and lifecycle, and the HTTP
ingestion endpoint with gateway tokens. Thresholds are the documented project defaults."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cgtvigil.api import create_app
from cgtvigil.config import Settings
from cgtvigil.errors import ValidationError
from cgtvigil.ingest import IntakeResult
from cgtvigil.model import Observation
from cgtvigil.monitoring import (
    MonitoringRules,
    acknowledge,
    escalate_overdue,
    evaluate_patient,
    register_gateway,
    register_patient,
    resolve,
    store_observations,
)
from cgtvigil.store import AlertRow, ObservationRow, load_products, operational_engine, session_factory

T0 = datetime(2026, 1, 3, 12, 0, tzinfo=UTC)
RULES = MonitoringRules()
SECRET = "test-secret-key-" * 4


def obs(
    kind: str, value: float, minutes: float, unit: str = "Cel", patient: str = "P-1", device: str = "patch"
) -> Observation:
    return Observation(
        patient=patient,
        kind=kind,
        value=value,
        unit=unit,
        time=T0 + timedelta(minutes=minutes),
        source="omh",
        device=device,
    )


@pytest.fixture
def session(operational_url: str):  # type: ignore[no-untyped-def]
    """A session on an empty store with patient P-1 registered (site A): observations are
    stored for registered patients only."""
    engine = operational_engine(operational_url)
    with session_factory(engine)() as s:
        register_patient(s, load_products(), patient="P-1", site="A", product="kymriah", infusion_date=date(2026, 1, 1))
        yield s
    engine.dispose()


def test_repeats_are_idempotent_and_corrections_kept(session) -> None:  # type: ignore[no-untyped-def]
    first = store_observations(session, IntakeResult([obs("temperature", 37.2, 0), obs("temperature", 37.4, 2)]), T0)
    again = store_observations(session, IntakeResult([obs("temperature", 37.2, 0)]), T0)
    fixed = store_observations(session, IntakeResult([obs("temperature", 37.3, 2)]), T0 + timedelta(minutes=5))
    assert (first.loaded, again.duplicates, fixed.corrections) == (2, 1, 1)
    rows = session.scalars(select(ObservationRow).order_by(ObservationRow.id)).all()
    assert [(r.value, r.superseded, r.is_correction) for r in rows] == [
        (37.2, False, False),
        (37.4, True, False),
        (37.3, False, True),
    ]


def test_fever_persistence_filter_and_deduplication(session) -> None:  # type: ignore[no-untyped-def]
    # A single 38.6 spike, then two readings (not enough), then three within 10 minutes.
    readings = [(0, 38.6), (2, 37.1), (20, 38.2), (22, 38.3), (24, 37.5), (40, 38.1), (42, 38.4), (44, 38.9)]
    store_observations(session, IntakeResult([obs("temperature", v, m) for m, v in readings[:5]]), T0)
    assert evaluate_patient(session, "P-1", RULES, since=T0, now=T0 + timedelta(hours=1)) == []
    store_observations(session, IntakeResult([obs("temperature", v, m) for m, v in readings[5:]]), T0)
    alerts = evaluate_patient(session, "P-1", RULES, since=T0, now=T0 + timedelta(hours=1))
    assert [(a.rule, a.severity, a.status) for a in alerts] == [("sensor_fever", "high", "open")]
    assert "38.9" in alerts[0].message
    again = evaluate_patient(session, "P-1", RULES, since=T0, now=T0 + timedelta(hours=1))
    assert again[0].id == alerts[0].id and again[0].count == 2  # the same alert, updated


def test_labs_and_epro_triggers(session) -> None:  # type: ignore[no-untyped-def]
    store_observations(
        session,
        IntakeResult(
            [
                obs("anc", 0.3, 0, unit="10^9/L"),
                obs("plt", 120, 0, unit="10^9/L"),
                obs("symptom:cgt_seizure", 1, 5, unit="{score}"),
                obs("symptom:cgt_fever", 0, 5, unit="{score}"),
                obs("pro_ctcae:PROCTCAE_1A_SCL", 3, 5, unit="{score}"),
            ]
        ),
        T0,
    )
    alerts = {a.rule: a for a in evaluate_patient(session, "P-1", RULES, since=T0, now=T0 + timedelta(hours=1))}
    assert set(alerts) == {"ctcae_neutrophil_count_decreased", "epro_cgt_seizure", "epro_PROCTCAE_1A_SCL"}
    assert alerts["ctcae_neutrophil_count_decreased"].severity == "critical"  # grade 4 (< 0.5) under v5
    assert alerts["epro_cgt_seizure"].severity == "critical"


def test_alert_lifecycle_and_escalation(session) -> None:  # type: ignore[no-untyped-def]
    store_observations(
        session,
        IntakeResult(
            [
                obs("spo2", 89, 0, unit="%"),
                obs("spo2", 88, 3, unit="%"),
                obs("sbp", 82, 0, unit="mmHg"),
                obs("sbp", 80, 4, unit="mmHg"),
            ]
        ),
        T0,
    )
    alerts = {a.rule: a for a in evaluate_patient(session, "P-1", RULES, since=T0, now=T0)}
    hypoxia, hypotension = alerts["hypoxia"], alerts["hypotension"]
    acknowledge(session, hypoxia.id, "nurse.anna", T0 + timedelta(minutes=10), "on the ward round")
    escalated = escalate_overdue(session, T0 + timedelta(hours=2))  # high: 60 min to acknowledge
    assert [a.id for a in escalated] == [hypotension.id]
    resolve(session, hypoxia.id, "dr.ben", T0 + timedelta(hours=3))
    with pytest.raises(ValidationError, match="is resolved; it cannot become acknowledged"):
        acknowledge(session, hypoxia.id, "nurse.anna", T0 + timedelta(hours=4))
    history = [(e.status, e.by) for e in session.get(AlertRow, hypoxia.id).events]
    assert history == [("open", "cgtvigil"), ("acknowledged", "nurse.anna"), ("resolved", "dr.ben")]


def test_http_ingestion_with_gateway_tokens(operational_url: str) -> None:
    settings = Settings(operational_url=operational_url, secret_key=SECRET)
    app = create_app(settings)
    with app.state.sessions() as s:
        token = register_gateway(s, "ward-7-hub", "site-A")
        register_patient(
            s, load_products(), patient="P-9", site="site-A", product="kymriah", infusion_date=date(2026, 1, 1)
        )
        s.commit()
    client = TestClient(app)
    now = datetime.now(UTC).replace(microsecond=0)
    points = [
        {
            "header": {
                "id": str(i),
                "creation_date_time": (now - timedelta(minutes=10 - 2 * i)).isoformat(),
                "user_id": "P-9",
                "schema_id": {"namespace": "omh", "name": "body-temperature", "version": "4.0"},
            },
            "body": {
                "body_temperature": {"value": v, "unit": "C"},
                "effective_time_frame": {"date_time": (now - timedelta(minutes=10 - 2 * i)).isoformat()},
            },
        }
        for i, v in enumerate([38.3, 38.6, 38.8, 61.0])
    ]
    assert client.post("/api/v1/ingest/omh", json=points).status_code == 401
    assert client.post("/api/v1/ingest/omh", json=points, headers={"Authorization": "Bearer wrong"}).status_code == 401
    r = client.post("/api/v1/ingest/omh", json=points, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["loaded"], body["quarantined"], body["quarantine_reasons"]) == (3, 1, {"IMPLAUSIBLE_VALUE": 1})
    assert body["quarantine"][0]["location"] == "body[3].body.body_temperature"
    assert body["alerts_raised"] == 1 and "alerts" not in body  # the reply carries only what was sent
    with app.state.sessions() as s:
        assert [a.rule for a in s.scalars(select(AlertRow))] == ["sensor_fever"]
    repeat = client.post(
        "/api/v1/ingest/omh", json={"points": points[:3]}, headers={"Authorization": f"Bearer {token}"}
    )
    assert repeat.json()["duplicates"] == 3 and repeat.json()["loaded"] == 0
    assert client.get("/api/v1/health").json()["status"] == "ok"
    app.state.engine.dispose()


def test_registry_validates_every_field(session) -> None:  # type: ignore[no-untyped-def]
    t = register_patient(
        session, load_products(), patient="P-10", site="A", product="Kymriah", infusion_date=date(2026, 1, 1)
    ).treatment
    assert t.product_id == "kymriah"
    with pytest.raises(ValidationError) as info:
        register_patient(
            session,
            load_products(),
            patient="Jane Doe",
            site="A",
            product="Unknownacel",
            infusion_date=date(2026, 1, 1),
            birth_date=date(2026, 2, 1),
        )
    assert len(info.value.problems) == 3


def test_assessments_grade_changes_kinetics_aav_and_icaht(session) -> None:  # type: ignore[no-untyped-def]
    from cgtvigil.ingest import read_assessments

    products = load_products()
    register_patient(session, products, patient="P-11", site="A", product="yescarta", infusion_date=date(2026, 1, 1))
    register_patient(
        session,
        products,
        patient="P-12",
        site="A",
        product="zolgensma",
        infusion_date=date(2026, 1, 1),
        baseline_labs={"alt": 20},
    )
    payload = {
        "patient": "P-11",
        "crs": [
            {"time": "2026-01-03T08:00:00+00:00", "temperature": 38.9, "sbp_mmhg": 120, "o2_device": "none"},
            {
                "time": "2026-01-03T14:00:00+00:00",
                "temperature": 38.7,
                "vasopressors": ["norepinephrine"],
                "o2_device": "none",
            },
            {"time": "2026-01-03T16:00:00+00:00", "temperature": 38.7},
        ],
        "icans": [{"time": "2026-01-03T15:00:00+00:00", "ice_score": "ten"}],
    }
    intake = read_assessments(payload)
    assert [(o.kind, o.value) for o in intake.observations] == [("crs_grade", 1.0), ("crs_grade", 3.0)]
    assert [q.reason for q in intake.quarantine] == ["NOT_GRADABLE", "INVALID"]  # CRS first, then ICANS
    day2 = datetime(2026, 1, 3, tzinfo=UTC)
    anc = [
        Observation(
            patient="P-11",
            kind="anc",
            value=0.05,
            unit="10^9/L",
            time=datetime(2026, 1, 1, 8, tzinfo=UTC) + timedelta(days=d),
            source="fhir",
        )
        for d in range(0, 12)
    ]
    crp = [
        Observation(patient="P-11", kind="crp", value=v, unit="mg/dL", time=day2 + timedelta(hours=h), source="fhir")
        for h, v in ((0, 2.0), (12, 3.1), (20, 5.2))
    ]
    alt = [Observation(patient="P-12", kind="alt", value=130, unit="U/L", time=day2, source="fhir", ref_high=40)]
    store_observations(session, IntakeResult(intake.observations + anc + crp + alt), day2)
    rules = {
        a.rule: a
        for a in evaluate_patient(
            session, "P-11", RULES, since=day2 - timedelta(days=3), now=day2 + timedelta(days=1), products=products
        )
    }
    assert (
        rules["crs_grade_change"].severity == "critical"
        and "grade 3 (previously 1" in rules["crs_grade_change"].message
    )
    assert "rose 2.6-fold" in rules["crp_rising"].message
    # ANC <= 100 from day 0 for 12 days, no recovery yet: at least grade 3 so far (ICAHT 2023,
    # domain.md §2.3 operational rule; grade 4 needs the count to stay low past day 30)
    assert rules["icaht_early"].message.startswith("running early ICAHT grade >= 3")
    liver = evaluate_patient(session, "P-12", RULES, since=day2 - timedelta(days=1), now=day2, products=products)
    assert [a.rule for a in liver] == ["aav_liver_alt"] and "> 3 x ULN (40) and > 2 x baseline (20)" in liver[0].message


def test_masking_agents_are_recorded_and_annotate_fever(session) -> None:  # type: ignore[no-untyped-def]
    from cgtvigil.ingest import read_assessments

    intake = read_assessments(
        {
            "patient": "P-1",
            "crs": [
                {
                    "time": "2026-01-03T12:00:00+00:00",
                    "temperature": 39.0,
                    "sbp_mmhg": 120,
                    "o2_device": "none",
                    "tocilizumab": True,
                }
            ],
        }
    )
    assert [(o.kind, o.extra) for o in intake.observations] == [
        ("masking_agent:tocilizumab", {"agent": "tocilizumab"}),
        ("crs_grade", {"driver": "fever 39 °C", "version": "ASTCT-CRS-2019"}),
    ]
    temps = [obs("temperature", 37.2, m) for m in (60, 62, 64)]
    store_observations(session, IntakeResult(intake.observations + temps), T0)
    alerts = {a.rule: a for a in evaluate_patient(session, "P-1", RULES, since=T0, now=T0 + timedelta(hours=2))}
    assert "fever_masked" in alerts and "does not mean CRS has resolved" in alerts["fever_masked"].message


def test_a_correction_back_to_an_earlier_value_is_a_correction(session) -> None:  # type: ignore[no-untyped-def]
    """Reliability review D8 (§1.3 row 3.15): 38.0 -> 38.5 -> 38.0 at one slot keeps three
    values with the last current; 100.4 °F (= 38.0 °C) and the same instant written with
    another UTC offset are the same slot and value."""
    from cgtvigil.ingest import read_omh

    def point(value: float, unit: str = "C", when: str = "2026-01-03T12:00:00+00:00") -> dict:
        return {
            "header": {"user_id": "P-1", "schema_id": {"name": "body-temperature", "version": "4.0"}},
            "body": {"body_temperature": {"value": value, "unit": unit}, "effective_time_frame": {"date_time": when}},
        }

    def send(*points: dict) -> tuple[int, int, int]:
        s = store_observations(session, read_omh(points, now=T0), T0)
        return s.loaded, s.duplicates, s.corrections

    assert send(point(38.0)) == (1, 0, 0)
    assert send(point(38.5)) == (1, 0, 1)
    assert send(point(38.0)) == (1, 0, 1)  # was "duplicates: 1", leaving 38.5 current
    assert send(point(100.4, "F")) == (0, 1, 0)
    assert send(point(38.5, when="2026-01-03T13:00:00+01:00")) == (1, 0, 1)
    assert send(point(38.0, when="2026-01-03T07:00:00-05:00")) == (1, 0, 1)
    rows = session.scalars(select(ObservationRow).order_by(ObservationRow.id)).all()
    assert [(r.value, r.superseded) for r in rows] == [
        (38.0, True),
        (38.5, True),
        (38.0, True),
        (38.5, True),
        (pytest.approx(38.0), False),
    ]


@pytest.fixture
def gateways(operational_url: str):  # type: ignore[no-untyped-def]
    """make(**limits) -> (client, site-A token, site-B token): an application with site-A's and
    site-B's gateways and patients P-A1 (site-A, born 1990-05-01) and P-B1 (site-B)."""
    apps = []

    def make(**limits: int) -> tuple[TestClient, str, str]:
        app = create_app(Settings(operational_url=operational_url, secret_key=SECRET, **limits))  # type: ignore[arg-type]
        apps.append(app)
        with app.state.sessions() as s:
            token_a = register_gateway(s, "gw-a", "site-A")
            token_b = register_gateway(s, "gw-b", "site-B")
            products = load_products()
            register_patient(
                s,
                products,
                patient="P-A1",
                site="site-A",
                product="yescarta",
                infusion_date=date(2026, 11, 20),
                birth_date=date(1990, 5, 1),
            )
            register_patient(
                s, products, patient="P-B1", site="site-B", product="kymriah", infusion_date=date(2026, 11, 20)
            )
            s.commit()
        return TestClient(app), token_a, token_b

    yield make
    for app in apps:
        app.state.engine.dispose()


def _point(patient: object, value: object = 38.0, when: str | None = None, device: object = "patch") -> dict:
    # yesterday 08:00 UTC: never ahead of the clock (today 08:00 was FUTURE_TIME before 08:00)
    yesterday = datetime.now(UTC) - timedelta(days=1)
    when = when or yesterday.replace(hour=8, minute=0, second=0, microsecond=0).isoformat()
    return {
        "header": {
            "user_id": patient,
            "schema_id": {"name": "body-temperature", "version": "4.0"},
            "acquisition_provenance": {"source_name": device},
        },
        "body": {"body_temperature": {"value": value, "unit": "C"}, "effective_time_frame": {"date_time": when}},
    }


def test_a_gateway_writes_only_to_registered_patients_of_its_site(gateways) -> None:  # type: ignore[no-untyped-def]
    """Reliability review D6 (§1.3 rows 3.20, 3.21), security review H1 and M6: another site's
    patient, an unregistered id, a 10,000-character id, a NUL, a number; a 100-character id on
    PostgreSQL lost the whole batch. Each is quarantined and returned; the rest is stored."""
    from cgtvigil.store import AuditRow

    client, token_a, token_b = gateways()
    b_reading = client.post(
        "/api/v1/ingest/omh", json=[_point("P-B1", 37.0)], headers={"Authorization": f"Bearer {token_b}"}
    )
    assert b_reading.json()["loaded"] == 1
    crs4 = {
        "time": datetime.now(UTC).isoformat(),
        "temperature": 39.5,
        "sbp_mmhg": 70,
        "vasopressors": ["norepinephrine", "vasopressin"],
        "o2_device": "bipap",
    }
    auth = {"Authorization": f"Bearer {token_a}"}
    batch = [
        _point("P-A1", 38.1),
        _point("P-B1", 39.5),  # site-B's slot: would supersede its reading
        _point("GHOST-9"),
        _point("P" * 10_000),
        _point("Q" * 100),
        _point("P-A1\u0000x"),
        _point(123),
    ]
    r = client.post("/api/v1/ingest/omh", json=batch, headers=auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["loaded"], body["patients"]) == (1, ["P-A1"])
    assert [q["reason"] for q in body["quarantine"]] == ["INVALID"] * 4 + ["OUT_OF_SCOPE", "UNKNOWN_PATIENT"]
    assert [q["location"] for q in body["quarantine"]][-2:] == [
        "body[1].body.body_temperature",
        "body[2].body.body_temperature",
    ]
    assert set(body) == {
        "gateway",
        "loaded",
        "duplicates",
        "corrections",
        "quarantined",
        "quarantine_reasons",
        "patients",
        "quarantine",
        "alerts_raised",
    }
    other = client.post("/api/v1/ingest/assessment", json={"patient": "P-B1", "crs": [crs4]}, headers=auth).json()
    assert other["loaded"] == 0 and {q["reason"] for q in other["quarantine"]} == {"OUT_OF_SCOPE"}
    listed = client.post("/api/v1/ingest/assessment", json={"patient": ["a"], "crs": [crs4]}, headers=auth).json()
    assert [q["reason"] for q in listed["quarantine"]] == ["INVALID"]
    with client.app.state.sessions() as s:  # type: ignore[attr-defined]
        stored = s.execute(select(ObservationRow.patient_id, ObservationRow.value, ObservationRow.superseded)).all()
        assert sorted(stored) == [("P-A1", 38.1, False), ("P-B1", 37.0, False)]
        assert s.scalars(select(AlertRow).where(AlertRow.patient_id == "P-B1")).all() == []
        audit = s.scalars(select(AuditRow).where(AuditRow.action == "observations.ingest").order_by(AuditRow.id)).all()
        assert audit[1].detail["patients"] == ["P-A1"]
        assert audit[1].detail["refused_patients"] == ["GHOST-9", "P-B1"]


def test_one_bad_time_does_not_lose_the_batch(gateways) -> None:  # type: ignore[no-untyped-def]
    """Reliability review D9 (§1.3 row 3.10: one valid point plus one year-1 point gave HTTP
    500 and stored nothing) and security review M7 (a 2031 reading was stored): per-element
    quarantine on /omh, /fhir and /assessment; a reading before the patient's birth too."""
    client, token_a, _ = gateways()
    auth = {"Authorization": f"Bearer {token_a}"}
    bad = [
        "0001-01-01T00:00:00+00:00",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:00:00-12:00",
        "2031-01-01T00:00:00Z",
        "1985-01-01T00:00:00Z",
    ]
    r = client.post("/api/v1/ingest/omh", json=[_point("P-A1")] + [_point("P-A1", when=t) for t in bad], headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["loaded"] == 1
    assert [q["reason"] for q in r.json()["quarantine"]] == ["IMPLAUSIBLE_TIME"] * 3 + [
        "FUTURE_TIME",
        "IMPLAUSIBLE_TIME",
    ]
    assert "birth" in r.json()["quarantine"][-1]["detail"]
    bundle = {
        "resourceType": "Bundle",
        "entry": [
            {
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "subject": {"reference": "Patient/P-A1"},
                    "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5"}]},
                    "effectiveDateTime": t,
                    "valueQuantity": {"value": 38.2, "unit": "Cel", "code": "Cel"},
                }
            }
            for t in (bad[1], "2026-11-30T08:00:00Z")
        ],
    }
    f = client.post("/api/v1/ingest/fhir", json=bundle, headers=auth).json()
    assert (f["loaded"], [q["reason"] for q in f["quarantine"]]) == (1, ["IMPLAUSIBLE_TIME"])
    crs = [
        {"time": t, "temperature": 39.0, "sbp_mmhg": 120, "o2_device": "none"} for t in (bad[2], "2026-11-30T09:00:00Z")
    ]
    a = client.post("/api/v1/ingest/assessment", json={"patient": "P-A1", "crs": crs}, headers=auth).json()
    assert (a["loaded"], [q["reason"] for q in a["quarantine"]]) == (1, ["IMPLAUSIBLE_TIME"])


@pytest.mark.parametrize(
    ("route", "payload"),
    [
        ("fhir", {"resourceType": "Bundle", "entry": [1]}),
        ("fhir", [[1]]),
        ("fhir", "abc"),
        ("fhir", {"resourceType": "Bundle", "entry": [{"resource": "abc"}]}),
        ("epro", {"status": "completed", "item": [5]}),
        (
            "epro",
            {"status": "completed", "subject": {"reference": "Patient/P-A1"}, "item": [{"linkId": "x", "answer": [3]}]},
        ),
        ("epro", {"status": "completed", "subject": "P-A1"}),
        ("assessment", {"patient": "P-A1", "crs": 5}),
        ("omh", [1, None, {"header": []}]),
        ("omh", [_point("P-A1", value=True)]),
    ],
)
def test_wrong_json_structure_is_quarantined_never_500(route: str, payload: object, gateways) -> None:  # type: ignore[no-untyped-def]
    """Reliability review D10 (§1.3 row 3.23, each a 500) and D11 (row 3.7, true stored as 1)."""
    client, token_a, _ = gateways()
    r = client.post(f"/api/v1/ingest/{route}", json=payload, headers={"Authorization": f"Bearer {token_a}"})
    assert r.status_code == 200, r.text
    assert r.json()["loaded"] == 0 and set(r.json()["quarantine_reasons"]) == {"INVALID"}


def test_request_size_limits_before_parsing(gateways) -> None:  # type: ignore[no-untyped-def]
    """Reliability review D4 (§1.3 rows 3.12, 3.13: a 47 MB list of integers OOM-killed the
    server) and security review M4 (an anonymous 400 MB body was parsed before the 401); here
    with small limits so the test stays small."""
    client, token_a, _ = gateways(max_request_bytes=50_000, max_batch_elements=100)
    auth = {"Authorization": f"Bearer {token_a}", "Content-Type": "application/json"}
    big = b"[" + b",".join(b"1" for _ in range(30_000)) + b"]"  # 60 kB
    assert client.post("/api/v1/ingest/omh", content=big).status_code == 413  # no token: refused on its length
    assert client.post("/api/v1/ingest/omh", content=big, headers=auth).status_code == 413

    def chunks():  # type: ignore[no-untyped-def]  # no Content-Length: counted while read
        for _ in range(6):
            yield b" " * 10_000

    assert client.post("/api/v1/ingest/omh", content=chunks(), headers=auth).status_code == 413
    # the token is checked before the body is read: an unparseable body without a token is 401
    assert (
        client.post(
            "/api/v1/ingest/omh", content=b"{not json", headers={"Content-Type": "application/json"}
        ).status_code
        == 401
    )
    assert client.post("/api/v1/ingest/omh", content=b"{not json", headers=auth).status_code == 422
    many = client.post("/api/v1/ingest/omh", json=list(range(101)), headers={"Authorization": f"Bearer {token_a}"})
    assert many.status_code == 413 and "at most 100" in many.json()["detail"]
    ints = client.post("/api/v1/ingest/omh", json=list(range(100)), headers={"Authorization": f"Bearer {token_a}"})
    assert ints.status_code == 200 and ints.json()["quarantine_reasons"] == {"INVALID": 100}
    fhir = {"resourceType": "Bundle", "entry": [{}] * 101}
    assert (
        client.post("/api/v1/ingest/fhir", json=fhir, headers={"Authorization": f"Bearer {token_a}"}).status_code == 413
    )
    long_device = client.post("/api/v1/ingest/omh", json=[_point("P-A1", device="d" * 40_000)], headers=auth)
    assert long_device.json()["quarantine_reasons"] == {"INVALID": 1}
    with client.app.state.sessions() as s:  # type: ignore[attr-defined]
        from cgtvigil.store import QuarantineRow

        assert max(len(q.raw) for q in s.scalars(select(QuarantineRow))) <= 4000


def test_patient_add_on_an_existing_patient_records_what_changed(session) -> None:  # type: ignore[no-untyped-def]
    """Reliability review D23 (§1.3 row 3.25): another site is refused (the site was kept and the
    audit said the new one); the same registration again changes nothing; a new treatment and an
    empty detail filled in are reported as such."""
    products = load_products()
    with pytest.raises(ValidationError, match="registered at site 'A', not 'B'"):
        register_patient(session, products, patient="P-1", site="B", product="yescarta", infusion_date=date(2026, 1, 1))
    again = register_patient(
        session, products, patient="P-1", site="A", product="kymriah", infusion_date=date(2026, 1, 1)
    )
    assert not again.changed
    more = register_patient(
        session, products, patient="P-1", site="A", product="kymriah", infusion_date=date(2026, 6, 1), sex="F"
    )
    assert more.audit_detail() == {
        "patient_created": False,
        "treatment": {"product": "kymriah", "infusion_date": "2026-06-01", "lot": None},
        "filled": {"sex": "F"},
    }
    with pytest.raises(ValidationError, match="registered with sex F, not M"):
        register_patient(
            session, products, patient="P-1", site="A", product="kymriah", infusion_date=date(2026, 1, 1), sex="M"
        )
    from cgtvigil.store import TreatmentRow

    assert len(session.scalars(select(TreatmentRow).where(TreatmentRow.patient_id == "P-1")).all()) == 2


def test_names_that_do_not_fit_the_store_are_refused(session) -> None:  # type: ignore[no-untyped-def]
    """Security review M5/M6 and issue 10 item 6 (the length of every id and name): a site or
    gateway name beyond the store's 64 characters was a database error on PostgreSQL."""
    with pytest.raises(ValidationError, match="gateway name must be 1-64"):
        register_gateway(session, "g" * 65, "site-A")
    with pytest.raises(ValidationError, match="gateway site must be 1-64"):
        register_gateway(session, "hub", "site A\u0000")
    with pytest.raises(ValidationError, match="site must be printable text of 1-64"):
        register_patient(
            session, load_products(), patient="P-2", site="s" * 300, product="kymriah", infusion_date=date(2026, 1, 1)
        )
