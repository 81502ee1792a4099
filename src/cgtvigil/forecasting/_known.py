"""Features known at the time, on every patient-day from the first to the last row.

For day t of a patient, every feature uses that patient's rows on days <= t only:

- ``day`` (since infusion) and hinges ``day_after_3``/``_7``/``_14`` (a piecewise-linear time
  effect; ICANS peaks later than CRS);
- per lab (CRP, ferritin, IL-6, procalcitonin, WBC, platelets, ANC, haemoglobin, LDH,
  creatinine) on the log scale: the last value (carried forward), the maximum so far, the 48 h
  and 72 h slopes (log change per day) and the ratio to the baseline, the value on day 0 (before
  infusion by the usual timing of the infusion-day draw; the table holds no earlier days); for
  platelets, ANC and haemoglobin also the lowest so far (the nadir); NaN where not computable;
- temperature: the last and highest so far, and the fever burden (days so far >= 38.0 °C);
- per grade column (the target's grades below the threshold and the other syndrome's): today's
  grade, whether it has started, the highest so far and the days since its first grade >= 1
  (0 if none yet);
- patient: the age and the product's class (``product_class_cd19``, ``product_class_bcma``;
  both 0 for another class), each from the patient's rows up to day t (a value first written
  on a later row is not known before it). The product itself is not a feature: one indicator
  per product cost more than it gave on cohorts of about 100 patients (onset within 5 days,
  realistic simulator seed 3: AUROC 0.834 without, 0.817 with; the class: 0.832);
- treatment so far: tocilizumab and steroids given (0/1) and the days they were given;
- scores from the values known at t: log2 EASIX (LDH U/L x creatinine mg/dL / platelets
  10^9/L, Luft 2017) on the last values and on day 0, and CAR-HEMATOTOX (Rejeski 2021: 0-7
  points from platelets, ANC, haemoglobin, CRP and ferritin) on day 0, the same formulas and
  cut-offs as ``cgtvigil.clinical.easix`` and ``car_hematotox`` (a test checks that they agree;
  ``clinical`` is a sibling layer, so they are written here on arrays).

Missing values stay NaN (the learners impute the training median inside their pipeline) and no
feature says whether a value was measured: a model must not learn who was sampled more often.

A day without a row (a gap in the table) is a day of follow-up with the labs carried forward
and a grade of 0, the convention of a blank grade. Only the table's columns are used.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from cgtvigil._validation import Problems
from cgtvigil.forecasting._daily import (
    FEATURE_SOURCES,
    GRADE_COLUMNS,
    PATIENT_COLUMNS,
    PRODUCT_CLASS,
    TREATMENT_COLUMNS,
    DailyTable,
    FloatArray,
    _groups,
    feature_inputs,
)

__all__ = [
    "CORE_LABS",
    "PatientDays",
    "check_usable",
    "core_features",
    "inputs_of",
    "known_features",
    "patient_days",
    "select_features",
]

FEVER_C = 38.0
_HINGES = (3, 7, 14)
# lower bound before the log (a value of 0 is below the assay's limit)
_LOG_FLOOR = {
    "crp_mg_l": 0.1,
    "ferritin_ng_ml": 1.0,
    "il6_pg_ml": 0.1,
    "pct_ng_ml": 0.01,
    "wbc_1e9_l": 0.01,
    "plt_1e9_l": 1.0,
    "anc_1e9_l": 0.01,
    "hb_g_dl": 1.0,
    "ldh_u_l": 1.0,
    "creatinine_mg_dl": 0.05,
}
_NADIR = ("plt_1e9_l", "anc_1e9_l", "hb_g_dl")
_EASIX = ("ldh_u_l", "creatinine_mg_dl", "plt_1e9_l")
_HEMATOTOX = ("plt_1e9_l", "anc_1e9_l", "hb_g_dl", "crp_mg_l", "ferritin_ng_ml")

TIME_FEATURES = ("day", *(f"day_after_{k}" for k in _HINGES))
# the core set (``core_features``): the inflammatory markers of the issue, latest values only
CORE_LABS = ("crp_mg_l", "ferritin_ng_ml", "il6_pg_ml")


class PatientDays:
    """The day grid: every day from each patient's first to last row, and where its rows are."""

    def __init__(self, table: DailyTable) -> None:
        pid: list[npt.NDArray[np.str_]] = []
        day: list[npt.NDArray[np.int64]] = []
        row: list[npt.NDArray[np.intp]] = []
        self.spans: list[tuple[int, int]] = []  # grid [start, end) per patient
        at = 0
        for s, e in zip(*_groups(table.patient_id), strict=True):
            d0, d1 = int(table.day[s]), int(table.day[e - 1])
            grid = np.arange(d0, d1 + 1, dtype=np.int64)
            r = np.full(len(grid), -1, dtype=np.intp)
            r[table.day[s:e] - d0] = np.arange(s, e)
            pid.append(np.full(len(grid), table.patient_id[s]))
            day.append(grid)
            row.append(r)
            self.spans.append((at, at + len(grid)))
            at += len(grid)
        self.patient_id = np.concatenate(pid) if pid else np.array([], dtype=str)
        self.day = np.concatenate(day) if day else np.array([], dtype=np.int64)
        self.row = np.concatenate(row) if row else np.array([], dtype=np.intp)
        self.grid_of_row = np.empty(len(table), dtype=np.intp)
        self.grid_of_row[self.row[self.row >= 0]] = np.flatnonzero(self.row >= 0)

    def __len__(self) -> int:
        return len(self.day)

    def on_grid(self, values: FloatArray) -> FloatArray:
        """A table column on the grid (NaN on days without a row)."""
        out = np.full(len(self), np.nan)
        has = self.row >= 0
        out[has] = values[self.row[has]]
        return out


