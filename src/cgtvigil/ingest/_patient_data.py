"""Patient-generated and clinical observations into canonical :class:`Observation` records
(formats.md §4-5): Open mHealth data points, wearable CSV exports, FHIR R4 Observation
bundles (R4B models of ``fhir.resources``) and ePRO QuestionnaireResponses.

Every input element becomes an observation or a :class:`QuarantinedInput` with a reason:
IMPLAUSIBLE_VALUE (outside hard limits: 60 °C, SpO2 > 100 %, a negative count), UNKNOWN_UNIT,
UNKNOWN_CODE, UNKNOWN_SCHEMA, NO_TIMEZONE (a timestamp without offset and no declared source
time zone), INVALID (structure). Extreme but possible values (41 °C) are kept.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cgtvigil._validation import Problems
from cgtvigil.clinical import ANALYTES, to_canonical
from cgtvigil.errors import ValidationError
from cgtvigil.model import Observation, QuarantinedInput

__all__ = [
    "CGT_SYMPTOM_ITEMS",
    "LOINC_CODES",
    "IntakeResult",
    "read_assessments",
    "read_fhir_bundle",
    "read_omh",
    "read_questionnaire_response",
    "read_wearable_csv",
]

# LOINC code -> kind. Versioned data; the vital-sign codes follow the FHIR vitals profile as
# commonly published and are UNCONFIRMED against the profile text in formats.md §4.2.
LOINC_VERSION = "cgtvigil-loinc-map-1 (UNCONFIRMED codes)"
LOINC_CODES: dict[str, str] = {
    "8310-5": "temperature",
    "8867-4": "heart_rate",
    "59408-5": "spo2",
    "2708-6": "spo2",
    "8480-6": "sbp",
    "8462-4": "dbp",
    "751-8": "anc",
    "26499-4": "anc",
    "777-3": "plt",
    "26515-7": "plt",
    "718-7": "hb",
    "6690-2": "wbc",
    "26464-8": "wbc",
    "1988-5": "crp",
    "2276-4": "ferritin",
    "1742-6": "alt",
    "1920-8": "ast",
    "1975-2": "bilirubin",
    "3255-7": "fibrinogen",
    "2532-0": "ldh",
    "2160-0": "creatinine",
    "2571-8": "triglycerides",
    "26881-3": "il6",
    "33959-8": "pct",
}
# The project's own CGT symptom items (its own words; 0 = absent, 1 = present unless stated).
CGT_SYMPTOM_ITEMS = {
    "cgt_fever": "I have had a fever (38 °C or higher) since my last report",
    "cgt_confusion": "I or my carer noticed new confusion or trouble finding words",
    "cgt_handwriting_change": "My handwriting has changed",
    "cgt_seizure": "I had a seizure or shaking I could not stop",
    "cgt_breathlessness": "I am short of breath at rest or with light activity",
}
PRO_CTCAE_ITEM = re.compile(r"^PROCTCAE_\d{1,2}[A-Z]_(SCL|IND)$")
_OMH = {  # schema name -> (body field, kind, allowed majors)
    "body-temperature": ("body_temperature", "temperature", {"1", "2", "3", "4"}),
    "heart-rate": ("heart_rate", "heart_rate", {"1", "2"}),
    "oxygen-saturation": ("oxygen_saturation", "spo2", {"1", "2"}),
}


@dataclass
class IntakeResult:
    observations: list[Observation] = field(default_factory=list)
    quarantine: list[QuarantinedInput] = field(default_factory=list)

    @property
    def read(self) -> int:
        return len(self.observations) + len(self.quarantine)

    def extend(self, other: IntakeResult) -> None:
        self.observations.extend(other.observations)
        self.quarantine.extend(other.quarantine)


def _zone(tz: str | None) -> ZoneInfo | None:
    if tz is None:
        return None
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(
            [f"The 'source_timezone' must be an IANA time zone such as 'Europe/Berlin'. Got {tz!r}."]
        ) from exc


def _parse_time(text: Any, zone: ZoneInfo | None) -> datetime | str:
    """An aware datetime, or the reason it is not one."""
    try:
        t = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return f"INVALID: '{text}' is not an ISO 8601 / RFC 3339 date-time"
    if t.tzinfo is None:
        if zone is None:
            return f"NO_TIMEZONE: '{text}' has no UTC offset and no source time zone was declared"
        t = t.replace(tzinfo=zone)
    return t


class _Builder:
    """Collects observations and quarantine entries with one validation path."""

    def __init__(self, source: str, patient: str | None = None) -> None:
        self.source = source
        self.patient = patient
        self.result = IntakeResult()

    def reject(self, location: str, reason: str, detail: str, raw: Any = "") -> None:
        text = raw if isinstance(raw, str) else json.dumps(raw, default=str)
        self.result.quarantine.append(
            QuarantinedInput(source=self.source, location=location, reason=reason, detail=detail, raw=text)
        )

    def add(
        self,
        *,
        patient: str | None,
        kind: str,
        value: Any,
        unit: str,
        time: Any,
        zone: ZoneInfo | None,
        location: str,
        raw: Any,
        device: str | None = None,
        ref: tuple[float | None, float | None] = (None, None),
        extra: dict[str, Any] | None = None,
    ) -> None:
        who = patient or self.patient
        if not who:
            self.reject(location, "INVALID", "no patient reference", raw)
            return
        when = _parse_time(time, zone)
        if isinstance(when, str):
            reason, _, detail = when.partition(": ")
            self.reject(location, reason, detail, raw)
            return
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.reject(location, "INVALID", f"value {value!r} is not a number", raw)
            return
        canonical: float | None
        if kind.startswith(("pro_ctcae:", "symptom:")) or kind in ("crs_grade", "icans_grade", "masking_agent"):
            canonical, unit_out = number, unit
        else:
            problems = Problems()
            canonical = to_canonical(kind, number, unit, problems)
            if canonical is None:
                msg = problems.items[0]
                self.reject(location, "UNKNOWN_UNIT" if "unknown unit" in msg else "IMPLAUSIBLE_VALUE", msg, raw)
                return
            unit_out = ANALYTES[kind].canonical
        lo, hi = ref
        if lo is not None or hi is not None:
            lo = to_canonical(kind, lo, unit, Problems()) if lo is not None else None
            hi = to_canonical(kind, hi, unit, Problems()) if hi is not None else None
        self.result.observations.append(
            Observation(
                patient=who,
                kind=kind,
                value=canonical,
                unit=unit_out,
                time=when,
                source=self.source,
                device=device,
                location=location,
                ref_low=lo,
                ref_high=hi,
                extra=extra or {},
            )
        )


def read_omh(
    points: Iterable[Mapping[str, Any]],
    *,
    patient: str | None = None,
    source_timezone: str | None = None,
    where: str = "omh",
) -> IntakeResult:
    """Open mHealth data points (body-temperature, heart-rate, oxygen-saturation,
    blood-pressure); the patient comes from ``header.user_id`` or ``patient``."""
    zone = _zone(source_timezone)
    b = _Builder("omh", patient)
    for i, point in enumerate(points):
        loc = f"{where}[{i}]"
        try:
            header, body = point["header"], point["body"]
            schema = header["schema_id"]
            name, version = schema["name"], str(schema["version"])
            frame = body["effective_time_frame"]
            time = frame.get("date_time") or frame["time_interval"]["end_date_time"]
        except (KeyError, TypeError) as exc:
            b.reject(loc, "INVALID", f"not an OMH data point: missing {exc}", point)
            continue
        device = (header.get("acquisition_provenance") or {}).get("source_name")
        who = header.get("user_id")
        if name == "blood-pressure":
            for part, kind in (("systolic_blood_pressure", "sbp"), ("diastolic_blood_pressure", "dbp")):
                m = body.get(part) or {}
                b.add(
                    patient=who,
                    kind=kind,
                    value=m.get("value"),
                    unit=str(m.get("unit", "")),
                    time=time,
                    zone=zone,
                    location=f"{loc}.body.{part}",
                    raw=point,
                    device=device,
                )
            continue
        spec = _OMH.get(name)
        if spec is None or version.split(".")[0] not in spec[2]:
            b.reject(
                loc,
                "UNKNOWN_SCHEMA",
                f"schema {schema.get('namespace', 'omh')}:{name}:{version} is not supported",
                point,
            )
            continue
        m = body.get(spec[0]) or {}
        b.add(
            patient=who,
            kind=spec[1],
            value=m.get("value"),
            unit=str(m.get("unit", "")),
            time=time,
            zone=zone,
            location=f"{loc}.body.{spec[0]}",
            raw=point,
            device=device,
        )
    return b.result


def read_wearable_csv(
    path: Path,
    *,
    source_timezone: str | None = None,
    kind: str = "temperature",
    columns: Mapping[str, str] | None = None,
) -> IntakeResult:
    """A wearable CSV export: one row per reading with patient, time, value and unit columns
    (names mapped with ``columns``, e.g. {"time": "timestamp"}); naive times need the
    source's time zone."""
    names = {
        "patient": "patient",
        "time": "time",
        "value": "value",
        "unit": "unit",
        "device": "device",
        **(columns or {}),
    }
    zone = _zone(source_timezone)
    b = _Builder("csv")
    with Path(path).open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [names[k] for k in ("patient", "time", "value", "unit") if names[k] not in (reader.fieldnames or [])]
        if missing:
            problems = Problems()
            found = ", ".join(reader.fieldnames or [])
            problems.add(f"{path}, line 1: missing column(s) {', '.join(missing)}; the file has {found}.")
            problems.raise_if_any()
        for line, row in enumerate(reader, start=2):
            b.add(
                patient=row.get(names["patient"]),
                kind=kind,
                value=row.get(names["value"]),
                unit=row.get(names["unit"]) or "",
                time=row.get(names["time"]),
                zone=zone,
                location=f"{path}:{line}",
                raw=",".join(row.values()),
                device=row.get(names["device"]) or None,
            )
    return b.result


