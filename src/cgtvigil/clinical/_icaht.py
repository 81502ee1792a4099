"""Immune effector cell-associated haematotoxicity (ICAHT): EHA/EBMT consensus (Rejeski et al.,
Blood 2023), early (day 0 to +30) and late (day +31 on), with the thrombocytopenia extension
(domain.md §2.3).

Operational rules (from the reference implementation cited in domain.md):
- several values on one day: the lowest counts;
- missing days are linearly interpolated across gaps of up to ``max_gap_days`` (7, an
  implementation choice, configurable; 0 switches it off); longer gaps stay unknown;
- recovery is ANC > 500/uL on >= 3 consecutive days; neutropenic runs separated by a
  non-stable recovery (< 3 days above) are joined, the days in between counted as neutropenic;
- the longest run counts; the series is censored at ``censor_day`` (progression, next line of
  therapy, death, last follow-up).

Early ICAHT counts runs that start on days 0-30, but recovery is checked on every value up to
censoring: the series is never cut at day 30, so neutropenia on days 1-28 with recovery from
day 29 is a 28-day run (grade 3), and a run is measured to its end even after day 30.

Days without a value (not measured and not interpolated: before the first value, in a gap
longer than ``max_gap_days``, after the last value) are unknown, never assumed neutropenic or
recovered. The grade is computed twice, with every unknown day taken as recovered (the lowest
possible grade) and as neutropenic (the highest); when the two agree that is the grade,
otherwise the result is not gradable, says "at least grade N" and lists the unknown days. A
sparse series (values on days 2, 12 and 30 only) is therefore "at least grade 1", never a
default grade 4. After ``censor`` there are no days; without ``censor`` follow-up is taken to go
on, so a run still open at the last value has an unknown end.

Choices where the consensus is silent (documented, tested):
- a run that starts on day 0-3 and never recovers before censoring is grade 4;
- a run that starts later and is still open at censoring (death during neutropenia after day
  3) is graded by its observed length, and the result says it was censored;
- late ICAHT: the nadir grade must be reached on >= 2 different days in the window (day +31 to
  ``late_end_day``), i.e. the grade is that of the second-lowest daily value.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from cgtvigil._validation import Problems
from cgtvigil.clinical._checks import check_time
from cgtvigil.clinical._result import GradeResult
from cgtvigil.clinical._units import to_canonical
from cgtvigil.model import LabResult

__all__ = ["ICAHT_VERSION", "ICAHTRules", "daily_minimum", "grade_icaht", "grade_t_icaht"]

ICAHT_VERSION = "EHA-EBMT-ICAHT-2023"
T_ICAHT_VERSION = "T-ICAHT (authors UNCONFIRMED)"


class ICAHTRules(BaseModel):
    model_config = ConfigDict(frozen=True)

    max_gap_days: int = Field(7, ge=0, description="interpolate gaps up to this many days; 0 = never")
    late_end_day: int = Field(100, ge=31, description="last day of the late window (100; 180 or 365 possible)")
    recovery_days: int = Field(3, ge=1)
    version: str = "cgtvigil-icaht-rules-1"


def _days(
    series: Sequence[LabResult], analyte: str, day0: datetime, problems: Problems, now: datetime | None = None
) -> dict[int, float]:
    out: dict[int, float] = {}
    for i, r in enumerate(series):
        where = f"value {i + 1}"
        if r.analyte != analyte:
            problems.add(f"{where}: expected an '{analyte}' result. Got '{r.analyte}'.")
            continue
        if r.time is None:
            problems.add(f"{where}: a time is needed for series grading.")
            continue
        check_time(r.time, problems, where, now=now)
        v = to_canonical(analyte, r.value, r.unit, problems, where)
        if v is None:
            continue
        try:
            day = math.floor((r.time - day0).total_seconds() / 86400.0)
        except TypeError:
            problems.add(f"{where}: its time and the infusion time must both carry a time zone, or neither.")
            continue
        out[day] = min(v, out.get(day, math.inf))
    return out


def daily_minimum(
    series: Sequence[LabResult], analyte: str, day0: datetime, *, max_gap_days: int = 7
) -> dict[int, float]:
    """Lowest value per day relative to ``day0``, with gaps up to ``max_gap_days`` linearly
    interpolated (10^9/L for counts)."""
    problems = Problems()
    days = _days(series, analyte, day0, problems)
    problems.raise_if_any()
    return _interpolate(days, max_gap_days)


def _interpolate(days: dict[int, float], max_gap: int) -> dict[int, float]:
    known = sorted(days)
    out = dict(days)
    for a, b in itertools.pairwise(known):
        if 1 < b - a <= max_gap + 1:
            for d in range(a + 1, b):
                out[d] = days[a] + (days[b] - days[a]) * (d - a) / (b - a)
    return out


def _runs(
    values: dict[int, float], first: int, last: int, threshold: float, recovery: int
) -> list[tuple[int, int, bool]]:
    """Runs (start, end, recovered) of days with value <= threshold, joining runs split by a
    recovery of fewer than ``recovery`` consecutive days above the threshold."""
    runs: list[tuple[int, int, bool]] = []
    start = None
    above = 0
    end = None
    for d in range(first, last + 1):
        v = values.get(d)
        if v is None:
            continue
        if v <= threshold:
            if start is None:
                start = d
            end = d
            above = 0
        elif start is not None:
            above += 1
            if above >= recovery:
                runs.append((start, end if end is not None else start, True))
                start, end, above = None, None, 0
    if start is not None:
        runs.append((start, end if end is not None else start, False))
    return runs


def grade_icaht(
    anc: Sequence[LabResult],
    infusion: datetime,
    *,
    censor: datetime | None = None,
    rules: ICAHTRules | None = None,
    now: datetime | None = None,
) -> tuple[GradeResult, GradeResult]:
    """Early and late ICAHT grades from an ANC series (values in the future are rejected
    when ``now`` is given).

    Examples
    --------
    >>> from datetime import datetime, timedelta
    >>> d0 = datetime(2026, 1, 1)
    >>> series = [LabResult(analyte="anc", value=300 if 2 <= d <= 9 else 2000, unit="cells/uL",
    ...                     time=d0 + timedelta(days=d)) for d in range(0, 40)]
    >>> early, late = grade_icaht(series, d0)
    >>> early.grade, early.inputs["longest_run_le500_days"]
    (2, 8)
    """
    rules = rules or ICAHTRules()
    problems = Problems()
    days = _days(anc, "anc", infusion, problems, now)
    censor_day = None
    if censor is not None:
        try:
            censor_day = math.floor((censor - infusion).total_seconds() / 86400.0)
        except TypeError:
            problems.add("censor and infusion times must both carry a time zone, or neither.")
    problems.raise_if_any()
    if censor_day is not None:
        days = {d: v for d, v in days.items() if d <= censor_day}
    values = _interpolate(days, rules.max_gap_days)
    return _early(values, censor_day, rules), _late(values, censor_day, rules)


def _days_text(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def _grade_from(n500: int, n100: int, never: bool) -> tuple[int, str]:
    if n500 > 30 or n100 >= 14 or never:
        if n500 > 30:
            return 4, f"ANC <=500 for {_days_text(n500)}"
        if n100 >= 14:
            return 4, f"ANC <=100 for {_days_text(n100)}"
        return 4, "ANC <=500 from day <=3 without recovery"
    if n500 >= 14 or n100 >= 7:
        return 3, (f"ANC <=500 for {_days_text(n500)}" if n500 >= 14 else f"ANC <=100 for {_days_text(n100)}")
    if n500 >= 7:
        return 2, f"ANC <=500 for {_days_text(n500)}"
    if n500 >= 1:
        return 1, f"ANC <=500 for {_days_text(n500)}"
    return 0, "ANC never <=500/uL on days 0-30"


def _blocks(days: list[int]) -> str:
    """'3-11, 13-29' for a sorted list of days."""
    out: list[str] = []
    for _, group in itertools.groupby(enumerate(days), key=lambda x: x[1] - x[0]):
        g = [d for _, d in group]
        out.append(f"{g[0]}-{g[-1]}" if len(g) > 1 else f"{g[0]}")
    return ", ".join(out)


def _early(values: dict[int, float], censor_day: int | None, rules: ICAHTRules) -> GradeResult:
    known = {d: v for d, v in values.items() if d >= 0}
    if not any(d <= 30 for d in known):
        return GradeResult(
            scheme="ICAHT early", version=ICAHT_VERSION, grade=None, missing=("ANC values on days 0-30",)
        )
    last = max(known)
    # without censoring, follow-up goes on: leave room for a run to exceed 30 days and recover
    horizon = censor_day if censor_day is not None else max(last, 30) + 31 + rules.recovery_days
    unknown = [d for d in range(0, horizon + 1) if d not in known]

    def bound(fill: float) -> tuple[int, str, int, int, bool]:
        filled = {d: known.get(d, fill) for d in range(0, horizon + 1)}
        r500 = [r for r in _runs(filled, 0, horizon, 0.5, rules.recovery_days) if r[0] <= 30]
        r100 = [r for r in _runs(filled, 0, horizon, 0.1, rules.recovery_days) if r[0] <= 30]
        long500 = max(r500, key=lambda r: r[1] - r[0], default=None)
        n500 = long500[1] - long500[0] + 1 if long500 else 0
        n100 = max((r[1] - r[0] + 1 for r in r100), default=0)
        open_run = long500 is not None and not long500[2]
        never = open_run and long500 is not None and long500[0] <= 3 and censor_day is not None
        grade, why = _grade_from(n500, n100, never)
        return grade, why, n500, n100, open_run

    low, why, n500, n100, open_run = bound(math.inf)  # unknown days recovered: the lowest grade
    high, _, n500_max, n100_max, _ = bound(0.0)  # unknown days neutropenic: the highest grade
    notes: list[str] = []
    inputs = {
        "longest_run_le500_days": n500,
        "longest_run_le100_days": n100,
        "longest_run_le500_days_max": n500_max,
        "longest_run_le100_days_max": n100_max,
        "last_day_observed": last,
        "censor_day": censor_day,
        "unknown_days": _blocks([d for d in unknown if d <= max(last, 30)]),
        "rules": rules.model_dump(),
    }
    if open_run and censor_day is not None:
        notes.append(f"neutropenia still present at censoring (day {censor_day}); duration censored.")
    if low == high:
        return GradeResult(
            scheme="ICAHT early", version=ICAHT_VERSION, grade=low, driver=why, inputs=inputs, notes=tuple(notes)
        )
    missing = []
    inner = [d for d in unknown if d <= min(last, 30)]
    if inner:
        missing.append(
            f"ANC values on days {_blocks(inner)} (not measured; gaps longer than {rules.max_gap_days} days are not "
            "interpolated)"
        )
    if last < 30:
        missing.append(f"ANC values on days {last + 1}-30")
    elif (censor_day is None or censor_day > last) and not all(
        known.get(d, 0.0) > 0.5 for d in range(last - rules.recovery_days + 1, last + 1)
    ):
        missing.append(
            f"ANC values after day {last} (recovery is {rules.recovery_days} consecutive days > 500/uL; "
            "or give the censoring date)"
        )
    notes.append(f"the unknown days allow grades {low} to {high}.")
    return GradeResult(
        scheme="ICAHT early",
        version=ICAHT_VERSION,
        grade=None,
        category=f"at least grade {low}",
        driver=why,
        inputs=inputs,
        missing=tuple(missing),
        notes=tuple(notes),
    )


def _late(values: dict[int, float], censor_day: int | None, rules: ICAHTRules) -> GradeResult:
    end = rules.late_end_day if censor_day is None else min(rules.late_end_day, censor_day)
    window = sorted(v for d, v in values.items() if 31 <= d <= end)
    inputs = {"window": [31, end], "n_days": len(window)}
    if len(window) < 2:
        return GradeResult(
            scheme="ICAHT late",
            version=ICAHT_VERSION,
            grade=None,
            inputs=inputs,
            missing=("at least 2 ANC values after day +30",),
        )
    second = window[1]
    inputs["confirmed_nadir_1e9_per_l"] = second
    grade = 4 if second <= 0.1 else 3 if second <= 0.5 else 2 if second <= 1.0 else 1 if second <= 1.5 else 0
    why = f"nadir ANC {second * 1000:g}/uL confirmed on 2 days" if grade else "ANC >1500/uL on all but at most one day"
    return GradeResult(scheme="ICAHT late", version=ICAHT_VERSION, grade=grade, driver=why, inputs=inputs)


def grade_t_icaht(
    plt: Sequence[LabResult],
    infusion: datetime,
    *,
    censor: datetime | None = None,
    rules: ICAHTRules | None = None,
    now: datetime | None = None,
) -> tuple[GradeResult, GradeResult]:
    """Thrombocytopenia extension (T-ICAHT): early from cumulative days below 50 and 20 x10^9/L
    (days 0-30), late from the confirmed nadir (days 31-100, <20 graded by its duration)."""
    rules = rules or ICAHTRules()
    problems = Problems()
    days = _days(plt, "plt", infusion, problems, now)
    problems.raise_if_any()
    if censor is not None:
        cd = math.floor((censor - infusion).total_seconds() / 86400.0)
        days = {d: v for d, v in days.items() if d <= cd}
    values = _interpolate(days, rules.max_gap_days)
    note = ("T-ICAHT is a later publication whose authors and journal are UNCONFIRMED (domain.md §2.3).",)
    early_days = {d: v for d, v in values.items() if 0 <= d <= 30}
    if not early_days:
        early = GradeResult(
            scheme="T-ICAHT early",
            version=T_ICAHT_VERSION,
            grade=None,
            missing=("platelets on days 0-30",),
            notes=note,
            verified=False,
        )
    else:
        below50 = sum(1 for v in early_days.values() if v < 50)
        below20 = sum(1 for v in early_days.values() if v < 20)
        grade = 4 if below20 >= 14 else 3 if below20 >= 1 else 2 if below50 >= 7 else 1 if below50 >= 1 else 0
        early = GradeResult(
            scheme="T-ICAHT early",
            version=T_ICAHT_VERSION,
            grade=grade,
            driver=f"{below50} days <50 and {below20} days <20 x10^9/L (cumulative)",
            inputs={"days_below_50": below50, "days_below_20": below20},
            notes=note,
            verified=False,
        )
    late_days = {d: v for d, v in values.items() if 31 <= d <= rules.late_end_day}
    ordered = sorted(late_days.values())
    if len(ordered) < 2:
        late = GradeResult(
            scheme="T-ICAHT late",
            version=T_ICAHT_VERSION,
            grade=None,
            missing=("at least 2 platelet values after day +30",),
            notes=note,
            verified=False,
        )
    else:
        nadir = ordered[1]
        below20 = sum(1 for v in late_days.values() if v < 20)
        grade = 4 if below20 >= 14 else 3 if nadir < 20 else 2 if nadir < 50 else 1 if nadir < 100 else 0
        late = GradeResult(
            scheme="T-ICAHT late",
            version=T_ICAHT_VERSION,
            grade=grade,
            driver=f"confirmed nadir {nadir:g} x10^9/L; {below20} days <20",
            inputs={"confirmed_nadir": nadir, "days_below_20": below20},
            notes=note,
            verified=False,
        )
    return early, late
