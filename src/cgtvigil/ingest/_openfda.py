"""openFDA drug/event (formats.md §2) and FDA's per-report FAERS XML (``ichicsr``) into the
canonical case model.

Bulk partitions (``drug-event-0001-of-0004.json.zip``: one JSON document ``{"meta": ...,
"results": [...]}``) are read as a stream: the zip member is decompressed and decoded in chunks
and each element of ``results`` is decoded on its own by the standard library's JSON scanner,
so memory holds one record (bounded by ``OpenFdaLimits.max_record_bytes``), never the
partition. Every record is loaded or quarantined with a reason (``BAD_RECORD``,
``MISSING_FIELD``, ``WRONG_TYPE``, ``INVALID_VALUE``); ``read = loaded + quarantined`` is
checked. A bad zip, bad JSON or a record over the size bound fails the partition with one
message naming the file, the record and the byte offset.

The FAERS XML reports (``<ichicsr><safetyreport>``, E2B(R2) element names, the input of
openFDA's own pipeline) are turned into the same record shape and go through the same mapper.

openFDA's harmonised ``openfda`` block (brand, generic and substance names matched from SPL
labels) is a candidate mapping, not part of the report: it is matched against the CGT product
dictionary and returned next to the case (``product_matches``), never written into it.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from lxml import etree
from pydantic import ValidationError as PydanticValidationError

from cgtvigil.errors import ParseError, ReconciliationError
from cgtvigil.ingest._quarantine import QuarantinedReport
from cgtvigil.ingest._xml import SafeIterParse, XmlLimits
from cgtvigil.model import (
    CaseDocument,
    Code,
    DeathDetails,
    Dosage,
    Drug,
    IcsrCase,
    Ingredient,
    Patient,
    Person,
    PrimarySource,
    ProductDictionary,
    Quantity,
    Reaction,
    SenderInfo,
    normalise_name,
)

__all__ = [
    "OPENFDA_IMPORTER_VERSION",
    "FaersLink",
    "OpenFdaLimits",
    "OpenFdaPartition",
    "OpenFdaReport",
    "ProductMatch",
    "faers_links",
    "iter_openfda_json",
    "openfda_case",
    "product_matches",
    "read_faers_xml",
    "read_openfda",
]

OPENFDA_IMPORTER_VERSION = "openfda-import/1"
_ICH = "2.16.840.1.113883.3.989.2.1.1."
_MEDDRA = "2.16.840.1.113883.6.163"

# E2B(R2) codes as openFDA writes them -> the canonical (E2B(R3)) form
_AGE_UNIT = {"800": "10.a", "801": "a", "802": "mo", "803": "wk", "804": "d", "805": "h"}
_DOSE_UNIT = {"001": "kg", "002": "g", "003": "mg", "004": "ug", "005": "ng", "006": "pg", "012": "[iU]"}
_OUTCOME = {"1": "1", "2": "2", "3": "3", "4": "4", "5": "5", "6": "0"}  # R2 6 unknown -> R3 0
_ACTION = {"1": "1", "2": "2", "3": "3", "4": "4", "5": "0", "6": "9"}  # formats.md §2.1: 5 unknown, 6 n/a
_SERIOUS = {
    "seriousnessdeath": "death",
    "seriousnesslifethreatening": "life_threatening",
    "seriousnesshospitalization": "hospitalisation",
    "seriousnessdisabling": "disabling",
    "seriousnesscongenitalanomali": "congenital_anomaly",
    "seriousnessother": "medically_important",
}
# fields of a record the canonical case carries (anything else is listed as NOT_KEPT)
_KEPT = {
    "safetyreportid", "safetyreportversion", "receivedate", "receivedateformat", "receiptdate",
    "receiptdateformat", "transmissiondate", "transmissiondateformat", "reporttype",
    "fulfillexpeditecriteria", "companynumb", "authoritynumb", "duplicate", "reportduplicate",
    "occurcountry", "primarysourcecountry", "serious", "primarysource", "sender", "receiver", "patient",
    "@case_number", "@timestamp", "@version", *_SERIOUS,
}  # fmt: skip
_KEPT_PATIENT = {
    "patientonsetage", "patientonsetageunit", "patientagegroup", "patientsex", "patientweight",
    "patientdeath", "summary", "reaction", "drug",
}  # fmt: skip
_KEPT_DRUG = {
    "medicinalproduct", "drugcharacterization", "drugindication", "drugadministrationroute",
    "drugdosagetext", "drugstructuredosagenumb", "drugstructuredosageunit", "drugdosageform",
    "drugbatchnumb", "drugauthorizationnumb", "drugstartdate", "drugstartdateformat", "drugenddate",
    "drugenddateformat", "drugtreatmentduration", "drugtreatmentdurationunit", "actiondrug",
    "drugcumulativedosagenumb", "drugcumulativedosageunit", "activesubstance", "openfda",
}  # fmt: skip
_KEPT_REACTION = {"reactionmeddrapt", "reactionmeddraversionpt", "reactionoutcome"}
_HARMONISED = ("brand_name", "generic_name", "substance_name")
_DATE = re.compile(r"^\d{4}(\d{2}){0,2}$")


@dataclass(frozen=True)
class OpenFdaLimits:
    """Bounds on one partition: the uncompressed bytes of a record and of the whole member."""

    max_record_bytes: int = 16 * 1024 * 1024
    max_member_bytes: int = 8 * 1024 * 1024 * 1024
    chunk_bytes: int = 1024 * 1024


@dataclass(frozen=True)
class ProductMatch:
    """A drug of a report matched to a CGT product through a name (verbatim or harmonised)."""

    drug_index: int
    product_id: str
    field: str
    value: str


@dataclass(frozen=True)
class OpenFdaReport:
    """A record loaded into the canonical model, with provenance (C7) and its product matches."""

    case: IcsrCase
    file: str
    sha256: str
    xpath: str
    version: str | None
    warnings: tuple[str, ...] = ()
    product_matches: tuple[ProductMatch, ...] = ()
    importer: str = OPENFDA_IMPORTER_VERSION


@dataclass
class OpenFdaPartition:
    """The result of reading one openFDA partition (or FAERS XML file)."""

    file: str
    sha256: str
    meta: dict[str, Any] = field(default_factory=dict)
    loaded: list[OpenFdaReport] = field(default_factory=list)
    quarantined: list[QuarantinedReport] = field(default_factory=list)
    read: int = 0

    def check_counts(self) -> None:
        if self.read != len(self.loaded) + len(self.quarantined):
            raise ReconciliationError(
                f"read {self.read} records but loaded {len(self.loaded)} and quarantined {len(self.quarantined)}",
                file=self.file,
            )


class _Bad(Exception):
    def __init__(self, reason: str, where: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.where = where


# ---------------------------------------------------------------- streaming JSON


class _Chars:
    """Strict UTF-8 text of a byte stream, decoded chunk by chunk, with the byte offset kept."""

    def __init__(self, stream: IO[bytes], file: str, limits: OpenFdaLimits) -> None:
        self.stream, self.file, self.limits = stream, file, limits
        self.decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.bytes_read = 0
        self.consumed_chars = 0  # characters dropped from the front of buf

    def more(self) -> bool:
        if self.eof:
            return False
        try:
            chunk = self.stream.read(self.limits.chunk_bytes)
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise ParseError(
                f"OPENFDA_BAD_ZIP: the archive is damaged after {self.bytes_read:,} bytes ({exc})", file=self.file
            ) from None
        self.bytes_read += len(chunk)
        if self.bytes_read > self.limits.max_member_bytes:
            raise ParseError(
                f"OPENFDA_TOO_LARGE: more than {self.limits.max_member_bytes:,} bytes uncompressed", file=self.file
            )
        try:
            text = self.decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            at = self.bytes_read - len(chunk) + exc.start
            raise ParseError(f"OPENFDA_BAD_JSON: not UTF-8 at byte {at:,} ({exc.reason})", file=self.file) from None
        if not chunk:
            self.eof = True
        self.consumed_chars += self.pos
        self.buf = self.buf[self.pos :] + text
        self.pos = 0
        return True

    def skip_ws(self) -> str:
        """The next non-blank character (not consumed), '' at the end."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.more():
                return ""

    def expect(self, chars: str, what: str) -> str:
        c = self.skip_ws()
        if not c or c not in chars:
            self.fail(f"expected {what}, found {c!r}" if c else f"expected {what}, found the end of the file")
        self.pos += 1
        return c

    def fail(self, message: str) -> None:
        at = self.consumed_chars + self.pos
        raise ParseError(f"OPENFDA_BAD_JSON: {message} (character {at:,})", file=self.file)

    def value(self, decoder: json.JSONDecoder, what: str) -> Any:
        """Decode one complete JSON value at the current position (reading more as needed)."""
        self.skip_ws()
        while True:
            try:
                obj, end = decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                truncated = exc.pos >= len(self.buf) - 8 or exc.msg.startswith("Unterminated string")
                if not (truncated and self._grow(what)):
                    self.pos = exc.pos
                    self.fail(f"{what}: {exc.msg}")
                continue
            if end >= len(self.buf) and not self.eof and self._grow(what):
                continue  # a number may go on in the next chunk
            self.pos = end
            return obj

    def _grow(self, what: str) -> bool:
        if len(self.buf) - self.pos > self.limits.max_record_bytes:
            self.fail(f"{what} is longer than {self.limits.max_record_bytes:,} characters (OPENFDA_RECORD_TOO_LARGE)")
        return self.more()


