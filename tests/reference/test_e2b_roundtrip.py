"""E2B(R3) round trip on FDA's example messages (shared/data/e2b_r3/instances, FDA ICSR XML
instances v1.2 of 2024-07-29): import -> export -> import gives the same canonical cases, the
export validates against the ICH/HL7 schema set in shared/data/e2b_r3/schemas (not shipped with
the package: see reports/_e2b.py), and no data element of the original is lost.

Expected values: the FDA files themselves (every attribute and text of the original must be in
the export), and FDA's business-rule spreadsheet for the rule texts."""

from __future__ import annotations

import collections
import csv
import os
from pathlib import Path

import pytest
from lxml import etree

from cgtvigil.ingest import read_e2b
from cgtvigil.reports import FDA_RULE_IDS, check_fda_rules, validate_e2b, write_e2b
from cgtvigil.reports._e2b_rules import _FDA_RULES

NS = "{urn:hl7-org:v3}"
STRUCTURAL = {"classCode", "moodCode", "typeCode", "determinerCode"}
TEMPLATE_LISTS = {f"2.16.840.1.113883.3.989.2.1.1.{n}" for n in (19, 20, 21, 22, 23, 27)} | {
    "2.16.840.1.113883.3.26.1.1"
}
CODED_PARENTS = {
    NS + t
    for t in (
        "observation",
        "organizer",
        "causalityAssessment",
        "investigationCharacteristic",
        "observationEvent",
        "relatedInvestigation",
        "characteristic",
    )
}
# the same folder as the `shared` fixture (CGTVIGIL_SHARED_DATA for a clone outside the workspace)
_SHARED = Path(os.environ.get("CGTVIGIL_SHARED_DATA") or Path(__file__).resolve().parents[2].parent / "shared/data")
INSTANCES = sorted((_SHARED / "e2b_r3/instances").glob("*.xml"))


def _leaves(root: etree._Element) -> collections.Counter[tuple[str, str]]:
    """Every attribute and text of the document as (path, value); a path step of a coded element
    carries its code, so a value moved to another element counts as lost. Left out: the HL7
    structural attributes (classCode, ...), the display name and version of the template codes
    that only label an element (e.g. code 29 'reaction'), and the schemaLocation hint (the export
    never names a remote schema)."""
    out: collections.Counter[tuple[str, str]] = collections.Counter()
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        steps = []
        e: etree._Element | None = el
        while e is not None:
            tag = e.tag.replace(NS, "")
            c = e.find(NS + "code")
            if e.tag in CODED_PARENTS and c is not None and (c.get("code") or c.get("nullFlavor")):
                tag += f"[{c.get('code') or c.get('nullFlavor')}]"
            steps.append(tag)
            e = e.getparent()
        path = "/".join(reversed(steps))
        template = (
            el.tag == NS + "code" and el.getparent().tag in CODED_PARENTS and el.get("codeSystem") in TEMPLATE_LISTS
        )
        for k, v in el.attrib.items():
            name = k.split("}")[-1]
            if k in STRUCTURAL or name == "schemaLocation" or (template and k in ("displayName", "codeSystemVersion")):
                continue
            out[(f"{path}@{name}", v)] += 1
        if el.text and el.text.strip():
            out[(f"{path}#text", el.text.strip())] += 1
    return out


def test_fda_examples_are_there(shared: Path) -> None:
    assert len(list((shared / "e2b_r3/instances").glob("FAERS2022Scenario*.xml"))) == 9


@pytest.mark.parametrize("path", INSTANCES, ids=[p.stem for p in INSTANCES])
def test_round_trip(path: Path, shared: Path) -> None:
    first = read_e2b(path)
    assert first.read == len(first.loaded) == 1 and not first.quarantined
    h = first.header
    xml = write_e2b(
        first.cases, batch_id=h.batch_id or "", sender=h.sender or "", receiver=h.receiver or "", created=h.created
    )
    assert validate_e2b(xml, shared / "e2b_r3/schemas") == []
    second = read_e2b(xml, name="export")
    assert second.cases == first.cases
    lost = _leaves(etree.parse(str(path)).getroot()) - _leaves(etree.fromstring(xml))
    assert not lost, "elements lost in the export:\n" + "\n".join(f"{p} = {v!r}" for p, v in sorted(lost))
    # the canonical case itself round-trips through JSON
    case = first.cases[0]
    assert type(case).model_validate_json(case.model_dump_json()) == case


