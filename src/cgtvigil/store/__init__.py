"""Persistence (L2): the DuckDB analytic store and loaders of shipped reference data."""

from cgtvigil.store._cases import (
    AGE_BANDS,
    analysis_relation_sql,
    case_counts,
    check_derived_tables,
    loaded_snapshot,
    rebuild_cases,
    write_drug_map,
    write_pt_topics,
)
from cgtvigil.store._dictionaries import load_products, load_topics
from cgtvigil.store._faers_store import FaersStore
from cgtvigil.store._meddra import expand_topics, load_meddra_groups
from cgtvigil.store._migrate import migrate
from cgtvigil.store._operational import (
    AlertEventRow,
    AlertRow,
    AuditRow,
    Base,
    GatewayRow,
    ObservationRow,
    PatientRow,
    PlanRecordRow,
    QuarantineRow,
    TreatmentRow,
    UserRow,
    operational_engine,
    session_factory,
    utc_naive,
)

__all__ = [
    "AGE_BANDS",
    "AlertEventRow",
    "AlertRow",
    "AuditRow",
    "Base",
    "FaersStore",
    "GatewayRow",
    "ObservationRow",
    "PatientRow",
    "PlanRecordRow",
    "QuarantineRow",
    "TreatmentRow",
    "UserRow",
    "analysis_relation_sql",
    "case_counts",
    "check_derived_tables",
    "expand_topics",
    "load_meddra_groups",
    "load_products",
    "load_topics",
    "loaded_snapshot",
    "migrate",
    "operational_engine",
    "rebuild_cases",
    "session_factory",
    "utc_naive",
    "write_drug_map",
    "write_pt_topics",
]