def iter_openfda_json(
    stream: IO[bytes], *, file: str, limits: OpenFdaLimits | None = None, meta: dict[str, Any] | None = None
) -> Iterator[Any]:
    """Yield each element of ``results`` of an openFDA JSON document, one at a time.

    Other top-level members (``meta``) are decoded whole (bounded like a record) and put into
    ``meta``. Raises one :class:`~cgtvigil.errors.ParseError` on bad JSON, naming the character
    offset."""
    chars = _Chars(stream, file, limits or OpenFdaLimits())
    decoder = json.JSONDecoder()
    chars.expect("{", "a JSON object '{' (an openFDA document)")
    seen_results = False
    if chars.skip_ws() == "}":
        chars.pos += 1
    else:
        while True:
            key = chars.value(decoder, "a member name")
            if not isinstance(key, str):
                chars.fail("expected a member name")
            chars.expect(":", "':'")
            if key == "results":
                seen_results = True
                chars.expect("[", "'[' (results must be a list)")
                if chars.skip_ws() == "]":
                    chars.pos += 1
                else:
                    n = 0
                    while True:
                        yield chars.value(decoder, f"results[{n}]")
                        n += 1
                        if chars.expect(",]", "',' or ']' after a record") == "]":
                            break
            else:
                v = chars.value(decoder, f"member {key!r}")
                if meta is not None:
                    meta[key] = v
            if chars.expect(",}", "',' or '}'") == "}":
                break
    if chars.skip_ws():
        chars.fail("text after the end of the document")
    if not seen_results:
        raise ParseError("OPENFDA_NO_RESULTS: the document has no 'results' list", file=file)