def inputs_of(feature_names: Sequence[str]) -> list[str]:
    """The canonical columns behind _known's feature names, in canonical order."""
    labs = [k for k in FEATURE_SOURCES if k != "max_temp_c"]
    cols = {k for k in (*GRADE_COLUMNS.values(), *labs) if any(f.startswith(f"{k}_") for f in feature_names)}
    if any(n.startswith("temp_") or n == "fever_days" for n in feature_names):
        cols.add("max_temp_c")
    if "age" in feature_names:
        cols.add("age")
    if any(n.startswith("product_class_") for n in feature_names):
        cols.add("product")
    cols |= {k for k in TREATMENT_COLUMNS if any(n.startswith(f"{k}_") for n in feature_names)}
    if any(n.startswith("easix") for n in feature_names):
        cols |= set(_EASIX)
    if "car_hematotox_baseline" in feature_names:
        cols |= set(_HEMATOTOX)
    order = ["max_temp_c", *labs, *GRADE_COLUMNS.values(), *PATIENT_COLUMNS, *TREATMENT_COLUMNS]
    return feature_inputs(["day", *sorted(cols, key=order.index)])


def check_usable(model: object, table: DailyTable) -> None:
    """One message when ``model`` (a fitter with ``estimator_`` and ``inputs_`` once fitted) is
    used before ``fit()``, or on a daily table that lacks a column it was fitted with."""
    problems = Problems()
    if not hasattr(model, "estimator_"):
        problems.add(f"This {type(model).__name__} is not fitted yet; call fit() first.")
        problems.raise_if_any()
    # a patient column (age, product) may be unknown: its features are imputed
    lacking = [k for k in getattr(model, "inputs_", ()) if k not in ("day", *PATIENT_COLUMNS) and k not in table.values]
    if lacking:
        problems.add(f"the model uses column(s) {', '.join(lacking)}, which the daily table lacks.")
    problems.raise_if_any()


def core_features(names: Sequence[str]) -> list[str]:
    """The core subset of the known-at-time features ``names``, in their order: the day since
    infusion and its hinges; the last (log) CRP, ferritin and IL-6; the fever burden; for each
    syndrome whether it has started, its highest grade so far and the days since its onset; the
    product class CD19 (the other class is the complement on the simulator's products).

    Why a subset: on a cohort of about 100 patients (40 with ICANS) the 50-odd known features
    cost more in variance than they give (a logistic model fitted on 1,500 simulated patients
    reaches 0.88 on the CI cohort with all of them; fitted inside 5 folds of 120 patients, 0.84).
    The set is the one an L1 path kept on a separate simulated cohort of 1,500 patients (seed 99,
    not the CI cohort) plus the syndromes' status and the class, fixed before the evaluation:
    onset of ICANS within 5 days, 5-fold, 120 patients, AUROC 0.853-0.883 on five seeds (mean
    0.866) against 0.834-0.871 (mean 0.851) with every known feature (benchmarks/README.md).
    """
    wanted = {
        *TIME_FEATURES,
        *(f"{k}_last" for k in CORE_LABS),
        "fever_days",
        *(f"{g}_{s}" for g in GRADE_COLUMNS.values() for s in ("started", "max", "days_since_onset")),
        "product_class_cd19",
    }
    return [n for n in names if n in wanted]


