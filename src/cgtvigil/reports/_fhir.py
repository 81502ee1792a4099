"""FHIR AdverseEvent export (formats.md §4.1): each reaction of a canonical case as one
AdverseEvent (R4, checked with the R4B models of ``fhir.resources``, or R5), in a collection
Bundle; the reader (:func:`cgtvigil.ingest.read_fhir_adverse_events`) reads it back into the
same case. What FHIR cannot carry is listed per case (``NOT_WRITTEN``), never dropped silently.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from cgtvigil.ingest import (
    E2B_OUTCOME_OID,
    FHIR_OUTCOMES,
    MEDDRA_OID,
    MEDDRA_SYSTEMS,
    SERIOUSNESS_CRITERION_URL,
    fhir_timestamp,
)
from cgtvigil.model import Code, IcsrCase, Reaction

__all__ = ["FhirExport", "write_fhir_adverse_events"]

_E2B_TO_FHIR_OUTCOME = {v: k for k, v in FHIR_OUTCOMES.items()}
_CRITERIA = ("death", "life_threatening", "hospitalisation", "disabling", "congenital_anomaly", "medically_important")
# what the canonical case holds that these AdverseEvents do not
_CASE_FIELDS_WRITTEN = {
    "safety_report_id",
    "other_ids",
    "created",
    "patient",
    "reactions",
    "drugs",
    "primary_sources",
    "nullification",
}


@dataclass(frozen=True)
class FhirExport:
    """The Bundle (as JSON-ready dict) and, per report id, what was not written."""

    bundle: dict[str, Any]
    not_written: dict[str, tuple[str, ...]]

    def to_json(self) -> str:
        return json.dumps(self.bundle, indent=2, ensure_ascii=False)


def _cc(code: Code | None, text: str | None = None) -> dict[str, Any] | None:
    if code is None and text is None:
        return None
    out: dict[str, Any] = {}
    if code is not None:
        coding = {
            k: v
            for k, v in (
                ("system", code.system),
                ("version", code.version),
                ("code", code.code),
                ("display", code.display),
            )
            if v is not None
        }
        if coding:
            out["coding"] = [coding]
        text = text or code.original_text
    if text is not None:
        out["text"] = text
    return out or None


def _system(system: str | None) -> str | None:
    """The FHIR form of a code system: MedDRA's URI, an OID as ``urn:oid:``."""
    if system == MEDDRA_OID:
        return MEDDRA_SYSTEMS[0]
    return f"urn:oid:{system}" if system and re.fullmatch(r"[0-2](\.\d+)+", system) else system


def _coding(c: Code) -> dict[str, str]:
    pairs = (("system", _system(c.system)), ("version", c.version), ("code", c.code), ("display", c.display))
    return {k: v for k, v in pairs if v is not None}


def _date(ts: object, what: str, lost: list[str]) -> str | None:
    if ts is None:
        return None
    if not isinstance(ts, str):
        lost.append(f"{what} (nullFlavor)")
        return None
    out = fhir_timestamp(ts)
    if out is None:
        lost.append(f"{what} (a time without seconds or zone: written as the date)")
        return fhir_timestamp(ts[:8])
    return out