# ---------------------------------------------------------------- mapping


def _s(rec: Mapping[str, Any], key: str, where: str) -> str | None:
    v = rec.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, str | int | float):
        raise _Bad("WRONG_TYPE", f"{where}.{key}", f"must be a string; got {type(v).__name__}")
    s = str(v).strip()
    return s or None


def _obj(rec: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    v = rec.get(key)
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise _Bad("WRONG_TYPE", f"{where}.{key}", f"must be an object; got {type(v).__name__}")
    return v


def _list(rec: Mapping[str, Any], key: str, where: str) -> list[Mapping[str, Any]]:
    v = rec.get(key)
    if v is None:
        return []
    if isinstance(v, dict):
        v = [v]
    if not isinstance(v, list) or not all(isinstance(x, dict) for x in v):
        raise _Bad("WRONG_TYPE", f"{where}.{key}", "must be a list of objects")
    return v


def _date(rec: Mapping[str, Any], key: str, where: str, warnings: list[str]) -> str | None:
    v = _s(rec, key, where)
    if v is None:
        return None
    fmt = _s(rec, key + "format", where)
    if fmt not in (None, "102", "610", "602") or not _DATE.match(v) or not _plausible(v):
        warnings.append(f"INVALID_DATE: {where}.{key} = {v!r} (format {fmt}); not kept as a date")
        return None
    return v


def _plausible(v: str) -> bool:
    month = int(v[4:6]) if len(v) >= 6 else 1
    day = int(v[6:8]) if len(v) >= 8 else 1
    return 1 <= month <= 12 and 1 <= day <= 31


def _code(value: str | None, table: Mapping[str, str] | None, where: str, warnings: list[str]) -> Code | None:
    if value is None:
        return None
    if table is not None and value not in table:
        warnings.append(f"UNKNOWN_CODE: {where} = {value!r} (kept as is)")
        return Code(code=value)
    return Code(code=table[value] if table is not None else value)


def _qty(value: str | None, unit: str | None, table: Mapping[str, str], where: str, w: list[str]) -> Quantity | None:
    if value is None and unit is None:
        return None
    u = None
    if unit is not None:
        u = table.get(unit)
        if u is None:
            w.append(f"UNKNOWN_CODE: {where} unit = {unit!r} (kept as is)")
            u = unit
    return Quantity(value=value, unit=u)


def _flag(rec: Mapping[str, Any], key: str, where: str, yes: str = "1", no: str | None = None) -> bool | None:
    v = _s(rec, key, where)
    if v is None:
        return None
    if v == yes:
        return True
    if no is not None and v == no:
        return False
    raise _Bad("INVALID_VALUE", f"{where}.{key}", f"must be {yes!r}" + (f" or {no!r}" if no else "") + f"; got {v!r}")


def _not_kept(rec: Mapping[str, Any], kept: set[str], where: str) -> list[str]:
    return [f"NOT_KEPT: {where}.{k}" for k in rec if k not in kept]


def openfda_case(rec: Any, where: str = "results[0]") -> tuple[IcsrCase, str | None, list[str]]:
    """The canonical case of one openFDA record, its ``safetyreportversion`` and warnings.

    ``safety_report_id`` is ``safetyreportid``; the case (``worldwide_id``) is openFDA's case
    number, the report id before any ``-`` (FAERS caseid), so versions of a case share it.
    openFDA gives seriousness per report; it is put on every reaction (warning
    ``SERIOUSNESS_PER_REPORT``) as E2B(R3) holds it per reaction."""
    if not isinstance(rec, dict):
        raise _Bad("WRONG_TYPE", where, f"a record must be an object; got {type(rec).__name__}")
    w: list[str] = []
    rid = _s(rec, "safetyreportid", where)
    if rid is None:
        raise _Bad("MISSING_FIELD", f"{where}.safetyreportid", "every record needs a safetyreportid")
    case_number = _s(rec, "@case_number", where) or rid.split("-", 1)[0]
    version = _s(rec, "safetyreportversion", where)
    pat = _obj(rec, "patient", where)
    pw = f"{where}.patient"
    serious = _s(rec, "serious", where)
    criteria = {f: _flag(rec, k, where) for k, f in _SERIOUS.items()}
    if serious not in (None, "1", "2"):
        raise _Bad("INVALID_VALUE", f"{where}.serious", f"must be '1' or '2'; got {serious!r}")
    if serious == "2" and any(criteria.values()):
        w.append("SERIOUSNESS_CONFLICT: serious = 2 with a seriousness criterion; the criteria are kept")
    if serious == "1" and not any(criteria.values()):
        w.append("SERIOUS_WITHOUT_CRITERION: serious = 1 but no seriousness criterion is given")
    if any(criteria.values()):
        w.append("SERIOUSNESS_PER_REPORT: openFDA gives seriousness per report; put on every reaction")
    reactions = []
    for i, r in enumerate(_list(pat, "reaction", pw)):
        rw = f"{pw}.reaction[{i}]"
        pt = _s(r, "reactionmeddrapt", rw)
        if pt is None:
            raise _Bad("MISSING_FIELD", f"{rw}.reactionmeddrapt", "every reaction needs a reactionmeddrapt")
        w += _not_kept(r, _KEPT_REACTION, rw)
        reactions.append(
            Reaction(
                id=f"r{i + 1}",
                as_reported=pt,
                meddra=Code(display=pt, system=_MEDDRA, version=_s(r, "reactionmeddraversionpt", rw)),
                outcome=_code(_s(r, "reactionoutcome", rw), _OUTCOME, f"{rw}.reactionoutcome", w),
                **{k: v for k, v in criteria.items() if v is not None},
            )
        )
    drugs = []
    for i, d in enumerate(_list(pat, "drug", pw)):
        dw = f"{pw}.drug[{i}]"
        w += _not_kept(d, _KEPT_DRUG, dw)
        dose = _s(d, "drugstructuredosagenumb", dw)
        dose_unit = _s(d, "drugstructuredosageunit", dw)
        dosage = Dosage(
            dose=_qty(dose, dose_unit, _DOSE_UNIT, f"{dw}.drugstructuredosageunit", w),
            start=_date(d, "drugstartdate", dw, w),
            end=_date(d, "drugenddate", dw, w),
            duration=_qty(
                _s(d, "drugtreatmentduration", dw),
                _s(d, "drugtreatmentdurationunit", dw),
                _AGE_UNIT,
                f"{dw}.drugtreatmentdurationunit",
                w,
            ),
            lot_number=_s(d, "drugbatchnumb", dw),
            text=_s(d, "drugdosagetext", dw),
            dose_form=Code(original_text=f) if (f := _s(d, "drugdosageform", dw)) else None,
            route=_code(_s(d, "drugadministrationroute", dw), None, "", w),
        )
        sub = d.get("activesubstance")
        subs = sub if isinstance(sub, list) else [sub] if sub is not None else []
        ingredients = []
        for j, s in enumerate(subs):
            if not isinstance(s, dict):
                raise _Bad("WRONG_TYPE", f"{dw}.activesubstance", "must be an object")
            if (n := _s(s, "activesubstancename", f"{dw}.activesubstance[{j}]")) is not None:
                ingredients.append(Ingredient(name=n))
        indication = _s(d, "drugindication", dw)
        drugs.append(
            Drug(
                id=f"d{i + 1}",
                role=_code(_s(d, "drugcharacterization", dw), {"1": "1", "2": "2", "3": "3"}, dw + ".role", w),
                name=_s(d, "medicinalproduct", dw),
                ingredients=tuple(ingredients),
                authorisation_number=_s(d, "drugauthorizationnumb", dw),
                dosages=(dosage,) if dosage != Dosage() else (),
                cumulative_dose=_qty(
                    _s(d, "drugcumulativedosagenumb", dw),
                    _s(d, "drugcumulativedosageunit", dw),
                    _DOSE_UNIT,
                    f"{dw}.drugcumulativedosageunit",
                    w,
                ),
                indications=(Code(original_text=indication),) if indication else (),
                action_taken=_code(_s(d, "actiondrug", dw), _ACTION, f"{dw}.actiondrug", w),
            )
        )
    w += _not_kept(pat, _KEPT_PATIENT, pw)
    w += _not_kept(rec, _KEPT, where)
    death = _obj(pat, "patientdeath", pw)
    weight = _s(pat, "patientweight", pw)
    patient = Patient(
        age=_qty(
            _s(pat, "patientonsetage", pw),
            _s(pat, "patientonsetageunit", pw),
            _AGE_UNIT,
            f"{pw}.patientonsetageunit",
            w,
        ),
        age_group=_code(_s(pat, "patientagegroup", pw), None, "", w),
        weight=Quantity(value=weight, unit="kg") if weight else None,
        sex=_code(_s(pat, "patientsex", pw), {"0": "0", "1": "1", "2": "2"}, f"{pw}.patientsex", w),
        death=DeathDetails(date=_date(death, "patientdeathdate", f"{pw}.patientdeath", w)) if death else None,
    )
    src = _obj(rec, "primarysource", where)
    sources = []
    docs = []
    if src:
        country = _s(src, "reportercountry", where) or _s(rec, "primarysourcecountry", where)
        sources.append(
            PrimarySource(
                person=Person(country=Code(code=country) if country else None),
                qualification=_code(_s(src, "qualification", f"{where}.primarysource"), None, "", w),
            )
        )
        if (lit := _s(src, "literaturereference", f"{where}.primarysource")) is not None:
            docs.append(CaseDocument(kind="literature", title=lit))
    snd = _obj(rec, "sender", where)
    rcv = _obj(rec, "receiver", where)
    other_ids: list[tuple[str | None, str]] = [("company", v) for v in [_s(rec, "companynumb", where)] if v]
    other_ids += [("authority", v) for v in [_s(rec, "authoritynumb", where)] if v]
    for j, dup in enumerate(_list(rec, "reportduplicate", where)):
        if (n := _s(dup, "duplicatenumb", f"{where}.reportduplicate[{j}]")) is not None:
            other_ids.append((_s(dup, "duplicatesource", f"{where}.reportduplicate[{j}]"), n))
    summary = _obj(pat, "summary", pw)
    case = IcsrCase(
        message_receiver=_s(rcv, "receiverorganization", f"{where}.receiver"),
        safety_report_id=rid,
        created=_date(rec, "transmissiondate", where, w),
        report_type=_code(_s(rec, "reporttype", where), None, "", w),
        first_received=_date(rec, "receivedate", where, w),
        most_recent=_date(rec, "receiptdate", where, w),
        documents=tuple(docs),
        expedited=_flag(rec, "fulfillexpeditecriteria", where, "1", "2"),
        worldwide_id=case_number,
        other_ids_exist=True if other_ids else None,
        other_ids=tuple(other_ids),
        primary_sources=tuple(sources),
        sender=SenderInfo(
            type=_code(_s(snd, "sendertype", f"{where}.sender"), None, "", w),
            person=Person(organisation=_s(snd, "senderorganization", f"{where}.sender")),
        )
        if snd
        else None,
        patient=patient,
        reactions=tuple(reactions),
        drugs=tuple(drugs),
        narrative=_s(summary, "narrativeincludeclinical", f"{pw}.summary"),
    )
    if (c := _s(rec, "occurcountry", where)) is not None:
        case = case.model_copy(
            update={"reactions": tuple(r.model_copy(update={"country": Code(code=c)}) for r in reactions)}
        )
    return case, version, w


def product_matches(rec: Mapping[str, Any], index: Mapping[str, str]) -> tuple[ProductMatch, ...]:
    """Drugs of a record matched to the product dictionary: the verbatim name first, then the
    harmonised brand, generic and substance names (candidates, formats.md §2.1)."""
    out = []
    pat = rec.get("patient") if isinstance(rec.get("patient"), dict) else {}
    drugs = pat.get("drug") if isinstance(pat, dict) else None
    for i, d in enumerate(drugs if isinstance(drugs, list) else []):
        if not isinstance(d, dict):
            continue
        found = None
        if isinstance(d.get("medicinalproduct"), str) and (pid := index.get(normalise_name(d["medicinalproduct"]))):
            found = ProductMatch(i, pid, "medicinalproduct", d["medicinalproduct"])
        block: dict[str, Any] = d["openfda"] if isinstance(d.get("openfda"), dict) else {}
        for f in _HARMONISED:
            if found is not None:
                break
            values = block.get(f)
            for v in values if isinstance(values, list) else [values] if isinstance(values, str) else []:
                if isinstance(v, str) and (pid := index.get(normalise_name(v))):
                    found = ProductMatch(i, pid, f"openfda.{f}", v)
                    break
        if found is not None:
            out.append(found)
    return tuple(out)


def _take(part: OpenFdaPartition, rec: Any, where: str, index: Mapping[str, str]) -> None:
    part.read += 1
    rid = rec.get("safetyreportid") if isinstance(rec, dict) else None
    try:
        case, version, warnings = openfda_case(rec, where)
    except _Bad as bad:
        part.quarantined.append(
            QuarantinedReport(
                part.file, bad.where, bad.reason, str(bad), rid if isinstance(rid, str) else None, _raw(rec)
            )
        )
        return
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first["loc"] if not str(x).startswith("function-"))
        part.quarantined.append(
            QuarantinedReport(
                part.file,
                where,
                "INVALID_VALUE",
                f"{loc}: {first['msg']}",
                rid if isinstance(rid, str) else None,
                _raw(rec),
            )
        )
        return
    part.loaded.append(
        OpenFdaReport(
            case=case,
            file=part.file,
            sha256=part.sha256,
            xpath=where,
            version=version,
            warnings=tuple(warnings),
            product_matches=product_matches(rec, index) if isinstance(rec, dict) else (),
        )
    )


