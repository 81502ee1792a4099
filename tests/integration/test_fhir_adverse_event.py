"""FHIR AdverseEvent import and export (formats.md §4.1) through the canonical case: the HL7
example (``../shared/data/fhir/adverseevent-example.json``) read, written as R4 and R5 and read
back to the same case; FDA's E2B(R3) example cases written as AdverseEvents that
``fhir.resources`` validates; quarantine with reasons and JSON paths."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from cgtvigil.errors import ParseError
from cgtvigil.ingest import read_e2b, read_fhir_adverse_events
from cgtvigil.reports import write_fhir_adverse_events


@pytest.fixture(scope="module")
def example(shared: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((shared / "fhir/adverseevent-example.json").read_text("utf-8"))
    return data


def _read(doc: dict[str, Any], **kw: Any) -> Any:
    return read_fhir_adverse_events(json.dumps(doc).encode(), name="ae.json", **kw)


def test_the_hl7_example_maps_into_the_canonical_case(shared: Path) -> None:
    batch = read_fhir_adverse_events(shared / "fhir/adverseevent-example.json")
    assert (batch.read, batch.resources_loaded, batch.quarantined) == (1, 1, [])
    case = batch.cases[0]
    assert case.safety_report_id == "49476534"
    assert case.other_ids == (("http://acme.com/ids/patients/risks", "49476534"),)
    assert case.patient.reference == "Patient/example"
    (r,) = case.reactions
    assert r.as_reported == "This was a mild rash on the left forearm"
    assert r.meddra is None and [c.code for c in r.other_codes] == ["304386008"]  # SNOMED is not MedDRA
    assert r.start == "20170129123456+0000"
    assert r.seriousness is not None and r.seriousness.code == "Non-serious" and not r.serious
    assert r.severity is not None and r.severity.code == "mild"  # severity kept apart from seriousness
    assert [c.code for c in r.categories] == ["product-use-error"]
    assert [d.id for d in case.drugs] == ["Medication/example"] and case.drugs[0].suspect
    assert case.primary_sources[0].person.reference == "Practitioner/example"


@pytest.mark.parametrize("version", ["R4", "R5"])
def test_the_example_round_trips(shared: Path, version: str) -> None:
    first = read_fhir_adverse_events(shared / "fhir/adverseevent-example.json").cases
    out = write_fhir_adverse_events(first, version=version)  # type: ignore[arg-type]
    again = read_fhir_adverse_events(out.to_json().encode(), name="out.json")
    assert again.version == version and not again.quarantined
    if version == "R4":
        assert again.cases == first
        assert out.not_written == {}
    else:  # R5 has no severity: the one difference, and it is listed
        assert out.not_written == {"49476534": ("severity (R5 has none)",)}
        assert again.cases[0].reactions[0].severity is None
        stripped = first[0].reactions[0].model_copy(update={"severity": None})
        assert again.cases[0] == first[0].model_copy(update={"reactions": (stripped,)})


def test_criteria_outcome_causality_and_several_events_of_one_report(example: dict[str, Any]) -> None:
    a = copy.deepcopy(example)
    del a["severity"]  # R5 has none
    a["seriousness"] = {"coding": [{"system": "x", "code": "Serious"}]}
    a["extension"] = [
        {"url": "https://cgtvigil.org/fhir/StructureDefinition/e2b-seriousness-criterion", "valueCode": "death"}
    ]
    a["outcome"] = {"coding": [{"code": "fatal"}]}
    a["suspectEntity"][0]["causality"] = [
        {"assessment": {"text": "related"}, "author": {"reference": "Practitioner/1"}}
    ]
    b = copy.deepcopy(example)
    b["id"] = "example-2"
    del b["severity"]
    b["event"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/mdr", "code": "10011911"}]}
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": a}, {"resource": b}]}
    batch = _read(bundle)
    (case,) = batch.cases  # the two share the identifier: one report, two reactions
    assert batch.read == 2 and batch.resources_loaded == 2
    assert [r.id for r in case.reactions] == ["example", "example-2"]
    assert case.reactions[0].death is True and case.reactions[0].outcome.code == "5"
    assert case.reactions[1].meddra is not None and case.reactions[1].meddra.code == "10011911"
    (drug,) = case.drugs
    assert drug.assessments[0].reaction_id == "example"
    assert drug.assessments[0].relatedness[0].result == "related"
    for version in ("R4", "R5"):
        back = read_fhir_adverse_events(write_fhir_adverse_events([case], version=version).to_json().encode())
        assert back.cases == [case], version


def test_e2b_example_cases_export_as_valid_adverse_events(shared: Path) -> None:
    cases = read_e2b(shared / "e2b_r3/instances/FAERS2022Scenario1.xml").cases
    for version in ("R4", "R5"):
        out = write_fhir_adverse_events(cases, version=version)
        assert len(out.bundle["entry"]) == sum(len(c.reactions) for c in cases)
        back = read_fhir_adverse_events(out.to_json().encode(), name="e2b.json")
        assert [c.safety_report_id for c in back.cases] == [c.safety_report_id for c in cases]
        assert [len(c.reactions) for c in back.cases] == [len(c.reactions) for c in cases]
        for before, after in zip(cases, back.cases, strict=True):
            assert [r.meddra for r in after.reactions] == [r.meddra for r in before.reactions]
            assert [r.serious for r in after.reactions] == [r.serious for r in before.reactions]
        # what FHIR cannot carry is listed, not dropped silently
        assert "narrative" in out.not_written[cases[0].safety_report_id]


def test_bad_resources_are_quarantined_with_reason_and_path(example: dict[str, Any]) -> None:
    potential = copy.deepcopy(example) | {"actuality": "potential", "identifier": {"value": "P"}}
    invalid = copy.deepcopy(example) | {"identifier": {"value": "I"}, "date": "29/01/2017"}
    unknown = copy.deepcopy(example) | {
        "identifier": {"value": "U"},
        "extension": [
            {"url": "https://cgtvigil.org/fhir/StructureDefinition/e2b-seriousness-criterion", "valueCode": "x"}
        ],
    }
    good = copy.deepcopy(example)
    entries = [{"resource": r} for r in (potential, invalid, good, unknown)] + [
        {"resource": {"resourceType": "Patient"}}
    ]
    batch = _read({"resourceType": "Bundle", "type": "collection", "entry": entries})
    assert batch.read == 4 and len(batch.loaded) == 1
    got = {q.safety_report_id: (q.reason, q.xpath) for q in batch.quarantined}
    assert got["P"] == ("NOT_ACTUAL", "entry[0].resource.actuality")
    assert got["I"][0] == "INVALID_VALUE" and got["I"][1].startswith("entry[1].resource.date")
    assert got["U"] == ("UNKNOWN_CODE", "entry[3].resource.extension")
    assert all(json.loads(q.raw)["resourceType"] == "AdverseEvent" for q in batch.quarantined)


def test_registry_link_and_mixed_versions(example: dict[str, Any]) -> None:
    linked = _read(example, registry=lambda pid: pid == "example").loaded[0]
    assert not [w for w in linked.warnings if w.startswith("SUBJECT_NOT_IN_REGISTRY")]
    unlinked = _read(example, registry=lambda pid: False).loaded[0]
    assert any(w.startswith("SUBJECT_NOT_IN_REGISTRY") for w in unlinked.warnings)
    r5 = write_fhir_adverse_events(_read(example).cases, version="R5").bundle["entry"][0]["resource"]
    mixed = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": example}, {"resource": r5}]}
    with pytest.raises(ParseError, match="FHIR_MIXED_VERSIONS"):
        _read(mixed)


def test_cli_ingest_and_export_fhir(shared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from cgtvigil.cli import app
    from cgtvigil.store import CaseStore

    monkeypatch.setenv("CGTVIGIL_OPERATIONAL_URL", f"sqlite:///{tmp_path / 'none.db'}")  # no registry
    runner = CliRunner()
    db, report = tmp_path / "c.duckdb", tmp_path / "r.json"
    src = str(shared / "fhir/adverseevent-example.json")
    res = runner.invoke(app, ["ingest", "fhir", src, "--db", str(db), "--report-json", str(report)])
    assert res.exit_code == 0, res.output
    (row,) = json.loads(report.read_text())["files"]
    assert (row["read"], row["loaded"], row["quarantined"], row["new"]) == (1, 1, 0, 1)
    assert runner.invoke(app, ["ingest", "fhir", src, "--db", str(db)]).exit_code == 0  # re-run: no-op
    with CaseStore(db, read_only=True) as store:
        assert store.counts()["current"] == 1
    out = tmp_path / "o.json"
    res = runner.invoke(app, ["export", "fhir", "--out", str(out), "--db", str(db)])
    assert res.exit_code == 0, res.output
    assert (
        read_fhir_adverse_events(out).cases == read_fhir_adverse_events(shared / "fhir/adverseevent-example.json").cases
    )