def _event(case: IcsrCase, r: Reaction, n: int, version: str, lost: list[str]) -> dict[str, Any]:
    rid = r.id or f"{case.safety_report_id}-{n}"
    res: dict[str, Any] = {"resourceType": "AdverseEvent", "id": _fhir_id(rid)}
    ident: dict[str, Any] = {"value": case.safety_report_id}
    system = next((s for s, v in case.other_ids if v == case.safety_report_id and s), None)
    if system:
        ident = {"system": system, **ident}
    res["identifier"] = [ident] if version == "R5" else ident
    if version == "R5":
        res["status"] = "entered-in-error" if case.is_nullification else "completed"
    res["actuality"] = "actual"
    if r.categories:
        res["category"] = [_cc(c) for c in r.categories]
    codings = [c for c in (r.meddra, *r.other_codes) if c is not None]
    concept = _cc(None, r.as_reported if isinstance(r.as_reported, str) else None) or {}
    if codings:
        concept["coding"] = [
            {
                k: v
                for k, v in (("system", c.system), ("version", c.version), ("code", c.code), ("display", c.display))
                if v
            }
            for c in codings
        ]
    if concept:
        res["code" if version == "R5" else "event"] = concept
    res["subject"] = {"reference": case.patient.reference or f"Patient/{_fhir_id(case.safety_report_id)}-patient"}
    start, end = _date(r.start, "E.i.4 start", lost), _date(r.end, "E.i.5 end", lost)
    if version == "R5":
        if end:
            res["occurrencePeriod"] = {k: v for k, v in (("start", start), ("end", end)) if v}
        elif start:
            res["occurrenceDateTime"] = start
    else:
        if start:
            res["date"] = start
        if end:
            lost.append("E.i.5 end (R4 has no end date)")
    recorded = _date(case.created, "C.1.2 created", lost)
    if recorded:
        res["recordedDate"] = recorded
    if r.seriousness is not None or r.serious:
        res["seriousness"] = _cc(r.seriousness) or {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/adverse-event-seriousness", "code": "serious"}]
        }
    criteria = [c for c in _CRITERIA if getattr(r, c) is True]
    if criteria:
        res["extension"] = [{"url": SERIOUSNESS_CRITERION_URL, "valueCode": c} for c in criteria]
    if r.severity is not None:
        if version == "R5":
            lost.append("severity (R5 has none)")
        else:
            res["severity"] = _cc(r.severity)
    if r.outcome is not None:
        o = r.outcome
        if o.code in _E2B_TO_FHIR_OUTCOME and o.system == E2B_OUTCOME_OID:
            o = Code(
                code=_E2B_TO_FHIR_OUTCOME[o.code],
                system="http://terminology.hl7.org/CodeSystem/adverse-event-outcome",
                original_text=o.original_text,
            )
        res["outcome"] = [_cc(o)] if version == "R5" else _cc(o)
    sources = [p.person.reference for p in case.primary_sources if p.person.reference]
    if sources:
        res["recorder"] = {"reference": sources[0]}
        if sources[1:]:
            if version == "R5":
                res["participant"] = [{"actor": {"reference": s}} for s in sources[1:]]
            else:
                res["contributor"] = [{"reference": s} for s in sources[1:]]
    suspects = []
    for d in case.drugs:
        if not d.suspect:
            continue
        rel = [x for a in d.assessments if a.reaction_id == r.id for x in a.relatedness]
        entity: dict[str, Any] = {}
        display = {"display": d.name} if isinstance(d.name, str) else {}  # the drug as reported (G.k.2.2)
        ref = d.id if d.id and "/" in d.id else None
        if version == "R5":
            if ref:
                entity["instanceReference"] = {"reference": ref, **display}
            else:
                product = _cc(d.product_code, d.name if isinstance(d.name, str) else None)
                entity["instanceCodeableConcept"] = product or {"text": "unknown"}
            if rel:
                x = rel[0]
                entity["causality"] = {
                    k: v
                    for k, v in (
                        ("assessmentMethod", {"text": x.method} if isinstance(x.method, str) else None),
                        ("entityRelatedness", {"text": x.result} if isinstance(x.result, str) else None),
                        ("author", {"reference": x.source} if isinstance(x.source, str) else None),
                    )
                    if v
                }
                if rel[1:]:
                    lost.append(f"G.k.9.i.2.r relatedness after the first ({d.id}; R5 holds one)")
        else:
            entity["instance"] = {"reference": ref or f"Medication/{_fhir_id(d.id or 'unknown')}", **display}
            if rel:
                entity["causality"] = [
                    {
                        k: v
                        for k, v in (
                            ("assessment", {"text": x.result} if isinstance(x.result, str) else None),
                            ("method", {"text": x.method} if isinstance(x.method, str) else None),
                            ("author", {"reference": x.source} if isinstance(x.source, str) else None),
                        )
                        if v
                    }
                    for x in rel
                ]
        suspects.append(entity)
    if suspects:
        res["suspectEntity"] = suspects
    _check(res, version)
    return res


def _fhir_id(value: str) -> str:
    """A FHIR id ([A-Za-z0-9-.]{1,64}) made from ``value``."""
    out = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-.") else "-" for ch in value)
    return out[:64] or "x"


def _check(res: dict[str, Any], version: str) -> None:
    if version == "R5":
        from fhir.resources.adverseevent import AdverseEvent as Model
    else:
        from fhir.resources.R4B.adverseevent import AdverseEvent as Model  # type: ignore[assignment]
    Model.model_validate(res)


def _not_written(case: IcsrCase) -> list[str]:
    default = IcsrCase(safety_report_id=case.safety_report_id)
    lost = [
        f for f in IcsrCase.model_fields if f not in _CASE_FIELDS_WRITTEN and getattr(case, f) != getattr(default, f)
    ]
    lost += [
        f"patient.{f}"
        for f in type(case.patient).model_fields
        if f != "reference" and getattr(case.patient, f) not in (None, ())
    ]
    for d in case.drugs:
        if not d.suspect:
            lost.append(f"drug {d.id or d.name} (not suspect)")
    return lost


def write_fhir_adverse_events(
    cases: Sequence[IcsrCase], *, version: Literal["R4", "R5"] = "R4", bundle_id: str | None = None
) -> FhirExport:
    """The reactions of ``cases`` as AdverseEvents in one collection Bundle, each resource
    validated with ``fhir.resources``; with what each case holds that FHIR does not carry.

    Examples
    --------
    >>> from cgtvigil.model import Reaction
    >>> case = IcsrCase(safety_report_id="R1", reactions=(Reaction(id="e1", as_reported="CRS", death=True),))
    >>> out = write_fhir_adverse_events([case])
    >>> ae = out.bundle["entry"][0]["resource"]
    >>> ae["event"]["text"], ae["extension"][0]["valueCode"]
    ('CRS', 'death')
    """
    entries = []
    not_written: dict[str, tuple[str, ...]] = {}
    for case in cases:
        lost = _not_written(case)
        for n, r in enumerate(case.reactions, 1):
            entries.append({"resource": _event(case, r, n, version, lost)})
        if not case.reactions:
            lost.append("the whole case (no reaction: FHIR has one AdverseEvent per reaction)")
        if lost:
            not_written[case.safety_report_id] = tuple(dict.fromkeys(lost))
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    if bundle_id:
        bundle["id"] = _fhir_id(bundle_id)
    return FhirExport(bundle=bundle, not_written=not_written)