def _raw(rec: Any, limit: int = 1_000_000) -> str:
    text = json.dumps(rec, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text):,} characters, cut)"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_openfda(
    path: Path,
    *,
    products: ProductDictionary | None = None,
    limits: OpenFdaLimits | None = None,
    on_batch: Callable[[OpenFdaPartition], None] | None = None,
    batch_size: int = 5_000,
) -> OpenFdaPartition:
    """Read one openFDA drug/event partition (``.json.zip`` with one JSON member, or ``.json``).

    With ``on_batch``, the loaded and quarantined records are handed over every ``batch_size``
    records and then cleared (bounded memory; ``read`` keeps counting); the counts handed over
    reconcile with ``read`` at the end. The zip's CRC is checked before any record is read, so
    a damaged download stores nothing."""
    limits = limits or OpenFdaLimits()
    file = str(path)
    try:
        sha = _sha256(path)
    except OSError as exc:
        raise ParseError(f"cannot read: {exc.strerror or exc}", file=file) from None
    part = OpenFdaPartition(file=file, sha256=sha)
    index = products.name_index() if products is not None else {}
    handed = [0, 0]

    def flush() -> None:
        if on_batch is not None:
            handed[0] += len(part.loaded)
            handed[1] += len(part.quarantined)
            on_batch(part)
            part.loaded.clear()
            part.quarantined.clear()

    with _open_member(path, file, limits) as stream:
        for n, rec in enumerate(iter_openfda_json(stream, file=file, limits=limits, meta=part.meta)):
            _take(part, rec, f"results[{n}]", index)
            if on_batch is not None and len(part.loaded) + len(part.quarantined) >= batch_size:
                flush()
    flush()
    if on_batch is not None:
        if part.read != handed[0] + handed[1]:
            raise ReconciliationError(
                f"read {part.read} records but handed over {handed[0]} loaded and {handed[1]} quarantined", file=file
            )
    else:
        part.check_counts()
    return part