def select_features(x: FloatArray, names: Sequence[str], wanted: Sequence[str]) -> FloatArray:
    """The columns of ``x`` (named ``names``) that a fitted model uses, in its order."""
    index = {n: i for i, n in enumerate(names)}
    return x[:, [index[n] for n in wanted]]


def patient_days(table: DailyTable) -> PatientDays:
    return PatientDays(table)


def time_features(day: FloatArray) -> FloatArray:
    """The columns of TIME_FEATURES for the given days (also for days ahead)."""
    return np.column_stack([day, *(np.maximum(day - k, 0.0) for k in _HINGES)])


def _locf(v: FloatArray) -> FloatArray:
    idx = np.where(~np.isnan(v), np.arange(len(v)), -1)
    np.maximum.accumulate(idx, out=idx)
    out: FloatArray = np.where(idx >= 0, v[np.maximum(idx, 0)], np.nan)
    return out


def _lagged(v: FloatArray, k: int) -> FloatArray:
    out = np.full_like(v, np.nan)
    if k < len(v):
        out[k:] = v[:-k]
    return out


def _first_known(v: FloatArray) -> FloatArray:
    """The first value written so far (NaN before it): a patient attribute known from then on."""
    seen = np.flatnonzero(~np.isnan(v))
    out = np.full_like(v, np.nan)
    if len(seen):
        out[seen[0] :] = v[seen[0]]
    return out


def _baseline(v: FloatArray, d: npt.NDArray[np.int64]) -> FloatArray:
    return np.full_like(v, v[0] if d[0] == 0 else np.nan)


def _hematotox(
    plt: FloatArray, anc: FloatArray, hb: FloatArray, crp_mg_l: FloatArray, ferritin: FloatArray
) -> FloatArray:
    """CAR-HEMATOTOX points (Rejeski 2021; the cut-offs of cgtvigil.clinical.car_hematotox, CRP
    3.0 mg/dL = 30 mg/L); NaN where an input is missing."""
    points = (
        np.where(plt > 175, 0.0, np.where(plt >= 75, 1.0, 2.0))
        + (anc <= 1.2)
        + (hb <= 9.0)
        + (crp_mg_l >= 30.0)
        + np.where(ferritin < 650, 0.0, np.where(ferritin <= 2000, 1.0, 2.0))
    )
    missing = np.isnan(plt) | np.isnan(anc) | np.isnan(hb) | np.isnan(crp_mg_l) | np.isnan(ferritin)
    out: FloatArray = np.where(missing, np.nan, points)
    return out


