"""FHIR AdverseEvent import (formats.md §4.1): R4 (validated with the R4B models of
``fhir.resources``) and R5, one resource or a Bundle of them, into the canonical case.

One AdverseEvent is one reaction (E.i); AdverseEvents of a Bundle that share an ``identifier``
(system and value) are the reactions of one case, the identifier being the case's report id (C.1.1).
The subject's reference is kept on the patient (``Patient/<id>``; ``<id>`` is looked up in the
patient registry when the caller gives its pseudonyms, an unknown one is kept and flagged
``SUBJECT_NOT_IN_REGISTRY``, C6). Each suspect entity is a suspect drug (G.k.1 = 1), its
causality the relatedness of that drug and reaction (G.k.9.i.2.r). FHIR has serious/non-serious
only: the six E2B criteria travel in the extension :data:`SERIOUSNESS_CRITERION_URL`.

Each resource is loaded or quarantined with a reason and its JSON path; a Bundle whose entries
mix R4 and R5 is refused; bytes, nesting depth and the number of entries are bounded.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError as PydanticValidationError

from cgtvigil.errors import ParseError, ReconciliationError
from cgtvigil.ingest._quarantine import LoadedReport, QuarantinedReport
from cgtvigil.model import (
    Code,
    Drug,
    DrugReactionAssessment,
    IcsrCase,
    Patient,
    Person,
    PrimarySource,
    Reaction,
    Relatedness,
)

__all__ = [
    "E2B_OUTCOME_OID",
    "FHIR_IMPORTER_VERSION",
    "FHIR_OUTCOMES",
    "MEDDRA_OID",
    "MEDDRA_SYSTEMS",
    "SERIOUSNESS_CRITERION_URL",
    "FhirBatch",
    "FhirLimits",
    "fhir_timestamp",
    "hl7_timestamp",
    "read_fhir_adverse_events",
]

FHIR_IMPORTER_VERSION = "fhir-adverseevent-import/1"
SERIOUSNESS_CRITERION_URL = "https://cgtvigil.org/fhir/StructureDefinition/e2b-seriousness-criterion"
MEDDRA_OID = "2.16.840.1.113883.6.163"
MEDDRA_SYSTEMS = ("http://terminology.hl7.org/CodeSystem/mdr", "urn:oid:2.16.840.1.113883.6.163")
E2B_OUTCOME_OID = "2.16.840.1.113883.3.989.2.1.1.11"
# FHIR adverse-event-outcome code <-> E.i.7 (1 recovered/resolved ... 5 fatal, 0 unknown)
FHIR_OUTCOMES = {
    "resolved": "1",
    "recovering": "2",
    "ongoing": "3",
    "resolvedWithSequelae": "4",
    "fatal": "5",
    "unknown": "0",
}
CRITERIA = ("death", "life_threatening", "hospitalisation", "disabling", "congenital_anomaly", "medically_important")
_R4_ONLY = ("event", "date", "resultingCondition", "severity", "contributor", "subjectMedicalHistory")
_R5_ONLY = ("status", "code", "occurrenceDateTime", "occurrencePeriod", "resultingEffect", "participant")
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$")


@dataclass(frozen=True)
class FhirLimits:
    """Bounds on one FHIR document: bytes, JSON nesting depth and Bundle entries."""

    max_bytes: int = 64 * 1024 * 1024
    max_depth: int = 64
    max_entries: int = 100_000


@dataclass
class FhirBatch:
    """The result of reading one FHIR document; ``read`` counts AdverseEvent resources."""

    file: str
    sha256: str
    version: str
    loaded: list[LoadedReport] = field(default_factory=list)
    quarantined: list[QuarantinedReport] = field(default_factory=list)
    read: int = 0
    resources_loaded: int = 0

    @property
    def cases(self) -> list[IcsrCase]:
        return [r.case for r in self.loaded]

    def check_counts(self) -> None:
        """Raise :class:`~cgtvigil.errors.ReconciliationError` unless read = loaded + quarantined."""
        if self.read != self.resources_loaded + len(self.quarantined):
            raise ReconciliationError(
                f"read {self.read} AdverseEvents but loaded {self.resources_loaded} and quarantined "
                f"{len(self.quarantined)}",
                file=self.file,
            )


class _Bad(Exception):
    def __init__(self, reason: str, where: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.where = reason, where


def hl7_timestamp(value: str, where: str = "date") -> str:
    """A FHIR date or dateTime as an HL7 timestamp (precision kept, zone as +/-ZZzz).

    Examples
    --------
    >>> hl7_timestamp("2017-01-29T12:34:56+00:00")
    '20170129123456+0000'
    >>> hl7_timestamp("2017-01")
    '201701'
    """
    m = _DATE.match(value)
    if not m:
        raise _Bad("INVALID_VALUE", where, f"not a FHIR date or dateTime: {value[:40]!r}")
    y, mo, d, h, mi, s, frac, zone = m.groups()
    out = y + (mo or "") + (d or "") + (h or "") + (mi or "") + (s or "") + (frac[:5] if frac else "")
    if zone:
        out += "+0000" if zone == "Z" else zone.replace(":", "")
    return out


def fhir_timestamp(ts: str) -> str | None:
    """An HL7 timestamp as a FHIR date or dateTime; None when FHIR cannot hold its precision
    (a time without a zone, or hours without seconds are written as the date only by the caller).

    Examples
    --------
    >>> fhir_timestamp("20170129123456+0000")
    '2017-01-29T12:34:56+00:00'
    >>> fhir_timestamp("201701")
    '2017-01'
    """
    m = re.match(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d+)?([+-]\d{4})?$", ts)
    if not m:
        return None
    y, mo, d, h, mi, s, frac, zone = m.groups()
    if h is None:
        return "-".join(p for p in (y, mo, d) if p)
    if s is None or zone is None:
        return None
    return f"{y}-{mo}-{d}T{h}:{mi}:{s}{frac or ''}{zone[:3]}:{zone[3:]}"


def _system(system: str | None) -> str | None:
    """A FHIR code system as the canonical case keeps it: an OID without ``urn:oid:``, MedDRA as its OID."""
    if system in MEDDRA_SYSTEMS:
        return MEDDRA_OID
    return system[8:] if system and system.startswith("urn:oid:") else system


def _coding(cc: dict[str, Any] | None) -> Code | None:
    """The first coding of a CodeableConcept (its text as original text)."""
    if not cc:
        return None
    codings = cc.get("coding") or [{}]
    c = codings[0]
    out = {
        "code": c.get("code"),
        "system": _system(c.get("system")),
        "version": c.get("version"),
        "display": c.get("display"),
        "original_text": cc.get("text"),
    }
    return Code(**out) if any(v is not None for v in out.values()) else None


def _version_of(res: dict[str, Any]) -> Literal["R4", "R5"] | None:
    profiles = " ".join((res.get("meta") or {}).get("profile") or [])
    if "/R5/" in profiles or "5.0" in profiles:
        return "R5"
    if "/R4" in profiles:
        return "R4"
    r4 = any(k in res for k in _R4_ONLY)
    r5 = any(k in res for k in _R5_ONLY) or isinstance(res.get("identifier"), list)
    if r4 and r5:
        raise _Bad("MIXED_VERSION", "", "the resource has both R4 and R5 elements")
    return "R5" if r5 else ("R4" if r4 else None)


def _validate(res: dict[str, Any], version: str, where: str) -> None:
    if version == "R5":
        from fhir.resources.adverseevent import AdverseEvent as Model
    else:
        from fhir.resources.R4B.adverseevent import AdverseEvent as Model  # type: ignore[assignment]
    try:
        Model.model_validate(res)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        raise _Bad(
            "INVALID_VALUE", f"{where}.{loc}", f"{loc}: {first['msg']} ({exc.error_count()} problem(s))"
        ) from None


def _reaction(res: dict[str, Any], version: str, where: str, warnings: list[str]) -> Reaction:
    concept = res.get("code" if version == "R5" else "event") or {}
    codings = [
        Code(code=c.get("code"), system=_system(c.get("system")), version=c.get("version"), display=c.get("display"))
        for c in concept.get("coding") or []
        if any(c.get(k) for k in ("code", "system", "display"))
    ]
    meddra = [c for c in codings if c.system == MEDDRA_OID]
    if len(meddra) > 1:
        warnings.append(f"NOT_KEPT: {where}: only the first of {len(meddra)} MedDRA codings is kept")
    flags: dict[str, bool] = {}
    for ext in res.get("extension") or []:
        if ext.get("url") == SERIOUSNESS_CRITERION_URL:
            name = ext.get("valueCode")
            if name not in CRITERIA:
                raise _Bad("UNKNOWN_CODE", f"{where}.extension", f"unknown seriousness criterion {name!r}")
            flags[name] = True
        else:
            warnings.append(f"NOT_KEPT: {where}.extension: {str(ext.get('url'))[:100]}")
    seriousness = _coding(res.get("seriousness"))
    if seriousness and (seriousness.code or "").lower() == "serious" and not flags:
        warnings.append("SERIOUS_WITHOUT_CRITERION: seriousness is serious but no E2B criterion is given")
    start = end = None
    if version == "R5":
        period = res.get("occurrencePeriod") or {}
        when = res.get("occurrenceDateTime") or period.get("start")
        end = hl7_timestamp(period["end"], f"{where}.occurrencePeriod.end") if period.get("end") else None
        outcomes = res.get("outcome") or []
        if len(outcomes) > 1:
            warnings.append(f"NOT_KEPT: {where}.outcome: only the first of {len(outcomes)} outcomes is kept")
        outcome_cc = outcomes[0] if outcomes else None
    else:
        when = res.get("date")
        outcome_cc = res.get("outcome")
    if when:
        start = hl7_timestamp(when, f"{where}.date")
    outcome = _coding(outcome_cc)
    if outcome is not None and outcome.code in FHIR_OUTCOMES:
        outcome = Code(code=FHIR_OUTCOMES[outcome.code], system=E2B_OUTCOME_OID, original_text=outcome.original_text)
    elif outcome is not None:
        warnings.append(f"UNKNOWN_CODE: {where}.outcome: {outcome.code!r} kept as sent")
    return Reaction(
        id=res.get("id"),
        as_reported=concept.get("text"),
        meddra=meddra[0] if meddra else None,
        other_codes=tuple(c for c in codings if c.system != MEDDRA_OID),
        start=start,
        end=end,
        outcome=outcome,
        seriousness=seriousness,
        severity=_coding(res.get("severity")) if version == "R4" else None,
        categories=tuple(c for c in (_coding(cc) for cc in res.get("category") or []) if c is not None),
        **flags,
    )


def _suspects(res: dict[str, Any], version: str, reaction_id: str | None) -> list[Drug]:
    drugs = []
    for i, se in enumerate(res.get("suspectEntity") or []):
        if version == "R5":
            ref = (se.get("instanceReference") or {}).get("reference")
            shown = (se.get("instanceReference") or {}).get("display")
            concept = se.get("instanceCodeableConcept")
            causalities = [se["causality"]] if se.get("causality") else []
            rel = [
                Relatedness(
                    source=(c.get("author") or {}).get("reference"),
                    method=_text_of(c.get("assessmentMethod")),
                    result=_text_of(c.get("entityRelatedness")),
                )
                for c in causalities
            ]
        else:
            ref = (se.get("instance") or {}).get("reference")
            shown = (se.get("instance") or {}).get("display")
            concept = None
            rel = [
                Relatedness(
                    source=(c.get("author") or {}).get("reference"),
                    method=_text_of(c.get("method")),
                    result=_text_of(c.get("assessment")) or c.get("productRelatedness"),
                )
                for c in se.get("causality") or []
            ]
        did = ref or f"{reaction_id or 'ae'}-suspect-{i + 1}"
        assessments = (
            (DrugReactionAssessment(reaction_id=reaction_id, relatedness=tuple(rel)),)
            if rel and reaction_id is not None
            else ()
        )
        drugs.append(
            Drug(
                id=did,
                role=Code(code="1", system="2.16.840.1.113883.3.989.2.1.1.13", display="suspect"),
                name=(concept or {}).get("text") or shown,
                product_code=_coding({"coding": (concept or {}).get("coding")}) if concept else None,
                assessments=assessments,
            )
        )
    return drugs


def _text_of(cc: dict[str, Any] | None) -> str | None:
    if not cc:
        return None
    c = (cc.get("coding") or [{}])[0]
    out = cc.get("text") or c.get("code") or c.get("display")
    return str(out) if out is not None else None


def _case_of(
    group: list[tuple[str, dict[str, Any]]], version: str, registry: Callable[[str], bool] | None
) -> tuple[IcsrCase, list[str]]:
    warnings: list[str] = []
    where, first = group[0]
    ident = first.get("identifier")
    ident = (ident[0] if ident else None) if isinstance(ident, list) else ident
    report_id = (ident or {}).get("value") or (f"FHIR-{first['id']}" if first.get("id") else None)
    if not report_id:
        raise _Bad("MISSING_ELEMENT", f"{where}.identifier", "neither an identifier nor a resource id (C.1.1)")
    subject = (first.get("subject") or {}).get("reference")
    if subject and registry is not None:
        pid = subject.rsplit("/", 1)[-1]
        if not subject.startswith("Patient/") or not registry(pid):
            warnings.append(f"SUBJECT_NOT_IN_REGISTRY: {where}.subject: {subject[:100]} is not a monitored patient")
    reactions: list[Reaction] = []
    drugs: dict[str, Drug] = {}
    for w, res in group:
        if (res.get("subject") or {}).get("reference") != subject:
            raise _Bad("CONFLICT", f"{w}.subject", f"AdverseEvents of report {report_id!r} name different subjects")
        if res.get("actuality", "actual") != "actual":
            raise _Bad("NOT_ACTUAL", f"{w}.actuality", "a potential event (near miss) is not an ICSR")
        reaction = _reaction(res, version, w, warnings)
        reactions.append(reaction)
        for d in _suspects(res, version, reaction.id):
            if d.id in drugs:
                old = drugs[d.id]
                d = old.model_copy(update={"assessments": old.assessments + d.assessments})
            drugs[str(d.id)] = d
        for k in ("encounter", "location", "study", "supportingInfo", "contributingFactor", "note", "detected"):
            if res.get(k):
                warnings.append(f"NOT_KEPT: {w}.{k}")
    recorder = (first.get("recorder") or {}).get("reference")
    contributors = [c.get("reference") for c in first.get("contributor") or []] + [
        (p.get("actor") or {}).get("reference") for p in first.get("participant") or []
    ]
    sources = tuple(PrimarySource(person=Person(reference=r)) for r in [recorder, *contributors] if r)
    recorded = first.get("recordedDate")
    case = IcsrCase(
        safety_report_id=report_id,
        other_ids=(((ident or {}).get("system"), report_id),) if (ident or {}).get("system") else (),
        created=hl7_timestamp(recorded, f"{where}.recordedDate") if recorded else None,
        patient=Patient(reference=subject),
        reactions=tuple(reactions),
        drugs=tuple(drugs.values()),
        primary_sources=sources,
        nullification=Code(code="1", system="2.16.840.1.113883.3.989.2.1.1.5")
        if first.get("status") == "entered-in-error"
        else None,
    )
    return case, warnings


def _depth(value: Any, limit: int) -> bool:
    """True when ``value`` nests deeper than ``limit`` (iterative, no recursion)."""
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if d > limit:
            return True
        if isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values() if isinstance(x, dict | list))
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v if isinstance(x, dict | list))
    return False


def _load_json(data: bytes, file: str, limits: FhirLimits) -> Any:
    if len(data) > limits.max_bytes:
        raise ParseError(f"FHIR_TOO_LARGE: more than {limits.max_bytes:,} bytes", file=file)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseError(f"FHIR_ENCODING: not UTF-8 (byte {exc.start}); FHIR JSON is UTF-8", file=file) from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(f"FHIR_MALFORMED: not JSON: {exc.msg}", file=file, line=exc.lineno) from None
    except RecursionError:
        raise ParseError(f"FHIR_TOO_DEEP: JSON nested deeper than {limits.max_depth}", file=file) from None
    if _depth(doc, limits.max_depth):
        raise ParseError(f"FHIR_TOO_DEEP: JSON nested deeper than {limits.max_depth}", file=file)
    if not isinstance(doc, dict) or doc.get("resourceType") not in ("AdverseEvent", "Bundle"):
        raise ParseError("FHIR_NOT_ADVERSE_EVENT: expected an AdverseEvent or a Bundle of them", file=file)
    return doc


def read_fhir_adverse_events(
    source: Path | bytes,
    *,
    name: str | None = None,
    version: Literal["auto", "R4", "R5"] = "auto",
    registry: Callable[[str], bool] | None = None,
    limits: FhirLimits | None = None,
) -> FhirBatch:
    """Read an AdverseEvent (or a Bundle of them) into canonical cases.

    ``registry`` answers whether a subject id is a monitored patient (unknown ones are kept and
    flagged). Raises :class:`~cgtvigil.errors.ParseError` for a document that cannot be read at
    all (not JSON, not UTF-8, too large or deep, mixed versions); other problems quarantine the
    resource (or the report whose AdverseEvents it belongs to) with its JSON path.

    Examples
    --------
    >>> doc = (b'{"resourceType": "AdverseEvent", "id": "a1", "actuality": "actual", '
    ...        b'"subject": {"reference": "Patient/p1"}, "event": {"text": "CRS"}}')
    >>> batch = read_fhir_adverse_events(doc, name="ae.json")
    >>> batch.cases[0].safety_report_id, batch.cases[0].reactions[0].as_reported
    ('FHIR-a1', 'CRS')
    """
    limits = limits or FhirLimits()
    if isinstance(source, Path):
        file = name or str(source)
        try:
            if source.stat().st_size > limits.max_bytes:
                raise ParseError(f"FHIR_TOO_LARGE: more than {limits.max_bytes:,} bytes", file=file)
            data = source.read_bytes()
        except OSError as exc:
            raise ParseError(f"cannot be read: {exc.strerror}", file=file) from exc
    else:
        file, data = name or "<bytes>", source
    doc = _load_json(data, file, limits)
    if doc["resourceType"] == "Bundle":
        entries = doc.get("entry") or []
        if not isinstance(entries, list) or len(entries) > limits.max_entries:
            raise ParseError(
                f"FHIR_TOO_MANY_ENTRIES: entry must be a list of at most {limits.max_entries:,}", file=file
            )
        items: Iterable[tuple[str, Any]] = (
            (f"entry[{i}].resource", e.get("resource") if isinstance(e, dict) else e) for i, e in enumerate(entries)
        )
    else:
        items = [("$", doc)]
    batch = FhirBatch(file=file, sha256=hashlib.sha256(data).hexdigest(), version=version)
    resources: list[tuple[str, dict[str, Any], str]] = []
    for where, res in items:
        if not isinstance(res, dict):
            batch.read += 1
            raw = {"entry": res}
            batch.quarantined.append(
                _quarantine(file, raw, where, "INVALID_VALUE", "not a Bundle entry with a resource")
            )
            continue
        if res.get("resourceType") != "AdverseEvent":
            continue  # other resources of a Bundle (Patient, Medication) are context, not reports
        batch.read += 1
        try:
            v = version if version != "auto" else (_version_of(res) or "R4")
            _validate(res, v, where)
        except _Bad as bad:
            batch.quarantined.append(_quarantine(file, res, bad.where or where, bad.reason, str(bad)))
            continue
        resources.append((where, res, v))
    versions = {v for _, _, v in resources}
    if len(versions) > 1:
        raise ParseError("FHIR_MIXED_VERSIONS: the Bundle's AdverseEvents mix R4 and R5; send one version", file=file)
    batch.version = versions.pop() if versions else (version if version != "auto" else "R4")
    groups: dict[tuple[str | None, str | None], list[tuple[str, dict[str, Any]]]] = {}
    for where, res, _ in resources:
        ident = res.get("identifier")
        ident = (ident[0] if ident else None) if isinstance(ident, list) else ident
        key = ((ident or {}).get("system"), (ident or {}).get("value")) if (ident or {}).get("value") else (None, where)
        groups.setdefault(key, []).append((where, res))
    for group in groups.values():
        try:
            case, warnings = _case_of(group, batch.version, registry)
        except _Bad as bad:
            for where, res in group:
                batch.quarantined.append(_quarantine(file, res, bad.where or where, bad.reason, str(bad)))
            continue
        except PydanticValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(x) for x in first["loc"])
            for where, res in group:
                batch.quarantined.append(_quarantine(file, res, where, "INVALID_VALUE", f"{loc}: {first['msg']}"))
            continue
        batch.loaded.append(LoadedReport(case, file, batch.sha256, group[0][0], FHIR_IMPORTER_VERSION, tuple(warnings)))
        batch.resources_loaded += len(group)
    batch.check_counts()
    return batch


def _quarantine(file: str, res: dict[str, Any], where: str, reason: str, detail: str) -> QuarantinedReport:
    ident = res.get("identifier")
    ident = (ident[0] if ident else None) if isinstance(ident, list) else ident
    rid = (ident or {}).get("value") if isinstance(ident, dict) else None
    return QuarantinedReport(
        file=file,
        xpath=where,
        reason=reason,
        detail=detail,
        safety_report_id=rid if isinstance(rid, str) else None,
        raw=json.dumps(res, ensure_ascii=False)[:1_000_000],
        message_id=res.get("id") if isinstance(res.get("id"), str) else None,
    )
