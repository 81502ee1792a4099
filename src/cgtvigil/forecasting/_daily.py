"""The daily patient table, labels without leakage, and features from data up to day t.

Input: one row per patient and day relative to infusion (day 0), with the canonical columns
below (file column names are mapped to them by the caller). Only ``patient_id``, ``day`` and
the target's grade column are needed; the other grade and every lab or vital sign are optional
and used when present. A blank value is "not measured that day" (the last value is carried
forward); a blank grade counts as no toxicity that day. Optional patient columns: ``age``
(years at infusion) and ``product`` (text, e.g. Yescarta; its class, CD19 or BCMA CAR-T, is
looked up in ``PRODUCT_CLASS``); optional treatment columns ``tocilizumab`` and ``steroids``
(1: given that day, 0 or blank: not given).

Labels for target T (crs or icans), minimum grade g and horizon H: at day t, 1 if the first day
with T grade >= g lies in (t, t + H], else 0. Patient-days at or after that onset are not
scored; days whose horizon runs past the patient's last observed day without an onset are left
out (unknown outcome).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from cgtvigil._validation import Problems

__all__ = [
    "CANONICAL_COLUMNS",
    "FEATURE_SOURCES",
    "GRADE_COLUMNS",
    "MAX_DAY",
    "MAX_ID",
    "PATIENT_COLUMNS",
    "PRODUCT_CLASS",
    "REQUIRED_COLUMNS",
    "TEXT_COLUMNS",
    "TREATMENT_COLUMNS",
    "DailyTable",
    "build_features",
    "feature_inputs",
    "onset_labels",
    "where_rows",
]

REQUIRED_COLUMNS = ("patient_id", "day")  # and the target's grade column
GRADE_COLUMNS = {"crs": "crs_grade", "icans": "icans_grade"}
# canonical feature column -> canonical unit (see clinical units; CRP in mg/L here)
FEATURE_SOURCES = {
    "max_temp_c": "Cel",
    "crp_mg_l": "mg/L",
    "ferritin_ng_ml": "ng/mL",
    "il6_pg_ml": "pg/mL",
    "pct_ng_ml": "ng/mL",
    "wbc_1e9_l": "10^9/L",
    "plt_1e9_l": "10^9/L",
    "anc_1e9_l": "10^9/L",
    "hb_g_dl": "g/dL",
    "ldh_u_l": "U/L",
    "creatinine_mg_dl": "mg/dL",
}
PATIENT_COLUMNS = ("age", "product")  # known at infusion
TREATMENT_COLUMNS = ("tocilizumab", "steroids")  # 1 = given that day
TEXT_COLUMNS = ("product",)
CANONICAL_COLUMNS = (*REQUIRED_COLUMNS, *GRADE_COLUMNS.values(), *FEATURE_SOURCES, *PATIENT_COLUMNS, *TREATMENT_COLUMNS)
MAX_AGE = 120
# product (brand or INN, lower case) -> class; a product not listed is of class "other"
PRODUCT_CLASS = {
    **dict.fromkeys(
        (
            "yescarta", "axicabtagene ciloleucel", "axi-cel", "kymriah", "tisagenlecleucel", "tisa-cel",
            "breyanzi", "lisocabtagene maraleucel", "liso-cel", "tecartus", "brexucabtagene autoleucel",
            "brexu-cel", "aucatzyl", "obecabtagene autoleucel", "obe-cel",
        ),
        "CD19",
    ),
    **dict.fromkeys(
        ("abecma", "idecabtagene vicleucel", "ide-cel", "carvykti", "ciltacabtagene autoleucel", "cilta-cel"),
        "BCMA",
    ),
}  # fmt: skip
MAX_DAY = 10_000  # days after infusion; beyond is not a day of follow-up
MAX_ID = 200  # characters of a (pseudonymous) patient id
_SHOWN = 5  # rows and values named per problem

FloatArray = npt.NDArray[np.float64]


def where_rows(index: npt.NDArray[np.intp], row_label: str = "row", first_row: int = 1) -> str:
    """'rows 3, 7, 9 (and 12 more)' for 0-based row indices."""
    shown = ", ".join(f"{int(i) + first_row:,}" for i in index[:_SHOWN])
    more = f" (and {len(index) - _SHOWN:,} more)" if len(index) > _SHOWN else ""
    return f"{row_label}{'s' if len(index) > 1 else ''} {shown}{more}"


def _got(values: Sequence[Any]) -> str:
    shown = list(dict.fromkeys(values))[:_SHOWN]
    return ", ".join(f"{v:g}" if isinstance(v, float) else repr(v)[:40] for v in shown)


def _floats(name: str, raw: npt.ArrayLike, n: int, problems: Problems) -> FloatArray | None:
    try:
        v = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        problems.add(f"column '{name}' must hold numbers.")
        return None
    if v.shape != (n,):
        problems.add(f"column '{name}' has {v.size:,} values; 'patient_id' has {n:,}.")
        return None
    return v


@dataclass(frozen=True)
class DailyTable:
    """Columns as NumPy arrays, rows sorted by patient then day; ``values`` holds every other
    canonical column present (grades, labs, vital signs; NaN = not measured)."""

    patient_id: npt.NDArray[np.str_]
    day: npt.NDArray[np.int64]
    values: dict[str, FloatArray]
    text: dict[str, npt.NDArray[np.str_]] = field(default_factory=dict)  # product ('' = blank)

    @classmethod
    def from_columns(
        cls, columns: Mapping[str, npt.ArrayLike], *, where: str = "", row_label: str = "row", first_row: int = 1
    ) -> DailyTable:
        """Check and sort a table given as canonical column -> values.

        Every problem is reported at once (a ``ValidationError``), each naming its column and
        rows (``row_label`` and the number of the first row, e.g. ``"line"`` and 2 for a CSV
        file with a header): unknown or missing columns, blank patient ids, days that are not
        whole numbers from 0 to ``MAX_DAY``, grades that are not whole numbers 0-4, infinite
        values, and a patient with two rows for one day.
        """
        prefix = f"{where}: " if where else ""
        problems = Problems()
        unknown = [k for k in columns if k not in CANONICAL_COLUMNS]
        if unknown:
            problems.add(
                f"{prefix}unknown column(s) {', '.join(repr(k)[:60] for k in unknown[:20])}; "
                f"the canonical columns are {', '.join(CANONICAL_COLUMNS)}."
            )
        lacking = [k for k in REQUIRED_COLUMNS if k not in columns]
        if lacking:
            problems.add(f"{prefix}the daily table needs column(s) {', '.join(lacking)}.")
            problems.raise_if_any()
        raw_pid = np.asarray(columns["patient_id"], dtype=object).ravel()
        n = len(raw_pid)

        def rows(mask: npt.NDArray[np.bool_]) -> str:
            return where_rows(np.flatnonzero(mask), row_label, first_row)

        ids = ["" if p is None or p != p else str(p).strip() for p in raw_pid]
        blank = np.array([not p for p in ids], dtype=bool)
        if blank.any():
            problems.add(f"{prefix}column 'patient_id' must not be blank: {rows(blank)}.")
        long = np.array([len(p) > MAX_ID for p in ids], dtype=bool)
        if long.any():
            problems.add(f"{prefix}column 'patient_id' must hold ids of at most {MAX_ID} characters: {rows(long)}.")
        day = _floats("day", columns["day"], n, problems)
        if day is not None:
            bad = ~(np.isfinite(day) & (day == np.round(day)) & (day >= 0) & (day <= MAX_DAY))
            if bad.any():
                problems.add(
                    f"{prefix}column 'day' must hold whole days from 0 (infusion) to {MAX_DAY:,}: "
                    f"{rows(bad)}. Got {_got(day[bad].tolist())}."
                )
        values: dict[str, FloatArray] = {}
        text: dict[str, npt.NDArray[np.str_]] = {}
        for key in CANONICAL_COLUMNS[len(REQUIRED_COLUMNS) :]:
            if key not in columns:
                continue
            if key in TEXT_COLUMNS:
                raw = np.asarray(columns[key], dtype=object).ravel()
                if raw.shape != (n,):
                    problems.add(f"{prefix}column '{key}' has {raw.size:,} values; 'patient_id' has {n:,}.")
                    continue
                cells = ["" if c is None or c != c else str(c).strip() for c in raw]
                text[key] = np.array(cells, dtype=str) if n else np.array([], dtype=str)
                continue
            v = _floats(key, columns[key], n, problems)
            if v is None:
                continue
            if key in GRADE_COLUMNS.values():
                bad = ~np.isnan(v) & ~(np.isin(v, (0.0, 1.0, 2.0, 3.0, 4.0)))
                rule = "whole grades 0-4 (blank: not assessed)"
            elif key in TREATMENT_COLUMNS:
                bad = ~np.isnan(v) & ~np.isin(v, (0.0, 1.0))
                rule = "1 (given that day) or 0 (blank: not given)"
            elif key == "age":
                bad = ~np.isnan(v) & ~((v >= 0) & (v <= MAX_AGE))
                rule = f"ages in years from 0 to {MAX_AGE} (blank: not known)"
            else:
                bad = np.isinf(v)
                rule = "finite numbers (blank: not measured)"
            if bad.any():
                problems.add(f"{prefix}column '{key}' must hold {rule}: {rows(bad)}. Got {_got(v[bad].tolist())}.")
            values[key] = v
        if day is not None:
            seen: set[tuple[str, float]] = set()
            repeat = np.zeros(n, dtype=bool)
            for i, pair in enumerate(zip(ids, day.tolist(), strict=True)):
                repeat[i] = pair in seen
                seen.add(pair)
            if repeat.any():
                i = int(np.flatnonzero(repeat)[0])
                problems.add(
                    f"{prefix}one row per patient and day: a (patient_id, day) already on an earlier "
                    f"{row_label} comes again on {rows(repeat)} (e.g. patient {ids[i][:40]!r} day {day[i]:g})."
                )
        problems.raise_if_any()
        assert day is not None
        pid = np.array(ids, dtype=str) if n else np.array([], dtype=str)
        order = np.lexsort((day, pid))
        return cls(
            pid[order],
            day[order].astype(np.int64),
            {k: v[order] for k, v in values.items()},
            {k: v[order] for k, v in text.items()},
        )

    @property
    def columns(self) -> tuple[str, ...]:
        """The canonical columns present, in canonical order."""
        return (*REQUIRED_COLUMNS, *(k for k in CANONICAL_COLUMNS if k in self.values or k in self.text))

    def __len__(self) -> int:
        return len(self.day)


def _groups(pid: npt.NDArray[np.str_]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    starts = np.flatnonzero(np.r_[True, pid[1:] != pid[:-1]]) if len(pid) else np.array([], dtype=np.intp)
    ends = np.r_[starts[1:], len(pid)].astype(np.intp) if len(pid) else np.array([], dtype=np.intp)
    return starts, ends


def onset_labels(t: DailyTable, target: str, min_grade: int, horizon: int) -> tuple[npt.NDArray[np.bool_], FloatArray]:
    """(scored mask, label) per row; the table must hold the target's grade column."""
    grade = t.values[GRADE_COLUMNS[target]]
    scored = np.zeros(len(t), dtype=bool)
    label = np.zeros(len(t))
    for s, e in zip(*_groups(t.patient_id), strict=True):
        days, g = t.day[s:e], grade[s:e]
        hit = np.flatnonzero(np.nan_to_num(g, nan=-1) >= min_grade)
        onset = days[hit[0]] if len(hit) else None
        last = days.max()
        for k in range(e - s):
            d = days[k]
            if onset is not None and d >= onset:
                continue  # at or after onset: not scored (no leakage)
            if onset is not None and d < onset <= d + horizon:
                scored[s + k], label[s + k] = True, 1.0
            elif d + horizon <= last:
                scored[s + k] = True
    return scored, label


