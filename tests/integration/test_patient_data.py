"""Observation intake: Open mHealth, wearable CSV, FHIR R4 bundles and ePRO. Fixtures are
built here in each format's documented shape (formats.md §4-5); values are invented.
PRO-CTCAE item ids come from shared/data/terminology/pro_ctcae (the official wording is not
shipped)."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cgtvigil.errors import ValidationError
from cgtvigil.ingest import read_fhir_bundle, read_omh, read_questionnaire_response, read_wearable_csv


def omh(
    name: str, version: str, body: dict, when: str = "2026-01-03T14:02:00+01:00", user: str | None = "P-001"
) -> dict:
    header = {
        "id": "x",
        "creation_date_time": when,
        "schema_id": {"namespace": "omh", "name": name, "version": version},
        "acquisition_provenance": {"source_name": "patch-42", "modality": "sensed"},
    }
    if user:
        header["user_id"] = user
    return {"header": header, "body": {**body, "effective_time_frame": {"date_time": when}}}


def test_open_mhealth_points_loaded_or_quarantined() -> None:
    points = [
        omh("body-temperature", "4.0", {"body_temperature": {"value": 38.4, "unit": "C"}}),
        omh("body-temperature", "3.0", {"body_temperature": {"value": 102.2, "unit": "F"}}),  # 39 °C, older version
        omh("body-temperature", "4.0", {"body_temperature": {"value": 41.0, "unit": "C"}}),  # extreme, kept
        omh("body-temperature", "4.0", {"body_temperature": {"value": 60.0, "unit": "C"}}),  # impossible
        omh("heart-rate", "2.0", {"heart_rate": {"value": 128, "unit": "beats/min"}}),
        omh("oxygen-saturation", "2.0", {"oxygen_saturation": {"value": 101, "unit": "%"}}),  # impossible
        omh(
            "blood-pressure",
            "4.0",
            {
                "systolic_blood_pressure": {"value": 84, "unit": "mmHg"},
                "diastolic_blood_pressure": {"value": 50, "unit": "mmHg"},
            },
        ),
        omh("step-count", "3.0", {"step_count": {"value": 900, "unit": "steps"}}),
        omh("body-temperature", "4.0", {"body_temperature": {"value": 38.0, "unit": "C"}}, when="2026-01-03T14:04:00"),
        {"header": {}},
    ]
    r = read_omh(points)
    kinds = [(o.kind, round(o.value, 2)) for o in r.observations]
    assert kinds == [
        ("temperature", 38.4),
        ("temperature", 39.0),
        ("temperature", 41.0),
        ("heart_rate", 128.0),
        ("sbp", 84.0),
        ("dbp", 50.0),
    ]
    assert [q.reason for q in r.quarantine] == [
        "IMPLAUSIBLE_VALUE",
        "IMPLAUSIBLE_VALUE",
        "UNKNOWN_SCHEMA",
        "NO_TIMEZONE",
        "INVALID",
    ]
    assert r.read == len(points) + 1  # blood pressure gives two observations
    first = r.observations[0]
    assert (
        first.patient == "P-001"
        and first.device == "patch-42"
        and first.time == datetime(2026, 1, 3, 13, 2, tzinfo=UTC)
    )
    declared = read_omh(points[8:9], source_timezone="Europe/Berlin")
    assert declared.observations[0].time.utcoffset() == timedelta(hours=1)
    with pytest.raises(ValidationError, match="IANA time zone"):
        read_omh(points, source_timezone="Mars/Olympus")


def test_wearable_csv_with_declared_time_zone(tmp_path: Path) -> None:
    path = tmp_path / "patch.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["subject", "timestamp", "value", "unit", "device"])
        w.writerow(["P-002", "2026-01-04 08:00:00", "37.9", "Cel", "patch-7"])
        w.writerow(["P-002", "2026-01-04 08:02:00", "38.6", "Cel", "patch-7"])
        w.writerow(["P-002", "2026-01-04 08:04:00", "abc", "Cel", "patch-7"])
        w.writerow(["P-002", "2026-01-04 08:06:00", "310.9", "K", "patch-7"])
    r = read_wearable_csv(path, source_timezone="America/New_York", columns={"patient": "subject", "time": "timestamp"})
    assert [round(o.value, 2) for o in r.observations] == [37.9, 38.6, 37.75]
    assert r.observations[0].time.utcoffset() == timedelta(hours=-5)
    assert [(q.reason, q.location.rsplit(":", 1)[1]) for q in r.quarantine] == [("INVALID", "4")]
    no_tz = read_wearable_csv(path, columns={"patient": "subject", "time": "timestamp"})
    assert {q.reason for q in no_tz.quarantine} == {"NO_TIMEZONE"} and not no_tz.observations  # time checked first
    with pytest.raises(ValidationError, match="line 1: missing column"):
        read_wearable_csv(path)


def _obs(code: str, value: float, unit: str, when: str = "2026-01-05T07:00:00Z", **extra: object) -> dict:
    return {
        "resource": {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "subject": {"reference": "Patient/P-003"},
            "effectiveDateTime": when,
            "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
            **extra,
        }
    }


def test_fhir_bundle_observations() -> None:
    bp = {
        "resource": {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
            "subject": {"reference": "Patient/P-003"},
            "effectiveDateTime": "2026-01-05T07:00:00Z",
            "component": [
                {
                    "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                    "valueQuantity": {"value": 88, "unit": "mm[Hg]", "code": "mm[Hg]"},
                },
                {
                    "code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
                    "valueQuantity": {"value": 52, "unit": "mm[Hg]", "code": "mm[Hg]"},
                },
            ],
        }
    }
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            _obs("751-8", 0.4, "10*9/L", referenceRange=[{"low": {"value": 1.8}, "high": {"value": 7.7}}]),
            _obs("1988-5", 85, "mg/L"),
            _obs("2276-4", 12000, "ng/mL"),
            _obs("9999-9", 1, "1"),
            bp,
            {"resource": {"resourceType": "Observation", "code": {"text": "no status"}}},
            {"resource": {"resourceType": "Patient", "id": "P-003"}},
        ],
    }
    r = read_fhir_bundle(bundle)
    got = [(o.kind, round(o.value, 3), o.unit) for o in r.observations]
    assert got == [
        ("anc", 0.4, "10^9/L"),
        ("crp", 8.5, "mg/dL"),
        ("ferritin", 12000.0, "ng/mL"),
        ("sbp", 88.0, "mm[Hg]"),
        ("dbp", 52.0, "mm[Hg]"),
    ]
    assert r.observations[0].ref_low == 1.8 and r.observations[0].patient == "P-003"
    assert [q.reason for q in r.quarantine] == ["UNKNOWN_CODE", "INVALID", "UNKNOWN_CODE"]
    assert "status" in r.quarantine[1].detail


def test_epro_questionnaire_response(shared: Path) -> None:
    with (shared / "terminology/pro_ctcae/PROCTCAE_table.csv").open() as fh:
        items = [row["name"] for row in csv.DictReader(fh)]
    scale = next(i for i in items if i.endswith("_SCL"))
    presence = next(i for i in items if i.endswith("_IND"))
    qr = {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "authored": "2026-01-06T18:30:00+00:00",
        "subject": {"reference": "Patient/P-004"},
        "item": [
            {"linkId": scale, "answer": [{"valueCoding": {"code": "3"}}]},
            {"linkId": presence, "answer": [{"valueInteger": 1}]},
            {"linkId": "cgt_confusion", "answer": [{"valueBoolean": True}]},
            {"linkId": "cgt_fever"},  # not asked / skipped: no observation, not an error
            {"linkId": scale, "answer": [{"valueInteger": 7}]},
            {"linkId": "mood_today", "answer": [{"valueInteger": 2}]},
        ],
    }
    r = read_questionnaire_response(qr)
    assert [(o.kind, o.value) for o in r.observations] == [
        (f"pro_ctcae:{scale}", 3.0),
        (f"pro_ctcae:{presence}", 1.0),
        ("symptom:cgt_confusion", 1.0),
    ]
    assert [q.reason for q in r.quarantine] == ["IMPLAUSIBLE_VALUE", "UNKNOWN_CODE"]
    assert read_questionnaire_response({**qr, "status": "in-progress"}).quarantine[0].reason == "INVALID"
