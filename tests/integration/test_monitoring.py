"""Monitoring on real SQLite and PostgreSQL operational stores: idempotent intake, corrections, the
persistence filter, CTCAE and ePRO triggers, alert de-duplication and lifecycle, and the HTTP
ingestion endpoint with gateway tokens. Thresholds are the documented project defaults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
    resolve,
    store_observations,
)
from cgtvigil.store import AlertRow, ObservationRow, operational_engine, session_factory

T0 = datetime(2026, 1, 3, 12, 0, tzinfo=UTC)
RULES = MonitoringRules()


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
    engine = operational_engine(operational_url)
    with session_factory(engine)() as s:
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
    settings = Settings(operational_url=operational_url)
    app = create_app(settings)
    with app.state.sessions() as s:
        token = register_gateway(s, "ward-7-hub", "site-A")
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
    assert [a["rule"] for a in body["alerts"]] == ["sensor_fever"]
    repeat = client.post(
        "/api/v1/ingest/omh", json={"points": points[:3]}, headers={"Authorization": f"Bearer {token}"}
    )
    assert repeat.json()["duplicates"] == 3 and repeat.json()["loaded"] == 0
    assert client.get("/api/v1/health").json()["status"] == "ok"
    app.state.engine.dispose()


def test_registry_validates_every_field(session) -> None:  # type: ignore[no-untyped-def]
    from datetime import date

    from cgtvigil.monitoring import register_patient
    from cgtvigil.store import load_products

    t = register_patient(
        session, load_products(), patient="P-10", site="A", product="Kymriah", infusion_date=date(2026, 1, 1)
    )
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
    from datetime import date

    from cgtvigil.ingest import read_assessments
    from cgtvigil.monitoring import register_patient
    from cgtvigil.store import load_products

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
    # neutropenic from day 0 without recovery: grade 4 is certain (domain.md §2.3 operational rule)
    assert rules["icaht_early"].message.startswith("running early ICAHT grade 4")
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
        ("masking_agent", {"agents": ["tocilizumab"]}),
        ("crs_grade", {"driver": "fever 39.0 °C", "version": "ASTCT-CRS-2019"}),
    ]
    temps = [obs("temperature", 37.2, m) for m in (60, 62, 64)]
    store_observations(session, IntakeResult(intake.observations + temps), T0)
    alerts = {a.rule: a for a in evaluate_patient(session, "P-1", RULES, since=T0, now=T0 + timedelta(hours=2))}
    assert "fever_masked" in alerts and "does not mean CRS has resolved" in alerts["fever_masked"].message
