"""Patient-generated and clinical observations into canonical :class:`Observation` records
(formats.md §4-5): Open mHealth data points, wearable CSV exports, FHIR R4 Observation
bundles (R4B models of ``fhir.resources``) and ePRO QuestionnaireResponses.

Every input element becomes an observation or a :class:`QuarantinedInput` with a reason:
IMPLAUSIBLE_VALUE (outside hard limits: 60 °C, SpO2 > 100 %, a negative count), UNKNOWN_UNIT,
UNKNOWN_CODE, UNKNOWN_SCHEMA, NO_TIMEZONE (a timestamp without offset and no declared source
time zone), IMPLAUSIBLE_TIME (before 1900, or outside the calendar once converted to UTC),
FUTURE_TIME (later than the reader's ``now`` plus :data:`CLOCK_SKEW`), INVALID (structure: a
wrong JSON type anywhere, a boolean where a number belongs, a patient id that is not a
pseudonym, an over-long device name). Extreme but possible values (41 °C) are kept. Quarantine
texts are bounded (:data:`MAX_RAW_CHARS`), so one hostile element cannot make a batch fail to
store.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cgtvigil._validation import Problems
from cgtvigil.clinical import ANALYTES, to_canonical
from cgtvigil.errors import ValidationError
from cgtvigil.model import Observation, QuarantinedInput

__all__ = [
    "CGT_SYMPTOM_ITEMS",
    "CLOCK_SKEW",
    "EARLIEST_TIME",
    "LOINC_CODES",
    "MASKING_AGENTS",
    "MAX_NAME_LENGTH",
    "IntakeResult",
    "pseudonym_problem",
    "read_assessments",
    "read_fhir_bundle",
    "read_omh",
    "read_questionnaire_response",
    "read_wearable_csv",
    "time_problem",
]

# Hard limits applied to every element before it reaches the store (reliability review D4, D6,
# D9): ids follow the pseudonym rule of the patient registry; names fit the store's columns.
_PSEUDONYM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{1,63}$")
MAX_NAME_LENGTH = 64  # device names (String(64) in the store)
MAX_RAW_CHARS = 4000  # the raw element kept in the quarantine
_MAX_DETAIL_CHARS = 1000
_MAX_LOCATION_CHARS = 256
_MAX_TIME_CHARS = 64
EARLIEST_TIME = datetime(1900, 1, 1, tzinfo=UTC)  # no CGT observation is older
CLOCK_SKEW = timedelta(minutes=10)  # how far ahead of the receiver a device clock may run

# LOINC code -> kind. Versioned data; the vital-sign codes follow the FHIR vitals profile as
# commonly published and are UNCONFIRMED against the profile text in formats.md §4.2.
LOINC_VERSION = "cgtvigil-loinc-map-1 (UNCONFIRMED codes)"
# the agents of a CRS assessment that may mask fever, stored as kinds masking_agent:<agent>
# (rows stored before the agent was kept have the kind masking_agent and name none)
MASKING_AGENTS = ("antipyretic", "tocilizumab", "corticosteroid")
_MASKING_KINDS = tuple(f"masking_agent:{a}" for a in MASKING_AGENTS)
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


def _clip(text: str, limit: int) -> str:
    """``text`` without NUL characters (PostgreSQL refuses them) and at most ``limit`` long."""
    text = text.replace("\x00", "\\x00")
    return text if len(text) <= limit else f"{text[: limit - 40]}... ({len(text):,} characters in all)"


def _show(value: Any) -> str:
    return _clip(repr(value), 80)


def _json_type(value: Any) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list"}
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "an object"
    return names.get(type(value), type(value).__name__)


class _ShapeError(ValueError):
    """An element whose JSON structure is not the one expected (quarantined as INVALID)."""


def _obj(value: Any, what: str, *, optional: bool = False) -> Mapping[str, Any]:
    if value is None and optional:
        return {}
    if not isinstance(value, Mapping):
        raise _ShapeError(f"{what} must be an object, got {_json_type(value)}")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _ShapeError(f"{what} must be a list, got {_json_type(value)}")
    return value


def _text(value: Any, what: str, *, optional: bool = False) -> str:
    if value is None and optional:
        return ""
    if not isinstance(value, str):
        raise _ShapeError(f"{what} must be a string, got {_json_type(value)}")
    return value


def pseudonym_problem(value: Any) -> str | None:
    """Why ``value`` is not a pseudonymous patient id (2-64 letters, digits or ``_.:-``,
    starting with a letter or digit), or None when it is one.

    Examples
    --------
    >>> pseudonym_problem("P-0001") is None
    True
    >>> pseudonym_problem("Jane Doe")
    "The patient id must be a pseudonym of 2-64 letters, digits or _.:- characters. Got 'Jane Doe'."
    """
    if isinstance(value, str) and _PSEUDONYM.match(value):
        return None
    return f"The patient id must be a pseudonym of 2-64 letters, digits or _.:- characters. Got {_show(value)}."


def time_problem(
    t: datetime, *, now: datetime | None = None, not_before: datetime = EARLIEST_TIME
) -> tuple[str, str] | None:
    """(reason, detail) when an aware time is not plausible for an observation, else None:
    IMPLAUSIBLE_TIME before ``not_before`` (1900, or the patient's birth) or when it cannot be
    expressed in UTC (year 1 at +14:00); FUTURE_TIME after ``now`` + :data:`CLOCK_SKEW`.
    Checked before any arithmetic on the time (reliability review D9)."""
    try:
        utc = t.astimezone(UTC)
    except (OverflowError, ValueError):
        return "IMPLAUSIBLE_TIME", f"{t.isoformat()} is outside the calendar once converted to UTC"
    if utc < not_before:
        return "IMPLAUSIBLE_TIME", f"{t.isoformat()} is before {not_before.date().isoformat()}"
    if now is not None and utc > now + CLOCK_SKEW:
        return (
            "FUTURE_TIME",
            f"{t.isoformat()} is in the future (received {now.astimezone(UTC).isoformat(timespec='seconds')};"
            f" allowed clock skew {int(CLOCK_SKEW.total_seconds() // 60)} min)",
        )
    return None


def _parse_time(text: Any, zone: ZoneInfo | None, now: datetime) -> datetime | str:
    """An aware, plausible datetime, or the reason it is not one."""
    if not isinstance(text, str):
        return f"INVALID: the time must be an ISO 8601 / RFC 3339 string, got {_json_type(text)}"
    if len(text) > _MAX_TIME_CHARS:
        return f"INVALID: {_show(text)} is not an ISO 8601 / RFC 3339 date-time"
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return f"INVALID: {_show(text)} is not an ISO 8601 / RFC 3339 date-time"
    if t.tzinfo is None:
        if zone is None:
            return f"NO_TIMEZONE: {_show(text)} has no UTC offset and no source time zone was declared"
        t = t.replace(tzinfo=zone)
    problem = time_problem(t, now=now)
    if problem is not None:
        return f"{problem[0]}: {problem[1]}"
    return t


class _Builder:
    """Collects observations and quarantine entries with one validation path."""

    def __init__(self, source: str, patient: Any = None, *, now: datetime | None = None) -> None:
        self.source = source
        self.patient = patient
        self.now = now or datetime.now(UTC)
        self.result = IntakeResult()

    def reject(self, location: str, reason: str, detail: str, raw: Any = "") -> None:
        text = raw if isinstance(raw, str) else json.dumps(raw, default=str)
        self.result.quarantine.append(
            QuarantinedInput(
                source=self.source,
                location=_clip(location, _MAX_LOCATION_CHARS),
                reason=reason,
                detail=_clip(detail, _MAX_DETAIL_CHARS),
                raw=_clip(text, MAX_RAW_CHARS),
            )
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
        who = patient if patient is not None else self.patient
        if who is None or who == "":
            self.reject(location, "INVALID", "no patient reference", raw)
            return
        problem = pseudonym_problem(who)
        if problem is not None:
            self.reject(location, "INVALID", problem, raw)
            return
        if device is not None and (
            not isinstance(device, str) or len(device) > MAX_NAME_LENGTH or not device.isprintable()
        ):
            self.reject(
                location,
                "INVALID",
                f"the device name must be printable text of at most {MAX_NAME_LENGTH} characters. Got {_show(device)}.",
                raw,
            )
            return
        if not isinstance(unit, str):
            self.reject(location, "INVALID", f"the unit must be a string, got {_json_type(unit)}", raw)
            return
        when = _parse_time(time, zone, self.now)
        if isinstance(when, str):
            reason, _, detail = when.partition(": ")
            self.reject(location, reason, detail, raw)
            return
        if isinstance(value, bool):  # float(True) == 1.0: a JSON boolean is not a measurement (D11)
            self.reject(location, "INVALID", f"value {value!r} is a boolean, not a number", raw)
            return
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.reject(location, "INVALID", f"value {_show(value)} is not a number", raw)
            return
        except OverflowError:  # an integer beyond the float range
            self.reject(location, "IMPLAUSIBLE_VALUE", f"value {_show(value)} is beyond any measurement", raw)
            return
        canonical: float | None
        if kind.startswith(("pro_ctcae:", "symptom:")) or kind in ("crs_grade", "icans_grade", *_MASKING_KINDS):
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
    points: Iterable[Any],
    *,
    patient: str | None = None,
    source_timezone: str | None = None,
    where: str = "omh",
    now: datetime | None = None,
    first: int = 0,
) -> IntakeResult:
    """Open mHealth data points (body-temperature, heart-rate, oxygen-saturation,
    blood-pressure); the patient comes from ``header.user_id`` or ``patient``. A point of the
    wrong JSON shape is quarantined as INVALID with the field at fault; times are checked
    against ``now`` (default: the current time). ``first``: the index of the first point in
    its file, when a long list is read in slices."""
    zone = _zone(source_timezone)
    b = _Builder("omh", patient, now=now)
    for i, point in enumerate(points, start=first):
        loc = f"{where}[{i}]"
        try:
            p = _obj(point, "the data point")
            header, body = _obj(p.get("header"), "header"), _obj(p.get("body"), "body")
            schema = _obj(header.get("schema_id"), "header.schema_id")
            name = _text(schema.get("name"), "header.schema_id.name")
            version = schema.get("version")
            if not isinstance(version, str | int | float) or isinstance(version, bool):
                raise _ShapeError(f"header.schema_id.version must be a string, got {_json_type(version)}")
            version = str(version)
            frame = _obj(body.get("effective_time_frame"), "body.effective_time_frame")
            time = frame.get("date_time")
            if time is None:
                interval = _obj(frame.get("time_interval"), "body.effective_time_frame.time_interval")
                time = interval.get("end_date_time")
            device = _obj(header.get("acquisition_provenance"), "header.acquisition_provenance", optional=True).get(
                "source_name"
            )
            who = header.get("user_id")
            parts = (
                (("systolic_blood_pressure", "sbp"), ("diastolic_blood_pressure", "dbp"))
                if name == "blood-pressure"
                else ((_OMH[name][0], _OMH[name][1]),)
                if name in _OMH
                else ()
            )
            measures = [(part, kind, _obj(body.get(part), f"body.{part}", optional=True)) for part, kind in parts]
        except _ShapeError as exc:
            b.reject(loc, "INVALID", f"not an OMH data point: {exc}", point)
            continue
        if name != "blood-pressure" and (name not in _OMH or version.split(".")[0] not in _OMH[name][2]):
            b.reject(
                loc,
                "UNKNOWN_SCHEMA",
                f"schema {_show(schema.get('namespace', 'omh'))}:{_show(name)}:{_show(version)} is not supported",
                point,
            )
            continue
        for part, kind, m in measures:
            b.add(
                patient=who,
                kind=kind,
                value=m.get("value"),
                unit=m.get("unit", ""),
                time=time,
                zone=zone,
                location=f"{loc}.body.{part}",
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
    now: datetime | None = None,
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
    b = _Builder("csv", now=now)
    with Path(path).open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [names[k] for k in ("patient", "time", "value", "unit") if names[k] not in (reader.fieldnames or [])]
        if missing:
            problems = Problems()
            found = ", ".join(reader.fieldnames or [])
            problems.add(f"{path}, line 1: missing column(s) {', '.join(missing)}; the file has {found}.")
            problems.raise_if_any()
        for line, row in enumerate(reader, start=2):
            raw = ",".join("" if v is None else v if isinstance(v, str) else ",".join(v) for v in row.values())
            if None in row or None in row.values():
                b.reject(
                    f"{path}:{line}",
                    "INVALID",
                    f"the row has {'more' if None in row else 'fewer'} fields than the header",
                    raw,
                )
                continue
            b.add(
                patient=row.get(names["patient"]),
                kind=kind,
                value=row.get(names["value"]),
                unit=row.get(names["unit"]) or "",
                time=row.get(names["time"]),
                zone=zone,
                location=f"{path}:{line}",
                raw=raw,
                device=row.get(names["device"]) or None,
            )
    return b.result


def _fhir_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        return "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in errors()[:5])
    return str(exc)


def read_fhir_bundle(bundle: Any, *, where: str = "bundle", now: datetime | None = None) -> IntakeResult:
    """Observations with LOINC codes from a FHIR R4 Bundle (validated with the R4B models);
    components (e.g. blood pressure) become one observation each; QuestionnaireResponses in
    the bundle are read as ePRO. An entry of the wrong JSON shape is quarantined as INVALID."""
    from fhir.resources.R4B.observation import Observation as FhirObservation
    from pydantic import ValidationError as PydanticValidationError

    result = IntakeResult()
    b = _Builder("fhir", now=now)
    try:
        entries = _list(_obj(bundle, "the bundle").get("entry"), "entry")
    except _ShapeError as exc:
        b.reject(where, "INVALID", f"not a FHIR Bundle: {exc}", bundle)
        return b.result
    if bundle.get("resourceType") != "Bundle":
        b.reject(where, "INVALID", "not a FHIR Bundle (resourceType must be 'Bundle')", dict(bundle))
    for i, entry in enumerate(entries):
        loc = f"{where}.entry[{i}].resource"
        try:
            res = _obj(_obj(entry, "the entry").get("resource"), "the resource")
        except _ShapeError as exc:
            b.reject(loc, "INVALID", f"not a FHIR Bundle entry: {exc}", entry)
            continue
        rtype = res.get("resourceType")
        if rtype == "QuestionnaireResponse":
            result.extend(read_questionnaire_response(res, where=loc, now=b.now))
            continue
        if rtype != "Observation":
            b.reject(loc, "UNKNOWN_CODE", f"resource type {_show(rtype)} is not read here", res)
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
        parts: list[tuple[Any, Any, str, Any]] = []  # code, quantity, location, raw element
        if obs.component:
            raw_parts = res.get("component") or []
            parts = [
                (c.code, c.valueQuantity, f"{loc}.component[{k}]", raw_parts[k] if k < len(raw_parts) else None)
                for k, c in enumerate(obs.component)
            ]  # each component keeps its own raw text: never the whole resource once per component
        else:
            parts = [(obs.code, obs.valueQuantity, loc, res)]
        ref: tuple[float | None, float | None] = (None, None)
        if obs.referenceRange:
            r0 = obs.referenceRange[0]
            ref = (
                float(r0.low.value) if r0.low and r0.low.value is not None else None,
                float(r0.high.value) if r0.high and r0.high.value is not None else None,
            )
        for code, qty, ploc, raw in parts:
            loinc = next((c.code for c in (code.coding or []) if c.system and "loinc" in c.system), None)
            kind = LOINC_CODES.get(loinc or "")
            if kind is None:
                b.reject(ploc, "UNKNOWN_CODE", f"LOINC code {_show(loinc)} is not in {LOINC_VERSION}", raw)
                continue
            if qty is None or qty.value is None:
                b.reject(ploc, "INVALID", "no valueQuantity", raw)
                continue
            b.add(
                patient=patient,
                kind=kind,
                value=qty.value,
                unit=str(qty.code or qty.unit or ""),
                time=time.isoformat() if isinstance(time, datetime) else str(time) if time is not None else None,
                zone=None,
                location=ploc,
                raw=raw,
                ref=ref,
                extra={"status": obs.status, "loinc": loinc},
            )
    result.extend(b.result)
    return result


def read_assessments(payload: Any, *, where: str = "assessment", now: datetime | None = None) -> IntakeResult:
    """Clinician assessments ``{"patient": id, "crs": [...], "icans": [...]}`` graded with
    the clinical library (ASTCT 2019) into ``crs_grade`` / ``icans_grade`` observations; a
    not-gradable assessment is returned with the reason NOT_GRADABLE and what is missing, and
    an invalid one (wrong JSON shape, implausible or future time) with its reason before any
    grading."""
    from pydantic import ValidationError as PydanticValidationError

    from cgtvigil.clinical import grade_crs_series, grade_icans
    from cgtvigil.model import CRSAssessment, ICANSAssessment

    b = _Builder("clinician", now=now)
    if not isinstance(payload, Mapping):
        b.reject(where, "INVALID", f"an assessment must be an object, got {_json_type(payload)}", payload)
        return b.result
    b.patient = payload.get("patient")
    id_problem = pseudonym_problem(b.patient)
    if id_problem is not None:
        b.reject(f"{where}.patient", "INVALID", id_problem, payload)
        return b.result
    for scheme, model in (("crs", CRSAssessment), ("icans", ICANSAssessment)):
        try:
            items = _list(payload.get(scheme), scheme)
        except _ShapeError as exc:
            b.reject(f"{where}.{scheme}", "INVALID", str(exc), payload.get(scheme))
            continue
        parsed = []
        for k, raw in enumerate(items):
            loc = f"{where}.{scheme}[{k}]"
            try:
                a = model.model_validate(raw)
            except PydanticValidationError as exc:
                b.reject(loc, "INVALID", _fhir_error(exc), raw)
                continue
            if a.time.tzinfo is None:
                b.reject(loc, "NO_TIMEZONE", f"{a.time.isoformat()} has no UTC offset", raw)
                continue
            problem = time_problem(a.time, now=b.now)
            if problem is not None:
                b.reject(loc, *problem, raw)
                continue
            parsed.append((k, a))
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
            # a masking event: fever may be suppressed from now on (domain.md §1.1 rule 2). One
            # observation per agent, the agent in its kind (masking_agent:tocilizumab, ...), so that
            # the store keeps which agent was given (a CRS treatment indicator counts tocilizumab only)
            for agent in (n for n in MASKING_AGENTS if getattr(a, n, False)):
                b.add(
                    patient=None,
                    kind=f"masking_agent:{agent}",
                    value=1,
                    unit="{event}",
                    time=a.time.isoformat(),
                    zone=None,
                    location=loc,
                    raw=a.model_dump(mode="json"),
                    extra={"agent": agent},
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


def read_questionnaire_response(
    qr: Any, *, where: str = "questionnaire_response", now: datetime | None = None
) -> IntakeResult:
    """ePRO answers: PRO-CTCAE items by their ids (PROCTCAE_<n><letter>_SCL 0-4 or _IND 0/1;
    the official wording is not shipped) and the project's CGT symptom items (0/1). A response
    or an item of the wrong JSON shape is quarantined as INVALID."""
    b = _Builder("epro", now=now)
    try:
        response = _obj(qr, "the QuestionnaireResponse")
        reference = _text(
            _obj(response.get("subject"), "subject", optional=True).get("reference"), "subject.reference", optional=True
        )
        items = _list(response.get("item"), "item")
    except _ShapeError as exc:
        b.reject(where, "INVALID", f"not a QuestionnaireResponse: {exc}", qr)
        return b.result
    subject = reference.split("/")[-1] or None
    time = response.get("authored")
    status = response.get("status")
    if status not in ("completed", "amended"):
        b.reject(where, "INVALID", f"status {_show(status)}: only completed or amended responses are read", dict(qr))
        return b.result
    for k, item in enumerate(items):
        loc = f"{where}.item[{k}]"
        try:
            entry = _obj(item, "the item")
            link = _text(entry.get("linkId"), "linkId")
            answers = _list(entry.get("answer"), "answer")
            a = _obj(answers[0], "answer[0]") if answers else {}
            value = a.get("valueInteger")
            if value is None and "valueCoding" in a:
                value = _obj(a["valueCoding"], "valueCoding", optional=True).get("code")
            if value is None and "valueBoolean" in a:
                if not isinstance(a["valueBoolean"], bool):
                    raise _ShapeError(f"valueBoolean must be true or false, got {_json_type(a['valueBoolean'])}")
                value = int(a["valueBoolean"])
        except _ShapeError as exc:
            b.reject(loc, "INVALID", f"not a QuestionnaireResponse item: {exc}", item)
            continue
        if not answers:
            continue  # not asked (PRO-CTCAE branching) or skipped: no observation
        if PRO_CTCAE_ITEM.match(link):
            top = 4 if link.endswith("_SCL") else 1
            kind = f"pro_ctcae:{link}"
        elif link in CGT_SYMPTOM_ITEMS:
            top, kind = 1, f"symptom:{link}"
        else:
            b.reject(
                loc,
                "UNKNOWN_CODE",
                f"item {_show(link)} is neither a PRO-CTCAE item id nor a cgtvigil symptom item",
                item,
            )
            continue
        if isinstance(value, bool) or not isinstance(value, int | str):
            b.reject(loc, "INVALID", f"answer {_show(value)} is not a whole number", item)
            continue
        try:
            score = int(value)
        except ValueError:
            b.reject(loc, "INVALID", f"answer {_show(value)} is not a whole number", item)
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
