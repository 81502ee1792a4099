"""Hostile and malformed E2B(R3) input: refused with one clear message, or the bad report
quarantined with its XPath while the rest of the batch loads (formats.md C1, C9)."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from cgtvigil.errors import ParseError
from cgtvigil.ingest import XmlLimits, read_ack, read_e2b

pytestmark = pytest.mark.faults

NS = "{urn:hl7-org:v3}"


@pytest.fixture(scope="module")
def scenario1(shared: Path) -> bytes:
    return (shared / "e2b_r3/instances/FAERS2022Scenario1.xml").read_bytes()


def _batch_of(xml: bytes, n: int) -> etree._Element:
    root = etree.fromstring(xml)
    msg = root.find(NS + "PORR_IN049016UV")
    for i in range(1, n):
        copy = etree.fromstring(etree.tostring(msg))
        copy.find(f"{NS}controlActProcess/{NS}subject/{NS}investigationEvent/{NS}id").set("extension", f"US-X-{i}")
        msg.addnext(copy)
    return root


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<MCCI_IN200100UV01 xmlns="urn:hl7-org:v3">&lol3;</MCCI_IN200100UV01>"""
XXE = b"""<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<MCCI_IN200100UV01 xmlns="urn:hl7-org:v3"><id extension="&xxe;"/></MCCI_IN200100UV01>"""
REMOTE_DTD = b"""<?xml version="1.0"?><!DOCTYPE x SYSTEM "http://example.invalid/x.dtd">
<MCCI_IN200100UV01 xmlns="urn:hl7-org:v3"/>"""


@pytest.mark.parametrize("data", [BILLION_LAUGHS, XXE, REMOTE_DTD], ids=["billion-laughs", "xxe", "remote-dtd"])
def test_doctype_refused_with_one_message(data: bytes) -> None:
    """Refused before libxml2 sees the document, so no entity is ever expanded or fetched."""
    with pytest.raises(ParseError, match=r"^bad\.xml: XML_DTD_REFUSED: a <!DOCTYPE> declaration is not accepted"):
        read_e2b(data, name="bad.xml")


def test_doctype_after_a_long_comment_is_still_refused() -> None:
    data = b"<?xml version='1.0'?><!--" + b"x" * 10000 + b"-->" + XXE.split(b"?>", 1)[1]
    with pytest.raises(ParseError, match="XML_DTD_REFUSED"):
        read_e2b(data, name="bad.xml")


def test_not_well_formed_names_the_line(scenario1: bytes) -> None:
    broken = scenario1.replace(b"</PORR_IN049016UV>", b"</PORR_IN049016>", 1)
    with pytest.raises(ParseError, match=r"^x\.xml, line \d+: XML_MALFORMED"):
        read_e2b(broken, name="x.xml")


def test_too_deep_and_too_large() -> None:
    deep = b"<a>" * 200 + b"</a>" * 200
    with pytest.raises(ParseError, match="XML_TOO_DEEP"):
        read_e2b(deep, name="deep.xml")
    with pytest.raises(ParseError, match="XML_TOO_LARGE"):
        read_e2b(b"<a/>" + b" " * 2000, name="big.xml", limits=XmlLimits(max_bytes=1000))


def test_not_a_batch() -> None:
    with pytest.raises(ParseError, match="E2B_NOT_A_BATCH"):
        read_e2b(b"<foo/>", name="foo.xml")
    with pytest.raises(ParseError, match="E2B_NOT_AN_ACK"):
        read_ack(b"<foo/>", name="foo.xml")


def test_a_bad_report_is_quarantined_with_its_xpath_and_the_rest_load(scenario1: bytes) -> None:
    root = _batch_of(scenario1, 4)
    msgs = root.findall(NS + "PORR_IN049016UV")
    ie = msgs[1].find(f"{NS}controlActProcess/{NS}subject/{NS}investigationEvent")
    ie.remove(ie.find(NS + "id"))  # C.1.1 missing
    flag = next(o for o in msgs[2].iter(NS + "observation") if o.find(NS + "code").get("code") == "35")
    flag.find(NS + "value").set("value", "yes")  # not a boolean
    avail = msgs[3].find(f".//{NS}investigationEvent/{NS}availabilityTime")
    avail.set("value", "2022-06-14")  # not an HL7 timestamp
    batch = read_e2b(etree.tostring(root), name="batch.xml")
    assert batch.read == 4 and len(batch.loaded) == 1 and len(batch.quarantined) == 3
    reasons = {q.reason: q for q in batch.quarantined}
    assert set(reasons) == {"MISSING_ELEMENT", "INVALID_VALUE"}
    missing = reasons["MISSING_ELEMENT"]
    assert missing.xpath.startswith("/*/*[") and "C.1.1" in missing.detail and missing.raw
    details = sorted(q.detail for q in batch.quarantined)
    assert any("'yes'" in d and "boolean" in d for d in details)
    assert any("most_recent" in d and "2022-06-14" in d for d in details)
    assert all(q.xpath for q in batch.quarantined)
    batch.check_counts()