class _open_member:
    def __init__(self, path: Path, file: str, limits: OpenFdaLimits) -> None:
        self.path, self.file, self.limits = path, file, limits
        self.zip: zipfile.ZipFile | None = None
        self.stream: IO[bytes] | None = None

    def __enter__(self) -> IO[bytes]:
        try:
            if not zipfile.is_zipfile(self.path):
                with self.path.open("rb") as f:
                    if f.read(2) == b"PK":
                        raise ParseError("OPENFDA_BAD_ZIP: a damaged or truncated zip archive", file=self.file)
                self.stream = self.path.open("rb")
                return self.stream
            self.zip = zipfile.ZipFile(self.path)
            members = [i for i in self.zip.infolist() if not i.is_dir()]
            if len(members) != 1 or not members[0].filename.lower().endswith(".json"):
                names = ", ".join(i.filename for i in members) or "nothing"
                raise ParseError(f"OPENFDA_BAD_ZIP: expected one .json member, found {names}", file=self.file)
            if members[0].file_size > self.limits.max_member_bytes:
                raise ParseError(
                    f"OPENFDA_TOO_LARGE: {members[0].file_size:,} bytes uncompressed is over "
                    f"{self.limits.max_member_bytes:,}",
                    file=self.file,
                )
            bad = self.zip.testzip()
            if bad is not None:
                raise ParseError(f"OPENFDA_BAD_ZIP: {bad} fails its CRC check (a damaged download)", file=self.file)
            self.stream = self.zip.open(members[0])
            return self.stream
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            self.__exit__()
            raise ParseError(f"OPENFDA_BAD_ZIP: a damaged or truncated zip archive ({exc})", file=self.file) from None
        except OSError as exc:
            self.__exit__()
            raise ParseError(f"cannot read: {exc.strerror or exc}", file=self.file) from None
        except ParseError:
            self.__exit__()
            raise

    def __exit__(self, *exc: object) -> None:
        if self.stream is not None:
            self.stream.close()
        if self.zip is not None:
            self.zip.close()