@pytest.mark.parametrize("path", INSTANCES, ids=[p.stem for p in INSTANCES])
def test_fda_examples_pass_the_business_rules(path: Path) -> None:
    batch = read_e2b(path)
    assert check_fda_rules(batch.cases, batch_receiver=batch.header.receiver or "") == []


def test_values_from_scenario1() -> None:
    """Values read by eye from FAERS2022Scenario1.xml."""
    case = read_e2b(next(p for p in INSTANCES if p.stem == "FAERS2022Scenario1")).cases[0]
    assert case.safety_report_id == case.worldwide_id == "US-APHARMA-8744554B"
    assert case.patient.name == "JD" and case.patient.sex is not None and case.patient.sex.code == "1"
    assert case.patient.age is not None and (case.patient.age.value, case.patient.age.unit) == ("48", "a")
    r = case.reactions[0]
    assert r.meddra is not None and (r.meddra.code, r.meddra.version) == ("10027940", "25.0")
    assert r.death is not None and not isinstance(r.death, bool) and r.death.null_flavor == "NI"  # kept, not blank
    assert r.disabling is True and r.medically_important is True and case.serious
    assert [d.name for d in case.drugs] == ["Drug A", "Drug B", "Drug C"]
    assert [d.role.code if d.role else None for d in case.drugs] == ["1", "1", "2"]
    assert case.drugs[0].dosages[0].route is not None and case.drugs[0].dosages[0].route.code == "001"
    rel = case.drugs[0].assessments
    assert {(a.reaction_id[-4:], a.relatedness[0].result) for a in rel} == {
        ("657f", "Not Suspected"),
        ("555f", "Suspected"),
    }
    assert case.fda_local_criteria is not None and case.fda_local_criteria.code == "1"
    assert [c.code for c in case.patient.race] == ["C41260", "C41219"]


def test_rule_texts_are_fdas(shared: Path) -> None:
    """Each implemented rule's element, severity and message equal FDA's spreadsheet row."""
    with (shared / "e2b_r3/fda_business_rules/rejection_warning_rules.csv").open(encoding="utf-8") as f:
        rows = list(csv.reader(f))
    element = None
    fda = {}
    for r in rows[7:]:
        element = r[0].strip() or element
        if len(r) > 6 and r[5].strip():
            fda[r[5].strip()] = (element, "rejection" if r[3].strip() else "warning", " ".join(r[6].split()))
    assert len(FDA_RULE_IDS) >= 50
    for rule_id in FDA_RULE_IDS:
        assert _FDA_RULES[rule_id] == fda[rule_id], rule_id


def test_exports_validate_with_xmlschema_too(shared: Path) -> None:
    """The second XSD engine (xmlschema, pure Python) agrees: every export is valid, and an
    element out of place is reported by both with its path."""
    schemas = shared / "e2b_r3/schemas"
    for path in INSTANCES:
        b = read_e2b(path)
        xml = write_e2b(b.cases, batch_id="B", sender="S", receiver=b.header.receiver or "")
        assert validate_e2b(xml, schemas, engine="xmlschema") == [], path.name
    bad = xml.replace(b'<statusCode code="active"/>', b'<statusCode code="active"/><bogus/>', 1)
    by_lxml = validate_e2b(bad, schemas, engine="lxml")
    by_xmlschema = validate_e2b(bad, schemas, engine="xmlschema")
    assert len(by_lxml) == len(by_xmlschema) == 1
    assert "bogus" in by_lxml[0] and "bogus" in by_xmlschema[0] and "/investigationEvent" in by_xmlschema[0]
