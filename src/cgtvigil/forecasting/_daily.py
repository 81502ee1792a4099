"""The daily patient table, labels without leakage, and features from data up to day t.

Input: one row per patient and day relative to infusion, with the canonical columns below
(CSV column names are mapped to them by the caller). Labels for target T (crs or icans),
minimum grade g and horizon H: at day t, 1 if the first day with T grade >= g lies in
(t, t + H], else 0. Patient-days at or after that onset are not scored; days whose horizon
runs past the patient's last observed day without an onset are left out (unknown outcome).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["FEATURE_SOURCES", "REQUIRED_COLUMNS", "DailyTable", "build_features", "onset_labels"]

REQUIRED_COLUMNS = ("patient_id", "day", "crs_grade", "icans_grade")
# canonical feature column -> canonical unit (see clinical units; CRP in mg/L here)
FEATURE_SOURCES = {
    "max_temp_c": "Cel",
    "crp_mg_l": "mg/L",
    "ferritin_ng_ml": "ng/mL",
    "il6_pg_ml": "pg/mL",
    "pct_ng_ml": "ng/mL",
    "wbc_1e9_l": "10^9/L",
}

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class DailyTable:
    """Columns as NumPy arrays, rows sorted by patient then day."""

    patient_id: npt.NDArray[np.str_]
    day: npt.NDArray[np.int64]
    crs_grade: FloatArray
    icans_grade: FloatArray
    values: dict[str, FloatArray]

    @classmethod
    def from_columns(cls, columns: dict[str, npt.ArrayLike]) -> DailyTable:
        pid = np.asarray(columns["patient_id"]).astype(str)
        day = np.asarray(columns["day"], dtype=np.int64)
        order = np.lexsort((day, pid))
        vals = {k: np.asarray(columns[k], dtype=np.float64)[order] for k in FEATURE_SOURCES if k in columns}
        return cls(
            pid[order],
            day[order],
            np.asarray(columns["crs_grade"], dtype=np.float64)[order],
            np.asarray(columns["icans_grade"], dtype=np.float64)[order],
            vals,
        )

    def __len__(self) -> int:
        return len(self.day)


def _groups(pid: npt.NDArray[np.str_]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    starts = np.flatnonzero(np.r_[True, pid[1:] != pid[:-1]])
    ends = np.r_[starts[1:], len(pid)]
    return starts, ends


def onset_labels(t: DailyTable, target: str, min_grade: int, horizon: int) -> tuple[npt.NDArray[np.bool_], FloatArray]:
    """(scored mask, label) per row."""
    grade = t.crs_grade if target == "crs" else t.icans_grade
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


def build_features(t: DailyTable) -> tuple[FloatArray, list[str]]:
    """Features at each row from that patient's rows up to and including its day: the day,
    each value (last observation carried forward), its change since the previous day, its
    maximum so far, and the current and maximum-so-far CRS and ICANS grades."""
    names = ["day"]
    cols: list[FloatArray] = [t.day.astype(np.float64)]
    starts, ends = _groups(t.patient_id)
    for key in FEATURE_SOURCES:
        if key not in t.values:
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
    for key, grade in (("crs_grade", t.crs_grade), ("icans_grade", t.icans_grade)):
        running = np.empty_like(grade)
        for s, e in zip(starts, ends, strict=True):
            running[s:e] = np.fmax.accumulate(np.nan_to_num(grade[s:e], nan=0.0))
        names += [key, f"{key}_max"]
        cols += [np.nan_to_num(grade, nan=0.0), running]
    return np.column_stack(cols), names