def build_features(t: DailyTable, inputs: Sequence[str] | None = None) -> tuple[FloatArray, list[str]]:
    """Features at each row from that patient's rows up to and including its day: the day,
    each value (last observation carried forward), its change since the previous day and its
    maximum so far, and the current and maximum-so-far CRS and ICANS grades.

    ``inputs`` names the canonical columns to use (a fitted model's); by default every column
    of the table with at least one value. A named input the table lacks is an error.
    """
    if inputs is None:
        inputs = [k for k in t.values if not np.isnan(t.values[k]).all()]
    else:
        lacking = [k for k in inputs if k != "day" and k not in t.values]
        if lacking:
            problems = Problems()
            problems.add(
                f"the model uses column(s) {', '.join(lacking)}, which the daily table lacks "
                f"(it has {', '.join(t.columns)})."
            )
            problems.raise_if_any()
    names = ["day"]
    cols: list[FloatArray] = [t.day.astype(np.float64)]
    starts, ends = _groups(t.patient_id)
    for key in FEATURE_SOURCES:
        if key not in inputs:
            continue
        v = t.values[key]
        filled = np.empty_like(v)
        delta = np.full_like(v, np.nan)
        running = np.empty_like(v)
        for s, e in zip(starts, ends, strict=True):
            seg = v[s:e].copy()
            for k in range(1, len(seg)):  # carry the last observation forward
                if np.isnan(seg[k]):
                    seg[k] = seg[k - 1]
            filled[s:e] = seg
            delta[s + 1 : e] = np.diff(seg)
            running[s:e] = np.fmax.accumulate(seg)
        names += [key, f"{key}_change", f"{key}_max"]
        cols += [filled, delta, running]
    for key in GRADE_COLUMNS.values():
        if key not in inputs:
            continue
        grade = np.nan_to_num(t.values[key], nan=0.0)
        running = np.empty_like(grade)
        for s, e in zip(starts, ends, strict=True):
            running[s:e] = np.fmax.accumulate(grade[s:e])
        names += [key, f"{key}_max"]
        cols += [grade, running]
    return np.column_stack(cols), names


def feature_inputs(names: Sequence[str]) -> list[str]:
    """The canonical columns behind feature names (``crp_mg_l_max`` -> ``crp_mg_l``)."""
    return [n for n in names if n in CANONICAL_COLUMNS]
