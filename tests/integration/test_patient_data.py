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
from cgtvigil.ingest import (
    read_assessments,
    read_fhir_bundle,
    read_omh,
    read_questionnaire_response,
    read_wearable_csv,
)


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


NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _temp(when: object, value: object = 38.0, user: object = "P-001", device: object = "patch-42") -> dict:
    point = omh("body-temperature", "4.0", {"body_temperature": {"value": value, "unit": "C"}}, user="P-001")
    point["body"]["effective_time_frame"]["date_time"] = when
    point["header"]["user_id"] = user
    point["header"]["acquisition_provenance"]["source_name"] = device
    return point


def test_extreme_and_future_times_are_quarantined_per_element() -> None:
    """Reliability review D9 (§1.3 rows 3.10, 3.11) and security review M7: the times that gave
    HTTP 500 or were stored silently, each quarantined with its reason; the valid point stays."""
    times = {
        "2026-12-01T11:00:00+00:00": None,
        "2026-12-01T12:09:00+00:00": None,  # within the clock-skew allowance
        "0001-01-01T00:00:00+00:00": "IMPLAUSIBLE_TIME",
        "0001-01-01T00:00:00+14:00": "IMPLAUSIBLE_TIME",  # overflows when converted to UTC
        "9999-12-31T23:00:00-12:00": "IMPLAUSIBLE_TIME",  # overflows the other way
        "9999-12-31T23:59:59Z": "FUTURE_TIME",
        "0001-01-02T00:00:00+00:00": "IMPLAUSIBLE_TIME",
        "1899-12-31T23:59:00+00:00": "IMPLAUSIBLE_TIME",
        "2031-01-01T00:00:00Z": "FUTURE_TIME",
        "2026-12-01T12:11:00+00:00": "FUTURE_TIME",  # beyond the 10-minute allowance
        20261201: "INVALID",
        "x" * 10_000: "INVALID",
    }
    r = read_omh([_temp(t) for t in times], now=NOW)
    assert len(r.observations) == 2
    assert [q.reason for q in r.quarantine] == [v for v in times.values() if v]
    assert all(len(q.detail) <= 1000 and len(q.raw) <= 4000 for q in r.quarantine)
    crs = [{"time": t, "temperature": 38.5} for t in ("0001-01-01T00:00:00+14:00", "2031-01-01T00:00:00Z")]
    graded = read_assessments({"patient": "P-001", "crs": crs}, now=NOW)
    assert [q.reason for q in graded.quarantine] == ["IMPLAUSIBLE_TIME", "FUTURE_TIME"] and not graded.observations


WRONG_SHAPES = [
    ("fhir", {"resourceType": "Bundle", "entry": [1]}),
    ("fhir", {"resourceType": "Bundle", "entry": [[1]]}),
    ("fhir", {"resourceType": "Bundle", "entry": "abc"}),
    ("fhir", {"resourceType": "Bundle", "entry": [{"resource": "abc"}]}),
    ("fhir", {"a": 1}),
    ("fhir", "abc"),
    ("epro", {"resourceType": "QuestionnaireResponse", "status": "completed", "item": [5]}),
    (
        "epro",
        {"status": "completed", "subject": {"reference": "Patient/P-1"}, "item": [{"linkId": "x", "answer": [3]}]},
    ),
    ("epro", {"status": "completed", "subject": "P-0001", "item": []}),
    ("epro", {"status": "completed", "subject": {"reference": 5}, "item": []}),
    ("assessment", {"patient": "P-0001", "crs": 5}),
    ("assessment", {"patient": "P-0001", "icans": "abc"}),
    ("assessment", [1, 2]),
    ("omh", [1, [2], "x", None, {"header": [], "body": {}}, {"header": {"schema_id": "x"}, "body": {}}]),
    ("omh", [{"header": {"schema_id": {"name": "heart-rate", "version": 2}}, "body": {"effective_time_frame": []}}]),
    ("omh", [{**_temp("2026-12-01T11:00:00Z"), "body": {"body_temperature": [], "effective_time_frame": {}}}]),
]