def _fhir_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        return "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in errors()[:5])
    return str(exc)


def read_fhir_bundle(bundle: Mapping[str, Any], *, where: str = "bundle") -> IntakeResult:
    """Observations with LOINC codes from a FHIR R4 Bundle (validated with the R4B models);
    components (e.g. blood pressure) become one observation each; QuestionnaireResponses in
    the bundle are read as ePRO."""
    from fhir.resources.R4B.observation import Observation as FhirObservation
    from pydantic import ValidationError as PydanticValidationError

    result = IntakeResult()
    b = _Builder("fhir")
    entries = bundle.get("entry") or []
    if bundle.get("resourceType") != "Bundle":
        b.reject(where, "INVALID", "not a FHIR Bundle (resourceType must be 'Bundle')", dict(bundle))
    for i, entry in enumerate(entries):
        res = (entry or {}).get("resource") or {}
        loc = f"{where}.entry[{i}].resource"
        rtype = res.get("resourceType")
        if rtype == "QuestionnaireResponse":
            result.extend(read_questionnaire_response(res, where=loc))
            continue
        if rtype != "Observation":
            b.reject(loc, "UNKNOWN_CODE", f"resource type {rtype!r} is not read here", res)
            continue
        try:
            obs = FhirObservation.model_validate(res)
        except PydanticValidationError as exc:
            b.reject(loc, "INVALID", _fhir_error(exc), res)
            continue
        subject = obs.subject.reference if obs.subject and obs.subject.reference else None
        patient = subject.split("/")[-1] if subject else None
        time = (
            obs.effectiveDateTime or (obs.effectivePeriod.end if obs.effectivePeriod else None) or obs.effectiveInstant
        )
        parts: list[tuple[Any, Any, str]] = []
        if obs.component:
            parts = [(c.code, c.valueQuantity, f"{loc}.component[{k}]") for k, c in enumerate(obs.component)]
        else:
            parts = [(obs.code, obs.valueQuantity, loc)]
        ref: tuple[float | None, float | None] = (None, None)
        if obs.referenceRange:
            r0 = obs.referenceRange[0]
            ref = (
                float(r0.low.value) if r0.low and r0.low.value is not None else None,
                float(r0.high.value) if r0.high and r0.high.value is not None else None,
            )
        for code, qty, ploc in parts:
            loinc = next((c.code for c in (code.coding or []) if c.system and "loinc" in c.system), None)
            kind = LOINC_CODES.get(loinc or "")
            if kind is None:
                b.reject(ploc, "UNKNOWN_CODE", f"LOINC code {loinc!r} is not in {LOINC_VERSION}", res)
                continue
            if qty is None or qty.value is None:
                b.reject(ploc, "INVALID", "no valueQuantity", res)
                continue
            b.add(
                patient=patient,
                kind=kind,
                value=qty.value,
                unit=str(qty.code or qty.unit or ""),
                time=time.isoformat() if isinstance(time, datetime) else time,
                zone=None,
                location=ploc,
                raw=res,
                ref=ref,
                extra={"status": obs.status, "loinc": loinc},
            )
    result.extend(b.result)
    return result


