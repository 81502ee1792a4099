"""Unit normalisation and plausibility limits for clinical values (domain.md §9).

Every analyte has one canonical unit; accepted units convert to it by the factors below
(a division where the factor is a divisor, so that 1500 cells/uL is exactly 1.5 x10^9/L).
Hard plausibility limits reject impossible values (a temperature of 60 °C, a negative
count); extreme but possible values (41 °C) pass.

Criteria are graded in the unit they are written in: :func:`in_criterion_unit` keeps a value
that is already in one of a criterion's units as it is, and converts only a value in another
unit (rounded to 12 significant digits, which removes floating-point noise and nothing a
laboratory reports; CTCAE's own columns, e.g. haemoglobin 6.2 and 4.9 mmol/L, are the
source's rounding and are used as written).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from cgtvigil._validation import Problems
from cgtvigil.model import LabResult

__all__ = [
    "ANALYTES",
    "Analyte",
    "canonical_unit",
    "convert",
    "in_criterion_unit",
    "lab_values",
    "same_unit",
    "signif",
    "to_canonical",
]


@dataclass(frozen=True)
class Analyte:
    name: str
    canonical: str
    # unit spelling -> (to canonical, from canonical)
    units: dict[str, tuple[Callable[[float], float], Callable[[float], float]]]
    low: float  # hard plausibility limits, canonical unit
    high: float


def _scale(k: float) -> tuple[Callable[[float], float], Callable[[float], float]]:
    return (lambda v: v * k, lambda v: v / k)


def _per(d: float) -> tuple[Callable[[float], float], Callable[[float], float]]:
    """1 canonical unit = ``d`` of this unit (a division, exact for 1500 / 1000)."""
    return (lambda v: v / d, lambda v: v * d)


_SAME = _scale(1.0)
# Cell counts: canonical 10^9/L; 1 x10^9/L = 1,000 cells/uL (= /mm3).
_COUNT_UNITS = {
    **dict.fromkeys(
        ["10^9/L", "x10^9/L", "×10⁹/L", "10*9/L", "G/L", "10^3/uL", "x10^3/uL", "10^3/µL", "K/uL", "10*3/uL"], _SAME
    ),
    **dict.fromkeys(
        ["/uL", "/µL", "cells/uL", "cells/µL", "/mm3", "/mm³", "cells/mm3", "cells/mm³", "{cells}/uL"], _per(1000.0)
    ),
}
_TEMPERATURE = {
    **dict.fromkeys(["Cel", "C", "°C", "degC"], _SAME),
    **dict.fromkeys(["[degF]", "F", "°F", "degF"], (lambda f: (f - 32.0) / 1.8, lambda c: c * 1.8 + 32.0)),
    "K": (lambda k: k - 273.15, lambda c: c + 273.15),
}

ANALYTES: dict[str, Analyte] = {
    a.name: a
    for a in (
        Analyte("anc", "10^9/L", _COUNT_UNITS, 0.0, 200.0),
        Analyte("wbc", "10^9/L", _COUNT_UNITS, 0.0, 1000.0),
        Analyte("lymphocytes", "10^9/L", _COUNT_UNITS, 0.0, 1000.0),
        Analyte("plt", "10^9/L", _COUNT_UNITS, 0.0, 5000.0),
        Analyte(
            "hb",
            "g/dL",
            {"g/dL": _SAME, "g/L": _per(10.0), "mmol/L": _scale(1 / 0.6206)},
            0.0,
            30.0,
        ),
        Analyte("crp", "mg/dL", {"mg/dL": _SAME, "mg/L": _per(10.0)}, 0.0, 150.0),
        Analyte("ferritin", "ng/mL", {"ng/mL": _SAME, "ug/L": _SAME, "µg/L": _SAME}, 0.0, 2_000_000.0),
        Analyte("creatinine", "mg/dL", {"mg/dL": _SAME, "umol/L": _per(88.42), "µmol/L": _per(88.42)}, 0.0, 40.0),
        Analyte("bilirubin", "mg/dL", {"mg/dL": _SAME, "umol/L": _per(17.1), "µmol/L": _per(17.1)}, 0.0, 100.0),
        Analyte("triglycerides", "mg/dL", {"mg/dL": _SAME, "mmol/L": _scale(88.57)}, 0.0, 30000.0),
        Analyte("fibrinogen", "mg/dL", {"mg/dL": _SAME, "g/L": _scale(100.0)}, 0.0, 2000.0),
        Analyte(
            "ldh", "U/L", {"U/L": _SAME, "IU/L": _SAME, "ukat/L": _scale(60.0), "µkat/L": _scale(60.0)}, 0.0, 200_000.0
        ),
        Analyte(
            "alt", "U/L", {"U/L": _SAME, "IU/L": _SAME, "ukat/L": _scale(60.0), "µkat/L": _scale(60.0)}, 0.0, 100_000.0
        ),
        Analyte(
            "ast", "U/L", {"U/L": _SAME, "IU/L": _SAME, "ukat/L": _scale(60.0), "µkat/L": _scale(60.0)}, 0.0, 100_000.0
        ),
        Analyte("scd25", "U/mL", {"U/mL": _SAME}, 0.0, 1_000_000.0),
        Analyte("il6", "pg/mL", {"pg/mL": _SAME, "ng/L": _SAME}, 0.0, 1_000_000.0),
        Analyte("pct", "ng/mL", {"ng/mL": _SAME, "ug/L": _SAME, "µg/L": _SAME}, 0.0, 10_000.0),
        Analyte("temperature", "Cel", _TEMPERATURE, 25.0, 45.0),
        Analyte("sbp", "mm[Hg]", {"mm[Hg]": _SAME, "mmHg": _SAME}, 0.0, 300.0),
        Analyte("dbp", "mm[Hg]", {"mm[Hg]": _SAME, "mmHg": _SAME}, 0.0, 250.0),
        Analyte(
            "heart_rate", "/min", {"/min": _SAME, "beats/min": _SAME, "bpm": _SAME, "{beats}/min": _SAME}, 0.0, 350.0
        ),
        Analyte("spo2", "%", {"%": _SAME}, 0.0, 100.0),
    )
}


def canonical_unit(analyte: str) -> str:
    return ANALYTES[analyte].canonical


def to_canonical(analyte: str, value: float, unit: str, problems: Problems, where: str = "") -> float | None:
    """Convert to the canonical unit, recording an unknown analyte or unit, a non-finite
    value or a value outside the hard plausibility limits in ``problems``."""
    prefix = f"{where}: " if where else ""
    spec = ANALYTES.get(analyte)
    if spec is None:
        problems.add(f"{prefix}unknown analyte '{analyte}'; expected one of {', '.join(sorted(ANALYTES))}.")
        return None
    conv = spec.units.get(unit.strip())
    if conv is None:
        problems.add(f"{prefix}unknown unit '{unit}' for {analyte}; expected one of {', '.join(spec.units)}.")
        return None
    if value != value or value in (float("inf"), float("-inf")):
        problems.add(f"{prefix}{analyte} must be a finite number. Got {value!r}.")
        return None
    out = conv[0](value)
    if not spec.low <= out <= spec.high:
        problems.add(
            f"{prefix}{analyte} {value:g} {unit} is outside the plausible range "
            f"{spec.low:g}-{spec.high:g} {spec.canonical}."
        )
        return None
    return out


def convert(analyte: str, value: float, from_unit: str, to_unit: str) -> float:
    """Convert between two accepted units of one analyte.

    Examples
    --------
    >>> convert("anc", 1500, "cells/uL", "10^9/L")
    1.5
    >>> round(convert("hb", 10.0, "g/dL", "mmol/L"), 3)
    6.206
    """
    spec = ANALYTES[analyte]
    problems = Problems()
    for u in (from_unit, to_unit):
        if u not in spec.units:
            problems.add(f"unknown unit '{u}' for {analyte}; expected one of {', '.join(spec.units)}.")
    problems.raise_if_any()
    return spec.units[to_unit][1](spec.units[from_unit][0](value))


def lab_values(
    labs: Mapping[str, LabResult], problems: Problems, needed: tuple[str, ...] | None = None
) -> tuple[dict[str, float], list[str]]:
    """Canonical values of named lab results (each key must match its result's analyte) and
    the names in ``needed`` that are absent."""
    values: dict[str, float] = {}
    for name, r in labs.items():
        if r.analyte != name:
            problems.add(f"'{name}' must be a {name} result. Got '{r.analyte}'.")
            continue
        v = to_canonical(name, r.value, r.unit, problems, name)
        if v is not None:
            values[name] = v
    missing = [k for k in (needed or ()) if k not in labs]
    return values, missing


def signif(value: float, digits: int = 12) -> float:
    """``value`` rounded to ``digits`` significant digits (as admiral's ``signif`` before a
    comparison with a cut-off)."""
    if value == 0 or value != value or value in (float("inf"), float("-inf")):
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def same_unit(analyte: str, a: str, b: str) -> bool:
    """Whether two accepted spellings name one unit of ``analyte`` ("/mm3" and "cells/uL")."""
    units = ANALYTES[analyte].units
    ca, cb = units.get(a.strip()), units.get(b.strip())
    if ca is None or cb is None:
        return False
    return all(math.isclose(ca[0](x), cb[0](x), rel_tol=1e-12) for x in (1.0, 7.0))


def in_criterion_unit(analyte: str, value: float, unit: str, criterion_units: Sequence[str]) -> tuple[float, str]:
    """``value`` in the unit a criterion is written in: unchanged when ``unit`` is one of
    ``criterion_units``, else converted to the first of them and rounded to 12 significant
    digits. ``unit`` must be an accepted unit (check with :func:`to_canonical` first).

    Examples
    --------
    >>> in_criterion_unit("hb", 4.9, "mmol/L", ("g/dL", "g/L", "mmol/L"))
    (4.9, 'mmol/L')
    >>> in_criterion_unit("triglycerides", 354.28, "mg/dL", ("mmol/L",))
    (4.0, 'mmol/L')
    """
    for target in criterion_units:
        if same_unit(analyte, unit, target):
            return value, target
    target = criterion_units[0]
    return signif(convert(analyte, value, unit.strip(), target)), target
