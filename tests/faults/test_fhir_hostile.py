"""Hostile FHIR AdverseEvent input: each refused with one clear message naming the file, as the
E2B reader does for XML (formats.md C1, C5); entries of the wrong shape quarantined, not crashing."""

from __future__ import annotations

import pytest

from cgtvigil.errors import ParseError
from cgtvigil.ingest import FhirLimits, read_fhir_adverse_events

pytestmark = pytest.mark.faults


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "FHIR_TOO_DEEP"),
        (b'{"resourceType": "AdverseEvent", "x": ' + b"[" * 70 + b"]" * 70 + b"}", "FHIR_TOO_DEEP"),
        (b'{"resourceType": "AdverseEvent", "id": "\xff"}', "FHIR_ENCODING"),
        (b'{"resourceType": "AdverseEvent",', "FHIR_MALFORMED"),
        (b'{"resourceType": "Patient"}', "FHIR_NOT_ADVERSE_EVENT"),
        (b'{"resourceType": "Bundle", "entry": {"a": 1}}', "FHIR_TOO_MANY_ENTRIES"),
    ],
)
def test_refused_with_one_message(data: bytes, code: str) -> None:
    with pytest.raises(ParseError, match=code) as info:
        read_fhir_adverse_events(data, name="bad.json")
    assert str(info.value).startswith("bad.json")


def test_size_and_entry_limits() -> None:
    doc = b'{"resourceType": "Bundle", "entry": [' + b",".join([b"{}"] * 11) + b"]}"
    with pytest.raises(ParseError, match="FHIR_TOO_MANY_ENTRIES"):
        read_fhir_adverse_events(doc, name="b.json", limits=FhirLimits(max_entries=10))
    with pytest.raises(ParseError, match="FHIR_TOO_LARGE"):
        read_fhir_adverse_events(doc, name="b.json", limits=FhirLimits(max_bytes=10))


def test_wrong_shapes_are_quarantined_not_crashing() -> None:
    doc = b"""{"resourceType": "Bundle", "type": "collection", "entry": [
      {"resource": {"resourceType": "AdverseEvent", "id": "a", "actuality": "actual", "subject": "Patient/1"}},
      {"resource": {"resourceType": "AdverseEvent", "id": "b", "actuality": "actual",
                    "subject": {"reference": "Patient/1"}, "event": {"text": "CRS"}}},
      "not an entry"]}"""
    batch = read_fhir_adverse_events(doc, name="s.json")
    assert batch.read == 3 and len(batch.loaded) == 1
    assert [q.xpath for q in batch.quarantined][1] == "entry[2].resource"
    assert batch.quarantined[0].reason == "INVALID_VALUE" and batch.quarantined[0].xpath.startswith("entry[0]")