def read_assessments(payload: Mapping[str, Any], *, where: str = "assessment") -> IntakeResult:
    """Clinician assessments ``{"patient": id, "crs": [...], "icans": [...]}`` graded with
    the clinical library (ASTCT 2019) into ``crs_grade`` / ``icans_grade`` observations; a
    not-gradable assessment is returned with the reason NOT_GRADABLE and what is missing, and
    an invalid one with INVALID and every problem."""
    from pydantic import ValidationError as PydanticValidationError

    from cgtvigil.clinical import grade_crs_series, grade_icans
    from cgtvigil.model import CRSAssessment, ICANSAssessment

    b = _Builder("clinician", str(payload.get("patient") or "") or None)
    for scheme, model in (("crs", CRSAssessment), ("icans", ICANSAssessment)):
        parsed = []
        for k, raw in enumerate(payload.get(scheme) or []):
            try:
                parsed.append((k, model.model_validate(raw)))
            except PydanticValidationError as exc:
                b.reject(f"{where}.{scheme}[{k}]", "INVALID", _fhir_error(exc), raw)
        try:
            if scheme == "crs":
                grades = grade_crs_series([a for _, a in parsed])[0] if parsed else []  # type: ignore[misc]
                ordered = sorted(parsed, key=lambda x: x[1].time)
            else:
                ordered = sorted(parsed, key=lambda x: x[1].time)
                grades = [grade_icans(a) for _, a in ordered]  # type: ignore[arg-type]
        except ValidationError as exc:
            b.reject(f"{where}.{scheme}", "INVALID", "; ".join(exc.problems), [raw for _, raw in parsed])
            continue
        for (k, a), g in zip(ordered, grades, strict=True):
            loc = f"{where}.{scheme}[{k}]"
            agents = [n for n in ("antipyretic", "tocilizumab", "corticosteroid") if getattr(a, n, False)]
            if agents:  # a masking event: fever may be suppressed from now on (domain.md §1.1 rule 2)
                b.add(
                    patient=None,
                    kind="masking_agent",
                    value=1,
                    unit="{event}",
                    time=a.time.isoformat(),
                    zone=None,
                    location=loc,
                    raw=a.model_dump(mode="json"),
                    extra={"agents": agents},
                )
            if g.grade is None:
                b.reject(
                    loc,
                    "NOT_GRADABLE",
                    f"{g.category or 'not gradable'}; missing: {', '.join(g.missing)}",
                    a.model_dump(mode="json"),
                )
                continue
            b.add(
                patient=None,
                kind=f"{scheme}_grade",
                value=g.grade,
                unit="{grade}",
                time=a.time.isoformat(),
                zone=None,
                location=loc,
                raw=a.model_dump(mode="json"),
                extra={"driver": g.driver, "version": g.version},
            )
    return b.result


