"""The analytic engine (L2): counting written once against an interface."""

from cgtvigil.engine._base import PAIR_COUNT_COLUMNS, ROW_COUNT_KEYS, CountingEngine
from cgtvigil.engine._duckdb import DuckDBEngine
from cgtvigil.engine._spark import SparkEngine, spark_missing, spark_session

__all__ = [
    "PAIR_COUNT_COLUMNS",
    "ROW_COUNT_KEYS",
    "CountingEngine",
    "DuckDBEngine",
    "SparkEngine",
    "spark_missing",
    "spark_session",
]