def known_features(
    table: DailyTable,
    grid: PatientDays,
    inputs: Sequence[str] | None = None,
) -> tuple[FloatArray, list[str]]:
    """(features on the grid, their names) from the canonical columns ``inputs`` (default:
    every column of the table with at least one value)."""
    if inputs is None:
        inputs = [k for k in table.values if not np.isnan(table.values[k]).all()]
        inputs += [k for k in table.text if (table.text[k] != "").any()]
    names = list(TIME_FEATURES)
    cols: list[FloatArray] = list(time_features(grid.day.astype(np.float64)).T)

    def per_patient(v: FloatArray, fn: object) -> FloatArray:
        out = np.empty_like(v)
        for s, e in grid.spans:
            out[s:e] = fn(v[s:e], grid.day[s:e])  # type: ignore[operator]
        return out

    last: dict[str, FloatArray] = {}  # lab -> last value (linear scale)
    base: dict[str, FloatArray] = {}  # lab -> day-0 value (linear scale)
    for key in FEATURE_SOURCES:
        if key not in inputs or key not in table.values:
            continue
        raw = grid.on_grid(table.values[key])
        if key == "max_temp_c":
            filled = per_patient(raw, lambda v, d: _locf(v))
            names += ["temp_last", "temp_max", "fever_days"]
            cols += [
                filled,
                per_patient(filled, lambda v, d: np.fmax.accumulate(v)),
                per_patient(raw, lambda v, d: np.cumsum(np.nan_to_num(v, nan=0.0) >= FEVER_C).astype(float)),
            ]
            continue
        logv = np.log(np.maximum(raw, _LOG_FLOOR[key]))
        filled = per_patient(logv, lambda v, d: _locf(v))
        at0 = per_patient(logv, _baseline)
        last[key], base[key] = np.exp(filled), np.exp(at0)
        names += [f"{key}_last", f"{key}_max", f"{key}_slope_48h", f"{key}_slope_72h", f"{key}_baseline_ratio"]
        cols += [
            filled,
            per_patient(filled, lambda v, d: np.fmax.accumulate(v)),
            per_patient(filled, lambda v, d: (v - _lagged(v, 2)) / 2.0),
            per_patient(filled, lambda v, d: (v - _lagged(v, 3)) / 3.0),
            filled - at0,
        ]
        if key in _NADIR:
            names.append(f"{key}_min")
            cols.append(per_patient(filled, lambda v, d: np.fmin.accumulate(v)))
    if all(k in last for k in _EASIX):
        names += ["easix_log2", "easix_baseline_log2"]
        cols += [
            np.log2(last["ldh_u_l"] * last["creatinine_mg_dl"] / last["plt_1e9_l"]),
            np.log2(base["ldh_u_l"] * base["creatinine_mg_dl"] / base["plt_1e9_l"]),
        ]
    if all(k in base for k in _HEMATOTOX):
        names.append("car_hematotox_baseline")
        cols.append(_hematotox(*(base[k] for k in _HEMATOTOX)))
    for key in GRADE_COLUMNS.values():
        if key not in inputs or key not in table.values:
            continue
        g = np.nan_to_num(grid.on_grid(table.values[key]), nan=0.0)

        def since(v: FloatArray, d: npt.NDArray[np.int64]) -> FloatArray:
            started = np.flatnonzero(v >= 1)
            return np.where(d >= d[started[0]], d - d[started[0]] + 1, 0).astype(float) if len(started) else 0 * v

        top = per_patient(g, lambda v, d: np.fmax.accumulate(v))
        names += [f"{key}_today", f"{key}_started", f"{key}_max", f"{key}_days_since_onset"]
        cols += [g, (top >= 1).astype(float), top, per_patient(g, since)]
    if "age" in inputs:
        names.append("age")
        raw = grid.on_grid(table.values["age"]) if "age" in table.values else np.full(len(grid), np.nan)
        cols.append(per_patient(raw, lambda v, d: _first_known(v)))
    if "product" in inputs:
        text = table.text.get("product")
        on_grid = np.full(len(grid), "", dtype=object)
        if text is not None:
            has = grid.row >= 0
            on_grid[has] = text[grid.row[has]]
        seen = np.full(len(grid), "", dtype=object)  # the first product written so far
        for s, e in grid.spans:
            written = np.flatnonzero(on_grid[s:e] != "")
            if len(written):
                seen[s + written[0] : e] = on_grid[s + written[0]]
        known = seen != ""
        lower = np.array([str(p).lower() for p in seen], dtype=object)
        klass = np.array([PRODUCT_CLASS.get(p, "other") for p in lower], dtype=object)
        names += ["product_class_cd19", "product_class_bcma"]
        for c in (klass == "CD19", klass == "BCMA"):
            cols.append(np.where(known, c.astype(float), np.nan))
    for key in TREATMENT_COLUMNS:
        if key not in inputs or key not in table.values:
            continue
        given = (np.nan_to_num(grid.on_grid(table.values[key]), nan=0.0) >= 1).astype(float)
        days = per_patient(given, lambda v, d: np.cumsum(v))
        names += [f"{key}_given", f"{key}_days"]
        cols += [(days > 0).astype(float), days]
    x = np.column_stack(cols) if len(grid) else np.empty((0, len(names)))
    return x, names