def read_questionnaire_response(qr: Mapping[str, Any], *, where: str = "questionnaire_response") -> IntakeResult:
    """ePRO answers: PRO-CTCAE items by their ids (PROCTCAE_<n><letter>_SCL 0-4 or _IND 0/1;
    the official wording is not shipped) and the project's CGT symptom items (0/1)."""
    b = _Builder("epro")
    subject = ((qr.get("subject") or {}).get("reference") or "").split("/")[-1] or None
    time = qr.get("authored")
    status = qr.get("status")
    if status not in ("completed", "amended"):
        b.reject(where, "INVALID", f"status {status!r}: only completed or amended responses are read", dict(qr))
        return b.result
    for k, item in enumerate(qr.get("item") or []):
        loc = f"{where}.item[{k}]"
        link = str(item.get("linkId", ""))
        answers = item.get("answer") or []
        if not answers:
            continue  # not asked (PRO-CTCAE branching) or skipped: no observation
        a = answers[0]
        value = a.get("valueInteger")
        if value is None and "valueCoding" in a:
            value = (a["valueCoding"] or {}).get("code")
        if value is None and "valueBoolean" in a:
            value = int(bool(a["valueBoolean"]))
        if PRO_CTCAE_ITEM.match(link):
            top = 4 if link.endswith("_SCL") else 1
            kind = f"pro_ctcae:{link}"
        elif link in CGT_SYMPTOM_ITEMS:
            top, kind = 1, f"symptom:{link}"
        else:
            b.reject(
                loc, "UNKNOWN_CODE", f"item {link!r} is neither a PRO-CTCAE item id nor a cgtvigil symptom item", item
            )
            continue
        try:
            score = int(str(value))
        except ValueError:
            b.reject(loc, "INVALID", f"answer {value!r} is not a whole number", item)
            continue
        if not 0 <= score <= top:
            b.reject(loc, "IMPLAUSIBLE_VALUE", f"answer {score} outside 0-{top} for {link}", item)
            continue
        b.add(
            patient=subject,
            kind=kind,
            value=score,
            unit="{score}",
            time=time,
            zone=None,
            location=loc,
            raw=item,
            extra={"recall": "past 7 days" if kind.startswith("pro_ctcae") else "since last report"},
        )
    return b.result