def test_nullflavors_survive(scenario1: bytes) -> None:
    data = scenario1.replace(b"<name>JD</name>", b'<name nullFlavor="MSK"/>', 1)
    case = read_e2b(data).cases[0]
    assert case.patient.name is not None and not isinstance(case.patient.name, str)
    assert case.patient.name.null_flavor == "MSK"


def test_a_misplaced_message_is_quarantined_not_skipped(scenario1: bytes) -> None:
    root = etree.fromstring(scenario1)
    msg = root.find(NS + "PORR_IN049016UV")
    nested = etree.fromstring(etree.tostring(msg))
    root.find(NS + "receiver").append(nested)
    batch = read_e2b(etree.tostring(root), name="b.xml")
    assert (batch.read, len(batch.loaded), len(batch.quarantined)) == (2, 1, 1)
    assert batch.quarantined[0].reason == "MISPLACED_MESSAGE" and "/*[" in batch.quarantined[0].xpath


@pytest.mark.parametrize(
    ("encoding", "code"),
    [("utf-16-le", "XML_DTD_REFUSED"), ("utf-16-be", "XML_DTD_REFUSED"), ("utf-32", "XML_MALFORMED")],
)
def test_doctype_in_other_encodings_is_refused(encoding: str, code: str) -> None:
    """UTF-16 either way round is caught by the byte scan; libxml2 does not read UTF-32 at all."""
    text = XXE.decode().replace('<?xml version="1.0"?>', f'<?xml version="1.0" encoding="{encoding.upper()}"?>')
    data = ("\ufeff" if encoding != "utf-32" else "").encode(encoding) + text.encode(encoding)
    with pytest.raises(ParseError, match=code):
        read_e2b(data, name="enc.xml")


def test_schema_invalid_report_is_quarantined_with_its_xpath(scenario1: bytes, shared: Path) -> None:
    root = _batch_of(scenario1, 2)
    bad = root.findall(NS + "PORR_IN049016UV")[1]
    ie = bad.find(f"{NS}controlActProcess/{NS}subject/{NS}investigationEvent")
    ie.find(NS + "statusCode").addnext(etree.Element(NS + "bogus"))
    batch = read_e2b(etree.tostring(root), name="b.xml", schema_dir=shared / "e2b_r3/schemas")
    assert (batch.read, len(batch.loaded), len(batch.quarantined)) == (2, 1, 1)
    q = batch.quarantined[0]
    assert q.reason == "XSD_INVALID" and "bogus" in q.detail
    assert q.xpath.startswith("/*/*[7]/") and q.xpath.count("/") > 4  # the message, then inside it
    assert read_e2b(scenario1, schema_dir=shared / "e2b_r3/schemas").loaded  # FDA's own example is valid


def test_an_unknown_causality_code_quarantines_the_report(scenario1: bytes) -> None:
    data = scenario1.replace(
        b'<code code="39" codeSystem="2.16.840.1.113883.3.989.2.1.1.19" displayName="causality"/>',
        b'<code code="99" codeSystem="2.16.840.1.113883.3.989.2.1.1.19" displayName="causality"/>',
        1,
    )
    batch = read_e2b(data, name="b.xml")
    assert [q.reason for q in batch.quarantined] == ["UNKNOWN_ELEMENT"]
    q = batch.quarantined[0]
    assert q.xpath.startswith("/*/*[") and q.xpath.count("/") >= 6 and "'99'" in q.detail  # the assessment itself


def test_an_element_the_model_does_not_carry_is_listed_not_dropped_silently(scenario1: bytes) -> None:
    from cgtvigil.reports import lost_elements

    data = scenario1.replace(
        b'<statusCode code="active"/>', b'<statusCode code="active"/><confidentialityCode code="N"/>', 1
    )
    plain = read_e2b(data).loaded[0]
    assert not any(w.startswith("NOT_KEPT") for w in plain.warnings)
    inspected = read_e2b(data, inspect=lost_elements).loaded[0]
    assert inspected.warnings == (
        "NOT_KEPT: PORR_IN049016UV/controlActProcess/subject/investigationEvent/confidentialityCode@code = 'N'",
    )
    assert read_e2b(scenario1, inspect=lost_elements).loaded[0].warnings == ()