@pytest.mark.parametrize(("fmt", "payload"), WRONG_SHAPES)
def test_structurally_wrong_json_is_quarantined_as_invalid(fmt: str, payload: object) -> None:
    """Reliability review D10 (§1.3 row 3.23): each of these raised AttributeError or TypeError."""
    readers = {
        "fhir": read_fhir_bundle,
        "epro": read_questionnaire_response,
        "assessment": read_assessments,
        "omh": read_omh,
    }
    r = readers[fmt](payload, now=NOW)  # type: ignore[operator]
    assert not r.observations and r.quarantine and {q.reason for q in r.quarantine} == {"INVALID"}


def test_booleans_ids_and_device_names_are_checked() -> None:
    """Reliability review D11 (a JSON boolean stored as 1 bpm) and D6 (ids and device names
    stored whatever they were: 10,000 characters, a NUL, a number, a list)."""
    hr = omh("heart-rate", "2.0", {"heart_rate": {"value": True, "unit": "beats/min"}}, when="2026-12-01T11:00:00Z")
    points = [
        hr,
        _temp("2026-12-01T11:00:00Z", user="P" * 10_000),
        _temp("2026-12-01T11:00:00Z", user="P-0001\u0000x"),
        _temp("2026-12-01T11:00:00Z", user=123),
        _temp("2026-12-01T11:00:00Z", user=["a"]),
        _temp("2026-12-01T11:00:00Z", device="d" * 65),
        _temp("2026-12-01T11:00:00Z", device={"name": "x"}),
        _temp("2026-12-01T11:00:00Z", value=10**400),
        _temp("2026-12-01T11:00:00Z", device="d" * 64),  # the longest name that fits
    ]
    r = read_omh(points, now=NOW)
    assert [q.reason for q in r.quarantine] == ["INVALID"] * 7 + ["IMPLAUSIBLE_VALUE"]
    assert "boolean" in r.quarantine[0].detail and "pseudonym" in r.quarantine[1].detail
    assert "\x00" not in r.quarantine[2].detail + r.quarantine[2].raw
    assert [o.device for o in r.observations] == ["d" * 64]
    ids = read_assessments({"patient": ["a"], "crs": [{"time": "2026-12-01T11:00:00Z", "temperature": 39}]}, now=NOW)
    assert [q.reason for q in ids.quarantine] == ["INVALID"] and "pseudonym" in ids.quarantine[0].detail
    qr = {
        "status": "completed",
        "authored": "2026-12-01T11:00:00Z",
        "subject": {"reference": "Patient/P-004"},
        "item": [
            {"linkId": "cgt_fever", "answer": [{"valueBoolean": "yes"}]},
            {"linkId": "cgt_seizure", "answer": [{"valueInteger": True}]},
        ],
    }
    assert [q.reason for q in read_questionnaire_response(qr, now=NOW).quarantine] == ["INVALID", "INVALID"]


def test_each_quarantined_component_keeps_its_own_raw_text() -> None:
    """Bounded work on hostile input (reliability review D4/D5 spirit): a resource with 2,000
    unknown components was serialised whole once per component (2,000 x the resource)."""
    component = {"code": {"coding": [{"system": "http://loinc.org", "code": "0000-0"}]}, "valueQuantity": {"value": 1}}
    resource = {**_obs("8480-6", 1, "mm[Hg]")["resource"], "component": [component] * 2000}
    r = read_fhir_bundle({"resourceType": "Bundle", "entry": [{"resource": resource}]}, now=NOW)
    assert len(r.quarantine) == 2000 and {q.reason for q in r.quarantine} == {"UNKNOWN_CODE"}
    assert max(len(q.raw) for q in r.quarantine) < 200
