"""Readers of vector copy number / CAR-transgene persistence measurements and of off-target
editing assay results (CSV, one row per measurement), each row loaded or quarantined."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from cgtvigil.errors import ParseError
from cgtvigil.genotox._readers import Quarantined, _abundance, _rows, _sha256, months_from_label
from cgtvigil.ingest import pseudonym_problem

__all__ = [
    "OFF_TARGET_RESULTS",
    "VECTOR_KINDS",
    "OffTargetResult",
    "VectorBatch",
    "VectorPoint",
    "read_off_target",
    "read_vector",
]

VECTOR_KINDS = ("vcn", "car_transgene")
OFF_TARGET_RESULTS = ("detected", "not_detected", "inconclusive")


@dataclass(frozen=True)
class VectorPoint:
    patient: str
    kind: str
    months: float
    measured_on: date | None
    cell_type: str
    sample: str
    value: float
    unit: str
    method: str


@dataclass(frozen=True)
class OffTargetResult:
    patient: str
    assay: str
    site: str
    gene: str
    indel_percent: float | None
    detection_limit_percent: float | None
    result: str
    measured_on: date | None
    months: float | None


@dataclass
class VectorBatch:
    source: str
    sha256: str
    rows: int = 0
    points: list[VectorPoint] = field(default_factory=list)
    results: list[OffTargetResult] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)


def _date(value: str) -> date | str | None:
    """A date, None when empty, else the reason it is not one."""
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return f"date must be YYYY-MM-DD. Got {value!r}."


def _time(r: dict[str, str]) -> float | None:
    if r.get("months"):
        return _abundance(r["months"])
    return months_from_label(r.get("time_point", "")) if r.get("time_point") else None


def _start(path: Path, need: list[str]) -> tuple[VectorBatch, object, list[str]]:
    rows = _rows(path)
    _, _, header = next(rows)
    header = [h.lower() for h in header]
    if missing := [c for c in need if c not in header]:
        raise ParseError(f"missing column(s): {', '.join(missing)}", file=path.name, line=1)
    return VectorBatch(source=path.name, sha256=_sha256(path)), rows, header


def read_vector(path: Path) -> VectorBatch:
    """Columns: patient, kind (vcn | car_transgene), months or time_point, value, unit; optional
    date, cell_type, sample, method."""
    batch, rows, header = _start(path, ["patient", "kind", "value", "unit"])
    if "months" not in header and "time_point" not in header:
        raise ParseError("missing column(s): months or time_point", file=path.name, line=1)
    for line, raw, cells in rows:  # type: ignore[attr-defined]
        batch.rows += 1
        r = {k.lower(): v for k, v in raw.items()}

        def put_aside(reason: str, detail: str, line: int = line, cells: list[str] = cells) -> None:
            batch.quarantined.append(Quarantined(line, reason, detail, ",".join(cells)[:4000]))

        if (problem := pseudonym_problem(r.get("patient", ""))) is not None:
            put_aside("bad_patient", problem)
            continue
        kind = r.get("kind", "").lower()
        if kind not in VECTOR_KINDS:
            put_aside("bad_kind", f"kind must be one of {', '.join(VECTOR_KINDS)}. Got {r.get('kind')!r}.")
            continue
        value = _abundance(r.get("value", ""))
        if value is None:
            put_aside("bad_value", f"value must be a number >= 0. Got {r.get('value')!r}.")
            continue
        months = _time(r)
        if months is None:
            put_aside("bad_time_point", f"no time since treatment in {r.get('months') or r.get('time_point')!r}")
            continue
        when = _date(r.get("date", ""))
        if isinstance(when, str):
            put_aside("bad_date", when)
            continue
        if not r.get("unit"):
            put_aside("missing_field", "unit is empty")
            continue
        batch.points.append(
            VectorPoint(
                r["patient"],
                kind,
                months,
                when,
                r.get("cell_type", ""),
                r.get("sample", ""),
                value,
                r["unit"],
                r.get("method", ""),
            )
        )
    return batch


def read_off_target(path: Path) -> VectorBatch:
    """Columns: patient, assay, site, result (detected | not_detected | inconclusive); optional
    gene, indel_percent, detection_limit_percent, date, months or time_point."""
    batch, rows, _ = _start(path, ["patient", "assay", "site", "result"])
    for line, raw, cells in rows:  # type: ignore[attr-defined]
        batch.rows += 1
        r = {k.lower(): v for k, v in raw.items()}

        def put_aside(reason: str, detail: str, line: int = line, cells: list[str] = cells) -> None:
            batch.quarantined.append(Quarantined(line, reason, detail, ",".join(cells)[:4000]))

        if (problem := pseudonym_problem(r.get("patient", ""))) is not None:
            put_aside("bad_patient", problem)
            continue
        result = r.get("result", "").lower().replace(" ", "_")
        if result not in OFF_TARGET_RESULTS:
            put_aside("bad_result", f"result must be one of {', '.join(OFF_TARGET_RESULTS)}. Got {r.get('result')!r}.")
            continue
        if not r.get("assay") or not r.get("site"):
            put_aside("missing_field", "assay and site must not be empty")
            continue
        percents: list[float | None] = []
        for c in ("indel_percent", "detection_limit_percent"):
            v = _abundance(r.get(c, "")) if r.get(c) else None
            if r.get(c) and (v is None or v > 100):
                put_aside("bad_value", f"{c} must be a percentage in [0, 100]. Got {r.get(c)!r}.")
                break
            percents.append(v)
        else:
            when = _date(r.get("date", ""))
            if isinstance(when, str):
                put_aside("bad_date", when)
                continue
            batch.results.append(
                OffTargetResult(
                    r["patient"],
                    r["assay"],
                    r["site"],
                    r.get("gene", ""),
                    percents[0],
                    percents[1],
                    result,
                    when,
                    _time(r),
                )
            )
    return batch
