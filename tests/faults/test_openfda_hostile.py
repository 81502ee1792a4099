"""Hostile openFDA input: damaged zips, bad JSON, a huge string, wrong types; each gives one
clear message (partition) or a quarantined record, in bounded memory."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from cgtvigil.errors import ParseError
from cgtvigil.ingest import OpenFdaLimits, read_faers_xml, read_openfda


def _zip(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "drug-event-0001-of-0001.json.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("drug-event-0001-of-0001.json", text)
    return path


def _rec(rid: str = "1") -> dict[str, Any]:
    return {"safetyreportid": rid, "patient": {"reaction": [{"reactionmeddrapt": "PYREXIA"}], "drug": []}}


def test_truncated_zip_is_refused(tmp_path: Path) -> None:
    path = _zip(tmp_path, json.dumps({"results": [_rec(str(i)) for i in range(500)]}))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ParseError, match="OPENFDA_BAD_ZIP"):
        read_openfda(path)


def test_damaged_member_fails_before_anything_is_read(tmp_path: Path) -> None:
    path = _zip(tmp_path, json.dumps({"results": [_rec(str(i)) for i in range(500)]}))
    data = bytearray(path.read_bytes())
    data[200] ^= 0xFF  # inside the compressed member
    path.write_bytes(bytes(data))
    seen: list[int] = []
    with pytest.raises(ParseError, match="OPENFDA_BAD_ZIP"):
        read_openfda(path, on_batch=lambda p: seen.append(p.read))
    assert seen == []


def test_huge_string_is_bounded(tmp_path: Path) -> None:
    path = _zip(tmp_path, '{"results": [' + json.dumps(_rec()) + ', {"safetyreportid": "' + "A" * 300_000 + '"}]}')
    with pytest.raises(ParseError, match="OPENFDA_RECORD_TOO_LARGE"):
        read_openfda(path, limits=OpenFdaLimits(max_record_bytes=100_000, chunk_bytes=8192))


def test_unterminated_document_names_where(tmp_path: Path) -> None:
    path = _zip(tmp_path, '{"results": [' + json.dumps(_rec()) + ', {"safetyreportid": "2", ')
    with pytest.raises(ParseError, match=r"OPENFDA_BAD_JSON: results\[1\]"):
        read_openfda(path)
    path = _zip(tmp_path, '{"results": [' + json.dumps(_rec()) + "} garbage")
    with pytest.raises(ParseError, match="OPENFDA_BAD_JSON"):
        read_openfda(path)


def test_not_utf8_names_the_byte(tmp_path: Path) -> None:
    path = _zip(tmp_path, b'{"results": [{"safetyreportid": "\xff"}]}')
    with pytest.raises(ParseError, match="not UTF-8 at byte 33"):
        read_openfda(path)


def test_wrong_types_are_quarantined_and_the_rest_loads(tmp_path: Path) -> None:
    records = [
        _rec("1"),
        "a string",
        {"safetyreportid": ["x"]},
        {"safetyreportid": "4", "patient": "nobody"},
        {"safetyreportid": "5", "patient": {"reaction": [{"reactionmeddrapt": 7}], "drug": {"medicinalproduct": {}}}},
        {"safetyreportid": "6", "serious": "yes"},
        {"safetyreportid": "7", "receivedate": "20231345", "patient": {"drug": [{"drugcharacterization": "9"}]}},
    ]
    part = read_openfda(_zip(tmp_path, json.dumps({"results": records})))
    assert part.read == 7 and [r.case.safety_report_id for r in part.loaded] == ["1", "7"]
    assert [(q.reason, q.xpath) for q in part.quarantined] == [
        ("WRONG_TYPE", "results[1]"),
        ("WRONG_TYPE", "results[2].safetyreportid"),
        ("WRONG_TYPE", "results[3].patient"),
        ("WRONG_TYPE", "results[4].patient.drug[0].medicinalproduct"),
        ("INVALID_VALUE", "results[5].serious"),
    ]
    seven = part.loaded[1]
    assert seven.case.first_received is None
    assert any(w.startswith("INVALID_DATE: results[6].receivedate") for w in seven.warnings)
    assert any(w.startswith("UNKNOWN_CODE: results[6].patient.drug[0].role") for w in seven.warnings)


def test_faers_xml_with_doctype_is_refused() -> None:
    with pytest.raises(ParseError, match="XML_DTD_REFUSED"):
        read_faers_xml(b'<!DOCTYPE x [<!ENTITY e "y">]><ichicsr><safetyreport/></ichicsr>')