# ---------------------------------------------------------------- FAERS XML (ichicsr)

_REPEATED = {"reaction", "drug", "reportduplicate", "drugrecurrence", "activesubstance"}


def _to_record(el: etree._Element) -> dict[str, Any]:
    """An ``ichicsr`` element as openFDA's record shape (element names as keys, text values,
    repeatable elements as lists), the conversion of openFDA's own ``xml_to_json``."""
    out: dict[str, Any] = {}
    for child in el:
        if not isinstance(child.tag, str):
            continue
        tag = etree.QName(child).localname
        if len(child):
            value: Any = _to_record(child)
        else:
            value = (child.text or "").strip()
            if not value:
                continue  # an empty element is an absent value
        if tag in _REPEATED:
            out.setdefault(tag, []).append(value)
        elif tag in out:
            raise _Bad("DUPLICATE_ELEMENT", tag, f"<{tag}> appears twice where it may appear once")
        else:
            out[tag] = value
    return out


def read_faers_xml(
    source: Path | bytes,
    *,
    name: str | None = None,
    products: ProductDictionary | None = None,
    limits: XmlLimits | None = None,
) -> OpenFdaPartition:
    """Read FDA's FAERS XML (``<ichicsr>`` with ``<safetyreport>`` elements; openFDA's
    ``event.sgm``) into canonical cases, through the XML safety rules of :mod:`._xml` (no DTD,
    no entities, bounded size and depth). Each report is loaded or quarantined with its XPath."""
    if isinstance(source, Path):
        file = name or str(source)
        try:
            data = source.read_bytes()
        except OSError as exc:
            raise ParseError(f"cannot read: {exc.strerror or exc}", file=file) from None
    else:
        file, data = name or "<bytes>", source
    part = OpenFdaPartition(file=file, sha256=hashlib.sha256(data).hexdigest())
    index = products.name_index() if products is not None else {}
    stream = SafeIterParse(data, file=file, tag="safetyreport", limits=limits)
    for el in stream:
        xpath = el.getroottree().getpath(el)
        try:
            rec: Any = _to_record(el)
        except _Bad as bad:
            part.read += 1
            part.quarantined.append(
                QuarantinedReport(
                    file, f"{xpath}/{bad.where}", bad.reason, str(bad), None, etree.tostring(el, encoding="unicode")
                )
            )
            continue
        _take(part, rec, xpath, index)
    root = stream.root
    if root is None or root.tag != "ichicsr":
        tag = root.tag if root is not None else "(none)"
        raise ParseError(f"FAERS_XML_NOT_ICHICSR: the root element is {tag!r}, not 'ichicsr'", file=file)
    part.check_counts()
    return part


# ---------------------------------------------------------------- de-duplication with FAERS


@dataclass(frozen=True)
class FaersLink:
    """An openFDA case that is also a FAERS case (same caseid), and which copy is kept.

    ``kept`` is ``faers`` when FAERS has a higher version, ``openfda`` when openFDA does, and
    ``faers`` on a tie (the quarterly extract is the primary source; openFDA is built from it)."""

    case_id: str
    openfda_version: str | None
    faers_primaryid: str
    faers_version: int | None
    kept: str


def faers_links(openfda: Mapping[str, str | None], faers: Mapping[str, tuple[str, int | None]]) -> list[FaersLink]:
    """Links between openFDA cases (case number -> safetyreportversion) and FAERS cases
    (caseid -> (primaryid, caseversion)) by case id, with the version rule of formats.md §1.5
    (the highest version is kept; an unknown version ranks lowest)."""
    out = []
    for cid in sorted(openfda.keys() & faers.keys()):
        ov = openfda[cid]
        pid, fv = faers[cid]
        o = int(ov) if ov is not None and ov.isdigit() else -1
        f = fv if fv is not None else -1
        out.append(FaersLink(cid, ov, pid, fv, "openfda" if o > f else "faers"))
    return out
