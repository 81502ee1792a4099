"""Forecasting severe CRS/ICANS from the daily patient table (L1: computation only)."""

from cgtvigil.forecasting._compare import FAMILIES, compare_families
from cgtvigil.forecasting._course import CourseForecast, CourseForecaster
from cgtvigil.forecasting._daily import (
    CANONICAL_COLUMNS,
    FEATURE_SOURCES,
    GRADE_COLUMNS,
    MAX_DAY,
    MAX_ID,
    PATIENT_COLUMNS,
    PRODUCT_CLASS,
    REQUIRED_COLUMNS,
    TEXT_COLUMNS,
    TREATMENT_COLUMNS,
    DailyTable,
    build_features,
    feature_inputs,
    onset_labels,
    where_rows,
)
from cgtvigil.forecasting._evaluate import evaluate_forecaster, evaluate_hazard
from cgtvigil.forecasting._hazard import HazardForecaster, risk_set
from cgtvigil.forecasting._model import ToxicityForecaster
from cgtvigil.forecasting._outlook import INPUT_LABELS, Contribution, OutlookCurve, bootstrap_refits, risk_outlook

__all__ = [
    "CANONICAL_COLUMNS",
    "FAMILIES",
    "FEATURE_SOURCES",
    "GRADE_COLUMNS",
    "INPUT_LABELS",
    "MAX_DAY",
    "MAX_ID",
    "PATIENT_COLUMNS",
    "PRODUCT_CLASS",
    "REQUIRED_COLUMNS",
    "TEXT_COLUMNS",
    "TREATMENT_COLUMNS",
    "Contribution",
    "CourseForecast",
    "CourseForecaster",
    "DailyTable",
    "HazardForecaster",
    "OutlookCurve",
    "ToxicityForecaster",
    "bootstrap_refits",
    "build_features",
    "compare_families",
    "evaluate_forecaster",
    "evaluate_hazard",
    "feature_inputs",
    "onset_labels",
    "risk_outlook",
    "risk_set",
    "where_rows",
]
