"""Genotoxicity follow-up (issue 12): integration sites, clonal abundance, common insertion sites,
vector copy number and off-target results (L3).
"""

from cgtvigil.genotox._collisions import READS_PREFERENCE, resolve_batch_collisions
from cgtvigil.genotox._demo import SYNTHETIC_EDITED_PATIENT, SYNTHETIC_IS_PATIENT, synthetic_sites, synthetic_vector
from cgtvigil.genotox._ingest import (
    EXPANSION_RULE,
    WATCH_DISTANCE_BP,
    ExpansionAlert,
    IngestSummary,
    check_expansions,
    store_sites,
    store_vector,
)
from cgtvigil.genotox._queries import (
    TOP_CLONES,
    CisView,
    CloneShare,
    ExpansionView,
    OffTargetView,
    PatientGenotox,
    SampleStats,
    SharingView,
    VectorPoint,
    WatchSite,
    cis_view,
    patient_genotox,
    sample_stats,
)
from cgtvigil.genotox._readers import (
    QUANTIFICATIONS,
    SiteBatch,
    months_from_label,
    read_gene_table,
    read_isa,
    read_long_sites,
)
from cgtvigil.genotox._vector import OFF_TARGET_RESULTS, VECTOR_KINDS, VectorBatch, read_off_target, read_vector

__all__ = [
    "EXPANSION_RULE",
    "OFF_TARGET_RESULTS",
    "QUANTIFICATIONS",
    "READS_PREFERENCE",
    "SYNTHETIC_EDITED_PATIENT",
    "SYNTHETIC_IS_PATIENT",
    "TOP_CLONES",
    "VECTOR_KINDS",
    "WATCH_DISTANCE_BP",
    "CisView",
    "CloneShare",
    "ExpansionAlert",
    "ExpansionView",
    "IngestSummary",
    "OffTargetView",
    "PatientGenotox",
    "SampleStats",
    "SharingView",
    "SiteBatch",
    "VectorBatch",
    "VectorPoint",
    "WatchSite",
    "check_expansions",
    "cis_view",
    "months_from_label",
    "patient_genotox",
    "read_gene_table",
    "read_isa",
    "read_long_sites",
    "read_off_target",
    "read_vector",
    "resolve_batch_collisions",
    "sample_stats",
    "store_sites",
    "store_vector",
    "synthetic_sites",
    "synthetic_vector",
]
