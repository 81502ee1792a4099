"""Forecasting severe CRS/ICANS from the daily patient table (L1: computation only)."""

from cgtvigil.forecasting._daily import FEATURE_SOURCES, REQUIRED_COLUMNS, DailyTable, build_features, onset_labels
from cgtvigil.forecasting._evaluate import evaluate_forecaster
from cgtvigil.forecasting._model import ToxicityForecaster

__all__ = [
    "FEATURE_SOURCES",
    "REQUIRED_COLUMNS",
    "DailyTable",
    "ToxicityForecaster",
    "build_features",
    "evaluate_forecaster",
    "onset_labels",
]
