"""Persistence (L2): the DuckDB analytic store and loaders of shipped reference data."""

from cgtvigil.store._cases import (
    AGE_BANDS,
    analysis_relation_sql,
    case_counts,
    rebuild_cases,
    write_drug_map,
    write_pt_topics,
)
from cgtvigil.store._dictionaries import load_products, load_topics
from cgtvigil.store._faers_store import FaersStore
from cgtvigil.store._meddra import expand_topics, load_meddra_groups

__all__ = [
    "AGE_BANDS",
    "FaersStore",
    "analysis_relation_sql",
    "case_counts",
    "expand_topics",
    "load_meddra_groups",
    "load_products",
    "load_topics",
    "rebuild_cases",
    "write_drug_map",
    "write_pt_topics",
]
